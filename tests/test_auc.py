"""DeLong's AUC interval and paired difference: known answers, the definition, and coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from nurturelab.scoring.auc import auc_difference, auc_interval

# Hanley & McNeil (1982), Radiology 143:29, table 1: CT ratings (1 definitely normal ...
# 5 definitely abnormal) of 58 normal and 51 abnormal patients.
HM_NORMAL, HM_ABNORMAL = [33, 6, 6, 11, 2], [3, 2, 2, 11, 33]


def _hanley_mcneil():
    rating = np.repeat([1, 2, 3, 4, 5] * 2, HM_NORMAL + HM_ABNORMAL).astype(float)
    y = np.repeat([0, 1], [58, 51])
    return y, rating


def _by_definition(y, scores):
    """DeLong et al. (1988) written from the definition: the m x n comparison matrix per score,
    its row and column means (the structural components), their sample covariances."""
    y = np.asarray(y, bool)
    comps10, comps01, aucs = [], [], []
    for s in scores:
        s = np.asarray(s, float)
        pos, neg = s[y], s[~y]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        aucs.append(psi.mean())
        comps10.append(psi.mean(axis=1))
        comps01.append(psi.mean(axis=0))
    m, n = y.sum(), (~y).sum()
    cov = np.atleast_2d(np.cov(np.vstack(comps10))) / m + np.atleast_2d(
        np.cov(np.vstack(comps01))) / n
    return np.array(aucs), cov


def test_hanley_mcneil_ct_ratings():
    """The published area, 0.893; Hanley-McNeil's closed-form SE (their formula, 0.032 in the
    paper) and DeLong's (0.0307) estimate the same quantity and agree to within 0.002."""
    y, rating = _hanley_mcneil()
    r = auc_interval(y, rating)
    assert round(r.estimate, 3) == 0.893
    assert r.estimate == pytest.approx(roc_auc_score(y, rating), abs=1e-12)
    a, m, n = r.estimate, 51, 58
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se_hm = np.sqrt((a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n))
    assert round(se_hm, 3) == 0.032  # the paper's figure: the formula is right
    assert abs(r.se - se_hm) < 0.002
    _, cov = _by_definition(y, [rating])
    assert r.se == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-12)
    z = stats.norm.ppf(0.975)
    assert (r.low, r.high) == pytest.approx((a - z * r.se, a + z * r.se), abs=1e-12)
    assert (r.n_positive, r.n_negative) == (51, 58)


@pytest.mark.parametrize("levels", [None, 4])  # continuous scores, then scores with many ties
def test_matches_the_definition_and_scikit_learn(levels):
    rng = np.random.default_rng(5)
    y = rng.random(300) < 0.25
    a = y + rng.normal(0, 1, 300)
    b = 0.5 * a + rng.normal(0, 1, 300)
    if levels:
        a, b = np.floor(a * levels / 2), np.floor(b * levels / 2)
    aucs, cov = _by_definition(y, [a, b])
    d = auc_difference(y, a, b)
    assert d.auc_a.estimate == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert d.auc_b.estimate == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert d.auc_a.se == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-10)
    assert d.auc_b.se == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-10)
    assert d.estimate == pytest.approx(aucs[0] - aucs[1], abs=1e-12)
    assert d.se == pytest.approx(np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), rel=1e-10)
    assert d.correlation == pytest.approx(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]), rel=1e-10)
    assert auc_interval(y, a).se == pytest.approx(d.auc_a.se, rel=1e-12)


def test_identical_rankings_differ_by_zero_with_no_variance():
    rng = np.random.default_rng(1)
    y = rng.random(100) < 0.3
    s = rng.normal(size=100)
    d = auc_difference(y, s, np.exp(s))
    assert d.estimate == 0 and d.se == pytest.approx(0, abs=1e-12) and d.p_value == 1.0
    perfect = auc_interval(y, y.astype(float))
    assert (perfect.estimate, perfect.se, perfect.low, perfect.high) == (1.0, 0.0, 1.0, 1.0)


def _binormal(rng, m, n, d):
    """Negatives N(0, 1), positives N(d, 1): the AUC is Phi(d / sqrt 2)."""
    y = np.repeat([True, False], [m, n])
    return y, np.where(y, d, 0.0) + rng.normal(size=m + n)


