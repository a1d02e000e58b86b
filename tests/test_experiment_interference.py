"""nurturelab.experiment.interference and the shared world under it: a live test of cadences on
one team, against each cadence rolled out to every lead.

Known answers: without contention a shared run gives every lead exactly the events of its arm's
rollout (common random numbers), so the naive bias is zero; on a tight first-in-first-out team a
call-heavy cadence slows everyone's first calls, so the naive test is biased towards it, while
a team split between the arms (a rollout's load per rep) is not.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from nurturelab import paths, tracking
from nurturelab.cadence import get_cadence, read_cadence
from nurturelab.cli import main
from nurturelab.experiment import (
    InterferenceResult,
    common_world,
    interference_study,
    log_interference,
)
from nurturelab.simulation import SharedWorld, Team, World, simulate

from resultcheck import assert_result_protocol

SIMS = paths.project_root() / "simulations"
BLITZ = read_cadence(SIMS / "cadences" / "call_blitz.yaml")  # six follow-up calls in a week
STUDY_REPS = int(os.environ.get("NURTURELAB_STUDY_REPS", "3"))


def _arms(base: World) -> dict[str, World]:
    return {"seed": base, "blitz": replace(base, cadence=BLITZ)}


@pytest.fixture(scope="module")
def tight() -> InterferenceResult:
    """6 reps, one first-in-first-out queue, ~85 leads a day (after 4 days of warm-up): the
    call-heavy cadence's rollout buries the team, the seed cadence's does not. Over 12
    replications the naive contact bias was 0.11-0.17 in every one, the split's -0.02-0.03."""
    base = World(leads=300, team=Team(reps=6, queue="fifo"), warmup_days=4)
    return interference_study(_arms(base), replications=STUDY_REPS, seed=11,
                              designs=("naive", "split"))


# --------------------------------------------------------------------------------------------
# The shared world
# --------------------------------------------------------------------------------------------
def test_shared_world_refuses_bad_arguments():
    base = World(leads=50, team=Team(reps=3))
    with pytest.raises(ValueError, match="'cadences' must map two arm names or more"):
        SharedWorld(base, {"a": "seed_14_day"})
    with pytest.raises(ValueError, match=r"'design' must be one of \['naive', 'split', "
                                         r"'switchback'\]. Got 'ab' instead"):
        SharedWorld(base, {"a": "seed_14_day", "b": "instant"}, design="ab")
    with pytest.raises(ValueError, match="needs at least one rep per arm: 4 arms, 3 reps"):
        SharedWorld(base, dict.fromkeys("abcd", "instant"), design="split")
    with pytest.raises(TypeError, match="'world' must be a World"):
        SharedWorld("world", {"a": "seed_14_day", "b": "instant"})
    with pytest.raises(ValueError, match="Unknown cadence 'nope'"):
        SharedWorld(base, {"a": "seed_14_day", "b": "nope"})


def test_split_gives_each_arm_its_own_reps_and_leads_in_proportion():
    sw = SharedWorld(World(leads=200, team=Team(reps=5)),
                     {"seed": "seed_14_day", "front": "front_loaded"}, design="split")
    assert sw.pool_sizes() == (3, 2) and sw.shares() == (0.6, 0.4)
    assert SharedWorld(World(team=Team(reps=7)), dict.fromkeys("abc", "instant"),
                       design="split").pool_sizes() == (3, 2, 2)
    res = simulate(sw, seed=4)
    # permuted blocks of 3 + 2 leads in order of arrival: exactly 60% / 40% of 200 leads
    assert res.leads["arm"].value_counts().to_dict() == {"seed": 120, "front": 80}
    reps = res.events.dropna(subset=["rep_id"]).groupby("arm")["rep_id"].unique()
    assert set(reps["seed"]) - {"ae_01"} == {"rep_01", "rep_02", "rep_03"}
    assert set(reps["front"]) - {"ae_01"} == {"rep_04", "rep_05"}
    # every touch carries its own arm's cadence step
    touch = res.events[res.events["type"] == "touch"].dropna(subset=["step"])
    for arm, cad in (("seed", get_cadence("seed_14_day")), ("front", get_cadence("front_loaded"))):
        mine = touch[touch["arm"] == arm]
        want = [cad.touches[int(j)].content for j in mine["step"]]
        assert mine["content"].tolist() == want


