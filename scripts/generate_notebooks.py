#!/usr/bin/env python3
"""Generate the learner notebooks in notebooks/ from the solved ones in solutions/.

Chapter 00 (how exercises work): solutions/NN_name.ipynb is the single source of
truth for every lesson. Each exercise's answer sits between two marker lines,

    ### BEGIN SOLUTION
    ...the answer...
    ### END SOLUTION

indented like the code around them. This script writes notebooks/NN_name.ipynb with
every such block replaced by

    # YOUR CODE HERE
    raise NotImplementedError()

at the block's indentation. In Markdown cells, a written answer between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` becomes ``*Your answer here.*``.
All outputs and execution counts are cleared, metadata is reduced to a fixed minimum,
and a code cell whose stub raises when the cell runs (the block is not inside a
function body) gets the standard Jupyter tag ``raises-exception``, so that
JupyterLab's "Run All" and nbval carry on past it.

Usage (from anywhere; paths default to the repository this script lives in):

    python scripts/generate_notebooks.py           # (re)write notebooks/
    python scripts/generate_notebooks.py --check   # exit 1 if notebooks/ is stale

The same input always gives byte-identical output.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The first code cell of every notebook, exactly. It installs nnlib where it is
#: missing (Colab, a bare kernel) and does nothing where it is installed.
SETUP_CELL = (
    "# Setup: on Colab (or any kernel without nnlib) install the course's framework; "
    "elsewhere this does nothing.\n"
    "import importlib.util, os, subprocess, sys\n"
    'if importlib.util.find_spec("nnlib") is None:\n'
    '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
    '                    os.environ.get("NNLIB_SOURCE", '
    '"nnlib @ git+https://github.com/nnlib-course/from-scratch-llm")], check=True)'
)

BEGIN_CODE = "### BEGIN SOLUTION"
END_CODE = "### END SOLUTION"
STUB_COMMENT = "# YOUR CODE HERE"
STUB_RAISE = "raise NotImplementedError()"

BEGIN_MD = "<!-- BEGIN SOLUTION -->"
END_MD = "<!-- END SOLUTION -->"
MD_STUB = "*Your answer here.*"

RAISES_TAG = "raises-exception"

#: Notebook-level metadata of every generated notebook (nothing machine-specific).
NOTEBOOK_METADATA = {
    "kernelspec": {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    },
    "language_info": {"name": "python"},
}

_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_MD_MARKER = re.compile(re.escape(BEGIN_MD) + "|" + re.escape(END_MD))


class SolutionMarkerError(ValueError):
    """Chapter 00: a solutions notebook breaks the exercise-marker rules."""


def _lines(source: str) -> list[str]:
    return source.split("\n")


def replace_code_solutions(source: str, where: str = "cell") -> tuple[str, list[tuple[int, str]]]:
    """Chapter 00: replace every ``### BEGIN/END SOLUTION`` block in code ``source``.

    Returns ``(new_source, stubs)`` where ``stubs`` lists, for each block, the
    0-based line number of its ``raise NotImplementedError()`` line in
    ``new_source`` and the block's indentation. Raises SolutionMarkerError (naming
    ``where`` and the line) for an END without BEGIN, a BEGIN inside a block, or a
    BEGIN that is never closed.
    """
    out: list[str] = []
    stubs: list[tuple[int, str]] = []
    open_line = None  # 1-based line number of the open BEGIN marker
    indent = ""
    for number, line in enumerate(_lines(source), start=1):
        stripped = line.strip()
        if stripped == BEGIN_CODE:
            if open_line is not None:
                raise SolutionMarkerError(
                    f"{where}: line {number}: '{BEGIN_CODE}' inside the block opened at line "
                    f"{open_line}; close that one with '{END_CODE}' first."
                )
            open_line = number
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + STUB_COMMENT)
            stubs.append((len(out), indent))
            out.append(indent + STUB_RAISE)
        elif stripped == END_CODE:
            if open_line is None:
                raise SolutionMarkerError(
                    f"{where}: line {number}: '{END_CODE}' without a '{BEGIN_CODE}' before it."
                )
            open_line = None
        elif open_line is None:
            out.append(line)
    if open_line is not None:
        raise SolutionMarkerError(
            f"{where}: line {open_line}: '{BEGIN_CODE}' is never closed; add '{END_CODE}' "
            "after the solution, at the same indentation."
        )
    return "\n".join(out), stubs


def replace_markdown_solutions(text: str, where: str = "cell") -> tuple[str, int]:
    """Chapter 00: replace each ``<!-- BEGIN SOLUTION -->...<!-- END SOLUTION -->`` span.

    The span (markers included, possibly over several lines) becomes
    ``*Your answer here.*``. Returns ``(new_text, number_of_spans)``; unbalanced or
    nested markers raise SolutionMarkerError naming ``where``.
    """
    pieces: list[str] = []
    pos = 0
    open_at = None
    count = 0
    for match in _MD_MARKER.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match.group() == BEGIN_MD:
            if open_at is not None:
                raise SolutionMarkerError(
                    f"{where}: line {line}: '{BEGIN_MD}' inside the answer opened at line "
                    f"{open_at[1]}; close that one with '{END_MD}' first."
                )
            pieces.append(text[pos : match.start()])
            open_at = (match.start(), line)
        else:
            if open_at is None:
                raise SolutionMarkerError(
                    f"{where}: line {line}: '{END_MD}' without a '{BEGIN_MD}' before it."
                )
            pieces.append(MD_STUB)
            count += 1
            open_at = None
        pos = match.end()
    if open_at is not None:
        raise SolutionMarkerError(
            f"{where}: line {open_at[1]}: '{BEGIN_MD}' is never closed; add '{END_MD}'."
        )
    pieces.append(text[pos:])
    return "".join(pieces), count


def _python_source(source: str) -> str | None:
    """Cell source as plain Python with the same line numbers, or None if unparsable.

    IPython magics (``%time``, ``!pip``) are translated when IPython is installed;
    a translation that changes the number of lines is not used.
    """
    candidates = [source]
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        translated = TransformerManager().transform_cell(source)
        if translated.rstrip("\n").count("\n") == source.rstrip("\n").count("\n"):
            candidates.insert(0, translated)
    except Exception:  # IPython missing or the translation failed: try the raw text
        pass
    for text in candidates:
        try:
            ast.parse(text)
        except SyntaxError:
            continue
        return text
    return None


def _raises_outside_functions(tree: ast.AST) -> set[int]:
    """Line numbers (1-based) of ``raise`` statements not inside a function body."""
    lines: set[int] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            if isinstance(child, ast.Raise) and not in_function:
                lines.add(child.lineno)
            visit(child, inside)

    visit(tree, False)
    return lines


def stub_raises_when_run(new_source: str, stubs: list[tuple[int, str]]) -> bool:
    """Chapter 00: does running this stubbed cell execute one of its ``raise`` stubs?

    A stub inside a ``def`` raises only when the function is called, so the cell
    runs cleanly; a stub at the top level (or in a top-level ``if``/``for``/``with``)
    raises as soon as the cell runs. Falls back to "indentation 0 raises" when the
    cell cannot be parsed as Python.
    """
    if not stubs:
        return False
    text = _python_source(new_source)
    if text is None:
        return any(indent == "" for _, indent in stubs)
    top_level = _raises_outside_functions(ast.parse(text))
    return any(index + 1 in top_level for index, _ in stubs)


def check_setup_cell(nb, where: str) -> None:
    """Chapter 00: fail clearly unless the first code cell is exactly SETUP_CELL."""
    first = next((cell for cell in nb.cells if cell.cell_type == "code"), None)
    if first is None:
        raise SolutionMarkerError(
            f"{where}: has no code cell; its first code cell must be the standard setup cell "
            "(SETUP_CELL in scripts/generate_notebooks.py)."
        )
    got = first.source.rstrip()
    if got == SETUP_CELL:
        return
    want_lines, got_lines = SETUP_CELL.split("\n"), got.split("\n")
    for number, (want, have) in enumerate(zip(want_lines + [""] * 9, got_lines + [""] * 9), 1):
        if want != have:
            break
    raise SolutionMarkerError(
        f"{where}: the first code cell must be exactly the standard setup cell "
        f"(SETUP_CELL in scripts/generate_notebooks.py). First difference at line {number}:\n"
        f"  expected: {want!r}\n  found:    {have!r}\n"
        "Copy SETUP_CELL into the notebook's first code cell."
    )


def _clean_metadata(metadata, extra_tags=()) -> dict:
    tags = [tag for tag in metadata.get("tags", []) if isinstance(tag, str)]
    for tag in extra_tags:
        if tag not in tags:
            tags.append(tag)
    return {"tags": tags} if tags else {}


def make_learner_notebook(nb, where: str = "notebook"):
    """Chapter 00: the learner version of a solved notebook (a new NotebookNode).

    Checks the setup cell, stubs every solution block, clears outputs and execution
    counts, keeps only cell tags (adding ``raises-exception`` where a stub raises when
    the cell runs) and sets fixed notebook metadata.
    """
    check_setup_cell(nb, where)
    cells = []
    seen_ids: set[str] = set()
    for index, cell in enumerate(nb.cells):
        cell_where = f"{where}, cell {index}"
        source = cell.source
        extra_tags: list[str] = []
        if cell.cell_type == "code":
            source, stubs = replace_code_solutions(source, cell_where)
            if stub_raises_when_run(source, stubs):
                extra_tags.append(RAISES_TAG)
            new = nbformat.v4.new_code_cell(source=source)
        elif cell.cell_type == "markdown":
            source, _ = replace_markdown_solutions(source, cell_where)
            new = nbformat.v4.new_markdown_cell(source=source)
            if cell.get("attachments"):
                new.attachments = copy.deepcopy(cell.attachments)
        else:
            new = nbformat.v4.new_raw_cell(source=source)
        new.metadata = nbformat.from_dict(_clean_metadata(cell.get("metadata", {}), extra_tags))
        cell_id = cell.get("id")
        if not (isinstance(cell_id, str) and _CELL_ID.match(cell_id)) or cell_id in seen_ids:
            cell_id = f"cell-{index}"
        while cell_id in seen_ids:
            cell_id += "-x"
        seen_ids.add(cell_id)
        new.id = cell_id
        cells.append(new)
    out = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(NOTEBOOK_METADATA))
    out.nbformat, out.nbformat_minor = 4, 5
    return out


def render(nb) -> str:
    """Chapter 00: the notebook as nbformat writes it (sorted keys), with a final newline."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def generate(solutions_dir: Path) -> dict[str, str]:
    """Chapter 00: map each solutions/*.ipynb file name to its learner notebook's text."""
    result = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        where = str(path.relative_to(solutions_dir.parent)) if solutions_dir.parent in path.parents else str(path)
        result[path.name] = render(make_learner_notebook(nb, where))
    return result


