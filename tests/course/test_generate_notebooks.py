"""Chapter 00: the learner notebooks are generated from the solved ones (scripts/generate_notebooks.py)."""

from tests import REPO_ROOT
import importlib.util
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = REPO_ROOT
_spec = importlib.util.spec_from_file_location("generate_notebooks", ROOT / "scripts" / "generate_notebooks.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def solved(*cells, metadata=None):
    """A solutions-style notebook: the setup cell, then ``cells``."""
    nb = new_notebook(cells=[new_code_cell(gen.SETUP_CELL), *cells], metadata=metadata or {})
    return nb


# --------------------------------------------------------------- the repository
def test_notebooks_folder_is_exactly_what_the_generator_writes():
    problems = gen.stale_notebooks(ROOT / "solutions", ROOT / "notebooks")
    assert not problems, (
        "notebooks/ is out of date; run `python scripts/generate_notebooks.py`:\n" + "\n".join(problems)
    )


def test_every_solutions_notebook_starts_with_the_setup_cell():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        gen.check_setup_cell(nbformat.read(str(path), as_version=4), str(path))


# ------------------------------------------------------------ code solution blocks
def test_top_level_block_becomes_stub():
    new, stubs = gen.replace_code_solutions("x = 1\n### BEGIN SOLUTION\ny = x + 1\n### END SOLUTION\nprint(y)")
    assert new == "x = 1\n" + STUB + "\nprint(y)"
    assert stubs == [(2, "")]
    assert gen.stub_raises_when_run(new, stubs)


def test_nested_indentation_is_kept():
    source = (
        "class Net:\n"
        "    def forward(self, x):\n"
        "        if x > 0:\n"
        "            ### BEGIN SOLUTION\n"
        "            return x\n"
        "            ### END SOLUTION\n"
        "        return 0\n"
    )
    new, stubs = gen.replace_code_solutions(source)
    assert new == (
        "class Net:\n"
        "    def forward(self, x):\n"
        "        if x > 0:\n"
        "            # YOUR CODE HERE\n"
        "            raise NotImplementedError()\n"
        "        return 0\n"
    )
    assert stubs == [(4, " " * 12)]
    assert not gen.stub_raises_when_run(new, stubs)


def test_multiple_blocks_in_one_cell():
    source = (
        "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\n"
        "def g(x):\n\t### BEGIN SOLUTION\n\treturn 3 * x\n\t### END SOLUTION\n"
    )
    new, stubs = gen.replace_code_solutions(source)
    assert new.count("raise NotImplementedError()") == 2
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in new
    assert "\t# YOUR CODE HERE\n\traise NotImplementedError()" in new
    assert "2 * x" not in new and "3 * x" not in new
    assert [indent for _, indent in stubs] == ["    ", "\t"]
    assert not gen.stub_raises_when_run(new, stubs)


def test_block_inside_top_level_loop_raises_when_run():
    new, stubs = gen.replace_code_solutions("for i in range(3):\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION")
    assert stubs[0][1] == "    "
    assert gen.stub_raises_when_run(new, stubs)


def test_magics_fall_back_or_translate():
    new, stubs = gen.replace_code_solutions("%matplotlib inline\n### BEGIN SOLUTION\nw = 1\n### END SOLUTION")
    assert gen.stub_raises_when_run(new, stubs)
    new, stubs = gen.replace_code_solutions("%matplotlib inline\ndef f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION")
    assert not gen.stub_raises_when_run(new, stubs)


def test_cell_without_blocks_is_unchanged():
    source = "print('### not a marker')\n# BEGIN SOLUTION is only a marker on its own line"
    assert gen.replace_code_solutions(source) == (source, [])


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without a '### BEGIN SOLUTION'"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside the block opened at line 1"),
    ],
)
def test_unbalanced_code_markers_fail_clearly(source, message):
    with pytest.raises(gen.SolutionMarkerError, match=message) as info:
        gen.replace_code_solutions(source, "solutions/03_x.ipynb, cell 4")
    assert "solutions/03_x.ipynb, cell 4: line" in str(info.value)


# -------------------------------------------------------------- markdown answers
def test_markdown_answers_are_replaced():
    text = "Q1: <!-- BEGIN SOLUTION -->yes<!-- END SOLUTION -->\n\nQ2:\n<!-- BEGIN SOLUTION -->\nBecause\nof $x^2$.\n<!-- END SOLUTION -->\nend"
    new, count = gen.replace_markdown_solutions(text)
    assert count == 2
    assert new == "Q1: *Your answer here.*\n\nQ2:\n*Your answer here.*\nend"


@pytest.mark.parametrize(
    "text, message",
    [
        ("<!-- BEGIN SOLUTION --> open", "never closed"),
        ("close <!-- END SOLUTION -->", "without a"),
        ("<!-- BEGIN SOLUTION --><!-- BEGIN SOLUTION --><!-- END SOLUTION -->", "inside the answer"),
    ],
)
def test_unbalanced_markdown_markers_fail_clearly(text, message):
    with pytest.raises(gen.SolutionMarkerError, match=message):
        gen.replace_markdown_solutions(text, "nb")


