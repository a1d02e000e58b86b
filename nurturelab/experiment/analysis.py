"""The analysis of an experiment: one row per lead, then every treatment arm against the control.

:func:`lead_table` turns the ``leads`` and ``events`` tables of :mod:`nurturelab.schema` into one
row per lead with its arm and outcomes; :func:`analyze` compares every treatment arm with the
control on every metric (the Miettinen-Nurminen score test with the intervals that invert it,
Holm across arms with intervals at Holm's levels, a decision against a practical threshold, the
Bayesian probability to beat control; with three or more arms the chi-square test of
homogeneity; Kaplan-Meier time to conversion) and checks the sample ratio
(:func:`~nurturelab.experiment.srm_check`). The result is an :class:`ExperimentResult`.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from statsmodels.stats.proportion import proportion_confint

from nurturelab.checks import is_number, need_columns
from nurturelab.competing import incidence_by_arm, lead_endings
from nurturelab.experiment._args import bool_column, probability, whole_number
from nurturelab.experiment._rows import numbers
from nurturelab.experiment.adjustment import adjusted_difference_rows
from nurturelab.experiment.continuous import compare_means_rows, compare_ratios_rows
from nurturelab.experiment.statistics import (
    OmnibusResult,
    SRMResult,
    compare_proportions,
    decide,
    holm,
    holm_levels,
    omnibus,
    prob_beat_control,
    score_interval,
    srm_check,
)
from nurturelab.funnel import DEFAULT_FUNNEL, POSITIVE_RESPONSES, Funnel, outcomes
from nurturelab.plots import axes
from nurturelab.result import Result, format_table

__all__ = ["METRICS", "SURVIVAL_HORIZONS", "ExperimentResult", "analyze", "lead_table"]

METRICS = ("contacted", "replied", "qualified", "converted")
"""The per-lead outcomes :func:`lead_table` computes and :func:`analyze` compares by default."""

SURVIVAL_HORIZONS = (30, 60, 90)
"""Days at which :func:`analyze` reads the Kaplan-Meier cumulative conversion."""

_COMPARISON_COLUMNS = ("diff", "diff_low", "diff_high", "diff_low_holm", "diff_high_holm",
                       "lift", "lift_low", "lift_high", "statistic", "p_value", "p_holm",
                       "method", "significant", "prob_beat_control", "decision")


# --------------------------------------------------------------------------------------------
# One row per lead
# --------------------------------------------------------------------------------------------
def lead_table(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    arm_column: str = "arm",
    funnel: Funnel = DEFAULT_FUNNEL,
    as_of: Any = None,
) -> pd.DataFrame:
    """Each lead's arm and outcomes as of a timestamp: the table :func:`analyze` reads.

    Parameters
    ----------
    leads, events : DataFrame
        Tables of the data contract (:mod:`nurturelab.schema`).
    arm_column : str
        Column holding the arm. Read from ``leads`` when it has that column, otherwise from the
        first non-null value (in time order) among the lead's ``events`` (all of them: the
        assignment is not an outcome, so events after ``as_of`` still tell it). Leads seen in
        more than one arm keep the first and are counted in a warning.
    funnel : Funnel
        Stages and exit rules (see :func:`nurturelab.funnel.outcomes`).
    as_of : timestamp-like, optional
        Outcomes as of this time; defaults to the latest timestamp in the data.

    Returns
    -------
    DataFrame indexed by ``lead_id``, one row per lead created by ``as_of`` that has an arm:
        ``arm`` (str); ``contacted`` (reached the second stage), ``replied`` (any ``reply`` or
        ``connect`` response), ``qualified`` (reached the third stage), ``converted`` (bools);
        ``duration_days`` and ``censored`` (time to conversion or to ``as_of``); ``ending``
        (``won``, ``lost``, ``opted_out``, ``recycled`` or ``open``, from
        :func:`nurturelab.competing.lead_endings` without the gone-dark rule) and
        ``ended_days`` (time to that ending, or to ``as_of`` while open).
        Leads without an arm are dropped, with a warning that says how many.

    Raises
    ------
    KeyError
        If neither ``leads`` nor ``events`` has ``arm_column``.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["l1", "l2"], "source": "web", "arm": ["a", "b"],
    ...                       "created_at": pd.to_datetime(["2026-01-05"] * 2, utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["l1"], "type": ["response"], "name": ["reply"],
    ...                        "ts": pd.to_datetime(["2026-01-06"], utc=True)})
    >>> table = lead_table(leads, events)
    >>> table["arm"].to_dict(), table["replied"].to_dict()
    ({'l1': 'a', 'l2': 'b'}, {'l1': True, 'l2': False})
    """
    need_columns(leads, ("lead_id", "created_at"), "lead_table 'leads'")
    need_columns(events, ("lead_id", "ts", "type", "name"), "lead_table 'events'")
    if arm_column in leads.columns:
        arm_by_lead = leads.set_index("lead_id")[arm_column]
    elif arm_column in events.columns:
        arm_by_lead = _arm_from_events(events, arm_column)
    else:
        raise KeyError(
            f"lead_table: neither 'leads' nor 'events' has the arm column {arm_column!r}. "
            f"leads has {list(leads.columns)}, events has {list(events.columns)}; pass "
            "arm_column='<name>' if the arm is stored under another name."
        )
    out = outcomes(leads, events, funnel, as_of)
    ev = events[events["ts"] <= out.attrs["as_of"]]
    replied_ids = ev.loc[ev["type"].astype("object").eq("response")
                         & ev["name"].astype("object").isin(POSITIVE_RESPONSES), "lead_id"]
    arm = arm_by_lead.reindex(out.index)
    arm = arm.astype("object").where(arm.notna(), None)
    table = pd.DataFrame(
        {
            "arm": arm.map(lambda a: None if a is None else str(a)),
            "contacted": out["stage_index"].ge(1).to_numpy(),
            "replied": out.index.isin(replied_ids),
            "qualified": out["stage_index"].ge(2).to_numpy(),
            "converted": out["converted"].to_numpy(dtype=bool),
            "duration_days": out["duration_days"].to_numpy(dtype=float),
            "censored": out["censored"].to_numpy(dtype=bool),
        },
        index=out.index,
    )
    # how each lead ended (won, lost, opted out, recycled; open otherwise), for the competing
    # outcomes of analyze's time to conversion. Going dark is not an ending here: a silent
    # lead may still answer.
    ends = lead_endings(leads, events, funnel=funnel, as_of=out.attrs["as_of"],
                        dark_days=None).reindex(out.index)
    table["ending"] = ends["ending"].astype("object").to_numpy()
    table["ended_days"] = ends["duration_days"].to_numpy(dtype=float)
    missing = int(table["arm"].isna().sum())
    if missing:
        warnings.warn(
            f"lead_table: {missing:,d} of {len(table):,d} leads have no arm in {arm_column!r} "
            "and were dropped from the table",
            UserWarning,
            stacklevel=2,
        )
        table = table[table["arm"].notna()]
    table.attrs["as_of"] = out.attrs["as_of"]
    return table


def _arm_from_events(events: pd.DataFrame, arm_column: str) -> pd.Series:
    """Each lead's first non-null arm in time order; warns about leads seen in several arms."""
    ev = events.loc[events[arm_column].notna(), ["lead_id", "ts", arm_column]]
    ev = ev.sort_values("ts", kind="stable")
    arms = ev[arm_column].astype(str)
    several = arms.groupby(ev["lead_id"]).nunique()
    crossed = int((several > 1).sum())
    if crossed:
        warnings.warn(
            f"lead_table: {crossed:,d} leads carry more than one arm in events[{arm_column!r}]; "
            "each keeps its first. Leads that switch arms contaminate the comparison.",
            UserWarning,
            stacklevel=3,
        )
    return arms.groupby(ev["lead_id"]).first()


