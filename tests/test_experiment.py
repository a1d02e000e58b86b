"""nurturelab.experiment: assignment, design, statistics, analysis and monitoring of A/B tests
(the simulated experiments are tested in test_sweep.py and test_experiment_simulated.py).

Four kinds of test: validation messages; exact agreement with the wrapped libraries
(statsmodels, scipy, lifelines) on fixed inputs; agreement with theory (textbook sample sizes,
the closed form of P(beat control)); and seeded statistical studies over thousands of simulated
experiments (false-positive rates, power, interval coverage, peeking). Every study's rate is
checked against binomial bounds at 99% so that the tolerance is stated, not guessed.
"""

from __future__ import annotations

import math
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from lifelines import KaplanMeierFitter  # noqa: E402
from lifelines.statistics import multivariate_logrank_test  # noqa: E402
from scipy import stats  # noqa: E402
from scipy.special import betaln  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402
from statsmodels.stats.power import NormalIndPower  # noqa: E402
from statsmodels.stats.proportion import (  # noqa: E402
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)
from statsmodels.stats.proportion import (  # noqa: E402
    test_proportions_2indep as score_test_2indep,  # not collected as a test
)

from nurturelab import experiment as X  # noqa: E402
from nurturelab.competing import lead_endings  # noqa: E402
from nurturelab.experiment import sequential  # noqa: E402
from nurturelab.funnel import outcomes  # noqa: E402
from nurturelab.simulation import World, simulate  # noqa: E402

from resultcheck import assert_result_protocol  # noqa: E402

Z99 = stats.norm.isf(0.005)  # two-sided 99% bounds for the studies' rates


def bounds(rate: float, runs: int) -> tuple[float, float]:
    """99% normal bounds for the share of ``runs`` independent trials with success ``rate``."""
    half = Z99 * math.sqrt(rate * (1 - rate) / runs)
    return rate - half, rate + half


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def run():
    """A small simulated run whose leads carry a randomised arm."""
    res = simulate(World(leads=300), seed=3)
    leads = res.leads.copy()
    leads["arm"] = X.assign_random(leads, ["a", "b"], strata=["source"], seed=11).to_numpy()
    return leads, res.events


# --------------------------------------------------------------------------------------------
# lead_table
# --------------------------------------------------------------------------------------------
def test_lead_table_on_a_simulated_run_with_the_arm_on_leads(run):
    leads, events = run
    table = X.lead_table(leads, events)
    out = outcomes(leads, events)
    assert list(table.columns) == ["arm", "contacted", "replied", "qualified", "converted",
                                   "duration_days", "censored", "ending", "ended_days"]
    assert table.index.name == "lead_id" and table.index.equals(out.index)
    ends = lead_endings(leads, events, dark_days=None).reindex(table.index)
    assert (table["ending"] == ends["ending"].astype(object)).all()
    assert (table["ending"] == "won").equals(table["converted"])
    assert (table["arm"] == leads.set_index("lead_id")["arm"].reindex(table.index)).all()
    assert (table["contacted"] == (out["stage_index"] >= 1)).all()
    assert (table["qualified"] == (out["stage_index"] >= 2)).all()
    assert (table["converted"] == out["converted"]).all()
    pd.testing.assert_series_equal(table["duration_days"], out["duration_days"])
    answered = events.loc[(events["type"] == "response")
                          & events["name"].isin(["reply", "connect"]), "lead_id"].unique()
    assert set(table.index[table["replied"]]) == set(answered)
    for col in ("contacted", "replied", "qualified", "converted", "censored"):
        assert table[col].dtype == bool
    assert 0 < table["replied"].sum() < len(table)


def test_lead_table_reads_the_arm_from_events_and_drops_leads_without_one(run):
    leads, events = run
    expected = X.lead_table(leads, events)
    arm_of = leads.set_index("lead_id")["arm"]
    ev = events.assign(arm=events["lead_id"].map(arm_of))
    bare = leads.drop(columns="arm")
    pd.testing.assert_frame_equal(X.lead_table(bare, ev), expected)
    # the first non-null arm counts: blank the arm on a lead's first event only
    first = ev.index[ev["lead_id"] == "S000002"][0]
    ev.loc[first, "arm"] = None
    pd.testing.assert_frame_equal(X.lead_table(bare, ev), expected)
    # a lead whose events carry no arm at all is dropped, with a warning that counts it
    ev.loc[ev["lead_id"] == "S000003", "arm"] = None
    with pytest.warns(UserWarning, match=r"1 of 300 leads have no arm"):
        table = X.lead_table(bare, ev)
    assert "S000003" not in table.index and len(table) == 299


def test_lead_table_warns_about_leads_seen_in_two_arms(run):
    leads, events = run
    arm_of = leads.set_index("lead_id")["arm"]
    ev = events.assign(arm=events["lead_id"].map(arm_of))
    last = ev.index[ev["lead_id"] == "S000002"][-1]
    ev.loc[last, "arm"] = "a" if arm_of["S000002"] == "b" else "b"
    with pytest.warns(UserWarning, match=r"1 leads carry more than one arm"):
        table = X.lead_table(leads.drop(columns="arm"), ev)
    assert table.loc["S000002", "arm"] == arm_of["S000002"]


def test_lead_table_as_of_and_missing_arm_column(run):
    leads, events = run
    early = X.lead_table(leads, events, as_of=leads["created_at"].median())
    late = X.lead_table(leads, events)
    assert len(early) < len(late)
    assert not (early["converted"] & ~late.loc[early.index, "converted"]).any()
    with pytest.raises(KeyError, match=r"neither 'leads' nor 'events' has the arm column 'arm'"):
        X.lead_table(leads.drop(columns="arm"), events.drop(columns="arm"))
    with pytest.raises(KeyError, match=r"'variant'"):
        X.lead_table(leads, events, arm_column="variant")


