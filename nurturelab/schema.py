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
Timestamps must be unambiguous: ISO 8601 (``2026-01-05``, ``2026-01-05 10:00``,
``2026-01-05T10:00:00-03:00``, ``... Z`` or ``... UTC``). Those with an offset are converted to UTC;
naive ones are read in the column map's ``timezone`` (UTC unless stated). Any other form
(``01/09/2026``, which is 1 September in Lisbon and 9 January in Boston) is refused naming the rows,
unless the column map declares it: ``format`` (a ``strptime`` format such as ``"%d/%m/%Y %H:%M"``)
or ``dayfirst`` (``true``: day/month/year, ``false``: month/day/year). A zone abbreviation
(``2026-01-05 10:00 EST``) names no single offset and is refused unless the map's ``zones`` maps
it (``{EST: America/New_York}`` or ``{EST: "-05:00"}``). Timestamps after the file itself was
written (its modification time) are accepted but reported: :attr:`Export.notes` holds an
:class:`ExportWarning` naming the rows, and every loader also issues it as a Python warning
(``warnings.simplefilter("error", ExportWarning)`` turns it into a refusal). Tables written by
the simulation, whose worlds may run past today, are not checked for it.

A header that names a column twice, and a column map naming a column the file lacks, are refused
by name; values shown in messages are cut to a few dozen characters.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import re
import warnings
import zipfile
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from nurturelab._timestamps import FIXED_OFFSET, NAT, NOT_ZONES, to_utc
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
    "ExportWarning",
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
_CUT = 80  # characters of one value (or name) a message shows


def _cut(text: Any, limit: int = _CUT) -> str:
    """``text`` as a string of at most about ``limit`` characters, saying how long it was.

    >>> _cut("x" * 500, 10)
    'xxxxxxx... (500 characters)'
    """
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit - 3]}... ({len(text):,d} characters)"


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

    def __reduce__(self):  # pickled (e.g. back from a worker process) as it was made
        return type(self), (self.file, self.problems)


class ExportWarning(UserWarning):
    """A table was accepted, but something in it deserves a look (timestamps after the file was
    written). ``file`` names the table, ``problem`` says what and where, as for a refusal."""

    def __init__(self, file: str, problem: Problem):
        self.file = file
        self.problem = problem
        super().__init__(f"{file}: {problem}")

    def __reduce__(self):
        return type(self), (self.file, self.problem)


# --------------------------------------------------------------------------------------------
# Column maps
# --------------------------------------------------------------------------------------------
_MAP_KEYS = ("columns", "constants", "dayfirst", "format", "timezone", "values", "zones")


