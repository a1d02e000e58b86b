"""Multichannel cadences: which touch goes out, on which channel, when, and what it is for.

A :class:`Cadence` is an ordered tuple of :class:`Touch` objects plus the responses that stop it.
Each touch has an offset ``at`` in seconds, counted from the lead's creation (``anchor="created"``)
or from the previous touch (``anchor="previous"``), an optional business-hours ``window`` it waits
for, a content tag saying what it is for, and whether automation sends it or a rep must.

Both are frozen and validated at construction: a bad value is refused with a message naming the
field, the rule, the value received and a fix. Durations are written as readable strings (``"1d"``,
``"5min"``, ``"1d 4h"``) and read back exactly; :func:`read_cadence` is the only function that
reads cadence YAML. The built-in cadences are in :data:`BUILT_IN`; :func:`get_cadence` resolves a
built-in name, a YAML path or a cadence.

Examples
--------
>>> c = Cadence("two_step", (Touch("call"), Touch("email", at="1d", window=(9, 17))))
>>> c.offsets()
array([    0., 86400.])
>>> c.to_dict()["touches"][1]["at"]
'1d'
>>> get_cadence("seed_14_day").touches[1].event_name
'voicemail'
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from nurturelab._yaml import Flow, dump_yaml, load_yaml

__all__ = [
    "Anchor",
    "BUILT_IN",
    "Cadence",
    "Channel",
    "EVENT_CHANNEL",
    "EVENT_NAME",
    "Personalisation",
    "STOP_RULES",
    "Touch",
    "format_duration",
    "get_cadence",
    "parse_duration",
    "read_cadence",
    "write_cadence",
]

Channel = Literal["call", "voicemail", "sms", "email"]
Anchor = Literal["created", "previous"]
Personalisation = Literal["token", "context"]
STOP_RULES = ("connect", "reply", "opt_out", "qualified")
#: ``events.name`` of the touch event each channel produces.
EVENT_NAME = {"call": "call_attempt", "voicemail": "voicemail", "sms": "sms", "email": "email"}
#: ``events.channel`` of the touch event each channel produces (a voicemail is a call).
EVENT_CHANNEL = {"call": "call", "voicemail": "call", "sms": "sms", "email": "email"}

_CHANNELS: tuple[str, ...] = get_args(Channel)
_ANCHORS: tuple[str, ...] = get_args(Anchor)
_PERSONALISATIONS: tuple[str, ...] = get_args(Personalisation)
_REP_ONLY = ("call", "voicemail")
_NO_DUPLICATES = ("sms", "email")
_MAX_OFFSET = 3650 * 86400.0  # ten years: beyond this, timestamps overflow and it is a unit slip
_TAG = re.compile(r"^[a-z][a-z0-9_]*$")
_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
_SECONDS = re.compile(
    r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?:s|sec|secs|second|seconds)?\s*$"
)
_DURATION_HELP = "a number of seconds or a string such as '60s', '5min', '2h', '1d', '1d 4h'"


# --------------------------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------------------------
def parse_duration(value: float | int | str | _dt.timedelta) -> float:
    """Seconds in a duration.

    Parameters
    ----------
    value : number, str or timedelta
        A number is already seconds. A string is read by :class:`pandas.Timedelta` (``"60s"``,
        ``"5min"``, ``"2h"``, ``"1d"``, ``"1d 4h"``, ``"90 minutes"``), except that a bare number,
        with or without an ``s`` suffix (``"60"``, ``"1.5s"``), is read exactly as seconds
        (pandas would read a unitless ``"60"`` as nanoseconds). A timedelta gives its seconds.

    Returns
    -------
    float
        Seconds. Negative values are returned as such; :class:`Touch` refuses them.

    Raises
    ------
    TypeError
        If ``value`` is none of the above (a bool included).
    ValueError
        If a string is not a duration.

    Examples
    --------
    >>> parse_duration("1d 4h"), parse_duration("90 minutes"), parse_duration(60)
    (100800.0, 5400.0, 60.0)
    """
    if isinstance(value, bool) or not isinstance(
        value, int | float | np.integer | np.floating | str | _dt.timedelta
    ):
        raise TypeError(
            f"A duration must be {_DURATION_HELP}. Got {value!r} "
            f"({type(value).__name__}) instead."
        )
    if isinstance(value, _dt.timedelta):
        return float(pd.Timedelta(value).total_seconds())
    if not isinstance(value, str):
        return float(value)
    plain = _SECONDS.match(value)
    if plain:
        return float(plain.group(1))
    try:
        delta = pd.Timedelta(value.strip())
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(
            f"A duration must be {_DURATION_HELP}. Got {value!r} instead ({exc})."
        ) from None
    if pd.isna(delta):
        raise ValueError(f"A duration must be {_DURATION_HELP}. Got {value!r} instead.")
    return float(delta.total_seconds())


def format_duration(seconds: float) -> str:
    """A readable string for a duration that :func:`parse_duration` reads back exactly.

    Whole seconds are written in days, hours, minutes and seconds (``"1d"``, ``"5min"``,
    ``"1d 4h"``, ``"0s"``); anything else as seconds with full precision (``"1.5s"``).

    Examples
    --------
    >>> format_duration(86400), format_duration(300), format_duration(100800), format_duration(1.5)
    ('1d', '5min', '1d 4h', '1.5s')
    """
    s = parse_duration(seconds) if not isinstance(seconds, float) else seconds
    if not math.isfinite(s):
        raise ValueError(f"A duration to write must be finite. Got {seconds!r} instead.")
    if s < 0:
        return "-" + format_duration(-s)
    if s.is_integer() and s < 1e9:  # pandas reads it back exactly well past this bound
        n = int(s)
        parts = []
        for unit, size in _UNITS:
            q, n = divmod(n, size)
            if q:
                parts.append(f"{q}{unit}")
        return " ".join(parts) or "0s"
    return f"{s!r}s"


# --------------------------------------------------------------------------------------------
# Touch
# --------------------------------------------------------------------------------------------
def _choice(owner: str, name: str, value: Any, allowed: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"{owner} '{name}' must be one of {list(allowed)}. Got {value!r} instead."
        )


@dataclass(frozen=True)
class Touch:
    """One outbound touch of a cadence.

    Parameters
    ----------
    channel : {'call', 'voicemail', 'sms', 'email'}
        A voicemail is left when the call right before it is not answered.
    at : float or str, default 0.0
        Offset in seconds, non-negative; a duration string such as ``"1d"`` or ``"5min"`` is
        converted to seconds.
    anchor : {'created', 'previous'}, default 'created'
        Whether ``at`` counts from the lead's creation or from the previous touch.
    window : (start, end) or None, default None
        Business-hours window, hours of day ``[start, end)`` in the scenario's time zone, with
        ``0 <= start < end <= 24``, weekdays only; the touch waits for it. A list becomes a
        tuple of floats.
    content : str, default 'intro'
        Content tag in snake_case: the stage or objection the touch serves.
    automated : bool, default False
        Sent by automation and needs no rep; only sms and email can be automated.
    personalisation : {'token', 'context'}, default 'token'
        Merge-field tokens only, or written for the lead's context.
    skip : float in [0, 1), default 0.0
        Share of leads for whom the team leaves this step out (a calibrated twin sets it from
        the steps a team actually skipped); 0 means every lead due gets it.

    Examples
    --------
    >>> t = Touch("email", at="1d 4h", window=[9, 17], content="next_step", automated=True)
    >>> t.at, t.window, t.needs_rep, t.event_name, t.event_channel
    (100800.0, (9.0, 17.0), False, 'email', 'email')
    """

    channel: Channel
    at: float = 0.0
    anchor: Anchor = "created"
    window: tuple[float, float] | None = None
    content: str = "intro"
    automated: bool = False
    personalisation: Personalisation = "token"
    skip: float = 0.0

    def __post_init__(self) -> None:
        _choice("Touch", "channel", self.channel, _CHANNELS)
        _choice("Touch", "anchor", self.anchor, _ANCHORS)
        _choice("Touch", "personalisation", self.personalisation, _PERSONALISATIONS)

        try:
            at = parse_duration(self.at)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"Touch 'at': {exc}") from None
        if not math.isfinite(at) or at < 0:
            raise ValueError(
                f"Touch 'at' must be a finite, non-negative offset in seconds. Got {self.at!r} "
                "instead. To place a touch before another, reorder the touches."
            )
        object.__setattr__(self, "at", at)

        object.__setattr__(self, "window", _window(self.window))

        if not isinstance(self.content, str) or not _TAG.match(self.content):
            hint = ""
            if isinstance(self.content, str):
                fixed = re.sub(r"[^a-z0-9]+", "_", self.content.strip().lower()).strip("_")
                if fixed and fixed[0].isalpha():
                    hint = f" Use {fixed!r}."
            raise ValueError(
                "Touch 'content' must be a snake_case tag (lower-case letters, digits and '_', "
                f"starting with a letter) naming the stage or objection served. Got "
                f"{self.content!r} instead.{hint}"
            )

        if not isinstance(self.automated, bool | np.bool_):
            raise TypeError(
                f"Touch 'automated' must be true or false. Got {self.automated!r} instead."
            )
        object.__setattr__(self, "automated", bool(self.automated))
        ok = (isinstance(self.skip, int | float | np.integer | np.floating)
              and not isinstance(self.skip, bool) and 0 <= self.skip < 1)
        if not ok:
            raise ValueError(f"Touch 'skip' must be a share in [0, 1). Got {self.skip!r} "
                             "instead.")
        object.__setattr__(self, "skip", float(self.skip))
        if self.automated and self.channel in _REP_ONLY:
            raise ValueError(
                f"Touch 'automated' must be false for a {self.channel!r} touch: calls and "
                f"voicemails need a rep. Got automated=True instead. Set automated=False, or "
                "use an 'sms' or 'email' touch for automation."
            )

    @property
    def needs_rep(self) -> bool:
        """Whether a rep must make this touch (it is not automated)."""
        return not self.automated

    @property
    def event_name(self) -> str:
        """``events.name`` of the touch event (``call_attempt`` for a call)."""
        return EVENT_NAME[self.channel]

    @property
    def event_channel(self) -> str:
        """``events.channel`` of the touch event (``call`` for a voicemail)."""
        return EVENT_CHANNEL[self.channel]


def _window(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    ok = (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            for v in value
        )
    )
    if not ok:
        raise TypeError(
            "Touch 'window' must be None or a pair of hours (start, end) such as (9, 17). "
            f"Got {value!r} instead."
        )
    start, end = float(value[0]), float(value[1])
    if not (0 <= start < end <= 24):  # also refuses NaN
        raise ValueError(
            "Touch 'window' must satisfy 0 <= start < end <= 24 (hours of day, [start, end)). "
            f"Got {tuple(value)!r} instead. Windows crossing midnight are not supported; use "
            "e.g. (9, 17), or None for no window."
        )
    return (start, end)


# --------------------------------------------------------------------------------------------
# Cadence
# --------------------------------------------------------------------------------------------
_TOUCH_KEYS = tuple(f.name for f in fields(Touch))
_CADENCE_KEYS = ("name", "touches", "stop_on")


@dataclass(frozen=True)
class Cadence:
    """A named, ordered sequence of touches and the lead responses that stop it.

    Parameters
    ----------
    name : str
        Non-empty, without surrounding spaces.
    touches : sequence of Touch
        At least one, in the order they go out. The first is anchored to ``'created'``; a
        touch anchored to ``'created'`` is not earlier than the touch before it; a voicemail
        comes right after a call; two sms (or two email) touches never fall at the same offset.
        Stored as a tuple.
    stop_on : iterable of str, default all of ``STOP_RULES``
        Rules among ``('connect', 'reply', 'opt_out', 'qualified')`` that end the cadence for a
        lead. Stored as a frozenset.

    Examples
    --------
    >>> c = Cadence("call_then_sms", [Touch("call"), Touch("voicemail", anchor="previous"),
    ...                               Touch("sms", at="2min", anchor="previous")])
    >>> len(c), c.offsets().tolist()
    (3, [0.0, 0.0, 120.0])
    >>> c.stretched(2).offsets().tolist()
    [0.0, 0.0, 240.0]
    """

    name: str
    touches: tuple[Touch, ...]
    stop_on: frozenset[str] = frozenset(STOP_RULES)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(
                f"Cadence 'name' must be a non-empty string. Got {self.name!r} instead."
            )
        if self.name != self.name.strip():
            raise ValueError(
                f"Cadence 'name' must not start or end with spaces. Got {self.name!r} instead; "
                f"use {self.name.strip()!r}."
            )
        me = f"Cadence {self.name!r}"
        if isinstance(self.touches, str | Mapping) or not isinstance(self.touches, Iterable):
            raise TypeError(
                f"{me} 'touches' must be a sequence of Touch. Got {self.touches!r} instead."
            )
        touches = tuple(self.touches)
        for i, t in enumerate(touches):
            if not isinstance(t, Touch):
                raise TypeError(
                    f"{me} 'touches[{i}]' must be a Touch. Got {t!r} ({type(t).__name__}) "
                    "instead. Build it with Touch(...), or read plain dicts with "
                    "Cadence.from_dict."
                )
        if not touches:
            raise ValueError(
                f"{me} 'touches' must hold at least one touch. Got an empty sequence instead."
            )
        object.__setattr__(self, "touches", touches)

        if isinstance(self.stop_on, str) or not isinstance(self.stop_on, Iterable):
            raise TypeError(
                f"{me} 'stop_on' must be a collection of rules such as ['reply', 'opt_out']. "
                f"Got {self.stop_on!r} instead."
            )
        stop_on = list(self.stop_on)
        for rule in stop_on:
            if not isinstance(rule, str) or rule not in STOP_RULES:
                raise ValueError(
                    f"{me} 'stop_on' rules must be among {list(STOP_RULES)}. Got {rule!r} "
                    "instead."
                )
        object.__setattr__(self, "stop_on", frozenset(stop_on))

        self._check_sequence(me)

    def _check_sequence(self, me: str) -> None:
        touches = self.touches
        if touches[0].anchor != "created":
            raise ValueError(
                f"{me} 'touches[0]' must be anchored to 'created' (there is no previous touch). "
                "Got anchor='previous' instead; use anchor='created'."
            )
        offsets = self.offsets()
        seen: dict[tuple[str, float], int] = {}
        for i, (t, at) in enumerate(zip(touches, offsets.tolist(), strict=True)):
            if i and t.anchor == "created" and at < offsets[i - 1]:
                raise ValueError(
                    f"{me} touches must be in time order: 'touches[{i}]' ({t.channel}) is at "
                    f"{format_duration(at)} from creation, earlier than 'touches[{i - 1}]' at "
                    f"{format_duration(offsets[i - 1])}. Reorder the touches, or anchor it to "
                    "'previous'."
                )
            if t.channel == "voicemail" and (i == 0 or touches[i - 1].channel != "call"):
                got = (
                    "it is the first touch" if i == 0 else f"it follows {touches[i - 1].channel!r}"
                )
                raise ValueError(
                    f"{me} 'touches[{i}]' is a voicemail, which must come right after a call "
                    f"touch (it is left when the call is not answered). Got: {got}. Put a call "
                    "before it, e.g. Touch('call') then Touch('voicemail', anchor='previous')."
                )
            if at > _MAX_OFFSET:
                raise ValueError(
                    f"{me} 'touches[{i}]' is at {format_duration(at)} from creation; offsets "
                    f"must be at most {format_duration(_MAX_OFFSET)}. Offsets are in seconds: "
                    "write durations such as '14d'."
                )
            if t.channel in _NO_DUPLICATES:
                j = seen.setdefault((t.channel, at), i)
                if j != i:
                    raise ValueError(
                        f"{me} 'touches[{j}]' and 'touches[{i}]' are both {t.channel!r} touches "
                        f"at {format_duration(at)} from creation, so the lead would get two at "
                        "once. Remove one or move it later."
                    )

    def offsets(self) -> np.ndarray:
        """Seconds from lead creation of each touch, with ``'previous'`` anchors resolved.

        Window deferral is not applied here (the simulation does that).

        Returns
        -------
        ndarray of float64, shape (len(self),)
            Non-decreasing.
        """
        out = np.empty(len(self.touches), dtype=np.float64)
        prev = 0.0
        for i, t in enumerate(self.touches):
            prev = prev + t.at if t.anchor == "previous" else t.at
            out[i] = prev
        return out

    def __len__(self) -> int:
        return len(self.touches)

    def to_dict(self) -> dict:
        """A plain dict for YAML: durations as readable strings, windows as lists.

        :meth:`from_dict` reads it back into an equal cadence.

        Examples
        --------
        >>> Cadence("one", [Touch("sms", at=60, automated=True)], stop_on=["reply"]).to_dict()
        ... # doctest: +NORMALIZE_WHITESPACE
        {'name': 'one', 'stop_on': ['reply'], 'touches': [{'channel': 'sms', 'at': '1min',
         'anchor': 'created', 'window': None, 'content': 'intro', 'automated': True,
         'personalisation': 'token'}]}
        """
        return {
            "name": self.name,
            "stop_on": [r for r in STOP_RULES if r in self.stop_on],
            "touches": [
                {
                    "channel": t.channel,
                    "at": format_duration(t.at),
                    "anchor": t.anchor,
                    "window": None if t.window is None else [_plain(h) for h in t.window],
                    "content": t.content,
                    "automated": t.automated,
                    "personalisation": t.personalisation,
                    **({"skip": t.skip} if t.skip else {}),
                }
                for t in self.touches
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping, *, source: str = "cadence") -> Cadence:
        """Build a cadence from a plain dict such as :meth:`to_dict` returns.

        Parameters
        ----------
        d : mapping
            Keys ``name`` and ``touches`` (a list of mappings with the :class:`Touch` fields;
            ``channel`` required) and optionally ``stop_on``.
        source : str, default 'cadence'
            Where ``d`` came from (a file name); every error message starts with it.

        Raises
        ------
        ValueError, TypeError
            Unknown or missing keys (naming the key and the allowed keys), or any invalid value.
        """
        if not isinstance(d, Mapping):
            raise TypeError(
                f"{source}: a cadence must be a mapping with keys {list(_CADENCE_KEYS)}. "
                f"Got {type(d).__name__} instead."
            )
        unknown = [k for k in d if k not in _CADENCE_KEYS]
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {unknown} in the cadence; allowed keys are "
                f"{list(_CADENCE_KEYS)}."
            )
        missing = [k for k in ("name", "touches") if k not in d]
        if missing:
            raise ValueError(f"{source}: missing key(s) {missing}; a cadence needs 'name' and "
                             "'touches' (and may have 'stop_on').")
        raw = d["touches"]
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise TypeError(
                f"{source}: 'touches' must be a list of touches. Got {raw!r} instead."
            )
        touches = []
        for i, item in enumerate(raw):
            where = f"{source}: touches[{i}]"
            if not isinstance(item, Mapping):
                raise TypeError(
                    f"{where} must be a mapping with keys among {list(_TOUCH_KEYS)}. "
                    f"Got {item!r} instead."
                )
            unknown = [k for k in item if k not in _TOUCH_KEYS]
            if unknown:
                raise ValueError(
                    f"{where}: unknown key(s) {unknown}; allowed keys are {list(_TOUCH_KEYS)}."
                )
            if "channel" not in item:
                raise ValueError(f"{where}: missing key 'channel' (one of {list(_CHANNELS)}).")
            try:
                touches.append(Touch(**item))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{where}: {exc}") from None
        kwargs = {"name": d["name"], "touches": tuple(touches)}
        if "stop_on" in d:
            kwargs["stop_on"] = d["stop_on"]
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{source}: {exc}") from None

    def stretched(self, factor: float, name: str | None = None) -> Cadence:
        """The same cadence with every offset multiplied by ``factor`` (spacing experiments).

        Windows, content and order are kept. Should rounding put a ``'created'``-anchored touch
        a hair before the previous one, it is moved onto it.

        Parameters
        ----------
        factor : float
            Positive and finite; 2 doubles every gap.
        name : str, optional
            Name of the result; ``f"{self.name}_x{factor:g}"`` by default.
        """
        if (
            isinstance(factor, bool)
            or not isinstance(factor, int | float | np.integer | np.floating)
            or not math.isfinite(factor)
            or factor <= 0
        ):
            raise ValueError(
                f"Cadence.stretched 'factor' must be a positive finite number such as 2 or 0.5. "
                f"Got {factor!r} instead."
            )
        factor = float(factor)
        touches = []
        prev = 0.0
        for t in self.touches:
            at = t.at * factor
            if t.anchor == "created":
                at = max(at, prev)
                prev = at
            else:
                prev = prev + at
            touches.append(replace(t, at=at))
        return Cadence(
            name=f"{self.name}_x{factor:g}" if name is None else name,
            touches=tuple(touches),
            stop_on=self.stop_on,
        )

    def delayed(self, seconds: float, name: str | None = None) -> Cadence:
        """The same cadence started ``seconds`` later: every touch anchored to ``'created'``
        moves by ``seconds`` (the speed-to-lead studies vary the delay to the first touch).

        >>> get_cadence("seed_14_day").delayed(300).offsets()[:4].tolist()
        [300.0, 300.0, 420.0, 86700.0]
        """
        at = parse_duration(seconds)
        if not math.isfinite(at) or at < 0:
            raise ValueError(f"Cadence.delayed 'seconds' must be a finite delay >= 0. Got "
                             f"{seconds!r} instead.")
        touches = tuple(replace(t, at=t.at + at) if t.anchor == "created" else t
                        for t in self.touches)
        return Cadence(name=f"{self.name}_after_{format_duration(at)}" if name is None else name,
                       touches=touches, stop_on=self.stop_on)


def _plain(hour: float) -> float | int:
    return int(hour) if float(hour).is_integer() else float(hour)


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------
def read_cadence(path: str | Path) -> Cadence:
    """Read a cadence from a YAML file (the only function that does).

    The file holds the mapping :meth:`Cadence.to_dict` returns::

        name: seed_14_day
        stop_on: [connect, reply, opt_out, qualified]
        touches:
        - channel: call
          at: 0s
          anchor: created
          window: null
          content: first_contact
          automated: false
          personalisation: token

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError, TypeError
        If the file is not YAML, repeats a key, or does not describe a valid cadence; the
        message starts with the file name.
    """
    path = Path(path)
    raw = load_yaml(path, "cadence", "'name' and 'touches'")
    return Cadence.from_dict(raw, source=str(path))


def write_cadence(cadence: Cadence, path: str | Path) -> None:
    """Write ``cadence`` to ``path`` as YAML that :func:`read_cadence` reads back equal."""
    if not isinstance(cadence, Cadence):
        raise TypeError(f"write_cadence needs a Cadence. Got {type(cadence).__name__} instead.")
    d = cadence.to_dict()
    d["stop_on"] = Flow(d["stop_on"])
    for t in d["touches"]:
        if t["window"] is not None:
            t["window"] = Flow(t["window"])
    header = (
        f"# Cadence {cadence.name!r}, written by nurturelab.cadence.write_cadence.\n"
        "# at: offset from lead creation (anchor: created) or from the previous touch\n"
        "# (anchor: previous); window: [start, end) hours of day, weekdays, the touch waits.\n"
    )
    body = dump_yaml(d)
    Path(path).write_text(header + body, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Built-in cadences
# --------------------------------------------------------------------------------------------
_OFFICE = (9.0, 17.0)

# Days 2-14 of the seed cadence, shared by `instant`.
_SEED_FOLLOW_UPS = (
    Touch("email", at="1d", window=_OFFICE, content="next_step", personalisation="context"),
    Touch("call", at="3d", window=_OFFICE, content="follow_up"),
    Touch("sms", at="6d", window=_OFFICE, content="direct_question"),
    Touch("email", at="13d", window=_OFFICE, content="low_friction_offer"),
)

BUILT_IN: dict[str, Cadence] = {
    c.name: c
    for c in (
        Cadence(
            "seed_14_day",
            (
                Touch("call", content="first_contact"),
                Touch("voicemail", anchor="previous", content="callback_request"),
                Touch("sms", at="2min", anchor="previous", content="missed_call"),
                *_SEED_FOLLOW_UPS,
            ),
        ),
        Cadence(
            "front_loaded",
            (
                Touch("call", content="first_contact"),
                Touch("voicemail", anchor="previous", content="callback_request"),
                Touch("sms", at="2min", anchor="previous", content="missed_call"),
                Touch("email", at="30min", content="next_step", personalisation="context"),
                Touch("call", at="4h", window=_OFFICE, content="follow_up"),
                Touch("call", at="1d", window=_OFFICE, content="follow_up"),
                Touch("sms", at="2min", anchor="previous", window=_OFFICE,
                      content="direct_question"),
                Touch("email", at="1d 4h", window=_OFFICE, content="low_friction_offer"),
            ),
        ),
        Cadence(
            "email_only",
            (
                Touch("email", content="welcome", automated=True),
                Touch("email", at="1d", window=_OFFICE, content="next_step", automated=True),
                Touch("email", at="3d", window=_OFFICE, content="social_proof", automated=True),
                Touch("email", at="6d", window=_OFFICE, content="direct_question",
                      automated=True),
                Touch("email", at="13d", window=_OFFICE, content="low_friction_offer",
                      automated=True),
            ),
        ),
        Cadence(
            "instant",
            (
                Touch("sms", at="60s", content="instant_reply", automated=True),
                Touch("call", at="5min", content="first_contact"),
                Touch("voicemail", anchor="previous", content="callback_request"),
                *_SEED_FOLLOW_UPS,
            ),
        ),
    )
}


def get_cadence(name_or_path: str | Path | Cadence) -> Cadence:
    """A cadence from a built-in name, a YAML path, or a cadence (returned as is).

    A string ending in ``.yaml``/``.yml`` or containing a path separator is a path; any other
    string is a built-in name.

    Raises
    ------
    ValueError
        For an unknown built-in name (the message lists the built-ins).

    Examples
    --------
    >>> get_cadence("email_only").name
    'email_only'
    """
    if isinstance(name_or_path, Cadence):
        return name_or_path
    if isinstance(name_or_path, Path):
        return read_cadence(name_or_path)
    if not isinstance(name_or_path, str):
        raise TypeError(
            "get_cadence needs a built-in name, a YAML path or a Cadence. Got "
            f"{name_or_path!r} ({type(name_or_path).__name__}) instead."
        )
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path or "\\" in name_or_path:
        return read_cadence(name_or_path)
    try:
        return BUILT_IN[name_or_path]
    except KeyError:
        raise ValueError(
            f"Unknown cadence {name_or_path!r}: the built-in cadences are {sorted(BUILT_IN)}. "
            "Give one of them, or a path to a cadence YAML file."
        ) from None
