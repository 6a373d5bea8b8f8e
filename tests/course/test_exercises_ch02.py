"""Chapter 02's exercise checks: the solution passes, the stub waits, plausible wrong answers fail by name."""

import numpy as np
import pytest

from nnlib.exercises import ch02
from tests.course.exercise_harness import FAILED, LINE_LIMIT, NOT_ATTEMPTED, PASSED, load_solution, stub
from tests.course.exercise_harness import assert_verdict as _assert_verdict

NS = {"np": np}


def assert_verdict(*args, **kwargs):
    """The harness's assert_verdict, with every line at most LINE_LIMIT characters."""
    return _assert_verdict(*args, max_length=LINE_LIMIT, **kwargs)


@pytest.mark.parametrize("name", ["mse", "logsumexp", "cross_entropy", "linreg_gradients"])
def test_solution_passes_and_stub_waits(name):
    check = getattr(ch02, f"check_{name}")
    assert_verdict(PASSED, check, load_solution("02", name, NS))
    assert_verdict(NOT_ATTEMPTED, check, stub)


def test_mse_wrong_answers():
    assert_verdict(FAILED, ch02.check_mse, lambda p, t: np.sum((p - t) ** 2), mentions=("got 5.0", "expected 2.5", "sum"))
    assert_verdict(FAILED, ch02.check_mse, lambda p, t: np.mean(np.abs(p - t)), mentions=("got 1.5", "square"))


def test_logsumexp_wrong_answers():
    assert_verdict(FAILED, ch02.check_logsumexp, lambda z: np.log(np.exp(z).sum(axis=-1)),
                   mentions=("case 3", "got inf", "overflows"))
    assert_verdict(FAILED, ch02.check_logsumexp, lambda z: np.log(np.exp(z - z.max()).sum()) + z.max(),
                   mentions=("case 5", "axis=-1"))
    assert_verdict(FAILED, ch02.check_logsumexp, lambda z: np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)),
                   mentions=("case 2", "got 0.4076", "add the largest entry"))


def test_cross_entropy_wrong_answers():
    naive = lambda z, t: -np.mean(np.log(np.exp(z) / np.exp(z).sum(1, keepdims=True))[np.arange(len(t)), t])  # noqa: E731
    assert_verdict(FAILED, ch02.check_cross_entropy, naive, mentions=("case 4", "overflows"))
    summed = lambda z, t: ch02._cross_entropy(z, t) * len(t)  # noqa: E731
    assert_verdict(FAILED, ch02.check_cross_entropy, summed, mentions=("got 1.386", "expected 0.6931", "mean"))


def test_linreg_gradients_wrong_answers():
    def no_two(X, y, w, b):
        r = X @ w + b - y
        return X.T @ r / len(y), float(np.mean(r))

    assert_verdict(FAILED, ch02.check_linreg_gradients, no_two,
                   mentions=("case 1", "dw:", "got -2.5", "expected -5.0", "factor 2"))

    def wrong_db(X, y, w, b):
        r = X @ w + b - y
        return 2 * X.T @ r / len(y), float(np.mean(r))

    assert_verdict(FAILED, ch02.check_linreg_gradients, wrong_db, mentions=("db: got -1.5; expected -3.0",))
