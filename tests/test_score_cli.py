"""`nurturelab score fit` and `score apply` on a simulated export, through the registry."""

import re

import numpy as np
import pandas as pd
import pytest

from nurturelab.cli import main
from nurturelab.simulation import World, simulate


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    res = simulate(World(leads=4000), seed=21)
    res.leads.to_parquet(folder / "leads.parquet")
    res.events.to_parquet(folder / "events.parquet")
    return folder


EXPLAINED = ("Cross-validated on the training data (3 splits",
             "kind 'auto' kept ",
             "Calibration on the holdout, by decile of prediction",
             "Features that matter most (")


def _files(folder):
    return ["--leads", str(folder / "leads.parquet"), "--events", str(folder / "events.parquet")]


def test_fit_registers_then_apply_scores_open_leads(export, tmp_path, capsys):
    assert main(["score", "fit", *_files(export), "--alias", "champion"]) == 0
    out = capsys.readouterr().out
    auc = float(re.search(r"model\s+([0-9.]+)", out).group(1))
    assert auc > 0.6  # behaviour carries signal in the simulated world
    assert "alias 'champion'" in out
    for section in EXPLAINED:
        assert section in out
    target = tmp_path / "scores.csv"
    assert main(["score", "apply", *_files(export), "--out", str(target), "--top", "3"]) == 0
    scored = pd.read_csv(target, index_col="lead_id")
    assert scored["p_convert"].between(0, 1).all()
    assert scored["p_convert"].is_monotonic_decreasing
    assert "open leads" in capsys.readouterr().out


def test_apply_with_a_missing_alias_exits_2(export, capsys):
    assert main(["score", "apply", *_files(export), "--alias", "gold"]) == 2
    assert "alias 'gold'" in capsys.readouterr().err


def test_fit_refuses_snapshots_without_conversions(export, capsys):
    assert main(["score", "fit", *_files(export), "--train-until", "2026-01-06",
                 "--test-from", "2026-01-08", "--horizon-days", "1"]) == 2
    assert "no conversions" in capsys.readouterr().err


def _crm_table(n=1500, seed=3):
    """A lead-level CRM export of the common kind: ids, origin and source, visit counts with
    gaps, profile fields full of 'Select' placeholders, and a 0/1 Converted flag."""
    rng = np.random.default_rng(seed)
    visits = rng.poisson(3, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan
    minutes = rng.gamma(2, 300, n)
    origin = rng.choice(["API", "Landing Page Submission", "Lead Add Form"], n)
    spec = rng.choice(["Select", "Finance Management", "Marketing Management", "Select"], n)
    logit = -2.5 + 0.004 * minutes + 1.2 * (origin == "Lead Add Form") + 0.1 * np.nan_to_num(
        visits)
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"Prospect ID": [f"p{i}" for i in range(n)], "Lead Origin": origin,
                         "TotalVisits": visits, "Total Time Spent on Website": minutes,
                         "Specialization": spec, "Converted": converted.astype(int)})


def test_fit_on_a_lead_level_table_through_a_table_map(tmp_path, capsys):
    table = tmp_path / "crm.csv"
    _crm_table().to_csv(table, index=False)
    tmap = tmp_path / "map.yaml"
    tmap.write_text("columns:\n  converted: Converted\n  lead_id: Prospect ID\n"
                    "id_column: lead_id\n")
    assert main(["score", "fit", "--table", str(table), "--table-columns", str(tmap),
                 "--alias", "challenger"]) == 0
    out = capsys.readouterr().out
    auc = float(re.search(r"\nmodel\s+([0-9.]+)", out).group(1))
    assert auc > 0.75 and "alias 'challenger'" in out
    assert "stratified holdout of 375" in out
    for section in EXPLAINED:  # a table is explained as an export is
        assert section in out
    importance = out.split("Features that matter most")[1]
    assert importance.splitlines()[3].split()[0] == "Total"  # time on the website leads


