"""Re-execute solved notebooks in place so their stored outputs are current.

    python scripts/execute_solutions.py                      # every solutions/*.ipynb
    python scripts/execute_solutions.py solutions/03_backprop.ipynb

Each notebook runs top to bottom in a fresh ``python3`` kernel started in the
notebook's folder (as nbval does), with matplotlib's inline backend and one
BLAS thread (as conftest.py gives the test kernels). The saved
file is normalized so diffs stay small and reruns are byte-stable: notebook
metadata is reduced to the kernelspec and language name (no widget state, no
Python version), and per-cell execution timestamps are dropped. Afterwards run
``python scripts/generate_notebooks.py`` to refresh the learner notebooks.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
# the kernels run with the thread settings that pytest gives them (conftest.py is not a package: load it by path)
_spec = importlib.util.spec_from_file_location("conftest", ROOT / "conftest.py")
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)
SINGLE_THREAD_ENV = _conftest.SINGLE_THREAD_ENV
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def normalize(nb) -> None:
    """Keep only stable metadata in a notebook (in place)."""
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("metadata", {}).pop("execution", None)


def execute(path: Path, timeout: int = 600) -> float:
    """Execute one notebook in place; return the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    normalize(nb)
    nbformat.write(nb, path)
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    os.environ.pop("MPLBACKEND", None)  # the kernel then picks the inline backend
    for name, value in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(name, value)
    paths = args.paths or sorted((ROOT / "solutions").glob("*.ipynb"))
    for path in paths:
        print(f"{path}: ", end="", flush=True)
        print(f"{execute(path.resolve()):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
