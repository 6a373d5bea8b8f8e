"""Chapter 15 (preview): data parallelism (数据并行) on the CPU's cores, with threads.

NumPy runs every element-wise operation (GELU, softmax, LayerNorm...) on one core;
only the matrix products use several. :func:`parallel_backward` uses all cores for
everything by splitting the *batch*: each worker thread runs the forward and
backward pass of its shard of rows, and the gradients add up in the shared
parameters. The result is the gradient of the whole batch, as one pass would give
it (up to float rounding: the sums are taken in another order), and the same in
every run with the same number of workers.

::

    from nnlib.parallel import parallel_backward
    opt.zero_grad()
    loss = parallel_backward(model.loss, x, y, workers=2)   # a float
    opt.step()

Each worker collects its shard's gradients apart, in an
:func:`nnlib.engine.leaf_gradient_sink`, and they are added into ``.grad`` in shard order
at the end. Each worker's matrix products run on one BLAS thread (through ``threadpoolctl``,
which scikit-learn installs; without it BLAS keeps its own setting), so the workers
do not fight over the cores. NumPy releases Python's GIL inside its large operations,
which is what lets the threads run at the same time.

Multi-process and multi-machine data parallelism (PyTorch's DistributedDataParallel)
follow the same idea: shard the batch, add up the gradients.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .random import get_rng, thread_rng
from .engine import Tensor, is_grad_enabled, leaf_gradient_sink, set_grad_enabled


__all__ = ["parallel_backward", "default_workers"]

_POOLS: dict = {}
_POOLS_LOCK = threading.Lock()
_BLAS: dict = {}


def default_workers() -> int:
    """Chapter 15: the number of cores this process may use (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _pool(n: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get(n)
        if pool is None:
            pool = _POOLS[n] = ThreadPoolExecutor(n, thread_name_prefix="nnlib-parallel")
        return pool


def _one_blas_thread():
    """A context manager limiting BLAS to one thread (a no-op without threadpoolctl)."""
    if "controller" not in _BLAS:
        try:
            from threadpoolctl import ThreadpoolController
            _BLAS["controller"] = ThreadpoolController()
        except Exception:  # noqa: BLE001 - not installed, or it cannot inspect this platform
            _BLAS["controller"] = None
    controller = _BLAS["controller"]
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def parallel_backward(loss_fn, *arrays, workers: int | None = None, reduction: str = "mean") -> float:
    """Chapter 15: backpropagate ``loss_fn(*arrays)`` with the batch split over worker threads; return the loss.

    ``arrays`` (inputs, targets, ...) are split into ``workers`` shards along the first
    axis; each shard's ``loss_fn(*shard)`` (a single-value Tensor) is computed and
    backpropagated in its own thread, and the gradients add up in the parameters'
    ``.grad`` (call ``zero_grad`` first, as for ``loss.backward()``). With
    ``reduction="mean"`` each shard's loss is weighted by its share of the rows, so the
    gradients and the returned value are those of the mean over the whole batch; with
    ``"sum"`` they simply add up.

    Every shard gets its own random generator, drawn from nnlib's global one, so dropout
    is repeatable for a given number of workers. If a shard fails, its error is raised
    once all shards have stopped, and no gradient is changed. The shards' gradients are
    added in shard order, so the result does not depend on which thread finishes first.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"parallel_backward: reduction must be 'mean' or 'sum', got {reduction!r}")
    if not arrays:
        raise ValueError("parallel_backward: give the batch arrays to split, e.g. parallel_backward(model.loss, x, y)")
    data = [a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays]
    if any(d.ndim == 0 for d in data):
        raise ValueError("parallel_backward: every array needs a batch axis (axis 0) to split")
    n = data[0].shape[0]
    if n == 0 or any(d.shape[0] != n for d in data):
        raise ValueError(f"parallel_backward: the arrays must have the same, non-zero number of rows (axis 0); "
                         f"got {[d.shape for d in data]}")
    workers = default_workers() if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"parallel_backward: workers must be a positive integer, got {workers!r}")
    bounds = np.linspace(0, n, min(int(workers), n) + 1).round().astype(int)
    shards = [[d[lo:hi] for d in data] for lo, hi in zip(bounds[:-1], bounds[1:])]
    seeds = get_rng().integers(0, 2 ** 63, size=len(shards))
    grad_mode = set_grad_enabled(is_grad_enabled())  # the grad mode is per thread: the workers take the caller's

    def run(i: int):
        """Shard i's weighted loss, and its leaf gradients {id: (leaf, grad)} in graph order."""
        rows = shards[i][0].shape[0]
        with thread_rng(np.random.default_rng(int(seeds[i]))), grad_mode, leaf_gradient_sink() as grads:
            loss = loss_fn(*shards[i])
            if not isinstance(loss, Tensor) or loss.data.size != 1:
                raise TypeError(f"parallel_backward: loss_fn must return a single-value Tensor, got "
                                f"{type(loss).__name__} {getattr(loss, 'shape', '')}")
            weight = rows / n if reduction == "mean" else 1.0
            loss.backward(np.full(loss.shape, weight, dtype=loss.dtype))
        return float(loss.item()) * weight, grads

    results, first_error = [], None
    with _one_blas_thread() if len(shards) > 1 else contextlib.nullcontext():
        futures = [_pool(len(shards) - 1).submit(run, i) for i in range(1, len(shards))]
        try:
            results.append(run(0))
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the other shards stop
            first_error = exc
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:  # noqa: BLE001
                first_error = first_error or exc
    if first_error is not None:
        raise first_error
    # add the shards' gradients in shard order, so the result does not depend on thread timing
    total: dict = {}
    for _, grads in results:
        for key, (leaf, g) in grads.items():
            held = total.get(key)
            total[key] = (leaf, g) if held is None else (leaf, held[1] + g)
    for leaf, g in total.values():
        leaf.grad = g if leaf.grad is None else leaf.grad + g
    return sum(value for value, _ in results)

