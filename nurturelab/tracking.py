"""MLflow, in one place: where the store is, and one way to log a run.

The embedded store is SQLite at ``mlruns/mlflow.db`` with artifacts under ``mlruns/artifacts``,
both resolved from the project root (:mod:`nurturelab.paths`), so the CLI and the notebooks write
to the same store. ``MLFLOW_TRACKING_URI`` switches every run to another store or a shared
tracking server, and nothing else changes.

A SQLite store is created and migrated under a file lock beside it (``mlflow.db.lock``), so that
several processes starting on a store that does not exist yet (notebooks, a scheduled audit
beside a demo) wait for one another instead of racing through MLflow's schema migration. Before
MLflow opens an existing file it is checked: a file that is not an MLflow store, or a damaged
one, is refused with a :class:`StoreError` naming the file and how to move it aside; it is never
written to.

Lead data is personal data: :func:`log_table` and :func:`log_model` refuse tables holding
personal data (:func:`personal_columns`: a personal column name, or values shaped like e-mail
addresses, phone numbers or people's names), and params and tags are checked the same way.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nurturelab._csv import write_csv
from nurturelab.paths import mlruns_dir

__all__ = ["DEFAULT_EXPERIMENT", "MODEL_NAME", "ModelRefused", "Promotion", "StoreError",
           "how_to_get_alias", "load_model", "log_figure", "log_file", "log_metrics",
           "log_model", "log_score_fit", "log_table", "model_aliases", "model_horizon_days",
           "model_requirements",
           "model_version", "personal_columns", "promote", "recorded_threshold", "run",
           "run_params", "set_alias", "tag_model_version", "tracking_uri"]

DEFAULT_EXPERIMENT = "nurturelab"
MODEL_NAME = "lead-score"
PERSONAL_COLUMNS = frozenset({"name", "first_name", "last_name", "full_name", "email", "phone",
                              "phone_number", "mobile"})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+?\(?\d[\d\s()./-]{6,}\d")
# column names that say "personal" once lower-cased and snake-cased ("Full Name" -> full_name)
_PERSONAL_NAMES = PERSONAL_COLUMNS | {
    "surname", "given_name", "contact_name", "lead_name", "e_mail", "email_address", "tel",
    "telephone", "phone_no", "mobile_phone", "mobile_number", "cell_phone", "cellphone",
    "whatsapp", "street_address"}
_NAME_PARTICLES = frozenset({"da", "de", "del", "della", "der", "di", "do", "dos", "das", "du",
                             "la", "le", "van", "von", "bin", "al", "y"})


def _mlflow():
    """MLflow, imported on first use (importing this module has no side effects), with its
    usage telemetry off: nothing leaves this machine. The telemetry switch is MLflow's own
    environment variable, set here only when the caller has not set it."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow
    from mlflow.telemetry import get_telemetry_client, set_telemetry_client

    if get_telemetry_client() is not None:  # imported before the switch was set: drop it
        set_telemetry_client()
    return mlflow


def _embedded_uri() -> str:
    return f"sqlite:///{mlruns_dir() / 'mlflow.db'}"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the project's embedded SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or _embedded_uri()


# --------------------------------------------------------------------------------------------
# The store: created under a lock, checked before MLflow opens it
# --------------------------------------------------------------------------------------------
class StoreError(RuntimeError):
    """The MLflow store cannot be used as it is. ``file`` names it; nothing was written to it.

    >>> print(StoreError(Path("mlruns/mlflow.db"), "is not an SQLite database"))
    ... # doctest: +NORMALIZE_WHITESPACE
    mlruns/mlflow.db: is not an SQLite database. Nothing was written to it. Move it aside to
    start a new store (mv mlruns/mlflow.db mlruns/mlflow.db.broken), or set MLFLOW_TRACKING_URI
    to another store.
    """

    def __init__(self, file: Path, what: str):
        self.file = Path(file)
        aside = self.file.with_name(f"{self.file.name}.broken")
        super().__init__(f"{file}: {what}. Nothing was written to it. Move it aside to start a new "
                         f"store (mv {file} {aside}), or set MLFLOW_TRACKING_URI to another store.")


_READY: set[str] = set()  # store URIs this process has opened (and checked) already
_LOCK_WAIT_S = 300.0
_SQLITE_HEADER = b"SQLite format 3\x00"
_MLFLOW_TABLES = frozenset({"alembic_version", "experiments", "runs"})


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other store)."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


