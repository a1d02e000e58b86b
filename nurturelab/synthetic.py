"""A deterministic sample CRM export: leads and events in the data contract, from a seed.

Until the SimPy simulation produces it, this module stands in for the default world. It is a
vectorised generative model, not a queueing simulation: leads arrive in business-hour-weighted
times, are worked through the seed 14-day cadence (call + voicemail, SMS, email, call, SMS,
email), answer with a probability that falls with the delay to first touch and rises with intent
and fit, show behaviour (opens, clicks, pricing visits, demo requests) driven by a latent
interest, and move through qualified, proposal and won or lost. Events after the export date are
cut off, as in a real export, so recent leads are still open.

Like a real export, the leads table carries personal columns (``name``, ``email``, ``phone``).
They are fictitious (``example.com`` addresses, ``555-01xx`` numbers) but are treated as personal
data all the same: nothing in nurturelab writes them to MLflow, logs or notebook outputs.

Each random element draws from its own stream spawned from one ``SeedSequence``, so the same seed
gives the same tables bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from nurturelab.schema import EVENT_COLUMNS, validate_events, validate_leads

__all__ = ["PERSONAL_COLUMNS", "SAMPLE_LEADS", "SAMPLE_SEED", "SOURCES", "make_export",
           "make_lead_table", "write_sample"]

PERSONAL_COLUMNS = ("name", "email", "phone")
SOURCES = {
    "paid_search": 0.30,
    "web_form": 0.22,
    "organic_search": 0.14,
    "referral": 0.14,
    "partner": 0.10,
    "event": 0.10,
}
# P(intent = low, medium, high | source): referrals and partners arrive warmer
_INTENT_BY_SOURCE = {
    "paid_search": (0.50, 0.35, 0.15),
    "web_form": (0.40, 0.40, 0.20),
    "organic_search": (0.45, 0.38, 0.17),
    "referral": (0.20, 0.40, 0.40),
    "partner": (0.25, 0.45, 0.30),
    "event": (0.35, 0.45, 0.20),
}
_INDUSTRIES = ("saas", "retail", "manufacturing", "healthcare", "finance", "education")
_PERSONAS = ("founder", "head_of_sales", "marketing_lead", "sales_ops", "it_manager")
_FIRST = ("Ana", "Bruno", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jon",
          "Kira", "Luis", "Maya", "Nils", "Olga", "Pedro", "Qin", "Rosa", "Sam", "Tara")
_LAST = ("Silva", "Okafor", "Novak", "Larsen", "Moreau", "Tanaka", "Kowalski", "Reyes",
         "Haddad", "Lindqvist", "Mensah", "Costa", "Weber", "Ivanova", "Brennan", "Sato")

# The seed 14-day cadence: (step, day offset, touch name, channel)
_CADENCE = (
    (0, 0, "call_attempt", "call"),
    (1, 0, "voicemail", "call"),
    (2, 0, "sms", "sms"),
    (3, 1, "email", "email"),
    (4, 3, "call_attempt", "call"),
    (5, 6, "sms", "sms"),
    (6, 13, "email", "email"),
)
_BASE_RATE = {"call_attempt": 0.22, "voicemail": 0.05, "sms": 0.12, "email": 0.06}
_STREAMS = ("arrival", "source", "traits", "personal", "speed", "touch", "behaviour", "stages",
            "reps")


class SampleExport(NamedTuple):
    leads: pd.DataFrame
    events: pd.DataFrame


def _arrivals(rng: np.random.Generator, n: int, start: pd.Timestamp, days: int) -> np.ndarray:
    """Creation times: weekdays three times as busy as weekends, office hours busiest."""
    day_w = np.array([3 if (start + pd.Timedelta(days=d)).weekday() < 5 else 1
                      for d in range(days)], dtype=float)
    hour_w = np.array([0.2] * 7 + [0.8, 1.5, 2, 2, 1.8, 1.5, 1.8, 2, 1.8, 1.5, 1.0] + [0.5] * 6)
    day = rng.choice(days, size=n, p=day_w / day_w.sum())
    hour = rng.choice(24, size=n, p=hour_w / hour_w.sum())
    sec = rng.integers(0, 3600, size=n)
    offs = day.astype("int64") * 86400 + hour * 3600 + sec
    return np.sort(start.value + offs * 1_000_000_000)


def _next_office_time(ts_ns: np.ndarray) -> np.ndarray:
    """Move times outside Mon-Fri 08:00-18:00 UTC to the next opening."""
    t = pd.DatetimeIndex(ts_ns, tz="UTC")
    hour = t.hour.to_numpy()
    wd = t.weekday.to_numpy()
    day0 = t.normalize()
    after = hour >= 18
    shift_days = np.where(after, 1, 0)
    wd_next = (wd + shift_days) % 7
    shift_days = shift_days + np.where(wd_next == 5, 2, np.where(wd_next == 6, 1, 0))
    opening = day0 + pd.to_timedelta(shift_days, unit="D") + pd.Timedelta(hours=8)
    closed = (hour < 8) | after | (wd >= 5)
    return np.where(closed, opening.asi8, ts_ns)


def make_export(
    n_leads: int = 2000,
    seed: int = 7,
    *,
    start: str = "2026-08-31",
    days: int = 63,
) -> SampleExport:
    """Make a validated sample CRM export.

    Parameters
    ----------
    n_leads : int
        Number of leads, created over ``days`` days from ``start`` (UTC).
    seed : int
        Same seed, same tables.
    start : str
        First creation day.
    days : int
        Length of the intake window; the export is taken at its end, so leads of the last weeks
        are still being worked.

    Returns
    -------
    SampleExport
        ``(leads, events)`` that pass :func:`nurturelab.schema.validate_events`.

    Examples
    --------
    >>> leads, events = make_export(n_leads=50, seed=1)
    >>> len(leads), sorted(events["type"].unique())
    (50, ['activity', 'response', 'stage', 'touch'])
    """
    if int(n_leads) < 1:
        raise ValueError(f"make_export 'n_leads' must be at least 1. Got {n_leads!r} instead.")
    if int(days) < 1:
        raise ValueError(f"make_export 'days' must be at least 1. Got {days!r} instead.")
    n = int(n_leads)
    rng = dict(zip(_STREAMS, (np.random.default_rng(s)
                              for s in np.random.SeedSequence(seed).spawn(len(_STREAMS))),
                   strict=True))
    t0 = pd.Timestamp(start, tz="UTC")
    export_at = (t0 + pd.Timedelta(days=days)).value

    # ---- leads ---------------------------------------------------------------------------
    created = _arrivals(rng["arrival"], n, t0, days)
    src_names = np.array(list(SOURCES))
    source = rng["source"].choice(src_names, size=n, p=np.array(list(SOURCES.values())))
    tr = rng["traits"]
    probs = np.array([_INTENT_BY_SOURCE[s] for s in source])
    intent_idx = (tr.random(n)[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    fit = np.round(tr.beta(2.2, 2.0, size=n), 3)
    fit_missing = tr.random(n) < 0.05
    industry = tr.choice(_INDUSTRIES, size=n)
    size = np.maximum(1, np.round(tr.lognormal(3.6, 1.2, size=n))).astype(int)
    persona = tr.choice(_PERSONAS, size=n)
    intent_missing = tr.random(n) < 0.04
    # latent interest: intent and fit, plus noise nobody sees
    interest = 0.9 * (intent_idx - 1) + 1.6 * (fit - 0.5) + tr.normal(0, 0.6, size=n)

    pr = rng["personal"]
    first = pr.choice(_FIRST, size=n)
    last = pr.choice(_LAST, size=n)
    ids = np.arange(1, n + 1)
    lead_id = np.char.add("L", np.char.zfill(ids.astype(str), 6))
    leads = pd.DataFrame(
        {
            "lead_id": lead_id,
            "created_at": pd.DatetimeIndex(created, tz="UTC"),
            "source": source,
            "fit": np.where(fit_missing, np.nan, fit),
            "intent": np.where(intent_missing, None,
                               np.array(["low", "medium", "high"])[intent_idx]),
            "industry": industry,
            "company_size": size,
            "persona": persona,
            "name": np.char.add(np.char.add(first, " "), last),
            "email": [f"{f.lower()}.{s.lower()}{i}@example.com"
                      for f, s, i in zip(first, last, ids, strict=True)],
            "phone": [f"+1-202-555-01{i % 100:02d}" for i in ids],
        }
    )

    # ---- cadence -------------------------------------------------------------------------
    sp = rng["speed"]
    fast_team = sp.random(n) < np.where(intent_idx == 2, 0.45, 0.2)
    delay_min = np.where(fast_team, sp.exponential(2.5, size=n), sp.lognormal(3.4, 1.1, size=n))
    first_touch = _next_office_time(created + (delay_min * 60e9).astype("int64"))
    speed_min = (first_touch - created) / 60e9
    rep = np.char.add("rep_", np.char.zfill(rng["reps"].integers(1, 9, size=n).astype(str), 2))
    # contact odds fall steeply with the delay (about 100x between 5 and 30 minutes at first
    # call in the literature; softened here) and rise with latent interest
    speed_factor = 1.0 / (1.0 + (np.maximum(speed_min, 0.5) / 6.0) ** 1.6)
    lift = np.exp(0.55 * interest)

    rows: list[pd.DataFrame] = []
    tc = rng["touch"]
    # when each step would be sent: a voicemail 40 s after its call, later same-day touches a
    # little after the previous one, later days at office hours; always in step order
    minute = np.int64(60_000_000_000)
    times = np.empty((len(_CADENCE), n), dtype=np.int64)
    prev = first_touch - minute
    for i, (step, day, name, _) in enumerate(_CADENCE):
        if step == 0:
            ts = first_touch
        elif name == "voicemail":
            ts = prev + np.int64(40_000_000_000)
        elif day == 0:
            ts = prev + minute + (tc.exponential(20 * 60, size=n) * 1e9).astype("int64")
        else:
            base = first_touch + np.int64(day) * 86_400_000_000_000
            ts = _next_office_time(base + (tc.exponential(40 * 60, size=n) * 1e9).astype("int64"))
        times[i] = np.maximum(ts, prev + (minute if name != "voicemail" else 0))
        prev = times[i]

    active = np.ones(n, dtype=bool)
    responded_at = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    opted_at = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    connected = np.zeros(n, dtype=bool)
    voicemail_due = np.zeros(n, dtype=bool)
    for i, (step, _day, name, channel) in enumerate(_CADENCE):
        ts = times[i]
        # an answer arrives before the next step would go out, so the cadence stops on it
        gap = (times[i + 1] - ts) if i + 1 < len(_CADENCE) else np.full(n, 3 * 86400 * 10**9)
        go = active & (ts <= export_at)
        if name == "voicemail":
            go &= voicemail_due
        p = _BASE_RATE[name] * lift * (speed_factor * 6 + 0.25 if step == 0 else 0.6)
        p = np.clip(p, 0, 0.95)
        ok = go & (tc.random(n) < p)
        opt = go & ~ok & (channel != "call") & (tc.random(n) < 0.012 * (1 + step / 3))
        rows.append(_rows(lead_id[go], ts[go], "touch", name, channel, step, rep[go]))
        if name == "call_attempt":
            voicemail_due = go & ~ok
        delay = np.minimum(tc.exponential(3 * 3600, size=n) * 1e9, 0.9 * gap)
        resp_ts = ts + delay.astype("int64")
        if channel == "call":
            resp_ts = ts + np.int64(30_000_000_000)
        rname = "connect" if channel == "call" else "reply"
        rows.append(_rows(lead_id[ok], resp_ts[ok], "response", rname, channel, step, rep[ok]))
        rows.append(_rows(lead_id[opt], resp_ts[opt], "response", "opt_out", channel, step,
                          rep[opt]))
        responded_at = np.where(ok, np.minimum(responded_at, resp_ts), responded_at)
        opted_at = np.where(opt, np.minimum(opted_at, resp_ts), opted_at)
        connected |= ok
        active &= ~(ok | opt)
        if channel == "email":
            opened = go & (tc.random(n) < np.clip(0.35 * np.exp(0.3 * interest), 0, 0.9))
            o_ts = ts + (tc.exponential(5 * 3600, size=n) * 1e9).astype("int64")
            rows.append(_rows(lead_id[opened], o_ts[opened], "activity", "email_open", "email"))
            click = opened & (tc.random(n) < np.clip(0.25 * np.exp(0.4 * interest), 0, 0.9))
            c_ts = o_ts + np.int64(120_000_000_000)
            rows.append(_rows(lead_id[click], c_ts[click], "activity", "link_click", "web"))

    # ---- self-driven behaviour -----------------------------------------------------------
    bh = rng["behaviour"]
    for name, rate in (("pricing_visit", 0.35), ("demo_request", 0.09)):
        lam = rate * np.exp(0.8 * interest)
        k = bh.poisson(lam)
        who = np.repeat(np.arange(n), k)
        when = created[who] + (bh.exponential(9 * 86400, size=len(who)) * 1e9).astype("int64")
        rows.append(_rows(lead_id[who], when, "activity", name, "web"))

    # ---- stages --------------------------------------------------------------------------
    st = rng["stages"]
    engaged = connected | (st.random(n) < 0.05)
    p_qual = np.clip(0.35 * np.exp(0.6 * interest), 0, 0.95)
    qual = engaged & (st.random(n) < p_qual)
    start_q = np.where(responded_at < np.iinfo(np.int64).max, responded_at, first_touch)
    q_ts = start_q + (st.exponential(3 * 86400, size=n) * 1e9).astype("int64")
    prop = qual & (st.random(n) < 0.6)
    p_ts = q_ts + (st.exponential(8 * 86400, size=n) * 1e9).astype("int64")
    won = prop & (st.random(n) < np.clip(0.4 * np.exp(0.4 * interest), 0, 0.9))
    close_ts = p_ts + (st.exponential(14 * 86400, size=n) * 1e9).astype("int64")
    lost = (prop & ~won) | (engaged & ~qual & (st.random(n) < 0.5))
    lost_ts = np.where(prop, close_ts, start_q + (st.exponential(10 * 86400, size=n)
                                                  * 1e9).astype("int64"))
    # cadence finished with no answer: most are closed as unresponsive a day after the last
    # touch, the rest stay open in "new" for marketing nurture
    last_touch = first_touch + np.int64(14 * 86_400_000_000_000)
    silent = active & ~connected & ~engaged & (st.random(n) < 0.7)
    lost = lost | silent
    lost_ts = np.where(silent, last_touch, lost_ts)
    # an opt-out closes a lead that was not yet qualified
    opted = (opted_at < np.iinfo(np.int64).max) & ~qual
    lost = lost | opted
    lost_ts = np.where(opted, opted_at + minute, lost_ts)
    ae = np.char.add("ae_", np.char.zfill(st.integers(1, 4, size=n).astype(str), 2))
    rows.append(_rows(lead_id[qual], q_ts[qual], "stage", "qualified", None, None, rep[qual]))
    handoff_touch = q_ts + (st.lognormal(1.5, 1.0, size=n) * 3600e9).astype("int64")
    rows.append(_rows(lead_id[qual], handoff_touch[qual], "touch", "call_attempt", "call", None,
                      ae[qual]))
    rows.append(_rows(lead_id[prop], p_ts[prop], "stage", "proposal", None, None, ae[prop]))
    rows.append(_rows(lead_id[won], close_ts[won], "stage", "won", None, None, ae[won]))
    rows.append(_rows(lead_id[lost], lost_ts[lost], "stage", "lost", None, None, rep[lost]))

    events = pd.concat([r for r in rows if len(r)], ignore_index=True)
    events = events[events["ts"] <= pd.Timestamp(export_at, tz="UTC")]
    leads_v = validate_leads(leads, source="synthetic leads")
    events_v = validate_events(events, leads_v, source="synthetic events")
    return SampleExport(leads_v, events_v)


def _rows(lead_id, ts, type_, name, channel, step=None, rep=None) -> pd.DataFrame:
    n = len(lead_id)
    return pd.DataFrame(
        {
            "lead_id": lead_id,
            "ts": pd.DatetimeIndex(np.asarray(ts, dtype="int64"), tz="UTC"),
            "type": type_,
            "name": name,
            "channel": channel,
            "step": pd.array([step] * n, dtype="Int64"),
            "rep_id": rep if rep is not None else None,
            "arm": None,
        },
        columns=list(EVENT_COLUMNS),
    )


SAMPLE_LEADS = 1500
SAMPLE_SEED = 7


def make_lead_table(n_leads: int = SAMPLE_LEADS, seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """A lead-level CRM table of the common kind (one row per lead, a Yes/No ``Converted``
    flag), with the traps a real one holds; what ``nurturelab score fit --table`` reads.

    Columns: ``Prospect ID``; ``Email`` (fictitious, ``example.com``: personal all the same);
    the attributes known at intake, which drive conversion: ``Lead Origin``, ``Lead Source``
    (``unknown`` where it was not recorded: a placeholder for a missing value),
    ``Specialization`` (``Select`` where the form was left at its default: a placeholder that
    means something, such leads convert less), ``TotalVisits`` (3% blank) and ``Time on
    Website`` (minutes); and three fields sales fill in after contact, which leak the outcome:
    ``Lead Stage`` (``Closed Won`` for 97% of the converted leads), ``Contract Value`` (for 90%
    of them, blank for the others) and ``Lost Reason`` (for the leads closed lost only).

    Each random element draws from its own stream spawned from one ``SeedSequence``: same
    seed, same table.

    Examples
    --------
    >>> t = make_lead_table(200, seed=1)
    >>> t.shape, t["Converted"].isin(["Yes", "No"]).all()
    ((200, 11), np.True_)
    """
    s = np.random.SeedSequence(seed).spawn(10)
    r = [np.random.default_rng(x) for x in s]
    n = n_leads
    origin = r[0].choice(["Landing Page Submission", "API", "Lead Add Form"], n, p=[.5, .3, .2])
    source = r[1].choice(["Google", "Direct Traffic", "Organic Search", "Reference",
                          "Olark Chat", "unknown"], n, p=[.3, .25, .15, .1, .1, .1])
    spec = r[2].choice(["Select", "Finance Management", "Marketing Management",
                        "Human Resource Management", "Operations Management"], n,
                       p=[.35, .2, .2, .13, .12])
    visits = r[3].poisson(3, n).astype(float)
    visits[r[3].random(n) < 0.03] = np.nan
    minutes = np.round(r[4].gamma(2, 250, n))
    logit = (-2.2 + 0.0016 * minutes + 1.6 * (origin == "Lead Add Form")
             + 0.7 * (source == "Reference") - 0.7 * (spec == "Select")
             + 0.08 * np.nan_to_num(visits))
    converted = r[5].random(n) < 1 / (1 + np.exp(-logit))
    open_stage = r[6].choice(["Closed Lost", "Contacted", "Open", "Negotiation"], n,
                             p=[.55, .3, .1, .05])
    stage = np.where(converted, np.where(r[7].random(n) < 0.97, "Closed Won", "Negotiation"),
                     open_stage)
    value = np.round(r[8].lognormal(8, 0.6, n), -1)
    value[~converted | (r[8].random(n) >= 0.9)] = np.nan
    reason = r[9].choice(["No budget", "Chose a competitor", "Not reachable",
                          "Not interested"], n).astype(object)
    reason[stage != "Closed Lost"] = None
    return pd.DataFrame({
        "Prospect ID": [f"P{i:06d}" for i in range(1, n + 1)],
        "Email": [f"lead{i:06d}@example.com" for i in range(1, n + 1)],
        "Lead Origin": origin,
        "Lead Source": source,
        "Specialization": spec,
        "TotalVisits": pd.array(visits, dtype="Int64"),
        "Time on Website": minutes.astype(int),
        "Lead Stage": stage,
        "Contract Value": pd.array(value, dtype="Int64"),
        "Lost Reason": reason,
        "Converted": np.where(converted, "Yes", "No"),
    })


def write_sample(out: str | Path, n_leads: int = SAMPLE_LEADS,
                 seed: int = SAMPLE_SEED) -> tuple[Path, Path, Path]:
    """Write the sample export as ``out/leads.csv`` and ``out/events.csv``, and a lead-level
    table of as many leads (:func:`make_lead_table`) as ``out/lead_table.csv``, each written to
    a temporary file and renamed into place; returns the three paths."""
    leads, events = make_export(n_leads=n_leads, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    targets = (out / "leads.csv", out / "events.csv", out / "lead_table.csv")
    frames = (leads, events, make_lead_table(n_leads, seed))
    for frame, target in zip(frames, targets, strict=True):
        tmp = target.with_suffix(".csv.tmp")
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        tmp.replace(target)
    return targets
