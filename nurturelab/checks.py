"""Checks every module shares, in one place (a leaf: imports nothing of ours).

Each raises with a message that names what was checked, the rule and the value received, in the
style of scikit-learn's parameter validation.

>>> import pandas as pd
>>> need_columns(pd.DataFrame({"lead_id": []}), ["lead_id", "ts"], "events")
Traceback (most recent call last):
...
KeyError: "events lacks the column(s) ['ts']; it has ['lead_id']"
>>> utc_timestamp("2026-03-01", "as_of")
Timestamp('2026-03-01 00:00:00+0000', tz='UTC')
>>> is_number(True), is_number(2.5)
(False, True)
>>> plain_number(5.0), plain_number(2.5)
(5, 2.5)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["is_number", "need_columns", "plain_number", "utc_timestamp"]


def need_columns(df: Any, columns: Iterable[str], what: str) -> None:
    """Refuse anything but a DataFrame holding every one of ``columns``.

    Raises ``TypeError`` for a non-DataFrame and ``KeyError`` naming the missing columns and
    the ones the table has.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame. Got {type(df).__name__} instead.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what} lacks the column(s) {missing}; it has {list(df.columns)}")


def utc_timestamp(value: Any, what: str) -> pd.Timestamp:
    """``value`` as a UTC timestamp; a naive value is read as UTC.

    Raises ``ValueError`` naming ``what`` for anything that is not a timestamp.
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = pd.NaT
    if ts is pd.NaT:
        raise ValueError(f"'{what}' must be a timestamp such as '2026-03-01'. Got {value!r} "
                         "instead.")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def is_number(value: Any) -> bool:
    """A real number (Python or NumPy), not a bool."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_)


def plain_number(x: float | None) -> float | int | None:
    """Whole numbers as ints (so YAML shows ``5`` rather than ``5.0``); None stays None."""
    if x is None:
        return None
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else float(x)
