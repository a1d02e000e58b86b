"""Timestamps as the data contract reads them: ISO 8601, or the form a column map declares.

:func:`to_utc` reads one column of text (or datetimes) into UTC: values with an offset are
converted, naive ones read in the map's ``timezone`` (a wall time skipped by a change of clocks
moves forward, a repeated one takes the first), other forms only when the map declares them
(``format`` or ``dayfirst``), zone abbreviations only when its ``zones`` maps them. It returns
what it could not read, for :mod:`nurturelab.schema` to refuse by row.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FIXED_OFFSET", "NAT", "NOT_ZONES", "ns_days", "to_utc", "utc_ns"]

NOT_ZONES = frozenset({"UTC", "GMT", "Z", "AM", "PM"})  # read as they are, never as zones
"""Letters after a time that are never read as a zone abbreviation."""
FIXED_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
"""A fixed offset a column map's ``zones`` may give instead of an IANA zone (``"-05:00"``)."""
_TIME = r"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
_ISO_NAIVE = rf"^\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{_TIME})?$"
_ISO_AWARE = rf"^\d{{4}}-\d{{2}}-\d{{2}}[T ]{_TIME} ?(?i:z|[+-]\d{{2}}(?::?\d{{2}})?|utc|gmt)$"
_ZONE_SUFFIX = r"^(?P<body>.*\S)\s+(?P<zone>[A-Z]{2,5})$"
_NUMERIC_DATE = (r"^(?P<a>\d{1,2})[./-](?P<b>\d{1,2})[./-](?P<year>\d{4})"
                 r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?$")
NAT = np.iinfo(np.int64).min


def ns_days(delta: np.ndarray) -> np.ndarray:
    """int64 nanosecond durations as days, as pandas divides a timedelta by one day (numpy's
    timedelta64 division); :data:`NAT` gives NaN.

    >>> ns_days(np.array([43_200_000_000_000, NAT])).tolist()
    [0.5, nan]
    """
    return np.asarray(delta, dtype=np.int64).view("m8[ns]") / np.timedelta64(
        86_400_000_000_000, "ns")


def utc_ns(values: pd.Series) -> np.ndarray:
    """Timestamps as int64 nanoseconds since the epoch, UTC; naive ones read as UTC, other
    values through ``pd.to_datetime(utc=True)``, NaT as :data:`NAT`.

    The result is read-only: for nanosecond timestamps it is a view of the column's own values
    (pandas keeps a zoned column's values in UTC; no copy of ten million times is made).

    >>> utc_ns(pd.Series(pd.to_datetime(["1970-01-01 00:00:01+01:00", None], utc=True))).tolist()
    [-3599000000000, -9223372036854775808]
    """
    dtype = values.dtype
    if not (isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype)):
        values = pd.to_datetime(values, utc=True)
    # a zoned column to datetime64[ns] is its UTC instants, as tz_convert("UTC") gives them
    ns = values.to_numpy(dtype="datetime64[ns]").view(np.int64)
    ns.flags.writeable = False
    return ns


