"""Behaviour points with decay: a transparent lead score computed from the events table.

A :class:`PointRules` set gives each kind of event a number of points (an e-mail open +5, a link
click +10, a demo request or pricing visit +25), optionally capped per lead and limited to a
recent window, and takes points away (:class:`Decay`) for every stretch of quiet days without
engagement. :func:`scores` evaluates the rules for every lead *as of* a timestamp, over the whole
events table at once; :func:`score_history` does it on a grid of timestamps; :func:`crossings`
finds when each lead first reached each :class:`Threshold`; :func:`threshold_events` turns the
crossings that move a lead to a stage into ``stage`` events of the data contract, so the funnel
reads them like any other stage change.

How a score is made, for one lead as of a time ``t`` (only events at or before ``t`` count, so
nothing after ``t`` leaks in; a lead created after ``t`` has no score):

1. each rule counts the lead's events with its ``event`` name (and ``type``, if given), those
   within ``window_days`` before ``t`` if it has a window, multiplies by its ``points`` and caps
   the result at ``cap`` in absolute value; ``points`` is the sum over rules;
2. the lead's last engagement is its latest event matched by a rule with non-negative points
   (its creation if none); with ``q`` the days from it to ``t``, ``decay`` is
   ``decay.points * floor(q / decay.quiet_days)``, or ``decay.points`` once ``q`` reaches
   ``quiet_days`` if ``repeat`` is false;
3. ``score`` is ``points + decay``, raised to ``floor`` and lowered to ``cap``.

The score is a function of the events up to ``t``, not a running balance: engaging again
restarts the quiet clock and so removes the decay. Windows and per-rule caps are how old
engagement is forgotten.

The point rules live in YAML files (``simulations/points/default.yaml``) read by
:func:`read_point_rules` and written by :func:`write_point_rules`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from nurturelab._timestamps import utc_ns
from nurturelab._yaml import load_yaml
from nurturelab.checks import is_number, need_columns, plain_number, utc_timestamp
from nurturelab.schema import (
    CHANNEL_DTYPE,
    EVENT_COLUMNS,
    EVENT_TYPES,
    TYPE_DTYPE,
    normalise_labels,
)

__all__ = [
    "DEFAULT_RULES",
    "Decay",
    "PreparedEvents",
    "PointRule",
    "PointRules",
    "Threshold",
    "crossings",
    "evaluate_at",
    "prepare_events",
    "read_point_rules",
    "score_history",
    "scores",
    "threshold_events",
    "write_point_rules",
]

EventType = Literal["touch", "response", "activity", "stage"]
Action = Literal["alert", "stage"]
_ACTIONS = ("alert", "stage")
_DAY_NS = 86_400 * 10**9
_MAX_DAYS = 36_525.0  # 100 years: keeps every offset well inside int64 nanoseconds
_NAT = np.iinfo(np.int64).min


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------
def _number(
    owner: str,
    name: str,
    value: Any,
    *,
    rule: str,
    fix: str,
    optional: bool = False,
    positive: bool = False,
    negative: bool = False,
    at_most: float | None = None,
) -> float | None:
    """``value`` as a float, or an error naming the field, the rule, the value and a fix."""
    if value is None and optional:
        return None
    if not is_number(value):
        raise TypeError(f"{owner} '{name}' must be {rule}. Got {value!r} instead. {fix}")
    ok = (
        math.isfinite(value)
        and (not positive or value > 0)
        and (not negative or value < 0)
        and (at_most is None or value <= at_most)
    )
    if not ok:
        raise ValueError(f"{owner} '{name}' must be {rule}. Got {value!r} instead. {fix}")
    return float(value)


def _label(owner: str, name: str, value: Any, *, example: str) -> str:
    """A label written as the events table writes it (trimmed, lower case, snake_case)."""
    if not isinstance(value, str) or not value.strip():
        kind = ValueError if isinstance(value, str) else TypeError
        raise kind(
            f"{owner} '{name}' must be a non-empty label such as {example!r}. "
            f"Got {value!r} instead."
        )
    fixed = normalise_labels(pd.Series([value], dtype=object)).iloc[0]
    if value != fixed:
        hint = f" Use {fixed!r}." if isinstance(fixed, str) else ""
        raise ValueError(
            f"{owner} '{name}' must be a snake_case label as the events table writes it "
            f"(lower case, digits and '_'). Got {value!r} instead.{hint}"
        )
    return value


def _tuple_of(owner: str, name: str, value: Any, kind: type, example: str) -> tuple:
    if isinstance(value, str | Mapping) or not isinstance(value, Iterable):
        raise TypeError(
            f"{owner} '{name}' must be a sequence of {kind.__name__} such as ({example},). "
            f"Got {value!r} instead."
        )
    items = tuple(value)
    for i, item in enumerate(items):
        if not isinstance(item, kind):
            raise TypeError(
                f"{owner} '{name}[{i}]' must be a {kind.__name__}. Got {item!r} "
                f"({type(item).__name__}) instead. Build it with {kind.__name__}(...), or read "
                "plain dicts with PointRules.from_dict."
            )
    return items


def _days_ns(days: float) -> int:
    return int(round(days * _DAY_NS))


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointRule:
    """Points a lead earns for each event of one kind.

    Parameters
    ----------
    event : str
        An ``events.name`` as the events table writes it: ``email_open``, ``link_click``,
        ``pricing_visit``, ``demo_request``, ``reply``, ``connect``, ``opt_out`` ...
    points : float
        Points per event; negative for events that lower the score (``opt_out``). A rule with
        negative points is not engagement: it does not restart the quiet clock of the decay.
    type : {'touch', 'response', 'activity', 'stage'} or None, default None
        Count only events of this ``events.type``; any type by default.
    cap : float, optional
        The most points the rule may give one lead, in absolute value; positive.
    window_days : float, optional
        Count only events at most this many days before the as-of time (the boundary
        included); positive. Older events still count as engagement for the decay.

    Examples
    --------
    >>> rule = PointRule("link_click", 10, cap=30)
    >>> rule.points, rule.column
    (10.0, 'points_link_click')
    >>> PointRule("reply", 15, type="response", window_days=14).column
    'points_response.reply'
    """

    event: str
    points: float
    type: EventType | None = None
    cap: float | None = None
    window_days: float | None = None

    def __post_init__(self) -> None:
        _label("PointRule", "event", self.event, example="email_open")
        me = f"PointRule {self.event!r}"
        points = _number(me, "points", self.points, rule="a finite number (points per event)",
                         fix="Write e.g. points=5, or a negative number to subtract.")
        object.__setattr__(self, "points", points)
        if self.type is not None and (not isinstance(self.type, str)
                                      or self.type not in EVENT_TYPES):
            raise ValueError(
                f"{me} 'type' must be one of {list(EVENT_TYPES)} or None (any type). "
                f"Got {self.type!r} instead."
            )
        cap = _number(me, "cap", self.cap, optional=True, positive=True,
                      rule="a positive number (most points per lead) or None",
                      fix="Write e.g. cap=30, or cap=None for no cap.")
        object.__setattr__(self, "cap", cap)
        window = _number(me, "window_days", self.window_days, optional=True, positive=True,
                         at_most=_MAX_DAYS,
                         rule=f"a positive number of days up to {_MAX_DAYS:g}, or None",
                         fix="Write e.g. window_days=30, or None to count every event.")
        object.__setattr__(self, "window_days", window)

    @property
    def column(self) -> str:
        """Name of this rule's column in :func:`scores` (``points_<type>.<event>`` if typed)."""
        return f"points_{self.event}" if self.type is None else f"points_{self.type}.{self.event}"

    def _describe(self) -> str:
        return f"{self.event!r} ({'any type' if self.type is None else 'type ' + self.type})"


