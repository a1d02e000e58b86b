"""How a lead answers a touch: the response model of the simulated world, and its fit from data.

The model is logistic. For a touch on channel *c*, the log-odds that the lead answers it
(a ``connect`` for a call or a voicemail call-back, a ``reply`` for an SMS or an e-mail) is ::

    logit p = logit(base[c])                      cold rate of a medium-intent lead of fit 0.5
            + interest                            intent[level] + fit * (fit - 0.5) + noise
            + weight[c] * speed(minutes since creation)   the speed-to-lead boost, from knots
            - spacing * exp(-gap / tau)           gap: hours since the last touch on channel c
            - fatigue * max(0, n7 - free)         n7: touches in the previous seven days
            + personalisation[level]              the touch's level: token or context
            - cooling * weeks since creation
            + warm_up once the lead has answered

Odds multiply, so every effect is a factor on the odds and probabilities stay in (0, 1). A touch
that does not get an answer may get an opt-out, with its own logistic model (base per channel,
raised by close spacing and fatigue).

The latent ``interest`` also drives behaviour: e-mail opens and clicks (per e-mail) and pricing
visits and demo requests (Poisson per day), so behaviour carries real signal for scoring. How a
contacted lead moves on (qualification, proposal, a won deal) is :mod:`nurturelab.progression`.

Defaults and where they come from
---------------------------------
The default world is a twin of the published speed-to-lead studies our users quote. Each figure
is reproduced from the world's own tables by varying the delay to the first touch and reading
contact and qualification with the same functions a real export goes through
(:func:`nurturelab.twin.published.published_benchmarks`; ``tests/test_published.py`` checks
each within a factor of 2):

================================================  =========  ===========================
figure                                            study      this world (95% CI), seed 0
================================================  =========  ===========================
odds of contact, call at 5 min vs 30 min          100        92 (85 to 100)
qualified, first try within 1 h vs 1-2 h          7          8.0 (7.3 to 8.6)
qualified, first try within 1 h vs 24 h or more   > 60       74 (65 to 85)
================================================  =========  ===========================

(``published_benchmarks(leads_per_arm=12000, late_factor=5)``: 12,000 leads at each delay
under a day, 60,000 at each of a day or more.)

(Lead Response Management study, MIT / InsideSales.com, 2007; Oldroyd, McElheran and Elkington,
"The Short Life of Online Sales Leads", Harvard Business Review, 2011.)

- ``speed_knots``: the contact boost by minutes since creation, for a call (an SMS gets half of
  it and an e-mail a quarter, ``speed_weight``: a lead who just filled in a form picks up the
  phone more readily than it answers an automated message). It falls by 4.9 log-odds from 5 to
  30 minutes (the reference lead's odds ratio is e^4.9, about 137; across leads of varied
  interest the tables show about 100), then keeps falling over hours and days (0.8 at 30
  minutes, 0.55 at 2 hours, 0.3 at a day, 0 from a week): contact does not stop getting harder
  after half an hour. The 1 h vs 1-2 h figure comes out of this curve with a small
  qualification shift; the 24-hour figure needs qualification itself to fall with the delay to
  contact (:data:`nurturelab.progression.DEFAULT_PROGRESSION`'s ``speed_knots``).
- ``base``: answer rates of a week-old lead, 0.4% per call, 0.2% per voicemail call-back, 0.4%
  per SMS and 0.3% per e-mail, so that a call at 5 minutes connects about half the time and one
  at 30 minutes about 1%, as the LRM study's ratio requires.
- ``intent``: ±0.7 log-odds (about ×2 odds) between declared intent levels; ``fit``: 1.5 log-odds
  across the full fit range. Chosen so that segments differ visibly, not from a study.
- ``personalisation``: ``{token: 0, context: 0.4}``, i.e. a touch written for the lead's
  context (their company, role, the page they came from) has e^0.4 ≈ 1.5 times the answer
  odds of one with merge tokens only (about 1.5 times the answer rate at these low rates).
  Outreach studies commonly report 1.3-2x more replies for personalised messages (e.g. the
  Backlinko and Pitchbox study of 12 million outreach e-mails, 2019: about a third more
  replies with a personalised body); those are vendor data with self-selected senders, so the
  default sits at the conservative end. Only the difference ``context - token`` is
  identified from data (``token`` is absorbed into ``base``); :func:`fit_response` estimates
  it when the events carry both levels.
- ``demo_per_day``: self-serve demo requests are rare (about one lead in 4,000 over its life):
  a demo request qualifies a lead without a conversation, and a world where many leads did so
  could not show HBR's 60-fold loss of qualification after a day.
- ``spacing`` 1.0 with ``tau_hours`` 6, ``fatigue`` 0.15 per touch beyond 3 a week, ``cooling``
  0.3 a week (behaviour decays at the same rate unless ``behaviour_cooling`` says otherwise),
  ``heterogeneity`` 0.5: judgement, meant to be replaced by :func:`fit_response`
  on a team's own export (``nurturelab calibrate`` does it).
- Opt-out base rates (0.2% call, 1.2% SMS, 0.6% e-mail per touch) follow typical unsubscribe and
  SMS opt-out rates.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from nurturelab import plots
from nurturelab.cadence import EVENT_NAME
from nurturelab.checks import need_columns, utc_timestamp
from nurturelab.result import Result

__all__ = [
    "CHANNELS",
    "DEFAULT_RESPONSE",
    "BehaviourFit",
    "ResponseFit",
    "ResponseModel",
    "fit_behaviour",
    "fit_response",
    "touch_table",
]

CHANNELS = ("call", "voicemail", "sms", "email")
INTENT_LEVELS = ("low", "medium", "high", "unknown")
PERSONALISATION_LEVELS = ("token", "context")  # as cadence.Touch and the events' column
_TOUCH_NAMES = {name: channel for channel, name in EVENT_NAME.items()}  # events.name -> channel
POSITIVE = ("connect", "reply")


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(
        v, bool) and math.isfinite(v)


def _check_prob(name: str, values: Mapping[str, float], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in values]
    if missing:
        raise ValueError(f"ResponseModel '{name}' lacks {missing}; it needs {list(keys)}")
    for k, v in values.items():
        if not 0 < float(v) < 1:
            raise ValueError(
                f"ResponseModel '{name}[{k}]' must be a probability in (0, 1). Got {v!r} instead."
            )


@dataclass(frozen=True)
class ResponseModel:
    """The parameters of the response model (see the module docstring for the formula).

    Examples
    --------
    >>> m = ResponseModel()
    >>> odds = lambda p: p / (1 - p)
    >>> p5 = m.probability("call", minutes=5, intent="medium", fit=0.5)
    >>> p30 = m.probability("call", minutes=30, intent="medium", fit=0.5)
    >>> round(odds(p5) / odds(p30))
    137
    """

    base: Mapping[str, float] = field(
        default_factory=lambda: {"call": 0.004, "voicemail": 0.002, "sms": 0.004,
                                 "email": 0.003})
    intent: Mapping[str, float] = field(
        default_factory=lambda: {"low": -0.7, "medium": 0.0, "high": 0.7, "unknown": 0.0})
    fit: float = 1.5
    heterogeneity: float = 0.5
    speed_knots: tuple[tuple[float, float], ...] = ((0.0, 5.72), (5.0, 5.72), (30.0, 0.8),
                                                    (60.0, 0.7), (120.0, 0.55),
                                                    (1440.0, 0.3), (10080.0, 0.0))
    speed_weight: Mapping[str, float] = field(
        default_factory=lambda: {"call": 1.0, "voicemail": 1.0, "sms": 0.5, "email": 0.25})
    spacing: float = 1.0
    tau_hours: float = 6.0
    fatigue: float = 0.15
    fatigue_free: int = 3
    personalisation: Mapping[str, float] = field(
        default_factory=lambda: {"token": 0.0, "context": 0.4})
    cooling: float = 0.3
    warm_up: float = 0.5
    opt_out_base: Mapping[str, float] = field(
        default_factory=lambda: {"call": 0.002, "voicemail": 0.001, "sms": 0.012,
                                 "email": 0.006})
    opt_out_spacing: float = 1.0
    opt_out_fatigue: float = 0.3
    # behaviour: P(open | email) and P(click | open) at interest 0; Poisson rates per day
    open_rate: float = 0.30
    click_rate: float = 0.20
    pricing_per_day: float = 0.02
    demo_per_day: float = 0.00001
    behaviour_slope: float = 1.0
    # weekly decay of behaviour (pricing visits, demo requests); None: the same as cooling
    behaviour_cooling: float | None = None

    def __post_init__(self) -> None:
        _check_prob("base", self.base, CHANNELS)
        _check_prob("opt_out_base", self.opt_out_base, CHANNELS)
        missing = [k for k in INTENT_LEVELS if k not in self.intent]
        if missing:
            raise ValueError(f"ResponseModel 'intent' lacks {missing}; it needs "
                             f"{list(INTENT_LEVELS)}")
        for name in ("open_rate", "click_rate"):
            v = getattr(self, name)
            if not 0 < v < 1:
                raise ValueError(f"ResponseModel '{name}' must be a probability in (0, 1). "
                                 f"Got {v!r} instead.")
        for name in ("heterogeneity", "spacing", "fatigue", "cooling", "warm_up",
                     "opt_out_spacing",
                     "opt_out_fatigue", "pricing_per_day", "demo_per_day", "tau_hours"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"ResponseModel '{name}' must be a finite number >= 0. "
                                 f"Got {v!r} instead.")
        knots = tuple((float(m), float(v)) for m, v in self.speed_knots)
        mins = [m for m, _ in knots]
        vals = [v for _, v in knots]
        if len(knots) < 2 or mins != sorted(mins) or len(set(mins)) != len(mins) or mins[0] < 0:
            raise ValueError(
                "ResponseModel 'speed_knots' must be at least two (minutes, log-odds) pairs with "
                f"distinct minutes >= 0 in increasing order. Got {self.speed_knots!r} instead."
            )
        if any(b > a + 1e-12 for a, b in zip(vals, vals[1:], strict=False)):
            raise ValueError(
                "ResponseModel 'speed_knots' must be monotone: the boost may not rise with the "
                f"delay. Got {self.speed_knots!r} instead."
            )
        object.__setattr__(self, "speed_knots", knots)
        levels = set(PERSONALISATION_LEVELS)
        if not isinstance(self.personalisation, Mapping) or set(
                self.personalisation) != levels or any(
                not _finite(v) for v in self.personalisation.values()):
            raise ValueError(
                "ResponseModel 'personalisation' must give each level "
                f"{list(PERSONALISATION_LEVELS)} (and no other) a finite log-odds shift, e.g. "
                f"{{'token': 0.0, 'context': 0.4}}. Got {self.personalisation!r} instead.")
        missing = [k for k in CHANNELS if k not in self.speed_weight]
        if missing or any(not (0 <= float(v) <= 1) for v in self.speed_weight.values()):
            raise ValueError(f"ResponseModel 'speed_weight' must give every channel "
                             f"{list(CHANNELS)} a weight in [0, 1]. Got {self.speed_weight!r}.")
        for name in ("base", "intent", "personalisation", "opt_out_base", "speed_weight"):
            object.__setattr__(self, name, dict(getattr(self, name)))
        bc = self.behaviour_cooling
        if bc is not None and not (_finite(bc) and bc >= 0):
            raise ValueError(f"ResponseModel 'behaviour_cooling' must be a finite number >= 0 "
                             f"or None. Got {bc!r} instead.")

    @property
    def behaviour_decay(self) -> float:
        """The weekly decay of behaviour: ``behaviour_cooling``, else ``cooling``."""
        return self.cooling if self.behaviour_cooling is None else float(self.behaviour_cooling)

    # ---- the pieces, as plain Python floats (the simulation calls these per touch) --------
    def speed(self, minutes: float) -> float:
        """Speed-to-lead boost (log-odds) at ``minutes`` since creation; flat outside the knots."""
        knots = self.speed_knots
        if minutes <= knots[0][0]:
            return knots[0][1]
        if minutes >= knots[-1][0]:
            return knots[-1][1]
        i = bisect_right([m for m, _ in knots], minutes)
        (m0, v0), (m1, v1) = knots[i - 1], knots[i]
        return v0 + (v1 - v0) * (minutes - m0) / (m1 - m0)

    def lead_interest(self, intent: str | None, fit: float | None, noise: float = 0.0) -> float:
        """A lead's latent interest at creation (log-odds): intent, fit and unobserved noise."""
        level = intent if intent in self.intent else "unknown"
        f = 0.0 if fit is None or (isinstance(fit, float) and math.isnan(fit)) else fit - 0.5
        return self.intent[level] + self.fit * f + self.heterogeneity * noise

    def touch_logit(
        self,
        channel: str,
        *,
        minutes: float,
        interest: float,
        gap_hours: float = math.inf,
        recent: int = 0,
        personalisation: str = "token",
    ) -> float:
        """Log-odds that a touch gets an answer (see the module docstring)."""
        x = logit(self.base[channel]) + interest + self.speed_weight[channel] * self.speed(
            minutes)
        if gap_hours < math.inf:
            x -= self.spacing * math.exp(-gap_hours / self.tau_hours)
        x -= self.fatigue * max(0, recent - self.fatigue_free)
        try:
            x += self.personalisation[personalisation]
        except KeyError:
            raise ValueError(f"touch_logit 'personalisation' must be one of "
                             f"{list(PERSONALISATION_LEVELS)}. Got {personalisation!r} "
                             "instead.") from None
        x -= self.cooling * minutes / (7 * 24 * 60)
        return x

    def opt_out_logit(self, channel: str, *, gap_hours: float = math.inf, recent: int = 0) -> float:
        """Log-odds of an opt-out after a touch that got no answer."""
        x = logit(self.opt_out_base[channel])
        if gap_hours < math.inf:
            x += self.opt_out_spacing * math.exp(-gap_hours / self.tau_hours)
        x += self.opt_out_fatigue * max(0, recent - self.fatigue_free)
        return x

    def probability(
        self,
        channel: str,
        *,
        minutes: float,
        intent: str | None = "medium",
        fit: float | None = 0.5,
        **kwargs: Any,
    ) -> float:
        """P(answer) for a lead of average unobserved interest."""
        interest = self.lead_interest(intent, fit)
        return expit(self.touch_logit(channel, minutes=minutes, interest=interest, **kwargs))

    def speed_curve(self, minutes: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`speed`."""
        m, v = zip(*self.speed_knots, strict=True)
        return np.interp(np.asarray(minutes, dtype=float), m, v)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["speed_knots"] = [list(k) for k in self.speed_knots]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "response") -> ResponseModel:
        """Build from a mapping (YAML); unknown keys are errors naming the key."""
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ValueError(f"{source}: unknown response parameter(s) {unknown}; "
                             f"allowed: {sorted(allowed)}")
        kw = dict(d)
        if "speed_knots" in kw:
            kw["speed_knots"] = tuple(tuple(k) for k in kw["speed_knots"])
        for name in ("base", "intent", "personalisation", "opt_out_base", "speed_weight"):
            if name in kw:  # partial maps override the defaults key by key
                kw[name] = {**getattr(cls(), name), **kw[name]}
        try:
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc


DEFAULT_RESPONSE = ResponseModel()


# --------------------------------------------------------------------------------------------
# Fitting from an events table
# --------------------------------------------------------------------------------------------
def touch_table(leads: pd.DataFrame, events: pd.DataFrame, *, tau_hours: float = 6.0,
                fatigue_free: int = 3) -> pd.DataFrame:
    """One row per outbound touch with its covariates and outcome, for fitting.

    Columns: ``lead_id``, ``channel`` (call/voicemail/sms/email), ``minutes`` since the lead's
    creation, ``gap_hours`` since the previous touch on that channel (inf if none), ``recent``
    (touches in the previous 7 days), ``personalisation`` (the events' ``personalisation``
    column, ``token`` where it is missing or the events lack the column), ``intent``, ``fit``,
    ``answered`` (a connect or reply is attributed to it: the latest touch before the response)
    and ``opted_out``.
    """
    for col in ("lead_id", "ts", "type", "name"):
        if col not in events.columns:
            raise KeyError(f"touch_table needs events column {col!r}")
    ev = events
    is_touch = ev["type"].astype("object").eq("touch") & ev["name"].isin(list(_TOUCH_NAMES))
    cols = ["lead_id", "ts", "name"] + [c for c in ("step", "personalisation") if c in ev]
    t = ev.loc[is_touch, cols].copy()
    t["channel"] = t["name"].map(_TOUCH_NAMES)
    # touches at the same instant (e.g. all deferred to Monday 09:00) in cadence order, so a
    # response goes to the last of them that went out
    order = ["lead_id", "ts"] + (["step"] if "step" in t else [])
    t = t.sort_values(order, kind="stable").reset_index(drop=True)
    t["touch_no"] = np.arange(len(t))
    created = leads.set_index("lead_id")["created_at"]
    t["minutes"] = (t["ts"] - t["lead_id"].map(created)) / pd.Timedelta(minutes=1)
    prev = t.groupby(["lead_id", "channel"], sort=False)["ts"].shift()
    t["gap_hours"] = ((t["ts"] - prev) / pd.Timedelta(hours=1)).fillna(np.inf)
    # touches of the same lead in the previous 7 days: touch_no runs consecutively within a
    # lead, so the count is touch_no minus the number of the lead's first touch in the window
    window = t[["lead_id", "ts", "touch_no"]].assign(since=t["ts"] - pd.Timedelta(days=7))
    first_in = pd.merge_asof(
        window.sort_values("since", kind="stable"),
        t[["lead_id", "ts", "touch_no"]].rename(columns={"touch_no": "first_no", "ts": "at"})
        .sort_values("at", kind="stable"),
        left_on="since", right_on="at", by="lead_id", direction="forward",
        allow_exact_matches=False,  # strictly within the last 7 days, as the simulation counts
    ).set_index("touch_no")["first_no"]
    t["recent"] = t["touch_no"] - first_in.reindex(t["touch_no"]).to_numpy().astype(np.int64)
    if "personalisation" not in t:
        t["personalisation"] = "token"
    t["personalisation"] = t["personalisation"].astype("object").fillna("token")
    lt = leads.set_index("lead_id")
    t["intent"] = t["lead_id"].map(lt["intent"].astype("object")).fillna("unknown")
    t["fit"] = t["lead_id"].map(lt["fit"]).astype(float)

    # attribute responses to the latest touch at or before them
    is_resp = ev["type"].astype("object").eq("response")
    resp = ev.loc[is_resp, ["lead_id", "ts", "name"]].rename(columns={"name": "response"})
    t["answered"] = False
    t["opted_out"] = False
    if len(resp):
        m = pd.merge_asof(
            resp.sort_values(["ts", "lead_id"], kind="stable"),
            t[["lead_id", "ts", "touch_no"]].sort_values(["ts", "touch_no"], kind="stable"),
            on="ts", by="lead_id", direction="backward",
        ).dropna(subset=["touch_no"])
        no = m["touch_no"].astype(int)
        t.loc[no[m["response"].isin(POSITIVE)].unique(), "answered"] = True
        t.loc[no[m["response"].eq("opt_out")].unique(), "opted_out"] = True
    return t.drop(columns=["name", "touch_no"] + (["step"] if "step" in t else []))


def _hat_basis(minutes: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation weights of each knot (flat outside), one column a knot."""
    eye = np.eye(len(knots))
    return np.column_stack([np.interp(minutes, knots, eye[k]) for k in range(len(knots))])


@dataclass(frozen=True, repr=False)
class ResponseFit(Result):
    """A fitted response model: ``model`` (a :class:`ResponseModel`), ``summary`` (one row per
    fitted parameter: estimate, std_err, ci_low, ci_high), the touches it used, and ``notes``:
    one line per parameter the data could not identify, which keeps ``base_model``'s value."""

    model: ResponseModel
    table: pd.DataFrame
    n_touches: int = 0
    n_answered: int = 0
    notes: tuple[str, ...] = ()
    extent: Mapping[str, float] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per fitted parameter: estimate, std_err, ci_low, ci_high. ``extent`` holds
        each channel's latest fitted touch, in minutes after creation (how far along the speed
        curve the export saw it)."""
        return self.table

    def _describe(self) -> str:
        return (f"{self.n_touches:,d} touches ({self.n_answered:,d} answered), "
                f"{len(self.table)} parameters")

    def _header(self) -> list[str]:
        return [repr(self), *(f"note: {n}" for n in self.notes)]

    def covers(self, truth: ResponseModel) -> pd.Series:
        """For each fitted parameter, whether ``truth``'s value lies in its interval."""
        true = pd.Series({k: _param_value(truth, k) for k in self.table.index})
        return (self.table["ci_low"] <= true) & (true <= self.table["ci_high"])

    def plot(self, ax=None):
        """The fitted speed-to-lead boost with its knots' intervals; returns the axes."""
        ax = plots.axes(ax, figsize=(6, 3.5))
        rows = self.table[self.table.index.str.startswith("speed@")]
        mins = [float(i.split("@")[1]) for i in rows.index]
        ax.plot(mins, rows["estimate"], marker="o", label="fitted")
        ax.fill_between(mins, rows["ci_low"], rows["ci_high"], alpha=0.25, label="95% CI")
        ax.set_xlabel("minutes since creation")
        ax.set_ylabel("log-odds boost")
        ax.set_title("Speed to lead")
        ax.legend()
        return ax


