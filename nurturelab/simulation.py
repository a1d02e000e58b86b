"""The simulated world: SimPy moves leads through a cadence, with reps as a queued resource.

Leads arrive per source (a Poisson process with hour-of-day and weekday intensity, or a fixed
rate), each with intent, fit and an unobserved interest. Every lead is a SimPy process that
walks its cadence: it waits until a touch is due (and inside the touch's business-hours window),
queues for a rep when the touch needs one (reps are a :class:`simpy.PriorityResource` with shifts
in a time zone and channel handling times), and answers, opts out or stays silent as the
:class:`~nurturelab.response.ResponseModel` says. A stop rule (connect, reply, opt-out,
qualified) ends its cadence. Between touches the lead browses (pricing visits, demo requests) at
a rate driven by its interest; contact leads on to qualification, proposal and won or lost.

The world writes ``leads`` and ``events`` in the data contract, so the funnel, segments and
everything after them run on simulated leads unchanged. Every cadence touch carries the
``content`` tag and ``personalisation`` level of the :class:`~nurturelab.cadence.Touch` that
produced it (other events leave them empty); the personalisation level shifts the touch's
answer log-odds (``ResponseModel.personalisation``) through the same uniform draw, so it adds no
random numbers and keeps common random numbers between arms.

Randomness: one ``SeedSequence`` per run, spawned into one stream per random element (arrivals,
traits, answers, opt-outs, handling times, behaviour, stages). Draws are indexed by lead and
cadence step, so two scenarios run with the same seed see the same leads with the same traits
and the same random numbers at every step (common random numbers): a difference between arms
comes from the arms. Same seed, same tables, bit for bit.
"""

from __future__ import annotations

import gc
import heapq
import math
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import simpy

from nurturelab import plots
from nurturelab.cadence import EVENT_CHANNEL, EVENT_NAME, Cadence, get_cadence
from nurturelab.progression import DEFAULT_PROGRESSION, Progression
from nurturelab.response import DEFAULT_RESPONSE, ResponseModel, expit, logit
from nurturelab.result import Result
from nurturelab.schema import CHANNEL_DTYPE, INTENT_DTYPE, PERSONALISATION_DTYPE, TYPE_DTYPE
from nurturelab.segments import segments

__all__ = [
    "Arrivals",
    "Simulation",
    "SharedWorld",
    "SimulationResult",
    "Team",
    "World",
    "simulate",
]

DAY = 86400.0
HOUR = 3600.0
WEEK = 7 * DAY
# one stream per random element; a new element goes at the end, so the others keep theirs
STREAMS = ("arrivals", "traits", "answer", "opt_out", "handling", "behaviour", "email",
           "stages", "skip", "arrival_days", "assignment")
MAX_STEPS = 32  # random columns drawn per lead; a cadence may not be longer
PRICING_VISITS = 16  # pricing visits a lead can make (rarely reached at the rates fitted)
_INTENTS = ("low", "medium", "high", "unknown")  # unknown: a replayed lead without intent
_INDUSTRIES = ("saas", "retail", "manufacturing", "healthcare", "finance", "education")
_PERSONAS = ("founder", "head_of_sales", "marketing_lead", "sales_ops", "it_manager")
DEFAULT_HOURLY = (0.2,) * 7 + (0.8, 1.5, 2, 2, 1.8, 1.5, 1.8, 2, 1.8, 1.5, 1.0) + (0.5,) * 6
DEFAULT_WEEKDAY = (1.0, 1.0, 1.0, 1.0, 1.0, 0.35, 0.3)
DESIGNS = ("naive", "split", "switchback")  # how the arms of a SharedWorld share leads and reps
POLICY = "policy"  # a SharedWorld that gives each lead its segment's arm (not a test design)
SEGMENT_COLUMNS = ("intent", "fit_band", "source")  # what a policy's segments are made of


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
def _whole(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _positive(owner: str, name: str, value: float, *, allow_zero: bool = False) -> None:
    number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool)
    ok = number and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner} '{name}' must be a finite number {rule}. Got {value!r} instead.")


@dataclass(frozen=True)
class Arrivals:
    """Lead arrivals per source.

    Parameters
    ----------
    per_day : mapping of source -> mean leads per day
    process : ``"poisson"`` (hour-of-day x weekday intensity) or ``"fixed"`` (evenly spaced)
    hourly, weekday : relative intensity by hour of day (24) and weekday (7, Monday first), in
        the team's time zone; normalised so that ``per_day`` is the mean over a week
    intent : mapping of source -> P(low, medium, high); a source not listed gets ``default_intent``
    fit_beta : the beta distribution of fit
    trend : growth of the arrival rate, log per week (0.02: about 2% more leads each week);
        ``per_day`` is the rate at the start
    daily_variation : variance of a day-to-day multiplier of the rate (gamma, mean 1), for
        counts more dispersed than Poisson; 0 is a Poisson process
    """

    per_day: Mapping[str, float] = field(
        default_factory=lambda: {"paid_search": 30, "web_form": 20, "organic_search": 12,
                                 "referral": 10, "partner": 8, "event": 5})
    process: Literal["poisson", "fixed"] = "poisson"
    hourly: tuple[float, ...] = DEFAULT_HOURLY
    weekday: tuple[float, ...] = DEFAULT_WEEKDAY
    intent: Mapping[str, tuple[float, float, float]] = field(
        default_factory=lambda: {"referral": (0.2, 0.4, 0.4), "partner": (0.25, 0.45, 0.3)})
    default_intent: tuple[float, float, float] = (0.45, 0.37, 0.18)
    fit_beta: tuple[float, float] = (2.2, 2.0)
    trend: float = 0.0
    daily_variation: float = 0.0

    def __post_init__(self) -> None:
        if not self.per_day:
            raise ValueError("Arrivals 'per_day' needs at least one source with a rate")
        for src, rate in self.per_day.items():
            _positive("Arrivals", f"per_day[{src}]", rate)
        if self.process not in ("poisson", "fixed"):
            raise ValueError(f"Arrivals 'process' must be one of ['poisson', 'fixed']. "
                             f"Got {self.process!r} instead.")
        if len(self.hourly) != 24 or len(self.weekday) != 7:
            raise ValueError("Arrivals 'hourly' needs 24 values and 'weekday' 7 (Monday first)")
        if min(self.hourly) < 0 or min(self.weekday) < 0 or not sum(self.hourly) or not sum(
                self.weekday):
            raise ValueError("Arrivals 'hourly' and 'weekday' must be >= 0 and not all zero")
        for src, p in {**self.intent, "default_intent": self.default_intent}.items():
            if len(p) != 3 or min(p) < 0 or abs(sum(p) - 1) > 1e-6:
                raise ValueError(f"Arrivals intent mix for {src!r} must be three probabilities "
                                 f"(low, medium, high) summing to 1. Got {p!r} instead.")
        if not (isinstance(self.trend, int | float) and math.isfinite(self.trend)
                and abs(self.trend) <= 1):
            raise ValueError(f"Arrivals 'trend' must be a log growth per week in [-1, 1]. Got "
                             f"{self.trend!r} instead.")
        _positive("Arrivals", "daily_variation", self.daily_variation, allow_zero=True)
        if len(self.fit_beta) != 2 or min(self.fit_beta) <= 0:
            raise ValueError(f"Arrivals 'fit_beta' must be two shape parameters > 0. Got "
                             f"{self.fit_beta!r} instead.")
        object.__setattr__(self, "per_day", dict(self.per_day))
        object.__setattr__(self, "intent", {k: tuple(v) for k, v in self.intent.items()})
        object.__setattr__(self, "hourly", tuple(float(x) for x in self.hourly))
        object.__setattr__(self, "weekday", tuple(float(x) for x in self.weekday))