# --------------------------------------------------------------------------------------------
# Assignment
# --------------------------------------------------------------------------------------------
def _strata_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    intent = rng.choice(np.array(["low", "medium", "high", None], dtype=object), n)
    return pd.DataFrame({"source": rng.choice(["web", "ads", "referral"], n, p=[.5, .3, .2]),
                         "intent": intent}, index=pd.RangeIndex(1000, 1000 + n))


@pytest.mark.parametrize("arms", [["a", "b"], ["a", "b", "c"]])
def test_assign_random_balances_every_stratum_and_every_prefix(arms):
    leads = _strata_frame(2001, seed=4)
    arm = X.assign_random(leads, arms, strata=["source", "intent"], seed=9)
    assert arm.name == "arm" and arm.index.equals(leads.index)
    assert set(arm) == set(arms)
    key = leads["source"].astype(str) + "/" + leads["intent"].astype(str)  # None is a stratum
    assert key.nunique() == 12
    for _, a in arm.groupby(key):
        counts = a.value_counts().reindex(arms, fill_value=0)
        assert counts.max() - counts.min() <= 1
        # permuted blocks: every prefix of the stratum (arrival order) is balanced too
        running = pd.get_dummies(a).reindex(columns=arms, fill_value=0).cumsum()
        assert (running.max(axis=1) - running.min(axis=1)).max() <= 1


def test_assign_random_is_deterministic_per_seed_and_respects_weights():
    leads = _strata_frame(5000, seed=1)
    one = X.assign_random(leads, ["a", "b"], strata="source", seed=42)
    pd.testing.assert_series_equal(one, X.assign_random(leads, ["a", "b"], strata="source",
                                                        seed=42))
    assert not one.equals(X.assign_random(leads, ["a", "b"], strata="source", seed=43))
    weighted = X.assign_random(leads, ["a", "b"], strata=["source"], seed=5, weights=[0.7, 0.3])
    share = weighted.groupby(leads["source"]).apply(lambda s: (s == "a").mean())
    assert ((share - 0.7).abs() < 0.01).all()  # blocks of 10 holding 7 a's and 3 b's
    thirds = X.assign_random(leads, ["a", "b", "c"], seed=5, weights={"a": 2, "b": 1, "c": 1})
    assert thirds.value_counts().to_dict() == {"a": 2500, "b": 1250, "c": 1250}


def test_assign_hash_is_deterministic_and_independent_of_the_batch():
    ids = [f"L{i:05d}" for i in range(500)]
    first = X.assign_hash(ids, ["a", "b"], salt="exp-1")
    assert first.index.tolist() == ids and first.name == "arm"
    pd.testing.assert_series_equal(first, X.assign_hash(ids, ["a", "b"], salt="exp-1"))
    other = ids[::-3] + [f"M{i}" for i in range(300)]  # another order, other leads around
    again = X.assign_hash(other, ["a", "b"], salt="exp-1")
    assert (again[ids[::-3]] == first[ids[::-3]]).all()
    # the salt decides: another experiment's arms are unrelated to these
    agree = (X.assign_hash(ids, ["a", "b"], salt="exp-2") == first).mean()
    assert 0.4 < agree < 0.6
    # a Series keeps its own index, so the result aligns with the frame it came from
    frame = pd.DataFrame({"lead_id": ids}, index=range(7, 507))
    by_frame = X.assign_hash(frame["lead_id"], ["a", "b"], salt="exp-1")
    assert by_frame.index.equals(frame.index)
    assert (by_frame.to_numpy() == first.to_numpy()).all()


def test_assign_hash_is_balanced_on_20000_ids():
    ids = [f"lead-{i}" for i in range(20_000)]
    arm = X.assign_hash(ids, ["a", "b"], salt="balance")
    lo, hi = stats.binom.interval(0.999, 20_000, 0.5)
    assert lo <= (arm == "a").sum() <= hi
    weighted = X.assign_hash(ids, ["a", "b", "c"], salt="balance", weights=[0.5, 0.25, 0.25])
    counts = weighted.value_counts().to_dict()
    assert not X.srm_check(counts, {"a": 0.5, "b": 0.25, "c": 0.25}).mismatch


# --------------------------------------------------------------------------------------------
# Sample ratio mismatch
# --------------------------------------------------------------------------------------------
def test_srm_check_flags_a_51_49_split_and_not_an_exact_half():
    even = X.srm_check({"a": 10_000, "b": 10_000})
    assert even.p_value == pytest.approx(1.0) and not even.mismatch
    assert "Sample ratio OK" in str(even) and "MISMATCH" not in str(even)
    # 51/49 of 20,000 *per arm*: chi2 = 16, p = 6e-5
    bad = X.srm_check({"a": 20_400, "b": 19_600})
    assert bad.chi2 == pytest.approx(16.0) and bad.p_value < 0.001 and bad.mismatch
    text = str(bad)
    assert "SAMPLE RATIO MISMATCH" in text and "do not trust" in text
    # 51/49 of 20,000 in all gives chi2 = 8, p = 0.0047: below 0.01, not below 0.001
    total = X.srm_check({"a": 10_200, "b": 9_800})
    assert total.p_value == pytest.approx(stats.chi2.sf(8.0, 1))
    assert not total.mismatch and X.srm_check({"a": 10_200, "b": 9_800}, alpha=0.01).mismatch


