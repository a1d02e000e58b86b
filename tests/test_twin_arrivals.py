"""The twin's arrivals: validation, exact values on hand-built lead tables, and recovery of
known, non-default arrivals from simulated worlds (interval coverage, the Poisson check)."""

from __future__ import annotations

import math
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from nurturelab.cadence import Cadence, Touch
from nurturelab.schema import INTENT_DTYPE
from nurturelab.simulation import Arrivals, Team, World, simulate
from nurturelab.twin.arrivals import ArrivalsFit, DispersionCheck, fit_arrivals
from nurturelab.twin.parameters import value_at

from resultcheck import assert_result_protocol

Z95 = stats.norm.ppf(0.975)
FLAT = Arrivals(hourly=(1.0,) * 24, weekday=(1.0,) * 7)  # a base whose profiles are flat


# --------------------------------------------------------------------------------------------
# Hand-built tables
# --------------------------------------------------------------------------------------------
def _table(rows: list[tuple]) -> pd.DataFrame:
    """Leads from (created_at, source, intent, fit) tuples, typed as the schema types them."""
    ts, src, intent, fit = zip(*rows, strict=True)
    return pd.DataFrame({
        "lead_id": [f"L{i:05d}" for i in range(len(rows))],
        "created_at": pd.to_datetime(list(ts), utc=True),
        "source": pd.Categorical(src),
        "fit": np.array(fit, dtype=float),
        "intent": pd.Categorical(intent, dtype=INTENT_DTYPE),
    })


WEEKLY = (20, 18, 16, 16, 14, 6, 4)  # leads on each weekday, Monday first


def _weeks(n_weeks: int = 3, weekly=WEEKLY, start: str = "2026-01-05") -> pd.DataFrame:
    """Identical weeks from a Monday: lead j of a day comes at hour 7 + 5j mod 14 (07:30 to
    20:30), from a referral when j % 3 == 0, with intent low/medium/high/none by j % 4 and a
    fit that cycles through (0, 1)."""
    rows = []
    day0 = pd.Timestamp(start)
    for d in range(7 * n_weeks):
        for j in range(weekly[d % 7]):
            ts = day0 + pd.Timedelta(days=d, hours=7 + (5 * j) % 14, minutes=30)
            rows.append((ts, "referral" if j % 3 == 0 else "web_form",
                         ("low", "medium", "high", None)[j % 4], ((37 * j + d) % 97 + 1) / 99))
    return _table(rows)


