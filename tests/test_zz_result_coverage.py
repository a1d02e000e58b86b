"""Every result class of the package keeps the one result protocol (nurturelab.result).

Each module's tests call resultcheck.assert_result_protocol on its own result objects; this
file, collected after them (hence its name), checks that every subclass of Result in the
package was among them. Run alone it has nothing to check and skips.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import nurturelab
from nurturelab.result import Result

import resultcheck


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def test_every_result_class_was_checked():
    if not resultcheck.CHECKED:
        pytest.skip("run with the whole suite: no result object was checked in this session")
    for m in pkgutil.walk_packages(nurturelab.__path__, prefix="nurturelab."):
        if not m.name.endswith("__main__"):
            importlib.import_module(m.name)
    ours = {c for c in _subclasses(Result) if c.__module__.startswith("nurturelab.")}
    missing = sorted(f"{c.__module__}.{c.__qualname__}" for c in ours - resultcheck.CHECKED)
    assert not missing, f"result classes no test checks with assert_result_protocol: {missing}"
