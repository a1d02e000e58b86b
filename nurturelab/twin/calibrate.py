"""Calibrate the whole simulated world from a team's own export: the twin.

:func:`calibrate` fits each part of a :class:`~nurturelab.simulation.World` from the leads and
events up to ``until`` and writes them as an ordinary scenario file, which ``simulate``,
``compare``, ``backtest`` and every later tool read unchanged, beside a table of every
parameter (estimate, 95% interval, how many observations informed it, fitted or assumed and
why; :mod:`nurturelab.twin.parameters`):

- arrivals: rate per source, hour-of-day and weekday profile, trend, over-dispersion, intent
  and fit (:func:`nurturelab.twin.arrivals.fit_arrivals`);
- the team: active reps, shift, time zone, working days, handling times
  (:func:`nurturelab.twin.team.fit_team`); the speed to first touch is not fitted, it comes
  out of the simulated queue;
- the cadence the team actually ran, or the one given (:func:`nurturelab.twin.sequence.
  fit_cadence`);
- the answer and opt-out models (:func:`nurturelab.response.fit_response`) and behaviour
  (:func:`nurturelab.response.fit_behaviour`);
- after contact: qualification, proposal and win probabilities and times by segment, and
  losses (:func:`nurturelab.progression.fit_progression`); an export that sees only leads
  and won deals (Olist) calibrates its lead-to-won conversion and time instead, through the
  assumed stages before it.

Where an export lacks what a part needs, that part keeps the base world's values, and the
table and the printed summary say which and why. The twin is a population-average model: the
unobserved interest that makes some leads answer everything (``heterogeneity``) is not
identified from these tables, so the twin sets it to 0 and uses the fitted average effects
as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nurturelab import plots
from nurturelab._csv import write_csv
from nurturelab.checks import need_columns, utc_timestamp
from nurturelab.result import Result
from nurturelab.simulation import World
from nurturelab.twin.parameters import parameter_table, row

__all__ = ["Calibration", "calibrate"]

_PARTS = ("arrivals", "team", "cadence", "response", "progression", "ae_response_hours")


@dataclass(frozen=True, repr=False)
class Calibration(Result):
    """A calibrated world and how it was obtained.

    Attributes
    ----------
    world : World
        The twin (its baseline; :meth:`write` makes it a scenario file).
    table : DataFrame
        One row per parameter (:mod:`nurturelab.twin.parameters`); ``summary`` returns it.
    notes : tuple of str
        What was assumed or adjusted, and why, part by part.
    until : Timestamp
        The end of the training window.
    fits : dict
        Each part's own fit object (its tables and plots).
    """

    world: World
    table: pd.DataFrame
    notes: tuple[str, ...]
    until: pd.Timestamp
    fits: dict[str, Any] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """The parameter table: estimate, ci_low, ci_high, n, status, note per parameter."""
        return self.table

    @property
    def assumed(self) -> dict[str, str]:
        """Each part (or parameter group) kept from the base world, and why."""
        t = self.table[self.table["status"] == "assumed"]
        out: dict[str, str] = {}
        for name, r in t.iterrows():
            key = ".".join(str(name).split(".")[:2])
            out.setdefault(key, r["note"])
        return out

    @property
    def by_part(self) -> pd.DataFrame:
        """How many parameters of each part were fitted, inferred, given or assumed."""
        t = pd.crosstab(self.table["part"], self.table["status"])
        order = [p for p in _PARTS if p in t.index] + [p for p in t.index if p not in _PARTS]
        cols = [c for c in ("fitted", "inferred", "given", "assumed") if c in t.columns]
        return t.loc[order, cols]

    def _describe(self) -> str:
        counts = self.table["status"].value_counts()
        parts = ", ".join(f"{int(counts.get(s, 0))} {s}" for s in
                          ("fitted", "inferred", "given", "assumed") if counts.get(s, 0))
        return f"{len(self.table)} parameters ({parts}), trained until {self.until:%Y-%m-%d}"

    def _header(self) -> list[str]:
        lines = [repr(self)]
        for part in _PARTS:
            t = self.table[self.table["part"] == part]
            if not len(t):
                continue
            c = t["status"].value_counts()
            lines.append(f"  {part:<18} " + ", ".join(f"{int(v)} {k}" for k, v in c.items()))
        if self.notes:
            lines.append("notes:")
            lines += [f"  - {n}" for n in self.notes]
        return lines

    def to_text(self, decimals: int = 3) -> str:
        """The header, then the parameters with an interval or a reason (the full table is
        ``summary``)."""
        show = self.table[["estimate", "ci_low", "ci_high", "n", "status"]]
        from nurturelab.result import format_table

        return "\n".join([*self._header(), format_table(show, decimals)])

    def plot(self, ax=None):
        """How wide each fitted interval is relative to its estimate, by part: where the export
        pins the world down and where it leaves it loose."""
        ax = plots.axes(ax, figsize=(7, 3.5))
        t = self.table[(self.table["status"] == "fitted") & self.table["ci_low"].notna()]
        width = (t["ci_high"] - t["ci_low"]) / t["estimate"].abs().clip(lower=1e-9)
        parts = [p for p in _PARTS if (t["part"] == p).any()]
        data = [np.log10(width[t["part"] == p].clip(lower=1e-6)) for p in parts]
        if data:
            ax.boxplot(data, tick_labels=parts, orientation="horizontal")
        ax.set_xlabel("log10 of interval width / |estimate|")
        ax.set_title("How tightly the export pins each part down")
        return ax

    def write(self, path: str | Path, *, name: str | None = None, seed: int = 0) -> Path:
        """Write the twin as a scenario file and its parameter table beside it
        (``<stem>.parameters.csv``); returns the scenario's path."""
        from nurturelab.scenario import write_scenario

        path = Path(path)
        table_path = path.with_name(f"{path.stem}.parameters.csv")
        tmp = table_path.with_name(f".{table_path.name}.tmp")
        write_csv(self.table, tmp)  # cells a spreadsheet would run as formulas escaped
        tmp.replace(table_path)
        assumed = sorted({k.split(".")[0] for k in self.assumed})
        header = "\n".join([
            f"Twin calibrated by nurturelab calibrate from {self.source.get('leads', '?')} + "
            f"{self.source.get('events', '?')}, trained until {self.until:%Y-%m-%d %H:%M} UTC.",
            f"Every parameter, its 95% interval and whether it was fitted or assumed: "
            f"{table_path.name}.",
            *(f"Assumed: {k}: {v}" for k, v in self.assumed.items()),
        ])
        calibration = {"leads": self.source.get("leads", ""),
                       "events": self.source.get("events", ""),
                       "until": self.until.isoformat(), "parameters": table_path.name,
                       "assumed": assumed}
        return write_scenario(path, self.world, name=name or path.stem, seed=seed,
                              description=f"twin of {self.source.get('leads', 'an export')} "
                                          f"until {self.until:%Y-%m-%d}",
                              calibration=calibration, header=header)


