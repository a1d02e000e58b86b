"""nurturelab.experiment.clusters: experiments randomised by rep or account.

Known answers from statsmodels (OLS with cluster-robust CR1 errors and its t on G - 1 df, HC0
errors for the naive analysis, the sums of squares of the nested analysis of variance behind
the ICC); validation of
what a cluster-randomised analysis must refuse; and seeded studies on clustered data with known
truth (beta-binomial clusters, ICC 0.05, 40 clusters), vectorised over thousands of
experiments: the naive and the cluster-robust false-positive rates, the interval's coverage, and
the recovery of the ICC. Rates are checked against binomial bounds at 99%.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from nurturelab import experiment as X

from resultcheck import assert_result_protocol

Z99 = stats.norm.isf(0.005)
REPS = int(os.environ.get("NURTURELAB_STUDY_REPS", "4000"))
ICC, BASE, CLUSTERS = 0.05, 0.10, 40


def bounds(rate: float, runs: int) -> tuple[float, float]:
    """99% normal bounds for the share of ``runs`` independent trials with success ``rate``."""
    half = Z99 * math.sqrt(rate * (1 - rate) / runs)
    return rate - half, rate + half


def clustered(rng, reps, *, rates=(BASE, BASE), icc=ICC, clusters=CLUSTERS, size=(25, 76)):
    """Per-cluster (successes, leads, treated) of ``reps`` experiments: clusters alternate
    between control and treatment, sizes uniform on ``size``, each cluster's rate drawn from a
    beta distribution with its arm's mean and intra-cluster correlation ``icc``
    (``1 / (a + b + 1)``)."""
    treated = np.arange(clusters) % 2 == 1
    mean = np.where(treated, rates[1], rates[0])
    s = 1 / icc - 1
    leads = rng.integers(size[0], size[1], size=(reps, clusters))
    p = rng.beta(mean * s, (1 - mean) * s, size=(reps, clusters))
    return rng.binomial(leads, p), leads, treated


def lead_rows(x, n, treated, arms=("a", "b")):
    """One row per lead of one experiment's per-cluster counts."""
    parts = [pd.DataFrame({"rep_id": f"rep{g:02d}", "arm": arms[int(treated[g])],
                           "converted": np.arange(n[g]) < x[g]}) for g in range(len(n))]
    return pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=1)


@pytest.fixture(scope="module")
def one():
    x, n, treated = clustered(np.random.default_rng(31), 1, rates=(0.10, 0.14))
    return x[0], n[0], treated


@pytest.fixture(scope="module")
def comparison(one):
    return X.cluster_compare(lead_rows(*one), control="a")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def test_a_cluster_holding_two_arms_is_refused_naming_it_and_its_arms(one):
    t = lead_rows(*one)
    t.loc[t["rep_id"] == "rep03", "arm"] = ["a", "b"] * int((t["rep_id"] == "rep03").sum() / 2) \
        + ["a"] * int((t["rep_id"] == "rep03").sum() % 2)
    with pytest.raises(ValueError, match=r"1 cluster\(s\) of 'rep_id' hold leads of more than "
                                         r"one arm: 'rep03' holds \d+ of arm 'a', \d+ of arm "
                                         r"'b'\. Randomisation was not by 'rep_id'"):
        X.cluster_compare(t, control="a")


def test_an_arm_with_one_cluster_is_refused(one):
    t = lead_rows(*one)
    t = t[(t["arm"] == "a") | (t["rep_id"] == "rep01")]
    with pytest.raises(ValueError, match=r"arm 'b' has 1 cluster\(s\) of 'rep_id' \(\['rep01'\]\)"
                                         r"; a cluster-randomised comparison needs at least 2"):
        X.cluster_compare(t, control="a")
    with pytest.raises(ValueError, match="at least 2 clusters in each arm"):
        X.cluster_robust_diff([1, 2, 3], [10, 10, 10], [True, False, False])


