"""The published speed-to-lead studies, reproduced from a world's own output.

The default world is meant to be a twin of the figures our users quote:

- the Lead Response Management study (Oldroyd with InsideSales.com and MIT, 2007): the odds of
  contacting a lead on a call made 5 minutes after it came in are about 100 times those of a
  call made after 30 minutes;
- HBR 2011 (Oldroyd, McElheran and Elkington, "The Short Life of Online Sales Leads", 1.25
  million leads): a lead first tried within an hour is about 7 times as likely to qualify as
  one first tried an hour later, and more than 60 times as likely as one first tried after 24
  hours or more.

:func:`published_benchmarks` measures each figure the way the studies did: it runs the world
with the first touch made at a fixed delay (every cadence touch anchored to creation moves with
it, and a team large enough that nobody queues), and reads contact and qualification from the
``leads`` and ``events`` tables with the same functions a real export goes through. A figure
passes when it lies within a factor of 2 of the study's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from nurturelab import plots
from nurturelab.result import Result
from nurturelab.simulation import World, simulate

__all__ = ["STUDIES", "PublishedBenchmarks", "Study", "published_benchmarks"]


@dataclass(frozen=True)
class Study:
    """One published figure: ``target`` is the ratio the study reports between the two delay
    bins (minutes from creation to the first touch, each a tuple of delays averaged over)."""

    name: str
    source: str
    measure: str  # "first_call_contact_odds" or "qualified_rate"
    near: tuple[float, ...]
    far: tuple[float, ...]
    target: float


STUDIES = (
    Study("contact odds, call at 5 min vs 30 min",
          "Lead Response Management study (MIT / InsideSales.com, 2007)",
          "first_call_contact_odds", (5.0,), (30.0,), 100.0),
    Study("qualified, first touch within 1 h vs 1-2 h",
          "Oldroyd, McElheran and Elkington, HBR 2011",
          "qualified_rate", (5.0, 15.0, 25.0, 35.0, 45.0, 55.0),
          (65.0, 75.0, 85.0, 95.0, 105.0, 115.0), 7.0),
    Study("qualified, first touch within 1 h vs 24 h or more",
          "Oldroyd, McElheran and Elkington, HBR 2011",
          "qualified_rate", (5.0, 15.0, 25.0, 35.0, 45.0, 55.0),
          (1440.0, 2160.0, 2880.0, 4320.0), 60.0),
)


@dataclass(frozen=True, repr=False)
class PublishedBenchmarks(Result):
    """Each study's figure as the world reproduces it: ``summary`` has one row per study with
    the measured ratio, its 95% interval, the study's figure, and whether the measured ratio
    lies within a factor of 2 of it; ``arms`` has the rates at every delay."""

    table: pd.DataFrame
    arms: pd.DataFrame
    leads_per_arm: int

    @property
    def summary(self) -> pd.DataFrame:
        return self.table

    @property
    def passed(self) -> bool:
        return bool(self.table["within_factor_2"].all())

    def _describe(self) -> str:
        ok = int(self.table["within_factor_2"].sum())
        return (f"{ok} of {len(self.table)} published figures within a factor of 2, "
                f"{self.leads_per_arm:,d} leads per delay under a day")

    def plot(self, ax=None):
        """Measured ratios against the studies' figures (log scale), with the factor-2 band."""
        ax = plots.axes(ax, figsize=(7, 3.2))
        y = np.arange(len(self.table))[::-1]
        t = self.table
        ax.errorbar(t["ratio"], y, xerr=[t["ratio"] - t["ci_low"], t["ci_high"] - t["ratio"]],
                    fmt="o", color="#3a7ca5", label="this world")
        ax.scatter(t["target"], y, marker="|", s=300, color="#c1440e", label="study")
        for yy, target in zip(y, t["target"], strict=True):
            ax.plot([target / 2, target * 2], [yy, yy], color="#c1440e", alpha=0.25, lw=8)
        ax.set_xscale("log")
        ax.set_yticks(y, list(t.index))
        ax.set_xlabel("ratio (near delay over far delay)")
        ax.legend(fontsize=8)
        return ax