# --------------------------------------------------------------------------------------------
# Parts
# --------------------------------------------------------------------------------------------
def _assumed_rows(prefix: str, values: dict[str, Any], why: str) -> list[dict]:
    return [row(f"{prefix}.{k}", v, status="assumed", note=why) for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)]


LOOSE = 2.0
"""A fitted log-odds coefficient with a standard error above this is not pinned down by the
export (an interval several units of log-odds wide): the twin keeps the base world's value, so
that what it does outside the export's own experience is the default's, not noise."""


def _pin_response(fit, model, base):
    """``model`` with every loose scalar (spacing, fatigue, cooling, the opt-out penalties,
    personalisation, intent, fit) set back to ``base``'s; the names set back."""
    kw, loose = {}, []
    for key, r in fit.table.iterrows():
        kind, _, arg = str(key).partition("@")
        if r["std_err"] <= LOOSE or kind in ("base", "opt_out_base", "speed"):
            continue
        loose.append(str(key))
        if kind in ("intent", "personalisation"):
            kw[kind] = {**kw.get(kind, getattr(model, kind)), arg: getattr(base, kind)[arg]}
        else:
            kw[kind] = getattr(base, kind)
    return replace(model, **kw), loose


def _pin_progression(fit, model, base):
    """``model`` with every loose coefficient (intent, source, fit, speed shifts) set back to
    ``base``'s (0 for a shift ``base`` lacks); the names set back."""
    kw, loose = {}, []
    speed = dict(model.speed_knots)
    for key, r in fit.table.iterrows():
        name, _, param = str(key).partition(".")
        kind, _, arg = param.partition("@")
        if r["std_err"] <= LOOSE or kind in ("p", "days", "sigma", "lost_days", "lost_sigma"):
            continue
        loose.append(str(key))
        if kind == "speed":
            speed[float(arg)] = base.speed(float(arg))
            continue
        tr = kw.get(name, getattr(model, name))
        if kind in ("intent", "source"):
            values = dict(getattr(tr, kind))
            values[arg] = dict(getattr(getattr(base, name), kind)).get(arg, 0.0)
            kw[name] = replace(tr, **{kind: values})
        else:
            kw[name] = replace(tr, **{kind: getattr(getattr(base, name), kind)})
    if any(k.split(".")[1].startswith("speed@") for k in loose):
        kw["speed_knots"] = tuple(sorted(speed.items()))
    return replace(model, **kw), loose


def _loose_note(est: float, se: float, kept: float | None) -> str:
    return (f"not pinned down by this export (fitted {est:.3g}, standard error {se:.3g}): "
            f"the twin keeps the base value" + ("" if kept is None else f" {kept:.3g}"))


