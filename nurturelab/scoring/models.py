"""Calibrated lead-score models, their evaluation, and learned behaviour points.

:class:`LeadScoreModel` is a scikit-learn classifier over a lead-level table (the output of
:func:`nurturelab.scoring.features.snapshot`, or any table of numeric and categorical columns,
or a plain numeric array): numeric columns are imputed with their median (plus a missing
indicator) and, for the logistic model, standardised; other columns are one-hot encoded, their
values as they are (only ``None``, ``NaN`` and ``pd.NA`` are missing: ``"Select"`` or
``"unknown"`` is a level of its own unless the table map of
:func:`nurturelab.scoring.table.read_lead_table` declares it missing; models fitted before
issue 14 read such placeholders as missing, and still do); the whole pipeline is wrapped in
:class:`~sklearn.calibration.CalibratedClassifierCV` so that its probabilities can be read as
conversion rates.

The metrics are pure functions of ``y`` and ``p``: :func:`evaluate`, :func:`calibration_table`,
:func:`lift_table`. :func:`temporal_split` builds a training set at one snapshot and a test
set at a later one; :func:`learned_points` turns logistic coefficients over activity counts
into integer points comparable with :data:`nurturelab.scoring.points.DEFAULT_RULES`, and
:func:`compare_points` puts the default points, the learned points and the model side by side
on the same holdout.

What ``nurturelab score`` does with them is in :mod:`nurturelab.scoring.fit` (the fits and
their :class:`~nurturelab.scoring.fit.ScoreFit` result) and :mod:`nurturelab.scoring.table`
(reading a lead-level CRM table); their names can still be imported from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from nurturelab._util import rate_ci
from nurturelab.schema import ACTIVITY_NAMES
from nurturelab.scoring.auc import auc_interval
from nurturelab.scoring.features import label, snapshot
from nurturelab.scoring.points import PointRule, PointRules

__all__ = [
    "PLACEHOLDERS",
    "LeadScoreModel",
    "TemporalSplit",
    "calibration_table",
    "evaluate",
    "fit_points",
    "learned_points",
    "lift_table",
    "temporal_split",
    "to_point_rules",
]

PLACEHOLDERS = ("", "select", "-- select --", "--select--", "n/a", "na", "none", "null", "nan",
                "unknown", "-", "?")
"""Category values that models fitted before issue 14 read as missing (compared trimmed and
lower-cased), kept unchanged so that such a model, unpickled from the registry, predicts as it
did. A model fitted now reads values as they are; placeholders are declared per column in the
table map (:class:`nurturelab.scoring.table.TableColumns`), and
:data:`nurturelab.scoring.table.COMMON_PLACEHOLDERS` is the list its reader warns about."""

_KINDS = ("logistic", "hgb")
_CALIBRATIONS = ("isotonic", "sigmoid")


# --------------------------------------------------------------------------------------------
# Preprocessing helpers (module level so that fitted models pickle)
# --------------------------------------------------------------------------------------------
def _as_float(X: Any) -> np.ndarray:
    return np.asarray(pd.DataFrame(X).astype(float))


def _categories(X: Any) -> np.ndarray:
    """Object array of the values as they are (text unchanged, other values as text), with
    missing values (None, NaN, NA) as ``np.nan``.

    >>> _categories(pd.DataFrame({"c": ["Select", " it ", None, 3]})).ravel().tolist()
    ['Select', ' it ', nan, '3']
    """
    df = pd.DataFrame(X).astype(object)
    missing = df.isna().to_numpy()
    text = df.map(lambda v: v if isinstance(v, str) else str(v)).to_numpy(dtype=object)
    text[missing] = np.nan
    return text


def _clean_categories(X: Any) -> np.ndarray:
    """Object array of stripped strings, with :data:`PLACEHOLDERS` and missing values as
    ``np.nan``: how models fitted before issue 14 read categories (their pickles call this
    function by name, so it stays as it was; new fits use :func:`_categories`)."""
    df = pd.DataFrame(X).astype(object)
    out = df.where(df.notna(), np.nan)
    text = out.map(lambda v: v.strip() if isinstance(v, str) else v)
    is_placeholder = text.map(lambda v: isinstance(v, str) and v.lower() in PLACEHOLDERS)
    text = text.mask(is_placeholder.to_numpy(), np.nan)
    text = text.map(lambda v: v if isinstance(v, str) else np.nan if pd.isna(v) else str(v))
    return text.to_numpy(dtype=object)


def _preprocessor(numeric: list, categorical: list, scale: bool) -> ColumnTransformer:
    num_steps = [FunctionTransformer(_as_float, feature_names_out="one-to-one"),
                 SimpleImputer(strategy="median", add_indicator=True,
                               keep_empty_features=True)]
    if scale:
        num_steps.append(StandardScaler())
    cat = make_pipeline(
        FunctionTransformer(_categories, feature_names_out="one-to-one"),
        SimpleImputer(strategy="constant", fill_value="(missing)", keep_empty_features=True),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    parts = []
    if numeric:
        parts.append(("numeric", make_pipeline(*num_steps), numeric))
    if categorical:
        parts.append(("categorical", cat, categorical))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def _column_kinds(X: pd.DataFrame) -> tuple[list, list]:
    numeric, categorical = [], []
    for c in X.columns:
        dt = X[c].dtype
        if pd.api.types.is_bool_dtype(dt) or (pd.api.types.is_numeric_dtype(dt)
                                               and not isinstance(dt, pd.CategoricalDtype)):
            numeric.append(c)
        else:
            categorical.append(c)
    return numeric, categorical


def _check_split(i: int, split: Any, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``i`` of the calibration as (train, test) row positions, or a message naming it."""
    what = f"The 'cv' parameter of LeadScoreModel: split {i}"
    try:
        train, test = split
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a (train, test) pair of index arrays. Got "
                         f"{split!r} instead.") from None
    parts = []
    for name, idx in (("train", train), ("test", test)):
        arr = np.asarray(idx)
        if arr.ndim != 1 or not len(arr) or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{what} has a {name} part that is not a non-empty 1-D array of "
                             f"row positions (integers). Got {idx!r} instead.")
        if arr.min() < 0 or arr.max() >= n:
            raise ValueError(f"{what} has {name} positions outside 0..{n - 1} (X has {n} "
                             f"rows): min {arr.min()}, max {arr.max()}.")
        parts.append(arr)
    seen = np.unique(y[parts[0]])
    if len(seen) < 2:
        raise ValueError(f"{what} trains on one class only ({seen.tolist()}); every training "
                         "part must hold both classes (try StratifiedKFold, or fewer splits).")
    return parts[0], parts[1]


