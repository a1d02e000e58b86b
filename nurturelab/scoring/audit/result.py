"""What an audit found: :class:`AuditResult`, its charts and its HTML report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from nurturelab.plots import axes
from nurturelab.result import Result
from nurturelab.scoring.audit.statistics import ipcw_weights, weighted_auc

__all__ = ["CHECK_COLUMNS", "STATUS_ORDER", "AuditResult"]

CHECK_COLUMNS = ("group", "check", "status", "value", "low", "high", "reference", "rule",
                 "detail")
STATUS_ORDER = {"fail": 3, "warn": 2, "pending": 1, "pass": 0, "skip": -1}
PLOTS = ("scores", "drift", "roc", "calibration", "decay")


@dataclass(repr=False)
class AuditResult(Result):
    """What :func:`~nurturelab.scoring.audit.audit` found.

    Attributes
    ----------
    checks : DataFrame
        One row per check: ``group``, ``check``, ``status`` (pass, warn, fail, pending or
        skip), ``value`` with its interval ``low``-``high``, the ``reference`` it is compared
        with, the ``rule`` applied and a plain-language ``detail``. Also :attr:`summary`.
    drift : DataFrame
        PSI of the score and of each feature (``feature``, ``psi``, ``status``).
    deciles : DataFrame
        Calibration by decile of the month's score: ``expected`` (mean probability, NaN for
        points), ``observed`` (censoring-aware conversion within the horizon) and its interval.
    snapshots : DataFrame
        Per snapshot: ``period``, ``as_of``, ``leads``, ``flagged``, ``flagged_per_day``,
        ``follow_days``, ``auc`` with interval.
    stuck : DataFrame
        The flagged open leads with no touch within ``stuck_days`` (lead ids, no contact data).
    meta : dict
        Horizon, threshold, periods, sizes, the scorer and the rules.
    rows : dict
        The scored rows audited, ``{"reference": DataFrame, "month": DataFrame}``.
    notes : tuple of str
        What the audit chose on the caller's behalf and why (a reference shorter than asked,
        a recorded threshold chosen for another horizon); printed by ``nurturelab audit``
        and shown in the report.
    """

    checks: pd.DataFrame
    drift: pd.DataFrame
    deciles: pd.DataFrame
    snapshots: pd.DataFrame
    stuck: pd.DataFrame
    meta: dict
    rows: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """The worst status of any check: fail, warn, pending, pass (skip ignored)."""
        order = [s for s in self.checks["status"] if s != "skip"]
        return max(order, key=STATUS_ORDER.__getitem__) if order else "skip"

    @property
    def summary(self) -> pd.DataFrame:
        """The checks, one row per check (:attr:`checks`)."""
        return self.checks

    def _describe(self) -> str:
        counts = self.checks["status"].value_counts()
        parts = ", ".join(f"{int(counts[s])} {s}" for s in STATUS_ORDER if s in counts)
        return f"{self.meta.get('month_label', 'month')}: {self.status}; {parts}"

    def _header(self) -> list[str]:
        m = self.meta
        what = [f"conversion within {m['horizon_days']:g} days",
                f"threshold {m['threshold']:.4g} ({m['threshold_source']})"]
        if m.get("scorer"):
            what.insert(0, str(m["scorer"]))
        line = (f"Audit of {m['month_label']} against {m['reference_label']}: "
                + ", ".join(what))
        if m.get("observed_until") is not None:
            line += f"; data until {pd.Timestamp(m['observed_until']):%Y-%m-%d %H:%M} UTC"
        return [repr(self), line]

    def to_text(self, decimals: int = 3) -> str:
        """The header lines and the checks as a plain-text table (figures to ``decimals``
        significant digits, long details cut), as :meth:`print_summary` prints them."""
        def fmt(v: Any) -> str:
            return ("" if v is None or (isinstance(v, float) and np.isnan(v))
                    else f"{v:.{decimals}g}")

        def short(text: str) -> str:
            return text if len(text) <= 70 else text[:67] + "..."

        c = self.checks
        tab = c.assign(value=c["value"].map(fmt), low=c["low"].map(fmt),
                       high=c["high"].map(fmt), reference=c["reference"].map(fmt),
                       detail=c["detail"].map(short))
        table = tab[["group", "check", "status", "value", "low", "high", "reference",
                     "detail"]].to_string(index=False, justify="left")
        return "\n".join([*self._header(), "", table])

    # Figures ------------------------------------------------------------------------------
    def plot(self, ax=None, kind: Literal["scores", "drift", "roc", "calibration",
                                          "decay"] = "drift"):
        """One of the report's charts on ``ax`` (a new figure when None); returns the axes.

        ``kind`` is ``"drift"`` (PSI by feature, :meth:`plot_drift`), ``"scores"``,
        ``"roc"``, ``"calibration"`` or ``"decay"``.
        """
        if kind not in PLOTS:
            raise ValueError(f"The 'kind' parameter of AuditResult.plot must be a str among "
                             f"{set(PLOTS)}. Got {kind!r} instead.")
        return getattr(self, f"plot_{kind}")(ax=ax)

    def plot_scores(self, ax=None):
        """Score distributions of the reference and the month, the threshold marked."""
        ax = axes(ax)
        ref, cur = self.rows["reference"]["score"], self.rows["month"]["score"]
        both = np.concatenate([ref, cur])
        edges = np.histogram_bin_edges(both[np.isfinite(both)], bins=30)
        ax.hist(ref, bins=edges, density=True, alpha=0.5, label=self.meta["reference_label"])
        ax.hist(cur, bins=edges, density=True, alpha=0.5, label=self.meta["month_label"])
        ax.axvline(self.meta["threshold"], color="k", linestyle=":",
                   label=f"threshold {self.meta['threshold']:.3g}")
        ax.set_xlabel("score")
        ax.set_ylabel("density")
        ax.set_title("Score distribution")
        ax.legend()
        return ax

    def _drift_size(self) -> tuple[float, float]:
        return (7, max(3, 0.28 * len(self.drift) + 1))

    def plot_drift(self, ax=None):
        """PSI of the score and each feature, with the warn and fail lines."""
        ax = axes(ax, self._drift_size())
        d = self.drift.sort_values("psi")
        colors = d["status"].map({"pass": "C2", "warn": "C1", "fail": "C3"}).fillna("C7")
        ax.barh(d["feature"], d["psi"], color=colors)
        ax.axvline(self.meta["rules"]["psi_warn"], color="C1", linestyle="--", label="warn")
        ax.axvline(self.meta["rules"]["psi_fail"], color="C3", linestyle="--", label="fail")
        ax.set_xlabel("population stability index (month vs reference)")
        ax.set_title("Drift")
        ax.legend(loc="lower right")
        return ax

    def plot_calibration(self, ax=None):
        """Observed against expected conversion by decile, with intervals."""
        ax = axes(ax, (5, 5))
        d = self.deciles
        x = d["expected"] if d["expected"].notna().any() else d["score_mean"]
        obs, lo, hi = (d[c].to_numpy(dtype=float) for c in ("observed", "low", "high"))
        ax.errorbar(x.to_numpy(dtype=float), obs, yerr=np.vstack([obs - lo, hi - obs]),
                    fmt="o", capsize=3, label=self.meta["month_label"])
        if d["expected"].notna().any():
            top = float(np.nanmax([x.max(), d["high"].max(), 0.05]))
            ax.plot([0, top], [0, top], color="k", linestyle=":", label="perfect calibration")
            ax.set_xlabel("expected conversion (mean predicted probability)")
        else:
            ax.set_xlabel("mean score in decile")
        ax.set_ylabel(f"observed conversion within {self.meta['horizon_days']:g} days")
        ax.set_title("Calibration by decile")
        ax.legend()
        return ax

    def plot_roc(self, ax=None):
        """Censoring-weighted ROC curves of the reference and the month."""
        from sklearn.metrics import roc_curve

        ax = axes(ax, (5, 5))
        h = self.meta["horizon_days"]
        for key in ("reference", "month"):
            rows = self.rows[key]
            wc, wn = ipcw_weights(rows, h)
            keep = (wc > 0) | (wn > 0)
            if wc[keep].sum() > 0 and wn[keep].sum() > 0:
                y = wc[keep] > 0
                fpr, tpr, _ = roc_curve(y, rows["score"].to_numpy()[keep],
                                        sample_weight=np.where(y, wc[keep], wn[keep]))
                auc = weighted_auc(rows["score"].to_numpy(), wc, wn)
                ax.plot(fpr, tpr, label=f"{self.meta[key + '_label']}: AUC {auc:.3f}")
        ax.plot([0, 1], [0, 1], color="k", linestyle=":")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"ROC, conversion within {h:g} days")
        ax.legend(loc="lower right")
        return ax

    def plot_decay(self, ax=None):
        """AUC at each snapshot that has been followed for the whole horizon."""
        ax = axes(ax)
        s = self.snapshots.dropna(subset=["auc"])
        for period, grp in s.groupby("period", sort=False):
            auc, lo, hi = (grp[c].to_numpy(dtype=float) for c in ("auc", "low", "high"))
            ax.errorbar(grp["as_of"].dt.tz_localize(None).to_numpy(), auc,
                        yerr=np.vstack([auc - lo, hi - auc]), fmt="o-", capsize=3,
                        label=period)
        ax.set_ylabel("AUC")
        ax.set_title("Score decay: AUC by snapshot")
        ax.legend()
        ax.figure.autofmt_xdate()
        return ax

    def figures(self) -> dict:
        """Every chart of the report as a new matplotlib figure, by name."""
        import matplotlib.pyplot as plt

        sizes = {"scores": (7, 4), "drift": self._drift_size(), "roc": (5, 5),
                 "calibration": (5, 5), "decay": (7, 4)}
        out = {}
        for name in PLOTS:
            fig, ax = plt.subplots(figsize=sizes[name])
            self.plot(ax=ax, kind=name)
            fig.tight_layout()
            out[name] = fig
        return out

    # The report ---------------------------------------------------------------------------
    def report(self, title: str | None = None, *, generated: str | None = None):
        """The audit as an :class:`~nurturelab._html.HtmlReport` (call ``.write(path)``).

        Charts are embedded; tables name leads by ``lead_id`` only.
        """
        import matplotlib.pyplot as plt

        from nurturelab._html import HtmlReport

        m = self.meta
        title = title or f"Scoring audit: {m['month_label']}"
        sub = (f"{m.get('scorer', 'score')} · reference {m['reference_label']} · conversion "
               f"within {m['horizon_days']:g} days · threshold {m['threshold']:.4g}")
        if m.get("observed_until") is not None:
            sub += f" · data until {pd.Timestamp(m['observed_until']):%Y-%m-%d %H:%M} UTC"
        rep = HtmlReport(title, sub, generated=generated)
        self._report_checks(rep)
        figs = self.figures()
        try:
            self._report_figures(rep, figs)
        finally:
            for fig in figs.values():
                plt.close(fig)
        self._report_stuck(rep)
        rep.heading("Method")
        rep.paragraph("Every open lead is scored at weekly snapshots from what was known then. "
                      "Conversion within the horizon is estimated with censoring (the "
                      "Aalen-Johansen incidence via inverse probability of censoring weights), "
                      "so leads scored recently are not counted as lost, and leads lost or "
                      "opted out count as not converting, not as censored. Intervals: cluster "
                      "bootstrap over leads "
                      f"({m['rules']['n_boot']} resamples, seed {m['seed']}).")
        return rep

    def _report_checks(self, rep) -> None:
        """The status summary, the notes, and the checks (quiet features summarised)."""
        rep.status_summary(self.checks)
        if self.meta["threshold_source"] != "given":
            rep.note(f"Threshold: {self.meta['threshold_source']}.", "warn")
        for note in self.notes:
            rep.note(f"Note: {note}.", "warn")
        pending = self.checks[self.checks["status"] == "pending"]
        if len(pending):
            rep.note("Pending: " + "; ".join(sorted(set(pending["detail"]))) + ". Outcomes "
                     "not yet due are censored, never counted as losses.", "pending")
        # the outcome and operations checks first; of the features' drift, only what moved
        c = self.checks
        quiet = (c["group"] == "drift") & (c["check"] != "PSI score") & (c["status"] == "pass")
        shown = pd.concat([c[c["group"] != "drift"], c[(c["group"] == "drift") & ~quiet]])
        rep.heading("Checks").table(shown.drop(columns=["group"]), status_column="status",
                                    float_format="{:,.3f}")
        if quiet.any():
            rep.paragraph(f"{int(quiet.sum())} more features pass the drift check; every "
                          "feature's PSI is in the Drift section.")

    def _report_figures(self, rep, figs: dict) -> None:
        """The drift, discrimination, calibration and decay sections."""
        rep.heading("Drift")
        rep.paragraph("Population stability index of the score and each feature, the "
                      "month against the reference (bins at the reference's deciles).")
        rep.figure(figs["scores"], "Score distribution, reference and month",
                   alt="histograms of the score in the reference and the month")
        rep.figure(figs["drift"], "PSI by feature", alt="bar chart of PSI by feature")
        rep.table(self.drift, "PSI by feature", status_column="status")
        rep.heading("Discrimination")
        rep.figure(figs["roc"], "Censoring-weighted ROC curves",
                   alt="ROC curves of the reference and the month")
        rep.heading("Calibration")
        rep.figure(figs["calibration"], "Observed against expected conversion by decile",
                   alt="calibration plot by decile")
        rep.table(self.deciles, "The month's score in deciles (bins merge where scores "
                  "tie); leads counted once per snapshot")
        rep.heading("Score decay")
        rep.figure(figs["decay"], "AUC by snapshot (snapshots followed for the horizon)",
                   alt="AUC by snapshot date")
        snaps = self.snapshots.assign(as_of=self.snapshots["as_of"].dt.strftime("%Y-%m-%d"))
        rep.table(snaps, "Snapshots")

    def _report_stuck(self, rep) -> None:
        rep.heading("Stuck above the threshold")
        if len(self.stuck):
            top = self.stuck.sort_values("score", ascending=False).head(50)
            rep.table(top.assign(as_of=top["as_of"].dt.strftime("%Y-%m-%d")),
                      f"Flagged open leads with no touch within "
                      f"{self.meta['rules']['stuck_days']:g} days ({len(self.stuck)} rows, "
                      "highest scores first, at most 50)")
        else:
            rep.paragraph("None.")

    def to_html(self, path: str | Path, **kwargs: Any) -> Path:
        """Write the self-contained HTML report (charts embedded); returns its path."""
        return self.report(**kwargs).write(path)
