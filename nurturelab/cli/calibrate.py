"""``nurturelab calibrate``: fit the simulated world from an export and write it as a scenario."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from nurturelab.cli.common import (
    EXIT_INVALID,
    add_export_args,
    backend_for_files,
    timestamp,
    tracking_uri,
)
from nurturelab.schema import ExportError, read_column_map, read_export


def cmd_calibrate(args: argparse.Namespace) -> int:
    from nurturelab import tracking
    from nurturelab.twin.calibrate import calibrate

    start = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - start:5.1f} s] {line}", file=sys.stderr, flush=True)

    out = Path(args.out)
    if out.suffix not in (".yaml", ".yml") or out.is_dir():
        print(f"error: --out must name a scenario file ending in .yaml, got {args.out!r}",
              file=sys.stderr)
        return EXIT_INVALID
    try:
        columns = read_column_map(args.columns) if args.columns else None
        say("reading and validating the export")
        leads, events = read_export(args.leads, args.events, columns)
        zone = None
        if columns is not None and columns.events.timezone != "UTC":
            zone = columns.events.timezone
        cal = calibrate(leads, events, cadence=args.cadence, since=args.since, until=args.until,
                        timezone=zone,
                        source={"leads": Path(args.leads).name, "events": Path(args.events).name},
                        progress=say)
    except (ExportError, ValueError, KeyError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    path = cal.write(out, name=args.name)
    table = path.with_name(f"{path.stem}.parameters.csv")
    say("done")
    pd.set_option("display.width", 160)
    pd.set_option("display.max_rows", 400)
    print("\n".join(cal._header()))
    shown = cal.summary[["estimate", "ci_low", "ci_high", "n", "status"]]
    print()
    print(shown.to_string(float_format=lambda v: f"{v:,.4g}", na_rep="-"))
    print(f"\nscenario: {path}\nparameters: {table}")
    print(f"next: nurturelab backtest {path} --leads {args.leads} --events {args.events}"
          + (f" --columns {args.columns}" if args.columns else "")
          + " --holdout-from DATE (weeks after the training window)")
    if not args.no_track:
        backend_for_files()
        params = {"leads_file": Path(args.leads).name, "events_file": Path(args.events).name,
                  "until": cal.until.isoformat(), "cadence": args.cadence or "fitted",
                  "parameters": len(cal.table)}
        counts = cal.table["status"].value_counts()
        with tracking.run("calibrate", params=params, tags={"job": "calibrate"}) as run:
            tracking.log_metrics({f"parameters.{k}": float(v) for k, v in counts.items()})
            tracking.log_table(cal.table, "parameters")
            tracking.log_file(path, "scenario")
            print(f"MLflow run {run.info.run_id} logged to {tracking_uri()}")
    return 0


def register(sub) -> None:
    c = sub.add_parser("calibrate", help="fit the simulated world from an export (the twin) "
                                         "and write it as a scenario file")
    add_export_args(c, required=True)
    c.add_argument("--cadence", default=None, metavar="NAME|FILE",
                   help="the cadence to use (built-in name or YAML; default: the one the team "
                        "ran, read off the events)")
    c.add_argument("--since", type=timestamp, default=None,
                   help="train on leads created from this time on (default: all), e.g. when "
                        "the CRM began recording won deals")
    c.add_argument("--until", type=timestamp, default=None,
                   help="train on leads and events up to this time (default: all); hold the "
                        "weeks after it out for `nurturelab backtest`")
    c.add_argument("--out", required=True, help="the scenario file to write (twin.yaml); its "
                   "parameter table goes beside it (twin.parameters.csv)")
    c.add_argument("--name", default=None, help="the scenario's name (default: the file's)")
    c.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    c.set_defaults(func=cmd_calibrate)
