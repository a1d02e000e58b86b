"""The data contract: the ``leads`` and ``events`` tables, their validation and their loaders.

Simulated leads and real leads are the same data: every module above this one reads these two
tables and nothing else. A real CRM export with other column names is loaded through a
:class:`ColumnMap`; a bad file is refused with an :class:`ExportError` that names the file, the
column and the first offending rows, and nothing is half-loaded.

``leads`` — one row per lead

============  ======================================  ===========================================
column        type                                    notes
============  ======================================  ===========================================
lead_id       str, unique, non-null
created_at    datetime64[ns, UTC], non-null           form submission / intake time
source        category, non-null                      open set; blank becomes ``"unknown"``
fit           float in [0, 1], nullable               match to the ideal customer profile
intent        ordered category low < medium < high,   declared intent at intake
              nullable
(others)      as read                                 carried through untouched
============  ======================================  ===========================================

``events`` — one row per thing that happened to a lead, sorted by ``ts`` (stable)

================  ==================================  ===========================================
column            type                                notes
================  ==================================  ===========================================
lead_id           str, non-null                       must exist in ``leads``
ts                datetime64[ns, UTC], non-null       not before the lead's ``created_at``
type              category touch/response/activity/
                  stage
name              str, non-null                       e.g. call_attempt, reply, email_open, won
channel           category call/sms/email/web,
                  nullable
step              Int64 >= 0, nullable                cadence step that produced a touch
rep_id            str, nullable                       who did it
arm               str, nullable                       experiment arm of the lead
content           str, nullable; optional             the touch's content tag (snake_case, e.g.
                                                      ``intro``, ``pricing_objection``)
personalisation   category token/context, nullable;   ``token``: merge fields only; ``context``:
                  optional                            written for the lead's situation
duration_min      float >= 0, nullable; optional      rep minutes spent on the touch (handling
                                                      time), where the CRM records durations
================  ==================================  ===========================================

``content``, ``personalisation`` and ``duration_min`` describe a touch (the cadence's
:class:`~nurturelab.cadence.Touch` that produced it); other events leave them empty. Unlike the
other optional columns they are not added when an export lacks them: a table without them is
valid and stays without them; when present, they are validated (``duration_min`` is placed with
the other columns, after ``arm``'s labels).

Labels (``source``, ``intent``, ``type``, ``name``, ``channel``, ``content``,
``personalisation``) are normalised: trimmed, lower case, runs of other characters turned into
``_`` (``"Paid Search"`` becomes ``paid_search``).
Timestamps with an offset are converted to UTC; naive ones are read in the column map's
``timezone`` (UTC unless stated).
"""

from __future__ import annotations

import bz2
import gzip
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from nurturelab._yaml import load_yaml

__all__ = [
    "ACTIVITY_NAMES",
    "CHANNELS",
    "EVENT_COLUMNS",
    "EVENT_TYPES",
    "INTENTS",
    "LEAD_COLUMNS",
    "PERSONALISATIONS",
    "PERSONALISATION_DTYPE",
    "TOUCH_DETAIL_COLUMNS",
    "RESPONSE_NAMES",
    "TOUCH_NAMES",
    "ColumnMap",
    "Export",
    "ExportError",
    "Problem",
    "TableMap",
    "normalise_labels",
    "read_column_map",
    "read_events",
    "read_export",
    "read_leads",
    "require_loaded",
    "summarize",
    "validate_events",
    "validate_leads",
]

EVENT_TYPES = ("touch", "response", "activity", "stage")
CHANNELS = ("call", "sms", "email", "web")
INTENTS = ("low", "medium", "high")
PERSONALISATIONS = ("token", "context")
TOUCH_NAMES = ("call_attempt", "voicemail", "sms", "email")
RESPONSE_NAMES = ("connect", "reply", "opt_out")
ACTIVITY_NAMES = ("email_open", "link_click", "pricing_visit", "demo_request")