@dataclass(frozen=True)
class TableMap:
    """How one table of a CRM export maps onto the contract.

    Parameters
    ----------
    columns : mapping of contract column -> export column
        e.g. ``{"lead_id": "mql_id", "created_at": "first_contact_date"}``. An export column the
        file lacks is refused, naming it.
    timezone : str
        IANA zone in which naive timestamps are read (``"UTC"`` by default).
    values : mapping of contract column -> {export value: contract value}
        Applied to a label column before it is normalised, e.g. ``{"intent": {"Hot": "high"}}``.
    constants : mapping of contract column -> value
        Columns the export lacks, filled with one value for every row, e.g.
        ``{"type": "stage", "name": "won"}`` for a file of won deals.
    format : str, optional
        The ``strptime`` format of timestamps that are not ISO 8601, e.g. ``"%d/%m/%Y %H:%M"``
        (ISO 8601 values are still read as such).
    dayfirst : bool, optional
        Instead of ``format``: numeric dates are day/month/year (``True``) or month/day/year
        (``False``), with an optional ``HH:MM[:SS]``.
    zones : mapping of abbreviation -> IANA zone or fixed offset
        How to read timestamps that end in a zone abbreviation, e.g.
        ``{"EST": "America/New_York", "IST": "+05:30"}``; without it they are refused.

    Examples
    --------
    >>> TableMap(dayfirst=True).dayfirst
    True
    >>> TableMap(zones={"EST": "Eastern"})
    Traceback (most recent call last):
    ...
    ValueError: TableMap 'zones' must map an abbreviation to an IANA time zone such as \
'America/New_York' or an offset such as '-05:00'. Got 'Eastern' for 'EST' instead.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)
    format: str | None = None
    dayfirst: bool | None = None
    zones: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in (("columns", self.columns), ("values", self.values),
                            ("constants", self.constants), ("zones", self.zones)):
            if not isinstance(value, Mapping):
                raise TypeError(f"TableMap '{name}' must be a mapping, got "
                                f"{type(value).__name__}: {_cut(repr(value))}")
        for col, vmap in self.values.items():
            if not isinstance(vmap, Mapping):
                raise TypeError(
                    f"TableMap 'values' for '{_cut(col)}' must map export values to contract "
                    f"values, got {type(vmap).__name__}: {_cut(repr(vmap))}"
                )
        for contract, export in self.columns.items():
            if not isinstance(export, str) or not export:
                raise TypeError(f"TableMap 'columns' must map a contract column to the export's "
                                f"column name. Got {_cut(repr(export))} for "
                                f"{_cut(repr(contract))} instead.")
        targets = list(self.columns.values())
        dup = sorted({t for t in targets if targets.count(t) > 1})
        if dup:
            raise ValueError(f"TableMap 'columns' maps several contract columns to {dup}")
        _check_zone(self.timezone, "TableMap 'timezone' must be an IANA time zone such as 'UTC' "
                                   "or 'America/Sao_Paulo'. Got {value} instead.")
        if self.format is not None and self.dayfirst is not None:
            raise ValueError("TableMap takes 'format' or 'dayfirst', not both: 'format' says "
                             "everything 'dayfirst' would.")
        if self.format is not None:
            _check_format(self.format)
        if self.dayfirst is not None and not isinstance(self.dayfirst, bool):
            raise TypeError(f"TableMap 'dayfirst' must be true or false. Got "
                            f"{_cut(repr(self.dayfirst))} instead.")
        for abbr, zone in self.zones.items():
            if not (isinstance(abbr, str) and re.fullmatch(r"[A-Za-z]{2,5}", abbr)
                    and abbr.upper() not in NOT_ZONES):
                raise ValueError(f"TableMap 'zones' keys must be zone abbreviations of 2 to 5 "
                                 f"letters other than {sorted(NOT_ZONES)} (read as they are). "
                                 f"Got {_cut(repr(abbr))} instead.")
            if not (isinstance(zone, str) and FIXED_OFFSET.match(zone)):
                _check_zone(zone, "TableMap 'zones' must map an abbreviation to an IANA time zone "
                                  "such as 'America/New_York' or an offset such as '-05:00'. "
                                  f"Got {{value}} for {abbr!r} instead.")


def _check_zone(zone: Any, message: str) -> None:
    try:
        if not isinstance(zone, str):
            raise ValueError(zone)
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(message.format(value=_cut(repr(zone)))) from exc


def _check_format(fmt: Any) -> None:
    """Refuse anything but a strptime format that reads back what it writes."""
    probe = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    try:
        ok = isinstance(fmt, str) and "%" in fmt and datetime.strptime(
            probe.strftime(fmt), fmt).date() == probe.date()
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"TableMap 'format' must be a strptime format such as "
                         f"'%d/%m/%Y %H:%M'. Got {_cut(repr(fmt))} instead.")


@dataclass(frozen=True)
class ColumnMap:
    """Column maps for both tables of an export (see :func:`read_column_map` for the YAML)."""

    leads: TableMap = field(default_factory=TableMap)
    events: TableMap = field(default_factory=TableMap)


def read_column_map(path: str | Path) -> ColumnMap:
    """Read a column map from YAML (the only function that does).

    The file has up to two sections, ``leads`` and ``events``, each with the optional keys of
    :class:`TableMap`: ``columns`` (contract name: export name), ``timezone``, ``values``,
    ``constants``, and for timestamps that are not ISO 8601 ``format`` or ``dayfirst``, and
    ``zones``::

        leads:
          columns: {lead_id: mql_id, created_at: first_contact_date, source: origin}
          timezone: America/Sao_Paulo
          values: {intent: {Hot: high, Warm: medium, Cold: low}}
        events:
          format: "%d/%m/%Y %H:%M"
          zones: {BRT: America/Sao_Paulo}

    Unknown and repeated keys are errors that name the key.
    """
    path = Path(path)
    try:  # the shared loader refuses a key given twice and bounds alias expansion
        raw = load_yaml(path, "column map", needs=None)
    except (FileNotFoundError, ValueError) as exc:
        why = str(exc).removeprefix(f"{path}: ")
        raise ValueError(f"{path}: cannot read the column map: {why}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a column map is a mapping with 'leads' and/or 'events'")
    unknown = set(map(str, raw)) - {"leads", "events"}
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(_cut(k) for k in unknown)}; "
                         "allowed: ['events', 'leads']")
    parts = {}
    for table, body in raw.items():
        body = body or {}
        if not isinstance(body, dict):
            raise ValueError(f"{path}: section '{table}' must be a mapping")
        bad = set(map(str, body)) - set(_MAP_KEYS)
        if bad:
            raise ValueError(
                f"{path}: unknown key(s) {sorted(_cut(k) for k in bad)} in '{table}'; "
                f"allowed: {list(_MAP_KEYS)}"
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
    if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):  # one pass in C
        return pd.Series(True, index=s.index)
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
    """Turns a row's index into words a user can find: a CSV line, a Parquet row, an index.

    A CSV record's line is counted in the file itself, so that quoted values spanning several
    lines and blank lines (which the parser skips) do not shift it; the file is only read again
    when a message names a line, and only counted record by record when it holds such lines.
    """

    _UNSET: Any = object()

    def __init__(self, kind: Literal["csv", "parquet", "frame"], path: Path | None = None,
                 records: int | None = None):
        self.kind = kind
        self.path = path
        self.records = records
        self._lines: Any = self._UNSET

    def __call__(self, idx) -> str:
        if self.kind == "csv":
            return f"line {self.line(int(idx))}"
        if self.kind == "parquet":
            return f"row {int(idx)}"
        return f"index {idx!r}"

    def line(self, record: int) -> int:
        """The file line on which record ``record`` (0 for the first after the header) starts."""
        if self.path is None or self.records is None:
            return record + 2
        if self._lines is self._UNSET:
            self._lines = _record_lines(self.path, self.records)
        return record + 2 if self._lines is None else int(self._lines[record])


def _record_lines(path: Path, records: int) -> array | None:
    """The line each record of a CSV file starts on, or None when that is simply its position
    plus 2 (one line per record after a header on line 1)."""
    newlines, last, size = 0, b"", 0
    with _open_bytes(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            newlines += chunk.count(b"\n")
            last, size = chunk[-1:], size + len(chunk)
    lines = newlines + (1 if size and last != b"\n" else 0)
    if lines == records + 1:  # no record spans lines and no line is blank
        return None
    starts = array("q")
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)  # a long quoted value is still one value
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            before = 0
            for row in reader:
                if row and not (len(row) == 1 and not row[0].strip()):  # blank lines are skipped
                    starts.append(before + 1)
                before = reader.line_num
    finally:
        csv.field_size_limit(limit)
    return starts[1:] if len(starts) == records + 1 else None


def _problem(column, rule, rows: pd.Series, locate: _Locator) -> Problem:
    """A Problem naming the first offending rows; ``rows`` is the offending values by index."""
    head = rows.iloc[:_SHOW]
    return Problem(
        column=column,
        rule=rule,
        count=int(len(rows)),
        where=tuple(locate(i) for i in head.index),
        values=tuple(_cut(repr(_plain(v))) for v in head.to_numpy(dtype=object)),
    )


def _plain(v):
    if isinstance(v, pd.Timestamp):
        return str(v)
    if isinstance(v, np.generic):
        return v.item()
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    return v


def _names(df: pd.DataFrame) -> list[str]:
    """The first dozen column names of ``df``, sorted, for a message."""
    return [_cut(c, 40) for c in sorted(map(str, df.columns))[:12]]


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


# Each distinct value is worked on once: exports repeat their labels and ids many times.
def _factorized(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The codes of ``s`` (-1 where missing) and its distinct values as an object array."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _from_codes(codes: np.ndarray, values: np.ndarray, index: pd.Index) -> pd.Series:
    full = np.empty(len(values) + 1, dtype=object)
    full[:-1] = values
    full[-1] = np.nan  # code -1
    return pd.Series(full[codes], index=index, dtype=object)


def _text_ids(s: pd.Series) -> pd.Series:
    """Identifiers and free text as trimmed ``str`` (numbers written as text); blank: missing."""
    codes, values = _factorized(s)
    clean = np.empty(len(values), dtype=object)
    clean[:] = [v.strip() if isinstance(v, str) else str(_plain(v)) for v in values]
    clean[clean == ""] = np.nan
    return _from_codes(codes, clean, s.index)


def _labels(s: pd.Series, vmap: Mapping | None) -> pd.Series:
    """:func:`normalise_labels` of ``s`` after the column map's ``values``."""
    codes, values = _factorized(s)
    distinct = pd.Series(values, dtype=object)
    if vmap:
        distinct = distinct.map(lambda v, m=vmap: m.get(v.strip() if isinstance(v, str) else v, v))
    return _from_codes(codes, normalise_labels(distinct).to_numpy(dtype=object), s.index)