class _WeightedPipeline(Pipeline):
    """A Pipeline whose ``fit`` takes ``sample_weight`` and hands it to the final step, so that
    CalibratedClassifierCV uses the weights for the classifier as well as the calibration."""

    def fit(self, X, y=None, sample_weight=None, **params):
        if sample_weight is not None:
            params[f"{self.steps[-1][0]}__sample_weight"] = sample_weight
        return super().fit(X, y, **params)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
class LeadScoreModel(ClassifierMixin, BaseEstimator):
    """A calibrated conversion-probability model over a lead-level table.

    Parameters
    ----------
    kind : {'logistic', 'hgb'}, default 'logistic'
        L2 logistic regression on standardised features, or histogram gradient boosting.
    calibration : {'isotonic', 'sigmoid'}, default 'isotonic'
        Method of :class:`~sklearn.calibration.CalibratedClassifierCV`.
    cv : int, cross-validation splitter or iterable of (train, test) pairs, default 3
        How :class:`~sklearn.calibration.CalibratedClassifierCV` splits the data, each part
        fitting the classifier on its train indices and the calibration on its test indices:

        - an int >= 2: that many stratified, shuffled folds (fewer if the rarest class has
          fewer samples);
        - a scikit-learn splitter (an object with ``split`` and ``get_n_splits``), such as
          ``StratifiedKFold(5)``, ``TimeSeriesSplit(4)`` for rows in time order, or
          ``GroupKFold(3)`` to keep a company's leads in one fold (pass ``groups`` to
          :meth:`fit`);
        - an iterable of ``(train, test)`` arrays of row positions, e.g. from
          ``list(splitter.split(X, y))`` (a list, not a generator: a generator is used up by
          the first fit).

        Every training part must hold both classes.
    random_state : int, default 0
        Seed of the folds (for an int ``cv``) and of the boosting.

    Attributes
    ----------
    model_ : CalibratedClassifierCV
        The fitted calibrated pipeline.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.
    numeric_features_, categorical_features_ : list
        How the input columns were read (positions for arrays).

    Examples
    --------
    >>> X = pd.DataFrame({"visits": [0, 1, 2, 3, 4, 5] * 10,
    ...                   "persona": ["founder", "Select", None, "founder", "it", "it"] * 10})
    >>> y = (X["visits"] >= 3).to_numpy()
    >>> m = LeadScoreModel().fit(X, y)
    >>> m.categorical_features_, m.predict_proba(X).shape
    (['persona'], (60, 2))
    """

    def __init__(
        self,
        *,
        kind: Literal["logistic", "hgb"] = "logistic",
        calibration: Literal["isotonic", "sigmoid"] = "isotonic",
        cv: Any = 3,
        random_state: int | None = 0,
    ):
        self.kind = kind
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags

    def _check_params(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"The 'kind' parameter of LeadScoreModel must be a str among "
                             f"{set(_KINDS)}. Got {self.kind!r} instead.")
        if self.calibration not in _CALIBRATIONS:
            raise ValueError(f"The 'calibration' parameter of LeadScoreModel must be a str "
                             f"among {set(_CALIBRATIONS)}. Got {self.calibration!r} instead.")
        cv = self.cv
        is_int = isinstance(cv, int | np.integer) and not isinstance(cv, bool | np.bool_)
        is_splitter = hasattr(cv, "split") and hasattr(cv, "get_n_splits")
        is_iterable = isinstance(cv, Iterable) and not isinstance(cv, str | bytes | Mapping)
        if (is_int and cv < 2) or not (is_int or is_splitter or is_iterable):
            raise ValueError(
                "The 'cv' parameter of LeadScoreModel must be an int >= 2, a cross-validation "
                "splitter (an object with split and get_n_splits, such as StratifiedKFold(5)) "
                f"or an iterable of (train, test) index arrays. Got {cv!r} instead.")

    def _splits(self, X: pd.DataFrame, y: np.ndarray, groups: Any) -> list:
        """The (train, test) row positions of the calibration, checked."""
        cv, n = self.cv, len(y)
        if isinstance(cv, int | np.integer):
            rarest = int(np.unique(y, return_counts=True)[1].min())
            folds = min(int(cv), rarest)
            if folds < 2:
                raise ValueError(f"LeadScoreModel calibrates by cross-validation and needs at "
                                 f"least 2 samples of each class; the rarest class has "
                                 f"{rarest} sample(s).")
            splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            return list(splitter.split(X, y))
        if hasattr(cv, "split") and hasattr(cv, "get_n_splits"):
            try:
                splits = list(cv.split(X, y, groups))
            except ValueError as exc:
                if groups is None and "groups" in str(exc):
                    raise ValueError(f"The 'cv' parameter of LeadScoreModel is {cv!r}, which "
                                     "splits by group: pass the groups to fit, "
                                     "LeadScoreModel(cv=...).fit(X, y, groups=groups).") from exc
                raise
        else:
            splits = list(cv)
            if not splits:
                raise ValueError("The 'cv' parameter of LeadScoreModel holds no (train, test) "
                                 "pair (a generator is used up by the first fit: pass a list).")
        return [_check_split(i, split, y, n) for i, split in enumerate(splits)]

    def _frame(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """X as a DataFrame with the columns seen in fit; arrays must be numeric."""
        if isinstance(X, pd.DataFrame):
            if reset:
                validate_data(self, X, skip_check_array=True, reset=True)
                if X.shape[0] < 1:
                    raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a "
                                     "minimum of 1 is required.")
            else:
                validate_data(self, X, skip_check_array=True, reset=False)
            df = X.copy()
            df.columns = [str(c) for c in df.columns]
            return df
        arr = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan",
                            dtype="numeric", accept_sparse=False)
        return pd.DataFrame(arr, columns=[str(i) for i in range(arr.shape[1])])

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *,
            groups: Any = None) -> LeadScoreModel:
        """Fit the calibrated pipeline.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Numeric and categorical columns (a DataFrame), or numeric values (an array).
        y : array-like of shape (n_samples,)
            Class labels (``converted``: bool or 0/1).
        sample_weight : array-like of shape (n_samples,), optional
        groups : array-like of shape (n_samples,), optional
            Group labels for a group splitter given as ``cv`` (``GroupKFold``).

        Returns
        -------
        self
        """
        self._check_params()
        df = self._frame(X, reset=True)
        if y is None:
            raise ValueError("LeadScoreModel requires y to be passed, but the target y is None.")
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name="y"), warn=True)
        check_consistent_length(df, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"LeadScoreModel needs two classes in y; got one class only "
                             f"({self.classes_.tolist()}). Widen the horizon or the snapshot "
                             "window so that some leads convert.")
        splits = self._splits(df, y, groups)
        numeric, categorical = _column_kinds(df)
        self.numeric_features_ = numeric
        self.categorical_features_ = categorical
        if self.kind == "logistic":
            clf = LogisticRegression(max_iter=2000)
        else:
            clf = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.06,
                                                 max_leaf_nodes=15, l2_regularization=1.0,
                                                 random_state=self.random_state)
        prep = _preprocessor(numeric, categorical, scale=self.kind == "logistic")
        pipe = _WeightedPipeline([("prep", prep), ("clf", clf)])
        self.model_ = CalibratedClassifierCV(pipe, method=self.calibration, cv=splits)
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.model_.fit(df, y, **fit_params)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities, shape (n_samples, n_classes)."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self._frame(X, reset=False))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        base = super().__repr__(N_CHAR_MAX)
        if hasattr(self, "model_"):
            return (f"{base} fitted on {self.n_features_in_} feature(s) "
                    f"({len(self.numeric_features_)} numeric, "
                    f"{len(self.categorical_features_)} categorical)")
        return base


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
def _yp(y_true: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if len(y) != len(p):
        raise ValueError(f"y_true and p must have the same length. Got {len(y)} and {len(p)}.")
    if not len(y):
        raise ValueError("y_true and p are empty.")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold 0/1 or bool outcomes.")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("p must hold probabilities in [0, 1]; pass a score through a model or "
                         "rank-based metrics only.")
    return y, p


