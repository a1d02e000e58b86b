"""The cadence a team actually ran, read off the touches of an export.

:func:`fit_cadence` turns the nurturing team's touches (:func:`~nurturelab.twin.team.
nurture_touches`) into a :class:`~nurturelab.cadence.Cadence` that the simulation runs, step
by step ("sequence" because :mod:`nurturelab.cadence` holds the cadence itself):

- the steps are the events' ``step`` column (each touch's cadence step); without it, the
  touches' order per lead, and then skips are not identified (assumed 0);
- ``channel``: the step's most common touch (a ``voicemail`` touch name is a voicemail);
- ``automated``: most of the step's touches carry no ``rep_id``;
- ``window``: the team's shift when every touch of the step fell inside shift hours on a
  workday, else None (a rep step always does: reps work shifts; the shift window then gives
  the same touch times), except a rep's first touch, due when the lead arrives: a window
  would move its due time to the shift's start, and the team's patience with it;
- ``anchor`` and ``at``: for each anchor (``created``, or the lead's previous touch) the offset
  ``at`` is a low quantile (5%) of the touches' offsets, rounded down to a readable grid (a rep
  touch waits in the queue, so the due time is the earliest); the anchor is the one whose due
  times (deferred into the window as the simulation does) leave the touches least dispersed
  about them (a tie, as when the touch before goes out at a fixed offset from creation, goes
  to the base's anchor, else ``created``). A voicemail is left at the end of the unanswered
  call before it: anchor ``previous``, ``at`` 0;
- ``content`` and ``personalisation``: the step's most common, when the events carry them;
- ``skip``: the share of the leads eligible for the step that did not get it, with a Wilson
  interval. Eligible: still in the cadence when the step fell due (no connect, reply or
  opt-out to an earlier step, not qualified by then) and due early enough before ``until``
  that a rep would have reached it (the team's patience, at most a week); a voicemail is
  eligible only after an unanswered call.

The stop rules cannot be read off touches: they are assumed (``base``'s, else all four).

Examples
--------
>>> from nurturelab.simulation import Team, World, simulate
>>> team = Team(reps=6)
>>> res = simulate(World(team=team, leads=1500), seed=4)
>>> fit = fit_cadence(res.leads, res.events, team=team)
>>> [t.channel for t in fit.cadence.touches]
['call', 'voicemail', 'sms', 'email', 'call', 'sms', 'email']
>>> fit.cadence.touches[3].at, fit.cadence.touches[3].window
(86400.0, (9.0, 17.0))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from nurturelab import plots
from nurturelab.cadence import STOP_RULES, Cadence, Touch, format_duration
from nurturelab.checks import is_number
from nurturelab.result import Result
from nurturelab.schema import RESPONSE_NAMES
from nurturelab.simulation import MAX_STEPS, Team
from nurturelab.twin.parameters import parameter_table, row
from nurturelab.twin.team import local_clock, nurture_touches, qualified_at, training_window

__all__ = ["CadenceFit", "fit_cadence", "next_open"]

QUANTILE = 0.05  # the low quantile of a step's offsets taken as its due offset
_NAT = np.iinfo(np.int64).min
_NS = 1_000_000_000
_MIN, _HOUR, _DAY = 60.0, 3600.0, 86400.0
_GRID = ((10 * _MIN, _MIN), (_HOUR, 5 * _MIN), (6 * _HOUR, 15 * _MIN))  # below, grid
_COARSE = _HOUR
_TIE = 1.0  # seconds: dispersions closer than this are a tie
_FIELDS = ("channel", "anchor", "at", "window", "automated", "content", "personalisation",
           "skip")


def _grid(seconds: float) -> float:
    for below, step in _GRID:
        if seconds < below:
            return step
    return _COARSE


def _round_down(seconds: float) -> float:
    """``seconds`` rounded down to a readable grid: whole minutes under 10 minutes, 5 minutes
    under an hour, quarter hours under 6 hours, whole hours beyond (a second of slack absorbs
    float noise)."""
    g = _grid(seconds)
    return float(max(0.0, math.floor((seconds + 1.0) / g) * g))


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize(
        "UTC")


def next_open(ts_ns: np.ndarray, window: tuple[float, float], workdays: tuple[int, ...],
              timezone: str) -> np.ndarray:
    """The first instant at or after each time inside ``window`` hours on a workday, as the
    simulation defers a touch (wall-clock hours in ``timezone``).

    Parameters
    ----------
    ts_ns : ndarray of int64
        UTC times in nanoseconds since the epoch.
    window : (start, end)
        Hours of day, ``[start, end)``.
    workdays : tuple of int
        Weekdays, Monday 0.
    timezone : str
        IANA zone of the window.

    Returns
    -------
    ndarray of int64, nanoseconds

    Examples
    --------
    >>> t = pd.to_datetime(["2026-03-06 23:00", "2026-03-09 10:00"], utc=True)  # Fri, Mon
    >>> out = next_open(t.asi8, (9.0, 17.0), (0, 1, 2, 3, 4), "UTC")
    >>> [str(x) for x in pd.to_datetime(out, utc=True)]
    ['2026-03-09 09:00:00+00:00', '2026-03-09 10:00:00+00:00']
    """
    t = np.asarray(ts_ns, dtype=np.int64)
    if not len(t):
        return t.copy()
    a, b = window
    naive = _utc(t).tz_convert(timezone).tz_localize(None)
    day = naive.normalize()
    hours = np.asarray((naive - day) / pd.Timedelta(hours=1), dtype=float)
    weekday = np.asarray(day.weekday)
    works = np.isin(weekday, workdays)
    today = works & (hours < b)
    ahead = np.array([next(k for k in range(1, 8) if (d + k) % 7 in workdays)
                      for d in range(7)])
    shift_days = np.where(today, 0, ahead[weekday])
    target = day + pd.to_timedelta(shift_days, unit="D") + pd.Timedelta(hours=a)
    opens = target.tz_localize(timezone, ambiguous=np.ones(len(t), dtype=bool),
                               nonexistent=pd.Timedelta(hours=1)).asi8
    return np.where(today, np.maximum(t, opens), opens)


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False, eq=False)
class CadenceFit(Result):
    """The cadence a team ran, fitted to an export (see :func:`fit_cadence`).

    Attributes
    ----------
    cadence : Cadence
        A valid cadence the simulation runs.
    table : DataFrame
        One row per parameter (:func:`nurturelab.twin.parameters.parameter_table`):
        ``cadence.touches[j].<field>`` for every field of every step and ``cadence.stop_on``.
    steps : DataFrame
        One row per step with what was observed: the export's step value (``code``), the
        fitted fields, ``touches``, the shares behind the channel and automation, the low and
        median offsets from the anchor in seconds, the share inside the shift, and
        ``eligible``, ``skipped``, ``skip``, ``skip_low``, ``skip_high``.
    notes : tuple of str
        Everything assumed, and why.
    """

    cadence: Cadence
    table: pd.DataFrame
    steps: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        """The parameter table."""
        return self.table

    def _describe(self) -> str:
        kinds = " > ".join(t.channel for t in self.cadence.touches)
        return f"{len(self.cadence)} steps ({kinds})"

    def _header(self) -> list[str]:
        return [repr(self), *(f"note: {n}" for n in self.notes)]

    def plot(self, ax=None):
        """The share of eligible leads each step left out, with its interval."""
        ax = plots.axes(ax, figsize=(8, 3.5))
        s = self.steps
        x = np.arange(len(s))
        est = s["skip"].to_numpy(dtype=float)
        lo = np.clip(est - s["skip_low"].to_numpy(dtype=float), 0, None)
        hi = np.clip(s["skip_high"].to_numpy(dtype=float) - est, 0, None)
        ax.bar(x, np.nan_to_num(est), color="tab:blue", alpha=0.7)
        ax.errorbar(x, est, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="none",
                    color="black", capsize=3)
        ax.set_xticks(x, [f"{j}\n{c}" for j, c in zip(s["step"], s["channel"], strict=True)])
        ax.set_ylabel("share of eligible leads skipped")
        ax.set_title(f"Steps the team left out: {self.cadence.name}")
        return ax


# --------------------------------------------------------------------------------------------
# The fit
# --------------------------------------------------------------------------------------------
def _check(team: Any, base: Any, alpha: Any) -> None:
    if not isinstance(team, Team):
        raise TypeError(f"The 'team' parameter of fit_cadence must be a Team (e.g. "
                        f"fit_team(...).team). Got {type(team).__name__} instead.")
    if base is not None and not isinstance(base, Cadence):
        raise TypeError(f"The 'base' parameter of fit_cadence must be a Cadence or None. Got "
                        f"{type(base).__name__} instead.")
    if not (is_number(alpha) and 0 < alpha < 1):
        raise ValueError(f"The 'alpha' parameter of fit_cadence must be a float in (0, 1). "
                         f"Got {alpha!r} instead.")


def _mode(values: pd.Series) -> tuple[Any, float]:
    """The most common non-missing value (ties: the first in sorted order) and its share."""
    v = values.dropna().astype("object")
    if not len(v):
        return None, math.nan
    counts = v.value_counts()
    top = counts[counts == counts.max()].index
    best = sorted(top, key=str)[0]
    return best, float(counts[best] / len(v))


def _dispersion(resid: np.ndarray) -> float:
    """Mean absolute deviation about the median, after clipping to the 1-99% range."""
    lo, hi = np.quantile(resid, [0.01, 0.99])
    r = np.clip(resid, lo, hi)
    return float(np.mean(np.abs(r - np.median(r))))


@dataclass
class _Steps:
    """The touches as a lead x step matrix (nanoseconds, _NAT where none)."""

    ids: pd.Index
    created: np.ndarray
    ts: np.ndarray
    rep: np.ndarray
    codes: list
    touches: pd.DataFrame  # one row per (lead, step): lead index ``i`` and step ``j``

    def before(self, j: int) -> np.ndarray:
        """Each lead's last touch before step ``j`` (its creation when none)."""
        prev = self.created.copy()
        for k in range(j):
            col = self.ts[:, k]
            prev = np.where(col != _NAT, col, prev)
        return prev


