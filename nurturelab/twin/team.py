"""The nurturing team read off an export: reps, time zone, shift, workdays and handling times.

:func:`fit_team` fits a :class:`~nurturelab.simulation.Team` to the touches of the team that
nurtures leads: touch events with a ``rep_id`` made before the lead reached ``qualified``
(:func:`nurture_touches`; the account executive who takes a qualified lead over is another
team). What an export shows, and how each setting is read off it:

- ``reps``: the median over full weeks of the reps who touched a lead that week, with the
  distribution-free interval of that median (order statistics; weeks taken as independent).
- ``timezone``: the given one (a column map's), else the zone among :data:`COMMON_ZONES` in
  which the reps' touch start times are most concentrated. A team that observes daylight
  saving time is sharper in its own zone than in one that changes clocks on other dates.
  Zones with the same rules (New York and Chicago) are equally sharp: among them the zone in
  which the shift starts between 7 and 10 o'clock is preferred, then the one nearest 9, and
  the note names the others (pass the zone to choose).
- ``shift``: the local hours of the rep touch start times, rounded outward to a quarter hour
  (reps start no touch outside their shift); ``None`` when they cover the whole day. A
  voicemail is left at the end of a call, which may run past the shift, so voicemails are left
  out here.
- ``workdays``: the weekdays with rep touches; a day with under a tenth of a typical busy
  day's touches (the median of the days with at least half the busiest day's) is not worked.
- ``handling_minutes`` and ``handling_sigma``: maximum likelihood for the simulation's
  lognormal handling time ``mean * exp(sigma z - sigma^2 / 2)`` from the events'
  ``duration_min`` (one sigma shared by the channels), with intervals; kept from ``base`` when
  the export records no durations.
- ``queue`` and ``patience_hours``: an export records touches, not the queue, so both are kept
  from ``base``.

The speed to first touch is not fitted: it comes out of the simulated queue of the fitted team.

Examples
--------
>>> from nurturelab.simulation import Team, World, simulate
>>> res = simulate(World(team=Team(reps=3, shift=(8.0, 16.5)), leads=1500), seed=3)
>>> fit = fit_team(res.leads, res.events, timezone="UTC")
>>> fit.team.reps, fit.team.shift, fit.team.workdays
(3, (8.0, 16.5), (0, 1, 2, 3, 4))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from nurturelab import plots
from nurturelab.cadence import EVENT_NAME
from nurturelab.checks import is_number, need_columns, utc_timestamp
from nurturelab.result import Result
from nurturelab.schema import require_loaded
from nurturelab.simulation import Team
from nurturelab.twin.parameters import parameter_table, row

__all__ = [
    "COMMON_ZONES",
    "TeamFit",
    "fit_team",
    "local_clock",
    "nurture_touches",
    "qualified_at",
    "training_window",
]

#: The time zones :func:`fit_team` chooses among when none is given (one per set of rules).
COMMON_ZONES = (
    "America/Los_Angeles", "America/Denver", "America/Phoenix", "America/Chicago",
    "America/New_York", "America/Sao_Paulo", "UTC", "Europe/London", "Europe/Paris",
    "Europe/Helsinki", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo",
    "Australia/Sydney",
)
CHANNELS = ("call", "voicemail", "sms", "email")
_KIND = {name: channel for channel, name in EVENT_NAME.items()}  # events.name -> Touch channel
_BINS = 96  # quarter hours of a day
_MS_DAY = 86_400_000
_NAT = np.iinfo(np.int64).min
_TOUCH_COLUMNS = ("lead_id", "ts", "type", "name", "channel", "step", "rep_id", "content",
                  "personalisation", "duration_min")
_MS_BIN = _MS_DAY // _BINS
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_QUIET = 0.02  # a quarter hour with under 2% of a typical one's touches is empty (strays)
_IDLE_DAY = 0.1  # a weekday with under 10% of a typical busy day's touches is not worked


# --------------------------------------------------------------------------------------------
# The touches of the nurturing team
# --------------------------------------------------------------------------------------------
def _check_until(until: Any) -> pd.Timestamp | None:
    return None if until is None else utc_timestamp(until, "until")


def nurture_touches(leads: pd.DataFrame, events: pd.DataFrame, *, until: Any = None,
                    qualified: pd.Series | None = None) -> pd.DataFrame:
    """The touches of the nurturing team: touch events before the lead reached ``qualified``.

    Only leads created before ``until`` and events before it count (the training window;
    default: everything). The account executive's touches after the hand-off are left out by
    the qualification (the funnel's ``entered_qualified``, from :func:`nurturelab.funnel.
    outcomes`).

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:func:`nurturelab.schema.read_export`).
    until : timestamp, optional
        The end of the training window (naive values are UTC).
    qualified : Series, optional
        :func:`qualified_at` of the same window, when it is already computed.

    Returns
    -------
    DataFrame
        One row per touch, sorted by lead, time and step: the events' columns plus
        ``created_at`` (the lead's), ``qualified_at`` (NaT if never) and ``kind`` (the
        :class:`~nurturelab.cadence.Touch` channel: ``voicemail`` for a voicemail, else the
        event's channel).

    Examples
    --------
    >>> from nurturelab.simulation import World, simulate
    >>> res = simulate(World(leads=300), seed=2)
    >>> t = nurture_touches(res.leads, res.events)
    >>> "ae_01" in set(t["rep_id"]), sorted(t["kind"].unique())
    (False, ['call', 'email', 'sms', 'voicemail'])
    """
    leads, events, _ = training_window(leads, events, until)
    q = qualified_at(leads, events) if qualified is None else qualified
    cols = [c for c in _TOUCH_COLUMNS if c in events.columns]
    touch = events.loc[(events["type"] == "touch").to_numpy(), cols]
    ids = pd.Index(leads["lead_id"])
    pos = ids.get_indexer(touch["lead_id"])
    if (pos < 0).any():
        raise ValueError("events holds touches of leads that are not in leads (e.g. "
                         f"{touch['lead_id'].iloc[int(np.argmax(pos < 0))]!r}); validate the "
                         "export with nurturelab.schema.read_export")
    ts = pd.DatetimeIndex(touch["ts"]).asi8
    q_ns = pd.DatetimeIndex(q.reindex(ids)).asi8[pos]
    keep = (q_ns == _NAT) | (ts < q_ns)
    step = (touch["step"].fillna(-1).to_numpy(dtype=np.int64) if "step" in touch
            else np.zeros(len(touch), dtype=np.int64))
    order = np.lexsort((step, ts, pos))
    order = order[keep[order]]
    t = touch.iloc[order].reset_index(drop=True)
    name = t["name"].astype("object")
    channel = (t["channel"].astype("object") if "channel" in t
               else pd.Series(None, index=t.index, dtype="object"))
    created = pd.DatetimeIndex(leads["created_at"]).asi8[pos[order]]
    return t.assign(created_at=_utc(created), qualified_at=_utc(q_ns[order]),
                    kind=name.map(_KIND).fillna(channel).to_numpy())


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def training_window(leads: pd.DataFrame, events: pd.DataFrame, until: Any = None):
    """``(leads, events, until)``: the leads created before ``until`` and their events before
    it (everything when ``until`` is None), after checking both are validated tables;
    ``until`` comes back as a UTC timestamp (or None)."""
    need_columns(leads, ("lead_id", "created_at"), "leads")
    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    require_loaded(leads, events)
    until = _check_until(until)
    if until is not None:
        leads = leads[leads["created_at"] < until]
        events = events[(events["ts"] < until) & events["lead_id"].isin(leads["lead_id"])]
    return leads, events, until


def qualified_at(leads: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """When each lead entered ``qualified`` (the funnel's ``entered_qualified``; NaT if never),
    indexed by ``lead_id``. Only the events that can move a lead into ``qualified`` are passed
    to :func:`~nurturelab.funnel.outcomes` (its first observed entry depends on nothing else),
    which keeps this fast on a large export."""
    from nurturelab.funnel import DEFAULT_FUNNEL, outcomes

    names = DEFAULT_FUNNEL.names
    k = names.index("qualified")
    is_stage = events["type"].astype("object").eq("stage")
    name = events["name"].astype("object")
    moves = (is_stage & name.eq("qualified")) | (
        ~is_stage & name.isin(DEFAULT_FUNNEL.stages[k - 1].exit_on))
    if not len(leads):
        return pd.Series([], dtype="datetime64[ns, UTC]", index=pd.Index([], name="lead_id"))
    as_of = max(leads["created_at"].max(), events["ts"].max() if len(events) else pd.NaT)
    out = outcomes(leads, events[moves], as_of=as_of)
    return out["entered_qualified"]


def local_clock(ts: pd.Series, timezone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wall-clock time in ``timezone`` of UTC timestamps: (milliseconds since local midnight,
    weekday with Monday 0, local day number since 1970-01-01), rounded to the millisecond."""
    local = pd.DatetimeIndex(ts).tz_convert(timezone).tz_localize(None)
    ns = local.to_numpy().astype("datetime64[ns]").view(np.int64)
    ms = (ns + 500_000) // 1_000_000
    day = ms // _MS_DAY
    return ms - day * _MS_DAY, (day + 3) % 7, day  # 1970-01-01 was a Thursday


# --------------------------------------------------------------------------------------------
# Shift, zone and workdays
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Span:
    """The busy arc of a day in one zone, in quarter-hour bins."""

    width: int  # bins from the first busy one to the last (96: the whole day)
    start: int  # first busy bin
    end: int  # one past the last busy bin (may be <= start: the arc crosses midnight)

    @property
    def whole_day(self) -> bool:
        return self.width >= _BINS

    @property
    def wraps(self) -> bool:
        return not self.whole_day and self.end <= self.start

    @property
    def hours(self) -> tuple[float, float] | None:
        if self.whole_day or self.wraps:
            return None
        return self.start / 4.0, self.end / 4.0


def _busy(counts: np.ndarray) -> np.ndarray:
    nonzero = counts[counts > 0]
    if not len(nonzero):
        return counts > 0
    return counts >= max(1.0, _QUIET * float(np.median(nonzero)))


def _span(counts: np.ndarray) -> _Span:
    """The shortest arc of the day holding every busy quarter hour: the complement of the
    longest circular run of empty ones; a lull under an hour is no break (the whole day)."""
    busy = _busy(counts)
    if not busy.any():
        return _Span(_BINS, 0, _BINS)
    idle = np.concatenate([~busy, ~busy])
    best, best_at, run = 0, 0, 0
    for k, empty in enumerate(idle):
        run = run + 1 if empty else 0
        if run > best:
            best, best_at = run, k
    best = min(best, _BINS)
    if best < 4:
        return _Span(_BINS, 0, _BINS)
    start = (best_at + 1) % _BINS
    end = (best_at - best + 1) % _BINS
    return _Span(_BINS - best, start, end if end else _BINS)


def _quarter_counts(ms_of_day: np.ndarray) -> np.ndarray:
    return np.bincount((ms_of_day // _MS_BIN).astype(np.int64), minlength=_BINS)[:_BINS]


def _zone_key(span: _Span, order: int) -> tuple:
    start = span.start / 4.0
    return (span.width, span.wraps, not 7.0 <= start <= 10.0, abs(start - 9.0), order)


def _infer_zone(ts: pd.Series) -> tuple[str, list[str], _Span]:
    """The zone of :data:`COMMON_ZONES` in which ``ts`` are most concentrated, the zones tied
    with it on concentration, and its span."""
    spans = {z: _span(_quarter_counts(local_clock(ts, z)[0])) for z in COMMON_ZONES}
    ranked = sorted(COMMON_ZONES, key=lambda z: _zone_key(spans[z], COMMON_ZONES.index(z)))
    best = ranked[0]
    tied = [z for z in ranked[1:] if spans[z].width == spans[best].width]
    return best, tied, spans[best]


# --------------------------------------------------------------------------------------------
# Reps and handling times
# --------------------------------------------------------------------------------------------
def _median_interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    """The distribution-free interval of a median from order statistics: the widest
    [x_(j+1), x_(n-j)] whose coverage 1 - 2 P(Bin(n, 1/2) <= j) is at least 1 - alpha."""
    from scipy import stats

    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    j = np.arange(n // 2 + 1)
    ok = j[stats.binom.cdf(j, n, 0.5) <= alpha / 2]
    if not len(ok):
        return math.nan, math.nan
    k = int(ok.max())
    return float(x[k]), float(x[n - k - 1])


def _weekly_reps(rep: pd.DataFrame, zone: str, first: pd.Timestamp,
                 last: pd.Timestamp) -> np.ndarray:
    """Reps who touched a lead in each full local week (Monday to Sunday) from the day of
    ``first`` to ``last``; a full week nobody worked counts 0."""
    _, _, day = local_clock(rep["ts"], zone)
    week = (day + 3) // 7  # weeks since the Monday before 1970-01-01
    bounds = local_clock(pd.Series([first, last]), zone)
    d0 = bounds[2][0]  # the export starts on the day of its first lead
    d1 = bounds[2][1] + bounds[0][1] / _MS_DAY
    w0, w1 = math.ceil((d0 + 3) / 7), math.floor((d1 + 3) / 7)  # full weeks [w0, w1)
    if w1 <= w0:
        return np.array([], dtype=float)
    active = pd.Series(rep["rep_id"].to_numpy(), index=week).groupby(level=0).nunique()
    return active.reindex(range(w0, w1), fill_value=0).to_numpy(dtype=float)


def _handling_kept(base: Team, note: str):
    rows = [row(f"team.handling_minutes.{ch}", base.handling_minutes[ch], status="assumed",
                note=note) for ch in CHANNELS]
    rows += [row("team.handling_sigma", base.handling_sigma, status="assumed", note=note),
             row("team.handling", math.nan, status="assumed", note=f"{base.handling}: {note}")]
    notes = [f"handling_minutes and handling_sigma kept from the base team: {note}"]
    return rows, dict(base.handling_minutes), base.handling_sigma, base.handling, notes


def _handling(rep: pd.DataFrame, base: Team, z: float, alpha: float):
    """Rows, minutes, sigma, family and notes of the lognormal handling-time fit: log
    durations are normal with a mean per channel and one variance (maximum likelihood); the
    mean minutes exp(mu + sigma^2 / 2) get Cox's interval, sigma the chi-square one."""
    from scipy import stats

    d = rep[["kind", "duration_min"]] if "duration_min" in rep else rep.iloc[:0]
    d = d[d["duration_min"].notna() & d["kind"].isin(CHANNELS)] if len(d) else d
    if not len(d):
        return _handling_kept(base, "the export records no durations")
    notes = []
    zero = d["duration_min"] <= 0
    if zero.any():
        notes.append(f"{int(zero.sum()):,d} rep touches with a duration of 0 minutes left out "
                     "of the lognormal handling fit")
    logs = pd.Series(np.log(d.loc[~zero, "duration_min"].to_numpy(dtype=float)),
                     index=d.loc[~zero, "kind"].to_numpy())
    by = logs.groupby(level=0).agg(["mean", "size"])
    n_all = len(logs)
    dof = n_all - len(by)
    if dof < 1:
        rows, minutes, sigma, family, kept = _handling_kept(
            base, "too few durations to fit a spread")
        return rows, minutes, sigma, family, notes + kept
    s2 = float(((logs - by["mean"].reindex(logs.index).to_numpy()) ** 2).mean())  # the MLE
    sigma = math.sqrt(s2)
    sigma_row = row("team.handling_sigma", sigma,
                    math.sqrt(n_all * s2 / stats.chi2.ppf(1 - alpha / 2, dof)),
                    math.sqrt(n_all * s2 / stats.chi2.ppf(alpha / 2, dof)), n=n_all,
                    note="maximum likelihood, one sigma for every channel; interval from "
                         f"chi-square with {dof:,d} degrees of freedom")
    rows, minutes = [], dict(base.handling_minutes)
    for ch in CHANNELS:
        name = f"team.handling_minutes.{ch}"
        if ch in by.index:
            n = int(by.loc[ch, "size"])
            log_mean = float(by.loc[ch, "mean"]) + s2 / 2
            se = math.sqrt(s2 / n + s2 ** 2 / (2 * n_all))
            minutes[ch] = math.exp(log_mean)
            rows.append(row(name, minutes[ch], math.exp(log_mean - z * se),
                            math.exp(log_mean + z * se), n=n,
                            note="lognormal mean exp(mu + sigma^2 / 2), Cox interval"))
        elif (d["kind"] == ch).any():
            minutes[ch] = 0.0
            rows.append(row(name, 0.0, status="inferred", n=int((d["kind"] == ch).sum()),
                            note="every duration recorded is 0 minutes"))
        else:
            why = f"no rep {ch} touch records a duration"
            rows.append(row(name, base.handling_minutes[ch], status="assumed",
                            note=f"{why}; kept from the base team"))
            notes.append(f"handling_minutes.{ch} kept from the base team: {why}")
    rows += [sigma_row, row("team.handling", math.nan, status="assumed",
                            note="lognormal: the family the handling fit assumes")]
    return rows, minutes, sigma, "lognormal", notes


# --------------------------------------------------------------------------------------------
# The fit
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False, eq=False)
class TeamFit(Result):
    """A :class:`~nurturelab.simulation.Team` fitted to an export (see :func:`fit_team`).

    Attributes
    ----------
    team : Team
        The fitted team; what the export cannot show is ``base``'s.
    table : DataFrame
        One row per parameter (:func:`nurturelab.twin.parameters.parameter_table`).
    notes : tuple of str
        Everything assumed, and why; how the time zone was chosen.
    activity : DataFrame
        Rep touch starts (voicemails left out) by local quarter hour (rows, hours of day) and
        weekday (columns ``Mon`` ... ``Sun``) in ``team.timezone``.
    """

    team: Team
    table: pd.DataFrame
    notes: tuple[str, ...] = ()
    activity: pd.DataFrame | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """The parameter table."""
        return self.table

    def _describe(self) -> str:
        t = self.team
        shift = ("round the clock" if t.shift is None
                 else f"{_clock(t.shift[0])}-{_clock(t.shift[1])}")
        days = ", ".join(_DAYS[d] for d in t.workdays)
        return f"{t.reps} reps, {shift} {t.timezone}, {days}"

    def _header(self) -> list[str]:
        return [repr(self), *(f"note: {n}" for n in self.notes)]

    def plot(self, ax=None):
        """Rep touch starts by local hour of day, with the fitted shift shaded."""
        ax = plots.axes(ax, figsize=(8, 3.5))
        if self.activity is not None and len(self.activity):
            total = self.activity.sum(axis=1)
            ax.bar(total.index, total.to_numpy(), width=0.25, align="edge", label="rep touches")
        if self.team.shift is not None:
            ax.axvspan(*self.team.shift, alpha=0.15, color="tab:green", label="fitted shift")
        ax.set_xlim(0, 24)
        ax.set_xlabel(f"hour of day ({self.team.timezone})")
        ax.set_ylabel("rep touches started")
        ax.set_title(f"The team: {self._describe()}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right")
        return ax


def _clock(hours: float) -> str:
    h = int(hours)
    return f"{h:02d}:{round((hours - h) * 60):02d}"


def _check(timezone: Any, base: Any, alpha: Any) -> None:
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except Exception as exc:  # noqa: BLE001 - zoneinfo raises several kinds
            raise ValueError(f"The 'timezone' parameter of fit_team must be an IANA zone such "
                             f"as 'America/Chicago', or None to infer it. Got {timezone!r} "
                             "instead.") from exc
    if not isinstance(base, Team):
        raise TypeError(f"The 'base' parameter of fit_team must be a Team. Got "
                        f"{type(base).__name__} instead.")
    if not (is_number(alpha) and 0 < alpha < 1):
        raise ValueError(f"The 'alpha' parameter of fit_team must be a float in (0, 1). Got "
                         f"{alpha!r} instead.")


def _assumed(base: Team, timezone: str | None, why: str) -> TeamFit:
    team = base if timezone is None else replace(base, timezone=timezone)
    rows = [row("team.reps", base.reps, status="assumed", note=why)]
    rows.append(row("team.timezone", math.nan, status="given" if timezone else "assumed",
                    note=team.timezone if timezone else f"{team.timezone}: {why}"))
    for k in (0, 1):
        value = math.nan if base.shift is None else base.shift[k]
        rows.append(row(f"team.shift[{k}]", value, status="assumed", note=why))
    rows.append(row("team.workdays", len(base.workdays), status="assumed",
                    note=f"{_days(base.workdays)}: {why}"))
    for ch in CHANNELS:
        rows.append(row(f"team.handling_minutes.{ch}", base.handling_minutes[ch],
                        status="assumed", note=why))
    rows.append(row("team.handling_sigma", base.handling_sigma, status="assumed", note=why))
    rows.append(row("team.handling", math.nan, status="assumed", note=f"{base.handling}: {why}"))
    rows += _unseen(base)
    notes = (f"every team setting kept from the base team: {why}",)
    return TeamFit(team=team, table=parameter_table(rows), notes=notes,
                   activity=pd.DataFrame(columns=list(_DAYS), dtype=float))


def _unseen(base: Team) -> list[dict]:
    return [
        row("team.queue", math.nan, status="assumed",
            note=f"{base.queue}: an export records touches, not the order reps took them in"),
        row("team.patience_hours", base.patience_hours, status="assumed",
            note="a task that waited too long leaves no trace in an export"),
    ]


def _days(days) -> str:
    return ", ".join(_DAYS[d] for d in days) or "none"


def fit_team(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    until: Any = None,
    timezone: str | None = None,
    base: Team = Team(),  # noqa: B008 - frozen and validated: a safe default
    alpha: float = 0.05,
) -> TeamFit:
    """Fit the nurturing team (reps, time zone, shift, workdays, handling times) to an export.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:func:`nurturelab.schema.read_export`, or a simulation's
        ``res.leads`` / ``res.events``); never modified.
    until : timestamp, optional
        Only leads created before it and events before it inform the fit (default:
        everything).
    timezone : str, optional
        The team's IANA zone (a column map's); inferred among :data:`COMMON_ZONES` when None.
    base : Team, default Team()
        What the export cannot show (the queue order, the patience, anything without data)
        is kept from it.
    alpha : float, default 0.05
        1 - the intervals' coverage.

    Returns
    -------
    TeamFit
        ``team`` and the parameter ``table`` (see the module docstring for how each setting
        is read off), ``notes`` and the ``activity`` behind the shift.

    Raises
    ------
    TypeError, KeyError, ValueError
        For tables that are not validated exports, or a bad ``timezone``, ``base``,
        ``alpha`` or ``until``.
    """
    _check(timezone, base, alpha)
    from scipy import stats

    leads, events, until = training_window(leads, events, until)
    if "rep_id" not in events.columns:
        return _assumed(base, timezone, "the export has no rep_id column")
    touches = nurture_touches(leads, events)
    if not len(touches):
        return _assumed(base, timezone, "the export has no touch before qualification")
    rep = touches[touches["rep_id"].notna()]
    if not len(rep):
        return _assumed(base, timezone, "no touch before qualification carries a rep_id")
    notes: list[str] = []
    started = rep[rep["kind"] != "voicemail"]
    if not len(started):
        started = rep
    zone, span, zone_row = _zone(started["ts"], timezone, base, notes)
    ms_of_day, weekday, _ = local_clock(started["ts"], zone)
    shift, shift_rows = _shift(span, zone, len(started), notes)
    workdays, days_row = _workdays(weekday, len(started))
    last = until if until is not None else max(events["ts"].max(), leads["created_at"].max())
    reps, reps_row = _reps(rep, zone, leads["created_at"].min(), last, alpha, notes)
    z = float(stats.norm.ppf(1 - alpha / 2))
    h_rows, minutes, sigma, handling, h_notes = _handling(rep, base, z, alpha)
    notes += h_notes
    notes.append(f"queue ({base.queue}) and patience_hours ({base.patience_hours:g}) kept from "
                 "the base team: an export records touches, not the queue or the tasks that "
                 "waited too long")
    team = replace(base, reps=reps, shift=shift, workdays=workdays or base.workdays,
                   timezone=zone, handling_minutes=minutes, handling_sigma=sigma,
                   handling=handling)
    table = parameter_table([reps_row, zone_row, *shift_rows, days_row, *h_rows,
                             *_unseen(base)])
    return TeamFit(team=team, table=table, notes=tuple(notes),
                   activity=_activity(ms_of_day, weekday))


def _zone(ts: pd.Series, timezone: str | None, base: Team,
          notes: list[str]) -> tuple[str, _Span, dict]:
    """The team's zone (given, inferred, or the base's), the busy span in it, and its row."""
    if timezone is not None:
        span = _span(_quarter_counts(local_clock(ts, timezone)[0]))
        return timezone, span, row("team.timezone", math.nan, status="given", note=timezone)
    zone, tied, span = _infer_zone(ts)
    if span.whole_day:
        notes.append("timezone kept from the base team: rep touches cover the whole day in "
                     "every common zone, so the time zone cannot be read off")
        return base.timezone, span, row(
            "team.timezone", math.nan, status="assumed",
            note=f"{base.timezone}: rep touches cover the whole day in every zone")
    same = f"; {', '.join(tied)} fit equally well" if tied else ""
    notes.append(f"timezone inferred: of {len(COMMON_ZONES)} common zones, rep touch start "
                 f"times are most concentrated in {zone} ({span.width / 4:g} busy hours a "
                 f"day), preferring a shift that starts between 7 and 10 local time{same}; "
                 "pass timezone= to set it")
    return zone, span, row("team.timezone", math.nan, n=len(ts), status="inferred", note=zone)


def _shift(span: _Span, zone: str, n: int,
           notes: list[str]) -> tuple[tuple[float, float] | None, list[dict]]:
    shift = span.hours
    note = ("rep touch start times, rounded outward to a quarter hour (voicemails left out: "
            "they follow the call)")
    if span.wraps:
        notes.append(f"rep touches run across midnight in {zone}: the shift is left open")
        note = f"rep touches run across midnight in {zone}: no shift"
    elif shift is None:
        note = "rep touches cover the whole day: no shift"
    return shift, [row(f"team.shift[{k}]", math.nan if shift is None else shift[k],
                       status="inferred", n=n, note=note) for k in (0, 1)]


def _workdays(weekday: np.ndarray, n: int) -> tuple[tuple[int, ...], dict]:
    per_day = np.bincount(weekday.astype(np.int64), minlength=7)
    busy_day = float(np.median(per_day[per_day >= 0.5 * per_day.max()]))  # a typical busy day
    days = tuple(int(d) for d in range(7) if per_day[d] >= _IDLE_DAY * busy_day)
    counts = ", ".join(f"{_DAYS[d]} {per_day[d]:,d}" for d in range(7))
    return days, row("team.workdays", len(days), status="inferred", n=n,
                     note=f"{_days(days)} (rep touches by weekday: {counts})")


def _reps(rep: pd.DataFrame, zone: str, first: pd.Timestamp, last: pd.Timestamp,
          alpha: float, notes: list[str]) -> tuple[int, dict]:
    weekly = _weekly_reps(rep, zone, first, last)
    if not len(weekly):
        notes.append("reps: the export spans no full week, so reps is the number of reps "
                     "seen at all")
        reps = int(rep["rep_id"].nunique())
        return reps, row("team.reps", reps, status="inferred", n=len(rep),
                         note="no full week in the export: the reps seen at all")
    reps = max(1, int(math.floor(float(np.median(weekly)) + 0.5)))
    lo, hi = _median_interval(weekly, alpha)
    return reps, row("team.reps", reps, lo, hi, n=len(weekly), status="inferred",
                     note=f"median over {len(weekly)} full weeks of the reps active that "
                          "week; interval: order statistics of the weekly counts")


def _activity(ms_of_day: np.ndarray, weekday: np.ndarray) -> pd.DataFrame:
    counts = np.zeros((_BINS, 7), dtype=float)
    np.add.at(counts, ((ms_of_day // _MS_BIN).astype(np.int64), weekday.astype(np.int64)), 1)
    return pd.DataFrame(counts, index=pd.Index(np.arange(_BINS) / 4.0, name="hour"),
                        columns=list(_DAYS))
