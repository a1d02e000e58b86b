"""The audit's rows: months, snapshot times, and every open lead scored at each snapshot.

At each snapshot time every open lead (created, neither won nor lost) is scored from what was
known then; its outcome is conversion within ``horizon_days`` after the snapshot, followed for as
long as the data allow (``follow_days``), so an outcome not yet due is censored, not a loss. A
lead that ended otherwise after the snapshot (lost or opted out, see
:func:`nurturelab.competing.lead_endings`) is not censored either: ``ended_days`` says when, and
from then on it is known not to convert within the horizon (a competing ending).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from nurturelab._timestamps import NAT, ns_days, utc_ns
from nurturelab.checks import is_number, need_columns, utc_timestamp
from nurturelab.funnel import DEFAULT_FUNNEL, entered_stage
from nurturelab.schema import ACTIVITY_NAMES, require_loaded
from nurturelab.scoring.features import coded_snapshot
from nurturelab.scoring.points import evaluate_at, prepare_events
from nurturelab.scoring.thresholds import score_leads, scorer_kind
from nurturelab.segments import segments

__all__ = ["ENDED_BY", "ROW_COLUMNS", "month_bounds", "monthly_snapshot_times",
           "scored_snapshots", "snapshot_times"]

DAY = pd.Timedelta(days=1)
ROW_COLUMNS = ("lead_id", "as_of", "score", "follow_days", "converted", "days_to_convert",
               "ended_days", "next_touch_days")
ENDED_BY = ("lost", "opted_out")
"""The endings after which a lead is known not to convert (gone dark and recycled leads may
come back, so they stay censored)."""


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of a month written ``YYYY-MM``, in UTC.

    >>> month_bounds("2026-10")
    ... # doctest: +NORMALIZE_WHITESPACE
    (Timestamp('2026-10-01 00:00:00+0000', tz='UTC'),
     Timestamp('2026-11-01 00:00:00+0000', tz='UTC'))
    """
    text = str(month)
    try:
        if len(text) != 7 or text[4] != "-":
            raise ValueError
        p = pd.Period(text, freq="M")
    except (ValueError, TypeError):
        raise ValueError(f"a month is written YYYY-MM, e.g. 2026-10. Got {month!r} "
                         "instead.") from None
    return (p.start_time.tz_localize("UTC"), (p + 1).start_time.tz_localize("UTC"))


def _check_every_days(every_days: Any) -> float:
    if not (is_number(every_days) and np.isfinite(every_days) and every_days > 0):
        raise ValueError(f"'every_days' must be a positive number. Got {every_days!r} instead.")
    return float(every_days)


def snapshot_times(start: Any, end: Any, *, every_days: float = 7.0) -> pd.DatetimeIndex:
    """Snapshot times ``start, start + every_days, ...`` before ``end`` (UTC).

    >>> [t.day for t in snapshot_times("2026-10-01", "2026-11-01")]
    [1, 8, 15, 22, 29]
    """
    s, e = utc_timestamp(start, "start"), utc_timestamp(end, "end")
    step = _check_every_days(every_days)
    return pd.date_range(s, e, freq=pd.Timedelta(days=step), inclusive="left")


def monthly_snapshot_times(first_month: str, months: int = 1, *,
                           every_days: float = 7.0) -> pd.DatetimeIndex:
    """Snapshot times every ``every_days`` from the first of each of ``months`` months.

    Each month starts its own series on its first day, so every month has the same snapshot
    days whatever the length of the one before.

    >>> [f"{t:%m-%d}" for t in monthly_snapshot_times("2026-09", 2, every_days=10)]
    ['09-01', '09-11', '09-21', '10-01', '10-11', '10-21', '10-31']
    """
    start, _ = month_bounds(first_month)
    if not (isinstance(months, int | np.integer) and not isinstance(months, bool)
            and months >= 1):
        raise ValueError(f"'months' must be a whole number >= 1. Got {months!r} instead.")
    first = start.tz_localize(None).to_period("M")
    out: list[pd.Timestamp] = []
    for k in range(int(months)):
        a, b = month_bounds(f"{first + k}")
        out += list(snapshot_times(a, b, every_days=every_days))
    return pd.DatetimeIndex(out)


def _next_touch_days(rows: pd.DataFrame, touch: pd.DataFrame) -> np.ndarray:
    """Days from each row's snapshot (``as_of``) to its lead's next touch or stage event (NaN
    if none seen)."""
    nxt = pd.merge_asof(rows[["lead_id", "as_of"]].assign(_i=np.arange(len(rows)))
                        .sort_values("as_of"), touch.rename(columns={"ts": "next_ts"}),
                        left_on="as_of", right_on="next_ts", by="lead_id",
                        direction="forward", allow_exact_matches=False).sort_values("_i")
    return ((nxt["next_ts"] - nxt["as_of"]) / DAY).to_numpy(dtype=float)


