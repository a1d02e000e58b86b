"""A/B tests of nurturing cadences: assignment, design, statistics, analysis, monitoring, and
simulated experiments.

The same functions serve simulated leads before a launch and real leads after it, because both
arrive as the ``leads`` and ``events`` tables of :mod:`nurturelab.schema`. The package has one
module per step, and every public name is importable from ``nurturelab.experiment`` itself:

============================================ ================================================
module                                       public names
============================================ ================================================
:mod:`~nurturelab.experiment.assignment`     :func:`assign_random` (stratified permuted
                                             blocks, seeded), :func:`assign_hash` (salted
                                             SHA-256, for leads assigned as they arrive)
:mod:`~nurturelab.experiment.design`         :func:`sample_size`, :func:`power`, :func:`mde`
                                             (two-sided two-proportion test, Cohen's *h*)
:mod:`~nurturelab.experiment.statistics`     :func:`compare_proportions`,
                                             :func:`prob_beat_control`, :func:`holm`,
                                             :func:`srm_check` and its :class:`SRMResult`
:mod:`~nurturelab.experiment.analysis`       :func:`lead_table`, :func:`analyze` and its
                                             :class:`ExperimentResult`, :data:`METRICS`
:mod:`~nurturelab.experiment.sequential`     :func:`monitor` (always-valid p-values and
                                             confidence sequences), :func:`weekly_looks`
:mod:`~nurturelab.experiment.simulated`      :func:`run_experiment` and its
                                             :class:`SimExperiment`, :func:`sweep`,
                                             :func:`replication_seeds`,
                                             :func:`arms_from_scenarios`,
                                             :func:`log_experiment`, :func:`ab_export`
:mod:`~nurturelab.experiment.interference`   :func:`interference_study` (naive shared-team
                                             test, split team, switchback, against rollouts)
                                             and its :class:`InterferenceResult`,
                                             :func:`common_world`, :func:`log_interference`,
                                             :data:`INTERFERENCE_METRICS`
============================================ ================================================

Everything but the simulated experiments is a pure function over DataFrames or summary counts;
randomness comes only from a ``seed`` passed to :func:`numpy.random.default_rng`. matplotlib is
imported when a result is drawn on new axes, never at import, and no backend is chosen here.
:mod:`nurturelab.sweep` still re-exports the simulated-experiment names.

Examples
--------
>>> from nurturelab import experiment as ex
>>> ex.sample_size(0.10, 0.02)
3835
>>> ex.srm_check({"a": 10_200, "b": 9_800})
<SRMResult: a=10,200, b=9,800; chi2=8, p=0.00468, mismatch=False>
"""

from nurturelab.experiment.analysis import (
    METRICS,
    SURVIVAL_HORIZONS,
    ExperimentResult,
    analyze,
    lead_table,
)
from nurturelab.experiment.assignment import assign_hash, assign_random
from nurturelab.experiment.design import mde, power, sample_size
from nurturelab.experiment.interference import (
    INTERFERENCE_METRICS,
    InterferenceResult,
    common_world,
    interference_study,
    log_interference,
)
from nurturelab.experiment.sequential import monitor, weekly_looks
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
from nurturelab.experiment.statistics import (
    SRMResult,
    compare_proportions,
    holm,
    prob_beat_control,
    srm_check,
)

__all__ = [
    "COUNTS",
    "INTERFERENCE_METRICS",
    "METRICS",
    "SURVIVAL_HORIZONS",
    "ExperimentResult",
    "InterferenceResult",
    "SRMResult",
    "SimExperiment",
    "ab_export",
    "analyze",
    "arms_from_scenarios",
    "assign_hash",
    "assign_random",
    "common_world",
    "compare_proportions",
    "holm",
    "interference_study",
    "lead_table",
    "log_experiment",
    "log_interference",
    "mde",
    "monitor",
    "power",
    "prob_beat_control",
    "replication_seeds",
    "run_experiment",
    "sample_size",
    "srm_check",
    "sweep",
    "weekly_looks",
]
