"""``nurturelab thresholds``: choose a score threshold by capacity, precision or value.

The command parses, calls :func:`nurturelab.scoring.thresholds.choose_threshold_for_export`,
prints, logs the run and, for a model, records the threshold on its version under the rule
that chose it (:class:`~nurturelab.scoring.thresholds.RecordedThreshold`: one record per rule,
so choosing by value keeps the capacity threshold), which ``nurturelab audit`` reads.
"""

from __future__ import annotations

import argparse
import sys

from nurturelab.cli.common import (
    EXIT_INVALID,
    add_model_name_arg,
    backend_for_files,
    load_export,
    timestamp,
    tracking_uri,
)
from nurturelab.schema import ExportError


def _print_choice(choice, args: argparse.Namespace, scorer_name: str) -> None:
    print(f"{choice.n_leads:,d} leads open (neither won nor lost) at {choice.as_of:%Y-%m-%d}, "
          f"scored by {scorer_name}; {choice.n_converted:,d} converted within "
          f"{choice.days:g} days\n")
    cols = ["threshold", "flagged", "flagged_per_day", "precision", "recall"]
    valued = bool(args.deal_value or args.cost)
    if valued:
        cols.append("expected_value")
    table = choice.table[cols]
    print(table.iloc[:: max(1, len(table) // 12)].to_string(index=False,
                                                         float_format=lambda v: f"{v:,.3f}"))
    print(f"\nchosen by {args.by}: threshold {choice.threshold:.4g}")
    shown = choice.ci if valued else choice.ci.drop(index="expected_value")
    print(shown.to_string(float_format=lambda v: f"{v:,.3f}"))
    for note in choice.notes:
        print(f"\nnote: {note}")


def _log_run(choice, params: dict, alias: str | None,
             registered_name: str) -> tuple[str, str | None]:
    """The MLflow run (the table and its chart) and, for a model, the threshold recorded on
    its version under its rule; returns the run id and the version tagged."""
    import matplotlib.pyplot as plt

    from nurturelab import tracking
    from nurturelab.scoring.thresholds import RecordedThreshold

    tags = {"job": "thresholds", **({"notes": " ".join(choice.notes)} if choice.notes else {})}
    with tracking.run("thresholds", params=params, tags=tags) as run:
        tracking.log_metrics({"threshold": choice.threshold,
                              **{f"{m}.{c}": v for m, row in choice.ci.iterrows()
                                 for c, v in row.items()}})
        tracking.log_table(choice.table, "thresholds")
        fig, ax = plt.subplots(figsize=(8, 4))
        choice.plot(ax=ax)
        fig.tight_layout()
        tracking.log_figure(fig, "thresholds")
        plt.close(fig)
        version = None
        if alias is not None:
            tags = {**RecordedThreshold.from_choice(choice).to_tags(),
                    f"threshold.{choice.rule}.run_id": run.info.run_id}
            version = tracking.tag_model_version(alias, tags, registered_name=registered_name)
        return run.info.run_id, version


def cmd_thresholds(args: argparse.Namespace) -> int:
    backend_for_files()
    from nurturelab import tracking
    from nurturelab.scoring.points import DEFAULT_RULES
    from nurturelab.scoring.thresholds import choose_threshold_for_export

    need = {"capacity": ("capacity", "--capacity"), "precision": ("precision", "--precision"),
            "value": ("deal_value", "--deal-value")}[args.by]
    if not getattr(args, need[0]):
        print(f"error: --by {args.by} needs {need[1]}", file=sys.stderr)
        return EXIT_INVALID
    try:
        leads, events = load_export(args)
        by_model = args.scorer == "model"
        name = args.model_name
        scorer = tracking.load_model(args.alias, registered_name=name) if by_model \
            else DEFAULT_RULES
        horizon = args.horizon_days
        if horizon is None:  # the model's own outcome window, else 30 days
            horizon = (tracking.model_horizon_days(args.alias, registered_name=name)
                       if by_model else None) or 30.0
        choice = choose_threshold_for_export(
            leads, events, scorer, by=args.by, as_of=args.as_of, horizon_days=horizon,
            capacity_per_day=args.capacity, target_precision=args.precision,
            deal_value=args.deal_value or 0.0, cost_per_lead=args.cost)
    except (ExportError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    _print_choice(choice, args, f"{args.model_name}@{args.alias}" if by_model
                  else "the default points")
    params = {"by": args.by, "scorer": args.scorer, "alias": args.alias,
              "model_name": args.model_name if by_model else "",
              "as_of": choice.as_of.isoformat(), "horizon_days": horizon,
              "capacity": args.capacity, "target_precision": args.precision,
              "deal_value": args.deal_value, "cost_per_lead": args.cost}
    run_id, version = _log_run(choice, params, args.alias if by_model else None,
                               args.model_name)
    print(f"\nMLflow run {run_id} logged to {tracking_uri()}")
    if version is not None:
        _print_recorded(args, version)
    return 0


def _print_recorded(args: argparse.Namespace, version: str) -> None:
    """Which thresholds the version now records, and which one the audit reads."""
    from nurturelab import tracking
    from nurturelab.scoring.thresholds import RecordedThreshold

    _, tags = tracking.recorded_threshold(args.alias, registered_name=args.model_name)
    found = RecordedThreshold.all_from_tags(tags, version=version)
    audited = RecordedThreshold.from_tags(tags, version=version)
    listed = ", ".join(f"{rule} {rec.threshold:.4g}" for rule, rec in sorted(found.items()))
    print(f"recorded on {args.model_name} version {version} (@{args.alias}) as its {args.by} "
          f"threshold; thresholds recorded there: {listed}. `nurturelab audit` holds a month "
          f"to the {audited.rule} one (--threshold-by chooses another)")


def register(sub) -> None:
    th = sub.add_parser("thresholds", help="choose a score threshold by capacity, precision or "
                                           "value, on a later window's outcomes")
    th.add_argument("--leads", required=True, help="leads file")
    th.add_argument("--events", required=True, help="events file")
    th.add_argument("--columns", default=None, help="column map (YAML)")
    th.add_argument("--by", choices=["capacity", "precision", "value"], required=True,
                    help="the criterion: leads a day the team can call (--capacity), a "
                         "target precision (--precision) or the most expected value "
                         "(--deal-value, --cost)")
    th.add_argument("--capacity", type=float, default=None,
                    help="leads the team can work a day (for --by capacity)")
    th.add_argument("--precision", type=float, default=None,
                    help="target precision (for --by precision)")
    th.add_argument("--deal-value", type=float, default=None, help="value of a won deal")
    th.add_argument("--cost", type=float, default=0.0, help="cost of working one lead")
    th.add_argument("--scorer", choices=["model", "points"], default="model",
                    help="the registered model (by --alias) or the default behaviour points")
    th.add_argument("--alias", default="champion", help="model alias (default champion)")
    add_model_name_arg(th)
    th.add_argument("--horizon-days", type=float, default=None,
                    help="outcome window after the snapshot; flagged leads spread over it "
                         "(default: the model's, else 30)")
    th.add_argument("--as-of", type=timestamp, default=None,
                    help="snapshot (default: last event - horizon)")
    th.set_defaults(func=cmd_thresholds)
