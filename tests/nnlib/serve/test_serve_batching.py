"""Chapter 14: nnlib.batching -- Job, collect_batch and run_batch on their own (no HTTP), as the server uses them."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from nnlib.batching import Job, collect_batch, run_batch


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_collect_batch_takes_what_is_queued_up_to_max_batch():
    async def go():
        q = asyncio.Queue()
        jobs = [Job(np.full((2, 3), i, np.float32)) for i in range(5)]
        for j in jobs:
            q.put_nowait(j)
        first = await collect_batch(q, max_batch=4, max_wait=1.0)
        second = await collect_batch(q, max_batch=4, max_wait=0.0)
        return jobs, first, second, q.qsize()
    jobs, first, second, left = _run(go())
    assert first == jobs[:2] and second == jobs[2:4] and left == 1  # arrival order, closed at 4 rows


def test_collect_batch_waits_at_most_max_wait_for_a_lone_job():
    async def go():
        q = asyncio.Queue()
        q.put_nowait(Job(np.zeros((1, 3), np.float32)))
        t0 = time.perf_counter()
        batch = await collect_batch(q, max_batch=32, max_wait=0.05)
        return batch, time.perf_counter() - t0
    batch, waited = _run(go())
    assert len(batch) == 1 and 0.04 <= waited < 5  # it waited (and then gave up), it did not hang


def test_collect_batch_does_not_wait_when_nobody_else_is_arriving():
    async def go(arriving_counts):
        q = asyncio.Queue()
        first, late = Job(np.zeros((1, 3), np.float32)), Job(np.ones((1, 3), np.float32))
        q.put_nowait(first)
        asked = []

        def arriving(collected):
            asked.append(collected)
            return arriving_counts.pop(0) if arriving_counts else 0

        asyncio.get_running_loop().call_later(0.2, q.put_nowait, late)
        t0 = time.perf_counter()
        batch = await collect_batch(q, max_batch=32, max_wait=2.0, arriving=arriving)
        return batch, time.perf_counter() - t0, asked, first, late
    batch, waited, asked, first, late = _run(go([]))
    assert batch == [first] and waited < 0.15 and asked == [1]        # alone: it goes at once
    batch, waited, asked, first, late = _run(go([1]))                  # one more on its way: wait for it
    assert batch == [first, late] and 0.15 < waited < 2.0 and asked == [1, 2]


def test_collect_batch_lets_a_request_take_the_batch_past_max_batch_rather_than_split_it():
    async def go():
        q = asyncio.Queue()
        for n in (3, 3, 3):
            q.put_nowait(Job(np.zeros((n, 2), np.float32)))
        return [len(j.rows) for j in await collect_batch(q, max_batch=4, max_wait=0.5)]
    assert _run(go()) == [3, 3]


def test_run_batch_gives_each_job_its_own_rows_from_one_forward_in_a_worker_thread():
    calls = []

    def forward(x):
        calls.append((x.shape, threading.current_thread() is threading.main_thread()))
        return x * 10

    async def go():
        jobs = [Job(np.full((n, 2), i, np.float32)) for i, n in enumerate((1, 3, 2))]
        await run_batch(jobs, forward)
        return [await j.future for j in jobs]
    outs = _run(go())
    assert calls == [((6, 2), False)]  # one forward pass, not on the event loop's thread
    assert [o.tolist() for o in outs] == [[[0, 0]], [[10, 10]] * 3, [[20, 20]] * 2]


def test_run_batch_hands_an_error_to_every_job_and_skips_cancelled_ones():
    def broken(x):
        raise RuntimeError("boom")

    async def go():
        jobs = [Job(np.zeros((1, 2), np.float32)) for _ in range(3)]
        jobs[1].future.cancel()  # a client that gave up
        await run_batch(jobs, broken)
        return jobs
    jobs = _run(go())
    assert jobs[1].future.cancelled()
    for j in (jobs[0], jobs[2]):
        with pytest.raises(RuntimeError, match="boom"):
            j.future.result()


def test_a_cancelled_run_batch_leaves_no_job_waiting_forever():
    started = threading.Event()

    def slow(x):
        started.set()
        time.sleep(0.2)
        return x

    async def go():
        jobs = [Job(np.zeros((1, 2), np.float32)) for _ in range(2)]
        task = asyncio.ensure_future(run_batch(jobs, slow))
        while not started.is_set():
            await asyncio.sleep(0.005)
        task.cancel()  # the server stops while the forward pass runs
        with pytest.raises(asyncio.CancelledError):
            await task
        return jobs
    jobs = _run(go())
    assert all(j.future.cancelled() for j in jobs)
