"""The analysis of an experiment randomised by cluster: every lead of a rep (or of an account)
got the same arm.

Leads of one cluster resemble each other (the same rep's skill, the same account's budget), so
they carry less information than as many independent leads, and an analysis that treats them as
independent is overconfident. :func:`cluster_compare` gives the difference in rates with a
cluster-robust standard error (the CR1 sandwich of the regression of the outcome on the arm,
statsmodels' ``cov_type="cluster"``, with a t reference on ``G - 1`` degrees of freedom for
``G`` clusters), and next to it the naive lead-level analysis, the design effect and the
intra-cluster correlation. :func:`cluster_robust_diff` computes the same from per-cluster
counts, vectorised, for dashboards and simulation studies. The result is a
:class:`ClusterComparison`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nurturelab.checks import need_columns
from nurturelab.experiment._args import bool_column, probability
from nurturelab.plots import axes
from nurturelab.result import Result

__all__ = ["ClusterComparison", "cluster_compare", "cluster_robust_diff"]

ANALYSES = ("cluster-robust", "naive")


def cluster_robust_diff(
    successes: Any,
    leads: Any,
    treated: Any,
    *,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Difference in rates between two arms randomised by cluster, from per-cluster counts.

    * ``diff = p_t - p_c``, the arms' lead-level rates (the slope of the least-squares line of
      the outcome on a treatment indicator).
    * ``se``: the cluster-robust (CR1) standard error of that slope: the sandwich summing each
      cluster's residuals, times ``G / (G - 1) * (N - 1) / (N - 2)`` for ``G`` clusters and
      ``N`` leads, statsmodels' ``OLS(...).fit(cov_type="cluster")`` with its default
      corrections; ``p_value`` and the interval from a t distribution on ``df = G - 1``, so
      ``p_value < alpha`` exactly when the interval leaves out 0.
    * ``se_naive``, ``p_naive``, ``naive_low``, ``naive_high``: the same difference with the
      standard error that treats leads as independent (``p (1 - p) / n`` per arm) and a normal
      reference: what an analysis that ignores the clusters reports.
    * ``design_effect = (se / se_naive) ** 2``: how many times the variance exceeds the
      independent-leads one; ``leads / design_effect`` is the effective number of leads.
    * ``icc``: the intra-cluster correlation of the outcome, by the one-way analysis of variance
      within arms (clusters of unequal size, Donner's adjusted mean size); it can be negative by
      chance when the true value is near 0.

    Parameters
    ----------
    successes, leads : array_like, shape (..., G)
        Successes and leads of each cluster (``leads >= 1``); leading dimensions are independent
        experiments (vectorised).
    treated : array_like of bool, broadcastable to (..., G)
        Whether each cluster is in the treatment arm; each arm needs at least 2 clusters.
    alpha : float
        One minus the confidence level of the intervals.

    Returns
    -------
    dict
        ``diff, se, df, statistic, p_value, diff_low, diff_high, se_naive, p_naive, naive_low,
        naive_high, design_effect, icc, rate_control, rate_arm, leads_control, leads_arm,
        clusters_control, clusters_arm``: arrays of the leading shape (floats for one
        experiment).

    Examples
    --------
    >>> r = cluster_robust_diff([5, 9, 4, 12, 15, 10], [50, 60, 40, 55, 60, 50],
    ...                         [False, False, False, True, True, True])
    >>> round(r["diff"], 4), round(r["se"], 4), r["df"], round(r["p_value"], 4)
    (0.1042, 0.0209, 5.0, 0.0041)
    """
    where = "cluster_robust_diff"
    alpha = probability(alpha, "alpha", where)
    x = np.asarray(successes, dtype=float)
    n = np.asarray(leads, dtype=float)
    if x.shape != n.shape or x.ndim < 1:
        raise ValueError(f"{where} 'successes' and 'leads' must have the same shape (..., G). "
                         f"Got {x.shape} and {n.shape} instead.")
    if not (np.all(np.isfinite(n)) and np.all(n >= 1) and np.all(x >= 0) and np.all(x <= n)):
        raise ValueError(f"{where} needs counts with leads >= 1 and 0 <= successes <= leads in "
                         "every cluster.")
    t = np.broadcast_to(np.asarray(treated, dtype=bool), x.shape)
    g_t = t.sum(-1)
    g_c = (~t).sum(-1)
    if np.any(g_t < 2) or np.any(g_c < 2):
        raise ValueError(f"{where} needs at least 2 clusters in each arm. Got "
                         f"{int(np.min(g_c))} control and {int(np.min(g_t))} treated.")
    G = g_t + g_c
    n_t, n_c = (n * t).sum(-1), (n * ~t).sum(-1)
    x_t, x_c = (x * t).sum(-1), (x * ~t).sum(-1)
    p_t, p_c = x_t / n_t, x_c / n_c
    N = n_t + n_c
    diff = p_t - p_c
    own = np.where(t, p_t[..., None], p_c[..., None])  # each cluster's arm rate
    u2 = (x - n * own) ** 2  # squared sums of each cluster's residuals
    var = ((u2 * t).sum(-1) / n_t ** 2 + (u2 * ~t).sum(-1) / n_c ** 2) \
        * G / (G - 1) * (N - 1) / (N - 2)
    se = np.sqrt(var)
    df = (G - 1).astype(float)
    q = stats.t.isf(alpha / 2, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(se > 0, diff / se, np.nan)
        p_value = np.where(se > 0, 2 * stats.t.sf(np.abs(stat), df), np.nan)
        var_naive = p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c
        se_naive = np.sqrt(var_naive)
        z = stats.norm.isf(alpha / 2)
        p_naive = np.where(se_naive > 0, 2 * stats.norm.sf(np.abs(diff) / se_naive), np.nan)
        design_effect = np.where(var_naive > 0, var / var_naive, np.nan)
        # one-way ANOVA estimator of the ICC, clusters nested in arms (2 arms)
        ssb = (n * (x / n - own) ** 2).sum(-1)
        ssw = (x - x ** 2 / n).sum(-1)
        msb = ssb / (G - 2)
        msw = ssw / (N - G)
        m0 = (N - (n ** 2 * t).sum(-1) / n_t - (n ** 2 * ~t).sum(-1) / n_c) / (G - 2)
        icc = (msb - msw) / (msb + (m0 - 1) * msw)
    out = {
        "diff": diff, "se": se, "df": df, "statistic": stat, "p_value": p_value,
        "diff_low": diff - q * se, "diff_high": diff + q * se,
        "se_naive": se_naive, "p_naive": p_naive,
        "naive_low": diff - z * se_naive, "naive_high": diff + z * se_naive,
        "design_effect": design_effect, "icc": icc,
        "rate_control": p_c, "rate_arm": p_t, "leads_control": n_c, "leads_arm": n_t,
        "clusters_control": g_c, "clusters_arm": g_t,
    }
    if x.ndim == 1:
        return {k: (int(v) if k.startswith(("leads_", "clusters_")) else float(v))
                for k, v in out.items()}
    return out


@dataclass(repr=False)
class ClusterComparison(Result):
    """Treatment arms against the control in an experiment randomised by cluster (see
    :func:`cluster_compare`).

    Attributes
    ----------
    table : DataFrame
        Two rows per treatment arm, index ``(arm, analysis)`` with ``analysis`` in
        ``"cluster-robust"`` and ``"naive"``: ``clusters_control, clusters_arm, leads_control,
        leads_arm, rate_control, rate_arm, diff, se, df`` (NaN for the naive normal reference),
        ``diff_low, diff_high, p_value, significant`` (``p_value < alpha``), and on the
        cluster-robust row ``design_effect`` and ``icc``. Also :attr:`summary`.
    control, metric, cluster : str
    alpha : float
    """

    table: pd.DataFrame
    control: str
    metric: str
    cluster: str
    alpha: float

    @property
    def summary(self) -> pd.DataFrame:
        """Two rows per treatment arm: cluster-robust and naive (see :attr:`table`)."""
        return self.table

    @property
    def robust(self) -> pd.DataFrame:
        """The cluster-robust rows, one per treatment arm."""
        return self.table.xs("cluster-robust", level="analysis")

    def _describe(self) -> str:
        r = self.robust
        arms = ", ".join(f"{a!r} diff {row['diff']:+.4f} (p={row['p_value']:.3g}, design "
                         f"effect {row['design_effect']:.2f})" for a, row in r.iterrows())
        clusters = int(r["clusters_control"].iloc[0] + r["clusters_arm"].sum())
        return (f"{self.metric}, randomised by {self.cluster!r} ({clusters} clusters), control "
                f"{self.control!r}: {arms}")

    def _header(self) -> list[str]:
        level = f"{100 * (1 - self.alpha):g}%"
        lines = [repr(self),
                 f"cluster-robust: CR1 standard error of the difference (clusters of "
                 f"{self.cluster!r}), t on G - 1 df, {level} interval; naive: the same "
                 f"difference as if leads were independent (z), for comparison only."]
        for arm, row in self.robust.iterrows():
            leads = row["leads_control"] + row["leads_arm"]
            lines.append(f"{arm!r}: design effect {row['design_effect']:.2f} (ICC "
                         f"{row['icc']:.3f}): the {int(leads):,d} leads weigh as "
                         f"{leads / row['design_effect']:,.0f} independent ones.")
        return lines

    def plot(self, ax=None):
        """The difference per treatment arm with the cluster-robust and the naive interval;
        returns the axes."""
        ax = axes(ax, figsize=(6.5, 1.0 + 0.9 * len(self.robust)))
        arms = list(self.robust.index)
        y0 = np.arange(len(arms))[::-1]
        for offset, analysis, color in ((0.15, "cluster-robust", "#c1440e"),
                                        (-0.15, "naive", "#999999")):
            s = self.table.xs(analysis, level="analysis").reindex(arms)
            d = s["diff"].to_numpy(dtype=float)
            ax.errorbar(d, y0 + offset, xerr=[d - s["diff_low"].to_numpy(dtype=float),
                                               s["diff_high"].to_numpy(dtype=float) - d],
                        fmt="o", color=color, capsize=4, label=analysis)
        ax.set_yticks(y0, [str(a) for a in arms])
        ax.set_ylim(-0.6, len(arms) - 0.4)
        ax.axvline(0, color="#555555", ls=":", lw=1)
        ax.set_xlabel(f"difference in {self.metric} rate, arm - {self.control} "
                      f"({100 * (1 - self.alpha):g}% interval)")
        ax.set_title(f"Randomised by {self.cluster}")
        ax.legend(loc="best", fontsize=8)
        return ax


def cluster_compare(
    table: pd.DataFrame,
    *,
    control: str,
    metric: str = "converted",
    cluster: str = "rep_id",
    alpha: float = 0.05,
) -> ClusterComparison:
    """Compare every treatment arm with the control when the arms were assigned by cluster.

    Each treatment arm is compared with the control on the leads of the two arms by
    :func:`cluster_robust_diff`: the difference in rates with its cluster-robust interval and
    p-value (t on ``G - 1`` df, ``G`` the clusters of the two arms), and the naive lead-level
    analysis with the design effect and the intra-cluster correlation next to it. Read the
    cluster-robust row; the naive one shows what ignoring the clusters would have claimed.

    Parameters
    ----------
    table : DataFrame
        One row per lead with ``arm``, the boolean ``metric`` and the ``cluster`` id, as
        :func:`~nurturelab.experiment.lead_table` joined with the rep each lead was assigned to
        or its account. Rows without an arm are left out with a warning; a lead without a
        cluster is an error.
    control : str
        The arm the others are compared with.
    metric : str
        The outcome column.
    cluster : str
        The column of the unit of randomisation (a rep, an account).
    alpha : float
        Significance level; intervals are ``1 - alpha``.

    Returns
    -------
    ClusterComparison

    Raises
    ------
    ValueError
        When a cluster holds leads of more than one arm (randomisation was not by that cluster:
        the message names the clusters and their arms), when an arm has fewer than 2 clusters,
        or when a lead has no cluster.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> reps = pd.DataFrame({"rep_id": [f"r{i}" for i in range(40)],
    ...                      "arm": np.repeat(["a", "b"], 20),
    ...                      "skill": rng.normal(0, 0.5, 40)})
    >>> t = reps.loc[rng.integers(0, 40, 4000)].reset_index(drop=True)
    >>> t["converted"] = rng.random(4000) < 1 / (1 + np.exp(2.2 - t["skill"]))
    >>> res = cluster_compare(t, control="a")
    >>> res.summary.loc[("b", "cluster-robust"), "df"]
    np.float64(39.0)
    >>> bool(res.robust.loc["b", "design_effect"] > 1)
    True
    """
    where = "cluster_compare"
    for name, value in (("metric", metric), ("cluster", cluster)):
        if not isinstance(value, str):
            raise TypeError(f"{where} '{name}' must be a column name. Got {value!r} instead.")
    need_columns(table, ["arm", metric, cluster], f"{where} 'table'")
    alpha = probability(alpha, "alpha", where)
    no_arm = table["arm"].isna()
    if no_arm.any():
        warnings.warn(f"{where}: {int(no_arm.sum()):,d} rows have no arm and were left out",
                      UserWarning, stacklevel=2)
        table = table[~no_arm]
    no_cluster = table[cluster].isna()
    if no_cluster.any():
        raise ValueError(f"{where}: {int(no_cluster.sum()):,d} leads have no {cluster!r}; every "
                         "lead of a cluster-randomised experiment belongs to a cluster. Fill "
                         "or drop them first.")
    arm_col = table["arm"].astype(str)
    observed = sorted(arm_col.unique())
    if control not in observed:
        raise ValueError(f"{where} 'control' must be one of the arms {observed}. Got "
                         f"{control!r} instead.")
    if len(observed) < 2:
        raise ValueError(f"{where} needs at least two arms in the table. Got {observed}.")
    hit = bool_column(table, metric, where)
    frame = pd.DataFrame({"cluster": table[cluster].to_numpy(), "arm": arm_col.to_numpy(),
                          "hit": hit})
    per = frame.groupby(["cluster", "arm"], sort=True)["hit"].agg(["sum", "size"])
    arms_of = per.reset_index().groupby("cluster")["arm"].agg(list)
    mixed = arms_of[arms_of.map(len) > 1]
    if len(mixed):
        shown = "; ".join(
            f"{c!r} holds " + ", ".join(f"{int(per.loc[(c, a), 'size'])} of arm {a!r}"
                                        for a in arms)
            for c, arms in mixed.head(5).items())
        more = f" (and {len(mixed) - 5} more)" if len(mixed) > 5 else ""
        raise ValueError(f"{where}: {len(mixed)} cluster(s) of {cluster!r} hold leads of more "
                         f"than one arm: {shown}{more}. Randomisation was not by {cluster!r}; "
                         "analyse by lead (analyze) or pass the column the arms were assigned "
                         "by.")
    per = per.reset_index()
    for arm in observed:
        members = per.loc[per["arm"] == arm, "cluster"].tolist()
        if len(members) < 2:
            raise ValueError(f"{where}: arm {arm!r} has {len(members)} cluster(s) of "
                             f"{cluster!r} ({members}); a cluster-randomised comparison needs "
                             "at least 2 in each arm, and more than 20 in all to be reliable.")
    rows = []
    for arm in [a for a in observed if a != control]:
        pair = per[per["arm"].isin([control, arm])]
        r = cluster_robust_diff(pair["sum"].to_numpy(), pair["size"].to_numpy(),
                                (pair["arm"] == arm).to_numpy(), alpha=alpha)
        counts = {k: r[k] for k in ("clusters_control", "clusters_arm", "leads_control",
                                    "leads_arm", "rate_control", "rate_arm", "diff")}
        rows.append({"arm": arm, "analysis": "cluster-robust", **counts, "se": r["se"],
                     "df": r["df"], "diff_low": r["diff_low"], "diff_high": r["diff_high"],
                     "p_value": r["p_value"], "design_effect": r["design_effect"],
                     "icc": r["icc"]})
        rows.append({"arm": arm, "analysis": "naive", **counts, "se": r["se_naive"],
                     "df": np.nan, "diff_low": r["naive_low"], "diff_high": r["naive_high"],
                     "p_value": r["p_naive"], "design_effect": np.nan, "icc": np.nan})
    out = pd.DataFrame(rows).set_index(["arm", "analysis"])
    out.insert(out.columns.get_loc("p_value") + 1, "significant",
               pd.array(out["p_value"] < alpha, dtype="boolean"))
    return ClusterComparison(table=out, control=control, metric=metric, cluster=cluster,
                             alpha=alpha)
