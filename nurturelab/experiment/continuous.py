"""Continuous and ratio metrics of an experiment: per-lead values, means and ratios of means.

:func:`lead_values` turns the ``leads`` and ``events`` tables of :mod:`nurturelab.schema` into
per-lead continuous outcomes (touches, rep touches, rep minutes, deal value) indexed like
:func:`~nurturelab.experiment.lead_table`. :func:`compare_means` compares the mean of a per-lead
value between arms (Welch's t, and the lift on the log scale by the delta method);
:func:`compare_ratios` compares a ratio of two per-lead sums whose unit of analysis is not the
lead that was randomised (touches per conversion, minutes per touch) by the delta method for a
ratio of means (Deng, Knoblich and Lu 2018, "Applying the delta method in metric analytics: a
practical guide with novel ideas", KDD). Each returns a result with one row per arm (the control
first); the ``*_rows`` functions return the same rows as plain dicts, for callers that assemble
their own tables (they skip building the result and take well under a millisecond per thousand
leads).

The row contract every comparison of this module and of :mod:`~nurturelab.experiment.adjustment`
keeps: ``n, mean, mean_low, mean_high`` for every arm, and for treatment arms ``diff, diff_low,
diff_high, lift, lift_low, lift_high, statistic, df, p_value, method`` (NaN, or None for
``method``, on the control's row). ``lift`` is the ratio of the arm's mean to the control's,
minus one; its interval is the delta-method interval of the log ratio, transformed back, so it
stays above -1 and is NaN when a mean is not positive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.checks import need_columns
from nurturelab.experiment._rows import (
    arm_codes,
    arm_moments,
    blank_comparison,
    check_alpha,
    comparison_frame,
    name_of,
    numbers,
    welch_rows,
    z_comparison,
)
from nurturelab.funnel import DEFAULT_FUNNEL, Funnel, outcomes
from nurturelab.plots import axes
from nurturelab.result import Result

__all__ = ["ArmComparison", "compare_means", "compare_means_rows", "compare_ratios",
           "compare_ratios_rows", "lead_values"]


# --------------------------------------------------------------------------------------------
# Per-lead values
# --------------------------------------------------------------------------------------------
def lead_values(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    as_of: Any = None,
    value_column: str | None = None,
    funnel: Funnel = DEFAULT_FUNNEL,
) -> pd.DataFrame:
    """Each lead's continuous outcomes as of a timestamp, to join onto
    :func:`~nurturelab.experiment.lead_table`.

    Parameters
    ----------
    leads, events : DataFrame
        Tables of the data contract (:mod:`nurturelab.schema`): ``lead_id, created_at`` and
        ``lead_id, ts, type, name``; ``rep_id`` and ``duration_min`` are read when present.
    as_of : timestamp-like, optional
        Outcomes as of this time (events after it are not counted); defaults to the latest
        timestamp in the data, as in :func:`nurturelab.funnel.outcomes`.
    value_column : str, optional
        A numeric column of ``leads`` holding the value of the deal a lead brings when it
        converts (``deal_value`` in many CRM exports); gives the ``value`` column.
    funnel : Funnel
        Stages and exit rules that say which leads converted (see
        :func:`nurturelab.funnel.outcomes`).

    Returns
    -------
    DataFrame indexed by ``lead_id``, one row per lead created by ``as_of`` (the index of
    :func:`~nurturelab.funnel.outcomes`, so it joins onto ``lead_table``):
        ``touches`` (int): outbound touch events by ``as_of``;
        ``rep_touches`` (int): those with a ``rep_id`` (only when ``events`` has ``rep_id``);
        ``rep_minutes`` (float): the sum of ``duration_min`` over the rep touches (only when
        ``events`` has ``duration_min``; a rep touch with no duration adds nothing and is
        counted in the notes);
        ``value`` (float, only with ``value_column``): the lead's value if it converted by
        ``as_of``, 0 otherwise (NaN for a converted lead whose value is missing, counted in
        the notes).
        ``attrs["as_of"]`` holds the timestamp and ``attrs["notes"]`` a list of sentences on
        what could not be computed. Ratio metrics are sums of these over leads: touches per
        conversion is ``compare_ratios(values["touches"], table["converted"], table["arm"])``.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["l1", "l2"], "deal_value": [900.0, 400.0],
    ...                       "created_at": pd.to_datetime(["2026-01-05"] * 2, utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["l1", "l1", "l2", "l1"],
    ...                        "type": ["touch", "touch", "touch", "stage"],
    ...                        "name": ["call_attempt", "email", "sms", "won"],
    ...                        "rep_id": ["r1", None, "r2", None],
    ...                        "duration_min": [4.0, None, 1.5, None],
    ...                        "ts": pd.to_datetime(["2026-01-06"] * 4, utc=True)})
    >>> lead_values(leads, events, value_column="deal_value").to_dict("index")
    {'l1': {'touches': 2, 'rep_touches': 1, 'rep_minutes': 4.0, 'value': 900.0}, \
'l2': {'touches': 1, 'rep_touches': 1, 'rep_minutes': 1.5, 'value': 0.0}}
    """
    where = "lead_values"
    need_columns(leads, ("lead_id", "created_at"), f"{where} 'leads'")
    need_columns(events, ("lead_id", "ts", "type", "name"), f"{where} 'events'")
    if value_column is not None:
        need_columns(leads, [value_column], f"{where} 'leads' (value_column)")
        dtype = leads[value_column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise TypeError(f"{where} 'value_column' {value_column!r} must hold numbers. Got "
                            f"dtype {dtype} instead.")
    out = outcomes(leads, events, funnel, as_of)
    as_of_ts = out.attrs["as_of"]
    ids = out.index
    ev = events[(events["ts"] <= as_of_ts).to_numpy()]
    touch = ev[ev["type"].astype("object").eq("touch").to_numpy()]
    pos = ids.get_indexer(touch["lead_id"])
    inside = pos >= 0
    pos = pos[inside]
    values = pd.DataFrame({"touches": np.bincount(pos, minlength=len(ids)).astype(np.int64)},
                          index=ids)
    notes: list[str] = []
    if "rep_id" in touch.columns:
        by_rep = touch["rep_id"].notna().to_numpy()[inside]
        values["rep_touches"] = np.bincount(pos[by_rep], minlength=len(ids)).astype(np.int64)
        if "duration_min" in touch.columns:
            minutes = touch["duration_min"].to_numpy(dtype=float)[inside][by_rep]
            unknown = np.isnan(minutes)
            values["rep_minutes"] = np.bincount(pos[by_rep][~unknown], weights=minutes[~unknown],
                                                minlength=len(ids))
            if unknown.any():
                notes.append(f"{int(unknown.sum()):,d} of {int(by_rep.sum()):,d} rep touches "
                             "have no duration_min and add no minutes to rep_minutes.")
        else:
            notes.append("events has no 'duration_min' column: rep_minutes is not computed "
                         "(the export does not record how long each touch took).")
    else:
        notes.append("events has no 'rep_id' column: rep_touches and rep_minutes are not "
                     "computed.")
    if value_column is not None:
        raw = leads.set_index("lead_id")[value_column].reindex(ids).to_numpy(dtype=float)
        converted = out["converted"].to_numpy(dtype=bool)
        values["value"] = np.where(converted, raw, 0.0)
        missing = int(np.isnan(values["value"]).sum())
        if missing:
            notes.append(f"{missing:,d} of {int(converted.sum()):,d} converted leads have no "
                         f"{value_column!r}: their value is NaN (fill or drop them before "
                         "comparing means).")
    values.attrs["as_of"] = as_of_ts
    values.attrs["notes"] = notes
    return values


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------
def compare_means_rows(y: Any, arm: Any, *, control: str, alpha: float = 0.05,
                       ) -> dict[str, dict[str, Any]]:
    """The rows of :func:`compare_means` as plain dicts, ``{arm: row}``, the control first."""
    where = "compare_means"
    alpha, z = check_alpha(alpha, where)
    y = numbers(y, "y", where)
    codes, arms = arm_codes(arm, len(y), control, where)
    return welch_rows(y, codes, arms, alpha, z)[0]


def compare_ratios_rows(numerator: Any, denominator: Any, arm: Any, *, control: str,
                        alpha: float = 0.05) -> dict[str, dict[str, Any]]:
    """The rows of :func:`compare_ratios` as plain dicts, ``{arm: row}``, the control first."""
    where = "compare_ratios"
    alpha, z = check_alpha(alpha, where)
    x = numbers(numerator, "numerator", where)
    y = numbers(denominator, "denominator", where)
    if len(x) != len(y):
        raise ValueError(f"{where} 'numerator' and 'denominator' must have one value per lead "
                         f"each. Got {len(x):,d} and {len(y):,d}.")
    codes, arms = arm_codes(arm, len(x), control, where)
    k = len(arms)
    n, mx, sxx = arm_moments(x, codes, k)
    _, my, syy = arm_moments(y, codes, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        sxy = np.bincount(codes, weights=(x - mx[codes]) * (y - my[codes]), minlength=k) / (n - 1)
        ratio = np.where(my != 0, mx / np.where(my != 0, my, 1), np.nan)
        # Deng et al. (2018), eq. 3: Var(X/Y) ~ (s_xx - 2 R s_xy + R^2 s_yy) / (n mu_y^2)
        var = (sxx - 2 * ratio * sxy + ratio ** 2 * syy) / (n * my ** 2)
    var = np.maximum(var, 0.0)
    rows: dict[str, dict[str, Any]] = {}
    for g, a in enumerate(arms):
        half = z * math.sqrt(var[g]) if np.isfinite(var[g]) else math.nan
        row = {"n": int(n[g]), "mean": float(ratio[g]), "mean_low": float(ratio[g]) - half,
               "mean_high": float(ratio[g]) + half, **blank_comparison(),
               "numerator": float(x[codes == g].sum()), "denominator": float(y[codes == g].sum())}
        if g:
            row.update(z_comparison(float(ratio[g]), float(var[g]), float(ratio[0]),
                                     float(var[0]), z, "delta"))
        rows[a] = row
    return rows


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class ArmComparison(Result):
    """Every treatment arm against the control on one metric (see :func:`compare_means`,
    :func:`compare_ratios`, :func:`~nurturelab.experiment.adjusted_difference` and
    :func:`~nurturelab.experiment.cuped`).

    Attributes
    ----------
    table : DataFrame
        One row per arm, the control first, with the columns of the row contract (see the
        module docstring) and the method's own (see the function that made it). Also
        :attr:`summary`.
    control : str
    alpha : float
    metric : str
        What was compared, for the header and the plot.
    kind : str
        ``"mean"``, ``"ratio"``, ``"adjusted mean"``.
    notes : list of str
        What was done to the inputs (covariates filled or dropped, ...).
    """

    table: pd.DataFrame
    control: str
    alpha: float
    metric: str = "y"
    kind: str = "mean"
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per arm (the control first): see :attr:`table`."""
        return self.table

    @property
    def arms(self) -> list[str]:
        return list(self.table.index)

    def _describe(self) -> str:
        n = int(self.table["n"].sum())
        method = self.table["method"].dropna()
        how = f" ({method.iloc[0]})" if len(method) else ""
        return (f"{self.kind} of {self.metric!r}, {len(self.table)} arms (control "
                f"{self.control!r}), {n:,d} leads, alpha {self.alpha:g}{how}")

    def _header(self) -> list[str]:
        return [repr(self), *self.notes]

    def plot(self, ax=None):
        """Each treatment arm's difference from the control with its interval; returns the
        axes."""
        ax = axes(ax, figsize=(6, 3))
        treated = self.table.iloc[1:]
        y = np.arange(len(treated))[::-1]
        diff = treated["diff"].to_numpy(dtype=float)
        lo = diff - treated["diff_low"].to_numpy(dtype=float)
        hi = treated["diff_high"].to_numpy(dtype=float) - diff
        ax.errorbar(diff, y, xerr=[lo, hi], fmt="o", color="#3a7ca5", capsize=4,
                    label=str(treated["method"].iloc[0]) if len(treated) else None)
        if "unadjusted_diff" in treated:
            u = treated["unadjusted_diff"].to_numpy(dtype=float)
            ax.errorbar(u, y - 0.2, xerr=[u - treated["unadjusted_low"].to_numpy(dtype=float),
                                          treated["unadjusted_high"].to_numpy(dtype=float) - u],
                        fmt="o", color="#999999", capsize=4, label="unadjusted")
            ax.legend(loc="best", fontsize=8)
        ax.axvline(0, color="#555555", ls=":", lw=1)
        ax.set_yticks(y, [str(a) for a in treated.index])
        ax.set_xlabel(f"difference in {self.kind} of {self.metric} from {self.control!r} "
                      f"({100 * (1 - self.alpha):g}% interval)")
        ax.set_title(f"{self.metric}: treatment minus control")
        return ax


