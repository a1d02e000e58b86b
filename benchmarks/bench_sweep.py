"""A sweep of 2 cadences x 20 replications x 20,000 leads, serial against joblib on 2 cores.

    python benchmarks/bench_sweep.py [--leads N] [--replications R]

Target (issue 4): parallel at least 1.7 times faster than serial, measured in the same run, with
identical results.
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from nurturelab.simulation import Team, World
from nurturelab.sweep import sweep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=20_000)
    ap.add_argument("--replications", type=int, default=20)
    args = ap.parse_args()
    team = Team(reps=12)
    worlds = {"seed_14_day": World(leads=args.leads, team=team),
              "front_loaded": World(leads=args.leads, team=team, cadence="front_loaded")}
    runs = 2 * args.replications
    t0 = time.perf_counter()
    serial = sweep(worlds, replications=args.replications, seed=1)
    t_serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    parallel = sweep(worlds, replications=args.replications, seed=1, n_jobs=2)
    t_parallel = time.perf_counter() - t0
    pd.testing.assert_frame_equal(serial, parallel)
    print(f"sweep: 2 cadences x {args.replications} replications x {args.leads:,d} leads "
          f"({runs} runs) on {os.cpu_count()} cores")
    print(f"serial {t_serial:.1f} s, joblib n_jobs=2 {t_parallel:.1f} s, identical results")
    print(f"speed-up {t_serial / t_parallel:.2f}x (target >= 1.70)")


if __name__ == "__main__":
    main()