def evaluate(y_true: Any, p: Any, *, alpha: float = 0.05) -> dict[str, float]:
    """Discrimination and calibration of predicted probabilities.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Outcomes, bool or 0/1.
    p : array-like of shape (n_samples,)
        Predicted probabilities of the positive class.
    alpha : float, default 0.05
        The AUC interval is ``100 * (1 - alpha)`` %.

    Returns
    -------
    dict with ``n``, ``base_rate``, ``auc`` (ROC) with ``auc_se``, ``auc_low`` and ``auc_high``
    (DeLong's standard error and interval: :func:`nurturelab.scoring.auc.auc_interval`),
    ``pr_auc`` (average precision), ``brier``, ``brier_base``, ``brier_skill`` and ``log_loss``.
    The AUC figures are NaN when only one outcome occurs.

    ``brier_base`` is the Brier score of predicting the base rate of these same leads for every
    one of them, ``base_rate * (1 - base_rate)``: the best any constant prediction could do here
    (in hindsight, so a strict reference). ``brier_skill = 1 - brier / brier_base``: 1 is
    perfect, 0 is no better than that constant, below 0 is worse (the probabilities mislead,
    whatever the ranking).

    Examples
    --------
    >>> r = evaluate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> r["auc"], round(r["brier"], 6), r["brier_base"], round(r["brier_skill"], 4)
    (0.75, 0.158125, 0.25, 0.3675)
    """
    y, p = _yp(y_true, p)
    base = float(y.mean())
    brier = float(brier_score_loss(y, p))
    brier_base = base * (1 - base)
    two = len(np.unique(y)) == 2
    ci = auc_interval(y, p, alpha=alpha) if two else None
    return {
        "n": len(y),
        "base_rate": base,
        "auc": float(roc_auc_score(y, p)) if two else np.nan,
        "auc_se": ci.se if ci else np.nan,
        "auc_low": ci.low if ci else np.nan,
        "auc_high": ci.high if ci else np.nan,
        "pr_auc": float(average_precision_score(y, p)) if two else np.nan,
        "brier": brier,
        "brier_base": brier_base,
        "brier_skill": 1 - brier / brier_base if brier_base > 0 else np.nan,
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }


def calibration_table(y: Any, p: Any, n_bins: int = 10) -> pd.DataFrame:
    """Expected against observed conversion in bins of equal size by predicted probability.

    Returns
    -------
    DataFrame with one row per bin (lowest predictions first): ``n``, ``p_low``, ``p_high``,
    ``expected`` (mean prediction), ``observed`` (conversion rate), ``ci_low``, ``ci_high``
    (Wilson 95% interval of ``observed``) and ``gap`` (``observed - expected``).

    Examples
    --------
    >>> t = calibration_table([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    >>> t[["n", "expected", "observed"]].to_dict("list")
    {'n': [2, 2], 'expected': [0.15000000000000002, 0.8], 'observed': [0.0, 1.0]}
    """
    y, p = _yp(y, p)
    if not (isinstance(n_bins, int | np.integer) and n_bins >= 1):
        raise ValueError(f"'n_bins' must be a whole number >= 1. Got {n_bins!r} instead.")
    order = np.argsort(p, kind="stable")
    bins = np.empty(len(p), dtype=np.int64)
    bins[order] = np.arange(len(p)) * n_bins // len(p)
    df = pd.DataFrame({"bin": bins + 1, "y": y, "p": p})
    t = df.groupby("bin").agg(n=("y", "size"), positives=("y", "sum"), p_low=("p", "min"),
                              p_high=("p", "max"), expected=("p", "mean"),
                              observed=("y", "mean"))
    lo, hi = rate_ci(t["positives"], t["n"])
    t["ci_low"], t["ci_high"] = lo, hi
    t["gap"] = t["observed"] - t["expected"]
    return t.drop(columns="positives")


