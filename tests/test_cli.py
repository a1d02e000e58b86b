import re

import pandas as pd
import pytest

from nurturelab import paths
from nurturelab.cli import main
from nurturelab.synthetic import make_export, write_sample

SAMPLE = paths.data_dir()


def _write(tmp_path, n=40, seed=2):
    leads, events = make_export(n_leads=n, seed=seed)
    lf, ef = tmp_path / "leads.csv", tmp_path / "events.csv"
    leads.to_csv(lf, index=False)
    events.to_csv(ef, index=False)
    return lf, ef


def test_validate_ok_prints_summary(tmp_path, capsys):
    lf, ef = _write(tmp_path)
    assert main(["validate", "--leads", str(lf), "--events", str(ef)]) == 0
    out = capsys.readouterr().out
    assert "OK:" in out and "40 rows" in out and "sources:" in out and "event types:" in out


def test_validate_bad_export_exits_2_with_the_errors(tmp_path, capsys):
    lf, ef = _write(tmp_path)
    ev = pd.read_csv(ef)
    ev.loc[3, "type"] = "phone_call"
    ev.to_csv(ef, index=False)
    assert main(["validate", "--leads", str(lf), "--events", str(ef)]) == 2
    err = capsys.readouterr().err
    assert str(ef) in err and "'type'" in err and "line 5" in err and "phone_call" in err


def test_validate_with_column_map(tmp_path, capsys):
    lf, ef = _write(tmp_path)
    pd.read_csv(lf).rename(columns={"lead_id": "Lead ID", "created_at": "Created"}).to_csv(
        lf, index=False)
    cmap = tmp_path / "map.yaml"
    cmap.write_text("leads:\n  columns: {lead_id: Lead ID, created_at: Created}\n")
    assert main(["validate", "--leads", str(lf), "--events", str(ef),
                 "--columns", str(cmap)]) == 0
    cmap.write_text("leads:\n  colums: {lead_id: Lead ID}\n")
    assert main(["validate", "--leads", str(lf), "--events", str(ef),
                 "--columns", str(cmap)]) == 2
    assert "colums" in capsys.readouterr().err


def test_committed_sample_is_what_the_generator_makes(tmp_path):
    """data/ is a back-test reference: regenerating it with the same seed gives the same bytes."""
    kept_files = (SAMPLE / "leads.csv", SAMPLE / "events.csv", SAMPLE / "lead_table.csv")
    for made, kept in zip(write_sample(tmp_path), kept_files, strict=True):
        assert made.read_bytes() == kept.read_bytes(), f"{kept} is stale: run `make sample`"
    assert sum(f.stat().st_size for f in kept_files) < 2e6


def _personal_values():
    leads = pd.read_csv(SAMPLE / "leads.csv")
    return set(leads["email"]) | set(leads["phone"]) | set(leads["name"])


