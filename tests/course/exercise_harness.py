"""Course infrastructure: run an exercise check and read its one verdict line.

Used by ``tests/course/test_exercises_chNN.py``: each exercise's check (from
``nnlib.exercises.chNN``) is run against the solution taken from the solved notebook,
against at least two plausible wrong answers, and against the unsolved stub.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

from tests import REPO_ROOT

SOLUTIONS = REPO_ROOT / "solutions"

PASSED, NOT_ATTEMPTED, FAILED = "✅", "⏳", "❌"


def verdict(check, *args, **kwargs) -> tuple[str, str]:
    """Run ``check(*args, **kwargs)``; return (symbol, line) of the single line it printed.

    Fails (AssertionError) when the check raises, prints more or less than one line,
    or its line does not start with one of ✅ ⏳ ❌.
    """
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        check(*args, **kwargs)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1, f"a check prints exactly one line, got {lines!r}"
    line = lines[0]
    symbol = line[:1]
    assert symbol in (PASSED, NOT_ATTEMPTED, FAILED), f"not a verdict line: {line!r}"
    return symbol, line


#: The longest verdict line ``assert_verdict(..., max_length=LINE_LIMIT)`` accepts ("~200 characters").
LINE_LIMIT = 210


def assert_verdict(expected_symbol: str, check, *args, mentions: tuple[str, ...] = (),
                   max_length: int | None = None, **kwargs) -> str:
    """Assert that the check's verdict is ``expected_symbol``; a ❌ line must name the problem.

    ``mentions``: words the line must contain (case-insensitive), e.g. the wrong value
    or the name of what is missing. ``max_length`` (e.g. ``LINE_LIMIT``): the longest
    line accepted. Returns the line.
    """
    symbol, line = verdict(check, *args, **kwargs)
    assert symbol == expected_symbol, f"expected {expected_symbol}, got: {line}"
    assert max_length is None or len(line) <= max_length, f"{len(line)} characters, over {max_length}: {line}"
    for word in mentions:
        assert word.lower() in line.lower(), f"the verdict should mention {word!r}: {line}"
    return line


def notebook_cells(chapter: str) -> list[dict]:
    """The cells of ``solutions/<chapter>*.ipynb`` (``chapter`` is e.g. ``"10"``)."""
    [path] = sorted(SOLUTIONS.glob(f"{chapter}_*.ipynb"))
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def assert_exercise_names_only_in_checks(chapter: str, names) -> None:
    """After the cell that defines each exercise name, code uses it only on a line that calls a
    ``ch<chapter>.check_*``: a wrong or unsolved answer can then never make a later cell raise
    (the learner copy runs top to bottom). Comments may name it."""
    cells = ["".join(c["source"]) for c in notebook_cells(chapter) if c["cell_type"] == "code"]
    for name in names:
        pattern = re.compile(rf"(?<![\w.]){name}\b")
        defined = next(i for i, src in enumerate(cells) if re.search(rf"^(def {name}\(|{name} =)", src, re.M))
        for src in cells[defined + 1:]:
            for line in (raw.split("#")[0] for raw in src.splitlines()):
                if pattern.search(line):
                    assert f"ch{chapter}.check_" in line, f"{name} is used outside a check: {line!r}"


def solution_source(chapter: str, defines: str) -> str:
    """The source of the solved notebook's code cell that defines ``def <defines>(`` (or ``class <defines>``)."""
    needles = (f"def {defines}(", f"class {defines}:", f"class {defines}(")
    for cell in notebook_cells(chapter):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and any(needle in source for needle in needles):
            return source
    raise LookupError(f"no code cell of chapter {chapter} defines {defines}()")


def load_solution(chapter: str, name: str, namespace: dict | None = None):
    """Execute the solved notebook's cell that defines ``name`` and return that function (or class).

    ``namespace`` supplies what the cell needs from earlier cells (``np``, ``nnlib`` ...).
    """
    scope = dict(namespace or {})
    exec(compile(solution_source(chapter, name), f"<solutions/{chapter} {name}>", "exec"), scope)
    return scope[name]


def stub(*args, **kwargs):
    """What an unsolved exercise does: the generated learner notebook's body."""
    raise NotImplementedError()
