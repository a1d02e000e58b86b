"""AuditResult keeps the result protocol: `summary` is the checks table, `print_summary()` the
readable text the command prints, a one-line repr, `plot(ax=None, kind=...)` returning the axes,
and the report shows the notes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import test_audit as rows  # noqa: E402

from nurturelab.scoring.audit import AuditResult, AuditRules, audit  # noqa: E402

import resultcheck  # noqa: E402


@pytest.fixture(scope="module")
def result() -> AuditResult:
    ref = rows.make_rows(300, seed=1)
    month = rows.make_rows(300, start="2026-10-01", weeks=5, until="2026-11-02", seed=2,
                           shift=0.7)
    return audit(ref, month, features=rows.FEATURES, rules=AuditRules(n_boot=30), seed=0,
                 labels=("2026-07..2026-09", "2026-10"), threshold=0.3)


def test_result_protocol(result):
    resultcheck.assert_result_protocol(result)
    for kind in ("scores", "drift", "roc", "calibration", "decay"):
        resultcheck.assert_result_protocol(result, kind=kind)


def test_summary_is_the_checks_table(result):
    assert result.summary is result.checks
    assert list(result.summary.columns) == ["group", "check", "status", "value", "low", "high",
                                            "reference", "rule", "detail"]
    assert result.summary.set_index("check").loc["PSI x", "status"] == "fail"


def test_repr_says_what_was_audited_in_one_line(result):
    counts = result.checks["status"].value_counts()
    text = repr(result)
    assert text.startswith("<AuditResult: 2026-10: fail; ") and text.endswith(">")
    assert f"{counts['fail']} fail" in text and f"{counts['pass']} pass" in text


def test_print_summary_prints_the_header_and_the_checks(result):
    buf = io.StringIO()
    result.print_summary(file=buf)
    lines = buf.getvalue().splitlines()
    assert lines[0] == repr(result)
    assert lines[1].startswith("Audit of 2026-10 against 2026-07..2026-09: conversion within "
                               "30 days, threshold 0.3 (given); data until ")
    assert buf.getvalue() == result.to_text() + "\n"
    body = "\n".join(lines[3:])
    for check in result.checks["check"]:
        assert check in body
    assert "warn >= 0.1" not in body  # the rules stay in the table, not in the text
    # figures to the significant digits asked for
    value = result.checks.set_index("check").loc["PSI x", "value"]
    assert f"{value:.3g}" in result.to_text() and f"{value:.5g}" in result.to_text(5)


def test_plot_kinds_draw_what_they_say(result):
    ax = result.plot()
    assert ax.get_title() == "Drift"
    assert ax.get_xlabel().startswith("population stability index")
    assert result.plot(kind="roc").get_title() == "ROC, conversion within 30 days"
    with pytest.raises(ValueError, match=r"'kind' parameter of AuditResult.plot must be a str "
                                         r"among .*Got 'lift' instead"):
        result.plot(kind="lift")
    plt.close("all")


def test_report_shows_the_notes(result, tmp_path):
    noted = AuditResult(**{**{f: getattr(result, f) for f in (
        "checks", "drift", "deciles", "snapshots", "stuck", "meta", "rows")},
        "notes": ("of the reference months 2026-07..2026-09, only 2026-09 had open leads",)})
    page = noted.to_html(tmp_path / "audit.html").read_text()
    assert "Note: of the reference months 2026-07..2026-09, only 2026-09 had open leads." in page
    assert "Note:" not in result.to_html(tmp_path / "plain.html").read_text()


def test_rows_are_kept_for_the_charts(result):
    assert set(result.rows) == {"reference", "month"}
    assert isinstance(result.rows["month"], pd.DataFrame)
    assert len(result.rows["month"]) == result.meta["month_rows"]
