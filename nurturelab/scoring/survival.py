"""Time to convert: Kaplan-Meier curves, Cox models, behaviour over time, score decay, cure.

Most leads never convert and the rest take their time, so "converted or not" throws away when.
These are lifelines' fitters, shaped for the data contract: each takes a DataFrame and column
names and keeps the lifelines fitter it wraps in ``fitter_`` (or ``fitters_``). Fitters and
results share the face of :class:`nurturelab.result.Result`: a ``summary`` DataFrame property,
``print_summary()``, ``plot(ax=None)`` that returns the axes and a one-line ``repr`` that says
what was fitted.

* :func:`survival_table` — one row per lead: ``duration_days``, ``converted`` and lead columns.
* :func:`km_by` — Kaplan-Meier curve per group, conversion by 30/60/90 days, log-rank test.
* :class:`CoxModel` — proportional hazards with its assumption checked (``ph_check``).
* :func:`behaviour_intervals` and :class:`TimeVaryingCox` — behaviour counts as covariates
  that change over a lead's life (counting-process, long format).
* :func:`score_decay` — how fast the conversion hazard falls per week without engagement.
* :class:`CureModel` — a Weibull mixture cure model: the share that never converts, and
  P(convert within t) for the rest and for everyone.

Durations are in days since ``created_at``; a lead that has not converted by ``as_of`` is
censored there (lost leads too: they are the population that may never convert).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nurturelab.checks import need_columns
from nurturelab.funnel import DEFAULT_FUNNEL, Funnel, outcomes
from nurturelab.plots import axes
from nurturelab.result import Result, format_table
from nurturelab.schema import ACTIVITY_NAMES, normalise_labels

__all__ = [
    "CoxModel",
    "CureModel",
    "DecayResult",
    "KMResult",
    "TimeVaryingCox",
    "behaviour_intervals",
    "km_by",
    "score_decay",
    "survival_table",
]

_DAY = pd.Timedelta(days=1)
_WEEK_DAYS = 7.0
_MISSING = "(missing)"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def _check_alpha(alpha: float, owner: str) -> None:
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ValueError(f"The 'alpha' parameter of {owner} must be a float in (0, 1). "
                         f"Got {alpha!r} instead.")


def _check_penalizer(penalizer: float, owner: str) -> None:
    if not (isinstance(penalizer, float | int) and np.isfinite(penalizer) and penalizer >= 0):
        raise ValueError(f"The 'penalizer' parameter of {owner} must be a number >= 0. "
                         f"Got {penalizer!r} instead.")


def days_tuple(days: float | Iterable[float], what: str) -> tuple[float, ...]:
    vals = (days,) if np.isscalar(days) else tuple(days)  # type: ignore[arg-type]
    try:
        out = tuple(float(d) for d in vals)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be positive numbers of days. Got {days!r} instead.") \
            from None
    if not out or any(not np.isfinite(d) or d <= 0 for d in out):
        raise ValueError(f"{what} must be positive numbers of days. Got {days!r} instead.")
    return out


def _day_label(t: float) -> str:
    return f"{t:g}d"


def no_missing(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    bad = {c: int(n) for c, n in df[list(columns)].isna().sum().items() if n}
    if bad:
        raise ValueError(
            f"{what}: missing values in {bad} (column: rows). Drop those rows "
            f"(table.dropna(subset={list(bad)})) or fill them before fitting."
        )


def survival_columns(df: pd.DataFrame, duration_col: str, event_col: str, what: str) -> None:
    need_columns(df, (duration_col, event_col), what)
    no_missing(df, (duration_col, event_col), what)
    if not pd.api.types.is_numeric_dtype(df[duration_col]):
        raise TypeError(f"{what}: '{duration_col}' must hold numbers of days; it has dtype "
                        f"{df[duration_col].dtype}")
    ev = df[event_col]
    if not (pd.api.types.is_bool_dtype(ev) or set(pd.unique(ev)) <= {0, 1}):
        raise ValueError(f"{what}: '{event_col}' must be boolean or 0/1. Got the values "
                         f"{sorted(map(str, pd.unique(ev)))[:5]}")
    if (df[duration_col] < 0).any():
        raise ValueError(f"{what}: '{duration_col}' has negative durations "
                         f"({int((df[duration_col] < 0).sum())} rows); durations count days "
                         "from created_at to conversion or censoring")


def _check_fitted(model: Any) -> None:
    if not hasattr(model, "fitter_"):
        raise AttributeError(f"This {type(model).__name__} is not fitted yet; call fit first")


def _logit_ci(p: float, se: float, z: float) -> tuple[float, float]:
    """A CI for a probability from its standard error, on the logit scale (stays in 0..1)."""
    if not 0 < p < 1 or not np.isfinite(se):
        return (np.nan, np.nan)
    lo = np.log(p / (1 - p)) - z * se / (p * (1 - p))
    hi = np.log(p / (1 - p)) + z * se / (p * (1 - p))
    return float(1 / (1 + np.exp(-lo))), float(1 / (1 + np.exp(-hi)))


# --------------------------------------------------------------------------------------------
# The survival table
# --------------------------------------------------------------------------------------------
def survival_table(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    as_of: Any = None,
    covariates: Sequence[str] | None = None,
    funnel: Funnel = DEFAULT_FUNNEL,
) -> pd.DataFrame:
    """One row per lead: time to conversion (or to ``as_of``) and the lead's columns.

    Parameters
    ----------
    leads, events : DataFrame
        Validated contract tables.
    as_of : timestamp-like, optional
        Cut-off; defaults to the latest timestamp in the data (see
        :func:`nurturelab.funnel.outcomes`).
    covariates : sequence of str, optional
        Lead columns to carry; every lead column but ``lead_id`` and ``created_at`` by default.
    funnel : Funnel
        Its last stage is conversion.

    Returns
    -------
    DataFrame indexed by ``lead_id``: ``created_at``, ``duration_days`` (float),
    ``converted`` (bool: the event), then the covariates, then ``arm`` when the events carry
    an experiment arm and the leads table has none (the arm on the lead's first event that
    names one).

    Examples
    --------
    >>> from nurturelab import synthetic
    >>> leads, events = synthetic.make_export(n_leads=200, seed=3)
    >>> t = survival_table(leads, events, covariates=["source", "fit", "intent"])
    >>> list(t.columns)
    ['created_at', 'duration_days', 'converted', 'source', 'fit', 'intent']
    """
    need_columns(leads, ("lead_id", "created_at"), "leads")
    out = outcomes(leads, events, funnel, as_of)
    ld = leads.set_index("lead_id")
    if covariates is None:
        covariates = [c for c in ld.columns if c != "created_at"]
    else:
        covariates = list(covariates)
        need_columns(ld, covariates, "leads")
    table = out[["created_at", "duration_days", "converted"]].copy()
    table["converted"] = table["converted"].astype(bool)
    clash = [c for c in covariates if c in table.columns]
    if clash:
        raise ValueError(f"leads columns {clash} clash with survival_table's own columns; "
                         "rename them or leave them out of 'covariates'")
    table = table.join(ld[covariates])
    if "arm" in events.columns and "arm" not in table.columns and events["arm"].notna().any():
        armed = events.loc[events["arm"].notna(), ["lead_id", "ts", "arm"]]
        first = armed.sort_values("ts", kind="stable").drop_duplicates("lead_id")
        table["arm"] = first.set_index("lead_id")["arm"].reindex(table.index)
    table.attrs["as_of"] = out.attrs["as_of"]
    return table


# --------------------------------------------------------------------------------------------
# Kaplan-Meier by group
# --------------------------------------------------------------------------------------------
class KMResult(Result):
    """Kaplan-Meier curves of time to convert, one per group (made by :func:`km_by`).

    Attributes
    ----------
    group : str
        The grouping column.
    fitters_ : dict of label -> lifelines.KaplanMeierFitter
    summary : DataFrame (property)
        Per group: ``n``, ``events``, ``median_days`` (``inf`` when fewer than half ever
        convert within follow-up) with ``median_ci_low``/``median_ci_high``, and for each day
        ``t`` of ``at``: ``conv_<t>d`` = P(converted within t days) = 1 - S(t) with
        ``conv_<t>d_low``/``conv_<t>d_high`` (exponential Greenwood CI; NaN past a group's
        follow-up unless its curve reached 0).
    logrank_ : lifelines StatisticResult or None
        Multivariate log-rank test across the groups (None with a single group).
    p_value_ : float
        Its p-value (NaN with a single group).
    """

    def __init__(self, group, fitters, summary, logrank, duration_col, event_col):
        self.group = group
        self.fitters_ = fitters
        self._table = summary
        self.logrank_ = logrank
        self.p_value_ = float(logrank.p_value) if logrank is not None else np.nan
        self.duration_col = duration_col
        self.event_col = event_col

    @property
    def summary(self) -> pd.DataFrame:
        """Per group: size, conversions, median days and P(converted within t days)."""
        return self._table

    def _describe(self) -> str:
        n, ev = int(self._table["n"].sum()), int(self._table["events"].sum())
        return (f"group={self.group!r}: {len(self._table)} groups, {n:,d} leads, "
                f"{ev:,d} conversions, log-rank p={self.p_value_:.3g}")

    def plot(self, ax=None, *, ci_show: bool = True):
        """P(converted within t days) per group, a step curve each; returns the axes."""
        ax = axes(ax)
        for label, kmf in self.fitters_.items():
            kmf.plot_cumulative_density(ax=ax, ci_show=ci_show,
                                        label=f"{label} (n={kmf.event_observed.size:,d})")
        ax.set_xlabel("days since created")
        ax.set_ylabel("P(converted)")
        ax.set_title(f"Time to convert by {self.group} (log-rank p={self.p_value_:.2g})")
        return ax


def _at(kmf, t: float, max_t: float) -> tuple[float, float, float]:
    """(1 - S(t), its CI low, high) from a fitted Kaplan-Meier curve."""
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_
    i = int(np.searchsorted(sf.index.to_numpy(), t, side="right")) - 1
    s, lo, hi = float(sf.iloc[i]), float(ci.iloc[i, 0]), float(ci.iloc[i, 1])
    if t > max_t and s > 0:
        return (np.nan, np.nan, np.nan)
    return 1 - s, 1 - hi, 1 - lo


def km_by(
    table: pd.DataFrame,
    group: str,
    *,
    duration_col: str = "duration_days",
    event_col: str = "converted",
    at: Iterable[float] = (30, 60, 90),
    alpha: float = 0.05,
) -> KMResult:
    """Fit a Kaplan-Meier curve of time to convert for each value of ``group``.

    Parameters
    ----------
    table : DataFrame
        E.g. from :func:`survival_table`, with ``duration_col``, ``event_col`` and ``group``
        (``source``, a ``segment`` joined from :func:`nurturelab.segments.segments`, ``arm``).
        Missing group values form the group ``"(missing)"``.
    at : iterable of float
        Days at which conversion is reported.
    alpha : float
        1 - confidence level.

    Returns
    -------
    KMResult
        Groups are ordered by size, largest first.

    Examples
    --------
    >>> from lifelines.datasets import load_waltons
    >>> km = km_by(load_waltons(), "group", duration_col="T", event_col="E")
    >>> km.summary["median_days"].to_dict()
    {'control': 58.0, 'miR-137': 26.0}
    """
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test
    from lifelines.utils import median_survival_times

    _check_alpha(alpha, "km_by")
    need_columns(table, (group,), "table")
    survival_columns(table, duration_col, event_col, "km_by")
    days = days_tuple(at, "km_by 'at'")
    labels = table[group].astype("object").where(table[group].notna(), _MISSING).astype(str)
    if labels.empty:
        raise ValueError("km_by: the table has no rows")
    order = labels.value_counts(sort=True).index  # largest group first, ties by first seen
    fitters, rows = {}, []
    for label in order:
        sub = table[labels.eq(label).to_numpy()]
        dur, ev = sub[duration_col].astype(float), sub[event_col].astype(bool)
        kmf = KaplanMeierFitter(alpha=alpha).fit(dur, ev, label=str(label))
        fitters[label] = kmf
        med_ci = median_survival_times(kmf.confidence_interval_).to_numpy().ravel()
        row = {"n": len(sub), "events": int(ev.sum()),
               "median_days": float(kmf.median_survival_time_),
               "median_ci_low": float(med_ci[0]), "median_ci_high": float(med_ci[1])}
        for t in days:
            p, lo, hi = _at(kmf, t, float(dur.max()))
            row[f"conv_{_day_label(t)}"] = p
            row[f"conv_{_day_label(t)}_low"] = lo
            row[f"conv_{_day_label(t)}_high"] = hi
        rows.append(row)
    summary = pd.DataFrame(rows, index=pd.Index(list(order), name=group))
    logrank = None
    if len(order) > 1:
        logrank = multivariate_logrank_test(table[duration_col].astype(float), labels,
                                            table[event_col].astype(bool))
    return KMResult(group, fitters, summary, logrank, duration_col, event_col)


# --------------------------------------------------------------------------------------------
# Cox proportional hazards
# --------------------------------------------------------------------------------------------
def is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s) or \
        pd.api.types.is_string_dtype(s)


class CoxModel(Result):
    """Cox proportional hazards model of time to convert (wraps ``lifelines.CoxPHFitter``).

    Parameters
    ----------
    penalizer : float
        L2 (with ``l1_ratio``, elastic-net) penalty on the coefficients; helps when some
        groups are small or separate perfectly.
    l1_ratio : float
        Share of the penalty that is L1.
    alpha : float
        1 - confidence level for intervals; also the level at which ``ph_check`` flags a
        covariate.

    Attributes
    ----------
    fitter_ : lifelines.CoxPHFitter
    formula_ : str
        The formula fitted (text and category covariates enter as ``C(name)``).
    levels_ : dict
        Levels seen at fit for each category covariate.
    ph_check_ : DataFrame
        The proportional-hazards test (see :attr:`ph_check`).

    Examples
    --------
    >>> from lifelines.datasets import load_rossi
    >>> cox = CoxModel().fit(load_rossi(), "week", "arrest")
    >>> round(float(cox.summary.loc["prio", "coef"]), 4)
    0.0915
    """

    def __init__(self, *, penalizer: float = 0.0, l1_ratio: float = 0.0, alpha: float = 0.05):
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio
        self.alpha = alpha

    def fit(
        self,
        table: pd.DataFrame,
        duration_col: str = "duration_days",
        event_col: str = "converted",
        formula: str | None = None,
        *,
        covariates: Sequence[str] | None = None,
    ) -> CoxModel:
        """Fit on ``table``; covariates by ``formula`` or ``covariates`` (default: the rest).

        Parameters
        ----------
        table : DataFrame
            One row per lead.
        duration_col, event_col : str
        formula : str, optional
            A formulaic/patsy formula such as ``"C(source) + fit"``.
        covariates : sequence of str, optional
            Columns to use; text and category columns are dummy coded against their first
            level. With neither, every column but the duration and event is used, as
            lifelines does.

        Returns
        -------
        self
        """
        from lifelines import CoxPHFitter
        from lifelines.statistics import proportional_hazard_test

        _check_alpha(self.alpha, "CoxModel")
        _check_penalizer(self.penalizer, "CoxModel")
        if not (isinstance(self.l1_ratio, float | int) and 0 <= self.l1_ratio <= 1):
            raise ValueError("The 'l1_ratio' parameter of CoxModel must be a number in [0, 1]. "
                             f"Got {self.l1_ratio!r} instead.")
        survival_columns(table, duration_col, event_col, "CoxModel.fit")
        if formula is not None and covariates is not None:
            raise ValueError("CoxModel.fit takes 'formula' or 'covariates', not both")
        others = [c for c in table.columns if c not in (duration_col, event_col)]
        if formula is not None:
            used = [c for c in others if re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w.])",
                                                   formula)]
        else:
            used = list(covariates) if covariates is not None else others
            need_columns(table, used, "table")
            if not used:
                raise ValueError("CoxModel.fit needs at least one covariate")
        dt = [c for c in used if pd.api.types.is_datetime64_any_dtype(table[c])]
        if dt:
            raise TypeError(f"CoxModel.fit: {dt} hold timestamps, not covariates; pass "
                            "covariates=[...] without them (or turn them into numbers first)")
        no_missing(table, used, "CoxModel.fit")
        data = table[[duration_col, event_col, *used]].copy()
        data[event_col] = data[event_col].astype(bool)
        self.levels_ = {}
        for c in used:
            if pd.api.types.is_bool_dtype(data[c]):
                data[c] = data[c].astype(float)
            elif is_categorical(data[c]):
                cat = data[c].astype("category")
                cat = cat.cat.remove_unused_categories()
                data[c] = cat
                self.levels_[c] = list(cat.cat.categories)
        if formula is None:
            formula = " + ".join(f"C({c})" if c in self.levels_ else str(c) for c in used)
        self.formula_ = formula
        self.duration_col_, self.event_col_ = duration_col, event_col
        self.covariates_ = used
        cph = CoxPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio, alpha=self.alpha)
        cph.fit(data, duration_col, event_col, formula=formula)
        self.fitter_ = cph
        self.n_, self.events_ = len(data), int(data[event_col].sum())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph = proportional_hazard_test(cph, data, time_transform="rank").summary
        ph = ph[["test_statistic", "p"]].copy()
        ph["violated"] = ph["p"] < self.alpha
        self.ph_check_ = ph.rename_axis("covariate")
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """lifelines' coefficient table: coef, exp(coef) (hazard ratio), CIs, z, p."""
        _check_fitted(self)
        return self.fitter_.summary

    @property
    def ph_check(self) -> pd.DataFrame:
        """Proportional-hazards test per covariate (scaled Schoenfeld residuals against rank
        of time, ``lifelines.statistics.proportional_hazard_test``): ``test_statistic``,
        ``p`` and ``violated`` (p < alpha). A violated covariate's effect changes over a
        lead's life; stratify on it or model it as time-varying."""
        _check_fitted(self)
        return self.ph_check_

    def predict_conversion(
        self, df: pd.DataFrame, days: float | Iterable[float] = (30, 60, 90)
    ) -> pd.DataFrame:
        """P(convert within t days) = 1 - S(t | covariates) for each row of ``df``.

        Returns
        -------
        DataFrame indexed like ``df`` with one column ``p_<t>d`` per day. The baseline is
        flat past the longest observed duration, so the probability stops growing there.
        """
        _check_fitted(self)
        times = days_tuple(days, "predict_conversion 'days'")
        need_columns(df, self.covariates_, "df")
        no_missing(df, self.covariates_, "CoxModel.predict_conversion")
        x = df[self.covariates_].copy()
        for c, levels in self.levels_.items():
            unseen = sorted(set(x[c].astype("object")) - set(levels), key=str)
            if unseen:
                raise ValueError(f"CoxModel.predict_conversion: column '{c}' has values not "
                                 f"seen in fitting: {unseen[:5]}; seen: {levels[:12]}")
            x[c] = pd.Categorical(x[c].astype("object"), categories=levels)
        for c in x.columns:
            if pd.api.types.is_bool_dtype(x[c]):
                x[c] = x[c].astype(float)
        sf = self.fitter_.predict_survival_function(x, times=list(times))
        p = 1 - sf.T.to_numpy()
        return pd.DataFrame(p, index=df.index, columns=[f"p_{_day_label(t)}" for t in times])

    def _describe(self) -> str:
        head = f"penalizer={self.penalizer!r}"
        if not hasattr(self, "fitter_"):
            return f"{head}, not fitted"
        bad = self.ph_check_.index[self.ph_check_["violated"]].tolist()
        return (f"{head}, fitted on {self.n_:,d} rows, {self.events_:,d} events: "
                f"{self.formula_}; concordance {self.fitter_.concordance_index_:.3f}; "
                f"PH violated for {bad if bad else 'none'}")

    def to_text(self, decimals: int = 3) -> str:
        """The fit, the coefficient table and the proportional-hazards check."""
        return (f"{super().to_text(decimals)}\n\nproportional hazards check\n"
                f"{format_table(self.ph_check, decimals)}")

    def plot(self, ax=None):
        """Coefficients (log hazard ratios) with their CIs; returns the axes."""
        _check_fitted(self)
        return self.fitter_.plot(ax=axes(ax))


