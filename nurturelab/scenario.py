"""Scenario files: a world and its variants, run with common random numbers and tracked.

A scenario (``simulations/*.yaml``) describes a base world and, optionally, variants that
override parts of it; every variant runs with the same seed, so the same leads with the same
random numbers meet each variant and differences come from the variants::

    name: speed_to_lead
    description: rep count and instant response against speed to lead and conversion
    seed: 1
    world:
      leads: 3000
      start: 2026-01-05
      cadence: seed_14_day          # a built-in name, a cadence YAML path, or a mapping
      team: {reps: 3, shift: [9, 17], timezone: America/New_York, queue: priority}
      arrivals: {per_day: {paid_search: 40, web_form: 25, referral: 10}}
      response: {}                  # overrides of the response model's defaults
    variants:
      reps_6: {team: {reps: 6}}
      instant: {cadence: instant}

:func:`read_scenario` is the only function that reads scenario files; an unknown key or a bad
value is refused naming the file and the field.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nurturelab._yaml import load_yaml
from nurturelab.cadence import Cadence, get_cadence
from nurturelab.progression import Progression
from nurturelab.response import ResponseModel
from nurturelab.result import Result
from nurturelab.simulation import Arrivals, SimulationResult, Team, World, kpis, simulate

__all__ = ["Scenario", "ScenarioRun", "read_scenario", "run_scenario", "world_to_dict",
           "write_scenario", "write_tables"]

_TOP = {"name", "description", "seed", "world", "variants", "calibration"}
_WORLD = {"leads", "start", "tail_days", "warmup_days", "cadence", "team", "arrivals",
          "response", "progression", "ae_response_hours"}
_CALIBRATION = {"leads", "events", "until", "parameters", "assumed"}
BASELINE = "baseline"


@dataclass(frozen=True)
class Scenario:
    """A named set of worlds (the baseline and its variants) run with one seed."""

    name: str
    worlds: Mapping[str, World]
    seed: int = 0
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def with_overrides(self, *, leads: int | None = None, seed: int | None = None) -> Scenario:
        """The same scenario with another size or seed (for ``--leads`` and ``--seed``)."""
        worlds = self.worlds
        if leads is not None:
            from dataclasses import replace

            worlds = {k: replace(w, leads=int(leads)) for k, w in worlds.items()}
        return Scenario(self.name, worlds, self.seed if seed is None else int(seed),
                        self.description, self.raw)


def _merge(base: Mapping, over: Mapping) -> dict:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _build_world(spec: Mapping[str, Any], where: str, folder: Path) -> World:
    unknown = sorted(set(spec) - _WORLD)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_WORLD)}")
    kw: dict[str, Any] = {k: v for k, v in spec.items()
                          if k in ("leads", "tail_days", "warmup_days", "ae_response_hours")}
    if "start" in spec:
        kw["start"] = str(spec["start"])
    try:
        cad = spec.get("cadence", "seed_14_day")
        if isinstance(cad, Mapping):
            kw["cadence"] = Cadence.from_dict(dict(cad), source=f"{where}.cadence")
        else:
            path = folder / str(cad)
            kw["cadence"] = get_cadence(path if path.suffix in (".yaml", ".yml") else str(cad))
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise ValueError(f"{where}.cadence: {exc}") from exc
    for key, cls in (("team", Team), ("arrivals", Arrivals)):
        body = spec.get(key) or {}
        if not isinstance(body, Mapping):
            raise ValueError(f"{where}.{key}: must be a mapping, got {body!r}")
        allowed = set(cls.__dataclass_fields__)
        bad = sorted(set(body) - allowed)
        if bad:
            raise ValueError(f"{where}.{key}: unknown key(s) {bad}; allowed: {sorted(allowed)}")
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in body.items()}
        try:
            kw[key] = cls(**args)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}.{key}: {exc}") from exc
    try:
        kw["response"] = ResponseModel.from_dict(spec.get("response") or {},
                                                 source=f"{where}.response")
        kw["progression"] = Progression.from_dict(spec.get("progression") or {},
                                                  source=f"{where}.progression")
        return World(**kw)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from exc


def read_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (see the module docstring for its form)."""
    path = Path(path)
    try:  # the shared loader: a key given twice is refused, not silently overwritten
        raw = load_yaml(path, "scenario", needs="a 'world' and optionally 'variants'")
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: a scenario is a mapping with keys {sorted(_TOP)}")
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(_TOP)}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{path}: 'seed' must be a whole number >= 0. Got {seed!r} instead.")
    base = raw.get("world") or {}
    if not isinstance(base, Mapping):
        raise ValueError(f"{path}: 'world' must be a mapping")
    calibration = raw.get("calibration") or {}
    if not isinstance(calibration, Mapping) or set(calibration) - _CALIBRATION:
        raise ValueError(f"{path}: 'calibration' must be a mapping with keys among "
                         f"{sorted(_CALIBRATION)} (written by nurturelab calibrate)")
    worlds = {BASELINE: _build_world(base, f"{path}: world", path.parent)}
    variants = raw.get("variants") or {}
    if not isinstance(variants, Mapping):
        raise ValueError(f"{path}: 'variants' must map a variant name to its overrides")
    for name, over in variants.items():
        if not isinstance(over, Mapping):
            raise ValueError(f"{path}: variant {name!r} must be a mapping of overrides")
        worlds[str(name)] = _build_world(_merge(base, over), f"{path}: variants.{name}",
                                         path.parent)
    return Scenario(name=str(raw.get("name") or path.stem), worlds=worlds, seed=seed,
                    description=str(raw.get("description") or ""), raw=raw)


