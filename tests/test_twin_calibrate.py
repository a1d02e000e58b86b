"""The whole twin (issue 12): a world with known, non-default parameters is simulated, its
tables are treated as a team's export, and `calibrate` must give intervals that cover the
truth at about the nominal rate; the calibrated scenario file is an ordinary scenario; an
export without touches (Olist) calibrates and names what it had to assume."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nurturelab.cadence import Cadence, Touch
from nurturelab.olist import load_olist
from nurturelab.paths import shared_data_dir
from nurturelab.progression import Progression, Transition
from nurturelab.response import ResponseModel
from nurturelab.scenario import read_scenario
from nurturelab.simulation import Arrivals, Team, World, simulate
from nurturelab.twin.calibrate import Calibration, calibrate
from nurturelab.twin.parameters import value_at

from resultcheck import assert_result_protocol

# A known world unlike the default one. No unobserved interest (heterogeneity 0): the twin
# estimates population averages, which then equal the world's own effects. The team observes
# British summer time, works 08:00-16:00 Monday to Saturday, and is
# well below capacity (no task waits past its patience, which would look like a skipped step).
SHIFT = (8.0, 16.0)
TRUE_CADENCE = Cadence("known", (
    Touch("call", content="first_contact"),
    Touch("voicemail", anchor="previous", content="callback_request", skip=0.2),
    Touch("sms", at="5min", anchor="previous", content="missed_call"),
    Touch("email", at="1d", window=SHIFT, content="next_step", automated=True,
          personalisation="context"),
    Touch("call", at="2d", window=SHIFT, content="follow_up", skip=0.1),
    Touch("sms", at="4d", window=SHIFT, content="direct_question", automated=True),
    Touch("email", at="9d", window=SHIFT, content="low_friction_offer", automated=True),
))
TRUTH = World(
    cadence=TRUE_CADENCE,
    team=Team(reps=5, shift=SHIFT, workdays=(0, 1, 2, 3, 4, 5), timezone="Europe/London",
              handling_minutes={"call": 6.0, "voicemail": 1.5, "sms": 2.0, "email": 4.0},
              handling_sigma=0.5, patience_hours=96.0),
    arrivals=Arrivals(per_day={"paid_search": 25, "web_form": 14, "referral": 6},
                      intent={"referral": (0.15, 0.45, 0.4)}, default_intent=(0.4, 0.4, 0.2),
                      fit_beta=(3.0, 2.0)),
    response=ResponseModel(
        heterogeneity=0.0, base={"call": 0.05, "voicemail": 0.02, "sms": 0.03, "email": 0.02},
        speed_knots=((0, 3.0), (5, 3.0), (30, 1.2), (120, 0.8), (1440, 0.4), (10080, 0.0)),
        intent={"low": -0.5, "medium": 0.0, "high": 0.8, "unknown": 0.0}, fit=1.2,
        fatigue=0.2, cooling=0.2, pricing_per_day=0.04, demo_per_day=0.002,
        open_rate=0.35, click_rate=0.25),
    progression=Progression(
        qualify=Transition(p=0.45, intent={"low": -0.6, "high": 0.5}, fit=1.0,
                           source={"referral": 0.5}, days=1.0, sigma=0.9, lost_days=2.0),
        proposal=Transition(p=0.5, days=4.0, sigma=0.7, lost_days=6.0),
        win=Transition(p=0.4, fit=0.6, days=7.0, sigma=0.8, lost_days=10.0),
        speed_knots=((0, 0.0), (60, -0.3), (1440, -1.5), (10080, -2.0)), heterogeneity=0.0),
    leads=9000, start="2026-03-02", warmup_days=14, tail_days=20,
)
# not on the table's scale or approximate by construction (kept out of the coverage count):
# the hand-off call is drawn as min(exponential, half the time to the proposal)
APPROXIMATE = ("ae_response_hours",)


def _export(seed: int, world: World = TRUTH):
    res = simulate(world, seed=seed)
    return res.export(res.leads["created_at"].iloc[-1])  # taken when the last lead came in


def _calibrate(leads, events, **kw) -> Calibration:
    # the team's zone is given, as a column map's would be: London and Paris change clocks on
    # the same dates, so touch times alone cannot tell a 08:00 London shift from 09:00 Paris
    kw.setdefault("timezone", TRUTH.team.timezone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return calibrate(leads, events, **kw)


def _coverage(cal: Calibration) -> pd.DataFrame:
    t = cal.summary
    t = t[(t["status"] == "fitted") & t["ci_low"].notna()
          & ~t.index.isin(APPROXIMATE)].copy()
    t["truth"] = [value_at(TRUTH, name) for name in t.index]
    t = t[t["truth"].notna()]
    t["covered"] = (t["ci_low"] <= t["truth"]) & (t["truth"] <= t["ci_high"])
    return t


@pytest.fixture(scope="module")
def twin():
    leads, events = _export(seed=0)
    return _calibrate(leads, events), leads, events


def test_the_calibration_is_a_result_with_every_part(twin):
    cal, _, _ = twin
    assert_result_protocol(cal)
    t = cal.summary
    assert set(t["status"]) <= {"fitted", "inferred", "given", "assumed"}
    for part in ("arrivals", "team", "cadence", "response", "progression"):
        assert (t["part"] == part).any(), part
    # nothing invented silently: every assumed parameter says why
    assumed = t[t["status"] == "assumed"]
    assert assumed["note"].str.len().gt(10).all(), assumed["note"]
    # the structure is recovered exactly
    w = cal.world
    assert w.team.reps == 5 and w.team.shift == SHIFT and w.team.timezone == "Europe/London"
    assert w.team.workdays == (0, 1, 2, 3, 4, 5)
    assert [x.channel for x in w.cadence.touches] == [x.channel for x in TRUE_CADENCE.touches]
    assert [x.automated for x in w.cadence.touches] == [x.automated
                                                        for x in TRUE_CADENCE.touches]


def test_intervals_cover_the_known_truth(twin):
    """About 150 fitted intervals set beside the truth: under nominal 95% coverage the
    misses are binomial; allow the count that is exceeded with probability 0.1%."""
    cal, _, _ = twin
    t = _coverage(cal)
    assert len(t) > 100
    allowed = stats.binom.ppf(0.999, len(t), 0.05)
    missed = t[~t["covered"]]
    assert len(missed) <= allowed, missed[["estimate", "ci_low", "ci_high", "truth"]]


def test_the_twin_is_an_ordinary_scenario_file(twin, tmp_path):
    cal, _, _ = twin
    path = cal.write(tmp_path / "twin.yaml")
    sc = read_scenario(path)
    assert sc.worlds["baseline"] == cal.world
    table = pd.read_csv(tmp_path / "twin.parameters.csv", index_col="parameter")
    assert list(table.index) == list(cal.summary.index)
    text = path.read_text()
    assert text.startswith("# Twin calibrated by nurturelab calibrate")
    assert "twin.parameters.csv" in text.splitlines()[1]
    # simulate reads it unchanged
    res = simulate(sc.worlds["baseline"].__class__(**{
        **{f: getattr(sc.worlds["baseline"], f) for f in ("cadence", "team", "arrivals",
                                                          "response", "progression")},
        "leads": 300}), seed=1)
    assert len(res.leads) == 300


def test_a_given_cadence_is_used_as_given(twin):
    _, leads, events = twin
    cal = _calibrate(leads, events, cadence="seed_14_day")
    assert cal.world.cadence.name == "seed_14_day"
    assert cal.summary.loc["cadence", "status"] == "given"


def test_until_leaves_the_later_weeks_out(twin):
    _, leads, events = twin
    until = leads["created_at"].quantile(0.6)
    cal = _calibrate(leads, events, until=until)
    assert cal.until == until
    n_train = int((leads["created_at"] <= until).sum())
    assert cal.summary.loc["arrivals.per_day.paid_search", "n"] < n_train
    with pytest.raises(ValueError, match=r"'until' .* is before the export's first lead"):
        _calibrate(leads, events, until="2000-01-01")


def test_a_twin_back_tested_on_its_own_worlds_later_weeks_passes(twin, tmp_path):
    """Issue 12's check of the whole path: calibrate on the first months, write the scenario
    file, back-test it against the held-out last weeks of the same world. It passes; and the
    default world back-tested against the same weeks (a very different team) fails."""
    from nurturelab.twin.backtest import backtest

    _, leads, events = twin
    until = leads["created_at"].max() - pd.Timedelta(days=35)
    cal = _calibrate(leads, events, until=until)
    sc = read_scenario(cal.write(tmp_path / "twin.yaml"))
    bt = backtest(sc, leads, events, holdout_from=until, replications=8, seed=1)
    assert bt.passed, bt.summary[bt.summary["status"] == "fail"]
    assert (bt.summary["status"] == "pass").sum() >= 20
    default = backtest(World(), leads, events, holdout_from=until, replications=8, seed=1)
    assert not default.passed
    failed = set(default.summary.index[default.summary["status"] == "fail"])
    assert failed & {"speed_median_min", "contact_rate", "within_5min"}, failed


@pytest.mark.skipif(not (shared_data_dir() / "olist").is_dir(),
                    reason="the Olist data is not beside the project (../shared/data/olist)")
def test_olist_calibrates_and_names_what_it_assumed():
    """Olist sees leads and won deals only: arrivals are fitted, the team, cadence and
    response are assumed (named), and the win transition is set so that the simulated
    lead-to-won conversion matches the export's."""
    ex = load_olist()
    cal = _calibrate(ex.leads, ex.events, timezone="America/Sao_Paulo")
    # the export's won deals start in December 2017, months after its first leads: said so
    assert any("first 'won' event" in n and "since=" in n for n in cal.notes)
    t = cal.summary
    assert (t.loc[t["part"] == "arrivals", "status"] == "fitted").sum() > 15
    for part in ("response",):
        assert (t.loc[t["part"] == part, "status"] == "assumed").all(), part
    assert t.loc["cadence", "status"] == "assumed"
    assert "no touches" in t.loc["cadence", "note"]
    assert t.loc["progression.win.p", "status"] == "fitted"
    assert any("leads and won deals only" in n for n in cal.notes)
    assumed = cal.assumed
    assert any(k.startswith("response") for k in assumed)


