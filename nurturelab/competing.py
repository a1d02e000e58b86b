"""How leads end: won, lost, opted out, gone dark or recycled, and how likely each ending is.

A lead does not just convert or "stay censored". It ends in one of several ways, and the ways
compete: a lead that opts out on day 5 will not convert on day 40, so treating it as censored
(as if it might still convert) overstates conversion. This module makes the endings explicit
and estimates them as competing risks:

* :func:`lead_endings` — one row per lead: its ``ending`` (``won``, ``lost``, ``opted_out``,
  ``gone_dark``, ``recycled``, or ``open`` when none has happened by ``as_of``: censored),
  ``duration_days`` to it and the time of every candidate ending.
* :func:`cumulative_incidence` — Aalen-Johansen cumulative incidence of each ending by group
  (segment, source, arm) with intervals (lifelines' ``AalenJohansenFitter``), beside the
  Kaplan-Meier probability of still being open and the naive ``1 - KM`` that censors the
  other endings. At every time the incidences of all endings plus the probability of being
  still open sum to one; the naive curves do not.
* :func:`cause_specific_cox` — a Cox model of each ending's cause-specific hazard (the other
  endings censored at their time), and the cumulative incidence they imply together for a
  covariate profile: competing-risks regression built on cause-specific hazards
  (lifelines has none; its issue 619).
* :func:`incidence_by_arm` — for an A/B test: per-arm incidence of one ending at 30/60/90
  days with intervals, a Wald test of equal incidence across arms at each horizon and the
  log-rank test of the cause-specific hazard, and a Fine-Gray score test of equal incidence
  curves (asymptotically Gray's test).
* :func:`fine_gray` — on request, the Fine-Gray model of one ending's subdistribution hazard
  (a weighted Cox model on the expanded data of Geskus 2011). Its per-ending models do not
  add up (their predicted incidences can sum past one); the cause-specific route is the
  default.

Ties. Two endings of different kinds at the same duration are ordered for the estimators by
:data:`ENDINGS` (won first), each later kind moved earlier by a tiny amount far below the gap
between distinct durations; this leaves the Aalen-Johansen estimates unchanged (they do not
depend on the order within a tie) and keeps lifelines from jittering times at random (it
seeds NumPy's global generator to do so). An ending at duration zero is moved to a tiny
positive duration, since lifelines' estimator drops an event at time zero.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nurturelab._censoring import censoring_left
from nurturelab._timestamps import utc_ns
from nurturelab.checks import is_number, need_columns
from nurturelab.funnel import DEFAULT_FUNNEL, Funnel, outcomes
from nurturelab.plots import axes
from nurturelab.result import Result
from nurturelab.schema import normalise_labels

__all__ = [
    "CATEGORIES",
    "ENDINGS",
    "ArmIncidence",
    "CauseSpecificCox",
    "CumulativeIncidence",
    "FineGrayModel",
    "cause_specific_cox",
    "cumulative_incidence",
    "fine_gray",
    "incidence_by_arm",
    "lead_endings",
]

ENDINGS = ("won", "opted_out", "lost", "recycled", "gone_dark")
"""The ways a lead ends, in the order that breaks a tie at the same timestamp."""
OPEN = "open"
CATEGORIES = ("won", "lost", "opted_out", "gone_dark", "recycled", OPEN)
"""The categories of ``ending``; ``open`` is censored (no ending by ``as_of``)."""

_DAY = pd.Timedelta(days=1)
_ALL = "all"
_MISSING = "(missing)"
_OWN = ("created_at", "ending", "ended_at", "duration_days", "won_at", "lost_at",
        "opted_out_at", "recycled_at", "gone_dark_at")


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------
def _alpha(alpha: Any, owner: str) -> float:
    if not (is_number(alpha) and 0 < float(alpha) < 1):
        raise ValueError(f"{owner} 'alpha' must be a number strictly between 0 and 1. "
                         f"Got {alpha!r} instead.")
    return float(alpha)


def _horizons(horizons: Any, owner: str) -> tuple[float, ...]:
    vals = (horizons,) if np.isscalar(horizons) else tuple(horizons)
    if not vals or not all(is_number(v) and np.isfinite(v) and v > 0 for v in vals):
        raise ValueError(f"{owner} 'horizons' must be positive numbers of days, e.g. "
                         f"(30, 60, 90). Got {horizons!r} instead.")
    return tuple(float(v) for v in vals)


def _endings_column(table: pd.DataFrame, duration_col: str, ending_col: str,
                    owner: str) -> tuple[np.ndarray, np.ndarray]:
    need_columns(table, (duration_col, ending_col), "table")
    if not len(table):
        raise ValueError(f"{owner}: the table has no rows")
    d = pd.to_numeric(table[duration_col], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(d).all() or (d < 0).any():
        bad = table.index[~(np.isfinite(d) & (d >= 0))][:3].tolist()
        raise ValueError(f"{owner}: '{duration_col}' must hold non-negative numbers of days; "
                         f"the first offending rows are {bad}")
    e = table[ending_col].astype(object).to_numpy()
    unknown = sorted({str(v) for v in e} - set(CATEGORIES))
    if unknown:
        raise ValueError(f"{owner}: '{ending_col}' has unknown endings {unknown}; allowed are "
                         f"{list(CATEGORIES)} (open = censored)")
    return d, e


# --------------------------------------------------------------------------------------------
# Endings
# --------------------------------------------------------------------------------------------
def lead_endings(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    funnel: Funnel = DEFAULT_FUNNEL,
    as_of: Any = None,
    dark_days: float | None = 30.0,
    recycled: str | None = "recycled",
    opt_out: str = "opt_out",
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """How each lead ended, and when, as of a timestamp (only data up to it is used).

    The candidate endings of a lead, each at its first occurrence by ``as_of``:

    * ``won``: entering the funnel's conversion stage (``converted_at`` of
      :func:`nurturelab.funnel.outcomes`);
    * ``lost``: a ``stage`` event named the funnel's ``lost`` stage;
    * ``opted_out``: a ``response`` event named ``opt_out``;
    * ``recycled``: a ``stage`` event named ``recycled`` (when not None);
    * ``gone_dark`` (when ``dark_days`` is not None): the lead has been touched and its
      silence is unbroken at ``as_of``: no sign from it for ``dark_days`` days since the
      later of its first touch and its last sign. A sign is any ``response`` or ``activity``
      event, or a ``stage`` event other than lost and recycled (a rep moving it on). The
      ending's time is that moment, the later of the two plus ``dark_days``. A lead that
      answers after a silence was not dark: only the silence that runs up to ``as_of``
      counts, so the same lead can be gone dark as of one date and open (or won) as of a
      later one; nothing after ``as_of`` is ever read.

    The first ending wins (a lead lost and later won ended ``lost``); at equal timestamps the
    order is :data:`ENDINGS`: won, opted_out, lost, recycled, gone_dark. A lead with none is
    ``open``: censored at ``as_of``.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:mod:`nurturelab.schema`).
    funnel : Funnel
        Its last stage is conversion, its ``lost`` names the loss.
    as_of : timestamp-like, optional
        Defaults to the latest timestamp in the data; leads created after it are left out.
    dark_days : float or None, default 30
        Days of silence after which a touched lead has gone dark; None: no lead goes dark.
    recycled : str or None, default 'recycled'
        The stage event that sends a lead back to nurture; None: no lead is recycled.
    opt_out : str, default 'opt_out'
        The response event that opts a lead out.
    columns : sequence of str, optional
        Lead columns to carry (``source``, ``fit`` ...); every lead column but ``lead_id`` and
        ``created_at`` by default.

    Returns
    -------
    DataFrame indexed by ``lead_id``: ``created_at``, ``ending`` (categorical, categories
    :data:`CATEGORIES`), ``ended_at`` (NaT when open), ``duration_days`` (to the ending, or to
    ``as_of`` when open), ``won_at``, ``lost_at``, ``opted_out_at``, ``recycled_at``,
    ``gone_dark_at`` (each candidate's time, NaT when it did not happen), the lead columns and
    ``arm`` when the events carry one and the leads do not (the arm of the lead's first event
    naming one). ``attrs`` holds ``as_of`` and ``dark_days``.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["a", "b", "c", "d"], "created_at": pd.to_datetime(
    ...     ["2026-01-01"] * 4, utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["a", "b", "c", "c", "d"],
    ...     "ts": pd.to_datetime(["2026-01-11", "2026-01-03", "2026-01-02", "2026-01-04",
    ...                           "2026-01-20"], utc=True),
    ...     "type": ["stage", "response", "touch", "activity", "stage"],
    ...     "name": ["won", "opt_out", "call_attempt", "pricing_visit", "lost"]})
    >>> t = lead_endings(leads, events, as_of="2026-03-01", dark_days=30)
    >>> t["ending"].astype(str).to_dict()
    {'a': 'won', 'b': 'opted_out', 'c': 'gone_dark', 'd': 'lost'}
    >>> t["duration_days"].tolist()  # c: silent since its pricing visit on day 3, for 30 days
    [10.0, 2.0, 33.0, 19.0]
    """
    need_columns(leads, ("lead_id", "created_at"), "leads")
    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    if dark_days is not None and not (is_number(dark_days) and np.isfinite(dark_days)
                                      and dark_days > 0):
        raise ValueError(f"lead_endings 'dark_days' must be a positive number of days or None. "
                         f"Got {dark_days!r} instead.")
    for what, value in (("recycled", recycled), ("opt_out", opt_out)):
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise ValueError(f"lead_endings {what!r} must be an event name (a non-empty "
                             f"string){' or None' if what == 'recycled' else ''}. "
                             f"Got {value!r} instead.")
    out = outcomes(leads, events, funnel, as_of)
    as_of = out.attrs["as_of"]
    ids = out.index
    ev = events.loc[(events["ts"] <= as_of).to_numpy() & events["lead_id"].isin(ids).to_numpy()]
    lid = ev["lead_id"].astype(object)
    kind = ev["type"].astype(object)
    name = ev["name"].astype(object)

    def first(mask) -> pd.Series:
        m = np.asarray(mask, dtype=bool)
        return ev.loc[m, "ts"].groupby(lid[m]).min().reindex(ids)

    def label(v: str) -> str:
        return str(normalise_labels(pd.Series([v])).iloc[0])

    is_stage = kind.eq("stage").to_numpy()
    won_at = out["converted_at"]
    lost_at = first(is_stage & name.eq(funnel.lost).to_numpy())
    opted_at = first(kind.eq("response").to_numpy() & name.eq(label(opt_out)).to_numpy())
    nat = pd.Series(pd.NaT, index=ids, dtype=won_at.dtype)
    recycled_at = (first(is_stage & name.eq(label(recycled)).to_numpy())
                   if recycled is not None else nat)
    if dark_days is not None:
        closing = {funnel.lost} | ({label(recycled)} if recycled is not None else set())
        sign = (kind.isin(("response", "activity")).to_numpy()
                | (is_stage & ~name.isin(closing).to_numpy()))
        last_sign = ev.loc[sign, "ts"].groupby(lid[sign]).max().reindex(ids)
        first_touch = first(kind.eq("touch").to_numpy())
        anchor = pd.concat([first_touch, last_sign.where(first_touch.notna())],
                           axis=1).max(axis=1)
        dark_at = anchor + pd.Timedelta(days=float(dark_days))
        dark_at = dark_at.where(dark_at <= as_of)
    else:
        dark_at = nat
    cand = {"won": won_at, "opted_out": opted_at, "lost": lost_at, "recycled": recycled_at,
            "gone_dark": dark_at}
    ns = np.column_stack([utc_ns(cand[k]) for k in ENDINGS])  # in ENDINGS' order: ties
    never = np.iinfo(np.int64).max
    ns = np.where(ns == np.iinfo(np.int64).min, never, ns)
    which = ns.argmin(axis=1)  # the first minimum: the earlier ending kind wins a tie
    ended = ns[np.arange(len(ids)), which] != never
    ending = np.where(ended, np.array(ENDINGS, dtype=object)[which], OPEN)
    ended_at = pd.Series(pd.to_datetime(np.where(ended, ns[np.arange(len(ids)), which], 0),
                                        utc=True), index=ids).where(ended)
    created = out["created_at"]
    table = pd.DataFrame({
        "created_at": created,
        "ending": pd.Categorical(ending, categories=list(CATEGORIES)),
        "ended_at": ended_at,
        "duration_days": (ended_at.fillna(as_of) - created) / _DAY,
        "won_at": won_at, "lost_at": lost_at, "opted_out_at": opted_at,
        "recycled_at": recycled_at, "gone_dark_at": dark_at,
    }, index=ids)
    ld = leads.set_index(leads["lead_id"].astype(object))
    cols = ([c for c in ld.columns if c not in ("lead_id", "created_at")]
            if columns is None else list(columns))
    need_columns(ld, cols, "leads")
    clash = [c for c in cols if c in _OWN]
    if clash:
        raise ValueError(f"lead_endings: leads columns {clash} clash with its own columns; "
                         "rename them or leave them out of 'columns'")
    table = table.join(ld[cols])
    if "arm" in events.columns and "arm" not in table.columns and events["arm"].notna().any():
        armed = ev.loc[ev["arm"].notna().to_numpy(), ["lead_id", "ts", "arm"]]
        armed = armed.sort_values("ts", kind="stable").drop_duplicates("lead_id")
        table["arm"] = armed.set_index(armed["lead_id"].astype(object))["arm"].reindex(ids)
    table.attrs.update(as_of=as_of, dark_days=dark_days)
    return table


# --------------------------------------------------------------------------------------------
# Cumulative incidence (Aalen-Johansen)
# --------------------------------------------------------------------------------------------
def _untie(d: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Durations with ties between different endings broken by ending code and events at zero
    moved off it, by amounts far below the gap between distinct durations (see the module)."""
    d = d.astype(float).copy()
    uniq = np.unique(d)
    gaps = np.diff(uniq)
    scale = float(gaps.min()) if len(gaps) else max(float(uniq[0]), 1.0)
    eps = min(scale, 1.0) * 1e-6
    event = code > 0
    d[event & (d == 0)] = eps / 2  # lifelines' estimator drops an event at time zero
    ev_d, ev_c = d[event], code[event]
    frame = pd.DataFrame({"d": ev_d, "c": ev_c})
    n_kinds = frame.groupby("d")["c"].transform("nunique").to_numpy()
    if (n_kinds > 1).any():
        rank = frame.groupby("d")["c"].rank(method="dense").to_numpy() - 1
        shift = np.where(n_kinds > 1, rank * eps / (len(ENDINGS) + 1), 0.0)
        d[event] = ev_d - shift
    return d


