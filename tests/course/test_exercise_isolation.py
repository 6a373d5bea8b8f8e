"""Nothing after an exercise may depend on the learner's answer (issue 15).

A static (AST) test over every ``solutions/*.ipynb``, cheap and strict. The rule:

* **Exercise names.** A name is an *exercise name* when the learner's copy leaves it
  unsolved: a top-level ``def``/``class`` whose body holds a ``### BEGIN SOLUTION`` block
  (in the learner's copy it raises ``NotImplementedError`` when called), or a name bound
  at the top level by code inside such a block (in the learner's copy it is not bound
  at all: ``NameError``).
* **Allowed uses.** Code after the exercise may use an exercise name only inside the
  arguments of a check call (a call of ``check_*`` or ``chNN.check_*``; a lambda passed
  to it is inside those arguments), or inside a later solution block (the learner's own
  code, which the learner copy replaces). A later ``def``/``class``/lambda whose body
  uses an exercise name is not a violation by itself, but its name becomes an exercise
  name too (it fails when called), so the same rule applies to it.
* **Rebinding.** Once later top-level code rebinds the name outside a solution block
  (``sigmoid = F.sigmoid``, an import, a new ``def``), it is the course's again; but a
  check call that uses a name after the course rebound it (a loop variable that
  reuses the exercise's name, say) checks the course's value instead of the learner's
  answer, and is a violation too.
* **Clashes.** A name that a top-level solution block binds must not be bound by
  earlier course code: in the learner's copy the block is gone, so the earlier value
  stays visible and the check reads it instead of reporting ⏳.

Any other use (a call, an attribute, passing it to a plotting helper ...) is a
violation: with a wrong or unsolved exercise that later cell would raise or print
something false. The test lists every violation as ``file [cell] line: name``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from tests import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _python(source: str) -> str:
    """Cell source with IPython magics and shell lines blanked (line numbers kept)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _block_lines(source: str) -> set[int]:
    """1-based line numbers inside solution blocks (the marker lines included)."""
    inside, lines = False, set()
    for number, line in enumerate(source.splitlines(), start=1):
        if BEGIN in line:
            inside = True
        if inside:
            lines.add(number)
        if END in line:
            inside = False
    return lines


def _span(node) -> set[int]:
    return set(range(node.lineno, (node.end_lineno or node.lineno) + 1))


def _bound_names(node) -> set[str]:
    """Names a top-level statement binds in the module namespace."""
    names = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
    return names


def _is_check_call(node) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name.startswith("check_")


class _Uses(ast.NodeVisitor):
    """Loads of ``watched`` names outside check calls; uses inside def/lambda bodies counted apart."""

    def __init__(self, watched, block):
        self.watched, self.block = watched, block
        self.direct, self.deferred = [], []
        self.in_checks: set[str] = set()
        self._depth = 0

    def visit_Call(self, node):
        if _is_check_call(node):  # everything in a check call's arguments is allowed
            self.in_checks |= {sub.id for sub in ast.walk(node)
                               if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)}
            return
        self.generic_visit(node)

    def _deferred(self, node):
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = _deferred

    def visit_Name(self, node):
        if node.id in self.watched and isinstance(node.ctx, ast.Load) and node.lineno not in self.block:
            (self.deferred if self._depth else self.direct).append(node)


def violations(path: Path) -> list[str]:
    """Every use of an exercise name that the rule above forbids, as ``file [cell] line N: name``."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    exercise: set[str] = set()
    shadowed: dict[str, str] = {}  # exercise name -> where the course rebound it
    course: dict[str, str] = {}    # every name course code bound at the top level -> where
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = _python("".join(cell["source"]))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        block = _block_lines(source)
        for statement in tree.body:
            span = _span(statement)
            if span <= block:  # the learner's own code
                for name in sorted(_bound_names(statement)):
                    if name in course:
                        found.append(f"{path.name} [{index}] line {statement.lineno}: {name} "
                                     f"(the solution rebinds a name the course bound at {course[name]}; "
                                     f"unsolved, the check sees that value)")
                    shadowed.pop(name, None)
                exercise |= _bound_names(statement)
                continue
            uses = _Uses(exercise, block)
            uses.visit(statement)
            for node in uses.direct:
                found.append(f"{path.name} [{index}] line {node.lineno}: {node.id}")
            for name in sorted(uses.in_checks & set(shadowed)):
                found.append(f"{path.name} [{index}] line {statement.lineno}: {name} "
                             f"(checked after the course rebound it at {shadowed[name]})")
            bound = _bound_names(statement)
            if not span & block:
                course.update({name: f"[{index}] line {statement.lineno}" for name in bound})
            if span & block:  # a def (or statement) with a solution block inside: an exercise
                if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    exercise |= bound
                else:  # e.g. an `if` around a block: what the block binds
                    for sub in ast.walk(statement):
                        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and sub.lineno in block:
                            exercise.add(sub.id)
                continue
            if uses.deferred:  # a helper that calls the learner's code fails when it is called
                exercise |= bound
            else:
                for name in bound & exercise:
                    shadowed[name] = f"[{index}] line {statement.lineno}"
                exercise -= bound  # rebound by the course: no longer the learner's
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nothing_after_an_exercise_uses_its_answer(path):
    found = violations(path)
    assert not found, "later cells use names an exercise defines (see the module docstring):\n" + "\n".join(found)


def test_the_rule_sees_a_violation():
    """The checker itself: a later call of the exercise function is found, a check call is not."""
    import tempfile

    cells = [
        "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n",
        "ch00.check_f(f)\ncheck_value('f', lambda: f(1), 1)\n",
        "def helper():\n    return f(2)\n",
        "check_function('h', helper, [])\nprint(f(3))\nhelper()\n",
        "### BEGIN SOLUTION\nw = 3\n### END SOLUTION\n",
        "print(w)\n",
        "f = abs\nprint(f(-1))\n",
        "ch00.check_f(f)\n",
        "for k in range(3):\n    pass\n### BEGIN SOLUTION\nk = 7\n### END SOLUTION\n",
    ]
    notebook = {"cells": [{"cell_type": "code", "source": c, "metadata": {}} for c in cells]}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "99_demo.ipynb"
        path.write_text(json.dumps(notebook), encoding="utf-8")
        found = violations(path)
    assert [re.sub(r"^\S+ ", "", v) for v in found] == [
        "[3] line 2: f", "[3] line 3: helper", "[5] line 1: w",
        "[7] line 1: f (checked after the course rebound it at [6] line 1)",
        "[8] line 4: k (the solution rebinds a name the course bound at [8] line 1; unsolved, the check sees that value)"]