def _loose_row(name: str, fitted: float, se: float, kept: float | None, n: int) -> dict:
    """A coefficient the export cannot pin down: the value the twin uses (the base world's)
    as the estimate, no interval, and the fitted value in the note."""
    return row(name, fitted if kept is None else kept, n=n, status="assumed",
               note=_loose_note(fitted, se, kept))


def _response_rows(fit, model, loose=()) -> list[dict]:
    """The response fit's coefficients on the world's scale (probabilities for base rates)."""
    rows = []
    t = fit.table

    def expit(x):
        return 1.0 / (1.0 + math.exp(-x))

    for key, r in t.iterrows():
        kind, _, arg = str(key).partition("@")
        est, lo, hi = r["estimate"], r["ci_low"], r["ci_high"]
        if kind in ("base", "opt_out_base"):
            name, est, lo, hi = f"response.{kind}.{arg}", expit(est), expit(lo), expit(hi)
        elif kind in ("intent", "personalisation"):
            name = f"response.{kind}.{arg}"
        elif kind == "speed":
            name = f"response.speed@{arg}"
        else:
            name = f"response.{kind}"
        note = ""
        world = (model.speed(float(arg)) if kind == "speed"
                 else None if kind in ("base", "opt_out_base")
                 else _world_value(World(response=model), name))
        if key in loose:
            rows.append(_loose_row(name, est, r["std_err"], world, fit.n_touches))
            continue
        if world is not None and not math.isclose(world, est, rel_tol=1e-6, abs_tol=1e-9):
            note = (f"the world uses {world:.4g} (the speed curve is kept non-increasing and "
                    "the penalties non-negative)")
        rows.append(row(name, est, lo, hi, n=fit.n_touches, note=note))
        if kind in ("base", "opt_out_base") and arg in fit.extent:
            reach = fit.extent[arg]
            last = model.speed_knots[-1][0]
            if reach < last:
                rows[-1]["note"] = (f"the rate {last / 1440:g} days after creation; the export's "
                                    f"{arg} touches end at {reach / 1440:.2g} days, so it is "
                                    "extrapolated along the speed curve (hence the width)")
    return rows


def _world_value(world: World, name: str) -> float | None:
    """The value ``world`` holds for the table's parameter ``name`` (None where it has none)."""
    from nurturelab.twin.parameters import value_at

    try:
        return value_at(world, name)
    except (KeyError, AttributeError, TypeError, ValueError):
        return None


def _progression_rows(fit, model=None, loose=()) -> list[dict]:
    rows = []
    for key, r in fit.table.iterrows():
        transition, _, param = str(key).partition(".")
        kind, _, level = param.partition("@")
        if kind in ("intent", "source"):
            name = f"progression.{transition}.{kind}.{level}"
        elif kind == "speed":
            name = f"progression.{transition}.speed@{level}"
        else:
            name = f"progression.{transition}.{param}"
        if key in loose:
            kept = _world_value(World(progression=model), name)
            rows.append(_loose_row(name, r["estimate"], r["std_err"], kept, int(r["n"])))
            continue
        rows.append(row(name, r["estimate"], r["ci_low"], r["ci_high"], n=int(r["n"])))
    return rows


def _ae_hours(leads, events, as_of, base: float, alpha: float):
    """Mean hours from qualification to the next touch (the hand-off's first call)."""
    from scipy import stats

    from nurturelab.funnel import outcomes

    out = outcomes(leads, events, as_of=as_of)
    q = out["entered_qualified"].dropna()
    touches = events[events["type"].astype("object").eq("touch")
                     & events["lead_id"].isin(q.index)][["lead_id", "ts"]]
    if not len(q) or not len(touches):
        return base, [row("ae_response_hours", base, status="assumed",
                          note="no touch after a qualification in the export")]
    t = touches.assign(q=touches["lead_id"].map(q))
    first = t[t["ts"] >= t["q"]].groupby("lead_id").apply(
        lambda g: (g["ts"].min() - g["q"].iloc[0]) / pd.Timedelta(hours=1), include_groups=False)
    first = first[first < 24 * 30]
    if len(first) < 10:
        return base, [row("ae_response_hours", base, status="assumed",
                          note=f"only {len(first)} hand-off touches in the export")]
    n, mean = len(first), float(first.mean())
    lo = 2 * n * mean / stats.chi2.ppf(1 - alpha / 2, 2 * n)  # exponential mean, exact
    hi = 2 * n * mean / stats.chi2.ppf(alpha / 2, 2 * n)
    return mean, [row("ae_response_hours", mean, lo, hi, n=n,
                      note="first touch after qualification (exponential mean)")]


