"""Chapter 00: the checks of the setup chapter's exercises (add, weighted_sum, standardize, one_hot).

Each ``check_<exercise>(answer)`` runs the learner's function on a few cases, the first
small enough to verify by hand, prints one verdict line and returns a Verdict.
"""

from __future__ import annotations

import numpy as np

from nnlib.checks import Verdict, check_function

__all__ = ["check_add", "check_weighted_sum", "check_standardize", "check_one_hot"]


def check_add(add) -> Verdict:
    """Chapter 00: ``add(a, b)`` returns a + b for numbers and for NumPy arrays."""
    return check_function("add", add, [
        ((1, 2), 3),
        ((0.5, -0.25), 0.25),
        ((np.array([1.0, 2.0]), np.array([10.0, 20.0])), np.array([11.0, 22.0])),
    ])


def _weighted_sum_hint(args, got, expected):
    X, w, b = args
    if np.shape(got) == np.shape(expected) and np.allclose(got, np.asarray(X) @ w):
        return "add the bias b."
    return ""


def check_weighted_sum(weighted_sum) -> Verdict:
    """Chapter 00: ``weighted_sum(X, w, b)`` is X @ w + b, for one input (d,) and for a batch (n, d)."""
    return check_function("weighted_sum", weighted_sum, [
        ((np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]), 0.5), 5.0),   # 0.5 - 2 + 6 + 0.5
        ((np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), np.array([2.0, -1.0]), 1.0), np.array([1.0, 3.0, 5.0])),
        ((np.zeros((2, 4)), np.ones(4), -3.0), np.array([-3.0, -3.0])),
    ], hint=_weighted_sum_hint)


def _standardize_hint(args, got, expected):
    (X,) = args
    X = np.asarray(X, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != X.shape:
        return ""
    if X.shape[0] > 1 and np.allclose(got, (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)):
        return "use the population std (ddof=0), not ddof=1."
    if X.ndim == 2 and np.allclose(got, (X - X.mean()) / X.std()):
        return "one mean and std per column: axis=0."
    if np.allclose(got, X - X.mean(axis=0)):
        return "also divide by the standard deviation."
    return ""


def check_standardize(standardize) -> Verdict:
    """Chapter 00: ``standardize(X)`` shifts every column to mean 0 and scales it to std 1."""
    return check_function("standardize", standardize, [
        (np.array([1.0, 2.0, 3.0, 4.0]), np.array([-1.3416, -0.4472, 0.4472, 1.3416])),
        (np.array([[1.0, 10.0], [3.0, 30.0]]), np.array([[-1.0, -1.0], [1.0, 1.0]])),   # mean 2, 20; std 1, 10
        (np.array([[2.0, 0.0], [4.0, 5.0], [9.0, 1.0]]),
         np.array([[-1.0190, -0.9258], [-0.3397, 1.3887], [1.3587, -0.4629]])),
    ], atol=1e-4, hint=_standardize_hint)


def _one_hot_hint(args, got, expected):
    got = np.asarray(got)
    if got.shape == np.shape(expected)[::-1] and got.ndim == 2 and np.array_equal(got.T, expected):
        return "one row per label: the result has shape (n, num_classes)."
    return ""


def check_one_hot(one_hot) -> Verdict:
    """Chapter 00: ``one_hot(labels, num_classes)``: an (n, num_classes) array, row i is 1 at column labels[i]."""
    return check_function("one_hot", one_hot, [
        ((np.array([0, 2, 1]), 3), np.array([[1.0, 0, 0], [0, 0, 1], [0, 1, 0]])),
        ((np.array([3]), 5), np.array([[0.0, 0, 0, 1, 0]])),
        ((np.array([1, 1, 0, 1]), 2), np.array([[0.0, 1], [0, 1], [1, 0], [0, 1]])),
    ], hint=_one_hot_hint)
