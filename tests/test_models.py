from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, StratifiedKFold, TimeSeriesSplit

from nurturelab.scoring import models
from nurturelab.scoring.fit import (
    ScoreFit,
    compare_points,
    fit_on_export,
    fit_on_table,
    score_open_leads,
)
from nurturelab.scoring.models import (
    LeadScoreModel,
    calibration_table,
    evaluate,
    fit_points,
    learned_points,
    lift_table,
    temporal_split,
    to_point_rules,
)
from nurturelab.scoring.points import PointRules
from nurturelab.scoring.table import TableColumns, read_lead_table, read_table_map
from nurturelab.simulation import World, simulate

from resultcheck import assert_result_protocol

TRAIN_UNTIL, TEST_FROM, HORIZON = "2026-02-01", "2026-03-05", 30

@pytest.fixture(scope="module")
def world():
    res = simulate(World(leads=8000), seed=11)
    return res.leads, res.events


@pytest.fixture(scope="module")
def split(world):
    leads, events = world
    return temporal_split(leads, events, train_until=TRAIN_UNTIL, test_from=TEST_FROM,
                          horizon_days=HORIZON)


@pytest.fixture(scope="module")
def fitted(split):
    model = LeadScoreModel(random_state=0).fit(split.X_train, split.y_train.to_numpy())
    return model, model.predict_proba(split.X_test)[:, 1]


def test_temporal_split_snapshots(world, split):
    leads, events = world
    assert split.X_train.attrs["as_of"] < split.X_test.attrs["as_of"]
    assert list(split.X_train.index) == list(split.y_train.index)
    assert (split.X_train["age_days"] >= 0).all() and (split.X_test["age_days"] >= 0).all()
    assert 0 < split.y_train.mean() < 0.2 and 0 < split.y_test.mean() < 0.2
    with pytest.raises(ValueError, match="training labels would look past 'test_from'"):
        temporal_split(leads, events, train_until=TRAIN_UNTIL, test_from="2026-02-15",
                       horizon_days=HORIZON)


def test_model_discriminates_and_is_calibrated(split, fitted):
    _, p = fitted
    y = split.y_test.to_numpy()
    r = evaluate(y, p)
    assert r["auc"] > 0.75
    assert r["pr_auc"] > r["base_rate"]
    assert r["brier"] < r["brier_base"]
    cal = calibration_table(y, p, n_bins=10)
    assert cal["n"].sum() == len(y)
    assert (cal["expected"].diff().dropna() >= 0).all()
    assert cal["gap"].abs().max() < 0.06
    assert abs(cal["expected"].mean() - cal["observed"].mean()) < 0.02
    lift = lift_table(y, p, n=10)
    assert lift.loc[1, "lift"] > 2
    assert lift["cum_gain"].iloc[-1] == pytest.approx(1.0)
    assert lift["cum_gain"].is_monotonic_increasing


def test_model_beats_the_default_points(world, split):
    leads, events = world
    table = compare_points(leads, events, train_until=TRAIN_UNTIL, test_from=TEST_FROM,
                           horizon_days=HORIZON, split=split)
    assert table.loc["model", "auc"] > 0.75
    assert table.loc["model", "auc"] >= table.loc["default_points", "auc"]
    assert table.loc["model", "auc"] >= table.loc["learned_points", "auc"]
    points = table.attrs["points"]
    assert points["points"].max() == 25 and set(points["window_days"]) == {90.0}


def test_hgb_kind_fits_and_discriminates(split):
    n = 2500
    model = LeadScoreModel(kind="hgb", calibration="sigmoid")
    model.fit(split.X_train.iloc[:n], split.y_train.to_numpy()[:n])
    p = model.predict_proba(split.X_test)[:, 1]
    assert evaluate(split.y_test, p)["auc"] > 0.7


