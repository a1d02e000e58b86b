"""What the weekly metrics share: the long table's columns, the aggregation per week and
segment, last-touch answers, and the checks that a metric's inputs are in the export.

A metric that cannot be computed from an export raises :class:`MetricUnavailable` with the
reason; :func:`nurturelab.report.metrics.metric_table` lists it as unavailable, never as zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from nurturelab._timestamps import utc_ns
from nurturelab._util import rate_ci
from nurturelab.report.data import DIMENSIONS, ReportData, lead_key

__all__ = ["COLUMNS", "MetricUnavailable", "aggregate", "answered_within", "need_event_columns",
           "need_events", "need_stage", "rate_items"]

COLUMNS = ("metric", "week", "segment", "value", "n", "low", "high")
"""The columns of the long metric table."""


class MetricUnavailable(LookupError):
    """A metric's inputs are absent from the export (the message says which)."""


# --------------------------------------------------------------------------------------------
# What a metric needs
# --------------------------------------------------------------------------------------------
def need_event_columns(data: ReportData, *columns: str, why: str) -> None:
    """Refuse a metric whose events ``columns`` are absent or empty in the export."""
    missing = [c for c in columns if c not in data.events.columns
               or not data.events[c].notna().any()]
    if missing:
        raise MetricUnavailable(f"needs the events column(s) {missing} ({why}); this export has "
                                "none")


def need_events(data: ReportData, kind: str, *, why: str) -> None:
    """Refuse a metric that reads events of type ``kind`` when the export has none of them
    (an export of leads and wins has no touches: its speed to lead is unknown, not slow)."""
    if not data.has_events(kind):
        raise MetricUnavailable(f"needs {kind} events ({why}); this export has none")


