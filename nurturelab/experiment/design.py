"""Design of a two-arm test on a proportion: sample size, power, minimal detectable effect.

A two-sided two-proportion test, by the normal approximation on Cohen's effect size *h*
(statsmodels' ``proportion_effectsize`` and ``NormalIndPower``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from nurturelab.experiment._args import positive, probability

__all__ = ["mde", "power", "sample_size"]


def _design_args(where: str, alpha: float, ratio: float) -> tuple[float, float]:
    return probability(alpha, "alpha", where), positive(ratio, "ratio", where)


def sample_size(
    p_control: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    relative: bool = False,
    ratio: float = 1.0,
) -> int:
    """Leads needed in the control arm to detect a difference with a two-sided test.

    Normal approximation on Cohen's effect size ``h = 2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))``
    (:func:`statsmodels.stats.proportion.proportion_effectsize` and
    :class:`statsmodels.stats.power.NormalIndPower`), rounded up.

    Parameters
    ----------
    p_control : float
        Expected control rate, strictly between 0 and 1.
    mde : float
        Smallest difference worth detecting: absolute (``p_t - p_c``), or relative
        (``p_t / p_c - 1``) when ``relative``. Either sign; ``p_t`` must stay in (0, 1).
    alpha : float
        Two-sided significance level.
    power : float
        Probability of rejecting when the difference is exactly ``mde``.
    relative : bool
        Read ``mde`` as a relative lift.
    ratio : float
        Treatment arm size over control arm size.

    Returns
    -------
    int
        Control arm size; the treatment arm needs ``ceil(ratio * n)``.

    Examples
    --------
    >>> sample_size(0.10, 0.02)
    3835
    >>> sample_size(0.10, 0.20, relative=True)  # the same 10% -> 12%
    3835
    """
    where = "sample_size"
    p_c = probability(p_control, "p_control", where)
    alpha, ratio = _design_args(where, alpha, ratio)
    target = probability(power, "power", where)
    try:
        d = float(mde)
    except (TypeError, ValueError):
        d = math.nan
    if not (math.isfinite(d) and d != 0):
        raise ValueError(f"{where} 'mde' must be a non-zero number. Got {mde!r} instead.")
    p_t = p_c * (1 + d) if relative else p_c + d
    if not 0 < p_t < 1:
        kind = "relative " if relative else ""
        raise ValueError(f"{where} 'mde' must keep the treatment rate strictly between 0 and 1; "
                         f"p_control={p_c:g} with {kind}mde={d:g} gives {p_t:g}.")
    if target <= alpha:
        raise ValueError(f"{where} 'power' must exceed 'alpha' ({alpha:g}). Got {target:g} "
                         "instead.")
    h = abs(proportion_effectsize(p_t, p_c))
    n = NormalIndPower().solve_power(effect_size=h, nobs1=None, alpha=alpha, power=target,
                                     ratio=ratio, alternative="two-sided")
    return int(math.ceil(float(np.squeeze(n)) - 1e-9))


def power(
    p_control: float,
    p_treatment: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    ratio: float = 1.0,
) -> float:
    """Power of the two-sided two-proportion test (normal approximation on Cohen's *h*).

    Parameters
    ----------
    p_control, p_treatment : float
        True rates, strictly between 0 and 1.
    n_per_arm : float
        Control arm size; the treatment arm has ``ratio * n_per_arm``.
    alpha : float
        Two-sided significance level.
    ratio : float
        Treatment arm size over control arm size.

    Returns
    -------
    float
        Probability of a significant result (either direction).

    Examples
    --------
    >>> round(power(0.10, 0.12, 3835), 3)
    0.8
    """
    where = "power"
    p_c = probability(p_control, "p_control", where)
    p_t = probability(p_treatment, "p_treatment", where)
    n = positive(n_per_arm, "n_per_arm", where)
    alpha, ratio = _design_args(where, alpha, ratio)
    return _power(p_c, p_t, n, alpha, ratio)


def _power(p_c: float, p_t: float, n: float, alpha: float, ratio: float) -> float:
    h = abs(float(proportion_effectsize(p_t, p_c)))
    return float(NormalIndPower().power(effect_size=h, nobs1=n, alpha=alpha, ratio=ratio,
                                        alternative="two-sided"))


def mde(
    p_control: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> float:
    """Smallest absolute increase ``p_t - p_c`` detected with the given power.

    Solved numerically (:func:`scipy.optimize.brentq` on :func:`power`); the inverse of
    :func:`sample_size` up to its rounding. Decreases are detected at about the same size
    (the test is two-sided); the increase is returned.

    Parameters
    ----------
    p_control : float
        Expected control rate, strictly between 0 and 1.
    n_per_arm : float
        Control arm size; the treatment arm has ``ratio * n_per_arm``.
    alpha, power, ratio
        As in :func:`sample_size`.

    Returns
    -------
    float
        Absolute difference in rate (0.02 is two percentage points).

    Examples
    --------
    >>> round(mde(0.10, 3835), 4)
    0.02
    """
    where = "mde"
    p_c = probability(p_control, "p_control", where)
    n = positive(n_per_arm, "n_per_arm", where)
    alpha, ratio = _design_args(where, alpha, ratio)
    target = probability(power, "power", where)
    if target <= alpha:
        raise ValueError(f"{where} 'power' must exceed 'alpha' ({alpha:g}). Got {target:g} "
                         "instead.")
    top = 1.0 - p_c - 1e-12
    if _power(p_c, p_c + top, n, alpha, ratio) < target:
        raise ValueError(f"{where} 'n_per_arm'={n:g} is too small: even a treatment rate of 1 "
                         f"against p_control={p_c:g} is not detected with power {target:g}.")
    d = optimize.brentq(lambda x: _power(p_c, p_c + x, n, alpha, ratio) - target, 1e-12, top,
                        xtol=1e-12, rtol=1e-12)
    return float(d)

