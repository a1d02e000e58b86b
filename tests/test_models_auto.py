"""LeadScoreModel(kind="auto") chooses its kind by cross-validation; thread limits; what a
ScoreFit explains (cross-validated AUC, calibration by decile, permutation importance).

The choice is tested in two simulated worlds whose truth is known: a linear-logit world, where
the logistic model is the right one, and a threshold-interaction world, where only boosting can
represent the truth; in both, auto must pick the kind that is better on a large fresh sample
of the same world.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io
from scipy.special import expit
from sklearn.model_selection import GroupKFold, StratifiedKFold
from threadpoolctl import threadpool_info

from nurturelab.scoring import models
from nurturelab.scoring.fit import fit_on_table
from nurturelab.scoring.models import (
    LeadScoreModel,
    _clean_categories,
    _clean_value,
    cross_validate_kinds,
    default_threads,
    evaluate,
    feature_importance,
)

from resultcheck import assert_result_protocol


def linear_world(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Conversion log-odds linear in six features: the logistic model is the truth."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"x{i}" for i in range(6)])
    logit = -1.5 + X.to_numpy() @ np.array([0.9, -0.7, 0.6, 0.5, -0.4, 0.3])
    return X, rng.random(n) < expit(logit)


def threshold_world(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Leads convert far more when two features are both past a threshold (an interaction of
    two steps, no linear term): only the boosting can represent it."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(n, 4)), columns=[f"x{i}" for i in range(4)])
    logit = -2.5 + 3.0 * ((X["x0"] > 0) & (X["x1"] > 0)).to_numpy()
    return X, rng.random(n) < expit(logit)


@pytest.mark.parametrize("world, right", [(linear_world, "logistic"),
                                          (threshold_world, "hgb")],
                         ids=["linear-logit", "threshold-interaction"])
@pytest.mark.parametrize("seed", [0, 1])
def test_auto_picks_the_kind_that_is_right_for_the_world(world, right, seed):
    X, y = world(1500, seed)
    auto = LeadScoreModel().fit(X, y)
    assert auto.kind == "auto" and auto.kind_ == right
    table = auto.cv_results_
    assert list(table.index) == ["logistic", "hgb"] and (table["n_splits"] == 3).all()
    assert table["brier_mean"].idxmin() == right
    # judged on a large fresh sample of the same world: the right kind is better there, and
    # auto is exactly the model of the kind it chose, so it is never worse than the best
    X_new, y_new = world(20_000, 999)
    brier = {k: evaluate(y_new, LeadScoreModel(kind=k).fit(X, y).predict_proba(X_new)[:, 1])
             ["brier"] for k in ("logistic", "hgb")}
    assert min(brier, key=brier.get) == right
    p_auto = auto.predict_proba(X_new)[:, 1]
    np.testing.assert_array_equal(
        p_auto, LeadScoreModel(kind=right).fit(X, y).predict_proba(X_new)[:, 1])
    assert evaluate(y_new, p_auto)["brier"] == min(brier.values())


@pytest.mark.parametrize("cv", [3, GroupKFold(3)], ids=["int", "GroupKFold"])
def test_cv_results_are_the_cross_validation_of_each_kind_on_the_same_splits(cv):
    """cv_results_ is what fitting LeadScoreModel(kind=k) on each training part (calibrated
    there with the same cv, the groups passed on) and scoring its test part gives."""
    X, y = linear_world(600, 3)
    groups = np.arange(len(y)) % 40  # e.g. each lead's company
    model = LeadScoreModel(cv=cv).fit(X, y, groups=groups)
    splits = (list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y)) if cv == 3
              else list(GroupKFold(3).split(X, y, groups)))
    for kind in ("logistic", "hgb"):
        brier, auc, log_loss = [], [], []
        for train, test in splits:
            part = LeadScoreModel(kind=kind, cv=cv).fit(X.iloc[train], y[train],
                                                        groups=groups[train])
            r = evaluate(y[test], part.predict_proba(X.iloc[test])[:, 1])
            brier.append(r["brier"])
            auc.append(r["auc"])
            log_loss.append(r["log_loss"])
        row = model.cv_results_.loc[kind]
        assert row["brier_mean"] == pytest.approx(np.mean(brier), rel=1e-12)
        assert row["brier_std"] == pytest.approx(np.std(brier, ddof=1), rel=1e-9)
        assert row["auc_mean"] == pytest.approx(np.mean(auc), rel=1e-12)
        assert row["log_loss_mean"] == pytest.approx(np.mean(log_loss), rel=1e-9)
    folds = model.cv_folds_
    assert list(folds.columns) == ["kind", "split", "n", "auc", "brier", "log_loss"]
    assert folds.groupby("kind")["n"].sum().tolist() == [len(y), len(y)]
    pd.testing.assert_frame_equal(
        cross_validate_kinds(LeadScoreModel(cv=cv), X, y, groups=groups), model.cv_results_)


def test_auto_is_reproducible_refits_the_chosen_kind_and_pickles():
    X, y = threshold_world(800, 4)
    a, b = LeadScoreModel().fit(X, y), LeadScoreModel().fit(X, y)
    pd.testing.assert_frame_equal(a.cv_results_, b.cv_results_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    copy = pickle.loads(pickle.dumps(a))
    assert copy.kind_ == a.kind_ == "hgb"
    pd.testing.assert_frame_equal(copy.cv_results_, a.cv_results_)
    np.testing.assert_array_equal(copy.predict_proba(X), a.predict_proba(X))
    assert "hgb chosen by cross-validation" in repr(a)
    # MLflow saves it with skops, trusting nurturelab, scikit-learn, numpy and builtins only
    data = skops.io.dumps(a)
    untrusted = skops.io.get_untrusted_types(data=data)
    assert all(t.startswith(("nurturelab.", "sklearn.", "numpy.", "builtins.")) for t in untrusted)
    loaded = skops.io.loads(data, trusted=untrusted)
    pd.testing.assert_frame_equal(loaded.cv_results_, a.cv_results_)
    pd.testing.assert_frame_equal(loaded.cv_folds_, a.cv_folds_)
    np.testing.assert_array_equal(loaded.predict_proba(X), a.predict_proba(X))
    assert isinstance(a.cv_results_, pd.DataFrame)  # saving left the model as it was
    # a refit with a fixed kind forgets the comparison
    a.set_params(kind="logistic").fit(X, y)
    assert a.kind_ == "logistic" and not hasattr(a, "cv_results_")


def test_auto_with_explicit_pairs_and_too_few_of_a_class():
    X, y = linear_world(300, 5)
    two = list(StratifiedKFold(2, shuffle=True, random_state=1).split(X, y))
    m = LeadScoreModel(cv=two).fit(X, y)  # two pairs partition the rows: 2 folds inside
    assert m.cv_results_["n_splits"].tolist() == [2, 2]
    three = list(StratifiedKFold(3, shuffle=True, random_state=1).split(X, y))
    assert LeadScoreModel(cv=three).fit(X, y).cv_results_["n_splits"].tolist() == [3, 3]
    tiny_X = pd.DataFrame({"x": np.arange(12.0)})
    tiny_y = np.array([0] * 10 + [1] * 2)  # 2 conversions: 1 in each training part
    with pytest.warns(UserWarning, match=r"could not: .*rarest class has 1 sample.* Fitted the "
                                         r"logistic model, without a comparison"):
        m = LeadScoreModel().fit(tiny_X, tiny_y)
    assert m.kind_ == "logistic" and m.cv_results_["n_splits"].tolist() == [0, 0]
    assert m.cv_results_["brier_mean"].isna().all()


def test_cross_validate_kinds_validation():
    X, y = linear_world(100, 0)
    with pytest.raises(ValueError, match=r"'kinds' parameter of cross_validate_kinds must be a "
                                         r"non-empty list among \['logistic', 'hgb'\]. Got "
                                         r"\['forest'\]"):
        cross_validate_kinds(LeadScoreModel(), X, y, kinds=["forest"])
    table, folds = cross_validate_kinds(LeadScoreModel(cv=4), X, y, kinds=("hgb",),
                                        return_folds=True)
    assert list(table.index) == ["hgb"] and folds["split"].tolist() == [0, 1, 2, 3]


# --------------------------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------------------------
def _pool_threads():
    return {(i["user_api"], i["filepath"]): i["num_threads"] for i in threadpool_info()}


@pytest.mark.parametrize("kind", ["logistic", "hgb"])
def test_fits_and_predictions_run_within_the_thread_limit(kind, monkeypatch):
    X, y = linear_world(400, 2)
    seen = []
    fit = models._WeightedPipeline.fit

    def spy(self, *args, **kwargs):
        seen.append(set(_pool_threads().values()))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(models._WeightedPipeline, "fit", spy)
    before = _pool_threads()
    model = LeadScoreModel(kind=kind, n_threads=1).fit(X, y)
    assert len(seen) == 3 and all(s == {1} for s in seen)
    assert _pool_threads() == before  # the limits are lifted after the fit
    p1 = model.predict_proba(X)
    p2 = LeadScoreModel(kind=kind, n_threads=2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)  # the results do not depend on the threads


def test_default_threads_follow_the_rows_and_the_cores(monkeypatch):
    monkeypatch.setattr(models, "available_cores", lambda: 8)
    assert models.ROWS_PER_THREAD == 50_000
    assert [default_threads(n) for n in (1, 99_999, 100_000, 175_000, 10**7)] == [1, 1, 2, 3, 8]
    monkeypatch.setattr(models, "available_cores", lambda: 2)
    assert default_threads(10**7) == 2


def test_available_cores_is_the_affinity(monkeypatch):
    monkeypatch.setattr(models.os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert models.available_cores() == 3
    monkeypatch.delattr(models.os, "sched_getaffinity")
    monkeypatch.setattr(models.os, "cpu_count", lambda: 6)
    assert models.available_cores() == 6


def test_n_threads_validation():
    X, y = linear_world(60, 0)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"'n_threads' parameter of LeadScoreModel must be "
                                             r"an int >= 1 or None .* Got "):
            LeadScoreModel(kind="logistic", n_threads=bad).fit(X, y)


# --------------------------------------------------------------------------------------------
# explanation: importance, and what ScoreFit prints and logs
# --------------------------------------------------------------------------------------------
def test_feature_importance_finds_the_columns_that_carry_the_signal():
    rng = np.random.default_rng(8)
    n = 3000
    X = pd.DataFrame({"visits": rng.poisson(2, n).astype(float),
                      "persona": rng.choice(["founder", "ops", "it"], n),
                      "noise": rng.random(n), "noise_cat": rng.choice(["a", "b"], n)})
    logit = -2.5 + 0.8 * X["visits"] + 1.5 * (X["persona"] == "founder")
    y = rng.random(n) < expit(logit)
    model = LeadScoreModel(kind="logistic").fit(X.iloc[:2000], y[:2000])
    table = feature_importance(model, X.iloc[2000:], y[2000:], random_state=3)
    assert table.index.tolist()[:2] == ["visits", "persona"]
    assert list(table.columns) == ["importance_mean", "importance_std"]
    assert table.loc["visits", "importance_mean"] > 0.1
    assert table.loc["persona", "importance_mean"] > 0.03
    assert table.loc[["noise", "noise_cat"], "importance_mean"].abs().max() < 0.01
    assert (table["importance_std"] >= 0).all()
    pd.testing.assert_frame_equal(
        table, feature_importance(model, X.iloc[2000:], y[2000:], random_state=3))
    with pytest.raises(TypeError, match="needs X as a DataFrame"):
        feature_importance(model, X.to_numpy(), y)
    with pytest.raises(ValueError, match="needs both classes"):
        feature_importance(model, X.iloc[:5], np.zeros(5))


@pytest.mark.parametrize("kind", ["logistic", "hgb"])
@pytest.mark.parametrize("rows_per_call", [10**9, 700])
def test_feature_importance_equals_scikit_learns_permutation_importance(kind, rows_per_call,
                                                                        monkeypatch):
    """The batched shuffles give sklearn.inspection.permutation_importance's figures: the same
    permutations of each column, the same AUC drops (700 rows per call: several calls, blocks
    cut across columns)."""
    from sklearn.inspection import permutation_importance

    rng = np.random.default_rng(11)
    n = 900
    X = pd.DataFrame({"visits": rng.poisson(2, n).astype(float),
                      "persona": pd.Categorical(rng.choice(["founder", "ops", "it"], n)),
                      "source": rng.choice(["web", "ads", "event", None], n),
                      "age": rng.random(n) * 30})
    logit = -1.5 + 0.6 * X["visits"] + 1.2 * (X["persona"] == "founder") - 0.03 * X["age"]
    y = rng.random(n) < expit(logit)
    model = LeadScoreModel(kind=kind).fit(X.iloc[:600], y[:600])
    monkeypatch.setattr(models, "_PERMUTED_ROWS", rows_per_call)
    test_X, test_y = X.iloc[600:], y[600:]
    ours = feature_importance(model, test_X, test_y, n_repeats=3, random_state=7)
    ref = permutation_importance(model, test_X, test_y, scoring="roc_auc", n_repeats=3,
                                 random_state=7)
    expected = pd.DataFrame({"importance_mean": ref.importances_mean,
                             "importance_std": ref.importances_std},
                            index=pd.Index(list(X.columns), name="feature"))
    expected = expected.sort_values("importance_mean", ascending=False, kind="stable")
    pd.testing.assert_frame_equal(ours, expected, check_exact=True)
    assert ours["importance_std"].gt(0).any()  # the repeats differ: not one shuffle reused
    with pytest.raises(ValueError, match="'n_repeats' must be an int >= 1. Got 0"):
        feature_importance(model, test_X, test_y, n_repeats=0)


def test_score_fit_prints_and_logs_the_cross_validation_calibration_and_importance():
    X, y = threshold_world(1200, 6)
    X = X.assign(channel=np.where(X["x2"] > 0, "Lead Add Form", "API"))
    fit = fit_on_table(X, pd.Series(y, name="converted"), source="crm.csv")
    assert fit.model.kind_ == "hgb" and fit.params["kind_chosen"] == "hgb"
    pd.testing.assert_frame_equal(fit.cv, fit.model.cv_results_)
    assert set(fit.importance.index[:2]) == {"x0", "x1"}  # the two thresholds of the truth
    text = fit.to_text()
    for heading in ("Cross-validated on the training data (3 splits",
                    "kind 'auto' kept hgb: mean Brier",
                    "Calibration on the holdout, by decile of prediction",
                    "Features that matter most (5 of 5; permutation importance"):
        assert heading in text
    assert_result_protocol(fit)
    metrics = fit.run_metrics()
    assert metrics["cv_auc.hgb"] == fit.cv.loc["hgb", "auc_mean"]
    assert metrics["cv_brier_std.logistic"] == fit.cv.loc["logistic", "brier_std"]
    assert metrics["importance.x0"] == fit.importance.loc["x0", "importance_mean"]
    tables = fit.run_tables()
    assert set(tables) == {"calibration", "lift", "cv", "importance"}
    assert list(tables["importance"].index) == ["importance_mean", "importance_std"]
    assert list(tables["importance"].columns) == list(fit.importance.index)
    # a fixed kind is cross-validated alone, over the same splits
    fixed = fit_on_table(X, pd.Series(y, name="converted"), kind="logistic", source="crm.csv")
    assert list(fixed.cv.index) == ["logistic"]
    pd.testing.assert_series_equal(fixed.cv.loc["logistic"], fit.cv.loc["logistic"])
    assert "kind 'auto' kept" not in fixed.to_text()
    assert repr(fixed).startswith("<ScoreFit: logistic model, stratified holdout")


def test_clean_categories_cleans_each_distinct_value_as_each_value():
    X = pd.DataFrame({
        "text": [" Founder", "Select", None, "N/A", np.nan, "it ", pd.NA, "", "Founder"],
        "mixed": [1, True, 1.0, "1", None, " True", 2, "  ", pd.NaT],
        "category": pd.Categorical(["u", None, "Select", "v", "u", "u", "v", None, "w"]),
        "empty": [None] * 9,
    })
    expected = np.array([[_clean_value(v) for v in X[c].astype(object)] for c in X],
                        dtype=object).T
    got = _clean_categories(X)
    assert pd.DataFrame(got).equals(pd.DataFrame(expected))
    text = pd.Series(got[:, 0])
    assert text.isna().tolist() == [False, True, True, True, True, False, True, True, False]
    assert text.dropna().tolist() == ["Founder", "it", "Founder"]
    assert got[:4, 1].tolist() == ["1", "True", "1.0", "1"]  # 1, True and 1.0 kept apart
    assert got[5, 1] == "True" and pd.isna(got[7, 1]) and pd.isna(got[8, 1])
    assert pd.isna(got[:, 3]).all()


def test_score_fit_on_too_few_conversions_to_cross_validate_says_so():
    rng = np.random.default_rng(9)
    X = pd.DataFrame({"visits": rng.poisson(2, 60).astype(float)})
    y = pd.Series(np.r_[np.ones(3, bool), np.zeros(57, bool)], name="converted")
    fixed = fit_on_table(X, y, kind="logistic", source="tiny.csv")  # 2 conversions to train on
    assert fixed.cv["n_splits"].tolist() == [0] and fixed.cv["auc_mean"].isna().all()
    assert "Not cross-validated on the training data: a class is too rare" in fixed.to_text()
    cv_metrics = {k: v for k, v in fixed.run_metrics().items() if k.startswith("cv_")}
    assert cv_metrics and all(np.isnan(v) for v in cv_metrics.values())  # log_metrics skips NaN
    with pytest.warns(UserWarning, match="Fitted the logistic model, without a comparison"):
        auto = fit_on_table(X, y, source="tiny.csv")
    assert auto.model.kind_ == "logistic" and "Not cross-validated" in auto.to_text()
    assert_result_protocol(auto)
