"""Weeks, and the data every weekly metric reads, cut and prepared once (:func:`prepare`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nurturelab._timestamps import NAT, utc_ns
from nurturelab.checks import utc_timestamp
from nurturelab.funnel import DEFAULT_FUNNEL, Funnel, observed_stages, outcomes
from nurturelab.schema import require_loaded
from nurturelab.segments import segments

__all__ = ["DIMENSIONS", "ReportData", "lead_key", "prepare", "week_bounds", "week_label",
           "week_start"]

WEEK = pd.Timedelta(days=7)
DIMENSIONS = ("intent", "source", "route", "fit_band")
"""The lead dimensions every metric is also given by (``intent=high``, ``source=...``)."""

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


# --------------------------------------------------------------------------------------------
# Weeks
# --------------------------------------------------------------------------------------------
def week_bounds(week: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[Monday 00:00, next Monday 00:00)`` in UTC of an ISO week written ``YYYY-Www``.

    >>> start, end = week_bounds("2026-W47")
    >>> start.date(), end.date()
    (datetime.date(2026, 11, 16), datetime.date(2026, 11, 23))
    """
    m = _WEEK_RE.match(str(week))
    if not m:
        raise ValueError(f"a week is written YYYY-Www (ISO week), e.g. 2026-W47. Got {week!r} "
                         "instead.")
    year, num = int(m.group(1)), int(m.group(2))
    try:
        start = pd.Timestamp.fromisocalendar(year, num, 1)
    except ValueError:
        raise ValueError(f"{week!r} is not a week of {year} (ISO weeks run from W01 to W52 or "
                         "W53).") from None
    start = start.tz_localize("UTC")
    return start, start + WEEK


def week_label(ts: Any) -> str:
    """The ISO week of a timestamp (read in UTC).

    >>> week_label("2026-11-22T23:59:59Z"), week_label("2026-11-23")
    ('2026-W47', '2026-W48')
    """
    y, w, _ = utc_timestamp(ts, "ts").isocalendar()
    return f"{y}-W{w:02d}"


def week_start(ts: pd.Series) -> pd.Series:
    """Monday 00:00 UTC of the week of each timestamp."""
    t = ts.dt.tz_convert("UTC")
    return (t - pd.to_timedelta(t.dt.weekday, unit="D")).dt.floor("D")


