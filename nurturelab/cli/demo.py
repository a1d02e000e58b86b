"""``nurturelab demo``: the main job on the embedded sample, logged to MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from nurturelab import paths
from nurturelab.cli.common import backend_for_files, positive_int, timestamp
from nurturelab.schema import read_export, summarize
from nurturelab.synthetic import SAMPLE_LEADS, SAMPLE_SEED


def cmd_demo(args: argparse.Namespace) -> int:
    backend_for_files()
    import matplotlib.pyplot as plt

    from nurturelab import plots, synthetic, tracking
    from nurturelab.funnel import funnel_report
    from nurturelab.segments import DEFAULT_ICP, segment_rates, segments

    leads_f, events_f = paths.data_dir() / "leads.csv", paths.data_dir() / "events.csv"
    fresh = args.leads is not None or args.seed is not None
    use_files = not fresh and leads_f.is_file() and events_f.is_file()
    if use_files:
        origin = f"{leads_f.relative_to(paths.project_root())} + {events_f.name}"
        leads, events = read_export(leads_f, events_f)
    else:
        n = args.leads or SAMPLE_LEADS
        seed = SAMPLE_SEED if args.seed is None else args.seed
        origin = f"synthetic.make_export(n_leads={n}, seed={seed})"
        leads, events = synthetic.make_export(n_leads=n, seed=seed)
    print(f"Sample export: {origin} — validated against the data contract\n")
    print(summarize(leads, events), "\n")

    report = funnel_report(leads, events, as_of=args.as_of)
    seg = segments(DEFAULT_ICP.apply(leads))
    by_intent_fit = segment_rates(seg, report.outcomes, events, by=("intent", "fit_band"))
    by_route = segment_rates(seg, report.outcomes, events, by=("route",))
    by_source = segment_rates(seg, report.outcomes, events, by=("source",))

    pd.set_option("display.width", 120)
    print(report, "\n")
    show = ["leads", "conversion", "conv_ci_low", "conv_ci_high", "opt_out_rate"]
    print("By route (high intent + high fit → immediate; low intent + high fit → educational):")
    print(by_route[show].to_string(float_format=lambda v: f"{v:.3f}"), "\n")
    print("Weekly cohorts (leads created that week):")
    print(report.weekly.drop(columns="week_start").round(1).to_string(), "\n")

    params = {"origin": origin, "as_of": report.as_of.isoformat(), "leads": len(leads),
              "events": len(events), "funnel": " > ".join(report.funnel.names)}
    with tracking.run("demo", params=params, tags={"job": "demo"}) as active:
        tracking.log_metrics(report.headline())
        tracking.log_metrics({f"conversion.{k}": v
                              for k, v in report.conversion["conversion"].items()})
        for name, table in {
            "stage_conversion": report.conversion,
            "time_in_stage": report.time_in_stage,
            "lead_age_by_stage": report.lead_age,
            "dropoff_by_step": report.dropoff,
            "handoffs": report.handoffs,
            "weekly_cohorts": report.weekly,
            "segments_intent_fit": by_intent_fit,
            "segments_route": by_route,
            "segments_source": by_source,
        }.items():
            tracking.log_table(table, name)
        fig, axes = plt.subplots(2, 2, figsize=(13, 8))
        plots.funnel_bars(report.conversion, ax=axes[0, 0])
        plots.weekly_cohorts(report.weekly, ax=axes[0, 1])
        plots.speed_histogram(report.speed_minutes, ax=axes[1, 0])
        plots.segment_rates(by_route, ax=axes[1, 1])
        fig.tight_layout()
        tracking.log_figure(fig, "funnel")
        plt.close(fig)
        weekly = _demo_weekly(leads, events, report.as_of)
        run_id = active.info.run_id
        chart = active.info.artifact_uri.rstrip("/") + "/figures/funnel.png"
    print(f"MLflow run {run_id} logged to {tracking.tracking_uri()}")
    print(f"Funnel chart: {chart}")
    if weekly:
        name, summary = weekly
        print(f"{summary}\nWeekly report: {active.info.artifact_uri.rstrip('/')}/report/"
              f"{name} (`nurturelab report` writes it where you are)")
    print()

    # the same funnel, simulated: a small speed-to-lead scenario
    from nurturelab.scenario import read_scenario, run_scenario

    scenario_file = paths.project_root() / "simulations" / "speed_to_lead.yaml"
    if scenario_file.is_file():
        scenario = read_scenario(scenario_file).with_overrides(leads=args.sim_leads)
        print(f"Simulation: {scenario_file.relative_to(paths.project_root())} with "
              f"{args.sim_leads:,d} leads per variant (nurturelab simulate FILE for more)")
        run = run_scenario(scenario, source=scenario_file, track=True)
        cols = ["speed_median_min", "within_5min_pct", "contact_rate", "conversion_rate",
                "rep_utilisation"]
        print(run.summary[cols].to_string(float_format=lambda v: f"{v:,.3f}"))
        print(f"MLflow run {run.run_id} (scenario, with a child run per variant)")
    print("\nSee it all in the MLflow UI: make ui   (then open http://127.0.0.1:5000)")
    return 0


def _demo_weekly(leads, events, as_of) -> tuple[str, str] | None:
    """The weekly full-path report of the last full week before ``as_of``, logged to the
    active run as report/weekly-YYYY-Www.html; returns its file name and a one-line summary
    (None when that week has no data)."""
    import tempfile

    from nurturelab import tracking
    from nurturelab.report import read_targets, week_bounds, week_label, weekly_report

    week = week_label(as_of)
    if as_of < week_bounds(week)[1] - pd.Timedelta(days=1):
        week = week_label(week_bounds(week)[0] - pd.Timedelta(days=1))
    targets_f = paths.data_dir() / "targets.yaml"
    try:
        rep = weekly_report(leads, events[events["ts"] <= as_of], week=week,
                            targets=read_targets(targets_f) if targets_f.is_file() else ())
    except ValueError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = rep.to_html(Path(tmp) / f"weekly-{week}.html")
        tracking.log_file(path, "report")
    met = int((rep.targets["status"] == "pass").sum()) if len(rep.targets) else 0
    loss = (f"; biggest loss against last week: {rep.loss['metric']} ({rep.loss['segment']})"
            if rep.loss else "")
    return (f"weekly-{week}.html",
            f"Weekly report {week}: {met} of {len(rep.targets)} targets met{loss}")


def register(sub) -> None:
    d = sub.add_parser("demo", help="the main job: funnel, segments and weekly report, logged")
    d.add_argument("--leads", type=positive_int, default=None,
                   help=f"make a fresh sample of N leads instead of reading data/ "
                        f"(default {SAMPLE_LEADS})")
    d.add_argument("--seed", type=int, default=None, help="seed for a fresh sample")
    d.add_argument("--as-of", type=timestamp, default=None,
                   help="compute the funnel as of this timestamp (UTC)")
    d.add_argument("--sim-leads", type=positive_int, default=600,
                   help="leads per variant of the demo's speed-to-lead simulation")
    d.set_defaults(func=cmd_demo)
