"""Lead-level CRM tables: one row per lead, a converted flag and attribute columns.

:func:`read_lead_table` reads one (CSV or Parquet) through a :class:`TableColumns` map, which
:func:`read_table_map` reads from YAML (the ``--table-columns`` file of
``nurturelab score fit --table``); :func:`nurturelab.scoring.fit.fit_on_table` fits on it.

A table is read as it is: a blank cell (or a Parquet null) is missing, every other value is a
value. Placeholders such as ``"Select"`` or ``"unknown"`` are declared per column in the map's
``placeholders``, as missing or as a level of its own; the reader issues a :class:`TableWarning`
for a feature column holding common placeholder values (:data:`COMMON_PLACEHOLDERS`) that the
map does not declare. :func:`leakage_warnings` (and :func:`leakage_table`, its figures) name the
columns that may leak the outcome: one that predicts it almost alone, one filled in almost only
for one outcome, one whose name says it is filled in after contact.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nurturelab._yaml import load_yaml
from nurturelab.tracking import personal_columns

__all__ = ["AFTER_CONTACT_WORDS", "COMMON_PLACEHOLDERS", "TableColumns", "TableWarning",
           "leakage_table", "leakage_warnings", "read_lead_table", "read_table_map"]

_TRUE = {"1", "true", "yes", "y", "won", "converted", "t"}
_FALSE = {"0", "false", "no", "n", "lost", "open", "f"}
_TABLE_MAP_KEYS = ("columns", "target", "id_column", "drop", "placeholders")
_MODES = ("missing", "level")

COMMON_PLACEHOLDERS = ("", "select", "-- select --", "--select--", "n/a", "na", "#n/a", "<na>",
                       "none", "null", "nan", "unknown", "undefined", "not specified", "-", "?")
"""Values that often stand for "not given" in CRM exports (compared trimmed and lower-cased).
:func:`read_lead_table` reads them as they are and warns about those a table map does not
declare; it never treats them as missing by itself."""

AFTER_CONTACT_WORDS = ("stage", "status", "tag", "tags", "quality", "won", "lost", "closed",
                       "outcome", "disposition", "converted")
"""Words in a column's name that :func:`leakage_warnings` reads as "filled in after contact"
(compared with the name's words, lower-cased: ``Lead Stage``, ``deal_status``, ``isWon``)."""


class TableWarning(UserWarning):
    """A lead table was read, but something in it deserves a look (a column holding common
    placeholder values that the table map does not declare). The message starts with the file
    name; ``warnings.simplefilter("error", TableWarning)`` turns it into a refusal."""


def _cut(text: Any, limit: int = 80) -> str:
    """``text`` as a string of at most about ``limit`` characters, saying how long it was."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit - 3]}... ({len(text):,d} characters)"


class _Rows:
    """Names a row of the table as a user finds it: a CSV file's line (counted in the file, so
    that a quoted value over several lines or a blank line does not shift it; read only when a
    message names a line), a Parquet file's row."""

    def __init__(self, path: Path, csv_file: bool):
        self.path, self.csv_file, self._lines = path, csv_file, None

    def __call__(self, position: int) -> str:
        if not self.csv_file:
            return f"row {position}"
        if self._lines is None:
            self._lines = self._record_lines()
        lines = self._lines
        return f"line {lines[position] if position < len(lines) else position + 2}"

    def _record_lines(self) -> list[int]:
        """The line each record after the header starts on."""
        name = self.path.name.lower()
        if not name.endswith((".csv", ".gz", ".txt")):
            return []  # another compression: one line per record is assumed
        opener = gzip.open if name.endswith(".gz") else open
        starts, before = [], 0
        with opener(self.path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh)
            for row in reader:
                if row:  # pandas skips blank lines
                    starts.append(before + 1)
                before = reader.line_num
        return starts[1:]  # the first record is the header


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a column name (non-empty text). Got {value!r} instead."
                         + (" Quote it in YAML." if value is not None else ""))
    return value


def _closest(name: str, names: Iterable[Any], n: int = 3) -> list[str]:
    """Up to ``n`` of ``names`` that look like ``name`` (difflib, ignoring case)."""
    folded: dict[str, str] = {}
    for c in names:
        folded.setdefault(str(c).casefold(), str(c))
    hits = difflib.get_close_matches(str(name).casefold(), list(folded), n=n, cutoff=0.6)
    return [folded[h] for h in hits]