def _localize(naive: pd.Series, tz: str) -> pd.Series:
    """Read naive wall-clock times in ``tz``; return UTC.

    A time the clock skipped (spring forward) moves forward to the first valid instant; a time
    it showed twice (fall back) is taken as the first of the two.
    """
    first = np.ones(len(naive), dtype=bool)
    local = naive.dt.tz_localize(tz, ambiguous=first, nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def _wall_to_utc(ns: np.ndarray, zone: str) -> np.ndarray:
    """Naive wall-clock nanoseconds read in an IANA ``zone`` or a fixed offset; UTC nanoseconds."""
    fixed = FIXED_OFFSET.match(zone)
    if fixed:
        sign = 1 if fixed.group(1) == "+" else -1
        shift = sign * (int(fixed.group(2)) * 60 + int(fixed.group(3))) * 60 * 10**9
        return np.where(ns == NAT, NAT, ns - shift)
    if zone == "UTC":
        return ns
    utc = _localize(pd.Series(ns.view("M8[ns]")), zone)
    return utc.array.asi8


def _arrow_text(raw: pd.Series):
    """The column as an Arrow string array, values trimmed (what is not text, as its ``str``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = raw.array
    if not (isinstance(raw.dtype, pd.StringDtype | pd.ArrowDtype)):
        values = raw.to_numpy(dtype=object)
    try:
        text = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        as_str = raw.astype(object).map(lambda v: v if isinstance(v, str) else str(v),
                                        na_action="ignore")
        text = pa.array(as_str.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    if pc.any(pc.match_substring_regex(text, r"^\s|\s$")).as_py():
        text = pc.utf8_trim_whitespace(text)
    return text


def _matches(text, pattern: str) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.fill_null(pc.match_substring_regex(text, pattern), False).to_numpy(
        zero_copy_only=False)


def _iso_ns(text, aware: bool) -> np.ndarray:
    """ISO 8601 text as nanoseconds (UTC when ``aware``, wall clock otherwise); NaT if none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    unit = pa.timestamp("ns", tz="UTC" if aware else None)
    try:
        stamps = pc.cast(text, unit)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        stamps = None
    if stamps is None and aware:  # "... UTC", "... GMT", "... z", " +02:00": as Arrow reads them
        text = pc.replace_substring_regex(text, r"(?i) ?(?:utc|gmt|z)$", "Z")
        text = pc.replace_substring_regex(text, r" ([+-]\d{2}(?::?\d{2})?)$", r"\1")
        try:
            stamps = pc.cast(text, unit)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            stamps = None
    if stamps is None:  # a value of ISO form that is no time: 2024-02-30, 25:00, year 3000
        parsed = pd.to_datetime(pd.Series(text.to_numpy(zero_copy_only=False), dtype=object),
                                format="ISO8601", errors="coerce", utc=aware)
        return parsed.array.asi8.copy()
    return pc.fill_null(stamps.cast(pa.int64()), NAT).to_numpy(zero_copy_only=False)


def _other_ns(text: pd.Series, tmap: Any) -> tuple[np.ndarray, bool]:
    """Timestamps in the form the column map declares (``format`` or ``dayfirst``), as
    nanoseconds; and whether they are UTC already (a format with ``%z``) or wall clock."""
    if tmap.format is not None:
        aware = "%z" in tmap.format
        parsed = pd.to_datetime(text, format=tmap.format, errors="coerce", utc=aware)
        return parsed.array.asi8.copy(), aware
    if tmap.dayfirst is None:
        return np.full(len(text), NAT, dtype=np.int64), False
    parts = text.str.extract(_NUMERIC_DATE).apply(pd.to_numeric)
    day, month = ("a", "b") if tmap.dayfirst else ("b", "a")
    fields = pd.DataFrame({"year": parts["year"], "month": parts[month], "day": parts[day],
                           "hour": parts["hour"].fillna(0), "minute": parts["minute"].fillna(0),
                           "second": parts["second"].fillna(0)})
    parsed = pd.to_datetime(fields, errors="coerce")
    return parsed.array.asi8.copy(), False


def _subset(text, mask: np.ndarray):
    """The values of an Arrow array where ``mask`` holds (the array itself when it all does)."""
    import pyarrow as pa

    return text if mask.all() else text.filter(pa.array(mask))


def to_utc(raw: pd.Series, tmap: Any) -> tuple[pd.Series, np.ndarray, pd.Series]:
    """Parse timestamps to UTC (see the module docstring for the forms read).

    Returns the timestamps (NaT where none could be read), where a present value is not a
    timestamp, and the zone abbreviations the column map does not map, by row label (only the
    rows that have one).
    """
    import pyarrow.compute as pc

    n = len(raw)
    no_zone = pd.Series([], index=raw.index[:0], dtype=object)
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        utc = raw.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
        return utc, np.zeros(n, dtype=bool), no_zone
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        utc = _localize(raw, tmap.timezone).astype("datetime64[ns, UTC]")
        return utc, np.zeros(n, dtype=bool), no_zone
    text = _arrow_text(raw)
    present = ~pc.is_null(text).to_numpy(zero_copy_only=False)
    naive = _matches(text, _ISO_NAIVE)
    if naive.all():  # the common case: one form throughout, read in one pass
        out = _wall_to_utc(_iso_ns(text, aware=False), tmap.timezone)
        return _as_utc(out, raw.index), present & (out == NAT), no_zone
    aware = ~naive & _matches(text, _ISO_AWARE)
    if aware.all():
        out = _iso_ns(text, aware=True)
        return _as_utc(out, raw.index), present & (out == NAT), no_zone
    out = np.full(n, NAT, dtype=np.int64)
    if naive.any():
        out[naive] = _wall_to_utc(_iso_ns(_subset(text, naive), aware=False), tmap.timezone)
    if aware.any():
        out[aware] = _iso_ns(_subset(text, aware), aware=True)
    rest = np.flatnonzero(present & ~naive & ~aware)
    unmapped: dict[int, str] = {}
    if rest.size:
        out[rest], found = _other_forms(
            pd.Series(text.take(rest).to_numpy(zero_copy_only=False), dtype=object), tmap)
        unmapped = {int(rest[i]): abbr for i, abbr in found.items()}
    at = np.array(sorted(unmapped), dtype=np.int64)
    abbreviations = pd.Series([unmapped[i] for i in at.tolist()], index=raw.index[at],
                              dtype=object)
    bad = present & (out == NAT)
    bad[at] = False
    return _as_utc(out, raw.index), bad, abbreviations


def _other_forms(other: pd.Series, tmap: Any) -> tuple[np.ndarray, dict[int, str]]:
    """Values that are not ISO 8601 as UTC nanoseconds (NaT where unreadable): ISO followed by a
    zone abbreviation the map's ``zones`` maps, or the map's ``format`` / ``dayfirst`` form;
    and the abbreviations it does not map, by position."""
    split = other.str.extract(_ZONE_SUFFIX)
    zone = split["zone"].str.upper()
    zoned = (zone.notna() & ~zone.isin(NOT_ZONES)).to_numpy()
    body = other.where(~zoned, split["body"])
    iso = body.str.match(_ISO_NAIVE).to_numpy(dtype=bool)
    wall = np.full(len(other), NAT, dtype=np.int64)
    is_utc = np.zeros(len(other), dtype=bool)
    if iso.any():
        wall[iso] = _iso_ns(_arrow_text(body[iso]), aware=False)
    if (~iso).any():
        wall[~iso], is_utc[~iso] = _other_ns(body[~iso].reset_index(drop=True), tmap)
    zoned &= wall != NAT  # an abbreviation after a timestamp
    done = np.where(is_utc & ~zoned, wall, NAT)
    plain = ~zoned & ~is_utc
    done[plain] = _wall_to_utc(wall[plain], tmap.timezone)
    zones = {k.upper(): v for k, v in tmap.zones.items()}
    unmapped: dict[int, str] = {}
    for abbr in zone[zoned].unique():
        rows = (zone == abbr).to_numpy() & zoned
        if abbr in zones:
            done[rows] = _wall_to_utc(np.where(is_utc[rows], NAT, wall[rows]), zones[abbr])
        else:
            unmapped.update(dict.fromkeys(np.flatnonzero(rows).tolist(), abbr))
    return done, unmapped


def _as_utc(ns: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC"), index=index)
