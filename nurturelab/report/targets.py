"""The team's targets: read from YAML, checked against a week's metrics, with their trend, and
the stage or step that lost the most against last week.

A target is data: a metric, a segment, a comparison and a deadline, e.g. "high-intent speed to
first contact under 5 minutes by the end of the quarter" (:class:`Target`,
:func:`read_targets`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nurturelab._yaml import load_yaml
from nurturelab.funnel import Funnel
from nurturelab.report.data import DIMENSIONS, week_bounds
from nurturelab.report.metrics import lookup

__all__ = ["SEGMENT_DIMS", "Target", "attainment", "biggest_loss", "check_targets",
           "read_targets", "trend"]

_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
SEGMENT_DIMS = (*DIMENSIONS, "channel", "content", "stage", "content_stage", "personalisation",
                "personalisation_channel", "step", "handoff")
"""The dimensions a target's segment may name (``dimension=value``)."""
_TARGET_RE = re.compile(r"^\s*(<=|>=|<|>)\s*(-?(?:\d+(?:\.\d*)?|\.\d+))\s*(%?)\s*$")
_KEYS = ("name", "metric", "segment", "target", "deadline")
_REQUIRED = ("name", "metric", "target", "deadline")


@dataclass(frozen=True)
class Target:
    """A SMART target: ``metric`` in ``segment`` ``op`` ``value`` by ``deadline``.

    ``metric`` is any metric of :mod:`nurturelab.report.metrics`; a stage metric may name any
    stage (``stage_conversion.mql``) and is checked against the report's funnel when the report
    is made (:func:`check_targets`).

    >>> Target("high-intent speed", "speed_to_first_contact_min", "< 5",
    ...        deadline="2026-12-31", segment="intent=high").met(3.2)
    True
    """

    name: str
    metric: str
    target: str
    deadline: str
    segment: str = "all"
    op: str = field(init=False)
    value: float = field(init=False)

    def __post_init__(self) -> None:
        me = f"target {self.name!r}"
        try:
            metric = lookup(self.metric)
        except KeyError as exc:
            raise ValueError(f"{me} names an {exc.args[0]}") from None
        m = _TARGET_RE.match(str(self.target))
        if not m:
            raise ValueError(f"{me} 'target' must be a comparison such as '< 5', '>= 0.3' or "
                             f"'>= 30%'. Got {self.target!r} instead.")
        value = float(m.group(2)) / (100 if m.group(3) else 1)
        object.__setattr__(self, "op", m.group(1))
        object.__setattr__(self, "value", value)
        try:
            dt.date.fromisoformat(str(self.deadline))
        except (ValueError, TypeError):
            raise ValueError(f"{me} 'deadline' must be a date written YYYY-MM-DD, such as "
                             f"2026-12-31. Got {self.deadline!r} instead.") from None
        dim = str(self.segment).split("=")[0]
        if self.segment != "all" and ("=" not in str(self.segment) or dim not in SEGMENT_DIMS):
            raise ValueError(f"{me} 'segment' must be 'all' or 'dimension=value' with a "
                             f"dimension among {', '.join(SEGMENT_DIMS)} (e.g. intent=high). "
                             f"Got {self.segment!r} instead.")
        if metric.unit == "share" and not 0 <= value <= 1:
            raise ValueError(f"{me} compares a share ({self.metric}) with {self.target!r}; a "
                             "share lies between 0 and 1 (write e.g. '>= 0.3' or '>= 30%').")

    def met(self, value: float) -> bool:
        return bool(_OPS[self.op](value, self.value))


def check_targets(targets: Sequence[Target], funnel: Funnel) -> None:
    """Refuse a target whose metric the funnel's report does not have (a stage metric of a
    stage the funnel lacks, or ``past_target`` of a stage without a target window).

    Raises
    ------
    ValueError
        Naming the target, its metric and the funnel's metrics.
    """
    for t in targets:
        if not isinstance(t, Target):
            raise TypeError(f"targets must be Target objects (see read_targets). Got "
                            f"{type(t).__name__} instead.")
        try:
            lookup(t.metric, funnel)
        except KeyError as exc:
            raise ValueError(f"target {t.name!r} names an {exc.args[0]} (of the funnel "
                             f"{' → '.join(funnel.names)})") from None


def read_targets(path: str | Path, funnel: Funnel | None = None) -> tuple[Target, ...]:
    """Targets from YAML (the only function that reads them).

    The file holds a list under ``targets:`` of ``name``, ``metric``, ``segment`` (optional,
    ``all`` by default), ``target`` and ``deadline``::

        targets:
          - name: high-intent speed to lead
            metric: speed_to_first_contact_min
            segment: intent=high
            target: "< 5"
            deadline: 2026-12-31

    Parameters
    ----------
    path : str or Path
    funnel : Funnel, optional
        The funnel the report runs on: its stage metrics are the ones a target may name.

    Raises
    ------
    FileNotFoundError, ValueError
        Errors name the file and the entry: an unknown or missing key, a key given twice, a
        name given twice, an unknown metric (listing the known ones) or an invalid value.
    """
    path = Path(path)
    doc = load_yaml(path, "targets", "a list under 'targets:'")
    if isinstance(doc, Mapping) and set(doc) - {"targets"}:
        raise ValueError(f"{path}: unknown key(s) {sorted(map(str, set(doc) - {'targets'}))}; "
                         "the file holds one key, 'targets', a list of targets")
    items = doc.get("targets") if isinstance(doc, Mapping) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list under 'targets:'")
    out: list[Target] = []
    for i, item in enumerate(items):
        where = f"{path}: targets[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} must be a mapping with name, metric, target, deadline")
        extra = sorted(map(str, set(item) - set(_KEYS)))
        missing = [k for k in _REQUIRED if k not in item]
        if extra or missing:
            raise ValueError(f"{where}: " + "; ".join(
                ([f"unknown key(s) {extra}"] if extra else [])
                + ([f"missing {missing}"] if missing else [])) + f" (keys: {sorted(_KEYS)})")
        if str(item["name"]) in {t.name for t in out}:
            raise ValueError(f"{where}: the name {str(item['name'])!r} is given twice; each "
                             "target needs its own name")
        try:
            target = Target(name=str(item["name"]), metric=str(item["metric"]),
                            target=str(item["target"]), deadline=str(item["deadline"]),
                            segment=str(item.get("segment", "all")))
            if funnel is not None:
                check_targets([target], funnel)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        out.append(target)
    return tuple(out)


