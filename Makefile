# nurturelab — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# No usage telemetry from MLflow.
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
# JupyterLab refuses to start as root (containers, CI) unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Test processes (pytest-xdist): one per core by default; TEST_WORKERS=0 runs in this process.
# Each runs its BLAS and OpenMP on one thread: processes sharing the cores would otherwise fight
# over them (OpenBLAS spins while it waits). The tests that ask for two threads get OpenMP
# threads that sleep while they wait (OMP_WAIT_POLICY=PASSIVE): spinning, a 400-row boosting fit
# on two threads took 12 s with the other core busy, and 3.2 s sleeping.
TEST_WORKERS ?= auto
TEST_THREADS := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

.PHONY: demo test studies lab ui bench sample clean browser

# The install: uv when it is on PATH, else uv bootstrapped from the package index into the venv
# (its version pinned in constraints.txt), else pip. uv resolves and installs the pinned stack in
# parallel (about a minute on a fresh machine, against several with pip); pip takes over if uv
# cannot be had or fails. UV=no makes it pip; UV=/path/to/uv names another uv. Both compile the
# bytecode at install (pip does by default, uv with --compile-bytecode): where
# PYTHONDONTWRITEBYTECODE is set, as on this machine and its CI, Python never writes it, and
# without it every process (each test worker, notebook kernel and CLI run) compiles what it
# imports again: 21 s against 8 s to import the stack here. A fresh `make demo` took 81 s with
# it and 78 s without (the demo itself is 12 s quicker).
UV ?=
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@uv="$(UV)"; \
	if [ -z "$$uv" ]; then uv=$$(command -v uv || true); fi; \
	if [ -z "$$uv" ] && [ -x $(BIN)/uv ]; then uv=$(BIN)/uv; fi; \
	if [ -z "$$uv" ]; then \
	  echo "installing uv into $(VENV) (pinned in constraints.txt)"; \
	  if $(PIP_INSTALL) -c constraints.txt uv; then uv=$(BIN)/uv; \
	  else echo "uv could not be installed: pip installs the stack instead (slower)"; uv=no; fi; \
	fi; \
	if [ "$$uv" != no ]; then \
	  echo "$$uv pip install --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'"; \
	  "$$uv" pip install --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]' \
	  || { echo "uv failed: pip installs the stack instead"; uv=no; }; \
	fi; \
	if [ "$$uv" = no ]; then \
	  echo "$(PIP_INSTALL) -c constraints.txt -e '.[dev]'"; \
	  $(PIP_INSTALL) -c constraints.txt -e '.[dev]'; \
	fi
	@touch $(STAMP)

demo: $(STAMP)  ## the main job on the embedded sample, logged to mlruns/
	$(BIN)/nurturelab demo

test: $(STAMP)  ## lint, unit and statistical tests, doctests, notebooks (the slow studies apart)
	$(BIN)/ruff check nurturelab tests
	MPLBACKEND=Agg $(TEST_THREADS) $(BIN)/pytest -q -p no:cacheprovider \
	  -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow"

studies: $(STAMP)  ## the slow statistical studies at their CI sizes (NURTURELAB_STUDY_REPS=N: longer)
	MPLBACKEND=Agg $(TEST_THREADS) $(BIN)/pytest -q -p no:cacheprovider \
	  -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m slow

lab: $(STAMP)  ## JupyterLab on 127.0.0.1 only
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --notebook-dir=notebooks $(ROOT_FLAG)

ui: $(STAMP)  ## the MLflow UI for the embedded store, on 127.0.0.1 only
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db

sample: $(STAMP)  ## regenerate data/ (deterministic)
	$(BIN)/nurturelab sample --out data

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

bench: $(STAMP)  ## speed and memory against a bare SimPy loop (add ARGS=--full for 1M leads)
	$(BIN)/python benchmarks/bench_simulation.py $(ARGS)
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_reports.py
	$(BIN)/python benchmarks/bench_twin.py
	$(BIN)/python benchmarks/bench_validate.py
	$(BIN)/python benchmarks/bench_score_kind.py
	$(BIN)/python benchmarks/bench_experiment.py

browser:  ## Debian's chromium for the headless render test (CI runs it before `make test`)
	@command -v chromium >/dev/null 2>&1 || { \
	  APT="env DEBIAN_FRONTEND=noninteractive apt-get"; \
	  if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then APT="sudo $$APT"; fi; \
	  $$APT install -y --no-install-recommends chromium \
	  || { $$APT update && $$APT install -y --no-install-recommends chromium; }; }
	chromium --version