def _step_at(index: np.ndarray, values: np.ndarray, t: float) -> float:
    i = int(np.searchsorted(index, t, side="right")) - 1
    return float(values[i]) if i >= 0 else np.nan


@dataclass(repr=False)
class CumulativeIncidence(Result):
    """Aalen-Johansen cumulative incidence of each ending, per group (see
    :func:`cumulative_incidence`).

    Attributes
    ----------
    by : str or None
        The grouping column (None: all leads as one group, ``all``).
    horizons : tuple of float
    alpha : float
    curves : dict
        ``{group: DataFrame}`` indexed by days, one column per ending (the incidence) and
        ``open`` (Kaplan-Meier probability of no ending yet), at every distinct duration.
    fitters_ : dict
        ``{(group, ending): lifelines.AalenJohansenFitter}``.
    max_sum_error_ : float
        Largest ``|sum of incidences + P(open) - 1|`` over every group and time (zero up to
        rounding: the estimator's defining property); 0 when only some endings are reported.
    """

    by: str | None
    horizons: tuple[float, ...]
    alpha: float
    table: pd.DataFrame = field(repr=False)
    curves: dict = field(repr=False)
    fitters_: dict = field(repr=False)
    max_sum_error_: float = 0.0

    @property
    def summary(self) -> pd.DataFrame:
        """One row per group, ending and horizon: ``n`` (leads in the group), ``events``
        (leads with that ending), ``incidence`` = P(ended this way within the horizon) with
        ``low``/``high`` (lifelines' interval, log-log), and ``naive``, ``1 - KM`` with the
        other endings censored, which overstates the incidence. The ``open`` rows hold the
        Kaplan-Meier probability of no ending yet; over a group and horizon the
        ``incidence`` column sums to one. NaN past a group's follow-up."""
        return self.table

    def _describe(self) -> str:
        groups = self.table.index.get_level_values(0).unique()
        n = int(self.table.groupby(level=0)["n"].first().sum())
        ends = [e for e in self.table.index.get_level_values(1).unique() if e != OPEN]
        return (f"{'all leads' if self.by is None else f'by {self.by}'}: {len(groups)} "
                f"group(s), {n:,d} leads, endings {', '.join(ends)}")

    def incidence(self, ending: str = "won") -> pd.DataFrame:
        """The incidence of one ending: groups as rows, ``<t>d``, ``<t>d_low``, ``<t>d_high``
        per horizon as columns."""
        s = self.table.xs(ending, level="ending")
        wide = {}
        for h in self.horizons:
            part = s.xs(h, level="horizon_days")
            wide[f"{h:g}d"] = part["incidence"]
            wide[f"{h:g}d_low"] = part["low"]
            wide[f"{h:g}d_high"] = part["high"]
        return pd.DataFrame(wide)

    def plot(self, ax=None, *, group: Any = None, stacked: bool = False):
        """Incidence curves of each ending (solid) with the naive ``1 - KM`` of won (dashed);
        ``stacked=True`` stacks the endings and ``open`` up to one for one group (the first by
        default). Returns the axes."""
        ax = axes(ax)
        groups = list(self.curves) if group is None else [group]
        if stacked:
            g = groups[0]
            c = self.curves[g]
            ends = [e for e in c.columns if e != OPEN]
            ax.stackplot(c.index, *[c[e].to_numpy() for e in ends], c[OPEN].to_numpy(),
                         labels=[*ends, OPEN], step="post", alpha=0.8)
            ax.set_ylim(0, 1)
            ax.set_title(f"How leads end: {g}" if self.by else "How leads end")
        else:
            for g in groups:
                c = self.curves[g]
                for e in c.columns:
                    if e == OPEN:
                        continue
                    lab = e if len(groups) == 1 else f"{g}: {e}"
                    ax.step(c.index, c[e], where="post", label=lab)
            if "won" in self.curves[groups[0]].columns and len(groups) == 1:
                naive = self.curves[groups[0]].attrs.get("naive_won")
                if naive is not None:
                    ax.step(naive.index, naive.to_numpy(), where="post", linestyle="--",
                            color="grey", label="won, naive 1 - KM")
            ax.set_title("Cumulative incidence of each ending" +
                         (f" by {self.by}" if self.by else ""))
        ax.set_xlabel("days since created")
        ax.set_ylabel("P(ended this way)")
        ax.legend(fontsize=8)
        return ax