@dataclass(frozen=True)
class Decay:
    """Points taken away for quiet stretches without engagement.

    Parameters
    ----------
    quiet_days : float, default 30
        Length of a quiet stretch in days; positive.
    points : float, default -10
        Points added (negative) for each full stretch since the last engagement.
    repeat : bool, default True
        Apply ``points`` for every full stretch (-10 at 30 quiet days, -20 at 60 ...); if
        false, apply it once, from the first full stretch on.

    Examples
    --------
    >>> Decay(30, -10)
    Decay(quiet_days=30.0, points=-10.0, repeat=True)
    """

    quiet_days: float = 30.0
    points: float = -10.0
    repeat: bool = True

    def __post_init__(self) -> None:
        quiet = _number("Decay", "quiet_days", self.quiet_days, positive=True, at_most=_MAX_DAYS,
                        rule=f"a positive number of days up to {_MAX_DAYS:g}",
                        fix="Write e.g. quiet_days=30.")
        object.__setattr__(self, "quiet_days", quiet)
        points = _number("Decay", "points", self.points, negative=True,
                         rule="a negative number (decay lowers the score)",
                         fix="Write e.g. points=-10; for no decay use PointRules(decay=None).")
        object.__setattr__(self, "points", points)
        if not isinstance(self.repeat, bool | np.bool_):
            raise TypeError(
                f"Decay 'repeat' must be true or false. Got {self.repeat!r} instead."
            )
        object.__setattr__(self, "repeat", bool(self.repeat))