# --------------------------------------------------------------------------------------------
# Behaviour over time
# --------------------------------------------------------------------------------------------
def behaviour_intervals(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    names: Sequence[str] = ACTIVITY_NAMES,
    as_of: Any = None,
    every: float | None = None,
    funnel: Funnel = DEFAULT_FUNNEL,
) -> pd.DataFrame:
    """A lead's life cut into intervals over which its behaviour counts are constant.

    Each lead runs from 0 (``created_at``) to its conversion or ``as_of``, in days. It is cut
    at every behaviour event (and, with ``every``, at every ``every`` days), giving the
    counting-process (long) format of lifelines' ``CoxTimeVaryingFitter``: over the interval
    ``(start, stop]`` the covariates hold their value at ``start``, so a behaviour counts from
    the moment it happens, never before. Behaviour at or after the end of a lead's follow-up
    is ignored; a lead whose follow-up has zero length has no rows.

    Parameters
    ----------
    leads, events : DataFrame
        Validated contract tables.
    names : sequence of str
        Behaviour event names to count (any event ``type``).
    as_of : timestamp-like, optional
        Cut-off (default: latest timestamp in the data).
    every : float, optional
        Also cut every ``every`` days, and add ``days_since_engaged`` (days since the latest
        counted behaviour, or since creation before any) measured at each interval's start.
    funnel : Funnel
        Its last stage is conversion.

    Returns
    -------
    DataFrame with ``lead_id``, ``start``, ``stop`` (days), ``event`` (1 on a converted lead's
    last interval), one column per name holding its count so far, and ``days_since_engaged``
    if ``every`` is given; sorted by lead (in ``leads`` order) then ``start``.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["a"], "source": ["web"],
    ...                       "created_at": pd.to_datetime(["2026-01-01"], utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["a", "a"], "type": ["activity", "stage"],
    ...                        "name": ["email_open", "won"],
    ...                        "ts": pd.to_datetime(["2026-01-03", "2026-01-06"], utc=True)})
    >>> behaviour_intervals(leads, events, names=["email_open"])
      lead_id  start  stop  event  email_open
    0       a    0.0   2.0      0           0
    1       a    2.0   5.0      1           1
    """
    need_columns(events, ("lead_id", "ts", "name"), "events")
    if isinstance(names, str):
        raise TypeError(f"behaviour_intervals 'names' must be a sequence of event names; got "
                        f"the string {names!r}; write ({names!r},)")
    names = list(dict.fromkeys(normalise_labels(pd.Series(list(names), dtype=object))))
    if not names or any(not isinstance(n, str) for n in names):
        raise ValueError(f"behaviour_intervals 'names' needs event names. Got {names!r}.")
    if every is not None and not (np.isfinite(every) and every > 0):
        raise ValueError(f"behaviour_intervals 'every' must be a positive number of days or "
                         f"None. Got {every!r} instead.")
    out = outcomes(leads, events, funnel, as_of)
    end = out.attrs["as_of"]
    ids = out.index
    n = len(ids)
    dur = out["duration_days"].to_numpy(dtype=float)
    conv = out["converted"].to_numpy(dtype=bool)

    sel = events["name"].isin(names) & (events["ts"] <= end) & events["lead_id"].isin(ids)
    ev = events.loc[sel, ["lead_id", "ts", "name"]]
    pos = ids.get_indexer(ev["lead_id"])
    t = ((ev["ts"].to_numpy() - out["created_at"].to_numpy()[pos]) / np.timedelta64(1, "D"))
    t = np.asarray(t, dtype=float)
    keep = (t >= 0) & (t < dur[pos])
    beh = pd.DataFrame({"pos": pos[keep], "t": t[keep],
                        "name": ev["name"].astype("object").to_numpy()[keep]})
    inc = (beh.groupby(["pos", "t", "name"]).size().unstack("name", fill_value=0)
           .reindex(columns=names, fill_value=0))

    parts = [pd.DataFrame({"pos": np.arange(n), "t": np.zeros(n)}),
             inc.index.to_frame(index=False)]
    if every is not None:
        k = np.maximum(np.ceil(dur / every).astype(np.int64) - 1, 0)
        gpos = np.repeat(np.arange(n), k)
        step = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k) + 1
        parts.append(pd.DataFrame({"pos": gpos, "t": step * float(every)}))
    cuts = (pd.concat(parts, ignore_index=True).drop_duplicates()
            .sort_values(["pos", "t"], kind="stable").reset_index(drop=True))
    p = cuts["pos"].to_numpy()
    start = cuts["t"].to_numpy()
    last = np.r_[p[1:] != p[:-1], True]
    stop = np.where(last, dur[p], np.r_[start[1:], 0.0])
    counts = inc.reindex(pd.MultiIndex.from_frame(cuts), fill_value=0)
    counts = counts.groupby(level="pos", sort=False).cumsum().to_numpy()

    long = pd.DataFrame({"lead_id": ids.to_numpy()[p], "start": start, "stop": stop,
                         "event": (last & conv[p]).astype(int)})
    for j, name in enumerate(names):
        long[name] = counts[:, j].astype(int)
    if every is not None:
        engaged = inc.sum(axis=1).reindex(pd.MultiIndex.from_frame(cuts), fill_value=0)
        at = pd.Series(np.where(engaged.to_numpy() > 0, start, np.nan))
        at = at.groupby(p).ffill().fillna(0.0).to_numpy()
        long["days_since_engaged"] = start - at
    return long[long["stop"] > long["start"]].reset_index(drop=True)


