"""The layout of nurturelab.experiment: one module per step, every former public name still
importable where it was, imports running one way, no private name crossing modules."""

from __future__ import annotations

import ast
import importlib

import pytest

from nurturelab import paths

PACKAGE = paths.project_root() / "nurturelab" / "experiment"

# the public names of the former modules nurturelab/experiment.py and nurturelab/sweep.py
FORMER_EXPERIMENT = ["METRICS", "SURVIVAL_HORIZONS", "ExperimentResult", "SRMResult", "analyze",
                     "assign_hash", "assign_random", "compare_proportions", "lead_table", "mde",
                     "monitor", "power", "prob_beat_control", "sample_size", "srm_check",
                     "weekly_looks"]
FORMER_SWEEP = ["COUNTS", "SimExperiment", "ab_export", "log_experiment", "replication_seeds",
                "run_experiment", "sweep"]
HOME = {"assignment": ["assign_hash", "assign_random"],
        "design": ["mde", "power", "sample_size"],
        "statistics": ["OmnibusResult", "SRMResult", "compare_proportions", "decide", "holm",
                       "holm_levels", "omnibus", "prob_beat_control", "score_interval",
                       "srm_check"],
        "analysis": ["METRICS", "SURVIVAL_HORIZONS", "ExperimentResult", "analyze", "lead_table"],
        "sequential": ["GroupSequentialDesign", "monitor", "spending_boundaries", "weekly_looks"],
        "simulated": [*FORMER_SWEEP, "arms_from_scenarios"],
        "segments": ["SegmentEffects", "benjamini_hochberg", "by_segment", "interaction_test"],
        "clusters": ["ClusterComparison", "cluster_compare", "cluster_robust_diff"],
        "continuous": ["ArmComparison", "compare_means", "compare_means_rows", "compare_ratios",
                       "compare_ratios_rows", "lead_values"],
        "interference": ["INTERFERENCE_METRICS", "InterferenceResult", "common_world",
                         "interference_study", "log_interference"],
        "adjustment": ["adjusted_difference", "adjusted_difference_rows", "covariate_matrix",
                       "cuped", "cuped_rows"]}
# modules above experiment (or beside it) that it must never import
ABOVE = ("nurturelab.cli", "nurturelab.report", "nurturelab.policy", "nurturelab.sweep")


def test_every_former_name_is_importable_from_the_package_and_from_sweep():
    experiment = importlib.import_module("nurturelab.experiment")
    sweep = importlib.import_module("nurturelab.sweep")
    assert set(FORMER_EXPERIMENT + FORMER_SWEEP) <= set(experiment.__all__)
    for name in FORMER_EXPERIMENT + FORMER_SWEEP:
        assert hasattr(experiment, name), name
    for name in FORMER_SWEEP:
        assert getattr(sweep, name) is getattr(experiment, name), name
    assert sorted(sweep.__all__) == sorted(HOME["simulated"])
    assert "nurturelab.experiment.simulated" in sweep.__doc__


@pytest.mark.parametrize("module, names", HOME.items())
def test_each_name_lives_in_its_module(module, names):
    mod = importlib.import_module(f"nurturelab.experiment.{module}")
    assert sorted(mod.__all__) == sorted(names)
    package = importlib.import_module("nurturelab.experiment")
    for name in names:
        assert getattr(package, name) is getattr(mod, name)
        obj = getattr(mod, name)
        if callable(obj):
            assert obj.__module__ == mod.__name__, (name, obj.__module__)


def _imports(path):
    """(module, names) of every ``from X import ...`` and ``import X`` in a file."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_imports_run_one_way_and_no_private_name_crosses_modules(path):
    for module, names in _imports(path):
        assert not module.startswith(ABOVE), f"{path.name} imports {module}"
        if module.startswith("nurturelab"):
            private = [n for n in names if n.startswith("_")]
            assert not private, f"{path.name} imports {private} from {module}"
        if module == "matplotlib":
            assert "use" not in names, path.name


def test_library_code_picks_no_matplotlib_backend():
    for path in [*PACKAGE.glob("*.py"), PACKAGE.parent / "sweep.py"]:
        assert "matplotlib.use(" not in path.read_text(), path.name
