"""The README's shell path, fit -> promote -> apply -> thresholds -> audit, run line by line
through the command on the sample export, in a private MLflow store (conftest)."""

from __future__ import annotations

import re
import shlex

import pandas as pd

from nurturelab import paths, tracking
from nurturelab.cli import main

MARKER = "<!-- shell-path:"


def _readme_commands() -> list[list[str]]:
    text = (paths.project_root() / "README.md").read_text(encoding="utf-8")
    block = text.split(MARKER, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [ln for ln in block.splitlines() if ln.startswith(".venv/bin/nurturelab ")]
    return [shlex.split(ln.split("#", 1)[0])[1:] for ln in lines]


def test_the_readme_shell_path_works_from_a_clean_store(monkeypatch, capsys, tmp_path):
    commands = _readme_commands()
    assert [c[:2] if c[0] == "score" else c[:1] for c in commands] == [
        ["score", "fit"], ["score", "promote"], ["score", "apply"], ["thresholds"], ["audit"]]
    monkeypatch.chdir(paths.project_root())  # the README's paths are the clone's data/
    assert tracking.model_aliases() == {}  # a clean store
    outputs = []
    for argv in commands:
        if argv[0] == "audit":
            argv = [*argv, "--out", str(tmp_path / "audit.html")]  # keep the clone clean
        rc = main(argv)
        captured = capsys.readouterr()
        outputs.append(captured.out)
        audit = argv[0] == "audit"
        # the sample fails its audit for real reasons (exit 1); everything else succeeds
        assert rc == (1 if audit else 0), (argv, captured.err[-2000:])
    fit, promote, apply, thresholds, audit = outputs
    assert "<QualityCheck: passed" in fit
    assert "registered as 'lead-score' version 1 with alias 'challenger'" in fit
    assert "lead-score@champion now points at version 1 (the version 'challenger' points at)" \
        in promote
    assert tracking.model_aliases() == {"challenger": "1", "champion": "1"}
    assert re.search(r"Scored \d+ open leads .* with lead-score@champion", apply)
    n_open = int(re.search(r"(\d+) leads open \(neither won nor lost\) at", thresholds).group(1))
    assert n_open == int(re.search(r"tested on (\d+) at", fit).group(1))  # the same open leads
    assert "as its capacity threshold" in thresholds
    threshold = float(tracking.model_version("champion").tags["threshold.capacity.threshold"])
    assert f"threshold {threshold:.4g} (recorded on version 1, chosen by capacity" in audit
    assert re.search(r"flagged per day\s+(pass|warn|fail)", audit)  # the capacity was known
    assert "(overall: fail)" in audit and (tmp_path / "audit.html").exists()
    scored = pd.Series([float(x) for x in re.findall(r"\n\S+\s+(0\.\d+)\s", apply)])
    assert len(scored) == 5 and scored.is_monotonic_decreasing
