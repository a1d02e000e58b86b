"""The sample CRM export: deterministic, valid, and with the effects it claims to carry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nurturelab import funnel as F
from nurturelab.schema import validate_events, validate_leads
from nurturelab.synthetic import PERSONAL_COLUMNS, SOURCES, make_export

START = pd.Timestamp("2026-08-31", tz="UTC")
END = START + pd.Timedelta(days=63)


@pytest.fixture(scope="module")
def big():
    """5,000 leads: enough for direction-of-effect checks."""
    return make_export(n_leads=5000, seed=1)


@pytest.fixture(scope="module")
def small():
    return make_export(n_leads=400, seed=3)


def test_same_seed_same_tables(small):
    again = make_export(n_leads=400, seed=3)
    pd.testing.assert_frame_equal(again.leads, small.leads)
    pd.testing.assert_frame_equal(again.events, small.events)


def test_different_seeds_differ(small):
    other = make_export(n_leads=400, seed=4)
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(other.leads, small.leads)
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(other.events, small.events)
    assert not other.leads["created_at"].equals(small.leads["created_at"])


def test_output_passes_validation_unchanged(small):
    leads, events = small
    pd.testing.assert_frame_equal(validate_leads(leads), leads)
    pd.testing.assert_frame_equal(validate_events(events, leads), events)
    assert events["ts"].is_monotonic_increasing
    assert list(events.index) == list(range(len(events)))


def test_shape_ids_and_labels(small):
    leads, events = small
    assert len(leads) == 400
    assert leads["lead_id"].is_unique
    assert leads["lead_id"].iloc[[0, -1]].tolist() == ["L000001", "L000400"]
    assert set(leads["source"].astype(str)) <= set(SOURCES)
    assert set(events["type"].astype(str)) == {"touch", "response", "activity", "stage"}
    assert set(events.loc[events["type"] == "stage", "name"]) <= {"qualified", "proposal", "won",
                                                                   "lost"}
    assert leads["created_at"].is_monotonic_increasing


def test_personal_columns(small):
    leads, _ = small
    assert PERSONAL_COLUMNS == ("name", "email", "phone")
    for col in PERSONAL_COLUMNS:
        assert col in leads.columns
        assert leads[col].notna().all()
    assert leads["email"].str.endswith("@example.com").all()
    assert leads["email"].is_unique
    assert leads["phone"].str.fullmatch(r"\+1-202-555-01\d\d").all()
    assert leads["name"].str.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+").all()


def test_intake_window_and_export_cut(small):
    leads, events = small
    assert leads["created_at"].min() >= START
    assert leads["created_at"].max() < END
    assert events["ts"].max() <= END  # events after the export date are cut off
    created = events["lead_id"].map(leads.set_index("lead_id")["created_at"])
    assert (events["ts"] >= created).all()


def test_first_touch_is_in_office_hours(small):
    _, events = small
    first = events[(events["type"] == "touch") & events["step"].eq(0)]
    assert len(first) > 300
    assert (first["ts"].dt.weekday < 5).all()
    assert first["ts"].dt.hour.between(8, 17).all()


def test_stage_events_are_consistent(big):
    _, events = big
    st = events[events["type"] == "stage"].pivot_table(
        index="lead_id", columns="name", values="ts", aggfunc="min")
    assert not (st["won"].notna() & st["lost"].notna()).any()  # never both won and lost
    assert (st["won"].isna() | (st["proposal"] <= st["won"])).all()
    assert (st["proposal"].isna() | (st["qualified"] <= st["proposal"])).all()
    assert st["won"].notna().sum() > 50


def test_faster_first_touch_goes_with_higher_contact_rate(big):
    leads, events = big
    speed = F.speed_to_first_touch(leads, events)
    contacted = F.outcomes(leads, events)["stage_index"].ge(1)
    fast, slow = speed.le(5), speed.gt(30)
    assert fast.sum() > 300 and slow.sum() > 300
    assert contacted[fast].mean() > contacted[slow].mean() + 0.1


def test_higher_intent_converts_more(big):
    leads, events = big
    out = F.outcomes(leads, events)
    intent = leads.set_index("lead_id")["intent"]
    rate = out["converted"].groupby(intent, observed=True).mean()
    assert list(rate.index) == ["low", "medium", "high"]
    assert rate["low"] < rate["medium"] < rate["high"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_leads": 0}, "'n_leads' must be at least 1. Got 0"),
     ({"n_leads": 10, "days": 0}, "'days' must be at least 1. Got 0")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_export(**kwargs)


def test_start_and_days_set_the_window():
    leads, events = make_export(n_leads=50, seed=2, start="2026-01-05", days=7)
    start = pd.Timestamp("2026-01-05", tz="UTC")
    assert leads["created_at"].min() >= start
    assert leads["created_at"].max() < start + pd.Timedelta(days=7)
    assert events["ts"].max() <= start + pd.Timedelta(days=7)


# --------------------------------------------------------------------------------------------
# The cadence as generated
# --------------------------------------------------------------------------------------------
def test_cadence_steps_are_sent_in_order(small):
    _, events = small
    cad = events[(events["type"] == "touch") & events["step"].notna()]
    steps = cad.sort_values(["lead_id", "ts", "step"], kind="stable")
    back = steps.groupby("lead_id")["step"].diff().lt(0)
    assert not back.any(), f"{int(back.sum())} leads get a step before the previous one"


def test_cadence_stops_at_first_response():
    _, events = make_export(n_leads=3000, seed=4)
    first_resp = events[events["type"] == "response"].groupby("lead_id")["ts"].min()
    cad = events[(events["type"] == "touch") & events["step"].notna()]
    after = cad["ts"].to_numpy() > cad["lead_id"].map(first_resp).to_numpy()
    assert not np.any(after), f"{int(np.sum(after))} cadence touches after a response"
