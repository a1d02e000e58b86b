"""Statistics of arms on a proportion: comparisons, the omnibus test, decisions, sample ratio.

:func:`compare_proportions` (difference and lift with intervals and the test they invert: the
Miettinen-Nurminen score test), :func:`holm` and :func:`holm_levels` (Holm's step-down
correction across arms, and the level at which it tested each arm, for intervals that agree with
it), :func:`omnibus` (are all arms alike? the chi-square test of homogeneity),
:func:`prob_beat_control` (the Bayesian probability that the treatment's rate is higher),
:func:`decide` (a decision in plain words against a practical threshold) and :func:`srm_check`
(did the arms receive the planned shares of leads?). The two-arm functions take summary counts,
not tables, so they serve a dashboard's numbers as well as :func:`analyze`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special, stats

from nurturelab.checks import is_number, need_columns
from nurturelab.experiment._args import (
    bool_column,
    count,
    probability,
    two_arm_counts,
    weight_vector,
    whole_number,
)
from nurturelab.plots import axes
from nurturelab.result import Result

__all__ = ["OmnibusResult", "SRMResult", "compare_proportions", "decide", "holm",
           "holm_levels", "omnibus", "prob_beat_control", "score_interval", "srm_check"]

# --------------------------------------------------------------------------------------------
# Comparing two proportions: the Miettinen-Nurminen score test and the intervals that invert it
# --------------------------------------------------------------------------------------------
_EDGE = 1e-12
"""How close to the ends of the parameter space (a difference of -1 or 1) the inversion looks."""

_LOG_RATIO_END = 40.0
"""The inversion for the ratio searches log(ratio) in [-40, 40]; beyond, the limit is 0 or inf."""

_TINY = 5e-324  # the smallest positive float: a limit that must exclude 0 is at least this far


def _cubic_real_roots(c3: float, c2: float, c1: float, c0: float) -> list[float]:
    """The real roots of ``c3 x^3 + c2 x^2 + c1 x + c0`` (``c3 != 0``): Cardano's formula when
    there is one, the trigonometric one when there are three."""
    b, c, d = c2 / c3, c1 / c3, c0 / c3
    p = c - b * b / 3
    q = 2 * b**3 / 27 - b * c / 3 + d
    disc = (q / 2) ** 2 + (p / 3) ** 3
    if disc >= 0:
        r = math.sqrt(disc)
        y = [math.copysign(abs(-q / 2 + r) ** (1 / 3), -q / 2 + r)
             + math.copysign(abs(-q / 2 - r) ** (1 / 3), -q / 2 - r)]
    else:
        m = 2 * math.sqrt(-p / 3)
        phi = math.acos(min(1.0, max(-1.0, 3 * q / (p * m))))
        y = [m * math.cos((phi - 2 * math.pi * k) / 3) for k in range(3)]
    return [v - b / 3 for v in y]


def _restricted_rates(x_t: int, n_t: int, x_c: int, n_c: int, delta: float) -> tuple[float,
                                                                                     float]:
    """The maximum likelihood rates ``(r_t, r_c)`` under ``r_t - r_c = delta``.

    The score equation is Miettinen and Nurminen's cubic (the coefficients statsmodels uses);
    of its real roots the one inside the feasible range ``max(0, -delta) <= r_c <= min(1, 1 -
    delta)`` with the highest likelihood is kept (statsmodels takes one trigonometric root
    always, which on some tables, e.g. 18/20 against 2/33, is outside the range), and the ends
    of the range compete too, for tables with zero counts."""
    n, s = n_t + n_c, x_t + x_c
    lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)
    roots = _cubic_real_roots(n, (n_t + 2 * n_c) * delta - n - s,
                              (n_c * delta - n - 2 * x_c) * delta + s, x_c * delta * (1 - delta))
    tol = 1e-12
    inside = [min(hi, max(lo, r)) for r in roots if lo - tol <= r <= hi + tol]
    if 0 < x_c < n_c and 0 < x_t < n_t and len(inside) == 1:
        r_c = inside[0]  # the likelihood falls to -inf at both ends: its one stationary point
    else:  # zero counts: a root may be spurious, and the maximum may sit at an end

        def loglik(r_c: float) -> float:
            r_t = r_c + delta
            return (_xlog(x_c, r_c) + _xlog(n_c - x_c, 1 - r_c) + _xlog(x_t, r_t)
                    + _xlog(n_t - x_t, 1 - r_t))

        r_c = max([*inside, lo, hi], key=loglik)
    return min(1.0, max(0.0, r_c + delta)), r_c


def _xlog(x: float, y: float) -> float:
    """``x * log(y)``, 0 when ``x`` is 0 and -inf when ``y`` is 0 with ``x > 0``."""
    if x == 0:
        return 0.0
    return x * math.log(y) if y > 0 else -math.inf


def _z_diff(x_t: int, n_t: int, x_c: int, n_c: int, delta: float) -> float:
    """Miettinen-Nurminen score statistic of ``H0: p_t - p_c = delta`` (variance corrected by
    ``N / (N - 1)``), as statsmodels ``test_proportions_2indep(method="score")`` computes it;
    positive when the treatment's rate is above ``p_c + delta``."""
    n = n_t + n_c
    if delta == 0:
        r_t = r_c = (x_t + x_c) / n
    else:
        r_t, r_c = _restricted_rates(x_t, n_t, x_c, n_c, delta)
    var = (r_t * (1 - r_t) / n_t + r_c * (1 - r_c) / n_c) * n / (n - 1)
    num = x_t / n_t - x_c / n_c - delta
    if var <= 0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def _z_log_ratio(x_t: int, n_t: int, x_c: int, n_c: int, u: float) -> float:
    """Miettinen-Nurminen score statistic of ``H0: p_t / p_c = exp(u)``; positive when the
    treatment's rate is above ``exp(u) * p_c``. At ``u = 0`` it is :func:`_z_diff` at 0."""
    n, s = n_t + n_c, x_t + x_c
    theta = math.exp(u)
    if u == 0:
        r_c = s / n
    else:  # the smaller root of a quadratic, in the form that does not cancel
        b = n_t * theta + x_t + n_c + x_c * theta
        disc = max(b * b - 4 * n * theta * s, 0.0)
        r_c = 2 * s / (b + math.sqrt(disc)) if s else 0.0
    r_t = min(1.0, r_c * theta)
    var = (r_t * (1 - r_t) / n_t + theta**2 * r_c * (1 - r_c) / n_c) * n / (n - 1)
    num = x_t / n_t - theta * x_c / n_c
    if var <= 0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def _root(g, a: float, b: float) -> float:
    """The root of a decreasing ``g`` in ``[a, b]``: ``a`` if ``g(a) <= 0``, ``b`` if
    ``g(b) > 0``, otherwise Brent's method to the last few bits."""
    if a >= b or g(a) <= 0:
        return a
    if g(b) > 0:
        return b
    return float(optimize.brentq(g, a, b, xtol=1e-13, rtol=4 * np.finfo(float).eps))