# --------------------------------------------------------------------------------------------
# The analysis of an experiment
# --------------------------------------------------------------------------------------------
def _wrap(text: str, width: int = 100, indent: str = "") -> str:
    return "\n".join(textwrap.fill(line, width, initial_indent=indent,
                                    subsequent_indent=indent + ("  " if indent else ""))
                      for line in text.splitlines())


def _validity_note(result_arms: int, srm: SRMResult, has_survival: bool,
                   thresholds: Mapping[str, float] | None = None,
                   covariates: Sequence[str] = (), has_values: bool = False,
                   competing: bool = False) -> str:
    lines = [
        "Fixed-horizon statistics: the p-values and intervals above are valid only for one "
        "analysis at the sample size planned in advance (see sample_size). Looking at them "
        "every week and stopping when one dips below alpha inflates false positives several "
        "times over (peeking); for weekly looks use monitor(), whose always-valid p-values and "
        "confidence sequences may be read at every look.",
    ]
    if result_arms > 2:
        lines.append(
            f"p_holm corrects for the {result_arms - 1} treatment arms within each metric "
            "(Holm), and diff_low_holm/diff_high_holm are the intervals at the level Holm "
            "tested each arm at, so an arm is significant exactly when its Holm interval "
            "excludes 0; the decisions use those intervals. Read the omnibus test first: it "
            "asks whether any arm differs at all. The metrics are not corrected against each "
            "other, so name one primary metric before the test and read the others as secondary."
        )
    else:
        lines.append("The metrics are not corrected against each other: name one primary "
                     "metric before the test and read the others as secondary.")
    lines.append("prob_beat_control is a Bayesian description (uniform prior), not a test.")
    if covariates:
        lines.append(
            f"The differences are adjusted for {', '.join(covariates)} (Lin's regression "
            "adjustment, HC2 errors): valid only if these were fixed before assignment; "
            "variance_reduction says how much narrower the adjustment made the interval's "
            "square, and unadjusted_diff is the plain difference for comparison."
        )
    if has_values:
        lines.append("Means are compared by Welch's t (adjusted: by regression), ratios of "
                     "sums by the delta method; both need enough leads per arm for the normal "
                     "approximation, and a few very large values (deals) widen them.")
    if not thresholds:
        lines.append("No practical threshold was given: the decisions rest on significance "
                     "alone, and a significant difference may be too small to matter. Pass "
                     "threshold= (the smallest difference that would matter, e.g. 0.005 for "
                     "half a point) to decide against it.")
    if has_survival and competing:
        lines.append(
            "Time to conversion is the cumulative incidence of a win with lost, opted-out and "
            "recycled leads as competing endings (Aalen-Johansen): a lead that opted out will "
            "not convert, so it is not counted as censored; only open leads are. The log-rank "
            "test compares the arms' cause-specific hazards of winning. Recent leads have had "
            "little time to end, so read the 60/90-day columns with care."
        )
    elif has_survival:
        lines.append(
            "Time to conversion counts leads that have not converted yet as censored, opted-out "
            "and lost ones included (the table has no 'ending' column: lead_table gives one); "
            "recent leads have had little time to convert, so read the 60/90-day columns with "
            "care."
        )
    if srm.mismatch:
        lines.append(srm.message)
    return "\n".join(lines)


