"""The back-test: does a scenario's world reproduce the weeks of an export it was not fitted on?

:func:`backtest` fits nothing. It replays the export's own leads of the held-out weeks (their
``created_at``, ``source``, ``intent`` and ``fit``; only the unobserved interest is drawn)
through the scenario's baseline world ``replications`` times, with the leads of the
``warmup_days`` before loading the team first (they are not measured), and runs each
replication to ``until``, so its leads are censored exactly as the export's are. Every KPI of
:func:`nurturelab.twin.kpis.backtest_kpis` is computed the same way from the export and from
each replication, and the export's value is set beside the scenario's interval for a new draw:

    mean +/- t(1 - alpha / (2 K), R - 1) x sd x sqrt(1 + 1/R)

over the R replications, family-wise over the K KPIs available on both sides (Bonferroni), so
that a world that is right passes all K together in about 1 - alpha of back-tests. The spread
``sd`` has a floor so that a KPI that barely varies between replications cannot fail on
rounding: a share's floor is the binomial sd at the export's denominator (at the scenario's
mean), a time's is that of timestamps recorded to the minute (1/sqrt(12) minute), rep
utilisation's one rep minute of the time on shift. Each KPI passes when the export's value lies
inside its interval. A share's (or utilisation's) interval that spans every possible value,
0 to 1, cannot fail (too few replications make the t quantile large: 11.5 with 4 of them over
35 KPIs): such a KPI is marked ``can_fail`` False, and a back-test with one is inconclusive,
not a pass. A share with so few leads behind it that its interval would span 0 to 1 even with
the replications advised (:data:`REPLICATIONS_ADVISED`, 20) is ``unavailable``: too few leads
to judge. :attr:`Backtest.passed` holds when no KPI fails and every available one could
have. Each KPI's plain 95% range over the replications is reported too. A KPI the export
cannot give (no touches, no durations, a stage it never records:
:func:`nurturelab.twin.kpis.recorded` of the whole export) or the scenario produces in fewer
than two replications is ``unavailable``, with the reason, and does not count in K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nurturelab import plots
from nurturelab.checks import is_number, need_columns, utc_timestamp
from nurturelab.result import Result
from nurturelab.scenario import BASELINE, Scenario
from nurturelab.simulation import Replay, World, simulate
from nurturelab.twin.arrivals import spread_over_the_day
from nurturelab.twin.kpis import EVERYTHING, backtest_kpis, recorded

__all__ = ["STATUSES", "Backtest", "backtest", "publish_backtest"]

STATUSES = ("pass", "fail", "unavailable")
_REPLAY_COLUMNS = ("lead_id", "created_at", "source", "intent", "fit")
_HTML_STATUS = {"pass": "pass", "fail": "fail", "unavailable": "skip"}


@dataclass(frozen=True, repr=False, eq=False)
class Backtest(Result):
    """A scenario set beside the held-out weeks of an export, KPI by KPI.

    Attributes
    ----------
    table : DataFrame
        One row per KPI (index ``kpi``): ``group``, ``export`` (the export's value), ``n`` (its
        denominator in the export), ``sim_mean`` and ``sim_sd`` over the replications that
        give it (``runs``), ``sd_used`` (``sim_sd`` or its floor), ``ci_low``/``ci_high`` (the
        interval for a new draw, family-wise), ``range_low``/``range_high`` (the plain 95%
        range of the replications), ``z`` (the export's standardised distance from the
        scenario), ``t_crit`` (the distance beyond which it fails), ``status`` (pass, fail or
        unavailable), ``can_fail`` (False where the interval spans every possible value) and
        ``reason``. Also ``summary``.
    draws : DataFrame
        The KPI values of every replication (one column each).
    scenario : str
        The scenario's name.
    holdout_from, until : Timestamp
        The held-out window.
    replications, seed : int
    alpha : float
        The family-wise error rate of the intervals.
    leads, warmup_leads : int
        Held-out leads (measured) and warm-up leads (replayed before them, not measured).
    notes : tuple of str
        What was assumed and why.
    """

    table: pd.DataFrame
    draws: pd.DataFrame
    scenario: str
    holdout_from: pd.Timestamp
    until: pd.Timestamp
    replications: int
    seed: int
    alpha: float
    leads: int
    warmup_leads: int
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        """One row per KPI (see ``table``)."""
        return self.table

    @property
    def passed(self) -> bool:
        """Whether no available KPI fails and every one of them could have."""
        return not (self.table["status"].eq("fail").any() or self.cannot_fail)

    @property
    def cannot_fail(self) -> list[str]:
        """The available KPIs whose interval spans every possible value (too few
        replications), in table order."""
        t = self.table
        return t.index[t["status"].ne("unavailable") & ~t["can_fail"].astype(bool)].tolist()

    @property
    def outcome(self) -> str:
        """``'pass'``, ``'fail'`` (a KPI outside its interval) or ``'inconclusive'`` (none
        outside, but some could not have been)."""
        if self.table["status"].eq("fail").any():
            return "fail"
        return "inconclusive" if self.cannot_fail else "pass"

    @property
    def failed(self) -> list[str]:
        """The KPIs that fail, in table order."""
        return self.table.index[self.table["status"].eq("fail")].tolist()

    @property
    def verdict(self) -> str:
        """One line: pass or fail, and the failing KPIs."""
        counts = self.table["status"].value_counts()
        text = (f"{counts.get('pass', 0)} of {counts.get('pass', 0) + counts.get('fail', 0)} "
                f"KPIs inside the scenario's intervals, {counts.get('unavailable', 0)} "
                "unavailable")
        if self.outcome == "pass":
            return f"PASS: {text}"
        if self.outcome == "inconclusive":
            crit = float(self.table["t_crit"].max())
            return (f"INCONCLUSIVE: {text}, but {len(self.cannot_fail)} of them could not fail "
                    f"(intervals spanning 0 to 1 with {self.replications} replications, t up "
                    f"to {crit:.1f}): {', '.join(self.cannot_fail)}; run more replications "
                    f"({REPLICATIONS_ADVISED} or more)")
        return f"FAIL: {text}; outside: {', '.join(self.failed)}"

    def _describe(self) -> str:
        return (f"{self.scenario!r} against {self.leads:,d} held-out leads "
                f"({self.holdout_from:%Y-%m-%d} to {self.until:%Y-%m-%d}), "
                f"{self.replications} replications: {self.outcome}")

    def _header(self) -> list[str]:
        return [repr(self), self.verdict, *(f"note: {n}" for n in self.notes)]

    def plot(self, ax=None):
        """Each available KPI's standardised distance from the scenario (the export's value
        minus the scenario's mean, over the spread of a new draw), with the limits beyond
        which it fails; returns the axes."""
        t = self.table[self.table["status"] != "unavailable"]
        ax = plots.axes(ax, figsize=(7, max(2.5, 0.28 * len(t) + 1)))
        y = np.arange(len(t))[::-1]
        fail = t["status"].eq("fail").to_numpy()
        z = t["z"].to_numpy(dtype=float)
        ax.scatter(z[~fail], y[~fail], color="#3a7ca5", zorder=3, label="pass")
        ax.scatter(z[fail], y[fail], color="#c1440e", zorder=3, label="fail")
        if len(t):
            crit = float(t["t_crit"].max())
            for side in (-crit, crit):
                ax.axvline(side, color="#c1440e", ls="--", lw=1)
            ax.axvspan(-crit, crit, color="#3a7ca5", alpha=0.08)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, list(t.index))
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlabel("export minus scenario, in spreads of a new draw")
        ax.set_title(f"Back-test of {self.scenario}")
        ax.legend(fontsize=8, loc="lower right")
        return ax

    def plot_intervals(self, ax=None):
        """The share KPIs: the export's value (dot) in the scenario's interval (bar) and its
        plain 95% range (thin bar); returns the axes."""
        t = self.table
        t = t[t["status"].ne("unavailable") & t["kind"].eq("share")]
        ax = plots.axes(ax, figsize=(7, max(2.5, 0.28 * len(t) + 1)))
        y = np.arange(len(t))[::-1]
        ax.hlines(y, t["ci_low"], t["ci_high"], color="#3a7ca5", lw=5, alpha=0.35,
                  label="scenario's interval")
        ax.hlines(y, t["range_low"], t["range_high"], color="#3a7ca5", lw=1.5,
                  label="replications' 95% range")
        fail = t["status"].eq("fail").to_numpy()
        ax.scatter(t["export"][~fail], y[~fail], color="black", zorder=3, label="export")
        ax.scatter(t["export"][fail], y[fail], color="#c1440e", zorder=3, label="export (fail)")
        ax.set_yticks(y, list(t.index))
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlabel("share")
        ax.set_title("Shares: export against the scenario")
        ax.legend(fontsize=8, loc="lower right")
        return ax

    def to_html(self, path: str | Path) -> Path:
        """Write the back-test as one self-contained HTML page (the verdict, the KPI table and
        the charts; aggregates only, no lead-level data), atomically; returns the path."""
        import matplotlib.pyplot as plt

        from nurturelab._html import HtmlReport

        report = HtmlReport(
            f"Back-test: {self.scenario}",
            f"{self.leads:,d} held-out leads created {self.holdout_from:%Y-%m-%d %H:%M} to "
            f"{self.until:%Y-%m-%d %H:%M} UTC, {self.replications} replications (seed "
            f"{self.seed}), family-wise alpha {self.alpha:g}")
        checks = self.table.reset_index()
        checks["status"] = checks["status"].map(_HTML_STATUS)
        report.heading("Verdict").status_summary(checks, status="status", name="kpi")
        report.paragraph(self.verdict)
        report.paragraph(
            "Each KPI of the export is set beside the interval a new draw from the scenario "
            "would fall in (the replications' mean plus or minus the t quantile times their "
            "spread, family-wise over the available KPIs); it passes when it lies inside.")
        shown = self.table[["group", "export", "n", "sim_mean", "ci_low", "ci_high",
                            "range_low", "range_high", "z", "status", "reason"]].copy()
        shown["status"] = shown["status"].map(_HTML_STATUS)
        report.heading("KPIs").table(
            shown, "export: the export's value; ci: the scenario's interval for a new draw; "
            "range: the replications' plain 95% range; z: the export's distance from the "
            "scenario in spreads of a new draw; skip: unavailable (see the reason)",
            index=True, float_format="{:,.4g}", status_column="status")
        for draw, caption, alt in (
                (self.plot, "Standardised distance of each KPI from the scenario",
                 "dot plot of each KPI's distance from the scenario"),
                (self.plot_intervals, "Shares: the export's value in the scenario's interval",
                 "interval bars of the share KPIs with the export's values")):
            ax = draw()
            report.figure(ax.figure, caption, alt=alt)
            plt.close(ax.figure)
        if self.notes:
            report.heading("Notes")
            for note in self.notes:
                report.note(note)
        return report.write(path)


def _baseline(scenario: Any) -> tuple[str, World, list[str]]:
    if isinstance(scenario, World):
        return "world", scenario, []
    if not isinstance(scenario, Scenario):
        raise TypeError(f"The 'scenario' parameter of backtest must be a Scenario or a World. "
                        f"Got {type(scenario).__name__} instead.")
    notes = []
    if len(scenario.worlds) > 1:
        others = [k for k in scenario.worlds if k != BASELINE]
        notes.append(f"the scenario's baseline world is back-tested; its variants {others} "
                     "are not")
    return scenario.name, scenario.worlds[BASELINE], notes


def _check_params(replications: Any, seed: Any, warmup_days: Any, n_jobs: Any,
                  alpha: Any) -> None:
    def whole(v: Any) -> bool:
        return isinstance(v, int | np.integer) and not isinstance(v, bool)

    if not whole(replications) or replications < 2:
        raise ValueError("The 'replications' parameter of backtest must be a whole number >= 2 "
                         f"(the interval needs a spread). Got {replications!r} instead.")
    if not whole(seed) or seed < 0:
        raise ValueError(f"The 'seed' parameter of backtest must be a whole number >= 0. Got "
                         f"{seed!r} instead.")
    if not (is_number(warmup_days) and math.isfinite(warmup_days) and warmup_days >= 0):
        raise ValueError("The 'warmup_days' parameter of backtest must be a finite number >= "
                         f"0. Got {warmup_days!r} instead.")
    if not whole(n_jobs) or n_jobs == 0:
        raise ValueError("The 'n_jobs' parameter of backtest must be a non-zero whole number "
                         f"(-1: every core). Got {n_jobs!r} instead.")
    if not (is_number(alpha) and 0 < alpha < 1):
        raise ValueError(f"The 'alpha' parameter of backtest must be a number in (0, 1). Got "
                         f"{alpha!r} instead.")


def _window(leads: pd.DataFrame, events: pd.DataFrame, holdout_from: Any,
            until: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The held-out window, checked against the export's span."""
    first = leads["created_at"].min()
    last = max(leads["created_at"].max(), events["ts"].max() if len(events) else first)
    end = last if until is None else utc_timestamp(until, "until")
    start = utc_timestamp(holdout_from, "holdout_from")
    if end > last:
        raise ValueError(f"The 'until' parameter of backtest must not be after the export's "
                         f"last timestamp ({last:%Y-%m-%d %H:%M}): the export cannot show what "
                         f"happened later. Got {until!r} instead.")
    if not first <= start < end:
        raise ValueError(f"The 'holdout_from' parameter of backtest must lie within the export, "
                         f"from its first lead ({first:%Y-%m-%d %H:%M}) to before 'until' "
                         f"({end:%Y-%m-%d %H:%M}). Got {holdout_from!r} instead.")
    return start, end


