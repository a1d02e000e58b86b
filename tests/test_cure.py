"""Cure regression (nurturelab.scoring.cure): the analytic gradient against finite differences,
agreement with lifelines' MixtureCureFitter without covariates, recovery of known parameters
and interval coverage on simulated leads, the plateau of the predicted curves, Maller and
Zhou's follow-up check on a hand-worked example, the messages, the fit time, and the
never-convert share by source on the Olist funnel (skipped where the public data is absent)."""

from __future__ import annotations

import os
import time
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import optimize, special, stats  # noqa: E402

from nurturelab.olist import DEALS_FILE, MQL_FILE, load_olist  # noqa: E402
from nurturelab.paths import shared_data_dir  # noqa: E402
from nurturelab.scoring.cure import (  # noqa: E402
    CuredFractionResult,
    CureIdentifiabilityWarning,
    CureRegression,
    FollowUpResult,
    _loglik,
    cured_fraction_by,
    follow_up_check,
)
from nurturelab.scoring.survival import CureModel, survival_table  # noqa: E402

from resultcheck import assert_result_protocol  # noqa: E402

OLIST = shared_data_dir() / "olist"
needs_olist = pytest.mark.skipif(
    not ((OLIST / MQL_FILE).is_file() and (OLIST / DEALS_FILE).is_file()),
    reason=f"the public Olist data is not present at {OLIST} (set NURTURELAB_SHARED_DATA)",
)

# the simulated world: never converts with logit pi = 1.2 - 0.9 paid + 0.6 fit; the others
# convert after Weibull(scale 20 exp(0.4 paid), shape 1.3) days; follow-up 150-365 days
GAMMA = np.array([1.2, -0.9, 0.6])
BETA = np.array([np.log(20.0), 0.4])
RHO = 1.3


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _world(n: int, seed: int, follow: tuple[float, float] = (150.0, 365.0)) -> pd.DataFrame:
    r_cov, r_cure, r_time, r_cens = (np.random.default_rng(s)
                                     for s in np.random.SeedSequence(seed).spawn(4))
    paid = r_cov.random(n) < 0.4
    fit = r_cov.random(n)
    pi = special.expit(GAMMA[0] + GAMMA[1] * paid + GAMMA[2] * fit)
    never = r_cure.random(n) < pi
    lam = np.exp(BETA[0] + BETA[1] * paid)
    t = np.where(never, np.inf, lam * r_time.weibull(RHO, n))
    c = r_cens.uniform(*follow, n)
    return pd.DataFrame({"duration_days": np.minimum(t, c), "converted": t <= c,
                         "source": np.where(paid, "paid_search", "organic"), "fit": fit})


def _fit(df: pd.DataFrame, **kw) -> CureRegression:
    return CureRegression(**kw).fit(df, cure_covariates=["source", "fit"],
                                    latency_covariates=["source"])


# --------------------------------------------------------------------------------------------
# the likelihood
# --------------------------------------------------------------------------------------------
def test_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(11)
    n = 400
    z = np.c_[np.ones(n), rng.normal(size=(n, 2))]
    x = np.c_[np.ones(n), rng.random(n) < 0.5]
    log_t = np.log(rng.exponential(25.0, n))
    ev = rng.random(n) < 0.3
    for theta in (np.array([0.8, -0.4, 0.3, 3.0, 0.5, 0.2]),
                  np.array([-1.0, 1.5, 0.0, 2.0, -0.7, -0.5]),
                  np.array([3.0, 0.0, -2.0, 4.5, 0.0, 0.6])):
        _, g = _loglik(theta, z, x, log_t, ev)
        num = optimize.approx_fprime(theta, lambda th: _loglik(th, z, x, log_t, ev, grad=False),
                                     1e-7)
        np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-3)


def test_loglik_is_the_mixture_density_written_out():
    """Row by row: the event density (1 - pi) f_u(t), the censored S(t) = pi + (1 - pi) S_u."""
    t = np.array([2.0, 5.0, 40.0, 90.0])
    ev = np.array([True, False, True, False])
    pi, lam, rho = 0.7, 12.0, 0.8
    s_u = np.exp(-((t / lam) ** rho))
    f_u = rho / lam * (t / lam) ** (rho - 1) * s_u
    want = np.where(ev, np.log((1 - pi) * f_u), np.log(pi + (1 - pi) * s_u)).sum()
    theta = np.array([np.log(pi / (1 - pi)), np.log(lam), np.log(rho)])
    one = np.ones((4, 1))
    assert _loglik(theta, one, one, np.log(t), ev, grad=False) == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------------------------------------