@dataclass(repr=False)
class ExperimentResult(Result):
    """The analysis of one experiment (see :func:`analyze`).

    Attributes
    ----------
    table : DataFrame
        One row per (metric, arm): ``n, successes, rate, rate_low, rate_high`` (Wilson) and, for
        treatment arms, ``diff, diff_low, diff_high`` (score interval), ``diff_low_holm,
        diff_high_holm`` (the score interval at the level Holm tested the arm at),
        ``lift, lift_low, lift_high``, ``statistic`` (the score test's z), ``p_value``,
        ``p_holm``, ``method`` (``"score"``), ``significant`` (``p_holm < alpha``),
        ``prob_beat_control`` and ``decision`` (:func:`decide`, from the Holm interval and the
        metric's threshold). Also :attr:`summary`.
    srm : SRMResult
    survival : DataFrame
        Per arm: ``n, events, median_days`` (Kaplan-Meier median time to conversion; ``inf``
        while fewer than half the arm has converted) and ``converted_30d``, ``converted_60d``,
        ``converted_90d`` (``1 - S(t)``; NaN beyond the arm's longest follow-up). Empty when the
        table has no ``duration_days``/``censored``. ``attrs["logrank_p"]`` holds the log-rank
        p-value too.
    control : str
    alpha : float
    validity : str
        When the numbers may be trusted, in plain words.
    logrank_p : float
        Log-rank test across all arms (NaN without survival columns).
    km : dict of str -> lifelines.KaplanMeierFitter
        The fitted curves, for :meth:`plot_survival`.
    omnibus : dict of str -> OmnibusResult
        Per metric, the chi-square test of homogeneity across all arms (three or more arms;
        empty with two, where it would repeat the comparison).
    thresholds : dict of str -> float
        The practical threshold of each metric that has one (empty: decisions on significance
        alone).
    kinds : dict of str -> str
        Per metric ``"proportion"``, ``"mean"`` (a ``values`` column) or ``"ratio"``.
    covariates : list of str
        The pre-assignment columns the comparisons were adjusted for (empty: unadjusted).
    incidence : nurturelab.competing.ArmIncidence or None
        With an ``ending`` column: the Aalen-Johansen incidence of a win per arm, the other
        endings competing, and its tests (then :attr:`survival` holds its figures and
        :attr:`km` is empty).
    """

    table: pd.DataFrame
    srm: SRMResult
    survival: pd.DataFrame
    control: str
    alpha: float
    validity: str
    logrank_p: float = math.nan
    km: dict[str, Any] = field(default_factory=dict)
    omnibus: dict[str, OmnibusResult] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    covariates: list[str] = field(default_factory=list)
    incidence: Any = None

    @property
    def summary(self) -> pd.DataFrame:
        """One row per (metric, arm): the rates with their intervals and, for treatment arms,
        the comparison with the control (see :attr:`table`)."""
        return self.table

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(self.table.index.get_level_values("arm")))

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(self.table.index.get_level_values("metric")))

    def to_frame(self) -> pd.DataFrame:
        """The summary as a flat table (``metric`` and ``arm`` as columns)."""
        return self.table.reset_index()

    def _describe(self) -> str:
        n = sum(self.srm.counts.values())
        srm = "SAMPLE RATIO MISMATCH" if self.srm.mismatch else "sample ratio ok"
        return (f"{len(self.arms)} arms (control {self.control!r}), {n:,d} leads, metrics "
                f"{self.metrics}, alpha {self.alpha:g}; {srm}")

    def _header(self) -> list[str]:
        n = sum(self.srm.counts.values())
        treated = ", ".join(repr(a) for a in self.arms if a != self.control)
        return [repr(self), f"Experiment: control {self.control!r} against {treated} — "
                            f"{n:,d} leads, alpha {self.alpha:g}"]

    def decision_table(self) -> pd.DataFrame:
        """The summary as formatted text, one row per (metric, arm), with a decision column."""
        rows = [self._decision_row(metric, arm, r) for (metric, arm), r in self.table.iterrows()]
        table = pd.DataFrame(rows).set_index(["metric", "arm"])
        mixed = any(k != "proportion" for k in self.kinds.values())
        return table.rename(columns={
            "rate": f"{'rate or mean' if mixed else 'rate'} [{100 * (1 - self.alpha):g}% CI]",
            "diff (pts)": "diff (pts or units)" if mixed else "diff (pts)",
            "Holm CI (pts)": "Holm CI" if mixed else "Holm CI (pts)"})

    def _decision_row(self, metric: str, arm: str, r: pd.Series) -> dict[str, str]:
        def pct(v: float) -> str:
            return "-" if pd.isna(v) else f"{100 * v:.2f}%"

        def pts(v: float) -> str:
            return "-" if pd.isna(v) else f"{100 * v:+.2f}"

        def interval(name: str, fmt) -> str:
            return f"{fmt(r[name])} [{fmt(r[name + '_low'])}, {fmt(r[name + '_high'])}]"

        def num(v: float) -> str:
            return "-" if pd.isna(v) else f"{v:,.4g}"

        def signed(v: float) -> str:
            return "-" if pd.isna(v) else f"{v:+,.4g}"

        treated = arm != self.control
        proportion = self.kinds.get(metric, "proportion") == "proportion"
        level, change = (pct, pts) if proportion else (num, signed)
        row = {
            "metric": metric,
            "arm": arm,
            "n": f"{int(r['n']):,d}",
            "rate": interval("rate" if proportion else "mean", level),
            "diff (pts)": interval("diff", change) if treated else "",
        }
        if len(self.arms) > 2:
            row["Holm CI (pts)"] = (f"[{change(r['diff_low_holm'])}, "
                                    f"{change(r['diff_high_holm'])}]" if treated else "")
        row.update({
            "lift (%)": interval("lift", pts) if treated else "",
            "z": f"{r['statistic']:+.2f}" if treated else "",
            "p": f"{r['p_value']:.3g}" if treated else "",
            "p_holm": f"{r['p_holm']:.3g}" if treated else "",
            "P(beat)": (f"{r['prob_beat_control']:.3f}" if treated and proportion
                        and pd.notna(r.get("prob_beat_control")) else ""),
            "decision": r["decision"] if treated else "control",
        })
        if self.covariates:
            row["variance cut"] = (f"{100 * r['variance_reduction']:.1f}%"
                                   if treated and pd.notna(r.get("variance_reduction"))
                                   else "")
        return row

    def to_text(self, decimals: int = 3) -> str:
        """The header, the decision table, the sample ratio check, time to conversion (with
        ``decimals`` places) and the validity note, as :meth:`print_summary` prints them."""
        if self.thresholds:
            given = ", ".join(f"{m} {t:g}" for m, t in self.thresholds.items())
            decided = f"Decisions against the practical thresholds: {given}."
        else:
            decided = ("No practical threshold was given: decisions on significance only.")
        parts = [*self._header(), "", self.decision_table().to_string(), decided]
        if self.omnibus:
            parts += ["", "Are all arms alike? (chi-square test of homogeneity)"]
            parts += [_wrap(o.message, indent="  ") for o in self.omnibus.values()]
        parts += ["", _wrap(self.srm.message)]
        if len(self.survival):
            how = ("Aalen-Johansen, other endings competing" if self.incidence is not None
                   else "Kaplan-Meier")
            parts += ["", f"Time to conversion ({how}):",
                      format_table(self.survival, decimals),
                      f"log-rank p = {self.logrank_p:.3g}"]
        parts += ["", "Validity:", _wrap(self.validity, indent="  ")]
        return "\n".join(parts)

    def plot(self, ax=None, metric: str = "converted"):
        """Rate of ``metric`` per arm with its Wilson interval; returns the axes."""
        if metric not in self.metrics:
            raise ValueError(f"ExperimentResult.plot 'metric' must be one of {self.metrics}. "
                             f"Got {metric!r} instead.")
        ax = axes(ax, figsize=(6, 3.5))
        s = self.table.xs(metric, level="metric")
        col = "rate" if self.kinds.get(metric, "proportion") == "proportion" else "mean"
        y = np.arange(len(s))[::-1]
        rate = s[col].to_numpy(dtype=float)
        err = [rate - s[f"{col}_low"].to_numpy(dtype=float),
               s[f"{col}_high"].to_numpy(dtype=float) - rate]
        colors = ["#555555" if a == self.control else "#3a7ca5" for a in s.index]
        for yi, r, lo, hi, c in zip(y, rate, err[0], err[1], colors, strict=True):
            ax.errorbar(r, yi, xerr=[[lo], [hi]], fmt="o", color=c, capsize=4)
        ax.axvline(s.loc[self.control, col], color="#555555", ls=":", lw=1)
        ax.set_yticks(y, [f"{a} (control)" if a == self.control else str(a) for a in s.index])
        ax.set_xlabel(f"{metric} rate ({100 * (1 - self.alpha):g}% Wilson interval)"
                      if col == "rate" else
                      f"{metric} ({100 * (1 - self.alpha):g}% interval)")
        ax.set_title(f"{metric.capitalize()} by arm")
        return ax

    def plot_survival(self, ax=None):
        """Cumulative conversion per arm (Aalen-Johansen with competing endings, or
        Kaplan-Meier ``1 - S(t)``); returns the axes."""
        if self.incidence is not None:
            ax = self.incidence.plot(ax=ax)
            ax.set_title(f"Wins, other endings competing (log-rank p = {self.logrank_p:.3g})")
            return ax
        if not self.km:
            raise ValueError("ExperimentResult.plot_survival needs the 'duration_days' and "
                             "'censored' columns in the analysed table; they were absent.")
        ax = axes(ax, figsize=(6, 4))
        for arm, kmf in self.km.items():
            kmf.plot_cumulative_density(ax=ax, label=str(arm), ci_alpha=0.15)
        ax.set_xlabel("days since the lead was created")
        ax.set_ylabel("converted (Kaplan-Meier)")
        ax.set_title(f"Time to conversion (log-rank p = {self.logrank_p:.3g})")
        return ax


