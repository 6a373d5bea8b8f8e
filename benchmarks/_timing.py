"""What the benchmarks share: timing a block of steps, and one training step of either framework.

Each benchmark builds its model twice (nnlib and torch eager, same weights) and turns
each into a ``step()`` that runs forward, loss, backward and the optimizer update and
returns the loss; the two are then timed in interleaved blocks.
"""
from __future__ import annotations

import time


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
