"""How a contacted lead moves on: qualification, proposal and a won deal, or a loss, and when.

After first contact a lead passes three transitions. Each moves the lead on with a logistic
probability, or marks it lost, after a lognormal time::

    qualify   contacted -> qualified   clock from first contact
    proposal  qualified -> proposal    clock from qualification
    win       proposal  -> won         clock from the proposal

    logit P(move on) = logit(p)                   the reference lead: medium intent, fit 0.5,
                                                  a source without a shift
                     + intent[level] + fit * (fit - 0.5) + source[source]
                     + speed(minutes from creation to contact)      (qualify only)
                     + heterogeneity * z          z: the lead's unobserved interest, N(0, 1),
                                                  the same draw the response model uses
    time to move on  ~ lognormal(median ``days``, ``sigma``)
    time to the loss ~ lognormal(median ``lost_days``, ``lost_sigma``)

A lead that requests a demo before anyone reaches it qualifies by that request (the funnel's
exit criterion) and goes straight to the proposal transition.

Defaults and where they come from
---------------------------------
- ``speed`` (qualify): the second half of the speed-to-lead effect. Contact alone does not
  reproduce the HBR study (Oldroyd, McElheran and Elkington, "The Short Life of Online Sales
  Leads", Harvard Business Review, March 2011; 1.25 million leads): a lead reached within an
  hour is about 7 times as likely to qualify as one reached an hour later and more than 60 times
  as likely as one reached after 24 hours or more. The knots were set so that the default world
  reproduces both figures from its own tables, together with the response model's contact
  curve (see :mod:`nurturelab.twin.published` and ``tests/test_published.py``): a lead reached
  within half an hour qualifies at the full rate, one reached after two hours has 0.55 times
  the odds, after a day e^-3.6 (about a thirty-sixth) and after a week e^-4.4 (an eightieth).
- ``p`` and the intent and fit shifts: qualification 0.40, proposal 0.60, win 0.35 for the
  reference lead; intent ±0.7 log-odds and fit 1.5 on qualification, half that on the win;
  chosen so that segments differ visibly, not from a study, and meant to be replaced by
  :func:`fit_progression` on a team's own export.
- Times: medians of 1.5, 3.5 and 10 days with ``sigma`` 1.0; the same for losses.

:func:`fit_progression` estimates every transition from an export by maximum likelihood
(analytic gradients, BFGS, the covariance from the Hessian): a lead either moved on (its time
observed), was lost (its time observed), or is still open at the cut-off, which is censored;
a transition the export never records losses for keeps its assumed loss times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from nurturelab import plots
from nurturelab.checks import is_number, need_columns, utc_timestamp
from nurturelab.result import Result

__all__ = [
    "DEFAULT_PROGRESSION",
    "INTENT_LEVELS",
    "TRANSITIONS",
    "Progression",
    "ProgressionFit",
    "Transition",
    "TransitionEstimate",
    "fit_progression",
    "fit_transition",
    "transition_table",
]

TRANSITIONS = ("qualify", "proposal", "win")
INTENT_LEVELS = ("low", "medium", "high", "unknown")
_SHIFTED = ("low", "high", "unknown")  # medium is the reference level
_STAGES = {"qualify": ("contacted", "qualified"), "proposal": ("qualified", "proposal"),
           "win": ("proposal", "won")}
MINUTES_PER_DAY = 1440.0


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _finite(owner: str, name: str, value: Any, *, positive: bool = False) -> float:
    ok = is_number(value) and math.isfinite(value) and (value > 0 if positive else True)
    if not ok:
        rule = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{owner} '{name}' must be {rule}. Got {value!r} instead.")
    return float(value)


def _shifts(owner: str, name: str, value: Any, allowed: tuple[str, ...] | None) -> dict:
    if not isinstance(value, Mapping):
        raise ValueError(f"{owner} '{name}' must map a level to a log-odds shift. Got "
                         f"{value!r} instead.")
    out = {}
    for k, v in value.items():
        if allowed is not None and k not in allowed:
            raise ValueError(f"{owner} '{name}' levels must be among {list(allowed)}. Got "
                             f"{k!r} instead.")
        out[str(k)] = _finite(owner, f"{name}[{k}]", v)
    return out


@dataclass(frozen=True)
class Transition:
    """One transition after contact (see the module docstring for the model).

    Parameters
    ----------
    p : float in (0, 1)
        Probability of moving on for the reference lead.
    intent : mapping of level -> log-odds shift against ``medium`` (low, high, unknown)
    fit : float
        Log-odds per unit of fit, centred at 0.5.
    source : mapping of source -> log-odds shift; a source not listed has none
    days, sigma : float > 0
        Median days to move on and the lognormal sigma of that time.
    lost_days, lost_sigma : float > 0
        The same for a lead that does not move on and is marked lost.

    Examples
    --------
    >>> t = Transition(p=0.4, intent={"high": 0.7}, source={"referral": 0.5})
    >>> round(t.probability("high", 0.5, "referral"), 3)
    0.689
    """

    p: float = 0.4
    intent: Mapping[str, float] = field(default_factory=dict)
    fit: float = 0.0
    source: Mapping[str, float] = field(default_factory=dict)
    days: float = 2.0
    sigma: float = 1.0
    lost_days: float = 2.0
    lost_sigma: float = 1.0

    def __post_init__(self) -> None:
        if not (is_number(self.p) and 0 < self.p < 1):
            raise ValueError(f"Transition 'p' must be a probability in (0, 1). Got {self.p!r} "
                             "instead.")
        object.__setattr__(self, "p", float(self.p))
        object.__setattr__(self, "intent", _shifts("Transition", "intent", self.intent,
                                                   _SHIFTED + ("medium",)))
        if self.intent.get("medium", 0.0) != 0.0:
            raise ValueError("Transition 'intent[medium]' is the reference level and must be 0 "
                             f"(or left out). Got {self.intent['medium']!r} instead.")
        object.__setattr__(self, "source", _shifts("Transition", "source", self.source, None))
        object.__setattr__(self, "fit", _finite("Transition", "fit", self.fit))
        for name in ("days", "sigma", "lost_days", "lost_sigma"):
            object.__setattr__(self, name, _finite("Transition", name, getattr(self, name),
                                                   positive=True))

    def logit(self, intent: Any, fit: Any, source: Any) -> float:
        """Log-odds of moving on for a lead of ``intent``, ``fit`` and ``source`` (before the
        speed shift and the unobserved interest)."""
        level = intent if isinstance(intent, str) else "unknown"
        f = 0.0 if fit is None or not np.isfinite(fit) else float(fit) - 0.5
        return (_logit(self.p) + self.intent.get(level, 0.0) + self.fit * f
                + self.source.get(str(source), 0.0))

    def probability(self, intent: Any, fit: Any, source: Any) -> float:
        """P(move on) for a lead of average unobserved interest (no speed shift)."""
        return 1.0 / (1.0 + math.exp(-self.logit(intent, fit, source)))


def _default(name: str) -> Transition:
    return {
        "qualify": Transition(p=0.40, intent={"low": -0.7, "high": 0.7}, fit=1.5, days=1.5,
                              lost_days=1.5),
        "proposal": Transition(p=0.60, days=3.5, lost_days=3.5),
        "win": Transition(p=0.35, intent={"low": -0.35, "high": 0.35}, fit=0.75, days=10.0,
                          lost_days=10.0),
    }[name]


_DEFAULT_SPEED = ((0.0, 0.0), (30.0, 0.0), (60.0, -0.2), (120.0, -0.6), (1440.0, -3.6),
                  (10080.0, -4.4))


@dataclass(frozen=True)
class Progression:
    """The three transitions after contact, the qualification speed curve and the weight of
    the unobserved interest.

    Parameters
    ----------
    qualify, proposal, win : Transition
    speed_knots : tuple of (minutes, log-odds shift)
        Qualification shift by minutes from creation to first contact, piecewise linear
        between the knots and flat outside them; the first knot's shift is 0 (a lead reached
        at once) and the shift never rises with the delay.
    heterogeneity : float >= 0
        Weight of the lead's unobserved interest (a standard normal shared with the response
        model) on every transition.

    Examples
    --------
    >>> pr = Progression()
    >>> pr.speed(30), pr.speed(1440)
    (0.0, -3.6)
    >>> Progression.from_dict({"win": {"p": 0.5}}).win.p
    0.5
    """

    qualify: Transition = field(default_factory=lambda: _default("qualify"))
    proposal: Transition = field(default_factory=lambda: _default("proposal"))
    win: Transition = field(default_factory=lambda: _default("win"))
    speed_knots: tuple[tuple[float, float], ...] = _DEFAULT_SPEED
    heterogeneity: float = 0.5

    def __post_init__(self) -> None:
        for name in TRANSITIONS:
            if not isinstance(getattr(self, name), Transition):
                raise TypeError(f"Progression '{name}' must be a Transition. Got "
                                f"{getattr(self, name)!r} instead.")
        try:
            knots = tuple((float(m), float(v)) for m, v in self.speed_knots)
        except (TypeError, ValueError):
            knots = ()
        mins = [m for m, _ in knots]
        vals = [v for _, v in knots]
        ok = (len(knots) >= 2 and mins == sorted(mins) and len(set(mins)) == len(mins)
              and mins[0] >= 0 and all(math.isfinite(x) for x in mins + vals)
              and vals[0] == 0.0)
        if not ok:
            raise ValueError(
                "Progression 'speed_knots' must be at least two (minutes, log-odds) pairs with "
                "distinct minutes >= 0 in increasing order, the first with shift 0. Got "
                f"{self.speed_knots!r} instead.")
        object.__setattr__(self, "speed_knots", knots)
        h = self.heterogeneity
        if not (is_number(h) and math.isfinite(h) and h >= 0):
            raise ValueError(f"Progression 'heterogeneity' must be a finite number >= 0. Got "
                             f"{h!r} instead.")
        object.__setattr__(self, "heterogeneity", float(h))

    def speed(self, minutes: float) -> float:
        """The qualification shift for a lead first reached ``minutes`` after creation."""
        m, v = zip(*self.speed_knots, strict=True)
        return float(np.interp(float(minutes), m, v))

    def to_dict(self) -> dict:
        d = {name: asdict(getattr(self, name)) for name in TRANSITIONS}
        for name in TRANSITIONS:
            d[name]["intent"] = dict(d[name]["intent"])
            d[name]["source"] = dict(d[name]["source"])
        d["speed_knots"] = [list(k) for k in self.speed_knots]
        d["heterogeneity"] = self.heterogeneity
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *,
                  source: str = "progression") -> Progression:
        """Build from a mapping (YAML): each transition's keys override the default's; unknown
        keys are errors naming the key."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{source}: must be a mapping with keys among "
                             f"{list(TRANSITIONS) + ['speed_knots', 'heterogeneity']}")
        allowed = set(TRANSITIONS) | {"speed_knots", "heterogeneity"}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        kw: dict[str, Any] = {}
        keys = set(Transition.__dataclass_fields__)
        for name in TRANSITIONS:
            body = d.get(name)
            if body is None:
                continue
            if not isinstance(body, Mapping):
                raise ValueError(f"{source}.{name}: must be a mapping with keys among "
                                 f"{sorted(keys)}")
            bad = sorted(set(body) - keys)
            if bad:
                raise ValueError(f"{source}.{name}: unknown key(s) {bad}; allowed: "
                                 f"{sorted(keys)}")
            try:
                kw[name] = replace(_default(name), **dict(body))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}.{name}: {exc}") from None
        if "speed_knots" in d:
            kw["speed_knots"] = tuple(tuple(k) for k in d["speed_knots"])
        if "heterogeneity" in d:
            kw["heterogeneity"] = d["heterogeneity"]
        try:
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None