def test_switchback_gives_every_local_day_one_arm_and_balances_the_days():
    team = Team(reps=4, timezone="America/New_York")
    sw = SharedWorld(World(leads=900, team=team), {"a": "seed_14_day", "b": "instant"},
                     design="switchback")
    res = simulate(sw, seed=2)
    day = res.leads["created_at"].dt.tz_convert(team.timezone).dt.date
    per_day = res.leads.groupby(day)["arm"].nunique()
    assert (per_day == 1).all() and len(per_day) > 8
    arm_of_day = res.leads.groupby(day)["arm"].first()
    counts = arm_of_day.value_counts()
    assert counts.max() - counts.min() <= 1  # permuted blocks of one day per arm
    # the day assignment is random: another seed gives another sequence of days
    other = simulate(sw, seed=3).leads
    other_days = other.groupby(other["created_at"].dt.tz_convert(team.timezone).dt.date)["arm"]
    assert other_days.first().tolist() != arm_of_day.tolist()


def test_without_contention_each_lead_lives_its_rollout_exactly():
    """Assignment uses its own stream: with reps to spare (round the clock) the shared run gives
    every lead the very events of its arm's rollout, for cadences of 5, 7 and 10 steps."""
    base = World(leads=250, team=Team(reps=400, shift=None), warmup_days=1)
    cadences = {"seed": get_cadence("seed_14_day"), "email": get_cadence("email_only"),
                "blitz": BLITZ}
    shared = simulate(SharedWorld(base, cadences), seed=8)
    assert shared.leads.drop(columns="arm").equals(simulate(base, seed=8).leads)
    for arm, cad in cadences.items():
        ids = shared.leads.loc[shared.leads["arm"] == arm, "lead_id"]
        assert 60 < len(ids) < 110
        mine = shared.events[shared.events["lead_id"].isin(ids)]
        assert (mine["arm"] == arm).all()
        rollout = simulate(replace(base, cadence=cad), seed=8).events
        rollout = rollout[rollout["lead_id"].isin(ids)]
        cols = [c for c in rollout.columns if c not in ("arm", "rep_id")]
        pd.testing.assert_frame_equal(mine[cols].reset_index(drop=True),
                                      rollout[cols].reset_index(drop=True))


def test_an_ordinary_world_has_no_arm():
    res = simulate(World(leads=80), seed=1)
    assert "arm" not in res.leads and res.events["arm"].isna().all()
    assert res.shared is None and "naive" not in repr(res)


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------
def test_with_ample_reps_the_naive_test_is_unbiased_and_parallel_runs_agree():
    base = World(leads=150, team=Team(reps=400, shift=None), warmup_days=1)
    arms = {"seed": base, "email": replace(base, cadence="email_only")}
    serial = interference_study(arms, replications=3, seed=5, designs=("naive",))
    s = serial.summary.xs("naive", level="design")
    for m in serial.metrics:
        lo, hi = s.loc[(m, "email"), ["bias_low", "bias_high"]]
        assert lo <= 0 <= hi, (m, lo, hi)
    # the naive estimate's interval covers the rollouts' difference
    roll = serial.summary.xs("rollout", level="design")
    for m in ("contact_rate", "conversion_rate"):
        truth = roll.loc[(m, "email"), "estimate"]
        assert s.loc[(m, "email"), "est_low"] <= truth <= s.loc[(m, "email"), "est_high"], m
    assert s.loc[("contact_rate", "email"), "sd"] > 0  # different leads in each arm
    parallel = interference_study(arms, replications=3, seed=5, designs=("naive",), n_jobs=2)
    pd.testing.assert_frame_equal(serial.runs, parallel.runs)
    pd.testing.assert_frame_equal(serial.matched, parallel.matched)
    pd.testing.assert_frame_equal(serial.summary, parallel.summary)


def test_on_a_tight_team_the_naive_test_is_biased_and_the_split_team_is_not(tight):
    s = tight.summary
    # the rollouts: the call-heavy cadence slows its own first calls and loses contact
    roll = s.loc[("contact_rate", "rollout", "blitz")]
    assert roll["estimate"] < -0.05 and roll["winner"] == "seed"
    naive = s.loc[("contact_rate", "naive", "blitz")]
    assert naive["bias_low"] > 0, naive  # biased towards the heavy cadence
    assert naive["estimate"] - roll["estimate"] > 0.05
    speed = s.loc[("speed_median_min", "naive", "blitz")]
    assert speed["bias_high"] < 0  # it hides how much slower every first call gets
    split = s.loc[("contact_rate", "split", "blitz")]
    assert split["bias_low"] <= 0 <= split["bias_high"], split
    assert abs(split["bias"]) < abs(naive["bias"]) / 4
    assert split["same_winner"]
    # the rollouts are paired (CRN); within one run the arms hold different leads
    assert s.loc[("contact_rate", "naive", "blitz"), "sd_vs_naive"] == 1.0


def test_the_result_keeps_the_result_protocol(tight):
    assert_result_protocol(tight)
    text = tight.to_text()
    assert text.splitlines()[0] == repr(tight)
    assert "bias: the design's estimate minus the rollouts' difference" in text
    assert repr(tight) == (f"<InterferenceResult: 2 arms x {STUDY_REPS} replications, 6 reps, "
                           "control 'seed', designs naive, split>")
    with pytest.raises(ValueError, match="'metric' must be one of"):
        tight.plot(metric="opt_out_rate")
    with pytest.raises(ValueError, match=r"'arm' must be one of \['blitz'\]"):
        tight.plot(arm="seed")