def _wilson(k, n, z=Z95):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_bad_input_is_refused_with_a_message_naming_it():
    leads = _weeks(1)
    with pytest.raises(TypeError, match=r"leads must be a pandas DataFrame\. Got list"):
        fit_arrivals([1, 2])
    with pytest.raises(KeyError, match=r"leads lacks the column\(s\) \['created_at'\]"):
        fit_arrivals(leads.drop(columns="created_at"))
    with pytest.raises(ValueError, match=r"The 'alpha' parameter of fit_arrivals must be a "
                                         r"float in the range \(0, 1\)\. Got 1\.5 instead\."):
        fit_arrivals(leads, alpha=1.5)
    with pytest.raises(ValueError, match=r"'timezone' parameter of fit_arrivals must be an "
                                         r"IANA zone .* Got 'Mars/Olympus' instead"):
        fit_arrivals(leads, timezone="Mars/Olympus")
    with pytest.raises(TypeError, match=r"'base' parameter of fit_arrivals must be an "
                                        r"Arrivals\. Got dict instead"):
        fit_arrivals(leads, base={"per_day": {"web_form": 3}})
    with pytest.raises(ValueError, match=r"'since' \(2026-01-09 00:00\) must come before "
                                         r"'until' \(2026-01-08 00:00\)"):
        fit_arrivals(leads, since="2026-01-09", until="2026-01-08")
    with pytest.raises(ValueError, match=r"'until' must be a timestamp .* Got 'soon' instead"):
        fit_arrivals(leads, until="soon")
    with pytest.raises(ValueError, match=r"no lead created between 2026-02-01 00:00 and "
                                         r"2026-03-01 00:00 UTC; it holds 2026-01-05 to "
                                         r"2026-01-11"):
        fit_arrivals(leads, since="2026-02-01", until="2026-03-01")
    as_text = leads.assign(created_at=leads["created_at"].astype(str))
    with pytest.raises(TypeError, match=r"leads 'created_at' must hold timestamps .* Got "
                                        r"dtype object"):
        fit_arrivals(as_text)
    hot = leads.assign(intent=leads["intent"].astype(object))
    hot.loc[2, "intent"] = "hot"
    with pytest.raises(ValueError, match=r"leads 'intent' must be one of \['low', 'medium', "
                                         r"'high'\] or missing\. Got 'hot' at rows \[2\] "
                                         r"\(lead_id \['L00002'\]\)"):
        fit_arrivals(hot)
    with pytest.raises(ValueError, match=r"leads 'fit' must lie in \[0, 1\]\. Got 1\.5 at "
                                         r"rows \[4\]"):
        fit_arrivals(leads.assign(fit=leads["fit"].mask(leads.index == 4, 1.5)))
    no_source = leads.assign(source=leads["source"].astype(object).mask(leads.index == 3))
    with pytest.raises(ValueError, match=r"leads 'source' is missing at rows \[3\]"):
        fit_arrivals(no_source)
    # the same with a lead before the window (row 0, at 07:30): still the row of the table
    with pytest.raises(ValueError, match=r"leads 'source' is missing at rows \[3\] "
                                         r"\(lead_id \['L00003'\]\)"):
        fit_arrivals(no_source, since="2026-01-05 08:00")


