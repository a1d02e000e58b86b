"""Simulated experiments: arms × replications with common random numbers, and sweeps at scale.

A simulated A/B test runs every arm (a :class:`~nurturelab.simulation.World`) once per
replication. Under common random numbers (the default) all arms of a replication share one seed,
so they meet the same leads with the same traits and the same random numbers at every cadence
step, and the difference between arms comes from the arms; the comparison is then paired by
replication. With ``crn=False`` every (arm, replication) gets its own stream, as independent
experiments would, which is what the variance reduction is measured against.

Runs are pure functions of (world, seed): the same seeds give the same results serially, with
joblib's processes on this machine, or on a Dask cluster — run :func:`sweep` or
:func:`run_experiment` inside ``joblib.parallel_config(backend="dask")`` with a
``dask.distributed.Client`` active, or pass ``client=``; nothing else changes. A cluster on this
machine is best bound to the loopback interface, so that neither its scheduler nor its dashboard
listens on the network (Dask's default dashboard listens on every interface, port 8787)::

    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        runs = sweep(worlds, replications=20, client=client)

:func:`arms_from_scenarios` turns scenario files into arms (what ``nurturelab compare`` runs),
:func:`log_experiment` logs a simulated experiment to MLflow, and :func:`ab_export` makes a
results table shaped like a real A/B export, for :func:`nurturelab.experiment.analyze`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nurturelab import tracking
from nurturelab.checks import is_number
from nurturelab.experiment.assignment import assign_hash
from nurturelab.experiment.statistics import decide, holm, holm_levels
from nurturelab.funnel import POSITIVE_RESPONSES, outcomes
from nurturelab.plots import axes
from nurturelab.result import Result, format_table
from nurturelab.scenario import BASELINE, Scenario
from nurturelab.simulation import World, kpis, simulate

__all__ = ["COUNTS", "SimExperiment", "ab_export", "arms_from_scenarios", "log_experiment",
           "replication_seeds", "run_experiment", "sweep"]

COUNTS = ("contacted", "replied", "qualified", "converted")
"""The outcome counts :func:`sweep` reports per run, next to the KPIs."""

_SUMMARY_COLUMNS = ("mean", "ci_low", "ci_high", "diff", "diff_low", "diff_high", "p_holm")
"""The columns of :attr:`SimExperiment.summary` its printed table shows."""

LOWER_IS_BETTER = frozenset({"speed_median_min", "speed_p90_min", "opt_out_rate",
                             "tasks_skipped_pct", "median_days_to_convert",
                             "touches_per_conversion", "queue_mean", "queue_max"})
"""KPIs for which a decrease is an improvement (the decisions call it "better")."""


def replication_seeds(seed: int, replications: int, arms: int = 1, *,
                      crn: bool = True) -> np.ndarray:
    """Seeds of shape (replications, arms): one per replication shared by every arm (CRN), or
    one per (replication, arm) when ``crn`` is False. Spawned from ``SeedSequence(seed)``.

    >>> s = replication_seeds(7, 3, 2)
    >>> s.shape, bool((s[:, 0] == s[:, 1]).all())
    ((3, 2), True)
    """
    if replications < 1 or arms < 1:
        raise ValueError(f"replication_seeds needs replications >= 1 and arms >= 1. Got "
                         f"{replications} and {arms}.")
    children = np.random.SeedSequence(seed).spawn(replications * (1 if crn else arms))
    flat = np.array([c.generate_state(1, dtype=np.uint32)[0] for c in children], dtype=np.int64)
    if crn:
        return np.repeat(flat[:, None], arms, axis=1)
    return flat.reshape(replications, arms)


def _one(name: str, world: World, seed: int) -> dict[str, Any]:
    """Run one world with one seed; return its KPIs and outcome counts (small, picklable)."""
    res = simulate(world, int(seed))
    out = outcomes(res.leads, res.events)
    ev = res.events
    answered = ev.loc[(ev["type"] == "response") & ev["name"].isin(POSITIVE_RESPONSES),
                      "lead_id"].unique()
    row: dict[str, Any] = {"arm": name, "seed": int(seed)}
    row.update(kpis(res, out))
    row["n"] = len(out)
    row["contacted"] = int(out["stage_index"].ge(1).sum())
    row["replied"] = int(out.index.isin(answered).sum())
    row["qualified"] = int(out["stage_index"].ge(2).sum())
    row["converted"] = int(out["converted"].sum())
    return row


def run_tasks(fn: Callable[..., Any], tasks: Sequence[tuple], n_jobs: int, client,
              progress: Callable[[int, int], None] | None) -> list[Any]:
    """``[fn(*t) for t in tasks]``, in task order: in this process (``n_jobs`` 1, no client),
    in joblib's processes, or on the Dask ``client``'s cluster, calling ``progress(done,
    total)`` as results come back. The results do not depend on where they ran."""
    from joblib import Parallel, delayed, parallel_config

    total = len(tasks)
    if n_jobs == 1 and client is None:
        out = []
        for k, t in enumerate(tasks):
            out.append(fn(*t))
            if progress:
                progress(k + 1, total)
        return out

    def go():
        gen = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(fn)(*t) for t in tasks)
        out = []
        for k, part in enumerate(gen):  # results come back in task order
            out.append(part)
            if progress:
                progress(k + 1, total)
        return out

    if client is not None:  # this client, not whichever Dask made the default
        with parallel_config(backend="dask", client=client):
            return go()
    return go()


def sweep(
    worlds: Mapping[str, World],
    *,
    replications: int = 1,
    seed: int = 0,
    crn: bool = True,
    n_jobs: int = 1,
    client=None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run every world × replication; return one row of KPIs and counts per run.

    Parameters
    ----------
    worlds : mapping of name -> World
        The grid (scenarios, arms, parameter values).
    replications : int
    seed : int
        Root seed; see :func:`replication_seeds`.
    crn : bool
        Common random numbers across worlds within a replication.
    n_jobs : int
        joblib workers on this machine (-1: all cores). Ignored when ``client`` is given.
    client : dask.distributed.Client, optional
        Run the tasks on this Dask cluster (through joblib's dask backend); see the module
        docstring for a local cluster bound to 127.0.0.1.
    progress : callable (done, total), optional
        Called after each run.

    Returns
    -------
    DataFrame with columns ``arm``, ``replication``, ``seed``, every KPI of
    :func:`nurturelab.simulation.kpis`, ``n`` and the outcome counts ``contacted``, ``replied``,
    ``qualified``, ``converted``. The same seeds give the same frame serially or in parallel.
    """
    if not worlds:
        raise ValueError("sweep needs at least one world")
    names = list(worlds)
    seeds = replication_seeds(seed, replications, len(names), crn=crn)
    tasks = [(name, worlds[name], int(seeds[r, k]))
             for r in range(replications) for k, name in enumerate(names)]
    rows = run_tasks(_one, tasks, n_jobs, client, progress)
    frame = pd.DataFrame(rows)
    frame.insert(1, "replication", np.repeat(np.arange(replications), len(names)))
    return frame


