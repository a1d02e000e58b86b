"""The monthly scoring audit: does last month's score still mean what it meant?

A score drifts out of line with conversion as the leads, the market and the team change. Each
month the audit puts the month's scored leads beside a reference period (by default the three
months before) and runs the checks a scoring team needs, each of which passes, warns or fails
with its figure and interval:

================  ===========================================================================
check             what it measures, and its rule (:class:`AuditRules` holds every number)
================  ===========================================================================
drift             population stability index (PSI) of the score and of every feature, month
                  against reference: warn at 0.10, fail at 0.25
discrimination    AUC and Kolmogorov-Smirnov (KS) statistic, with bootstrap intervals; warn
                  when the drop from the reference is significant, fail when it is
                  significantly larger than 0.05 (AUC) or 0.10 (KS)
calibration       expected against observed conversion by decile; calibration slope (ideal 1)
                  and intercept (calibration-in-the-large, ideal 0); warn when the interval
                  excludes the ideal, fail when it lies wholly more than 0.3 (slope) or 0.5
                  (log odds) from it. Probability scores only; points are skipped
threshold         conversion of the leads at or above the threshold against what the threshold
                  was set for (the precision recorded when it was chosen, or else the
                  reference's): warn when significantly lower, fail when significantly more
                  than 25 % lower
workload          leads flagged per day against the capacity the threshold was set for (when
                  one was): warn above it, fail above 1.25 times it
score decay       the trend of AUC across the weekly snapshots: warn when significantly
                  falling, fail when significantly faster than 0.05 per 30 days
stuck leads       share of flagged open leads with no touch within 2 days: warn above 10 %,
                  fail above 25 %
================  ===========================================================================

How the rows are made (:func:`scored_snapshots`): at each snapshot time (weekly, from the first
day of each month) every open lead (created, neither won nor lost) is scored from what was known
then; its outcome is conversion within ``horizon_days`` after the snapshot.

Immature outcomes are censored, not losses. A lead scored on 29 October has had three days to
convert when the audit runs on 1 November; counting it as lost would make every recent month look
miscalibrated. Conversion rates are Kaplan-Meier estimates at the horizon, computed as inverse
probability of censoring weighted (IPCW) sums, ``F(H) = sum(w_i d_i / G(T_i-)) / sum(w_i)``,
with ``G`` the Kaplan-Meier curve of the censoring times: this reproduces the Kaplan-Meier
estimate exactly (Satten and Datta, 2001). AUC and KS are the cumulative/dynamic ones at the
horizon: converters within it weighted ``1 / G(T_i-)``, leads followed past it without converting
weighted ``1 / G(H)`` (Uno et al., 2007; Hung and Chiang, 2010); the calibration regressions use
the same weights. When no snapshot of the month has been followed for the whole horizon yet, the
outcome checks are ``pending`` and say on which date they can be judged.

Intervals come from a cluster bootstrap over leads (a lead appears in several weekly snapshots,
and in both periods), drawn as multinomial lead counts used as frequency weights; the censoring
curve is re-estimated in every resample.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.funnel import outcomes
from nurturelab.schema import require_loaded
from nurturelab.scoring.features import _timestamp, snapshot
from nurturelab.scoring.points import PointRules, scores

__all__ = [
    "AuditResult",
    "AuditRules",
    "audit",
    "ipcw_rate",
    "month_bounds",
    "psi",
    "scored_snapshots",
    "snapshot_times",
    "weighted_auc",
]

_DAY = pd.Timedelta(days=1)
ROW_COLUMNS = ("lead_id", "as_of", "score", "follow_days", "converted", "days_to_convert",
               "next_touch_days")
STATUS_ORDER = {"fail": 3, "warn": 2, "pending": 1, "pass": 0, "skip": -1}


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditRules:
    """Every number the audit's pass / warn / fail rules use (the defaults in the module table).

    Examples
    --------
    >>> AuditRules(psi_warn=0.05).psi_fail
    0.25
    >>> AuditRules(psi_warn=0.3)
    Traceback (most recent call last):
    ...
    ValueError: AuditRules 'psi_warn' (0.3) must be below 'psi_fail' (0.25).
    """

    psi_warn: float = 0.10
    psi_fail: float = 0.25
    psi_bins: int = 10
    auc_fail_drop: float = 0.05
    ks_fail_drop: float = 0.10
    slope_fail: float = 0.3
    intercept_fail: float = 0.5
    shortfall_fail: float = 0.25
    capacity_fail: float = 1.25
    decay_fail_per_30d: float = 0.05
    stuck_days: float = 2.0
    stuck_warn: float = 0.10
    stuck_fail: float = 0.25
    min_outcomes: int = 10
    alpha: float = 0.05
    n_boot: int = 200

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            whole = f.name in ("psi_bins", "n_boot", "min_outcomes")
            ok = (isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
                  and np.isfinite(v) and v > 0 and (not whole or float(v).is_integer()))
            if not ok:
                kind = "a whole number >= 1" if whole else "a finite number > 0"
                raise ValueError(f"AuditRules {f.name!r} must be {kind}. Got {v!r} instead.")
        for low, high in (("psi_warn", "psi_fail"), ("stuck_warn", "stuck_fail")):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"AuditRules {low!r} ({getattr(self, low)}) must be below "
                                 f"{high!r} ({getattr(self, high)}).")
        for name in ("alpha", "stuck_warn", "stuck_fail", "shortfall_fail"):
            if getattr(self, name) >= 1:
                raise ValueError(f"AuditRules {name!r} must be below 1. Got "
                                 f"{getattr(self, name)!r} instead.")
        if self.capacity_fail < 1:
            raise ValueError(f"AuditRules 'capacity_fail' is a multiple of the capacity and must "
                             f"be >= 1. Got {self.capacity_fail!r} instead.")


# --------------------------------------------------------------------------------------------
# Periods and snapshot rows
# --------------------------------------------------------------------------------------------
def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of a month written ``YYYY-MM``, in UTC.

    >>> month_bounds("2026-10")
    ... # doctest: +NORMALIZE_WHITESPACE
    (Timestamp('2026-10-01 00:00:00+0000', tz='UTC'),
     Timestamp('2026-11-01 00:00:00+0000', tz='UTC'))
    """
    text = str(month)
    try:
        if len(text) != 7 or text[4] != "-":
            raise ValueError
        p = pd.Period(text, freq="M")
    except (ValueError, TypeError):
        raise ValueError(f"a month is written YYYY-MM, e.g. 2026-10. Got {month!r} "
                         "instead.") from None
    return (p.start_time.tz_localize("UTC"), (p + 1).start_time.tz_localize("UTC"))


