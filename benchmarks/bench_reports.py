"""Speed and memory of the monthly scoring audit and the weekly report, against a plain pandas
groupby of the same events measured in the same run.

    python benchmarks/bench_reports.py                  # 50,000 simulated leads over 4 months
    python benchmarks/bench_reports.py --leads 10000    # a quick run
    python benchmarks/bench_reports.py --growth         # 50k, 200k, 1M leads: how each grows
    python benchmarks/bench_reports.py --growth --sizes 10000,20000,40000
    python benchmarks/bench_reports.py --growth --simulate   # simulate every size (slow)

``--growth`` simulates the first size once and makes each bigger export by tiling it
(:func:`tile`): whole copies of the simulated export with new lead and rep ids over the same
weeks, so a bigger export is a bigger team working more leads in the same four months (what
simulating that size gives: the arrival rates and the team scale with the leads), every weekly
and daily pattern kept. The sizes must then be whole multiples of the first.

Targets (chosen for the audit and report issue: a month's audit and a week's report of a
mid-sized team should run in the time of a coffee, not of a batch job): the audit of one month
against three (points scorer, weekly snapshots, 200 bootstrap resamples) in at most 60 s, the
weekly report (8 weeks, every metric) in at most 60 s, both at 50,000 leads. The export is the
SimPy simulation's, so it has every column the metrics read. The baseline is
``events.groupby(["lead_id", "name"])`` (``size`` and ``ts.max``); each figure is printed with
its ratio to its target and to the baseline. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import math

import pandas as pd
from bench_scoring import peak_mb, timed  # run as a script from benchmarks/

from nurturelab.report import week_label, weekly_report
from nurturelab.scoring.audit import audit, month_bounds, scored_snapshots, snapshot_times
from nurturelab.scoring.points import DEFAULT_RULES
from nurturelab.simulation import Arrivals, Team, World, simulate

RATES = {"paid_search": 150, "web_form": 110, "organic_search": 60, "referral": 45,
         "partner": 35}  # 400 leads a day


def simulated(n_leads: int) -> tuple[pd.DataFrame, pd.DataFrame, object, float]:
    """The bench's SimPy export of ``n_leads`` (about four months of arrivals from 1 June),
    its cadence and the seconds the simulation took."""
    per_day = sum(RATES.values())
    scale = n_leads / (per_day * 125)
    world = World(leads=n_leads, start="2026-06-01", tail_days=0,
                  arrivals=Arrivals(per_day={k: v * scale for k, v in RATES.items()}),
                  team=Team(reps=max(4, round(40 * scale))))
    res, t_sim = timed(simulate, world, seed=1)
    return res.leads, res.events, world.cadence, t_sim


def tile(leads: pd.DataFrame, events: pd.DataFrame, copies: int
         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``copies`` copies of an export over the same weeks: copy ``c`` (from 1) has lead ids
    ``<id>~c`` and rep ids ``<rep>~c`` (its own leads and its own team), every time unchanged;
    copy 0 is the export itself. Dtypes are kept."""
    if copies == 1:
        return leads, events
    ld, ev = [leads], [events]
    for c in range(1, copies):
        lc = leads.copy()
        lc["lead_id"] = leads["lead_id"].astype(str) + f"~{c}"
        ec = events.copy()
        ec["lead_id"] = events["lead_id"].astype(str) + f"~{c}"
        if "rep_id" in ec.columns:
            ec["rep_id"] = events["rep_id"].where(events["rep_id"].isna(),
                                                  events["rep_id"].astype(str) + f"~{c}")
        ld.append(lc)
        ev.append(ec)
    out_l = pd.concat(ld, ignore_index=True)
    out_e = pd.concat(ev, ignore_index=True)
    for frame, orig in ((out_l, leads), (out_e, events)):
        for col in orig.columns:  # concat turns differing categories into object
            if out_e is frame and col in ("lead_id", "rep_id"):
                continue
            if isinstance(orig[col].dtype, pd.CategoricalDtype):
                frame[col] = frame[col].astype(orig[col].dtype)
    return out_l, out_e


