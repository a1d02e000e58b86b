"""Lead-level CRM tables: one row per lead, a converted flag and attribute columns.

:func:`read_lead_table` reads one (CSV or Parquet) through a :class:`TableColumns` map, which
:func:`read_table_map` reads from YAML (the ``--table-columns`` file of
``nurturelab score fit --table``); :func:`nurturelab.scoring.fit.fit_on_table` fits on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nurturelab._yaml import load_yaml

__all__ = ["TableColumns", "read_lead_table", "read_table_map"]

_TRUE = {"1", "true", "yes", "y", "won", "converted", "t"}
_FALSE = {"0", "false", "no", "n", "lost", "open", "f", ""}
_TABLE_MAP_KEYS = ("columns", "target", "id_column", "drop")


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a column name (non-empty text). Got {value!r} instead."
                         + (" Quote it in YAML." if value is not None else ""))
    return value


@dataclass(frozen=True)
class TableColumns:
    """How to read a lead-level CRM table: its column names, its flag, its id, what to leave
    out (the ``--table-columns`` map of ``nurturelab score fit --table``).

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

    Examples
    --------
    >>> TableColumns({"converted": "Converted", "lead_id": "Prospect ID"}, id_column="lead_id")
    ... # doctest: +NORMALIZE_WHITESPACE
    TableColumns(columns=(('converted', 'Converted'), ('lead_id', 'Prospect ID')),
                 target='converted', id_column='lead_id', drop=())
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

    @property
    def rename(self) -> dict[str, str]:
        """Table column -> new name, as :meth:`pandas.DataFrame.rename` takes it."""
        return {old: new for new, old in self.columns}


def read_table_map(path: str | Path) -> TableColumns:
    """Read a table map (YAML) for :func:`read_lead_table` (the only function that does).

    The file holds a mapping with any of the keys ``columns`` (new name: the table's column),
    ``target``, ``id_column`` and ``drop`` (see :class:`TableColumns`)::

        columns:
          converted: Converted
          lead_id: Prospect ID
        target: converted
        id_column: lead_id
        drop: [Tags, Lead Quality, Email]

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError, TypeError
        If the file is not YAML, repeats a key, has a key not listed above (the message names
        it) or a bad value; the message starts with the file name.
    """
    path = Path(path)
    raw = load_yaml(path, "table map", f"at least one of {list(_TABLE_MAP_KEYS)}")
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: a table map is a mapping with keys among "
                         f"{list(_TABLE_MAP_KEYS)}. Got {raw!r} instead.")
    unknown = [k for k in raw if k not in _TABLE_MAP_KEYS]
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown} in the table map; allowed keys are "
                         f"{list(_TABLE_MAP_KEYS)}.")
    body = {k: v for k, v in raw.items() if v is not None}
    if "columns" in body and not isinstance(body["columns"], Mapping):
        raise ValueError(f"{path}: 'columns' must be a mapping of new name: table column, such "
                         f"as {{converted: Converted}}. Got {body['columns']!r} instead.")
    try:
        return TableColumns(**body)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{path}: {exc}") from None


def _converted_flag(values: pd.Series, path: Path) -> pd.Series:
    """A table's converted flag as booleans, or an error naming the file, column and lines."""
    flag = values.map(lambda v: str(v).strip().lower() if pd.notna(v) else "")
    good = flag.isin(_TRUE | _FALSE)
    if not good.all():
        bad = values[~good].head(5)
        rows = ", ".join(f"line {i + 2} {v!r}" for i, v in bad.items())
        raise ValueError(f"{path}: column {values.name!r} must be a converted flag (1/0, "
                         f"true/false, yes/no); {int((~good).sum())} rows are not: {rows}")
    return flag.isin(_TRUE).rename(values.name)


def read_lead_table(
    path: str | Path,
    table_map: TableColumns | None = None,
    *,
    target: str | None = None,
    columns: Mapping[str, str] | None = None,
    id_column: str | None = None,
    drop: Sequence[str] | None = None,
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

    Returns
    -------
    (X, y) : the attribute columns as they are (numbers, categories, missing values and
        placeholders such as "Select", which :class:`LeadScoreModel` treats as missing) and the
        flag as booleans. A column the map names that the file lacks, or an unreadable flag
        value, is refused naming the file, the column and the rows.
    """
    keywords = {"target": target, "columns": columns, "id_column": id_column, "drop": drop}
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
    df = pd.read_parquet(path) if name.endswith((".parquet", ".pq")) else pd.read_csv(path)
    missing = [old for _, old in spec.columns if old not in df.columns]
    if missing:
        raise KeyError(f"{path}: the table map's 'columns' name {missing}, which the file "
                       f"lacks; it has {list(df.columns)[:15]}")
    df = df.rename(columns=spec.rename)
    target = spec.target
    if target not in df.columns:
        raise KeyError(f"{path}: no target column {target!r}; map it with columns="
                       f"{{{target!r}: 'YourColumn'}}. The file has {list(df.columns)[:15]}")
    absent = [c for c in (*spec.drop, *[spec.id_column] * (spec.id_column is not None))
              if c not in df.columns]
    if absent:
        raise KeyError(f"{path}: no column(s) {absent} to drop or index by (names after "
                       f"renaming); the file has {list(df.columns)[:15]}")
    y = _converted_flag(df[target], path)
    X = df.drop(columns=[target, *spec.drop])
    if spec.id_column is not None:
        X = X.set_index(spec.id_column)
        y.index = X.index
    return X, y


