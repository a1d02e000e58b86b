"""The twin's arrivals: how many leads a day from each source, when in the day and the week
they come, how the rate grows, how much it varies from day to day, and what the leads are like
(intent mix, fit), fitted to a team's own leads table.

The world (:class:`~nurturelab.simulation.Arrivals`) draws leads as a Poisson process whose
rate in hour ``h`` of a local day of weekday ``k`` at time ``t`` is::

    rate = sum(per_day) / 24 * hourly[h] * weekday[k] * exp(trend * weeks since the start) * G

with ``hourly`` and ``weekday`` divided by their means and ``G`` a gamma day multiplier of
mean 1 and variance ``daily_variation`` (0: no multiplier); each lead's source is drawn in
proportion to ``per_day``. :func:`fit_arrivals` estimates each piece on that scale:

- ``hourly``: the share of leads arriving in each local hour on the window's complete days,
  with Wilson intervals. The day multiplier scales every hour of its day alike, so given each
  day's total the hours are multinomial and the interval needs no widening for it.
- ``weekday``, ``trend`` and ``daily_variation``: a log-linear model of the daily counts on
  weekday and time (weeks), with the day's exposure (its share of a full day's hourly
  intensity: partial days at the window's edges and 23- or 25-hour days count for what they
  cover) as offset. Negative binomial (NB2) against Poisson is a likelihood-ratio test with
  the boundary correction (half a chi-squared with one degree of freedom); a gamma day
  multiplier of variance ``v`` gives exactly NB2 with ``alpha = v``, whose interval is the
  profile-likelihood one. Both use the Cox-Reid adjusted profile likelihood: estimating the
  weekday and trend biases the plain maximum-likelihood alpha down (by about a tenth with
  twelve weeks of days) and leaves the test rejecting Poisson far less often than its level.
  The chosen family (NB2 when Poisson is rejected) gives the weekday
  effects and the trend with Wald intervals; the twin gets the trend only when its interval
  excludes 0.
- ``per_day``: each source's count over the window's effective days at the window's end (the
  days weighted by the fitted weekday and trend, so the rate is the one the twin starts from).
  Interval: exact Poisson for the count, widened for the day-to-day variation when present
  and for the uncertainty of the weekday and trend that set the effective days.
- ``intent``: the mix per source with Wilson intervals per level, for sources with at least
  ``30`` leads with intent; ``default_intent`` is the pooled mix and serves the rest.
- ``fit_beta``: maximum likelihood with intervals from the Fisher information.

Whatever the table cannot inform is kept from ``base`` with status ``assumed`` and a note;
a base source the table never saw is left out of the twin (and named in a note).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from nurturelab import plots
from nurturelab.checks import need_columns, utc_timestamp
from nurturelab.result import Result
from nurturelab.simulation import Arrivals
from nurturelab.twin.parameters import parameter_table, row

__all__ = ["ArrivalsFit", "DispersionCheck", "fit_arrivals", "holds_dates_only",
           "spread_over_the_day"]

MIN_DAYS = 14  # days of leads the day-level parameters need (two of each weekday)
MIN_INTENT = 30  # leads with intent a source needs for its own mix
MIN_FIT = 30  # leads with fit the beta needs
MIN_HOURLY = 240  # leads on complete days the hourly profile needs (10 an hour)
INTENT_LEVELS = ("low", "medium", "high")
HOUR_NS = 3_600_000_000_000
WEEK_NS = 7 * 24 * HOUR_NS
_LOG_ALPHA = (-16.0, 3.0)  # NB2 alpha searched in [1e-7, 20]


@dataclass(frozen=True)
class DispersionCheck:
    """Poisson against NB2 on the daily counts.

    ``statistic`` is the likelihood ratio (``df`` 1) and ``p_value`` its boundary-corrected
    p-value (half the chi-squared tail: alpha = 0 is the edge of NB2's range); ``nb2_alpha``
    is NB2's maximum-likelihood alpha (the variance of the day multiplier) with its
    profile-likelihood interval ``ci_low``, ``ci_high``; ``rejected`` says whether Poisson is
    rejected at ``level``.
    """

    statistic: float
    df: int
    p_value: float
    nb2_alpha: float
    ci_low: float
    ci_high: float
    level: float

    @property
    def rejected(self) -> bool:
        """Poisson rejected at ``level``: the counts vary more from day to day."""
        return bool(self.p_value < self.level)


@dataclass(frozen=True, repr=False, eq=False)
class ArrivalsFit(Result):
    """Fitted arrivals: ``arrivals`` for the twin, ``table`` (one row per parameter, see
    :mod:`nurturelab.twin.parameters`), ``notes`` (everything assumed and why), ``daily``
    (one row per local day of the window: ``weekday``, ``exposure``, ``weeks`` to the
    window's end, ``leads``, ``expected`` under the fit, ``complete``, ``in_model``: in the
    daily model and the rates) and ``dispersion``
    (the Poisson check; None when the window is too short for it). ``since`` and ``until``
    are the window, ``timezone`` the zone of the hourly and weekday profiles."""

    arrivals: Arrivals
    table: pd.DataFrame
    notes: tuple[str, ...]
    daily: pd.DataFrame
    dispersion: DispersionCheck | None
    since: pd.Timestamp
    until: pd.Timestamp
    timezone: str

    @property
    def summary(self) -> pd.DataFrame:
        """The parameter table."""
        return self.table

    def _describe(self) -> str:
        a = self.arrivals
        days = (self.until - self.since) / pd.Timedelta(days=1)
        trend = f"trend {a.trend:+.3f}/week" if a.trend else "no trend"
        disp = ("Poisson not checked" if self.dispersion is None else
                "Poisson rejected" if self.dispersion.rejected else "Poisson kept")
        sources = f"{len(a.per_day)} source{'s' if len(a.per_day) > 1 else ''}"
        return (f"{sources}, {int(self.daily['leads'].sum()):,d} leads in "
                f"{days:.1f} days to {self.until:%Y-%m-%d %H:%M}, {trend}, {disp}")

    def _header(self) -> list[str]:
        return [repr(self), *(f"note: {n}" for n in self.notes)]

    def plot(self, ax=None):
        """Leads per local day with the fitted mean; returns the axes."""
        ax = plots.axes(ax, figsize=(9, 3.5))
        d = self.daily
        ax.bar(d.index, d["leads"], width=0.8, color="0.75", label="leads")
        ax.plot(d.index, d["expected"], color="C0", lw=1.5, label="fitted mean")
        ax.set_ylabel("leads a day")
        ax.set_title(f"Arrivals by day ({self.timezone})")
        ax.legend()
        return ax


# --------------------------------------------------------------------------------------------
# The window and its calendar
# --------------------------------------------------------------------------------------------
def _check_args(leads: Any, timezone: Any, base: Any, alpha: Any) -> None:
    need_columns(leads, ("lead_id", "created_at", "source"), "leads")
    if not isinstance(base, Arrivals):
        raise TypeError("The 'base' parameter of fit_arrivals must be an Arrivals. Got "
                        f"{type(base).__name__} instead.")
    if not (isinstance(alpha, float | int) and not isinstance(alpha, bool) and 0 < alpha < 1):
        raise ValueError("The 'alpha' parameter of fit_arrivals must be a float in the range "
                         f"(0, 1). Got {alpha!r} instead.")
    try:
        ZoneInfo(timezone)
    except Exception as exc:  # noqa: BLE001 - any failure means the zone is unusable
        raise ValueError("The 'timezone' parameter of fit_arrivals must be an IANA zone such "
                         f"as 'UTC' or 'America/New_York'. Got {timezone!r} instead.") from exc


def _first_rows(mask: pd.Series, leads: pd.DataFrame) -> str:
    rows = leads.index[mask.to_numpy()][:5].tolist()
    return f"rows {rows} (lead_id {leads.loc[rows, 'lead_id'].tolist()})"


def _created(leads: pd.DataFrame) -> pd.Series:
    ts = leads["created_at"]
    if not pd.api.types.is_datetime64_any_dtype(ts):
        raise TypeError("leads 'created_at' must hold timestamps (datetime64, UTC). Got dtype "
                        f"{ts.dtype} instead; load the table with nurturelab.schema.read_export.")
    if ts.isna().any():
        raise ValueError(f"leads 'created_at' is missing at {_first_rows(ts.isna(), leads)}")
    return ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")


def _window(leads: pd.DataFrame, since: Any, until: Any, timezone: str):
    """The leads created in [since, until) as plain columns, the window and its notes."""
    created = _created(leads)
    notes = []
    if until is None:  # the last lead is inside: the window ends right after it
        end = created.max() + pd.Timedelta(1, "ns")
        notes.append(f"no 'until' given: the window ends at the last lead "
                     f"({end:%Y-%m-%d %H:%M} UTC); its day, cut short by the export, is left "
                     "out of the daily model, and the rates are those at the last lead")
    else:
        end = utc_timestamp(until, "until")
    inside = created < end
    if since is None:
        first = created[inside].min() if inside.any() else created.min()
        start = _midnight(first, timezone)
    else:
        start = utc_timestamp(since, "since")
    if not start < end:
        raise ValueError(f"fit_arrivals: 'since' ({start:%Y-%m-%d %H:%M}) must come before "
                         f"'until' ({end:%Y-%m-%d %H:%M}).")
    inside &= created >= start
    before = int((created < start).sum())
    after = int((created >= end).sum()) if until is not None else 0
    if before or after:
        notes.append(f"window: {before:,d} leads created before {start:%Y-%m-%d %H:%M} and "
                     f"{after:,d} on or after {end:%Y-%m-%d %H:%M} UTC are left out")
    if not inside.any():
        raise ValueError(f"leads has no lead created between {start:%Y-%m-%d %H:%M} and "
                         f"{end:%Y-%m-%d %H:%M} UTC; it holds {created.min():%Y-%m-%d} to "
                         f"{created.max():%Y-%m-%d}")
    tab = pd.DataFrame({"created_at": created[inside]})
    source = leads.loc[inside, "source"]
    if source.isna().any():
        raise ValueError("leads 'source' is missing at "
                         f"{_first_rows(source.isna(), leads.loc[inside])}")
    tab["source"] = source.astype(str)
    tab["intent"] = _intent_column(leads, inside)
    tab["fit"] = _fit_column(leads, inside)
    return tab.reset_index(drop=True), start, end, notes


def _intent_column(leads: pd.DataFrame, inside: pd.Series) -> np.ndarray:
    if "intent" not in leads:
        return np.full(int(inside.sum()), None, dtype=object)
    intent = leads.loc[inside, "intent"].astype(object)
    bad = intent.notna() & ~intent.isin(INTENT_LEVELS)
    if bad.any():
        raise ValueError(f"leads 'intent' must be one of {list(INTENT_LEVELS)} or missing. Got "
                         f"{intent[bad].iloc[0]!r} at {_first_rows(bad, leads.loc[inside])}")
    return intent.where(intent.notna(), None).to_numpy(dtype=object)


def _fit_column(leads: pd.DataFrame, inside: pd.Series) -> np.ndarray:
    if "fit" not in leads:
        return np.full(int(inside.sum()), np.nan)
    fit = pd.to_numeric(leads.loc[inside, "fit"], errors="coerce").astype(float)
    bad = fit.notna() & ~fit.between(0, 1)
    if bad.any():
        raise ValueError(f"leads 'fit' must lie in [0, 1]. Got {float(fit[bad].iloc[0])!r} at "
                         f"{_first_rows(bad, leads.loc[inside])}")
    return fit.to_numpy()


@dataclass(frozen=True)
class _Calendar:
    """The window's local hours (absolute hours from the local midnight before ``since``):
    local hour, day, covered fraction and covered midpoint (weeks before the window's end);
    and its local days (date, weekday, complete)."""

    t0: int  # ns since the epoch of the first hour
    hour: np.ndarray
    day: np.ndarray
    frac: np.ndarray
    weeks: np.ndarray
    dates: pd.DatetimeIndex
    weekday: np.ndarray
    complete: np.ndarray


def _midnight(ts: pd.Timestamp, timezone: str, days: int = 0) -> pd.Timestamp:
    """The first instant of ``ts``'s local date (plus ``days``), in UTC. Where a clock change
    skips midnight (America/Sao_Paulo until 2019) the day starts at the first wall time that
    exists."""
    wall = ts.tz_convert(timezone).tz_localize(None).normalize() + pd.Timedelta(days=days)
    return wall.tz_localize(timezone, nonexistent="shift_forward",
                            ambiguous=True).tz_convert("UTC")


def _calendar(start: pd.Timestamp, end: pd.Timestamp, timezone: str) -> _Calendar:
    t0 = _midnight(start, timezone).value
    s, e = start.value, end.value
    last = _midnight(end, timezone)
    if last < end:  # run to the midnight after the end, so a cut day shows its gap
        last = _midnight(end, timezone, days=1)
    n = -(-(last.value - t0) // HOUR_NS)
    g = t0 + np.arange(n, dtype=np.int64) * HOUR_NS
    lo, hi = np.maximum(g, s), np.minimum(g + HOUR_NS, e)
    frac = np.clip((hi - lo) / HOUR_NS, 0.0, 1.0)
    weeks = ((lo + hi) / 2 - e) / WEEK_NS
    local = pd.DatetimeIndex(g, tz="UTC").tz_convert(timezone)
    day, dates = pd.factorize(local.tz_localize(None).normalize())  # wall-clock dates
    dates = pd.DatetimeIndex(dates).tz_localize(timezone, nonexistent="shift_forward",
                                                 ambiguous=True)
    complete = np.ones(len(dates), dtype=bool)
    np.logical_and.at(complete, day, frac >= 1.0)
    return _Calendar(t0=t0, hour=local.hour.to_numpy(), day=day, frac=frac, weeks=weeks,
                     dates=pd.DatetimeIndex(dates), weekday=pd.DatetimeIndex(dates).weekday
                     .to_numpy(), complete=complete)


# --------------------------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------------------------
def _wilson(count: np.ndarray, n: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    from statsmodels.stats.proportion import proportion_confint

    count = np.asarray(count)
    lo, hi = proportion_confint(count, n, alpha=alpha, method="wilson")
    # the bounds of a count of 0 (or of all) are exactly 0 (or 1), not a rounding away from it
    lo = np.where(count == 0, 0.0, np.asarray(lo, dtype=float))
    hi = np.where(count == n, 1.0, np.asarray(hi, dtype=float))
    return lo, hi


def _fit_hourly(cal: _Calendar, lead_hour: np.ndarray, alpha: float):
    """Relative intensity per local hour (mean 1) from the complete days, Wilson intervals;
    None when the complete days hold too few leads."""
    on = cal.complete[cal.day]
    occ = np.bincount(cal.hour[on], minlength=24).astype(float)
    mine = on[lead_hour]
    counts = np.bincount(cal.hour[lead_hour[mine]], minlength=24)
    total = int(counts.sum())
    if total < MIN_HOURLY or (occ == 0).any():
        return None
    share = counts / total
    scale = (1.0 / occ) / np.mean(share / occ)  # the share's scale to mean-1 intensity
    lo, hi = _wilson(counts, total, alpha)
    return share * scale, lo * scale, hi * scale, counts


def _exposure(cal: _Calendar, hourly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each day's share of a full day's intensity and its intensity-weighted time (weeks).
    A day whose covered hours all have intensity 0 has exposure 0 and is left out of the
    daily model."""
    h = np.asarray(hourly, dtype=float) / np.mean(hourly)
    w = cal.frac * h[cal.hour] / 24.0
    days = len(cal.dates)
    expo = np.bincount(cal.day, weights=w, minlength=days)
    t = np.bincount(cal.day, weights=w * cal.weeks, minlength=days)
    return expo, np.divide(t, expo, out=np.zeros(days), where=expo > 0)


def _glm(y, X, offset, nb_alpha: float):
    """Poisson (``nb_alpha`` 0) or NB2 GLM of the daily counts, log link, with offset."""
    import statsmodels.api as sm
    from statsmodels.tools import sm_exceptions

    family = (sm.families.Poisson() if nb_alpha == 0
              else sm.families.NegativeBinomial(alpha=nb_alpha))
    with warnings.catch_warnings():
        # the dispersion profile visits extreme alphas, where IRLS may stop early or overflow
        for category in (sm_exceptions.ConvergenceWarning, sm_exceptions.DomainWarning,
                         sm_exceptions.PerfectSeparationWarning, RuntimeWarning):
            warnings.simplefilter("ignore", category)
        return sm.GLM(y, X, family=family, offset=offset).fit()


def _adjusted_llf(y, X, offset, nb_alpha: float) -> float:
    """Cox-Reid adjusted profile log-likelihood of NB2 (Poisson at 0): the log-likelihood at
    the mean model's estimates less half the log determinant of their information, which
    removes the downward bias of the dispersion that estimating the mean model causes."""
    res = _glm(y, X, offset, nb_alpha)
    mu = np.asarray(res.mu)
    weight = mu / (1.0 + nb_alpha * mu)
    _, logdet = np.linalg.slogdet(X.T @ (weight[:, None] * X))
    return float(res.llf - 0.5 * logdet)


def _dispersion(y, X, offset, level: float) -> DispersionCheck:
    """NB2 against Poisson on the Cox-Reid adjusted profile likelihood: the likelihood ratio
    (boundary-corrected p-value), the maximising alpha and its profile interval."""
    from scipy import optimize, stats

    llf0 = _adjusted_llf(y, X, offset, 0.0)

    def llf(log_a: float) -> float:
        return _adjusted_llf(y, X, offset, math.exp(log_a))

    lo_b, hi_b = _LOG_ALPHA
    best = optimize.minimize_scalar(lambda la: -llf(la), bounds=(lo_b, hi_b), method="bounded",
                                    options={"xatol": 1e-4})
    top, log_a = -best.fun, float(best.x)
    lr = 2.0 * (top - llf0)
    if lr <= 1e-8:  # the maximum is Poisson itself
        lr, top, nb_alpha, log_a = 0.0, llf0, 0.0, lo_b
    else:
        nb_alpha = math.exp(log_a)
    p = 0.5 * float(stats.chi2.sf(lr, 1)) if lr > 0 else 1.0
    cut = float(stats.chi2.ppf(1 - level, 1))

    def gap(la: float) -> float:
        return 2.0 * (top - llf(la)) - cut

    ci_low = math.exp(optimize.brentq(gap, lo_b, log_a, xtol=1e-4)) if lr > cut else 0.0
    la_hi = log_a + 0.5
    while gap(la_hi) < 0 and la_hi < hi_b + 5:
        la_hi += 1.0
    ci_high = (math.exp(optimize.brentq(gap, log_a, la_hi, xtol=1e-4))
               if gap(la_hi) >= 0 else math.inf)
    return DispersionCheck(statistic=float(lr), df=1, p_value=p, nb2_alpha=nb_alpha,
                           ci_low=ci_low, ci_high=ci_high, level=float(level))


@dataclass(frozen=True)
class _Shape:
    """How the window's days weigh against the rate at its end: each day's effective days
    ``omega`` (exposure x weekday x trend, so that a source's expected count is its rate at
    the end times ``omega.sum()``) and the variance of ``log(omega.sum())`` from the
    uncertainty of the weekday and trend estimates."""

    weekday: np.ndarray
    trend: float
    omega: np.ndarray
    var_log_omega: float


@dataclass(frozen=True)
class _DailyFit:
    shape: _Shape
    weekday_ci: tuple[np.ndarray, np.ndarray]
    weekday_days: np.ndarray
    trend: float
    trend_ci: tuple[float, float]
    trend_p: float
    dispersion: DispersionCheck
    days: int


def _design(weekday: np.ndarray, weeks: np.ndarray, present: np.ndarray, with_trend: bool):
    """Intercept, a shift for each weekday with leads but the first, and (optionally) time."""
    cols = [np.ones(len(weekday))] + [(weekday == k).astype(float) for k in present[1:]]
    if with_trend:
        cols.append(weeks)
    return np.column_stack(cols)


def _weekday(res, present: np.ndarray, z: float):
    """Mean-1 weekday intensities from the model's shifts, delta-method intervals."""
    beta = np.concatenate([[0.0], np.asarray(res.params)[1:len(present)]])
    share = np.exp(beta - beta.max())
    share /= share.sum()
    cov = np.asarray(res.cov_params())[1:len(present), 1:len(present)]
    grad = np.eye(len(present))[:, 1:] - share[:, None]  # d log w_k / d shift_j
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", grad, cov, grad), 0, None))
    w, lo, hi = np.zeros(7), np.zeros(7), np.zeros(7)
    w[present] = 7 * share
    lo[present], hi[present] = w[present] * np.exp(-z * se), w[present] * np.exp(z * se)
    return w, lo, hi


def _shape(weekday_values, trend, expo, weeks, weekday, res=None, present=None) -> _Shape:
    """Effective days under the given weekday and trend; with the fitted model ``res`` the
    variance of their log sum by the delta method."""
    w = np.asarray(weekday_values, dtype=float)
    w = 7 * w / w.sum()
    omega = w[weekday] * np.exp(trend * weeks) * expo
    total = omega.sum()
    var = 0.0
    if res is not None:
        by_day = np.bincount(weekday, weights=omega, minlength=7)[present] / total
        grad = list((by_day - w[present] / 7)[1:])
        if trend:
            grad.append(float((omega * weeks).sum() / total))
        grad = np.asarray(grad)
        cov = np.asarray(res.cov_params())[1:, 1:]
        var = float(grad @ cov @ grad) if len(grad) else 0.0
    return _Shape(weekday=w, trend=float(trend), omega=omega, var_log_omega=max(var, 0.0))


def _fit_daily(y, expo, weeks, weekday, level: float) -> _DailyFit:
    """The daily counts on weekday and time: the dispersion check, then the trend and the
    weekday effects under the family it chose (the trend dropped when not significant)."""
    from scipy import stats

    z = float(stats.norm.ppf(1 - level / 2))
    present = np.flatnonzero(np.bincount(weekday, weights=y, minlength=7) > 0)
    use = (expo > 0) & np.isin(weekday, present)
    yu, off, wk, t = y[use], np.log(expo[use]), weekday[use], weeks[use]
    full = _design(wk, t, present, with_trend=True)
    disp = _dispersion(yu, full, off, level)
    nb = disp.nb2_alpha if disp.rejected else 0.0
    res = _glm(yu, full, off, nb)
    tau, se_tau = float(res.params[-1]), float(res.bse[-1])
    ci = (tau - z * se_tau, tau + z * se_tau)
    p = 2.0 * float(stats.norm.sf(abs(tau) / se_tau)) if se_tau > 0 else math.nan
    applied = bool((ci[0] > 0 or ci[1] < 0) and abs(tau) <= 1)
    if not applied:
        res = _glm(yu, _design(wk, t, present, with_trend=False), off, nb)
    w, lo, hi = _weekday(res, present, z)
    shape = _shape(w, tau if applied else 0.0, np.where(use, expo, 0.0), weeks, weekday, res,
                   present)
    rate = yu.sum() / shape.omega.sum()  # leads a day of a mean weekday at the end
    for k in np.setdiff1d(np.arange(7), present):
        # no lead on this weekday: the exact Poisson upper bound of its count, as intensity
        e_k = (expo * np.exp(shape.trend * weeks))[weekday == k].sum()
        hi[k] = -math.log(level / 2) / (rate * e_k) if e_k > 0 else math.inf
    return _DailyFit(shape=shape, weekday_ci=(lo, hi),
                     weekday_days=np.bincount(weekday[expo > 0], minlength=7), trend=tau,
                     trend_ci=ci, trend_p=p, dispersion=disp, days=int(use.sum()))


def _per_day(source: pd.Series, shape: _Shape, variation: float, level: float):
    """Leads a day per source at the window's end: the count over the effective days, its
    exact Poisson interval widened for the day-to-day variation and the shape's uncertainty."""
    from scipy import stats

    z = float(stats.norm.ppf(1 - level / 2))
    counts = source.value_counts()
    counts = counts.iloc[np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))]
    total = shape.omega.sum()
    ratio = float((shape.omega ** 2).sum() / total)
    rows, rates = [], {}
    for src, n in counts.items():
        est = n / total
        low = stats.chi2.ppf(level / 2, 2 * n) / 2
        high = stats.chi2.ppf(1 - level / 2, 2 * n + 2) / 2
        phi = 1.0 + variation * est * ratio  # variance inflation of the count
        down = math.sqrt(phi * math.log(n / low) ** 2 + z * z * shape.var_log_omega)
        up = math.sqrt(phi * math.log(high / n) ** 2 + z * z * shape.var_log_omega)
        rows.append(row(f"arrivals.per_day.{src}", est, est * math.exp(-down),
                        est * math.exp(up), n=int(n), note="leads a day at the window's end"))
        rates[str(src)] = float(est)
    return rows, rates


