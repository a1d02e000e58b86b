"""Who never converts, by covariates: a mixture cure model with a logistic cure part.

:class:`nurturelab.scoring.survival.CureModel` gives one never-convert share for everyone
(lifelines' ``MixtureCureFitter`` takes no covariates). Here the share depends on the lead:

    S(t | x, z) = pi(z) + (1 - pi(z)) S_u(t | x),   pi(z) = 1 / (1 + exp(-gamma . z))

``pi(z)`` is the probability of never converting (the "cure" part: logistic in ``z`` with an
intercept) and ``S_u`` the time to convert of the leads that will, a Weibull accelerated failure
time model in ``x``: ``S_u(t | x) = exp(-(t / lambda(x)) ** rho)``, ``log lambda(x) = beta . x``
(an intercept included). The Weibull is also proportional hazards: the hazard ratio of a
latency coefficient is ``exp(-rho * beta)``.

* :class:`CureRegression` — the fitter (maximum likelihood, analytic gradient, L-BFGS-B).
* :func:`cured_fraction_by` — the never-convert share per segment (source, intent, a fit band),
  with intervals.
* :func:`follow_up_check` — is follow-up long enough for the cure fraction to be identified?
  (Maller and Zhou's test; :class:`CureRegression` warns with
  :class:`CureIdentifiabilityWarning` when it is not.)

Identifiability. A cure fraction is only told apart from "converts later than we watched" when
follow-up runs past the time by which the susceptible leads have converted: the Kaplan-Meier
curve levels off, and a stretch with no conversions follows the last one. Two rules, both
required (:func:`follow_up_check`; the fitter and :func:`cured_fraction_by` warn with
:class:`CureIdentifiabilityWarning` when either fails):

1. Maller and Zhou's test (Survival Analysis with Long-Term Survivors, Wiley 1996, section 4.3):
   with ``t_n`` the longest follow-up and ``t_k`` the latest conversion, count the conversions
   ``N`` in ``(2 t_k - t_n, t_k]``; the p-value of "follow-up is insufficient" is
   ``(1 - N / n) ** n``, and it must be below ``level`` (0.05): conversions kept coming just
   before the last one, then a silence as long. It counts ``N`` against all ``n`` leads, not
   those still at risk, so with many leads a short quiet stretch passes it.
2. A plug-in version of the "practically sufficient follow-up" of Yuen and Musta (Biometrical
   Journal, 2026; arXiv 2024): the fitted model must put less than ``tail`` (5%) of the
   susceptible leads' conversions past the end of follow-up, ``mean S_u(t_n | x) < tail``
   over the group's leads. It trusts the Weibull's extrapolation, which rule 1 does not.

A warning says the data cannot vouch for the plateau, not that the estimate is wrong: read
the share as an upper bound.

Standard errors are from the inverse of the observed information, a central-difference
Hessian of the analytic score at the optimum (numerical Hessian, analytic gradient); intervals
are Wald intervals, those of probabilities on the logit scale (delta method).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from nurturelab.checks import need_columns
from nurturelab.plots import axes
from nurturelab.result import Result
from nurturelab.scoring.survival import (
    days_tuple,
    is_categorical,
    no_missing,
    survival_columns,
)

__all__ = [
    "CureIdentifiabilityWarning",
    "CureRegression",
    "CuredFractionResult",
    "FollowUpResult",
    "cured_fraction_by",
    "follow_up_check",
]

_MISSING = "(missing)"
_INTERCEPT = "Intercept"
_MAX_LEVELS = 50
_CONTROLLER: list = []  # threadpoolctl's controller, made on the first fit


def _one_blas_thread():
    """BLAS on one thread for the fit: its vectors are short, and on a busy machine OpenBLAS's
    threads waiting on each other made L-BFGS-B ten times slower."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _logit_ci(p: float, se: float, z: float) -> tuple[float, float]:
    """A CI for a probability from its delta-method standard error, on the logit scale."""
    if not 0 < p < 1 or not np.isfinite(se):
        return (np.nan, np.nan)
    half = z * se / (p * (1 - p))
    return float(special.expit(special.logit(p) - half)), float(special.expit(special.logit(p)
                                                                              + half))


def _check_unit(value: float, name: str, owner: str) -> float:
    if not (isinstance(value, float | int) and not isinstance(value, bool) and 0 < value < 1):
        raise ValueError(f"The '{name}' parameter of {owner} must be a float in (0, 1). "
                         f"Got {value!r} instead.")
    return float(value)


class CureIdentifiabilityWarning(UserWarning):
    """Follow-up is too short for the never-convert share to be identified (see
    :func:`follow_up_check`)."""


# --------------------------------------------------------------------------------------------
# Follow-up: is the cure fraction identified?
# --------------------------------------------------------------------------------------------
def _maller_zhou(dur: np.ndarray, ev: np.ndarray) -> dict[str, float]:
    n = len(dur)
    t_n = float(dur.max()) if n else np.nan
    if not ev.any():
        return {"n": n, "events": 0, "last_event_days": np.nan, "follow_up_days": t_n,
                "quiet_days": np.nan, "followed_past_last_event": int(n),
                "events_in_window": 0, "maller_zhou_p": 1.0}
    t_k = float(dur[ev].max())
    window = ev & (dur > 2 * t_k - t_n) & (dur <= t_k)
    n_win = int(window.sum())
    return {"n": n, "events": int(ev.sum()), "last_event_days": t_k, "follow_up_days": t_n,
            "quiet_days": t_n - t_k, "followed_past_last_event": int((dur > t_k).sum()),
            "events_in_window": n_win, "maller_zhou_p": float((1 - n_win / n) ** n)}