# --------------------------------------------------------------------------------------------
# The prepared data
# --------------------------------------------------------------------------------------------
@dataclass
class ReportData:
    """Everything the metrics read, prepared once (see :func:`prepare`).

    When :attr:`lead_ids` is set, the ``lead_id`` of :attr:`leads`, :attr:`events` and of
    every table derived from them (the outcomes' index, the lead dimensions' index, the
    touches) is an int64 code, the lead's position in :attr:`lead_ids` (the leads' ids,
    sorted): ``lead_ids[code]`` is the id."""

    leads: pd.DataFrame
    events: pd.DataFrame
    week: str
    starts: pd.DatetimeIndex  # Monday of each week shown, oldest first; the last is ``week``
    as_of: pd.Timestamp  # end of the reported week (or of the data, if earlier)
    funnel: Funnel
    lead_dims: pd.DataFrame  # lead_id -> intent, source, route, fit_band
    out: pd.DataFrame  # outcomes as of ``as_of``
    threshold: float | None
    rules: Any
    horizon_days: float
    cadence: Any = None  # the cadence the team runs (its offsets set when steps are due)
    lead_ids: np.ndarray | None = None  # the sorted ids the lead codes point into, if coded
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def labels(self) -> list[str]:
        return [week_label(s) for s in self.starts]

    @property
    def observed(self) -> pd.Series:
        """Which stages of the funnel the export observes, as of the end of the report (see
        :func:`nurturelab.funnel.observed_stages`)."""
        return self.cached("observed", lambda: observed_stages(self.out, self.funnel))

    def week_of(self, ts: pd.Series) -> pd.Series:
        """ISO week label of each timestamp inside the weeks shown, else NaN.

        The week's Monday (:func:`week_start`) in integer nanoseconds: the UTC day less its
        weekday (1970-01-01 was a Thursday); the weeks shown are 7 days apart from the first,
        so a Monday's position among them is its distance from the first in weeks."""
        ns = utc_ns(ts)
        day = np.int64(86_400_000_000_000)
        days = ns // day
        off = (days - (days + 3) % 7) * day - np.int64(self.starts[0].as_unit("ns").value)
        pos = off // (7 * day)
        ok = ((ns != NAT) & (off % (7 * day) == 0) & (pos >= 0) & (pos < len(self.starts))
              & (ns <= self.as_of.as_unit("ns").value))
        lab = np.full(len(ts), np.nan, dtype=object)
        # each start is one of the weeks shown: its label by position, not one per row
        lab[ok] = np.array(self.labels, dtype=object)[pos[ok]]
        return pd.Series(lab, index=ts.index, dtype=object)

    def touches(self) -> pd.DataFrame:
        """The ``touch`` events, sorted by lead and time."""
        if "touches" not in self._cache:
            ev = self.events
            t = ev[self.type_is("touch")].copy()
            t["lead_id"] = lead_key(t["lead_id"])
            self._cache["touches"] = t.sort_values(["lead_id", "ts"], kind="stable")
        return self._cache["touches"]

    def has_events(self, kind: str) -> bool:
        """Whether the export has any event of type ``kind`` (``touch``, ``response`` ...)."""
        return self.cached(("has", kind), lambda: bool(self.type_is(kind).any()))

    def name_in(self, *names: str) -> np.ndarray:
        """Which events are named one of ``names`` (as ``name.isin(names)``, from the names
        hashed once)."""
        return self._is("name", names)

    def type_is(self, kind: str) -> np.ndarray:
        """Which events are of type ``kind``."""
        return self._is("type", (kind,))

    def _is(self, col: str, values: tuple) -> np.ndarray:
        code, uniq = self.cached(("codes", col), lambda: pd.factorize(
            self.events[col].astype(object).to_numpy(), sort=False))
        want = pd.Index(np.asarray(uniq, dtype=object)).get_indexer(list(values))
        return np.isin(code, want[want >= 0])

    def funnel_events(self) -> pd.DataFrame:
        """The events :func:`nurturelab.funnel.outcomes` reads (stage events and the funnel's
        exit events): the outcomes from them are those from every event, at less cost."""
        return self.cached("funnel_events", lambda: funnel_events(self.events, self.funnel))

    def outcomes_at(self, t: pd.Timestamp) -> pd.DataFrame:
        """The outcomes as of ``t`` (computed once per ``t``)."""
        return self.cached(("out", t), lambda: outcomes(self.leads, self.funnel_events(),
                                                        self.funnel, as_of=t))

    def states_at(self, t: pd.Timestamp) -> pd.DataFrame:
        """``status``, ``stage_index`` and ``days_in_stage`` of the leads created by ``t``
        (``t`` at most :attr:`as_of`), as ``outcomes_at(t)`` gives them, derived from the
        outcomes as of :attr:`as_of` instead of computed again: a lead's first entry into a
        stage by ``t`` is its first entry, if that came by ``t`` (tested)."""
        return self.cached(("states", t), lambda: self._states_at(t))

    def _states_at(self, t: pd.Timestamp) -> pd.DataFrame:
        never = np.iinfo(np.int64).max
        base = self.cached("state_base", self._state_base)
        created, s0, lost, entered = base
        t_ns = pd.Timestamp(t).as_unit("ns").value
        rows = created <= t_ns
        ent = entered[rows]
        first = np.where(s0[rows] <= t_ns, s0[rows], created[rows])  # stage 0: its event, else
        ent = np.where(ent <= t_ns, ent, never)  # creation; later stages: entered by t
        ent[:, 0] = first
        k_max = np.where(ent != never, np.arange(ent.shape[1]), -1).max(axis=1)
        # days as outcomes() divides them: timedelta64[ns] by one day (numpy's m8 division)
        since = (np.int64(t_ns) - ent[np.arange(len(ent)), k_max]).view("m8[ns]")
        converted = ent[:, -1] != never
        status = np.where(converted, "won", np.where(lost[rows] <= t_ns, "lost", "open"))
        return pd.DataFrame({"status": status.astype(object), "stage_index": k_max,
                             "days_in_stage": since / np.timedelta64(86_400_000_000_000, "ns"),
                             "row": np.flatnonzero(rows)}, index=self.out.index[rows])

    def _state_base(self) -> tuple[np.ndarray, ...]:
        """Per lead of :attr:`out`, int64 ns (int64 max where none): its creation, its first
        stage event into the first stage, its first loss (won or not) and the first observed
        entry into each stage."""
        never = np.iinfo(np.int64).max
        out, names = self.out, self.funnel.names
        ids = out.index

        def first_ns(ev: pd.DataFrame) -> np.ndarray:
            a = np.full(len(ids), never, dtype=np.int64)
            f = ev.groupby(lead_key(ev["lead_id"]))["ts"].min()
            pos = ids.get_indexer(f.index)
            a[pos[pos >= 0]] = _ns_of(f)[pos >= 0]
            return a

        fev = self.funnel_events()
        is_stage = fev["type"].astype(object).eq("stage").to_numpy()
        name = fev["name"].astype(object)
        s0 = first_ns(fev.loc[is_stage & name.eq(names[0]).to_numpy()])
        lost = first_ns(fev.loc[is_stage & name.eq(self.funnel.lost).to_numpy()])
        entered = np.column_stack([_ns_of(out[f"entered_{n}"]) for n in names])
        entered = np.where(entered == np.iinfo(np.int64).min, never, entered)
        created = _ns_of(self.leads["created_at"])
        return created, s0, lost, entered

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """What ``make()`` returns, computed the first time ``key`` is asked for: what
        several metrics read (the derived tasks, the scored snapshots) is computed once."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def _ns_of(ts: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 ns (NaT as the int64 minimum)."""
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype(
        "datetime64[ns]").view(np.int64)


