"""The model registry, on the embedded store and on a real `mlflow server` on 127.0.0.1."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from nurturelab import tracking


def _model():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"opens_30d": rng.poisson(2, 300), "fit": rng.random(300)})
    y = (X["opens_30d"] + rng.normal(0, 1, 300) > 2).astype(int)
    return LogisticRegression().fit(X, y), X


def _register_and_load():
    model, X = _model()
    with tracking.run("fit"):
        uri, v1 = tracking.log_model(model, X, alias="champion")
    with tracking.run("refit"):
        _, v2 = tracking.log_model(model, X)  # challenger by default
    assert tracking.model_aliases() == {"champion": v1, "challenger": v2}
    loaded = tracking.load_model("champion")
    np.testing.assert_allclose(loaded.predict_proba(X)[:, 1], model.predict_proba(X)[:, 1])
    with pytest.raises(LookupError, match="alias 'gold'"):
        tracking.load_model("gold")
    return uri


def test_registry_on_the_embedded_store():
    _register_and_load()


def test_model_input_example_refuses_personal_data():
    model, X = _model()
    with tracking.run("leaky"), pytest.raises(ValueError, match="personal"):
        tracking.log_model(model, X.assign(email="ana@example.com"))


def _score_fit(**columns):
    from nurturelab.scoring.fit import fit_on_table

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"opens_30d": rng.poisson(2, 400).astype(float), "fit": rng.random(400),
                      **columns})
    y = pd.Series(X["opens_30d"] + rng.normal(0, 1, 400) > 2.5, name="converted")
    return fit_on_table(X, y, source="crm.csv")


def test_log_score_fit_logs_the_run_and_registers_the_model():
    import mlflow

    fit = _score_fit()
    run_id, version = tracking.log_score_fit(fit, alias="champion")
    client = mlflow.MlflowClient(tracking.tracking_uri())
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["job"] == "score"
    assert run.data.params["validation"] == "stratified" and run.data.params["table"] == "crm.csv"
    assert run.data.metrics["auc"] == pytest.approx(fit.metrics["auc"])
    assert run.data.metrics["auc.model"] == pytest.approx(fit.metrics["auc"])
    assert run.data.params["kind"] == "auto" and run.data.params["kind_chosen"] in {"logistic",
                                                                                   "hgb"}
    for kind in ("logistic", "hgb"):  # the cross-validation of both kinds on the training rows
        assert run.data.metrics[f"cv_auc.{kind}"] == pytest.approx(fit.cv.loc[kind, "auc_mean"])
    assert run.data.metrics["importance.opens_30d"] == pytest.approx(
        fit.importance.loc["opens_30d", "importance_mean"])
    tables = {a.path for a in client.list_artifacts(run_id, "tables")}
    assert tables == {"tables/calibration.csv", "tables/lift.csv", "tables/cv.csv",
                      "tables/importance.csv"}
    assert tracking.model_aliases() == {"champion": version}
    loaded = tracking.load_model("champion")
    np.testing.assert_allclose(loaded.predict_proba(fit.X_test)[:, 1], fit.p_test)


def test_log_score_fit_refuses_personal_data_and_fails_the_run():
    import dataclasses

    import mlflow

    # fit_on_table drops such a column before fitting (issue 13); a fit that still carries
    # one, however it was made, is refused here
    fit = _score_fit()
    fit = dataclasses.replace(fit, X_test=fit.X_test.assign(
        email=[f"lead{i}@example.com" for i in range(len(fit.X_test))]))
    with pytest.raises(ValueError, match="personal"):
        tracking.log_score_fit(fit)
    client = mlflow.MlflowClient(tracking.tracking_uri())
    experiment = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED" and tracking.model_aliases() == {}


def _noise_fit():
    """The issue's bad model as a table: 95 leads, 5 converted, columns without signal."""
    from nurturelab.scoring.fit import fit_on_table

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=95), "b": rng.choice(["x", "y", "z"], 95)})
    y = pd.Series(rng.random(95) < 0.05, name="converted")
    return fit_on_table(X, y, source="noise.csv", kind="logistic")  # the kind


def test_a_model_that_fails_its_check_is_logged_in_a_failed_run_and_not_registered():
    import mlflow
    import mlflow.sklearn

    from nurturelab.scoring.quality import check_fit

    fit = _noise_fit()
    quality = check_fit(fit)
    assert not quality.passed
    with pytest.raises(tracking.ModelRefused, match="no better than predicting the base rate"
                       ) as caught:
        tracking.log_score_fit(fit, quality=quality)
    assert "is marked FAILED" in caught.value.__notes__[0]
    client = mlflow.MlflowClient(tracking.tracking_uri())
    run = client.get_run(caught.value.run_id)
    assert run.info.status == "FAILED" and run.data.tags["quality"] == "refused"
    assert "base rate" in run.data.tags["quality.reasons"]
    assert run.data.metrics["brier_skill"] <= 0
    logged = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list",
        filter_string=f"source_run_id = '{run.info.run_id}'")
    assert [f"models:/{m.model_id}" for m in logged] == [run.data.tags["quality.model_uri"]]
    assert run.data.tags["quality.model_uri"] in str(caught.value)
    inspect = mlflow.sklearn.load_model(run.data.tags["quality.model_uri"])  # there to inspect
    np.testing.assert_allclose(inspect.predict_proba(fit.X_test)[:, 1], fit.p_test)
    assert tracking.model_aliases() == {}  # no version, no alias
    assert client.search_registered_models() == []
    # forced: registered and aliased, the version says so; promotion asks for force again
    run_id, version = tracking.log_score_fit(fit, quality=quality, force=True)
    assert client.get_run(run_id).info.status == "FINISHED"
    mv = client.get_model_version(tracking.MODEL_NAME, version)
    assert mv.tags["quality"] == "forced" and "base rate" in mv.tags["quality.reasons"]
    assert tracking.model_aliases() == {"challenger": version}
    with pytest.raises(tracking.ModelRefused, match=r"registered only with --force: it is no "
                                                    r"better than predicting the base rate"):
        tracking.promote("challenger", "champion")
    assert "champion" not in tracking.model_aliases()
    moved = tracking.promote("challenger", "champion", force=True)
    assert moved.forced and moved.quality == "forced" and moved.version == version


