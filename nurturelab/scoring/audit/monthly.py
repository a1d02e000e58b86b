"""The monthly audit of an export, as ``nurturelab audit`` and notebook 06 run it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.checks import utc_timestamp
from nurturelab.schema import require_loaded
from nurturelab.scoring.audit.checks import AuditSettings, audit
from nurturelab.scoring.audit.result import AuditResult
from nurturelab.scoring.audit.snapshots import (
    month_bounds,
    monthly_snapshot_times,
    scored_snapshots,
)
from nurturelab.scoring.thresholds import RecordedThreshold, scorer_kind

__all__ = ["DEFAULT_HORIZON_DAYS", "audit_month"]

DEFAULT_HORIZON_DAYS = 30.0


def _scorer_name(scorer: Any) -> str:
    if scorer_kind(scorer) == "points":
        return "points"
    return getattr(scorer, "__name__", type(scorer).__name__)


def _with_recorded(settings: AuditSettings, recorded: RecordedThreshold | None,
                   horizon: float) -> tuple[AuditSettings, list[str]]:
    """The settings completed by what was recorded with the threshold, and notes on it.

    What the caller set wins; a threshold the caller gives is not held to the precision
    recorded for another one. A threshold chosen for another horizon keeps only the threshold
    itself: its precision and capacity describe another outcome.
    """
    if recorded is None:
        return settings, []
    if not isinstance(recorded, RecordedThreshold):
        raise TypeError(f"The 'recorded' parameter of audit_month must be a RecordedThreshold "
                        f"or None. Got {type(recorded).__name__} instead.")
    notes = []
    same_horizon = recorded.days is None or abs(recorded.days - horizon) <= 1e-9
    if not same_horizon:
        on = f" on version {recorded.version}" if recorded.version else ""
        notes.append(f"the threshold recorded{on} was chosen for conversion within "
                     f"{recorded.days:g} days, this audit judges {horizon:g}; its precision and "
                     f"capacity are not used (choose it again for {horizon:g} days: "
                     f"`nurturelab thresholds --horizon-days {horizon:g}`)")
    given = settings.threshold is not None
    usable = same_horizon and not given

    def pick(current: Any, value: Any, ok: bool) -> Any:
        return current if current is not None else (value if ok else None)

    return replace(
        settings,
        threshold=settings.threshold if given else recorded.threshold,
        threshold_source=settings.threshold_source if given else recorded.source,
        set_for=pick(settings.set_for, recorded.set_for, usable),
        capacity_per_day=pick(settings.capacity_per_day, recorded.capacity_per_day,
                              same_horizon),
        days=pick(settings.days, recorded.days, same_horizon),
    ), notes


def _reference_label(rows: pd.DataFrame, first: pd.Period, months: int) -> tuple[str, list]:
    """The reference's name (the months that had open leads) and a note when some had none."""
    last = first + (months - 1)
    asked = f"{first}" if months == 1 else f"{first}..{last}"
    seen = sorted({f"{t:%Y-%m}" for t in rows["as_of"]}) if len(rows) else []
    if not seen:
        return asked, []
    label = seen[0] if len(seen) == 1 else f"{seen[0]}..{seen[-1]}"
    if len(seen) < months:
        return label, [f"of the reference months {asked}, only {', '.join(seen)} had open "
                       "leads; the reference is those"]
    return label, []


