"""nurturelab.experiment.adjustment: Lin's regression adjustment with HC2 errors, and CUPED.

Known answers from statsmodels (OLS of the fully interacted design with ``cov_type="HC2"``;
the HC2 variance of a difference of means is Neyman's), the encoding of covariates, and seeded
studies with known truth: coverage of the adjusted interval at 95% within 99% binomial bounds,
no bias, and a variance reduction equal to the share of the outcome's variance the covariates
explain; on the simulated world, the reduction on conversion and contact.
"""

from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from scipy import stats  # noqa: E402

from nurturelab import experiment as X  # noqa: E402
from nurturelab.experiment._rows import ROW_COLUMNS  # noqa: E402
from nurturelab.simulation import World, simulate  # noqa: E402

from resultcheck import assert_result_protocol  # noqa: E402

Z99 = stats.norm.isf(0.005)
REPS = int(os.environ.get("NURTURELAB_STUDY_REPS", "500"))


def bounds(rate: float, runs: int) -> tuple[float, float]:
    half = Z99 * math.sqrt(rate * (1 - rate) / runs)
    return rate - half, rate + half


def _data(rng, n=900, arms=("a", "b", "c")):
    arm = rng.choice(list(arms), n)
    fit = rng.random(n)
    source = rng.choice(["paid", "partner", "web"], n, p=[0.5, 0.2, 0.3])
    y = (1 + 0.4 * (arm == "b") + 2 * fit * (1 + 0.5 * (arm == "c")) + 0.8 * (source == "web")
         + rng.normal(0, 1, n))
    fit = np.where(rng.random(n) < 0.1, np.nan, fit)
    return y, arm, pd.DataFrame({"fit": fit, "source": source})


def _statsmodels_lin(y, arm, X_cov, control, treated):
    """The fully interacted OLS, fitted by statsmodels with HC2: params and bse of the arms."""
    Xc = X_cov - X_cov.mean(axis=0)
    D = np.column_stack([(arm == t).astype(float) for t in treated])
    Z = np.column_stack([np.ones(len(y)), D, Xc] + [D[:, [j]] * Xc for j in range(D.shape[1])])
    fit = sm.OLS(y, Z).fit(cov_type="HC2")
    k = len(treated)
    return fit.params[1:1 + k], fit.bse[1:1 + k]


