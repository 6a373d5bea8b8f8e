"""Course infrastructure: every exercise of every chapter has its check tested against wrong answers.

For each solved notebook: every check function of ``nnlib.exercises.chNN`` is called by the
notebook and by ``tests/course/test_exercises_chNN.py``, and every function the learner writes
(a ``def`` whose body holds a ``### BEGIN SOLUTION`` block) is loaded there from the solved
notebook (``load_solution``), so that its check runs against the real solution.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb"))
_TOP_DEF = re.compile(r"^(?:async\s+)?def (\w+)\(")


def _learner_functions(code: str) -> list:
    """Top-level functions whose body holds a solution block (what the learner writes)."""
    found, current = [], None
    for line in code.splitlines():
        if line and not line[0].isspace():
            match = _TOP_DEF.match(line)
            current = match.group(1) if match else None
        elif current and line.strip() == "### BEGIN SOLUTION" and current not in found:
            found.append(current)
    return found


def _code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) + "\n" for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_check_and_every_exercise_function_is_tested(path):
    chapter = path.name[:2]
    tests = (ROOT / "tests" / "course" / f"test_exercises_ch{chapter}.py").read_text(encoding="utf-8")
    module = importlib.import_module(f"nnlib.exercises.ch{chapter}")
    checks = [name for name in dir(module) if name.startswith("check_") and callable(getattr(module, name))
              and getattr(getattr(module, name), "__module__", "") == module.__name__]
    code = _code(path)
    assert checks, f"nnlib.exercises.ch{chapter} defines no check_* function"
    unused = [c for c in checks if c not in code]
    untested = [c for c in checks if c not in tests]
    assert not unused, f"{path.name}: checks never called by the notebook: {unused}"
    assert not untested, f"test_exercises_ch{chapter}.py never runs {untested}"
    learner_functions = _learner_functions(code)
    not_loaded = [f for f in learner_functions if f'"{f}"' not in tests and f"'{f}'" not in tests]
    assert not not_loaded, (f"test_exercises_ch{chapter}.py does not load the solution of {not_loaded} "
                            "(load_solution) to run its check against the real answer")
