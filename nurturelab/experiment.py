"""A/B tests of nurturing cadences: assignment, design, analysis and sequential monitoring.

The same functions serve simulated leads before a launch and real leads after it, because both
arrive as the ``leads`` and ``events`` tables of :mod:`nurturelab.schema`.

* **Assignment.** :func:`assign_random` (stratified permuted blocks, seeded) for a batch of leads
  known in advance; :func:`assign_hash` (salted SHA-256) for leads assigned one by one as they
  arrive, the same lead always landing in the same arm.
* **Design.** :func:`sample_size`, :func:`power` and :func:`mde` for a two-sided two-proportion
  test (normal approximation on Cohen's *h*, as statsmodels' ``NormalIndPower``).
* **Analysis.** :func:`lead_table` turns the two tables into one row per lead;
  :func:`analyze` compares every treatment arm with the control on every metric (Newcombe and
  log-ratio intervals, z or Fisher p-values, Holm across arms, Bayesian probability to beat
  control, Kaplan-Meier time to conversion) and checks the sample ratio (:func:`srm_check`).
* **Monitoring.** :func:`monitor` gives always-valid p-values and confidence sequences (mixture
  SPRT) for analysts who look every week, next to the naive p-value that is *not* valid then.

Everything here is a pure function over DataFrames or summary counts; randomness comes only from
a ``seed`` passed to :func:`numpy.random.default_rng`. matplotlib is imported inside the ``plot``
methods only.
"""

from __future__ import annotations

import hashlib
import math
import textwrap
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import integrate, optimize, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from nurturelab.funnel import DEFAULT_FUNNEL, POSITIVE_RESPONSES, Funnel, outcomes

__all__ = [
    "METRICS",
    "ExperimentResult",
    "SRMResult",
    "analyze",
    "assign_hash",
    "assign_random",
    "compare_proportions",
    "lead_table",
    "mde",
    "monitor",
    "power",
    "prob_beat_control",
    "sample_size",
    "srm_check",
    "weekly_looks",
]

METRICS = ("contacted", "replied", "qualified", "converted")
"""The per-lead outcomes :func:`lead_table` computes and :func:`analyze` compares by default."""

SURVIVAL_HORIZONS = (30, 60, 90)
"""Days at which :func:`analyze` reads the Kaplan-Meier cumulative conversion."""

_COMPARISON_COLUMNS = ("diff", "diff_low", "diff_high", "lift", "lift_low", "lift_high",
                       "p_value", "p_holm", "test", "significant", "prob_beat_control")


