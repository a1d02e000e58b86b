"""The largest modules and functions of the package, in lines (issue 11 asks for them before
and after a restructuring). Not a speed benchmark: `python benchmarks/code_sizes.py [ROOT]`."""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def sizes(root: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    modules, functions = [], []
    for path in sorted((root / "nurturelab").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(root))
        modules.append((len(text.splitlines()), name))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((node.end_lineno - node.lineno + 1, f"{name}:{node.name}"))
    return sorted(modules, reverse=True), sorted(functions, reverse=True)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent)
    modules, functions = sizes(root)
    print("largest modules (lines):")
    for n, name in modules[:8]:
        print(f"  {n:5d}  {name}")
    print("largest functions (lines, docstring included):")
    for n, name in functions[:8]:
        print(f"  {n:5d}  {name}")
    over = sum(1 for n, _ in functions if n > 60)
    print(f"functions over 60 lines: {over} of {len(functions)}")


if __name__ == "__main__":
    main()
