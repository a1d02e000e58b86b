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
    default_export,
    positive_int,
    tracking_uri,
)
from nurturelab.schema import ExportError


def _week(text: str) -> str:
    from nurturelab.report import week_bounds

    if text == "last":
        return text
    try:
        week_bounds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _targets_file(given: str | None) -> str | None:
    """The targets file: the one given, the sample team's when none is ('none': no targets)."""
    if given == "none":
        return None
    if given is None and (paths.data_dir() / "targets.yaml").is_file():
        return str(paths.data_dir() / "targets.yaml")
    return given


def cmd_report(args: argparse.Namespace) -> int:
    backend_for_files()
    from nurturelab.report import publish, report_files

    leads_f, events_f = default_export(args)
    targets_f = _targets_file(args.targets)
    try:
        report = report_files(leads_f, events_f, columns=args.columns, week=args.week,
                              weeks=args.weeks, targets=targets_f, funnel=args.funnel,
                              points=args.points, threshold=args.threshold,
                              cadence=args.cadence)
    except (ExportError, ValueError, KeyError, OSError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    pd.set_option("display.width", 160)
    print(f"Weekly report {report.week} from {Path(leads_f).name} + {Path(events_f).name}\n")
    print(report.to_text())
    out = Path(args.out or f"weekly-{report.week}.html")
    params = {"week": report.week, "weeks": args.weeks, "leads_file": Path(leads_f).name,
              "events_file": Path(events_f).name,
              "targets": Path(targets_f).name if targets_f else "none",
              "funnel": Path(args.funnel).name if args.funnel else "default",
              "threshold": args.threshold}
    run_id = publish(report, out, track=not args.no_track, params=params)
    if run_id:
        print(f"\nMLflow run {run_id} logged to {tracking_uri()}")
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
    rp.add_argument("--funnel", default=None, metavar="FUNNEL.yaml",
                    help="the funnel's stages, owners and exit events (default: new, "
                         "contacted, qualified, proposal, won)")
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