def trend(values: np.ndarray) -> tuple[float, float]:
    """Least-squares slope per week and its two-sided p-value (NaN with fewer than 3 weeks).

    >>> round(trend(np.array([0.1, 0.2, 0.3, np.nan]))[0], 6)
    0.1
    """
    from scipy.stats import linregress

    ok = np.isfinite(values)
    if ok.sum() < 3:
        return np.nan, np.nan
    x = np.arange(len(values))[ok]
    if np.ptp(values[ok]) == 0:
        return 0.0, 1.0
    fit = linregress(x, values[ok])
    return float(fit.slope), float(fit.pvalue)


def _pending_detail(table: pd.DataFrame, t: Target, week: str, why: Mapping[str, str]) -> str:
    """Why a target has no value this week."""
    if t.metric in why:
        return why[t.metric]
    seen = table.loc[table["metric"] == t.metric, "segment"].unique()
    if len(seen) and t.segment not in seen:
        dim = t.segment.split("=")[0] + "="
        known = sorted(x for x in seen if x.startswith(dim)) or sorted(seen)[:8]
        return (f"{t.metric} has no segment {t.segment} in the weeks shown; it has "
                f"{', '.join(known)}")
    return (f"no value for {t.segment} in {week}: no leads or touches there, or their answer "
            "windows have not closed by the end of the week")


def attainment(table: pd.DataFrame, targets: Sequence[Target], week: str,
               why: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Each target's value in ``week``, whether it is met, and its trend over the weeks shown.

    ``status``: ``pass`` (met), ``warn`` (not met, deadline ahead), ``fail`` (not met, deadline
    passed) or ``pending`` (no value this week; ``detail`` says why, e.g. the input the export
    lacks for a metric listed in ``why``).
    """
    why = dict(why or {})
    end = week_bounds(week)[1]
    rows = []
    for t in targets:
        series = table[(table["metric"] == t.metric) & (table["segment"] == t.segment)]
        now = series[series["week"] == week]["value"]
        value = float(now.iloc[0]) if len(now) else np.nan
        slope, p = trend(series["value"].to_numpy(dtype=float))
        better = lookup(t.metric).better
        # a direction only when the weekly values move more than their noise (p < 0.1)
        direction = ("flat" if not np.isfinite(slope) or not p < 0.1 else
                     "improving" if (slope > 0) == (better == "higher") else "worsening")
        deadline = pd.Timestamp(t.deadline)
        deadline = deadline.tz_localize("UTC") if deadline.tzinfo is None else deadline
        if not np.isfinite(value):
            status, detail = "pending", _pending_detail(table, t, week, why)
        elif t.met(value):
            status, detail = "pass", "met"
        else:
            status = "fail" if deadline < end else "warn"
            detail = "missed; deadline passed" if status == "fail" else "not met yet"
        rows.append({"target": t.name, "metric": t.metric, "segment": t.segment,
                     "goal": f"{t.op} {t.value:g}", "deadline": t.deadline, "value": value,
                     "status": status, "trend": direction, "slope_per_week": slope,
                     "detail": detail})
    return pd.DataFrame(rows)


def biggest_loss(table: pd.DataFrame, week: str, previous: str) -> dict | None:
    """The stage or touchpoint that lost the most against the previous week: the largest fall
    in a stage's conversion, or rise in a step's drop-off, weighted by the leads it concerns."""
    cand = []
    for metric, sign in (("stage_conversion.", -1), ("dropoff", 1)):
        sub = table[table["metric"].str.startswith(metric)]
        if metric == "dropoff":
            sub = sub[sub["segment"].str.startswith("step=")]
        else:
            sub = sub[sub["segment"] == "all"]
        for (m, seg), g in sub.groupby(["metric", "segment"]):
            a = g[g["week"] == previous]
            b = g[g["week"] == week]
            if not (len(a) and len(b)):
                continue
            change = float(b["value"].iloc[0] - a["value"].iloc[0])
            worse = sign * change
            cand.append({"metric": m, "segment": seg, "before": float(a["value"].iloc[0]),
                         "after": float(b["value"].iloc[0]), "change": change,
                         "leads": int(b["n"].iloc[0]), "loss": worse * int(b["n"].iloc[0])})
    if not cand:
        return None
    best = max(cand, key=lambda c: c["loss"])
    return best if best["loss"] > 0 else None