# --------------------------------------------------------------------------------------------
# Argument checks (every message names the function, the argument and the value received)
# --------------------------------------------------------------------------------------------
def _probability(value: Any, name: str, where: str, *, open_interval: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    ok = (0.0 < v < 1.0) if open_interval else (0.0 <= v <= 1.0)
    if not ok:
        rule = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise ValueError(f"{where} '{name}' must be a number {rule}. Got {value!r} instead.")
    return v


def _positive(value: Any, name: str, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{where} '{name}' must be a positive number. Got {value!r} instead.")
    return v


def _count(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float | np.floating):
        raise TypeError(f"{where} '{name}' must be a whole number >= 0. Got {value!r} instead.")
    if not (math.isfinite(float(value)) and float(value) >= 0 and float(value).is_integer()):
        raise ValueError(f"{where} '{name}' must be a whole number >= 0. Got {value!r} instead.")
    return int(value)


def _counts(x_c, n_c, x_t, n_t, where: str) -> tuple[int, int, int, int]:
    vals = {name: _count(v, name, where)
            for name, v in (("x_c", x_c), ("n_c", n_c), ("x_t", x_t), ("n_t", n_t))}
    for x, n in (("x_c", "n_c"), ("x_t", "n_t")):
        if vals[n] < 1:
            raise ValueError(f"{where} '{n}' must be at least 1 (an arm with no leads has no "
                             f"rate). Got {vals[n]} instead.")
        if vals[x] > vals[n]:
            raise ValueError(f"{where} '{x}' must not exceed '{n}' ({vals[n]}). Got "
                             f"{vals[x]} instead.")
    return vals["x_c"], vals["n_c"], vals["x_t"], vals["n_t"]


def _arm_labels(arms: Any, where: str) -> list[str]:
    if isinstance(arms, str) or not isinstance(arms, Iterable):
        raise TypeError(f"{where} 'arms' must be a sequence of arm names such as ['a', 'b']. "
                        f"Got {arms!r} instead.")
    labels = list(arms)
    if len(labels) < 2:
        raise ValueError(f"{where} 'arms' needs at least two arms. Got {labels!r} instead.")
    bad = [a for a in labels if not isinstance(a, str) or not a]
    if bad:
        raise TypeError(f"{where} 'arms' must be non-empty strings. Got {bad[0]!r} instead.")
    dup = sorted({a for a in labels if labels.count(a) > 1})
    if dup:
        raise ValueError(f"{where} 'arms' must be distinct; repeated: {dup}")
    return labels


def _weight_vector(weights: Any, arms: list[str], where: str) -> np.ndarray:
    if weights is None:
        return np.full(len(arms), 1.0 / len(arms))
    if isinstance(weights, Mapping):
        if set(weights) != set(arms):
            raise ValueError(f"{where} 'weights' must name exactly the arms {arms}. Got "
                             f"{sorted(weights)} instead.")
        weights = [weights[a] for a in arms]
    try:
        w = np.asarray(list(weights), dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{where} 'weights' must be a sequence of positive numbers, one per "
                        f"arm. Got {weights!r} instead.") from None
    if w.shape != (len(arms),):
        raise ValueError(f"{where} 'weights' must have one entry per arm ({len(arms)}). Got "
                         f"{len(w)} instead.")
    if not (np.all(np.isfinite(w)) and np.all(w > 0)):
        raise ValueError(f"{where} 'weights' must all be positive numbers. Got "
                         f"{w.tolist()} instead.")
    return w / w.sum()


def _need(df: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{where} expects a DataFrame. Got {type(df).__name__} instead.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{where}: the table lacks the column(s) {missing}; it has "
                       f"{list(df.columns)}")


# --------------------------------------------------------------------------------------------
# One row per lead
# --------------------------------------------------------------------------------------------
def lead_table(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    arm_column: str = "arm",
    funnel: Funnel = DEFAULT_FUNNEL,
    as_of: Any = None,
) -> pd.DataFrame:
    """Each lead's arm and outcomes as of a timestamp: the table :func:`analyze` reads.

    Parameters
    ----------
    leads, events : DataFrame
        Tables of the data contract (:mod:`nurturelab.schema`).
    arm_column : str
        Column holding the arm. Read from ``leads`` when it has that column, otherwise from the
        first non-null value (in time order) among the lead's ``events`` (all of them: the
        assignment is not an outcome, so events after ``as_of`` still tell it). Leads seen in
        more than one arm keep the first and are counted in a warning.
    funnel : Funnel
        Stages and exit rules (see :func:`nurturelab.funnel.outcomes`).
    as_of : timestamp-like, optional
        Outcomes as of this time; defaults to the latest timestamp in the data.

    Returns
    -------
    DataFrame indexed by ``lead_id``, one row per lead created by ``as_of`` that has an arm:
        ``arm`` (str); ``contacted`` (reached the second stage), ``replied`` (any ``reply`` or
        ``connect`` response), ``qualified`` (reached the third stage), ``converted`` (bools);
        ``duration_days`` and ``censored`` (time to conversion or to ``as_of``).
        Leads without an arm are dropped, with a warning that says how many.

    Raises
    ------
    KeyError
        If neither ``leads`` nor ``events`` has ``arm_column``.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["l1", "l2"], "source": "web", "arm": ["a", "b"],
    ...                       "created_at": pd.to_datetime(["2026-01-05"] * 2, utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["l1"], "type": ["response"], "name": ["reply"],
    ...                        "ts": pd.to_datetime(["2026-01-06"], utc=True)})
    >>> table = lead_table(leads, events)
    >>> table["arm"].to_dict(), table["replied"].to_dict()
    ({'l1': 'a', 'l2': 'b'}, {'l1': True, 'l2': False})
    """
    _need(leads, ("lead_id", "created_at"), "lead_table 'leads'")
    _need(events, ("lead_id", "ts", "type", "name"), "lead_table 'events'")
    if arm_column in leads.columns:
        arm_by_lead = leads.set_index("lead_id")[arm_column]
    elif arm_column in events.columns:
        arm_by_lead = _arm_from_events(events, arm_column)
    else:
        raise KeyError(
            f"lead_table: neither 'leads' nor 'events' has the arm column {arm_column!r}. "
            f"leads has {list(leads.columns)}, events has {list(events.columns)}; pass "
            "arm_column='<name>' if the arm is stored under another name."
        )
    out = outcomes(leads, events, funnel, as_of)
    ev = events[events["ts"] <= out.attrs["as_of"]]
    replied_ids = ev.loc[ev["type"].astype("object").eq("response")
                         & ev["name"].astype("object").isin(POSITIVE_RESPONSES), "lead_id"]
    arm = arm_by_lead.reindex(out.index)
    arm = arm.astype("object").where(arm.notna(), None)
    table = pd.DataFrame(
        {
            "arm": arm.map(lambda a: None if a is None else str(a)),
            "contacted": out["stage_index"].ge(1).to_numpy(),
            "replied": out.index.isin(replied_ids),
            "qualified": out["stage_index"].ge(2).to_numpy(),
            "converted": out["converted"].to_numpy(dtype=bool),
            "duration_days": out["duration_days"].to_numpy(dtype=float),
            "censored": out["censored"].to_numpy(dtype=bool),
        },
        index=out.index,
    )
    missing = int(table["arm"].isna().sum())
    if missing:
        warnings.warn(
            f"lead_table: {missing:,d} of {len(table):,d} leads have no arm in {arm_column!r} "
            "and were dropped from the table",
            UserWarning,
            stacklevel=2,
        )
        table = table[table["arm"].notna()]
    table.attrs["as_of"] = out.attrs["as_of"]
    return table


def _arm_from_events(events: pd.DataFrame, arm_column: str) -> pd.Series:
    """Each lead's first non-null arm in time order; warns about leads seen in several arms."""
    ev = events.loc[events[arm_column].notna(), ["lead_id", "ts", arm_column]]
    ev = ev.sort_values("ts", kind="stable")
    arms = ev[arm_column].astype(str)
    several = arms.groupby(ev["lead_id"]).nunique()
    crossed = int((several > 1).sum())
    if crossed:
        warnings.warn(
            f"lead_table: {crossed:,d} leads carry more than one arm in events[{arm_column!r}]; "
            "each keeps its first. Leads that switch arms contaminate the comparison.",
            UserWarning,
            stacklevel=3,
        )
    return arms.groupby(ev["lead_id"]).first()


# --------------------------------------------------------------------------------------------
# Assignment
# --------------------------------------------------------------------------------------------
def _block(w: np.ndarray, max_block: int = 1000) -> np.ndarray:
    """Arm codes of one permuted block: the smallest block whose composition matches ``w``."""
    k = len(w)
    for size in range(k, max_block + 1):
        c = size * w
        r = np.round(c)
        if np.all(np.abs(c - r) < 1e-9) and np.all(r >= 1):
            return np.repeat(np.arange(k), r.astype(int))
    # irrational-looking weights: the largest-remainder composition of a block of max_block
    c = max_block * w
    r = np.floor(c).astype(int)
    r[np.argsort(-(c - r), kind="stable")[: max_block - r.sum()]] += 1
    return np.repeat(np.arange(k), r)


def assign_random(
    leads: pd.DataFrame,
    arms: Sequence[str],
    *,
    strata: Sequence[str] | str | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator,
    weights: Sequence[float] | Mapping[str, float] | None = None,
) -> pd.Series:
    """Randomise leads to arms in stratified permuted blocks.

    Within each stratum (a combination of the ``strata`` columns; missing values form their own
    stratum) the leads, in row order, are dealt arms from consecutive blocks, each block a
    random permutation of the arms in proportion to ``weights``. With equal weights the block
    holds each arm once, so the arms of every stratum differ by at most one lead, and so does
    every prefix of it: sort ``leads`` by ``created_at`` first if assignments are revealed as
    leads arrive.

    Parameters
    ----------
    leads : DataFrame
        One row per lead; only the ``strata`` columns are read.
    arms : sequence of str
        Arm names, at least two.
    strata : sequence of str or str, optional
        Columns to stratify on (e.g. ``["source"]``); none by default.
    seed : int, SeedSequence or Generator
        Passed to :func:`numpy.random.default_rng`; the same seed gives the same assignment.
    weights : sequence of float or mapping arm -> float, optional
        Target shares (normalised to sum to 1); equal by default. The block is the smallest
        whose composition matches them (``(0.7, 0.3)`` gives blocks of 10).

    Returns
    -------
    Series of arm labels named ``arm``, indexed like ``leads``.

    Examples
    --------
    >>> leads = pd.DataFrame({"source": ["web"] * 5 + ["ads"] * 3})
    >>> arm = assign_random(leads, ["a", "b"], strata=["source"], seed=7)
    >>> arm.groupby(leads["source"]).value_counts().sort_index().tolist()
    [2, 1, 2, 3]
    """
    where = "assign_random"
    if not isinstance(leads, pd.DataFrame):
        raise TypeError(f"{where} 'leads' must be a DataFrame. Got {type(leads).__name__} "
                        "instead.")
    labels = _arm_labels(arms, where)
    w = _weight_vector(weights, labels, where)
    cols = [strata] if isinstance(strata, str) else list(strata or [])
    missing = [c for c in cols if c not in leads.columns]
    if missing:
        raise KeyError(f"{where} 'strata' names column(s) {missing} that 'leads' lacks; it has "
                       f"{list(leads.columns)}")
    rng = np.random.default_rng(seed)
    block = _block(w)
    n = len(leads)
    if cols and n:
        group = leads.groupby(cols, sort=True, dropna=False, observed=True).ngroup().to_numpy()
    else:
        group = np.zeros(n, dtype=np.int64)
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    codes = np.empty(n, dtype=np.intp)
    for pos in np.split(order, bounds) if n else []:
        m = len(pos)
        blocks = np.tile(block, (-(-m // len(block)), 1))
        codes[pos] = rng.permuted(blocks, axis=1).ravel()[:m]
    return pd.Series(np.asarray(labels, dtype=object)[codes], index=leads.index, name="arm")


def _hash_unit(salt: str, lead_id: Hashable) -> float:
    """sha256(f"{salt}:{lead_id}") read as a uniform number in [0, 1) (53 bits)."""
    digest = hashlib.sha256(f"{salt}:{lead_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)


def assign_hash(
    lead_ids: Iterable[Hashable],
    arms: Sequence[str],
    *,
    salt: str,
    weights: Sequence[float] | Mapping[str, float] | None = None,
) -> pd.Series:
    """Assign leads to arms by hashing: the same lead and salt give the same arm, always.

    ``sha256(f"{salt}:{lead_id}")`` is read as a number ``u`` uniform in [0, 1) and the lead
    goes to the first arm whose cumulative weight exceeds ``u``. Nothing depends on the other
    leads of the batch or on their order, so a lead can be assigned the moment it arrives, by
    any service, and looked up again later. Use a new ``salt`` per experiment so that arms of
    different experiments are independent.

    Parameters
    ----------
    lead_ids : iterable of hashable
        Lead ids (formatted with ``str``: ``7`` and ``"7"`` hash alike).
    arms : sequence of str
        Arm names, at least two.
    salt : str
        The experiment's name or key.
    weights : sequence of float or mapping arm -> float, optional
        Target shares; equal by default.

    Returns
    -------
    Series of arm labels named ``arm``: indexed like ``lead_ids`` when that is a Series (so it
    aligns with the frame it came from), otherwise by the ids themselves.

    Examples
    --------
    >>> a = assign_hash(["l1", "l2", "l3"], ["a", "b"], salt="spacing-2026")
    >>> b = assign_hash(["l3", "l9", "l1"], ["a", "b"], salt="spacing-2026")
    >>> bool(a["l1"] == b["l1"]) and bool(a["l3"] == b["l3"])
    True
    """
    where = "assign_hash"
    if not isinstance(salt, str) or not salt:
        raise TypeError(f"{where} 'salt' must be a non-empty string (the experiment's key). "
                        f"Got {salt!r} instead.")
    labels = _arm_labels(arms, where)
    cum = np.cumsum(_weight_vector(weights, labels, where))
    cum[-1] = 1.0
    if isinstance(lead_ids, str) or not isinstance(lead_ids, Iterable):
        raise TypeError(f"{where} 'lead_ids' must be an iterable of lead ids. Got "
                        f"{lead_ids!r} instead.")
    ids = list(lead_ids.to_numpy() if isinstance(lead_ids, pd.Series | pd.Index) else lead_ids)
    nulls = [i for i, v in enumerate(ids) if v is None or (isinstance(v, float) and np.isnan(v))]
    if nulls:
        raise ValueError(f"{where} 'lead_ids' must not contain missing ids; {len(nulls)} found "
                         f"(first at position {nulls[0]})")
    u = np.fromiter((_hash_unit(salt, i) for i in ids), dtype=float, count=len(ids))
    codes = np.searchsorted(cum, u, side="right")
    index = lead_ids.index if isinstance(lead_ids, pd.Series) else pd.Index(ids, name="lead_id")
    return pd.Series(np.asarray(labels, dtype=object)[codes], index=index, name="arm")


# --------------------------------------------------------------------------------------------
# Sample ratio mismatch
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SRMResult:
    """A chi-square goodness-of-fit check of the arms' sizes against the planned shares.

    A mismatch (``p_value < alpha``) means leads were lost, duplicated or mis-assigned in some
    arm-dependent way; the comparison of the arms is then biased in an unknown direction.
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

    def __repr__(self) -> str:
        counts = ", ".join(f"{a}={c:,d}" for a, c in self.counts.items())
        return (f"<SRMResult {counts}: chi2={self.chi2:.3g}, p={self.p_value:.3g}, "
                f"mismatch={self.mismatch}>")

    def __str__(self) -> str:
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

    def plot(self, ax=None):
        """Observed against planned share per arm; returns the axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(5, 3.5))
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
    obs = {str(a): _count(c, f"counts[{a!r}]", where) for a, c in counts.items()}
    alpha = _probability(alpha, "alpha", where)
    arms = list(obs)
    if expected_share is None:
        share = np.full(len(arms), 1.0 / len(arms))
    else:
        if not isinstance(expected_share, Mapping) or set(map(str, expected_share)) != set(arms):
            got = sorted(map(str, expected_share)) if isinstance(expected_share, Mapping) \
                else expected_share
            raise ValueError(f"{where} 'expected_share' must give a share for exactly the arms "
                             f"{arms}. Got {got!r} instead.")
        share = _weight_vector({str(a): s for a, s in expected_share.items()}, arms,
                               f"{where} 'expected_share':")
    f_obs = np.array([obs[a] for a in arms], dtype=float)
    total = f_obs.sum()
    if total == 0:
        raise ValueError(f"{where} 'counts' are all zero: there is no split to check.")
    chi2, p = stats.chisquare(f_obs, f_exp=share * total)
    return SRMResult(counts=obs, expected_share=dict(zip(arms, share.tolist(), strict=True)),
                     chi2=float(chi2), p_value=float(p), alpha=alpha)


# --------------------------------------------------------------------------------------------
# Design: sample size, power, minimal detectable effect
# --------------------------------------------------------------------------------------------
def _design_args(where: str, alpha: float, ratio: float) -> tuple[float, float]:
    return _probability(alpha, "alpha", where), _positive(ratio, "ratio", where)


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
    p_c = _probability(p_control, "p_control", where)
    alpha, ratio = _design_args(where, alpha, ratio)
    target = _probability(power, "power", where)
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
    p_c = _probability(p_control, "p_control", where)
    p_t = _probability(p_treatment, "p_treatment", where)
    n = _positive(n_per_arm, "n_per_arm", where)
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
    p_c = _probability(p_control, "p_control", where)
    n = _positive(n_per_arm, "n_per_arm", where)
    alpha, ratio = _design_args(where, alpha, ratio)
    target = _probability(power, "power", where)
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
    x_c, n_c, x_t, n_t = _counts(x_c, n_c, x_t, n_t, where)
    alpha = _probability(alpha, "alpha", where)
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
    x_c, n_c, x_t, n_t = _counts(x_c, n_c, x_t, n_t, where)
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


# --------------------------------------------------------------------------------------------
# The analysis of an experiment
# --------------------------------------------------------------------------------------------
def _wrap(text: str, width: int = 100, indent: str = "") -> str:
    return "\n".join(textwrap.fill(line, width, initial_indent=indent,
                                    subsequent_indent=indent + ("  " if indent else ""))
                      for line in text.splitlines())


def _validity_note(result_arms: int, srm: SRMResult, has_survival: bool) -> str:
    lines = [
        "Fixed-horizon statistics: the p-values and intervals above are valid only for one "
        "analysis at the sample size planned in advance (see sample_size). Looking at them "
        "every week and stopping when one dips below alpha inflates false positives several "
        "times over (peeking); for weekly looks use monitor(), whose always-valid p-values and "
        "confidence sequences may be read at every look.",
    ]
    if result_arms > 2:
        lines.append(
            f"p_holm corrects for the {result_arms - 1} treatment arms within each metric "
            "(Holm); the metrics are not corrected against each other, so name one primary "
            "metric before the test and read the others as secondary."
        )
    else:
        lines.append("The metrics are not corrected against each other: name one primary "
                     "metric before the test and read the others as secondary.")
    lines.append("prob_beat_control is a Bayesian description (uniform prior), not a test.")
    if has_survival:
        lines.append(
            "Time to conversion counts leads that have not converted yet as censored; recent "
            "leads have had little time to convert, so read the 60/90-day columns with care."
        )
    if srm.mismatch:
        lines.append(str(srm))
    return "\n".join(lines)


@dataclass
class ExperimentResult:
    """The analysis of one experiment (see :func:`analyze`).

    Attributes
    ----------
    summary : DataFrame
        One row per (metric, arm): ``n, successes, rate, rate_low, rate_high`` (Wilson) and, for
        treatment arms, ``diff, diff_low, diff_high, lift, lift_low, lift_high, p_value,
        p_holm, test, significant, prob_beat_control``.
    srm : SRMResult
    survival : DataFrame
        Per arm: ``n, events, median_days`` (Kaplan-Meier median time to conversion; ``inf``
        while fewer than half the arm has converted) and ``converted_30d``, ``converted_60d``,
        ``converted_90d`` (``1 - S(t)``; NaN beyond the arm's longest follow-up). Empty when the
        table has no ``duration_days``/``censored``. ``attrs["logrank_p"]`` holds the log-rank
        p-value too.
    control : str
    alpha : float
    validity : str
        When the numbers may be trusted, in plain words.
    logrank_p : float
        Log-rank test across all arms (NaN without survival columns).
    km : dict of str -> lifelines.KaplanMeierFitter
        The fitted curves, for :meth:`plot_survival`.
    """

    summary: pd.DataFrame
    srm: SRMResult
    survival: pd.DataFrame
    control: str
    alpha: float
    validity: str
    logrank_p: float = math.nan
    km: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(self.summary.index.get_level_values("arm")))

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(self.summary.index.get_level_values("metric")))

    def to_frame(self) -> pd.DataFrame:
        """The summary as a flat table (``metric`` and ``arm`` as columns)."""
        return self.summary.reset_index()

    def __repr__(self) -> str:
        n = sum(self.srm.counts.values())
        srm = "SAMPLE RATIO MISMATCH" if self.srm.mismatch else "sample ratio ok"
        return (f"<ExperimentResult {len(self.arms)} arms (control {self.control!r}), "
                f"{n:,d} leads, metrics {self.metrics}, alpha {self.alpha:g}; {srm}>")

    def decision_table(self) -> pd.DataFrame:
        """The summary as formatted text, one row per (metric, arm), with a decision column."""
        s = self.summary
        conf = f"{100 * (1 - self.alpha):g}%"

        def pct(v: float) -> str:
            return "-" if pd.isna(v) else f"{100 * v:.2f}%"

        def pts(v: float) -> str:
            return "-" if pd.isna(v) else f"{100 * v:+.2f}"

        rows = []
        for (metric, arm), r in s.iterrows():
            treated = arm != self.control
            if treated and r["n"] > 0:
                if bool(r["significant"]):
                    decision = "higher" if r["diff"] > 0 else "lower"
                    decision = f"significant: {decision}"
                else:
                    decision = "no significant difference"
            else:
                decision = "control" if not treated else "-"
            rows.append({
                "metric": metric,
                "arm": arm,
                "n": f"{int(r['n']):,d}",
                "rate": f"{pct(r['rate'])} [{pct(r['rate_low'])}, {pct(r['rate_high'])}]",
                "diff (pts)": (f"{pts(r['diff'])} [{pts(r['diff_low'])}, {pts(r['diff_high'])}]"
                               if treated else ""),
                "lift (%)": (f"{pts(r['lift'])} [{pts(r['lift_low'])}, {pts(r['lift_high'])}]"
                             if treated else ""),
                "p": f"{r['p_value']:.3g}" if treated else "",
                "p_holm": f"{r['p_holm']:.3g}" if treated else "",
                "P(beat)": f"{r['prob_beat_control']:.3f}" if treated else "",
                "decision": decision,
            })
        table = pd.DataFrame(rows).set_index(["metric", "arm"])
        return table.rename(columns={"rate": f"rate [{conf} CI]"})

    def __str__(self) -> str:
        arms = self.arms
        n = sum(self.srm.counts.values())
        head = (f"Experiment: control {self.control!r} against "
                f"{', '.join(repr(a) for a in arms if a != self.control)} — {n:,d} leads, "
                f"alpha {self.alpha:g}")
        parts = [head, "", self.decision_table().to_string(), "", _wrap(str(self.srm))]
        if len(self.survival):
            surv = self.survival.to_string(float_format=lambda v: f"{v:,.3g}")
            parts += ["", "Time to conversion (Kaplan-Meier):", surv,
                      f"log-rank p = {self.logrank_p:.3g}"]
        parts += ["", "Validity:", _wrap(self.validity, indent="  ")]
        return "\n".join(parts)

    def plot(self, ax=None, metric: str = "converted"):
        """Rate of ``metric`` per arm with its Wilson interval; returns the axes."""
        if metric not in self.metrics:
            raise ValueError(f"ExperimentResult.plot 'metric' must be one of {self.metrics}. "
                             f"Got {metric!r} instead.")
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 3.5))
        s = self.summary.xs(metric, level="metric")
        y = np.arange(len(s))[::-1]
        rate = s["rate"].to_numpy(dtype=float)
        err = [rate - s["rate_low"].to_numpy(dtype=float),
               s["rate_high"].to_numpy(dtype=float) - rate]
        colors = ["#555555" if a == self.control else "#3a7ca5" for a in s.index]
        for yi, r, lo, hi, c in zip(y, rate, err[0], err[1], colors, strict=True):
            ax.errorbar(r, yi, xerr=[[lo], [hi]], fmt="o", color=c, capsize=4)
        ax.axvline(s.loc[self.control, "rate"], color="#555555", ls=":", lw=1)
        ax.set_yticks(y, [f"{a} (control)" if a == self.control else str(a) for a in s.index])
        ax.set_xlabel(f"{metric} rate ({100 * (1 - self.alpha):g}% Wilson interval)")
        ax.set_title(f"{metric.capitalize()} by arm")
        return ax

    def plot_survival(self, ax=None):
        """Kaplan-Meier cumulative conversion (``1 - S(t)``) per arm; returns the axes."""
        if not self.km:
            raise ValueError("ExperimentResult.plot_survival needs the 'duration_days' and "
                             "'censored' columns in the analysed table; they were absent.")
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 4))
        for arm, kmf in self.km.items():
            kmf.plot_cumulative_density(ax=ax, label=str(arm), ci_alpha=0.15)
        ax.set_xlabel("days since the lead was created")
        ax.set_ylabel("converted (Kaplan-Meier)")
        ax.set_title(f"Time to conversion (log-rank p = {self.logrank_p:.3g})")
        return ax