def world_to_dict(world: World) -> dict[str, Any]:
    """A world as the ``world:`` mapping of a scenario file (read back by
    :func:`read_scenario` into an equal world)."""
    from dataclasses import asdict

    team = asdict(world.team)
    team["shift"] = None if world.team.shift is None else list(world.team.shift)
    team["workdays"] = list(world.team.workdays)
    arrivals = asdict(world.arrivals)
    for key in ("hourly", "weekday", "default_intent", "fit_beta"):
        arrivals[key] = [float(x) for x in arrivals[key]]
    arrivals["intent"] = {k: [float(x) for x in v] for k, v in world.arrivals.intent.items()}
    return {
        "leads": world.leads,
        "start": world.start,
        "tail_days": world.tail_days,
        "warmup_days": world.warmup_days,
        "ae_response_hours": world.ae_response_hours,
        "cadence": world.cadence.to_dict(),
        "team": team,
        "arrivals": arrivals,
        "response": world.response.to_dict(),
        "progression": world.progression.to_dict(),
    }


def write_scenario(path: str | Path, world: World, *, name: str, seed: int = 0,
                   description: str = "", calibration: Mapping[str, Any] | None = None,
                   header: str = "") -> Path:
    """Write a scenario file holding ``world`` as its baseline (no variants), written to a
    temporary file and renamed into place. ``header`` lines become comments at the top."""
    import yaml

    body: dict[str, Any] = {"name": name, "description": description, "seed": int(seed)}
    if calibration:
        body["calibration"] = dict(calibration)
    body["world"] = world_to_dict(world)
    text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    text += yaml.safe_dump(_plain(body), sort_keys=False, allow_unicode=True, width=100)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _plain(value: Any) -> Any:
    """Plain YAML types: tuples as lists, NumPy scalars as Python numbers."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


SIMULATED = {"nurturelab": {"simulated": True}}
"""The metadata :func:`write_tables` stores in its Parquet files (pandas keeps ``DataFrame.attrs``
there): :mod:`nurturelab.schema` does not check a simulated world's timestamps against today."""