def test_srm_check_with_planned_shares_and_its_tables():
    res = X.srm_check({"a": 6_000, "b": 4_000}, {"a": 3, "b": 2})
    assert res.expected_share == pytest.approx({"a": 0.6, "b": 0.4})
    assert res.chi2 == pytest.approx(0.0) and not res.mismatch
    expected = stats.chisquare([6_300, 3_700], [6_000, 4_000])
    got = X.srm_check({"a": 6_300, "b": 3_700}, {"a": 0.6, "b": 0.4})
    assert got.p_value == pytest.approx(expected.pvalue) and got.mismatch
    assert got.summary.loc["b", "expected"] == pytest.approx(4_000)
    assert list(got.to_frame().columns[-4:]) == ["chi2", "p_value", "alpha", "mismatch"]
    assert "mismatch=True" in repr(got)
    assert got.plot() is not None


def test_srm_result_keeps_the_result_protocol():
    ok, bad = X.srm_check({"a": 10_000, "b": 10_000}), X.srm_check({"a": 20_400, "b": 19_600})
    for res in (ok, bad):
        assert_result_protocol(res)
    assert repr(bad) == "<SRMResult: a=20,400, b=19,600; chi2=16, p=6.33e-05, mismatch=True>"
    # the printed summary: the repr, the conclusion in words, then the per-arm table
    lines = bad.to_text().splitlines()
    assert lines[0] == repr(bad) and lines[1] == bad.message
    assert lines[1].startswith("SAMPLE RATIO MISMATCH: the arms received a 20,400 / b 19,600")
    assert lines[2].split() == ["observed", "expected", "observed_share", "expected_share"]
    assert lines[4].split() == ["a", "20400", "20,000.000", "0.510", "0.500"]
    assert ok.message.startswith("Sample ratio OK: a 10,000 / b 10,000 leads")
    assert str(ok) == ok.to_text()


# --------------------------------------------------------------------------------------------
# Design
# --------------------------------------------------------------------------------------------
def test_sample_size_agrees_with_statsmodels_and_the_textbook():
    h = proportion_effectsize(0.12, 0.10)
    direct = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)
    n = X.sample_size(0.10, 0.02)
    assert n == math.ceil(direct) == 3835
    assert X.sample_size(0.10, 0.20, relative=True) == n
    assert X.sample_size(0.12, -0.02) == X.sample_size(0.10, 0.02)  # |h| is symmetric
    # the textbook (Fleiss, no continuity correction) pooled-variance formula gives 3,841; the
    # arcsine transform of Cohen's h lands within 0.2% of it
    za, zb, pbar = stats.norm.isf(0.025), stats.norm.isf(0.2), 0.11
    fleiss = ((za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(0.1 * 0.9 + 0.12 * 0.88))
              / 0.02) ** 2
    assert math.ceil(fleiss) == 3841 and abs(n / fleiss - 1) < 0.002
    # unequal allocation: twice as many treated leads need fewer control leads
    assert X.sample_size(0.10, 0.02, ratio=2.0) < n


@pytest.mark.parametrize("p, d, ratio", [(0.10, 0.02, 1.0), (0.03, 0.01, 1.0),
                                         (0.40, -0.05, 1.0), (0.05, 0.02, 2.5)])
def test_sample_size_power_and_mde_agree(p, d, ratio):
    n = X.sample_size(p, d, ratio=ratio)
    assert X.power(p, p + d, n, ratio=ratio) >= 0.8 > X.power(p, p + d, n - 1, ratio=ratio)
    found = X.mde(p, n, ratio=ratio)
    assert found > 0
    assert X.power(p, p + found, n, ratio=ratio) == pytest.approx(0.8, abs=1e-9)
    assert X.sample_size(p, found, ratio=ratio) in (n, n + 1)
    assert X.mde(p, 4 * n, ratio=ratio) < found  # more leads, smaller detectable effects


def test_planned_power_is_achieved_in_2000_simulated_experiments():
    n = X.sample_size(0.10, 0.02)
    rng = np.random.default_rng(2026)
    x_c, x_t = rng.binomial(n, 0.10, 2000), rng.binomial(n, 0.12, 2000)
    p = [X.compare_proportions(int(a), n, int(b), n)["p_value"]
         for a, b in zip(x_c, x_t, strict=True)]
    rejected = np.mean(np.array(p) < 0.05)
    assert abs(rejected - 0.8) < 0.03, rejected  # measured 0.7915 (planned 0.800; score test)


# --------------------------------------------------------------------------------------------
# compare_proportions
# --------------------------------------------------------------------------------------------
def test_compare_proportions_matches_statsmodels_score_test():
    # the statistic and p-value are statsmodels' Miettinen-Nurminen score test of no difference,
    # the lift interval its ratio score interval (the difference interval is checked against R
    # in test_experiment_stats.py: statsmodels' restricted MLE for a difference has a bug)
    for x_c, n_c, x_t, n_t in [(100, 1000, 130, 1000), (1, 40, 6, 40), (3, 40, 9, 40),
                               (1, 34, 7, 34), (480, 5000, 402, 4100)]:
        r = X.compare_proportions(x_c, n_c, x_t, n_t, alpha=0.1)
        ref = score_test_2indep(x_t, n_t, x_c, n_c, method="score", compare="diff")
        assert r["statistic"] == pytest.approx(ref.statistic, rel=1e-12)
        assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
        assert r["method"] == "score"
        rlo, rhi = confint_proportions_2indep(x_t, n_t, x_c, n_c, compare="ratio",
                                              method="score", alpha=0.1)
        assert (r["lift_low"], r["lift_high"]) == pytest.approx((rlo - 1, rhi - 1), abs=1e-8)
        assert r["diff"] == pytest.approx(x_t / n_t - x_c / n_c)
        # large samples: the score interval is close to the Wald one
        if n_c >= 1000:
            lo, hi = confint_proportions_2indep(x_t, n_t, x_c, n_c, compare="diff",
                                                method="wald", alpha=0.1)
            assert (r["diff_low"], r["diff_high"]) == pytest.approx((lo, hi), abs=5e-4)
    assert set(r) == {"diff", "diff_low", "diff_high", "lift", "lift_low", "lift_high",
                      "statistic", "p_value", "method"}


