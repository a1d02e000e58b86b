"""Does ``kind="auto"`` score as well as the best kind, and what do the thread limits cost or save?

    python benchmarks/bench_score_kind.py                       # olist, 3 simulated worlds
    python benchmarks/bench_score_kind.py --repeats 1 --seeds 1 --timing-repeats 1 --timing-rows
    python benchmarks/bench_score_kind.py --timing-repeats 0 --timing-rows   # the scores only

Tables:

* **olist** (real): the 8,000 marketing-qualified leads of the Olist funnel
  (``paths.shared_data_dir() / "olist"``, read where it lies; skipped with a message when
  absent), features ``origin`` and ``landing_page_id``, converted = the lead's ``mql_id`` is in
  the closed-deals file. Judged on ``--repeats`` stratified 75/25 holdouts.
* **simulated** (``--seeds`` worlds of ``--leads`` leads, ``nurturelab.simulation``): the
  point-in-time features of the leads open at 2026-02-01 (converted within 30 days) to train,
  at 2026-03-05 to test, as ``tests/test_models.py`` does.

Models, each fitted in the same run on the same split: ``LeadScoreModel`` with kind
``logistic``, ``hgb`` and ``auto``, and the baseline, a plain scikit-learn
``HistGradientBoostingClassifier(categorical_features="from_dtype")`` with the text columns as
pandas categories (its native categorical support; no calibration, no imputation). Native
categories are limited to 255 levels: a column with more keeps its 254 most frequent training
values and lumps the rest, which is the least a user must do. Printed: holdout AUC and Brier
(mean and standard deviation over the splits), their difference and ratio to the baseline
(paired, split by split), and the fit's wall and CPU time (all with the thread limit
LeadScoreModel uses by default, the baseline's too).

Threads: fits of ``hgb`` and ``auto`` on each table's first split with the BLAS/OpenMP pools
left at the libraries' defaults (no limit: the models' own limit switched off), limited to the
cores available, at the default (one thread per 50,000 rows), and at one thread; each setting
``--timing-repeats`` times, interleaved, the median printed. ``--timing-rows`` adds larger
simulated tables (a threshold-interaction world) timed the same way (boosting alone), where
the default may use more than one thread. CPU time (``time.process_time``, all threads) above
wall time is threads busy (or spinning) at once. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from nurturelab import olist, paths
from nurturelab.scoring import models
from nurturelab.scoring.models import (
    LeadScoreModel,
    available_cores,
    default_threads,
    evaluate,
    temporal_split,
)
from nurturelab.simulation import World, simulate

NATIVE_MAX_CATEGORIES = 255
MODELS = ("logistic", "hgb", "auto", "plain_hgb")
Split = tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def olist_table(folder) -> tuple[pd.DataFrame, np.ndarray] | None:
    """origin and landing_page_id of every MQL; converted = its mql_id has a closed deal."""
    mql_file, deals_file = folder / olist.MQL_FILE, folder / olist.DEALS_FILE
    if not (mql_file.is_file() and deals_file.is_file()):
        return None
    mql = pd.read_csv(mql_file, usecols=["mql_id", "origin", "landing_page_id"])
    won = pd.read_csv(deals_file, usecols=["mql_id"])["mql_id"]
    return mql[["origin", "landing_page_id"]], mql["mql_id"].isin(won).to_numpy()


def holdouts(X: pd.DataFrame, y: np.ndarray, repeats: int) -> list[Split]:
    out = []
    for r in range(repeats):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y,
                                                  random_state=r)
        out.append((X_tr, y_tr, X_te, y_te))
    return out


def simulated_split(leads: int, seed: int) -> Split:
    res = simulate(World(leads=leads), seed=seed)
    s = temporal_split(res.leads, res.events, train_until="2026-02-01",
                       test_from="2026-03-05", horizon_days=30)
    return s.X_train, s.y_train.to_numpy(), s.X_test, s.y_test.to_numpy()


def threshold_table(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A larger table for the timings: conversion jumps where two features pass a threshold,
    plus a text column."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(n, 8)), columns=[f"x{i}" for i in range(8)])
    X["channel"] = rng.choice(["web", "paid", "referral", "event", "partner"], n)
    logit = -2.5 + 3.0 * ((X["x0"] > 0) & (X["x1"] > 0)).to_numpy() + 0.5 * (
        X["channel"] == "referral").to_numpy()
    return X, rng.random(n) < expit(logit)


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------
def as_native_categories(X_train: pd.DataFrame, X_test: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                               pd.DataFrame]:
    """Text columns as pandas categories of the training values (at most 255 of them: the
    254 most frequent, the others lumped into one), numeric columns as they are."""
    X_train, X_test = X_train.copy(), X_test.copy()
    for c in X_train.columns:
        if pd.api.types.is_numeric_dtype(X_train[c]) or pd.api.types.is_bool_dtype(X_train[c]):
            continue
        counts = X_train[c].astype(object).value_counts()
        keep = list(counts.index[:NATIVE_MAX_CATEGORIES - 1]) if len(
            counts) > NATIVE_MAX_CATEGORIES else list(counts.index)
        lumped = len(counts) > len(keep)
        cats = [str(v) for v in keep] + (["(other)"] if lumped else [])
        for frame in (X_train, X_test):
            text = frame[c].astype(object).where(frame[c].notna(), None)
            text = text.map(lambda v: None if v is None else str(v))
            if lumped:
                text = text.where(text.isin(cats) | text.isna(), "(other)")
            frame[c] = pd.Categorical(text, categories=cats)
    return X_train, X_test


def fit_predict(name: str, X_tr: pd.DataFrame, y_tr: np.ndarray,
                X_te: pd.DataFrame) -> tuple[np.ndarray, LeadScoreModel | str]:
    """Holdout probabilities of one model, and the model (its name for the baseline)."""
    if name == "plain_hgb":  # under the thread limit the LeadScoreModels use by default
        A, B = as_native_categories(X_tr, X_te)
        m = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
        with threadpool_limits(default_threads(len(A))):
            return m.fit(A, y_tr).predict_proba(B)[:, 1], "plain_hgb"
    m = LeadScoreModel(kind=name).fit(X_tr, y_tr)
    return m.predict_proba(X_te)[:, 1], m


def timed(fn: Callable, *args):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


@contextlib.contextmanager
def no_thread_limit() -> Iterator[None]:
    """The BLAS/OpenMP pools at the libraries' defaults: LeadScoreModel's limit switched off
    (what every fit did before the limit existed)."""
    saved = models._limit_threads
    models._limit_threads = lambda n: contextlib.nullcontext()
    try:
        yield
    finally:
        models._limit_threads = saved


# --------------------------------------------------------------------------------------------
# the comparison
# --------------------------------------------------------------------------------------------
def compare(title: str, splits: list[Split]) -> None:
    rows, choices = [], []
    for i, (X_tr, y_tr, X_te, y_te) in enumerate(splits):
        for name in MODELS:
            (p, model), wall, cpu = timed(fit_predict, name, X_tr, y_tr, X_te)
            r = evaluate(y_te, p)
            rows.append({"model": name, "split": i, "kind": getattr(model, "kind_", model),
                         "auc": r["auc"], "brier": r["brier"], "brier_base": r["brier_base"],
                         "wall": wall, "cpu": cpu})
            if name == "auto":  # the paired fold differences behind its choice
                f = model.cv_folds_.pivot(index="split", columns="kind", values="brier")
                d = f["hgb"] - f["logistic"]
                choices.append((i, model.kind_, d.mean(), d.std(ddof=1) / np.sqrt(len(d))))
    t = pd.DataFrame(rows)
    base = t[t["model"] == "plain_hgb"].set_index("split")
    t["d_auc"] = t["auc"] - t["split"].map(base["auc"])
    t["brier_ratio"] = t["brier"] / t["split"].map(base["brier"])
    sd = (lambda s: s.std(ddof=1)) if len(splits) > 1 else (lambda s: np.nan)
    g = t.groupby("model", sort=False)
    out = pd.DataFrame({
        "auc": g["auc"].mean(), "auc_sd": g["auc"].agg(sd),
        "brier": g["brier"].mean(), "brier_sd": g["brier"].agg(sd),
        "auc_vs_plain": g["d_auc"].mean(), "auc_vs_plain_sd": g["d_auc"].agg(sd),
        "brier_/_plain": g["brier_ratio"].mean(),
        "fit_wall_s": g["wall"].mean(), "fit_cpu_s": g["cpu"].mean(),
    })
    out["wall_/_plain"] = out["fit_wall_s"] / out.loc["plain_hgb", "fit_wall_s"]
    chosen = t.loc[t["model"] == "auto", "kind"].value_counts().to_dict()
    n_train, n_test = len(splits[0][1]), len(splits[0][3])
    print(f"\n== {title}: {len(splits)} split(s), {n_train:,d} train / {n_test:,d} test leads, "
          f"base rate {np.mean(splits[0][3]):.2%}, Brier of the base rate "
          f"{t['brier_base'].mean():.5f}")
    print(out.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"auto chose: {chosen}")
    brier = t.pivot(index="split", columns="model", values="brier")
    for i, kind, d, se in choices:
        print(f"  split {i}: kept {kind:8s} CV Brier hgb - logistic {d:+.5f} (standard error "
              f"{se:.5f}, {d / se:+.1f} SE); holdout hgb - logistic "
              f"{brier.loc[i, 'hgb'] - brier.loc[i, 'logistic']:+.5f}")
    best = out.loc[["logistic", "hgb"], "brier"].idxmin()
    print(f"auto's mean holdout Brier {out.loc['auto', 'brier']:.5f} vs the better kind's "
          f"({best}) {out.loc[best, 'brier']:.5f}: difference "
          f"{out.loc['auto', 'brier'] - out.loc[best, 'brier']:+.5f}")


SETTINGS = ("no limit", "cores", "default", "1 thread")


def _fit_under(setting: str, kind: str, X: pd.DataFrame, y: np.ndarray) -> None:
    n_threads = {"no limit": None, "cores": available_cores(), "default": None,
                 "1 thread": 1}[setting]
    ctx = no_thread_limit() if setting == "no limit" else contextlib.nullcontext()
    with ctx:
        LeadScoreModel(kind=kind, n_threads=n_threads).fit(X, y)


def threads(title: str, X: pd.DataFrame, y: np.ndarray, kinds: tuple[str, ...],
            repeats: int) -> None:
    if repeats < 1:
        return
    cores = available_cores()
    label = {"no limit": "libraries' defaults (no limit)",
             "cores": f"n_threads={cores} (the cores available)",
             "default": f"n_threads=None (default: {default_threads(len(y))} for "
                        f"{len(y):,d} rows)",
             "1 thread": "n_threads=1"}
    print(f"\n-- threads, {title} ({len(y):,d} training rows; {cores} cores available; "
          f"median of {repeats}):")
    for kind in kinds:
        got = {s: [] for s in SETTINGS}
        for _ in range(repeats):
            for s in SETTINGS:  # interleaved, so that the machine's load spreads over all
                _, wall, cpu = timed(_fit_under, s, kind, X, y)
                got[s].append((wall, cpu))
        ref = statistics.median(w for w, _ in got["no limit"])
        ref_cpu = statistics.median(c for _, c in got["no limit"])
        for s in SETTINGS:
            wall = statistics.median(w for w, _ in got[s])
            cpu = statistics.median(c for _, c in got[s])
            print(f"  {kind:8s} {label[s]:45s} wall {wall:7.2f} s  CPU {cpu:7.2f} s  "
                  f"CPU/wall {cpu / wall:4.2f}  wall {wall / ref:4.2f}x, CPU "
                  f"{cpu / ref_cpu:4.2f}x no limit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None,
                    help="folder of the Olist files (default: paths.shared_data_dir()/olist)")
    ap.add_argument("--repeats", type=int, default=5, help="olist holdouts (default 5)")
    ap.add_argument("--seeds", type=int, default=3, help="simulated worlds (default 3)")
    ap.add_argument("--leads", type=int, default=8000, help="leads per world (default 8000)")
    ap.add_argument("--timing-repeats", type=int, default=3,
                    help="runs of each thread setting (default 3; 0: no thread timings)")
    ap.add_argument("--timing-rows", type=int, nargs="*", default=[40_000, 100_000],
                    help="rows of the larger tables timed alone (default 40000 100000; none: "
                         "give the flag alone)")
    args = ap.parse_args()
    start = time.perf_counter()
    print(f"cores available {available_cores()}; thread pools: default limit one thread per "
          f"{models.ROWS_PER_THREAD:,d} rows")

    from pathlib import Path
    folder = Path(args.data) if args.data else paths.shared_data_dir() / "olist"
    real = olist_table(folder)
    if real is None:
        print(f"\nolist: skipped, no {olist.MQL_FILE} and {olist.DEALS_FILE} in {folder} "
              "(set NURTURELAB_SHARED_DATA or --data)")
    else:
        X, y = real
        splits = holdouts(X, y, args.repeats)
        compare(f"olist MQLs ({len(y):,d} leads, {y.sum():,d} won; origin, landing_page_id "
                f"with {X['landing_page_id'].nunique()} pages)", splits)
        threads("olist", splits[0][0], splits[0][1], ("hgb", "auto"), args.timing_repeats)

    sims = [simulated_split(args.leads, seed) for seed in range(11, 11 + args.seeds)]
    if sims:
        compare(f"simulated worlds of {args.leads:,d} leads (seeds 11..{10 + args.seeds}), "
                "temporal split", sims)
        threads("simulated (seed 11)", sims[0][0], sims[0][1], ("hgb", "auto"),
                args.timing_repeats)
    for rows in args.timing_rows:
        X, y = threshold_table(rows)
        threads("threshold-interaction table", X, y, ("hgb",), args.timing_repeats)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
