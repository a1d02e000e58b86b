"""Intent × fit × source segments, ideal-customer-profile fit rules, and routing.

Fit rules are data (:class:`FitRule`, readable from YAML with :func:`read_icp_rules`): each
adds points to a base when a lead's column matches, and the sum clipped to [0, 1] is the fit
score. Segments cross declared intent, a fit band (high at or above a threshold) and source. The
routing follows the practice our users describe: high intent and high fit go to immediate rep
outreach, low intent and high fit to a long educational track, low fit is deprioritised, the
rest get the standard cadence.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from nurturelab._util import rate_ci
from nurturelab._yaml import load_yaml

__all__ = [
    "DEFAULT_ICP",
    "FitRule",
    "IcpRules",
    "ROUTES",
    "read_icp_rules",
    "route",
    "segment_rates",
    "segments",
]

Op = Literal["in", "not_in", "==", "!=", ">=", ">", "<=", "<"]
_OPS = {"==": operator.eq, "!=": operator.ne, ">=": operator.ge, ">": operator.gt,
        "<=": operator.le, "<": operator.lt}
ROUTES = ("immediate", "educational", "standard", "deprioritised")


@dataclass(frozen=True)
class FitRule:
    """``points`` added to a lead's fit when ``column op value`` holds (missing never holds).

    Examples
    --------
    >>> FitRule("company_size", ">=", 50, 0.2).matches(pd.DataFrame({"company_size": [10, 80]}))
    array([False,  True])
    """

    column: str
    op: Op
    value: Any
    points: float

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise ValueError(f"FitRule 'column' must be a column name. Got {self.column!r}.")
        if self.op not in get_args(Op):
            raise ValueError(
                f"FitRule 'op' must be one of {list(get_args(Op))}. Got {self.op!r} instead."
            )
        if self.op in ("in", "not_in"):
            if isinstance(self.value, str) or not isinstance(self.value, Sequence):
                raise ValueError(
                    f"FitRule on {self.column!r}: op {self.op!r} needs a list of values. "
                    f"Got {self.value!r}; write [{self.value!r}]."
                )
            object.__setattr__(self, "value", tuple(self.value))
        if not isinstance(self.points, int | float) or not np.isfinite(self.points):
            raise ValueError(f"FitRule 'points' must be a number. Got {self.points!r} instead.")

    def matches(self, leads: pd.DataFrame) -> np.ndarray:
        if self.column not in leads.columns:
            raise KeyError(
                f"FitRule needs the column {self.column!r}, which the leads table lacks; "
                f"it has {list(leads.columns)}"
            )
        col = leads[self.column]
        if self.op == "in":
            hit = col.isin(self.value)
        elif self.op == "not_in":
            hit = ~col.isin(self.value) & col.notna()
        else:
            hit = _OPS[self.op](col, self.value)
        return np.asarray(hit.fillna(False), dtype=bool)


@dataclass(frozen=True)
class IcpRules:
    """A base fit plus the points of every matching rule, clipped to [0, 1]."""

    rules: tuple[FitRule, ...]
    base: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        if not 0 <= self.base <= 1:
            raise ValueError(f"IcpRules 'base' must lie in [0, 1]. Got {self.base!r} instead.")

    def score(self, leads: pd.DataFrame) -> pd.Series:
        """Fit score per lead, indexed like ``leads``."""
        total = np.full(len(leads), float(self.base))
        for rule in self.rules:
            total += rule.points * rule.matches(leads)
        return pd.Series(np.clip(total, 0.0, 1.0), index=leads.index, name="fit")

    def apply(self, leads: pd.DataFrame, *, overwrite: bool = False) -> pd.DataFrame:
        """A copy of ``leads`` whose ``fit`` is the rules' score (only where missing unless
        ``overwrite``)."""
        out = leads.copy()
        score = self.score(leads)
        if overwrite or "fit" not in out.columns:
            out["fit"] = score
        else:
            out["fit"] = out["fit"].fillna(score)
        return out


DEFAULT_ICP = IcpRules(
    (
        FitRule("industry", "in", ("saas", "finance", "healthcare"), 0.3),
        FitRule("company_size", ">=", 50, 0.2),
        FitRule("company_size", ">=", 1000, -0.1),
        FitRule("persona", "in", ("head_of_sales", "sales_ops", "founder"), 0.2),
    ),
    base=0.2,
)
"""An example profile: software, finance or healthcare companies of 50–999 people, reached
through a buyer persona."""


def read_icp_rules(path: str | Path) -> IcpRules:
    """Read fit rules from YAML::

        base: 0.2
        rules:
          - {column: industry, op: in, value: [saas, finance], points: 0.3}
          - {column: company_size, op: ">=", value: 50, points: 0.2}
    """
    path = Path(path)
    raw = load_yaml(path, "fit rules", needs=None)  # refuses a key given twice
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: fit rules are a mapping with 'base' and 'rules'")
    unknown = set(raw) - {"base", "rules"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: ['base', 'rules']")
    rules = []
    for i, r in enumerate(raw.get("rules") or []):
        bad = set(r) - {"column", "op", "value", "points"} if isinstance(r, dict) else {"?"}
        if bad:
            raise ValueError(f"{path}: rule {i}: unknown key(s) {sorted(bad)}; "
                             "allowed: ['column', 'op', 'points', 'value']")
        try:
            rules.append(FitRule(**r))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: rule {i}: {exc}") from exc
    return IcpRules(tuple(rules), base=float(raw.get("base", 0.0)))


def segments(leads: pd.DataFrame, *, fit_threshold: float = 0.6) -> pd.DataFrame:
    """Intent × fit band × source for each lead, with its route.

    Returns
    -------
    DataFrame indexed by ``lead_id`` with ``intent`` (low/medium/high/unknown), ``fit_band``
    (high if fit >= ``fit_threshold``, low, or unknown), ``source``, ``segment``
    (``"high intent · high fit"``) and ``route`` (see :func:`route`).

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": ["a", "b", "c"], "source": ["web", "web", "ads"],
    ...                       "intent": ["high", "low", "high"], "fit": [0.9, 0.8, 0.1]})
    >>> segments(leads)["route"].tolist()
    ['immediate', 'educational', 'deprioritised']
    """
    for col in ("lead_id", "source", "intent", "fit"):
        if col not in leads.columns:
            raise KeyError(f"segments needs the column {col!r}; leads has {list(leads.columns)}")
    if not 0 < fit_threshold <= 1:
        raise ValueError(f"'fit_threshold' must lie in (0, 1]. Got {fit_threshold!r} instead.")
    intents = ["low", "medium", "high", "unknown"]
    raw = leads["intent"]
    if isinstance(raw.dtype, pd.CategoricalDtype):
        # by category, not by row: a category outside the list is missing, a missing one
        # unknown (as filling the values and making them categorical gives)
        table = np.array([intents.index(c) if isinstance(c, str) and c in intents else -1
                          for c in raw.cat.categories] + [intents.index("unknown")])
        intent = pd.Categorical.from_codes(table[raw.cat.codes.to_numpy()], categories=intents)
    else:
        intent = pd.Categorical(raw.astype("object").fillna("unknown"), intents)
    fit = leads["fit"].astype(float).to_numpy()
    band = np.where(np.isnan(fit), 2, np.where(fit >= fit_threshold, 1, 0))
    out = pd.DataFrame(
        {
            "intent": intent,
            "fit_band": pd.Categorical.from_codes(band, categories=["low", "high", "unknown"]),
            "source": leads["source"].astype("object").to_numpy(),
        },
        index=pd.Index(leads["lead_id"], name="lead_id"),
    )
    # one label per (intent, band) pair, taken by code: not one string concatenation per row
    # (a category missing from the list is NaN, written "nan" as astype(str) writes it)
    i_names = [*out["intent"].cat.categories.astype(str), "nan"]
    b_names = [*out["fit_band"].cat.categories.astype(str), "nan"]
    labels = np.array([f"{i} intent · {b} fit" for i in i_names for b in b_names], dtype=object)
    i_code = np.where(out["intent"].cat.codes < 0, len(i_names) - 1, out["intent"].cat.codes)
    b_code = np.where(out["fit_band"].cat.codes < 0, len(b_names) - 1, out["fit_band"].cat.codes)
    out["segment"] = labels[i_code * len(b_names) + b_code]
    out["route"] = route(out)
    return out


def route(seg: pd.DataFrame) -> pd.Series:
    """immediate (high intent, high fit), educational (low intent, high fit), deprioritised
    (low fit), standard (everything else, including unknown fit)."""
    intent, band = seg["intent"], seg["fit_band"]
    r = np.select(
        [_reads(band, "low"), _reads(intent, "high") & _reads(band, "high"),
         _reads(intent, "low") & _reads(band, "high")],
        [ROUTES.index("deprioritised"), ROUTES.index("immediate"), ROUTES.index("educational")],
        default=ROUTES.index("standard"),
    )
    return pd.Series(pd.Categorical.from_codes(r, categories=list(ROUTES)), index=seg.index,
                     name="route")


def _reads(col: pd.Series, value: str) -> np.ndarray:
    """``col.astype(str).eq(value)`` (a missing value reads 'nan'), by category when
    categorical: one comparison per category, not one per row."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        table = np.array([str(c) == value for c in col.cat.categories] + ["nan" == value])
        return table[col.cat.codes.to_numpy()]
    return col.astype(str).eq(value).to_numpy()


