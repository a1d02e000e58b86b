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
                         [--model-name NAME] [--force]
    nurturelab score promote VERSION|ALIAS --to champion [--model-name NAME] [--force]
    nurturelab score apply --leads F --events F [--columns MAP.yaml] [--alias champion] ...
    nurturelab thresholds --leads F --events F --by capacity --capacity N [--scorer model] ...
    nurturelab audit --month 2026-10 [--model champion | --points [RULES.yaml]] [--out F.html]
    nurturelab policy SCENARIO --candidates C [C ...] --budget-rep-hours H [--segments S,S]
                      [--replications R] [--leads N] [--seed S] [--jobs J] [--no-track]
    nurturelab report [--week 2026-W43] [--leads F --events F] [--targets T.yaml] [--out F.html]

Exit codes: 0 done, 1 a check the command makes failed (audit, backtest), 2 bad input (or an
MLflow store that cannot be used), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM, handled
like Ctrl-C: the runs are marked KILLED and partial output is marked).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from nurturelab.cli import (
    audit,
    backtest,
    calibrate,
    demo,
    policy,
    report,
    score,
    simulate,
    thresholds,
    validate,
)

__all__ = ["build_parser", "main"]

_GROUPS = (demo, validate, simulate, calibrate, backtest, score, thresholds, audit, report,
           policy)


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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is so that it unwinds as from Ctrl-C."""


def _terminate(signum, frame) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    from nurturelab.cli.common import error_text
    from nurturelab.tracking import StoreError

    args = build_parser().parse_args(argv)
    # the store's own progress lines ("Creating initial MLflow database tables") are not the
    # command's: MLflow reads its level when first imported, and keeps it after
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        previous, installed = signal.signal(signal.SIGTERM, _terminate), True
    except ValueError:  # not the main thread: SIGTERM keeps its handler
        previous, installed = None, False
    try:
        return int(args.func(args))
    except StoreError as exc:
        print(f"error: {error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        notes = getattr(exc, "__notes__", [])  # what the runs and the output were left as
        print(f"\n{what}" + ("".join(f"\n  {error_text(n)}" for n in notes) if notes else
                             ": nothing was recorded"), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