def measure(n_leads: int, target: float, quiet: bool = False, export=None) -> dict:
    """Time the baseline, the audit and the weekly report on ``export`` (leads, events,
    cadence), by default the simulated export of ``n_leads``; print them unless ``quiet``."""
    say = (lambda *a: None) if quiet else print
    if export is None:
        leads, events, cadence, t_sim = simulated(n_leads)
        how = f"simulated in {t_sim:.1f} s"
    else:
        leads, events, cadence = export
        how = "tiled"
    say(f"{len(leads):,d} leads, {len(events):,d} events from {events['ts'].min():%Y-%m-%d} "
        f"to {events['ts'].max():%Y-%m-%d} ({how})")

    _, t_base = timed(lambda: events.groupby(["lead_id", "name"], observed=True)
                      .agg(n=("ts", "size"), last=("ts", "max")))
    say(f"baseline groupby: {t_base:.2f} s")

    start, end = month_bounds("2026-09")
    ref_start = pd.Timestamp("2026-06-01", tz="UTC")

    def run_audit():
        ref = scored_snapshots(leads, events, DEFAULT_RULES, times=snapshot_times(ref_start, start),
                               horizon_days=30)
        cur = scored_snapshots(leads, events, DEFAULT_RULES, times=snapshot_times(start, end),
                               horizon_days=30)
        return audit(ref, cur, seed=0)

    result, t_audit = timed(run_audit)
    say(f"audit of 2026-09 ({result.meta['month_rows']:,d} scored rows against "
        f"{result.meta['reference_rows']:,d}): {t_audit:.1f} s (target {target:g} s, "
        f"ratio {t_audit / target:.2f}); {t_audit / t_base:.0f} x baseline; "
        f"overall {result.status}")

    last = events["ts"].max()
    week = week_label(last - pd.Timedelta(days=7))
    rep, t_rep = timed(weekly_report, leads, events, week=week, cadence=cadence)
    say(f"weekly report {week} ({len(rep.table):,d} figures, {len(rep.unavailable)} "
        f"unavailable): {t_rep:.1f} s (target {target:g} s, ratio "
        f"{t_rep / target:.2f}); {t_rep / t_base:.0f} x baseline")
    return {"leads": len(leads), "events": len(events), "baseline": t_base, "audit": t_audit,
            "report": t_rep}


def _times(ratio: float) -> str:
    """A ratio to the baseline: one decimal under 10 (1.6, not 2), whole above."""
    return f"{ratio:.1f}" if ratio < 10 else f"{ratio:.0f}"


def growth_table(rows: list[dict], parts: tuple[str, ...]) -> str:
    """Seconds, ratio to the same run's baseline, and the growth exponent between sizes
    (log of the time ratio over log of the leads ratio: 1 is linear)."""
    head = ["leads", "events", "baseline s"]
    for p in parts:
        head += [f"{p} s", f"{p} / baseline", f"{p} exponent"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(rows):
        cells = [f"{r['leads']:,d}", f"{r['events']:,d}", f"{r['baseline']:.2f}"]
        for p in parts:
            exp = (math.log(r[p] / rows[i - 1][p]) / math.log(r["leads"] / rows[i - 1]["leads"])
                   if i else float("nan"))
            cells += [f"{r[p]:.1f}", _times(r[p] / r["baseline"]),
                      "-" if not i else f"{exp:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leads", type=int, default=50_000)
    p.add_argument("--target", type=float, default=60.0, help="seconds, each of the two")
    p.add_argument("--growth", action="store_true",
                   help="measure at each of --sizes and print the growth table")
    p.add_argument("--sizes", default="50000,200000,1000000",
                   help="comma-separated lead counts of --growth")
    p.add_argument("--simulate", action="store_true",
                   help="with --growth, simulate every size instead of tiling the first")
    args = p.parse_args()
    if not args.growth:
        measure(args.leads, args.target)
        print(f"peak memory {peak_mb():,.0f} MB")
        return
    rows = []
    sizes = [int(x) for x in args.sizes.split(",")]
    if not args.simulate and any(n % sizes[0] for n in sizes):
        p.error(f"--sizes {args.sizes}: tiling needs whole multiples of the first size "
                "(or --simulate)")
    first = None if args.simulate else simulated(sizes[0])
    for n in sizes:
        print(f"--- {n:,d} leads", flush=True)
        export = None
        if first is not None:
            leads, events = tile(first[0], first[1], n // sizes[0])
            export = (leads, events, first[2])
        rows.append(measure(n, args.target, export=export))
        export = None
    print(growth_table(rows, ("audit", "report")))
    print(f"peak memory {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