@contextmanager
def _file_lock(path: Path, what: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if need be), held by one process at a time."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
        import msvcrt
    with open(path, "a+b") as fh:
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                else:  # pragma: no cover
                    msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise StoreError(what, f"is being created by another process, which has held "
                                           f"{path} for more than {_LOCK_WAIT_S:.0f} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            else:  # pragma: no cover
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)


def _check_store_file(db: Path) -> None:
    """Refuse a file MLflow must not open: not SQLite, SQLite but not MLflow's, or damaged.

    Read only: the file is never written to here.
    """
    if not db.exists() or (db.is_file() and db.stat().st_size == 0):
        return  # MLflow creates the store
    if not db.is_file():
        raise StoreError(db, "is not a file")
    with open(db, "rb") as fh:
        head = fh.read(len(_SQLITE_HEADER))
    if head != _SQLITE_HEADER:
        raise StoreError(db, "is not an SQLite database: it does not start with SQLite's header "
                             "(a partial copy, or another file under this name?)")
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            tables = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            check = con.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if re.search(r"locked|readonly|read-only", str(exc)):
            return  # another process is writing it, or it needs a recovery only MLflow may do
        raise StoreError(db, f"is a damaged SQLite database ({_first_line(exc)})") from None
    if tables and not _MLFLOW_TABLES <= tables:
        raise StoreError(db, f"is an SQLite database but not an MLflow store (its tables: "
                             f"{sorted(tables)[:8]})")
    if check != "ok":
        raise StoreError(db, f"is a damaged SQLite database (SQLite's integrity check: "
                             f"{_first_line(check)})")


def _first_line(text: Any, limit: int = 300) -> str:
    line = (str(text).strip().splitlines() or [type(text).__name__])[0]
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _store():
    """MLflow pointed at :func:`tracking_uri`, its store opened: a SQLite store is checked and
    created or migrated under the lock (once per process and store)."""
    mlflow = _mlflow()
    uri = tracking_uri()
    chosen = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if chosen is None:  # MLflow exports the URI; a later NURTURELAB_MLRUNS must still count
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    db = _sqlite_file(uri)
    if db is None or uri in _READY:
        return mlflow
    db.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(db.with_name(f"{db.name}.lock"), db):
        _check_store_file(db)
        if not db.exists() or db.stat().st_size == 0:
            _create_sqlite_store(db)
        try:  # opening the stores creates the tables or migrates them, one process at a time
            client = mlflow.MlflowClient(uri, registry_uri=uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
        except Exception as exc:  # noqa: BLE001 - whatever MLflow says, the store cannot be used
            raise StoreError(db, f"cannot be opened as an MLflow store: {_first_line(exc)}") \
                from None
    _READY.add(uri)
    return mlflow


def _create_sqlite_store(db: Path) -> None:
    """MLflow's tables in a new SQLite store at ``db``, made quickly: written to a file beside
    it with SQLite's syncs off, then synced once and renamed into place (called under the lock).

    MLflow creates a store by running its whole migration history, a transaction each: about
    1,000 syncs to disk, 8 to 10 s of a fresh ``make demo`` on a VM disk, against one here. On
    any failure the file is removed and MLflow creates the store itself, as before.
    """
    try:
        import sqlalchemy
        from mlflow.store.db.utils import _initialize_tables
    except ImportError:  # pragma: no cover - another MLflow: it creates the store itself
        return
    tmp = db.with_name(f"{db.name}.{os.getpid()}.new")
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp}")

    @sqlalchemy.event.listens_for(engine, "connect")
    def _no_sync(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA synchronous = OFF")  # this file only, while made

    try:
        _initialize_tables(engine)
        engine.dispose()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, db)
    except Exception:  # noqa: BLE001 - MLflow then creates the store the slow way
        engine.dispose()
        tmp.unlink(missing_ok=True)


def _experiment_id(name: str) -> str:
    mlflow = _store()
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if tracking_uri() == _embedded_uri():
        location = (mlruns_dir() / "artifacts").as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:  # another process created it meanwhile
        exp = mlflow.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


_END_TRIES = 12


def _locked(exc: BaseException) -> bool:
    return "database is locked" in str(exc)


