"""The area under the ROC curve with DeLong's interval, alone or as a difference on the same leads.

The AUC is the Mann-Whitney statistic: the share of (converted, not converted) pairs the score
ranks the right way round, ties counting one half. DeLong, DeLong and Clarke-Pearson (1988,
Biometrics 44:837) estimate its variance from each lead's *structural component*: for a
converted lead, the share of the others it outranks (``V10``); for one that did not convert, the
share of converted leads that outrank it (``V01``). Then

    Var(AUC) = Var(V10) / m + Var(V01) / n

with ``m`` converted and ``n`` other leads, and for two scores given to the same leads the same
components give their covariance, hence the variance of the difference (the paired test every
"is the model better than the points?" question needs). The components are computed from
midranks as in Sun and Xu (2014, IEEE Signal Processing Letters 21:1389), in
``O((m + n) log(m + n))``.

* :func:`auc_interval` — the AUC with its standard error and a Wald interval (what pROC's
  ``ci.auc(method="delong")`` reports), clipped to [0, 1].
* :func:`auc_difference` — the difference of two AUCs on the same leads, with its interval and
  the two-sided p-value of DeLong's test.

The interval treats the scores as fixed: it is the sampling error of judging a given model on a
holdout of this size, not the variability of refitting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["AUCDifference", "AUCInterval", "auc_difference", "auc_interval"]


@dataclass(frozen=True)
class AUCInterval:
    """The AUC of a score on a set of leads, with DeLong's standard error and interval.

    Attributes
    ----------
    estimate : float
        The AUC (ties count one half; equals scikit-learn's ``roc_auc_score``).
    se : float
        DeLong's standard error (0 when every pair is ranked the same way).
    low, high : float
        The ``100 * (1 - alpha)`` % Wald interval ``estimate ± z * se``, clipped to [0, 1].
    n_positive, n_negative : int
        Converted leads and the others.
    alpha : float
    """

    estimate: float
    se: float
    low: float
    high: float
    n_positive: int
    n_negative: int
    alpha: float = 0.05

    def __str__(self) -> str:
        return (f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}] "
                f"({1 - self.alpha:.0%} DeLong)")


@dataclass(frozen=True)
class AUCDifference:
    """The difference ``AUC(a) - AUC(b)`` of two scores on the same leads (DeLong's paired test).

    Attributes
    ----------
    estimate, se, low, high : float
        The difference, its standard error and its Wald interval (clipped to [-1, 1]).
    p_value : float
        Two-sided p-value of "both scores have the same AUC" (1 when ``se`` is 0 and the
        difference is 0, 0 when ``se`` is 0 and it is not).
    auc_a, auc_b : AUCInterval
        Each score's AUC.
    correlation : float
        The correlation of the two AUC estimates (NaN when either has no variance).
    alpha : float
    """

    estimate: float
    se: float
    low: float
    high: float
    p_value: float
    auc_a: AUCInterval
    auc_b: AUCInterval
    correlation: float
    alpha: float = 0.05

    def __str__(self) -> str:
        return (f"{self.estimate:+.3f} [{self.low:+.3f}, {self.high:+.3f}] "
                f"({1 - self.alpha:.0%} DeLong, p={self.p_value:.3g})")


def _check(y: Any, scores: list[Any], alpha: float, owner: str) -> tuple[np.ndarray, np.ndarray]:
    yy = np.asarray(y).ravel()
    if not (isinstance(alpha, float | int) and not isinstance(alpha, bool) and 0 < alpha < 1):
        raise ValueError(f"The 'alpha' parameter of {owner} must be a number in (0, 1). Got "
                         f"{alpha!r} instead.")
    if not np.isin(yy, (0, 1)).all():
        bad = sorted({str(v) for v in yy[~np.isin(yy, (0, 1))]})[:5]
        raise ValueError(f"The 'y' parameter of {owner} must hold outcomes among {{0, 1, False, "
                         f"True}}. Got {bad} instead.")
    yy = yy.astype(bool)
    s = np.vstack([np.asarray(x, dtype=float).ravel() for x in scores]) if scores else None
    if s is None or s.shape[1] != len(yy):
        got = [np.asarray(x).size for x in scores]
        raise ValueError(f"The scores given to {owner} must have one value per outcome "
                         f"({len(yy)}). Got {got} instead.")
    if not np.isfinite(s).all():
        raise ValueError(f"The scores given to {owner} must be finite; "
                         f"{int((~np.isfinite(s)).sum())} are NaN or infinite. Drop or fill "
                         "them first.")
    m = int(yy.sum())
    if m == 0 or m == len(yy):
        which = "converted" if m == 0 else "unconverted"
        raise ValueError(f"{owner} needs both outcomes: there is no {which} lead among the "
                         f"{len(yy)}, so no pair to rank (use a longer horizon or a larger "
                         "holdout).")
    return yy, s


def _delong(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and their DeLong covariance (k, k) for the rows of ``s`` (k, N)."""
    pos, neg = s[:, y], s[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    tx = stats.rankdata(pos, axis=1)  # midranks among the converted
    ty = stats.rankdata(neg, axis=1)  # ... among the others
    tz = stats.rankdata(np.hstack([pos, neg]), axis=1)  # ... among all
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:, :m] - tx) / n  # share of the others each converted lead outranks
    v01 = 1.0 - (tz[:, m:] - ty) / m  # share of converted leads that outrank each other one
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(s), len(s)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(s), len(s)))
    return aucs, s10 / m + s01 / n