def _numbers(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``s`` as floats, and where it held something that is not a number."""
    codes, values = _factorized(s)
    num = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    num = np.append(num, np.nan)
    return pd.Series(num[codes], index=s.index), np.isnan(num)[codes] & (codes >= 0)


# --------------------------------------------------------------------------------------------
# Timestamps (read by nurturelab._timestamps; the rules their refusals state)
# --------------------------------------------------------------------------------------------
def _time_rule(tmap: TableMap) -> str:
    zone = "" if tmap.timezone == "UTC" else f" in time zone {tmap.timezone}"
    if tmap.format is not None:
        form = f"neither in the column map's format {tmap.format!r} nor ISO 8601"
    elif tmap.dayfirst is not None:
        order = "day/month/year" if tmap.dayfirst else "month/day/year"
        form = f"neither {order} (the column map's 'dayfirst') nor ISO 8601"
    else:
        form = ("timestamps must be ISO 8601 (2026-01-05, 2026-01-05 10:00, "
                "2026-01-05T10:00:00-03:00); declare another form in the column map with "
                "'format' (e.g. '%d/%m/%Y %H:%M') or 'dayfirst'")
    return f"values that are not timestamps{zone}: {form}"


def _zone_rule(abbreviations: pd.Series) -> str:
    names = sorted(abbreviations.unique())
    return (f"timestamps with a zone abbreviation ({', '.join(_cut(a) for a in names[:5])}) "
            "the column map does not map; an abbreviation names no single offset (CST is UTC-6 "
            "in Chicago and UTC+8 in Shanghai): map each with 'zones', e.g. "
            "zones: {EST: America/New_York}")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
# pandas' default missing-value strings (read_csv with keep_default_na=True)
_NA_VALUES = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")


class _open_bytes:
    """The bytes of a (possibly compressed) CSV file, as a context manager."""

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None

    def __enter__(self):
        suffix = self.path.suffix.lower()
        if suffix == ".zip":
            self._zip = zipfile.ZipFile(self.path)
            names = self._zip.namelist()
            if len(names) != 1:
                raise ValueError(f"a zip archive of {len(names)} files; nurturelab reads a zip "
                                 "holding one CSV file")
            self.fh = self._zip.open(names[0])
        else:
            opener = {".gz": gzip.open, ".bz2": bz2.open}.get(suffix, open)
            self.fh = opener(self.path, "rb")
        return self.fh

    def __exit__(self, *exc) -> None:
        self.fh.close()
        if self._zip is not None:
            self._zip.close()


class _open_text(_open_bytes):
    """The text of a CSV file (UTF-8, a byte-order mark dropped), for the csv module."""

    def __enter__(self):
        return io.TextIOWrapper(super().__enter__(), encoding="utf-8-sig", newline="")


def _check_no_nul(path: Path) -> None:
    """Raise ValueError at a NUL byte: pandas' CSV parser would silently cut the value there."""
    with _open_bytes(path) as fh:
        line, nl = 1, b"\n"
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            at = chunk.find(b"\0")
            if at >= 0:
                line += chunk.count(nl, 0, at)
                raise ValueError(f"a NUL byte on line {line} (binary data, or text not saved as "
                                 "UTF-8)")
            line += chunk.count(nl)


def _csv_header(path: Path) -> list[str]:
    """The column names on a CSV file's first non-blank line ([] if there is none)."""
    with _open_text(path) as fh:
        for row in csv.reader(fh):
            if row and not (len(row) == 1 and not row[0].strip()):
                return row
    return []


def _contract_names(table: Table, tmap: TableMap) -> set[str]:
    """The names under which the contract's columns may stand in an export."""
    cols = _REQUIRED[table] + _OPTIONAL[table] + _IF_PRESENT[table]
    cols += ("duration_min",) if table == "events" else ()
    return {tmap.columns.get(c, c) for c in cols}


def _read_csv_arrow(path: Path, header: list[str], table: Table,
                    tmap: TableMap) -> pd.DataFrame | None:
    """Read a CSV with Arrow: the contract's columns as text (categorical but for the time
    column), the others as pandas reads them.

    None when Arrow cannot (rows of unequal length, text that is not UTF-8...): the caller then
    reads the file with pandas, whose messages name the problem.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not header or any(not h for h in header):
        return None
    ours = [h for h in header if h in _contract_names(table, tmap)]
    others = [h for h in header if h not in ours]
    when = tmap.columns.get(_TIME_COLUMN[table], _TIME_COLUMN[table])
    # labels and ids repeat: read them dictionary-encoded (a number per row, each text once)
    types = {h: pa.string() if h == when else pa.dictionary(pa.int32(), pa.string())
             for h in ours}
    compression = {".gz": "gzip", ".bz2": "bz2"}.get(path.suffix.lower())
    try:
        with _open_bytes(path) if path.suffix.lower() == ".zip" else pa.input_stream(
                str(path), compression=compression) as source:
            tbl = pacsv.read_csv(
                source,
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, include_columns=ours,
                    strings_can_be_null=True, quoted_strings_can_be_null=True,
                    null_values=list(_NA_VALUES)),
            )
    except Exception:  # noqa: BLE001 - pandas reads it again and says what is wrong
        return None
    if tbl.column_names != ours:
        return None
    as_pandas = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string():
                 pd.StringDtype("pyarrow")}.get
    columns = {h: tbl.column(h).to_pandas(types_mapper=as_pandas) for h in ours}
    tbl_rows = tbl.num_rows
    del tbl
    if others:
        rest = pd.read_csv(path, usecols=others)
        if ours and len(rest) != tbl_rows:
            return None
        columns.update({h: rest[h] for h in others})
    return pd.DataFrame({h: columns[h] for h in header}, copy=False)


def _read_csv_pandas(path: Path, table: Table, tmap: TableMap) -> pd.DataFrame:
    as_text = [tmap.columns.get(c, c) for c in _STR_COLUMNS[table]]
    return pd.read_csv(path, dtype={c: str for c in as_text}, keep_default_na=True)


def _read_table(path: Path, table: Table,
                tmap: TableMap) -> tuple[_Owned, _Locator, pd.Timestamp | None]:
    """Read a CSV or Parquet file into a DataFrame; refuse anything else with an ExportError.

    Also returns how to name its rows, and when the file was written (its modification time;
    None for a table the simulation wrote, whose world may run past today).
    """
    name = str(path)
    kind = _kind(path)
    what = "Parquet" if kind == "parquet" else "CSV"
    header = _header(path, kind)
    _refuse_repeated(name, header)
    written: pd.Timestamp | None = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC")
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
            if df.attrs.get("nurturelab", {}).get("simulated"):
                written = None
            df.attrs = {}
        else:
            df = _read_csv_arrow(path, header, table, tmap)
            if df is None:
                df = _read_csv_pandas(path, table, tmap)
    except pd.errors.EmptyDataError:
        raise ExportError(name, [Problem(None, "is empty (no header, no rows)")]) from None
    except Exception as exc:  # noqa: BLE001 - anything the parser says means "not readable"
        raise ExportError(name, [_unreadable(what, exc)]) from exc
    if len(df) == 0:
        raise ExportError(name, [Problem(None, "has a header but no rows")])
    df = df.reset_index(drop=True)
    locate = _Locator(kind, path if kind == "csv" else None, len(df))
    return _Owned(df), locate, written


def _kind(path: Path) -> Literal["csv", "parquet"]:
    """What kind of table the file is, by its name; refused if it is none, or empty."""
    name = str(path)
    if not path.is_file():
        raise ExportError(name, [Problem(None, "no such file")])
    suffixes = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() in (".parquet", ".pq"):
        kind: Literal["csv", "parquet"] = "parquet"
    elif path.suffix.lower() == ".csv" or suffixes in (".csv.gz", ".csv.zip", ".csv.bz2"):
        kind = "csv"
    else:
        raise ExportError(
            name,
            [Problem(None, f"is not a CSV or Parquet file (suffix {_cut(path.suffix)!r}); "
                           "nurturelab reads .csv, .csv.gz and .parquet")],
        )
    if path.stat().st_size == 0:
        raise ExportError(name, [Problem(None, "is empty (0 bytes)")])
    return kind


def _header(path: Path, kind: Literal["csv", "parquet"]) -> list[str]:
    """The file's column names (for a CSV, after checking it holds no NUL byte)."""
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        _check_no_nul(path)
        header = _csv_header(path)
    except Exception as exc:  # noqa: BLE001 - anything the parser says means "not readable"
        what = "Parquet" if kind == "parquet" else "CSV"
        raise ExportError(str(path), [_unreadable(what, exc)]) from exc
    if not header:
        raise ExportError(str(path), [Problem(None, "is empty (no header, no rows)")])
    return header


def _refuse_repeated(name: str, header: list[str]) -> None:
    """Refuse a header naming a column twice (pandas would read the copy as ``source.1``)."""
    twice = sorted({h for h in header if header.count(h) > 1})

    def where(h: str) -> str:
        at = [str(i + 1) for i, x in enumerate(header) if x == h]
        return ", ".join(at[:-1]) + " and " + at[-1]

    if twice:
        raise ExportError(name, [
            Problem(_cut(h), f"the header names this column {header.count(h)} times (columns "
                             f"{where(h)}); each column needs a name of its own")
            for h in twice])


class _Owned:
    """A frame read from a file and handed over whole: :func:`_prepare` takes it (no copy), and
    its columns are freed one by one as they are converted (a large export is not held twice)."""

    def __init__(self, df: pd.DataFrame):
        self._df: pd.DataFrame | None = df

    def take(self) -> pd.DataFrame:
        df, self._df = self._df, None
        if df is None:
            raise RuntimeError("this frame was taken already")
        return df


def _unreadable(what: str, exc: BaseException) -> Problem:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Problem(None, f"is not a readable {what} file: {_cut(reason, 300)}")


def _prepare(
    df: pd.DataFrame | _Owned, table: Table, tmap: TableMap, file: str, locate: _Locator, *,
    written: pd.Timestamp | None = None, notes: list[ExportWarning] | None = None,
) -> pd.DataFrame:
    """Rename, check, coerce and validate one table; return a new frame or raise ExportError.

    A caller's frame is copied first (never touched); a frame read from a file (:class:`_Owned`)
    is worked on as it is. With ``written`` (when the file was written), timestamps after it
    are reported in ``notes``.
    """
    df = _mapped(df.take() if isinstance(df, _Owned) else df.copy(), table, tmap, file)
    problems: list[Problem] = []
    for col in _STR_COLUMNS[table]:  # identifiers and free text stay text
        df[col] = _text_ids(df[col])
    late = _timestamps(df, table, tmap, locate, problems, check_after=written)
    present = tuple(c for c in _IF_PRESENT[table] if c in df.columns)
    for col in _LABEL_COLUMNS[table] + present:
        df[col] = _labels(df[col], tmap.values.get(col))
    if table == "leads":
        df["source"] = df["source"].fillna("unknown")
    _numeric(df, table, locate, problems)
    if problems:
        raise ExportError(file, problems)
    try:
        df = _SCHEMAS[table].validate(df, lazy=True, inplace=True)  # df is our own copy
    except SchemaErrors as exc:
        raise ExportError(file, _pandera_problems(exc, df, locate)) from None
    if late is not None and notes is not None:
        notes.append(ExportWarning(file, _problem(
            _TIME_COLUMN[table], f"timestamps after the file was written ({written:%Y-%m-%d %H:%M} "
                                 "UTC): a wrong year, or a 'timezone' the export does not use? "
                                 "(accepted)", late, locate)))
    return _finished(df, table, present)


def _mapped(df: pd.DataFrame, table: Table, tmap: TableMap, file: str) -> pd.DataFrame:
    """``df`` (our own) renamed by the column map, its constants added, every contract column
    present; or an ExportError for a map that does not describe it."""
    twice = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if twice:
        raise ExportError(file, [Problem(_cut(c), "the table has several columns of this name; "
                                                  "each column needs a name of its own")
                                 for c in twice])
    problems = []
    rename = {}
    for contract, export in tmap.columns.items():
        if export in df.columns:
            rename[export] = contract
        elif contract not in _REQUIRED[table] or contract in df.columns:
            problems.append(Problem(contract, f"the column map reads it from column "
                                              f"'{_cut(export)}', which the file lacks; the "
                                              f"file has {_names(df)}"))
    labels = _LABEL_COLUMNS[table] + _IF_PRESENT[table]
    problems += [Problem(_cut(col), f"the column map gives 'values' for it, but values are mapped "
                                    f"in the label columns {list(labels)} only")
                 for col in tmap.values if col not in labels]
    clash = [c for c in rename.values() if c in df.columns and c not in rename]
    if clash:
        raise ExportError(
            file,
            [Problem(c, "the column map renames another column to this name, but the file has "
                        "one already; drop it from the map or rename it in the file")
             for c in clash],
        )
    df.rename(columns=rename, inplace=True)
    for col, value in tmap.constants.items():
        if col in df.columns:
            raise ExportError(file, [Problem(col, "the column map sets this column to a constant, "
                                                  "but the file has it already; drop one")])
        df[col] = value
    for col in _REQUIRED[table]:
        if col not in df.columns:
            src = tmap.columns.get(col)
            hint = (f"(the column map expects it as '{_cut(src)}')" if src
                    else "(add it to the column map)")
            problems.append(
                Problem(col, f"required column is missing {hint}; the file has {_names(df)}")
            )
    if problems:
        raise ExportError(file, problems)
    for col in _OPTIONAL[table]:
        if col not in df.columns:
            df[col] = pd.Series(np.nan, index=df.index, dtype="object")
    return df if df.index.is_unique else df.reset_index(drop=True)


def _timestamps(df: pd.DataFrame, table: Table, tmap: TableMap, locate: _Locator,
                problems: list[Problem], *, check_after: pd.Timestamp | None) -> pd.Series | None:
    """Parse the time column in place (problems appended); return the raw values after
    ``check_after`` (None when there are none, or nothing to check)."""
    tcol = _TIME_COLUMN[table]
    parsed, bad, zones = to_utc(df[tcol], tmap)
    if bad.any():
        problems.append(_problem(tcol, _time_rule(tmap), df.loc[bad, tcol], locate))
    if len(zones):
        problems.append(_problem(tcol, _zone_rule(zones), df.loc[zones.index, tcol], locate))
    late = None
    if check_after is not None:
        after = (parsed > check_after).to_numpy()
        late = df.loc[after, tcol] if after.any() else None
    df[tcol] = parsed
    return late


def _numeric(df: pd.DataFrame, table: Table, locate: _Locator, problems: list[Problem]) -> None:
    """Coerce the number columns in place; non-numeric text is reported here, so that the
    message shows the value rather than a dtype."""
    numeric = ("fit",) if table == "leads" else ("step",) + (
        ("duration_min",) if "duration_min" in df.columns else ())
    for col in numeric:
        num, not_number = _numbers(df[col])
        if not_number.any():
            problems.append(_problem(col, "values that are not numbers", df.loc[not_number, col],
                                     locate))
        else:
            df[col] = num
        if col == "step":
            step = num.to_numpy()
            frac = ~np.isnan(step) & (step % 1 != 0)
            if frac.any():
                problems.append(_problem("step", "values that are not whole numbers",
                                         df.loc[frac, "step"], locate))


def _finished(df: pd.DataFrame, table: Table, present: tuple[str, ...]) -> pd.DataFrame:
    """The validated table: categories set, the contract's columns first (no copy)."""
    if table == "leads":
        df["source"] = df["source"].astype("category")
        df["intent"] = df["intent"].astype(INTENT_DTYPE)
    else:
        df["type"] = df["type"].astype(TYPE_DTYPE)
        df["channel"] = df["channel"].astype(CHANNEL_DTYPE)
        if "personalisation" in present:
            df["personalisation"] = df["personalisation"].astype(PERSONALISATION_DTYPE)
    front = list(LEAD_COLUMNS if table == "leads" else EVENT_COLUMNS) + list(present)
    order = front + [c for c in df.columns if c not in front]
    out = pd.DataFrame({c: df[c] for c in order}, copy=False)
    out.attrs = {}
    _release_arrow_memory()
    return out


def _release_arrow_memory() -> None:
    """Hand the memory of the Arrow text columns just freed back to the system."""
    import sys

    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.default_memory_pool().release_unused()


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
) -> pd.DataFrame:
    """Check and coerce an events frame against validated ``leads``; return a new frame.

    Besides each column's own rules, every event must name a lead of ``leads`` and must not
    come before that lead's ``created_at``. The result is sorted by ``ts`` (stable) and has a
    fresh RangeIndex.
    """
    return _events(events, leads, columns or TableMap(), source, leads_source,
                   _Locator("frame"))