def test_three_identical_weeks_give_exact_values():
    """Whole weeks, complete days, no trend and no dispersion: every estimate is a count
    ratio, and every interval the textbook one."""
    leads = _weeks(3)
    fit = fit_arrivals(leads, since="2026-01-05", until="2026-01-26")
    assert_result_protocol(fit)
    s = fit.summary
    n = len(leads)
    by_source = leads["source"].value_counts()
    for src, k in by_source.items():
        got = s.loc[f"arrivals.per_day.{src}"]
        # the exact Poisson interval of the count, over 21 days
        assert got["estimate"] == pytest.approx(k / 21, rel=1e-12)
        assert got["ci_low"] == pytest.approx(stats.chi2.ppf(0.025, 2 * k) / 2 / 21, rel=1e-9)
        assert got["ci_high"] == pytest.approx(stats.chi2.ppf(0.975, 2 * k + 2) / 2 / 21,
                                               rel=1e-9)
        assert got["n"] == k and got["status"] == "fitted"
    hours = leads["created_at"].dt.hour.value_counts().reindex(range(24), fill_value=0)
    lo, hi = _wilson(hours.to_numpy(), n)
    hourly = s.loc[[f"arrivals.hourly[{h}]" for h in range(24)]]
    np.testing.assert_allclose(hourly["estimate"], 24 * hours / n, rtol=1e-12)
    np.testing.assert_allclose(hourly["ci_low"], 24 * lo, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hourly["ci_high"], 24 * hi, rtol=1e-9)
    np.testing.assert_array_equal(hourly["n"], hours)
    weekday = s.loc[[f"arrivals.weekday[{k}]" for k in range(7)]]
    np.testing.assert_allclose(weekday["estimate"], 7 * np.array(WEEKLY) / sum(WEEKLY),
                               rtol=1e-9)
    assert (weekday["n"] == 3).all()
    assert ((weekday["ci_low"] < weekday["estimate"])
            & (weekday["estimate"] < weekday["ci_high"])).all()
    # identical weeks: no trend (estimate 0) and less dispersion than Poisson (alpha 0)
    assert s.loc["arrivals.trend", "estimate"] == pytest.approx(0.0, abs=1e-9)
    assert fit.arrivals.trend == 0.0
    assert fit.dispersion == DispersionCheck(statistic=0.0, df=1, p_value=1.0, nb2_alpha=0.0,
                                             ci_low=0.0, ci_high=fit.dispersion.ci_high,
                                             level=0.05)
    assert 0 < fit.dispersion.ci_high < 0.1 and fit.arrivals.daily_variation == 0.0
    # the intent mixes are the counts of leads with intent, per source and pooled
    known = leads.dropna(subset=["intent"])
    for src, grp in known.groupby("source", observed=True):
        counts = grp["intent"].value_counts().reindex(["low", "medium", "high"]).to_numpy()
        lo, hi = _wilson(counts, len(grp))
        rows = s.loc[[f"arrivals.intent.{src}[{k}]" for k in range(3)]]
        np.testing.assert_allclose(rows["estimate"], counts / len(grp), rtol=1e-12)
        np.testing.assert_allclose(rows["ci_low"], lo, rtol=1e-9)
        np.testing.assert_allclose(rows["ci_high"], hi, rtol=1e-9)
        assert fit.arrivals.intent[src] == pytest.approx(tuple(counts / len(grp)))
    pooled = known["intent"].value_counts().reindex(["low", "medium", "high"]).to_numpy()
    assert fit.arrivals.default_intent == pytest.approx(tuple(pooled / len(known)))
    assert any(f"{n - len(known):,d} of {n:,d} leads have none" in note for note in fit.notes)
    # fit_beta: the maximum-likelihood equations hold at the estimate
    a, b = fit.arrivals.fit_beta
    x = leads["fit"].to_numpy()
    assert special.digamma(a) - special.digamma(a + b) == pytest.approx(np.log(x).mean())
    assert special.digamma(b) - special.digamma(a + b) == pytest.approx(np.log1p(-x).mean())
    # the daily table: every day complete, and the fit reproduces identical weeks exactly
    d = fit.daily
    assert len(d) == 21 and d["complete"].all() and d["in_model"].all()
    np.testing.assert_allclose(d["exposure"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(d["expected"], d["leads"], rtol=1e-9)
    assert d["leads"].tolist() == list(WEEKLY) * 3
    assert set(fit.arrivals.per_day) == {"web_form", "referral"}
    # same table, same fit
    again = fit_arrivals(leads, since="2026-01-05", until="2026-01-26")
    pd.testing.assert_frame_equal(again.summary, s)


def test_only_leads_in_the_window_inform_the_fit_and_the_input_is_untouched():
    leads = _weeks(3)
    outside = _table([(pd.Timestamp("2026-01-04 12:00"), "partner", "high", 0.5),
                      (pd.Timestamp("2026-01-26 00:00"), "partner", "low", 0.5),
                      (pd.Timestamp("2026-02-03 09:00"), "web_form", "low", 0.9)])
    both = pd.concat([leads, outside.assign(lead_id=["X1", "X2", "X3"])], ignore_index=True)
    before = both.copy(deep=True)
    fit = fit_arrivals(both, since="2026-01-05", until="2026-01-26")
    pd.testing.assert_frame_equal(both, before)
    inside = fit_arrivals(leads, since="2026-01-05", until="2026-01-26")
    pd.testing.assert_frame_equal(fit.summary, inside.summary)
    assert "partner" not in fit.arrivals.per_day
    assert any("1 leads created before 2026-01-05 00:00 and 2 on or after 2026-01-26 00:00"
               in n for n in fit.notes)


def test_a_partial_last_day_counts_for_the_intensity_it_covers():
    """The window ends at noon: the last day's exposure is the share of the fitted hourly
    intensity before noon, and the rate is the count over the effective days."""
    leads = _weeks(3)
    leads = leads[leads["created_at"] < "2026-01-25 12:00"].reset_index(drop=True)
    fit = fit_arrivals(leads, since="2026-01-05", until="2026-01-25 12:00")
    d = fit.daily
    assert len(d) == 21 and d["complete"].sum() == 20 and not d["complete"].iloc[-1]
    hourly = np.array(fit.arrivals.hourly)
    assert d["exposure"].iloc[-1] == pytest.approx(hourly[:12].sum() / 24, rel=1e-9)
    w = np.array(fit.arrivals.weekday)
    days = (w[d["weekday"]] * d["exposure"]).sum()
    k = int((leads["source"] == "web_form").sum())
    assert fit.arrivals.per_day["web_form"] == pytest.approx(k / days, rel=1e-12)
    # the complete days alone set the hourly profile
    full = leads[leads["created_at"] < "2026-01-25"]
    hours = full["created_at"].dt.hour.value_counts().reindex(range(24), fill_value=0)
    np.testing.assert_allclose(hourly, 24 * hours / len(full), rtol=1e-12)


def test_a_short_window_keeps_the_base_profiles_and_says_so():
    """Five days: the rates come from the counts over the days the base's weekday profile
    gives them (exact Poisson); hourly, weekday, trend and day-to-day variation are assumed."""
    leads = _weeks(1)
    leads = leads[leads["created_at"] < "2026-01-10"].reset_index(drop=True)
    fit = fit_arrivals(leads, since="2026-01-05", until="2026-01-10", base=FLAT)
    assert_result_protocol(fit)
    s = fit.summary
    k = int((leads["source"] == "referral").sum())
    ref = s.loc["arrivals.per_day.referral"]
    assert ref["estimate"] == pytest.approx(k / 5, rel=1e-12)
    assert ref["ci_low"] == pytest.approx(stats.chi2.ppf(0.025, 2 * k) / 2 / 5, rel=1e-9)
    assert ref["ci_high"] == pytest.approx(stats.chi2.ppf(0.975, 2 * k + 2) / 2 / 5, rel=1e-9)
    assumed = s[s["status"] == "assumed"].index
    assert len(assumed) == 24 + 7 + 2
    assert {"arrivals.trend", "arrivals.daily_variation"} <= set(assumed)
    assert fit.dispersion is None
    assert fit.arrivals.hourly == FLAT.hourly and fit.arrivals.weekday == FLAT.weekday
    assert any(n.startswith("window of 5.0 days (< 14): hourly, weekday, trend and "
                            "daily_variation kept from base") for n in fit.notes)
    assert "Poisson not checked" in repr(fit)
    # the base's weekday profile sets the effective days: Monday to Friday at 1.4 each
    weekdays = fit_arrivals(leads, since="2026-01-05", until="2026-01-10",
                            base=Arrivals(hourly=(1.0,) * 24, weekday=(1,) * 5 + (0,) * 2))
    assert weekdays.arrivals.per_day["referral"] == pytest.approx(k / 7, rel=1e-12)
    # a base with day-to-day variation widens the exact interval, keeping the estimate
    varied = fit_arrivals(leads, since="2026-01-05", until="2026-01-10",
                          base=Arrivals(hourly=(1.0,) * 24, weekday=(1.0,) * 7,
                                        daily_variation=0.2))
    wide = varied.summary.loc["arrivals.per_day.referral"]
    assert wide["estimate"] == ref["estimate"]
    assert wide["ci_low"] < ref["ci_low"] and wide["ci_high"] > ref["ci_high"]
    assert varied.arrivals.daily_variation == 0.2


def test_few_leads_are_named_and_the_base_kept_where_they_cannot_inform():
    leads = _weeks(3)
    few = _table([(pd.Timestamp("2026-01-07 10:00") + pd.Timedelta(days=2 * i), "event",
                   "high", np.nan) for i in range(5)])
    both = pd.concat([leads, few.assign(lead_id=[f"E{i}" for i in range(5)])],
                     ignore_index=True)
    fit = fit_arrivals(both, since="2026-01-05", until="2026-01-26")
    s = fit.summary
    # a source seen five times: its rate is fitted (exact interval), its mix is the pooled one
    assert s.loc["arrivals.per_day.event", "n"] == 5
    assert s.loc["arrivals.per_day.event", "estimate"] == pytest.approx(5 / 21)
    assert "event" not in fit.arrivals.intent
    assert not s.index.str.startswith("arrivals.intent.event").any()
    assert any("fewer than 30 leads with intent use default_intent: event (5)" in n
               for n in fit.notes)
    assert any(n.startswith("fit: 5 of ") for n in fit.notes)
    # too few leads with intent or fit anywhere: the base's mix and beta, assumed
    bare = leads.assign(intent=pd.Categorical([None] * len(leads), dtype=INTENT_DTYPE),
                        fit=np.nan)
    bare.loc[:9, "fit"] = 0.5
    fit = fit_arrivals(bare, since="2026-01-05", until="2026-01-26", base=FLAT)
    s = fit.summary
    assert fit.arrivals.default_intent == FLAT.default_intent and fit.arrivals.intent == {}
    assert fit.arrivals.fit_beta == FLAT.fit_beta
    assert (s.loc[s.index.str.contains("intent|fit_beta"), "status"] == "assumed").all()
    assert any("only 0 leads with intent (< 30): kept from base" in n for n in fit.notes)
    assert any("only 10 leads with fit (< 30): kept from base" in n for n in fit.notes)
    # the base's sources the table never saw are left out of the twin, and said so
    assert any("['event', 'organic_search', 'paid_search', 'partner']" in n
               for n in fit.notes)


def test_a_weekday_without_leads_has_intensity_zero_and_an_upper_bound():
    leads = _weeks(3, weekly=(20, 18, 16, 16, 14, 6, 0))
    fit = fit_arrivals(leads, since="2026-01-05", until="2026-01-26")
    sunday = fit.summary.loc["arrivals.weekday[6]"]
    assert sunday["estimate"] == 0.0 and sunday["ci_low"] == 0.0
    # zero leads in 3 Sundays: at most -log(0.025) = 3.69 leads, on the scale of the others
    rate = len(leads) / 21  # leads a day of the mean weekday (Sunday's 0 in the mean)
    assert sunday["ci_high"] == pytest.approx(-math.log(0.025) / 3 / rate, rel=1e-6)
    assert fit.arrivals.weekday[6] == 0.0 and sum(fit.arrivals.weekday) == pytest.approx(7)
    assert any("no lead on Sunday" in n for n in fit.notes)


def test_the_profiles_are_in_the_given_time_zone():
    """Berlin is an hour ahead of UTC in January: the same leads peak an hour later there."""
    leads = _weeks(3)
    utc = fit_arrivals(leads)
    berlin = fit_arrivals(leads, timezone="Europe/Berlin")
    assert berlin.arrivals.hourly == utc.arrivals.hourly[-1:] + utc.arrivals.hourly[:-1]
    np.testing.assert_allclose(berlin.arrivals.weekday, utc.arrivals.weekday, rtol=1e-9)
    assert berlin.since == pd.Timestamp("2026-01-04 23:00", tz="UTC")
    assert berlin.daily.index[0] == pd.Timestamp("2026-01-05", tz="Europe/Berlin")
    # the plot draws the counts and the fitted mean of each day
    ax = berlin.plot()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), berlin.daily["expected"])
    assert [p.get_height() for p in ax.patches] == berlin.daily["leads"].tolist()
    plt.close(ax.figure)