def cumulative_incidence(
    table: pd.DataFrame,
    *,
    by: str | None = None,
    horizons: Iterable[float] = (30, 60, 90),
    alpha: float = 0.05,
    endings: Sequence[str] | None = None,
    duration_col: str = "duration_days",
    ending_col: str = "ending",
) -> CumulativeIncidence:
    """Aalen-Johansen cumulative incidence of every ending, by group, with intervals.

    Each ending's incidence is lifelines' ``AalenJohansenFitter`` (its variance, a Greenwood
    type estimator, and its log-log interval); the probability of no ending yet is the
    Kaplan-Meier curve of any ending. ``CIF_k(t) = sum_{t_j <= t} S(t_j-) d_k(t_j) / n(t_j)``,
    so the incidences and ``S`` sum to one at every time. The naive ``1 - KM`` of an ending,
    censoring the others, estimates the incidence in a world where no other ending could
    happen, and is larger.

    Parameters
    ----------
    table : DataFrame
        From :func:`lead_endings` (or any table with ``duration_col`` and ``ending_col``, whose
        values are among :data:`CATEGORIES`, ``open`` being censored).
    by : str, optional
        A grouping column (``source``, ``segment``, ``arm``); missing values form
        ``(missing)``. Groups are ordered by size, largest first.
    horizons : iterable of float, default (30, 60, 90)
        Days at which incidences are reported.
    alpha : float, default 0.05
        1 - confidence level.
    endings : sequence of str, optional
        Which endings to report (every ending the table holds by default); the others still
        end leads (they compete), they are only not reported. Fewer is faster: lifelines'
        variance is a loop over the event times.

    Returns
    -------
    CumulativeIncidence

    Examples
    --------
    >>> t = pd.DataFrame({"duration_days": [2.0, 3, 5, 8, 9, 12],
    ...                   "ending": ["won", "lost", "open", "won", "opted_out", "open"]})
    >>> ci = cumulative_incidence(t, horizons=(10,))
    >>> ci.summary.xs(10.0, level="horizon_days")["incidence"].round(4).to_dict()
    ... # doctest: +NORMALIZE_WHITESPACE
    {('all', 'won'): 0.3889, ('all', 'opted_out'): 0.2222, ('all', 'lost'): 0.1667,
     ('all', 'open'): 0.2222}
    """
    from lifelines import AalenJohansenFitter, KaplanMeierFitter

    alpha = _alpha(alpha, "cumulative_incidence")
    hs = _horizons(horizons, "cumulative_incidence")
    d_all, e_all = _endings_column(table, duration_col, ending_col, "cumulative_incidence")
    if by is None:
        labels = pd.Series(_ALL, index=table.index)
    else:
        need_columns(table, (by,), "table")
        labels = table[by].astype(object).where(table[by].notna(), _MISSING).astype(str)
    present = [e for e in ENDINGS if (e_all == e).any()]
    if not present:
        raise ValueError("cumulative_incidence: no lead has ended yet (every ending is "
                         "'open'); there is nothing to estimate")
    if endings is not None:
        wanted = [endings] if isinstance(endings, str) else list(endings)
        bad = [e for e in wanted if e not in ENDINGS]
        if bad or not wanted:
            raise ValueError(f"cumulative_incidence 'endings' must be among {list(ENDINGS)}. "
                             f"Got {endings!r} instead.")
        present = [e for e in ENDINGS if e in wanted]
    codes = {e: i + 1 for i, e in enumerate(ENDINGS)}
    rows, curves, fitters, worst = [], {}, {}, 0.0
    for g in labels.value_counts(sort=True).index:
        m = labels.eq(g).to_numpy()
        e = e_all[m]
        code = np.array([codes.get(v, 0) for v in e])
        d = _untie(d_all[m], code)
        km = KaplanMeierFitter(alpha=alpha).fit(d, code > 0)
        sf = km.survival_function_.iloc[:, 0]
        t_idx = sf.index.to_numpy()
        curve = pd.DataFrame(index=pd.Index(t_idx, name="days"))
        max_d, s_end = float(d.max()), float(sf.iloc[-1])
        for end in present:
            k = codes[end]
            n_ev = int((code == k).sum())
            if n_ev:
                aj = AalenJohansenFitter(alpha=alpha, calculate_variance=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    aj.fit(d, code, event_of_interest=k)
                fitters[(g, end)] = aj
                cif = aj.cumulative_density_.iloc[:, 0]
                ci = aj.confidence_interval_
                lo_c, hi_c = ci.min(axis=1), ci.max(axis=1)  # lifelines' labels are swapped
                cif_idx = cif.index.to_numpy()
                pos = np.searchsorted(cif_idx, t_idx, side="right") - 1
                curve[end] = np.where(pos >= 0, cif.to_numpy()[np.maximum(pos, 0)], 0.0)
                naive = KaplanMeierFitter(alpha=alpha).fit(d, code == k)
                n_sf = naive.survival_function_.iloc[:, 0]
                if end == "won":
                    curve.attrs["naive_won"] = 1 - n_sf
            else:
                curve[end] = 0.0
            for h in hs:
                beyond = h > max_d and s_end > 0
                if not n_ev:
                    inc, lo, hi, nv = 0.0, np.nan, np.nan, 0.0
                else:
                    inc = _step_at(cif_idx, cif.to_numpy(), h)
                    lo = _step_at(cif_idx, lo_c.to_numpy(), h)
                    hi = _step_at(cif_idx, hi_c.to_numpy(), h)
                    nv = 1 - _step_at(n_sf.index.to_numpy(), n_sf.to_numpy(), h)
                if beyond:
                    inc = lo = hi = nv = np.nan
                rows.append({by or "group": g, "ending": end, "horizon_days": h,
                             "n": int(m.sum()), "events": n_ev, "incidence": inc,
                             "low": lo, "high": hi, "naive": nv})
        curve[OPEN] = sf.to_numpy()
        if endings is None:
            worst = max(worst, float(np.abs(curve.sum(axis=1) - 1).max()))
        ci_km = km.confidence_interval_
        for h in hs:
            beyond = h > max_d and s_end > 0
            s_h = _step_at(t_idx, sf.to_numpy(), h)
            lo = _step_at(t_idx, ci_km.iloc[:, 0].to_numpy(), h)
            hi = _step_at(t_idx, ci_km.iloc[:, 1].to_numpy(), h)
            rows.append({by or "group": g, "ending": OPEN, "horizon_days": h,
                         "n": int(m.sum()), "events": int((code == 0).sum()),
                         "incidence": np.nan if beyond else s_h,
                         "low": np.nan if beyond else lo, "high": np.nan if beyond else hi,
                         "naive": np.nan})
        curves[g] = curve
    summary = pd.DataFrame(rows).set_index([by or "group", "ending", "horizon_days"])
    return CumulativeIncidence(by=by, horizons=hs, alpha=alpha, table=summary, curves=curves,
                               fitters_=fitters, max_sum_error_=worst)


# --------------------------------------------------------------------------------------------
# Cause-specific Cox models and the incidence they imply
# --------------------------------------------------------------------------------------------
def _design(df: pd.DataFrame, covariates: Sequence[str],
            levels: dict[str, list] | None = None) -> tuple[pd.DataFrame, dict[str, list]]:
    """Numeric design columns: numbers as they are, categories one-hot (first level dropped)."""
    parts, learned = [], {} if levels is None else levels
    for c in covariates:
        s = df[c]
        categorical = (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s)
                       or pd.api.types.is_string_dtype(s) or pd.api.types.is_bool_dtype(s))
        if levels is None and categorical:
            learned[c] = sorted(pd.unique(s.dropna().astype(str)))
        if c in learned:
            cat = pd.Categorical(s.astype(object).where(s.notna(), None).map(
                lambda v: None if v is None else str(v)), categories=learned[c])
            dummies = pd.get_dummies(pd.Series(cat, index=df.index), prefix=c, prefix_sep="=",
                                     dtype=float)
            parts.append(dummies.iloc[:, 1:])
        else:
            parts.append(pd.to_numeric(s, errors="raise").astype(float).rename(c).to_frame())
    return pd.concat(parts, axis=1), learned


