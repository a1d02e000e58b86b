"""The monthly scoring audit: does last month's score still mean what it meant?

A score drifts out of line with conversion as the leads, the market and the team change. Each
month the audit puts the month's scored leads beside a reference period (by default the three
months before) and runs the checks a scoring team needs, each of which passes, warns or fails
with its figure and interval:

================  ===========================================================================
check             what it measures, and its rule (:class:`AuditRules` holds every number)
================  ===========================================================================
drift             population stability index (PSI) of the score and of every feature, month
                  against reference: warn at 0.10, fail at 0.25
discrimination    AUC and Kolmogorov-Smirnov (KS) statistic, with bootstrap intervals; warn
                  when the drop from the reference is significant, fail when it is
                  significantly larger than 0.05 (AUC) or 0.10 (KS)
calibration       expected against observed conversion by decile; calibration slope (ideal 1)
                  and intercept (calibration-in-the-large, ideal 0); warn when the interval
                  excludes the ideal, fail when it lies wholly more than 0.3 (slope) or 0.5
                  (log odds) from it. Probability scores only; points are skipped
threshold         conversion of the leads at or above the threshold against what the threshold
                  was set for (the precision recorded when it was chosen, or else the
                  reference's): warn when significantly lower, fail when significantly more
                  than 25 % lower
workload          leads flagged per day against the capacity the threshold was set for (when
                  one was): warn above it, fail above 1.25 times it
score decay       the trend of AUC across the weekly snapshots: warn when significantly
                  falling, fail when significantly faster than 0.05 per 30 days
stuck leads       share of flagged open leads with no touch within 2 days: warn above 10 %,
                  fail above 25 %
================  ===========================================================================

How to run it: :func:`audit_month` audits a month of an export against the months before it
(what ``nurturelab audit`` and notebook 06 run), told what it needs beyond the data by one
:class:`AuditSettings` (threshold, what it was set for, capacity, horizon, rules, seed) and,
for a model, the :class:`~nurturelab.scoring.thresholds.RecordedThreshold` read from its
version. It returns an :class:`AuditResult`: ``summary`` is the checks table,
``print_summary()`` prints it, ``plot(kind=...)`` draws the report's charts and ``to_html``
writes the report. Underneath, :func:`scored_snapshots` makes the rows and :func:`audit`
checks two sets of them.

How the rows are made (:func:`scored_snapshots`): at each snapshot time (weekly, from the first
day of each month) every open lead (created, neither won nor lost) is scored from what was known
then; its outcome is conversion within ``horizon_days`` after the snapshot.

Immature outcomes are censored, not losses. A lead scored on 29 October has had three days to
convert when the audit runs on 1 November; counting it as lost would make every recent month look
miscalibrated. A lead that ended otherwise after the snapshot (lost or opted out) is not
censored either: it is known not to convert. Conversion rates are the Aalen-Johansen
cumulative incidence of conversion at the horizon, computed as inverse probability of censoring
weighted (IPCW) sums, ``F(H) = sum(w_i d_i / G(T_i-)) / sum(w_i)``, with ``G`` the
Kaplan-Meier curve of the censoring times (ended leads are not censored): this reproduces the
Aalen-Johansen estimate exactly, and the Kaplan-Meier one when no lead ends otherwise (Satten
and Datta, 2001). AUC and KS are the cumulative/dynamic ones at the horizon: converters within
it weighted ``1 / G(T_i-)``, leads followed past it without converting weighted ``1 / G(H)``,
leads that ended otherwise within it ``1 / G(E_i-)`` (Uno et al., 2007; Hung and Chiang, 2010;
Blanche et al., 2013); the calibration regressions use the same weights. When no snapshot of
the month has been followed for the whole horizon yet, the outcome checks are ``pending`` and
say on which date they can be judged.

Intervals come from a cluster bootstrap over leads (a lead appears in several weekly snapshots,
and in both periods), drawn as multinomial lead counts used as frequency weights; the censoring
curve is re-estimated in every resample.

The package's modules: :mod:`~nurturelab.scoring.audit.snapshots` (months, snapshot times,
scored rows), :mod:`~nurturelab.scoring.audit.statistics` (IPCW, the weighted Kaplan-Meier of
censoring, weighted AUC, KS, calibration, PSI), :mod:`~nurturelab.scoring.audit.bootstrap` (the
cluster bootstrap), :mod:`~nurturelab.scoring.audit.checks` (:class:`AuditRules`,
:class:`AuditSettings` and :func:`audit`), :mod:`~nurturelab.scoring.audit.result`
(:class:`AuditResult`, its charts and HTML) and :mod:`~nurturelab.scoring.audit.monthly`
(:func:`audit_month`).

Examples
--------
>>> from nurturelab.scoring.points import DEFAULT_RULES
>>> from nurturelab.synthetic import make_export
>>> leads, events = make_export(n_leads=400, seed=3)
>>> result = audit_month(leads, events, DEFAULT_RULES, "2026-10",
...                      settings=AuditSettings(rules=AuditRules(n_boot=20)))
>>> result.summary.columns.tolist()[:3]
['group', 'check', 'status']
>>> result.meta["reference_label"], result.meta["horizon_days"]
('2026-09', 30.0)
"""

from nurturelab.scoring.audit.checks import AuditRules, AuditSettings, audit
from nurturelab.scoring.audit.monthly import DEFAULT_HORIZON_DAYS, audit_month
from nurturelab.scoring.audit.result import CHECK_COLUMNS, STATUS_ORDER, AuditResult
from nurturelab.scoring.audit.snapshots import (
    ROW_COLUMNS,
    month_bounds,
    monthly_snapshot_times,
    scored_snapshots,
    snapshot_times,
)
from nurturelab.scoring.audit.statistics import (
    calibration_fit,
    censoring_left,
    ipcw_rate,
    ipcw_weights,
    ks_statistic,
    psi,
    weighted_auc,
    weighted_trend,
)

__all__ = [
    "CHECK_COLUMNS",
    "DEFAULT_HORIZON_DAYS",
    "ROW_COLUMNS",
    "STATUS_ORDER",
    "AuditResult",
    "AuditRules",
    "AuditSettings",
    "audit",
    "audit_month",
    "calibration_fit",
    "censoring_left",
    "ipcw_rate",
    "ipcw_weights",
    "ks_statistic",
    "month_bounds",
    "monthly_snapshot_times",
    "psi",
    "scored_snapshots",
    "snapshot_times",
    "weighted_auc",
    "weighted_trend",
]
