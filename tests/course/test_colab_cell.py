"""Chapter 00: the first cell of every notebook, which installs nnlib where it is missing.

On Colab (or any kernel without nnlib) the learner's first cell pip-installs the
course's framework from ``$NNLIB_SOURCE`` (by default the published source);
where nnlib is already importable it must do nothing. The cell's text is
``SETUP_CELL`` in scripts/generate_notebooks.py; these tests run that exact text:

- in this environment (nnlib installed), with NNLIB_SOURCE pointing nowhere: it
  succeeds and never calls pip;
- in a fresh virtual environment without nnlib (only NumPy), with NNLIB_SOURCE
  set to a wheel built from this checkout: afterwards ``import nnlib`` works and
  the shipped breast-cancer table loads.

Each runs in a subprocess whose working directory is a temporary folder, so the
checkout itself is never what makes ``import nnlib`` work.
"""

from __future__ import annotations
from tests import REPO_ROOT

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

REPO = REPO_ROOT
GENERATOR = REPO / "scripts" / "generate_notebooks.py"

#: Folders of a checkout that a wheel build never needs (or that tests write).
_NOT_SOURCE = (".git", ".pytest_cache", ".hypothesis", ".benchmarks", "test-artifacts",
               "build", "dist", "*.egg-info", "__pycache__", ".ipynb_checkpoints",
               ".venv", "venv", "notebooks", "solutions", "tests", "benchmarks")


