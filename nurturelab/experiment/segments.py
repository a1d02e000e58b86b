"""Effects of an experiment by segment: one comparison per segment, a correction for testing many
segments, and a test of whether the effect differs between segments.

:func:`by_segment` compares every treatment arm with the control inside each segment (a source,
an intent level, a fit band of :func:`nurturelab.segments.segments`, or their cross), with the
p-value and the interval of one method, the Miettinen–Nurminen score test and its inversion, so
that ``p_value < alpha`` exactly when the interval leaves out 0. Across the segments the p-values
are adjusted by Holm (family-wise error) or Benjamini–Hochberg (false discovery rate,
:func:`benjamini_hochberg`), and :func:`interaction_test` asks whether the effect is the same in
every segment (a likelihood-ratio test of the arm × segment interaction of a logistic
regression). The result is a :class:`SegmentEffects`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import fdrcorrection

from nurturelab.checks import need_columns
from nurturelab.experiment._args import bool_column, probability, whole_number
from nurturelab.experiment.statistics import compare_proportions, holm
from nurturelab.plots import axes
from nurturelab.result import Result

__all__ = ["SegmentEffects", "benjamini_hochberg", "by_segment", "interaction_test"]

_CORRECTIONS = ("holm", "bh")
_CORRECTION_NAMES = {"holm": "Holm (family-wise error)", "bh": "Benjamini-Hochberg (FDR)"}


# --------------------------------------------------------------------------------------------
# Corrections and the interaction test, on arrays
# --------------------------------------------------------------------------------------------
def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg step-up adjustment of p-values (false discovery rate).

    The ``k``-th smallest of the ``m`` p-values is multiplied by ``m / k``, the products are made
    non-decreasing from the largest down and capped at 1 (statsmodels ``fdrcorrection``, the
    values of ``multipletests(method="fdr_bh")`` without its garbage collection). Rejecting where
    the adjusted value is below ``q`` keeps the expected share of false discoveries among the
    discoveries at most ``q`` for independent (or positively dependent) tests.

    Parameters
    ----------
    p_values : sequence of float
        p-values between 0 and 1; NaN ones (a test that could not be run) stay NaN and are not
        counted among the ``m``.

    Returns
    -------
    ndarray
        The adjusted p-values, in the order given.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03, float("nan")]).round(3).tolist()
    [0.03, 0.04, 0.04, nan]
    """
    p = np.asarray(p_values, dtype=float).ravel()
    finite = ~np.isnan(p)
    if not np.all((p[finite] >= 0) & (p[finite] <= 1)):
        raise ValueError(f"benjamini_hochberg 'p_values' must be numbers between 0 and 1 (or "
                         f"NaN). Got {p.tolist()!r} instead.")
    out = np.full(len(p), np.nan)
    if finite.any():
        out[finite] = fdrcorrection(p[finite], method="indep")[1]
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _binomial_loglik(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``x log p + (n - x) log(1 - p)`` with ``0 log 0 = 0`` (the binomial coefficient left out)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(x > 0, x * np.log(np.where(x > 0, p, 1.0)), 0.0)
        b = np.where(n - x > 0, (n - x) * np.log1p(-np.where(n - x > 0, p, 0.0)), 0.0)
    return a + b


def interaction_test(successes: Any, leads: Any) -> dict[str, Any]:
    """Likelihood-ratio test of the arm × segment interaction on a logistic scale.

    Two models of the segment-by-arm table: with the interaction (each cell its own rate, so its
    fitted rates are the observed ones) and without it (``logit p = a_segment + b * treated``: the
    odds ratio of treatment over control is the same in every segment). The statistic is twice
    the difference of their log-likelihoods, referred to a chi-square with one degree of freedom
    fewer than the segments tested. The model without interaction is fitted by Newton's method,
    vectorised over any leading dimensions (so a simulation study fits thousands of tables at
    once); its log-likelihood agrees with statsmodels' ``Logit`` on the lead-level data.

    A segment where no lead (or every lead) of either arm succeeded says nothing about the
    interaction and is left out (its rate is fitted exactly by both models); it does not count
    towards the degrees of freedom. With fewer than two segments left the test is NaN.

    The null hypothesis is "the same odds ratio in every segment": with different baseline
    rates, the same *difference* in rates is a (small) interaction on this scale.

    Parameters
    ----------
    successes, leads : array_like, shape (..., n_segments, 2)
        Counts of each segment's control (``[..., 0]``) and treatment (``[..., 1]``) arm;
        ``0 <= successes <= leads``.

    Returns
    -------
    dict
        ``statistic``, ``df`` and ``p_value``, each an array of the leading shape (floats for a
        single table); ``segments``, the number of segments tested.

    Examples
    --------
    >>> r = interaction_test([[20, 40], [30, 31]], [[400, 400], [400, 400]])
    >>> round(r["statistic"], 2), r["df"], round(r["p_value"], 4)
    (3.39, 1.0, 0.0655)
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(leads, dtype=float)
    if x.shape != n.shape or x.ndim < 2 or x.shape[-1] != 2:
        raise ValueError(f"interaction_test 'successes' and 'leads' must have the same shape "
                         f"(..., n_segments, 2). Got {x.shape} and {n.shape} instead.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(n)) and np.all(x >= 0)
            and np.all(x <= n)):
        raise ValueError("interaction_test needs counts with 0 <= successes <= leads.")
    xs, ns = x.sum(-1), n.sum(-1)
    used = (xs > 0) & (xs < ns)  # (..., S)
    x = np.where(used[..., None], x, 0.0)
    n = np.where(used[..., None], n, 0.0)
    xs, ns = x.sum(-1), n.sum(-1)
    saturated = _binomial_loglik(x, n, np.divide(x, n, out=np.zeros_like(x), where=n > 0))
    saturated = saturated.sum((-1, -2))

    # Newton's method for logit p[s, j] = a[s] + b * j; the Hessian is an arrow (a diagonal
    # block for the a's and one row and column for b), solved by its Schur complement.
    a = np.where(used, _logit(np.clip(np.divide(xs, ns, out=np.full_like(xs, 0.5),
                                                where=used), 1e-12, 1 - 1e-12)), 0.0)
    b = np.zeros(x.shape[:-2])
    for _ in range(100):
        eta = np.clip(a[..., None] + np.stack([np.zeros_like(a), np.ones_like(a)], -1)
                      * b[..., None, None], -35.0, 35.0)
        p = 1.0 / (1.0 + np.exp(-eta))
        resid = x - n * p
        w = n * p * (1 - p)
        g_a, g_b = resid.sum(-1), resid[..., 1].sum(-1)
        w_a = np.where(used, w.sum(-1), 1.0)
        w_ab = w[..., 1]
        schur = w_ab.sum(-1) - (w_ab ** 2 / w_a).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            step_b = np.where(schur > 1e-300, (g_b - (w_ab * g_a / w_a).sum(-1)) / schur, 0.0)
        step_a = np.where(used, (g_a - w_ab * step_b[..., None]) / w_a, 0.0)
        biggest = np.maximum(np.abs(step_b), np.abs(step_a).max(-1, initial=0.0))
        damp = np.minimum(1.0, 5.0 / np.maximum(biggest, 1e-300))  # at most 5 logits a step
        a = np.clip(a + damp[..., None] * step_a, -35.0, 35.0)
        b = np.clip(b + damp * step_b, -35.0, 35.0)
        if np.all(biggest < 1e-10):
            break
    eta = np.clip(a[..., None] + np.stack([np.zeros_like(a), np.ones_like(a)], -1)
                  * b[..., None, None], -35.0, 35.0)
    reduced = _binomial_loglik(x, n, 1.0 / (1.0 + np.exp(-eta))).sum((-1, -2))
    k = used.sum(-1)
    df = (k - 1).astype(float)
    statistic = np.where(k >= 2, np.maximum(2.0 * (saturated - reduced), 0.0), np.nan)
    df = np.where(k >= 2, df, np.nan)
    p_value = np.where(k >= 2, stats.chi2.sf(statistic, np.where(k >= 2, df, 1.0)), np.nan)
    if statistic.ndim == 0:
        return {"statistic": float(statistic), "df": float(df), "p_value": float(p_value),
                "segments": int(k)}
    return {"statistic": statistic, "df": df, "p_value": p_value, "segments": k}


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class SegmentEffects(Result):
    """Treatment against control inside each segment (see :func:`by_segment`).

    Attributes
    ----------
    table : DataFrame
        One row per (segment, arm) for every treatment arm: ``n_control, n_arm, rate_control,
        rate_arm, diff, diff_low, diff_high`` (score interval, not adjusted), ``p_value``
        (score test), ``p_adjusted`` (Holm or Benjamini-Hochberg across the judged rows),
        ``significant`` (``p_adjusted < alpha``), ``judged`` and ``note`` (why a row was not
        judged). Also :attr:`summary`.
    interaction : DataFrame
        One row per treatment arm: ``statistic, df, p_value, segments`` of
        :func:`interaction_test` over the judged segments.
    too_small : list of str
        Segments with fewer than ``min_leads`` leads in the control or a treatment arm.
    metric, segment, control, correction : str
    alpha : float
    min_leads : int
    """

    table: pd.DataFrame
    interaction: pd.DataFrame
    too_small: list[str]
    metric: str
    segment: str
    control: str
    correction: str
    alpha: float
    min_leads: int

    @property
    def summary(self) -> pd.DataFrame:
        """One row per (segment, treatment arm) (see :attr:`table`)."""
        return self.table

    @property
    def significant(self) -> pd.DataFrame:
        """The rows whose adjusted p-value is below ``alpha``."""
        return self.table[self.table["significant"].fillna(False).astype(bool)]

    def _describe(self) -> str:
        segs = self.table.index.get_level_values("segment").unique()
        arms = self.table.index.get_level_values("arm").unique()
        inter = "; ".join(f"interaction p={r.p_value:.3g}" for r in
                          self.interaction.itertuples())
        small = f"; {len(self.too_small)} too small" if self.too_small else ""
        return (f"{self.metric} by {self.segment}: {len(segs)} segments x {len(arms)} treatment "
                f"arm(s) against {self.control!r}, {self.correction}; "
                f"{int(self.table['significant'].fillna(False).sum())} significant; {inter}"
                f"{small}")

    def _header(self) -> list[str]:
        lines = [repr(self),
                 f"{self.metric}: each treatment arm against {self.control!r} inside each "
                 f"{self.segment} segment; score test and its {100 * (1 - self.alpha):g}% "
                 f"interval (not adjusted); p_adjusted by {_CORRECTION_NAMES[self.correction]}"
                 f" across {int(self.table['judged'].sum())} judged rows."]
        for arm, r in self.interaction.iterrows():
            if np.isnan(r["statistic"]):
                lines.append(f"Interaction ({arm!r} x {self.segment}): fewer than two judged "
                             "segments, not tested.")
            else:
                lines.append(f"Interaction ({arm!r} x {self.segment}: is the odds ratio the same "
                             f"in every segment? likelihood ratio, logistic): chi2 = "
                             f"{r['statistic']:.3g} on {int(r['df'])} df, p = "
                             f"{r['p_value']:.3g} over {int(r['segments'])} segments.")
        if self.too_small:
            lines.append(f"Too small to judge (fewer than {self.min_leads} leads in an arm): "
                         f"{', '.join(map(str, self.too_small))}.")
        return lines

    def plot(self, ax=None):
        """Difference in rates per segment with its interval (adjusted significance in colour);
        returns the axes."""
        t = self.table[self.table["judged"]]
        ax = axes(ax, figsize=(6.5, 0.45 * max(len(t), 3) + 1.2))
        arms = t.index.get_level_values("arm").unique()
        y = np.arange(len(t))[::-1]
        for yi, (_, r) in zip(y, t.iterrows(), strict=True):
            color = "#c1440e" if bool(r["significant"]) else "#3a7ca5"
            ax.errorbar(r["diff"], yi, xerr=[[r["diff"] - r["diff_low"]],
                                             [r["diff_high"] - r["diff"]]],
                        fmt="o", color=color, capsize=4)
        labels = [str(s) if len(arms) == 1 else f"{s} ({a})" for s, a in t.index]
        ax.set_yticks(y, labels)
        ax.axvline(0, color="#555555", ls=":", lw=1)
        ax.set_xlabel(f"difference in {self.metric} rate, arm - {self.control} "
                      f"({100 * (1 - self.alpha):g}% score interval)")
        ax.set_title(f"Effect by {self.segment} (red: significant, {self.correction})")
        return ax


# --------------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------------
def by_segment(
    table: pd.DataFrame,
    *,
    control: str,
    metric: str = "converted",
    segment: str | Sequence[str] = "source",
    correction: Literal["holm", "bh"] = "holm",
    alpha: float = 0.05,
    min_leads: int = 50,
) -> SegmentEffects:
    """Compare every treatment arm with the control inside each segment.

    Per segment and treatment arm: the leads and rates of both arms, the difference in rates
    with the Miettinen–Nurminen score interval (statsmodels ``confint_proportions_2indep``
    ``method="score"``, made robust where an arm has no success) and the p-value of the same
    score test (``test_proportions_2indep(method="score")``), so ``p_value < alpha`` exactly
    when the interval leaves out 0. The p-values of all judged rows (every segment and every
    treatment arm) form one family, adjusted by Holm (:func:`~nurturelab.experiment.holm`,
    family-wise error at most ``alpha``) or Benjamini–Hochberg (:func:`benjamini_hochberg`,
    false discovery rate at most ``alpha``); ``significant`` reads the adjusted value. The
    intervals are per segment, not adjusted. The interaction test (:func:`interaction_test`)
    asks, per treatment arm, whether the effect differs between the judged segments.

    A row is not judged (no p-value, left out of the family and of the interaction test) when
    the segment has fewer than ``min_leads`` leads in the control or that arm (the segment is
    named in ``too_small``), or when no lead, or every lead, of the two arms succeeded.

    Parameters
    ----------
    table : DataFrame
        One row per lead with ``arm``, the boolean ``metric`` and the ``segment`` column(s), as
        :func:`~nurturelab.experiment.lead_table` joined with the columns of ``leads`` or of
        :func:`nurturelab.segments.segments` (``intent``, ``fit_band``, ``source``, ``route``).
        Rows without an arm or a segment are left out with a warning.
    control : str
        The arm the others are compared with.
    metric : str
        The outcome column.
    segment : str or sequence of str
        The column defining the segments, or several whose combinations are the segments
        (labelled ``"high · low"``).
    correction : {"holm", "bh"}
    alpha : float
        Significance level; intervals are ``1 - alpha``.
    min_leads : int
        Fewest leads a segment needs in each of the two arms compared to be judged.

    Returns
    -------
    SegmentEffects

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> n = 6000
    >>> t = pd.DataFrame({"arm": rng.choice(["a", "b"], n),
    ...                   "source": rng.choice(["ads", "referral", "web"], n)})
    >>> lift = np.where((t["arm"] == "b") & (t["source"] == "referral"), 0.08, 0.0)
    >>> t["converted"] = rng.random(n) < 0.10 + lift
    >>> res = by_segment(t, control="a")
    >>> res.summary["significant"].tolist()
    [False, True, False]
    >>> bool(res.interaction.loc["b", "p_value"] < 0.05)
    True
    """
    where = "by_segment"
    if isinstance(segment, str):
        seg_cols = [segment]
    elif isinstance(segment, Sequence):
        seg_cols = list(segment)
    else:
        seg_cols = []
    if not seg_cols or not all(isinstance(c, str) for c in seg_cols):
        raise ValueError(f"{where} 'segment' must be a column name or a list of them. Got "
                         f"{segment!r} instead.")
    if not isinstance(metric, str):
        raise TypeError(f"{where} 'metric' must be a column name. Got {metric!r} instead.")
    need_columns(table, ["arm", metric, *seg_cols], f"{where} 'table'")
    alpha = probability(alpha, "alpha", where)
    if correction not in _CORRECTIONS:
        raise ValueError(f"{where} 'correction' must be one of {list(_CORRECTIONS)}. Got "
                         f"{correction!r} instead.")
    min_leads = whole_number(min_leads, "min_leads", where, minimum=1)

    missing = table["arm"].isna() | table[seg_cols].isna().any(axis=1)
    if missing.any():
        warnings.warn(f"{where}: {int(missing.sum()):,d} rows have no arm or no {seg_cols} "
                      "and were left out (fill a missing segment with 'unknown' to keep them)",
                      UserWarning, stacklevel=2)
        table = table[~missing]
    arm_col = table["arm"].astype(str)
    observed = sorted(arm_col.unique())
    if control not in observed:
        raise ValueError(f"{where} 'control' must be one of the arms {observed}. Got "
                         f"{control!r} instead.")
    if len(observed) < 2:
        raise ValueError(f"{where} needs at least two arms in the table. Got {observed}.")
    treated = [a for a in observed if a != control]
    hit = bool_column(table, metric, where)
    labels = _segment_labels(table, seg_cols)
    frame = pd.DataFrame({"segment": labels.to_numpy(), "arm": arm_col.to_numpy(), "hit": hit})
    grouped = frame.groupby(["segment", "arm"], observed=True, sort=False)["hit"]
    x = grouped.sum().unstack(fill_value=0)
    n = grouped.size().unstack(fill_value=0)
    order = list(labels.cat.categories) if isinstance(labels.dtype, pd.CategoricalDtype) \
        else sorted(n.index)
    order = [s for s in order if s in n.index]
    x = x.reindex(index=order, columns=observed, fill_value=0).astype(int)
    n = n.reindex(index=order, columns=observed, fill_value=0).astype(int)

    rows, too_small = [], []
    for seg in order:
        x_c, n_c = int(x.at[seg, control]), int(n.at[seg, control])
        for arm in treated:
            x_t, n_t = int(x.at[seg, arm]), int(n.at[seg, arm])
            rows.append(_segment_row(seg, arm, x_c, n_c, x_t, n_t, alpha, min_leads))
            if n_c < min_leads or n_t < min_leads:
                if seg not in too_small:
                    too_small.append(seg)
    out = pd.DataFrame(rows).set_index(["segment", "arm"])
    adjust = holm if correction == "holm" else benjamini_hochberg
    out["p_adjusted"] = adjust(out["p_value"].to_numpy(dtype=float))
    judged = out["judged"].to_numpy()
    sig = pd.array(np.where(judged, out["p_adjusted"].to_numpy() < alpha, False),
                   dtype="boolean")
    sig[~judged] = pd.NA
    out["significant"] = sig
    out = out[["n_control", "n_arm", "rate_control", "rate_arm", "diff", "diff_low",
               "diff_high", "p_value", "p_adjusted", "significant", "judged", "note"]]

    inter_rows = []
    for arm in treated:
        ok = out.xs(arm, level="arm")["judged"].to_numpy()
        segs = [s for s, keep in zip(order, ok, strict=True) if keep]
        succ = x.loc[segs, [control, arm]].to_numpy(dtype=float).reshape(-1, 2)
        size = n.loc[segs, [control, arm]].to_numpy(dtype=float).reshape(-1, 2)
        r = interaction_test(succ, size) if segs else {"statistic": math.nan, "df": math.nan,
                                                       "p_value": math.nan, "segments": 0}
        inter_rows.append({"arm": arm, **r})
    interaction = pd.DataFrame(inter_rows).set_index("arm")
    return SegmentEffects(table=out, interaction=interaction, too_small=too_small,
                          metric=metric, segment=" x ".join(seg_cols), control=control,
                          correction=correction, alpha=alpha, min_leads=min_leads)


def _segment_labels(table: pd.DataFrame, seg_cols: list[str]) -> pd.Series:
    """One label per row: the segment column's values as text (keeping a categorical's order),
    or the combination of several columns joined by ``" · "``."""
    if len(seg_cols) == 1:
        s = table[seg_cols[0]]
        if isinstance(s.dtype, pd.CategoricalDtype):
            return s.cat.rename_categories([str(c) for c in s.cat.categories])
        return s.astype(str)
    parts = [table[c].astype(str) for c in seg_cols]
    label = parts[0]
    for p in parts[1:]:
        label = label + " · " + p
    return label


def _segment_row(seg: str, arm: str, x_c: int, n_c: int, x_t: int, n_t: int, alpha: float,
                 min_leads: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "segment": seg, "arm": arm, "n_control": n_c, "n_arm": n_t,
        "rate_control": x_c / n_c if n_c else math.nan,
        "rate_arm": x_t / n_t if n_t else math.nan,
        "diff": math.nan, "diff_low": math.nan, "diff_high": math.nan, "p_value": math.nan,
        "judged": False, "note": "",
    }
    if n_c < min_leads or n_t < min_leads:
        row["note"] = f"too small: {n_c} and {n_t} leads (fewer than {min_leads} in an arm)"
        return row
    row["diff"] = x_t / n_t - x_c / n_c
    if x_c + x_t in (0, n_c + n_t):
        row["note"] = "no variation: " + ("no lead" if x_c + x_t == 0 else "every lead") + \
            " of the two arms succeeded"
        return row
    # one method for the p-value and the interval: the Miettinen-Nurminen score test and its
    # inversion, as in compare_proportions
    score = compare_proportions(x_c, n_c, x_t, n_t, alpha=alpha)
    row["p_value"] = score["p_value"]
    row["diff_low"], row["diff_high"] = score["diff_low"], score["diff_high"]
    row["judged"] = True
    return row
