"""Simulated experiments, under their former name.

They live in :mod:`nurturelab.experiment.simulated` now (and are importable from
:mod:`nurturelab.experiment`); this module re-exports them so that
``from nurturelab.sweep import run_experiment`` keeps working.
"""

from nurturelab.experiment.simulated import (
    COUNTS,
    SimExperiment,
    ab_export,
    arms_from_scenarios,
    log_experiment,
    replication_seeds,
    run_experiment,
    sweep,
)

__all__ = ["COUNTS", "SimExperiment", "ab_export", "arms_from_scenarios", "log_experiment",
           "replication_seeds", "run_experiment", "sweep"]
