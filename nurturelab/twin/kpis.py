"""The back-test's KPIs: one function computes them from any pair of tables, an export's or a
simulated replication's, so the two are measured the same way.

:func:`backtest_kpis` returns one row per KPI (indexed by ``kpi``) with its ``group``, its
``value``, ``n`` (its denominator), ``kind`` and, when it cannot be computed, ``reason`` (an
export that records no touches has no speed to lead: its speed KPIs are unavailable, never
0)::

    group                kpi                            value                       n
    speed                speed_median_min, _p90_min     minutes to the first touch  leads touched
    speed                within_5min                    share first touched <= 5'   leads
    contact_by_delay     contact_delay_lt_5min ...      share answered, by delay    leads in bin
    contact_by_attempt   contact_after_1 ... _6         share answered by touch k   leads touched
    answer_by_channel    answer_call, _voicemail ...    answered / touches          touches
    answer_by_step       answer_step_0 ...              first answer / leads        leads reached
    opt_out              opt_out_rate                   share who opted out         leads
    stages               reached_contacted ... _won     share reaching the stage    leads
    conversion           converted_7d ... _60d          Kaplan-Meier 1 - S(t)       status known
    team                 rep_utilisation                rep minutes / shift minutes shift minutes

``kind`` says how a value varies: ``share`` (a proportion of ``n``), ``minutes`` or
``utilisation`` (rep minutes over ``n`` rep minutes on shift); the back-test uses it for the
floor of each KPI's spread (see :mod:`nurturelab.twin.backtest`).

Definitions: a lead is *answered* at a touch when a connect or reply is attributed to it (the
latest touch at or before the response, :func:`nurturelab.response.touch_table`); the delay
bins are minutes from creation to the first touch (:func:`nurturelab.funnel.
speed_to_first_touch`), left-closed; touches are counted in time order, every outbound touch
(the account executive's hand-off call too). Per step, the answer rate is the share of the
leads reached at the step whose first answer followed it (:func:`nurturelab.funnel.
dropoff_by_step`). Stages are the default funnel's (:func:`nurturelab.funnel.outcomes`);
conversion within ``t`` days is the Kaplan-Meier estimate (lifelines) on the outcomes'
``duration_days``/``converted``, available once some lead was followed ``t`` days. Rep
utilisation is the rep minutes of the touches' ``duration_min`` over the team's rep minutes on
shift (plus overtime) while the leads arrive, from the first lead's creation to the last
one's, as :mod:`nurturelab.simulation` counts it; it needs the team (the scenario's).

What the tables' source *records* (:data:`RECORDS`: touches, steps, durations, the entry into
each stage) decides what is unavailable and what is 0: an export that never records a stage
cannot say who reached it, but one that does and whose held-out leads never reached it has a
share of 0 there. :func:`recorded` reads it off an export (pass the whole export's when the
tables are its held-out weeks); a simulation records :data:`EVERYTHING`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.checks import need_columns, utc_timestamp
from nurturelab.funnel import (
    DEFAULT_FUNNEL,
    dropoff_by_step,
    outcomes,
    speed_to_first_touch,
    stage_conversion,
)
from nurturelab.response import touch_table

__all__ = ["ATTEMPTS", "CHANNELS", "COLUMNS", "DELAY_BINS", "EVERYTHING", "HORIZONS", "KINDS",
           "RECORDS", "STAGES", "backtest_kpis", "recorded"]

COLUMNS = ("group", "value", "n", "kind", "reason")
KINDS = ("share", "minutes", "utilisation")
DELAY_BINS = ((0.0, 5.0, "lt_5min"), (5.0, 30.0, "5_30min"), (30.0, 60.0, "30_60min"),
              (60.0, 120.0, "1_2h"), (120.0, 1440.0, "2_24h"), (1440.0, math.inf, "ge_24h"))
"""(from, to, label) minutes from creation to the first touch, left-closed."""
ATTEMPTS = 6
CHANNELS = ("call", "voicemail", "sms", "email")
STAGES = tuple(DEFAULT_FUNNEL.names[1:])
HORIZONS = (7, 14, 30, 60)
RECORDS = ("touches", "steps", "durations", *STAGES)
"""What a source of tables may record: touches, their cadence steps, their rep minutes, and
the entries into each stage of the default funnel after ``new``."""
EVERYTHING = frozenset(RECORDS)
"""What a simulation records: everything."""


class _Rows:
    """The KPI rows, appended one by one and made a DataFrame once."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, group: str, kpi: str, value: float, n: float, kind: str,
            reason: str = "") -> None:
        ok = not reason and value is not None and np.isfinite(value)
        self.rows.append({"kpi": kpi, "group": group, "value": float(value) if ok else math.nan,
                          "n": float(n) if ok else 0.0, "kind": kind,
                          "reason": "" if ok else (reason or "not computable")})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["kpi", *COLUMNS]).set_index("kpi")


