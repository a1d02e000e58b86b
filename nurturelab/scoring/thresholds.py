"""Where to cut a lead score: how many leads a threshold flags, how good they are, what they earn.

A score (points, or a model's probability) only becomes a decision once there is a threshold:
leads with ``score >= threshold`` go to a rep. This module tabulates every candidate threshold
and picks one by one of three rules.

* :func:`threshold_table` — per threshold: leads flagged (in total and per day), precision,
  recall, true and false positives and the expected value of working the flagged leads.
* :func:`choose_threshold` — the threshold the team can work (``"capacity"``), the lowest one
  that reaches a precision (``"precision"``) or the most valuable one (``"value"``), with
  bootstrap intervals of its measures, returned as a :class:`ThresholdChoice`.
* :func:`choose_threshold_for_export` — the same on a validated export: the leads open at a
  snapshot (neither won nor lost: the ones a rep would work), scored by a model or by points,
  judged on conversion within the next ``horizon_days``. ``nurturelab thresholds`` calls it.
* :class:`RecordedThreshold` — a chosen threshold as it is recorded on a model version (the
  tags ``nurturelab thresholds`` writes, one record per rule) and read back by the monthly
  audit (the capacity one by default).
* :func:`score_leads` — the score a scorer (a fitted classifier, point rules or a callable)
  gives leads at a time: what a threshold is applied to.

The bootstrap intervals hold the chosen threshold fixed: they describe the sampling error of
its measures, not the extra uncertainty of having picked it on the same data. Choose on one
period (a training or validation snapshot) and report on another when that matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from nurturelab.checks import is_number, utc_timestamp
from nurturelab.plots import axes
from nurturelab.result import Result
from nurturelab.schema import require_loaded
from nurturelab.scoring.features import label, snapshot
from nurturelab.scoring.points import DEFAULT_RULES, PointRules, scores

__all__ = ["RecordedThreshold", "ThresholdChoice", "choose_threshold",
           "choose_threshold_for_export", "score_leads", "scorer_kind", "threshold_table"]

RULES = ("capacity", "precision", "value")
MEASURES = ("precision", "recall", "flagged_per_day", "expected_value")
COLUMNS = ("threshold", "flagged", "flagged_per_day", "precision", "recall", "tp", "fp",
           "expected_value")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def _number(value: Any, name: str, owner: str, *, positive: bool = False) -> float:
    rule = "a finite number > 0" if positive else "a finite number >= 0"
    ok = is_number(value) and np.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"The '{name}' parameter of {owner} must be {rule}. Got {value!r} "
                         "instead.")
    return float(value)


def _y_score(y: Any, score: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if len(y) != len(s):
        raise ValueError(f"The 'y' and 'score' parameters of {owner} must have the same length. "
                         f"Got {len(y)} and {len(s)}.")
    if not len(y):
        raise ValueError(f"The 'y' and 'score' parameters of {owner} are empty; pass at least "
                         "one scored lead.")
    if not np.isin(y, (0, 1)).all():
        bad = sorted(map(str, pd.unique(y[~np.isin(y, (0, 1))])))[:5]
        raise ValueError(f"The 'y' parameter of {owner} must hold outcomes among {{0, 1, False, "
                         f"True}}. Got {bad} instead.")
    if not np.isfinite(s).all():
        raise ValueError(f"The 'score' parameter of {owner} must hold finite numbers; it has "
                         f"{int((~np.isfinite(s)).sum())} NaN or infinite values. Drop or fill "
                         "them first.")
    return y.astype(bool), s


def _thresholds(thresholds: Any, s: np.ndarray, owner: str) -> np.ndarray:
    if thresholds is None:
        return np.unique(np.quantile(s, np.arange(100) / 100, method="lower"))
    t = np.atleast_1d(np.asarray(thresholds, dtype=float)).ravel()
    if not len(t) or not np.isfinite(t).all():
        raise ValueError(f"The 'thresholds' parameter of {owner} must be None (the score "
                         "quantiles 0, 0.01, ..., 0.99) or a non-empty array of finite numbers. "
                         f"Got {thresholds!r} instead.")
    return np.unique(t)


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------
def _counts(y: np.ndarray, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leads flagged (``score >= t``) and true positives among them, for each threshold."""
    order = np.argsort(s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    first = np.searchsorted(s_sorted, t, side="left")  # first lead with score >= t
    above = np.concatenate([np.cumsum(y_sorted[::-1])[::-1], [0]])  # positives from i onward
    return len(s) - first, above[first]


def _measures(flagged, tp, positives, days, deal_value, cost_per_lead) -> dict[str, Any]:
    flagged = np.asarray(flagged, dtype=float)
    tp = np.asarray(tp, dtype=float)
    positives = np.asarray(positives, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(flagged > 0, tp / flagged, np.nan)
        recall = np.where(positives > 0, tp / positives, np.nan)
    return {
        "flagged_per_day": flagged / days,
        "precision": precision,
        "recall": recall,
        "expected_value": deal_value * tp - cost_per_lead * flagged,
    }


def threshold_table(
    y: Any,
    score: Any,
    *,
    thresholds: Any = None,
    days: float,
    deal_value: float = 0.0,
    cost_per_lead: float = 0.0,
) -> pd.DataFrame:
    """What each candidate threshold flags, how precise it is and what it is worth.

    A lead is flagged by threshold ``t`` when ``score >= t``.

    Parameters
    ----------
    y : array-like of shape (n_leads,)
        Outcomes, bool or 0/1 (converted within the horizon or not).
    score : array-like of shape (n_leads,)
        Any score where higher means likelier to convert (points or a probability).
    thresholds : array-like of float, optional
        The thresholds to tabulate. By default the distinct score quantiles at 0, 0.01, ...,
        0.99 (each an observed score, so every row flags at least one lead).
    days : float
        How many days the scored population spans (e.g. the days over which these leads
        arrived); ``flagged_per_day = flagged / days`` is the workload a threshold creates.
    deal_value : float, default 0
        Value of a converted lead.
    cost_per_lead : float, default 0
        Cost of a rep working one flagged lead.

    Returns
    -------
    DataFrame
        One row per threshold, ascending, with columns ``threshold``, ``flagged``,
        ``flagged_per_day``, ``precision`` (``tp / flagged``; NaN when nothing is flagged),
        ``recall`` (``tp / positives``; NaN when there are no positives), ``tp``, ``fp`` and
        ``expected_value = deal_value * tp - cost_per_lead * flagged``: the sum over flagged
        leads of deal value times the (observed) conversion, minus the cost of rep time spent
        on each of them. With probabilities ``p`` in place of outcomes this is
        ``sum(deal_value * p - cost_per_lead)`` over flagged leads.

    Examples
    --------
    >>> table = threshold_table([0, 1, 0, 1], [0.1, 0.4, 0.35, 0.8], thresholds=[0.3, 0.5],
    ...                         days=2, deal_value=100, cost_per_lead=10)
    >>> table[["threshold", "flagged", "flagged_per_day", "precision", "recall",
    ...        "expected_value"]]
       threshold  flagged  flagged_per_day  precision  recall  expected_value
    0        0.3        3              1.5   0.666667     1.0           170.0
    1        0.5        1              0.5   1.000000     0.5            90.0
    """
    owner = "threshold_table"
    y, s = _y_score(y, score, owner)
    days = _number(days, "days", owner, positive=True)
    deal_value = _number(deal_value, "deal_value", owner)
    cost_per_lead = _number(cost_per_lead, "cost_per_lead", owner)
    t = _thresholds(thresholds, s, owner)
    flagged, tp = _counts(y, s, t)
    m = _measures(flagged, tp, y.sum(), days, deal_value, cost_per_lead)
    return pd.DataFrame({
        "threshold": t,
        "flagged": flagged.astype(int),
        "flagged_per_day": m["flagged_per_day"],
        "precision": m["precision"],
        "recall": m["recall"],
        "tp": tp.astype(int),
        "fp": (flagged - tp).astype(int),
        "expected_value": m["expected_value"],
    })


# --------------------------------------------------------------------------------------------
# The choice
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class ThresholdChoice(Result):
    """A threshold chosen by :func:`choose_threshold`, with bootstrap intervals.

    Attributes
    ----------
    threshold : float
        Flag leads with ``score >= threshold``.
    rule : {"capacity", "precision", "value"}
        The rule that chose it.
    row : Series
        Its row of :attr:`table`.
    ci : DataFrame
        Indexed by measure (``precision``, ``recall``, ``flagged_per_day``,
        ``expected_value``), with columns ``estimate``, ``low`` and ``high``: percentile
        bootstrap intervals at the chosen threshold (held fixed across resamples). Also
        :attr:`summary`.
    table : DataFrame
        The :func:`threshold_table` the choice was made from.
    days : float, optional
        The days ``flagged_per_day`` was counted over.
    capacity_per_day : float, optional
        The capacity the rule was given (``by="capacity"``).
    as_of : Timestamp, optional
        The snapshot the leads were scored at (:func:`choose_threshold_for_export`).
    n_leads, n_converted : int, optional
        Leads scored, and those of them that converted.
    notes : tuple of str
        What the choice means beyond its figures: a threshold that flags every lead (a
        capacity larger than the whole pool, a target precision at or below the base rate)
        says so here.
    """

    threshold: float
    rule: Literal["capacity", "precision", "value"]
    row: pd.Series
    ci: pd.DataFrame
    table: pd.DataFrame = field(repr=False)
    days: float | None = None
    capacity_per_day: float | None = None
    as_of: pd.Timestamp | None = None
    n_leads: int | None = None
    n_converted: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        """The bootstrap intervals (:attr:`ci`)."""
        return self.ci

    def _describe(self) -> str:
        def part(name: str, fmt: str) -> str:
            est, lo, hi = self.ci.loc[name, ["estimate", "low", "high"]]
            return f"{name}={est:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"

        return (f"rule={self.rule!r}, threshold={self.threshold:.4g}: flags "
                f"{int(self.row['flagged']):,d} leads, {part('flagged_per_day', '.3g')}, "
                f"{part('precision', '.3f')}, {part('recall', '.3f')}, "
                f"{part('expected_value', ',.4g')}")

    def _header(self) -> list[str]:
        lines = [repr(self)]
        if self.n_leads is not None:
            at = f" at {self.as_of:%Y-%m-%d}" if self.as_of is not None else ""
            lines.append(f"{self.n_leads:,d} leads scored{at}, {self.n_converted:,d} converted")
        return lines + [f"note: {n}" for n in self.notes]

    def plot(self, ax=None):
        """Precision, recall and expected value against threshold, the choice marked.

        Expected value is drawn on a second y axis. Returns the (first) axes.
        """
        ax = axes(ax)
        tab = self.table
        ax.plot(tab["threshold"], tab["precision"], label="precision")
        ax.plot(tab["threshold"], tab["recall"], label="recall")
        ax.set_xlabel("threshold (flag score >= threshold)")
        ax.set_ylabel("precision / recall")
        ax.set_ylim(0, 1.05)
        ev = ax.twinx()
        ev.plot(tab["threshold"], tab["expected_value"], color="C2", linestyle="--",
                label="expected value")
        ev.set_ylabel("expected value")
        ax.axvline(self.threshold, color="k", linestyle=":",
                   label=f"chosen ({self.rule}): {self.threshold:.3g}")
        lines, labels = ax.get_legend_handles_labels()
        lines2, labels2 = ev.get_legend_handles_labels()
        ax.legend(lines + lines2, labels + labels2, loc="best")
        ax.set_title(f"Threshold by {self.rule}: {int(self.row['flagged']):,d} flagged, "
                     f"precision {self.row['precision']:.2f}")
        return ax


def _pick(table: pd.DataFrame, by: str, capacity_per_day, target_precision, owner) -> int:
    if by == "capacity":
        if capacity_per_day is None:
            raise ValueError(f"{owner}(by='capacity') needs 'capacity_per_day', the leads per day "
                             "the team can work (a finite number > 0).")
        cap = _number(capacity_per_day, "capacity_per_day", owner, positive=True)
        ok = np.flatnonzero(table["flagged_per_day"].to_numpy() <= cap)
        if not len(ok):
            least = table["flagged_per_day"].min()
            raise ValueError(f"No threshold flags at most capacity_per_day={cap:g} leads per day; "
                             f"the fewest is {least:.4g} per day. Pass higher 'thresholds' "
                             "(e.g. thresholds=np.unique(score)) or raise capacity_per_day.")
        return int(ok[0])
    if by == "precision":
        if target_precision is None:
            raise ValueError(f"{owner}(by='precision') needs 'target_precision', a number in "
                             "(0, 1].")
        ok_target = (is_number(target_precision) and np.isfinite(target_precision)
                     and 0 < target_precision <= 1)
        if not ok_target:
            raise ValueError(f"The 'target_precision' parameter of {owner} must be a number in "
                             f"(0, 1]. Got {target_precision!r} instead.")
        ok = np.flatnonzero(table["precision"].fillna(-1).to_numpy() >= target_precision)
        if not len(ok):
            best = table["precision"].max()
            raise ValueError(f"No threshold reaches target_precision={target_precision:g}; the "
                             f"best precision is {best:.4g}. Lower target_precision or pass "
                             "other 'thresholds'.")
        return int(ok[0])
    return int(np.argmax(table["expected_value"].to_numpy()))  # ties: the lowest threshold


def _notes(row: pd.Series, by: str, n: int, positives: int, days: float,
           capacity_per_day: Any, target_precision: Any, deal_value: float,
           cost_per_lead: float) -> tuple[str, ...]:
    """What a choice that flags every lead means, in words (empty otherwise)."""
    if int(row["flagged"]) < n:
        return ()
    if by == "capacity":
        return (f"the capacity ({float(capacity_per_day):g} leads a day) is at least the whole "
                f"pool: all {n:,d} leads come to {n / days:.3g} a day over {days:g} days, so "
                f"the threshold flags every lead and ranks none out. Give the leads a day the "
                f"team can actually work, or choose by precision or value.",)
    if by == "precision":
        return (f"target_precision {float(target_precision):g} is at or below the conversion "
                f"of all {n:,d} leads ({positives / n:.1%}): the threshold flags every lead. "
                f"Raise the target to choose among them.",)
    return (f"at deal_value {deal_value:g} and cost_per_lead {cost_per_lead:g} working every "
            f"lead is worth the most: the threshold flags every lead.",)


def _quantile(values: np.ndarray, q: float) -> float:
    """Quantile of the defined (non-NaN) resampled values; NaN when there are none."""
    values = values[~np.isnan(values)]
    return float(np.quantile(values, q)) if len(values) else np.nan


def choose_threshold(
    y: Any,
    score: Any,
    *,
    days: float,
    by: Literal["capacity", "precision", "value"],
    capacity_per_day: float | None = None,
    target_precision: float | None = None,
    thresholds: Any = None,
    deal_value: float = 0.0,
    cost_per_lead: float = 0.0,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int | np.random.SeedSequence | None = 0,
) -> ThresholdChoice:
    """Choose a score threshold by capacity, precision or value, with bootstrap intervals.

    Parameters
    ----------
    y, score, days, thresholds, deal_value, cost_per_lead
        As in :func:`threshold_table`.
    by : {"capacity", "precision", "value"}
        ``"capacity"``: the lowest threshold whose ``flagged_per_day <= capacity_per_day``,
        i.e. the most leads the team can work. ``"precision"``: the lowest threshold with
        ``precision >= target_precision``. ``"value"``: the threshold with the greatest
        ``expected_value`` (ties go to the lowest threshold); needs ``deal_value > 0``.
    capacity_per_day : float, optional
        Leads per day the team can work; required when ``by="capacity"``.
    target_precision : float, optional
        In (0, 1]; required when ``by="precision"``.
    n_boot : int, default 500
        Bootstrap resamples (leads drawn with replacement, ``n_leads`` each).
    alpha : float, default 0.05
        Intervals are ``100 * (1 - alpha)`` % percentile intervals.
    seed : int, SeedSequence or None, default 0
        Seed of the bootstrap's ``np.random.default_rng``; the same seed gives the same
        intervals.

    Returns
    -------
    ThresholdChoice
        A choice that flags every lead (e.g. a capacity at least the whole pool) says so in
        its ``notes``.

    Raises
    ------
    ValueError
        When an argument is invalid, the rule's argument is missing, or no threshold
        satisfies the rule.

    Examples
    --------
    >>> y = [0, 0, 1, 0, 1, 1]
    >>> score = [1, 2, 3, 4, 5, 6]
    >>> choice = choose_threshold(y, score, days=3, by="capacity", capacity_per_day=1,
    ...                           thresholds=score, n_boot=200, seed=1)
    >>> choice.threshold, int(choice.row["flagged"]), round(float(choice.row["precision"]), 3)
    (4.0, 3, 0.667)
    >>> choose_threshold(y, score, days=3, by="precision", target_precision=0.75,
    ...                  thresholds=score).threshold
    3.0
    >>> everyone = choose_threshold(y, score, days=3, by="capacity", capacity_per_day=50)
    >>> everyone.notes[0][:63]
    'the capacity (50 leads a day) is at least the whole pool: all 6'
    """
    owner = "choose_threshold"
    if by not in RULES:
        raise ValueError(f"The 'by' parameter of {owner} must be a str among "
                         f"{{'capacity', 'precision', 'value'}}. Got {by!r} instead.")
    if not (isinstance(n_boot, int | np.integer) and not isinstance(n_boot, bool) and n_boot >= 1):
        raise ValueError(f"The 'n_boot' parameter of {owner} must be an int >= 1. Got "
                         f"{n_boot!r} instead.")
    if not (is_number(alpha) and 0 < alpha < 1):
        raise ValueError(f"The 'alpha' parameter of {owner} must be a float in (0, 1). Got "
                         f"{alpha!r} instead.")
    if by == "value" and not (is_number(deal_value) and deal_value > 0):
        raise ValueError(f"{owner}(by='value') needs 'deal_value' > 0 (the value of a converted "
                         f"lead); got {deal_value!r}. Without it every threshold is worth "
                         "-cost_per_lead * flagged.")
    table = threshold_table(y, score, thresholds=thresholds, days=days, deal_value=deal_value,
                            cost_per_lead=cost_per_lead)
    i = _pick(table, by, capacity_per_day, target_precision, owner)
    row = table.iloc[i]
    t = float(row["threshold"])

    # Resampling leads with replacement only changes how many fall in each cell of
    # (flagged, converted), so draw the four cell counts from their multinomial directly.
    yb, s = _y_score(y, score, owner)
    flag = s >= t
    cells = np.array([(flag & yb).sum(), (flag & ~yb).sum(), (~flag & yb).sum(),
                      (~flag & ~yb).sum()], dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(s), cells / cells.sum(), size=n_boot)
    tp, fp, fn = draws[:, 0], draws[:, 1], draws[:, 2]
    boot = _measures(tp + fp, tp, tp + fn, float(days), float(deal_value), float(cost_per_lead))
    ci = pd.DataFrame(
        {
            "estimate": [float(row[m]) for m in MEASURES],
            "low": [_quantile(boot[m], alpha / 2) for m in MEASURES],
            "high": [_quantile(boot[m], 1 - alpha / 2) for m in MEASURES],
        },
        index=pd.Index(MEASURES, name="measure"),
    )
    notes = _notes(row, by, len(s), int(yb.sum()), float(days), capacity_per_day,
                   target_precision, float(deal_value), float(cost_per_lead))
    return ThresholdChoice(threshold=t, rule=by, row=row, ci=ci, table=table, days=float(days),
                           capacity_per_day=(None if capacity_per_day is None
                                             else float(capacity_per_day)),
                           n_leads=len(s), n_converted=int(yb.sum()), notes=notes)


# --------------------------------------------------------------------------------------------
# On an export
# --------------------------------------------------------------------------------------------
def scorer_kind(scorer: Any) -> Literal["points", "probability", "callable"]:
    """What kind of score ``scorer`` gives: ``"points"`` (a :class:`PointRules`),
    ``"probability"`` (a fitted classifier with ``predict_proba``) or ``"callable"``.

    >>> from nurturelab.scoring.points import DEFAULT_RULES
    >>> scorer_kind(DEFAULT_RULES), scorer_kind(len)
    ('points', 'callable')
    >>> scorer_kind("model.pkl")
    Traceback (most recent call last):
    ...
    TypeError: 'scorer' must be a fitted classifier with predict_proba (a probability score), \
a PointRules (points) or a callable taking the snapshot features and returning one score per \
lead. Got str instead.
    """
    if isinstance(scorer, PointRules):
        return "points"
    if hasattr(scorer, "predict_proba"):
        return "probability"
    if callable(scorer):
        return "callable"
    raise TypeError(f"'scorer' must be a fitted classifier with predict_proba (a probability "
                    f"score), a PointRules (points) or a callable taking the snapshot features "
                    f"and returning one score per lead. Got {type(scorer).__name__} instead.")


def score_leads(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    scorer: Any,
    *,
    as_of: Any,
    lead_ids: Any,
    features: pd.DataFrame | None = None,
) -> np.ndarray:
    """The scores ``scorer`` gives the leads ``lead_ids`` from what was known at ``as_of``.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables; only events at or before ``as_of`` count.
    scorer : classifier, PointRules or callable
        A fitted classifier (``predict_proba(features)[:, 1]`` is the score), point rules
        (:func:`nurturelab.scoring.points.scores`), or ``f(features) -> scores``.
    as_of : timestamp-like
    lead_ids : array-like of str
        Leads created by ``as_of``.
    features : DataFrame, optional
        :func:`~nurturelab.scoring.features.snapshot` at ``as_of`` of these leads, when the
        caller has it already (made here when a classifier or a callable needs it).

    Returns
    -------
    ndarray of float, shape (len(lead_ids),)
    """
    kind = scorer_kind(scorer)
    at = utc_timestamp(as_of, "as_of")
    ids = pd.Index(lead_ids)
    if kind == "points":
        return scores(leads, events, scorer, as_of=at)["score"].reindex(ids).to_numpy(float)
    X = snapshot(leads, events, as_of=at).loc[ids] if features is None else features
    if kind == "probability":
        s = np.asarray(scorer.predict_proba(X))[:, 1].astype(float)
    else:
        s = np.asarray(scorer(X), dtype=float).ravel()
    if len(s) != len(ids):
        raise ValueError(f"the scorer returned {len(s)} scores for {len(ids)} leads at {at}")
    return s


def choose_threshold_for_export(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    scorer: Any = DEFAULT_RULES,
    *,
    by: Literal["capacity", "precision", "value"],
    as_of: Any = None,
    horizon_days: float = 30.0,
    capacity_per_day: float | None = None,
    target_precision: float | None = None,
    deal_value: float = 0.0,
    cost_per_lead: float = 0.0,
    thresholds: Any = None,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int | np.random.SeedSequence | None = 0,
) -> ThresholdChoice:
    """Choose a threshold on an export, among the leads a rep would work.

    The population is the leads open at ``as_of`` (created, neither won nor lost: the ones
    ``nurturelab score apply`` ranks and the monthly audit checks), each scored from what was
    known then and labelled by conversion within the next ``horizon_days``
    (:func:`~nurturelab.scoring.features.label`); flagged leads are spread over the horizon
    (``days=horizon_days``). ``nurturelab thresholds`` is this function.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:func:`nurturelab.schema.read_export`).
    scorer : classifier, PointRules or callable, default DEFAULT_RULES
        As in :func:`score_leads`.
    by, capacity_per_day, target_precision, deal_value, cost_per_lead, thresholds, n_boot, \
alpha, seed
        As in :func:`choose_threshold`.
    as_of : timestamp-like, optional
        The snapshot; default the last event minus ``horizon_days`` (so every outcome is
        known).
    horizon_days : float, default 30
        The outcome window, the model's own for a model.

    Returns
    -------
    ThresholdChoice
        With ``as_of``, ``n_leads`` (open leads scored) and ``n_converted`` set.

    Raises
    ------
    ValueError
        As :func:`choose_threshold`, and when no lead is open at ``as_of``.
    """
    owner = "choose_threshold_for_export"
    require_loaded(leads, events)
    h = _number(horizon_days, "horizon_days", owner, positive=True)
    at = (events["ts"].max() - pd.Timedelta(days=h) if as_of is None
          else utc_timestamp(as_of, "as_of"))
    y = label(leads, events, as_of=at, horizon_days=h)  # the open leads (features.open_leads)
    if not len(y):
        raise ValueError(f"No lead is open (created, neither won nor lost) at {at:%Y-%m-%d}; "
                         f"the export's leads were created from "
                         f"{leads['created_at'].min():%Y-%m-%d}. Pass a later 'as_of'.")
    score = score_leads(leads, events, scorer, as_of=at, lead_ids=y.index)
    choice = choose_threshold(y.to_numpy(), score, days=h, by=by,
                              capacity_per_day=capacity_per_day,
                              target_precision=target_precision, thresholds=thresholds,
                              deal_value=deal_value, cost_per_lead=cost_per_lead,
                              n_boot=n_boot, alpha=alpha, seed=seed)
    return replace(choice, as_of=at)


# --------------------------------------------------------------------------------------------
# The threshold recorded on a model version
# --------------------------------------------------------------------------------------------
# One record per criterion, ``threshold.<rule>.<field>``: choosing by value does not replace the
# threshold chosen for capacity. Versions tagged before kept one record, under the flat keys of
# _LEGACY_TAGS; they are still read.
_FIELDS = ("threshold", "precision", "precision_low", "precision_high", "capacity_per_day",
           "days", "as_of")
_LEGACY_TAGS = {"threshold": "threshold", "rule": "threshold.rule",
                "precision": "threshold.precision", "precision_low": "threshold.precision_low",
                "precision_high": "threshold.precision_high",
                "capacity_per_day": "threshold.capacity_per_day", "days": "threshold.days",
                "as_of": "threshold.as_of"}
_TEXT_FIELDS = ("rule", "as_of", "version")
PREFERENCE = ("capacity", "precision", "value")  # which record the audit reads by default


def _tag_key(rule: str, name: str) -> str:
    return f"threshold.{rule}.{name}"


def _read(tags: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """The fields whose tags are there and parse (numbers), or are not empty (text)."""
    values: dict[str, Any] = {}
    for name, key in keys.items():
        if key not in tags:
            continue
        if name in _TEXT_FIELDS:
            if str(tags[key]):  # written as "" when there was none
                values[name] = str(tags[key])
            continue
        try:
            number = float(tags[key])
        except (TypeError, ValueError):
            continue
        if np.isfinite(number):
            values[name] = number
    return values


@dataclass(frozen=True)
class RecordedThreshold:
    """A threshold as recorded on a model version: what it was chosen for.

    ``nurturelab thresholds`` writes it as tags (:meth:`to_tags`) on the version an alias
    points at, one record per rule (capacity, precision, value: choosing by value keeps the
    capacity threshold); ``nurturelab audit`` reads one back (:meth:`from_tags`, the capacity
    one by default) and holds the month to it (:func:`nurturelab.scoring.audit.audit_month`).

    Attributes
    ----------
    threshold : float
        Flag leads with ``score >= threshold``.
    rule : str, optional
        The rule that chose it (capacity, precision, value).
    precision, precision_low, precision_high : float, optional
        The conversion of the flagged leads when it was chosen, with its interval.
    capacity_per_day : float, optional
        The capacity it was chosen for (rule capacity only).
    days : float, optional
        The outcome horizon it was chosen for, over which ``flagged_per_day`` was counted.
    as_of : str, optional
        The snapshot it was chosen at (ISO text).
    version : str, optional
        The model version it is recorded on.

    Examples
    --------
    >>> tags = {"threshold.value.threshold": "0.3", "threshold.value.days": "30",
    ...         "threshold.capacity.threshold": "0.12", "threshold.capacity.days": "30",
    ...         "threshold.capacity.precision": "0.4", "other": "x"}
    >>> sorted(RecordedThreshold.all_from_tags(tags))
    ['capacity', 'value']
    >>> rec = RecordedThreshold.from_tags(tags)  # the capacity one, when there is one
    >>> rec.rule, rec.threshold, rec.days, rec.set_for
    ('capacity', 0.12, 30.0, 0.4)
    >>> RecordedThreshold.from_tags(tags, rule="value").threshold
    0.3
    >>> RecordedThreshold(threshold=0.1, days=-3)
    Traceback (most recent call last):
    ...
    ValueError: The 'days' field of RecordedThreshold must be a finite number > 0 or None. \
Got -3 instead.
    """

    threshold: float
    rule: str | None = None
    precision: float | None = None
    precision_low: float | None = None
    precision_high: float | None = None
    capacity_per_day: float | None = None
    days: float | None = None
    as_of: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _TEXT_FIELDS:
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"The '{f.name}' field of RecordedThreshold must be a str "
                                     f"or None. Got {value!r} instead.")
                continue
            if value is None and f.name != "threshold":
                continue
            positive = f.name in ("capacity_per_day", "days")
            if not (is_number(value) and np.isfinite(value) and (value > 0 or not positive)):
                rule = "a finite number" + (" > 0" if positive else "")
                rule += "" if f.name == "threshold" else " or None"
                raise ValueError(f"The '{f.name}' field of RecordedThreshold must be {rule}. "
                                 f"Got {value!r} instead.")
            object.__setattr__(self, f.name, float(value))

    @classmethod
    def all_from_tags(cls, tags: Mapping[str, Any], *,
                      version: str | None = None) -> dict[str, RecordedThreshold]:
        """Every threshold recorded in a model version's tags, by the rule that chose it
        (``{"capacity": ..., "value": ...}``; empty when none is recorded).

        One record per criterion (``threshold.<rule>.<field>`` tags). A version tagged before
        kept a single record under flat ``threshold*`` tags: it is read under its rule, unless
        a newer record for that rule is there. Numbers that do not parse (an empty capacity
        when the rule was not capacity) are left out; other tags are ignored.
        """
        tags = dict(tags or {})
        version = None if version is None else str(version)
        out: dict[str, RecordedThreshold] = {}
        rules = sorted({k.split(".")[1] for k in tags
                        if k.startswith("threshold.") and k.count(".") == 2
                        and k.endswith(".threshold")})
        for rule in rules:
            values = _read(tags, {name: _tag_key(rule, name) for name in _FIELDS})
            if "threshold" in values:
                out[rule] = cls(**values, rule=rule, version=version)
        legacy = _read(tags, _LEGACY_TAGS)
        if "threshold" in legacy:
            key = legacy.get("rule") or "unknown"
            out.setdefault(key, cls(**legacy, version=version))
        return out

    @classmethod
    def from_tags(cls, tags: Mapping[str, Any], *, version: str | None = None,
                  rule: str | None = None) -> RecordedThreshold | None:
        """The threshold recorded for ``rule`` in a model version's tags; without ``rule`` the
        one the audit holds a month to: chosen by capacity if one is recorded (what the team
        works, and what the audit's capacity check needs), else by precision, else by value.
        None when there is none (:meth:`all_from_tags` has them all).
        """
        found = cls.all_from_tags(tags, version=version)
        if rule is not None:
            return found.get(rule)
        for name in (*PREFERENCE, *sorted(found)):
            if name in found:
                return found[name]
        return None

    @classmethod
    def from_choice(cls, choice: ThresholdChoice) -> RecordedThreshold:
        """What a :class:`ThresholdChoice` records: the threshold, its precision with the
        interval, the capacity (rule capacity only), the days and the snapshot."""
        def known(value: Any) -> float | None:  # an interval with no defined resample: None
            return float(value) if np.isfinite(value) else None

        prec = choice.ci.loc["precision"]
        return cls(threshold=choice.threshold, rule=choice.rule,
                   precision=known(prec["estimate"]), precision_low=known(prec["low"]),
                   precision_high=known(prec["high"]),
                   capacity_per_day=choice.capacity_per_day if choice.rule == "capacity" else None,
                   days=choice.days,
                   as_of=None if choice.as_of is None else choice.as_of.isoformat())

    def to_tags(self) -> dict[str, Any]:
        """The model-version tags of this criterion, ``threshold.<rule>.threshold``,
        ``threshold.<rule>.precision`` ...; None as ``""``. Recording a threshold chosen by
        another rule leaves this one in place."""
        if self.rule not in RULES:
            raise ValueError(f"A RecordedThreshold is recorded under the rule that chose it, "
                             f"one of {RULES}. Got rule={self.rule!r}; set it.")
        return {_tag_key(self.rule, name): "" if getattr(self, name) is None
                else getattr(self, name) for name in _FIELDS}

    @property
    def set_for(self) -> float | tuple[float, float, float] | None:
        """The precision it was chosen at: ``(estimate, low, high)`` when the interval is
        recorded, the estimate alone otherwise (the audit's ``set_for``)."""
        if self.precision is None:
            return None
        if self.precision_low is None or self.precision_high is None:
            return self.precision
        return (self.precision, self.precision_low, self.precision_high)

    @property
    def source(self) -> str:
        """Where the threshold comes from, in words (the audit's ``threshold_source``)."""
        where = f"recorded on version {self.version}" if self.version else "recorded"
        return f"{where}, chosen by {self.rule or '?'} at {(self.as_of or '?')[:10]}"