def _fit_intent(tab: pd.DataFrame, base: Arrivals, sources: list[str], level: float):
    """Intent mix per source (Wilson per level) and the pooled mix as ``default_intent``."""
    rows, mixes, notes = [], {}, []
    known = tab[tab["intent"].notna()]
    counts = pd.crosstab(known["source"], known["intent"]).reindex(
        index=sources, columns=list(INTENT_LEVELS), fill_value=0)
    pooled = counts.sum().to_numpy()
    m = int(pooled.sum())
    if m >= MIN_INTENT:
        default = tuple(float(x) for x in pooled / m)
        lo, hi = _wilson(pooled, m, level)
        for k, lvl in enumerate(INTENT_LEVELS):
            rows.append(row(f"arrivals.default_intent[{k}]", default[k], lo[k], hi[k], n=m,
                            note=f"P({lvl}) pooled over every source"))
    else:
        default = base.default_intent
        why = f"only {m} leads with intent (< {MIN_INTENT}): kept from base"
        rows += [row(f"arrivals.default_intent[{k}]", default[k], n=m, status="assumed",
                     note=why) for k in range(3)]
        notes.append(f"default_intent: {why}")
    few = []
    for src in sources:
        c = counts.loc[src].to_numpy()
        n = int(c.sum())
        if n < MIN_INTENT:
            few.append(f"{src} ({n})")
            continue
        mixes[src] = tuple(float(x) for x in c / n)
        lo, hi = _wilson(c, n, level)
        rows += [row(f"arrivals.intent.{src}[{k}]", c[k] / n, lo[k], hi[k], n=n,
                     note=f"P({lvl})") for k, lvl in enumerate(INTENT_LEVELS)]
    if few:
        notes.append(f"intent: source(s) with fewer than {MIN_INTENT} leads with intent use "
                     f"default_intent: {', '.join(few)}")
    elif m >= MIN_INTENT:  # every source has its own mix: the pooled one is only a fallback
        for r in rows:
            if r["parameter"].startswith("arrivals.default_intent["):
                r.update(status="inferred", ci_low=math.nan, ci_high=math.nan,
                         note=r["note"] + "; used by no source (each has its own mix), only "
                                          "by a source the twin meets later")
    missing = tab.loc[tab["intent"].isna(), "source"].value_counts()
    if len(missing) and missing.sum():
        named = ", ".join(f"{s} {n:,d}" for s, n in missing.items() if n)
        notes.append(f"intent: {int(missing.sum()):,d} of {len(tab):,d} leads have none "
                     f"({named}); the mixes are of the leads with intent, and the twin draws "
                     "an intent for every lead")
    return rows, mixes, default, notes


