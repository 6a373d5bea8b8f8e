"""Chapter 03 (issue 20): grad modes nest, restore the previous mode (also after an error) and are per thread."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import nnlib
from nnlib import enable_grad, is_grad_enabled, no_grad
from nnlib.layers import Dense
from nnlib.models import Sequential
from nnlib.parallel import parallel_backward


def _records_graph() -> bool:
    w = nnlib.Parameter(np.ones(2, np.float32))
    return (w * 2.0).requires_grad


def test_no_grad_inside_no_grad_keeps_grad_off_until_the_outer_block_ends():
    assert is_grad_enabled()
    with no_grad():
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled() and not _records_graph()  # restore True here is the planted bug
    assert is_grad_enabled() and _records_graph()


def test_enable_grad_inside_no_grad():
    with no_grad():
        with enable_grad():
            assert is_grad_enabled() and _records_graph()
        assert not is_grad_enabled() and not _records_graph()
    with enable_grad():
        assert is_grad_enabled()
    assert is_grad_enabled()


def test_deeper_nesting_restores_each_level():
    seen = []
    with no_grad():
        with enable_grad():
            with no_grad():
                seen.append(is_grad_enabled())
            seen.append(is_grad_enabled())
        seen.append(is_grad_enabled())
    seen.append(is_grad_enabled())
    assert seen == [False, True, False, True]


def test_decorator_form_and_reentry():
    @no_grad()
    def inner():
        return is_grad_enabled()

    @enable_grad()
    def turned_on():
        return is_grad_enabled()

    assert inner() is False and is_grad_enabled()
    with no_grad():
        assert turned_on() is True
        assert not is_grad_enabled()

    @no_grad()
    def recurse(n):  # the same context object entered again while active
        if n:
            recurse(n - 1)
        return is_grad_enabled()

    assert recurse(3) is False and is_grad_enabled()
    with no_grad():
        assert recurse(2) is False
        assert not is_grad_enabled()
    cm = enable_grad()
    with no_grad():
        with cm:
            with no_grad():
                with cm:
                    assert is_grad_enabled()
                assert not is_grad_enabled()
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_an_exception_inside_the_block_restores_the_mode():
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("x")
    assert is_grad_enabled()
    with no_grad():
        with pytest.raises(ValueError):
            with enable_grad():
                raise ValueError("y")
        assert not is_grad_enabled()

    @no_grad()
    def fails():
        raise RuntimeError("z")

    with pytest.raises(RuntimeError):
        fails()
    assert is_grad_enabled()


def test_the_mode_is_per_thread():
    """As in PyTorch: no_grad in one thread does not change another thread's mode."""
    inside, started, release = {}, threading.Event(), threading.Event()

    def other():
        started.set()
        release.wait(10)
        inside["other"] = is_grad_enabled()
        with no_grad():
            inside["other_inner"] = is_grad_enabled()
            release2.wait(10)

    release2 = threading.Event()
    t = threading.Thread(target=other)
    t.start()
    started.wait(10)
    with no_grad():
        release.set()
        while "other_inner" not in inside:
            t.join(0.01)
        assert not is_grad_enabled()
    assert is_grad_enabled()  # the other thread's no_grad is still open: it does not reach this thread
    release2.set()
    t.join(10)
    assert inside == {"other": True, "other_inner": False}


def test_a_thread_started_inside_no_grad_starts_enabled():
    got = []
    with no_grad():
        t = threading.Thread(target=lambda: got.append(is_grad_enabled()))
        t.start()
        t.join(10)
    assert got == [True]


def test_evaluate_and_predict_inside_no_grad_leave_it_closed():
    nnlib.manual_seed(0)
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    with no_grad():
        model.predict(x, verbose=0)
        assert not is_grad_enabled()
        model.evaluate(x, y, verbose=0)
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_parallel_backward_workers_take_the_callers_mode():
    nnlib.manual_seed(0)
    model = Sequential([Dense(1, input_shape=(2,))])
    x, y = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32), np.zeros((8, 1), np.float32)

    def loss(xb, yb):
        return ((model(xb) - nnlib.Tensor(yb)) ** 2).mean()

    model.zero_grad() if hasattr(model, "zero_grad") else None
    parallel_backward(loss, x, y, workers=2)
    k = model.layers[0].kernel
    assert k.grad is not None and np.isfinite(k.grad).all()
    k.grad = None
    modes = []

    def spy(xb, yb):
        modes.append(is_grad_enabled())
        return loss(xb, yb)

    with no_grad():
        with enable_grad():
            parallel_backward(spy, x, y, workers=2)
    assert modes == [True, True] and k.grad is not None


def test_parallel_backward_under_no_grad_runs_every_shard_under_no_grad():
    nnlib.manual_seed(0)
    model = Sequential([Dense(1, input_shape=(2,))])
    x, y = np.ones((8, 2), np.float32), np.zeros((8, 1), np.float32)
    modes = []

    def spy(xb, yb):
        modes.append(is_grad_enabled())
        return ((model(xb) - nnlib.Tensor(yb)) ** 2).mean()

    with no_grad():
        try:
            parallel_backward(spy, x, y, workers=2)
        except Exception:  # noqa: BLE001 - without a graph there is nothing to backpropagate; the modes matter
            pass
        assert not is_grad_enabled()
    assert modes == [False, False]  # a worker thread must not build a graph its caller switched off
