import re
from dataclasses import replace

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nurturelab import paths, tracking
from nurturelab.cli import main
from nurturelab.simulation import Team, World
from nurturelab.sweep import SimExperiment, ab_export, replication_seeds, run_experiment, sweep

from resultcheck import assert_result_protocol

SIMS = paths.project_root() / "simulations"
SMALL = {"seed_14_day": World(leads=200), "instant": World(leads=200, cadence="instant")}


def test_replication_seeds_crn_and_independent():
    crn = replication_seeds(5, 4, 3)
    ind = replication_seeds(5, 4, 3, crn=False)
    assert crn.shape == ind.shape == (4, 3)
    assert (crn == crn[:, :1]).all() and len(np.unique(crn[:, 0])) == 4
    assert len(np.unique(ind)) == 12
    np.testing.assert_array_equal(crn, replication_seeds(5, 4, 3))
    with pytest.raises(ValueError, match="replications >= 1"):
        replication_seeds(5, 0)


def test_sweep_same_seeds_same_results_serial_or_parallel():
    serial = sweep(SMALL, replications=3, seed=4)
    parallel = sweep(SMALL, replications=3, seed=4, n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert list(serial["arm"]) == ["seed_14_day", "instant"] * 3
    assert serial.groupby("replication")["seed"].nunique().eq(1).all()  # CRN
    assert (serial["contacted"] <= serial["n"]).all() and (serial["n"] == 200).all()


def test_sweep_on_a_dask_local_cluster_with_two_worker_processes():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        on_dask = sweep(SMALL, replications=2, seed=9, client=client)
    pd.testing.assert_frame_equal(on_dask, sweep(SMALL, replications=2, seed=9))


def test_common_random_numbers_reduce_variance():
    exp = run_experiment(SMALL, replications=6, seed=3, measure_variance_reduction=True)
    vr = exp.variance_reduction
    assert vr["contact_rate"] > 2 and vr["conversion_rate"] > 1
    assert "variance of paired differences" in str(exp)
    # when one rep cannot reach new leads within minutes, an instant automated touch contacts
    # more (with enough reps the call itself is instant and the SMS adds little)
    one_rep = {k: replace(w, team=Team(reps=1)) for k, w in SMALL.items()}
    s = run_experiment(one_rep, replications=6, seed=3).summary
    assert s.loc[("contact_rate", "instant"), "diff_low"] > 0
    assert_result_protocol(exp, metric="contact_rate")


def test_same_arm_twice_under_crn_differs_by_exactly_nothing():
    exp = run_experiment({"a": World(leads=150), "b": World(leads=150)}, replications=3, seed=2)
    row = exp.summary.loc[("contact_rate", "b")]
    assert row["diff"] == 0 and row["diff_low"] == 0 and row["diff_high"] == 0
    assert np.isnan(row["p_value"])  # no spread: no p-value, not a false certainty


def test_simulated_a_a_experiments_reject_at_about_alpha():
    """60 A/A experiments with independent streams (5 replications of 150 leads per arm, round
    the clock so that binomial noise is the only noise): the paired t-test of SimExperiment
    rejects at 5% in a number of them within the binomial 99% bounds of 60 x 0.05. The 600
    runs come from one parallel sweep, cut into experiments."""
    world = World(leads=150, team=Team(reps=4, shift=None))
    runs = sweep({"a": world}, replications=600, seed=7, n_jobs=2)
    rejected = 0
    for k in range(60):
        block = runs.iloc[10 * k:10 * (k + 1)].copy()
        block["arm"] = ["a"] * 5 + ["b"] * 5
        block["replication"] = list(range(5)) * 2
        exp = SimExperiment(runs=block, control="a", crn=False, metrics=("contact_rate",))
        rejected += bool(exp.summary.loc[("contact_rate", "b"), "p_value"] < 0.05)
    lo, hi = stats.binom.ppf([0.005, 0.995], 60, 0.05)
    assert lo <= rejected <= hi


def test_run_experiment_validation():
    with pytest.raises(ValueError, match="'control' must be one of the arms"):
        run_experiment(SMALL, control="nope", replications=2)
    with pytest.raises(ValueError, match="'replications' must be a whole number >= 2"):
        run_experiment(SMALL, replications=1)
    with pytest.raises(ValueError, match="at least two arms"):
        run_experiment({"only": World(leads=10)}, replications=2)


def test_ab_export_is_shaped_like_a_real_export():
    from nurturelab.experiment import analyze, lead_table
    from nurturelab.schema import validate_events, validate_leads

    leads, events = ab_export(SMALL, seed=5)
    v_leads = validate_leads(leads)
    v_events = validate_events(events, v_leads)
    assert set(v_leads["arm"]) == set(SMALL)
    # every lead's events come from its own arm only
    arm_of = leads.set_index("lead_id")["arm"]
    assert (events["arm"] == events["lead_id"].map(arm_of)).all()
    result = analyze(lead_table(v_leads, v_events), control="seed_14_day")
    assert result.srm.p_value > 0.001


def _runs():
    client = mlflow.MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
    return client.search_runs([exp.experiment_id])


def test_cli_compare_two_files_is_a_parent_run_with_a_child_per_arm_and_replication(capsys):
    files = [str(SIMS / "speed_to_lead.yaml"), str(SIMS / "spacing.yaml")]
    assert main(["compare", *files, "--replications", "2", "--leads", "100",
                 "--threshold", "0.005"]) == 0
    out = capsys.readouterr().out
    assert "speed_to_lead" in out and "spacing" in out and "p_holm" in out
    # the experiment prints as a clean table under the "Comparing" line: no repr, no object dump
    lines = out.splitlines()
    assert "<SimExperiment" not in out
    head = [k for k, line in enumerate(lines) if line.split() == [
        "mean", "ci_low", "ci_high", "diff", "diff_low", "diff_high", "p_holm"]][0]
    assert lines[head - 1] == "" and lines[head - 2].startswith("Comparing 2 arms")
    assert lines[head + 2].split()[:2] == ["contact_rate", "speed_to_lead"]
    assert "practical thresholds: conversion_rate 0.005" in out
    assert re.search(r"^  conversion_rate, spacing: .+ \(threshold 0.005\)$", out, re.M)
    assert "  speed_median_min, spacing: " in out and "significance only" in out
    assert "object at 0x" not in out and "SimExperiment(" not in out
    run_id = re.search(r"MLflow run ([0-9a-f]{32})", out).group(1)
    runs = _runs()
    parent = [r for r in runs if r.info.run_id == run_id][0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == run_id]
    assert parent.info.status == "FINISHED" and len(children) == 4
    assert {c.data.params["arm"] for c in children} == {"speed_to_lead", "spacing"}


def test_cli_compare_refuses_a_bad_control(capsys):
    assert main(["compare", str(SIMS / "spacing.yaml"), "--control", "nope", "--no-track",
                 "--replications", "2", "--leads", "50"]) == 2
    assert "--control must be one of the arms" in capsys.readouterr().err
