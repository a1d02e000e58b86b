"""Speed of the twin: calibrating a world from an export and back-testing a scenario, against
baselines measured in the same run.

    python benchmarks/bench_twin.py                  # 100,000 leads, about a million events
    python benchmarks/bench_twin.py --leads 20000    # a quick run
    python benchmarks/bench_twin.py --holdout-days 91 --jobs 2   # three months, both cores

Targets (issue 12, one process on this 2-core machine): calibrate a 100,000-lead,
1,000,000-event export in at most 60 s; a back-test with 20 replications in at most 3 minutes
(of the export's last four weeks by default, as the README's back-tests; the time grows with
the held-out leads, since each replication simulates them all). Baselines: for the
calibration, a plain pandas groupby of the same events (``events.groupby(["lead_id",
"name"])``, size and last timestamp); for the back-test, one simulation of the held-out
leads (a back-test is R of them plus the KPIs).
Each figure is printed with its ratio to its target and to its baseline. Nothing here is a
pass/fail test.
"""

from __future__ import annotations

import argparse
import warnings

import pandas as pd
from bench_scoring import peak_mb, timed  # run as a script from benchmarks/

from nurturelab.response import ResponseModel
from nurturelab.simulation import Arrivals, Replay, Team, World, simulate
from nurturelab.twin.backtest import backtest
from nurturelab.twin.calibrate import calibrate

RATES = {"paid_search": 300, "web_form": 200, "organic_search": 120, "referral": 100,
         "partner": 80}  # 800 leads a day


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--replications", type=int, default=20)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--holdout-days", type=int, default=28,
                   help="the held-out window at the export's end (default four weeks, as the "
                        "README's back-tests; 91 for the last three months)")
    args = p.parse_args()
    scale = args.leads / 100_000
    # browsing leads (pricing visits) bring the export to about ten events a lead
    world = World(leads=args.leads, start="2026-01-05", warmup_days=7, tail_days=20,
                  arrivals=Arrivals(per_day={k: v * scale for k, v in RATES.items()}),
                  team=Team(reps=max(4, round(60 * scale))),
                  response=ResponseModel(pricing_per_day=0.08))
    res, t_sim = timed(simulate, world, seed=1)
    leads, events = res.export(res.leads["created_at"].iloc[-1])
    print(f"export: {len(leads):,d} leads, {len(events):,d} events "
          f"(simulated in {t_sim:.1f} s)")
    _, t_base = timed(lambda: events.groupby(["lead_id", "name"], observed=True)
                      .agg(n=("ts", "size"), last=("ts", "max")))
    print(f"baseline groupby of the events: {t_base:.2f} s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cal, t_cal = timed(calibrate, leads, events)
    print(f"calibrate: {t_cal:.1f} s (target <= 60 s, ratio {t_cal / 60:.2f}; "
          f"{t_cal / t_base:.0f}x the groupby), {len(cal.summary)} parameters")

    holdout = leads["created_at"].max() - pd.Timedelta(days=args.holdout_days)
    held = leads[leads["created_at"] >= holdout - pd.Timedelta(days=14)]
    _, t_one = timed(simulate, cal.world, seed=2,
                     replay=Replay(held, measure_from=holdout,
                                   until=max(events["ts"].max(), leads["created_at"].max())))
    print(f"baseline one simulation of the held-out leads: {t_one:.1f} s")
    bt, t_bt = timed(backtest, cal.world, leads, events, holdout_from=holdout,
                     replications=args.replications, n_jobs=args.jobs)
    print(f"back-test, {args.replications} replications of the last {args.holdout_days} days "
          f"({int((leads['created_at'] >= holdout).sum()):,d} leads), {args.jobs} job(s): "
          f"{t_bt:.1f} s (target <= 180 s, ratio {t_bt / 180:.2f}; "
          f"{t_bt / t_one:.1f}x one simulation); the twin's back-test: "
          f"{bt.verdict.split(';')[0]}")
    print(f"peak memory: {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
