"""What the command modules share: argument types, exit codes, the export arguments, progress."""

from __future__ import annotations

import argparse
import re
import sys

import pandas as pd

from nurturelab import paths
from nurturelab.schema import read_column_map, read_export

__all__ = ["EXIT_FAILED", "EXIT_INVALID", "Progress", "add_export_args", "add_model_name_arg",
           "at_least_two", "backend_for_files", "default_export", "error_text", "load_export",
           "model_name", "positive_int", "timestamp", "tracking_uri"]

EXIT_FAILED = 1  # the command ran and a check it makes failed (an audit, a back-test)
EXIT_INVALID = 2  # bad input: nothing was done


def error_text(exc: BaseException | str, *, line: int = 400, lines: int = 40) -> str:
    """An error's message as a command prints it: every line cut to ``line`` characters and at
    most ``lines`` lines, so that a value repeated without end cannot flood the terminal.

    >>> error_text(ValueError("x" * 1000), line=20)
    'xxxxxxxxxxxxxxxxx... (1,000 characters)'
    """
    rows = str(exc).splitlines() or [""]
    cut = [r if len(r) <= line else f"{r[:line - 3]}... ({len(r):,d} characters)"
           for r in rows[:lines]]
    if len(rows) > lines:
        cut.append(f"... ({len(rows) - lines:,d} more lines)")
    return "\n".join(cut)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def at_least_two(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (the paired analysis needs "
                                         f"spread across replications), got {text!r}")
    return value


def timestamp(text: str) -> str:
    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"must be a date or timestamp such as 2026-10-01 or 2026-10-01T12:00, got {text!r}"
        ) from None
    return text


def model_name(text: str) -> str:
    """A registered model's name: letters, digits, ``_``, ``.`` and ``-``, starting with a
    letter or digit (``acme-leads``).

    >>> model_name("acme-leads")
    'acme-leads'
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", text):
        raise argparse.ArgumentTypeError(
            f"must be letters, digits, '_', '.' or '-', starting with a letter or digit (at "
            f"most 100 characters, e.g. acme-leads), got {text!r}")
    return text


def add_model_name_arg(p: argparse.ArgumentParser) -> None:
    """``--model-name``: the registered model a command fits, reads or promotes."""
    from nurturelab.tracking import MODEL_NAME

    p.add_argument("--model-name", type=model_name, default=MODEL_NAME,
                   help=f"the registered model (default {MODEL_NAME}); give each team or "
                        "export its own")


def add_export_args(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    """``--leads``, ``--events`` and ``--columns``; without ``required`` they default to the
    sample in ``data/``."""
    if required:
        p.add_argument("--leads", required=True, help="leads file (.csv, .csv.gz or .parquet)")
        p.add_argument("--events", required=True, help="events file (.csv, .csv.gz or .parquet)")
    else:
        p.add_argument("--leads", default=None, help="leads file, CSV or Parquet (default: the "
                       "sample in data/); a simulation's leads.parquet works too")
        p.add_argument("--events", default=None, help="events file (default: the sample)")
    p.add_argument("--columns", default=None, help="column map (YAML) for the export's names")


def default_export(args: argparse.Namespace) -> tuple[str, str]:
    """The leads and events files the arguments name, the sample's where they name none."""
    return (args.leads or str(paths.data_dir() / "leads.csv"),
            args.events or str(paths.data_dir() / "events.csv"))


def load_export(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The export the arguments name, read and validated (raises ExportError, ValueError)."""
    leads_f, events_f = default_export(args)
    columns = read_column_map(args.columns) if args.columns else None
    return read_export(leads_f, events_f, columns)


def backend_for_files() -> None:
    """The command draws to files: matplotlib's non-interactive backend, for this process
    only (library code never chooses one)."""
    import matplotlib

    matplotlib.use("Agg")


def tracking_uri() -> str:
    from nurturelab import tracking

    return tracking.tracking_uri()


class Progress:
    """A one-line progress bar on stderr for runs long enough to need one."""

    def __init__(self, stream=None, min_leads: int = 20_000, unit: str = "leads",
                 tty_only: bool = True):
        self.stream = stream or sys.stderr
        self.min_leads = min_leads
        self.unit = unit
        self.last = None
        # a redirected stream gets no bar: carriage returns would clutter a log file
        self.on = not tty_only or bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, variant: str, done: int, total: int) -> None:
        if not self.on or total < self.min_leads:
            return
        pct = int(100 * done / max(total, 1))
        if (variant, pct) == self.last:
            return
        self.last = (variant, pct)
        bar = "#" * (pct // 5) + "." * (20 - pct // 5)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r  {variant:<24} [{bar}] {pct:3d}% of {total:,d} {self.unit}{end}")
        self.stream.flush()

