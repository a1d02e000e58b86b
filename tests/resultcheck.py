"""One assertion for the result protocol every result object keeps (see nurturelab.result).

Used by each module's tests on its own result objects, and by tests/test_result.py, which also
checks that every subclass of Result in the package is covered.
"""

from __future__ import annotations

import inspect
import io

import matplotlib

matplotlib.use("Agg")  # the tests draw to memory; library code never picks a backend
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from nurturelab.result import Result  # noqa: E402

CHECKED: set[type] = set()  # every class assert_result_protocol has passed, this session


def assert_result_protocol(obj, **plot_kwargs) -> None:
    """``obj`` is a Result: a DataFrame ``summary`` (a property, not a method), a one-line
    repr naming its class, ``print_summary()`` printing the repr and the table, and
    ``plot(ax=None)`` that returns the axes it was given or new ones."""
    assert isinstance(obj, Result), f"{type(obj).__name__} does not subclass Result"
    assert isinstance(inspect.getattr_static(type(obj), "summary"), property), (
        f"{type(obj).__name__}.summary is not a property")
    summary = obj.summary
    assert isinstance(summary, pd.DataFrame), type(summary)
    text = repr(obj)
    assert "\n" not in text and text.startswith(f"<{type(obj).__name__}"), text
    assert "object at 0x" not in text, text
    buf = io.StringIO()
    obj.print_summary(file=buf)
    printed = buf.getvalue()
    assert printed.startswith(text.split(":")[0]) or text in printed, printed[:200]
    assert len(printed.splitlines()) >= 2, printed
    fig, ax = plt.subplots()
    try:
        got = obj.plot(ax=ax, **plot_kwargs)
        assert got is ax or (hasattr(got, "__len__") and ax in list(got)), got
    finally:
        plt.close(fig)
    got = obj.plot(**plot_kwargs)
    try:
        assert got is not None
    finally:
        plt.close("all")
    CHECKED.add(type(obj))


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def checked_names() -> set[str]:
    """The dotted names of the classes :func:`assert_result_protocol` has passed here."""
    return {_name(c) for c in CHECKED}


def unchecked_result_classes(checked: set[str]) -> list[str]:
    """Every Result subclass of the package whose dotted name is not in ``checked``."""
    import importlib
    import pkgutil

    import nurturelab

    for m in pkgutil.walk_packages(nurturelab.__path__, prefix="nurturelab."):
        if not m.name.endswith("__main__"):
            importlib.import_module(m.name)
    ours, todo = set(), [Result]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in ours:
                ours.add(sub)
                todo.append(sub)
    return sorted(_name(c) for c in ours
                  if c.__module__.startswith("nurturelab.") and _name(c) not in checked)
