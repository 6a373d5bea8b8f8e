"""Chapter 14: the exercise checks of the deployment chapter (and the scenarios they run).

One check per exercise: ``check_fold_standardizer``, ``check_quantize_per_channel``,
``check_validate_rows``, ``check_collect_batch`` (with ``check_same_batches``) and
``check_percentile``. Each prints exactly one line (✅, ⏳ or ❌ naming the problem in
words) and returns a :class:`nnlib.checks.Verdict`; none raises. The first case of
every check is small enough to verify by hand.

``fold_standardizer`` is the reference answer of exercise 1: the notebook's later
cells use it, so that they run the same whether or not the exercise is solved.
``batches_for`` drives a ``collect_batch`` with jobs that arrive on a schedule.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
import warnings

import numpy as np

from nnlib.batching import Job
from nnlib.checks import Verdict, check_true

__all__ = [
    "fold_standardizer",
    "check_fold_standardizer",
    "check_quantize_per_channel",
    "check_validate_rows",
    "batches_for",
    "SCENARIO",
    "check_collect_batch",
    "check_same_batches",
    "check_percentile",
]

_LINE = 220  # a verdict line stays about this long


# --------------------------------------------------------------------------- helpers
def _text(value) -> str:
    """A short, one-line text of a small value (arrays with 4 decimals)."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=4, separator=", ", threshold=12, edgeitems=2,
                               suppress_small=True, max_line_width=10_000)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = repr(value)
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= 70 else text[:69] + "…"


def _not_attempted() -> None:
    raise NotImplementedError()


def _verdict(name: str, find_problem, passed: str) -> Verdict:
    """Run ``find_problem()`` (None, or a text naming what is wrong) and print ONE line."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # a learner's division by zero is a verdict, not stderr noise
            problem = find_problem()
    except NotImplementedError:
        return check_true(name, _not_attempted, "")  # the course's standard ⏳ line
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # never let a check cell stop "Run All"
        problem = f"raised {type(error).__name__}: {error}"
    if problem is None:
        print(f"✅ {name}: {passed}")
        return Verdict(True)
    line = re.sub(r"\s+", " ", f"❌ {name}: {problem}")
    print(line if len(line) <= _LINE else line[: _LINE - 1] + "…")
    return Verdict(False)


def _call(fn, *args):
    """``fn(*args)``; an exception other than NotImplementedError becomes a _Raised."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except Exception as error:
        return _Raised(error)


class _Raised:
    def __init__(self, error):
        self.error = error

    def __str__(self):
        return f"raised {type(self.error).__name__}: {self.error}"


def _close(a, b, atol=1e-6, rtol=1e-5) -> bool:
    try:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol))


# ------------------------------------------------------------- exercise 1: folding
def fold_standardizer(kernel, bias, mean, scale):
    """Chapter 14: fold ``(x - mean) / scale`` into a Dense layer: ``(new_kernel, new_bias)``.

    ``((x - mean) / scale) @ kernel + bias == x @ new_kernel + new_bias`` with
    ``new_kernel = kernel / scale[:, None]`` (row i divided by scale[i]) and
    ``new_bias = bias - (mean / scale) @ kernel``.
    """
    kernel, bias = np.asarray(kernel), np.asarray(bias)
    mean, scale = np.asarray(mean), np.asarray(scale)
    return kernel / scale[:, None], bias - (mean / scale) @ kernel


def _fold_cases():
    rng = np.random.default_rng(0)
    small = (np.array([[1.0], [2.0]]), np.array([0.5]), np.array([1.0, 2.0]), np.array([2.0, 4.0]))
    wide = (rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=3), rng.uniform(0.5, 2, 3))
    return [("case 1 (kernel [[1], [2]], bias [0.5], mean [1, 2], scale [2, 4])", small),
            ("case 2 (a 3x2 kernel)", wide)]