DEFAULT_PROGRESSION = Progression()


# --------------------------------------------------------------------------------------------
# Fitting from an export
# --------------------------------------------------------------------------------------------
def transition_table(leads: pd.DataFrame, events: pd.DataFrame, name: str, *,
                     as_of: Any = None) -> pd.DataFrame:
    """One row per lead that entered the transition's starting stage by ``as_of``.

    Columns: ``lead_id``, ``intent``, ``fit``, ``source``, ``minutes_to_contact`` (from
    creation to first contact), ``outcome`` (``moved``, ``lost`` or ``open``) and ``days``
    (from entering the starting stage to moving on, to the loss, or to ``as_of``). Leads that
    skipped the starting stage (a ``qualified`` lead nobody contacted: it asked for a demo) are
    left out: they never faced the transition.
    """
    from nurturelab.funnel import outcomes  # noqa: PLC0415 - funnel sits beside this module

    if name not in TRANSITIONS:
        raise ValueError(f"transition_table 'name' must be one of {list(TRANSITIONS)}. Got "
                         f"{name!r} instead.")
    need_columns(leads, ("lead_id", "created_at", "source"), "leads")
    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    as_of = (max(leads["created_at"].max(), events["ts"].max()) if as_of is None
             else utc_timestamp(as_of, "as_of"))
    out = outcomes(leads, events, as_of=as_of)
    start, end = _STAGES[name]
    t0 = out[f"entered_{start}"]
    t1 = out[f"entered_{end}"]
    rows = out[t0.notna() & ~(t1.notna() & (t1 <= t0))]
    t0, t1 = t0[rows.index], t1[rows.index]
    lost = rows["lost_at"]
    moved = t1.notna()
    was_lost = ~moved & lost.notna() & (lost >= t0)
    end_ts = t1.where(moved, lost.where(was_lost, as_of))
    lt = leads.set_index("lead_id").loc[rows.index]
    table = pd.DataFrame({
        "intent": lt["intent"].astype("object").fillna("unknown").to_numpy()
        if "intent" in lt else "unknown",
        "fit": (lt["fit"].astype(float).to_numpy() if "fit" in lt
                else np.full(len(lt), np.nan)),
        "source": lt["source"].astype("object").to_numpy(),
        "minutes_to_contact": ((rows["entered_contacted"] - rows["created_at"])
                               / pd.Timedelta(minutes=1)).to_numpy(),
        "outcome": np.where(moved, "moved", np.where(was_lost, "lost", "open")),
        "days": ((end_ts - t0) / pd.Timedelta(days=1)).to_numpy(),
    }, index=rows.index)
    return table.reset_index()


