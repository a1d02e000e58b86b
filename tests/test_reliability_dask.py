"""Issue 13: the README's Dask path runs a cluster bound to 127.0.0.1 (scheduler, workers and
dashboard), with the same results as a serial sweep."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from nurturelab import paths

distributed = pytest.importorskip("distributed")


def _readme_dask_block() -> str:
    text = (paths.project_root() / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
              if "LocalCluster" in b]
    assert len(blocks) == 1, "the README shows one Dask cluster"
    return blocks[0]


def test_the_readme_cluster_listens_on_loopback_only(monkeypatch):
    """The README's Dask path opened a dashboard on 0.0.0.0:8787."""
    seen = {}
    real = distributed.Client

    class Watched(real):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            info = self.scheduler_info()
            seen["scheduler"] = self.scheduler.address
            seen["workers"] = sorted(info["workers"])
            seen["dashboard"] = self.dashboard_link
            http = self.cluster.scheduler.http_server  # the sockets the dashboard listens on
            seen["http"] = sorted({s.getsockname()[0] for s in http._sockets.values()})

    import dask.distributed  # re-exports distributed's Client: the README imports it from here

    monkeypatch.setattr(distributed, "Client", Watched)
    monkeypatch.setattr(dask.distributed, "Client", Watched)
    namespace: dict = {}
    exec(compile(_readme_dask_block(), "README.md", "exec"), namespace)  # noqa: S102
    assert seen["scheduler"].startswith("tcp://127.0.0.1:")
    assert seen["workers"] and all(w.startswith("tcp://127.0.0.1:") for w in seen["workers"])
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/status", seen["dashboard"])
    assert seen["http"] == ["127.0.0.1"]
    from nurturelab.experiment import sweep

    pd.testing.assert_frame_equal(namespace["runs"], sweep(namespace["worlds"], replications=4,
                                                           seed=1))
