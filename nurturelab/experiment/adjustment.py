"""Variance reduction by covariates fixed before assignment: Lin's regression adjustment and CUPED.

A covariate measured before a lead was assigned (its score at assignment, source, intent, fit)
cannot be moved by the arm, so the part of the outcome it explains is noise for the comparison:
taking it out narrows the interval without biasing the difference. :func:`adjusted_difference`
does it by Lin's (2013) interacted regression ("Agnostic notes on regression adjustments to
experimental data", Annals of Applied Statistics 7(1)): the outcome on the arm, the covariates
centred at their overall mean and their interactions with the arm, with HC2 robust standard
errors, which is never less precise than the difference of means in large samples even when
the linear model is wrong. :func:`cuped` is the special case of one pre-period metric with one
pooled slope (Deng, Xu, Kohavi and Walker 2013, "Improving the sensitivity of online controlled
experiments by utilizing pre-experiment data", WSDM).

Both return an :class:`~nurturelab.experiment.ArmComparison` whose rows keep the row contract
of :mod:`~nurturelab.experiment.continuous`, with the unadjusted comparison and the variance
reduction alongside; the ``*_rows`` functions return the rows alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from nurturelab.experiment._rows import (
    arm_codes,
    blank_comparison,
    check_alpha,
    comparison_frame,
    name_of,
    numbers,
    welch_rows,
    z_comparison,
)
from nurturelab.experiment.continuous import ArmComparison

__all__ = ["adjusted_difference", "adjusted_difference_rows", "covariate_matrix", "cuped",
           "cuped_rows"]

_UNADJUSTED = ("unadjusted_diff", "unadjusted_low", "unadjusted_high", "unadjusted_p_value",
               "variance_reduction")


# --------------------------------------------------------------------------------------------
# Covariates
# --------------------------------------------------------------------------------------------
def covariate_matrix(covariates: Any, *, where: str = "covariate_matrix",
                     ) -> tuple[np.ndarray, list[str], list[str]]:
    """Covariates as a numeric matrix: numbers as they are, categories one-hot.

    * A numeric or boolean column is one column. Missing values are filled with the mean of
      the observed ones and a ``<column>=missing`` indicator column is added (the
      missing-indicator method: it keeps every lead, and since the covariates were fixed before
      assignment it cannot bias the comparison).
    * Any other column (category, string) is one-hot encoded with its first level as the
      dropped reference: the first of a categorical's categories that occurs (``low`` for the
      schema's ordered ``intent``), otherwise the first in sorted order. Missing values become
      their own level ``missing``.
    * A column with a single value (after filling) carries nothing and is dropped; so is a
      column with no observed value. Datetimes are refused (turn them into a number first).

    Parameters
    ----------
    covariates : DataFrame (or Series)
        One row per lead, the covariates as columns.
    where : str
        The calling function's name, for messages.

    Returns
    -------
    (ndarray, list of str, list of str)
        The ``(n, p)`` float matrix, its column names and notes (one sentence per column that
        was filled or dropped).

    Examples
    --------
    >>> cov = pd.DataFrame({"fit": [0.2, None, 0.8, 0.5],
    ...                     "intent": pd.Categorical(["low", "high", "low", None],
    ...                                              categories=["low", "medium", "high"])})
    >>> X, names, notes = covariate_matrix(cov)
    >>> names
    ['fit', 'fit=missing', 'intent=high', 'intent=missing']
    >>> X[:, 0].round(2).tolist()
    [0.2, 0.5, 0.8, 0.5]
    """
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if not isinstance(covariates, pd.DataFrame):
        raise TypeError(f"{where} 'covariates' must be a pandas DataFrame with one column per "
                        f"covariate. Got {type(covariates).__name__} instead.")
    n = len(covariates)
    blocks: list[np.ndarray] = []
    names: list[str] = []
    notes: list[str] = []
    for col in covariates.columns:
        s = covariates[col]
        missing = s.isna().to_numpy()
        m = int(missing.sum())
        if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(
                s.dtype):
            raise TypeError(f"{where} covariate {col!r} holds {s.dtype} values; turn it into a "
                            "number (days since a date, hour of day ...) first.")
        if m == n:
            notes.append(f"covariate {col!r} has no observed value and was left out.")
            continue
        if pd.api.types.is_bool_dtype(s.dtype) or (
                pd.api.types.is_numeric_dtype(s.dtype)
                and not isinstance(s.dtype, pd.CategoricalDtype)):
            x = s.to_numpy(dtype=float, na_value=np.nan)
            if m:
                x = np.where(missing, np.nanmean(x), x)
                notes.append(f"covariate {col!r}: {m:,d} of {n:,d} leads have no value; filled "
                             f"with the mean of the others, with the indicator "
                             f"'{col}=missing'.")
            blocks.append(x[:, None])
            names.append(str(col))
            if m:
                blocks.append(missing[:, None].astype(float))
                names.append(f"{col}=missing")
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            used = s.cat.remove_unused_categories()
            levels = [str(c) for c in used.cat.categories]
            codes = used.cat.codes.to_numpy().astype(np.intp)
        else:
            found, uniques = pd.factorize(s.to_numpy(dtype=object))
            names_found = [str(u) for u in uniques]
            levels = sorted(set(names_found))
            recode = np.array([levels.index(u) for u in names_found] + [-1], dtype=np.intp)
            codes = recode[found]  # -1 (missing) picks the trailing -1
        if m:
            if "missing" not in levels:
                levels.append("missing")
            codes = np.where(missing, levels.index("missing"), codes)
            notes.append(f"covariate {col!r}: {m:,d} of {n:,d} leads have no value; they form "
                         f"the level '{col}=missing'.")
        for k, level in enumerate(levels[1:], start=1):
            blocks.append((codes == k).astype(float)[:, None])
            names.append(f"{col}={level}")
    X = np.hstack(blocks) if blocks else np.empty((n, 0))
    constant = np.ptp(X, axis=0) == 0 if len(X) else np.zeros(X.shape[1], bool)
    if constant.any():
        for name in (nm for nm, c in zip(names, constant, strict=True) if c):
            notes.append(f"covariate column {name!r} has one value for every lead and was "
                         "left out.")
        X = X[:, ~constant]
        names = [nm for nm, c in zip(names, constant, strict=True) if not c]
    return X, names, notes


# --------------------------------------------------------------------------------------------
# Lin's interacted regression with HC2 errors
# --------------------------------------------------------------------------------------------
def _independent(G: np.ndarray) -> list[int]:
    """Columns of a Gram matrix of centred columns that are not (numerically) combinations of
    earlier ones, in order: a column is skipped when its residual sum of squares on the columns
    kept before it is below 1e-9 of its own."""
    keep: list[int] = []
    for j in range(len(G)):
        if G[j, j] <= 0:
            continue
        if keep:
            g = G[keep, j]
            rest = G[j, j] - g @ np.linalg.solve(G[np.ix_(keep, keep)], g)
            if rest <= 1e-9 * G[j, j]:
                continue
        keep.append(j)
    return keep


def _arm_fit(y: np.ndarray, X: np.ndarray, centre: np.ndarray) -> tuple[float, float, int, int]:
    """OLS of ``y`` on ``[1, X - centre]`` within one arm: the intercept (the arm's mean
    adjusted to the covariates' overall mean), its HC2 variance, the number of covariate
    columns kept (those collinear within the arm are dropped, so that the intercept is
    identified, and at most ``n - 2`` are kept) and the number of leads with leverage 1 (no
    residual to learn from).

    Solved through the small Gram matrix ``Z'Z`` rather than a QR of the tall ``Z``: the
    columns are centred, so it is well conditioned, and it takes a fraction of a millisecond
    where LAPACK's threaded QR can take a tenth of a second on a busy machine."""
    n = len(y)
    A = X - X.mean(axis=0)
    keep = _independent(A.T @ A)[:max(n - 2, 0)]
    Z = np.empty((n, 1 + len(keep)))
    Z[:, 0] = 1.0
    Z[:, 1:] = X[:, keep] - centre[keep]
    G_inv = linalg.inv(Z.T @ Z)
    beta = G_inv @ (Z.T @ y)
    e = y - Z @ beta
    h = np.sum((Z @ G_inv) * Z, axis=1)
    lone = h > 1 - 1e-9
    w = np.where(lone, 0.0, e * e / np.where(lone, 1.0, 1 - h))
    a0 = Z @ G_inv[:, 0]  # the intercept's row of (Z'Z)^-1 Z'
    return float(beta[0]), float(np.sum(a0 * a0 * w)), len(keep), int(lone.sum())


def _adjusted_rows(y: np.ndarray, codes: np.ndarray, arms: list[str], X: np.ndarray,
                   alpha: float, z: float) -> tuple[dict[str, dict[str, Any]], list[str]]:
    unadj, v_unadj = welch_rows(y, codes, arms, alpha, z)
    centre = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
    notes = []
    fits = []
    for g, a in enumerate(arms):
        inside = codes == g
        if inside.sum() < 2:
            raise ValueError(f"adjusted_difference: arm {a!r} has {int(inside.sum())} lead(s); "
                             "regression adjustment needs at least two per arm.")
        m, v, used, lone = _arm_fit(y[inside], X[inside], centre)
        fits.append((m, v))
        if used < X.shape[1]:
            notes.append(f"arm {a!r}: {X.shape[1] - used} covariate column(s) are collinear "
                         f"within the arm (or too many for its {int(inside.sum()):,d} leads) "
                         "and are not used for it.")
        if lone:
            notes.append(f"arm {a!r}: {lone} lead(s) alone in a covariate level; HC2 learns "
                         "nothing from them (their residual is 0).")
    rows: dict[str, dict[str, Any]] = {}
    for g, a in enumerate(arms):
        m, v = fits[g]
        half = z * math.sqrt(v)
        row = {"n": unadj[a]["n"], "mean": m, "mean_low": m - half, "mean_high": m + half,
               **blank_comparison(), **dict.fromkeys(_UNADJUSTED, math.nan)}
        if g:
            row.update(z_comparison(m, v, fits[0][0], fits[0][1], z, "lin_hc2"))
            _unadjusted(row, unadj[a], v + fits[0][1], v_unadj[g] + v_unadj[0])
        row["unadjusted_mean"] = unadj[a]["mean"]
        rows[a] = row
    return rows, notes


def _unadjusted(row: dict[str, Any], plain: dict[str, Any], v_adj: float,
                v_plain: float) -> None:
    row.update(unadjusted_diff=plain["diff"], unadjusted_low=plain["diff_low"],
               unadjusted_high=plain["diff_high"], unadjusted_p_value=plain["p_value"],
               variance_reduction=1 - v_adj / v_plain if v_plain > 0 else math.nan)


def adjusted_difference_rows(y: Any, arm: Any, covariates: Any, *, control: str,
                             alpha: float = 0.05) -> dict[str, dict[str, Any]]:
    """The rows of :func:`adjusted_difference` as plain dicts, ``{arm: row}``, the control
    first (the notes are left out)."""
    return _adjusted(y, arm, covariates, control, alpha)[0]


def _adjusted(y: Any, arm: Any, covariates: Any, control: str, alpha: float):
    where = "adjusted_difference"
    alpha, z = check_alpha(alpha, where)
    y = numbers(y, "y", where)
    codes, arms = arm_codes(arm, len(y), control, where)
    X, names, notes = covariate_matrix(covariates, where=where)
    if len(X) != len(y):
        raise ValueError(f"{where} 'covariates' must have one row per lead ({len(y):,d}). Got "
                         f"{len(X):,d} instead.")
    rows, fit_notes = _adjusted_rows(y, codes, arms, X, alpha, z)
    return rows, names, notes + fit_notes


def adjusted_difference(y: Any, arm: Any, covariates: Any, *, control: str,
                        alpha: float = 0.05) -> ArmComparison:
    """Every treatment arm against the control, adjusted for covariates fixed before assignment
    (Lin 2013).

    The estimate is the coefficient of the arm in the OLS of ``y`` on the arm indicators, the
    covariates centred at their overall mean, and every interaction of the two, with HC2 robust
    standard errors (statsmodels ``OLS(...).fit(cov_type="HC2")`` gives the same numbers).
    Fitted as one regression per arm, which is the same model: the intercept of arm ``g``'s fit
    on the centred covariates is its mean adjusted to the whole sample's covariates (``mean``),
    and the adjusted difference is the treatment's adjusted mean minus the control's. Interval
    and test are normal (``statistic`` is z, ``df`` NaN), as statsmodels does with a robust
    covariance. ``method`` is ``"lin_hc2"``.

    Alongside: ``unadjusted_diff``, ``unadjusted_low``, ``unadjusted_high``,
    ``unadjusted_p_value`` (Welch, as :func:`~nurturelab.experiment.compare_means`),
    ``unadjusted_mean`` and ``variance_reduction = 1 - Var(adjusted) / Var(unadjusted)`` from
    the estimated variances (the HC2 variance of the unadjusted difference is Welch's). With a
    covariate explaining a share ``R^2`` of the outcome's variance within arms, the reduction is
    about ``R^2``; covariates that explain nothing cost a little (a few degrees of freedom).

    Missing covariate values are filled, with an indicator, and categories are one-hot encoded
    (see :func:`covariate_matrix`); the result's ``notes`` say which columns were filled or
    dropped. Only covariates fixed before assignment may be used: a covariate the arm could
    change (touches, replies, anything after assignment) biases the estimate.

    Parameters
    ----------
    y : array-like of float
        One outcome per lead: binary (converted, contacted) or continuous (deal value).
    arm : array-like of str
    covariates : DataFrame
        One row per lead (in the order of ``y``), one column per covariate: numbers and
        categories (``fit``, ``intent``, ``source``, a score at assignment). An empty frame
        gives the unadjusted comparison with normal intervals.
    control : str
    alpha : float

    Returns
    -------
    ArmComparison

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fit = rng.random(2000)
    >>> arm = np.repeat(["a", "b"], 1000)
    >>> y = (rng.random(2000) < 0.05 + 0.3 * fit + 0.03 * (arm == "b")).astype(float)
    >>> res = adjusted_difference(y, arm, pd.DataFrame({"fit": fit}), control="a")
    >>> row = res.summary.loc["b"]
    >>> round(float(row["diff"]), 3), round(float(row["variance_reduction"]), 2)
    (0.047, 0.04)
    """
    rows, names, notes = _adjusted(y, arm, covariates, control, alpha)
    notes = [f"adjusted for {len(names)} covariate column(s): {', '.join(names) or 'none'}",
             *notes]
    return ArmComparison(table=comparison_frame(rows), control=control, alpha=float(alpha),
                         metric=name_of(y, "y"), kind="adjusted mean", notes=notes)


# --------------------------------------------------------------------------------------------
# CUPED
# --------------------------------------------------------------------------------------------
def cuped_rows(y: Any, pre: Any, arm: Any, *, control: str, alpha: float = 0.05,
               ) -> dict[str, dict[str, Any]]:
    """The rows of :func:`cuped` as plain dicts, ``{arm: row}``, the control first."""
    return _cuped(y, pre, arm, control, alpha)[0]


def _cuped(y: Any, pre: Any, arm: Any, control: str, alpha: float):
    where = "cuped"
    alpha, z = check_alpha(alpha, where)
    y = numbers(y, "y", where)
    x = numbers(pre, "pre", where)
    if len(x) != len(y):
        raise ValueError(f"{where} 'pre' must have one value per lead ({len(y):,d}). Got "
                         f"{len(x):,d} instead.")
    codes, arms = arm_codes(arm, len(y), control, where)
    dx = x - x.mean()
    var_x = float(dx @ dx)
    theta = float(dx @ (y - y.mean())) / var_x if var_x > 0 else 0.0
    adjusted = y - theta * dx
    rows, v_adj = welch_rows(adjusted, codes, arms, alpha, z, method="cuped")
    plain, v_plain = welch_rows(y, codes, arms, alpha, z)
    for g, a in enumerate(arms):
        rows[a].update(dict.fromkeys(_UNADJUSTED, math.nan))
        if g:
            _unadjusted(rows[a], plain[a], v_adj[g] + v_adj[0], v_plain[g] + v_plain[0])
        rows[a]["unadjusted_mean"] = plain[a]["mean"]
        rows[a]["theta"] = theta
    return rows, theta


def cuped(y: Any, pre: Any, arm: Any, *, control: str, alpha: float = 0.05) -> ArmComparison:
    """Every treatment arm against the control on a metric adjusted by its pre-period value
    (CUPED, Deng et al. 2013).

    ``theta = cov(y, pre) / var(pre)`` over all leads (pooled across arms), and each lead's
    ``y - theta (pre - mean(pre))`` is compared by Welch's t as in
    :func:`~nurturelab.experiment.compare_means` (``method="cuped"``). Because ``pre`` was
    fixed before assignment, the adjustment has mean zero in every arm and the difference stays
    unbiased; its variance falls by about ``corr(y, pre)^2``. Treating ``theta`` as known is
    the usual approximation (its estimation error is of a smaller order). The rows carry the
    unadjusted comparison and the variance reduction as :func:`adjusted_difference` does, and
    ``theta``. For several covariates, categories or missing pre-period values, use
    :func:`adjusted_difference`, of which this is the one-covariate, pooled-slope case.

    Parameters
    ----------
    y : array-like of float
        One outcome per lead.
    pre : array-like of float
        The same metric (or any number) measured before assignment; no missing values.
    arm : array-like of str
    control : str
    alpha : float

    Returns
    -------
    ArmComparison

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pre = rng.normal(10, 2, 2000)
    >>> arm = np.repeat(["a", "b"], 1000)
    >>> y = pre + rng.normal(0, 2, 2000) + 0.5 * (arm == "b")
    >>> row = cuped(y, pre, arm, control="a").summary.loc["b"]
    >>> round(float(row["diff"]), 2), round(float(row["variance_reduction"]), 2)
    (0.68, 0.49)
    """
    rows, theta = _cuped(y, pre, arm, control, alpha)
    return ArmComparison(table=comparison_frame(rows), control=control, alpha=float(alpha),
                         metric=name_of(y, "y"), kind="adjusted mean",
                         notes=[f"CUPED on {name_of(pre, 'pre')!r}: theta = {theta:.4g} (pooled)"])

