"""The twin: the simulated world fitted to a team's own export, and checked against it.

- :mod:`nurturelab.twin.published` — the default world as a twin of the published
  speed-to-lead studies, measured from its own tables.
"""
