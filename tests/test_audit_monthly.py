"""audit_month, the audit of an export that `nurturelab audit` and notebook 06 run: the same as
scoring the snapshots and auditing them by hand, the reference named by the months that had
leads, the recorded threshold and its horizon check, and the refusals."""

from __future__ import annotations

import pandas as pd
import pytest

from nurturelab.scoring.audit import (
    AuditResult,
    AuditRules,
    AuditSettings,
    audit,
    audit_month,
    monthly_snapshot_times,
    scored_snapshots,
    snapshot_times,
)
from nurturelab.scoring.points import DEFAULT_RULES
from nurturelab.scoring.thresholds import RecordedThreshold

QUICK = AuditSettings(rules=AuditRules(n_boot=20))


@pytest.fixture(scope="module")
def export():
    from nurturelab.synthetic import make_export

    return make_export(n_leads=800, seed=3)  # leads from 31 August to 1 November 2026


@pytest.fixture(scope="module")
def october(export):
    leads, events = export
    return audit_month(leads, events, DEFAULT_RULES, "2026-10", settings=QUICK)


def test_monthly_snapshot_times_restart_on_the_first_of_each_month():
    times = monthly_snapshot_times("2026-07", 3)
    assert [f"{t:%m-%d}" for t in times] == [
        "07-01", "07-08", "07-15", "07-22", "07-29", "08-01", "08-08", "08-15", "08-22",
        "08-29", "09-01", "09-08", "09-15", "09-22", "09-29"]
    assert str(times.tz) == "UTC"
    with pytest.raises(ValueError, match="'months' must be a whole number >= 1. Got 0"):
        monthly_snapshot_times("2026-07", 0)


def test_audit_month_is_the_audit_of_the_scored_snapshots(export, october):
    leads, events = export
    rows = {key: scored_snapshots(leads, events, DEFAULT_RULES, horizon_days=30,
                                  times=snapshot_times(a, b))
            for key, (a, b) in (("reference", ("2026-09-01", "2026-10-01")),
                                ("month", ("2026-10-01", "2026-11-01")))}
    by_hand = audit(rows["reference"], rows["month"], settings=QUICK,
                    labels=("2026-09", "2026-10"))
    assert isinstance(october, AuditResult)
    for name in ("checks", "drift", "deciles", "snapshots", "stuck"):
        pd.testing.assert_frame_equal(getattr(october, name), getattr(by_hand, name))
    pd.testing.assert_frame_equal(october.rows["month"], rows["month"])
    assert october.meta["horizon_days"] == 30.0  # the default horizon
    assert october.meta["scorer"] == "points"
    assert (october.meta["reference_months"], october.meta["every_days"]) == (3, 7.0)


def test_reference_is_named_by_the_months_that_had_leads(october):
    assert october.meta["reference_label"] == "2026-09"
    assert october.notes == ("of the reference months 2026-07..2026-09, only 2026-09 had open "
                             "leads; the reference is those",)
    assert "Audit of 2026-10 against 2026-09: points, conversion within 30 days" in (
        october.to_text())


def test_observed_until_audits_as_if_the_export_were_taken_then(export):
    leads, events = export
    early = audit_month(leads, events, DEFAULT_RULES, "2026-10", settings=QUICK,
                        observed_until="2026-10-20")
    assert early.meta["observed_until"] == pd.Timestamp("2026-10-20", tz="UTC")
    assert early.rows["month"]["as_of"].max() <= pd.Timestamp("2026-10-20", tz="UTC")
    row = early.checks.set_index("check").loc["AUC"]
    assert row["status"] == "pending" and "2026-10-31" in row["detail"]


RECORDED = RecordedThreshold(threshold=30.0, rule="capacity", precision=0.2, precision_low=0.1,
                             precision_high=0.3, capacity_per_day=4.0, days=30.0,
                             as_of="2026-09-01T00:00:00+00:00", version="7")


