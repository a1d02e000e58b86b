"""The shared HTML report builder: escaped, self-contained, deterministic; renders in Chromium."""

from __future__ import annotations

import base64
import io
import os
import re

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from nurturelab._html import STATUSES, HtmlReport, worst

import browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _figure(seed: int = 0, size=(4, 3)) -> Figure:
    fig = Figure(figsize=size)
    ax = fig.subplots()
    x = np.arange(20)
    ax.plot(x, np.random.default_rng(seed).normal(size=20).cumsum(), label="score")
    ax.set_title("Lift by week")
    ax.legend()
    return fig


def _checks() -> pd.DataFrame:
    return pd.DataFrame({
        "check": ["calibration", "drift <psi>", "coverage", "fresh data", "holdout"],
        "status": ["pass", "warn", "fail", "pass", "skip"],
        "value": [0.012, 0.21, np.nan, 1.0, np.nan],
    })


def _report(generated: str | None = None) -> HtmlReport:
    rates = pd.DataFrame({"stage": ["lead", "mql", "sql"], "leads": [1200, 300, 75],
                          "rate": [1.0, 0.25, np.nan]})
    report = HtmlReport("Scoring audit", "May 2024", generated=generated)
    report.heading("Summary").status_summary(_checks())
    report.heading("Checks").table(_checks(), "All checks", status_column="status")
    report.heading("Funnel").paragraph("Leads reaching each stage.")
    report.table(rates, "Stages", float_format="{:.1%}")
    report.heading("Charts").figure(_figure(0), "Weekly lift", alt="lift chart")
    report.heading("Detail", level=3).figure(_figure(1, (5, 2)), alt="second chart")
    report.note("Coverage is below target.", status="fail")
    return report


# -- worst -------------------------------------------------------------------------------------

@pytest.mark.parametrize("statuses, expected", [
    (["pass", "pass"], "pass"),
    (["pass", "pending"], "pending"),
    (["pending", "warn", "pass"], "warn"),
    (["warn", "fail", "pending"], "fail"),
    (["skip", "pass"], "pass"),
    (["skip"], "skip"),
    ([], "skip"),
    (iter(["warn", "skip"]), "warn"),
])
def test_worst_orders_fail_warn_pending_pass_and_ignores_skip(statuses, expected):
    assert worst(statuses) == expected


def test_worst_names_a_bad_status():
    with pytest.raises(ValueError, match="'ok'"):
        worst(["pass", "ok"])


# -- escaping, missing values, badges ----------------------------------------------------------

def test_all_user_text_is_escaped():
    evil = "<script>alert(1)</script>"
    report = HtmlReport(evil, subtitle=evil, generated=evil)
    report.heading(evil).heading(evil, level=3).paragraph(evil).note(evil, "warn")
    df = pd.DataFrame({evil: [evil, "a & b"], "n": [1, 2]}, index=[evil, "x"])
    report.table(df, caption=evil, index=True)
    report.figure(_figure(), caption=evil, alt='"><script>alert(1)</script>')
    report.status_summary(pd.DataFrame({"check": [evil], "status": ["fail"]}))
    page = report.html()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    assert 'alt="&quot;&gt;&lt;script&gt;' in page
    assert "<td>a &amp; b</td>" in page


def test_missing_values_show_as_a_dash_and_numbers_are_formatted():
    df = pd.DataFrame({"name": ["a", None], "rate": [0.123456, np.nan], "n": [1234, 5],
                       "when": [pd.Timestamp("2024-05-01"), pd.NaT]})
    page = HtmlReport("t").table(df).html()
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert body.count('<td class="na">\u2014</td>') == 2  # name, when
    assert body.count('<td class="num na">\u2014</td>') == 1  # rate: right-aligned like numbers
    assert "nan" not in body.lower() and "None" not in body and "NaT" not in body
    assert '<td class="num">0.123</td>' in body
    assert '<td class="num">1234</td>' in body
    assert '<th scope="col" class="num">rate</th>' in page
    assert '<th scope="col">name</th>' in page
    assert page.count('<table class="data">') == 1


def test_float_format_is_applied():
    page = HtmlReport("t").table(pd.DataFrame({"r": [0.25]}), float_format="{:.1%}").html()
    assert '<td class="num">25.0%</td>' in page


def test_index_is_shown_only_when_asked():
    df = pd.DataFrame({"v": [1]}, index=pd.Index(["row-label"], name="segment"))
    assert "row-label" not in HtmlReport("t").table(df).html()
    page = HtmlReport("t").table(df, index=True).html()
    assert '<th scope="row">row-label</th>' in page and '<th scope="col">segment</th>' in page