def test_value_at_reads_the_default_mix_of_a_source_without_its_own():
    """Regression: value_at raised KeyError for a source that draws from default_intent."""
    world = World()
    assert value_at(world, "arrivals.intent.web_form[2]") == world.arrivals.default_intent[2]
    assert value_at(world, "arrivals.intent.referral[2]") == world.arrivals.intent["referral"][2]


# --------------------------------------------------------------------------------------------
# Recovery from simulated worlds with known, non-default arrivals
# --------------------------------------------------------------------------------------------
MAIL = Cadence("one_email", [Touch("email", automated=True)])  # arrivals only, cheaply
HOURLY = (0.3,) * 6 + (0.6, 1.0, 1.4, 1.8, 2.2, 2.0, 1.2, 1.6, 1.9, 1.7, 1.4, 1.1, 1.3, 1.5,
                       1.2, 0.8, 0.5, 0.4)
WEEKDAY = (1.3, 1.2, 1.1, 1.0, 0.8, 0.5, 0.4)
MIXES = {"paid_search": (0.55, 0.35, 0.10), "web_form": (0.40, 0.40, 0.20),
         "referral": (0.15, 0.35, 0.50), "partner": (0.25, 0.50, 0.25)}
PER_DAY = {"paid_search": 45.0, "web_form": 25.0, "referral": 9.0, "partner": 3.0,
           "event": 0.4, "webinar": 0.15}
