"""Survival models of time to convert: agreement with lifelines on its published examples,
exact intervals on tiny worlds, recovery of known effects on simulated leads, and the Olist
funnel (skipped where the public data is absent)."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from lifelines import (  # noqa: E402
    CoxPHFitter,
    CoxTimeVaryingFitter,
    KaplanMeierFitter,
)
from lifelines.datasets import (  # noqa: E402
    load_rossi,
    load_stanford_heart_transplants,
    load_waltons,
)
from lifelines.statistics import (  # noqa: E402
    multivariate_logrank_test,
    proportional_hazard_test,
)

from nurturelab import synthetic  # noqa: E402
from nurturelab.olist import DEALS_FILE, MQL_FILE, load_olist  # noqa: E402
from nurturelab.paths import shared_data_dir  # noqa: E402
from nurturelab.schema import validate_events, validate_leads  # noqa: E402
from nurturelab.scoring.survival import (  # noqa: E402
    CoxModel,
    CureModel,
    DecayResult,
    KMResult,
    TimeVaryingCox,
    behaviour_intervals,
    km_by,
    score_decay,
    survival_table,
)

from resultcheck import assert_result_protocol  # noqa: E402

OLIST = shared_data_dir() / "olist"
needs_olist = pytest.mark.skipif(
    not ((OLIST / MQL_FILE).is_file() and (OLIST / DEALS_FILE).is_file()),
    reason=f"the public Olist data is not present at {OLIST} (set NURTURELAB_SHARED_DATA)",
)
T0 = pd.Timestamp("2026-01-01", tz="UTC")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sample():
    return synthetic.make_export(n_leads=1500, seed=5)


@pytest.fixture(scope="module")
def table(sample):
    leads, events = sample
    return survival_table(leads, events, covariates=["source", "fit", "intent"])


# --------------------------------------------------------------------------------------------
# survival_table
# --------------------------------------------------------------------------------------------
def test_survival_table_columns_and_values(sample, table):
    leads, events = sample
    assert list(table.columns) == ["created_at", "duration_days", "converted", "source", "fit",
                                   "intent"]
    assert table.index.name == "lead_id" and len(table) == len(leads)
    won = events.loc[events["name"].eq("won")].groupby("lead_id")["ts"].min()
    assert set(table.index[table["converted"]]) == set(won.index)
    lid = won.index[0]
    expect = (won[lid] - table.loc[lid, "created_at"]) / pd.Timedelta(days=1)
    assert table.loc[lid, "duration_days"] == pytest.approx(expect)
    every = survival_table(leads, events)
    assert {"industry", "persona", "source"} <= set(every.columns)
    with pytest.raises(KeyError, match=r"lacks the column\(s\) \['nope'\]"):
        survival_table(leads, events, covariates=["nope"])


def test_survival_table_carries_the_experiment_arm():
    leads = validate_leads(pd.DataFrame({"lead_id": ["a", "b"], "created_at": [T0, T0],
                                         "source": ["web", "web"]}))
    events = validate_events(pd.DataFrame({
        "lead_id": ["a", "b", "a"], "ts": [T0 + pd.Timedelta(days=d) for d in (1, 1, 3)],
        "type": ["touch", "touch", "stage"], "name": ["sms", "sms", "won"],
        "arm": ["treatment", "control", None]}), leads)
    t = survival_table(leads, events)
    assert t["arm"].tolist() == ["treatment", "control"]
    assert t["converted"].tolist() == [True, False]
    assert t["duration_days"].tolist() == [3.0, 3.0]  # b censored at the latest timestamp


# --------------------------------------------------------------------------------------------
# Kaplan-Meier: lifelines' waltons example
# --------------------------------------------------------------------------------------------
def test_km_by_agrees_with_kaplan_meier_fitter_on_waltons():
    w = load_waltons()
    km = km_by(w, "group", duration_col="T", event_col="E", at=(30, 60))
    assert isinstance(km, KMResult)
    for g, d in w.groupby("group"):
        kmf = KaplanMeierFitter().fit(d["T"], d["E"])
        row = km.summary.loc[g]
        assert row["n"] == len(d) and row["events"] == d["E"].sum()
        assert row["median_days"] == kmf.median_survival_time_
        for t in (30, 60):
            assert row[f"conv_{t}d"] == pytest.approx(1 - kmf.survival_function_at_times(t).iloc[0])
            assert row[f"conv_{t}d_low"] <= row[f"conv_{t}d"] <= row[f"conv_{t}d_high"]
    # lifelines' documented medians: control 58 days, miR-137 26 days
    assert km.summary["median_days"].to_dict() == {"control": 58.0, "miR-137": 26.0}
    assert km.summary.loc["miR-137", ["median_ci_low", "median_ci_high"]].tolist() == [19, 29]
    direct = multivariate_logrank_test(w["T"], w["group"], w["E"])
    assert km.p_value_ == pytest.approx(direct.p_value) and km.p_value_ < 1e-20
    assert repr(km).startswith("<KMResult: group='group': 2 groups, 163 leads")
    ax = km.plot()
    assert ax.get_ylabel() == "P(converted)" and len(ax.get_lines()) >= 2
    assert_result_protocol(km)


def test_km_by_reports_nan_past_follow_up_and_keeps_missing_groups():
    t = pd.DataFrame({"d": [5.0, 10, 20, 3, 4], "e": [1, 0, 1, 1, 0],
                      "g": ["a", "a", "a", None, None]})
    km = km_by(t, "g", duration_col="d", event_col="e", at=(8, 30))
    assert list(km.summary.index) == ["a", "(missing)"]
    assert km.summary.loc["a", "conv_8d"] == pytest.approx(1 / 3)
    assert km.summary.loc["a", "conv_30d"] == 1.0  # the curve reached 0: known past follow-up
    assert np.isnan(km.summary.loc["(missing)", "conv_30d"])  # censored at 4: unknown
    with pytest.raises(KeyError, match=r"table lacks the column\(s\) \['source'\]"):
        km_by(t, "source")
    with pytest.raises(ValueError, match="'at' must be positive numbers of days"):
        km_by(t, "g", duration_col="d", event_col="e", at=(0,))


# --------------------------------------------------------------------------------------------
# Cox: lifelines' rossi example
# --------------------------------------------------------------------------------------------
ROSSI_DOCUMENTED = {"fin": -0.3794, "age": -0.0574, "race": 0.3139, "wexp": -0.1498,
                    "mar": -0.4337, "paro": -0.0849, "prio": 0.0915}


def test_cox_matches_lifelines_documented_rossi_fit():
    rossi = load_rossi()
    cox = CoxModel().fit(rossi, "week", "arrest")
    direct = CoxPHFitter().fit(rossi, "week", "arrest")
    for name, coef in ROSSI_DOCUMENTED.items():
        assert cox.summary.loc[name, "coef"] == pytest.approx(coef, abs=5e-4)
    pd.testing.assert_series_equal(cox.summary["coef"].sort_index(),
                                   direct.summary["coef"].sort_index(), rtol=1e-6)
    pd.testing.assert_series_equal(cox.summary["se(coef)"].sort_index(),
                                   direct.summary["se(coef)"].sort_index(), rtol=1e-6)
    # the PH check is lifelines' own test; age and wexp break the assumption, as its docs say
    ph = proportional_hazard_test(direct, rossi, time_transform="rank").summary
    assert cox.ph_check["p"].sort_index().to_numpy() == pytest.approx(
        ph["p"].sort_index().to_numpy(), rel=1e-6)
    assert set(cox.ph_check.index[cox.ph_check["violated"]]) == {"age", "wexp"}
    # P(convert within t) = 1 - S(t | x)
    p = cox.predict_conversion(rossi.head(5), days=(10, 26, 52))
    direct_p = 1 - direct.predict_survival_function(rossi.head(5), times=[10, 26, 52]).T
    np.testing.assert_allclose(p.to_numpy(), direct_p.to_numpy(), rtol=1e-8)
    assert list(p.columns) == ["p_10d", "p_26d", "p_52d"]
    assert repr(cox).startswith("<CoxModel: penalizer=0.0, fitted on 432 rows, 114 events")
    assert "concordance 0.640" in repr(cox) and "['age', 'wexp']" in repr(cox)
    assert cox.plot() is not None
    assert_result_protocol(cox)
    text = cox.to_text()
    assert text.startswith(repr(cox)) and "proportional hazards check" in text
    coefs, ph_text = text.split("proportional hazards check")
    assert re.search(r"\nprio\s+0\.091\s+1\.096", coefs)  # coef and hazard ratio
    assert re.search(r"\nage\s+11\.453\s+0\.001\s+True", ph_text)


def test_cox_with_categories_predicts_monotone_conversion(table):
    data = table.dropna(subset=["fit", "intent"])
    cox = CoxModel(penalizer=0.01).fit(data, covariates=["source", "fit", "intent"])
    assert cox.formula_ == "C(source) + fit + C(intent)"
    assert {"fit", "C(intent)[T.high]"} <= set(cox.summary.index)
    assert cox.summary.loc["C(intent)[T.high]", "coef"] > 0  # high intent converts faster
    p = cox.predict_conversion(data.head(50))
    assert list(p.columns) == ["p_30d", "p_60d", "p_90d"]
    diffs = np.diff(p.to_numpy(), axis=1)
    assert (diffs >= 0).all() and ((p >= 0) & (p <= 1)).all().all()
    # the same fit through a formula
    by_formula = CoxModel(penalizer=0.01).fit(data, formula="C(source) + fit + C(intent)")
    np.testing.assert_allclose(by_formula.summary["coef"], cox.summary["coef"], rtol=1e-8)


def test_cox_messages(table):
    with pytest.raises(ValueError, match=r"missing values in \{'fit': \d+, 'intent': \d+\}.*"
                                         r"dropna\(subset="):
        CoxModel().fit(table, covariates=["source", "fit", "intent"])
    with pytest.raises(TypeError, match=r"\['created_at'\] hold timestamps"):
        CoxModel().fit(table.dropna())
    with pytest.raises(ValueError, match="'penalizer' parameter of CoxModel must be a number "
                                         ">= 0. Got -1 instead"):
        CoxModel(penalizer=-1).fit(table, covariates=["source"])
    cox = CoxModel().fit(table, covariates=["source"])
    new = table.head(2).assign(source=["fax", "web_form"])
    with pytest.raises(ValueError, match=r"column 'source' has values not seen in fitting: "
                                         r"\['fax'\]"):
        cox.predict_conversion(new)
    with pytest.raises(AttributeError, match="not fitted yet"):
        _ = CoxModel().summary
    assert repr(CoxModel(penalizer=0.1)) == "<CoxModel: penalizer=0.1, not fitted>"


# --------------------------------------------------------------------------------------------
# time-varying Cox: lifelines' Stanford heart transplant example
# --------------------------------------------------------------------------------------------
def test_time_varying_cox_matches_lifelines_on_stanford():
    heart = load_stanford_heart_transplants()
    tv = TimeVaryingCox().fit(heart, id_col="id")
    direct = CoxTimeVaryingFitter().fit(heart, id_col="id", event_col="event",
                                        start_col="start", stop_col="stop")
    np.testing.assert_allclose(tv.summary["coef"], direct.summary["coef"], rtol=1e-8)
    np.testing.assert_allclose(tv.summary["se(coef)"], direct.summary["se(coef)"], rtol=1e-8)
    # lifelines' documented values: age 0.03, year -0.15, surgery -0.64, transplant -0.01
    documented = {"age": 0.0272, "year": -0.1463, "surgery": -0.6372, "transplant": -0.0103}
    for name, coef in documented.items():
        assert tv.summary.loc[name, "coef"] == pytest.approx(coef, abs=5e-4)
    assert tv.covariates_ == ["age", "year", "surgery", "transplant"]
    assert repr(tv).startswith("<TimeVaryingCox: penalizer=0.0, fitted on 103 subjects "
                               "(172 intervals), 75 events")
    assert tv.plot() is not None
    assert_result_protocol(tv)
    assert repr(TimeVaryingCox()) == "<TimeVaryingCox: penalizer=0.0, not fitted>"


# --------------------------------------------------------------------------------------------
# behaviour_intervals: exact rows of a tiny world
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    day = pd.Timedelta(days=1)
    leads = validate_leads(pd.DataFrame({"lead_id": ["a", "b", "c"],
                                         "created_at": [T0, T0 + day, T0 + 9 * day],
                                         "source": ["web", "ads", "web"]}))
    rows = [
        ("a", 1, "activity", "email_open"), ("a", 1, "activity", "link_click"),
        ("a", 1, "touch", "sms"),                      # not a behaviour
        ("a", 3, "activity", "email_open"), ("a", 5, "stage", "won"),
        ("a", 6, "activity", "pricing_visit"),         # after conversion: ignored
        ("b", 1, "activity", "email_open"),            # at creation: counts from the start
        ("b", 4, "activity", "pricing_visit"),
        ("c", 10, "activity", "email_open"),           # at as_of: ignored
    ]
    events = validate_events(pd.DataFrame(
        [(lid, T0 + d * day, ty, nm) for lid, d, ty, nm in rows],
        columns=["lead_id", "ts", "type", "name"]), leads)
    return leads, events, T0 + 10 * day


def test_behaviour_intervals_exact_rows(tiny):
    leads, events, as_of = tiny
    long = behaviour_intervals(leads, events, as_of=as_of)
    expect = pd.DataFrame(
        [["a", 0.0, 1.0, 0, 0, 0, 0, 0],
         ["a", 1.0, 3.0, 0, 1, 1, 0, 0],
         ["a", 3.0, 5.0, 1, 2, 1, 0, 0],
         ["b", 0.0, 3.0, 0, 1, 0, 0, 0],
         ["b", 3.0, 9.0, 0, 1, 0, 1, 0],
         ["c", 0.0, 1.0, 0, 0, 0, 0, 0]],
        columns=["lead_id", "start", "stop", "event", "email_open", "link_click",
                 "pricing_visit", "demo_request"])
    pd.testing.assert_frame_equal(long, expect)


def test_behaviour_intervals_every_adds_days_since_engaged(tiny):
    leads, events, as_of = tiny
    long = behaviour_intervals(leads, events, names=["email_open", "pricing_visit"],
                               as_of=as_of, every=2)
    got = long[long["lead_id"].eq("a")]
    assert got[["start", "stop", "event", "email_open"]].values.tolist() == [
        [0, 1, 0, 0], [1, 2, 0, 1], [2, 3, 0, 1], [3, 4, 0, 2], [4, 5, 1, 2]]
    assert got["days_since_engaged"].tolist() == [0, 0, 1, 0, 1]
    b = long[long["lead_id"].eq("b")]
    assert b["start"].tolist() == [0, 2, 3, 4, 6, 8]
    assert b["days_since_engaged"].tolist() == [0, 2, 0, 1, 3, 5]
    with pytest.raises(ValueError, match="'every' must be a positive number of days"):
        behaviour_intervals(leads, events, every=0)
    with pytest.raises(TypeError, match=r"write \('email_open',\)"):
        behaviour_intervals(leads, events, names="email_open")


# --------------------------------------------------------------------------------------------
# score decay: recover a known hazard ratio per week of silence
# --------------------------------------------------------------------------------------------
def _decay_world(n=800, days=90, h0=0.03, beta=-0.1, q=0.1, seed=11):
    """Leads engage at the start of a day with probability q; the conversion hazard through a
    day is h0 * exp(beta * days since the last engagement (creation counts))."""
    rng_eng, rng_conv, rng_at = (np.random.default_rng(s)
                                 for s in np.random.SeedSequence(seed).spawn(3))
    eng = rng_eng.random((n, days)) < q
    eng[:, 0] = False
    last = np.maximum.accumulate(np.where(eng, np.arange(days), 0), axis=1)
    hazard = h0 * np.exp(beta * (np.arange(days) - last))
    hit = rng_conv.random((n, days)) < 1 - np.exp(-hazard)
    conv_day = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    h = hazard[np.arange(n), np.maximum(conv_day, 0)]
    within = -np.log(1 - rng_at.random(n) * (1 - np.exp(-h))) / h  # truncated exponential
    ids = np.array([f"L{i:04d}" for i in range(n)])
    leads = validate_leads(pd.DataFrame({"lead_id": ids, "created_at": T0, "source": "web"}))
    li, di = np.nonzero(eng)
    alive = (conv_day[li] < 0) | (di <= conv_day[li])
    won = conv_day >= 0
    events = pd.concat([
        pd.DataFrame({"lead_id": ids[li[alive]], "type": "activity", "name": "email_open",
                      "ts": T0 + pd.to_timedelta(di[alive], unit="D")}),
        pd.DataFrame({"lead_id": ids[won], "type": "stage", "name": "won",
                      "ts": T0 + pd.to_timedelta(conv_day[won] + within[won], unit="D")}),
    ], ignore_index=True)
    return leads, validate_events(events, leads), T0 + pd.Timedelta(days=days)


def test_score_decay_recovers_the_hazard_ratio_per_week():
    leads, events, as_of = _decay_world()
    long = behaviour_intervals(leads, events, names=["email_open"], as_of=as_of, every=1)
    decay = score_decay(long)
    assert isinstance(decay, DecayResult)
    row = decay.summary.loc["days_since_engaged"]
    true_hr = np.exp(7 * -0.1)  # 0.497
    assert row["ci_low"] <= true_hr <= row["ci_high"]
    assert row["hazard_ratio_per_week"] == pytest.approx(0.479, abs=0.001)
    assert row["half_life_weeks"] == pytest.approx(np.log(0.5) / np.log(row[
        "hazard_ratio_per_week"]))
    assert repr(decay).startswith("<DecayResult: hazard ratio per week of silence 0.479 "
                                  "[95% CI ")
    assert_result_protocol(decay)
    # from a fitted model, the same numbers
    tv = TimeVaryingCox().fit(long)
    pd.testing.assert_frame_equal(score_decay(tv).summary, decay.summary)
    assert decay.plot() is not None


def test_score_decay_messages(tiny):
    leads, events, as_of = tiny
    long = behaviour_intervals(leads, events, as_of=as_of)
    with pytest.raises(KeyError, match=r"lacks 'days_since_engaged'.*every=7"):
        score_decay(long)
    flat = long.assign(days_since_engaged=0.0)
    with pytest.raises(ValueError, match=r"\['demo_request', 'days_since_engaged'\] "
                                         r"never vary.*every=7"):
        TimeVaryingCox().fit(flat)
    small_leads, small_events, _ = _decay_world(n=200)
    tv = TimeVaryingCox().fit(behaviour_intervals(small_leads, small_events,
                                                  names=["email_open"]))
    with pytest.raises(ValueError, match="lack 'days_since_engaged'"):
        score_decay(tv)


# --------------------------------------------------------------------------------------------
# cure model: recover a known never-convert share
# --------------------------------------------------------------------------------------------
def _cure_world(n=4000, cured=0.8, seed=3):
    rng_cure, rng_time, rng_cens = (np.random.default_rng(s)
                                    for s in np.random.SeedSequence(seed).spawn(3))
    never = rng_cure.random(n) < cured
    t = np.where(never, np.inf, 30 * rng_time.weibull(1.5, n))
    follow_up = rng_cens.uniform(60, 365, n)
    return pd.DataFrame({"duration_days": np.minimum(t, follow_up),
                         "converted": t <= follow_up})


def test_cure_model_recovers_the_cured_fraction_within_its_ci():
    data = _cure_world()
    cure = CureModel().fit(data)
    lo, hi = cure.cured_fraction_ci_
    assert lo < 0.8 < hi and hi - lo < 0.03
    assert cure.cured_fraction_ == pytest.approx(0.8, abs=0.015)
    s = cure.summary
    assert s.loc["lambda_", "ci_low"] < 30 < s.loc["lambda_", "ci_high"]
    assert s.loc["rho_", "ci_low"] < 1.5 < s.loc["rho_", "ci_high"]
    assert s.loc["susceptible_fraction", "estimate"] == pytest.approx(1 - cure.cured_fraction_)
    p = cure.predict_conversion(days=(30, 60, 90, 400))
    assert (np.diff(p["p_overall"]) > 0).all() and (np.diff(p["p_susceptible"]) > 0).all()
    np.testing.assert_allclose(p["p_overall"], (1 - cure.cured_fraction_) * p["p_susceptible"])
    np.testing.assert_allclose(p["p_overall"],
                               cure.fitter_.cumulative_density_at_times([30, 60, 90, 400]),
                               rtol=1e-10)
    assert ((p["p_overall_low"] < p["p_overall"]) & (p["p_overall"] < p["p_overall_high"])).all()
    assert p["beyond_follow_up"].tolist() == [False, False, False, True]
    assert repr(cure).startswith("<CureModel: Weibull mixture fitted on 4,000 rows")
    assert cure.plot() is not None
    assert_result_protocol(cure)
    assert "P(convert within t)" in cure.to_text()
    assert repr(CureModel()) == "<CureModel: Weibull mixture, alpha=0.05, not fitted>"


def test_cure_model_messages():
    data = _cure_world(n=50)
    with pytest.raises(ValueError, match=r"1 durations of 0.*clip\(lower=1e-3\)"):
        CureModel().fit(data.assign(duration_days=np.r_[0.0, data["duration_days"][1:]]))
    with pytest.raises(ValueError, match="'alpha' parameter of CureModel must be a float in "
                                         r"\(0, 1\). Got 2 instead"):
        CureModel(alpha=2).fit(data)
    with pytest.raises(ValueError, match="'converted' must be boolean or 0/1"):
        CureModel().fit(data.assign(converted=2))


def test_on_the_synthetic_export(table):
    km = km_by(table, "source")
    assert km.summary["n"].sum() == len(table)
    cure = CureModel().fit(table)
    naive = 1 - table["converted"].mean()
    assert cure.cured_fraction_ <= naive  # censoring: some of the open leads will convert


# --------------------------------------------------------------------------------------------
# the Olist funnel
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def olist_table():
    exp = load_olist()
    return survival_table(exp.leads, exp.events, covariates=["source", "business_segment"])


@needs_olist
def test_olist_time_to_win_by_source(olist_table):
    km = km_by(olist_table, "source", at=(30, 90, 365))
    s = km.summary
    assert s["n"].sum() == 8000 and s["events"].sum() == 841  # the refused deal is not in
    assert s.loc["organic_search", ["n", "events"]].tolist() == [2296, 270]
    assert s.loc["paid_search", ["n", "events"]].tolist() == [1586, 195]
    assert s.loc["social", ["n", "events"]].tolist() == [1350, 75]
    assert s.loc["email", ["n", "events"]].tolist() == [493, 15]
    assert np.isinf(s["median_days"]).all()  # most leads never convert
    assert s.loc["organic_search", "conv_90d"] == pytest.approx(0.0945, abs=5e-4)
    assert s.loc["email", "conv_90d"] == pytest.approx(0.0243, abs=5e-4)
    assert km.p_value_ < 1e-20
    assert km.plot(ci_show=False) is not None


@needs_olist
def test_olist_cure_model_cured_fraction(olist_table):
    """1 - 842/8000 = 0.895 ignores censoring; Kaplan-Meier says 11.6% convert within 430 days
    (never-convert 0.884); the Weibull cure model puts the plateau at 11.0% (0.890)."""
    cure = CureModel().fit(olist_table)
    lo, hi = cure.cured_fraction_ci_
    assert cure.cured_fraction_ == pytest.approx(0.890, abs=0.001)
    assert (lo, hi) == pytest.approx((0.882, 0.897), abs=0.001)
    everyone = km_by(olist_table.assign(all="all"), "all", at=(430,)).summary.loc["all"]
    km_never = 1 - everyone["conv_430d"]
    assert km_never == pytest.approx(0.8835, abs=5e-4)
    assert abs(cure.cured_fraction_ - km_never) < 0.01
    assert 1 - 842 / 8000 < hi
    assert cure.summary.loc["rho_", "estimate"] < 1  # the hazard of winning falls with age