LEAD_COLUMNS = ("lead_id", "created_at", "source", "fit", "intent")
EVENT_COLUMNS = ("lead_id", "ts", "type", "name", "channel", "step", "rep_id", "arm")
# optional event columns that are validated when present but never added (see the docstring)
TOUCH_DETAIL_COLUMNS = ("content", "personalisation")
_REQUIRED = {
    "leads": ("lead_id", "created_at", "source"),
    "events": ("lead_id", "ts", "type", "name"),
}
_OPTIONAL = {
    "leads": ("fit", "intent"),
    "events": ("channel", "step", "rep_id", "arm"),
}
_TIME_COLUMN = {"leads": "created_at", "events": "ts"}
_LABEL_COLUMNS = {"leads": ("source", "intent"), "events": ("type", "name", "channel")}
_IF_PRESENT = {"leads": (), "events": TOUCH_DETAIL_COLUMNS}  # labels, checked when present
_STR_COLUMNS = {"leads": ("lead_id",), "events": ("lead_id", "rep_id", "arm")}
_SHOW = 5  # offending rows named in an error

INTENT_DTYPE = pd.CategoricalDtype(list(INTENTS), ordered=True)
TYPE_DTYPE = pd.CategoricalDtype(list(EVENT_TYPES))
CHANNEL_DTYPE = pd.CategoricalDtype(list(CHANNELS))
PERSONALISATION_DTYPE = pd.CategoricalDtype(list(PERSONALISATIONS))