# event and webinar draw from default_intent, set to the other sources' pooled mix so that the
# pooled mix of all leads (what the fit estimates for default_intent) equals it
_W = np.array([PER_DAY[s] for s in MIXES])
DEFAULT = tuple(float(x) for x in _W @ np.array(list(MIXES.values())) / _W.sum())
TRENDING = Arrivals(per_day=PER_DAY, hourly=HOURLY, weekday=WEEKDAY, intent=MIXES,
                    default_intent=DEFAULT, fit_beta=(3.0, 1.5), trend=0.03)
VARYING = Arrivals(per_day={"paid_search": 30.0, "web_form": 15.0}, hourly=HOURLY,
                   weekday=WEEKDAY, intent={"paid_search": (0.5, 0.3, 0.2)},
                   default_intent=(0.5, 0.3, 0.2), fit_beta=(2.2, 2.0), daily_variation=0.12)
WORLDS = {  # arrivals, team time zone (New York: the window spans a change of clocks), leads
    "trending": (TRENDING, "America/New_York", 12_000),
    "varying": (VARYING, "UTC", 4_000),
}


def _simulated(kind: str, seed: int):
    arrivals, tz, n = WORLDS[kind]
    world = World(cadence=MAIL, team=Team(timezone=tz), arrivals=arrivals, leads=n)
    fit = fit_arrivals(simulate(world, seed=seed).leads, timezone=tz)
    return world, fit


