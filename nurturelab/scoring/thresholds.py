"""Where to cut a lead score: how many leads a threshold flags, how good they are, what they earn.

A score (points, or a model's probability) only becomes a decision once there is a threshold:
leads with ``score >= threshold`` go to a rep. This module tabulates every candidate threshold
and picks one by one of three rules.

* :func:`threshold_table` — per threshold: leads flagged (in total and per day), precision,
  recall, true and false positives and the expected value of working the flagged leads.
* :func:`choose_threshold` — the threshold the team can work (``"capacity"``), the lowest one
  that reaches a precision (``"precision"``) or the most valuable one (``"value"``), with
  bootstrap intervals of its measures, returned as a :class:`ThresholdChoice`.

The bootstrap intervals hold the chosen threshold fixed: they describe the sampling error of
its measures, not the extra uncertainty of having picked it on the same data. Choose on one
period (a training or validation snapshot) and report on another when that matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["ThresholdChoice", "choose_threshold", "threshold_table"]

RULES = ("capacity", "precision", "value")
MEASURES = ("precision", "recall", "flagged_per_day", "expected_value")
COLUMNS = ("threshold", "flagged", "flagged_per_day", "precision", "recall", "tp", "fp",
           "expected_value")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _number(value: Any, name: str, owner: str, *, positive: bool = False) -> float:
    rule = "a finite number > 0" if positive else "a finite number >= 0"
    ok = _is_number(value) and np.isfinite(value) and (value > 0 if positive else value >= 0)
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
class ThresholdChoice:
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
        bootstrap intervals at the chosen threshold (held fixed across resamples).
    table : DataFrame
        The :func:`threshold_table` the choice was made from.
    """

    threshold: float
    rule: Literal["capacity", "precision", "value"]
    row: pd.Series
    ci: pd.DataFrame
    table: pd.DataFrame = field(repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        """The bootstrap intervals (:attr:`ci`)."""
        return self.ci

    def __repr__(self) -> str:
        def part(name: str, fmt: str) -> str:
            est, lo, hi = self.ci.loc[name, ["estimate", "low", "high"]]
            return f"{name}={est:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"

        return (f"ThresholdChoice(rule={self.rule!r}, threshold={self.threshold:.4g}: flags "
                f"{int(self.row['flagged']):,d} leads, {part('flagged_per_day', '.3g')}, "
                f"{part('precision', '.3f')}, {part('recall', '.3f')}, "
                f"{part('expected_value', ',.4g')})")

    def plot(self, ax=None):
        """Precision, recall and expected value against threshold, the choice marked.

        Expected value is drawn on a second y axis. Returns the (first) axes.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(7, 4))
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
        ok_target = (_is_number(target_precision) and np.isfinite(target_precision)
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
    """
    owner = "choose_threshold"
    if by not in RULES:
        raise ValueError(f"The 'by' parameter of {owner} must be a str among "
                         f"{{'capacity', 'precision', 'value'}}. Got {by!r} instead.")
    if not (isinstance(n_boot, int | np.integer) and not isinstance(n_boot, bool) and n_boot >= 1):
        raise ValueError(f"The 'n_boot' parameter of {owner} must be an int >= 1. Got "
                         f"{n_boot!r} instead.")
    if not (_is_number(alpha) and 0 < alpha < 1):
        raise ValueError(f"The 'alpha' parameter of {owner} must be a float in (0, 1). Got "
                         f"{alpha!r} instead.")
    if by == "value" and not (_is_number(deal_value) and deal_value > 0):
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
    return ThresholdChoice(threshold=t, rule=by, row=row, ci=ci, table=table)