def _steps(leads: pd.DataFrame, touches: pd.DataFrame, notes: list[str]) -> tuple[_Steps, bool]:
    ids = pd.Index(leads["lead_id"].to_numpy(), name="lead_id")
    created = pd.DatetimeIndex(leads["created_at"]).asi8
    t = touches
    by_step = "step" in t.columns and t["step"].notna().any()
    if by_step:
        missing = int(t["step"].isna().sum())
        if missing:
            notes.append(f"{missing:,d} touches without a step left out")
        t = t[t["step"].notna()]
        codes = sorted(int(c) for c in t["step"].unique())
        if codes != list(range(len(codes))):
            notes.append(f"the export's steps {codes} taken in order as steps 0-"
                         f"{len(codes) - 1}")
        j = t["step"].astype("int64").map({c: k for k, c in enumerate(codes)}).to_numpy()
    else:
        notes.append("the events carry no step: steps are the touches' order per lead, so "
                     "skips are not identified and assumed 0")
        j = t.groupby("lead_id", sort=False).cumcount().to_numpy()
        reached = np.bincount(j)
        enough = max(5, math.ceil(0.01 * t["lead_id"].nunique()))
        m = int(np.argmax(reached < enough)) if (reached < enough).any() else len(reached)
        m = max(m, 1)  # the first touch of every lead is a step, however few leads there are
        if m < len(reached):
            notes.append(f"touches beyond a lead's first {m} left out (fewer than {enough} "
                         f"leads got a touch number {m + 1})")
        keep = j < m
        t, j = t[keep], j[keep]
        codes = list(range(m))
    t = t.assign(j=j, i=ids.get_indexer(t["lead_id"]))
    dup = t.duplicated(["i", "j"])
    if dup.any():
        notes.append(f"{int(dup.sum()):,d} repeated touches of a lead at the same step left "
                     "out (the first kept)")
        t = t[~dup]
    if len(codes) > MAX_STEPS:
        raise ValueError(f"fit_cadence: the export's touches form {len(codes)} steps; the "
                         f"simulation runs at most {MAX_STEPS}. Filter the events to one "
                         "cadence first.")
    n, m = len(ids), len(codes)
    ts = np.full((n, m), _NAT, dtype=np.int64)
    rep = np.zeros((n, m), dtype=bool)
    ts[t["i"].to_numpy(), t["j"].to_numpy()] = pd.DatetimeIndex(t["ts"]).asi8
    if "rep_id" in t.columns:
        rep[t["i"].to_numpy(), t["j"].to_numpy()] = t["rep_id"].notna().to_numpy()
    return _Steps(ids, created, ts, rep, codes, t.reset_index(drop=True)), by_step