def _measure(world: World, delay: float, seed: int) -> dict[str, float]:
    from nurturelab.funnel import outcomes
    from nurturelab.response import touch_table

    w = replace(world, cadence=world.cadence.delayed(delay * 60.0))
    res = simulate(w, seed)
    t = touch_table(res.leads, res.events)
    first = t.sort_values(["lead_id", "minutes"], kind="stable").groupby("lead_id").head(1)
    calls = first[first["channel"] == "call"]
    out = outcomes(res.leads, res.events)
    return {"delay_min": delay, "leads": len(out),
            "first_calls": len(calls), "first_call_contacts": int(calls["answered"].sum()),
            "qualified": int(out["stage_index"].ge(2).sum())}


def published_benchmarks(world: World | None = None, *, leads_per_arm: int = 4000,
                         late_factor: int = 5, seed: int = 0,
                         studies: tuple[Study, ...] = STUDIES) -> PublishedBenchmarks:
    """Reproduce the published speed-to-lead figures from ``world``'s own tables.

    Parameters
    ----------
    world : World, optional
        The world to measure (the default world when None). Its team is replaced by one that
        never queues (enough reps, round the clock) so that the delay to the first touch is
        the one set; its cadence is delayed by each study's delays in turn.
    leads_per_arm : int
        Leads simulated at each delay (the same leads, common random numbers).
    late_factor : int
        The delays where the measured event is rarest (a first call at 30 minutes, a first
        touch a day or more late: about one lead in a thousand qualifies there) run
        ``late_factor`` times as many leads: each ratio is only as precise as those counts.
    seed : int
        Root seed; every delay gets its own stream of it, so the delays are independent
        samples (pooling a bin's delays then adds information instead of repeating it).

    Returns
    -------
    PublishedBenchmarks
        For contact, the odds ratio of a connect on the first call (Woolf interval); for
        qualification, the ratio of the share of leads that qualified (Katz interval), each
        bin's counts pooled over its delays.
    """
    w = world or World()
    w = replace(w, warmup_days=0.0, tail_days=60.0,
                team=replace(w.team, reps=max(w.team.reps, 40), shift=None, queue="fifo",
                             patience_hours=24 * 365.0))
    delays = sorted({d for s in studies for d in s.near + s.far})
    rare = {d for s in studies if s.measure == "first_call_contact_odds" for d in s.far}
    sizes = {d: int(leads_per_arm) * (int(late_factor) if d >= 1440 or d in rare else 1)
             for d in delays}
    seeds = np.random.SeedSequence(seed).generate_state(len(delays))
    arms = pd.DataFrame([_measure(replace(w, leads=sizes[d]), d, int(k))
                         for d, k in zip(delays, seeds, strict=True)]).set_index("delay_min")
    rows = {}
    for s in studies:
        a, b = arms.loc[list(s.near)].sum(), arms.loc[list(s.far)].sum()
        if s.measure == "first_call_contact_odds":
            x1, n1, x2, n2 = (a["first_call_contacts"], a["first_calls"],
                              b["first_call_contacts"], b["first_calls"])
            x1, x2 = x1 + 0.5 * (x2 == 0), x2 + 0.5 * (x2 == 0)
            ratio = (x1 / (n1 - x1)) / (x2 / (n2 - x2))
            se = math.sqrt(1 / x1 + 1 / (n1 - x1) + 1 / x2 + 1 / (n2 - x2))
        else:
            x1, n1, x2, n2 = a["qualified"], a["leads"], b["qualified"], b["leads"]
            x2 = x2 + 0.5 * (x2 == 0)
            ratio = (x1 / n1) / (x2 / n2)
            se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
        rows[s.name] = {"ratio": ratio, "ci_low": ratio * math.exp(-1.96 * se),
                        "ci_high": ratio * math.exp(1.96 * se), "target": s.target,
                        "within_factor_2": bool(s.target / 2 <= ratio <= 2 * s.target),
                        "near_rate": x1 / n1, "far_rate": x2 / n2, "source": s.source}
    table = pd.DataFrame(rows).T.rename_axis("figure")
    for c in ("ratio", "ci_low", "ci_high", "target", "near_rate", "far_rate"):
        table[c] = table[c].astype(float)
    table["within_factor_2"] = table["within_factor_2"].astype(bool)
    return PublishedBenchmarks(table=table, arms=arms, leads_per_arm=int(leads_per_arm))