def _placeholder_triples(value: Any) -> tuple[tuple[str, str, str], ...]:
    """``placeholders`` as ``(column, value, mode)`` triples, checked (see TableColumns)."""
    what = "TableColumns 'placeholders'"
    if isinstance(value, Mapping):
        triples = []
        for col, spec in value.items():
            _name(col, f"{what} key")
            if not isinstance(spec, Mapping):
                raise TypeError(f"{what} of {col!r} must be a mapping of 'missing' and/or "
                                f"'level' to a list of values, such as {{missing: [Select]}}. "
                                f"Got {_cut(repr(spec))} instead.")
            unknown = [k for k in spec if k not in _MODES]
            if unknown:
                raise ValueError(f"{what} of {col!r}: unknown key(s) {unknown}; allowed keys "
                                 f"are {list(_MODES)} (missing: read as a missing value; "
                                 "level: kept as a value of its own).")
            if not spec:
                raise ValueError(f"{what} of {col!r} declares no value; give missing: [...] "
                                 "and/or level: [...], or leave the column out.")
            for mode, values in spec.items():
                if isinstance(values, str) or not isinstance(values, Iterable):
                    raise TypeError(f"{what} {mode!r} of {col!r} must be a list of values. Got "
                                    f"{_cut(repr(values))} instead; write [{values!r}].")
                values = list(values)
                if not values:
                    raise ValueError(f"{what} {mode!r} of {col!r} lists no value; list them or "
                                     "leave the key out.")
                triples.extend((col, v, mode) for v in values)
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        triples = []
        for item in value:
            if not (isinstance(item, tuple | list) and len(item) == 3):
                raise TypeError(f"{what} must be a mapping of column: {{missing: [values], "
                                f"level: [values]}}. Got {_cut(repr(value))} instead.")
            col, v, mode = item
            _name(col, f"{what} column")
            if mode not in _MODES:
                raise ValueError(f"{what} of {col!r}: the mode must be one of {list(_MODES)}. "
                                 f"Got {mode!r} instead.")
            triples.append((col, v, mode))
    else:
        raise TypeError(f"{what} must be a mapping of column: {{missing: [values], level: "
                        f"[values]}}. Got {_cut(repr(value))} instead.")
    seen: dict[tuple[str, str], str] = {}
    for col, v, mode in triples:
        if not isinstance(v, str):
            hint = "null" if v is None else str(v).lower() if isinstance(v, bool) else v
            raise TypeError(f"{what} values of {col!r} must be text, compared with the table's "
                            f"cells exactly. Got {v!r} ({type(v).__name__}) instead; quote it "
                            f"in YAML: '{hint}'.")
        if (col, v) in seen:
            twice = "twice" if seen[(col, v)] == mode else f"as {seen[(col, v)]} and as {mode}"
            raise ValueError(f"{what} of {col!r} gives {v!r} {twice}; give each value once.")
        seen[(col, v)] = mode
    return tuple(triples)