def write_tables(res: SimulationResult, out: Path) -> list[Path]:
    """Write ``leads.parquet`` and ``events.parquet`` into ``out``: each is written to a temporary
    file beside its target and renamed into place only once both are complete. Each file is
    marked as simulated (:data:`SIMULATED`)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: tables are written into a folder, and this is a file")
    out.mkdir(parents=True, exist_ok=True)
    pending: list[tuple[Path, Path]] = []
    try:
        for name, frame in (("leads", res.leads), ("events", res.events)):
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".parquet.tmp", dir=out)
            os.close(fd)
            pending.append((Path(tmp), out / f"{name}.parquet"))
            marked = frame.copy(deep=False)
            marked.attrs = copy.deepcopy(SIMULATED)
            marked.to_parquet(tmp, index=False)
        for tmp, target in pending:
            os.replace(tmp, target)
        return [target for _, target in pending]
    finally:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)


@dataclass(repr=False)
class ScenarioRun(Result):
    """The outcome of running a scenario: the KPI table (``summary``, one row per variant) and
    each variant's :class:`~nurturelab.simulation.SimulationResult`."""

    scenario: Scenario
    results: dict[str, SimulationResult]
    kpis: pd.DataFrame
    run_id: str | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """One row per variant, one column per KPI (see :func:`nurturelab.simulation.kpis`)."""
        return self.kpis

    def _describe(self) -> str:
        return (f"{self.scenario.name!r}, {len(self.results)} variant(s), seed "
                f"{self.scenario.seed}")

    def plot(self, ax=None, *, axes=None):
        """Bars of the headline KPIs, one bar per variant: on ``axes`` (one per KPI), or on
        ``ax`` for the conversion rate alone; returns the axes."""
        from nurturelab import plots

        if axes is not None:
            return plots.scenario_kpis(self.kpis, axes=axes)
        if ax is not None:
            return plots.scenario_kpis(self.kpis, axes=[ax], columns=("conversion_rate",))[0]
        return plots.scenario_kpis(self.kpis)


