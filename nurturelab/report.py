"""The weekly full-path report: every metric the nurturing practices name, against the targets.

Every metric is a function over the data contract (the ``leads`` and ``events`` tables, real or
simulated) that returns one row per ISO week and segment: ``metric``, ``week`` (``2026-W47``),
``segment`` (``all``, or ``dimension=value`` such as ``intent=high``, ``source=paid_search``,
``channel=sms``, ``content=next_step``), ``value``, ``n`` (what the value is over) and, for
rates, a Wilson interval ``low``-``high``. :data:`METRICS` lists them; :func:`metric_table`
computes any subset; :func:`weekly_report` computes them all with the targets.

Rates are flows within the week, so the newest week is comparable with the older ones: a stage's
conversion is the share of leads in that stage at some time during the week that moved on during
it; conversion and opt-out are over the leads open during the week. Metrics that wait for an
answer (reply within 3 days, contact within the first stage's 2-day window, a meeting within 3,
an objection resolved within 7) count only the touches or leads whose window has closed by the
end of the report, never the open ones as failures. Score-to-conversion above the threshold is
a Kaplan-Meier estimate of conversion within 7 days of the week's start (censoring-aware, see
:mod:`nurturelab.scoring.audit`).

Targets are data (:func:`read_targets`): a metric, a segment, a comparison and a deadline, e.g.
"high-intent speed to first contact under 5 minutes by the end of the quarter". The report shows
each one's value this week, whether it is met, its trend, and flags the stage or touchpoint that
lost the most against last week.

A metric whose inputs an export lacks (no content tags, no personalisation levels, no cadence
steps) is reported as unavailable with the reason, never as zero; a week with no leads and no
events is refused with the export's date range.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from nurturelab._util import rate_ci
from nurturelab.funnel import DEFAULT_FUNNEL, POSITIVE_RESPONSES, Funnel, outcomes
from nurturelab.schema import require_loaded
from nurturelab.segments import segments

__all__ = [
    "METRICS",
    "Metric",
    "MetricUnavailable",
    "Target",
    "WeeklyReport",
    "metric_table",
    "prepare",
    "read_targets",
    "week_bounds",
    "week_label",
    "weekly_report",
]

_DAY = pd.Timedelta(days=1)
_WEEK = pd.Timedelta(days=7)
DIMENSIONS = ("intent", "source", "route", "fit_band")
OBJECTION = "objection"


class MetricUnavailable(LookupError):
    """A metric's inputs are absent from the export (the message says which)."""


# --------------------------------------------------------------------------------------------
# Weeks
# --------------------------------------------------------------------------------------------
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


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
    return start, start + _WEEK


def week_label(ts: Any) -> str:
    """The ISO week of a timestamp (read in UTC).

    >>> week_label("2026-11-22T23:59:59Z"), week_label("2026-11-23")
    ('2026-W47', '2026-W48')
    """
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    y, w, _ = t.isocalendar()
    return f"{y}-W{w:02d}"


def _week_start(ts: pd.Series) -> pd.Series:
    t = ts.dt.tz_convert("UTC")
    return (t - pd.to_timedelta(t.dt.weekday, unit="D")).dt.floor("D")


# --------------------------------------------------------------------------------------------
# The prepared data
# --------------------------------------------------------------------------------------------
@dataclass
class ReportData:
    """Everything the metrics read, prepared once (see :func:`prepare`)."""

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
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def labels(self) -> list[str]:
        return [week_label(s) for s in self.starts]

    def week_of(self, ts: pd.Series) -> pd.Series:
        """ISO week label of each timestamp inside the weeks shown, else NaN."""
        start = _week_start(ts)
        ok = start.isin(self.starts) & (ts <= self.as_of).to_numpy()
        lab = pd.Series(np.nan, index=ts.index, dtype=object)
        if ok.any():
            lab[ok] = [week_label(s) for s in start[ok]]
        return lab

    def touches(self) -> pd.DataFrame:
        if "touches" not in self._cache:
            ev = self.events
            t = ev[ev["type"].astype(object).eq("touch").to_numpy()].copy()
            t["lead_id"] = t["lead_id"].astype(object)
            self._cache["touches"] = t.sort_values(["lead_id", "ts"], kind="stable")
        return self._cache["touches"]

    def outcomes_at(self, t: pd.Timestamp) -> pd.DataFrame:
        key = ("out", t)
        if key not in self._cache:
            self._cache[key] = outcomes(self.leads, self.events, self.funnel, as_of=t)
        return self._cache[key]


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
    """
    from nurturelab.cadence import get_cadence
    from nurturelab.scoring.points import DEFAULT_RULES

    require_loaded(leads, events)
    start, end = week_bounds(week)
    if not (isinstance(weeks, int | np.integer) and weeks >= 1):
        raise ValueError(f"'weeks' must be a whole number >= 1. Got {weeks!r} instead.")
    in_leads = ((leads["created_at"] >= start) & (leads["created_at"] < end)).any()
    in_events = ((events["ts"] >= start) & (events["ts"] < end)).any()
    if not (in_leads or in_events):
        lo = min(leads["created_at"].min(), events["ts"].min()) if len(events) else None
        hi = max(leads["created_at"].max(), events["ts"].max()) if len(events) else None
        span = (f"its leads and events run from {lo:%Y-%m-%d} ({week_label(lo)}) to "
                f"{hi:%Y-%m-%d} ({week_label(hi)})" if lo is not None else "it is empty")
        raise ValueError(f"{week} has no leads and no events in this export; {span}")
    as_of = min(end, events["ts"].max() if len(events) else end)
    as_of = max(as_of, start)
    ev = events.loc[(events["ts"] <= as_of).to_numpy()]
    ld = leads.loc[(leads["created_at"] <= as_of).to_numpy()]
    # the export's own fit and intent (a lead without them is in the 'unknown' band)
    seg = segments(ld)
    dims = pd.DataFrame({"lead_id": ld["lead_id"].astype(object).to_numpy()})
    for d in DIMENSIONS:
        if d in seg.columns:
            dims[d] = seg[d].astype(object).to_numpy()
        elif d in ld.columns:
            dims[d] = ld[d].astype(object).to_numpy()
    starts = pd.date_range(end=start, periods=int(weeks), freq="7D")
    return ReportData(leads=ld, events=ev, week=week, starts=starts, as_of=as_of, funnel=funnel,
                      lead_dims=dims.set_index("lead_id"),
                      out=outcomes(ld, ev, funnel, as_of=as_of), threshold=threshold,
                      rules=rules if rules is not None else DEFAULT_RULES,
                      horizon_days=float(horizon_days),
                      cadence=get_cadence(cadence) if cadence is not None else None)


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------
COLUMNS = ("metric", "week", "segment", "value", "n", "low", "high")


def _aggregate(data: ReportData, items: pd.DataFrame, kind: str, *,
               dims: Sequence[str] = DIMENSIONS, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Per week and segment: rates (mean of bools, Wilson interval), medians or means.

    ``items`` has ``week``, ``value`` and ``lead_id`` (joined to the lead dimensions) and the
    ``extra`` columns used as further dimensions.
    """
    items = items[items["week"].notna()]
    if "lead_id" in items.columns and dims:
        joined = data.lead_dims.reindex(items["lead_id"].astype(object))
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


