"""The monthly scoring audit: censoring-aware estimators against known answers, checks that
catch injected drift and miscalibration, stay quiet on stable and on immature months, and the
scored rows built from a real export without peeking past the snapshot."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from sklearn.metrics import roc_auc_score

from nurturelab.scoring import audit as A
from nurturelab.scoring.audit import AuditRules, audit, ipcw_rate, psi, weighted_auc

H = 30.0


def make_rows(n=600, *, start="2026-07-01", weeks=13, until=None, seed=0, shift=0.0,
              miscal=1.0, touch_p=0.95, horizon=H):
    """Weekly snapshots of a probability score; the truth is P(convert within H) = p**miscal,
    conversion times uniform over the horizon, then cut at ``until`` (administrative
    censoring). miscal=1 is a perfectly calibrated score."""
    rng = np.random.default_rng(seed)
    times = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.arange(weeks) * 7, unit="D")
    until = (times[-1] + pd.Timedelta(days=horizon + 1) if until is None
             else pd.Timestamp(until, tz="UTC"))
    frames = []
    for t in times:
        ids = rng.choice(n * weeks // 2, n, replace=False)
        x = rng.normal(shift, 1, n)
        p = 1 / (1 + np.exp(2 - x))
        conv = rng.random(n) < p ** miscal
        tc = rng.uniform(0, horizon, n)
        follow = min(horizon, (until - t) / pd.Timedelta(days=1))
        seen = conv & (tc <= follow)
        nt = np.where(rng.random(n) < touch_p, rng.uniform(0, 1.5, n), np.nan)
        frames.append(pd.DataFrame({
            "lead_id": [f"L{seed}_{i}" for i in ids], "as_of": t, "score": p,
            "follow_days": follow, "converted": seen,
            "days_to_convert": np.where(seen, tc, np.nan),
            "next_touch_days": np.where(nt <= follow, nt, np.nan),
            "x": x, "source": rng.choice(["ads", "form", "partner"], n),
            "true_converted": conv,
        }))
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(horizon_days=horizon, probability=True, observed_until=until)
    return out


def statuses(result) -> dict[str, str]:
    return dict(zip(result.checks["check"], result.checks["status"], strict=True))


FEATURES = ["x", "source"]


@pytest.fixture(scope="module")
def reference():
    return make_rows(seed=1)


# --------------------------------------------------------------------------------------------
# Estimators: known answers
# --------------------------------------------------------------------------------------------
def _censored(n=400, seed=0):
    rng = np.random.default_rng(seed)
    t_conv = rng.exponential(40, n)
    follow = rng.choice([5.0, 12.0, 20.0, 30.0, 30.0], n)
    conv = t_conv <= follow
    return pd.DataFrame({"follow_days": follow, "converted": conv,
                         "days_to_convert": np.where(conv, t_conv, np.nan)}), t_conv


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ipcw_rate_is_kaplan_meier(seed):
    rows, _ = _censored(seed=seed)
    d = np.where(rows["converted"], rows["days_to_convert"], rows["follow_days"])
    km = KaplanMeierFitter().fit(d, rows["converted"])
    expected = 1 - float(km.survival_function_at_times(H).iloc[0])
    assert ipcw_rate(rows, H) == pytest.approx(expected, abs=1e-12)


def test_ipcw_rate_with_frequency_weights_is_duplication():
    rows, _ = _censored(60, seed=3)
    w = np.random.default_rng(0).integers(0, 4, len(rows)).astype(float)
    dup = rows.loc[rows.index.repeat(w.astype(int))]
    assert ipcw_rate(rows, H, w) == pytest.approx(ipcw_rate(dup, H), abs=1e-12)


def test_ipcw_rate_unbiased_where_naive_is_not():
    rows, t_conv = _censored(20_000, seed=4)
    truth = float(np.mean(t_conv <= H))
    naive = float(rows["converted"].mean())
    assert ipcw_rate(rows, H) == pytest.approx(truth, abs=0.01)
    assert truth - naive > 0.08  # censored-as-lost would be far off


def test_ipcw_rate_not_estimable_before_horizon():
    rows = pd.DataFrame({"follow_days": [3.0, 3.0], "converted": [True, False],
                         "days_to_convert": [1.0, np.nan]})
    assert np.isnan(ipcw_rate(rows, H))


def test_weighted_auc_matches_scikit_learn():
    rng = np.random.default_rng(5)
    s = rng.integers(0, 15, 500).astype(float)  # many ties
    y = rng.random(500) < 0.3
    w = rng.random(500) * 3
    got = weighted_auc(s, np.where(y, w, 0), np.where(~y, w, 0))
    assert got == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    assert np.isnan(weighted_auc(s, np.zeros(500), np.ones(500)))


def test_ipcw_auc_recovers_the_uncensored_auc():
    rows = make_rows(4000, weeks=5, until="2026-08-10", seed=6)  # late snapshots immature
    truth = roc_auc_score(rows["true_converted"], rows["score"])
    wc, wn = A.ipcw_weights(rows, H)
    known = rows[(wc > 0) | (wn > 0)]
    assert weighted_auc(rows["score"].to_numpy(), wc, wn) == pytest.approx(truth, abs=0.015)
    # what censoring does if ignored: the known-status rows are a biased sample
    assert len(known) < 0.6 * len(rows)


def test_censoring_curve_matches_lifelines():
    rows, _ = _censored(300, seed=7)
    conv = rows["converted"].to_numpy()
    dur = np.where(conv, rows["days_to_convert"], np.minimum(rows["follow_days"], H))
    cens = ~conv & (rows["follow_days"].to_numpy() < H)
    w = np.random.default_rng(1).integers(1, 3, len(rows)).astype(float)
    at = np.array([4.0, 5.0, 5.0 + 1e-9, 12.5, 29.0])
    got = A.censoring_left(dur, cens, w, at)
    km = KaplanMeierFitter().fit(dur, cens, weights=w)
    sf = km.survival_function_
    # left limit: the curve just before each time
    expected = [float(sf[sf.index < t].iloc[-1, 0]) if (sf.index < t).any() else 1.0 for t in at]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_a_censoring_of_weight_zero_after_the_last_weighted_one_is_as_if_absent():
    """Regression: a zero-weight censored row later than every weighted censoring time gave
    a bin past the curve's times (a broadcast error from two such times on)."""
    dur = np.array([1.0, 2.0, 3.0, 5.0])
    cens = np.array([False, True, True, True])
    w = np.array([1.0, 1.0, 1.0, 0.0])
    at = np.array([2.5, 4.0])
    got = A.censoring_left(dur, cens, w, at)
    # at 2: weight 2 at risk, 1 censored; at 3: weight 1 at risk, 1 censored
    np.testing.assert_allclose(got, [0.5, 0.0], atol=1e-15)
    np.testing.assert_array_equal(got, A.censoring_left(dur[:3], cens[:3], w[:3], at))
    rows = {"converted": ~cens, "days_to_convert": np.where(cens, np.nan, dur),
            "follow_days": dur, "ended_days": np.full(4, np.nan)}
    wc, wn = A.ipcw_weights(pd.DataFrame(rows), 10.0, w)
    assert np.isfinite(wc).all() and np.isfinite(wn).all()