def _invert(z_at, est: float, significant: bool, z_crit: float, lo_end: float,
            hi_end: float) -> tuple[float, float]:
    """The limits of ``{v : |z_at(v)| < z_crit}`` around ``est`` (``z_at`` decreasing, zero at
    ``est``), searched on the side of 0 that ``significant`` says, so that the interval excludes
    0 exactly when ``significant`` is true, whatever the rounding."""
    if math.isnan(est):
        est = 0.0
    est_c = min(max(est, lo_end), hi_end)
    if est > 0 and significant:
        low = max(_root(lambda v: z_at(v) - z_crit, 0.0, est_c), _TINY)
    else:
        low = _root(lambda v: z_at(v) - z_crit, lo_end, 0.0 if est > 0 else est_c)
    if est < 0 and significant:
        high = min(_root(lambda v: z_at(v) + z_crit, est_c, 0.0), -_TINY)
    else:
        high = _root(lambda v: z_at(v) + z_crit, 0.0 if est < 0 else est_c, hi_end)
    return low, high


def _score_limits(x_c: int, n_c: int, x_t: int, n_t: int, level: float, significant: bool,
                  compare: str) -> tuple[float, float]:
    """The ``1 - level`` score interval of the difference, or of the lift (``ratio - 1``)."""
    z_crit = float(special.ndtri(1 - level / 2))
    if compare == "diff":
        low, high = _invert(lambda d: _z_diff(x_t, n_t, x_c, n_c, d), x_t / n_t - x_c / n_c,
                            significant, z_crit, -1 + _EDGE, 1 - _EDGE)
        return (-1.0 if low <= -1 + _EDGE else low), (1.0 if high >= 1 - _EDGE else high)
    with np.errstate(divide="ignore"):
        est = math.log(x_t / n_t) - math.log(x_c / n_c) if x_t and x_c else \
            (math.inf if x_t else -math.inf if x_c else math.nan)
    low, high = _invert(lambda u: _z_log_ratio(x_t, n_t, x_c, n_c, u), est, significant,
                        z_crit, -_LOG_RATIO_END, _LOG_RATIO_END)
    return (-1.0 if low <= -_LOG_RATIO_END else math.expm1(low),
            math.inf if high >= _LOG_RATIO_END else math.expm1(high))