@dataclass(repr=False)
class CauseSpecificCox(Result):
    """Cox models of the cause-specific hazard of every ending (see :func:`cause_specific_cox`).

    Attributes
    ----------
    ending : str
        The ending in focus (reported first, plotted, predicted by default).
    covariates : list of str
    fitters_ : dict
        ``{ending: lifelines.CoxPHFitter}``, one per ending with events, each fitted with the
        other endings censored at their time.
    """

    ending: str
    covariates: list
    alpha: float
    fitters_: dict = field(repr=False)
    levels_: dict = field(repr=False)
    n_: int = 0

    @property
    def summary(self) -> pd.DataFrame:
        """Hazard ratios per ending and design column: ``hazard_ratio`` with ``low``/``high``,
        ``coef``, ``se`` and ``p``; the ending in focus first."""
        rows = []
        order = [self.ending] + [e for e in self.fitters_ if e != self.ending]
        for e in order:
            s = self.fitters_[e].summary
            lo = [c for c in s.columns if c.startswith("exp(coef) lower")][0]
            hi = [c for c in s.columns if c.startswith("exp(coef) upper")][0]
            rows.append(pd.DataFrame({"ending": e, "term": s.index, "hazard_ratio":
                                      s["exp(coef)"].to_numpy(), "low": s[lo].to_numpy(),
                                      "high": s[hi].to_numpy(), "coef": s["coef"].to_numpy(),
                                      "se": s["se(coef)"].to_numpy(), "p": s["p"].to_numpy()}))
        return pd.concat(rows, ignore_index=True).set_index(["ending", "term"])

    def _describe(self) -> str:
        events = int(self.fitters_[self.ending].event_observed.sum())
        return (f"cause-specific hazards of {len(self.fitters_)} endings on "
                f"{', '.join(self.covariates)}; {self.ending}: {events:,d} of {self.n_:,d} "
                "leads")

    def predict_cumulative_incidence(self, profiles: pd.DataFrame,
                                     times: Iterable[float] = (30, 60, 90),
                                     ending: str | None = None) -> pd.DataFrame:
        """P(ending within t days) for each covariate profile, from all the cause-specific
        hazards together.

        ``CIF_k(t | x) = sum_{t_j <= t} S(t_j- | x) dLambda_k(t_j | x)`` with each ending's
        Breslow cumulative hazard ``Lambda_k(t | x)`` and ``S`` the product over event times of
        ``1 - sum_k dLambda_k(t_j | x)`` (so the incidences and ``S`` sum to one).

        Parameters
        ----------
        profiles : DataFrame
            One row per profile with the model's covariates.
        times : iterable of float
        ending : str, optional
            Which ending; the one in focus by default. ``"all"``: a long table of every ending
            and ``open``.

        Returns
        -------
        DataFrame: rows as ``profiles``, one column ``<t>d`` per time (or, with ``"all"``,
        indexed by profile and ending).
        """
        ts = _horizons(times, "predict_cumulative_incidence")
        need_columns(profiles, self.covariates, "profiles")
        X, _ = _design(profiles, self.covariates, self.levels_)
        hazards = {}
        grid = np.unique(np.concatenate([f.baseline_cumulative_hazard_.index.to_numpy()
                                         for f in self.fitters_.values()]))
        for e, f in self.fitters_.items():
            ch = f.predict_cumulative_hazard(X[f.params_.index])
            ch = ch.reindex(grid, method="ffill").fillna(0.0).to_numpy()  # grid x profiles
            hazards[e] = np.diff(np.vstack([np.zeros(ch.shape[1]), ch]), axis=0)
        total = sum(hazards.values())
        surv = np.cumprod(np.clip(1 - total, 0, 1), axis=0)
        before = np.vstack([np.ones(surv.shape[1]), surv[:-1]])
        cif = {e: np.cumsum(before * dh, axis=0) for e, dh in hazards.items()}
        cif[OPEN] = surv
        idx = [int(np.searchsorted(grid, t, side="right")) - 1 for t in ts]

        def at(curve: np.ndarray) -> np.ndarray:
            return np.array([curve[i] if i >= 0 else np.zeros(curve.shape[1]) for i in idx]).T

        cols = [f"{t:g}d" for t in ts]
        if ending == "all":
            parts = [pd.DataFrame(at(c), index=profiles.index, columns=cols).assign(ending=e)
                     for e, c in cif.items()]
            return pd.concat(parts).set_index("ending", append=True).sort_index(level=0)
        e = self.ending if ending is None else ending
        if e not in cif:
            raise ValueError(f"predict_cumulative_incidence 'ending' must be one of "
                             f"{sorted(cif)} or 'all'. Got {e!r} instead.")
        return pd.DataFrame(at(cif[e]), index=profiles.index, columns=cols)

    def plot(self, ax=None):
        """Hazard ratios of the ending in focus with their intervals; returns the axes."""
        ax = axes(ax)
        s = self.summary.loc[self.ending]
        y = np.arange(len(s))
        hr = s["hazard_ratio"].to_numpy()
        ax.errorbar(hr, y, xerr=[hr - s["low"].to_numpy(), s["high"].to_numpy() - hr], fmt="o")
        ax.axvline(1.0, color="grey", linestyle="--")
        ax.set_yticks(y, list(s.index))
        ax.set_xscale("log")
        ax.set_xlabel(f"cause-specific hazard ratio of {self.ending}")
        return ax