def _events(raw: pd.DataFrame, leads: pd.DataFrame, tmap: TableMap, source: str,
            leads_source: str, locate: _Locator, *, written: pd.Timestamp | None = None,
            notes: list[ExportWarning] | None = None) -> pd.DataFrame:
    ev = _prepare(raw, "events", tmap, source, locate, written=written, notes=notes)
    if not leads["lead_id"].is_unique:
        raise ValueError(f"{leads_source}: lead_id is not unique; validate the leads first "
                         "(validate_leads or read_leads)")
    created = leads["created_at"]
    at = pd.Index(leads["lead_id"]).get_indexer(ev["lead_id"])
    known = at >= 0
    lead_created = np.where(known, created.array.asi8[at], NAT)
    problems = []
    if not known.all():
        problems.append(_problem("lead_id", f"events for leads that are not in {leads_source}",
                                 ev.loc[~known, "lead_id"], locate))
    early = known & (ev["ts"].array.asi8 < lead_created)
    if early.any():
        before = pd.Series(pd.to_datetime(lead_created[early], utc=True),
                           index=ev.index[early]).astype(str)
        shown = (ev.loc[early, "lead_id"] + ": " + ev.loc[early, "ts"].astype(str)
                 + " < created_at " + before)
        problems.append(_problem("ts", "events before their lead's created_at", shown, locate))
    if problems:
        raise ExportError(source, problems)
    return _sorted_by_time(ev)