class TimeVaryingCox(Result):
    """Cox model with covariates that change over a lead's life (``CoxTimeVaryingFitter``).

    Parameters
    ----------
    penalizer : float
        L2 penalty on the coefficients.
    alpha : float
        1 - confidence level.

    Attributes
    ----------
    fitter_ : lifelines.CoxTimeVaryingFitter
    covariates_ : list of str

    Examples
    --------
    >>> from lifelines.datasets import load_stanford_heart_transplants
    >>> tv = TimeVaryingCox().fit(load_stanford_heart_transplants(), id_col="id")
    >>> round(float(tv.summary.loc["transplant", "coef"]), 3)
    -0.01
    """

    def __init__(self, *, penalizer: float = 0.0, alpha: float = 0.05):
        self.penalizer = penalizer
        self.alpha = alpha

    def fit(
        self,
        long_df: pd.DataFrame,
        *,
        id_col: str = "lead_id",
        start_col: str = "start",
        stop_col: str = "stop",
        event_col: str = "event",
        covariates: Sequence[str] | None = None,
    ) -> TimeVaryingCox:
        """Fit on a long table (e.g. from :func:`behaviour_intervals`).

        ``covariates`` defaults to every numeric column but the id, start, stop and event.
        A covariate that never varies cannot be estimated and is refused by name.

        Returns
        -------
        self
        """
        from lifelines import CoxTimeVaryingFitter

        _check_alpha(self.alpha, "TimeVaryingCox")
        _check_penalizer(self.penalizer, "TimeVaryingCox")
        keys = (id_col, start_col, stop_col, event_col)
        need_columns(long_df, keys, "long_df")
        if covariates is None:
            covariates = [c for c in long_df.columns if c not in keys
                          and pd.api.types.is_numeric_dtype(long_df[c])]
        covariates = list(covariates)
        need_columns(long_df, covariates, "long_df")
        if not covariates:
            raise ValueError("TimeVaryingCox.fit needs at least one numeric covariate")
        no_missing(long_df, [*keys, *covariates], "TimeVaryingCox.fit")
        const = [c for c in covariates if long_df[c].nunique() < 2]
        if const:
            hint = (" (build the intervals with behaviour_intervals(..., every=7) so it grows "
                    "between engagements)" if "days_since_engaged" in const else "")
            raise ValueError(f"TimeVaryingCox.fit: covariate(s) {const} never vary in long_df, "
                             f"so they have no effect to estimate; leave them out{hint}")
        data = long_df[[*keys, *covariates]].copy()
        data[event_col] = data[event_col].astype(bool)
        for c in covariates:
            data[c] = data[c].astype(float)
        ctv = CoxTimeVaryingFitter(penalizer=self.penalizer, alpha=self.alpha)
        ctv.fit(data, id_col=id_col, event_col=event_col, start_col=start_col,
                stop_col=stop_col)
        self.fitter_ = ctv
        self.covariates_ = covariates
        self.n_ids_ = int(data[id_col].nunique())
        self.n_rows_ = len(data)
        self.events_ = int(data[event_col].sum())
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """lifelines' coefficient table: coef, exp(coef) (hazard ratio), CIs, z, p."""
        _check_fitted(self)
        return self.fitter_.summary

    def _describe(self) -> str:
        head = f"penalizer={self.penalizer!r}"
        if not hasattr(self, "fitter_"):
            return f"{head}, not fitted"
        return (f"{head}, fitted on {self.n_ids_:,d} subjects ({self.n_rows_:,d} intervals), "
                f"{self.events_:,d} events: {self.covariates_}")

    def plot(self, ax=None):
        """Coefficients (log hazard ratios) with their CIs; returns the axes."""
        _check_fitted(self)
        return self.fitter_.plot(ax=axes(ax))


