"""Golden outputs: a fixed set of runs whose every output a speed change must leave bit for bit.

A change made for speed only (a sort avoided, a merge replaced by positions, a cache) must not
change one figure. This saves the outputs of fixed cases (fixed seeds, a few seconds each) at
one commit and compares them, recomputed, at another:

    python benchmarks/golden.py save DIR       # at the commit before the change
    python benchmarks/golden.py compare DIR    # after it: ALL EQUAL, or each case that differs
    python benchmarks/golden.py compare DIR --only report_default,audit_points

The cases: simulation runs (the default world, a small team on shifts, a fifo queue, another
built-in cadence, a two-arm SharedWorld: leads, events, tasks, queue, KPIs), the weekly report
on a simulated and on a synthetic export (its summary and every table it exposes, with and
without each optional argument), the monthly audit (scored snapshots and the audit with its
bootstrap), point scores and features. Equal means: DataFrames and Series by
``assert_frame_equal``/``assert_series_equal`` with ``check_exact`` (dtypes and index
included), float columns, arrays and scalars bit for bit (NaN equal to NaN, -0.0 not 0.0;
a float inside an object column only as ``check_exact`` compares it), ``attrs`` included;
every other value by ``==``. ``compare`` exits 1 if any case differs.
"""

from __future__ import annotations

import argparse
import functools
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.cadence import BUILT_IN
from nurturelab.funnel import Funnel, Stage
from nurturelab.report import Target, last_full_week, weekly_report
from nurturelab.scoring import features as F
from nurturelab.scoring import points as P
from nurturelab.scoring.audit import (
    AuditRules,
    audit,
    month_bounds,
    scored_snapshots,
    snapshot_times,
)
from nurturelab.simulation import Arrivals, SharedWorld, Team, World, simulate
from nurturelab.synthetic import make_export

CASES: dict[str, Callable[[], dict[str, Any]]] = {}


