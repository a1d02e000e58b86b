"""The Olist loader: the README's facts, the one reported data error, and the loader's rules.

The real data is read in place from ``paths.shared_data_dir() / "olist"`` and never copied;
those tests skip where it is absent. The rules are also checked on tiny hand-made files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nurturelab.funnel import outcomes
from nurturelab.olist import DEAL_COLUMNS, DEALS_FILE, MQL_FILE, OlistExport, load_olist
from nurturelab.paths import shared_data_dir
from nurturelab.schema import ExportError

OLIST = shared_data_dir() / "olist"
needs_olist = pytest.mark.skipif(
    not ((OLIST / MQL_FILE).is_file() and (OLIST / DEALS_FILE).is_file()),
    reason=f"the public Olist data is not present at {OLIST} (it is kept out of the "
           "repository by its licence; set NURTURELAB_SHARED_DATA to a folder holding olist/)",
)
BAD_DEAL = "b91cf8812365f50ff4bda4bcd6206b05"


@pytest.fixture(scope="module")
def olist() -> OlistExport:
    return load_olist()


@pytest.fixture(scope="module")
def raw_days() -> pd.Series:
    """Days from first contact to win straight from the files, naive, as the README counts."""
    mql = pd.read_csv(OLIST / MQL_FILE)
    deals = pd.read_csv(OLIST / DEALS_FILE)
    both = deals.merge(mql, on="mql_id", validate="one_to_one")
    days = (pd.to_datetime(both["won_date"]) - pd.to_datetime(both["first_contact_date"]))
    return (days / pd.Timedelta(days=1)).set_axis(both["mql_id"])


# --------------------------------------------------------------------------------------------
# the README's facts
# --------------------------------------------------------------------------------------------
@needs_olist
def test_counts_match_the_readme(olist):
    leads, events, problems = olist
    assert len(leads) == 8000 and leads["lead_id"].is_unique
    assert str(leads["created_at"].dtype) == "datetime64[ns, UTC]"
    # 842 closed deals: 841 loaded as won stage events, 1 reported
    assert leads["seller_id"].notna().sum() == 842
    assert len(events) == 841
    assert events["type"].astype(str).eq("stage").all() and events["name"].eq("won").all()
    assert events["rep_id"].notna().all()
    assert len(problems) == 1
    assert (leads["seller_id"].isna()).sum() == 7158  # never closed
    assert "landing_page_id" in leads.columns and set(DEAL_COLUMNS) <= set(leads.columns)


@needs_olist
def test_the_deal_won_before_first_contact_is_reported_not_hidden(olist):
    (row,) = olist.problems.to_dict("records")
    assert row["lead_id"] == BAD_DEAL
    assert row["column"] == "ts" and row["rule"] == "events before their lead's created_at"
    assert row["value"] == "2018-03-06 19:38:55"
    assert row["where"] == f"line 669 of {DEALS_FILE}"
    assert "won 1.18 days before first contact" in row["detail"]
    # dropped from the events only: the lead stays, with its deal columns
    assert BAD_DEAL not in set(olist.events["lead_id"])
    lead = olist.leads.set_index("lead_id").loc[BAD_DEAL]
    assert lead["source"] == "organic_search" and lead["business_segment"] == "health_beauty"
    text = str(olist)
    for part in ("8,000 leads", "closed deals 842", "841 loaded", "1 refused", "never closed 7,158",
                 BAD_DEAL, "1.18 days before first contact", "line 669"):
        assert part in text
    assert repr(olist) == "OlistExport(leads=8,000 rows, events=841 rows, problems=1 rows)"


@needs_olist
def test_conversion_by_origin(olist):
    """README counts 842 won. In the loaded data the reported deal is not a conversion (its
    event is refused), so organic_search has 270 there; 271 with the reported deal counted."""
    out = outcomes(olist.leads, olist.events)
    by = out[["converted"]].join(olist.leads.set_index("lead_id")[["source", "seller_id"]])
    by["closed"] = by["seller_id"].notna()
    g = by.groupby("source", observed=True).agg(n=("converted", "size"),
                                                loaded=("converted", "sum"),
                                                closed=("closed", "sum"))
    readme = {"organic_search": (271, 2296), "paid_search": (195, 1586), "social": (75, 1350),
              "email": (15, 493)}
    for source, (won, n) in readme.items():
        assert g.loc[source, "n"] == n
        assert g.loc[source, "closed"] == won
        assert g.loc[source, "loaded"] == won - (source == "organic_search")
    assert int(by["converted"].sum()) == 841 and int(by["closed"].sum()) == 842
    # censored in the loaded data: the 7,158 that never closed plus the refused deal's lead
    assert int(out["censored"].sum()) == 7159


@needs_olist
def test_time_to_win_readme_figures_and_what_loading_changes(olist, raw_days):
    # the README's figures, over the 842 raw deals with naive dates and times
    assert len(raw_days) == 842
    assert raw_days.median() == pytest.approx(14.65, abs=0.005)
    assert raw_days.mean() == pytest.approx(49.10, abs=0.005)
    assert raw_days.max() == pytest.approx(427.6, abs=0.05)
    assert raw_days.min() == pytest.approx(-1.18, abs=0.005)
    assert raw_days.idxmin() == BAD_DEAL

    # loaded: 841 deals (the refused one is gone) in UTC, both files read in Sao Paulo time
    created = olist.leads.set_index("lead_id")["created_at"]
    ev = olist.events.set_index("lead_id")
    loaded = (ev["ts"] - created.reindex(ev.index)) / pd.Timedelta(days=1)
    assert loaded.median() == pytest.approx(14.722, abs=0.001)
    assert loaded.mean() == pytest.approx(49.168, abs=0.001)
    assert loaded.max() == pytest.approx(427.55, abs=0.005)
    assert loaded.min() > 0
    # dropping the -1.18-day deal alone moves median 14.651 -> 14.722 and mean 49.101 -> 49.161
    kept = raw_days.drop(BAD_DEAL)
    assert kept.median() == pytest.approx(loaded.median(), abs=1e-9)
    assert kept.mean() == pytest.approx(49.161, abs=0.001)
    # the rest is Brazilian summer time: a first-contact date (midnight local) inside DST
    # (UTC-2) and a win after it ended (UTC-3) is one hour longer than the naive difference
    shift_hours = ((loaded - kept.reindex(loaded.index)) * 24).round(6)
    assert shift_hours.value_counts().to_dict() == {0.0: 690, 1.0: 147, -1.0: 4}
    # first_contact_date is a date only: midnight in Sao Paulo is 02:00 or 03:00 UTC
    assert set(created.dt.strftime("%H:%M")) == {"02:00", "03:00"}


# --------------------------------------------------------------------------------------------
# the loader's rules, on tiny hand-made files (no real data needed)
# --------------------------------------------------------------------------------------------
def _write(folder, mql_rows, deal_rows):
    mql = pd.DataFrame(mql_rows, columns=["mql_id", "first_contact_date", "landing_page_id",
                                          "origin"])
    cols = ["mql_id", "seller_id", "sdr_id", "sr_id", "won_date", *DEAL_COLUMNS[2:]]
    deals = pd.DataFrame([r + [np.nan] * (len(cols) - len(r)) for r in deal_rows], columns=cols)
    mql.to_csv(folder / MQL_FILE, index=False)
    deals.to_csv(folder / DEALS_FILE, index=False)


MQL = [["m1", "2018-01-10", "p1", "social"], ["m2", "2018-01-11", "p2", ""],
       ["m3", "2018-01-12", "p1", "email"]]


def test_missing_folder_names_the_path_and_the_licence(tmp_path):
    where = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=r"nowhere does not exist.*licence"):
        load_olist(where)
    _write(tmp_path, MQL, [])
    (tmp_path / DEALS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=rf"lacks \['{DEALS_FILE}'\].*licence"):
        load_olist(tmp_path)


def test_relational_problems_are_reported_and_only_those_rows_dropped(tmp_path):
    _write(tmp_path, MQL, [
        ["m1", "s1", "sdr1", "sr1", "2018-01-20 10:00:00", "pet"],
        ["m2", "s2", "sdr1", "sr2", "2018-01-10 12:00:00", "toys"],   # a day before contact
        ["zz", "s3", "sdr2", "sr1", "2018-02-01 09:00:00", "car"],    # no such lead
    ])
    leads, events, problems = load_olist(tmp_path)
    assert events["lead_id"].tolist() == ["m1"]
    assert events["ts"].tolist() == [pd.Timestamp("2018-01-20 12:00", tz="UTC")]  # UTC-2 (DST)
    assert problems[["lead_id", "column", "where"]].values.tolist() == [
        ["m2", "ts", f"line 3 of {DEALS_FILE}"],
        ["zz", "lead_id", f"line 4 of {DEALS_FILE}"],
    ]
    assert problems.loc[0, "value"] == "2018-01-10 12:00:00"
    assert "won 0.50 days before first contact" in problems.loc[0, "detail"]
    assert leads["source"].astype(str).tolist() == ["social", "unknown", "email"]
    assert leads["business_segment"].tolist()[:2] == ["pet", "toys"]
    assert pd.isna(leads["seller_id"].iloc[2])


def test_other_problems_refuse_the_file_as_the_strict_loader_does(tmp_path):
    _write(tmp_path, MQL, [["m1", "s1", "sdr1", "sr1", "not a date", "pet"]])
    with pytest.raises(ExportError, match="column 'ts': values that are not timestamps"):
        load_olist(tmp_path)


def test_clean_files_have_no_problems(tmp_path):
    _write(tmp_path, MQL, [["m3", "s1", "sdr1", "sr1", "2018-03-01 08:00:00", "pet"]])
    exp = load_olist(tmp_path)
    assert exp.problems.empty and list(exp.problems.columns) == [
        "lead_id", "column", "rule", "value", "detail", "where"]
    assert "problems: none" in str(exp)
