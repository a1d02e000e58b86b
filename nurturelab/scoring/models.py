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
conversion rates. By default (``kind="auto"``) it cross-validates the logistic and the
gradient-boosting model on the training data and keeps the one with the lower Brier score
(:func:`cross_validate_kinds`). Fits and predictions run with the BLAS and OpenMP thread pools
limited to ``n_threads`` (by default one thread per 50,000 rows, at most the cores this process
may use: :func:`default_threads`).

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

import os
import warnings
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
    _check_sample_weight,
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from threadpoolctl import ThreadpoolController

from nurturelab._util import rate_ci
from nurturelab.schema import ACTIVITY_NAMES
from nurturelab.scoring.auc import auc_interval
from nurturelab.scoring.features import label, snapshot
from nurturelab.scoring.points import PointRule, PointRules

__all__ = [
    "CANDIDATE_KINDS",
    "PLACEHOLDERS",
    "LeadScoreModel",
    "TemporalSplit",
    "ROWS_PER_THREAD",
    "available_cores",
    "calibration_table",
    "cross_validate_kinds",
    "default_threads",
    "evaluate",
    "feature_importance",
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

_KINDS = ("auto", "logistic", "hgb")
CANDIDATE_KINDS = ("logistic", "hgb")
"""The kinds ``kind="auto"`` chooses among, in the order ties are broken."""
_CALIBRATIONS = ("isotonic", "sigmoid")


# --------------------------------------------------------------------------------------------
# Preprocessing helpers (module level so that fitted models pickle)
# --------------------------------------------------------------------------------------------
def _as_float(X: Any) -> np.ndarray:
    return np.asarray(pd.DataFrame(X).astype(float))


def _by_distinct_value(X: Any, clean) -> np.ndarray:
    """Object array of ``clean(value)`` for every cell of ``X``, worked out once per distinct
    value in a column of text (most of the cost of a prediction otherwise: permutation
    importance predicts once per column and repeat), value by value in a column mixing types
    (``pd.factorize`` would merge ``1`` and ``True``); a missing value is ``clean(np.nan)``."""
    df = pd.DataFrame(X)
    out = np.empty(df.shape, dtype=object)
    for j in range(df.shape[1]):
        values = df.iloc[:, j].astype(object).to_numpy()
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            codes, uniques = pd.factorize(values)  # a missing value gets code -1
            out[:, j] = np.array([*map(clean, uniques), clean(np.nan)], dtype=object)[codes]
        else:
            out[:, j] = [clean(v) for v in values]
    return out


def _as_is(v: Any) -> Any:
    """A category value as it is (other values as their text), ``np.nan`` when missing."""
    if isinstance(v, str):
        return v
    return np.nan if pd.isna(v) else str(v)


def _categories(X: Any) -> np.ndarray:
    """Object array of the values as they are (text unchanged, other values as text), with
    missing values (None, NaN, NA) as ``np.nan``.

    >>> _categories(pd.DataFrame({"c": ["Select", " it ", None, 3]})).ravel().tolist()
    ['Select', ' it ', nan, '3']
    >>> _categories(pd.DataFrame({"c": ["b", None, "b"]})).ravel().tolist()
    ['b', nan, 'b']
    """
    return _by_distinct_value(X, _as_is)


def _clean_value(v: Any) -> Any:
    """A category value stripped, or ``np.nan`` for a placeholder or a missing value; other
    values (a number in a text column) as their text."""
    if isinstance(v, str):
        text = v.strip()
        return np.nan if text.lower() in PLACEHOLDERS else text
    return np.nan if pd.isna(v) else str(v)


def _clean_categories(X: Any) -> np.ndarray:
    """Object array of stripped strings, with :data:`PLACEHOLDERS` and missing values as
    ``np.nan``: how models fitted before issue 14 read categories (their pickles call this
    function by name, so it reads them as it did; new fits use :func:`_categories`)."""
    return _by_distinct_value(X, _clean_value)


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
# Threads
# --------------------------------------------------------------------------------------------
def available_cores() -> int:
    """The number of cores this process may run on: its CPU affinity
    (:func:`os.sched_getaffinity`) where the system reports one, else :func:`os.cpu_count`.

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


ROWS_PER_THREAD = 50_000
"""Rows of work per thread when ``n_threads`` is None: fits and predictions on fewer rows run
on one thread. On this project's 2-core machine (``benchmarks/bench_score_kind.py``) a second
thread saved boosting 7-18% of its wall time on 40,000 rows for 40-60% more CPU time, and
about a fifth on 100,000; on a few thousand rows it saved nothing, and when the other core was
busy with other work it made such fits 2 to 20 times slower, in wall and CPU time."""

_CONTROLLER: list[ThreadpoolController] = []


def default_threads(n_rows: int) -> int:
    """Threads for a fit or prediction on ``n_rows`` rows when ``n_threads`` is None: one per
    :data:`ROWS_PER_THREAD` rows, at least one, at most :func:`available_cores`.

    Examples
    --------
    >>> default_threads(5_000)
    1
    """
    return max(1, min(available_cores(), int(n_rows) // ROWS_PER_THREAD))


def _limit_threads(n_threads: int):
    """A context in which the BLAS and OpenMP thread pools use at most ``n_threads`` threads.

    The thread pools are looked up once per process (a lookup takes milliseconds, a limit on
    a known controller microseconds, and predict_proba is called in loops): the libraries are
    loaded by then, since this module imports scikit-learn's linear models and boosting.
    """
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=n_threads)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
class LeadScoreModel(ClassifierMixin, BaseEstimator):
    """A calibrated conversion-probability model over a lead-level table.

    Parameters
    ----------
    kind : {'auto', 'logistic', 'hgb'}, default 'auto'
        L2 logistic regression on standardised features, histogram gradient boosting, or
        ``'auto'``: both are cross-validated on the training data over the same splits (the
        ones ``cv`` makes, below; each split's model calibrated within its own training part,
        see :func:`cross_validate_kinds`), and the one of lower mean Brier score is kept and
        refitted on all the training data (``cv_results_`` and ``kind_`` say what was compared
        and chosen). Brier, because it is a strictly proper score of the probabilities
        themselves, rewarding both ranking and calibration (the two uses of a lead score), and
        bounded: a converting lead that isotonic calibration put at 0 costs Brier 1/n but log
        loss 34.5/n, so a handful of such leads would decide a choice by log loss. Ties go to
        the higher mean AUC, then to the logistic model. A fit costs about (splits + 1) fits
        of each kind.
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
    n_threads : int, optional
        Threads the BLAS and OpenMP pools may use in :meth:`fit` and :meth:`predict_proba`
        (through :mod:`threadpoolctl`). By default one per :data:`ROWS_PER_THREAD` rows, at
        most the cores this process may run on (:func:`default_threads`,
        :func:`available_cores`); give 1 on a machine whose cores are busy with other work.
        The results do not depend on it.

    Attributes
    ----------
    model_ : CalibratedClassifierCV
        The fitted calibrated pipeline.
    kind_ : str
        The kind fitted: ``kind``, or the one ``kind='auto'`` chose.
    cv_results_ : DataFrame
        Only with ``kind='auto'``: the cross-validation of both kinds on the training data,
        indexed by ``kind``, as :func:`cross_validate_kinds` returns it (mean and standard
        deviation over the splits of AUC, Brier and log loss). When a kind cannot be fitted
        on some split's training part (fewer than 2 of a class to calibrate on there), the
        logistic model is fitted with a warning and this table holds no figures
        (``n_splits`` 0).
    cv_folds_ : DataFrame
        Only with ``kind='auto'``: every kind's figures on every split.
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
    >>> m.kind_, list(m.cv_results_.index)
    ('logistic', ['logistic', 'hgb'])
    """

    def __init__(
        self,
        *,
        kind: Literal["auto", "logistic", "hgb"] = "auto",
        calibration: Literal["isotonic", "sigmoid"] = "isotonic",
        cv: Any = 3,
        random_state: int | None = 0,
        n_threads: int | None = None,
    ):
        self.kind = kind
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state
        self.n_threads = n_threads

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
        n = self.n_threads
        if n is not None and not (isinstance(n, int | np.integer)
                                  and not isinstance(n, bool | np.bool_) and n >= 1):
            raise ValueError("The 'n_threads' parameter of LeadScoreModel must be an int >= 1 "
                             f"or None (the cores available). Got {n!r} instead.")
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
        y = self._target(df, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, df)
        splits = self._splits(df, y, groups)
        numeric, categorical = _column_kinds(df)
        self.numeric_features_ = numeric
        self.categorical_features_ = categorical
        with _limit_threads(self._threads(len(df))):
            if self.kind == "auto":
                try:
                    self.cv_results_, self.cv_folds_ = _cv_table(
                        self, df, y, splits, CANDIDATE_KINDS, sample_weight, groups)
                    self.kind_ = _best_kind(self.cv_results_)
                except _CannotCompare as exc:
                    warnings.warn(f"{exc} Fitted the logistic model, without a comparison.",
                                  UserWarning, stacklevel=2)
                    self.cv_results_ = empty_cv_table(CANDIDATE_KINDS)
                    self.cv_folds_ = pd.DataFrame(columns=_FOLD_COLUMNS)
                    self.kind_ = "logistic"
            else:
                for name in ("cv_results_", "cv_folds_"):  # from an earlier fit, kind='auto'
                    self.__dict__.pop(name, None)
                self.kind_ = self.kind
            if self.kind_ == "logistic":
                clf = LogisticRegression(max_iter=2000)
            else:
                clf = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.06,
                                                     max_leaf_nodes=15, l2_regularization=1.0,
                                                     random_state=self.random_state)
            prep = _preprocessor(numeric, categorical, scale=self.kind_ == "logistic")
            pipe = _WeightedPipeline([("prep", prep), ("clf", clf)])
            self.model_ = CalibratedClassifierCV(pipe, method=self.calibration, cv=splits)
            fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
            self.model_.fit(df, y, **fit_params)
        return self

    def _target(self, df: pd.DataFrame, y: Any) -> np.ndarray:
        """``y`` checked as class labels of ``df``'s rows; sets ``classes_``."""
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
        return y

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities, shape (n_samples, n_classes)."""
        check_is_fitted(self, "model_")
        df = self._frame(X, reset=False)
        with _limit_threads(self._threads(len(df))):
            return self.model_.predict_proba(df)

    # MLflow saves the model with skops, trusting only nurturelab, scikit-learn, numpy and
    # builtins types (nurturelab.tracking): the fitted tables travel as plain lists.
    _FRAMES = ("cv_results_", "cv_folds_")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: the object keeps its DataFrames
        for name in self._FRAMES:
            frame = state.get(name)
            if isinstance(frame, pd.DataFrame):
                state[name] = {"index": frame.index.tolist(), "index_name": frame.index.name,
                               "columns": frame.to_dict(orient="list")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for name in self._FRAMES:
            table = state.get(name)
            if isinstance(table, dict):
                state[name] = pd.DataFrame(table["columns"], index=pd.Index(
                    table["index"], name=table["index_name"]))
        super().__setstate__(state)

    def _threads(self, n_rows: int) -> int:
        """The thread limit of a fit or prediction on ``n_rows`` rows."""
        return self.n_threads if self.n_threads is not None else default_threads(n_rows)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        base = super().__repr__(N_CHAR_MAX)
        if hasattr(self, "model_"):
            chosen = (f", {self.kind_} chosen by cross-validation" if self.kind == "auto"
                      else "")
            return (f"{base} fitted on {self.n_features_in_} feature(s) "
                    f"({len(self.numeric_features_)} numeric, "
                    f"{len(self.categorical_features_)} categorical){chosen}")
        return base


# --------------------------------------------------------------------------------------------
# Choosing the kind by cross-validation
# --------------------------------------------------------------------------------------------
class _CannotCompare(ValueError):
    """A kind could not be fitted on the training part of a split (too few of a class)."""


def _inner_cv(cv: Any, splits: list, train: np.ndarray, n: int) -> Any:
    """The model's ``cv`` as it applies to the training part ``train`` of one of its splits:
    an int or a splitter as it is (the splitter then splits that part, with its groups);
    explicit (train, test) pairs restricted to that part and renumbered, empty ones dropped,
    or, when none is left (two pairs that partition the rows), as many stratified folds of the
    part as there are pairs."""
    if isinstance(cv, int | np.integer) or (hasattr(cv, "split")
                                            and hasattr(cv, "get_n_splits")):
        return cv
    position = np.full(n, -1)
    position[train] = np.arange(len(train))
    pairs = []
    for a, b in splits:
        a, b = position[a], position[b]
        a, b = a[a >= 0], b[b >= 0]
        if len(a) and len(b):
            pairs.append((a, b))
    return pairs or len(splits)


def _fold_scores(y: np.ndarray, proba: np.ndarray, classes: np.ndarray,
                 weight: np.ndarray | None) -> dict[str, float]:
    """AUC, Brier and log loss of ``proba`` (columns in the order of ``classes``) on ``y``;
    AUC is NaN when a class is absent. For two classes these are :func:`evaluate`'s figures
    (Brier of the second class's probability); for more, AUC is one-vs-rest and Brier sums
    the squared errors over the classes."""
    onehot = y[:, None] == classes[None, :]
    mass = onehot.sum(axis=0) if weight is None else (onehot * weight[:, None]).sum(axis=0)
    present = int((mass > 0).sum())  # classes a weighted score can see
    if len(classes) == 2:
        auc = (float(roc_auc_score(onehot[:, 1], proba[:, 1], sample_weight=weight))
               if present == 2 else np.nan)
        brier = float(np.average((proba[:, 1] - onehot[:, 1]) ** 2, weights=weight))
    else:
        auc = (float(roc_auc_score(y, proba, multi_class="ovr", labels=classes,
                                   sample_weight=weight))
               if present == len(classes) else np.nan)
        brier = float(np.average(((proba - onehot) ** 2).sum(axis=1), weights=weight))
    p_seen = np.clip(proba[onehot], 1e-15, 1 - 1e-15)
    return {"auc": auc, "brier": brier, "log_loss": float(-np.average(np.log(p_seen),
                                                                        weights=weight))}


def _cv_table(model: LeadScoreModel, df: pd.DataFrame, y: np.ndarray, splits: list,
              kinds: Sequence[str], sample_weight: Any,
              groups: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every kind cross-validated over ``splits``: the table and the folds of
    :func:`cross_validate_kinds`."""
    params = model.get_params(deep=False)  # not clone: a generator cv cannot be deep-copied
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    group = None if groups is None else np.asarray(groups)
    classes = np.unique(y)
    rows = []
    for kind in kinds:
        for i, (train, test) in enumerate(splits):
            part = type(model)(**{**params, "kind": kind,
                                  "cv": _inner_cv(model.cv, splits, train, len(y))})
            try:
                part.fit(df.iloc[train], y[train],
                         sample_weight=None if weight is None else weight[train],
                         groups=None if group is None else group[train])
            except ValueError as exc:
                raise _CannotCompare(
                    f"LeadScoreModel cross-validates the {kind} model on the training part of "
                    f"each split, calibrating it there with the same 'cv'; on split {i} "
                    f"({len(train)} training rows) it could not: {exc} Give kind='logistic' or "
                    "kind='hgb' to fit without the comparison, or fewer splits.") from exc
            proba = np.zeros((len(test), len(classes)))
            proba[:, np.searchsorted(classes, part.classes_)] = part.predict_proba(
                df.iloc[test])
            rows.append({"kind": kind, "split": i, "n": len(test),
                         **_fold_scores(y[test], proba, classes,
                                        None if weight is None else weight[test])})
    folds = pd.DataFrame(rows)
    by_kind = folds.groupby("kind", sort=False)
    table = pd.DataFrame(index=pd.Index(list(kinds), name="kind"))
    for name in ("auc", "brier", "log_loss"):
        table[f"{name}_mean"] = by_kind[name].mean()
        table[f"{name}_std"] = by_kind[name].std(ddof=1)
    table["n_splits"] = by_kind.size()
    return table, folds


_FOLD_COLUMNS = ["kind", "split", "n", "auc", "brier", "log_loss"]


def empty_cv_table(kinds: Sequence[str]) -> pd.DataFrame:
    """The shape of :func:`cross_validate_kinds`'s table, with no split scored."""
    table = pd.DataFrame(np.nan, index=pd.Index(list(kinds), name="kind"),
                         columns=[f"{m}_{s}" for m in ("auc", "brier", "log_loss")
                                  for s in ("mean", "std")])
    table["n_splits"] = 0
    return table


def _best_kind(table: pd.DataFrame) -> str:
    """The kind of lowest mean Brier; ties to the higher mean AUC, then to the first kind."""
    order = list(table.index)

    def key(kind: str) -> tuple[float, float, int]:
        auc = table.at[kind, "auc_mean"]
        return (table.at[kind, "brier_mean"], -auc if np.isfinite(auc) else np.inf,
                order.index(kind))

    return min(order, key=key)


def cross_validate_kinds(
    model: LeadScoreModel,
    X: Any,
    y: Any,
    *,
    kinds: Sequence[str] = CANDIDATE_KINDS,
    sample_weight: Any = None,
    groups: Any = None,
    return_folds: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Cross-validate a :class:`LeadScoreModel` of each kind on ``(X, y)``: what
    ``kind='auto'`` compares.

    The splits are the model's own (its ``cv``, ``random_state`` and ``groups``, as for the
    calibration); every kind is fitted on each split's training part, calibrated within that
    part with the same ``cv`` (an int or a splitter as given, explicit pairs restricted to the
    part), and scored on the split's test part. The same splits serve every kind, so the
    differences between kinds are paired.

    Parameters
    ----------
    model : LeadScoreModel
        Supplies ``calibration``, ``cv``, ``random_state`` and ``n_threads``; its ``kind`` and
        any fitted state are ignored.
    X : DataFrame or array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    kinds : sequence of {'logistic', 'hgb'}, default ('logistic', 'hgb')
    sample_weight : array-like of shape (n_samples,), optional
        Used in the fits and to weight the scores.
    groups : array-like of shape (n_samples,), optional
        For a group splitter as ``cv``.
    return_folds : bool, default False
        Also return every split's figures.

    Returns
    -------
    table : DataFrame
        Indexed by ``kind``, with ``auc_mean``, ``auc_std``, ``brier_mean``, ``brier_std``,
        ``log_loss_mean``, ``log_loss_std`` (mean and standard deviation, ddof=1, over the
        splits; AUC over the splits holding both classes) and ``n_splits``.
    folds : DataFrame
        Only with ``return_folds``: one row per kind and split (``kind``, ``split``, ``n``,
        ``auc``, ``brier``, ``log_loss``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"visits": rng.poisson(2, 300)})
    >>> y = rng.random(300) < 1 / (1 + np.exp(2 - X["visits"]))
    >>> t = cross_validate_kinds(LeadScoreModel(), X, y)
    >>> t.index.tolist(), t["n_splits"].tolist()
    (['logistic', 'hgb'], [3, 3])
    >>> bool(t.loc["logistic", "brier_mean"] < t.loc["hgb", "brier_mean"])
    True
    """
    kinds = list(kinds)
    bad = [k for k in kinds if k not in CANDIDATE_KINDS]
    if bad or not kinds:
        raise ValueError(f"The 'kinds' parameter of cross_validate_kinds must be a non-empty "
                         f"list among {list(CANDIDATE_KINDS)}. Got {kinds!r} instead.")
    est = type(model)(**model.get_params(deep=False))
    est._check_params()
    df = est._frame(X, reset=True)
    y = est._target(df, y)
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, df)
    splits = est._splits(df, y, groups)
    with _limit_threads(est._threads(len(df))):
        table, folds = _cv_table(est, df, y, splits, kinds, sample_weight, groups)
    return (table, folds) if return_folds else table


def feature_importance(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    *,
    n_repeats: int = 5,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Permutation importance of each column of ``X``: how much the model's AUC on ``(X, y)``
    drops when that column's values are shuffled among the rows
    (:func:`sklearn.inspection.permutation_importance`, ``scoring="roc_auc"``).

    The shuffles are scikit-learn's (the same seed gives the same permutations of each column),
    but every shuffled copy of ``X`` is scored in a few large ``predict_proba`` calls instead
    of one per column and repeat: the model's per-call overhead (its pipeline's checks, its
    calibrated folds) dominated a fit on a few thousand leads. The figures equal
    scikit-learn's for a model whose predictions of a row do not depend on the other rows.

    Computed on the input columns (``persona``, not its one-hot parts), so that it names what a
    user can look at; on a holdout, so that it measures what generalises. A column the model
    uses through another that carries the same information shows little importance alone.

    Parameters
    ----------
    model : fitted binary classifier with ``predict_proba``
    X : DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Outcomes, both classes present.
    n_repeats : int, default 5
        Shuffles per column.
    random_state : int, default 0
        Seed of the shuffles.

    Returns
    -------
    DataFrame indexed by ``feature`` with ``importance_mean`` and ``importance_std`` (over the
    repeats) of the drop in AUC, most important first (ties in column order).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"visits": rng.poisson(2, 400), "noise": rng.random(400)})
    >>> y = rng.random(400) < 1 / (1 + np.exp(2 - X["visits"]))
    >>> m = LeadScoreModel(kind="logistic").fit(X, y)
    >>> feature_importance(m, X, y).index.tolist()
    ['visits', 'noise']
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"feature_importance needs X as a DataFrame (it names the columns). "
                        f"Got {type(X).__name__} instead.")
    y = np.asarray(y)
    if len(np.unique(y)) != 2:
        raise ValueError("feature_importance measures the drop in AUC and needs both classes "
                         f"in y; got {np.unique(y).tolist()}.")
    drops = _permutation_drops(model, X, y, n_repeats, random_state)
    table = pd.DataFrame({"importance_mean": drops.mean(axis=1),
                          "importance_std": drops.std(axis=1)},
                         index=pd.Index([str(c) for c in X.columns], name="feature"))
    return table.sort_values("importance_mean", ascending=False, kind="stable")


_PERMUTED_ROWS = 250_000  # rows of shuffled copies scored in one predict_proba call, at most


def _permutation_drops(model: Any, X: pd.DataFrame, y: np.ndarray, n_repeats: int,
                       random_state: Any) -> np.ndarray:
    """AUC on ``(X, y)`` less the AUC with each column shuffled, shape (n_columns,
    n_repeats): the ``importances`` of :func:`sklearn.inspection.permutation_importance`.

    As there, one seed is drawn from ``random_state``, each column gets a generator of that
    seed, and repeat r shuffles the index array again and re-permutes the column it left, so
    repeat r reads the rows ``perms[r]`` below."""
    from sklearn.utils import check_random_state

    if isinstance(n_repeats, bool) or not isinstance(n_repeats, (int, np.integer)) \
            or n_repeats < 1:
        raise ValueError(f"feature_importance 'n_repeats' must be an int >= 1. Got "
                         f"{n_repeats!r} instead.")
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    rs = np.random.RandomState(seed)
    n, n_cols = len(X), X.shape[1]
    shuffle, perm = np.arange(n), np.arange(n)
    perms = []
    for _ in range(n_repeats):
        rs.shuffle(shuffle)
        perm = perm[shuffle]
        perms.append(perm)
    positive = -1  # predict_proba's column of classes_[-1], as the roc_auc scorer reads it
    baseline = roc_auc_score(y, model.predict_proba(X)[:, positive])
    drops = np.empty((n_cols, n_repeats))
    per_batch = max(1, _PERMUTED_ROWS // max(n * n_repeats, 1))
    whole = np.tile(np.arange(n), n_repeats)
    shuffled = np.concatenate(perms)
    for first in range(0, n_cols, per_batch):
        cols = range(first, min(first + per_batch, n_cols))
        frame = {}
        for k, name in enumerate(X.columns):
            if k in cols:  # its own block shuffled, the other blocks as they are
                pos = np.concatenate([shuffled if j == k else whole for j in cols])
            else:
                pos = np.tile(whole, len(cols))
            frame[name] = X.iloc[:, k].take(pos).reset_index(drop=True)
        p = model.predict_proba(pd.DataFrame(frame, columns=X.columns))[:, positive]
        for b, j in enumerate(cols):
            block = p[b * n * n_repeats:(b + 1) * n * n_repeats].reshape(n_repeats, n)
            drops[j] = [baseline - roc_auc_score(y, block[r]) for r in range(n_repeats)]
    return drops


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