def analyze(
    table: pd.DataFrame,
    *,
    control: str,
    metrics: Sequence[str] = METRICS,
    alpha: float = 0.05,
    expected_share: Mapping[str, float] | None = None,
    threshold: float | Mapping[str, float] | None = None,
    seed: int = 0,
    values: Sequence[str] = (),
    ratios: Mapping[str, tuple[str, str]] | None = None,
    covariates: Sequence[str] | None = None,
) -> ExperimentResult:
    """Compare every treatment arm with the control on every metric.

    Parameters
    ----------
    table : DataFrame
        One row per lead with ``arm`` and one boolean column per metric, as from
        :func:`lead_table`. With ``duration_days`` and ``censored`` the time to conversion is
        compared too (Kaplan-Meier per arm, log-rank test across arms); without them that part
        is skipped. Rows with no arm are dropped with a warning.
    control : str
        The arm the others are compared with.
    metrics : sequence of str
        Metric columns, :data:`METRICS` by default.
    alpha : float
        Significance level; intervals are ``1 - alpha``.
    expected_share : mapping arm -> float, optional
        Planned shares for the sample ratio check; equal by default. An arm planned but absent
        from ``table`` counts as having received no leads.
    threshold : float or mapping metric -> float, optional
        The smallest difference that would matter in practice, on the metric's scale (0.005:
        half a point of a rate; 50 for a deal value per lead in currency units),
        for every metric or per metric. Without one, decisions rest on significance alone.
    seed : int
        Seed of the omnibus test's Monte Carlo p-value (used only when an expected count is
        below 5).
    values : sequence of str
        Columns of per-lead numbers (deal value per lead, rep minutes per lead, as from
        :func:`~nurturelab.experiment.lead_values`), compared by their means: Welch's t
        (:func:`~nurturelab.experiment.compare_means`) for the difference, its interval and
        p-value, and the delta method for the lift.
    ratios : mapping name -> (numerator, denominator), optional
        Ratio metrics whose unit is not the lead (touches per conversion:
        ``{"touches_per_conversion": ("touches", "converted")}``): the ratio of the arm's sums,
        compared by the delta method (:func:`~nurturelab.experiment.compare_ratios`).
    covariates : sequence of str, optional
        Columns fixed before assignment (score at assignment, source, intent, fit). The
        proportions and the ``values`` are then compared by Lin's regression adjustment with
        HC2 errors (:func:`~nurturelab.experiment.adjusted_difference`): the same difference
        in expectation, with a narrower interval when the covariates predict the outcome.
        ``unadjusted_diff`` (with its interval) and ``variance_reduction`` (1 - the adjusted
        variance over the unadjusted one) are kept beside it. Ratio metrics are not adjusted.
        A column measured after assignment (an outcome) must never be one: it biases the
        estimate.

    Returns
    -------
    ExperimentResult
        Per metric and treatment arm: :func:`compare_proportions` (score test and intervals),
        Holm's correction across the treatment arms of that metric (``p_holm``,
        ``significant`` when ``p_holm < alpha``, and the score interval at the level Holm
        tested the arm at, :func:`holm_levels`), :func:`prob_beat_control` and the decision
        (:func:`decide` on the Holm interval). With three or more arms, :func:`omnibus` per
        proportion. Value and ratio metrics get the same columns, their estimate in
        ``mean, mean_low, mean_high`` instead of the rate's, the Holm interval from the same
        t or z statistic, and no ``prob_beat_control``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> table = pd.DataFrame({"arm": np.repeat(["a", "b"], 2000),
    ...                       "converted": rng.random(4000) < np.repeat([0.10, 0.14], 2000)})
    >>> res = analyze(table, control="a", metrics=["converted"], threshold=0.01)
    >>> row = res.summary.loc[("converted", "b")]
    >>> int(row["n"]), bool(row["significant"]), row["decision"]
    (2000, True, 'better: higher by at least 0.01')
    """
    where = "analyze"
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    values = [values] if isinstance(values, str) else list(values)
    covariates = ([covariates] if isinstance(covariates, str) else list(covariates or []))
    ratios = _ratio_specs(ratios, where)
    if not (metrics or values or ratios):
        raise ValueError(f"{where} 'metrics' must name at least one metric column.")
    names = [*metrics, *values, *ratios]
    repeated = sorted({m for m in names if names.count(m) > 1})
    if repeated:
        raise ValueError(f"{where}: each metric may be named once; repeated: {repeated}")
    used = [c for pair in ratios.values() for c in pair]
    need_columns(table, list(dict.fromkeys(["arm", *metrics, *values, *used, *covariates])),
                 f"{where} 'table'")
    alpha = probability(alpha, "alpha", where)
    seed = whole_number(seed, "seed", where)
    thresholds = _thresholds(threshold, names, where)
    no_arm = table["arm"].isna()
    if no_arm.any():
        warnings.warn(f"analyze: {int(no_arm.sum()):,d} rows have no arm and were left out",
                      UserWarning, stacklevel=2)
        table = table[~no_arm]
    arm_col = table["arm"].astype(str)
    codes, observed = pd.factorize(arm_col, sort=True)
    observed = list(observed)
    if control not in observed:
        raise ValueError(f"{where} 'control' must be one of the arms {observed}. Got "
                         f"{control!r} instead.")
    if len(observed) < 2:
        raise ValueError(f"{where} needs at least two arms in the table. Got {observed}.")
    arms = [control] + [a for a in observed if a != control]
    # codes in the order of `arms` (the control first), for counting with bincount
    codes = np.array([arms.index(a) for a in observed])[codes]
    n = np.bincount(codes, minlength=len(arms))

    planned = list(map(str, expected_share)) if expected_share is not None else []
    srm_arms = arms + [a for a in planned if a not in arms]
    counts = dict(zip(arms, n.tolist(), strict=True))
    srm = srm_check({a: int(counts.get(a, 0)) for a in srm_arms}, expected_share)

    labels = arm_col.to_numpy()
    cov = table[covariates] if covariates else None
    rows, tests, kinds = [], {}, {}
    for metric in metrics:
        hit = bool_column(table, metric, where)
        x = np.bincount(codes, weights=hit, minlength=len(arms)).astype(np.int64)
        block = _proportion_rows(x, n, arms, metric, alpha)
        if cov is not None:
            _adjust(block, adjusted_difference_rows(hit.astype(float), labels, cov,
                                                    control=control, alpha=alpha))
        rows += _holm_and_decide(block, alpha, thresholds.get(metric), x, n)
        kinds[metric] = "proportion"
        if len(arms) > 2:
            tests[metric] = omnibus(table, metric, alpha=alpha, seed=seed)
    for metric in values:
        y = numbers(table[metric], metric, where)
        got = (compare_means_rows(y, labels, control=control, alpha=alpha) if cov is None
               else adjusted_difference_rows(y, labels, cov, control=control, alpha=alpha))
        rows += _holm_and_decide(_value_rows(got, arms, metric), alpha,
                                 thresholds.get(metric))
        kinds[metric] = "mean"
    for metric, (num, den) in ratios.items():
        got = compare_ratios_rows(numbers(table[num], num, where),
                                  numbers(table[den], den, where), labels, control=control,
                                  alpha=alpha)
        rows += _holm_and_decide(_value_rows(got, arms, metric), alpha,
                                 thresholds.get(metric))
        kinds[metric] = "ratio"
    if {"ending", "ended_days"} <= set(table.columns):
        survival, logrank_p, incidence = _incidence(table, arm_col, arms, alpha)
        km: dict[str, Any] = {}
    else:
        (survival, logrank_p, km), incidence = _survival(table, arm_col, arms), None
    validity = _validity_note(len(arms), srm, bool(km) or incidence is not None, thresholds,
                              covariates, any(k != "proportion" for k in kinds.values()),
                              competing=incidence is not None)
    return ExperimentResult(table=_comparison_frame(rows), srm=srm, survival=survival,
                            control=control, alpha=alpha, validity=validity,
                            logrank_p=logrank_p, km=km, omnibus=tests, thresholds=thresholds,
                            kinds=kinds, covariates=covariates, incidence=incidence)


