"""`nurturelab report`: on the sample and on a simulation's output, the HTML in headless
Chromium, the MLflow run, and clear refusals."""

from __future__ import annotations

import re

import mlflow
import pandas as pd
import pytest

from nurturelab import paths
from nurturelab.cli import main

import browser


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


FOUR_STAGES = """\
stages:
  - {name: new, owner: sdr, exit_on: [connect, reply], target_days: 2}
  - {name: engaged, owner: sdr, exit_on: [demo_request], target_days: 7}
  - {name: qualified, owner: ae, target_days: 14}
  - {name: won, owner: ae}
"""


def test_report_on_a_funnel_file(tmp_path, capsys):
    funnel = tmp_path / "funnel.yaml"
    funnel.write_text(FOUR_STAGES)
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  - {name: engaged moves on, metric: stage_conversion.engaged, "
                       "target: '>= 10%', deadline: 2026-12-31}\n")
    rc = main(["report", "--funnel", str(funnel), "--targets", str(targets), "--weeks", "2",
               "--no-track", "--out", str(tmp_path / "w.html")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "engaged → qualified in the week" in out and "engaged moves on" in out
    assert "stage_conversion.proposal" not in out  # the default funnel's stage is not there
    assert "stage_conversion.engaged" in (tmp_path / "w.html").read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["--week", "2027-W02"], "2027-W02 has no leads and no events in this export"),
    (["--targets", "{bad}"], "bad_targets.yaml"),
    (["--leads", "missing.csv"], "missing.csv"),
    (["--cadence", "nosuch"], "nosuch"),
    (["--funnel", "{funnel}"], "bad_funnel.yaml: stages[1]: unknown key(s) ['exit']; allowed "
                               "keys are ['name', 'owner', 'exit_on', 'target_days']"),
    (["--funnel", "{four}", "--targets", "{default_targets}"],
     "target 'high-intent speed to lead'"),
])
def test_refusals_are_clear(argv, message, tmp_path, capsys):
    bad = tmp_path / "bad_targets.yaml"
    bad.write_text("targets:\n  - {name: x, metric: speed_to_lead, target: '< 5', "
                   "deadline: 2026-12-31}\n")
    bad_funnel = tmp_path / "bad_funnel.yaml"
    bad_funnel.write_text("stages:\n  - {name: new, owner: sdr}\n  - {name: won, owner: ae, "
                          "exit: [reply]}\n")
    four = tmp_path / "four.yaml"
    four.write_text(FOUR_STAGES)
    # a target on a stage metric the four-stage funnel has not
    on_proposal = tmp_path / "targets.yaml"
    on_proposal.write_text((paths.data_dir() / "targets.yaml").read_text().replace(
        "speed_to_first_contact_min", "stage_conversion.proposal").replace('"< 5"', '">= 0.1"'))
    files = {"{bad}": bad, "{funnel}": bad_funnel, "{four}": four,
             "{default_targets}": on_proposal}
    argv = [str(files.get(a, a)) for a in argv]
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
