"""``nurturelab demo``: the main job on the embedded sample, logged to MLflow."""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

from nurturelab import paths
from nurturelab.cli.common import EXIT_INVALID, backend_for_files, positive_int, timestamp
from nurturelab.schema import read_export, summarize
from nurturelab.synthetic import SAMPLE_LEADS, SAMPLE_SEED


class StepLines:
    """A progress line per step on stderr, ``[2/6] what it does ... 1.2 s``: the step's text
    when it starts, its duration when the next one starts or at :meth:`close`.

    >>> import io
    >>> ticks = iter([0.0, 0.0, 1.25, 4.0])  # the clock at each call
    >>> out = io.StringIO()
    >>> steps = StepLines(2, stream=out, clock=lambda: next(ticks))
    >>> steps("reading the sample export")
    >>> steps("the funnel")
    >>> steps.close()
    4.0
    >>> print(out.getvalue(), end="")
    [1/2] reading the sample export ... 1.2 s
    [2/2] the funnel ... 2.8 s
    """

    def __init__(self, total: int, *, stream=None, clock=time.monotonic):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.began = clock()
        self.step = 0
        self.started: float | None = None

    def __call__(self, text: str) -> None:
        self.started = self._end()
        self.step += 1
        self.stream.write(f"[{self.step}/{self.total}] {text} ... ")
        self.stream.flush()

    def _end(self, how: str = "") -> float:
        now = self.clock()
        if self.started is not None:
            self.stream.write(f"{how}{now - self.started:.1f} s\n")
            self.stream.flush()
            self.started = None
        return now

    def close(self, *, failed: bool = False) -> float:
        """End the last step (``failed after ...`` if it did not finish); the seconds since
        the first began."""
        return self._end("failed after " if failed else "") - self.began


def cmd_demo(args: argparse.Namespace) -> int:
    from nurturelab.demo import sample_scenario_file

    # the libraries, the export, then main_job's steps: funnel, weekly report, logging and,
    # with the scenario file, the simulation (counted again from main_job_steps below)
    say = StepLines(5 + sample_scenario_file().is_file())
    say("loading the libraries, the funnel and the targets")
    try:
        return _demo(args, say)
    except BaseException:
        say.close(failed=True)
        raise


def _demo(args: argparse.Namespace, say: StepLines) -> int:
    from nurturelab import synthetic, tracking
    from nurturelab.demo import main_job, main_job_steps, sample_scenario_file
    from nurturelab.funnel import DEFAULT_FUNNEL, read_funnel
    from nurturelab.report import read_targets
    from nurturelab.scenario import read_scenario

    backend_for_files()
    try:
        funnel = read_funnel(args.funnel) if args.funnel else DEFAULT_FUNNEL
        targets_f = paths.data_dir() / "targets.yaml"
        targets = (read_targets(targets_f, funnel) if targets_f.is_file() and not args.funnel
                   else ())
    except (OSError, ValueError, TypeError, KeyError) as exc:
        say.close(failed=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    leads_f, events_f = paths.data_dir() / "leads.csv", paths.data_dir() / "events.csv"
    if args.leads is None and args.seed is None and leads_f.is_file() and events_f.is_file():
        origin = f"{leads_f.relative_to(paths.project_root())} + {events_f.name}"
        say(f"reading the sample export {origin} and validating it")
        leads, events = read_export(leads_f, events_f)
    else:
        n = args.leads or SAMPLE_LEADS
        seed = SAMPLE_SEED if args.seed is None else args.seed
        origin = f"synthetic.make_export(n_leads={n}, seed={seed})"
        say(f"making a fresh sample export of {n:,d} leads (seed {seed})")
        leads, events = synthetic.make_export(n_leads=n, seed=seed)
    scenario_file = sample_scenario_file()
    scenario = (read_scenario(scenario_file).with_overrides(leads=args.sim_leads)
                if scenario_file.is_file() else None)
    say.total = 2 + len(main_job_steps(leads, events, track=True, scenario=scenario))
    job = main_job(leads, events, origin=origin, as_of=args.as_of, funnel=funnel,
                   targets=targets, scenario=scenario, scenario_file=scenario_file,
                   progress=say)
    print(f"done in {say.close():.1f} s\n", file=sys.stderr, flush=True)

    pd.set_option("display.width", 120)
    print(f"Sample export: {origin} — validated against the data contract\n")
    print(summarize(leads, events), "\n")
    print(job.report, "\n")
    show = ["leads", "conversion", "conv_ci_low", "conv_ci_high", "opt_out_rate"]
    print("By route (high intent + high fit → immediate; low intent + high fit → educational):")
    print(job.segments["route"][show].to_string(float_format=lambda v: f"{v:.3f}"), "\n")
    print("Weekly cohorts (leads created that week):")
    print(job.report.weekly.drop(columns="week_start").round(1).to_string(), "\n")
    print(f"MLflow run {job.run_id} logged to {tracking.tracking_uri()}")
    print(f"Funnel chart: {job.artifact_uri}/figures/funnel.png")
    if job.weekly is not None:
        rep = job.weekly
        met = int((rep.targets["status"] == "pass").sum()) if len(rep.targets) else 0
        loss = (f"; biggest loss against last week: {rep.loss['metric']} "
                f"({rep.loss['segment']})" if rep.loss else "")
        print(f"Weekly report {rep.week}: {met} of {len(rep.targets)} targets met{loss}")
        print(f"Weekly report: {job.artifact_uri}/report/{job.weekly_file} "
              "(`nurturelab report` writes it where you are)")
    print()
    if job.simulation is not None:
        run = job.simulation
        print(f"Simulation: {scenario_file.relative_to(paths.project_root())} with "
              f"{args.sim_leads:,d} leads per variant (nurturelab simulate FILE for more)")
        cols = ["speed_median_min", "within_5min_pct", "contact_rate", "conversion_rate",
                "rep_utilisation"]
        print(run.summary[cols].to_string(float_format=lambda v: f"{v:,.3f}"))
        print(f"MLflow run {run.run_id} (scenario, with a child run per variant)")
    print("\nSee it all in the MLflow UI: make ui   (then open http://127.0.0.1:5000)")
    return 0


def register(sub) -> None:
    text = "the main job: funnel, segments and weekly report, logged"
    d = sub.add_parser("demo", help=text,
                       description=f"{text[0].upper()}{text[1:]} (on data/ unless --leads).")
    d.add_argument("--leads", type=positive_int, default=None,
                   help=f"make a fresh sample of N leads instead of reading data/ "
                        f"(default {SAMPLE_LEADS})")
    d.add_argument("--seed", type=int, default=None, help="seed for a fresh sample")
    d.add_argument("--as-of", type=timestamp, default=None,
                   help="compute the funnel as of this timestamp (UTC)")
    d.add_argument("--funnel", default=None, metavar="FILE",
                   help="the funnel's stages (YAML, see README); the sample's targets are "
                        "for the default funnel and are left out with another")
    d.add_argument("--sim-leads", type=positive_int, default=600,
                   help="leads per variant of the demo's speed-to-lead simulation")
    d.set_defaults(func=cmd_demo)
