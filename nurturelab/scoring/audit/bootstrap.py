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
        g = groups[key]
        # rows of no weight add nothing: zeroed once for the period's AUC and its snapshots'
        keep = (wc > 0) | (wn > 0)
        kc, kn = np.where(keep, wc, 0.0), np.where(keep, wn, 0.0)
        out[f"{key}.auc"] = _grouped_auc(g["all"], wc, wn, kc, kn)
        out[f"{key}.ks"] = _sorted_ks(g["ks"], wc, wn)
        flag = s >= threshold
        n_flag = wt[flag].sum()
        c_flag = wc[flag].sum()
        out[f"{key}.precision"] = (c_flag / n_flag if n_flag and (wn[flag].sum() or c_flag)
                                   else np.nan)
        if key == "month":
            if probability:
                out["slope"], out["intercept"] = calibration_fit(s, wc, wn)
            for d, m in enumerate(decile_bins):
                n_d = wt[m].sum()
                out[f"decile{d}"] = wc[m].sum() / n_d if n_d else np.nan
        if g["stacked"] is not None:  # contiguous snapshots: one bincount for all of them
            aucs = _stacked_aucs(g["stacked"], g["slices"], wc, wn, kc, kn)
        else:
            aucs = [_grouped_auc(g["snap"][i], wc[m], wn[m], kc[m], kn[m])
                    for i, m in enumerate(g["slices"])]
        for i, a in enumerate(aucs):
            out[f"{key}.snap{i}"] = a
    return out


def _score_groups(rows: dict[str, pd.DataFrame],
                  snapshot_masks: dict[str, list[np.ndarray]],
                  horizon: float | None = None) -> dict[str, Any]:
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
        snap = [distinct(s[m]) for m in snapshot_masks[key]]
        slices = [as_slice(np.asarray(m, dtype=bool)) for m in snapshot_masks[key]]
        out[key] = {"all": distinct(s), "ks": (order, np.r_[so[1:] != so[:-1], True]),
                    "snap": snap, "slices": slices,
                    "ipcw": IpcwDesign(df, horizon) if horizon is not None else None,
                    "stacked": _stack(snap, slices, len(s))}
    return out


def _stack(snap: list[tuple[np.ndarray, int]], slices: list, n: int
           ) -> tuple[np.ndarray, np.ndarray, int] | None:
    """When every snapshot is a slice and none overlaps another: each row's bin among all
    snapshots' distinct scores (snapshot ``i``'s bins follow snapshot ``i - 1``'s; rows in no
    snapshot in a last bin of their own), the first bin of each snapshot, and the bin count."""
    if not slices or not all(isinstance(m, slice) for m in slices):
        return None
    spans = sorted((m.start, m.stop) for m in slices)
    if any(b[0] < a[1] for a, b in zip(spans[:-1], spans[1:], strict=True)):
        return None
    first = np.cumsum([0] + [k for _, k in snap])
    code = np.full(n, first[-1], dtype=np.int64)
    for (inv, _), m, f in zip(snap, slices, first[:-1], strict=True):
        code[m] = inv + f
    return code, first, int(first[-1]) + 1


def _stacked_aucs(stacked: tuple[np.ndarray, np.ndarray, int], slices: list[slice],
                  wc: np.ndarray, wn: np.ndarray, kc: np.ndarray, kn: np.ndarray
                  ) -> list[float]:
    """:func:`_grouped_auc` of every snapshot from one bincount over all of them: each bin
    sums its snapshot's rows of that score in their order, as the snapshot's own bincount."""
    code, first, size = stacked
    cg_all = np.bincount(code, weights=kc, minlength=size)
    ng_all = np.bincount(code, weights=kn, minlength=size)
    out = []
    for i, m in enumerate(slices):
        tc, tn = wc[m].sum(), wn[m].sum()
        if not (tc > 0 and tn > 0):
            out.append(np.nan)
            continue
        cg, ng = cg_all[first[i]:first[i + 1]], ng_all[first[i]:first[i + 1]]
        out.append(_auc_of_bins(cg, ng, tc, tn))
    return out


def _auc_of_bins(cg: np.ndarray, ng: np.ndarray, tc: float, tn: float) -> float:
    """The AUC from the case and control weight of each distinct score, in order; a score no
    weighted row has is left out (as :func:`~.statistics.weighted_auc` never sees it)."""
    present = (cg > 0) | (ng > 0)  # weights are >= 0: a kept row makes its bin positive
    cg, ng = cg[present], ng[present]
    below = np.cumsum(ng) - ng  # control weight strictly below each distinct score
    return float(np.sum(cg * (below + 0.5 * ng)) / (tc * tn))


def _grouped_auc(groups: tuple[np.ndarray, int], wc: np.ndarray, wn: np.ndarray,
                 kc: np.ndarray | None = None, kn: np.ndarray | None = None) -> float:
    """:func:`~.statistics.weighted_auc` from the scores' distinct values found once: the
    same sums in the same order (``kc``, ``kn``: the weights of rows of no weight zeroed, so
    that they add nothing; made here when not given), so the same figure."""
    inv, k = groups
    tc, tn = wc.sum(), wn.sum()
    if not (tc > 0 and tn > 0):
        return np.nan
    if kc is None or kn is None:
        keep = (wc > 0) | (wn > 0)
        kc, kn = np.where(keep, wc, 0.0), np.where(keep, wn, 0.0)
    return _auc_of_bins(np.bincount(inv, weights=kc, minlength=k),
                        np.bincount(inv, weights=kn, minlength=k), tc, tn)


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