def _ratio_specs(ratios: Any, where: str) -> dict[str, tuple[str, str]]:
    """``ratios`` as ``{name: (numerator, denominator)}``, checked."""
    if ratios is None:
        return {}
    if not isinstance(ratios, Mapping):
        raise TypeError(f"{where} 'ratios' must map a metric name to (numerator, denominator) "
                        f"columns, e.g. {{'touches_per_conversion': ('touches', 'converted')}}. "
                        f"Got {ratios!r} instead.")
    out = {}
    for name, pair in ratios.items():
        ok = (isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2
              and all(isinstance(c, str) for c in pair))
        if not ok:
            raise ValueError(f"{where} 'ratios[{name!r}]' must be two column names "
                             f"(numerator, denominator). Got {pair!r} instead.")
        out[str(name)] = (pair[0], pair[1])
    return out


def _thresholds(threshold: Any, metrics: list[str], where: str) -> dict[str, float]:
    """``threshold`` (None, one number, or a mapping metric -> number) as a dict per metric."""
    def positive_number(v: Any, name: str) -> float:
        if not (is_number(v) and math.isfinite(float(v)) and float(v) > 0):
            raise ValueError(f"{where} '{name}' must be a positive number (a difference on the "
                             f"metric's scale that would matter, e.g. 0.005). Got {v!r} instead.")
        return float(v)

    if threshold is None:
        return {}
    if isinstance(threshold, Mapping):
        unknown = sorted(set(map(str, threshold)) - set(metrics))
        if unknown:
            raise ValueError(f"{where} 'threshold' names metrics that are not analysed: "
                             f"{unknown}; the metrics are {metrics}.")
        return {m: positive_number(threshold[m], f"threshold[{m!r}]") for m in metrics
                if m in threshold}
    value = positive_number(threshold, "threshold")
    return dict.fromkeys(metrics, value)