def _need_columns(data: ReportData, *columns: str, why: str) -> None:
    missing = [c for c in columns if c not in data.events.columns
               or not data.events[c].notna().any()]
    if missing:
        raise MetricUnavailable(f"needs the events column(s) {missing} ({why}); this export has "
                                "none")


def _answered_within(data: ReportData, touches: pd.DataFrame, names: Iterable[str], days: float,
                     *, same_channel: bool) -> pd.Series:
    """Whether each touch got an answer: an event named in ``names`` within ``days`` whose
    latest preceding touch (on the same channel if ``same_channel``) is this one (last-touch
    attribution, as :func:`nurturelab.funnel.dropoff_by_step` does). NaN for touches whose
    window is still open."""
    ev = data.events
    resp = ev.loc[ev["name"].astype(object).isin(list(names)).to_numpy(),
                  ["lead_id", "ts", "channel"]].copy()
    by = ["lead_id", "channel"] if same_channel else ["lead_id"]
    cand = data.touches()[["lead_id", "ts", "channel"]].copy()
    for df in (resp, cand):
        df["lead_id"] = df["lead_id"].astype(object)
        df["channel"] = df["channel"].astype(object)
    cand = cand.dropna(subset=by).rename(columns={"ts": "t_ts"}).sort_values("t_ts")
    resp = resp.dropna(subset=by).sort_values("ts")
    answered = pd.DataFrame(columns=[*by, "t_ts"])
    if len(resp) and len(cand):
        m = pd.merge_asof(resp, cand, left_on="ts", right_on="t_ts", by=by,
                          direction="backward", allow_exact_matches=True)
        m = m[(m["ts"] - m["t_ts"]) <= pd.Timedelta(days=days)]
        answered = m[[*by, "t_ts"]].drop_duplicates()
    key = touches[by].astype(object).assign(t_ts=touches["ts"].to_numpy())
    hit = key.merge(answered.assign(_hit=True), on=[*by, "t_ts"], how="left")["_hit"]
    out = pd.Series(hit.eq(True).to_numpy(dtype=bool), dtype=object)
    judged = (touches["ts"] + pd.Timedelta(days=days) <= data.as_of).to_numpy()
    out[~judged] = np.nan
    return out


def _rate_items(week: pd.Series, value: pd.Series, lead_id: pd.Series, **extra) -> pd.DataFrame:
    df = pd.DataFrame({"week": week.to_numpy(), "value": value.to_numpy(dtype=object),
                       "lead_id": lead_id.astype(object).to_numpy(), **extra})
    df = df[df["value"].notna()]
    return df.assign(value=df["value"].astype(bool))


# --------------------------------------------------------------------------------------------
# The metrics
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """A weekly metric: what it measures, its unit, which way is better, how it is computed."""

    name: str
    label: str
    group: str
    unit: Literal["share", "minutes", "hours", "days", "count"]
    better: Literal["higher", "lower"]
    compute: Callable[[ReportData], pd.DataFrame] = field(repr=False)
    description: str = ""


def _speed(data: ReportData, kind: str) -> pd.DataFrame:
    from nurturelab.funnel import speed_to_first_touch

    minutes = speed_to_first_touch(data.leads, data.events, as_of=data.as_of)
    ld = data.leads.set_index(data.leads["lead_id"].astype(object))
    week = data.week_of(ld["created_at"])
    waited = (data.as_of - ld["created_at"]) / pd.Timedelta(minutes=1)
    m = minutes.reindex(ld.index).to_numpy(dtype=float)
    if kind == "median":
        # not touched yet: at least as slow as the time waited so far
        value = np.where(np.isnan(m), waited.to_numpy(dtype=float), m)
        items = pd.DataFrame({"week": week.to_numpy(), "value": value,
                              "lead_id": ld.index.to_numpy()})
        return _aggregate(data, items, "median")
    within = np.where(np.isnan(m), np.where(waited.to_numpy() > 5, False, np.nan), m <= 5)
    items = _rate_items(week, pd.Series(within, dtype=object), pd.Series(ld.index))
    return _aggregate(data, items, "rate")


def _source_coverage(data: ReportData) -> pd.DataFrame:
    ld = data.leads
    known = ld["source"].astype(object).dropna().unique()
    week = data.week_of(ld["created_at"])
    rows = []
    for lab in data.labels:
        seen = ld.loc[(week == lab).to_numpy(), "source"].astype(object).nunique()
        rows.append({"week": lab, "segment": "all", "value": seen / len(known) if len(known)
                     else np.nan, "n": len(known), "low": np.nan, "high": np.nan})
    return pd.DataFrame(rows)


def _contact_rate(data: ReportData) -> pd.DataFrame:
    ld = data.leads
    ids = ld["lead_id"].astype(object)
    ev = data.events
    pos = ev[ev["name"].astype(object).isin(POSITIVE_RESPONSES).to_numpy()]
    first = pos.groupby(pos["lead_id"].astype(object))["ts"].min()
    created = pd.Series(ld["created_at"].to_numpy(), index=ids)
    window = data.funnel.stages[0].target_days or 2.0
    days = ((first.reindex(ids) - created) / _DAY).to_numpy(dtype=float)
    judged = (created + window * _DAY <= data.as_of).to_numpy()
    value = np.where(judged, days <= window, np.nan)
    items = _rate_items(data.week_of(ld["created_at"]), pd.Series(value, dtype=object),
                        pd.Series(ids.to_numpy()))
    return _aggregate(data, items, "rate")


