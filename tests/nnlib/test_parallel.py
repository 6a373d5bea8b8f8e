"""nnlib.parallel (chapter 15 preview): a batch split over threads gives the whole batch's gradients."""
import numpy as np
import pytest

import nnlib
from nnlib import functional as F
from nnlib.gpt import GPT, GPTConfig
from nnlib.layers import Dense
from nnlib.parallel import default_workers, parallel_backward


def _gpt(dropout=0.0):
    nnlib.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, context_length=8, d_model=8, n_heads=2, n_layers=2, dropout=dropout),
               dtype="float64")


def _batch(rows=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 11, size=(rows, 8)), rng.integers(0, 11, size=(rows, 8))


def _grads(model):
    return [None if p.grad is None else p.grad.copy() for p in model.parameters()]


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_gradients_and_loss_equal_one_pass_over_the_batch(workers):
    model = _gpt()
    x, y = _batch(rows=5)  # 5 rows: uneven shards; 8 workers: more workers than rows
    loss = model.loss(x, y)
    loss.backward()
    expected = _grads(model)
    model.zero_grad()
    value = parallel_backward(model.loss, x, y, workers=workers)
    assert value == pytest.approx(loss.item(), rel=1e-12)
    for got, want in zip(_grads(model), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_sum_reduction_and_a_plain_dense_model():
    nnlib.manual_seed(1)
    layer = Dense(3, input_shape=(4,), dtype="float64")
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((7, 4)), rng.standard_normal((7, 3))

    def sum_loss(xb, tb):
        return ((layer(xb) - tb) ** 2).sum()
    sum_loss(x, t).backward()
    expected = _grads(layer)
    layer.zero_grad()
    assert parallel_backward(sum_loss, x, t, workers=3, reduction="sum") == pytest.approx(
        float(((x @ layer.kernel.data + layer.bias.data - t) ** 2).sum()))
    for got, want in zip(_grads(layer), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_dropout_is_repeatable_for_a_given_number_of_workers():
    runs = []
    for _ in range(2):
        model = _gpt(dropout=0.3)
        nnlib.manual_seed(5)
        parallel_backward(model.loss, *_batch(rows=6), workers=3)
        runs.append(_grads(model))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_many_threads_adding_into_the_same_parameters_lose_nothing():
    nnlib.manual_seed(3)
    layer = Dense(64, input_shape=(64,), dtype="float64")
    x = np.random.default_rng(4).standard_normal((64, 64))
    F.mse_loss(layer(x), np.zeros((64, 64))).backward()
    expected = _grads(layer)
    for _ in range(5):
        layer.zero_grad()
        parallel_backward(lambda xb: F.mse_loss(layer(xb), np.zeros_like(xb)), x, workers=16)
        for got, want in zip(_grads(layer), expected):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_bad_input_gets_a_clear_error():
    model = _gpt()
    x, y = _batch(rows=4)
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        parallel_backward(model.loss, x, y[:3])
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        parallel_backward(model.loss, x, y, workers=0)
    with pytest.raises(ValueError, match="reduction"):
        parallel_backward(model.loss, x, y, reduction="none")
    with pytest.raises(ValueError, match="batch arrays"):
        parallel_backward(model.loss)
    with pytest.raises(TypeError, match="single-value Tensor"):
        parallel_backward(lambda xb, yb: model(xb), x, y, workers=2)
    bad = x.copy()
    bad[3, 0] = 11  # only the second shard fails: its error is raised once all stop, no gradient changes
    with pytest.raises(ValueError, match="token id 11 is out of range"):
        parallel_backward(model.loss, bad, y, workers=2)
    assert all(p.grad is None for p in model.parameters())
    assert 1 <= default_workers() <= 8


def test_importing_parallel_changes_nothing_in_the_engine():
    import subprocess
    import sys
    code = ("import nnlib.engine as e\n"
            "before = dict(vars(e)); methods = dict(vars(e.Tensor))\n"
            "import nnlib.parallel\n"
            "changed = [k for k in set(before) | set(vars(e)) if vars(e).get(k) is not before.get(k)]\n"
            "changed += [k for k in set(methods) | set(vars(e.Tensor)) if vars(e.Tensor).get(k) is not methods.get(k)]\n"
            "assert not changed, changed\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_backward_outside_worker_threads_accumulates_as_usual():
    import threading
    w = nnlib.Tensor(np.ones(3), requires_grad=True)
    threads = [threading.Thread(target=lambda: (w * 2.0).sum().backward()) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(w.grad, 8.0)