def test_status_column_renders_coloured_badges():
    page = HtmlReport("t").table(_checks(), status_column="status").html()
    for status in ("pass", "warn", "fail", "skip"):
        assert f'<td><span class="status status-{status}">{status}</span></td>' in page
    assert page.count('<span class="status status-pass">pass</span>') == 2
    assert ".status-pass" in page and ".status-fail" in page  # the CSS that colours them


def test_status_column_rejects_unknown_values_and_missing_columns():
    with pytest.raises(ValueError, match="'ok'"):
        HtmlReport("t").table(pd.DataFrame({"s": ["pass", "ok"]}), status_column="s")
    with pytest.raises(ValueError, match="status_column 'nope'"):
        HtmlReport("t").table(pd.DataFrame({"s": ["pass"]}), status_column="nope")


def test_status_summary_counts_and_overall():
    page = HtmlReport("t").status_summary(_checks()).html()
    counts = re.search(r'<div class="counts">(.*?)</div>', page).group(1)
    assert counts == ('<span class="status status-pass">2 pass</span> \u00b7 '
                      '<span class="status status-warn">1 warn</span> \u00b7 '
                      '<span class="status status-fail">1 fail</span> \u00b7 '
                      '<span class="status status-skip">1 skip</span>')
    assert 'Overall: <span class="status status-fail">fail</span>' in page
    # what needs a look: the failure first, then the warning; passes are not listed
    listed = re.findall(r"<li>.*?</li>", page)
    assert [re.sub(r"<[^>]+>", "", li) for li in listed] == ["fail coverage",
                                                             "warn drift &lt;psi&gt;"]


def test_status_summary_of_only_skips_is_skip():
    checks = pd.DataFrame({"check": ["a"], "status": ["skip"]})
    page = HtmlReport("t").status_summary(checks).html()
    assert 'Overall: <span class="status status-skip">skip</span>' in page
    assert "<ul>" not in page


def test_every_status_has_a_colour_in_the_css():
    page = HtmlReport("t").html()
    for status in STATUSES:
        assert re.search(rf"\.status-{status}\b[^{{]*{{[^}}]*color:", page), status
        HtmlReport("t").note("x", status=status)  # and is accepted


def test_notes_are_coloured_by_status():
    page = HtmlReport("t").note("careful", status="warn").note("fyi").html()
    assert '<div class="note note-warn">careful</div>' in page
    assert '<div class="note note-skip">fyi</div>' in page


# -- bad arguments -----------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda r: r.heading("x", level=1), ValueError, "level must be 2 or 3, got 1"),
    (lambda r: r.heading("x", level=True), ValueError, "level"),
    (lambda r: r.note("x", status="ok"), ValueError, "status must be one of .* got 'ok'"),
    (lambda r: r.table([[1, 2]]), TypeError, "df must be a pandas DataFrame, got list"),
    (lambda r: r.table(pd.DataFrame({"a": [1.0]}), float_format="{:d}"), ValueError,
     "float_format"),
    (lambda r: r.figure("not a figure", alt="x"), TypeError, "fig must be a matplotlib Figure"),
    (lambda r: r.figure(_figure(), alt=None), TypeError, "alt must be a str"),
    (lambda r: r.figure(_figure(), alt="x", dpi=0), ValueError, "dpi"),
    (lambda r: r.paragraph(3), TypeError, "text must be a str, got int"),
    (lambda r: r.status_summary(pd.DataFrame({"status": ["pass"]})), ValueError,
     "name column 'check'"),
    (lambda r: r.status_summary(pd.DataFrame({"check": ["a"], "status": ["good"]})),
     ValueError, "'good'"),
])
def test_bad_arguments_raise_naming_the_parameter(call, error, message):
    with pytest.raises(error, match=message):
        call(HtmlReport("t"))


def test_title_must_be_text():
    with pytest.raises(TypeError, match="title"):
        HtmlReport(None)


# -- structure ---------------------------------------------------------------------------------

def test_document_skeleton_and_no_timestamp_unless_given():
    page = _report().html()
    assert page.startswith("<!DOCTYPE html>\n")
    assert '<meta charset="utf-8">' in page and "<title>Scoring audit</title>" in page
    head = page[:page.index("</head>")]
    assert "<style>" in head and "max-width: 1100px" in head
    assert "Generated" not in page
    assert '<p class="generated">Generated 2024-06-01 08:00</p>' in _report(
        "2024-06-01 08:00").html()