# no covariates: lifelines' MixtureCureFitter (and CureModel, which wraps it)
# --------------------------------------------------------------------------------------------
def test_without_covariates_agrees_with_lifelines_mixture_cure_fitter():
    """CureModel wraps lifelines' MixtureCureFitter(WeibullFitter()): same cured fraction,
    scale, shape and log-likelihood, and the same interval from cured_fraction_by."""
    df = _world(1500, seed=4)
    cm = CureModel().fit(df)
    mcf = cm.fitter_
    m = CureRegression().fit(df)
    s = m.summary
    pi = special.expit(s.loc[("cure", "Intercept"), "coef"])
    assert pi == pytest.approx(mcf.params_["cured_fraction_"], abs=1e-4)
    assert m.cured_fraction_ == pytest.approx(pi)
    assert s.loc[("latency", "Intercept"), "exp_coef"] == pytest.approx(mcf.params_["lambda_"],
                                                                         rel=1e-3)
    assert s.loc[("shape", "log_rho"), "exp_coef"] == pytest.approx(mcf.params_["rho_"],
                                                                     rel=1e-3)
    assert m.log_likelihood_ == pytest.approx(mcf.log_likelihood_, abs=1e-3)
    se_pi = pi * (1 - pi) * s.loc[("cure", "Intercept"), "se"]  # delta method
    assert se_pi == pytest.approx(mcf.summary.loc["cured_fraction_", "se(coef)"], rel=0.02)
    r = cured_fraction_by(df.assign(all="all"), "all")
    assert r.summary.loc["all", "cured_fraction"] == pytest.approx(cm.cured_fraction_, abs=1e-3)
    assert (r.summary.loc["all", "ci_low"], r.summary.loc["all", "ci_high"]) == pytest.approx(
        cm.cured_fraction_ci_, abs=1e-3)
    assert m.cured_fraction_ci_ == pytest.approx(cm.cured_fraction_ci_, abs=1e-3)


# --------------------------------------------------------------------------------------------
# simulated leads with known parameters
# --------------------------------------------------------------------------------------------
def test_recovers_known_parameters_within_their_intervals():
    m = _fit(_world(5000, seed=1))
    s = m.summary
    truth = {("cure", "Intercept"): GAMMA[0], ("cure", "source[paid_search]"): GAMMA[1],
             ("cure", "fit"): GAMMA[2], ("latency", "Intercept"): BETA[0],
             ("latency", "source[paid_search]"): BETA[1], ("shape", "log_rho"): np.log(RHO)}
    assert list(s.index) == list(truth)
    for key, value in truth.items():
        assert s.loc[key, "ci_low"] < value < s.loc[key, "ci_high"], (key, s.loc[key].to_dict())
    assert m.converged_ and not m.follow_up_.insufficient
    assert s.loc[("cure", "source[paid_search]"), "p"] < 1e-10


def test_interval_coverage_of_the_cure_coefficients():
    """95% Wald intervals of the three cure coefficients over seeded replications: each covers
    its true value at a rate consistent with 95% (binomial bounds at about 3.5 sd)."""
    reps = int(os.environ.get("NURTURELAB_STUDY_REPS", "100"))
    names = [("cure", "Intercept"), ("cure", "source[paid_search]"), ("cure", "fit")]
    hits = np.zeros(3)
    for seed in range(reps):
        s = _fit(_world(600, seed=1000 + seed)).summary.loc[names]
        hits += ((s["ci_low"] < GAMMA) & (GAMMA < s["ci_high"])).to_numpy()
    rate = hits / reps
    sd = np.sqrt(0.95 * 0.05 / reps)
    assert (np.abs(rate - 0.95) < max(3.5 * sd, 1.5 / reps)).all(), rate


