"""Lead stages, their exit criteria and owners, and the funnel metrics computed from events.

A :class:`Funnel` is an ordered path of :class:`Stage` objects (``new → contacted → qualified →
proposal → won`` by default) plus a terminal *lost* stage. Every lead enters the first stage when
it is created. It enters stage *k* when either a ``stage`` event names stage *k*, or an event
named in stage *k−1*'s ``exit_on`` happens (a ``connect`` moves a ``new`` lead to ``contacted``).
Reaching a stage implies having passed the ones before it, so a lead with only a ``won`` event
counts as having reached every stage; the time it spent in a skipped stage is unknown and is left
out of :func:`time_in_stage` rather than counted as zero.

An export observes a stage only if it has events that can enter it (the stage's own ``stage``
events, or the previous stage's ``exit_on`` events): an export of leads and wins alone, like the
Olist one, cannot see who was contacted. :func:`observed_stages` says which stages the data
observes; :func:`stage_conversion` reports an unobserved stage's conversion as NaN (with
``observed`` False) rather than as the 100% that "every winner passed it" would give.

Every metric is a vectorised function over the validated ``leads`` and ``events`` tables (see
:mod:`nurturelab.schema`) or over the per-lead :func:`outcomes` frame, "as of" a timestamp:
events after it are ignored, leads created after it are left out, and leads that have not
converted by then are censored.

A funnel is configuration: :func:`read_funnel` reads one from YAML (the only function that
does) and :func:`write_funnel` writes one back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nurturelab._timestamps import utc_ns
from nurturelab._util import rate_ci
from nurturelab._yaml import Flow, dump_yaml, load_yaml
from nurturelab.checks import is_number, need_columns, plain_number, utc_timestamp
from nurturelab.result import Result
from nurturelab.schema import normalise_labels

__all__ = [
    "DEFAULT_FUNNEL",
    "Funnel",
    "FunnelReport",
    "Stage",
    "dropoff_by_step",
    "entered_stage",
    "funnel_report",
    "handoff_response_time",
    "lead_age_by_stage",
    "observed_stages",
    "outcomes",
    "read_funnel",
    "speed_to_first_touch",
    "stage_conversion",
    "time_in_stage",
    "weekly_cohorts",
    "write_funnel",
]

_DAY = pd.Timedelta(days=1)
POSITIVE_RESPONSES = ("connect", "reply")


def _label(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string. Got {value!r} instead.")
    return str(normalise_labels(pd.Series([value])).iloc[0])


_STAGE_KEYS = ("name", "owner", "exit_on", "target_days")
_FUNNEL_KEYS = ("stages", "lost")


@dataclass(frozen=True)
class Stage:
    """One stage of the funnel.

    Parameters
    ----------
    name : str
        Stage name, as it appears in ``stage`` events (normalised to snake case).
    owner : str
        Role that works leads in this stage (``"sdr"``, ``"ae"``, ``"marketing"`` ...). A change
        of owner between consecutive stages is a handoff.
    exit_on : sequence of str
        Event names that move a lead from this stage to the next one (``connect``, ``reply``,
        ``demo_request`` ...). A ``stage`` event naming the next stage always does.
    target_days : float, optional
        How long a lead should sit in this stage at most; leads past it are flagged.
    """

    name: str
    owner: str
    exit_on: tuple[str, ...] = ()
    target_days: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _label(self.name, "Stage 'name'"))
        object.__setattr__(self, "owner", _label(self.owner, f"Stage {self.name!r} 'owner'"))
        if isinstance(self.exit_on, str):
            raise TypeError(
                f"Stage {self.name!r} 'exit_on' must be a sequence of event names, "
                f"got the string {self.exit_on!r}; write ({self.exit_on!r},)"
            )
        if not isinstance(self.exit_on, Iterable) or isinstance(self.exit_on, Mapping):
            raise TypeError(
                f"Stage {self.name!r} 'exit_on' must be a sequence of event names such as "
                f"('connect', 'reply'). Got {self.exit_on!r} instead."
            )
        names = tuple(_label(n, f"Stage {self.name!r} 'exit_on' entry") for n in self.exit_on)
        object.__setattr__(self, "exit_on", names)
        if self.target_days is not None and not (
            is_number(self.target_days) and np.isfinite(self.target_days)
            and self.target_days > 0
        ):
            raise ValueError(
                f"Stage {self.name!r} 'target_days' must be a positive number or None. "
                f"Got {self.target_days!r} instead."
            )


@dataclass(frozen=True)
class Funnel:
    """An ordered path of stages; the last one is conversion, ``lost`` closes a lead.

    Examples
    --------
    >>> f = Funnel((Stage("new", "sdr", exit_on=("connect",)), Stage("won", "ae")))
    >>> f.names, f.conversion_stage, f.handoffs()
    (('new', 'won'), 'won', [('new', 'won', 'sdr', 'ae')])
    >>> Funnel.from_dict(f.to_dict()) == f
    True
    """

    stages: tuple[Stage, ...]
    lost: str = "lost"

    def __post_init__(self) -> None:
        stages = tuple(self.stages)
        if len(stages) < 2:
            raise ValueError(
                f"Funnel 'stages' needs at least two stages (an entry and a conversion). "
                f"Got {len(stages)}."
            )
        bad = [s for s in stages if not isinstance(s, Stage)]
        if bad:
            raise TypeError(f"Funnel 'stages' must hold Stage objects. Got {bad[0]!r}.")
        names = [s.name for s in stages]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"Funnel 'stages' names must be unique; repeated: {dup}")
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "lost", _label(self.lost, "Funnel 'lost'"))
        if self.lost in names:
            raise ValueError(
                f"Funnel 'lost' ({self.lost!r}) must not also be one of the stages {names}"
            )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    @property
    def conversion_stage(self) -> str:
        return self.stages[-1].name

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(
                f"{name!r} is not a stage of this funnel; stages: {self.names}"
            ) from None

    def handoffs(self) -> list[tuple[str, str, str, str]]:
        """(from stage, to stage, from owner, to owner) for each change of owner on the path."""
        return [
            (a.name, b.name, a.owner, b.owner)
            for a, b in zip(self.stages[:-1], self.stages[1:], strict=True)
            if a.owner != b.owner
        ]

    def entered_by(self, name: str) -> tuple[str, ...]:
        """The event names that put a lead into stage ``name``: the previous stage's
        ``exit_on`` (none for the first stage, which a lead enters when it is created).

        >>> DEFAULT_FUNNEL.entered_by("contacted")
        ('connect', 'reply')
        """
        k = self.index(name)
        return self.stages[k - 1].exit_on if k else ()

    def to_dict(self) -> dict:
        """A plain dict for YAML, which :meth:`from_dict` reads back into an equal funnel.

        >>> Funnel((Stage("new", "sdr", exit_on=("reply",), target_days=2),
        ...         Stage("won", "ae"))).to_dict()  # doctest: +NORMALIZE_WHITESPACE
        {'stages': [{'name': 'new', 'owner': 'sdr', 'exit_on': ['reply'], 'target_days': 2},
                    {'name': 'won', 'owner': 'ae', 'exit_on': [], 'target_days': None}],
         'lost': 'lost'}
        """
        return {
            "stages": [
                {"name": s.name, "owner": s.owner, "exit_on": list(s.exit_on),
                 "target_days": plain_number(s.target_days)}
                for s in self.stages
            ],
            "lost": self.lost,
        }

    @classmethod
    def from_dict(cls, d: Mapping, *, source: str = "funnel") -> Funnel:
        """Build a funnel from a plain dict such as :meth:`to_dict` returns.

        Parameters
        ----------
        d : mapping
            ``stages`` (a list of mappings with ``name``, ``owner`` and optionally ``exit_on``
            and ``target_days``) and optionally ``lost``.
        source : str, default 'funnel'
            Where ``d`` came from (a file name); every error message starts with it.

        Raises
        ------
        ValueError, TypeError
            Unknown or missing keys (naming the key and the allowed keys), or any invalid value.
        """
        if not isinstance(d, Mapping):
            raise TypeError(f"{source}: a funnel must be a mapping with keys "
                            f"{list(_FUNNEL_KEYS)}. Got {type(d).__name__} instead.")
        unknown = [k for k in d if k not in _FUNNEL_KEYS]
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown} in the funnel; allowed keys "
                             f"are {list(_FUNNEL_KEYS)}.")
        raw = d.get("stages")
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise TypeError(f"{source}: 'stages' must be a list of stages, each with a name "
                            f"and an owner. Got {raw!r} instead.")
        stages = [_stage_from_dict(item, f"{source}: stages[{i}]") for i, item in enumerate(raw)]
        try:
            return cls(tuple(stages), **({"lost": d["lost"]} if "lost" in d else {}))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{source}: {exc}") from None


def _stage_from_dict(item: Any, where: str) -> Stage:
    if not isinstance(item, Mapping):
        raise TypeError(f"{where} must be a mapping with keys among {list(_STAGE_KEYS)}. "
                        f"Got {item!r} instead.")
    unknown = [k for k in item if k not in _STAGE_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed keys are "
                         f"{list(_STAGE_KEYS)}.")
    missing = [k for k in ("name", "owner") if k not in item]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}; a stage needs 'name' and 'owner' "
                         "(and may have 'exit_on' and 'target_days').")
    exit_on = item.get("exit_on") or ()
    if isinstance(exit_on, str) or not isinstance(exit_on, Sequence):
        raise TypeError(f"{where}: 'exit_on' must be a list of event names such as "
                        f"[connect, reply]. Got {exit_on!r} instead.")
    try:
        return Stage(item["name"], item["owner"], exit_on=tuple(exit_on),
                     target_days=item.get("target_days"))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


DEFAULT_FUNNEL = Funnel(
    (
        Stage("new", "sdr", exit_on=POSITIVE_RESPONSES, target_days=2),
        Stage("contacted", "sdr", exit_on=("demo_request",), target_days=7),
        Stage("qualified", "ae", target_days=14),
        Stage("proposal", "ae", target_days=30),
        Stage("won", "ae"),
    )
)
"""new → contacted on a connect or reply; contacted → qualified on a demo request (or a
``qualified`` stage event); later moves by stage events. SDRs own the first two stages, account
executives (``ae``) the rest, so contacted → qualified is the handoff."""


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------
def read_funnel(path: str | Path) -> Funnel:
    """Read a funnel from a YAML file (the only function that does).

    The file holds the mapping :meth:`Funnel.to_dict` returns::

        stages:
        - {name: new, owner: sdr, exit_on: [connect, reply], target_days: 2}
        - {name: qualified, owner: ae, exit_on: [demo_request], target_days: 14}
        - {name: won, owner: ae}
        lost: lost

    ``exit_on`` (default none) and ``target_days`` (default none) may be left out, and so may
    ``lost`` (default ``lost``). Names are normalised to snake case like the events' names.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError, TypeError
        If the file is not YAML, repeats a key, has a key it should not (the message lists the
        allowed ones) or does not describe a valid funnel; the message starts with the file
        name.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "funnel.yaml"
    >>> write_funnel(DEFAULT_FUNNEL, path)
    >>> read_funnel(path) == DEFAULT_FUNNEL
    True
    """
    path = Path(path)
    raw = load_yaml(path, "funnel", "a list of 'stages'")
    return Funnel.from_dict(raw, source=str(path))


def write_funnel(funnel: Funnel, path: str | Path) -> None:
    """Write ``funnel`` to ``path`` as YAML that :func:`read_funnel` reads back equal."""
    if not isinstance(funnel, Funnel):
        raise TypeError(f"write_funnel needs a Funnel. Got {type(funnel).__name__} instead.")
    d = funnel.to_dict()
    for st in d["stages"]:
        st["exit_on"] = Flow(st["exit_on"])
    header = (
        "# Funnel, written by nurturelab.funnel.write_funnel (read by read_funnel).\n"
        "# stages, in order: the last is conversion. exit_on: event names that move a lead\n"
        "# to the next stage (a stage event naming a stage always does); target_days: how long\n"
        "# a lead should sit in the stage at most. lost: the stage event that closes a lead.\n"
    )
    body = dump_yaml(d)
    Path(path).write_text(header + body, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def _as_of(leads: pd.DataFrame, events: pd.DataFrame, as_of: Any) -> pd.Timestamp:
    if as_of is None:
        latest = [leads["created_at"].max()]
        if len(events):
            latest.append(events["ts"].max())
        return max(latest)
    return utc_timestamp(as_of, "as_of")


def _days(td: pd.Series) -> pd.Series:
    return td / _DAY


# --------------------------------------------------------------------------------------------
# Per-lead outcomes
# --------------------------------------------------------------------------------------------
def entered_stage(events: pd.DataFrame, funnel: Funnel = DEFAULT_FUNNEL) -> np.ndarray:
    """The stage each event enters, as its position in ``funnel.names`` (-1 for none).

    A ``stage`` event enters the stage it names; any other event enters the stage after the
    one whose ``exit_on`` names it (:func:`outcomes` takes each lead's first entry into each
    stage from these). Names are looked up once per distinct name, not once per event.

    >>> events = pd.DataFrame({"type": ["stage", "response", "touch", "stage"],
    ...                        "name": ["qualified", "connect", "sms", "nurture"]})
    >>> entered_stage(events).tolist()
    [2, 1, -1, -1]
    """
    need_columns(events, ("type", "name"), "events")
    code, uniq = pd.factorize(events["name"].astype("object").to_numpy(), sort=False)
    exit_map = {n: i + 1 for i, s in enumerate(funnel.stages[:-1]) for n in s.exit_on}
    stage_of = {n: i for i, n in enumerate(funnel.names)}
    by_stage = np.array([stage_of.get(u, -1) for u in uniq] + [-1], dtype=np.int64)
    by_exit = np.array([exit_map.get(u, -1) for u in uniq] + [-1], dtype=np.int64)
    is_stage = events["type"].astype("object").eq("stage").to_numpy()
    return np.where(is_stage, by_stage[code], by_exit[code])  # code -1 (no name): the last


def outcomes(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    funnel: Funnel = DEFAULT_FUNNEL,
    as_of: Any = None,
) -> pd.DataFrame:
    """Each lead's position in the funnel as of a timestamp.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (columns ``lead_id, created_at`` and ``lead_id, ts, type, name``).
    funnel : Funnel
    as_of : timestamp-like, optional
        Defaults to the latest timestamp in the data. Naive values are read as UTC.

    Returns
    -------
    DataFrame, one row per lead created by ``as_of``, indexed by ``lead_id``:
        ``created_at``; ``stage`` (furthest stage reached, ordered categorical) and
        ``stage_index``; ``status`` (``open``, ``won`` or ``lost``); ``converted``;
        ``converted_at``; ``lost_at``; ``time_to_convert_days`` (NaN unless converted);
        ``duration_days`` and ``censored`` (time to conversion, or to ``as_of`` for a lead that
        has not converted: the pair survival models take; lost leads stay censored, they are
        the population that may never convert); ``age_days``; ``stage_entered_at`` (when it
        reached its furthest stage) and ``days_in_stage``; and one ``entered_<stage>`` column
        per stage holding the first *observed* entry (NaT where a stage was skipped or not
        reached).
    """
    need_columns(leads, ("lead_id", "created_at"), "leads")
    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    if not isinstance(funnel, Funnel):
        raise TypeError(f"The 'funnel' parameter of outcomes must be a Funnel. Got "
                        f"{type(funnel).__name__} instead.")
    as_of = _as_of(leads, events, as_of)
    ld = leads.loc[leads["created_at"] <= as_of, ["lead_id", "created_at"]]
    ev = events.loc[(events["ts"] <= as_of) & events["lead_id"].isin(ld["lead_id"]),
                    ["lead_id", "ts", "type", "name"]]
    names = funnel.names
    is_stage = ev["type"].astype("object").eq("stage").to_numpy()
    name = ev["name"].astype("object")
    target = entered_stage(ev, funnel)
    hit = pd.DataFrame({"lead_id": ev["lead_id"].to_numpy(), "ts": ev["ts"].array,
                        "k": target})
    hit = hit[target >= 0]
    first_ts = hit.groupby(["lead_id", "k"], sort=False)["ts"].min()
    ids = pd.Index(ld["lead_id"], name="lead_id")
    # lead x stage matrix of first observed entry, in int64 nanoseconds (NaT where none)
    nat = np.iinfo(np.int64).min
    entered_ns = np.full((len(ids), len(names)), nat, dtype=np.int64)
    entered_ns[:, 0] = utc_ns(ld["created_at"])
    if len(first_ts):
        rows = ids.get_indexer(first_ts.index.get_level_values("lead_id"))
        cols = first_ts.index.get_level_values("k").to_numpy().astype(np.int64)
        entered_ns[rows, cols] = utc_ns(first_ts)
    first = pd.DataFrame(
        {f"entered_{n}": pd.to_datetime(entered_ns[:, k], utc=True) for k, n in enumerate(names)},
        index=ids,
    )
    observed = entered_ns != nat
    k_max = np.where(observed, np.arange(len(names)), -1).max(axis=1)
    # the entry into the furthest stage (always observed: it is what put the lead there)
    stage_entered = pd.Series(
        pd.to_datetime(entered_ns[np.arange(len(ids)), k_max], utc=True), index=ids
    )

    lost_ev = ev[is_stage & name.eq(funnel.lost).to_numpy()]
    lost_at = lost_ev.groupby("lead_id")["ts"].min().reindex(first.index)
    conv_col = f"entered_{funnel.conversion_stage}"
    converted_at = first[conv_col]
    converted = converted_at.notna()
    created = first["entered_" + names[0]]
    status = np.where(converted, "won", np.where(lost_at.notna(), "lost", "open"))
    end = converted_at.where(converted, as_of)

    out = pd.DataFrame(
        {
            "created_at": created,
            "stage": pd.Categorical.from_codes(k_max, categories=list(names), ordered=True),
            "stage_index": k_max,
            "status": pd.Categorical(status, categories=["open", "won", "lost"]),
            "converted": converted.to_numpy(),
            "converted_at": converted_at,
            "lost_at": pd.to_datetime(lost_at, utc=True).where(~converted),
            "time_to_convert_days": _days(converted_at - created),
            "duration_days": _days(end - created),
            "censored": ~converted.to_numpy(),
            "age_days": _days(as_of - created),
            "stage_entered_at": stage_entered,
            "days_in_stage": _days(as_of - stage_entered),
        },
        index=first.index,
    )
    out = pd.concat([out, first], axis=1)
    out.attrs["as_of"] = as_of
    return out


# --------------------------------------------------------------------------------------------
# Stage metrics over outcomes
# --------------------------------------------------------------------------------------------
def observed_stages(out: pd.DataFrame, funnel: Funnel = DEFAULT_FUNNEL) -> pd.Series:
    """Which stages the data observes: those with at least one observed entry.

    A lead enters the first stage when it is created, so that stage is observed whenever there
    are leads. A later stage is observed when some event entered it (a ``stage`` event naming
    it, or one of :meth:`Funnel.entered_by`). An export that has no such event cannot tell who
    reached the stage: leads further on count as having passed it, but its conversion and the
    time spent in it are unknown.

    Parameters
    ----------
    out : DataFrame
        From :func:`outcomes` (its ``entered_<stage>`` columns).
    funnel : Funnel

    Returns
    -------
    Series of bool indexed by stage name, named ``observed``.

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["a", "b"], "created_at": pd.to_datetime(
    ...     ["2026-01-05", "2026-01-06"], utc=True)})
    >>> events = pd.DataFrame({"lead_id": ["a"], "ts": pd.to_datetime(["2026-01-20"], utc=True),
    ...                        "type": ["stage"], "name": ["won"]})
    >>> observed_stages(outcomes(leads, events)).to_dict()
    {'new': True, 'contacted': False, 'qualified': False, 'proposal': False, 'won': True}
    """
    cols = [f"entered_{n}" for n in funnel.names]
    need_columns(out, cols, "outcomes")
    seen = [bool(out[c].notna().any()) for c in cols]
    return pd.Series(seen, index=pd.Index(funnel.names, name="stage"), name="observed")


def stage_conversion(out: pd.DataFrame, funnel: Funnel = DEFAULT_FUNNEL) -> pd.DataFrame:
    """Per stage: leads that reached it, moved on, were lost there or are still in it.

    ``conversion`` is moved-on over reached, with a Wilson 95% interval (``ci_low``,
    ``ci_high``); leads still open in a stage count in the denominator, so young cohorts
    understate it. ``of_all`` is the share of all leads that reached the stage. ``observed``
    says whether the data observes the stage (see :func:`observed_stages`): for a stage it does
    not, ``reached`` counts the leads known to have passed it (they got further) and
    ``moved_on``, ``conversion`` and its interval are NaN, since every lead it can see there
    has, by construction, moved on. A stage whose next stage is unobserved converts to the next
    stage the data observes.

    Examples
    --------
    >>> from nurturelab import synthetic
    >>> leads, events = synthetic.make_export(n_leads=200, seed=1)
    >>> table = stage_conversion(outcomes(leads, events))
    >>> list(table.index)
    ['new', 'contacted', 'qualified', 'proposal', 'won']
    >>> int(table.loc["new", "reached"]) == len(leads)
    True
    """
    need_columns(out, ("stage_index", "status"), "outcomes")
    observed = observed_stages(out, funnel)
    k = out["stage_index"].to_numpy()
    lost = out["status"].astype("object").eq("lost").to_numpy()
    is_open = out["status"].astype("object").eq("open").to_numpy()
    last = len(funnel.stages) - 1
    rows = []
    for i, st in enumerate(funnel.stages):
        here = k == i
        rows.append(
            {
                "stage": st.name,
                "owner": st.owner,
                "observed": bool(observed[st.name]),
                "reached": int((k >= i).sum()),
                "moved_on": int((k > i).sum()) if i < last and observed[st.name] else np.nan,
                "lost_here": int((here & lost).sum()),
                "open_here": int((here & is_open).sum()),
            }
        )
    t = pd.DataFrame(rows).set_index("stage")
    t["conversion"] = t["moved_on"] / t["reached"].where(t["reached"] > 0)
    lo, hi = rate_ci(t["moved_on"].fillna(0), t["reached"])
    t["ci_low"] = np.where(t["moved_on"].notna(), lo, np.nan)
    t["ci_high"] = np.where(t["moved_on"].notna(), hi, np.nan)
    t["of_all"] = t["reached"] / max(len(out), 1)
    return t


def time_in_stage(out: pd.DataFrame, funnel: Funnel = DEFAULT_FUNNEL) -> pd.DataFrame:
    """Days spent in each stage by leads whose entry and exit were both observed.

    Leads that skipped a stage (no observed entry) are left out, not counted as zero; leads
    still in a stage appear in :func:`lead_age_by_stage` instead. Columns: ``n``, ``median``,
    ``mean``, ``p90`` (days) and ``target_days``.
    """
    rows = []
    for a, b in zip(funnel.stages[:-1], funnel.stages[1:], strict=True):
        need_columns(out, (f"entered_{a.name}", f"entered_{b.name}"), "outcomes")
        d = _days(out[f"entered_{b.name}"] - out[f"entered_{a.name}"]).dropna()
        d = d[d >= 0]
        rows.append(
            {
                "stage": a.name,
                "n": len(d),
                "median": d.median() if len(d) else np.nan,
                "mean": d.mean() if len(d) else np.nan,
                "p90": d.quantile(0.9) if len(d) else np.nan,
                "target_days": a.target_days,
            }
        )
    return pd.DataFrame(rows).set_index("stage")


def lead_age_by_stage(out: pd.DataFrame, funnel: Funnel = DEFAULT_FUNNEL) -> pd.DataFrame:
    """Open leads by the stage they sit in: how many, how long in it, how many past target.

    Columns: ``open``, ``median_days_in_stage``, ``p90_days_in_stage``, ``median_age_days``
    (since creation), ``target_days`` and ``past_target``. The days in a stage (and so
    ``past_target``) are NaN for a stage the data does not observe, or whose next stage it does
    not observe: a lead that moved on unseen would look as if it were still sitting there.
    """
    need_columns(out, ("stage", "status", "days_in_stage", "age_days"), "outcomes")
    op = out[out["status"].astype("object").eq("open")]
    targets = pd.Series({s.name: s.target_days for s in funnel.stages}, dtype=float)
    g = op.groupby("stage", observed=False)
    t = pd.DataFrame(
        {
            "open": g.size(),
            "median_days_in_stage": g["days_in_stage"].median(),
            "p90_days_in_stage": g["days_in_stage"].quantile(0.9),
            "median_age_days": g["age_days"].median(),
        }
    )
    t.index = t.index.astype(str)
    t["target_days"] = targets.reindex(t.index)
    past = op["days_in_stage"] > op["stage"].astype(str).map(targets)
    t["past_target"] = past.groupby(op["stage"].astype(str)).sum().reindex(t.index).fillna(0)
    t["past_target"] = t["past_target"].astype(int)
    # how long a lead sits in a stage is known only when leads are seen entering it and the next
    seen = observed_stages(out, funnel)
    timed = seen & seen.shift(-1, fill_value=False)
    unknown = [s for s in t.index if s != funnel.conversion_stage and not timed.get(s, True)]
    if unknown:
        t = t.astype({"past_target": float})
        t.loc[unknown, ["median_days_in_stage", "p90_days_in_stage", "past_target"]] = np.nan
    return t.drop(index=funnel.conversion_stage, errors="ignore")


# --------------------------------------------------------------------------------------------
# Event metrics
# --------------------------------------------------------------------------------------------
def _until(events: pd.DataFrame, as_of) -> pd.DataFrame:
    return events if as_of is None else events[events["ts"] <= _as_of(events, events, as_of)]


def speed_to_first_touch(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    names: Sequence[str] | None = None,
    as_of: Any = None,
) -> pd.Series:
    """Minutes from each lead's creation to its first outbound touch (NaN if none yet).

    Parameters
    ----------
    names : sequence of str, optional
        Count only touches with these names (e.g. ``("call_attempt",)`` for speed to first
        call); all ``touch`` events by default.

    Returns
    -------
    Series indexed by ``lead_id``, named ``minutes_to_first_touch``.
    """
    need_columns(leads, ("lead_id", "created_at"), "leads")
    need_columns(events, ("lead_id", "ts", "type", "name"), "events")
    ev = _until(events, as_of)
    ld = leads if as_of is None else leads[leads["created_at"] <= _as_of(leads, ev, as_of)]
    touch = ev["type"].astype("object").eq("touch")
    if names is not None:
        touch &= ev["name"].isin(normalise_labels(pd.Series(list(names), dtype=object)))
    first = ev[touch].groupby("lead_id")["ts"].min()
    created = ld.set_index("lead_id")["created_at"]
    minutes = (first.reindex(created.index) - created) / pd.Timedelta(minutes=1)
    return minutes.rename("minutes_to_first_touch")


def _attribute_to_step(events: pd.DataFrame, which: pd.Series) -> pd.DataFrame:
    """Attach to each selected event the cadence step of the latest touch before it."""
    touches = events.loc[events["type"].astype("object").eq("touch") & events["step"].notna(),
                         ["lead_id", "ts", "step"]]
    picked = events.loc[which, ["lead_id", "ts", "name"]]
    if picked.empty or touches.empty:
        return picked.assign(step=pd.array([pd.NA] * len(picked), dtype="Int64"))
    # sorted on every key so that tied touches resolve the same way whatever the row order:
    # a response tied with several touches goes to the highest step among them
    return pd.merge_asof(
        picked.sort_values(["ts", "lead_id", "name"], kind="stable"),
        touches.sort_values(["ts", "lead_id", "step"], kind="stable"),
        on="ts", by="lead_id", direction="backward", allow_exact_matches=True,
    )


def dropoff_by_step(events: pd.DataFrame, *, as_of: Any = None) -> pd.DataFrame:
    """Where a cadence loses leads: per step, who got it, answered it, opted out, went silent.

    A response (``connect``/``reply``) or ``opt_out`` is attributed to the latest touch before
    it. Columns: ``reached`` (leads touched at the step), ``responded`` (leads whose first
    positive response followed this step), ``opted_out``, ``ended_silent`` (the step was the
    lead's latest touch and it neither responded nor opted out), ``response_rate`` and
    ``drop_off_rate``
    (ended_silent / reached). Leads whose cadence is still running count as silent at their
    latest step, so read the newest weeks with care.
    """
    need_columns(events, ("lead_id", "ts", "type", "name", "step"), "events")
    ev = _until(events, as_of)
    touches = ev[ev["type"].astype("object").eq("touch") & ev["step"].notna()]
    if touches.empty:
        return pd.DataFrame(columns=["reached", "responded", "opted_out", "ended_silent",
                                     "response_rate", "drop_off_rate"]).rename_axis("step")
    reached = touches.groupby("step")["lead_id"].nunique()
    is_resp = ev["type"].astype("object").eq("response")
    pos = _attribute_to_step(ev, is_resp & ev["name"].isin(POSITIVE_RESPONSES))
    first_pos = pos.dropna(subset=["step"]).sort_values("ts").drop_duplicates("lead_id")
    responded = first_pos.groupby("step")["lead_id"].nunique()
    opt = _attribute_to_step(ev, is_resp & ev["name"].eq("opt_out")).dropna(subset=["step"])
    opted = opt.drop_duplicates("lead_id").groupby("step")["lead_id"].nunique()
    ordered = touches.sort_values(["ts", "lead_id", "step"], kind="stable")
    last_step = ordered.groupby("lead_id")["step"].last()
    answered = last_step.index.isin(pos["lead_id"]) | last_step.index.isin(opt["lead_id"])
    silent = last_step[~answered]
    ended = silent.value_counts()
    t = pd.DataFrame({"reached": reached})
    for col, s in (("responded", responded), ("opted_out", opted), ("ended_silent", ended)):
        t[col] = s.reindex(t.index).fillna(0).astype(int)
    t["response_rate"] = t["responded"] / t["reached"]
    t["drop_off_rate"] = t["ended_silent"] / t["reached"]
    t.index = t.index.astype(int)
    return t.rename_axis("step")


def handoff_response_time(
    out: pd.DataFrame, events: pd.DataFrame, funnel: Funnel = DEFAULT_FUNNEL
) -> pd.DataFrame:
    """Hours from each handoff (entering a stage with a new owner) to the next outbound touch.

    Columns per handoff: ``handoffs`` (leads whose entry into the stage was observed),
    ``touched`` (of them, touched since), ``median_hours``, ``p90_hours``.
    """
    need_columns(events, ("lead_id", "ts", "type"), "events")
    as_of = out.attrs.get("as_of")
    ev = _until(events, as_of)
    touches = ev.loc[ev["type"].astype("object").eq("touch"), ["lead_id", "ts"]]
    touches = touches.rename(columns={"ts": "touch_ts"}).sort_values("touch_ts")
    rows = []
    for a, b, owner_a, owner_b in funnel.handoffs():
        col = f"entered_{b}"
        need_columns(out, (col,), "outcomes")
        entries = out[col].dropna().rename("ts").reset_index().sort_values("ts")
        if len(entries) and len(touches):
            m = pd.merge_asof(entries, touches, left_on="ts", right_on="touch_ts",
                              by="lead_id", direction="forward")
            hours = ((m["touch_ts"] - m["ts"]) / pd.Timedelta(hours=1)).dropna()
        else:
            hours = pd.Series(dtype=float)
        rows.append(
            {
                "handoff": f"{a} → {b}",
                "from_owner": owner_a,
                "to_owner": owner_b,
                "handoffs": len(entries),
                "touched": len(hours),
                "median_hours": hours.median() if len(hours) else np.nan,
                "p90_hours": hours.quantile(0.9) if len(hours) else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("handoff") if rows else pd.DataFrame()


def weekly_cohorts(
    out: pd.DataFrame,
    speed_minutes: pd.Series,
    funnel: Funnel = DEFAULT_FUNNEL,
    *,
    within_minutes: float = 5.0,
) -> pd.DataFrame:
    """Leads created each ISO week and how far they got.

    Parameters
    ----------
    out : DataFrame
        From :func:`outcomes`.
    speed_minutes : Series
        From :func:`speed_to_first_touch`, indexed by ``lead_id``.

    Returns
    -------
    DataFrame indexed by ISO week (``2026-W47``): ``week_start`` (Monday, UTC), ``leads``,
    ``pct_touched``, ``pct_within_5min`` (first touch within ``within_minutes``),
    ``median_minutes_to_first_touch``, then ``pct_<stage>`` for every stage after the first
    (share that reached it). Recent cohorts have had less time to convert.
    """
    need_columns(out, ("created_at", "stage_index"), "outcomes")
    created = out["created_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    iso = created.dt.isocalendar()
    week = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    speed = speed_minutes.reindex(out.index)
    frame = pd.DataFrame(
        {
            "week": week,
            "week_start": created.dt.normalize() - pd.to_timedelta(created.dt.weekday, unit="D"),
            "touched": speed.notna(),
            "fast": speed.le(within_minutes),
            "speed": speed,
        },
        index=out.index,
    )
    for i, st in enumerate(funnel.stages[1:], start=1):
        frame[f"pct_{st.name}"] = out["stage_index"].ge(i)
    g = frame.groupby("week", sort=True)
    touch_cols = {
        "pct_touched": 100 * g["touched"].mean(),
        f"pct_within_{within_minutes:g}min": 100 * g["fast"].mean(),
        "median_minutes_to_first_touch": g["speed"].median(),
    }
    if not speed.notna().any():  # no lead has a touch event: the export observes no touches
        touch_cols = {k: v * np.nan for k, v in touch_cols.items()}
    t = pd.DataFrame(
        {
            "week_start": g["week_start"].min().dt.tz_localize("UTC"),
            "leads": g.size(),
            **touch_cols,
        }
    )
    for st in funnel.stages[1:]:
        t[f"pct_{st.name}"] = 100 * g[f"pct_{st.name}"].mean()
    return t.rename_axis("week")


# --------------------------------------------------------------------------------------------
# The whole picture
# --------------------------------------------------------------------------------------------
def _median(values: pd.Series) -> float:
    """The median, NaN (without numpy's empty-slice warning) when there is no value."""
    values = values.dropna()
    return float(values.median()) if len(values) else np.nan


@dataclass(frozen=True, repr=False)
class FunnelReport(Result):
    """Every funnel metric for one export as of one timestamp (see :func:`funnel_report`).

    ``summary`` is the per-stage table; ``print_summary()`` prints the headline above it, and
    names the stages the export does not observe; ``plot(ax=None)`` draws the funnel.
    """

    as_of: pd.Timestamp
    funnel: Funnel
    outcomes: pd.DataFrame = field(repr=False)
    conversion: pd.DataFrame = field(repr=False)
    time_in_stage: pd.DataFrame = field(repr=False)
    lead_age: pd.DataFrame = field(repr=False)
    dropoff: pd.DataFrame = field(repr=False)
    handoffs: pd.DataFrame = field(repr=False)
    speed_minutes: pd.Series = field(repr=False)
    weekly: pd.DataFrame = field(repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        """Stage conversion with time in stage and open-lead age, one row per stage.

        ``observed`` is False for the stages the export cannot see; their ``moved_on``,
        ``conversion``, interval and ``median_days`` are missing, not 1 and not 0.
        """
        s = self.conversion[["owner", "observed", "reached", "moved_on", "conversion",
                             "ci_low", "ci_high"]]
        s = s.join(self.time_in_stage[["median"]].rename(columns={"median": "median_days"}))
        s = s.join(self.lead_age[["open", "past_target"]])
        counts = ["moved_on", "open", "past_target"]  # whole numbers, missing where undefined
        return s.astype(dict.fromkeys(counts, "Int64"))

    @property
    def unobserved(self) -> list[str]:
        """The stages the export does not observe (no event in it can enter them)."""
        seen = self.conversion["observed"]
        return [str(n) for n in seen.index[~seen.to_numpy(dtype=bool)]]

    def headline(self) -> dict[str, float]:
        """The handful of numbers a team reads first (all derived from the tables).

        A figure the export cannot observe is NaN: the first-touch figures when no lead has a
        touch event, ``contacted_pct`` (the share past the first stage) when the export does
        not observe the second stage.
        """
        sp = self.speed_minutes
        out = self.outcomes
        touches = bool(sp.notna().any())
        second = self.funnel.names[1]
        return {
            "leads": float(len(out)),
            "touched_pct": float(100 * sp.notna().mean()) if touches else np.nan,
            "within_5min_pct": float(100 * sp.le(5).mean()) if touches else np.nan,
            "median_minutes_to_first_touch": _median(sp),
            "contacted_pct": (float(100 * out["stage_index"].ge(1).mean())
                              if second not in self.unobserved and len(out) else np.nan),
            "converted_pct": float(100 * out["converted"].mean()) if len(out) else np.nan,
            "median_days_to_convert": _median(out["time_to_convert_days"]),
        }

    def _describe(self) -> str:
        unseen = f", {len(self.unobserved)} unobserved" if self.unobserved else ""
        return (f"{len(self.outcomes):,d} leads as of {self.as_of:%Y-%m-%d %H:%M} UTC, "
                f"{len(self.funnel.stages)} stages{unseen}")

    def _header(self) -> list[str]:
        h = self.headline()
        second = self.funnel.names[1]
        if np.isnan(h["touched_pct"]):
            touch = "first touch: unavailable (no lead has a touch event)"
        else:
            touch = (f"first touch: {h['touched_pct']:.1f}% touched, "
                     f"{h['within_5min_pct']:.1f}% within 5 min, "
                     f"median {h['median_minutes_to_first_touch']:.1f} min")
        passed = (f"{second}: unobserved" if np.isnan(h["contacted_pct"])
                  else f"{second} {h['contacted_pct']:.1f}%")
        days = h["median_days_to_convert"]
        lines = [repr(self),
                 f"Funnel as of {self.as_of:%Y-%m-%d %H:%M} UTC — {len(self.outcomes):,d} leads",
                 f"  {touch}",
                 f"  {passed}, converted {h['converted_pct']:.1f}%"
                 + (f", median {days:.1f} days to convert" if np.isfinite(days) else "")]
        if self.unobserved:
            lines.append(f"  unobserved stages (no event in the export enters them): "
                         f"{', '.join(self.unobserved)}; their conversion and time in stage "
                         "are not known, and leads further on count as having passed them")
        return [*lines, ""]

    def plot(self, ax=None):
        """Horizontal funnel bars of leads reaching each stage; returns the axes.

        Unobserved stages are drawn hatched and labelled so: their count is of the leads known
        to have passed them.
        """
        from nurturelab import plots

        ax = plots.funnel_bars(self.conversion, ax=ax)
        unseen = set(self.unobserved)
        if unseen:
            names = list(self.conversion.index)
            bars = ax.patches[-len(names):]
            for name, bar in zip(names, bars, strict=True):
                if name in unseen:
                    bar.set_facecolor("#d9d9d9")
                    bar.set_hatch("//")
            labels = [t.get_text() for t in ax.get_yticklabels()]
            ax.set_yticks(ax.get_yticks(), [f"{t} (unobserved)" if t in unseen else t
                                            for t in labels])
        return ax


def funnel_report(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    funnel: Funnel = DEFAULT_FUNNEL,
    as_of: Any = None,
) -> FunnelReport:
    """Compute every funnel metric once, as of one timestamp.

    Examples
    --------
    >>> from nurturelab import synthetic
    >>> leads, events = synthetic.make_export(n_leads=300, seed=3)
    >>> rep = funnel_report(leads, events)
    >>> int(rep.summary.loc["new", "reached"]) == len(leads)
    True
    """
    out = outcomes(leads, events, funnel, as_of)
    as_of = out.attrs["as_of"]
    ld = leads[leads["created_at"] <= as_of]
    speed = speed_to_first_touch(ld, events, as_of=as_of)
    return FunnelReport(
        as_of=as_of,
        funnel=funnel,
        outcomes=out,
        conversion=stage_conversion(out, funnel),
        time_in_stage=time_in_stage(out, funnel),
        lead_age=lead_age_by_stage(out, funnel),
        dropoff=dropoff_by_step(events, as_of=as_of),
        handoffs=handoff_response_time(out, events, funnel),
        speed_minutes=speed,
        weekly=weekly_cohorts(out, speed, funnel),
    )