def compare_means(y: Any, arm: Any, *, control: str, alpha: float = 0.05) -> ArmComparison:
    """Every treatment arm against the control on the mean of a per-lead value.

    For each arm its mean with the ``t`` interval (``n - 1`` degrees of freedom). For each
    treatment arm:

    * ``diff`` (the arm's mean minus the control's) with Welch's interval, ``statistic`` (Welch's
      t), ``df`` (Welch-Satterthwaite) and the two-sided ``p_value`` of that same t, so the
      interval excludes 0 exactly when ``p_value < alpha``: the numbers of
      :func:`scipy.stats.ttest_ind` with ``equal_var=False``;
    * ``lift`` (ratio of the means minus one) with the delta-method interval of the log of the
      ratio, ``log(m_t / m_c) ± z sqrt(s_t^2 / (n_t m_t^2) + s_c^2 / (n_c m_c^2))``, transformed
      back (NaN unless both means are positive).

    ``method`` is ``"welch"``. Welch's t relies on the means being near normal, which holds for
    a few hundred leads per arm even for skewed values such as deal value per lead (most leads
    bring 0); with a handful of converting leads read the interval with care.

    Parameters
    ----------
    y : array-like of float
        One value per lead (deal value per lead, rep minutes per lead, touches per lead ...);
        booleans are read as 0/1. No missing values.
    arm : array-like of str
        Each lead's arm.
    control : str
        The arm the others are compared with.
    alpha : float
        Intervals are ``1 - alpha``.

    Returns
    -------
    ArmComparison
        ``summary``: one row per arm, the control first (the row contract of the module).

    Examples
    --------
    >>> y = [0, 0, 120, 0, 300, 0, 0, 450, 80, 0, 0, 600]
    >>> arm = ["a"] * 6 + ["b"] * 6
    >>> res = compare_means(y, arm, control="a")
    >>> res.summary.loc["b", ["diff", "statistic", "df", "p_value"]].astype(float).round(3).tolist()
    [118.333, 0.987, 7.017, 0.356]
    """
    rows = compare_means_rows(y, arm, control=control, alpha=alpha)
    return ArmComparison(table=comparison_frame(rows), control=control, alpha=float(alpha),
                         metric=name_of(y, "y"), kind="mean")