class FollowUpResult(Result):
    """Is follow-up long enough to identify the never-convert share? Per group (from
    :func:`follow_up_check`).

    Attributes
    ----------
    by : list of str
        The grouping columns (empty: one row, ``"all"``).
    level, tail : float
        The two rules' thresholds (see :func:`follow_up_check`).
    summary : DataFrame (property)
        Per group: ``n``, ``events``, ``last_event_days`` (t_k), ``follow_up_days`` (t_n),
        ``quiet_days`` (t_n - t_k: the plateau's length), ``followed_past_last_event`` (leads
        still watched after the last conversion), ``events_in_window`` (conversions in
        (2 t_k - t_n, t_k]), ``maller_zhou_p`` ((1 - N/n)^n), ``susceptible_left`` (the
        model's mean S_u(t_n | x): NaN without a model), ``sufficient`` and ``fails`` (the
        rules that failed: ``""``, ``"maller-zhou"``, ``"tail"`` or both).
    """

    def __init__(self, table: pd.DataFrame, by: list[str], level: float, tail: float,
                 groups, dur, ev):
        self._table = table
        self.by = by
        self.level, self.tail = level, tail
        self._groups, self._dur, self._ev = groups, dur, ev

    @property
    def summary(self) -> pd.DataFrame:
        """Per group: the follow-up figures and whether it is sufficient."""
        return self._table

    @property
    def insufficient(self) -> list:
        """The groups whose follow-up does not identify a cure fraction."""
        return list(self._table.index[~self._table["sufficient"].to_numpy(dtype=bool)])

    def _describe(self) -> str:
        bad = len(self.insufficient)
        rules = f"Maller-Zhou p < {self.level:g}"
        if self._table["susceptible_left"].notna().any():
            rules += f", susceptible left < {self.tail:g}"
        return (f"follow-up check over {len(self._table)} group(s) ({rules}): "
                f"{len(self._table) - bad} sufficient, {bad} not")

    def plot(self, ax=None):
        """P(converted within t) per group (Kaplan-Meier), the last conversion marked;
        returns the axes."""
        from lifelines import KaplanMeierFitter

        ax = axes(ax)
        for label in self._table.index:
            m = self._groups == label
            kmf = KaplanMeierFitter().fit(self._dur[m], self._ev[m], label=str(label))
            kmf.plot_cumulative_density(ax=ax, ci_show=False)
            t_k = self._table.loc[label, "last_event_days"]
            if np.isfinite(t_k):
                ax.axvline(t_k, ls=":", lw=0.8, color=ax.lines[-1].get_color())
        ax.set_xlabel("days since created")
        ax.set_ylabel("P(converted)")
        ax.set_title("Follow-up: the curve should level off before the last conversion (dotted)")
        return ax


def _group_labels(table: pd.DataFrame, by: list[str]) -> pd.Series:
    if not by:
        return pd.Series("all", index=table.index, dtype=object)
    parts = [table[c].astype("object").where(table[c].notna(), _MISSING).astype(str)
             for c in by]
    out = parts[0]
    for p in parts[1:]:
        out = out + " | " + p
    return out


def _by_list(by: str | Sequence[str] | None, where: str, what: str = "by") -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    try:
        out = list(by)
    except TypeError:
        out = [by]
    if not all(isinstance(c, str) for c in out):
        raise TypeError(f"{where} '{what}' must be a column name or a list of them. Got "
                        f"{by!r} instead.")
    return out


def follow_up_check(
    table: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    *,
    model: CureRegression | None = None,
    duration_col: str = "duration_days",
    event_col: str = "converted",
    level: float = 0.05,
    tail: float = 0.05,
) -> FollowUpResult:
    """Is follow-up long enough for the never-convert share to be identified? Overall or per
    group.

    Sufficient when (1) Maller and Zhou's p-value ``(1 - N/n)^n`` is below ``level``, ``N``
    the conversions in ``(2 t_k - t_n, t_k]``, ``t_k`` the latest conversion and ``t_n`` the
    longest follow-up; and, given a fitted ``model``, (2) its mean ``S_u(t_n | x)`` over the
    group's leads (the share of the susceptible leads still to convert when follow-up ends) is
    below ``tail``. See the module's notes.

    Parameters
    ----------
    table : DataFrame
        One row per lead, e.g. from :func:`nurturelab.scoring.survival.survival_table`.
    by : str or list of str, optional
        Group columns; missing values form the group ``"(missing)"``.
    model : CureRegression, optional
        A fitted model whose latency covariates ``table`` holds; without it only rule 1 runs.
    level : float
        Significance level of Maller and Zhou's test.
    tail : float
        Largest share of the susceptible leads' conversions allowed past follow-up.

    Returns
    -------
    FollowUpResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.where(rng.random(2000) < 0.8, np.inf, 20 * rng.weibull(1.5, 2000))
    >>> long = pd.DataFrame({"duration_days": np.minimum(t, 180.0), "converted": t <= 180})
    >>> bool(follow_up_check(long).summary.loc["all", "sufficient"])
    True
    >>> short = pd.DataFrame({"duration_days": np.minimum(t, 15.0), "converted": t <= 15})
    >>> row = follow_up_check(short).summary.loc["all"]
    >>> round(float(row["maller_zhou_p"]), 3), row["fails"]
    (0.368, 'maller-zhou')
    """
    where = "follow_up_check"
    _check_unit(level, "level", where)
    _check_unit(tail, "tail", where)
    cols = _by_list(by, where)
    need_columns(table, cols, "table")
    survival_columns(table, duration_col, event_col, where)
    labels = _group_labels(table, cols)
    if labels.empty:
        raise ValueError(f"{where}: the table has no rows")
    dur = table[duration_col].to_numpy(dtype=float)
    ev = table[event_col].to_numpy().astype(bool)
    x = None
    if model is not None:
        if not isinstance(model, CureRegression):
            raise TypeError(f"{where} 'model' must be a fitted CureRegression. Got "
                            f"{type(model).__name__} instead.")
        _, x = model._designs(table, where)
    return _follow_up(dur, ev, labels, cols, level, tail, model, x)


