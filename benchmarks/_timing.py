"""What the benchmarks share: timing a block of steps, one training step of either framework,
the interleaved nnlib-vs-torch comparison, and the report of BLAS and thread settings.

Each benchmark builds its model twice (``benchmarks.models``: nnlib and torch eager, same
weights) and turns each into a ``step()`` that runs forward, loss, backward and the
optimizer update and returns the loss; the two are then timed in interleaved blocks.
"""
from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np


def time_block(step, n: int) -> tuple:
    """(wall ms, CPU ms) per step over ``n`` steps; CPU time (this process) is less disturbed by a busy machine."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n * 1000.0, (time.process_time() - cpu) / n * 1000.0


def training_step(forward, loss_fn, opt):
    """A ``step()`` closure: ``loss_fn(forward())``, zero the gradients, backward, update; returns the loss.

    Works for nnlib and torch alike (both have ``zero_grad``, ``backward``, ``step``, ``item``).
    """
    def step():
        loss = loss_fn(forward())
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def compare(ours, theirs, rounds: int, steps: int, warmup: int = 2) -> dict:
    """Time two step functions in interleaved blocks (an nnlib block, a torch block, repeated).

    The first steps must agree (the same model and weights), else the run stops. Returns the
    medians over ``rounds`` blocks of ``steps`` steps: ``nnlib_ms``/``torch_ms`` (wall),
    ``nnlib_cpu_ms``/``torch_cpu_ms`` (this process's CPU time) and their ratios nnlib/torch.
    """
    first_ours, first_theirs = ours(), theirs()
    if abs(first_ours - first_theirs) > 1e-4 * max(1.0, abs(first_theirs)):
        raise SystemExit(f"the two models disagree at the first step: {first_ours} vs {first_theirs}")
    for _ in range(warmup):  # warm up caches and allocators
        ours(), theirs()
    t_ours, t_theirs = [], []
    for _ in range(rounds):
        t_ours.append(time_block(ours, steps))
        t_theirs.append(time_block(theirs, steps))
    row = {"nnlib_ms": statistics.median(t[0] for t in t_ours),
           "torch_ms": statistics.median(t[0] for t in t_theirs),
           "nnlib_cpu_ms": statistics.median(t[1] for t in t_ours),
           "torch_cpu_ms": statistics.median(t[1] for t in t_theirs)}
    row["ratio"] = row["nnlib_ms"] / row["torch_ms"]
    row["cpu_ratio"] = row["nnlib_cpu_ms"] / row["torch_cpu_ms"]
    return row


def settings(threads) -> dict:
    import torch

    from nnlib.memory import allocator_tuned

    info = {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "cpu count": os.cpu_count(), "torch threads": torch.get_num_threads(),
            "threads requested": threads if threads else "default",
            "nnlib malloc tuning (nnlib.memory)": "on" if allocator_tuned() else "off"}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            key = f"{pool.get('internal_api')} ({os.path.basename(pool.get('filepath', ''))})"
            info[key] = f"{pool.get('num_threads')} threads, {pool.get('architecture', '?')} kernel"
    except ImportError:
        info["threadpoolctl"] = "not installed"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy BLAS"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - older NumPy: no dict mode
        pass
    for line in torch.__config__.parallel_info().splitlines():
        if " : " in line and ("get_num_threads" in line or "backend" in line.lower()):
            key, value = line.split(" : ", 1)
            info["torch " + key.strip()] = value.strip()
    return info
