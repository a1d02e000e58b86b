"""nurturelab.experiment.segments: effects by segment, the corrections across segments and the
interaction test.

Known answers from statsmodels (the score test and interval, multipletests' Holm and
Benjamini-Hochberg, Logit's log-likelihoods) and from Benjamini & Hochberg (1995); seeded
studies, vectorised over thousands of simulated experiments: the family-wise false-positive rate
with and without a correction, and the interaction test's false-positive rate and power against
theory. Every study's rate is checked against binomial bounds at 99%.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.multitest import multipletests

from nurturelab import experiment as X
from nurturelab.segments import segments as lead_segments

from resultcheck import assert_result_protocol

Z99 = stats.norm.isf(0.005)
REPS = int(os.environ.get("NURTURELAB_STUDY_REPS", "4000"))


def bounds(rate: float, runs: int) -> tuple[float, float]:
    """99% normal bounds for the share of ``runs`` independent trials with success ``rate``."""
    half = Z99 * math.sqrt(rate * (1 - rate) / runs)
    return rate - half, rate + half


def _score_p(x_t, n_t, x_c, n_c):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return sm_proportion.test_proportions_2indep(x_t, n_t, x_c, n_c, method="score",
                                                     compare="diff").pvalue


def _table(cells: dict[tuple[str, str], tuple[int, int]]) -> pd.DataFrame:
    """Lead rows with the given (successes, leads) per (segment, arm), in a shuffled order."""
    parts = []
    for (seg, arm), (x, n) in cells.items():
        parts.append(pd.DataFrame({"source": seg, "arm": arm,
                                   "converted": np.arange(n) < x}))
    t = pd.concat(parts, ignore_index=True)
    return t.sample(frac=1.0, random_state=0).reset_index(drop=True)


CELLS = {("ads", "a"): (30, 400), ("ads", "b"): (52, 410),
         ("referral", "a"): (3, 120), ("referral", "b"): (0, 110),
         ("web", "a"): (45, 600), ("web", "b"): (50, 590),
         ("partner", "a"): (4, 30), ("partner", "b"): (6, 35),
         ("events", "a"): (0, 80), ("events", "b"): (0, 75)}


@pytest.fixture(scope="module")
def effects():
    return X.by_segment(_table(CELLS), control="a", min_leads=50)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, match", [
    ({"correction": "bonferroni"}, ValueError,
     r"by_segment 'correction' must be one of \['holm', 'bh'\]. Got 'bonferroni'"),
    ({"alpha": 5}, ValueError, r"by_segment 'alpha' must be a number strictly between 0 and 1"),
    ({"min_leads": 0}, ValueError, r"by_segment 'min_leads' must be a whole number >= 1"),
    ({"segment": "industry"}, KeyError, r"lacks the column\(s\) \['industry'\]"),
    ({"segment": 3}, ValueError, r"by_segment 'segment' must be a column name"),
    ({"control": "z"}, ValueError, r"'control' must be one of the arms \['a', 'b'\]. Got 'z'"),
])
def test_by_segment_refuses_bad_arguments(kwargs, error, match):
    args = {"control": "a", **kwargs}
    with pytest.raises(error, match=match):
        X.by_segment(_table(CELLS), **args)


def test_interaction_test_refuses_bad_shapes_and_counts():
    with pytest.raises(ValueError, match=r"same shape \(\.\.\., n_segments, 2\)"):
        X.interaction_test([[1, 2, 3]], [[5, 5, 5]])
    with pytest.raises(ValueError, match="0 <= successes <= leads"):
        X.interaction_test([[6, 1], [1, 1]], [[5, 5], [5, 5]])
    with pytest.raises(ValueError, match="benjamini_hochberg 'p_values' must be numbers"):
        X.benjamini_hochberg([0.2, 1.5])


def test_rows_without_a_segment_are_left_out_with_a_warning():
    t = _table(CELLS)
    t.loc[:9, "source"] = None
    with pytest.warns(UserWarning, match="10 rows have no arm or no"):
        res = X.by_segment(t, control="a")
    assert res.table[["n_control", "n_arm"]].to_numpy().sum() == len(t) - 10


# --------------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------------
def test_counts_p_values_and_intervals_are_the_score_test_and_its_interval(effects):
    # the p-value of no difference is statsmodels' score test (its restricted estimate is right
    # at 0); the interval is compare_proportions' inversion of it (statsmodels' own score
    # interval for a difference is off: its issue 10269, see tests/test_experiment_stats.py)
    t = effects.table.xs("b", level="arm")
    for seg in ("ads", "web", "referral"):
        (x_c, n_c), (x_t, n_t) = CELLS[(seg, "a")], CELLS[(seg, "b")]
        r = t.loc[seg]
        assert (r["n_control"], r["n_arm"]) == (n_c, n_t)
        assert r["diff"] == pytest.approx(x_t / n_t - x_c / n_c, abs=1e-15)
        assert r["p_value"] == pytest.approx(_score_p(x_t, n_t, x_c, n_c), rel=1e-12)
        lo, hi = X.score_interval(x_c, n_c, x_t, n_t)
        assert (r["diff_low"], r["diff_high"]) == pytest.approx((lo, hi), abs=1e-12)
        assert r["diff_low"] < r["diff"] < r["diff_high"]


def test_significant_before_correction_exactly_when_the_interval_leaves_out_zero():
    rng = np.random.default_rng(11)
    cells = {}
    for k in range(60):
        n_c, n_t = (int(v) for v in rng.integers(50, 300, 2))
        cells[(f"s{k:02d}", "a")] = (int(rng.binomial(n_c, 0.08)), n_c)
        cells[(f"s{k:02d}", "b")] = (int(rng.binomial(n_t, rng.uniform(0.02, 0.2))), n_t)
    res = X.by_segment(_table(cells), control="a")
    judged = res.table[res.table["judged"]]
    assert len(judged) > 50
    excludes = (judged["diff_low"] > 0) | (judged["diff_high"] < 0)
    assert ((judged["p_value"] < 0.05) == excludes).all()


def test_too_small_and_uninformative_segments_are_named_and_left_out_of_the_family(effects):
    t = effects.table
    assert effects.too_small == ["partner"]
    assert "too small: 30 and 35 leads" in t.loc[("partner", "b"), "note"]
    assert t.loc[("events", "b"), "note"].startswith("no variation")
    assert t["judged"].tolist() == [True, False, False, True, True]  # sorted segment order
    judged = t[t["judged"]]
    assert judged["p_adjusted"].to_numpy() == pytest.approx(
        multipletests(judged["p_value"], method="holm")[1], rel=1e-12)
    assert t.loc[~t["judged"], "p_adjusted"].isna().all()
    assert t["significant"].isna().tolist() == [False, True, True, False, False]
    assert "partner" in effects.to_text()


def test_bh_adjustment_is_multipletests_fdr_bh_with_nan_left_out():
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 0.2, 25) ** 2
    p[[3, 17]] = np.nan
    got = X.benjamini_hochberg(p)
    finite = ~np.isnan(p)
    assert np.isnan(got[~finite]).all()
    assert got[finite] == pytest.approx(multipletests(p[finite], method="fdr_bh")[1], rel=1e-12)
    res = X.by_segment(_table(CELLS), control="a", correction="bh")
    judged = res.table[res.table["judged"]]
    assert judged["p_adjusted"].to_numpy() == pytest.approx(
        multipletests(judged["p_value"], method="fdr_bh")[1], rel=1e-12)


def test_bh_rejects_what_benjamini_and_hochberg_1995_reject_in_their_example():
    # Benjamini & Hochberg (1995), JRSS B 57:289, section 4.1: the 15 p-values of a
    # multiple-endpoint study; at q = 0.05 the procedure rejects the four smallest
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240,
         0.4262, 0.5719, 0.6528, 0.7590, 1.0000]
    assert (X.benjamini_hochberg(p) < 0.05).tolist() == [True] * 4 + [False] * 11
    assert (X.holm(p) < 0.05).tolist() == [True] * 3 + [False] * 12  # Bonferroni-Holm: three


def _lead_level(x, n):
    """Lead-level arrays (y, segment index, treated) of a (S, 2) table of counts."""
    y, seg, arm = [], [], []
    for s in range(x.shape[0]):
        for j in range(2):
            y += [1.0] * int(x[s, j]) + [0.0] * int(n[s, j] - x[s, j])
            seg += [s] * int(n[s, j])
            arm += [j] * int(n[s, j])
    return np.array(y), np.array(seg), np.array(arm, dtype=float)


def _statsmodels_lr(x, n):
    """2 (llf_full - llf_reduced) of statsmodels' Logit with and without the interaction."""
    y, seg, arm = _lead_level(x, n)
    dummies = (seg[:, None] == np.arange(x.shape[0])[None, :]).astype(float)
    reduced = np.column_stack([dummies, arm])
    full = np.column_stack([dummies, dummies[:, 1:] * arm[:, None], arm])
    llf_r = sm.Logit(y, reduced).fit(disp=0, method="newton", tol=1e-12).llf
    llf_f = sm.Logit(y, full).fit(disp=0, method="newton", tol=1e-12).llf
    return 2 * (llf_f - llf_r)


