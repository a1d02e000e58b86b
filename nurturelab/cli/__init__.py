"""The ``nurturelab`` command: one module per command group, each parses, calls one library
function and prints.

::

    nurturelab demo                         # the main job on the embedded sample
    nurturelab validate --leads F --events F [--columns MAP.yaml]
    nurturelab sample --out DIR [--leads N] [--seed S]
    nurturelab simulate FILE [--out DIR] [--leads N] [--seed S] [--no-track]
    nurturelab compare FILE [FILE ...] [--replications R] [--leads N] [--jobs J] [--control ARM]
    nurturelab calibrate --leads F --events F [--columns MAP] [--cadence C] [--until D] --out F
    nurturelab backtest SCENARIO --leads F --events F --holdout-from DATE [--replications R]
                        [--until DATE] [--seed S] [--jobs J] [--warmup-days D] [--out F.html]
    nurturelab score fit --leads F --events F [--columns MAP.yaml] [--horizon-days D] ...
    nurturelab score apply --leads F --events F [--columns MAP.yaml] [--alias champion] ...
    nurturelab thresholds --leads F --events F --by capacity --capacity N [--scorer model] ...
    nurturelab audit --month 2026-10 [--model champion | --points [RULES.yaml]] [--out F.html]
    nurturelab report [--week 2026-W43] [--leads F --events F] [--targets T.yaml] [--out F.html]

Exit codes: 0 done, 1 a check the command makes failed (audit, backtest), 2 bad input,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from nurturelab.cli import (
    audit,
    backtest,
    calibrate,
    demo,
    report,
    score,
    simulate,
    thresholds,
    validate,
)

__all__ = ["build_parser", "main"]

_GROUPS = (demo, validate, simulate, calibrate, backtest, score, thresholds, audit, report)


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("nurturelab")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        ver = "unknown"
    p = argparse.ArgumentParser(
        prog="nurturelab",
        description="Test lead-nurturing practices with evidence: check a CRM export, read its "
                    "funnel, simulate cadences, and A/B-test them.")
    p.add_argument("--version", action="version", version=f"nurturelab {ver}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in _GROUPS:
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("\ninterrupted: the MLflow run is marked KILLED and no table was half-written",
              file=sys.stderr)
        return 130