def check_fold_standardizer(fold_standardizer) -> Verdict:
    """Chapter 14: exercise 1, ``fold_standardizer(kernel, bias, mean, scale) -> (new_kernel, new_bias)``."""

    def problem():
        for label, (k, b, m, s) in _fold_cases():
            got = _call(fold_standardizer, k.copy(), b.copy(), m.copy(), s.copy())
            if isinstance(got, _Raised):
                return f"{label} {got}."
            if not (isinstance(got, (tuple, list)) and len(got) == 2):
                return f"{label}: return a pair (new_kernel, new_bias), got {_text(got)}."
            kernel, bias = got
            want_k, want_b = _fold_reference(k, b, m, s)
            if np.shape(kernel) != want_k.shape:
                return (f"{label}: new_kernel has shape {np.shape(kernel)}; it keeps the kernel's shape "
                        f"{want_k.shape} (divide row i by scale[i]: kernel / scale[:, None]).")
            if not _close(kernel, want_k):
                hint = "row i of the kernel is divided by scale[i]"
                if _close(kernel, k * s[:, None]):
                    hint = "you multiplied row i by scale[i]; divide it"
                return f"{label}: new_kernel is {_text(np.asarray(kernel))}; expected {_text(want_k)} ({hint})."
            if np.shape(bias) != want_b.shape:
                return f"{label}: new_bias has shape {np.shape(bias)}; expected {want_b.shape}, like the bias."
            if not _close(bias, want_b):
                hint = "new_bias = bias - (mean / scale) @ kernel"
                if _close(bias, b - m @ k):
                    hint = "the mean must be divided by scale too: bias - (mean / scale) @ kernel"
                elif _close(bias, b + (m / s) @ k):
                    hint = "wrong sign: subtract (mean / scale) @ kernel from the bias"
                elif _close(bias, b - (m / s) @ want_k):
                    hint = "use the original kernel in the bias, not the new one"
                return f"{label}: new_bias is {_text(np.asarray(bias))}; expected {_text(want_b)} ({hint})."
        return None

    return _verdict("fold_standardizer", problem, "both cases passed (new_kernel and new_bias).")


_fold_reference = fold_standardizer


# ------------------------------------------------------ exercise 2: int8 per channel
def _quantize_cases():
    hand = np.array([[1.27, -0.5], [-0.5, 2.54], [0.0, -1.0]], dtype=np.float32)
    zero_column = np.array([[0.0, 1.0], [0.0, -0.25], [0.0, 0.5]], dtype=np.float32)
    rng = np.random.default_rng(1)
    return [("case 1 (w = [[1.27, -0.5], [-0.5, 2.54], [0, -1]], 3x2)", hand),
            ("case 2 (an all-zero first column)", zero_column),
            ("case 3 (a random 5x3 kernel)", rng.normal(size=(5, 3)).astype(np.float32))]


def check_quantize_per_channel(quantize_per_channel) -> Verdict:
    """Chapter 14: exercise 2, ``quantize_per_channel(w) -> (q int8, scale float32 of shape (out,))``."""
    from nnlib.quantize import quantize_per_channel as reference

    def problem():
        for label, w in _quantize_cases():
            got = _call(quantize_per_channel, w.copy())
            if isinstance(got, _Raised):
                return f"{label} {got}."
            if not (isinstance(got, (tuple, list)) and len(got) == 2):
                return f"{label}: return a pair (q, scale), got {_text(got)}."
            q, scale = (np.asarray(v) for v in got)
            want_q, want_s = reference(w, axis=1)
            if scale.shape != want_s.shape:
                return (f"{label}: scale has shape {scale.shape}; expected {want_s.shape}, one scale per output "
                        f"channel (column): the max of |w| over axis=0.")
            if q.shape != w.shape:
                return f"{label}: q has shape {q.shape}; expected {w.shape}, the shape of w."
            if scale.dtype != np.float32:
                return f"{label}: scale has dtype {scale.dtype}; expected float32 (.astype(np.float32))."
            if not np.allclose(scale, want_s, rtol=1e-6, atol=0):
                hint = "scale_j = max_i |w_ij| / 127"
                bad = ~np.isclose(scale, want_s, rtol=1e-6, atol=0)
                if np.any(bad & (np.abs(w).max(axis=0) == 0)):
                    hint = "an all-zero column must get scale 1, not 0: dividing by 0 gives nan"
                return f"{label}: scale is {_text(scale)}; expected {_text(want_s)} ({hint})."
            if q.dtype != np.int8:
                return f"{label}: q has dtype {q.dtype}; expected int8 (.astype(np.int8) after rounding)."
            if not np.array_equal(q, want_q):
                hint = "round w / scale to the nearest integer (np.rint), then clip to -127..127"
                if np.array_equal(q, (w / scale).astype(np.int8)):
                    hint = "astype(np.int8) truncates towards 0: round first with np.rint"
                where = tuple(int(i) for i in np.argwhere(q != want_q)[0])
                return (f"{label}: q{list(where)} is {int(q[where])}, expected {int(want_q[where])} ({hint}); "
                        f"q is {_text(q)}.")
        return None

    return _verdict("quantize_per_channel", problem, "all 3 cases passed (q int8, one float32 scale per column).")


