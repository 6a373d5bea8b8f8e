"""Benchmark (chapters 03-04): one training step of an MLP, nnlib against torch eager.

The model is 784-256-256-10 with ReLU, softmax cross-entropy and Adam, in
float32, at batch 128 and 1024. Both frameworks train on the same data with the
same initial weights, interleaved in one process (nnlib block, torch block,
repeated), so a busy machine slows both alike. Prints ms/step (median of the
blocks), the ratio nnlib/torch, the peak memory each needs for training (each
measured in a fresh subprocess), and the BLAS and thread settings.

Run:  python benchmarks/bench_mlp.py            (about a minute)
      python benchmarks/bench_mlp.py --quick    (a few seconds, for a smoke test)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

from _timing import time_block, training_step  # benchmarks/ is on sys.path when run as a script

SIZES = (784, 256, 256, 10)


def make_data(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], size=batch)
    weights = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        limit = (6.0 / (fan_in + fan_out)) ** 0.5
        weights.append((rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32),
                        np.zeros(fan_out, dtype=np.float32)))
    return x, y, weights


def nnlib_step_fn(x, y, weights):
    import nnlib
    import nnlib.functional as F
    from nnlib.optim import Adam

    params = []
    for w, b in weights:
        params += [nnlib.Parameter(w.copy()), nnlib.Parameter(b.copy())]
    opt = Adam(params, lr=1e-3)
    xt = nnlib.Tensor(x)

    def forward():
        h = xt
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = h.relu()
        return h
    return training_step(forward, lambda h: F.cross_entropy(h, y), opt)


def torch_step_fn(x, y, weights):
    import torch

    layers = []
    for i, (w, b) in enumerate(weights):
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    return training_step(lambda: model(xt), lambda out: loss_fn(out, yt), opt)


def peak_memory_mb(framework: str, batch: int, steps: int) -> float:
    """Extra peak resident memory (MB) that training needs, in a fresh process.

    After the imports and the data are in place the process resets its
    high-water mark (Linux: ``/proc/self/clear_refs``), so the figure is the
    peak of training alone above that baseline.
    """
    code = (
        "import sys; sys.path.insert(0, %r);"
        "import numpy, torch, nnlib, nnlib.optim; from bench_mlp import *;"
        "x, y, w = make_data(%d); step = %s_step_fn(x, y, w);"
        "rss = lambda key: int([l for l in open('/proc/self/status') if l.startswith(key)][0].split()[1]);"
        "open('/proc/self/clear_refs', 'w').write('5'); base = rss('VmRSS:');"
        "[step() for _ in range(%d)];"
        "print((rss('VmHWM:') - base) / 1024)"
    ) % (os.path.dirname(os.path.abspath(__file__)), batch, framework, steps)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:  # not Linux, or /proc not writable: say so instead of a number
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


def run(batches, rounds: int, steps: int, memory: bool) -> list:
    results = []
    for batch in batches:
        x, y, weights = make_data(batch)
        ours, theirs = nnlib_step_fn(x, y, weights), torch_step_fn(x, y, weights)
        first_ours, first_theirs = ours(), theirs()
        if abs(first_ours - first_theirs) > 1e-4 * max(1.0, abs(first_theirs)):
            raise SystemExit(f"the two models disagree at the first step: {first_ours} vs {first_theirs}")
        for _ in range(3):  # warm up caches and allocators
            ours(), theirs()
        t_ours, t_theirs = [], []
        for _ in range(rounds):
            t_ours.append(time_block(ours, steps)[0])
            t_theirs.append(time_block(theirs, steps)[0])
        row = {
            "batch": batch,
            "nnlib_ms": statistics.median(t_ours),
            "torch_ms": statistics.median(t_theirs),
        }
        row["ratio"] = row["nnlib_ms"] / row["torch_ms"]
        if memory:
            row["nnlib_peak_mb"] = peak_memory_mb("nnlib", batch, 10)
            row["torch_peak_mb"] = peak_memory_mb("torch", batch, 10)
        results.append(row)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved blocks per framework")
    parser.add_argument("--steps", type=int, default=20, help="steps per block")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 steps, no memory runs")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 3, 3
    from bench_gpt import settings as blas_settings  # one reporter of BLAS/thread settings for both

    settings = blas_settings(None)
    print("MLP 784-256-256-10, ReLU, softmax cross-entropy, Adam, float32")
    for key, value in settings.items():
        print(f"  {key}: {value}")
    results = run(args.batches, args.rounds, args.steps, memory=not args.quick)
    print(f"\n{'batch':>6} {'nnlib ms/step':>14} {'torch ms/step':>14} {'nnlib/torch':>12} {'peak MB nnlib/torch':>20}")
    for r in results:
        mem = f"{r['nnlib_peak_mb']:.0f} / {r['torch_peak_mb']:.0f}" if "nnlib_peak_mb" in r else "-"
        print(f"{r['batch']:>6} {r['nnlib_ms']:>14.2f} {r['torch_ms']:>14.2f} {r['ratio']:>12.2f} {mem:>20}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"settings": settings, "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