def _t_interval(x: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """The mean of ``x`` with its ``1 - alpha`` t interval (NaN limits with fewer than 2)."""
    x = np.asarray(x, dtype=float)
    m = float(np.mean(x))
    if len(x) < 2:
        return m, math.nan, math.nan
    half = stats.t.ppf(1 - alpha / 2, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x))
    return m, m - half, m + half


def _metric_rows(wide: pd.DataFrame, arms: list[str], control: str, metric: str,
                 alpha: float, threshold: float | None = None) -> list[dict[str, Any]]:
    """One row per arm for one metric (``wide``: replications × arms): the mean with its t
    interval and, for a treatment arm, the paired difference against the control with its t
    interval and p-value, Holm-adjusted across the arms (with the t interval at the level Holm
    tested the arm at), and the decision against ``threshold``."""
    rows = []
    for a in arms:
        mean, lo, hi = _t_interval(wide[a].to_numpy(), alpha)
        row = {"metric": metric, "arm": a, "replications": len(wide), "mean": mean,
               "ci_low": lo, "ci_high": hi}
        if a != control:
            d = (wide[a] - wide[control]).to_numpy()
            dm, dlo, dhi = _t_interval(d, alpha)
            # no spread across replications (too few, or identical arms under CRN): the t-test
            # is undefined, so no p-value rather than a false certainty
            if len(d) > 1 and np.std(d, ddof=1) > 0:
                test = stats.ttest_1samp(d, 0.0)
                t, p = float(test.statistic), float(test.pvalue)
            else:
                t = p = math.nan
            row.update(diff=dm, diff_low=dlo, diff_high=dhi, statistic=t, p_value=p)
        rows.append(row)
    tested = [r for r in rows if r["arm"] != control and not math.isnan(r["p_value"])]
    p_values = [r["p_value"] for r in tested]
    for r, p, level in zip(tested, holm(p_values), holm_levels(p_values, alpha), strict=True):
        r["p_holm"] = float(p)
        d = (wide[r["arm"]] - wide[control]).to_numpy()
        _, r["diff_low_holm"], r["diff_high_holm"] = _t_interval(d, float(level))
        r["decision"] = decide(r["diff"], r["diff_low_holm"], r["diff_high_holm"], threshold,
                               bool(p < alpha), higher_is_better=metric not in LOWER_IS_BETTER)
    for r in rows:
        if r["arm"] != control and "decision" not in r:
            r["decision"] = "not tested: no spread across replications"
    return rows


