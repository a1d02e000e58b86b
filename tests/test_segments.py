import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from nurturelab.funnel import outcomes
from nurturelab.schema import validate_events, validate_leads
from nurturelab.segments import (
    DEFAULT_ICP,
    FitRule,
    IcpRules,
    read_icp_rules,
    route,
    segment_rates,
    segments,
)


def _leads():
    return pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d", "e", "f"],
            "created_at": ["2026-01-05 09:00"] * 6,
            "source": ["web", "web", "ads", "ads", "web", "ads"],
            "intent": ["high", "low", "high", "medium", None, "low"],
            "fit": [0.9, 0.8, 0.1, 0.7, 0.95, None],
            "industry": ["saas", "retail", "saas", "finance", None, "saas"],
            "company_size": [120, 10, 60, 2000, 55, np.nan],
            "persona": ["founder", "it_manager", None, "sales_ops", "founder", "founder"],
        }
    )


def test_fit_rules_score_sum_clip_and_missing_never_matches():
    rules = IcpRules(
        (
            FitRule("industry", "in", ["saas", "finance"], 0.3),
            FitRule("company_size", ">=", 50, 0.2),
            FitRule("company_size", ">=", 1000, -0.1),
        ),
        base=0.2,
    )
    score = rules.score(_leads())
    np.testing.assert_allclose(score, [0.7, 0.2, 0.7, 0.6, 0.4, 0.5])
    big = IcpRules((FitRule("industry", "in", ["saas"], 5.0),), base=0.5).score(_leads())
    assert score.between(0, 1).all() and big.max() == 1.0


def test_apply_fills_only_missing_fit_unless_overwrite():
    leads = _leads()
    before = leads.copy()
    filled = DEFAULT_ICP.apply(leads)
    pd.testing.assert_frame_equal(leads, before)  # input untouched
    assert filled.loc[:4, "fit"].tolist() == leads.loc[:4, "fit"].tolist()
    assert filled.loc[5, "fit"] == DEFAULT_ICP.score(leads).iloc[5]
    assert DEFAULT_ICP.apply(leads, overwrite=True)["fit"].equals(DEFAULT_ICP.score(leads))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"column": "industry", "op": "has", "value": "x", "points": 1}, "'op' must be one of"),
        ({"column": "industry", "op": "in", "value": "saas", "points": 1}, "needs a list"),
        ({"column": "", "op": "==", "value": 1, "points": 1}, "'column' must be"),
        ({"column": "x", "op": "==", "value": 1, "points": float("nan")}, "'points' must be"),
    ],
)
def test_fit_rule_validation_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FitRule(**kwargs)


def test_rule_on_missing_column_names_it():
    with pytest.raises(KeyError, match="'region'"):
        FitRule("region", "in", ["emea"], 0.1).matches(_leads())


def test_read_icp_rules_yaml(tmp_path):
    p = tmp_path / "icp.yaml"
    p.write_text(
        "base: 0.2\nrules:\n"
        "  - {column: industry, op: in, value: [saas, finance], points: 0.3}\n"
        "  - {column: company_size, op: '>=', value: 50, points: 0.2}\n"
    )
    rules = read_icp_rules(p)
    assert rules.base == 0.2 and len(rules.rules) == 2
    assert rules.rules[0].value == ("saas", "finance")
    p.write_text("base: 0.2\nrules:\n  - {column: x, op: '==', value: 1, pts: 2}\n")
    with pytest.raises(ValueError, match=r"rule 0: unknown key\(s\) \['pts'\]"):
        read_icp_rules(p)
    p.write_text("bias: 0.2\n")
    with pytest.raises(ValueError, match="unknown key"):
        read_icp_rules(p)


def test_segments_and_routing_follow_the_business_rules():
    seg = segments(_leads(), fit_threshold=0.6)
    assert seg["fit_band"].astype(str).tolist() == ["high", "high", "low", "high", "high",
                                                     "unknown"]
    assert seg["intent"].astype(str).tolist() == ["high", "low", "high", "medium", "unknown",
                                                   "low"]
    assert seg["route"].astype(str).tolist() == [
        "immediate", "educational", "deprioritised", "standard", "standard", "standard"]
    assert seg.loc["a", "segment"] == "high intent · high fit"
    pd.testing.assert_series_equal(route(seg), seg["route"])


def test_segments_validation():
    with pytest.raises(ValueError, match="fit_threshold"):
        segments(_leads(), fit_threshold=0)
    with pytest.raises(KeyError, match="'intent'"):
        segments(_leads().drop(columns="intent"))


def test_segment_rates_counts_and_wilson_intervals():
    leads = validate_leads(_leads())
    ev = pd.DataFrame(
        {
            "lead_id": ["a", "c", "b", "d"],
            "ts": ["2026-01-09 10:00", "2026-01-09 10:00", "2026-01-06 10:00",
                   "2026-01-06 10:00"],
            "type": ["stage", "stage", "response", "response"],
            "name": ["won", "won", "opt_out", "opt_out"],
        }
    )
    events = validate_events(ev, leads)
    out = outcomes(leads, events)
    seg = segments(leads)
    t = segment_rates(seg, out, events, by=("source",))
    assert t.loc["web", "leads"] == 3 and t.loc["web", "converted"] == 1
    assert t.loc["ads", "converted"] == 1 and t.loc["ads", "opted_out"] == 1
    lo, hi = proportion_confint(1, 3, method="wilson")
    assert t.loc["web", "conv_ci_low"] == pytest.approx(lo)
    assert t.loc["web", "conv_ci_high"] == pytest.approx(hi)
    assert t["leads"].sum() == len(leads)
    with pytest.raises(KeyError, match="cannot group by"):
        segment_rates(seg, out, events, by=("region",))


def test_fit_rules_key_given_twice_is_refused(tmp_path):
    from nurturelab.segments import read_icp_rules

    path = tmp_path / "icp.yaml"
    path.write_text("base: 0.1\nbase: 0.2\nrules: []\n")
    with pytest.raises(ValueError, match=r"key 'base' is given twice"):
        read_icp_rules(path)