def _proportion_rows(x: np.ndarray, n: np.ndarray, arms: list[str], metric: str,
                     alpha: float) -> list[dict[str, Any]]:
    """One row per arm (the control first) for one proportion: its rate with the Wilson
    interval and, for a treatment arm, the score comparison with the control."""
    lo, hi = proportion_confint(x, n, alpha=alpha, method="wilson")
    x_c, n_c = int(x[0]), int(n[0])
    block = []
    for k, arm in enumerate(arms):
        row: dict[str, Any] = {"metric": metric, "arm": arm, "n": int(n[k]),
                               "successes": int(x[k]), "rate": x[k] / n[k],
                               "rate_low": float(lo[k]), "rate_high": float(hi[k])}
        if k:
            row.update(compare_proportions(x_c, n_c, int(x[k]), int(n[k]), alpha=alpha))
            row["prob_beat_control"] = prob_beat_control(x_c, n_c, int(x[k]), int(n[k]))
        block.append(row)
    return block


_ADJUSTED_KEYS = ("diff", "diff_low", "diff_high", "lift", "lift_low", "lift_high",
                  "statistic", "df", "p_value", "method")
_UNADJUSTED_KEYS = ("unadjusted_diff", "unadjusted_low", "unadjusted_high",
                    "variance_reduction")