def _end(mlflow, run_id: str, status: str) -> BaseException | None:
    """End the active run with ``status``, retrying while SQLite says "database is locked"
    (another process is writing); the error if it could not be marked."""
    try:
        mlflow.end_run(status=status)  # pops the run, then writes its status
        return None
    except Exception as exc:  # noqa: BLE001 - retried or returned
        if not _locked(exc):
            return exc
        last: BaseException = exc
    for attempt in range(1, _END_TRIES):
        time.sleep(min(0.05 * 2 ** attempt, 2.0))
        try:
            mlflow.MlflowClient().set_terminated(run_id, status)
            return None
        except Exception as exc:  # noqa: BLE001
            if not _locked(exc):
                return exc
            last = exc
    return last


def _check_not_personal(where: str, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        text = None if isinstance(value, int | float | np.number) else str(value)  # numbers pass
        if str(key).lower() in PERSONAL_COLUMNS or (text is not None and _looks_personal(text)):
            raise ValueError(
                f"refusing to log {where} {key!r}: it looks like personal data (a name, e-mail "
                "address or phone number); log aggregates or pseudonymous ids instead"
            )


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T].*)?")


def _looks_personal(text: str) -> bool:
    """An e-mail address anywhere, or a whole value shaped like a phone number (9+ digits)."""
    return _looks_like_email(text) or _looks_like_phone(text)


def _looks_like_email(text: str) -> bool:
    return bool(_EMAIL.search(text))


def _looks_like_phone(text: str) -> bool:
    t = text.strip()
    return bool(_PHONE.fullmatch(t)) and sum(c.isdigit() for c in t) >= 9 and not _DATE.match(t)


def _looks_like_a_name(text: str) -> bool:
    """Two to four capitalised words of letters ("Ana Silva", "Jean-Luc de la Croix")."""
    words = [w for w in text.split() if w.lower() not in _NAME_PARTICLES]
    return 2 <= len(words) <= 4 and all(
        len(w) >= 2 and w[0].isupper() and w[1:].replace("'", "").replace("-", "").isalpha()
        and w[1:].replace("-", "").replace("'", "").islower() for w in words)


def _snake(name: Any) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def personal_columns(frame: pd.DataFrame, *, identifiers: bool = False,
                     sample: int = 2_000) -> dict[str, str]:
    """The columns of ``frame`` that hold personal data, each with what gives it away.

    A column is personal when its name says so (``email``, ``Full Name``, ``Tel``...), when any
    of its values is an e-mail address or shaped like a phone number (9 digits or more), or when
    most of its values look like people's names (two to four capitalised words) and nearly
    every row has its own. With ``identifiers``, a text column holding a different value on
    every row (an id, which a model would only learn by heart) is listed too. Text columns are
    read through at most ``sample`` of their distinct values.

    Examples
    --------
    >>> table = pd.DataFrame({"Tel": ["(11) 91234-5678"], "visits": [3],
    ...                       "note": ["call ana.silva@example.com"]})
    >>> personal_columns(table)
    {'Tel': 'a personal column name', 'note': 'e-mail addresses'}
    """
    found: dict[str, str] = {}
    for col in frame.columns:
        if _snake(col) in _PERSONAL_NAMES:
            found[col] = "a personal column name"
            continue
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype) or \
                isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s):
            continue
        present = s.dropna()
        distinct = pd.unique(present.astype(str))
        values = [str(v) for v in distinct[:sample]]
        if any(map(_looks_like_email, values)):
            found[col] = "e-mail addresses"
        elif any(map(_looks_like_phone, values)):
            found[col] = "phone numbers"
        elif (len(distinct) >= 10 and len(distinct) >= 0.5 * len(present)
              and np.mean([_looks_like_a_name(v) for v in values]) >= 0.8):
            found[col] = "people's names"
        elif identifiers and len(present) >= 20 and len(distinct) == len(present):
            found[col] = "identifiers (a different value on every row)"
    return found