def _replicate(world: World, seed: int, replay: Replay, until: pd.Timestamp,
               steps: list[int]) -> pd.Series:
    """The KPI values of one replication."""
    res = simulate(world, seed, replay=replay)
    return backtest_kpis(res.leads, res.events, as_of=until, team=world.team, steps=steps,
                         records=EVERYTHING)["value"]


def backtest(scenario: Scenario | World, leads: pd.DataFrame, events: pd.DataFrame, *,
             holdout_from: Any, until: Any = None, replications: int = 20, seed: int = 0,
             warmup_days: float = 14, n_jobs: int = 1, alpha: float = 0.05) -> Backtest:
    """Back-test a scenario's baseline world against the held-out weeks of an export.

    Parameters
    ----------
    scenario : Scenario or World
        The scenario (:func:`nurturelab.scenario.read_scenario`; its baseline world is used)
        or a world.
    leads, events : DataFrame
        The export, validated (:func:`nurturelab.schema.read_export`); not modified.
    holdout_from : timestamp-like
        Start of the held-out window: leads created from then to ``until`` are measured.
    until : timestamp-like, optional
        End of the window and of every replication (default: the export's last timestamp).
    replications : int
        Simulated replications of the held-out weeks (at least 2).
    seed : int
        Root seed: replication ``i`` runs with a seed from ``numpy.random.SeedSequence(seed)``'s
        ``i``-th child, so the result does not depend on ``n_jobs``.
    warmup_days : float
        Days before ``holdout_from`` whose leads are replayed first to load the team.
    n_jobs : int
        Processes for the replications (joblib; -1 for every core).
    alpha : float
        Family-wise error rate: each of the K available KPIs gets ``alpha / K``.

    Returns
    -------
    Backtest

    Raises
    ------
    ValueError
        For a parameter out of range, a window outside the export, no leads in the held-out
        window, or no KPI available on both sides.

    Examples
    --------
    >>> from nurturelab.simulation import Arrivals, World, simulate
    >>> world = World(leads=600, arrivals=Arrivals(per_day={"web_form": 30}), tail_days=5)
    >>> export = simulate(world, seed=3)
    >>> bt = backtest(world, export.leads, export.events, holdout_from="2026-01-19",
    ...               replications=12, warmup_days=7)
    >>> bt.passed, [round(float(bt.table.loc["within_5min", c]), 3) for c in ("export", "sim_mean")]
    (True, [0.685, 0.684])
    >>> bt.table.loc["converted_30d", "reason"]
    'export: no lead was followed for 30 days'
    """
    name, world, notes = _baseline(scenario)
    _check_params(replications, seed, warmup_days, n_jobs, alpha)
    need_columns(leads, ("lead_id", "created_at", "source"), "leads")
    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    start, end = _window(leads, events, holdout_from, until)
    held, warm, more = _split(leads, start, end, float(warmup_days))
    ev = events.loc[events["lead_id"].isin(held["lead_id"]) & (events["ts"] <= end)]
    steps = set(range(len(world.cadence.touches)))
    if "step" in ev.columns:
        steps |= set(ev.loc[ev["type"].astype("object").eq("touch"), "step"].dropna()
                     .astype(int).tolist())
    steps = sorted(steps)
    # what the export records is read off all of it, so that a stage its held-out leads never
    # reached is measured as 0 rather than left unavailable
    records = recorded(leads.loc[leads["created_at"] <= end], events.loc[events["ts"] <= end])
    exported = backtest_kpis(held, ev, as_of=end, team=world.team, steps=steps,
                             records=records)
    cols = [c for c in _REPLAY_COLUMNS if c in leads.columns]
    replayed = pd.concat([warm[cols], held[cols]], ignore_index=True)
    # an export that records only the day a lead came in (Olist) is replayed at times of day
    # drawn from the scenario's own arrival profile, not all at midnight
    replayed = spread_over_the_day(replayed, world.arrivals.hourly, world.team.timezone,
                                   int(seed)).sort_values("created_at", kind="stable")
    replayed = replayed[replayed["created_at"] <= end]
    replay = Replay(leads=replayed.reset_index(drop=True), measure_from=start, until=end)
    draws = _replications(world, replay, steps, int(seed), int(replications), n_jobs)
    draws = draws.reindex(exported.index)
    table = _compare(exported, draws, alpha)
    if not table["status"].ne("unavailable").any():
        raise ValueError("backtest: no KPI is available both in the export and in the "
                         f"scenario's replications; reasons: "
                         f"{sorted(set(table['reason']))[:5]}")
    notes += [*more,
              f"{len(held):,d} held-out leads, replayed with their own created_at, source, "
              f"intent and fit; {len(warm):,d} warm-up leads from the {warmup_days:g} days "
              "before load the team and are not measured",
              "each replication runs to 'until', so its leads are censored as the export's are",
              "rep utilisation counts the touches of the measured leads only, on both sides"]
    return Backtest(table=table, draws=draws, scenario=name,
                    holdout_from=start, until=end, replications=int(replications),
                    seed=int(seed), alpha=float(alpha), leads=len(held),
                    warmup_leads=len(warm), notes=tuple(notes))


