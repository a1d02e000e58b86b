"""The Olist marketing funnel, a real B2B lead export, loaded into the data contract.

Olist, a Brazilian marketplace, published 8,000 marketing-qualified leads (MQLs) and the 842 of
them its sales team won ("Marketing Funnel by Olist", Kaggle). Its licence (commonly cited as
CC BY-NC-SA 4.0) keeps it out of this repository: :func:`load_olist` reads it where it lies
(``paths.shared_data_dir() / "olist"`` by default, or a folder holding your own download).

The files go through the ordinary column-map path (:data:`OLIST_COLUMNS`):

* ``leads`` from ``olist_marketing_qualified_leads_dataset.csv``: ``mql_id`` -> ``lead_id``,
  ``first_contact_date`` -> ``created_at`` (a date only, read as midnight in
  America/Sao_Paulo), ``origin`` -> ``source`` (blank becomes ``unknown``); ``landing_page_id``
  is carried through. The closed-deals columns that describe the lead (``seller_id``,
  ``sr_id``, ``business_segment``, ``lead_type``, ``lead_behaviour_profile``, ``has_company``,
  ``has_gtin``, ``average_stock``, ``business_type``, ``declared_product_catalog_size``,
  ``declared_monthly_revenue``) are joined on by ``mql_id``; they are missing for leads that
  never closed. ``seller_id`` is set exactly for the leads in the closed-deals file.
* ``events`` from ``olist_closed_deals_dataset.csv``: one ``stage`` event ``won`` per deal at
  ``won_date`` (read in America/Sao_Paulo), ``rep_id`` = ``sdr_id``.

The export has one real data error: deal ``b91cf881…`` was won on 2018-03-06 19:38, 1.18 days
before its lead's first contact (2018-03-08). The contract refuses an event before its lead's
``created_at``, so the loader reports it in :attr:`OlistExport.problems` and drops that one
event (never the lead). In the loaded tables that lead is therefore *not* converted: conversion
counts from ``events`` are 841 won, organic_search 270/2,296; the README's 842 and 271 are the
841 loaded wins plus the one reported deal. Count a lead as won in the README's sense with
``leads["seller_id"].notna()``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from nurturelab import paths
from nurturelab.schema import ColumnMap, ExportError, TableMap, read_leads, validate_events

__all__ = [
    "DEALS_FILE",
    "DEAL_COLUMNS",
    "MQL_FILE",
    "OLIST_COLUMNS",
    "OlistExport",
    "load_olist",
]

MQL_FILE = "olist_marketing_qualified_leads_dataset.csv"
DEALS_FILE = "olist_closed_deals_dataset.csv"
TIMEZONE = "America/Sao_Paulo"

OLIST_COLUMNS = ColumnMap(
    leads=TableMap(
        columns={"lead_id": "mql_id", "created_at": "first_contact_date", "source": "origin"},
        timezone=TIMEZONE,
    ),
    events=TableMap(
        columns={"lead_id": "mql_id", "ts": "won_date", "rep_id": "sdr_id"},
        timezone=TIMEZONE,
        constants={"type": "stage", "name": "won"},
    ),
)
"""How the two Olist files map onto the contract: both read in America/Sao_Paulo, each closed
deal a ``stage`` event named ``won``."""

DEAL_COLUMNS = (
    "seller_id", "sr_id", "business_segment", "lead_type", "lead_behaviour_profile",
    "has_company", "has_gtin", "average_stock", "business_type",
    "declared_product_catalog_size", "declared_monthly_revenue",
)
"""Closed-deals columns that describe the lead; joined onto ``leads`` by ``mql_id``."""

_PROBLEM_COLUMNS = ["lead_id", "column", "rule", "value", "detail", "where"]
# the relational rules of validate_events that a loader can honour by dropping the rows
_EARLY = "events before their lead's created_at"
_UNKNOWN = "events for leads that are not in"
_INDEX = re.compile(r"^index (\d+)$")


class OlistExport(NamedTuple):
    """The Olist funnel in the data contract, with the rows the contract refused.

    Attributes
    ----------
    leads : DataFrame
        8,000 validated leads (contract columns, ``landing_page_id`` and the deal columns).
    events : DataFrame
        One validated ``stage``/``won`` event per loadable closed deal.
    problems : DataFrame
        One row per closed-deal row left out: ``lead_id``, ``column`` (contract column),
        ``rule``, ``value`` (as written in the file), ``detail`` and ``where`` (file line).
    """

    leads: pd.DataFrame
    events: pd.DataFrame
    problems: pd.DataFrame

    def __repr__(self) -> str:
        return (f"OlistExport(leads={len(self.leads):,d} rows, events={len(self.events):,d} "
                f"rows, problems={len(self.problems):,d} rows)")

    def __str__(self) -> str:
        ld, ev, pr = self.leads, self.events, self.problems
        deals = int(ld["seller_id"].notna().sum()) if "seller_id" in ld else len(ev) + len(pr)
        first = ld["created_at"].dt.tz_convert(TIMEZONE)
        lines = [
            f"Olist marketing funnel: {len(ld):,d} leads (first contact "
            f"{first.min():%Y-%m-%d} .. {first.max():%Y-%m-%d}, {TIMEZONE})",
            f"  closed deals {deals:,d}: {len(ev):,d} loaded as 'won' events, "
            f"{len(pr):,d} refused and reported",
            f"  never closed {len(ld) - deals:,d}",
        ]
        if len(ev):
            won = ld.set_index("lead_id")["created_at"].reindex(ev["lead_id"]).to_numpy()
            days = (ev["ts"].to_numpy() - won) / np.timedelta64(1, "D")
            lines.append(
                f"  days from first contact to win (loaded): median {np.median(days):.2f}, "
                f"mean {days.mean():.2f}, max {days.max():.1f}"
            )
        lines.append(f"  problems ({len(pr)}):" if len(pr) else "  problems: none")
        for row in pr.itertuples(index=False):
            lines.append(f"    - {row.lead_id}: column '{row.column}': {row.rule} — "
                         f"{row.detail} ({row.where})")
        return "\n".join(lines)


def _files(folder: Path) -> tuple[Path, Path]:
    mql, deals = folder / MQL_FILE, folder / DEALS_FILE
    missing = [p.name for p in (mql, deals) if not p.is_file()]
    if missing:
        where = (f"{folder} lacks {missing}" if folder.is_dir()
                 else f"{folder} does not exist")
        raise FileNotFoundError(
            f"Olist marketing funnel not found: {where}. The data is kept out of the nurturelab "
            "repository by its licence (CC BY-NC-SA 4.0); download 'Marketing Funnel by Olist' "
            f"from Kaggle and pass its folder (holding {MQL_FILE} and {DEALS_FILE}), or set "
            "NURTURELAB_SHARED_DATA to a folder with an 'olist' subfolder."
        )
    return mql, deals


def _ts_in(raw: pd.Series, tz: str) -> pd.Series:
    """``raw`` naive timestamps read in ``tz`` as the column map reads them; returned in UTC."""
    naive = pd.to_datetime(raw, errors="coerce", format="mixed")
    first = np.ones(len(naive), dtype=bool)
    local = naive.dt.tz_localize(tz, ambiguous=first, nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def _offending(
    raw: pd.DataFrame, leads: pd.DataFrame, err: ExportError, tmap: TableMap, file: Path
) -> pd.DataFrame:
    """The rows behind ``err``'s relational problems, found by recomputing each rule.

    Re-raises ``err`` if it holds any other problem, or if the recomputed rows disagree with
    the count and locations the error reported (then nothing is dropped).
    """
    cols = tmap.columns
    ids = raw[cols["lead_id"]].astype("object").str.strip()
    created = leads.set_index("lead_id")["created_at"]
    known = ids.isin(created.index)
    found = []
    for p in err.problems:
        if p.column == "ts" and p.rule == _EARLY:
            ts = _ts_in(raw[cols["ts"]], tmap.timezone)
            lead_created = ids.map(created)
            mask = known & (ts < lead_created)
            days = (lead_created[mask] - ts[mask]) / pd.Timedelta(days=1)
            detail = [f"won {d:.2f} days before first contact (ts {t:%Y-%m-%d %H:%M} UTC < "
                      f"created_at {c:%Y-%m-%d %H:%M} UTC)"
                      for d, t, c in zip(days, ts[mask], lead_created[mask], strict=True)]
        elif p.column == "lead_id" and p.rule.startswith(_UNKNOWN):
            mask = ~known
            detail = ["no lead with this mql_id in the MQL file"] * int(mask.sum())
        else:
            raise err
        rows = raw.index[mask]
        at = [int(m.group(1)) for w in p.where if (m := _INDEX.match(w))]
        if len(rows) != p.count or not set(at) <= set(rows):
            raise err
        found.append(pd.DataFrame({
            "lead_id": ids[mask].to_numpy(),
            "column": p.column,
            "rule": p.rule,
            "value": raw.loc[mask, cols[p.column]].astype(str).to_numpy(),
            "detail": detail,
            "where": [f"line {i + 2} of {file.name}" for i in rows],
        }, index=rows))
    if not found:
        return pd.DataFrame(columns=_PROBLEM_COLUMNS)
    return pd.concat(found).sort_index(kind="stable")  # in file order


def load_olist(folder: str | Path | None = None) -> OlistExport:
    """Load the Olist marketing funnel into the contract, reporting the rows it refuses.

    Leads are read with :func:`~nurturelab.schema.read_leads` and :data:`OLIST_COLUMNS`; the
    closed deals become ``won`` stage events checked by
    :func:`~nurturelab.schema.validate_events`. If that refuses rows for relational reasons
    (a win before its lead's first contact, a deal for an unknown lead), the rows are found by
    recomputing the rule, listed in ``problems``, dropped, and the rest validated again. Any
    other problem, or any problem with the leads file, raises the
    :class:`~nurturelab.schema.ExportError` as the strict loaders do.

    Parameters
    ----------
    folder : str or Path, optional
        Folder holding ``olist_marketing_qualified_leads_dataset.csv`` and
        ``olist_closed_deals_dataset.csv``. Defaults to ``paths.shared_data_dir() / "olist"``.

    Returns
    -------
    OlistExport
        ``(leads, events, problems)``; ``str()`` of it is a short summary.

    Raises
    ------
    FileNotFoundError
        If the folder or either file is missing (the data is not shipped with nurturelab).

    Examples
    --------
    >>> load_olist("/nonexistent/olist")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Olist marketing funnel not found: /nonexistent/olist does not exist. ...
    >>> leads, events, problems = load_olist()  # doctest: +SKIP
    >>> len(leads), len(events), problems["lead_id"].tolist()  # doctest: +SKIP
    (8000, 841, ['b91cf8812365f50ff4bda4bcd6206b05'])
    """
    folder = Path(folder) if folder is not None else paths.shared_data_dir() / "olist"
    mql_path, deals_path = _files(folder)
    leads = read_leads(mql_path, OLIST_COLUMNS)

    tmap = OLIST_COLUMNS.events
    id_cols = ["mql_id", "seller_id", "sdr_id", "sr_id"]
    deals = pd.read_csv(deals_path, dtype=dict.fromkeys(id_cols, str))
    if deals["mql_id"].duplicated().any():
        dup = deals.loc[deals["mql_id"].duplicated(), "mql_id"].head(5).tolist()
        raise ValueError(f"{deals_path}: mql_id {dup} closed more than once; the loader "
                         "expects one deal per lead")
    raw = deals[[tmap.columns["lead_id"], tmap.columns["ts"], tmap.columns["rep_id"]]]
    source = str(deals_path)
    try:
        events = validate_events(raw, leads, columns=tmap, source=source,
                                 leads_source=str(mql_path))
        problems = pd.DataFrame(columns=_PROBLEM_COLUMNS)
    except ExportError as err:
        problems = _offending(raw, leads, err, tmap, deals_path)
        events = validate_events(raw.drop(index=problems.index), leads, columns=tmap,
                                 source=source, leads_source=str(mql_path))

    extra = deals[["mql_id", *DEAL_COLUMNS]].rename(columns={"mql_id": "lead_id"})
    extra["lead_id"] = extra["lead_id"].str.strip()
    leads = leads.merge(extra, on="lead_id", how="left", validate="one_to_one")
    return OlistExport(leads, events, problems.reset_index(drop=True)[_PROBLEM_COLUMNS])