def _as_bool(table: pd.DataFrame, column: str) -> np.ndarray:
    s = table[column]
    if s.isna().any():
        raise ValueError(f"analyze: metric column {column!r} has {int(s.isna().sum())} missing "
                         "values; fill or drop them first.")
    values = s.to_numpy()
    if s.dtype == bool or pd.api.types.is_bool_dtype(s.dtype):
        return values.astype(bool)
    ok = pd.api.types.is_numeric_dtype(s.dtype) and np.isin(values, (0, 1)).all()
    if not ok:
        raise ValueError(f"analyze: metric column {column!r} must hold booleans (or 0/1). Got "
                         f"values such as {s.iloc[:3].tolist()!r}.")
    return values.astype(bool)


def analyze(
    table: pd.DataFrame,
    *,
    control: str,
    metrics: Sequence[str] = METRICS,
    alpha: float = 0.05,
    expected_share: Mapping[str, float] | None = None,
) -> ExperimentResult:
    """Compare every treatment arm with the control on every metric.

    Parameters
    ----------
    table : DataFrame
        One row per lead with ``arm`` and one boolean column per metric, as from
        :func:`lead_table`. With ``duration_days`` and ``censored`` the time to conversion is
        compared too (Kaplan-Meier per arm, log-rank test across arms); without them that part
        is skipped. Rows with no arm are dropped with a warning.
    control : str
        The arm the others are compared with.
    metrics : sequence of str
        Metric columns, :data:`METRICS` by default.
    alpha : float
        Significance level; intervals are ``1 - alpha``.
    expected_share : mapping arm -> float, optional
        Planned shares for the sample ratio check; equal by default. An arm planned but absent
        from ``table`` counts as having received no leads.

    Returns
    -------
    ExperimentResult
        Per metric and treatment arm: :func:`compare_proportions` (``test="auto"``), Holm's
        correction across the treatment arms of that metric (``p_holm``, ``significant`` when
        ``p_holm < alpha``) and :func:`prob_beat_control`.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> table = pd.DataFrame({"arm": np.repeat(["a", "b"], 2000),
    ...                       "converted": rng.random(4000) < np.repeat([0.10, 0.14], 2000)})
    >>> res = analyze(table, control="a", metrics=["converted"])
    >>> row = res.summary.loc[("converted", "b")]
    >>> int(row["n"]), bool(row["significant"])
    (2000, True)
    """
    where = "analyze"
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ValueError(f"{where} 'metrics' must name at least one metric column.")
    _need(table, ["arm", *metrics], where)
    alpha = _probability(alpha, "alpha", where)
    no_arm = table["arm"].isna()
    if no_arm.any():
        warnings.warn(f"analyze: {int(no_arm.sum()):,d} rows have no arm and were left out",
                      UserWarning, stacklevel=2)
        table = table[~no_arm]
    arm_col = table["arm"].astype(str)
    observed = sorted(arm_col.unique())
    if control not in observed:
        raise ValueError(f"{where} 'control' must be one of the arms {observed}. Got "
                         f"{control!r} instead.")
    if len(observed) < 2:
        raise ValueError(f"{where} needs at least two arms in the table. Got {observed}.")
    arms = [control] + [a for a in observed if a != control]

    counts = arm_col.value_counts()
    planned = list(map(str, expected_share)) if expected_share is not None else []
    srm_arms = arms + [a for a in planned if a not in arms]
    srm = srm_check({a: int(counts.get(a, 0)) for a in srm_arms}, expected_share)

    rows = []
    for metric in metrics:
        hit = pd.Series(_as_bool(table, metric), index=table.index)
        x = hit.groupby(arm_col).sum()
        n = hit.groupby(arm_col).size()
        x_c, n_c = int(x[control]), int(n[control])
        lo, hi = proportion_confint(x.reindex(arms).to_numpy(), n.reindex(arms).to_numpy(),
                                    alpha=alpha, method="wilson")
        block = []
        for k, arm in enumerate(arms):
            row: dict[str, Any] = {"metric": metric, "arm": arm, "n": int(n[arm]),
                                   "successes": int(x[arm]), "rate": x[arm] / n[arm],
                                   "rate_low": float(lo[k]), "rate_high": float(hi[k])}
            if arm != control:
                row.update(compare_proportions(x_c, n_c, int(x[arm]), int(n[arm]),
                                               alpha=alpha))
                row["prob_beat_control"] = prob_beat_control(x_c, n_c, int(x[arm]), int(n[arm]))
            block.append(row)
        treated = [r for r in block if r["arm"] != control]
        p = np.array([r["p_value"] for r in treated], dtype=float)
        adjusted = np.full(len(p), np.nan)
        finite = np.isfinite(p)
        if finite.any():
            adjusted[finite] = multipletests(p[finite], alpha=alpha, method="holm")[1]
        for r, ph in zip(treated, adjusted, strict=True):
            r["p_holm"] = float(ph)
            r["significant"] = bool(ph < alpha)
        rows += block

    summary = pd.DataFrame(rows).set_index(["metric", "arm"])
    for col in _COMPARISON_COLUMNS:
        if col not in summary:
            summary[col] = np.nan
    summary["test"] = summary["test"].astype("object").where(summary["test"].notna(), None)
    summary["significant"] = summary["significant"].astype("boolean")
    summary = summary[["n", "successes", "rate", "rate_low", "rate_high",
                       *_COMPARISON_COLUMNS]]

    survival, logrank_p, km = _survival(table, arm_col, arms)
    validity = _validity_note(len(arms), srm, bool(km))
    return ExperimentResult(summary=summary, srm=srm, survival=survival, control=control,
                            alpha=alpha, validity=validity, logrank_p=logrank_p, km=km)


