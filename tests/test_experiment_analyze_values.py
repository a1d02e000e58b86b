"""analyze() on values, ratios and covariates: the wiring of compare_means, compare_ratios and
Lin's adjustment into the one analysis table, its Holm intervals and its decisions."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from nurturelab import experiment as ex

from resultcheck import assert_result_protocol


def _table(seed: int, n: int = 4000, effect: float = 0.0, arms=("a", "b")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(list(arms), n)
    fit = rng.random(n)
    source = rng.choice(["web", "ads", "referral"], n, p=[0.5, 0.3, 0.2])
    p = 0.02 + 0.5 * fit ** 2 + np.where(source == "referral", 0.1, 0.0)
    p = p + effect * (arm != arms[0])
    converted = rng.random(n) < p
    value = np.where(converted, rng.lognormal(6.0, 0.8, n), 0.0)
    touches = rng.poisson(2 + 6 * (1 - fit))
    return pd.DataFrame({"arm": arm, "converted": converted, "fit": fit, "source": source,
                         "value": value, "touches": touches})


def test_each_kind_of_metric_equals_the_function_it_wraps():
    t = _table(1, effect=0.03)
    res = ex.analyze(t, control="a", metrics=["converted"], values=["value"],
                     ratios={"touches_per_conversion": ("touches", "converted")})
    assert res.kinds == {"converted": "proportion", "value": "mean",
                         "touches_per_conversion": "ratio"}
    assert_result_protocol(res, metric="value")
    x = t.groupby("arm")["converted"].agg(["sum", "size"])
    cp = ex.compare_proportions(int(x.loc["a", "sum"]), int(x.loc["a", "size"]),
                                int(x.loc["b", "sum"]), int(x.loc["b", "size"]))
    row = res.summary.loc[("converted", "b")]
    for k in ("diff", "diff_low", "diff_high", "statistic", "p_value"):
        assert row[k] == pytest.approx(cp[k], rel=1e-12), k
    means = ex.compare_means(t["value"], t["arm"], control="a").summary.loc["b"]
    row = res.summary.loc[("value", "b")]
    for k in ("mean", "diff", "diff_low", "diff_high", "statistic", "df", "p_value"):
        assert row[k] == pytest.approx(means[k], rel=1e-12), k
    ratio = ex.compare_ratios(t["touches"], t["converted"], t["arm"],
                              control="a").summary.loc["b"]
    row = res.summary.loc[("touches_per_conversion", "b")]
    for k in ("mean", "diff", "diff_low", "diff_high", "p_value"):
        assert row[k] == pytest.approx(ratio[k], rel=1e-12), k
    sums = t.groupby("arm")[["touches", "converted"]].sum()
    assert row["mean"] == pytest.approx(sums.loc["b", "touches"] / sums.loc["b", "converted"])
    assert "rate or mean" in res.to_text()


def test_covariates_give_lins_estimate_and_keep_the_plain_one_beside_it():
    t = _table(2, effect=0.02)
    res = ex.analyze(t, control="a", metrics=["converted"], values=["value"],
                     covariates=["fit", "source"])
    assert res.covariates == ["fit", "source"]
    for metric in ("converted", "value"):
        lin = ex.adjusted_difference(t[metric].astype(float), t["arm"], t[["fit", "source"]],
                                     control="a").summary.loc["b"]
        row = res.summary.loc[(metric, "b")]
        for k in ("diff", "diff_low", "diff_high", "p_value", "variance_reduction"):
            assert row[k] == pytest.approx(lin[k], rel=1e-12), (metric, k)
        assert row["method"] == "lin_hc2"
    rates = t.groupby("arm")["converted"].mean()
    row = res.summary.loc[("converted", "b")]
    assert row["unadjusted_diff"] == pytest.approx(rates["b"] - rates["a"])
    assert row["rate"] == pytest.approx(rates["b"])  # the rates stay as observed
    assert row["variance_reduction"] > 0.10  # fit and source explain much of conversion
    assert "variance cut" in res.decision_table().columns
    assert "adjusted for fit, source" in res.validity


def test_holm_intervals_of_means_agree_with_significance_across_many_tables():
    disagreements = 0
    for seed in range(40):
        t = _table(seed, n=900, effect=0.03 * (seed % 3), arms=("a", "b", "c", "d"))
        res = ex.analyze(t, control="a", metrics=["converted"], values=["value"],
                         covariates=["fit"] if seed % 2 else None)
        for (_metric, arm), r in res.summary.iterrows():
            if arm == "a":
                continue
            excludes = r["diff_low_holm"] > 0 or r["diff_high_holm"] < 0
            disagreements += excludes != bool(r["significant"])
            assert r["diff_low_holm"] <= r["diff_low"] + 1e-12 or not r["significant"]
    assert disagreements == 0


def test_adjusted_analysis_covers_the_truth_and_holds_its_level():
    """A/A and a true +3 points: Lin's interval through analyze covers the effect and its
    false-positive rate is alpha (binomial bounds), with a narrower interval than the plain
    one. NURTURELAB_STUDY_REPS (default 150) experiments of 3,000 leads each."""
    reps = int(os.environ.get("NURTURELAB_STUDY_REPS", "150"))
    covered = rejected = 0
    reduction = []
    for seed in range(reps):
        t = _table(1000 + seed, n=3000, effect=0.03)
        r = ex.analyze(t, control="a", metrics=["converted"],
                       covariates=["fit", "source"]).summary.loc[("converted", "b")]
        covered += r["diff_low"] <= 0.03 <= r["diff_high"]
        reduction.append(r["variance_reduction"])
        aa = _table(5000 + seed, n=3000)
        rejected += bool(ex.analyze(aa, control="a", metrics=["converted"],
                                    covariates=["fit", "source"]).summary.loc[
                                        ("converted", "b"), "significant"])
    half = 2.58 * np.sqrt(0.05 * 0.95 / reps)
    assert abs(1 - covered / reps - 0.05) < half + 0.01, covered / reps
    assert abs(rejected / reps - 0.05) < half + 0.01, rejected / reps
    assert np.mean(reduction) > 0.10


def test_decisions_on_a_value_metric_use_its_own_threshold():
    t = _table(3, n=6000, effect=0.05)
    res = ex.analyze(t, control="a", metrics=["converted"], values=["value"],
                     threshold={"converted": 0.01, "value": 1_000.0})
    value = res.summary.loc[("value", "b")]
    assert value["diff_high"] < 1_000  # the whole interval is inside ±1,000
    assert value["decision"].startswith(("significant but smaller", "equivalent"))
    assert res.summary.loc[("converted", "b"), "decision"].startswith("better")


@pytest.mark.parametrize("kwargs, message", [
    ({"values": ["converted"]}, "each metric may be named once"),
    ({"ratios": {"r": ("touches",)}}, "must be two column names"),
    ({"ratios": [("touches", "converted")]}, "must map a metric name"),
    ({"values": ["nope"]}, "nope"),
    ({"covariates": ["missing_col"]}, "missing_col"),
])
def test_bad_arguments_are_refused_by_name(kwargs, message):
    t = _table(4, n=200)
    with pytest.raises((ValueError, TypeError, KeyError), match=message):
        ex.analyze(t, control="a", metrics=["converted"], **kwargs)


def test_time_to_conversion_treats_opted_out_and_lost_leads_as_ended_not_censored():
    """With lead_table's `ending`, analyze's time to conversion is the Aalen-Johansen incidence
    of a win (competing.incidence_by_arm), which the naive 1 - KM (opt-outs and losses
    censored when they end) overstates whenever many leads end otherwise."""
    from lifelines import KaplanMeierFitter

    from nurturelab import competing
    from nurturelab.simulation import World, simulate

    run = simulate(World(leads=1200), 3)
    leads = run.leads.assign(arm=np.where(np.arange(len(run.leads)) % 2, "b", "a"))
    table = ex.lead_table(leads, run.events)
    assert (table["ending"] == "lost").mean() > 0.5  # in this world most leads are lost
    res = ex.analyze(table, control="a", metrics=["converted"])
    direct = competing.incidence_by_arm(table, duration_col="ended_days")
    for arm in ("a", "b"):
        row = res.survival.loc[arm]
        at30 = direct.summary.loc[(arm, 30.0)]
        assert row["converted_30d"] == pytest.approx(at30["incidence"])
        assert (row["converted_30d_low"], row["converted_30d_high"]) == pytest.approx(
            (at30["low"], at30["high"]))
        # 1 - KM with the lost and opted-out leads censored when they ended overstates wins
        assert at30["naive"] > 3 * row["converted_30d"]
        # censored only at as_of (lead_table's duration_days), they stay at risk: no less
        part = table[table["arm"] == arm]
        at_as_of = 1 - KaplanMeierFitter().fit(part["duration_days"], part["converted"]) \
            .survival_function_at_times(30).iloc[0]
        assert at_as_of >= row["converted_30d"] - 1e-9
    assert res.logrank_p == pytest.approx(direct.tests.loc["logrank", "p"])
    assert res.incidence is not None and "Aalen-Johansen" in res.to_text()
    assert_result_protocol(res)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert res.plot_survival(ax=ax) is ax
    plt.close(fig)