def _stop_steps(events: pd.DataFrame, s: _Steps) -> np.ndarray:
    """The step whose touch drew each lead's first connect, reply or opt-out (the cadence
    stopped there): the response's own step when it carries one, else the lead's last touch
    at or before it; len(steps) for a lead that never answered, -1 before any touch."""
    m = len(s.codes)
    stop = np.full(len(s.ids), m, dtype=np.int64)
    r = events[events["type"].astype("object").eq("response")
               & events["name"].astype("object").isin(RESPONSE_NAMES)]
    r = r[r["lead_id"].isin(s.ids)]
    if not len(r):
        return stop
    i = s.ids.get_indexer(r["lead_id"])
    j = np.full(len(r), -2, dtype=np.int64)
    if "step" in r.columns:
        code = {c: k for k, c in enumerate(s.codes)}
        own = r["step"].astype("Int64")
        j = own.map(code).fillna(-2).to_numpy(dtype=np.int64)
    need = j == -2
    if need.any():
        t = s.touches[["i", "j", "ts"]].sort_values("ts", kind="stable")
        q = pd.DataFrame({"i": i[need], "ts": r["ts"].array[need],
                          "k": np.flatnonzero(need)}).sort_values("ts", kind="stable")
        got = pd.merge_asof(q, t, on="ts", by="i", direction="backward")
        j[got["k"].to_numpy()] = got["j"].fillna(-1).to_numpy(dtype=np.int64)
    np.minimum.at(stop, i, j)
    return stop


