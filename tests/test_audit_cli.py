"""`nurturelab audit`: simulated months with and without injected drift, the threshold recorded
by `nurturelab thresholds`, the HTML report in headless Chromium, and the clear refusals."""

from __future__ import annotations

import re

import mlflow
import pandas as pd
import pytest

from nurturelab import paths, tracking
from nurturelab.cli import main
from nurturelab.simulation import Arrivals, World, simulate

import browser

# The threshold and audit tests need a registered model, not a particular kind: the logistic
# one fits in a fraction of the time of `auto`, which cross-validates boosting too (auto's own
# choice is tested in tests/test_models_auto.py and tests/test_score_cli.py).
LOGISTIC = ["--kind", "logistic"]
RATES = {"paid_search": 9, "web_form": 7, "organic_search": 4, "referral": 3, "partner": 2}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """June to October from one simulated world, and the same with October's leads replaced by
    those of a world whose intake turned to high intent (the injected drift)."""
    stable = simulate(World(leads=3900, start="2026-06-01", tail_days=0,
                            arrivals=Arrivals(per_day=RATES)), seed=5)
    shifted = simulate(World(leads=850, start="2026-10-01", tail_days=0,
                             arrivals=Arrivals(per_day=RATES, intent={},
                                               default_intent=(0.1, 0.3, 0.6))), seed=6)
    until = min(stable.events["ts"].max(), shifted.events["ts"].max())
    assert until > pd.Timestamp("2026-10-31", tz="UTC")
    october = pd.Timestamp("2026-10-01", tz="UTC")
    old = stable.leads.loc[stable.leads["created_at"] < october]
    new = shifted.leads.assign(lead_id="D" + shifted.leads["lead_id"].astype(str))
    drifted_leads = pd.concat([old, new], ignore_index=True)
    drifted_events = pd.concat([
        stable.events[stable.events["lead_id"].isin(old["lead_id"])],
        shifted.events.assign(lead_id="D" + shifted.events["lead_id"].astype(str))],
        ignore_index=True)
    out = {}
    for name, (leads, events) in {"stable": (stable.leads, stable.events),
                                  "drifted": (drifted_leads, drifted_events)}.items():
        folder = tmp_path_factory.mktemp(name)
        leads.to_parquet(folder / "leads.parquet")
        events[events["ts"] <= until].sort_values("ts").to_parquet(folder / "events.parquet")
        out[name] = ["--leads", str(folder / "leads.parquet"),
                     "--events", str(folder / "events.parquet")]
    return out


def _status(out: str, check: str) -> str:
    return re.search(rf"\s{re.escape(check)}\s+(\w+)", out).group(1)


def test_drift_injected_into_simulated_leads_is_caught(exports, tmp_path, capsys):
    rc = main(["audit", "--month", "2026-10", "--points", *exports["drifted"], "--n-boot", "50",
               "--out", str(tmp_path / "drifted.html")])
    out = capsys.readouterr().out
    assert _status(out, "PSI intent") == "fail"
    assert rc == 1 and "(overall: fail)" in out

    rc = main(["audit", "--month", "2026-10", "--points", *exports["stable"], "--n-boot", "50",
               "--out", str(tmp_path / "stable.html")])
    out = capsys.readouterr().out
    assert _status(out, "PSI intent") == "pass"
    assert _status(out, "PSI segment") == "pass"
    assert rc == (1 if "(overall: fail)" in out else 0)


def test_model_audit_uses_the_threshold_recorded_for_it(exports, tmp_path, capsys):
    files = exports["stable"]
    assert main(["score", "fit", *files, "--alias", "champion", *LOGISTIC]) == 0
    assert main(["thresholds", *files, "--by", "capacity", "--capacity", "8"]) == 0
    mv = tracking.model_version("champion")
    recorded = float(mv.tags["threshold.capacity.threshold"])
    assert float(mv.tags["threshold.capacity.days"]) == 30  # the model's own horizon by default
    # what the audit reads back: the version's threshold tags and the model's horizon
    version, tags = tracking.recorded_threshold("champion")
    assert version == str(mv.version)
    assert tags["threshold.capacity.threshold"] == mv.tags["threshold.capacity.threshold"]
    assert set(tags) == {k for k in mv.tags if k.startswith("threshold")}
    assert tracking.model_horizon_days("champion") == 30.0
    capsys.readouterr()
    target = tmp_path / "audit.html"
    rc = main(["audit", "--month", "2026-10", *files, "--n-boot", "50", "--out", str(target)])
    out = capsys.readouterr().out
    assert rc in (0, 1) and rc == (1 if "(overall: fail)" in out else 0)
    assert f"threshold {recorded:.4g} (recorded on version {mv.version}, chosen by capacity" in out
    assert "recorded when the threshold was chosen" in target.read_text()
    assert _status(out, "flagged per day") in ("pass", "warn", "fail")  # a capacity was known
    run_id = re.search(r"MLflow run (\w+)", out).group(1)
    run = mlflow.MlflowClient().get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["audit_status"] in ("pass", "warn", "fail", "pending")
    assert float(run.data.params["threshold"]) == pytest.approx(recorded)
    assert "discrimination.auc" in run.data.metrics
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "report")}
    assert "report/audit.html" in arts