def score_interval(
    x_c: int,
    n_c: int,
    x_t: int,
    n_t: int,
    *,
    alpha: float = 0.05,
    compare: str = "diff",
    significant: bool | None = None,
) -> tuple[float, float]:
    """The Miettinen-Nurminen score interval of the difference (or the lift) of two proportions.

    The set of values ``v`` that the score test of ``H0: p_t - p_c = v`` (or ``p_t / p_c - 1 =
    v``) does not reject at level ``alpha``, found by root-finding on the statistic. It is what
    statsmodels ``confint_proportions_2indep(method="score")`` computes, whose bracketing fails
    on some small tables (``5/50`` against ``45/200`` raises a ``ValueError`` in statsmodels
    0.15); here the search runs over the whole parameter space. Because the interval inverts
    the test, it excludes 0 exactly when :func:`compare_proportions`' p-value is below
    ``alpha``.

    Parameters
    ----------
    x_c, n_c, x_t, n_t : int
        Successes and leads in the control and treatment arms (``n >= 1``).
    alpha : float
        One minus the confidence level.
    compare : {"diff", "lift"}
        The difference ``p_t - p_c`` (limits within [-1, 1]) or the lift ``p_t / p_c - 1``
        (limits within [-1, inf]).
    significant : bool, optional
        Whether the test of no difference rejected at this level, when another procedure
        decided it (Holm's, at the level :func:`holm_levels` gives): the interval then excludes
        0 exactly when ``significant`` is true, even where rounding puts the p-value within a
        few units in the last place of the level. By default, ``p_value < alpha``.

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> low, high = score_interval(5, 50, 45, 200)
    >>> round(low, 4), round(high, 4)
    (0.0009, 0.2132)
    """
    where = "score_interval"
    x_c, n_c, x_t, n_t = two_arm_counts(x_c, n_c, x_t, n_t, where)
    alpha = probability(alpha, "alpha", where)
    if compare not in ("diff", "lift"):
        raise ValueError(f"{where} 'compare' must be one of ['diff', 'lift']. Got {compare!r} "
                         "instead.")
    if significant is None:
        significant = _p_value(_z_diff(x_t, n_t, x_c, n_c, 0.0)) < alpha
    return _score_limits(x_c, n_c, x_t, n_t, alpha, bool(significant),
                         "diff" if compare == "diff" else "ratio")


def _p_value(z: float) -> float:
    return float(2 * special.ndtr(-abs(z)))


def compare_proportions(
    x_c: int,
    n_c: int,
    x_t: int,
    n_t: int,
    *,
    alpha: float = 0.05,
) -> dict[str, float | str]:
    """Treatment against control on one proportion: difference, lift, intervals, test.

    Every number comes from one method, the Miettinen-Nurminen score test (statsmodels
    ``test_proportions_2indep(method="score")``, with its ``N / (N - 1)`` variance correction):

    * ``statistic`` is its z statistic of ``H0: p_t = p_c`` (positive when the treatment's rate
      is higher) and ``p_value`` its two-sided p-value. It is 0 and 1 when no lead or every lead
      succeeded (nothing tells the arms apart).
    * ``diff = p_t - p_c`` and ``lift = p_t / p_c - 1`` with the score intervals, the values
      the same test would not reject (:func:`score_interval`): so ``p_value < alpha`` exactly
      when the difference interval excludes 0, and exactly when the lift interval excludes 0.
      The point ``lift`` is NaN when ``x_c`` is 0 (the ratio is infinite); its upper limit is
      then ``inf``.

    The score interval keeps close to its level at small counts and rates near 0 (Newcombe 1998
    ranks it with his hybrid interval; its coverage here is measured in the tests). The p-value
    is a fixed-horizon one: valid for one look at a sample size fixed in advance (see
    :func:`monitor` for repeated looks).

    Parameters
    ----------
    x_c, n_c, x_t, n_t : int
        Successes and leads in the control and treatment arms (``n >= 1``).
    alpha : float
        One minus the confidence level of the intervals.

    Returns
    -------
    dict
        ``diff, diff_low, diff_high, lift, lift_low, lift_high, statistic, p_value`` (floats)
        and ``method`` (``"score"``).

    Examples
    --------
    >>> r = compare_proportions(100, 1000, 130, 1000)
    >>> round(r["diff"], 3), round(r["statistic"], 3), round(r["p_value"], 4), r["method"]
    (0.03, 2.102, 0.0355, 'score')
    >>> r = compare_proportions(5, 50, 45, 200)   # significant, and the interval agrees
    >>> round(r["p_value"], 4), r["diff_low"] > 0
    (0.0486, True)
    """
    where = "compare_proportions"
    x_c, n_c, x_t, n_t = two_arm_counts(x_c, n_c, x_t, n_t, where)
    alpha = probability(alpha, "alpha", where)
    z = _z_diff(x_t, n_t, x_c, n_c, 0.0)
    p_value = _p_value(z)
    d_lo, d_hi = _score_limits(x_c, n_c, x_t, n_t, alpha, p_value < alpha, "diff")
    l_lo, l_hi = _score_limits(x_c, n_c, x_t, n_t, alpha, p_value < alpha, "ratio")
    p_c, p_t = x_c / n_c, x_t / n_t
    return {
        "diff": p_t - p_c,
        "diff_low": d_lo,
        "diff_high": d_hi,
        "lift": p_t / p_c - 1 if x_c > 0 else math.nan,
        "lift_low": l_lo,
        "lift_high": l_hi,
        "statistic": float(z),
        "p_value": p_value,
        "method": "score",
    }


# --------------------------------------------------------------------------------------------
# The Bayesian probability to beat the control
# --------------------------------------------------------------------------------------------
_MAX_TERMS = 1_000_000
"""The exact sum for P(beat control) is used up to this many terms; the integral beyond."""


