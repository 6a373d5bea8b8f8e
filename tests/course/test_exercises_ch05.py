"""Chapter 05's exercise checks: the solution passes, the stub waits, plausible wrong answers fail by name."""

import math

import numpy as np
import pytest

from nnlib.exercises import ch05
from tests.course.exercise_harness import FAILED, LINE_LIMIT, NOT_ATTEMPTED, PASSED, load_solution, stub
from tests.course.exercise_harness import assert_verdict as _assert_verdict

NS = {"np": np, "math": math}


def assert_verdict(*args, **kwargs):
    """The harness's assert_verdict, with every line at most LINE_LIMIT characters."""
    return _assert_verdict(*args, max_length=LINE_LIMIT, **kwargs)


@pytest.mark.parametrize("name", ["drop_missing_rows", "split_indices", "standardize_with_train", "make_batches"])
def test_solution_passes_and_stub_waits(name):
    check = getattr(ch05, f"check_{name}")
    assert_verdict(PASSED, check, load_solution("05", name, NS))
    assert_verdict(NOT_ATTEMPTED, check, stub)


def test_real_data_cases_run():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    X[rng.random(size=X.shape) < 0.05] = np.nan
    y = np.arange(50)
    keep = ~np.isnan(X).any(axis=1)
    assert_verdict(PASSED, ch05.check_drop_missing_rows, load_solution("05", "drop_missing_rows", NS),
                   X, y, X[keep], y[keep])
    assert_verdict(PASSED, ch05.check_standardize_with_train, load_solution("05", "standardize_with_train", NS),
                   rng.normal(size=(30, 3)), rng.normal(size=(8, 3)))
    assert_verdict(PASSED, ch05.check_make_batches, load_solution("05", "make_batches", NS),
                   rng.normal(size=(100, 3)), np.arange(100))


def test_drop_missing_rows_wrong_answers():
    x_only = lambda X, y: (X[~np.isnan(X).any(axis=1)], y)  # noqa: E731
    assert_verdict(FAILED, ch05.check_drop_missing_rows, x_only, mentions=("case 1", "y: got shape (3,)", "same rows"))
    all_nan = lambda X, y: (X[~np.isnan(X).all(axis=1)], y[~np.isnan(X).all(axis=1)])  # noqa: E731
    assert_verdict(FAILED, ch05.check_drop_missing_rows, all_nan, mentions=("case 1", "X: got shape (3, 2)", "any"))


def test_split_indices_wrong_answers():
    def floor(n, test_size, seed):
        n_test = int(test_size * n)
        perm = np.random.RandomState(seed).permutation(n)
        return perm[n_test:], perm[:n_test]

    assert_verdict(FAILED, ch05.check_split_indices, floor, mentions=("case 2", "train_idx: got shape (4,)", "ceil"))

    def new_generator(n, test_size, seed):
        n_test = math.ceil(test_size * n)
        perm = np.random.default_rng(seed).permutation(n)
        return perm[n_test:], perm[:n_test]

    assert_verdict(FAILED, ch05.check_split_indices, new_generator, mentions=("case 1", "RandomState"))


def test_standardize_with_train_wrong_answers():
    own_stats = lambda a, b: ((a - a.mean(0)) / a.std(0), (b - b.mean(0)) / b.std(0))  # noqa: E731
    assert_verdict(FAILED, ch05.check_standardize_with_train, own_stats,
                   mentions=("case 1", "Z_test", "X_train's mean"))
    sample_std = lambda a, b: ((a - a.mean(0)) / a.std(0, ddof=1), (b - a.mean(0)) / a.std(0, ddof=1))  # noqa: E731
    assert_verdict(FAILED, ch05.check_standardize_with_train, sample_std, mentions=("case 1", "Z_train"))


def test_make_batches_wrong_answers():
    def keeps_last(X, y, batch_size, order, drop_last):
        return [(X[order[s:s + batch_size]], y[order[s:s + batch_size]]) for s in range(0, len(order), batch_size)]

    assert_verdict(FAILED, ch05.check_make_batches, keeps_last, mentions=("case 2", "got 3 items", "drop_last=True"))

    def ignores_order(X, y, batch_size, order, drop_last):
        stop = (len(order) // batch_size) * batch_size if drop_last else len(order)
        return [(X[s:s + batch_size], y[s:s + batch_size]) for s in range(0, stop, batch_size)]

    assert_verdict(FAILED, ch05.check_make_batches, ignores_order, mentions=("case 3", "at [0][0]", "order"))