# --------------------------------------------------------------------------------------------
# Score decay
# --------------------------------------------------------------------------------------------
class DecayResult(Result):
    """How the conversion hazard changes with each week without engagement.

    ``summary`` has one row, ``days_since_engaged``: ``hazard_ratio_per_week`` (hazard after
    one more week of silence relative to now, other covariates fixed), ``ci_low``,
    ``ci_high``, ``p``, ``half_life_weeks`` (weeks of silence that halve the hazard; ``inf``
    if it does not fall), ``coef_per_day`` and ``se_per_day``. ``model_`` is the
    :class:`TimeVaryingCox` it was read from.
    """

    def __init__(self, model: TimeVaryingCox, alpha: float):
        s = model.summary.loc["days_since_engaged"]
        coef, se = float(s["coef"]), float(s["se(coef)"])
        z = stats.norm.ppf(1 - alpha / 2)
        hr = np.exp(_WEEK_DAYS * coef)
        self.model_ = model
        self.alpha = alpha
        self.hazard_ratio_per_week_ = float(hr)
        self._table = pd.DataFrame(
            {
                "hazard_ratio_per_week": [hr],
                "ci_low": [np.exp(_WEEK_DAYS * (coef - z * se))],
                "ci_high": [np.exp(_WEEK_DAYS * (coef + z * se))],
                "p": [float(s["p"])],
                "half_life_weeks": [np.log(0.5) / np.log(hr) if hr < 1 else np.inf],
                "coef_per_day": [coef],
                "se_per_day": [se],
            },
            index=pd.Index(["days_since_engaged"], name="covariate"),
        )

    @property
    def summary(self) -> pd.DataFrame:
        """One row, ``days_since_engaged``: the hazard ratio per week of silence and the rest
        (see the class docstring)."""
        return self._table

    def _describe(self) -> str:
        r = self._table.iloc[0]
        level = round(100 * (1 - self.alpha))
        return (f"hazard ratio per week of silence {r['hazard_ratio_per_week']:.3f} "
                f"[{level}% CI {r['ci_low']:.3f}, {r['ci_high']:.3f}], "
                f"half-life {r['half_life_weeks']:.2f} weeks")

    def plot(self, ax=None, *, weeks: float = 12):
        """Relative conversion hazard against weeks since last engagement, with CI band."""
        ax = axes(ax)
        r = self.summary.iloc[0]
        w = np.linspace(0, weeks, 200)
        ax.plot(w, r["hazard_ratio_per_week"] ** w, label="relative hazard")
        ax.fill_between(w, r["ci_low"] ** w, r["ci_high"] ** w, alpha=0.25,
                        label=f"{round(100 * (1 - self.alpha))}% CI")
        ax.set_xlabel("weeks since last engagement")
        ax.set_ylabel("conversion hazard relative to just engaged")
        ax.legend()
        return ax