def test_the_recorded_threshold_and_what_it_was_set_for_are_used(export):
    leads, events = export
    res = audit_month(leads, events, DEFAULT_RULES, "2026-10", settings=QUICK,
                      recorded=RECORDED)
    assert res.meta["threshold"] == 30.0
    assert res.meta["threshold_source"] == "recorded on version 7, chosen by capacity at 2026-09-01"
    assert res.meta["set_for"] == (0.2, 0.1, 0.3)
    assert (res.meta["capacity_per_day"], res.meta["days"]) == (4.0, 30.0)
    checks = res.checks.set_index("check")
    assert checks.loc["flagged per day", "reference"] == 4.0
    assert "recorded when the threshold was chosen" in checks.loc["conversion above threshold",
                                                                  "detail"]
    assert res.notes == (
        "of the reference months 2026-07..2026-09, only 2026-09 had open leads; the reference "
        "is those",)


def test_a_threshold_recorded_for_another_horizon_keeps_only_the_threshold(export):
    leads, events = export
    res = audit_month(leads, events, DEFAULT_RULES, "2026-10", recorded=RECORDED,
                      settings=AuditSettings(horizon_days=14, rules=AuditRules(n_boot=20)))
    assert res.meta["threshold"] == 30.0 and res.meta["set_for"] is None
    assert res.meta["capacity_per_day"] is None and res.meta["days"] == 14.0
    assert res.checks.set_index("check").loc["flagged per day", "status"] == "skip"
    assert res.notes[0].startswith("the threshold recorded on version 7 was chosen for "
                                   "conversion within 30 days, this audit judges 14; its "
                                   "precision and capacity are not used")


def test_what_the_caller_sets_wins_over_the_recorded_threshold(export):
    leads, events = export
    res = audit_month(leads, events, DEFAULT_RULES, "2026-10", recorded=RECORDED,
                      settings=AuditSettings(threshold=20.0, capacity_per_day=9.0,
                                             threshold_source="given (--threshold)",
                                             rules=AuditRules(n_boot=20)))
    assert res.meta["threshold"] == 20.0
    assert res.meta["threshold_source"] == "given (--threshold)"
    assert res.meta["set_for"] is None  # the precision was recorded for another threshold
    assert res.meta["capacity_per_day"] == 9.0


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(month="2027-03"), ValueError,
     r"^2027-03 is outside the export: its events run from 2026-08-31 to 2026-11-01$"),
    (dict(month="2026-10", observed_until="2026-09-15"), ValueError,
     r"2026-10 is outside the export: .* \(audited as of 2026-09-15\)"),
    (dict(month="2026-09", reference_months=1), ValueError,
     r"^2026-08 has no open leads at its snapshots \(every 7 days from the first of the "
     r"month\); the export's leads were created from 2026-08-31 to 2026-11-01; take more "
     r"reference months"),
    (dict(month="October"), ValueError, "YYYY-MM"),
    (dict(month="2026-10", reference_months=0), ValueError,
     r"'reference_months' parameter of audit_month must be a whole number >= 1. Got 0"),
    (dict(month="2026-10", every_days=0), ValueError, "'every_days' must be a positive number"),
    (dict(month="2026-10", settings={"threshold": 3}), TypeError,
     "'settings' parameter of audit_month must be an AuditSettings. Got dict"),
    (dict(month="2026-10", recorded={"threshold": 3}), TypeError,
     "'recorded' parameter of audit_month must be a RecordedThreshold or None. Got dict"),
])
def test_refusals_name_the_problem(export, kwargs, error, match):
    leads, events = export
    with pytest.raises(error, match=match):
        audit_month(leads, events, DEFAULT_RULES, **kwargs)


def test_raw_tables_are_refused(export):
    leads, events = export
    with pytest.raises(TypeError, match="'leads' must be a validated table"):
        audit_month(leads.astype({"created_at": str}), events, DEFAULT_RULES, "2026-10")