def recorded(leads: pd.DataFrame, events: pd.DataFrame) -> frozenset[str]:
    """What an export records (see :data:`RECORDS`): ``touches`` when it has a touch,
    ``steps`` when a touch carries a cadence step, ``durations`` when one carries
    ``duration_min``, and each stage some lead is seen entering (the stages
    :func:`nurturelab.funnel.observed_stages` finds).

    Pass the whole export's (up to the back-test's end) to :func:`backtest_kpis` of its
    held-out weeks: a stage the export records but no held-out lead reached is then measured
    as 0, not left unavailable.

    >>> import pandas as pd
    >>> leads = pd.DataFrame({"lead_id": ["a"], "created_at": pd.to_datetime(["2026-03-02"],
    ...                       utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["a"], "ts": pd.to_datetime(["2026-03-09"], utc=True),
    ...                        "type": ["stage"], "name": ["won"]})
    >>> sorted(recorded(leads, events))
    ['won']
    """
    need_columns(leads, ("lead_id", "created_at"), "leads")
    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    touch = events["type"].astype("object").eq("touch")
    out = set()
    if touch.any():
        out.add("touches")
        for name, col in (("steps", "step"), ("durations", "duration_min")):
            if col in events.columns and events.loc[touch, col].notna().any():
                out.add(name)
    # a stage is seen entered by a stage event naming it or an event its predecessor exits on
    # (as funnel.outcomes reads them; cheaper than the outcomes of a whole export)
    is_stage = events["type"].astype("object").eq("stage")
    stage_events = set(events.loc[is_stage, "name"].unique())
    other_events = set(events.loc[~is_stage, "name"].unique())
    out |= {stage for stage in STAGES
            if stage in stage_events or other_events & set(DEFAULT_FUNNEL.entered_by(stage))}
    return frozenset(out)