def test_psi_known_answers():
    same = np.arange(2000) % 10
    assert psi(same, same)[0] == pytest.approx(0.0, abs=1e-12)
    # two categories, 50/50 against 80/20 (smoothing negligible at this size)
    r = np.array(["a"] * 50_000 + ["b"] * 50_000)
    c = np.array(["a"] * 80_000 + ["b"] * 20_000)
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi(r, c)[0] == pytest.approx(expected, rel=1e-3)
    # missing values get a bin of their own, unseen categories count
    value, table = psi(np.r_[np.arange(100.0), [np.nan] * 5], np.r_[np.arange(100.0)])
    assert "missing" in set(table["bin"]) and value > 0


def test_psi_no_drift_level_is_small_and_shift_is_large():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0, 1, 3000), rng.normal(0, 1, 3000)
    assert psi(a, b)[0] < 0.02
    assert psi(a, rng.normal(0.8, 1, 3000))[0] > 0.25


def test_psi_no_drift_level_matches_its_sampling_expectation():
    """The 'expected from sampling alone' figure the drift checks print: (k - 1)(1/n + 1/m)."""
    rng = np.random.default_rng(9)
    n, m, k = 800, 500, 10
    values = [psi(rng.normal(size=n), rng.normal(size=m), bins=k)[0] for _ in range(300)]
    expected = (k - 1) * (1 / n + 1 / m)
    assert np.mean(values) == pytest.approx(expected, rel=0.2)


