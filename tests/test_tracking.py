import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from nurturelab import tracking


def _last_run():
    client = mlflow.MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
    return client.search_runs([exp.experiment_id], order_by=["attribute.start_time DESC"])[0]


@pytest.mark.fresh_store
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


# --------------------------------------------------------------------------------------------
# issue 13: the store under concurrent first use, a damaged store, statuses that must be written
# --------------------------------------------------------------------------------------------
_WORKER = """
import sys, time
from pathlib import Path
from nurturelab import tracking
tracking._mlflow()  # MLflow imported: the processes then reach the store together
folder, i = Path(sys.argv[1]), sys.argv[2]
(folder / f"ready.{i}").touch()
while not (folder / "go").exists():
    time.sleep(0.002)
with tracking.run("worker", params={"i": i}):
    tracking.log_metrics({"x": 1.0})
"""


def test_processes_starting_on_a_new_store_all_finish_their_runs(tmp_path):
    """Four processes on a store that did not exist: 3 of 4 crashed in MLflow's migration."""
    import os
    import subprocess
    import sys
    import time

    store = tmp_path / "mlruns"
    env = {**os.environ, "NURTURELAB_MLRUNS": str(store), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path), str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in range(4)]
    deadline = time.monotonic() + 180
    while len(list(tmp_path.glob("ready.*"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not store.exists()  # nobody has touched the store yet
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, "\n".join(outputs)
    client = mlflow.MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    exp = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.params["i"] for r in runs) == ["0", "1", "2", "3"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert (store / "mlflow.db.lock").is_file()


def _a_store_with_one_run(tmp_path, monkeypatch) -> Path:
    """A real store, made under another URI than the test's (this process checks each once)."""
    first = tmp_path / "first"
    monkeypatch.setenv("NURTURELAB_MLRUNS", str(first))
    with tracking.run("before"):
        pass
    return first / "mlflow.db"


@pytest.mark.parametrize("damage", ["junk", "foreign", "truncated"])
def test_a_damaged_store_is_refused_naming_the_file_and_never_written(tmp_path, monkeypatch,
                                                                       damage):
    """A corrupted mlruns/mlflow.db gave an 86-line traceback that never named the file."""
    import shutil
    import sqlite3

    from nurturelab.cli import main

    good = _a_store_with_one_run(tmp_path, monkeypatch)
    store = tmp_path / "mlruns"
    store.mkdir()
    db = store / "mlflow.db"
    if damage == "junk":
        db.write_bytes(b"PK\x03\x04 this is a zip file, not a database" * 50)
        what = "is not an SQLite database"
    elif damage == "foreign":
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        con.commit()
        con.close()
        what = "is an SQLite database but not an MLflow store (its tables: ['invoices'])"
    else:
        shutil.copy(good, db)
        with open(db, "r+b") as fh:
            fh.truncate(db.stat().st_size // 2)
        what = "is a damaged SQLite database (database disk image is malformed)"
    before = db.read_bytes()
    monkeypatch.setenv("NURTURELAB_MLRUNS", str(store))
    with pytest.raises(tracking.StoreError, match=re.escape(f"{db}: {what}")) as info:
        with tracking.run("after"):
            pass  # pragma: no cover
    assert info.value.file == db
    assert f"mv {db} {db}.broken" in str(info.value)
    assert db.read_bytes() == before
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: tiny\nworld: {leads: 10}\n")
    assert main(["simulate", str(scenario)]) == 2
    assert db.read_bytes() == before


def test_the_store_error_is_short_on_the_command_line(tmp_path, monkeypatch, capsys):
    from nurturelab.cli import main

    store = tmp_path / "mlruns"
    store.mkdir()
    (store / "mlflow.db").write_bytes(b"\x00garbage" * 1000)
    monkeypatch.setenv("NURTURELAB_MLRUNS", str(store))
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: tiny\nworld: {leads: 10}\n")
    assert main(["simulate", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {store / 'mlflow.db'}: is not an SQLite database")
    assert len(err.splitlines()) <= 3 and "Traceback" not in err


def test_killed_is_written_again_while_the_database_is_locked(monkeypatch):
    """Marking a run KILLED could itself fail on "database is locked"."""
    from mlflow.exceptions import MlflowException

    real = mlflow.MlflowClient.set_terminated
    calls = []

    def locked_twice(self, run_id, status=None, end_time=None):
        calls.append(status)
        if len(calls) <= 2:
            raise MlflowException("(sqlite3.OperationalError) database is locked")
        return real(self, run_id, status, end_time)

    monkeypatch.setattr(mlflow.MlflowClient, "set_terminated", locked_twice)
    with pytest.raises(KeyboardInterrupt) as info, tracking.run("interrupted"):
        raise KeyboardInterrupt
    assert calls == ["KILLED"] * 3
    assert _last_run().info.status == "KILLED"
    assert mlflow.active_run() is None
    assert any("is marked KILLED" in note for note in info.value.__notes__)


def test_a_status_that_cannot_be_written_is_said_not_claimed(monkeypatch):
    from mlflow.exceptions import MlflowException

    def always_locked(self, run_id, status=None, end_time=None):
        raise MlflowException("(sqlite3.OperationalError) database is locked")

    monkeypatch.setattr(tracking, "_END_TRIES", 2)
    with pytest.raises(RuntimeError, match="boom") as info:
        with tracking.run("bad"):
            monkeypatch.setattr(mlflow.MlflowClient, "set_terminated", always_locked)
            raise RuntimeError("boom")
    (note,) = info.value.__notes__
    assert "could not be marked FAILED" in note and "database is locked" in note
    assert "still reads RUNNING" in note


def test_a_new_store_is_made_at_mlflow_s_latest_schema_and_leaves_nothing_behind(tmp_path,
                                                                                 monkeypatch):
    """A new store is written beside its place with SQLite's syncs off, then renamed: the same
    tables and schema revision as MLflow's own creation, no stray file; a failure leaves no
    file, so that MLflow creates the store itself."""
    import sqlite3

    from mlflow.store.db.utils import _get_latest_schema_revision

    db = tmp_path / "made" / "mlflow.db"
    db.parent.mkdir()
    tracking._create_sqlite_store(db)
    con = sqlite3.connect(db)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        revision = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        con.close()
    assert {"experiments", "runs", "metrics", "params", "registered_models"} <= tables
    assert revision == _get_latest_schema_revision()
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db"]

    failed = tmp_path / "failed" / "mlflow.db"
    failed.parent.mkdir()

    def half_made(engine):  # the file exists, then the migration fails
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE experiments (id INTEGER)")
        raise RuntimeError("migration failed")

    monkeypatch.setattr("mlflow.store.db.utils._initialize_tables", half_made)
    tracking._create_sqlite_store(failed)
    assert list(failed.parent.iterdir()) == []
