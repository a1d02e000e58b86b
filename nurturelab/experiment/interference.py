"""Interference through shared reps: how far a live test of cadences is from a full rollout.

In a live A/B test of cadences both arms share one team of reps. A cadence that takes more rep
time slows the other arm's touches (and its own), so the difference between the arms measured
within one shared run is not the difference a full rollout of each would make: the
lead-randomised estimate is biased (Johari, Li, Liskovich and Weintraub, "Experimental design
in two-sided platforms: an analysis of bias", Management Science 68(10), 2022, on experiments
under shared supply). The simulated world measures this bias directly, because it can run the
rollouts the live test cannot.

:func:`interference_study` runs, per replication and with one seed (common random numbers: the
same leads with the same random numbers at every step in every run of the replication):

* each arm **rolled out** to every lead (the ordinary :class:`~nurturelab.simulation.World`
  with the arm's cadence); the difference of two rollouts is the *global treatment effect*
  the decision is about;
* the **naive** test: one run, leads assigned to arms in permuted blocks, one shared team
  (:class:`~nurturelab.simulation.SharedWorld` with ``design="naive"``);
* designs that remove the bias: **split** (the team split into one pool per arm, leads
  assigned in proportion to each pool's reps, so every rep carries a rollout's load per rep)
  and **switchback** (every lead created on a day gets that day's arm; days randomised in
  balanced blocks; one team).

:class:`InterferenceResult` reports per metric, design and treatment arm: the mean estimate
(treatment minus control) with a t interval over replications, its bias against the rollout
difference (paired by replication, with a t interval), its standard deviation across
replications and that over the naive design's (the variance cost of removing the bias), and
whether it picks the rollout's winner.

:func:`log_interference` logs a study to MLflow (what ``nurturelab compare --interference``
does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nurturelab import tracking
from nurturelab.experiment._args import probability, whole_number
from nurturelab.experiment.simulated import replication_seeds, run_tasks
from nurturelab.funnel import outcomes, speed_to_first_touch
from nurturelab.plots import axes
from nurturelab.result import Result, format_table
from nurturelab.simulation import DESIGNS, SharedWorld, World, simulate

__all__ = ["INTERFERENCE_METRICS", "InterferenceResult", "common_world", "interference_study",
           "log_interference"]

INTERFERENCE_METRICS: dict[str, bool] = {
    "conversion_rate": True,
    "contact_rate": True,
    "qualification_rate": True,
    "speed_median_min": False,
    "within_5min_pct": True,
    "rep_minutes_per_lead": False,
}
"""The metrics measured per arm and run, each with whether higher is better (the winner)."""

ROLLOUT = "rollout"
"""The label of the rollouts' rows: each arm given to every lead (the truth a rollout gives)."""

_COLUMNS = ("estimate", "est_low", "est_high", "bias", "bias_low", "bias_high", "sd",
            "sd_vs_naive", "winner", "agree_pct")
"""The columns of :attr:`InterferenceResult.summary` its printed table shows."""