def _stage_flow(data: ReportData, k: int) -> pd.DataFrame:
    """Leads in stage k at some time during a week, and whether they moved on during it."""
    names = data.funnel.names
    out = data.out
    entered = out[f"entered_{names[k]}"]
    later = out[[f"entered_{n}" for n in names[k + 1:]]].min(axis=1)
    lost = out["lost_at"]
    rows = []
    for s, lab in zip(data.starts, data.labels, strict=True):
        e = min(s + _WEEK, data.as_of)
        in_stage = (entered < e) & ~(later < s) & ~(lost < s)
        moved = in_stage & (later >= s) & (later < e)
        rows.append(pd.DataFrame({"week": lab, "value": moved[in_stage].to_numpy(),
                                  "lead_id": out.index[in_stage.to_numpy()].astype(object)}))
    return _aggregate(data, pd.concat(rows, ignore_index=True), "rate")


def _handoff_hours(data: ReportData) -> pd.DataFrame:
    t = data.touches()[["lead_id", "ts"]].rename(columns={"ts": "touch_ts"})
    frames = []
    for _, b, _, _ in data.funnel.handoffs():
        entries = data.out[f"entered_{b}"].dropna().rename("ts").reset_index()
        entries["lead_id"] = entries["lead_id"].astype(object)
        if not len(entries):
            continue
        m = pd.merge_asof(entries.sort_values("ts"), t.sort_values("touch_ts"), left_on="ts",
                          right_on="touch_ts", by="lead_id", direction="forward")
        hours = ((m["touch_ts"].fillna(data.as_of) - m["ts"]) / pd.Timedelta(hours=1))
        frames.append(pd.DataFrame({"week": data.week_of(m["ts"]).to_numpy(),
                                    "value": hours.to_numpy(dtype=float),
                                    "lead_id": m["lead_id"].to_numpy(), "handoff": b}))
    if not frames:
        raise MetricUnavailable("the funnel has no handoff (no change of owner)")
    return _aggregate(data, pd.concat(frames, ignore_index=True), "median", extra=("handoff",))


def _past_target(data: ReportData, k: int) -> pd.DataFrame:
    stage = data.funnel.stages[k]
    rows = []
    for s, lab in zip(data.starts, data.labels, strict=True):
        t = min(s + _WEEK - pd.Timedelta(1, "ns"), data.as_of)
        out = data.outcomes_at(t)
        here = out[out["status"].astype(object).eq("open").to_numpy()
                   & out["stage"].astype(object).eq(stage.name).to_numpy()]
        rows.append(pd.DataFrame({"week": lab,
                                  "value": (here["days_in_stage"] > stage.target_days).to_numpy(),
                                  "lead_id": here.index.astype(object)}))
    return _aggregate(data, pd.concat(rows, ignore_index=True), "rate")


def _open_during(data: ReportData, event_time: pd.Series) -> pd.DataFrame:
    out = data.out
    closed = out["converted_at"].combine_first(out["lost_at"])
    rows = []
    for s, lab in zip(data.starts, data.labels, strict=True):
        e = min(s + _WEEK, data.as_of)
        open_ = (out["created_at"] < e) & ~(closed < s) & ~(event_time.reindex(out.index) < s)
        hit = (event_time.reindex(out.index) >= s) & (event_time.reindex(out.index) < e)
        rows.append(pd.DataFrame({"week": lab, "value": hit[open_].to_numpy(),
                                  "lead_id": out.index[open_.to_numpy()].astype(object)}))
    return _aggregate(data, pd.concat(rows, ignore_index=True), "rate")


def _conversion(data: ReportData) -> pd.DataFrame:
    return _open_during(data, data.out["converted_at"])


def _opt_out(data: ReportData) -> pd.DataFrame:
    ev = data.events
    opt = ev[ev["name"].astype(object).eq("opt_out").to_numpy()]
    return _open_during(data, opt.groupby(opt["lead_id"].astype(object))["ts"].min())


def _stage_at(data: ReportData, lead_id: pd.Series, ts: pd.Series) -> np.ndarray:
    names = data.funnel.names
    ent = data.out[[f"entered_{n}" for n in names]].reindex(lead_id.astype(object).to_numpy())
    k = np.full(len(ts), -1)
    for i, n in enumerate(names):
        k = np.where((ent[f"entered_{n}"] <= ts.to_numpy()).to_numpy(), i, k)
    return k


def _content_engagement(data: ReportData) -> pd.DataFrame:
    _need_columns(data, "content", why="the touch's content tag")
    t = data.touches()
    t = t[t["content"].notna()]
    engage = [*POSITIVE_RESPONSES, "email_open", "link_click", "pricing_visit", "demo_request"]
    hit = _answered_within(data, t, engage, 3, same_channel=False)
    k = _stage_at(data, t["lead_id"], t["ts"])
    names = np.array(data.funnel.names, dtype=object)
    items = _rate_items(data.week_of(t["ts"]), hit, t["lead_id"],
                        content=t["content"].astype(object).to_numpy(),
                        stage=np.where(k >= 0, names[np.maximum(k, 0)], None))
    items["content_stage"] = items["content"] + "@" + items["stage"].astype(str)
    return _aggregate(data, items, "rate", dims=(), extra=("content", "stage", "content_stage"))