class _CureLognormal:
    """The likelihood of one transition: logistic P(move on), lognormal times to move on and
    to the loss, leads still open censored. Parameters: the logistic coefficients, then
    ``log_days``, ``log_sigma`` and (with losses) ``log_lost_days``, ``log_lost_sigma``.

    The log-likelihood and its gradient are analytic and vectorised, so the fit is BFGS with
    exact gradients and the covariance is the inverse of the Hessian obtained by
    differentiating the gradient numerically (statsmodels' ``approx_fprime``)."""

    def __init__(self, kind: np.ndarray, t: np.ndarray, X: np.ndarray, with_loss: bool):
        self.moved, self.lost, self.open = (kind == 0), (kind == 1), (kind == 2)
        self.logt = np.log(np.maximum(t, 1e-6))
        self.X = X
        self.k = X.shape[1]
        self.with_loss = with_loss

    def loglike_and_grad(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        from scipy import stats

        k, X, logt = self.k, self.X, self.logt
        m, lo, op = self.moved, self.lost, self.open
        eta = X @ params[:k]
        log_p, log_q = -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta)
        p, q = np.exp(log_p), np.exp(log_q)
        mu, log_s = params[k], params[k + 1]
        s = math.exp(log_s)
        z = (logt - mu) / s
        log_sm = stats.norm.logsf(z)
        haz = np.exp(stats.norm.logpdf(z) - log_sm)  # phi(z) / Phi^c(z)
        ll = np.zeros(len(logt))
        d_eta = np.zeros(len(logt))
        grad = np.zeros(len(params))
        ll[m] = log_p[m] + stats.norm.logpdf(z[m]) - log_s - logt[m]
        d_eta[m] = q[m]
        grad[k] += np.sum(z[m] / s)
        grad[k + 1] += np.sum(z[m] ** 2 - 1.0)
        if self.with_loss:
            mu_l, log_sl = params[k + 2], params[k + 3]
            sl = math.exp(log_sl)
            zl = (logt - mu_l) / sl
            log_sll = stats.norm.logsf(zl)
            haz_l = np.exp(stats.norm.logpdf(zl) - log_sll)
            ll[lo] = log_q[lo] + stats.norm.logpdf(zl[lo]) - log_sl - logt[lo]
            grad[k + 2] += np.sum(zl[lo] / sl)
            grad[k + 3] += np.sum(zl[lo] ** 2 - 1.0)
            a, b = log_p[op] + log_sm[op], log_q[op] + log_sll[op]
        else:
            ll[lo] = log_q[lo]
            a, b = log_p[op] + log_sm[op], log_q[op]
        d_eta[lo] = -p[lo]
        log_l = np.logaddexp(a, b)
        ll[op] = log_l
        wa, wb = np.exp(a - log_l), np.exp(b - log_l)  # shares of moved-later and lost-later
        d_eta[op] = wa * q[op] - wb * p[op]
        grad[k] += np.sum(wa * haz[op] / s)
        grad[k + 1] += np.sum(wa * haz[op] * z[op])
        if self.with_loss:
            grad[k + 2] += np.sum(wb * haz_l[op] / sl)
            grad[k + 3] += np.sum(wb * haz_l[op] * zl[op])
        grad[:k] = X.T @ d_eta
        return float(ll.sum()), grad

    def fit(self, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Maximum-likelihood estimates and their covariance."""
        from scipy.optimize import minimize
        from statsmodels.tools.numdiff import approx_fprime

        def negative(params):
            value, grad = self.loglike_and_grad(params)
            return -value, -grad

        res = minimize(negative, start, jac=True, method="BFGS",
                       options={"maxiter": 5000, "gtol": 1e-6})
        hess = approx_fprime(res.x, lambda x: self.loglike_and_grad(x)[1], centered=True)
        hess = 0.5 * (hess + hess.T)
        try:
            cov = np.linalg.inv(-hess)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(-hess)
        return res.x, cov


@dataclass(frozen=True, repr=False)
class ProgressionFit(Result):
    """A fitted :class:`Progression`: ``model``, ``summary`` (one row per parameter: estimate,
    std_err, ci_low, ci_high, n), and ``notes`` naming what was kept from the base model."""

    model: Progression
    table: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        """One row per fitted parameter, on the model's own scale (probabilities, log-odds
        shifts, days)."""
        return self.table

    def _describe(self) -> str:
        fitted = sorted({i.split(".")[0] for i in self.table.index})
        return f"{len(self.table)} parameters of {', '.join(fitted) or 'no transition'}"

    def _header(self) -> list[str]:
        return [repr(self), *(f"note: {n}" for n in self.notes)]

    def plot(self, ax=None):
        """The fitted qualification speed curve with its knots' intervals."""
        ax = plots.axes(ax, figsize=(6, 3.5))
        rows = self.table[self.table.index.str.startswith("qualify.speed@")]
        if len(rows):
            mins = [float(i.split("@")[1]) for i in rows.index]
            ax.plot(mins, rows["estimate"], marker="o", label="fitted")
            ax.fill_between(mins, rows["ci_low"], rows["ci_high"], alpha=0.25, label="95% CI")
            ax.set_xscale("symlog", linthresh=60)
            ax.legend()
        ax.set_xlabel("minutes from creation to first contact")
        ax.set_ylabel("qualification log-odds shift")
        ax.set_title("Qualification by speed to contact")
        return ax