def _fit_beta(fit: np.ndarray, base: Arrivals, level: float):
    """Beta shape parameters of fit by maximum likelihood, Fisher-information intervals."""
    from scipy import special, stats

    x = fit[np.isfinite(fit)]
    n, notes = len(x), []
    if n < len(fit):
        notes.append(f"fit: {len(fit) - n:,d} of {len(fit):,d} leads have none; the beta is "
                     "fitted to the others")
    if n < MIN_FIT:
        why = f"only {n} leads with fit (< {MIN_FIT}): kept from base"
        notes.append(f"fit_beta: {why}")
        return ([row(f"arrivals.fit_beta[{k}]", base.fit_beta[k], n=n, status="assumed",
                     note=why) for k in range(2)], base.fit_beta, notes)
    edge = int(((x <= 0) | (x >= 1)).sum())
    if edge:
        notes.append(f"fit: {edge:,d} values of exactly 0 or 1 were read as 0.0005 and 0.9995 "
                     "(the beta has no mass there)")
    x = np.clip(x, 0.0005, 0.9995)
    a, b, _, _ = stats.beta.fit(x, floc=0, fscale=1)
    t = special.polygamma(1, a + b)
    info = n * np.array([[special.polygamma(1, a) - t, -t], [-t, special.polygamma(1, b) - t]])
    se = np.sqrt(np.diag(np.linalg.inv(info))) / np.array([a, b])  # of log a, log b
    z = float(stats.norm.ppf(1 - level / 2))
    rows = [row(f"arrivals.fit_beta[{k}]", v, v * math.exp(-z * s), v * math.exp(z * s), n=n)
            for k, (v, s) in enumerate(zip((a, b), se, strict=True))]
    return rows, (float(a), float(b)), notes


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _assumed_profile(name: str, values: tuple[float, ...], why: str) -> list[dict]:
    v = np.asarray(values, dtype=float)
    return [row(f"arrivals.{name}[{k}]", x, status="assumed", note=why)
            for k, x in enumerate(v / v.mean())]