def _split(leads: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
           warmup_days: float) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The held-out leads (created in [start, end]), the warm-up leads (in the warmup_days
    before start) and a note when the export starts later than the warm-up would."""
    created = leads["created_at"]
    held = leads.loc[(created >= start) & (created <= end)]
    if not len(held):
        raise ValueError(f"backtest: no lead of the export was created in the held-out window "
                         f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}; choose an earlier "
                         "'holdout_from'")
    warm_from = start - pd.Timedelta(days=warmup_days)
    warm = leads.loc[(created >= warm_from) & (created < start)]
    notes = []
    if warm_from < created.min():
        notes.append(f"the export starts {created.min():%Y-%m-%d %H:%M}: the warm-up has "
                     f"{(start - created.min()) / pd.Timedelta(days=1):.1f} of the "
                     f"{warmup_days:g} days asked for")
    return held, warm, notes


def _replications(world: World, replay: Replay, steps: list[int], seed: int, replications: int,
                  n_jobs: int) -> pd.DataFrame:
    """The KPI values of every replication, one column each; replication i runs with a seed of
    SeedSequence(seed)'s i-th child, so the values do not depend on n_jobs."""
    from joblib import Parallel, delayed

    children = np.random.SeedSequence(seed).spawn(replications)
    seeds = [int(c.generate_state(1)[0]) for c in children]
    values = Parallel(n_jobs=n_jobs)(delayed(_replicate)(world, s, replay, replay.until, steps)
                                     for s in seeds)
    draws = pd.concat(values, axis=1, keys=range(len(seeds)))
    draws.columns.name = "replication"
    return draws


