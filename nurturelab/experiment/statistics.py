"""Statistics of two arms on a proportion, and the sample ratio check.

:func:`compare_proportions` (difference and lift with intervals, z or Fisher p-value),
:func:`prob_beat_control` (the Bayesian probability that the treatment's rate is higher) and
:func:`srm_check` (did the arms receive the planned shares of leads?). Each takes summary
counts, not tables, so it serves a dashboard's numbers as well as :func:`analyze`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import integrate, stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from nurturelab.experiment._args import count, probability, two_arm_counts, weight_vector
from nurturelab.plots import axes
from nurturelab.result import Result

__all__ = ["SRMResult", "compare_proportions", "holm", "prob_beat_control", "srm_check"]


# --------------------------------------------------------------------------------------------
# Comparing two proportions
# --------------------------------------------------------------------------------------------
def compare_proportions(
    x_c: int,
    n_c: int,
    x_t: int,
    n_t: int,
    *,
    alpha: float = 0.05,
    test: Literal["auto", "z", "exact"] = "auto",
) -> dict[str, float | str]:
    """Treatment against control on one proportion: difference, lift, intervals, p-value.

    * ``diff = p_t - p_c`` with Newcombe's hybrid score interval (statsmodels
      ``confint_proportions_2indep(compare="diff", method="newcomb")``), good at small counts
      and rates near 0.
    * ``lift = p_t / p_c - 1`` with the log-ratio interval with the 0.5 zero-cell adjustment
      (``compare="ratio", method="log-adjusted"``) minus one. The point ``lift`` is NaN when
      ``x_c`` is 0 (the ratio is infinite); the interval is still given, except when every
      lead of both arms succeeded (the interval collapses to a point: NaN).
    * ``p_value`` from the pooled two-proportion z test (statsmodels ``proportions_ztest``), or
      Fisher's exact test (:func:`scipy.stats.fisher_exact`, two-sided) when ``test="exact"``,
      or when ``test="auto"`` and an expected cell of the 2x2 table is below 5. The z test's
      p-value is NaN when no lead or every lead succeeded (no variance); Fisher's is 1 then.

    The p-value is a fixed-horizon one: valid for one look at a sample size fixed in advance
    (see :func:`monitor` for repeated looks).

    Parameters
    ----------
    x_c, n_c, x_t, n_t : int
        Successes and leads in the control and treatment arms (``n >= 1``).
    alpha : float
        One minus the confidence level of the intervals.
    test : {"auto", "z", "exact"}

    Returns
    -------
    dict
        ``diff, diff_low, diff_high, lift, lift_low, lift_high, p_value`` (floats) and
        ``test`` (``"z"`` or ``"exact"``).

    Examples
    --------
    >>> r = compare_proportions(100, 1000, 130, 1000)
    >>> round(r["diff"], 3), r["test"], round(r["p_value"], 4)
    (0.03, 'z', 0.0355)
    """
    where = "compare_proportions"
    x_c, n_c, x_t, n_t = two_arm_counts(x_c, n_c, x_t, n_t, where)
    alpha = probability(alpha, "alpha", where)
    if test not in ("auto", "z", "exact"):
        raise ValueError(f"{where} 'test' must be one of ['auto', 'z', 'exact']. Got {test!r} "
                         "instead.")
    p_c, p_t = x_c / n_c, x_t / n_t
    d_lo, d_hi = confint_proportions_2indep(x_t, n_t, x_c, n_c, compare="diff",
                                            method="newcomb", alpha=alpha)
    r_lo, r_hi = confint_proportions_2indep(x_t, n_t, x_c, n_c, compare="ratio",
                                            method="log-adjusted", alpha=alpha)
    if test == "auto":
        n, s = n_c + n_t, x_c + x_t
        smallest = min(n_c, n_t) * min(s, n - s) / n
        test = "exact" if smallest < 5 else "z"
    if test == "exact":
        table = [[x_t, n_t - x_t], [x_c, n_c - x_c]]
        p_value = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    else:
        pooled = (x_c + x_t) / (n_c + n_t)
        if 0 < pooled < 1:
            p_value = float(proportions_ztest([x_t, x_c], [n_t, n_c])[1])
        else:
            p_value = math.nan
    if x_c == n_c and x_t == n_t:
        r_lo = r_hi = math.nan  # the log-ratio variance vanishes: no interval to give
    return {
        "diff": p_t - p_c,
        "diff_low": float(d_lo),
        "diff_high": float(d_hi),
        "lift": p_t / p_c - 1 if x_c > 0 else math.nan,
        "lift_low": float(r_lo) - 1,
        "lift_high": float(r_hi) - 1,
        "p_value": p_value,
        "test": test,
    }


def prob_beat_control(
    x_c: int,
    n_c: int,
    x_t: int,
    n_t: int,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
) -> float:
    """Posterior probability that the treatment rate exceeds the control rate.

    Independent ``Beta(a + x, b + n - x)`` posteriors from a ``Beta(a, b)`` prior;
    ``P(p_t > p_c) = ∫ f_c(p) P(p_t > p) dp``, integrated with :func:`scipy.integrate.quad`
    over the control posterior's support (cut where its tails fall below 1e-15), not by Monte
    Carlo. A description of the evidence, not a test: it does not control false positives
    under peeking any better than a p-value does.

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
    post_c = stats.beta(a + x_c, b + n_c - x_c)
    post_t = stats.beta(a + x_t, b + n_t - x_t)
    lo, hi = float(post_c.ppf(1e-15)), float(post_c.isf(1e-15))
    inside = [m for m in (post_c.mean(), post_t.mean(), post_t.median()) if lo < m < hi]
    value, _ = integrate.quad(lambda p: post_c.pdf(p) * post_t.sf(p), lo, hi,
                              points=sorted(inside) or None, limit=200, epsabs=1e-12,
                              epsrel=1e-10)
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

