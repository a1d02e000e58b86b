"""Lead-level behaviour features as of a snapshot time, and leakage-free conversion labels.

The design has two layers:

- :func:`snapshot` is a pure function of the ``leads`` and ``events`` tables (see
  :mod:`nurturelab.schema`) and a snapshot time ``as_of``. It returns one row per lead created by
  ``as_of`` and reads no event after it, so a model trained on it cannot see the future.
- :class:`BehaviourFeatures` is the same computation as a scikit-learn transformer. ``X`` is
  the leads frame and the events table goes to ``fit`` (``fit(leads, events=events)``), so the
  transformer can sit in front of a model; ``fit`` keeps the events (``events_``) and fixes the
  snapshot time (``as_of_``) and the output columns (``feature_names_out_``), ``transform``
  computes them.

:func:`open_leads` is who is open at ``as_of`` (created by then, neither won nor lost): the one
definition of the population that ``score fit`` learns from and is tested on, ``score apply``
ranks, ``thresholds`` chooses a cut on and the monthly audit checks. :func:`label` gives the
outcome to learn: whether a lead open at ``as_of`` converts within ``horizon_days`` after it.
Features at ``as_of`` with labels over ``(as_of, as_of + horizon]`` make a training set without
leakage.

Feature columns (``w`` runs over ``windows``, ``a`` over ``activities``):

========================  =====================================================================
``{a}_{w}d``              number of ``a`` events in the ``w`` days up to ``as_of`` (inclusive)
``days_since_activity``   days from the latest of those activities (any time) to ``as_of``; NaN
                          if none
``age_days``              days from ``created_at`` to ``as_of``
``touches``               ``touch`` events received so far
``answered``              ``connect`` and ``reply`` responses so far
``opted_out``             1.0 if an ``opt_out`` happened by ``as_of``, else 0.0
``fit``                   as in the leads table (may be missing)
``source``, ``intent``    as in the leads table, as strings (missing kept missing)
``fit_band``, ``segment``,
``route``                 from :func:`nurturelab.segments.segments`
(``lead_columns``)        extra leads columns passed through (``industry``, ``persona`` ...)
========================  =====================================================================
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from nurturelab._timestamps import ns_days, utc_ns
from nurturelab.checks import need_columns, utc_timestamp
from nurturelab.funnel import POSITIVE_RESPONSES, outcomes
from nurturelab.schema import ACTIVITY_NAMES
from nurturelab.segments import segments

__all__ = ["BehaviourFeatures", "coded_snapshot", "feature_names", "label", "open_leads",
           "snapshot"]

_DAY = pd.Timedelta(days=1)
_LEAD_NEEDS = ("lead_id", "created_at", "source", "fit", "intent")
_EVENT_NEEDS = ("lead_id", "ts", "type", "name")
_CATEGORICAL = ("source", "intent", "fit_band", "segment", "route")


def _check_windows(windows: Any) -> tuple[int, ...]:
    try:
        ws = tuple(windows)
    except TypeError:
        ws = (windows,)
    ok = ws and all(isinstance(w, int | np.integer) and not isinstance(w, bool) and w > 0
                    for w in ws) and len(set(ws)) == len(ws)
    if not ok:
        raise ValueError(f"'windows' must be distinct positive whole numbers of days, such as "
                         f"(7, 30, 90). Got {windows!r} instead.")
    return tuple(int(w) for w in ws)


def _check_activities(activities: Any) -> tuple[str, ...]:
    if isinstance(activities, str):
        raise TypeError(f"'activities' must be a sequence of event names, got the string "
                        f"{activities!r}; write ({activities!r},)")
    acts = tuple(activities)
    if not acts or not all(isinstance(a, str) and a for a in acts) or len(set(acts)) != len(acts):
        raise ValueError(f"'activities' must be distinct event names such as "
                         f"{ACTIVITY_NAMES}. Got {activities!r} instead.")
    return acts


def feature_names(
    windows: Sequence[int] = (7, 30, 90),
    activities: Sequence[str] = ACTIVITY_NAMES,
    lead_columns: Sequence[str] = (),
) -> list[str]:
    """The columns :func:`snapshot` returns, in order.

    Examples
    --------
    >>> feature_names((7,), ("demo_request",))[:3]
    ['demo_request_7d', 'days_since_activity', 'age_days']
    """
    counts = [f"{a}_{w}d" for a in activities for w in windows]
    rest = ["days_since_activity", "age_days", "touches", "answered", "opted_out", "fit"]
    return counts + rest + list(_CATEGORICAL) + list(lead_columns)


def snapshot(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    as_of: Any,
    windows: Sequence[int] = (7, 30, 90),
    activities: Sequence[str] = ACTIVITY_NAMES,
    lead_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Each lead's behaviour and profile as of a timestamp.

    Parameters
    ----------
    leads : DataFrame
        Validated leads: ``lead_id``, ``created_at``, ``source``, ``fit``, ``intent`` and any
        ``lead_columns``.
    events : DataFrame
        Validated events: ``lead_id``, ``ts``, ``type``, ``name``.
    as_of : timestamp-like
        Snapshot time; naive values are read as UTC. Events after it are ignored and leads
        created after it are left out.
    windows : sequence of int, default (7, 30, 90)
        Look-back windows, in days, for the activity counts.
    activities : sequence of str
        Event names counted (default the four activities of the data contract).
    lead_columns : sequence of str, default ()
        Further leads columns to carry into the output unchanged.

    Returns
    -------
    DataFrame of shape (n_leads_created_by_as_of, n_features), indexed by ``lead_id`` in the
    order of ``leads``, with the columns of :func:`feature_names` (described in the module
    docstring). ``attrs["as_of"]`` holds the snapshot time.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["a", "b"], "source": "web", "fit": [0.9, 0.2],
    ...                       "intent": ["high", "low"],
    ...                       "created_at": pd.to_datetime(["2026-01-01", "2026-03-01"],
    ...                                                    utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["a", "a", "a"], "type": "activity",
    ...     "name": ["pricing_visit", "pricing_visit", "demo_request"],
    ...     "ts": pd.to_datetime(["2026-01-02", "2026-01-25", "2026-02-05"], utc=True)})
    >>> s = snapshot(leads, events, as_of="2026-02-01", windows=(7, 30))
    >>> s[["pricing_visit_7d", "pricing_visit_30d", "demo_request_30d", "route"]]
    ... # doctest: +NORMALIZE_WHITESPACE
             pricing_visit_7d  pricing_visit_30d  demo_request_30d      route
    lead_id
    a                     1.0                2.0               0.0  immediate
    """
    need_columns(leads, (*_LEAD_NEEDS, *lead_columns), "leads")
    need_columns(events, _EVENT_NEEDS, "events")
    windows = _check_windows(windows)
    activities = _check_activities(activities)
    at = utc_timestamp(as_of, "as_of")

    ld = leads.loc[(leads["created_at"] <= at).to_numpy()]
    ids = pd.Index(ld["lead_id"].astype(object), name="lead_id")
    # every count is a bincount over the lead's position: one hash of the events' lead ids,
    # no groupby (ids may repeat: each repeat gets its id's figures, as a reindex gives them)
    uniq = ids.unique()
    row = uniq.get_indexer(ids)
    code = uniq.get_indexer(events["lead_id"])
    ts = events["ts"]
    keep = (ts <= at).to_numpy() & (code >= 0)
    # every column coded whole and then cut (no copy of the events kept): a name seen only
    # after ``at`` has a code no kept event carries, which counts nothing, as an unseen one
    name_code, seen = pd.factorize(events["name"], sort=False)
    if ts.dtype == "datetime64[ns, UTC]":  # days as pandas divides them (numpy's m8 division)
        age = ns_days(np.int64(at.as_unit("ns").value) - utc_ns(ts)[keep])
    else:
        age = ((at - ts[keep]) / _DAY).to_numpy()
    return coded_snapshot(ld, ids, row, len(uniq), at, code[keep], age, name_code[keep],
                          pd.Index(np.asarray(seen, dtype=object)),
                          np.asarray(events["type"].eq("touch"), dtype=bool)[keep], windows,
                          activities, lead_columns)


