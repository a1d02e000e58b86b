"""The parameter table of a calibrated world: every parameter, its estimate and interval, how
many observations informed it, and whether it was fitted or assumed (and why).

One row per parameter, named by its place in the world (:func:`value_at` reads the same value
off any :class:`~nurturelab.simulation.World`, so a recovery study can set every estimate
beside the truth)::

    arrivals.per_day.paid_search        leads a day from a source
    arrivals.hourly[9]                  relative intensity at 09:00 (mean over the day 1)
    arrivals.weekday[0]                 relative intensity on Mondays (mean over the week 1)
    arrivals.trend                      log growth of the rate per week
    arrivals.daily_variation            variance of the day-to-day rate multiplier
    arrivals.intent.referral[2]         P(high intent) of a referral lead
    arrivals.fit_beta[0]                shape of the fit distribution
    team.reps                           reps working at once
    team.shift[0], team.shift[1]        shift start and end, hours of day in team.timezone
    team.workdays                       days worked (estimate: count; note: which)
    team.handling_minutes.call          mean rep minutes per touch
    team.handling_sigma                 lognormal sigma of handling times
    cadence.touches[3].at               offset of step 3 in seconds
    cadence.touches[3].skip             share of leads the team leaves step 3 out for
    cadence.touches[3].channel          also .anchor, .window, .content, .personalisation
                                        (words: estimate NaN, the value in ``note``) and
                                        .automated (1 or 0)
    cadence.stop_on                     stop rules (estimate: count; note: which)
    team.timezone, team.queue           words (estimate NaN, the value in ``note``)
    response.base.call                  P(answer) of a week-old reference lead
    response.intent.low                 log-odds shift against medium intent
    response.speed@30                   contact boost at 30 minutes (against a week)
    response.fit, response.spacing ...  the response model's scalars
    response.opt_out_base.sms           P(opt-out) after an unanswered SMS
    progression.qualify.p               P(qualify) of the reference lead
    progression.qualify.intent.low      log-odds shift
    progression.qualify.source.referral log-odds shift against the most common source
    progression.qualify.speed@1440      qualification shift for contact after a day
    progression.win.days                median days from proposal to a won deal
    ae_response_hours                   mean hours to the account executive's first touch

``status`` is ``fitted`` (estimated from the export, with an interval), ``inferred`` (read
off the export without an interval: the rep count, the shift, the cadence's structure),
``given`` (set by the caller, e.g. ``--cadence``) or ``assumed`` (kept from the base world;
``note`` says why).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "STATUSES", "parameter_table", "row", "value_at"]

COLUMNS = ("part", "estimate", "ci_low", "ci_high", "n", "status", "note")
STATUSES = ("fitted", "inferred", "given", "assumed")
_PATH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?")
# team and sequence: settings that are words, not numbers (estimate NaN, value in the note)
_WORDS = re.compile(r"team\.(timezone|handling|queue)|cadence\.touches\[\d+\]\."
                    r"(channel|anchor|window|content|personalisation)")


def row(parameter: str, estimate: Any, ci_low: Any = math.nan, ci_high: Any = math.nan, *,
        n: int = 0, status: str = "fitted", note: str = "") -> dict[str, Any]:
    """One row of the table; ``part`` is the parameter's first name (arrivals, team, ...)."""
    if status not in STATUSES:
        raise ValueError(f"row 'status' must be one of {list(STATUSES)}. Got {status!r} instead.")
    return {"parameter": parameter, "part": parameter.split(".")[0].split("[")[0],
            "estimate": _float(estimate), "ci_low": _float(ci_low), "ci_high": _float(ci_high),
            "n": int(n), "status": status, "note": str(note)}


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def parameter_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame indexed by ``parameter`` with the columns of :data:`COLUMNS`;
    a parameter named twice is an error (it would be ambiguous which value the world holds)."""
    df = pd.DataFrame(rows, columns=["parameter", *COLUMNS])
    dup = df["parameter"][df["parameter"].duplicated()].tolist()
    if dup:
        raise ValueError(f"parameter_table: parameters named twice: {dup[:5]}")
    return df.set_index("parameter")


def value_at(world: Any, parameter: str) -> float:
    """The value of ``parameter`` (a name of the table) in ``world``, on the table's scale.

    >>> from nurturelab.simulation import World
    >>> w = World()
    >>> value_at(w, "team.reps"), value_at(w, "arrivals.per_day.referral")
    (4.0, 10.0)
    >>> value_at(w, "response.speed@30"), value_at(w, "progression.qualify.p")
    (0.8, 0.4)
    """
    head, _, rest = parameter.partition(".")
    if parameter == "response.behaviour_cooling":
        return float(world.response.behaviour_decay)
    if head == "response" and rest.startswith("speed@"):
        m = world.response
        return float(m.speed(float(rest.split("@")[1])) - m.speed_knots[-1][1])
    if head == "response" and rest.startswith("intent."):
        m = world.response
        return float(m.intent[rest.split(".")[1]] - m.intent["medium"])
    if head == "response" and rest.startswith("personalisation."):
        m = world.response
        return float(m.personalisation[rest.split(".")[1]] - m.personalisation["token"])
    if head == "progression" and ".speed@" in rest:
        return float(world.progression.speed(float(rest.split("@")[1])))
    if head == "progression":
        name, _, key = rest.partition(".")
        tr = getattr(world.progression, name)
        kind, _, level = key.partition(".")
        if kind in ("intent", "source"):
            return float(getattr(tr, kind).get(level, 0.0))
        return float(getattr(tr, kind))
    # -- arrivals: a source without its own intent mix draws from default_intent
    if head == "arrivals" and rest.startswith("intent."):
        name, idx = _PATH.fullmatch(rest.split(".", 1)[1]).groups()
        mix = world.arrivals.intent.get(name, world.arrivals.default_intent)
        return float(mix[int(idx)])
    # -- end arrivals
    if parameter == "team.workdays":
        return float(len(world.team.workdays))
    # --- team and sequence (nurturelab.twin.team, nurturelab.twin.sequence) ---
    if _WORDS.fullmatch(parameter):
        return math.nan
    if parameter.startswith("team.shift[") and world.team.shift is None:
        return math.nan  # round the clock
    if parameter == "cadence.stop_on":
        return float(len(world.cadence.stop_on))
    # --- end team and sequence ---
    if parameter == "arrivals.hourly" or parameter.startswith(("arrivals.hourly[",
                                                                "arrivals.weekday[")):
        name, idx = _PATH.fullmatch(rest).groups()
        values = np.asarray(getattr(world.arrivals, name), dtype=float)
        return float(values[int(idx)] / values.mean())
    obj: Any = world
    for part in parameter.split("."):
        m = _PATH.fullmatch(part)
        if m is None:
            raise KeyError(f"value_at: {parameter!r} is not a parameter name")
        name, idx = m.groups()
        obj = obj[name] if isinstance(obj, dict) else getattr(obj, name)
        if idx is not None:
            obj = obj[int(idx)]
    if obj is None:
        return math.nan
    return float(obj)
