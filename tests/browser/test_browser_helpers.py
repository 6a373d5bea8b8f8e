"""Chapter 00: the browser tests' helpers on their own (no browser needed).

How a traceback in the page is recognised, which cells count as widget cells,
which notebooks are found and copied, and that the JupyterLab server and every
kernel it started are gone after ``stop()``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
import urllib.error

import pytest

from run_budget import DEFAULT_SECONDS, FLOOR, MARGIN, budget, write_record
from browser_helpers import (
    JupyterLabServer,
    copy_course,
    course_notebooks,
    error_name,
    free_port,
    uses_widgets,
)

IPYTHON_TRACEBACK = (
    "---------------------------------------------------------------------------\n"
    "NotImplementedError                       Traceback (most recent call last)\n"
    "Cell In[5], line 4\n      1 def exercise(v):\n----> 4 exercise(1)\n\n"
    "NotImplementedError: your code here")


@pytest.mark.parametrize("text, name", [
    (IPYTHON_TRACEBACK, "NotImplementedError"),
    ("Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'a'", "KeyError"),
    ("  Cell In[3], line 1\n    def (\n        ^\nSyntaxError: invalid syntax", "SyntaxError"),
    ("numpy.linalg.LinAlgError: Singular matrix", "LinAlgError"),
    ("Traceback (most recent call last):\n  File \"x.py\", line 1\nboom", "UnknownError"),
    ("/tmp/x.py:3: RuntimeWarning: overflow encountered in exp\n  y = np.exp(x)", None),
    ("Epoch 3/5: 100%|##########| 12/12 [00:00<00:00, 95.1it/s, loss=0.31]", None),
    ("", None),
])
def test_error_name(text, name):
    assert error_name(text) == name


@pytest.mark.parametrize("source, expected", [
    ("import ipywidgets as widgets", True),
    ("widgets.interact(f, w=(0, 1))", True),
    ("interact(f, x=1.0)", True),
    ("s = widgets.IntSlider(3)", True),
    ("plt.plot(x); plt.show()", False),
    ("# widgets are covered in chapter 04", False),
])
def test_uses_widgets(source, expected):
    assert uses_widgets(source) is expected


def test_course_notebooks_and_copy(tmp_path):
    repo = tmp_path / "repo"
    for name in ("notebooks/01_a.ipynb", "notebooks/00_b.ipynb", "solutions/00_b.ipynb",
                 "notebooks/.ipynb_checkpoints/00_b-checkpoint.ipynb", "data/t.csv"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("{}")
    found = course_notebooks(repo)
    assert found == ["notebooks/00_b.ipynb", "notebooks/01_a.ipynb"]   # the learner copies
    dest = tmp_path / "copy"
    assert copy_course(repo, dest) == found + ["solutions/00_b.ipynb"]
    assert (dest / "data" / "t.csv").is_file()
    assert not (dest / "notebooks" / ".ipynb_checkpoints").exists()


def test_free_port_is_free():
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an ended child nobody reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_server_stops_with_its_kernels(tmp_path):
    pytest.importorskip("jupyterlab")
    root, work = tmp_path / "root", tmp_path / "work"
    root.mkdir()
    work.mkdir()
    server = JupyterLabServer(root, work)
    try:
        server.start()
        assert isinstance(server.api("GET", "/api/status"), dict)
        kernel = server.api("POST", "/api/kernels")
        assert kernel["id"]
        deadline = time.monotonic() + 60
        while not server._our_kernel_pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        kernel_pids = server._our_kernel_pids()
        assert kernel_pids, "the kernel process was not found"
        server_pid = server.proc.pid
    finally:
        server.stop()
    assert not _alive(server_pid), "the server outlived stop()"
    for pid in kernel_pids:
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(pid), f"kernel process {pid} outlived the server"
    with pytest.raises((urllib.error.URLError, OSError)):
        server.api("GET", "/api/status", timeout=2)
    server.stop()  # a second stop is harmless


def test_budget_scales_with_the_recorded_time_and_this_machines_speed(monkeypatch):
    monkeypatch.delenv("NNLIB_BROWSER_TIMEOUT", raising=False)
    record = {"calibration_s": 0.1, "seconds": {"notebooks/13_x.ipynb": 40.0}}
    same_speed = budget("notebooks/13_x.ipynb", 0.1, record)
    assert same_speed == FLOOR + MARGIN * 40.0
    assert budget("notebooks/13_x.ipynb", 0.05, record) == same_speed          # faster: never less
    assert budget("notebooks/13_x.ipynb", 0.3, record) == FLOOR + MARGIN * 40.0 * 3  # 3x slower
    assert budget("notebooks/99_new.ipynb", 0.1, record) == DEFAULT_SECONDS   # never measured
    assert budget("notebooks/13_x.ipynb", 0.1, {"calibration_s": None, "seconds": {}}) == DEFAULT_SECONDS
    monkeypatch.setenv("NNLIB_BROWSER_TIMEOUT", "17")
    assert budget("notebooks/13_x.ipynb", 0.3, record) == 17.0


def test_write_record_keeps_the_course_notebooks_only(tmp_path):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"calibration_s": 0.08, "reports": [
        {"path": "notebooks/01_a.ipynb", "seconds": 12.34},
        {"path": "selftest/good.ipynb", "seconds": 3.0},
        {"path": "notebooks/02_b.ipynb", "seconds": 0.0}]}))
    record = write_record(summary, 0.08, tmp_path / "record.json")
    assert record == {"calibration_s": 0.08, "seconds": {"notebooks/01_a.ipynb": 12.3}}
    assert json.loads((tmp_path / "record.json").read_text()) == record


def test_a_learner_notebook_the_browser_runs_is_not_run_again_by_lax_nbval():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, NNLIB_REQUIRE_BROWSER="1")
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0",
                          "tests/browser/test_jupyterlab.py", "notebooks/01_neuron.ipynb",
                          "solutions/01_neuron.ipynb"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=120).stdout
    assert "test_notebook_in_jupyterlab[notebooks/01_neuron.ipynb]" in out
    assert "solutions/01_neuron.ipynb::Cell 0" in out          # strict nbval keeps the solutions
    assert "notebooks/01_neuron.ipynb::Cell" not in out         # the browser runs the learner copy
    assert "deselected" in out
