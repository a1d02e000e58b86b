"""``nurturelab score fit`` and ``nurturelab score apply``: the lead-scoring model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nurturelab.cli.common import EXIT_INVALID, load_export, positive_int, timestamp
from nurturelab.schema import ExportError


def cmd_score_fit(args: argparse.Namespace) -> int:
    from nurturelab.scoring import models

    if args.table:
        return _score_fit_table(args)
    if not (args.leads and args.events):
        print("error: give --leads and --events (an export), or --table (one row per lead with "
              "a converted flag)", file=sys.stderr)
        return EXIT_INVALID
    try:
        leads, events = load_export(args)
    except (ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    horizon = pd.Timedelta(days=args.horizon_days)
    end = events["ts"].max()
    test_from = pd.Timestamp(args.test_from, tz="UTC") if args.test_from else end - horizon
    train_until = (pd.Timestamp(args.train_until, tz="UTC") if args.train_until
                   else test_from - horizon)
    try:
        split = models.temporal_split(leads, events, train_until=train_until,
                                      test_from=test_from, horizon_days=args.horizon_days)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if split.y_train.nunique() < 2 or split.y_test.nunique() < 2:
        print(f"error: the training ({train_until:%Y-%m-%d}) or test ({test_from:%Y-%m-%d}) "
              f"snapshot has no conversions within {args.horizon_days:g} days; choose other "
              "dates (--train-until, --test-from) or a longer --horizon-days", file=sys.stderr)
        return EXIT_INVALID
    model = models.LeadScoreModel(kind=args.kind).fit(split.X_train, split.y_train.to_numpy())
    p = model.predict_proba(split.X_test)[:, 1]
    metrics = models.evaluate(split.y_test.to_numpy(), p)
    try:
        comparison = models.compare_points(leads, events, train_until=train_until,
                                           test_from=test_from, horizon_days=args.horizon_days,
                                           model=models.LeadScoreModel(kind=args.kind),
                                           split=split)
    except ValueError as exc:  # learned points need an event that raises the odds
        print(f"note: no learned points to compare: {exc}", file=sys.stderr)
        comparison = pd.DataFrame({"auc": {"model": metrics["auc"]}})
    print(f"Trained on {len(split.y_train):,d} open leads at {train_until:%Y-%m-%d}, tested on "
          f"{len(split.y_test):,d} at {test_from:%Y-%m-%d} (converted within "
          f"{args.horizon_days:g} days)\n")
    print("holdout: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    print("\nAUC on the same holdout:")
    print(comparison.to_string(float_format=lambda v: f"{v:.3f}"))
    params = {"kind": args.kind, "horizon_days": args.horizon_days,
              "train_until": train_until.isoformat(), "test_from": test_from.isoformat(),
              "train_leads": len(split.y_train), "test_leads": len(split.y_test)}
    extra = {f"auc.{k}": v for k, v in comparison["auc"].items()}
    return _log_fit(model, split.X_test, split.y_test.to_numpy(), p, {**metrics, **extra},
                    params, args.alias,
                    {"learned_points": comparison.attrs.get("points", pd.DataFrame())})


def _log_fit(model, X_test, y_test, p, metrics, params, alias, tables=None) -> int:
    """One MLflow run for a fit: metrics, calibration and lift tables, the registered model."""
    from nurturelab import tracking
    from nurturelab.scoring import models

    with tracking.run("score-fit", params=params, tags={"job": "score"}) as run:
        tracking.log_metrics(metrics)
        tracking.log_table(models.calibration_table(y_test, p), "calibration")
        tracking.log_table(models.lift_table(y_test, p), "lift")
        for name, table in (tables or {}).items():
            tracking.log_table(table, name)
        _, version = tracking.log_model(model, X_test.reset_index(drop=True), alias=alias)
        run_id = run.info.run_id
    print(f"\nModel logged in run {run_id}, registered as {tracking.MODEL_NAME!r} version "
          f"{version} with alias {alias!r}")
    return 0


def _score_fit_table(args: argparse.Namespace) -> int:
    """Fit on a lead-level table: a stratified holdout (such a table carries no event times)."""
    import yaml
    from sklearn.model_selection import train_test_split

    from nurturelab.scoring import models

    try:
        columns = yaml.safe_load(Path(args.columns).read_text()) if args.columns else None
        X, y = models.read_lead_table(args.table, target=args.target, columns=columns,
                                      id_column=args.id, drop=args.drop or ())
    except (OSError, KeyError, ValueError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if y.nunique() < 2:
        print(f"error: {args.table}: {args.target!r} has a single value; nothing to learn",
              file=sys.stderr)
        return EXIT_INVALID
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    model = models.LeadScoreModel(kind=args.kind).fit(X_tr, y_tr.to_numpy())
    p = model.predict_proba(X_te)[:, 1]
    metrics = models.evaluate(y_te.to_numpy(), p)
    print(f"Trained on {len(y_tr):,d} leads of {args.table}, tested on a stratified holdout of "
          f"{len(y_te):,d} (no event times, so no later window to test on)\n")
    print("holdout: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    params = {"kind": args.kind, "table": Path(args.table).name, "target": args.target,
              "train_leads": len(y_tr), "test_leads": len(y_te), "validation": "stratified"}
    return _log_fit(model, X_te, y_te.to_numpy(), p, metrics, params, args.alias)


def cmd_score_apply(args: argparse.Namespace) -> int:
    from nurturelab import tracking
    from nurturelab.scoring.features import snapshot
    from nurturelab.scoring.points import scores

    try:
        leads, events = load_export(args)
        model = tracking.load_model(args.alias)
    except (ExportError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    as_of = pd.Timestamp(args.as_of, tz="UTC") if args.as_of else events["ts"].max()
    from nurturelab.funnel import outcomes

    status = outcomes(leads, events, as_of=as_of)["status"].astype(str)
    X = snapshot(leads, events, as_of=as_of)
    X = X[status.reindex(X.index).eq("open").to_numpy()]  # whom to work today: open leads
    out = pd.DataFrame({"p_convert": model.predict_proba(X)[:, 1]}, index=X.index)
    out["points"] = scores(leads, events, as_of=as_of)["score"].reindex(out.index)
    out = out.sort_values("p_convert", ascending=False)
    print(f"Scored {len(out):,d} open leads as of {as_of:%Y-%m-%d %H:%M} UTC with "
          f"{tracking.MODEL_NAME}@{args.alias}\n")
    print(out.head(args.top).to_string(float_format=lambda v: f"{v:.3f}"))
    if args.out:
        target = Path(args.out)
        tmp = target.with_name(f".{target.name}.tmp")
        out.to_csv(tmp)
        tmp.replace(target)
        print(f"\nwrote {target}")
    return 0


def register(sub) -> None:
    sc = sub.add_parser("score", help="fit and apply the lead-scoring model")
    ssub = sc.add_subparsers(dest="score_command", required=True)
    for name, fn, text in (("fit", cmd_score_fit, "fit on an export, validate on a later "
                                                    "window, log and register the model"),
                           ("apply", cmd_score_apply, "score an export with a registered model")):
        q = ssub.add_parser(name, help=text)
        q.add_argument("--leads", required=name == "apply",
                       help="leads file (.csv, .csv.gz or .parquet)")
        q.add_argument("--events", required=name == "apply", help="events file")
        q.add_argument("--columns", default=None,
                       help="column map (YAML): the export map for --leads/--events; "
                            "{name: export column} for --table")
        q.set_defaults(func=fn)
        if name == "fit":
            q.add_argument("--horizon-days", type=float, default=30.0,
                           help="converted within this many days of a snapshot (default 30)")
            q.add_argument("--train-until", type=timestamp, default=None,
                           help="training snapshot (default: test snapshot - horizon)")
            q.add_argument("--test-from", type=timestamp, default=None,
                           help="test snapshot (default: last event - horizon)")
            q.add_argument("--kind", choices=["logistic", "hgb"], default="logistic")
            q.add_argument("--alias", default="challenger",
                           help="registry alias for the new version (default challenger)")
            q.add_argument("--table", default=None,
                           help="instead of an export: one row per lead with a converted flag "
                                "and attribute columns (CSV or Parquet)")
            q.add_argument("--target", default="converted",
                           help="the table's converted flag, after --columns renaming")
            q.add_argument("--id", default=None, help="the table's lead id column")
            q.add_argument("--drop", nargs="*", default=None,
                           help="table columns to keep out of the features")
        else:
            q.add_argument("--alias", default="champion", help="model alias (default champion)")
            q.add_argument("--as-of", type=timestamp, default=None,
                           help="score as of this time (default: the last event)")
            q.add_argument("--top", type=positive_int, default=10, help="leads to print")
            q.add_argument("--out", default=None, help="write every lead's scores to this CSV")