@dataclass(frozen=True)
class TableColumns:
    """How to read a lead-level CRM table: its column names, its flag, its id, what to leave
    out and which values are placeholders (the ``--table-columns`` map of
    ``nurturelab score fit --table``).

    Parameters
    ----------
    columns : mapping of str to str, default {}
        New name -> the table's column, e.g. ``{"converted": "Converted"}``; stored as a tuple
        of pairs (see :attr:`rename`). Two names may not take the same column.
    target : str, default 'converted'
        The converted flag (after renaming): 1/0, true/false, yes/no, won/lost.
    id_column : str, optional
        A lead id column (after renaming) used as the index and kept out of the features.
    drop : sequence of str, default ()
        Columns (after renaming) kept out of the features: free text, personal data, leakage
        such as a stage or a "lead quality" filled in after the sale. Stored as a tuple.
    placeholders : mapping, default {}
        Column (after renaming) -> ``{"missing": [values], "level": [values]}``: values read
        as missing, and values kept as a level of their own (a form left at its default can
        mean something), e.g. ``{"Lead Source": {"missing": ["unknown"]}, "City": {"level":
        ["Select"]}}``. Values are text compared with the cells exactly (case and spaces
        count); in a numeric column a value such as ``"-1"`` matches that number. Stored as
        ``(column, value, mode)`` triples (see :attr:`placeholder_map`).

    Examples
    --------
    >>> TableColumns({"converted": "Converted", "lead_id": "Prospect ID"}, id_column="lead_id")
    ... # doctest: +NORMALIZE_WHITESPACE
    TableColumns(columns=(('converted', 'Converted'), ('lead_id', 'Prospect ID')),
                 target='converted', id_column='lead_id', drop=(), placeholders=())
    >>> TableColumns(placeholders={"City": {"level": ["Select"], "missing": ["?"]}}
    ...              ).placeholder_map
    {'City': {'Select': 'level', '?': 'missing'}}
    >>> TableColumns(drop="Tags")
    Traceback (most recent call last):
    ...
    TypeError: TableColumns 'drop' must be a list of column names. Got 'Tags' instead; write \
['Tags'].
    """

    columns: Mapping[str, str] | tuple[tuple[str, str], ...] = ()
    target: str = "converted"
    id_column: str | None = None
    drop: Sequence[str] = ()
    placeholders: Mapping[str, Mapping[str, Sequence[str]]] | tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        pairs = self.columns.items() if isinstance(self.columns, Mapping) else self.columns
        try:
            pairs = tuple((new, old) for new, old in pairs)
        except (TypeError, ValueError):
            raise TypeError(f"TableColumns 'columns' must be a mapping of new name: table "
                            f"column. Got {self.columns!r} instead.") from None
        for new, old in pairs:
            _name(new, "TableColumns 'columns' key")
            _name(old, f"TableColumns 'columns' value of {new!r}")
        news = [new for new, _ in pairs]
        olds = [old for _, old in pairs]
        twice = sorted({o for o in olds if olds.count(o) > 1})
        if twice or len(set(news)) != len(news):
            raise ValueError(f"TableColumns 'columns' must give each table column one new name; "
                             f"{twice or sorted({n for n in news if news.count(n) > 1})} "
                             "appear more than once.")
        object.__setattr__(self, "columns", pairs)
        _name(self.target, "TableColumns 'target'")
        if self.id_column is not None:
            _name(self.id_column, "TableColumns 'id_column'")
            if self.id_column == self.target:
                raise ValueError(f"TableColumns 'id_column' and 'target' must differ. Got "
                                 f"{self.target!r} for both.")
        if isinstance(self.drop, str) or not isinstance(self.drop, Iterable):
            raise TypeError(f"TableColumns 'drop' must be a list of column names. Got "
                            f"{self.drop!r} instead; write [{self.drop!r}].")
        drop = tuple(_name(c, "TableColumns 'drop' item") for c in self.drop)
        kept = [c for c in (self.target, self.id_column) if c in drop]
        if kept:
            raise ValueError(f"TableColumns 'drop' must not name the target or the id column. "
                             f"Got {kept}.")
        object.__setattr__(self, "drop", drop)
        triples = _placeholder_triples(self.placeholders)
        named = sorted({c for c, _, _ in triples if c in (self.target, self.id_column)})
        if named:
            raise ValueError(f"TableColumns 'placeholders' must not name the target or the id "
                             f"column. Got {named}: a row whose outcome is not known has no "
                             "place in the table (remove it), and an id is not a feature.")
        object.__setattr__(self, "placeholders", triples)

    @property
    def rename(self) -> dict[str, str]:
        """Table column -> new name, as :meth:`pandas.DataFrame.rename` takes it."""
        return {old: new for new, old in self.columns}

    @property
    def placeholder_map(self) -> dict[str, dict[str, str]]:
        """Column -> {value: ``'missing'`` or ``'level'``}, in the order declared."""
        out: dict[str, dict[str, str]] = {}
        for col, value, mode in self.placeholders:
            out.setdefault(col, {})[value] = mode
        return out


def read_table_map(path: str | Path) -> TableColumns:
    """Read a table map (YAML) for :func:`read_lead_table` (the only function that does).

    The file holds a mapping with any of the keys ``columns`` (new name: the table's column),
    ``target``, ``id_column``, ``drop`` and ``placeholders`` (see :class:`TableColumns`)::

        columns:
          converted: Converted
          lead_id: Prospect ID
        target: converted
        id_column: lead_id
        drop: [Tags, Lead Quality, Email]
        placeholders:
          Lead Source: {missing: [unknown]}
          Specialization: {level: [Select]}

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError, TypeError
        If the file is not YAML, repeats a key, has a key not listed above (the message names
        it, and a placeholder mode other than ``missing`` or ``level``) or a bad value; the
        message starts with the file name.
    """
    path = Path(path)
    raw = load_yaml(path, "table map", f"at least one of {list(_TABLE_MAP_KEYS)}")
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: a table map is a mapping with keys among "
                         f"{list(_TABLE_MAP_KEYS)}. Got {_cut(repr(raw))} instead.")
    unknown = [k for k in raw if k not in _TABLE_MAP_KEYS]
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown} in the table map; allowed keys are "
                         f"{list(_TABLE_MAP_KEYS)}.")
    body = {k: v for k, v in raw.items() if v is not None}
    if "columns" in body and not isinstance(body["columns"], Mapping):
        raise ValueError(f"{path}: 'columns' must be a mapping of new name: table column, such "
                         f"as {{converted: Converted}}. Got {body['columns']!r} instead.")
    if "placeholders" in body and not isinstance(body["placeholders"], Mapping):
        raise ValueError(f"{path}: 'placeholders' must be a mapping of column: {{missing: "
                         f"[values], level: [values]}}, such as {{City: {{level: [Select]}}}}. "
                         f"Got {_cut(repr(body['placeholders']))} instead.")
    try:
        return TableColumns(**body)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{path}: {exc}") from None


