"""Sequential monitoring: weekly looks at a running experiment, with tests valid under peeking.

:func:`weekly_looks` turns a lead table into cumulative counts per week of lead creation;
:func:`monitor` reads those looks with one of three designs, each valid however often it is
read:

* ``"msprt"`` (the default): always-valid p-values and confidence sequences (mixture SPRT),
  for looks taken whenever and as often as one likes, with no planned end;
* ``"obf"`` and ``"pocock"``: group-sequential designs with a planned horizon, whose z
  boundaries come from Lan-DeMets alpha spending (:func:`spending_boundaries`, returning a
  :class:`GroupSequentialDesign`) evaluated at the information each look actually reached.

The naive p-value sits beside them, *not* valid when read every week.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from nurturelab.checks import need_columns
from nurturelab.experiment._args import bool_column, positive, probability
from nurturelab.plots import axes
from nurturelab.result import Result

__all__ = ["GroupSequentialDesign", "monitor", "spending_boundaries", "weekly_looks"]

SPENDING = ("obf", "pocock")
DESIGNS = ("msprt", *SPENDING)
_SPENDING_NAMES = {"obf": "O'Brien-Fleming-type", "pocock": "Pocock-type"}
_GRID_STEPS = 12  # grid points per standard deviation of the smaller neighbouring increment
_GRID_MAX = 2001  # points of the grid over one look's continuation region, at most
_GRID_SPAN = 8.5  # the continuation region is cut at 8.5 standard deviations of the sum


def _tuning_ratio(alpha: float) -> float:
    """s solving s = 2 log(1/alpha) + log(1 + s): the tau**2 / V that makes the normal-mixture
    confidence sequence narrowest at the look whose variance is V (about 8.2 at alpha 0.05)."""
    s = 2 * math.log(1 / alpha)
    for _ in range(100):
        s = 2 * math.log(1 / alpha) + math.log1p(s)
    return s


# --------------------------------------------------------------------------------------------
# Group-sequential boundaries by alpha spending
# --------------------------------------------------------------------------------------------
def _spent(fraction: np.ndarray, alpha: float, spending: str, sides: int) -> np.ndarray:
    """Cumulative alpha the Lan-DeMets function has spent by information ``fraction`` (capped
    at 1), over both sides when ``sides`` is 2. Each side spends half of a two-sided alpha
    with the one-sided function at level ``a = alpha / sides``: O'Brien-Fleming-type
    ``2 - 2 Phi(z_{a/2} / sqrt(t))``, Pocock-type ``a log(1 + (e - 1) t)``."""
    t = np.minimum(np.asarray(fraction, dtype=float), 1.0)
    a = alpha / sides
    if spending == "obf":
        with np.errstate(divide="ignore"):
            per_side = 2 * special.ndtr(-special.ndtri(1 - a / 2) / np.sqrt(t))
    else:
        per_side = a * np.log1p((math.e - 1) * t)
    return sides * per_side


def _simpson_weights(n: int, width: float) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * width / (3 * (n - 1))


def _boundaries(information: np.ndarray, increments: np.ndarray, sides: int) -> np.ndarray:
    """z boundaries that spend ``increments`` of alpha at looks of ``information`` (increasing,
    the Brownian-motion time of the score ``S_k = Z_k sqrt(t_k)``).

    The recursive numerical integration of Armitage, McPherson & Rowe (1969), as in Jennison &
    Turnbull (2000, ch. 19): the sub-density of ``S_k`` over the paths that have not crossed by
    look ``k`` is kept on a grid over the continuation region (Simpson's rule), the crossing
    probability at the next look is that density against the exact normal tail of the
    independent increment, and each boundary is the root (Brent) of crossing probability equal
    to the alpha to spend. A look that spends nothing has an infinite boundary.
    """
    t = np.asarray(information, dtype=float)
    dt = np.diff(t, prepend=0.0)
    c = np.full(len(t), np.inf)
    grid = None  # (points s, Simpson weight * sub-density) of S at the previous look
    for k in range(len(t)):
        sd, root = math.sqrt(dt[k]), math.sqrt(t[k])
        if increments[k] > 0:
            if grid is None:
                c[k] = -special.ndtri(increments[k] / sides)
            else:
                s, mass = grid

                def crossing(ck, s=s, mass=mass, sd=sd, root=root):
                    p = special.ndtr((s - ck * root) / sd)
                    if sides == 2:
                        p = p + special.ndtr((-ck * root - s) / sd)
                    return float(mass @ p)

                target = float(increments[k])
                if crossing(0.0) <= target:  # more to spend than paths left: reject at once
                    c[k] = 0.0
                else:
                    c[k] = optimize.brentq(lambda ck, tg=target: crossing(ck) - tg, 0.0, 50.0,
                                           xtol=1e-10)
        if k == len(t) - 1:
            break
        hi = min(c[k], _GRID_SPAN) * root
        lo = -hi if sides == 2 else -_GRID_SPAN * root
        step = min(sd, math.sqrt(dt[k + 1])) / _GRID_STEPS
        n = min(max(int(math.ceil((hi - lo) / step)), 2), _GRID_MAX - 1)
        n += 1 - n % 2  # an odd number of points for Simpson's rule
        points = np.linspace(lo, hi, n)
        if grid is None:
            density = stats.norm.pdf(points / root) / root
        else:
            s, mass = grid
            density = (stats.norm.pdf((points[:, None] - s[None, :]) / sd) / sd) @ mass
        grid = (points, _simpson_weights(n, hi - lo) * density)
    return c


@dataclass(frozen=True, repr=False, eq=False)
class GroupSequentialDesign(Result):
    """Boundaries of a group-sequential test with Lan-DeMets alpha spending.

    Reject at the first look whose ``|z|`` (two-sided) or ``z`` (one-sided) reaches the look's
    boundary; the chance of that under the null, over all looks, is ``alpha``.

    Attributes
    ----------
    information : ndarray
        Information fraction of each look (information so far over the information planned at
        the horizon); strictly increasing. A value past 1 (an overrun) is allowed at the last
        look only.
    alpha : float
        Total type I error (over both sides when ``sides`` is 2).
    spending : {"obf", "pocock"}
        The spending function.
    sides : {1, 2}
        Two-sided symmetric boundaries ``±z`` or one upper boundary.
    spent_at : ndarray
        The fraction the spending function was read at: ``min(information, 1)``, or 1 at a look
        declared final.
    alpha_spent : ndarray
        Cumulative alpha spent by each look.
    z : ndarray
        The z boundary of each look (``inf`` where a look spends nothing).
    """

    information: np.ndarray
    alpha: float
    spending: str
    sides: int
    spent_at: np.ndarray
    alpha_spent: np.ndarray
    z: np.ndarray

    @property
    def nominal_p(self) -> np.ndarray:
        """The p-value (two-sided when ``sides`` is 2) a single look's z must fall below to
        cross: ``sides * (1 - Phi(z))``."""
        return self.sides * special.ndtr(-self.z)

    @property
    def summary(self) -> pd.DataFrame:
        """Per look: information fraction, cumulative and per-look alpha spent, z boundary and
        nominal p boundary."""
        return pd.DataFrame(
            {"information": self.information,
             "alpha_spent": self.alpha_spent,
             "alpha_look": np.diff(self.alpha_spent, prepend=0.0),
             "z": self.z,
             "nominal_p": self.nominal_p},
            index=pd.RangeIndex(1, len(self.z) + 1, name="look"),
        )

    def _describe(self) -> str:
        side = "two-sided" if self.sides == 2 else "one-sided"
        z = ", ".join(f"{v:.3g}" for v in self.z[:6]) + (", …" if len(self.z) > 6 else "")
        return (f"{_SPENDING_NAMES[self.spending]} spending, {len(self.z)} looks, {side} alpha "
                f"{self.alpha:g}; z {z}")

    def plot(self, ax=None, observed=None):
        """The z boundaries over the information fraction (and ``observed``, the z of each
        look, when given); returns the axes."""
        ax = axes(ax, figsize=(6, 4))
        finite = np.isfinite(self.z)
        t, z = self.information[finite], self.z[finite]
        label = f"{_SPENDING_NAMES[self.spending]} boundary"
        ax.plot(t, z, marker="o", color="#c1440e", label=label)
        if self.sides == 2:
            ax.plot(t, -z, marker="o", color="#c1440e")
        fixed = -special.ndtri(self.alpha / self.sides)
        ax.axhline(fixed, color="grey", ls=":", label=f"fixed-horizon z ({fixed:.2f})")
        if self.sides == 2:
            ax.axhline(-fixed, color="grey", ls=":")
        if observed is not None:
            obs = np.asarray(observed, dtype=float)
            if obs.shape != self.z.shape:
                raise ValueError(f"GroupSequentialDesign.plot 'observed' must hold one z per "
                                 f"look ({len(self.z)}). Got {obs.shape} instead.")
            ax.plot(self.information, obs, marker="s", color="#3a7ca5", label="observed z")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xlim(0, max(1.0, float(self.information[-1])) * 1.02)
        ax.set_xlabel("information fraction")
        ax.set_ylabel("z")
        ax.set_title(f"Group-sequential boundaries, alpha {self.alpha:g}")
        ax.legend(fontsize=8)
        return ax


def _choice(value: Any, name: str, allowed: Sequence, where: str):
    if not any(value == a and type(value) is type(a) for a in allowed):
        raise ValueError(f"{where} '{name}' must be one of {list(allowed)}. Got {value!r} "
                         "instead.")
    return value


def _fractions(information: Any, where: str) -> np.ndarray:
    """Information fractions: a count of equally spaced looks, or increasing positive numbers
    none of which follows a look at or past the horizon (fraction 1)."""
    if isinstance(information, (int, np.integer)) and not isinstance(information, bool):
        if information < 1:
            raise ValueError(f"{where} 'information' as a number of looks must be at least 1. "
                             f"Got {information!r} instead.")
        return np.arange(1, int(information) + 1) / int(information)
    try:
        t = np.asarray(information, dtype=float).ravel()
    except (TypeError, ValueError):
        t = np.array([np.nan])
    if len(t) == 0 or not np.all(np.isfinite(t) & (t > 0)):
        raise ValueError(f"{where} 'information' must be a number of looks or information "
                         f"fractions > 0. Got {information!r} instead.")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{where} 'information' fractions must increase strictly. Got "
                         f"{t.tolist()} instead.")
    past = np.flatnonzero(t[:-1] >= 1)
    if len(past):
        raise ValueError(f"{where} 'information' has looks after look {past[0] + 1}, which "
                         f"reached the horizon (fraction {t[past[0]]:g} >= 1) and spent all of "
                         "alpha.")
    return t


def _design(t: np.ndarray, spent_at: np.ndarray, alpha: float, spending: str,
            sides: int) -> GroupSequentialDesign:
    cum = _spent(spent_at, alpha, spending, sides)
    cum = np.maximum.accumulate(cum)
    z = _boundaries(t, np.diff(cum, prepend=0.0), sides)
    return GroupSequentialDesign(information=t, alpha=alpha, spending=spending, sides=sides,
                                 spent_at=spent_at, alpha_spent=cum, z=z)


def spending_boundaries(
    information: int | Sequence[float],
    *,
    alpha: float = 0.05,
    spending: Literal["obf", "pocock"] = "obf",
    sides: Literal[1, 2] = 2,
) -> GroupSequentialDesign:
    """z boundaries of a group-sequential test by Lan-DeMets alpha spending.

    Lan & DeMets (1983) spend the type I error as a function of the information fraction
    ``t`` (information so far over the information planned at the horizon), so the looks need
    not be equally spaced nor their number fixed in advance: each look's boundary is set so
    that the chance of a first crossing there, under the null, is the alpha the function has
    added since the previous look. Per side, at level ``a`` (``alpha / 2`` for two-sided
    boundaries, ``alpha`` for one-sided):

    * ``"obf"``, O'Brien-Fleming-type: ``2 - 2 Phi(z_{a/2} / sqrt(t))``, spends almost nothing
      early; the last boundary stays close to the fixed-horizon one (2.03 against 1.96 with
      five looks at two-sided 0.05), so power is nearly that of the fixed test;
    * ``"pocock"``, Pocock-type: ``a log(1 + (e - 1) t)``, nearly constant boundaries (about
      2.4 with five looks), early stops more likely, power lower at the horizon.

    This is the convention of gsDesign's ``sfLDOF``/``sfLDPocock`` and of rpact's ``asOF``/
    ``asP``. The boundaries are computed by recursive numerical integration (Armitage,
    McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19), accurate to about 1e-6 in z.

    Parameters
    ----------
    information : int or sequence of float
        The number of equally spaced looks, or each look's information fraction (strictly
        increasing, > 0). A last look past 1 (more information than planned) spends all that
        is left; no look may follow a look at or past 1.
    alpha : float
        Total type I error, over both sides when ``sides`` is 2.
    spending : {"obf", "pocock"}
        The spending function.
    sides : {1, 2}
        Symmetric two-sided boundaries ``±z`` (reject on ``|z| >= z_k``) or one upper boundary.

    Returns
    -------
    GroupSequentialDesign
        Its ``summary`` has, per look, ``information, alpha_spent, alpha_look, z, nominal_p``.

    Examples
    --------
    >>> d = spending_boundaries(5)
    >>> d.z.round(3).tolist()
    [4.877, 3.357, 2.68, 2.29, 2.031]
    >>> spending_boundaries([0.3, 0.6, 1.0], spending="pocock").z.round(3).tolist()
    [2.312, 2.321, 2.269]
    """
    where = "spending_boundaries"
    alpha = probability(alpha, "alpha", where)
    _choice(spending, "spending", SPENDING, where)
    _choice(sides, "sides", (1, 2), where)
    t = _fractions(information, where)
    return _design(t, np.minimum(t, 1.0), alpha, spending, sides)


# --------------------------------------------------------------------------------------------
# Monitoring: the vectorised core (arrays of runs x looks) and monitor() around it
# --------------------------------------------------------------------------------------------
def _planned_sizes(planned_n: Any, where: str) -> tuple[float, float]:
    """``planned_n`` (leads per arm, or a pair control, treatment) as two positive floats."""
    if isinstance(planned_n, (list, tuple, np.ndarray)):
        if len(planned_n) != 2:
            raise ValueError(f"{where} 'planned_n' must be the planned leads per arm, or a pair "
                             f"(control, treatment). Got {planned_n!r} instead.")
        return (positive(planned_n[0], "planned_n", where),
                positive(planned_n[1], "planned_n", where))
    n = positive(planned_n, "planned_n", where)
    return n, n


def _rates(x_c, n_c, x_t, n_t) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        p_c, p_t = x_c / n_c, x_t / n_t
        diff = p_t - p_c
        q = (x_c + x_t) / (n_c + n_t)
        v_null = q * (1 - q) * (1 / n_c + 1 / n_t)
        z = diff / np.sqrt(v_null)
        informative = np.isfinite(v_null) & (v_null > 0)
        naive_p = np.where(informative, 2 * special.ndtr(-np.abs(z)), np.nan)
        v = p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t
    return {"diff": diff, "q": q, "v_null": v_null, "z": np.where(informative, z, np.nan),
            "naive_p": naive_p, "v": v, "informative": informative}


def _first(mask: np.ndarray) -> np.ndarray:
    """Index of the first True of each row (-1 when none)."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), -1)


