"""Chapter 01: the checks of the neuron chapter's exercises.

``check_neuron_forward``, ``check_sigmoid``, ``check_sigmoid_derivative`` and
``check_perceptron_update``: each runs the learner's function on a few cases (the first
one small enough to verify by hand), prints one verdict line and returns a Verdict.
"""

from __future__ import annotations

import numpy as np

from nnlib.checks import Verdict, check_function

__all__ = ["check_neuron_forward", "check_sigmoid", "check_sigmoid_derivative", "check_perceptron_update"]


def _identity(z):
    return z


def _sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _neuron_hint(args, got, expected):
    X, w, b, f = args
    z = np.asarray(X) @ w
    if np.shape(got) != np.shape(expected):
        return ""
    if np.allclose(got, f(z)):
        return "add the bias b before the activation."
    if np.allclose(got, f(z) + b):
        return "add b inside the activation: f(X @ w + b), not f(X @ w) + b."
    if np.allclose(got, z + b):
        return "apply the activation f to X @ w + b."
    return ""


def check_neuron_forward(neuron_forward) -> Verdict:
    """Chapter 01: ``neuron_forward(X, w, b, f)`` is f(X @ w + b), for one input and for a batch."""
    return check_function("neuron_forward", neuron_forward, [
        ((np.array([1.0, 2.0, 3.0]), np.array([0.5, -0.25, 0.1]), 0.2, _identity), 0.5),  # 0.5 - 0.5 + 0.3 + 0.2
        ((np.array([1.0, 2.0]), np.array([0.5, 0.25]), 0.1, np.tanh), np.tanh(1.1)),
        ((np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([2.0, -3.0]), 1.0, _identity),
         np.array([3.0, -2.0, 0.0])),
    ], hint=_neuron_hint)


def _sigmoid_hint(args, got, expected):
    got = np.asarray(got, dtype=np.float64)
    if np.isnan(got).any():
        return "exp overflows for large |z|: compute exp(-|z|) and use it on both sides of 0."
    (z,) = args
    if np.allclose(got, 1.0 / (1.0 + np.exp(np.asarray(z, dtype=np.float64)))):
        return "the sign: sigmoid(z) = 1 / (1 + exp(-z))."
    return ""


def check_sigmoid(sigmoid) -> Verdict:
    """Chapter 01: ``sigmoid(z)`` = 1 / (1 + exp(-z)) elementwise, with no overflow or nan at |z| = 1000."""
    with np.errstate(all="ignore"):
        return check_function("sigmoid", sigmoid, [
            np.array([0.0]),                       # 1 / (1 + 1) = 0.5
            np.array([-1.0, 0.0, 1.0]),
            np.linspace(-8.0, 8.0, 9),
            np.array([-1000.0, 1000.0]),           # saturates at 0 and 1, no nan
        ], reference=_sigmoid, hint=_sigmoid_hint)


def _sigmoid_derivative_hint(args, got, expected):
    (z,) = args
    if np.shape(got) == np.shape(expected) and np.allclose(got, _sigmoid(z)):
        return "that is sigmoid(z) itself; the derivative is s * (1 - s)."
    if np.shape(got) == np.shape(expected) and np.allclose(got, z * (1.0 - z)):
        return "use s = sigmoid(z) in s * (1 - s), not z itself."
    return ""


def check_sigmoid_derivative(sigmoid_derivative) -> Verdict:
    """Chapter 01: ``sigmoid_derivative(z)`` = s (1 - s) with s = sigmoid(z), elementwise."""
    import nnlib
    import nnlib.functional as F

    def reference(z):  # nnlib's automatic differentiation: the gradient of sigmoid(z).sum() is sigmoid'(z)
        t = nnlib.Tensor(np.asarray(z, dtype=np.float64), requires_grad=True)
        F.sigmoid(t).sum().backward()
        return np.asarray(t.grad)

    return check_function("sigmoid_derivative", sigmoid_derivative, [
        np.array([0.0]),                           # 0.5 * 0.5 = 0.25
        np.array([-2.0, 0.0, 2.0]),
        np.linspace(-6.0, 6.0, 13),
    ], reference=reference, hint=_sigmoid_derivative_hint)


def _perceptron_hint(args, got, expected):
    w, b, x, s, lr = args
    score = s * (np.asarray(w) @ x + b)
    if score == 0:
        return "a point on the line counts as a mistake: update when s * (w·x + b) <= 0."
    if score > 0:
        return "a correctly classified point leaves w and b unchanged."
    return "on a mistake: w + lr * s * x and b + lr * s."


def check_perceptron_update(perceptron_update) -> Verdict:
    """Chapter 01: ``perceptron_update(w, b, x, s, lr)``: (w + lr s x, b + lr s) when s (w·x + b) <= 0, else (w, b)."""
    return check_function("perceptron_update", perceptron_update, [
        ((np.zeros(2), 0.0, np.array([1.0, 2.0]), 1, 0.1), (np.array([0.1, 0.2]), 0.1)),    # on the line: update
        ((np.ones(2), 0.0, np.array([1.0, 2.0]), 1, 0.1), (np.array([1.0, 1.0]), 0.0)),     # correct: no change
        ((np.ones(2), 0.5, np.array([1.0, 2.0]), -1, 0.5), (np.array([0.5, 0.0]), 0.0)),    # wrong side: update
    ], names=("w", "b"), hint=_perceptron_hint)