def score_decay(
    data: pd.DataFrame | TimeVaryingCox,
    *,
    covariates: Sequence[str] | None = None,
    penalizer: float = 0.0,
    alpha: float = 0.05,
) -> DecayResult:
    """Hazard ratio of conversion per week since the lead's last engagement, with its CI.

    Parameters
    ----------
    data : DataFrame or TimeVaryingCox
        A long table from ``behaviour_intervals(..., every=...)`` (it needs the column
        ``days_since_engaged``; cut it finely, ``every=1`` or ``7``, because the value is
        measured at each interval's start), or a fitted :class:`TimeVaryingCox` that has
        ``days_since_engaged`` among its covariates.
    covariates : sequence of str, optional
        For a long table: covariates of the time-varying model; by default every numeric
        column (the behaviour counts and ``days_since_engaged``), so the decay is read with
        the amount of engagement held fixed.
    penalizer, alpha : float
        Passed to :class:`TimeVaryingCox`.

    Returns
    -------
    DecayResult
    """
    if isinstance(data, TimeVaryingCox):
        if covariates is not None:
            raise ValueError("score_decay: 'covariates' applies to a long table, not to a "
                             "fitted TimeVaryingCox")
        _check_fitted(data)
        if "days_since_engaged" not in data.covariates_:
            raise ValueError(f"score_decay: the model's covariates {data.covariates_} lack "
                             "'days_since_engaged'; fit it on behaviour_intervals(..., "
                             "every=7) with that column")
        return DecayResult(data, data.alpha)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"score_decay takes a long DataFrame or a fitted TimeVaryingCox. Got "
                        f"{type(data).__name__} instead.")
    if "days_since_engaged" not in data.columns:
        raise KeyError("score_decay: the long table lacks 'days_since_engaged'; build it "
                       "with behaviour_intervals(leads, events, every=7)")
    if covariates is not None and "days_since_engaged" not in covariates:
        covariates = [*covariates, "days_since_engaged"]
    model = TimeVaryingCox(penalizer=penalizer, alpha=alpha).fit(data, covariates=covariates)
    return DecayResult(model, alpha)


