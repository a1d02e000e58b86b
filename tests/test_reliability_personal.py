"""Issue 13: personal data found by its values, dropped before fitting a lead table, and kept
out of every artifact of ``nurturelab score fit --table``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from nurturelab import tracking
from nurturelab.cli import main
from nurturelab.scoring.fit import fit_on_table

FIRST = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Heitor", "Íris", "João",
         "Karina", "Lucas", "Mariana", "Nuno", "Olívia", "Paulo", "Quitéria", "Rafael", "Sofia",
         "Tiago"]
LAST = ["Silva", "Souza", "Oliveira", "Santos", "Pereira", "Lima", "Costa", "Ribeiro",
        "Almeida", "Carvalho", "Gomes", "Martins", "Rocha", "Dias", "Barbosa", "da Cunha",
        "Moreira", "Nunes", "Teixeira", "Mendes", "Cardoso", "Freitas", "Araújo", "Castro",
        "Pinto"]


def crm_table(n: int = 400, seed: int = 4) -> pd.DataFrame:
    """A lead table as CRMs export it: contact details beside the attributes."""
    rng = np.random.default_rng(seed)
    people = [f"{f} {last}" for f in FIRST for last in LAST]
    who = rng.permutation(len(people))[:n]
    names = [people[i] for i in who]
    owners = [people[i] for i in rng.permutation(len(people))[:n]]
    origin = rng.choice(["API", "Landing Page Submission", "Lead Add Form"], n)
    minutes = rng.gamma(2, 300, n)
    logit = -2.0 + 0.003 * minutes + 1.0 * (origin == "Lead Add Form")
    return pd.DataFrame({
        "Prospect ID": [f"7e{i:06x}-{rng.integers(1 << 30):08x}" for i in range(n)],
        "Full Name": names,
        "Tel": [f"(11) 9{rng.integers(1000, 9999)}-{rng.integers(1000, 9999)}" for _ in range(n)],
        "Contact": [f"{nm.split()[0].lower()}.{i}@example.com" for i, nm in enumerate(names)],
        "Owner": owners,
        "Lead Origin": origin,
        "Total Time Spent on Website": minutes,
        "Converted": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
    })


PERSONAL = ["Prospect ID", "Full Name", "Tel", "Contact", "Owner"]


def test_personal_columns_are_found_by_their_values():
    from nurturelab.tracking import personal_columns

    table = crm_table()
    assert personal_columns(table) == {"Full Name": "a personal column name",
                                       "Tel": "a personal column name",
                                       "Contact": "e-mail addresses",
                                       "Owner": "people's names"}
    assert personal_columns(table, identifiers=True)["Prospect ID"].startswith("identifiers")
    renamed = table.rename(columns={"Full Name": "Lead", "Tel": "Line"})
    assert personal_columns(renamed) == {"Lead": "people's names", "Line": "phone numbers",
                                         "Contact": "e-mail addresses",
                                         "Owner": "people's names"}
    # labels in title case are not names: few distinct values for many rows
    assert personal_columns(table[["Lead Origin"]]) == {}


def test_fit_on_table_drops_them_and_says_so():
    table = crm_table()
    X, y = table.drop(columns="Converted"), table["Converted"].astype(bool)
    fit = fit_on_table(X, y, source="crm.csv")
    assert list(fit.model.feature_names_in_) == ["Lead Origin", "Total Time Spent on Website"]
    assert list(fit.X_test.columns) == ["Lead Origin", "Total Time Spent on Website"]
    assert [re.match(r"column '(.+?)'", n).group(1) for n in fit.notes] == PERSONAL
    with pytest.raises(ValueError, match="no column is left to learn from"):
        fit_on_table(X[PERSONAL], y, source="crm.csv")


def test_score_fit_table_keeps_personal_values_out_of_every_artifact(tmp_path, capsys,
                                                                     _private_mlflow_store):
    """score fit --table stored 413 personal values in the model and 10 in its input example
    (a table with "Full Name" and "Tel" columns: e-mail addresses were refused already)."""
    table = crm_table().drop(columns="Contact")
    personal = [c for c in PERSONAL if c != "Contact"]
    path = tmp_path / "crm.csv"
    table.to_csv(path, index=False)
    tmap = tmp_path / "map.yaml"
    tmap.write_text("columns: {converted: Converted}\n")
    assert main(["score", "fit", "--table", str(path), "--table-columns", str(tmap)]) == 0
    err = capsys.readouterr().err
    for col in personal:
        assert f"note: column '{col}' dropped before fitting" in err
    files = [p for p in _private_mlflow_store.rglob("*") if p.is_file()
             and p.suffix != ".db"]
    assert any(p.name == "input_example.json" for p in files)
    values = [v.encode() for col in personal for v in table[col].astype(str)]
    leaked = {p.name: sum(v in p.read_bytes() for v in values) for p in files}
    assert sum(leaked.values()) == 0, leaked
    model = tracking.load_model("challenger")
    assert list(model.feature_names_in_) == ["Lead Origin", "Total Time Spent on Website"]


def test_a_table_of_names_is_refused_by_log_table():
    table = crm_table(40)[["Owner", "Converted"]]
    with tracking.run("t"), pytest.raises(ValueError, match="'Owner' holds personal data "
                                                            r"\(people's names\)"):
        tracking.log_table(table, "owners")
