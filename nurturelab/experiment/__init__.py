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
:mod:`~nurturelab.experiment.statistics`     :func:`compare_proportions` (score test and
                                             intervals), :func:`score_interval`,
                                             :func:`holm`, :func:`holm_levels`,
                                             :func:`omnibus` and its :class:`OmnibusResult`,
                                             :func:`decide`, :func:`prob_beat_control`,
                                             :func:`srm_check` and its :class:`SRMResult`
:mod:`~nurturelab.experiment.analysis`       :func:`lead_table`, :func:`analyze` and its
                                             :class:`ExperimentResult`, :data:`METRICS`
:mod:`~nurturelab.experiment.continuous`     :func:`lead_values`, :func:`compare_means`,
                                             :func:`compare_ratios` (delta method) and their
                                             :class:`ArmComparison`
:mod:`~nurturelab.experiment.adjustment`     :func:`adjusted_difference` (Lin's regression
                                             adjustment, HC2), :func:`cuped`,
                                             :func:`covariate_matrix`
:mod:`~nurturelab.experiment.sequential`     :func:`monitor` (always-valid p-values and
                                             confidence sequences, or group-sequential
                                             boundaries), :func:`weekly_looks`,
                                             :func:`spending_boundaries` and its
                                             :class:`GroupSequentialDesign`
:mod:`~nurturelab.experiment.simulated`      :func:`run_experiment` and its
                                             :class:`SimExperiment`, :func:`sweep`,
                                             :func:`replication_seeds`,
                                             :func:`arms_from_scenarios`,
                                             :func:`log_experiment`, :func:`ab_export`
:mod:`~nurturelab.experiment.segments`       :func:`by_segment` and its
                                             :class:`SegmentEffects`,
                                             :func:`benjamini_hochberg`,
                                             :func:`interaction_test`
:mod:`~nurturelab.experiment.clusters`       :func:`cluster_compare` and its
                                             :class:`ClusterComparison`,
                                             :func:`cluster_robust_diff` (randomised by
                                             rep or account)
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

from nurturelab.experiment.adjustment import (
    adjusted_difference,
    adjusted_difference_rows,
    covariate_matrix,
    cuped,
    cuped_rows,
)
from nurturelab.experiment.analysis import (
    METRICS,
    SURVIVAL_HORIZONS,
    ExperimentResult,
    analyze,
    lead_table,
)
from nurturelab.experiment.assignment import assign_hash, assign_random
from nurturelab.experiment.clusters import ClusterComparison, cluster_compare, cluster_robust_diff
from nurturelab.experiment.continuous import (
    ArmComparison,
    compare_means,
    compare_means_rows,
    compare_ratios,
    compare_ratios_rows,
    lead_values,
)
from nurturelab.experiment.design import mde, power, sample_size
from nurturelab.experiment.interference import (
    INTERFERENCE_METRICS,
    InterferenceResult,
    common_world,
    interference_study,
    log_interference,
)
from nurturelab.experiment.segments import (
    SegmentEffects,
    benjamini_hochberg,
    by_segment,
    interaction_test,
)
from nurturelab.experiment.sequential import (
    GroupSequentialDesign,
    monitor,
    spending_boundaries,
    weekly_looks,
)
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
    OmnibusResult,
    SRMResult,
    compare_proportions,
    decide,
    holm,
    holm_levels,
    omnibus,
    prob_beat_control,
    score_interval,
    srm_check,
)

__all__ = [
    "COUNTS",
    "INTERFERENCE_METRICS",
    "METRICS",
    "SURVIVAL_HORIZONS",
    "ArmComparison",
    "ClusterComparison",
    "ExperimentResult",
    "GroupSequentialDesign",
    "InterferenceResult",
    "OmnibusResult",
    "SRMResult",
    "SegmentEffects",
    "SimExperiment",
    "ab_export",
    "adjusted_difference",
    "adjusted_difference_rows",
    "analyze",
    "arms_from_scenarios",
    "assign_hash",
    "assign_random",
    "benjamini_hochberg",
    "by_segment",
    "cluster_compare",
    "cluster_robust_diff",
    "common_world",
    "compare_means",
    "compare_means_rows",
    "compare_proportions",
    "compare_ratios",
    "compare_ratios_rows",
    "covariate_matrix",
    "cuped",
    "cuped_rows",
    "decide",
    "holm",
    "holm_levels",
    "interaction_test",
    "interference_study",
    "lead_table",
    "lead_values",
    "log_experiment",
    "log_interference",
    "mde",
    "monitor",
    "omnibus",
    "power",
    "prob_beat_control",
    "replication_seeds",
    "run_experiment",
    "sample_size",
    "score_interval",
    "spending_boundaries",
    "srm_check",
    "sweep",
    "weekly_looks",
]
