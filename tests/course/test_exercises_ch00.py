"""Chapter 00's exercise checks: the solution passes, the stub waits, plausible wrong answers fail by name."""

import numpy as np
import pytest

from nnlib.exercises import ch00
from tests.course.exercise_harness import FAILED, LINE_LIMIT, NOT_ATTEMPTED, PASSED, load_solution, stub
from tests.course.exercise_harness import assert_verdict as _assert_verdict

NS = {"np": np}


def assert_verdict(*args, **kwargs):
    """The harness's assert_verdict, with every line at most LINE_LIMIT characters."""
    return _assert_verdict(*args, max_length=LINE_LIMIT, **kwargs)


@pytest.mark.parametrize("name", ["add", "weighted_sum", "standardize", "one_hot"])
def test_solution_passes_and_stub_waits(name):
    check = getattr(ch00, f"check_{name}")
    assert_verdict(PASSED, check, load_solution("00", name, NS))
    assert_verdict(NOT_ATTEMPTED, check, stub)


def test_add_wrong_answers():
    assert_verdict(FAILED, ch00.check_add, lambda a, b: a - b, mentions=("case 1", "got -1", "expected 3"))
    assert_verdict(FAILED, ch00.check_add, lambda a, b: int(a + b), mentions=("case 2", "got 0", "expected 0.25"))


def test_weighted_sum_wrong_answers():
    assert_verdict(FAILED, ch00.check_weighted_sum, lambda X, w, b: X @ w, mentions=("got 4.5", "add the bias"))
    assert_verdict(FAILED, ch00.check_weighted_sum, lambda X, w, b: np.sum(X * w) + b,
                   mentions=("case 2", "got shape ()"))


def test_standardize_wrong_answers():
    assert_verdict(FAILED, ch00.check_standardize, lambda X: (X - X.mean(axis=0)) / X.std(axis=0, ddof=1),
                   mentions=("case 1", "ddof=0"))
    assert_verdict(FAILED, ch00.check_standardize, lambda X: (X - X.mean()) / X.std(),
                   mentions=("case 2", "per column"))
    assert_verdict(FAILED, ch00.check_standardize, lambda X: X - X.mean(axis=0),
                   mentions=("got -1.5", "standard deviation"))


def test_one_hot_wrong_answers():
    assert_verdict(FAILED, ch00.check_one_hot, lambda labels, n: np.eye(n)[labels].T,
                   mentions=("got shape (5, 1)", "one row per label"))
    assert_verdict(FAILED, ch00.check_one_hot, lambda labels, n: np.eye(len(labels))[labels],
                   mentions=("case 2",))