def test_real_shaped_table_with_placeholders_and_missing():
    rng = np.random.default_rng(5)
    n = 600
    visits = rng.poisson(1.5, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan
    persona = rng.choice(["Founder", "Sales Ops", "Select", "", "N/A", "unknown", None], n)
    X = pd.DataFrame({
        "pricing_visits": visits,
        "employees": pd.array(rng.integers(1, 500, n), dtype="Int64"),
        "opted_out": rng.random(n) < 0.05,
        "persona": persona,
        "industry": pd.Categorical(rng.choice(["saas", "retail", None], n)),
    })
    logit = -2.5 + 0.8 * np.nan_to_num(visits) + 1.0 * (persona == "Founder")
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    model = LeadScoreModel().fit(X, y)
    assert model.numeric_features_ == ["pricing_visits", "employees", "opted_out"]
    assert model.categorical_features_ == ["persona", "industry"]
    enc = model.model_.calibrated_classifiers_[0].estimator.named_steps["prep"]
    names = list(enc.get_feature_names_out())
    persona_cols = [c for c in names if c.startswith("categorical__persona_")]
    # values as they are: only None is missing; a placeholder is a level of its own (declare
    # it in the table map to read it as missing)
    assert sorted(persona_cols) == ["categorical__persona_", "categorical__persona_(missing)",
                                    "categorical__persona_Founder",
                                    "categorical__persona_N/A",
                                    "categorical__persona_Sales Ops",
                                    "categorical__persona_Select",
                                    "categorical__persona_unknown"]
    new = X.head(3).assign(persona=["Founder", "never seen", "Select"])
    p = model.predict_proba(new)
    assert p.shape == (3, 2) and np.isfinite(p).all()
    assert evaluate(y, model.predict_proba(X)[:, 1])["auc"] > 0.7
    assert set(model.predict(X)) <= {False, True}
    assert "fitted on 5 feature(s) (3 numeric, 2 categorical)" in repr(model)
    with pytest.raises(ValueError, match="feature names"):
        model.predict_proba(X.rename(columns={"persona": "role"}))


def test_models_fitted_before_issue_14_still_read_placeholders_as_missing():
    """A pickled model calls its preprocessing function by name: _clean_categories keeps the
    old reading (placeholders as missing, spaces stripped) so a registered model predicts as it
    did, while new fits use _categories (values as they are)."""
    X = pd.DataFrame({"persona": [" Founder ", "Select", "-- select --", "N/A", None, "it"]})
    old = models._clean_categories(X).ravel().tolist()
    assert old[0] == "Founder" and old[-1] == "it"
    assert all(pd.isna(v) for v in old[1:5])
    assert models.PLACEHOLDERS[:3] == ("", "select", "-- select --")
    new = models._categories(X).ravel().tolist()
    assert new[:4] == [" Founder ", "Select", "-- select --", "N/A"] and pd.isna(new[4])
    prep = LeadScoreModel().fit(pd.concat([X] * 10, ignore_index=True),
                                np.tile([1, 0, 0, 1, 0, 1], 10)).model_
    steps = prep.calibrated_classifiers_[0].estimator.named_steps["prep"]
    assert steps.transformers_[0][1].steps[0][1].func is models._categories


def test_parameter_validation_messages():
    X, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
    with pytest.raises(ValueError, match=r"'kind' parameter of LeadScoreModel must be a str "
                                         r"among .* Got 'forest' instead"):
        LeadScoreModel(kind="forest").fit(X, y)
    with pytest.raises(ValueError, match="'calibration' parameter"):
        LeadScoreModel(calibration="beta").fit(X, y)
    with pytest.raises(ValueError, match="one class only"):
        LeadScoreModel().fit(X, np.zeros(10))
    assert not hasattr(clone(LeadScoreModel()), "model_")


def test_evaluate_reports_delongs_auc_interval():
    from nurturelab.scoring.auc import auc_interval

    rng = np.random.default_rng(4)
    y = rng.random(500) < 0.1
    p = np.clip(0.1 + 0.1 * y + rng.normal(0, 0.05, 500), 0, 1)
    r = evaluate(y, p)
    ci = auc_interval(y, p)
    assert (r["auc_se"], r["auc_low"], r["auc_high"]) == (ci.se, ci.low, ci.high)
    assert r["auc_low"] < r["auc"] < r["auc_high"]
    assert r["auc_high"] - r["auc_low"] < evaluate(y[:100], p[:100])["auc_high"] - evaluate(
        y[:100], p[:100])["auc_low"]  # fewer leads, a wider interval
    one = evaluate(np.zeros(10), np.full(10, 0.1))
    assert np.isnan([one["auc"], one["auc_low"], one["auc_high"]]).all()


def test_metrics_on_known_values():
    r = evaluate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert r["auc"] == 0.75 and r["brier_base"] == 0.25
    with pytest.raises(ValueError, match="probabilities in"):
        evaluate([0, 1], [0.2, 3.0])
    # Brier skill against the base rate: 1 - 0.158125 / 0.25
    assert r["brier_skill"] == pytest.approx(1 - 0.158125 / 0.25)
    t = lift_table([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], np.linspace(1, 0, 10), n=5)
    assert t["lift"].tolist() == [5.0, 0.0, 0.0, 0.0, 0.0]
    assert t["cum_gain"].tolist() == [1.0] * 5
    c = calibration_table(np.r_[np.zeros(90), np.ones(10)], np.full(100, 0.1), n_bins=4)
    assert c["expected"].tolist() == pytest.approx([0.1] * 4)


def test_learned_points_scaling_and_rules(split):
    table = learned_points([0.5, 1.0, -0.2], ["email_open", "demo_request_30d", "reply_7d"])
    assert table["points"].tolist() == [12, 25, -5]
    assert table["window_days"].isna().tolist() == [True, False, False]
    rules = to_point_rules(table)
    assert isinstance(rules, PointRules) and len(rules.rules) == 3
    with pytest.raises(ValueError, match="No coefficient is positive"):
        learned_points([-1.0], ["opt_out"])
    fitted = fit_points(split.X_train, split.y_train, window=30)
    assert list(fitted.index) == ["email_open_30d", "link_click_30d", "pricing_visit_30d",
                                  "demo_request_30d"]
    assert fitted["points"].max() == 25


# --------------------------------------------------------------------------------------------
# cv: an int, a splitter or (train, test) pairs
# --------------------------------------------------------------------------------------------
def _cv_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"visits": rng.poisson(2, n).astype(float), "fit": rng.random(n)})
    y = rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 0.8 * X["visits"].to_numpy())))
    groups = np.repeat(np.arange(30), n // 30)  # e.g. the company of each lead
    return X, y, groups


def _proba(cv, X, y, **fit):
    return LeadScoreModel(cv=cv).fit(X, y, **fit).predict_proba(X)[:, 1]


def test_cv_int_is_stratified_shuffled_folds_and_pairs_equal_their_splitter():
    X, y, _ = _cv_data()
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    np.testing.assert_array_equal(_proba(3, X, y), _proba(folds, X, y))
    np.testing.assert_array_equal(_proba(folds, X, y), _proba(list(folds.split(X, y)), X, y))
    other = _proba(StratifiedKFold(3, shuffle=True, random_state=1), X, y)
    assert not np.array_equal(other, _proba(3, X, y))  # the folds do reach the calibration


@pytest.mark.parametrize("cv, n_splits", [(4, 4), (StratifiedKFold(5), 5),
                                          (TimeSeriesSplit(3), 3)],
                         ids=["int", "StratifiedKFold", "TimeSeriesSplit"])
def test_cv_splitters_set_the_calibration_folds(cv, n_splits):
    X, y, _ = _cv_data()
    m = LeadScoreModel(cv=cv).fit(X, y)
    assert len(m.model_.calibrated_classifiers_) == n_splits
    assert m.cv is cv  # fit leaves the parameter as it was given
    p = m.predict_proba(X)[:, 1]
    assert evaluate(y, p)["auc"] > 0.7


def test_cv_group_splitter_takes_the_groups_through_fit():
    X, y, groups = _cv_data()
    by_group = list(GroupKFold(3).split(X, y, groups))
    assert all(not set(groups[tr]) & set(groups[te]) for tr, te in by_group)
    np.testing.assert_array_equal(_proba(GroupKFold(3), X, y, groups=groups),
                                  _proba(by_group, X, y))
    with pytest.raises(ValueError, match=r"GroupKFold\(n_splits=3.*\), which splits by group: "
                                         r"pass the groups to fit"):
        LeadScoreModel(cv=GroupKFold(3)).fit(X, y)


def test_cv_validation_messages():
    X, y, _ = _cv_data(n=60)
    n = len(y)
    for bad in (1, True, 2.5, "five", {"train": [0]}, None):
        with pytest.raises(ValueError, match=r"The 'cv' parameter of LeadScoreModel must be an "
                                             r"int >= 2, a cross-validation splitter .* Got "):
            LeadScoreModel(cv=bad).fit(X, y)
    half = np.arange(n // 2)
    rest = np.arange(n // 2, n)
    with pytest.raises(ValueError, match=r"split 0 must be a \(train, test\) pair"):
        LeadScoreModel(cv=[half]).fit(X, y)
    with pytest.raises(ValueError, match=r"split 1 has test positions outside 0\.\.59"):
        LeadScoreModel(cv=[(half, rest), (half, rest + 5)]).fit(X, y)
    with pytest.raises(ValueError, match="split 0 has a train part that is not a non-empty"):
        LeadScoreModel(cv=[(np.array([], dtype=int), rest)]).fit(X, y)
    one_class = np.flatnonzero(~y)
    with pytest.raises(ValueError, match=r"split 0 trains on one class only \(\[False\]\)"):
        LeadScoreModel(cv=[(one_class, np.flatnonzero(y))]).fit(X, y)
    used_once = (pair for pair in StratifiedKFold(2).split(X, y))
    m = LeadScoreModel(cv=used_once).fit(X, y)
    with pytest.raises(ValueError, match="holds no \\(train, test\\) pair .* pass a list"):
        m.fit(X, y)


# --------------------------------------------------------------------------------------------
# fit_on_export, fit_on_table, score_open_leads: what `nurturelab score` calls
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def export_fit(world):
    leads, events = world
    return fit_on_export(leads, events, train_until=TRAIN_UNTIL, test_from=TEST_FROM,
                         horizon_days=HORIZON)


def test_fit_on_export_is_the_temporal_split_and_the_comparison(world, split, fitted,
                                                                export_fit):
    leads, events = world
    fit = export_fit
    assert isinstance(fit, ScoreFit) and isinstance(fit.model, LeadScoreModel)
    _, p = fitted
    np.testing.assert_allclose(fit.p_test, p)  # the same model as fitting the split directly
    np.testing.assert_array_equal(fit.y_test, split.y_test.to_numpy())
    assert fit.metrics == evaluate(split.y_test, p)
    table = compare_points(leads, events, train_until=TRAIN_UNTIL, test_from=TEST_FROM,
                           horizon_days=HORIZON, split=split)
    pd.testing.assert_frame_equal(fit.comparison, table)
    pd.testing.assert_frame_equal(fit.points, table.attrs["points"])
    s = fit.summary
    assert list(s.index) == ["default_points", "learned_points", "model"]
    assert s.loc["model", "brier_skill"] == pytest.approx(fit.metrics["brier_skill"])
    assert s.loc["default_points", ["pr_auc", "brier"]].isna().all()
    assert fit.params["train_until"] == "2026-02-01T00:00:00+00:00"
    assert fit.params["test_leads"] == len(split.y_test) and fit.notes == ()
    kind = fit.model.kind_
    assert fit.params["kind"] == "auto" and fit.params["kind_chosen"] == kind
    assert repr(fit).startswith(f"<ScoreFit: {kind} model (chosen by cross-validation), "
                                f"temporal holdout of {len(split.y_test):,d} leads: AUC 0.")
    assert f"tested on {len(split.y_test):,d} at 2026-03-05" in fit.to_text()
    assert_result_protocol(fit)
    assert set(fit.run_tables()) == {"calibration", "lift", "learned_points", "cv",
                                     "importance"}
    assert fit.run_metrics()["auc.default_points"] == table.loc["default_points", "auc"]


def test_fit_on_export_default_snapshots_and_refusals(world):
    leads, events = world
    small = leads.iloc[:3000]
    ev = events[events["lead_id"].isin(small["lead_id"])]
    fit = fit_on_export(small, ev, horizon_days=20)
    end = ev["ts"].max()
    assert pd.Timestamp(fit.params["test_from"]) == end - pd.Timedelta(days=20)
    assert pd.Timestamp(fit.params["train_until"]) == end - pd.Timedelta(days=40)
    with pytest.raises(ValueError, match=r"no conversions within 1 days; choose other "
                                         r"snapshots \('train_until', 'test_from'\)"):
        fit_on_export(small, ev, train_until="2026-01-06", test_from="2026-01-08",
                      horizon_days=1)
    with pytest.raises(ValueError, match="The 'horizon_days' parameter of fit_on_export must "
                                         "be a positive number of days. Got '30' instead"):
        fit_on_export(small, ev, horizon_days="30")
    with pytest.raises(ValueError, match="'test_from' must be a timestamp"):
        fit_on_export(small, ev, test_from="next week")
    with pytest.raises(ValueError, match="training labels would look past 'test_from'"):
        fit_on_export(small, ev, train_until=TRAIN_UNTIL, test_from="2026-02-15",
                      horizon_days=HORIZON)


def test_fit_on_export_notes_when_no_event_raises_the_odds(world, monkeypatch):
    import nurturelab.scoring.fit as M

    leads, events = world

    def no_points(X, y, **kw):
        raise ValueError("No coefficient is positive")

    monkeypatch.setattr(M, "fit_points", no_points)
    fit = fit_on_export(leads, events, train_until=TRAIN_UNTIL, test_from=TEST_FROM,
                        horizon_days=HORIZON)
    assert fit.notes == ("no learned points to compare: No coefficient is positive",)
    assert list(fit.summary.index) == ["default_points", "model"] and fit.points.empty
    assert set(fit.run_tables()) == {"calibration", "lift", "cv", "importance"}


def test_fit_on_table_is_a_stratified_holdout(real_shaped):
    X, y = real_shaped
    fit = fit_on_table(X, pd.Series(y, name="converted"), source="crm.csv")
    assert len(fit.y_test) == 150 and fit.y_test.mean() == pytest.approx(y.mean(), abs=0.01)
    assert list(fit.summary.index) == ["model"]
    assert fit.summary.loc["model", "auc"] == fit.metrics["auc"] > 0.7
    assert fit.params == {"kind": "auto", "kind_chosen": fit.model.kind_, "table": "crm.csv",
                          "target": "converted", "train_leads": 450, "test_leads": 150,
                          "validation": "stratified"}
    assert "stratified holdout of 150" in fit.to_text()
    assert_result_protocol(fit)
    with pytest.raises(ValueError, match="crm.csv: 'converted' has a single value"):
        fit_on_table(X, pd.Series(np.zeros(len(X), bool), name="converted"), source="crm.csv")


def test_score_open_leads_ranks_the_open_leads_by_the_model(world, export_fit):
    from nurturelab.funnel import outcomes
    from nurturelab.scoring.features import snapshot
    from nurturelab.scoring.points import scores

    leads, events = world
    at = pd.Timestamp("2026-03-20", tz="UTC")
    out = score_open_leads(leads, events, export_fit.model, as_of="2026-03-20")
    status = outcomes(leads, events, as_of=at)["status"].astype(str)
    is_open = status[leads.loc[leads["created_at"] <= at, "lead_id"]].eq("open")
    assert set(out.index) == set(is_open.index[is_open])
    assert out["p_convert"].is_monotonic_decreasing and out.attrs["as_of"] == at
    X = snapshot(leads, events, as_of=at).loc[out.index]
    np.testing.assert_allclose(out["p_convert"], export_fit.model.predict_proba(X)[:, 1])
    pd.testing.assert_series_equal(out["points"], scores(leads, events, as_of=at)["score"]
                                   .reindex(out.index), check_names=False)
    latest = score_open_leads(leads, events, export_fit.model)
    assert latest.attrs["as_of"] == events["ts"].max()
    early = score_open_leads(leads, events, export_fit.model, as_of="2025-01-01")
    assert early.empty and list(early.columns) == ["p_convert", "points"]


def test_a_model_fitted_on_a_lead_table_is_refused_by_score_open_leads(world):
    """Regression (a new user's review): a table model promoted to champion made score apply
    fail with scikit-learn's feature-name error; now the message says what happened."""
    leads, events = world
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"Lead Source": rng.choice(["ads", "web"], 300),
                      "Visits": rng.poisson(3, 300)})
    y = pd.Series(rng.random(300) < 0.3 + 0.2 * (X["Lead Source"] == "ads"), name="converted")
    table_model = fit_on_table(X, y, kind="logistic").model
    with pytest.raises(ValueError, match=r"trained on columns the export's features .* do not "
                                         r"have: \['Lead Source', 'Visits'\]\. It was fitted "
                                         r"on a lead table"):
        score_open_leads(leads, events, table_model)


# --------------------------------------------------------------------------------------------
# the table map and lead-level tables
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_shaped():
    rng = np.random.default_rng(5)
    n = 600
    visits = rng.poisson(1.5, n).astype(float)
    X = pd.DataFrame({"visits": visits, "persona": rng.choice(["Founder", "Ops", "Select"], n)})
    logit = -2.5 + 0.8 * visits + 1.0 * (X["persona"] == "Founder")
    return X, rng.random(n) < 1 / (1 + np.exp(-logit))


def test_table_columns_validation():
    t = TableColumns({"converted": "Converted", "lead_id": "Prospect ID"}, id_column="lead_id",
                     drop=["Tags"])
    assert t.rename == {"Converted": "converted", "Prospect ID": "lead_id"}
    assert t.drop == ("Tags",) and hash(t) == hash(TableColumns(**vars(t)))
    with pytest.raises(ValueError, match=r"one new name; \['Converted'\] appear more than once"):
        TableColumns({"converted": "Converted", "won": "Converted"})
    with pytest.raises(ValueError, match="'id_column' and 'target' must differ"):
        TableColumns(id_column="converted")
    with pytest.raises(ValueError, match=r"'drop' must not name the target or the id column. "
                                         r"Got \['lead_id'\]"):
        TableColumns(id_column="lead_id", drop=["lead_id"])
    with pytest.raises(ValueError, match=r"'columns' value of 'year' must be a column name .* "
                                         r"Got 2024 instead. Quote it in YAML"):
        TableColumns({"year": 2024})
    with pytest.raises(TypeError, match=r"write \['Tags'\]"):
        TableColumns(drop="Tags")


def test_read_table_map_is_strict_and_names_the_key(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("columns:\n  converted: Converted\n  lead_id: Prospect ID\n"
                    "id_column: lead_id\ndrop: [Tags]\n")
    assert read_table_map(path) == TableColumns({"converted": "Converted",
                                                 "lead_id": "Prospect ID"},
                                                id_column="lead_id", drop=("Tags",))
    cases = {
        "colums: {converted: Converted}\n": (ValueError, r"unknown key\(s\) \['colums'\] in the "
                                                         r"table map; allowed keys are"),
        "target: won\ntarget: converted\n": (ValueError, "key 'target' is given twice"),
        "columns:\n  a: X\n  a: Y\n": (ValueError, "key 'a' is given twice"),
        "columns: [Converted]\n": (ValueError, "'columns' must be a mapping of new name"),
        "drop: Tags\n": (TypeError, r"'drop' must be a list of column names"),
        "- converted\n": (ValueError, "a table map is a mapping"),
        "": (ValueError, "the table map file is empty"),
    }
    for text, (kind, message) in cases.items():
        path.write_text(text)
        with pytest.raises(kind, match=message) as info:
            read_table_map(path)
        assert str(info.value).startswith(str(path))
    with pytest.raises(FileNotFoundError, match="no such table map file"):
        read_table_map(tmp_path / "nope.yaml")


def test_read_lead_table_through_a_map_refuses_unknown_columns(tmp_path):
    path = tmp_path / "crm.csv"
    pd.DataFrame({"Prospect ID": ["p1", "p2", "p3"], "Converted": [1, 0, "yes"],
                  "Tags": ["a", None, "b"], "Visits": [3, 0, 2]}).to_csv(path, index=False)
    spec = TableColumns({"converted": "Converted", "lead_id": "Prospect ID"},
                        id_column="lead_id", drop=("Tags",))
    X, y = read_lead_table(path, spec)
    assert list(X.columns) == ["Visits"] and list(X.index) == ["p1", "p2", "p3"]
    assert y.tolist() == [True, False, True] and y.name == "converted"
    X2, y2 = read_lead_table(path, columns={"converted": "Converted"}, id_column="Prospect ID",
                             drop=["Tags"])
    assert list(X2.columns) == ["Visits"] and y2.tolist() == y.tolist()
    # a misspelt column to drop used to be ignored: the column went into the features
    with pytest.raises(KeyError, match=r"no column\(s\) \['Tagz'\] to drop or index by"):
        read_lead_table(path, columns={"converted": "Converted"}, drop=["Tagz"])
    with pytest.raises(KeyError, match=r"the table map's 'columns' name \['Won'\], which the "
                                       r"file lacks"):
        read_lead_table(path, TableColumns({"converted": "Won"}))
    with pytest.raises(TypeError, match=r"a table map or the keywords \['target'\], not both"):
        read_lead_table(path, spec, target="converted")


def test_the_names_that_moved_out_of_models_still_import_from_it():
    """fit_on_export and the table reader moved to scoring.fit and scoring.table; notebooks
    that import them from scoring.models get the same objects."""
    from nurturelab.scoring import fit, table

    for name in ("ScoreFit", "compare_points", "fit_on_export", "fit_on_table",
                 "score_open_leads"):
        assert getattr(models, name) is getattr(fit, name)
    for name in ("TableColumns", "read_lead_table", "read_table_map"):
        assert getattr(models, name) is getattr(table, name)
    with pytest.raises(AttributeError, match="no attribute 'fit_on_nothing'"):
        models.fit_on_nothing  # noqa: B018
