"""Fitting and scoring as ``nurturelab score`` does, so that a notebook calls the same functions.

:func:`fit_on_export` (a temporal split of an export, the model and the comparison with the
points) and :func:`fit_on_table` (a lead-level table from
:func:`nurturelab.scoring.table.read_lead_table`, on a stratified holdout) return a
:class:`ScoreFit` result; :func:`score_open_leads` ranks the leads open at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from nurturelab.checks import is_number, need_columns, utc_timestamp
from nurturelab.plots import axes
from nurturelab.result import Result, format_table
from nurturelab.scoring.features import open_leads, snapshot
from nurturelab.scoring.models import (
    LeadScoreModel,
    TemporalSplit,
    calibration_table,
    cross_validate_kinds,
    empty_cv_table,
    evaluate,
    feature_importance,
    fit_points,
    lift_table,
    temporal_split,
    to_point_rules,
)
from nurturelab.scoring.points import DEFAULT_RULES, PointRules, scores
from nurturelab.scoring.table import leakage_warnings
from nurturelab.tracking import personal_columns

__all__ = ["ScoreFit", "compare_points", "fit_on_export", "fit_on_table", "score_open_leads"]

TOP_FEATURES = 10
"""Features :class:`ScoreFit` prints and logs as metrics (all are in its ``importance``)."""

def compare_points(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    train_until: Any,
    test_from: Any,
    horizon_days: float,
    rules: PointRules = DEFAULT_RULES,
    model: LeadScoreModel | None = None,
    split: TemporalSplit | None = None,
) -> pd.DataFrame:
    """Holdout AUC of the default points, learned points and a model, on one temporal split.

    Returns
    -------
    DataFrame indexed by ``scorer`` (``default_points``, ``learned_points``, ``model``) with
    ``auc`` and ``n`` on the test snapshot; ``attrs["points"]`` holds the learned points table.
    """
    s = split if split is not None else temporal_split(
        leads, events, train_until=train_until, test_from=test_from, horizon_days=horizon_days)
    table = fit_points(s.X_train, s.y_train)
    m = clone(model) if model is not None else LeadScoreModel()
    p = m.fit(s.X_train, s.y_train.to_numpy()).predict_proba(s.X_test)[:, 1]
    y = s.y_test.to_numpy()
    aucs = {"default_points": _points_auc(leads, events, rules, s, as_of=test_from),
            "learned_points": _points_auc(leads, events, to_point_rules(table), s,
                                          as_of=test_from),
            "model": float(roc_auc_score(y, p))}
    out = _auc_table(aucs, len(y))
    out.attrs["points"] = table
    return out


def _points_score(leads: pd.DataFrame, events: pd.DataFrame, rules: PointRules,
                  split: TemporalSplit, *, as_of: Any) -> np.ndarray:
    """Behaviour points of the holdout leads, scored at the test snapshot."""
    return scores(leads, events, rules, as_of=as_of)["score"].reindex(
        split.X_test.index).to_numpy(float)


def _points_auc(leads: pd.DataFrame, events: pd.DataFrame, rules: PointRules,
                split: TemporalSplit, *, as_of: Any) -> float:
    """Holdout AUC of behaviour points scored at the test snapshot."""
    score = _points_score(leads, events, rules, split, as_of=as_of)
    return float(roc_auc_score(split.y_test.to_numpy(), score))


def _auc_table(aucs: Mapping[str, float], n: int) -> pd.DataFrame:
    return pd.DataFrame({"auc": list(aucs.values()), "n": n},
                        index=pd.Index(list(aucs), name="scorer"))


@dataclass(repr=False, eq=False)
class ScoreFit(Result):
    """A lead-score model fitted and judged on a holdout (made by :func:`fit_on_export` and
    :func:`fit_on_table`); what ``nurturelab score fit`` prints and logs.

    Attributes
    ----------
    model : LeadScoreModel
        Fitted on the training part.
    X_test : DataFrame
        The holdout's features (its first rows are the model's input example in MLflow).
    y_test, p_test : ndarray of shape (n_test,)
        The holdout's outcomes and the model's calibrated probabilities.
    metrics : dict
        :func:`evaluate` of ``p_test``.
    comparison : DataFrame
        Holdout AUC (and ``n``) by ``scorer``: ``default_points`` and ``learned_points`` on an
        export, ``model``.
    points : DataFrame
        The learned points (:func:`fit_points`); empty when there are none.
    params : dict
        How it was fitted (logged as the MLflow run's parameters).
    design : str
        What it was trained and tested on, in words.
    notes : tuple of str
        What could not be done (no learned points when no event raises the odds), and on a
        table the columns dropped before fitting and those that may leak the outcome.
    points_test : ndarray of shape (n_test,), optional
        The default points' scores of the holdout leads (an export's fit): what
        :func:`nurturelab.scoring.quality.check_fit` compares the model with, lead by lead.
    cv : DataFrame
        The model's cross-validation on the training data
        (:func:`~nurturelab.scoring.models.cross_validate_kinds`): AUC, Brier and log loss,
        mean and standard deviation over the splits, by ``kind`` (both kinds when the model's
        kind is ``'auto'``, which chose the one of lower mean Brier).
    importance : DataFrame
        :func:`~nurturelab.scoring.models.feature_importance` on the holdout: the drop in AUC
        when each input column is shuffled (mean and standard deviation over 5 shuffles),
        most important first.
    """

    model: LeadScoreModel
    X_test: pd.DataFrame
    y_test: np.ndarray
    p_test: np.ndarray
    metrics: dict[str, float]
    comparison: pd.DataFrame
    points: pd.DataFrame
    params: dict[str, Any]
    design: str
    notes: tuple[str, ...] = ()
    points_test: np.ndarray | None = None
    cv: pd.DataFrame = field(default_factory=pd.DataFrame)
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def summary(self) -> pd.DataFrame:
        """Holdout metrics by ``scorer``: ``auc`` for every scorer, and for the model also
        ``pr_auc``, ``brier``, ``brier_skill`` and ``log_loss`` (points are ranks, not
        probabilities)."""
        table = self.comparison[["auc"]].copy()
        for name in ("pr_auc", "brier", "brier_skill", "log_loss"):
            table[name] = np.nan
            table.loc["model", name] = self.metrics[name]
        return table

    def _kind(self) -> str:
        """The kind fitted (what ``kind='auto'`` chose)."""
        return getattr(self.model, "kind_", self.model.kind)

    def _describe(self) -> str:
        m = self.metrics
        chosen = " (chosen by cross-validation)" if self.model.kind == "auto" else ""
        return (f"{self._kind()} model{chosen}, {self.params['validation']} holdout of "
                f"{int(m['n']):,d} leads: AUC {m['auc']:.3f}, Brier skill {m['brier_skill']:.3f}")

    def to_text(self, decimals: int = 3) -> str:
        """The header and the summary table, then the cross-validation on the training data,
        the calibration on the holdout by decile and the features that matter most."""
        parts = [super().to_text(decimals)]
        if len(self.cv) and not self.cv["n_splits"].max():
            parts += ["", "Not cross-validated on the training data: a class is too rare there "
                          "to fit and calibrate a model within each split's training part."]
        elif len(self.cv):
            parts += ["", f"Cross-validated on the training data ({self.cv['n_splits'].max()} "
                          f"splits; mean and standard deviation over them):",
                      format_table(self.cv, max(decimals, 4))]
            if self.model.kind == "auto" and len(self.cv) > 1:
                brier = self.cv["brier_mean"]
                others = ", ".join(f"{k} {v:.5f}" for k, v in brier.items()
                                   if k != self._kind())
                parts.append(f"kind 'auto' kept {self._kind()}: mean Brier "
                             f"{brier[self._kind()]:.5f}, against {others}")
        parts += ["", "Calibration on the holdout, by decile of prediction (Wilson 95% "
                      "interval of the observed rate):",
                  format_table(self.calibration(), max(decimals, 4))]
        if len(self.importance):
            top = self.importance.head(TOP_FEATURES)
            parts += ["", f"Features that matter most ({len(top)} of {len(self.importance)}; "
                          "permutation importance on the holdout: the drop in AUC when the "
                          "column is shuffled):",
                      format_table(top, decimals)]
        return "\n".join(parts)

    def _header(self) -> list[str]:
        m = self.metrics
        return [repr(self), self.design,
                f"holdout base rate {m['base_rate']:.2%}; Brier of predicting it "
                f"{m['brier_base']:.4f}"]

    def plot(self, ax=None):
        """The model's calibration on the holdout: observed against expected conversion by
        decile of prediction, with Wilson 95% intervals; returns the axes."""
        ax = axes(ax, figsize=(5.5, 5))
        t = self.calibration()
        ax.errorbar(t["expected"], t["observed"],
                    yerr=[t["observed"] - t["ci_low"], t["ci_high"] - t["observed"]],
                    fmt="o-", capsize=3, label=f"{self._kind()} model")
        top = float(max(t["ci_high"].max(), t["expected"].max()))
        ax.plot([0, top], [0, top], color="grey", ls="--", lw=1, label="perfect calibration")
        ax.set_xlabel("expected (mean prediction)")
        ax.set_ylabel("observed conversion")
        ax.set_title("Calibration on the holdout")
        ax.legend()
        return ax

    def calibration(self, n_bins: int = 10) -> pd.DataFrame:
        """:func:`calibration_table` of the holdout."""
        return calibration_table(self.y_test, self.p_test, n_bins=n_bins)

    def lift(self, n: int = 10) -> pd.DataFrame:
        """:func:`lift_table` of the holdout."""
        return lift_table(self.y_test, self.p_test, n=n)

    def run_metrics(self) -> dict[str, float]:
        """The metrics an MLflow run of this fit logs: :attr:`metrics`, ``auc.<scorer>``, the
        cross-validation (``cv_auc.<kind>``, ``cv_auc_std.<kind>``, and so for ``brier`` and
        ``log_loss``) and the importance of the top features (``importance.<feature>``)."""
        out = {**self.metrics, **{f"auc.{k}": float(v)
                                  for k, v in self.comparison["auc"].items()}}
        for kind, row in self.cv.iterrows():
            for name in ("auc", "brier", "log_loss"):
                out[f"cv_{name}.{kind}"] = float(row[f"{name}_mean"])
                out[f"cv_{name}_std.{kind}"] = float(row[f"{name}_std"])
        for feature, row in self.importance.head(TOP_FEATURES).iterrows():
            out[f"importance.{feature}"] = float(row["importance_mean"])
        return out

    def run_tables(self) -> dict[str, pd.DataFrame]:
        """The tables an MLflow run of this fit logs: calibration, lift, learned points, the
        cross-validation (``cv``) and the importance of every feature (``importance``: one
        column per feature, rows ``importance_mean`` and ``importance_std``; features as
        columns because a column of feature names such as "Lead Source" reads, to the
        personal-data check of :func:`nurturelab.tracking.log_table`, like people's names)."""
        tables = {"calibration": self.calibration(), "lift": self.lift()}
        if len(self.points):
            tables["learned_points"] = self.points
        if len(self.cv):
            tables["cv"] = self.cv
        if len(self.importance):
            wide = self.importance.T
            wide.index.name = "statistic"
            tables["importance"] = wide
        return tables


def _positive_days(value: Any, what: str) -> float:
    if not (is_number(value) and np.isfinite(value) and value > 0):
        raise ValueError(f"The 'horizon_days' parameter of {what} must be a positive number of "
                         f"days. Got {value!r} instead.")
    return float(value)


def _points_beside(leads: pd.DataFrame, events: pd.DataFrame, split: TemporalSplit, *,
                   as_of: pd.Timestamp) -> tuple[dict[str, float], pd.DataFrame, tuple[str, ...]]:
    """Holdout AUC of the default points and of points learned on the training set (with a
    note instead when no event raises the odds), and the learned points."""
    aucs = {"default_points": _points_auc(leads, events, DEFAULT_RULES, split, as_of=as_of)}
    try:
        points = fit_points(split.X_train, split.y_train)
    except ValueError as exc:  # learned points need an event that raises the odds
        return aucs, pd.DataFrame(), (f"no learned points to compare: {exc}",)
    aucs["learned_points"] = _points_auc(leads, events, to_point_rules(points), split,
                                         as_of=as_of)
    return aucs, points, ()


def _explained(model: LeadScoreModel, X_train: pd.DataFrame, y_train: np.ndarray,
               X_test: pd.DataFrame, y_test: np.ndarray,
               random_state: int | None) -> dict[str, pd.DataFrame]:
    """A :class:`ScoreFit`'s ``cv`` (the model's own with kind 'auto', else its kind's,
    over the same splits; no figures when a class is too rare in the training parts to
    calibrate within them) and ``importance`` (on the holdout)."""
    if hasattr(model, "cv_results_"):
        cv = model.cv_results_
    else:
        try:
            cv = cross_validate_kinds(model, X_train, y_train, kinds=(model.kind_,))
        except ValueError:  # the model itself could be fitted: keep it, without the figures
            cv = empty_cv_table((model.kind_,))
    return {"cv": cv, "importance": feature_importance(model, X_test, y_test,
                                                       random_state=random_state)}


def fit_on_export(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    kind: Literal["auto", "logistic", "hgb"] = "auto",
    horizon_days: float = 30.0,
    train_until: Any = None,
    test_from: Any = None,
    random_state: int | None = 0,
    n_threads: int | None = None,
) -> ScoreFit:
    """Fit a :class:`LeadScoreModel` at one snapshot of an export and judge it at a later one.

    The model learns from the leads open at ``train_until`` (features as of then, converted
    within ``horizon_days`` after it) and is judged on the leads open at ``test_from``, next to
    the default points and points learned from the same training set (:func:`fit_points`).

    Parameters
    ----------
    leads, events : DataFrame
        Validated contract tables (:func:`nurturelab.schema.read_export`).
    kind : {'auto', 'logistic', 'hgb'}, default 'auto'
        The :class:`LeadScoreModel`'s: 'auto' cross-validates both on the training snapshot
        and keeps the one of lower mean Brier.
    horizon_days : float, default 30
    train_until, test_from : timestamp-like, optional
        The snapshots; by default ``test_from`` is the last event minus the horizon and
        ``train_until`` is ``test_from`` minus the horizon, so that every label is known.
    random_state : int, default 0
        Seed of the model's folds and boosting, and of the permutation importance.
    n_threads : int, optional
        The model's thread limit (default: one thread per 50,000 rows, at most the cores
        available).

    Returns
    -------
    ScoreFit

    Raises
    ------
    ValueError
        The training labels would reach past ``test_from``, or a snapshot has no conversions
        within the horizon (the message names the snapshots).
    """
    horizon = _positive_days(horizon_days, "fit_on_export")
    need_columns(events, ("ts",), "events")
    if not len(events):
        raise ValueError("fit_on_export: the events table is empty; nothing to learn from.")
    step = pd.Timedelta(days=horizon)
    test_at = (utc_timestamp(test_from, "test_from") if test_from is not None
               else events["ts"].max() - step)
    train_at = (utc_timestamp(train_until, "train_until") if train_until is not None
                else test_at - step)
    split = temporal_split(leads, events, train_until=train_at, test_from=test_at,
                           horizon_days=horizon)
    if split.y_train.nunique() < 2 or split.y_test.nunique() < 2:
        raise ValueError(f"the training ({train_at:%Y-%m-%d}) or test ({test_at:%Y-%m-%d}) "
                         f"snapshot has no conversions within {horizon:g} days; choose other "
                         "snapshots ('train_until', 'test_from') or a longer 'horizon_days'")
    model = LeadScoreModel(kind=kind, random_state=random_state, n_threads=n_threads)
    model.fit(split.X_train, split.y_train.to_numpy())
    p = model.predict_proba(split.X_test)[:, 1]
    y = split.y_test.to_numpy()
    metrics = evaluate(y, p)
    aucs, points, notes = _points_beside(leads, events, split, as_of=test_at)
    aucs["model"] = metrics["auc"]
    params = {"kind": kind, "horizon_days": horizon, "train_until": train_at.isoformat(),
              "test_from": test_at.isoformat(), "train_leads": len(split.y_train),
              "test_leads": len(y), "validation": "temporal"}
    params["kind_chosen"] = model.kind_
    design = (f"Trained on {len(split.y_train):,d} open leads at {train_at:%Y-%m-%d}, tested "
              f"on {len(y):,d} at {test_at:%Y-%m-%d} (converted within {horizon:g} days)")
    return ScoreFit(model, split.X_test, y, p, metrics, _auc_table(aucs, len(y)), points,
                    params, design, notes,
                    points_test=_points_score(leads, events, DEFAULT_RULES, split, as_of=test_at),
                    **_explained(model, split.X_train, split.y_train.to_numpy(), split.X_test,
                                 y, random_state))


def fit_on_table(
    X: pd.DataFrame,
    y: Any,
    *,
    kind: Literal["auto", "logistic", "hgb"] = "auto",
    test_size: float = 0.25,
    random_state: int | None = 0,
    source: str = "the table",
    n_threads: int | None = None,
) -> ScoreFit:
    """Fit a :class:`LeadScoreModel` on a lead-level table and judge it on a stratified
    holdout (such a table carries no event times, so there is no later window to test on).

    Parameters
    ----------
    X, y : DataFrame and Series
        As :func:`read_lead_table` returns them.
    kind : {'auto', 'logistic', 'hgb'}, default 'auto'
        As for :func:`fit_on_export` (cross-validated on the training rows).
    test_size : float, default 0.25
        Share of the rows held out.
    random_state : int, default 0
        Seed of the holdout and of the model.
    source : str
        The table's name, for the description and the run's parameters.
    n_threads : int, optional
        The model's thread limit.

    Returns
    -------
    ScoreFit
        Its ``notes`` name the columns dropped before fitting, then the columns that may leak
        the outcome (:func:`~nurturelab.scoring.table.leakage_warnings` on the training rows):
        kept in the fit, named so that you can drop them.

    Notes
    -----
    Columns holding personal data (:func:`nurturelab.tracking.personal_columns`: e-mail
    addresses, phone numbers, people's names, by name or by value) and identifiers (a different
    text value on every row) are dropped before fitting: a model would only learn them by
    heart, and they would reach its artifact (a one-hot encoder stores every value it saw) and
    its input example.
    """
    from sklearn.model_selection import train_test_split

    y = pd.Series(np.asarray(y), index=X.index, name=getattr(y, "name", None) or "converted")
    if y.nunique() < 2:
        raise ValueError(f"{source}: {y.name!r} has a single value; nothing to learn")
    personal = personal_columns(X, identifiers=True)
    notes = tuple(f"column {col!r} dropped before fitting: it holds {why}"
                  for col, why in personal.items())
    X = X.drop(columns=list(personal))
    if X.shape[1] == 0:
        raise ValueError(f"{source}: no column is left to learn from once the personal data "
                         f"and identifiers {list(personal)} are dropped")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y,
                                              random_state=random_state)
    notes += leakage_warnings(X_tr, y_tr, random_state=random_state)
    model = LeadScoreModel(kind=kind, random_state=random_state, n_threads=n_threads)
    model.fit(X_tr, y_tr.to_numpy())
    p = model.predict_proba(X_te)[:, 1]
    metrics = evaluate(y_te.to_numpy(), p)
    params = {"kind": kind, "table": source, "target": y.name, "train_leads": len(y_tr),
              "test_leads": len(y_te), "validation": "stratified"}
    params["kind_chosen"] = model.kind_
    design = (f"Trained on {len(y_tr):,d} leads of {source}, tested on a stratified holdout of "
              f"{len(y_te):,d} (no event times, so no later window to test on)")
    return ScoreFit(model, X_te, y_te.to_numpy(), p, metrics,
                    _auc_table({"model": metrics["auc"]}, len(y_te)), pd.DataFrame(), params,
                    design, notes,
                    **_explained(model, X_tr, y_tr.to_numpy(), X_te, y_te.to_numpy(),
                                 random_state))


