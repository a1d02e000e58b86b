"""The twin: the simulated world fitted to a team's own export, and checked against it.

- :mod:`nurturelab.twin.calibrate` — :func:`~nurturelab.twin.calibrate.calibrate` fits every
  part of the world from an export and writes it as a scenario file with its parameter table
  (``nurturelab calibrate``).
- :mod:`nurturelab.twin.arrivals`, :mod:`nurturelab.twin.team`,
  :mod:`nurturelab.twin.sequence` — the parts it fits besides the response model and the
  progression after contact: arrivals, the team, the cadence the team ran.
- :mod:`nurturelab.twin.parameters` — the parameter table and how each name reads off a world.
- :mod:`nurturelab.twin.kpis`, :mod:`nurturelab.twin.backtest` — the KPIs of any pair of tables
  and the back-test of a scenario against an export's held-out weeks (``nurturelab
  backtest``).
- :mod:`nurturelab.twin.published` — the default world as a twin of the published
  speed-to-lead studies, measured from its own tables.
"""
