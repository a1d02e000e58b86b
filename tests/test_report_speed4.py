"""The fourth pass of issue 17 (the report's growth): lead ids and touch columns compared by
the objects' addresses first give what the plain comparisons by value give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nurturelab.report.aggregate import _lead_rows, _same_values
from nurturelab.report.data import prepare


@pytest.fixture(scope="module")
def data():
    from nurturelab.synthetic import make_export

    leads, events = make_export(n_leads=300, seed=1)
    return prepare(leads, events, week="2026-W41", weeks=4)


def _plain_same(a: np.ndarray, b: np.ndarray) -> bool:
    miss_a, miss_b = pd.isna(a), pd.isna(b)
    return bool(np.array_equal(miss_a, miss_b) and (a[~miss_a] == b[~miss_b]).all())


def test_same_values_by_address_is_by_value():
    rng = np.random.default_rng(2)
    b = np.array([f"L{i}" for i in range(50)] + [None, np.nan], dtype=object)
    pos = rng.permutation(len(b))[:30]
    copies = np.array([None if v is None else v if not isinstance(v, str) else "".join(v)
                       for v in b[pos]], dtype=object)  # equal values, other objects
    other = b[pos].copy()
    other[3] = "elsewhere"
    missing = b[pos].copy()
    missing[np.flatnonzero(pd.notna(missing))[0]] = None
    for a in (b[pos], copies, other, missing):
        assert _same_values(a, b, pos) == _plain_same(a, b[pos])
    assert _same_values(b[pos], b, pos) and not _same_values(other, b, pos)


def test_lead_rows_are_the_index_lookup(data):
    index = data.lead_dims.index
    rng = np.random.default_rng(3)
    cut = index.to_numpy(dtype=object)[rng.integers(0, len(index), 500)]  # the same objects
    touch_ids = data.touches()["lead_id"].to_numpy(dtype=object)  # equal strings, other objects
    mixed = np.concatenate([cut[:100], touch_ids[:100], np.array(["nobody", None],
                                                                  dtype=object)])
    for ids in (cut, touch_ids, mixed, mixed[::-1].copy(), cut[:0]):
        np.testing.assert_array_equal(_lead_rows(data, ids), index.get_indexer(ids))
    assert (_lead_rows(data, mixed) == -1).sum() == 2