def _sorted_by_time(ev: pd.DataFrame) -> pd.DataFrame:
    """``ev`` sorted by ``ts`` (stable) with a fresh RangeIndex, built one column at a time so
    that a large table is never held twice."""
    ts = ev["ts"].array.asi8
    if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):  # exports usually come in time order
        ev.index = pd.RangeIndex(len(ev))
        return ev
    order = np.argsort(ts, kind="stable")
    index = pd.RangeIndex(len(ev))
    columns = {}
    for col in list(ev.columns):
        columns[col] = pd.Series(ev.pop(col).array.take(order), index=index, name=col)
    return pd.DataFrame(columns, copy=False)


def _warn(notes: list[ExportWarning]) -> None:
    for note in notes:
        warnings.warn(note, stacklevel=3)


def _read_leads(path: Path, cmap: ColumnMap, notes: list[ExportWarning]) -> pd.DataFrame:
    raw, locate, written = _read_table(path, "leads", cmap.leads)
    return _prepare(raw, "leads", cmap.leads, str(path), locate, written=written, notes=notes)


def _read_events(path: Path, leads: pd.DataFrame, cmap: ColumnMap, leads_source: str,
                 notes: list[ExportWarning]) -> pd.DataFrame:
    raw, locate, written = _read_table(path, "events", cmap.events)
    return _events(raw, leads, cmap.events, str(path), leads_source, locate, written=written,
                   notes=notes)