def _design(tab: pd.DataFrame, knots: np.ndarray | None, sources: list[str]) -> pd.DataFrame:
    X = pd.DataFrame({"const": 1.0}, index=tab.index)
    for lvl in _SHIFTED:
        X[f"intent@{lvl}"] = (tab["intent"] == lvl).astype(float)
    X["fit"] = (tab["fit"] - 0.5).fillna(0.0)
    for s in sources[1:]:
        X[f"source@{s}"] = (tab["source"] == s).astype(float)
    if knots is not None:
        minutes = tab["minutes_to_contact"].to_numpy(dtype=float)
        eye = np.eye(len(knots))
        for k in range(1, len(knots)):
            X[f"speed@{knots[k]:g}"] = np.interp(minutes, knots, eye[k])
    return X


@dataclass(frozen=True)
class TransitionEstimate:
    """One transition fitted from a :func:`transition_table`: ``table`` (one row per parameter
    on the model's scale: ``p``, ``intent@low``, ``source@referral``, ``fit``, ``speed@60``,
    ``days``, ``sigma``, ``lost_days``, ``lost_sigma``; estimate, std_err (of the fitted
    scale: logit, log), ci_low, ci_high, n), the ``reference`` source (the most common; the
    others are shifts against it), ``with_loss`` (whether loss times were fitted), the leads it
    used and how many moved on, and ``empty`` (covariates no lead had)."""

    table: pd.DataFrame
    reference: str
    with_loss: bool
    n: int
    n_moved: int
    empty: tuple[str, ...] = ()

    def transition(self, base: Transition) -> Transition:
        """``base`` with every fitted value of this estimate."""
        t = self.table["estimate"]
        intent = {k.split("@")[1]: float(v) for k, v in t.items() if k.startswith("intent@")}
        source = {k.split("@", 1)[1]: float(v) for k, v in t.items() if k.startswith("source@")}
        kw = {"p": float(t["p"]), "intent": intent, "source": source,
              "fit": float(t.get("fit", base.fit)), "days": float(t["days"]),
              "sigma": float(t["sigma"])}
        if self.with_loss:
            kw.update(lost_days=float(t["lost_days"]), lost_sigma=float(t["lost_sigma"]))
        return replace(base, **kw)