def _flag_text(value: Any) -> str:
    """A flag cell as lower-case text; a number 0 or 1 as "0" or "1" (a 0/1 column with a
    blank is read as floats), a missing cell as ""."""
    if not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
        return str(int(value))
    return str(value).strip().lower()


def _converted_flag(values: pd.Series, path: Path, locate: _Rows) -> pd.Series:
    """A table's converted flag as booleans, or an error naming the file, column and the lines
    that are not a flag (a blank is not one: an unknown outcome is neither 1 nor 0)."""
    flag = values.map(_flag_text)
    good = flag.isin(_TRUE | _FALSE)
    if not good.all():
        bad = values[~good]
        head = bad.head(5)
        personal = bool(personal_columns(pd.DataFrame({str(values.name): head.astype(str)})))
        shown = ", ".join(
            f"{locate(i)} " + ("(blank)" if f == "" else "(a value not shown: it looks like "
                               "personal data)" if personal else _cut(repr(v), 40))
            for (i, v), f in zip(head.items(), flag[~good].head(5), strict=True))
        blanks = int(flag[~good].eq("").sum())
        fix = (" A blank outcome is unknown, not 'not converted': remove those rows or fill "
               "them in." if blanks else "")
        raise ValueError(f"{path}: column {values.name!r} must be a converted flag (1/0, "
                         f"true/false, yes/no, won/lost) on every row; {int((~good).sum()):,d} "
                         f"rows are not: {shown}{' ...' if len(bad) > 5 else ''}.{fix}")
    return flag.isin(_TRUE).rename(values.name)


def _hints(names: Sequence[str], df: pd.DataFrame, renamed: Mapping[str, str]) -> str:
    """For each name the file lacks, the closest columns it has (or that the map renames it)."""
    hints = []
    for name in names:
        if name in renamed:
            hints.append(f"{_cut(repr(name))} is renamed {_cut(repr(renamed[name]))} by the "
                         "table map's 'columns': use that name")
            continue
        close = _closest(name, df.columns)
        hints.append(f"{_cut(repr(name))}: did you mean {' or '.join(map(repr, close))}?"
                     if close else f"{_cut(repr(name))}: no column is close")
    more = f" and {len(df.columns) - 15} more" if len(df.columns) > 15 else ""
    text = "; ".join(hints)
    return (f"{text}{'' if text.endswith('?') else '.'} The file has "
            f"{[_cut(c, 40) for c in list(df.columns)[:15]]}{more}")


def _absent(path: Path, names: Sequence[str], df: pd.DataFrame, what: str,
            renamed: Mapping[str, str]) -> KeyError:
    """A KeyError naming the columns the file lacks and, for each, the closest it has."""
    return KeyError(f"{path}: no column(s) {[_cut(n) for n in names]} {what} (names after "
                    f"renaming); {_hints(names, df, renamed)}")


