"""``nurturelab simulate`` and ``nurturelab compare``: run scenario files, A/B-test worlds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nurturelab.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    Progress,
    at_least_two,
    backend_for_files,
    error_text,
    positive_int,
    tracking_uri,
)


def cmd_simulate(args: argparse.Namespace) -> int:
    from nurturelab.scenario import INCOMPLETE, read_scenario, run_scenario

    out = Path(args.out) if args.out else None
    try:
        scenario = read_scenario(args.file).with_overrides(leads=args.leads, seed=args.seed)
        if out is not None and out.exists() and not out.is_dir():
            raise ValueError(f"--out must be a folder for the tables; {out} is a file")
    except ValueError as exc:
        print(f"error: {error_text(exc)}", file=sys.stderr)
        return EXIT_INVALID
    sizes = {w.leads for w in scenario.worlds.values()}
    print(f"Scenario {scenario.name!r}: {len(scenario.worlds)} variant(s), "
          f"{', '.join(f'{n:,d}' for n in sorted(sizes))} leads each, seed {scenario.seed}"
          + (f"\n  {scenario.description}" if scenario.description else ""))
    if not args.no_track:
        backend_for_files()
    try:
        run = run_scenario(scenario, out=out, track=not args.no_track, source=Path(args.file),
                           progress=Progress())
    except OSError as exc:  # the tables could not be written: the run says FAILED
        if out is None:
            raise
        notes = "".join(f"\n  {error_text(n)}" for n in getattr(exc, "__notes__", []))
        print(f"error: cannot write the tables under {out}: {error_text(exc)}{notes}",
              file=sys.stderr)
        return EXIT_FAILED
    cols = ["speed_median_min", "speed_p90_min", "within_5min_pct", "contact_rate",
            "qualification_rate", "conversion_rate", "opt_out_rate", "rep_utilisation",
            "tasks_skipped_pct"]
    pd.set_option("display.width", 160)
    print()
    print(run.summary[cols].to_string(float_format=lambda v: f"{v:,.3f}"))
    if run.run_id:
        print(f"\nMLflow run {run.run_id} logged to {tracking_uri()}")
    if out is not None and not (out / INCOMPLETE).exists():
        print(f"Tables written under {out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from nurturelab.experiment import (
        SimExperiment,
        arms_from_scenarios,
        log_experiment,
        run_experiment,
    )
    from nurturelab.scenario import read_scenario

    try:
        scenarios = [read_scenario(f).with_overrides(leads=args.leads) for f in args.files]
        arms = arms_from_scenarios(scenarios, args.files)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.control is not None and args.control not in arms:
        print(f"error: --control must be one of the arms {list(arms)}. Got {args.control!r}.",
              file=sys.stderr)
        return EXIT_INVALID
    known = SimExperiment.__dataclass_fields__["metrics"].default
    unknown = sorted({m for m, _ in args.threshold or []} - set(known))
    if unknown:
        print(f"error: --threshold names metrics that compare does not analyse: {unknown}; "
              f"they are {list(known)}.", file=sys.stderr)
        return EXIT_INVALID
    name = scenarios[0].name if len(scenarios) == 1 else " vs ".join(arms)
    seed = scenarios[0].seed if args.seed is None else args.seed
    sizes = sorted({w.leads for w in arms.values()})
    if getattr(args, "interference", False):
        return _compare_interference(args, arms, name, seed)
    print(f"Comparing {len(arms)} arms ({', '.join(arms)}) over {args.replications} "
          f"replications of {', '.join(f'{n:,d}' for n in sizes)} leads, seed {seed}, "
          f"common random numbers")
    total = args.replications * len(arms) * (2 if args.variance_reduction else 1)
    bar = Progress(min_leads=0, unit="runs")
    exp = run_experiment(arms, control=args.control, replications=args.replications, seed=seed,
                         n_jobs=args.jobs, measure_variance_reduction=args.variance_reduction,
                         progress=lambda done, tot: bar("runs", done, tot) if total > 4 else None)
    exp.thresholds = dict(args.threshold or []) or None
    print()
    print(exp.to_text(header=False))
    if not args.no_track:
        backend_for_files()
        run_id = log_experiment(exp, name, params={"leads": ",".join(map(str, sizes)),
                                                   "seed": seed},
                                sources=[Path(f) for f in args.files])
        print(f"\nMLflow run {run_id} (a child run per arm and replication) logged to "
              f"{tracking_uri()}")
    return 0


def _compare_interference(args: argparse.Namespace, arms, name: str, seed: int) -> int:
    """``compare --interference``: the naive shared-team test, the designs that remove its
    bias and every arm's rollout, on the simulated world."""
    from nurturelab.experiment import common_world, interference_study, log_interference
    from nurturelab.simulation import DESIGNS

    if args.variance_reduction:
        print("error: --variance-reduction does not apply with --interference (its designs "
              "report their spread against the naive test's)", file=sys.stderr)
        return EXIT_INVALID
    try:  # the arms must share one world but for the cadence; checked before any run
        world = common_world(arms, "compare --interference")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID

    total = args.replications * (len(arms) + len(DESIGNS))
    print(f"Interference through shared reps: {len(arms)} arms ({', '.join(arms)}) on one team "
          f"of {world.team.reps} reps, {args.replications} replications of {world.leads:,d} "
          f"leads, seed {seed}: each arm rolled out, and the {', '.join(DESIGNS)} tests")
    bar = Progress(min_leads=0, unit="runs")
    study = interference_study(arms, control=args.control, replications=args.replications,
                               seed=seed, n_jobs=args.jobs,
                               progress=lambda done, tot: bar("runs", done, tot)
                               if total > 4 else None)
    print()
    print(study.to_text(header=False))
    if not args.no_track:
        backend_for_files()
        run_id = log_interference(study, name, params={"leads": world.leads, "seed": seed},
                                  sources=[Path(f) for f in args.files])
        print(f"\nMLflow run {run_id} logged to {tracking_uri()}")
    return 0