def case(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Register a case under its function's name."""
    CASES[fn.__name__] = fn
    return fn


# --------------------------------------------------------------------------------------------
# Inputs, made once per process
# --------------------------------------------------------------------------------------------
@functools.cache
def sim_export() -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    """A bench-like simulated export: 4,000 leads over about four months from 1 June."""
    rates = {"paid_search": 150, "web_form": 110, "organic_search": 60, "referral": 45,
             "partner": 35}
    scale = 4000 / (400 * 125)
    world = World(leads=4000, start="2026-06-01", tail_days=0,
                  arrivals=Arrivals(per_day={k: v * scale for k, v in rates.items()}),
                  team=Team(reps=4))
    res = simulate(world, seed=1)
    return res.leads, res.events, world.cadence


@functools.cache
def synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    return tuple(make_export(n_leads=2000, seed=3))


def sim_week() -> str:
    _, events, _ = sim_export()
    return last_full_week(events)


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------
def sim_outputs(world, seed: int) -> dict[str, Any]:
    res = simulate(world, seed=seed)
    return {"leads": res.leads, "events": res.events, "tasks": res.tasks, "queue": res.queue,
            "utilisation": res.utilisation, "kpis": res.kpis(), "summary": res.summary}


@case
def sim_default():
    return sim_outputs(World(leads=2000), seed=1)


@case
def sim_shifts():
    team = Team(reps=2, shift=(8.0, 14.0), workdays=(0, 1, 2, 3, 4, 5), timezone="Europe/Paris")
    return sim_outputs(World(leads=1200, team=team), seed=2)


@case
def sim_fifo():
    return sim_outputs(World(leads=1500, team=Team(reps=3, queue="fifo",
                                                   handling="exponential")), seed=3)


@case
def sim_cadence():
    other = next(c for name, c in BUILT_IN.items() if name != "seed_14_day")
    return sim_outputs(World(leads=1500, cadence=other, team=Team(queue="score")), seed=4)


@case
def sim_shared():
    sw = SharedWorld(World(leads=1200, team=Team(reps=5)),
                     {"seed": "seed_14_day", "front": "front_loaded"}, design="split")
    return sim_outputs(sw, seed=5)


# --------------------------------------------------------------------------------------------
# The weekly report
# --------------------------------------------------------------------------------------------
FOUR = Funnel((Stage("new", "sdr", exit_on=("connect", "reply"), target_days=2),
               Stage("engaged", "sdr", target_days=7), Stage("qualified", "ae", target_days=14),
               Stage("won", "ae")))

TARGETS = (Target("reply", "reply_rate", ">= 0.1", "2026-12-31"),
           Target("speed", "speed_to_first_contact_min", "< 5", "2026-12-31",
                  segment="intent=high"),
           Target("late", "conversion", ">= 30%", "2026-08-01"),
           Target("stage", "stage_conversion.qualified", ">= 0.2", "2026-12-31"),
           Target("fax", "reply_rate", ">= 0.2", "2026-12-31", segment="channel=fax"))


def report_outputs(rep) -> dict[str, Any]:
    return {"week": rep.week, "weeks": rep.weeks, "table": rep.table, "targets": rep.targets,
            "unavailable": rep.unavailable, "loss": rep.loss, "as_of": rep.as_of,
            "summary": rep.summary, "headline": rep.headline(), "text": str(rep)}


@case
def report_default():
    leads, events, _ = sim_export()
    return report_outputs(weekly_report(leads, events, week=sim_week()))


@case
def report_cadence():
    leads, events, cadence = sim_export()
    return report_outputs(weekly_report(leads, events, week=sim_week(), cadence=cadence))


@case
def report_cadence_name_weeks():
    leads, events, _ = sim_export()
    return report_outputs(weekly_report(leads, events, week="2026-W30", weeks=3,
                                        cadence="front_loaded"))


@case
def report_targets():
    leads, events, cadence = sim_export()
    return report_outputs(weekly_report(leads, events, week=sim_week(), cadence=cadence,
                                        targets=TARGETS))


@case
def report_funnel():
    leads, events, _ = sim_export()
    ev = events.copy()
    ev["name"] = ev["name"].astype(object).replace({"contacted": "engaged",
                                                    "proposal": "engaged"})
    return report_outputs(weekly_report(leads, ev, week=sim_week(), funnel=FOUR, weeks=5))


@case
def report_scoring_args():
    leads, events, cadence = sim_export()
    rules = P.PointRules(rules=P.DEFAULT_RULES.rules[:-1], thresholds=P.DEFAULT_RULES.thresholds)
    return report_outputs(weekly_report(leads, events, week=sim_week(), cadence=cadence,
                                        threshold=12.5, rules=rules, horizon_days=3.0))


@case
def report_one_week():
    leads, events, _ = sim_export()
    return report_outputs(weekly_report(leads, events, week=sim_week(), weeks=1))


@case
def report_synthetic():
    leads, events = synthetic()
    return report_outputs(weekly_report(leads, events, week=last_full_week(events)))


@case
def report_synthetic_targets():
    leads, events = synthetic()
    return report_outputs(weekly_report(leads, events, week="2026-W38", weeks=4,
                                        targets=TARGETS, cadence="seed_14_day"))


# --------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------
def audit_outputs(res) -> dict[str, Any]:
    return {"checks": res.checks, "drift": res.drift, "deciles": res.deciles,
            "snapshots": res.snapshots, "stuck": res.stuck, "meta": res.meta,
            "rows": res.rows, "notes": res.notes, "status": res.status,
            "summary": res.summary}


def audit_rows(scorer=P.DEFAULT_RULES, horizon: float = 30.0, **kw):
    leads, events, _ = sim_export()
    start, end = month_bounds("2026-09")
    ref = scored_snapshots(leads, events, scorer, horizon_days=horizon,
                           times=snapshot_times(pd.Timestamp("2026-06-01", tz="UTC"), start),
                           **kw)
    cur = scored_snapshots(leads, events, scorer, times=snapshot_times(start, end),
                           horizon_days=horizon, **kw)
    return ref, cur


@case
def snapshots_points():
    ref, cur = audit_rows()
    return {"reference": ref, "month": cur}


@case
def snapshots_observed_until():
    ref, cur = audit_rows(horizon=14.0, observed_until="2026-09-20")
    return {"reference": ref, "month": cur}


@case
def audit_points():
    ref, cur = audit_rows()
    return audit_outputs(audit(ref, cur, seed=0))


@case
def audit_settings():
    ref, cur = audit_rows()
    return audit_outputs(audit(ref, cur, seed=7, threshold=20.0, capacity_per_day=30.0,
                               rules=AuditRules(n_boot=100, alpha=0.1, psi_bins=5)))


@case
def audit_synthetic():
    leads, events = synthetic()
    times = snapshot_times("2026-09-01", "2026-10-20")
    ref = scored_snapshots(leads, events, P.DEFAULT_RULES, times=times[:3], horizon_days=14)
    cur = scored_snapshots(leads, events, P.DEFAULT_RULES, times=times[3:], horizon_days=14)
    return audit_outputs(audit(ref, cur, seed=1))


# --------------------------------------------------------------------------------------------
# Points and features
# --------------------------------------------------------------------------------------------
@case
def points_scores():
    leads, events, _ = sim_export()
    at = pd.Timestamp("2026-08-15 12:00", tz="UTC")
    return {"at": P.scores(leads, events, as_of=at),
            "end": P.scores(leads, events, as_of=events["ts"].max())}


@case
def points_history():
    leads, events = synthetic()
    hist = P.score_history(leads, events, freq="D")
    cross = P.crossings(hist, P.DEFAULT_RULES)
    return {"history": hist, "crossings": cross, "events": P.threshold_events(cross),
            "weekly": P.score_history(leads, events, freq="W", start="2026-09-07",
                                      end="2026-10-12")}


@case
def features_snapshot():
    leads, events, _ = sim_export()
    at = pd.Timestamp("2026-08-20", tz="UTC")
    return {"default": F.snapshot(leads, events, as_of=at),
            "lead_columns": F.snapshot(leads, events, as_of=at, windows=(3, 14),
                                       lead_columns=("source", "intent")),
            "open": F.open_leads(leads, events, as_of=at),
            "label": F.label(leads, events, as_of=at, horizon_days=14.0),
            "names": F.feature_names(lead_columns=("source",))}


@case
def features_synthetic():
    leads, events = synthetic()
    at = pd.Timestamp("2026-10-01", tz="UTC")
    return {"default": F.snapshot(leads, events, as_of=at),
            "label": F.label(leads, events, as_of=at, horizon_days=7.0)}


# --------------------------------------------------------------------------------------------
# Exact comparison
# --------------------------------------------------------------------------------------------
def _floats_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit, but every NaN equal to every NaN."""
    return (a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
            and np.array_equal(np.signbit(a), np.signbit(b)))


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (empty if they are equal)."""
    if type(a) is not type(b):
        return [f"{where}: type {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, pd.DataFrame | pd.Series):
        try:
            if isinstance(a, pd.DataFrame):
                pd.testing.assert_frame_equal(a, b, check_exact=True)
                cols = [(a.iloc[:, i], b.iloc[:, i]) for i in range(a.shape[1])]
            else:
                pd.testing.assert_series_equal(a, b, check_exact=True)
                cols = [(a, b)]
        except AssertionError as exc:
            return [f"{where}: {str(exc).splitlines()[0]}"]
        for x, y in cols:
            if x.dtype.kind == "f" and not _floats_equal(x.to_numpy(), y.to_numpy()):
                return [f"{where}: column {x.name!r} not bit-equal"]
        return differences(dict(a.attrs), dict(b.attrs), f"{where}.attrs")
    if isinstance(a, pd.Index):
        return [] if a.equals(b) and a.dtype == b.dtype else [f"{where}: index differs"]
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return [f"{where}: array {a.dtype}{a.shape} != {b.dtype}{b.shape}"]
        same = _floats_equal(a, b) if a.dtype.kind == "f" else np.array_equal(a, b)
        return [] if same else [f"{where}: array differs"]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{where}: keys {list(a)} != {list(b)}"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}[{k!r}]")]
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in differences(x, y, f"{where}[{i}]")]
    if isinstance(a, float | np.floating):
        return [] if _floats_equal(np.asarray(a), np.asarray(b)) else [f"{where}: {a!r} != {b!r}"]
    try:
        same = bool(a == b)
    except (TypeError, ValueError):
        same = pickle.dumps(a) == pickle.dumps(b)
    return [] if same else [f"{where}: {a!r} != {b!r}"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("save", "compare"))
    p.add_argument("dir", type=Path)
    p.add_argument("--only", help="comma-separated case names (default: every case)")
    args = p.parse_args()
    names = args.only.split(",") if args.only else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        p.error(f"unknown cases {unknown}; the cases are {list(CASES)}")
    args.dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names:
        t0 = time.perf_counter()
        got = CASES[name]()
        path = args.dir / f"{name}.pkl"
        if args.command == "save":
            path.write_bytes(pickle.dumps(got, protocol=pickle.HIGHEST_PROTOCOL))
            print(f"saved {name} ({time.perf_counter() - t0:.1f} s)", flush=True)
            continue
        if not path.exists():
            failed.append(name)
            print(f"DIFFERS {name}: no saved output in {args.dir}", flush=True)
            continue
        diffs = differences(pickle.loads(path.read_bytes()), got, name)
        if diffs:
            failed.append(name)
            print(f"DIFFERS {name}:", *diffs[:10], sep="\n  ", flush=True)
        else:
            print(f"equal {name} ({time.perf_counter() - t0:.1f} s)", flush=True)
    if args.command == "compare":
        print("ALL EQUAL" if not failed else f"{len(failed)} of {len(names)} cases differ: "
              f"{', '.join(failed)}")
        sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