def test_rules_are_checked():
    with pytest.raises(ValueError, match="psi_warn"):
        AuditRules(psi_warn=0.3)
    with pytest.raises(ValueError, match="n_boot"):
        AuditRules(n_boot=0)
    with pytest.raises(ValueError, match="capacity_fail"):
        AuditRules(capacity_fail=0.5)


def test_month_bounds_refuses_bad_text():
    with pytest.raises(ValueError, match="YYYY-MM"):
        A.month_bounds("October")
    assert A.month_bounds("2026-12")[1] == pd.Timestamp("2027-01-01", tz="UTC")


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------
def test_stable_month_passes(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2)
    res = audit(reference, month, features=FEATURES, seed=0)
    assert res.status == "pass", res.to_text()
    got = statuses(res)
    assert got["calibration slope"] == "pass" and got["AUC"] == "pass"


def test_injected_drift_is_caught(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2, shift=0.7)
    res = audit(reference, month, features=FEATURES, seed=0)
    got = statuses(res)
    assert got["PSI score"] == "fail" and got["PSI x"] == "fail"
    assert got["PSI source"] == "pass"  # only what drifted is flagged
    assert res.status == "fail"


def test_miscalibration_is_caught(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2, miscal=2.0)
    res = audit(reference, month, features=FEATURES, seed=0)
    got = statuses(res)
    assert got["calibration intercept"] == "fail"
    assert got["conversion above threshold"] == "fail"
    assert got["PSI score"] == "pass"  # the scores did not move; their meaning did


def test_immature_outcomes_raise_no_false_alarm(reference):
    # audited four days after the month: only the first snapshot has a full horizon behind it
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-04", seed=2)
    res = audit(reference, month, features=FEATURES, seed=0)
    assert res.status == "pass", res.to_text()
    # treating the censored leads as lost would have failed the threshold check
    t = res.meta["threshold"]
    flagged = month["score"] >= t
    naive = month.loc[flagged, "converted"].mean()
    target = res.checks.set_index("check").loc["conversion above threshold", "reference"]
    assert naive < (1 - AuditRules().shortfall_fail) * target


def test_unmatured_month_is_pending_with_a_date(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-10-20", seed=2)
    res = audit(reference, month, features=FEATURES, seed=0)
    row = res.checks.set_index("check").loc["AUC"]
    assert row["status"] == "pending" and "2026-10-31" in row["detail"]
    assert np.isnan(row["value"])
    assert res.status == "pending"


def test_stuck_leads_are_counted(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2, touch_p=0.6)
    res = audit(reference, month, features=FEATURES, seed=0)
    row = res.checks.set_index("check").loc["stuck above threshold"]
    assert row["status"] == "fail" and 0.3 < row["value"] < 0.5
    assert (res.stuck["score"] >= res.meta["threshold"]).all()
    assert not (res.stuck["days_to_next_touch"] <= 2).any()


def test_capacity_threshold_flags_no_more_than_capacity(reference):
    from nurturelab.scoring.thresholds import choose_threshold

    first = reference[reference["as_of"] == reference["as_of"].min()]
    cap = 3.0
    choice = choose_threshold(first["true_converted"], first["score"], days=H, by="capacity",
                              capacity_per_day=cap, thresholds=np.unique(first["score"]))
    assert choice.row["flagged_per_day"] <= cap
    stable = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2)
    res = audit(reference, stable, threshold=choice.threshold, capacity_per_day=cap,
                features=FEATURES, seed=0)
    load = res.checks.set_index("check").loc["flagged per day"]
    assert load["status"] in ("pass", "warn") and load["value"] < 1.25 * cap
    drifted = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2, shift=0.7)
    res = audit(reference, drifted, threshold=choice.threshold, capacity_per_day=cap,
                features=FEATURES, seed=0)
    assert res.checks.set_index("check").loc["flagged per day", "status"] == "fail"


def test_set_for_precision_is_the_target(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2)
    res = audit(reference, month, threshold=0.3, set_for=0.9, features=FEATURES, seed=0)
    row = res.checks.set_index("check").loc["conversion above threshold"]
    assert row["reference"] == 0.9 and row["status"] == "fail"


def test_points_skip_calibration(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2)
    res = audit(reference, month, probability=False, features=FEATURES, seed=0)
    got = statuses(res)
    assert got["calibration slope"] == "skip" and res.deciles["expected"].isna().all()


