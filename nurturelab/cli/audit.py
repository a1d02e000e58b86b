"""``nurturelab audit``: the monthly scoring audit, an HTML report and an MLflow run.

The command parses, reads the model and the threshold recorded on it from the registry, calls
:func:`nurturelab.scoring.audit.audit_month`, prints, writes the report and logs the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nurturelab.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    add_export_args,
    add_model_name_arg,
    backend_for_files,
    default_export,
    load_export,
    positive_int,
    timestamp,
    tracking_uri,
)
from nurturelab.schema import ExportError


def _month(text: str) -> str:
    from nurturelab.scoring.audit import month_bounds

    try:
        month_bounds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _scorer(args: argparse.Namespace) -> tuple:
    """The scorer, its name, run params naming it, the threshold recorded for it (a model's)
    and the horizon it predicts (None: the audit's default)."""
    from nurturelab import tracking
    from nurturelab.scoring.thresholds import RecordedThreshold

    if args.points is not None:
        from nurturelab.scoring.points import DEFAULT_RULES, read_point_rules

        scorer = read_point_rules(args.points) if args.points else DEFAULT_RULES
        name = f"points ({Path(args.points).name if args.points else 'default'})"
        return (scorer, name, {"scorer": "points", "rules": args.points or "default"}, None,
                args.horizon_days)
    name = args.model_name
    scorer = tracking.load_model(args.model, registered_name=name)
    version, tags = tracking.recorded_threshold(args.model, registered_name=name)
    horizon = (args.horizon_days if args.horizon_days is not None
               else tracking.model_horizon_days(args.model, registered_name=name))
    recorded = RecordedThreshold.from_tags(tags, version=version, rule=args.threshold_by)
    if recorded is None and args.threshold_by and args.threshold is None:
        found = sorted(RecordedThreshold.all_from_tags(tags))
        raise LookupError(
            f"no threshold chosen by {args.threshold_by} is recorded on {name} version "
            f"{version} (recorded: {', '.join(found) or 'none'}); choose one with `nurturelab "
            f"thresholds --by {args.threshold_by} ...` or leave out --threshold-by")
    return (scorer, f"{name}@{args.model} (version {version})",
            {"scorer": "model", "alias": args.model, "model_name": name,
             "model_version": version}, recorded, horizon)


def _log_run(result, out: Path, params: dict) -> str:
    """The MLflow run of the audit: params, a metric per check, the tables and the report."""
    from nurturelab import tracking

    checks = result.checks
    with tracking.run("audit", params=params,
                      tags={"job": "audit", "audit_status": result.status}) as run:
        result.to_html(out)
        tracking.log_metrics({f"{g}.{c}".lower().replace(" ", "_"): v
                              for g, c, v in zip(checks["group"], checks["check"],
                                                 checks["value"], strict=True)})
        tracking.log_table(checks, "checks")
        tracking.log_table(result.drift, "drift")
        tracking.log_table(result.deciles, "deciles")
        tracking.log_file(out, "report")
        return run.info.run_id


def cmd_audit(args: argparse.Namespace) -> int:
    backend_for_files()
    from nurturelab.scoring.audit import AuditRules, AuditSettings, audit_month

    leads_f, events_f = default_export(args)
    try:
        leads, events = load_export(args)
        scorer, scorer_name, params, recorded, horizon = _scorer(args)
        given = args.threshold is not None
        settings = AuditSettings(
            threshold=args.threshold, capacity_per_day=args.capacity or None,
            horizon_days=horizon, rules=AuditRules(n_boot=args.n_boot),
            seed=args.seed, threshold_source="given (--threshold)" if given else "given")
        result = audit_month(leads, events, scorer, args.month, settings=settings,
                             recorded=recorded, reference_months=args.reference_months,
                             every_days=args.every_days, observed_until=args.as_of,
                             scorer_name=scorer_name)
    except (ExportError, ValueError, LookupError, OSError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(result.to_text())
    out = Path(args.out or f"audit-{args.month}.html")
    m = result.meta
    params.update(month=args.month, reference_months=args.reference_months,
                  leads_file=Path(leads_f).name, events_file=Path(events_f).name,
                  horizon_days=m["horizon_days"], threshold=m["threshold"],
                  threshold_source=m["threshold_source"],
                  as_of=m["observed_until"].isoformat(), n_boot=args.n_boot, seed=args.seed,
                  every_days=args.every_days)
    if args.no_track:
        result.to_html(out)
    else:
        run_id = _log_run(result, out, params)
        print(f"\nMLflow run {run_id} logged to {tracking_uri()}")
    print(f"report: {out}  (overall: {result.status})")
    return EXIT_FAILED if result.status == "fail" else 0


def register(sub) -> None:
    au = sub.add_parser("audit", help="the monthly scoring audit: drift, discrimination, "
                        "calibration, threshold, decay, stuck leads; an HTML report")
    au.add_argument("--month", type=_month, required=True, help="the month audited, YYYY-MM")
    au.add_argument("--alias", "--model", dest="model", default="champion",
                    help="registry alias of the model audited (default champion; --model is "
                         "the older spelling)")
    add_model_name_arg(au)
    au.add_argument("--points", nargs="?", const="", default=None, metavar="RULES.yaml",
                    help="audit behaviour points instead of a model (default rules, or a file)")
    add_export_args(au)
    au.add_argument("--reference-months", type=positive_int, default=3,
                    help="months before the audited one used as reference (default 3)")
    au.add_argument("--horizon-days", type=float, default=None,
                    help="outcome: conversion within this many days (default: the model's)")
    au.add_argument("--threshold", type=float, default=None,
                    help="flag score >= this (default: recorded by `nurturelab thresholds`)")
    au.add_argument("--threshold-by", choices=["capacity", "precision", "value"], default=None,
                    help="which recorded threshold to hold the month to (default: the one "
                         "chosen by capacity if recorded, else by precision, else by value)")
    au.add_argument("--capacity", type=float, default=None,
                    help="leads per day the team can work (default: recorded with the "
                         "threshold)")
    au.add_argument("--as-of", type=timestamp, default=None,
                    help="audit as if the export were taken then (default: its last event)")
    au.add_argument("--every-days", type=float, default=7.0, help="days between snapshots")
    au.add_argument("--n-boot", type=positive_int, default=200, help="bootstrap resamples")
    au.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    au.add_argument("--out", default=None, help="HTML report (default audit-YYYY-MM.html)")
    au.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    au.set_defaults(func=cmd_audit)