def _beat_exact(a_c: float, b_c: float, a_t: float, b_t: float) -> float:
    """``P(p_t > p_c)`` for Beta posteriors with whole ``a_t`` (Evan Miller's finite sum)."""
    i = np.arange(int(a_t), dtype=float)
    terms = (special.betaln(a_c + i, b_c + b_t) - np.log(b_t + i) - special.betaln(1 + i, b_t)
             - special.betaln(a_c, b_c))
    return float(np.exp(terms).sum())


def _beat_quad(a_c: float, b_c: float, a_t: float, b_t: float) -> float:
    """``P(p_t > p_c) = ∫ f_c(p) P(p_t > p) dp`` by adaptive quadrature, over the control
    posterior's support cut where its tails fall below 1e-15."""
    log_norm = special.betaln(a_c, b_c)

    def integrand(p: float) -> float:
        pdf = math.exp((a_c - 1) * math.log(p) + (b_c - 1) * math.log1p(-p) - log_norm)
        return pdf * float(special.betaincc(a_t, b_t, p))

    lo, hi = float(special.betaincinv(a_c, b_c, 1e-15)), float(special.betainccinv(a_c, b_c,
                                                                                   1e-15))
    marks = (a_c / (a_c + b_c), a_t / (a_t + b_t),
             float(special.betaincinv(a_t, b_t, 0.5)))
    inside = sorted(m for m in marks if lo < m < hi)
    value, _ = integrate.quad(integrand, lo, hi, points=inside or None, limit=200,
                              epsabs=1e-12, epsrel=1e-10)
    return value


def prob_beat_control(
    x_c: int,
    n_c: int,
    x_t: int,
    n_t: int,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
) -> float:
    """Posterior probability that the treatment rate exceeds the control rate.

    Independent ``Beta(a + x, b + n - x)`` posteriors from a ``Beta(a, b)`` prior. When the
    prior's parameters are whole numbers (the uniform prior is), the probability is Evan
    Miller's exact finite sum ``P(p_t > p_c) = sum_{i < a_t} B(a_c + i, b_c + b_t) / ((b_t + i)
    B(1 + i, b_t) B(a_c, b_c))`` in log space with :func:`scipy.special.betaln`, over the arm
    with fewer successes (``1 - P(p_c > p_t)`` when that is the control); otherwise, or beyond a
    million terms, the integral ``∫ f_c(p) P(p_t > p) dp`` by :func:`scipy.integrate.quad`.
    Neither is Monte Carlo. A description of the evidence, not a test: it does not control
    false positives under peeking any better than a p-value does.

    Parameters
    ----------
    x_c, n_c, x_t, n_t : int
        Successes and leads in the control and treatment arms.
    prior : (float, float)
        Beta prior parameters ``(a, b)``, both positive; uniform by default.

    Returns
    -------
    float

    Examples
    --------
    >>> prob_beat_control(50, 1000, 50, 1000)
    0.5
    >>> round(prob_beat_control(50, 1000, 70, 1000), 3)
    0.97
    """
    where = "prob_beat_control"
    x_c, n_c, x_t, n_t = two_arm_counts(x_c, n_c, x_t, n_t, where)
    try:
        a, b = (float(v) for v in prior)
    except (TypeError, ValueError):
        a = b = math.nan
    if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"{where} 'prior' must be two positive numbers (a, b) of a Beta prior. "
                         f"Got {prior!r} instead.")
    if (x_c, n_c) == (x_t, n_t):
        return 0.5  # the two posteriors are identical and continuous
    a_c, b_c, a_t, b_t = a + x_c, b + n_c - x_c, a + x_t, b + n_t - x_t
    if a.is_integer() and b.is_integer() and min(a_c, a_t) <= _MAX_TERMS:
        value = _beat_exact(a_c, b_c, a_t, b_t) if a_t <= a_c \
            else 1.0 - _beat_exact(a_t, b_t, a_c, b_c)
    else:
        value = _beat_quad(a_c, b_c, a_t, b_t)
    return float(min(1.0, max(0.0, value)))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of p-values for testing several arms against one control.

    The ``k``-th smallest of the ``m`` p-values is multiplied by ``m - k + 1``, the products are
    made non-decreasing in that order and capped at 1: the values of statsmodels'
    ``multipletests(method="holm")``, which also runs a full garbage collection on every call
    (a tenth of a second in a large session), so it is not called here.

    Parameters
    ----------
    p_values : sequence of float
        p-values between 0 and 1; NaN ones (a test that could not be run) stay NaN and are not
        counted among the ``m``.

    Returns
    -------
    ndarray
        The adjusted p-values, in the order given; reject where they are below ``alpha``.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float).ravel()
    finite = ~np.isnan(p)
    if not np.all((p[finite] >= 0) & (p[finite] <= 1)):
        raise ValueError(f"holm 'p_values' must be numbers between 0 and 1 (or NaN). Got "
                         f"{p.tolist()!r} instead.")
    out = np.full(len(p), np.nan)
    order = np.argsort(p[finite], kind="stable")
    ranked = p[finite][order] * np.arange(len(order), 0, -1)
    adjusted = np.empty(len(order))
    adjusted[order] = np.minimum(np.maximum.accumulate(ranked), 1.0)
    out[finite] = adjusted
    return out


