"""Threshold tables and choices: exact tiny tables, rule properties, bootstrap behaviour."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402

from nurturelab.scoring.thresholds import (  # noqa: E402
    ThresholdChoice,
    choose_threshold,
    threshold_table,
)

PROPERTY = settings(max_examples=30, deadline=None, derandomize=True, database=None)

Y = np.array([0, 1, 0, 1, 1, 0])
SCORE = np.array([0.1, 0.4, 0.35, 0.8, 0.8, 0.2])


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores uniform on (0, 1) and outcomes drawn with exactly that probability."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    return (rng.uniform(size=n) < p).astype(int), p


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------
def test_table_exact_values_on_a_tiny_example():
    table = threshold_table(Y, SCORE, days=2, deal_value=100, cost_per_lead=10)
    expected = pd.DataFrame({
        "threshold": [0.1, 0.2, 0.35, 0.4, 0.8],
        "flagged": [6, 5, 4, 3, 2],
        "flagged_per_day": [3.0, 2.5, 2.0, 1.5, 1.0],
        "precision": [0.5, 0.6, 0.75, 1.0, 1.0],
        "recall": [1.0, 1.0, 1.0, 1.0, 2 / 3],
        "tp": [3, 3, 3, 3, 2],
        "fp": [3, 2, 1, 0, 0],
        "expected_value": [240.0, 250.0, 260.0, 270.0, 180.0],
    })
    pd.testing.assert_frame_equal(table, expected)


def test_table_given_thresholds_sorted_and_edge_cases():
    table = threshold_table(Y, SCORE, thresholds=[0.9, 0.0, 0.8], days=1)
    assert table["threshold"].tolist() == [0.0, 0.8, 0.9]
    assert table["flagged"].tolist() == [6, 2, 0]
    assert np.isnan(table["precision"].iloc[-1])  # nothing flagged
    assert (table["expected_value"] == 0).all()  # no deal value, no cost
    none = threshold_table([0, 0, 0], [1, 2, 3], thresholds=[2], days=1)
    assert np.isnan(none["recall"].iloc[0])  # no positives at all


def test_table_matches_a_direct_count():
    y, s = synthetic(300, seed=3)
    table = threshold_table(y, s, days=7, deal_value=50, cost_per_lead=4)
    assert len(table) == 100  # continuous scores: every percentile is distinct
    for row in table.itertuples():
        flagged = s >= row.threshold
        assert row.flagged == flagged.sum()
        assert row.tp == (y[flagged] == 1).sum()
        assert row.expected_value == pytest.approx(50 * y[flagged].sum() - 4 * flagged.sum())
        assert row.flagged_per_day == pytest.approx(flagged.sum() / 7)


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("capacity", [0.6, 1.0, 3.0, 7.5, 20.0, 42.0])
def test_capacity_never_flags_more_than_capacity(capacity):
    y, s = synthetic(500, seed=1)
    choice = choose_threshold(y, s, days=10, by="capacity", capacity_per_day=capacity,
                              n_boot=50)
    assert choice.row["flagged_per_day"] <= capacity
    assert (s >= choice.threshold).sum() / 10 <= capacity
    # and it is the lowest such threshold: every lower one exceeds the capacity
    lower = choice.table[choice.table["threshold"] < choice.threshold]
    assert (lower["flagged_per_day"] > capacity).all()


@PROPERTY
@given(
    scores=st.lists(st.integers(0, 20), min_size=1, max_size=60),
    days=st.floats(0.5, 30),
    capacity=st.floats(0.05, 50),
    data=st.data(),
)
def test_capacity_property(scores, days, capacity, data):
    y = data.draw(st.lists(st.integers(0, 1), min_size=len(scores), max_size=len(scores)))
    s = np.array(scores, dtype=float)
    thresholds = np.unique(s)
    try:
        choice = choose_threshold(y, s, days=days, by="capacity", capacity_per_day=capacity,
                                  thresholds=thresholds, n_boot=20)
    except ValueError as err:
        assert "No threshold flags at most" in str(err)
        assert all((s >= t).sum() / days > capacity for t in thresholds)
        return
    assert (s >= choice.threshold).sum() / days <= capacity
    assert all((s >= t).sum() / days > capacity for t in thresholds if t < choice.threshold)


@pytest.mark.parametrize("target", [0.55, 0.65, 0.8, 0.9])
def test_precision_choice_meets_its_target(target):
    y, s = synthetic(1000, seed=2)
    choice = choose_threshold(y, s, days=5, by="precision", target_precision=target, n_boot=50)
    flagged = s >= choice.threshold
    assert y[flagged].mean() >= target
    lower = choice.table[choice.table["threshold"] < choice.threshold]
    assert (lower["precision"] < target).all()


@pytest.mark.parametrize(("deal", "cost"), [(100, 10), (100, 60), (50, 45), (10, 0)])
def test_value_choice_maximises_expected_value(deal, cost):
    y, s = synthetic(400, seed=4)
    candidates = np.unique(s)
    choice = choose_threshold(y, s, days=5, by="value", deal_value=deal, cost_per_lead=cost,
                              thresholds=candidates, n_boot=50)
    brute = [deal * y[s >= t].sum() - cost * (s >= t).sum() for t in candidates]
    assert choice.row["expected_value"] == pytest.approx(max(brute))
    assert choice.threshold == candidates[int(np.argmax(brute))]
    if cost == 0:  # every conversion is free money: flag everyone
        assert choice.threshold == s.min()


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------
def test_bootstrap_covers_the_estimate_and_is_reproducible():
    y, s = synthetic(600, seed=5)
    kw = dict(days=10, by="value", deal_value=100, cost_per_lead=40, n_boot=300)
    a = choose_threshold(y, s, seed=7, **kw)
    b = choose_threshold(y, s, seed=7, **kw)
    c = choose_threshold(y, s, seed=8, **kw)
    pd.testing.assert_frame_equal(a.ci, b.ci)
    assert not a.ci.equals(c.ci)
    assert list(a.ci.index) == ["precision", "recall", "flagged_per_day", "expected_value"]
    assert (a.ci["low"] <= a.ci["estimate"]).all()
    assert (a.ci["estimate"] <= a.ci["high"]).all()
    assert (a.ci["low"] < a.ci["high"]).all()
    assert a.summary is a.ci


@pytest.mark.slow
def test_precision_interval_covers_the_truth_about_95_percent():
    # score ~ U(0, 1) and P(convert | score) = score, so at threshold t the true precision
    # is E[score | score >= t] = (1 + t) / 2. The capacity rule looks at scores only.
    reps, covered = 200, 0
    for rep in range(reps):
        y, s = synthetic(400, seed=1000 + rep)
        choice = choose_threshold(y, s, days=10, by="capacity", capacity_per_day=20,
                                  n_boot=200, seed=rep)
        truth = (1 + choice.threshold) / 2
        lo, hi = choice.ci.loc["precision", ["low", "high"]]
        covered += lo <= truth <= hi
    lo_ok, hi_ok = stats.binom.ppf([0.0005, 0.9995], reps, 0.95)
    print(f"precision interval coverage {covered}/{reps}, allowed [{lo_ok:g}, {hi_ok:g}]")
    assert lo_ok <= covered <= hi_ok, f"coverage {covered}/{reps}"


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(by="speed"), r"'by' parameter .* among \{'capacity', 'precision', 'value'\}"),
        (dict(by="capacity"), r"needs 'capacity_per_day'"),
        (dict(by="capacity", capacity_per_day=-1), r"'capacity_per_day' .* > 0"),
        (dict(by="capacity", capacity_per_day=0.01), r"No threshold flags at most"),
        (dict(by="precision"), r"needs 'target_precision'"),
        (dict(by="precision", target_precision=1.5), r"'target_precision' .* \(0, 1\]"),
        (dict(by="precision", target_precision=1.0, thresholds=[0.1]),
         r"No threshold reaches target_precision=1"),
        (dict(by="value"), r"needs 'deal_value' > 0"),
        (dict(by="value", deal_value=10, n_boot=0), r"'n_boot' .* int >= 1"),
        (dict(by="value", deal_value=10, alpha=1.0), r"'alpha' .* \(0, 1\)"),
        (dict(by="value", deal_value=10, cost_per_lead=-2), r"'cost_per_lead' .* >= 0"),
        (dict(by="value", deal_value=10, days=0), r"'days' .* > 0"),
        (dict(by="value", deal_value=10, thresholds=[]), r"'thresholds' .* non-empty"),
    ],
)
def test_choose_threshold_errors(kwargs, match):
    kwargs = {"days": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        choose_threshold(Y, SCORE, **kwargs)


def test_table_input_errors():
    with pytest.raises(ValueError, match="same length. Got 2 and 3"):
        threshold_table([0, 1], [0.1, 0.2, 0.3], days=1)
    with pytest.raises(ValueError, match=r"'y' .* among \{0, 1, False, True\}. Got \['2'\]"):
        threshold_table([0, 2], [0.1, 0.2], days=1)
    with pytest.raises(ValueError, match="'score' .* finite numbers"):
        threshold_table([0, 1], [0.1, np.nan], days=1)
    with pytest.raises(ValueError, match="empty"):
        threshold_table([], [], days=1)


# --------------------------------------------------------------------------------------------
# Result object
# --------------------------------------------------------------------------------------------
def test_repr_and_plot():
    y, s = synthetic(300, seed=6)
    choice = choose_threshold(y, s, days=3, by="capacity", capacity_per_day=25, n_boot=100,
                              deal_value=10, cost_per_lead=2)
    assert isinstance(choice, ThresholdChoice)
    text = repr(choice)
    assert text.startswith("<ThresholdChoice: rule='capacity', threshold=")
    assert "precision=" in text and "expected_value=" in text
    ax = choice.plot()
    assert isinstance(ax, plt.Axes)
    assert any(line.get_xdata()[0] == choice.threshold for line in ax.get_lines())
    _, given_ax = plt.subplots()
    assert choice.plot(ax=given_ax) is given_ax
    plt.close("all")


def test_result_protocol():

    import resultcheck

    y, s = synthetic(300, seed=6)
    choice = choose_threshold(y, s, days=3, by="capacity", capacity_per_day=25, n_boot=100)
    resultcheck.assert_result_protocol(choice)
    assert (choice.days, choice.capacity_per_day) == (3.0, 25.0)
    assert (choice.n_leads, choice.n_converted) == (300, int(y.sum()))
    lines = choice.to_text().splitlines()
    assert lines[0] == repr(choice)
    assert lines[1] == f"300 leads scored, {int(y.sum())} converted"


# --------------------------------------------------------------------------------------------
# On an export, and the threshold recorded on a model version
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def export():
    from nurturelab.synthetic import make_export

    return make_export(n_leads=800, seed=3)


def test_choose_threshold_for_export_is_the_choice_on_the_open_leads(export):
    import warnings

    from nurturelab.funnel import outcomes
    from nurturelab.scoring.features import label
    from nurturelab.scoring.points import DEFAULT_RULES, scores
    from nurturelab.scoring.thresholds import choose_threshold_for_export

    leads, events = export
    choice = choose_threshold_for_export(leads, events, DEFAULT_RULES, by="capacity",
                                         capacity_per_day=3, horizon_days=30)
    at = events["ts"].max() - pd.Timedelta(days=30)
    assert choice.as_of == at
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = label(leads, events, as_of=at, horizon_days=30)
    open_ids = outcomes(leads, events, as_of=at)["status"].astype(str).eq("open")
    y = y[open_ids.reindex(y.index).to_numpy()]
    s = scores(leads, events, as_of=at)["score"].reindex(y.index).to_numpy()
    by_hand = choose_threshold(y.to_numpy(), s, days=30, by="capacity", capacity_per_day=3)
    assert choice.threshold == by_hand.threshold
    pd.testing.assert_frame_equal(choice.ci, by_hand.ci)
    assert choice.n_leads == len(y) < len(leads)  # won and lost leads are not worked
    assert choice.n_converted == int(y.sum())


def test_choose_threshold_for_export_refusals(export):
    from nurturelab.scoring.thresholds import choose_threshold_for_export

    leads, events = export
    with pytest.raises(ValueError, match=r"'horizon_days' parameter of "
                                         r"choose_threshold_for_export must be a finite number "
                                         r"> 0. Got 0 instead"):
        choose_threshold_for_export(leads, events, by="capacity", capacity_per_day=3,
                                    horizon_days=0)
    with pytest.raises(ValueError, match=r"No lead is open .* at 2026-01-01; the export's leads "
                                         r"were created from 2026-08-31"):
        choose_threshold_for_export(leads, events, by="capacity", capacity_per_day=3,
                                    as_of="2026-01-01")
    with pytest.raises(TypeError, match="'scorer' must be a fitted classifier"):
        choose_threshold_for_export(leads, events, "model.pkl", by="capacity",
                                    capacity_per_day=3)


def test_score_leads_by_points_model_and_callable(export):
    from nurturelab.scoring.features import snapshot
    from nurturelab.scoring.points import DEFAULT_RULES, scores
    from nurturelab.scoring.thresholds import score_leads

    leads, events = export
    at = pd.Timestamp("2026-10-01", tz="UTC")
    ids = leads.loc[leads["created_at"] <= at, "lead_id"].to_numpy()[:50]
    points = score_leads(leads, events, DEFAULT_RULES, as_of=at, lead_ids=ids)
    expected = scores(leads, events, as_of=at)["score"].reindex(ids).to_numpy(float)
    np.testing.assert_array_equal(points, expected)

    class Half:  # a classifier: P(convert) = one half for everyone
        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)

    np.testing.assert_array_equal(score_leads(leads, events, Half(), as_of=at, lead_ids=ids),
                                  np.full(len(ids), 0.5))
    by_age = score_leads(leads, events, lambda X: X["age_days"], as_of=at, lead_ids=ids)
    np.testing.assert_array_equal(by_age, snapshot(leads, events, as_of=at).loc[ids, "age_days"])
    with pytest.raises(ValueError, match="the scorer returned 1 scores for 50 leads"):
        score_leads(leads, events, lambda X: [1.0], as_of=at, lead_ids=ids)


def test_recorded_threshold_round_trips_through_tags():
    from nurturelab.scoring.thresholds import RecordedThreshold

    y, s = synthetic(400, seed=8)
    choice = choose_threshold(y, s, days=14, by="capacity", capacity_per_day=9, n_boot=50)
    rec = RecordedThreshold.from_choice(choice)
    est, lo, hi = choice.ci.loc["precision", ["estimate", "low", "high"]]
    assert rec.set_for == (est, lo, hi)
    assert (rec.threshold, rec.rule, rec.capacity_per_day, rec.days) == (
        choice.threshold, "capacity", 9.0, 14.0)
    tags = {k: str(v) for k, v in rec.to_tags().items()}  # the registry stores text
    assert all(k.startswith("threshold.capacity.") for k in tags)  # its criterion's record
    assert tags["threshold.capacity.as_of"] == ""  # chosen on arrays, not on an export
    back = RecordedThreshold.from_tags(tags, version="3")
    assert back == RecordedThreshold(**{**rec.__dict__, "version": "3"})
    assert back.source == "recorded on version 3, chosen by capacity at ?"
    # the capacity is recorded for the capacity rule only
    by_precision = choose_threshold(y, s, days=14, by="precision", target_precision=0.7,
                                    capacity_per_day=9, n_boot=50)
    assert RecordedThreshold.from_choice(by_precision).capacity_per_day is None
    assert RecordedThreshold.from_choice(by_precision).to_tags()[
        "threshold.precision.capacity_per_day"] == ""


def test_one_recorded_threshold_per_criterion():
    """Regression (issue 14): `thresholds --by value` replaced the threshold recorded for
    capacity, and the audit then skipped its capacity check. Each rule now has its own record;
    the audit reads the capacity one unless told otherwise."""
    from nurturelab.scoring.thresholds import RecordedThreshold

    y, s = synthetic(400, seed=8)
    tags: dict[str, str] = {}
    for kwargs in ({"by": "capacity", "capacity_per_day": 9},
                   {"by": "value", "deal_value": 100, "cost_per_lead": 10},
                   {"by": "precision", "target_precision": 0.6}):
        rec = RecordedThreshold.from_choice(choose_threshold(y, s, days=14, n_boot=50, **kwargs))
        tags.update({k: str(v) for k, v in rec.to_tags().items()})  # as the registry does
    found = RecordedThreshold.all_from_tags(tags, version="2")
    assert sorted(found) == ["capacity", "precision", "value"]
    assert len({r.threshold for r in found.values()}) == 3
    audited = RecordedThreshold.from_tags(tags, version="2")
    assert audited.rule == "capacity" and audited.capacity_per_day == 9.0
    assert RecordedThreshold.from_tags(tags, rule="value") == RecordedThreshold(
        **{**found["value"].__dict__, "version": None})
    del tags["threshold.capacity.threshold"]
    assert RecordedThreshold.from_tags(tags).rule == "precision"  # next in preference
    with pytest.raises(ValueError, match="recorded under the rule that chose it"):
        RecordedThreshold(threshold=0.2).to_tags()


def test_a_version_tagged_with_the_single_record_of_before_is_still_read():
    from nurturelab.scoring.thresholds import RecordedThreshold

    legacy = {"threshold": "0.3", "threshold.rule": "value", "threshold.days": "30",
              "threshold.capacity_per_day": ""}
    rec = RecordedThreshold.from_tags(legacy, version="1")
    assert (rec.rule, rec.threshold, rec.capacity_per_day) == ("value", 0.3, None)
    newer = {**legacy, "threshold.value.threshold": "0.4", "threshold.capacity.threshold": "0.1"}
    found = RecordedThreshold.all_from_tags(newer)
    assert (found["value"].threshold, found["capacity"].threshold) == (0.4, 0.1)


def test_a_capacity_larger_than_the_pool_says_it_flags_everyone():
    y, s = synthetic(300, seed=6)
    fits = choose_threshold(y, s, days=3, by="capacity", capacity_per_day=100, n_boot=20)
    assert int(fits.row["flagged"]) == 300 and fits.notes
    assert "at least the whole pool: all 300 leads come to 100 a day over 3 days" in fits.notes[0]
    assert f"note: {fits.notes[0]}" in fits.to_text()
    roomy = choose_threshold(y, s, days=3, by="capacity", capacity_per_day=99.9, n_boot=20)
    assert int(roomy.row["flagged"]) < 300 and roomy.notes == ()
    low = choose_threshold(y, s, days=3, by="precision", target_precision=0.01, n_boot=20)
    assert "at or below the conversion of all 300 leads" in low.notes[0]


def test_recorded_threshold_from_tags_without_or_with_partial_figures():
    from nurturelab.scoring.thresholds import RecordedThreshold

    assert RecordedThreshold.from_tags({}) is None
    assert RecordedThreshold.from_tags({"threshold": "nan", "threshold.days": "30"}) is None
    rec = RecordedThreshold.from_tags({"threshold": "0.2", "threshold.precision": "0.3",
                                       "threshold.precision_low": "", "mlflow.note": "x"})
    assert rec.set_for == 0.3 and rec.days is None
    with pytest.raises(ValueError, match="The 'threshold' field of RecordedThreshold must be a "
                                         "finite number. Got None instead."):
        RecordedThreshold(threshold=None)
    with pytest.raises(ValueError, match="The 'rule' field of RecordedThreshold must be a str or "
                                         "None. Got 3 instead."):
        RecordedThreshold(threshold=0.2, rule=3)


def test_cli_refuses_a_bad_horizon_with_exit_2(capsys):
    # regression: the horizon reached the labels outside the command's error handling, so a
    # bad --horizon-days ended in a traceback instead of an error message and exit code 2
    from nurturelab import paths
    from nurturelab.cli import main

    files = ["--leads", str(paths.data_dir() / "leads.csv"),
             "--events", str(paths.data_dir() / "events.csv")]
    rc = main(["thresholds", *files, "--by", "capacity", "--capacity", "5", "--scorer", "points",
               "--horizon-days", "0"])
    assert rc == 2
    assert "'horizon_days' parameter of choose_threshold_for_export" in capsys.readouterr().err
