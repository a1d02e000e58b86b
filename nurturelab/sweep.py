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
``dask.distributed.Client`` active, or pass ``client=``; nothing else changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nurturelab.simulation import World, kpis, simulate

__all__ = ["SimExperiment", "replication_seeds", "run_experiment", "sweep"]

COUNTS = ("contacted", "replied", "qualified", "converted")


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
    from nurturelab.funnel import outcomes

    res = simulate(world, int(seed))
    out = outcomes(res.leads, res.events)
    ev = res.events
    answered = ev.loc[(ev["type"] == "response") & ev["name"].isin(["connect", "reply"]),
                      "lead_id"].unique()
    row: dict[str, Any] = {"arm": name, "seed": int(seed)}
    row.update(kpis(res, out))
    row["n"] = len(out)
    row["contacted"] = int(out["stage_index"].ge(1).sum())
    row["replied"] = int(out.index.isin(answered).sum())
    row["qualified"] = int(out["stage_index"].ge(2).sum())
    row["converted"] = int(out["converted"].sum())
    return row


def _parallel(tasks: Sequence[tuple[str, World, int]], n_jobs: int, client,
              progress: Callable[[int, int], None] | None) -> list[dict[str, Any]]:
    from joblib import Parallel, delayed, parallel_config

    total = len(tasks)
    if n_jobs == 1 and client is None:
        rows = []
        for k, t in enumerate(tasks):
            rows.append(_one(*t))
            if progress:
                progress(k + 1, total)
        return rows

    def go():
        gen = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_one)(*t) for t in tasks)
        rows = []
        for k, row in enumerate(gen):  # results come back in task order
            rows.append(row)
            if progress:
                progress(k + 1, total)
        return rows

    if client is not None:
        with parallel_config(backend="dask"):
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
        Run the tasks on this Dask cluster (through joblib's dask backend).

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
    rows = _parallel(tasks, n_jobs, client, progress)
    frame = pd.DataFrame(rows)
    frame.insert(1, "replication", np.repeat(np.arange(replications), len(names)))
    return frame


def _t_interval(x: np.ndarray, alpha: float) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=float)
    m = float(np.mean(x))
    if len(x) < 2:
        return m, math.nan, math.nan
    half = stats.t.ppf(1 - alpha / 2, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x))
    return m, m - half, m + half