def fit_transition(tab: pd.DataFrame, *, knots: Any = None, alpha: float = 0.05,
                   min_leads: int = 30) -> TransitionEstimate | None:
    """Fit one transition by maximum likelihood from a :func:`transition_table` (or any table
    with its columns): None when it has fewer than ``min_leads`` leads, or none or all of them
    moved on. ``knots`` (minutes) adds the speed-to-contact shifts (the qualify transition)."""
    from scipy import stats

    z = stats.norm.ppf(1 - alpha / 2)
    tab = tab[tab["days"] > 0].reset_index(drop=True)
    n_moved = int((tab["outcome"] == "moved").sum())
    if len(tab) < min_leads or n_moved == 0 or n_moved == len(tab):
        return None
    sources = tab["source"].value_counts().index.tolist()
    X = _design(tab, None if knots is None else np.asarray(knots, dtype=float), sources)
    # a covariate no lead has, or every lead has (every intent unknown), is not identified
    empty = tuple(c for c in X.columns if c != "const" and X[c].nunique() < 2)
    X = X.drop(columns=list(empty))
    with_loss = bool((tab["outcome"] == "lost").sum() >= 5)
    kind = tab["outcome"].map({"moved": 0, "lost": 1, "open": 2}).to_numpy()
    names = list(X.columns) + ["log_days", "log_sigma"] + (
        ["log_lost_days", "log_lost_sigma"] if with_loss else [])
    model = _CureLognormal(kind, tab["days"].to_numpy(float), X.to_numpy(float), with_loss)
    moved_t = np.log(tab.loc[kind == 0, "days"].to_numpy(float))
    p0 = np.clip(n_moved / len(tab), 0.02, 0.98)
    start = np.zeros(len(names))
    start[0] = math.log(p0 / (1 - p0))
    start[X.shape[1]] = float(np.mean(moved_t))
    start[X.shape[1] + 1] = math.log(max(float(np.std(moved_t)), 0.2))
    if with_loss:
        lost_t = np.log(tab.loc[kind == 1, "days"].to_numpy(float))
        start[X.shape[1] + 2] = float(np.mean(lost_t))
        start[X.shape[1] + 3] = math.log(max(float(np.std(lost_t)), 0.2))
    with np.errstate(all="ignore"):
        params, cov = model.fit(start)
    est = pd.Series(params, index=names)
    se = pd.Series(np.sqrt(np.clip(np.diag(cov), 0, None)), index=names)
    counts = {c: int((X[c] != 0).sum()) for c in X.columns}
    rows = []

    def add(key, value, lo, hi, std, count):
        rows.append({"parameter": key, "estimate": value, "std_err": std, "ci_low": lo,
                     "ci_high": hi, "n": count})

    def expit(x):
        return 1.0 / (1.0 + math.exp(-x))

    b, s = est["const"], se["const"]
    add("p", expit(b), expit(b - z * s), expit(b + z * s), s, len(tab))
    for c in X.columns[1:]:
        add(c, est[c], est[c] - z * se[c], est[c] + z * se[c], se[c], counts[c])
    n_lost = int((kind == 1).sum())
    for key, col, cnt in (("days", "log_days", n_moved), ("sigma", "log_sigma", n_moved)) + (
            (("lost_days", "log_lost_days", n_lost),
             ("lost_sigma", "log_lost_sigma", n_lost)) if with_loss else ()):
        add(key, math.exp(est[col]), math.exp(est[col] - z * se[col]),
            math.exp(est[col] + z * se[col]), se[col], cnt)
    return TransitionEstimate(table=pd.DataFrame(rows).set_index("parameter"),
                              reference=str(sources[0]), with_loss=with_loss, n=len(tab),
                              n_moved=n_moved, empty=empty)