def backtest_kpis(leads: pd.DataFrame, events: pd.DataFrame, *, as_of: Any,
                  team: Any = None, steps: Sequence[int] | None = None,
                  records: Collection[str] | None = None) -> pd.DataFrame:
    """The back-test's KPIs of one pair of tables, as of ``as_of``.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:func:`nurturelab.schema.read_export`, or a simulation's
        ``res.leads``/``res.events``). Leads created after ``as_of`` and events after it are
        ignored; the inputs are not modified.
    as_of : timestamp-like
        When the tables were taken (naive values are read as UTC).
    team : nurturelab.simulation.Team, optional
        The team whose shifts rep utilisation is measured against (the scenario's); without
        it, rep utilisation is unavailable.
    steps : sequence of int, optional
        The cadence steps whose answer rate is reported (default: the steps the touches
        carry), so that tables of different runs give the same rows.
    records : collection of str, optional
        What the tables' source records (:data:`RECORDS`; :data:`EVERYTHING` for a
        simulation): a KPI of something it does not record is unavailable, one of something
        it records but these tables lack is measured (a share of 0, say). Default:
        :func:`recorded` of these tables.

    Returns
    -------
    DataFrame
        One row per KPI, indexed by ``kpi``, with the columns ``group``, ``value``, ``n``,
        ``kind`` and ``reason`` (empty when the KPI is available; ``value`` is NaN and ``n``
        0 otherwise). See the module docstring for the KPIs.

    Examples
    --------
    >>> import pandas as pd
    >>> ts = lambda *s: pd.to_datetime(list(s), utc=True)
    >>> leads = pd.DataFrame({"lead_id": ["a", "b"],
    ...                       "created_at": ts("2026-03-02 09:00", "2026-03-02 10:00")})
    >>> events = pd.DataFrame({"lead_id": ["a", "a"], "ts": ts("2026-03-02 09:02",
    ...                        "2026-03-02 09:03"), "type": ["touch", "response"],
    ...                        "name": ["call_attempt", "connect"], "step": [0, None]})
    >>> k = backtest_kpis(leads, events, as_of="2026-03-10")
    >>> k.loc[["speed_median_min", "within_5min", "contact_delay_lt_5min"], "value"].to_dict()
    {'speed_median_min': 2.0, 'within_5min': 0.5, 'contact_delay_lt_5min': 1.0}
    >>> int(k.loc["within_5min", "n"]), k.loc["contact_delay_5_30min", "reason"]
    (2, 'no lead first touched 5-30 min after creation')
    >>> k.loc["rep_utilisation", "reason"], k.loc["reached_won", "reason"]
    ('no touch durations are recorded', "no entry into 'won' is recorded")
    """
    need_columns(leads, ("lead_id", "created_at"), "leads")
    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    as_of = utc_timestamp(as_of, "as_of")
    ld = leads.loc[leads["created_at"] <= as_of]
    ev = events.loc[(events["ts"] <= as_of) & events["lead_id"].isin(ld["lead_id"])]
    if records is None:
        records = recorded(ld, ev)
    unknown = sorted(set(records) - EVERYTHING)
    if unknown:
        raise ValueError(f"The 'records' parameter of backtest_kpis must hold names among "
                         f"{list(RECORDS)}. Got {unknown} instead.")
    rows = _Rows()
    if "touches" in records:
        tt = _touches(ld, ev)
        _speed_and_contact(rows, ld, ev, tt)
        _answers(rows, ev, tt, len(ld))
    else:
        for group, kpi, kind in _touch_kpis():
            rows.add(group, kpi, math.nan, 0, kind, "no touches are recorded")
    _steps(rows, ev, steps, records)
    _stages(rows, outcomes(ld, ev, DEFAULT_FUNNEL, as_of), records)
    _utilisation(rows, ld, ev, team, records)
    return rows.frame()


def _touch_kpis() -> list[tuple[str, str, str]]:
    """(group, kpi, kind) of every KPI that needs touches, in table order (but the steps')."""
    return [("speed", "speed_median_min", "minutes"), ("speed", "speed_p90_min", "minutes"),
            ("speed", "within_5min", "share"),
            *(("contact_by_delay", f"contact_delay_{b[2]}", "share") for b in DELAY_BINS),
            *(("contact_by_attempt", f"contact_after_{k}", "share")
              for k in range(1, ATTEMPTS + 1)),
            *(("answer_by_channel", f"answer_{ch}", "share") for ch in CHANNELS),
            ("opt_out", "opt_out_rate", "share")]


