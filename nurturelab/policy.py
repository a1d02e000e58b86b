"""A cadence per segment within the team's rep hours: the policy, chosen on the simulated world.

Which cadence should each segment of leads (intent × fit band × source) get, when the reps'
weekly hours are limited? :func:`policy_study` answers on a (calibrated) world:

1. Every candidate cadence is **rolled out** to every lead (the plain
   :class:`~nurturelab.simulation.World` with that cadence), per replication with one seed
   shared by every candidate (common random numbers: the same leads, the same random numbers at
   every step). Per segment and candidate: leads, conversions per lead and rep minutes per lead
   (the ``duration_min`` of the team's touches: rows whose ``rep_id`` is a rep, the account
   executive's hand-off call excluded), with t intervals over replications.
2. The weekly value of an assignment of cadences to segments is the sum over segments of their
   conversions per week under their cadence; its weekly rep hours the sum of their rep minutes
   per week / 60. The assignment that maximises expected conversions per week within the budget
   is a small integer program (binary ``x[s, c]``, one cadence per segment, the hours within
   the budget) solved with :func:`scipy.optimize.milp` (HiGHS).
3. The **shadow price** of one more rep hour is the difference of the optimal values at the
   budget plus one hour and at the budget (the integer program has no dual; this difference is
   the honest figure). The LP relaxation's dual of the budget row is reported next to it, for
   reference.
4. The **best single cadence** within the budget (every segment on it), and the probability
   that the policy beats it. Judged on **fresh replications** (seeds the choice never saw;
   ``judge_replications``, as many as the choosing ones by default): the policy run as a whole
   and the single cadence rolled out, paired by seed, as the t posterior of the mean
   difference under a flat prior, ``P = F_t(mean / se; n - 1)``, next to the share of fresh
   replications the policy wins. Judged on the replications it was chosen on, the policy would
   be flattered by the noise it was chosen for (the winner's curse); that in-sample difference
   is still shown, labelled as such.
5. Because reps are shared, the estimates of the segments do not simply add up: a cadence that
   takes more rep time slows every other segment's touches. The chosen policy is **re-simulated
   as a whole** (:class:`~nurturelab.simulation.SharedWorld` with ``design="policy"``: each lead
   follows its segment's cadence, on one team), per replication with the same seeds, and its
   conversions and rep hours per week are compared with the sum of the segment estimates, paired
   by replication, with t intervals.

:func:`log_policy` logs a study to MLflow (what ``nurturelab policy`` does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from nurturelab import tracking
from nurturelab.cadence import Cadence, get_cadence
from nurturelab.experiment._args import positive, probability, whole_number
from nurturelab.experiment.simulated import replication_seeds, run_tasks
from nurturelab.funnel import outcomes
from nurturelab.plots import axes
from nurturelab.result import Result, format_table
from nurturelab.segments import segments as lead_segments
from nurturelab.simulation import POLICY, SEGMENT_COLUMNS, SharedWorld, World, simulate

__all__ = ["OBJECTIVES", "PolicyResult", "Solution", "log_policy", "policy_study",
           "solve_assignment"]

OBJECTIVES = ("converted", "qualified")
"""What a policy maximises per week: conversions (won) or qualified leads."""

WEEK = pd.Timedelta(days=7)


# --------------------------------------------------------------------------------------------
# The integer program
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Solution:
    """An assignment of one candidate per segment (``choice[s]``: the column index), its total
    value and cost, or ``feasible=False`` (``choice`` None) when no assignment fits."""

    feasible: bool
    choice: tuple[int, ...] | None
    value: float
    cost: float


def solve_assignment(value: np.ndarray, cost: np.ndarray,
                     budget: float | None = None) -> Solution:
    """The assignment of one column per row of ``value`` maximising the total value with the
    total ``cost`` within ``budget`` (none: unlimited), by :func:`scipy.optimize.milp`.

    Parameters
    ----------
    value, cost : array of shape (segments, candidates)
        Finite numbers; ``cost`` >= 0.
    budget : float, optional

    Examples
    --------
    >>> v = np.array([[1.0, 3.0], [2.0, 2.5]])
    >>> c = np.array([[1.0, 4.0], [1.0, 2.0]])
    >>> solve_assignment(v, c, budget=5.0).choice  # 3 + 2 at cost 5 beats 1 + 2.5 at cost 3
    (1, 0)
    >>> solve_assignment(v, c, budget=1.5).feasible
    False
    """
    value = np.asarray(value, dtype=float)
    cost = np.asarray(cost, dtype=float)
    if value.ndim != 2 or value.shape != cost.shape or value.size == 0:
        raise ValueError(f"solve_assignment needs 'value' and 'cost' of one shape (segments, "
                         f"candidates). Got {value.shape} and {cost.shape} instead.")
    if not (np.isfinite(value).all() and np.isfinite(cost).all()):
        raise ValueError("solve_assignment 'value' and 'cost' must be finite numbers")
    s, k = value.shape
    pick = np.kron(np.eye(s), np.ones(k))  # row s sums x[s, :]
    rows = [optimize.LinearConstraint(pick, 1, 1)]
    if budget is not None:
        rows.append(optimize.LinearConstraint(cost.ravel()[None, :], -np.inf, float(budget)))
    res = optimize.milp(-value.ravel(), constraints=rows, integrality=np.ones(s * k),
                        bounds=optimize.Bounds(0, 1))
    if res.status == 2 or res.x is None:  # infeasible
        return Solution(False, None, math.nan, math.nan)
    if res.status != 0:
        raise RuntimeError(f"solve_assignment: the integer program failed: {res.message}")
    x = np.round(res.x).reshape(s, k)
    choice = tuple(int(j) for j in x.argmax(axis=1))
    rows_ = np.arange(s)
    return Solution(True, choice, float(value[rows_, choice].sum()),
                    float(cost[rows_, choice].sum()))


def _lp_dual(value: np.ndarray, cost: np.ndarray, budget: float) -> float:
    """The LP relaxation's dual price of the budget row: value per extra hour (NaN if the
    relaxation is infeasible)."""
    s, k = value.shape
    res = optimize.linprog(-value.ravel(), A_ub=cost.ravel()[None, :], b_ub=[budget],
                           A_eq=np.kron(np.eye(s), np.ones(k)), b_eq=np.ones(s),
                           bounds=(0, 1), method="highs")
    if res.status != 0:
        return math.nan
    return float(-res.ineqlin.marginals[0])


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------
def _task(kind: str, arm: str, world: World | SharedWorld, seed: int, replication: int,
          by: tuple[str, ...], objective: str) -> pd.DataFrame:
    """One run: per segment (and, in a policy run, per arm), leads, outcomes and rep minutes,
    with the run's weeks of arrivals."""
    res = simulate(world, int(seed))
    leads, ev = res.leads, res.events
    out = outcomes(leads, ev).reindex(leads["lead_id"])
    reps = ev["rep_id"].astype("object").fillna("").str.startswith("rep_").to_numpy()
    minutes = (ev.loc[reps].groupby("lead_id")["duration_min"].sum()
               .reindex(leads["lead_id"], fill_value=0.0))
    seg = lead_segments(leads)
    frame = pd.DataFrame({c: seg[c].astype(str).to_numpy() for c in by})
    frame["segment"] = frame[list(by)].agg(" · ".join, axis=1)
    frame["arm"] = leads["arm"].to_numpy() if "arm" in leads else arm
    frame["leads"] = 1
    frame["value"] = (out["converted"].to_numpy(dtype=float) if objective == "converted"
                      else out["stage_index"].ge(2).to_numpy(dtype=float))
    frame["rep_minutes"] = minutes.to_numpy(dtype=float)
    g = frame.groupby(["segment", *by, "arm"], sort=True)[["leads", "value", "rep_minutes"]]
    table = g.sum().reset_index()
    span = leads["created_at"].max() - leads["created_at"].min()
    table["weeks"] = max(span / WEEK, 1.0 / 7)  # at least a day: a one-lead run has no span
    table.insert(0, "kind", kind)
    table.insert(0, "replication", replication)
    table["candidate"] = arm if kind in ("rollout", "judge_single") else table["arm"]
    return table.drop(columns="arm")


