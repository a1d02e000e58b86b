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

from nurturelab.checks import is_number, utc_timestamp
from nurturelab.competing import lead_endings
from nurturelab.funnel import DEFAULT_FUNNEL, outcomes
from nurturelab.schema import require_loaded
from nurturelab.scoring.features import open_leads, snapshot
from nurturelab.scoring.points import _evaluate as _points_evaluate
from nurturelab.scoring.points import _prepare as _points_prepare
from nurturelab.scoring.thresholds import score_leads, scorer_kind

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


def _next_touch_days(rows: pd.DataFrame, touch: pd.DataFrame, t: pd.Timestamp) -> np.ndarray:
    """Days from the snapshot to each lead's next touch or stage event (NaN if none seen)."""
    nxt = pd.merge_asof(rows[["lead_id", "as_of"]].assign(_i=np.arange(len(rows)))
                        .sort_values("as_of"), touch.rename(columns={"ts": "next_ts"}),
                        left_on="as_of", right_on="next_ts", by="lead_id",
                        direction="forward", allow_exact_matches=False).sort_values("_i")
    return ((nxt["next_ts"] - t) / DAY).to_numpy(dtype=float)


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
    kind = scorer_kind(scorer)
    if probability is None:
        probability = kind == "probability"
    h = float(horizon_days) if is_number(horizon_days) else np.nan
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"'horizon_days' must be a positive number of days. Got "
                         f"{horizon_days!r} instead.")
    until = (events["ts"].max() if observed_until is None
             else utc_timestamp(observed_until, "observed_until"))
    ev = events.loc[(events["ts"] <= until).to_numpy()]
    conv = outcomes(leads, ev, as_of=until)["converted_at"]
    endings = lead_endings(leads, ev, as_of=until, dark_days=None, recycled=None, columns=[])
    ended_at = endings["ended_at"].where(endings["ending"].isin(ENDED_BY))
    touch = ev.loc[ev["type"].astype(object).isin(("touch", "stage")).to_numpy(),
                   ["lead_id", "ts"]]
    touch = touch.assign(lead_id=touch["lead_id"].astype(object)).sort_values("ts")
    # what every snapshot reads, prepared once: the events that move a lead through the
    # funnel (outcomes read no other, so the open leads are the same) and the point rules'
    # matched events
    exits = {n for st in DEFAULT_FUNNEL.stages for n in st.exit_on}
    fev = ev.loc[(ev["type"].astype(object).eq("stage").to_numpy()
                  | ev["name"].astype(object).isin(exits).to_numpy())]
    prep = _points_prepare(leads, ev, scorer) if kind == "points" else None
    frames = []
    if isinstance(times, str | pd.Timestamp):
        times = [times]
    for t in pd.DatetimeIndex([utc_timestamp(x, "times") for x in times]).unique().sort_values():
        if t > until:
            continue
        open_ids = open_leads(leads, fev, as_of=t)
        if not len(open_ids):
            continue
        X = snapshot(leads, ev, as_of=t).loc[open_ids]
        if prep is not None:  # points: as scores() gives them, from the rules' events
            q = pd.Index(prep.ids).get_indexer(open_ids)
            s = _points_evaluate(scorer, prep, q, np.full(len(q), t.as_unit("ns").value,
                                                          dtype=np.int64))["score"]
        else:
            s = score_leads(leads, ev, scorer, as_of=t, lead_ids=open_ids, features=X)
        follow = min(h, (until - t) / DAY)
        dconv = ((conv.reindex(open_ids) - t) / DAY).to_numpy(dtype=float)
        converted = dconv <= follow
        dend = np.maximum(((ended_at.reindex(open_ids) - t) / DAY).to_numpy(dtype=float), 0.0)
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
        rows["next_touch_days"] = _next_touch_days(rows, touch, t)
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
