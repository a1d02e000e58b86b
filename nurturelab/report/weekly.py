"""The weekly report: every metric for a week and the weeks before it, against the targets.

:func:`weekly_report` computes it from the two tables; :func:`report_files` reads an export
and the files that configure the report (the funnel, the targets, the point rules) and computes
it, as ``nurturelab report`` does; :func:`publish` writes its HTML page and logs the MLflow run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.checks import need_columns
from nurturelab.funnel import DEFAULT_FUNNEL, Funnel, read_funnel
from nurturelab.report.data import prepare, week_bounds, week_label
from nurturelab.report.metrics import GROUPS, Metric, build_metrics, metric_table
from nurturelab.report.targets import Target, attainment, biggest_loss, check_targets, read_targets
from nurturelab.result import Result

__all__ = ["WeeklyReport", "last_full_week", "publish", "report_files", "weekly_report"]


@dataclass(repr=False)
class WeeklyReport(Result):
    """The weekly report: the metric table, the targets' attainment, and what was unavailable.

    Attributes
    ----------
    week, weeks : str, list of str
        The reported ISO week and the weeks shown (oldest first, ``week`` last).
    table : DataFrame
        The long metric table (``metric``, ``week``, ``segment``, ``value``, ``n``, ``low``,
        ``high``).
    targets : DataFrame
        Each target's value, status, trend and detail (:func:`~.targets.attainment`).
    unavailable : dict
        Metric name -> why it could not be computed from this export.
    loss : dict or None
        The stage or step that lost the most against last week (:func:`~.targets.biggest_loss`).
    as_of : Timestamp
        The end of the data the report read.
    funnel : Funnel
        The funnel it ran on (its stage metrics are in :attr:`metrics`).
    """

    week: str
    weeks: list[str]
    table: pd.DataFrame
    targets: pd.DataFrame
    unavailable: dict[str, str]
    loss: dict | None
    as_of: pd.Timestamp
    funnel: Funnel = DEFAULT_FUNNEL

    @property
    def metrics(self) -> dict[str, Metric]:
        """The registry of the report's funnel (:func:`~.metrics.build_metrics`)."""
        return build_metrics(self.funnel)

    @property
    def summary(self) -> pd.DataFrame:
        """The headline: every computed metric's ``all`` value this week and last week."""
        return self.headline()

    def _describe(self) -> str:
        met = int((self.targets["status"] == "pass").sum()) if len(self.targets) else 0
        return (f"{self.week}, {self.table['metric'].nunique()} metrics, "
                f"{len(self.unavailable)} unavailable, {met} of {len(self.targets)} targets met")

    def _header(self) -> list[str]:
        lines = [repr(self), f"weeks {self.weeks[0]} to {self.week}; data until "
                             f"{self.as_of:%Y-%m-%d %H:%M} UTC"]
        if len(self.targets):
            cols = ["target", "segment", "goal", "value", "status", "trend", "detail"]
            lines += ["", "Targets:", self.targets[cols].to_string(
                index=False, float_format=lambda v: f"{v:,.3f}", na_rep="-")]
        if self.loss:
            lo = self.loss
            lines += ["", f"Biggest loss against last week: {lo['metric']} ({lo['segment']}) "
                          f"{lo['before']:.1%} -> {lo['after']:.1%} over {lo['leads']:,d} leads"]
        if self.unavailable:
            lines += ["", *[f"unavailable: {name}: {why}"
                            for name, why in self.unavailable.items()]]
        return [*lines, ""]

    def value(self, metric: str, segment: str = "all", week: str | None = None) -> float:
        """One figure of the table (NaN if absent)."""
        t = self.table
        v = t[(t["metric"] == metric) & (t["segment"] == segment)
              & (t["week"] == (week or self.week))]["value"]
        return float(v.iloc[0]) if len(v) else np.nan

    def headline(self) -> pd.DataFrame:
        """Every computed metric's ``all`` value this week and last week, with the change."""
        registry = self.metrics
        t = self.table[self.table["segment"] == "all"]
        wide = t.pivot_table(index="metric", columns="week", values="value", aggfunc="first")
        wide = wide.reindex(index=[m for m in registry if m in wide.index])
        prev = self.weeks[-2] if len(self.weeks) > 1 else None
        out = pd.DataFrame(index=wide.index)
        out["metric_label"] = [registry[m].label for m in out.index]
        out["group"] = [registry[m].group for m in out.index]
        out["this_week"] = wide[self.week] if self.week in wide.columns else np.nan
        out["last_week"] = wide[prev] if prev in wide.columns else np.nan
        out["change"] = out["this_week"] - out["last_week"]
        out["better"] = [registry[m].better for m in out.index]
        return out.rename_axis("metric")

    def plot_group(self, group: str, ax=None):
        """Weekly trend of a group's metrics (segment ``all``): its shares when it has any,
        otherwise its one unit. Returns the axes."""
        from nurturelab.plots import axes

        ax = axes(ax, figsize=(8, 3.5))
        registry = self.metrics
        t = self.table[self.table["segment"] == "all"]
        names = [m for m in registry if registry[m].group == group and m in set(t["metric"])]
        share = [m for m in names if registry[m].unit == "share"]
        for m in share or names:
            g = t[t["metric"] == m]
            ax.plot(g["week"], g["value"], marker="o", label=registry[m].label)
        ax.set_title(group)
        ax.set_ylabel("share" if share else registry[names[0]].unit if names else "")
        ax.tick_params(axis="x", labelrotation=45)
        if names:
            ax.legend(fontsize=7, loc="best")
        return ax

    def plot(self, ax=None, group: str | None = None):
        """The weekly trend of ``group`` (the first group with a computed metric by default);
        returns the axes."""
        if group is None:
            present = {self.metrics[m].group for m in set(self.table["metric"])}
            group = next((g for g in GROUPS if g in present), GROUPS[0])
        return self.plot_group(group, ax=ax)

    def report(self, title: str | None = None, *, generated: str | None = None):
        """The report as an :class:`~nurturelab._html.HtmlReport` (call ``.write(path)``)."""
        from nurturelab.report.html import weekly_page

        return weekly_page(self, title, generated=generated)

    def to_html(self, path: str | Path, **kwargs: Any) -> Path:
        """Write the self-contained HTML report; returns its path."""
        return self.report(**kwargs).write(path)