@pytest.mark.slow
@pytest.mark.parametrize(("m", "n", "d", "band"), [
    (50, 450, 1.0, (0.935, 0.965)),   # a holdout of 500 leads, 10% converting, AUC 0.76
    (200, 800, 0.5, (0.935, 0.965)),  # more leads, a weak score (AUC 0.64)
    (15, 135, 1.0, (0.915, 0.965)),   # 15 conversions: Wald undercovers a little
])
def test_interval_covers_the_true_auc_at_its_nominal_rate(m, n, d, band):
    """Coverage of the 95% interval over 2,000 seeded holdouts of binormal scores, against the
    true AUC Phi(d / sqrt 2). The Monte Carlo SE of a 95% rate over 2,000 runs is 0.005, so
    the band is about +-3 SE; with 15 conversions the Wald interval is known to run a little
    below nominal (~0.93), and the band allows that. The standard errors average within 10%
    of the estimates' spread."""
    truth = stats.norm.cdf(d / np.sqrt(2))
    hits, ests, ses = 0, [], []
    for seed in range(2000):
        y, s = _binormal(np.random.default_rng(seed), m, n, d)
        r = auc_interval(y, s)
        hits += r.low <= truth <= r.high
        ests.append(r.estimate)
        ses.append(r.se)
    rate = hits / 2000
    assert band[0] <= rate <= band[1], f"coverage {rate:.3f} with m={m}, n={n}, d={d}"
    assert abs(np.mean(ses) / np.std(ests) - 1) < 0.10
    assert abs(np.mean(ests) - truth) < 0.005  # the AUC is unbiased


@pytest.mark.slow
def test_paired_difference_covers_and_holds_its_false_positive_rate():
    """Two correlated scores (rho 0.6) on the same leads. With the same separation the paired
    test rejects about 5% of 2,000 seeded holdouts; with different separations the 95%
    interval covers the true difference Phi(d1/sqrt2) - Phi(d2/sqrt2) at about 95%; and the
    paired interval is narrower than the two AUCs' own intervals would suggest."""
    cov = np.array([[1.0, 0.6], [0.6, 1.0]])
    m, n = 60, 340
    y = np.repeat([True, False], [m, n])
    for d1, d2 in ((0.8, 0.8), (1.0, 0.6)):
        truth = stats.norm.cdf(d1 / np.sqrt(2)) - stats.norm.cdf(d2 / np.sqrt(2))
        hits = rejections = narrower = 0
        for seed in range(2000):
            z = np.random.default_rng(seed).multivariate_normal([0, 0], cov, size=m + n)
            a = z[:, 0] + np.where(y, d1, 0.0)
            b = z[:, 1] + np.where(y, d2, 0.0)
            r = auc_difference(y, a, b)
            hits += r.low <= truth <= r.high
            rejections += r.p_value < 0.05
            narrower += r.se < np.hypot(r.auc_a.se, r.auc_b.se)
        assert 0.935 <= hits / 2000 <= 0.965, (d1, d2, hits / 2000)
        if d1 == d2:
            assert 0.035 <= rejections / 2000 <= 0.065, rejections / 2000
        assert narrower == 2000


@pytest.mark.parametrize(("args", "match"), [
    (([0, 0, 0], [0.1, 0.2, 0.3]), "no converted lead among the 3"),
    (([1, 1], [0.1, 0.2]), "no unconverted lead"),
    (([0, 1, 2], [0.1, 0.2, 0.3]), r"outcomes among \{0, 1, False, True\}. Got \['2'\]"),
    (([0, 1], [0.1, 0.2, 0.3]), r"one value per outcome \(2\). Got \[3\]"),
    (([0, 1], [0.1, np.nan]), "1 are NaN or infinite"),
])
def test_refusals_name_the_problem(args, match):
    with pytest.raises(ValueError, match=match):
        auc_interval(*args)


def test_alpha_is_checked():
    with pytest.raises(ValueError, match="'alpha' parameter of auc_difference"):
        auc_difference([0, 1], [0, 1], [1, 0], alpha=5)
    r = auc_interval([0, 1, 0, 1, 1], [0.1, 0.9, 0.3, 0.2, 0.8], alpha=0.5)
    assert r.alpha == 0.5 and "50% DeLong" in str(r)
