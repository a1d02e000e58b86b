"""The metric registry, built per funnel, and the long table of the metrics' values.

Each :class:`Metric` names a weekly measure, its unit and which way is better, and the function
that computes it (:mod:`nurturelab.report.measures`). Most are the same for every funnel; the
stage metrics (``stage_conversion.<stage>`` for each stage but the last, ``past_target.<stage>``
for each stage with a target window) are made from the funnel a report is run on, by
:func:`build_metrics`. :data:`METRICS` is the registry of the default funnel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, get_args

import pandas as pd

from nurturelab.funnel import DEFAULT_FUNNEL, POSITIVE_RESPONSES, Funnel
from nurturelab.report import measures as M
from nurturelab.report.aggregate import COLUMNS, MetricUnavailable
from nurturelab.report.data import ReportData

__all__ = ["GROUPS", "METRICS", "STAGE_METRICS", "Metric", "build_metrics", "lookup",
           "metric_table"]

Unit = Literal["share", "minutes", "hours", "days", "count"]
Better = Literal["higher", "lower"]
GROUPS = ("intake", "stages", "segments", "content", "cadence", "personalisation", "scoring",
          "queues")
"""The groups of the report, in its order."""

STAGE_METRICS = ("stage_conversion", "past_target")
"""The metrics made per stage of the funnel, named ``<metric>.<stage>``."""


@dataclass(frozen=True)
class Metric:
    """A weekly metric: what it measures, its unit, which way is better, how it is computed.

    ``compute(data)`` takes a :class:`~nurturelab.report.data.ReportData` and returns the
    metric's rows of the long table, or raises
    :class:`~nurturelab.report.aggregate.MetricUnavailable` with the reason.
    """

    name: str
    label: str
    group: str
    unit: Unit
    better: Better
    compute: Callable[[ReportData], pd.DataFrame] = field(repr=False, compare=False)
    description: str = ""

    def __post_init__(self) -> None:
        for what, value, allowed in (("unit", self.unit, get_args(Unit)),
                                     ("better", self.better, get_args(Better)),
                                     ("group", self.group, GROUPS)):
            if value not in allowed:
                raise ValueError(f"The '{what}' of Metric {self.name!r} must be one of "
                                 f"{list(allowed)}. Got {value!r} instead.")


_INTAKE = (
    Metric("speed_to_first_contact_min", "speed to first contact (median minutes)",
           "intake", "minutes", "lower", partial(M.speed, kind="median"),
           "minutes from creation to the first touch, leads created in the week; a lead not "
           "touched yet counts the time it has waited"),
    Metric("first_contact_within_5min", "first touch within 5 minutes", "intake", "share",
           "higher", partial(M.speed, kind="rate"), "leads created in the week touched "
           "within 5 minutes; one not touched yet counts as a miss once 5 minutes passed"),
    Metric("source_coverage", "sources feeding leads", "intake", "share", "higher",
           M.source_coverage, "share of the export's sources that sent a lead in the week"),
    Metric("contact_rate", "contacted within the new stage's target", "intake", "share",
           "higher", M.contact_rate, "leads created in the week answering (connect or "
           "reply) within the first stage's target window (2 days by default); younger "
           "leads are not judged"),
)

_AFTER_STAGES = (
    Metric("handoff_response_hours", "handoff to next touch (median hours)", "stages",
           "hours", "lower", M.handoff_hours, "hours from entering a stage with a new owner "
           "to the next touch; one not yet touched counts the time waited"),
    Metric("conversion", "converted in the week", "segments", "share", "higher",
           M.conversion, "leads winning in the week over the leads open during it "
           "(not yet won, lost or opted out)"),
    Metric("opt_out_rate", "opted out in the week", "segments", "share", "lower", M.opt_out,
           "leads opting out in the week over the leads open during it"),
    Metric("content_engagement", "engagement within 3 days of a touch", "content", "share",
           "higher", M.content_engagement, "touches followed within 3 days by an answer or "
           "an activity, by content tag and by the lead's stage"),
    Metric("objection_resolution", "objection resolved within 7 days", "content", "share",
           "higher", M.objection_resolution, "touches tagged for an objection followed within "
           "7 days by the lead moving to a later stage (so a week's value is known a week "
           "later)"),
    Metric("reply_rate", "reply within 3 days", "cadence", "share", "higher", M.reply_rate,
           "touches answered (connect or reply) on the same channel within 3 days"),
    Metric("cadence_completion", "steps done on time", "cadence", "share", "higher",
           partial(M.completion, on_time=True), "cadence steps due in the week done "
           "within a day of when they were due (judged once the day has passed)"),
    Metric("time_between_touches_hours", "time between touches (mean hours)", "cadence",
           "hours", "lower", M.time_between_touches, "hours since the lead's previous touch, "
           "for each touch in the week"),
    Metric("dropoff", "leads lost after a step", "cadence", "share", "lower", M.dropoff,
           "leads touched at a step that got no later touch and no answer within the usual "
           "gap to the next step plus a day"),
    Metric("reply_rate_by_personalisation", "reply within 3 days, by personalisation",
           "personalisation", "share", "higher",
           partial(M.personalised, names=POSITIVE_RESPONSES, days=3, same_channel=True),
           "touches answered on their channel within 3 days, by personalisation level, "
           "and by level within a channel (levels are not spread evenly over channels)"),
    Metric("meeting_rate_by_personalisation", "meeting booked within 3 days, by "
           "personalisation", "personalisation", "share", "higher",
           partial(M.personalised, names=("demo_request",), days=3, same_channel=False),
           "touches followed by a demo request within 3 days (credited to the latest "
           "touch), by personalisation level"),
    Metric("score_to_conversion", "conversion above the score threshold", "scoring",
           "share", "higher", M.score_conversion, "leads at or above the threshold at the "
           "week's start converting within the horizon (Aalen-Johansen: lost and opted-out "
           "leads count as not converting, not as censored; interval only once "
           "mature)"),
    Metric("score_decay_rate", "flagged leads falling below the threshold", "scoring",
           "share", "lower", M.score_decay, "leads at or above the threshold at the week's "
           "start that are below it at its end, still open"),
    Metric("task_completion", "cadence tasks done", "queues", "share", "higher",
           partial(M.completion, on_time=False), "cadence steps due in the week "
           "done within 3 days of their due time, late or not (judged once the 3 days "
           "have passed)"),
    Metric("overdue_tasks", "overdue tasks at the week's end", "queues", "count", "lower",
           partial(M.overdue, what="count"), "steps more than a day past due, not done, lead "
           "still uncontacted, open and not opted out"),
    Metric("overdue_task_age_hours", "age of overdue tasks (median hours)", "queues",
           "hours", "lower", partial(M.overdue, what="age"), "hours since the overdue "
           "tasks at the week's end fell due"),
)
_GENERAL = {m.name: m for m in (*_INTAKE, *_AFTER_STAGES)}


def _stage_conversion(stage: str, next_stage: str | None) -> Metric:
    return Metric(f"stage_conversion.{stage}",
                  f"{stage} → {next_stage or 'next stage'} in the week", "stages", "share",
                  "higher", partial(M.stage_flow, stage=stage),
                  "of the leads in the stage at some time during the week, the share that "
                  "moved on during it")


def _past_target(stage: str, target_days: float | None) -> Metric:
    window = f"{target_days:g} days" if target_days else "its target"
    return Metric(f"past_target.{stage}", f"{stage}: open past {window}", "stages", "share",
                  "lower", partial(M.past_target, stage=stage),
                  "open leads in the stage at the week's end that have sat there longer than "
                  "its target window")


def build_metrics(funnel: Funnel = DEFAULT_FUNNEL) -> dict[str, Metric]:
    """Every weekly metric of a report on ``funnel``, by name, in the report's order.

    The stage metrics follow the funnel's own stages: ``stage_conversion.<stage>`` for every
    stage but the conversion one, ``past_target.<stage>`` for every stage with
    ``target_days``.

    Examples
    --------
    >>> from nurturelab.funnel import Funnel, Stage
    >>> two = Funnel((Stage("mql", "sdr", exit_on=("reply",), target_days=3),
    ...               Stage("won", "ae")))
    >>> [n for n in build_metrics(two) if n.split(".")[0] in STAGE_METRICS]
    ['stage_conversion.mql', 'past_target.mql']
    >>> build_metrics(two)["stage_conversion.mql"].label
    'mql → won in the week'
    """
    if not isinstance(funnel, Funnel):
        raise TypeError(f"The 'funnel' parameter of build_metrics must be a Funnel. Got "
                        f"{type(funnel).__name__} instead.")
    per_stage = []
    for k, stage in enumerate(funnel.stages[:-1]):
        per_stage.append(_stage_conversion(stage.name, funnel.names[k + 1]))
        if stage.target_days:
            per_stage.append(_past_target(stage.name, stage.target_days))
    return {m.name: m for m in (*_INTAKE, *per_stage, *_AFTER_STAGES)}


METRICS: dict[str, Metric] = build_metrics(DEFAULT_FUNNEL)
"""Every weekly metric of a report on the default funnel, by name (another funnel has its own
stage metrics: :func:`build_metrics`)."""


def _known(funnel: Funnel | None) -> str:
    if funnel is None:
        return (f"{', '.join(sorted(_GENERAL))}, and per stage "
                f"{', '.join(f'{k}.<stage>' for k in STAGE_METRICS)}")
    return ", ".join(build_metrics(funnel))


def lookup(name: str, funnel: Funnel | None = None) -> Metric:
    """The metric called ``name`` in the registry of ``funnel``.

    Without a funnel, a stage metric of any stage is accepted (``stage_conversion.mql``): a
    target file is read before the funnel it is checked against is known.

    Raises
    ------
    KeyError
        Naming the metric and the known ones.

    Examples
    --------
    >>> lookup("stage_conversion.mql").better
    'higher'
    >>> lookup("stage_conversion.mql", DEFAULT_FUNNEL)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    KeyError: "unknown metric 'stage_conversion.mql'; known metrics: speed_to_first_contact_min, ...
    """
    name = str(name)
    if funnel is not None:
        reg = build_metrics(funnel)
        if name in reg:
            return reg[name]
    elif name in _GENERAL:
        return _GENERAL[name]
    else:
        kind, _, stage = name.partition(".")
        if kind in STAGE_METRICS and re.fullmatch(r"[a-z0-9_]+", stage):
            return (_stage_conversion(stage, None) if kind == "stage_conversion"
                    else _past_target(stage, None))
    raise KeyError(f"unknown metric {name!r}; known metrics: {_known(funnel)}")


def metric_table(data: ReportData, names: Iterable[str] | None = None
                 ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Compute metrics: the long table and, for each unavailable one, why.

    Parameters
    ----------
    data : ReportData
        From :func:`~nurturelab.report.data.prepare`; its funnel sets the stage metrics.
    names : iterable of str, optional
        Metrics to compute (every metric of the funnel by default).

    Returns
    -------
    table : DataFrame
        ``metric``, ``week``, ``segment``, ``value``, ``n``, ``low``, ``high``.
    why : dict
        For each metric that could not be computed, the reason (the input the export lacks).

    Examples
    --------
    >>> from nurturelab.report.data import prepare
    >>> from nurturelab.synthetic import make_export
    >>> leads, events = make_export(n_leads=300, seed=1)
    >>> data = prepare(leads, events, week="2026-W40", weeks=3)
    >>> table, why = metric_table(data, ["conversion", "objection_resolution"])
    >>> sorted(table["week"].unique())
    ['2026-W38', '2026-W39', '2026-W40']
    >>> why["objection_resolution"].startswith("needs the events column")
    True
    """
    registry = build_metrics(data.funnel)
    names = list(registry) if names is None else list(names)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; known: {sorted(registry)}")
    frames, why = [], {}
    for n in names:
        try:
            t = registry[n].compute(data)
        except MetricUnavailable as exc:
            why[n] = str(exc)
            continue
        if not len(t):
            why[n] = "no data in the weeks shown"
            continue
        frames.append(t.assign(metric=n))
    table = (pd.concat(frames, ignore_index=True)[list(COLUMNS)] if frames
             else pd.DataFrame(columns=list(COLUMNS)))
    table["week"] = pd.Categorical(table["week"], categories=data.labels, ordered=True)
    table = table.sort_values(["metric", "segment", "week"], kind="stable")
    table["week"] = table["week"].astype(str)
    return table.reset_index(drop=True), why