def _adjust(block: list[dict[str, Any]], adjusted: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace the treatment rows' comparison by the covariate-adjusted one (the rates stay
    as observed), keeping the unadjusted difference beside it."""
    for row in block[1:]:
        got = adjusted[row["arm"]]
        row.update({k: got[k] for k in (*_ADJUSTED_KEYS, *_UNADJUSTED_KEYS)})


def _value_rows(got: Mapping[str, Mapping[str, Any]], arms: list[str],
                metric: str) -> list[dict[str, Any]]:
    """The rows of a mean or ratio comparison in the summary's shape."""
    keep = ("n", "mean", "mean_low", "mean_high", *_ADJUSTED_KEYS, *_UNADJUSTED_KEYS)
    block = []
    for k, arm in enumerate(arms):
        row = {"metric": metric, "arm": arm}
        row.update({c: got[arm][c] for c in keep if c in got[arm] and (k or c in keep[:4])})
        block.append(row)
    return block


def _holm_and_decide(block: list[dict[str, Any]], alpha: float, threshold: float | None,
                     x: np.ndarray | None = None, n: np.ndarray | None = None,
                     ) -> list[dict[str, Any]]:
    """Holm across the treatment rows of one metric, each arm's interval at the level Holm
    tested it at (the score interval for an unadjusted proportion, given its counts ``x``,
    ``n``; otherwise the interval of the same t or z statistic), and the decision."""
    treated = block[1:]
    p = [r["p_value"] for r in treated]
    adjusted, levels = holm(p), holm_levels(p, alpha)
    for k, (r, ph, level) in enumerate(zip(treated, adjusted, levels, strict=True), start=1):
        r["p_holm"] = float(ph)
        r["significant"] = bool(ph < alpha)
        if level == alpha and r["significant"] == (r["p_value"] < alpha):  # same interval
            r["diff_low_holm"], r["diff_high_holm"] = r["diff_low"], r["diff_high"]
        elif r["method"] == "score":
            r["diff_low_holm"], r["diff_high_holm"] = score_interval(
                int(x[0]), int(n[0]), int(x[k]), int(n[k]), alpha=float(level),
                significant=r["significant"])
        else:
            r["diff_low_holm"], r["diff_high_holm"] = _rescaled(r, alpha, float(level))
        r["decision"] = decide(r["diff"], r["diff_low_holm"], r["diff_high_holm"], threshold,
                               r["significant"])
    return block