def holm_levels(p_values: Sequence[float], alpha: float = 0.05) -> np.ndarray:
    """The level at which Holm's step-down procedure tested each hypothesis.

    The ``k``-th smallest of ``m`` p-values is tested at ``alpha / (m - k + 1)`` as long as every
    smaller one was rejected; from the first one not rejected on, every later one is given that
    step's level. An interval at these levels excludes the null exactly when Holm rejects the
    hypothesis (``holm(p) < alpha``), so a result is never Holm-significant with an interval
    that covers zero. These stepwise intervals are not simultaneous intervals in the textbook
    sense (that needs single-step Bonferroni, ``alpha / m`` for all): their family-wise
    coverage is measured in the tests.

    Parameters
    ----------
    p_values : sequence of float
        p-values between 0 and 1; NaN ones stay NaN and are not counted among the ``m``.
    alpha : float
        The family-wise level.

    Returns
    -------
    ndarray
        The levels, in the order given.

    Examples
    --------
    >>> holm_levels([0.01, 0.04, 0.03]).round(4).tolist()  # 0.01 < 0.05/3, then 0.03 >= 0.05/2
    [0.0167, 0.025, 0.025]
    """
    alpha = probability(alpha, "alpha", "holm_levels")
    p = np.asarray(p_values, dtype=float).ravel()
    adjusted = holm(p)
    finite = ~np.isnan(p)
    out = np.full(len(p), np.nan)
    m = int(finite.sum())
    if m == 0:
        return out
    order = np.argsort(p[finite], kind="stable")
    steps = alpha / (m - np.arange(m))
    rejected = adjusted[finite][order] < alpha
    levels = steps.copy()
    if not rejected.all():
        first = int(np.argmin(rejected))
        levels[first:] = steps[first]
    ranked = np.empty(m)
    ranked[order] = levels
    out[finite] = ranked
    return out


# --------------------------------------------------------------------------------------------
# Decisions against a practical threshold
# --------------------------------------------------------------------------------------------
def decide(
    diff: float,
    low: float,
    high: float,
    threshold: float | None = None,
    significant: bool | None = None,
    *,
    higher_is_better: bool = True,
) -> str:
    """A decision in plain words, from a difference's interval and a practical threshold.

    With a threshold ``t`` (a difference on the metric's scale that would matter, e.g. 0.005
    for half a point of conversion):

    ======================================= =============================================
    the interval ``[low, high]``              decision
    ======================================= =============================================
    above ``+t``                              "better: higher by at least t" (or "worse"
                                              when lower is better)
    below ``-t``                              "worse: lower by at least t"
    inside ``(-t, t)``, excluding 0           "significant but smaller than ±t: no
                                              practical difference"
    inside ``(-t, t)``, covering 0            "equivalent within ±t"
    across ``t`` or ``-t``, excluding 0       "better (higher), but maybe by less than t:
                                              more data needed"
    across ``t`` or ``-t``, covering 0        "inconclusive: more data needed"
    ======================================= =============================================

    Without a threshold the decision rests on significance alone: "significant: higher",
    "significant: lower" or "no significant difference". The equivalence reading ("inside the
    threshold") is the two one-sided tests' at level ``(1 - confidence) / 2`` of the interval.

    Parameters
    ----------
    diff, low, high : float
        The difference (treatment minus control) and its interval; give the Holm-adjusted
        interval when ``significant`` is Holm-adjusted.
    threshold : float, optional
        The smallest difference that would matter, positive.
    significant : bool, optional
        Whether the test rejected; by default, whether the interval excludes 0.
    higher_is_better : bool
        False for metrics such as time to first touch or opt-out rate.

    Returns
    -------
    str

    Examples
    --------
    >>> decide(0.012, 0.007, 0.017, 0.005)
    'better: higher by at least 0.005'
    >>> decide(-0.00057, -0.00098, -0.00016, 0.005)
    'significant but smaller than ±0.005: no practical difference'
    >>> decide(0.004, -0.002, 0.010, 0.005)
    'inconclusive: more data needed'
    >>> decide(0.004, 0.001, 0.007)
    'significant: higher'
    """
    if threshold is not None:
        ok = is_number(threshold) and math.isfinite(float(threshold)) and float(threshold) > 0
        if not ok:
            raise ValueError(f"decide 'threshold' must be a positive number (a difference on the "
                             f"metric's scale) or None. Got {threshold!r} instead.")
    values = (diff, low, high)
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return "not tested"
    if significant is None:
        significant = bool(low > 0 or high < 0)
    if threshold is None:
        if not significant:
            return "no significant difference"
        return "significant: " + ("higher" if diff > 0 else "lower")
    t = float(threshold)
    up, down = ("better", "worse") if higher_is_better else ("worse", "better")
    if low >= t:
        return f"{up}: higher by at least {t:g}"
    if high <= -t:
        return f"{down}: lower by at least {t:g}"
    if -t < low and high < t:
        if significant:
            return f"significant but smaller than ±{t:g}: no practical difference"
        return f"equivalent within ±{t:g}"
    if significant:
        side = f"{up} (higher)" if diff > 0 else f"{down} (lower)"
        return f"{side}, but maybe by less than {t:g}: more data needed"
    return "inconclusive: more data needed"