# ---------------------------------------------------------- exercise 3: validation
#: (body, None if valid else the reason it is invalid); n_features=2, max_rows=3.
_ROW_CASES = [
    ({"inputs": [[1, 2.5]]}, None),
    ({"inputs": [[1, 2], [3, 4]]}, None),
    ({"inputs": [[-1, 0.0]] * 3}, None),
    ({"inputs": [[1, True]]}, "True is a bool, not a number (in Python bool is a kind of int: test type(v) in (int, float))"),
    ({"inputs": [[False, 2.0]]}, "False is a bool, not a number"),
    ({"inputs": [[1]]}, "the row has 1 value; the model needs 2"),
    ({"inputs": [[1, 2, 3]]}, "the row has 3 values; the model needs 2"),
    ({"inputs": [[1, "2"]]}, 'the value "2" is a string'),
    ({"inputs": [[1, None]]}, "None is not a number"),
    ({"inputs": [[1, 2]], "extra": 0}, "it has a field other than 'inputs'"),
    ({}, "it has no 'inputs'"),
    ({"inputs": []}, "it has no rows"),
    ({"inputs": [[1, 2]] * 4}, "4 rows are more than max_rows=3"),
    ([[1, 2]], "the body is a list, not a dict"),
    ({"inputs": [1, 2]}, "the rows are numbers, not lists"),
    ({"inputs": [[1, [2]]]}, "the value [2] is a list"),
]


def check_validate_rows(validate_rows) -> Verdict:
    """Chapter 14: exercise 3, ``validate_rows(body, n_features, max_rows)``: None or an error message."""

    def problem():
        for body, reason in _ROW_CASES:
            shown = _text(body)
            got = _call(validate_rows, body, 2, 3)
            if isinstance(got, _Raised):
                return f"validate_rows({shown}, 2, 3) {got}; return an error message instead of raising."
            if reason is None and got is not None:
                return f"refused the valid body {shown} (n_features=2, max_rows=3) with {_text(got)}."
            if reason is not None and got is None:
                return f"accepted {shown} (n_features=2, max_rows=3), but {reason}."
            if reason is not None and not isinstance(got, str):
                return f"for the bad body {shown} return an error message (a str), got {_text(got)}."
        return None

    return _verdict("validate_rows", problem, f"all {len(_ROW_CASES)} bodies judged right.")


# ------------------------------------------------------ exercise 4: collect_batch
#: The scenario of ``check_same_batches``: (name, seconds after the start, rows).
SCENARIO = [
    ("A", 0.00, 1), ("B", 0.00, 2), ("C", 0.02, 1),   # 4 rows reached: returned at once
    ("D", 0.35, 3), ("E", 0.35, 3),                   # 6 rows: returned at once, a job is never split
    ("F", 0.40, 1),                                   # after D+E left: alone, returned after max_wait
    ("G", 0.75, 1), ("H", 0.78, 1),                   # H within max_wait of G ...
    ("I", 1.00, 1),                                   # ... I is not: a batch of its own
]
_MAX_BATCH, _MAX_WAIT = 4, 0.1


class _Problem(Exception):
    """A wrong answer found while a scenario runs (its text is the verdict)."""