def _follow_up(dur, ev, labels: pd.Series, cols: list[str], level: float, tail: float,
               model: CureRegression | None, x: np.ndarray | None) -> FollowUpResult:
    groups = labels.to_numpy()
    order = labels.value_counts(sort=True).index if cols else pd.Index(["all"])
    masks = [groups == g for g in order] if cols else [np.ones(len(dur), bool)]
    rows = [_maller_zhou(dur[m], ev[m]) for m in masks]
    out = pd.DataFrame(rows, index=pd.Index(list(order), name=" | ".join(cols) or None))
    left = np.full(len(out), np.nan)
    if model is not None:
        for i, m in enumerate(masks):
            left[i] = model._susceptible_left(x[m], rows[i]["follow_up_days"])
    out["susceptible_left"] = left
    mz = out["maller_zhou_p"].to_numpy() < level
    tl = ~(left >= tail)  # NaN (no model) passes
    out["sufficient"] = mz & tl
    out["fails"] = [" & ".join(r for r, bad in (("maller-zhou", not a), ("tail", not b)) if bad)
                    for a, b in zip(mz, tl, strict=True)]
    return FollowUpResult(out, cols, float(level), float(tail), groups, dur, ev)


def _warn_follow_up(check: FollowUpResult, where: str) -> None:
    bad = check.insufficient
    if not bad:
        return
    s = check.summary

    def one(g) -> str:
        r = s.loc[g]
        text = (f"last conversion at {r['last_event_days']:.1f} days, follow-up to "
                f"{r['follow_up_days']:.1f}, Maller-Zhou p={r['maller_zhou_p']:.2g}")
        if np.isfinite(r["susceptible_left"]):
            text += f", susceptible left {r['susceptible_left']:.2f}"
        return f"{text}: fails {r['fails']}"

    what = (one(bad[0]) if list(s.index) == ["all"] else
            "segment(s) " + repr(bad[:8]) + (" …" if len(bad) > 8 else "") + "; "
            + "; ".join(f"{g!r} {one(g)}" for g in bad[:3]))
    warnings.warn(
        f"{where}: follow-up may be too short for the never-convert share to be identified "
        f"({what}; sufficient needs Maller-Zhou p < {check.level:g} and susceptible left < "
        f"{check.tail:g}). Part of the 'never converts' share may be leads that convert later "
        "than they were watched: read it as an upper bound, or wait for longer follow-up "
        "(follow_up_check shows the figures).",
        CureIdentifiabilityWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------
# The design matrices
# --------------------------------------------------------------------------------------------
def _learn_levels(df: pd.DataFrame, cols: list[str], where: str) -> dict[str, list]:
    levels = {}
    for c in cols:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            raise TypeError(f"{where}: '{c}' holds timestamps, not a covariate; leave it out "
                            "(or turn it into a number first)")
        if pd.api.types.is_bool_dtype(s):
            continue
        if is_categorical(s):
            cat = s.astype("category").cat.remove_unused_categories()
            lv = list(cat.cat.categories)
            if len(lv) > _MAX_LEVELS:
                raise ValueError(f"{where}: '{c}' has {len(lv)} levels (at most {_MAX_LEVELS}); "
                                 "group the rare ones first, e.g. "
                                 "s.where(s.map(s.value_counts()) >= 30, 'other')")
            levels[c] = lv
        elif not pd.api.types.is_numeric_dtype(s):
            raise TypeError(f"{where}: '{c}' has dtype {s.dtype}; covariates are numbers, "
                            "booleans, text or categories")
    return levels


def _design(df: pd.DataFrame, cols: list[str], levels: dict[str, list], where: str
            ) -> tuple[np.ndarray, list[str]]:
    """Intercept, then each covariate: numbers as they are, booleans 0/1, categories one-hot
    with their first level dropped (the reference)."""
    blocks, names = [np.ones((len(df), 1))], [_INTERCEPT]
    for c in cols:
        s = df[c]
        if c in levels:
            lv = levels[c]
            codes = pd.Categorical(s.astype("object"), categories=lv).codes
            if (codes < 0).any():
                unknown = sorted({str(v) for v in pd.unique(s[codes < 0].astype("object"))})
                raise ValueError(f"{where}: '{c}' has levels {unknown[:5]} not seen at fit "
                                 f"(known: {[str(v) for v in lv][:10]})")
            blocks.append((codes[:, None] == np.arange(1, len(lv))[None, :]).astype(float))
            names += [f"{c}[{v}]" for v in lv[1:]]
        else:
            blocks.append(s.to_numpy(dtype=float).reshape(-1, 1))
            names.append(str(c))
    return np.hstack(blocks), names


def _scaler(x: np.ndarray) -> np.ndarray:
    """T with x @ inv-ish: columns of ``x @ S`` are centred and scaled (intercept kept), and a
    coefficient vector b_s for the scaled columns is b = S @ b_s on the original ones."""
    p = x.shape[1]
    m, s = x[:, 1:].mean(axis=0), x[:, 1:].std(axis=0)
    t = np.eye(p)
    t[1:, 1:] = np.diag(1 / s)
    t[0, 1:] = -m / s
    return t


# --------------------------------------------------------------------------------------------
# The likelihood
# --------------------------------------------------------------------------------------------
def _loglik(theta: np.ndarray, z: np.ndarray, x: np.ndarray, log_t: np.ndarray,
            ev: np.ndarray, grad: bool = True):
    """Log-likelihood of the Weibull mixture cure model and its gradient in ``theta``
    = (gamma (cure, len z.shape[1]), beta (latency, x.shape[1]), log rho).

    Event i:    log(1 - pi) + log rho - log t + log u - u,      u = (t / lambda) ** rho
    Censored i: log(pi + (1 - pi) exp(-u))
    """
    pz, px = z.shape[1], x.shape[1]
    gamma, beta, log_rho = theta[:pz], theta[pz:pz + px], theta[-1]
    rho = np.exp(log_rho)
    eta = z @ gamma
    log_pi = -np.logaddexp(0.0, -eta)      # log expit(eta)
    log_1m = log_pi - eta                  # log(1 - expit(eta))
    log_u = rho * (log_t - x @ beta)
    u = np.exp(log_u)
    log_w = log_1m - u                     # log of (1 - pi) S_u(t)
    log_l = np.logaddexp(log_pi, log_w)    # censored: log(pi + (1 - pi) S_u(t))
    ll = np.where(ev, log_1m + log_rho - log_t + log_u - u, log_l)
    total = float(ll.sum())
    if not grad:
        return total
    pi = np.exp(log_pi)
    w = np.exp(log_w - log_l)              # censored: share of L_i from "not converted yet"
    # event rows: d/d eta = -pi, d/d(x.beta) = rho (u - 1), d/d log rho = 1 + log u (1 - u)
    # censored rows (a = 1 - w, the share from "never converts"):
    #   d/d eta = (1 - pi) a - pi w = 1 - pi - w, d/d(x.beta) = w rho u, d/d log rho = -w u log u
    d_eta = np.where(ev, -pi, 1 - pi - w)
    wu = np.exp(log_w - log_l + log_u)     # w u, without inf * 0 when u overflows
    d_lin = rho * np.where(ev, u - 1, wu)
    d_rho = np.where(ev, 1 + log_u * (1 - u), -wu * log_u)
    g = np.concatenate([z.T @ d_eta, x.T @ d_lin, [d_rho.sum()]])
    return total, g


def _hessian(theta: np.ndarray, args: tuple) -> np.ndarray:
    """Central differences of the analytic gradient, symmetrised."""
    k = len(theta)
    h = np.empty((k, k))
    for j in range(k):
        step = 1e-5 * max(1.0, abs(theta[j]))
        up, dn = theta.copy(), theta.copy()
        up[j] += step
        dn[j] -= step
        h[:, j] = (_loglik(up, *args)[1] - _loglik(dn, *args)[1]) / (2 * step)
    return (h + h.T) / 2


# --------------------------------------------------------------------------------------------
# The fitter
# --------------------------------------------------------------------------------------------
class CureRegression(Result):
    """Mixture cure model with covariates: who never converts (logistic), and when the others
    convert (Weibull AFT).

    ``S(t | x, z) = pi(z) + (1 - pi(z)) exp(-(t / lambda(x)) ** rho)`` with
    ``logit pi(z) = gamma . z`` (``pi`` = P(never converts)) and ``log lambda(x) = beta . x``;
    both with an intercept. Without covariates it is
    :class:`nurturelab.scoring.survival.CureModel` (lifelines' ``MixtureCureFitter``).

    Parameters
    ----------
    alpha : float
        1 - confidence level.
    follow_up_level, follow_up_tail : float
        The thresholds of the follow-up check :meth:`fit` runs (:func:`follow_up_check`): it
        warns (:class:`CureIdentifiabilityWarning`) when follow-up does not identify a cure
        fraction.

    Attributes
    ----------
    params_ : Series
        Coefficients, indexed by (``part``, ``term``): part ``cure`` (log-odds of never
        converting), ``latency`` (log Weibull scale, days) and ``shape`` (``log_rho``).
    variance_matrix_ : DataFrame
        Their covariance: the inverse of the observed information (numerical Hessian of the
        log-likelihood, from its analytic gradient, at the optimum).
    cure_covariates_, latency_covariates_ : list of str
        The columns fitted; ``levels_`` the levels of each category column (the first is the
        reference, dropped).
    cured_fraction_ : float
        The mean P(never converts) over the fitted rows (the share of the table that never
        converts); ``cured_fraction_ci_`` its CI (delta method, logit scale).
    follow_up_ : FollowUpResult
        The follow-up check of the whole table (Maller-Zhou and the model's tail rule).
    log_likelihood_ : float
    n_, events_ : int
    converged_ : bool, n_iter_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> n = 3000
    >>> paid = rng.random(n) < 0.5
    >>> never = rng.random(n) < np.where(paid, 0.6, 0.85)
    >>> t = np.where(never, np.inf, 15 * rng.weibull(1.3, n))
    >>> df = pd.DataFrame({"duration_days": np.minimum(t, 200.0), "converted": t <= 200,
    ...                    "source": np.where(paid, "paid", "organic")})
    >>> m = CureRegression().fit(df, cure_covariates=["source"])
    >>> s = cured_fraction_by(df, "source", model=m).summary
    >>> s["cured_fraction"].round(2).to_dict()
    {'paid': 0.59, 'organic': 0.83}
    """

    def __init__(self, *, alpha: float = 0.05, follow_up_level: float = 0.05,
                 follow_up_tail: float = 0.05):
        self.alpha = alpha
        self.follow_up_level = follow_up_level
        self.follow_up_tail = follow_up_tail

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        table: pd.DataFrame,
        duration_col: str = "duration_days",
        event_col: str = "converted",
        *,
        cure_covariates: Sequence[str] = (),
        latency_covariates: Sequence[str] = (),
    ) -> CureRegression:
        """Fit by maximum likelihood (L-BFGS-B on the analytic gradient).

        Parameters
        ----------
        table : DataFrame
            One row per lead, e.g. from :func:`nurturelab.scoring.survival.survival_table`.
        duration_col, event_col : str
            Days to conversion or censoring (positive), and converted (bool or 0/1).
        cure_covariates : sequence of str
            Columns of the never-convert share (logistic part).
        latency_covariates : sequence of str
            Columns of the time to convert of those who will (Weibull scale).
            Numbers enter as they are, booleans as 0/1, text and categories one-hot against
            their first level.

        Returns
        -------
        self
        """
        where = "CureRegression.fit"
        for name in ("alpha", "follow_up_level", "follow_up_tail"):
            _check_unit(getattr(self, name), name, "CureRegression")
        cure_cols = _by_list(cure_covariates, where)
        lat_cols = _by_list(latency_covariates, where)
        survival_columns(table, duration_col, event_col, where)
        used = list(dict.fromkeys(cure_cols + lat_cols))
        clash = [c for c in used if c in (duration_col, event_col)]
        if clash:
            raise ValueError(f"{where}: {clash} are the duration or event column, not "
                             "covariates")
        need_columns(table, used, "table")
        no_missing(table, used, where)
        dur = table[duration_col].to_numpy(dtype=float)
        ev = table[event_col].to_numpy().astype(bool)
        if (dur <= 0).any():
            raise ValueError(
                f"{where}: '{duration_col}' has {int((dur <= 0).sum())} durations of 0; a "
                "parametric model needs positive times. Drop them or move them off zero, e.g. "
                f"table.assign({duration_col}=table['{duration_col}'].clip(lower=1e-3))")
        if not ev.any():
            raise ValueError(f"{where}: no conversions in the table ('{event_col}' is never "
                             "true); nothing to fit")
        if ev.all():
            raise ValueError(f"{where}: every lead converted; with no censored lead there is "
                             "no never-convert share to estimate")
        levels = _learn_levels(table, used, where)
        z, z_names = _design(table, cure_cols, levels, where)
        x, x_names = _design(table, lat_cols, levels, where)
        for names, mat, part in ((z_names, z, "cure"), (x_names, x, "latency")):
            const = [nm for nm, sd in zip(names[1:], mat[:, 1:].std(axis=0), strict=True)
                     if sd == 0]
            if const:
                raise ValueError(f"{where}: the {part} covariate column(s) {const} are constant "
                                 "in the table; they cannot be told from the intercept. Leave "
                                 "them out.")
        for c in cure_cols:
            if c in levels:
                per = pd.Series(ev).groupby(table[c].astype("object").to_numpy()).sum()
                none = [str(k) for k, v in per.items() if v == 0]
                if none:
                    raise ValueError(
                        f"{where}: no conversions in the '{c}' level(s) {none}; their "
                        "never-convert share goes to 1 and its coefficient is not estimable. "
                        "Merge them with a neighbouring level or drop those rows.")
        self._fit_arrays(z, x, dur, ev)
        self.cure_covariates_, self.latency_covariates_ = cure_cols, lat_cols
        self.levels_ = levels
        self.duration_col_, self.event_col_ = duration_col, event_col
        self._z_names, self._x_names = z_names, x_names
        index = pd.MultiIndex.from_tuples(
            [("cure", n) for n in z_names] + [("latency", n) for n in x_names]
            + [("shape", "log_rho")], names=["part", "term"])
        self.params_ = pd.Series(self._theta, index=index, name="coef")
        self.variance_matrix_ = pd.DataFrame(self._cov, index=index, columns=index)
        self.n_, self.events_ = len(dur), int(ev.sum())
        self.cured_fraction_, _, self.cured_fraction_ci_ = self._mean_cured(z)
        self.max_duration_ = float(dur.max())
        self.follow_up_ = _follow_up(dur, ev, _group_labels(table, []), [],
                                     self.follow_up_level, self.follow_up_tail, self, x)
        _warn_follow_up(self.follow_up_, where)
        return self

    def _fit_arrays(self, z, x, dur, ev) -> None:
        tz, tx = _scaler(z), _scaler(x)
        zs, xs = z @ tz, x @ tx
        log_t = np.log(dur)
        args = (zs, xs, log_t, ev)
        n = len(dur)
        p_never = float(np.clip(1 - 1.25 * ev.mean(), 0.05, 0.95))
        theta0 = np.zeros(zs.shape[1] + xs.shape[1] + 1)
        theta0[0] = np.log(p_never / (1 - p_never))
        theta0[zs.shape[1]] = float(np.mean(log_t[ev])) + 0.5

        def fun(th):
            ll, g = _loglik(th, *args)
            return -ll / n, -g / n

        with np.errstate(over="ignore", under="ignore"), _one_blas_thread():
            res = optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B",
                                    options={"maxiter": 2000, "gtol": 1e-9, "ftol": 1e-14})
            h = _hessian(res.x, args)
        tr = np.zeros((len(res.x), len(res.x)))
        pz, px = zs.shape[1], xs.shape[1]
        tr[:pz, :pz], tr[pz:pz + px, pz:pz + px], tr[-1, -1] = tz, tx, 1.0
        try:
            cov_s = np.linalg.inv(-h)
            ok = bool(np.all(np.linalg.eigvalsh(-h) > 0))
        except np.linalg.LinAlgError:
            cov_s, ok = np.full_like(h, np.nan), False
        if not ok:
            warnings.warn("CureRegression.fit: the information matrix is not positive "
                          "definite at the optimum; standard errors are not reliable (a level "
                          "with very few leads or conversions, or collinear covariates?)",
                          RuntimeWarning, stacklevel=3)
            cov_s = np.where(np.isfinite(cov_s), cov_s, np.nan)
        self._theta = tr @ res.x
        self._cov = tr @ cov_s @ tr.T
        self.log_likelihood_ = -float(res.fun) * n
        # a line search that stalls at the optimum (gradient per lead below 1e-6) has converged
        self.converged_ = bool(res.success or np.abs(res.jac).max() < 1e-6)
        self.n_iter_ = int(res.nit)
        if not self.converged_:
            warnings.warn(f"CureRegression.fit did not converge: {res.message}",
                          RuntimeWarning, stacklevel=3)

    # ------------------------------------------------------------------ results
    def _check(self) -> None:
        if not hasattr(self, "params_"):
            raise AttributeError("This CureRegression is not fitted yet; call fit first")

    @property
    def summary(self) -> pd.DataFrame:
        """One row per coefficient, indexed by (``part``, ``term``): ``coef``, ``se``,
        ``ci_low``/``ci_high`` (Wald), ``z``, ``p`` and ``exp_coef``: for ``cure`` rows the
        odds ratio of never converting, for ``latency`` rows the time ratio (> 1: slower),
        for ``shape`` the Weibull shape ``rho``."""
        self._check()
        zc = stats.norm.ppf(1 - self.alpha / 2)
        coef = self.params_
        se = pd.Series(np.sqrt(np.diag(self._cov)), index=coef.index)
        out = pd.DataFrame({"coef": coef, "se": se, "ci_low": coef - zc * se,
                            "ci_high": coef + zc * se, "z": coef / se,
                            "p": 2 * stats.norm.sf(np.abs(coef / se)),
                            "exp_coef": np.exp(coef)})
        return out

    def _describe(self) -> str:
        if not hasattr(self, "params_"):
            return f"Weibull mixture cure regression, alpha={self.alpha!r}, not fitted"
        p, (lo, hi) = self.cured_fraction_, self.cured_fraction_ci_
        level = round(100 * (1 - self.alpha))
        return (f"Weibull mixture cure regression on {self.n_:,d} rows, {self.events_:,d} "
                f"events, cure ~ {self.cure_covariates_ or '1'}, latency ~ "
                f"{self.latency_covariates_ or '1'}: never convert (mean) {p:.3f} "
                f"[{level}% CI {lo:.3f}, {hi:.3f}]")

    def _header(self) -> list[str]:
        lines = [repr(self), f"log-likelihood {self.log_likelihood_:,.2f}, converged "
                 f"{self.converged_}; rho = exp(log_rho); latency hazard ratio = "
                 "exp(-rho * coef)"] if hasattr(self, "params_") else [repr(self)]
        if hasattr(self, "follow_up_") and self.follow_up_.insufficient:
            lines.append("WARNING: follow-up may be too short to identify the cure fraction "
                         "(Maller-Zhou, or the susceptible left at its end); see follow_up_")
        return lines

    def _gamma(self) -> tuple[np.ndarray, np.ndarray]:
        k = len(self._z_names)
        return self._theta[:k], self._cov[:k, :k]

    def _mean_cured(self, z: np.ndarray, alpha: float | None = None
                    ) -> tuple[float, float, tuple[float, float]]:
        """Mean P(never converts) over the rows of the cure design ``z``, its delta-method
        standard error and CI (logit scale)."""
        gamma, cov = self._gamma()
        pi = special.expit(z @ gamma)
        g = (pi * (1 - pi)) @ z / len(z)
        p = float(pi.mean())
        se = float(np.sqrt(max(g @ cov @ g, 0.0)))
        zc = stats.norm.ppf(1 - (self.alpha if alpha is None else alpha) / 2)
        return p, se, _logit_ci(p, se, zc)

    def _susceptible_left(self, x: np.ndarray, t: float) -> float:
        """Mean S_u(t | x) over the rows of the latency design ``x``."""
        k, m = len(self._z_names), len(self._x_names)
        beta, rho = self._theta[k:k + m], np.exp(self._theta[-1])
        return float(np.mean(np.exp(-((t / np.exp(x @ beta)) ** rho))))

    def _designs(self, df: pd.DataFrame, where: str) -> tuple[np.ndarray, np.ndarray]:
        self._check()
        used = list(dict.fromkeys(self.cure_covariates_ + self.latency_covariates_))
        need_columns(df, used, "df")
        no_missing(df, used, where)
        z, _ = _design(df, self.cure_covariates_, self.levels_, where)
        x, _ = _design(df, self.latency_covariates_, self.levels_, where)
        return z, x

    def predict_cured(self, df: pd.DataFrame) -> pd.DataFrame:
        """P(never converts) for each row of ``df``, with its CI (Wald on the logit scale).

        Returns
        -------
        DataFrame indexed like ``df``: ``cured_fraction``, ``ci_low``, ``ci_high``.
        """
        z, _ = self._designs(df, "CureRegression.predict_cured")
        gamma, cov = self._gamma()
        eta = z @ gamma
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", z, cov, z), 0))
        zc = stats.norm.ppf(1 - self.alpha / 2)
        return pd.DataFrame({"cured_fraction": special.expit(eta),
                             "ci_low": special.expit(eta - zc * se),
                             "ci_high": special.expit(eta + zc * se)}, index=df.index)

    def predict_survival(self, df: pd.DataFrame,
                         days: float | Iterable[float] = (30, 60, 90)) -> pd.DataFrame:
        """S(t | x, z) = P(not converted by t) for each row of ``df``; it levels off at the
        row's never-convert share.

        Returns
        -------
        DataFrame indexed like ``df``, one column per day.
        """
        z, x = self._designs(df, "CureRegression.predict_survival")
        t = np.asarray(days_tuple(days, "predict_survival 'days'"))
        k, m = z.shape[1], x.shape[1]
        gamma, beta, rho = self._theta[:k], self._theta[k:k + m], np.exp(self._theta[-1])
        pi = special.expit(z @ gamma)[:, None]
        lam = np.exp(x @ beta)[:, None]
        s_u = np.exp(-((t[None, :] / lam) ** rho))
        return pd.DataFrame(pi + (1 - pi) * s_u, index=df.index,
                            columns=[f"{d:g}d" for d in t])

    def predict_conversion(self, df: pd.DataFrame,
                           days: float | Iterable[float] = (30, 60, 90)) -> pd.DataFrame:
        """P(convert within t days) = 1 - S(t | x, z) for each row of ``df``."""
        return 1 - self.predict_survival(df, days).rename(columns=lambda c: f"p_{c}")

    def plot(self, ax=None):
        """The cure and latency coefficients with their intervals (intercepts left out);
        returns the axes."""
        self._check()
        ax = axes(ax)
        s = self.summary.drop(index=[("cure", _INTERCEPT), ("latency", _INTERCEPT),
                                     ("shape", "log_rho")])
        if s.empty:
            s = self.summary
        y = np.arange(len(s))[::-1]
        ax.errorbar(s["coef"], y, xerr=[s["coef"] - s["ci_low"], s["ci_high"] - s["coef"]],
                    fmt="o", capsize=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, [f"{p}: {t}" for p, t in s.index])
        ax.set_xlabel("coefficient with its CI (cure: log-odds of never converting; "
                      "latency: log time ratio)", fontsize=8)
        ax.set_title("Cure regression")
        return ax



