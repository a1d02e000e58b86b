"""AuditSettings: one frozen, validated object for everything an audit is told, whose messages
name the field, the rule and the value; audit() takes it, or its fields as a shorthand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_audit import FEATURES, make_rows  # the rows of tests/test_audit.py

from nurturelab.scoring.audit import AuditRules, AuditSettings, audit


@pytest.fixture(scope="module")
def periods():
    return (make_rows(300, seed=1),
            make_rows(300, start="2026-10-01", weeks=5, until="2026-11-02", seed=2))


def test_defaults_and_normalisation():
    s = AuditSettings()
    assert (s.threshold, s.set_for, s.capacity_per_day, s.days, s.horizon_days) == (None,) * 5
    assert s.rules == AuditRules() and s.seed == 0 and s.labels == ("reference", "month")
    s = AuditSettings(features=["x", "source"], labels=["2026-09", "2026-10"],
                      set_for=[0.5, 0.4, 0.6])
    assert s.features == ("x", "source") and s.labels == ("2026-09", "2026-10")
    assert s.set_for == (0.5, 0.4, 0.6)
    hash(s)  # frozen and hashable: a value, like the rules
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.threshold = 0.3


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(threshold=np.nan), "The 'threshold' field of AuditSettings must be a finite number or "
                             "None. Got nan instead."),
    (dict(threshold="0.3"), "The 'threshold' field of AuditSettings must be a finite number or "
                            "None. Got '0.3' instead."),
    (dict(capacity_per_day=-2), "The 'capacity_per_day' field of AuditSettings must be a finite "
                                "number > 0 or None. Got -2 instead."),
    (dict(days=0), "The 'days' field of AuditSettings must be a finite number > 0 or None. Got 0 "
                   "instead."),
    (dict(horizon_days=True), "The 'horizon_days' field of AuditSettings must be a finite "
                              "number > 0 or None. Got True instead."),
    (dict(set_for=1.5), "The 'set_for' field of AuditSettings must be a precision in [0, 1] or "
                        "(estimate, low, high) with low <= high. Got 1.5 instead."),
    (dict(set_for=(0.5, 0.4)), "The 'set_for' field of AuditSettings must be a precision in "
                               "[0, 1] or (estimate, low, high) with low <= high. Got (0.5, 0.4) "
                               "instead."),
    (dict(probability="yes"), "The 'probability' field of AuditSettings must be True, False or "
                              "None. Got 'yes' instead."),
    (dict(features="x"), "The 'features' field of AuditSettings must be a sequence of column "
                         "names or None. Got 'x' instead."),
    (dict(rules={"n_boot": 20}), "The 'rules' field of AuditSettings must be an AuditRules. Got "
                                 "{'n_boot': 20} instead."),
    (dict(seed=-1), "The 'seed' field of AuditSettings must be an int >= 0, a numpy SeedSequence "
                    "or None. Got -1 instead."),
    (dict(labels=("2026-10",)), "The 'labels' field of AuditSettings must be two str, "
                                "(reference, month). Got ('2026-10',) instead."),
    (dict(threshold_source=3), "The 'threshold_source' field of AuditSettings must be a str. Got "
                               "3 instead."),
])
def test_bad_settings_are_refused_naming_field_rule_and_value(kwargs, message):
    with pytest.raises(ValueError) as exc:
        AuditSettings(**kwargs)
    assert str(exc.value) == message


def test_settings_object_and_shorthand_give_the_same_audit(periods):
    ref, month = periods
    settings = AuditSettings(threshold=0.3, set_for=0.4, capacity_per_day=10.0,
                             features=FEATURES, rules=AuditRules(n_boot=20), seed=4,
                             labels=("2026-07..2026-09", "2026-10"))
    a = audit(ref, month, settings=settings)
    b = audit(ref, month, threshold=0.3, set_for=0.4, capacity_per_day=10.0, features=FEATURES,
              rules=AuditRules(n_boot=20), seed=4, labels=("2026-07..2026-09", "2026-10"))
    pd.testing.assert_frame_equal(a.checks, b.checks)
    assert a.meta == b.meta
    # a change on top of a settings object
    c = audit(ref, month, settings=settings, threshold=0.5)
    assert c.meta["threshold"] == 0.5 and c.meta["capacity_per_day"] == 10.0
    assert settings.threshold == 0.3  # not modified


def test_audit_refuses_unknown_settings_and_bad_values(periods):
    ref, month = periods
    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['treshold'\]; the settings "
                                        r"are the fields of AuditSettings"):
        audit(ref, month, treshold=0.3)
    with pytest.raises(TypeError, match="'settings' parameter of audit must be an AuditSettings"):
        audit(ref, month, settings={"threshold": 0.3})
    with pytest.raises(ValueError, match="'capacity_per_day' field of AuditSettings"):
        audit(ref, month, capacity_per_day=0)
