"""Small numerical helpers shared by the metric modules (a leaf: imports nothing of ours)."""

from __future__ import annotations

import numpy as np
from statsmodels.stats.proportion import proportion_confint


def rate_ci(successes, trials, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``successes / trials``, elementwise; NaN where trials is 0.

    >>> lo, hi = rate_ci([5], [10])
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.2366, 0.7634)
    """
    s = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    lo, hi = proportion_confint(s, np.where(n > 0, n, 1), alpha=alpha, method="wilson")
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)