def weekly_report(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    week: str,
    weeks: int = 8,
    targets: Sequence[Target] = (),
    funnel: Funnel = DEFAULT_FUNNEL,
    threshold: float | None = None,
    rules: Any = None,
    horizon_days: float = 7.0,
    cadence: Any = None,
) -> WeeklyReport:
    """Every metric for ``week`` and the ``weeks - 1`` before it, with the targets.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (real or simulated); not modified.
    week : str
        ISO week, ``YYYY-Www`` (:func:`last_full_week` gives the export's last full one).
    weeks : int, default 8
        Weeks shown (for trends), the reported one last.
    targets : sequence of Target
        From :func:`~nurturelab.report.targets.read_targets`; each must name a metric of the
        funnel's report.
    funnel : Funnel, default DEFAULT_FUNNEL
        The stages the leads move through (:func:`nurturelab.funnel.read_funnel` reads one
        from YAML); the stage metrics are its own.
    threshold, rules, horizon_days
        The score threshold (default: the point rules' lowest threshold, else the 80th
        percentile of scores), the point rules (default
        :data:`~nurturelab.scoring.points.DEFAULT_RULES`) and the conversion horizon of the
        scoring metrics.
    cadence : Cadence or str, optional
        The cadence the team runs (a built-in name, a YAML file or a Cadence): its offsets say
        when each step is due. Without it, a step is due at the fastest tenth of the observed
        times from creation to it.

    Returns
    -------
    WeeklyReport
        A metric whose inputs the export lacks (touches, responses, a column, a stage no event
        enters) is in ``unavailable`` with the reason, and a target on it is ``pending`` with
        that reason.

    Examples
    --------
    >>> from nurturelab.synthetic import make_export
    >>> leads, events = make_export(n_leads=300, seed=1)
    >>> rep = weekly_report(leads, events, week="2026-W40", weeks=2)
    >>> rep.weeks
    ['2026-W39', '2026-W40']
    >>> 0 <= rep.value("conversion") <= 1
    True
    """
    if not isinstance(funnel, Funnel):
        raise TypeError(f"The 'funnel' parameter of weekly_report must be a Funnel (see "
                        f"nurturelab.funnel.read_funnel). Got {type(funnel).__name__} instead.")
    check_targets(targets, funnel)
    data = prepare(leads, events, week=week, weeks=weeks, funnel=funnel, threshold=threshold,
                   rules=rules, horizon_days=horizon_days, cadence=cadence)
    table, why = metric_table(data)
    labels = data.labels
    loss = biggest_loss(table, week, labels[-2]) if len(labels) > 1 else None
    return WeeklyReport(week=week, weeks=labels, table=table,
                        targets=attainment(table, targets, week, why), unavailable=why,
                        loss=loss, as_of=data.as_of, funnel=funnel)