# --------------------------------------------------------------------------------------------
# By segment
# --------------------------------------------------------------------------------------------
class CuredFractionResult(Result):
    """The never-convert share per segment, from a :class:`CureRegression` (made by
    :func:`cured_fraction_by`).

    Attributes
    ----------
    by : list of str
    model_ : CureRegression
    overall_ : (float, float, float)
        The share over all rows of the table and its CI.
    summary : DataFrame (property)
        Per segment (largest first): ``n``, ``events``, ``naive`` (1 - events / n, which
        ignores censoring), ``cured_fraction`` (the mean of the model's P(never converts)
        over the segment's leads), ``se`` (delta method), ``ci_low``/``ci_high`` (on the
        logit scale), ``last_event_days``, ``maller_zhou_p``, ``susceptible_left`` (the
        model's share of the segment's susceptible leads not converted by its longest
        follow-up) and ``follow_up_ok`` (both rules of :func:`follow_up_check` pass).
    """

    def __init__(self, by, table, model, overall, alpha):
        self.by = by
        self._table = table
        self.model_ = model
        self.overall_ = overall
        self.alpha = alpha

    @property
    def summary(self) -> pd.DataFrame:
        """Per segment: size, conversions, the never-convert share and its CI."""
        return self._table

    def _describe(self) -> str:
        p, lo, hi = self.overall_
        level = round(100 * (1 - self.alpha))
        return (f"never-convert share by {' x '.join(self.by)}: {len(self._table)} segments, "
                f"{int(self._table['n'].sum()):,d} leads; overall {p:.3f} "
                f"[{level}% CI {lo:.3f}, {hi:.3f}]")

    def _header(self) -> list[str]:
        lines = [repr(self)]
        bad = list(self._table.index[~self._table["follow_up_ok"].to_numpy(dtype=bool)])
        if bad:
            lines.append(f"WARNING: follow-up may be too short in {bad} (follow_up_check); "
                         "read their shares as upper bounds")
        return lines

    def plot(self, ax=None):
        """Each segment's share with its CI, the overall share dashed; returns the axes."""
        ax = axes(ax)
        s = self._table
        y = np.arange(len(s))[::-1]
        ax.errorbar(s["cured_fraction"], y,
                    xerr=[s["cured_fraction"] - s["ci_low"], s["ci_high"] - s["cured_fraction"]],
                    fmt="o", capsize=3, label="cure model")
        ax.plot(s["naive"], y, "x", color="grey", label="1 - converted / n")
        ax.axvline(self.overall_[0], ls="--", color="grey", lw=0.8, label="overall")
        ax.set_yticks(y, [f"{i} (n={n:,d})" for i, n in zip(s.index, s["n"], strict=True)])
        ax.set_xlabel("P(never converts)")
        ax.set_title(f"Never-convert share by {' x '.join(self.by)}")
        ax.legend(fontsize=8)
        return ax