def read_leads(path: str | Path, columns: ColumnMap | str | Path | None = None) -> pd.DataFrame:
    """Load a leads table from CSV or Parquet, mapped and validated (see module docstring).

    Timestamps after the file was written are reported as an :class:`ExportWarning`.
    """
    path, cmap = _as_file_and_map(path, columns)
    notes: list[ExportWarning] = []
    leads = _read_leads(path, cmap, notes)
    _warn(notes)
    return leads


def read_events(
    path: str | Path,
    leads: pd.DataFrame,
    columns: ColumnMap | str | Path | None = None,
    *,
    leads_source: str = "leads",
) -> pd.DataFrame:
    """Load an events table from CSV or Parquet, checked against validated ``leads``.

    Timestamps after the file was written are reported as an :class:`ExportWarning`.
    """
    path, cmap = _as_file_and_map(path, columns)
    notes: list[ExportWarning] = []
    events = _read_events(path, leads, cmap, leads_source, notes)
    _warn(notes)
    return events


class _Tables(NamedTuple):
    leads: pd.DataFrame
    events: pd.DataFrame


class Export(_Tables):
    """A validated pair of tables: it unpacks as ``leads, events``.

    ``notes`` holds an :class:`ExportWarning` for each thing that was accepted but deserves a
    look (timestamps after the file was written); ``nurturelab validate`` prints them.
    """

    notes: tuple[ExportWarning, ...] = ()

    def __new__(cls, leads: pd.DataFrame, events: pd.DataFrame,
                notes: tuple[ExportWarning, ...] | list[ExportWarning] = ()) -> Export:
        self = super().__new__(cls, leads, events)
        self.notes = tuple(notes)
        return self

    def __getnewargs__(self) -> tuple:  # pickled with its notes
        return self.leads, self.events, self.notes


