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

Run:  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_cnn.py   (under a minute)
      python benchmarks/bench_cnn.py --quick                                     (a smoke test)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import time_block, training_step  # noqa: E402

CHANNELS = (16, 32)
CLASSES = 10


def make_data(size: int, batch: int, seed: int = 0):
    """Inputs (batch, size, size, 1), labels, and the initial weights in nnlib's (Keras') layout."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, size, size, 1)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=batch)
    weights, c_in = [], 1
    for c_out in CHANNELS:
        limit = (6.0 / (9 * c_in + 9 * c_out)) ** 0.5
        weights.append((rng.uniform(-limit, limit, (3, 3, c_in, c_out)).astype(np.float32),
                        np.zeros(c_out, dtype=np.float32)))
        c_in = c_out
    side = size // 2 // 2
    features = side * side * CHANNELS[-1]
    limit = (6.0 / (features + CLASSES)) ** 0.5
    weights.append((rng.uniform(-limit, limit, (features, CLASSES)).astype(np.float32),
                    np.zeros(CLASSES, dtype=np.float32)))
    return x, y, weights


def nnlib_step_fn(x, y, weights):
    import nnlib
    import nnlib.functional as F
    from nnlib.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from nnlib.optim import Adam

    layers = []
    for w, b in weights[:-1]:
        conv = Conv2D(w.shape[-1], 3, padding="same", activation="relu", input_shape=(None, None, w.shape[2]))
        conv.set_weights([w, b])
        layers += [conv, MaxPooling2D()]
    dense = Dense(CLASSES, input_dim=weights[-1][0].shape[0])
    dense.set_weights(list(weights[-1]))
    layers += [Flatten(), dense]
    params = [p for layer in layers for p in layer.parameters()]
    opt = Adam(params, lr=1e-3)
    xt = nnlib.Tensor(x)

    def forward():
        h = xt
        for layer in layers:
            h = layer(h)
        return h
    return training_step(forward, lambda h: F.cross_entropy(h, y), opt)


def torch_step_fn(x, y, weights):
    import torch

    mods, c_in = [], 1
    for w, b in weights[:-1]:
        conv = torch.nn.Conv2d(c_in, w.shape[-1], 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(b))
        mods += [conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
        c_in = w.shape[-1]
    kernel, bias = weights[-1]
    side = int(round((kernel.shape[0] / CHANNELS[-1]) ** 0.5))
    # nnlib flattens (H, W, C), torch (C, H, W): permute the dense rows to match
    rows = kernel.reshape(side, side, CHANNELS[-1], CLASSES).transpose(2, 0, 1, 3).reshape(-1, CLASSES)
    lin = torch.nn.Linear(rows.shape[0], CLASSES)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(rows.T.copy()))
        lin.bias.copy_(torch.from_numpy(bias))
    model = torch.nn.Sequential(*mods, torch.nn.Flatten(), lin)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y)

    return training_step(lambda: model(xt), lambda out: loss_fn(out, yt), opt)


def run(sizes, batch: int, rounds: int, steps: int) -> list:
    results = []
    for size in sizes:
        x, y, weights = make_data(size, batch)
        ours, theirs = nnlib_step_fn(x, y, weights), torch_step_fn(x, y, weights)
        first_ours, first_theirs = ours(), theirs()
        if abs(first_ours - first_theirs) > 1e-4 * max(1.0, abs(first_theirs)):
            raise SystemExit(f"the two models disagree at the first step: {first_ours} vs {first_theirs}")
        for _ in range(2):  # warm up caches and allocators
            ours(), theirs()
        t_ours, t_theirs = [], []
        for _ in range(rounds):
            t_ours.append(time_block(ours, steps))
            t_theirs.append(time_block(theirs, steps))
        row = {"input": f"{size}x{size}x1", "batch": batch,
               "nnlib_ms": statistics.median(t[0] for t in t_ours),
               "torch_ms": statistics.median(t[0] for t in t_theirs),
               "nnlib_cpu_ms": statistics.median(t[1] for t in t_ours),
               "torch_cpu_ms": statistics.median(t[1] for t in t_theirs)}
        row["ratio"] = row["nnlib_ms"] / row["torch_ms"]
        row["cpu_ratio"] = row["nnlib_cpu_ms"] / row["torch_cpu_ms"]
        results.append(row)
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
    from bench_gpt import settings as blas_settings  # one reporter of BLAS/thread settings for all benchmarks

    settings = blas_settings(None)
    print(f"CNN conv{CHANNELS[0]}-pool-conv{CHANNELS[1]}-pool-dense{CLASSES}, 3x3 same, ReLU, "
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