def test_a_model_that_passes_is_registered_with_its_verdict():
    import mlflow

    from nurturelab.scoring.quality import check_fit

    fit = _score_fit()
    quality = check_fit(fit)
    assert quality.passed
    _, version = tracking.log_score_fit(fit, quality=quality, registered_name="acme-leads")
    mv = mlflow.MlflowClient(tracking.tracking_uri()).get_model_version("acme-leads", version)
    assert mv.tags["quality"] == "passed"
    assert float(mv.tags["quality.auc"]) == pytest.approx(fit.metrics["auc"], abs=1e-6)
    assert float(mv.tags["quality.auc_low"]) < float(mv.tags["quality.auc"])
    assert tracking.model_aliases("acme-leads") == {"challenger": version}
    assert tracking.model_aliases() == {}  # another team's name: lead-score is untouched


def test_promote_by_alias_or_version_says_what_moved():
    model, X = _model()
    versions = []
    for _ in range(3):
        with tracking.run("fit"):
            versions.append(tracking.log_model(model, X)[1])  # challenger moves each time
    v1, v2, v3 = versions
    first = tracking.promote(v1, "champion")
    assert (first.previous, first.version, first.moved) == (None, v1, True)
    assert str(first) == (f"lead-score@champion now points at version {v1}; it pointed at no "
                          "version before")
    second = tracking.promote("challenger", "champion")
    assert (second.previous, second.version) == (v1, v3)
    assert str(second) == (f"lead-score@champion: moved from version {v1} to version {v3} (the "
                           "version 'challenger' points at)")
    again = tracking.promote("champion", "champion")
    assert not again.moved and "nothing moved" in str(again)
    assert tracking.model_aliases() == {"champion": v3, "challenger": v3}
    assert second.quality is None  # logged without a check
    with pytest.raises(LookupError, match=r"no version 9 of model 'lead-score' .* \(its "
                                          rf"versions: {v1}, {v2}, {v3}\)"):
        tracking.promote("9")
    with pytest.raises(LookupError, match="alias 'gold'"):
        tracking.promote("gold")


def test_no_such_alias_says_how_to_get_one():
    with pytest.raises(LookupError) as none:
        tracking.model_version("champion", registered_name="acme")
    text = str(none.value)
    assert "no model 'acme' with alias 'champion'" in text
    assert ("run `nurturelab score fit --leads LEADS --events EVENTS --model-name acme` (it "
            "registers a version with alias challenger), then `nurturelab score promote "
            "challenger --model-name acme --to champion`") in text
    model, X = _model()
    with tracking.run("fit"):
        _, v = tracking.log_model(model, X)
    with pytest.raises(LookupError) as some:
        tracking.load_model("champion")
    assert f"its aliases: challenger (version {v})" in str(some.value)
    assert "`nurturelab score promote challenger --to champion`" in str(some.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path, monkeypatch):
    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start on {url}")
            time.sleep(0.5)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        yield url
    finally:
        # the server and its workers at once: its store is the test's temporary files, and a
        # graceful stop (SIGTERM) waited 5 s for its workers
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


@pytest.mark.fresh_store
def test_registry_and_runs_on_a_real_tracking_server(mlflow_server, _private_mlflow_store):
    assert tracking.tracking_uri() == mlflow_server
    _register_and_load()
    # nothing went to the embedded store: the server held it all
    assert not (_private_mlflow_store / "mlflow.db").exists()


def test_a_logged_model_names_the_packages_that_load_it():
    """The requirements are named, not inferred (inference imports the model in a fresh
    process, most of a `score fit`'s time): the packages that load it at the installed
    versions, with MLflow's own, and nothing the test process happened to import."""
    from importlib.metadata import version

    import mlflow

    model, X = _model()
    with tracking.run("fit"):
        uri, _ = tracking.log_model(model, X, registered_name=None, alias=None)
    lines = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text().split()
    assert lines[0] == f"mlflow=={version('mlflow')}"
    assert sorted(lines[1:]) == sorted(tracking.model_requirements())
    assert f"scikit-learn=={version('scikit-learn')}" in lines
    assert not [r for r in lines if r.startswith(("pytest", "dask"))]
    loaded = mlflow.sklearn.load_model(uri)
    np.testing.assert_allclose(loaded.predict_proba(X)[:, 1], model.predict_proba(X)[:, 1])
