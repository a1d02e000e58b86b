"""Speed and memory of the simulation, against a bare SimPy loop measured in the same run.

    python benchmarks/bench_simulation.py            # 100,000 leads (a few minutes)
    python benchmarks/bench_simulation.py --full     # adds 1,000,000 leads (the issue's target)

Targets (issue 3, one core of the 2-core machine):
- the full model's SimPy event rate is at least 50% of a bare SimPy loop's;
- 1,000,000 leads through seed_14_day in at most 60 s and 2 GB peak memory (--full);
- a two-arm comparison of 100,000 leads per arm in at most 15 s.
Each figure is printed with its ratio to the target; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import simpy

from nurturelab.cadence import get_cadence
from nurturelab.simulation import Arrivals, Simulation, Team, World

# A busy team: enough reps that the queue stays stable at any size (rate scales with leads).
WORLD = dict(team=Team(reps=60, shift=None), arrivals=Arrivals(per_day={"web": 2000.0}),
             tail_days=20.0)


def full_model(leads: int, cadence: str = "seed_14_day", seed: int = 1):
    world = World(leads=leads, cadence=get_cadence(cadence), **WORLD)
    sim = Simulation(world, seed)
    t0 = time.perf_counter()
    res = sim.run()
    seconds = time.perf_counter() - t0
    events = next(sim.env._eid)  # SimPy numbers every scheduled event
    return seconds, events, len(res.events)


def bare_loop(n_events: int, n_procs: int = 1000) -> float:
    """SimPy alone: processes that do nothing but wait, the same number of events."""
    env = simpy.Environment()
    per = max(1, n_events // n_procs)

    def proc(env, k):
        for _ in range(per):
            yield env.timeout(1.0 + k * 1e-6)

    for k in range(n_procs):
        env.process(proc(env, k))
    t0 = time.perf_counter()
    env.run()
    return (per * n_procs) / (time.perf_counter() - t0)


def peak_memory_run(leads: int) -> dict:
    """Run in a fresh process and report its time and peak RSS."""
    code = (
        "import json, resource, time, sys; sys.path.insert(0, 'benchmarks');"
        "from bench_simulation import full_model;"
        f"s, e, n = full_model({leads});"
        "print(json.dumps({'seconds': s, 'events': e, 'rows': n,"
        " 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--full", action="store_true", help="also run 1,000,000 leads")
    args = ap.parse_args()

    secs, events, rows = full_model(args.leads)
    model_rate = events / secs
    bare_rate = bare_loop(events)
    print(f"full model: {args.leads:,d} leads, {events:,d} SimPy events, {rows:,d} rows "
          f"in {secs:.1f} s = {args.leads / secs:,.0f} leads/s, {model_rate:,.0f} events/s")
    print(f"bare SimPy loop, same number of events: {bare_rate:,.0f} events/s")
    print(f"ratio model/bare event rate: {model_rate / bare_rate:.2f} (target >= 0.50)")

    t0 = time.perf_counter()
    for cadence in ("seed_14_day", "front_loaded"):
        full_model(100_000, cadence)
    two = time.perf_counter() - t0
    print(f"two-arm comparison, 100,000 leads per arm: {two:.1f} s "
          f"(target <= 15 s, ratio {two / 15:.2f})")

    if args.full:
        m = peak_memory_run(1_000_000)
        print(f"1,000,000 leads through seed_14_day: {m['seconds']:.1f} s "
              f"(target <= 60 s, ratio {m['seconds'] / 60:.2f}), peak {m['peak_mb']:,.0f} MB "
              f"(target <= 2048 MB, ratio {m['peak_mb'] / 2048:.2f})")
    print(f"this process peak memory: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