Table = Literal["leads", "events"]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One rule broken by one column of a table.

    ``where`` holds the locations of the first offending rows (``line 7`` of a CSV file,
    ``row 6`` of a Parquet file, ``index 6`` of a DataFrame) and ``values`` what stood there.
    """

    column: str | None
    rule: str
    count: int = 0
    where: tuple[str, ...] = ()
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"column '{self.column}': " if self.column else ""
        text = f"{head}{self.rule}"
        if self.count:
            shown = ", ".join(f"{w} {v}" for w, v in zip(self.where, self.values, strict=True))
            extra = self.count - len(self.where)
            more = f" (and {extra} more)" if extra > 0 else ""
            noun = "row" if self.count == 1 else "rows"
            text += f" — {self.count} {noun}: {shown}{more}"
        return text


class ExportError(ValueError):
    """A table was refused. ``file`` names it, ``problems`` lists every rule it broke."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = list(problems)
        lines = [f"{file}: refused, nothing was loaded ({len(self.problems)} problem(s))"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------------------------
# Column maps
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableMap:
    """How one table of a CRM export maps onto the contract.

    Parameters
    ----------
    columns : mapping of contract column -> export column
        e.g. ``{"lead_id": "mql_id", "created_at": "first_contact_date"}``.
    timezone : str
        IANA zone in which naive timestamps are read (``"UTC"`` by default).
    values : mapping of contract column -> {export value: contract value}
        Applied before labels are normalised, e.g. ``{"intent": {"Hot": "high"}}``.
    constants : mapping of contract column -> value
        Columns the export lacks, filled with one value for every row, e.g.
        ``{"type": "stage", "name": "won"}`` for a file of won deals.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in (("columns", self.columns), ("values", self.values),
                            ("constants", self.constants)):
            if not isinstance(value, Mapping):
                raise TypeError(
                    f"TableMap '{name}' must be a mapping, got {type(value).__name__}: {value!r}"
                )
        for col, vmap in self.values.items():
            if not isinstance(vmap, Mapping):
                raise TypeError(
                    f"TableMap 'values' for '{col}' must map export values to contract values, "
                    f"got {type(vmap).__name__}: {vmap!r}"
                )
        targets = list(self.columns.values())
        dup = sorted({t for t in targets if targets.count(t) > 1})
        if dup:
            raise ValueError(f"TableMap 'columns' maps several contract columns to {dup}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"TableMap 'timezone' must be an IANA time zone such as 'UTC' or "
                f"'America/Sao_Paulo'. Got {self.timezone!r} instead."
            ) from exc


@dataclass(frozen=True)
class ColumnMap:
    """Column maps for both tables of an export (see :func:`read_column_map` for the YAML)."""

    leads: TableMap = field(default_factory=TableMap)
    events: TableMap = field(default_factory=TableMap)


def read_column_map(path: str | Path) -> ColumnMap:
    """Read a column map from YAML.

    The file has up to two sections, ``leads`` and ``events``, each with the optional keys
    ``columns`` (contract name: export name), ``timezone`` and ``values``::

        leads:
          columns: {lead_id: mql_id, created_at: first_contact_date, source: origin}
          timezone: America/Sao_Paulo
          values: {intent: {Hot: high, Warm: medium, Cold: low}}

    Unknown keys are errors that name the key.
    """
    path = Path(path)
    try:  # the shared loader refuses a key given twice
        raw = load_yaml(path, "column map", needs=None)
    except (FileNotFoundError, ValueError) as exc:
        why = str(exc).removeprefix(f"{path}: ")
        raise ValueError(f"{path}: cannot read the column map: {why}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a column map is a mapping with 'leads' and/or 'events'")
    unknown = set(raw) - {"leads", "events"}
    if unknown:
        raise ValueError(
            f"{path}: unknown section(s) {sorted(unknown)}; allowed: ['events', 'leads']"
        )
    parts = {}
    for table, body in raw.items():
        body = body or {}
        if not isinstance(body, dict):
            raise ValueError(f"{path}: section '{table}' must be a mapping")
        bad = set(body) - {"columns", "timezone", "values", "constants"}
        if bad:
            raise ValueError(
                f"{path}: unknown key(s) {sorted(bad)} in '{table}'; "
                "allowed: ['columns', 'constants', 'timezone', 'values']"
            )
        try:
            parts[table] = TableMap(**body)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: section '{table}': {exc}") from exc
    return ColumnMap(**parts)


# --------------------------------------------------------------------------------------------
# pandera schemas (run on the normalised object columns, before categories are set)
# --------------------------------------------------------------------------------------------
def _is_str(s: pd.Series) -> pd.Series:
    return s.map(lambda v: isinstance(v, str), na_action="ignore").fillna(True).astype(bool)


_STRING = pa.Check(_is_str, element_wise=False, error="must be text")

LEADS_SCHEMA = pa.DataFrameSchema(
    {
        "lead_id": pa.Column(object, checks=_STRING, nullable=False, unique=True),
        "created_at": pa.Column(pd.DatetimeTZDtype(tz="UTC"), nullable=False),
        "source": pa.Column(object, checks=_STRING, nullable=False),
        "fit": pa.Column(float, checks=pa.Check.in_range(0.0, 1.0), nullable=True, coerce=True),
        "intent": pa.Column(object, checks=pa.Check.isin(INTENTS), nullable=True),
    },
    strict=False,
    name="leads",
)

EVENTS_SCHEMA = pa.DataFrameSchema(
    {
        "lead_id": pa.Column(object, checks=_STRING, nullable=False),
        "ts": pa.Column(pd.DatetimeTZDtype(tz="UTC"), nullable=False),
        "type": pa.Column(object, checks=pa.Check.isin(EVENT_TYPES), nullable=False),
        "name": pa.Column(object, checks=_STRING, nullable=False),
        "channel": pa.Column(object, checks=pa.Check.isin(CHANNELS), nullable=True),
        "step": pa.Column("Int64", checks=pa.Check.ge(0), nullable=True, coerce=True),
        "rep_id": pa.Column(object, checks=_STRING, nullable=True),
        "arm": pa.Column(object, checks=_STRING, nullable=True),
        "content": pa.Column(object, checks=_STRING, nullable=True, required=False),
        "personalisation": pa.Column(object, checks=pa.Check.isin(PERSONALISATIONS),
                                     nullable=True, required=False),
        "duration_min": pa.Column(float, checks=pa.Check.ge(0.0), nullable=True, coerce=True,
                                  required=False),
    },
    strict=False,
    name="events",
)
_SCHEMAS = {"leads": LEADS_SCHEMA, "events": EVENTS_SCHEMA}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
class _Locator:
    """Turns a row's index into words a user can find: a CSV line, a Parquet row, an index."""

    def __init__(self, kind: Literal["csv", "parquet", "frame"]):
        self.kind = kind

    def __call__(self, idx) -> str:
        if self.kind == "csv":
            return f"line {int(idx) + 2}"
        if self.kind == "parquet":
            return f"row {int(idx)}"
        return f"index {idx!r}"


def _problem(column, rule, rows: pd.Series, locate: _Locator) -> Problem:
    """A Problem naming the first offending rows; ``rows`` is the offending values by index."""
    head = rows.iloc[:_SHOW]
    return Problem(
        column=column,
        rule=rule,
        count=int(len(rows)),
        where=tuple(locate(i) for i in head.index),
        values=tuple(repr(_plain(v)) for v in head.to_numpy()),
    )


def _plain(v):
    if isinstance(v, pd.Timestamp):
        return str(v)
    if isinstance(v, np.generic):
        return v.item()
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    return v


def normalise_labels(values: pd.Series) -> pd.Series:
    """Trim, lower-case and snake-case text labels; blanks become missing.

    >>> normalise_labels(pd.Series([" Paid Search", "web-form", "", None])).tolist()
    ['paid_search', 'web_form', nan, nan]
    """
    s = values.astype("object")
    mask = s.notna()
    out = s.copy()
    txt = s[mask].astype(str).str.strip().str.lower()
    txt = txt.str.replace(r"[^0-9a-z]+", "_", regex=True).str.strip("_")
    out[mask] = txt
    out = out.where(out.ne("") & out.notna(), np.nan)
    return out


_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
# a time followed by an hour-only offset (PostgreSQL: "09:00:00-03") or a UTC/GMT suffix
_SHORT_OFFSET = re.compile(r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}|UTC|GMT)$",
                           re.IGNORECASE)


