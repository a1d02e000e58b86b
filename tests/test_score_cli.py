"""`nurturelab score fit` and `score apply` on a simulated export, through the registry."""

import re

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


def _files(folder):
    return ["--leads", str(folder / "leads.parquet"), "--events", str(folder / "events.parquet")]


def test_fit_registers_then_apply_scores_open_leads(export, tmp_path, capsys):
    assert main(["score", "fit", *_files(export), "--alias", "champion"]) == 0
    out = capsys.readouterr().out
    auc = float(re.search(r"model\s+([0-9.]+)", out).group(1))
    assert auc > 0.6  # behaviour carries signal in the simulated world
    assert "alias 'champion'" in out
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
