"""Render an HTML report in headless Chromium and say what the browser saw.

Not a test module: the tests import it by name (pytest's ``pythonpath`` holds ``tests/``).
Without Chromium the caller's test is skipped, unless ``NURTURELAB_REQUIRE_BROWSER`` is set (as
CI does), in which case it fails.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

REQUIRE_ENV = "NURTURELAB_REQUIRE_BROWSER"
TIMEOUT = 60

# Run on load, in the copy only: a JSON summary of what the browser rendered.
_PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = {
    images: imgs.length,
    decoded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    widths: imgs.map(function (i) { return i.naturalWidth; }),
    tables: document.querySelectorAll("table").length,
    rows: document.querySelectorAll("table tbody tr").length,
    title: document.title,
    scrollHeight: document.body.scrollHeight
  };
  var pre = document.createElement("pre");
  pre.id = "render-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""

_RESULT = re.compile(r'<pre id="render-check">(.*?)</pre>', re.S)


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def find_chromium() -> str:
    """The Chromium executable; skips the test if there is none (fails if one is required)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    msg = "Chromium not found on PATH (looked for chromium, chromium-browser, google-chrome)"
    if _required():
        pytest.fail(f"{msg}, and {REQUIRE_ENV} is set: install Debian's `chromium` package "
                    "(`apt-get install -y --no-install-recommends chromium`, or `make browser`)",
                    pytrace=False)
    pytest.skip(f"{msg}; set {REQUIRE_ENV}=1 to make this a failure")


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own process group; on timeout kill that group (Chromium forks)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"Chromium did not finish in {timeout} s: {cmd}") from None
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if result.returncode != 0:
        raise AssertionError(f"Chromium exited with {result.returncode}: {cmd}\n"
                             f"{result.stderr[-3000:]}")
    return result


def chromium_command(chromium: str, profile: Path, *extra: str) -> list[str]:
    """The headless, offline, throw-away-profile Chromium command line."""
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
            *extra]


def render_check(path: str | os.PathLike, chromium: str | None = None, *,
                 timeout: float = TIMEOUT) -> dict:
    """Open ``path`` in headless Chromium; return what it rendered.

    A copy of the report gets a small ``load`` script whose JSON summary is read back from
    ``--dump-dom``; the original is screenshotted (1200x2000) to check it is not blank.

    Returns
    -------
    dict
        ``images`` (``<img>`` count), ``decoded`` (images with ``naturalWidth > 0``), ``widths``,
        ``tables``, ``rows`` (body rows of all tables), ``title``, ``scrollHeight``, plus
        ``screenshot_shape`` and ``screenshot_std`` (pixel standard deviation, 0 for a flat
        colour) and ``chromium`` (the executable used).

    Raises
    ------
    AssertionError
        When Chromium fails or times out, the probe's result is missing, or the screenshot is
        missing or a single flat colour.
    """
    import matplotlib.image as mpimg

    chromium = chromium or find_chromium()
    original = Path(path).resolve()
    text = original.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="nurturelab-browser-") as tmp:
        tmp = Path(tmp)
        at = text.rfind("</body>")
        probed = text[:at] + _PROBE + text[at:] if at >= 0 else text + _PROBE
        copy = tmp / original.name
        copy.write_text(probed, encoding="utf-8")

        dom = _run(chromium_command(chromium, tmp / "profile-dom", "--dump-dom",
                                    copy.as_uri()), timeout).stdout
        found = _RESULT.search(dom)
        assert found, f"no render-check result in the dumped DOM:\n{dom[-2000:]}"
        result = json.loads(html.unescape(found.group(1)))

        shot = tmp / "shot.png"
        _run(chromium_command(chromium, tmp / "profile-shot", f"--screenshot={shot}",
                              "--window-size=1200,2000", "--hide-scrollbars",
                              original.as_uri()), timeout)
        assert shot.exists(), "Chromium wrote no screenshot"
        pixels = mpimg.imread(shot)
        result["screenshot_shape"] = tuple(pixels.shape)
        result["screenshot_std"] = float(pixels[..., :3].std())
        assert result["screenshot_std"] > 1e-3, "the screenshot is a single flat colour"
    result["chromium"] = chromium
    return result
