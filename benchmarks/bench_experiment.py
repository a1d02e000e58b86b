"""Speed of the experiment analysis, against a plain pandas groupby measured in the same run.

    python benchmarks/bench_experiment.py                     # 10,000 leads, 1,000 A/A runs
    python benchmarks/bench_experiment.py --experiments 200   # a quick run

Targets (issue 15): ``analyze`` at most 50 ms per metric for 10,000 leads in two arms, and a
1,000-experiment A/A study (each experiment: a fresh lead table, ``analyze`` on four metrics)
in under 60 s. The baseline is ``table.groupby("arm")[metrics].mean()`` of the same table: the
least any analysis must do. The A/A study also prints its false-positive rate (the share of
experiment-metric pairs called significant at alpha 0.05, which should be near 0.05). Lead
tables are drawn directly with numpy (no simulation). Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from nurturelab.experiment import METRICS, analyze

RATES = {"contacted": 0.60, "replied": 0.25, "qualified": 0.12, "converted": 0.04}


def lead_table(n_leads: int, rng: np.random.Generator, arms=("a", "b")) -> pd.DataFrame:
    """One row per lead, equal arms, every metric at the same rate in every arm (A/A)."""
    table = pd.DataFrame({"arm": np.repeat(np.array(arms, dtype=object),
                                           n_leads // len(arms))})
    for metric in METRICS:
        table[metric] = rng.random(len(table)) < RATES[metric]
    return table


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=10_000)
    ap.add_argument("--experiments", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    table = lead_table(args.leads, rng)
    metrics = list(METRICS)

    analyze(table, control="a", metrics=metrics)  # warm-up: imports, first calls
    base = best_of(lambda: table.groupby("arm")[metrics].mean(), 20)
    one = best_of(lambda: analyze(table, control="a", metrics=["converted"]), 10)
    four = best_of(lambda: analyze(table, control="a", metrics=metrics), 10)
    per_metric = four / len(metrics)
    print(f"analyze, {args.leads:,d} leads x 2 arms (best of 10)")
    print(f"  baseline groupby-mean of 4 metrics   {1000 * base:8.2f} ms")
    print(f"  1 metric                             {1000 * one:8.2f} ms   "
          f"{one / base:6.1f}x baseline   target <= 50 ms ({one / 0.050:.2f} of it)")
    print(f"  4 metrics                            {1000 * four:8.2f} ms   "
          f"{four / base:6.1f}x baseline")
    print(f"  per metric (4 metrics / 4)           {1000 * per_metric:8.2f} ms   "
          f"target <= 50 ms ({per_metric / 0.050:.2f} of it)")

    t0, c0 = time.perf_counter(), time.process_time()
    significant = tested = 0
    base_study = 0.0
    for _ in range(args.experiments):
        t = lead_table(args.leads, rng)
        s = analyze(t, control="a", metrics=metrics).summary.xs("b", level="arm")
        significant += int(s["significant"].astype(bool).sum())
        tested += len(s)
        b0 = time.perf_counter()
        t.groupby("arm")[metrics].mean()
        base_study += time.perf_counter() - b0
    study, cpu = time.perf_counter() - t0, time.process_time() - c0
    rate = significant / tested
    half = 2.576 * np.sqrt(0.05 * 0.95 / tested)
    print(f"\nA/A study: {args.experiments:,d} experiments x 4 metrics, {args.leads:,d} leads each")
    print(f"  total (tables drawn and analysed)    {study:8.2f} s    target < 60 s "
          f"({study / 60:.2f} of it); its groupby baseline {base_study:.2f} s")
    print(f"  CPU time of this process             {cpu:8.2f} s    (below the wall time when "
          "the machine is shared)")
    print(f"  false-positive rate                  {rate:8.4f}     expected 0.05 "
          f"(99% band {0.05 - half:.4f}-{0.05 + half:.4f}; the metrics are drawn "
          "independently)")


if __name__ == "__main__":
    main()