@pytest.mark.skipif(not (shared_data_dir() / "olist").is_dir(),
                    reason="the Olist data is not beside the project (../shared/data/olist)")
def test_olist_back_test_of_its_last_three_months():
    """Trained on January and February 2018 (won deals are recorded from December 2017),
    back-tested on March to May: the conversion the twin was fitted to holds in the held-out
    months; what the export cannot show is unavailable, never 0. The README reports the
    result (the 7-day conversion fails: Olist's quick wins are quicker than a lognormal)."""
    from nurturelab.twin.backtest import backtest

    ex = load_olist()
    zone = "America/Sao_Paulo"
    since, until = (pd.Timestamp(d, tz=zone).tz_convert("UTC")
                    for d in ("2018-01-01", "2018-03-01"))
    cal = _calibrate(ex.leads, ex.events, since=since, until=until, timezone=zone)
    bt = backtest(cal.world, ex.leads, ex.events, holdout_from=until, replications=8, seed=0)
    s = bt.summary
    available = s[s["status"] != "unavailable"]
    assert set(available.index) == {"reached_won", "converted_7d", "converted_14d",
                                    "converted_30d", "converted_60d"}
    assert s.loc["reached_won", "status"] == "pass"
    assert (s.loc[s["status"] == "unavailable", "reason"].str.len() > 0).all()