def _msprt(x_c, n_c, x_t, n_t, *, alpha: float, tau: float | None,
           planned: tuple[float, float] | None) -> dict[str, np.ndarray]:
    """The mixture SPRT of :func:`monitor` over arrays of shape (runs, looks)."""
    r = _rates(x_c, n_c, x_t, n_t)
    runs = x_c.shape[0]
    if tau is None:
        first = _first(r["informative"])
        rows = np.arange(runs)
        at = np.maximum(first, 0)
        q1 = r["q"][rows, at]
        if planned is None:
            scale = 1 / n_c[rows, at] + 1 / n_t[rows, at]
        else:
            scale = np.full(runs, 1 / planned[0] + 1 / planned[1])
        tau_ = np.where(first >= 0, np.sqrt(_tuning_ratio(alpha) * q1 * (1 - q1) * scale),
                        np.nan)
    else:
        tau_ = np.full(runs, float(tau))
    v = r["v"]
    ok = np.isfinite(v) & (v > 0) & np.isfinite(tau_)[:, None]
    t2 = np.where(np.isfinite(tau_), tau_, 1.0)[:, None] ** 2
    vs = np.where(ok, v, 1.0)
    ds = np.where(ok, r["diff"], 0.0)
    log_lambda = np.where(ok, 0.5 * np.log(vs / (vs + t2)) + t2 * ds**2 / (2 * vs * (vs + t2)),
                          0.0)
    always_valid_p = np.minimum.accumulate(np.minimum(1.0, np.exp(-log_lambda)), axis=1)
    radius = np.sqrt(2 * vs * (vs + t2) / t2 * (math.log(1 / alpha) + 0.5 * np.log1p(t2 / vs)))
    low = np.where(ok, np.clip(ds - radius, -1.0, 1.0), -1.0)
    high = np.where(ok, np.clip(ds + radius, -1.0, 1.0), 1.0)
    return {"diff": r["diff"], "naive_p": r["naive_p"], "always_valid_p": always_valid_p,
            "cs_low": np.maximum.accumulate(low, axis=1),
            "cs_high": np.minimum.accumulate(high, axis=1),
            "stop": always_valid_p <= alpha, "tau": tau_}


