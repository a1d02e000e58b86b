"""Every filesystem location nurturelab uses, resolved in one place.

The project root is the folder holding ``pyproject.toml`` above the installed package (an
editable install from a clone), or the value of ``NURTURELAB_HOME``; the current directory
otherwise. The CLI and the notebooks (which run with ``notebooks/`` as working directory) thus
agree on where the MLflow store and the sample data live.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["project_root", "data_dir", "mlruns_dir", "shared_data_dir"]


def project_root() -> Path:
    """The nurturelab project folder (``NURTURELAB_HOME`` overrides)."""
    env = os.environ.get("NURTURELAB_HOME")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "nurturelab").is_dir():
        return here
    return Path.cwd().resolve()


def data_dir() -> Path:
    """``data/``: the small deterministic sample CRM export and its data dictionary."""
    return project_root() / "data"


def mlruns_dir() -> Path:
    """``mlruns/``: the embedded MLflow store (SQLite database plus artifacts).

    ``NURTURELAB_MLRUNS`` overrides it (the tests use a temporary store).
    """
    env = os.environ.get("NURTURELAB_MLRUNS")
    if env:
        return Path(env).expanduser().resolve()
    return project_root() / "mlruns"


def shared_data_dir() -> Path:
    """Public data beside the project (``../shared/data``); ``NURTURELAB_SHARED_DATA`` overrides.

    It is never copied into the repository; tests that need it skip where it is absent.
    """
    env = os.environ.get("NURTURELAB_SHARED_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return project_root().parent / "shared" / "data"