# --------------------------------------------------------------------------------------------
# The omnibus test: are all arms alike?
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class OmnibusResult(Result):
    """The chi-square test of homogeneity of one metric's rate across all arms.

    Attributes
    ----------
    metric : str
    arms : tuple of str
    n, successes : tuple of int
        Leads and successes per arm.
    statistic : float
        Pearson's chi-square (no continuity correction).
    df : int
        Degrees of freedom, ``arms - 1``.
    p_value : float
    method : str
        ``"chi2"`` (the chi-square distribution), ``"monte carlo"`` (when an expected count
        is below 5: the share of ``draws`` tables with the same margins, drawn at random,
        whose statistic is at least the observed one) or ``"none"`` (every lead had the same
        outcome: nothing to test).
    alpha : float
        Level below which the arms are said to differ.
    draws : int
        Monte Carlo tables drawn (0 for the chi-square distribution).
    seed : int
        Seed of the Monte Carlo draws.
    """

    metric: str
    arms: tuple[str, ...]
    n: tuple[int, ...]
    successes: tuple[int, ...]
    statistic: float
    df: int
    p_value: float
    method: str
    alpha: float = 0.05
    draws: int = 0
    seed: int = 0

    @property
    def differ(self) -> bool:
        """True when some arm's rate differs from the others' beyond chance at ``alpha``."""
        return bool(self.p_value < self.alpha)

    @property
    def summary(self) -> pd.DataFrame:
        """Per arm: ``n, successes, rate``, the successes ``expected`` if every arm had the
        pooled rate, and the arm's ``contribution`` to the statistic."""
        n = np.array(self.n, dtype=float)
        x = np.array(self.successes, dtype=float)
        pooled = x.sum() / n.sum()
        expected = n * pooled
        with np.errstate(divide="ignore", invalid="ignore"):
            contribution = np.where((pooled > 0) & (pooled < 1),
                                    (x - expected) ** 2 / (expected * (1 - pooled)), 0.0)
        return pd.DataFrame({"n": n.astype(int), "successes": x.astype(int), "rate": x / n,
                             "expected": expected, "contribution": contribution},
                            index=pd.Index(list(self.arms), name="arm"))

    @property
    def message(self) -> str:
        """The test's conclusion in plain words."""
        how = {"chi2": "from the chi-square distribution",
               "monte carlo": f"by Monte Carlo over {self.draws:,d} tables with the same "
                              f"margins, seed {self.seed}",
               "none": ""}[self.method]
        stat = f"chi2 = {self.statistic:.2f}, df {self.df}, p = {self.p_value:.3g} {how}"
        if self.method == "none":
            return f"{self.metric}: every lead had the same outcome; the arms cannot differ."
        if self.differ:
            return f"{self.metric}: the arms' rates differ ({stat})."
        return f"{self.metric}: no evidence that the arms' rates differ ({stat})."

    def _describe(self) -> str:
        return (f"{self.metric} across {len(self.arms)} arms; chi2={self.statistic:.3g}, "
                f"df={self.df}, p={self.p_value:.3g}, {self.method}")

    def _header(self) -> list[str]:
        return [repr(self), self.message]

    def plot(self, ax=None):
        """Each arm's rate against the pooled rate; returns the axes."""
        ax = axes(ax, figsize=(5, 3.5))
        s = self.summary
        x = np.arange(len(s))
        ax.bar(x, s["rate"], color="#c1440e" if self.differ else "#3a7ca5")
        ax.axhline(s["successes"].sum() / s["n"].sum(), color="black", ls=":", lw=1,
                   label="pooled")
        ax.set_xticks(x, [str(a) for a in s.index])
        ax.set_ylabel(f"{self.metric} rate")
        ax.set_title(f"{self.metric}: chi2 test of homogeneity (p = {self.p_value:.3g})")
        ax.legend()
        return ax


