"""``nurturelab score fit``, ``score apply`` and ``score promote``: the lead-scoring model.

Each command parses, calls one function of :mod:`nurturelab.scoring.fit`
(:func:`~nurturelab.scoring.fit.fit_on_export`, :func:`~nurturelab.scoring.fit.fit_on_table`
or :func:`~nurturelab.scoring.fit.score_open_leads`) or of :mod:`nurturelab.tracking`
(:func:`~nurturelab.tracking.promote`), prints, and logs through :mod:`nurturelab.tracking`.
``fit`` judges the model with :func:`nurturelab.scoring.quality.check_fit` before it registers
it: a model worse than the default points or than the base rate gets no alias without
``--force``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

from nurturelab._csv import write_csv
from nurturelab.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    add_model_name_arg,
    load_export,
    positive_int,
    timestamp,
)
from nurturelab.schema import ExportError


def _error(exc: BaseException | str) -> int:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    print(f"error: {text}", file=sys.stderr)
    return EXIT_INVALID


def _refused(args: argparse.Namespace) -> str | None:
    """Why the fit's flags do not go together, or None."""
    if args.table:
        if args.columns:
            return ("--columns is the column map of an export (--leads/--events); describe a "
                    "--table with a table map instead: --table-columns MAP.yaml")
        if args.leads or args.events:
            return "give --leads and --events (an export) or --table, not both"
        if args.train_until or args.test_from:
            return ("--train-until and --test-from set the snapshots of an export; a --table "
                    "has no event times (it is tested on a stratified holdout)")
        return None
    if args.table_columns:
        return ("--table-columns describes a --table; give an export's column map with "
                "--columns")
    if not (args.leads and args.events):
        return ("give --leads and --events (an export), or --table (one row per lead with a "
                "converted flag)")
    return None