@contextmanager
def run(
    name: str,
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
) -> Iterator[Any]:
    """Open an MLflow run in the project's store; close it FINISHED, FAILED or KILLED.

    An exception inside the block marks the run FAILED (KILLED for Ctrl-C and for SIGTERM, which
    the command turns into the same interruption) and is re-raised with a note saying so
    (``exc.__notes__``), so no half-finished run ever reads as finished. The status is written
    again while SQLite answers "database is locked". ``nested=True`` opens a child of the
    active run.
    """
    params = dict(params or {})
    tags = dict(tags or {})
    _check_not_personal("param", params)
    _check_not_personal("tag", tags)
    mlruns_dir().mkdir(parents=True, exist_ok=True)
    mlflow = _store()
    exp_id = _experiment_id(experiment)
    active = mlflow.start_run(experiment_id=exp_id, run_name=name, tags=tags, nested=nested)
    run_id = active.info.run_id
    try:
        if params:
            mlflow.log_params({k: _param(v) for k, v in params.items()})
        yield active
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        failed = _end(mlflow, run_id, status)
        exc.add_note(f"MLflow run {run_id} ({name}) is marked {status}" if failed is None else
                     f"MLflow run {run_id} ({name}) could not be marked {status} "
                     f"({_first_line(failed)}); it still reads RUNNING")
        raise
    failed = _end(mlflow, run_id, "FINISHED")
    if failed is not None:
        raise failed


def _param(v: Any) -> str:
    s = str(v)
    return s if len(s) <= 500 else s[:497] + "..."


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log finite numeric metrics of the active run (NaN and None are skipped)."""
    mlflow = _mlflow()
    clean = {}
    for k, v in metrics.items():
        if v is None:
            continue
        v = float(v)
        if np.isfinite(v):
            clean[re.sub(r"[^\w./ -]", "_", k)] = v
    if clean:
        mlflow.log_metrics(clean, step=step)


def log_table(df: pd.DataFrame, name: str) -> None:
    """Log an aggregate table as a CSV artifact of the active run (refusing personal data)."""
    mlflow = _mlflow()
    frame = df.reset_index()
    personal = personal_columns(frame)
    by_name = [c for c, why in personal.items() if why == "a personal column name"]
    if by_name:
        raise ValueError(f"refusing to log table {name!r}: personal column(s) {by_name}")
    for col, why in personal.items():
        raise ValueError(f"refusing to log table {name!r}: column {col!r} holds personal data "
                         f"({why})")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.csv"
        write_csv(frame, path, index=False)
        mlflow.log_artifact(str(path), artifact_path="tables")


def log_file(path: str | Path, folder: str | None = None) -> None:
    """Log a file (a scenario, a cadence) as an artifact of the active run."""
    mlflow = _mlflow()
    mlflow.log_artifact(str(path), artifact_path=folder)


def log_figure(fig, name: str) -> None:
    """Log a matplotlib figure as a PNG artifact of the active run."""
    mlflow = _mlflow()
    mlflow.log_figure(fig, f"figures/{name}.png")


# --------------------------------------------------------------------------------------------
# Models and the registry
# --------------------------------------------------------------------------------------------
def log_model(
    model,
    X_example: pd.DataFrame,
    *,
    registered_name: str | None = MODEL_NAME,
    alias: str | None = "challenger",
    name: str = "model",
) -> tuple[str, str | None]:
    """Log a fitted scikit-learn model to the active run with its signature and an input
    example, register it as ``registered_name`` and point ``alias`` at the new version.

    With ``registered_name=None`` the model is logged in the run only (no version, no alias).
    The input example is checked like a table: no personal columns or values. Returns
    ``(model_uri, version)`` (version None when not registered).
    """
    _mlflow()
    import mlflow.sklearn
    from mlflow.models import infer_signature

    example = X_example.head(5)
    personal = personal_columns(X_example)  # all its rows: names show only among many
    by_name = [c for c, why in personal.items() if why == "a personal column name"]
    if by_name:
        raise ValueError(f"refusing to log a model input example with personal column(s) "
                         f"{by_name}; score on features, not contact details")
    for col, why in personal.items():
        raise ValueError(f"refusing to log a model input example: column {col!r} holds "
                         f"personal data ({why})")
    proba = model.predict_proba(X_example.head(50))[:, 1]
    signature = infer_signature(X_example.head(50), proba)
    info = mlflow.sklearn.log_model(model, name=name, signature=signature, input_example=example,
                                    registered_model_name=registered_name,
                                    pip_requirements=model_requirements(),
                                    skops_trusted_types=_trusted_types(model))
    if registered_name is None:
        return info.model_uri, None
    version = str(info.registered_model_version)
    if alias:
        set_alias(alias, version, registered_name=registered_name)
    return info.model_uri, version


_TRUSTED_PREFIXES = ("nurturelab.", "sklearn.", "numpy.", "builtins.")
# What a logged model needs to load, pinned to the versions installed here. Named, not inferred:
# MLflow's inference loads the model in a fresh Python process to watch its imports, which took
# most of each `score fit` (about 40 of 45 s on this machine) and listed whatever the process
# happened to have imported (pytest, dask) besides.
_MODEL_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "skops")


def model_requirements() -> list[str]:
    """The pip requirements logged with a model: the packages that load it, at the versions
    installed (MLflow adds its own).

    >>> [r.split("==")[0] for r in model_requirements()]
    ['numpy', 'pandas', 'scikit-learn', 'scipy', 'skops']
    """
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in _MODEL_PACKAGES]


def _trusted_types(model) -> list[str]:
    """The types skops must be told to trust to save (and later load) ``model``: ours,
    scikit-learn's and numpy's only; anything else is refused."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise ValueError(f"refusing to log a model holding types outside nurturelab, "
                         f"scikit-learn and numpy: {foreign}")
    return list(untrusted)


