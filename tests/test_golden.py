"""benchmarks/golden.py, the bit-for-bit check of speed changes, must be able to fail: it finds
a one-ulp change, a sign of zero, a dtype, and a run saved and compared again is equal."""

from __future__ import annotations

import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "golden.py"
_spec = importlib.util.spec_from_file_location("golden", _SCRIPT)  # a script, not a module
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)


def test_differences_sees_one_ulp_the_sign_of_zero_and_a_dtype():
    frame = pd.DataFrame({"x": [0.1, np.nan, 0.0], "n": [1, 2, 3]})
    assert golden.differences(frame, frame.copy()) == []  # NaN equals NaN
    ulp = frame.copy()
    ulp.loc[0, "x"] = np.nextafter(0.1, 1.0)
    assert golden.differences(frame, ulp)
    signed = frame.copy()
    signed.loc[2, "x"] = -0.0
    assert golden.differences(frame, signed)
    assert golden.differences(frame, frame.astype({"n": "int32"}))
    assert golden.differences({"a": np.array([1.0])}, {"a": np.array([1.0 + 2**-52])})
    assert golden.differences(frame, frame.assign(x=frame["x"]).rename(columns={"x": "y"}))


def _golden(monkeypatch, capsys, *argv) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["golden.py", *argv])
    try:
        golden.main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().out


def test_save_then_compare_is_all_equal_and_a_changed_output_differs(tmp_path, monkeypatch,
                                                                      capsys):
    only = ["--only", "sim_default,points_scores"]
    assert _golden(monkeypatch, capsys, "save", str(tmp_path), *only)[0] == 0
    golden.sim_export.cache_clear()  # compare recomputes its inputs too
    code, out = _golden(monkeypatch, capsys, "compare", str(tmp_path), *only)
    assert code == 0 and out.strip().endswith("ALL EQUAL"), out
    saved = tmp_path / "sim_default.pkl"
    outputs = pickle.loads(saved.read_bytes())
    events = outputs["events"]
    col = next(c for c in events.columns if events[c].dtype.kind == "f")
    events.loc[events.index[0], col] = np.nextafter(events[col].iloc[0], np.inf)
    saved.write_bytes(pickle.dumps(outputs))
    code, out = _golden(monkeypatch, capsys, "compare", str(tmp_path), *only)
    assert code == 1, out
    assert "DIFFERS sim_default" in out and "equal points_scores" in out