def test_same_seed_same_audit(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2)
    a = audit(reference, month, features=FEATURES, seed=3)
    b = audit(reference, month, features=FEATURES, seed=3)
    pd.testing.assert_frame_equal(a.checks, b.checks)
    pd.testing.assert_frame_equal(a.deciles, b.deciles)


def test_inputs_are_not_modified(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2)
    before_r, before_m = reference.copy(), month.copy()
    audit(reference, month, features=FEATURES, seed=0, rules=AuditRules(n_boot=20))
    pd.testing.assert_frame_equal(reference, before_r)
    pd.testing.assert_frame_equal(month, before_m)


def test_bad_inputs_get_clear_errors(reference):
    with pytest.raises(ValueError, match="month period .* no scored"):
        audit(reference, reference.iloc[:0], labels=("ref", "2026-10"))
    with pytest.raises(KeyError, match="follow_days"):
        audit(reference, reference.drop(columns="follow_days"))
    with pytest.raises(KeyError, match="nope"):
        audit(reference, reference, features=["nope"])


@pytest.mark.slow
def test_false_alarms_and_interval_coverage():
    """Stable months: no check fails, warnings stay near the nominal rate, and the interval
    on conversion above the threshold covers the truth about 95 % of the time."""
    # NURTURELAB_STUDY_REPS=200 NURTURELAB_STUDY_BOOT=200 for the longer study (minutes)
    reps = int(os.environ.get("NURTURELAB_STUDY_REPS", 40))
    fails, warns, covered = 0, 0, 0
    calibrated = {"calibration slope": (0, 1.0), "calibration intercept": (0, 0.0)}
    rules = AuditRules(n_boot=int(os.environ.get("NURTURELAB_STUDY_BOOT", 100)))
    for r in range(reps):
        ref = make_rows(300, seed=100 + r)
        cur = make_rows(300, start="2026-10-01", weeks=5, seed=200 + r)
        res = audit(ref, cur, threshold=0.3, features=FEATURES, rules=rules, seed=r)
        st = res.checks["status"]
        fails += int((st == "fail").any())
        warns += int((st == "warn").sum())
        # truth: P(convert within H | p >= 0.3) for x ~ N(0, 1), p = expit(x - 2)
        x = np.random.default_rng(0).normal(0, 1, 2_000_000)
        p = 1 / (1 + np.exp(2 - x))
        truth = p[p >= 0.3].mean()
        by_check = res.checks.set_index("check")
        row = by_check.loc["conversion above threshold"]
        covered += int(row["low"] <= truth <= row["high"])
        for name, (hits, ideal) in calibrated.items():  # the score is calibrated by design
            ok = by_check.loc[name, "low"] <= ideal <= by_check.loc[name, "high"]
            calibrated[name] = (hits + int(ok), ideal)
    n_checks = len(res.checks)
    print(f"\n{reps} stable months, {rules.n_boot} resamples: {fails} with a fail; "
          f"warnings on {warns}/{reps * n_checks} checks; coverage: conversion above "
          f"threshold {covered / reps:.3f}, "
          + ", ".join(f"{k} {v[0] / reps:.3f}" for k, v in calibrated.items()))
    assert fails == 0
    assert warns / (reps * n_checks) < 0.06
    assert covered / reps >= 0.85
    for name, (hits, _) in calibrated.items():
        assert hits / reps >= 0.85, name


# --------------------------------------------------------------------------------------------
# Scored rows from an export
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def export():
    from nurturelab.synthetic import make_export

    return make_export(n_leads=800, seed=3)


def test_scored_snapshots_outcomes_match_labels(export):
    from nurturelab.funnel import outcomes
    from nurturelab.scoring.features import label
    from nurturelab.scoring.points import DEFAULT_RULES

    leads, events = export
    t = pd.Timestamp("2026-09-14", tz="UTC")
    rows = A.scored_snapshots(leads, events, DEFAULT_RULES, times=[t], horizon_days=H)
    assert rows["follow_days"].eq(H).all()  # mature: the export runs past t + H
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = label(leads, events, as_of=t, horizon_days=H)
    status = outcomes(leads, events, as_of=t)["status"].astype(str)
    open_ids = status.index[status.eq("open")]
    expected = y.reindex(open_ids).dropna().astype(bool)
    got = rows.set_index("lead_id")["converted"]
    pd.testing.assert_series_equal(got.loc[expected.index], expected, check_names=False)
    assert set(got.index) == set(expected.index)