def _recording_notes(leads, events, since) -> list[str]:
    """Warn when the export's stage events start long after its leads: leads from before
    then never show the stage, which a fit would read as leads that never got there."""
    notes = []
    is_stage = events["type"].astype("object").eq("stage")
    first_lead = leads["created_at"].min()
    for name in ("won", "qualified", "proposal"):
        when = events.loc[is_stage & events["name"].eq(name), "ts"]
        if len(when) >= 20 and when.min() - first_lead > pd.Timedelta(days=60):
            later = int((leads["created_at"] < when.min() - pd.Timedelta(days=60)).sum())
            notes.append(
                f"the export's first {name!r} event is on {when.min():%Y-%m-%d}, "
                f"{(when.min() - first_lead).days} days after its first lead: {later:,d} leads "
                f"came in more than 60 days before it and none of them shows {name!r}; if the "
                f"CRM did not record {name!r} before then, train from then on (since=)")
    return notes


def _speed_through_the_queue(world: World, leads, events, until, say,
                             weeks: float = 2.0, most: int = 8000) -> tuple[World, list, list]:
    """Scale the (assumed) handling times so that the simulated queue gives the export's
    median speed to first touch: when an export records no durations, the rep time each touch
    takes (talk, notes, the admin around it) is the one lever on the queue it leaves free.

    The last ``weeks`` of training leads (fewer days when that is more than ``most`` leads)
    are replayed, with half as long before them to load the team, at handling times
    multiplied by a factor found by bisection on its logarithm; the speed still comes out of
    the queue, so a change of cadence or team moves it."""
    from nurturelab.funnel import speed_to_first_touch
    from nurturelab.simulation import Replay, simulate

    recent = leads[leads["created_at"] >= until - pd.Timedelta(days=7 * weeks)]
    days = 7 * weeks * min(1.0, most / max(len(recent), 1))
    start = until - pd.Timedelta(days=days)
    measured = leads[leads["created_at"] >= start]
    if len(measured) < 100:
        return world, [], ["team: too few recent leads to set the handling time by the queue"]
    target = float(speed_to_first_touch(measured, events[events["lead_id"].isin(
        measured["lead_id"])]).median())
    replayed = leads[leads["created_at"] >= start - pd.Timedelta(days=days / 2)]
    replay = Replay(replayed.reset_index(drop=True), measure_from=start, until=until)
    base_minutes = dict(world.team.handling_minutes)

    def scaled(f: float) -> World:
        return replace(world, team=replace(world.team, handling_minutes={
            k: v * f for k, v in base_minutes.items()}))

    def median(f: float) -> float:
        res = simulate(scaled(f), seed=0, replay=replay)
        return float(speed_to_first_touch(res.leads, res.events).median())

    say(f"setting the handling time so the simulated queue gives the export's median speed "
        f"to first touch ({target:,.1f} min)")
    lo, hi = math.log(0.25), math.log(40.0)
    got_lo, got_hi = median(math.exp(lo)), median(math.exp(hi))
    if not got_lo <= target <= got_hi:
        f = math.exp(lo if target < got_lo else hi)
        got = got_lo if target < got_lo else got_hi
        note = (f"the queue cannot give the export's median speed to first touch "
                f"({target:,.1f} min) at any handling time from a quarter to 40 times the "
                f"assumed (it gives {got:,.1f} min at {f:g} times): kept the nearest")
    else:
        for _ in range(8):
            mid = 0.5 * (lo + hi)
            got = median(math.exp(mid))
            if abs(got - target) <= max(0.05 * target, 0.5):
                lo = hi = mid
                break
            lo, hi = (mid, hi) if got < target else (lo, mid)
        f = math.exp(0.5 * (lo + hi))
        note = (f"the assumed minutes x {f:.3g}, so that the simulated queue gives the "
                f"export's median speed to first touch ({target:,.1f} min) over its last "
                f"{days:.3g} days")
    world = scaled(f)
    rows = [row(f"team.handling_minutes.{ch}", v, n=len(measured), status="inferred",
                note=note) for ch, v in world.team.handling_minutes.items()]
    more = []
    if f > 5:
        more.append(f"team: the reps are far slower to first touch than their touch volume "
                    f"explains (each touch would take {f:.3g} times the assumed rep time): "
                    "they may do other work, or the CRM may wait before it assigns a lead; "
                    "the twin's queue reproduces the speed, but a change of team size will "
                    "move it less than it would for a team that only works these leads")
    return world, rows, [f"team: handling_minutes: {note}", *more]


def _collapsed(leads, events, as_of) -> bool:
    """An export that sees leads and won deals but none of the stages between (Olist)."""
    from nurturelab.funnel import observed_stages, outcomes

    seen = observed_stages(outcomes(leads, events, as_of=as_of))
    return bool(seen.iloc[-1]) and not bool(seen.iloc[1:-1].any())