def set_alias(alias: str, version: str | int, *, registered_name: str = MODEL_NAME) -> None:
    """Point a registry alias (``champion``, ``challenger``) at a model version."""
    mlflow = _store()
    mlflow.MlflowClient().set_registered_model_alias(registered_name, alias, str(version))


def model_aliases(registered_name: str = MODEL_NAME) -> dict[str, str]:
    """Alias -> version of a registered model ({} if the model is not registered)."""
    mlflow = _store()
    client = mlflow.MlflowClient()
    try:
        aliases = client.get_registered_model(registered_name).aliases
        return {str(k): str(v) for k, v in aliases.items()}
    except mlflow.exceptions.MlflowException:
        return {}


def load_model(alias: str = "champion", *, registered_name: str = MODEL_NAME):
    """Load the scikit-learn model an alias points at, with a clear error if there is none."""
    _mlflow()
    import mlflow.sklearn

    model_version(alias, registered_name=registered_name)  # a clear error if there is none
    return mlflow.sklearn.load_model(f"models:/{registered_name}@{alias}")


def _name_flag(registered_name: str) -> str:
    return "" if registered_name == MODEL_NAME else f" --model-name {registered_name}"


def how_to_get_alias(alias: str, registered_name: str = MODEL_NAME,
                     aliases: Mapping[str, str] | None = None) -> str:
    """The commands that give ``registered_name`` the alias ``alias``, in words.

    >>> how_to_get_alias("champion", aliases={})  # doctest: +NORMALIZE_WHITESPACE
    'run `nurturelab score fit --leads LEADS --events EVENTS` (it registers a version with alias
    challenger), then `nurturelab score promote challenger --to champion`'
    >>> print(how_to_get_alias("champion", "acme", {"challenger": "4"}))
    ... # doctest: +NORMALIZE_WHITESPACE
    promote a version: `nurturelab score promote challenger --model-name acme --to champion`
    (or a version number in place of challenger)
    """
    flag = _name_flag(registered_name)
    others = sorted(a for a in (aliases or {}) if a != alias)
    if others:
        return (f"promote a version: `nurturelab score promote {others[0]}{flag} --to {alias}` "
                f"(or a version number in place of {others[0]})")
    fit = f"`nurturelab score fit --leads LEADS --events EVENTS{flag}`"
    if alias == "challenger":
        return f"run {fit} (it registers a version with alias challenger)"
    return (f"run {fit} (it registers a version with alias challenger), then "
            f"`nurturelab score promote challenger{flag} --to {alias}`")


def model_version(alias: str = "champion", *, registered_name: str = MODEL_NAME):
    """The registry entry an alias points at (its ``version``, ``tags`` and ``run_id``).

    Raises :class:`LookupError` naming the aliases there are and the commands that would give
    the model this one (:func:`how_to_get_alias`).
    """
    mlflow = _mlflow()
    aliases = model_aliases(registered_name)
    if alias not in aliases:
        listed = ", ".join(f"{a} (version {v})" for a, v in sorted(aliases.items()))
        there = (f"its aliases: {listed}" if aliases
                 else f"no version of {registered_name!r} has an alias there")
        raise LookupError(
            f"no model {registered_name!r} with alias {alias!r} in {tracking_uri()} ({there}). "
            f"To get one, {how_to_get_alias(alias, registered_name, aliases)}."
        )
    return mlflow.MlflowClient().get_model_version_by_alias(registered_name, alias)