@dataclass
class SimExperiment:
    """A simulated A/B test: per-run results, and their paired analysis against the control.

    ``runs`` has one row per (arm, replication). ``summary`` has, per (metric, arm), the mean over
    replications with a t interval, and for treatment arms the mean paired difference against
    the control with its t interval, the paired t-test's p-value and its Holm-adjusted value
    across arms. Replications are the unit of analysis: within one replication the arms share
    random numbers (CRN), so a per-lead binomial test would misstate the uncertainty.
    """

    runs: pd.DataFrame
    control: str
    crn: bool
    alpha: float = 0.05
    metrics: tuple[str, ...] = ("contact_rate", "qualification_rate", "conversion_rate",
                                "speed_median_min", "within_5min_pct", "opt_out_rate")
    variance_reduction: pd.Series | None = field(default=None, repr=False)

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(self.runs["arm"]))

    @cached_property
    def summary(self) -> pd.DataFrame:
        from statsmodels.stats.multitest import multipletests

        rows = []
        wide = {m: self.runs.pivot(index="replication", columns="arm", values=m)
                for m in self.metrics}
        for m, w in wide.items():
            treat = [a for a in self.arms if a != self.control]
            pvals = []
            for a in self.arms:
                mean, lo, hi = _t_interval(w[a].to_numpy(), self.alpha)
                row = {"metric": m, "arm": a, "replications": len(w), "mean": mean,
                       "ci_low": lo, "ci_high": hi}
                if a != self.control:
                    d = (w[a] - w[self.control]).to_numpy()
                    dm, dlo, dhi = _t_interval(d, self.alpha)
                    # no spread across replications (too few, or identical arms under CRN):
                    # the t-test is undefined, so no p-value rather than a false certainty
                    if len(d) > 1 and np.std(d, ddof=1) > 0:
                        p = float(stats.ttest_1samp(d, 0.0).pvalue)
                    else:
                        p = math.nan
                    row.update(diff=dm, diff_low=dlo, diff_high=dhi, p_value=p)
                    pvals.append(p)
                rows.append(row)
            ok = [p for p in pvals if not math.isnan(p)]
            if ok:
                adj = iter(multipletests(ok, alpha=self.alpha, method="holm")[1])
                for row in rows[-len(self.arms):]:
                    if row["arm"] in treat and not math.isnan(row["p_value"]):
                        row["p_holm"] = float(next(adj))
        t = pd.DataFrame(rows).set_index(["metric", "arm"])
        if "p_holm" in t:
            t["significant"] = t["p_holm"] < self.alpha
        return t

    def to_frame(self) -> pd.DataFrame:
        return self.summary.reset_index()

    def __repr__(self) -> str:
        r = self.runs["replication"].nunique()
        return (f"<SimExperiment {len(self.arms)} arms x {r} replications, control "
                f"{self.control!r}, {'common' if self.crn else 'independent'} random numbers>")

    def __str__(self) -> str:
        s = self.summary
        cols = [c for c in ("mean", "ci_low", "ci_high", "diff", "diff_low", "diff_high",
                            "p_holm") if c in s]
        lines = [repr(self), "", s[cols].to_string(float_format=lambda v: f"{v:,.4g}",
                                                   na_rep="")]
        if self.variance_reduction is not None:
            vr = ", ".join(f"{k} {v:.1f}x" for k, v in self.variance_reduction.items())
            lines += ["", f"variance of paired differences, independent / CRN: {vr}"]
        lines += ["", "Replications are the unit of analysis (paired by replication under "
                      "CRN); intervals are t intervals over replications."]
        r = self.runs["replication"].nunique()
        if r < 5:
            lines.append(f"Only {r} replications: intervals are wide and p-values unstable; "
                         "use 10 or more to decide.")
        return "\n".join(lines)

    def plot(self, ax=None, metric: str = "conversion_rate"):
        """Each arm's mean with its interval, for one metric; returns the axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 3.5))
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
    variances (independent / CRN) is reported per metric.

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
    if not isinstance(replications, int) or replications < 2:
        raise ValueError(f"run_experiment 'replications' must be a whole number >= 2. Got "
                         f"{replications!r} instead.")
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


def log_experiment(exp: SimExperiment, name: str, *, params: Mapping[str, Any] | None = None,
                   sources: Sequence[Any] = ()) -> str:
    """Log a simulated experiment as an MLflow parent run (decision table, chart, the scenario
    files) with a child run per arm and replication (its KPIs). Returns the parent's run id."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nurturelab import tracking

    base = {"experiment": name, "control": exp.control, "arms": ",".join(exp.arms),
            "replications": int(exp.runs["replication"].nunique()), "crn": exp.crn}
    with tracking.run(f"compare:{name}", params={**base, **dict(params or {})},
                      tags={"job": "compare"}) as parent:
        for src in sources:
            tracking.log_file(src, "scenarios")
        for _, row in exp.runs.iterrows():
            with tracking.run(f"{row['arm']}#{row['replication']}", nested=True,
                              params={"arm": row["arm"], "replication": int(row["replication"]),
                                      "seed": int(row["seed"])},
                              tags={"arm": str(row["arm"])}):
                tracking.log_metrics({k: v for k, v in row.items()
                                      if k not in ("arm", "replication", "seed")})
        tracking.log_table(exp.to_frame(), "decision")
        s = exp.summary
        tracking.log_metrics({f"{m}.{a}.diff": v for (m, a), v in s.get("diff", {}).items()
                              if a != exp.control})
        if exp.variance_reduction is not None:
            tracking.log_metrics({f"variance_ratio.{k}": v
                                  for k, v in exp.variance_reduction.items()})
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
        for ax, m in zip(axes, ("contact_rate", "conversion_rate", "speed_median_min"),
                         strict=True):
            exp.plot(ax=ax, metric=m)
            ax.set_title(m.replace("_", " "))
        fig.tight_layout()
        tracking.log_figure(fig, "arms")
        plt.close(fig)
        return parent.info.run_id


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
    from nurturelab.experiment import assign_hash

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