def test_predicted_survival_levels_off_at_the_never_convert_share():
    df = _world(2000, seed=2)
    m = _fit(df)
    rows = df.iloc[:5]
    s = m.predict_survival(rows, days=(0.01, 10, 30, 100, 1e6))
    pi = m.predict_cured(rows)
    np.testing.assert_allclose(s["1e+06d"], pi["cured_fraction"], atol=1e-9)
    assert (np.diff(s.to_numpy(), axis=1) <= 0).all()
    assert (s["0.01d"] > 0.99).all()
    assert ((pi["ci_low"] < pi["cured_fraction"]) & (pi["cured_fraction"] < pi["ci_high"])).all()
    conv = m.predict_conversion(rows, days=(30,))
    np.testing.assert_allclose(conv["p_30d"], 1 - s["30d"])
    # a hand computation of one row's curve from the coefficients
    p = m.params_
    paid = rows["source"].iloc[0] == "paid_search"
    pi0 = special.expit(p["cure", "Intercept"] + p["cure", "source[paid_search]"] * paid
                        + p["cure", "fit"] * rows["fit"].iloc[0])
    lam = np.exp(p["latency", "Intercept"] + p["latency", "source[paid_search]"] * paid)
    want = pi0 + (1 - pi0) * np.exp(-((30 / lam) ** np.exp(p["shape", "log_rho"])))
    assert s["30d"].iloc[0] == pytest.approx(want, rel=1e-12)


def test_cured_fraction_by_recovers_segment_shares():
    df = _world(6000, seed=3)
    r = cured_fraction_by(df, "source")
    s = r.summary
    # each segment's true share: pi averaged over fit ~ U(0, 1)
    for src, paid in (("organic", 0), ("paid_search", 1)):
        a = GAMMA[0] + GAMMA[1] * paid
        true = (np.log1p(np.exp(a + GAMMA[2])) - np.log1p(np.exp(a))) / GAMMA[2]
        assert s.loc[src, "ci_low"] < true < s.loc[src, "ci_high"], (src, true)
    assert s.loc["organic", "cured_fraction"] > s.loc["paid_search", "cured_fraction"]
    assert s["n"].sum() == 6000 and s["follow_up_ok"].all()
    # with the segment as the only cure covariate, the interval is the Wald interval of its
    # log-odds (intercept + level coefficient, their covariance from the model)
    m = r.model_
    g, v = m.params_["cure"], m.variance_matrix_.loc["cure", "cure"]
    e = np.array([1.0, 1.0])
    eta = float(e @ g.to_numpy())
    se = float(np.sqrt(e @ v.to_numpy() @ e))
    zc = stats.norm.ppf(0.975)
    assert (s.loc["paid_search", "ci_low"], s.loc["paid_search", "ci_high"]) == pytest.approx(
        (special.expit(eta - zc * se), special.expit(eta + zc * se)), rel=1e-9)
    # a model with fit too: the segment share is the mean of its leads' shares
    full = _fit(df)
    r2 = cured_fraction_by(df, "source", model=full)
    by_hand = full.predict_cured(df).groupby(df["source"])["cured_fraction"].mean()
    np.testing.assert_allclose(r2.summary["cured_fraction"], by_hand[r2.summary.index])
    assert r2.summary.loc["paid_search", "cured_fraction"] == pytest.approx(
        s.loc["paid_search", "cured_fraction"], abs=0.01)


def test_same_seed_same_result():
    a = _fit(_world(1500, seed=9)).summary
    b = _fit(_world(1500, seed=9)).summary
    pd.testing.assert_frame_equal(a, b)


def test_categories_are_one_hot_against_their_first_level():
    df = _world(1500, seed=5)
    df["intent"] = pd.Categorical(np.resize(["low", "medium", "high"], len(df)),
                                  categories=["low", "medium", "high"])
    df["flag"] = np.resize([True, False, False, False], len(df))
    m = CureRegression().fit(df, cure_covariates=["intent", "flag"],
                             latency_covariates=["fit"])
    assert list(m.params_.index) == [
        ("cure", "Intercept"), ("cure", "intent[medium]"), ("cure", "intent[high]"),
        ("cure", "flag"), ("latency", "Intercept"), ("latency", "fit"), ("shape", "log_rho")]
    assert m.levels_ == {"intent": ["low", "medium", "high"]}
    with pytest.raises(ValueError, match=r"'intent' has levels \['urgent'\] not seen at fit"):
        m.predict_cured(df.assign(intent="urgent"))


