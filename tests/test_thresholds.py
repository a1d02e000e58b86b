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
    assert text.startswith("ThresholdChoice(rule='capacity', threshold=")
    assert "precision=" in text and "expected_value=" in text
    ax = choice.plot()
    assert isinstance(ax, plt.Axes)
    assert any(line.get_xdata()[0] == choice.threshold for line in ax.get_lines())
    _, given_ax = plt.subplots()
    assert choice.plot(ax=given_ax) is given_ax
    plt.close("all")