def test_the_issues_case_is_significant_with_an_interval_that_excludes_zero():
    # the issue: p 0.048 from the z test with a Newcombe interval from -0.0001
    r = X.compare_proportions(5, 50, 45, 200)
    assert r["p_value"] == pytest.approx(0.04856, abs=1e-5) and r["p_value"] < 0.05
    assert 0 < r["diff_low"] < r["diff"] < r["diff_high"]
    assert r["lift_low"] > 0
    wide = X.compare_proportions(5, 50, 45, 200, alpha=0.04)  # p > 0.04: both cover 0 now
    assert wide["diff_low"] < 0 < wide["diff_high"] and wide["lift_low"] < 0


def test_compare_proportions_survives_zero_counts():
    none = X.compare_proportions(0, 100, 0, 100)
    assert none["statistic"] == 0 and none["p_value"] == 1
    assert none["diff"] == 0 and none["diff_low"] < 0 < none["diff_high"]
    assert math.isnan(none["lift"]) and none["lift_low"] == -1 and none["lift_high"] == math.inf
    only_t = X.compare_proportions(0, 100, 5, 100)
    assert math.isnan(only_t["lift"]) and only_t["diff_low"] > 0 and only_t["p_value"] < 0.05
    assert only_t["lift_low"] > 0 and only_t["lift_high"] == math.inf
    only_c = X.compare_proportions(5, 100, 0, 100)
    assert only_c["lift"] == -1 and only_c["diff_high"] < 0 and only_c["lift_low"] == -1
    full = X.compare_proportions(100, 100, 100, 100)
    assert full["diff"] == 0 and full["p_value"] == 1 and full["lift"] == 0
    assert full["diff_low"] < 0 < full["diff_high"] and full["lift_low"] < 0 < full["lift_high"]
    extreme = X.compare_proportions(0, 20, 20, 20)
    assert extreme["diff"] == 1 and extreme["diff_high"] == 1 and 0 < extreme["diff_low"] < 1


@pytest.fixture(scope="module")
def a_a_study():
    """2,000 A/A experiments of 1,000 leads per arm at a 10% rate."""
    rng = np.random.default_rng(7)
    x_c, x_t = rng.binomial(1000, 0.10, 2000), rng.binomial(1000, 0.10, 2000)
    return [X.compare_proportions(int(a), 1000, int(b), 1000)
            for a, b in zip(x_c, x_t, strict=True)]


def test_a_a_false_positive_rate_is_alpha(a_a_study):
    rate = np.mean([r["p_value"] < 0.05 for r in a_a_study])
    lo, hi = bounds(0.05, 2000)
    assert lo <= rate <= hi, rate  # measured 0.0505
    # under the null the difference is 0 and the lift is 0: both intervals should cover them,
    # and exactly when the test does not reject
    cover = np.array([r["diff_low"] <= 0 <= r["diff_high"] for r in a_a_study])
    lift_cover = np.array([r["lift_low"] <= 0 <= r["lift_high"] for r in a_a_study])
    assert (cover == lift_cover).all()
    assert (cover == np.array([r["p_value"] >= 0.05 for r in a_a_study])).all()


@pytest.mark.parametrize("n, p_c, p_t", [(1000, 0.10, 0.13), (60, 0.05, 0.10)])
def test_difference_and_lift_intervals_cover_the_truth(n, p_c, p_t):
    rng = np.random.default_rng(int(n * 1000 * p_t))
    x_c, x_t = rng.binomial(n, p_c, 2000), rng.binomial(n, p_t, 2000)
    res = [X.compare_proportions(int(a), n, int(b), n) for a, b in zip(x_c, x_t, strict=True)]
    diff_cover = np.mean([r["diff_low"] <= p_t - p_c <= r["diff_high"] for r in res])
    lift_cover = np.mean([r["lift_low"] <= p_t / p_c - 1 <= r["lift_high"] for r in res])
    lo, hi = bounds(0.95, 2000)
    # measured (score intervals): n=1000 0.9455 / 0.946; n=60 0.9455 / 0.958
    assert lo <= diff_cover <= hi, diff_cover
    assert lo <= lift_cover <= hi, lift_cover


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, 1 + seed * 3)
    p[::4] = p[0]  # ties
    assert X.holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-15)
    with_nan = np.append(p, np.nan)[::-1]
    got = X.holm(with_nan)
    assert np.isnan(got[0]) and got[1:] == pytest.approx(X.holm(p[::-1]), abs=1e-15)


def test_holm_edge_cases():
    assert X.holm([]).tolist() == [] and X.holm([0.3]).tolist() == [0.3]
    assert X.holm([0.6, 0.7]).tolist() == [1.0, 1.0]  # capped at 1
    assert np.isnan(X.holm([np.nan])).all()
    with pytest.raises(ValueError, match=r"holm 'p_values' must be numbers between 0 and 1"):
        X.holm([0.1, 1.5])


