"""Chapter 00: Binder's configuration builds an environment in which the course runs.

Binder (repo2docker) builds the learner's environment from binder/ alone:
``pip install -r binder/requirements.txt``, then ``binder/postBuild`` run from
the repository's root. This test does the same in a fresh virtual environment
(no system site-packages) on a copy of the checkout, then imports nnlib there and
executes one notebook (solutions/00_setup.ipynb, or the first one there is) in a
kernel of that environment. So binder/ cannot rot unnoticed.

It takes a few minutes (JupyterLab and PyTorch are installed from scratch; pip's
cache and the local wheel help). PIP_RETRIES=0 makes pip give up at once on an
index this machine cannot reach (Binder's extra PyTorch CPU index) instead of
retrying it for every package; what gets installed is the same.
"""

from __future__ import annotations
from tests import REPO_ROOT

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import venv
import warnings
from pathlib import Path

import pytest

REPO = REPO_ROOT
BINDER = REPO / "binder"

#: Not part of what Binder would see in a clone (ignored or written by tests).
_NOT_IN_CLONE = (".git", ".pytest_cache", ".hypothesis", ".benchmarks", "test-artifacts",
                 "build", "dist", "*.egg-info", "__pycache__", ".ipynb_checkpoints",
                 ".venv", "venv")


def _notebook_to_run() -> Path | None:
    preferred = REPO / "solutions" / "00_setup.ipynb"
    if preferred.is_file():
        return preferred
    found = sorted((REPO / "solutions").glob("*.ipynb")) + sorted((REPO / "notebooks").glob("*.ipynb"))
    return found[0] if found else None


def _run(cmd, cwd, env, what, timeout=1800):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, (
        f"{what} failed (exit {result.returncode}); as Binder would, it ran {cmd} in {cwd}.\n"
        f"--- stdout (end) ---\n{result.stdout[-4000:]}\n--- stderr (end) ---\n{result.stderr[-4000:]}")
    return result


# Runs in the new environment: executes the notebook with nbclient and reports
# which Python the kernel ran and where nnlib came from.
_EXECUTE = textwrap.dedent("""
    import json, sys
    import nbformat
    from nbclient import NotebookClient
    path, workdir = sys.argv[1], sys.argv[2]
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json as _j, sys as _s, nnlib as _n\\n"
        "print(_j.dumps({'prefix': _s.prefix, 'nnlib': _n.__file__}))"))
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": workdir}})
    client.execute()
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"
              and "raises-exception" not in c.metadata.get("tags", [])]
    probe = json.loads(nb.cells[-1].outputs[0]["text"])
    print(json.dumps({"errors": errors, "kernel": probe}))
""")


def test_binder_environment_runs_a_notebook(tmp_path):
    requirements = BINDER / "requirements.txt"
    if not requirements.is_file():
        pytest.skip("binder/requirements.txt does not exist yet")
    if (BINDER / "environment.yml").is_file():
        pytest.skip("binder/environment.yml (conda) is not reproduced by this test")
    notebook = _notebook_to_run()
    if notebook is None:
        pytest.skip("no notebook in solutions/ or notebooks/ yet")

    runtime = BINDER / "runtime.txt"
    if runtime.is_file():
        match = re.fullmatch(r"python-(\d+)\.(\d+)", runtime.read_text().strip())
        assert match, f"binder/runtime.txt must read like 'python-3.11', got {runtime.read_text()!r}"
        if tuple(map(int, match.groups())) != sys.version_info[:2]:
            warnings.warn(f"binder/runtime.txt asks for Python {'.'.join(match.groups())}; "
                          f"this test builds the environment with {sys.version.split()[0]}")

    # What repo2docker sees: the repository, in a folder of its own.
    clone = tmp_path / "repo"
    shutil.copytree(REPO, clone, ignore=shutil.ignore_patterns(*_NOT_IN_CLONE), symlinks=True)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = str(bindir / "python")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "JUPYTER_PATH", "MPLBACKEND")}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(env_dir),
               PIP_RETRIES="0", PIP_DISABLE_PIP_VERSION_CHECK="1")

    _run([python, "-m", "pip", "install", "-r", "binder/requirements.txt"], clone, env,
         "pip install -r binder/requirements.txt")
    post_build = clone / "binder" / "postBuild"
    if post_build.exists():
        assert os.access(post_build, os.X_OK), \
            "binder/postBuild must be executable (repo2docker runs it as a program): chmod +x"
        _run([str(post_build)], clone, env, "binder/postBuild")

    work = tmp_path / "work"
    work.mkdir()
    _run([python, "-c", "import nnlib, nnlib.datasets; nnlib.datasets.load_breast_cancer()"],
         work, env, "import nnlib in the Binder environment")

    script = tmp_path / "execute_notebook.py"
    script.write_text(_EXECUTE, encoding="utf-8")
    nb_copy = clone / notebook.relative_to(REPO)
    result = _run([python, str(script), str(nb_copy), str(nb_copy.parent)], work, env,
                  f"executing {notebook.relative_to(REPO)} in the Binder environment")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], f"{notebook.name} raised errors: {report['errors']}"
    kernel = report["kernel"]
    assert Path(kernel["prefix"]).resolve() == env_dir.resolve(), \
        f"the notebook ran in {kernel['prefix']}, not in the Binder environment {env_dir}"
    assert Path(kernel["nnlib"]).resolve().is_relative_to(clone.resolve()) or \
        Path(kernel["nnlib"]).resolve().is_relative_to(env_dir.resolve()), \
        f"nnlib came from {kernel['nnlib']}, not from the Binder environment"
