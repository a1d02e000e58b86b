"""MLflow, in one place: where the store is, and one way to log a run.

The embedded store is SQLite at ``mlruns/mlflow.db`` with artifacts under ``mlruns/artifacts``,
both resolved from the project root (:mod:`nurturelab.paths`), so the CLI and the notebooks write
to the same store. ``MLFLOW_TRACKING_URI`` switches every run to another store or a shared
tracking server, and nothing else changes.

Lead data is personal data: :func:`log_table` refuses tables with personal columns or values that
look like e-mail addresses or phone numbers, and params and tags are checked the same way.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# No usage telemetry leaves this machine.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.entities import RunStatus  # noqa: E402

from nurturelab.paths import mlruns_dir  # noqa: E402

__all__ = ["DEFAULT_EXPERIMENT", "log_figure", "log_file", "log_metrics", "log_table", "run",
           "tracking_uri"]

DEFAULT_EXPERIMENT = "nurturelab"
PERSONAL_COLUMNS = frozenset({"name", "first_name", "last_name", "full_name", "email", "phone",
                              "phone_number", "mobile"})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{7,}\d")


def _embedded_uri() -> str:
    return f"sqlite:///{mlruns_dir() / 'mlflow.db'}"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the project's embedded SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or _embedded_uri()


def _experiment_id(name: str) -> str:
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if tracking_uri() == _embedded_uri():
        location = (mlruns_dir() / "artifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def _check_not_personal(where: str, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        text = None if isinstance(value, int | float | np.number) else str(value)  # numbers pass
        if str(key).lower() in PERSONAL_COLUMNS or (text is not None and _looks_personal(text)):
            raise ValueError(
                f"refusing to log {where} {key!r}: it looks like personal data (a name, e-mail "
                "address or phone number); log aggregates or pseudonymous ids instead"
            )


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T].*)?")


def _looks_personal(text: str) -> bool:
    """An e-mail address anywhere, or a whole value shaped like a phone number (9+ digits)."""
    if _EMAIL.search(text):
        return True
    t = text.strip()
    return bool(_PHONE.fullmatch(t)) and sum(c.isdigit() for c in t) >= 9 and not _DATE.match(t)


@contextmanager
def run(
    name: str,
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
) -> Iterator[mlflow.ActiveRun]:
    """Open an MLflow run in the project's store; close it FINISHED, FAILED or KILLED.

    An exception inside the block marks the run FAILED (KILLED for Ctrl-C) and is re-raised,
    so no half-finished run ever reads as finished. ``nested=True`` opens a child of the
    active run.
    """
    params = dict(params or {})
    tags = dict(tags or {})
    _check_not_personal("param", params)
    _check_not_personal("tag", tags)
    mlruns_dir().mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri())
    exp_id = _experiment_id(experiment)
    active = mlflow.start_run(experiment_id=exp_id, run_name=name, tags=tags, nested=nested)
    try:
        if params:
            mlflow.log_params({k: _param(v) for k, v in params.items()})
        yield active
    except KeyboardInterrupt:
        mlflow.end_run(status=RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException:
        mlflow.end_run(status=RunStatus.to_string(RunStatus.FAILED))
        raise
    else:
        mlflow.end_run(status=RunStatus.to_string(RunStatus.FINISHED))


def _param(v: Any) -> str:
    s = str(v)
    return s if len(s) <= 500 else s[:497] + "..."


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log finite numeric metrics of the active run (NaN and None are skipped)."""
    clean = {}
    for k, v in metrics.items():
        if v is None:
            continue
        v = float(v)
        if np.isfinite(v):
            clean[re.sub(r"[^\w./ -]", "_", k)] = v
    if clean:
        mlflow.log_metrics(clean, step=step)


def log_table(df: pd.DataFrame, name: str) -> None:
    """Log an aggregate table as a CSV artifact of the active run (refusing personal data)."""
    frame = df.reset_index()
    personal = [c for c in frame.columns if str(c).lower() in PERSONAL_COLUMNS]
    if personal:
        raise ValueError(f"refusing to log table {name!r}: personal column(s) {personal}")
    for col in frame.columns:
        if frame[col].dtype == object and frame[col].astype(str).map(_looks_personal).any():
            raise ValueError(
                f"refusing to log table {name!r}: column {col!r} holds personal data (values "
                "that look like e-mail addresses or phone numbers)"
            )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.csv"
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path="tables")


def log_file(path: str | Path, folder: str | None = None) -> None:
    """Log a file (a scenario, a cadence) as an artifact of the active run."""
    mlflow.log_artifact(str(path), artifact_path=folder)


def log_figure(fig, name: str) -> None:
    """Log a matplotlib figure as a PNG artifact of the active run."""
    mlflow.log_figure(fig, f"figures/{name}.png")
