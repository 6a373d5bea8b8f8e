"""Chapter 00 (course infrastructure): pytest configuration for the whole repository.

- Notebooks: nbval runs every ``.ipynb`` that pytest collects (``--nbval`` in
  pytest.ini). Solved notebooks under ``solutions/`` are strict (each cell's output
  must match the stored one, after tests/nbval_sanitize.cfg); everything else,
  notably the learner notebooks under ``notebooks/`` (stored without outputs), is
  lax (cells must only run). ``python -m pytest --nbval-lax`` makes every notebook
  lax.
- Plots: the kernels get matplotlib's inline backend (an inherited ``MPLBACKEND``,
  e.g. ``Agg`` on CI, would drop the figures the stored outputs contain).
- Each learner notebook runs once: when the browser tests (tests/browser) run it in
  JupyterLab in the same session, lax nbval does not run it a second time (the browser
  test is stricter: only the exercise stubs' NotImplementedError may appear). Without
  the browser tools (and without ``NNLIB_REQUIRE_BROWSER=1``) lax nbval runs it.
- Hypothesis: a derandomized profile, so property tests are deterministic.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

#: pytest-xdist runs two test processes on two cores, so every test process and every
#: notebook kernel gets one BLAS/OpenMP thread: no oversubscription (tiny matrix products
#: stall for seconds otherwise), and stored notebook outputs that do not depend on how
#: many cores a machine has. A variable you set yourself wins.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
for _name, _value in SINGLE_THREAD_ENV.items():
    os.environ.setdefault(_name, _value)

#: Notebooks below these top-level folders have their outputs compared.
STRICT_NOTEBOOK_DIRS = ("solutions",)

try:  # nbval is a test dependency; without it notebooks are simply not collected
    from nbval.plugin import IPyNbFile
except ImportError:  # pragma: no cover
    IPyNbFile = None

try:
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile(
        "nnlib", derandomize=True, deadline=None, database=None, print_blob=True
    )
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "nnlib"))
except ImportError:  # pragma: no cover
    pass


def is_strict_notebook(path: Path, root: Path = ROOT) -> bool:
    """Chapter 00: True for notebooks whose stored outputs nbval must reproduce."""
    try:
        parts = Path(path).resolve().relative_to(root).parts
    except ValueError:
        return False
    return bool(parts) and parts[0] in STRICT_NOTEBOOK_DIRS


def pytest_configure(config):
    """Chapter 00: resolve the sanitize file from the repository root; inline plots."""
    option = config.option
    sanitize = getattr(option, "nbval_sanitize_with", None)
    if sanitize and not os.path.isabs(sanitize) and not os.path.exists(sanitize):
        candidate = Path(config.rootpath) / sanitize
        if candidate.exists():
            option.nbval_sanitize_with = str(candidate)
    if getattr(option, "nbval", False) or getattr(option, "nbval_lax", False):
        # ipykernel selects the inline backend only when MPLBACKEND is unset.
        os.environ.pop("MPLBACKEND", None)


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    """Chapter 00: make nbval strict under solutions/ and lax elsewhere."""
    collected = yield
    if IPyNbFile is None:
        return collected
    everything_lax = getattr(parent.config.option, "nbval_lax", False)
    for node in collected or ():
        if isinstance(node, IPyNbFile):
            # read by IPyNbFile.collect() when it builds each cell's options
            node.compare_outputs = (not everything_lax) and is_strict_notebook(file_path)
    return collected


BROWSER_TEST = "test_notebook_in_jupyterlab["


def _browser_runs_notebooks() -> bool:
    """True when tests/browser's notebook tests will really run (tools present, or required)."""
    if os.environ.get("NNLIB_REQUIRE_BROWSER") == "1":
        return True  # they run, or fail saying what is missing: either way not skipped
    import importlib.util
    import sys

    helpers = sys.modules.get("browser_helpers")  # tests/browser/conftest.py imported it
    if helpers is None:
        spec = importlib.util.spec_from_file_location(
            "browser_helpers", ROOT / "tests" / "browser" / "browser_helpers.py")
        helpers = importlib.util.module_from_spec(spec)
        sys.modules["browser_helpers"] = helpers
        spec.loader.exec_module(helpers)
    return helpers.missing_browser_tools() is None


def pytest_collection_modifyitems(config, items):
    """Chapter 00: a learner notebook the browser test runs is not run again by lax nbval."""
    in_browser = {item.nodeid.split(BROWSER_TEST, 1)[1].rstrip("]")
                  for item in items if BROWSER_TEST in item.nodeid}
    if not in_browser or not _browser_runs_notebooks():
        return
    keep, dropped = [], []
    for item in items:
        path = Path(str(item.fspath)).resolve()
        try:
            relative = path.relative_to(ROOT).as_posix()
        except ValueError:
            relative = None
        if IPyNbFile is not None and relative in in_browser and not is_strict_notebook(path):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