def _param_value(m: ResponseModel, key: str) -> float:
    kind, _, arg = key.partition("@")
    if kind == "base":  # the intercept absorbs the reference levels and the cold speed level
        return (logit(m.base[arg]) + m.intent["medium"] + m.personalisation["token"]
                + m.speed_weight[arg] * m.speed_knots[-1][1])
    if kind == "opt_out_base":
        return logit(m.opt_out_base[arg])
    if kind == "intent":
        return m.intent[arg] - m.intent["medium"]
    if kind == "personalisation":
        return m.personalisation[arg] - m.personalisation["token"]
    if kind == "speed":
        return m.speed(float(arg)) - m.speed_knots[-1][1]
    return float(getattr(m, kind))


def fit_response(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    knots: tuple[float, ...] | None = None,
    base_model: ResponseModel = DEFAULT_RESPONSE,
    alpha: float = 0.05,
) -> ResponseFit:
    """Fit the answer and opt-out models by logistic regression (statsmodels GLM).

    It uses the touches of the nurturing cadence: each lead's touches up to its first answer
    and before a demo request or stage change. The answer model's coefficients are the channel
    base rates (as log-odds), the intent shifts
    against medium, the fit slope, the speed boost at each knot (against the last knot, which is
    the cold rate), the spacing loss, fatigue, personalisation (``context`` against ``token``;
    only when the events carry a ``personalisation`` column with both levels among the fitted
    touches) and cooling; the opt-out model's are its base rates, spacing and fatigue. A
    parameter the data cannot identify keeps ``base_model``'s value and is named in the
    result's ``notes``. ``tau_hours``, ``fatigue_free`` and the channels'
    ``speed_weight`` are taken from ``base_model``, not fitted.
    Unobserved heterogeneity is not modelled: with it, the fitted effects are
    population averages, shrunk slightly towards zero against the simulation's conditional ones.

    Parameters
    ----------
    knots : tuple of float, optional
        Minutes of the speed curve's knots; those of ``base_model`` by default.

    Returns
    -------
    ResponseFit
        ``model`` has every fitted value and ``base_model``'s for the rest.
    """

    tau, free = base_model.tau_hours, base_model.fatigue_free
    t = touch_table(leads, events, tau_hours=tau, fatigue_free=free)
    # the cadence's touches only: up to the lead's first answer, and before a demo request or
    # stage change (after a handoff, an account executive's touches follow other rules)
    ev = events
    typ = ev["type"].astype("object")
    answer = ev.loc[typ.eq("response") & ev["name"].isin(POSITIVE)].groupby("lead_id")["ts"].min()
    moved = ev.loc[typ.eq("stage") | ev["name"].eq("demo_request")].groupby("lead_id")["ts"].min()
    inf = pd.Timestamp.max.tz_localize("UTC")
    before_answer = t["ts"] <= t["lead_id"].map(answer).fillna(inf)
    before_move = t["ts"] < t["lead_id"].map(moved).fillna(inf)
    t = t[before_answer & before_move].reset_index(drop=True)
    if t.empty or not t["answered"].any():
        raise ValueError("fit_response needs touches and at least one answer in the events")
    knot_min = np.asarray(knots or [m for m, _ in base_model.speed_knots], dtype=float)
    X = pd.DataFrame(index=t.index)
    for ch in CHANNELS:
        X[f"base@{ch}"] = (t["channel"] == ch).astype(float)
    for lvl in ("low", "high", "unknown"):
        X[f"intent@{lvl}"] = (t["intent"] == lvl).astype(float)
    X["fit"] = (t["fit"] - 0.5).fillna(0.0)
    hat = _hat_basis(t["minutes"].to_numpy(), knot_min)
    weight = t["channel"].map(base_model.speed_weight).to_numpy(dtype=float)
    for k, m in enumerate(knot_min[:-1]):
        X[f"speed@{m:g}"] = hat[:, k] * weight
    gap = np.exp(-t["gap_hours"].to_numpy() / tau)
    X["spacing"] = -gap
    X["fatigue"] = -np.maximum(0, t["recent"].to_numpy() - free)
    notes = []
    levels = set(t["personalisation"])
    if levels >= {"token", "context"}:
        X["personalisation@context"] = (t["personalisation"] == "context").astype(float)
    else:
        why = ("the events have no 'personalisation' column" if "personalisation" not in events
               else f"the fitted touches are all {sorted(levels)[0]!r}")
        shift = base_model.personalisation["context"] - base_model.personalisation["token"]
        notes.append(f"personalisation not fitted ({why}; both 'token' and 'context' are "
                     f"needed): kept base_model's context shift of {shift:+.3g} log-odds")
    X["cooling"] = -t["minutes"].to_numpy() / (7 * 24 * 60)
    constant = [c for c in X.columns if not (X[c] != 0).any()]
    if constant:
        notes.append(f"not fitted (zero for every touch): {constant}; kept base_model's values")
    X = X.drop(columns=constant)
    res = _logit_fit(t["answered"].astype(float), X)

    no = ~t["answered"]
    Xo = pd.DataFrame(index=t.index[no])
    for ch in CHANNELS:
        Xo[f"opt_out_base@{ch}"] = (t.loc[no, "channel"] == ch).astype(float)
    Xo["opt_out_spacing"] = gap[no.to_numpy()]
    Xo["opt_out_fatigue"] = np.maximum(0, t.loc[no, "recent"].to_numpy() - free)
    keep = (Xo != 0).any(axis=0) & np.array([
        (not c.startswith("opt_out_base@")) or t.loc[no & (t["channel"] == c.split("@")[1]),
                                                   "opted_out"].any()
        for c in Xo.columns])
    Xo = Xo.loc[:, keep]
    tables = [_coef_table(res, alpha)]
    if t.loc[no, "opted_out"].any() and Xo.shape[1]:
        res_o = _logit_fit(t.loc[no, "opted_out"].astype(float), Xo)
        tables.append(_coef_table(res_o, alpha))
    summary = pd.concat(tables)
    model = _model_from(summary["estimate"], base_model, knot_min)
    extent = {str(k): float(v) for k, v in t.groupby("channel")["minutes"].max().items()}
    return ResponseFit(model=model, table=summary, n_touches=len(t),
                       n_answered=int(t["answered"].sum()), notes=tuple(notes), extent=extent)