def _inside(ts_ns: np.ndarray, team: Team) -> np.ndarray:
    if team.shift is None:
        return np.zeros(len(ts_ns), dtype=bool)
    ms, weekday, _ = local_clock(_utc(ts_ns), team.timezone)
    a, b = (round(h * 3_600_000) for h in team.shift)
    return (ms >= a) & (ms < b) & np.isin(weekday, team.workdays)


def _due(anchor_ns: np.ndarray, at: float, window, team: Team) -> np.ndarray:
    due = anchor_ns + np.int64(round(at * _NS))
    return due if window is None else next_open(due, window, team.workdays, team.timezone)


def _choose_anchor(ts: np.ndarray, anchors: dict[str, np.ndarray], window, team: Team,
                   prefer: str) -> tuple[str, float, dict]:
    """The anchor whose due times leave the touches least dispersed, its ``at``, and what
    each anchor gave."""
    seen = {}
    for name, base_ns in anchors.items():
        off = (ts - base_ns) / _NS
        low = float(np.quantile(off, QUANTILE, method="lower"))
        at = _round_down(low)
        resid = (ts - _due(base_ns, at, window, team)) / _NS
        seen[name] = {"at": at, "low": low, "median": float(np.median(off)),
                      "dispersion": _dispersion(resid)}
    best = min(seen, key=lambda k: seen[k]["dispersion"])
    if prefer in seen and seen[prefer]["dispersion"] - seen[best]["dispersion"] <= _TIE:
        best = prefer
    return best, seen[best]["at"], seen


def _text(values: pd.Series | None, fallback: str, what: str, j: int, notes: list[str],
          ok) -> tuple[str, str, float]:
    if values is not None:
        value, share = _mode(values)
        if value is not None and ok(value):
            return str(value), "inferred", share
    notes.append(f"step {j}: the events carry no usable {what}; kept {fallback!r}")
    return fallback, "assumed", math.nan


