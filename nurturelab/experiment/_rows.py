"""Rows of the comparisons of per-lead values (private to the package): the argument checks,
per-arm moments, Welch's t and the normal comparison of two estimates, and the table they make.

Shared by :mod:`~nurturelab.experiment.continuous` and :mod:`~nurturelab.experiment.adjustment`.
Fast on purpose (numpy and scipy.special, no pandas in the arithmetic): ``analyze`` calls them
once per metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from nurturelab.experiment._args import probability

__all__ = ["COMPARISON_KEYS", "ROW_COLUMNS", "arm_codes", "arm_moments", "blank_comparison",
           "check_alpha", "comparison_frame", "log_lift", "name_of", "numbers", "welch",
           "welch_rows", "z_comparison"]

ROW_COLUMNS = ("n", "mean", "mean_low", "mean_high", "diff", "diff_low", "diff_high", "lift",
               "lift_low", "lift_high", "statistic", "df", "p_value", "method")
"""The columns every comparison row has, in this order (extra columns follow them)."""

COMPARISON_KEYS = ROW_COLUMNS[4:]



# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def numbers(values: Any, name: str, where: str) -> np.ndarray:
    """A one-dimensional array of finite floats (booleans become 0/1)."""
    try:
        arr = np.asarray(values.to_numpy(dtype=float, na_value=np.nan)
                         if isinstance(values, pd.Series) else values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{where} '{name}' must hold numbers, one per lead. Got values such as "
                        f"{list(pd.Series(values).iloc[:3])!r}.") from None
    if arr.ndim != 1:
        raise ValueError(f"{where} '{name}' must be one-dimensional. Got shape {arr.shape}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{where} '{name}' has {int(bad.sum()):,d} missing or infinite values "
                         f"(of {len(arr):,d}); fill or drop those leads first.")
    return arr


def arm_codes(arm: Any, n: int, control: Any, where: str) -> tuple[np.ndarray, list[str]]:
    """Each lead's arm as a code into the arm names, the control first, the others sorted."""
    values = arm.to_numpy(dtype=object) if isinstance(arm, pd.Series) else np.asarray(
        arm, dtype=object)
    if values.ndim != 1 or len(values) != n:
        raise ValueError(f"{where} 'arm' must hold one arm per lead ({n:,d}). Got "
                         f"{len(values):,d} instead.")
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"{where} 'arm' has {int((codes < 0).sum()):,d} missing values; "
                         "drop the leads without an arm first.")
    names = [str(u) for u in uniques]
    observed = sorted(set(names))
    if control not in observed:
        raise ValueError(f"{where} 'control' must be one of the arms {observed}. Got "
                         f"{control!r} instead.")
    if len(observed) < 2:
        raise ValueError(f"{where} needs at least two arms. Got {observed}.")
    arms = [control] + [a for a in observed if a != control]
    recode = np.array([arms.index(name) for name in names], dtype=np.intp)
    return recode[codes], arms


def check_alpha(alpha: Any, where: str) -> tuple[float, float]:
    alpha = probability(alpha, "alpha", where)
    return alpha, float(-special.ndtri(alpha / 2))



# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------
def blank_comparison() -> dict[str, Any]:
    return {k: (None if k == "method" else math.nan) for k in COMPARISON_KEYS}


def log_lift(m_t: float, v_t: float, m_c: float, v_c: float, z: float) -> tuple[float, ...]:
    """``m_t / m_c - 1`` with the delta-method interval of ``log(m_t / m_c)`` (``v`` are the
    variances of the two independent estimates); NaN interval unless both are positive."""
    lift = m_t / m_c - 1 if m_c != 0 else math.nan
    if not (m_t > 0 and m_c > 0):
        return lift, math.nan, math.nan
    log_ratio = math.log(m_t / m_c)
    se = math.sqrt(v_t / m_t ** 2 + v_c / m_c ** 2)
    with np.errstate(over="ignore"):  # a mean near 0 can put the upper end past any float
        lo, hi = np.expm1([log_ratio - z * se, log_ratio + z * se])
    return lift, float(lo), float(hi)


def z_comparison(m_t: float, v_t: float, m_c: float, v_c: float, z: float,
                  method: str) -> dict[str, Any]:
    """Difference of two independent, asymptotically normal estimates: normal interval, z, p."""
    diff = m_t - m_c
    se = math.sqrt(v_t + v_c)
    statistic = diff / se if se > 0 else math.nan
    p = float(2 * special.ndtr(-abs(statistic))) if se > 0 else math.nan
    lift, lo, hi = log_lift(m_t, v_t, m_c, v_c, z)
    return {"diff": diff, "diff_low": diff - z * se, "diff_high": diff + z * se, "lift": lift,
            "lift_low": lo, "lift_high": hi, "statistic": statistic, "df": math.nan,
            "p_value": p, "method": method}


def arm_moments(y: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Per arm: size, mean and sample variance (ddof 1; NaN below two leads)."""
    n = np.bincount(codes, minlength=k).astype(float)
    mean = np.bincount(codes, weights=y, minlength=k) / n
    dev = y - mean[codes]
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.bincount(codes, weights=dev * dev, minlength=k) / (n - 1)
    var[n < 2] = np.nan
    return n, mean, var


def welch_rows(y: np.ndarray, codes: np.ndarray, arms: list[str], alpha: float, z: float,
                method: str = "welch") -> tuple[dict[str, dict[str, Any]], np.ndarray]:
    """Rows of :func:`compare_means`, and each arm's variance of its mean."""
    n, mean, var = arm_moments(y, codes, len(arms))
    v_mean = var / n
    rows: dict[str, dict[str, Any]] = {}
    for g, a in enumerate(arms):
        half = float(-special.stdtrit(n[g] - 1, alpha / 2) * math.sqrt(v_mean[g])) \
            if n[g] > 1 else math.nan
        row = {"n": int(n[g]), "mean": float(mean[g]), "mean_low": float(mean[g]) - half,
               "mean_high": float(mean[g]) + half, **blank_comparison()}
        if g:
            row.update(welch(mean[g], v_mean[g], n[g], mean[0], v_mean[0], n[0], alpha, z,
                              method))
        rows[a] = row
    return rows, v_mean


def welch(m_t: float, v_t: float, n_t: float, m_c: float, v_c: float, n_c: float, alpha: float,
           z: float, method: str) -> dict[str, Any]:
    """Welch's t for two means whose estimates have variances ``v_t``, ``v_c``."""
    out = z_comparison(float(m_t), float(v_t), float(m_c), float(v_c), z, method)
    se2 = v_t + v_c
    if not se2 > 0:  # no variance in either arm (or an arm of one lead): no test to make
        out.update(diff_low=math.nan, diff_high=math.nan, df=math.nan)
        return out
    df = se2 ** 2 / (v_t ** 2 / (n_t - 1) + v_c ** 2 / (n_c - 1))
    half = float(-special.stdtrit(df, alpha / 2)) * math.sqrt(se2)
    out.update(diff_low=out["diff"] - half, diff_high=out["diff"] + half, df=float(df),
               p_value=float(2 * special.stdtr(df, -abs(out["statistic"]))))
    return out



def comparison_frame(rows: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(dict(rows), orient="index")
    table.index.name = "arm"
    extra = [c for c in table.columns if c not in ROW_COLUMNS]
    table = table[[*ROW_COLUMNS, *extra]]
    table["method"] = table["method"].astype("object").where(table["method"].notna(), None)
    return table



def name_of(values: Any, default: str) -> str:
    name = getattr(values, "name", None)
    return str(name) if name is not None else default