def _rescaled(r: Mapping[str, Any], alpha: float, level: float) -> tuple[float, float]:
    """The symmetric t (finite ``df``) or normal interval of row ``r``, given at level
    ``alpha``, at level ``level`` instead: the same statistic's interval, so it excludes 0
    exactly when ``p_value < level``."""
    df = r.get("df", math.nan)
    t = pd.notna(df) and math.isfinite(float(df))
    quantile = ((lambda a: float(special.stdtrit(float(df), 1 - a / 2))) if t
                else (lambda a: float(special.ndtri(1 - a / 2))))
    se = (r["diff_high"] - r["diff_low"]) / (2 * quantile(alpha))
    half = se * quantile(level)
    return r["diff"] - half, r["diff"] + half


def _comparison_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows of :func:`_compare_metric` as the summary table, its columns in their order."""
    summary = pd.DataFrame(rows).set_index(["metric", "arm"])
    for col in _COMPARISON_COLUMNS:
        if col not in summary:
            summary[col] = np.nan
    for col in ("method", "decision"):
        summary[col] = summary[col].astype("object").where(summary[col].notna(), None)
    summary["significant"] = summary["significant"].astype("boolean")
    first = ["n", "successes", "rate", "rate_low", "rate_high"]
    if "mean" in summary:
        first += ["mean", "mean_low", "mean_high"]
    for col in first:
        if col not in summary:
            summary[col] = np.nan
    rest = [c for c in ("df", *_UNADJUSTED_KEYS) if c in summary]
    return summary[[*first, *_COMPARISON_COLUMNS, *rest]]


def _incidence(table: pd.DataFrame, arm_col: pd.Series, arms: list[str], alpha: float):
    """The Aalen-Johansen incidence of a win per arm, lost, opted-out and recycled leads
    competing (:func:`nurturelab.competing.incidence_by_arm`), in the survival table's shape:
    per arm ``n, events, median_days`` and, per horizon, ``converted_<t>d`` with its interval
    (NaN beyond the arm's longest follow-up)."""
    data = pd.DataFrame({"arm": arm_col.to_numpy(), "ending": table["ending"].to_numpy(),
                         "ended_days": table["ended_days"].to_numpy(dtype=float)})
    if not np.all(np.isfinite(data["ended_days"])) or (data["ended_days"] < 0).any():
        raise ValueError("analyze: 'ended_days' must be finite and >= 0 for every lead.")
    inc = incidence_by_arm(data, ending="won", horizons=SURVIVAL_HORIZONS, alpha=alpha,
                           duration_col="ended_days")
    s = inc.summary
    rows = []
    for arm in arms:
        part = s.xs(arm, level=0)
        curve = inc.incidence.curves[arm]
        won = curve["won"] if "won" in curve.columns else pd.Series(dtype=float)
        reached = won.index[won.to_numpy() >= 0.5]
        row = {"arm": arm, "n": int(part["n"].iloc[0]), "events": int(part["events"].iloc[0]),
               "median_days": float(reached[0]) if len(reached) else math.inf}
        for t in SURVIVAL_HORIZONS:
            at = part.loc[float(t)]
            row[f"converted_{t}d"] = float(at["incidence"])
            row[f"converted_{t}d_low"] = float(at["low"])
            row[f"converted_{t}d_high"] = float(at["high"])
        rows.append(row)
    survival = pd.DataFrame(rows).set_index("arm")
    logrank_p = float(inc.tests.loc["logrank", "p"])
    survival.attrs["logrank_p"] = logrank_p
    return survival, logrank_p, inc


def _survival(table: pd.DataFrame, arm_col: pd.Series, arms: list[str]):
    """Kaplan-Meier per arm and the log-rank test across arms (empty when columns are absent)."""
    if not {"duration_days", "censored"} <= set(table.columns):
        return pd.DataFrame(), math.nan, {}
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    duration = table["duration_days"].to_numpy(dtype=float)
    if not np.all(np.isfinite(duration)) or (duration < 0).any():
        raise ValueError("analyze: 'duration_days' must be finite and >= 0 for every lead.")
    event = ~table["censored"].to_numpy(dtype=bool)
    rows, km = [], {}
    for arm in arms:
        mask = (arm_col == arm).to_numpy()
        kmf = KaplanMeierFitter(label=arm).fit(duration[mask], event_observed=event[mask])
        km[arm] = kmf
        horizon = duration[mask].max()
        at = kmf.survival_function_at_times(list(SURVIVAL_HORIZONS)).to_numpy()
        row = {"arm": arm, "n": int(mask.sum()), "events": int(event[mask].sum()),
               "median_days": float(kmf.median_survival_time_)}
        for t, s in zip(SURVIVAL_HORIZONS, at, strict=True):
            row[f"converted_{t}d"] = float(1 - s) if t <= horizon else math.nan
        rows.append(row)
    survival = pd.DataFrame(rows).set_index("arm")
    test = multivariate_logrank_test(duration, arm_col.to_numpy(), event)
    logrank_p = float(test.p_value)
    survival.attrs["logrank_p"] = logrank_p
    return survival, logrank_p, km