@pytest.mark.parametrize("change, error, match", [
    ({"cluster": "account_id"}, KeyError, r"lacks the column\(s\) \['account_id'\]"),
    ({"alpha": 0}, ValueError, r"cluster_compare 'alpha' must be a number strictly between"),
    ({"control": "z"}, ValueError, r"'control' must be one of the arms \['a', 'b'\]"),
    ({"metric": 3}, TypeError, r"cluster_compare 'metric' must be a column name"),
])
def test_bad_arguments_are_refused(one, change, error, match):
    with pytest.raises(error, match=match):
        X.cluster_compare(lead_rows(*one), **{"control": "a", **change})


def test_a_lead_without_a_cluster_is_refused(one):
    t = lead_rows(*one)
    t.iloc[:3, t.columns.get_loc("rep_id")] = None
    with pytest.raises(ValueError, match=r"3 leads have no 'rep_id'"):
        X.cluster_compare(t, control="a")


# --------------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------------
def test_cluster_robust_row_is_statsmodels_ols_with_cluster_errors(one, comparison):
    t = lead_rows(*one)
    y = t["converted"].to_numpy(dtype=float)
    design = sm.add_constant((t["arm"] == "b").to_numpy(dtype=float))
    groups = pd.factorize(t["rep_id"])[0]
    fit = sm.OLS(y, design).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    r = comparison.summary.loc[("b", "cluster-robust")]
    assert r["diff"] == pytest.approx(fit.params[1], abs=1e-12)
    assert r["se"] == pytest.approx(fit.bse[1], rel=1e-10)
    assert r["df"] == fit.df_resid_inference == CLUSTERS - 1
    assert r["p_value"] == pytest.approx(fit.pvalues[1], rel=1e-9)
    assert (r["diff_low"], r["diff_high"]) == pytest.approx(tuple(fit.conf_int()[1]), rel=1e-9)
    assert bool(r["significant"]) == (r["diff_low"] > 0 or r["diff_high"] < 0)


def test_naive_row_is_statsmodels_ols_with_independent_leads(one, comparison):
    t = lead_rows(*one)
    y = t["converted"].to_numpy(dtype=float)
    design = sm.add_constant((t["arm"] == "b").to_numpy(dtype=float))
    fit = sm.OLS(y, design).fit(cov_type="HC0")  # p (1 - p) / n per arm, normal reference
    r = comparison.summary.loc[("b", "naive")]
    assert r["se"] == pytest.approx(fit.bse[1], rel=1e-10)
    assert r["p_value"] == pytest.approx(fit.pvalues[1], rel=1e-9)
    assert (r["diff_low"], r["diff_high"]) == pytest.approx(tuple(fit.conf_int()[1]), rel=1e-9)
    robust = comparison.summary.loc[("b", "cluster-robust")]
    assert robust["design_effect"] == pytest.approx((robust["se"] / r["se"]) ** 2, rel=1e-12)


def test_icc_is_the_nested_analysis_of_variance_estimate(one, comparison):
    # statsmodels' least squares: the between-cluster, within-arm sum of squares is what the
    # cluster means explain beyond the arm means (the residual sums of squares of y ~ arm and
    # y ~ cluster), the within-cluster one is the residual of y ~ cluster; with Searle's
    # adjusted cluster size m0, ICC = (MSB - MSW) / (MSB + (m0 - 1) MSW), MSB on G - 2 df
    # (clusters nested in 2 arms)
    x, n, treated = one
    t = lead_rows(*one).assign(y=lambda d: d["converted"].astype(float))
    by_arm = smf.ols("y ~ C(arm)", data=t).fit()
    by_cluster = smf.ols("y ~ C(rep_id)", data=t).fit()
    assert by_cluster.df_resid == n.sum() - len(n)
    msb = (by_arm.ssr - by_cluster.ssr) / (len(n) - 2)
    msw = by_cluster.ssr / by_cluster.df_resid
    m0 = (n.sum() - (n[treated] ** 2).sum() / n[treated].sum()
          - (n[~treated] ** 2).sum() / n[~treated].sum()) / (len(n) - 2)
    expected = (msb - msw) / (msb + (m0 - 1) * msw)
    assert comparison.robust.loc["b", "icc"] == pytest.approx(expected, rel=1e-8)


