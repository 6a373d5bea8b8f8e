"""Benchmark (chapters 03-04): one training step of an MLP, nnlib against torch eager.

The model is 784-256-256-10 with ReLU, softmax cross-entropy and Adam, in
float32, at batch 128 and 1024. Both frameworks train on the same data with the
same initial weights, interleaved in one process (nnlib block, torch block,
repeated), so a busy machine slows both alike. Prints ms/step (median of the
blocks), the ratio nnlib/torch, the peak memory each needs for training (each
measured in a fresh subprocess), and the BLAS and thread settings.

Run from the repository root:
      python -m benchmarks.bench_mlp            (about a minute)
      python -m benchmarks.bench_mlp --quick    (a few seconds, for a smoke test)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from benchmarks._timing import compare, settings as blas_settings
from benchmarks.models import MLP_SIZES, mlp_data, nnlib_mlp_step, torch_mlp_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_memory_mb(framework: str, batch: int, steps: int) -> float:
    """Extra peak resident memory (MB) that training needs, in a fresh process.

    After the imports and the data are in place the process resets its
    high-water mark (Linux: ``/proc/self/clear_refs``), so the figure is the
    peak of training alone above that baseline.
    """
    code = (
        "import numpy, torch, nnlib, nnlib.optim; from benchmarks.models import *;"
        "x, y, w = mlp_data(%d); step = %s_mlp_step(x, y, w);"
        "rss = lambda key: int([l for l in open('/proc/self/status') if l.startswith(key)][0].split()[1]);"
        "open('/proc/self/clear_refs', 'w').write('5'); base = rss('VmRSS:');"
        "[step() for _ in range(%d)];"
        "print((rss('VmHWM:') - base) / 1024)"
    ) % (batch, framework, steps)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:  # not Linux, or /proc not writable: say so instead of a number
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


def run(batches, rounds: int, steps: int, memory: bool) -> list:
    results = []
    for batch in batches:
        x, y, weights = mlp_data(batch)
        row = {"batch": batch, **compare(nnlib_mlp_step(x, y, weights), torch_mlp_step(x, y, weights), rounds, steps,
                                         warmup=3)}
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
    settings = blas_settings(None)
    print("MLP " + "-".join(map(str, MLP_SIZES)) + ", ReLU, softmax cross-entropy, Adam, float32")
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
