"""`nurturelab backtest`: exit codes (0 all pass, 1 any fails, 2 bad input), the printed table
and verdict, the HTML report and the MLflow run."""

from __future__ import annotations

import importlib.util
import re
import warnings
from dataclasses import replace
from pathlib import Path

import mlflow
import pytest

from nurturelab import tracking
from nurturelab.cli import main
from nurturelab.response import ResponseModel
from nurturelab.scenario import write_scenario
from nurturelab.simulation import Arrivals, Team, World, simulate

_spec = importlib.util.spec_from_file_location("_nurturelab_test_browser",
                                               Path(__file__).with_name("browser.py"))
browser = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser)

WORLD = World(team=Team(reps=3, shift=(8.0, 18.0)), leads=2000, tail_days=15,
              start="2026-02-02", response=ResponseModel(heterogeneity=0.0),
              arrivals=Arrivals(per_day={"paid_search": 16, "web_form": 10, "referral": 9}))
SLOW = replace(WORLD, team=Team(reps=1, shift=(8.0, 18.0), handling_minutes={
    "call": 12.0, "voicemail": 2.0, "sms": 2.0, "email": 8.0}))
HOLDOUT = "2026-03-16"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The export of WORLD, and two scenario files: WORLD itself and a team of one slow rep."""
    folder = tmp_path_factory.mktemp("export")
    res = simulate(WORLD, seed=2)
    res.leads.to_parquet(folder / "leads.parquet")
    res.events.to_parquet(folder / "events.parquet")
    write_scenario(folder / "own.yaml", WORLD, name="own_world")
    write_scenario(folder / "slow.yaml", SLOW, name="one_slow_rep")
    (folder / "broken.yaml").write_text("name: broken\nworld:\n  reps: 3\n")
    return {"folder": folder,
            "export": ["--leads", str(folder / "leads.parquet"),
                       "--events", str(folder / "events.parquet")],
            "own": str(folder / "own.yaml"), "slow": str(folder / "slow.yaml"),
            "broken": str(folder / "broken.yaml"), "ids": set(res.leads["lead_id"])}


def _run(argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return main(argv)


def _run_id(out: str) -> str:
    return re.search(r"MLflow run (\w+)", out).group(1)


def test_a_scenario_that_holds_passes_exits_0_and_logs_a_finished_run(files, tmp_path, capsys):
    page = tmp_path / "own.html"
    rc = _run(["backtest", files["own"], *files["export"], "--holdout-from", HOLDOUT,
               "--replications", "12", "--seed", "1", "--out", str(page)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "PASS:" in out and re.search(r"speed_median_min\s+speed", out)
    run = mlflow.MlflowClient().get_run(_run_id(out))
    assert run.info.status == "FINISHED"
    assert run.data.tags["job"] == "backtest" and run.data.tags["backtest_status"] == "pass"
    p = run.data.params
    assert p["scenario"] == "own_world" and p["replications"] == "12" and p["seed"] == "1"
    assert p["holdout_from"].startswith("2026-03-16") and p["leads_file"] == "leads.parquet"
    m = run.data.metrics
    assert {"speed_median_min", "speed_median_min.z", "kpis_failed"} <= set(m)
    assert m["kpis_failed"] == 0 and m["kpis_passed"] >= 25
    client = mlflow.MlflowClient()
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "tables")}
    assert {"tables/backtest.csv", "tables/replications.csv"} <= tables
    assert "report/own.html" in {a.path for a in client.list_artifacts(run.info.run_id,
                                                                          "report")}
    text = page.read_text()
    assert "Back-test: own_world" in text
    assert not any(i in text for i in list(files["ids"])[:300])  # no lead-level data
    seen = browser.render_check(page)
    assert seen["images"] == 2 and seen["decoded"] == 2, seen
    assert seen["tables"] == 1 and seen["rows"] >= 30 and seen["title"] == "Back-test: own_world"


def test_a_scenario_that_does_not_hold_fails_exits_1_and_marks_its_run_failed(files, tmp_path,
                                                                               capsys):
    page = tmp_path / "slow.html"
    rc = _run(["backtest", files["slow"], *files["export"], "--holdout-from", HOLDOUT,
               "--replications", "4", "--out", str(page)])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert re.search(r"FAIL: .*outside: .*within_5min", out)
    run = mlflow.MlflowClient().get_run(_run_id(out))
    assert run.info.status == "FAILED" and run.data.tags["backtest_status"] == "fail"
    assert run.data.metrics["kpis_failed"] >= 3
    assert page.is_file() and "fail" in page.read_text()


def test_without_tracking_only_the_report_is_written(files, tmp_path, capsys):
    page = tmp_path / "quiet.html"
    rc = _run(["backtest", files["own"], *files["export"], "--holdout-from", "2026-03-23",
               "--replications", "2", "--no-track", "--out", str(page)])
    out = capsys.readouterr().out
    assert rc in (0, 1) and "MLflow run" not in out and page.is_file()
    mlflow.set_tracking_uri(tracking.tracking_uri())
    assert not mlflow.search_runs(search_all_experiments=True, output_format="list")


@pytest.mark.parametrize(("case", "message"), [
    ("missing export", r"error: .*nowhere\.parquet"),
    ("scenario does not parse", r"error: .*broken\.yaml: world: unknown key\(s\) \['reps'\]"),
    ("holdout before the export", r"error: The 'holdout_from' parameter of backtest must lie "
                                  r"within the export"),
    ("holdout after the export", r"error: The 'holdout_from' parameter of backtest must lie "
                                 r"within the export"),
    ("no leads in the window", r"error: backtest: no lead of the export was created in the "
                               r"held-out window"),
    ("unknown scenario file", r"error: .*absent\.yaml"),
])
def test_bad_input_exits_2_with_a_clear_message(files, capsys, case, message):
    folder = files["folder"]
    scenario, export, holdout = files["own"], list(files["export"]), HOLDOUT
    if case == "missing export":
        export[1] = str(folder / "nowhere.parquet")
    elif case == "scenario does not parse":
        scenario = files["broken"]
    elif case == "holdout before the export":
        holdout = "2025-06-01"
    elif case == "holdout after the export":
        holdout = "2027-06-01"
    elif case == "no leads in the window":
        holdout = "2026-04-05"  # after the last lead's creation, inside the 15-day tail
    else:
        scenario = str(folder / "absent.yaml")
    rc = _run(["backtest", scenario, *export, "--holdout-from", holdout, "--replications",
               "2", "--no-track", "--out", str(folder / "never.html")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert re.search(message, err), err
    assert not (folder / "never.html").exists()


def test_bad_arguments_are_refused_by_the_parser(files, capsys):
    for extra in (["--replications", "1"], ["--warmup-days", "-3"], ["--jobs", "0"],
                  ["--holdout-from", "someday"]):
        argv = ["backtest", files["own"], *files["export"], "--holdout-from", HOLDOUT, *extra]
        with pytest.raises(SystemExit) as exc:
            _run(argv)
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "must be at least 2" in err and "must be a number of days >= 0" in err
    assert "or -1 for every core" in err and "must be a date or timestamp" in err
