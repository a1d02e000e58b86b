"""The one face every result object shares (a leaf: imports nothing of ours).

Modelled on lifelines' fitters: ``summary`` is a DataFrame property, ``print_summary()``
renders it under a short header, ``repr`` says in one line what was computed, and
``plot(ax=None)`` draws on the given axes (a new figure when None) and returns them.

A result class subclasses :class:`Result` and defines ``summary``, ``_describe`` (the repr's
text) and ``plot``; it may add header lines with ``_header``. A dataclass result is declared
``@dataclass(repr=False)`` so that the shared ``__repr__`` is kept.

>>> import pandas as pd
>>> class Mean(Result):
...     def __init__(self, values):
...         self.values = pd.Series(values, dtype=float)
...     @property
...     def summary(self):
...         return pd.DataFrame({"mean": [self.values.mean()], "n": [len(self.values)]},
...                             index=["all"])
...     def _describe(self):
...         return f"mean of {len(self.values)} values"
>>> m = Mean([1, 2, 4])
>>> m
<Mean: mean of 3 values>
>>> m.print_summary()
<Mean: mean of 3 values>
     mean  n
all 2.333  3
"""

from __future__ import annotations

import sys
from typing import IO

import pandas as pd

__all__ = ["Result", "format_table"]


def format_table(df: pd.DataFrame, decimals: int = 3) -> str:
    """A DataFrame as text: floats to ``decimals`` places past the point, missing values
    (nullable integers' included) as ``-``."""
    nullable = [c for c in df.columns
                if isinstance(df[c].dtype, pd.api.extensions.ExtensionDtype)
                and df[c].isna().any()]
    if nullable:  # pandas prints <NA> for nullable integers whatever na_rep says
        df = df.astype({c: object for c in nullable})
        for c in nullable:
            df[c] = df[c].where(df[c].notna(), "-")
    return df.to_string(float_format=lambda v: f"{v:,.{decimals}f}", na_rep="-")


class Result:
    """Base of every result object: ``summary``, ``print_summary()``, repr, ``plot``."""

    @property
    def summary(self) -> pd.DataFrame:  # pragma: no cover - every subclass defines it
        """The result as a DataFrame, one row per estimate, check or group."""
        raise NotImplementedError

    def _describe(self) -> str:
        """What was computed, in a few words (the repr's text)."""
        return f"{len(self.summary)} rows"

    def _header(self) -> list[str]:
        """Lines printed above the summary table (the repr by default)."""
        return [repr(self)]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._describe()}>"

    def to_text(self, decimals: int = 3) -> str:
        """The header lines and the summary table, as :meth:`print_summary` prints them."""
        return "\n".join([*self._header(), format_table(self.summary, decimals)])

    def __str__(self) -> str:
        return self.to_text()

    def print_summary(self, decimals: int = 3, file: IO[str] | None = None) -> None:
        """Print the header and the summary table (to ``file``, standard output by default)."""
        print(self.to_text(decimals), file=file or sys.stdout)

    def plot(self, ax=None):  # pragma: no cover - every subclass defines it
        """Draw the result on ``ax`` (a new figure when None) and return the axes."""
        raise NotImplementedError
