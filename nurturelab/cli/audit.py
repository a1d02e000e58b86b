"""``nurturelab audit``: the monthly scoring audit, an HTML report and an MLflow run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nurturelab import paths
from nurturelab.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    add_export_args,
    backend_for_files,
    positive_int,
    timestamp,
    tracking_uri,
)
from nurturelab.schema import ExportError, read_column_map, read_export


def _month(text: str) -> str:
    from nurturelab.scoring.audit import month_bounds

    try:
        month_bounds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _threshold_tags(mv) -> dict:
    """The threshold recorded on a model version by ``nurturelab thresholds``."""
    tags = dict(mv.tags or {})
    out = {}
    for key, name in (("threshold", "threshold"), ("threshold.precision", "set_for"),
                      ("threshold.precision_low", "set_for_low"),
                      ("threshold.precision_high", "set_for_high"),
                      ("threshold.capacity_per_day", "capacity_per_day"),
                      ("threshold.days", "days")):
        try:
            value = float(tags[key])
        except (KeyError, ValueError):
            continue
        if pd.notna(value):
            out[name] = value
    if {"set_for", "set_for_low", "set_for_high"} <= set(out):
        out["set_for"] = (out["set_for"], out.pop("set_for_low"), out.pop("set_for_high"))
    return out


def cmd_audit(args: argparse.Namespace) -> int:
    backend_for_files()
    from nurturelab import tracking
    from nurturelab.scoring import audit as A

    start, end = A.month_bounds(args.month)
    ref_start = (pd.Timestamp(start).tz_localize(None).to_period("M")
                 - args.reference_months).start_time.tz_localize("UTC")
    leads_f = args.leads or str(paths.data_dir() / "leads.csv")
    events_f = args.events or str(paths.data_dir() / "events.csv")
    recorded: dict = {}
    params = {"month": args.month, "reference_months": args.reference_months,
              "leads_file": Path(leads_f).name, "events_file": Path(events_f).name}
    try:
        columns = read_column_map(args.columns) if args.columns else None
        leads, events = read_export(leads_f, events_f, columns)
        if args.points is not None:
            from nurturelab.scoring.points import DEFAULT_RULES, read_point_rules

            scorer = read_point_rules(args.points) if args.points else DEFAULT_RULES
            scorer_name = f"points ({Path(args.points).name if args.points else 'default'})"
            horizon = args.horizon_days or 30.0
            params.update(scorer="points", rules=args.points or "default")
        else:
            mv = tracking.model_version(args.model)
            scorer = tracking.load_model(args.model)
            recorded = _threshold_tags(mv)
            fit_params = tracking.run_params(mv.run_id) if mv.run_id else {}
            horizon = args.horizon_days or float(fit_params.get("horizon_days", 30.0))
            scorer_name = f"{tracking.MODEL_NAME}@{args.model} (version {mv.version})"
            params.update(scorer="model", alias=args.model, model_version=mv.version)
            tags = dict(mv.tags or {})
            if recorded and "threshold.days" in tags:
                if abs(float(tags["threshold.days"]) - horizon) > 1e-9:
                    print(f"note: the threshold recorded on version {mv.version} was chosen "
                          f"for conversion within {float(tags['threshold.days']):g} days, this "
                          f"audit judges {horizon:g}; its precision and capacity are not used "
                          "(rerun `nurturelab thresholds` with the same --horizon-days)",
                          file=sys.stderr)
                    recorded = {"threshold": recorded["threshold"]} if args.threshold is None \
                        else {}
            if recorded.get("threshold") is not None:
                recorded["source"] = (f"recorded on version {mv.version}, chosen by "
                                      f"{tags.get('threshold.rule', '?')} at "
                                      f"{tags.get('threshold.as_of', '?')[:10]}")
    except (ExportError, ValueError, LookupError, OSError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    first, last = events["ts"].min(), events["ts"].max()
    until = pd.Timestamp(args.as_of, tz="UTC") if args.as_of else last
    if start > until or end <= first:
        print(f"error: {args.month} is outside the export: its events run from "
              f"{first:%Y-%m-%d} to {last:%Y-%m-%d}" + (f" (audited as of {until:%Y-%m-%d})"
                                                       if args.as_of else ""), file=sys.stderr)
        return EXIT_INVALID
    def times(first_month: pd.Timestamp, n: int) -> list:
        """Snapshots every --every-days from the first of each month."""
        out = []
        for k in range(n):
            a = (first_month.tz_localize(None).to_period("M") + k).start_time.tz_localize("UTC")
            out += list(A.snapshot_times(a, A.month_bounds(f"{a:%Y-%m}")[1],
                                         every_days=args.every_days))
        return out

    rows = {key: A.scored_snapshots(leads, events, scorer, times=t, horizon_days=horizon,
                                    observed_until=until)
            for key, t in (("reference", times(ref_start, args.reference_months)),
                           ("month", times(start, 1)))}
    months = (sorted({f"{t:%Y-%m}" for t in rows["reference"]["as_of"]})
              if len(rows["reference"]) else [])
    asked = f"{ref_start:%Y-%m}..{(start - pd.Timedelta(days=1)):%Y-%m}"
    ref_label = (months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}") if months \
        else asked
    if months and len(months) < args.reference_months:
        print(f"note: of the reference months {asked}, only {', '.join(months)} had open "
              "leads; the reference is those", file=sys.stderr)
    for key, label in (("month", args.month), ("reference", ref_label)):
        if not len(rows[key]):
            print(f"error: {label} has no open leads at its snapshots (every "
                  f"{args.every_days:g} days from the first of the month) in {leads_f}; the "
                  f"export's leads were created from {leads['created_at'].min():%Y-%m-%d} to "
                  f"{leads['created_at'].max():%Y-%m-%d}" + ("; use --reference-months"
                                                             if key == "reference" else ""),
                  file=sys.stderr)
            return EXIT_INVALID
    threshold = args.threshold if args.threshold is not None else recorded.get("threshold")
    source = ("given (--threshold)" if args.threshold is not None
              else recorded.get("source", "given"))
    rules = A.AuditRules(n_boot=args.n_boot)
    try:
        result = A.audit(rows["reference"], rows["month"], threshold=threshold,
                         set_for=recorded.get("set_for") if args.threshold is None else None,
                         capacity_per_day=args.capacity or recorded.get("capacity_per_day"),
                         days=recorded.get("days"), rules=rules, seed=args.seed,
                         labels=(ref_label, args.month), threshold_source=source)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    result.meta["scorer"] = scorer_name
    print(f"Audit of {args.month} against {ref_label}: {scorer_name}, conversion within "
          f"{horizon:g} days, threshold {result.meta['threshold']:.4g} "
          f"({result.meta['threshold_source']}); data until {until:%Y-%m-%d %H:%M} UTC\n")
    print(result.summary())
    out = Path(args.out or f"audit-{args.month}.html")
    params.update(horizon_days=horizon, threshold=result.meta["threshold"],
                  threshold_source=result.meta["threshold_source"], as_of=until.isoformat(),
                  n_boot=args.n_boot, seed=args.seed, every_days=args.every_days)
    if args.no_track:
        result.to_html(out)
    else:
        with tracking.run("audit", params=params, tags={"job": "audit",
                                                       "audit_status": result.status}) as run:
            result.to_html(out)
            checks = result.checks
            tracking.log_metrics({
                f"{g}.{c}".lower().replace(" ", "_"): v
                for g, c, v in zip(checks["group"], checks["check"], checks["value"],
                                   strict=True)})
            tracking.log_table(checks, "checks")
            tracking.log_table(result.drift, "drift")
            tracking.log_table(result.deciles, "deciles")
            tracking.log_file(out, "report")
            print(f"\nMLflow run {run.info.run_id} logged to {tracking_uri()}")
    print(f"report: {out}  (overall: {result.status})")
    return EXIT_FAILED if result.status == "fail" else 0


def register(sub) -> None:
    au = sub.add_parser("audit", help="the monthly scoring audit: drift, discrimination, "
                        "calibration, threshold, decay, stuck leads; an HTML report")
    au.add_argument("--month", type=_month, required=True, help="the month audited, YYYY-MM")
    au.add_argument("--model", default="champion",
                    help="registry alias of the model audited (default champion)")
    au.add_argument("--points", nargs="?", const="", default=None, metavar="RULES.yaml",
                    help="audit behaviour points instead of a model (default rules, or a file)")
    add_export_args(au)
    au.add_argument("--reference-months", type=positive_int, default=3,
                    help="months before the audited one used as reference (default 3)")
    au.add_argument("--horizon-days", type=float, default=None,
                    help="outcome: conversion within this many days (default: the model's)")
    au.add_argument("--threshold", type=float, default=None,
                    help="flag score >= this (default: recorded by `nurturelab thresholds`)")
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