def cause_specific_cox(
    table: pd.DataFrame,
    *,
    ending: str = "won",
    covariates: Sequence[str],
    duration_col: str = "duration_days",
    ending_col: str = "ending",
    penalizer: float = 0.0,
    alpha: float = 0.05,
) -> CauseSpecificCox:
    """Cox models of each ending's cause-specific hazard, other endings censored at their time.

    The hazard ratios of the ending in focus say how a covariate changes the rate of that
    ending among the leads still open; they are not its effect on the incidence, which also
    depends on the other endings. :meth:`CauseSpecificCox.predict_cumulative_incidence`
    combines every ending's model into the incidence for a profile. Categorical covariates
    are one-hot coded with their first level (in sorted order) as reference.

    Parameters
    ----------
    table : DataFrame
        From :func:`lead_endings`, with the covariates.
    ending : str, default 'won'
    covariates : sequence of str
    penalizer : float, default 0
        lifelines' ridge penalty (every model).
    alpha : float, default 0.05

    Returns
    -------
    CauseSpecificCox

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 2, 400)
    >>> t_won, t_lost = rng.exponential(1 / (0.02 * np.exp(0.7 * x))), rng.exponential(50, 400)
    >>> t = pd.DataFrame({"x": x, "duration_days": np.minimum(np.minimum(t_won, t_lost), 90),
    ...                   "ending": np.where(np.minimum(t_won, t_lost) > 90, "open",
    ...                                      np.where(t_won < t_lost, "won", "lost"))})
    >>> m = cause_specific_cox(t, covariates=["x"])
    >>> bool(m.summary.loc[("won", "x"), "low"] < 2.01 < m.summary.loc[("won", "x"), "high"])
    True
    """
    from lifelines import CoxPHFitter

    alpha = _alpha(alpha, "cause_specific_cox")
    if not (is_number(penalizer) and np.isfinite(penalizer) and penalizer >= 0):
        raise ValueError(f"cause_specific_cox 'penalizer' must be a number >= 0. Got "
                         f"{penalizer!r} instead.")
    d, e = _endings_column(table, duration_col, ending_col, "cause_specific_cox")
    if isinstance(covariates, str) or not len(covariates):
        raise ValueError("cause_specific_cox 'covariates' must be a non-empty list of column "
                         f"names. Got {covariates!r} instead.")
    covariates = list(covariates)
    need_columns(table, covariates, "table")
    bad = {c: int(n) for c, n in table[covariates].isna().sum().items() if n}
    if bad:
        raise ValueError(f"cause_specific_cox: missing values in {bad} (column: rows); drop or "
                         "fill them before fitting")
    if ending not in ENDINGS or not (e == ending).any():
        raise ValueError(f"cause_specific_cox 'ending' must be an ending the table holds, among "
                         f"{sorted({str(v) for v in e} - {OPEN})}. Got {ending!r} instead.")
    X, levels = _design(table, covariates)
    dd = np.where(d > 0, d, 1e-9)
    fitters = {}
    for end in ENDINGS:
        if not (e == end).any():
            continue
        df = X.assign(_T=dd, _E=(e == end).astype(int))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitters[end] = CoxPHFitter(penalizer=penalizer, alpha=alpha).fit(
                df, "_T", "_E")
    return CauseSpecificCox(ending=ending, covariates=covariates, alpha=alpha, fitters_=fitters,
                            levels_=levels, n_=len(table))


# --------------------------------------------------------------------------------------------
# Fine-Gray subdistribution hazards (on request)
# --------------------------------------------------------------------------------------------
def _fine_gray_rows(d: np.ndarray, is_event: np.ndarray, is_competing: np.ndarray,
                    is_censored: np.ndarray) -> dict[str, np.ndarray]:
    """The Fine-Gray expanded data (Geskus 2011; R ``survival::finegray``): every lead has a
    row (0, d] with weight 1; a lead with a competing ending at ``d`` stays at risk after it
    with weight ``G(s-) / G(d-)`` at each later event time ``s``, as rows (start, stop] over
    which that weight is constant."""
    ev_t = np.unique(d[is_event])
    ones = np.ones(len(d))  # unweighted: every lead counts once
    g_ev = censoring_left(d, is_censored, ones, ev_t)
    n = len(d)
    ids, starts, stops, events, weights = ([np.arange(n)], [np.zeros(n)], [d.copy()],
                                           [is_event.astype(int)], [np.ones(n)])
    # runs of consecutive event times over which G(s-) is constant
    change = np.r_[True, g_ev[1:] != g_ev[:-1]]
    run_first = np.flatnonzero(change)
    run_last = np.r_[run_first[1:] - 1, len(ev_t) - 1]
    comp = np.flatnonzero(is_competing)
    g_own = censoring_left(d, is_censored, ones, d[comp])
    k0 = np.searchsorted(ev_t, d[comp], side="right")
    for i, k, g0 in zip(comp, k0, g_own, strict=True):
        if k >= len(ev_t) or g0 <= 0:
            continue
        r = np.flatnonzero(run_last >= k)
        first = np.maximum(run_first[r], k)
        last = run_last[r]
        start = np.where(first > k, ev_t[np.maximum(first - 1, 0)], d[i])
        ids.append(np.full(len(r), i))
        starts.append(start)
        stops.append(ev_t[last])
        events.append(np.zeros(len(r), dtype=int))
        weights.append(g_ev[first] / g0)
    return {"id": np.concatenate(ids), "start": np.concatenate(starts),
            "stop": np.concatenate(stops), "event": np.concatenate(events),
            "weight": np.concatenate(weights)}