def _days_since(ns: np.ndarray, t: pd.Timestamp) -> np.ndarray:
    """Days from ``t`` to each int64 ns time (NaN for the int64 maximum: never), as pandas
    divides a timedelta by a day (numpy's timedelta64 division)."""
    never = ns == np.iinfo(np.int64).max
    return ns_days(np.where(never, NAT, ns - np.int64(t.as_unit("ns").value)))


def scored_snapshots(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    scorer: Any,
    *,
    times: Iterable[Any],
    horizon_days: float,
    observed_until: Any = None,
    probability: bool | None = None,
) -> pd.DataFrame:
    """Score every open lead at each snapshot time and follow it up to ``observed_until``.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:mod:`nurturelab.schema`); not modified.
    scorer : classifier, PointRules or callable
        A fitted classifier (``predict_proba(features)[:, 1]`` is the score), point rules
        (:func:`nurturelab.scoring.points.scores`), or ``f(features) -> scores``.
    times : iterable of timestamp-like
        Snapshot times (see :func:`snapshot_times`).
    horizon_days : float
        The outcome the score predicts: conversion within this many days of the snapshot.
    observed_until : timestamp-like, optional
        What is known: events after it are ignored, as if the export were taken then. Default:
        the last event.
    probability : bool, optional
        Whether the score is a probability of conversion within the horizon (calibration is
        checked only then); default True for classifiers, False otherwise.

    Returns
    -------
    DataFrame
        One row per (snapshot, open lead): ``lead_id``, ``as_of``, ``score``, ``follow_days``
        (how long the outcome has been followed, at most the horizon), ``converted`` (within
        ``follow_days``), ``days_to_convert`` (NaN if not), ``ended_days`` (days from the
        snapshot to the lead's ending in :data:`ENDED_BY`, 0 if it came before the snapshot;
        NaN when the lead converted within ``follow_days`` or did not end so within it),
        ``next_touch_days`` (to the next
        ``touch`` or ``stage`` event, i.e. the next time a rep worked the lead; NaN if none was
        seen) and the snapshot's feature columns. ``attrs``
        holds ``horizon_days``, ``observed_until`` and ``probability``.
    """
    require_loaded(leads, events)
    kind_ = scorer_kind(scorer)
    if probability is None:
        probability = kind_ == "probability"
    h = float(horizon_days) if is_number(horizon_days) else np.nan
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"'horizon_days' must be a positive number of days. Got "
                         f"{horizon_days!r} instead.")
    until = (events["ts"].max() if observed_until is None
             else utc_timestamp(observed_until, "observed_until"))
    ev = events.loc[(events["ts"] <= until).to_numpy()]
    # what outcomes() and lead_endings() (neither gone dark nor recycled) give, from the events
    # coded once: each lead's first conversion (its first entry into the funnel's last stage),
    # first loss and first opt-out, as int64 ns (tested against them)
    lead_ids = pd.Index(leads["lead_id"], name="lead_id")
    never = np.iinfo(np.int64).max
    created_ns = utc_ns(leads["created_at"])
    until_ns = until.as_unit("ns").value
    ev_pos = pd.Index(lead_ids.astype(object)).get_indexer(ev["lead_id"])
    ev_ns = utc_ns(ev["ts"])
    ev_ts = ev["ts"].array
    name_code, seen = pd.factorize(ev["name"], sort=False)
    seen = pd.Index(np.asarray(seen, dtype=object))
    kind_code, kinds = pd.factorize(ev["type"].astype(object).to_numpy(), sort=False)
    kinds = pd.Index(np.asarray(kinds, dtype=object))

    def named(names: Iterable[str]) -> np.ndarray:
        found = seen.get_indexer(list(names))
        return np.isin(name_code, found[found >= 0])

    def typed(kind: str) -> np.ndarray:
        return kind_code == kinds.get_indexer([kind])[0] if kind in kinds else np.zeros(
            len(ev), dtype=bool)

    known = ev_pos >= 0
    known[known] = created_ns[ev_pos[known]] <= until_ns  # the leads outcomes() reads

    def first_ns(mask: np.ndarray) -> np.ndarray:
        out = np.full(len(lead_ids), never, dtype=np.int64)
        m = mask & known
        np.minimum.at(out, ev_pos[m], ev_ns[m])
        return out

    is_stage = typed("stage")
    is_touch = typed("touch")
    conv_ns = first_ns(entered_stage(ev, DEFAULT_FUNNEL) == len(DEFAULT_FUNNEL.names) - 1)
    lost_ns = first_ns(is_stage & named([DEFAULT_FUNNEL.lost]))
    opted_ns = first_ns(typed("response") & named(["opt_out"]))
    # the first ending wins and a conversion wins a tie (lead_endings' order): a lead ended
    # lost or opted out when that came strictly before its conversion
    end_ns = np.minimum(lost_ns, opted_ns)
    ended_ns = np.where(end_ns < conv_ns, end_ns, never)
    touch = ev.loc[is_touch | is_stage, ["lead_id", "ts"]]
    touch = touch.assign(lead_id=touch["lead_id"].astype(object)).sort_values("ts")
    prep = prepare_events(leads, ev, scorer) if kind_ == "points" else None
    if isinstance(times, str | pd.Timestamp):
        times = [times]
    snaps = []
    for t in pd.DatetimeIndex([utc_timestamp(x, "times") for x in times]).unique().sort_values():
        if t > until:
            continue
        t_ns = t.as_unit("ns").value
        r = np.flatnonzero((created_ns <= t_ns) & (conv_ns > t_ns) & (lost_ns > t_ns))
        if len(r):
            snaps.append((t, r))
    if prep is not None and snaps:  # points: as scores() gives them, every time at once
        q = np.concatenate([r for _, r in snaps])
        q_ns = np.concatenate([np.full(len(r), t.as_unit("ns").value, dtype=np.int64)
                               for t, r in snaps])
        all_s = evaluate_at(scorer, prep, q, q_ns)["score"]
        cuts = np.cumsum([len(r) for _, r in snaps])[:-1]
        point_scores = np.split(all_s, cuts)
    if snaps:  # as snapshot() checks them
        need_columns(leads, ("lead_id", "created_at", "source", "fit", "intent"), "leads")
        seg = segments(leads)  # a lead's segment reads its own columns only: found once
        # the next touch of every (lead, time) at once: one merge_asof, not one per time
        asked = pd.DataFrame({"lead_id": np.concatenate([np.asarray(lead_ids[r], dtype=object)
                                                         for _, r in snaps]),
                              "as_of": pd.DatetimeIndex([t for t, _ in snaps]).repeat(
                                  [len(r) for _, r in snaps])})
        next_days = np.split(_next_touch_days(asked, touch),
                             np.cumsum([len(r) for _, r in snaps])[:-1])
    frames = []
    for i, (t, r) in enumerate(snaps):
        open_ids = lead_ids[r]
        # snapshot(leads, ev, as_of=t).loc[open_ids], from the events coded once
        rowmap = np.full(len(lead_ids), -1)
        rowmap[r] = np.arange(len(r))
        code = np.where(ev_pos >= 0, rowmap[ev_pos], -1)
        keep = (ev_ns <= t.as_unit("ns").value) & (code >= 0)
        ld = leads.iloc[r]
        X = coded_snapshot(ld, pd.Index(ld["lead_id"].astype(object), name="lead_id"),
                           np.arange(len(r)), len(r), t, code[keep],
                           np.asarray((t - ev_ts[keep]) / DAY), name_code[keep], seen,
                           is_touch[keep], (7, 30, 90), ACTIVITY_NAMES, (), seg=seg.iloc[r])
        if prep is not None:
            s = point_scores[i]
        else:
            s = score_leads(leads, ev, scorer, as_of=t, lead_ids=open_ids, features=X)
        follow = min(h, (until - t) / DAY)
        dconv = _days_since(conv_ns[r], t)
        converted = dconv <= follow
        dend = np.maximum(_days_since(ended_ns[r], t), 0.0)
        ended = ~converted & (dend <= follow)
        rows = pd.DataFrame({
            "lead_id": np.asarray(open_ids, dtype=object),
            "as_of": t,
            "score": s,
            "follow_days": follow,
            "converted": converted,
            "days_to_convert": np.where(converted, dconv, np.nan),
            "ended_days": np.where(ended, dend, np.nan),
        })
        rows["next_touch_days"] = next_days[i]
        feats = X.reset_index(drop=True)
        clash = set(feats.columns) & set(ROW_COLUMNS)
        if clash:
            raise ValueError(f"snapshot feature columns {sorted(clash)} clash with the audit's "
                             "own columns")
        frames.append(pd.concat([rows, feats], axis=1))
    if frames:
        out = pd.concat(frames, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=float) for c in ROW_COLUMNS})
    out.attrs.update(horizon_days=h, observed_until=until, probability=bool(probability))
    return out