def tag_model_version(alias: str, tags: Mapping[str, Any], *,
                      registered_name: str = MODEL_NAME) -> str:
    """Set tags on the model version an alias points at (e.g. the threshold chosen for it);
    returns the version. Values are checked for personal data like run tags."""
    mlflow = _mlflow()
    _check_not_personal("model version tags", tags)
    mv = model_version(alias, registered_name=registered_name)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(registered_name, mv.version, key, _param(value))
    return str(mv.version)


class ModelRefused(RuntimeError):
    """A model version was refused an alias: it failed the quality check of its fit (and no
    ``force`` was given). ``run_id`` names the run that logged it (marked FAILED), ``version``
    the version refused a promotion; whichever applies."""

    def __init__(self, message: str, *, run_id: str | None = None,
                 version: str | None = None):
        super().__init__(message)
        self.run_id = run_id
        self.version = version


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` moved: ``alias`` of ``registered_name`` now points at ``version``
    (``previous`` before, None when it pointed nowhere), resolved from ``source``.

    ``quality`` is the verdict recorded on the version when it was fitted (``passed``,
    ``forced``; None when none was recorded) and ``forced`` whether ``force`` overrode it.
    """

    registered_name: str
    alias: str
    version: str
    previous: str | None
    source: str
    quality: str | None = None
    forced: bool = False

    @property
    def moved(self) -> bool:
        """Whether the alias points at another version than before."""
        return self.previous != self.version

    def __str__(self) -> str:
        via = "" if self.source == self.version else f" (the version {self.source!r} points at)"
        if not self.moved:
            return (f"{self.registered_name}@{self.alias} already points at version "
                    f"{self.version}{via}; nothing moved")
        if self.previous is None:
            return (f"{self.registered_name}@{self.alias} now points at version "
                    f"{self.version}{via}; it pointed at no version before")
        return (f"{self.registered_name}@{self.alias}: moved from version {self.previous} to "
                f"version {self.version}{via}")


def promote(source: str | int, to: str = "champion", *, registered_name: str = MODEL_NAME,
            force: bool = False) -> Promotion:
    """Point alias ``to`` at a version: ``source`` is a version number or an alias to resolve.

    ``nurturelab score promote challenger --to champion`` is this function. A version whose fit
    failed its quality check and was registered with ``--force`` (tag ``quality=forced``) is
    refused another alias unless ``force``: :class:`ModelRefused` says why, with the figures
    recorded on it.

    Returns
    -------
    Promotion

    Raises
    ------
    LookupError
        ``source`` is neither a version of ``registered_name`` nor one of its aliases (the
        message says how to get one).
    ModelRefused
        The version failed its quality check and ``force`` is not set.
    """
    mlflow = _store()
    client = mlflow.MlflowClient()
    text = str(source).strip()
    if not str(to).strip():
        raise ValueError("promote needs an alias to move ('to'), e.g. champion")
    if text.isdigit():
        try:
            mv = client.get_model_version(registered_name, text)
        except mlflow.exceptions.MlflowException:
            versions = _versions(client, registered_name)
            known = (f"its versions: {', '.join(versions)}" if versions
                     else f"{registered_name!r} has no version there")
            raise LookupError(
                f"no version {text} of model {registered_name!r} in {tracking_uri()} ({known}). "
                f"To get one, {how_to_get_alias('challenger', registered_name, {})}.") from None
    else:
        mv = model_version(text, registered_name=registered_name)
    version = str(mv.version)
    tags = dict(mv.tags or {})
    quality = tags.get("quality")
    previous = model_aliases(registered_name).get(to)
    if quality in ("forced", "refused") and not force and previous != version:
        reasons = tags.get("quality.reasons") or "see the run that logged it"
        raise ModelRefused(
            f"version {version} of {registered_name!r} failed the quality check of its fit and "
            f"was registered only with --force: it is {reasons}. Promote it anyway with "
            f"`nurturelab score promote {version}{_name_flag(registered_name)} --to {to} "
            f"--force`.", version=version)
    if previous != version:
        try:
            set_alias(to, version, registered_name=registered_name)
        except mlflow.exceptions.MlflowException as exc:
            raise ValueError(f"MLflow refused alias {to!r}: {_first_line(exc)}") from None
    return Promotion(registered_name=registered_name, alias=str(to), version=version,
                     previous=previous, source=text, quality=quality,
                     forced=bool(force and quality in ("forced", "refused")))