def _touches(ld: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """:func:`~nurturelab.response.touch_table` of the tables (empty when they hold none)."""
    if not ev["type"].astype("object").eq("touch").any():
        return pd.DataFrame({"lead_id": pd.Series(dtype=object),
                             "channel": pd.Series(dtype=object),
                             "answered": pd.Series(dtype=bool)})
    # touch_table reads intent and fit as covariates; the KPIs do not need them
    covariates = {c: np.nan for c in ("intent", "fit") if c not in ld.columns}
    return touch_table(ld.assign(**covariates), ev)


def _speed_and_contact(rows: _Rows, ld: pd.DataFrame, ev: pd.DataFrame,
                       tt: pd.DataFrame) -> None:
    """Speed to first touch, contact by delay to it, and cumulative contact by attempt."""
    speed = speed_to_first_touch(ld, ev)
    touched = speed.dropna()
    none = "" if len(touched) else "no lead was touched"
    rows.add("speed", "speed_median_min", touched.median(), len(touched), "minutes", none)
    rows.add("speed", "speed_p90_min", touched.quantile(0.9), len(touched), "minutes", none)
    rows.add("speed", "within_5min", speed.le(5).sum() / len(speed) if len(speed) else math.nan,
             len(speed), "share", "" if len(speed) else "no leads")
    # per touched lead: the number of its first answered touch (inf when never answered)
    number = tt.groupby("lead_id", sort=False).cumcount() + 1
    answered_at = tt["answered"].to_numpy(dtype=bool)
    first = number[answered_at].groupby(tt.loc[answered_at, "lead_id"]).min()
    first_no = first.reindex(touched.index).fillna(np.inf)
    edges = [b[0] for b in DELAY_BINS] + [math.inf]
    labels = [f"contact_delay_{b[2]}" for b in DELAY_BINS]
    binned = pd.cut(touched, edges, right=False, labels=labels)
    answered = first_no.lt(np.inf)
    for kpi, (lo, hi, _) in zip(labels, DELAY_BINS, strict=True):
        here = binned.eq(kpi)
        n = int(here.sum())
        span = f"{lo:g}-{hi:g} min" if math.isfinite(hi) else f">= {lo:g} min"
        rows.add("contact_by_delay", kpi, answered[here].mean() if n else math.nan, n, "share",
                 "" if n else f"no lead first touched {span} after creation")
    for k in range(1, ATTEMPTS + 1):
        rows.add("contact_by_attempt", f"contact_after_{k}",
                 first_no.le(k).sum() / len(touched) if none == "" else math.nan,
                 len(touched), "share", none)


def _answers(rows: _Rows, ev: pd.DataFrame, tt: pd.DataFrame, n_leads: int) -> None:
    """Answer rate by channel, and the opt-out rate."""
    by = tt.groupby("channel")["answered"].agg(["sum", "size"])
    for ch in CHANNELS:
        n = int(by["size"].get(ch, 0))
        rows.add("answer_by_channel", f"answer_{ch}",
                 by["sum"].get(ch, 0) / n if n else math.nan, n, "share",
                 "" if n else f"no {ch} touches")
    resp = ev["type"].astype("object").eq("response") & ev["name"].eq("opt_out")
    rows.add("opt_out", "opt_out_rate",
             ev.loc[resp, "lead_id"].nunique() / n_leads if n_leads else math.nan, n_leads,
             "share", "" if n_leads else "no leads")


def _steps(rows: _Rows, ev: pd.DataFrame, steps: Sequence[int] | None,
           records: Collection[str]) -> None:
    """Answer rate by cadence step: of the leads reached at a step, those whose first answer
    followed it."""
    ok = "steps" in records and "step" in ev.columns
    drop = dropoff_by_step(ev) if ok else None
    wanted = sorted(int(s) for s in (steps if steps is not None else
                                     (drop.index if drop is not None else ())))
    for s in wanted:
        n = int(drop["reached"].get(s, 0)) if drop is not None else 0
        reason = "" if n else "no cadence steps are recorded" if not ok else (
            f"no touches at step {s}")
        rows.add("answer_by_step", f"answer_step_{s}",
                 drop["responded"].get(s, 0) / n if n else math.nan, n, "share", reason)


def _stages(rows: _Rows, out: pd.DataFrame, records: Collection[str]) -> None:
    """Stage reach and Kaplan-Meier conversion within each horizon."""
    from lifelines import KaplanMeierFitter

    n = len(out)
    conv = stage_conversion(out, DEFAULT_FUNNEL)
    for stage in STAGES:
        reason = ("no leads" if not n else "" if stage in records else
                  f"no entry into {stage!r} is recorded")
        rows.add("stages", f"reached_{stage}", conv.loc[stage, "of_all"] if n else math.nan, n,
                 "share", reason)
    won = DEFAULT_FUNNEL.conversion_stage
    duration = out["duration_days"].to_numpy(dtype=float)
    converted = out["converted"].to_numpy(dtype=bool)
    km = KaplanMeierFitter().fit(duration, converted) if n and won in records else None
    for days in HORIZONS:
        kpi = f"converted_{days}d"
        if km is None:
            rows.add("conversion", kpi, math.nan, 0, "share",
                     "no leads" if not n else f"no entry into {won!r} is recorded")
        elif duration.max() < days:
            rows.add("conversion", kpi, math.nan, 0, "share",
                     f"no lead was followed for {days} days")
        else:
            known = int(((converted & (duration <= days)) | (duration >= days)).sum())
            value = 1.0 - float(km.survival_function_at_times(days).iloc[0])
            rows.add("conversion", kpi, value, known, "share")


def _utilisation(rows: _Rows, ld: pd.DataFrame, ev: pd.DataFrame, team: Any,
                 records: Collection[str]) -> None:
    """Rep minutes of the touches over the team's rep minutes on shift (plus overtime) from the
    first lead's creation to the last one's."""
    reason = ""
    if "durations" not in records or "duration_min" not in ev.columns:
        reason = "no touch durations are recorded"
    elif team is None:
        reason = "no team to measure the time on shift against"
    a, b = (ld["created_at"].min(), ld["created_at"].max()) if len(ld) else (None, None)
    if not reason and not b > a:
        reason = "the leads arrive at a single instant"
    if reason:
        rows.add("team", "rep_utilisation", math.nan, 0, "utilisation", reason)
        return
    is_touch = ev["type"].astype("object").eq("touch")
    t = ev.loc[is_touch & ev["duration_min"].notna(), ["ts", "duration_min"]]
    start = _minutes(t["ts"])
    a_min, b_min = float(_minutes(a)[0]), float(_minutes(b)[0])
    lo = np.maximum(start, a_min)
    hi = np.minimum(start + t["duration_min"].to_numpy(dtype=float), b_min)
    busy = float(np.clip(hi - lo, 0, None).sum())
    if team.shift is None:
        on_shift = team.reps * (b_min - a_min)
        overtime = 0.0
    else:
        on_shift = team.reps * _shift_minutes(a, b, team)
        # the part of a touch past the end of its local day's shift is overtime
        local = t["ts"].dt.tz_convert(team.timezone).dt.tz_localize(None).dt.normalize()
        shift_end = _minutes((local + pd.Timedelta(hours=team.shift[1])).dt.tz_localize(
            team.timezone, ambiguous="NaT", nonexistent="shift_forward"))
        past = np.maximum(lo, np.where(np.isnan(shift_end), lo, shift_end))
        overtime = float(np.clip(hi - past, 0, None).sum())
    total = on_shift + overtime
    rows.add("team", "rep_utilisation", busy / total if total > 0 else math.nan, total,
             "utilisation", "" if total > 0 else "the team has no time on shift in the window")


def _shift_minutes(a: pd.Timestamp, b: pd.Timestamp, team: Any) -> float:
    """One rep's minutes on shift between ``a`` and ``b`` (wall-clock shifts in the team's
    time zone, on its workdays)."""
    tz = team.timezone
    days = pd.date_range(a.tz_convert(tz).date() - pd.Timedelta(days=1),
                         b.tz_convert(tz).date() + pd.Timedelta(days=1), freq="D")
    days = days[days.weekday.isin(team.workdays)]
    if not len(days):
        return 0.0
    kw = {"ambiguous": "NaT", "nonexistent": "shift_forward"}
    s0 = (days + pd.Timedelta(hours=team.shift[0])).tz_localize(tz, **kw).tz_convert("UTC")
    s1 = (days + pd.Timedelta(hours=team.shift[1])).tz_localize(tz, **kw).tz_convert("UTC")
    lo = np.maximum(_minutes(s0), _minutes(a))
    hi = np.minimum(_minutes(s1), _minutes(b))
    return float(np.nansum(np.clip(hi - lo, 0, None)))


def _minutes(ts: Any) -> np.ndarray:
    """UTC timestamps as float minutes since the epoch (NaT as NaN)."""
    idx = pd.DatetimeIndex(ts if isinstance(ts, pd.Series | pd.DatetimeIndex) else [ts])
    ns = idx.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[ns]").view(
        np.int64).astype(float)
    return np.where(idx.isna(), np.nan, ns / 6e10)