def lift_table(y: Any, p: Any, n: int = 10) -> pd.DataFrame:
    """Conversion, lift and cumulative gains by group of equal size, best predictions first.

    Returns
    -------
    DataFrame indexed by ``decile`` (1 = highest predictions) with ``n``, ``positives``,
    ``rate``, ``lift`` (rate over the overall rate), ``cum_share`` (share of leads worked so
    far), ``cum_gain`` (share of all conversions captured so far) and ``cum_lift``.

    Examples
    --------
    >>> t = lift_table([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], n=2)
    >>> t[["rate", "lift", "cum_gain"]].to_dict("list")
    {'rate': [0.5, 0.0], 'lift': [2.0, 0.0], 'cum_gain': [1.0, 1.0]}
    """
    y, p = _yp(y, p)
    if not (isinstance(n, int | np.integer) and n >= 1):
        raise ValueError(f"'n' must be a whole number >= 1. Got {n!r} instead.")
    order = np.argsort(-p, kind="stable")
    group = np.empty(len(p), dtype=np.int64)
    group[order] = np.arange(len(p)) * n // len(p)
    df = pd.DataFrame({"decile": group + 1, "y": y})
    t = df.groupby("decile").agg(n=("y", "size"), positives=("y", "sum"))
    base = y.mean()
    t["rate"] = t["positives"] / t["n"]
    t["lift"] = t["rate"] / base if base > 0 else np.nan
    t["cum_share"] = t["n"].cumsum() / len(y)
    total = t["positives"].sum()
    t["cum_gain"] = t["positives"].cumsum() / total if total > 0 else np.nan
    t["cum_lift"] = t["cum_gain"] / t["cum_share"]
    return t