# --------------------------------------------------------------------------------------------
# One run's metrics per lead and per arm
# --------------------------------------------------------------------------------------------
def _per_lead(leads: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Per lead (in the order of ``leads``): converted, contacted, qualified (0/1), minutes to
    the first touch (NaN if none) and rep minutes spent on it."""
    out = outcomes(leads, events).reindex(leads["lead_id"])
    speed = speed_to_first_touch(leads, events).reindex(leads["lead_id"])
    reps = events["rep_id"].astype("object").fillna("").str.startswith("rep_").to_numpy()
    minutes = (events.loc[reps].groupby("lead_id")["duration_min"].sum()
               .reindex(leads["lead_id"], fill_value=0.0))
    return pd.DataFrame({
        "converted": out["converted"].to_numpy(dtype=float),
        "contacted": out["stage_index"].ge(1).to_numpy(dtype=float),
        "qualified": out["stage_index"].ge(2).to_numpy(dtype=float),
        "speed": speed.to_numpy(dtype=float),
        "rep_minutes": minutes.to_numpy(dtype=float),
    })


def _aggregate(lead: pd.DataFrame) -> dict[str, float]:
    """The metrics of :data:`INTERFERENCE_METRICS` over some leads' rows of :func:`_per_lead`."""
    speed = lead["speed"]
    return {
        "n": float(len(lead)),
        "conversion_rate": float(lead["converted"].mean()),
        "contact_rate": float(lead["contacted"].mean()),
        "qualification_rate": float(lead["qualified"].mean()),
        "speed_median_min": float(speed.median()),
        "within_5min_pct": float(100 * speed.le(5).mean()),
        "rep_minutes_per_lead": float(lead["rep_minutes"].mean()),
    }


def _task(kind: str, arm: str | None, world: World | SharedWorld, seed: int,
          replication: int) -> dict[str, Any]:
    """Run one world (a rollout of ``arm``, or a shared design) with one seed: its per-lead
    table (with each lead's ``arm`` in a shared run) and the key of the run."""
    res = simulate(world, int(seed))
    lead = _per_lead(res.leads, res.events)
    lead["arm"] = res.leads["arm"].to_numpy() if arm is None else arm
    return {"replication": replication, "seed": int(seed), "kind": kind, "arm": arm,
            "lead": lead}


def _tables(parts: list[dict[str, Any]], arms: Sequence[str]) -> tuple[pd.DataFrame,
                                                                        pd.DataFrame]:
    """``runs`` (per replication, kind and arm: the metrics within the run) and ``matched``
    (per replication, design and arm: the arm's rollout measured over the leads the design
    gave the arm)."""
    runs, matched = [], []
    rollout = {(p["replication"], p["arm"]): p["lead"] for p in parts if p["kind"] == ROLLOUT}
    for p in parts:
        key = {"replication": p["replication"], "seed": p["seed"], "kind": p["kind"]}
        lead = p["lead"]
        if p["kind"] == ROLLOUT:
            runs.append({**key, "arm": p["arm"], **_aggregate(lead)})
            continue
        which = lead["arm"].to_numpy()
        for a in arms:
            mine = which == a
            runs.append({**key, "arm": a, **_aggregate(lead[mine])})
            same = rollout[(p["replication"], a)]
            if len(same) != len(lead):  # the leads are the same in every run of a seed
                raise RuntimeError("a rollout and a shared run of one seed have different "
                                   "leads; common random numbers are broken")
            matched.append({**key, "arm": a, **_aggregate(same[mine])})
    return pd.DataFrame(runs), pd.DataFrame(matched)


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
def _t_interval(x: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """The mean of ``x`` and its t interval at level 1 - ``alpha`` (NaN bounds for fewer than
    two values; the mean itself when they are all equal)."""
    x = np.asarray(x, dtype=float)
    m = float(np.mean(x))
    if len(x) < 2:
        return m, math.nan, math.nan
    sem = float(np.std(x, ddof=1)) / math.sqrt(len(x))
    if sem == 0:
        return m, m, m
    lo, hi = stats.t.interval(1 - alpha, len(x) - 1, loc=m, scale=sem)
    return m, float(lo), float(hi)


def _winners(wide: pd.DataFrame, arms: list[str], higher: bool) -> pd.Series:
    """Per replication, the arm with the best value (``wide``: replications x arms)."""
    values = wide[arms].to_numpy(dtype=float)
    best = np.nanargmax(values, axis=1) if higher else np.nanargmin(values, axis=1)
    return pd.Series(np.asarray(arms, dtype=object)[best], index=wide.index)


@dataclass(repr=False)
class InterferenceResult(Result):
    """A study of interference: per replication, every arm rolled out and every design run.

    Attributes
    ----------
    runs : DataFrame
        One row per (replication, kind, arm): ``kind`` is ``"rollout"`` or a design
        (``"naive"``, ``"split"``, ``"switchback"``); ``n`` (leads in the arm) and one column
        per metric of :data:`INTERFERENCE_METRICS`.
    matched : DataFrame
        One row per (replication, design, arm) (the design in ``kind``): the arm's rollout
        measured over the leads the design put in the arm. The estimate's bias is measured
        against it (see :attr:`summary`).
    control : str
    arms : tuple of str
        In order, the control among them.
    designs : tuple of str
    metrics : tuple of str
        The metrics :attr:`summary` reports.
    alpha : float
        One minus the level of the intervals.
    reps : int
        The team's reps, for the header.
    """

    runs: pd.DataFrame
    matched: pd.DataFrame
    control: str
    arms: tuple[str, ...]
    designs: tuple[str, ...]
    metrics: tuple[str, ...] = ("conversion_rate", "contact_rate", "speed_median_min")
    alpha: float = 0.05
    reps: int | None = None

    @property
    def replications(self) -> int:
        return int(self.runs["replication"].nunique())

    def estimates(self, metric: str, *, matched: bool = False) -> pd.DataFrame:
        """Per replication (rows) and (kind, treatment arm) (columns): treatment minus
        control of ``metric`` within the run, or between the two rollouts; with ``matched``,
        between the rollouts over the leads each design gave each arm (no rollout columns)."""
        table = self.matched if matched else self.runs
        wide = table.pivot(index="replication", columns=["kind", "arm"], values=metric)
        cols = {}
        for kind in self.designs if matched else (ROLLOUT, *self.designs):
            for a in self.arms:
                if a != self.control:
                    cols[(kind, a)] = wide[(kind, a)] - wide[(kind, self.control)]
        return pd.DataFrame(cols)

    @property
    def summary(self) -> pd.DataFrame:
        """Per (metric, design, treatment arm), the rollouts first (design ``"rollout"``):
        ``estimate, est_low, est_high`` (mean treatment minus control, t interval over
        replications); ``bias, bias_low, bias_high`` (the estimate minus the rollouts'
        difference over the same leads: each lead's outcome in its own arm's rollout, paired by
        replication; the assignment is independent of the outcomes, so this has the expected
        value of the estimate minus the global treatment effect, with the lead-to-lead noise
        of the assignment cancelled by common random numbers); ``sd`` (of the estimate across
        replications) and
        ``sd_vs_naive``; ``winner`` (the arm with the best mean under the design, every arm
        counted), ``same_winner`` (the rollouts' winner too?) and ``agree_pct`` (replications
        whose winner is the rollouts' winner of that replication)."""
        rows = []
        kinds = (ROLLOUT, *self.designs)
        for m in self.metrics:
            higher = INTERFERENCE_METRICS[m]
            est = self.estimates(m)
            ref = self.estimates(m, matched=True)
            wide = self.runs.pivot(index="replication", columns=["kind", "arm"], values=m)
            win = {k: _winners(wide[k], list(self.arms), higher) for k in kinds}
            mean_win = {k: _winners(wide[k].mean().to_frame().T, list(self.arms),
                                    higher).iloc[0] for k in kinds}
            sd_naive = {a: float(est[("naive", a)].std(ddof=1)) if "naive" in self.designs
                        else math.nan for a in self.arms if a != self.control}
            for k in kinds:
                for a in self.arms:
                    if a == self.control:
                        continue
                    x = est[(k, a)].to_numpy(dtype=float)
                    mean, lo, hi = _t_interval(x, self.alpha)
                    row = {"metric": m, "design": k, "arm": a, "replications": len(x),
                           "estimate": mean, "est_low": lo, "est_high": hi}
                    if k == ROLLOUT:
                        row.update(bias=math.nan, bias_low=math.nan, bias_high=math.nan)
                    else:
                        b = x - ref[(k, a)].to_numpy(dtype=float)
                        bm, blo, bhi = _t_interval(b, self.alpha)
                        row.update(bias=bm, bias_low=blo, bias_high=bhi)
                    sd = float(np.std(x, ddof=1)) if len(x) > 1 else math.nan
                    row["sd"] = sd
                    row["sd_vs_naive"] = sd / sd_naive[a] if sd_naive[a] > 0 else math.nan
                    row["winner"] = mean_win[k]
                    row["same_winner"] = bool(mean_win[k] == mean_win[ROLLOUT])
                    row["agree_pct"] = float(100 * (win[k] == win[ROLLOUT]).mean())
                    rows.append(row)
        return pd.DataFrame(rows).set_index(["metric", "design", "arm"])

    def to_frame(self) -> pd.DataFrame:
        """The summary as a flat table (``metric``, ``design`` and ``arm`` as columns)."""
        return self.summary.reset_index()

    def _describe(self) -> str:
        team = f", {self.reps} reps" if self.reps is not None else ""
        return (f"{len(self.arms)} arms x {self.replications} replications{team}, control "
                f"{self.control!r}, designs {', '.join(self.designs)}")

    def to_text(self, decimals: int = 3, header: bool = True) -> str:
        """The header (the repr; left out when ``header`` is False, as the CLI prints it), the
        table (``decimals`` places) and how to read it."""
        s = self.summary
        lines = [*(self._header() if header else []), "",
                 format_table(s[list(_COLUMNS)], decimals), "",
                 "estimate: treatment minus control (t interval over replications). rollout: "
                 "each arm given to every lead, the difference a full rollout makes.",
                 "bias: the design's estimate minus the rollouts' difference over the same "
                 "leads (paired by lead and replication, common random numbers). sd_vs_naive: "
                 "the design's spread over the naive test's.",
                 "winner: the arm with the best mean under the design; agree_pct: replications "
                 "whose winner is the rollouts' winner."]
        flat = s.reset_index()
        truths = flat[flat["design"] == ROLLOUT].set_index("metric")["winner"]
        wrong = flat[~flat["same_winner"]]
        for _, r in wrong.drop_duplicates(["metric", "design"]).iterrows():
            truth = truths.loc[r["metric"]]
            truth = truth.iloc[0] if isinstance(truth, pd.Series) else truth
            lines.append(f"On {r['metric']}, the {r['design']} test picks {r['winner']!r}; a "
                         f"rollout picks {truth!r}.")
        if self.replications < 5:
            lines.append(f"Only {self.replications} replications: intervals are wide; use 10 "
                         "or more to decide.")
        return "\n".join(lines)

    def plot(self, ax=None, metric: str = "conversion_rate", arm: str | None = None):
        """Each design's estimate of ``arm`` minus the control (mean and interval) against the
        rollouts' difference (the line and its band); returns the axes."""
        if metric not in self.metrics:
            raise ValueError(f"InterferenceResult.plot 'metric' must be one of "
                             f"{list(self.metrics)}. Got {metric!r} instead.")
        treated = [a for a in self.arms if a != self.control]
        arm = treated[0] if arm is None else arm
        if arm not in treated:
            raise ValueError(f"InterferenceResult.plot 'arm' must be one of {treated}. Got "
                             f"{arm!r} instead.")
        ax = axes(ax, figsize=(7, 3.5))
        s = self.summary.xs(arm, level="arm").loc[metric]
        truth = s.loc[ROLLOUT]
        if np.isfinite(truth["est_low"]):
            ax.axvspan(truth["est_low"], truth["est_high"], color="#3a7ca5", alpha=0.15,
                       label="rollout difference (interval)")
        ax.axvline(truth["estimate"], color="#3a7ca5", lw=1.5)
        ax.axvline(0.0, color="0.5", lw=0.8, ls="--")
        y = np.arange(len(s))[::-1]
        err = [s["estimate"] - s["est_low"], s["est_high"] - s["estimate"]]
        ax.errorbar(s["estimate"], y, xerr=np.nan_to_num(np.asarray(err, dtype=float)),
                    fmt="o", capsize=3, color="#d1495b")
        ax.set_yticks(y, list(s.index))
        ax.set_xlabel(f"{metric.replace('_', ' ')}: {arm} minus {self.control} "
                      f"({1 - self.alpha:.0%} t interval)")
        ax.set_title("Live test designs against a full rollout")
        ax.legend(loc="best", fontsize=8)
        return ax


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------
def common_world(arms: Mapping[str, World], where: str = "common_world") -> World:
    """The one world a live test of ``arms`` runs in: the arms must differ in nothing but the
    cadence (``where`` names the caller in the error).

    Examples
    --------
    >>> from dataclasses import replace
    >>> from nurturelab.simulation import Team
    >>> base = World(team=Team(reps=3))
    >>> common_world({"a": base, "b": replace(base, cadence="front_loaded")}).team.reps
    3
    >>> common_world({"a": base, "b": World()})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: common_world arms must differ only in their cadence ... in ['team']. ...
    """
    if not isinstance(arms, Mapping) or len(arms) < 2:
        raise ValueError(f"{where} 'arms' must map two arm names or more to worlds. Got "
                         f"{arms!r} instead.")
    names = list(arms)
    bad = [n for n in names if not isinstance(arms[n], World)]
    if bad:
        raise TypeError(f"{where} 'arms' must map arm names to World objects. Got "
                        f"{type(arms[bad[0]]).__name__} for arm {bad[0]!r}.")
    ref = arms[names[0]]
    for n in names[1:]:
        w = arms[n]
        diff = [f.name for f in fields(World)
                if f.name != "cadence" and getattr(w, f.name) != getattr(ref, f.name)]
        if diff:
            raise ValueError(f"{where} arms must differ only in their cadence (the live test "
                             f"runs them in one world, on one team); arm {n!r} differs from "
                             f"{names[0]!r} in {diff}. Give arms that share everything else.")
    return ref


def interference_study(
    arms: Mapping[str, World],
    *,
    control: str | None = None,
    replications: int = 10,
    seed: int = 0,
    designs: Sequence[str] = DESIGNS,
    metrics: Sequence[str] = ("conversion_rate", "contact_rate", "speed_median_min"),
    n_jobs: int = 1,
    client=None,
    alpha: float = 0.05,
    progress: Callable[[int, int], None] | None = None,
) -> InterferenceResult:
    """Measure the bias of live tests of cadences on a shared team against full rollouts.

    Per replication, with one seed shared by every run of it (common random numbers), each
    arm is rolled out to all leads (its own world) and each design runs the arms in one
    :class:`~nurturelab.simulation.SharedWorld`.

    Parameters
    ----------
    arms : mapping of arm name -> World
        Two arms or more that differ only in their cadence (the team, arrivals and size are
        the one world the test runs in).
    control : str, optional
        The arm the others are compared with; the first by default.
    replications : int
        At least 2; 10 or more to decide.
    seed : int
        Root seed (see :func:`~nurturelab.experiment.replication_seeds`).
    designs : sequence of str
        Among ``"naive"`` (one team shared), ``"split"`` (the team split between the arms in
        proportion to their leads) and ``"switchback"`` (arms assigned by day of creation).
    metrics : sequence of str
        Reported in the summary, among :data:`INTERFERENCE_METRICS` (all are measured).
    n_jobs, client, progress :
        As in :func:`~nurturelab.experiment.sweep`: joblib processes (the same result as
        serially), a Dask client, and a callback (done, total) after each run.
    alpha : float
        One minus the level of the intervals.

    Returns
    -------
    InterferenceResult

    Examples
    --------
    >>> from dataclasses import replace
    >>> from nurturelab.simulation import Team, World
    >>> base = World(leads=150, team=Team(reps=2))
    >>> study = interference_study({"seed": base, "front": replace(base, cadence="front_loaded")},
    ...                            replications=2, seed=1, designs=("naive",))
    >>> study
    <InterferenceResult: 2 arms x 2 replications, 2 reps, control 'seed', designs naive>
    >>> study.summary.loc[("conversion_rate", "naive", "front"), "replications"]
    np.int64(2)
    """
    where = "interference_study"
    base = common_world(arms, where)
    names = list(arms)
    control = names[0] if control is None else control
    if control not in arms:
        raise ValueError(f"{where} 'control' must be one of the arms {names}. Got {control!r} "
                         "instead.")
    replications = whole_number(replications, "replications", where, minimum=2)
    if isinstance(designs, str):
        designs = (designs,)
    designs = tuple(dict.fromkeys(designs))
    bad = [d for d in designs if d not in DESIGNS]
    if not designs or bad:
        raise ValueError(f"{where} 'designs' must be among {list(DESIGNS)}. Got "
                         f"{list(designs)!r} instead.")
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    bad = [m for m in metrics if m not in INTERFERENCE_METRICS]
    if not metrics or bad:
        raise ValueError(f"{where} 'metrics' must be among {list(INTERFERENCE_METRICS)}. Got "
                         f"{list(metrics)!r} instead.")
    alpha = probability(alpha, "alpha", where)
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ValueError(f"{where} 'n_jobs' must be a whole number >= 1, or -1 for every core. "
                         f"Got {n_jobs!r} instead.")
    cadences = {n: arms[n].cadence for n in names}
    shared = {d: SharedWorld(base, cadences, design=d) for d in designs}
    seeds = replication_seeds(seed, replications)[:, 0]
    tasks = []
    for r, s in enumerate(seeds):
        tasks += [(ROLLOUT, n, arms[n], int(s), r) for n in names]
        tasks += [(d, None, shared[d], int(s), r) for d in designs]
    runs, matched = _tables(run_tasks(_task, tasks, n_jobs, client, progress), names)
    return InterferenceResult(runs=runs, matched=matched, control=control, arms=tuple(names),
                              designs=designs, metrics=metrics, alpha=alpha,
                              reps=base.team.reps)


def log_interference(result: InterferenceResult, name: str, *,
                     params: Mapping[str, Any] | None = None,
                     sources: Sequence[str | Path] = ()) -> str:
    """Log a study to MLflow (through :mod:`nurturelab.tracking`): a run named
    ``interference:<name>`` with the parameters, the summary and the per-run table, the
    estimates and biases as metrics (``<metric>.<design>.<arm>.estimate`` and ``.bias``), the
    chart of the first metric and the scenario files (``sources``). A failure inside marks the
    run FAILED. Returns the run's id."""
    base = {"experiment": name, "control": result.control, "arms": ",".join(result.arms),
            "designs": ",".join(result.designs), "replications": result.replications,
            "reps": result.reps}
    with tracking.run(f"interference:{name}", params={**base, **dict(params or {})},
                      tags={"job": "interference"}) as run:
        for src in sources:
            tracking.log_file(src, "scenarios")
        s = result.summary
        tracking.log_table(result.to_frame(), "interference")
        tracking.log_table(result.runs, "runs")
        tracking.log_table(result.matched, "matched_rollouts")
        values = {}
        for (m, d, a), row in s.iterrows():
            values[f"{m}.{d}.{a}.estimate"] = row["estimate"]
            if d != ROLLOUT:
                values[f"{m}.{d}.{a}.bias"] = row["bias"]
        tracking.log_metrics(values)
        tracking.log_figure(_figure(result), "interference")
        return run.info.run_id


def _figure(result: InterferenceResult):
    """The chart of :meth:`InterferenceResult.plot` for the first metric, outside pyplot."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.5))
    result.plot(ax=fig.subplots(), metric=result.metrics[0])
    fig.tight_layout()
    return fig
