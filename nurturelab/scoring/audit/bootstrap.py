"""The audit's intervals: a cluster bootstrap over leads.

A lead appears in several weekly snapshots, and in both periods, so resampling rows would
understate the uncertainty: leads are drawn instead, as multinomial lead counts used as
frequency weights on every row of the lead, and every figure (with the censoring curve behind
it) is recomputed for each resample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.scoring.audit.statistics import IpcwDesign, calibration_fit

__all__ = ["AuditFigures", "audit_figures", "bootstrap_figures"]

PERIODS = ("reference", "month")


def audit_figures(
    rows: dict[str, pd.DataFrame],
    weights: dict[str, np.ndarray],
    *,
    horizon: float,
    threshold: float,
    probability: bool,
    decile_bins: Sequence[np.ndarray],
    snapshot_masks: dict[str, list[np.ndarray]],
    groups: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Every figure the audit bootstraps, for one set of lead weights.

    Parameters
    ----------
    rows : {"reference": DataFrame, "month": DataFrame}
        Scored rows of each period.
    weights : dict of ndarray
        A frequency weight per row of each period (ones for the estimate).
    horizon, threshold : float
    probability : bool
        Whether to fit the calibration slope and intercept (month only).
    decile_bins : sequence of bool ndarray
        Masks of the month's rows by decile of its score.
    snapshot_masks : dict of lists of bool ndarray
        Masks of each period's rows by snapshot.
    groups : dict, optional
        :func:`_score_groups` of ``rows`` and ``snapshot_masks``: what the AUC and KS need of
        the scores, which do not change between resamples (made here when not given), and
        each period's :class:`~.statistics.IpcwDesign` (its censoring weights' fixed part).

    Returns
    -------
    dict
        ``"<period>.auc"``, ``"<period>.ks"``, ``"<period>.precision"`` (censoring-aware
        conversion of the rows with ``score >= threshold``), ``"<period>.snap<i>"`` (AUC of
        snapshot ``i``), and for the month ``"slope"``, ``"intercept"`` (probabilities only)
        and ``"decile<d>"`` (conversion in decile ``d``).
    """
    if groups is None:
        groups = _score_groups(rows, snapshot_masks, horizon)
    out = {}
    for key, df in rows.items():
        wt = weights[key]
        s = df["score"].to_numpy()
        wc, wn = groups[key]["ipcw"].weights(wt)
        out[f"{key}.auc"] = _grouped_auc(groups[key]["all"], wc, wn)
        out[f"{key}.ks"] = _sorted_ks(groups[key]["ks"], wc, wn)
        flag = s >= threshold
        n_flag = wt[flag].sum()
        out[f"{key}.precision"] = (wc[flag].sum() / n_flag
                                   if n_flag and (wn[flag].sum() or wc[flag].sum()) else np.nan)
        if key == "month":
            if probability:
                out["slope"], out["intercept"] = calibration_fit(s, wc, wn)
            for d, m in enumerate(decile_bins):
                out[f"decile{d}"] = wc[m].sum() / wt[m].sum() if wt[m].sum() else np.nan
        for i, m in enumerate(groups[key]["slices"]):  # the masks, as slices when contiguous
            out[f"{key}.snap{i}"] = _grouped_auc(groups[key]["snap"][i], wc[m], wn[m])
    return out


def _score_groups(rows: dict[str, pd.DataFrame],
                  snapshot_masks: dict[str, list[np.ndarray]],
                  horizon: float) -> dict[str, Any]:
    """Per period, the scores' distinct values (for the AUC of the period and of each
    snapshot), their stable order (for the KS), the censoring weights' fixed part and each
    snapshot's mask as a slice when its rows are contiguous (the same rows in the same order,
    without a copy): computed once, not in every resample."""
    def distinct(s: np.ndarray) -> tuple[np.ndarray, int]:
        uniq, inv = np.unique(s, return_inverse=True)
        return inv, len(uniq)

    def as_slice(m: np.ndarray) -> np.ndarray | slice:
        at = np.flatnonzero(m)
        if len(at) and at[-1] - at[0] + 1 == len(at):
            return slice(int(at[0]), int(at[-1]) + 1)
        return m

    out = {}
    for key, df in rows.items():
        s = np.asarray(df["score"].to_numpy(), dtype=float)
        order = np.argsort(s, kind="stable")
        so = s[order]
        out[key] = {"all": distinct(s), "ks": (order, np.r_[so[1:] != so[:-1], True]),
                    "snap": [distinct(s[m]) for m in snapshot_masks[key]],
                    "slices": [as_slice(np.asarray(m, dtype=bool))
                               for m in snapshot_masks[key]],
                    "ipcw": IpcwDesign(df, horizon)}
    return out