def last_full_week(events: pd.DataFrame) -> str:
    """The last ISO week the export covers to its final day: the week of its last event, or
    the week before when the export stops before that week's Sunday.

    Examples
    --------
    >>> sunday = pd.DataFrame({"ts": pd.to_datetime(["2026-11-01 08:00"], utc=True)})
    >>> last_full_week(sunday), last_full_week(sunday + pd.Timedelta(days=1))
    ('2026-W44', '2026-W44')
    """
    need_columns(events, ["ts"], "events")
    if not len(events):
        raise ValueError("events is empty: an export without events has no last week to "
                         "report; name the week (YYYY-Www)")
    last = events["ts"].max()
    week = week_label(last)
    if last < week_bounds(week)[1] - pd.Timedelta(days=1):
        week = week_label(week_bounds(week)[0] - pd.Timedelta(days=1))
    return week


def report_files(
    leads: str | Path,
    events: str | Path,
    *,
    columns: str | Path | None = None,
    week: str = "last",
    weeks: int = 8,
    targets: str | Path | None = None,
    funnel: str | Path | None = None,
    points: str | Path | None = None,
    threshold: float | None = None,
    cadence: Any = None,
) -> WeeklyReport:
    """Read an export and the report's configuration files, and make the weekly report.

    Parameters
    ----------
    leads, events : str or Path
        The export's files (CSV or Parquet), read through the data contract.
    columns : str or Path, optional
        A column map (YAML) for an export with other column names.
    week : str, default 'last'
        ISO week ``YYYY-Www``, or ``'last'`` for :func:`last_full_week`.
    weeks, threshold, cadence
        As :func:`weekly_report`.
    targets, funnel, points : str or Path, optional
        The targets (:func:`~nurturelab.report.targets.read_targets`), the funnel
        (:func:`~nurturelab.funnel.read_funnel`; default :data:`DEFAULT_FUNNEL`) and the point
        rules (:func:`~nurturelab.scoring.points.read_point_rules`). The configuration files are
        read before the export, so a mistake in them is reported at once.

    Raises
    ------
    ExportError, ValueError, TypeError, KeyError, OSError
        A bad file, named in the message; nothing is computed.
    """
    from nurturelab.schema import read_column_map, read_export
    from nurturelab.scoring.points import read_point_rules

    the_funnel = read_funnel(funnel) if funnel is not None else DEFAULT_FUNNEL
    the_targets = read_targets(targets, funnel=the_funnel) if targets is not None else ()
    rules = read_point_rules(points) if points is not None else None
    column_map = read_column_map(columns) if columns is not None else None
    if week != "last":
        week_bounds(week)
    ld, ev = read_export(leads, events, column_map)
    return weekly_report(ld, ev, week=last_full_week(ev) if week == "last" else week,
                         weeks=weeks, targets=the_targets, funnel=the_funnel,
                         threshold=threshold, rules=rules, cadence=cadence)


def publish(report: WeeklyReport, path: str | Path, *, track: bool = True,
            params: Mapping[str, Any] | None = None) -> str | None:
    """Write the report's HTML page to ``path`` and, with ``track``, log an MLflow run.

    The run (``weekly-report``, tagged ``job=report``) holds ``params``, every headline figure
    of the week as a metric, the metric table and the targets as tables, and the page.

    Returns
    -------
    str or None
        The run's id (None without ``track``).
    """
    if not track:
        report.to_html(path)
        return None
    from nurturelab import tracking

    with tracking.run("weekly-report", params=dict(params or {}),
                      tags={"job": "report"}) as run:
        page = report.to_html(path)
        tracking.log_metrics(dict(report.headline()["this_week"].items()))
        tracking.log_table(report.table, "metrics")
        if len(report.targets):
            tracking.log_table(report.targets, "targets")
        tracking.log_file(page, "report")
        return run.info.run_id