def cured_fraction_by(
    table: pd.DataFrame,
    by: str | Sequence[str] = "source",
    *,
    model: CureRegression | None = None,
    latency_covariates: Sequence[str] | None = None,
    duration_col: str = "duration_days",
    event_col: str = "converted",
    alpha: float = 0.05,
) -> CuredFractionResult:
    """The share of leads that never converts, per segment, with intervals.

    Parameters
    ----------
    table : DataFrame
        One row per lead with ``duration_col``, ``event_col`` and the ``by`` columns.
    by : str or list of str
        Segment columns (``source``, ``intent``, a fit band such as
        ``pd.cut(table["fit"], [0, .3, .7, 1])``, a ``segment`` from
        :func:`nurturelab.segments.segments`); several columns form their crossing. Missing
        values form the segment ``"(missing)"``.
    model : CureRegression, optional
        A fitted model whose covariates ``table`` holds; each segment's share is the mean of
        its P(never converts) over the segment's leads. Without it, a model is fitted with the
        segment as cure covariate (and as latency covariate, unless ``latency_covariates``
        says otherwise: each segment then has its own Weibull scale, a shared shape).
    latency_covariates : sequence of str, optional
        Latency covariates of the model fitted here.
    alpha : float
        1 - confidence level.

    Returns
    -------
    CuredFractionResult
        Intervals by the delta method on the logit scale: with the segment as the only cure
        covariate they are the Wald intervals of its log-odds.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> src = rng.choice(["paid", "web"], 4000)
    >>> never = rng.random(4000) < np.where(src == "paid", 0.7, 0.9)
    >>> t = np.where(never, np.inf, 10 * rng.weibull(1.2, 4000))
    >>> df = pd.DataFrame({"duration_days": np.minimum(t, 150.0), "converted": t <= 150,
    ...                    "source": src})
    >>> r = cured_fraction_by(df, "source")
    >>> r.summary["cured_fraction"].round(3).to_dict()
    {'paid': 0.701, 'web': 0.892}
    >>> r.summary["n"].to_dict()
    {'paid': 2022, 'web': 1978}
    """
    where = "cured_fraction_by"
    _check_unit(alpha, "alpha", where)
    cols = _by_list(by, where)
    if not cols:
        raise ValueError(f"{where} 'by' needs at least one column. Got {by!r} instead.")
    need_columns(table, cols, "table")
    survival_columns(table, duration_col, event_col, where)
    labels = _group_labels(table, cols)
    if labels.empty:
        raise ValueError(f"{where}: the table has no rows")
    name = " x ".join(cols)
    if model is None:
        seg = "__segment__" if len(cols) > 1 or cols[0] in (duration_col, event_col) \
            else cols[0]
        data = table.assign(**{seg: labels.to_numpy()})
        nlev = labels.nunique()
        if nlev > _MAX_LEVELS:
            raise ValueError(f"{where}: 'by' makes {nlev} segments (at most {_MAX_LEVELS}); "
                             "band a number first, e.g. pd.cut(table['fit'], [0, .3, .7, 1])")
        lat = [seg] if latency_covariates is None else list(latency_covariates)
        cure = [seg] if nlev > 1 else []
        lat = [c for c in lat if not (c == seg and nlev == 1)]
        model = CureRegression(alpha=alpha).fit(data, duration_col, event_col,
                                                cure_covariates=cure, latency_covariates=lat)
    else:
        if not isinstance(model, CureRegression):
            raise TypeError(f"{where} 'model' must be a fitted CureRegression. Got "
                            f"{type(model).__name__} instead.")
        model._check()
        data = table
    z, x = model._designs(data, where)
    groups = labels.to_numpy()
    order = labels.value_counts(sort=True).index
    ev = table[event_col].to_numpy().astype(bool)
    follow = _follow_up(table[duration_col].to_numpy(dtype=float), ev, labels, cols,
                        model.follow_up_level, model.follow_up_tail, model, x)
    check = follow.summary
    rows = []
    for g in order:
        m = groups == g
        p, se, (lo, hi) = model._mean_cured(z[m], alpha)
        rows.append({"n": int(m.sum()), "events": int(ev[m].sum()),
                     "naive": 1 - ev[m].mean(), "cured_fraction": p, "se": se,
                     "ci_low": lo, "ci_high": hi,
                     "last_event_days": check.loc[g, "last_event_days"],
                     "maller_zhou_p": check.loc[g, "maller_zhou_p"],
                     "susceptible_left": check.loc[g, "susceptible_left"],
                     "follow_up_ok": bool(check.loc[g, "sufficient"])})
    p, _, (lo, hi) = model._mean_cured(z, alpha)
    out = pd.DataFrame(rows, index=pd.Index(list(order), name=name))
    follow._table = check.rename_axis(name)
    _warn_follow_up(follow, where)
    return CuredFractionResult(cols, out, model, (p, lo, hi), alpha)