async def batches_for(collect_batch, arrivals, max_batch, max_wait, batches=None, give_up=2.0):
    """Chapter 14: the batches ``collect_batch`` forms from jobs that arrive on a schedule.

    ``arrivals``: ``(name, seconds after the start, rows)`` per job. Jobs due at time 0
    are queued before the first call. ``collect_batch(queue, max_batch, max_wait)`` is
    awaited until every job is taken (or ``batches`` times). Returns one
    ``(names, rows, waited)`` per batch: the jobs' names, the batch's row count and the
    seconds from its first job's arrival until it came back.
    """
    if not inspect.iscoroutinefunction(collect_batch):
        raise _Problem("collect_batch must be a coroutine function: write `async def collect_batch(...)`.")
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()
    jobs = [Job(np.full((rows, 1), i, dtype=np.float32)) for i, (_, _, rows) in enumerate(arrivals)]
    names = {id(job): name for job, (name, _, _) in zip(jobs, arrivals)}
    arrived = {}
    start = loop.time()

    def put(job, name):
        arrived[name] = loop.time()
        queue.put_nowait(job)

    for job, (name, t, _) in zip(jobs, arrivals):
        if t <= 0:
            put(job, name)

    async def producer():
        for job, (name, t, _) in zip(jobs, arrivals):
            if t > 0:
                await asyncio.sleep(max(0.0, start + t - loop.time()))
                put(job, name)

    feeder = asyncio.create_task(producer())
    found, taken = [], []
    try:
        while len(taken) < len(jobs) and (batches is None or len(found) < batches):
            try:
                batch = await asyncio.wait_for(collect_batch(queue, max_batch, max_wait), give_up)
            except asyncio.TimeoutError:
                raise _Problem(f"collect_batch did not return within {give_up:.0f} s (max_wait is "
                               f"{max_wait * 1000:.0f} ms, max_batch {max_batch}); stop at the deadline.") from None
            back = loop.time()
            if not isinstance(batch, (list, tuple)) or not all(isinstance(j, Job) for j in batch):
                raise _Problem(f"return the list of Job objects taken from the queue, got {_text(batch)}.")
            if not batch:
                raise _Problem("returned an empty batch: first wait (with no deadline) for one job.")
            if any(id(j) not in names for j in batch) or len({id(j) for j in batch}) < len(batch):
                raise _Problem("returned jobs that were not on the queue, or one job twice.")
            batch_names = [names[id(j)] for j in batch]
            if any(n in taken for n in batch_names):
                raise _Problem(f"returned job {batch_names[0]} a second time.")
            taken += batch_names
            found.append((batch_names, sum(len(j.rows) for j in batch), back - arrived[batch_names[0]]))
    finally:
        feeder.cancel()
    if batches is None and [n for n, _, _ in arrivals] != taken:
        raise _Problem(f"the jobs came back in the order {taken}; keep the arrival order.")
    return found


def _run(coroutine_function):
    """Run an async scenario to its end in a fresh event loop in a worker thread.

    (A notebook's kernel already runs an event loop, where ``asyncio.run`` is refused.)
    """
    result = {}

    def target():
        try:
            result["value"] = asyncio.run(coroutine_function())
        except BaseException as error:  # handed to the caller
            result["error"] = error

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():
        raise _Problem("the scenario did not finish within 30 s.")
    if "error" in result:
        raise result["error"]
    return result["value"]


def _scenario_problem(collect_batch):
    ms = lambda seconds: f"{seconds * 1000:.0f} ms"  # noqa: E731

    async def run():
        # 1. A lone job: returned after about max_wait, not at once and not never.
        [(names, rows, waited)] = await batches_for(collect_batch, [("A", 0.0, 1)], 4, 0.1)
        if waited < 0.08:
            return (f"a lone job came back after {ms(waited)}; wait up to max_wait (100 ms) after the first "
                    f"job for others to join.")
        if waited > 0.6:
            return f"a lone job waited {ms(waited)} although max_wait is 100 ms: stop at the deadline."
        # 2. A full queue: max_batch rows at once.
        full = [(f"J{i}", 0.0, 1) for i in range(6)]
        [(names, rows, waited)] = await batches_for(collect_batch, full, 4, 1.0, batches=1)
        if rows > 4:
            return f"with 6 one-row jobs queued and max_batch=4, the batch took {rows} rows; stop at max_batch rows."
        if rows < 4:
            return f"with 6 one-row jobs queued and max_batch=4, the batch took only {rows} rows."
        if waited > 0.5:
            return (f"with max_batch rows already queued the batch came back after {ms(waited)} (max_wait 1000 ms): "
                    f"return as soon as it holds max_batch rows.")
        # 3. Jobs are never split: the last job may take the batch past max_batch.
        whole = [("A", 0.0, 3), ("B", 0.0, 3), ("C", 0.0, 1)]
        [(names, rows, waited)] = await batches_for(collect_batch, whole, 4, 1.0, batches=1)
        if names == ["A"]:
            return ("jobs of 3, 3 and 1 rows with max_batch=4: the batch stopped at 3 rows with a job waiting; "
                    "take whole jobs until it holds at least max_batch rows (the last may go past it).")
        if names != ["A", "B"]:
            return (f"jobs of 3, 3 and 1 rows with max_batch=4 gave the batch {names} ({rows} rows); expected "
                    f"['A', 'B']: stop once it holds at least max_batch rows.")
        if waited > 0.5:
            return f"with 6 rows taken (max_batch=4) the batch still waited {ms(waited)}: return at once."
        # 4. The deadline counts from the first job (the server was idle before it).
        steady = [(f"J{i}", 0.15 + 0.04 * i, 1) for i in range(8)]
        [(names, rows, waited)] = await batches_for(collect_batch, steady, 100, 0.1, batches=1)
        if len(names) < 2:
            return ("after an idle 150 ms, a job arrived 40 ms after the first but did not join its batch "
                    "(max_wait 100 ms): start the deadline when the first job arrives, not when the call starts.")
        if waited > 0.25 or len(names) > 5:
            return (f"with a job every 40 ms the batch collected for {ms(waited)} ({len(names)} jobs) although "
                    f"max_wait is 100 ms: the deadline counts from the first job, not from the latest.")
        return None

    try:
        return _run(run)
    except _Problem as found:
        return str(found)