def _fit(args: argparse.Namespace):
    """The ScoreFit the arguments ask for (raises on bad input)."""
    from nurturelab.scoring import fit, table

    if args.table:
        spec = (table.read_table_map(args.table_columns) if args.table_columns
                else table.TableColumns())
        flags = {"target": args.target, "id_column": args.id,
                 "drop": None if args.drop is None else tuple(args.drop)}
        spec = dataclasses.replace(spec, **{k: v for k, v in flags.items() if v is not None})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", table.TableWarning)
            X, y = table.read_lead_table(args.table, spec)
        for w in caught:  # the reader's notes are printed with the fit's; others pass on
            if not issubclass(w.category, table.TableWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        result = fit.fit_on_table(X, y, kind=args.kind, source=Path(args.table).name,
                                  n_threads=args.threads)
        result.notes = (*(str(w.message) for w in caught
                          if issubclass(w.category, table.TableWarning)), *result.notes)
        return result
    leads, events = load_export(args)
    return fit.fit_on_export(leads, events, kind=args.kind, horizon_days=args.horizon_days,
                             train_until=args.train_until, test_from=args.test_from,
                             n_threads=args.threads)


def cmd_score_fit(args: argparse.Namespace) -> int:
    from nurturelab import tracking
    from nurturelab.scoring.quality import check_fit

    refused = _refused(args)
    if refused:
        return _error(refused)
    try:
        fit = _fit(args)
    except (ExportError, OSError, KeyError, TypeError, ValueError) as exc:
        return _error(exc)
    for note in fit.notes:
        print(f"note: {note}", file=sys.stderr)
    fit.print_summary()
    quality = check_fit(fit)
    print()
    quality.print_summary()
    try:
        run_id, version = tracking.log_score_fit(fit, alias=args.alias,
                                                 registered_name=args.model_name,
                                                 quality=quality, force=args.force)
    except tracking.ModelRefused as exc:  # logged in a FAILED run, not registered
        notes = "".join(f"\n  {n}" for n in getattr(exc, "__notes__", []))
        print(f"error: not registered as {args.model_name!r} and given no alias: {exc}{notes}",
              file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:  # personal data in the input example: nothing registered
        return _error(f"{exc} (keep such columns out with --drop or the table map's 'drop')")
    if not quality.passed:
        print(f"warning: registered with --force although the model is "
              f"{' and '.join(quality.reasons)}", file=sys.stderr)
    print(f"\nModel logged in run {run_id}, registered as {args.model_name!r} version "
          f"{version} with alias {args.alias!r}")
    if args.alias != "champion":
        flag = "" if args.model_name == tracking.MODEL_NAME else f" --model-name {args.model_name}"
        print(f"to score with it: nurturelab score promote {args.alias}{flag} --to champion")
    return 0


def cmd_score_apply(args: argparse.Namespace) -> int:
    from nurturelab import tracking
    from nurturelab.scoring.fit import score_open_leads

    try:
        leads, events = load_export(args)
        model = tracking.load_model(args.alias, registered_name=args.model_name)
        scored = score_open_leads(leads, events, model, as_of=args.as_of)
    except (ExportError, ValueError, LookupError) as exc:
        return _error(exc)
    print(f"Scored {len(scored):,d} open leads as of {scored.attrs['as_of']:%Y-%m-%d %H:%M} UTC "
          f"with {args.model_name}@{args.alias}\n")
    print(scored.head(args.top).to_string(float_format=lambda v: f"{v:.3f}"))
    if args.out:
        target = Path(args.out)
        tmp = target.with_name(f".{target.name}.tmp")
        write_csv(scored, tmp)  # cells that a spreadsheet would run as formulas are escaped
        tmp.replace(target)
        print(f"\nwrote {target}")
    return 0


def cmd_score_promote(args: argparse.Namespace) -> int:
    from nurturelab import tracking

    try:
        moved = tracking.promote(args.source, args.to, registered_name=args.model_name,
                                 force=args.force)
    except tracking.ModelRefused as exc:
        print(f"error: not promoted: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (LookupError, ValueError) as exc:
        return _error(exc)
    print(moved)
    if moved.quality is None:
        print(f"note: version {moved.version} records no quality check (registered before "
              "nurturelab checked models, or by another tool)", file=sys.stderr)
    elif moved.forced:
        print(f"warning: version {moved.version} failed the quality check of its fit; "
              f"promoted with --force", file=sys.stderr)
    return 0


def _fit_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--horizon-days", type=float, default=30.0,
                   help="converted within this many days of a snapshot (default 30)")
    q.add_argument("--train-until", type=timestamp, default=None,
                   help="training snapshot (default: test snapshot - horizon)")
    q.add_argument("--test-from", type=timestamp, default=None,
                   help="test snapshot (default: last event - horizon)")
    q.add_argument("--kind", choices=["auto", "logistic", "hgb"], default="auto",
                   help="logistic regression, gradient boosting, or auto (default): both "
                        "cross-validated on the training data, the one of lower Brier kept")
    q.add_argument("--threads", type=positive_int, default=None,
                   help="BLAS/OpenMP threads for the fit (default: one per 50,000 rows, at "
                        "most the cores available; 1 is fastest on a busy machine)")
    q.add_argument("--alias", default="challenger",
                   help="registry alias for the new version (default challenger)")
    q.add_argument("--force", action="store_true",
                   help="register and alias the model even when it ranks worse than the "
                        "default points or predicts worse than the base rate on the holdout")
    q.add_argument("--table", default=None,
                   help="instead of an export: one row per lead with a converted flag and "
                        "attribute columns (CSV or Parquet)")
    q.add_argument("--table-columns", default=None, metavar="MAP.yaml",
                   help="table map (YAML) for --table: columns (new name: table column), "
                        "target, id_column, drop, placeholders")
    q.add_argument("--target", default=None,
                   help="the table's converted flag, after renaming (default: the table map's "
                        "'target', else converted)")
    q.add_argument("--id", default=None,
                   help="the table's lead id column (overrides the table map's 'id_column')")
    q.add_argument("--drop", nargs="+", default=None, metavar="COLUMN",
                   help="table columns to keep out of the features (overrides the table "
                        "map's 'drop'; a name the table lacks is refused)")


def register(sub) -> None:
    sc = sub.add_parser("score", help="fit, promote and apply the lead-scoring model")
    ssub = sc.add_subparsers(dest="score_command", required=True)
    for name, fn, text in (("fit", cmd_score_fit, "fit on an export, validate on a later "
                                                    "window, log and register the model"),
                           ("apply", cmd_score_apply, "score an export with a registered model")):
        q = ssub.add_parser(name, help=text)
        q.add_argument("--leads", required=name == "apply",
                       help="leads file (.csv, .csv.gz or .parquet)")
        q.add_argument("--events", required=name == "apply", help="events file")
        q.add_argument("--columns", default=None,
                       help="column map (YAML) of the export given with --leads/--events")
        q.set_defaults(func=fn)
        add_model_name_arg(q)
        if name == "fit":
            _fit_args(q)
        else:
            q.add_argument("--alias", default="champion", help="model alias (default champion)")
            q.add_argument("--as-of", type=timestamp, default=None,
                           help="score as of this time (default: the last event)")
            q.add_argument("--top", type=positive_int, default=10, help="leads to print")
            q.add_argument("--out", default=None, help="write every lead's scores to this CSV")
    pr = ssub.add_parser("promote", help="point an alias (champion) at a registered version",
                         description="Point an alias at a version: give a version number or "
                                     "an alias to resolve (nurturelab score promote challenger "
                                     "--to champion).")
    pr.add_argument("source", metavar="VERSION|ALIAS",
                    help="the version to promote: its number, or an alias pointing at it")
    pr.add_argument("--to", default="champion", help="the alias to move (default champion)")
    pr.add_argument("--force", action="store_true",
                    help="promote a version that failed the quality check of its fit")
    add_model_name_arg(pr)
    pr.set_defaults(func=cmd_score_promote)