def test_choosing_by_value_keeps_the_capacity_threshold_the_audit_checks(exports, capsys):
    """Regression (issue 14): `thresholds --by value` after `--by capacity` replaced the
    recorded threshold, and the audit then skipped its capacity check."""
    files = exports["stable"]
    assert main(["score", "fit", *files, "--alias", "champion", *LOGISTIC]) == 0
    assert main(["thresholds", *files, "--by", "capacity", "--capacity", "8"]) == 0
    capacity = float(tracking.model_version("champion").tags["threshold.capacity.threshold"])
    assert main(["thresholds", *files, "--by", "value", "--deal-value", "500",
                 "--cost", "20"]) == 0
    out = capsys.readouterr().out
    assert "thresholds recorded there: capacity" in out and ", value " in out
    tags = tracking.model_version("champion").tags
    assert float(tags["threshold.capacity.threshold"]) == capacity
    assert float(tags["threshold.capacity.capacity_per_day"]) == 8
    assert "threshold.value.threshold" in tags
    main(["audit", "--month", "2026-10", *files, "--n-boot", "20", "--no-track",
          "--out", "/dev/null"])
    out = capsys.readouterr().out
    assert f"threshold {capacity:.4g} (recorded on version" in out and "chosen by capacity" in out
    assert _status(out, "flagged per day") != "skip"
    value = float(tags["threshold.value.threshold"])
    main(["audit", "--month", "2026-10", *files, "--n-boot", "20", "--no-track",
          "--out", "/dev/null", "--threshold-by", "value"])
    out = capsys.readouterr().out
    assert f"threshold {value:.4g} (recorded on version" in out and "chosen by value" in out
    assert main(["audit", "--month", "2026-10", *files, "--no-track", "--out", "/dev/null",
                 "--threshold-by", "precision"]) == 2
    assert "no threshold chosen by precision is recorded" in capsys.readouterr().err


def test_a_threshold_chosen_for_another_horizon_is_not_held_against_it(exports, capsys):
    files = exports["stable"]
    assert main(["score", "fit", *files, "--alias", "champion", *LOGISTIC]) == 0
    assert main(["thresholds", *files, "--by", "capacity", "--capacity", "8",
                 "--horizon-days", "14"]) == 0
    capsys.readouterr()
    main(["audit", "--month", "2026-10", *files, "--n-boot", "20", "--no-track",
          "--out", "/dev/null"])
    captured = capsys.readouterr()
    assert "chosen for conversion within 14 days, this audit judges 30" in captured.err
    assert "recorded when the threshold was chosen" not in captured.out
    assert re.search(r"flagged per day\s+skip", captured.out)  # its capacity is not used


def test_reference_names_the_months_that_had_leads(capsys):
    main(["audit", "--month", "2026-10", "--points", "--reference-months", "12", "--n-boot",
          "20", "--no-track", "--out", "/dev/null"])
    captured = capsys.readouterr()
    assert "only 2026-09 had open leads" in captured.err
    assert "Audit of 2026-10 against 2026-09:" in captured.out


def test_sample_report_renders_in_chromium_without_personal_data(tmp_path, capsys):
    target = tmp_path / "audit-2026-10.html"
    rc = main(["audit", "--month", "2026-10", "--points", "--n-boot", "50", "--no-track",
               "--out", str(target)])
    assert rc in (0, 1)
    page = target.read_text()
    leads = pd.read_csv(paths.data_dir() / "leads.csv")
    for col in ("name", "email", "phone"):
        leaked = [v for v in leads[col].astype(str) if v in page]
        assert not leaked, f"{col} values in the report: {leaked[:3]}"
    seen = browser.render_check(target)
    assert seen["images"] == 5 and seen["decoded"] == 5, seen
    assert seen["tables"] >= 5 and seen["rows"] > 20
    assert seen["title"] == "Scoring audit: 2026-10"


def test_immature_month_is_pending_not_failed(capsys):
    rc = main(["audit", "--month", "2026-10", "--points", "--n-boot", "20", "--no-track",
               "--as-of", "2026-10-20", "--out", "/dev/null"])
    out = capsys.readouterr().out
    assert _status(out, "AUC") == "pending"
    assert _status(out, "conversion above threshold") == "pending"
    assert rc == (1 if "(overall: fail)" in out else 0)


@pytest.mark.parametrize(("argv", "message"), [
    (["--month", "2027-03", "--points"], "2027-03 is outside the export"),
    (["--month", "2026-09", "--points", "--reference-months", "1"],
     "2026-08 has no open leads"),
    (["--month", "2026-10", "--model", "nosuch"], "no model 'lead-score' with alias 'nosuch'"),
    (["--month", "2026-10", "--points", "--leads", "missing.csv"], "missing.csv"),
    # regressions: these reached the snapshots outside the error handling (a traceback)
    (["--month", "2026-10", "--points", "--every-days", "0"],
     "'every_days' must be a positive number. Got 0.0 instead."),
    (["--month", "2026-10", "--points", "--horizon-days", "-5"],
     "The 'horizon_days' field of AuditSettings must be a finite number > 0 or None. Got -5.0"),
])
def test_refusals_are_clear(argv, message, capsys):
    assert main(["audit", *argv, "--no-track", "--out", "/dev/null"]) == 2
    assert message in capsys.readouterr().err


def test_bad_month_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--month", "October"])
    assert exc.value.code == 2 and "YYYY-MM" in capsys.readouterr().err
