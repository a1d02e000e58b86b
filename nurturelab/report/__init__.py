"""The weekly full-path report: every metric the nurturing practices name, against the targets.

Every metric is a function over the data contract (the ``leads`` and ``events`` tables, real or
simulated) that returns one row per ISO week and segment: ``metric``, ``week`` (``2026-W47``),
``segment`` (``all``, or ``dimension=value`` such as ``intent=high``, ``source=paid_search``,
``channel=sms``, ``content=next_step``), ``value``, ``n`` (what the value is over) and, for
rates, a Wilson interval ``low``-``high``. :func:`build_metrics` lists them for a funnel
(:data:`METRICS` for the default one); :func:`metric_table` computes any subset;
:func:`weekly_report` computes them all with the targets.

Rates are flows within the week, so the newest week is comparable with the older ones: a stage's
conversion is the share of leads in that stage at some time during the week that moved on during
it; conversion and opt-out are over the leads open during the week (not yet won, lost or
opted out). Metrics that wait for an answer (reply within 3 days, contact within the first
stage's 2-day window, a meeting within 3, an objection resolved within 7) count only the
touches or leads whose window has closed by the end of the report, never the open ones as
failures. Score-to-conversion above the threshold is the Aalen-Johansen incidence of conversion
within 7 days of the week's start (censoring-aware, with lost and opted-out leads counted as
not converting rather than censored; see :mod:`nurturelab.scoring.audit`).

Targets are data (:func:`read_targets`): a metric, a segment, a comparison and a deadline, e.g.
"high-intent speed to first contact under 5 minutes by the end of the quarter". The report shows
each one's value this week, whether it is met, its trend, and flags the stage or touchpoint that
lost the most against last week.

A metric whose inputs an export lacks (no touches, no responses, no content tags, no
personalisation levels, no cadence steps, a stage no event enters) is reported as unavailable
with the reason, never as a number, and a target on it is ``pending`` with that reason; a week
with no leads and no events is refused with the export's date range.

The package, in the order its modules import one another:

* :mod:`~nurturelab.report.data`: ISO weeks; :class:`ReportData` and :func:`prepare`;
* :mod:`~nurturelab.report.aggregate`: the long table's aggregation per week and segment, and
  the checks that a metric's inputs are there (:class:`MetricUnavailable`);
* :mod:`~nurturelab.report.measures`: one function per metric;
* :mod:`~nurturelab.report.metrics`: :class:`Metric`, :func:`build_metrics` (per funnel),
  :func:`metric_table`;
* :mod:`~nurturelab.report.targets`: :class:`Target`, :func:`read_targets`,
  :func:`attainment`, the trend, :func:`biggest_loss`;
* :mod:`~nurturelab.report.weekly`: :class:`WeeklyReport`, :func:`weekly_report`,
  :func:`last_full_week`, :func:`report_files`, :func:`publish`;
* :mod:`~nurturelab.report.html`: the HTML page.
"""

from nurturelab.report.aggregate import COLUMNS, MetricUnavailable
from nurturelab.report.data import DIMENSIONS, ReportData, prepare, week_bounds, week_label
from nurturelab.report.measures import OBJECTION
from nurturelab.report.metrics import (
    GROUPS,
    METRICS,
    STAGE_METRICS,
    Metric,
    build_metrics,
    lookup,
    metric_table,
)
from nurturelab.report.targets import (
    SEGMENT_DIMS,
    Target,
    attainment,
    biggest_loss,
    check_targets,
    read_targets,
    trend,
)
from nurturelab.report.weekly import (
    WeeklyReport,
    last_full_week,
    publish,
    report_files,
    weekly_report,
)

__all__ = [
    "COLUMNS",
    "DIMENSIONS",
    "GROUPS",
    "METRICS",
    "OBJECTION",
    "SEGMENT_DIMS",
    "STAGE_METRICS",
    "Metric",
    "MetricUnavailable",
    "ReportData",
    "Target",
    "WeeklyReport",
    "attainment",
    "biggest_loss",
    "build_metrics",
    "check_targets",
    "last_full_week",
    "lookup",
    "metric_table",
    "prepare",
    "publish",
    "read_targets",
    "report_files",
    "trend",
    "week_bounds",
    "week_label",
    "weekly_report",
]
