"""The package's shape: imports run one way, and importing a module has no side effects.

DESIGN.md: schema at the bottom; funnel, segments, response and cadence on it; simulation and
scoring above them; scenario and twin above simulation; experiment, policy and report above
those; cli on top. tracking, plots and the small shared helpers are leaves anyone may use. A
module never imports one above it (function-level imports count too).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import nurturelab

PACKAGE = Path(nurturelab.__file__).parent
LEAVES = {"paths", "checks", "result", "_yaml", "_util", "_html", "_csv", "_timestamps",
          "_censoring", "plots", "tracking"}
LAYERS = {
    "schema": 0, "olist": 1,
    "funnel": 1, "segments": 1, "response": 1, "cadence": 1, "progression": 1, "competing": 1,
    "simulation": 2, "scoring": 2,
    "scenario": 3, "twin": 3, "synthetic": 3,
    "experiment": 4, "sweep": 4, "policy": 4, "report": 4, "demo": 4,
    "cli": 5,
}


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(PACKAGE)], prefix="nurturelab.")
                  if not m.name.endswith("__main__"))


def _top(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def _layer(module: str) -> int | None:
    top = _top(module)
    return None if top in LEAVES else LAYERS.get(top, -1)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names if n.startswith("nurturelab.")
                      and n.split(".")[1] in LAYERS.keys() | LEAVES]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.startswith("nurturelab.")]
    return found


def test_every_module_has_a_layer():
    unknown = sorted({_top(m) for m in _modules()} - LAYERS.keys() - LEAVES)
    assert not unknown, f"place these modules in LAYERS or LEAVES: {unknown}"


@pytest.mark.parametrize("module", _modules())
def test_imports_run_one_way(module):
    path = PACKAGE.joinpath(*module.split(".")[1:])
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    mine = _layer(module)
    bad = []
    for line, target in _imports(path):
        theirs = _layer(target)
        if _top(target) == _top(module) or theirs is None:
            continue  # within a package, or a leaf anyone may use
        if mine is None:  # a leaf imports no layer at all
            bad.append((line, target))
        elif theirs > mine:
            bad.append((line, target))
    assert not bad, f"{module} imports modules above it: {bad}"


def test_leaves_and_private_names():
    """No private name is imported across modules, and no library module picks a matplotlib
    backend (the CLI may, for itself)."""
    private, backend = [], []
    for module in _modules():
        path = PACKAGE.joinpath(*module.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nurturelab"):
                same = node.module == module or node.module.rsplit(".", 1)[0] == module
                private += [(module, node.module, a.name) for a in node.names
                            if a.name.startswith("_") and not same]
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "use" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "matplotlib" and _top(module) != "cli"):
                backend.append((module, node.lineno))
    assert not private, private
    assert not backend, backend


def test_importing_has_no_side_effects():
    """Every module imports in a fresh interpreter without touching the environment and
    without importing MLflow or pyplot. The libraries we build on are imported first: pandera
    and scikit-learn set environment variables of their own when imported."""
    code = f"""
import importlib, json, os, sys
import pandera.pandas, sklearn, statsmodels.api  # their own side effects, not ours
before = dict(os.environ)
for name in {_modules()!r}:
    importlib.import_module(name)
print(json.dumps({{"env": sorted(set(os.environ.items()) ^ set(before.items())),
                   "mlflow": "mlflow" in sys.modules,
                   "pyplot": "matplotlib.pyplot" in sys.modules}}))
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"env": [], "mlflow": False, "pyplot": False}, seen
