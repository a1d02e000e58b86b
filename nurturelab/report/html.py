"""The weekly report as one self-contained HTML page (see :meth:`WeeklyReport.to_html`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from nurturelab._html import HtmlReport
from nurturelab.report.metrics import GROUPS

if TYPE_CHECKING:  # the page reads a report; the report module imports this one
    from nurturelab.report.weekly import WeeklyReport

__all__ = ["weekly_page"]


def weekly_page(report: WeeklyReport, title: str | None = None, *,
                generated: str | None = None) -> HtmlReport:
    """The page: the targets' status, the biggest loss, the headline table, then per group
    its unavailable metrics with the reason, its weekly trend and its table by segment, and
    the definitions of the report's metrics."""
    page = HtmlReport(title or f"Weekly full-path report: {report.week}",
                      f"weeks {report.weeks[0]} to {report.week} · data until "
                      f"{report.as_of:%Y-%m-%d %H:%M} UTC", generated=generated)
    if len(report.targets):
        page.status_summary(report.targets, name="target")
    if report.loss:
        lo = report.loss
        page.note(f"Biggest loss against last week: {lo['metric']} ({lo['segment']}) went "
                  f"from {lo['before']:.1%} to {lo['after']:.1%} over {lo['leads']} leads.",
                  "warn")
    page.heading("Targets")
    if len(report.targets):
        page.table(report.targets, status_column="status")
    else:
        page.paragraph("No targets given (write them in a YAML file, see read_targets).")
    page.heading("This week against last week")
    page.table(report.headline().reset_index(), float_format="{:,.3f}")
    registry = report.metrics
    for group in GROUPS:
        _group_section(page, report, group, [m for m in registry if registry[m].group == group])
    page.heading("Definitions")
    page.table(pd.DataFrame([{"metric": m.name, "group": m.group, "unit": m.unit,
                              "better": m.better, "definition": m.description or m.label}
                             for m in registry.values()]))
    return page


def _group_section(page: HtmlReport, report: WeeklyReport, group: str, names: list[str]) -> None:
    """One group: its unavailable metrics (with the reason), its chart and its segments."""
    import matplotlib.pyplot as plt

    registry = report.metrics
    page.heading(group.capitalize())
    for m in names:
        if m in report.unavailable:
            page.note(f"{registry[m].label}: unavailable: {report.unavailable[m]}", "skip")
    present = [m for m in names if m in set(report.table["metric"])]
    if not present:
        return
    fig, ax = plt.subplots(figsize=(8, 3.5))
    try:
        report.plot_group(group, ax=ax)
        fig.tight_layout()
        page.figure(fig, f"{group}: weekly trend", alt=f"weekly trend of the {group} metrics")
    finally:
        plt.close(fig)
    t = report.table
    week = t[t["metric"].isin(present) & (t["week"] == report.week) & (t["segment"] != "all")]
    if len(week):
        order = {m: i for i, m in enumerate(registry)}
        week = week.sort_values(["metric", "segment"],
                                key=lambda c: c.map(order) if c.name == "metric" else c)
        page.table(week.drop(columns="week"), f"{report.week} by segment")
