"""nurturelab.policy: the integer program against brute force, the budget, the shadow price,
common random numbers, the policy re-simulated as a whole, and ``nurturelab policy``."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from nurturelab.cli import main
from nurturelab.policy import PolicyResult, policy_study, solve_assignment
from nurturelab.segments import segments
from nurturelab.simulation import SharedWorld, Team, World, simulate

from resultcheck import assert_result_protocol

WORLD = World(leads=200, team=Team(reps=2))
CANDS = {"seed": "seed_14_day", "front": "front_loaded"}


def _brute(value, cost, budget):
    """Every assignment enumerated: the best value within the budget (None if none fits)."""
    s, k = value.shape
    best = None
    for choice in itertools.product(range(k), repeat=s):
        c = cost[np.arange(s), choice].sum()
        if budget is not None and c > budget + 1e-9:
            continue
        v = value[np.arange(s), choice].sum()
        if best is None or v > best[0] + 1e-12:
            best = (v, c)
    return best


PROGRESS: list[tuple[int, int]] = []  # the module study's progress calls


@pytest.fixture(scope="module")
def study():
    return policy_study(WORLD, CANDS, segments=("intent",), budget_rep_hours=None,
                        replications=3, seed=4, progress=lambda *a: PROGRESS.append(a))


# ---- the integer program -------------------------------------------------------------------
def test_milp_matches_brute_force_on_random_tables():
    rng = np.random.default_rng(20260)
    infeasible = binding = 0
    for _ in range(150):
        s, k = rng.integers(1, 5), rng.integers(1, 4)
        value = rng.gamma(2.0, 1.0, size=(s, k)).round(2)
        cost = rng.gamma(2.0, 3.0, size=(s, k)).round(1)
        budget = float(rng.uniform(0.3, 1.1) * cost.max(axis=1).sum())
        got = solve_assignment(value, cost, budget)
        want = _brute(value, cost, budget)
        if want is None:
            infeasible += 1
            assert not got.feasible and got.choice is None
            continue
        assert got.feasible
        assert got.cost <= budget + 1e-6
        assert got.value == pytest.approx(want[0], abs=1e-7)
        # the reported value and cost are those of the reported choice
        idx = np.arange(s)
        assert got.value == pytest.approx(value[idx, list(got.choice)].sum())
        assert got.cost == pytest.approx(cost[idx, list(got.choice)].sum())
        binding += want[0] < value.max(axis=1).sum() - 1e-9
    assert infeasible > 5 and binding > 20  # the draws exercise both cases


def test_unlimited_budget_is_the_per_segment_argmax():
    rng = np.random.default_rng(3)
    value = rng.random((5, 3))
    cost = rng.random((5, 3))
    assert solve_assignment(value, cost, None).choice == tuple(value.argmax(axis=1))


def test_solve_refuses_mismatched_tables():
    with pytest.raises(ValueError, match="of one shape"):
        solve_assignment(np.ones((2, 2)), np.ones((2, 3)))


# ---- the study -----------------------------------------------------------------------------
def test_unlimited_study_picks_each_segments_best_candidate(study):
    value, _ = study.tables()
    names = list(study.candidates)
    want = {s: names[j] for s, j in zip(study.segment_names, value.argmax(axis=1), strict=True)}
    assert study.policy == want
    assert study.shadow_price == 0.0
    assert study.best_single in names


def test_rollout_tables_count_every_lead_and_its_rep_minutes(study):
    """The per-segment rows add up to the run's leads and to its rep time computed from the
    events directly."""
    seed = int(study.runs.loc[study.runs["replication"] == 0, "replication"].iloc[0])
    from nurturelab.experiment import replication_seeds

    s0 = int(replication_seeds(4, 3)[seed, 0])
    res = simulate(World(leads=200, team=Team(reps=2), cadence="front_loaded"), s0)
    mine = study.runs[(study.runs["kind"] == "rollout") & (study.runs["replication"] == 0)
                      & (study.runs["candidate"] == "front")]
    assert mine["leads"].sum() == len(res.leads)
    ev = res.events
    team = ev["rep_id"].isin([f"rep_{k:02d}" for k in (1, 2)])
    assert mine["rep_minutes"].sum() == pytest.approx(ev.loc[team, "duration_min"].sum())
    counts = segments(res.leads)["intent"].astype(str).value_counts()
    assert mine.set_index("intent")["leads"].to_dict() == counts.to_dict()


def test_budget_is_respected_and_binds(study):
    value, cost = study.tables()
    cheapest, dearest = cost.min(axis=1).sum(), cost.max(axis=1).sum()
    budget = cheapest + 0.4 * (dearest - cheapest)
    tight = policy_study(WORLD, CANDS, segments=("intent",), budget_rep_hours=budget,
                         replications=3, seed=4, resimulate=False)
    assert np.allclose(tight.tables()[1], cost)  # the same rollouts: same seeds
    assert tight.rep_hours <= budget + 1e-9
    want = _brute(value, cost, budget)
    assert tight.expected_value == pytest.approx(want[0])
    assert tight.shadow_price >= 0
    more = _brute(value, cost, budget + 1.0)
    assert tight.shadow_price == pytest.approx(more[0] - want[0])


def test_a_budget_below_the_cheapest_assignment_says_infeasible(study):
    _, cost = study.tables()
    low = 0.5 * cost.min(axis=1).sum()
    res = policy_study(WORLD, CANDS, segments=("intent",), budget_rep_hours=low,
                       replications=3, seed=4)
    assert res.policy is None and res.best_single is None
    assert math.isnan(res.expected_value) and res.summary.empty
    assert "No assignment fits the budget" in res.to_text()
    assert "no assignment fits" in repr(res)
    assert not (res.runs["kind"] == "policy").any()
    assert_result_protocol(res)


def test_same_seed_same_result_and_serial_equals_parallel(study):
    # replication_seeds(4, 2) are the first two of replication_seeds(4, 3): the same runs
    calls = []
    again = policy_study(WORLD, CANDS, segments=("intent",), budget_rep_hours=None,
                         replications=2, seed=4, n_jobs=2, resimulate=False,
                         progress=lambda *a: calls.append(a))
    mine = study.runs[(study.runs["kind"] == "rollout") & (study.runs["replication"] < 2)]
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), again.runs)
    assert calls == [(k, 4) for k in range(1, 5)]  # 2 replications x 2 candidates, in processes
    serial = policy_study(WORLD, CANDS, segments=("intent",), budget_rep_hours=None,
                          replications=2, seed=5, resimulate=False)
    assert not serial.runs.equals(again.runs)


def test_progress_counts_every_run_of_the_study_once_in_order(study):
    # 3 replications x (2 candidates + the policy as a whole) + 3 fresh x (policy + single)
    total = 3 * (len(CANDS) + 1) + 2 * 3
    assert PROGRESS == [(k, total) for k in range(1, total + 1)]


def test_crn_every_candidate_meets_the_same_leads(study):
    r = study.runs[study.runs["kind"] == "rollout"]
    leads = r.pivot_table(index=["replication", "segment"], columns="candidate",
                          values="leads")
    assert (leads["seed"] == leads["front"]).all()


def test_the_whole_policy_run_gives_each_lead_its_segments_cadence(study):
    sw = SharedWorld(WORLD, {"s": "seed_14_day", "e": "email_only"}, design="policy",
                     segment_by=("intent", "fit_band"),
                     policy={("high", "high"): "e", ("low", "low"): "e"})
    res = simulate(sw, 11)
    seg = segments(res.leads)
    want = np.where([(i, f) in {("high", "high"), ("low", "low")}
                     for i, f in zip(seg["intent"].astype(str), seg["fit_band"].astype(str),
                                     strict=True)], "e", "s")
    assert (res.leads["arm"].to_numpy() == want).all()
    assert set(res.leads["arm"]) == {"e", "s"}
    # the email-only arm's leads get no rep touch
    e_leads = set(res.leads.loc[res.leads["arm"] == "e", "lead_id"])
    ev = res.events[res.events["lead_id"].isin(e_leads) & res.events["type"].eq("touch")
                    & res.events["step"].notna()]  # not the account executive's hand-off
    assert set(ev["channel"].astype(str)) == {"email"}


def test_whole_policy_with_one_candidate_is_that_candidates_rollout_exactly():
    res = policy_study(WORLD, {"front": "front_loaded"}, segments=("intent",),
                       budget_rep_hours=None, replications=2, seed=8)
    roll = res.runs[res.runs["kind"] == "rollout"].drop(columns="kind").reset_index(drop=True)
    whole = res.runs[res.runs["kind"] == "policy"].drop(columns="kind").reset_index(drop=True)
    pd.testing.assert_frame_equal(roll, whole)
    gap = res.comparison.loc["whole minus segment estimates"]
    assert gap["value_per_week"] == 0 and gap["rep_hours_per_week"] == 0
    # and the simulation itself: the same tables as the plain world, bit for bit
    w = World(leads=120, team=Team(reps=2), cadence="front_loaded")
    a = simulate(w, 3)
    b = simulate(SharedWorld(w, {"front": w.cadence}, design="policy", segment_by=("intent",),
                             policy={("high",): "front"}), 3)
    pd.testing.assert_frame_equal(a.leads, b.leads.drop(columns="arm"))
    pd.testing.assert_frame_equal(a.events.drop(columns="arm"), b.events.drop(columns="arm"))


def test_comparison_and_probability_of_beating_the_single_cadence(study):
    comp = study.comparison
    fresh = "fresh replications: policy minus best single"
    assert {"policy (segment estimates)", "policy re-simulated as a whole",
            "whole minus segment estimates", "policy minus best single", fresh} <= set(comp.index)
    d = comp.loc["policy minus best single"]
    assert d["value_per_week"] >= -1e-12  # unlimited: the per-segment argmax is never worse
    assert study.judged and study.replications == 3
    # judged on seeds the choice never saw, paired by seed
    runs = study.runs
    chose = set(runs.loc[runs["kind"] == "rollout", "replication"])
    judged = set(runs.loc[runs["kind"] == "judge_policy", "replication"])
    assert judged == set(runs.loc[runs["kind"] == "judge_single", "replication"])
    assert len(judged) == 3 and not chose & judged
    w = runs.assign(v=runs["value"] / runs["weeks"]).groupby(["kind", "replication"])["v"].sum()
    diff = (w["judge_policy"] - w["judge_single"]).to_numpy()
    assert comp.loc[fresh, "value_per_week"] == pytest.approx(diff.mean())
    assert 0.0 <= study.p_better <= 1.0
    assert comp.loc[fresh, "wins_pct"] == pytest.approx(100 * (diff > 0).mean())
    if set(study.policy.values()) != {study.best_single}:
        assert "fresh replications the choice never saw" in study.to_text()


def test_without_fresh_replications_the_probability_is_in_sample_and_says_so():
    inside = policy_study(WORLD, CANDS, segments=("intent",), budget_rep_hours=None,
                          replications=3, seed=4, judge_replications=0)
    assert not inside.judged
    assert 0.5 <= inside.p_better <= 1.0  # the per-segment argmax wins in sample by design
    if set(inside.policy.values()) != {inside.best_single}:
        assert "so optimistic" in inside.to_text()
    with pytest.raises(ValueError, match="judge_replications"):
        policy_study(WORLD, CANDS, segments=("intent",), budget_rep_hours=None,
                     replications=3, seed=4, judge_replications=1)


def test_result_protocol(study):
    assert isinstance(study, PolicyResult)
    assert_result_protocol(study)
    text = study.to_text()
    assert "Chosen policy" in text and "Shadow price" in text


def test_refuses_bad_arguments():
    with pytest.raises(ValueError, match="'candidates' must name at least one cadence"):
        policy_study(WORLD, {}, budget_rep_hours=10)
    with pytest.raises(ValueError, match=r"'segments' must name distinct columns among "
                                         r"\['intent', 'fit_band', 'source'\]"):
        policy_study(WORLD, CANDS, segments=("industry",), budget_rep_hours=10)
    for bad in (0, -5, float("nan")):
        with pytest.raises(ValueError, match="'budget_rep_hours' must be a positive number"):
            policy_study(WORLD, CANDS, budget_rep_hours=bad)
    with pytest.raises(ValueError, match="'objective' must be one of"):
        policy_study(WORLD, CANDS, budget_rep_hours=10, objective="revenue")
    with pytest.raises(ValueError, match="'replications' must be a whole number >= 2"):
        policy_study(WORLD, CANDS, budget_rep_hours=10, replications=1)
    with pytest.raises(ValueError, match="needs 'policy'"):
        SharedWorld(WORLD, {"a": "seed_14_day"}, design="policy", segment_by=("intent",))
    with pytest.raises(ValueError, match="not among the cadences"):
        SharedWorld(WORLD, {"a": "seed_14_day"}, design="policy", segment_by=("intent",),
                    policy={("high",): "b"})


# ---- the command ---------------------------------------------------------------------------
def _scenario(tmp_path):
    f = tmp_path / "small.yaml"
    f.write_text("name: small\nseed: 2\nworld:\n  leads: 150\n  team: {reps: 2}\n")
    return f


def test_cli_prints_the_chosen_policy_and_logs_a_run(tmp_path, capsys):
    f = _scenario(tmp_path)
    assert main(["policy", str(f), "--segments", "intent", "--candidates", "seed_14_day",
                 "email_only", "--budget-rep-hours", "40", "--replications", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Policy on 'small'")
    assert "<PolicyResult" in out.splitlines()[2]  # the result's header, no stray repr above
    assert "Chosen policy" in out and "MLflow run" in out
    from nurturelab import tracking

    mlflow = tracking._store()
    runs = mlflow.search_runs(search_all_experiments=True)
    row = runs[runs["tags.mlflow.runName"] == "policy:small"].iloc[0]
    assert row["status"] == "FINISHED"
    assert "metrics.shadow_price" in runs.columns and "metrics.p_better" in runs.columns


def test_cli_exit_2_on_bad_input(tmp_path, capsys):
    f = _scenario(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["policy", str(f), "--candidates", "seed_14_day", "--budget-rep-hours", "-3"])
    assert exc.value.code == 2
    assert "--budget-rep-hours" in capsys.readouterr().err
    assert main(["policy", str(f), "--segments", "industry", "--candidates", "seed_14_day",
                 "--budget-rep-hours", "5", "--no-track", "--replications", "2"]) == 2
    assert "'segments' must name distinct columns" in capsys.readouterr().err
    assert main(["policy", str(f), "--candidates", "nope", "--budget-rep-hours", "5",
                 "--no-track"]) == 2
    assert "nope" in capsys.readouterr().err