def _group_sequential(x_c, n_c, x_t, n_t, *, alpha: float, spending: str,
                      planned: tuple[float, float], final: bool = False,
                      where: str = "monitor") -> dict[str, Any]:
    """The group-sequential monitoring of :func:`monitor` over arrays of shape (runs, looks).

    A look is taken when its z is defined and its information exceeds the last taken look's;
    the boundaries are those of the information fractions actually taken (one design per
    distinct pattern of fractions, computed once).
    """
    r = _rates(x_c, n_c, x_t, n_t)
    with np.errstate(divide="ignore"):
        information = (1 / planned[0] + 1 / planned[1]) / (1 / n_c + 1 / n_t)
    information = np.where(np.isfinite(information), information, 0.0)
    reached = information >= 1 - 1e-9
    first_final = _first(reached)
    late = (first_final >= 0) & (first_final < information.shape[1] - 1)
    if late.any():
        run = int(np.flatnonzero(late)[0])
        row = int(first_final[run])
        raise ValueError(
            f"{where} 'looks' continue after row {row}, where the planned horizon "
            f"(planned_n={_planned_text(planned)}) was reached (information fraction "
            f"{information[run, row]:.3g}); a group-sequential design has spent all of alpha "
            "there. Pass the looks up to the horizon; planned_n must be the size fixed before "
            "launch, not one chosen after seeing the data.")
    runs, looks = information.shape
    # information never falls (the counts are cumulative), so a look adds information when it
    # exceeds the largest information of the informative looks before it
    seen = np.maximum.accumulate(np.where(r["informative"], information, 0.0), axis=1)
    before = np.concatenate([np.zeros((runs, 1)), seen[:, :-1]], axis=1)
    taken = r["informative"] & (information > before * (1 + 1e-12))
    declared = taken[:, -1:] & bool(final)  # the last look, taken and declared final
    # one design per distinct pattern of looks taken (in a simulation study, most runs share it)
    pattern = np.concatenate([np.where(taken, information, -1.0), declared], axis=1)
    if (pattern == pattern[0]).all():
        unique, which = pattern[:1], np.zeros(runs, dtype=int)
    else:
        rows = np.ascontiguousarray(pattern).view(np.dtype((np.void, 8 * pattern.shape[1])))
        _, first, which = np.unique(rows.ravel(), return_index=True, return_inverse=True)
        unique, which = pattern[first], which.ravel()
    boundary = np.full((runs, looks), np.nan)
    designs: list[GroupSequentialDesign | None] = []
    for j, row in enumerate(unique):
        keep = row[:-1] >= 0
        if not keep.any():
            designs.append(None)
            continue
        t = row[:-1][keep]
        spent_at = np.minimum(t, 1.0)
        if row[-1]:
            spent_at[-1] = 1.0
        d = _design(t, spent_at, alpha, spending, 2)
        designs.append(d)
        boundary[np.ix_(np.flatnonzero(which == j), np.flatnonzero(keep))] = d.z
    per_run = [designs[j] for j in which]
    with np.errstate(invalid="ignore"):
        cross = np.abs(r["z"]) >= boundary  # False where either is missing
    stop = np.logical_or.accumulate(cross, axis=1)
    is_final = reached.copy()
    if final:
        is_final[:, -1] = True
    decision = np.where(stop, "reject", np.where(is_final, "do not reject", "continue"))
    return {"diff": r["diff"], "naive_p": r["naive_p"], "information": information,
            "z": r["z"], "boundary": boundary, "stop": stop, "decision": decision,
            "design": per_run}