def _logit_fit(y: pd.Series, X: pd.DataFrame):
    """A logistic regression by Newton's method with the analytic Hessian (statsmodels'
    Logit): the same estimates and standard errors as a binomial GLM, in a handful of
    iterations instead of IRLS's weighted least squares at each of many; the GLM where Newton
    does not converge (near-separation)."""
    import warnings

    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    with np.errstate(over="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        try:
            res = sm.Logit(y, X).fit(method="newton", maxiter=60, disp=0)
            if res.mle_retvals.get("converged", False) and np.isfinite(res.bse).all():
                return res
        except (ConvergenceWarning, np.linalg.LinAlgError, ValueError):
            pass
    with np.errstate(over="ignore"):  # exp overflow in the link for far-out linear predictors
        return sm.GLM(y, X, family=sm.families.Binomial()).fit()


def _coef_table(res, alpha: float) -> pd.DataFrame:
    ci = res.conf_int(alpha=alpha)
    return pd.DataFrame({"estimate": res.params, "std_err": res.bse,
                         "ci_low": ci[0], "ci_high": ci[1]}).rename_axis("parameter")


def _model_from(est: pd.Series, base: ResponseModel, knot_min: np.ndarray) -> ResponseModel:
    kw: dict[str, Any] = {}
    kw["base"] = {**base.base, **{k.split("@")[1]: 1 / (1 + math.exp(-v))
                                  for k, v in est.items() if k.startswith("base@")}}
    kw["opt_out_base"] = {**base.opt_out_base,
                          **{k.split("@")[1]: 1 / (1 + math.exp(-v))
                             for k, v in est.items() if k.startswith("opt_out_base@")}}
    kw["intent"] = {**base.intent, "medium": 0.0,
                    **{k.split("@")[1]: v for k, v in est.items() if k.startswith("intent@")}}
    # token is the reference level (absorbed into base); unfitted, the shift is base's
    kw["personalisation"] = {
        "token": 0.0,
        "context": float(est.get("personalisation@context", base.personalisation["context"]
                                 - base.personalisation["token"])),
    }
    vals = [float(est.get(f"speed@{m:g}", 0.0)) for m in knot_min[:-1]] + [0.0]
    # keep the fitted curve monotone (isotonic, non-increasing) so it is a valid model
    from sklearn.isotonic import IsotonicRegression

    mono = IsotonicRegression(increasing=False).fit_transform(knot_min, vals)
    kw["speed_knots"] = tuple(zip(knot_min.tolist(), mono.tolist(), strict=True))
    for name in ("fit", "spacing", "fatigue", "cooling", "opt_out_spacing", "opt_out_fatigue"):
        if name in est:
            kw[name] = max(float(est[name]), 0.0) if name != "fit" else float(est[name])
    return replace(base, **kw)


# --------------------------------------------------------------------------------------------
# Behaviour: e-mail opens and clicks, pricing visits, demo requests
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class BehaviourFit(Result):
    """The behaviour rates fitted from an export: ``model`` (the given response model with the
    fitted ``open_rate``, ``click_rate``, ``pricing_per_day`` and ``demo_per_day``), ``table``
    (estimate, std_err, ci_low, ci_high, n per rate) and ``notes``."""

    model: ResponseModel
    table: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        """One row per fitted rate, on the model's scale (probabilities, events a day)."""
        return self.table

    def _describe(self) -> str:
        return f"{len(self.table)} behaviour rates"

    def _header(self) -> list[str]:
        return [repr(self), *(f"note: {n}" for n in self.notes)]

    def plot(self, ax=None):
        """Each fitted rate with its interval, relative to its estimate."""
        ax = plots.axes(ax, figsize=(6, 3))
        t = self.table
        y = np.arange(len(t))
        ax.errorbar(np.ones(len(t)), y, xerr=[1 - t["ci_low"] / t["estimate"],
                                              t["ci_high"] / t["estimate"] - 1], fmt="o")
        ax.set_yticks(y, list(t.index))
        ax.set_xlabel("interval relative to the estimate")
        return ax


def _rate(y: np.ndarray, offset: np.ndarray, kind: str):
    """An intercept-only GLM with an offset: ``binomial`` (logit), ``first`` (complementary
    log-log: P(at least one event of a Poisson process)) or ``poisson``; its fit."""
    import statsmodels.api as sm

    X = np.ones((len(y), 1))
    if kind == "binomial":
        return sm.GLM(y.astype(float), X, family=sm.families.Binomial(), offset=offset).fit()
    if kind == "poisson":
        return sm.GLM(y.astype(float), X, family=sm.families.Poisson(), offset=offset).fit()
    hit = (y > 0).astype(float)
    start = math.log(max(hit.sum(), 0.5) / np.exp(offset).sum())
    family = sm.families.Binomial(link=sm.families.links.CLogLog())
    return sm.GLM(hit, X, family=family, offset=offset).fit(start_params=[start])


def _followed(first: pd.DataFrame, then: pd.DataFrame,
              within: pd.Timedelta | None) -> tuple[pd.DataFrame, np.ndarray]:
    """For each row of ``first`` (lead_id, ts), whether a row of ``then`` is attributed to it:
    the latest ``first`` of the same lead at or before it (and within ``within``)."""
    f = first[["lead_id", "ts"]].sort_values("ts", kind="stable").reset_index(drop=True)
    f["no"] = np.arange(len(f))
    m = pd.merge_asof(then[["lead_id", "ts"]].sort_values("ts", kind="stable"),
                      f.rename(columns={"ts": "at"}), left_on="ts", right_on="at", by="lead_id",
                      direction="backward").dropna(subset=["no"])
    if within is not None:
        m = m[(m["ts"] - m["at"]) <= within]
    hit = np.zeros(len(f), dtype=bool)
    hit[m["no"].astype(int).unique()] = True
    return f, hit


def _visits_and_decay(t_visit: np.ndarray, lead_of_visit: np.ndarray, level: np.ndarray,
                      split: np.ndarray, t_end: np.ndarray, warm: float):
    """Joint maximum likelihood of a Poisson process's rate ``r`` and decay ``k`` (per day):
    intensity ``r * exp(level_i) * w_i(t) * exp(-k t)``, ``w`` = ``exp(warm)`` after the
    lead's answer at ``split_i``, observed over ``[0, t_end_i]``. Returns ``(log r, k)`` and
    their covariance."""
    from scipy.optimize import minimize
    from statsmodels.tools.numdiff import approx_hess

    w_visit = np.where(t_visit > split[lead_of_visit], warm, 0.0)
    base_sum = float(np.sum(level[lead_of_visit] + w_visit))
    n = len(t_visit)
    t_sum = float(np.sum(t_visit))
    scale = np.exp(level)

    def cooled(a, b, k):
        if abs(k) < 1e-9:
            return b - a
        return (np.exp(-k * a) - np.exp(-k * b)) / k

    def neg(theta):
        log_r, k = theta
        area = cooled(0.0, split, k) + math.exp(warm) * cooled(split, t_end, k)
        return -(n * log_r + base_sum - k * t_sum - math.exp(log_r) * float(np.sum(scale * area)))

    area0 = float(np.sum(scale * (split + math.exp(warm) * (t_end - split))))
    res = minimize(neg, np.array([math.log(max(n, 1) / area0), 0.01]), method="Nelder-Mead",
                   options={"xatol": 1e-8, "fatol": 1e-8, "maxiter": 4000})
    res = minimize(neg, res.x, method="BFGS")
    cov = np.linalg.inv(approx_hess(res.x, neg))
    return res.x, cov


_LOGIT = "logit"
_LOG = "log"


def _behaviour_estimates(lt: pd.DataFrame, ev: pd.DataFrame, model: ResponseModel, as_of,
                         open_window_days: float, fit_cooling: bool, notes: list | None):
    """Each behaviour rate's estimate on its fitted scale: name -> (value, std_err, n, scale),
    the scale ``logit`` or ``log`` (``behaviour_cooling`` is linear: scale None)."""
    s = model.behaviour_slope
    intent = lt["intent"].astype("object").map(model.intent).fillna(model.intent["unknown"])
    fit = (lt["fit"].astype(float) - 0.5).fillna(0.0) if "fit" in lt else 0.0
    interest = (intent + model.fit * fit).astype(float)
    never = pd.Timestamp.max.tz_localize("UTC")
    answered = ev.loc[ev["type"].astype("object").eq("response")
                      & ev["name"].isin(POSITIVE)].groupby("lead_id")["ts"].min()
    out: dict[str, tuple] = {}
    say = notes.append if notes is not None else (lambda line: None)

    def take(name, res, n, scale):
        out[name] = (float(np.asarray(res.params)[0]), float(np.asarray(res.bse)[0]), int(n),
                     scale)

    def offset(frame):  # behaviour_slope x the interest at each row's time
        warm = (frame["ts"] > frame["lead_id"].map(answered).fillna(never)).to_numpy()
        return s * (frame["lead_id"].map(interest).to_numpy()
                    + np.where(warm, model.warm_up, 0.0))

    emails = ev[ev["type"].astype("object").eq("touch") & ev["name"].eq("email")]
    opens, clicks = ev[ev["name"].eq("email_open")], ev[ev["name"].eq("link_click")]
    if len(emails) and len(opens):
        sent, opened = _followed(emails, opens, pd.Timedelta(days=open_window_days))
        closed = (sent["ts"] + pd.Timedelta(days=open_window_days) <= as_of).to_numpy()
        take("open_rate", _rate(opened[closed], offset(sent)[closed], "binomial"),
             closed.sum(), _LOGIT)
        if len(clicks):
            seen, clicked = _followed(opens, clicks, None)
            take("click_rate", _rate(clicked, offset(seen), "binomial"), len(seen), _LOGIT)
        else:
            say(f"click_rate: no link_click events; kept {model.click_rate:g}")
    else:
        say("open_rate, click_rate: no e-mail touches with opens; kept "
            f"{model.open_rate:g} and {model.click_rate:g}")

    # pricing visits over each lead's life; demo requests before the first contact
    k = s * model.behaviour_decay / 7.0  # per day
    created = lt["created_at"]
    opted = ev.loc[ev["name"].eq("opt_out")].groupby("lead_id")["ts"].min().reindex(lt.index)
    t_end = ((opted.fillna(as_of).clip(upper=as_of) - created)
             / pd.Timedelta(days=1)).clip(lower=0).to_numpy()
    t_ans = ((answered.reindex(lt.index) - created) / pd.Timedelta(days=1)).to_numpy()
    split = np.where(np.isnan(t_ans), t_end, np.minimum(t_ans, t_end))
    visits = ev.loc[ev["name"].eq("pricing_visit"), ["lead_id", "ts"]]
    if fit_cooling and len(visits) >= 50:
        pos = lt.index.get_indexer(visits["lead_id"])
        t_visit = (visits["ts"].to_numpy("datetime64[ns]")
                   - created.to_numpy("datetime64[ns]")[pos]) / np.timedelta64(1, "D")
        (log_r, k), cov = _visits_and_decay(t_visit.astype(float), pos,
                                            s * interest.to_numpy(), split, t_end,
                                            s * model.warm_up)
        out["pricing_per_day"] = (float(log_r), float(np.sqrt(cov[0, 0])), len(lt), _LOG)
        out["behaviour_cooling"] = (float(k * 7.0 / s), float(np.sqrt(cov[1, 1]) * 7.0 / s),
                                    len(visits), None)
        k = s * max(out["behaviour_cooling"][0], 0.0) / 7.0

    def cooled(a, b):  # the integral of exp(-k t) over [a, b], in days
        return (b - a) if k == 0 else (np.exp(-k * a) - np.exp(-k * b)) / k

    exposures = {"pricing_per_day": cooled(0.0, split)
                 + math.exp(s * model.warm_up) * cooled(split, t_end),
                 "demo_per_day": cooled(0.0, split)}
    for name, event, kind in (("pricing_per_day", "pricing_visit", "poisson"),
                              ("demo_per_day", "demo_request", "first")):
        if name in out:  # fitted with the decay above
            continue
        counts = ev.loc[ev["name"].eq(event)].groupby("lead_id").size().reindex(
            lt.index, fill_value=0).to_numpy()
        if counts.sum() == 0:
            say(f"{name}: no {event} events; kept {getattr(model, name):g}")
            continue
        ok = exposures[name] > 0
        take(name, _rate(counts[ok], np.log(exposures[name][ok]) + s * interest.to_numpy()[ok],
                         kind), ok.sum(), _LOG)
    return out


def fit_behaviour(leads: pd.DataFrame, events: pd.DataFrame, model: ResponseModel, *,
                  as_of: Any = None, alpha: float = 0.05, open_window_days: float = 3.0,
                  fit_cooling: bool = False, interest_se: Mapping[str, float] | None = None,
                  draws: int = 20, seed: int = 0) -> BehaviourFit:
    """Fit the behaviour rates of ``model`` from an export (statsmodels GLMs).

    The lead's interest is read from ``model`` (intent, fit and, once it has answered,
    ``warm_up``; the unobserved part is not identified and counts as 0), ``behaviour_slope``
    from ``model``:

    - ``open_rate``: an e-mail touch is opened when an ``email_open`` follows it within
      ``open_window_days`` and before the lead's next e-mail (logistic, offset
      ``behaviour_slope * interest``); e-mails too recent to tell are left out;
    - ``click_rate``: an open is clicked when a ``link_click`` follows it before the next open;
    - ``pricing_per_day``: ``pricing_visit`` counts per lead over its life up to ``as_of`` or
      its opt-out (Poisson, exposure the cooling-weighted days, warmed after the answer);
    - ``demo_per_day``: a ``demo_request`` before anyone reached the lead (the first event of a
      Poisson process: a complementary log-log GLM, exposure up to the first contact).

    With ``fit_cooling``, the pricing visits' own decay is fitted jointly with their rate
    (maximum likelihood over the visit times) and becomes the model's ``behaviour_cooling``
    (a row of that name), which the demo rate then uses too; otherwise behaviour decays at
    ``model.behaviour_decay``.

    ``interest_se`` (the standard errors of ``model``'s ``intent`` shifts and ``fit``, as
    fitted from the answers) carries their uncertainty into the rates' intervals: the rates
    are fitted again at ``draws`` draws of those effects, and the spread between the draws is
    added to each rate's variance.

    A rate the export has no events for keeps ``model``'s value and is named in ``notes``.
    """
    from scipy import stats

    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    as_of = (max(leads["created_at"].max(), events["ts"].max()) if as_of is None
             else utc_timestamp(as_of, "as_of"))
    lt = leads.loc[leads["created_at"] <= as_of].set_index("lead_id")
    ev = events[(events["ts"] <= as_of) & events["lead_id"].isin(lt.index)]
    z = stats.norm.ppf(1 - alpha / 2)
    notes: list[str] = []
    est = _behaviour_estimates(lt, ev, model, as_of, open_window_days, fit_cooling, notes)
    between = {name: 0.0 for name in est}
    if interest_se:
        rng = np.random.default_rng(seed)
        spread = {name: [] for name in est}
        for _ in range(draws):
            intent = {**model.intent, **{lvl: model.intent[lvl] + rng.normal(0, se)
                                         for lvl, se in interest_se.items() if lvl in
                                         model.intent and lvl != "medium"}}
            drawn = replace(model, intent=intent,
                            fit=model.fit + rng.normal(0, interest_se.get("fit", 0.0)))
            for name, (b, *_rest) in _behaviour_estimates(
                    lt, ev, drawn, as_of, open_window_days, fit_cooling, None).items():
                spread[name].append(b)
        between = {name: float(np.var(v, ddof=1)) if len(v) > 1 else 0.0
                   for name, v in spread.items()}
    rows, kw = [], {}
    for name, (b, se, n, scale) in est.items():
        se = math.sqrt(se ** 2 + between.get(name, 0.0))
        back = ((lambda x: 1.0 / (1.0 + math.exp(-x))) if scale == _LOGIT
                else math.exp if scale == _LOG else (lambda x: x))
        rows.append({"parameter": name, "estimate": back(b), "std_err": se,
                     "ci_low": back(b - z * se), "ci_high": back(b + z * se), "n": n})
        kw[name] = back(b) if name != "behaviour_cooling" else max(b, 0.0)
    if "behaviour_cooling" in est:
        notes.append("behaviour_cooling: fitted from the decay of the pricing visits, with "
                     "their rate")
    if interest_se:
        notes.append(f"intervals include the uncertainty of the intent and fit effects "
                     f"({draws} draws)")
    notes.append(f"behaviour_slope {model.behaviour_slope:g}, warm_up {model.warm_up:g} and "
                 "the unobserved interest are not identified from these tables: kept")
    table = (pd.DataFrame(rows).set_index("parameter") if rows else pd.DataFrame(
        columns=["estimate", "std_err", "ci_low", "ci_high", "n"]))
    return BehaviourFit(model=replace(model, **kw), table=table, notes=tuple(notes))