def _profile_rows(hourly, daily: _DailyFit | None, base: Arrivals, why: str | None,
                  hourly_why: str | None = None):
    """Rows of hourly, weekday, trend and daily_variation; ``why`` when they are assumed."""
    rows = []
    if hourly is None:
        rows += _assumed_profile("hourly", base.hourly,
                                 why or hourly_why or "too few leads: kept from base")
    else:
        est, lo, hi, counts = hourly
        rows += [row(f"arrivals.hourly[{h}]", est[h], lo[h], hi[h], n=int(counts[h]))
                 for h in range(24)]
    if daily is None:
        rows += _assumed_profile("weekday", base.weekday, why)
        rows.append(row("arrivals.trend", base.trend, status="assumed", note=why))
        rows.append(row("arrivals.daily_variation", base.daily_variation, status="assumed",
                        note=why))
        return rows
    lo, hi = daily.weekday_ci
    rows += [row(f"arrivals.weekday[{k}]", daily.shape.weekday[k], lo[k], hi[k],
                 n=int(daily.weekday_days[k]),
                 note="" if daily.shape.weekday[k] else f"no lead on a {_WEEKDAYS[k]}")
             for k in range(7)]
    applied = daily.shape.trend != 0
    rows.append(row("arrivals.trend", daily.trend, *daily.trend_ci, n=daily.days,
                    note="" if applied else "interval includes 0: the twin has none"))
    d = daily.dispersion
    rows.append(row("arrivals.daily_variation", d.nb2_alpha, d.ci_low, d.ci_high, n=daily.days,
                    note="NB2 alpha" if d.rejected else "Poisson kept: the twin has none"))
    return rows