def _interval(auc: float, var: float, y: np.ndarray, alpha: float) -> AUCInterval:
    se = float(np.sqrt(max(var, 0.0)))
    z = float(stats.norm.ppf(1 - alpha / 2))
    return AUCInterval(estimate=float(auc), se=se, low=float(max(0.0, auc - z * se)),
                       high=float(min(1.0, auc + z * se)), n_positive=int(y.sum()),
                       n_negative=int((~y).sum()), alpha=float(alpha))


def auc_interval(y: Any, score: Any, *, alpha: float = 0.05) -> AUCInterval:
    """The AUC of ``score`` with DeLong's standard error and ``100 * (1 - alpha)`` % interval.

    Parameters
    ----------
    y : array-like of shape (n_leads,)
        Outcomes, bool or 0/1; both must occur.
    score : array-like of shape (n_leads,)
        Higher means likelier to convert (a probability, points...); finite.
    alpha : float, default 0.05

    Returns
    -------
    AUCInterval

    Raises
    ------
    ValueError
        When an outcome is missing, lengths differ or a score is not finite.

    Examples
    --------
    Hanley and McNeil's (1982, Radiology 143:29, table 1) CT ratings of 58 normal and 51
    abnormal patients on a five-point scale: their area is 0.893 (Hanley and McNeil's own
    approximate standard error is 0.032; DeLong's is 0.031).

    >>> normal, abnormal = [33, 6, 6, 11, 2], [3, 2, 2, 11, 33]
    >>> rating = np.repeat([1, 2, 3, 4, 5] * 2, normal + abnormal)
    >>> y = np.repeat([0, 1], [58, 51])
    >>> r = auc_interval(y, rating)
    >>> round(r.estimate, 3), round(r.se, 3), round(r.low, 3), round(r.high, 3)
    (0.893, 0.031, 0.833, 0.953)
    """
    yy, s = _check(y, [score], alpha, "auc_interval")
    aucs, cov = _delong(yy, s)
    return _interval(aucs[0], cov[0, 0], yy, alpha)


def auc_difference(y: Any, score_a: Any, score_b: Any, *, alpha: float = 0.05) -> AUCDifference:
    """``AUC(score_a) - AUC(score_b)`` on the same leads, with DeLong's paired interval and test.

    Two scores given to the same leads make correlated AUCs; the difference's variance is
    ``Var(a) + Var(b) - 2 Cov(a, b)``, all three from the same structural components, so the
    interval is much narrower than comparing two separate intervals would suggest.

    Parameters
    ----------
    y : array-like of shape (n_leads,)
    score_a, score_b : array-like of shape (n_leads,)
        E.g. a model's probability and the default points.
    alpha : float, default 0.05

    Returns
    -------
    AUCDifference

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(400) < 0.3
    >>> a = y + rng.normal(0, 1, 400)
    >>> d = auc_difference(y, a, a + rng.normal(0, 2, 400))
    >>> bool(d.estimate > 0 and d.low > 0 and d.p_value < 0.05)
    True
    >>> auc_difference(y, a, 2 * a + 1).estimate  # a monotone transform ranks the same
    0.0
    """
    yy, s = _check(y, [score_a, score_b], alpha, "auc_difference")
    aucs, cov = _delong(yy, s)
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    z = float(stats.norm.ppf(1 - alpha / 2))
    if se > 0:
        p = float(2 * stats.norm.sf(abs(diff) / se))
    else:
        p = 1.0 if diff == 0 else 0.0
    denom = np.sqrt(cov[0, 0] * cov[1, 1])
    corr = float(cov[0, 1] / denom) if denom > 0 else np.nan
    return AUCDifference(estimate=diff, se=se, low=max(-1.0, diff - z * se),
                         high=min(1.0, diff + z * se), p_value=p,
                         auc_a=_interval(aucs[0], cov[0, 0], yy, alpha),
                         auc_b=_interval(aucs[1], cov[1, 1], yy, alpha), correlation=corr,
                         alpha=float(alpha))