# --------------------------------------------------------------------------------------------
# follow-up and identifiability
# --------------------------------------------------------------------------------------------
def test_maller_zhou_on_a_hand_worked_example():
    """t_n = 10, t_k = 4: window (2*4 - 10, 4] = (-2, 4] holds the 3 conversions, so
    alpha_n = (1 - 3/5)^5 = 0.01024."""
    df = pd.DataFrame({"duration_days": [1.0, 2.0, 3.0, 4.0, 10.0],
                       "converted": [True, True, False, True, False]})
    row = follow_up_check(df).summary.loc["all"]
    assert row["last_event_days"] == 4 and row["follow_up_days"] == 10
    assert row["quiet_days"] == 6 and row["followed_past_last_event"] == 1
    assert row["events_in_window"] == 3
    assert row["maller_zhou_p"] == pytest.approx(0.4 ** 5)
    assert bool(row["sufficient"])
    # follow-up ending at the last conversion: window (4 - 0.5, 4] has one of them
    short = df.assign(duration_days=[1.0, 2.0, 3.0, 4.0, 4.5])
    row = follow_up_check(short).summary.loc["all"]
    assert row["events_in_window"] == 1
    assert row["maller_zhou_p"] == pytest.approx(0.8 ** 5) and not row["sufficient"]


def test_short_follow_up_warns_and_long_does_not():
    short = _world(3000, seed=6, follow=(10.0, 25.0))
    with pytest.warns(CureIdentifiabilityWarning, match="follow-up may be too short"):
        m = CureRegression().fit(short)
    assert m.follow_up_.insufficient == ["all"]
    assert "WARNING: follow-up may be too short" in m.to_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CureIdentifiabilityWarning)
        CureRegression().fit(_world(3000, seed=6))
    with pytest.warns(CureIdentifiabilityWarning, match=r"segment\(s\) \['paid_search'\]"):
        cured_fraction_by(pd.concat([_world(2000, seed=7).query("source == 'organic'"),
                                     short.query("source == 'paid_search'")]), "source")
    # Maller-Zhou alone passes paid_search's 3-day quiet stretch (it counts the last stretch's
    # conversions against all 1,181 leads); the model's tail rule does not
    check = follow_up_check(short, "source")
    assert isinstance(check, FollowUpResult)
    assert check.insufficient == ["organic"]
    assert check.summary["susceptible_left"].isna().all()
    check = follow_up_check(short, "source", model=m)
    assert sorted(check.insufficient) == ["organic", "paid_search"]
    assert check.summary.loc["paid_search", "fails"] == "tail"
    assert check.summary.loc["paid_search", "susceptible_left"] > 0.3


# --------------------------------------------------------------------------------------------
# messages and the result face
# --------------------------------------------------------------------------------------------
def test_messages():
    df = _world(300, seed=8)
    with pytest.raises(ValueError, match=r"missing values in \{'fit': 1\}"):
        CureRegression().fit(df.assign(fit=np.r_[np.nan, df["fit"][1:]]),
                             cure_covariates=["fit"])
    with pytest.raises(ValueError, match=r"cure covariate column\(s\) \['k'\] are constant"):
        CureRegression().fit(df.assign(k=1.0), cure_covariates=["k"])
    with pytest.raises(ValueError, match="no conversions in the table"):
        CureRegression().fit(df.assign(converted=False))
    with pytest.raises(ValueError, match="every lead converted"):
        CureRegression().fit(df.assign(converted=True))
    with pytest.raises(ValueError, match="durations of 0"):
        CureRegression().fit(df.assign(duration_days=np.r_[0.0, df["duration_days"][1:]]))
    with pytest.raises(ValueError, match=r"no conversions in the 'source' level\(s\) \['x'\]"):
        CureRegression().fit(pd.concat([df, df.iloc[:5].assign(source="x", converted=False)]),
                             cure_covariates=["source"])
    with pytest.raises(ValueError, match=r"'alpha' parameter of CureRegression must be a "
                                         r"float in \(0, 1\). Got 2 instead"):
        CureRegression(alpha=2).fit(df)
    with pytest.raises(KeyError, match=r"lacks the column\(s\) \['intent'\]"):
        CureRegression().fit(df, latency_covariates=["intent"])
    with pytest.raises(AttributeError, match="not fitted yet"):
        CureRegression().predict_cured(df)
    with pytest.raises(ValueError, match="'by' needs at least one column"):
        cured_fraction_by(df, [])
    with pytest.raises(TypeError, match="'model' must be a fitted CureRegression"):
        cured_fraction_by(df, "source", model=CureModel())
    with pytest.raises(ValueError, match=r"'follow_up_tail' parameter of CureRegression must "
                                         r"be a float in \(0, 1\). Got 0 instead"):
        CureRegression(follow_up_tail=0).fit(df)
    with pytest.raises(ValueError, match=r"'tail' parameter of follow_up_check"):
        follow_up_check(df, tail=1.5)
    with pytest.raises(TypeError, match="'when' holds timestamps"):
        CureRegression().fit(df.assign(when=pd.Timestamp("2026-01-01", tz="UTC")),
                             cure_covariates=["when"])
    with pytest.raises(ValueError, match="'lead' has 300 levels"):
        CureRegression().fit(df.assign(lead=[f"l{i}" for i in range(len(df))]),
                             cure_covariates=["lead"])
    with pytest.warns(RuntimeWarning, match="information matrix is not positive definite"):
        CureRegression().fit(df.assign(fit2=2 * df["fit"]), cure_covariates=["fit", "fit2"])
    assert repr(CureRegression()) == ("<CureRegression: Weibull mixture cure regression, "
                                      "alpha=0.05, not fitted>")


