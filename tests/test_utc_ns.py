"""``utc_ns`` reads timestamps as UTC nanoseconds without copying them: the same integers as the
plain conversion (``tz_convert("UTC")``, ``tz_localize(None)``, ``astype("datetime64[ns]")``)
for every zone, unit and missing value, and a result that cannot write into the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nurturelab._timestamps import NAT, utc_ns


def _plain(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(values.dtype):
        values = pd.to_datetime(values, utc=True).dt.tz_localize(None)
    return values.to_numpy().astype("datetime64[ns]").view(np.int64)


_UTC = pd.Series(pd.to_datetime(
    ["2026-03-29 01:30:00.123456789", None, "2026-10-25 00:30:00", "1969-12-31 23:59:59.5"],
    utc=True, format="ISO8601"))  # just after Berlin's spring change, just before its autumn one


@pytest.mark.parametrize("values", [
    _UTC,
    _UTC.dt.tz_convert("Europe/Berlin"),
    _UTC.dt.tz_convert("America/New_York").astype("datetime64[us, America/New_York]"),
    _UTC.dt.tz_localize(None),
    _UTC.dt.tz_localize(None).astype("datetime64[s]"),
    pd.Series(["2026-01-01T00:00:00+02:00", None, "2026-01-01T05:00:00+00:00"]),
    _UTC.iloc[:0],
], ids=["utc", "berlin", "new-york-us", "naive", "naive-s", "text", "empty"])
def test_utc_ns_is_the_plain_conversion(values):
    before = values.copy()
    ns = utc_ns(values)
    assert ns.dtype == np.int64
    np.testing.assert_array_equal(ns, _plain(values))
    assert not ns.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        ns[:1] = 0
    pd.testing.assert_series_equal(values, before)


def test_utc_ns_of_a_zoned_column_is_the_utc_instants():
    berlin = _UTC.dt.tz_convert("Europe/Berlin")
    assert utc_ns(berlin)[0] == pd.Timestamp("2026-03-29 01:30:00.123456789", tz="UTC").value
    assert utc_ns(berlin)[1] == NAT
