"""The audit's statistics under censoring, and drift.

Conversion rates are cumulative incidences at the horizon, computed as inverse probability of
censoring weighted (IPCW) sums, ``F(H) = sum(w_i d_i / G(T_i-)) / sum(w_i)``, with ``G`` the
Kaplan-Meier curve of the censoring times (:func:`censoring_left`). A lead that ended otherwise
(lost or opted out: ``ended_days``) is not censored: it is known not to convert, so it counts
in the denominator and not in ``G``. The sum then reproduces the Aalen-Johansen incidence of
conversion exactly, and the Kaplan-Meier estimate when no lead ends otherwise (Satten and
Datta, 2001). AUC and KS are the cumulative/dynamic ones at the horizon: converters within it
weighted ``1 / G(T_i-)``, leads followed past it without converting weighted ``1 / G(H)`` and
leads that ended otherwise within it weighted ``1 / G(E_i-)`` (:func:`ipcw_weights`; Uno et
al., 2007; Hung and Chiang, 2010; Blanche et al., 2013, for the competing endings); the
calibration regressions use the same weights. Every function takes frequency weights ``w``
so that a bootstrap resample is a vector of lead counts.

Rows are those of :func:`~nurturelab.scoring.audit.scored_snapshots`: ``follow_days``,
``converted``, ``days_to_convert`` and optionally ``ended_days`` (and ``score``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from nurturelab._censoring import censoring_left

__all__ = ["IpcwDesign", "calibration_fit", "censoring_left", "ipcw_rate", "ipcw_weights",
           "ks_statistic", "psi", "weighted_auc", "weighted_trend"]


# --------------------------------------------------------------------------------------------
# Estimators under censoring
# --------------------------------------------------------------------------------------------
def _status(rows: pd.DataFrame | Mapping, horizon: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each row's case, ended, control and censored masks at the horizon, and its duration
    (to conversion, to its ending, or followed up to the horizon): what
    :func:`ipcw_weights` and :class:`IpcwDesign` weigh."""
    follow = np.asarray(rows["follow_days"], dtype=float)
    conv = np.asarray(rows["converted"], dtype=bool)
    t_conv = np.asarray(rows["days_to_convert"], dtype=float)
    ended_days = (np.asarray(rows["ended_days"], dtype=float) if "ended_days" in rows
                  else np.full(len(follow), np.nan))
    case = conv & (t_conv <= horizon)
    ended = ~case & (ended_days <= np.minimum(follow, horizon))
    control = ~conv & ~ended & (follow >= horizon)
    duration = np.where(case, t_conv, np.where(ended, ended_days, np.minimum(follow, horizon)))
    censored = ~conv & ~ended & (follow < horizon)
    return case, ended, control, censored, duration


