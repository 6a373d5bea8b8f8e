"""Chapter 05: the checks of the data chapter's exercises.

``check_drop_missing_rows``, ``check_split_indices``, ``check_standardize_with_train`` and
``check_make_batches``: each runs the learner's function on small hand-checkable cases
first, then (where the notebook passes them) on the chapter's real data, prints one
verdict line and returns a Verdict.
"""

from __future__ import annotations

import math

import numpy as np

from nnlib.checks import Verdict, check_function

__all__ = ["check_drop_missing_rows", "check_split_indices", "check_standardize_with_train",
           "check_make_batches"]


def _drop_missing_hint(args, got, expected):
    X, y = args
    try:
        X_got, y_got = got
    except (TypeError, ValueError):
        return "return the pair (X, y)."
    if len(X_got) == len(expected[0]) and len(y_got) != len(expected[1]):
        return "drop the same rows from y as from X."
    if len(X_got) > len(expected[0]):
        return "drop every row that holds a NaN anywhere: np.isnan(X).any(axis=1)."
    return ""


def check_drop_missing_rows(drop_missing_rows, X=None, y=None, X_expected=None, y_expected=None) -> Verdict:
    """Chapter 05: ``drop_missing_rows(X, y)`` drops the rows of X that hold a NaN, and the same rows of y.

    With ``X, y, X_expected, y_expected`` (the notebook's dirty table and pandas' dropna)
    a last case runs on the real data.
    """
    cases = [
        ((np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0]]), np.array([0, 1, 0])),    # row 1 goes
         (np.array([[1.0, 2.0], [4.0, 5.0]]), np.array([0, 0]))),
        ((np.array([[np.nan], [7.0], [np.nan]]), np.array([1, 0, 1])), (np.array([[7.0]]), np.array([0]))),
        ((np.array([[1.0, np.nan, 2.0], [3.0, 4.0, 5.0]]), np.array([1, 2])),
         (np.array([[3.0, 4.0, 5.0]]), np.array([2]))),
    ]
    if X is not None:
        cases.append(((X, y), (X_expected, y_expected)))
    return check_function("drop_missing_rows", drop_missing_rows, cases, names=("X", "y"),
                          hint=_drop_missing_hint)


def check_split_indices(split_indices) -> Verdict:
    """Chapter 05: ``split_indices(n, test_size, seed)`` picks the rows ``nnlib.data.train_test_split`` picks.

    (The same rows, in the same order, as scikit-learn's.) By hand: n = 10, test_size 0.2
    gives 2 test rows and 8 train rows.
    """
    from nnlib.data import train_test_split

    def reference(n, test_size, seed):
        return tuple(train_test_split(np.arange(n), test_size=test_size, random_state=seed))

    def hint(args, got, expected):
        n, test_size, _ = args
        try:
            train, test = got
        except (TypeError, ValueError):
            return "return the pair (train_idx, test_idx)."
        if len(test) != len(expected[1]):
            return f"the test set has ceil(test_size * n) = {math.ceil(test_size * n)} rows."
        if sorted(np.concatenate([train, test])) == list(range(n)):
            return "same rows, other order: permute with np.random.RandomState(seed)."
        return ""

    return check_function("split_indices", split_indices,
                          [(10, 0.2, 0), (7, 0.5, 1), (569, 0.2, 42), (100, 0.25, 3), (313, 0.2, 42)],
                          reference=reference, names=("train_idx", "test_idx"), hint=hint)


def _standardize_reference(X_train, X_test):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mean) / std, (X_test - mean) / std


def _standardize_hint(args, got, expected):
    X_train, X_test = args
    try:
        _, Z_test = got
    except (TypeError, ValueError):
        return "return the pair (Z_train, Z_test)."
    if np.shape(Z_test) == np.shape(X_test) and len(X_test) > 1 and np.allclose(
            Z_test, (X_test - X_test.mean(axis=0)) / X_test.std(axis=0)):
        return "standardize X_test with X_train's mean and std, not its own."
    if len(X_test) == 1 and not np.isfinite(Z_test).all():
        return "standardize X_test with X_train's mean and std, not its own."
    return ""


def check_standardize_with_train(standardize_with_train, X_train=None, X_test=None) -> Verdict:
    """Chapter 05: ``standardize_with_train(X_train, X_test)`` scales both with X_train's column mean and std.

    By hand: X_train [[1, 10], [3, 30]] has mean (2, 20) and std (1, 10), so X_test
    [[2, 50]] becomes [[0, 3]]. With ``X_train, X_test`` a last case runs on the real data.
    """
    rng = np.random.default_rng(1)
    cases = [
        (np.array([[1.0, 10.0], [3.0, 30.0]]), np.array([[2.0, 50.0]])),
        (rng.normal(5.0, 3.0, size=(40, 4)), rng.normal(5.0, 3.0, size=(10, 4))),
    ]
    if X_train is not None:
        cases.append((X_train, X_test))
    with np.errstate(all="ignore"):
            return check_function("standardize_with_train", standardize_with_train, cases,
                              reference=_standardize_reference, names=("Z_train", "Z_test"),
                              hint=_standardize_hint)


def check_make_batches(make_batches, X=None, y=None) -> Verdict:
    """Chapter 05: ``make_batches(X, y, batch_size, order, drop_last)``, the batches nnlib's DataLoader gives.

    By hand: 7 rows in batches of 3 give sizes 3, 3, 1, or 3, 3 with drop_last. With
    ``X, y`` a last case batches the real data (32 rows, shuffled, drop_last).
    """
    from nnlib.data import DataLoader

    def reference(X, y, batch_size, order, drop_last):
        return list(DataLoader(X[order], y[order], batch_size=batch_size, drop_last=drop_last))

    def hint(args, got, expected):
        _, _, batch_size, order, drop_last = args
        try:
            sizes = [len(batch[1]) for batch in got]
        except Exception:
            return "return a list of (X_batch, y_batch) pairs."
        if len(sizes) > len(expected) and drop_last:
            return "with drop_last=True, leave out the last, smaller batch."
        if len(sizes) < len(expected) and not drop_last:
            return "with drop_last=False, keep the last, smaller batch."
        if not np.array_equal(order, np.arange(len(order))):
            return "visit the rows in `order`: X[order[start:stop]]."
        return ""

    rng = np.random.default_rng(2)
    Xc, yc = np.arange(14.0).reshape(7, 2), np.arange(7)
    cases = [
        (Xc, yc, 3, np.arange(7), False),
        (Xc, yc, 3, np.arange(7), True),
        (Xc, yc, 2, rng.permutation(7), False),
        (Xc, yc, 7, rng.permutation(7), True),
    ]
    if X is not None:
        cases.append((X, y, 32, rng.permutation(len(y)), True))
    return check_function("make_batches", make_batches, cases, reference=reference, hint=hint)
