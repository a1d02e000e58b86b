"""Assigning leads to the arms of an experiment.

:func:`assign_random` (stratified permuted blocks, seeded) is for a batch of leads known in
advance; :func:`assign_hash` (salted SHA-256) is for leads assigned one by one as they arrive,
the same lead always landing in the same arm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from nurturelab.checks import need_columns
from nurturelab.experiment._args import arm_labels, weight_vector

__all__ = ["assign_hash", "assign_random"]


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
    need_columns(leads, (), f"{where} 'leads'")
    labels = arm_labels(arms, where)
    w = weight_vector(weights, labels, where)
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
    labels = arm_labels(arms, where)
    cum = np.cumsum(weight_vector(weights, labels, where))
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