def test_interaction_statistic_is_statsmodels_logit_likelihood_ratio():
    x = np.array([[20, 40], [30, 31], [12, 30], [50, 48]])
    n = np.array([[400, 400], [400, 380], [300, 310], [500, 520]])
    got = X.interaction_test(x, n)
    lr = _statsmodels_lr(x, n)
    assert got["statistic"] == pytest.approx(lr, rel=1e-8)
    assert got["df"] == 3 and got["segments"] == 4
    assert got["p_value"] == pytest.approx(stats.chi2.sf(lr, 3), rel=1e-8)
    # a segment with no success in either arm is dropped (one df fewer); a zero cell is kept
    x0 = np.vstack([x, [0, 0]])
    n0 = np.vstack([n, [90, 95]])
    assert X.interaction_test(x0, n0)["statistic"] == pytest.approx(lr, rel=1e-8)
    assert X.interaction_test(x0, n0)["df"] == 3
    xz = np.array([[20, 40], [3, 0], [12, 30]])
    nz = np.array([[400, 400], [100, 110], [300, 310]])
    assert X.interaction_test(xz, nz)["statistic"] == pytest.approx(
        _statsmodels_lr(xz[[0, 2]], nz[[0, 2]]) + _zero_cell_part(xz, nz), rel=1e-6)


