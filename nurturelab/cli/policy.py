"""``nurturelab policy``: a cadence per segment within the team's rep hours, on a scenario's
world."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from nurturelab.cli.common import (
    EXIT_INVALID,
    Progress,
    at_least_two,
    backend_for_files,
    error_text,
    positive_int,
    tracking_uri,
)


def _budget(text: str) -> float | None:
    if text.strip().lower() in ("none", "unlimited"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of rep hours per week > 0 (or "
                                         f"'unlimited'), got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of rep hours per week > 0 (or "
                                         f"'unlimited'), got {text!r}")
    return value


def cmd_policy(args: argparse.Namespace) -> int:
    from nurturelab.cadence import get_cadence
    from nurturelab.policy import log_policy, policy_study
    from nurturelab.scenario import BASELINE, read_scenario

    by = tuple(s.strip() for s in args.segments.split(",") if s.strip())
    try:
        scenario = read_scenario(args.scenario).with_overrides(leads=args.leads, seed=args.seed)
        world = scenario.worlds[BASELINE]
        cands = {}
        for c in args.candidates:
            cad = get_cadence(c)
            if cad.name in cands:
                raise ValueError(f"--candidates names the cadence {cad.name!r} twice")
            cands[cad.name] = cad
        seed = scenario.seed
        total = args.replications * (len(cands) + 1)
        print(f"Policy on {scenario.name!r}: {len(cands)} candidates ({', '.join(cands)}) per "
              f"segment of {', '.join(by)}, {args.replications} replications of "
              f"{world.leads:,d} leads, seed {seed}, budget "
              + ("unlimited" if args.budget_rep_hours is None
                 else f"{args.budget_rep_hours:,g} rep hours a week"))
        bar = Progress(min_leads=0, unit="runs")
        study = policy_study(world, cands, segments=by, budget_rep_hours=args.budget_rep_hours,
                             replications=args.replications, seed=seed, n_jobs=args.jobs,
                             progress=lambda done, tot: bar("runs", done, tot)
                             if total > 4 else None)
    except (ValueError, TypeError, OSError) as exc:
        print(f"error: {error_text(exc)}", file=sys.stderr)
        return EXIT_INVALID
    print()
    print(study.to_text())
    if not args.no_track:
        backend_for_files()
        run_id = log_policy(study, scenario.name,
                            params={"leads": world.leads, "seed": seed},
                            sources=[Path(args.scenario), *[Path(c) for c in args.candidates
                                                            if Path(c).is_file()]])
        print(f"\nMLflow run {run_id} logged to {tracking_uri()}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("policy", help="choose a cadence per segment within a weekly rep-hours "
                                      "budget, on a scenario's simulated world")
    p.add_argument("scenario", help="scenario YAML (its baseline world; see simulations/)")
    p.add_argument("--segments", default="intent,fit_band",
                   help="segment columns, comma-separated, among intent, fit_band, source "
                        "(default: intent,fit_band)")
    p.add_argument("--candidates", nargs="+", required=True,
                   help="candidate cadences: built-in names or YAML files")
    p.add_argument("--budget-rep-hours", type=_budget, required=True,
                   help="rep hours per week the policy may use (or 'unlimited')")
    p.add_argument("--replications", type=at_least_two, default=10,
                   help="replications per candidate (default 10)")
    p.add_argument("--leads", type=positive_int, default=None,
                   help="leads per run (overrides the file)")
    p.add_argument("--seed", type=int, default=None, help="root seed (overrides the file)")
    p.add_argument("--jobs", type=int, default=1, help="parallel processes (-1: every core)")
    p.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    p.set_defaults(func=cmd_policy)
