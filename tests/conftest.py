"""Shared fixtures: every test writes MLflow runs to its own temporary store."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def _store_template(tmp_path_factory):
    """An empty MLflow store, created once per test process: creating one (MLflow's schema
    migrations) takes seconds, copying it milliseconds."""
    import mlflow

    db = tmp_path_factory.mktemp("mlruns-template") / "mlflow.db"
    uri = f"sqlite:///{db}"
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)
    return db


@pytest.fixture(autouse=True)
def _private_mlflow_store(request, tmp_path_factory, monkeypatch):
    """Each test's own MLflow store: a copy of the empty template, or, for a test marked
    ``fresh_store`` (one about how a store is created), no file at all."""
    store = tmp_path_factory.mktemp("mlruns")
    if request.node.get_closest_marker("fresh_store") is None:
        shutil.copyfile(request.getfixturevalue("_store_template"), store / "mlflow.db")
    monkeypatch.setenv("NURTURELAB_MLRUNS", str(store))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield store
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


# --------------------------------------------------------------------------------------------
# The result-protocol coverage check across pytest-xdist workers (tests/test_zz_result_coverage)
# --------------------------------------------------------------------------------------------
_WHOLE_SUITE = "test_zz_result_coverage.py::test_every_result_class_was_checked"


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a worker: send the controller what it checked
        import resultcheck

        workeroutput["result_checked"] = sorted(resultcheck.checked_names())
        workeroutput["whole_suite"] = any(item.nodeid.endswith(_WHOLE_SUITE)
                                          for item in session.items)
        return
    reports = getattr(session.config, "_result_reports", None)
    if not reports or not any(whole for _, whole in reports):
        return  # not under xdist, or the coverage test was not selected
    import resultcheck

    checked = set().union(*(set(names) for names, _ in reports))
    missing = resultcheck.unchecked_result_classes(checked)
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"result classes no test checks with assert_result_protocol: {missing}"
        if reporter is not None:
            reporter.write_line(f"FAILED {_WHOLE_SUITE} (across workers): {message}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist's controller: collect each worker's checked result classes."""
    out = getattr(node, "workeroutput", {})
    if "result_checked" in out:
        reports = getattr(node.config, "_result_reports", [])
        reports.append((out["result_checked"], out["whole_suite"]))
        node.config._result_reports = reports


# --------------------------------------------------------------------------------------------
# The longest files first, so that pytest-xdist's processes (whole files each) finish together.
# xdist orders the files by their number of tests unless told not to: the Makefile passes
# --no-loadscope-reorder, so this order is the one its processes take them in (the order from
# the durations of a whole run, `pytest --durations=0`, summed by file).
# --------------------------------------------------------------------------------------------
_LONGEST_FIRST = ("test_packaging.py", "test_score_cli.py", "test_audit_cli.py",
                  "test_models_checks.py", "test_twin_calibrate.py", "test_models.py",
                  "test_cli.py", "test_registry.py", "test_sweep.py", "test_published.py",
                  "test_models_auto.py", "test_simulation.py", "test_audit.py", "test_tracking.py",
                  "test_twin_backtest.py", "test_scenario.py", "test_experiment.py",
                  "test_table.py", "test_reliability_dask.py", "test_backtest_cli.py",
                  "test_policy.py", "test_shell_path.py", "test_report_cli.py", "test_response.py",
                  "test_experiment_interference.py", "test_survival.py", "test_report.py",
                  "test_imports.py", "test_funnel.py", "test_competing.py", "test_quality.py",
                  "test_reliability_personal.py", "test_experiment_analyze_values.py",
                  "test_schema.py", "test_experiment_stats.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: k for k, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: others keep order
