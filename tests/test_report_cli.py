"""`nurturelab report`: on the sample and on a simulation's output, the HTML in headless
Chromium, the MLflow run, and clear refusals."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from nurturelab import paths
from nurturelab.cli import main

_spec = importlib.util.spec_from_file_location("_nurturelab_test_browser",
                                               Path(__file__).with_name("browser.py"))
browser = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser)


def test_sample_report_renders_logs_and_keeps_personal_data_out(tmp_path, capsys):
    target = tmp_path / "weekly.html"
    assert main(["report", "--out", str(target)]) == 0
    out = capsys.readouterr().out
    assert "Weekly report 2026-W44" in out  # the sample ends on Sunday 1 November
    assert "unavailable: content_engagement: needs the events column(s) ['content']" in out
    assert "high-intent speed to lead" in out  # data/targets.yaml
    page = target.read_text()
    leads = pd.read_csv(paths.data_dir() / "leads.csv")
    for col in ("name", "email", "phone"):
        leaked = [v for v in leads[col].astype(str) if v in page or v in out]
        assert not leaked, f"{col} values in the report: {leaked[:3]}"
    run_id = re.search(r"MLflow run (\w+)", out).group(1)
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["week"] == "2026-W44"
    assert 0 <= run.data.metrics["reply_rate"] <= 1
    assert {a.path for a in client.list_artifacts(run_id, "report")} == {"report/weekly.html"}
    seen = browser.render_check(target)
    assert seen["images"] >= 6 and seen["decoded"] == seen["images"], seen
    assert seen["tables"] >= 8 and seen["title"] == "Weekly full-path report: 2026-W44"


def test_report_on_a_simulation_output(tmp_path, capsys):
    scenario = paths.project_root() / "simulations" / "speed_to_lead.yaml"
    assert main(["simulate", str(scenario), "--leads", "800", "--out", str(tmp_path / "sim"),
                 "--no-track"]) == 0
    folder = next(p.parent for p in sorted((tmp_path / "sim").rglob("events.parquet")))
    capsys.readouterr()
    events = pd.read_parquet(folder / "events.parquet")
    week = f"{events['ts'].max().isocalendar()[0]}-W{events['ts'].max().isocalendar()[1]:02d}"
    rc = main(["report", "--week", week, "--leads", str(folder / "leads.parquet"),
               "--events", str(folder / "events.parquet"), "--targets", "none", "--no-track",
               "--out", str(tmp_path / "w.html")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "reply_rate_by_personalisation" in out  # the simulation tags its touches
    assert "unavailable: content_engagement" not in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--week", "2027-W02"], "2027-W02 has no leads and no events in this export"),
    (["--targets", "{bad}"], "bad_targets.yaml"),
    (["--leads", "missing.csv"], "missing.csv"),
    (["--cadence", "nosuch"], "nosuch"),
])
def test_refusals_are_clear(argv, message, tmp_path, capsys):
    bad = tmp_path / "bad_targets.yaml"
    bad.write_text("targets:\n  - {name: x, metric: speed_to_lead, target: '< 5', "
                   "deadline: 2026-12-31}\n")
    argv = [str(bad) if a == "{bad}" else a for a in argv]
    assert main(["report", *argv, "--no-track", "--out", str(tmp_path / "w.html")]) == 2
    err = capsys.readouterr().err
    assert message in err
    if "bad_targets" in message:
        assert "unknown metric 'speed_to_lead'" in err and "speed_to_first_contact_min" in err
    assert not (tmp_path / "w.html").exists()


def test_malformed_week_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--week", "2026-47"])
    assert exc.value.code == 2 and "YYYY-Www" in capsys.readouterr().err