def test_interference_study_refuses_bad_arguments():
    base = World(leads=50, team=Team(reps=3))
    arms = _arms(base)
    with pytest.raises(ValueError, match=r"arm 'b' differs from 'a' in \['team'\]"):
        interference_study({"a": base, "b": World(leads=50)})
    with pytest.raises(ValueError, match="'control' must be one of the arms"):
        interference_study(arms, control="nope")
    with pytest.raises(ValueError, match=r"'designs' must be among \['naive', 'split', "
                                         r"'switchback'\]. Got \['ab'\]"):
        interference_study(arms, designs="ab")
    with pytest.raises(ValueError, match="'metrics' must be among"):
        interference_study(arms, metrics=("opt_out_rate",))
    with pytest.raises(ValueError, match="'replications' must be a whole number >= 2"):
        interference_study(arms, replications=1)
    with pytest.raises(TypeError, match="must map arm names to World objects"):
        common_world({"a": base, "b": "instant"})


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------
def _scenario(tmp_path: Path) -> Path:
    """simulations/interference.yaml without its warm-up (a small, quick world)."""
    text = (SIMS / "interference.yaml").read_text()
    assert "warmup_days: 7" in text
    f = tmp_path / "interference.yaml"
    f.write_text(text.replace("cadences/call_blitz.yaml", str(SIMS / "cadences" /
                                                              "call_blitz.yaml"))
                 .replace("warmup_days: 7", "warmup_days: 0"))
    return f


def _runs():
    client = mlflow.MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
    return client.search_runs([exp.experiment_id])


def test_cli_compare_interference_prints_the_table_and_logs_a_run(tmp_path, capsys, tight,
                                                                 monkeypatch):
    f = _scenario(tmp_path)
    assert main(["compare", str(f), "--interference", "--replications", "3",
                 "--leads", "100"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "<InterferenceResult" not in out  # no stray repr: the CLI says it in words
    assert "object at 0x" not in out and "InterferenceResult(" not in out
    assert lines[0].startswith("Interference through shared reps: 2 arms")
    head = [k for k, line in enumerate(lines) if line.split()[:4] == ["estimate", "est_low",
                                                                       "est_high", "bias"]]
    assert len(head) == 1
    assert any(line.split()[:3] == ["conversion_rate", "rollout", "call_blitz"]
               for line in lines)
    run_id = re.search(r"MLflow run ([0-9a-f]{32})", out).group(1)
    run = [r for r in _runs() if r.info.run_id == run_id][0]
    assert run.info.status == "FINISHED" and run.info.run_name == "interference:interference"
    assert run.data.params["designs"] == "naive,split,switchback"
    assert run.data.params["leads"] == "100"
    assert "conversion_rate.naive.call_blitz.bias" in run.data.metrics
    client = mlflow.MlflowClient(tracking.tracking_uri())
    tables = {Path(a.path).name for a in client.list_artifacts(run_id, "tables")}
    assert tables == {"interference.csv", "runs.csv", "matched_rollouts.csv"}

    # a failure while logging marks the run FAILED (the same store: creating one takes seconds)
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tracking, "log_figure", broken)
    with pytest.raises(OSError, match="disk full"):
        log_interference(tight, "tight")
    runs = [r for r in _runs() if r.info.run_name == "interference:tight"]
    assert len(runs) == 1 and runs[0].info.status == "FAILED"
    assert runs[0].data.params["designs"] == "naive,split"


def test_cli_compare_interference_refuses_arms_that_differ_beyond_the_cadence(capsys):
    assert main(["compare", str(SIMS / "speed_to_lead.yaml"), "--interference", "--no-track",
                 "--replications", "2", "--leads", "50"]) == 2
    err = capsys.readouterr().err
    assert "arms must differ only in their cadence" in err and "'reps_4'" in err
    assert main(["compare", str(SIMS / "spacing.yaml"), "--interference", "--no-track",
                 "--variance-reduction", "--leads", "50"]) == 2
    assert "--variance-reduction does not apply" in capsys.readouterr().err


def test_sd_ratio_is_missing_without_a_naive_design():
    base = World(leads=60, team=Team(reps=4))
    res = interference_study(_arms(base), replications=2, seed=1, designs=("split",),
                             metrics=("contact_rate",))
    assert math.isnan(res.summary.loc[("contact_rate", "split", "blitz"), "sd_vs_naive"])
    assert np.isfinite(res.summary.loc[("contact_rate", "split", "blitz"), "sd"])
