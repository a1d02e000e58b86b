"""The Kaplan-Meier curve of censoring, ``G(t-)``: what the inverse-probability-of-censoring
weights of the scoring audit (:mod:`nurturelab.scoring.audit.statistics`) and the Fine-Gray
rows of :mod:`nurturelab.competing` divide by. One curve for both, so that the two layers
cannot drift apart."""

from __future__ import annotations

import numpy as np

__all__ = ["censoring_left"]


def censoring_left(duration: np.ndarray, censored: np.ndarray, w: np.ndarray,
                   at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier curve of the censoring times at ``at``, its left limit ``G(at-)``: a
    censoring tied with an event counts after it (the event is still seen), and a censoring of
    weight zero is no censoring time.

    Parameters
    ----------
    duration : ndarray of shape (n,)
        Time to the event or to censoring.
    censored : ndarray of bool, shape (n,)
        Whether the row was censored (the "event" of this curve).
    w : ndarray of shape (n,)
        Frequency weights.
    at : ndarray of shape (m,)
        Where to evaluate the curve.

    Returns
    -------
    ndarray of shape (m,)

    Examples
    --------
    >>> censoring_left(np.array([1.0, 2, 3, 4]), np.array([False, True, False, False]),
    ...                np.ones(4), np.array([2.0, 2.5]))
    array([1.        , 0.66666667])
    """
    weighted = censored & (w > 0)  # a censoring of weight zero is no censoring time
    ct = np.unique(duration[weighted])
    if not len(ct):
        return np.ones(len(at))
    order = np.argsort(duration)
    d_sorted, w_sorted = duration[order], w[order]
    at_risk = w.sum() - np.concatenate([[0.0], np.cumsum(w_sorted)])[
        np.searchsorted(d_sorted, ct, side="left")]
    c_w = np.bincount(np.searchsorted(ct, duration[weighted]), weights=w[weighted],
                      minlength=len(ct))
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(at_risk > 0, 1 - c_w / at_risk, 1.0)
    g = np.concatenate([[1.0], np.cumprod(factor)])
    return g[np.searchsorted(ct, at, side="left")]