def _planned_text(planned: tuple[float, float]) -> str:
    a, b = (int(v) if float(v).is_integer() else v for v in planned)
    return f"{a}" if a == b else f"({a}, {b})"


def monitor(
    looks: pd.DataFrame,
    *,
    alpha: float = 0.05,
    tau: float | None = None,
    design: Literal["msprt", "obf", "pocock"] = "msprt",
    planned_n: float | tuple[float, float] | None = None,
    final: bool = False,
) -> pd.DataFrame:
    """Weekly looks at a running two-arm experiment, with tests valid under peeking.

    Every design below may be read at every look; what differs is what is planned and what is
    paid for it. Stop on the ``stop`` column (``True`` from the first look that crossed on):
    the effect is declared at that look, in the direction of ``diff``.

    **design="msprt"** (no horizon needed). For each look the cumulative counts give
    ``diff = p_t - p_c`` and its plug-in variance
    ``V = p_c (1 - p_c) / n_c + p_t (1 - p_t) / n_t``. The mixture sequential probability ratio
    test of Johari, Pekelis & Walsh (2017, "Always valid inference: continuous monitoring of A/B
    tests") with a normal mixing distribution ``N(0, tau**2)`` over the difference gives

        Lambda = sqrt(V / (V + tau**2)) * exp(tau**2 * diff**2 / (2 V (V + tau**2)))

    and the always-valid p-value is the running minimum of ``min(1, 1 / Lambda)``. Inverting the
    test at every difference gives the confidence sequence
    ``diff ± sqrt(2 V (V + tau**2) / tau**2 * (log(1 / alpha) + log((V + tau**2) / V) / 2))``,
    intersected over the looks so far. The two agree: ``stop`` (``always_valid_p <= alpha``)
    holds exactly when the sequence has excluded 0 at some look. A look with no variance yet
    (no lead, or no success or no failure in either arm) carries no evidence: ``Lambda = 1``.
    ``always_valid_p``, ``cs_low``/``cs_high`` and ``stop`` are valid at every look, however
    many looks are taken and whenever the analyst decides to stop (up to the normal
    approximation, which needs a handful of successes per arm). The price is width and power:
    at a planned horizon they are wider than the fixed-horizon interval.

    **design="obf" or "pocock"** (group-sequential, needs ``planned_n``). Each look's
    information fraction is the null variance of the difference at the planned horizon over
    the one at the look, ``(1 / N_c + 1 / N_t) / (1 / n_c + 1 / n_t)`` (``n / N`` when the arms
    are equal). The boundaries are those of :func:`spending_boundaries` (two-sided, Lan-DeMets
    spending) at the fractions the looks actually reached, recomputed from all looks so far at
    every call, so unequal or skipped weeks are allowed and earlier rows never change when a
    week is appended. ``z`` is the pooled two-proportion z (the one ``naive_p`` reads) and the
    look crosses when ``|z| >= boundary``. A look whose z is undefined (no success or no
    failure yet) or that adds no information is not taken (``boundary`` missing); its alpha
    carries over to the next look. The look that reaches the horizon (fraction >= 1, a small
    overrun included) is the final one and spends all of alpha that is left; looks after it
    are refused with an error. With ``final=True`` the last row is final whatever its
    information (an experiment ended short of its plan spends the rest of alpha there).
    O'Brien-Fleming-type spending keeps nearly the power of the fixed-horizon test at the
    horizon; Pocock-type stops earlier when the effect is large but has less power at the end.

    ``naive_p`` (pooled two-proportion z test on the data so far) is valid only for a single
    look fixed in advance; reading it every week and stopping at the first ``naive_p < alpha``
    rejects a true null far more often than ``alpha`` (about 20% with 10 looks at 0.05).

    Parameters
    ----------
    looks : DataFrame
        One row per look in time order, with cumulative ``x_c, n_c, x_t, n_t`` (successes and
        leads in control and treatment); never decreasing.
    alpha : float
        Level of the test (two-sided) and one minus the coverage of the confidence sequence.
    tau : float, optional
        msprt only: standard deviation of the mixing distribution, on the scale of the
        difference in rates; effects near ``tau`` are detected fastest. By default
        ``tau**2 = s * V0``, where ``s`` solves ``s = 2 log(1 / alpha) + log(1 + s)`` (8.2 at
        alpha 0.05), which makes the confidence sequence narrowest where the difference's
        variance is ``V0``, and ``V0 = q (1 - q) (1 / n_c + 1 / n_t)`` is the null variance at
        the planned horizon when ``planned_n`` is given (``n`` the planned sizes), else at the
        first informative look (``n`` its sizes); ``q`` is the pooled rate of the first
        informative look (strictly between 0 and 1) either way. It depends only on that look's
        pooled rate and on sizes, never on the difference, and never changes once that look is
        in, so re-running ``monitor`` as weeks are appended reproduces the earlier rows
        exactly. The trade-off: tuned to the first look, the test is quick to stop on an
        effect far larger than planned but has little power for the effect a horizon was
        sized for; tuned to the horizon (a smaller ``tau``) it gains power there and is
        slower on very large effects. In a seeded study (10 equal weekly looks of 200 leads
        per arm, rates 10% against 11.96%, where the fixed test at look 10 has 51% power),
        the msprt stopped by look 10 in 16% of runs tuned to the first look and in 20% tuned
        to the horizon; the group-sequential designs, which need the horizon, rejected in
        49% (``"obf"``) and 40% (``"pocock"``) of runs.
    design : {"msprt", "obf", "pocock"}
        The always-valid mixture SPRT, or a group-sequential design with O'Brien-Fleming-type
        or Pocock-type alpha spending.
    planned_n : float or (float, float), optional
        Leads per arm planned at the horizon, or the pair (control, treatment). Required by the
        group-sequential designs; with msprt it tunes ``tau`` to the horizon.
    final : bool
        Group-sequential designs only: treat the last row as the final look.

    Returns
    -------
    DataFrame indexed like ``looks``.
        msprt: ``diff, naive_p, always_valid_p, cs_low, cs_high, stop``; ``attrs["tau"]``
        holds the ``tau`` used. obf/pocock: ``diff, naive_p, information, z, boundary, stop,
        decision`` (``"continue"``, ``"reject"`` from the first crossing on, ``"do not
        reject"`` at a final look that did not cross); ``attrs["design"]`` holds the
        :class:`GroupSequentialDesign` of the looks taken (None before any look has a z;
        draw it with ``.plot(observed=...)``, the z of the rows whose ``boundary`` is set).

    Examples
    --------
    >>> weeks = np.arange(1, 9)
    >>> looks = pd.DataFrame({"n_c": 500 * weeks, "x_c": 50 * weeks,
    ...                       "n_t": 500 * weeks, "x_t": 65 * weeks})
    >>> m = monitor(looks)
    >>> int(m["stop"].idxmax()), bool(m["stop"].iloc[-1])
    (4, True)
    >>> g = monitor(looks, design="obf", planned_n=4000)
    >>> g[["information", "z", "boundary", "decision"]].round(2).iloc[[0, 3, 4, 7]]
       information     z  boundary  decision
    0         0.12  1.49      6.23  continue
    3         0.50  2.97      2.98  continue
    4         0.62  3.32      2.64    reject
    7         1.00  4.21      2.07    reject
    """
    where = "monitor"
    alpha = probability(alpha, "alpha", where)
    _choice(design, "design", DESIGNS, where)
    x_c, n_c, x_t, n_t = (a[None, :] for a in _cumulative_counts(looks, where))
    planned = None if planned_n is None else _planned_sizes(planned_n, where)
    if design == "msprt":
        if tau is not None and planned is not None:
            raise ValueError(f"{where}: pass 'tau' or 'planned_n', not both (planned_n sets "
                             "tau for the planned horizon).")
        if final:
            raise ValueError(f"{where} 'final' applies to the group-sequential designs; the "
                             "msprt has no final look.")
        tau_ = None if tau is None else positive(tau, "tau", where)
        res = _msprt(x_c, n_c, x_t, n_t, alpha=alpha, tau=tau_, planned=planned)
        cols = ["diff", "naive_p", "always_valid_p", "cs_low", "cs_high", "stop"]
        out = pd.DataFrame({c: res[c][0] for c in cols}, index=looks.index)
        out.attrs["tau"] = float(res["tau"][0])
        return out
    if tau is not None:
        raise ValueError(f"{where} 'tau' applies to design 'msprt' only. Got tau={tau!r} with "
                         f"design {design!r}.")
    if planned is None:
        raise ValueError(f"{where} design {design!r} needs 'planned_n', the leads per arm "
                         "planned at the horizon (see sample_size()).")
    res = _group_sequential(x_c, n_c, x_t, n_t, alpha=alpha, spending=design, planned=planned,
                            final=bool(final), where=where)
    cols = ["diff", "naive_p", "information", "z", "boundary", "stop", "decision"]
    out = pd.DataFrame({c: res[c][0] for c in cols}, index=looks.index)
    out.attrs["design"] = res["design"][0]
    return out


