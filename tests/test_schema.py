"""Tests for the data contract in :mod:`nurturelab.schema`.

Every refused input is checked the same way: the :class:`ExportError` message names the file,
the column and the first offending rows (at most five, then ``(and N more)``), and the input
file is byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurturelab.paths import shared_data_dir
from nurturelab.schema import (
    CHANNELS,
    EVENT_TYPES,
    INTENTS,
    ColumnMap,
    ExportError,
    Problem,
    TableMap,
    normalise_labels,
    read_column_map,
    read_events,
    read_export,
    read_leads,
    summarize,
    validate_events,
    validate_leads,
)

UTC = "datetime64[ns, UTC]"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pattern(*parts: str) -> str:
    """A regex matching every literal part, in this order, anywhere in a (multi-line) message."""
    return "(?s)" + ".*".join(re.escape(p) for p in parts)


@contextmanager
def refused(paths, *parts: str):
    """Expect an ExportError whose message holds ``parts`` in order; the files stay unchanged."""
    paths = [Path(p) for p in (paths if isinstance(paths, list | tuple) else [paths])]
    before = {p: sha256(p) for p in paths}
    with pytest.raises(ExportError, match=pattern(*parts)) as info:
        yield info
    assert {p: sha256(p) for p in paths} == before, "a refused input file was modified"


def problem(info, column: str) -> Problem:
    found = [p for p in info.value.problems if p.column == column]
    assert len(found) == 1, info.value.problems
    return found[0]


def assert_first_five(info, column: str, count: int, where: list[str]) -> None:
    """The problem for ``column`` counts ``count`` rows, shows exactly the five ``where``."""
    p = problem(info, column)
    assert p.count == count
    assert list(p.where) == where
    assert len(p.values) == 5
    line = next(ln for ln in str(info.value).splitlines() if f"column '{column}'" in ln)
    assert len(re.findall(r"\b(?:line|row|index) \d+", line)) == 5, line
    assert line.endswith(f"(and {count - 5} more)"), line


def write_csv(path: Path, df: pd.DataFrame) -> Path:
    df.to_csv(path, index=False)
    return path


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def leads_frame(n: int = 8) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [f"L{i:02d}" for i in range(n)],
            "created_at": [f"2024-01-{i + 1:02d} 09:00" for i in range(n)],
            "source": ["paid_search", "web_form", "referral", "paid_search"] * (n // 4)
            + ["web_form"] * (n % 4),
            "industry": [f"ind{i}" for i in range(n)],
        }
    )


def events_frame(n: int = 8) -> pd.DataFrame:
    """One touch per lead, each a day after the lead came in."""
    return pd.DataFrame(
        {
            "lead_id": [f"L{i:02d}" for i in range(n)],
            "ts": [f"2024-01-{i + 2:02d} 10:00" for i in range(n)],
            "type": ["touch"] * n,
            "name": ["email"] * n,
        }
    )


@pytest.fixture
def leads_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "leads.csv", leads_frame())


@pytest.fixture
def leads(leads_csv) -> pd.DataFrame:
    return read_leads(leads_csv)


# --------------------------------------------------------------------------------------------
# 1. missing required columns
# --------------------------------------------------------------------------------------------
def test_leads_without_created_at_is_refused_and_suggests_the_column_map(tmp_path):
    path = write_csv(tmp_path / "leads.csv", leads_frame().drop(columns="created_at"))
    with refused(path, str(path), "column 'created_at'", "required column is missing",
                 "column map") as info:
        read_leads(path)
    assert info.value.file == str(path)
    assert [p.column for p in info.value.problems] == ["created_at"]


def test_events_without_type_is_refused_and_suggests_the_column_map(tmp_path, leads):
    path = write_csv(tmp_path / "events.csv", events_frame().drop(columns="type"))
    with refused(path, str(path), "column 'type'", "required column is missing",
                 "column map") as info:
        read_events(path, leads)
    assert [p.column for p in info.value.problems] == ["type"]


def test_missing_mapped_column_names_the_export_name(tmp_path):
    df = leads_frame().rename(columns={"lead_id": "mql_id"}).drop(columns="created_at")
    path = write_csv(tmp_path / "leads.csv", df)
    cmap = ColumnMap(leads=TableMap(columns={"lead_id": "mql_id", "created_at": "first_contact"}))
    with refused(path, str(path), "column 'created_at'",
                 "the column map expects it as 'first_contact'"):
        read_leads(path, cmap)


# --------------------------------------------------------------------------------------------
# 2. unparseable timestamps
# --------------------------------------------------------------------------------------------
def test_unparseable_created_at_is_refused(tmp_path):
    df = leads_frame()
    df.loc[1:7, "created_at"] = ["not a date", "2024-02-30", "yesterday", "2024-13-01",
                                 "12:00 tomorrow", "?", "2024-01-01 25:00"]
    path = write_csv(tmp_path / "leads.csv", df)
    with refused(path, str(path), "column 'created_at'", "not timestamps",
                 "line 3 'not a date'", "line 4 '2024-02-30'", "(and 2 more)") as info:
        read_leads(path)
    assert_first_five(info, "created_at", 7, [f"line {i}" for i in range(3, 8)])


def test_unparseable_ts_names_the_time_zone(tmp_path, leads):
    df = events_frame()
    df.loc[0, "ts"] = "soon"
    path = write_csv(tmp_path / "events.csv", df)
    cmap = ColumnMap(events=TableMap(timezone="America/Sao_Paulo"))
    with refused(path, str(path), "column 'ts'", "in time zone America/Sao_Paulo",
                 "1 row: line 2 'soon'"):
        read_events(path, leads, cmap)


# --------------------------------------------------------------------------------------------
# 3. duplicate lead ids
# --------------------------------------------------------------------------------------------
def test_duplicate_lead_id_is_refused(tmp_path):
    df = leads_frame(10)
    df.loc[3:9, "lead_id"] = "L00"  # 8 rows share L00
    path = write_csv(tmp_path / "leads.csv", df)
    with refused(path, str(path), "column 'lead_id'", "duplicate",
                 "line 2 'L00'", "line 5 'L00'", "(and 3 more)") as info:
        read_leads(path)
    assert_first_five(info, "lead_id", 8, ["line 2", "line 5", "line 6", "line 7", "line 8"])


# --------------------------------------------------------------------------------------------
# 4. events for unknown leads
# --------------------------------------------------------------------------------------------
def test_event_for_unknown_lead_names_the_leads_file(tmp_path, leads_csv):
    df = events_frame()
    df.loc[2:7, "lead_id"] = [f"X{i}" for i in range(6)]
    path = write_csv(tmp_path / "events.csv", df)
    with refused([leads_csv, path], str(path), "column 'lead_id'",
                 f"not in {leads_csv}", "line 4 'X0'", "line 8 'X4'", "(and 1 more)") as info:
        read_export(leads_csv, path)
    assert info.value.file == str(path)
    assert_first_five(info, "lead_id", 6, [f"line {i}" for i in range(4, 9)])


def test_read_events_names_the_given_leads_source(tmp_path, leads):
    df = events_frame(1)
    df.loc[0, "lead_id"] = "nobody"
    path = write_csv(tmp_path / "events.csv", df)
    with refused(path, str(path), "column 'lead_id'", "not in crm/leads.csv", "line 2 'nobody'"):
        read_events(path, leads, leads_source="crm/leads.csv")


# --------------------------------------------------------------------------------------------
# 5. events before their lead
# --------------------------------------------------------------------------------------------
def test_event_before_created_at_is_refused(tmp_path, leads):
    df = events_frame()
    df.loc[1:6, "ts"] = [f"2023-12-{d:02d} 10:00" for d in range(20, 26)]
    path = write_csv(tmp_path / "events.csv", df)
    with refused(path, str(path), "column 'ts'", "before their lead's created_at",
                 "line 3 'L01: 2023-12-20 10:00:00+00:00 < created_at 2024-01-02 09:00:00+00:00'",
                 "(and 1 more)") as info:
        read_events(path, leads)
    assert_first_five(info, "ts", 6, [f"line {i}" for i in range(3, 8)])


def test_event_at_created_at_is_accepted(tmp_path, leads):
    df = events_frame(1)
    df.loc[0, "ts"] = "2024-01-01 09:00"  # exactly when L00 came in
    ev = read_events(write_csv(tmp_path / "events.csv", df), leads)
    assert ev["ts"].iloc[0] == leads["created_at"].iloc[0]


# --------------------------------------------------------------------------------------------
# 6. unknown event type
# --------------------------------------------------------------------------------------------
def test_unknown_event_type_names_the_allowed_set(tmp_path, leads):
    df = events_frame()
    df.loc[1:7, "type"] = "Call"
    path = write_csv(tmp_path / "events.csv", df)
    allowed = "('touch', 'response', 'activity', 'stage')"
    with refused(path, str(path), "column 'type'", f"allowed set {allowed}",
                 "line 3 'call'", "(and 2 more)") as info:
        read_events(path, leads)
    assert_first_five(info, "type", 7, [f"line {i}" for i in range(3, 8)])


def test_unknown_event_type_in_parquet_names_rows(tmp_path, leads):
    df = events_frame()
    df.loc[[2, 5], "type"] = "call"
    path = tmp_path / "events.parquet"
    df.to_parquet(path, index=False)
    with refused(path, str(path), "column 'type'", "2 rows: row 2 'call', row 5 'call'"):
        read_events(path, leads)


# --------------------------------------------------------------------------------------------
# more column rules, one file each
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "column", "bad", "rule", "shown"),
    [
        ("leads", "fit", "high", "not numbers", "'high'"),
        ("leads", "fit", "1.5", "outside the range (0.0, 1.0)", "1.5"),
        ("leads", "intent", "urgent", "allowed set ('low', 'medium', 'high')", "'urgent'"),
        ("leads", "lead_id", "", "missing values where a value is required", "None"),
        ("events", "channel", "fax", "allowed set ('call', 'sms', 'email', 'web')", "'fax'"),
        ("events", "step", "-1", "values below 0", "-1"),
        ("events", "step", "1.5", "not whole numbers", "1.5"),
        ("events", "step", "first", "not numbers", "'first'"),
        ("events", "name", "", "missing values where a value is required", "None"),
        ("events", "personalisation", "AI", "allowed set ('token', 'context')", "'ai'"),
    ],
)
def test_column_rule_is_refused(tmp_path, leads, table, column, bad, rule, shown):
    df = leads_frame() if table == "leads" else events_frame()
    if column not in df.columns:
        df[column] = None
    df.loc[4, column] = bad
    path = write_csv(tmp_path / f"{table}.csv", df)
    with refused(path, str(path), f"column '{column}'", rule, f"1 row: line 6 {shown}") as info:
        if table == "leads":
            read_leads(path)
        else:
            read_events(path, leads)
    assert [p.column for p in info.value.problems] == [column]


def test_every_problem_is_reported_at_once(tmp_path):
    df = leads_frame()
    df.loc[2, "created_at"] = "never"
    df["fit"] = ["0.5", "0.5", "0.5", "lots", "0.5", "0.5", "0.5", "0.5"]
    path = write_csv(tmp_path / "leads.csv", df)
    with refused(path, str(path), "2 problem(s)", "column 'created_at'", "line 4 'never'",
                 "column 'fit'", "line 5 'lots'"):
        read_leads(path)


def test_missing_file_is_refused(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(ExportError, match=pattern(str(path), "no such file")):
        read_leads(path)


def test_column_map_renaming_onto_an_existing_column_is_refused(tmp_path):
    df = leads_frame().assign(mql_id=lambda d: d["lead_id"] + "x")
    path = write_csv(tmp_path / "leads.csv", df)
    cmap = ColumnMap(leads=TableMap(columns={"lead_id": "mql_id"}))
    with refused(path, str(path), "column 'lead_id'", "has one already"):
        read_leads(path, cmap)


# --------------------------------------------------------------------------------------------
# 7. empty files
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", ["leads", "events"])
def test_zero_byte_file_is_refused(tmp_path, leads, table):
    path = tmp_path / f"{table}.csv"
    path.write_bytes(b"")
    with refused(path, str(path), "is empty (0 bytes)"):
        read_leads(path) if table == "leads" else read_events(path, leads)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_header_only_file_is_refused(tmp_path, suffix):
    path = tmp_path / f"leads{suffix}"
    empty = leads_frame().iloc[:0]
    if suffix == ".csv":
        write_csv(path, empty)
        assert path.read_text().strip() == "lead_id,created_at,source,industry"
    else:
        empty.to_parquet(path, index=False)
    with refused(path, str(path), "has a header but no rows"):
        read_leads(path)


# --------------------------------------------------------------------------------------------
# 8. files that are not CSV or Parquet
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".xlsx", ".txt", ".json", ""])
def test_wrong_suffix_is_refused(tmp_path, suffix):
    path = tmp_path / f"leads{suffix}"
    write_csv(path, leads_frame())  # perfectly good CSV content, but the name says otherwise
    with refused(path, str(path), "is not a CSV or Parquet file", repr(suffix)):
        read_leads(path)


def test_parquet_holding_random_text_is_refused(tmp_path):
    path = tmp_path / "leads.parquet"
    rng = np.random.default_rng(7)
    words = rng.choice(["lorem", "ipsum", "dolor", "sit", "amet", "\n"], size=400)
    write_text(path, " ".join(words))
    with refused(path, str(path), "is not a readable Parquet file"):
        read_leads(path)


def test_parquet_holding_a_csv_is_refused(tmp_path):
    path = write_csv(tmp_path / "leads.parquet", leads_frame())
    with refused(path, str(path), "is not a readable Parquet file"):
        read_leads(path)


@pytest.mark.parametrize(
    "junk",
    [
        pytest.param(bytes(np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8)),
                     id="random-bytes"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01", id="png-header"),
        pytest.param(b"\x00" * 64, id="only-nul"),
        pytest.param("lead_id,created_at,source\nL1,2024-01-01,web\n".encode("utf-16"),
                     id="utf-16"),
        pytest.param(b"lead_id,created_at,source\nL1,2024-01-01,web\nL2\x00\xff,2024-01-02,web\n",
                     id="nul-and-bad-utf8-in-a-row"),
    ],
)
def test_csv_holding_binary_junk_is_refused(tmp_path, junk):
    path = tmp_path / "leads.csv"
    path.write_bytes(junk)
    with refused(path, str(path), "is not a readable CSV file"):
        read_leads(path)


def test_csv_with_a_nul_byte_inside_a_value_is_refused_not_truncated(tmp_path):
    # pandas' C parser silently cuts "L1\x00tail" to "L1": a changed id must not load.
    path = tmp_path / "leads.csv"
    path.write_bytes(b"lead_id,created_at,source\nL0,2024-01-01,web\nL1\x00tail,2024-01-01,web\n")
    with refused(path, str(path), "is not a readable CSV file", "NUL", "line 3"):
        read_leads(path)


# --------------------------------------------------------------------------------------------
# 9. all or nothing
# --------------------------------------------------------------------------------------------
def test_read_export_is_all_or_nothing(tmp_path, leads_csv):
    df = events_frame()
    df.loc[5, "type"] = "call"
    events_csv = write_csv(tmp_path / "events.csv", df)
    files = sorted(tmp_path.iterdir())
    result = "untouched"
    with refused([leads_csv, events_csv], str(events_csv), "column 'type'", "line 7 'call'"):
        result = read_export(leads_csv, events_csv)
    assert result == "untouched"
    assert sorted(tmp_path.iterdir()) == files  # nothing written beside the inputs


def test_read_export_refuses_bad_leads_before_reading_events(tmp_path):
    leads_csv = write_csv(tmp_path / "leads.csv", leads_frame().drop(columns="source"))
    events_csv = write_text(tmp_path / "events.csv", "")  # would be refused too
    with refused([leads_csv, events_csv], str(leads_csv), "column 'source'") as info:
        read_export(leads_csv, events_csv)
    assert info.value.file == str(leads_csv)


# --------------------------------------------------------------------------------------------
# good paths: column maps, time zones, values, labels
# --------------------------------------------------------------------------------------------
CRM_LEADS = (
    "Contact ID,Created,Origin,Temperature,industry\n"
    "007,2024-01-15 09:00, Paid Search,Hot,retail\n"
    "008,2024-01-15T09:00:00+02:00,,Cold,\n"
    "009,2024-01-15T09:00:00Z,Web-Form,warm ,00123\n"
)
CRM_EVENTS = (
    "Contact ID,When,Kind,What,Via,Step\n"
    "008,2024-01-16 08:00,Touch,Call Attempt,Call,0\n"
    "007,2024-01-15 10:00,Activity,Email Open,,\n"
    "009,2024-01-15 10:00,response,Reply,EMAIL,\n"
)
CRM_YAML = """\
leads:
  columns: {lead_id: Contact ID, created_at: Created, source: Origin, intent: Temperature}
  timezone: America/Sao_Paulo
  values: {intent: {Hot: high, warm: medium, Cold: low}}