def fit_progression(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    as_of: Any = None,
    base: Progression = DEFAULT_PROGRESSION,
    knots: tuple[float, ...] | None = None,
    alpha: float = 0.05,
    min_leads: int = 30,
) -> ProgressionFit:
    """Fit each transition after contact from an export by maximum likelihood.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:func:`nurturelab.schema.read_export`); leads and events after
        ``as_of`` are ignored, and leads still open then are censored.
    base : Progression
        The values kept for whatever the export cannot inform, each named in ``notes``:
        a transition with fewer than ``min_leads`` leads (or none that moved on), loss times
        when the export records no losses, a level or source with no lead, and the weight
        of the unobserved interest (not identified from these tables).
    knots : tuple of float, optional
        Minutes of the qualification speed curve's knots; ``base``'s by default.

    Returns
    -------
    ProgressionFit
        ``summary`` has one row per fitted parameter with its ``alpha`` interval and the number
        of leads that informed it (``n``); ``model`` has the fitted values and ``base``'s for
        the rest. Probabilities and shifts are population averages over the unobserved
        interest: with ``heterogeneity`` above 0 the simulation's own conditional effects are
        slightly larger. Source shifts are against the transition's most common source.
    """
    knot_min = np.asarray(knots or [m for m, _ in base.speed_knots], dtype=float)
    tables, notes, kw = [], [], {}
    for name in TRANSITIONS:
        tab = transition_table(leads, events, name, as_of=as_of)
        start, end = _STAGES[name]
        fit = fit_transition(tab, knots=knot_min if name == "qualify" else None, alpha=alpha,
                             min_leads=min_leads)
        if fit is None:
            n_moved = int((tab["outcome"] == "moved").sum())
            notes.append(f"{name}: not fitted ({len(tab):,d} leads entered {start!r}, "
                         f"{n_moved:,d} reached {end!r}); kept the base values")
            continue
        if not fit.with_loss:
            notes.append(f"{name}: the export records (almost) no losses from {start!r}; "
                         "loss times kept from the base model")
        tables.append(fit.table.rename(index=lambda k, n=name: f"{n}.{k}"))
        kw[name] = fit.transition(getattr(base, name))
        if name == "qualify":
            est = fit.table["estimate"]
            vals = [0.0] + [float(est.get(f"speed@{m:g}", 0.0)) for m in knot_min[1:]]
            kw["speed_knots"] = tuple(zip(knot_min.tolist(), vals, strict=True))
            lacking = [f"{m:g}" for m in knot_min[1:] if f"speed@{m:g}" not in est]
            if lacking:
                notes.append(f"qualify: no contact near the speed knot(s) {lacking} minutes; "
                             "their shift is 0")
        if fit.empty:
            notes.append(f"{name}: no lead with {list(fit.empty)}; their shifts are 0")
    notes.append("heterogeneity (the weight of unobserved interest) is not identified from "
                 f"these tables: kept {base.heterogeneity:g}")
    table = (pd.concat(tables) if tables else
             pd.DataFrame(columns=["estimate", "std_err", "ci_low", "ci_high", "n"],
                          index=pd.Index([], name="parameter")))
    return ProgressionFit(model=replace(base, **kw), table=table, notes=tuple(notes))