def snapshot_times(start: Any, end: Any, *, every_days: float = 7.0) -> pd.DatetimeIndex:
    """Snapshot times ``start, start + every_days, ...`` before ``end`` (UTC).

    >>> [t.day for t in snapshot_times("2026-10-01", "2026-11-01")]
    [1, 8, 15, 22, 29]
    """
    s, e = _timestamp(start, "start"), _timestamp(end, "end")
    if not (np.isfinite(every_days) and every_days > 0):
        raise ValueError(f"'every_days' must be a positive number. Got {every_days!r} instead.")
    return pd.date_range(s, e, freq=pd.Timedelta(days=every_days), inclusive="left")


def _scorer_kind(scorer: Any) -> str:
    if isinstance(scorer, PointRules):
        return "points"
    if hasattr(scorer, "predict_proba"):
        return "probability"
    if callable(scorer):
        return "callable"
    raise TypeError(f"'scorer' must be a fitted classifier with predict_proba (a probability "
                    f"score), a PointRules (points) or a callable taking the snapshot features "
                    f"and returning one score per lead. Got {type(scorer).__name__} instead.")


def scored_snapshots(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    scorer: Any,
    *,
    times: Iterable[Any],
    horizon_days: float,
    observed_until: Any = None,
    probability: bool | None = None,
) -> pd.DataFrame:
    """Score every open lead at each snapshot time and follow it up to ``observed_until``.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:mod:`nurturelab.schema`); not modified.
    scorer : classifier, PointRules or callable
        A fitted classifier (``predict_proba(features)[:, 1]`` is the score), point rules
        (:func:`nurturelab.scoring.points.scores`), or ``f(features) -> scores``.
    times : iterable of timestamp-like
        Snapshot times (see :func:`snapshot_times`).
    horizon_days : float
        The outcome the score predicts: conversion within this many days of the snapshot.
    observed_until : timestamp-like, optional
        What is known: events after it are ignored, as if the export were taken then. Default:
        the last event.
    probability : bool, optional
        Whether the score is a probability of conversion within the horizon (calibration is
        checked only then); default True for classifiers, False otherwise.

    Returns
    -------
    DataFrame
        One row per (snapshot, open lead): ``lead_id``, ``as_of``, ``score``, ``follow_days``
        (how long the outcome has been followed, at most the horizon), ``converted`` (within
        ``follow_days``), ``days_to_convert`` (NaN if not), ``next_touch_days`` (to the next
        ``touch`` or ``stage`` event, i.e. the next time a rep worked the lead; NaN if none was
        seen) and the snapshot's feature columns. ``attrs``
        holds ``horizon_days``, ``observed_until`` and ``probability``.
    """
    require_loaded(leads, events)
    kind = _scorer_kind(scorer)
    if probability is None:
        probability = kind == "probability"
    h = float(horizon_days)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"'horizon_days' must be a positive number of days. Got "
                         f"{horizon_days!r} instead.")
    until = events["ts"].max() if observed_until is None else _timestamp(observed_until,
                                                                   "observed_until")
    ev = events.loc[(events["ts"] <= until).to_numpy()]
    conv = outcomes(leads, ev, as_of=until)["converted_at"]
    touch = ev.loc[ev["type"].astype(object).isin(("touch", "stage")).to_numpy(),
                   ["lead_id", "ts"]]
    touch = touch.assign(lead_id=touch["lead_id"].astype(object)).sort_values("ts")
    frames = []
    if isinstance(times, str | pd.Timestamp):
        times = [times]
    for t in pd.DatetimeIndex([_timestamp(x, "times") for x in times]).unique().sort_values():
        if t > until:
            continue
        status = outcomes(leads, ev, as_of=t)
        open_ids = status.index[(status["created_at"] <= t).to_numpy()
                                & status["status"].astype(object).eq("open").to_numpy()]
        if not len(open_ids):
            continue
        X = snapshot(leads, ev, as_of=t).loc[open_ids]
        if kind == "points":
            s = scores(leads, ev, scorer, as_of=t)["score"].reindex(open_ids).to_numpy(float)
        elif kind == "probability":
            s = np.asarray(scorer.predict_proba(X))[:, 1].astype(float)
        else:
            s = np.asarray(scorer(X), dtype=float).ravel()
        if len(s) != len(X):
            raise ValueError(f"the scorer returned {len(s)} scores for {len(X)} leads at {t}")
        follow = min(h, (until - t) / _DAY)
        dconv = ((conv.reindex(open_ids) - t) / _DAY).to_numpy(dtype=float)
        converted = dconv <= follow
        rows = pd.DataFrame({
            "lead_id": np.asarray(open_ids, dtype=object),
            "as_of": t,
            "score": s,
            "follow_days": follow,
            "converted": converted,
            "days_to_convert": np.where(converted, dconv, np.nan),
        })
        nxt = pd.merge_asof(rows[["lead_id", "as_of"]].assign(_i=np.arange(len(rows)))
                            .sort_values("as_of"), touch.rename(columns={"ts": "next_ts"}),
                            left_on="as_of", right_on="next_ts", by="lead_id",
                            direction="forward", allow_exact_matches=False).sort_values("_i")
        rows["next_touch_days"] = ((nxt["next_ts"] - t) / _DAY).to_numpy(dtype=float)
        feats = X.reset_index(drop=True)
        clash = set(feats.columns) & set(ROW_COLUMNS)
        if clash:
            raise ValueError(f"snapshot feature columns {sorted(clash)} clash with the audit's "
                             "own columns")
        frames.append(pd.concat([rows, feats], axis=1))
    if frames:
        out = pd.concat(frames, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=float) for c in ROW_COLUMNS})
    out.attrs.update(horizon_days=h, observed_until=until, probability=bool(probability))
    return out