def segment_rates(
    seg: pd.DataFrame,
    out: pd.DataFrame,
    events: pd.DataFrame,
    *,
    by: Sequence[str] = ("intent", "fit_band"),
) -> pd.DataFrame:
    """Conversion and opt-out rate per segment, with Wilson 95% intervals.

    Parameters
    ----------
    seg : DataFrame
        From :func:`segments`.
    out : DataFrame
        From :func:`nurturelab.funnel.outcomes` (uses ``converted``).
    events : DataFrame
        Validated events (an ``opt_out`` response marks a lead as opted out).
    by : sequence of str
        Columns of ``seg`` to group by (``intent``, ``fit_band``, ``source``, ``route``,
        ``segment``).
    """
    missing = [c for c in by if c not in seg.columns]
    if missing:
        raise KeyError(f"segment_rates cannot group by {missing}; choose from {list(seg.columns)}")
    as_of = out.attrs.get("as_of")
    ev = events if as_of is None else events[events["ts"] <= as_of]
    opted = ev.loc[ev["type"].astype("object").eq("response") & ev["name"].eq("opt_out"),
                   "lead_id"].unique()
    frame = seg.loc[seg.index.isin(out.index), list(by)].copy()
    frame["converted"] = out["converted"].reindex(frame.index).to_numpy()
    frame["opted_out"] = frame.index.isin(opted)
    g = frame.groupby(list(by), observed=True)
    t = pd.DataFrame({"leads": g.size(), "converted": g["converted"].sum(),
                      "opted_out": g["opted_out"].sum()})
    t["conversion"] = t["converted"] / t["leads"]
    t["conv_ci_low"], t["conv_ci_high"] = rate_ci(t["converted"], t["leads"])
    t["opt_out_rate"] = t["opted_out"] / t["leads"]
    t["opt_ci_low"], t["opt_ci_high"] = rate_ci(t["opted_out"], t["leads"])
    return t