def test_vectorised_counts_agree_with_the_lead_table_and_one_at_a_time():
    x, n, treated = clustered(np.random.default_rng(2), 5)
    many = X.cluster_robust_diff(x, n, treated)
    for k in range(5):
        one = X.cluster_robust_diff(x[k], n[k], treated)
        res = X.cluster_compare(lead_rows(x[k], n[k], treated), control="a").robust.loc["b"]
        for key in ("diff", "se", "p_value", "diff_low", "icc", "design_effect"):
            assert one[key] == pytest.approx(many[key][k], rel=1e-12), key
            assert res[key] == pytest.approx(one[key], rel=1e-10), key


def test_several_treatment_arms_use_their_own_clusters():
    rng = np.random.default_rng(9)
    x, n, _ = clustered(rng, 1, clusters=30)
    arm = np.array(["a", "b", "c"] * 10)
    parts = [pd.DataFrame({"account": f"acc{g}", "arm": arm[g],
                           "converted": np.arange(n[0, g]) < x[0, g]}) for g in range(30)]
    res = X.cluster_compare(pd.concat(parts, ignore_index=True), control="a", cluster="account")
    assert res.robust.index.tolist() == ["b", "c"]
    assert res.robust["df"].tolist() == [19.0, 19.0]  # 10 + 10 clusters each, G - 1
    keep = arm != "c"
    direct = X.cluster_robust_diff(x[0, keep], n[0, keep], arm[keep] == "b")
    assert res.robust.loc["b", "se"] == pytest.approx(direct["se"], rel=1e-12)


def test_result_protocol(comparison):
    assert_result_protocol(comparison)
    text = comparison.to_text()
    assert "design effect" in text and "t on G - 1 df" in text
    assert repr(comparison).startswith("<ClusterComparison: converted, randomised by 'rep_id' "
                                       "(40 clusters)")


# --------------------------------------------------------------------------------------------
# Studies: clustered data with known truth
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def null_study():
    return X.cluster_robust_diff(*clustered(np.random.default_rng(20260515), REPS))


def test_study_naive_false_positive_rate_is_far_above_alpha_cluster_robust_near_it(null_study):
    # ICC 0.05 with about 50 leads a cluster: design effect about 1 + 49 * 0.05 = 3.5, so the
    # naive z interval is too narrow by sqrt(3.5) and rejects about 2 P(Z > 1.96 / 1.87) = 0.29
    naive = float((null_study["p_naive"] < 0.05).mean())
    robust = float((null_study["p_value"] < 0.05).mean())
    assert naive > 0.2
    lo, hi = bounds(0.05, REPS)
    assert lo < robust < hi + 0.005  # CR1 with 40 clusters may be a little liberal


def test_study_design_effect_and_icc_are_recovered(null_study):
    icc = null_study["icc"]
    # the ANOVA estimator is nearly unbiased; its mean over REPS experiments within 4 standard
    # errors of the truth, plus 0.003 for the small bias of a ratio of mean squares
    assert abs(icc.mean() - ICC) < 4 * icc.std() / math.sqrt(REPS) + 0.003
    expected_deff = 1 + (50 - 1) * ICC  # mean cluster size 50
    assert abs(np.median(null_study["design_effect"]) - expected_deff) < 0.5


def test_study_coverage_of_the_cluster_robust_interval_under_an_effect():
    r = X.cluster_robust_diff(*clustered(np.random.default_rng(77), REPS, rates=(0.10, 0.13)))
    truth = 0.03
    covered = float(((r["diff_low"] < truth) & (r["diff_high"] > truth)).mean())
    naive = float(((r["naive_low"] < truth) & (r["naive_high"] > truth)).mean())
    lo, hi = bounds(0.95, REPS)
    assert lo - 0.005 < covered < hi
    assert naive < 0.8