def _truth(world: World, fit: ArrivalsFit) -> pd.Series:
    """The world's value of every parameter of the table; the rates at the window's end (the
    world's per_day is its rate at its start)."""
    start = pd.Timestamp(world.start, tz=world.team.timezone)
    growth = math.exp(world.arrivals.trend * ((fit.until - start) / pd.Timedelta(days=7)))
    return pd.Series({p: value_at(world, p) * (growth if ".per_day." in p else 1.0)
                      for p in fit.summary.index})


def _outside(fit: ArrivalsFit, truth: pd.Series) -> pd.Series:
    """How far the truth lies outside each interval, in half-widths (0 inside)."""
    s = fit.summary
    half = (s["ci_high"] - s["ci_low"]) / 2
    return (np.maximum(s["ci_low"] - truth, truth - s["ci_high"]).clip(lower=0) / half)


def _check_recovery(fit: ArrivalsFit, truth: pd.Series) -> None:
    """Every interval covers the truth bar the misses nominal 95% allows (P < 0.5%), and no
    miss is by more than one half-width."""
    far = _outside(fit, truth)
    allowed = stats.binom.ppf(0.995, len(far), 0.05)
    report = fit.summary.assign(truth=truth, outside=far)[far > 0]
    assert (far > 0).sum() <= allowed, report
    assert far.max() < 1.0, report