def test_demo_logs_a_finished_run_and_no_personal_data(_private_mlflow_store, capsys):
    import mlflow

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Funnel as of" in out and "MLflow run" in out
    run_id = re.search(r"MLflow run ([0-9a-f]{32})", out).group(1)
    client = mlflow.MlflowClient(f"sqlite:///{_private_mlflow_store / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["leads"] == "1500"
    assert 0 < run.data.metrics["converted_pct"] < 100
    arts = {a.path for a in client.list_artifacts(run_id, "tables")}
    assert "tables/stage_conversion.csv" in arts and "tables/weekly_cohorts.csv" in arts
    assert [a.path for a in client.list_artifacts(run_id, "figures")] == ["figures/funnel.png"]
    # the weekly full-path report of the sample's last full week, in the same run
    assert [a.path for a in client.list_artifacts(run_id, "report")] == [
        "report/weekly-2026-W44.html"]
    assert "Weekly report 2026-W44: 2 of 6 targets met" in out

    # no name, e-mail or phone of the sample anywhere: the database, the artifacts, stdout
    personal = _personal_values()
    blobs = [p.read_bytes() for p in _private_mlflow_store.rglob("*") if p.is_file()]
    assert len(blobs) >= 3
    found = [v for v in personal if any(v.encode() in b for b in blobs) or v in out]
    assert found == []


def test_demo_fresh_sample_with_as_of(capsys):
    assert main(["demo", "--leads", "300", "--seed", "5", "--as-of", "2026-10-01"]) == 0
    out = capsys.readouterr().out
    assert "make_export(n_leads=300, seed=5)" in out
    assert "Funnel as of 2026-10-01 00:00 UTC" in out


def test_unknown_command_exits_nonzero():
    with pytest.raises(SystemExit) as exc:
        main(["fly"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--as-of", "yesterday"], "--as-of: must be a date"),
        (["demo", "--leads", "0"], "--leads: must be a whole number >= 1"),
        (["compare", "x.yaml", "--replications", "1"], "--replications: must be at least 2"),
    ],
)
def test_bad_options_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("nurturelab ")


def test_demo_runs_on_a_funnel_file_and_says_each_step(tmp_path, capsys):
    """`demo --funnel FILE`: the main job on the team's own stages (a four-stage funnel
    without proposal), with a progress line for every step on stderr."""
    funnel = tmp_path / "funnel.yaml"
    funnel.write_text(
        "stages:\n"
        "- {name: new, owner: sdr, exit_on: [connect, reply], target_days: 2}\n"
        "- {name: contacted, owner: sdr, exit_on: [demo_request], target_days: 7}\n"
        "- {name: qualified, owner: ae, target_days: 14}\n"
        "- {name: won, owner: ae}\n")
    assert main(["demo", "--funnel", str(funnel), "--sim-leads", "100"]) == 0
    captured = capsys.readouterr()
    assert "4 stages>" in captured.out  # the funnel report ran on the file's stages
    # one line per step, numbered 1..N of N, what it does and then how long it took
    lines = captured.err.splitlines()
    steps = [re.fullmatch(r"\[(\d+)/(\d+)\] (.+) \.\.\. (\d+\.\d) s", x) for x in lines[:-2]]
    assert all(steps), captured.err
    assert [int(m[1]) for m in steps] == list(range(1, 7))
    assert {int(m[2]) for m in steps} == {6}
    for m, step in zip(steps, ("loading the libraries, the funnel and the targets",
                               "reading the sample export data/leads.csv + events.csv",
                               "funnel, segments and weekly cohorts of 1,500 leads",
                               "weekly full-path report", "logging the run to MLflow",
                               "simulating 'speed_to_lead': 5 variants x 100 leads"), strict=True):
        assert step in m[3], captured.err
    total = float(re.fullmatch(r"done in (\d+\.\d) s", lines[-2])[1])
    assert sum(float(m[4]) for m in steps) <= total + 0.35  # each rounded to 0.1 s
    assert lines[-1] == ""
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [{name: new, owner: sdr, colour: red}]\n")
    assert main(["demo", "--funnel", str(bad)]) == 2
    err = capsys.readouterr().err
    assert re.match(r"\[1/6\] loading the libraries, the funnel and the targets \.\.\. "
                    r"failed after \d+\.\d s\nerror: .*colour", err), err


def test_main_job_is_a_result_and_runs_without_tracking():
    from nurturelab.demo import main_job, main_job_steps
    from nurturelab.schema import read_export

    from resultcheck import assert_result_protocol

    leads, events = read_export(SAMPLE / "leads.csv", SAMPLE / "events.csv")
    said = []
    job = main_job(leads, events, origin="sample", track=False, progress=said.append)
    assert said == main_job_steps(leads, events, track=False) == [
        "funnel, segments and weekly cohorts of 1,500 leads and 10,249 events",
        "the weekly full-path report of the last full week"]
    assert job.run_id is None and job.weekly is not None and job.simulation is None
    assert_result_protocol(job)
    assert job.summary.loc["converted_pct", "value"] == job.report.headline()["converted_pct"]
