"""The fifth pass of issue 17: the report reads each lead id as an integer code made once in
``prepare``. The codes are the ids' sorted positions; the report from them is the report from
the ids to the bit, and tables outside the contract keep their ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nurturelab.report.data as report_data
from nurturelab.report.aggregate import _lead_rows
from nurturelab.report.data import _coded, prepare
from nurturelab.report.metrics import metric_table


@pytest.fixture(scope="module")
def world():
    """A simulated export (every metric's inputs but objections) with ids out of sorted order."""
    from nurturelab.simulation import World, simulate

    res = simulate(World(leads=1500, start="2026-08-31", tail_days=0), seed=7)
    leads, events = res.leads, res.events
    # ids whose sorted order is neither the export's nor the order of their numbers
    rename = {i: f"{'zyx'[k % 3]}-{k * 7919 % 1500}" for k, i in enumerate(leads["lead_id"])}
    return (leads.assign(lead_id=leads["lead_id"].map(rename)),
            events.assign(lead_id=events["lead_id"].map(rename)))


def test_codes_are_the_sorted_ids_positions(world):
    leads, events = world
    ld, ev, ids = _coded(leads.copy(), events.copy())
    assert ids is not None and list(ids) == sorted(leads["lead_id"])
    assert ld["lead_id"].dtype == np.int64 and ev["lead_id"].dtype == np.int64
    np.testing.assert_array_equal(ids[ld["lead_id"].to_numpy()], leads["lead_id"].to_numpy())
    np.testing.assert_array_equal(ids[ev["lead_id"].to_numpy()], events["lead_id"].to_numpy())
    assert ld.drop(columns="lead_id").equals(leads.drop(columns="lead_id"))


def test_the_report_from_codes_is_the_report_from_ids(world, monkeypatch):
    leads, events = world
    before = (leads.copy(), events.copy())
    data = prepare(leads, events, week="2026-W38", weeks=3)
    assert data.lead_ids is not None
    coded, why_coded = metric_table(data)
    pd.testing.assert_frame_equal(leads, before[0])  # the caller's tables are untouched
    pd.testing.assert_frame_equal(events, before[1])
    monkeypatch.setattr(report_data, "_coded", lambda ld, ev: (ld, ev, None))
    plain = prepare(leads, events, week="2026-W38", weeks=3)
    assert plain.lead_ids is None and plain.leads["lead_id"].dtype == object
    by_id, why_by_id = metric_table(plain)
    assert why_coded == why_by_id == {"objection_resolution": why_coded["objection_resolution"]}
    assert len(coded) > 500
    pd.testing.assert_frame_equal(coded, by_id, check_exact=True)


@pytest.mark.parametrize("case", ["repeated", "missing", "unknown lead", "numbers"])
def test_tables_outside_the_contract_keep_their_ids(world, case):
    leads, events = world
    ld, ev = leads.head(50).copy(), events[events["lead_id"].isin(leads["lead_id"].head(50))]
    ev = ev.copy()
    if case == "repeated":
        ld.loc[ld.index[1], "lead_id"] = ld["lead_id"].iloc[0]
    elif case == "missing":
        ld.loc[ld.index[1], "lead_id"] = None
    elif case == "unknown lead":
        ev.loc[ev.index[0], "lead_id"] = "nobody"
    else:
        ld["lead_id"] = np.arange(len(ld))
    out_l, out_e, ids = _coded(ld, ev)
    assert ids is None and out_l is ld and out_e is ev


def test_lead_rows_of_codes_are_the_index_lookup(world):
    leads, events = world
    data = prepare(leads, events, week="2026-W38", weeks=3)
    index = data.lead_dims.index
    n = len(data.lead_ids)
    rng = np.random.default_rng(3)
    codes = rng.integers(-2, n + 3, 2000)  # a few outside the codes: absent
    for ids in (codes, codes[::-1].copy(), codes[:0], index.to_numpy()):
        np.testing.assert_array_equal(_lead_rows(data, ids), index.get_indexer(ids))
    assert (_lead_rows(data, codes) == -1).sum() == ((codes < 0) | (codes >= n)).sum() > 0