def _matches(values: pd.Series, value: str) -> pd.Series:
    """Cells of ``values`` equal to the placeholder ``value``: the same text, or in a numeric
    column the number it spells."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype):
        try:
            number = float(value)
        except ValueError:
            return pd.Series(False, index=values.index)
        return values.eq(number).fillna(False).astype(bool)
    return values.astype(object).eq(value)


def _shown_values(values: pd.Series, like: str) -> str:
    """A few of a column's values that look like ``like``, for a message (none when the column
    holds personal data)."""
    distinct = pd.Series(pd.unique(values.dropna().astype(str)[:100_000]))
    if not len(distinct) or personal_columns(pd.DataFrame({"v": distinct[:2_000]})):
        return ""
    close = _closest(like, distinct[:5_000])
    return f"; its closest values are {[_cut(v, 40) for v in close]}" if close else ""


def _apply_placeholders(df: pd.DataFrame, spec: TableColumns, path: Path) -> pd.DataFrame:
    """``df`` with the declared missing placeholders as NaN (a column of numbers once they are
    gone read as numbers); a declared column or value the table lacks is refused."""
    declared = spec.placeholder_map
    absent = [c for c in declared if c not in df.columns]
    if absent:
        raise _absent(path, absent, df, "to declare placeholders for", spec.rename)
    out = df.copy()
    for col, values in declared.items():
        column = df[col]
        missing = pd.Series(False, index=df.index)
        for value, mode in values.items():
            hit = _matches(column, value)
            if not hit.any():
                raise ValueError(
                    f"{path}: the table map's placeholders give {_cut(repr(value))} ({mode}) "
                    f"for column {_cut(repr(col))}, which holds no such value (values are "
                    f"compared exactly, case and spaces included)"
                    f"{_shown_values(column, value)}")
            if mode == "missing":
                missing |= hit
        if not missing.any():
            continue
        kept = column.mask(missing)
        present = kept.dropna()
        if (kept.dtype == object and "level" not in values.values() and len(present)
                and all(isinstance(v, str) for v in present)):
            try:  # what pandas would have read had the placeholders been blank
                kept = pd.to_numeric(kept)
            except (TypeError, ValueError):
                pass  # text stays text
        out[col] = kept
    return out


def _warn_undeclared(X: pd.DataFrame, spec: TableColumns, path: Path) -> None:
    """A TableWarning for each feature column holding common placeholders not declared."""
    declared = spec.placeholder_map
    for col in X.columns:
        s = X[col]
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            continue
        found = {v: int(n) for v, n in s.value_counts(sort=True).items()
                 if isinstance(v, str) and v.strip().lower() in COMMON_PLACEHOLDERS
                 and v not in declared.get(col, {})}
        if not found:
            continue
        shown = ", ".join(f"{_cut(repr(v), 30)} ({n:,d} row{'s' * (n != 1)})"
                          for v, n in list(found.items())[:5])
        first = next(iter(found))
        warnings.warn(TableWarning(
            f"{path}: column {_cut(repr(col))} holds {shown}: common placeholder(s), read as "
            f"value(s) of their own; declare them in the table map's placeholders, as missing "
            f"({{{_cut(col)}: {{missing: [{_cut(first, 30)!r}]}}}}) or as a level of their own "
            f"({{level: [...]}})"), stacklevel=3)


def _refuse_repeated_header(path: Path) -> None:
    """A CSV header naming a column twice is refused (pandas would read ``A`` and ``A.1``)."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    names = [str(v) for v in header.iloc[0]] if len(header) else []
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        where = [i + 1 for i, n in enumerate(names) if n in twice]
        raise ValueError(f"{path}: line 1, the header names {twice} more than once (columns "
                         f"{where}); give each column a name of its own")


