"""Speed and memory of the simulation, against bare SimPy baselines measured in the same run.

    python benchmarks/bench_simulation.py            # 100,000 leads (about two minutes)
    python benchmarks/bench_simulation.py --full     # adds 1,000,000 leads (the issue's target)

Two baselines, both timed in this process right after the full model:

- the *bare model of the same cadence*: SimPy alone doing the full run's rep touches. The same
  arrival times, the same number of reps (a :class:`~nurturelab.simulation.RepPool`, SimPy's
  PriorityResource with a heap queue, with the same queue priority), and each lead a process
  that walks the cadence's touch schedule (the same offsets, anchors and business-hours windows,
  through the simulation's own calendar), requests a rep for each rep touch and holds it for the
  same handling time (read off the full run's log, a missed call's voicemail included). It makes
  exactly the touches the full run made (a lead whose cadence stopped early stops early here
  too) and nothing else: no answers, log-odds, behaviour, stages or event log. Like the full
  model's run, it runs with the cyclic garbage collector paused;
- a bare timeout loop: processes that do nothing but wait, as many SimPy events as the full run.

Targets (issue 17, one core of the 2-core machine):
- the full model's leads per second are at least 0.5 of the bare model's of the same cadence;
- 1,000,000 leads through seed_14_day in at most 30 s and 1.5 GB peak memory (--full, in a
  fresh process);
- a two-arm comparison of 100,000 leads per arm in at most 15 s.
The event rate against the timeout loop is printed too (issue 3's target, 0.5, is out of reach
for a model that does Python work per event). Each figure is printed with its ratio to the
target; nothing here is a pass/fail test. Other work on the machine slows every figure; the
ratios against the baselines measured in the same run move much less.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np
import simpy

from nurturelab.cadence import get_cadence
from nurturelab.simulation import DAY, Arrivals, RepPool, Simulation, Team, World, _Calendar

# A busy team: enough reps that the queue stays stable at any size (rate scales with leads).
WORLD = dict(team=Team(reps=60, shift=None), arrivals=Arrivals(per_day={"web": 2000.0}),
             tail_days=20.0)


def full_model(leads: int, cadence: str = "seed_14_day", seed: int = 1, keep: bool = False):
    """Time one full run; with ``keep`` also return what the bare model needs."""
    world = World(leads=leads, cadence=get_cadence(cadence), **WORLD)
    sim = Simulation(world, seed)
    t0, c0 = time.perf_counter(), time.process_time()
    res = sim.run()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    events = next(sim.env._eid)  # SimPy numbers every scheduled event
    if not keep:
        return seconds, events, len(res.events)
    return seconds, events, len(res.events), (world, sim, res, cpu)


def touch_plans(world: World, sim: Simulation, res) -> list[list[tuple[int, float, float]]]:
    """Per lead, the touches the full run made: (step, rep hold, call's own hold) in step
    order; the rep hold of a call includes the voicemail left on it (the run holds the rep for
    both at once)."""
    ev = res.events
    lead = ev["lead_id"].str[1:].astype(np.int64).to_numpy() - 1
    step = ev["step"].to_numpy(dtype=float, na_value=np.nan)
    mine = (ev["type"] == "touch").to_numpy() & ~np.isnan(step)
    lead, step = lead[mine], step[mine].astype(np.int64)
    hold = ev["duration_min"].to_numpy()[mine] * 60.0
    order = np.lexsort((step, lead))
    lead, step, hold = lead[order], step[order], hold[order]
    touches = world.cadence.touches
    plans: list[list] = [[] for _ in range(len(res.leads))]
    for i, j, h in zip(lead.tolist(), step.tolist(), hold.tolist(), strict=True):
        h = 0.0 if math.isnan(h) else h
        plan = plans[i]
        if touches[j].channel == "voicemail" and plan:  # held with the call before it
            s, total, own = plan[-1]
            plan[-1] = (s, total + h, own)
        plan.append((j, h, h))
    return plans


def bare_model(world: World, sim: Simulation, plans) -> tuple[float, float]:
    """Seconds (wall, CPU) SimPy alone takes to make the same rep touches (see the module
    docstring)."""
    team, cad = world.team, world.cadence
    touches, offsets = cad.touches, [float(x) for x in cad.offsets()]
    times = [float(t) for t in sim.r["times"]]
    end = times[-1] + world.tail_days * DAY
    cal = _Calendar(sim.r["start"], int(end // DAY) + 2, team.timezone)
    env = simpy.Environment()
    reps = RepPool(env, capacity=team.reps)
    workdays = team.workdays

    def lead(i: int):
        created = env.now
        prev_t, vm_at = created, math.nan
        for j, hold, own in plans[i]:
            touch = touches[j]
            due = created + offsets[j] if touch.anchor == "created" else prev_t + touch.at
            if touch.window is not None:
                due = cal.next_open(due, touch.window, workdays)
            if due > env.now:
                yield env.timeout(due - env.now)
            if touch.channel == "voicemail":
                prev_t = vm_at
                continue
            if touch.needs_rep:
                prio = 0 if team.queue == "fifo" else j
                with reps.request(priority=prio) as req:
                    yield req
                    prev_t = env.now
                    vm_at = prev_t + own
                    yield env.timeout(hold)
            else:
                prev_t = env.now

    def arrivals():
        for i, t in enumerate(times):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(lead(i))

    t0, c0 = time.perf_counter(), time.process_time()
    env.process(arrivals())
    gc.disable()  # as the full model's run does: the same treatment for both
    try:
        env.run(until=end)
    finally:
        gc.enable()
    return time.perf_counter() - t0, time.process_time() - c0


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
    """Run in a fresh process and report its time (wall and CPU) and peak RSS, then the bare
    model of the same cadence at the same size (after the peak is read)."""
    code = (
        "import json, resource, time, sys; sys.path.insert(0, 'benchmarks');"
        "from bench_simulation import full_model, touch_plans, bare_model;"
        f"s, e, n, (world, sim, res, cpu) = full_model({leads}, keep=True);"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
        "plans = touch_plans(world, sim, res); del res;"
        "bare, bare_cpu = bare_model(world, sim, plans);"
        "print(json.dumps({'seconds': s, 'cpu': cpu, 'events': e, 'rows': n, 'peak_mb': peak,"
        " 'bare': bare, 'bare_cpu': bare_cpu}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--full", action="store_true", help="also run 1,000,000 leads")
    ap.add_argument("--no-arms", action="store_true", help="skip the two-arm comparison")
    args = ap.parse_args()

    secs, events, rows, (world, sim, res, cpu) = full_model(args.leads, keep=True)
    plans = touch_plans(world, sim, res)
    del res
    bare, bare_cpu = bare_model(world, sim, plans)
    n_touch = sum(len(p) for p in plans)
    del plans, sim
    print(f"full model: {args.leads:,d} leads, {events:,d} SimPy events, {rows:,d} rows "
          f"in {secs:.2f} s = {args.leads / secs:,.0f} leads/s")
    print(f"bare model of the same cadence ({n_touch:,d} touches, same arrivals, reps and "
          f"handling): {bare:.2f} s = {args.leads / bare:,.0f} leads/s")
    print(f"ratio model/bare leads per second: {bare / secs:.2f} (target >= 0.50, "
          f"ratio {bare / secs / 0.5:.2f}); in CPU seconds {bare_cpu / cpu:.2f} "
          f"({cpu:.2f} s against {bare_cpu:.2f} s)")
    model_rate = events / secs
    bare_rate = bare_loop(events)
    print(f"event rate: model {model_rate:,.0f} events/s, bare SimPy timeout loop with the "
          f"same number of events {bare_rate:,.0f} events/s, ratio {model_rate / bare_rate:.2f}")

    if not args.no_arms:
        t0 = time.perf_counter()
        for cadence in ("seed_14_day", "front_loaded"):
            full_model(100_000, cadence)
        two = time.perf_counter() - t0
        print(f"two-arm comparison, 100,000 leads per arm: {two:.1f} s "
              f"(target <= 15 s, ratio {two / 15:.2f})")

    if args.full:
        m = peak_memory_run(1_000_000)
        print(f"1,000,000 leads through seed_14_day: {m['seconds']:.1f} s, CPU "
              f"{m['cpu']:.1f} s (target <= 30 s, ratio {m['seconds'] / 30:.2f}), peak "
              f"{m['peak_mb']:,.0f} MB (target <= 1536 MB, ratio {m['peak_mb'] / 1536:.2f}); "
              f"the bare model of the same cadence at 1,000,000 leads: {m['bare']:.1f} s, CPU "
              f"{m['bare_cpu']:.1f} s (ratio model/bare {m['bare'] / m['seconds']:.2f}, in CPU "
              f"seconds {m['bare_cpu'] / m['cpu']:.2f})")
    print(f"this process peak memory: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