def _omnibus_counts(metric: str, arms: Sequence[str], x: Sequence[int], n: Sequence[int], *,
                    alpha: float, seed: int, draws: int, min_expected: float) -> OmnibusResult:
    """:func:`omnibus` on per-arm counts (``n >= 1`` each)."""
    x_a = np.asarray(x, dtype=np.int64)
    n_a = np.asarray(n, dtype=np.int64)
    total, s = int(n_a.sum()), int(x_a.sum())
    common = {"metric": metric, "arms": tuple(map(str, arms)), "n": tuple(map(int, n_a)),
              "successes": tuple(map(int, x_a)), "df": len(arms) - 1, "alpha": alpha,
              "seed": seed}
    if s == 0 or s == total:
        return OmnibusResult(statistic=0.0, p_value=1.0, method="none", **common)
    observed = np.column_stack([x_a, n_a - x_a])
    chi2, p, _, expected = stats.chi2_contingency(observed, correction=False)
    if expected.min() >= min_expected:
        return OmnibusResult(statistic=float(chi2), p_value=float(p), method="chi2", **common)
    # Monte Carlo with both margins fixed: the successes fall among the arms as a multivariate
    # hypergeometric draw (the permutation distribution of the arm labels)
    rng = np.random.default_rng(seed)
    sims = rng.multivariate_hypergeometric(n_a, s, size=draws).astype(float)
    e1 = n_a * (s / total)
    e0 = n_a - e1
    sim_stat = ((sims - e1) ** 2 * (1 / e1 + 1 / e0)).sum(axis=1)
    at_least = int((sim_stat >= chi2 * (1 - 1e-9)).sum())
    return OmnibusResult(statistic=float(chi2), p_value=(1 + at_least) / (1 + draws),
                         method="monte carlo", draws=draws, **common)


def omnibus(
    table: pd.DataFrame,
    metric: str = "converted",
    *,
    alpha: float = 0.05,
    seed: int = 0,
    draws: int = 20_000,
    min_expected: float = 5.0,
) -> OmnibusResult:
    """Do all arms share one rate? Pearson's chi-square test of homogeneity.

    The arms × (success, failure) table is tested with :func:`scipy.stats.chi2_contingency`
    without Yates' correction (``df = arms - 1``). When an expected count is below
    ``min_expected`` the chi-square distribution is not trusted and the p-value is a Monte Carlo
    one instead: ``draws`` tables with the same margins (the arms' sizes and the total
    successes) are drawn at random from ``seed`` (multivariate hypergeometric: the arm labels
    permuted), and ``p = (1 + #{chi2_sim >= chi2_obs}) / (1 + draws)``; with 20,000 draws its
    standard error at p = 0.05 is 0.0015. Read it before the pairwise comparisons when there
    are three or more arms: it asks one question, so it needs no correction.

    Parameters
    ----------
    table : DataFrame
        One row per lead with ``arm`` and the boolean ``metric`` column (as from
        :func:`lead_table`).
    metric : str
        The metric column.
    alpha : float
        Level below which the arms are said to differ.
    seed : int
        Seed of the Monte Carlo draws (same seed, same p-value).
    draws : int
        Monte Carlo tables, at least 1,000.
    min_expected : float
        The smallest expected count for which the chi-square distribution is used.

    Returns
    -------
    OmnibusResult

    Examples
    --------
    >>> t = pd.DataFrame({"arm": np.repeat(["a", "b", "c"], 200),
    ...                   "converted": np.r_[np.arange(200) < 20, np.arange(200) < 22,
    ...                                      np.arange(200) < 40]})
    >>> r = omnibus(t)
    >>> round(r.statistic, 2), r.df, round(r.p_value, 4), r.method
    (10.28, 2, 0.0058, 'chi2')
    """
    where = "omnibus"
    need_columns(table, ["arm", metric], f"{where} 'table'")
    alpha = probability(alpha, "alpha", where)
    seed = whole_number(seed, "seed", where)
    draws = whole_number(draws, "draws", where, minimum=1000)
    if not (is_number(min_expected) and float(min_expected) >= 0):
        raise ValueError(f"{where} 'min_expected' must be a number >= 0. Got {min_expected!r} "
                         "instead.")
    keep = table["arm"].notna().to_numpy()
    hit = bool_column(table, metric, where)[keep]
    codes, arms = pd.factorize(table["arm"].astype(str)[keep], sort=True)
    if len(arms) < 2:
        raise ValueError(f"{where} needs at least two arms in the table. Got {list(arms)}.")
    n = np.bincount(codes, minlength=len(arms))
    x = np.bincount(codes, weights=hit, minlength=len(arms)).astype(np.int64)
    return _omnibus_counts(metric, list(arms), x, n, alpha=alpha, seed=seed, draws=draws,
                           min_expected=float(min_expected))