# --------------------------------------------------------------------------------------------
# prob_beat_control
# --------------------------------------------------------------------------------------------
def _closed_form(x_c, n_c, x_t, n_t):
    """Evan Miller's exact sum for P(p_t > p_c) with uniform priors (integer parameters)."""
    a_c, b_c, a_t, b_t = 1 + x_c, 1 + n_c - x_c, 1 + x_t, 1 + n_t - x_t
    i = np.arange(a_t)
    terms = betaln(a_c + i, b_c + b_t) - np.log(b_t + i) - betaln(1 + i, b_t) - betaln(a_c, b_c)
    return float(np.exp(terms).sum())


def test_prob_beat_control_is_one_half_when_symmetric():
    for args in [(50, 1000, 50, 1000), (0, 10, 0, 10), (7, 7, 7, 7)]:
        assert X.prob_beat_control(*args) == pytest.approx(0.5, abs=1e-12)
    assert X.prob_beat_control(30, 500, 30, 500, prior=(2, 20)) == pytest.approx(0.5)
    # the two directions add to one
    assert (X.prob_beat_control(40, 800, 55, 900) + X.prob_beat_control(55, 900, 40, 800)
            == pytest.approx(1.0, abs=1e-9))


@pytest.mark.parametrize("args", [(50, 1000, 70, 1000), (3, 20, 8, 25), (0, 5, 1, 5),
                                  (120, 2000, 80, 1500), (5_000, 100_000, 5_100, 100_000)])
def test_prob_beat_control_matches_the_closed_form_and_monte_carlo(args):
    x_c, n_c, x_t, n_t = args
    exact = X.prob_beat_control(*args)
    assert exact == pytest.approx(_closed_form(*args), abs=1e-8)
    rng = np.random.default_rng(3)
    draws_c = rng.beta(1 + x_c, 1 + n_c - x_c, 200_000)
    draws_t = rng.beta(1 + x_t, 1 + n_t - x_t, 200_000)
    assert exact == pytest.approx(np.mean(draws_t > draws_c), abs=0.01)


def test_prob_beat_control_grows_with_treatment_successes():
    values = [X.prob_beat_control(20, 200, x, 200) for x in range(0, 61, 3)]
    assert np.all(np.diff(values) > 0)
    assert values[0] < 1e-6 and values[-1] > 1 - 1e-6


# --------------------------------------------------------------------------------------------
# analyze
# --------------------------------------------------------------------------------------------
def _trial(sizes: dict[str, int], rates: dict[str, dict[str, float]], seed: int,
           survival: bool = True) -> pd.DataFrame:
    """A lead table drawn from known rates; times to conversion exponential, censored at 45 d."""
    rng = np.random.default_rng(seed)
    parts = []
    for arm, n in sizes.items():
        part = {"arm": np.full(n, arm, dtype=object)}
        for metric, p in rates[arm].items():
            part[metric] = rng.random(n) < p
        if survival:
            t = rng.exponential(60 / rates[arm]["converted"] / 10, n)
            follow = rng.uniform(5, 45, n)
            part["duration_days"] = np.minimum(t, follow)
            part["censored"] = t > follow
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


SIZES = {"a": 1500, "b": 1500, "c": 1500}
RATES = {"a": {"replied": 0.30, "converted": 0.08},
         "b": {"replied": 0.37, "converted": 0.08},
         "c": {"replied": 0.30, "converted": 0.12}}


@pytest.fixture(scope="module")
def result():
    table = _trial(SIZES, RATES, seed=12)
    return table, X.analyze(table, control="a", metrics=["replied", "converted"])


def test_analyze_decision_table_and_holm(result):
    table, res = result
    s = res.summary
    assert s.shape == (6, 20)
    assert s.index.names == ["metric", "arm"]
    assert list(s.index) == [(m, a) for m in ("replied", "converted") for a in ("a", "b", "c")]
    assert list(s.columns) == ["n", "successes", "rate", "rate_low", "rate_high", "diff",
                               "diff_low", "diff_high", "diff_low_holm", "diff_high_holm",
                               "lift", "lift_low", "lift_high", "statistic", "p_value",
                               "p_holm", "method", "significant", "prob_beat_control",
                               "decision"]
    control = s.xs("a", level="arm")
    assert control[["diff", "p_value", "p_holm", "prob_beat_control"]].isna().all().all()
    assert control["method"].isna().all() and control["significant"].isna().all()
    assert control["decision"].isna().all()
    for metric in ("replied", "converted"):
        m = s.xs(metric, level="metric")
        x = table.groupby("arm")[metric].sum()
        assert m["successes"].to_dict() == x.to_dict()
        lo, hi = proportion_confint(x.to_numpy(), 1500, method="wilson")
        assert m["rate_low"].to_numpy() == pytest.approx(lo)
        assert m["rate_high"].to_numpy() == pytest.approx(hi)
        treated = m.loc[["b", "c"]]
        expected = multipletests(treated["p_value"].to_numpy(), alpha=0.05, method="holm")[1]
        assert treated["p_holm"].to_numpy() == pytest.approx(expected)
        assert (treated["significant"] == (treated["p_holm"] < 0.05)).all()
        direct = X.compare_proportions(int(x["a"]), 1500, int(x["c"]), 1500)
        assert treated.loc["c", "diff_low"] == pytest.approx(direct["diff_low"])
        assert treated.loc["c", "prob_beat_control"] == pytest.approx(
            X.prob_beat_control(int(x["a"]), 1500, int(x["c"]), 1500))
    # the arms that truly differ are found, the ones that do not are not
    assert bool(s.loc[("replied", "b"), "significant"])
    assert bool(s.loc[("converted", "c"), "significant"])
    assert not bool(s.loc[("replied", "c"), "significant"])
    flat = res.to_frame()
    assert list(flat.columns[:2]) == ["metric", "arm"] and len(flat) == 6