def check_collect_batch(collect_batch) -> Verdict:
    """Chapter 14: exercise 4, ``async def collect_batch(queue, max_batch, max_wait) -> list of Jobs``.

    Four timed scenarios (max_wait 100 ms or 1 s, wide margins): a lone job, a full
    queue, jobs that must not be split, and a steady stream after an idle spell.
    """
    return _verdict("collect_batch", lambda: _scenario_problem(collect_batch),
                    "all 4 scenarios passed (lone job, full queue, whole jobs, deadline from the first job).")


def _partition(collect_batch):
    async def run():
        return await batches_for(collect_batch, SCENARIO, _MAX_BATCH, _MAX_WAIT)
    return [names for names, _, _ in _run(run)]


def check_same_batches(collect_batch) -> Verdict:
    """Chapter 14: does ``collect_batch`` form the same batches as ``nnlib.batching.collect_batch`` on SCENARIO?"""
    from nnlib.batching import collect_batch as reference

    def problem():
        try:
            expected = _partition(reference)
            got = _partition(collect_batch)
        except _Problem as found:
            return str(found)
        if got != expected:
            shown = lambda batches: " | ".join("+".join(names) for names in batches)  # noqa: E731
            return f"on ch14.SCENARIO your batches are {shown(got)}; nnlib.batching.collect_batch forms {shown(expected)}."
        return None

    return _verdict("collect_batch == nnlib.batching.collect_batch", problem,
                    "the same batches on the scenario.")


# -------------------------------------------------------- exercise 5: percentiles
def _percentile_cases():
    latencies = np.random.default_rng(0).exponential(5.0, size=101)
    return [([1.0, 2.0, 3.0, 4.0], 40), ([3.0, 1.0, 2.0], 50), ([10.0, 20.0], 99), ([7.0], 90),
            ([5.0, 1.0, 4.0, 2.0, 3.0], 100), ([5.0, 1.0, 4.0, 2.0, 3.0], 0),
            (latencies, 50), (latencies, 99)]


def check_percentile(percentile) -> Verdict:
    """Chapter 14: exercise 5, ``percentile(values, p)`` by linear interpolation (NumPy's default)."""

    def problem():
        for values, p in _percentile_cases():
            x = np.asarray(values, dtype=float)
            shown = f"percentile({_text(values) if len(x) <= 6 else f'{len(x)} latencies'}, {p})"
            got = _call(percentile, list(values) if len(x) <= 6 else x.copy(), p)
            if isinstance(got, _Raised):
                return f"{shown} {got}."
            want = float(np.percentile(x, p))
            try:
                value = float(np.asarray(got).item()) if np.size(got) == 1 else None
            except (TypeError, ValueError):
                value = None
            if value is None:
                return f"{shown} returned {_text(got)}; expected one number, {want:.6g}."
            if abs(value - want) <= 1e-9 + 1e-7 * abs(want):
                continue
            s, n = np.sort(x), len(x)
            r = p / 100 * (n - 1)
            lo = int(np.floor(r))
            hint = f"r = p/100·(n−1) = {r:.4g}: interpolate between the sorted x({lo}) and x({min(lo + 1, n - 1)})"
            unsorted = x[lo] + (r - lo) * (x[min(lo + 1, n - 1)] - x[lo])
            rn = min(p / 100 * n, n - 1)
            off_by_one = s[int(np.floor(rn))] + (rn - np.floor(rn)) * (s[min(int(np.floor(rn)) + 1, n - 1)] - s[int(np.floor(rn))])
            if np.isclose(value, unsorted) and not np.isclose(unsorted, want):
                hint = "sort the values first"
            elif np.isclose(value, off_by_one):
                hint = f"the position is r = p/100·(n−1) = {r:.4g}, not p/100·n"
            elif np.isclose(value, s[lo]) or np.isclose(value, s[min(int(round(r)), n - 1)]):
                hint = f"r = {r:.4g} is not a whole number: interpolate between x({lo}) and x({min(lo + 1, n - 1)})"
            return f"{shown} returned {value:.6g}; expected {want:.6g} ({hint})."
        return None

    return _verdict("percentile", problem, f"all {len(_percentile_cases())} cases passed.")
