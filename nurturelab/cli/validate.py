"""``nurturelab validate`` and ``nurturelab sample``: check an export, write the sample."""

from __future__ import annotations

import argparse
import sys
import warnings

from nurturelab import paths
from nurturelab.cli.common import EXIT_INVALID, add_export_args, positive_int
from nurturelab.schema import (
    ExportError,
    ExportWarning,
    read_column_map,
    read_export,
    summarize,
)
from nurturelab.synthetic import SAMPLE_LEADS, SAMPLE_SEED, write_sample


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        columns = read_column_map(args.columns) if args.columns else None
        with warnings.catch_warnings():  # printed in the summary instead
            warnings.simplefilter("ignore", ExportWarning)
            export = read_export(args.leads, args.events, columns)
    except ExportError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except ValueError as exc:  # a bad column map
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"OK: {args.leads} and {args.events} follow the nurturelab data contract\n")
    print(summarize(export.leads, export.events, export.notes))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    for path in write_sample(args.out, args.leads, args.seed):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def register(sub) -> None:
    v = sub.add_parser("validate", help="check a CRM export against the data contract")
    add_export_args(v, required=True)
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("sample", help="write the deterministic sample export as CSV")
    s.add_argument("--out", default=str(paths.data_dir()), help="folder (default: data/)")
    s.add_argument("--leads", type=positive_int, default=SAMPLE_LEADS,
                   help=f"leads in the sample (default {SAMPLE_LEADS})")
    s.add_argument("--seed", type=int, default=SAMPLE_SEED,
                   help=f"the sample's seed (default {SAMPLE_SEED})")
    s.set_defaults(func=cmd_sample)
