"""Tests for :mod:`nurturelab.scoring.points`: exact scores of tiny tables, point in time, the
score history against scores(), thresholds as events, YAML round trips and refusals, and the
direction of effect on a synthetic export."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurturelab import funnel, schema, synthetic
from nurturelab.paths import project_root
from nurturelab.scoring.points import (
    DEFAULT_RULES,
    Decay,
    PointRule,
    PointRules,
    Threshold,
    crossings,
    read_point_rules,
    score_history,
    scores,
    threshold_events,
    write_point_rules,
)

T0 = pd.Timestamp("2026-01-05 09:00", tz="UTC")
DAY = pd.Timedelta(days=1)
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None)
ACTIVITY = ("email_open", "link_click", "demo_request", "pricing_visit")
RESPONSE = ("reply", "opt_out")
TYPE_OF = {**dict.fromkeys(ACTIVITY, "activity"), **dict.fromkeys(RESPONSE, "response"),
           "email": "touch"}
SALES_READY = Threshold("sales_ready", 50, "stage", stage="qualified")
WARM = Threshold("warm", 20, "alert")


def _tables(created: dict[str, pd.Timedelta], events: list[tuple[str, pd.Timedelta, str]]):
    """Validated leads (created T0 + offset) and events (lead, T0 + offset, name)."""
    leads = pd.DataFrame({"lead_id": list(created), "created_at": [T0 + d for d in
                                                                   created.values()],
                          "source": "web_form"})
    ev = pd.DataFrame(
        {
            "lead_id": [e[0] for e in events],
            "ts": pd.to_datetime([T0 + e[1] for e in events], utc=True),
            "type": [TYPE_OF[e[2]] for e in events],
            "name": [e[2] for e in events],
        }
    )
    leads = schema.validate_leads(leads)
    return leads, schema.validate_events(ev, leads)


def _slug(text: str) -> str:
    """A short test id from the start of a message pattern."""
    return "_".join(re.findall(r"[A-Za-z_]+", text)[:5])


@pytest.fixture(scope="module")
def tiny():
    """a: opens, a click and a demo request; b: never engaged; c: created on day 20."""
    return _tables(
        {"a": 0 * DAY, "b": 0 * DAY, "c": 20 * DAY},
        [
            ("a", 1 * DAY, "email_open"),
            ("a", 2 * DAY, "email_open"),
            ("a", 2 * DAY, "link_click"),
            ("a", 3 * DAY, "demo_request"),
            ("a", 4 * DAY, "email"),  # an outbound touch: no points, not engagement
            ("a", 5 * DAY, "reply"),  # no rule for replies by default
            ("c", 21 * DAY, "pricing_visit"),
        ],
    )


@pytest.fixture(scope="module")
def export300():
    return synthetic.make_export(n_leads=300, seed=3)


# --------------------------------------------------------------------------------------------
# Validation messages
# --------------------------------------------------------------------------------------------
INVALID_SETTINGS = [
    (lambda: PointRule("email_open", "5"), TypeError,
     "PointRule 'email_open' 'points' must be a finite number .* Got '5' instead"),
    (lambda: PointRule("email_open", float("nan")), ValueError,
     "'points' must be a finite number"),
    (lambda: PointRule("Email Open", 5), ValueError,
     "PointRule 'event' must be a snake_case label .* Got 'Email Open' instead. "
     "Use 'email_open'"),
    (lambda: PointRule("", 5), ValueError, "PointRule 'event' must be a non-empty label"),
    (lambda: PointRule(None, 5), TypeError, "PointRule 'event' must be a non-empty label"),
    (lambda: PointRule("reply", 5, type="answer"), ValueError,
     r"PointRule 'reply' 'type' must be one of \['touch', 'response', 'activity', "
     r"'stage'\] or None .* Got 'answer' instead"),
    (lambda: PointRule("email_open", 5, cap=-3), ValueError,
     "PointRule 'email_open' 'cap' must be a positive number .* Got -3 instead. "
     "Write e.g. cap=30"),
    (lambda: PointRule("email_open", 5, window_days=0), ValueError,
     "'window_days' must be a positive number of days .* Got 0 instead"),
    (lambda: Decay(30, 10), ValueError,
     "Decay 'points' must be a negative number .* Got 10 instead. .*decay=None"),
    (lambda: Decay(0, -10), ValueError, "Decay 'quiet_days' must be a positive number"),
    (lambda: Decay(30, -10, repeat="yes"), TypeError, "Decay 'repeat' must be true or false"),
    (lambda: Threshold("sales_ready", 50, "stage"), ValueError,
     "Threshold 'sales_ready' 'stage' must name the stage .* Got None instead"),
    (lambda: Threshold("hot", 50, "alert", stage="qualified"), ValueError,
     "Threshold 'hot' 'stage' must be None when action='alert'"),
    (lambda: Threshold("hot", 50, "email"), ValueError,
     r"Threshold 'hot' 'action' must be one of \['alert', 'stage'\]. Got 'email' instead"),
    (lambda: PointRules(()), ValueError, "PointRules 'rules' must hold at least one"),
    (lambda: PointRules("email_open"), TypeError,
     "PointRules 'rules' must be a sequence of PointRule"),
    (lambda: PointRules([{"event": "email_open", "points": 5}]), TypeError,
     r"PointRules 'rules\[0\]' must be a PointRule.*PointRules.from_dict"),
    (lambda: PointRules([PointRule("email_open", 5),
                         PointRule("email_open", 2, type="activity")]), ValueError,
     r"'rules\[1\]' 'email_open' \(type activity\) overlaps 'rules\[0\]' 'email_open' "
     r"\(any type\)"),
    (lambda: PointRules(DEFAULT_RULES.rules, decay=30), TypeError,
     "PointRules 'decay' must be a Decay or None. Got 30 instead"),
    (lambda: PointRules(DEFAULT_RULES.rules, floor=10, cap=10), ValueError,
     "PointRules 'cap' must be above 'floor'. Got cap=10 and floor=10"),
    (lambda: PointRules(DEFAULT_RULES.rules, thresholds=[WARM, WARM]), ValueError,
     r"'thresholds' names must be unique. Got \['warm'\]"),
    (lambda: PointRules(DEFAULT_RULES.rules, cap=40, thresholds=[SALES_READY]), ValueError,
     r"'thresholds\[0\]' \('sales_ready'\) score must be at most the cap 40"),
    (lambda: PointRules(DEFAULT_RULES.rules, floor=20, thresholds=[WARM]), ValueError,
     r"'thresholds\[0\]' \('warm'\) score must be above 20, the score of a new lead"),
]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [pytest.param(*case, id=_slug(case[2])) for case in INVALID_SETTINGS],
)
def test_invalid_settings_are_refused_with_a_message_naming_field_and_fix(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_settings_are_frozen_and_numbers_become_floats():
    rule = PointRule("email_open", 5, cap=np.int64(20))
    assert (rule.points, rule.cap) == (5.0, 20.0) and isinstance(rule.cap, float)
    with pytest.raises(AttributeError):
        rule.points = 6  # type: ignore[misc]
    assert PointRules([rule]).rules == (rule,)
    assert DEFAULT_RULES.decay == Decay(30, -10) and DEFAULT_RULES.floor == 0.0


# --------------------------------------------------------------------------------------------
# Exact scores of a tiny table
# --------------------------------------------------------------------------------------------
def test_columns_index_and_who_is_scored(tiny):
    leads, events = tiny
    s = scores(leads, events, as_of=T0 + 10 * DAY)
    assert list(s.index) == ["a", "b"]  # c is created after the as-of time
    assert s.index.name == "lead_id"
    assert list(s.columns) == ["score", "points", "decay", "last_engaged_at", "quiet_days",
                               "points_email_open", "points_link_click",
                               "points_demo_request", "points_pricing_visit"]
    assert s.attrs["as_of"] == T0 + 10 * DAY
    assert list(scores(leads, events, as_of=T0 + 21 * DAY).index) == ["a", "b", "c"]
    assert scores(leads, events, as_of=T0 - DAY).empty


def test_points_opens_clicks_and_a_demo_request(tiny):
    leads, events = tiny
    a = scores(leads, events, as_of=T0 + 10 * DAY).loc["a"]
    assert (a["points_email_open"], a["points_link_click"], a["points_demo_request"]) == (
        10.0, 10.0, 25.0)
    assert (a["points"], a["decay"], a["score"]) == (45.0, 0.0, 45.0)
    assert a["last_engaged_at"] == T0 + 3 * DAY  # the touch and the reply are not engagement
    assert a["quiet_days"] == 7.0
    # only events at or before the as-of time count
    early = scores(leads, events, as_of=T0 + 2 * DAY).loc["a"]
    assert (early["points"], early["last_engaged_at"]) == (20.0, T0 + 2 * DAY)


@pytest.mark.parametrize(
    ("quiet", "decay", "score"),
    [(29.99, 0.0, 45.0), (30, -10.0, 35.0), (59.99, -10.0, 35.0), (60, -20.0, 25.0),
     (125, -40.0, 5.0), (200, -60.0, 0.0)],
)
def test_decay_for_every_full_30_quiet_days_then_the_floor(tiny, quiet, decay, score):
    leads, events = tiny
    a = scores(leads, events, as_of=T0 + 3 * DAY + quiet * DAY).loc["a"]
    assert (a["points"], a["decay"], a["score"]) == (45.0, decay, score)
    assert a["quiet_days"] == pytest.approx(quiet)


def test_decay_once_and_no_floor_and_no_decay(tiny):
    leads, events = tiny
    once = PointRules(DEFAULT_RULES.rules, decay=Decay(30, -10, repeat=False))
    at = T0 + 3 * DAY + 95 * DAY
    assert scores(leads, events, once, as_of=at).loc["a", "decay"] == -10.0
    # a lead that never engaged decays from its creation; without a floor it goes negative
    no_floor = PointRules(DEFAULT_RULES.rules, floor=None)
    b = scores(leads, events, no_floor, as_of=T0 + 60 * DAY).loc["b"]
    assert (b["points"], b["decay"], b["score"], b["quiet_days"]) == (0.0, -20.0, -20.0, 60.0)
    assert pd.isna(b["last_engaged_at"])
    assert scores(leads, events, as_of=T0 + 60 * DAY).loc["b", "score"] == 0.0  # the floor
    none = PointRules(DEFAULT_RULES.rules, decay=None)
    assert scores(leads, events, none, as_of=T0 + 400 * DAY).loc["a", "score"] == 45.0


def test_rule_caps_and_the_total_cap(tiny):
    leads, events = tiny
    capped = PointRules(
        (PointRule("email_open", 5, cap=8), PointRule("link_click", 10),
         PointRule("demo_request", 25)),
        cap=40,
    )
    a = scores(leads, events, capped, as_of=T0 + 10 * DAY).loc["a"]
    assert (a["points_email_open"], a["points"], a["score"]) == (8.0, 43.0, 40.0)
    # a decayed score below the cap shows the decay in full
    later = scores(leads, events, capped, as_of=T0 + 3 * DAY + 30 * DAY).loc["a"]
    assert later["score"] == 33.0


def test_window_days_counts_recent_events_only_boundary_included(tiny):
    leads, events = tiny
    rules = PointRules((PointRule("email_open", 5, window_days=7), PointRule("link_click", 10)),
                       decay=None)
    # opens on days 1 and 2: on day 8 both are within 7 days (day 1 is exactly 7 days before)
    on_day = {8: 10.0, 8.5: 5.0, 9: 5.0, 9.01: 0.0}
    for day, expected in on_day.items():
        got = scores(leads, events, rules, as_of=T0 + day * DAY).loc["a", "points_email_open"]
        assert got == expected, day
    # events out of the window still count as engagement for the decay
    ruled = PointRules((PointRule("email_open", 5, window_days=7),))
    a = scores(leads, events, ruled, as_of=T0 + 32 * DAY).loc["a"]
    assert (a["points"], a["decay"], a["last_engaged_at"]) == (0.0, -10.0, T0 + 2 * DAY)


def test_event_type_restriction_and_negative_rules():
    leads, events = _tables(
        {"a": 0 * DAY},
        [("a", 0 * DAY, "email"), ("a", 1 * DAY, "demo_request"), ("a", 40 * DAY, "opt_out")],
    )
    rules = PointRules(
        (PointRule("demo_request", 25), PointRule("email", 1, type="touch"),
         PointRule("opt_out", -50, type="response"), PointRule("email_open", 5, type="touch")),
        floor=None,
    )
    a = scores(leads, events, rules, as_of=T0 + 45 * DAY).loc["a"]
    assert a["points_touch.email"] == 1.0
    assert a["points_touch.email_open"] == 0.0  # opens are activity events, not touches
    assert a["points_response.opt_out"] == -50.0
    # an opt-out is not engagement: the quiet clock runs from the demo request
    assert (a["last_engaged_at"], a["decay"], a["score"]) == (T0 + DAY, -10.0, -34.0)


def test_as_of_naive_reads_as_utc_and_bad_inputs_are_named(tiny):
    leads, events = tiny
    naive = scores(leads, events, as_of="2026-01-15 09:00")
    pd.testing.assert_frame_equal(naive, scores(leads, events, as_of=T0 + 10 * DAY))
    other_zone = scores(leads, events, as_of=pd.Timestamp("2026-01-15 06:00", tz="Etc/GMT+3"))
    pd.testing.assert_frame_equal(naive, other_zone)
    with pytest.raises(ValueError, match="'as_of' must be a timestamp such as '2026-03-01'. "
                                         "Got 'soon' instead"):
        scores(leads, events, as_of="soon")
    with pytest.raises(TypeError, match="leads must be a pandas DataFrame. Got dict instead"):
        scores(leads.to_dict("list"), events, as_of=T0)
    with pytest.raises(KeyError, match=r"events lacks the column\(s\) \['name'\]"):
        scores(leads, events.drop(columns="name"), as_of=T0)
    with pytest.raises(TypeError, match="leads 'created_at' must hold timestamps"):
        scores(leads.assign(created_at="2026-01-05"), events, as_of=T0)
    with pytest.raises(TypeError, match="'rules' must be a PointRules"):
        scores(leads, events, DEFAULT_RULES.rules, as_of=T0)
    with pytest.raises(ValueError, match=r"leads 'lead_id' must be unique. Got repeated ids"):
        scores(pd.concat([leads, leads]), events, as_of=T0)


def test_events_of_unknown_leads_are_ignored_and_no_events_is_fine(tiny):
    leads, events = tiny
    stranger = events.iloc[:1].assign(lead_id="zzz")
    at = T0 + 10 * DAY
    pd.testing.assert_frame_equal(scores(leads, pd.concat([events, stranger]), as_of=at),
                                  scores(leads, events, as_of=at))
    empty = scores(leads, events.iloc[:0], as_of=at)
    assert empty["score"].tolist() == [0.0, 0.0] and empty["last_engaged_at"].isna().all()


# --------------------------------------------------------------------------------------------
# Point in time, and agreement with a plain per-lead reference
# --------------------------------------------------------------------------------------------
def _reference(leads: pd.DataFrame, events: pd.DataFrame, rules: PointRules, as_of) -> dict:
    """The rules applied one lead at a time, as the module docstring states them."""
    out = {}
    for lead_id, created in zip(leads["lead_id"], leads["created_at"], strict=True):
        if created > as_of:
            continue
        ev = events[(events["lead_id"] == lead_id) & (events["ts"] <= as_of)]
        points, last = 0.0, None
        for r in rules.rules:
            mine = ev[ev["name"] == r.event]
            if r.type is not None:
                mine = mine[mine["type"] == r.type]
            if r.points >= 0 and len(mine):
                last = mine["ts"].max() if last is None else max(last, mine["ts"].max())
            if r.window_days is not None:
                mine = mine[mine["ts"] >= as_of - pd.Timedelta(days=r.window_days)]
            got = len(mine) * r.points
            if r.cap is not None:
                got = max(-r.cap, min(r.cap, got))
            points += got
        decay = 0.0
        if rules.decay is not None:
            k = (as_of - (created if last is None else last)) // pd.Timedelta(
                days=rules.decay.quiet_days)
            decay = rules.decay.points * (k if rules.decay.repeat else min(k, 1))
        score = points + decay
        if rules.floor is not None:
            score = max(score, rules.floor)
        if rules.cap is not None:
            score = min(score, rules.cap)
        out[lead_id] = score
    return out


NAMES = ACTIVITY + RESPONSE


# Times are counted in 6-hour ticks before the as-of time; windows (0.5, 2, 7 days) and quiet
# stretches (1, 2.5, 30 days) are whole numbers of ticks, and the ages drawn favour them, so
# that events often sit exactly on a boundary.
BOUNDARY_AGES = (0, 2, 4, 8, 10, 20, 28, 120)


@st.composite
def worlds(draw):
    """Three leads, up to 30 events, an as-of time, and random rules."""
    as_of = 140
    created = {"L0": draw(st.integers(0, 20)), "L1": draw(st.integers(0, 20)),
               "L2": as_of - draw(st.integers(-4, 40))}  # L2 may be created after as_of
    n = draw(st.integers(0, 30))
    age = st.one_of(st.sampled_from(BOUNDARY_AGES), st.integers(-20, 120))
    events = [
        (lead, as_of - draw(age), draw(st.sampled_from(NAMES)))
        for lead in draw(st.lists(st.sampled_from(list(created)), min_size=n, max_size=n))
    ]
    events = [e for e in events if e[1] >= created[e[0]]]  # none before its lead's creation
    picked = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    rules = tuple(
        PointRule(
            name,
            draw(st.sampled_from([-20, 3, 5, 10, 25])),
            type=draw(st.sampled_from([None, TYPE_OF[name]])),
            cap=draw(st.sampled_from([None, 12, 30])),
            window_days=draw(st.sampled_from([None, 0.5, 2, 7])),
        )
        for name in picked
    )
    decay = draw(st.sampled_from([None, Decay(1, -3), Decay(2.5, -10, repeat=False), Decay()]))
    floor = draw(st.sampled_from([None, 0.0, -15.0]))
    cap = draw(st.sampled_from([None, 40.0]))
    tick = pd.Timedelta(hours=6)
    leads = pd.DataFrame({"lead_id": list(created),
                          "created_at": [T0 + k * tick for k in created.values()]})
    ev = pd.DataFrame({
        "lead_id": pd.Series([e[0] for e in events], dtype=object),
        "ts": pd.to_datetime([T0 + e[1] * tick for e in events], utc=True),
        "type": pd.Series([TYPE_OF[e[2]] for e in events], dtype=object),
        "name": pd.Series([e[2] for e in events], dtype=object),
    })
    return leads, ev, PointRules(rules, decay=decay, floor=floor, cap=cap), T0 + as_of * tick


@PROPERTY
@given(world=worlds(), later=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 24 * 90),
                                                st.sampled_from(NAMES)), max_size=10))
def test_events_after_as_of_change_nothing(world, later):
    leads, events, rules, as_of = world
    extra = pd.DataFrame({
        "lead_id": pd.Series([f"L{i}" for i, _, _ in later], dtype=object),
        "ts": pd.to_datetime([as_of + pd.Timedelta(minutes=m) for _, m, _ in later], utc=True),
        "type": pd.Series([TYPE_OF[n] for _, _, n in later], dtype=object),
        "name": pd.Series([n for _, _, n in later], dtype=object),
    })
    before = scores(leads, events, rules, as_of=as_of)
    after = scores(leads, pd.concat([events, extra], ignore_index=True), rules, as_of=as_of)
    pd.testing.assert_frame_equal(before, after)


@PROPERTY
@given(world=worlds())
def test_scores_agree_with_a_per_lead_reference(world):
    leads, events, rules, as_of = world
    got = scores(leads, events, rules, as_of=as_of)["score"].to_dict()
    assert got == _reference(leads, events, rules, as_of)


# --------------------------------------------------------------------------------------------
# Score history
# --------------------------------------------------------------------------------------------
RICH = PointRules(
    (PointRule("email_open", 5, cap=15), PointRule("link_click", 10, window_days=14),
     PointRule("demo_request", 25), PointRule("pricing_visit", 25, window_days=30),
     PointRule("opt_out", -40)),
    decay=Decay(7, -5),
    cap=100,
    thresholds=(WARM, SALES_READY),
)


@pytest.mark.parametrize(
    ("rules", "freq", "start", "end"),
    [(DEFAULT_RULES, "D", None, None),
     (RICH, "D", None, None),
     (RICH, "6h", "2026-09-20", "2026-10-05 12:00")],
)
def test_score_history_equals_scores_at_each_grid_time(export300, rules, freq, start, end):
    leads, events = export300
    h = score_history(leads, events, rules, freq=freq, start=start, end=end)
    assert list(h.columns) == ["lead_id", "at", "score"]
    grid = h["at"].unique()
    assert len(grid) > 20
    for at in grid:
        expected = scores(leads, events, rules, as_of=at)["score"]
        got = h.loc[h["at"] == at].set_index("lead_id")["score"]
        pd.testing.assert_series_equal(got, expected, check_names=False, check_index_type=False)


def test_score_history_default_grid_covers_the_data(export300):
    leads, events = export300
    h = score_history(leads, events)
    grid = pd.DatetimeIndex(h["at"].unique())
    # the grid starts at midnight of the first creation day; rows from the first time after it
    assert grid[0] == leads["created_at"].min().ceil("D")
    assert (grid[1:] - grid[:-1] == DAY).all()
    latest = max(leads["created_at"].max(),
                 events.loc[events["name"].isin(ACTIVITY), "ts"].max())
    assert grid[-2] < latest <= grid[-1]
    # each lead from the first grid time at or after its creation, through the end
    first = h.groupby("lead_id", sort=False)["at"].min()
    created = leads.set_index("lead_id")["created_at"]
    assert (first >= created.reindex(first.index)).all()
    assert (first - DAY < created.reindex(first.index)).all()
    assert h["lead_id"].nunique() == len(leads)
    assert len(score_history(leads, events, start="2026-12-01", end="2026-11-01")) == 0
    with pytest.raises(ValueError, match="'freq' must be a pandas frequency"):
        score_history(leads, events, freq="fortnightly")


# --------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------
def test_crossings_first_upward_crossing_of_each_threshold():
    at = pd.date_range("2026-01-01", periods=5, tz="UTC")
    history = pd.DataFrame({
        "lead_id": ["a"] * 5 + ["b"] * 5,
        "at": list(at) * 2,
        "score": [0, 25, 55, 10, 60] + [0, 5, 10, 15, 19],
    })
    rules = PointRules(DEFAULT_RULES.rules, thresholds=(WARM, SALES_READY))
    cx = crossings(history, rules)
    assert list(cx.columns) == ["lead_id", "threshold", "at", "score", "action", "stage"]
    assert cx[["lead_id", "threshold", "at", "score"]].values.tolist() == [
        ["a", "warm", at[1], 25], ["a", "sales_ready", at[2], 55]]
    assert cx["action"].tolist() == ["alert", "stage"]
    assert cx["stage"].tolist() == [None, "qualified"]
    assert crossings(history, [SALES_READY])["at"].tolist() == [at[2]]
    none = crossings(history, DEFAULT_RULES)
    assert none.empty and list(none.columns) == list(cx.columns)
    with pytest.raises(KeyError, match=r"history lacks the column\(s\) \['score'\]"):
        crossings(history.drop(columns="score"), rules)


def test_crossings_on_a_synthetic_history_are_first_times_at_or_above(export300):
    leads, events = export300
    h = score_history(leads, events, RICH)
    cx = crossings(h, RICH)
    assert set(cx["threshold"]) == {"warm", "sales_ready"}
    assert not cx.duplicated(["lead_id", "threshold"]).any()
    for t in RICH.thresholds:
        reached = h[h["score"] >= t.score].groupby("lead_id")["at"].min()
        got = cx[cx["threshold"] == t.name].set_index("lead_id")["at"]
        pd.testing.assert_series_equal(got.sort_index(), reached.sort_index(),
                                       check_names=False)


def test_threshold_events_are_valid_stage_events_the_funnel_reads(export300):
    leads, events = export300
    cx = crossings(score_history(leads, events, RICH), RICH)
    ev = threshold_events(cx)
    stage_rows = cx[cx["action"] == "stage"]
    assert len(ev) == len(stage_rows) > 0
    assert list(ev.columns) == list(schema.EVENT_COLUMNS)
    assert set(ev["type"]) == {"stage"} and set(ev["name"]) == {"qualified"}
    assert ev["ts"].is_monotonic_increasing
    checked = schema.validate_events(ev, leads)
    pd.testing.assert_frame_equal(checked, ev, check_categorical=False)
    # appended to the export, they move those leads to qualified in the funnel
    both = schema.validate_events(pd.concat([events, ev], ignore_index=True), leads)
    out = funnel.outcomes(leads, both)
    qualified = funnel.DEFAULT_FUNNEL.index("qualified")
    assert (out.loc[ev["lead_id"], "stage_index"] >= qualified).all()
    # alerts are not events; two thresholds naming one stage give one event per lead
    assert threshold_events(cx[cx["action"] == "alert"]).empty
    twice = pd.concat([stage_rows, stage_rows.assign(threshold="again")])
    assert len(threshold_events(twice)) == len(ev)


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------
DEFAULT_FILE = project_root() / "simulations" / "points" / "default.yaml"


def test_shipped_default_file_reads_back_equal_and_is_current(tmp_path):
    assert read_point_rules(DEFAULT_FILE) == DEFAULT_RULES
    write_point_rules(DEFAULT_RULES, tmp_path / "now.yaml")
    assert (tmp_path / "now.yaml").read_text() == DEFAULT_FILE.read_text()


def test_round_trip_of_every_setting(tmp_path):
    rules = PointRules(
        (PointRule("email_open", 2.5, cap=10), PointRule("reply", 15, type="response",
                                                          window_days=0.5)),
        decay=Decay(quiet_days=14, points=-7.5, repeat=False),
        floor=None,
        cap=80,
        thresholds=(WARM, SALES_READY),
    )
    path = tmp_path / "rules.yaml"
    write_point_rules(rules, path)
    assert read_point_rules(path) == rules
    no_decay = PointRules(DEFAULT_RULES.rules, decay=None)
    write_point_rules(no_decay, path)
    assert read_point_rules(path) == no_decay
    with pytest.raises(TypeError, match="write_point_rules needs a PointRules"):
        write_point_rules(rules.to_dict(), path)


BAD_FILES = [
    ("rules: [{event: email_open, points: 5}]\ndecya: null\n", ValueError,
     r"unknown key\(s\) \['decya'\]; allowed keys are \['rules', 'decay', 'floor', 'cap', "
     r"'thresholds'\]"),
    ("rules: [{event: email_open, points: 5}, {event: link_click, pts: 10}]\n", ValueError,
     r"rules\[1\]: unknown key\(s\) \['pts'\]; allowed keys are \['event', 'points', "
     r"'type', 'cap', 'window_days'\]"),
    ("rules: [{event: email_open, points: 5}]\ndecay: {quiet: 30}\n", ValueError,
     r"decay: unknown key\(s\) \['quiet'\]"),
    ("rules: [{event: email_open, points: 5}]\n"
     "thresholds: [{name: hot, score: 30, action: alert, colour: red}]\n", ValueError,
     r"thresholds\[0\]: unknown key\(s\) \['colour'\]"),
    ("rules: [{event: email_open, points: five}]\n", TypeError,
     r"rules\[0\]: PointRule 'email_open' 'points' must be a finite number .* "
     "Got 'five' instead"),
    ("rules: [{event: email_open, points: 5}]\ndecay: {points: 10}\n", ValueError,
     "decay: Decay 'points' must be a negative number"),
    ("rules: [{event: email_open, points: 5}]\ncap: 20\n"
     "thresholds: [{name: hot, score: 30, action: alert}]\n", ValueError,
     r"PointRules 'thresholds\[0\]' \('hot'\) score must be at most the cap 20"),
    ("rules: [{event: email_open}]\n", ValueError,
     r"rules\[0\]: missing key\(s\) \['points'\]"),
    ("decay: null\n", ValueError, r"missing key\(s\) \['rules'\]"),
    ("rules: {event: email_open, points: 5}\n", TypeError, "'rules' must be a list"),
    ("rules: [{event: email_open, points: 5, points: 6}]\n", ValueError,
     "not valid YAML: .*key 'points' is given twice"),
    ("", ValueError, "the point rules file is empty"),
    ("- just a list\n", TypeError, "must be a mapping with keys among"),
]


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [pytest.param(*case, id=_slug(case[2])) for case in BAD_FILES],
)
def test_bad_files_are_refused_naming_file_key_and_value(tmp_path, text, error, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(error, match=match) as info:
        read_point_rules(path)
    assert str(info.value).startswith(str(path))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'nope.yaml'}: no such")):
        read_point_rules(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------------------------
# Inputs untouched; direction of effect
# --------------------------------------------------------------------------------------------
def test_inputs_are_not_mutated(export300):
    leads, events = export300
    leads_before, events_before = leads.copy(deep=True), events.copy(deep=True)
    h = score_history(leads, events, RICH)
    h_before = h.copy(deep=True)
    scores(leads, events, RICH, as_of=events["ts"].max())
    cx = crossings(h, RICH)
    cx_before = cx.copy(deep=True)
    threshold_events(cx)
    pd.testing.assert_frame_equal(leads, leads_before)
    pd.testing.assert_frame_equal(events, events_before)
    pd.testing.assert_frame_equal(h, h_before)
    pd.testing.assert_frame_equal(cx, cx_before)


@pytest.fixture(scope="module")
def export20k():
    return synthetic.make_export(n_leads=20_000, seed=11)


def test_leads_that_convert_score_higher_on_average(export20k):
    leads, events = export20k
    end = events["ts"].max()
    s = scores(leads, events, as_of=end)["score"]
    converted = funnel.outcomes(leads, events, as_of=end)["converted"].reindex(s.index)
    assert converted.sum() > 100
    assert s[converted].mean() > s[~converted].mean() + 5


def test_score_four_weeks_earlier_points_to_later_conversion(export20k):
    """Scored as of a cut-off, leads still open then convert more often if they scored high."""
    leads, events = export20k
    end = events["ts"].max()
    cut = end - pd.Timedelta(days=28)
    before = funnel.outcomes(leads, events, as_of=cut)
    still_open = before.index[~before["converted"].to_numpy()]
    s = scores(leads, events, as_of=cut)["score"].reindex(still_open)
    later = funnel.outcomes(leads, events, as_of=end)["converted"].reindex(still_open)
    assert later.sum() > 100
    assert s[later].mean() > s[~later].mean() + 5
