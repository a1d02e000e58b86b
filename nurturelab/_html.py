"""One self-contained HTML file for the reports (the monthly scoring audit, the weekly funnel).

The file needs no server, no JavaScript and no network: the CSS sits in a ``<style>`` in the
``<head>`` and each chart is a PNG embedded as a ``data:`` URI. All user text is HTML-escaped and
the output is deterministic: the same calls give byte-identical HTML (no timestamp unless one is
passed as ``generated``).

>>> import pandas as pd
>>> report = HtmlReport("Audit <May>").heading("Checks").paragraph("a & b")
>>> page = report.html()
>>> "<title>Audit &lt;May&gt;</title>" in page, '<h2 id="checks">Checks</h2>' in page
(True, True)
>>> worst(["pass", "warn", "skip"])
'warn'
"""

from __future__ import annotations

import base64
import html as _html
import io
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["STATUSES", "HtmlReport", "worst"]

STATUSES = ("pass", "warn", "fail", "pending", "skip")
"""A check's possible statuses, drawn green, amber, red, grey and grey."""

# Worst first; "skip" never decides the overall status.
_SEVERITY = ("fail", "warn", "pending", "pass")

_NA = "\u2014"  # an em dash stands for a missing value

_CSS = """\
:root { --pass: #1e7b34; --warn: #a05a00; --fail: #b3261e; --grey: #5f6368;
        --pass-bg: #e6f4ea; --warn-bg: #fef3e0; --fail-bg: #fce8e6; --grey-bg: #f1f3f4;
        --rule: #dadce0; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 1.5rem 1.25rem 3rem;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
                    sans-serif;
       font-size: 15px; line-height: 1.5; color: #202124; background: #fff; }
h1 { font-size: 1.8rem; margin: 0 0 .25rem; }
h2 { font-size: 1.35rem; margin: 2rem 0 .5rem; padding-bottom: .2rem;
     border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .4rem; }
p.subtitle { margin: 0; color: var(--grey); font-size: 1.05rem; }
p.generated { margin: .25rem 0 0; color: var(--grey); font-size: .85rem; }
nav.toc { margin: 1rem 0 1.5rem; padding: .5rem 1rem; background: var(--grey-bg);
          border-radius: 4px; }
nav.toc ol { margin: .25rem 0; padding-left: 1.4rem; }
nav.toc a { color: #1a4f7a; text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
table.data { border-collapse: collapse; margin: .75rem 0 1.25rem; font-size: .9rem;
             font-variant-numeric: tabular-nums; }
table.data caption { caption-side: top; text-align: left; font-weight: 600; padding: .25rem 0; }
table.data th, table.data td { padding: .3rem .6rem; border-bottom: 1px solid var(--rule);
                               text-align: left; vertical-align: top; }
table.data thead th { border-bottom: 2px solid #9aa0a6; background: #f8f9fa; }
table.data tbody tr:nth-child(even) { background: #f8f9fa; }
table.data .num { text-align: right; }
table.data .na { color: #9aa0a6; }
figure { margin: 1rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--grey); font-size: .9rem; margin-top: .3rem; }
.status { display: inline-block; padding: 0 .5rem; border-radius: 999px; font-size: .85em;
          font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.status-pass { color: var(--pass); background: var(--pass-bg); }
.status-warn { color: var(--warn); background: var(--warn-bg); }
.status-fail { color: var(--fail); background: var(--fail-bg); }
.status-pending, .status-skip { color: var(--grey); background: var(--grey-bg); }
.note { margin: 1rem 0; padding: .6rem .9rem; border-left: 4px solid var(--grey);
        background: var(--grey-bg); border-radius: 0 4px 4px 0; }
.note-pass { border-color: var(--pass); background: var(--pass-bg); }
.note-warn { border-color: var(--warn); background: var(--warn-bg); }
.note-fail { border-color: var(--fail); background: var(--fail-bg); }
.summary { margin: .75rem 0 1.25rem; }
.summary .counts .status { margin-right: .35rem; }
.summary .overall { margin: .4rem 0 0; font-weight: 600; }
.summary ul { margin: .3rem 0 0; padding-left: 1.4rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav.toc { display: none; }
  h2, h3 { break-after: avoid; }
  table.data, figure, .note, .summary { break-inside: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _check_status(value, param: str = "status") -> str:
    if not isinstance(value, str) or value not in STATUSES:
        raise ValueError(f"{param} must be one of {STATUSES}, got {value!r}")
    return value


def _check_text(value, param: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{param} must be a str, got {type(value).__name__} {value!r}")
    return value


def _esc(text: str) -> str:
    return _html.escape(text, quote=True)


def _badge(status: str) -> str:
    return f'<span class="status status-{status}">{status}</span>'


def _is_missing(value) -> bool:
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def worst(statuses: Iterable[str]) -> str:
    """The overall status of a set of checks: ``fail`` > ``warn`` > ``pending`` > ``pass``.

    ``skip`` never decides it; with no statuses, or only ``skip``, the result is ``"skip"``.

    Parameters
    ----------
    statuses : iterable of str
        Each one of :data:`STATUSES`.

    Returns
    -------
    str
        The worst status found.

    Raises
    ------
    ValueError
        When a value is not one of :data:`STATUSES` (the message names it).

    Examples
    --------
    >>> worst(["pass", "pending", "pass"])
    'pending'
    >>> worst([]), worst(["skip", "skip"])
    ('skip', 'skip')
    """
    if isinstance(statuses, str):
        raise TypeError(f"statuses must be an iterable of str, not a single str {statuses!r}")
    seen = {_check_status(s, "statuses") for s in statuses}
    for status in _SEVERITY:
        if status in seen:
            return status
    return "skip"


def _slug(text: str) -> str:
    slug = re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")
    return slug or "section"


class HtmlReport:
    """A single self-contained HTML report built up call by call.

    Each method adds a block and returns the report itself, so calls chain. :meth:`html` gives
    the whole document and :meth:`write` saves it atomically.

    Parameters
    ----------
    title : str
        The document title (``<title>`` and the ``<h1>``).
    subtitle : str, optional
        A line under the title.
    generated : str, optional
        Shown as "Generated …" under the title. Left out by default so that the output stays
        deterministic; pass e.g. ``date.today().isoformat()`` to show it.

    Examples
    --------
    >>> import pandas as pd
    >>> r = HtmlReport("Funnel", "week 21")
    >>> _ = r.heading("Stages").table(pd.DataFrame({"stage": ["mql"], "rate": [0.25]}))
    >>> '<td class="num">0.250</td>' in r.html()
    True
    """

    def __init__(self, title: str, subtitle: str | None = None, *,
                 generated: str | None = None) -> None:
        self.title = _check_text(title, "title")
        self.subtitle = None if subtitle is None else _check_text(subtitle, "subtitle")
        self.generated = None if generated is None else _check_text(generated, "generated")
        self._blocks: list[str] = []
        self._toc: list[tuple[str, str]] = []  # (anchor, text) of the level-2 headings
        self._anchors: set[str] = set()

    # -- blocks -----------------------------------------------------------------------------

    def heading(self, text: str, level: int = 2) -> HtmlReport:
        """Add an ``<h2>`` or ``<h3>`` with an ``id`` anchor; level-2 headings go in the contents.

        Parameters
        ----------
        text : str
            The heading.
        level : {2, 3}
            2 for a section (listed in the table of contents), 3 for a subsection.

        Returns
        -------
        HtmlReport
            ``self``.
        """
        _check_text(text, "text")
        if isinstance(level, bool) or level not in (2, 3):
            raise ValueError(f"level must be 2 or 3, got {level!r}")
        base = _slug(text)
        anchor, n = base, 1
        while anchor in self._anchors:
            n += 1
            anchor = f"{base}-{n}"
        self._anchors.add(anchor)
        if level == 2:
            self._toc.append((anchor, text))
        self._blocks.append(f'<h{level} id="{anchor}">{_esc(text)}</h{level}>')
        return self

    def paragraph(self, text: str) -> HtmlReport:
        """Add a paragraph of plain (escaped) text.

        Parameters
        ----------
        text : str
            The paragraph.

        Returns
        -------
        HtmlReport
            ``self``.
        """
        self._blocks.append(f"<p>{_esc(_check_text(text, 'text'))}</p>")
        return self

    def note(self, text: str, status: str = "skip") -> HtmlReport:
        """Add a boxed callout coloured by ``status``.

        Parameters
        ----------
        text : str
            The note (escaped).
        status : str
            One of :data:`STATUSES`; sets the colour ("skip" and "pending" are grey).

        Returns
        -------
        HtmlReport
            ``self``.
        """
        _check_text(text, "text")
        _check_status(status)
        self._blocks.append(f'<div class="note note-{status}">{_esc(text)}</div>')
        return self

    def table(self, df: pd.DataFrame, caption: str | None = None, *, index: bool = False,
              float_format: str = "{:,.3f}", status_column: str | None = None) -> HtmlReport:
        """Add a ``<table class="data">`` for a data frame.

        Parameters
        ----------
        df : pandas.DataFrame
            The table. Cells and labels are escaped; missing values show as "—"; numbers are
            right-aligned.
        caption : str, optional
            The table's ``<caption>``.
        index : bool
            Also show the index (as row headers).
        float_format : str
            A :meth:`str.format` pattern for floats, e.g. ``"{:.1%}"``. Integers print as is.
        status_column : str, optional
            A column whose values are in :data:`STATUSES`, drawn as coloured badges.

        Returns
        -------
        HtmlReport
            ``self``.

        Raises
        ------
        TypeError
            When ``df`` is not a DataFrame.
        ValueError
            When ``status_column`` is not a column or holds a value outside :data:`STATUSES`,
            or ``float_format`` cannot format a float.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if caption is not None:
            _check_text(caption, "caption")
        _check_text(float_format, "float_format")
        try:
            float_format.format(1.5)
        except (ValueError, IndexError, KeyError) as err:
            raise ValueError(
                f"float_format {float_format!r} cannot format a float: {err}") from None
        status_pos = None
        if status_column is not None:
            if status_column not in df.columns:
                raise ValueError(f"status_column {status_column!r} is not a column of df "
                                 f"(columns: {list(df.columns)})")
            status_pos = list(df.columns).index(status_column)
            for value in df.iloc[:, status_pos]:
                if not _is_missing(value):
                    _check_status(value, f"status_column {status_column!r} value")

        def label(value) -> str:
            if isinstance(value, tuple):
                return " / ".join(str(v) for v in value)
            return "" if value is None else str(value)

        def cell(value, tag: str = "td", *, status: bool = False, num: bool = False) -> str:
            if _is_missing(value):
                return f'<{tag} class="{"num na" if num else "na"}">{_NA}</{tag}>'
            if status:
                return f"<{tag}>{_badge(value)}</{tag}>"
            if _is_number(value):
                text = (float_format.format(value) if isinstance(value, float | np.floating)
                        else str(value))
                return f'<{tag} class="num">{_esc(text)}</{tag}>'
            return f"<{tag}>{_esc(str(value))}</{tag}>"

        numeric = [pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
                   for dtype in df.dtypes]
        lines = ['<table class="data">']
        if caption is not None:
            lines.append(f"<caption>{_esc(caption)}</caption>")
        head = []
        if index:
            name = label(df.index.names) if df.index.nlevels > 1 else label(df.index.name)
            head.append(f'<th scope="col">{_esc(name)}</th>')
        for col, is_num in zip(df.columns, numeric, strict=True):
            cls = ' class="num"' if is_num else ""
            head.append(f'<th scope="col"{cls}>{_esc(label(col))}</th>')
        lines.append("<thead><tr>" + "".join(head) + "</tr></thead>")
        lines.append("<tbody>")
        for idx, row in zip(df.index, df.itertuples(index=False, name=None), strict=True):
            cells = []
            if index:
                cells.append(f'<th scope="row">{_esc(label(idx))}</th>')
            cells.extend(cell(v, status=(i == status_pos), num=numeric[i])
                         for i, v in enumerate(row))
            lines.append("<tr>" + "".join(cells) + "</tr>")
        lines.append("</tbody>")
        lines.append("</table>")
        self._blocks.append("\n".join(lines))
        return self

    def figure(self, fig, caption: str | None = None, *, alt: str, dpi: int = 110) -> HtmlReport:
        """Embed a matplotlib figure as a PNG ``data:`` URI.

        The figure is saved with ``bbox_inches="tight"`` and no "Software" metadata, so the same
        figure gives the same bytes. The figure is not closed: that stays the caller's job.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
            The figure.
        caption : str, optional
            The ``<figcaption>``.
        alt : str
            The image's alternative text (required).
        dpi : int
            Resolution of the PNG.

        Returns
        -------
        HtmlReport
            ``self``.
        """
        if not callable(getattr(fig, "savefig", None)):
            raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
        _check_text(alt, "alt")
        if caption is not None:
            _check_text(caption, "caption")
        if isinstance(dpi, bool) or not isinstance(dpi, int | np.integer) or dpi <= 0:
            raise ValueError(f"dpi must be a positive int, got {dpi!r}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=int(dpi), bbox_inches="tight",
                    metadata={"Software": None})
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        parts = ["<figure>", f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">']
        if caption is not None:
            parts.append(f"<figcaption>{_esc(caption)}</figcaption>")
        parts.append("</figure>")
        self._blocks.append("\n".join(parts))
        return self

    def status_summary(self, checks: pd.DataFrame, *, status: str = "status",
                       name: str = "check") -> HtmlReport:
        """Add the counts per status as badges, the overall (worst) status and what needs a look.

        Parameters
        ----------
        checks : pandas.DataFrame
            One row per check.
        status : str
            The column holding each check's status (values in :data:`STATUSES`).
        name : str
            The column naming each check; the checks that fail or warn are listed by it.

        Returns
        -------
        HtmlReport
            ``self``.
        """
        if not isinstance(checks, pd.DataFrame):
            raise TypeError(f"checks must be a pandas DataFrame, got {type(checks).__name__}")
        for param, col in (("status", status), ("name", name)):
            if col not in checks.columns:
                raise ValueError(f"{param} column {col!r} is not a column of checks "
                                 f"(columns: {list(checks.columns)})")
        values = [_check_status(v, f"checks[{status!r}] value") for v in checks[status]]
        overall = worst(values)
        counts = [f'<span class="status status-{s}">{values.count(s)} {s}</span>'
                  for s in STATUSES if values.count(s)]
        parts = ['<div class="summary">',
                 '<div class="counts">' + (" \u00b7 ".join(counts) or "no checks") + "</div>",
                 f'<p class="overall">Overall: {_badge(overall)}</p>']
        attention = [(v, n) for v, n in zip(values, checks[name], strict=True)
                     if v in ("fail", "warn")]
        attention.sort(key=lambda vn: vn[0] != "fail")  # stable: fails first, then warnings
        if attention:
            parts.append("<ul>")
            parts.extend(f"<li>{_badge(v)} {_esc(str(n))}</li>" for v, n in attention)
            parts.append("</ul>")
        parts.append("</div>")
        self._blocks.append("\n".join(parts))
        return self

    # -- output -----------------------------------------------------------------------------

    def html(self) -> str:
        """The whole document, as a str (deterministic: the same calls give the same text).

        Returns
        -------
        str
            ``<!DOCTYPE html>`` and everything after it.
        """
        head = [f"<h1>{_esc(self.title)}</h1>"]
        if self.subtitle is not None:
            head.append(f'<p class="subtitle">{_esc(self.subtitle)}</p>')
        if self.generated is not None:
            head.append(f'<p class="generated">Generated {_esc(self.generated)}</p>')
        toc = []
        if self._toc:
            toc = ['<nav class="toc" aria-label="Contents">', "<strong>Contents</strong>", "<ol>"]
            toc.extend(f'<li><a href="#{a}">{_esc(t)}</a></li>' for a, t in self._toc)
            toc.extend(["</ol>", "</nav>"])
        return "\n".join([
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(self.title)}</title>",
            "<style>",
            _CSS.rstrip("\n"),
            "</style>",
            "</head>",
            "<body>",
            "<header>",
            *head,
            "</header>",
            *toc,
            "<main>",
            *self._blocks,
            "</main>",
            "</body>",
            "</html>",
            "",
        ])

    def write(self, path: str | os.PathLike) -> Path:
        """Write the document to ``path`` atomically, creating its folder.

        The text goes to a temporary file in the same folder, which then replaces ``path``
        (:func:`os.replace`), so a reader never sees half a report and a failure leaves any
        earlier file as it was.

        Parameters
        ----------
        path : str or path-like
            Where to write, e.g. ``reports/audit-2024-05.html``.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.html()
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