def _cumulative_counts(looks: pd.DataFrame, where: str) -> tuple[np.ndarray, ...]:
    """``x_c, n_c, x_t, n_t`` of ``looks`` as float arrays, checked: whole numbers >= 0, never
    decreasing, successes never above leads."""
    need_columns(looks, ("x_c", "n_c", "x_t", "n_t"), f"{where} 'looks'")
    if len(looks) == 0:
        raise ValueError(f"{where} 'looks' must have at least one row.")
    cols = {}
    for c in ("x_c", "n_c", "x_t", "n_t"):
        v = pd.to_numeric(looks[c], errors="coerce").to_numpy(dtype=float)
        if not (np.all(np.isfinite(v)) and np.all(v >= 0) and np.all(v == np.round(v))):
            raise ValueError(f"{where} 'looks' column {c!r} must hold whole numbers >= 0. Got "
                             f"{looks[c].tolist()[:5]!r}.")
        if np.any(np.diff(v) < 0):
            first = int(np.flatnonzero(np.diff(v) < 0)[0]) + 1
            raise ValueError(f"{where} 'looks' column {c!r} must be cumulative (never "
                             f"decreasing); it falls at row {first}.")
        cols[c] = v
    for x, n in (("x_c", "n_c"), ("x_t", "n_t")):
        over = cols[x] > cols[n]
        if np.any(over):
            raise ValueError(f"{where} 'looks' column {x!r} must not exceed the leads of its "
                             f"arm; it does at row {int(np.flatnonzero(over)[0])}.")
    return cols["x_c"], cols["n_c"], cols["x_t"], cols["n_t"]