def _reach(world: World, leads: pd.DataFrame, as_of, seed: int = 0) -> tuple[pd.Series, float]:
    """Each source's share of ``leads`` that reach a proposal in ``world`` (every proposal then
    wins at once), and the median days from creation to the proposal."""
    from nurturelab.funnel import outcomes
    from nurturelab.simulation import Replay, simulate
    from nurturelab.twin.arrivals import spread_over_the_day

    sure = replace(world, progression=replace(
        world.progression, win=replace(world.progression.win, p=0.999999, days=1e-6,
                                       sigma=1e-3)))
    replayed = spread_over_the_day(leads, world.arrivals.hourly, world.team.timezone, seed)
    replayed = replayed.sort_values("created_at", kind="stable")
    res = simulate(sure, seed=seed, replay=Replay(
        replayed, measure_from=replayed["created_at"].min(),
        until=as_of + pd.Timedelta(days=365)))
    out = outcomes(res.leads, res.events)
    src = res.leads.set_index("lead_id")["source"].astype("object")
    reach = out["converted"].groupby(src.reindex(out.index).to_numpy()).mean()
    return reach, float(out["time_to_convert_days"].median())


def _lead_to_won(leads, events, world: World, as_of, alpha, say) -> tuple[World, list, list]:
    """Calibrate the stages after contact so that the world's lead-to-won conversion by source
    and its time to convert match an export that observes nothing between lead and won.

    The conversion is fitted from the export (the progression's cure-lognormal likelihood on
    the lead-to-won clock: :func:`~nurturelab.progression.fit_transition`). The assumed stages
    before the proposal are simulated on the export's own leads (spread over the day by the
    arrival profile when the export records dates only) to learn how many leads of each source
    reach a proposal and how long it takes. When they reach too few for the export's
    conversion, qualification and proposal are raised together (their odds by one factor)
    until about 70% of the proposals need to win; the win transition is set to the rest."""
    from nurturelab.progression import Transition, fit_transition

    fit = fit_transition(_won_table(leads, events, as_of), alpha=alpha)
    if fit is None:
        return world, [], ["win: too few leads or won deals to fit the lead-to-won conversion; "
                           "kept the base values"]
    est, ref = fit.table, fit.reference
    ld = leads[leads["created_at"] <= as_of]

    def logit(p):
        return math.log(p / (1 - p))

    def expit(x):
        return 1.0 / (1.0 + math.exp(-x))

    p = float(est.loc["p", "estimate"])
    # the stages between contact and the proposal are not observed: they pass at once, so
    # that the win transition carries the whole observed time from lead to won deal
    pr = world.progression
    quick = {"days": 0.01, "sigma": 0.1, "lost_days": 0.01, "lost_sigma": 0.1}
    world = replace(world, progression=replace(pr, qualify=replace(pr.qualify, **quick),
                                               proposal=replace(pr.proposal, **quick)))
    say("simulating the assumed stages before the proposal on the export's own leads")
    reach, days_to_prop = _reach(world, ld, as_of)
    r_ref = float(reach.get(ref, reach.mean()))
    notes, rows = [], []
    if r_ref < p / 0.7:  # the assumed funnel reaches too few: raise qualify and proposal
        shift = 0.0
        pr = world.progression
        for _ in range(4):
            shift += max(0.25, logit(min(0.95, p / 0.7)) - logit(max(r_ref, 1e-4)))
            raised = replace(pr, qualify=replace(pr.qualify, p=min(0.95, expit(
                logit(pr.qualify.p) + shift / 2))), proposal=replace(pr.proposal, p=min(
                    0.95, expit(logit(pr.proposal.p) + shift / 2))))
            reach, days_to_prop = _reach(replace(world, progression=raised), ld, as_of)
            r_ref = float(reach.get(ref, reach.mean()))
            if r_ref >= p / 0.7 or raised.qualify.p >= 0.95 and raised.proposal.p >= 0.95:
                break
        world = replace(world, progression=raised)
        why_up = (f"raised from the base's {pr.qualify.p:.2f} so that the assumed funnel "
                  "reaches enough proposals for the export's conversion")
        rows.append(row("progression.qualify.p", raised.qualify.p, n=fit.n, status="inferred",
                        note=why_up))
        rows.append(row("progression.proposal.p", raised.proposal.p, n=fit.n,
                        status="inferred", note=why_up.replace(f"{pr.qualify.p:.2f}",
                                                               f"{pr.proposal.p:.2f}")))
        notes.append(f"the assumed stages before the proposal reached too few leads for the "
                     f"export's conversion: qualification {pr.qualify.p:.2f} -> "
                     f"{raised.qualify.p:.2f}, proposal {pr.proposal.p:.2f} -> "
                     f"{raised.proposal.p:.2f}")

    def share(q, r):
        return min(q / max(r, 1e-9), 0.99)

    p_ref = share(p, r_ref)
    source = {}
    for key in est.index:
        if key.startswith("source@"):
            s = key.split("@", 1)[1]
            p_s = expit(logit(p) + float(est.loc[key, "estimate"]))
            source[s] = logit(share(p_s, float(reach.get(s, r_ref)))) - logit(p_ref)
    if p_ref >= 0.99:
        notes.append("win: the assumed stages before the proposal reach fewer leads than the "
                     "export wins; the win probability is capped at 0.99")
    days = max(float(est.loc["days", "estimate"]) - days_to_prop, 0.25)
    sigma = float(est.loc["sigma", "estimate"])
    base_win = world.progression.win
    win = Transition(p=p_ref, source=source, days=days, sigma=sigma,
                     lost_days=base_win.lost_days, lost_sigma=base_win.lost_sigma)
    why = ("fitted to the export's lead-to-won conversion through the assumed stages before "
           f"the proposal (which a simulated {r_ref:.1%} of its {ref} leads reach)")
    rows.append(row("progression.win.p", p_ref, share(est.loc["p", "ci_low"], r_ref),
                    share(est.loc["p", "ci_high"], r_ref), n=fit.n, note=why))
    for s, v in source.items():
        rows.append(row(f"progression.win.source.{s}", v, n=int(est.loc[f"source@{s}", "n"]),
                        note=f"against {ref}; {why}"))
    rows.append(row("progression.win.days", days, n=fit.n_moved,
                    note=f"the export's median {est.loc['days', 'estimate']:.3g} days to a won "
                         f"deal less the assumed {days_to_prop:.3g} days to the proposal"))
    rows.append(row("progression.win.sigma", sigma, est.loc["sigma", "ci_low"],
                    est.loc["sigma", "ci_high"], n=fit.n_moved,
                    note="the lead-to-won time's lognormal sigma"))
    notes.append(f"the export observes leads and won deals only: {why}")
    for name in ("qualify", "proposal"):
        for key, value in quick.items():
            rows.append(row(f"progression.{name}.{key}", value, status="assumed",
                            note="not observed: the stage passes at once, and the win "
                                 "transition carries the observed time from lead to won"))
    return replace(world, progression=replace(world.progression, win=win)), rows, notes


