"""Lead scoring: transparent behaviour points and the models that go past them.

Modules (import the one you need; this package imports nothing heavy itself):

- :mod:`nurturelab.scoring.points` — behaviour points with decay, caps and windows, computed as
  of any timestamp over the whole events table; score histories, threshold crossings, and the
  ``stage`` events those crossings write back into the data contract.
- :mod:`nurturelab.scoring.survival` — time-to-convert survival models (lifelines-shaped).
- :mod:`nurturelab.scoring.cure` — a mixture cure model with covariates: the share that never
  converts by segment or lead, with intervals, and a check that follow-up identifies it.
"""
