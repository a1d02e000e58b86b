"""Exact known answers for nurturelab.funnel on tiny hand-built worlds.

Every world is a handful of leads with a few events at fixed UTC timestamps, validated through
the data contract (``validate_leads`` / ``validate_events``); the expected numbers are worked out
by hand in the comments. One scale test runs the whole report on a 20,000-lead sample export.
"""

from __future__ import annotations

import datetime as dt
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from nurturelab import funnel as F
from nurturelab.funnel import DEFAULT_FUNNEL, Funnel, Stage, read_funnel, write_funnel
from nurturelab.schema import validate_events, validate_leads
from nurturelab.synthetic import make_export

# the shared result-protocol check (tests/ is not a package: load it by path)
from resultcheck import assert_result_protocol

EVENT_COLS = ["lead_id", "ts", "type", "name", "channel", "step"]
CHANNEL = {
    "call_attempt": "call", "voicemail": "call", "connect": "call",
    "sms": "sms", "email": "email", "reply": "email", "opt_out": "sms",
    "email_open": "email", "pricing_visit": "web", "demo_request": "web", "link_click": "web",
}
TYPE = {
    "call_attempt": "touch", "voicemail": "touch", "sms": "touch", "email": "touch",
    "connect": "response", "reply": "response", "opt_out": "response",
    "email_open": "activity", "pricing_visit": "activity", "demo_request": "activity",
    "link_click": "activity",
}


