"""Benchmark (chapter 16): one training step of a small CNN, nnlib against torch eager.

The model is Conv(16, 3x3, same) - ReLU - MaxPool 2 - Conv(32, 3x3, same) - ReLU -
MaxPool 2 - Flatten - Dense(10), softmax cross-entropy and Adam, float32, batch 128,
on 8x8 inputs (the shipped digits' shape) and on 28x28 random inputs (MNIST's shape).
nnlib runs its Keras-style layers (channels-last, ``nnlib.layers.Conv2D``); torch runs
``nn.Conv2d`` (channels-first). Both start from the same weights (the torch copy is
permuted to its layout, so the first losses agree) and run interleaved in one process
(an nnlib block, a torch block, repeated; medians reported), so a busy machine slows
both alike. Prints wall ms/step, CPU ms/step (``time.process_time``, less disturbed by
other processes), the ratios nnlib/torch and the BLAS and thread settings.

Run from the repository root:
      OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.bench_cnn   (under a minute)
      python -m benchmarks.bench_cnn --quick                                     (a smoke test)
"""
from __future__ import annotations

import argparse
import json

from benchmarks._timing import compare, settings as blas_settings
from benchmarks.models import CLASSES, CNN_CHANNELS, cnn_data, nnlib_cnn_step, torch_cnn_step


def run(sizes, batch: int, rounds: int, steps: int) -> list:
    results = []
    for size in sizes:
        x, y, weights = cnn_data(size, batch)
        results.append({"input": f"{size}x{size}x1", "batch": batch,
                        **compare(nnlib_cnn_step(x, y, weights), torch_cnn_step(x, y, weights), rounds, steps)})
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 28])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved blocks per framework")
    parser.add_argument("--steps", type=int, default=10, help="steps per block")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 steps")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 2, 2
    settings = blas_settings(None)
    print(f"CNN conv{CNN_CHANNELS[0]}-pool-conv{CNN_CHANNELS[1]}-pool-dense{CLASSES}, 3x3 same, ReLU, "
          "softmax cross-entropy, Adam, float32")
    for key, value in settings.items():
        print(f"  {key}: {value}")
    results = run(args.sizes, args.batch, args.rounds, args.steps)
    print(f"\n{'input':>10} {'batch':>6} {'nnlib ms/step':>14} {'torch ms/step':>14} {'nnlib/torch':>12} "
          f"{'CPU ms nnlib':>13} {'CPU ms torch':>13} {'CPU ratio':>10}")
    for r in results:
        print(f"{r['input']:>10} {r['batch']:>6} {r['nnlib_ms']:>14.2f} {r['torch_ms']:>14.2f} {r['ratio']:>12.2f} "
              f"{r['nnlib_cpu_ms']:>13.2f} {r['torch_cpu_ms']:>13.2f} {r['cpu_ratio']:>10.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"settings": settings, "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
