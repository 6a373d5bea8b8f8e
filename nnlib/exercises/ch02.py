"""Chapter 02: the checks of the losses chapter's exercises.

``check_mse``, ``check_logsumexp``, ``check_cross_entropy`` and ``check_linreg_gradients``:
each runs the learner's function on a few cases (the first small enough to verify by
hand), prints one verdict line and returns a Verdict. The expected values are computed
here with plain NumPy.
"""

from __future__ import annotations

import numpy as np

from nnlib.checks import Verdict, check_function

__all__ = ["check_mse", "check_logsumexp", "check_cross_entropy", "check_linreg_gradients"]


def _mse(p, t):
    return float(np.mean((np.asarray(p, dtype=np.float64) - t) ** 2))


def _mse_hint(args, got, expected):
    p, t = (np.asarray(a, dtype=np.float64) for a in args)
    if not np.ndim(got) == 0:
        return "return one number: the mean over all elements."
    if np.isclose(got, np.sum((p - t) ** 2)):
        return "that is the sum of squares; divide by the number of elements (the mean)."
    if np.isclose(got, np.mean(np.abs(p - t))):
        return "square the differences, not their absolute values."
    if np.isclose(got, np.sqrt(np.mean((p - t) ** 2))):
        return "no square root: that is the RMSE."
    return ""


def check_mse(mse) -> Verdict:
    """Chapter 02: ``mse(y_pred, y_true)`` is the mean of the squared differences."""
    rng = np.random.default_rng(0)
    return check_function("mse", mse, [
        (np.array([2.0, 0.0]), np.array([0.0, 1.0])),              # (4 + 1) / 2 = 2.5
        (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])),    # 0
        (rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
    ], reference=_mse, hint=_mse_hint)


def _logsumexp(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def _logsumexp_hint(args, got, expected):
    got = np.asarray(got, dtype=np.float64)
    if not np.isfinite(got).all():
        return "exp overflows: subtract the largest entry m first, log(sum(exp(z - m))) + m."
    if got.shape != np.shape(expected):
        return "reduce over the last axis only (axis=-1): one number per row."
    (z,) = args
    if np.allclose(got, np.log(np.exp(z - z.max(axis=-1, keepdims=True)).sum(axis=-1))):
        return "add the largest entry m back after the log."
    return ""


def check_logsumexp(logsumexp) -> Verdict:
    """Chapter 02: ``logsumexp(z)`` = log(sum(exp(z))) over the last axis, without overflow."""
    with np.errstate(all="ignore"):
        return check_function("logsumexp", logsumexp, [
            np.array([0.0, 0.0]),                            # log 2 = 0.6931
            np.array([1.0, 2.0, 3.0]),
            np.array([1000.0, 1000.0]),                      # 1000 + log 2
            np.array([-1000.0, -1001.0, -1002.0]),
            np.array([[0.0, 0.0, 0.0, 0.0], [5.0, -5.0, 1.0, 2.0], [800.0, -800.0, 0.0, 799.0]]),
        ], reference=_logsumexp, hint=_logsumexp_hint)


def _cross_entropy(logits, targets):
    lse = _logsumexp(logits)
    return float(np.mean(lse - np.asarray(logits, dtype=np.float64)[np.arange(len(targets)), targets]))


def _cross_entropy_hint(args, got, expected):
    logits, targets = args
    if not np.ndim(got) == 0:
        return "return one number: the mean over the rows."
    if not np.isfinite(got):
        return "exp overflows for huge logits: use the stable log-sum-exp."
    lse = _logsumexp(logits)
    picked = np.asarray(logits, dtype=np.float64)[np.arange(len(targets)), targets]
    if np.isclose(got, np.sum(lse - picked)):
        return "average over the rows (the mean), not the sum."
    if np.isclose(got, np.mean(picked - lse)):
        return "the sign: the loss is -log p(target), which is >= 0."
    return ""


def check_cross_entropy(cross_entropy) -> Verdict:
    """Chapter 02: ``cross_entropy(logits, targets)`` is the mean of -log softmax(logits)[target]."""
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):
        return check_function("cross_entropy", cross_entropy, [
            (np.array([[0.0, 0.0], [0.0, 0.0]]), np.array([0, 1])),                   # log 2 = 0.6931
            (np.array([[2.0, 1.0, 0.1]]), np.array([0])),
            (rng.normal(size=(5, 4)), np.array([3, 0, 1, 1, 2])),
            (np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]]), np.array([2, 1])),  # huge logits
        ], reference=_cross_entropy, hint=_cross_entropy_hint)


def _linreg_gradients(X, y, w, b):
    r = X @ w + b - y
    return 2.0 / len(y) * (X.T @ r), 2.0 * float(np.mean(r))


def _linreg_hint(args, got, expected):
    X, y, w, b = args
    r = X @ w + b - y
    dw, db = got
    if np.allclose(dw, (X.T @ r) / len(y)) and np.isclose(db, np.mean(r)):
        return "the derivative of r**2 is 2 r: you left out the factor 2."
    if np.allclose(dw, -2.0 / len(y) * (X.T @ r)):
        return "the sign: r = X @ w + b - y (prediction minus target)."
    return ""


def check_linreg_gradients(linreg_gradients) -> Verdict:
    """Chapter 02: ``linreg_gradients(X, y, w, b)`` = (dL/dw, dL/db) of L = mean((X @ w + b - y)**2)."""
    rng = np.random.default_rng(2)
    X1 = rng.normal(size=(8, 1))
    y1 = 2.0 * X1[:, 0] - 1.0
    X3 = rng.normal(size=(20, 3))
    y3 = X3 @ np.array([1.0, -2.0, 0.5]) + 0.3
    return check_function("linreg_gradients", linreg_gradients, [
        # by hand: r = (-1, -2), dw = 2/2 * (1*-1 + 2*-2) = -5, db = 2 * mean(r) = -3
        (np.array([[1.0], [2.0]]), np.array([1.0, 2.0]), np.array([0.0]), 0.0),
        (X1, y1, np.array([0.5]), 0.5),
        (X3, y3, np.zeros(3), 0.0),
        (X3, y3, np.array([1.0, -2.0, 0.5]), 0.3),                  # the exact fit: zero gradient
    ], reference=_linreg_gradients, names=("dw", "db"), hint=_linreg_hint)
