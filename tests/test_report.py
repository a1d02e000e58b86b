"""The weekly full-path report: each metric against a hand count, the targets, the refusals,
and the report on simulated leads, where known causes must show in the metrics."""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pandas as pd
import pytest

from nurturelab import report as R
from nurturelab.cadence import get_cadence
from nurturelab.funnel import DEFAULT_FUNNEL, Funnel, Stage
from nurturelab.report import METRICS, Target, attainment, metric_table, prepare, read_targets

# the shared result-protocol check (tests/ is not a package: load it by path)
from resultcheck import assert_result_protocol

WEEK = "2026-W41"  # Monday 5 October to Sunday 11 October 2026
MON = pd.Timestamp("2026-10-05", tz="UTC")


def ts(day: float, hours: float = 0, minutes: float = 0) -> pd.Timestamp:
    """A time ``day`` days after Monday 5 October."""
    return MON + pd.Timedelta(days=day, hours=hours, minutes=minutes)


def export(leads: list[tuple], events: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    ld = pd.DataFrame(leads, columns=["lead_id", "created_at", "source", "intent", "fit"])
    ev = pd.DataFrame(events, columns=["lead_id", "ts", "type", "name", "channel", "step"])
    ev["step"] = ev["step"].astype("Int64")
    for col in ("rep_id", "arm"):
        ev[col] = None
    return ld, ev.sort_values("ts", kind="stable").reset_index(drop=True)


def value(table: pd.DataFrame, metric: str, segment: str = "all", week: str = WEEK) -> float:
    v = table[(table["metric"] == metric) & (table["segment"] == segment)
              & (table["week"] == week)]["value"]
    assert len(v) == 1, (metric, segment, week)
    return float(v.iloc[0])


@pytest.fixture
def small():
    leads = [
        ("a", ts(0, 9), "ads", "high", 0.9),
        ("b", ts(0, 10), "ads", "low", 0.2),
        ("c", ts(1, 10), "form", "high", 0.8),
        ("d", ts(6, 23), "form", "low", 0.1),  # created an hour before the week ends
        ("z", ts(6, 23, 30), "ads", "low", 0.1),  # so the export runs to the week's end
    ]
    events = [
        ("a", ts(0, 9, 3), "touch", "call_attempt", "call", 0),   # 3 minutes
        ("a", ts(0, 9, 4), "response", "connect", "call", None),  # answered: contacted
        ("b", ts(0, 10, 10), "touch", "sms", "sms", 0),           # 10 minutes
        ("b", ts(1, 10), "touch", "email", "email", 1),
        ("b", ts(2, 10), "response", "reply", "email", None),     # email answered in a day
        ("b", ts(3, 10), "response", "opt_out", "email", None),
        ("c", ts(1, 10, 2), "touch", "call_attempt", "call", 0),  # 2 minutes, no answer
        ("c", ts(5, 10), "touch", "sms", "sms", 1),               # too recent to judge
        ("a", ts(2), "stage", "qualified", None, None),
        ("a", ts(4), "stage", "won", None, None),
        ("z", ts(6, 23, 59), "activity", "email_open", "email", None),
    ]
    return export(leads, events)


# --------------------------------------------------------------------------------------------
# Weeks
# --------------------------------------------------------------------------------------------
def test_weeks_round_trip_and_refusals():
    start, end = R.week_bounds("2026-W01")
    assert R.week_label(start) == "2026-W01" and end - start == pd.Timedelta(days=7)
    assert R.week_bounds("2020-W53")[0] == pd.Timestamp("2020-12-28", tz="UTC")
    assert R.week_label(R.week_bounds("2026-W53")[0]) == "2026-W53"  # 2026 has 53 weeks
    with pytest.raises(ValueError, match="not a week of 2025"):
        R.week_bounds("2025-W53")
    with pytest.raises(ValueError, match="YYYY-Www"):
        R.week_bounds("2026-47")


# --------------------------------------------------------------------------------------------
# Metrics against hand counts
# --------------------------------------------------------------------------------------------
def test_intake_metrics_by_hand(small):
    leads, events = small
    t, _ = metric_table(prepare(leads, events, week=WEEK, weeks=1),
                        ["speed_to_first_contact_min", "first_contact_within_5min",
                         "source_coverage", "contact_rate"])
    # a 3, b 10, c 2 minutes; d and z not touched: they count the time waited (60 and 30 min)
    assert value(t, "speed_to_first_contact_min") == pytest.approx(np.median([3, 10, 2, 60, 30]))
    # d and z waited more than 5 minutes without a touch: both count as misses
    assert value(t, "first_contact_within_5min") == pytest.approx(2 / 5)
    assert value(t, "first_contact_within_5min", "intent=high") == pytest.approx(1.0)
    assert value(t, "source_coverage") == 1.0
    # contact within 2 days: a yes, b yes (reply after a day), c no; d and z too young
    assert value(t, "contact_rate") == pytest.approx(2 / 3)
    assert value(t, "contact_rate", "source=form") == pytest.approx(0.0)


def test_stage_flow_and_conversion_by_hand(small):
    leads, events = small
    t, _ = metric_table(prepare(leads, events, week=WEEK, weeks=1),
                        ["stage_conversion.new", "stage_conversion.qualified", "conversion",
                         "opt_out_rate"])
    # in 'new' during the week: all five; a (connect) and b (reply) moved on
    assert value(t, "stage_conversion.new") == pytest.approx(2 / 5)
    # a entered qualified and moved on (won) in the week
    assert value(t, "stage_conversion.qualified") == pytest.approx(1.0)
    # open during the week: all five; a won, b opted out
    assert value(t, "conversion") == pytest.approx(1 / 5)
    assert value(t, "opt_out_rate") == pytest.approx(1 / 5)


def test_reply_rate_judges_only_closed_windows(small):
    leads, events = small
    t, _ = metric_table(prepare(leads, events, week=WEEK, weeks=1), ["reply_rate"])
    # judged touches (3 days passed): a call (connect: yes), b sms (no), b email (reply: yes),
    # c call (no); c's sms on day 5 is still open and not counted
    assert value(t, "reply_rate") == pytest.approx(2 / 4)
    assert value(t, "reply_rate", "channel=email") == 1.0
    n = t[(t["metric"] == "reply_rate") & (t["segment"] == "all")]["n"].iloc[0]
    assert n == 4


def test_missing_inputs_are_named_not_zero(small):
    leads, events = small
    t, why = metric_table(prepare(leads, events, week=WEEK, weeks=1),
                          ["content_engagement", "objection_resolution",
                           "reply_rate_by_personalisation"])
    assert t.empty
    assert "['content']" in why["content_engagement"]
    assert "['personalisation']" in why["reply_rate_by_personalisation"]
    tagged = events.assign(content=np.where(events["type"] == "touch", "intro", None))
    _, why = metric_table(prepare(leads, tagged, week=WEEK, weeks=1), ["objection_resolution"])
    assert "names an objection" in why["objection_resolution"]


def test_objection_resolution_by_hand():
    leads, events = export(
        [("a", ts(-14), "ads", "high", 0.9), ("b", ts(-14), "ads", "high", 0.9),
         ("z", ts(13), "ads", "low", 0.1)],
        [("a", ts(0, 10), "touch", "email", "email", 3), ("b", ts(0, 10), "touch", "email",
                                                          "email", 3),
         ("a", ts(3), "stage", "qualified", None, None),  # resolved within 7 days
         ("b", ts(9), "stage", "qualified", None, None)])  # too late
    events["content"] = np.where(events["type"] == "touch", "pricing_objection", None)
    t, why = metric_table(prepare(leads, events, week="2026-W42", weeks=2),
                          ["objection_resolution"])
    assert value(t, "objection_resolution") == pytest.approx(0.5)


def test_every_metric_runs_on_a_simulated_week():
    from nurturelab.simulation import World, simulate

    res = simulate(World(leads=1200, start="2026-08-31", tail_days=0), seed=4)
    t, why = metric_table(prepare(res.leads, res.events, week="2026-W37", weeks=2))
    assert set(t["metric"]) | set(why) == set(METRICS)
    assert set(why) == {"objection_resolution"}  # the built-in cadences tag no objection
    rates = t[t["metric"].map(lambda m: METRICS[m].unit == "share")]
    assert (t["n"] > 0).all()
    # no value only where the answer is not due yet: conversion within 7 days of Monday
    assert set(rates.loc[rates["value"].isna(), "metric"]) <= {"score_to_conversion"}
    assert rates["value"].dropna().between(0, 1).all()
    ok = rates["low"].notna()
    assert (rates.loc[ok, "low"] <= rates.loc[ok, "value"] + 1e-12).all()
    assert (rates.loc[ok, "value"] <= rates.loc[ok, "high"] + 1e-12).all()


def test_personalisation_effect_shows_within_a_channel():
    from nurturelab.cadence import Cadence, Touch
    from nurturelab.response import DEFAULT_RESPONSE
    from nurturelab.simulation import World, simulate

    # e-mails in the order context, token, token, context: the two levels share a channel
    # and, on average, their place in the sequence (so fatigue does not favour either)
    cadence = Cadence("mixed", (
        Touch("email", at="1d", personalisation="context", automated=True),
        Touch("email", at="2d", personalisation="token", automated=True),
        Touch("email", at="3d", personalisation="token", automated=True),
        Touch("email", at="4d", personalisation="context", automated=True),
    ))
    out = {}
    for shift in (0.0, 1.5):
        response = dataclasses.replace(DEFAULT_RESPONSE,
                                       personalisation={"token": 0.0, "context": shift})
        res = simulate(World(leads=6000, start="2026-08-31", cadence=cadence, tail_days=0,
                             response=response), seed=8)
        t, _ = metric_table(prepare(res.leads, res.events, week="2026-W38", weeks=3),
                            ["reply_rate_by_personalisation"])
        rows = t[t["week"] == "2026-W37"].set_index("segment")
        out[shift] = rows
    hi = out[1.5]
    assert hi.loc["personalisation=context", "low"] > hi.loc["personalisation=token", "high"]
    flat = out[0.0]
    assert flat.loc["personalisation=context", "low"] < flat.loc["personalisation=token", "high"]


def test_overdue_tasks_by_hand():
    cadence = get_cadence("seed_14_day")
    leads, events = export(
        [("a", ts(0), "ads", "high", 0.9), ("b", ts(0), "ads", "high", 0.9),
         ("c", ts(0), "ads", "high", 0.9)],
        [("a", ts(0, 0, 1), "touch", "call_attempt", "call", 0),  # a gets only step 0
         ("b", ts(0, 12), "response", "opt_out", "sms", None),  # b opts out: nothing owed
         ("c", ts(6, 23, 59), "activity", "email_open", "email", None)])
    t, _ = metric_table(prepare(leads, events, week=WEEK, weeks=1, cadence=cadence),
                        ["overdue_tasks"])
    end = events["ts"].max()  # the export ends a minute before the week does
    due = [MON + pd.Timedelta(seconds=o) for o in cadence.offsets()]
    owed = sum(d + pd.Timedelta(days=1) <= end for d in due)  # a day's grace
    # a: every step owed but the first, which it got; c: every step owed
    assert value(t, "overdue_tasks") == (owed - 1) + owed


def test_queue_metrics_see_an_understaffed_team():
    from nurturelab.simulation import Team, World, simulate

    got = {}
    for reps in (1, 12):
        res = simulate(World(leads=1500, start="2026-08-31", team=Team(reps=reps),
                             tail_days=0), seed=9)
        data = prepare(res.leads, res.events, week="2026-W37", weeks=2,
                       cadence="seed_14_day")  # the world's cadence: when steps are due
        t, _ = metric_table(data, ["task_completion", "overdue_tasks", "dropoff",
                                   "speed_to_first_contact_min"])
        got[reps] = t
    for week in ("2026-W36", "2026-W37"):
        assert value(got[1], "overdue_tasks", week=week) > value(got[12], "overdue_tasks",
                                                                  week=week)
    last = len(get_cadence("seed_14_day")) - 1
    assert not got[12]["segment"].eq(f"step={last}").any()  # nothing follows the last step
    assert value(got[1], "task_completion", week="2026-W36") < value(
        got[12], "task_completion", week="2026-W36")
    assert value(got[1], "speed_to_first_contact_min", week="2026-W37") > value(
        got[12], "speed_to_first_contact_min", week="2026-W37")


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------
def test_targets_read_and_refusals(tmp_path):
    f = tmp_path / "targets.yaml"
    f.write_text(textwrap.dedent("""\
        targets:
          - name: fast
            metric: speed_to_first_contact_min
            segment: intent=high
            target: "< 5"
            deadline: 2026-12-31
          - name: replies
            metric: reply_rate
            target: ">= 12%"
            deadline: 2026-10-01
    """))
    a, b = read_targets(f)
    assert (a.op, a.value, a.segment) == ("<", 5.0, "intent=high")
    assert (b.op, b.value, b.segment) == (">=", 0.12, "all")
    f.write_text("targets:\n  - {name: x, metric: speed_to_lead, target: '< 5', "
                 "deadline: 2026-12-31}\n")
    with pytest.raises(ValueError, match=r"targets\[0\].*unknown metric 'speed_to_lead'.*known"):
        read_targets(f)
    f.write_text("targets:\n  - {name: x, metric: reply_rate, target: 'about 5', "
                 "deadline: 2026-12-31}\n")
    with pytest.raises(ValueError, match="comparison"):
        read_targets(f)
    f.write_text("targets:\n  - {name: x, metric: reply_rate, target: '> 1'}\n")
    with pytest.raises(ValueError, match=r"missing \['deadline'\]"):
        read_targets(f)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        read_targets(tmp_path / "nope.yaml")


def test_attainment_statuses_and_trend():
    weeks = ["2026-W38", "2026-W39", "2026-W40", "2026-W41"]
    table = pd.DataFrame({"metric": "reply_rate", "week": weeks, "segment": "all",
                          "value": [0.08, 0.09, 0.10, 0.11], "n": 100, "low": np.nan,
                          "high": np.nan})
    targets = [Target("met", "reply_rate", ">= 0.1", "2026-12-31"),
               Target("ahead", "reply_rate", ">= 0.2", "2026-12-31"),
               Target("late", "reply_rate", ">= 0.2", "2026-10-01"),
               Target("nodata", "reply_rate", ">= 0.2", "2026-12-31", segment="channel=fax")]
    att = attainment(table, targets, "2026-W41").set_index("target")
    assert att["status"].to_dict() == {"met": "pass", "ahead": "warn", "late": "fail",
                                       "nodata": "pending"}
    assert att.loc["met", "trend"] == "improving"
    assert att.loc["met", "slope_per_week"] == pytest.approx(0.01)
    assert "no segment channel=fax" in att.loc["nodata", "detail"]


def test_targets_refuse_unknown_dimensions_impossible_shares_and_loose_dates():
    with pytest.raises(ValueError, match="dimension among"):
        Target("x", "reply_rate", ">= 0.1", "2026-12-31", segment="intnt=high")
    with pytest.raises(ValueError, match="share lies between 0 and 1"):
        Target("x", "reply_rate", "> 110%", "2026-12-31")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Target("x", "reply_rate", ">= 0.1", "31/10/2026")
    assert Target("x", "overdue_tasks", "< 120", "2026-12-31").value == 120


def test_trend_needs_more_than_noise():
    weeks = [f"2026-W{w}" for w in range(36, 44)]
    noisy = [0.10, 0.12, 0.09, 0.11, 0.10, 0.12, 0.09, 0.115]
    table = pd.DataFrame({"metric": "reply_rate", "week": weeks, "segment": "all",
                          "value": noisy, "n": 100, "low": np.nan, "high": np.nan})
    att = attainment(table, [Target("r", "reply_rate", ">= 0.2", "2026-12-31")], weeks[-1])
    assert att.loc[0, "trend"] == "flat"


def test_flows_of_a_past_week_do_not_change_as_weeks_pass():
    """A week's flow rates are about that week only: the report two weeks later agrees."""
    from nurturelab.simulation import World, simulate

    res = simulate(World(leads=2500, start="2026-08-31", tail_days=0), seed=12)
    flows = ["stage_conversion.new", "stage_conversion.contacted", "conversion",
             "opt_out_rate", "time_between_touches_hours"]
    now, _ = metric_table(prepare(res.leads, res.events, week="2026-W37", weeks=1), flows)
    later, _ = metric_table(prepare(res.leads, res.events, week="2026-W39", weeks=3), flows)
    a = now.set_index(["metric", "segment"])["value"]
    b = later[later["week"] == "2026-W37"].set_index(["metric", "segment"])["value"]
    pd.testing.assert_series_equal(a.sort_index(), b.reindex(a.index).sort_index())


def test_biggest_loss_is_weighted_by_leads():
    table = pd.DataFrame({
        "metric": ["stage_conversion.new"] * 2 + ["stage_conversion.contacted"] * 2
        + ["dropoff"] * 2,
        "week": ["W1", "W2"] * 3, "segment": ["all"] * 4 + ["step=2"] * 2,
        "value": [0.30, 0.25, 0.50, 0.30, 0.10, 0.12], "n": [1000, 1000, 40, 40, 500, 500]})
    loss = R.biggest_loss(table, "W2", "W1")
    assert loss["metric"] == "stage_conversion.new"  # -5 pts on 1000 beats -20 on 40


# --------------------------------------------------------------------------------------------
# The whole report
# --------------------------------------------------------------------------------------------
def test_empty_week_is_refused_with_the_range(small):
    leads, events = small
    with pytest.raises(ValueError, match=r"2027-W02 has no leads and no events.*2026-10-05"):
        prepare(leads, events, week="2027-W02")


def test_weekly_report_leaves_inputs_alone_and_renders(small, tmp_path):
    leads, events = small
    before = (leads.copy(), events.copy())
    rep = R.weekly_report(leads, events, week=WEEK, weeks=2,
                          targets=[Target("fast", "first_contact_within_5min", ">= 0.5",
                                          "2026-12-31")])
    pd.testing.assert_frame_equal(leads, before[0])
    pd.testing.assert_frame_equal(events, before[1])
    assert rep.targets.loc[0, "status"] == "warn"  # 0.4 < 0.5, deadline ahead
    page = rep.to_html(tmp_path / "w.html").read_text()
    assert "Weekly full-path report: 2026-W41" in page and "unavailable" in page


# --------------------------------------------------------------------------------------------
# The funnel the report runs on
# --------------------------------------------------------------------------------------------
FOUR = Funnel((Stage("new", "sdr", exit_on=("connect", "reply"), target_days=2),
               Stage("engaged", "sdr", target_days=7), Stage("qualified", "ae", target_days=14),
               Stage("won", "ae")))
SIX = Funnel((Stage("new", "sdr", exit_on=("connect", "reply"), target_days=2),
              Stage("contacted", "sdr", exit_on=("demo_request",), target_days=7),
              Stage("nurtured", "marketing", target_days=10), Stage("qualified", "ae",
                                                                   target_days=14),
              Stage("proposal", "ae", target_days=30), Stage("won", "ae")))


def stage_metrics(names) -> set[str]:
    return {n for n in names if n.split(".")[0] in R.STAGE_METRICS}


@pytest.mark.parametrize("funnel", [FOUR, SIX], ids=["four", "six"])
def test_stage_metrics_follow_the_funnel_given(small, funnel):
    """Regression: the stage metrics were built from DEFAULT_FUNNEL at import and looked up by
    position in the caller's funnel, so a four-stage funnel crashed (TypeError '<' between
    ndarray and Timestamp)."""
    leads, events = small
    rep = R.weekly_report(leads, events, week=WEEK, weeks=1, funnel=funnel)
    expected = {f"stage_conversion.{s.name}" for s in funnel.stages[:-1]} | {
        f"past_target.{s.name}" for s in funnel.stages[:-1] if s.target_days}
    assert stage_metrics(rep.metrics) == expected
    assert stage_metrics(set(rep.table["metric"]) | set(rep.unavailable)) == expected
    assert rep.funnel is funnel
    # in 'new' during the week: all five; a (connect) and b (reply) moved on
    assert rep.value("stage_conversion.new") == pytest.approx(2 / 5)
    t = rep.table
    second = funnel.names[1]
    # a entered the second stage on day 0 and qualified on day 2; b entered it on day 2
    assert value(t, f"stage_conversion.{second}") == pytest.approx(1 / 2)
    assert value(t, "stage_conversion.qualified") == pytest.approx(1.0)  # a won on day 4
    assert rep.metrics[f"stage_conversion.{second}"].label == (
        f"{second} → {funnel.names[2]} in the week")


def test_unobserved_stages_of_the_funnel_are_unavailable_with_the_reason(small):
    leads, events = small
    rep = R.weekly_report(leads, events, week=WEEK, weeks=1, funnel=SIX)
    why = rep.unavailable
    # nothing enters 'nurtured' (no stage event; contacted's exit, demo_request, never happens)
    assert why["stage_conversion.nurtured"] == (
        "the export does not observe the stage 'nurtured': it has no 'nurtured' stage event "
        "and no demo_request event, so no lead is seen entering it")
    assert "'proposal' stage event" in why["stage_conversion.proposal"]
    # how long a lead sits in 'qualified' needs 'proposal' seen: a lead could move on unseen
    assert why["past_target.qualified"].endswith("so it cannot tell when a lead leaves "
                                                 "'qualified'")
    assert "past_target.new" not in why  # 'contacted' is observed (a connect, a reply)


def test_targets_are_checked_against_the_funnel(small, tmp_path):
    leads, events = small
    on_four = Target("engaged", "stage_conversion.engaged", ">= 0.4", "2026-12-31")
    rep = R.weekly_report(leads, events, week=WEEK, weeks=1, funnel=FOUR, targets=[on_four])
    assert rep.targets.loc[0, "status"] == "pass" and rep.targets.loc[0, "value"] == 0.5
    with pytest.raises(ValueError, match=r"target 'engaged' names an unknown metric "
                                         r"'stage_conversion.engaged'; known metrics: .*"
                                         r"stage_conversion.contacted.*\(of the funnel new → "):
        R.weekly_report(leads, events, week=WEEK, weeks=1, targets=[on_four])
    f = tmp_path / "targets.yaml"
    f.write_text("targets:\n  - {name: x, metric: past_target.won, target: '< 10%', "
                 "deadline: 2026-12-31}\n")
    assert read_targets(f)[0].metric == "past_target.won"  # some funnel may have it
    with pytest.raises(ValueError, match=r"targets\[0\]: target 'x' names an unknown metric "
                                         "'past_target.won'"):
        read_targets(f, funnel=FOUR)
    with pytest.raises(TypeError, match="The 'funnel' parameter of weekly_report must be a "
                                        "Funnel"):
        R.weekly_report(leads, events, week=WEEK, funnel="four.yaml")


# --------------------------------------------------------------------------------------------
# Exports that lack a metric's inputs
# --------------------------------------------------------------------------------------------
def test_an_export_without_touches_reports_no_speed_and_pending_targets(small):
    """Regression: on an export with no touch events (the Olist funnel) speed to first contact
    was the time waited (7,020 min), 'within 5 min' 0.000 and their targets 'warn'."""
    leads, events = small
    # only stage events: a won on day 4, z lost at the week's end (so the export runs to it)
    wins = events[events["name"].eq("won")].reset_index(drop=True)
    wins.loc[1] = wins.loc[0].copy()
    wins.loc[1, ["lead_id", "ts", "name"]] = ["z", ts(6, 23, 59), "lost"]
    targets = [Target("fast", "speed_to_first_contact_min", "< 5", "2026-12-31"),
               Target("five", "first_contact_within_5min", ">= 50%", "2026-12-31"),
               Target("opt", "opt_out_rate", "< 2%", "2026-12-31")]
    rep = R.weekly_report(leads, wins, week=WEEK, weeks=2, targets=targets)
    why = rep.unavailable
    touch = "needs touch events (each lead's first outbound touch); this export has none"
    assert why["speed_to_first_contact_min"] == touch
    assert why["first_contact_within_5min"] == touch
    for name in ("time_between_touches_hours", "handoff_response_hours"):
        assert why[name].startswith("needs touch events"), name
    for name in ("contact_rate", "opt_out_rate"):
        assert why[name].startswith("needs response events"), name
    for name in ("score_to_conversion", "score_decay_rate"):
        assert "every lead has the same score" in why[name]
    for stage in ("contacted", "qualified", "proposal"):
        assert f"does not observe the stage {stage!r}" in why[f"stage_conversion.{stage}"]
    assert "speed_to_first_contact_min" not in set(rep.table["metric"])
    att = rep.targets.set_index("target")
    assert att["status"].tolist() == ["pending"] * 3
    assert att.loc["fast", "detail"] == touch and np.isnan(att.loc["fast", "value"])
    assert att.loc["opt", "detail"].startswith("needs response events")
    # what it does observe is still reported: a won on day 4 of the five leads open
    assert rep.value("conversion") == pytest.approx(1 / 5)


def test_an_export_without_responses_keeps_its_speed(small):
    leads, events = small
    quiet = events[~events["type"].eq("response")].reset_index(drop=True)
    t, why = metric_table(prepare(leads, quiet, week=WEEK, weeks=1),
                          ["speed_to_first_contact_min", "contact_rate", "reply_rate"])
    assert value(t, "speed_to_first_contact_min") == pytest.approx(np.median([3, 10, 2, 60, 30]))
    assert why["contact_rate"] == ("needs response events (a connect or a reply); this export "
                                   "has none")
    assert value(t, "reply_rate") == 0.0  # touches were sent and none was answered: a zero


# --------------------------------------------------------------------------------------------
# The report object
# --------------------------------------------------------------------------------------------
def test_weekly_report_keeps_the_result_protocol(small):
    leads, events = small
    rep = R.weekly_report(leads, events, week=WEEK, weeks=2,
                          targets=[Target("fast", "first_contact_within_5min", ">= 0.5",
                                          "2026-12-31")])
    assert_result_protocol(rep)
    assert repr(rep) == (f"<WeeklyReport: {WEEK}, {rep.table['metric'].nunique()} metrics, "
                         f"{len(rep.unavailable)} unavailable, 0 of 1 targets met>")
    assert list(rep.summary.index) == list(rep.headline().index)
    text = rep.to_text()
    assert "Targets:" in text and "unavailable: content_engagement: needs the events column" \
        in text
    for group in R.GROUPS:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        assert rep.plot(ax=ax, group=group) is ax
        plt.close(fig)


def test_last_full_week_is_the_last_week_the_export_covers_to_its_sunday(small):
    leads, events = small
    assert R.last_full_week(events) == WEEK  # the export ends on Sunday 11 October
    cut = events[events["ts"] < ts(6)]  # the last event on Saturday: W41 is not full
    assert R.last_full_week(cut) == "2026-W40"
    with pytest.raises(ValueError, match="events is empty"):
        R.last_full_week(events.iloc[:0])
    with pytest.raises(KeyError, match=r"lacks the column\(s\) \['ts'\]"):
        R.last_full_week(events.drop(columns="ts"))


def test_target_files_are_strict(tmp_path):
    f = tmp_path / "targets.yaml"
    f.write_text("targets: []\ntarget: []\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['target'\]; the file holds one "
                                         "key, 'targets'"):
        read_targets(f)
    f.write_text("targets:\n  - {name: x, metric: reply_rate, metric: conversion, "
                 "target: '> 0.1', deadline: 2026-12-31}\n")
    with pytest.raises(ValueError, match="key 'metric' is given twice"):
        read_targets(f)
    f.write_text("targets:\n  - {name: x, metric: reply_rate, target: '> 0.1', "
                 "deadline: 2026-12-31}\n  - {name: x, metric: conversion, target: '> 0.1', "
                 "deadline: 2026-12-31}\n")
    with pytest.raises(ValueError, match=r"targets\[1\]: the name 'x' is given twice"):
        read_targets(f)
    with pytest.raises(ValueError, match="comparison"):
        Target("x", "reply_rate", ">= 1.2.3", "2026-12-31")


def test_the_default_registry_is_the_default_funnels():
    assert list(METRICS) == list(R.build_metrics(DEFAULT_FUNNEL))
    assert stage_metrics(METRICS) == {
        "stage_conversion.new", "stage_conversion.contacted", "stage_conversion.qualified",
        "stage_conversion.proposal", "past_target.new", "past_target.contacted",
        "past_target.qualified", "past_target.proposal"}
    with pytest.raises(ValueError, match="The 'unit' of Metric 'x' must be one of"):
        R.Metric("x", "x", "intake", "percent", "higher", lambda d: None)