def _won_table(leads, events, as_of) -> pd.DataFrame:
    """Every lead's clock from creation to a won deal, a loss, or the cut-off."""
    from nurturelab.funnel import outcomes

    out = outcomes(leads, events, as_of=as_of)
    lt = leads.set_index("lead_id").loc[out.index]
    won, lost = out["converted_at"], out["lost_at"]
    end = won.where(won.notna(), lost.where(lost.notna(), as_of))
    return pd.DataFrame({
        "lead_id": out.index,
        "intent": lt["intent"].astype("object").fillna("unknown").to_numpy(),
        "fit": lt["fit"].astype(float).to_numpy(),
        "source": lt["source"].astype("object").to_numpy(),
        "minutes_to_contact": np.nan,
        "outcome": np.where(won.notna(), "moved", np.where(lost.notna(), "lost", "open")),
        "days": ((end - out["created_at"]) / pd.Timedelta(days=1)).to_numpy(),
    })


# --------------------------------------------------------------------------------------------
# The calibration
# --------------------------------------------------------------------------------------------
def _response_step(ld, ev, base: World, is_touch: pd.Series, say) -> tuple:
    """The answer and opt-out models: fitted where the export has touches and answers, else
    the base world's; returns the model, its table rows, notes and the fit (or None)."""
    from nurturelab.response import fit_response

    rows: list[dict] = []
    notes: list[str] = []
    response = replace(base.response, heterogeneity=0.0)
    responses = ev["type"].astype("object").eq("response")
    if not (is_touch.any() and responses.any()):
        why = "the export has no touches" if not is_touch.any() else "the export has no answers"
        rows += _assumed_rows("response", {
            **{f"base.{k}": v for k, v in response.base.items()},
            **{f"opt_out_base.{k}": v for k, v in response.opt_out_base.items()},
            "fit": response.fit, "spacing": response.spacing, "fatigue": response.fatigue,
            "cooling": response.cooling}, why)
        rows += [row(f"response.speed@{m:g}", v, status="assumed", note=why)
                 for m, v in response.speed_knots]
        notes.append(f"response: {why}: the answer model is the default world's, the twin of "
                     "the published speed-to-lead studies")
        return response, rows, notes, None
    say("the answer and opt-out models")
    try:
        r_fit = fit_response(ld, ev, base_model=response)
    except ValueError as exc:
        return response, rows, [f"response: not fitted ({exc}); kept the base model"], None
    response, loose = _pin_response(r_fit, replace(r_fit.model, heterogeneity=0.0),
                                    base.response)
    rows += _response_rows(r_fit, response, loose)
    notes += [f"response: {n}" for n in r_fit.notes]
    if loose:
        notes.append(f"response: not pinned down by this export, kept from the base world: "
                     f"{loose}")
    return response, rows, notes, r_fit