def _localize(naive: pd.Series, tz: str) -> pd.Series:
    """Read naive wall-clock times in ``tz``; return UTC.

    A time the clock skipped (spring forward) moves forward to the first valid instant; a time
    it showed twice (fall back) is taken as the first of the two.
    """
    first = np.ones(len(naive), dtype=bool)
    local = naive.dt.tz_localize(tz, ambiguous=first, nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def _to_utc(raw: pd.Series, tz: str) -> pd.Series:
    """Parse timestamps to UTC: offsets honoured, naive values read in ``tz``; failures NaT."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        return _localize(raw, tz).dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    text = raw.astype("object").where(raw.notna(), None)
    text = text.map(lambda v: v.strip() if isinstance(v, str) else v)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    as_str = text.map(lambda v: v if isinstance(v, str) else (None if v is None else str(v)))
    aware = as_str.str.contains(_OFFSET, na=False) & as_str.str.contains(r"\d[T ]\d", na=False)
    aware |= as_str.str.contains(_SHORT_OFFSET, na=False)
    if aware.any():
        out[aware] = pd.to_datetime(as_str[aware], errors="coerce", utc=True, format="mixed")
    naive = as_str.notna() & ~aware
    if naive.any():
        parsed = pd.to_datetime(as_str[naive], errors="coerce", format="mixed")
        out[naive] = _localize(parsed, tz)
    return out.astype("datetime64[ns, UTC]")


def _check_no_nul(path: Path) -> None:
    """Raise ValueError at a NUL byte: pandas' CSV parser would silently cut the value there."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if len(names) == 1:  # several members: pandas refuses the file itself
                with zf.open(names[0]) as fh:
                    _scan_for_nul(fh)
        return
    opener = {".gz": gzip.open, ".bz2": bz2.open}.get(suffix, open)
    with opener(path, "rb") as fh:
        _scan_for_nul(fh)


def _scan_for_nul(fh) -> None:
    line, nl = 1, b"\n"
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        at = chunk.find(b"\0")
        if at >= 0:
            line += chunk.count(nl, 0, at)
            raise ValueError(f"a NUL byte on line {line} (binary data, or text not saved as UTF-8)")
        line += chunk.count(nl)


def _read_table(path: Path, table: Table, tmap: TableMap) -> tuple[pd.DataFrame, _Locator]:
    """Read a CSV or Parquet file into a DataFrame; refuse anything else with an ExportError."""
    name = str(path)
    if not path.is_file():
        raise ExportError(name, [Problem(None, "no such file")])
    suffixes = "".join(path.suffixes[-2:]).lower()
    kind: Literal["csv", "parquet"]
    if path.suffix.lower() in (".parquet", ".pq"):
        kind = "parquet"
    elif path.suffix.lower() == ".csv" or suffixes in (".csv.gz", ".csv.zip", ".csv.bz2"):
        kind = "csv"
    else:
        raise ExportError(
            name,
            [Problem(None, f"is not a CSV or Parquet file (suffix {path.suffix!r}); "
                           "nurturelab reads .csv, .csv.gz and .parquet")],
        )
    if path.stat().st_size == 0:
        raise ExportError(name, [Problem(None, "is empty (0 bytes)")])
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        else:
            _check_no_nul(path)
            as_text = [tmap.columns.get(c, c) for c in _STR_COLUMNS[table]]
            df = pd.read_csv(
                path,
                dtype={c: str for c in as_text},
                keep_default_na=True,
            )
    except pd.errors.EmptyDataError:
        raise ExportError(name, [Problem(None, "is empty (no header, no rows)")]) from None
    except Exception as exc:  # noqa: BLE001 - anything the parser says means "not readable"
        what = "Parquet" if kind == "parquet" else "CSV"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problem = Problem(None, f"is not a readable {what} file: {reason}")
        raise ExportError(name, [problem]) from exc
    if len(df) == 0:
        raise ExportError(name, [Problem(None, "has a header but no rows")])
    df = df.reset_index(drop=True)
    return df, _Locator(kind)


def _prepare(
    df: pd.DataFrame, table: Table, tmap: TableMap, file: str, locate: _Locator
) -> pd.DataFrame:
    """Rename, check, coerce and validate one table; return a new frame or raise ExportError."""
    df = df.copy()  # never touch the caller's frame
    rename = {}
    missing_src = []
    for contract, export in tmap.columns.items():
        if export in df.columns:
            rename[export] = contract
        elif contract not in df.columns:
            missing_src.append((contract, export))
    clash = [c for c in rename.values() if c in df.columns and c not in rename]
    if clash:
        raise ExportError(
            file,
            [Problem(c, "the column map renames another column to this name, but the file has "
                        "one already; drop it from the map or rename it in the file")
             for c in clash],
        )
    df = df.rename(columns=rename)
    for col, value in tmap.constants.items():
        if col in df.columns:
            raise ExportError(file, [Problem(col, "the column map sets this column to a constant, "
                                                  "but the file has it already; drop one")])
        df[col] = value
    problems = []
    for col in _REQUIRED[table]:
        if col not in df.columns:
            src = dict(missing_src).get(col)
            hint = (f"(the column map expects it as '{src}')" if src
                    else "(add it to the column map)")
            problems.append(
                Problem(col, f"required column is missing {hint}; the file has "
                             f"{sorted(map(str, df.columns))[:12]}")
            )
    if problems:
        raise ExportError(file, problems)
    for col in _OPTIONAL[table]:
        if col not in df.columns:
            df[col] = pd.Series(np.nan, index=df.index, dtype="object")
    if not df.index.is_unique:
        df = df.reset_index(drop=True)

    # identifiers and free text stay text
    for col in _STR_COLUMNS[table]:
        s = df[col].astype("object")
        df[col] = s.map(lambda v: v.strip() if isinstance(v, str) else str(_plain(v)),
                        na_action="ignore")
        df[col] = df[col].where(df[col].notna() & df[col].ne(""), np.nan).astype("object")

    # timestamps
    tcol = _TIME_COLUMN[table]
    parsed = _to_utc(df[tcol], tmap.timezone)
    bad = parsed.isna() & df[tcol].notna()
    if bad.any():
        zone = "" if tmap.timezone == "UTC" else f" in time zone {tmap.timezone}"
        problems.append(
            _problem(tcol, f"values that are not timestamps{zone}", df.loc[bad, tcol], locate)
        )
    df[tcol] = parsed

    # labels
    present = tuple(c for c in _IF_PRESENT[table] if c in df.columns)
    for col in _LABEL_COLUMNS[table] + present:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype("object")
        vmap = tmap.values.get(col)
        if vmap:
            s = s.map(lambda v, m=vmap: m.get(v.strip() if isinstance(v, str) else v, v),
                      na_action="ignore")
        df[col] = normalise_labels(s)
    if table == "leads":
        df["source"] = df["source"].fillna("unknown")

    # numbers: report non-numeric text here so the message shows the value, not a dtype
    numeric = ("fit",) if table == "leads" else ("step",) + (
        ("duration_min",) if "duration_min" in df.columns else ())
    for col in numeric:
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() & df[col].notna()
        if bad.any():
            problems.append(_problem(col, "values that are not numbers", df.loc[bad, col], locate))
        else:
            df[col] = num
    if table == "events":
        step = pd.to_numeric(df["step"], errors="coerce")  # text was reported above
        frac = step.notna() & (step % 1 != 0)
        if frac.any():
            problems.append(_problem("step", "values that are not whole numbers",
                                     df.loc[frac, "step"], locate))
    if problems:
        raise ExportError(file, problems)

    try:
        df = _SCHEMAS[table].validate(df, lazy=True)
    except SchemaErrors as exc:
        raise ExportError(file, _pandera_problems(exc, df, locate)) from None

    if table == "leads":
        df["source"] = df["source"].astype("category")
        df["intent"] = df["intent"].astype(INTENT_DTYPE)
    else:
        df["type"] = df["type"].astype(TYPE_DTYPE)
        df["channel"] = df["channel"].astype(CHANNEL_DTYPE)
        if "personalisation" in present:
            df["personalisation"] = df["personalisation"].astype(PERSONALISATION_DTYPE)
    front = list(LEAD_COLUMNS if table == "leads" else EVENT_COLUMNS) + list(present)
    return df[front + [c for c in df.columns if c not in front]]


_RULES = {
    "not_nullable": "missing values where a value is required",
    "field_uniqueness": "duplicate values where each must be unique",
    "coerce_dtype": "values of the wrong type",
}


def _pandera_problems(exc: SchemaErrors, df: pd.DataFrame, locate: _Locator) -> list[Problem]:
    fc = exc.failure_cases
    problems = []
    for (column, check), grp in fc.groupby(["column", "check"], sort=False, dropna=False):
        check = str(check)
        if check.startswith("isin("):
            allowed = check[len("isin("):-1]
            rule = f"values outside the allowed set {allowed}"
        elif check.startswith("in_range("):
            rule = f"values outside the range {check[len('in_range'):]}"
        elif check.startswith("greater_than_or_equal_to("):
            rule = f"values below {check[len('greater_than_or_equal_to('):-1]}"
        else:
            key = check.split("(")[0]
            rule = _RULES.get(key, check if key != "dtype" else f"the wrong dtype {check}")
        idx = grp["index"].dropna()
        if len(idx):
            order = pd.Index(sorted(idx.unique()))  # the first offending rows, in file order
            rows = df.loc[order, column] if column in df.columns else grp["failure_case"]
            problems.append(_problem(column, rule, rows, locate))
        else:
            problems.append(Problem(column, f"{rule}: {grp['failure_case'].iloc[0]}"))
    return problems


def _as_file_and_map(path, columns: ColumnMap | str | Path | None) -> tuple[Path, ColumnMap]:
    if columns is None:
        cmap = ColumnMap()
    elif isinstance(columns, ColumnMap):
        cmap = columns
    else:
        cmap = read_column_map(columns)
    return Path(path), cmap


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def validate_leads(
    leads: pd.DataFrame, *, columns: TableMap | None = None, source: str = "leads"
) -> pd.DataFrame:
    """Check and coerce a leads frame to the contract; return a new frame (input untouched).

    Raises
    ------
    ExportError
        Naming ``source``, each offending column and its first offending rows.

    Examples
    --------
    >>> raw = pd.DataFrame({"lead_id": ["a", "b"], "created_at": ["2026-01-05 09:00", None],
    ...                     "source": ["Web Form", "referral"]})
    >>> validate_leads(raw)
    Traceback (most recent call last):
    ...
    nurturelab.schema.ExportError: leads: refused, nothing was loaded (1 problem(s))
      - column 'created_at': missing values where a value is required — 1 row: index 1 None
    """
    return _prepare(leads, "leads", columns or TableMap(), source, _Locator("frame"))


def validate_events(
    events: pd.DataFrame,
    leads: pd.DataFrame,
    *,
    columns: TableMap | None = None,
    source: str = "events",
    leads_source: str = "leads",
    _locate: _Locator | None = None,
) -> pd.DataFrame:
    """Check and coerce an events frame against validated ``leads``; return a new frame.

    Besides each column's own rules, every event must name a lead of ``leads`` and must not
    come before that lead's ``created_at``. The result is sorted by ``ts`` (stable) and has a
    fresh RangeIndex.
    """
    locate = _locate or _Locator("frame")
    ev = _prepare(events, "events", columns or TableMap(), source, locate)
    if not leads["lead_id"].is_unique:
        raise ValueError(f"{leads_source}: lead_id is not unique; validate the leads first "
                         "(validate_leads or read_leads)")
    created = leads.set_index("lead_id")["created_at"]
    problems = []
    known = ev["lead_id"].isin(created.index)
    if not known.all():
        problems.append(_problem("lead_id", f"events for leads that are not in {leads_source}",
                                 ev.loc[~known, "lead_id"], locate))
    lead_created = ev["lead_id"].map(created)
    early = known & (ev["ts"] < lead_created)
    if early.any():
        shown = ev.loc[early, "ts"].astype(str) + " < created_at " + lead_created[early].astype(str)
        shown = ev.loc[early, "lead_id"] + ": " + shown
        problems.append(_problem("ts", "events before their lead's created_at", shown, locate))
    if problems:
        raise ExportError(source, problems)
    return ev.sort_values("ts", kind="stable").reset_index(drop=True)


def read_leads(path: str | Path, columns: ColumnMap | str | Path | None = None) -> pd.DataFrame:
    """Load a leads table from CSV or Parquet, mapped and validated (see module docstring)."""
    path, cmap = _as_file_and_map(path, columns)
    raw, locate = _read_table(path, "leads", cmap.leads)
    return _prepare(raw, "leads", cmap.leads, str(path), locate)


def read_events(
    path: str | Path,
    leads: pd.DataFrame,
    columns: ColumnMap | str | Path | None = None,
    *,
    leads_source: str = "leads",
) -> pd.DataFrame:
    """Load an events table from CSV or Parquet, checked against validated ``leads``."""
    path, cmap = _as_file_and_map(path, columns)
    raw, locate = _read_table(path, "events", cmap.events)
    return validate_events(raw, leads, columns=cmap.events, source=str(path),
                           leads_source=leads_source, _locate=locate)


class Export(NamedTuple):
    """A validated pair of tables."""

    leads: pd.DataFrame
    events: pd.DataFrame


def read_export(
    leads_path: str | Path,
    events_path: str | Path,
    columns: ColumnMap | str | Path | None = None,
) -> Export:
    """Load both tables of an export; either both load or an :class:`ExportError` is raised."""
    _, cmap = _as_file_and_map(leads_path, columns)
    leads = read_leads(leads_path, cmap)
    events = read_events(events_path, leads, cmap, leads_source=str(leads_path))
    return Export(leads, events)


def require_loaded(leads: Any, events: Any) -> None:
    """Refuse tables that did not come through the loaders (raw ``pd.read_csv`` frames, file
    paths): the analysis functions need the contract's UTC timestamps.

    >>> require_loaded(pd.DataFrame({"created_at": ["2026-01-01"]}), None)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: 'leads' must be a validated table with a UTC 'created_at' column, as ...
    """
    for name, df, col in (("leads", leads, "created_at"), ("events", events, "ts")):
        if not (isinstance(df, pd.DataFrame) and col in df.columns
                and isinstance(df[col].dtype, pd.DatetimeTZDtype)):
            raise TypeError(f"'{name}' must be a validated table with a UTC '{col}' column, as "
                            "nurturelab.schema.read_export returns (read CSV files with it, "
                            "not with pd.read_csv)")


def summarize(leads: pd.DataFrame, events: pd.DataFrame) -> str:
    """A one-screen text summary of a validated export: rows, date range, sources, event types
    (and, when the events carry them, the touches' content tags and personalisation levels)."""
    def span(s: pd.Series) -> str:
        return f"{s.min():%Y-%m-%d %H:%M} .. {s.max():%Y-%m-%d %H:%M} UTC" if len(s) else "-"

    lines = [
        f"leads   {len(leads):>9,d} rows   created {span(leads['created_at'])}",
        f"events  {len(events):>9,d} rows   at      {span(events['ts'])}",
        "",
        "sources:      " + ", ".join(
            f"{k} {v:,d}" for k, v in leads["source"].value_counts().items() if v),
        "intent:       " + ", ".join(
            f"{k} {v:,d}" for k, v in
            leads["intent"].astype("object").fillna("(missing)").value_counts().items()),
        "fit:          " + (
            f"median {leads['fit'].median():.2f}, missing {leads['fit'].isna().sum():,d}"
            if leads["fit"].notna().any() else "missing for all leads"),
        "event types:  " + ", ".join(
            f"{k} {v:,d}" for k, v in events["type"].value_counts().items() if v),
    ]
    counts = events["name"].value_counts()
    top = counts.head(12)
    more = f" (and {len(counts) - len(top)} more)" if len(counts) > len(top) else ""
    lines.append("event names:  " + ", ".join(f"{k} {v:,d}" for k, v in top.items()) + more)
    is_touch = events["type"].astype("object").eq("touch")
    if "content" in events.columns:
        tags = events.loc[is_touch, "content"].astype("object").fillna("(missing)").value_counts()
        head = tags.head(8)
        more = f" (and {len(tags) - len(head)} more)" if len(tags) > len(head) else ""
        lines.append("touch content: " + ", ".join(f"{k} {v:,d}" for k, v in head.items())
                     + more)
    if "personalisation" in events.columns:
        levels = events.loc[is_touch, "personalisation"].astype("object").fillna("(missing)")
        lines.append("personalisation: " + ", ".join(
            f"{k} {v:,d}" for k, v in levels.value_counts().items()))
    known = set(TOUCH_NAMES + RESPONSE_NAMES + ACTIVITY_NAMES)
    is_stage = events["type"].astype("object").eq("stage")
    unknown = sorted(set(events.loc[~is_stage, "name"]) - known)
    if unknown:
        lines.append("note: event names outside the built-in vocabulary (kept, but the funnel and "
                     f"scoring only read names they know): {unknown[:8]}")
    return "\n".join(lines)
