"""Argument checks the experiment modules share (private to the package).

Every message names the function (``where``), the argument and the value received, in the style
of scikit-learn's parameter validation: ``"analyze 'alpha' must be a number strictly between 0
and 1. Got 5 instead."``
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.checks import is_number

__all__ = ["arm_labels", "bool_column", "count", "positive", "probability", "two_arm_counts",
           "weight_vector", "whole_number"]


def probability(value: Any, name: str, where: str, *, open_interval: bool = True) -> float:
    """``value`` as a float in (0, 1) (or [0, 1] when not ``open_interval``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    ok = (0.0 < v < 1.0) if open_interval else (0.0 <= v <= 1.0)
    if not ok:
        rule = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise ValueError(f"{where} '{name}' must be a number {rule}. Got {value!r} instead.")
    return v


def positive(value: Any, name: str, where: str) -> float:
    """``value`` as a finite float > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{where} '{name}' must be a positive number. Got {value!r} instead.")
    return v


def whole_number(value: Any, name: str, where: str, *, minimum: int = 0) -> int:
    """``value`` (a Python or NumPy number holding a whole value >= ``minimum``) as an int.

    Raises ``TypeError`` for anything but a number (a bool is not one) and ``ValueError`` for a
    number that is not whole or is below ``minimum``.
    """
    rule = f"must be a whole number >= {minimum}. Got {value!r} instead."
    if not is_number(value):
        raise TypeError(f"{where} '{name}' {rule}")
    v = float(value)
    if not (math.isfinite(v) and v.is_integer() and v >= minimum):
        raise ValueError(f"{where} '{name}' {rule}")
    return int(value)


def count(value: Any, name: str, where: str) -> int:
    """A count of leads or successes: a whole number >= 0."""
    return whole_number(value, name, where, minimum=0)


def two_arm_counts(x_c: Any, n_c: Any, x_t: Any, n_t: Any, where: str) -> tuple[int, int, int, int]:
    """Successes and leads of the control and treatment arms: ``1 <= n`` and ``x <= n``."""
    vals = {name: count(v, name, where)
            for name, v in (("x_c", x_c), ("n_c", n_c), ("x_t", x_t), ("n_t", n_t))}
    for x, n in (("x_c", "n_c"), ("x_t", "n_t")):
        if vals[n] < 1:
            raise ValueError(f"{where} '{n}' must be at least 1 (an arm with no leads has no "
                             f"rate). Got {vals[n]} instead.")
        if vals[x] > vals[n]:
            raise ValueError(f"{where} '{x}' must not exceed '{n}' ({vals[n]}). Got "
                             f"{vals[x]} instead.")
    return vals["x_c"], vals["n_c"], vals["x_t"], vals["n_t"]


def arm_labels(arms: Any, where: str) -> list[str]:
    """At least two distinct, non-empty arm names."""
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


def weight_vector(weights: Any, arms: list[str], where: str) -> np.ndarray:
    """Shares of ``arms`` (a sequence or a mapping arm -> weight; equal when None), summing
    to 1."""
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


def bool_column(table: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """A metric column (booleans, or numbers that are all 0 or 1) as a boolean array."""
    s = table[column]
    if s.isna().any():
        raise ValueError(f"{where}: metric column {column!r} has {int(s.isna().sum())} missing "
                         "values; fill or drop them first.")
    values = s.to_numpy()
    if s.dtype == bool or pd.api.types.is_bool_dtype(s.dtype):
        return values.astype(bool)
    ok = pd.api.types.is_numeric_dtype(s.dtype) and np.isin(values, (0, 1)).all()
    if not ok:
        raise ValueError(f"{where}: metric column {column!r} must hold booleans (or 0/1). Got "
                         f"values such as {s.iloc[:3].tolist()!r}.")
    return values.astype(bool)
