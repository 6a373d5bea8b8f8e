"""Chapter 14's exercise checks (nnlib.exercises.ch14): the solution passes, the stub reads ⏳,
and plausible wrong answers get a ❌ line that names the problem."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from nnlib.exercises import ch14
from tests.course.exercise_harness import FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution, stub

NS = {"np": np, "asyncio": asyncio}


async def async_stub(queue, max_batch, max_wait):
    raise NotImplementedError()


# ------------------------------------------------------------------ fold_standardizer
def test_fold_standardizer_solution_stub_and_reference():
    assert_verdict(PASSED, ch14.check_fold_standardizer, load_solution("14", "fold_standardizer", NS))
    assert_verdict(PASSED, ch14.check_fold_standardizer, ch14.fold_standardizer)
    assert_verdict(NOT_ATTEMPTED, ch14.check_fold_standardizer, stub)


@pytest.mark.parametrize("wrong, mentions", [
    (lambda k, b, m, s: (k * s[:, None], b - (m / s) @ k), ("new_kernel", "multiplied")),
    (lambda k, b, m, s: (k / s[:, None], b - m @ k), ("new_bias", "divided by scale")),
    (lambda k, b, m, s: (k / s[:, None], b + (m / s) @ k), ("new_bias", "sign")),
    (lambda k, b, m, s: (k / s, b - (m / s) @ k), ("shape", "scale[:, None]")),   # columns, not rows
    (lambda k, b, m, s: (k / s[:, None], b - (m / s) @ (k / s[:, None])), ("original kernel",)),
])
def test_fold_standardizer_wrong_answers(wrong, mentions):
    assert_verdict(FAILED, ch14.check_fold_standardizer, wrong, mentions=mentions)


def test_fold_standardizer_first_case_is_small_by_hand():
    line = assert_verdict(FAILED, ch14.check_fold_standardizer, lambda k, b, m, s: (k * s[:, None], b))
    assert "case 1" in line and "[[2.], [8.]]" in line and "[[0.5], [0.5]]" in line


# --------------------------------------------------------------- quantize_per_channel
def _rint(w, axis):
    scale = (np.abs(w).max(axis=axis) / 127).astype(np.float32)
    scale[scale == 0] = 1.0
    return scale


def test_quantize_solution_and_stub():
    assert_verdict(PASSED, ch14.check_quantize_per_channel, load_solution("14", "quantize_per_channel", NS))
    assert_verdict(NOT_ATTEMPTED, ch14.check_quantize_per_channel, stub)


def wrong_axis(w):
    scale = _rint(w, 1)
    return np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8), scale


def no_zero_guard(w):
    scale = (np.abs(w).max(axis=0) / 127).astype(np.float32)
    return np.clip(np.rint(w / scale), -127, 127).astype(np.int8), scale


def truncates(w):
    scale = _rint(w, 0)
    return (w / scale).astype(np.int8), scale


def float_codes(w):
    scale = _rint(w, 0)
    return np.clip(np.rint(w / scale), -127, 127), scale


def float64_scale(w):
    scale = np.abs(w).max(axis=0) / 127.0
    scale = np.where(scale == 0, 1.0, scale).astype(np.float64)
    return np.clip(np.rint(w / scale), -127, 127).astype(np.int8), scale


@pytest.mark.parametrize("wrong, mentions", [
    (wrong_axis, ("case 1", "shape (3,)", "axis=0")),
    (no_zero_guard, ("case 2", "all-zero column", "scale 1")),
    (truncates, ("np.rint", "truncates")),
    (float_codes, ("int8",)),
    (float64_scale, ("float32",)),
])
def test_quantize_wrong_answers(wrong, mentions):
    line = assert_verdict(FAILED, ch14.check_quantize_per_channel, wrong, mentions=mentions)
    assert len(line) <= 220


# ------------------------------------------------------------------------ validate_rows
def test_validate_rows_solution_and_stub():
    assert_verdict(PASSED, ch14.check_validate_rows, load_solution("14", "validate_rows", NS))
    assert_verdict(NOT_ATTEMPTED, ch14.check_validate_rows, stub)


def accepts_bools(body, n_features, max_rows):
    if not isinstance(body, dict) or set(body) != {"inputs"}:
        return "bad body"
    rows = body["inputs"]
    if not isinstance(rows, list) or not 1 <= len(rows) <= max_rows:
        return "bad rows"
    for row in rows:
        if not isinstance(row, list) or len(row) != n_features:
            return "bad row"
        if not all(isinstance(v, (int, float)) for v in row):
            return "not a number"
    return None


def ignores_extra_fields(body, n_features, max_rows):
    if not isinstance(body, dict) or "inputs" not in body:
        return "bad body"
    return accepts_bools({"inputs": body["inputs"]}, n_features, max_rows) or (
        None if all(type(v) in (int, float) for row in body["inputs"] for v in row) else "not a number")


def off_by_one_max_rows(body, n_features, max_rows):
    return accepts_bools(body, n_features, max_rows - 1) or (
        None if all(type(v) in (int, float) for row in body["inputs"] for v in row) else "not a number")


def raises_on_bad_input(body, n_features, max_rows):   # assumes every row is a list
    if not isinstance(body, dict) or set(body) != {"inputs"} or not isinstance(body["inputs"], list):
        return "bad body"
    if not 1 <= len(body["inputs"]) <= max_rows:
        return "bad rows"
    for row in body["inputs"]:
        if len(row) != n_features or not all(type(v) in (int, float) for v in row):
            return "bad row"
    return None


@pytest.mark.parametrize("wrong, mentions", [
    (accepts_bools, ("accepted", "True", "bool")),
    (ignores_extra_fields, ("accepted", "field other than 'inputs'")),
    (off_by_one_max_rows, ("refused the valid body",)),
    (raises_on_bad_input, ("raised", "instead of raising")),
    (lambda body, n, m: "error", ("refused the valid body",)),
])
def test_validate_rows_wrong_answers(wrong, mentions):
    assert_verdict(FAILED, ch14.check_validate_rows, wrong, mentions=mentions)


# ------------------------------------------------------------------------ collect_batch
# Wrong answers a learner writes. Each is an `async def` with the exercise's signature.
async def no_waiting(queue, max_batch, max_wait):        # takes what is there, never waits
    batch = [await queue.get()]
    while len(batch) < max_batch and not queue.empty():
        batch.append(queue.get_nowait())
    return batch


async def deadline_per_job(queue, max_batch, max_wait):  # waits max_wait for EACH next job
    batch = [await queue.get()]
    rows = len(batch[0].rows)
    while rows < max_batch:
        try:
            job = await asyncio.wait_for(queue.get(), max_wait)
        except asyncio.TimeoutError:
            break
        batch.append(job)
        rows += len(job.rows)
    return batch


async def deadline_from_call(queue, max_batch, max_wait):  # the clock starts before the first job
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait
    batch = [await queue.get()]
    rows = len(batch[0].rows)
    while rows < max_batch and deadline - loop.time() > 0:
        try:
            job = await asyncio.wait_for(queue.get(), deadline - loop.time())
        except asyncio.TimeoutError:
            break
        batch.append(job)
        rows += len(job.rows)
    return batch


async def counts_jobs_not_rows(queue, max_batch, max_wait):
    loop = asyncio.get_running_loop()
    batch = [await queue.get()]
    deadline = loop.time() + max_wait
    while len(batch) < max_batch and deadline - loop.time() > 0:
        try:
            batch.append(await asyncio.wait_for(queue.get(), deadline - loop.time()))
        except asyncio.TimeoutError:
            break
    return batch


async def sleeps_then_drains(queue, max_batch, max_wait):  # always waits the full max_wait
    batch = [await queue.get()]
    await asyncio.sleep(max_wait)
    while len(batch) < max_batch and not queue.empty():
        batch.append(queue.get_nowait())
    return batch


async def never_overflows(queue, max_batch, max_wait):  # refuses a job that would pass max_batch
    loop = asyncio.get_running_loop()
    batch = [await queue.get()]
    rows = len(batch[0].rows)
    deadline = loop.time() + max_wait
    while rows < max_batch and deadline - loop.time() > 0:
        try:
            job = await asyncio.wait_for(queue.get(), deadline - loop.time())
        except asyncio.TimeoutError:
            break
        if rows + len(job.rows) > max_batch:
            queue.put_nowait(job)          # back to the END of the queue: order lost
            break
        batch.append(job)
        rows += len(job.rows)
    return batch


async def waits_for_a_full_batch(queue, max_batch, max_wait):  # forgets max_wait
    batch = [await queue.get()]
    while sum(len(j.rows) for j in batch) < max_batch:
        batch.append(await queue.get())
    return batch


def not_async(queue, max_batch, max_wait):
    return [queue.get_nowait()]


def test_collect_batch_solution_reference_and_stub():
    solution = load_solution("14", "collect_batch", NS)
    assert_verdict(PASSED, ch14.check_collect_batch, solution)
    import nnlib.batching
    assert_verdict(PASSED, ch14.check_collect_batch, nnlib.batching.collect_batch)
    assert_verdict(NOT_ATTEMPTED, ch14.check_collect_batch, async_stub)


@pytest.mark.parametrize("wrong, mentions", [
    (no_waiting, ("lone job", "wait up to max_wait")),
    (sleeps_then_drains, ("already queued", "as soon as")),
    (counts_jobs_not_rows, ("7 rows", "at least max_batch rows")),
    (never_overflows, ("stopped at 3 rows",)),
    (deadline_from_call, ("when the first job arrives",)),
    (deadline_per_job, ("from the first job, not from the latest",)),
    (waits_for_a_full_batch, ("did not return", "deadline")),
    (not_async, ("async def",)),
])
def test_collect_batch_wrong_answers(wrong, mentions):
    assert_verdict(FAILED, ch14.check_collect_batch, wrong, mentions=mentions)


def test_same_batches_solution_stub_and_wrong():
    assert_verdict(PASSED, ch14.check_same_batches, load_solution("14", "collect_batch", NS))
    assert_verdict(NOT_ATTEMPTED, ch14.check_same_batches, async_stub)
    line = assert_verdict(FAILED, ch14.check_same_batches, counts_jobs_not_rows, mentions=("nnlib.batching",))
    assert "D+E+F" in line
    assert_verdict(FAILED, ch14.check_same_batches, no_waiting, mentions=("your batches",))


def test_batches_for_reports_the_reference_partition():
    import nnlib.batching

    async def run():
        return await ch14.batches_for(nnlib.batching.collect_batch, ch14.SCENARIO, 4, 0.1)
    found = asyncio.run(run())
    assert [names for names, _, _ in found] == [["A", "B", "C"], ["D", "E"], ["F"], ["G", "H"], ["I"]]
    assert [rows for _, rows, _ in found] == [4, 6, 1, 2, 1]
    lone = found[2][2]
    assert 0.09 <= lone < 1.0            # F waited about max_wait (generous upper bound: loaded machines)


# --------------------------------------------------------------------------- percentile
def test_percentile_solution_and_stub():
    assert_verdict(PASSED, ch14.check_percentile, load_solution("14", "percentile", NS))
    assert_verdict(NOT_ATTEMPTED, ch14.check_percentile, stub)


def unsorted(values, p):
    x = np.asarray(values, dtype=float)
    r = p / 100 * (len(x) - 1)
    lo = int(np.floor(r))
    return x[lo] + (r - lo) * (x[min(lo + 1, len(x) - 1)] - x[lo])


def nearest_rank(values, p):
    x = np.sort(np.asarray(values, dtype=float))
    return x[int(round(p / 100 * (len(x) - 1)))]


def position_p_times_n(values, p):
    x = np.sort(np.asarray(values, dtype=float))
    r = min(p / 100 * len(x), len(x) - 1)
    lo = int(np.floor(r))
    return x[lo] + (r - lo) * (x[min(lo + 1, len(x) - 1)] - x[lo])


@pytest.mark.parametrize("wrong, mentions", [
    (unsorted, ("sort the values first",)),
    (nearest_rank, ("interpolate", "2.2")),
    (position_p_times_n, ("not p/100·n",)),
])
def test_percentile_wrong_answers(wrong, mentions):
    line = assert_verdict(FAILED, ch14.check_percentile, wrong, mentions=mentions)
    assert "percentile([" in line          # the failing case is a handful of numbers, shown whole


def test_percentile_first_case_is_by_hand():
    line = assert_verdict(FAILED, ch14.check_percentile, lambda values, p: 0.0)
    assert "percentile([1.0, 2.0, 3.0, 4.0], 40)" in line and "expected 2.2" in line


# ------------------------------------------------------- nothing after a check depends on it
EXERCISES = ("fold_standardizer", "quantize_per_channel", "validate_rows", "collect_batch", "percentile")


@pytest.mark.parametrize("name", EXERCISES)
def test_later_cells_use_only_nnlib_versions(name):
    """Outside its own cell, a learner's function appears only as the argument of a ch14 check."""
    import re
    from tests.course.exercise_harness import notebook_cells

    cells = [("".join(c["source"]), c) for c in notebook_cells("14") if c["cell_type"] == "code"]
    defining = [src for src, _ in cells if f"def {name}(" in src]
    assert len(defining) == 1, f"exactly one cell defines {name}()"
    for src, _ in cells:
        if src in defining:
            continue
        for line in src.splitlines():
            line = line.split("#", 1)[0]          # comments may name it
            # a bare use of the name: not an attribute (ch14.fold_standardizer, nnlib.quantize.quantize_per_channel)
            for match in re.finditer(rf"(?<![\w.]){name}\b", line):
                assert re.match(rf"\s*ch14\.check_\w+\({name}\)\s*$", line), \
                    f"a later cell uses the learner's {name} outside a check: {line.strip()!r}"
