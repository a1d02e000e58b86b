"""``nurturelab thresholds``: choose a score threshold by capacity, precision or value."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from nurturelab.cli.common import (
    EXIT_INVALID,
    backend_for_files,
    load_export,
    timestamp,
    tracking_uri,
)
from nurturelab.schema import ExportError


def cmd_thresholds(args: argparse.Namespace) -> int:
    backend_for_files()
    import matplotlib.pyplot as plt

    from nurturelab import tracking
    from nurturelab.scoring.features import label, snapshot
    from nurturelab.scoring.points import scores
    from nurturelab.scoring.thresholds import choose_threshold

    need = {"capacity": ("capacity", "--capacity"), "precision": ("precision", "--precision"),
            "value": ("deal_value", "--deal-value")}[args.by]
    if not getattr(args, need[0]):
        print(f"error: --by {args.by} needs {need[1]}", file=sys.stderr)
        return EXIT_INVALID
    try:
        leads, events = load_export(args)
        model = tracking.load_model(args.alias) if args.scorer == "model" else None
    except (ExportError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.horizon_days is None:  # the model's own outcome window, else 30 days
        args.horizon_days = 30.0
        if model is not None:
            mv = tracking.model_version(args.alias)
            fitted = tracking.run_params(mv.run_id) if mv.run_id else {}
            args.horizon_days = float(fitted.get("horizon_days", 30.0))
    as_of = (pd.Timestamp(args.as_of, tz="UTC") if args.as_of
             else events["ts"].max() - pd.Timedelta(days=args.horizon_days))
    y = label(leads, events, as_of=as_of, horizon_days=args.horizon_days)
    from nurturelab.funnel import outcomes

    # a threshold decides whom to work: choose it on the leads still open (not lost), the
    # population `score apply` ranks and `nurturelab audit` checks
    status = outcomes(leads, events, as_of=as_of)["status"].astype(str)
    y = y[status.reindex(y.index).eq("open").to_numpy()]
    if model is not None:
        X = snapshot(leads, events, as_of=as_of).loc[y.index]
        score = model.predict_proba(X)[:, 1]
    else:
        score = scores(leads, events, as_of=as_of)["score"].reindex(y.index).to_numpy()
    try:
        choice = choose_threshold(y.to_numpy(), score, days=args.horizon_days, by=args.by,
                                  capacity_per_day=args.capacity,
                                  target_precision=args.precision,
                                  deal_value=args.deal_value or 0.0, cost_per_lead=args.cost)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{len(y):,d} leads open (neither won nor lost) at {as_of:%Y-%m-%d}, scored by "
          f"{'the ' + args.alias + ' model' if model is not None else 'the default points'}; "
          f"{int(y.sum()):,d} converted within {args.horizon_days:g} days\n")
    cols = ["threshold", "flagged", "flagged_per_day", "precision", "recall"]
    if args.deal_value or args.cost:
        cols.append("expected_value")
    table = choice.table[cols]
    print(table.iloc[:: max(1, len(table) // 12)].to_string(index=False,
                                                         float_format=lambda v: f"{v:,.3f}"))
    print(f"\nchosen by {args.by}: threshold {choice.threshold:.4g}")
    shown = choice.ci if (args.deal_value or args.cost) else choice.ci.drop(
        index="expected_value")
    print(shown.to_string(float_format=lambda v: f"{v:,.3f}"))
    params = {"by": args.by, "scorer": args.scorer, "alias": args.alias, "as_of":
              as_of.isoformat(), "horizon_days": args.horizon_days, "capacity": args.capacity,
              "target_precision": args.precision, "deal_value": args.deal_value,
              "cost_per_lead": args.cost}
    with tracking.run("thresholds", params=params, tags={"job": "thresholds"}) as run:
        tracking.log_metrics({"threshold": choice.threshold,
                              **{f"{m}.{c}": v for m, row in choice.ci.iterrows()
                                 for c, v in row.items()}})
        tracking.log_table(choice.table, "thresholds")
        fig, ax = plt.subplots(figsize=(8, 4))
        choice.plot(ax=ax)
        fig.tight_layout()
        tracking.log_figure(fig, "thresholds")
        plt.close(fig)
        print(f"\nMLflow run {run.info.run_id} logged to {tracking_uri()}")
        if model is not None:
            prec = choice.ci.loc["precision"]
            version = tracking.tag_model_version(args.alias, {
                "threshold": choice.threshold, "threshold.rule": args.by,
                "threshold.precision": prec["estimate"], "threshold.precision_low": prec["low"],
                "threshold.precision_high": prec["high"],
                "threshold.capacity_per_day": args.capacity if args.by == "capacity" else "",
                "threshold.days": args.horizon_days, "threshold.as_of": as_of.isoformat(),
                "threshold.run_id": run.info.run_id})
            print(f"recorded on {tracking.MODEL_NAME} version {version} (@{args.alias}); "
                  f"`nurturelab audit` checks against it")
    return 0


def register(sub) -> None:
    th = sub.add_parser("thresholds", help="choose a score threshold by capacity, precision or "
                                           "value, on a later window's outcomes")
    th.add_argument("--leads", required=True, help="leads file")
    th.add_argument("--events", required=True, help="events file")
    th.add_argument("--columns", default=None, help="column map (YAML)")
    th.add_argument("--by", choices=["capacity", "precision", "value"], required=True)
    th.add_argument("--capacity", type=float, default=None,
                    help="leads the team can work a day (for --by capacity)")
    th.add_argument("--precision", type=float, default=None,
                    help="target precision (for --by precision)")
    th.add_argument("--deal-value", type=float, default=None, help="value of a won deal")
    th.add_argument("--cost", type=float, default=0.0, help="cost of working one lead")
    th.add_argument("--scorer", choices=["model", "points"], default="model",
                    help="the registered model (by --alias) or the default behaviour points")
    th.add_argument("--alias", default="champion", help="model alias (default champion)")
    th.add_argument("--horizon-days", type=float, default=None,
                    help="outcome window after the snapshot; flagged leads spread over it "
                         "(default: the model's, else 30)")
    th.add_argument("--as-of", type=timestamp, default=None,
                    help="snapshot (default: last event - horizon)")
    th.set_defaults(func=cmd_thresholds)