# --------------------------------------------------------------------------------------------
# Cure model
# --------------------------------------------------------------------------------------------
class CureModel(Result):
    """Weibull mixture cure model: a share never converts, the rest convert in Weibull time.

    S(t) = c + (1 - c) exp(-(t / lambda)^rho), with c the cured fraction (lifelines'
    ``MixtureCureFitter`` with a ``WeibullFitter`` base). Unlike Kaplan-Meier it says what
    happens past follow-up: conversion levels off at 1 - c.

    Parameters
    ----------
    alpha : float
        1 - confidence level.

    Attributes
    ----------
    fitter_ : lifelines.MixtureCureFitter
    cured_fraction_ : float
        Estimated share that never converts.
    cured_fraction_ci_ : (float, float)
        Its CI (delta method on the logit scale, so it stays within 0..1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> never = rng.random(2000) < 0.8
    >>> t = np.where(never, np.inf, 20 * rng.weibull(1.5, 2000))
    >>> table = pd.DataFrame({"duration_days": np.minimum(t, 180.0), "converted": t <= 180})
    >>> cure = CureModel().fit(table)
    >>> lo, hi = cure.cured_fraction_ci_
    >>> round(cure.cured_fraction_, 3), bool(lo < 0.8 < hi)
    (0.794, True)
    """

    def __init__(self, *, alpha: float = 0.05):
        self.alpha = alpha

    def fit(
        self,
        table: pd.DataFrame,
        duration_col: str = "duration_days",
        event_col: str = "converted",
    ) -> CureModel:
        """Fit on ``table`` (one row per lead).

        Returns
        -------
        self
        """
        from lifelines import MixtureCureFitter, WeibullFitter

        _check_alpha(self.alpha, "CureModel")
        survival_columns(table, duration_col, event_col, "CureModel.fit")
        dur = table[duration_col].astype(float)
        ev = table[event_col].astype(bool)
        if (dur <= 0).any():
            raise ValueError(
                f"CureModel.fit: '{duration_col}' has {int((dur <= 0).sum())} durations of 0; "
                "a parametric model needs positive times. Drop them (leads created at as_of "
                "carry no information) or move them off zero, e.g. "
                f"table.assign({duration_col}=table['{duration_col}'].clip(lower=1e-3))"
            )
        if not ev.any():
            raise ValueError("CureModel.fit: no conversions in the table; nothing to fit")
        mcf = MixtureCureFitter(base_fitter=WeibullFitter(), alpha=self.alpha)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mcf.fit(dur, ev, label="cure")
        self.fitter_ = mcf
        self.n_, self.events_ = len(dur), int(ev.sum())
        self.max_duration_ = float(dur.max())
        z = stats.norm.ppf(1 - self.alpha / 2)
        p, se = self.fitter_.params_, self.fitter_.summary["se(coef)"]
        c = float(p["cured_fraction_"])
        self.cured_fraction_ = c
        self.cured_fraction_ci_ = _logit_ci(c, float(se["cured_fraction_"]), z)
        self._z = z
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Estimate, standard error and CI of ``cured_fraction`` (never converts),
        ``susceptible_fraction`` (1 - it), and the Weibull ``lambda_`` (scale, days) and
        ``rho_`` (shape) of the time to convert for those who will."""
        _check_fitted(self)
        p, se = self.fitter_.params_, self.fitter_.summary["se(coef)"]
        c, c_se = self.cured_fraction_, float(se["cured_fraction_"])
        lo, hi = self.cured_fraction_ci_
        rows = {
            "cured_fraction": (c, c_se, lo, hi),
            "susceptible_fraction": (1 - c, c_se, 1 - hi, 1 - lo),
        }
        for name in ("lambda_", "rho_"):
            est, s = float(p[name]), float(se[name])
            rows[name] = (est, s, est - self._z * s, est + self._z * s)
        return pd.DataFrame.from_dict(rows, orient="index",
                                      columns=["estimate", "se", "ci_low", "ci_high"])

    @staticmethod
    def _curves(theta: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, lam, rho = theta
        f_sus = 1 - np.exp(-((t / lam) ** rho))
        return f_sus, (1 - c) * f_sus

    def predict_conversion(self, days: float | Iterable[float] = (30, 60, 90)) -> pd.DataFrame:
        """P(convert within t days), for the susceptible and for everyone, with CIs.

        Returns
        -------
        DataFrame indexed by ``days``: ``p_susceptible`` (1 - Weibull S(t)), ``p_overall``
        ((1 - c) times it), each with ``_low``/``_high`` (delta method on the logit scale),
        and ``beyond_follow_up`` (t past the longest observed duration: an extrapolation).
        """
        _check_fitted(self)
        t = np.asarray(days_tuple(days, "predict_conversion 'days'"))
        names = ["cured_fraction_", "lambda_", "rho_"]
        theta = self.fitter_.params_[names].to_numpy(dtype=float)
        cov = self.fitter_.variance_matrix_.loc[names, names].to_numpy(dtype=float)
        est = self._curves(theta, t)
        grads = [np.zeros((len(t), 3)) for _ in est]
        for k in range(3):
            h = 1e-6 * max(abs(theta[k]), 1e-3)
            up, dn = theta.copy(), theta.copy()
            up[k] += h
            dn[k] -= h
            for g, a, b in zip(grads, self._curves(up, t), self._curves(dn, t), strict=True):
                g[:, k] = (a - b) / (2 * h)
        out = pd.DataFrame(index=pd.Index(t, name="days"))
        for label, p, g in zip(("p_susceptible", "p_overall"), est, grads, strict=True):
            se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", g, cov, g), 0))
            ci = [_logit_ci(float(pi), float(si), self._z) for pi, si in zip(p, se, strict=True)]
            out[label] = p
            out[f"{label}_low"] = [lo for lo, _ in ci]
            out[f"{label}_high"] = [hi for _, hi in ci]
        out["beyond_follow_up"] = t > self.max_duration_
        return out

    def _describe(self) -> str:
        if not hasattr(self, "fitter_"):
            return f"Weibull mixture, alpha={self.alpha!r}, not fitted"
        lo, hi = self.cured_fraction_ci_
        level = round(100 * (1 - self.alpha))
        return (f"Weibull mixture fitted on {self.n_:,d} rows, {self.events_:,d} "
                f"events: never convert {self.cured_fraction_:.3f} "
                f"[{level}% CI {lo:.3f}, {hi:.3f}]")

    def to_text(self, decimals: int = 3) -> str:
        """The fit, the parameter table and P(convert within 30/60/90 days)."""
        return (f"{super().to_text(decimals)}\n\nP(convert within t)\n"
                f"{format_table(self.predict_conversion(), decimals)}")

    def plot(self, ax=None, *, days: float | None = None):
        """Fitted P(converted within t) for everyone, its plateau 1 - c, and the
        Kaplan-Meier estimate it was fitted to; returns the axes."""
        from lifelines import KaplanMeierFitter

        _check_fitted(self)
        ax = axes(ax)
        mcf = self.fitter_
        kmf = KaplanMeierFitter().fit(mcf.durations, mcf.event_observed, label="Kaplan-Meier")
        kmf.plot_cumulative_density(ax=ax, ci_show=False)
        horizon = days or self.max_duration_
        t = np.linspace(horizon / 500, horizon, 500)
        names = ["cured_fraction_", "lambda_", "rho_"]
        _, overall = self._curves(mcf.params_[names].to_numpy(dtype=float), t)
        ax.plot(t, overall, label="cure model")
        ax.axhline(1 - self.cured_fraction_, ls="--", color="grey",
                   label=f"plateau 1 - c = {1 - self.cured_fraction_:.3f}")
        ax.set_xlabel("days since created")
        ax.set_ylabel("P(converted)")
        ax.legend()
        return ax