def test_analyze_attaches_srm_and_survival_matching_lifelines(result):
    table, res = result
    assert res.srm.counts == {"a": 1500, "b": 1500, "c": 1500} and not res.srm.mismatch
    assert list(res.survival.columns) == ["n", "events", "median_days", "converted_30d",
                                          "converted_60d", "converted_90d"]
    for arm, part in table.groupby("arm"):
        kmf = KaplanMeierFitter().fit(part["duration_days"], ~part["censored"])
        row = res.survival.loc[arm]
        assert row["n"] == len(part) and row["events"] == (~part["censored"]).sum()
        assert row["median_days"] == kmf.median_survival_time_
        assert row["converted_30d"] == pytest.approx(1 - kmf.survival_function_at_times(30).iloc[0])
        assert np.isnan(row["converted_60d"])  # nobody was followed 60 days
    direct = multivariate_logrank_test(table["duration_days"], table["arm"], ~table["censored"])
    assert res.logrank_p == pytest.approx(direct.p_value)
    assert res.survival.attrs["logrank_p"] == res.logrank_p


def test_analyze_median_days_is_finite_when_most_leads_convert():
    rng = np.random.default_rng(0)
    t = rng.exponential(10, 400)
    table = pd.DataFrame({"arm": np.repeat(["a", "b"], 200), "converted": t < 50,
                          "duration_days": np.minimum(t, 50), "censored": t >= 50})
    res = X.analyze(table, control="a", metrics=["converted"])
    for arm, part in table.groupby("arm"):
        kmf = KaplanMeierFitter().fit(part["duration_days"], ~part["censored"])
        assert res.survival.loc[arm, "median_days"] == pytest.approx(kmf.median_survival_time_)
        assert 3 < res.survival.loc[arm, "median_days"] < 15


def test_analyze_text_plots_and_validity_note(result):
    _, res = result
    text = str(res)
    assert "Validity:" in text and "monitor()" in text and "planned in advance" in text
    assert "Sample ratio OK" in text and "log-rank p" in text
    assert "significant: higher" in text and "control" in text
    assert "3 arms (control 'a')" in repr(res)
    assert "Holm" in res.validity
    ax = res.plot()
    assert ax.get_title() == "Converted by arm"
    assert res.plot(metric="replied") is not None
    assert res.plot_survival() is not None
    _, given = plt.subplots()
    assert res.plot(ax=given) is given


def test_experiment_result_keeps_the_result_protocol(result):
    _, res = result
    assert_result_protocol(res)
    assert_result_protocol(res, metric="replied")
    assert res.summary is res.table and res.to_frame().equals(res.table.reset_index())
    assert repr(res) == ("<ExperimentResult: 3 arms (control 'a'), 4,500 leads, metrics "
                         "['replied', 'converted'], alpha 0.05; sample ratio ok>")
    lines = res.to_text().splitlines()
    assert lines[0] == repr(res)
    assert lines[1] == "Experiment: control 'a' against 'b', 'c' — 4,500 leads, alpha 0.05"
    # the decision table follows: one line per (metric, arm) under two header lines
    table = res.decision_table().to_string().splitlines()
    assert lines[3:3 + len(table)] == table and len(table) == 2 + 6
    assert "significant: higher" in lines[3 + 2 + 5]  # converted, c (the sixth row)
    # time to conversion is printed with the decimals asked for
    km = lines.index("Time to conversion (Kaplan-Meier):")
    median_a = res.survival.loc["a", "median_days"]
    assert lines[km + 3].split()[:4] == ["a", "1500", f"{res.survival.loc['a', 'events']:d}",
                                         f"{median_a:,.3f}" if np.isfinite(median_a) else "inf"]
    assert f"{res.survival.loc['a', 'converted_30d']:.5f}" in res.to_text(decimals=5)
    with pytest.raises(ValueError, match=r"'metric' must be one of \['replied', 'converted'\]"):
        res.plot(metric="opened")


def test_analyze_warns_loudly_on_a_sample_ratio_mismatch_and_skips_survival():
    table = _trial({"a": 2200, "b": 1800}, {"a": {"converted": 0.1}, "b": {"converted": 0.1}},
                   seed=3, survival=False)
    res = X.analyze(table, control="a", metrics=["converted"])
    assert res.srm.mismatch
    assert "SAMPLE RATIO MISMATCH" in str(res) and "SAMPLE RATIO MISMATCH" in res.validity
    assert res.survival.empty and math.isnan(res.logrank_p)
    with pytest.raises(ValueError, match="duration_days"):
        res.plot_survival()
    # an arm planned but never filled is the worst mismatch of all
    planned = X.analyze(table, control="a", metrics=["converted"],
                        expected_share={"a": 1, "b": 1, "c": 1})
    assert planned.srm.counts["c"] == 0 and planned.srm.mismatch


def test_analyze_runs_on_a_simulated_export(run):
    leads, events = run
    res = X.analyze(X.lead_table(leads, events), control="a")
    assert res.summary.index.get_level_values("metric").unique().tolist() == list(X.METRICS)
    assert res.summary["n"].groupby(level="arm").first().sum() == 300
    assert len(res.survival) == 2


