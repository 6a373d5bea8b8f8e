"""Chapter 00: every course notebook works in JupyterLab, in a real (headless) browser.

For each learner notebook of notebooks/ (found when the tests are collected;
the solved copies are strict nbval's), the test opens it in JupyterLab, runs "Run All Cells" from the Run
menu and checks what a learner would see:

- every code cell ran (a number in its prompt);
- solutions/ shows no error at all; notebooks/ shows only NotImplementedError
  (the exercise stubs the learner fills in);
- every ipywidgets output is rendered as a control, and every slider moves
  when dragged and changes the output it drives;
- plots are images: at least as many as code cells that call plt.show().

A screenshot of each notebook goes to test-artifacts/browser/ (its path is in
the failure message) and test-artifacts/browser/summary.json holds the numbers.

Two self-tests first run small notebooks made here, one good and one broken,
to prove the checks pass what works and catch what does not.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from run_budget import budget
from browser_helpers import (
    ARTIFACTS,
    COLLECT_JS,
    REPO,
    NotebookSession,
    close_all,
    course_notebooks,
)

pytestmark = pytest.mark.browser

NOTEBOOKS = course_notebooks(REPO)


def _artifact_name(path: str) -> Path:
    return ARTIFACTS / (path.replace("/", "__").removesuffix(".ipynb") + ".png")


def run_notebook(page, server, path: str, allow_not_implemented: bool, report_list=None,
                 timeout: float | None = None):
    """Run one notebook through the Run menu and return (report, problems).

    ``timeout``: seconds from Run All Cells to the last cell (default RUN_TIMEOUT)."""
    session = NotebookSession(page, server, path, allow_not_implemented)
    problems: list[str] = []
    phases = session.report.phases
    clock = time.monotonic()

    def lap(name):
        nonlocal clock
        now = time.monotonic()
        phases[name] = round(now - clock, 1)
        clock = now

    try:
        session.open()
        lap("open")
        session.run_all_from_menu()
        state = session.wait_until_done() if timeout is None else session.wait_until_done(timeout)
        lap("run")
        state = session.wait_for_widgets()
        skip = {c["index"] for c in state["cells"] if "no-browser-drive" in c["tags"]}
        problems += session.check_executed(state)
        problems += session.check_errors(state)
        problems += session.check_widgets(state)
        problems += session.check_images(state)
        lap("checks")
        problems += session.check_sliders(skip_cells=skip)
        after = session.page.evaluate(COLLECT_JS)
        problems += session.check_errors(after, when="after dragging the sliders")
        lap("sliders")
    except Exception as exc:  # a timeout or a page error is a finding too
        problems.append(f"{type(exc).__name__}: {exc}")
        lap("until the failure")
    finally:
        try:
            shot = session.screenshot(_artifact_name(path), full=bool(problems))
        except Exception as exc:
            shot = f"(no screenshot: {exc})"
        lap("screenshot")
        session.report.problems = problems
        if report_list is not None:
            report_list.append(session.report)
    print(f"{path}: {session.report.seconds:.1f} s, {session.report.code_cells} cells, "
          f"{session.report.widgets} widgets, {session.report.sliders} sliders, "
          f"{session.report.images} images; phases {phases}; screenshot {shot}")
    return session.report, problems


# -- self-tests of the checks -------------------------------------------------

def _write_notebook(path: Path, cells: list[tuple[str, list[str]]]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


GOOD_CELLS = [
    ("import numpy as np\nimport matplotlib.pyplot as plt\nimport ipywidgets as widgets", []),
    ("x = np.linspace(-3, 3, 41)\nplt.plot(x, np.tanh(x))\nplt.show()", []),
    ("def draw(w=1.0):\n    plt.figure(figsize=(3, 2))\n    plt.plot(x, 1 / (1 + np.exp(-w * x)))\n"
     "    plt.title(f'w = {w:.1f}')\n    plt.show()\n\n"
     "widgets.interact(draw, w=widgets.FloatSlider(value=1.0, min=-4.0, max=4.0, step=0.5));", []),
    ("n = widgets.IntSlider(value=3, min=0, max=10, description='n')\nout = widgets.Output()\n"
     "def show(change):\n    with out:\n        out.clear_output()\n        print('n squared is', change['new'] ** 2)\n"
     "n.observe(show, names='value')\ndisplay(n, out)", []),
    ("def exercise(v):\n    raise NotImplementedError('your code here')\n\nexercise(1)",
     ["raises-exception"]),
    ("print('the end')", []),
]

BROKEN_CELLS = [
    ("import numpy as np\nimport matplotlib.pyplot as plt\nimport ipywidgets as widgets", []),
    ("s = widgets.IntSlider(value=2, min=0, max=9, description='idle')\ndisplay(s)", []),
    ("plt.plot([1, 2, 3])\nplt.close()\nplt.show()", []),
    ("raise ValueError('a tagged error is still an error in solutions/')", ["raises-exception"]),
    ("1 / 0", []),
    ("print('never runs')", []),
]


def test_selftest_good_notebook_passes(page, lab_server, lab_root):
    """The sample notebook (plots, an interact slider, an observed slider, a stub) passes
    as a learner's notebook and fails as a solution only because of its stub."""
    _write_notebook(lab_root / "selftest" / "good.ipynb", GOOD_CELLS)
    report, problems = run_notebook(page, lab_server, "selftest/good.ipynb",
                                    allow_not_implemented=True)
    assert problems == [], "\n".join(problems)
    assert report.sliders == 2 and report.widgets >= 3 and report.images >= 2, vars(report)

    close_all(page)
    lab_server.shutdown_sessions()
    _, problems = run_notebook(page, lab_server, "selftest/good.ipynb",
                               allow_not_implemented=False)
    assert len(problems) == 1 and "NotImplementedError" in problems[0], problems


def test_selftest_broken_notebook_is_caught(page, lab_server, lab_root):
    """A broken notebook yields one clear finding per fault."""
    _write_notebook(lab_root / "selftest" / "broken.ipynb", BROKEN_CELLS)
    _, problems = run_notebook(page, lab_server, "selftest/broken.ipynb",
                               allow_not_implemented=False)
    text = "\n".join(problems)
    assert "did not run" in text and "print('never runs')" in text, text
    assert "ValueError" in text and "ZeroDivisionError" in text, text
    assert "plot images in the page, but 1 code cells call plt.show()" in text, text
    assert "slider 'idle'" in text and "no output changed" in text, text


# -- the course's notebooks ---------------------------------------------------

@pytest.mark.parametrize(
    "path",
    NOTEBOOKS or [pytest.param("none", marks=pytest.mark.skip(
        reason="no notebooks in notebooks/ or solutions/ yet"))],
)
def test_notebook_in_jupyterlab(path, page, lab_server, browser_summary, machine_speed):
    """Run All Cells from the Run menu; check errors, widgets, sliders and plots.

    The run's budget is the notebook's recorded run time with a wide margin, scaled by
    this machine's measured speed (run_budget.py): a slow machine is no failure."""
    allow_stubs = path.startswith("notebooks/")
    report, problems = run_notebook(page, lab_server, path, allow_stubs, browser_summary,
                                    timeout=budget(path, machine_speed))
    if problems:
        pytest.fail(f"{path} in JupyterLab ({len(problems)} problems; screenshot "
                    f"{report.screenshot}):\n  - " + "\n  - ".join(problems), pytrace=False)