def coded_snapshot(ld: pd.DataFrame, ids: pd.Index, row: np.ndarray, n: int,
                   at: pd.Timestamp, code: np.ndarray, age: np.ndarray, name_code: np.ndarray,
                   seen: pd.Index, is_touch: np.ndarray, windows: tuple[int, ...],
                   activities: tuple[str, ...], lead_columns: Sequence[str],
                   seg: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`snapshot`'s columns from the events already cut at ``at`` and coded: ``code``
    (each event's lead, ``0 .. n-1``), ``age`` (days before ``at``), ``name_code`` (position
    of its name in ``seen``) and ``is_touch``; ``row`` is each row of ``ld``'s lead code;
    ``seg`` is ``segments(ld)`` when the caller has it (a lead's segment is its own columns'),
    row for row. The audit's snapshots call it with the events coded once for all their
    times and the segments of every lead found once."""

    def per_lead(counts: np.ndarray) -> np.ndarray:
        return counts[row].astype(float)

    def codes_of(names: Sequence[str]) -> np.ndarray:
        found = seen.get_indexer(list(names))
        return found[found >= 0]

    act_code = name_code
    which = seen.get_indexer(list(activities))  # -1: never seen
    cols = {}
    for a, k in zip(activities, which, strict=True):
        mine = act_code == k if k >= 0 else np.zeros(len(code), dtype=bool)
        for w in windows:
            hit = mine & (age <= w)
            cols[f"{a}_{w}d"] = per_lead(np.bincount(code[hit], minlength=n))
    is_act = np.isin(act_code, codes_of(activities))
    nearest = np.full(n, np.inf)
    np.minimum.at(nearest, code[is_act], age[is_act])
    nearest[np.isinf(nearest)] = np.nan
    cols["days_since_activity"] = nearest[row]
    cols["age_days"] = ((at - ld["created_at"]) / _DAY).to_numpy(dtype=float)

    def count(mask: np.ndarray) -> np.ndarray:
        return per_lead(np.bincount(code[mask], minlength=n))

    cols["touches"] = count(is_touch)
    cols["answered"] = count(np.isin(name_code, codes_of(POSITIVE_RESPONSES)))
    cols["opted_out"] = (count(np.isin(name_code, codes_of(("opt_out",)))) > 0).astype(float)
    cols["fit"] = pd.to_numeric(ld["fit"], errors="coerce").to_numpy(dtype=float)
    if seg is None:
        seg = segments(ld)
    cols["source"] = ld["source"].astype(object).to_numpy()
    cols["intent"] = ld["intent"].astype(object).to_numpy()
    for c in ("fit_band", "segment", "route"):
        cols[c] = seg[c].astype(object).to_numpy()
    for c in lead_columns:
        cols[c] = ld[c].to_numpy()
    result = pd.DataFrame(cols, index=ids)
    result.attrs["as_of"] = at
    return result


def open_leads(leads: pd.DataFrame, events: pd.DataFrame, *, as_of: Any,
               status: pd.DataFrame | None = None) -> pd.Index:
    """The leads open at ``as_of``: created by then and neither won nor lost by then.

    This is the population every scorer works on: the leads a rep could still work.
    ``nurturelab score fit`` learns from and is tested on them (through :func:`label`),
    ``score apply`` ranks them, ``thresholds`` chooses a cut on them and the monthly audit
    checks them. A lead lost by ``as_of`` is not open (nobody works it), even if it is won
    later; a lead created after ``as_of`` is not there yet.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables; only events at or before ``as_of`` count.
    as_of : timestamp-like
        Naive values are read as UTC.
    status : DataFrame, optional
        :func:`nurturelab.funnel.outcomes` at ``as_of``, when the caller has it already.

    Returns
    -------
    Index of ``lead_id``, in the order of ``leads``.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["a", "b", "c", "d"],
    ...     "created_at": pd.to_datetime(["2026-01-01"] * 3 + ["2026-02-01"], utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["a", "b"], "type": "stage", "name": ["won", "lost"],
    ...     "ts": pd.to_datetime(["2026-01-05", "2026-01-06"], utc=True)})
    >>> list(open_leads(leads, events, as_of="2026-01-10"))
    ['c']
    """
    at = utc_timestamp(as_of, "as_of")
    out = outcomes(leads, events, as_of=at) if status is None else status
    created = (out["created_at"] <= at).to_numpy()
    return out.index[created & out["status"].astype(object).eq("open").to_numpy()]


def label(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    as_of: Any,
    horizon_days: float,
) -> pd.Series:
    """Whether each lead open at ``as_of`` converts within ``horizon_days`` after it.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables.
    as_of : timestamp-like
        Snapshot time; naive values are read as UTC.
    horizon_days : float
        Length of the outcome window ``(as_of, as_of + horizon_days]``; positive.

    Returns
    -------
    Series of bool named ``converted``, indexed by ``lead_id``: one entry per lead open at
    ``as_of`` (:func:`open_leads`: created by then, neither won nor lost), in the order of
    ``leads``. A :class:`UserWarning` says
    so when the events end before the horizon does (late conversions would be missed).

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["a", "b", "c"],
    ...                       "created_at": pd.to_datetime(["2026-01-01"] * 3, utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["a", "b", "c"], "type": "stage", "name": "won",
    ...     "ts": pd.to_datetime(["2026-01-05", "2026-01-20", "2026-03-01"], utc=True)})
    >>> label(leads, events, as_of="2026-01-10", horizon_days=30).to_dict()
    {'b': True, 'c': False}

    A lead lost by the snapshot is not open, so it is not labelled:

    >>> lost = pd.DataFrame({"lead_id": ["c"], "type": "stage", "name": "lost",
    ...     "ts": pd.to_datetime(["2026-01-08"], utc=True)})
    >>> label(leads, pd.concat([events, lost]), as_of="2026-01-10", horizon_days=30).to_dict()
    {'b': True}
    """
    need_columns(leads, ("lead_id", "created_at"), "leads")
    need_columns(events, _EVENT_NEEDS, "events")
    at = utc_timestamp(as_of, "as_of")
    if not (isinstance(horizon_days, int | float | np.number) and np.isfinite(horizon_days)
            and horizon_days > 0) or isinstance(horizon_days, bool):
        raise ValueError(f"'horizon_days' must be a positive number of days. Got "
                         f"{horizon_days!r} instead.")
    end = at + pd.Timedelta(days=float(horizon_days))
    if len(events) and events["ts"].max() < end:
        warnings.warn(f"the events end at {events['ts'].max()}, before the label horizon "
                      f"{end}; conversions after the end of the data count as not converted",
                      UserWarning, stacklevel=2)
    out = outcomes(leads, events, as_of=end)
    y = out.loc[open_leads(leads, events, as_of=at), "converted"].astype(bool)
    y.name = "converted"
    return y


class BehaviourFeatures(TransformerMixin, BaseEstimator):
    """:func:`snapshot` as a scikit-learn transformer over a leads frame.

    ``X`` is the leads table and the events table is given to ``fit`` (``fit(leads,
    events=events)``), which keeps it, fixes the snapshot time and the output columns;
    ``transform`` computes the features of the leads it is given from those events.

    Parameters
    ----------
    as_of : timestamp-like, optional
        Snapshot time. By default ``fit`` takes the latest ``created_at`` of the leads it sees
        or ``ts`` of the events, whichever is later.
    windows : sequence of int, default (7, 30, 90)
    activities : sequence of str, default the four activities of the data contract
    lead_columns : sequence of str, default ()
        Extra leads columns carried into the output.

    Attributes
    ----------
    events_ : DataFrame
        The events table given to ``fit`` (the table itself, not a copy).
    as_of_ : Timestamp
        The snapshot time used by ``transform``.
    feature_names_out_ : ndarray of str
        Output columns.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Notes
    -----
    ``transform`` returns a DataFrame indexed by ``lead_id`` with one row per lead created by
    ``as_of_``: leads created later are dropped, so the output may have fewer rows than ``X``.
    Align labels through the index (``y.reindex(Xt.index)``) or use :func:`label`. In a
    :class:`~sklearn.pipeline.Pipeline`, hand the events to this step's ``fit`` by name:
    ``pipe.fit(leads, y, features__events=events)``.

    Examples
    --------
    >>> from nurturelab import synthetic
    >>> leads, events = synthetic.make_export(n_leads=100, seed=1)
    >>> bf = BehaviourFeatures(as_of="2026-10-01").fit(leads, events=events)
    >>> Xt = bf.transform(leads)
    >>> list(Xt.columns[:2]), len(Xt) == int((leads["created_at"] <= bf.as_of_).sum())
    (['email_open_7d', 'email_open_30d'], True)
    """

    def __init__(
        self,
        *,
        as_of: Any = None,
        windows: Sequence[int] = (7, 30, 90),
        activities: Sequence[str] = ACTIVITY_NAMES,
        lead_columns: Sequence[str] = (),
    ):
        self.as_of = as_of
        self.windows = windows
        self.activities = activities
        self.lead_columns = lead_columns

    def fit(self, X: pd.DataFrame, y: Any = None, *,
            events: pd.DataFrame | None = None) -> BehaviourFeatures:
        """Keep the events, fix the snapshot time and the output columns.

        Parameters
        ----------
        X : DataFrame
            Leads table: ``lead_id``, ``created_at``, ``source``, ``fit``, ``intent`` and any
            ``lead_columns``.
        y : ignored
        events : DataFrame
            Events table (``lead_id``, ``ts``, ``type``, ``name``) the features are read from;
            required.

        Returns
        -------
        self
        """
        need_columns(X, (*_LEAD_NEEDS, *self.lead_columns), "X (the leads table)")
        if events is None:
            raise ValueError("BehaviourFeatures.fit needs the events table the features are "
                             "read from: write BehaviourFeatures(...).fit(leads, "
                             "events=events).")
        need_columns(events, _EVENT_NEEDS, "events")
        windows = _check_windows(self.windows)
        activities = _check_activities(self.activities)
        if self.as_of is None:
            latest = [X["created_at"].max()]
            if len(events):
                latest.append(events["ts"].max())
            self.as_of_ = utc_timestamp(max(latest), "as_of")
        else:
            self.as_of_ = utc_timestamp(self.as_of, "as_of")
        self.events_ = events
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.feature_names_out_ = np.asarray(
            feature_names(windows, activities, tuple(self.lead_columns)), dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Features of the leads in ``X`` created by ``as_of_``, from ``events_``.

        Parameters
        ----------
        X : DataFrame
            Leads table.

        Returns
        -------
        DataFrame of shape (n_leads_created_by_as_of, len(feature_names_out_)), indexed by
        ``lead_id``.
        """
        check_is_fitted(self, "feature_names_out_")
        return snapshot(X, self.events_, as_of=self.as_of_, windows=self.windows,
                        activities=self.activities, lead_columns=tuple(self.lead_columns))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (``input_features`` is ignored)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()