# --------------------------------------------------------------------------------------------
# Temporal validation
# --------------------------------------------------------------------------------------------
class TemporalSplit(NamedTuple):
    """Features and labels at a training snapshot and at a later test snapshot."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series


def temporal_split(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    train_until: Any,
    test_from: Any,
    horizon_days: float,
    **snapshot_params: Any,
) -> TemporalSplit:
    """Training set at ``train_until``, test set at the later ``test_from``.

    Each set holds the leads open at its snapshot (created by then, neither won nor lost:
    :func:`~nurturelab.scoring.features.open_leads`), their
    :func:`~nurturelab.scoring.features.snapshot` features, and whether they converted within
    ``horizon_days`` after it (:func:`~nurturelab.scoring.features.label`). The training labels
    must be known by the test snapshot: ``train_until + horizon_days <= test_from``. A lead
    still open at both snapshots appears in both, with the features it had at each.

    Parameters
    ----------
    leads, events : DataFrame
    train_until, test_from : timestamp-like
    horizon_days : float
    **snapshot_params
        Passed to :func:`snapshot` (``windows``, ``activities``, ``lead_columns``).

    Returns
    -------
    TemporalSplit
        ``(X_train, y_train, X_test, y_test)``, features indexed by ``lead_id``.
    """
    a, b = pd.Timestamp(train_until), pd.Timestamp(test_from)
    a = a.tz_localize("UTC") if a.tzinfo is None else a
    b = b.tz_localize("UTC") if b.tzinfo is None else b
    if a + pd.Timedelta(days=float(horizon_days)) > b:
        raise ValueError(f"The training labels would look past 'test_from': train_until ({a}) "
                         f"+ horizon_days ({horizon_days}) is after test_from ({b}). Move "
                         "test_from later or shorten the horizon.")
    sets = []
    for at in (a, b):
        y = label(leads, events, as_of=at, horizon_days=horizon_days)
        X = snapshot(leads, events, as_of=at, **snapshot_params).loc[y.index]
        sets += [X, y]
    return TemporalSplit(*sets)


# --------------------------------------------------------------------------------------------
# Learned points
# --------------------------------------------------------------------------------------------
def _parse_count(name: str) -> tuple[str, float | None]:
    """``'pricing_visit_30d'`` -> ``('pricing_visit', 30.0)``; other names -> ``(name, None)``."""
    stem, _, last = name.rpartition("_")
    if stem and last.endswith("d") and last[:-1].isdigit():
        return stem, float(last[:-1])
    return name, None


def learned_points(
    model_or_coefs: Any,
    feature_names: Sequence[str],
    *,
    scale: float = 25.0,
) -> pd.DataFrame:
    """Logistic coefficients over event counts expressed as integer points per event.

    Parameters
    ----------
    model_or_coefs : fitted LogisticRegression or array-like of shape (n_features,)
        Coefficients on *unscaled* counts (log-odds per event).
    feature_names : sequence of str
        Names of the count features, ``'{event}_{w}d'`` for a count over ``w`` days or the
        event name for an all-time count.
    scale : float, default 25
        Points given to the largest positive coefficient (the default rules give 25 to a demo
        request or a pricing visit).

    Returns
    -------
    DataFrame indexed by feature with ``event``, ``window_days`` (NaN for all-time counts),
    ``coef`` and ``points`` (``round(coef * scale / max positive coef)``, integer). Use
    :func:`to_point_rules` to score with :func:`nurturelab.scoring.points.scores`.

    Examples
    --------
    >>> learned_points([0.2, 0.9, -0.1], ["email_open_30d", "demo_request_30d", "sms_30d"])
    ... # doctest: +NORMALIZE_WHITESPACE
                             event  window_days  coef  points
    feature
    email_open_30d      email_open         30.0   0.2       6
    demo_request_30d  demo_request         30.0   0.9      25
    sms_30d                    sms         30.0  -0.1      -3
    """
    coef = np.asarray(getattr(model_or_coefs, "coef_", model_or_coefs), dtype=float).ravel()
    names = list(feature_names)
    if len(coef) != len(names):
        raise ValueError(f"Got {len(coef)} coefficient(s) for {len(names)} feature name(s).")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"'scale' must be a positive number. Got {scale!r} instead.")
    top = coef.max()
    if not top > 0:
        raise ValueError("No coefficient is positive: no event raises the odds of converting, "
                         "so there is nothing to scale points to.")
    parsed = [_parse_count(n) for n in names]
    return pd.DataFrame(
        {"event": [e for e, _ in parsed],
         "window_days": [np.nan if w is None else w for _, w in parsed],
         "coef": coef,
         "points": np.round(coef * scale / top).astype(int)},
        index=pd.Index(names, name="feature"),
    )


def to_point_rules(table: pd.DataFrame, *, decay: Any = None) -> PointRules:
    """A :class:`PointRules` giving each event of ``table`` its learned points (zeros dropped).

    Window lengths are kept; ``decay`` is None (no decay) unless given.
    """
    rows = table[table["points"] != 0]
    rules = [PointRule(str(r.event), float(r.points),
                       window_days=None if pd.isna(r.window_days) else float(r.window_days))
             for r in rows.itertuples()]
    return PointRules(tuple(rules), decay=decay, floor=None)


def fit_points(
    X: pd.DataFrame,
    y: Any,
    *,
    window: int | None = None,
    activities: Sequence[str] = ACTIVITY_NAMES,
    scale: float = 25.0,
) -> pd.DataFrame:
    """Fit a logistic regression on the activity counts of one window and return its points.

    ``X`` is a :func:`snapshot` frame; ``window`` defaults to its longest window.
    """
    counts = {c: _parse_count(c) for c in X.columns}
    windows = sorted({w for e, w in counts.values() if w is not None and e in activities})
    if not windows:
        raise KeyError(f"X has no activity count columns such as 'email_open_30d'; it has "
                       f"{list(X.columns)}")
    w = float(windows[-1] if window is None else window)
    cols = [c for c, (e, cw) in counts.items() if e in activities and cw == w]
    lr = LogisticRegression(max_iter=2000).fit(X[cols].to_numpy(dtype=float), np.asarray(y))
    return learned_points(lr, cols, scale=scale)


_MOVED = {"ScoreFit": "fit", "compare_points": "fit", "fit_on_export": "fit", "fit_on_table": "fit",
          "score_open_leads": "fit", "TableColumns": "table", "read_lead_table": "table",
          "read_table_map": "table"}


def __getattr__(name: str) -> Any:
    """The names that moved to :mod:`~nurturelab.scoring.fit` and
    :mod:`~nurturelab.scoring.table`, imported when first asked for (they import this
    module, so they cannot be imported at its top)."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"nurturelab.scoring.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