def need_stage(data: ReportData, stage: str, *, leaving: str | None = None) -> None:
    """Refuse a metric about a stage that no event of the export enters (see
    :func:`nurturelab.funnel.observed_stages`); with ``leaving``, a metric about the time
    spent in the stage before it, which needs leads to be seen entering ``stage``."""
    if not data.observed[stage]:
        entered = data.funnel.entered_by(stage)
        also = f" and no {' or '.join(entered)} event" if entered else ""
        then = (f"so it cannot tell when a lead leaves {leaving!r}" if leaving
                else "so no lead is seen entering it")
        raise MetricUnavailable(f"the export does not observe the stage {stage!r}: it has no "
                                f"{stage!r} stage event{also}, {then}")


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------
def aggregate(data: ReportData, items: pd.DataFrame, kind: str, *,
              dims: Sequence[str] = DIMENSIONS, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Per week and segment: rates (mean of bools, Wilson interval), medians or means.

    Parameters
    ----------
    data : ReportData
    items : DataFrame
        ``week``, ``value`` and ``lead_id`` (joined to the lead dimensions ``dims``), and the
        ``extra`` columns used as further dimensions.
    kind : {'rate', 'median', 'mean'}

    Returns
    -------
    DataFrame with ``week``, ``segment``, ``value``, ``n``, ``low`` and ``high``.
    """
    items = items[items["week"].notna()]
    if kind == "rate" and items["value"].dtype == bool:
        # the lead dimensions as codes of the leads' sorted values, taken by the lead's row:
        # no object column per dimension (see _rates)
        coded = {}
        if "lead_id" in items.columns and dims:
            dim_table = data.lead_dims
            rows = _lead_rows(data, lead_key(items["lead_id"]))
            for d in dims:
                if d in dim_table.columns:
                    code, uniq = data.cached(("dim_codes", d), lambda d=d: pd.factorize(
                        dim_table[d].to_numpy(dtype=object), sort=True))
                    coded[d] = (np.where(rows >= 0, code[rows], -1), uniq)
        groups = [("all", None)] + [(d, d) for d in (*dims, *extra)
                                    if d in coded or d in items.columns]
        return _rates(items, groups, coded)
    if "lead_id" in items.columns and dims:
        joined = data.lead_dims.reindex(lead_key(items["lead_id"]))
        items = items.assign(**{d: joined[d].to_numpy() for d in dims if d in joined.columns})
    groups = [("all", None)] + [(d, d) for d in (*dims, *extra) if d in items.columns]
    frames = []
    for name, col in groups:
        keys = ["week"] if col is None else ["week", col]
        sub = items if col is None else items[items[col].notna()]
        if not len(sub):
            continue
        g = sub.groupby(keys, sort=True, observed=True)["value"]
        if kind == "rate":
            s = g.agg(["sum", "count"])
            value = s["sum"] / s["count"]
            lo, hi = rate_ci(s["sum"].to_numpy(), s["count"].to_numpy())
        else:
            s = g.agg([kind, "count"])
            value = s[kind]
            lo = hi = np.full(len(s), np.nan)
        f = pd.DataFrame({"value": value.to_numpy(dtype=float),
                          "n": s["count"].to_numpy(dtype=int), "low": lo, "high": hi})
        idx = s.index.to_frame(index=False)
        f["week"] = idx["week"].to_numpy()
        f["segment"] = ("all" if col is None
                        else [f"{name}={v}" for v in idx[col].astype(str)])
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=[c for c in COLUMNS if c != "metric"])
    return pd.concat(frames, ignore_index=True)


def _lead_rows(data: ReportData, ids: np.ndarray) -> np.ndarray:
    """The row of each lead id in :attr:`~ReportData.lead_dims` (-1 if absent), as
    ``lead_dims.index.get_indexer(ids)`` gives it: for :func:`prepare`'s lead codes, the row
    of each code taken from an array (no lookup)."""
    index = data.lead_dims.index
    if data.lead_ids is None or ids.dtype.kind not in "iu":
        return index.get_indexer(ids)
    row_of = data.cached("row_of_code", lambda: _row_of_code(index, len(data.lead_ids)))
    rows = np.full(len(ids), -1, dtype=np.intp)
    ok = (ids >= 0) & (ids < len(row_of))
    rows[ok] = row_of[ids[ok]]
    return rows


def _row_of_code(index: pd.Index, n_codes: int) -> np.ndarray:
    """The position of each code 0 .. n_codes - 1 in ``index`` (codes, unique), -1 if absent."""
    row_of = np.full(n_codes, -1, dtype=np.intp)
    code = index.to_numpy()
    ok = (code >= 0) & (code < n_codes)
    row_of[code[ok]] = np.flatnonzero(ok)
    return row_of


def _rates(items: pd.DataFrame, groups: Sequence[tuple[str, str | None]],
           coded: dict | None = None) -> pd.DataFrame:
    """:func:`aggregate`'s rates of boolean items, as its groupby gives them (groups in sorted
    order, missing keys left out), from integer codes and bincounts: the sums and counts are
    the same integers. ``coded`` gives some columns as (codes, sorted values) already: codes
    into a larger sorted set of values give the same groups in the same order, since only
    the combinations seen are kept."""
    coded = coded or {}
    value = items["value"].to_numpy(dtype=bool)
    wcode, wuniq = pd.factorize(items["week"].to_numpy(dtype=object), sort=True)
    frames = []
    for name, col in groups:
        if col is None:
            code, uniq, width = wcode, None, 1
        else:
            code, uniq = (coded[col] if col in coded
                          else pd.factorize(items[col].to_numpy(dtype=object), sort=True))
            width = len(uniq)
        ok = (wcode >= 0) & (code >= 0)
        if not ok.any():
            continue
        key = wcode[ok].astype(np.int64) * width + (code[ok] if col is not None else 0)
        size = len(wuniq) * width
        count = np.bincount(key, minlength=size)
        total = np.bincount(key[value[ok]], minlength=size)
        seen = np.flatnonzero(count)
        n, hits = count[seen], total[seen]
        lo, hi = rate_ci(hits, n)
        f = pd.DataFrame({"value": (hits / n).astype(float), "n": n.astype(int),
                          "low": lo, "high": hi})
        f["week"] = np.asarray(wuniq, dtype=object)[seen // width]
        f["segment"] = ("all" if col is None
                        else [f"{name}={v}" for v in
                              pd.Index(np.asarray(uniq, dtype=object)[seen % width]).astype(str)])
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=[c for c in COLUMNS if c != "metric"])
    return pd.concat(frames, ignore_index=True)


def rate_items(week: pd.Series, value: pd.Series, lead_id: pd.Series, **extra) -> pd.DataFrame:
    """The items of a rate: one row per judged item (``value`` not NaN), ``value`` a bool."""
    df = pd.DataFrame({"week": week.to_numpy(), "value": value.to_numpy(dtype=object),
                       "lead_id": lead_key(lead_id), **extra})
    df = df[df["value"].notna()]
    return df.assign(value=df["value"].astype(bool))


def answered_within(data: ReportData, touches: pd.DataFrame, names: Iterable[str], days: float,
                    *, same_channel: bool) -> pd.Series:
    """Whether each touch got an answer: an event named in ``names`` within ``days`` whose
    latest preceding touch (on the same channel if ``same_channel``) is this one (last-touch
    attribution, as :func:`nurturelab.funnel.dropoff_by_step` does). NaN for touches whose
    window is still open.

    Every touch of the same lead (and channel) at the same time as the answered one counts as
    answered. The lead, channel and time of each event are integer codes (:func:`_groups`):
    the latest preceding touch of every answer is one sorted search, not a merge."""
    ev = data.events
    resp = ev.loc[data.name_in(*names)]
    cand = data.touches()
    gr, tr = _groups(data, resp, same_channel), utc_ns(resp["ts"])
    gc, tc = data.cached(("touch_groups", same_channel), lambda: (
        _groups(data, cand, same_channel), utc_ns(cand["ts"])))
    gt, tt = _touch_groups(data, touches, same_channel, gc, tc)
    times = _distinct(np.concatenate([tc, tr, tt]))
    u = np.int64(max(len(times), 1))

    def key(g: np.ndarray, t: np.ndarray) -> np.ndarray:  # by group, then time: one int64
        return g * u + np.searchsorted(times, t)

    r_ok, c_ok = gr >= 0, gc >= 0  # what the merge's dropna kept
    kc = np.sort(key(gc[c_ok], tc[c_ok]))
    kr = key(gr[r_ok], tr[r_ok])
    j = np.searchsorted(kc, kr, side="right") - 1  # the latest touch at or before, if any
    found = j >= 0
    last = kc[j[found]]
    same = last // u == gr[r_ok][found]
    within = tr[r_ok][found] - times[last % u] <= pd.Timedelta(days=days).value
    answered = last[same & within]
    hit = (gt >= 0) & np.isin(key(np.maximum(gt, 0), tt), answered)
    out = pd.Series(hit, dtype=object)
    judged = (touches["ts"] + pd.Timedelta(days=days) <= data.as_of).to_numpy()
    out[~judged] = np.nan
    return out


def _distinct(a: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy >= 2.3 hashes int64 first: several times slower here)."""
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if len(a) else a