@dataclass(frozen=True)
class Team:
    """The reps who make the calls and personal messages.

    Parameters
    ----------
    reps : number of reps working at once during a shift
    shift : (start, end) hours of day in ``timezone``, or None for round the clock
    workdays : weekdays worked (0 = Monday)
    handling_minutes : mean minutes of rep time per touch, by channel
    handling : ``"exponential"`` or ``"lognormal"`` (with ``handling_sigma``)
    queue : order of the follow-up queue: ``"fifo"``, ``"priority"`` (earlier cadence steps
        first, i.e. new leads before follow-ups) or ``"score"`` (higher intent and fit first)
    patience_hours : a rep touch still waiting after this long is skipped
    """

    reps: int = 4
    shift: tuple[float, float] | None = (9.0, 17.0)
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    timezone: str = "UTC"
    handling_minutes: Mapping[str, float] = field(
        default_factory=lambda: {"call": 4.0, "voicemail": 1.0, "sms": 1.0, "email": 5.0})
    handling: Literal["exponential", "lognormal"] = "lognormal"
    handling_sigma: float = 0.6
    queue: Literal["fifo", "priority", "score"] = "priority"
    patience_hours: float = 48.0

    def __post_init__(self) -> None:
        if not _whole(self.reps) or self.reps < 1:
            raise ValueError(f"Team 'reps' must be a whole number >= 1. Got {self.reps!r} "
                             "instead.")
        object.__setattr__(self, "reps", int(self.reps))
        if self.shift is not None:
            a, b = self.shift
            if not 0 <= a < b <= 24:
                raise ValueError(f"Team 'shift' must be (start, end) hours with 0 <= start < "
                                 f"end <= 24, or null. Got {self.shift!r} instead.")
            object.__setattr__(self, "shift", (float(a), float(b)))
        if not self.workdays or any(d not in range(7) for d in self.workdays):
            raise ValueError(f"Team 'workdays' must be weekdays 0-6 (Monday = 0). Got "
                             f"{self.workdays!r} instead.")
        object.__setattr__(self, "workdays", tuple(sorted(set(self.workdays))))
        try:
            ZoneInfo(self.timezone)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"Team 'timezone' must be an IANA zone such as 'UTC' or "
                             f"'America/New_York'. Got {self.timezone!r} instead.") from exc
        for ch in ("call", "voicemail", "sms", "email"):
            if ch not in self.handling_minutes:
                raise ValueError(f"Team 'handling_minutes' lacks {ch!r}")
            _positive("Team", f"handling_minutes[{ch}]", self.handling_minutes[ch],
                      allow_zero=True)
        object.__setattr__(self, "handling_minutes", dict(self.handling_minutes))
        for name, allowed in (("handling", ("exponential", "lognormal")),
                              ("queue", ("fifo", "priority", "score"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"Team '{name}' must be one of {list(allowed)}. Got "
                                 f"{getattr(self, name)!r} instead.")
        _positive("Team", "handling_sigma", self.handling_sigma, allow_zero=True)
        _positive("Team", "patience_hours", self.patience_hours)


@dataclass(frozen=True)
class World:
    """Everything one simulation run needs: cadence, team, arrivals, how leads answer
    (``response``) and move on after contact (``progression``), and the run's size."""

    cadence: Cadence = field(default_factory=lambda: get_cadence("seed_14_day"))
    team: Team = field(default_factory=Team)
    arrivals: Arrivals = field(default_factory=Arrivals)
    response: ResponseModel = DEFAULT_RESPONSE
    progression: Progression = DEFAULT_PROGRESSION
    leads: int = 1000
    start: str = "2026-01-05"
    tail_days: float = 30.0
    ae_response_hours: float = 6.0
    warmup_days: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.cadence, Cadence):
            object.__setattr__(self, "cadence", get_cadence(self.cadence))
        if len(self.cadence.touches) > MAX_STEPS:
            raise ValueError(f"World 'cadence' has {len(self.cadence.touches)} touches; at most "
                             f"{MAX_STEPS} are supported")
        if not _whole(self.leads) or self.leads < 1:
            raise ValueError(f"World 'leads' must be a whole number >= 1. Got {self.leads!r} "
                             "instead.")
        object.__setattr__(self, "leads", int(self.leads))
        try:
            pd.Timestamp(self.start)
        except ValueError as exc:
            raise ValueError(f"World 'start' must be a date such as '2026-01-05'. Got "
                             f"{self.start!r} instead.") from exc
        _positive("World", "tail_days", self.tail_days, allow_zero=True)
        _positive("World", "warmup_days", self.warmup_days, allow_zero=True)
        _positive("World", "ae_response_hours", self.ae_response_hours)



@dataclass(frozen=True)
class SharedWorld:
    """A live test of cadences: one run of a world in which every lead follows its arm's
    cadence, and the arms share (or split) one team.

    Parameters
    ----------
    world : World
        Everything but the cadence: team, arrivals, response, progression, size. Its own
        cadence is not used.
    cadences : mapping of arm name -> Cadence (or a built-in name or YAML path)
        Two arms or more, in the order given.
    design : ``"naive"``, ``"split"`` or ``"switchback"``
        ``"naive"``: leads go to the arms in permuted blocks of one lead per arm, in order of
        arrival, and every arm queues for the one team.
        ``"split"``: the team is split into one pool of reps per arm and leads are assigned in
        proportion to each pool's reps (permuted blocks), so every rep carries the load per
        rep of a full rollout. The reps are divided as evenly as possible; when they do not
        divide, the first arms get one rep more and, with it, proportionally more leads (5 reps
        and 2 arms: 3 and 2 reps, 60% and 40% of the leads). Needs at least one rep per arm.
        ``"switchback"``: every lead created on a local day (the team's time zone) gets that
        day's arm; days go to the arms in permuted blocks of one day per arm; one team.
        ``"policy"``: not a test but a policy run as a whole: every lead gets the arm that
        ``policy`` names for its segment (:func:`nurturelab.segments.segments` over
        ``segment_by``, from the traits drawn before the run: no look-ahead); one team. One arm
        is enough; a lead whose segment ``policy`` does not name (a warm-up lead of a segment
        never seen, say) follows the first arm.
    segment_by : tuple of str
        With ``"policy"``: the segment columns, among ``intent``, ``fit_band`` and ``source``.
    policy : mapping of segment -> arm name
        With ``"policy"``: a segment is the tuple of its values in ``segment_by``'s order, as
        strings (``("high", "low")`` for high intent and low fit).

    Assignment draws on the run's own ``assignment`` stream, spawned from the seed like every
    other random element, so it changes none of the others: a lead meets the same traits and
    the same random numbers at every cadence step in the shared run and in each arm's rollout
    (the plain :class:`World` with that arm's cadence), and the ``arm`` columns of ``leads``
    and ``events`` say which arm it was in.

    Examples
    --------
    >>> sw = SharedWorld(World(leads=200, team=Team(reps=5)),
    ...                  {"seed": "seed_14_day", "front": "front_loaded"}, design="split")
    >>> sw.pool_sizes(), sw.shares()
    ((3, 2), (0.6, 0.4))
    >>> res = simulate(sw, seed=1)
    >>> sorted(res.events["arm"].unique()), res.leads["arm"].value_counts().to_dict()
    (['front', 'seed'], {'seed': 120, 'front': 80})
    """

    world: World
    cadences: Mapping[str, Cadence]
    design: Literal["naive", "split", "switchback", "policy"] = "naive"
    segment_by: tuple[str, ...] = ()
    policy: Mapping[tuple[str, ...], str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.world, World):
            raise TypeError(f"SharedWorld 'world' must be a World. Got "
                            f"{type(self.world).__name__} instead.")
        fewest = 1 if self.design == POLICY else 2
        if not isinstance(self.cadences, Mapping) or len(self.cadences) < fewest:
            raise ValueError(f"SharedWorld 'cadences' must map two arm names or more to "
                             f"cadences. Got {self.cadences!r} instead.")
        cadences = {}
        for name, cad in self.cadences.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"SharedWorld 'cadences' needs arm names that are non-empty "
                                 f"strings. Got {name!r} instead.")
            cad = get_cadence(cad)
            if len(cad.touches) > MAX_STEPS:
                raise ValueError(f"SharedWorld cadence of arm {name!r} has {len(cad.touches)} "
                                 f"touches; at most {MAX_STEPS} are supported")
            cadences[name] = cad
        object.__setattr__(self, "cadences", cadences)
        if self.design not in (*DESIGNS, POLICY):
            raise ValueError(f"SharedWorld 'design' must be one of {list(DESIGNS)}. Got "
                             f"{self.design!r} instead (or {POLICY!r}, which runs a policy: "
                             "give 'segment_by' and 'policy').")
        if self.design == POLICY:
            self._check_policy(cadences)
        if self.design == "split" and self.world.team.reps < len(cadences):
            raise ValueError(f"SharedWorld design 'split' needs at least one rep per arm: "
                             f"{len(cadences)} arms, {self.world.team.reps} reps. Use more reps "
                             "or the 'naive' or 'switchback' design.")

    def _check_policy(self, cadences: Mapping[str, Cadence]) -> None:
        by = (self.segment_by,) if isinstance(self.segment_by, str) else tuple(self.segment_by)
        bad = [c for c in by if c not in SEGMENT_COLUMNS]
        if not by or bad or len(set(by)) != len(by):
            raise ValueError(f"SharedWorld 'segment_by' must name distinct columns among "
                             f"{list(SEGMENT_COLUMNS)}. Got {self.segment_by!r} instead.")
        object.__setattr__(self, "segment_by", by)
        if not isinstance(self.policy, Mapping) or not self.policy:
            raise ValueError(f"SharedWorld design 'policy' needs 'policy', a mapping of "
                             f"segments to arms. Got {self.policy!r} instead.")
        policy = {}
        for key, arm in self.policy.items():
            key = (key,) if isinstance(key, str) else tuple(key)
            if len(key) != len(by):
                raise ValueError(f"SharedWorld 'policy' segment {key!r} must have one value per "
                                 f"column of 'segment_by' {list(by)}")
            if arm not in cadences:
                raise ValueError(f"SharedWorld 'policy' gives segment {key!r} the arm {arm!r}, "
                                 f"which is not among the cadences {list(cadences)}")
            policy[tuple(str(v) for v in key)] = arm
        object.__setattr__(self, "policy", policy)

    @property
    def arms(self) -> tuple[str, ...]:
        """The arm names, in order."""
        return tuple(self.cadences)

    def pool_sizes(self) -> tuple[int, ...]:
        """Reps per pool: one per arm under ``"split"`` (the first arms get the remainder),
        the whole team otherwise."""
        reps, k = self.world.team.reps, len(self.cadences)
        if self.design != "split":
            return (reps,)
        return tuple(reps // k + (1 if a < reps % k else 0) for a in range(k))

    def shares(self) -> tuple[float, ...]:
        """The expected share of the leads in each arm."""
        k = len(self.cadences)
        if self.design != "split":
            return (1.0 / k,) * k
        return tuple(n / self.world.team.reps for n in self.pool_sizes())

    def _draw_world(self) -> World:
        """The world the run draws its random numbers for: the longest cadence's, so that every
        arm's steps have their columns (drawn column by column, the same as in each rollout)."""
        longest = max(self.cadences.values(), key=lambda c: len(c.touches))
        return replace(self.world, cadence=longest)


def _policy_arms(sh: SharedWorld, r: dict) -> np.ndarray:
    """Arm indices of every simulated lead under ``sh.policy`` (the first arm for a segment it
    does not name), from the leads' drawn traits as the leads table will show them."""
    intent = np.array(_INTENTS, dtype=object)[r["intent"]]
    frame = pd.DataFrame({
        "lead_id": np.arange(len(intent)),
        "source": np.array(r["sources"], dtype=object)[r["src"]],
        "intent": np.where(intent == "unknown", None, intent),
        "fit": np.asarray(r["fit"], dtype=float),
    })
    seg = segments(frame)
    index = {a: k for k, a in enumerate(sh.arms)}
    keys = zip(*(seg[c].astype(str).to_numpy() for c in sh.segment_by), strict=True)
    return np.array([index[sh.policy.get(key, sh.arms[0])] for key in keys], dtype=np.int64)


def _blocks(rng: np.random.Generator, counts, n: int) -> np.ndarray:
    """Arm indices for ``n`` units in permuted blocks holding ``counts[a]`` units of arm a."""
    base = np.repeat(np.arange(len(counts)), counts)
    m = -(-n // len(base))
    return rng.permuted(np.tile(base, (m, 1)), axis=1).ravel()[:n]


# --------------------------------------------------------------------------------------------
# Reps: SimPy's PriorityResource with a heap for its queue
# --------------------------------------------------------------------------------------------
class _HeapQueue:
    """The request queue of :class:`RepPool`: a binary heap ordered like SimPy's SortedQueue
    (by request key, then arrival), so O(log n) per request instead of a sort of the whole
    queue. SimPy's Resource only ever reads and pops the head of its put queue; a cancelled
    request (a lead that gave up waiting) is dropped lazily when it reaches the head."""

    __slots__ = ("_heap", "_n", "_live", "_dead")

    def __init__(self) -> None:
        self._heap: list = []
        self._n = 0
        self._live = 0
        self._dead: set[int] = set()

    def append(self, event) -> None:
        self._n += 1
        self._live += 1
        heapq.heappush(self._heap, (event.key, self._n, event))

    def _prune(self) -> None:
        heap, dead = self._heap, self._dead
        while heap and id(heap[0][2]) in dead:
            dead.discard(id(heapq.heappop(heap)[2]))

    def __len__(self) -> int:
        return self._live

    def __getitem__(self, idx: int):
        if idx != 0:
            raise IndexError("only the head of the queue can be read")
        self._prune()
        return self._heap[0][2]

    def pop(self, idx: int = 0):
        if idx != 0:
            raise IndexError("only the head of the queue can be popped")
        self._prune()
        self._live -= 1
        return heapq.heappop(self._heap)[2]

    def remove(self, event) -> None:
        # the heap keeps a reference to the event until it is popped, so its id stays unique
        self._dead.add(id(event))
        self._live -= 1


class RepPool(simpy.PriorityResource):
    """A :class:`simpy.PriorityResource` whose queue is a heap (same order, faster).

    ``request`` and ``release`` take a short cut when nothing waits: a request with a free rep
    and an empty queue is granted at once, and a release (always granted) frees its rep, each
    scheduling its one event exactly when SimPy's put and get queues would have; otherwise
    SimPy's own events run.

    Examples
    --------
    >>> env = simpy.Environment()
    >>> pool = RepPool(env, capacity=1)
    >>> first, second = pool.request(priority=1), pool.request(priority=0)
    >>> first.triggered, second.triggered, len(pool.queue)
    (True, False, 1)
    >>> _ = pool.release(first)  # the queue moves on when the release is processed
    >>> env.run()
    >>> second.triggered, pool.count
    (True, 1)
    """

    PutQueue = _HeapQueue

    def request(self, priority: int = 0, preempt: bool = True):
        if self.put_queue._live or len(self.users) >= self.capacity:
            return _PriorityRequest(self, priority, preempt)
        # Put.__init__ then _trigger_put, whose _do_put grants the head, the request itself
        env = self._env
        req = _new(_PriorityRequest)
        req.env = env
        req.callbacks = [self._trigger_get]
        req.priority, req.preempt, req.time = priority, preempt, env._now
        req.key = (priority, req.time, not preempt)
        req.resource, req.proc = self, env._active_proc
        self.users.append(req)
        req.usage_since = env._now
        req._ok, req._value = True, None
        env.schedule(req)
        return req

    def release(self, request):
        if self.get_queue:
            return _Release(self, request)
        # Get.__init__ then _trigger_get, whose _do_get always grants a release
        env = self._env
        rel = _new(_Release)
        rel.request = request
        rel.env = env
        rel.callbacks = [self._trigger_put]
        rel.resource, rel.proc = self, env._active_proc
        try:
            self.users.remove(request)
        except ValueError:
            pass
        rel._ok, rel._value = True, None
        env.schedule(rel)
        return rel


_PriorityRequest = simpy.resources.resource.PriorityRequest
_Release = simpy.resources.resource.Release
_new = object.__new__
_PENDING = simpy.events.PENDING
_Timeout = simpy.events.Timeout
_NORMAL = simpy.events.NORMAL


def _open_gate(event) -> None:
    """Callback of a rep request and its patience timeout: the first of them to be processed
    opens the lead's gate (what ``req | timeout``, a Condition, does, without building one)."""
    gate = event._gate
    if gate._value is _PENDING:
        gate._ok, gate._value = True, None
        gate.env.schedule(gate)


class _Patience:
    """The patience timeouts of queued rep requests, put on SimPy's schedule only when they can
    still matter.

    A lead that queues waits for its rep or its patience, whichever comes first: a timeout that
    opens the lead's gate (:func:`_open_gate`). Most requests are granted long before their
    patience runs out, and then the timeout does nothing when it comes. So :meth:`add` takes the
    timeout's place in SimPy's order (its event number, as ``env.timeout`` would) but puts it on
    the schedule only if it falls due before the monitor's next tick; every hour the monitor
    (:meth:`tick`) schedules, with their own numbers, those falling due before its next tick
    whose leads still wait, and forgets the others. The timeouts that open a gate are processed
    exactly where the plain timeouts would be (same time, priority and number), and every other
    event keeps its number: the run is the same, with fewer events."""

    __slots__ = ("env", "until", "waiting")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.until = math.inf  # until the monitor's first tick, every timeout goes on at once
        self.waiting: list[tuple] = []

    def add(self, gate, wait: float) -> None:
        """``env.timeout(wait)`` that opens ``gate`` (as its callback would)."""
        env = self.env
        at = env._now + wait  # Environment.schedule's time
        eid = next(env._eid)  # and number
        if at <= self.until:
            self._schedule(at, eid, gate, wait)
        else:
            self.waiting.append((at, eid, gate, wait))

    def _schedule(self, at: float, eid: int, gate, wait: float) -> None:
        # Timeout.__init__ and Environment.schedule with the number taken by add
        timeout = _new(_Timeout)
        timeout.env = self.env
        timeout.callbacks = [_open_gate]
        timeout._value, timeout._delay, timeout._ok = None, wait, True
        timeout._gate = gate
        heapq.heappush(self.env._queue, (at, _NORMAL, eid, timeout))

    def tick(self) -> None:
        """The monitor's hourly tick (at ``now``; the next one at ``now + HOUR``)."""
        self.until = until = self.env._now + HOUR
        keep = []
        for item in self.waiting:
            if item[2]._value is _PENDING:  # the lead still waits
                if item[0] <= until:
                    self._schedule(*item)
                else:
                    keep.append(item)
        self.waiting = keep


# --------------------------------------------------------------------------------------------
# Calendar: shifts and windows in the team's time zone, as seconds since the start (UTC)
# --------------------------------------------------------------------------------------------
class _Calendar:
    """Local days of the team's time zone as seconds since the run's start (UTC).

    Shift and window boundaries are local wall-clock times, so they stay at 09:00 local across
    daylight-saving changes.
    """

    def __init__(self, start: pd.Timestamp, days: int, tz: str):
        self.zone = ZoneInfo(tz)
        d0 = start.tz_convert(self.zone).date()
        self.t0 = start.timestamp()
        self.dates = [d0 + timedelta(days=k) for k in range(-1, days + 2)]
        self.midnights = [self._at(d, 0.0) for d in self.dates]
        self.weekday = [d.weekday() for d in self.dates]
        self.days = len(self.dates)
        self._cache: dict[tuple[int, float], float] = {}
        self._openings: dict[tuple, tuple[list[float], list[float]]] = {}

    def _at(self, day, hours: float) -> float:
        whole = int(hours)
        minutes = (hours - whole) * 60
        extra = timedelta(hours=whole, minutes=minutes)
        # wall-clock time in the zone (not midnight plus elapsed seconds, which DST would shift)
        naive = datetime(day.year, day.month, day.day) + extra
        local = naive.replace(tzinfo=self.zone)
        return local.timestamp() - self.t0

    def boundary(self, k: int, hours: float) -> float:
        """Seconds since the start of ``hours`` o'clock local time on day ``k``."""
        key = (k, hours)
        if key not in self._cache:
            self._cache[key] = self._at(self.dates[k], hours)
        return self._cache[key]

    def local_day(self, t: float) -> int:
        k = bisect_right(self.midnights, t) - 1
        return k if k > 0 else 0

    def next_open(self, t: float, window: tuple[float, float], workdays: tuple[int, ...]) -> float:
        """The first instant >= t inside ``window`` hours on a workday."""
        k = self.local_day(t)
        while k < self.days:
            if self.weekday[k] in workdays:
                b = self.boundary(k, window[1])
                if t < b:
                    return max(t, self.boundary(k, window[0]))
            k += 1
        return t  # beyond the calendar: no deferral

    def opening(self, window: tuple[float, float], workdays: tuple[int, ...]):
        """(opens, closes): the window's start and end on every workday, in order, so that
        :meth:`next_open` is ``max(t, opens[k])`` for the first ``k`` with ``closes[k] > t``
        (``t`` itself past the last), found by bisection. A window ends by midnight, so no
        earlier day's window closes after ``t``. Computed once per window."""
        key = (window, workdays)
        if key not in self._openings:
            days = [k for k in range(self.days) if self.weekday[k] in workdays]
            self._openings[key] = ([self.boundary(k, window[0]) for k in days],
                                   [self.boundary(k, window[1]) for k in days])
        return self._openings[key]

    def window_end(self, t: float, window: tuple[float, float]) -> float:
        """End of the window on t's local day (the shift end for overtime)."""
        return self.boundary(self.local_day(t), window[1])

    def shifts(self, window: tuple[float, float], workdays: tuple[int, ...]):
        """(start, end) of every shift, in order."""
        return [(self.boundary(k, window[0]), self.boundary(k, window[1]))
                for k in range(self.days) if self.weekday[k] in workdays]


# --------------------------------------------------------------------------------------------
# Event log: typed columns, one DataFrame at the end
# --------------------------------------------------------------------------------------------
_CODES: list[tuple[str, str, str | None]] = []
_CODE_OF: dict[tuple[str, str, str | None], int] = {}


def _code(type_: str, name: str, channel: str | None) -> int:
    key = (type_, name, channel)
    if key not in _CODE_OF:
        _CODE_OF[key] = len(_CODES)
        _CODES.append(key)
    return _CODE_OF[key]


for _ch in ("call", "voicemail", "sms", "email"):
    _code("touch", EVENT_NAME[_ch], EVENT_CHANNEL[_ch])
for _n, _c in (("connect", "call"), ("reply", "sms"), ("reply", "email"), ("opt_out", "call"),
               ("opt_out", "sms"), ("opt_out", "email")):
    _code("response", _n, _c)
for _n, _c in (("email_open", "email"), ("link_click", "web"), ("pricing_visit", "web"),
               ("demo_request", "web")):
    _code("activity", _n, _c)
for _n in ("qualified", "proposal", "won", "lost"):
    _code("stage", _n, None)
C_TOUCH = {ch: _code("touch", EVENT_NAME[ch], EVENT_CHANNEL[ch])
           for ch in ("call", "voicemail", "sms", "email")}
C_ANSWER = {"call": _code("response", "connect", "call"),
            "voicemail": _code("response", "connect", "call"),
            "sms": _code("response", "reply", "sms"), "email": _code("response", "reply", "email")}
C_OPT = {"call": _code("response", "opt_out", "call"),
         "voicemail": _code("response", "opt_out", "call"),
         "sms": _code("response", "opt_out", "sms"), "email": _code("response", "opt_out", "email")}
C_OPEN = _code("activity", "email_open", "email")
C_CLICK = _code("activity", "link_click", "web")
C_PRICING = _code("activity", "pricing_visit", "web")
C_DEMO = _code("activity", "demo_request", "web")
C_QUAL, C_PROP, C_WON, C_LOST = (_code("stage", n, None)
                                 for n in ("qualified", "proposal", "won", "lost"))


class _Log:
    __slots__ = ("lead", "t", "code", "step", "rep", "dur")

    def __init__(self) -> None:
        self.lead = array("l")
        self.t = array("d")
        self.code = array("b")
        self.step = array("h")
        self.rep = array("h")
        self.dur = array("f")  # rep minutes spent on a touch; NaN for every other event

    def clear(self) -> None:
        """Free the columns' buffers (a reference to an append keeps the array, not its data)."""
        for column in (self.lead, self.t, self.code, self.step, self.rep, self.dur):
            del column[:]

    def add(self, lead: int, t: float, code: int, step: int = -1, rep: int = -1,
            dur: float = math.nan) -> None:
        self.lead.append(lead)
        self.t.append(t)
        self.code.append(code)
        self.step.append(step)
        self.rep.append(rep)
        self.dur.append(dur)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class SimulationResult(Result):
    """Tables of one run: ``leads`` and ``events`` (the data contract), ``tasks`` (one row per
    planned rep touch: due, started (NaT if skipped), skipped, wait_minutes), ``queue`` (hourly
    length of the rep queue) and ``utilisation`` (rep time worked over rep time on shift while
    leads arrive). ``summary`` is the run's KPI table (:func:`kpis`), computed on first use."""

    world: World
    seed: int
    leads: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    tasks: pd.DataFrame = field(repr=False)
    queue: pd.DataFrame = field(repr=False)
    utilisation: float = 0.0
    shared: SharedWorld | None = None
    _kpis: dict | None = field(default=None, init=False, compare=False)

    def _describe(self) -> str:
        what = (f"{self.world.cadence.name!r}" if self.shared is None else
                f"{self.shared.design} test of {', '.join(map(repr, self.shared.arms))}")
        return (f"{what}, {len(self.leads):,d} leads, "
                f"{len(self.events):,d} events, {self.world.team.reps} reps, seed {self.seed}")

    def export(self, as_of: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The run's tables as a CRM export taken at ``as_of``: the leads created by then and
        their events up to then (a real export has no simulation tail after its last lead).

        >>> res = simulate(World(leads=300), seed=1)
        >>> leads, events = res.export(res.leads["created_at"].iloc[199])
        >>> len(leads), bool(events["ts"].max() <= leads["created_at"].max())
        (200, True)
        """
        from nurturelab.checks import utc_timestamp

        at = utc_timestamp(as_of, "as_of")
        leads = self.leads[self.leads["created_at"] <= at].reset_index(drop=True)
        events = self.events[(self.events["ts"] <= at)
                             & self.events["lead_id"].isin(leads["lead_id"])]
        return leads, events.reset_index(drop=True)

    def kpis(self) -> dict[str, float]:
        """The headline KPIs (see :func:`nurturelab.simulation.kpis`)."""
        if self._kpis is None:
            self._kpis = kpis(self)
        return dict(self._kpis)

    @property
    def summary(self) -> pd.DataFrame:
        """The headline KPIs, one row each (column ``value``)."""
        return pd.DataFrame({"value": self.kpis()}).rename_axis("kpi")

    def plot(self, ax=None):
        """The hourly length of the rep queue over the run; returns the axes."""
        ax = plots.axes(ax, figsize=(9, 3.5))
        ax.plot(self.queue["ts"], self.queue["queue_length"], lw=1)
        ax.set_ylabel("rep tasks waiting")
        ax.set_title(f"Follow-up queue: {self.world.cadence.name}, {self.world.team.reps} reps")
        return ax


@dataclass(frozen=True)
class Replay:
    """Leads to run through the world instead of drawing arrivals (a back-test replays an
    export's own leads over its held-out weeks).

    Parameters
    ----------
    leads : DataFrame
        Validated leads (``lead_id``, ``created_at``, ``source``, ``fit``, ``intent``); their
        attributes are used as they are, only the unobserved interest is drawn.
    measure_from : timestamp
        Leads created before it load the team first (a warm-up) and are left out of the tables.
    until : timestamp
        The end of the run: events after it are not simulated, as in an export taken then.
    """

    leads: pd.DataFrame
    measure_from: pd.Timestamp
    until: pd.Timestamp

    def __post_init__(self) -> None:
        from nurturelab.checks import need_columns, utc_timestamp

        need_columns(self.leads, ("lead_id", "created_at", "source"), "Replay 'leads'")
        if not len(self.leads):
            raise ValueError("Replay 'leads' has no rows")
        object.__setattr__(self, "measure_from",
                           utc_timestamp(self.measure_from, "Replay measure_from"))
        object.__setattr__(self, "until", utc_timestamp(self.until, "Replay until"))
        leads = self.leads.sort_values("created_at", kind="stable").reset_index(drop=True)
        if leads["created_at"].max() > self.until:
            raise ValueError("Replay 'leads' holds leads created after 'until' "
                             f"({self.until:%Y-%m-%d %H:%M}); drop them first")
        if not (leads["created_at"] >= self.measure_from).any():
            raise ValueError("Replay 'leads' has no lead created on or after 'measure_from' "
                             f"({self.measure_from:%Y-%m-%d %H:%M})")
        object.__setattr__(self, "leads", leads)


def _arrival_times(world: World, rng: dict, start: pd.Timestamp, n: int, warm: float):
    """Arrival times (seconds since ``start``) of the warm-up leads and ``n`` more: thinning of
    an hourly piecewise-constant Poisson process with hour-of-day, weekday, trend and (when
    set) a gamma day-to-day multiplier."""
    arr = world.arrivals
    total_per_day = sum(arr.per_day.values())
    ra = rng["arrivals"]
    if arr.process == "fixed":
        n_warm = int(math.ceil(warm * total_per_day / DAY))
        return np.arange(n_warm + n) * (DAY / total_per_day), n_warm
    hourly = np.asarray(arr.hourly) / np.mean(arr.hourly)
    weekday = np.asarray(arr.weekday) / np.mean(arr.weekday)
    horizon_days = (int(math.ceil(n / total_per_day * 1.5)) + 7
                    + int(math.ceil(world.warmup_days * 1.5)))
    if arr.trend < 0:  # a shrinking rate needs a longer horizon to reach n leads
        horizon_days = int(horizon_days * (1 + 4 * abs(arr.trend) * horizon_days / 7)) + 7
    local0 = start.tz_convert(world.team.timezone)

    def intensity(hours: np.ndarray) -> np.ndarray:
        lt = local0 + pd.to_timedelta(hours, unit="h")
        lam = total_per_day / 24 * hourly[lt.hour] * weekday[lt.weekday]
        if arr.trend:
            lam = lam * np.exp(arr.trend * (hours - warm / HOUR) / (7 * 24))
        if arr.daily_variation:
            days = hours // 24
            k = 1.0 / arr.daily_variation
            factor = rng["arrival_days"].gamma(k, 1.0 / k, size=int(days.max()) + 1)
            lam = lam * factor[days]
        return lam

    hours = np.arange(horizon_days * 24)
    counts = ra.poisson(intensity(hours))
    n_warm = int(counts[: int(warm // HOUR)].sum())  # whole hours; warm-up is in days
    while counts.sum() < n_warm + n:  # rare: extend with more days
        more = np.arange(len(counts), len(counts) + 24 * 7)
        counts = np.concatenate([counts, ra.poisson(intensity(more)[-24 * 7:])])
    hour_of = np.repeat(np.arange(len(counts)), counts)[:n_warm + n]
    times = (hour_of + ra.random(len(hour_of))) * HOUR
    times.sort()
    return times, n_warm


def _draw_streams(world: World, seed: int, replay: Replay | None = None) -> dict[str, Any]:
    """All random numbers of a run, one stream per element, indexed by lead and step."""
    ss = np.random.SeedSequence(seed)
    rng = dict(zip(STREAMS, (np.random.default_rng(s) for s in ss.spawn(len(STREAMS))),
                   strict=True))
    arr = world.arrivals
    if replay is None:
        n = world.leads
        warm = world.warmup_days * DAY
        # the clock starts warmup_days before the measured start: leads of the warm-up load
        # the team and are dropped from the tables
        start = (pd.Timestamp(world.start, tz=world.team.timezone)
                 - pd.Timedelta(days=world.warmup_days)).tz_convert("UTC")
        times, n_warm = _arrival_times(world, rng, start, n, warm)
        n = n_warm + n  # every random element below is drawn for all simulated leads
        sources = list(arr.per_day)
        rates = np.array([arr.per_day[s] for s in sources], dtype=float)
        src = rng["arrivals"].choice(len(sources), size=n, p=rates / rates.sum())
    else:
        ld = replay.leads
        start = ld["created_at"].iloc[0].floor("D")
        times = ((ld["created_at"] - start) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
        warm = float((replay.measure_from - start) / pd.Timedelta(seconds=1))
        n_warm = int((ld["created_at"] < replay.measure_from).sum())
        n = len(ld)
        names = ld["source"].astype("object").astype(str)
        sources = sorted(set(names) | set(arr.per_day))
        src = names.map({s: k for k, s in enumerate(sources)}).to_numpy()
    tr = rng["traits"]
    mix = np.array([arr.intent.get(s, arr.default_intent) for s in sources])[src]
    intent = (tr.random(n)[:, None] > np.cumsum(mix, axis=1)[:, :2]).sum(axis=1)
    fit = np.round(tr.beta(*arr.fit_beta, size=n), 3)
    noise = tr.standard_normal(n)
    industry = tr.integers(0, len(_INDUSTRIES), size=n)
    size = np.maximum(1, np.round(tr.lognormal(3.6, 1.2, size=n))).astype(int)
    persona = tr.integers(0, len(_PERSONAS), size=n)
    if replay is not None:  # the leads' own attributes; only the unobserved interest is drawn
        given = replay.leads
        level = (given["intent"].astype("object") if "intent" in given
                 else pd.Series(None, index=given.index, dtype="object"))
        intent = level.map({v: k for k, v in enumerate(_INTENTS)}).fillna(3).to_numpy(int)
        fit = (given["fit"].to_numpy(dtype=float) if "fit" in given
               else np.full(n, np.nan))
    steps = len(world.cadence.touches)

    def cols(r: np.random.Generator, k: int, method: str = "random") -> np.ndarray:
        # column by column, so that step j's draws do not depend on the cadence's length;
        # single precision: ample for probabilities and halves the memory of big runs
        out = np.empty((n, k), dtype=np.float32)
        for j in range(k):
            out[:, j] = getattr(r, method)(n, dtype=np.float32)
        return out

    return {
        "start": start,
        "warm": warm,
        "n_warm": n_warm,
        "times": times,
        "sources": sources,
        "src": src,
        "intent": intent,
        "fit": fit,
        "noise": noise,
        "industry": industry,
        "size": size,
        "persona": persona,
        "u_answer": cols(rng["answer"], steps),
        "u_opt": cols(rng["opt_out"], steps),
        "handling": cols(rng["handling"], steps, "standard_normal"),
        "answer_delay": cols(rng["answer"], 1, "standard_exponential")[:, 0],
        # pricing visits: the first PRICING_VISITS arrival points of each lead's process (unit
        # exponentials, cumulated); a demo request: only the first can happen
        "pricing": rng["behaviour"].standard_exponential(
            (n, PRICING_VISITS), dtype=np.float32).cumsum(axis=1, dtype=np.float64),
        "demo": rng["behaviour"].standard_exponential(n, dtype=np.float32),
        "u_email": cols(rng["email"], 2 * steps),
        "u_stage": cols(rng["stages"], 3),
        "z_stage": cols(rng["stages"], 3, "standard_normal"),
        "e_stage": cols(rng["stages"], 1, "standard_exponential"),
        "u_skip": cols(rng["skip"], steps),
    }


def _math(f, x: np.ndarray) -> np.ndarray:
    """``f`` (math.exp, math.log) element by element: the scalar formulas' values, bit for
    bit (NumPy's own exp and log may differ from the C library's in the last bit)."""
    x = np.asarray(x, dtype=np.float64)
    return np.fromiter(map(f, x.tolist()), dtype=np.float64, count=x.size)


def _expit(x) -> np.ndarray:
    """:func:`nurturelab.response.expit` element by element."""
    x = np.asarray(x, dtype=np.float64)
    pos = x >= 0
    e = _math(math.exp, np.where(pos, -x, x))
    return np.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))


def _lookup(mapping: Mapping[str, float], names: np.ndarray) -> np.ndarray:
    """``mapping.get(str(name), 0.0)`` for every name."""
    if not len(names):
        return np.zeros(0)
    uniq, inv = np.unique(names.astype(str), return_inverse=True)
    return np.array([float(mapping.get(str(u), 0.0)) for u in uniq])[inv]


def _seconds_ns(sec) -> np.ndarray:
    """Seconds (float) as int64 nanoseconds, as ``pd.to_timedelta(sec, unit="s")`` has them
    (pandas' ``cast_from_unit_vectorized``: the whole seconds truncated, the fraction rounded
    to 9 decimals, each multiplied by 10**9 and the fraction's product truncated), done by
    NumPy in one pass (pandas runs that loop on Python objects: a microsecond per value).
    Finite values only (the run's times are)."""
    sec = np.asarray(sec, dtype=np.float64)
    base = sec.astype(np.int64)
    frac = np.round(sec - base, 9)
    return base * 1_000_000_000 + (frac * 1e9).astype(np.int64)


def _objects(values: np.ndarray):
    """An object column for a DataFrame, as a Series of dtype object: a DataFrame built from
    a bare object array first tries to read it as dates (a passing copy several times the
    column's size), which for these columns of strings and None leaves them as they are.
    With pandas' string inference on (``future.infer_string``), the bare array, for pandas to
    infer its strings as it would."""
    if pd.get_option("future.infer_string"):
        return values
    return pd.Series(values, dtype=object, copy=False)


def _created_times(times: np.ndarray) -> np.ndarray:
    """The SimPy clock when each lead arrives: the arrivals process waits ``t - now`` from
    the previous arrival (``now + (t - now)`` is not always ``t`` in floating point)."""
    times = np.asarray(times, dtype=np.float64)
    now = times.copy()
    for _ in range(64):  # a fixed point of the recurrence; it settles in a few rounds
        prev = np.concatenate([[0.0], now[:-1]])
        new = np.where(times > prev, prev + (times - prev), prev)
        if np.array_equal(new, now):
            return now
        now = new
    out, clock = np.empty(len(times)), 0.0
    for k, t in enumerate(times.tolist()):
        if t > clock:
            clock = clock + (t - clock)
        out[k] = clock
    return out


class _Constants:
    """What the leads' processes look up, as plain attributes (see Simulation._constants)."""


class Simulation:
    """One run of a :class:`World` (or a :class:`SharedWorld`) with a seed, and optionally a
    :class:`Replay` of given leads. Use :func:`simulate`."""

    def __init__(self, world: World | SharedWorld, seed: int, replay: Replay | None = None):
        self._vector = True  # False: every lead's behaviour and stages by the scalar formulas
        self.shared = world if isinstance(world, SharedWorld) else None
        if self.shared is not None:
            world = self.shared._draw_world()
        self.world = world
        self.seed = int(seed)
        self.replay = replay

    def run(self, progress=None) -> SimulationResult:
        w = self.world
        r = _draw_streams(w, self.seed, self.replay)
        self.r = r
        self.warm = r["warm"]
        env = simpy.Environment()
        self.env = env
        team = w.team
        last_arrival = float(r["times"][-1])
        if self.replay is None:
            self.end = last_arrival + w.tail_days * DAY
        else:
            self.end = float((self.replay.until - r["start"]) / pd.Timedelta(seconds=1))
        # utilisation is measured while leads arrive: from the warm-up's end to the last one
        self.last_arrival = last_arrival
        cal = _Calendar(r["start"], int(self.end // DAY) + 2, team.timezone)
        self.cal = cal
        self.reps = RepPool(env, capacity=team.reps)
        self.free_reps = deque(range(team.reps))
        self.pools = [(self.reps, self.free_reps)]  # a shared world splits the team into several
        self.log = _Log()
        self.patience = _Patience(env)
        self.tasks = {"lead": array("l"), "step": array("h"), "due": array("d"),
                      "start": array("d"), "skipped": array("b")}
        self.busy = 0.0
        self.overtime = 0.0
        self.off_duty: list = [[]]  # per pool: the off-duty requests of the current night
        self.queue_len = array("l")
        model = w.response
        c = w.cadence
        self._constants(cal)
        k = model.behaviour_slope * model.behaviour_decay / (7 * DAY)
        if not (k >= 0 and math.isfinite(k)):  # the vectorised behaviour assumes k >= 0
            self._vector = False
        # what a lead follows: its cadence's steps and the reps it queues for (one plan, or
        # one per arm)
        self.plan = (self._steps(c), "qualified" in c.stop_on, "opt_out" in c.stop_on,
                     self.reps, self.free_reps)
        self.arm_of = None
        cadences = [c]
        if self.shared is not None:
            self._share(r, cal)
            cadences = list(self.shared.cadences.values())
        self.intent_names = np.array(_INTENTS, dtype=object)[r["intent"]]
        self.source_names = np.array(r["sources"], dtype=object)[r["src"]]
        # ResponseModel.lead_interest, vectorised term by term in its order
        shift = np.array([model.intent[level] for level in _INTENTS])[r["intent"]]
        fit = np.asarray(r["fit"], dtype=np.float64)
        self.interest = (shift + model.fit * np.where(np.isnan(fit), 0.0, fit - 0.5)
                         + model.heterogeneity * np.asarray(r["noise"], dtype=np.float64))
        level = np.where(r["intent"] == 3, 1, r["intent"])  # unknown intent ranks as medium
        self.score = (level - 1) + 2 * (np.nan_to_num(r["fit"], nan=0.5) - 0.5)
        # the steps the team leaves out, per lead and step of its cadence (Touch.skip)
        self.skip_rows = None
        if any(t.skip for cad in cadences for t in cad.touches):
            width = r["u_skip"].shape[1]
            skip = np.zeros((len(cadences), width))
            for a, cad in enumerate(cadences):
                skip[a, :len(cad.touches)] = [t.skip for t in cad.touches]
            arm = 0 if self.arm_of is None else np.asarray(self.arm_of)
            self.skip_rows = r["u_skip"].astype(np.float64) < skip[arm].reshape(-1, width)
        self.created = _created_times(r["times"])
        self.demo_at = self._first_demos()
        c_ = self._c  # per lead, what its process reads
        c_.interest, c_.demo_at = self.interest, self.demo_at
        c_.u_answer, c_.u_opt = r["u_answer"], r["u_opt"]
        c_.hold_factor = self._hold_factors(cadences)
        if team.shift is not None:
            for k, (pool, _) in enumerate(self.pools):
                env.process(self._shifts(cal.shifts(team.shift, team.workdays), pool, k))
        env.process(self._arrivals(r["times"], progress))
        env.process(self._monitor())
        # the run makes millions of short-lived events that reference counting frees; the
        # cyclic collector would only walk the long-lived tables again and again (about a
        # tenth of the run's time), so it pauses during the run (not if it was off already)
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            env.run(until=self.end)
        finally:
            if was_enabled:
                gc.enable()
        self._c = None  # what the leads' processes read (per-step draws, hold factors): spent
        self._after_run()
        total = len(r["times"]) - r["n_warm"]
        if progress is not None:
            progress(total, total)
        return self._result()

    def _share(self, r: dict, cal: _Calendar) -> None:
        """A shared world: each lead's arm (``arm_of``), the reps' pools and each arm's plan."""
        sh = self.shared
        ss = np.random.SeedSequence(self.seed).spawn(len(STREAMS))[STREAMS.index("assignment")]
        rng = np.random.default_rng(ss)
        k = len(sh.arms)
        times = np.asarray(r["times"])
        if sh.design == POLICY:  # each lead's segment, from its traits drawn before the run
            arm_of = _policy_arms(sh, r)
        elif sh.design == "switchback":  # the local day of creation, as _Calendar.local_day
            day = np.maximum(np.searchsorted(cal.midnights, times, side="right") - 1, 0)
            day -= day.min()  # blocks of days from the first lead's day
            arm_of = _blocks(rng, [1] * k, int(day.max()) + 1)[day]
        else:
            sizes = np.asarray(sh.pool_sizes() if sh.design == "split" else [1] * k)
            arm_of = _blocks(rng, sizes // np.gcd.reduce(sizes), len(times))
        self.arm_of = arm_of.tolist()
        # the answer stream draws the reply delays after its step columns: give each lead the
        # delays its arm's rollout draws (a cadence of another length draws other ones)
        steps = [len(c.touches) for c in sh.cadences.values()]
        if len(set(steps)) > 1:
            child = np.random.SeedSequence(self.seed).spawn(len(STREAMS))[STREAMS.index("answer")]
            n, delays = len(times), {}
            for m in sorted(set(steps)):
                g = np.random.default_rng(child)
                for _ in range(m):  # as _draw_streams' cols: one column per step
                    g.random(n, dtype=np.float32)
                delays[m] = g.standard_exponential(n, dtype=np.float32)
            table = np.stack([delays[m] for m in steps])
            r["answer_delay"] = table[arm_of, np.arange(n)]
        if sh.design == "split":
            pools, first = [], 0
            for size in sh.pool_sizes():
                pools.append((RepPool(self.env, capacity=size), deque(range(first, first + size))))
                first += size
            self.pools, self.reps, self.free_reps = pools, None, None
            self.off_duty = [[] for _ in pools]
        else:
            pools = [self.pools[0]] * k
        self.plans = [(self._steps(c), "qualified" in c.stop_on, "opt_out" in c.stop_on, *pool)
                      for c, pool in zip(sh.cadences.values(), pools, strict=True)]

    # ---- processes ------------------------------------------------------------------------
    def _shifts(self, shifts, reps, k: int = 0):
        """Outside shifts every rep of pool ``k`` (``reps``) is held by a top-priority 'off
        duty' request; a rep on a call finishes it first."""
        env = self.env
        off, prev = [], -math.inf
        for a, b in shifts:
            off.append((prev, a))
            prev = b
        off.append((prev, math.inf))
        for a, b in off:
            if b <= env.now:
                continue
            if a > env.now:
                yield env.timeout(a - env.now)
            held = [reps.request(priority=-(10**9)) for _ in range(reps.capacity)]
            self.off_duty[k] = held
            for h in held:
                yield h
            if b == math.inf:
                return
            if b > env.now:
                yield env.timeout(b - env.now)
            for h in held:
                reps.release(h)

    def _monitor(self):
        env = self.env
        tick = self.patience.tick
        while True:
            tick()
            waiting_off = sum(1 for held in self.off_duty for h in held if not h.triggered)
            self.queue_len.append(sum(len(pool.queue) for pool, _ in self.pools) - waiting_off)
            yield env.timeout(HOUR)

    def _arrivals(self, times, progress):
        env = self.env
        every = max(1, len(times) // 100)
        for i, t in enumerate(times):
            if t > env._now:
                yield env.timeout(t - env._now)
            env.process(self._lead(i))
            if progress is not None and i % every == 0:
                progress(i, len(times))

    def _lead(self, i: int):
        """One lead's cadence. The constants of every step are looked up once per plan
        (:meth:`_steps`); every expression that reaches a table keeps the operands, and so the
        types and the rounding, of the plain formulas (:meth:`ResponseModel.touch_logit`,
        ``opt_out_logit``, :meth:`_hold`): NumPy's float32 draws compare and add in single
        precision against Python floats, and the tables depend on it bit for bit. Behaviour,
        email opens and what happens after the cadence do not steer the run: the lead leaves
        its few facts (:meth:`_done`) and their events are drawn after the run."""
        env = self.env
        created = env._now
        created_f = float(created)
        c = self._c
        interest = float(c.interest[i])
        steps, stop_qualified, stop_opt_out, reps, free_reps = (
            self.plan if self.arm_of is None else self.plans[self.arm_of[i]])
        queue = c.queue
        ua, uo = c.u_answer[i], c.u_opt[i]
        holds = c.hold_factor[i].tolist()  # a rep touch's time is its step's scale times this
        skip_row = self.skip_rows[i] if self.skip_rows is not None else None
        log_lead, log_t, log_code, log_step, log_rep, log_dur = c.log_appends
        tk_lead, tk_step, tk_due, tk_start, tk_skipped = c.task_appends
        exp = math.exp
        patience_timeout = self.patience.add
        warm, last_arrival = c.warm, c.last_arrival
        demo_at = float(c.demo_at[i])  # inf: no demo request before the run's end
        last_on: dict[str, float] = {}
        sent: list[float] = []
        prev_t = created
        answered_at = None
        answered = False
        rep = -1
        vm_at, vm_hold = math.nan, 0.0  # the voicemail left on an unanswered call
        for s in steps:
            (j, ch, from_created, offset, at, window, needs_rep, is_vm, c_touch, c_answer,
             c_opt, base_logit, sw, pers, opt_logit, voice, stop_answer, next_vm, scale,
             scale_vm) = s
            due = created + offset if from_created else prev_t + at
            if window is not None:  # _Calendar.next_open: the first window closing after due
                opens, closes = window
                k = bisect_right(closes, due)
                if k < len(closes) and opens[k] > due:
                    due = opens[k]
            if due > env._now:
                yield env.timeout(due - env._now)
            if demo_at <= env._now and stop_qualified:
                break
            if skip_row is not None and skip_row[j]:  # the team leaves this step out
                if needs_rep and not is_vm:
                    tk_lead(i)
                    tk_step(j)
                    tk_due(due)
                    tk_start(env._now)
                    tk_skipped(1)
                rep = -1  # no call, so no voicemail on it either
                continue
            req = None
            if is_vm:
                if answered or rep < 0:  # left only on an unanswered call, by its rep
                    continue
                t_touch = vm_at
                log_lead(i)
                log_t(t_touch)
                log_code(c_touch)
                log_step(j)
                log_rep(rep)
                log_dur(vm_hold / 60.0)
            elif needs_rep:
                prio = 0 if queue == "fifo" else (
                    j if queue == "priority" else -float(self.score[i]))
                req = reps.request(priority=prio)
                if req._value is _PENDING:  # queued: wait, but no longer than the patience
                    wait = due + c.patience - env._now
                    wait = wait if wait > 0.0 else 0.0  # max(0.0, wait)
                    # yield req | env.timeout(wait), without the Condition: the gate opens
                    # when the first of the two is processed, and the lead resumes when the
                    # gate is, one event later, as it would after the Condition's
                    gate = env.event()
                    req._gate = gate
                    req.callbacks.append(_open_gate)
                    patience_timeout(gate, wait)  # env.timeout(wait), opening the gate too
                    yield gate
                    if req._value is _PENDING:
                        req.cancel()
                        tk_lead(i)
                        tk_step(j)
                        tk_due(due)
                        tk_start(env._now)
                        tk_skipped(1)
                        rep = -1
                        continue
                else:
                    yield req
                if demo_at <= env._now and stop_qualified:
                    reps.release(req)  # qualified while waiting: the touch is moot
                    break
                tk_lead(i)
                tk_step(j)
                tk_due(due)
                tk_start(env._now)
                tk_skipped(0)
                rep = free_reps.popleft()
                t_touch = env._now
            else:
                rep = -1
                t_touch = env._now
                log_lead(i)
                log_t(t_touch)
                log_code(c_touch)
                log_step(j)
                log_rep(-1)
                log_dur(math.nan)
            prev_t = t_touch
            # the answer's arithmetic in Python floats: NumPy's float64 gives the same values,
            # more slowly (t_touch itself keeps its type: it steers float32 sums below)
            tf = float(t_touch)
            if ch in last_on:
                gap = (tf - last_on[ch]) / HOUR
                decay = exp(-gap / c.tau)
            else:
                gap = math.inf
            week_ago = tf - WEEK
            recent = 0
            for s_t in sent:
                if s_t > week_ago:
                    recent += 1
            last_on[ch] = tf
            sent.append(tf)
            if ch == "email":  # opens and clicks are drawn after the run
                em_lead, em_step, em_t, em_np64, em_interest = c.email_appends
                em_lead(i)
                em_step(j)
                em_t(t_touch)
                em_np64(type(t_touch) is np.float64)
                em_interest(interest + (c.warm_up if answered_at is not None else 0.0))
            # ResponseModel.touch_logit, term by term in its order
            minutes = (tf - created_f) / 60.0
            if minutes <= c.knot_first:
                boost = c.value_first
            elif minutes >= c.knot_last:
                boost = c.value_last
            else:
                k = bisect_right(c.knot_min, minutes)
                boost = c.knot_val[k - 1] + c.knot_dv[k] * (minutes - c.knot_min[k - 1]) / (
                    c.knot_dm[k])
            x = base_logit + interest + sw * boost
            if gap < math.inf:
                x -= c.spacing * decay
            fatigue = recent - c.fatigue_free
            x -= c.fatigue * (fatigue if fatigue > 0 else 0)
            x += pers
            x -= c.cooling * minutes / (7 * 24 * 60)
            if x >= 0:
                p = 1.0 / (1.0 + exp(-x))
            else:
                z = exp(x)
                p = z / (1.0 + z)
            answered = ua[j] < p
            if req is not None:  # the rep's time: the touch, and a voicemail on a missed call
                hold = scale * holds[j]  # _hold(mean, z): mean * exp(...) or -mean * log(...)
                log_lead(i)
                log_t(t_touch)
                log_code(c_touch)
                log_step(j)
                log_rep(rep)
                log_dur(hold / 60.0)
                vm_hold = 0.0
                if (next_vm and not answered
                        and not (skip_row is not None and skip_row[j + 1])):
                    vm_at, vm_hold = t_touch + hold, scale_vm * holds[j + 1]
                # _count_busy: the rep time while leads arrive, and the overtime in it
                # max(t_touch, warm) and min(t_touch + held, last_arrival), as max and min
                # choose (the first of equals)
                a = warm if warm > t_touch else t_touch
                b = t_touch + (hold + vm_hold)
                b = last_arrival if last_arrival < b else b
                if b > a:
                    self.busy += b - a
                    if c.shift is not None:  # time past the shift's end is overtime
                        self.overtime += max(0.0, b - max(a, c.window_end(t_touch, c.shift)))
                yield env.timeout(hold + vm_hold)
                free_reps.append(rep)
                reps.release(req)
            if answered:
                delay = 30.0 if voice else (60.0 + self.r["answer_delay"][i] * HOUR)
                if answered_at is None:
                    answered_at = t_touch + delay
                log_lead(i)
                log_t(t_touch + delay)
                log_code(c_answer)
                log_step(j)
                log_rep(rep)
                log_dur(math.nan)
                if stop_answer:
                    break
                continue
            # ResponseModel.opt_out_logit
            q = opt_logit
            if gap < math.inf:
                q += c.opt_spacing * decay
            q += c.opt_fatigue * (fatigue if fatigue > 0 else 0)
            if q >= 0:
                p = 1.0 / (1.0 + exp(-q))
            else:
                z = exp(q)
                p = z / (1.0 + z)
            if uo[j] < p:
                log_lead(i)
                log_t(t_touch + 60.0)
                log_code(c_opt)
                log_step(j)
                log_rep(rep)
                log_dur(math.nan)
                if stop_opt_out:
                    self._done(i, created, interest, None, math.inf, t_touch + 60.0,
                               t_touch + 120.0)
                    return
        if answered_at is not None and answered_at < demo_at:
            demo_at = math.inf  # reached first: from then on the lead qualifies by conversation
        self._done(i, created, interest, answered_at, demo_at, self.end, None, prev_t)

    # ---- pieces ---------------------------------------------------------------------------
    def _constants(self, cal: _Calendar) -> None:
        """What every lead's process looks up, bound once (attribute and dict lookups per
        touch are a large part of the run's Python work)."""
        w, m = self.world, self.world.response
        team = w.team
        knots = m.speed_knots
        c = _Constants()
        c.team, c.queue, c.workdays, c.shift = team, team.queue, team.workdays, team.shift
        c.next_open, c.window_end = cal.next_open, cal.window_end
        c.warm, c.last_arrival = self.warm, self.last_arrival
        c.patience = team.patience_hours * HOUR
        c.tau, c.spacing, c.fatigue, c.fatigue_free = (m.tau_hours, m.spacing, m.fatigue,
                                                       m.fatigue_free)
        c.cooling, c.warm_up = m.cooling, m.warm_up
        c.opt_spacing, c.opt_fatigue = m.opt_out_spacing, m.opt_out_fatigue
        c.knot_first, c.value_first = knots[0]
        c.knot_last, c.value_last = knots[-1]
        c.knot_min = [k for k, _ in knots]
        c.knot_val = [v for _, v in knots]
        c.knot_dv = [0.0] + [knots[k][1] - knots[k - 1][1] for k in range(1, len(knots))]
        c.knot_dm = [0.0] + [knots[k][0] - knots[k - 1][0] for k in range(1, len(knots))]
        log, tk = self.log, self.tasks
        c.log_appends = (log.lead.append, log.t.append, log.code.append, log.step.append,
                         log.rep.append, log.dur.append)
        c.task_appends = tuple(tk[k].append for k in ("lead", "step", "due", "start",
                                                       "skipped"))
        # email touches (lead, step, time, whether the time is a NumPy float, interest) and
        # the facts of the leads that are done (see _done): their events come after the run
        self.emails = (array("l"), array("h"), array("d"), array("b"), array("d"))
        c.email_appends = tuple(a.append for a in self.emails)
        self.done = {k: array(t) for k, t in (("lead", "l"), ("created", "d"),
                                               ("answered", "d"), ("demo", "d"),
                                               ("until", "d"), ("last", "d"), ("opted", "b"))}
        self.done_appends = tuple(self.done[k].append for k in (
            "lead", "created", "answered", "demo", "until", "last", "opted"))
        self.done_scalar: list[tuple] = []  # the leads whose facts need the scalar formulas
        self._c = c

    def _steps(self, cadence: Cadence) -> list[tuple]:
        """Per step of ``cadence``, the constants the lead's process uses (see _lead)."""
        m, team, stop = self.world.response, self.world.team, cadence.stop_on
        touches, offsets = cadence.touches, list(cadence.offsets())  # NumPy floats, as before
        # a rep touch's time is scale * factor (see _hold_factors): mean * exp(...) for a
        # lognormal, -mean * log(...) for an exponential
        sign = -1.0 if team.handling == "exponential" else 1.0
        out = []
        for j, t in enumerate(touches):
            ch = t.channel
            next_vm = ch == "call" and j + 1 < len(touches) and touches[j + 1].channel == (
                "voicemail")
            voice = ch in ("call", "voicemail")
            out.append((
                j, ch, t.anchor == "created", offsets[j], t.at,
                None if t.window is None else self.cal.opening(t.window, team.workdays),
                t.needs_rep,
                ch == "voicemail", C_TOUCH[ch], C_ANSWER[ch], C_OPT[ch], logit(m.base[ch]),
                m.speed_weight[ch], m.personalisation[t.personalisation],
                logit(m.opt_out_base[ch]), voice,
                ("connect" in stop and voice) or ("reply" in stop and not voice), next_vm,
                sign * (team.handling_minutes[ch] * 60.0),
                sign * (team.handling_minutes["voicemail"] * 60.0)))
        return out

    def _hold(self, mean: float, z: float) -> float:
        """A touch's rep time in seconds: ``mean`` and the step's normal draw ``z``."""
        team = self.world.team
        if team.handling == "exponential":
            u = 0.5 * math.erfc(-z / math.sqrt(2))  # the normal draw as a uniform
            return -mean * math.log(max(1.0 - u, 1e-12))
        s = team.handling_sigma
        return mean * math.exp(s * z - 0.5 * s * s)

    def _hold_factors(self, cadences) -> np.ndarray:
        """Per lead and step, the factor of :meth:`_hold` that does not depend on the mean:
        ``exp(s * z - 0.5 * s * s)`` (lognormal) or ``log(max(1 - u, 1e-12))`` (exponential),
        for every step some cadence gives a rep (zero elsewhere), with the scalar formula's
        operations in its order (math.exp, math.erfc and math.log element by element)."""
        team, z32 = self.world.team, self.r.pop("handling")
        out = np.zeros(z32.shape, dtype=np.float64)
        for j in range(z32.shape[1]):
            if not any(j < len(cad.touches) and cad.touches[j].needs_rep for cad in cadences):
                continue
            z = z32[:, j].astype(np.float64)
            if team.handling == "exponential":
                u = 0.5 * _math(math.erfc, -z / math.sqrt(2))
                out[:, j] = _math(math.log, np.maximum(1.0 - u, 1e-12))
            else:
                s = team.handling_sigma
                out[:, j] = _math(math.exp, s * z - 0.5 * s * s)
        return out

    def _done(self, i, created, interest, answered_at, demo_at, until, lost_at,
              last=None) -> None:
        """A lead's cadence is over: keep what its behaviour and stages need. An answer time
        that is a NumPy float32 (a reply delay is single precision) rounds the times computed
        from it in single precision: such a lead goes through the scalar formulas."""
        if (self._vector and (answered_at is None or type(answered_at) in (float, np.float64))
                and type(created) in (float, np.float64, int)):
            d_lead, d_created, d_answered, d_demo, d_until, d_last, d_opted = self.done_appends
            d_lead(i)
            d_created(created)
            d_answered(math.nan if answered_at is None else answered_at)
            d_demo(demo_at)
            d_until(until)
            d_last(lost_at if lost_at is not None else last)
            d_opted(lost_at is not None)
        else:
            self.done_scalar.append((i, created, interest, answered_at, demo_at, until,
                                     lost_at, last))

    def _first_demos(self) -> np.ndarray:
        """Each lead's first demo request (:meth:`_first_demo`, inf for none before the run's
        end), for all leads at once."""
        m, r, n = self.world.response, self.r, len(self.created)
        _, a, k = self._rates(1.0)  # k only
        if not (k >= 0 and math.isfinite(k)) or not self._vector:
            out = [self._first_demo(i, c, float(x))
                   for i, (c, x) in enumerate(zip(self.created, self.interest, strict=True))]
            return np.array([math.inf if t is None else t for t in out], dtype=np.float64)
        boost = _math(math.exp, m.behaviour_slope * self.interest)
        a = m.demo_per_day / DAY * boost
        s = r["demo"].astype(np.float64)
        c = self.created
        t = np.full(n, math.inf)
        pos = a > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            if k == 0:  # _invert's k == 0 branch with t_warm = inf: head is inf
                t[pos] = c[pos] + s[pos] / a[pos]
            else:  # head = a / k * (1 - exp(-inf)); past it y < 0
                head = a / k * (1.0 - 0.0)
                ok = pos & (s <= head)
                y = 1.0 - s[ok] * k / a[ok]
                good = y > 0
                t_ok = np.full(len(y), math.inf)
                t_ok[good] = c[ok][good] - _math(math.log, y[good]) / k
                t[ok] = t_ok
        t[~(t <= self.end)] = math.inf
        return t

    def _after_run(self) -> None:
        """The events that do not steer the run: email opens and clicks, pricing visits and
        demo requests, and the stages after the cadence, drawn for every lead at once with
        the scalar formulas' operations in their order (math.exp and math.log element by
        element, so the values are the scalar ones bit for bit)."""
        self._emails_after()
        d = {k: np.frombuffer(v, dtype=v.typecode if v.typecode != "l"
                              else f"i{v.itemsize}") for k, v in self.done.items()}
        d["opted"] = d["opted"].astype(bool)
        if not np.array_equal(d["created"], self.created[d["lead"]]):
            raise RuntimeError("internal error: the leads' creation times differ from the "
                               "simulation clock's")
        if len(d["lead"]):
            self._behaviour_after(d)
            self._stages_after(d)
        for i, created, interest, answered_at, demo_at, until, lost_at, last in (
                self.done_scalar):
            demo = None if demo_at == math.inf else demo_at
            if lost_at is not None:  # opted out: behaviour until then, then lost
                self._log_behaviour(i, created, interest, None, None, until=until)
                self.log.add(i, lost_at, C_LOST)
            else:
                self._log_behaviour(i, created, interest, answered_at, demo, until=until)
                self._after_cadence(i, answered_at, demo, last)
        del d
        for column in (*self.emails, *self.done.values()):
            try:  # their buffers (a lead still mid-cadence holds their appends)
                del column[:]
            except BufferError:  # a view of it lives on in a frame another thread holds
                pass  # (Dask's sampling profiler): freed when that view and the run are
        self.done = self.done_scalar = self.emails = self.done_appends = None

    def _extend_log(self, lead, t, code, step=-1, rep=-1) -> None:
        lg, n = self.log, len(lead)
        lg.lead.frombytes(np.asarray(lead, dtype=f"i{lg.lead.itemsize}").tobytes())
        lg.t.frombytes(np.asarray(t, dtype=np.float64).tobytes())
        lg.code.frombytes(np.broadcast_to(np.asarray(code, dtype=np.int8), n).tobytes())
        lg.step.frombytes(np.broadcast_to(np.asarray(step, dtype=np.int16), n).tobytes())
        lg.rep.frombytes(np.broadcast_to(np.asarray(rep, dtype=np.int16), n).tobytes())
        lg.dur.frombytes(np.full(n, np.nan, dtype=np.float32).tobytes())

    def _emails_after(self) -> None:
        """:meth:`_email` for every email touch. Its ``u < expit(...)`` compares a float32 draw
        with a Python float in single precision, and ``t + 600.0 + 3 * HOUR * u`` is single
        precision when ``t`` is a Python float (double when a NumPy float64)."""
        lead, j, t, np64, interest = (np.frombuffer(a, dtype=a.typecode if a.typecode != "l"
                                                    else f"i{a.itemsize}")
                                      for a in self.emails)
        if not len(lead):
            return
        if not self._vector:  # the scalar formula, each time with its type
            for i, jj, tt, is64, x in zip(lead.tolist(), j.tolist(), t.tolist(), np64.tolist(),
                                          interest.tolist(), strict=True):
                self._email(i, jj, np.float64(tt) if is64 else tt, x)
            return
        m, u = self.world.response, self.r["u_email"]
        s = m.behaviour_slope
        j = j.astype(np.int64)
        u0, u1 = u[lead, 2 * j], u[lead, 2 * j + 1]
        opened = u0 < _expit(logit(m.open_rate) + s * interest).astype(np.float32)
        np64 = np64.astype(bool)[opened]
        lead, t, u1, interest = lead[opened], t[opened], u1[opened], interest[opened]
        shifted = np.float32(3 * HOUR) * u1  # float32
        base = t + 600.0
        t32 = base.astype(np.float32) + shifted
        t_open = np.where(np64, base + shifted.astype(np.float64), t32.astype(np.float64))
        self._extend_log(lead, t_open, C_OPEN)
        click = u1 < _expit(logit(m.click_rate) + s * interest).astype(np.float32)
        t_click = np.where(np64, t_open + 90.0,
                           (t32 + np.float32(90.0)).astype(np.float64))
        self._extend_log(lead[click], t_click[click], C_CLICK)

    def _behaviour_after(self, d: dict) -> None:
        """:meth:`_log_behaviour` for the leads in ``d`` (float64 times only)."""
        m, r = self.world.response, self.r
        lead = d["lead"]
        interest = self.interest[lead]
        p0, _, k = self._rates(0.0)
        rate = m.pricing_per_day / DAY
        a0 = rate * _math(math.exp, m.behaviour_slope * interest)
        a1 = rate * _math(math.exp, m.behaviour_slope * (interest + m.warm_up))
        c = self.created[lead]
        tw = np.where(np.isnan(d["answered"]), math.inf, d["answered"])
        after = tw > c
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if k == 0:
                head = np.where(after & (a0 > 0), a0 * (tw - c), 0.0)
                start = np.maximum(tw, c)
            else:
                e = np.ones(len(lead))
                e[after] = _math(math.exp, -k * (tw[after] - c[after]))
                head = np.where(after, a0 / k * (1.0 - e), 0.0)
            until = d["until"]
            rows = np.arange(len(lead))
            pricing = r["pricing"]
            for col in range(pricing.shape[1]):
                if not len(rows):
                    break
                s = pricing[lead[rows], col]
                first = (s <= head[rows]) & (a0[rows] > 0)
                t = np.full(len(rows), math.inf)
                if k == 0:
                    t[first] = c[rows][first] + s[first] / a0[rows][first]
                    rest = ~first & (a1[rows] > 0)
                    t[rest] = start[rows][rest] + (s[rest] - head[rows][rest]) / a1[rows][rest]
                else:
                    y = np.full(len(rows), -1.0)
                    y[first] = 1.0 - s[first] * k / a0[rows][first]
                    rest = ~first & (a1[rows] > 0)
                    y[rest] = e[rows][rest] - (s[rest] - head[rows][rest]) * k / a1[rows][rest]
                    good = y > 0
                    t[good] = c[rows][good] - _math(math.log, y[good]) / k
                keep = t <= until[rows]
                rows = rows[keep]
                self._extend_log(lead[rows], t[keep], C_PRICING)
        demo = d["demo"]
        shown = demo <= until
        self._extend_log(lead[shown], demo[shown], C_DEMO)

    def _stages_after(self, d: dict) -> None:
        """:meth:`_after_cadence` for the leads in ``d`` that did not opt out (float64 times
        only), and the lost stage of those that did."""
        pr, r, w = self.world.progression, self.r, self.world
        opted = d["opted"]
        self._extend_log(d["lead"][opted], d["last"][opted], C_LOST)
        lead, ans, demo, last = (d[k][~opted] for k in ("lead", "answered", "demo", "last"))
        never = np.isnan(ans) & (demo == math.inf)
        self._extend_log(lead[never], last[never] + DAY, C_LOST)  # cadence done, unanswered
        lead, ans, demo = lead[~never], ans[~never], demo[~never]
        if not len(lead):
            return
        u, z = r["u_stage"][lead].astype(np.float64), r["z_stage"][lead].astype(np.float64)
        fit = np.asarray(r["fit"], dtype=np.float64)[lead]
        f = np.where(np.isfinite(fit), fit - 0.5, 0.0)
        intent, source = self.intent_names[lead], self.source_names[lead]
        shared = pr.heterogeneity * np.asarray(r["noise"], dtype=np.float64)[lead]

        def moves(rows, k: int, tr, extra) -> tuple[np.ndarray, np.ndarray]:
            # Transition.logit, term by term in its order
            base = math.log(tr.p / (1.0 - tr.p)) + _lookup(tr.intent, intent[rows])
            base = base + tr.fit * f[rows] + _lookup(tr.source, source[rows])
            moved = u[rows, k] < _expit(base + extra + shared[rows])
            scale = np.where(moved, tr.days * DAY, tr.lost_days * DAY)
            sigma = np.where(moved, tr.sigma, tr.lost_sigma)
            return moved, scale * _math(math.exp, sigma * z[rows, k])

        rows = np.arange(len(lead))
        by_demo = demo < math.inf
        q_t = np.where(by_demo, demo, math.nan)
        asked = rows[~by_demo]
        if len(asked):
            minutes = (ans[asked] - np.asarray(r["times"])[lead[asked]]) / 60.0
            m_, v_ = zip(*pr.speed_knots, strict=True)
            moved, dt = moves(asked, 0, pr.qualify, np.interp(minutes, m_, v_))
            self._extend_log(lead[asked[~moved]], ans[asked[~moved]] + dt[~moved], C_LOST)
            q_t[asked[moved]] = ans[asked[moved]] + dt[moved]
            self._extend_log(lead[asked[moved]], q_t[asked[moved]], C_QUAL)
            rows = np.sort(np.concatenate([rows[by_demo], asked[moved]]))
        lead, q_t = lead[rows], q_t[rows]
        moved, dt = moves(rows, 1, pr.proposal, 0.0)
        # the account executive's first touch after the hand-off, before anything else happens
        wait = r["e_stage"][lead, 0].astype(np.float64) * w.ae_response_hours * HOUR
        half = 0.5 * dt
        self._extend_log(lead, q_t + np.where(half < wait, half, wait), C_TOUCH["call"], -1, -2)
        self._extend_log(lead[~moved], q_t[~moved] + dt[~moved], C_LOST)
        rows, lead, p_t = rows[moved], lead[moved], q_t[moved] + dt[moved]
        self._extend_log(lead, p_t, C_PROP)
        won, dt = moves(rows, 2, pr.win, 0.0)
        self._extend_log(lead[won], p_t[won] + dt[won], C_WON)
        self._extend_log(lead[~won], p_t[~won] + dt[~won], C_LOST)

    def _rates(self, interest: float) -> tuple[float, float, float]:
        """Per-second pricing and demo rates at ``interest``, and the cooling constant."""
        m = self.world.response
        boost = math.exp(m.behaviour_slope * interest)
        k = m.behaviour_slope * m.behaviour_decay / (7 * DAY)
        return m.pricing_per_day / DAY * boost, m.demo_per_day / DAY * boost, k

    @staticmethod
    def _invert(s: float, created: float, a0: float, a1: float, t_warm: float,
                k: float) -> float:
        """Time at which the integrated rate reaches ``s``: rate ``a0`` from creation, ``a1``
        from ``t_warm`` on, both decaying as exp(-k (t - created)); inf if never."""
        if k == 0:
            head = a0 * (t_warm - created) if t_warm > created and a0 > 0 else 0.0
            if s <= head and a0 > 0:
                return created + s / a0
            if a1 <= 0:
                return math.inf
            return max(t_warm, created) + (s - head) / a1
        head = (a0 / k * (1.0 - math.exp(-k * (t_warm - created)))
                if t_warm > created else 0.0)
        if s <= head and a0 > 0:
            y = 1.0 - s * k / a0
            return created - math.log(y) / k if y > 0 else math.inf
        if a1 <= 0:
            return math.inf
        t0 = max(t_warm, created)
        y = math.exp(-k * (t0 - created)) - (s - head) * k / a1
        return created - math.log(y) / k if y > 0 else math.inf

    def _first_demo(self, i: int, created: float, interest: float):
        _, a_demo, k = self._rates(interest)
        t = self._invert(float(self.r["demo"][i]), created, a_demo, a_demo,
                         math.inf, k)
        return t if t <= self.end else None

    def _log_behaviour(self, i: int, created: float, interest: float, warm_at, demo_at,
                       until: float):
        """Log pricing visits up to ``until`` (interest warms by ``warm_up`` once the lead has
        answered, at ``warm_at``) and the lead's demo request (``demo_at``) when it came
        before anyone reached the lead. After contact a lead qualifies in conversation (the
        progression's qualify transition), so no later demo request is drawn.

        Times come from the lead's cumulative unit exponentials by inverting the integrated
        rate, so they are common random numbers across arms.
        """
        m = self.world.response
        p0, _, k = self._rates(interest)
        p1, _, _ = self._rates(interest + m.warm_up)
        t_warm = warm_at if warm_at is not None else math.inf
        for s in self.r["pricing"][i]:
            t = self._invert(float(s), created, p0, p1, t_warm, k)
            if t > until:
                break
            self.log.add(i, t, C_PRICING)
        if demo_at is not None and demo_at <= until:
            self.log.add(i, demo_at, C_DEMO)

    def _email(self, i: int, j: int, t: float, interest: float) -> None:
        model, u = self.world.response, self.r["u_email"]
        s = model.behaviour_slope
        if u[i, 2 * j] < expit(logit(model.open_rate) + s * interest):
            t_open = t + 600.0 + 3 * HOUR * u[i, 2 * j + 1]
            self.log.add(i, t_open, C_OPEN)
            if u[i, 2 * j + 1] < expit(logit(model.click_rate) + s * interest):
                self.log.add(i, t_open + 90.0, C_CLICK)

    def _after_cadence(self, i, answered_at, demo_at, last_touch) -> None:
        """After the cadence: the progression's transitions (qualify, proposal, win) or a loss,
        each at a lognormal time (see :mod:`nurturelab.progression`)."""
        pr, log, r = self.world.progression, self.log, self.r
        if answered_at is None and demo_at is None:
            log.add(i, last_touch + DAY, C_LOST)  # cadence done, never answered
            return
        u, z = r["u_stage"][i], r["z_stage"][i]
        intent, fit, source = self.intent_names[i], float(r["fit"][i]), self.source_names[i]
        shared = pr.heterogeneity * float(r["noise"][i])

        def moves(k: int, tr, extra: float = 0.0) -> tuple[bool, float]:
            moved = float(u[k]) < expit(tr.logit(intent, fit, source) + extra + shared)
            days, sigma = (tr.days, tr.sigma) if moved else (tr.lost_days, tr.lost_sigma)
            return moved, days * DAY * math.exp(sigma * float(z[k]))

        if demo_at is not None:
            q_t = demo_at  # a demo request qualifies the lead (the funnel's exit criterion)
        else:
            minutes = (answered_at - r["times"][i]) / 60.0
            moved, dt = moves(0, pr.qualify, pr.speed(minutes))
            if not moved:
                log.add(i, answered_at + dt, C_LOST)
                return
            q_t = answered_at + dt
            log.add(i, q_t, C_QUAL)
        moved, dt = moves(1, pr.proposal)
        # the account executive's first touch after the hand-off, before anything else happens
        ae_t = q_t + min(float(r["e_stage"][i, 0]) * self.world.ae_response_hours * HOUR,
                         0.5 * dt)
        log.add(i, ae_t, C_TOUCH["call"], -1, -2)
        if not moved:
            log.add(i, q_t + dt, C_LOST)
            return
        p_t = q_t + dt
        log.add(i, p_t, C_PROP)
        won, dt = moves(2, pr.win)
        log.add(i, p_t + dt, C_WON if won else C_LOST)

    # ---- output ---------------------------------------------------------------------------
    def _result(self) -> SimulationResult:
        w, r = self.world, self.r
        for key in ("u_answer", "u_opt", "handling", "answer_delay", "pricing", "demo", "u_email",
                    "u_stage", "z_stage", "e_stage", "u_skip"):
            r.pop(key, None)  # the per-step random numbers are spent: free them first
        start = r["start"]
        k = r["n_warm"]  # warm-up leads were simulated before the measured ones
        n = len(r["times"]) - k
        # pd.to_timedelta(sec, unit="s"), the nanoseconds computed by _seconds_ns
        to_ts = lambda sec: start + pd.to_timedelta(_seconds_ns(sec).view("m8[ns]"))  # noqa: E731
        if self.replay is not None:  # the replayed leads as they were given
            leads = self.replay.leads.iloc[k:].reset_index(drop=True)
            ids = leads["lead_id"].to_numpy(dtype=object)
        else:
            width = max(6, len(str(n)))
            # one set of id strings for the three tables
            ids = np.char.add("S", np.char.zfill(np.arange(1, n + 1).astype(str),
                                                 width)).astype(object)
            leads = pd.DataFrame({
                "lead_id": ids,
                "created_at": to_ts(r["times"][k:]),
                "source": pd.Categorical(np.array(r["sources"], dtype=object)[r["src"][k:]]),
                "fit": r["fit"][k:],
                "intent": pd.Categorical(np.array(_INTENTS[:3])[r["intent"][k:]],
                                         dtype=INTENT_DTYPE),
                "industry": np.array(_INDUSTRIES, dtype=object)[r["industry"][k:]],
                "company_size": r["size"][k:],
                "persona": np.array(_PERSONAS, dtype=object)[r["persona"][k:]],
            })
        lg = self.log
        self.log = None
        t = np.frombuffer(lg.t, dtype=np.float64)
        lead = np.frombuffer(lg.lead, dtype=f"i{lg.lead.itemsize}")
        keep = (t <= self.end) & (lead >= k)
        lead = lead[keep] - k
        code = np.frombuffer(lg.code, dtype=np.int8)[keep]
        step = np.frombuffer(lg.step, dtype=np.int16)[keep]
        rep = np.frombuffer(lg.rep, dtype=np.int16)[keep]
        dur = np.frombuffer(lg.dur, dtype=np.float32)[keep]
        t = t[keep]
        del keep
        lg.clear()  # the log's own buffers (a lead still mid-cadence holds the log's appends)
        # by time, lead, then touches in cadence order (touches that fall due at the same
        # instant, e.g. deferred to Monday 09:00, go out in step order), then the rest by code
        is_touch_code = np.array([c[0] == "touch" for c in _CODES])[code]
        touch_step = np.where(is_touch_code, step, MAX_STEPS)
        order = np.lexsort((code, touch_step, lead, t))
        del is_touch_code, touch_step
        lead, code, step, rep, t = lead[order], code[order], step[order], rep[order], t[order]
        dur = dur[order]
        del order, lg  # only the sorted copies are needed from here
        table = np.array(_CODES, dtype=object)
        # rep codes: k >= 0 a rep of the team, -1 none (automation), -2 the account executive
        labels = np.array(["ae_01", None] + [f"rep_{k + 1:02d}" for k in range(w.team.reps)],
                          dtype=object)
        touches = w.cadence.touches
        # a touch carries its cadence step's content tag and personalisation level; other
        # events (and the account executive's hand-off call, which has no step) carry none
        content = np.array([tc.content for tc in touches] + [None], dtype=object)
        person = np.array([PERSONALISATION_DTYPE.categories.get_loc(tc.personalisation)
                           for tc in touches] + [-1], dtype=np.int8)
        arm = None
        if self.shared is not None:  # per lead: its arm, and its arm's cadence's steps
            lead_arm = np.asarray(self.arm_of)[lead + k]
            names = np.array(self.shared.arms, dtype=object)
            arm = _objects(names[lead_arm])
            leads["arm"] = names[np.asarray(self.arm_of[k:], dtype=np.int64)]
            width = len(touches) + 1  # the longest cadence's steps, and "no step"
            content = np.full((len(names), width), None, dtype=object)
            person = np.full((len(names), width), -1, dtype=np.int8)
            for a, cad in enumerate(self.shared.cadences.values()):
                content[a, :len(cad.touches)] = [tc.content for tc in cad.touches]
                person[a, :len(cad.touches)] = [
                    PERSONALISATION_DTYPE.categories.get_loc(tc.personalisation)
                    for tc in cad.touches]
            content, person = content[lead_arm], person[lead_arm]
            del lead_arm
        # the columns one by one, each array freed after its last use (codes as int8, which
        # Categorical.from_codes keeps as they are)
        type_code = np.array([TYPE_DTYPE.categories.get_loc(c[0]) for c in _CODES],
                             dtype=np.int8)[code]
        is_touch = type_code == TYPE_DTYPE.categories.get_loc("touch")
        step_idx = np.where((step >= 0) & is_touch, step, np.int16(len(touches)))
        del is_touch
        cols: dict[str, Any] = {"lead_id": _objects(ids[lead])}
        del lead
        cols["ts"] = to_ts(t)
        del t
        cols["type"] = pd.Categorical.from_codes(type_code, dtype=TYPE_DTYPE)
        del type_code
        cols["name"] = _objects(table[code, 1])
        cols["channel"] = pd.Categorical.from_codes(
            np.array([-1 if c[2] is None else CHANNEL_DTYPE.categories.get_loc(c[2])
                      for c in _CODES], dtype=np.int8)[code], dtype=CHANNEL_DTYPE)
        del code
        cols["step"] = pd.arrays.IntegerArray(np.where(step >= 0, step, 0).astype(np.int64),
                                              mask=step < 0)
        del step
        cols["rep_id"] = _objects(labels[rep.astype(np.int32) + 2])
        del rep
        cols["arm"] = arm
        cols["content"] = _objects(content[step_idx] if arm is None
                                   else content[np.arange(len(step_idx)), step_idx])
        cols["personalisation"] = pd.Categorical.from_codes(
            person[step_idx] if arm is None else person[np.arange(len(step_idx)), step_idx],
            dtype=PERSONALISATION_DTYPE)
        del step_idx, content, person, arm
        cols["duration_min"] = dur.astype(np.float64)
        del dur
        events = pd.DataFrame(cols, copy=False)
        del cols
        tk = self.tasks
        t_lead = np.frombuffer(tk["lead"], dtype=f"i{tk['lead'].itemsize}")
        mine = t_lead >= k
        tasks = pd.DataFrame({
            "lead_id": _objects(ids[t_lead[mine] - k]),
            "step": np.frombuffer(tk["step"], dtype=np.int16)[mine],
            "due": to_ts(np.frombuffer(tk["due"], dtype=np.float64)[mine]),
            "started": to_ts(np.frombuffer(tk["start"], dtype=np.float64)[mine]),
            "skipped": np.frombuffer(tk["skipped"], dtype=np.int8)[mine].astype(bool),
        })
        # wait_minutes: until a rep took the task, or until the lead gave up (skipped)
        tasks["wait_minutes"] = (tasks["started"] - tasks["due"]) / pd.Timedelta(minutes=1)
        tasks["started"] = tasks["started"].mask(tasks["skipped"])
        q_len = np.frombuffer(self.queue_len, dtype=f"i{self.queue_len.itemsize}")
        q_at = np.arange(len(q_len)) * HOUR
        after = q_at >= self.warm
        queue = pd.DataFrame({"ts": to_ts(q_at[after]), "queue_length": q_len[after]})
        hours = self._rep_hours()
        # utilisation: rep time worked over rep time on shift (plus overtime worked), both
        # while leads arrive: the idle tail after the last arrival would dilute it
        util = self.busy / (hours * HOUR + self.overtime) if hours else float("nan")
        if 1.0 < util < 1.0 + 1e-9:  # summation rounding of a fully busy team
            util = 1.0
        return SimulationResult(world=w, seed=self.seed, leads=leads, events=events,
                                tasks=tasks, queue=queue, utilisation=util, shared=self.shared)

    def _rep_hours(self) -> float:
        """Rep hours on shift from the warm-up's end to the last arrival."""
        team = self.world.team
        end = self.last_arrival
        if team.shift is None:
            return team.reps * max(0.0, end - self.warm) / HOUR
        total = 0.0
        for a, b in self.cal.shifts(team.shift, team.workdays):
            total += max(0.0, min(b, end) - max(a, self.warm))
        return team.reps * total / HOUR


def simulate(world: World | SharedWorld | None = None, seed: int = 0, *, progress=None,
             replay: Replay | None = None) -> SimulationResult:
    """Run a world once. Same world and seed, same tables, bit for bit.

    A :class:`SharedWorld` runs a live test of cadences: each lead follows its arm's cadence
    and the arms share (or split) the team.

    With ``replay`` the world's arrivals are not drawn: the given leads arrive when they were
    created (see :class:`Replay`), and the run ends at ``replay.until``.

    Examples
    --------
    >>> res = simulate(World(leads=200), seed=1)
    >>> res.leads.shape[0], sorted(res.events["type"].unique())
    (200, ['activity', 'response', 'stage', 'touch'])
    """
    return Simulation(world or World(), seed, replay).run(progress=progress)


def kpis(res: SimulationResult, out: pd.DataFrame | None = None) -> dict[str, float]:
    """Speed to first touch, contact, qualification, conversion, opt-outs and the team's load.

    Computed with :mod:`nurturelab.funnel` on the run's own tables, as a real export would be;
    pass ``out`` (the run's :func:`~nurturelab.funnel.outcomes`) if it is already computed.
    """
    from nurturelab.funnel import outcomes, speed_to_first_touch

    if out is None:
        out = outcomes(res.leads, res.events)
    speed = speed_to_first_touch(res.leads, res.events)
    ev = res.events
    touches = int((ev["type"] == "touch").sum())
    won = int(out["converted"].sum())
    opted = ev.loc[(ev["type"] == "response") & (ev["name"] == "opt_out"), "lead_id"].nunique()
    tasks = res.tasks
    return {
        "leads": float(len(out)),
        "speed_median_min": float(speed.median()),
        "speed_p90_min": float(speed.quantile(0.9)),
        "within_5min_pct": float(100 * speed.le(5).mean()),
        "contact_rate": float(out["stage_index"].ge(1).mean()),
        "qualification_rate": float(out["stage_index"].ge(2).mean()),
        "conversion_rate": float(out["converted"].mean()),
        "median_days_to_convert": float(out["time_to_convert_days"].median()),
        "touches_per_conversion": float(touches / won) if won else float("nan"),
        "opt_out_rate": float(opted / max(len(out), 1)),
        "rep_utilisation": float(res.utilisation),
        "tasks_skipped_pct": float(100 * tasks["skipped"].mean()) if len(tasks) else 0.0,
        "queue_mean": float(res.queue["queue_length"].mean()) if len(res.queue) else 0.0,
        "queue_max": float(res.queue["queue_length"].max()) if len(res.queue) else 0.0,
    }
