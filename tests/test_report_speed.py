"""The fast paths of the weekly report and the audit give exactly the figures of the plain
computations they replace (issue 17: faster, results unchanged)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nurturelab.funnel import DEFAULT_FUNNEL, Funnel, Stage, outcomes
from nurturelab.report.data import funnel_events
from nurturelab.scoring.audit import scored_snapshots
from nurturelab.scoring.audit.bootstrap import _grouped_auc, _score_groups, _sorted_ks
from nurturelab.scoring.audit.statistics import ks_statistic, weighted_auc
from nurturelab.scoring.points import DEFAULT_RULES
from nurturelab.scoring.thresholds import score_leads


@pytest.fixture(scope="module")
def export():
    from nurturelab.synthetic import make_export

    return make_export(n_leads=300, seed=1)


@pytest.mark.parametrize("funnel", [DEFAULT_FUNNEL, Funnel((
    Stage("new", "sdr", exit_on=("reply", "connect")), Stage("won", "ae")))])
def test_outcomes_from_the_funnels_events_are_the_outcomes(export, funnel):
    leads, events = export
    some = funnel_events(events, funnel)
    assert len(some) < len(events)
    for t in ("2026-09-10", "2026-10-05 12:00", None):
        pd.testing.assert_frame_equal(outcomes(leads, some, funnel, as_of=t or events["ts"].max()),
                                      outcomes(leads, events, funnel, as_of=t))


def test_grouped_auc_and_ks_equal_the_plain_ones():
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(5, 300))
        s = rng.integers(0, 12, n) / 4.0  # many ties
        case = rng.random(n) < 0.3
        w = rng.multinomial(n, np.full(n, 1 / n)).astype(float)  # zeros, as in a resample
        wc = np.where(case, w * rng.uniform(1, 2, n), 0.0)
        wn = np.where(~case & (rng.random(n) < 0.7), w, 0.0)
        rows = {"p": pd.DataFrame({"score": s})}
        m = rng.random(n) < 0.5
        g = _score_groups(rows, {"p": [m]})["p"]
        assert _grouped_auc(g["all"], wc, wn) == weighted_auc(s, wc, wn) or (
            np.isnan(weighted_auc(s, wc, wn)))
        assert _grouped_auc(g["snap"][0], wc[m], wn[m]) == weighted_auc(s[m], wc[m], wn[m]) or (
            np.isnan(weighted_auc(s[m], wc[m], wn[m])))
        assert _sorted_ks(g["ks"], wc, wn) == ks_statistic(s, wc, wn) or (
            np.isnan(ks_statistic(s, wc, wn)))


def test_scored_snapshots_points_are_the_scores_of_score_leads(export):
    leads, events = export
    rows = scored_snapshots(leads, events, DEFAULT_RULES, horizon_days=30,
                            times=["2026-09-15", "2026-10-01", "2026-10-20"])
    for t, g in rows.groupby("as_of"):
        ev = events[events["ts"] <= events["ts"].max()]
        want = score_leads(leads, ev, DEFAULT_RULES, as_of=t, lead_ids=g["lead_id"])
        np.testing.assert_array_equal(g["score"].to_numpy(), want)
