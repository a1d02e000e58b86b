"""How each weekly metric is computed: one function per metric over :class:`ReportData`.

Each returns the rows of the long table for its metric (``week``, ``segment``, ``value``,
``n``, ``low``, ``high``; see :func:`nurturelab.report.aggregate.aggregate`) or raises
:class:`~nurturelab.report.aggregate.MetricUnavailable` when the export lacks what it reads.
:func:`nurturelab.report.metrics.build_metrics` names and describes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nurturelab._util import rate_ci
from nurturelab.funnel import POSITIVE_RESPONSES, speed_to_first_touch
from nurturelab.report.aggregate import (
    MetricUnavailable,
    aggregate,
    answered_within,
    need_event_columns,
    need_events,
    need_stage,
    rate_items,
)
from nurturelab.report.data import WEEK, ReportData, lead_key

__all__ = ["OBJECTION", "completion", "contact_rate", "content_engagement", "conversion",
           "dropoff", "handoff_hours", "objection_resolution", "opt_out", "overdue",
           "past_target", "personalised", "reply_rate", "score_conversion", "score_decay",
           "source_coverage", "speed", "stage_flow", "time_between_touches"]

DAY = pd.Timedelta(days=1)
OBJECTION = "objection"
"""A touch whose content tag contains this word is an objection-handling touch."""


# --------------------------------------------------------------------------------------------
# Intake
# --------------------------------------------------------------------------------------------
def speed(data: ReportData, kind: str) -> pd.DataFrame:
    """Minutes to the first touch of the leads created in the week: their ``median`` (a lead
    not touched yet counts the minutes it has waited) or the ``rate`` within 5 minutes."""
    need_events(data, "touch", why="each lead's first outbound touch")

    def inputs() -> tuple:  # the same for the median and the rate: found once
        minutes = speed_to_first_touch(data.leads, data.events, as_of=data.as_of)
        ld = data.leads.set_index(lead_key(data.leads["lead_id"]))
        week = data.week_of(ld["created_at"])
        waited = (data.as_of - ld["created_at"]) / pd.Timedelta(minutes=1)
        return ld, week, waited, minutes.reindex(ld.index).to_numpy(dtype=float)

    ld, week, waited, m = data.cached("speed_inputs", inputs)
    if kind == "median":
        # not touched yet: at least as slow as the time waited so far
        value = np.where(np.isnan(m), waited.to_numpy(dtype=float), m)
        items = pd.DataFrame({"week": week.to_numpy(), "value": value,
                              "lead_id": ld.index.to_numpy()})
        return aggregate(data, items, "median")
    within = np.where(np.isnan(m), np.where(waited.to_numpy() > 5, False, np.nan), m <= 5)
    items = rate_items(week, pd.Series(within, dtype=object), pd.Series(ld.index))
    return aggregate(data, items, "rate")


def source_coverage(data: ReportData) -> pd.DataFrame:
    """Share of the export's sources that sent a lead in the week."""
    ld = data.leads
    known = ld["source"].astype(object).dropna().unique()
    week = data.week_of(ld["created_at"])
    rows = []
    for lab in data.labels:
        seen = ld.loc[(week == lab).to_numpy(), "source"].astype(object).nunique()
        rows.append({"week": lab, "segment": "all", "value": seen / len(known) if len(known)
                     else np.nan, "n": len(known), "low": np.nan, "high": np.nan})
    return pd.DataFrame(rows)