events:
  columns: {lead_id: Contact ID, ts: When, type: Kind, name: What, channel: Via, step: Step}
  timezone: America/Sao_Paulo
"""
CRM_MAP = ColumnMap(
    leads=TableMap(
        columns={"lead_id": "Contact ID", "created_at": "Created", "source": "Origin",
                 "intent": "Temperature"},
        timezone="America/Sao_Paulo",
        values={"intent": {"Hot": "high", "warm": "medium", "Cold": "low"}},
    ),
    events=TableMap(
        columns={"lead_id": "Contact ID", "ts": "When", "type": "Kind", "name": "What",
                 "channel": "Via", "step": "Step"},
        timezone="America/Sao_Paulo",
    ),
)


@pytest.fixture
def crm(tmp_path):
    return write_text(tmp_path / "crm_leads.csv", CRM_LEADS), write_text(
        tmp_path / "crm_events.csv", CRM_EVENTS)


def test_column_map_object_maps_a_crm_export(crm):
    leads_csv, events_csv = crm
    out = read_export(leads_csv, events_csv, CRM_MAP)
    leads, events = out.leads, out.events
    assert list(leads.columns) == ["lead_id", "created_at", "source", "fit", "intent", "industry"]
    assert leads["lead_id"].tolist() == ["007", "008", "009"]
    assert leads["created_at"].tolist() == [
        pd.Timestamp("2024-01-15 12:00", tz="UTC"),  # naive, read in Sao Paulo (UTC-3)
        pd.Timestamp("2024-01-15 07:00", tz="UTC"),  # +02:00 honoured
        pd.Timestamp("2024-01-15 09:00", tz="UTC"),  # Z honoured
    ]
    assert leads["source"].astype(object).tolist() == ["paid_search", "unknown", "web_form"]
    assert leads["intent"].astype(object).tolist() == ["high", "low", "medium"]
    assert events["lead_id"].tolist() == ["007", "009", "008"]  # sorted by ts, ties in order
    assert events["ts"].tolist() == [
        pd.Timestamp("2024-01-15 13:00", tz="UTC"),
        pd.Timestamp("2024-01-15 13:00", tz="UTC"),
        pd.Timestamp("2024-01-16 11:00", tz="UTC"),
    ]
    assert events["type"].astype(object).tolist() == ["activity", "response", "touch"]
    assert events["name"].tolist() == ["email_open", "reply", "call_attempt"]
    assert events["channel"].astype(object).tolist()[1:] == ["email", "call"]
    assert pd.isna(events["channel"].iloc[0])
    assert events["step"].iloc[2] == 0 and events["step"].iloc[:2].isna().all()


def test_column_map_yaml_file_gives_the_same_tables(crm, tmp_path):
    leads_csv, events_csv = crm
    yaml_path = write_text(tmp_path / "map.yaml", CRM_YAML)
    assert read_column_map(yaml_path) == CRM_MAP
    by_file = read_export(leads_csv, events_csv, yaml_path)
    by_object = read_export(leads_csv, events_csv, CRM_MAP)
    pd.testing.assert_frame_equal(by_file.leads, by_object.leads)
    pd.testing.assert_frame_equal(by_file.events, by_object.events)
    assert read_leads(leads_csv, str(yaml_path))["intent"].notna().all()


@pytest.mark.parametrize(
    ("raw", "tz", "expected_utc"),
    [
        ("2024-01-15 09:00", "America/Sao_Paulo", "2024-01-15 12:00"),
        ("2024-01-15 09:00", "UTC", "2024-01-15 09:00"),
        ("2024-07-15 09:00", "Europe/Berlin", "2024-07-15 07:00"),
        ("2024-01-15T09:00:00+02:00", "America/Sao_Paulo", "2024-01-15 07:00"),
        ("2024-01-15T09:00:00-0300", "UTC", "2024-01-15 12:00"),
        ("2024-01-15T09:00:00Z", "America/Sao_Paulo", "2024-01-15 09:00"),
        ("2024-01-15 09:00:00-03", "Europe/Berlin", "2024-01-15 12:00"),  # PostgreSQL style
        ("2024-01-15 09:00 UTC", "America/Sao_Paulo", "2024-01-15 09:00"),
        ("2018-02-01", "America/Sao_Paulo", "2018-02-01 02:00"),  # date only, then DST (UTC-2)
        ("2024-03-31 02:30", "Europe/Berlin", "2024-03-31 01:00"),  # skipped hour: moved on
        ("2024-10-27 02:30", "Europe/Berlin", "2024-10-27 00:30"),  # repeated hour: first one
    ],
)
def test_timestamps_become_utc(raw, tz, expected_utc):
    df = pd.DataFrame({"lead_id": ["a"], "created_at": [raw], "source": ["web"]})
    out = validate_leads(df, columns=TableMap(timezone=tz))
    assert out["created_at"].iloc[0] == pd.Timestamp(expected_utc, tz="UTC")


def test_naive_and_offset_aware_timestamps_mixed_in_one_column(tmp_path):
    df = leads_frame(4)
    df["created_at"] = ["2024-01-15 09:00", "2024-01-15T09:00:00+02:00",
                        "2024-01-15T09:00:00-05:00", "2024-01-15 09:00:00 "]
    path = write_csv(tmp_path / "leads.csv", df)
    out = read_leads(path, ColumnMap(leads=TableMap(timezone="America/Sao_Paulo")))
    assert out["created_at"].dt.strftime("%H:%M").tolist() == ["12:00", "07:00", "14:00", "12:00"]


def test_datetime_columns_from_parquet_are_converted(tmp_path):
    df = leads_frame(2)
    naive = df.assign(created_at=pd.to_datetime(["2024-01-15 09:00", "2024-01-16 09:00"]))
    aware = naive.assign(created_at=naive["created_at"].dt.tz_localize("Europe/Berlin"))
    for name, frame in (("naive", naive), ("aware", aware)):
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    cmap = ColumnMap(leads=TableMap(timezone="America/Sao_Paulo"))
    assert read_leads(tmp_path / "naive.parquet", cmap)["created_at"].dt.hour.tolist() == [12, 12]
    assert read_leads(tmp_path / "aware.parquet", cmap)["created_at"].dt.hour.tolist() == [8, 8]


def test_values_mapping_is_applied_before_labels_are_normalised():
    df = pd.DataFrame({"lead_id": list("abcd"), "created_at": ["2024-01-01"] * 4,
                       "source": [" Ads ", "ads", "Partner", None],
                       "intent": ["Hot", " Warm", "cold", None]})
    tmap = TableMap(values={"intent": {"Hot": "high", "Warm": "Medium", "cold": "low"},
                            "source": {"Ads": "Paid Search"}})
    out = validate_leads(df, columns=tmap)
    assert out["intent"].astype(object).tolist()[:3] == ["high", "medium", "low"]
    assert pd.isna(out["intent"].iloc[3])
    # export values are matched trimmed but case-sensitively: "ads" is not "Ads"
    assert out["source"].astype(object).tolist() == ["paid_search", "ads", "partner", "unknown"]


def test_labels_are_normalised():
    df = pd.DataFrame({"lead_id": list("abcde"), "created_at": ["2024-01-01"] * 5,
                       "source": [" Paid Search", "", "  ", "Web-Form!!", "E-Mail / Newsletter"]})
    out = validate_leads(df)
    assert out["source"].astype(object).tolist() == [
        "paid_search", "unknown", "unknown", "web_form", "e_mail_newsletter"]


def test_normalise_labels_doctest_example():
    out = normalise_labels(pd.Series([" Paid Search", "web-form", "", None]))
    assert out.iloc[:2].tolist() == ["paid_search", "web_form"]
    assert out.iloc[2:].isna().all()


# --------------------------------------------------------------------------------------------
# good paths: dtypes, identifiers, extra and optional columns
# --------------------------------------------------------------------------------------------
def test_lead_dtypes(tmp_path):
    df = leads_frame().assign(fit=np.linspace(0, 1, 8), intent=["low", "High"] * 4)
    out = read_leads(write_csv(tmp_path / "leads.csv", df))
    assert str(out["created_at"].dtype) == UTC
    assert out["intent"].dtype == pd.CategoricalDtype(list(INTENTS), ordered=True)
    assert out["intent"].cat.ordered
    assert (out["intent"] > "medium").tolist() == [False, True] * 4
    assert (out["intent"] < "medium").tolist() == [True, False] * 4
    assert out["intent"].max() == "high"
    assert isinstance(out["source"].dtype, pd.CategoricalDtype)
    assert out["fit"].dtype == np.float64
    assert out["lead_id"].dtype == object
    assert all(type(v) is str for v in out["lead_id"])


def test_event_dtypes(tmp_path, leads):
    df = events_frame().assign(channel=["email", "sms", "call", "web"] * 2, step=range(8),
                               rep_id=[101, 102] * 4, arm=["a", "b"] * 4)
    out = read_events(write_csv(tmp_path / "events.csv", df), leads)
    assert str(out["ts"].dtype) == UTC
    assert out["type"].dtype == pd.CategoricalDtype(list(EVENT_TYPES))
    assert out["channel"].dtype == pd.CategoricalDtype(list(CHANNELS))
    assert out["step"].dtype == "Int64"
    assert out["step"].tolist() == list(range(8))
    assert out["rep_id"].tolist() == ["101", "102"] * 4
    assert all(type(v) is str for col in ("lead_id", "name", "rep_id", "arm") for v in out[col])


def test_numeric_looking_ids_stay_text(tmp_path):
    leads_csv = write_text(tmp_path / "leads.csv",
                           "lead_id,created_at,source\n007,2024-01-01,web\n1e3,2024-01-01,web\n"
                           "10,2024-01-01,web\n")
    events_csv = write_text(tmp_path / "events.csv",
                            "lead_id,ts,type,name,rep_id\n007,2024-01-02,touch,email,0042\n")
    out = read_export(leads_csv, events_csv)
    assert out.leads["lead_id"].tolist() == ["007", "1e3", "10"]
    assert all(type(v) is str for v in out.leads["lead_id"])
    assert out.events["lead_id"].tolist() == ["007"]
    assert out.events["rep_id"].tolist() == ["0042"]


def test_mapped_numeric_ids_stay_text(tmp_path):
    path = write_text(tmp_path / "leads.csv", "id,created_at,source\n007,2024-01-01,web\n")
    out = read_leads(path, ColumnMap(leads=TableMap(columns={"lead_id": "id"})))
    assert out["lead_id"].tolist() == ["007"]


def test_extra_columns_are_carried_through_untouched(tmp_path):
    df = leads_frame().assign(score=range(8), note=["Keep  Me, Too"] + [None] * 7)
    path = write_csv(tmp_path / "leads.csv", df)
    out = read_leads(path)
    assert list(out.columns)[-3:] == ["industry", "score", "note"]
    raw = pd.read_csv(path)
    for col in ("industry", "score", "note"):
        pd.testing.assert_series_equal(out[col], raw[col])


def test_optional_lead_columns_are_added_as_missing(leads):
    for col in ("fit", "intent"):
        assert col in leads.columns
        assert leads[col].isna().all()
    assert leads["intent"].dtype == pd.CategoricalDtype(list(INTENTS), ordered=True)


def test_optional_event_columns_are_added_as_missing(tmp_path, leads):
    out = read_events(write_csv(tmp_path / "events.csv", events_frame()), leads)
    assert list(out.columns) == ["lead_id", "ts", "type", "name", "channel", "step", "rep_id",
                                 "arm"]
    for col in ("channel", "step", "rep_id", "arm"):
        assert out[col].isna().all(), col
    assert out["channel"].dtype == pd.CategoricalDtype(list(CHANNELS))
    assert out["step"].dtype == "Int64"


# --------------------------------------------------------------------------------------------
# good paths: file formats
# --------------------------------------------------------------------------------------------
def full_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    leads = leads_frame().assign(fit=[0.1, None, 0.3, 0.4, 1.0, 0.0, None, 0.8],
                                 intent=["low", "medium", "high", None] * 2)
    events = events_frame().assign(channel=["email", None] * 4, step=[0, 1, None, 2] * 2,
                                   rep_id=["r1", "r2", None, "r1"] * 2, arm=["a", "b"] * 4)
    events["step"] = events["step"].astype("Int64")
    return leads, events


@pytest.mark.filterwarnings("error::FutureWarning")  # None vs nan
def test_csv_and_parquet_give_equal_frames(tmp_path):
    leads, events = full_tables()
    write_csv(tmp_path / "leads.csv", leads)
    write_csv(tmp_path / "events.csv", events)
    leads.to_parquet(tmp_path / "leads.parquet", index=False)
    events.to_parquet(tmp_path / "events.parquet", index=False)
    from_csv = read_export(tmp_path / "leads.csv", tmp_path / "events.csv")
    from_pq = read_export(tmp_path / "leads.parquet", tmp_path / "events.parquet")
    pd.testing.assert_frame_equal(from_csv.leads, from_pq.leads)
    pd.testing.assert_frame_equal(from_csv.events, from_pq.events)
    assert len(from_csv.leads) == 8 and len(from_csv.events) == 8


@pytest.mark.filterwarnings("error::FutureWarning")  # None vs nan
def test_validated_tables_survive_a_parquet_round_trip(tmp_path):
    leads, events = full_tables()
    first = read_export(write_csv(tmp_path / "leads.csv", leads),
                        write_csv(tmp_path / "events.csv", events))
    first.leads.to_parquet(tmp_path / "leads.parquet", index=False)
    first.events.to_parquet(tmp_path / "events.parquet", index=False)
    again = read_export(tmp_path / "leads.parquet", tmp_path / "events.parquet")
    pd.testing.assert_frame_equal(again.leads, first.leads)
    pd.testing.assert_frame_equal(again.events, first.events)


def test_gzipped_csv_is_read(tmp_path):
    leads, events = full_tables()
    plain = read_leads(write_csv(tmp_path / "leads.csv", leads))
    gz = tmp_path / "leads.csv.gz"
    leads.to_csv(gz, index=False)
    with gzip.open(gz, "rb") as fh:  # really compressed
        assert fh.read(7) == b"lead_id"
    pd.testing.assert_frame_equal(read_leads(gz), plain)
    events_gz = tmp_path / "EVENTS.CSV.GZ"
    events.to_csv(events_gz, index=False, compression="gzip")
    assert len(read_events(events_gz, plain)) == 8


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.zip"])
def test_compressed_csv_is_read_and_checked_for_nul_bytes(tmp_path, suffix):
    leads, _ = full_tables()
    plain = read_leads(write_csv(tmp_path / "leads.csv", leads))
    packed = tmp_path / f"leads{suffix}"
    leads.to_csv(packed, index=False)
    pd.testing.assert_frame_equal(read_leads(packed), plain)
    bad = tmp_path / f"bad{suffix}"
    leads.assign(source=["web\0x"] * 8).to_csv(bad, index=False)
    with refused(bad, str(bad), "is not a readable CSV file", "NUL byte on line 2"):
        read_leads(bad)


def test_corrupt_gzip_is_refused(tmp_path):
    path = tmp_path / "leads.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage that is not deflate data")
    with refused(path, str(path), "is not a readable CSV file"):
        read_leads(path)


# --------------------------------------------------------------------------------------------
# good paths: frames in memory
# --------------------------------------------------------------------------------------------
def test_validate_leads_does_not_mutate_its_input():
    raw = pd.DataFrame({"lead_id": [7, 8], "created_at": ["2024-01-15 09:00", "2024-01-16"],
                        "source": [" Paid Search", None], "intent": ["Hot", "low"]},
                       index=[10, 20])
    before = copy.deepcopy(raw)
    out = validate_leads(raw, columns=TableMap(values={"intent": {"Hot": "high"}}))
    pd.testing.assert_frame_equal(raw, before)
    assert out["lead_id"].tolist() == ["7", "8"]
    raw.loc[10, "source"] = "x"  # and the result shares nothing with the input
    assert out["source"].iloc[0] == "paid_search"


def test_validate_leads_does_not_mutate_its_input_when_refusing():
    raw = pd.DataFrame({"lead_id": ["a", "a"], "created_at": ["2024-01-15", "later"],
                        "source": ["Web", "Web"]})
    before = copy.deepcopy(raw)
    with pytest.raises(ExportError, match=pattern("crm", "column 'created_at'", "index 1")):
        validate_leads(raw, source="crm")
    pd.testing.assert_frame_equal(raw, before)


def test_validate_events_does_not_mutate_its_inputs(leads):
    raw = events_frame().iloc[::-1].assign(type=" Touch", channel="Email", step=1.0)
    before_events, before_leads = copy.deepcopy(raw), copy.deepcopy(leads)
    out = validate_events(raw, leads)
    pd.testing.assert_frame_equal(raw, before_events)
    pd.testing.assert_frame_equal(leads, before_leads)
    assert out["type"].astype(object).unique().tolist() == ["touch"]
    bad = raw.assign(lead_id="nobody")
    before_bad = copy.deepcopy(bad)
    with pytest.raises(ExportError, match=pattern("events", "column 'lead_id'", "not in leads")):
        validate_events(bad, leads)
    pd.testing.assert_frame_equal(bad, before_bad)


def test_events_are_sorted_by_ts_stably_with_a_range_index(leads):
    raw = pd.DataFrame(
        {"lead_id": ["L03", "L01", "L02", "L01", "L02", "L03"],
         "ts": ["2024-01-09", "2024-01-05", "2024-01-05", "2024-01-03", "2024-01-05",
                "2024-01-04T21:00:00-03:00"],  # same instant as the three 2024-01-05 rows
         "type": "touch",
         "name": ["n0", "n1", "n2", "n3", "n4", "n5"]},
        index=[50, 40, 30, 20, 10, 0],
    )
    out = validate_events(raw, leads)
    assert out["name"].tolist() == ["n3", "n1", "n2", "n4", "n5", "n0"]
    assert isinstance(out.index, pd.RangeIndex)
    assert out.index.equals(pd.RangeIndex(6))
    assert out["ts"].is_monotonic_increasing


def test_frame_errors_name_the_index(leads):
    raw = events_frame().assign(type=["call"] * 8)
    raw.index = [f"r{i}" for i in range(8)]
    with pytest.raises(ExportError, match=pattern("events", "index 'r0'", "(and 3 more)")):
        validate_events(raw, leads)


# --------------------------------------------------------------------------------------------
# column maps from YAML
# --------------------------------------------------------------------------------------------
def test_read_column_map_reads_sections(tmp_path):
    path = write_text(tmp_path / "map.yaml", "leads:\n  columns: {lead_id: mql_id}\n")
    cmap = read_column_map(path)
    assert cmap.leads.columns == {"lead_id": "mql_id"}
    assert cmap.leads.timezone == "UTC"
    assert cmap.events == TableMap()


def test_read_column_map_of_an_empty_file_maps_nothing(tmp_path):
    assert read_column_map(write_text(tmp_path / "map.yaml", "")) == ColumnMap()


def test_read_column_map_refuses_unknown_sections(tmp_path):
    path = write_text(tmp_path / "map.yaml", "leads: {}\ndeals:\n  columns: {a: b}\n")
    with pytest.raises(ValueError, match=pattern(str(path), "unknown section", "'deals'")):
        read_column_map(path)


def test_read_column_map_refuses_unknown_keys(tmp_path):
    path = write_text(tmp_path / "map.yaml", "events:\n  timezone: UTC\n  colums: {ts: when}\n")
    with pytest.raises(ValueError, match=pattern(str(path), "unknown key", "'colums'",
                                                 "in 'events'")):
        read_column_map(path)


def test_read_column_map_refuses_a_bad_timezone(tmp_path):
    path = write_text(tmp_path / "map.yaml", "leads:\n  timezone: Mars/Olympus_Mons\n")
    with pytest.raises(ValueError, match=pattern(str(path), "section 'leads'", "timezone",
                                                 "'Mars/Olympus_Mons'")):
        read_column_map(path)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("leads:\n  columns: [lead_id, mql_id]\n", "'columns' must be a mapping"),
        ("leads:\n  values: {intent: [Hot, high]}\n", "'intent'"),
        ("leads:\n  columns: {lead_id: x, source: x}\n", "several contract columns to ['x']"),
        ("- leads\n", "is a mapping"),
        ("leads: [1, 2]\n", "section 'leads' must be a mapping"),
        ("leads: {columns: {a: b}\n", "cannot read the column map"),
    ],
)
def test_read_column_map_refuses_malformed_maps(tmp_path, text, named):
    path = write_text(tmp_path / "map.yaml", text)
    with pytest.raises(ValueError, match=pattern(str(path), named)):
        read_column_map(path)


def test_table_map_refuses_a_bad_timezone_naming_it():
    with pytest.raises(ValueError, match=pattern("timezone", "'Nowhere/Land'")):
        TableMap(timezone="Nowhere/Land")


# --------------------------------------------------------------------------------------------
# summarize
# --------------------------------------------------------------------------------------------
def test_summarize_mentions_rows_sources_and_event_types(tmp_path):
    leads, events = full_tables()
    events.loc[[1, 3], "type"] = "activity"
    out = read_export(write_csv(tmp_path / "leads.csv", leads),
                      write_csv(tmp_path / "events.csv", events))
    text = summarize(out.leads, out.events)
    assert re.search(r"^leads\s+8 rows", text, re.M)
    assert re.search(r"^events\s+8 rows", text, re.M)
    assert "2024-01-01 09:00 .. 2024-01-08 09:00 UTC" in text
    assert re.search(r"^sources:.*paid_search 4", text, re.M)
    for part in ("web_form 2", "referral 2", "touch 6", "activity 2", "email 8",
                 "missing 2", "(missing) 2"):
        assert part in text, part
    assert re.search(r"^event types:.*touch 6.*activity 2", text, re.M)


# --------------------------------------------------------------------------------------------
# property: label normalisation
# --------------------------------------------------------------------------------------------
LABEL = re.compile(r"[0-9a-z]+(?:_[0-9a-z]+)*")


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12),
                          st.text(alphabet=" -_./AbZ09É", max_size=12)), max_size=12))
def test_normalise_labels_is_idempotent_and_snake_case(values):
    raw = pd.Series(values, dtype=object)
    once = normalise_labels(raw)
    twice = normalise_labels(once)
    pd.testing.assert_series_equal(once, twice)
    assert len(once) == len(raw) and once.index.equals(raw.index)
    for before, after in zip(values, once, strict=True):
        assert pd.isna(after) or LABEL.fullmatch(after), (before, after)
        if before is None:
            assert pd.isna(after)
    pd.testing.assert_series_equal(raw, pd.Series(values, dtype=object))  # input untouched


# --------------------------------------------------------------------------------------------
# the real public data (Olist marketing funnel), read in place and never copied
# --------------------------------------------------------------------------------------------
OLIST = shared_data_dir() / "olist"
OLIST_LEADS = OLIST / "olist_marketing_qualified_leads_dataset.csv"
OLIST_DEALS = OLIST / "olist_closed_deals_dataset.csv"
needs_olist = pytest.mark.skipif(
    not (OLIST_LEADS.is_file() and OLIST_DEALS.is_file()),
    reason=f"the public Olist data is not present at {OLIST} (set NURTURELAB_SHARED_DATA)",
)
OLIST_MAP = ColumnMap(
    leads=TableMap(columns={"lead_id": "mql_id", "created_at": "first_contact_date",
                            "source": "origin"}, timezone="America/Sao_Paulo"),
    events=TableMap(timezone="America/Sao_Paulo"),
)


@pytest.fixture(scope="module")
def olist_leads() -> pd.DataFrame:
    return read_leads(OLIST_LEADS, OLIST_MAP)


@needs_olist
def test_olist_leads_load(olist_leads):
    assert len(olist_leads) == 8000
    assert olist_leads["lead_id"].is_unique
    assert str(olist_leads["created_at"].dtype) == UTC
    assert olist_leads["created_at"].min() == pd.Timestamp("2017-06-14 03:00", tz="UTC")
    assert {"organic_search", "paid_search", "social", "email", "unknown"} <= set(
        olist_leads["source"].cat.categories)
    assert "landing_page_id" in olist_leads.columns


@needs_olist
def test_olist_won_before_first_contact_is_refused(olist_leads):
    deals = pd.read_csv(OLIST_DEALS, dtype=str)
    events = pd.DataFrame({"lead_id": deals["mql_id"], "ts": deals["won_date"], "type": "stage",
                           "name": "won", "rep_id": deals["sdr_id"]})
    assert len(events) == 842
    with pytest.raises(ExportError, match=pattern(str(OLIST_DEALS), "column 'ts'",
                                                  "before their lead's created_at",
                                                  "1 row", "'b91cf881")) as info:
        validate_events(events, olist_leads, columns=OLIST_MAP.events, source=str(OLIST_DEALS),
                        leads_source=str(OLIST_LEADS))
    (p,) = info.value.problems
    assert p.count == 1 and p.values[0].startswith("'b91cf881")
    # and every other deal is fine
    ok = validate_events(events[~events["lead_id"].str.startswith("b91cf881")], olist_leads,
                         columns=OLIST_MAP.events)
    assert len(ok) == 841


def test_column_map_constants_fill_columns_the_export_lacks(tmp_path):
    """A file of won deals has no type or name: the map sets them for every row."""
    leads = pd.DataFrame({"mql_id": ["a", "b"], "first": ["2024-01-02", "2024-01-03"],
                          "origin": ["web", "ads"]})
    deals = pd.DataFrame({"mql_id": ["b"], "won_date": ["2024-02-01 10:00"]})
    lf, ef = tmp_path / "l.csv", tmp_path / "e.csv"
    leads.to_csv(lf, index=False)
    deals.to_csv(ef, index=False)
    cmap = tmp_path / "map.yaml"
    cmap.write_text(
        "leads:\n  columns: {lead_id: mql_id, created_at: first, source: origin}\n"
        "events:\n  columns: {lead_id: mql_id, ts: won_date}\n"
        "  constants: {type: stage, name: won}\n"
    )
    _, events = read_export(lf, ef, cmap)
    assert events[["lead_id", "type", "name"]].astype(str).values.tolist() == [["b", "stage",
                                                                                "won"]]
    clash = deals.assign(type="touch")
    clash.to_csv(ef, index=False)
    with pytest.raises(ExportError, match="sets this column to a constant"):
        read_export(lf, ef, cmap)


def test_offending_rows_are_listed_in_file_order(tmp_path):
    n = 12
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)],
                          "created_at": ["2024-01-01"] * n, "source": ["web"] * n})
    events = pd.DataFrame({"lead_id": leads["lead_id"], "ts": ["2024-01-02"] * n,
                           "type": ["touch"] * n, "name": ["sms"] * n, "channel": ["fax"] * n})
    lf, ef = tmp_path / "l.csv", tmp_path / "e.csv"
    leads.to_csv(lf, index=False)
    events.to_csv(ef, index=False)
    with pytest.raises(ExportError) as exc:
        read_export(lf, ef)
    assert exc.value.problems[0].where == ("line 2", "line 3", "line 4", "line 5", "line 6")


# --------------------------------------------------------------------------------------------
# touch details: content and personalisation, validated when present, never added
# --------------------------------------------------------------------------------------------
def test_content_and_personalisation_are_validated_when_present(tmp_path, leads):
    df = events_frame().assign(
        content=["Intro", "pricing objection", None, "next_step"] * 2,
        personalisation=["Context", "token", None, "TOKEN"] * 2)
    out = read_events(write_csv(tmp_path / "events.csv", df), leads)
    assert list(out.columns)[-2:] == ["content", "personalisation"]
    got = out[["content", "personalisation"]].astype(object)
    assert got.where(got.notna(), None).to_numpy().tolist()[:4] == [
        ["intro", "context"], ["pricing_objection", "token"], [None, None],
        ["next_step", "token"]]
    assert out["personalisation"].dtype == pd.CategoricalDtype(["token", "context"])
    text = summarize(leads, out)
    line = next(ln for ln in text.splitlines() if ln.startswith("touch content: "))
    assert set(line[len("touch content: "):].split(", ")) == {
        "intro 2", "pricing_objection 2", "next_step 2", "(missing) 2"}
    assert "personalisation: token 4, context 2, (missing) 2" in text
    # an export without them stays without them
    plain = read_events(write_csv(tmp_path / "plain.csv", events_frame()), leads)
    assert "content" not in plain.columns and "personalisation" not in plain.columns
    assert "personalisation:" not in summarize(leads, plain)


def test_personalisation_outside_the_set_names_file_column_and_rows(tmp_path, leads):
    df = events_frame().assign(personalisation=["token", "ai", "context", "bespoke"] * 2)
    path = write_csv(tmp_path / "events.csv", df)
    with refused(path, str(path), "column 'personalisation'",
                 "values outside the allowed set ('token', 'context')",
                 "4 rows: line 3 'ai', line 5 'bespoke', line 7 'ai', line 9 'bespoke'"):
        read_events(path, leads)


def test_column_map_maps_touch_details(tmp_path, leads):
    df = events_frame().assign(template=["Intro"] * 8, style=["Personalised", "Merge"] * 4)
    path = write_csv(tmp_path / "events.csv", df)
    cmap = ColumnMap(events=TableMap(
        columns={"content": "template", "personalisation": "style"},
        values={"personalisation": {"Personalised": "context", "Merge": "token"}}))
    out = read_events(path, leads, cmap)
    assert out["content"].eq("intro").all()
    assert out["personalisation"].astype(object).tolist() == ["context", "token"] * 4
    filled = read_events(write_csv(tmp_path / "e2.csv", events_frame()), leads,
                         ColumnMap(events=TableMap(constants={"personalisation": "token"})))
    assert filled["personalisation"].eq("token").all()


def test_a_column_map_key_given_twice_is_refused(tmp_path):
    from nurturelab.schema import read_column_map

    path = tmp_path / "map.yaml"
    path.write_text("leads:\n  columns: {lead_id: a, lead_id: b}\n")
    with pytest.raises(ValueError, match=r"map.yaml.*key 'lead_id' is given twice"):
        read_column_map(path)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_column_map(empty).leads.columns == {}


# --------------------------------------------------------------------------------------------
# issue 13: nothing misread — timestamps, headers, column maps, line numbers, long values
# --------------------------------------------------------------------------------------------
def _one_lead_per_time(tmp_path, times: list[str]) -> Path:
    df = pd.DataFrame({"lead_id": [f"L{i}" for i in range(len(times))], "created_at": times,
                       "source": "web"})
    return write_csv(tmp_path / "leads.csv", df)


def test_day_month_order_is_never_guessed(tmp_path):
    """format="mixed" read 01/09/2026 as 9 January beside 13/09/2026 as 13 September."""
    path = _one_lead_per_time(tmp_path, ["2026-09-02 10:00", "01/09/2026 10:00",
                                         "13/09/2026 10:00"])
    with refused(path, str(path), "column 'created_at'", "not timestamps", "ISO 8601",
                 "'format'", "'dayfirst'", "2 rows: line 3 '01/09/2026 10:00', "
                 "line 4 '13/09/2026 10:00'"):
        read_leads(path)


@pytest.mark.parametrize("how", [{"dayfirst": True}, {"format": "%d/%m/%Y %H:%M"}])
def test_a_declared_day_first_form_is_read_as_declared(tmp_path, how):
    path = _one_lead_per_time(tmp_path, ["2026-09-02 10:00", "01/09/2026 10:00",
                                         "13/09/2026 10:00"])
    out = read_leads(path, ColumnMap(leads=TableMap(**how)))
    assert out["created_at"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2026-09-02 10:00", "2026-09-01 10:00", "2026-09-13 10:00"]


def test_month_first_refuses_a_thirteenth_month_naming_its_line(tmp_path):
    path = _one_lead_per_time(tmp_path, ["01/09/2026", "13/09/2026"])
    cmap = ColumnMap(leads=TableMap(dayfirst=False, timezone="America/New_York"))
    with refused(path, str(path), "column 'created_at'", "in time zone America/New_York",
                 "month/day/year", "1 row: line 3 '13/09/2026'"):
        read_leads(path, cmap)
    path = _one_lead_per_time(tmp_path, ["01/09/2026"])
    out = read_leads(path, cmap)  # 9 January, midnight in New York
    assert out["created_at"].iloc[0] == pd.Timestamp("2026-01-09 05:00", tz="UTC")


def test_a_zone_abbreviation_is_refused_unless_mapped(tmp_path):
    """2026-01-05 10:00 EST lost its zone and was read as 10:00 UTC."""
    path = _one_lead_per_time(tmp_path, ["2026-01-05 10:00", "2026-01-05 10:00 EST",
                                         "2026-07-06 10:00 CEST"])
    with refused(path, str(path), "column 'created_at'", "zone abbreviation (CEST, EST)",
                 "zones", "2 rows: line 3 '2026-01-05 10:00 EST', line 4"):
        read_leads(path)
    out = read_leads(path, ColumnMap(leads=TableMap(zones={"EST": "-05:00",
                                                           "CEST": "Europe/Berlin"})))
    assert out["created_at"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2026-01-05 10:00", "2026-01-05 15:00", "2026-07-06 08:00"]
    by_zone = read_leads(path, ColumnMap(leads=TableMap(zones={"est": "America/New_York",
                                                               "CEST": "+02:00"})))
    pd.testing.assert_frame_equal(by_zone, out)


def test_offsets_utc_and_fractions_are_still_read(tmp_path):
    path = _one_lead_per_time(tmp_path, ["2026-01-05T10:00:00.250Z", "2026-01-05 10:00 GMT",
                                         "2026-01-05 10:00:00 +02:00", "2026-01-05T10:00+0530",
                                         " 2026-01-05 "])
    out = read_leads(path)
    assert out["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist() == [
        "2026-01-05 10:00:00.250000", "2026-01-05 10:00:00.000000",
        "2026-01-05 08:00:00.000000", "2026-01-05 04:30:00.000000",
        "2026-01-05 00:00:00.000000"]


def test_timestamps_after_the_file_was_written_are_reported(tmp_path):
    """An event dated 2099 passed silently, and the report then picked week 2098-W52."""
    from nurturelab.schema import ExportWarning

    leads_csv = write_csv(tmp_path / "leads.csv", leads_frame())
    df = events_frame()
    df.loc[6, "ts"] = "2099-01-07 10:00"
    events_csv = write_csv(tmp_path / "events.csv", df)
    with pytest.warns(ExportWarning, match=pattern(str(events_csv), "column 'ts'",
                                                    "after the file was written",
                                                    "1 row: line 8 '2099-01-07 10:00'")):
        export = read_export(leads_csv, events_csv)
    (note,) = export.notes
    assert note.file == str(events_csv) and note.problem.where == ("line 8",)
    assert export.events["ts"].max() == pd.Timestamp("2099-01-07 10:00", tz="UTC")
    leads, events = export  # still unpacks as two tables
    assert "warning: " + str(note) in summarize(leads, events, export.notes)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportWarning)  # a caller may refuse it
        with pytest.raises(ExportWarning):
            read_events(events_csv, leads)


def test_validate_prints_a_warning_line_for_late_timestamps(tmp_path, capsys):
    from nurturelab.cli import main

    leads_csv = write_csv(tmp_path / "leads.csv", leads_frame())
    df = events_frame()
    df.loc[2, "ts"] = "2099-01-03 10:00"
    events_csv = write_csv(tmp_path / "events.csv", df)
    assert main(["validate", "--leads", str(leads_csv), "--events", str(events_csv)]) == 0
    out, err = capsys.readouterr()
    (line,) = [ln for ln in out.splitlines() if ln.startswith("warning: ")]
    assert line.startswith(f"warning: {events_csv}: column 'ts': timestamps after the file was "
                           "written")
    assert line.endswith("1 row: line 4 '2099-01-03 10:00'")
    assert "ExportWarning" not in err


def test_simulated_tables_are_not_checked_against_the_clock(tmp_path):
    from nurturelab.scenario import write_tables
    from nurturelab.simulation import World, simulate

    res = simulate(World(leads=20, start="2098-12-28"), 1)
    write_tables(res, tmp_path)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export = read_export(tmp_path / "leads.parquet", tmp_path / "events.parquet")
    assert export.notes == () and export.leads["created_at"].min().year == 2098
    again = tmp_path / "copy.parquet"
    export.leads.to_parquet(again)  # written by anyone else: checked
    with pytest.warns(UserWarning, match="after the file was written"):
        read_leads(again)


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    """Duplicate header names became source.1 and loaded."""
    path = write_text(tmp_path / "leads.csv", "lead_id,created_at,source,fit,source\n"
                                              "L1,2026-01-05,web,0.5,paid_search\n")
    with refused(path, str(path), "column 'source'", "names this column 2 times (columns 3 "
                 "and 5)"):
        read_leads(path)
    pq = tmp_path / "leads.parquet"
    import pyarrow as pa
    import pyarrow.parquet as papq
    papq.write_table(pa.table([["L1"], ["2026-01-05"], ["web"], ["web"]],
                              names=["lead_id", "created_at", "source", "source"]), pq)
    with refused(pq, str(pq), "column 'source'", "2 times"):
        read_leads(pq)
    frame = pd.DataFrame([["L1", "2026-01-05", "web", "x"]],
                         columns=["lead_id", "created_at", "source", "source"])
    with pytest.raises(ExportError, match="column 'source': the table has several columns"):
        validate_leads(frame)


def test_a_column_map_naming_a_column_the_file_lacks_is_refused(tmp_path):
    path = write_csv(tmp_path / "leads.csv", leads_frame())
    for columns in ({"fit": "score"}, {"lead_id": "mql_id"}):
        cmap = ColumnMap(leads=TableMap(columns=columns))
        (contract, export), = columns.items()
        with refused(path, str(path), f"column '{contract}'",
                     f"reads it from column '{export}', which the file lacks", "the file has"):
            read_leads(path, cmap)
    cmap = ColumnMap(leads=TableMap(values={"industry": {"Retail": "retail"}}))
    with refused(path, str(path), "column 'industry'", "values are mapped in the label columns"):
        read_leads(path, cmap)


def test_read_column_map_reads_the_timestamp_keys_and_refuses_bad_ones(tmp_path):
    path = write_text(tmp_path / "map.yaml",
                      "leads:\n  format: '%d/%m/%Y %H:%M'\n  zones: {BRT: America/Sao_Paulo}\n"
                      "events:\n  dayfirst: true\n")
    cmap = read_column_map(path)
    assert cmap.leads.format == "%d/%m/%Y %H:%M" and cmap.leads.zones == {
        "BRT": "America/Sao_Paulo"}
    assert cmap.events.dayfirst is True
    for body, named in [("format: '%d/%m/%Y'\n  dayfirst: true", "'format' or 'dayfirst'"),
                        ("format: 'day/month'", "'format' must be a strptime format"),
                        ("dayfirst: 'yes'", "'dayfirst' must be true or false"),
                        ("zones: {EST: Eastern}", "Got 'Eastern' for 'EST'"),
                        ("zones: {UTC: '+01:00'}", "'zones' keys must be zone abbreviations"),
                        ("formats: '%d'", "unknown key(s) ['formats']")]:
        bad = write_text(tmp_path / "bad.yaml", f"leads:\n  {body}\n")
        with pytest.raises(ValueError, match=pattern(str(bad), named)):
            read_column_map(bad)


def test_line_numbers_count_multi_line_values_and_blank_lines(tmp_path):
    """Lines were index + 2, wrong after a quoted value spanning lines and after blank lines."""
    path = write_text(tmp_path / "leads.csv",
                      'lead_id,created_at,source,note\n'
                      'L1,2026-01-05,web,"two\nlines"\n'
                      '\n'
                      'L2,2026-01-05,web,"three\n\nlines"\n'
                      'L3,yesterday,web,\n')
    with refused(path, str(path), "column 'created_at'", "1 row: line 8 'yesterday'"):
        read_leads(path)
    gz = tmp_path / "leads.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with refused(gz, str(gz), "1 row: line 8 'yesterday'"):
        read_leads(gz)
    plain = write_text(tmp_path / "plain.csv", "lead_id,created_at,source\nL1,2026-01-05,web\n"
                                               "L2,soon,web")  # no newline at the end
    with refused(plain, str(plain), "1 row: line 3 'soon'"):
        read_leads(plain)


def test_long_values_are_cut_in_messages(tmp_path):
    path = _one_lead_per_time(tmp_path, ["2026-01-05", "x" * 100_000])
    with refused(path, str(path), "line 3 'xxxxx", "(100,002 characters)") as info:
        read_leads(path)
    assert len(str(info.value)) < 1_000


def test_a_column_map_of_nested_aliases_is_refused_quickly(tmp_path):
    """A 530-byte column map of aliases took 5 GB and minutes before a MemoryError."""
    lines = ["leads:", "  constants:", "    a: &a [" + ", ".join(["lol"] * 9) + "]"]
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"    {name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines.append("  values: {intent: *g}")
    path = write_text(tmp_path / "map.yaml", "\n".join(lines) + "\n")
    assert path.stat().st_size < 600
    with pytest.raises(ValueError, match=pattern(str(path), "aliases expand to more than")) as e:
        read_column_map(path)
    assert len(str(e.value)) < 1_000


def test_rows_of_unequal_length_are_still_read_and_named(tmp_path):
    """Arrow refuses a short row; pandas reads it (its missing values are then refused)."""
    path = write_text(tmp_path / "leads.csv", "lead_id,created_at,source\nL1,2026-01-05,web\n"
                                              "\nL2\n")
    with refused(path, str(path), "column 'created_at'", "missing values",
                 "1 row: line 4 None"):
        read_leads(path)


def test_an_export_pickles_with_its_notes(tmp_path):
    import pickle

    from nurturelab.schema import Export, ExportWarning

    note = ExportWarning("f.csv", Problem("ts", "late"))
    export = Export(pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [2]}), [note])
    again = pickle.loads(pickle.dumps(export))
    assert [str(n) for n in again.notes] == ["f.csv: column 'ts': late"]
    leads, events = again
    assert leads["a"].tolist() == [1]
