import mlflow
import pandas as pd
import pytest

from nurturelab import tracking


def _last_run():
    client = mlflow.MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
    return client.search_runs([exp.experiment_id], order_by=["attribute.start_time DESC"])[0]


def test_embedded_store_is_sqlite_under_mlruns(_private_mlflow_store):
    assert tracking.tracking_uri() == f"sqlite:///{_private_mlflow_store / 'mlflow.db'}"
    with tracking.run("t", params={"n": 3}) as r:
        tracking.log_metrics({"rate": 0.5, "skipped": float("nan"), "none": None})
        tracking.log_table(pd.DataFrame({"stage": ["new"], "n": [3]}), "tbl")
        art = r.info.artifact_uri
    assert (_private_mlflow_store / "mlflow.db").is_file()
    assert art.startswith((_private_mlflow_store / "artifacts").as_uri())
    run = _last_run()
    assert run.info.status == "FINISHED"
    assert run.data.params == {"n": "3"}
    assert run.data.metrics == {"rate": 0.5}


def test_env_uri_overrides(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert tracking.tracking_uri() == uri


def test_error_marks_run_failed():
    with pytest.raises(RuntimeError, match="boom"), tracking.run("bad"):
        raise RuntimeError("boom")
    assert _last_run().info.status == "FAILED"
    assert mlflow.active_run() is None


def test_ctrl_c_marks_run_killed():
    with pytest.raises(KeyboardInterrupt), tracking.run("interrupted"):
        raise KeyboardInterrupt
    assert _last_run().info.status == "KILLED"


@pytest.mark.parametrize(
    "table",
    [
        pd.DataFrame({"email": ["x"]}),
        pd.DataFrame({"contact": ["ana.silva1@example.com"]}),
        pd.DataFrame({"who": ["+1-202-555-0101"]}),
    ],
)
def test_personal_data_refused_in_tables(table):
    with tracking.run("t"), pytest.raises(ValueError, match="personal"):
        tracking.log_table(table, "leaky")


def test_personal_data_refused_in_params_and_run_not_started():
    with pytest.raises(ValueError, match="personal"):
        with tracking.run("t", params={"owner": "ana.silva1@example.com"}):
            pass  # pragma: no cover
    assert mlflow.active_run() is None