def _valid_content(value: Any) -> bool:
    try:
        Touch("email", content=str(value))
    except ValueError:
        return False
    return True


class _Reader:
    """Reads the steps of one export in order (each step's timing depends on the ones before:
    the offsets of ``created`` anchors may not go back, two sms or emails may not coincide)."""

    def __init__(self, s: _Steps, events: pd.DataFrame, qualified: pd.Series, *, by_step: bool,
                 has_rep: bool, team: Team, base: Cadence | None, end: pd.Timestamp,
                 alpha: float, notes: list[str]):
        self.s, self.team, self.base, self.alpha, self.notes = s, team, base, alpha, notes
        self.by_step, self.has_rep = by_step, has_rep
        self.stop = _stop_steps(events, s) if by_step else None
        q = qualified.reindex(s.ids)
        self.q_ns = np.where(q.isna().to_numpy(), np.iinfo(np.int64).max,
                             pd.DatetimeIndex(q).asi8)
        self.end_ns = int(pd.Timestamp(end).value)
        self.margin_ns = int(min(team.patience_hours * _HOUR, 7 * _DAY) * _NS)
        self.touches: list[Touch] = []
        self.offsets: list[float] = []  # from creation, 'previous' anchors resolved
        self.seen_at: dict[tuple[str, float], int] = {}

    def _old(self, j: int) -> Touch | None:
        base = self.base
        return base.touches[j] if base is not None and j < len(base.touches) else None

    def step(self, j: int) -> tuple[Touch, list[dict], dict]:
        """Step ``j``: its touch, its rows of the table, and what was observed."""
        s, notes = self.s, self.notes
        old = self._old(j) or Touch("email")
        got = s.ts[:, j] != _NAT
        mine = s.touches[s.touches["j"] == j]
        ts = s.ts[got, j]
        what = self._what(j, mine, got, old)
        inside = _inside(ts, self.team)
        in_share = float(inside.mean()) if len(ts) else math.nan
        window = self.team.shift if self.team.shift is not None and bool(inside.all()) else None
        when = self._when(j, what["channel"], ts, got, window)
        if window is not None and not what["automated"] and (
                j == 0 or (when["anchor"] == "created" and when["at"] == 0)):
            # a rep's first touch is due when the lead arrives: reps work shifts either way,
            # but a window would move the due time to the shift's start, and the team's
            # patience (a task waiting longer is skipped) would count from there
            window = None
            when = self._when(j, what["channel"], ts, got, window)
        content, c_status, c_share = _text(
            mine["content"] if "content" in mine else None, old.content, "content", j, notes,
            _valid_content)
        person, p_status, p_share = _text(
            mine["personalisation"] if "personalisation" in mine else None,
            old.personalisation, "personalisation", j, notes,
            lambda v: v in ("token", "context"))
        skip = self._skip(j, what["channel"], when["anchor"], when["at"], window, got,
                          automated=what["automated"])
        touch = Touch(what["channel"], at=when["at"], anchor=when["anchor"], window=window,
                      content=content, automated=what["automated"], personalisation=person,
                      skip=skip["skip"])
        self.touches.append(touch)
        n = int(got.sum())
        shift = self.team.shift
        w_note = (f"({window[0]:g}, {window[1]:g}): every touch fell inside the team's shift "
                  "on workdays" if window is not None else
                  f"none: {1 - in_share:.1%} of the touches fell outside the team's shift"
                  if shift is not None else "none: the team works round the clock")
        name = f"cadence.touches[{j}]"
        rows = [
            row(f"{name}.channel", math.nan, n=n, status="inferred",
                note=f"{what['channel']} ({what['share']:.0%} of the step's touches)"),
            row(f"{name}.anchor", math.nan, n=n, status="inferred", note=when["anchor_note"]),
            row(f"{name}.at", when["at"], n=n, status="inferred", note=when["at_note"]),
            row(f"{name}.window", math.nan, n=n, status="inferred", note=w_note),
            row(f"{name}.automated", float(what["automated"]), n=n if self.has_rep else 0,
                status=what["status"], note=what["note"]),
            row(f"{name}.content", math.nan, n=n if c_status == "inferred" else 0,
                status=c_status, note=content),
            row(f"{name}.personalisation", math.nan, n=n if p_status == "inferred" else 0,
                status=p_status, note=person),
            row(f"{name}.skip", skip["skip"], skip["low"], skip["high"], n=skip["eligible"],
                status=skip["status"], note=skip["note"]),
        ]
        observed = {
            "step": j, "code": s.codes[j], "channel": touch.channel,
            "channel_share": what["share"], "automated": touch.automated,
            "rep_share": what["rep_share"], "anchor": touch.anchor, "at": touch.at,
            "at_text": format_duration(touch.at), "offset_low": when["low"],
            "offset_median": when["median"], "window": window, "inside_shift": in_share,
            "content": content, "content_share": c_share, "personalisation": person,
            "personalisation_share": p_share, "touches": n, "eligible": skip["eligible"],
            "skipped": skip["skipped"], "skip": skip["skip"] if skip["eligible"] else math.nan,
            "skip_low": skip["low"], "skip_high": skip["high"],
        }
        return touch, rows, observed

    def _what(self, j: int, mine: pd.DataFrame, got: np.ndarray, old: Touch) -> dict:
        """The step's channel and whether automation sends it."""
        channel, share = _mode(mine["kind"])
        if channel not in ("call", "voicemail", "sms", "email"):
            channel = old.channel if old.channel != "voicemail" else "call"
            self.notes.append(f"step {j}: no touch channel recorded; kept {channel!r}")
        if channel == "voicemail" and (j == 0 or self.touches[-1].channel != "call"):
            self.notes.append(f"step {j}: voicemails that follow no call step read as a call")
            channel = "call"
        if self.has_rep:
            rep_share = float(self.s.rep[got, j].mean())
            return {"channel": channel, "share": share, "rep_share": rep_share,
                    "automated": bool(rep_share < 0.5) and channel in ("sms", "email"),
                    "status": "inferred",
                    "note": f"{1 - rep_share:.0%} of the step's touches carry no rep_id"}
        return {"channel": channel, "share": share, "rep_share": math.nan,
                "automated": old.automated and channel in ("sms", "email"),
                "status": "assumed", "note": "the touches carry no rep_id"}

    def _when(self, j: int, channel: str, ts: np.ndarray, got: np.ndarray, window) -> dict:
        """The step's anchor and offset, kept in order and apart from its own channel."""
        s = self.s
        if channel == "voicemail":
            off = (ts - s.before(j)[got]) / _NS
            note = "previous, at 0: a voicemail is left at the end of the unanswered call"
            out = {"anchor": "previous", "at": 0.0, "anchor_note": note,
                   "at_note": f"0s: {note}",
                   "low": float(np.quantile(off, QUANTILE, method="lower")),
                   "median": float(np.median(off))}
        else:
            anchors = {"created": s.created[got]}
            if j:
                anchors["previous"] = s.before(j)[got]
            old = self._old(j)
            prefer = old.anchor if old is not None else "created"
            anchor, at, seen = _choose_anchor(ts, anchors, window, self.team, prefer)
            spread = ", ".join(f"{k} {format_duration(round(v['dispersion']))}"
                               for k, v in seen.items())
            low = seen[anchor]["low"]
            out = {"anchor": anchor, "at": at, "low": low, "median": seen[anchor]["median"],
                   "anchor_note": (f"{anchor}: the touches' mean absolute deviation from "
                                   f"their due times is least ({spread})"),
                   "at_note": (f"{format_duration(at)}: the {QUANTILE:.0%} quantile of the "
                               f"offsets from {anchor} ({format_duration(round(low))}), "
                               "rounded down")}
        at, offsets = out["at"], self.offsets
        if out["anchor"] == "created" and offsets and at < offsets[-1]:
            self.notes.append(f"step {j}: offset {format_duration(at)} raised to "
                              f"{format_duration(offsets[-1])}, the previous step's (steps go "
                              "out in order)")
            at = offsets[-1]
        offset = at if out["anchor"] == "created" else (offsets[-1] if offsets else 0.0) + at
        if channel in ("sms", "email"):
            while (channel, offset) in self.seen_at:
                at, offset = at + _MIN, offset + _MIN
                self.notes.append(f"step {j}: moved a minute later, off another {channel} at "
                                  "the same offset")
            self.seen_at[(channel, offset)] = j
        offsets.append(offset)
        out["at"] = at
        return out

    def _skip(self, j: int, channel: str, anchor: str, at: float, window,
              got: np.ndarray, automated: bool = False) -> dict:
        """The share of the eligible leads that did not get the step, with its interval.

        A rep step due so long before the team's next shift that it would outwait the team's
        patience (a lead in on Friday night, with a weekend off and 48 hours' patience) is not
        counted: the simulated queue skips it by itself, so counting it here would skip it
        twice."""
        from statsmodels.stats.proportion import proportion_confint

        old = self._old(j)
        out = {"eligible": 0, "skipped": 0, "skip": 0.0, "low": math.nan, "high": math.nan,
               "status": "assumed", "note": "the events carry no step: skips not identified"}
        if not self.by_step:
            return out
        s, stop = self.s, self.stop
        if channel == "voicemail":
            due = s.ts[:, j - 1]
            ok = (due != _NAT) & (stop > j - 1) & (due + int(_HOUR * _NS) <= self.end_ns)
            rule = "leads whose call before it went unanswered"
        else:
            due = _due(s.created if anchor == "created" else s.before(j), at, window,
                       self.team)
            ok = (stop >= j) & (due + self.margin_ns <= self.end_ns)
            rule = "leads still in the cadence when it fell due"
            if not automated and self.team.shift is not None:
                opens = next_open(due, self.team.shift, self.team.workdays, self.team.timezone)
                ok &= (opens - due) <= int(self.team.patience_hours * _HOUR * _NS)
                rule += ", and due within the team's patience of its next shift"
        ok &= self.q_ns > due
        # a lead that qualified (asked for a demo) while the step waited for a rep never
        # needed it: only one still unqualified once the team's patience ran out was skipped
        wait_ns = int(self.team.patience_hours * _HOUR * _NS)
        ok &= got | (self.q_ns > due + wait_ns)
        eligible, skipped = int(ok.sum()), int((ok & ~got).sum())
        out.update(eligible=eligible, skipped=skipped)
        if not eligible:
            out["skip"] = old.skip if old is not None else 0.0
            out["note"] = "no lead was eligible before until; kept the base value"
            self.notes.append(f"step {j}: no eligible lead, skip kept at {out['skip']:g}")
            return out
        lo, hi = proportion_confint(skipped, eligible, alpha=self.alpha, method="wilson")
        lo = 0.0 if skipped == 0 else max(0.0, float(lo))  # Wilson's bound for 0 is exactly 0
        hi = 1.0 if skipped == eligible else min(1.0, float(hi))
        out.update(skip=skipped / eligible, low=lo, high=hi,
                   status="fitted", note=(f"{skipped:,d} of {eligible:,d} eligible leads "
                                          f"({rule}) did not get it; Wilson interval"))
        if skipped == eligible:
            out["skip"] = 1.0 - 1.0 / (eligible + 1)
            self.notes.append(f"step {j}: every eligible lead was skipped; skip set to "
                              f"{out['skip']:.4f} (a step must reach some leads)")
        return out


