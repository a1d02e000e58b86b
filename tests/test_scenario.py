import io

import mlflow
import pandas as pd
import pytest

from nurturelab import paths, scenario, tracking
from nurturelab.cli import main
from nurturelab.cli.common import Progress
from nurturelab.scenario import read_scenario, run_scenario, write_tables
from nurturelab.schema import read_export

SIMS = paths.project_root() / "simulations"


def _runs():
    client = mlflow.MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
    return client.search_runs([exp.experiment_id], order_by=["attribute.start_time ASC"])


def _small(tmp_path, body=None):
    p = tmp_path / "s.yaml"
    p.write_text(body or (
        "name: tiny\nseed: 3\nworld:\n  leads: 120\n  cadence: seed_14_day\n"
        "  team: {reps: 2, shift: [9, 17]}\n"
        "variants:\n  more_reps: {team: {reps: 5}}\n  instant: {cadence: instant}\n"))
    return p


@pytest.mark.parametrize("name", ["speed_to_lead.yaml", "spacing.yaml"])
def test_shipped_scenarios_read(name):
    sc = read_scenario(SIMS / name)
    assert "baseline" in sc.worlds and len(sc.worlds) >= 4
    if name == "spacing.yaml":
        assert sc.worlds["stretched_28_day"].cadence.name == "stretched_28_day"
        assert sc.worlds["front_loaded"].cadence.name == "front_loaded"
    else:
        assert [w.team.reps for w in sc.worlds.values()][:3] == [2, 4, 8]
        assert sc.worlds["reps_8_round_the_clock"].team.shift is None


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("name: x\nworlds: {}\n", r"unknown key\(s\) \['worlds'\]"),
        ("world: {leads: 10, colour: red}\n", r"world: unknown key\(s\) \['colour'\]"),
        ("world: {leads: 10}\nvariants: {v: {team: {reps: 0}}}\n", r"variants\.v\.team: .*'reps'"),
        ("world: {team: {shift: [17, 9]}}\n", r"world\.team: .*'shift'"),
        ("world: {cadence: no_such_cadence}\n", r"world\.cadence: .*no_such_cadence"),
        ("world: {response: {base: {call: 2}}}\n", r"world\.response: .*'base\[call\]'"),
        ("world: {leads: 0}\n", r"'leads'"),
        ("seed: -1\n", r"'seed'"),
        ("world: [1, 2]\n", r"'world' must be a mapping"),
        ("world: {leads: 10\n", r"not valid YAML"),
    ],
)
def test_bad_scenario_names_file_and_field(tmp_path, body, match):
    p = _small(tmp_path, body)
    with pytest.raises(ValueError, match=match) as exc:
        read_scenario(p)
    assert str(p) in str(exc.value)