def contact_rate(data: ReportData) -> pd.DataFrame:
    """Leads created in the week answering within the first stage's target window, judged once
    the window has closed."""
    need_events(data, "response", why="a connect or a reply")
    ld = data.leads
    ids = pd.Index(lead_key(ld["lead_id"]))
    ev = data.events
    pos = ev[data.name_in(*POSITIVE_RESPONSES)]
    first = pos.groupby(lead_key(pos["lead_id"]))["ts"].min()
    created = pd.Series(ld["created_at"].to_numpy(), index=ids)
    window = data.funnel.stages[0].target_days or 2.0
    days = ((first.reindex(ids) - created) / DAY).to_numpy(dtype=float)
    judged = (created + window * DAY <= data.as_of).to_numpy()
    value = np.where(judged, days <= window, np.nan)
    items = rate_items(data.week_of(ld["created_at"]), pd.Series(value, dtype=object),
                        pd.Series(ids.to_numpy()))
    return aggregate(data, items, "rate")


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------
def _stage_position(data: ReportData, stage: str, *, moves_on: bool) -> int:
    """The index of ``stage`` in the report's funnel, once it is known to be observed (and,
    with ``moves_on``, not to be the conversion stage)."""
    names = data.funnel.names
    if stage not in names:
        raise MetricUnavailable(f"the funnel has no stage {stage!r}; its stages are "
                                f"{', '.join(names)}")
    k = names.index(stage)
    if moves_on and k == len(names) - 1:
        raise MetricUnavailable(f"{stage!r} is the funnel's conversion stage: nothing follows it")
    need_stage(data, stage)
    return k


def stage_flow(data: ReportData, stage: str) -> pd.DataFrame:
    """Leads in ``stage`` at some time during a week, and whether they moved on during it."""
    k = _stage_position(data, stage, moves_on=True)
    names = data.funnel.names
    out = data.out
    entered = out[f"entered_{names[k]}"]
    later = out[[f"entered_{n}" for n in names[k + 1:]]].min(axis=1)
    lost = out["lost_at"]
    rows = []
    for s, lab in zip(data.starts, data.labels, strict=True):
        e = min(s + WEEK, data.as_of)
        in_stage = (entered < e) & ~(later < s) & ~(lost < s)
        moved = in_stage & (later >= s) & (later < e)
        rows.append(pd.DataFrame({"week": lab, "value": moved[in_stage].to_numpy(),
                                  "lead_id": lead_key(out.index[in_stage.to_numpy()])}))
    return aggregate(data, pd.concat(rows, ignore_index=True), "rate")


def handoff_hours(data: ReportData) -> pd.DataFrame:
    """Hours from entering a stage with a new owner to the next touch (the time waited so far
    when there is none yet), by handoff. Handoffs into a stage the export does not observe are
    left out."""
    handoffs = data.funnel.handoffs()
    if not handoffs:
        raise MetricUnavailable("the funnel has no handoff (no change of owner)")
    need_events(data, "touch", why="the new owner's first touch")
    seen = [b for _, b, _, _ in handoffs if data.observed[b]]
    if not seen:
        need_stage(data, handoffs[0][1])
    t = data.touches()[["lead_id", "ts"]].rename(columns={"ts": "touch_ts"})
    frames = []
    for b in seen:
        entries = data.out[f"entered_{b}"].dropna().rename("ts").reset_index()
        entries["lead_id"] = lead_key(entries["lead_id"])  # observed: not empty
        m = pd.merge_asof(entries.sort_values("ts"), t.sort_values("touch_ts"), left_on="ts",
                          right_on="touch_ts", by="lead_id", direction="forward")
        hours = ((m["touch_ts"].fillna(data.as_of) - m["ts"]) / pd.Timedelta(hours=1))
        frames.append(pd.DataFrame({"week": data.week_of(m["ts"]).to_numpy(),
                                    "value": hours.to_numpy(dtype=float),
                                    "lead_id": m["lead_id"].to_numpy(), "handoff": b}))
    return aggregate(data, pd.concat(frames, ignore_index=True), "median", extra=("handoff",))


def past_target(data: ReportData, stage: str) -> pd.DataFrame:
    """Open leads in ``stage`` at each week's end that have sat there longer than its target
    window. Like the time in a stage, it needs the export to see leads enter the next stage
    too: otherwise a lead that moved on unseen would count as still sitting there."""
    k = _stage_position(data, stage, moves_on=True)
    need_stage(data, data.funnel.names[k + 1], leaving=stage)
    stage = data.funnel.stages[k]
    if stage.target_days is None:
        raise MetricUnavailable(f"the stage {stage.name!r} has no target_days in the funnel")
    rows = []
    for s, lab in zip(data.starts, data.labels, strict=True):
        t = min(s + WEEK - pd.Timedelta(1, "ns"), data.as_of)
        out = data.states_at(t)
        here = out[out["status"].eq("open").to_numpy() & out["stage_index"].eq(k).to_numpy()]
        rows.append(pd.DataFrame({"week": lab,
                                  "value": (here["days_in_stage"] > stage.target_days).to_numpy(),
                                  "lead_id": lead_key(here.index)}))
    return aggregate(data, pd.concat(rows, ignore_index=True), "rate")