def score_open_leads(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    model: Any,
    *,
    as_of: Any = None,
    rules: PointRules = DEFAULT_RULES,
) -> pd.DataFrame:
    """Whom to work today: every lead open at ``as_of``, by the model's probability.

    Parameters
    ----------
    leads, events : DataFrame
        Validated contract tables.
    model : fitted classifier
        Trained on :func:`~nurturelab.scoring.features.snapshot` features (a
        :class:`LeadScoreModel` from :func:`fit_on_export`, or loaded from the registry).
    as_of : timestamp-like, optional
        Default the last event.
    rules : PointRules, default DEFAULT_RULES
        The behaviour points shown next to the probability.

    Returns
    -------
    DataFrame indexed by ``lead_id``, one row per lead neither won nor lost at ``as_of``,
    highest ``p_convert`` first, with ``points`` (their behaviour score then);
    ``attrs["as_of"]`` holds the time.
    """
    need_columns(events, ("ts",), "events")
    at = utc_timestamp(as_of if as_of is not None else events["ts"].max(), "as_of")
    X = snapshot(leads, events, as_of=at).loc[open_leads(leads, events, as_of=at)]
    trained_on = getattr(model, "feature_names_in_", None)
    lacking = [] if trained_on is None else [c for c in trained_on if c not in X.columns]
    if lacking:
        raise ValueError(
            f"score_open_leads: the model was trained on columns the export's features "
            f"(nurturelab.scoring.features.snapshot) do not have: {lacking[:6]}"
            f"{' and more' if len(lacking) > 6 else ''}. It was fitted on a lead table "
            "(score fit --table), which scores rows of such a table, not an export's leads: "
            "give table models a --model-name of their own, and score exports with a model "
            "fitted on an export (score fit --leads ... --events ...)")
    p = model.predict_proba(X)[:, 1] if len(X) else np.array([], dtype=float)
    out = pd.DataFrame({"p_convert": p}, index=X.index)
    out["points"] = scores(leads, events, rules, as_of=at)["score"].reindex(out.index)
    out = out.sort_values("p_convert", ascending=False, kind="stable")
    out.attrs["as_of"] = at
    return out