def test_headings_get_unique_anchors_and_level_two_builds_the_contents():
    report = HtmlReport("t").heading("Score drift").heading("Score drift").heading(
        "Per segment", level=3).heading("  !!  ")
    page = report.html()
    assert '<h2 id="score-drift">Score drift</h2>' in page
    assert '<h2 id="score-drift-2">Score drift</h2>' in page
    assert '<h3 id="per-segment">Per segment</h3>' in page
    assert '<h2 id="section">  !!  </h2>' in page
    toc = re.search(r'<nav class="toc".*?</nav>', page, re.S).group(0)
    assert re.findall(r'href="#([^"]+)"', toc) == ["score-drift", "score-drift-2", "section"]
    assert "per-segment" not in toc
    assert page.index("<nav") < page.index("<main>")  # at the top
    # every link in the contents points at an id that exists
    ids = set(re.findall(r'id="([^"]+)"', page))
    assert set(re.findall(r'href="#([^"]+)"', page)) <= ids


def test_no_contents_without_sections():
    assert "<nav" not in HtmlReport("t").paragraph("p").html()


def test_self_contained_no_urls_no_scripts():
    page = _report().html()
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'src="(?!data:image/png;base64,)', page)
    assert "url(" not in page and "@import" not in page


def test_embedded_png_decodes_to_the_figure():
    fig = _figure(size=(4, 3))
    page = HtmlReport("t").figure(fig, "cap", alt="a chart", dpi=50).html()
    assert "<figcaption>cap</figcaption>" in page and 'alt="a chart"' in page
    (encoded,) = DATA_URI.findall(page)
    png = base64.b64decode(encoded, validate=True)
    assert png.startswith(PNG_SIGNATURE)
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    assert pixels.ndim == 3 and pixels.shape[2] == 4
    # bbox_inches="tight" trims the margins: close to, and no bigger than, 200x150 plus a little
    height, width = pixels.shape[:2]
    assert 120 <= width <= 220 and 90 <= height <= 170
    assert pixels[..., :3].std() > 0.01
    assert b"Matplotlib version" not in png  # no Software metadata
    # the figure is still usable: not closed by the report
    assert fig.axes and HtmlReport("t").figure(fig, alt="again").html()


def test_output_is_deterministic_byte_for_byte():
    first, second = _report().html(), _report().html()
    assert first.encode() == second.encode()
    assert len(DATA_URI.findall(first)) == 2


# -- write -------------------------------------------------------------------------------------

def test_write_creates_the_folder_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "reports" / "2024-05" / "audit.html"
    out = _report().write(target)
    assert out == target and out.read_text(encoding="utf-8") == _report().html()
    assert sorted(p.name for p in target.parent.iterdir()) == ["audit.html"]
    assert (target.stat().st_mode & 0o777) == 0o644
    assert _report().write(str(target)) == target  # a str path, overwriting


def test_a_failed_write_leaves_the_old_file_unchanged(tmp_path, monkeypatch):
    target = tmp_path / "audit.html"
    target.write_text("the old report", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        _report().write(target)
    assert target.read_text(encoding="utf-8") == "the old report"
    assert [p.name for p in tmp_path.iterdir()] == ["audit.html"]


# -- the browser -------------------------------------------------------------------------------

def test_missing_chromium_skips_unless_required(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.delenv(browser.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=browser.REQUIRE_ENV):
        browser.find_chromium()
    monkeypatch.setenv(browser.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="install Debian's `chromium` package"):
        browser.find_chromium()


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path):
    rates = pd.DataFrame({"stage": ["lead", "mql", "sql"], "rate": [1.0, 0.25, np.nan]})
    report = HtmlReport("Render <check> & co", "two figures, two tables")
    report.heading("Checks").status_summary(_checks())
    report.table(_checks(), "Checks", status_column="status")
    report.heading("Funnel").table(rates, "Stages")
    report.figure(_figure(0), "first", alt="first chart")
    report.figure(_figure(1, (6, 3)), "second", alt="second chart")
    path = report.write(tmp_path / "report.html")
    before = path.read_bytes()

    seen = browser.render_check(path)

    assert seen["title"] == "Render <check> & co"
    assert seen["images"] == 2 and seen["decoded"] == 2
    assert all(w > 0 for w in seen["widths"])
    assert seen["tables"] == 2 and seen["rows"] == len(_checks()) + len(rates)
    assert seen["scrollHeight"] > 600
    assert seen["screenshot_shape"][:2] == (2000, 1200)
    assert seen["screenshot_std"] > 0.02  # not a blank page
    assert path.read_bytes() == before  # the probe went into a copy only