@pytest.mark.slow
def test_coverage_over_many_seeds():
    """The recovery study: NURTURELAB_STUDY_REPS calibrations (4 in CI, 50 for the long
    version) of independently simulated exports of the known world. Every fitted interval
    should cover the truth 95% of the time: overall coverage at least 92%, and no parameter
    below the count nominal coverage reaches with probability 1% over all parameters."""
    reps = int(os.environ.get("NURTURELAB_STUDY_REPS", "4"))
    hits = []
    for seed in range(200, 200 + reps):
        t = _coverage(_calibrate(*_export(seed)))
        hits.append(t["covered"].rename(seed))
    hits = pd.concat(hits, axis=1)
    counts = hits.notna().sum(axis=1)
    rate = float(np.nanmean(hits.to_numpy(dtype=float)))
    print(f"\ntwin coverage over {reps} seeds: {rate:.3f} ({int(counts.sum())} intervals, "
          f"{len(hits)} parameters); lowest per parameter "
          f"{(hits.sum(axis=1) / counts).min():.2f}")
    assert rate >= 0.92, (hits.sum(axis=1) / counts).sort_values().head(10)
    least = stats.binom.ppf(0.01 / len(hits), counts, 0.95)
    low = hits.sum(axis=1) < least
    assert not low.any(), (hits.sum(axis=1) / counts)[low]
    assert math.isfinite(rate)