def _zero_cell_part(x, n):
    """The LR statistic minus that of the table without its zero-cell segment, from statsmodels'
    GLM on the aggregated table (binomial counts), which handles the zero cell."""
    def llr(xx, nn):
        s = xx.shape[0]
        rows = [(i, j) for i in range(s) for j in range(2)]
        endog = np.array([[xx[i, j], nn[i, j] - xx[i, j]] for i, j in rows], dtype=float)
        dummies = np.array([[1.0 * (i == k) for k in range(s)] for i, _ in rows])
        arm = np.array([float(j) for _, j in rows])
        fam = sm.families.Binomial()
        red = sm.GLM(endog, np.column_stack([dummies, arm]), family=fam).fit(tol=1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = endog[:, 0] / endog.sum(1)
            sat = np.nansum(endog[:, 0] * np.log(p)) + np.nansum(endog[:, 1] * np.log1p(-p))
        comb = sum(math.lgamma(a + b + 1) - math.lgamma(a + 1) - math.lgamma(b + 1)
                   for a, b in endog)
        return 2 * (sat + comb - red.llf)
    return llr(x, n) - llr(x[[0, 2]], n[[0, 2]])


def test_interaction_test_vectorised_equals_one_table_at_a_time():
    rng = np.random.default_rng(2)
    n = rng.integers(50, 400, size=(30, 5, 2))
    x = rng.binomial(n, 0.1)
    many = X.interaction_test(x, n)
    for k in range(30):
        one = X.interaction_test(x[k], n[k])
        assert one["statistic"] == pytest.approx(many["statistic"][k], rel=1e-10)
        assert one["df"] == many["df"][k]


def test_by_segment_interaction_row_is_the_test_of_the_judged_segments(effects):
    judged = ["ads", "referral", "web"]
    x = np.array([[CELLS[(s, "a")][0], CELLS[(s, "b")][0]] for s in judged])
    n = np.array([[CELLS[(s, "a")][1], CELLS[(s, "b")][1]] for s in judged])
    r = effects.interaction.loc["b"]
    assert r["statistic"] == pytest.approx(X.interaction_test(x, n)["statistic"], rel=1e-12)
    assert r["df"] == 2 and r["segments"] == 3


def test_segments_of_the_segments_module_several_columns_and_arms():
    rng = np.random.default_rng(8)
    m = 6000
    leads = pd.DataFrame({"lead_id": [f"l{i}" for i in range(m)],
                          "source": rng.choice(["ads", "web"], m),
                          "intent": rng.choice(["low", "medium", "high"], m),
                          "fit": rng.uniform(0, 1, m)})
    seg = lead_segments(leads)
    table = seg.assign(arm=rng.choice(["a", "b", "c"], m),
                       converted=rng.random(m) < 0.1)
    res = X.by_segment(table, control="a", segment="intent")
    # the categorical's order (low, medium, high) is kept; unknown has no lead and is absent
    assert list(res.table.index.get_level_values("segment").unique()) == ["low", "medium",
                                                                           "high"]
    assert res.table.shape[0] == 6 and res.interaction.index.tolist() == ["b", "c"]
    assert res.table["p_adjusted"].to_numpy() == pytest.approx(
        multipletests(res.table["p_value"], method="holm")[1], rel=1e-12)  # one family of 6
    two = X.by_segment(table, control="a", segment=["intent", "fit_band"])
    assert "high · low" in two.table.index.get_level_values("segment")
    assert two.segment == "intent x fit_band"
    assert_result_protocol(two)


def test_result_protocol(effects):
    assert_result_protocol(effects)
    text = effects.to_text()
    assert "Interaction ('b' x source: is the odds ratio the same in every segment?" in text
    assert repr(effects).startswith("<SegmentEffects: converted by source: 5 segments")


# --------------------------------------------------------------------------------------------
# Studies
# --------------------------------------------------------------------------------------------
def _score_p_many(x_t, n_t, x_c, n_c):
    """The score test's p-value of every experiment at once (statsmodels, vectorised), the
    test by_segment runs per row (checked equal above)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return sm_proportion.test_proportions_2indep(x_t, n_t, x_c, n_c, method="score",
                                                     compare="diff").pvalue


def test_study_family_wise_false_positives_with_and_without_correction():
    # no effect in any of 6 segments (different sizes and baselines): the chance that some
    # segment looks significant is about 1 - 0.95**6 = 0.26 without correction; Holm keeps it
    # at most alpha, and so does Benjamini-Hochberg here (with every null true, FDR = FWER)
    rng = np.random.default_rng(20260515)
    base = np.array([0.04, 0.06, 0.08, 0.10, 0.12, 0.15])
    n = np.array([300, 400, 500, 600, 700, 800])
    x_c = rng.binomial(n, base, size=(REPS, 6))
    x_t = rng.binomial(n, base, size=(REPS, 6))
    p = _score_p_many(x_t, n, x_c, n)
    per_test = float((p < 0.05).mean())
    naive = float((p < 0.05).any(1).mean())
    holm_any = float(np.mean([(X.holm(r) < 0.05).any() for r in p]))
    bh_any = float(np.mean([(X.benjamini_hochberg(r) < 0.05).any() for r in p]))
    lo, hi = bounds(0.05, REPS * 6)
    assert lo - 0.005 < per_test < hi  # the score test itself holds its level (slightly under)
    assert naive > bounds(0.05, REPS)[1] + 0.1  # about 0.26: well above alpha
    assert holm_any < bounds(0.05, REPS)[1]
    assert bh_any < bounds(0.05, REPS)[1]
    assert holm_any <= bh_any


def test_study_interaction_false_positive_rate_when_the_odds_ratio_is_the_same():
    rng = np.random.default_rng(4)
    base = np.array([0.05, 0.10, 0.15, 0.20])
    odds = 1.3
    treated = base * odds / (1 - base + base * odds)
    n = np.full((REPS, 4, 2), 400)
    x = np.stack([rng.binomial(400, base, (REPS, 4)), rng.binomial(400, treated, (REPS, 4))], -1)
    rate = float((X.interaction_test(x, n)["p_value"] < 0.05).mean())
    lo, hi = bounds(0.05, REPS)
    assert lo < rate < hi + 0.005  # 0.005 for the chi-square approximation (0.053 at 40,000)


def test_study_interaction_power_when_one_segment_differs_agrees_with_theory():
    # one segment's effect is 8 points, the others' 0: the rejection rate against the
    # noncentral chi-square power (noncentrality = the statistic of the expected table)
    rng = np.random.default_rng(6)
    base = np.array([0.05, 0.10, 0.15, 0.20])
    treated = base + np.array([0, 0, 0, 0.08])
    m = 600
    n = np.full((REPS, 4, 2), m)
    x = np.stack([rng.binomial(m, base, (REPS, 4)), rng.binomial(m, treated, (REPS, 4))], -1)
    rate = float((X.interaction_test(x, n)["p_value"] < 0.05).mean())
    lam = X.interaction_test(np.stack([base * m, treated * m], -1), np.full((4, 2), m))
    theory = stats.ncx2.sf(stats.chi2.isf(0.05, 3), 3, lam["statistic"])
    lo, hi = bounds(theory, REPS)
    assert lo - 0.02 < rate < hi + 0.02  # 0.02 for the approximation itself
    assert rate > 0.4