def _profile_notes(daily: _DailyFit | None, hourly, why: str | None,
                   hourly_why: str | None = None) -> list[str]:
    if daily is None:
        return [f"{why}: hourly, weekday, trend and daily_variation kept from base, and the "
                "rates are computed with them"]
    notes = [] if hourly is not None else [
        f"hourly: {hourly_why or f'fewer than {MIN_HOURLY} leads on complete days'}: kept "
        "from base"]
    if not daily.shape.trend:
        notes.append(f"trend: estimate {daily.trend:+.4f} log per week, interval "
                     f"[{daily.trend_ci[0]:+.4f}, {daily.trend_ci[1]:+.4f}] includes 0 "
                     f"(p = {daily.trend_p:.3f}) or is out of range: the twin has no trend")
    d = daily.dispersion
    if not d.rejected:
        notes.append(f"daily_variation: Poisson not rejected against NB2 (LR {d.statistic:.2f}, "
                     f"p = {d.p_value:.3f}; NB2 alpha {d.nb2_alpha:.4f}): the twin's days vary "
                     "as Poisson only")
    empty = [_WEEKDAYS[k] for k in range(7) if daily.shape.weekday[k] == 0]
    if empty:
        notes.append(f"weekday: no lead on {', '.join(empty)} in the window: intensity 0 "
                     "(upper bound from the exact Poisson interval of a zero count)")
    return notes