def fit_cadence(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    until: Any = None,
    team: Team,
    base: Cadence | None = None,
    alpha: float = 0.05,
) -> CadenceFit:
    """Fit the cadence the team actually ran to an export's touches.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:func:`nurturelab.schema.read_export`, or a simulation's
        ``res.leads`` / ``res.events``); never modified.
    until : timestamp, optional
        Only leads created before it and events before it inform the fit (default:
        everything); a step counts as due only early enough before it.
    team : Team
        The team that ran it (e.g. :func:`~nurturelab.twin.team.fit_team`'s): its time zone,
        shift and workdays place the windows, its patience how long a due step may wait.
    base : Cadence, optional
        What the export cannot show is kept from it (the stop rules; a step's content or
        personalisation when the events carry none; which steps are automated when the
        touches carry no ``rep_id``; every step when there is no touch); without it the stop
        rules are all four and the defaults of :class:`~nurturelab.cadence.Touch` fill the
        rest.
    alpha : float, default 0.05
        1 - the skip intervals' coverage.

    Returns
    -------
    CadenceFit
        ``cadence`` (valid, runs in the simulation), the parameter ``table``, the ``steps``
        observed and ``notes`` (see the module docstring for how each field is read off).

    Raises
    ------
    TypeError, KeyError, ValueError
        For tables that are not validated exports; a bad ``team``, ``base``, ``alpha`` or
        ``until``; no touch and no ``base``; more steps than the simulation runs.
    """
    _check(team, base, alpha)
    leads, events, until = training_window(leads, events, until)
    qualified = qualified_at(leads, events)
    touches = nurture_touches(leads, events, qualified=qualified)
    notes: list[str] = []
    stop_on = base.stop_on if base is not None else frozenset(STOP_RULES)
    stop_note = (f"{', '.join(r for r in STOP_RULES if r in stop_on)}: an export shows the "
                 "touches, not the rules that stopped them")
    if not len(touches):
        if base is None:
            raise ValueError("fit_cadence: the export has no touch before qualification, so "
                             "there is no cadence to read off; pass base= to keep one")
        return _assumed(base, stop_note)
    s, by_step = _steps(leads, touches, notes)
    has_rep = "rep_id" in touches.columns and bool(touches["rep_id"].notna().any())
    if not has_rep:
        notes.append("the touches carry no rep_id: which steps are automated is kept from the "
                     "base cadence (else none is)")
    if team.shift is None:
        notes.append("the team works round the clock: no step has a window")
    end = until if until is not None else max(events["ts"].max(), leads["created_at"].max())
    reader = _Reader(s, events, qualified, by_step=by_step, has_rep=has_rep, team=team,
                     base=base, end=end, alpha=alpha, notes=notes)
    rows, observed = [], []
    for j in range(len(s.codes)):
        _, step_rows, seen = reader.step(j)
        rows += step_rows
        observed.append(seen)
    rows.append(row("cadence.stop_on", len(stop_on), status="assumed", note=stop_note))
    notes.append(f"stop rules assumed: {stop_note}")
    name = f"{base.name}_fitted" if base is not None else "fitted"
    cadence = Cadence(name, tuple(reader.touches), stop_on=stop_on)
    return CadenceFit(cadence=cadence, table=parameter_table(rows),
                      steps=pd.DataFrame(observed).set_index("step", drop=False),
                      notes=tuple(notes))