def run_scenario(
    scenario: Scenario,
    *,
    out: Path | None = None,
    track: bool = False,
    source: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ScenarioRun:
    """Run every variant with the scenario's seed; with ``track``, log an MLflow run; with
    ``out``, write tables.

    Tracking is the caller's choice (the ``simulate`` command tracks unless ``--no-track``).
    The MLflow run is a parent run for the scenario (its file as an artifact, the KPI table,
    charts) with a child run per variant (its world as params, its KPIs as metrics).

    Nothing is written under ``out`` until every variant has run; the tables are then written
    inside the MLflow run, so that the run reads FINISHED only once they are all in place. While
    they are being written, ``out/INCOMPLETE`` lists those still missing: an error or Ctrl-C
    (SIGTERM from the command) leaves it there, marks the runs FAILED or KILLED, and adds notes
    saying so to the exception (``exc.__notes__``). Each file is written then renamed.

    Raises
    ------
    NotADirectoryError
        ``out`` names a file (before anything is run).
    OSError
        The tables cannot be written (the run is then FAILED and ``INCOMPLETE`` stays).
    """
    out = None if out is None else Path(out)
    if out is not None and out.exists() and not out.is_dir():
        raise NotADirectoryError(f"The 'out' parameter of run_scenario must be a folder for the "
                                 f"tables. Got {str(out)!r}, which is a file, instead.")
    results: dict[str, SimulationResult] = {}
    rows = {}

    def run_all(log: Callable[[str, SimulationResult, dict], None] | None) -> pd.DataFrame:
        for name, world in scenario.worlds.items():
            cb = (lambda done, total, n=name: progress(n, done, total)) if progress else None
            res = simulate(world, scenario.seed, progress=cb)
            results[name] = res
            rows[name] = kpis(res)
            if log is not None:
                log(name, res, rows[name])
        return pd.DataFrame(rows).T.rename_axis("variant")

    if track:
        return _run_tracked(scenario, run_all, out, source)
    summary = run_all(None)
    if out is not None:
        _write_all(results, out)
    return ScenarioRun(scenario, results, summary)


def _run_tracked(scenario: Scenario, run_all: Callable, out: Path | None,
                 source: Path | None) -> ScenarioRun:
    """:func:`run_scenario` inside an MLflow parent run, a child run per variant; the tables
    are written before the parent run closes."""
    import matplotlib.pyplot as plt

    from nurturelab import tracking

    params = {"scenario": scenario.name, "seed": scenario.seed,
              "variants": ",".join(scenario.worlds)}
    results: dict[str, SimulationResult] = {}

    def log(name, res, k):
        results[name] = res
        with tracking.run(name, nested=True, params=_world_params(res.world),
                          tags={"variant": name}):
            tracking.log_metrics(k)

    with tracking.run(f"simulate:{scenario.name}", params=params,
                      tags={"job": "simulate"}) as parent:
        if source is not None:
            tracking.log_file(source, "scenario")
        summary = run_all(log)
        tracking.log_table(summary, "kpis")
        for name, fig in (("kpis", plots_kpis(summary)), ("queue", plots_queue(results))):
            tracking.log_figure(fig, name)
            plt.close(fig)
        if out is not None:
            _write_all(results, out)
        return ScenarioRun(scenario, results, summary, parent.info.run_id)


INCOMPLETE = "INCOMPLETE"
"""The file :func:`run_scenario` keeps in its output folder while tables are missing."""


def _write_all(results: Mapping[str, SimulationResult], out: Path) -> None:
    """Every variant's tables under ``out`` (one folder per variant when there are several),
    with ``out/INCOMPLETE`` listing the files still missing until the last is in place."""
    folders = {name: out / name if len(results) > 1 else out for name in results}
    missing = [str((folders[name] / f"{table}.parquet").relative_to(out))
               for name in results for table in ("leads", "events")]
    marker = out / INCOMPLETE
    try:
        out.mkdir(parents=True, exist_ok=True)
        _mark(marker, missing)
        for name, res in results.items():
            write_tables(res, folders[name])
            done = {str((folders[name] / f"{t}.parquet").relative_to(out))
                    for t in ("leads", "events")}
            missing = [m for m in missing if m not in done]
            if missing:
                _mark(marker, missing)
        marker.unlink()
    except BaseException as exc:
        where = (f"{marker} lists the tables still missing" if marker.exists()
                 else f"nothing was written under {out}")
        exc.add_note(f"the output is incomplete: {where}")
        raise


def _mark(marker: Path, missing: list[str]) -> None:
    """Write the INCOMPLETE marker (write then rename: a reader never sees half of it)."""
    text = ("This output is incomplete: the run writing it stopped before these files were "
            "written\n(a file listed here and present is from an earlier run):\n"
            + "".join(f"{m}\n" for m in missing))
    tmp = marker.with_name(f".{marker.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(marker)


def plots_kpis(summary: pd.DataFrame):
    import matplotlib.pyplot as plt

    from nurturelab import plots

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    plots.scenario_kpis(summary, axes=axes)
    fig.tight_layout()
    return fig


def plots_queue(results: Mapping[str, SimulationResult]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name, res in results.items():
        q = res.queue
        ax.plot(q["ts"], q["queue_length"], label=name, lw=1)
    ax.set_ylabel("rep tasks waiting")
    ax.set_title("Follow-up queue length")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _world_params(w: World) -> dict[str, Any]:
    t = w.team
    return {
        "cadence": w.cadence.name,
        "touches": len(w.cadence.touches),
        "leads": w.leads,
        "start": w.start,
        "reps": t.reps,
        "shift": "24/7" if t.shift is None else f"{t.shift[0]:g}-{t.shift[1]:g}",
        "timezone": t.timezone,
        "queue": t.queue,
        "arrivals_per_day": round(sum(w.arrivals.per_day.values()), 3),
        "arrival_process": w.arrivals.process,
        "warmup_days": w.warmup_days,
    }