def _weighted_breslow(rows: dict[str, np.ndarray], risk: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event times, their weighted risk-set sums ``sum w exp(x b)`` over rows with
    start < s <= stop, and the Breslow increments ``d(s) / risk sum``."""
    ev = rows["event"] == 1
    ev_t, d_k = np.unique(rows["stop"][ev], return_counts=True)
    wr = rows["weight"] * risk
    o_stop = np.argsort(rows["stop"], kind="stable")
    o_start = np.argsort(rows["start"], kind="stable")
    cs_stop = np.r_[np.cumsum(wr[o_stop][::-1])[::-1], 0.0]
    cs_start = np.r_[np.cumsum(wr[o_start][::-1])[::-1], 0.0]
    at_stop = cs_stop[np.searchsorted(rows["stop"][o_stop], ev_t, side="left")]  # stop >= s
    at_start = cs_start[np.searchsorted(rows["start"][o_start], ev_t, side="left")]  # start >= s
    r_sum = at_stop - at_start
    return ev_t, r_sum, d_k / r_sum


def _fine_gray_inputs(table, ending, duration_col, ending_col, owner):
    d, e = _endings_column(table, duration_col, ending_col, owner)
    if ending not in ENDINGS or not (e == ending).any():
        raise ValueError(f"{owner} 'ending' must be an ending the table holds, among "
                         f"{sorted({str(v) for v in e} - {OPEN})}. Got {ending!r} instead.")
    dd = np.where(d > 0, d, 1e-9)
    return dd, e == ending, (e != ending) & (e != OPEN), e == OPEN


def _weighted_cox_pieces(rows: dict[str, np.ndarray], X: np.ndarray, beta: np.ndarray):
    """For the weighted Cox partial likelihood (Breslow ties) of counting-process rows at
    ``beta``: the score, the information, the per-lead score residuals (for the sandwich) and
    the Breslow baseline (event times, risk sums, increments). ``X`` is rows x p."""
    w = rows["weight"]
    r = np.exp(X @ beta)
    wr = w * r
    ev = rows["event"] == 1
    ev_t, d_k = np.unique(rows["stop"][ev], return_counts=True)
    o_stop = np.argsort(rows["stop"], kind="stable")
    o_start = np.argsort(rows["start"], kind="stable")
    i_stop = np.searchsorted(rows["stop"][o_stop], ev_t, side="left")
    i_start = np.searchsorted(rows["start"][o_start], ev_t, side="left")

    def at_risk(v: np.ndarray) -> np.ndarray:  # sum of v over rows with start < s <= stop
        v = v.reshape(len(v), -1)
        tail = [np.vstack([np.cumsum(v[o][::-1], axis=0)[::-1], np.zeros((1, v.shape[1]))])
                for o in (o_stop, o_start)]
        return tail[0][i_stop] - tail[1][i_start]

    p = X.shape[1]
    s0 = at_risk(wr)[:, 0]
    s1 = at_risk(wr[:, None] * X)
    s2 = at_risk(wr[:, None, None] * (X[:, :, None] * X[:, None, :])).reshape(-1, p, p)
    xbar = s1 / s0[:, None]
    dl = d_k / s0
    info = np.einsum("k,kij->ij", d_k, s2 / s0[:, None, None]
                     - xbar[:, :, None] * xbar[:, None, :])
    c_a = np.r_[0.0, np.cumsum(dl)]
    c_b = np.vstack([np.zeros((1, p)), np.cumsum(xbar * dl[:, None], axis=0)])
    lo = np.searchsorted(ev_t, rows["start"], side="right")
    hi = np.searchsorted(ev_t, rows["stop"], side="right")
    u_r = -wr[:, None] * (X * (c_a[hi] - c_a[lo])[:, None] - (c_b[hi] - c_b[lo]))
    k = np.searchsorted(ev_t, rows["stop"][ev])
    u_r[ev] += w[ev, None] * (X[ev] - xbar[k])
    u_i = np.zeros((int(rows["id"].max()) + 1, p))
    np.add.at(u_i, rows["id"], u_r)
    return u_i.sum(axis=0), info, u_i, (ev_t, s0, dl)


def _weighted_cox(rows: dict[str, np.ndarray], X: np.ndarray, penalizer: float = 0.0,
                  max_iter: int = 50, tol: float = 1e-9):
    """Newton-Raphson for the weighted Cox model (ridge ``penalizer/2 * |b|^2``); returns the
    coefficients, their robust (clustered by lead) covariance and the Breslow baseline."""
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        u, info, _, _ = _weighted_cox_pieces(rows, X, beta)
        u = u - penalizer * beta
        info = info + penalizer * np.eye(len(beta))
        step = np.linalg.solve(info, u)
        half = 0
        while np.abs(step).max() > 5 and half < 10:  # guard against a wild first step
            step, half = step / 2, half + 1
        beta = beta + step
        if np.abs(step).max() < tol:
            break
    else:
        warnings.warn("fine_gray: Newton-Raphson did not converge in "
                      f"{max_iter} steps", RuntimeWarning, stacklevel=3)
    u, info, u_i, base = _weighted_cox_pieces(rows, X, beta)
    inv = np.linalg.inv(info + penalizer * np.eye(len(beta)))
    return beta, inv @ (u_i.T @ u_i) @ inv, base


@dataclass(repr=False)
class FineGrayModel(Result):
    """A Fine-Gray model of one ending's subdistribution hazard (see :func:`fine_gray`).

    Attributes
    ----------
    ending : str
    covariates : list of str
    alpha : float
    params_ : Series
        The coefficients ``b`` (log subdistribution hazard ratios) per design column.
    cov_ : DataFrame
        Their robust sandwich covariance, clustered by lead.
    baseline_ : DataFrame
        Indexed by event time: ``risk`` (the weighted risk-set sum) and
        ``cumulative_hazard``, the weighted Breslow baseline ``Lambda_0``.
    n_rows_ : int
        Rows of the expanded data.
    """

    ending: str
    covariates: list
    alpha: float
    params_: pd.Series = field(repr=False)
    cov_: pd.DataFrame = field(repr=False)
    baseline_: pd.DataFrame = field(repr=False)
    levels_: dict = field(repr=False)
    n_: int = 0
    events_: int = 0
    n_rows_: int = 0

    @property
    def summary(self) -> pd.DataFrame:
        """Per design column: ``subdistribution_hazard_ratio`` with ``low``/``high`` (robust
        sandwich errors, clustered by lead), ``coef``, ``se`` and ``p``. Empty without
        covariates."""
        cols = ["subdistribution_hazard_ratio", "low", "high", "coef", "se", "p"]
        b, se = self.params_.to_numpy(), np.sqrt(np.diag(self.cov_.to_numpy()))
        zq = stats.norm.ppf(1 - self.alpha / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * stats.norm.sf(np.abs(b / se))
        out = pd.DataFrame({"subdistribution_hazard_ratio": np.exp(b),
                            "low": np.exp(b - zq * se), "high": np.exp(b + zq * se),
                            "coef": b, "se": se, "p": p},
                           index=pd.Index(self.params_.index, name="term"))
        return out[cols]

    def _describe(self) -> str:
        on = ", ".join(self.covariates) if self.covariates else "no covariates"
        return (f"Fine-Gray subdistribution hazard of {self.ending} on {on}; "
                f"{self.events_:,d} of {self.n_:,d} leads ({self.n_rows_:,d} weighted rows)")

    def predict_cumulative_incidence(self, profiles: pd.DataFrame | None = None,
                                     times: Iterable[float] = (30, 60, 90)) -> pd.DataFrame:
        """``CIF(t | x) = 1 - exp(-Lambda_0(t) exp(x b))`` for each covariate profile.

        One ending's model only: the Fine-Gray incidences of different endings, each from its
        own model, need not sum to at most one.

        Parameters
        ----------
        profiles : DataFrame, optional
            One row per profile with the model's covariates; without covariates it may be
            None (one row, ``all``).
        times : iterable of float

        Returns
        -------
        DataFrame: rows as ``profiles``, one column ``<t>d`` per time.
        """
        ts = _horizons(times, "predict_cumulative_incidence")
        if profiles is None:
            if self.covariates:
                raise ValueError("predict_cumulative_incidence 'profiles' must be a DataFrame "
                                 f"with the columns {self.covariates}. Got None instead.")
            profiles = pd.DataFrame(index=pd.Index([_ALL]))
        need_columns(profiles, self.covariates, "profiles")
        if self.covariates:
            X, _ = _design(profiles, self.covariates, self.levels_)
            lp = X[self.params_.index].to_numpy(dtype=float) @ self.params_.to_numpy()
        else:
            lp = np.zeros(len(profiles))
        grid = self.baseline_.index.to_numpy()
        ch = self.baseline_["cumulative_hazard"].to_numpy()
        h = np.array([_step_at(grid, ch, t) if len(grid) and t >= grid[0] else 0.0
                      for t in ts])
        cif = 1 - np.exp(-np.outer(np.exp(lp), h))
        return pd.DataFrame(cif, index=profiles.index, columns=[f"{t:g}d" for t in ts])

    def plot(self, ax=None):
        """Subdistribution hazard ratios with their intervals (the baseline incidence curve
        without covariates); returns the axes."""
        ax = axes(ax)
        s = self.summary
        if len(s):
            y = np.arange(len(s))
            hr = s["subdistribution_hazard_ratio"].to_numpy()
            ax.errorbar(hr, y, xerr=[hr - s["low"].to_numpy(), s["high"].to_numpy() - hr],
                        fmt="o")
            ax.axvline(1.0, color="grey", linestyle="--")
            ax.set_yticks(y, list(s.index))
            ax.set_xscale("log")
            ax.set_xlabel(f"subdistribution hazard ratio of {self.ending}")
        else:
            b = self.baseline_
            ax.step(b.index, 1 - np.exp(-b["cumulative_hazard"]), where="post")
            ax.set_xlabel("days since created")
            ax.set_ylabel(f"P({self.ending})")
        return ax


def fine_gray(
    table: pd.DataFrame,
    *,
    ending: str = "won",
    covariates: Sequence[str] = (),
    duration_col: str = "duration_days",
    ending_col: str = "ending",
    alpha: float = 0.05,
    penalizer: float = 0.0,
) -> FineGrayModel:
    """The Fine-Gray model of one ending's subdistribution hazard, on request.

    Fine & Gray (1999) model the hazard of the subdistribution ``F_k``, so a covariate's
    hazard ratio says how it moves the incidence of ``ending`` itself (not its rate among the
    leads still open, as :func:`cause_specific_cox` does). It is fitted as a weighted Cox
    model on the expanded data of Geskus (2011) and R's ``survival::finegray``: a lead with a
    competing ending at ``t_i`` stays in the risk set after it with weight
    ``G(t-) / G(t_i-)``, ``G`` the Kaplan-Meier curve of censoring (``open``); every other
    lead has weight one up to its time. The weighted Cox fit is our own Newton-Raphson
    (Breslow ties) with robust sandwich errors clustered by lead: it gives the same
    coefficients and robust errors as lifelines' ``CoxPHFitter(...).fit(..., entry_col=,
    weights_col=, cluster_col=, robust=True)`` on the same rows (a test checks it), which
    takes minutes on a few thousand leads (the expanded data has a row per lead and change
    of ``G``). The sandwich treats ``G`` as known, as R's ``coxph`` on ``finegray`` data
    does.

    Prefer :func:`cause_specific_cox` for the incidence of every ending at once: each ending's
    Fine-Gray model is fitted on its own, and their predicted incidences for a profile can sum
    past one (the models cannot all be true together).

    Parameters
    ----------
    table : DataFrame
        From :func:`lead_endings`, with the covariates.
    ending : str, default 'won'
    covariates : sequence of str, default ()
        Categorical ones are one-hot coded (first sorted level the reference). With none the
        baseline incidence is the Aalen-Johansen estimate (up to ``1 - exp(-H)`` against a
        product).
    alpha : float, default 0.05
    penalizer : float, default 0
        lifelines' ridge penalty.

    Returns
    -------
    FineGrayModel

    Examples
    --------
    >>> t = pd.DataFrame({"duration_days": [2.0, 3, 5, 8, 9, 12],
    ...                   "ending": ["won", "lost", "open", "won", "opted_out", "open"]})
    >>> fine_gray(t).predict_cumulative_incidence(times=(10,)).round(3)  # Aalen-Johansen 0.389
           10d
    all  0.352
    """
    alpha = _alpha(alpha, "fine_gray")
    if not (is_number(penalizer) and np.isfinite(penalizer) and penalizer >= 0):
        raise ValueError(f"fine_gray 'penalizer' must be a number >= 0. Got {penalizer!r} "
                         "instead.")
    if isinstance(covariates, str):
        raise ValueError("fine_gray 'covariates' must be a list of column names. Got "
                         f"{covariates!r} instead.")
    covariates = list(covariates)
    need_columns(table, covariates, "table")
    bad = {c: int(n) for c, n in table[covariates].isna().sum().items() if n}
    if bad:
        raise ValueError(f"fine_gray: missing values in {bad} (column: rows); drop or fill them "
                         "before fitting")
    dd, is_ev, is_comp, is_cens = _fine_gray_inputs(table, ending, duration_col, ending_col,
                                                   "fine_gray")
    rows = _fine_gray_rows(dd, is_ev, is_comp, is_cens)
    levels, beta, cov, risk = {}, np.zeros(0), np.zeros((0, 0)), np.ones(len(rows["id"]))
    terms: list = []
    if covariates:
        X, levels = _design(table, covariates)
        terms = list(X.columns)
        Xr = X.to_numpy(dtype=float)[rows["id"]]
        beta, cov, _ = _weighted_cox(rows, Xr, float(penalizer))
        risk = np.exp(Xr @ beta)
    ev_t, r_sum, dl = _weighted_breslow(rows, risk)
    baseline = pd.DataFrame({"risk": r_sum, "cumulative_hazard": np.cumsum(dl)},
                            index=pd.Index(ev_t, name="days"))
    return FineGrayModel(ending=ending, covariates=covariates, alpha=alpha,
                         params_=pd.Series(beta, index=terms, dtype=float),
                         cov_=pd.DataFrame(cov, index=terms, columns=terms),
                         baseline_=baseline, levels_=levels, n_=len(table),
                         events_=int(is_ev.sum()), n_rows_=len(rows["id"]))


def _fine_gray_score_test(table: pd.DataFrame, arm_col: str, ending: str, duration_col: str,
                          ending_col: str) -> tuple[float, int, float]:
    """The score test of the arm factor at ``b = 0`` in the Fine-Gray model with no other
    covariate, with the robust (clustered by lead) variance of the score: asymptotically
    Gray's (1988) K-sample test of equal cumulative incidence, not Gray's own weighting."""
    dd, is_ev, is_comp, is_cens = _fine_gray_inputs(table, ending, duration_col, ending_col,
                                                   "incidence_by_arm")
    lab = table[arm_col].astype(str).to_numpy()
    arms = sorted(set(lab))
    Z = np.column_stack([(lab == a).astype(float) for a in arms[1:]])
    rows = _fine_gray_rows(dd, is_ev, is_comp, is_cens)
    u, _, u_i, _ = _weighted_cox_pieces(rows, Z[rows["id"]], np.zeros(Z.shape[1]))
    stat = float(u @ np.linalg.pinv(u_i.T @ u_i) @ u)
    df = len(arms) - 1
    return stat, df, float(stats.chi2.sf(stat, df))


# --------------------------------------------------------------------------------------------
# Arms of an experiment
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class ArmIncidence(Result):
    """Incidence of one ending per experiment arm, and tests across arms (see
    :func:`incidence_by_arm`).

    Attributes
    ----------
    ending : str
    incidence : CumulativeIncidence
        Every ending's incidence per arm.
    tests : DataFrame
        One row per horizon (``wald@<t>d``: equal incidence at that horizon, Wald chi-square on
        the Aalen-Johansen variances, ``G - 1`` degrees of freedom), ``logrank`` (equal
        cause-specific hazard over the whole follow-up) and ``gray`` (equal cumulative
        incidence over the whole follow-up: the Fine-Gray score test, asymptotically Gray's
        test): ``statistic``, ``df``, ``p``.
    """

    ending: str
    incidence: CumulativeIncidence
    tests: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        """Per arm and horizon: ``n``, ``events``, ``incidence``, ``low``, ``high``,
        ``naive``."""
        return self.incidence.summary.xs(self.ending, level="ending")

    def _describe(self) -> str:
        arms = self.summary.index.get_level_values(0).unique()
        p = self.tests.loc["logrank", "p"]
        return (f"{self.ending} by arm: {len(arms)} arms, cause-specific log-rank "
                f"p={p:.3g}")

    def _header(self) -> list[str]:
        lines = [repr(self)]
        for name, r in self.tests.iterrows():
            lines.append(f"  {name}: statistic {r['statistic']:.3f} on {int(r['df'])} df, "
                         f"p = {r['p']:.4g}")
        return [*lines, ""]

    def plot(self, ax=None):
        """The ending's incidence curve per arm; returns the axes."""
        ax = axes(ax)
        for arm, c in self.incidence.curves.items():
            if self.ending in c.columns:
                ax.step(c.index, c[self.ending], where="post", label=str(arm))
        ax.set_xlabel("days since created")
        ax.set_ylabel(f"P({self.ending})")
        ax.set_title(f"Cumulative incidence of {self.ending} by arm")
        ax.legend(fontsize=8)
        return ax