def read_export(
    leads_path: str | Path,
    events_path: str | Path,
    columns: ColumnMap | str | Path | None = None,
) -> Export:
    """Load both tables of an export; either both load or an :class:`ExportError` is raised.

    What was accepted but deserves a look is in the result's ``notes`` and issued as
    :class:`ExportWarning` s.
    """
    _, cmap = _as_file_and_map(leads_path, columns)
    notes: list[ExportWarning] = []
    leads = _read_leads(Path(leads_path), cmap, notes)
    events = _read_events(Path(events_path), leads, cmap, str(leads_path), notes)
    _warn(notes)
    return Export(leads, events, notes)


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


def summarize(leads: pd.DataFrame, events: pd.DataFrame,
              notes: tuple[ExportWarning, ...] | list[ExportWarning] = ()) -> str:
    """A one-screen text summary of a validated export: rows, date range, sources, event types
    (and, when the events carry them, the touches' content tags and personalisation levels),
    then a ``warning:`` line for each of ``notes`` (:attr:`Export.notes`)."""
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
    is_touch = events["type"].eq("touch").to_numpy()
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
    is_stage = events["type"].eq("stage").to_numpy()
    unknown = sorted(set(events.loc[~is_stage, "name"].unique()) - known)
    if unknown:
        lines.append("note: event names outside the built-in vocabulary (kept, but the funnel and "
                     f"scoring only read names they know): {unknown[:8]}")
    lines += [f"warning: {note}" for note in notes]
    return "\n".join(lines)