def audit_month(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    scorer: Any,
    month: str,
    *,
    settings: AuditSettings | None = None,
    recorded: RecordedThreshold | None = None,
    reference_months: int = 3,
    every_days: float = 7.0,
    observed_until: Any = None,
    scorer_name: str | None = None,
) -> AuditResult:
    """The monthly scoring audit of an export: a month against the months before it.

    Every open lead is scored at snapshots every ``every_days`` from the first of each month
    (:func:`~nurturelab.scoring.audit.scored_snapshots`), in ``month`` and in the
    ``reference_months`` before it, and the month is audited against them
    (:func:`~nurturelab.scoring.audit.audit`). ``nurturelab audit`` is this function.

    Parameters
    ----------
    leads, events : DataFrame
        A validated export (:func:`nurturelab.schema.read_export`).
    scorer : classifier, PointRules or callable
        As in :func:`~nurturelab.scoring.audit.scored_snapshots`.
    month : str
        The month audited, ``YYYY-MM``.
    settings : AuditSettings, optional
        As in :func:`~nurturelab.scoring.audit.audit`; ``horizon_days`` defaults to 30 and the
        ``labels`` are set here (the reference is named by the months that had open leads).
    recorded : RecordedThreshold, optional
        The threshold recorded on the model version (:meth:`RecordedThreshold.from_tags`):
        where ``settings`` gives no threshold, the month is held to the recorded one and to
        the precision and capacity it was chosen for; a capacity or ``days`` in ``settings``
        wins. When it was chosen for another horizon only the threshold itself is used, and a
        note says so.
    reference_months : int, default 3
        Months before ``month`` in the reference; those without open leads are left out (a
        note says so).
    every_days : float, default 7
        Days between snapshots, from the first of each month.
    observed_until : timestamp-like, optional
        Audit as if the export were taken then (default its last event).
    scorer_name : str, optional
        How the report names the scorer (default ``"points"`` or the scorer's type).

    Returns
    -------
    AuditResult
        With ``meta["scorer"]``, ``meta["reference_months"]``, ``meta["every_days"]`` and
        ``notes``.

    Raises
    ------
    ValueError
        For a bad month or setting, a month outside the export, or a period without open
        leads at its snapshots.
    """
    require_loaded(leads, events)
    settings = AuditSettings() if settings is None else settings
    if not isinstance(settings, AuditSettings):
        raise TypeError(f"The 'settings' parameter of audit_month must be an AuditSettings. "
                        f"Got {type(settings).__name__} instead.")
    if not (isinstance(reference_months, int | np.integer) and not isinstance(reference_months,
                                                                            bool)
            and reference_months >= 1):
        raise ValueError(f"The 'reference_months' parameter of audit_month must be a whole "
                         f"number >= 1. Got {reference_months!r} instead.")
    start, end = month_bounds(month)
    if not len(events):
        raise ValueError("the export has no events")
    first, last = events["ts"].min(), events["ts"].max()
    until = last if observed_until is None else utc_timestamp(observed_until, "observed_until")
    if start > until or end <= first:
        raise ValueError(f"{month} is outside the export: its events run from {first:%Y-%m-%d} "
                         f"to {last:%Y-%m-%d}" + (f" (audited as of {until:%Y-%m-%d})"
                                                  if observed_until is not None else ""))
    horizon = (DEFAULT_HORIZON_DAYS if settings.horizon_days is None
               else float(settings.horizon_days))
    settings, notes = _with_recorded(settings, recorded, horizon)
    first_ref = start.tz_localize(None).to_period("M") - reference_months
    rows = {key: scored_snapshots(leads, events, scorer, horizon_days=horizon,
                                  observed_until=until,
                                  times=monthly_snapshot_times(f"{m}", n, every_days=every_days))
            for key, m, n in (("reference", first_ref, reference_months),
                              ("month", first_ref + reference_months, 1))}
    ref_label, more = _reference_label(rows["reference"], first_ref, reference_months)
    notes += more
    for key, label in (("month", month), ("reference", ref_label)):
        if not len(rows[key]):
            raise ValueError(
                f"{label} has no open leads at its snapshots (every {every_days:g} days from "
                f"the first of the month); the export's leads were created from "
                f"{leads['created_at'].min():%Y-%m-%d} to {leads['created_at'].max():%Y-%m-%d}"
                + ("; take more reference months (reference_months)" if key == "reference"
                   else ""))
    result = audit(rows["reference"], rows["month"],
                   settings=replace(settings, horizon_days=horizon, labels=(ref_label, month)))
    result.meta.update(scorer=scorer_name or _scorer_name(scorer),
                       reference_months=int(reference_months), every_days=float(every_days))
    result.notes = tuple(notes)
    return result