def holds_dates_only(created: pd.Series, timezone: str) -> bool:
    """Whether lead creation times carry dates only: every one at local midnight (01:00 where
    a clock change skips midnight), as a date column reads (Olist's ``first_contact_date``).

    >>> s = pd.Series(pd.to_datetime(["2026-01-05", "2026-01-06"] * 5).tz_localize("UTC"))
    >>> holds_dates_only(s, "UTC"), holds_dates_only(s + pd.Timedelta(minutes=90), "UTC")
    (True, False)
    """
    wall = pd.Series(created).dt.tz_convert(timezone).dt.tz_localize(None)
    at_midnight = (wall - wall.dt.normalize()) <= pd.Timedelta(hours=1)
    return bool(len(wall) >= 10 and (wall.dt.minute == 0).all() and at_midnight.all())


def spread_over_the_day(leads: pd.DataFrame, hourly: tuple[float, ...], timezone: str,
                        seed: int = 0) -> pd.DataFrame:
    """A copy of date-only ``leads`` whose ``created_at`` is moved to a time of day drawn from
    the ``hourly`` profile (in ``timezone``), the date kept: how a twin replays an export that
    records only the day a lead came in. Leads with times of day are returned unchanged."""
    if not holds_dates_only(leads["created_at"], timezone):
        return leads
    rng = np.random.default_rng(seed)
    p = np.asarray(hourly, dtype=float) / np.sum(hourly)
    hours = rng.choice(24, size=len(leads), p=p) + rng.random(len(leads))
    wall = leads["created_at"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    moved = (wall + pd.to_timedelta(hours, unit="h")).dt.tz_localize(
        timezone, nonexistent="shift_forward", ambiguous=True).dt.tz_convert("UTC")
    return leads.assign(created_at=moved)


def fit_arrivals(
    leads: pd.DataFrame,
    *,
    since: Any = None,
    until: Any = None,
    timezone: str = "UTC",
    base: Arrivals = Arrivals(),  # noqa: B008 - frozen, so a shared default is safe
    alpha: float = 0.05,
) -> ArrivalsFit:
    """Fit the twin's arrivals to a leads table.

    Parameters
    ----------
    leads : DataFrame
        Validated leads (:func:`nurturelab.schema.read_export`, or a simulation's
        ``res.leads``): ``lead_id``, ``created_at`` (UTC), ``source``, and where present
        ``intent`` and ``fit``. Not modified.
    since, until : timestamp, optional
        The window: leads created at or after ``since`` and before ``until`` inform the fit.
        By default from the local midnight before the first lead to the last lead; then the
        last lead's day, which the export cut short at that lead, is left out of the daily
        model and the rates. Days cut by ``since`` or ``until`` count for the share of the
        hourly intensity they cover. The rates are those at ``until``, where the twin starts.
    timezone : str
        IANA zone of the hourly and weekday profiles (the team's, as in
        :class:`~nurturelab.simulation.Team`).
    base : Arrivals
        Values kept for what the table cannot inform, each named in ``notes``: the hourly,
        weekday, trend and day-to-day variation of a window shorter than 14 days (the hourly
        profile also when its complete days hold fewer than 240 leads), ``default_intent``
        without 30 leads with intent, ``fit_beta`` without 30 leads with fit.
    alpha : float
        One minus the intervals' level, and the level of the trend and dispersion checks.

    Returns
    -------
    ArrivalsFit
        ``arrivals`` for the twin; ``summary`` has one row per parameter (named as in
        :mod:`nurturelab.twin.parameters`) with its interval and ``n``: leads for the rates,
        hourly, intent and fit, days for the weekday, trend and day-to-day variation.

    Examples
    --------
    >>> from nurturelab.cadence import Cadence, Touch
    >>> from nurturelab.simulation import World, simulate
    >>> world = World(cadence=Cadence("mail", [Touch("email", automated=True)]), leads=3000,
    ...               arrivals=Arrivals(per_day={"web_form": 40, "referral": 10}))
    >>> fit = fit_arrivals(simulate(world, seed=1).leads)
    >>> fit
    <ArrivalsFit: 2 sources, 3,000 leads in 59.7 days to 2026-03-05 16:35, no trend, Poisson kept>
    >>> referral = fit.summary.loc["arrivals.per_day.referral"]
    >>> [round(float(referral[c]), 2) for c in ("estimate", "ci_low", "ci_high", "n")]
    [9.75, 8.98, 10.58, 583.0]
    >>> fit.arrivals.trend, fit.arrivals.daily_variation, fit.dispersion.rejected
    (0.0, 0.0, False)
    """
    _check_args(leads, timezone, base, alpha)
    tab, start, end, notes = _window(leads, since, until, timezone)
    cal = _calendar(start, end, timezone)
    lead_hour = (pd.DatetimeIndex(tab["created_at"]).as_unit("ns").asi8 - cal.t0) // HOUR_NS
    dates_only = holds_dates_only(tab["created_at"], timezone)
    hourly_why = (f"created_at holds dates only (every lead at midnight in {timezone}): the "
                  "time of day is unknown" if dates_only else None)
    prof = _fit_profiles(cal, lead_hour, (end - start) / pd.Timedelta(days=1),
                         cut_last=until is None, base=base, level=alpha, dates_only=dates_only)
    in_model = prof.model[cal.day[lead_hour]] > 0
    rate_rows, per_day = _per_day(tab.loc[in_model, "source"], prof.shape, prof.variation,
                                  alpha)
    intent_rows, mixes, default, intent_notes = _fit_intent(tab, base, list(per_day), alpha)
    beta_rows, fit_beta, beta_notes = _fit_beta(tab["fit"].to_numpy(dtype=float), base, alpha)
    notes += (_profile_notes(prof.daily, prof.hourly, prof.why, hourly_why) + intent_notes
              + beta_notes
              + _source_notes(tab["source"], per_day, base))
    hourly = base.hourly if prof.hourly is None else tuple(float(x) for x in prof.hourly[0])
    arrivals = replace(
        base, per_day=per_day, process="poisson", hourly=hourly,
        weekday=tuple(float(x) for x in prof.shape.weekday), intent=mixes,
        default_intent=default, fit_beta=fit_beta, trend=prof.shape.trend,
        daily_variation=float(prof.variation))
    table = parameter_table(rate_rows + _profile_rows(prof.hourly, prof.daily, base, prof.why,
                                                      hourly_why)
                            + intent_rows + beta_rows)
    return ArrivalsFit(arrivals=arrivals, table=table, notes=tuple(notes),
                       daily=_daily_frame(cal, prof, int(in_model.sum())),
                       dispersion=None if prof.daily is None else prof.daily.dispersion,
                       since=start, until=end, timezone=timezone)


@dataclass(frozen=True)
class _Profiles:
    """The day-level part of the fit: the hourly fit (None: the base's), the daily model
    (None: too short a window, the base's weekday, trend and variation), the effective days,
    the day-to-day variation the rates are widened for, and per local day the leads, the
    exposure, its time, and the exposure the daily model uses (0: left out)."""

    hourly: tuple | None
    daily: _DailyFit | None
    shape: _Shape
    variation: float
    y: np.ndarray
    expo: np.ndarray
    weeks: np.ndarray
    model: np.ndarray
    why: str | None


def _fit_profiles(cal: _Calendar, lead_hour: np.ndarray, span: float, *, cut_last: bool,
                  base: Arrivals, level: float, dates_only: bool = False) -> _Profiles:
    lead_day = cal.day[lead_hour]
    y = np.bincount(lead_day, minlength=len(cal.dates)).astype(float)
    why = f"window of {span:.1f} days (< {MIN_DAYS})" if span < MIN_DAYS else None
    hourly = None if why or dates_only else _fit_hourly(cal, lead_hour, level)
    expo, weeks = _exposure(cal, base.hourly if hourly is None else hourly[0])
    model = expo.copy()
    last = int(lead_day.max())
    if cut_last and (expo[:last] > 0).any():
        model[last:] = 0.0  # the last lead's day stops at that lead
    if why:
        daily, variation = None, base.daily_variation
        shape = _shape(base.weekday, base.trend, model, weeks, cal.weekday)
    else:
        daily = _fit_daily(y * (model > 0), model, weeks, cal.weekday, level)
        shape = daily.shape
        variation = daily.dispersion.nb2_alpha if daily.dispersion.rejected else 0.0
    return _Profiles(hourly=hourly, daily=daily, shape=shape, variation=variation, y=y,
                     expo=expo, weeks=weeks, model=model, why=why)


def _daily_frame(cal: _Calendar, prof: _Profiles, n_model: int) -> pd.DataFrame:
    """One row per local day: the counts beside the fitted mean."""
    shape = prof.shape
    rate = n_model / shape.omega.sum()  # leads a day of a mean weekday at the window's end
    expected = rate * shape.weekday[cal.weekday] * np.exp(shape.trend * prof.weeks) * prof.expo
    return pd.DataFrame({
        "weekday": cal.weekday, "exposure": prof.expo, "weeks": prof.weeks,
        "leads": prof.y.astype(int), "expected": expected, "complete": cal.complete,
        "in_model": prof.model > 0,
    }, index=pd.Index(cal.dates, name="date"))


def _source_notes(source: pd.Series, per_day: dict, base: Arrivals) -> list[str]:
    notes = []
    unmodelled = sorted(set(source) - set(per_day))
    if unmodelled:
        notes.append(f"per_day: source(s) seen only on days outside the daily model are left "
                     f"out of the twin: {unmodelled}")
    dropped = sorted(set(base.per_day) - set(source))
    if dropped:
        notes.append(f"per_day: base source(s) without a lead in the window are left out of "
                     f"the twin: {dropped}")
    if base.process != "poisson":
        notes.append(f"process: the fitted arrivals are a Poisson process (base had "
                     f"{base.process!r})")
    return notes