def _survival(table: pd.DataFrame, arm_col: pd.Series, arms: list[str]):
    """Kaplan-Meier per arm and the log-rank test across arms (empty when columns are absent)."""
    if not {"duration_days", "censored"} <= set(table.columns):
        return pd.DataFrame(), math.nan, {}
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    duration = table["duration_days"].to_numpy(dtype=float)
    if not np.all(np.isfinite(duration)) or (duration < 0).any():
        raise ValueError("analyze: 'duration_days' must be finite and >= 0 for every lead.")
    event = ~table["censored"].to_numpy(dtype=bool)
    rows, km = [], {}
    for arm in arms:
        mask = (arm_col == arm).to_numpy()
        kmf = KaplanMeierFitter(label=arm).fit(duration[mask], event_observed=event[mask])
        km[arm] = kmf
        horizon = duration[mask].max()
        at = kmf.survival_function_at_times(list(SURVIVAL_HORIZONS)).to_numpy()
        row = {"arm": arm, "n": int(mask.sum()), "events": int(event[mask].sum()),
               "median_days": float(kmf.median_survival_time_)}
        for t, s in zip(SURVIVAL_HORIZONS, at, strict=True):
            row[f"converted_{t}d"] = float(1 - s) if t <= horizon else math.nan
        rows.append(row)
    survival = pd.DataFrame(rows).set_index("arm")
    test = multivariate_logrank_test(duration, arm_col.to_numpy(), event)
    logrank_p = float(test.p_value)
    survival.attrs["logrank_p"] = logrank_p
    return survival, logrank_p, km