def _versions(client, registered_name: str) -> list[str]:
    try:
        found = client.search_model_versions(f"name = '{registered_name}'")
    except Exception:  # noqa: BLE001 - only for the message
        return []
    return sorted((str(v.version) for v in found), key=int)


def run_params(run_id: str) -> dict[str, str]:
    """The parameters a run logged ({} if the run is gone)."""
    mlflow = _store()
    try:
        return dict(mlflow.MlflowClient().get_run(run_id).data.params)
    except mlflow.exceptions.MlflowException:
        return {}


# --------------------------------------------------------------------------------------------
# What a model version records about its use: its outcome horizon and its threshold
# --------------------------------------------------------------------------------------------
def model_horizon_days(alias: str = "champion", *,
                       registered_name: str = MODEL_NAME) -> float | None:
    """The ``horizon_days`` the run of the model version an alias points at logged when it was
    fitted (None when it logged none, or its run is gone)."""
    mv = model_version(alias, registered_name=registered_name)
    value = run_params(mv.run_id).get("horizon_days") if mv.run_id else None
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def recorded_threshold(alias: str = "champion", *,
                       registered_name: str = MODEL_NAME) -> tuple[str, dict[str, str]]:
    """The version an alias points at, and the threshold tags ``nurturelab thresholds``
    recorded on it (``threshold`` and ``threshold.*``; empty when none was recorded).

    Read them with :meth:`nurturelab.scoring.thresholds.RecordedThreshold.from_tags`.
    """
    mv = model_version(alias, registered_name=registered_name)
    tags = {str(k): str(v) for k, v in dict(mv.tags or {}).items()
            if k == "threshold" or str(k).startswith("threshold.")}
    return str(mv.version), tags


# --------------------------------------------------------------------------------------------
# Lead-score fits (nurturelab score fit)
# --------------------------------------------------------------------------------------------
def log_score_fit(fit, *, alias: str | None = "challenger", name: str = "score-fit",
                  registered_name: str = MODEL_NAME, quality=None,
                  force: bool = False) -> tuple[str, str]:
    """One run for a lead-score fit: its parameters, holdout metrics and tables, and the model,
    registered as ``registered_name`` with ``alias`` pointing at the new version.

    ``fit`` is a :class:`nurturelab.scoring.fit.ScoreFit` (read through ``params``,
    ``run_metrics()``, ``run_tables()``, ``model`` and ``X_test``, so that this module imports
    nothing of the scoring package). Personal data is refused as everywhere here (the run is
    then marked FAILED). Returns ``(run_id, version)``.

    ``quality`` is the fit's :class:`nurturelab.scoring.quality.QualityCheck` (read through
    ``passed``, ``tags(forced=)`` and ``refusal()``); its tags go on the run and on the
    version. A fit that failed it is not registered unless ``force``: the run still logs
    everything, the model included (a logged model of the run, ``models:/m-...``, to inspect;
    tag ``quality.model_uri``), is tagged ``quality=refused`` and marked FAILED, and
    :class:`ModelRefused` is raised naming it.
    With ``force`` the version is registered, given the alias and tagged ``quality=forced``
    (:func:`promote` then asks for ``force`` again).
    """
    refused = quality is not None and not quality.passed and not force
    tags = {"job": "score", **(quality.tags(forced=force) if quality is not None else {})}
    with run(name, params=fit.params, tags=tags) as active:
        run_id = active.info.run_id
        log_metrics(fit.run_metrics())
        for table_name, table in fit.run_tables().items():
            log_table(table, table_name)
        example = fit.X_test.reset_index(drop=True)
        if refused:  # the run ends FAILED (a note on the error says so)
            uri, _ = log_model(fit.model, example, registered_name=None, alias=None)
            mlflow = _mlflow()
            mlflow.set_tag("quality.model_uri", uri)
            raise ModelRefused(f"{quality.refusal()} The model is logged, not registered, in "
                               f"run {run_id} ({uri}, to inspect).", run_id=run_id)
        _, version = log_model(fit.model, example, registered_name=registered_name,
                               alias=alias)
        if quality is not None:
            client = _mlflow().MlflowClient()
            for key, value in quality.tags(forced=force).items():
                client.set_model_version_tag(registered_name, version, key, _param(value))
    return run_id, version