def read_lead_table(
    path: str | Path,
    table_map: TableColumns | None = None,
    *,
    target: str | None = None,
    columns: Mapping[str, str] | None = None,
    id_column: str | None = None,
    drop: Sequence[str] | None = None,
    placeholders: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Read a lead-level CRM table (one row per lead, a converted flag, attribute columns).

    Parameters
    ----------
    path : CSV (.csv, .csv.gz) or Parquet file.
    table_map : TableColumns, optional
        How to read it (from :func:`read_table_map`); or give its fields as the keywords below,
        not both.
    target : name of the converted flag (after renaming), default ``'converted'``; 1/0,
        true/false, yes/no, won/lost.
    columns : mapping of new name -> table column, e.g. ``{"converted": "Converted"}``.
    id_column : a lead id column to use as the index (kept out of the features).
    drop : further columns to keep out of the features (free text, leakage such as a stage).
    placeholders : column -> ``{"missing": [values], "level": [values]}`` (see
        :class:`TableColumns`).

    Returns
    -------
    (X, y) : the attribute columns and the flag as booleans. Values are read as they are: a
        blank CSV cell or a Parquet null is missing, and so is a value the map's
        ``placeholders`` declare missing; every other value is kept (``"NA"``, ``"unknown"``,
        ``"Select"``, ...). A column whose other values are all numbers once its declared
        missing placeholders are gone is read as numbers.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    KeyError
        A column the map names (to rename, drop, index by or declare placeholders for) that
        the file lacks; the message gives the closest names it has.
    ValueError
        A flag value that is not a flag, a blank flag included (the message names the file,
        the column and the lines), or a declared placeholder the column does not hold.

    Warns
    -----
    TableWarning
        For each feature column holding common placeholder values
        (:data:`COMMON_PLACEHOLDERS`, such as ``"Select"``) that the map does not declare.

    Notes
    -----
    Until issue 14 the reader let pandas read ``"NA"``, ``"N/A"``, ``"null"``, ``"None"`` and
    the like as missing, a blank flag as not converted, and :class:`LeadScoreModel` read
    ``"Select"``, ``"unknown"``, ``"-"`` and other placeholders as missing; now the map says
    which values are missing.

    Examples
    --------
    >>> import tempfile, warnings
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "crm.csv").write_text(
    ...     "id,Converted,Source,City\\na,1,web,Select\\nb,0,unknown,Lyon\\nc,yes,,Paris\\n")
    >>> X, y = read_lead_table(folder / "crm.csv", columns={"converted": "Converted"},
    ...                        id_column="id", placeholders={"Source": {"missing": ["unknown"]},
    ...                                                      "City": {"level": ["Select"]}})
    >>> X.to_dict("list"), y.tolist()
    ({'Source': ['web', nan, nan], 'City': ['Select', 'Lyon', 'Paris']}, [True, False, True])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = read_lead_table(folder / "crm.csv", columns={"converted": "Converted"})
    >>> print(str(caught[0].message).split(": ", 1)[1])  # doctest: +NORMALIZE_WHITESPACE
    column 'Source' holds 'unknown' (1 row): common placeholder(s), read as value(s) of their
    own; declare them in the table map's placeholders, as missing ({Source: {missing:
    ['unknown']}}) or as a level of their own ({level: [...]})
    """
    keywords = {"target": target, "columns": columns, "id_column": id_column, "drop": drop,
                "placeholders": placeholders}
    given = {k: v for k, v in keywords.items() if v is not None}
    if table_map is not None and given:
        raise TypeError(f"read_lead_table takes a table map or the keywords {sorted(given)}, "
                        "not both.")
    spec = table_map if table_map is not None else TableColumns(**given)
    if not isinstance(spec, TableColumns):
        raise TypeError(f"read_lead_table 'table_map' must be a TableColumns (from "
                        f"read_table_map). Got {type(spec).__name__} instead.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        df = pd.read_parquet(path).reset_index(drop=True)
        locate = _Rows(path, csv_file=False)
    else:  # a blank cell is missing; "NA", "null", "None"... are values until declared
        _refuse_repeated_header(path)
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        locate = _Rows(path, csv_file=True)
    missing = [old for _, old in spec.columns if old not in df.columns]
    if missing:
        raise KeyError(f"{path}: the table map's 'columns' name {missing}, which the file "
                       f"lacks; {_hints(missing, df, {})}")
    df = df.rename(columns=spec.rename)
    twice = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if twice:
        raise ValueError(f"{path}: the table map's 'columns' give {twice} a name the file "
                         "already has; give each a name of its own")
    target = spec.target
    if target not in df.columns:
        raise KeyError(f"{path}: no target column {target!r}; map it with columns="
                       f"{{{target!r}: 'YourColumn'}}. {_hints([target], df, spec.rename)}")
    absent = [c for c in (*spec.drop, *[spec.id_column] * (spec.id_column is not None))
              if c not in df.columns]
    if absent:
        raise _absent(path, absent, df, "to drop or index by", spec.rename)
    y = _converted_flag(df[target], path, locate)
    df = _apply_placeholders(df, spec, path)
    X = df.drop(columns=[target, *spec.drop])
    if spec.id_column is not None:
        X = X.set_index(spec.id_column)
        y.index = X.index
    _warn_undeclared(X, spec, path)
    return X, y


# --------------------------------------------------------------------------------------------
# Leakage: columns that know the outcome
# --------------------------------------------------------------------------------------------
_AUC_LEAK = 0.95  # one honest attribute of a lead rarely ranks conversions above 0.9
_FILLED_SHARE = 0.95  # share of one outcome among the rows where a column is filled
_FILLED_RATIO = 20.0  # ... and how much more often it is filled for that outcome
_FILLED_MIN = 10  # rows of that outcome where it is filled, for the evidence to count
_MAX_LEVELS = 20  # a numeric column with more distinct values is cut into this many bins


def _words(name: Any) -> list[str]:
    """The lower-case words of a column name: 'Lead Stage', 'deal_status', 'isWon'."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return re.findall(r"[a-z]+", text.lower())


