"""Chapter 14: micro-batching, the core of a model server.

Many clients each send a few rows; a model is much faster on one stacked batch than on
many small ones. A server therefore puts every request on a queue as a :class:`Job`
and one asyncio task loops:

1. :func:`collect_batch`: wait for the first job, then take more until the batch holds
   ``max_batch`` rows or ``max_wait`` seconds have passed since the first one arrived
   (a request is never split, so the last job may take the batch past ``max_batch``);
2. :func:`run_batch`: stack the rows, run ONE forward pass off the event loop (in a
   worker thread, so the server keeps accepting requests meanwhile), and hand each job
   its own rows of the result.

A lone request waits at most ``max_wait``; under load, everything that queued up during
the previous forward pass goes into the next one. ``nnlib.serve`` runs this loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Job", "collect_batch", "run_batch"]


@dataclass
class Job:
    """Chapter 14: one request's rows (a 2-D array) and the future its answer goes to."""

    rows: np.ndarray
    future: asyncio.Future = field(default=None, repr=False)

    def __post_init__(self):
        if self.future is None:
            self.future = asyncio.get_running_loop().create_future()


async def collect_batch(queue: asyncio.Queue, max_batch: int, max_wait: float, arriving=None) -> list:
    """Chapter 14: wait for a first job, then collect more: up to ``max_batch`` rows or ``max_wait`` s.

    Returns the jobs in arrival order. Jobs already in the queue join at once (so even
    ``max_wait=0`` merges what queued up during the previous forward pass); the deadline
    counts from the first job, so no request waits longer than ``max_wait`` for others.
    ``arriving`` (optional) is a function of the number of jobs collected so far that says how
    many requests are on their way to the queue (received, not queued yet); when it says 0 and
    the queue is empty, waiting cannot fill the batch, so it goes at once: a lone client pays
    no waiting time. (``nnlib.serve`` counts the requests it is handling.)
    """
    loop = asyncio.get_running_loop()
    batch = [await queue.get()]
    rows = len(batch[0].rows)
    deadline = loop.time() + max_wait
    while rows < max_batch:
        if not queue.empty():  # already waiting: it joins at once, whatever the deadline says
            job = queue.get_nowait()
        elif arriving is not None and arriving(len(batch)) <= 0:  # nobody else is coming
            break
        else:
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                job = await asyncio.wait_for(queue.get(), timeout=left)
            except asyncio.TimeoutError:
                break
        batch.append(job)
        rows += len(job.rows)
    return batch


async def run_batch(batch: list, forward: Callable[[np.ndarray], np.ndarray]) -> None:
    """Chapter 14: one forward pass (in a worker thread) for all jobs; each gets its own rows back.

    An exception in ``forward`` is handed to every job of the batch; if the task running
    this is cancelled (the server stops), every job's future is cancelled too.
    """
    counts = [len(job.rows) for job in batch]
    try:
        outputs = await asyncio.to_thread(forward, np.concatenate([job.rows for job in batch]))
    except Exception as error:  # every waiting request learns what went wrong
        for job in batch:
            if not job.future.done():
                job.future.set_exception(error)
        return
    except asyncio.CancelledError:  # the server is stopping: no request may wait forever
        for job in batch:
            job.future.cancel()
        raise
    start = 0
    for job, n in zip(batch, counts):
        if not job.future.done():  # a client that gave up has cancelled its future
            job.future.set_result(outputs[start:start + n])
        start += n
