"""Chapter 15: data parallelism with torch.distributed (gloo, 2 processes on loopback) equals one process."""
from tests import REPO_ROOT
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

SCRIPT = REPO_ROOT / "scripts" / "ddp_train.py"
ARGS = ["--steps", "10", "--rows", "512", "--hidden", "32", "--warmup", "0"]


def _script():
    spec = importlib.util.spec_from_file_location("ddp_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                    reason="this torch build has no torch.distributed gloo backend")
def test_two_gloo_processes_equal_one_process_on_the_full_batch(tmp_path, capsys):
    script = _script()
    reference = tmp_path / "one.npz"
    threads = torch.get_num_threads()
    try:  # the one-process run, in this process
        script.main(["--world-size", "1", *ARGS, "--out", str(reference)])
    finally:
        torch.set_num_threads(threads)
    one = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    out = tmp_path / "two.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run([sys.executable, str(SCRIPT), "--world-size", "2", *ARGS, "--out", str(out)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    two = json.loads(run.stdout.strip().splitlines()[-1])
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert abs(two["final_loss"] - one["final_loss"]) < 1e-5
    a, b = np.load(reference), np.load(out)
    assert sorted(a) == sorted(b) and len(a) == 6
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=name)
    # and the parameters did move: the equality is not that of two untouched copies
    fresh = {n: p.detach().numpy() for n, p in script.make_model(32).named_parameters()}
    assert max(np.abs(a[n] - fresh[n]).max() for n in a) > 1e-3


def test_free_port_is_a_loopback_port():
    port = _script().free_port()
    assert 1024 <= port < 65536