def test_scored_snapshots_do_not_peek(export):
    from nurturelab.scoring.points import DEFAULT_RULES

    leads, events = export
    t = pd.Timestamp("2026-09-21", tz="UTC")
    full = A.scored_snapshots(leads, events, DEFAULT_RULES, times=[t], horizon_days=H)
    cut = A.scored_snapshots(leads, events[events["ts"] <= t], DEFAULT_RULES, times=[t],
                             horizon_days=H, observed_until=t)
    feats = [c for c in full.columns if c not in A.ROW_COLUMNS]
    pd.testing.assert_frame_equal(full[["lead_id", "score", *feats]],
                                  cut[["lead_id", "score", *feats]])
    assert cut["follow_days"].eq(0).all() and not cut["converted"].any()


def test_scored_snapshots_observed_until_censors(export):
    from nurturelab.scoring.points import DEFAULT_RULES

    leads, events = export
    t = pd.Timestamp("2026-09-21", tz="UTC")
    rows = A.scored_snapshots(leads, events, DEFAULT_RULES, times=[t], horizon_days=H,
                              observed_until=t + pd.Timedelta(days=5))
    assert rows["follow_days"].eq(5).all()
    assert (rows.loc[rows["converted"], "days_to_convert"] <= 5).all()
    assert (rows["next_touch_days"].dropna() <= 5).all()
    assert rows.attrs["horizon_days"] == H and rows.attrs["probability"] is False


def test_set_for_with_its_interval_counts_both_uncertainties(reference):
    month = make_rows(start="2026-10-01", weeks=5, until="2026-11-02", seed=2)
    # a precision recorded from a small snapshot, 0.55 [0.40, 0.70]; the month gives 0.41
    # [0.32, 0.48]: below the recorded figure taken as exact, not beyond both uncertainties
    exact = audit(reference, month, threshold=0.3, set_for=0.55, features=FEATURES, seed=0)
    wide = audit(reference, month, threshold=0.3, set_for=(0.55, 0.40, 0.70),
                 features=FEATURES, seed=0)
    row = wide.checks.set_index("check").loc["conversion above threshold"]
    assert exact.checks.set_index("check").loc["conversion above threshold",
                                              "status"] == "warn"
    assert row["status"] == "pass" and "[0.400, 0.700]" in row["detail"]
    far = audit(reference, month, threshold=0.3, set_for=(0.9, 0.85, 0.95),
                features=FEATURES, seed=0)
    assert far.checks.set_index("check").loc["conversion above threshold", "status"] == "fail"


def test_ipcw_rate_with_endings_is_aalen_johansen():
    """A lead lost or opted out before the horizon is known not to convert: the rate is the
    Aalen-Johansen incidence, below the 1 - KM that censors it."""
    from nurturelab.competing import cumulative_incidence

    rng = np.random.default_rng(8)
    n = 500
    t_conv, t_end = rng.exponential(60, n), rng.exponential(25, n)
    follow = rng.choice([5.0, 12.0, 20.0, 30.0, 30.0], n)
    conv = (t_conv <= follow) & (t_conv < t_end)
    ended = ~conv & (t_end <= follow)
    rows = pd.DataFrame({"follow_days": follow, "converted": conv,
                         "days_to_convert": np.where(conv, t_conv, np.nan),
                         "ended_days": np.where(ended, t_end, np.nan)})
    table = pd.DataFrame({"duration_days": np.where(conv, t_conv, np.where(ended, t_end,
                                                                               follow)),
                          "ending": np.where(conv, "won", np.where(ended, "lost", "open"))})
    aj = cumulative_incidence(table, horizons=(H,)).summary.loc[("all", "won", float(H))]
    assert ipcw_rate(rows, H) == pytest.approx(aj["incidence"], abs=1e-12)
    # counted as censored at its ending instead, the lead gives 1 - KM, which overstates
    as_censored = rows.drop(columns="ended_days").assign(
        follow_days=np.where(ended, t_end, follow))
    assert ipcw_rate(as_censored, H) == pytest.approx(aj["naive"], abs=1e-12)
    assert aj["naive"] - aj["incidence"] > 0.03