def _objection(data: ReportData) -> pd.DataFrame:
    _need_columns(data, "content", why="touches tagged for an objection")
    t = data.touches()
    t = t[t["content"].astype(object).str.contains(OBJECTION, na=False).to_numpy()]
    if not len(t):
        raise MetricUnavailable(f"needs touches whose content tag names an objection (contains "
                                f"{OBJECTION!r}, e.g. pricing_objection); this export has none")
    k = _stage_at(data, t["lead_id"], t["ts"])
    out = data.out.reindex(t["lead_id"].astype(object).to_numpy())
    names = data.funnel.names
    later = np.full(len(t), np.datetime64("NaT"), dtype="datetime64[ns]")
    ts = t["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    for i, n in enumerate(names):
        e = out[f"entered_{n}"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        take = (i > k) & (e > ts) & (np.isnat(later) | (e < later))
        later = np.where(take, e, later)
    moved = (later - ts) <= np.timedelta64(7, "D")
    judged = (t["ts"] + 7 * _DAY <= data.as_of).to_numpy()
    value = pd.Series(np.where(judged, moved, np.nan), dtype=object)
    items = _rate_items(data.week_of(t["ts"]), value, t["lead_id"],
                        content=t["content"].astype(object).to_numpy())
    return _aggregate(data, items, "rate", extra=("content",))


def _reply_rate(data: ReportData) -> pd.DataFrame:
    _need_columns(data, "channel", why="the channel a touch and its answer came on")
    t = data.touches()
    t = t[t["channel"].notna()]
    hit = _answered_within(data, t, POSITIVE_RESPONSES, 3, same_channel=True)
    items = _rate_items(data.week_of(t["ts"]), hit, t["lead_id"],
                        channel=t["channel"].astype(object).to_numpy())
    return _aggregate(data, items, "rate", extra=("channel",))


def _personalised(data: ReportData, names: Sequence[str], days: float,
                  same_channel: bool) -> pd.DataFrame:
    _need_columns(data, "personalisation", why="the touch's personalisation level")
    t = data.touches()
    t = t[t["personalisation"].notna()]
    hit = _answered_within(data, t, names, days, same_channel=same_channel)
    items = _rate_items(data.week_of(t["ts"]), hit, t["lead_id"],
                        personalisation=t["personalisation"].astype(object).to_numpy(),
                        channel=t["channel"].astype(object).to_numpy())
    # the level's effect read within a channel (levels are not spread evenly over channels)
    items["personalisation_channel"] = items["personalisation"] + "@" + items["channel"]
    return _aggregate(data, items, "rate", dims=(),
                      extra=("personalisation", "channel", "personalisation_channel"))


def _time_between(data: ReportData) -> pd.DataFrame:
    t = data.touches()
    gap = t.groupby("lead_id", sort=False)["ts"].diff() / pd.Timedelta(hours=1)
    items = pd.DataFrame({"week": data.week_of(t["ts"]).to_numpy(),
                          "value": gap.to_numpy(dtype=float),
                          "lead_id": t["lead_id"].to_numpy()})
    return _aggregate(data, items[items["value"].notna()], "mean")


def _steps(data: ReportData) -> pd.DataFrame:
    _need_columns(data, "step", why="the cadence step of each touch")
    t = data.touches()
    return t[t["step"].notna()].assign(step=lambda d: d["step"].astype(int))


def _dropoff(data: ReportData) -> pd.DataFrame:
    """Share of leads touched at a step in the week that the sequence then lost: no later
    touch and no answer within the usual gap to the next step (plus a day). The last step is
    left out: nothing follows it by design."""
    t = _steps(data)
    nxt_ts = t.groupby("lead_id", sort=False)["ts"].shift(-1)
    nxt_step = t.groupby("lead_id", sort=False)["step"].shift(-1)
    gap = ((nxt_ts - t["ts"]) / _DAY)[nxt_step == t["step"] + 1]
    usual = gap.groupby(t["step"]).median()
    window = t["step"].map(usual).fillna(3.0).to_numpy() + 1.0
    ans_days = np.full(len(t), np.inf)
    ev = data.events
    pos = ev.loc[ev["name"].astype(object).isin(POSITIVE_RESPONSES).to_numpy(),
                 ["lead_id", "ts"]].rename(columns={"ts": "r_ts"})
    pos["lead_id"] = pos["lead_id"].astype(object)
    left = t[["lead_id", "ts"]].assign(_i=np.arange(len(t))).sort_values("ts")
    m = pd.merge_asof(left, pos.sort_values("r_ts"), left_on="ts", right_on="r_ts",
                      by="lead_id", direction="forward")
    ans_days[m["_i"].to_numpy()] = ((m["r_ts"] - m["ts"]) / _DAY).fillna(np.inf).to_numpy()
    later = ((nxt_ts - t["ts"]) / _DAY).fillna(np.inf).to_numpy()
    lost = (later > window) & (ans_days > window)
    last = (len(data.cadence) - 1 if data.cadence is not None else int(t["step"].max()))
    judged = ((t["ts"] + pd.to_timedelta(window, unit="D") <= data.as_of).to_numpy()
              & (t["step"] < last).to_numpy())  # nothing follows the last step
    items = _rate_items(data.week_of(t["ts"]), pd.Series(np.where(judged, lost, np.nan),
                                                         dtype=object), t["lead_id"],
                        step=t["step"].astype(str).to_numpy())
    return _aggregate(data, items, "rate", dims=(), extra=("step",))


def _opted_out_at(data: ReportData) -> pd.Series:
    """When each lead opted out (NaT if never), indexed like the outcomes."""
    ev = data.events
    opt = ev[ev["name"].astype(object).eq("opt_out").to_numpy()]
    return opt.groupby(opt["lead_id"].astype(object))["ts"].min().reindex(data.out.index)


def _tasks(data: ReportData) -> pd.DataFrame:
    """Cadence steps as tasks: each step a lead received, and each step it was due but never
    got while still uncontacted and open. Due = creation + the step's offset in the cadence
    when one is given; otherwise the fastest tenth of the observed offsets, so that a slow
    team does not push its own due times later."""
    if "tasks" in data._cache:
        return data._cache["tasks"]
    t = _steps(data)
    created = data.out["created_at"]
    if data.cadence is not None:
        usual = pd.Series(data.cadence.offsets() / 86400.0)
    else:
        offset = (t["ts"].to_numpy() - created.reindex(t["lead_id"]).to_numpy()) / _DAY
        usual = pd.Series(offset).groupby(t["step"].to_numpy()).quantile(0.1)
    done = t.drop_duplicates(["lead_id", "step"])[["lead_id", "step", "ts"]]
    contacted = data.out[f"entered_{data.funnel.names[1]}"]
    closed = data.out["converted_at"].combine_first(data.out["lost_at"])
    stop = pd.concat([contacted, closed, _opted_out_at(data)], axis=1).min(axis=1)
    ids = data.out.index.to_numpy(dtype=object)
    frames = []
    for step, off in usual.items():
        due = created + pd.to_timedelta(off, unit="D")
        got = done[done["step"] == step].set_index("lead_id")["ts"].reindex(ids)
        live = due.to_numpy() < stop.fillna(pd.Timestamp.max.tz_localize("UTC")).to_numpy()
        keep = got.notna().to_numpy() | live
        frames.append(pd.DataFrame({"lead_id": ids[keep], "step": int(step),
                                    "due": due.to_numpy()[keep], "done": got.to_numpy()[keep]}))
    tasks = pd.concat(frames, ignore_index=True)
    tasks["done"] = pd.to_datetime(tasks["done"], utc=True)
    tasks["due"] = pd.to_datetime(tasks["due"], utc=True)
    data._cache["tasks"] = tasks
    return tasks


def _completion(data: ReportData, on_time: bool) -> pd.DataFrame:
    """Tasks due in the week done within a fixed window of their due time (a day on time,
    three days at all), judged once the window has closed, so every week has had the same
    time to finish its tasks."""
    tasks = _tasks(data)
    window = _DAY if on_time else 3 * _DAY
    judged = (tasks["due"] + window <= data.as_of).to_numpy()
    ok = tasks["done"].notna() & (tasks["done"] <= tasks["due"] + window)
    value = pd.Series(np.where(judged, ok.to_numpy(), np.nan), dtype=object)
    items = _rate_items(data.week_of(tasks["due"]), value, tasks["lead_id"],
                        step=tasks["step"].astype(str).to_numpy())
    return _aggregate(data, items, "rate", extra=("step",))


def _overdue(data: ReportData, what: str) -> pd.DataFrame:
    tasks = _tasks(data)
    grace = _DAY
    opted = _opted_out_at(data)
    rows = []
    for s, lab in zip(data.starts, data.labels, strict=True):
        t = min(s + _WEEK, data.as_of)
        late = (tasks["due"] + grace <= t) & ~(tasks["done"] <= t)
        # only while the lead is still uncontacted, open and not opted out at t
        out = data.outcomes_at(t)
        live = out.index[out["status"].astype(object).eq("open").to_numpy()
                         & out["stage_index"].eq(0).to_numpy()
                         & ~(opted.reindex(out.index) <= t).to_numpy()]
        late &= tasks["lead_id"].isin(live)
        age = (t - tasks.loc[late, "due"]) / pd.Timedelta(hours=1)
        value = float(late.sum()) if what == "count" else (float(age.median()) if len(age)
                                                            else np.nan)
        rows.append({"week": lab, "segment": "all", "value": value, "n": int(late.sum()),
                     "low": np.nan, "high": np.nan})
    return pd.DataFrame(rows)


def _score_rows(data: ReportData) -> pd.DataFrame:
    if "score_rows" not in data._cache:
        from nurturelab.scoring.audit import scored_snapshots

        data._cache["score_rows"] = scored_snapshots(
            data.leads, data.events, data.rules, times=list(data.starts) + [data.as_of],
            horizon_days=data.horizon_days, observed_until=data.as_of)
    return data._cache["score_rows"]


def _threshold(data: ReportData, rows: pd.DataFrame) -> float:
    if data.threshold is not None:
        return float(data.threshold)
    ths = getattr(data.rules, "thresholds", ())
    if ths:
        return float(min(t.score for t in ths))
    if not len(rows):
        raise MetricUnavailable("no scored leads to set a threshold from")
    return float(np.quantile(rows["score"], 0.8))


def _score_conversion(data: ReportData) -> pd.DataFrame:
    from nurturelab.scoring.audit import ipcw_rate

    rows = _score_rows(data)
    t = _threshold(data, rows)
    out = []
    for s, lab in zip(data.starts, data.labels, strict=True):
        r = rows[(rows["as_of"] == s).to_numpy() & (rows["score"] >= t).to_numpy()]
        if not len(r):
            continue
        value = ipcw_rate(r, data.horizon_days)  # NaN until the week's horizon has passed
        mature = len(r) and bool((r["follow_days"] >= data.horizon_days).all())
        lo, hi = (rate_ci([value * len(r)], [len(r)]) if mature else ([np.nan], [np.nan]))
        out.append({"week": lab, "segment": "all", "value": value, "n": len(r),
                    "low": float(lo[0]), "high": float(hi[0])})
    return pd.DataFrame(out)


def _score_decay(data: ReportData) -> pd.DataFrame:
    rows = _score_rows(data)
    t = _threshold(data, rows)
    times = list(data.starts) + [data.as_of]
    by_time = {k: g.set_index("lead_id") for k, g in rows.groupby("as_of")}
    out = []
    for s, e, lab in zip(times[:-1], times[1:], data.labels, strict=True):
        a, b = by_time.get(s), by_time.get(e)
        flagged = a.index[a["score"] >= t] if a is not None else []
        if b is None or not len(flagged):
            continue
        still = b.reindex(flagged)
        fell = (still["score"] < t).to_numpy()  # open at the week end, below the threshold
        n = len(flagged)
        lo, hi = rate_ci([fell.sum()], [n])
        out.append({"week": lab, "segment": "all", "value": fell.sum() / n if n else np.nan,
                    "n": n, "low": float(lo[0]), "high": float(hi[0])})
    return pd.DataFrame(out)


def _build_metrics() -> dict[str, Metric]:
    ms = [
        Metric("speed_to_first_contact_min", "speed to first contact (median minutes)",
               "intake", "minutes", "lower", lambda d: _speed(d, "median"),
               "minutes from creation to the first touch, leads created in the week; a lead not "
               "touched yet counts the time it has waited"),
        Metric("first_contact_within_5min", "first touch within 5 minutes", "intake", "share",
               "higher", lambda d: _speed(d, "rate"), "leads created in the week touched "
               "within 5 minutes; one not touched yet counts as a miss once 5 minutes passed"),
        Metric("source_coverage", "sources feeding leads", "intake", "share", "higher",
               _source_coverage, "share of the export's sources that sent a lead in the week"),
        Metric("contact_rate", "contacted within the new stage's target", "intake", "share",
               "higher", _contact_rate, "leads created in the week answering (connect or "
               "reply) within the first stage's target window (2 days by default); younger "
               "leads are not judged"),
    ]
    for k, stage in enumerate(DEFAULT_FUNNEL.stages[:-1]):
        ms.append(Metric(f"stage_conversion.{stage.name}",
                         f"{stage.name} → {DEFAULT_FUNNEL.names[k + 1]} in the week", "stages",
                         "share", "higher", lambda d, k=k: _stage_flow(d, k),
                         "of the leads in the stage at some time during the week, the share "
                         "that moved on during it"))
        if stage.target_days:
            ms.append(Metric(f"past_target.{stage.name}",
                             f"{stage.name}: open past {stage.target_days:g} days", "stages",
                             "share", "lower", lambda d, k=k: _past_target(d, k),
                             "open leads in the stage at the week's end that have sat there "
                             "longer than its target window"))
    ms += [
        Metric("handoff_response_hours", "handoff to next touch (median hours)", "stages",
               "hours", "lower", _handoff_hours, "hours from entering a stage with a new owner "
               "to the next touch; one not yet touched counts the time waited"),
        Metric("conversion", "converted in the week", "segments", "share", "higher",
               _conversion, "leads winning in the week over the leads open during it"),
        Metric("opt_out_rate", "opted out in the week", "segments", "share", "lower", _opt_out,
               "leads opting out in the week over the leads open during it"),
        Metric("content_engagement", "engagement within 3 days of a touch", "content", "share",
               "higher", _content_engagement, "touches followed within 3 days by an answer or "
               "an activity, by content tag and by the lead's stage"),
        Metric("objection_resolution", "objection resolved within 7 days", "content", "share",
               "higher", _objection, "touches tagged for an objection followed within 7 days "
               "by the lead moving to a later stage (so a week's value is known a week later)"),
        Metric("reply_rate", "reply within 3 days", "cadence", "share", "higher", _reply_rate,
               "touches answered (connect or reply) on the same channel within 3 days"),
        Metric("cadence_completion", "steps done on time", "cadence", "share", "higher",
               lambda d: _completion(d, on_time=True), "cadence steps due in the week done "
               "within a day of when they were due (judged once the day has passed)"),
        Metric("time_between_touches_hours", "time between touches (mean hours)", "cadence",
               "hours", "lower", _time_between, "hours since the lead's previous touch, for "
               "each touch in the week"),
        Metric("dropoff", "leads lost after a step", "cadence", "share", "lower", _dropoff,
               "leads touched at a step that got no later touch and no answer within the usual "
               "gap to the next step plus a day"),
        Metric("reply_rate_by_personalisation", "reply within 3 days, by personalisation",
               "personalisation", "share", "higher",
               lambda d: _personalised(d, POSITIVE_RESPONSES, 3, True),
               "touches answered on their channel within 3 days, by personalisation level, "
               "and by level within a channel (levels are not spread evenly over channels)"),
        Metric("meeting_rate_by_personalisation", "meeting booked within 3 days, by "
               "personalisation", "personalisation", "share", "higher",
               lambda d: _personalised(d, ("demo_request",), 3, False),
               "touches followed by a demo request within 3 days (credited to the latest "
               "touch), by personalisation level"),
        Metric("score_to_conversion", "conversion above the score threshold", "scoring",
               "share", "higher", _score_conversion, "leads at or above the threshold at the "
               "week's start converting within the horizon (Kaplan-Meier; interval only once "
               "mature)"),
        Metric("score_decay_rate", "flagged leads falling below the threshold", "scoring",
               "share", "lower", _score_decay, "leads at or above the threshold at the week's "
               "start that are below it at its end, still open"),
        Metric("task_completion", "cadence tasks done", "queues", "share", "higher",
               lambda d: _completion(d, on_time=False), "cadence steps due in the week "
               "done within 3 days of their due time, late or not (judged once the 3 days "
               "have passed)"),
        Metric("overdue_tasks", "overdue tasks at the week's end", "queues", "count", "lower",
               lambda d: _overdue(d, "count"), "steps more than a day past due, not done, lead "
               "still uncontacted, open and not opted out"),
        Metric("overdue_task_age_hours", "age of overdue tasks (median hours)", "queues",
               "hours", "lower", lambda d: _overdue(d, "age"), "hours since the overdue "
               "tasks at the week's end fell due"),
    ]
    return {m.name: m for m in ms}


METRICS: dict[str, Metric] = _build_metrics()
"""Every weekly metric, by name."""

GROUPS = ("intake", "stages", "segments", "content", "cadence", "personalisation", "scoring",
          "queues")


def metric_table(data: ReportData, names: Iterable[str] | None = None
                 ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Compute metrics: the long table and, for each unavailable one, why.

    >>> from nurturelab.synthetic import make_export
    >>> leads, events = make_export(n_leads=300, seed=1)
    >>> data = prepare(leads, events, week="2026-W40", weeks=3)
    >>> table, why = metric_table(data, ["conversion", "objection_resolution"])
    >>> sorted(table["week"].unique())
    ['2026-W38', '2026-W39', '2026-W40']
    >>> why["objection_resolution"].startswith("needs the events column")
    True
    """
    names = list(METRICS) if names is None else list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; known: {sorted(METRICS)}")
    frames, why = [], {}
    for n in names:
        try:
            t = METRICS[n].compute(data)
        except MetricUnavailable as exc:
            why[n] = str(exc)
            continue
        if not len(t):
            why[n] = "no data in the weeks shown"
            continue
        frames.append(t.assign(metric=n))
    table = (pd.concat(frames, ignore_index=True)[list(COLUMNS)] if frames
             else pd.DataFrame(columns=list(COLUMNS)))
    table["week"] = pd.Categorical(table["week"], categories=data.labels, ordered=True)
    table = table.sort_values(["metric", "segment", "week"], kind="stable")
    table["week"] = table["week"].astype(str)
    return table.reset_index(drop=True), why


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------
_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
SEGMENT_DIMS = (*DIMENSIONS, "channel", "content", "stage", "content_stage", "personalisation",
                "personalisation_channel", "step", "handoff")
"""The dimensions a target's segment may name (``dimension=value``)."""
_TARGET_RE = re.compile(r"^\s*(<=|>=|<|>)\s*(-?[0-9.]+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Target:
    """A SMART target: ``metric`` in ``segment`` ``op`` ``value`` by ``deadline``.

    >>> Target("high-intent speed", "speed_to_first_contact_min", "< 5",
    ...        deadline="2026-12-31", segment="intent=high").met(3.2)
    True
    """

    name: str
    metric: str
    target: str
    deadline: str
    segment: str = "all"
    op: str = field(init=False)
    value: float = field(init=False)

    def __post_init__(self) -> None:
        me = f"target {self.name!r}"
        if self.metric not in METRICS:
            raise ValueError(f"{me} names an unknown metric {self.metric!r}; known metrics: "
                             f"{', '.join(sorted(METRICS))}")
        m = _TARGET_RE.match(str(self.target))
        if not m:
            raise ValueError(f"{me} 'target' must be a comparison such as '< 5', '>= 0.3' or "
                             f"'>= 30%'. Got {self.target!r} instead.")
        value = float(m.group(2)) / (100 if m.group(3) else 1)
        object.__setattr__(self, "op", m.group(1))
        object.__setattr__(self, "value", value)
        import datetime as _dt

        try:
            _dt.date.fromisoformat(str(self.deadline))
        except (ValueError, TypeError):
            raise ValueError(f"{me} 'deadline' must be a date written YYYY-MM-DD, such as "
                             f"2026-12-31. Got {self.deadline!r} instead.") from None
        dim = str(self.segment).split("=")[0]
        if self.segment != "all" and ("=" not in str(self.segment) or dim not in SEGMENT_DIMS):
            raise ValueError(f"{me} 'segment' must be 'all' or 'dimension=value' with a "
                             f"dimension among {', '.join(SEGMENT_DIMS)} (e.g. intent=high). "
                             f"Got {self.segment!r} instead.")
        if METRICS[self.metric].unit == "share" and not 0 <= value <= 1:
            raise ValueError(f"{me} compares a share ({self.metric}) with {self.target!r}; a "
                             "share lies between 0 and 1 (write e.g. '>= 0.3' or '>= 30%').")

    def met(self, value: float) -> bool:
        return bool(_OPS[self.op](value, self.value))


def read_targets(path: str | Path) -> tuple[Target, ...]:
    """Targets from YAML: a list under ``targets:`` of ``name``, ``metric``, ``segment``
    (optional), ``target`` and ``deadline``. Errors name the file and the entry."""
    from nurturelab._yaml import load_yaml

    path = Path(path)
    doc = load_yaml(path, "targets", "a list under 'targets:'")
    items = doc.get("targets") if isinstance(doc, Mapping) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list under 'targets:'")
    out = []
    for i, item in enumerate(items):
        where = f"{path}: targets[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} must be a mapping with name, metric, target, deadline")
        allowed = {"name", "metric", "segment", "target", "deadline"}
        extra = sorted(set(item) - allowed)
        missing = sorted({"name", "metric", "target", "deadline"} - set(item))
        if extra or missing:
            raise ValueError(f"{where}: " + "; ".join(
                ([f"unknown key(s) {extra}"] if extra else [])
                + ([f"missing {missing}"] if missing else [])) + f" (keys: {sorted(allowed)})")
        try:
            out.append(Target(name=str(item["name"]), metric=str(item["metric"]),
                              target=str(item["target"]), deadline=str(item["deadline"]),
                              segment=str(item.get("segment", "all"))))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return tuple(out)


def _trend(values: np.ndarray) -> tuple[float, float]:
    """Least-squares slope per week and its two-sided p-value (NaN with fewer than 3 weeks)."""
    from scipy.stats import linregress

    ok = np.isfinite(values)
    if ok.sum() < 3:
        return np.nan, np.nan
    x = np.arange(len(values))[ok]
    if np.ptp(values[ok]) == 0:
        return 0.0, 1.0
    fit = linregress(x, values[ok])
    return float(fit.slope), float(fit.pvalue)


def attainment(table: pd.DataFrame, targets: Sequence[Target], week: str,
               why: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Each target's value in ``week``, whether it is met, and its trend over the weeks shown.

    ``status``: ``pass`` (met), ``warn`` (not met, deadline ahead), ``fail`` (not met, deadline
    passed) or ``pending`` (no value this week, ``detail`` says why).
    """
    why = dict(why or {})
    end = week_bounds(week)[1]
    rows = []
    for t in targets:
        series = table[(table["metric"] == t.metric) & (table["segment"] == t.segment)]
        now = series[series["week"] == week]["value"]
        value = float(now.iloc[0]) if len(now) else np.nan
        slope, p = _trend(series["value"].to_numpy(dtype=float))
        better = METRICS[t.metric].better
        # a direction only when the weekly values move more than their noise (p < 0.1)
        direction = ("flat" if not np.isfinite(slope) or not p < 0.1 else
                     "improving" if (slope > 0) == (better == "higher") else "worsening")
        deadline = pd.Timestamp(t.deadline)
        deadline = deadline.tz_localize("UTC") if deadline.tzinfo is None else deadline
        if not np.isfinite(value):
            status = "pending"
            seen = table.loc[table["metric"] == t.metric, "segment"].unique()
            if t.metric in why:
                detail = why[t.metric]
            elif len(seen) and t.segment not in seen:
                dim = t.segment.split("=")[0] + "="
                known = sorted(x for x in seen if x.startswith(dim)) or sorted(seen)[:8]
                detail = (f"{t.metric} has no segment {t.segment} in the weeks shown; it has "
                          f"{', '.join(known)}")
            else:
                detail = (f"no value for {t.segment} in {week}: no leads or touches there, or "
                          "their answer windows have not closed by the end of the week")
        elif t.met(value):
            status, detail = "pass", "met"
        else:
            status = "fail" if deadline < end else "warn"
            detail = "missed; deadline passed" if status == "fail" else "not met yet"
        rows.append({"target": t.name, "metric": t.metric, "segment": t.segment,
                     "goal": f"{t.op} {t.value:g}", "deadline": t.deadline, "value": value,
                     "status": status, "trend": direction, "slope_per_week": slope,
                     "detail": detail})
    return pd.DataFrame(rows)


def biggest_loss(table: pd.DataFrame, week: str, previous: str) -> dict | None:
    """The stage or touchpoint that lost the most against the previous week: the largest fall
    in a stage's conversion, or rise in a step's drop-off, weighted by the leads it concerns."""
    cand = []
    for metric, sign in (("stage_conversion.", -1), ("dropoff", 1)):
        sub = table[table["metric"].str.startswith(metric)]
        if metric == "dropoff":
            sub = sub[sub["segment"].str.startswith("step=")]
        else:
            sub = sub[sub["segment"] == "all"]
        for (m, seg), g in sub.groupby(["metric", "segment"]):
            a = g[g["week"] == previous]
            b = g[g["week"] == week]
            if not (len(a) and len(b)):
                continue
            change = float(b["value"].iloc[0] - a["value"].iloc[0])
            worse = sign * change
            cand.append({"metric": m, "segment": seg, "before": float(a["value"].iloc[0]),
                         "after": float(b["value"].iloc[0]), "change": change,
                         "leads": int(b["n"].iloc[0]), "loss": worse * int(b["n"].iloc[0])})
    if not cand:
        return None
    best = max(cand, key=lambda c: c["loss"])
    return best if best["loss"] > 0 else None


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class WeeklyReport:
    """The weekly report: the metric table, the targets' attainment, and what was unavailable."""

    week: str
    weeks: list[str]
    table: pd.DataFrame
    targets: pd.DataFrame
    unavailable: dict[str, str]
    loss: dict | None
    as_of: pd.Timestamp

    def __repr__(self) -> str:
        met = int((self.targets["status"] == "pass").sum()) if len(self.targets) else 0
        return (f"WeeklyReport({self.week}: {self.table['metric'].nunique()} metrics, "
                f"{len(self.unavailable)} unavailable, {met}/{len(self.targets)} targets met)")

    def value(self, metric: str, segment: str = "all", week: str | None = None) -> float:
        """One figure of the table (NaN if absent)."""
        t = self.table
        v = t[(t["metric"] == metric) & (t["segment"] == segment)
              & (t["week"] == (week or self.week))]["value"]
        return float(v.iloc[0]) if len(v) else np.nan

    def headline(self) -> pd.DataFrame:
        """Every metric's ``all`` value this week and last week, with the change."""
        t = self.table[self.table["segment"] == "all"]
        wide = t.pivot_table(index="metric", columns="week", values="value", aggfunc="first")
        prev = self.weeks[-2] if len(self.weeks) > 1 else None
        out = pd.DataFrame(index=[m for m in METRICS if m in wide.index])
        out["metric_label"] = [METRICS[m].label for m in out.index]
        out["group"] = [METRICS[m].group for m in out.index]
        out["this_week"] = wide.reindex(out.index).get(self.week)
        out["last_week"] = (wide.reindex(out.index).get(prev) if prev in wide.columns
                            else np.nan)
        out["change"] = out["this_week"] - out["last_week"]
        out["better"] = [METRICS[m].better for m in out.index]
        return out.rename_axis("metric")

    def plot_group(self, group: str, ax=None):
        """Weekly trend of a group's metrics (segment ``all``)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        t = self.table[self.table["segment"] == "all"]
        names = [m for m in METRICS if METRICS[m].group == group and m in set(t["metric"])]
        share = [m for m in names if METRICS[m].unit == "share"]
        for m in share or names:
            g = t[t["metric"] == m]
            ax.plot(g["week"], g["value"], marker="o", label=METRICS[m].label)
        ax.set_title(group)
        ax.set_ylabel("share" if share else METRICS[names[0]].unit if names else "")
        ax.tick_params(axis="x", labelrotation=45)
        ax.legend(fontsize=7, loc="best")
        return ax

    def report(self, title: str | None = None, *, generated: str | None = None):
        """The report as an :class:`~nurturelab._html.HtmlReport` (call ``.write(path)``)."""
        import matplotlib.pyplot as plt

        from nurturelab._html import HtmlReport

        rep = HtmlReport(title or f"Weekly full-path report: {self.week}",
                         f"weeks {self.weeks[0]} to {self.week} · data until "
                         f"{self.as_of:%Y-%m-%d %H:%M} UTC", generated=generated)
        if len(self.targets):
            rep.status_summary(self.targets, name="target")
        if self.loss:
            lo = self.loss
            rep.note(f"Biggest loss against last week: {lo['metric']} ({lo['segment']}) went "
                     f"from {lo['before']:.1%} to {lo['after']:.1%} over {lo['leads']} leads.",
                     "warn")
        rep.heading("Targets")
        if len(self.targets):
            rep.table(self.targets, status_column="status")
        else:
            rep.paragraph("No targets given (write them in a YAML file, see read_targets).")
        rep.heading("This week against last week")
        rep.table(self.headline().reset_index(), float_format="{:,.3f}")
        for group in GROUPS:
            names = [m for m in METRICS if METRICS[m].group == group]
            rep.heading(group.capitalize())
            for m in names:
                if m in self.unavailable:
                    rep.note(f"{METRICS[m].label}: unavailable: {self.unavailable[m]}", "skip")
            present = [m for m in names if m in set(self.table["metric"])]
            if not present:
                continue
            fig, ax = plt.subplots(figsize=(8, 3.5))
            try:
                self.plot_group(group, ax=ax)
                fig.tight_layout()
                rep.figure(fig, f"{group}: weekly trend", alt=f"weekly trend of the {group} "
                           "metrics")
            finally:
                plt.close(fig)
            week = self.table[(self.table["metric"].isin(present))
                              & (self.table["week"] == self.week)
                              & (self.table["segment"] != "all")]
            if len(week):
                order = {m: i for i, m in enumerate(METRICS)}
                week = week.sort_values(["metric", "segment"],
                                        key=lambda c: c.map(order) if c.name == "metric"
                                        else c)
                rep.table(week.drop(columns="week"), f"{self.week} by segment")
        rep.heading("Definitions")
        rep.table(pd.DataFrame([{"metric": m.name, "group": m.group, "unit": m.unit,
                                 "better": m.better, "definition": m.description or m.label}
                                for m in METRICS.values()]))
        return rep

    def to_html(self, path: str | Path, **kwargs: Any) -> Path:
        """Write the self-contained HTML report; returns its path."""
        return self.report(**kwargs).write(path)


def weekly_report(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    week: str,
    weeks: int = 8,
    targets: Sequence[Target] = (),
    funnel: Funnel = DEFAULT_FUNNEL,
    threshold: float | None = None,
    rules: Any = None,
    horizon_days: float = 7.0,
    cadence: Any = None,
) -> WeeklyReport:
    """Every metric for ``week`` and the ``weeks - 1`` before it, with the targets.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (real or simulated); not modified.
    week : str
        ISO week, ``YYYY-Www``.
    weeks : int, default 8
        Weeks shown (for trends), the reported one last.
    targets : sequence of Target
        From :func:`read_targets`.
    threshold, rules, horizon_days
        The score threshold (default: the point rules' lowest threshold, else the 80th
        percentile of scores), the point rules (default
        :data:`~nurturelab.scoring.points.DEFAULT_RULES`) and the conversion horizon of the
        scoring metrics.
    cadence : Cadence or str, optional
        The cadence the team runs (a built-in name, a YAML file or a Cadence): its offsets say
        when each step is due. Without it, a step is due at the fastest tenth of the observed
        times from creation to it.
    """
    data = prepare(leads, events, week=week, weeks=weeks, funnel=funnel, threshold=threshold,
                   rules=rules, horizon_days=horizon_days, cadence=cadence)
    table, why = metric_table(data)
    labels = data.labels
    loss = biggest_loss(table, week, labels[-2]) if len(labels) > 1 else None
    return WeeklyReport(week=week, weeks=labels, table=table,
                        targets=attainment(table, targets, week, why), unavailable=why,
                        loss=loss, as_of=data.as_of)