REPLICATIONS_ADVISED = 20
"""The replications a back-test should have: the verdict of one with fewer may be
inconclusive, and a KPI that could not fail even with these is unavailable."""


def _floor(kind: str, mean: float, n: float) -> float:
    """The least spread a KPI is given: see the module docstring."""
    if kind == "share":
        p = min(max(mean, 0.5 / n), 1 - 0.5 / n)
        return math.sqrt(p * (1 - p) / n)
    if kind == "minutes":
        return 1 / math.sqrt(12)
    return 1.0 / n  # utilisation: one rep minute of the n minutes on shift


def _compare(exported: pd.DataFrame, draws: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """The export's KPIs beside the replications': one row per KPI."""
    from scipy import stats

    runs = draws.notna().sum(axis=1)
    mean, sd = draws.mean(axis=1), draws.std(axis=1, ddof=1)
    low = draws.quantile(0.025, axis=1)
    high = draws.quantile(0.975, axis=1)
    value = exported["value"]
    ok = value.notna() & runs.ge(2)
    reason = pd.Series("", index=exported.index, dtype=object)
    reason[value.isna()] = "export: " + exported["reason"][value.isna()]
    scarce = value.notna() & ~ok
    reason[scarce] = [f"the scenario gives it in {r} of {draws.shape[1]} replications"
                      for r in runs[scarce]]
    floor = pd.Series([_floor(kd, m, n) if o else math.nan for kd, m, n, o in zip(
        exported["kind"], mean, exported["n"], ok, strict=True)], index=exported.index)
    # a share with so few leads behind it that its interval would span 0 to 1 even with the
    # replications advised (or more, if more were run) cannot be judged
    bounded = exported["kind"].isin(["share", "utilisation"])
    r_ref = max(REPLICATIONS_ADVISED, draws.shape[1])
    best = (stats.t.ppf(1 - alpha / (2 * max(int(ok.sum()), 1)), r_ref - 1)
            * np.maximum(sd.fillna(0.0), floor) * math.sqrt(1 + 1 / r_ref))
    hopeless = ok & bounded & (mean - best <= 0) & (mean + best >= 1)
    reason[hopeless] = [f"too few leads ({n:,.0f}) to judge: even with {r_ref} replications "
                        "its interval would span 0 to 1" for n in exported["n"][hopeless]]
    ok &= ~hopeless
    k = int(ok.sum())
    sd_used = np.maximum(sd.fillna(0.0), floor).where(ok)
    crit = pd.Series(stats.t.ppf(1 - alpha / (2 * max(k, 1)), np.maximum(runs - 1, 1)),
                     index=exported.index).where(ok)
    spread = sd_used * np.sqrt(1 + 1 / runs.clip(lower=1))
    half = crit * spread
    status = np.where(~ok, "unavailable",
                      np.where((value - mean).abs() <= half, "pass", "fail"))
    can_fail = ok & ~(bounded & (mean - half <= 0) & (mean + half >= 1))
    return pd.DataFrame({
        "group": exported["group"], "kind": exported["kind"], "export": value,
        "n": exported["n"], "runs": runs, "sim_mean": mean.where(runs.ge(1)),
        "sim_sd": sd.where(ok), "sd_used": sd_used, "ci_low": (mean - half).where(ok),
        "ci_high": (mean + half).where(ok), "range_low": low.where(ok),
        "range_high": high.where(ok), "z": ((value - mean) / spread).where(ok),
        "t_crit": crit, "status": status, "can_fail": can_fail, "reason": reason,
    }, index=exported.index)


def publish_backtest(result: Backtest, path: str | Path, *, track: bool = True,
                     params: dict[str, Any] | None = None) -> str | None:
    """Write the back-test's HTML page to ``path`` and, with ``track``, log an MLflow run.

    The run (``backtest:<scenario>``, tagged ``job=backtest`` and ``backtest_status``) holds
    ``params``, the export's value and the standardised distance of every available KPI as
    metrics (``<kpi>`` and ``<kpi>.z``), the KPI table, the replications' values and the page.
    A back-test that fails, or is inconclusive, ends its run FAILED
    (:func:`nurturelab.tracking.run` marks a run left by an exception so).

    Returns
    -------
    str or None
        The run's id (None without ``track``).
    """
    if not track:
        result.to_html(path)
        return None
    from nurturelab import tracking

    status = result.outcome
    t = result.table
    metrics = {**{k: v for k, v in t["export"].items() if t.loc[k, "status"] != "unavailable"},
               **{f"{k}.z": v for k, v in t["z"].items()},
               "kpis_passed": int(t["status"].eq("pass").sum()),
               "kpis_failed": int(t["status"].eq("fail").sum()),
               "kpis_unavailable": int(t["status"].eq("unavailable").sum())}
    run_id = None
    try:
        with tracking.run(f"backtest:{result.scenario}", params=dict(params or {}),
                          tags={"job": "backtest", "backtest_status": status}) as run:
            run_id = run.info.run_id
            page = result.to_html(path)
            tracking.log_metrics(metrics)
            tracking.log_table(t, "backtest")
            tracking.log_table(result.draws, "replications")
            tracking.log_file(page, "report")
            if not result.passed:
                raise _Failed
    except _Failed:
        pass
    return run_id


class _Failed(Exception):
    """Raised inside the run of a failed back-test so that the run ends FAILED."""