def _assumed(base: Cadence, stop_note: str) -> CadenceFit:
    why = "the export has no touch before qualification; kept the base cadence"
    rows = []
    for j, t in enumerate(base.touches):
        for f in _FIELDS:
            value = getattr(t, f)
            number = value if f in ("at", "skip") else (float(value) if f == "automated"
                                                         else math.nan)
            text = why if f in ("at", "skip", "automated") else f"{value}: {why}"
            rows.append(row(f"cadence.touches[{j}].{f}", number, status="assumed", note=text))
    rows.append(row("cadence.stop_on", len(base.stop_on), status="assumed", note=stop_note))
    steps = pd.DataFrame([{"step": j, "code": math.nan, "channel": t.channel,
                           "automated": t.automated, "anchor": t.anchor, "at": t.at,
                           "at_text": format_duration(t.at), "window": t.window,
                           "content": t.content, "personalisation": t.personalisation,
                           "touches": 0, "eligible": 0, "skipped": 0, "skip": math.nan,
                           "skip_low": math.nan, "skip_high": math.nan}
                          for j, t in enumerate(base.touches)]).set_index("step", drop=False)
    return CadenceFit(cadence=replace(base), table=parameter_table(rows), steps=steps,
                      notes=(why, f"stop rules assumed: {stop_note}"))