# --------------------------------------------------------------------------------------------
# Sample ratio mismatch
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class SRMResult(Result):
    """A chi-square goodness-of-fit check of the arms' sizes against the planned shares.

    A mismatch (``p_value < alpha``) means leads were lost, duplicated or mis-assigned in some
    arm-dependent way; the comparison of the arms is then biased in an unknown direction.

    Attributes
    ----------
    counts : mapping arm -> int
        Leads each arm received.
    expected_share : mapping arm -> float
        Planned shares, summing to 1.
    chi2, p_value : float
        The test's statistic and p-value.
    alpha : float
        Level below which the p-value flags a mismatch.
    """

    counts: Mapping[str, int]
    expected_share: Mapping[str, float]
    chi2: float
    p_value: float
    alpha: float = 0.001

    @property
    def mismatch(self) -> bool:
        """True when the split differs from the plan beyond chance at level ``alpha``."""
        return bool(self.p_value < self.alpha)

    @property
    def summary(self) -> pd.DataFrame:
        """Per arm: observed leads, expected leads, observed and expected share."""
        arms = list(self.counts)
        total = sum(self.counts.values())
        obs = np.array([self.counts[a] for a in arms], dtype=float)
        share = np.array([self.expected_share[a] for a in arms], dtype=float)
        return pd.DataFrame(
            {"observed": obs.astype(int), "expected": share * total,
             "observed_share": obs / total if total else np.nan, "expected_share": share},
            index=pd.Index(arms, name="arm"),
        )

    def to_frame(self) -> pd.DataFrame:
        """The per-arm table with ``chi2``, ``p_value`` and ``mismatch`` repeated on each row."""
        return self.summary.assign(chi2=self.chi2, p_value=self.p_value, alpha=self.alpha,
                                   mismatch=self.mismatch)

    @property
    def message(self) -> str:
        """The check's conclusion in plain words: what the split was, and what to do about a
        mismatch."""
        counts = " / ".join(f"{a} {c:,d}" for a, c in self.counts.items())
        shares = " / ".join(f"{100 * s:.4g}%" for s in self.expected_share.values())
        stat = f"chi2 = {self.chi2:.2f}, p = {self.p_value:.3g}, alpha {self.alpha:g}"
        if self.mismatch:
            return (
                f"SAMPLE RATIO MISMATCH: the arms received {counts} leads where {shares} was "
                f"planned ({stat}). Assignment or data collection lost or added leads in one "
                "arm (a broken redirect, a filter applied to one arm, bots, a bad join); do not "
                "trust this experiment's results until the cause is found."
            )
        return f"Sample ratio OK: {counts} leads against planned shares {shares} ({stat})."

    def _describe(self) -> str:
        counts = ", ".join(f"{a}={c:,d}" for a, c in self.counts.items())
        return f"{counts}; chi2={self.chi2:.3g}, p={self.p_value:.3g}, mismatch={self.mismatch}"

    def _header(self) -> list[str]:
        return [repr(self), self.message]

    def plot(self, ax=None):
        """Observed against planned share per arm; returns the axes."""
        ax = axes(ax, figsize=(5, 3.5))
        s = self.summary
        x = np.arange(len(s))
        color = "#c1440e" if self.mismatch else "#3a7ca5"
        ax.bar(x, s["observed_share"], color=color, label="observed")
        ax.scatter(x, s["expected_share"], color="black", marker="_", s=400, zorder=3,
                   label="planned")
        ax.set_xticks(x, [str(a) for a in s.index])
        ax.set_ylabel("share of leads")
        ax.set_title(f"Sample ratio check (p = {self.p_value:.3g})")
        ax.legend()
        return ax


def srm_check(
    counts: Mapping[str, int],
    expected_share: Mapping[str, float] | None = None,
    *,
    alpha: float = 0.001,
) -> SRMResult:
    """Sample ratio mismatch check: did the arms get the share of leads they were meant to?

    A chi-square goodness-of-fit test (:func:`scipy.stats.chisquare`) of the observed counts
    against ``total * expected_share``. The customary ``alpha`` is strict (0.001) because the
    check runs on every experiment and a true mismatch is usually glaring.

    Parameters
    ----------
    counts : mapping arm -> int
        Leads per arm.
    expected_share : mapping arm -> float, optional
        Planned shares (normalised to sum to 1), one per arm of ``counts``; equal by default.
    alpha : float
        Level below which the p-value flags a mismatch.

    Returns
    -------
    SRMResult

    Examples
    --------
    >>> srm_check({"a": 10_200, "b": 9_800}).mismatch  # p = 0.0047: not below 0.001
    False
    >>> srm_check({"a": 20_400, "b": 19_600}).mismatch  # the same 51/49 split, twice the leads
    True
    """
    where = "srm_check"
    if not isinstance(counts, Mapping) or len(counts) < 2:
        raise ValueError(f"{where} 'counts' must map at least two arms to their number of leads. "
                         f"Got {counts!r} instead.")
    obs = {str(a): count(c, f"counts[{a!r}]", where) for a, c in counts.items()}
    alpha = probability(alpha, "alpha", where)
    arms = list(obs)
    if expected_share is None:
        share = np.full(len(arms), 1.0 / len(arms))
    else:
        if not isinstance(expected_share, Mapping) or set(map(str, expected_share)) != set(arms):
            got = sorted(map(str, expected_share)) if isinstance(expected_share, Mapping) \
                else expected_share
            raise ValueError(f"{where} 'expected_share' must give a share for exactly the arms "
                             f"{arms}. Got {got!r} instead.")
        share = weight_vector({str(a): s for a, s in expected_share.items()}, arms,
                               f"{where} 'expected_share':")
    f_obs = np.array([obs[a] for a in arms], dtype=float)
    total = f_obs.sum()
    if total == 0:
        raise ValueError(f"{where} 'counts' are all zero: there is no split to check.")
    chi2, p = stats.chisquare(f_obs, f_exp=share * total)
    return SRMResult(counts=obs, expected_share=dict(zip(arms, share.tolist(), strict=True)),
                     chi2=float(chi2), p_value=float(p), alpha=alpha)