def _grouped_auc(groups: tuple[np.ndarray, int], wc: np.ndarray, wn: np.ndarray) -> float:
    """:func:`~.statistics.weighted_auc` from the scores' distinct values found once: the
    same sums in the same order (rows of no weight add nothing), so the same figure."""
    inv, k = groups
    tc, tn = wc.sum(), wn.sum()
    if not (tc > 0 and tn > 0):
        return np.nan
    keep = (wc > 0) | (wn > 0)
    present = np.bincount(inv, weights=keep, minlength=k) > 0  # some kept row has the score
    cg = np.bincount(inv, weights=np.where(keep, wc, 0.0), minlength=k)[present]
    ng = np.bincount(inv, weights=np.where(keep, wn, 0.0), minlength=k)[present]
    below = np.cumsum(ng) - ng  # control weight strictly below each distinct score
    return float(np.sum(cg * (below + 0.5 * ng)) / (tc * tn))


def _sorted_ks(order_last: tuple[np.ndarray, np.ndarray], wc: np.ndarray,
               wn: np.ndarray) -> float:
    """:func:`~.statistics.ks_statistic` with the scores' stable order found once."""
    order, last = order_last
    if not (wc.sum() > 0 and wn.sum() > 0):
        return np.nan
    fc = np.cumsum(wc[order])[last] / wc.sum()
    fn = np.cumsum(wn[order])[last] / wn.sum()
    return float(np.max(np.abs(fc - fn)))


@dataclass(frozen=True)
class AuditFigures:
    """The audit's figures and their bootstrap resamples.

    Attributes
    ----------
    estimate : dict
        Each figure on the data (see :func:`audit_figures`).
    resamples : DataFrame
        One row per resample, one column per figure.
    alpha : float
        Intervals are ``100 * (1 - alpha)`` % percentile intervals.
    """

    estimate: dict[str, float]
    resamples: pd.DataFrame
    alpha: float

    def __getitem__(self, name: str) -> float:
        return self.estimate[name]

    def get(self, name: str, default: Any = np.nan) -> Any:
        return self.estimate.get(name, default)

    def _interval(self, values: np.ndarray) -> tuple[float, float]:
        v = values[np.isfinite(values)]
        if len(v) < 0.5 * len(self.resamples):
            return np.nan, np.nan
        return (float(np.quantile(v, self.alpha / 2)),
                float(np.quantile(v, 1 - self.alpha / 2)))

    def ci(self, name: str) -> tuple[float, float]:
        """Percentile interval of a figure; NaN when fewer than half the resamples define it."""
        if name not in self.resamples:
            return np.nan, np.nan
        return self._interval(self.resamples[name].to_numpy(dtype=float))

    def diff_ci(self, name: str) -> tuple[float, float]:
        """Percentile interval of ``month.<name> - reference.<name>``."""
        if f"month.{name}" not in self.resamples:
            return np.nan, np.nan
        diff = self.resamples[f"month.{name}"] - self.resamples[f"reference.{name}"]
        return self._interval(diff.to_numpy(dtype=float))


def bootstrap_figures(
    rows: dict[str, pd.DataFrame],
    *,
    n_boot: int,
    alpha: float,
    seed: int | np.random.SeedSequence | None,
    **figures: Any,
) -> AuditFigures:
    """The figures of :func:`audit_figures` and ``n_boot`` cluster-bootstrap resamples.

    Leads (by ``lead_id``, across both periods) are drawn with replacement as multinomial
    counts; each row weighs its lead's count. ``figures`` are the keyword arguments of
    :func:`audit_figures` besides ``rows`` and ``weights``.
    """
    ones = {k: np.ones(len(v)) for k, v in rows.items()}
    figures = {**figures, "groups": _score_groups(rows, figures["snapshot_masks"],
                                                  figures["horizon"])}
    estimate = audit_figures(rows, ones, **figures)
    ids = pd.Index(pd.unique(np.concatenate([rows[k]["lead_id"].to_numpy(dtype=object)
                                             for k in PERIODS])))
    codes = {k: ids.get_indexer(v["lead_id"].to_numpy(dtype=object)) for k, v in rows.items()}
    rng = np.random.default_rng(seed)
    resamples = []
    for _ in range(int(n_boot)):
        counts = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids))).astype(float)
        resamples.append(audit_figures(rows, {k: counts[c] for k, c in codes.items()},
                                       **figures))
    return AuditFigures(estimate=estimate, resamples=pd.DataFrame(resamples), alpha=alpha)