def test_fit_with_a_fixed_kind_and_threads(tmp_path, capsys):
    table = tmp_path / "crm.csv"
    _crm_table(600).to_csv(table, index=False)
    assert main(["score", "fit", "--table", str(table), "--target", "Converted", "--id",
                 "Prospect ID", "--kind", "logistic", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<ScoreFit: logistic model, stratified holdout")
    assert "kind 'auto' kept" not in out and "Cross-validated on the training data" in out
    with pytest.raises(SystemExit):
        main(["score", "fit", "--table", str(table), "--threads", "0"])
    assert "--threads: must be a whole number >= 1" in capsys.readouterr().err


def test_table_flags_override_the_table_map(tmp_path, capsys):
    import mlflow

    from nurturelab import tracking

    table = tmp_path / "crm.csv"
    _crm_table().to_csv(table, index=False)
    tmap = tmp_path / "map.yaml"
    tmap.write_text("columns: {converted: Converted, lead_id: Prospect ID}\n"
                    "drop: [Specialization]\n")
    assert main(["score", "fit", "--table", str(table), "--table-columns", str(tmap),
                 "--id", "lead_id", "--drop", "TotalVisits"]) == 0
    run_id = re.search(r"logged in run ([0-9a-f]{32})", capsys.readouterr().out).group(1)
    model = tracking.load_model("challenger")
    assert list(model.feature_names_in_) == ["Lead Origin", "Total Time Spent on Website",
                                             "Specialization"]
    params = mlflow.MlflowClient(tracking.tracking_uri()).get_run(run_id).data.params
    assert params["table"] == "crm.csv" and params["validation"] == "stratified"


def test_table_and_export_flags_are_not_mixed(export, tmp_path, capsys):
    table = tmp_path / "crm.csv"
    _crm_table(50).to_csv(table, index=False)
    cmap = tmp_path / "map.yaml"
    cmap.write_text("converted: Converted\n")
    assert main(["score", "fit", "--table", str(table), "--columns", str(cmap)]) == 2
    assert "--table-columns MAP.yaml" in capsys.readouterr().err
    assert main(["score", "fit", *_files(export), "--table-columns", str(cmap)]) == 2
    assert "give an export's column map with --columns" in capsys.readouterr().err
    assert main(["score", "fit", "--table", str(table), *_files(export)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["score", "fit", "--table", str(table), "--test-from", "2026-03-01"]) == 2
    assert "a --table has no event times" in capsys.readouterr().err
    assert main(["score", "fit", "--table", str(table), "--table-columns", str(cmap)]) == 2
    assert "unknown key(s) ['converted'] in the table map" in capsys.readouterr().err


def test_lead_table_flag_errors_name_the_rows(tmp_path):
    from nurturelab.scoring.table import read_lead_table

    bad = _crm_table(20).astype({"Converted": object})
    bad.loc[[3, 7], "Converted"] = "maybe"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"'converted'.*line 5 'maybe', line 9 'maybe'"):
        read_lead_table(path, columns={"converted": "Converted"})
    with pytest.raises(KeyError, match="no target column 'converted'"):
        read_lead_table(path)


def test_thresholds_by_capacity_with_the_model_and_by_precision_with_points(export, capsys):
    import mlflow

    from nurturelab import tracking

    assert main(["score", "fit", *_files(export), "--alias", "champion"]) == 0
    capsys.readouterr()
    assert main(["thresholds", *_files(export), "--by", "capacity", "--capacity", "10"]) == 0
    out = capsys.readouterr().out
    flagged = float(re.search(r"flagged_per_day\s+([0-9.]+)", out.split("chosen by")[1]).group(1))
    assert flagged <= 10  # never more leads a day than the team can work
    run_id = re.search(r"MLflow run ([0-9a-f]{32})", out).group(1)
    run = mlflow.MlflowClient(tracking.tracking_uri()).get_run(run_id)
    assert run.info.status == "FINISHED" and "threshold" in run.data.metrics
    assert main(["thresholds", *_files(export), "--by", "precision", "--precision", "0.05",
                 "--scorer", "points"]) == 0
    assert "the default points" in capsys.readouterr().out
    assert main(["thresholds", *_files(export), "--by", "capacity"]) == 2
    assert "needs --capacity" in capsys.readouterr().err