def weekly_looks(
    table: pd.DataFrame,
    created_at: pd.Series,
    *,
    control: str,
    treatment: str,
    metric: str = "contacted",
) -> pd.DataFrame:
    """Cumulative counts per ISO week of lead creation, the input of :func:`monitor`.

    Parameters
    ----------
    table : DataFrame
        From :func:`lead_table` (indexed by ``lead_id``, with ``arm`` and ``metric``).
    created_at : Series
        Each lead's creation time, indexed by ``lead_id`` (``leads.set_index("lead_id")
        ["created_at"]``).

    Returns
    -------
    DataFrame indexed by week (``2026-W02``) with cumulative ``x_c, n_c, x_t, n_t``. The
    outcome of each lead is read as of the table's date, so use a metric that resolves within
    days of creation (contact, reply) when replaying looks after the fact.

    Examples
    --------
    >>> t = pd.DataFrame({"arm": ["a", "b", "a", "b"], "contacted": [1, 0, 1, 1]},
    ...                  index=pd.Index(list("wxyz"), name="lead_id"))
    >>> when = pd.Series(pd.to_datetime(["2026-01-05", "2026-01-06", "2026-01-13",
    ...                                  "2026-01-14"], utc=True), index=t.index)
    >>> weekly_looks(t, when, control="a", treatment="b").to_dict("list")
    {'x_c': [1, 2], 'n_c': [1, 2], 'x_t': [0, 1], 'n_t': [1, 2]}
    """
    where = "weekly_looks"
    need_columns(table, ("arm", metric), f"{where} 'table'")
    arms = sorted(map(str, table["arm"].dropna().unique()))
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm not in arms:
            raise ValueError(f"{where} '{name}' must be one of the arms {arms}. Got {arm!r} "
                             "instead.")
    when = created_at.reindex(table.index)
    if when.isna().any():
        raise KeyError(f"{where}: created_at lacks {int(when.isna().sum())} of the table's leads")
    local = when.dt.tz_convert("UTC").dt.tz_localize(None)
    iso = local.dt.isocalendar()
    week = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    hit = bool_column(table, metric, where)
    frame = pd.DataFrame({"week": week.to_numpy(), "arm": table["arm"].to_numpy(), "hit": hit})
    out = {}
    for key, arm in (("c", control), ("t", treatment)):
        g = frame[frame["arm"] == arm].groupby("week")["hit"]
        out[f"x_{key}"] = g.sum()
        out[f"n_{key}"] = g.size()
    looks = pd.DataFrame(out).fillna(0).astype(int).sort_index().cumsum()
    return looks[["x_c", "n_c", "x_t", "n_t"]].rename_axis("week")