@dataclass(frozen=True)
class Threshold:
    """A score at which something happens to a lead, the first time it gets there.

    Parameters
    ----------
    name : str
        snake_case name, unique within a :class:`PointRules` (``sales_ready``).
    score : float
        The score that triggers the action (reached when ``score >= threshold``).
    action : {'alert', 'stage'}
        ``'alert'`` notifies someone and is not recorded as an event; ``'stage'`` moves the
        lead to ``stage`` (see :func:`threshold_events`).
    stage : str, optional
        The stage entered, required for ``'stage'`` and refused for ``'alert'``.

    Examples
    --------
    >>> Threshold("sales_ready", 50, "stage", stage="qualified").score
    50.0
    """

    name: str
    score: float
    action: Action
    stage: str | None = None

    def __post_init__(self) -> None:
        _label("Threshold", "name", self.name, example="sales_ready")
        me = f"Threshold {self.name!r}"
        score = _number(me, "score", self.score, rule="a finite number",
                        fix="Write e.g. score=50.")
        object.__setattr__(self, "score", score)
        if not isinstance(self.action, str) or self.action not in _ACTIONS:
            raise ValueError(
                f"{me} 'action' must be one of {list(_ACTIONS)}. Got {self.action!r} instead."
            )
        if self.action == "stage":
            if self.stage is None:
                raise ValueError(
                    f"{me} 'stage' must name the stage the lead enters when action='stage'. "
                    "Got None instead. Write e.g. stage='qualified', or use action='alert'."
                )
            _label(me, "stage", self.stage, example="qualified")
        elif self.stage is not None:
            raise ValueError(
                f"{me} 'stage' must be None when action='alert' (an alert moves no lead). Got "
                f"{self.stage!r} instead. Drop it, or use action='stage'."
            )


_RULE_KEYS = tuple(f.name for f in fields(PointRule))
_DECAY_KEYS = tuple(f.name for f in fields(Decay))
_THRESHOLD_KEYS = tuple(f.name for f in fields(Threshold))


