"""The main job: an export's funnel, segments and weekly report, and a small simulation of the
same funnel, logged as MLflow runs. ``nurturelab demo`` runs it on the sample in ``data/``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nurturelab import paths, plots
from nurturelab.funnel import DEFAULT_FUNNEL, Funnel, FunnelReport, funnel_report
from nurturelab.result import Result

__all__ = ["MainJob", "main_job", "main_job_steps"]


@dataclass(frozen=True, repr=False)
class MainJob(Result):
    """What the main job computed and where it logged it.

    ``report`` is the funnel (a :class:`~nurturelab.funnel.FunnelReport`), ``segments`` the
    conversion by route, source and intent x fit band, ``weekly`` the weekly full-path report
    of the last full week (None when that week has no data), ``simulation`` the speed-to-lead
    scenario's run (None without one); ``run_id`` and ``artifact_uri`` locate the MLflow run.
    ``summary`` is the funnel's headline figures.
    """

    origin: str
    report: FunnelReport
    segments: dict[str, pd.DataFrame] = field(default_factory=dict)
    weekly: Any = None
    simulation: Any = None
    run_id: str | None = None
    artifact_uri: str | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """The funnel's headline figures, one row each (column ``value``)."""
        return pd.DataFrame({"value": self.report.headline()}).rename_axis("metric")

    def _describe(self) -> str:
        return f"{self.origin}, funnel as of {self.report.as_of:%Y-%m-%d %H:%M} UTC"

    @property
    def weekly_file(self) -> str | None:
        """The weekly report's file name in the run (``report/weekly-YYYY-Www.html``)."""
        return None if self.weekly is None else f"weekly-{self.weekly.week}.html"

    def plot(self, ax=None):
        """Leads reaching each stage of the funnel; returns the axes."""
        return plots.funnel_bars(self.report.conversion, ax=ax)

    def figure(self):
        """The four-panel chart the run logs: funnel, weekly cohorts, speed to first touch,
        conversion by route."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 2, figsize=(13, 8))
        plots.funnel_bars(self.report.conversion, ax=axes[0, 0])
        plots.weekly_cohorts(self.report.weekly, ax=axes[0, 1])
        plots.speed_histogram(self.report.speed_minutes, ax=axes[1, 0])
        plots.segment_rates(self.segments["route"], ax=axes[1, 1])
        fig.tight_layout()
        return fig


def _weekly(leads, events, as_of, funnel, targets):
    from nurturelab.report import last_full_week, weekly_report

    seen = events[events["ts"] <= as_of]
    try:
        week = last_full_week(seen)
        return weekly_report(leads, seen, week=week, targets=targets, funnel=funnel)
    except ValueError:
        return None


def main_job_steps(leads: pd.DataFrame, events: pd.DataFrame, *, track: bool = True,
                   scenario: Any = None) -> list[str]:
    """The steps :func:`main_job` reports to its ``progress`` callable, in order, one line each.

    Parameters
    ----------
    leads, events : DataFrame
        The tables the job runs on (only their sizes are named).
    track : bool
        Whether the job logs to MLflow (one step more).
    scenario : Scenario, optional
        The scenario the job simulates (one step more).

    Examples
    --------
    >>> import pandas as pd
    >>> for line in main_job_steps(pd.DataFrame(index=range(1500)),
    ...                            pd.DataFrame(index=range(10249)), track=False):
    ...     print(line)
    funnel, segments and weekly cohorts of 1,500 leads and 10,249 events
    the weekly full-path report of the last full week
    """
    steps = [f"funnel, segments and weekly cohorts of {len(leads):,d} leads and "
             f"{len(events):,d} events",
             "the weekly full-path report of the last full week"]
    if track:
        steps.append("logging the run to MLflow (metrics, tables, chart, weekly report)")
    if scenario is not None:
        sizes = sorted({w.leads for w in scenario.worlds.values()})
        each = (f"{sizes[0]:,d}" if len(sizes) == 1
                else f"{sizes[0]:,d} to {sizes[-1]:,d}")
        steps.append(f"simulating {scenario.name!r}: {len(scenario.worlds)} variants x {each} "
                     f"leads" + (", logged to MLflow" if track else ""))
    return steps


def main_job(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    origin: str,
    as_of: Any = None,
    funnel: Funnel = DEFAULT_FUNNEL,
    targets: Sequence[Any] = (),
    scenario: Any = None,
    scenario_file: str | Path | None = None,
    track: bool = True,
    progress: Callable[[str], None] | None = None,
) -> MainJob:
    """Run the main job on validated tables.

    Parameters
    ----------
    leads, events : DataFrame
        Validated tables (:func:`nurturelab.schema.read_export`).
    origin : str
        Where the tables came from, as the run's ``origin`` parameter.
    as_of : timestamp-like, optional
        Compute everything as of then (the data's last timestamp by default).
    funnel : Funnel
        The stages (``--funnel FILE`` in the command).
    targets : sequence of Target
        The team's targets for the weekly report.
    scenario : Scenario, optional
        A scenario to simulate after the export (the demo's speed-to-lead scenario), logged
        as its own run with a child per variant.
    track : bool
        Log to MLflow (the embedded store, or ``MLFLOW_TRACKING_URI``).
    progress : callable, optional
        Called with a line naming each step as it starts: the lines of
        :func:`main_job_steps`, in order (the caller knows a step has ended when the next one
        starts, or when the job returns).
    """
    from nurturelab import tracking
    from nurturelab.segments import DEFAULT_ICP, segment_rates, segments

    steps = iter(main_job_steps(leads, events, track=track, scenario=scenario))
    tell = progress or (lambda line: None)

    def say() -> None:
        tell(next(steps))

    say()
    report = funnel_report(leads, events, funnel=funnel, as_of=as_of)
    seg = segments(DEFAULT_ICP.apply(leads))
    tables = {
        "route": segment_rates(seg, report.outcomes, events, by=("route",)),
        "source": segment_rates(seg, report.outcomes, events, by=("source",)),
        "intent_fit": segment_rates(seg, report.outcomes, events, by=("intent", "fit_band")),
    }
    say()
    weekly = _weekly(leads, events, report.as_of, funnel, targets)
    job = MainJob(origin=origin, report=report, segments=tables, weekly=weekly)
    run_id = artifact_uri = None
    if track:
        say()
        params = {"origin": origin, "as_of": report.as_of.isoformat(), "leads": len(leads),
                  "events": len(events), "funnel": " > ".join(report.funnel.names)}
        import matplotlib.pyplot as plt

        with tracking.run("demo", params=params, tags={"job": "demo"}) as active:
            tracking.log_metrics(report.headline())
            tracking.log_metrics({f"conversion.{k}": v
                                  for k, v in report.conversion["conversion"].items()})
            for name, table in {
                "stage_conversion": report.conversion,
                "time_in_stage": report.time_in_stage,
                "lead_age_by_stage": report.lead_age,
                "dropoff_by_step": report.dropoff,
                "handoffs": report.handoffs,
                "weekly_cohorts": report.weekly,
                "segments_intent_fit": tables["intent_fit"],
                "segments_route": tables["route"],
                "segments_source": tables["source"],
            }.items():
                tracking.log_table(table, name)
            fig = job.figure()
            tracking.log_figure(fig, "funnel")
            plt.close(fig)
            if weekly is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    path = weekly.to_html(Path(tmp) / job.weekly_file)
                    tracking.log_file(path, "report")
            run_id = active.info.run_id
            artifact_uri = active.info.artifact_uri.rstrip("/")
    simulation = None
    if scenario is not None:
        from nurturelab.scenario import run_scenario

        say()
        simulation = run_scenario(scenario, source=Path(scenario_file) if scenario_file else None,
                                  track=track)
    return MainJob(origin=origin, report=report, segments=tables, weekly=weekly,
                   simulation=simulation, run_id=run_id, artifact_uri=artifact_uri)


def sample_scenario_file() -> Path:
    """The speed-to-lead scenario the demo simulates."""
    return paths.project_root() / "simulations" / "speed_to_lead.yaml"
