"""nurturelab.experiment.simulated without long simulations: SimExperiment's analysis and face on
hand-made runs, the arms of scenario files, and logging without choosing a matplotlib backend.
The simulations themselves (sweeps, CRN, A/A rates, the compare command) are in test_sweep.py.
"""

from __future__ import annotations

import re

import matplotlib
import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from nurturelab import paths, tracking
from nurturelab.cli import main
from nurturelab.experiment import SimExperiment, arms_from_scenarios, log_experiment
from nurturelab.experiment.simulated import run_experiment
from nurturelab.scenario import Scenario, read_scenario
from nurturelab.simulation import World

from resultcheck import assert_result_protocol

SIMS = paths.project_root() / "simulations"
METRICS = ("contact_rate", "conversion_rate", "speed_median_min")


def _runs(arms=("a", "b", "c"), replications=6, seed=0) -> pd.DataFrame:
    """Runs shaped like sweep's: arm b contacts 2 points more than a, c the same as a."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(replications):
        shared = rng.normal(0, 0.03)  # what common random numbers share within a replication
        for arm in arms:
            lift = 0.02 if arm == "b" else 0.0
            rows.append({"arm": arm, "replication": r, "seed": 1000 + r,
                         "contact_rate": 0.55 + shared + lift + rng.normal(0, 0.004),
                         "conversion_rate": 0.05 + shared / 10 + rng.normal(0, 0.002),
                         "speed_median_min": 30 + 100 * shared + rng.normal(0, 1)})
    return pd.DataFrame(rows)


@pytest.fixture
def exp():
    return SimExperiment(runs=_runs(), control="a", crn=True, metrics=METRICS)


def test_sim_experiment_summary_is_the_paired_t_analysis(exp):
    runs = exp.runs
    s = exp.summary
    assert list(s.index) == [(m, a) for m in METRICS for a in ("a", "b", "c")]
    assert list(s.columns) == ["replications", "mean", "ci_low", "ci_high", "diff", "diff_low",
                               "diff_high", "statistic", "p_value", "p_holm", "significant",
                               "diff_low_holm",
                               "diff_high_holm", "decision"]
    for m in METRICS:
        wide = runs.pivot(index="replication", columns="arm", values=m)
        lo, hi = stats.t.interval(0.95, 5, loc=wide["b"].mean(), scale=stats.sem(wide["b"]))
        assert (s.loc[(m, "b"), "ci_low"], s.loc[(m, "b"), "ci_high"]) == pytest.approx((lo, hi))
        paired = [stats.ttest_rel(wide[a], wide["a"]) for a in ("b", "c")]
        p = [t.pvalue for t in paired]
        assert s.loc[(m, ["b", "c"]), "p_value"].to_numpy() == pytest.approx(p)
        assert s.loc[(m, ["b", "c"]), "statistic"].to_numpy() == pytest.approx(
            [t.statistic for t in paired])
        holm = multipletests(p, method="holm")[1]
        assert s.loc[(m, ["b", "c"]), "p_holm"].to_numpy() == pytest.approx(holm)
        assert s.loc[(m, "b"), "diff"] == pytest.approx((wide["b"] - wide["a"]).mean())
    control = s.xs("a", level="arm")
    assert control[["diff", "p_value", "p_holm"]].isna().all().all()
    assert bool(s.loc[("contact_rate", "b"), "significant"])
    assert not bool(s.loc[("contact_rate", "c"), "significant"])


def test_sim_experiment_keeps_the_result_protocol(exp):
    assert_result_protocol(exp)
    assert_result_protocol(exp, metric="contact_rate")
    assert repr(exp) == ("<SimExperiment: 3 arms x 6 replications, control 'a', common random "
                         "numbers>")
    assert exp.replications == 6 and exp.arms == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"'metric' must be one of \['contact_rate', "):
        exp.plot(metric="opt_out_rate")


def test_sim_experiment_prints_a_clean_table_and_how_to_read_it(exp):
    lines = str(exp).splitlines()
    assert lines[0] == repr(exp) and lines[1] == ""
    assert lines[2].split() == ["mean", "ci_low", "ci_high", "diff", "diff_low", "diff_high",
                                "p_holm"]
    assert lines[3].split() == ["metric", "arm"]
    row = exp.summary.loc[("contact_rate", "b")]
    assert lines[5].split() == ["b", f"{row['mean']:.3f}", f"{row['ci_low']:.3f}",
                                f"{row['ci_high']:.3f}", f"{row['diff']:.3f}",
                                f"{row['diff_low']:.3f}", f"{row['diff_high']:.3f}",
                                f"{row['p_holm']:.3f}"]
    assert lines[4].split()[:2] == ["contact_rate", "a"] and lines[4].split()[-1] == "-"
    assert "object at 0x" not in str(exp) and "SimExperiment(" not in str(exp)
    assert "Replications are the unit of analysis" in lines[-1]
    assert "variance of paired differences" not in str(exp)
    exp.variance_reduction = pd.Series({"contact_rate": 4.25})
    assert "variance of paired differences, independent / CRN: contact_rate 4.2x" in str(exp)
    few = SimExperiment(runs=_runs(replications=3), control="a", crn=False, metrics=METRICS)
    assert str(few).splitlines()[-1].startswith("Only 3 replications")
    assert "independent random numbers" in repr(few)


def test_log_experiment_chooses_no_matplotlib_backend(exp, monkeypatch):
    """Library code never picks a backend (it used to call matplotlib.use("Agg"))."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"matplotlib.use{args} called by library code")

    monkeypatch.setattr(matplotlib, "use", refuse)
    run_id = log_experiment(exp, "hand-made", params={"leads": "100"})
    client = mlflow.MlflowClient(tracking.tracking_uri())
    parent = client.get_run(run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["arms"] == "a,b,c" and parent.data.params["replications"] == "6"
    assert parent.data.metrics["contact_rate.b.diff"] == pytest.approx(
        exp.summary.loc[("contact_rate", "b"), "diff"])
    artifacts = [a.path for a in client.list_artifacts(run_id, "figures")]
    assert artifacts == ["figures/arms.png"]
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{run_id}'")
    assert len(children) == 18


# --------------------------------------------------------------------------------------------
# arms_from_scenarios
# --------------------------------------------------------------------------------------------
def test_one_scenario_gives_its_baseline_and_variants():
    spacing = read_scenario(SIMS / "spacing.yaml")
    arms = arms_from_scenarios([spacing], [SIMS / "spacing.yaml"])
    assert list(arms) == list(spacing.worlds) and arms["baseline"] is spacing.worlds["baseline"]
    assert len(arms) >= 2


def test_several_scenarios_give_each_baseline_named_by_the_scenario_or_its_file():
    a = Scenario("speed", {"baseline": World(leads=10), "fast": World(leads=10)})
    b = Scenario("speed", {"baseline": World(leads=20)})
    c = Scenario("other", {"baseline": World(leads=30)})
    arms = arms_from_scenarios([a, b, c], ["x/speed.yaml", "y/speed_v2.yaml", "other.yaml"])
    assert list(arms) == ["speed", "speed_v2", "other"]
    assert [w.leads for w in arms.values()] == [10, 20, 30]
    with pytest.raises(ValueError, match=re.escape(
            "two files give the arm name 'speed'; compare different scenarios (each file's "
            "baseline world is an arm)")):
        arms_from_scenarios([a, b], ["x/speed.yaml", "y/speed.yaml"])
    with pytest.raises(ValueError, match="two files give the arm name 'speed'"):
        arms_from_scenarios([a, b])  # no files: no stems to fall back on


def test_arms_from_scenarios_refuses_too_few_arms_and_bad_input():
    alone = Scenario("alone", {"baseline": World(leads=10)})
    with pytest.raises(ValueError, match=re.escape(
            "compare needs at least two arms (two files, or one file with variants)")):
        arms_from_scenarios([alone])
    with pytest.raises(ValueError, match="compare needs at least two arms"):
        arms_from_scenarios([])
    with pytest.raises(TypeError, match=r"'scenarios' must hold Scenario objects \(from "
                                        r"read_scenario\)\. Got str instead\."):
        arms_from_scenarios(["spacing.yaml", alone])
    with pytest.raises(ValueError, match=r"'files' must name one file per scenario \(2\)\. "
                                         r"Got 1 instead\."):
        arms_from_scenarios([alone, alone], ["a.yaml"])


def test_cli_compare_refuses_two_files_with_one_name(capsys):
    spacing = str(SIMS / "spacing.yaml")
    assert main(["compare", spacing, spacing, "--no-track", "--replications", "2"]) == 2
    captured = capsys.readouterr()
    assert "error: two files give the arm name 'spacing'" in captured.err
    assert captured.out == ""


# --------------------------------------------------------------------------------------------
# run_experiment's arguments
# --------------------------------------------------------------------------------------------
def test_run_experiment_takes_numpy_whole_numbers_for_replications():
    """A replication count from NumPy (np.arange, a grid) used to be refused."""
    arms = {"a": World(leads=60), "b": World(leads=60, cadence="instant")}
    exp = run_experiment(arms, replications=np.int64(2), seed=1)
    assert exp.replications == 2 and len(exp.runs) == 4
    for bad in (2.5, True, "3", np.nan):
        with pytest.raises(ValueError, match=r"'replications' must be a whole number >= 2"):
            run_experiment(arms, replications=bad)