def funnel_events(events: pd.DataFrame, funnel: Funnel = DEFAULT_FUNNEL) -> pd.DataFrame:
    """The events that move a lead through ``funnel``: its ``stage`` events and the events
    named in a stage's ``exit_on``. :func:`nurturelab.funnel.outcomes` reads no other, so its
    outcomes from these are exactly those from every event (tested)."""
    exits = {n for s in funnel.stages for n in s.exit_on}
    keep = (events["type"].astype(object).eq("stage").to_numpy()
            | events["name"].astype(object).isin(exits).to_numpy())
    return events.loc[keep]


def prepare(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    week: str,
    weeks: int = 8,
    funnel: Funnel = DEFAULT_FUNNEL,
    threshold: float | None = None,
    rules: Any = None,
    horizon_days: float = 7.0,
    cadence: Any = None,
) -> ReportData:
    """Cut the data at the end of ``week`` and prepare what the metrics share.

    Raises
    ------
    ValueError
        When the week is malformed, or the export has neither leads created nor events in it.
    TypeError
        When ``funnel`` is not a :class:`~nurturelab.funnel.Funnel`.
    """
    from nurturelab.cadence import get_cadence
    from nurturelab.scoring.points import DEFAULT_RULES

    require_loaded(leads, events)
    if not isinstance(funnel, Funnel):
        raise TypeError(f"The 'funnel' parameter of prepare must be a Funnel (see "
                        f"nurturelab.funnel.read_funnel). Got {type(funnel).__name__} instead.")
    start, end = week_bounds(week)
    if not (isinstance(weeks, int | np.integer) and weeks >= 1):
        raise ValueError(f"'weeks' must be a whole number >= 1. Got {weeks!r} instead.")
    in_leads = ((leads["created_at"] >= start) & (leads["created_at"] < end)).any()
    in_events = ((events["ts"] >= start) & (events["ts"] < end)).any()
    if not (in_leads or in_events):
        raise ValueError(f"{week} has no leads and no events in this export; "
                         f"{_span(leads, events)}")
    as_of = min(end, events["ts"].max() if len(events) else end)
    as_of = max(as_of, start)
    ev = events.loc[(events["ts"] <= as_of).to_numpy()]
    ld = leads.loc[(leads["created_at"] <= as_of).to_numpy()]
    ld, ev, lead_ids = _coded(ld, ev)
    starts = pd.date_range(end=start, periods=int(weeks), freq="7D")
    return ReportData(leads=ld, events=ev, week=week, starts=starts, as_of=as_of, funnel=funnel,
                      lead_dims=_lead_dimensions(ld),
                      out=outcomes(ld, funnel_events(ev, funnel), funnel, as_of=as_of),
                      threshold=threshold,
                      rules=rules if rules is not None else DEFAULT_RULES,
                      horizon_days=float(horizon_days),
                      cadence=get_cadence(cadence) if cadence is not None else None,
                      lead_ids=lead_ids)