def register(sub) -> None:
    m = sub.add_parser("simulate", help="run a scenario file's variants through the SimPy world")
    m.add_argument("file", help="scenario YAML (see simulations/)")
    m.add_argument("--out", default=None, help="write leads.parquet and events.parquet here")
    m.add_argument("--leads", type=positive_int, default=None,
                   help="leads per variant (overrides the file)")
    m.add_argument("--seed", type=int, default=None, help="seed (overrides the file)")
    m.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    m.set_defaults(func=cmd_simulate)

    c = sub.add_parser("compare", help="a simulated A/B test of scenario files' worlds, "
                                       "replicated with common random numbers")
    c.add_argument("files", nargs="+", help="one scenario file (its variants are the arms) or "
                                            "several (each file's world is an arm)")
    c.add_argument("--replications", type=at_least_two, default=10,
                   help="replications of every arm (default 10)")
    c.add_argument("--leads", type=positive_int, default=None,
                   help="leads per arm and replication")
    c.add_argument("--seed", type=int, default=None, help="root seed (default: the first file's)")
    c.add_argument("--jobs", type=int, default=1, help="parallel processes (-1: every core)")
    c.add_argument("--control", default=None, help="the control arm (default: the first)")
    c.add_argument("--variance-reduction", action="store_true",
                   help="also run independent streams and report the variance reduction")
    c.add_argument("--threshold", type=_threshold, action="append", metavar="[METRIC=]VALUE",
                   help="the smallest difference that would matter, on the metric's scale "
                        "(0.005: half a point of conversion_rate, the default metric); the "
                        "decisions say whether an arm is better by at least that. Repeat for "
                        "other metrics (speed_median_min=2). Without it: significance only")
    c.add_argument("--interference", action="store_true",
                   help="measure the bias of a live test on one shared team: each arm rolled "
                        "out to all leads against the naive, split-team and switchback tests")
    c.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    c.set_defaults(func=cmd_compare)


def _threshold(text: str) -> tuple[str, float]:
    """``--threshold``'s value: ``VALUE`` (for conversion_rate) or ``METRIC=VALUE``."""
    metric, _, value = text.rpartition("=")
    try:
        v = float(value)
    except ValueError:
        v = float("nan")
    if not (v > 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, or METRIC=NUMBER such as "
                                         f"conversion_rate=0.005. Got {text!r}")
    return (metric or "conversion_rate"), v