def test_known_arrivals_with_a_trend_are_recovered():
    """Six sources with different rates and intent mixes, a non-default hourly and weekday
    profile in New York time, a trend of 3% a week and a non-default fit: 12,000 leads
    (about 17 weeks), 58 intervals checked against the truth."""
    world, fit = _simulated("trending", seed=0)
    assert_result_protocol(fit)
    truth = _truth(world, fit)
    assert (fit.summary["status"] == "fitted").all()
    _check_recovery(fit, truth)
    # the trend is clear, so the twin has it; its rates are those at the end, well above the
    # window's average rate
    a = fit.arrivals
    assert a.trend == fit.summary.loc["arrivals.trend", "estimate"]
    assert a.trend == pytest.approx(0.03, abs=0.006)
    n_web = fit.summary.loc["arrivals.per_day.web_form", "n"]
    assert a.per_day["web_form"] > 1.2 * n_web / fit.daily["in_model"].sum()
    assert not fit.dispersion.rejected and a.daily_variation == 0.0
    # webinar (about 15 leads) draws from the pooled mix; event (about 60) has its own
    assert "webinar" not in a.intent and "event" in a.intent
    assert any("default_intent: webinar" in n for n in fit.notes)
    assert set(a.per_day) == set(PER_DAY)
    assert fit.timezone == "America/New_York"


def test_day_to_day_variation_is_detected_and_recovered():
    """A gamma day multiplier of variance 0.12: NB2 rejects Poisson, its alpha recovers the
    variance, and the rates' intervals widen for it (and still cover the truth)."""
    world, fit = _simulated("varying", seed=0)
    truth = _truth(world, fit)
    _check_recovery(fit, truth)
    d = fit.dispersion
    assert d.rejected and d.p_value < 1e-6 and d.df == 1
    assert d.ci_low < 0.12 < d.ci_high
    assert fit.arrivals.daily_variation == d.nb2_alpha > 0
    assert "Poisson rejected" in repr(fit)
    s = fit.summary
    days = s.loc["arrivals.per_day.paid_search", "n"] / s.loc["arrivals.per_day.paid_search",
                                                               "estimate"]
    for src in ("paid_search", "web_form"):
        k = s.loc[f"arrivals.per_day.{src}", "n"]
        exact = (stats.chi2.ppf(0.975, 2 * k + 2) - stats.chi2.ppf(0.025, 2 * k)) / 2 / days
        width = s.loc[f"arrivals.per_day.{src}", "ci_high"] - s.loc[f"arrivals.per_day.{src}",
                                                                      "ci_low"]
        # variance inflation 1 + alpha * (leads a day): about 4.6 and 2.8, so 2.1 and 1.7 times
        assert width > 1.4 * exact, (src, width, exact)


def _twin_agrees_with_its_table(fit: ArrivalsFit) -> None:
    """value_at on a world with the fitted arrivals reads every estimate of the table, except
    a trend or day-to-day variation the twin does not apply (0 there)."""
    twin = World(arrivals=fit.arrivals)
    s = fit.summary
    got = pd.Series({p: value_at(twin, p) for p in s.index})
    want = s["estimate"].copy()
    for name, applied in (("arrivals.trend", fit.arrivals.trend != 0),
                          ("arrivals.daily_variation", fit.arrivals.daily_variation != 0)):
        if not applied and s.loc[name, "status"] == "fitted":
            want[name] = 0.0
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_the_twin_holds_the_values_of_its_table():
    _twin_agrees_with_its_table(fit_arrivals(_weeks(3), since="2026-01-05", until="2026-01-26"))
    short = _weeks(1)
    _twin_agrees_with_its_table(fit_arrivals(short[short["created_at"] < "2026-01-10"],
                                             base=Arrivals(trend=0.02, daily_variation=0.1)))
    _, fit = _simulated("trending", seed=1)
    assert fit.arrivals.trend != 0
    _twin_agrees_with_its_table(fit)


def _poisson_leads(rng: np.random.Generator, days: int = 56, per_day: float = 40.0):
    """Leads of a plain Poisson process with a weekday profile: the null of the check."""
    w = 7 * np.array(WEEKDAY) / sum(WEEKDAY)
    counts = rng.poisson(per_day * w[np.arange(days) % 7])
    day = np.repeat(np.arange(days), counts)
    ts = (pd.Timestamp("2026-01-05", tz="UTC")
          + pd.to_timedelta(day + rng.random(len(day)), unit="D"))
    return pd.DataFrame({"lead_id": [f"P{i}" for i in range(len(ts))],
                         "created_at": ts.sort_values(), "source": "web_form"})