def compare_ratios(numerator: Any, denominator: Any, arm: Any, *, control: str,
                   alpha: float = 0.05) -> ArmComparison:
    """Every treatment arm against the control on a ratio of two per-lead sums.

    For a metric whose unit of analysis is not the lead that was randomised (touches per
    conversion: all the arm's touches over all its conversions; rep minutes per touch; replies
    per touch), the touches or conversions of one lead are not independent of each other, and
    treating them as if they were gives intervals that are too narrow. The ratio of the arm's
    sums is a ratio of per-lead means, ``R = mean(x) / mean(y)``, and its variance follows
    from the leads by the delta method (Deng et al. 2018, eq. 3):

        ``Var(R) ≈ (s_xx - 2 R s_xy + R^2 s_yy) / (n mu_y^2)``

    with the per-lead sample variances and covariance ``s``. Each arm's ratio gets the normal
    interval ``R ± z sqrt(Var(R))`` (in ``mean``, ``mean_low``, ``mean_high``); each treatment
    arm ``diff = R_t - R_c`` with its normal interval, ``statistic`` (``z = diff / se``) and the
    two-sided ``p_value`` of that z (so interval and test agree), and ``lift = R_t / R_c - 1``
    with the delta-method interval of ``log(R_t / R_c)``. ``method`` is ``"delta"``; ``df`` is
    NaN. The rows also carry the arm's ``numerator`` and ``denominator`` sums.

    Parameters
    ----------
    numerator, denominator : array-like of float
        Per-lead amounts: for touches per conversion, each lead's touches and whether it
        converted (0/1). An arm whose denominators sum to 0 has no ratio (NaN).
    arm : array-like of str
    control : str
    alpha : float

    Returns
    -------
    ArmComparison

    Examples
    --------
    >>> touches = [3, 5, 2, 6, 4, 1, 3, 4, 2, 5]
    >>> converted = [1, 0, 1, 1, 0, 0, 1, 1, 0, 1]
    >>> arm = ["a"] * 5 + ["b"] * 5
    >>> res = compare_ratios(touches, converted, arm, control="a")
    >>> res.summary["mean"].round(3).to_dict()
    {'a': 6.667, 'b': 5.0}
    >>> res.summary.loc["b", ["diff", "diff_low", "p_value"]].astype(float).round(3).tolist()
    [-1.667, -8.467, 0.631]
    """
    rows = compare_ratios_rows(numerator, denominator, arm, control=control, alpha=alpha)
    metric = f"{name_of(numerator, 'numerator')} per {name_of(denominator, 'denominator')}"
    return ArmComparison(table=comparison_frame(rows), control=control, alpha=float(alpha),
                         metric=metric, kind="ratio")