def _touch_groups(data: ReportData, touches: pd.DataFrame, same_channel: bool,
                  gc: np.ndarray, tc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_groups` and times of ``touches``, taken from those of the report's touches by
    row label when ``touches`` are some of them, unchanged (their lead, channel and time are
    checked value by value, which costs less than looking them up again)."""
    cand = data.touches()
    tt = utc_ns(touches["ts"])
    if cand.index.is_unique:
        pos = cand.index.get_indexer(touches.index)
        if (pos >= 0).all() and np.array_equal(tc[pos], tt):
            same = (np.array_equal(lead_key(touches["lead_id"]),
                                   lead_key(cand["lead_id"])[pos])
                    if data.lead_ids is not None
                    else _same_values(touches["lead_id"].to_numpy(dtype=object),
                                      cand["lead_id"].to_numpy(dtype=object), pos))
            if same and same_channel:
                same = _same_values(touches["channel"].to_numpy(dtype=object),
                                    cand["channel"].to_numpy(dtype=object), pos)
            if same:
                return gc[pos], tt
    return _groups(data, touches, same_channel), tt


def _same_values(a: np.ndarray, b: np.ndarray, pos: np.ndarray) -> bool:
    """Whether ``a`` equals ``b[pos]`` element by element, missing values matching missing
    values. The rows of a frame cut from another hold the very same objects, so the objects'
    addresses are compared first (integers: no object is read, and reading millions of
    strings scattered in memory is what grew faster than the rows); only where they differ
    are the values compared."""
    same = _addresses(a) == _addresses(b)[pos]
    if same.all():
        return True
    a, b = a[~same], b[pos[~same]]
    miss_a, miss_b = pd.isna(a), pd.isna(b)
    return bool(np.array_equal(miss_a, miss_b) and (a[~miss_a] == b[~miss_b]).all())


def _addresses(a: np.ndarray) -> np.ndarray:
    """The addresses of the objects of an object array (its buffer read as integers)."""
    if a.dtype != object:
        raise TypeError(f"addresses are those of an object array's items, not of {a.dtype}")
    return np.frombuffer(np.ascontiguousarray(a), dtype=np.intp)


def _groups(data: ReportData, frame: pd.DataFrame, same_channel: bool) -> np.ndarray:
    """Each event's lead (and, with ``same_channel``, channel) as one integer code over the
    report's events; -1 where the lead (or the channel) is missing."""
    def index_of(col: str) -> pd.Index:
        return data.cached(("values", col), lambda: pd.Index(pd.unique(
            data.events[col].dropna().astype(object).to_numpy())))

    keys = lead_key(frame["lead_id"])
    # prepare's lead codes are such integer codes already
    lead = keys if data.lead_ids is not None else index_of("lead_id").get_indexer(keys)
    if not same_channel:
        return lead.astype(np.int64)
    channels = index_of("channel")
    ch = channels.get_indexer(frame["channel"].astype(object).to_numpy())
    return np.where((lead >= 0) & (ch >= 0), lead.astype(np.int64) * len(channels) + ch, -1)
