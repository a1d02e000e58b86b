"""The ``nurturelab`` command.

::

    nurturelab demo                         # the main job on the embedded sample
    nurturelab validate --leads F --events F [--columns MAP.yaml]
    nurturelab sample --out DIR [--leads N] [--seed S]
    nurturelab simulate FILE [--out DIR] [--leads N] [--seed S] [--no-track]
    nurturelab compare FILE [FILE ...] [--replications R] [--leads N] [--jobs J] [--control ARM]
    nurturelab score fit --leads F --events F [--columns MAP.yaml] [--horizon-days D] ...
    nurturelab score apply --leads F --events F [--columns MAP.yaml] [--alias champion] ...
    nurturelab thresholds --leads F --events F --by capacity --capacity N [--scorer model] ...
    nurturelab audit --month 2026-10 [--model champion | --points [RULES.yaml]] [--out F.html]
    nurturelab report [--week 2026-W43] [--leads F --events F] [--targets T.yaml] [--out F.html]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nurturelab import paths
from nurturelab.schema import ExportError, read_column_map, read_export, summarize

SAMPLE_LEADS = 1500


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _at_least_two(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (the paired analysis needs "
                                         f"spread across replications), got {text!r}")
    return value


def _timestamp(text: str) -> str:
    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"must be a date or timestamp such as 2026-10-01 or 2026-10-01T12:00, got {text!r}"
        ) from None
    return text
SAMPLE_SEED = 7
EXIT_INVALID = 2


def _sample_files(folder: Path) -> tuple[Path, Path]:
    return folder / "leads.csv", folder / "events.csv"


def write_sample(
    out: Path, n_leads: int = SAMPLE_LEADS, seed: int = SAMPLE_SEED
) -> tuple[Path, Path]:
    """Write the sample export as ``leads.csv`` and ``events.csv`` (write, then rename)."""
    from nurturelab import synthetic

    leads, events = synthetic.make_export(n_leads=n_leads, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    targets = _sample_files(out)
    for frame, target in zip((leads, events), targets, strict=True):
        tmp = target.with_suffix(".csv.tmp")
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        tmp.replace(target)
    return targets


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        columns = read_column_map(args.columns) if args.columns else None
        leads, events = read_export(args.leads, args.events, columns)
    except ExportError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except ValueError as exc:  # a bad column map
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"OK: {args.leads} and {args.events} follow the nurturelab data contract\n")
    print(summarize(leads, events))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    for path in write_sample(Path(args.out), args.leads, args.seed):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nurturelab import plots, synthetic, tracking
    from nurturelab.funnel import funnel_report
    from nurturelab.segments import DEFAULT_ICP, segment_rates, segments

    leads_f, events_f = _sample_files(paths.data_dir())
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
        run = run_scenario(scenario, source=scenario_file)
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


class _Progress:
    """A one-line progress bar on stderr for runs long enough to need one."""

    def __init__(self, stream=None, min_leads: int = 20_000, unit: str = "leads",
                 tty_only: bool = True):
        self.stream = stream or sys.stderr
        self.min_leads = min_leads
        self.unit = unit
        self.last = None
        # a redirected stream gets no bar: carriage returns would clutter a log file
        self.on = not tty_only or bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, variant: str, done: int, total: int) -> None:
        if not self.on or total < self.min_leads:
            return
        pct = int(100 * done / max(total, 1))
        if (variant, pct) == self.last:
            return
        self.last = (variant, pct)
        bar = "#" * (pct // 5) + "." * (20 - pct // 5)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r  {variant:<24} [{bar}] {pct:3d}% of {total:,d} {self.unit}{end}")
        self.stream.flush()


def cmd_simulate(args: argparse.Namespace) -> int:
    from nurturelab.scenario import read_scenario, run_scenario

    try:
        scenario = read_scenario(args.file).with_overrides(leads=args.leads, seed=args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    sizes = {w.leads for w in scenario.worlds.values()}
    print(f"Scenario {scenario.name!r}: {len(scenario.worlds)} variant(s), "
          f"{', '.join(f'{n:,d}' for n in sorted(sizes))} leads each, seed {scenario.seed}"
          + (f"\n  {scenario.description}" if scenario.description else ""))
    run = run_scenario(scenario, out=Path(args.out) if args.out else None,
                       track=not args.no_track, source=Path(args.file),
                       progress=_Progress())
    cols = ["speed_median_min", "speed_p90_min", "within_5min_pct", "contact_rate",
            "qualification_rate", "conversion_rate", "opt_out_rate", "rep_utilisation",
            "tasks_skipped_pct"]
    pd.set_option("display.width", 160)
    print()
    print(run.summary[cols].to_string(float_format=lambda v: f"{v:,.3f}"))
    if run.run_id:
        print(f"\nMLflow run {run.run_id} logged to {_uri()}")
    if args.out:
        print(f"Tables written under {args.out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from nurturelab.scenario import read_scenario
    from nurturelab.sweep import log_experiment, run_experiment

    try:
        scenarios = [read_scenario(f).with_overrides(leads=args.leads) for f in args.files]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if len(scenarios) == 1:  # one file: its baseline and variants are the arms
        arms = dict(scenarios[0].worlds)
        name = scenarios[0].name
    else:  # several files: each file's baseline world is an arm
        arms = {}
        for sc, f in zip(scenarios, args.files, strict=True):
            key = sc.name if sc.name not in arms else Path(f).stem
            if key in arms:
                print(f"error: two files give the arm name {key!r}; compare different "
                      "scenarios (each file's baseline world is an arm)", file=sys.stderr)
                return EXIT_INVALID
            arms[key] = sc.worlds["baseline"]
        name = " vs ".join(arms)
    if len(arms) < 2:
        print("error: compare needs at least two arms (two files, or one file with variants)",
              file=sys.stderr)
        return EXIT_INVALID
    if args.control is not None and args.control not in arms:
        print(f"error: --control must be one of the arms {list(arms)}. Got {args.control!r}.",
              file=sys.stderr)
        return EXIT_INVALID
    seed = scenarios[0].seed if args.seed is None else args.seed
    sizes = sorted({w.leads for w in arms.values()})
    print(f"Comparing {len(arms)} arms ({', '.join(arms)}) over {args.replications} "
          f"replications of {', '.join(f'{n:,d}' for n in sizes)} leads, seed {seed}, "
          f"common random numbers")
    total = args.replications * len(arms) * (2 if args.variance_reduction else 1)
    bar = _Progress(min_leads=0, unit="runs")
    exp = run_experiment(arms, control=args.control, replications=args.replications, seed=seed,
                         n_jobs=args.jobs, measure_variance_reduction=args.variance_reduction,
                         progress=lambda done, tot: bar("runs", done, tot) if total > 4 else None)
    print()
    print(exp)
    if not args.no_track:
        run_id = log_experiment(exp, name, params={"leads": ",".join(map(str, sizes)),
                                                   "seed": seed},
                                sources=[Path(f) for f in args.files])
        print(f"\nMLflow run {run_id} (a child run per arm and replication) logged to {_uri()}")
    return 0


def _load(args: argparse.Namespace):
    columns = read_column_map(args.columns) if args.columns else None
    return read_export(args.leads, args.events, columns)


def cmd_score_fit(args: argparse.Namespace) -> int:
    from nurturelab.scoring import models

    if args.table:
        return _score_fit_table(args)
    if not (args.leads and args.events):
        print("error: give --leads and --events (an export), or --table (one row per lead with "
              "a converted flag)", file=sys.stderr)
        return EXIT_INVALID
    try:
        leads, events = _load(args)
    except (ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    horizon = pd.Timedelta(days=args.horizon_days)
    end = events["ts"].max()
    test_from = pd.Timestamp(args.test_from, tz="UTC") if args.test_from else end - horizon
    train_until = (pd.Timestamp(args.train_until, tz="UTC") if args.train_until
                   else test_from - horizon)
    try:
        split = models.temporal_split(leads, events, train_until=train_until,
                                      test_from=test_from, horizon_days=args.horizon_days)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if split.y_train.nunique() < 2 or split.y_test.nunique() < 2:
        print(f"error: the training ({train_until:%Y-%m-%d}) or test ({test_from:%Y-%m-%d}) "
              f"snapshot has no conversions within {args.horizon_days:g} days; choose other "
              "dates (--train-until, --test-from) or a longer --horizon-days", file=sys.stderr)
        return EXIT_INVALID
    model = models.LeadScoreModel(kind=args.kind).fit(split.X_train, split.y_train.to_numpy())
    p = model.predict_proba(split.X_test)[:, 1]
    metrics = models.evaluate(split.y_test.to_numpy(), p)
    try:
        comparison = models.compare_points(leads, events, train_until=train_until,
                                           test_from=test_from, horizon_days=args.horizon_days,
                                           model=models.LeadScoreModel(kind=args.kind),
                                           split=split)
    except ValueError as exc:  # learned points need an event that raises the odds
        print(f"note: no learned points to compare: {exc}", file=sys.stderr)
        comparison = pd.DataFrame({"auc": {"model": metrics["auc"]}})
    print(f"Trained on {len(split.y_train):,d} open leads at {train_until:%Y-%m-%d}, tested on "
          f"{len(split.y_test):,d} at {test_from:%Y-%m-%d} (converted within "
          f"{args.horizon_days:g} days)\n")
    print("holdout: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    print("\nAUC on the same holdout:")
    print(comparison.to_string(float_format=lambda v: f"{v:.3f}"))
    params = {"kind": args.kind, "horizon_days": args.horizon_days,
              "train_until": train_until.isoformat(), "test_from": test_from.isoformat(),
              "train_leads": len(split.y_train), "test_leads": len(split.y_test)}
    extra = {f"auc.{k}": v for k, v in comparison["auc"].items()}
    return _log_fit(model, split.X_test, split.y_test.to_numpy(), p, {**metrics, **extra},
                    params, args.alias,
                    {"learned_points": comparison.attrs.get("points", pd.DataFrame())})


def _log_fit(model, X_test, y_test, p, metrics, params, alias, tables=None) -> int:
    """One MLflow run for a fit: metrics, calibration and lift tables, the registered model."""
    from nurturelab import tracking
    from nurturelab.scoring import models

    with tracking.run("score-fit", params=params, tags={"job": "score"}) as run:
        tracking.log_metrics(metrics)
        tracking.log_table(models.calibration_table(y_test, p), "calibration")
        tracking.log_table(models.lift_table(y_test, p), "lift")
        for name, table in (tables or {}).items():
            tracking.log_table(table, name)
        _, version = tracking.log_model(model, X_test.reset_index(drop=True), alias=alias)
        run_id = run.info.run_id
    print(f"\nModel logged in run {run_id}, registered as {tracking.MODEL_NAME!r} version "
          f"{version} with alias {alias!r}")
    return 0


def _score_fit_table(args: argparse.Namespace) -> int:
    """Fit on a lead-level table: a stratified holdout (such a table carries no event times)."""
    import yaml
    from sklearn.model_selection import train_test_split

    from nurturelab.scoring import models

    try:
        columns = yaml.safe_load(Path(args.columns).read_text()) if args.columns else None
        X, y = models.read_lead_table(args.table, target=args.target, columns=columns,
                                      id_column=args.id, drop=args.drop or ())
    except (OSError, KeyError, ValueError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if y.nunique() < 2:
        print(f"error: {args.table}: {args.target!r} has a single value; nothing to learn",
              file=sys.stderr)
        return EXIT_INVALID
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    model = models.LeadScoreModel(kind=args.kind).fit(X_tr, y_tr.to_numpy())
    p = model.predict_proba(X_te)[:, 1]
    metrics = models.evaluate(y_te.to_numpy(), p)
    print(f"Trained on {len(y_tr):,d} leads of {args.table}, tested on a stratified holdout of "
          f"{len(y_te):,d} (no event times, so no later window to test on)\n")
    print("holdout: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    params = {"kind": args.kind, "table": Path(args.table).name, "target": args.target,
              "train_leads": len(y_tr), "test_leads": len(y_te), "validation": "stratified"}
    return _log_fit(model, X_te, y_te.to_numpy(), p, metrics, params, args.alias)


def cmd_score_apply(args: argparse.Namespace) -> int:
    from nurturelab import tracking
    from nurturelab.scoring.features import snapshot
    from nurturelab.scoring.points import scores

    try:
        leads, events = _load(args)
        model = tracking.load_model(args.alias)
    except (ExportError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    as_of = pd.Timestamp(args.as_of, tz="UTC") if args.as_of else events["ts"].max()
    from nurturelab.funnel import outcomes

    status = outcomes(leads, events, as_of=as_of)["status"].astype(str)
    X = snapshot(leads, events, as_of=as_of)
    X = X[status.reindex(X.index).eq("open").to_numpy()]  # whom to work today: open leads
    out = pd.DataFrame({"p_convert": model.predict_proba(X)[:, 1]}, index=X.index)
    out["points"] = scores(leads, events, as_of=as_of)["score"].reindex(out.index)
    out = out.sort_values("p_convert", ascending=False)
    print(f"Scored {len(out):,d} open leads as of {as_of:%Y-%m-%d %H:%M} UTC with "
          f"{tracking.MODEL_NAME}@{args.alias}\n")
    print(out.head(args.top).to_string(float_format=lambda v: f"{v:.3f}"))
    if args.out:
        target = Path(args.out)
        tmp = target.with_name(f".{target.name}.tmp")
        out.to_csv(tmp)
        tmp.replace(target)
        print(f"\nwrote {target}")
    return 0


def cmd_thresholds(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nurturelab import tracking
    from nurturelab.scoring.features import label, snapshot
    from nurturelab.scoring.points import scores
    from nurturelab.scoring.thresholds import choose_threshold

    need = {"capacity": ("capacity", "--capacity"), "precision": ("precision", "--precision"),
            "value": ("deal_value", "--deal-value")}[args.by]
    if not getattr(args, need[0]):
        print(f"error: --by {args.by} needs {need[1]}", file=sys.stderr)
        return EXIT_INVALID
    try:
        leads, events = _load(args)
        model = tracking.load_model(args.alias) if args.scorer == "model" else None
    except (ExportError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.horizon_days is None:  # the model's own outcome window, else 30 days
        args.horizon_days = 30.0
        if model is not None:
            mv = tracking.model_version(args.alias)
            fitted = tracking.run_params(mv.run_id) if mv.run_id else {}
            args.horizon_days = float(fitted.get("horizon_days", 30.0))
    as_of = (pd.Timestamp(args.as_of, tz="UTC") if args.as_of
             else events["ts"].max() - pd.Timedelta(days=args.horizon_days))
    y = label(leads, events, as_of=as_of, horizon_days=args.horizon_days)
    from nurturelab.funnel import outcomes

    # a threshold decides whom to work: choose it on the leads still open (not lost), the
    # population `score apply` ranks and `nurturelab audit` checks
    status = outcomes(leads, events, as_of=as_of)["status"].astype(str)
    y = y[status.reindex(y.index).eq("open").to_numpy()]
    if model is not None:
        X = snapshot(leads, events, as_of=as_of).loc[y.index]
        score = model.predict_proba(X)[:, 1]
    else:
        score = scores(leads, events, as_of=as_of)["score"].reindex(y.index).to_numpy()
    try:
        choice = choose_threshold(y.to_numpy(), score, days=args.horizon_days, by=args.by,
                                  capacity_per_day=args.capacity,
                                  target_precision=args.precision,
                                  deal_value=args.deal_value or 0.0, cost_per_lead=args.cost)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{len(y):,d} leads open (neither won nor lost) at {as_of:%Y-%m-%d}, scored by "
          f"{'the ' + args.alias + ' model' if model is not None else 'the default points'}; "
          f"{int(y.sum()):,d} converted within {args.horizon_days:g} days\n")
    cols = ["threshold", "flagged", "flagged_per_day", "precision", "recall"]
    if args.deal_value or args.cost:
        cols.append("expected_value")
    table = choice.table[cols]
    print(table.iloc[:: max(1, len(table) // 12)].to_string(index=False,
                                                         float_format=lambda v: f"{v:,.3f}"))
    print(f"\nchosen by {args.by}: threshold {choice.threshold:.4g}")
    shown = choice.ci if (args.deal_value or args.cost) else choice.ci.drop(
        index="expected_value")
    print(shown.to_string(float_format=lambda v: f"{v:,.3f}"))
    params = {"by": args.by, "scorer": args.scorer, "alias": args.alias, "as_of":
              as_of.isoformat(), "horizon_days": args.horizon_days, "capacity": args.capacity,
              "target_precision": args.precision, "deal_value": args.deal_value,
              "cost_per_lead": args.cost}
    with tracking.run("thresholds", params=params, tags={"job": "thresholds"}) as run:
        tracking.log_metrics({"threshold": choice.threshold,
                              **{f"{m}.{c}": v for m, row in choice.ci.iterrows()
                                 for c, v in row.items()}})
        tracking.log_table(choice.table, "thresholds")
        fig, ax = plt.subplots(figsize=(8, 4))
        choice.plot(ax=ax)
        fig.tight_layout()
        tracking.log_figure(fig, "thresholds")
        plt.close(fig)
        print(f"\nMLflow run {run.info.run_id} logged to {_uri()}")
        if model is not None:
            prec = choice.ci.loc["precision"]
            version = tracking.tag_model_version(args.alias, {
                "threshold": choice.threshold, "threshold.rule": args.by,
                "threshold.precision": prec["estimate"], "threshold.precision_low": prec["low"],
                "threshold.precision_high": prec["high"],
                "threshold.capacity_per_day": args.capacity if args.by == "capacity" else "",
                "threshold.days": args.horizon_days, "threshold.as_of": as_of.isoformat(),
                "threshold.run_id": run.info.run_id})
            print(f"recorded on {tracking.MODEL_NAME} version {version} (@{args.alias}); "
                  f"`nurturelab audit` checks against it")
    return 0


def _month(text: str) -> str:
    from nurturelab.scoring.audit import month_bounds

    try:
        month_bounds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


EXIT_AUDIT_FAILED = 1


def _threshold_tags(mv) -> dict:
    """The threshold recorded on a model version by ``nurturelab thresholds``."""
    tags = dict(mv.tags or {})
    out = {}
    for key, name in (("threshold", "threshold"), ("threshold.precision", "set_for"),
                      ("threshold.precision_low", "set_for_low"),
                      ("threshold.precision_high", "set_for_high"),
                      ("threshold.capacity_per_day", "capacity_per_day"),
                      ("threshold.days", "days")):
        try:
            value = float(tags[key])
        except (KeyError, ValueError):
            continue
        if pd.notna(value):
            out[name] = value
    if {"set_for", "set_for_low", "set_for_high"} <= set(out):
        out["set_for"] = (out["set_for"], out.pop("set_for_low"), out.pop("set_for_high"))
    return out


def cmd_audit(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from nurturelab import tracking
    from nurturelab.scoring import audit as A

    start, end = A.month_bounds(args.month)
    ref_start = (pd.Timestamp(start).tz_localize(None).to_period("M")
                 - args.reference_months).start_time.tz_localize("UTC")
    leads_f = args.leads or str(paths.data_dir() / "leads.csv")
    events_f = args.events or str(paths.data_dir() / "events.csv")
    recorded: dict = {}
    params = {"month": args.month, "reference_months": args.reference_months,
              "leads_file": Path(leads_f).name, "events_file": Path(events_f).name}
    try:
        columns = read_column_map(args.columns) if args.columns else None
        leads, events = read_export(leads_f, events_f, columns)
        if args.points is not None:
            from nurturelab.scoring.points import DEFAULT_RULES, read_point_rules

            scorer = read_point_rules(args.points) if args.points else DEFAULT_RULES
            scorer_name = f"points ({Path(args.points).name if args.points else 'default'})"
            horizon = args.horizon_days or 30.0
            params.update(scorer="points", rules=args.points or "default")
        else:
            mv = tracking.model_version(args.model)
            scorer = tracking.load_model(args.model)
            recorded = _threshold_tags(mv)
            fit_params = tracking.run_params(mv.run_id) if mv.run_id else {}
            horizon = args.horizon_days or float(fit_params.get("horizon_days", 30.0))
            scorer_name = f"{tracking.MODEL_NAME}@{args.model} (version {mv.version})"
            params.update(scorer="model", alias=args.model, model_version=mv.version)
            tags = dict(mv.tags or {})
            if recorded and "threshold.days" in tags:
                if abs(float(tags["threshold.days"]) - horizon) > 1e-9:
                    print(f"note: the threshold recorded on version {mv.version} was chosen "
                          f"for conversion within {float(tags['threshold.days']):g} days, this "
                          f"audit judges {horizon:g}; its precision and capacity are not used "
                          "(rerun `nurturelab thresholds` with the same --horizon-days)",
                          file=sys.stderr)
                    recorded = {"threshold": recorded["threshold"]} if args.threshold is None \
                        else {}
            if recorded.get("threshold") is not None:
                recorded["source"] = (f"recorded on version {mv.version}, chosen by "
                                      f"{tags.get('threshold.rule', '?')} at "
                                      f"{tags.get('threshold.as_of', '?')[:10]}")
    except (ExportError, ValueError, LookupError, OSError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    first, last = events["ts"].min(), events["ts"].max()
    until = pd.Timestamp(args.as_of, tz="UTC") if args.as_of else last
    if start > until or end <= first:
        print(f"error: {args.month} is outside the export: its events run from "
              f"{first:%Y-%m-%d} to {last:%Y-%m-%d}" + (f" (audited as of {until:%Y-%m-%d})"
                                                       if args.as_of else ""), file=sys.stderr)
        return EXIT_INVALID
    def times(first_month: pd.Timestamp, n: int) -> list:
        """Snapshots every --every-days from the first of each month."""
        out = []
        for k in range(n):
            a = (first_month.tz_localize(None).to_period("M") + k).start_time.tz_localize("UTC")
            out += list(A.snapshot_times(a, A.month_bounds(f"{a:%Y-%m}")[1],
                                         every_days=args.every_days))
        return out

    rows = {key: A.scored_snapshots(leads, events, scorer, times=t, horizon_days=horizon,
                                    observed_until=until)
            for key, t in (("reference", times(ref_start, args.reference_months)),
                           ("month", times(start, 1)))}
    months = (sorted({f"{t:%Y-%m}" for t in rows["reference"]["as_of"]})
              if len(rows["reference"]) else [])
    asked = f"{ref_start:%Y-%m}..{(start - pd.Timedelta(days=1)):%Y-%m}"
    ref_label = (months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}") if months \
        else asked
    if months and len(months) < args.reference_months:
        print(f"note: of the reference months {asked}, only {', '.join(months)} had open "
              "leads; the reference is those", file=sys.stderr)
    for key, label in (("month", args.month), ("reference", ref_label)):
        if not len(rows[key]):
            print(f"error: {label} has no open leads at its snapshots (every "
                  f"{args.every_days:g} days from the first of the month) in {leads_f}; the "
                  f"export's leads were created from {leads['created_at'].min():%Y-%m-%d} to "
                  f"{leads['created_at'].max():%Y-%m-%d}" + ("; use --reference-months"
                                                             if key == "reference" else ""),
                  file=sys.stderr)
            return EXIT_INVALID
    threshold = args.threshold if args.threshold is not None else recorded.get("threshold")
    source = ("given (--threshold)" if args.threshold is not None
              else recorded.get("source", "given"))
    rules = A.AuditRules(n_boot=args.n_boot)
    try:
        result = A.audit(rows["reference"], rows["month"], threshold=threshold,
                         set_for=recorded.get("set_for") if args.threshold is None else None,
                         capacity_per_day=args.capacity or recorded.get("capacity_per_day"),
                         days=recorded.get("days"), rules=rules, seed=args.seed,
                         labels=(ref_label, args.month), threshold_source=source)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    result.meta["scorer"] = scorer_name
    print(f"Audit of {args.month} against {ref_label}: {scorer_name}, conversion within "
          f"{horizon:g} days, threshold {result.meta['threshold']:.4g} "
          f"({result.meta['threshold_source']}); data until {until:%Y-%m-%d %H:%M} UTC\n")
    print(result.summary())
    out = Path(args.out or f"audit-{args.month}.html")
    params.update(horizon_days=horizon, threshold=result.meta["threshold"],
                  threshold_source=result.meta["threshold_source"], as_of=until.isoformat(),
                  n_boot=args.n_boot, seed=args.seed, every_days=args.every_days)
    if args.no_track:
        result.to_html(out)
    else:
        with tracking.run("audit", params=params, tags={"job": "audit",
                                                       "audit_status": result.status}) as run:
            result.to_html(out)
            checks = result.checks
            tracking.log_metrics({
                f"{g}.{c}".lower().replace(" ", "_"): v
                for g, c, v in zip(checks["group"], checks["check"], checks["value"],
                                   strict=True)})
            tracking.log_table(checks, "checks")
            tracking.log_table(result.drift, "drift")
            tracking.log_table(result.deciles, "deciles")
            tracking.log_file(out, "report")
            print(f"\nMLflow run {run.info.run_id} logged to {_uri()}")
    print(f"report: {out}  (overall: {result.status})")
    return EXIT_AUDIT_FAILED if result.status == "fail" else 0


def _week(text: str) -> str:
    from nurturelab.report import week_bounds

    if text == "last":
        return text
    try:
        week_bounds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def cmd_report(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from nurturelab import tracking
    from nurturelab.report import read_targets, week_bounds, week_label, weekly_report

    leads_f = args.leads or str(paths.data_dir() / "leads.csv")
    events_f = args.events or str(paths.data_dir() / "events.csv")
    targets_f = args.targets
    if targets_f is None and (paths.data_dir() / "targets.yaml").is_file():
        targets_f = str(paths.data_dir() / "targets.yaml")
    try:
        columns = read_column_map(args.columns) if args.columns else None
        leads, events = read_export(leads_f, events_f, columns)
        targets = read_targets(targets_f) if targets_f and targets_f != "none" else ()
        rules = None
        if args.points:
            from nurturelab.scoring.points import read_point_rules

            rules = read_point_rules(args.points)
        week = args.week
        if week == "last":  # the last week the export covers to its final day (Sunday)
            last = events["ts"].max()
            week = week_label(last)
            if last < week_bounds(week)[1] - pd.Timedelta(days=1):
                week = week_label(week_bounds(week)[0] - pd.Timedelta(days=1))
        report = weekly_report(leads, events, week=week, weeks=args.weeks, targets=targets,
                               threshold=args.threshold, rules=rules, cadence=args.cadence)
    except (ExportError, ValueError, KeyError, OSError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    pd.set_option("display.width", 160)
    print(f"Weekly report {week} (weeks {report.weeks[0]} to {week}; data until "
          f"{report.as_of:%Y-%m-%d %H:%M} UTC) from {Path(leads_f).name} + "
          f"{Path(events_f).name}\n")
    head = report.headline()[["metric_label", "this_week", "last_week", "change"]]
    print(head.to_string(float_format=lambda v: f"{v:,.3f}"))
    for name, why in report.unavailable.items():
        print(f"unavailable: {name}: {why}")
    if len(report.targets):
        print("\nTargets:")
        print(report.targets[["target", "segment", "goal", "value", "status", "trend",
                              "detail"]].to_string(index=False,
                                                   float_format=lambda v: f"{v:,.3f}"))
    if report.loss:
        lo = report.loss
        print(f"\nBiggest loss against last week: {lo['metric']} ({lo['segment']}) "
              f"{lo['before']:.1%} -> {lo['after']:.1%} over {lo['leads']:,d} leads")
    out = Path(args.out or f"weekly-{week}.html")
    if args.no_track:
        report.to_html(out)
    else:
        params = {"week": week, "weeks": args.weeks, "leads_file": Path(leads_f).name,
                  "events_file": Path(events_f).name,
                  "targets": Path(targets_f).name if targets_f else "none",
                  "threshold": args.threshold}
        with tracking.run("weekly-report", params=params, tags={"job": "report"}) as run:
            report.to_html(out)
            tracking.log_metrics({k: v for k, v in report.headline()["this_week"].items()})
            tracking.log_table(report.table, "metrics")
            if len(report.targets):
                tracking.log_table(report.targets, "targets")
            tracking.log_file(out, "report")
            print(f"\nMLflow run {run.info.run_id} logged to {_uri()}")
    print(f"report: {out}")
    return 0


def _uri() -> str:
    from nurturelab import tracking

    return tracking.tracking_uri()


def _sample_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--leads", default=None, help="leads file, CSV or Parquet (default: the "
                   "sample in data/); a simulation's leads.parquet works too")
    p.add_argument("--events", default=None, help="events file (default: the sample)")
    p.add_argument("--columns", default=None, help="column map (YAML) for the export's names")


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("nurturelab")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        ver = "unknown"
    p = argparse.ArgumentParser(
        prog="nurturelab",
        description="Test lead-nurturing practices with evidence: check a CRM export, read its "
                    "funnel, simulate cadences, and A/B-test them.")
    p.add_argument("--version", action="version", version=f"nurturelab {ver}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="the main job: funnel, segments and weekly report, logged")
    d.add_argument("--leads", type=_positive_int, default=None,
                   help=f"make a fresh sample of N leads instead of reading data/ "
                        f"(default {SAMPLE_LEADS})")
    d.add_argument("--seed", type=int, default=None, help="seed for a fresh sample")
    d.add_argument("--as-of", type=_timestamp, default=None,
                   help="compute the funnel as of this timestamp (UTC)")
    d.add_argument("--sim-leads", type=_positive_int, default=600,
                   help="leads per variant of the demo's speed-to-lead simulation")
    d.set_defaults(func=cmd_demo)

    v = sub.add_parser("validate", help="check a CRM export against the data contract")
    v.add_argument("--leads", required=True, help="leads file (.csv, .csv.gz or .parquet)")
    v.add_argument("--events", required=True, help="events file (.csv, .csv.gz or .parquet)")
    v.add_argument("--columns", default=None, help="column map (YAML) for the export's names")
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("sample", help="write the deterministic sample export as CSV")
    s.add_argument("--out", default=str(paths.data_dir()), help="folder (default: data/)")
    s.add_argument("--leads", type=_positive_int, default=SAMPLE_LEADS)
    s.add_argument("--seed", type=int, default=SAMPLE_SEED)
    s.set_defaults(func=cmd_sample)
    m = sub.add_parser("simulate", help="run a scenario file's variants through the SimPy world")
    m.add_argument("file", help="scenario YAML (see simulations/)")
    m.add_argument("--out", default=None, help="write leads.parquet and events.parquet here")
    m.add_argument("--leads", type=_positive_int, default=None,
                   help="leads per variant (overrides the file)")
    m.add_argument("--seed", type=int, default=None, help="seed (overrides the file)")
    m.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    m.set_defaults(func=cmd_simulate)

    c = sub.add_parser("compare", help="a simulated A/B test of scenario files' worlds, "
                                       "replicated with common random numbers")
    c.add_argument("files", nargs="+", help="one scenario file (its variants are the arms) or "
                                            "several (each file's world is an arm)")
    c.add_argument("--replications", type=_at_least_two, default=10,
                   help="replications of every arm (default 10)")
    c.add_argument("--leads", type=_positive_int, default=None,
                   help="leads per arm and replication")
    c.add_argument("--seed", type=int, default=None, help="root seed (default: the first file's)")
    c.add_argument("--jobs", type=int, default=1, help="parallel processes (-1: every core)")
    c.add_argument("--control", default=None, help="the control arm (default: the first)")
    c.add_argument("--variance-reduction", action="store_true",
                   help="also run independent streams and report the variance reduction")
    c.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    c.set_defaults(func=cmd_compare)

    th = sub.add_parser("thresholds", help="choose a score threshold by capacity, precision or "
                                           "value, on a later window's outcomes")
    th.add_argument("--leads", required=True, help="leads file")
    th.add_argument("--events", required=True, help="events file")
    th.add_argument("--columns", default=None, help="column map (YAML)")
    th.add_argument("--by", choices=["capacity", "precision", "value"], required=True)
    th.add_argument("--capacity", type=float, default=None,
                    help="leads the team can work a day (for --by capacity)")
    th.add_argument("--precision", type=float, default=None,
                    help="target precision (for --by precision)")
    th.add_argument("--deal-value", type=float, default=None, help="value of a won deal")
    th.add_argument("--cost", type=float, default=0.0, help="cost of working one lead")
    th.add_argument("--scorer", choices=["model", "points"], default="model",
                    help="the registered model (by --alias) or the default behaviour points")
    th.add_argument("--alias", default="champion", help="model alias (default champion)")
    th.add_argument("--horizon-days", type=float, default=None,
                    help="outcome window after the snapshot; flagged leads spread over it "
                         "(default: the model's, else 30)")
    th.add_argument("--as-of", type=_timestamp, default=None,
                    help="snapshot (default: last event - horizon)")
    th.set_defaults(func=cmd_thresholds)

    au = sub.add_parser("audit", help="the monthly scoring audit: drift, discrimination, "
                        "calibration, threshold, decay, stuck leads; an HTML report")
    au.add_argument("--month", type=_month, required=True, help="the month audited, YYYY-MM")
    au.add_argument("--model", default="champion",
                    help="registry alias of the model audited (default champion)")
    au.add_argument("--points", nargs="?", const="", default=None, metavar="RULES.yaml",
                    help="audit behaviour points instead of a model (default rules, or a file)")
    _sample_export_args(au)
    au.add_argument("--reference-months", type=_positive_int, default=3,
                    help="months before the audited one used as reference (default 3)")
    au.add_argument("--horizon-days", type=float, default=None,
                    help="outcome: conversion within this many days (default: the model's)")
    au.add_argument("--threshold", type=float, default=None,
                    help="flag score >= this (default: recorded by `nurturelab thresholds`)")
    au.add_argument("--capacity", type=float, default=None,
                    help="leads per day the team can work (default: recorded with the "
                         "threshold)")
    au.add_argument("--as-of", type=_timestamp, default=None,
                    help="audit as if the export were taken then (default: its last event)")
    au.add_argument("--every-days", type=float, default=7.0, help="days between snapshots")
    au.add_argument("--n-boot", type=_positive_int, default=200, help="bootstrap resamples")
    au.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    au.add_argument("--out", default=None, help="HTML report (default audit-YYYY-MM.html)")
    au.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    au.set_defaults(func=cmd_audit)

    rp = sub.add_parser("report", help="the weekly full-path report against the team's "
                        "targets; an HTML report")
    rp.add_argument("--week", type=_week, default="last",
                    help="ISO week, YYYY-Www (default: the last full week of the export)")
    _sample_export_args(rp)
    rp.add_argument("--targets", default=None,
                    help="targets YAML (default data/targets.yaml; 'none' for no targets)")
    rp.add_argument("--weeks", type=_positive_int, default=8, help="weeks shown (default 8)")
    rp.add_argument("--threshold", type=float, default=None,
                    help="score threshold (default: the point rules' own, else the 80th "
                         "percentile)")
    rp.add_argument("--points", default=None, metavar="RULES.yaml",
                    help="point rules (default: the built-in rules)")
    rp.add_argument("--cadence", default=None, metavar="NAME|FILE",
                    help="the cadence the team runs (built-in name or YAML): when steps are "
                         "due (default: the fastest tenth of the observed times)")
    rp.add_argument("--out", default=None, help="HTML report (default weekly-YYYY-Www.html)")
    rp.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    rp.set_defaults(func=cmd_report)

    sc = sub.add_parser("score", help="fit and apply the lead-scoring model")
    ssub = sc.add_subparsers(dest="score_command", required=True)
    for name, fn, text in (("fit", cmd_score_fit, "fit on an export, validate on a later "
                                                    "window, log and register the model"),
                           ("apply", cmd_score_apply, "score an export with a registered model")):
        q = ssub.add_parser(name, help=text)
        q.add_argument("--leads", required=name == "apply",
                       help="leads file (.csv, .csv.gz or .parquet)")
        q.add_argument("--events", required=name == "apply", help="events file")
        q.add_argument("--columns", default=None,
                       help="column map (YAML): the export map for --leads/--events; "
                            "{name: export column} for --table")
        q.set_defaults(func=fn)
        if name == "fit":
            q.add_argument("--horizon-days", type=float, default=30.0,
                           help="converted within this many days of a snapshot (default 30)")
            q.add_argument("--train-until", type=_timestamp, default=None,
                           help="training snapshot (default: test snapshot - horizon)")
            q.add_argument("--test-from", type=_timestamp, default=None,
                           help="test snapshot (default: last event - horizon)")
            q.add_argument("--kind", choices=["logistic", "hgb"], default="logistic")
            q.add_argument("--alias", default="challenger",
                           help="registry alias for the new version (default challenger)")
            q.add_argument("--table", default=None,
                           help="instead of an export: one row per lead with a converted flag "
                                "and attribute columns (CSV or Parquet)")
            q.add_argument("--target", default="converted",
                           help="the table's converted flag, after --columns renaming")
            q.add_argument("--id", default=None, help="the table's lead id column")
            q.add_argument("--drop", nargs="*", default=None,
                           help="table columns to keep out of the features")
        else:
            q.add_argument("--alias", default="champion", help="model alias (default champion)")
            q.add_argument("--as-of", type=_timestamp, default=None,
                           help="score as of this time (default: the last event)")
            q.add_argument("--top", type=_positive_int, default=10, help="leads to print")
            q.add_argument("--out", default=None, help="write every lead's scores to this CSV")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("\ninterrupted: the MLflow run is marked KILLED and no table was half-written",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
