"""The audit's rules, its settings, and the checks it makes (:func:`audit`).

Each check is one row of :attr:`AuditResult.checks`: its group, name, status (pass, warn,
fail, pending or skip), figure with interval, what it is compared with, the rule applied and a
plain-language detail. :class:`AuditRules` holds every number the rules use;
:class:`AuditSettings` holds everything else an audit is told (threshold, what it was set for,
capacity, horizon, features, seed, labels).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.checks import is_number, need_columns
from nurturelab.scoring.audit.bootstrap import AuditFigures, bootstrap_figures
from nurturelab.scoring.audit.result import CHECK_COLUMNS, AuditResult
from nurturelab.scoring.audit.snapshots import DAY, ROW_COLUMNS
from nurturelab.scoring.audit.statistics import ipcw_weights, psi, weighted_trend

__all__ = ["AuditRules", "AuditSettings", "audit"]


# --------------------------------------------------------------------------------------------
# Rules and settings
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
            ok = (is_number(v) and np.isfinite(v) and v > 0
                  and (not whole or float(v).is_integer()))
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


def _bad_setting(name: str, rule: str, value: Any) -> ValueError:
    return ValueError(f"The '{name}' field of AuditSettings must be {rule}. Got {value!r} "
                      "instead.")


def _finite(value: Any) -> bool:
    return is_number(value) and bool(np.isfinite(value))


@dataclass(frozen=True)
class AuditSettings:
    """Everything an audit is told besides its rows: one frozen, validated object.

    Parameters
    ----------
    threshold : float, optional
        Leads with ``score >= threshold`` are flagged for a rep. Default: the reference's 80th
        percentile score (said so in ``meta["threshold_source"]``).
    set_for : float or (estimate, low, high), optional
        The conversion (precision) the threshold was chosen for, in [0, 1], e.g. from
        :func:`~nurturelab.scoring.thresholds.choose_threshold`; with its interval, the
        comparison counts the uncertainty of both figures (normal approximation), without it
        the figure is taken as exact. Default: the reference's conversion above the
        threshold, compared with the bootstrap.
    capacity_per_day, days : float, optional
        The capacity the threshold was chosen for, and the days its ``flagged_per_day`` was
        counted over (``flagged / days`` at one snapshot; default the horizon, as in
        ``nurturelab thresholds``). Without a capacity the workload check is skipped.
    horizon_days : float, optional
        The outcome: conversion within this many days. Default from the rows' ``attrs`` (set
        by :func:`~nurturelab.scoring.audit.scored_snapshots`); 30 in
        :func:`~nurturelab.scoring.audit.audit_month`.
    probability : bool, optional
        Whether the score is a probability (calibration is checked only then). Default from
        the rows' ``attrs``.
    features : sequence of str, optional
        The feature columns checked for drift (default every non-empty column besides the
        audit's own).
    rules : AuditRules
        Every number of the pass / warn / fail rules.
    seed : int, SeedSequence or None, default 0
        Seed of the bootstrap; the same seed gives the same intervals.
    labels : (str, str)
        Names of the two periods in the report, e.g. ``("2026-07..2026-09", "2026-10")``.
    threshold_source : str, default "given"
        Where the threshold comes from, for the report (e.g. "recorded on version 3").

    Examples
    --------
    >>> AuditSettings(threshold=0.3, capacity_per_day=8).days is None
    True
    >>> AuditSettings(capacity_per_day=0)
    Traceback (most recent call last):
    ...
    ValueError: The 'capacity_per_day' field of AuditSettings must be a finite number > 0 or \
None. Got 0 instead.
    >>> AuditSettings(set_for=(0.5, 0.6, 0.4))
    Traceback (most recent call last):
    ...
    ValueError: The 'set_for' field of AuditSettings must be a precision in [0, 1] or \
(estimate, low, high) with low <= high. Got (0.5, 0.6, 0.4) instead.
    """

    threshold: float | None = None
    set_for: float | tuple[float, float, float] | None = None
    capacity_per_day: float | None = None
    days: float | None = None
    horizon_days: float | None = None
    probability: bool | None = None
    features: tuple[str, ...] | None = None
    rules: AuditRules = field(default_factory=AuditRules)
    seed: int | np.random.SeedSequence | None = 0
    labels: tuple[str, str] = ("reference", "month")
    threshold_source: str = "given"

    def __post_init__(self) -> None:
        if self.threshold is not None and not _finite(self.threshold):
            raise _bad_setting("threshold", "a finite number or None", self.threshold)
        for name in ("capacity_per_day", "days", "horizon_days"):
            value = getattr(self, name)
            if value is not None and not (_finite(value) and value > 0):
                raise _bad_setting(name, "a finite number > 0 or None", value)
        object.__setattr__(self, "set_for", self._checked_set_for())
        if self.probability is not None and not isinstance(self.probability, bool | np.bool_):
            raise _bad_setting("probability", "True, False or None", self.probability)
        if self.features is not None:
            ok = not isinstance(self.features, str) and isinstance(self.features, Iterable)
            names = tuple(self.features) if ok else ()
            if not (ok and all(isinstance(f, str) for f in names)):
                raise _bad_setting("features", "a sequence of column names or None",
                                   self.features)
            object.__setattr__(self, "features", names)
        if not isinstance(self.rules, AuditRules):
            raise _bad_setting("rules", "an AuditRules", self.rules)
        seed_ok = (self.seed is None or isinstance(self.seed, np.random.SeedSequence)
                   or (isinstance(self.seed, int | np.integer) and not isinstance(self.seed, bool)
                       and self.seed >= 0))
        if not seed_ok:
            raise _bad_setting("seed", "an int >= 0, a numpy SeedSequence or None", self.seed)
        labels = self.labels
        if not (isinstance(labels, Sequence) and not isinstance(labels, str) and len(labels) == 2
                and all(isinstance(x, str) for x in labels)):
            raise _bad_setting("labels", "two str, (reference, month)", labels)
        object.__setattr__(self, "labels", tuple(labels))
        if not isinstance(self.threshold_source, str):
            raise _bad_setting("threshold_source", "a str", self.threshold_source)

    def _checked_set_for(self) -> float | tuple[float, float, float] | None:
        v = self.set_for
        if v is None:
            return None
        rule = "a precision in [0, 1] or (estimate, low, high) with low <= high"
        if np.ndim(v) == 0:
            if not (_finite(v) and 0 <= v <= 1):
                raise _bad_setting("set_for", rule, v)
            return float(v)
        values = tuple(v)
        if not (len(values) == 3 and all(_finite(x) and 0 <= x <= 1 for x in values)
                and values[1] <= values[2]):
            raise _bad_setting("set_for", rule, v)
        return tuple(float(x) for x in values)


def _settings(settings: AuditSettings | None, changes: Mapping[str, Any]) -> AuditSettings:
    """``settings`` (default AuditSettings()) with ``changes`` to its fields."""
    if settings is None:
        settings = AuditSettings()
    if not isinstance(settings, AuditSettings):
        raise TypeError(f"The 'settings' parameter of audit must be an AuditSettings. Got "
                        f"{type(settings).__name__} instead.")
    unknown = sorted(set(changes) - {f.name for f in fields(AuditSettings)})
    if unknown:
        raise TypeError(f"audit() got unknown setting(s) {unknown}; the settings are the "
                        f"fields of AuditSettings: {[f.name for f in fields(AuditSettings)]}")
    return replace(settings, **changes) if changes else settings


# --------------------------------------------------------------------------------------------
# The checks
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


def _drift_checks(ref: pd.DataFrame, cur: pd.DataFrame, columns: Sequence[str],
                  rules: AuditRules) -> tuple[list[dict], pd.DataFrame]:
    """PSI of the score and each feature: a check per column, and the drift table."""
    checks, table = [], []
    for col in ["score", *columns]:
        if col not in ref.columns:
            continue
        value, _ = psi(ref[col], cur[col], bins=rules.psi_bins)
        k = max(2, min(rules.psi_bins, max(ref[col].nunique(), cur[col].nunique())))
        noise = (k - 1) * (1 / len(ref) + 1 / len(cur))  # E[PSI] with no drift, roughly
        status = ("fail" if value >= rules.psi_fail else "warn" if value >= rules.psi_warn
                  else "pass")
        table.append({"feature": col, "psi": value, "no_drift_level": noise, "status": status})
        checks.append(_check("drift", f"PSI {col}", status, value,
                             rule=f"warn >= {rules.psi_warn:g}, fail >= {rules.psi_fail:g}",
                             detail=f"about {noise:.3f} expected from sampling alone"))
    return checks, pd.DataFrame(table)


def _snapshot_table(rows: Mapping[str, pd.DataFrame], threshold: float, days: float,
                    labels: tuple[str, str]) -> tuple[pd.DataFrame, dict[str, list]]:
    """Leads and flagged leads per snapshot, and each period's rows by snapshot (masks)."""
    masks, table = {}, []
    for (key, df), lab in zip(rows.items(), labels, strict=True):
        masks[key] = []
        for at, idx in df.groupby("as_of", sort=True).indices.items():
            m = np.zeros(len(df), dtype=bool)
            m[idx] = True
            masks[key].append(m)
            flagged = int((df["score"].to_numpy()[m] >= threshold).sum())
            table.append({"period": lab, "as_of": at, "leads": int(m.sum()),
                          "flagged": flagged, "flagged_per_day": flagged / days,
                          "follow_days": float(df["follow_days"].to_numpy()[m][0])})
    return pd.DataFrame(table), masks


def _workload_check(month_snaps: pd.DataFrame, capacity_per_day: float | None, days: float,
                    rules: AuditRules) -> dict:
    per_day = month_snaps["flagged_per_day"]
    if capacity_per_day is None:
        return _check("threshold", "flagged per day", "skip", per_day.mean(),
                      detail="no capacity recorded for the threshold")
    load, cap = float(per_day.mean()), float(capacity_per_day)
    status = "fail" if load > rules.capacity_fail * cap else "warn" if load > cap else "pass"
    return _check("threshold", "flagged per day", status, load, per_day.min(), per_day.max(),
                  cap, rule=f"warn above the capacity, fail above {rules.capacity_fail:g}x",
                  detail=f"mean over {len(month_snaps)} snapshots of flagged / {days:g} days; "
                         "range shown as the interval")


def _stuck_check(cur: pd.DataFrame, threshold: float,
                 rules: AuditRules) -> tuple[dict, pd.DataFrame]:
    """Share of flagged open leads with no touch within ``stuck_days``, and those leads."""
    flag = cur["score"].to_numpy() >= threshold
    judged = flag & (cur["follow_days"].to_numpy() >= rules.stuck_days)
    nxt = cur["next_touch_days"].to_numpy()
    stuck_mask = judged & ~(nxt <= rules.stuck_days)
    stuck = cur.loc[stuck_mask, ["lead_id", "as_of", "score", "next_touch_days"]].rename(
        columns={"next_touch_days": "days_to_next_touch"}).reset_index(drop=True)
    if not judged.sum():
        return _check("operations", "stuck above threshold", "pending",
                      detail="no flagged lead has been followed for "
                             f"{rules.stuck_days:g} days yet"), stuck
    share = stuck_mask.sum() / judged.sum()
    status = ("fail" if share > rules.stuck_fail else "warn" if share > rules.stuck_warn
              else "pass")
    return _check("operations", "stuck above threshold", status, share,
                  rule=f"no touch within {rules.stuck_days:g} days: warn above "
                       f"{rules.stuck_warn:.0%}, fail above {rules.stuck_fail:.0%}",
                  detail=f"{int(stuck_mask.sum())} of {int(judged.sum())} flagged open leads "
                         f"({stuck['lead_id'].nunique()} distinct)"), stuck


def _maturity(df: pd.DataFrame, h: float, rules: AuditRules) -> tuple[bool, str]:
    """Whether a period's outcomes can be judged yet, and why (not)."""
    wc, wn = ipcw_weights(df, h)
    n_case, n_ctrl = int((wc > 0).sum()), int((wn > 0).sum())
    if n_ctrl == 0 or df["follow_days"].max() < h:  # an ended lead is no follow-up
        first = df["as_of"].min() + pd.Timedelta(days=h)
        return False, (f"no snapshot has been followed for {h:g} days yet; outcomes can be "
                       f"judged from {first:%Y-%m-%d}")
    if n_case < rules.min_outcomes or n_ctrl < rules.min_outcomes:
        return False, (f"too few outcomes to judge yet ({n_case} conversions, {n_ctrl} "
                       f"leads followed for {h:g} days; needs {rules.min_outcomes} each)")
    return True, f"{n_case} conversions, {n_ctrl} leads followed for {h:g} days"


@dataclass(frozen=True)
class _Maturity:
    ref_ok: bool
    cur_ok: bool
    cur_why: str
    why: str  # the month's reason when it is not mature, else the reference's


def _discrimination_checks(fig: AuditFigures, mature: _Maturity,
                           rules: AuditRules) -> list[dict]:
    checks = []
    for name, fail_drop in (("auc", rules.auc_fail_drop), ("ks", rules.ks_fail_drop)):
        label = name.upper()
        value, refv = fig[f"month.{name}"], fig[f"reference.{name}"]
        lo, hi = fig.ci(f"month.{name}")
        dlo, dhi = fig.diff_ci(name)
        if not (mature.cur_ok and mature.ref_ok):
            checks.append(_check("discrimination", label, "pending", reference=refv,
                                 detail=mature.why))
            continue
        status = "fail" if dhi < -fail_drop else "warn" if dhi < 0 else "pass"
        checks.append(_check("discrimination", label, status, value, lo, hi, refv,
                             rule=f"warn if significantly below the reference, fail if "
                                  f"significantly more than {fail_drop:g} below",
                             detail=f"month - reference {value - refv:+.3f} "
                                    f"[{dlo:+.3f}, {dhi:+.3f}]; {mature.cur_why}"))
    return checks


def _calibration_checks(fig: AuditFigures, probability: bool, mature: _Maturity,
                        rules: AuditRules) -> list[dict]:
    if not probability:
        return [_check("calibration", f"calibration {name}", "skip",
                       detail="points are not probabilities") for name in ("slope", "intercept")]
    checks = []
    for name, ideal, fail_off in (("slope", 1.0, rules.slope_fail),
                                  ("intercept", 0.0, rules.intercept_fail)):
        value = fig.get(name, np.nan)
        lo, hi = fig.ci(name)
        if not mature.cur_ok:
            checks.append(_check("calibration", f"calibration {name}", "pending",
                                 reference=ideal, detail=mature.cur_why))
            continue
        known = np.isfinite(lo) and np.isfinite(hi)
        far = known and (hi < ideal - fail_off or lo > ideal + fail_off)
        status = "fail" if far else "warn" if known and not lo <= ideal <= hi else "pass"
        checks.append(_check("calibration", f"calibration {name}", status, value, lo, hi,
                             ideal, rule=f"warn if the interval excludes {ideal:g}, fail if "
                                         f"it lies wholly more than {fail_off:g} from it",
                             detail="logistic regression of the outcome on logit(p)"
                                    + (" as offset" if name == "intercept" else "")))
    return checks


def _precision_target(fig: AuditFigures, set_for: Any, prec: float,
                      rules: AuditRules) -> tuple[float, str, bool, bool]:
    """What the month's conversion above the threshold is held to: the target, its text, and
    whether the month is significantly below it and significantly far below it."""
    a = rules.alpha
    if set_for is None:
        target, (tlo, thi) = fig["reference.precision"], fig.ci("reference.precision")
        _, dhi = fig.diff_ci("precision")
        return (target, f"the reference's {target:.3f} [{tlo:.3f}, {thi:.3f}]", dhi < 0,
                dhi < -rules.shortfall_fail * target)
    if np.ndim(set_for) == 0:
        target = float(set_for)
        _, phi = fig.ci("month.precision")
        return (target, f"{target:.3f}, recorded when the threshold was chosen", phi < target,
                phi < (1 - rules.shortfall_fail) * target)
    # recorded with its own interval: compare the difference, both uncertainties counted
    from scipy.stats import norm

    target, tlo, thi = (float(v) for v in set_for)
    z = norm.ppf(1 - a / 2)
    v = fig.resamples["month.precision"].to_numpy(dtype=float)
    se = np.sqrt(np.nanvar(v, ddof=1) + ((thi - tlo) / (2 * z)) ** 2)
    dhi = prec - target + z * se
    text = f"{target:.3f} [{tlo:.3f}, {thi:.3f}], recorded when the threshold was chosen"
    return target, text, dhi < 0, dhi < -rules.shortfall_fail * target


def _precision_check(fig: AuditFigures, set_for: Any, threshold: float, mature: _Maturity,
                     rules: AuditRules) -> dict:
    prec, (plo, phi) = fig["month.precision"], fig.ci("month.precision")
    target, target_text, below, far_below = _precision_target(fig, set_for, prec, rules)
    if not (mature.cur_ok and (mature.ref_ok or set_for is not None)):
        return _check("threshold", "conversion above threshold", "pending", reference=target,
                      detail=mature.why)
    status = "fail" if far_below else "warn" if below else "pass"
    return _check("threshold", "conversion above threshold", status, prec, plo, phi, target,
                  rule=f"warn if significantly below what it was set for, fail if "
                       f"significantly more than {rules.shortfall_fail:.0%} below",
                  detail=f"flag score >= {threshold:.4g}; set for {target_text}")


def _snapshot_auc(fig: AuditFigures, snapshots: pd.DataFrame,
                  masks: dict[str, list]) -> pd.DataFrame:
    """The snapshot table with each snapshot's AUC and interval."""
    auc = []
    for key, period_masks in masks.items():
        for i in range(len(period_masks)):
            lo, hi = fig.ci(f"{key}.snap{i}")
            auc.append((fig[f"{key}.snap{i}"], lo, hi))
    out = snapshots.copy()
    out[["auc", "low", "high"]] = np.array(auc, dtype=float).reshape(-1, 3)
    return out


def _decay_check(fig: AuditFigures, snapshots: pd.DataFrame, masks: dict[str, list], h: float,
                 mature: _Maturity, rules: AuditRules) -> dict:
    """The weighted trend of the snapshots' AUC, with its bootstrap interval."""
    tdays = ((snapshots["as_of"] - snapshots["as_of"].min()) / DAY).to_numpy(dtype=float)
    n_known = snapshots["leads"].to_numpy(dtype=float)
    slope = weighted_trend(tdays, snapshots["auc"].to_numpy(dtype=float), n_known)
    cols = [f"{k}.snap{i}" for k, period_masks in masks.items()
            for i in range(len(period_masks))]
    resampled = fig.resamples[cols].to_numpy(dtype=float) if len(fig.resamples) else []
    boot_slopes = np.array([weighted_trend(tdays, values, n_known) for values in resampled])
    boot_slopes = boot_slopes[np.isfinite(boot_slopes)]
    if not mature.cur_ok:
        return _check("score decay", "AUC trend per 30 days", "pending", detail=mature.cur_why)
    if not (np.isfinite(slope) and len(boot_slopes) >= 0.5 * rules.n_boot):
        return _check("score decay", "AUC trend per 30 days", "pending",
                      detail="needs at least 3 snapshots followed for the whole horizon")
    a = rules.alpha
    slo, shi = np.quantile(boot_slopes, [a / 2, 1 - a / 2])
    status = "fail" if shi < -rules.decay_fail_per_30d else "warn" if shi < 0 else "pass"
    return _check("score decay", "AUC trend per 30 days", status, slope, slo, shi, 0,
                  rule=f"warn if significantly falling, fail if significantly faster than "
                       f"{rules.decay_fail_per_30d:g} per 30 days",
                  detail=f"{int(snapshots['auc'].notna().sum())} snapshots followed for "
                         f"{h:g} days")


def _decile_bins(cur: pd.DataFrame) -> list[np.ndarray]:
    """Masks of the month's rows by decile of its score (bins merge where scores tie)."""
    edges = np.unique(np.quantile(cur["score"], np.arange(1, 10) / 10))
    dec_id = np.searchsorted(edges, cur["score"].to_numpy(), side="left")
    return [dec_id == d for d in range(len(edges) + 1)]


def _decile_table(fig: AuditFigures, bins: list[np.ndarray], cur: pd.DataFrame,
                  probability: bool, mature: _Maturity) -> pd.DataFrame:
    p_cur = cur["score"].to_numpy()
    table = []
    for d, m in enumerate(bins):
        if not m.any():
            continue
        lo, hi = fig.ci(f"decile{d}")
        ok = mature.cur_ok
        table.append({"decile": d + 1, "leads": int(m.sum()),
                      "score_mean": float(p_cur[m].mean()),
                      "expected": float(p_cur[m].mean()) if probability else np.nan,
                      "observed": fig[f"decile{d}"] if ok else np.nan,
                      "low": lo if ok else np.nan, "high": hi if ok else np.nan})
    return pd.DataFrame(table)


# --------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------
def _check_rows(reference: Any, month: Any, labels: tuple[str, str]) -> None:
    for (name, df), label in zip((("reference", reference), ("month", month)), labels,
                                 strict=True):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"'{name}' must be a DataFrame from scored_snapshots. Got "
                            f"{type(df).__name__} instead.")
        # ended_days may be absent (rows made without it): then no lead ended otherwise
        need_columns(df, [c for c in ROW_COLUMNS if c != "ended_days"],
                     f"'{name}' (make it with scored_snapshots)")
        if not len(df):
            raise ValueError(f"the {name} period ({label}) has no scored open leads")