@dataclass(frozen=True)
class PointRules:
    """A complete scoring scheme: rules, decay, bounds and thresholds.

    Parameters
    ----------
    rules : sequence of PointRule
        At least one. No event may match two rules (``email_open`` with any type and
        ``email_open`` of type ``activity`` overlap). Stored as a tuple.
    decay : Decay or None, default Decay()
        -10 points per 30 quiet days by default; None for no decay.
    floor : float or None, default 0.0
        The score never goes below it; None for no floor.
    cap : float or None, default None
        The score never goes above it; positive and above ``floor``.
    thresholds : sequence of Threshold, default ()
        With unique names and scores above the score of a new lead (0, or ``floor`` if
        higher) and at most ``cap``, so that each can be crossed. Stored as a tuple.

    Examples
    --------
    >>> rules = PointRules([PointRule("demo_request", 25)], decay=None, cap=100,
    ...                    thresholds=[Threshold("hot", 25, "alert")])
    >>> len(rules.rules), rules.floor, rules.cap, rules.columns
    (1, 0.0, 100.0, ('points_demo_request',))
    """

    rules: tuple[PointRule, ...]
    decay: Decay | None = Decay()
    floor: float | None = 0.0
    cap: float | None = None
    thresholds: tuple[Threshold, ...] = ()

    def __post_init__(self) -> None:
        rules = _tuple_of("PointRules", "rules", self.rules, PointRule,
                          "PointRule('email_open', 5)")
        if not rules:
            raise ValueError(
                "PointRules 'rules' must hold at least one PointRule. Got an empty sequence "
                "instead. Add e.g. PointRule('email_open', 5)."
            )
        for j, b in enumerate(rules):
            for i, a in enumerate(rules[:j]):
                if a.event == b.event and (a.type is None or b.type is None or a.type == b.type):
                    raise ValueError(
                        f"PointRules 'rules[{j}]' {b._describe()} overlaps 'rules[{i}]' "
                        f"{a._describe()}: an event would count for both. Merge them into one "
                        "rule, or give each a different 'type'."
                    )
        object.__setattr__(self, "rules", rules)
        if self.decay is not None and not isinstance(self.decay, Decay):
            raise TypeError(
                f"PointRules 'decay' must be a Decay or None. Got {self.decay!r} instead. "
                "Write e.g. decay=Decay(quiet_days=30, points=-10)."
            )
        floor = _number("PointRules", "floor", self.floor, optional=True,
                        rule="a finite number or None", fix="Write e.g. floor=0.")
        cap = _number("PointRules", "cap", self.cap, optional=True, positive=True,
                      rule="a positive number or None", fix="Write e.g. cap=100.")
        if floor is not None and cap is not None and cap <= floor:
            raise ValueError(
                f"PointRules 'cap' must be above 'floor'. Got cap={self.cap!r} and "
                f"floor={self.floor!r} instead. Raise the cap or lower the floor."
            )
        object.__setattr__(self, "floor", floor)
        object.__setattr__(self, "cap", cap)

        thresholds = _tuple_of("PointRules", "thresholds", self.thresholds, Threshold,
                               "Threshold('sales_ready', 50, 'stage', stage='qualified')")
        names = [t.name for t in thresholds]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(
                f"PointRules 'thresholds' names must be unique. Got {dup} more than once. "
                "Rename one of them."
            )
        start = max(0.0, floor) if floor is not None else 0.0
        for i, t in enumerate(thresholds):
            if t.score <= start:
                raise ValueError(
                    f"PointRules 'thresholds[{i}]' ({t.name!r}) score must be above {start:g}, "
                    f"the score of a new lead, or every lead would cross it at once. Got "
                    f"{t.score:g} instead. Raise it."
                )
            if cap is not None and t.score > cap:
                raise ValueError(
                    f"PointRules 'thresholds[{i}]' ({t.name!r}) score must be at most the cap "
                    f"{cap:g}, or no lead could reach it. Got {t.score:g} instead. Lower it or "
                    "raise the cap."
                )
        object.__setattr__(self, "thresholds", thresholds)

    @property
    def columns(self) -> tuple[str, ...]:
        """The per-rule columns of :func:`scores`, in rule order."""
        return tuple(r.column for r in self.rules)

    def to_dict(self) -> dict:
        """A plain dict for YAML (every key written); :meth:`from_dict` reads it back equal.

        Examples
        --------
        >>> PointRules([PointRule("reply", 15)], decay=None).to_dict()
        ... # doctest: +NORMALIZE_WHITESPACE
        {'rules': [{'event': 'reply', 'points': 15, 'type': None, 'cap': None,
          'window_days': None}], 'decay': None, 'floor': 0, 'cap': None, 'thresholds': []}
        """
        d = self.decay
        return {
            "rules": [
                {
                    "event": r.event,
                    "points": plain_number(r.points),
                    "type": r.type,
                    "cap": plain_number(r.cap),
                    "window_days": plain_number(r.window_days),
                }
                for r in self.rules
            ],
            "decay": None if d is None else {
                "quiet_days": plain_number(d.quiet_days),
                "points": plain_number(d.points),
                "repeat": d.repeat,
            },
            "floor": plain_number(self.floor),
            "cap": plain_number(self.cap),
            "thresholds": [
                {"name": t.name, "score": plain_number(t.score), "action": t.action,
                 "stage": t.stage}
                for t in self.thresholds
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping, *, source: str = "point rules") -> PointRules:
        """Build point rules from a plain dict such as :meth:`to_dict` returns.

        Parameters
        ----------
        d : mapping
            ``rules`` (a list of mappings with the :class:`PointRule` fields; ``event`` and
            ``points`` required) and optionally ``decay`` (a mapping of :class:`Decay` fields,
            or null for none), ``floor``, ``cap`` and ``thresholds`` (a list of mappings with
            the :class:`Threshold` fields). Keys left out take the defaults.
        source : str, default 'point rules'
            Where ``d`` came from (a file name); every error message starts with it.

        Raises
        ------
        ValueError, TypeError
            Unknown or missing keys (naming the key and the allowed keys), or a bad value.

        Examples
        --------
        >>> PointRules.from_dict({"rules": [{"event": "reply", "points": 15}], "decya": None})
        Traceback (most recent call last):
        ...
        ValueError: point rules: unknown key(s) ['decya']; allowed keys are ['rules', \
'decay', 'floor', 'cap', 'thresholds'].
        """
        allowed = [f.name for f in fields(cls)]
        _check_keys(d, allowed, source, required=("rules",))
        kwargs: dict[str, Any] = {k: d[k] for k in ("floor", "cap") if k in d}
        kwargs["rules"] = tuple(
            _build(PointRule, item, _RULE_KEYS, f"{source}: rules[{i}]", ("event", "points"))
            for i, item in enumerate(_list(d["rules"], f"{source}: 'rules'"))
        )
        if "decay" in d:
            raw = d["decay"]
            kwargs["decay"] = None if raw is None else _build(
                Decay, raw, _DECAY_KEYS, f"{source}: decay", ())
        if "thresholds" in d and d["thresholds"] is not None:
            kwargs["thresholds"] = tuple(
                _build(Threshold, item, _THRESHOLD_KEYS, f"{source}: thresholds[{i}]",
                       ("name", "score", "action"))
                for i, item in enumerate(_list(d["thresholds"], f"{source}: 'thresholds'"))
            )
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{source}: {exc}") from None


def _check_keys(d: Any, allowed: Sequence[str], where: str, required: Sequence[str]) -> None:
    if not isinstance(d, Mapping):
        raise TypeError(
            f"{where} must be a mapping with keys among {list(allowed)}. Got {d!r} instead."
        )
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {unknown}; allowed keys are {list(allowed)}."
        )
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}; required are {list(required)}.")


def _list(value: Any, where: str) -> list:
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        raise TypeError(f"{where} must be a list. Got {value!r} instead.")
    return list(value)


def _build(kind: type, item: Any, keys: Sequence[str], where: str, required: Sequence[str]):
    _check_keys(item, keys, where, required)
    try:
        return kind(**item)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


DEFAULT_RULES = PointRules(
    (
        PointRule("email_open", 5),
        PointRule("link_click", 10),
        PointRule("demo_request", 25),
        PointRule("pricing_visit", 25),
    ),
    decay=Decay(30, -10),
)
"""Open +5, click +10, demo request or pricing visit +25; -10 per 30 days without engagement;
never below 0, no cap, no thresholds."""


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------
_HEADER = """\
# Point rules, written by nurturelab.scoring.points.write_point_rules.
# rules: points per event (events.name, of any type unless 'type' is set); cap: the most points
#   a rule gives one lead; window_days: only events this many days before the as-of time count.
# decay: 'points' (negative) for every full 'quiet_days' without engagement, or once if repeat
#   is false. floor / cap: bounds of the score. thresholds: 'alert', or move the lead to
#   'stage', the first time its score reaches 'score'.
"""


