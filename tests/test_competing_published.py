"""Aalen-Johansen cumulative incidence on the 35-patient BMT data of Scrucca et al. (2007).

Data: Scrucca L, Santucci A, Aversa F (2007), "Competing risk analysis using R: an easy guide
for clinicians", Bone Marrow Transplantation 40:381-387 (https://luca-scr.github.io/R/bmt.csv),
as stored in sebp/scikit-survival, tests/data/bmt.csv and sksurv/datasets/data/bmt.arff.
Columns dis (0 ALL, 1 AML), ftime (months), status (0 censored, 1 transplant-related mortality,
2 relapse).

Reference values: NOT the paper's printed table (its text could not be read in stored
sources). They are the expected cumulative incidences of scikit-survival's own known-answer
test, sebp/scikit-survival tests/test_nonparametric.py, class SimpleDataBMTCases
(data_bmt_full, data_bmt_AML), printed there to 8 decimals: an independent implementation's
published test values, not values computed here.
"""

import pandas as pd
import pytest

from nurturelab.competing import cumulative_incidence

# (dis, ftime, status), row order of the source file
BMT = [
    (0, 13, 2), (0, 1, 1), (0, 72, 0), (0, 7, 2), (0, 8, 2), (1, 67, 0), (0, 9, 2),
    (0, 5, 2), (1, 70, 0), (1, 4, 0), (1, 7, 0), (1, 68, 0), (0, 1, 2), (1, 10, 2),
    (1, 7, 2), (1, 3, 1), (1, 4, 1), (1, 4, 1), (1, 3, 1), (1, 3, 1), (0, 22, 2),
    (1, 8, 1), (1, 2, 2), (0, 0, 2), (0, 0, 1), (0, 35, 0), (1, 35, 0), (0, 4, 2),
    (0, 14, 2), (0, 26, 2), (0, 3, 2), (1, 2, 0), (1, 8, 0), (1, 32, 0), (0, 12, 1),
]
ENDING = {0: "open", 1: "won", 2: "lost"}  # won = TRM, lost = relapse (labels only)

# time -> (CIF TRM, CIF relapse), from scikit-survival's SimpleDataBMTCases
ALL_PATIENTS = {
    1: (0.05714286, 0.05714286), 3: (0.14581281, 0.11527094), 4: (0.20492611, 0.14482759),
    7: (0.20492611, 0.23771992), 8: (0.23771164, 0.27050544), 12: (0.27283899, 0.34076015),
    26: (0.27283899, 0.48126955), 72: (0.27283899, 0.48126955),
}
AML = {
    2: (0.0, 0.05555556), 3: (0.17708333, 0.05555556), 4: (0.29513889, 0.05555556),
    7: (0.29513889, 0.12048611), 8: (0.36818576, 0.12048611), 10: (0.36818576, 0.20570747),
    70: (0.36818576, 0.20570747),
}


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "dis": ["ALL" if d == 0 else "AML" for d, _, _ in BMT],
        "duration_days": [float(t) for _, t, _ in BMT],
        "ending": [ENDING[s] for _, _, s in BMT],
    })


def _check(summary: pd.DataFrame, group: str, expected: dict) -> None:
    for h, (trm, rel) in expected.items():
        got_trm = summary.loc[(group, "won", float(h)), "incidence"]
        got_rel = summary.loc[(group, "lost", float(h)), "incidence"]
        assert got_trm == pytest.approx(trm, abs=1e-7), (group, "TRM", h)
        assert got_rel == pytest.approx(rel, abs=1e-7), (group, "relapse", h)


def test_bmt_all_patients_matches_reference():
    ci = cumulative_incidence(_table(), horizons=tuple(ALL_PATIENTS))
    _check(ci.summary, "all", ALL_PATIENTS)


def test_bmt_aml_group_matches_reference():
    ci = cumulative_incidence(_table(), by="dis", horizons=tuple(AML))
    _check(ci.summary, "AML", AML)
