"""Whether a fitted lead-score model has earned a registry alias: the checks `score fit` makes.

A model fitted on too little, or on the wrong leads, can rank worse than the default behaviour
points and give probabilities worse than predicting the base rate for everyone; registered
anyway, it is then scored, thresholded and audited as if it were trusted. :func:`check_fit`
judges a :class:`~nurturelab.scoring.fit.ScoreFit` on its holdout by two rules:

* **worse than the points** (an export only): the model's holdout AUC is below the default
  points' AUC on the same leads. The difference is reported with DeLong's paired 95% interval
  (:func:`~nurturelab.scoring.auc.auc_difference`).
* **worse than the base rate**: the Brier skill against predicting the holdout's base rate for
  every lead is at or below 0 (``brier_skill`` of :func:`~nurturelab.scoring.models.evaluate`).

Both rules read the point estimates. The default points are free and always there
(``nurturelab thresholds --scorer points``, ``nurturelab audit --points``), so a model earns an
alias by doing at least as well on the leads it is judged on, not merely by not being shown
worse. A rule "refuse only when the interval lies entirely below" would almost never fire on
the small holdouts bad models come from: on the sample export (506 holdout leads, 41 converted)
the model trained by default trails the points by 0.045 AUC with a paired interval of
[-0.198, +0.109], and that rule would let it through.
The intervals are printed beside the verdict, so an analyst whose model trails by less than its
noise can see it and register it deliberately (``--force``), which the version then records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nurturelab.plots import axes
from nurturelab.result import Result
from nurturelab.scoring.auc import auc_difference, auc_interval
from nurturelab.scoring.models import evaluate

__all__ = ["QualityCheck", "check_fit"]

_COLUMNS = ("value", "low", "high", "p_value", "passes_if", "passed")


@dataclass(repr=False)
class QualityCheck(Result):
    """The verdict of :func:`check_fit`: the holdout figures and whether the model passed.

    Attributes
    ----------
    checks : DataFrame
        Indexed by check (``model AUC``, ``default points AUC``, ``model - default points
        AUC``, ``Brier skill``) with ``value``, ``low`` and ``high`` (DeLong 95% intervals
        where there is one), ``p_value`` (DeLong's paired test), ``passes_if`` and ``passed``
        (True, False, or None for a figure that is reported, not judged). Also :attr:`summary`.
    reasons : tuple of str
        Why the model is refused, in words with the figures; empty when it passed.
    n, n_converted : int
        Holdout leads and those of them that converted.
    base_rate, brier, brier_base : float
        The holdout's conversion rate, the model's Brier score and that of predicting the base
        rate for every lead.
    train_leads : int, optional
        Leads the model was trained on.
    train_until : str, optional
        The training snapshot (an export's fit).
    """

    checks: pd.DataFrame
    reasons: tuple[str, ...]
    n: int
    n_converted: int
    base_rate: float
    brier: float
    brier_base: float
    train_leads: int | None = None
    train_until: str | None = None

    @property
    def passed(self) -> bool:
        """Whether the model passed every rule (and may be given an alias without ``--force``)."""
        return not self.reasons

    @property
    def summary(self) -> pd.DataFrame:
        """:attr:`checks`."""
        return self.checks

    def _describe(self) -> str:
        verdict = "passed" if self.passed else f"refused ({len(self.reasons)} of 2 rules)"
        return (f"{verdict} on a holdout of {self.n:,d} leads, {self.n_converted:,d} converted "
                f"({self.base_rate:.1%})")

    def _header(self) -> list[str]:
        return [repr(self), *(f"refused: {r}" for r in self.reasons)]

    def refusal(self, *, override: str = "--force") -> str:
        """Why the model gets no alias, with the figures, what might help and how to override;
        empty when it passed."""
        if self.passed:
            return ""
        trained = ""
        if self.train_leads is not None and self.train_until:
            trained = (f" It was trained on {self.train_leads:,d} leads at "
                       f"{self.train_until[:10]}: give it more to learn from (a later "
                       f"--train-until, a shorter --horizon-days, a longer export) or keep "
                       f"using the default points.")
        elif self.train_leads is not None:
            trained = (f" It was trained on {self.train_leads:,d} leads: more rows, or columns "
                       f"that carry the outcome, may do better.")
        return (f"the model is {' and '.join(self.reasons)}.{trained} To register it anyway, "
                f"run again with {override} (the version then records that it was forced).")

    def tags(self, *, forced: bool = False) -> dict[str, Any]:
        """The verdict as MLflow tags (``quality`` = passed, refused or forced, and figures);
        set on the fit's run and, when registered, on its model version."""
        status = "passed" if self.passed else ("forced" if forced else "refused")
        out: dict[str, Any] = {"quality": status, "quality.reasons": "; ".join(self.reasons)}
        keys = {"model AUC": "auc", "default points AUC": "auc_default_points",
                "model - default points AUC": "auc_minus_points", "Brier skill": "brier_skill"}
        for check, key in keys.items():
            if check not in self.checks.index:
                continue
            row = self.checks.loc[check]
            for col, suffix in (("value", ""), ("low", "_low"), ("high", "_high")):
                if np.isfinite(row[col]):
                    out[f"quality.{key}{suffix}"] = round(float(row[col]), 6)
        return out

    def plot(self, ax=None):
        """The model's and the default points' holdout AUC with their DeLong 95% intervals;
        returns the axes."""
        ax = axes(ax, figsize=(6, 2.5))
        rows = [c for c in ("model AUC", "default points AUC") if c in self.checks.index]
        t = self.checks.loc[rows]
        ypos = np.arange(len(t))[::-1]
        ax.errorbar(t["value"], ypos, xerr=[t["value"] - t["low"], t["high"] - t["value"]],
                    fmt="o", capsize=4)
        ax.axvline(0.5, color="grey", ls=":", lw=1, label="chance")
        ax.set_yticks(ypos, [r.replace(" AUC", "") for r in rows])
        ax.set_xlabel("holdout AUC (DeLong 95% interval)")
        ax.set_title("passed" if self.passed else "refused: " + "; ".join(
            r.split(" (")[0] for r in self.reasons))
        ax.legend(loc="lower right")
        return ax


def check_fit(fit: Any, *, alpha: float = 0.05) -> QualityCheck:
    """Judge a fitted model on its holdout: no worse than the default points, better than the
    base rate.

    Parameters
    ----------
    fit : ScoreFit
        From :func:`~nurturelab.scoring.fit.fit_on_export` or
        :func:`~nurturelab.scoring.fit.fit_on_table`; read through ``y_test``, ``p_test``,
        ``metrics``, ``params`` and, on an export, ``points_test`` (the default points' scores
        of the holdout leads).
    alpha : float, default 0.05
        The intervals are ``100 * (1 - alpha)`` %.

    Returns
    -------
    QualityCheck
        ``passed`` is False when the model's holdout AUC is below the default points' (point
        estimates, on the same leads) or its Brier skill against the base rate is <= 0; see
        the module's notes for why the point estimates are judged.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(400) < 0.2
    >>> points = 10 * y + rng.normal(0, 8, 400)
    >>> p = np.clip(0.2 + 0.02 * rng.normal(size=400), 0, 1)  # ranks at random, near the rate
    >>> fit = SimpleNamespace(y_test=y, p_test=p, points_test=points,
    ...                       params={"train_leads": 90})
    >>> check = check_fit(fit)
    >>> check.passed
    False
    >>> check.reasons[0][:60]
    'worse than the default points (holdout AUC 0.491 [0.415, 0.5'
    """
    y = np.asarray(fit.y_test).astype(bool)
    p = np.asarray(fit.p_test, dtype=float)
    m = evaluate(y, p, alpha=alpha)
    level = f"{1 - alpha:.0%}"
    rows: dict[str, dict[str, Any]] = {}
    reasons: list[str] = []
    two = 0 < y.sum() < len(y)
    model = auc_interval(y, p, alpha=alpha) if two else None
    rows["model AUC"] = _row(model.estimate if model else np.nan,
                             model.low if model else np.nan, model.high if model else np.nan,
                             passes_if="reported")
    points = getattr(fit, "points_test", None)
    if points is not None and two:
        d = auc_difference(y, p, np.asarray(points, dtype=float), alpha=alpha)
        rows["default points AUC"] = _row(d.auc_b.estimate, d.auc_b.low, d.auc_b.high,
                                          passes_if="reported")
        worse = d.auc_a.estimate < d.auc_b.estimate
        rows["model - default points AUC"] = _row(d.estimate, d.low, d.high, d.p_value,
                                                  passes_if=">= 0", passed=not worse)
        if worse:
            reasons.append(
                f"worse than the default points (holdout AUC {d.auc_a.estimate:.3f} "
                f"[{d.auc_a.low:.3f}, {d.auc_a.high:.3f}] against {d.auc_b.estimate:.3f} "
                f"[{d.auc_b.low:.3f}, {d.auc_b.high:.3f}]; difference {d.estimate:+.3f} "
                f"[{d.low:+.3f}, {d.high:+.3f}], DeLong {level}, p={d.p_value:.2g})")
    skill = m["brier_skill"]
    bad_skill = not (np.isfinite(skill) and skill > 0)
    rows["Brier skill"] = _row(skill, passes_if="> 0", passed=not bad_skill)
    if bad_skill:
        reasons.append(
            f"no better than predicting the base rate (Brier skill {skill:.3f}: Brier "
            f"{m['brier']:.4f} against {m['brier_base']:.4f} for predicting "
            f"{m['base_rate']:.1%} for every lead)")
    checks = pd.DataFrame.from_dict(rows, orient="index", columns=list(_COLUMNS))
    checks.index.name = "check"
    checks = checks.astype({"value": float, "low": float, "high": float, "p_value": float,
                            "passed": "boolean"})
    params = getattr(fit, "params", None) or {}
    train = params.get("train_leads")
    return QualityCheck(checks=checks, reasons=tuple(reasons), n=int(len(y)),
                        n_converted=int(y.sum()), base_rate=m["base_rate"], brier=m["brier"],
                        brier_base=m["brier_base"],
                        train_leads=None if train is None else int(train),
                        train_until=params.get("train_until"))


def _row(value: float, low: float = np.nan, high: float = np.nan, p_value: float = np.nan, *,
         passes_if: str, passed: bool | None = None) -> dict[str, Any]:
    return {"value": value, "low": low, "high": high, "p_value": p_value,
            "passes_if": passes_if, "passed": passed}