# ----------------------------------------------------------------- whole notebooks
def _executed_cell(source, text="out\n", tags=None):
    cell = new_code_cell(source, execution_count=3, outputs=[new_output("stream", name="stdout", text=text)])
    cell.metadata = {"tags": tags or [], "collapsed": False, "scrolled": True}
    return cell


def test_learner_notebook_is_clean_and_tagged():
    nb = solved(
        _executed_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
        _executed_cell("### BEGIN SOLUTION\nw = 2\n### END SOLUTION", tags=["keep-me"]),
        new_markdown_cell("Answer: <!-- BEGIN SOLUTION -->42<!-- END SOLUTION -->"),
        metadata={"language_info": {"name": "python", "version": "3.11.7"}, "widgets": {"state": {}}},
    )
    out = gen.make_learner_notebook(nb, "test")
    assert out.metadata == gen.NOTEBOOK_METADATA
    code = [cell for cell in out.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert code[1].metadata == {}
    assert code[2].metadata == {"tags": ["keep-me", "raises-exception"]}
    assert code[2].source == STUB
    assert out.cells[-1].source == "Answer: *Your answer here.*"
    nbformat.validate(out)


def test_output_is_deterministic_and_ends_with_newline():
    nb = solved(_executed_cell("### BEGIN SOLUTION\nw = 2\n### END SOLUTION"))
    first = gen.render(gen.make_learner_notebook(nb, "a"))
    second = gen.render(gen.make_learner_notebook(nbformat.reads(nbformat.writes(nb), 4), "a"))
    assert first == second
    assert first.endswith("}\n")
    assert json.loads(first)["cells"][1]["source"] == ["# YOUR CODE HERE\n", "raise NotImplementedError()"]


def test_cell_ids_are_kept_or_made_deterministic():
    nb = solved(new_code_cell("x = 1"), new_code_cell("y = 2"))
    nb.cells[1].id = nb.cells[2].id = "same-id"
    out = gen.make_learner_notebook(nb, "ids")
    ids = [cell.id for cell in out.cells]
    assert ids[0] == nb.cells[0].id and ids[1] == "same-id" and ids[2] == "cell-2"


def test_setup_cell_is_required():
    nb = new_notebook(cells=[new_markdown_cell("# Title"), new_code_cell("import numpy as np")])
    with pytest.raises(gen.SolutionMarkerError, match="standard setup cell") as info:
        gen.make_learner_notebook(nb, "solutions/05_data.ipynb")
    assert "solutions/05_data.ipynb" in str(info.value) and "line 1" in str(info.value)
    with pytest.raises(gen.SolutionMarkerError, match="has no code cell"):
        gen.make_learner_notebook(new_notebook(cells=[new_markdown_cell("x")]), "nb")
    # a trailing newline after the setup cell is fine
    gen.check_setup_cell(new_notebook(cells=[new_code_cell(gen.SETUP_CELL + "\n")]), "nb")


# --------------------------------------------------------------------------- CLI
def test_cli_writes_then_checks(tmp_path, capsys):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    nbformat.write(solved(_executed_cell("### BEGIN SOLUTION\nw = 2\n### END SOLUTION")), str(solutions / "01_a.ipynb"))
    args = ["--solutions", str(solutions), "--notebooks", str(notebooks)]

    assert gen.main(args + ["--check"]) == 1
    assert "notebooks/01_a.ipynb: missing" in capsys.readouterr().out
    assert gen.main(args) == 0
    written = (notebooks / "01_a.ipynb").read_bytes()
    assert gen.main(args + ["--check"]) == 0
    assert gen.main(args) == 0
    assert (notebooks / "01_a.ipynb").read_bytes() == written

    (notebooks / "01_a.ipynb").write_bytes(written.replace(b"YOUR CODE", b"MY CODE"))
    (notebooks / "99_orphan.ipynb").write_bytes(written)
    capsys.readouterr()
    assert gen.main(args + ["--check"]) == 1
    out = capsys.readouterr().out
    assert "notebooks/01_a.ipynb: differs" in out
    assert "notebooks/99_orphan.ipynb: has no source" in out
    assert gen.main(args + ["--prune"]) == 0
    assert not (notebooks / "99_orphan.ipynb").exists()
    assert gen.main(args + ["--check"]) == 0


def test_cli_reports_marker_errors(tmp_path, capsys):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(solved(new_code_cell("### BEGIN SOLUTION\nw = 2")), str(solutions / "02_b.ipynb"))
    assert gen.main(["--solutions", str(solutions), "--notebooks", str(tmp_path / "nb")]) == 2
    err = capsys.readouterr().err
    assert "solutions/02_b.ipynb, cell 1: line 1" in err and "never closed" in err