def _run(tasks: Sequence[tuple], n_jobs: int,
         progress: Callable[[int, int], None] | None, done: int, total: int) -> list:
    """``[_task(*t) for t in tasks]`` through the shared runner
    (:func:`~nurturelab.experiment.simulated.run_tasks`), ``progress`` counting from ``done``
    of the study's ``total`` runs."""
    step = None if progress is None else (lambda k, _n: progress(done + k, total))
    return run_tasks(_task, tasks, n_jobs, None, step)


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
def _t_interval(x: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Mean of ``x`` and its t interval (NaN bounds for fewer than two finite values)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    sem = float(x.std(ddof=1)) / math.sqrt(len(x))
    if sem == 0:
        return m, m, m
    lo, hi = stats.t.interval(1 - alpha, len(x) - 1, loc=m, scale=sem)
    return m, float(lo), float(hi)


def _p_better(d: np.ndarray) -> float:
    """P(mean difference > 0): the t posterior of the mean under a flat prior (0.5 when every
    difference is zero; 1 or 0 when they are all equal and non-zero)."""
    d = np.asarray(d, dtype=float)
    m = float(d.mean())
    sem = float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else math.nan
    if not np.isfinite(sem):
        return math.nan
    if sem == 0:
        return 0.5 if m == 0 else float(m > 0)
    return float(stats.t.cdf(m / sem, len(d) - 1))


@dataclass(repr=False)
class PolicyResult(Result):
    """A policy study: the candidates' rollouts per segment, the chosen assignment and the
    chosen policy re-simulated as a whole.

    Attributes
    ----------
    runs : DataFrame
        One row per (replication, kind, segment, candidate): ``kind`` ``"rollout"`` (the
        candidate given to every lead), ``"judge_policy"`` and ``"judge_single"`` (the policy
        as a whole and the best single cadence on the fresh replications, numbered after the
        choosing ones) or ``"policy"`` (the chosen policy run as a whole, each
        segment on its cadence); ``leads``, ``value`` (leads converted, or qualified),
        ``rep_minutes`` (the team's minutes on them) and ``weeks`` (of arrivals in the run).
    segment_by : tuple of str
    candidates : tuple of str
    budget : float or None
        Rep hours per week; None: unlimited.
    objective : str
    alpha : float
        One minus the level of the intervals.
    policy : dict of segment -> candidate, or None when no assignment fits the budget
    shadow_price, shadow_price_lp : float
        Conversions per week one more rep hour buys: the difference of the optimal values at
        the budget plus one hour and at the budget (integer program), and the LP relaxation's
        dual.
    best_single : str or None
        The best candidate given to every segment within the budget (None: none fits).
    team_hours : float
        The team's rep hours on shift per week (reps x shift hours x workdays), for context.
    """

    runs: pd.DataFrame
    segment_by: tuple[str, ...]
    candidates: tuple[str, ...]
    budget: float | None
    objective: str = "converted"
    alpha: float = 0.05
    policy: dict[str, str] | None = None
    shadow_price: float = math.nan
    shadow_price_lp: float = math.nan
    best_single: str | None = None
    team_hours: float = math.nan
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # ---- tables -----------------------------------------------------------------------------
    @property
    def replications(self) -> int:
        """Replications the policy was chosen on (the fresh ones that judge it not counted)."""
        return int(self.runs.loc[self.runs["kind"] == "rollout", "replication"].nunique())

    def _weekly(self, kind: str = "rollout") -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per replication (rows) and (segment, candidate) (columns): value and rep hours per
        week (zero where a replication has no lead of a segment)."""
        key = ("weekly", kind)
        if key not in self._cache:
            r = self.runs[self.runs["kind"] == kind].copy()
            r["v"] = r["value"] / r["weeks"]
            r["h"] = r["rep_minutes"] / 60 / r["weeks"]
            v = r.pivot_table(index="replication", columns=["segment", "candidate"], values="v",
                              aggfunc="sum", fill_value=0.0)
            h = r.pivot_table(index="replication", columns=["segment", "candidate"], values="h",
                              aggfunc="sum", fill_value=0.0)
            self._cache[key] = (v, h)
        return self._cache[key]

    @property
    def segment_names(self) -> list[str]:
        return sorted(self.runs.loc[self.runs["kind"] == "rollout", "segment"].unique())

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The integer program's ``value`` and ``cost`` (segments x candidates): mean value and
        rep hours per week over replications."""
        v, h = self._weekly()
        segs, cands = self.segment_names, list(self.candidates)
        cols = pd.MultiIndex.from_product([segs, cands])
        vv = v.reindex(columns=cols, fill_value=0.0).mean().to_numpy().reshape(len(segs), -1)
        hh = h.reindex(columns=cols, fill_value=0.0).mean().to_numpy().reshape(len(segs), -1)
        return vv, hh

    @property
    def by_candidate(self) -> pd.DataFrame:
        """Per (segment, candidate): leads per week, ``rate`` (value per lead) and
        ``rep_min_per_lead`` with t intervals over replications, value and rep hours per week,
        and whether the policy chose it."""
        r = self.runs[self.runs["kind"] == "rollout"]
        rows = []
        for (s, c), g in r.groupby(["segment", "candidate"], sort=True):
            rate = _t_interval((g["value"] / g["leads"]).to_numpy(), self.alpha)
            mins = _t_interval((g["rep_minutes"] / g["leads"]).to_numpy(), self.alpha)
            rows.append({
                "segment": s, "candidate": c,
                "leads_per_week": float((g["leads"] / g["weeks"]).mean()),
                "rate": rate[0], "rate_low": rate[1], "rate_high": rate[2],
                "rep_min_per_lead": mins[0], "min_low": mins[1], "min_high": mins[2],
                "value_per_week": float((g["value"] / g["weeks"]).mean()),
                "rep_hours_per_week": float((g["rep_minutes"] / 60 / g["weeks"]).mean()),
                "chosen": bool(self.policy is not None and self.policy.get(s) == c),
            })
        return pd.DataFrame(rows).set_index(["segment", "candidate"])

    def _assignment_series(self, assign: Mapping[str, str], kind: str = "rollout"
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Per replication: value and rep hours per week of ``assign`` from the segments'
        rollouts (the sum of segment estimates)."""
        v, h = self._weekly(kind)
        cols = [(s, assign[s]) for s in self.segment_names]
        idx = pd.MultiIndex.from_tuples(cols)
        return (v.reindex(columns=idx, fill_value=0.0).sum(axis=1).to_numpy(),
                h.reindex(columns=idx, fill_value=0.0).sum(axis=1).to_numpy())

    def _whole(self) -> tuple[np.ndarray, np.ndarray]:
        """Per replication: value and rep hours per week of the policy run as a whole."""
        v, h = self._weekly("policy")
        return v.sum(axis=1).to_numpy(), h.sum(axis=1).to_numpy()

    @property
    def comparison(self) -> pd.DataFrame:
        """Rows: the policy (sum of segment estimates), the policy re-simulated as a whole, the
        difference (whole minus sum, paired), the best single cadence, and the policy minus it
        (paired); columns ``value_per_week`` and ``rep_hours_per_week`` (mean over replications)
        with t intervals, and for the last row ``p_better`` and ``wins_pct``."""
        if self.policy is None:
            return pd.DataFrame(columns=["value_per_week", "value_low", "value_high",
                                         "rep_hours_per_week", "hours_low", "hours_high"])
        a = self.alpha
        pv, ph = self._assignment_series(self.policy)
        rows = {"policy (segment estimates)": (pv, ph)}
        if (self.runs["kind"] == "policy").any():
            wv, wh = self._whole()
            rows["policy re-simulated as a whole"] = (wv, wh)
            rows["whole minus segment estimates"] = (wv - pv, wh - ph)
        if self.best_single is not None:
            sv, sh = self._assignment_series({s: self.best_single for s in self.segment_names})
            rows[f"best single: {self.best_single}"] = (sv, sh)
            rows["policy minus best single"] = (pv - sv, ph - sh)
        if self.judged:
            jv, jh = self._weekly("judge_policy")
            kv, kh = self._weekly("judge_single")
            rows["fresh replications: policy minus best single"] = (
                (jv.sum(axis=1) - kv.sum(axis=1).reindex(jv.index)).to_numpy(),
                (jh.sum(axis=1) - kh.sum(axis=1).reindex(jh.index)).to_numpy())
        out = []
        for name, (v, h) in rows.items():
            mv, lv, hv = _t_interval(v, a)
            mh, lh, hh = _t_interval(h, a)
            out.append({"row": name, "value_per_week": mv, "value_low": lv, "value_high": hv,
                        "rep_hours_per_week": mh, "hours_low": lh, "hours_high": hh})
        frame = pd.DataFrame(out).set_index("row")
        if self.best_single is not None:
            row = ("fresh replications: policy minus best single" if self.judged
                   else "policy minus best single")
            d = rows[row][0]
            frame["p_better"] = math.nan
            frame["wins_pct"] = math.nan
            frame.loc[row, "p_better"] = self.p_better
            frame.loc[row, "wins_pct"] = float(100 * (d > 0).mean())
        return frame

    @property
    def judged(self) -> bool:
        """Whether the policy and the best single cadence were run on fresh replications."""
        return bool((self.runs["kind"] == "judge_policy").any()
                    and (self.runs["kind"] == "judge_single").any())

    def _judge(self) -> np.ndarray:
        """Per fresh replication: the policy run as a whole minus the best single cadence
        rolled out, in value per week (paired by seed)."""
        pv = self._weekly("judge_policy")[0].sum(axis=1)
        sv = self._weekly("judge_single")[0].sum(axis=1)
        return (pv - sv.reindex(pv.index)).to_numpy()

    @property
    def p_better(self) -> float:
        """P(the policy's mean value per week exceeds the best single cadence's): a t posterior
        (flat prior) of the mean paired difference. On the fresh replications when the study ran
        them (the default: the policy run as a whole against the best single cadence, on seeds
        the choice never saw); otherwise from the segment estimates on the replications the
        policy was chosen on, which is optimistic. NaN without a policy and a single cadence."""
        if self.policy is None or self.best_single is None:
            return math.nan
        if self.judged:
            return _p_better(self._judge())
        pv, _ = self._assignment_series(self.policy)
        sv, _ = self._assignment_series({s: self.best_single for s in self.segment_names})
        return _p_better(pv - sv)

    @property
    def expected_value(self) -> float:
        """The policy's value per week from the segment estimates (NaN when none fits)."""
        if self.policy is None:
            return math.nan
        return float(self._assignment_series(self.policy)[0].mean())

    @property
    def rep_hours(self) -> float:
        """The policy's rep hours per week from the segment estimates."""
        if self.policy is None:
            return math.nan
        return float(self._assignment_series(self.policy)[1].mean())

    @property
    def summary(self) -> pd.DataFrame:
        """Per segment, the chosen candidate: leads per week, ``rate`` (value per lead) and
        ``rep_min_per_lead`` with t intervals, value and rep hours per week. Empty when no
        assignment fits the budget (see :attr:`by_candidate` for every candidate)."""
        t = self.by_candidate.reset_index()
        if self.policy is None:
            return t.iloc[0:0].set_index("segment").drop(columns="chosen")
        return t[t["chosen"]].set_index("segment").drop(columns="chosen")

    def to_frame(self) -> pd.DataFrame:
        return self.by_candidate.reset_index()

    def _describe(self) -> str:
        budget = "unlimited" if self.budget is None else f"{self.budget:,.1f} rep h/week"
        chosen = ("no assignment fits the budget" if self.policy is None
                  else f"{self.expected_value:,.2f} {self.objective}/week at "
                       f"{self.rep_hours:,.1f} rep h/week")
        return (f"{len(self.segment_names)} segments ({', '.join(self.segment_by)}) x "
                f"{len(self.candidates)} candidates x {self.replications} replications, budget "
                f"{budget}: {chosen}")

    def to_text(self, decimals: int = 3) -> str:
        lines = [*self._header()]
        if np.isfinite(self.team_hours):
            lines.append(f"The team works {self.team_hours:,.0f} rep hours a week on shift.")
        if self.policy is None:
            _, cost = self.tables()
            lines += ["", f"No assignment fits the budget of {self.budget:,.1f} rep hours a "
                      f"week: the cheapest takes {cost.min(axis=1).sum():,.1f}. Raise the "
                      "budget or add a cheaper candidate.", "",
                      format_table(self.by_candidate, decimals)]
            return "\n".join(lines)
        cols = ["candidate", "leads_per_week", "rate", "rate_low", "rate_high",
                "rep_min_per_lead", "value_per_week", "rep_hours_per_week"]
        lines += ["", "Chosen policy:", format_table(self.summary.reset_index()[
            ["segment", *cols]].set_index("segment"), decimals), "",
            format_table(self.comparison, decimals), ""]
        if self.best_single is None:
            lines.append("No single cadence fits the budget for every segment.")
        else:
            same = all(c == self.best_single for c in self.policy.values())
            lines.append(f"The policy gives every segment {self.best_single!r}: it is the best "
                         "single cadence." if same else
                         f"P(policy better than all on {self.best_single!r}) = "
                         f"{self.p_better:.3f} " + (
                             "(the policy run as a whole against the single cadence on fresh "
                             "replications the choice never saw; paired, t posterior)."
                             if self.judged else
                             "(paired replications, t posterior; chosen on the same "
                             "replications, so optimistic)."))
        lines.append(f"Shadow price of one more rep hour: {self.shadow_price:,.4f} "
                     f"{self.objective}/week (integer program re-solved at budget + 1 h; LP "
                     f"relaxation dual {self.shadow_price_lp:,.4f}).")
        if "whole minus segment estimates" in self.comparison.index:
            d = self.comparison.loc["whole minus segment estimates"]
            lines.append(f"Run as a whole on one team, the policy differs from the sum of its "
                         f"segment estimates by {d['value_per_week']:+,.3f} {self.objective}/"
                         f"week [{d['value_low']:,.3f}, {d['value_high']:,.3f}] and "
                         f"{d['rep_hours_per_week']:+,.2f} rep h/week: shared reps.")
        if self.replications < 5:
            lines.append(f"Only {self.replications} replications: intervals are wide; use 10 "
                         "or more to decide.")
        return "\n".join(lines)

    def frontier(self, budgets: Sequence[float] | None = None) -> pd.DataFrame:
        """The best value per week at each budget (rep hours per week; by default 30 from the
        cheapest assignment to the dearest): ``budget, value, rep_hours, feasible``."""
        value, cost = self.tables()
        if budgets is None:
            lo, hi = cost.min(axis=1).sum(), cost.max(axis=1).sum()
            budgets = np.linspace(lo, max(hi, lo * 1.01 + 1e-9), 30)
        rows = []
        for b in budgets:
            s = solve_assignment(value, cost, float(b))
            rows.append({"budget": float(b), "value": s.value, "rep_hours": s.cost,
                         "feasible": s.feasible})
        return pd.DataFrame(rows)

    def plot(self, ax=None):
        """The best value per week against the budget (the frontier), each single cadence as a
        point, and the budget; returns the axes."""
        ax = axes(ax, figsize=(7, 4))
        f = self.frontier()
        ok = f[f["feasible"]]
        ax.step(ok["budget"], ok["value"], where="post", color="#3a7ca5",
                label="best policy at the budget")
        value, cost = self.tables()
        for j, c in enumerate(self.candidates):
            ax.plot(cost[:, j].sum(), value[:, j].sum(), "o", label=f"all on {c}")
        if self.budget is not None:
            ax.axvline(self.budget, color="#d1495b", ls="--", lw=1, label="budget")
        ax.set_xlabel("rep hours per week")
        ax.set_ylabel(f"{self.objective} per week")
        ax.set_title("A cadence per segment within the rep-hours budget")
        ax.legend(loc="best", fontsize=8)
        return ax


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------
def _candidates(candidates: Any, where: str) -> dict[str, Cadence]:
    if isinstance(candidates, str | Cadence):
        candidates = [candidates]
    if isinstance(candidates, Mapping):
        items = list(candidates.items())
    elif isinstance(candidates, Sequence):
        items = []
        for c in candidates:
            cad = get_cadence(c)
            items.append((cad.name, cad))
    else:
        raise TypeError(f"{where} 'candidates' must map names to cadences (or list cadences). "
                        f"Got {type(candidates).__name__} instead.")
    if not items:
        raise ValueError(f"{where} 'candidates' must name at least one cadence. Got an empty "
                         "set instead.")
    out: dict[str, Cadence] = {}
    for name, cad in items:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where} 'candidates' needs non-empty names. Got {name!r}.")
        if name in out:
            raise ValueError(f"{where} 'candidates' names {name!r} twice; give each cadence "
                             "its own name.")
        out[name] = get_cadence(cad)
    return out


def _team_hours(world: World) -> float:
    team = world.team
    hours = 24.0 if team.shift is None else team.shift[1] - team.shift[0]
    return float(team.reps * hours * len(team.workdays))


def policy_study(
    world: World,
    candidates: Mapping[str, Cadence | str] | Sequence[Cadence | str],
    *,
    segments: Sequence[str] = ("intent", "fit_band"),
    budget_rep_hours: float | None,
    replications: int = 10,
    seed: int = 0,
    n_jobs: int = 1,
    objective: str = "converted",
    resimulate: bool = True,
    judge_replications: int | None = None,
    alpha: float = 0.05,
    progress: Callable[[int, int], None] | None = None,
) -> PolicyResult:
    """Choose a cadence per segment that maximises conversions per week within a rep-hours
    budget, on a simulated world.

    Parameters
    ----------
    world : World
        Everything but the cadence (team, arrivals, response, size); its cadence is not used.
    candidates : mapping of name -> Cadence (or a built-in name or YAML path), or a list
        At least one.
    segments : sequence of str
        Segment columns, among ``intent``, ``fit_band`` and ``source``
        (:func:`nurturelab.segments.segments`).
    budget_rep_hours : float or None
        The team's rep hours per week the policy may use (> 0); None: unlimited.
    replications : int
        At least 2 (the intervals need spread); 10 or more to decide.
    seed : int
        Root seed (:func:`~nurturelab.experiment.replication_seeds`): every candidate and the
        policy run of a replication share its seed (common random numbers).
    n_jobs : int
        joblib processes (the same result as serially); -1 every core.
    objective : ``"converted"`` or ``"qualified"``
    resimulate : bool
        Run the chosen policy as a whole on one team (the default).
    judge_replications : int, optional
        Fresh replications (seeds the choice never saw; ``replications`` by default, 0 for
        none) on which the chosen policy, run as a whole, and the best single cadence are run
        again, paired by seed: ``p_better`` and the comparison's "fresh replications" row come
        from them, so choosing on noise does not flatter the policy. Needs ``resimulate``.
    alpha : float
        One minus the level of the intervals.
    progress : callable (done, total), optional

    Returns
    -------
    PolicyResult

    Examples
    --------
    >>> from nurturelab.simulation import Team
    >>> study = policy_study(World(leads=150, team=Team(reps=2)),
    ...                      ["seed_14_day", "email_only"], segments=("intent",),
    ...                      budget_rep_hours=None, replications=2, seed=1)
    >>> study  # doctest: +ELLIPSIS
    <PolicyResult: 3 segments (intent) x 2 candidates x 2 replications, budget unlimited: ...>
    >>> sorted(study.policy)
    ['high', 'low', 'medium']
    """
    where = "policy_study"
    if not isinstance(world, World):
        raise TypeError(f"{where} 'world' must be a World. Got {type(world).__name__} instead.")
    cands = _candidates(candidates, where)
    by = (segments,) if isinstance(segments, str) else tuple(segments)
    bad = [c for c in by if c not in SEGMENT_COLUMNS]
    if not by or bad or len(set(by)) != len(by):
        raise ValueError(f"{where} 'segments' must name distinct columns among "
                         f"{list(SEGMENT_COLUMNS)}. Got {list(by)!r} instead.")
    budget = None if budget_rep_hours is None else positive(budget_rep_hours,
                                                           "budget_rep_hours", where)
    replications = whole_number(replications, "replications", where, minimum=2)
    seed = whole_number(seed, "seed", where)
    if objective not in OBJECTIVES:
        raise ValueError(f"{where} 'objective' must be one of {list(OBJECTIVES)}. Got "
                         f"{objective!r} instead.")
    alpha = probability(alpha, "alpha", where)
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ValueError(f"{where} 'n_jobs' must be a whole number >= 1, or -1 for every core. "
                         f"Got {n_jobs!r} instead.")
    judge = replications if judge_replications is None else whole_number(
        judge_replications, "judge_replications", where, minimum=0)
    if judge == 1:
        raise ValueError(f"{where} 'judge_replications' must be 0 or at least 2 (the "
                         "comparison needs spread). Got 1 instead.")
    judge = judge if resimulate else 0
    names = list(cands)
    # the first `replications` seeds are the same whatever `judge` is (spawned children)
    all_seeds = replication_seeds(seed, replications + judge)[:, 0]
    seeds, fresh = all_seeds[:replications], all_seeds[replications:]
    total = replications * (len(names) + (1 if resimulate else 0)) + 2 * judge
    tasks = [("rollout", n, replace(world, cadence=cands[n]), int(s), r, by, objective)
             for r, s in enumerate(seeds) for n in names]
    parts = _run(tasks, n_jobs, progress, 0, total)
    result = PolicyResult(runs=pd.concat(parts, ignore_index=True), segment_by=by,
                          candidates=tuple(names), budget=budget, objective=objective,
                          alpha=alpha, team_hours=_team_hours(world))
    value, cost = result.tables()
    segs = result.segment_names
    sol = solve_assignment(value, cost, budget)
    if sol.feasible:
        result.policy = {s: names[j] for s, j in zip(segs, sol.choice, strict=True)}
        if budget is not None:
            more = solve_assignment(value, cost, budget + 1.0)
            result.shadow_price = more.value - sol.value
            result.shadow_price_lp = _lp_dual(value, cost, budget)
        else:
            result.shadow_price = result.shadow_price_lp = 0.0
    single = [(value[:, j].sum(), names[j]) for j in range(len(names))
              if budget is None or cost[:, j].sum() <= budget]
    result.best_single = max(single)[1] if single else None
    if sol.feasible and resimulate:
        used = list(dict.fromkeys(n for n in names if n in result.policy.values()))
        mapping = {}
        for s in segs:  # the segment's values, as SharedWorld keys them
            row = result.runs.loc[result.runs["segment"] == s, list(by)].iloc[0]
            mapping[tuple(str(row[c]) for c in by)] = result.policy[s]
        shared = SharedWorld(world, {n: cands[n] for n in used}, design=POLICY,
                             segment_by=by, policy=mapping)
        ptasks = [("policy", "", shared, int(s), r, by, objective) for r, s in enumerate(seeds)]
        if judge and result.best_single is not None:
            single = replace(world, cadence=cands[result.best_single])
            ptasks += [task for r, s in enumerate(fresh, start=replications) for task in (
                ("judge_policy", "", shared, int(s), r, by, objective),
                ("judge_single", result.best_single, single, int(s), r, by, objective))]
        parts += _run(ptasks, n_jobs, progress, len(tasks), total)
        result.runs = pd.concat(parts, ignore_index=True)
        result._cache.clear()
    return result


def log_policy(result: PolicyResult, name: str, *, params: Mapping[str, Any] | None = None,
               sources: Sequence[str | Path] = ()) -> str:
    """Log a study to MLflow (through :mod:`nurturelab.tracking`): a run named
    ``policy:<name>`` with the parameters, the chosen policy and every candidate's segment
    estimates as tables, the comparison, the metrics (``expected_<objective>_per_week``,
    ``rep_hours_per_week``, ``shadow_price``, ``p_better``, the whole-run gap) and the frontier
    chart. A failure inside marks the run FAILED. Returns the run's id."""
    base = {"segments": ",".join(result.segment_by), "candidates": ",".join(result.candidates),
            "budget_rep_hours": "unlimited" if result.budget is None else result.budget,
            "replications": result.replications, "objective": result.objective,
            "feasible": result.policy is not None}
    with tracking.run(f"policy:{name}", params={**base, **dict(params or {})},
                      tags={"job": "policy"}) as run:
        for src in sources:
            tracking.log_file(src, "scenarios")
        tracking.log_table(result.by_candidate, "segments_by_candidate")
        if result.policy is not None:
            tracking.log_table(result.summary, "policy")
            tracking.log_table(result.comparison, "comparison")
            comp = result.comparison
            metrics = {f"expected_{result.objective}_per_week": result.expected_value,
                       "rep_hours_per_week": result.rep_hours,
                       "shadow_price": result.shadow_price,
                       "shadow_price_lp": result.shadow_price_lp,
                       "p_better": result.p_better}
            if "whole minus segment estimates" in comp.index:
                d = comp.loc["whole minus segment estimates"]
                metrics["whole_minus_sum_value"] = d["value_per_week"]
                metrics["whole_minus_sum_rep_hours"] = d["rep_hours_per_week"]
            tracking.log_metrics(metrics)
        tracking.log_figure(_figure(result), "policy_frontier")
        return run.info.run_id


def _figure(result: PolicyResult):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    result.plot(ax=fig.subplots())
    fig.tight_layout()
    return fig
