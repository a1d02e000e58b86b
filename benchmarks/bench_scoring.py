"""Speed and memory of lead scoring, against a plain pandas groupby measured in the same run.

    python benchmarks/bench_scoring.py                          # 1,000,000 leads, 10,000,000 events
    python benchmarks/bench_scoring.py --leads 100000 --events 1000000   # a quick run
    python benchmarks/bench_scoring.py --growth   # 50k, 200k, 1M leads (10 events a lead)

Target (the scoring issue): points (``scoring.points.scores`` with ``DEFAULT_RULES``) and features
(``scoring.features.snapshot``) for 1,000,000 leads and 10,000,000 events in at most 30 s.
The baseline is ``events.groupby(["lead_id", "name"])`` (``size`` and ``ts.max``) of the same
events; the figures are printed with their ratio to the target and to the baseline. The export is
synthetic, built directly with numpy (the SimPy simulation is far too slow at this size) in the
shape of the data contract (``nurturelab.schema``). Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from nurturelab.schema import (
    CHANNEL_DTYPE,
    INTENT_DTYPE,
    TYPE_DTYPE,
    validate_events,
    validate_leads,
)
from nurturelab.scoring.features import snapshot
from nurturelab.scoring.points import DEFAULT_RULES, scores

START = pd.Timestamp("2026-01-01", tz="UTC")
SPAN_DAYS = 180
AS_OF = START + pd.Timedelta(days=SPAN_DAYS)
_DAY_NS = 86_400 * 10**9

SOURCES = ["web", "paid_search", "referral", "event", "partner"]
# (name, type, channel, share within its type)
KINDS = [
    ("email_open", "activity", "email", 0.50),
    ("link_click", "activity", "email", 0.25),
    ("pricing_visit", "activity", "web", 0.15),
    ("demo_request", "activity", "web", 0.10),
    ("call_attempt", "touch", "call", 0.40),
    ("voicemail", "touch", "call", 0.20),
    ("sms", "touch", "sms", 0.20),
    ("email", "touch", "email", 0.20),
    ("connect", "response", "call", 0.50),
    ("reply", "response", "email", 0.45),
    ("opt_out", "response", "email", 0.05),
]
TYPE_SHARE = {"activity": 0.80, "touch": 0.15, "response": 0.05}


def make_export(n_leads: int, n_events: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic leads/events pair in the data contract's dtypes, events sorted by ts."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"L{i:08d}" for i in range(1, n_leads + 1)], dtype=object)
    created = np.sort(rng.integers(0, SPAN_DAYS * _DAY_NS, n_leads)) + START.value
    fit = rng.random(n_leads)
    fit[rng.random(n_leads) < 0.05] = np.nan
    intent = rng.choice(np.array([-1, 0, 1, 2], dtype=np.int8), n_leads,
                        p=[0.1, 0.5, 0.3, 0.1])
    leads = pd.DataFrame({
        "lead_id": ids,
        "created_at": pd.to_datetime(created, utc=True),
        "source": pd.Categorical.from_codes(
            rng.choice(len(SOURCES), n_leads, p=[0.4, 0.25, 0.15, 0.1, 0.1]), SOURCES),
        "fit": fit,
        "intent": pd.Categorical.from_codes(intent, dtype=INTENT_DTYPE),
    })

    # Which lead: skewed, so some leads are busy and many are quiet.
    code = np.minimum((rng.pareto(1.5, n_events) * n_leads / 4).astype(np.int64), n_leads - 1)
    code = rng.permutation(n_leads)[code]
    # When: after the lead's creation, mostly within a few weeks (some after AS_OF).
    delay = (rng.exponential(20.0, n_events) * _DAY_NS).astype(np.int64)
    ts = created[code] + delay
    # What: a type, then a name within the type.
    p = np.array([TYPE_SHARE[t] * s for _, t, _, s in KINDS])
    kind = rng.choice(len(KINDS), n_events, p=p / p.sum())
    names = np.array([k[0] for k in KINDS], dtype=object)
    type_code = np.array([TYPE_DTYPE.categories.get_loc(k[1]) for k in KINDS], dtype=np.int8)
    chan_code = np.array([CHANNEL_DTYPE.categories.get_loc(k[2]) for k in KINDS], dtype=np.int8)
    is_touch = np.array([k[1] == "touch" for k in KINDS])[kind]
    step = rng.integers(0, 6, n_events)
    reps = np.array([None] + [f"rep_{r:02d}" for r in range(1, 41)], dtype=object)
    rep = np.where(is_touch, rng.integers(1, len(reps), n_events), 0)

    order = np.argsort(ts, kind="stable")
    code, ts, kind, is_touch, step, rep = (a[order] for a in (code, ts, kind, is_touch, step, rep))
    events = pd.DataFrame({
        "lead_id": ids[code],
        "ts": pd.to_datetime(ts, utc=True),
        "type": pd.Categorical.from_codes(type_code[kind], dtype=TYPE_DTYPE),
        "name": names[kind],
        "channel": pd.Categorical.from_codes(chan_code[kind], dtype=CHANNEL_DTYPE),
        "step": pd.arrays.IntegerArray(step, ~is_touch),
        "rep_id": reps[rep],
        "arm": np.full(n_events, None, dtype=object),
    })
    return leads, events


def check_sample(leads: pd.DataFrame, events: pd.DataFrame, n: int = 2000) -> None:
    """Validate a slice against the data contract (validating 10M rows would dominate the run)."""
    some = leads.iloc[:: max(1, len(leads) // n)]
    vl = validate_leads(some)
    validate_events(events[events["lead_id"].isin(some["lead_id"])], vl)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def baseline(events: pd.DataFrame) -> pd.DataFrame:
    g = events.groupby(["lead_id", "name"], sort=False)
    return pd.DataFrame({"n": g.size(), "last": g["ts"].max()})


def measure(n_leads: int, n_events: int, seed: int, target: float) -> dict:
    (leads, events), build = timed(make_export, n_leads, n_events, seed)
    _, check = timed(check_sample, leads, events)
    print(f"synthetic export: {len(leads):,d} leads, {len(events):,d} events in {build:.1f} s "
          f"(a sample of it validated in {check:.1f} s); peak so far {peak_mb():,.0f} MB")

    base, t_base = timed(baseline, events)
    print(f"baseline: pandas groupby(['lead_id', 'name']) size + ts.max: {t_base:.1f} s "
          f"({len(base):,d} groups)")
    pts, t_pts = timed(scores, leads, events, DEFAULT_RULES, as_of=AS_OF)
    print(f"points:   scores(DEFAULT_RULES, as_of={AS_OF:%Y-%m-%d}): {t_pts:.1f} s "
          f"({len(pts):,d} leads, mean score {pts['score'].mean():.1f}); "
          f"{t_pts / t_base:.2f} x baseline")
    feats, t_feat = timed(snapshot, leads, events, as_of=AS_OF)
    print(f"features: snapshot(as_of={AS_OF:%Y-%m-%d}): {t_feat:.1f} s "
          f"({feats.shape[0]:,d} x {feats.shape[1]}); {t_feat / t_base:.2f} x baseline")
    total = t_pts + t_feat
    print(f"points + features: {total:.1f} s (target <= {target:g} s, "
          f"ratio {total / target:.2f}); {total / t_base:.2f} x baseline")
    return {"leads": n_leads, "events": n_events, "baseline": t_base, "points": t_pts,
            "features": t_feat, "points + features": total}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target", type=float, default=30.0, help="seconds for points + features")
    ap.add_argument("--growth", action="store_true",
                    help="measure at each of --sizes (10 events a lead), print the growth table")
    ap.add_argument("--sizes", default="50000,200000,1000000")
    args = ap.parse_args()
    if not args.growth:
        measure(args.leads, args.events, args.seed, args.target)
    else:
        from bench_reports import growth_table

        rows = []
        for n in (int(x) for x in args.sizes.split(",")):
            print(f"--- {n:,d} leads, {10 * n:,d} events", flush=True)
            rows.append(measure(n, 10 * n, args.seed, args.target))
        print(growth_table(rows, ("points + features",)))
    print(f"this process peak memory: {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