def _open_during(data: ReportData, event_time: pd.Series) -> pd.DataFrame:
    """Per week, the leads open during it (created before its end, not won, lost or opted out
    before its start) and whether ``event_time`` fell in it. An opted-out lead has ended: it
    leaves the denominator rather than staying open as if it might still convert."""
    out = data.out
    closed = pd.concat([out["converted_at"], out["lost_at"], _opted_out_at(data)],
                       axis=1).min(axis=1)
    at = event_time.reindex(out.index)  # once: a lookup of every lead id
    rows = []
    for s, lab in zip(data.starts, data.labels, strict=True):
        e = min(s + WEEK, data.as_of)
        open_ = (out["created_at"] < e) & ~(closed < s) & ~(at < s)
        hit = (at >= s) & (at < e)
        rows.append(pd.DataFrame({"week": lab, "value": hit[open_].to_numpy(),
                                  "lead_id": lead_key(out.index[open_.to_numpy()])}))
    return aggregate(data, pd.concat(rows, ignore_index=True), "rate")


# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------
def conversion(data: ReportData) -> pd.DataFrame:
    """Leads winning in the week over the leads open during it (an opted-out lead is not
    open)."""
    need_stage(data, data.funnel.conversion_stage)
    return _open_during(data, data.out["converted_at"])


def opt_out(data: ReportData) -> pd.DataFrame:
    """Leads opting out in the week over the leads open during it."""
    need_events(data, "response", why="the leads' opt-outs")
    ev = data.events
    opt = ev[data.name_in("opt_out")]
    return _open_during(data, opt.groupby(lead_key(opt["lead_id"]))["ts"].min())


def _stage_at(data: ReportData, lead_id: pd.Series, ts: pd.Series) -> np.ndarray:
    names = data.funnel.names
    ent = data.out[[f"entered_{n}" for n in names]].reindex(lead_key(lead_id))
    k = np.full(len(ts), -1)
    at = ts.array  # compared as datetimes, not as an object array of Timestamps
    for i, n in enumerate(names):
        k = np.where((ent[f"entered_{n}"] <= at).to_numpy(), i, k)
    return k


# --------------------------------------------------------------------------------------------
# Content, cadence, personalisation
# --------------------------------------------------------------------------------------------
def content_engagement(data: ReportData) -> pd.DataFrame:
    """Touches followed within 3 days by an answer or an activity, by content tag and stage."""
    need_event_columns(data, "content", why="the touch's content tag")
    t = data.touches()
    t = t[t["content"].notna()]
    engage = [*POSITIVE_RESPONSES, "email_open", "link_click", "pricing_visit", "demo_request"]
    hit = answered_within(data, t, engage, 3, same_channel=False)
    k = _stage_at(data, t["lead_id"], t["ts"])
    names = np.array(data.funnel.names, dtype=object)
    items = rate_items(data.week_of(t["ts"]), hit, t["lead_id"],
                        content=t["content"].astype(object).to_numpy(),
                        stage=np.where(k >= 0, names[np.maximum(k, 0)], None))
    items["content_stage"] = items["content"] + "@" + items["stage"].astype(str)
    return aggregate(data, items, "rate", dims=(), extra=("content", "stage", "content_stage"))


