"""Every result class of the package keeps the one result protocol (nurturelab.result).

Each module's tests call resultcheck.assert_result_protocol on its own result objects; this
file, collected after them (hence its name), checks that every subclass of Result in the
package was among them. Run alone it has nothing to check and skips. Under pytest-xdist
(``make test`` runs two workers) each worker sees only its share of the tests, so the workers
send what they checked to the controller, which runs the same check at the session's end
(``tests/conftest.py``) and fails the session if a class was missed.
"""

from __future__ import annotations

import os

import pytest

import resultcheck


def test_every_result_class_was_checked():
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("under xdist the controller checks the union of the workers' classes")
    if not resultcheck.CHECKED:
        pytest.skip("run with the whole suite: no result object was checked in this session")
    missing = resultcheck.unchecked_result_classes(resultcheck.checked_names())
    assert not missing, f"result classes no test checks with assert_result_protocol: {missing}"


def test_the_check_names_a_class_no_test_checked():
    missing = resultcheck.unchecked_result_classes(set())
    assert "nurturelab.experiment.statistics.SRMResult" in missing
    assert all(name.startswith("nurturelab.") for name in missing)