# --------------------------------------------------------------------------------------------
# monitor
# --------------------------------------------------------------------------------------------
def _looks(rng, p_c, p_t, weekly, weeks):
    n = weekly * np.arange(1, weeks + 1)
    return pd.DataFrame({"x_c": np.cumsum(rng.binomial(weekly, p_c, weeks)), "n_c": n,
                         "x_t": np.cumsum(rng.binomial(weekly, p_t, weeks)), "n_t": n})


def test_monitor_matches_its_formulas():
    looks = pd.DataFrame({"x_c": [0, 12, 30, 51], "n_c": [40, 150, 300, 500],
                          "x_t": [0, 20, 45, 75], "n_t": [40, 160, 310, 505]})
    m = X.monitor(looks, tau=0.05)
    assert list(m.columns) == ["diff", "naive_p", "always_valid_p", "cs_low", "cs_high", "stop"]
    # the first look has no success yet: no evidence, the widest sequence
    assert m.loc[0, "always_valid_p"] == 1 and (m.loc[0, "cs_low"], m.loc[0, "cs_high"]) == (-1, 1)
    assert np.isnan(m.loc[0, "naive_p"])
    for k in (1, 2, 3):
        x_c, n_c, x_t, n_t = looks.loc[k]
        assert m.loc[k, "naive_p"] == pytest.approx(proportions_ztest([x_t, x_c], [n_t, n_c])[1])
    p_c, p_t = looks["x_c"] / looks["n_c"], looks["x_t"] / looks["n_t"]
    v = p_c * (1 - p_c) / looks["n_c"] + p_t * (1 - p_t) / looks["n_t"]
    t2 = 0.05**2
    lam = np.sqrt(v / (v + t2)) * np.exp(t2 * (p_t - p_c) ** 2 / (2 * v * (v + t2)))
    expected = np.minimum.accumulate(np.minimum(1, 1 / lam.fillna(1.0)))
    assert m["always_valid_p"].to_numpy() == pytest.approx(expected.to_numpy())
    # the sequence and the p-value agree: stop exactly when 0 has left the sequence
    assert (m["stop"] == ((m["cs_low"] > 0) | (m["cs_high"] < 0))).all()
    assert m["cs_low"].is_monotonic_increasing and m["cs_high"].is_monotonic_decreasing


def test_monitor_default_tau_is_fixed_by_the_first_informative_look():
    rng = np.random.default_rng(1)
    looks = _looks(rng, 0.1, 0.12, 300, 10)
    full = X.monitor(looks)
    s = sequential._tuning_ratio(0.05)
    assert 8.1 < s < 8.3
    q = (looks.loc[0, "x_c"] + looks.loc[0, "x_t"]) / 600
    assert full.attrs["tau"] == pytest.approx(math.sqrt(s * q * (1 - q) * (2 / 300)))
    # re-running each week as looks are appended reproduces the earlier rows exactly
    for k in range(1, 10):
        pd.testing.assert_frame_equal(X.monitor(looks.iloc[:k]), full.iloc[:k])


@pytest.fixture(scope="module")
def null_study():
    """2,000 A/A experiments, 10 weekly looks of 200 leads per arm, 10% rate."""
    rng = np.random.default_rng(20260105)
    return [X.monitor(_looks(rng, 0.10, 0.10, 200, 10)) for _ in range(2000)]


def test_peeking_at_naive_p_values_inflates_false_positives_but_always_valid_does_not(
        null_study):
    naive = np.mean([(m["naive_p"] < 0.05).any() for m in null_study])
    valid = np.mean([m["stop"].any() for m in null_study])
    final = np.mean([m["naive_p"].iloc[-1] < 0.05 for m in null_study])
    lo, hi = bounds(0.05, 2000)
    assert lo <= final <= hi, final  # one planned look: fine (measured 0.059)
    assert naive > 0.12, naive  # any of ten looks: measured 0.202
    assert valid <= hi, valid  # measured 0.009
    covered = np.mean([((m["cs_low"] <= 0) & (m["cs_high"] >= 0)).all() for m in null_study])
    assert covered >= bounds(0.95, 2000)[0], covered  # measured 0.991


def test_monitor_stops_under_an_alternative_and_its_sequence_covers_the_truth():
    rng = np.random.default_rng(99)
    runs = [X.monitor(_looks(rng, 0.10, 0.13, 500, 16)) for _ in range(1000)]
    stopped = np.mean([m["stop"].iloc[-1] for m in runs])
    assert stopped > 0.95, stopped  # measured 0.998, median first stop at week 5
    covered = np.mean([((m["cs_low"] <= 0.03) & (m["cs_high"] >= 0.03)).all() for m in runs])
    assert covered >= bounds(0.95, 1000)[0], covered  # measured 0.992
    # once it stops, the sequence lies above zero and keeps the sign of the effect
    m = runs[0]
    assert m["stop"].any() and (m.loc[m["stop"], "cs_low"] > 0).all()


def test_weekly_looks_names_itself_when_a_metric_column_is_not_boolean():
    # the check was analyze's and said "analyze:" when weekly_looks called it
    t = pd.DataFrame({"arm": ["a", "b"], "contacted": ["yes", "no"]},
                     index=pd.Index(["w", "x"], name="lead_id"))
    when = pd.Series(pd.to_datetime(["2026-01-05", "2026-01-06"], utc=True), index=t.index)
    with pytest.raises(ValueError, match=r"^weekly_looks: metric column 'contacted' must hold "
                                         r"booleans \(or 0/1\)"):
        X.weekly_looks(t, when, control="a", treatment="b")