def objection_resolution(data: ReportData) -> pd.DataFrame:
    """Objection-tagged touches followed within 7 days by the lead moving to a later stage."""
    need_event_columns(data, "content", why="touches tagged for an objection")
    t = data.touches()
    t = t[t["content"].astype(object).str.contains(OBJECTION, na=False).to_numpy()]
    if not len(t):
        raise MetricUnavailable(f"needs touches whose content tag names an objection (contains "
                                f"{OBJECTION!r}, e.g. pricing_objection); this export has none")
    k = _stage_at(data, t["lead_id"], t["ts"])
    out = data.out.reindex(lead_key(t["lead_id"]))
    names = data.funnel.names
    later = np.full(len(t), np.datetime64("NaT"), dtype="datetime64[ns]")
    ts = t["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    for i, n in enumerate(names):
        e = out[f"entered_{n}"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        take = (i > k) & (e > ts) & (np.isnat(later) | (e < later))
        later = np.where(take, e, later)
    moved = (later - ts) <= np.timedelta64(7, "D")
    judged = (t["ts"] + 7 * DAY <= data.as_of).to_numpy()
    value = pd.Series(np.where(judged, moved, np.nan), dtype=object)
    items = rate_items(data.week_of(t["ts"]), value, t["lead_id"],
                        content=t["content"].astype(object).to_numpy())
    return aggregate(data, items, "rate", extra=("content",))


def reply_rate(data: ReportData) -> pd.DataFrame:
    """Touches answered (connect or reply) on the same channel within 3 days."""
    need_event_columns(data, "channel", why="the channel a touch and its answer came on")
    need_events(data, "touch", why="the touches answered")
    t = data.touches()
    t = t[t["channel"].notna()]
    hit = answered_within(data, t, POSITIVE_RESPONSES, 3, same_channel=True)
    items = rate_items(data.week_of(t["ts"]), hit, t["lead_id"],
                        channel=t["channel"].astype(object).to_numpy())
    return aggregate(data, items, "rate", extra=("channel",))


def personalised(data: ReportData, names: Sequence[str], days: float,
                 same_channel: bool) -> pd.DataFrame:
    """Touches answered by an event in ``names`` within ``days``, by personalisation level,
    channel and level within a channel."""
    need_event_columns(data, "personalisation", why="the touch's personalisation level")
    t = data.touches()
    t = t[t["personalisation"].notna()]
    hit = answered_within(data, t, names, days, same_channel=same_channel)
    items = rate_items(data.week_of(t["ts"]), hit, t["lead_id"],
                        personalisation=t["personalisation"].astype(object).to_numpy(),
                        channel=t["channel"].astype(object).to_numpy())
    # the level's effect read within a channel (levels are not spread evenly over channels)
    items["personalisation_channel"] = items["personalisation"] + "@" + items["channel"]
    return aggregate(data, items, "rate", dims=(),
                      extra=("personalisation", "channel", "personalisation_channel"))


def time_between_touches(data: ReportData) -> pd.DataFrame:
    """Hours since the lead's previous touch, for each touch in the week."""
    need_events(data, "touch", why="the touches and the gaps between them")
    t = data.touches()
    gap = t.groupby("lead_id", sort=False)["ts"].diff() / pd.Timedelta(hours=1)
    items = pd.DataFrame({"week": data.week_of(t["ts"]).to_numpy(),
                          "value": gap.to_numpy(dtype=float),
                          "lead_id": t["lead_id"].to_numpy()})
    return aggregate(data, items[items["value"].notna()], "mean")


def _steps(data: ReportData) -> pd.DataFrame:
    need_event_columns(data, "step", why="the cadence step of each touch")
    t = data.touches()
    return t[t["step"].notna()].assign(step=lambda d: d["step"].astype(int))


def dropoff(data: ReportData) -> pd.DataFrame:
    """Share of leads touched at a step in the week that the sequence then lost: no later
    touch and no answer within the usual gap to the next step (plus a day). The last step is
    left out: nothing follows it by design."""
    t = _steps(data)
    nxt_ts = t.groupby("lead_id", sort=False)["ts"].shift(-1)
    nxt_step = t.groupby("lead_id", sort=False)["step"].shift(-1)
    gap = ((nxt_ts - t["ts"]) / DAY)[nxt_step == t["step"] + 1]
    usual = gap.groupby(t["step"]).median()
    window = t["step"].map(usual).fillna(3.0).to_numpy() + 1.0
    ans_days = np.full(len(t), np.inf)
    ev = data.events
    pos = ev.loc[data.name_in(*POSITIVE_RESPONSES),
                 ["lead_id", "ts"]].rename(columns={"ts": "r_ts"})
    pos["lead_id"] = lead_key(pos["lead_id"])
    left = t[["lead_id", "ts"]].assign(_i=np.arange(len(t))).sort_values("ts")
    m = pd.merge_asof(left, pos.sort_values("r_ts"), left_on="ts", right_on="r_ts",
                      by="lead_id", direction="forward")
    ans_days[m["_i"].to_numpy()] = ((m["r_ts"] - m["ts"]) / DAY).fillna(np.inf).to_numpy()
    later = ((nxt_ts - t["ts"]) / DAY).fillna(np.inf).to_numpy()
    lost = (later > window) & (ans_days > window)
    last = (len(data.cadence) - 1 if data.cadence is not None else int(t["step"].max()))
    judged = ((t["ts"] + pd.to_timedelta(window, unit="D") <= data.as_of).to_numpy()
              & (t["step"] < last).to_numpy())  # nothing follows the last step
    items = rate_items(data.week_of(t["ts"]), pd.Series(np.where(judged, lost, np.nan),
                                                         dtype=object), t["lead_id"],
                        step=t["step"].astype(str).to_numpy())
    return aggregate(data, items, "rate", dims=(), extra=("step",))


# --------------------------------------------------------------------------------------------
# Queues
# --------------------------------------------------------------------------------------------
def _opted_out_at(data: ReportData) -> pd.Series:
    """When each lead opted out (NaT if never), indexed like the outcomes."""
    def make() -> pd.Series:
        opt = data.events[data.name_in("opt_out")]
        return opt.groupby(lead_key(opt["lead_id"]))["ts"].min().reindex(data.out.index)

    return data.cached("opted_out_at", make)


def _tasks(data: ReportData) -> pd.DataFrame:
    """Cadence steps as tasks: each step a lead received, and each step it was due but never
    got while still uncontacted and open. Due = creation + the step's offset in the cadence
    when one is given; otherwise the fastest tenth of the observed offsets, so that a slow
    team does not push its own due times later."""
    return data.cached("tasks", lambda: _derive_tasks(data))


def _derive_tasks(data: ReportData) -> pd.DataFrame:
    t = _steps(data)
    created = data.out["created_at"]
    if data.cadence is not None:
        usual = pd.Series(data.cadence.offsets() / 86400.0)
    else:
        offset = (t["ts"].to_numpy() - created.reindex(t["lead_id"]).to_numpy()) / DAY
        usual = pd.Series(offset).groupby(t["step"].to_numpy()).quantile(0.1)
    done = t.drop_duplicates(["lead_id", "step"])[["lead_id", "step", "ts"]]
    contacted = data.out[f"entered_{data.funnel.names[1]}"]
    closed = data.out["converted_at"].combine_first(data.out["lost_at"])
    stop = pd.concat([contacted, closed, _opted_out_at(data)], axis=1).min(axis=1)
    ids = lead_key(data.out.index)
    frames = []
    for step, off in usual.items():
        due = created + pd.to_timedelta(off, unit="D")
        got = done[done["step"] == step].set_index("lead_id")["ts"].reindex(ids)
        # datetime arrays, never object arrays of Timestamps (the cost of the report)
        live = np.asarray(due.array < stop.fillna(pd.Timestamp.max.tz_localize("UTC")).array)
        keep = got.notna().to_numpy() | live
        frames.append(pd.DataFrame({"lead_id": ids[keep], "step": int(step),
                                    "due": due.array[keep], "done": got.array[keep]}))
    tasks = pd.concat(frames, ignore_index=True)
    tasks["done"] = pd.to_datetime(tasks["done"], utc=True)
    tasks["due"] = pd.to_datetime(tasks["due"], utc=True)
    return tasks


def completion(data: ReportData, on_time: bool) -> pd.DataFrame:
    """Tasks due in the week done within a fixed window of their due time (a day on time,
    three days at all), judged once the window has closed, so every week has had the same
    time to finish its tasks."""
    tasks = _tasks(data)
    window = DAY if on_time else 3 * DAY
    judged = (tasks["due"] + window <= data.as_of).to_numpy()
    ok = tasks["done"].notna() & (tasks["done"] <= tasks["due"] + window)
    value = pd.Series(np.where(judged, ok.to_numpy(), np.nan), dtype=object)
    items = rate_items(data.week_of(tasks["due"]), value, tasks["lead_id"],
                        step=data.cached("task_steps", lambda: tasks["step"].astype(str)
                                         .to_numpy()))
    return aggregate(data, items, "rate", extra=("step",))


def overdue(data: ReportData, what: str) -> pd.DataFrame:
    """Tasks more than a day past due at each week's end: their ``count`` or median ``age``."""
    tasks = _tasks(data)
    grace = DAY
    opted = _opted_out_at(data)
    rows = []
    for s, lab in zip(data.starts, data.labels, strict=True):
        t = min(s + WEEK, data.as_of)
        late = (tasks["due"] + grace <= t) & ~(tasks["done"] <= t)
        # only while the lead is still uncontacted, open and not opted out at t
        out = data.states_at(t)
        at = out["row"].to_numpy()
        live = np.zeros(len(data.out), dtype=bool)  # by position in the outcomes
        live[at] = (out["status"].eq("open").to_numpy() & out["stage_index"].eq(0).to_numpy()
                    & ~np.asarray(opted.array[at] <= t))
        task_rows = data.cached("task_rows", lambda: data.out.index.get_indexer(tasks["lead_id"]))
        late &= live[task_rows] & (task_rows >= 0)
        age = (t - tasks.loc[late, "due"]) / pd.Timedelta(hours=1)
        value = float(late.sum()) if what == "count" else (float(age.median()) if len(age)
                                                            else np.nan)
        rows.append({"week": lab, "segment": "all", "value": value, "n": int(late.sum()),
                     "low": np.nan, "high": np.nan})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------
def _need_scored_events(data: ReportData) -> None:
    """Point rules score events: an export with none of them scores every lead the same."""
    rules = getattr(data.rules, "rules", None)
    if rules is None:  # a model or a callable: it reads what it reads
        return
    if not any((data.name_in(r.event) & (data.type_is(r.type) if r.type else True)).any()
               for r in rules):
        scored = ", ".join(sorted({r.event for r in rules}))
        raise MetricUnavailable(f"the point rules score {scored} events; this export has none "
                                "of them, so every lead has the same score")


def _score_rows(data: ReportData) -> pd.DataFrame:
    from nurturelab.scoring.audit import scored_snapshots

    _need_scored_events(data)
    return data.cached("score_rows", lambda: scored_snapshots(
        data.leads, data.events, data.rules, times=list(data.starts) + [data.as_of],
        horizon_days=data.horizon_days, observed_until=data.as_of))


def _threshold(data: ReportData, rows: pd.DataFrame) -> float:
    if data.threshold is not None:
        return float(data.threshold)
    ths = getattr(data.rules, "thresholds", ())
    if ths:
        return float(min(t.score for t in ths))
    if not len(rows):
        raise MetricUnavailable("no scored leads to set a threshold from")
    return float(np.quantile(rows["score"], 0.8))


def score_conversion(data: ReportData) -> pd.DataFrame:
    """Leads at or above the threshold at each week's start converting within the horizon
    (the Aalen-Johansen incidence: a lead lost or opted out counts as not converting, not as
    censored; see :func:`nurturelab.scoring.audit.ipcw_rate`)."""
    from nurturelab.scoring.audit import ipcw_rate

    need_stage(data, data.funnel.conversion_stage)

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


def score_decay(data: ReportData) -> pd.DataFrame:
    """Leads at or above the threshold at each week's start that are below it at its end."""
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
