"""The fourth pass of issue 17 (the report's growth): touch columns compared by the objects'
addresses first give what the plain comparison by value gives. (The fourth pass also found
lead ids by address; the fifth codes them as integers instead: test_report_codes.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nurturelab.report.aggregate import _same_values


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