def test_counts_may_be_numpy_numbers_but_not_bools_or_text():
    assert X.compare_proportions(np.int64(10), np.int64(100), 12.0, 100) == \
        X.compare_proportions(10, 100, 12, 100)
    for bad in (True, "10", None):
        with pytest.raises(TypeError, match=r"compare_proportions 'x_c' must be a whole number "
                                            r">= 0\. Got"):
            X.compare_proportions(bad, 100, 12, 100)
    with pytest.raises(ValueError, match=r"'n_t' must be a whole number >= 0\. Got 10.5"):
        X.compare_proportions(1, 10, 1, 10.5)


# --------------------------------------------------------------------------------------------
# Validation messages
# --------------------------------------------------------------------------------------------
TABLE = pd.DataFrame({"arm": ["a", "b"] * 10, "converted": [True, False, False, True] * 5})


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: X.analyze(TABLE, control="c", metrics=["converted"]), ValueError,
         "analyze 'control' must be one of the arms ['a', 'b']. Got 'c' instead."),
        (lambda: X.analyze(TABLE, control="a", metrics=["won"]), KeyError, "['won']"),
        (lambda: X.analyze(TABLE.assign(converted="yes"), control="a", metrics=["converted"]),
         ValueError, "metric column 'converted' must hold booleans"),
        (lambda: X.analyze(TABLE, control="a", metrics=["converted"], alpha=5), ValueError,
         "analyze 'alpha' must be a number strictly between 0 and 1. Got 5 instead."),
        (lambda: X.assign_random(TABLE, ["a"], seed=1), ValueError,
         "assign_random 'arms' needs at least two arms"),
        (lambda: X.assign_random(TABLE, ["a", "b"], strata=["source"], seed=1), KeyError,
         "'strata' names column(s) ['source']"),
        (lambda: X.assign_random(TABLE, ["a", "b"], seed=1, weights=[1, 0]), ValueError,
         "'weights' must all be positive"),
        (lambda: X.assign_hash(["x"], ["a", "b"], salt=""), TypeError,
         "assign_hash 'salt' must be a non-empty string"),
        (lambda: X.assign_hash(["x"], "ab", salt="s"), TypeError, "'arms' must be a sequence"),
        (lambda: X.srm_check({"a": 10, "b": 10}, {"a": 0.5, "c": 0.5}), ValueError,
         "srm_check 'expected_share' must give a share for exactly the arms ['a', 'b']"),
        (lambda: X.srm_check({"a": -1, "b": 10}), ValueError, "whole number >= 0"),
        (lambda: X.sample_size(1.2, 0.01), ValueError,
         "sample_size 'p_control' must be a number strictly between 0 and 1. Got 1.2 instead."),
        (lambda: X.sample_size(0.95, 0.1), ValueError, "treatment rate strictly between 0 and 1"),
        (lambda: X.sample_size(0.1, 0), ValueError, "sample_size 'mde' must be a non-zero"),
        (lambda: X.power(0.1, 0.12, -5), ValueError, "power 'n_per_arm' must be a positive"),
        (lambda: X.mde(0.1, 1), ValueError, "mde 'n_per_arm'=1 is too small"),
        (lambda: X.compare_proportions(5, 0, 1, 10), ValueError,
         "compare_proportions 'n_c' must be at least 1"),
        (lambda: X.compare_proportions(11, 10, 1, 10), ValueError,
         "compare_proportions 'x_c' must not exceed 'n_c' (10). Got 11 instead."),
        (lambda: X.score_interval(1, 10, 1, 10, compare="ratio"), ValueError,
         "score_interval 'compare' must be one of ['diff', 'lift']. Got 'ratio' instead."),
        (lambda: X.analyze(TABLE, control="a", metrics=["converted"], threshold=-1), ValueError,
         "analyze 'threshold' must be a positive number"),
        (lambda: X.analyze(TABLE, control="a", metrics=["converted"],
                           threshold={"won": 0.01}), ValueError,
         "analyze 'threshold' names metrics that are not analysed: ['won']"),
        (lambda: X.omnibus(TABLE, "won"), KeyError, "['won']"),
        (lambda: X.omnibus(TABLE, draws=10), ValueError,
         "omnibus 'draws' must be a whole number >= 1000. Got 10 instead."),
        (lambda: X.decide(0.1, 0.0, 0.2, threshold=0), ValueError,
         "decide 'threshold' must be a positive number"),
        (lambda: X.prob_beat_control(1, 10, 1, 10, prior=(0, 1)), ValueError,
         "prob_beat_control 'prior' must be two positive numbers"),
        (lambda: X.monitor(pd.DataFrame({"x_c": [1], "n_c": [2], "x_t": [1]})), KeyError,
         "['n_t']"),
        (lambda: X.monitor(pd.DataFrame({"x_c": [5, 4], "n_c": [9, 10], "x_t": [1, 2],
                                         "n_t": [9, 10]})), ValueError,
         "'x_c' must be cumulative (never decreasing); it falls at row 1"),
        (lambda: X.monitor(pd.DataFrame({"x_c": [5], "n_c": [9], "x_t": [1], "n_t": [9]}),
                           tau=-1), ValueError, "monitor 'tau' must be a positive number"),
    ],
)
def test_validation_messages(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_nothing_warns_on_clean_input(run):
    leads, events = run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X.analyze(X.lead_table(leads, events), control="a")
        X.monitor(pd.DataFrame({"x_c": [0, 0], "n_c": [5, 10], "x_t": [0, 1], "n_t": [5, 10]}))