def audit(
    reference: pd.DataFrame,
    month: pd.DataFrame,
    *,
    settings: AuditSettings | None = None,
    **changes: Any,
) -> AuditResult:
    """Audit a month of scored leads against a reference period.

    Parameters
    ----------
    reference, month : DataFrame
        Rows from :func:`~nurturelab.scoring.audit.scored_snapshots` (one per snapshot and
        open lead); not modified.
    settings : AuditSettings, optional
        The threshold, what it was set for, the capacity, horizon, features, rules, seed and
        labels (default ``AuditSettings()``).
    **changes
        Fields of :class:`AuditSettings` to change, a shorthand:
        ``audit(ref, month, threshold=0.3)`` is
        ``audit(ref, month, settings=AuditSettings(threshold=0.3))``.

    Returns
    -------
    AuditResult

    Raises
    ------
    TypeError, KeyError, ValueError
        For rows not made by ``scored_snapshots``, an empty period, an unknown feature or
        setting, or a bad value of a setting (naming it).
    """
    s = _settings(settings, changes)
    rules, labels = s.rules, s.labels
    _check_rows(reference, month, labels)
    h = float(s.horizon_days if s.horizon_days is not None
              else month.attrs.get("horizon_days", 0))
    if not h > 0:
        raise ValueError("pass 'horizon_days' (the rows carry no attrs['horizon_days'])")
    probability = (bool(month.attrs.get("probability", False)) if s.probability is None
                   else bool(s.probability))
    ref, cur = reference.reset_index(drop=True), month.reset_index(drop=True)
    rows = {"reference": ref, "month": cur}
    source = s.threshold_source
    if s.threshold is None:
        t = float(np.quantile(ref["score"], 0.8))
        source = "the reference's 80th percentile (none was recorded)"
    else:
        t = float(s.threshold)
    days = float(s.days) if s.days is not None else h

    # checks that need no outcome: drift, workload, stuck leads
    checks, drift = _drift_checks(ref, cur, _feature_columns(cur, s.features), rules)
    snapshots, masks = _snapshot_table(rows, t, days, labels)
    checks.append(_workload_check(snapshots[snapshots["period"] == labels[1]],
                                  s.capacity_per_day, days, rules))
    stuck_row, stuck = _stuck_check(cur, t, rules)
    checks.append(stuck_row)

    # outcome checks, with bootstrap intervals
    bins = _decile_bins(cur)
    fig = bootstrap_figures(rows, n_boot=rules.n_boot, alpha=rules.alpha, seed=s.seed,
                            horizon=h, threshold=t, probability=probability, decile_bins=bins,
                            snapshot_masks=masks)
    (ref_ok, ref_why), (cur_ok, cur_why) = _maturity(ref, h, rules), _maturity(cur, h, rules)
    mature = _Maturity(ref_ok, cur_ok, cur_why, cur_why if not cur_ok else ref_why)
    checks += _discrimination_checks(fig, mature, rules)
    checks += _calibration_checks(fig, probability, mature, rules)
    checks.append(_precision_check(fig, s.set_for, t, mature, rules))
    snapshots = _snapshot_auc(fig, snapshots, masks)
    checks.append(_decay_check(fig, snapshots, masks, h, mature, rules))

    meta = {
        "horizon_days": h, "threshold": t, "threshold_source": source,
        "set_for": s.set_for, "capacity_per_day": s.capacity_per_day, "days": days,
        "reference_label": labels[0], "month_label": labels[1],
        "reference_rows": len(ref), "month_rows": len(cur),
        "reference_leads": int(ref["lead_id"].nunique()),
        "month_leads": int(cur["lead_id"].nunique()),
        "observed_until": month.attrs.get("observed_until"), "probability": probability,
        "rules": asdict(rules), "seed": s.seed if isinstance(s.seed, int) else None,
    }
    return AuditResult(checks=pd.DataFrame(checks, columns=list(CHECK_COLUMNS)), drift=drift,
                       deciles=_decile_table(fig, bins, cur, probability, mature),
                       snapshots=snapshots, stuck=stuck, meta=meta, rows=rows)
