"""Shared fixtures: every test writes MLflow runs to its own temporary store."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_mlflow_store(tmp_path_factory, monkeypatch):
    store = tmp_path_factory.mktemp("mlruns")
    monkeypatch.setenv("NURTURELAB_MLRUNS", str(store))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield store
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()