@dataclass(repr=False)
class SimExperiment(Result):
    """A simulated A/B test: per-run results, and their paired analysis against the control.

    ``runs`` has one row per (arm, replication). ``summary`` has, per (metric, arm), the mean over
    replications with a t interval, and for treatment arms the mean paired difference against
    the control with its t interval, the paired t-test's p-value and its Holm-adjusted value
    across arms. Replications are the unit of analysis: within one replication the arms share
    random numbers (CRN), so a per-lead binomial test would misstate the uncertainty.

    Attributes
    ----------
    runs : DataFrame
        From :func:`sweep`: ``arm``, ``replication`` and one column per metric at least.
    control : str
        The arm the others are compared with.
    crn : bool
        Whether the arms of a replication shared random numbers.
    alpha : float
        One minus the level of the intervals; the level of ``significant``.
    metrics : tuple of str
        The columns of ``runs`` analysed.
    variance_reduction : Series, optional
        Per metric, the variance of the paired differences under independent streams over
        their variance under CRN (set by :func:`run_experiment` when asked).
    thresholds : mapping metric -> float, optional
        The smallest difference that would matter, per metric, on the metric's scale (0.005
        for half a point of conversion rate, 2 for two minutes of speed to lead); the
        decisions of metrics without one rest on significance alone. Set after the run as
        ``exp.thresholds = {...}``; nothing is recomputed but the summary.
    """

    runs: pd.DataFrame
    control: str
    crn: bool
    alpha: float = 0.05
    metrics: tuple[str, ...] = ("contact_rate", "qualification_rate", "conversion_rate",
                                "speed_median_min", "within_5min_pct", "opt_out_rate")
    variance_reduction: pd.Series | None = None
    thresholds: Mapping[str, float] | None = None

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(self.runs["arm"]))

    @property
    def replications(self) -> int:
        """The number of replications of every arm."""
        return int(self.runs["replication"].nunique())

    @property
    def summary(self) -> pd.DataFrame:
        """Per (metric, arm): ``replications, mean, ci_low, ci_high`` and, for treatment arms,
        ``diff, diff_low, diff_high, p_value``, then ``p_holm`` and ``significant`` (``p_holm <
        alpha``) where any p-value could be computed, ``diff_low_holm, diff_high_holm`` (the t
        interval at the level Holm tested the arm at: it excludes 0 exactly when the arm is
        significant) and ``decision`` (:func:`~nurturelab.experiment.decide` on that interval,
        against the metric's threshold; "better" is lower for :data:`LOWER_IS_BETTER`)."""
        thresholds = dict(self.thresholds or {})
        unknown = sorted(set(thresholds) - set(self.metrics))
        if unknown:
            raise ValueError(f"SimExperiment 'thresholds' names metrics that are not analysed: "
                             f"{unknown}; the metrics are {list(self.metrics)}.")
        rows = []
        for m in self.metrics:
            wide = self.runs.pivot(index="replication", columns="arm", values=m)
            rows += _metric_rows(wide, self.arms, self.control, m, self.alpha,
                                 thresholds.get(m))
        t = pd.DataFrame(rows).set_index(["metric", "arm"])
        if "p_holm" in t:
            t["significant"] = t["p_holm"] < self.alpha
            holm_cols = ["diff_low_holm", "diff_high_holm"]
            t = t[[c for c in t.columns if c not in (*holm_cols, "decision")]
                  + holm_cols + ["decision"]]
        elif "decision" in t:
            t = t[[c for c in t.columns if c != "decision"] + ["decision"]]
        return t

    def to_frame(self) -> pd.DataFrame:
        """The summary as a flat table (``metric`` and ``arm`` as columns)."""
        return self.summary.reset_index()

    def _describe(self) -> str:
        return (f"{len(self.arms)} arms x {self.replications} replications, control "
                f"{self.control!r}, {'common' if self.crn else 'independent'} random numbers")

    def decisions(self) -> list[str]:
        """One line per (metric, treatment arm): the decision, and what it was decided
        against."""
        s = self.summary
        if "decision" not in s:
            return []
        thresholds = dict(self.thresholds or {})
        lines = []
        for (m, a), r in s.iterrows():
            if a == self.control:
                continue
            against = (f"threshold {thresholds[m]:g}" if m in thresholds
                       else "no threshold: significance only")
            lines.append(f"  {m}, {a}: {r['decision']} ({against})")
        return lines

    def to_text(self, decimals: int = 3, *, header: bool = True) -> str:
        """The header (the repr, unless ``header`` is False), the means and paired
        differences (``decimals`` places), the decisions, the variance reduction when
        measured, and how to read them, as :meth:`print_summary` prints them."""
        s = self.summary
        lines = [*(self._header() + [""] if header else []),
                 format_table(s[[c for c in _SUMMARY_COLUMNS if c in s]], decimals)]
        decided = self.decisions()
        if decided:
            given = ", ".join(f"{m} {t:g}" for m, t in (self.thresholds or {}).items())
            lines += ["", f"Decisions (Holm-adjusted intervals; practical thresholds: {given}):"
                          if given else "Decisions (Holm-adjusted intervals; no practical "
                                        "threshold was given, so on significance only):"]
            lines += decided
        if self.variance_reduction is not None:
            vr = ", ".join(f"{k} {v:.1f}x" for k, v in self.variance_reduction.items())
            lines += ["", f"variance of paired differences, independent / CRN: {vr}"]
        lines += ["", "Replications are the unit of analysis (paired by replication under "
                      "CRN); intervals are t intervals over replications."]
        if self.replications < 5:
            lines.append(f"Only {self.replications} replications: intervals are wide and "
                         "p-values unstable; use 10 or more to decide.")
        return "\n".join(lines)

    def plot(self, ax=None, metric: str = "conversion_rate"):
        """Each arm's mean with its interval, for one metric; returns the axes."""
        if metric not in self.metrics:
            raise ValueError(f"SimExperiment.plot 'metric' must be one of {list(self.metrics)}. "
                             f"Got {metric!r} instead.")
        ax = axes(ax, figsize=(6, 3.5))
        s = self.summary.loc[metric]
        y = np.arange(len(s))[::-1]
        ax.errorbar(s["mean"], y, xerr=[s["mean"] - s["ci_low"], s["ci_high"] - s["mean"]],
                    fmt="o", capsize=3)
        ax.set_yticks(y, list(s.index))
        ax.set_xlabel(f"{metric.replace('_', ' ')} (mean, {1 - self.alpha:.0%} t interval)")
        ax.set_title("Simulated experiment")
        return ax