# --------------------------------------------------------------------------------------------
# Sequential monitoring
# --------------------------------------------------------------------------------------------
def _tuning_ratio(alpha: float) -> float:
    """s solving s = 2 log(1/alpha) + log(1 + s): the tau**2 / V that makes the normal-mixture
    confidence sequence narrowest at the look whose variance is V (about 8.2 at alpha 0.05)."""
    s = 2 * math.log(1 / alpha)
    for _ in range(100):
        s = 2 * math.log(1 / alpha) + math.log1p(s)
    return s


def monitor(looks: pd.DataFrame, *, alpha: float = 0.05, tau: float | None = None) -> pd.DataFrame:
    """Weekly looks at a running two-arm experiment, with p-values valid under peeking.

    For each look the cumulative counts give ``diff = p_t - p_c`` and its plug-in variance
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

    Which column is valid when:

    * ``naive_p`` (pooled two-proportion z test on the data so far) is valid only for a single
      look fixed in advance; reading it every week and stopping at the first ``naive_p < alpha``
      rejects a true null far more often than ``alpha`` (about 20% with 10 looks at 0.05).
    * ``always_valid_p``, ``cs_low``/``cs_high`` and ``stop`` are valid at every look, however
      many looks are taken and whenever the analyst decides to stop (up to the normal
      approximation, which needs a handful of successes per arm). The price is width: at a
      planned horizon they are wider than the fixed-horizon interval.

    Parameters
    ----------
    looks : DataFrame
        One row per look in time order, with cumulative ``x_c, n_c, x_t, n_t`` (successes and
        leads in control and treatment); never decreasing.
    alpha : float
        Level of the test and one minus the coverage of the confidence sequence.
    tau : float, optional
        Standard deviation of the mixing distribution, on the scale of the difference in rates.
        Effects near ``tau`` are detected fastest. By default ``tau**2 = s * V1``, where ``V1``
        is the null variance ``q (1 - q) (1 / n_c + 1 / n_t)`` of the first informative look
        (pooled rate ``q`` strictly between 0 and 1) and ``s`` solves
        ``s = 2 log(1 / alpha) + log(1 + s)`` (8.2 at alpha 0.05), which makes the confidence
        sequence narrowest at that look. It depends only on that look's pooled rate and sizes,
        not on the difference, and never changes once that look is in, so re-running
        ``monitor`` as weeks are appended reproduces the earlier rows exactly. The sequence
        is only slightly wider at later looks (about 7% at the tenth of ten equal looks). To fix
        it before launch, pass the planned minimal detectable difference
        (:func:`mde` at the planned size): at 80% power that is close to the optimum for the
        planned horizon.

    Returns
    -------
    DataFrame indexed like ``looks``: ``diff, naive_p, always_valid_p, cs_low, cs_high, stop``;
    ``attrs["tau"]`` holds the ``tau`` used.

    Examples
    --------
    >>> weeks = np.arange(1, 9)
    >>> looks = pd.DataFrame({"n_c": 500 * weeks, "x_c": 50 * weeks,
    ...                       "n_t": 500 * weeks, "x_t": 65 * weeks})
    >>> m = monitor(looks)
    >>> int(m["stop"].idxmax()), bool(m["stop"].iloc[-1])
    (4, True)
    """
    where = "monitor"
    _need(looks, ("x_c", "n_c", "x_t", "n_t"), where)
    alpha = _probability(alpha, "alpha", where)
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
    x_c, n_c, x_t, n_t = cols["x_c"], cols["n_c"], cols["x_t"], cols["n_t"]
    for x, n, name in ((x_c, n_c, "x_c"), (x_t, n_t, "x_t")):
        if np.any(x > n):
            raise ValueError(f"{where} 'looks' column {name!r} must not exceed the leads of its "
                             f"arm; it does at row {int(np.flatnonzero(x > n)[0])}.")

    with np.errstate(divide="ignore", invalid="ignore"):
        p_c, p_t = x_c / n_c, x_t / n_t
        diff = p_t - p_c
        q = (x_c + x_t) / (n_c + n_t)
        v_null = q * (1 - q) * (1 / n_c + 1 / n_t)
        z = diff / np.sqrt(v_null)
        naive_p = np.where(v_null > 0, 2 * stats.norm.sf(np.abs(z)), np.nan)
        v = p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t

    if tau is None:
        informative = np.flatnonzero(np.nan_to_num(v_null) > 0)
        tau_ = (math.sqrt(_tuning_ratio(alpha) * v_null[informative[0]])
                if len(informative) else math.nan)
    else:
        tau_ = _positive(tau, "tau", where)

    ok = np.isfinite(v) & (v > 0) & np.isfinite(tau_)
    t2 = tau_ ** 2 if math.isfinite(tau_) else 1.0
    vs = np.where(ok, v, 1.0)
    ds = np.where(ok, diff, 0.0)
    log_lambda = np.where(ok, 0.5 * np.log(vs / (vs + t2)) + t2 * ds**2 / (2 * vs * (vs + t2)),
                          0.0)
    always_valid_p = np.minimum.accumulate(np.minimum(1.0, np.exp(-log_lambda)))
    radius = np.sqrt(2 * vs * (vs + t2) / t2 * (math.log(1 / alpha) + 0.5 * np.log1p(t2 / vs)))
    low = np.where(ok, np.clip(ds - radius, -1.0, 1.0), -1.0)
    high = np.where(ok, np.clip(ds + radius, -1.0, 1.0), 1.0)
    out = pd.DataFrame(
        {
            "diff": diff,
            "naive_p": naive_p,
            "always_valid_p": always_valid_p,
            "cs_low": np.maximum.accumulate(low),
            "cs_high": np.minimum.accumulate(high),
            "stop": always_valid_p <= alpha,
        },
        index=looks.index,
    )
    out.attrs["tau"] = tau_
    return out


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
    _need(table, ("arm", metric), where)
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
    hit = _as_bool(table, metric)
    frame = pd.DataFrame({"week": week.to_numpy(), "arm": table["arm"].to_numpy(), "hit": hit})
    out = {}
    for key, arm in (("c", control), ("t", treatment)):
        g = frame[frame["arm"] == arm].groupby("week")["hit"]
        out[f"x_{key}"] = g.sum()
        out[f"n_{key}"] = g.size()
    looks = pd.DataFrame(out).fillna(0).astype(int).sort_index().cumsum()
    return looks[["x_c", "n_c", "x_t", "n_t"]].rename_axis("week")