def _behaviour_step(ld, ev, response, r_fit, until: pd.Timestamp, alpha: float) -> tuple:
    """Opens, clicks, pricing visits and demo requests on top of the answer model (carrying
    its intent and fit uncertainty along); returns the model, its rows and the fit."""
    from nurturelab.response import fit_behaviour

    interest_se = None
    if r_fit is not None:
        t = r_fit.table
        interest_se = {k.split("@")[1] if "@" in k else k: float(t.loc[k, "std_err"])
                       for k in t.index if k.startswith("intent@") or k == "fit"}
    b_fit = fit_behaviour(ld, ev, response, as_of=until, alpha=alpha, fit_cooling=True,
                          interest_se=interest_se)
    response = b_fit.model
    rows = [row(f"response.{k}", r["estimate"], r["ci_low"], r["ci_high"], n=int(r["n"]),
                note="the decay of the pricing visits" if k == "behaviour_cooling" else "")
            for k, r in b_fit.table.iterrows()]
    rows += [row(f"response.{k}", getattr(response, k), status="assumed",
                 note="the export has none of these events")
             for k in ("open_rate", "click_rate", "pricing_per_day", "demo_per_day")
             if k not in b_fit.table.index]
    if "behaviour_cooling" not in b_fit.table.index:
        rows.append(row("response.behaviour_cooling", response.cooling, status="assumed",
                        note="too few pricing visits to fit their decay: the touches' cooling"))
    unfitted = "not identified from these tables"
    rows += [row("response.heterogeneity", 0.0, status="assumed",
                 note=f"{unfitted}: the twin uses the fitted average effects"),
             row("response.tau_hours", response.tau_hours, status="assumed",
                 note="the spacing penalty's time scale is not fitted"),
             row("response.warm_up", response.warm_up, status="assumed", note=unfitted),
             row("response.behaviour_slope", response.behaviour_slope, status="assumed",
                 note=unfitted)]
    return response, rows, b_fit


def _unobserved_progression(world: World, rows: list[dict]) -> list[dict]:
    """Rows for the progression parameters the export did not inform (the world's values)."""
    fitted = {r["parameter"] for r in rows}
    out = [row(f"progression.{name}.{key}", getattr(getattr(world.progression, name), key),
               status="assumed", note="not observed in the export")
           for name in ("qualify", "proposal", "win")
           for key in ("p", "days", "sigma", "lost_days", "lost_sigma", "fit")
           if f"progression.{name}.{key}" not in fitted]
    out.append(row("progression.heterogeneity", 0.0, status="assumed",
                   note="not identified from these tables: the twin uses the fitted average "
                        "effects"))
    return out