# --------------------------------------------------------------------------------------------
# Estimators under censoring
# --------------------------------------------------------------------------------------------
def _censoring_left(duration: np.ndarray, censored: np.ndarray, w: np.ndarray,
                    at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier of the censoring times, its left limit G(at-), with frequency weights."""
    ct = np.unique(duration[censored & (w > 0)])
    if not len(ct):
        return np.ones(len(at))
    order = np.argsort(duration)
    d_sorted, w_sorted = duration[order], w[order]
    at_risk = w.sum() - np.concatenate([[0.0], np.cumsum(w_sorted)])[
        np.searchsorted(d_sorted, ct, side="left")]
    c_w = np.bincount(np.searchsorted(ct, duration[censored]), weights=w[censored],
                      minlength=len(ct))
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(at_risk > 0, 1 - c_w / at_risk, 1.0)
    g = np.concatenate([[1.0], np.cumprod(factor)])
    return g[np.searchsorted(ct, at, side="left")]


def _ipcw(rows: pd.DataFrame | Mapping, horizon: float, w: np.ndarray | None = None):
    """Case and control weights at the horizon (zero for rows of unknown status)."""
    follow = np.asarray(rows["follow_days"], dtype=float)
    conv = np.asarray(rows["converted"], dtype=bool)
    t_conv = np.asarray(rows["days_to_convert"], dtype=float)
    w = np.ones(len(follow)) if w is None else np.asarray(w, dtype=float)
    case = conv & (t_conv <= horizon)
    control = ~conv & (follow >= horizon)
    duration = np.where(case, t_conv, np.minimum(follow, horizon))
    censored = ~conv & (follow < horizon)
    g_case = _censoring_left(duration, censored, w, np.where(case, t_conv, horizon))
    g_h = _censoring_left(duration, censored, w, np.array([horizon]))[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        wc = np.where(case, w / g_case, 0.0)
        wn = np.where(control, w / g_h, 0.0) if g_h > 0 else np.zeros(len(w))
    return wc, wn


def ipcw_rate(rows: pd.DataFrame, horizon: float, w: np.ndarray | None = None) -> float:
    """Share converting within ``horizon`` days, censoring-aware (equals Kaplan-Meier's 1 - S).

    ``rows`` needs ``follow_days``, ``converted`` and ``days_to_convert`` (as made by
    :func:`scored_snapshots`). NaN when no row has been followed for the whole horizon and
    none converted.

    >>> rows = pd.DataFrame({"follow_days": [30, 30, 10, 10], "converted": [True, False,
    ...                      True, False], "days_to_convert": [5, None, 8, None]})
    >>> ipcw_rate(rows, 30)
    0.5
    """
    wc, wn = _ipcw(rows, horizon, w)
    wt = np.ones(len(wc)) if w is None else np.asarray(w, dtype=float)
    if not wt.sum() or not (wn.sum() or wc.sum()):
        return np.nan
    if not wn.sum() and np.asarray(rows["follow_days"], dtype=float).max() < horizon:
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


def _ks(score: np.ndarray, wc: np.ndarray, wn: np.ndarray) -> float:
    """Largest gap between the weighted score distributions of converters and the rest."""
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


def _calibration(p: np.ndarray, wc: np.ndarray, wn: np.ndarray) -> tuple[float, float]:
    """Calibration slope (logit y on logit p) and intercept (with logit p as offset)."""
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


# --------------------------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------------------------
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
    numeric = pd.api.types.is_numeric_dtype(r) and pd.api.types.is_numeric_dtype(c) and not (
        pd.api.types.is_bool_dtype(r))
    if numeric:
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
        rl, cl = cut(rv), cut(cv)
        keys = list(range(len(edges) + 1)) + ["missing"]
        labels = dict(zip(keys, [*names, "missing"], strict=True))
    else:
        rl = r.astype(object).where(r.notna(), "missing").astype(str).to_numpy()
        cl = c.astype(object).where(c.notna(), "missing").astype(str).to_numpy()
        keys = sorted(set(rl) | set(cl))
        labels = {k: k for k in keys}
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


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
CHECK_COLUMNS = ("group", "check", "status", "value", "low", "high", "reference", "rule",
                 "detail")


@dataclass(repr=False)
class AuditResult:
    """What :func:`audit` found.

    Attributes
    ----------
    checks : DataFrame
        One row per check: ``group``, ``check``, ``status`` (pass, warn, fail, pending or
        skip), ``value`` with its interval ``low``-``high``, the ``reference`` it is compared
        with, the ``rule`` applied and a plain-language ``detail``.
    drift : DataFrame
        PSI of the score and of each feature (``feature``, ``psi``, ``status``).
    deciles : DataFrame
        Calibration by decile of the month's score: ``expected`` (mean probability, NaN for
        points), ``observed`` (censoring-aware conversion within the horizon) and its interval.
    snapshots : DataFrame
        Per snapshot: ``period``, ``as_of``, ``leads``, ``flagged``, ``flagged_per_day``,
        ``follow_days``, ``auc`` with interval.
    stuck : DataFrame
        The flagged open leads with no touch within ``stuck_days`` (lead ids, no contact data).
    meta : dict
        Horizon, threshold, periods, sizes, the scorer and the rules.
    """

    checks: pd.DataFrame
    drift: pd.DataFrame
    deciles: pd.DataFrame
    snapshots: pd.DataFrame
    stuck: pd.DataFrame
    meta: dict
    _rows: dict = None  # type: ignore[assignment]

    @property
    def status(self) -> str:
        """The worst status of any check: fail, warn, pending, pass (skip ignored)."""
        order = [s for s in self.checks["status"] if s != "skip"]
        return max(order, key=STATUS_ORDER.__getitem__) if order else "skip"

    def __repr__(self) -> str:
        counts = self.checks["status"].value_counts()
        parts = ", ".join(f"{int(counts[s])} {s}" for s in STATUS_ORDER if s in counts)
        return f"AuditResult({self.meta.get('month_label', 'month')}: {self.status}; {parts})"

    def summary(self) -> str:
        """The checks as a plain-text table."""
        def fmt(v: Any) -> str:
            return "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3g}"

        def short(text: str) -> str:
            return text if len(text) <= 70 else text[:67] + "..."

        tab = self.checks.assign(
            value=self.checks["value"].map(fmt), low=self.checks["low"].map(fmt),
            high=self.checks["high"].map(fmt), reference=self.checks["reference"].map(fmt),
            detail=self.checks["detail"].map(short))
        return tab[["group", "check", "status", "value", "low", "high", "reference",
                    "detail"]].to_string(index=False, justify="left")

    # Figures ------------------------------------------------------------------------------
    def plot_scores(self, ax=None):
        """Score distributions of the reference and the month, the threshold marked."""
        ax = _axes(ax)
        ref, cur = self._rows["reference"]["score"], self._rows["month"]["score"]
        both = np.concatenate([ref, cur])
        edges = np.histogram_bin_edges(both[np.isfinite(both)], bins=30)
        ax.hist(ref, bins=edges, density=True, alpha=0.5, label=self.meta["reference_label"])
        ax.hist(cur, bins=edges, density=True, alpha=0.5, label=self.meta["month_label"])
        ax.axvline(self.meta["threshold"], color="k", linestyle=":",
                   label=f"threshold {self.meta['threshold']:.3g}")
        ax.set_xlabel("score")
        ax.set_ylabel("density")
        ax.set_title("Score distribution")
        ax.legend()
        return ax

    def plot_drift(self, ax=None):
        """PSI of the score and each feature, with the warn and fail lines."""
        ax = _axes(ax, (7, max(3, 0.28 * len(self.drift) + 1)))
        d = self.drift.sort_values("psi")
        colors = d["status"].map({"pass": "C2", "warn": "C1", "fail": "C3"}).fillna("C7")
        ax.barh(d["feature"], d["psi"], color=colors)
        ax.axvline(self.meta["rules"]["psi_warn"], color="C1", linestyle="--", label="warn")
        ax.axvline(self.meta["rules"]["psi_fail"], color="C3", linestyle="--", label="fail")
        ax.set_xlabel("population stability index (month vs reference)")
        ax.set_title("Drift")
        ax.legend(loc="lower right")
        return ax

    def plot_calibration(self, ax=None):
        """Observed against expected conversion by decile, with intervals."""
        ax = _axes(ax, (5, 5))
        d = self.deciles
        x = d["expected"] if d["expected"].notna().any() else d["score_mean"]
        obs, lo, hi = (d[c].to_numpy(dtype=float) for c in ("observed", "low", "high"))
        ax.errorbar(x.to_numpy(dtype=float), obs, yerr=np.vstack([obs - lo, hi - obs]),
                    fmt="o", capsize=3, label=self.meta["month_label"])
        if d["expected"].notna().any():
            top = float(np.nanmax([x.max(), d["high"].max(), 0.05]))
            ax.plot([0, top], [0, top], color="k", linestyle=":", label="perfect calibration")
            ax.set_xlabel("expected conversion (mean predicted probability)")
        else:
            ax.set_xlabel("mean score in decile")
        ax.set_ylabel(f"observed conversion within {self.meta['horizon_days']:g} days")
        ax.set_title("Calibration by decile")
        ax.legend()
        return ax

    def plot_roc(self, ax=None):
        """Censoring-weighted ROC curves of the reference and the month."""
        from sklearn.metrics import roc_curve

        ax = _axes(ax, (5, 5))
        h = self.meta["horizon_days"]
        for key in ("reference", "month"):
            rows = self._rows[key]
            wc, wn = _ipcw(rows, h)
            keep = (wc > 0) | (wn > 0)
            if wc[keep].sum() > 0 and wn[keep].sum() > 0:
                y = wc[keep] > 0
                fpr, tpr, _ = roc_curve(y, rows["score"].to_numpy()[keep],
                                        sample_weight=np.where(y, wc[keep], wn[keep]))
                auc = weighted_auc(rows["score"].to_numpy(), wc, wn)
                ax.plot(fpr, tpr, label=f"{self.meta[key + '_label']}: AUC {auc:.3f}")
        ax.plot([0, 1], [0, 1], color="k", linestyle=":")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"ROC, conversion within {h:g} days")
        ax.legend(loc="lower right")
        return ax

    def plot_decay(self, ax=None):
        """AUC at each snapshot that has been followed for the whole horizon."""
        ax = _axes(ax)
        s = self.snapshots.dropna(subset=["auc"])
        for period, grp in s.groupby("period", sort=False):
            auc, lo, hi = (grp[c].to_numpy(dtype=float) for c in ("auc", "low", "high"))
            ax.errorbar(grp["as_of"].dt.tz_localize(None).to_numpy(), auc,
                        yerr=np.vstack([auc - lo, hi - auc]), fmt="o-", capsize=3,
                        label=period)
        ax.set_ylabel("AUC")
        ax.set_title("Score decay: AUC by snapshot")
        ax.legend()
        ax.figure.autofmt_xdate()
        return ax

    def figures(self) -> dict:
        """Every chart of the report as a new matplotlib figure, by name."""
        import matplotlib.pyplot as plt

        out = {}
        for name, draw, size in (("scores", self.plot_scores, (7, 4)),
                                 ("drift", self.plot_drift,
                                  (7, max(3, 0.28 * len(self.drift) + 1))),
                                 ("roc", self.plot_roc, (5, 5)),
                                 ("calibration", self.plot_calibration, (5, 5)),
                                 ("decay", self.plot_decay, (7, 4))):
            fig, ax = plt.subplots(figsize=size)
            draw(ax=ax)
            fig.tight_layout()
            out[name] = fig
        return out

    def report(self, title: str | None = None, *, generated: str | None = None):
        """The audit as an :class:`~nurturelab._html.HtmlReport` (call ``.write(path)``).

        Charts are embedded; tables name leads by ``lead_id`` only.
        """
        import matplotlib.pyplot as plt

        from nurturelab._html import HtmlReport

        m = self.meta
        title = title or f"Scoring audit: {m['month_label']}"
        sub = (f"{m.get('scorer', 'score')} · reference {m['reference_label']} · conversion "
               f"within {m['horizon_days']:g} days · threshold {m['threshold']:.4g}")
        if m.get("observed_until") is not None:
            sub += f" · data until {pd.Timestamp(m['observed_until']):%Y-%m-%d %H:%M} UTC"
        rep = HtmlReport(title, sub, generated=generated)
        rep.status_summary(self.checks)
        if m["threshold_source"] != "given":
            rep.note(f"Threshold: {m['threshold_source']}.", "warn")
        pending = self.checks[self.checks["status"] == "pending"]
        if len(pending):
            rep.note("Pending: " + "; ".join(sorted(set(pending["detail"]))) + ". Outcomes "
                     "not yet due are censored, never counted as losses.", "pending")
        # the outcome and operations checks first; of the features' drift, only what moved
        c = self.checks
        quiet = (c["group"] == "drift") & (c["check"] != "PSI score") & (c["status"] == "pass")
        shown = pd.concat([c[c["group"] != "drift"], c[(c["group"] == "drift") & ~quiet]])
        rep.heading("Checks").table(shown.drop(columns=["group"]), status_column="status",
                                    float_format="{:,.3f}")
        if quiet.any():
            rep.paragraph(f"{int(quiet.sum())} more features pass the drift check; every "
                          "feature's PSI is in the Drift section.")
        figs = self.figures()
        try:
            rep.heading("Drift")
            rep.paragraph("Population stability index of the score and each feature, the "
                          "month against the reference (bins at the reference's deciles).")
            rep.figure(figs["scores"], "Score distribution, reference and month",
                       alt="histograms of the score in the reference and the month")
            rep.figure(figs["drift"], "PSI by feature", alt="bar chart of PSI by feature")
            rep.table(self.drift, "PSI by feature", status_column="status")
            rep.heading("Discrimination")
            rep.figure(figs["roc"], "Censoring-weighted ROC curves",
                       alt="ROC curves of the reference and the month")
            rep.heading("Calibration")
            rep.figure(figs["calibration"], "Observed against expected conversion by decile",
                       alt="calibration plot by decile")
            rep.table(self.deciles, "The month's score in deciles (bins merge where scores "
                      "tie); leads counted once per snapshot")
            rep.heading("Score decay")
            rep.figure(figs["decay"], "AUC by snapshot (snapshots followed for the horizon)",
                       alt="AUC by snapshot date")
            snaps = self.snapshots.assign(as_of=self.snapshots["as_of"].dt.strftime("%Y-%m-%d"))
            rep.table(snaps, "Snapshots")
        finally:
            for fig in figs.values():
                plt.close(fig)
        rep.heading("Stuck above the threshold")
        if len(self.stuck):
            top = self.stuck.sort_values("score", ascending=False).head(50)
            rep.table(top.assign(as_of=top["as_of"].dt.strftime("%Y-%m-%d")),
                      f"Flagged open leads with no touch within {m['rules']['stuck_days']:g} "
                      f"days ({len(self.stuck)} rows, highest scores first, at most 50)")
        else:
            rep.paragraph("None.")
        rep.heading("Method")
        rep.paragraph("Every open lead is scored at weekly snapshots from what was known then. "
                      "Conversion within the horizon is estimated with censoring (Kaplan-Meier "
                      "via inverse probability of censoring weights), so leads scored recently "
                      "are not counted as lost. Intervals: cluster bootstrap over leads "
                      f"({m['rules']['n_boot']} resamples, seed {m['seed']}).")
        return rep

    def to_html(self, path: str | Path, **kwargs: Any) -> Path:
        """Write the self-contained HTML report (charts embedded); returns its path."""
        return self.report(**kwargs).write(path)


def _axes(ax, figsize=(7, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


# --------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------
def _check(group, check, status, value=np.nan, low=np.nan, high=np.nan, reference=np.nan,
           rule="", detail="") -> dict:
    return dict(group=group, check=check, status=status, value=float(value), low=float(low),
                high=float(high), reference=float(reference), rule=rule, detail=detail)


def _feature_columns(rows: pd.DataFrame, features: Sequence[str] | None) -> list[str]:
    if features is not None:
        missing = [f for f in features if f not in rows.columns]
        if missing:
            raise KeyError(f"features {missing} are not columns of the scored rows")
        return list(features)
    return [c for c in rows.columns if c not in ROW_COLUMNS and rows[c].notna().any()]


def _boot_stats(rows: dict[str, pd.DataFrame], w: dict[str, np.ndarray], h: float, t: float,
                probability: bool, dec_bins: np.ndarray, snaps: dict[str, list]) -> dict:
    """Every bootstrapped figure for one set of lead weights."""
    out = {}
    for key, df in rows.items():
        wt = w[key]
        s = df["score"].to_numpy()
        wc, wn = _ipcw(df, h, wt)
        out[f"{key}.auc"] = weighted_auc(s, wc, wn)
        out[f"{key}.ks"] = _ks(s, wc, wn)
        flag = s >= t
        n_flag = wt[flag].sum()
        out[f"{key}.precision"] = (wc[flag].sum() / n_flag
                                   if n_flag and (wn[flag].sum() or wc[flag].sum()) else np.nan)
        if key == "month":
            if probability:
                out["slope"], out["intercept"] = _calibration(s, wc, wn)
            for d in range(len(dec_bins)):
                m = dec_bins[d]
                out[f"decile{d}"] = wc[m].sum() / wt[m].sum() if wt[m].sum() else np.nan
        for i, m in enumerate(snaps[key]):
            out[f"{key}.snap{i}"] = weighted_auc(s[m], wc[m], wn[m])
    return out


def _trend(times: np.ndarray, values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted least-squares slope of ``values`` on ``times`` (days), per 30 days."""
    ok = np.isfinite(values) & (weights > 0)
    if ok.sum() < 3:
        return np.nan
    x, y, wt = times[ok], values[ok], weights[ok]
    xm = np.average(x, weights=wt)
    var = np.average((x - xm) ** 2, weights=wt)
    if var <= 0:
        return np.nan
    return float(30 * np.average((x - xm) * (y - np.average(y, weights=wt)), weights=wt) / var)


def audit(
    reference: pd.DataFrame,
    month: pd.DataFrame,
    *,
    threshold: float | None = None,
    set_for: float | None = None,
    capacity_per_day: float | None = None,
    days: float | None = None,
    horizon_days: float | None = None,
    probability: bool | None = None,
    features: Sequence[str] | None = None,
    rules: AuditRules = AuditRules(),
    seed: int | np.random.SeedSequence = 0,
    labels: tuple[str, str] = ("reference", "month"),
    threshold_source: str = "given",
) -> AuditResult:
    """Audit a month of scored leads against a reference period.

    Parameters
    ----------
    reference, month : DataFrame
        Rows from :func:`scored_snapshots` (one per snapshot and open lead).
    threshold : float, optional
        Leads with ``score >= threshold`` are flagged for a rep. Default: the reference's 80th
        percentile score (said so in ``meta["threshold_source"]``).
    set_for : float or (estimate, low, high), optional
        The conversion (precision) the threshold was chosen for, e.g. from
        :func:`~nurturelab.scoring.thresholds.choose_threshold`; with its interval, the
        comparison counts the uncertainty of both figures (normal approximation), without it
        the figure is taken as exact. Default: the reference's conversion above the
        threshold, compared with the bootstrap.
    capacity_per_day, days : float, optional
        The capacity the threshold was chosen for, and the days its ``flagged_per_day`` was
        counted over (``flagged / days`` at one snapshot; default the horizon, as in
        ``nurturelab thresholds``). Without a capacity the workload check is skipped.
    horizon_days, probability : optional
        Default from ``month.attrs`` (set by :func:`scored_snapshots`).
    features : sequence of str, optional
        The feature columns checked for drift (default every non-empty column besides the
        audit's own).
    rules : AuditRules
    seed : int or SeedSequence
        Seed of the bootstrap; the same seed gives the same intervals.
    labels : (str, str)
        Names of the two periods in the report, e.g. ``("2026-07..2026-09", "2026-10")``.
    threshold_source : str, default "given"
        Where the threshold comes from, for the report (e.g. "recorded on version 3").

    Returns
    -------
    AuditResult
    """
    for name, df in (("reference", reference), ("month", month)):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"'{name}' must be a DataFrame from scored_snapshots. Got "
                            f"{type(df).__name__} instead.")
        missing = [c for c in ROW_COLUMNS if c not in df.columns]
        if missing:
            raise KeyError(f"'{name}' lacks the columns {missing}; make it with "
                           "scored_snapshots")
        if not len(df):
            raise ValueError(f"the {name} period ({labels[name == 'month']}) has no scored "
                             "open leads")
    h = float(horizon_days if horizon_days is not None else month.attrs.get("horizon_days", 0))
    if not h > 0:
        raise ValueError("pass 'horizon_days' (the rows carry no attrs['horizon_days'])")
    if probability is None:
        probability = bool(month.attrs.get("probability", False))
    ref = reference.reset_index(drop=True)
    cur = month.reset_index(drop=True)
    for name, value in (("threshold", threshold), ("capacity_per_day", capacity_per_day),
                        ("days", days)):
        if value is not None and not (isinstance(value, int | float | np.integer | np.floating)
                                      and not isinstance(value, bool) and np.isfinite(value)):
            raise ValueError(f"'{name}' must be a finite number or None. Got {value!r} instead.")
    for name, value in (("capacity_per_day", capacity_per_day), ("days", days)):
        if value is not None and value <= 0:
            raise ValueError(f"'{name}' must be > 0. Got {value!r} instead.")
    if threshold is None:
        threshold = float(np.quantile(ref["score"], 0.8))
        threshold_source = "the reference's 80th percentile (none was recorded)"
    t = float(threshold)
    days = float(days) if days is not None else h

    # Checks that need no outcome: drift, workload, stuck leads --------------------------------
    checks = []
    drift_rows = []
    for col in ["score", *_feature_columns(cur, features)]:
        if col not in ref.columns:
            continue
        value, _ = psi(ref[col], cur[col], bins=rules.psi_bins)
        k = max(2, min(rules.psi_bins, max(ref[col].nunique(), cur[col].nunique())))
        noise = (k - 1) * (1 / len(ref) + 1 / len(cur))  # E[PSI] with no drift, roughly
        status = ("fail" if value >= rules.psi_fail else "warn" if value >= rules.psi_warn
                  else "pass")
        drift_rows.append({"feature": col, "psi": value, "no_drift_level": noise,
                           "status": status})
        checks.append(_check("drift", f"PSI {col}", status, value,
                             rule=f"warn >= {rules.psi_warn:g}, fail >= {rules.psi_fail:g}",
                             detail=f"about {noise:.3f} expected from sampling alone"))
    drift = pd.DataFrame(drift_rows)

    snaps = {}
    snap_rows = []
    for key, df, lab in (("reference", ref, labels[0]), ("month", cur, labels[1])):
        masks = []
        for at, idx in df.groupby("as_of", sort=True).indices.items():
            m = np.zeros(len(df), dtype=bool)
            m[idx] = True
            masks.append(m)
            flagged = int((df["score"].to_numpy()[m] >= t).sum())
            snap_rows.append({"period": lab, "as_of": at, "leads": int(m.sum()),
                              "flagged": flagged, "flagged_per_day": flagged / days,
                              "follow_days": float(df["follow_days"].to_numpy()[m][0])})
        snaps[key] = masks
    snapshots = pd.DataFrame(snap_rows)
    month_snaps = snapshots[snapshots["period"] == labels[1]]

    if capacity_per_day is not None:
        load = float(month_snaps["flagged_per_day"].mean())
        cap = float(capacity_per_day)
        status = ("fail" if load > rules.capacity_fail * cap else "warn" if load > cap
                  else "pass")
        checks.append(_check("threshold", "flagged per day", status, load,
                             month_snaps["flagged_per_day"].min(),
                             month_snaps["flagged_per_day"].max(), cap,
                             rule=f"warn above the capacity, fail above {rules.capacity_fail:g}x",
                             detail=f"mean over {len(month_snaps)} snapshots of flagged / "
                                    f"{days:g} days; range shown as the interval"))
    else:
        checks.append(_check("threshold", "flagged per day", "skip",
                             month_snaps["flagged_per_day"].mean(),
                             detail="no capacity recorded for the threshold"))

    flag_cur = cur["score"].to_numpy() >= t
    judged = flag_cur & (cur["follow_days"].to_numpy() >= rules.stuck_days)
    nxt = cur["next_touch_days"].to_numpy()
    stuck_mask = judged & ~(nxt <= rules.stuck_days)
    stuck = cur.loc[stuck_mask, ["lead_id", "as_of", "score", "next_touch_days"]].rename(
        columns={"next_touch_days": "days_to_next_touch"}).reset_index(drop=True)
    if judged.sum():
        share = stuck_mask.sum() / judged.sum()
        status = ("fail" if share > rules.stuck_fail else "warn" if share > rules.stuck_warn
                  else "pass")
        checks.append(_check("operations", "stuck above threshold", status, share,
                             rule=f"no touch within {rules.stuck_days:g} days: warn above "
                                  f"{rules.stuck_warn:.0%}, fail above {rules.stuck_fail:.0%}",
                             detail=f"{int(stuck_mask.sum())} of {int(judged.sum())} flagged "
                                    f"open leads ({stuck['lead_id'].nunique()} distinct)"))
    else:
        checks.append(_check("operations", "stuck above threshold", "pending",
                             detail="no flagged lead has been followed for "
                                    f"{rules.stuck_days:g} days yet"))

    # Outcome checks ---------------------------------------------------------------------------
    rows = {"reference": ref, "month": cur}
    dec_edges = np.unique(np.quantile(cur["score"], np.arange(1, 10) / 10))
    dec_id = np.searchsorted(dec_edges, cur["score"].to_numpy(), side="left")
    dec_bins = [dec_id == d for d in range(len(dec_edges) + 1)]
    ones = {k: np.ones(len(v)) for k, v in rows.items()}
    est = _boot_stats(rows, ones, h, t, probability, dec_bins, snaps)

    ids = pd.Index(pd.unique(np.concatenate([ref["lead_id"].to_numpy(dtype=object),
                                             cur["lead_id"].to_numpy(dtype=object)])))
    codes = {k: ids.get_indexer(v["lead_id"].to_numpy(dtype=object)) for k, v in rows.items()}
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(int(rules.n_boot)):
        counts = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids))).astype(float)
        boots.append(_boot_stats(rows, {k: counts[c] for k, c in codes.items()}, h, t,
                                 probability, dec_bins, snaps))
    boot = pd.DataFrame(boots)
    a = rules.alpha

    def ci(name: str) -> tuple[float, float]:
        v = boot[name].to_numpy(dtype=float) if name in boot else np.array([np.nan])
        v = v[np.isfinite(v)]
        if len(v) < 0.5 * rules.n_boot:
            return np.nan, np.nan
        return float(np.quantile(v, a / 2)), float(np.quantile(v, 1 - a / 2))

    def diff_ci(name: str) -> tuple[float, float]:
        if f"month.{name}" not in boot:
            return np.nan, np.nan
        v = (boot[f"month.{name}"] - boot[f"reference.{name}"]).to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if len(v) < 0.5 * rules.n_boot:
            return np.nan, np.nan
        return float(np.quantile(v, a / 2)), float(np.quantile(v, 1 - a / 2))

    def maturity(df: pd.DataFrame) -> tuple[bool, str]:
        wc, wn = _ipcw(df, h)
        n_case, n_ctrl = int((wc > 0).sum()), int((wn > 0).sum())
        if n_ctrl == 0:
            first = df["as_of"].min() + pd.Timedelta(days=h)
            return False, (f"no snapshot has been followed for {h:g} days yet; outcomes can be "
                           f"judged from {first:%Y-%m-%d}")
        if n_case < rules.min_outcomes or n_ctrl < rules.min_outcomes:
            return False, (f"too few outcomes to judge yet ({n_case} conversions, {n_ctrl} "
                           f"leads followed for {h:g} days; needs {rules.min_outcomes} each)")
        return True, f"{n_case} conversions, {n_ctrl} leads followed for {h:g} days"

    ref_ok, ref_why = maturity(ref)
    cur_ok, cur_why = maturity(cur)
    why = cur_why if not cur_ok else ref_why

    for name, fail_drop in (("auc", rules.auc_fail_drop), ("ks", rules.ks_fail_drop)):
        label = name.upper()
        value, refv = est[f"month.{name}"], est[f"reference.{name}"]
        lo, hi = ci(f"month.{name}")
        dlo, dhi = diff_ci(name)
        if not (cur_ok and ref_ok):
            checks.append(_check("discrimination", label, "pending", reference=refv,
                                 detail=why))
            continue
        status = "fail" if dhi < -fail_drop else "warn" if dhi < 0 else "pass"
        checks.append(_check("discrimination", label, status, value, lo, hi, refv,
                             rule=f"warn if significantly below the reference, fail if "
                                  f"significantly more than {fail_drop:g} below",
                             detail=f"month - reference {value - refv:+.3f} "
                                    f"[{dlo:+.3f}, {dhi:+.3f}]; {cur_why}"))

    if probability:
        for name, ideal, fail_off in (("slope", 1.0, rules.slope_fail),
                                      ("intercept", 0.0, rules.intercept_fail)):
            value = est.get(name, np.nan)
            lo, hi = ci(name)
            if not cur_ok:
                checks.append(_check("calibration", f"calibration {name}", "pending",
                                     reference=ideal, detail=cur_why))
                continue
            known = np.isfinite(lo) and np.isfinite(hi)
            far = known and (hi < ideal - fail_off or lo > ideal + fail_off)
            status = ("fail" if far else "warn" if known and not lo <= ideal <= hi
                      else "pass")
            checks.append(_check("calibration", f"calibration {name}", status, value, lo, hi,
                                 ideal, rule=f"warn if the interval excludes {ideal:g}, fail if "
                                             f"it lies wholly more than {fail_off:g} from it",
                                 detail="logistic regression of the outcome on logit(p)"
                                        + (" as offset" if name == "intercept" else "")))
    else:
        for name in ("slope", "intercept"):
            checks.append(_check("calibration", f"calibration {name}", "skip",
                                 detail="points are not probabilities"))

    prec, (plo, phi) = est["month.precision"], ci("month.precision")
    if set_for is None:
        target, (tlo, thi) = est["reference.precision"], ci("reference.precision")
        target_text = f"the reference's {target:.3f} [{tlo:.3f}, {thi:.3f}]"
        dlo, dhi = diff_ci("precision")
        below, far_below = dhi < 0, dhi < -rules.shortfall_fail * target
    elif np.ndim(set_for) == 0:
        target = float(set_for)
        target_text = f"{target:.3f}, recorded when the threshold was chosen"
        below, far_below = phi < target, phi < (1 - rules.shortfall_fail) * target
    else:
        # recorded with its own interval: compare the difference, both uncertainties counted
        from scipy.stats import norm

        target, tlo, thi = (float(v) for v in set_for)
        z = norm.ppf(1 - a / 2)
        v = boot["month.precision"].to_numpy(dtype=float)
        se = np.sqrt(np.nanvar(v, ddof=1) + ((thi - tlo) / (2 * z)) ** 2)
        dhi = prec - target + z * se
        target_text = (f"{target:.3f} [{tlo:.3f}, {thi:.3f}], recorded when the threshold was "
                       "chosen")
        below, far_below = dhi < 0, dhi < -rules.shortfall_fail * target
    if not (cur_ok and (ref_ok or set_for is not None)):
        checks.append(_check("threshold", "conversion above threshold", "pending",
                             reference=target, detail=why))
    else:
        status = "fail" if far_below else "warn" if below else "pass"
        checks.append(_check("threshold", "conversion above threshold", status, prec, plo, phi,
                             target, rule=f"warn if significantly below what it was set for, "
                                          f"fail if significantly more than "
                                          f"{rules.shortfall_fail:.0%} below",
                             detail=f"flag score >= {t:.4g}; set for {target_text}"))

    snap_auc = []
    for key in ("reference", "month"):
        for i in range(len(snaps[key])):
            lo, hi = ci(f"{key}.snap{i}")
            snap_auc.append((est[f"{key}.snap{i}"], lo, hi))
    snapshots[["auc", "low", "high"]] = np.array(snap_auc, dtype=float).reshape(-1, 3)
    tdays = ((snapshots["as_of"] - snapshots["as_of"].min()) / _DAY).to_numpy(dtype=float)
    n_known = snapshots["leads"].to_numpy(dtype=float)
    slope = _trend(tdays, snapshots["auc"].to_numpy(dtype=float), n_known)
    cols = [f"{k}.snap{i}" for k in ("reference", "month") for i in range(len(snaps[k]))]
    boot_slopes = np.array([_trend(tdays, boot[cols].to_numpy(dtype=float)[b], n_known)
                            for b in range(len(boot))]) if len(boot) else np.array([])
    boot_slopes = boot_slopes[np.isfinite(boot_slopes)]
    if not cur_ok:
        checks.append(_check("score decay", "AUC trend per 30 days", "pending",
                             detail=cur_why))
    elif np.isfinite(slope) and len(boot_slopes) >= 0.5 * rules.n_boot:
        slo, shi = np.quantile(boot_slopes, [a / 2, 1 - a / 2])
        status = ("fail" if shi < -rules.decay_fail_per_30d else "warn" if shi < 0
                  else "pass")
        checks.append(_check("score decay", "AUC trend per 30 days", status, slope, slo, shi, 0,
                             rule=f"warn if significantly falling, fail if significantly "
                                  f"faster than {rules.decay_fail_per_30d:g} per 30 days",
                             detail=f"{int(snapshots['auc'].notna().sum())} snapshots followed "
                                    f"for {h:g} days"))
    else:
        checks.append(_check("score decay", "AUC trend per 30 days", "pending",
                             detail="needs at least 3 snapshots followed for the whole horizon"))

    dec = []
    p_cur = cur["score"].to_numpy()
    for d, m in enumerate(dec_bins):
        if not m.any():
            continue
        lo, hi = ci(f"decile{d}")
        dec.append({"decile": d + 1, "leads": int(m.sum()), "score_mean": float(p_cur[m].mean()),
                    "expected": float(p_cur[m].mean()) if probability else np.nan,
                    "observed": est[f"decile{d}"] if cur_ok else np.nan,
                    "low": lo if cur_ok else np.nan, "high": hi if cur_ok else np.nan})
    deciles = pd.DataFrame(dec)

    meta = {
        "horizon_days": h, "threshold": t, "threshold_source": threshold_source,
        "set_for": set_for, "capacity_per_day": capacity_per_day, "days": days,
        "reference_label": labels[0], "month_label": labels[1],
        "reference_rows": len(ref), "month_rows": len(cur),
        "reference_leads": int(ref["lead_id"].nunique()),
        "month_leads": int(cur["lead_id"].nunique()),
        "observed_until": month.attrs.get("observed_until"), "probability": probability,
        "rules": asdict(rules), "seed": seed if isinstance(seed, int) else None,
    }
    return AuditResult(checks=pd.DataFrame(checks, columns=list(CHECK_COLUMNS)), drift=drift,
                       deciles=deciles, snapshots=snapshots, stuck=stuck, meta=meta,
                       _rows=rows)