def test_cli_refuses_bad_scenario_with_exit_2(tmp_path, capsys):
    p = _small(tmp_path, "world: {team: {reps: two}}\n")
    assert main(["simulate", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "reps" in err


def test_run_writes_contract_tables_and_tracks(tmp_path, capsys):
    p = _small(tmp_path)
    out = tmp_path / "out"
    assert main(["simulate", str(p), "--out", str(out), "--leads", "80", "--seed", "4"]) == 0
    text = capsys.readouterr().out
    assert "more_reps" in text and "contact_rate" in text and "MLflow run" in text
    frames = {}
    for variant in ("baseline", "more_reps", "instant"):
        leads, events = read_export(out / variant / "leads.parquet",
                                    out / variant / "events.parquet")
        assert len(leads) == 80
        frames[variant] = leads
    # common random numbers: the same leads meet every variant
    pd.testing.assert_frame_equal(frames["baseline"], frames["instant"])
    assert not list(out.rglob("*.tmp"))
    runs = _runs()
    parent = [r for r in runs if r.data.tags.get("job") == "simulate"][0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and len(children) == 3
    assert all(c.info.status == "FINISHED" for c in children)
    assert {c.data.params["leads"] for c in children} == {"80"}
    assert 0 <= children[0].data.metrics["contact_rate"] <= 1
    arts = mlflow.MlflowClient(tracking.tracking_uri()).list_artifacts(parent.info.run_id)
    assert {"scenario", "tables", "figures"} <= {a.path for a in arts}


@pytest.mark.parametrize(("exc", "status"), [(RuntimeError("boom"), "FAILED"),
                                             (KeyboardInterrupt(), "KILLED")])
def test_interrupted_run_leaves_no_tables_and_is_not_finished(tmp_path, monkeypatch, exc, status):
    real = scenario.simulate
    calls = []

    def flaky(world, seed, progress=None):
        calls.append(1)
        if len(calls) == 2:
            raise exc
        return real(world, seed, progress=progress)

    monkeypatch.setattr(scenario, "simulate", flaky)
    out = tmp_path / "out"
    with pytest.raises(type(exc)):
        run_scenario(read_scenario(_small(tmp_path)), out=out, track=True)
    assert not out.exists() or not any(out.rglob("*"))
    runs = _runs()
    parent = [r for r in runs if r.data.tags.get("job") == "simulate"][0]
    assert parent.info.status == status
    assert mlflow.active_run() is None


def test_write_tables_is_all_or_nothing(tmp_path, monkeypatch):
    res = run_scenario(read_scenario(_small(tmp_path)).with_overrides(leads=30),
                       track=False).results["baseline"]
    real = pd.DataFrame.to_parquet

    def fail_on_events(self, path, *a, **k):
        if ".events." in str(path):
            raise OSError("disk full")
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail_on_events)
    with pytest.raises(OSError, match="disk full"):
        write_tables(res, tmp_path / "t")
    assert list((tmp_path / "t").iterdir()) == []


def test_progress_bar_only_for_long_runs():
    buf = io.StringIO()
    bar = Progress(stream=buf, min_leads=100, tty_only=False)
    bar("small", 5, 10)
    assert buf.getvalue() == ""
    bar("big", 50, 100)
    bar("big", 100, 100)
    assert "50%" in buf.getvalue() and "100%" in buf.getvalue()
    assert buf.getvalue().endswith("\n")


def test_a_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("name: twice\nseed: 1\nseed: 2\nworld: {leads: 10}\n")
    with pytest.raises(ValueError, match=r"twice.yaml.*key 'seed' is given twice"):
        read_scenario(path)
    nested = tmp_path / "nested.yaml"
    nested.write_text("name: n\nworld:\n  team: {reps: 2, reps: 3}\n")
    with pytest.raises(ValueError, match=r"key 'reps' is given twice"):
        read_scenario(nested)


def test_a_scenario_run_keeps_the_result_protocol(tmp_path):
    from resultcheck import assert_result_protocol

    run = run_scenario(read_scenario(_small(tmp_path)).with_overrides(leads=60))
    assert run.run_id is None  # tracking is the caller's choice
    assert_result_protocol(run)
    assert list(run.summary.index) == list(run.results)


def test_a_written_scenario_reads_back_into_the_same_world(tmp_path):
    from nurturelab.progression import Progression, Transition
    from nurturelab.scenario import write_scenario
    from nurturelab.simulation import Arrivals, Team, World

    world = World(team=Team(reps=3, shift=(8, 16.5), timezone="America/Chicago",
                            workdays=(0, 1, 2, 3, 4, 5)),
                  arrivals=Arrivals(per_day={"web": 12.5}, trend=0.01, daily_variation=0.2),
                  progression=Progression(win=Transition(p=0.3, source={"web": 0.2})),
                  leads=77, warmup_days=7)
    path = write_scenario(tmp_path / "w.yaml", world, name="w", seed=4,
                          calibration={"until": "2026-01-01", "assumed": ["response"]},
                          header="line one\nline two")
    sc = read_scenario(path)
    assert sc.worlds["baseline"] == world and sc.seed == 4
    assert path.read_text().startswith("# line one\n# line two\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("assumed:", "guessed:"))
    with pytest.raises(ValueError, match=r"'calibration' must be a mapping with keys among"):
        read_scenario(bad)


# --------------------------------------------------------------------------------------------
# issue 13: runs marked FINISHED only once their tables are written; partial output marked
# --------------------------------------------------------------------------------------------
def _parent():
    return [r for r in _runs() if r.data.tags.get("job") == "simulate"][0]


def test_tables_are_written_while_the_run_is_still_open(tmp_path, monkeypatch):
    """simulate --out wrote the tables after the MLflow runs were closed FINISHED."""
    seen = []
    real = scenario.write_tables

    def spy(res, out):
        seen.append(_parent().info.status)
        return real(res, out)

    monkeypatch.setattr(scenario, "write_tables", spy)
    out = tmp_path / "out"
    run_scenario(read_scenario(_small(tmp_path)).with_overrides(leads=30), out=out, track=True)
    assert seen == ["RUNNING"] * 3
    assert _parent().info.status == "FINISHED"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet")) == [
        f"{v}/{t}.parquet" for v in ("baseline", "instant", "more_reps")
        for t in ("events", "leads")]
    assert not (out / scenario.INCOMPLETE).exists()


@pytest.mark.parametrize(("exc", "status", "code"), [(KeyboardInterrupt(), "KILLED", 130),
                                                     (OSError("disk full"), "FAILED", 1)])
def test_stopping_while_writing_marks_the_output_and_the_run(tmp_path, monkeypatch, capsys,
                                                             exc, status, code):
    """Ctrl-C after the first variant left one variant written, nothing marking the output
    incomplete, FINISHED runs, and a message claiming the run was marked KILLED."""
    real = scenario.write_tables
    calls = []

    def stop_at_second(res, out):
        calls.append(out)
        if len(calls) == 2:
            raise exc
        return real(res, out)

    monkeypatch.setattr(scenario, "write_tables", stop_at_second)
    out = tmp_path / "out"
    assert main(["simulate", str(_small(tmp_path)), "--out", str(out), "--leads", "30"]) == code
    err = capsys.readouterr().err
    marker = out / scenario.INCOMPLETE
    listed = marker.read_text().splitlines()[2:]
    assert listed == ["more_reps/leads.parquet", "more_reps/events.parquet",
                      "instant/leads.parquet", "instant/events.parquet"]
    assert (out / "baseline" / "events.parquet").is_file()
    parent = _parent()
    assert parent.info.status == status
    assert f"{marker} lists the tables still missing" in err
    assert f"MLflow run {parent.info.run_id} (simulate:tiny) is marked {status}" in err
    assert "Traceback" not in err
    # a later complete run removes the marker
    monkeypatch.setattr(scenario, "write_tables", real)
    assert main(["simulate", str(_small(tmp_path)), "--out", str(out), "--leads", "30"]) == 0
    assert not marker.exists()


def test_out_naming_a_file_is_refused_before_anything_runs(tmp_path, capsys):
    """--out naming a file gave a traceback after the runs were logged."""
    target = tmp_path / "tables.parquet"
    target.write_text("not a folder")
    assert main(["simulate", str(_small(tmp_path)), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out must be a folder") and str(target) in err
    assert mlflow.MlflowClient(tracking.tracking_uri()).get_experiment_by_name(
        tracking.DEFAULT_EXPERIMENT) is None
    with pytest.raises(NotADirectoryError, match="'out' parameter of run_scenario"):
        run_scenario(read_scenario(_small(tmp_path)), out=target)
    assert target.read_text() == "not a folder"


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    """SIGTERM was not handled: the process died and its runs stayed RUNNING forever."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    store = tmp_path / "mlruns"
    env = {**os.environ, "NURTURELAB_MLRUNS": str(store), "MPLBACKEND": "Agg"}
    env.pop("MLFLOW_TRACKING_URI", None)
    spec = _small(tmp_path, "name: long\nworld: {leads: 200000}\nvariants: {b: {}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "nurturelab.cli", "simulate", str(spec),
                             "--out", str(tmp_path / "out")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def statuses():
        try:
            with sqlite3.connect(f"file:{store / 'mlflow.db'}?mode=ro", uri=True) as con:
                return [r[0] for r in con.execute("SELECT status FROM runs")]
        except sqlite3.Error:
            return []

    deadline = time.monotonic() + 180
    while "RUNNING" not in statuses() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 143, err
    assert "terminated" in err and "(simulate:long) is marked KILLED" in err
    assert statuses() and "RUNNING" not in statuses()
    assert not (tmp_path / "out").exists()  # stopped before any table was written


def test_a_scenario_of_nested_aliases_or_huge_values_prints_a_short_error(tmp_path, capsys):
    """A 364-byte scenario printed 66 MB to stderr."""
    lines = ["calibration:", "  parameters:", "    a: &a [" + ",".join(["lol"] * 9) + "]"]
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"    {name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("world: {team: {reps: *g}}")
    bomb = _small(tmp_path, "\n".join(lines) + "\n")
    assert bomb.stat().st_size < 400
    assert main(["simulate", str(bomb)]) == 2
    err = capsys.readouterr().err
    assert str(bomb) in err and "aliases expand to more than" in err and len(err) < 2_000
    huge = _small(tmp_path, "world: {team: {reps: '" + "9" * 1_000_000 + "'}}\n")
    assert main(["simulate", str(huge)]) == 2
    err = capsys.readouterr().err
    assert str(huge) in err and "characters)" in err and len(err) < 2_000
