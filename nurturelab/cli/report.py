"""``nurturelab report``: the weekly full-path report against the team's targets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nurturelab import paths
from nurturelab.cli.common import (
    EXIT_INVALID,
    add_export_args,
    backend_for_files,
    positive_int,
    tracking_uri,
)
from nurturelab.schema import ExportError, read_column_map, read_export


def _week(text: str) -> str:
    from nurturelab.report import week_bounds

    if text == "last":
        return text
    try:
        week_bounds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def cmd_report(args: argparse.Namespace) -> int:
    backend_for_files()
    from nurturelab import tracking
    from nurturelab.report import read_targets, week_bounds, week_label, weekly_report

    leads_f = args.leads or str(paths.data_dir() / "leads.csv")
    events_f = args.events or str(paths.data_dir() / "events.csv")
    targets_f = args.targets
    if targets_f is None and (paths.data_dir() / "targets.yaml").is_file():
        targets_f = str(paths.data_dir() / "targets.yaml")
    try:
        columns = read_column_map(args.columns) if args.columns else None
        leads, events = read_export(leads_f, events_f, columns)
        targets = read_targets(targets_f) if targets_f and targets_f != "none" else ()
        rules = None
        if args.points:
            from nurturelab.scoring.points import read_point_rules

            rules = read_point_rules(args.points)
        week = args.week
        if week == "last":  # the last week the export covers to its final day (Sunday)
            last = events["ts"].max()
            week = week_label(last)
            if last < week_bounds(week)[1] - pd.Timedelta(days=1):
                week = week_label(week_bounds(week)[0] - pd.Timedelta(days=1))
        report = weekly_report(leads, events, week=week, weeks=args.weeks, targets=targets,
                               threshold=args.threshold, rules=rules, cadence=args.cadence)
    except (ExportError, ValueError, KeyError, OSError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    pd.set_option("display.width", 160)
    print(f"Weekly report {week} (weeks {report.weeks[0]} to {week}; data until "
          f"{report.as_of:%Y-%m-%d %H:%M} UTC) from {Path(leads_f).name} + "
          f"{Path(events_f).name}\n")
    head = report.headline()[["metric_label", "this_week", "last_week", "change"]]
    print(head.to_string(float_format=lambda v: f"{v:,.3f}"))
    for name, why in report.unavailable.items():
        print(f"unavailable: {name}: {why}")
    if len(report.targets):
        print("\nTargets:")
        print(report.targets[["target", "segment", "goal", "value", "status", "trend",
                              "detail"]].to_string(index=False,
                                                   float_format=lambda v: f"{v:,.3f}"))
    if report.loss:
        lo = report.loss
        print(f"\nBiggest loss against last week: {lo['metric']} ({lo['segment']}) "
              f"{lo['before']:.1%} -> {lo['after']:.1%} over {lo['leads']:,d} leads")
    out = Path(args.out or f"weekly-{week}.html")
    if args.no_track:
        report.to_html(out)
    else:
        params = {"week": week, "weeks": args.weeks, "leads_file": Path(leads_f).name,
                  "events_file": Path(events_f).name,
                  "targets": Path(targets_f).name if targets_f else "none",
                  "threshold": args.threshold}
        with tracking.run("weekly-report", params=params, tags={"job": "report"}) as run:
            report.to_html(out)
            tracking.log_metrics({k: v for k, v in report.headline()["this_week"].items()})
            tracking.log_table(report.table, "metrics")
            if len(report.targets):
                tracking.log_table(report.targets, "targets")
            tracking.log_file(out, "report")
            print(f"\nMLflow run {run.info.run_id} logged to {tracking_uri()}")
    print(f"report: {out}")
    return 0


def register(sub) -> None:
    rp = sub.add_parser("report", help="the weekly full-path report against the team's "
                        "targets; an HTML report")
    rp.add_argument("--week", type=_week, default="last",
                    help="ISO week, YYYY-Www (default: the last full week of the export)")
    add_export_args(rp)
    rp.add_argument("--targets", default=None,
                    help="targets YAML (default data/targets.yaml; 'none' for no targets)")
    rp.add_argument("--weeks", type=positive_int, default=8, help="weeks shown (default 8)")
    rp.add_argument("--threshold", type=float, default=None,
                    help="score threshold (default: the point rules' own, else the 80th "
                         "percentile)")
    rp.add_argument("--points", default=None, metavar="RULES.yaml",
                    help="point rules (default: the built-in rules)")
    rp.add_argument("--cadence", default=None, metavar="NAME|FILE",
                    help="the cadence the team runs (built-in name or YAML): when steps are "
                         "due (default: the fastest tenth of the observed times)")
    rp.add_argument("--out", default=None, help="HTML report (default weekly-YYYY-Www.html)")
    rp.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    rp.set_defaults(func=cmd_report)