def read_point_rules(path: str | Path) -> PointRules:
    """Read point rules from a YAML file (the only function that does).

    The file holds the mapping :meth:`PointRules.to_dict` returns::

        rules:
        - {event: email_open, points: 5, type: null, cap: null, window_days: null}
        - {event: demo_request, points: 25}
        decay: {quiet_days: 30, points: -10, repeat: true}
        floor: 0
        cap: null
        thresholds:
        - {name: sales_ready, score: 50, action: stage, stage: qualified}

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError, TypeError
        If the file is not YAML, repeats a key, has a key not listed above (the message names
        it), or describes invalid rules; the message starts with the file name.

    Examples
    --------
    >>> from nurturelab.paths import project_root
    >>> read_point_rules(project_root() / "simulations/points/default.yaml") == DEFAULT_RULES
    True
    """
    path = Path(path)
    raw = load_yaml(path, "point rules", "at least 'rules'")
    return PointRules.from_dict(raw, source=str(path))


def write_point_rules(rules: PointRules, path: str | Path) -> None:
    """Write ``rules`` to ``path`` as YAML that :func:`read_point_rules` reads back equal."""
    if not isinstance(rules, PointRules):
        raise TypeError(
            f"write_point_rules needs a PointRules. Got {type(rules).__name__} instead."
        )
    body = yaml.safe_dump(rules.to_dict(), sort_keys=False, allow_unicode=True)
    Path(path).write_text(_HEADER + body, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def _ns(values: pd.Series, what: str) -> np.ndarray:
    """Timestamps as int64 nanoseconds since the epoch, UTC (naive ones read as UTC)."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype)):
        raise TypeError(
            f"{what} must hold timestamps (datetime64). Got dtype {dtype} instead. Validate the "
            "table first (nurturelab.schema.validate_leads / validate_events)."
        )
    return utc_ns(values)


def _check_rules(rules: Any) -> PointRules:
    if not isinstance(rules, PointRules):
        raise TypeError(
            f"'rules' must be a PointRules. Got {type(rules).__name__} instead. Use "
            "DEFAULT_RULES, PointRules(...) or read_point_rules(path)."
        )
    return rules


@dataclass(frozen=True)
class PreparedEvents:
    """Leads and the events each rule matches, as integer arrays: what
    :func:`prepare_events` gives and :func:`evaluate_at` reads."""

    ids: np.ndarray  # lead_id, object
    created: np.ndarray  # created_at, int64 ns
    matched: tuple[tuple[np.ndarray, np.ndarray], ...]  # per rule: (lead code, ts ns)
    engaged: tuple[np.ndarray, np.ndarray]  # events of rules with points >= 0


def prepare_events(leads: pd.DataFrame, events: pd.DataFrame, rules: PointRules) -> PreparedEvents:
    """The leads and the events each of ``rules`` matches, coded once so that
    :func:`evaluate_at` can score any (lead, time) pairs; :func:`scores`,
    :func:`score_history` and the monthly audit's snapshots are built on the two."""
    need_columns(leads, ("lead_id", "created_at"), "leads")
    typed = any(r.type is not None for r in rules.rules)
    need_columns(events, ("lead_id", "ts", "name") + (("type",) if typed else ()), "events")
    ids = pd.Index(leads["lead_id"])
    if not ids.is_unique:
        dup = ids[ids.duplicated()].unique()[:5].tolist()
        raise ValueError(
            f"leads 'lead_id' must be unique. Got repeated ids {dup}. Validate the leads first "
            "(nurturelab.schema.validate_leads)."
        )
    created = _ns(leads["created_at"], "leads 'created_at'")
    if (created == _NAT).any():
        raise ValueError("leads 'created_at' must not be missing. Validate the leads first.")
    code = ids.get_indexer(events["lead_id"])
    ts = _ns(events["ts"], "events 'ts'")
    keep = (code >= 0) & (ts != _NAT)
    # names and types as codes: one hash of each column, then integer comparisons per rule
    name, names = pd.factorize(events["name"], sort=False)
    names = pd.Index(np.asarray(names, dtype=object))
    if typed:
        etype, etypes = pd.factorize(events["type"], sort=False)
        etypes = pd.Index(np.asarray(etypes, dtype=object))
    matched = []
    engaged = np.zeros(len(events), dtype=bool)
    for rule in rules.rules:
        k = names.get_indexer([rule.event])[0]
        hit = keep & (name == k) if k >= 0 else np.zeros(len(events), dtype=bool)
        if rule.type is not None:
            j = etypes.get_indexer([rule.type])[0]
            hit &= (etype == j) if j >= 0 else False
        matched.append((code[hit], ts[hit]))
        if rule.points >= 0:
            engaged |= hit
    return PreparedEvents(
        ids=ids.to_numpy(dtype=object),
        created=created,
        matched=tuple(matched),
        engaged=(code[engaged], ts[engaged]),
    )


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
def _upto(
    ev_lead: np.ndarray, ev_ns: np.ndarray, q_lead: np.ndarray, q_ns: np.ndarray,
    *, inclusive: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """For many (lead, time) queries at once: the lead's events at or before the time.

    Returns the count of the lead's events at (``inclusive``) or strictly before each query
    time, and the time of the latest of them (``_NAT`` where there is none). Times are replaced
    by their rank among all event and query times, so that ``lead * width + rank`` is one
    sortable int64 key per (lead, time); each query is then two binary searches.
    """
    n = len(q_ns)
    if len(ev_ns) == 0 or n == 0:
        return np.zeros(n, dtype=np.int64), np.full(n, _NAT, dtype=np.int64)
    if (q_ns == q_ns[0]).all():
        # one time for every query (scores() at an as-of): a bincount and a running maximum
        # per lead, no sort; the same counts and times as the searches below
        t = q_ns[0]
        sel = ev_ns <= t if inclusive else ev_ns < t
        size = int(max(ev_lead.max(), q_lead.max())) + 1
        lead, ns = ev_lead[sel], ev_ns[sel]
        last = np.full(size, _NAT, dtype=np.int64)
        np.maximum.at(last, lead, ns)
        return np.bincount(lead, minlength=size).astype(np.int64)[q_lead], last[q_lead]
    # np.unique by sorting: numpy >= 2.3 hashes int64 first, many times slower at 10M rows
    times = np.sort(np.concatenate([ev_ns, q_ns]))
    times = times[np.concatenate(([True], times[1:] != times[:-1]))]
    width = np.int64(len(times))
    ev_key = ev_lead.astype(np.int64) * width + np.searchsorted(times, ev_ns)
    order = np.argsort(ev_key, kind="stable")
    ev_key, ev_sorted = ev_key[order], ev_ns[order]
    base = q_lead.astype(np.int64) * width
    hi = np.searchsorted(ev_key, base + np.searchsorted(times, q_ns),
                         side="right" if inclusive else "left")
    lo = np.searchsorted(ev_key, base, side="left")
    count = hi - lo
    last = np.where(count > 0, ev_sorted[np.maximum(hi - 1, 0)], _NAT)
    return count, last


def evaluate_at(
    rules: PointRules, prep: PreparedEvents, q_lead: np.ndarray, q_ns: np.ndarray
) -> dict[str, Any]:
    """Every column of :func:`scores` for each query: ``q_lead`` are positions in
    ``prep.ids`` (the order of the leads), ``q_ns`` the times as int64 ns UTC, one per query.
    Returns a dict of arrays, one entry per column, in the queries' order."""
    per_rule = {}
    points = np.zeros(len(q_ns))
    for rule, (ev_lead, ev_ns) in zip(rules.rules, prep.matched, strict=True):
        n, _ = _upto(ev_lead, ev_ns, q_lead, q_ns)
        if rule.window_days is not None:
            too_old, _ = _upto(ev_lead, ev_ns, q_lead, q_ns - _days_ns(rule.window_days),
                               inclusive=False)
            n = n - too_old
        got = n * rule.points
        if rule.cap is not None:
            got = np.clip(got, -rule.cap, rule.cap)
        got = got + 0.0  # no -0.0
        per_rule[rule.column] = got
        points = points + got
    _, last = _upto(*prep.engaged, q_lead, q_ns)
    engaged = last != _NAT
    quiet_ns = q_ns - np.where(engaged, last, prep.created[q_lead])
    decay = np.zeros(len(q_ns))
    if rules.decay is not None:
        stretches = quiet_ns // _days_ns(rules.decay.quiet_days)
        if not rules.decay.repeat:
            stretches = np.minimum(stretches, 1)
        decay = rules.decay.points * stretches + 0.0
    score = points + decay
    if rules.floor is not None or rules.cap is not None:
        score = np.clip(score, rules.floor, rules.cap)
    return {
        "score": score,
        "points": points,
        "decay": decay,
        # from datetime64 values, not from integers (which pandas reads one by one)
        "last_engaged_at": pd.to_datetime(np.where(engaged, last, _NAT).view("M8[ns]"),
                                          utc=True),
        "quiet_days": quiet_ns / _DAY_NS,
        **per_rule,
    }


def scores(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    rules: PointRules = DEFAULT_RULES,
    *,
    as_of: Any,
) -> pd.DataFrame:
    """Every lead's behaviour score as of a timestamp.

    Parameters
    ----------
    leads : DataFrame
        Validated leads, with columns ``lead_id`` and ``created_at``.
    events : DataFrame
        Validated events, with columns ``lead_id``, ``ts``, ``name`` (and ``type`` if a rule
        restricts it). Events of leads not in ``leads`` are ignored.
    rules : PointRules, default DEFAULT_RULES
    as_of : timestamp-like
        Naive values are read as UTC. Only events at or before it count; leads created after
        it are left out.

    Returns
    -------
    DataFrame, one row per lead created by ``as_of`` (in the order of ``leads``), indexed by
    ``lead_id``:
        ``score`` (``points + decay`` within ``floor`` and ``cap``); ``points`` (before decay
        and bounds); ``decay`` (zero or negative); ``last_engaged_at`` (latest event of a rule
        with non-negative points, NaT if none); ``quiet_days`` (days from it, or from the
        lead's creation, to ``as_of``); and one column per rule, :attr:`PointRule.column`
        (``points_email_open`` ...), with the points it gave. ``attrs["as_of"]`` holds the
        as-of time.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["a", "b"],
    ...                       "created_at": pd.to_datetime(["2026-01-01"] * 2, utc=True)})
    >>> events = pd.DataFrame({
    ...     "lead_id": ["a", "a", "a", "b"], "type": "activity",
    ...     "ts": pd.to_datetime(["2026-01-02", "2026-01-02", "2026-01-03", "2026-01-02"],
    ...                          utc=True),
    ...     "name": ["email_open", "link_click", "demo_request", "email_open"]})
    >>> s = scores(leads, events, as_of="2026-02-10")
    >>> s[["score", "points", "decay", "quiet_days"]]  # doctest: +NORMALIZE_WHITESPACE
             score  points  decay  quiet_days
    lead_id
    a         30.0    40.0  -10.0        38.0
    b          0.0     5.0  -10.0        39.0
    """
    rules = _check_rules(rules)
    at = utc_timestamp(as_of, "as_of")
    prep = prepare_events(leads, events, rules)
    t = at.as_unit("ns").value
    q_lead = np.flatnonzero(prep.created <= t)
    cols = evaluate_at(rules, prep, q_lead, np.full(len(q_lead), t, dtype=np.int64))
    out = pd.DataFrame(cols, index=pd.Index(prep.ids[q_lead], name="lead_id", dtype=object))
    out.attrs["as_of"] = at
    return out


def _grid(prep: PreparedEvents, freq: str, start: Any, end: Any) -> pd.DatetimeIndex:
    try:
        step = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"'freq' must be a pandas frequency such as 'D', '6h' or 'W'. Got {freq!r} instead "
            f"({exc})."
        ) from None
    if start is not None:
        first = utc_timestamp(start, "start")
    elif len(prep.created):
        first = pd.Timestamp(prep.created.min(), tz="UTC").normalize()
    else:
        return pd.DatetimeIndex([], tz="UTC")
    if end is not None:
        return pd.date_range(first, utc_timestamp(end, "end"), freq=step)
    stamps = [prep.created] + [ts for _, ts in prep.matched]
    latest = pd.Timestamp(max(int(s.max()) for s in stamps if len(s)), tz="UTC")
    grid = pd.date_range(first, latest + step, freq=step)
    return grid[: int(grid.searchsorted(latest, side="left")) + 1]  # up to the first >= latest


def score_history(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    rules: PointRules = DEFAULT_RULES,
    *,
    freq: str = "D",
    start: Any = None,
    end: Any = None,
) -> pd.DataFrame:
    """Every lead's score at each time of a regular grid, as :func:`scores` would give it.

    The grid is ``pd.date_range(start, end, freq=freq)``. By default it starts at midnight
    (UTC) of the day the first lead was created and ends at the first grid time at or after
    the latest creation or matched event. Each lead appears from the first grid time at or
    after its creation. All (lead, time) pairs are evaluated at once, by binary search over the
    events sorted by lead and time, with no loop over leads or times.

    Parameters
    ----------
    leads, events, rules
        As for :func:`scores`.
    freq : str, default 'D'
        A pandas frequency: ``'D'``, ``'6h'``, ``'W'`` ...
    start, end : timestamp-like, optional
        First and last grid times; naive values are read as UTC.

    Returns
    -------
    DataFrame with columns ``lead_id``, ``at`` (datetime64[ns, UTC]) and ``score``, one row per
    lead and grid time, by lead (in the order of ``leads``) then time.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["a"], "created_at": pd.to_datetime(["2026-01-01"],
    ...                                                                        utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["a"], "ts": pd.to_datetime(["2026-01-02 10:00"],
    ...                                                                 utc=True),
    ...                        "type": "activity", "name": ["demo_request"]})
    >>> h = score_history(leads, events, freq="15D", end="2026-03-01")
    >>> h["score"].tolist()
    [0.0, 25.0, 25.0, 15.0]
    """
    rules = _check_rules(rules)
    prep = prepare_events(leads, events, rules)
    grid = _grid(prep, freq, start, end)
    g_ns = grid.as_unit("ns").asi8
    first = np.searchsorted(g_ns, prep.created, side="left")
    n = len(g_ns) - first
    q_lead = np.repeat(np.arange(len(prep.ids)), n)
    q_idx = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + np.repeat(first, n)
    q_ns = g_ns[q_idx]
    cols = evaluate_at(rules, prep, q_lead, q_ns)
    return pd.DataFrame(
        {
            "lead_id": pd.Series(prep.ids[q_lead], dtype=object),
            "at": pd.to_datetime(q_ns, utc=True),
            "score": cols["score"],
        }
    )


# --------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------
def crossings(history: pd.DataFrame, rules: PointRules | Iterable[Threshold]) -> pd.DataFrame:
    """When each lead first reached each threshold.

    Parameters
    ----------
    history : DataFrame
        Columns ``lead_id``, ``at`` and ``score``, as :func:`score_history` returns.
    rules : PointRules or sequence of Threshold
        The thresholds to look for.

    Returns
    -------
    DataFrame with columns ``lead_id``, ``threshold`` (its name), ``at`` (the first time in
    ``history`` with ``score >= threshold.score``), ``score`` (the score then), ``action`` and
    ``stage``; at most one row per lead and threshold, sorted by ``at``. A lead already at or
    above a threshold at its first time in ``history`` crossed it between its creation (when
    its score was that of a new lead, below every threshold) and then. The timing is as fine as
    the history's grid. Later drops below a threshold and returns above it are not crossings.

    Examples
    --------
    >>> history = pd.DataFrame({"lead_id": ["a", "a", "a"], "score": [10.0, 60.0, 30.0],
    ...                         "at": pd.date_range("2026-01-01", periods=3, tz="UTC")})
    >>> rules = PointRules(DEFAULT_RULES.rules, thresholds=[
    ...     Threshold("warm", 20, "alert"), Threshold("sales_ready", 50, "stage", "qualified")])
    >>> crossings(history, rules)[["lead_id", "threshold", "at", "stage"]]
      lead_id    threshold                        at      stage
    0       a         warm 2026-01-02 00:00:00+00:00       None
    1       a  sales_ready 2026-01-02 00:00:00+00:00  qualified
    """
    thresholds = rules.thresholds if isinstance(rules, PointRules) else tuple(rules)
    for i, t in enumerate(thresholds):
        if not isinstance(t, Threshold):
            raise TypeError(
                f"crossings 'rules' must be a PointRules or a sequence of Threshold; item {i} "
                f"is {t!r} ({type(t).__name__})."
            )
    need_columns(history, ("lead_id", "at", "score"), "history")
    h = history[["lead_id", "at", "score"]].sort_values("at", kind="stable")
    parts = []
    for t in thresholds:
        first = h[h["score"].to_numpy() >= t.score].drop_duplicates("lead_id")
        parts.append(first.assign(threshold=t.name, action=t.action, stage=t.stage))
    columns = ["lead_id", "threshold", "at", "score", "action", "stage"]
    if not parts:
        parts = [h.iloc[:0].assign(threshold="", action="", stage=None)]
    out = pd.concat(parts, ignore_index=True)[columns]
    out["stage"] = out["stage"].astype(object)
    return out.sort_values("at", kind="stable").reset_index(drop=True)


def threshold_events(crossings: pd.DataFrame) -> pd.DataFrame:
    """The crossings that move a lead to a stage, as ``stage`` events of the data contract.

    Parameters
    ----------
    crossings : DataFrame
        As :func:`crossings` returns (columns ``lead_id``, ``at``, ``action``, ``stage``).

    Returns
    -------
    DataFrame with the columns of ``nurturelab.schema.EVENT_COLUMNS``: one event per lead and
    stage entered (the first, if two thresholds name the same stage), with ``ts`` the crossing
    time, ``type`` ``'stage'``, ``name`` the threshold's stage, and ``channel``, ``step``,
    ``rep_id``, ``arm`` missing; sorted by ``ts``. Alerts are not events and are left out.
    Append them to the events table (``pd.concat``) for the funnel to count them.

    Examples
    --------
    >>> cx = pd.DataFrame({"lead_id": ["a", "b"], "threshold": ["hot", "sales_ready"],
    ...                    "at": pd.to_datetime(["2026-01-02", "2026-01-03"], utc=True),
    ...                    "action": ["alert", "stage"], "stage": [None, "qualified"]})
    >>> threshold_events(cx)[["lead_id", "ts", "type", "name"]]
      lead_id                        ts   type       name
    0       b 2026-01-03 00:00:00+00:00  stage  qualified
    """
    need_columns(crossings, ("lead_id", "at", "action", "stage"), "crossings")
    st = crossings[crossings["action"].astype(object).eq("stage").to_numpy()]
    st = st.sort_values("at", kind="stable").drop_duplicates(["lead_id", "stage"])
    n = len(st)
    missing = np.full(n, np.nan, dtype=object)
    out = pd.DataFrame(
        {
            "lead_id": st["lead_id"].astype(object).to_numpy(),
            "ts": pd.to_datetime(st["at"], utc=True).dt.as_unit("ns").array,
            "type": pd.Categorical(["stage"] * n, dtype=TYPE_DTYPE),
            "name": st["stage"].astype(object).to_numpy(),
            "channel": pd.Categorical([np.nan] * n, dtype=CHANNEL_DTYPE),
            "step": pd.array([pd.NA] * n, dtype="Int64"),
            "rep_id": missing,
            "arm": missing.copy(),
        }
    )
    return out[list(EVENT_COLUMNS)]