def load_setup_cell() -> str:
    """Chapter 00: SETUP_CELL, read from scripts/generate_notebooks.py by path."""
    if not GENERATOR.is_file():
        pytest.skip(f"{GENERATOR} does not exist yet")
    spec = importlib.util.spec_from_file_location("_generate_notebooks", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cell = getattr(module, "SETUP_CELL", None)
    assert isinstance(cell, str) and cell.strip(), \
        "scripts/generate_notebooks.py must define SETUP_CELL, the notebooks' first code cell"
    return cell


# Runs SETUP_CELL the way a kernel would (exec of the cell's text), recording
# every subprocess it starts; prints the calls as JSON on the last line.
_RUNNER = textwrap.dedent("""
    import json, subprocess, sys
    calls = []
    _run = subprocess.run
    def recording_run(*args, **kwargs):
        calls.append([str(a) for a in (args[0] if args else kwargs.get("args", []))])
        return _run(*args, **kwargs)
    subprocess.run = recording_run
    cell = open(sys.argv[1], encoding="utf-8").read()
    exec(compile(cell, "<SETUP_CELL>", "exec"), {"__name__": "__main__"})
    print(json.dumps(calls))
""")


#: what a clean environment keeps from the caller's: where programs are, the home and temporary
#: folders, the locale, and how pip reaches its index (proxies, certificates, a mirror). Nothing
#: else: no PYTHON* variable (PYTHONPATH would put a checkout's nnlib on the path), no
#: VIRTUAL_ENV, no NNLIB_* setting.
_CLEAN_KEEP = ("PATH", "HOME", "USERPROFILE", "TMPDIR", "TEMP", "TMP", "LANG", "LC_ALL", "LC_CTYPE",
               "SYSTEMROOT", "SYSTEMDRIVE", "COMSPEC", "WINDIR", "APPDATA", "LOCALAPPDATA",
               "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
               "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
               "PIP_TRUSTED_HOST", "PIP_CERT", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_CACHE_DIR")


def clean_env(python: str | None = None, **extra: str) -> dict:
    """Chapter 00: an environment built here, not inherited: the few variables of ``_CLEAN_KEEP``,
    the interpreter's own folder first on PATH (a venv's ``bin``), ``PYTHONNOUSERSITE=1`` and ``extra``."""
    env = {k: os.environ[k] for k in _CLEAN_KEEP if k in os.environ}
    if python is not None:
        env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", os.defpath)])
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


def run_cell(python: str, cell: str, workdir: Path, nnlib_source: str) -> tuple[list, str]:
    """Run SETUP_CELL with ``python`` in ``workdir``; return (subprocess calls, output)."""
    cell_file = workdir / "setup_cell.py"
    cell_file.write_text(cell, encoding="utf-8")
    runner = workdir / "run_setup_cell.py"
    runner.write_text(_RUNNER, encoding="utf-8")
    env = clean_env(python, NNLIB_SOURCE=nnlib_source)
    result = subprocess.run([python, str(runner), str(cell_file)], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"SETUP_CELL failed (exit {result.returncode}):\n{output}"
    return json.loads(result.stdout.strip().splitlines()[-1]), output


def test_setup_cell_does_nothing_where_nnlib_is_installed(tmp_path):
    cell = load_setup_cell()
    bogus = str(tmp_path / "no-such-dir" / "nnlib-0.0.0-py3-none-any.whl")
    check = subprocess.run([sys.executable, "-c", "import nnlib"], cwd=tmp_path, env=clean_env(sys.executable),
                           capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip("nnlib is not installed in this environment (pip install -e .)")
    calls, output = run_cell(sys.executable, cell, tmp_path, bogus)
    assert calls == [], f"SETUP_CELL started a subprocess although nnlib is importable: {calls}"
    assert "pip" not in output.lower(), output


def _copy_source(dest: Path) -> Path:
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*_NOT_SOURCE), symlinks=True)
    return dest


def _venv_python(env_dir: Path) -> str:
    sub = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    return str(env_dir / sub / exe)


def _pip(python: str, *args: str, cwd: Path, env: dict | None = None) -> None:
    result = subprocess.run([python, "-m", "pip", "--disable-pip-version-check", *args],
                            cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, \
        f"pip {' '.join(args)} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"


def test_setup_cell_installs_nnlib_into_a_bare_environment(tmp_path):
    cell = load_setup_cell()

    # A wheel built from (a copy of) this checkout stands in for the published source.
    source = _copy_source(tmp_path / "src")
    wheels = tmp_path / "wheels"
    _pip(sys.executable, "wheel", str(source), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(wheels), cwd=tmp_path)
    built = sorted(wheels.glob("nnlib-*.whl"))
    assert len(built) == 1, f"expected one nnlib wheel, found {built}"

    # A fresh environment with NumPy only: no nnlib, no system site-packages.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    python = _venv_python(env_dir)
    import numpy
    bare = clean_env(python)  # built here: the caller's PYTHONPATH (a checkout's nnlib) must not leak in
    _pip(python, "install", "-q", f"numpy=={numpy.__version__}", cwd=tmp_path, env=bare)
    work = tmp_path / "work"
    work.mkdir()
    before = subprocess.run([python, "-c", "import nnlib"], cwd=work, env=bare,
                            capture_output=True, text=True)
    assert before.returncode != 0, "the fresh environment must not see nnlib before the cell runs"

    calls, output = run_cell(python, cell, work, str(built[0]))
    assert len(calls) == 1 and "pip" in calls[0] and "install" in calls[0], \
        f"expected one pip install call, got {calls}\n{output}"
    assert str(built[0]) in calls[0], f"the cell did not install $NNLIB_SOURCE: {calls}"

    probe = textwrap.dedent("""
        import sys, nnlib, nnlib.datasets
        X, y = nnlib.datasets.load_breast_cancer()
        assert X.shape == (569, 30) and y.shape == (569,), (X.shape, y.shape)
        assert int(y.sum()) == 357, int(y.sum())
        assert nnlib.__file__.startswith(sys.prefix), (nnlib.__file__, sys.prefix)
        print("ok", nnlib.__file__)
    """)
    after = subprocess.run([python, "-c", probe], cwd=work, env=bare, capture_output=True, text=True)
    assert after.returncode == 0, \
        f"after SETUP_CELL, nnlib does not work in the fresh environment:\n{after.stderr}"

    # Running the cell a second time (the learner re-runs it) does nothing.
    calls, _ = run_cell(python, cell, work, str(tmp_path / "gone.whl"))
    assert calls == [], calls