def test_result_protocol():
    df = _world(1500, seed=10)
    m = _fit(df)
    assert repr(m).startswith("<CureRegression: Weibull mixture cure regression on 1,500 rows")
    assert_result_protocol(m)
    r = cured_fraction_by(df, ["source"])
    assert isinstance(r, CuredFractionResult)
    assert repr(r).startswith("<CuredFractionResult: never-convert share by source: 2 segments")
    assert_result_protocol(r)
    assert_result_protocol(follow_up_check(df, "source"))


def test_fit_of_10000_leads_with_a_handful_of_covariates_is_quick():
    df = _world(10_000, seed=12)
    df["intent"] = np.resize(["low", "medium", "high", "medium"], len(df))
    df["score"] = np.random.default_rng(0).normal(size=len(df))
    CureRegression().fit(df.iloc[:500], cure_covariates=["fit"])  # imports, threadpoolctl
    start = time.perf_counter()
    m = CureRegression().fit(df, cure_covariates=["source", "fit", "intent", "score"],
                             latency_covariates=["source", "intent", "score"])
    took = time.perf_counter() - start
    assert m.converged_ and len(m.params_) == 12
    assert took < 2.0, took


# --------------------------------------------------------------------------------------------
# the Olist funnel
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def olist_table():
    exp = load_olist()
    return survival_table(exp.leads, exp.events, covariates=["source"])


# CureModel (lifelines' MixtureCureFitter) fitted to each source alone, Olist as loaded:
# CureModel().fit(t[t["source"] == src]).cured_fraction_ with t = survival_table(...) below
OLIST_ALONE = {"organic_search": 0.8761, "paid_search": 0.8650, "social": 0.9403,
               "unknown": 0.8289, "direct_traffic": 0.8870, "email": 0.9680,
               "referral": 0.9149, "other": 0.9733, "display": 0.9492,
               "other_publicities": 0.9538}


@needs_olist
def test_olist_never_convert_share_by_source(olist_table):
    """Overall (no covariates) it is CureModel's 0.890 [0.882, 0.897]; by source each share
    lies within 0.005 of lifelines' MixtureCureFitter on that source alone (here the Weibull
    shape is shared), and every source's follow-up passes both rules."""
    overall = CureRegression().fit(olist_table)
    p, (lo, hi) = overall.cured_fraction_, overall.cured_fraction_ci_
    assert p == pytest.approx(0.890, abs=0.001)
    assert (lo, hi) == pytest.approx((0.882, 0.897), abs=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CureIdentifiabilityWarning)
        r = cured_fraction_by(olist_table, "source")
    s = r.summary
    assert s["n"].sum() == 8000 and s["events"].sum() == 841
    assert s["follow_up_ok"].all()
    assert list(s.index) == list(OLIST_ALONE)  # largest source first
    for src, alone in OLIST_ALONE.items():
        assert abs(s.loc[src, "cured_fraction"] - alone) < 0.005, (src, alone)
        assert s.loc[src, "ci_low"] < alone < s.loc[src, "ci_high"]
    assert s.loc["unknown", "ci_high"] < s.loc["organic_search", "ci_low"]
    assert s.loc["organic_search", "ci_high"] < s.loc["social", "ci_low"]
    assert (s["cured_fraction"] <= s["naive"] + 1e-9).all()  # censoring: some open leads convert
    assert r.overall_[0] == pytest.approx(p, abs=0.002)