def incidence_by_arm(
    table: pd.DataFrame,
    *,
    ending: str = "won",
    horizons: Iterable[float] = (30, 60, 90),
    alpha: float = 0.05,
    arm_col: str = "arm",
    duration_col: str = "duration_days",
    ending_col: str = "ending",
) -> ArmIncidence:
    """Per-arm cumulative incidence of ``ending`` at each horizon, with tests across arms.

    The incidence is Aalen-Johansen's: opting out, being lost or going dark end a lead, they
    do not censor it. Two tests: at each horizon a Wald test of equal incidence across arms,
    ``sum_g w_g (F_g - F_w)^2`` with ``w_g = 1 / Var F_g`` and ``F_w`` their weighted mean,
    chi-square on ``G - 1`` degrees of freedom (arms independent); and the log-rank test of
    equal cause-specific hazards of ``ending`` (other endings censored); and ``gray``, a test
    of equal incidence curves over the whole follow-up: the score test of the arm factor in
    the Fine-Gray model of ``ending`` with no other covariate (see :func:`fine_gray`), with the
    robust variance of the score clustered by lead. It is asymptotically equivalent to Gray's
    (1988) K-sample test, not Gray's own weighted statistic. A horizon past some arm's
    follow-up gets NaN.

    Parameters
    ----------
    table : DataFrame
        Per lead: ``arm_col``, ``duration_col`` and ``ending_col`` (:func:`lead_endings`).

    Returns
    -------
    ArmIncidence

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> arm = np.repeat(["a", "b"], 300)
    >>> t_won, t_out = rng.exponential(100, 600), rng.exponential(80, 600)
    >>> t = pd.DataFrame({"arm": arm, "duration_days": np.minimum(np.minimum(t_won, t_out), 120),
    ...     "ending": np.where(np.minimum(t_won, t_out) > 120, "open",
    ...                        np.where(t_won < t_out, "won", "opted_out"))})
    >>> res = incidence_by_arm(t)
    >>> list(res.tests.index)
    ['wald@30d', 'wald@60d', 'wald@90d', 'logrank', 'gray']
    """
    from lifelines.statistics import multivariate_logrank_test

    need_columns(table, (arm_col, ending_col), "table")
    if table[arm_col].isna().any():
        raise ValueError(f"incidence_by_arm: '{arm_col}' has {int(table[arm_col].isna().sum())} "
                         "missing values; every lead needs its arm")
    e = table[ending_col].astype(object).to_numpy()
    if ending not in ENDINGS or not (e == ending).any():
        raise ValueError(f"incidence_by_arm 'ending' must be an ending the table holds, among "
                         f"{sorted({str(v) for v in e} - {OPEN})}. Got {ending!r} instead.")
    inc = cumulative_incidence(table, by=arm_col, horizons=horizons, alpha=alpha,
                               endings=[ending], duration_col=duration_col,
                               ending_col=ending_col)
    arms = list(inc.curves)
    if len(arms) < 2:
        raise ValueError(f"incidence_by_arm needs at least two arms in '{arm_col}'. Got "
                         f"{arms} instead.")
    rows = {}
    for h in inc.horizons:
        f, v = [], []
        for a in arms:
            fit = inc.fitters_.get((a, ending))
            if fit is None:
                f.append(0.0)
                v.append(0.0)
                continue
            idx = fit.cumulative_density_.index.to_numpy()
            f.append(inc.summary.loc[(a, ending, h), "incidence"])
            v.append(_step_at(idx, fit.variance_.to_numpy(), h))
        f, v = np.asarray(f, dtype=float), np.asarray(v, dtype=float)
        if not (np.isfinite(f).all() and np.isfinite(v).all() and (v > 0).all()):
            rows[f"wald@{h:g}d"] = {"statistic": np.nan, "df": len(arms) - 1, "p": np.nan}
            continue
        w = 1 / v
        stat = float(np.sum(w * (f - np.sum(w * f) / w.sum()) ** 2))
        rows[f"wald@{h:g}d"] = {"statistic": stat, "df": len(arms) - 1,
                                "p": float(stats.chi2.sf(stat, len(arms) - 1))}
    lr = multivariate_logrank_test(table[duration_col].astype(float),
                                   table[arm_col].astype(str), e == ending)
    rows["logrank"] = {"statistic": float(lr.test_statistic), "df": len(arms) - 1,
                       "p": float(lr.p_value)}
    stat, df, p = _fine_gray_score_test(table, arm_col, ending, duration_col, ending_col)
    rows["gray"] = {"statistic": stat, "df": df, "p": p}
    tests = pd.DataFrame.from_dict(rows, orient="index")
    return ArmIncidence(ending=ending, incidence=inc, tests=tests)