@pytest.mark.slow
def test_coverage_and_the_poisson_check_over_many_seeds():
    """Coverage study: NURTURELAB_STUDY_REPS runs (8 in CI, 50 for the long version) of each
    world. Overall coverage at least 92%, no parameter below the count nominal coverage
    reaches with probability 1% over all parameters (binomial, Bonferroni); the check rejects
    Poisson in every run with day-to-day variation, and holds its level without: at most the
    99% binomial bound over the trending runs, and within the two-sided 99% bounds of 5% over
    25 times as many plain Poisson tables."""
    reps = int(os.environ.get("NURTURELAB_STUDY_REPS", "8"))
    hits, rejected = [], {kind: [] for kind in WORLDS}
    for kind in WORLDS:
        for seed in range(100, 100 + reps):
            world, fit = _simulated(kind, seed)
            far = _outside(fit, _truth(world, fit))  # NaN: a value inferred, no interval
            hits.append((far == 0).where(far.notna()).add_prefix(f"{kind}:"))
            rejected[kind].append(fit.dispersion.rejected)
    hits = pd.concat(hits, axis=1)
    rate = np.nanmean(hits.to_numpy(dtype=float))
    per = hits.mean(axis=1)
    rng = np.random.default_rng(2026)
    null = [fit_arrivals(_poisson_leads(rng)).dispersion.rejected for _ in range(25 * reps)]
    print(f"\narrivals coverage over {reps} seeds per world: {rate:.3f} "
          f"({int(hits.notna().to_numpy().sum())} intervals); lowest per parameter "
          f"{per.min():.2f}; Poisson rejected in {np.mean(rejected['varying']):.2f} of the "
          f"varying runs, {np.mean(rejected['trending']):.2f} of the trending runs and "
          f"{np.mean(null):.3f} of {len(null)} plain Poisson tables")
    assert rate >= 0.92, per.sort_values().head(10)
    hits = hits[hits.notna().any(axis=1)]
    count = hits.notna().sum(axis=1)
    least = stats.binom.ppf(0.01 / len(hits), count, 0.95)
    assert (hits.sum(axis=1) >= least).all(), per.sort_values().head(10)
    assert all(rejected["varying"])
    assert sum(rejected["trending"]) <= stats.binom.ppf(0.99, reps, 0.05)
    lo, hi = stats.binom.ppf([0.005, 0.995], len(null), 0.05)
    assert lo <= sum(null) <= hi, np.mean(null)


def test_a_date_only_export_in_a_zone_whose_clocks_skip_midnight():
    """Olist-shaped leads: created_at holds dates only, read as midnight in America/Sao_Paulo,
    whose daylight-saving change skipped midnight until 2019 (2017-10-15 00:00 never
    happened). The fit runs, and keeps the base's hourly profile, saying why."""
    days = pd.date_range("2017-09-01", "2017-12-31", freq="D")
    wall = np.repeat(days, 5)
    created = pd.DatetimeIndex(wall).tz_localize("America/Sao_Paulo",
                                                 nonexistent="shift_forward").tz_convert("UTC")
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(len(created))],
                          "created_at": created, "source": "web",
                          "fit": np.nan, "intent": pd.Series([None] * len(created),
                                                             dtype="object")})
    fit = fit_arrivals(leads, timezone="America/Sao_Paulo")
    assert fit.arrivals.hourly == Arrivals().hourly
    assert (fit.summary.loc[fit.summary.index.str.startswith("arrivals.hourly"), "status"]
            == "assumed").all()
    assert any("dates only" in n for n in fit.notes)
    assert fit.arrivals.per_day["web"] == pytest.approx(5.0, rel=0.05)