def run_experiment(
    arms: Mapping[str, World],
    *,
    control: str | None = None,
    replications: int = 10,
    seed: int = 0,
    crn: bool = True,
    n_jobs: int = 1,
    client=None,
    alpha: float = 0.05,
    measure_variance_reduction: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SimExperiment:
    """Run a simulated A/B test of ``arms`` over ``replications`` and analyse it.

    ``control`` defaults to the first arm. With ``measure_variance_reduction`` the experiment is
    run a second time with independent streams and the ratio of the paired differences'
    variances (independent / CRN) is reported per metric. The other arguments are those of
    :func:`sweep`.

    Examples
    --------
    >>> from nurturelab.simulation import World
    >>> exp = run_experiment({"seed": World(leads=150), "instant": World(leads=150,
    ...                       cadence="instant")}, replications=3, seed=1)
    >>> exp.summary.loc[("contact_rate", "instant"), "replications"]
    np.int64(3)
    """
    if not arms:
        raise ValueError("run_experiment needs at least two arms")
    names = list(arms)
    if len(names) < 2:
        raise ValueError(f"run_experiment needs at least two arms. Got {names}.")
    control = control or names[0]
    if control not in arms:
        raise ValueError(f"run_experiment 'control' must be one of the arms {names}. Got "
                         f"{control!r} instead.")
    if not (is_number(replications) and float(replications).is_integer() and replications >= 2):
        raise ValueError(f"run_experiment 'replications' must be a whole number >= 2. Got "
                         f"{replications!r} instead.")
    replications = int(replications)
    runs = sweep(arms, replications=replications, seed=seed, crn=crn, n_jobs=n_jobs,
                 client=client, progress=progress)
    exp = SimExperiment(runs=runs, control=control, crn=crn, alpha=alpha)
    if measure_variance_reduction:
        other = sweep(arms, replications=replications, seed=seed, crn=not crn, n_jobs=n_jobs,
                      client=client)
        exp.variance_reduction = _variance_ratio(runs if crn else other,
                                                 other if crn else runs, control, exp.metrics)
    return exp


def _variance_ratio(crn_runs: pd.DataFrame, ind_runs: pd.DataFrame, control: str,
                    metrics: Sequence[str]) -> pd.Series:
    out = {}
    for m in metrics:
        v = []
        for runs in (ind_runs, crn_runs):
            w = runs.pivot(index="replication", columns="arm", values=m)
            d = w.drop(columns=control).sub(w[control], axis=0)
            v.append(float(np.nanmean(d.var(ddof=1))))
        out[m] = v[0] / v[1] if v[1] > 0 else math.inf
    return pd.Series(out, name="variance_ratio")


def arms_from_scenarios(scenarios: Sequence[Scenario],
                        files: Sequence[str | Path] | None = None) -> dict[str, World]:
    """The arms of a comparison of scenarios (what ``nurturelab compare FILE...`` runs).

    Parameters
    ----------
    scenarios : sequence of Scenario
        From :func:`nurturelab.scenario.read_scenario`, one per file.
    files : sequence of str or Path, optional
        The files the scenarios were read from, in the same order; with several scenarios, a
        scenario whose ``name`` an earlier one already took is named by its file's stem.

    Returns
    -------
    dict of arm name -> World
        One scenario: its baseline and its variants, named as in the file. Several: each
        scenario's baseline world, named by the scenario's ``name`` (or its file's stem).

    Raises
    ------
    ValueError
        If two scenarios give the same arm name even by their files' stems, or if there are
        fewer than two arms.

    Examples
    --------
    >>> from nurturelab.simulation import World
    >>> spacing = Scenario("spacing", {"baseline": World(), "stretched": World(leads=100)})
    >>> list(arms_from_scenarios([spacing]))
    ['baseline', 'stretched']
    >>> rival = Scenario("spacing", {"baseline": World(cadence="instant")})
    >>> list(arms_from_scenarios([spacing, rival], ["spacing.yaml", "spacing_v2.yaml"]))
    ['spacing', 'spacing_v2']
    """
    where = "arms_from_scenarios"
    scenarios = list(scenarios)
    bad = [s for s in scenarios if not isinstance(s, Scenario)]
    if bad:
        raise TypeError(f"{where} 'scenarios' must hold Scenario objects (from read_scenario). "
                        f"Got {type(bad[0]).__name__} instead.")
    stems = [None] * len(scenarios) if files is None else [Path(f).stem for f in files]
    if len(stems) != len(scenarios):
        raise ValueError(f"{where} 'files' must name one file per scenario ({len(scenarios)}). "
                         f"Got {len(stems)} instead.")
    if len(scenarios) == 1:  # one file: its baseline and variants are the arms
        arms = dict(scenarios[0].worlds)
    else:  # several files: each file's baseline world is an arm
        arms = {}
        for sc, stem in zip(scenarios, stems, strict=True):
            key = sc.name if sc.name not in arms or stem is None else stem
            if key in arms:
                raise ValueError(f"two files give the arm name {key!r}; compare different "
                                 "scenarios (each file's baseline world is an arm)")
            arms[key] = sc.worlds[BASELINE]
    if len(arms) < 2:
        raise ValueError("compare needs at least two arms (two files, or one file with "
                         "variants)")
    return arms


def log_experiment(exp: SimExperiment, name: str, *, params: Mapping[str, Any] | None = None,
                   sources: Sequence[Any] = ()) -> str:
    """Log a simulated experiment to MLflow (through :mod:`nurturelab.tracking`).

    A parent run named ``compare:<name>`` holds the parameters, the decision table, the paired
    differences as metrics, a chart of three metrics and the scenario files (``sources``); a
    child run per arm and replication holds its KPIs. The chart is drawn on a figure of its
    own, so no matplotlib backend is chosen or needed. Returns the parent's run id.
    """
    base = {"experiment": name, "control": exp.control, "arms": ",".join(exp.arms),
            "replications": exp.replications, "crn": exp.crn}
    with tracking.run(f"compare:{name}", params={**base, **dict(params or {})},
                      tags={"job": "compare"}) as parent:
        for src in sources:
            tracking.log_file(src, "scenarios")
        _log_replications(exp.runs)
        tracking.log_table(exp.to_frame(), "decision")
        s = exp.summary
        tracking.log_metrics({f"{m}.{a}.diff": v for (m, a), v in s.get("diff", {}).items()
                              if a != exp.control})
        if exp.variance_reduction is not None:
            tracking.log_metrics({f"variance_ratio.{k}": v
                                  for k, v in exp.variance_reduction.items()})
        tracking.log_figure(_arms_figure(exp), "arms")
        return parent.info.run_id


def _log_replications(runs: pd.DataFrame) -> None:
    """A nested run per (arm, replication) with its seed and its KPIs."""
    for _, row in runs.iterrows():
        with tracking.run(f"{row['arm']}#{row['replication']}", nested=True,
                          params={"arm": row["arm"], "replication": int(row["replication"]),
                                  "seed": int(row["seed"])},
                          tags={"arm": str(row["arm"])}):
            tracking.log_metrics({k: v for k, v in row.items()
                                  if k not in ("arm", "replication", "seed")})


def _arms_figure(exp: SimExperiment):
    """Contact, conversion and speed per arm, side by side, on a figure outside pyplot."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 3.5))
    for ax, m in zip(fig.subplots(1, 3), ("contact_rate", "conversion_rate", "speed_median_min"),
                     strict=True):
        exp.plot(ax=ax, metric=m)
        ax.set_title(m.replace("_", " "))
    fig.tight_layout()
    return fig


def ab_export(
    arms: Mapping[str, World],
    *,
    seed: int = 0,
    salt: str = "ab",
    weights: Sequence[float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A results table shaped like a real A/B export: each lead in exactly one arm.

    Every arm's world runs with the same seed (the same leads, common random numbers); each
    lead is then assigned to one arm by :func:`nurturelab.experiment.assign_hash` and keeps the
    events of that arm only. Returns ``(leads, events)`` in the data contract with an ``arm``
    column on both, ready for :func:`nurturelab.experiment.lead_table` and ``analyze``. Each arm
    is simulated at the full lead volume, so its reps carry the whole load, not their share.
    """
    names = list(arms)
    if len(names) < 2:
        raise ValueError(f"ab_export needs at least two arms. Got {names}.")
    sizes = {w.leads for w in arms.values()}
    if len(sizes) != 1:
        raise ValueError(f"ab_export arms must have the same number of leads. Got {sorted(sizes)}.")
    runs = {name: simulate(world, seed) for name, world in arms.items()}
    leads = runs[names[0]].leads.copy()
    leads["arm"] = assign_hash(leads["lead_id"], names, salt=salt, weights=weights).to_numpy()
    arm_of = leads.set_index("lead_id")["arm"]
    parts = []
    for name, res in runs.items():
        ev = res.events
        parts.append(ev[ev["lead_id"].map(arm_of).eq(name).to_numpy()].assign(arm=name))
    events = pd.concat(parts, ignore_index=True).sort_values(["ts", "lead_id"], kind="stable")
    return leads, events.reset_index(drop=True)