def _levels(values: pd.Series) -> np.ndarray:
    """Each row's level as an integer code: the value itself, or for a numeric column with more
    than _MAX_LEVELS distinct values its quantile bin; missing values are a level of their own."""
    s = values
    numeric = (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
               and not isinstance(s.dtype, pd.CategoricalDtype))
    if numeric and s.nunique(dropna=True) > _MAX_LEVELS:
        s = pd.qcut(s.astype(float), q=_MAX_LEVELS, duplicates="drop")
    try:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists): compare them as text
        codes, uniques = pd.factorize(s.map(lambda v: v if pd.isna(v) else repr(v)))
    return np.where(codes < 0, len(uniques), codes)


def _out_of_fold_auc(codes: np.ndarray, y: np.ndarray, splits: list) -> float:
    """AUC of each row's level scored by its conversion rate in the other folds (a level those
    folds never saw, such as an id, gets their overall rate)."""
    from sklearn.metrics import roc_auc_score

    k = int(codes.max()) + 1
    score = np.empty(len(y))
    for train, test in splits:
        prior = y[train].mean()
        hits = np.bincount(codes[train], weights=y[train], minlength=k)
        seen = np.bincount(codes[train], minlength=k)
        score[test] = ((hits + prior) / (seen + 1.0))[codes[test]]  # one prior row per level
    return float(roc_auc_score(y, score))


def leakage_table(X: pd.DataFrame, y: Any, *, folds: int = 5,
                  random_state: int | None = 0) -> pd.DataFrame:
    """What each column of a lead table says about the outcome on its own.

    Parameters
    ----------
    X : DataFrame of shape (n_leads, n_columns)
        The features (as :func:`read_lead_table` returns them).
    y : array-like of shape (n_leads,)
        The converted flag (bool or 0/1).
    folds : int, default 5
        Stratified folds of the out-of-fold AUC (fewer when a class has fewer rows).
    random_state : int, default 0
        Seed of the folds.

    Returns
    -------
    DataFrame indexed by ``column`` with

    - ``auc``: the AUC of the column alone, out of fold: each row is scored by the conversion
      rate of its level (its value; for a numeric column with more than 20 distinct values its
      quantile bin out of 20; missing is a level) among the rows of the other folds, each level
      counting one more row at the overall rate. An id (a level per row) therefore scores 0.5
      where an in-sample rate would score 1.0. On few rows per level a column without signal
      can score below 0.5 (leaving a row out lowers its own level's rate): read values below
      0.5 as none. NaN when a class has fewer than 2 rows.
    - ``filled``: rows where the column is not missing;
    - ``filled_converted``, ``filled_other``: the share of converted and of other rows where it
      is filled;
    - ``converted_when_filled``: the share of the filled rows that converted;
    - ``after_contact_word``: the word of its name among :data:`AFTER_CONTACT_WORDS`, or "".

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(400) < 0.3
    >>> X = pd.DataFrame({"stage": np.where(y, "won", "lost"), "visits": rng.poisson(2 + y),
    ...                   "lead_id": [f"L{i}" for i in range(400)]})
    >>> leakage_table(X, y)[["auc", "after_contact_word"]].round(3)
    ... # doctest: +NORMALIZE_WHITESPACE
               auc after_contact_word
    column
    stage    1.000              stage
    visits   0.631
    lead_id  0.500
    """
    from sklearn.model_selection import StratifiedKFold

    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"leakage_table 'X' must be a DataFrame of the features. Got "
                        f"{type(X).__name__} instead.")
    flag = np.asarray(y)
    if flag.ndim != 1 or len(flag) != len(X):
        raise ValueError(f"leakage_table 'y' must hold one outcome per row of X ({len(X)} "
                         f"rows). Got shape {flag.shape} instead.")
    if not np.isin(pd.unique(flag), (0, 1)).all():
        raise ValueError("leakage_table 'y' must hold bool or 0/1 outcomes.")
    flag = flag.astype(float)
    rarest = int(min(flag.sum(), len(flag) - flag.sum()))
    splits = None
    if rarest >= 2:
        cv = StratifiedKFold(min(folds, rarest), shuffle=True, random_state=random_state)
        splits = list(cv.split(np.zeros(len(flag)), flag))
    won = flag == 1
    rows = []
    for col in X.columns:
        filled = X[col].notna().to_numpy()
        word = next((w for w in _words(col) if w in AFTER_CONTACT_WORDS), "")
        rows.append({
            "column": col,
            "auc": _out_of_fold_auc(_levels(X[col]), flag, splits) if splits else np.nan,
            "filled": int(filled.sum()),
            "filled_converted": filled[won].mean() if won.any() else np.nan,
            "filled_other": filled[~won].mean() if (~won).any() else np.nan,
            "converted_when_filled": won[filled].mean() if filled.any() else np.nan,
            "after_contact_word": word,
        })
    columns = ["auc", "filled", "filled_converted", "filled_other", "converted_when_filled",
               "after_contact_word"]
    return pd.DataFrame(rows, columns=["column", *columns]).set_index("column")