def calibrate(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    cadence: Any = None,
    since: Any = None,
    until: Any = None,
    timezone: str | None = None,
    base: World | None = None,
    alpha: float = 0.05,
    source: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Fit every part of the world from an export (see the module docstring).

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:func:`nurturelab.schema.read_export`).
    cadence : Cadence, str or path, optional
        The cadence to use (a built-in name, a YAML file or a Cadence); by default the one the
        team actually ran is read off the events.
    since : timestamp-like, optional
        The start of the training window: only leads created from then on inform the fit (an
        export whose early months predate what the CRM recorded, such as won deals, should
        start after them). All leads by default.
    until : timestamp-like, optional
        The end of the training window (leads created and events up to then); the export's
        last timestamp by default. Hold later weeks out for ``nurturelab backtest``.
    timezone : str, optional
        The team's IANA time zone when known (a column map's ``timezone``); inferred from when
        touches happen otherwise.
    base : World, optional
        The values kept for what the export cannot inform (the default world).
    source : dict, optional
        ``{"leads": name, "events": name}`` of the files, written into the scenario.
    progress : callable, optional
        Called with a line naming each part as it starts.

    Returns
    -------
    Calibration
    """
    from nurturelab.cadence import get_cadence
    from nurturelab.progression import fit_progression
    from nurturelab.twin.arrivals import fit_arrivals
    from nurturelab.twin.sequence import fit_cadence
    from nurturelab.twin.team import fit_team

    need_columns(leads, ("lead_id", "created_at", "source"), "leads")
    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    say = progress or (lambda line: None)
    base = base or World()
    last = max(leads["created_at"].max(), events["ts"].max() if len(events) else pd.NaT)
    given_until = until is not None
    until = last if until is None else utc_timestamp(until, "until")
    if until <= leads["created_at"].min():
        raise ValueError(f"calibrate 'until' ({until:%Y-%m-%d %H:%M}) is before the export's "
                         f"first lead ({leads['created_at'].min():%Y-%m-%d %H:%M}); nothing "
                         "to train on")
    keep = leads["created_at"] <= until
    if since is not None:
        since = utc_timestamp(since, "since")
        if since >= until:
            raise ValueError(f"calibrate 'since' ({since:%Y-%m-%d %H:%M}) must come before "
                             f"'until' ({until:%Y-%m-%d %H:%M})")
        keep &= leads["created_at"] >= since
    ld = leads[keep].reset_index(drop=True)
    if not len(ld):
        raise ValueError("calibrate: no lead was created in the training window")
    ev = events[(events["ts"] <= until) & events["lead_id"].isin(ld["lead_id"])]
    ev = ev.reset_index(drop=True)
    rows: list[dict] = []
    notes: list[str] = _recording_notes(ld, ev, since)
    fits: dict[str, Any] = {}
    is_touch = ev["type"].astype("object").eq("touch")

    say("the team: reps, shift, time zone, working days, handling times")
    team_fit = fit_team(ld, ev, until=until, timezone=timezone, base=base.team, alpha=alpha)
    fits["team"] = team_fit
    team = team_fit.team
    rows += team_fit.table.reset_index().to_dict("records")
    notes += [f"team: {n}" for n in team_fit.notes]

    say("arrivals: rates by source, hour and weekday, trend, over-dispersion, intent, fit")
    # the arrivals' window ends at `until` when one is given (the training cut-off), else at
    # the last lead: an export's leads may stop well before its last event (Olist's leads end
    # in May, its won deals in November)
    arr_fit = fit_arrivals(ld, since=since, until=until if given_until else None,
                           timezone=team.timezone, base=base.arrivals, alpha=alpha)
    fits["arrivals"] = arr_fit
    rows += arr_fit.table.reset_index().to_dict("records")
    notes += [f"arrivals: {n}" for n in arr_fit.notes]

    if cadence is not None:
        cad = get_cadence(cadence)
        rows.append(row("cadence", len(cad.touches), status="given",
                        note=f"{cad.name!r}, {len(cad.touches)} touches, given by the caller"))
    elif is_touch.any():
        say("the cadence the team ran")
        cad_fit = fit_cadence(ld, ev, until=until, team=team, base=base.cadence, alpha=alpha)
        fits["cadence"] = cad_fit
        cad = cad_fit.cadence
        rows += cad_fit.table.reset_index().to_dict("records")
        notes += [f"cadence: {n}" for n in cad_fit.notes]
    else:
        cad = base.cadence
        rows.append(row("cadence", len(cad.touches), status="assumed",
                        note=f"the export has no touches: kept {cad.name!r}"))

    response, more_rows, more_notes, r_fit = _response_step(ld, ev, base, is_touch, say)
    if r_fit is not None:
        fits["response"] = r_fit
    rows += more_rows
    notes += more_notes
    say("behaviour: e-mail opens and clicks, pricing visits, demo requests")
    response, more_rows, fits["behaviour"] = _behaviour_step(ld, ev, response, r_fit, until,
                                                             alpha)
    rows += more_rows

    say("after contact: qualification, proposal, win and their times")
    progression = replace(base.progression, heterogeneity=0.0)
    p_fit = fit_progression(ld, ev, as_of=until, base=progression, alpha=alpha)
    fits["progression"] = p_fit
    progression, loose = _pin_progression(p_fit, p_fit.model, base.progression)
    rows += _progression_rows(p_fit, progression, loose)
    if loose:
        notes.append(f"progression: not pinned down by this export, kept from the base world: "
                     f"{loose}")
    notes += [f"progression: {n}" for n in p_fit.notes if not n.startswith("heterogeneity")]
    world = World(cadence=cad, team=team, arrivals=arr_fit.arrivals, response=response,
                  progression=progression, leads=max(1, round(
                      sum(arr_fit.arrivals.per_day.values()) * 28)),
                  start=f"{until:%Y-%m-%d}", tail_days=base.tail_days, warmup_days=14.0,
                  ae_response_hours=base.ae_response_hours)
    if p_fit.table.empty and _collapsed(ld, ev, until):
        world, more_rows, more_notes = _lead_to_won(ld, ev, world, until, alpha, say)
        rows += more_rows
        notes += more_notes
    handling = [r for r in rows if r["parameter"].startswith("team.handling_minutes.")]
    handling_assumed = bool(handling) and all(r["status"] == "assumed" for r in handling)
    rep_touches = is_touch & ev["rep_id"].notna() if "rep_id" in ev else is_touch & False
    if handling_assumed and rep_touches.any() and world.team.shift is not None:
        world, more_rows, more_notes = _speed_through_the_queue(world, ld, ev, until, say)
        names = {r["parameter"] for r in more_rows}
        rows = [r for r in rows if r["parameter"] not in names] + more_rows
        if more_rows:
            notes = [n for n in notes if not n.startswith("team: handling_minutes and")]
        notes += more_notes
    rows += _unobserved_progression(world, rows)
    ae, ae_rows = _ae_hours(ld, ev, until, base.ae_response_hours, alpha)
    rows += ae_rows
    world = replace(world, ae_response_hours=float(ae))
    rows.append(row("leads", world.leads, status="inferred",
                    note="four weeks of the fitted arrivals (change with --leads)"))
    table = parameter_table(rows)
    return Calibration(world=world, table=table, notes=tuple(notes), until=until, fits=fits,
                       source=dict(source or {}))
