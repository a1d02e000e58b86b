"""``nurturelab backtest``: a scenario against the held-out weeks of an export.

The command parses, calls :func:`nurturelab.twin.backtest.backtest`, prints the KPI table and
the verdict, and publishes the HTML report and the MLflow run
(:func:`nurturelab.twin.backtest.publish_backtest`). Exit 0 when every KPI passes, 1 when any
fails, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nurturelab.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    add_export_args,
    at_least_two,
    backend_for_files,
    load_export,
    timestamp,
    tracking_uri,
)
from nurturelab.schema import ExportError


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of days >= 0, got {text!r}")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, or -1 for every core, "
                                         f"got {text!r}")
    return value


def cmd_backtest(args: argparse.Namespace) -> int:
    backend_for_files()
    from nurturelab.scenario import read_scenario
    from nurturelab.twin.backtest import backtest, publish_backtest

    try:
        scenario = read_scenario(args.scenario)
        leads, events = load_export(args)
        result = backtest(scenario, leads, events, holdout_from=args.holdout_from,
                          until=args.until, replications=args.replications, seed=args.seed,
                          warmup_days=args.warmup_days, n_jobs=args.jobs)
    except (ExportError, ValueError, KeyError, OSError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    pd.set_option("display.width", 200)
    print(result.to_text())
    out = Path(args.out or f"backtest-{scenario.name}.html")
    params = {"scenario": scenario.name, "scenario_file": Path(args.scenario).name,
              "leads_file": Path(args.leads).name, "events_file": Path(args.events).name,
              "holdout_from": result.holdout_from.isoformat(),
              "until": result.until.isoformat(), "replications": result.replications,
              "seed": result.seed, "warmup_days": args.warmup_days, "jobs": args.jobs,
              "alpha": result.alpha, "held_out_leads": result.leads,
              "warmup_leads": result.warmup_leads}
    run_id = publish_backtest(result, out, track=not args.no_track, params=params)
    if run_id:
        print(f"\nMLflow run {run_id} logged to {tracking_uri()}")
    print(f"report: {out}")
    print(result.verdict)
    return 0 if result.passed else EXIT_FAILED


def register(sub) -> None:
    bt = sub.add_parser("backtest", help="a scenario against the held-out weeks of an export: "
                        "each KPI inside the scenario's interval, an HTML report")
    bt.add_argument("scenario", help="scenario file (YAML); its baseline world is back-tested")
    add_export_args(bt, required=True)
    bt.add_argument("--holdout-from", type=timestamp, required=True,
                    help="start of the held-out weeks: leads created from then are measured")
    bt.add_argument("--until", type=timestamp, default=None,
                    help="end of the held-out weeks (default: the export's last timestamp)")
    bt.add_argument("--replications", type=at_least_two, default=20,
                    help="simulated replications (default 20)")
    bt.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    bt.add_argument("--jobs", type=_jobs, default=1,
                    help="processes for the replications (default 1; -1: every core)")
    bt.add_argument("--warmup-days", type=_days, default=14.0,
                    help="days of leads before --holdout-from replayed first to load the team, "
                         "not measured (default 14)")
    bt.add_argument("--out", default=None, help="HTML report (default backtest-NAME.html)")
    bt.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    bt.set_defaults(func=cmd_backtest)