# --------------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------------
def test_adjusted_difference_is_statsmodels_interacted_ols_with_hc2():
    y, arm, cov = _data(np.random.default_rng(3))
    res = X.adjusted_difference(pd.Series(y, name="deal_value"), arm, cov, control="a")
    M, names, _ = X.covariate_matrix(cov)
    assert names == ["fit", "fit=missing", "source=partner", "source=web"]
    params, bse = _statsmodels_lin(y, arm, M, "a", ["b", "c"])
    s = res.summary
    np.testing.assert_allclose(s.loc[["b", "c"], "diff"], params, rtol=1e-9)
    se = (s.loc[["b", "c"], "diff_high"] - s.loc[["b", "c"], "diff"]) / stats.norm.isf(0.025)
    np.testing.assert_allclose(se, bse, rtol=1e-9)
    np.testing.assert_allclose(s.loc[["b", "c"], "statistic"], params / bse, rtol=1e-9)
    np.testing.assert_allclose(s.loc[["b", "c"], "p_value"],
                               2 * stats.norm.sf(np.abs(params / bse)), rtol=1e-9)
    # the unadjusted columns are Welch's
    for t in ("b", "c"):
        keep = np.isin(arm, ["a", t])
        welch = stats.ttest_ind(y[arm == t], y[arm == "a"], equal_var=False)
        assert s.loc[t, "unadjusted_p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
        assert s.loc[t, "unadjusted_diff"] == pytest.approx(
            y[arm == t].mean() - y[arm == "a"].mean())
        assert keep.sum() > 0
    assert list(s.columns[:len(ROW_COLUMNS)]) == list(ROW_COLUMNS)
    assert (s.loc[["b", "c"], "variance_reduction"] > 0.2).all()
    assert (s.loc[["b", "c"], "method"] == "lin_hc2").all()
    assert any("'fit': " in n and "=missing" in n for n in res.notes)
    assert_result_protocol(res)


def test_without_covariates_the_hc2_variance_is_neymans():
    rng = np.random.default_rng(1)
    arm = np.repeat(["a", "b"], [300, 200])
    y = rng.exponential(1, 500) + 0.2 * (arm == "b")
    row = X.adjusted_difference_rows(y, arm, pd.DataFrame(index=range(500)), control="a")["b"]
    neyman = math.sqrt(y[arm == "a"].var(ddof=1) / 300 + y[arm == "b"].var(ddof=1) / 200)
    assert row["diff"] == pytest.approx(y[arm == "b"].mean() - y[arm == "a"].mean())
    assert (row["diff_high"] - row["diff"]) / stats.norm.isf(0.025) == pytest.approx(neyman)
    assert row["variance_reduction"] == pytest.approx(0.0, abs=1e-12)


def test_a_level_absent_from_one_arm_leaves_its_estimate_identified():
    """'partner' never occurs in arm b: its indicator is constant within b, so b's fit drops
    it (otherwise b's intercept would be a minimum-norm guess); the result equals b's fit
    without that column, and the arm's estimate stays the statsmodels one for the others."""
    rng = np.random.default_rng(9)
    y, arm, cov = _data(rng, n=600, arms=("a", "b"))
    cov["source"] = np.where((arm == "b") & (cov["source"] == "partner"), "web", cov["source"])
    res = X.adjusted_difference(y, arm, cov, control="a")
    assert np.isfinite(res.summary.loc["b", ["diff", "diff_low", "diff_high"]].astype(float)).all()
    assert any("arm 'b': 1 covariate column(s) are collinear" in n for n in res.notes)
    M, names, _ = X.covariate_matrix(cov)
    centre = M.mean(axis=0)
    inside = arm == "b"
    keep = [j for j, n in enumerate(names) if n != "source=partner"]
    Z = np.column_stack([np.ones(inside.sum()), M[inside][:, keep] - centre[keep]])
    ref_b = sm.OLS(y[inside], Z).fit(cov_type="HC2")
    Za = np.column_stack([np.ones((~inside).sum()), M[~inside] - centre])
    ref_a = sm.OLS(y[~inside], Za).fit(cov_type="HC2")
    assert res.summary.loc["b", "diff"] == pytest.approx(ref_b.params[0] - ref_a.params[0])
    assert res.summary.loc["b", "mean"] == pytest.approx(ref_b.params[0])


def test_covariate_matrix_encodes_numbers_categories_and_missing_values():
    cov = pd.DataFrame({
        "fit": [0.1, np.nan, 0.5, 0.9, 0.3],
        "intent": pd.Categorical(["high", "low", None, "medium", "low"],
                                 categories=["low", "medium", "high"], ordered=True),
        "source": ["web", "paid", "web", "referral", "paid"],
        "flag": [True, False, True, True, False],
        "same": 7,
    })
    M, names, notes = X.covariate_matrix(cov)
    assert names == ["fit", "fit=missing", "intent=medium", "intent=high", "intent=missing",
                     "source=referral", "source=web", "flag"]
    np.testing.assert_allclose(M[:, 0], [0.1, 0.45, 0.5, 0.9, 0.3])
    np.testing.assert_array_equal(M[:, 1], [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(M[:, 2:5], [[0, 1, 0], [0, 0, 0], [0, 0, 1], [1, 0, 0],
                                              [0, 0, 0]])
    np.testing.assert_array_equal(M[:, 5:7], [[0, 1], [0, 0], [0, 1], [1, 0], [0, 0]])
    assert "covariate 'fit': 1 of 5 leads have no value" in notes[0]
    assert any("'same' has one value for every lead" in n for n in notes)
    with pytest.raises(TypeError, match="covariate 'ts' holds datetime64"):
        X.covariate_matrix(pd.DataFrame({"ts": pd.to_datetime(["2026-01-01"])}))
    with pytest.raises(TypeError, match="'covariates' must be a pandas DataFrame"):
        X.covariate_matrix([[1, 2]])


def test_adjusted_difference_validation():
    with pytest.raises(ValueError, match=r"'covariates' must have one row per lead \(4\)"):
        X.adjusted_difference([1, 2, 3, 4], list("aabb"), pd.DataFrame({"x": [1, 2]}),
                              control="a")
    with pytest.raises(ValueError, match="arm 'b' has 1 lead"):
        X.adjusted_difference([1, 2, 3], list("aab"), pd.DataFrame({"x": [1, 2, 4]}),
                              control="a")
    with pytest.raises(ValueError, match="cuped 'pre' has 1 missing or infinite values"):
        X.cuped([1, 2, 3, 4], [1, np.nan, 2, 3], list("aabb"), control="a")
    with pytest.raises(ValueError, match="adjusted_difference 'alpha' must be a number"):
        X.adjusted_difference([1, 2, 3, 4], list("aabb"), pd.DataFrame({"x": [1, 2, 3, 5]}),
                              control="a", alpha=0)


# --------------------------------------------------------------------------------------------
# Studies with known truth
# --------------------------------------------------------------------------------------------
def test_lin_adjustment_covers_is_unbiased_and_reduces_variance_by_r2():
    """NURTURELAB_STUDY_REPS experiments (500 in CI) of 2 x 400 leads. The outcome is
    ``tau D + b x + 0.6 [source = web] + e`` with ``x`` normal and the covariates explaining
    30% of the outcome's variance within an arm; true effect tau = 0.3, 10% of ``x`` missing
    (filled, with an indicator). The adjusted interval covers tau at 95%, the mean estimate is
    within 3 standard errors of tau, and the variance falls by about 0.3, both as estimated
    (mean of variance_reduction) and as observed (1 - var(adjusted) / var(unadjusted) over the
    experiments)."""
    rng = np.random.default_rng(77)
    n, tau = 400, 0.3
    arm = np.repeat(["a", "b"], n)
    # var(b x + 0.6 web) = 0.3 of the total, with var(e) = 1 - 0.3
    web_var = 0.36 * 0.3 * 0.7
    b = math.sqrt(0.3 - web_var)
    adj, plain, cover, reduction = [], [], 0, []
    for _ in range(REPS):
        x = rng.normal(0, 1, 2 * n)
        web = rng.random(2 * n) < 0.3
        y = tau * (arm == "b") + b * x + 0.6 * web + rng.normal(0, math.sqrt(0.7), 2 * n)
        x_seen = np.where(rng.random(2 * n) < 0.1, np.nan, x)
        cov = pd.DataFrame({"x": x_seen, "source": np.where(web, "web", "paid")})
        r = X.adjusted_difference_rows(y, arm, cov, control="a")["b"]
        adj.append(r["diff"])
        plain.append(r["unadjusted_diff"])
        cover += r["diff_low"] <= tau <= r["diff_high"]
        reduction.append(r["variance_reduction"])
    adj, plain = np.array(adj), np.array(plain)
    lo, hi = bounds(0.95, REPS)
    print(f"Lin, {REPS} experiments: coverage {cover / REPS:.3f}, bias {adj.mean() - tau:+.4f} "
          f"(se {adj.std(ddof=1) / math.sqrt(REPS):.4f}), variance reduction estimated "
          f"{np.mean(reduction):.3f}, observed {1 - adj.var(ddof=1) / plain.var(ddof=1):.3f}")
    assert lo <= cover / REPS <= hi, cover / REPS
    assert abs(adj.mean() - tau) < 3 * adj.std(ddof=1) / math.sqrt(REPS), adj.mean()
    # with 10% of x unseen the covariates explain 0.3 - 0.1 b^2 = 0.28 of the variance
    expected = 0.3 - 0.1 * b**2
    assert np.mean(reduction) == pytest.approx(expected, abs=0.02), np.mean(reduction)
    observed = 1 - adj.var(ddof=1) / plain.var(ddof=1)
    assert observed == pytest.approx(expected, abs=0.05), observed


def test_cuped_covers_and_reduces_variance_by_the_squared_correlation():
    """NURTURELAB_STUDY_REPS experiments (500 in CI) of 2 x 400 leads whose outcome correlates
    0.55 with its pre-period value (rho^2 = 0.30), skewed (a lognormal), true effect 0.1."""
    rng = np.random.default_rng(5)
    n, tau, rho = 400, 0.1, 0.55
    arm = np.repeat(["a", "b"], n)
    cover, red, adj, plain = 0, [], [], []
    for _ in range(REPS):
        pre = rng.normal(0, 1, 2 * n)
        y = rho * pre + math.sqrt(1 - rho**2) * rng.normal(0, 1, 2 * n) + tau * (arm == "b")
        r = X.cuped_rows(y, pre, arm, control="a")["b"]
        cover += r["diff_low"] <= tau <= r["diff_high"]
        red.append(r["variance_reduction"])
        adj.append(r["diff"])
        plain.append(r["unadjusted_diff"])
    lo, hi = bounds(0.95, REPS)
    print(f"CUPED, {REPS} experiments: coverage {cover / REPS:.3f}, variance reduction "
          f"estimated {np.mean(red):.3f}, observed {1 - np.var(adj) / np.var(plain):.3f}")
    assert lo <= cover / REPS <= hi, cover / REPS
    assert np.mean(red) == pytest.approx(rho**2, abs=0.02)
    assert 1 - np.var(adj) / np.var(plain) == pytest.approx(rho**2, abs=0.06)
    # one covariate: Lin's estimate is CUPED's up to the per-arm slopes
    lin = X.adjusted_difference_rows(y, arm, pd.DataFrame({"pre": pre}), control="a")["b"]
    assert lin["diff"] == pytest.approx(r["diff"], abs=0.01)
    res = X.cuped(pd.Series(y, name="y"), pd.Series(pre, name="pre"), arm, control="a")
    assert "theta" in res.notes[0] and res.summary.loc["b", "method"] == "cuped"
    assert_result_protocol(res)


@pytest.fixture(scope="module")
def world_run():
    res = simulate(World(leads=2000), seed=21)
    leads = res.leads.copy()
    leads["arm"] = X.assign_random(leads, ["a", "b"], strata=["source"], seed=4).to_numpy()
    return leads, res.events


def test_variance_reduction_on_the_simulated_world(world_run):
    """An A/A test on the simulated world (2,000 leads): intent, fit and source are fixed
    before assignment. Adjusting for them keeps the estimate near the unadjusted one and does
    not widen the interval (Lin's estimator is never worse asymptotically); on conversion the
    reduction is positive but small, because intent and fit explain little of who converts."""
    leads, events = world_run
    table = X.lead_table(leads, events)
    cov = leads.set_index("lead_id").loc[table.index, ["intent", "fit", "source"]]
    for metric in ("converted", "contacted"):
        res = X.adjusted_difference(table[metric], table["arm"], cov, control="a")
        row = res.summary.loc["b"]
        se = (row["diff_high"] - row["diff"]) / stats.norm.isf(0.025)
        print(f"world A/A, {metric}: variance reduction {row['variance_reduction']:.3f}")
        assert abs(row["diff"] - row["unadjusted_diff"]) < 2 * se
        assert row["variance_reduction"] > -0.01, (metric, row["variance_reduction"])
    assert res.summary.loc["b", "variance_reduction"] < 0.5