def lead_key(ids: pd.Series | pd.Index) -> np.ndarray:
    """Lead ids as the report's lookups and groups key them: :func:`prepare`'s int64 codes as
    they are, ids of any other dtype (a category, a string dtype) as plain objects."""
    if pd.api.types.is_integer_dtype(ids.dtype):
        return ids.to_numpy()
    return ids.to_numpy(dtype=object)


def _coded(leads: pd.DataFrame, events: pd.DataFrame
           ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray | None]:
    """``leads`` and ``events`` (fresh cuts, :func:`prepare`'s own) with each lead id replaced
    by an int64 code, its position among the leads' sorted ids, and those ids.

    Every lookup, merge, sort and group by lead then reads integers: reading millions of id
    strings scattered in memory is what made the report grow faster than the export. The
    codes are in the ids' sorted order, so sorting or grouping by code orders the leads as
    sorting by id does, and the report is the same to the bit (tested). Tables outside the
    contract (ids that are not unique strings, events of leads not among the leads) are
    returned as they are, with ``None``: the report reads the ids themselves then."""
    ids = leads["lead_id"].to_numpy(dtype=object)
    if pd.api.types.infer_dtype(ids, skipna=False) != "string":
        return leads, events, None
    code, sorted_ids = pd.factorize(ids, sort=True)
    if len(sorted_ids) != len(ids):  # a repeated id
        return leads, events, None
    sorted_ids = np.asarray(sorted_ids, dtype=object)
    event_code = pd.Index(sorted_ids).get_indexer(events["lead_id"].to_numpy(dtype=object))
    if (event_code < 0).any():
        return leads, events, None
    return (_with_lead_code(leads, code), _with_lead_code(events, event_code), sorted_ids)


def _with_lead_code(table: pd.DataFrame, code: np.ndarray) -> pd.DataFrame:
    """A shallow copy of ``table`` with ``lead_id`` replaced by ``code`` (int64); ``table`` is
    a cut of its own (``.loc[mask]``), so no caller's table is touched."""
    out = table.copy(deep=False)
    out["lead_id"] = code.astype(np.int64)
    return out


def _span(leads: pd.DataFrame, events: pd.DataFrame) -> str:
    """The export's date range, in words."""
    if not len(events):
        return "it is empty"
    lo = min(leads["created_at"].min(), events["ts"].min())
    hi = max(leads["created_at"].max(), events["ts"].max())
    return (f"its leads and events run from {lo:%Y-%m-%d} ({week_label(lo)}) to "
            f"{hi:%Y-%m-%d} ({week_label(hi)})")


def _lead_dimensions(leads: pd.DataFrame) -> pd.DataFrame:
    """lead_id -> the export's own fit and intent bands, source and route (a lead without
    fit or intent is in the 'unknown' band)."""
    seg = segments(leads)
    dims = pd.DataFrame({"lead_id": lead_key(leads["lead_id"])})
    for d in DIMENSIONS:
        if d in seg.columns:
            dims[d] = seg[d].astype(object).to_numpy()
        elif d in leads.columns:
            dims[d] = leads[d].astype(object).to_numpy()
    return dims.set_index("lead_id")
