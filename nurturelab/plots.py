"""The matplotlib figures the notebooks, the demo and the reports share.

Each function takes a table computed elsewhere, draws it on ``ax`` (a new figure when None) and
returns the axes. Computing and drawing stay apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["axes", "funnel_bars", "scenario_kpis", "segment_rates", "speed_histogram",
           "speed_curve", "weekly_cohorts"]


def axes(ax=None, figsize=(7, 4)):
    """``ax``, or the axes of a new figure of ``figsize`` when it is None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def funnel_bars(conversion: pd.DataFrame, ax=None):
    """Leads reaching each stage (from :func:`nurturelab.funnel.stage_conversion`)."""
    ax = axes(ax)
    stages = list(conversion.index)
    reached = conversion["reached"].to_numpy(dtype=float)
    y = np.arange(len(stages))[::-1]
    ax.barh(y, reached, color="#3a7ca5")
    ax.set_yticks(y, stages)
    top = reached[0] if len(reached) and reached[0] else 1
    for yi, r in zip(y, reached, strict=True):
        ax.text(r, yi, f" {int(r):,d} ({100 * r / top:.1f}%)", va="center", fontsize=9)
    ax.set_xlabel("leads that reached the stage")
    ax.set_xlim(0, top * 1.3)
    ax.set_title("Funnel")
    return ax


def weekly_cohorts(weekly: pd.DataFrame, ax=None, columns=None):
    """Percent of each weekly cohort reaching milestones (from ``weekly_cohorts``)."""
    ax = axes(ax)
    cols = columns or [c for c in weekly.columns if c.startswith("pct_")]
    for c in cols:
        ax.plot(weekly.index.astype(str), weekly[c], marker="o", label=c.removeprefix("pct_"))
    ax.set_ylabel("% of the week's leads")
    ax.set_xlabel("week created")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize=8, ncols=2)
    ax.set_title("Weekly cohorts")
    return ax


def speed_histogram(speed_minutes: pd.Series, ax=None, target: float = 5.0):
    """Distribution of minutes to first touch on a log scale, with the target marked."""
    ax = axes(ax)
    s = speed_minutes.dropna()
    s = s[s > 0]
    if len(s):
        bins = np.logspace(np.log10(max(s.min(), 0.1)), np.log10(s.max() + 1), 40)
        ax.hist(s, bins=bins, color="#81a4cd")
        ax.set_xscale("log")
    ax.axvline(target, color="#c1440e", ls="--", label=f"{target:g} min target")
    ax.set_xlabel("minutes from creation to first touch")
    ax.set_ylabel("leads")
    ax.legend()
    ax.set_title("Speed to first touch")
    return ax


def segment_rates(rates: pd.DataFrame, ax=None, column: str = "conversion"):
    """A rate per segment with its interval (from :func:`nurturelab.segments.segment_rates`)."""
    ax = axes(ax)
    prefix = "conv" if column == "conversion" else "opt"
    labels = [" · ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in rates.index]
    y = np.arange(len(labels))[::-1]
    val = rates[column].to_numpy(dtype=float)
    lo = rates[f"{prefix}_ci_low"].to_numpy(dtype=float)
    hi = rates[f"{prefix}_ci_high"].to_numpy(dtype=float)
    ax.errorbar(val, y, xerr=[val - lo, hi - val], fmt="o", color="#3a7ca5", capsize=3)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"{column.replace('_', ' ')} (95% interval)")
    ax.set_title(f"{column.replace('_', ' ').capitalize()} by segment")
    return ax


def scenario_kpis(summary: pd.DataFrame, axes=None,
                  columns=("speed_median_min", "within_5min_pct", "contact_rate",
                           "conversion_rate")):
    """One bar chart per KPI, one bar per variant (from a scenario's KPI table)."""
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 3.6))
    axes = np.atleast_1d(axes)
    names = [str(i) for i in summary.index]
    for ax, col in zip(axes, columns, strict=False):
        ax.bar(names, summary[col].to_numpy(dtype=float), color="#3a7ca5")
        ax.set_title(col.replace("_", " "))
        ax.tick_params(axis="x", rotation=30)
    return axes


def speed_curve(model, ax=None, max_minutes: float = 120.0):
    """P(first call answered) against minutes since creation, for each intent level."""
    ax = axes(ax)
    minutes = np.linspace(0, max_minutes, 241)
    for level in ("low", "medium", "high"):
        p = [model.probability("call", minutes=m, intent=level, fit=0.5) for m in minutes]
        ax.plot(minutes, p, label=f"{level} intent")
    ax.axvline(5, color="#c1440e", ls="--", lw=1)
    ax.set_xlabel("minutes from creation to the call")
    ax.set_ylabel("P(connect)")
    ax.set_title("Speed to lead: the response model")
    ax.legend()
    return ax