def stale_notebooks(solutions_dir: Path, notebooks_dir: Path) -> list[str]:
    """Chapter 00: human-readable problems that make notebooks/ differ from the generator."""
    expected = generate(solutions_dir)
    problems = []
    for name, text in expected.items():
        target = notebooks_dir / name
        if not target.exists():
            problems.append(f"{notebooks_dir.name}/{name}: missing")
        elif target.read_bytes() != text.encode("utf-8"):
            problems.append(f"{notebooks_dir.name}/{name}: differs from what {solutions_dir.name}/{name} generates")
    for target in sorted(notebooks_dir.glob("*.ipynb")):
        if target.name not in expected:
            problems.append(f"{notebooks_dir.name}/{target.name}: has no source {solutions_dir.name}/{target.name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Chapter 00: command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and list the files that differ")
    parser.add_argument("--prune", action="store_true",
                        help="also delete notebooks/*.ipynb that have no solutions/ source")
    parser.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions")
    parser.add_argument("--notebooks", type=Path, default=REPO_ROOT / "notebooks")
    args = parser.parse_args(argv)

    try:
        if args.check:
            problems = stale_notebooks(args.solutions, args.notebooks)
            for problem in problems:
                print(problem)
            if problems:
                print("Run: python scripts/generate_notebooks.py", file=sys.stderr)
                return 1
            print(f"{args.notebooks.name}/ is up to date.")
            return 0
        expected = generate(args.solutions)
    except SolutionMarkerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    args.notebooks.mkdir(parents=True, exist_ok=True)
    changed = 0
    for name, text in expected.items():
        target = args.notebooks / name
        data = text.encode("utf-8")
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
            changed += 1
            print(f"wrote {args.notebooks.name}/{name}")
    for target in sorted(args.notebooks.glob("*.ipynb")):
        if target.name not in expected:
            if args.prune:
                target.unlink()
                print(f"deleted {args.notebooks.name}/{target.name} (no solutions source)")
            else:
                print(f"warning: {args.notebooks.name}/{target.name} has no solutions source "
                      "(use --prune to delete it)", file=sys.stderr)
    print(f"{len(expected)} notebook(s), {changed} written.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