def T(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def world(leads: dict[str, str], events: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validated (leads, events). ``leads`` maps id -> created_at; an event is
    ``(lead_id, ts, name)`` or ``(lead_id, ts, name, step)``; names not in TYPE are stage
    events."""
    ld = pd.DataFrame({"lead_id": list(leads), "created_at": list(leads.values()),
                       "source": "web"})
    rows = []
    for e in events:
        lead_id, ts, name, *rest = e
        step = rest[0] if rest else None
        rows.append((lead_id, ts, TYPE.get(name, "stage"), name, CHANNEL.get(name), step))
    ld = validate_leads(ld)
    ev = validate_events(pd.DataFrame(rows, columns=EVENT_COLS), ld)
    return ld, ev


# --------------------------------------------------------------------------------------------
# The main world, as of 2026-01-20 12:00 UTC
# --------------------------------------------------------------------------------------------
AS_OF = T("2026-01-20 12:00")


@pytest.fixture
def main_world():
    leads = {
        "A": "2026-01-05 09:00",  # exit criteria: connect -> contacted, demo_request -> qualified
        "B": "2026-01-05 10:00",  # only a `won` event
        "C": "2026-01-06 12:00",  # lost while new
        "D": "2026-01-07 00:00",  # `proposal` stage event; won only after as_of
        "E": "2026-01-21 00:00",  # created after as_of
        "F": "2026-01-08 00:00",  # the full observed path to won
        "G": "2026-01-18 00:00",  # no events: open in new for 2.5 days
        "H": "2026-01-19 12:00",  # touched and opened an email only: open in new for 1 day
    }
    events = [
        ("A", "2026-01-05 09:06", "call_attempt", 0),
        ("A", "2026-01-05 15:00", "connect"),
        ("A", "2026-01-06 08:00", "pricing_visit"),
        ("A", "2026-01-07 09:00", "demo_request"),
        ("B", "2026-01-09 10:00", "won"),
        ("C", "2026-01-06 12:30", "email", 0),
        ("C", "2026-01-08 12:00", "lost"),
        ("D", "2026-01-10 00:00", "proposal"),
        ("D", "2026-01-25 00:00", "won"),
        ("E", "2026-01-21 00:05", "call_attempt", 0),
        ("E", "2026-01-21 00:06", "connect"),
        ("F", "2026-01-08 12:00", "reply"),
        ("F", "2026-01-09 00:00", "qualified"),
        ("F", "2026-01-11 00:00", "proposal"),
        ("F", "2026-01-15 00:00", "won"),
        ("H", "2026-01-19 12:10", "email", 0),
        ("H", "2026-01-19 13:00", "email_open"),
    ]
    return world(leads, events)


@pytest.fixture
def main_out(main_world):
    leads, events = main_world
    return F.outcomes(leads, events, as_of=AS_OF)


def test_outcomes_furthest_stage_and_status(main_out):
    out = main_out
    assert list(out.index) == ["A", "B", "C", "D", "F", "G", "H"]  # E created after as_of
    assert out.index.name == "lead_id"
    assert out["stage"].astype(str).to_dict() == {
        "A": "qualified", "B": "won", "C": "new", "D": "proposal", "F": "won", "G": "new",
        "H": "new",
    }
    assert out["stage_index"].to_dict() == {"A": 2, "B": 4, "C": 0, "D": 3, "F": 4, "G": 0,
                                            "H": 0}
    assert list(out["stage"].cat.categories) == list(DEFAULT_FUNNEL.names)
    assert out["stage"].cat.ordered
    assert out["status"].astype(str).to_dict() == {
        "A": "open", "B": "won", "C": "lost", "D": "open", "F": "won", "G": "open", "H": "open",
    }
    assert out["converted"].to_dict() == {"A": False, "B": True, "C": False, "D": False,
                                          "F": True, "G": False, "H": False}
    assert out["censored"].to_dict() == {k: not v for k, v in out["converted"].items()}


def test_outcomes_exit_criteria_move_a_lead(main_out):
    a = main_out.loc["A"]
    assert a["entered_new"] == T("2026-01-05 09:00")
    assert a["entered_contacted"] == T("2026-01-05 15:00")  # the connect, not the touch
    assert a["entered_qualified"] == T("2026-01-07 09:00")  # the demo request
    assert pd.isna(a["entered_proposal"]) and pd.isna(a["entered_won"])
    assert a["stage_entered_at"] == T("2026-01-07 09:00")
    assert a["days_in_stage"] == pytest.approx(13.125)
    # a reply moves new -> contacted too; a touch or an email open moves nothing
    assert main_out.loc["F", "entered_contacted"] == T("2026-01-08 12:00")
    assert main_out.loc["H", "stage"] == "new"


def test_outcomes_stage_event_sets_furthest_stage_without_earlier_entries(main_out):
    d = main_out.loc["D"]
    assert d["stage"] == "proposal"
    assert d["entered_proposal"] == T("2026-01-10 00:00")
    assert pd.isna(d["entered_contacted"]) and pd.isna(d["entered_qualified"])
    assert d["days_in_stage"] == pytest.approx(10.5)


def test_outcomes_won_only_lead(main_out):
    b = main_out.loc["B"]
    assert b["stage"] == "won" and b["status"] == "won" and bool(b["converted"])
    assert not b["censored"]
    assert b["converted_at"] == T("2026-01-09 10:00")
    assert b["time_to_convert_days"] == pytest.approx(4.0)
    assert b["duration_days"] == pytest.approx(4.0)
    assert b["age_days"] == pytest.approx(15 + 2 / 24)
    assert pd.isna(b["lost_at"])
    for stage in ("contacted", "qualified", "proposal"):
        assert pd.isna(b[f"entered_{stage}"])  # skipped stages: no observed entry


def test_outcomes_conversion_timing(main_out):
    f = main_out.loc["F"]
    assert f["converted_at"] == T("2026-01-15 00:00")
    assert f["time_to_convert_days"] == pytest.approx(7.0)
    assert f["duration_days"] == pytest.approx(7.0)
    assert main_out["time_to_convert_days"][~main_out["converted"]].isna().all()
    assert main_out["converted_at"][~main_out["converted"]].isna().all()


def test_outcomes_lost_lead_stays_censored_to_as_of(main_out):
    c = main_out.loc["C"]
    assert c["status"] == "lost" and not c["converted"] and c["censored"]
    assert c["lost_at"] == T("2026-01-08 12:00")
    assert c["duration_days"] == pytest.approx(14.0)  # to as_of, not to lost_at
    assert pd.isna(c["time_to_convert_days"])


def test_outcomes_win_after_loss_is_won():
    leads, events = world({"a": "2026-01-05 09:00"},
                          [("a", "2026-01-05 10:00", "connect"), ("a", "2026-01-06 09:00", "lost"),
                           ("a", "2026-01-10 09:00", "won")])
    a = F.outcomes(leads, events).loc["a"]
    assert a["status"] == "won" and a["converted"] and not a["censored"]
    assert pd.isna(a["lost_at"])
    assert a["time_to_convert_days"] == pytest.approx(5.0)
    early = F.outcomes(leads, events, as_of="2026-01-08").loc["a"]
    assert early["status"] == "lost" and early["lost_at"] == T("2026-01-06 09:00")
    assert early["stage"] == "contacted"


def test_outcomes_open_leads_durations(main_out):
    out = main_out
    assert out.loc["A", "duration_days"] == pytest.approx(15.125)
    assert out.loc["G", "duration_days"] == pytest.approx(2.5)
    assert out.loc["G", "days_in_stage"] == pytest.approx(2.5)
    assert out.loc["H", "age_days"] == pytest.approx(1.0)
    assert out.attrs["as_of"] == AS_OF


def test_as_of_converted_after_is_censored_as_of_then(main_world, main_out):
    leads, events = main_world
    d = main_out.loc["D"]
    assert not d["converted"] and d["censored"] and d["status"] == "open"
    assert pd.isna(d["converted_at"])
    assert d["duration_days"] == pytest.approx(13.5)
    # with the default as_of (the latest timestamp, D's win on 2026-01-25) D has converted
    late = F.outcomes(leads, events)
    assert late.attrs["as_of"] == T("2026-01-25 00:00")
    assert "E" in late.index
    assert late.loc["D", "converted"] and not late.loc["D", "censored"]
    assert late.loc["D", "time_to_convert_days"] == pytest.approx(18.0)


def test_as_of_ignores_later_events_and_excludes_later_leads(main_world):
    leads, events = main_world
    out = F.outcomes(leads, events, as_of="2026-01-08 12:00")
    assert list(out.index) == ["A", "B", "C", "D", "F"]  # F created 01-08 00:00, G/H later
    # events exactly at as_of count, later ones do not
    assert out.loc["C", "status"] == "lost"
    assert out.loc["F", "stage"] == "contacted"  # reply at 12:00 exactly, qualified later
    assert out.loc["B", "status"] == "open" and out.loc["B", "stage"] == "new"
    assert out.loc["D", "stage"] == "new"
    assert out.loc["A", "stage"] == "qualified"


def test_as_of_lead_created_exactly_at_as_of_is_included(main_world):
    leads, events = main_world
    out = F.outcomes(leads, events, as_of="2026-01-18 00:00")
    assert "G" in out.index and "H" not in out.index
    assert out.loc["G", "age_days"] == 0.0


@pytest.mark.parametrize(
    "as_of",
    [
        "2026-01-20 12:00",
        "2026-01-20T12:00:00",
        dt.datetime(2026, 1, 20, 12, 0),
        pd.Timestamp("2026-01-20 12:00"),
        "2026-01-20T13:00:00+01:00",
        pd.Timestamp("2026-01-20 07:00", tz="America/New_York"),
    ],
)
def test_as_of_naive_is_utc_and_offsets_are_honoured(main_world, main_out, as_of):
    leads, events = main_world
    out = F.outcomes(leads, events, as_of=as_of)
    assert out.attrs["as_of"] == AS_OF
    assert str(out.attrs["as_of"].tz) == "UTC"
    pd.testing.assert_frame_equal(out, main_out)


# --------------------------------------------------------------------------------------------
# Stage metrics
# --------------------------------------------------------------------------------------------
def test_stage_conversion_counts(main_out):
    t = F.stage_conversion(main_out)
    assert list(t.index) == ["new", "contacted", "qualified", "proposal", "won"]
    assert t["owner"].tolist() == ["sdr", "sdr", "ae", "ae", "ae"]
    # k: A=2, B=4, C=0 (lost), D=3, F=4, G=0, H=0; B reached every stage
    assert t["reached"].tolist() == [7, 4, 4, 3, 2]
    assert t["moved_on"].tolist()[:4] == [4, 4, 3, 2]
    assert np.isnan(t.loc["won", "moved_on"])
    assert t["lost_here"].tolist() == [1, 0, 0, 0, 0]
    assert t["open_here"].tolist() == [2, 0, 1, 1, 0]
    assert t["conversion"].tolist()[:4] == pytest.approx([4 / 7, 1.0, 0.75, 2 / 3])
    assert np.isnan(t.loc["won", "conversion"])
    assert t["of_all"].tolist() == pytest.approx([1, 4 / 7, 4 / 7, 3 / 7, 2 / 7])


def test_stage_conversion_wilson_interval(main_out):
    t = F.stage_conversion(main_out)
    for stage in ["new", "contacted", "qualified", "proposal"]:
        lo, hi = proportion_confint(int(t.loc[stage, "moved_on"]), int(t.loc[stage, "reached"]),
                                    alpha=0.05, method="wilson")
        assert t.loc[stage, "ci_low"] == pytest.approx(lo, rel=1e-12)
        assert t.loc[stage, "ci_high"] == pytest.approx(hi, rel=1e-12)
        assert t.loc[stage, "ci_low"] <= t.loc[stage, "conversion"] <= t.loc[stage, "ci_high"]
    # 4 of 4: the Wilson interval is not degenerate, unlike the Wald one
    assert t.loc["contacted", "ci_low"] == pytest.approx(0.5101, abs=1e-4)
    assert t.loc["contacted", "ci_high"] == pytest.approx(1.0)
    assert np.isnan(t.loc["won", "ci_low"]) and np.isnan(t.loc["won", "ci_high"])


def test_stage_conversion_zero_reached_is_nan():
    leads, events = world({"a": "2026-01-05 09:00", "b": "2026-01-05 10:00"},
                          [("a", "2026-01-05 09:30", "reply"), ("b", "2026-01-05 10:30", "sms", 0)])
    t = F.stage_conversion(F.outcomes(leads, events))
    assert t["reached"].tolist() == [2, 1, 0, 0, 0]
    assert t.loc["new", "conversion"] == 0.5
    assert t.loc["contacted", "conversion"] == 0.0
    assert t["open_here"].tolist() == [1, 1, 0, 0, 0]
    lo, hi = proportion_confint(0, 1, method="wilson")
    assert (t.loc["contacted", "ci_low"], t.loc["contacted", "ci_high"]) == pytest.approx((lo, hi))
    assert t.loc["qualified", ["conversion", "ci_low", "ci_high"]].isna().all()


def test_outcomes_when_no_lead_has_moved_yet():
    leads, events = world({"a": "2026-01-05 09:00", "b": "2026-01-05 10:00"},
                          [("a", "2026-01-05 09:30", "email", 0)])
    out = F.outcomes(leads, events)
    assert out["stage"].astype(str).tolist() == ["new", "new"]
    assert F.stage_conversion(out)["reached"].tolist() == [2, 0, 0, 0, 0]


def test_time_in_stage_medians_in_days_skip_unobserved(main_out):
    t = F.time_in_stage(main_out)
    assert list(t.index) == ["new", "contacted", "qualified", "proposal"]
    # new -> contacted: A 0.25 (09:00 -> 15:00), F 0.5 (00:00 -> 12:00)
    # contacted -> qualified: A 1.75, F 0.5; qualified -> proposal: F 2.0
    # proposal -> won: F 4.0 only; B (won, proposal skipped) is left out, not counted as 0,
    # and D (won after as_of) has not left proposal
    assert t["n"].tolist() == [2, 2, 1, 1]
    assert t["median"].tolist() == pytest.approx([0.375, 1.125, 2.0, 4.0])
    assert t["mean"].tolist() == pytest.approx([0.375, 1.125, 2.0, 4.0])
    assert t.loc["new", "p90"] == pytest.approx(0.25 + 0.9 * 0.25)
    assert t["target_days"].tolist() == [2, 7, 14, 30]


def test_time_in_stage_won_only_lead_contributes_nothing():
    leads, events = world({"a": "2026-01-05 09:00"}, [("a", "2026-01-09 09:00", "won")])
    t = F.time_in_stage(F.outcomes(leads, events))
    assert t["n"].tolist() == [0, 0, 0, 0]
    assert t["median"].isna().all()
    assert F.stage_conversion(F.outcomes(leads, events))["reached"].tolist() == [1] * 5


def test_lead_age_by_stage_default_targets(main_out):
    t = F.lead_age_by_stage(main_out)
    assert list(t.index) == ["new", "contacted", "qualified", "proposal"]  # won dropped
    # open: G (2.5 d in new), H (1.0 d in new), A (13.125 d in qualified), D (10.5 d, proposal)
    assert t["open"].tolist() == [2, 0, 1, 1]
    assert t.loc["new", "median_days_in_stage"] == pytest.approx(1.75)
    assert t.loc["new", "median_age_days"] == pytest.approx(1.75)
    assert t.loc["qualified", "median_days_in_stage"] == pytest.approx(13.125)
    assert t.loc["qualified", "median_age_days"] == pytest.approx(15.125)
    assert t.loc["proposal", "median_days_in_stage"] == pytest.approx(10.5)
    assert np.isnan(t.loc["contacted", "median_days_in_stage"])
    assert t["target_days"].tolist() == [2, 7, 14, 30]
    assert t["past_target"].tolist() == [1, 0, 0, 0]  # only G: 2.5 > 2
    assert t["past_target"].dtype.kind == "i"


def test_lead_age_by_stage_uses_each_stages_target(main_out):
    tight = Funnel((
        Stage("new", "sdr", exit_on=("connect", "reply"), target_days=2.5),
        Stage("contacted", "sdr", exit_on=("demo_request",)),
        Stage("qualified", "ae", target_days=10),
        Stage("proposal", "ae", target_days=10),
        Stage("won", "ae"),
    ))
    t = F.lead_age_by_stage(main_out, tight)
    assert t["open"].tolist() == [2, 0, 1, 1]
    # G sits exactly 2.5 days in new: not past a 2.5-day target; 13.125 > 10; 10.5 > 10
    assert t["past_target"].tolist() == [0, 0, 1, 1]
    assert np.isnan(t.loc["contacted", "target_days"])


# --------------------------------------------------------------------------------------------
# Event metrics
# --------------------------------------------------------------------------------------------
@pytest.fixture
def cadence_world():
    leads = {k: "2026-01-05 08:00" for k in "PQRSU"}
    events = [
        # P: steps 0, 1, 2, then a reply (and a second one) -> responded at step 2
        ("P", "2026-01-05 09:00", "call_attempt", 0),
        ("P", "2026-01-05 09:02", "voicemail", 1),
        ("P", "2026-01-05 09:05", "sms", 2),
        ("P", "2026-01-05 10:00", "reply"),
        ("P", "2026-01-05 11:00", "reply"),
        # Q: connects on the first call -> responded at step 0
        ("Q", "2026-01-05 09:00", "call_attempt", 0),
        ("Q", "2026-01-05 09:00:30", "connect"),
        # R: four steps, never answers -> ended silent at step 3
        ("R", "2026-01-05 09:00", "call_attempt", 0),
        ("R", "2026-01-05 09:02", "voicemail", 1),
        ("R", "2026-01-05 09:05", "sms", 2),
        ("R", "2026-01-06 09:00", "email", 3),
        # S: two steps, never answers -> ended silent at step 1
        ("S", "2026-01-05 09:00", "call_attempt", 0),
        ("S", "2026-01-05 09:02", "voicemail", 1),
        # U: replies after step 0 and is touched at step 1 afterwards -> responded at step 0
        ("U", "2026-01-05 09:00", "call_attempt", 0),
        ("U", "2026-01-05 09:30", "reply"),
        ("U", "2026-01-05 10:00", "sms", 1),
    ]
    return world(leads, events)


def test_dropoff_by_step(cadence_world):
    _, events = cadence_world
    t = F.dropoff_by_step(events)
    assert list(t.index) == [0, 1, 2, 3] and t.index.name == "step"
    assert t["reached"].tolist() == [5, 4, 2, 1]
    assert t["responded"].tolist() == [2, 0, 1, 0]  # Q, U at 0; P at 2 (latest earlier touch)
    assert t["opted_out"].tolist() == [0, 0, 0, 0]
    assert t["ended_silent"].tolist() == [0, 1, 0, 1]  # S at 1, R at 3
    assert t["response_rate"].tolist() == pytest.approx([0.4, 0.0, 0.5, 0.0])
    assert t["drop_off_rate"].tolist() == pytest.approx([0.0, 0.25, 0.0, 1.0])


def test_dropoff_by_step_as_of(cadence_world):
    _, events = cadence_world
    t = F.dropoff_by_step(events, as_of="2026-01-05 09:45")  # naive: UTC
    # P's reply, U's step 1 and R's step 3 are later; P and R are silent at step 2 so far
    assert list(t.index) == [0, 1, 2]
    assert t["reached"].tolist() == [5, 3, 2]
    assert t["responded"].tolist() == [2, 0, 0]
    assert t["ended_silent"].tolist() == [0, 1, 2]


def test_dropoff_by_step_opt_out():
    leads, events = world(
        {"v": "2026-01-05 08:00", "w": "2026-01-05 08:00"},
        [("v", "2026-01-05 09:00", "call_attempt", 0), ("v", "2026-01-05 09:05", "sms", 1),
         ("v", "2026-01-05 09:20", "opt_out"),
         ("w", "2026-01-05 09:00", "call_attempt", 0), ("w", "2026-01-05 09:01", "connect")],
    )
    t = F.dropoff_by_step(events)
    assert t["reached"].tolist() == [2, 1]
    assert t["opted_out"].tolist() == [0, 1]
    assert t["responded"].tolist() == [1, 0]
    # a lead that opted out answered (with a no): it is counted in opted_out, not as silent
    assert t["ended_silent"].tolist() == [0, 0]


def test_dropoff_by_step_no_touches_is_empty():
    leads, events = world({"a": "2026-01-05 08:00"}, [("a", "2026-01-05 09:00", "reply")])
    t = F.dropoff_by_step(events)
    assert t.empty
    assert list(t.columns) == ["reached", "responded", "opted_out", "ended_silent",
                               "response_rate", "drop_off_rate"]


def test_dropoff_by_step_tied_touches_do_not_depend_on_row_order():
    leads = validate_leads(pd.DataFrame({"lead_id": ["a"], "created_at": ["2026-01-05 09:00"],
                                         "source": ["web"]}))
    rows = [("a", "2026-01-05 09:01", "touch", "call_attempt", "call", 0),
            ("a", "2026-01-12 08:00", "touch", "email", "email", 3),
            ("a", "2026-01-12 08:00", "touch", "call_attempt", "call", 4),
            ("a", "2026-01-12 08:00:30", "response", "connect", "call", None)]
    forward = validate_events(pd.DataFrame(rows, columns=EVENT_COLS), leads)
    backward = validate_events(pd.DataFrame(rows[::-1], columns=EVENT_COLS), leads)
    pd.testing.assert_frame_equal(F.dropoff_by_step(forward), F.dropoff_by_step(backward))


@pytest.fixture
def handoff_world():
    leads = {"H1": "2026-01-05 09:00", "H2": "2026-01-05 09:00", "H3": "2026-01-05 09:00",
             "H4": "2026-01-05 09:00", "H5": "2026-01-05 09:00"}
    events = [
        # H1: qualified by a demo request at 01-06 10:00, touched 2.5 h later
        ("H1", "2026-01-05 09:10", "connect"),
        ("H1", "2026-01-06 10:00", "demo_request"),
        ("H1", "2026-01-06 12:30", "call_attempt"),
        ("H1", "2026-01-07 12:30", "email"),
        # H2: touched 1 h before (ignored), qualified by stage event, touched 10 h later
        ("H2", "2026-01-06 23:00", "sms", 0),
        ("H2", "2026-01-07 00:00", "qualified"),
        ("H2", "2026-01-07 10:00", "call_attempt"),
        # H3: qualified, never touched since
        ("H3", "2026-01-08 00:00", "qualified"),
        # H4: won only: the entry into qualified was not observed, so no handoff
        ("H4", "2026-01-09 00:00", "won"),
        # H5: qualified, touched only after as_of (2026-01-10), 96 h later
        ("H5", "2026-01-08 00:00", "qualified"),
        ("H5", "2026-01-12 00:00", "call_attempt"),
    ]
    return world(leads, events)


def test_handoff_response_time(handoff_world):
    leads, events = handoff_world
    out = F.outcomes(leads, events, as_of="2026-01-10")
    t = F.handoff_response_time(out, events)
    assert list(t.index) == ["contacted → qualified"]
    row = t.loc["contacted → qualified"]
    assert (row["from_owner"], row["to_owner"]) == ("sdr", "ae")
    assert row["handoffs"] == 4
    assert row["touched"] == 2
    assert row["median_hours"] == pytest.approx(6.25)  # median of 2.5 and 10
    assert row["p90_hours"] == pytest.approx(2.5 + 0.9 * 7.5)


def test_handoff_response_time_default_as_of(handoff_world):
    leads, events = handoff_world
    t = F.handoff_response_time(F.outcomes(leads, events), events)
    row = t.iloc[0]
    assert (row["handoffs"], row["touched"]) == (4, 3)
    assert row["median_hours"] == pytest.approx(10.0)  # 2.5, 10, 96


@pytest.fixture
def speed_world():
    leads = {"s1": "2026-01-05 09:00", "s2": "2026-01-05 10:00", "s3": "2026-01-05 10:00",
             "s4": "2026-01-05 11:00"}
    events = [
        ("s1", "2026-01-05 09:02", "email", 0),
        ("s1", "2026-01-05 09:30", "call_attempt", 1),
        ("s2", "2026-01-05 10:00:30", "call_attempt", 0),
        ("s3", "2026-01-05 10:05", "reply"),  # a response is not an outbound touch
        ("s3", "2026-01-05 10:06", "email_open"),
    ]
    return world(leads, events)


def test_speed_to_first_touch_minutes(speed_world):
    leads, events = speed_world
    s = F.speed_to_first_touch(leads, events)
    assert s.name == "minutes_to_first_touch" and s.index.name == "lead_id"
    assert list(s.index) == ["s1", "s2", "s3", "s4"]
    assert s.iloc[:2].tolist() == [2.0, 0.5]
    assert s.iloc[2:].isna().all()


def test_speed_to_first_touch_names_filter(speed_world):
    leads, events = speed_world
    s = F.speed_to_first_touch(leads, events, names=("call_attempt",))
    assert s.iloc[:2].tolist() == [30.0, 0.5]
    assert s.iloc[2:].isna().all()
    assert F.speed_to_first_touch(leads, events, names=("sms",)).isna().all()


def test_speed_to_first_touch_as_of(speed_world):
    leads, events = speed_world
    s = F.speed_to_first_touch(leads, events, as_of="2026-01-05 09:10")
    assert s.loc["s1"] == 2.0
    s = F.speed_to_first_touch(leads, events, names=("call_attempt",), as_of="2026-01-05 09:10")
    assert np.isnan(s.loc["s1"])


def test_speed_to_first_touch_as_of_leaves_out_later_leads(speed_world):
    leads, events = speed_world
    s = F.speed_to_first_touch(leads, events, as_of="2026-01-05 09:10")
    assert list(s.index) == ["s1"]


def test_weekly_cohorts():
    leads = {
        "w1": "2026-01-05 09:00",  # Monday, 2026-W02
        "w2": "2026-01-07 14:00",
        "w3": "2026-01-12T00:30:00+01:00",  # Sunday 23:30 UTC: still 2026-W02
        "w4": "2026-01-12 00:10",  # Monday, 2026-W03
    }
    events = [
        ("w1", "2026-01-05 09:03", "call_attempt", 0),
        ("w1", "2026-01-05 09:04", "connect"),
        ("w2", "2026-01-07 14:05", "sms", 0),  # exactly 5 minutes: within
        ("w3", "2026-01-12 00:15", "email", 0),  # 45 minutes
        ("w3", "2026-01-20 00:00", "won"),
    ]
    leads_v, events_v = world(leads, events)
    out = F.outcomes(leads_v, events_v)
    speed = F.speed_to_first_touch(leads_v, events_v)
    t = F.weekly_cohorts(out, speed)
    assert list(t.index) == ["2026-W02", "2026-W03"] and t.index.name == "week"
    assert list(t.columns) == [
        "week_start", "leads", "pct_touched", "pct_within_5min",
        "median_minutes_to_first_touch", "pct_contacted", "pct_qualified", "pct_proposal",
        "pct_won",
    ]
    assert t["week_start"].tolist() == [T("2026-01-05"), T("2026-01-12")]
    assert t["leads"].tolist() == [3, 1]
    assert t["pct_touched"].tolist() == pytest.approx([100.0, 0.0])
    assert t["pct_within_5min"].tolist() == pytest.approx([200 / 3, 0.0])
    assert t.loc["2026-W02", "median_minutes_to_first_touch"] == pytest.approx(5.0)
    assert np.isnan(t.loc["2026-W03", "median_minutes_to_first_touch"])
    assert t["pct_contacted"].tolist() == pytest.approx([200 / 3, 0.0])  # w1 and won w3
    assert t["pct_qualified"].tolist() == pytest.approx([100 / 3, 0.0])
    assert t["pct_won"].tolist() == pytest.approx([100 / 3, 0.0])
    t10 = F.weekly_cohorts(out, speed, within_minutes=2.5)
    assert t10["pct_within_2.5min"].tolist() == pytest.approx([0.0, 0.0])


def test_weekly_cohorts_iso_year_boundaries():
    leads = {"a": "2025-12-29 12:00", "b": "2026-12-31 12:00", "c": "2027-01-01 12:00",
             "d": "2027-01-04 12:00"}
    leads_v, events_v = world(leads, [("a", "2025-12-29 12:01", "email", 0),
                                      ("a", "2025-12-29 12:02", "connect")])
    out = F.outcomes(leads_v, events_v)
    t = F.weekly_cohorts(out, F.speed_to_first_touch(leads_v, events_v))
    assert list(t.index) == ["2026-W01", "2026-W53", "2027-W01"]
    assert t["leads"].tolist() == [1, 2, 1]
    assert t["week_start"].tolist() == [T("2025-12-29"), T("2026-12-28"), T("2027-01-04")]
    assert t["pct_within_5min"].tolist() == pytest.approx([100.0, 0.0, 0.0])
    assert t["pct_contacted"].tolist() == pytest.approx([100.0, 0.0, 0.0])


# --------------------------------------------------------------------------------------------
# Funnel and Stage
# --------------------------------------------------------------------------------------------
def test_default_funnel_shape():
    f = DEFAULT_FUNNEL
    assert f.names == ("new", "contacted", "qualified", "proposal", "won")
    assert f.conversion_stage == "won" and f.lost == "lost"
    assert f.handoffs() == [("contacted", "qualified", "sdr", "ae")]
    assert f.stages[0].exit_on == ("connect", "reply")
    assert f.index("qualified") == 2
    with pytest.raises(KeyError, match="'nope' is not a stage"):
        f.index("nope")


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Funnel((Stage("new", "sdr"),)), ValueError, "at least two stages.*Got 1"),
        (lambda: Funnel(()), ValueError, "at least two stages.*Got 0"),
        (lambda: Funnel((Stage("new", "sdr"), Stage("New ", "ae"))), ValueError,
         r"unique; repeated: \['new'\]"),
        (lambda: Funnel((Stage("new", "sdr"), Stage("won", "ae")), lost="won"), ValueError,
         "'lost' \\('won'\\) must not also be one of the stages"),
        (lambda: Funnel((Stage("new", "sdr"), Stage("won", "ae")), lost=" Won"), ValueError,
         "must not also be one of the stages"),
        (lambda: Funnel((Stage("new", "sdr"), "won")), TypeError, "must hold Stage objects"),
        (lambda: Funnel((Stage("new", "sdr"), Stage("won", "ae")), lost=""), ValueError,
         "'lost' must be a non-empty string"),
        (lambda: Stage("new", "sdr", exit_on="connect"), TypeError,
         "got the string 'connect'; write \\('connect',\\)"),
        (lambda: Stage("new", "sdr", target_days=0), ValueError, "positive number"),
        (lambda: Stage("new", "sdr", target_days=-3), ValueError, "positive number"),
        (lambda: Stage("new", "sdr", target_days=float("nan")), ValueError, "positive number"),
        (lambda: Stage("new", "sdr", target_days=float("inf")), ValueError, "positive number"),
        (lambda: Stage("", "sdr"), ValueError, "'name' must be a non-empty string"),
        (lambda: Stage("new", "  "), ValueError, "'owner' must be a non-empty string"),
        (lambda: Stage("new", "sdr", exit_on=("connect", "")), ValueError,
         "'exit_on' entry must be a non-empty string"),
        (lambda: Stage("new", "sdr", exit_on=3), TypeError,
         "'exit_on' must be a sequence of event names"),
        (lambda: Stage("new", "sdr", target_days=True), ValueError, "positive number"),
        (lambda: Stage("new", "sdr", target_days="2"), ValueError, "positive number"),
        (lambda: F.outcomes(pd.DataFrame(columns=["lead_id", "created_at"]),
                            pd.DataFrame(columns=["lead_id", "ts", "type", "name"]),
                            funnel="default"), TypeError,
         "The 'funnel' parameter of outcomes must be a Funnel. Got str instead."),
    ],
)
def test_funnel_and_stage_validation(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.fixture
def custom():
    return Funnel(
        [
            Stage("Lead", "Marketing", exit_on=["Pricing Visit"], target_days=1),
            Stage("MQL", "SDR", exit_on=("reply", "connect"), target_days=2.5),
            Stage("Customer", "AE"),
        ],
        lost="Disqualified",
    )


def test_custom_funnel_is_normalised(custom):
    assert custom.names == ("lead", "mql", "customer")
    assert [s.owner for s in custom.stages] == ["marketing", "sdr", "ae"]
    assert custom.stages[0].exit_on == ("pricing_visit",)
    assert isinstance(custom.stages, tuple)
    assert custom.lost == "disqualified" and custom.conversion_stage == "customer"
    assert custom.handoffs() == [("lead", "mql", "marketing", "sdr"),
                                 ("mql", "customer", "sdr", "ae")]


def test_custom_funnel_metrics(custom):
    leads = {k: "2026-01-05 09:00" for k in "VWXYZ"}
    events = [
        ("X", "2026-01-05 12:00", "pricing_visit"),  # -> mql
        ("Y", "2026-01-05 10:00", "pricing_visit"),  # -> mql
        ("Y", "2026-01-06 10:00", "reply"),  # -> customer
        ("Z", "2026-01-06 09:00", "disqualified"),  # the custom lost stage
        ("W", "2026-01-07 09:00", "customer"),  # stage event
        ("V", "2026-01-07 09:00", "lost"),  # not this funnel's lost stage: ignored
        ("V", "2026-01-08 09:00", "demo_request"),  # not an exit criterion here
    ]
    leads_v, events_v = world(leads, events)
    out = F.outcomes(leads_v, events_v, custom, as_of="2026-01-09 09:00")
    assert out["stage"].astype(str).to_dict() == {"V": "lead", "W": "customer", "X": "mql",
                                                  "Y": "customer", "Z": "lead"}
    assert out["status"].astype(str).to_dict() == {"V": "open", "W": "won", "X": "open",
                                                   "Y": "won", "Z": "lost"}
    assert list(out.filter(regex="^entered_").columns) == [
        "entered_lead", "entered_mql", "entered_customer"]
    assert out.loc["Y", "time_to_convert_days"] == pytest.approx(25 / 24)
    t = F.stage_conversion(out, custom)
    assert t["reached"].tolist() == [5, 3, 2]
    assert t["moved_on"].tolist()[:2] == [3, 2]
    assert t["lost_here"].tolist() == [1, 0, 0]
    assert t["open_here"].tolist() == [1, 1, 0]
    tis = F.time_in_stage(out, custom)
    assert tis["n"].tolist() == [2, 1]
    assert tis["median"].tolist() == pytest.approx([(1 / 24 + 3 / 24) / 2, 1.0])
    age = F.lead_age_by_stage(out, custom)
    assert list(age.index) == ["lead", "mql"]
    assert age["open"].tolist() == [1, 1]
    assert age["past_target"].tolist() == [1, 1]  # V 4 d > 1; X 3.875 d > 2.5
    h = F.handoff_response_time(out, events_v, custom)
    assert list(h.index) == ["lead → mql", "mql → customer"]
    assert h["handoffs"].tolist() == [2, 2]
    rep = F.funnel_report(leads_v, events_v, custom, as_of="2026-01-09 09:00")
    assert list(rep.weekly.columns[-2:]) == ["pct_mql", "pct_customer"]
    assert rep.summary.loc["lead", "reached"] == 5


# --------------------------------------------------------------------------------------------
# Inputs: missing columns, no mutation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "column"),
    [
        (lambda ld, ev, out: F.outcomes(ld.drop(columns="created_at"), ev), "created_at"),
        (lambda ld, ev, out: F.outcomes(ld.drop(columns="lead_id"), ev), "lead_id"),
        (lambda ld, ev, out: F.outcomes(ld, ev.drop(columns="ts")), "ts"),
        (lambda ld, ev, out: F.outcomes(ld, ev.drop(columns="type")), "type"),
        (lambda ld, ev, out: F.outcomes(ld, ev.drop(columns="name")), "name"),
        (lambda ld, ev, out: F.stage_conversion(out.drop(columns="status")), "status"),
        (lambda ld, ev, out: F.stage_conversion(out.drop(columns="stage_index")), "stage_index"),
        (lambda ld, ev, out: F.time_in_stage(out.drop(columns="entered_won")), "entered_won"),
        (lambda ld, ev, out: F.lead_age_by_stage(out.drop(columns="days_in_stage")),
         "days_in_stage"),
        (lambda ld, ev, out: F.dropoff_by_step(ev.drop(columns="step")), "step"),
        (lambda ld, ev, out: F.handoff_response_time(out.drop(columns="entered_qualified"), ev),
         "entered_qualified"),
        (lambda ld, ev, out: F.handoff_response_time(out, ev.drop(columns="type")), "type"),
        (lambda ld, ev, out: F.speed_to_first_touch(ld, ev.drop(columns="name")), "name"),
        (lambda ld, ev, out: F.speed_to_first_touch(ld.drop(columns="created_at"), ev),
         "created_at"),
        (lambda ld, ev, out: F.weekly_cohorts(out.drop(columns="created_at"), pd.Series()),
         "created_at"),
    ],
)
def test_missing_columns_raise_keyerror_naming_them(main_world, main_out, call, column):
    leads, events = main_world
    with pytest.raises(KeyError, match=f"lacks the column\\(s\\) \\['{column}'\\]"):
        call(leads, events, main_out)


def test_functions_do_not_mutate_inputs(main_world, cadence_world, handoff_world):
    for leads, events in (main_world, cadence_world, handoff_world):
        leads0, events0 = leads.copy(deep=True), events.copy(deep=True)
        out = F.outcomes(leads, events, as_of=AS_OF)
        out0 = out.copy(deep=True)
        speed = F.speed_to_first_touch(leads, events, names=("call_attempt", "email"),
                                       as_of=AS_OF)
        speed0 = speed.copy(deep=True)
        F.stage_conversion(out)
        F.time_in_stage(out)
        F.lead_age_by_stage(out)
        F.dropoff_by_step(events, as_of=AS_OF)
        F.handoff_response_time(out, events)
        F.weekly_cohorts(out, speed)
        F.funnel_report(leads, events, as_of=AS_OF)
        pd.testing.assert_frame_equal(leads, leads0)
        pd.testing.assert_frame_equal(events, events0)
        pd.testing.assert_frame_equal(out, out0)
        pd.testing.assert_series_equal(speed, speed0)
        assert out.attrs == {"as_of": AS_OF}


def test_funnel_report_on_tiny_world(main_world):
    leads, events = main_world
    rep = F.funnel_report(leads, events, as_of=AS_OF)
    assert rep.as_of == AS_OF
    assert list(rep.speed_minutes.index) == ["A", "B", "C", "D", "F", "G", "H"]
    h = rep.headline()
    assert h["leads"] == 7.0
    assert h["touched_pct"] == pytest.approx(300 / 7)  # A (6 min), C (30 min), H (10 min)
    assert h["median_minutes_to_first_touch"] == pytest.approx(10.0)
    assert h["within_5min_pct"] == 0.0
    assert h["contacted_pct"] == pytest.approx(400 / 7)
    assert h["converted_pct"] == pytest.approx(200 / 7)
    assert h["median_days_to_convert"] == pytest.approx(5.5)  # B 4, F 7
    assert rep.summary["reached"].tolist() == [7, 4, 4, 3, 2]
    assert "7 leads" in str(rep)


# --------------------------------------------------------------------------------------------
# Documented behaviour that does not hold
# --------------------------------------------------------------------------------------------
def test_stage_entered_at_is_entry_into_furthest_stage():
    leads, events = world(
        {"a": "2026-01-05 09:00"},
        [("a", "2026-01-06 09:00", "qualified"), ("a", "2026-01-07 09:00", "connect")],
    )
    out = F.outcomes(leads, events, as_of="2026-01-10 09:00")
    assert out.loc["a", "stage"] == "qualified"
    assert out.loc["a", "stage_entered_at"] == out.loc["a", "entered_qualified"]
    assert out.loc["a", "days_in_stage"] == pytest.approx(4.0)


# --------------------------------------------------------------------------------------------
# Scale and order independence
# --------------------------------------------------------------------------------------------
def test_funnel_report_at_scale_and_order_independent():
    leads, events = make_export(n_leads=20000, seed=1)
    rep = F.funnel_report(leads, events)
    assert len(rep.outcomes) == 20000
    assert rep.conversion.loc["new", "reached"] == 20000
    assert rep.weekly["leads"].sum() == 20000
    shuffled = events.sample(frac=1, random_state=0).reset_index(drop=True)
    assert not shuffled["ts"].is_monotonic_increasing
    out = F.outcomes(leads, shuffled)
    pd.testing.assert_frame_equal(F.stage_conversion(out), rep.conversion)
    pd.testing.assert_frame_equal(out, rep.outcomes)


# --------------------------------------------------------------------------------------------
# Stages an export does not observe
# --------------------------------------------------------------------------------------------
@pytest.fixture
def wins_only():
    """Leads and wins only, like the Olist export: nothing can enter contacted, qualified or
    proposal. a won after 4 days, b after 10; c and d are open."""
    leads = {"a": "2026-01-05 09:00", "b": "2026-01-05 10:00", "c": "2026-01-06 12:00",
             "d": "2026-01-07 00:00"}
    return world(leads, [("a", "2026-01-09 09:00", "won"), ("b", "2026-01-15 10:00", "won")])


def test_observed_stages_follow_the_events(main_out, wins_only):
    assert F.observed_stages(main_out).all()
    leads, events = wins_only
    seen = F.observed_stages(F.outcomes(leads, events))
    assert seen.to_dict() == {"new": True, "contacted": False, "qualified": False,
                              "proposal": False, "won": True}
    # a reply (new's exit event) is enough to observe contacted, a stage event its own stage
    leads, events = world({"a": "2026-01-05 09:00", "b": "2026-01-05 09:00"},
                          [("a", "2026-01-05 09:30", "reply"),
                           ("b", "2026-01-06 09:00", "proposal")])
    seen = F.observed_stages(F.outcomes(leads, events))
    assert seen[seen].index.tolist() == ["new", "contacted", "proposal"]


def test_unobserved_stages_are_not_passed_at_100_percent(wins_only):
    """Regression: on an export of leads and wins the stages between showed conversion 1.000
    (every lead seen there had won) and the headline a numpy warning and 'median nan min'."""
    leads, events = wins_only
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = F.funnel_report(leads, events, as_of="2026-01-20")
        text = rep.to_text()
    t = rep.conversion
    assert t["observed"].tolist() == [True, False, False, False, True]
    assert t["reached"].tolist() == [4, 2, 2, 2, 2]  # the winners passed them
    assert t.loc[["contacted", "qualified", "proposal"], ["moved_on", "conversion", "ci_low",
                                                          "ci_high"]].isna().all().all()
    assert t.loc["new", "conversion"] == pytest.approx(2 / 4)  # on to the next observed stage
    assert rep.time_in_stage["median"].isna().all()
    assert rep.summary["observed"].tolist() == t["observed"].tolist()
    assert rep.unobserved == ["contacted", "qualified", "proposal"]
    h = rep.headline()
    for key in ("touched_pct", "within_5min_pct", "median_minutes_to_first_touch",
                "contacted_pct"):
        assert np.isnan(h[key]), key
    assert h["converted_pct"] == 50.0 and h["median_days_to_convert"] == pytest.approx(7.0)
    assert "first touch: unavailable" in text and "nan" not in text
    assert "unobserved stages (no event in the export enters them): contacted, qualified, " \
           "proposal" in text
    assert rep.weekly[["pct_touched", "pct_within_5min",
                       "median_minutes_to_first_touch"]].isna().all().all()
    assert_result_protocol(rep)


def test_exports_that_observe_every_stage_keep_their_figures(main_world):
    leads, events = main_world
    rep = F.funnel_report(leads, events, as_of=AS_OF)
    assert rep.conversion["observed"].all() and rep.unobserved == []
    assert rep.summary["moved_on"].tolist()[:4] == [4, 4, 3, 2]
    assert "unobserved" not in rep.to_text()


def test_funnel_report_keeps_the_result_protocol(main_world):
    leads, events = main_world
    rep = F.funnel_report(leads, events, as_of=AS_OF)
    assert_result_protocol(rep)
    assert repr(rep) == "<FunnelReport: 7 leads as of 2026-01-20 12:00 UTC, 5 stages>"
    lines = rep.to_text().splitlines()
    assert lines[1] == "Funnel as of 2026-01-20 12:00 UTC — 7 leads"
    assert lines[2] == "  first touch: 42.9% touched, 0.0% within 5 min, median 10.0 min"


# --------------------------------------------------------------------------------------------
# The funnel file
# --------------------------------------------------------------------------------------------
def test_funnel_file_round_trips(tmp_path, custom):
    for funnel in (DEFAULT_FUNNEL, custom):
        path = tmp_path / "funnel.yaml"
        write_funnel(funnel, path)
        assert read_funnel(path) == funnel
    path.write_text(textwrap.dedent("""\
        stages:
          - {name: Lead, owner: marketing, exit_on: [Pricing Visit]}
          - {name: won, owner: ae}
    """))
    f = read_funnel(path)
    assert f.names == ("lead", "won") and f.lost == "lost"
    assert f.stages[0].exit_on == ("pricing_visit",) and f.stages[0].target_days is None
    with pytest.raises(TypeError, match="write_funnel needs a Funnel"):
        write_funnel("funnel", path)


@pytest.mark.parametrize(("text", "error", "match"), [
    ("stages: []\nlsot: lost\n", ValueError,
     r"unknown key\(s\) \['lsot'\] in the funnel; allowed keys are \['stages', 'lost'\]"),
    ("stages:\n  - {name: new, owner: sdr, exits: [reply]}\n  - {name: won, owner: ae}\n",
     ValueError, r"stages\[0\]: unknown key\(s\) \['exits'\]; allowed keys are \['name', "
     r"'owner', 'exit_on', 'target_days'\]"),
    ("stages:\n  - {name: new, owner: sdr, owner: ae}\n", ValueError,
     "key 'owner' is given twice"),
    ("stages:\n  - {name: new}\n  - {name: won, owner: ae}\n", ValueError,
     r"stages\[0\]: missing key\(s\) \['owner'\]"),
    ("stages:\n  - {name: new, owner: sdr, exit_on: reply}\n  - {name: won, owner: ae}\n",
     TypeError, r"stages\[0\]: 'exit_on' must be a list of event names such as \[connect, "
     r"reply\]. Got 'reply' instead"),
    ("stages:\n  - {name: new, owner: sdr, target_days: two}\n  - {name: won, owner: ae}\n",
     ValueError, r"stages\[0\]: Stage 'new' 'target_days' must be a positive number or None. "
     "Got 'two' instead"),
    ("stages:\n  - {name: new, owner: sdr}\n", ValueError, "at least two stages"),
    ("stages:\n  - {name: new, owner: sdr}\n  - {name: won, owner: ae}\nlost: won\n",
     ValueError, "'lost' \\('won'\\) must not also be one of the stages"),
    ("stages: new\n", TypeError, "'stages' must be a list of stages"),
    ("- new\n- won\n", TypeError, "a funnel must be a mapping"),
    ("stages:\n  - new\n  - won\n", TypeError, r"stages\[0\] must be a mapping"),
    ("", ValueError, "the funnel file is empty"),
])
def test_funnel_file_refusals_name_the_file_and_the_field(tmp_path, text, error, match):
    path = tmp_path / "my_funnel.yaml"
    path.write_text(text)
    with pytest.raises(error, match=match) as exc:
        read_funnel(path)
    assert str(path) in str(exc.value)


def test_missing_funnel_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml: no such funnel file"):
        read_funnel(tmp_path / "nope.yaml")


def test_time_in_a_stage_needs_the_next_stage_observed(wins_only):
    """Leads 'in new' of a leads-and-wins export are only 'not won yet': how long they have sat
    in new, and how many are past its target, is unknown."""
    leads, events = wins_only
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        age = F.lead_age_by_stage(F.outcomes(leads, events, as_of="2026-01-20"))
    assert age.loc["new", "open"] == 2  # c and d: not seen beyond new
    assert age[["median_days_in_stage", "p90_days_in_stage", "past_target"]].isna().all().all()
    assert age.loc["new", "median_age_days"] == pytest.approx(13.25)  # c 13.5, d 13 days old