def ipcw_weights(rows: pd.DataFrame | Mapping, horizon: float,
                 w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Case and control weights at the horizon (zero for rows of unknown status).

    A case converted within ``horizon`` days, weighted ``w / G(T-)``; a control was followed
    for the whole horizon without converting, weighted ``w / G(H)``, or ended otherwise within
    it (``ended_days``, when the rows have it), weighted ``w / G(E-)``; any other row is
    censored before the horizon and weighs nothing (its weight goes to the rows like it that
    were followed).

    Returns
    -------
    (case_weights, control_weights) : two ndarrays of shape (n_rows,)

    Examples
    --------
    >>> rows = pd.DataFrame({"follow_days": [30, 30, 10, 10], "converted": [True, False,
    ...                      True, False], "days_to_convert": [5, None, 8, None]})
    >>> wc, wn = ipcw_weights(rows, 30)
    >>> wc.tolist(), wn.tolist()
    ([1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0])
    """
    case, ended, control, censored, duration = _status(rows, horizon)
    w = np.ones(len(case)) if w is None else np.asarray(w, dtype=float)
    g_case = censoring_left(duration, censored, w, np.where(case | ended, duration, horizon))
    g_h = censoring_left(duration, censored, w, np.array([horizon]))[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        wc = np.where(case, w / g_case, 0.0)
        wn = np.where(control, w / g_h, 0.0) if g_h > 0 else np.zeros(len(w))
        wn = np.where(ended, w / g_case, wn)
    return wc, wn


class IpcwDesign:
    """:func:`ipcw_weights` of fixed rows for many weight vectors (the audit's bootstrap).

    What does not depend on the weights (each row's case, control and ending status, its
    duration, the order of the durations and where each censoring time falls) is found once;
    :meth:`weights` then gives exactly ``ipcw_weights(rows, horizon, w)``: the censoring
    curve is taken over every censoring time of the rows, and a time no weighted row is
    censored at multiplies it by exactly 1, so the curve's values are the same numbers.

    >>> rows = pd.DataFrame({"follow_days": [30, 30, 10, 10, 20], "converted": [True, False,
    ...                      True, False, False], "days_to_convert": [5, None, 8, None, None]})
    >>> w = np.array([2.0, 1, 0, 0, 3])  # nobody weighted is censored at day 10
    >>> [a.tolist() for a in IpcwDesign(rows, 30).weights(w)]
    [[2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 4.0, 0.0, 0.0, 0.0]]
    >>> [a.tolist() for a in ipcw_weights(rows, 30, w)]
    [[2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 4.0, 0.0, 0.0, 0.0]]
    """

    def __init__(self, rows: pd.DataFrame | Mapping, horizon: float) -> None:
        case, ended, self.control, self.censored, duration = _status(rows, horizon)
        self.case, self.ended = case, ended
        self.order = np.argsort(duration)  # as censoring_left sorts them
        ct = np.unique(duration[self.censored])
        self.n_times = len(ct)
        self.risk_pos = np.searchsorted(duration[self.order], ct, side="left")
        self.bins = np.searchsorted(ct, duration[self.censored])
        self.at_case = np.searchsorted(ct, np.where(case | ended, duration, horizon), side="left")
        self.at_h = int(np.searchsorted(ct, horizon, side="left"))

    def weights(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(case_weights, control_weights)`` of frequency weights ``w``, as
        :func:`ipcw_weights` gives them."""
        w = np.asarray(w, dtype=float)
        cens = self.censored
        if not (cens & (w > 0)).any():
            g_case, g_h = np.ones(len(w)), 1.0
        else:
            at_risk = w.sum() - np.concatenate([[0.0], np.cumsum(w[self.order])])[
                self.risk_pos]
            c_w = np.bincount(self.bins, weights=w[cens], minlength=self.n_times)
            with np.errstate(invalid="ignore", divide="ignore"):
                factor = np.where(at_risk > 0, 1 - c_w / at_risk, 1.0)
            g = np.concatenate([[1.0], np.cumprod(factor)])
            g_case, g_h = g[self.at_case], g[self.at_h]
        with np.errstate(invalid="ignore", divide="ignore"):
            wc = np.where(self.case, w / g_case, 0.0)
            wn = np.where(self.control, w / g_h, 0.0) if g_h > 0 else np.zeros(len(w))
            wn = np.where(self.ended, w / g_case, wn)
        return wc, wn


def ipcw_rate(rows: pd.DataFrame, horizon: float, w: np.ndarray | None = None) -> float:
    """Share converting within ``horizon`` days, censoring-aware: the Aalen-Johansen incidence
    of conversion, with leads that ended otherwise (``ended_days``) counted as not converting
    rather than censored; Kaplan-Meier's 1 - S when no lead ended otherwise.

    ``rows`` needs ``follow_days``, ``converted`` and ``days_to_convert``, and may have
    ``ended_days`` (as made by :func:`~nurturelab.scoring.audit.scored_snapshots`). NaN when
    no row has been followed for the whole horizon.

    >>> rows = pd.DataFrame({"follow_days": [30, 30, 10, 10], "converted": [True, False,
    ...                      True, False], "days_to_convert": [5, None, 8, None]})
    >>> ipcw_rate(rows, 30)
    0.5
    """
    wc, wn = ipcw_weights(rows, horizon, w)
    wt = np.ones(len(wc)) if w is None else np.asarray(w, dtype=float)
    if not wt.sum() or not (wn.sum() or wc.sum()):
        return np.nan
    if np.asarray(rows["follow_days"], dtype=float).max() < horizon:
        return np.nan  # nobody followed to the horizon: not estimable yet
    return float(wc.sum() / wt.sum())


def weighted_auc(score: np.ndarray, wc: np.ndarray, wn: np.ndarray) -> float:
    """AUC with case weights ``wc`` and control weights ``wn`` (ties count one half).

    The weighted Mann-Whitney statistic, equal to scikit-learn's ``roc_auc_score`` with
    ``sample_weight`` (tested) but without its input checks, which dominate the cost inside
    the bootstrap. NaN without cases or controls.

    >>> weighted_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 1, 0, 1.]),
    ...              np.array([1, 0, 1, 0.]))
    1.0
    """
    score = np.asarray(score, dtype=float)
    wc = np.asarray(wc, dtype=float)
    wn = np.asarray(wn, dtype=float)
    tc, tn = wc.sum(), wn.sum()
    if not (tc > 0 and tn > 0):
        return np.nan
    keep = (wc > 0) | (wn > 0)
    s, c, n = score[keep], wc[keep], wn[keep]
    uniq, inv = np.unique(s, return_inverse=True)
    cg = np.bincount(inv, weights=c, minlength=len(uniq))
    ng = np.bincount(inv, weights=n, minlength=len(uniq))
    below = np.cumsum(ng) - ng  # control weight strictly below each distinct score
    return float(np.sum(cg * (below + 0.5 * ng)) / (tc * tn))


def ks_statistic(score: np.ndarray, wc: np.ndarray, wn: np.ndarray) -> float:
    """Largest gap between the weighted score distributions of converters and the rest.

    >>> ks_statistic(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 1, 0, 1.]),
    ...              np.array([1, 0, 1, 0.]))
    1.0
    """
    score = np.asarray(score, dtype=float)
    wc = np.asarray(wc, dtype=float)
    wn = np.asarray(wn, dtype=float)
    if not (wc.sum() > 0 and wn.sum() > 0):
        return np.nan
    order = np.argsort(score, kind="stable")
    s = score[order]
    last = np.r_[s[1:] != s[:-1], True]  # evaluate the CDFs after each distinct score
    fc = np.cumsum(wc[order])[last] / wc.sum()
    fn = np.cumsum(wn[order])[last] / wn.sum()
    return float(np.max(np.abs(fc - fn)))


def _logit(p: np.ndarray) -> np.ndarray:
    # isotonic calibration gives exact 0s and 1s: clipped at 0.001 so that a handful of them
    # cannot lever the calibration slope (logit 1e-6 = -13.8 against -3.9 for a 2 % lead)
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def calibration_fit(p: np.ndarray, wc: np.ndarray, wn: np.ndarray) -> tuple[float, float]:
    """Calibration slope (logit y on logit p) and intercept (with logit p as offset).

    Weighted logistic regressions (statsmodels GLM) of the outcome on ``logit(p)``: the slope
    (ideal 1) and, with ``logit(p)`` as offset, calibration-in-the-large (ideal 0). NaN for
    both with fewer than two cases or two controls, or when the fit fails.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    keep = (wc > 0) | (wn > 0)
    y = (wc[keep] > 0).astype(float)
    if y.sum() < 2 or (1 - y).sum() < 2:
        return np.nan, np.nan
    x = _logit(p[keep])
    wt = np.where(y > 0, wc[keep], wn[keep])
    wt = wt * (len(wt) / wt.sum())  # scale weights to the number of rows
    fam = sm.families.Binomial()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PerfectSeparationWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            slope = sm.GLM(y, sm.add_constant(x), family=fam, var_weights=wt).fit().params[1]
            icpt = sm.GLM(y, np.ones((len(y), 1)), family=fam, offset=x,
                          var_weights=wt).fit().params[0]
    except (ValueError, np.linalg.LinAlgError):
        return np.nan, np.nan
    return float(slope), float(icpt)


def weighted_trend(times: np.ndarray, values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted least-squares slope of ``values`` on ``times`` (days), per 30 days.

    NaN with fewer than three finite values or no spread in time.

    >>> round(weighted_trend(np.array([0.0, 15, 30]), np.array([0.8, 0.75, 0.7]),
    ...                      np.ones(3)), 6)
    -0.1
    """
    ok = np.isfinite(values) & (weights > 0)
    if ok.sum() < 3:
        return np.nan
    x, y, wt = times[ok], values[ok], weights[ok]
    xm = np.average(x, weights=wt)
    var = np.average((x - xm) ** 2, weights=wt)
    if var <= 0:
        return np.nan
    return float(30 * np.average((x - xm) * (y - np.average(y, weights=wt)), weights=wt) / var)


# --------------------------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------------------------
def _psi_bins(r: pd.Series, c: pd.Series, bins: int) -> tuple[np.ndarray, np.ndarray, list,
                                                                dict]:
    """Bin labels of the reference and current values, the bin keys and their names."""
    numeric = pd.api.types.is_numeric_dtype(r) and pd.api.types.is_numeric_dtype(c) and not (
        pd.api.types.is_bool_dtype(r))
    if not numeric:
        rl = r.astype(object).where(r.notna(), "missing").astype(str).to_numpy()
        cl = c.astype(object).where(c.notna(), "missing").astype(str).to_numpy()
        keys = sorted(set(rl) | set(cl))
        return rl, cl, keys, {k: k for k in keys}
    rv = r.to_numpy(dtype=float)
    cv = c.to_numpy(dtype=float)
    finite = rv[np.isfinite(rv)]
    edges = (np.unique(np.quantile(finite, np.arange(1, bins) / bins))
             if len(finite) else np.array([]))

    def cut(v: np.ndarray) -> np.ndarray:
        lab = np.searchsorted(edges, v, side="left").astype(object)
        lab[~np.isfinite(v)] = "missing"
        return lab

    names = [f"<= {edges[0]:.4g}"] if len(edges) else ["all"]
    names += [f"({a:.4g}, {b:.4g}]" for a, b in zip(edges[:-1], edges[1:], strict=False)]
    if len(edges):
        names.append(f"> {edges[-1]:.4g}")
    keys = list(range(len(edges) + 1)) + ["missing"]
    return cut(rv), cut(cv), keys, dict(zip(keys, [*names, "missing"], strict=True))


def psi(reference: Any, current: Any, *, bins: int = 10) -> tuple[float, pd.DataFrame]:
    """Population stability index of ``current`` against ``reference``, and its bins.

    Numbers are cut at the reference's deciles (``bins`` quantiles; ties merge bins), with a
    bin for missing values; anything else is compared category by category. Each bin's share
    is smoothed by half a lead (so an empty bin gives a large, finite term):
    ``PSI = sum((c - r) * ln(c / r))``.

    >>> value, table = psi(np.arange(1000) % 10, np.arange(1000) % 10)
    >>> round(value, 6)
    0.0
    >>> round(psi(np.zeros(500), np.ones(500))[0], 2)
    13.79
    """
    r = pd.Series(np.asarray(reference)).reset_index(drop=True)
    c = pd.Series(np.asarray(current)).reset_index(drop=True)
    rl, cl, keys, labels = _psi_bins(r, c, bins)
    rn = pd.Series(rl).value_counts().reindex(keys, fill_value=0)
    cn = pd.Series(cl).value_counts().reindex(keys, fill_value=0)
    used = (rn + cn) > 0
    rn, cn = rn[used], cn[used]
    rs = (rn + 0.5) / (rn.sum() + 0.5 * len(rn))
    cs = (cn + 0.5) / (cn.sum() + 0.5 * len(cn))
    term = (cs - rs) * np.log(cs / rs)
    table = pd.DataFrame({"bin": [labels[k] for k in rn.index], "reference": rs.to_numpy(),
                          "current": cs.to_numpy(), "psi": term.to_numpy()})
    return float(term.sum()), table