def _filled_for(row: pd.Series, won: np.ndarray) -> str | None:
    """Why a column looks filled in after contact (for one outcome almost only), or None."""
    n_won, n_other = int(won.sum()), int((~won).sum())
    for outcome, who, share, rate, other, n in (
            ("converted", "converted", row.converted_when_filled, row.filled_converted,
             row.filled_other, n_won),
            ("not converted", "did not convert", 1 - row.converted_when_filled,
             row.filled_other, row.filled_converted, n_other)):
        if not (np.isfinite(share) and np.isfinite(rate) and np.isfinite(other)):
            continue
        if (share >= _FILLED_SHARE and rate >= _FILLED_RATIO * other
                and round(rate * n) >= _FILLED_MIN):
            return (f"it is filled in for {row.filled:,d} rows, {share:.0%} of them {outcome} "
                    f"(for {rate:.0%} of the leads that {who}, {other:.1%} of the others), as "
                    "fields completed after contact are")
    return None


def leakage_warnings(X: pd.DataFrame, y: Any, *, auc_threshold: float = _AUC_LEAK,
                     folds: int = 5, random_state: int | None = 0) -> tuple[str, ...]:
    """Notes naming the columns of a lead table that may leak the outcome.

    A column is named when

    - it alone ranks the outcome almost perfectly: its out-of-fold AUC (see
      :func:`leakage_table`) is above ``auc_threshold`` (0.95); an honest attribute of a lead
      (a source, a form answer, a visit count) rarely passes 0.9. Out of fold, so that an id
      or another column with a value per lead does not reach 1.0 by being learnt by heart;
    - it looks filled in after contact: at least 95% of the rows where it is filled have one
      outcome, it is filled at least 20 times as often for that outcome as for the other, and
      for at least 10 rows (Olist's closed-deal attributes are filled for won leads only; a
      "lost reason" for lost leads only);
    - its name holds a word of :data:`AFTER_CONTACT_WORDS` (stage, status, tag, quality,
      won, lost, closed, ...): a field that sales fills in for every lead says nothing through
      its gaps, and may leak without ranking the outcome perfectly.

    Parameters
    ----------
    X, y : as :func:`leakage_table` takes them (the training rows only, when a holdout is kept
        apart).
    auc_threshold : float, default 0.95

    Returns
    -------
    tuple of str
        One note per column named, giving the reasons; empty when none is.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(400) < 0.3
    >>> X = pd.DataFrame({"visits": rng.poisson(2 + y), "deal_size": np.where(y, 5e3, np.nan)})
    >>> for note in leakage_warnings(X, y):
    ...     print(note)  # doctest: +NORMALIZE_WHITESPACE
    column 'deal_size' may leak the outcome: it alone ranks 'the outcome' almost perfectly
    (out-of-fold AUC 1.000); it is filled in for 105 rows, 100% of them converted (for 100% of
    the leads that converted, 0.0% of the others), as fields completed after contact are. Keep
    it out of the features (the table map's 'drop', or --drop) unless it is known before a lead
    converts.
    """
    if not (isinstance(auc_threshold, float | int) and 0.5 <= auc_threshold <= 1):
        raise ValueError(f"leakage_warnings 'auc_threshold' must be a number in [0.5, 1]. Got "
                         f"{auc_threshold!r} instead.")
    table = leakage_table(X, y, folds=folds, random_state=random_state)
    won = np.asarray(y).astype(bool)
    target = getattr(y, "name", None) or "the outcome"
    notes = []
    for col, row in table.iterrows():
        reasons = []
        if np.isfinite(row.auc) and row.auc > auc_threshold:
            reasons.append(f"it alone ranks {_cut(target)!r} almost perfectly (out-of-fold AUC "
                           f"{row.auc:.3f})")
        filled = _filled_for(row, won)
        if filled:
            reasons.append(filled)
        if row.after_contact_word:
            reasons.append(f"its name ({row.after_contact_word!r}) suggests a field filled in "
                           "after contact")
        if reasons:
            notes.append(f"column {_cut(repr(col))} may leak the outcome: {'; '.join(reasons)}. "
                         "Keep it out of the features (the table map's 'drop', or --drop) "
                         "unless it is known before a lead converts.")
    return tuple(notes)
