"""Chapter 03: the checks of the backpropagation chapter's exercises.

``check_neuron_grads``, ``check_value_mul`` (given the notebook's ``Value`` class),
``check_unbroadcast`` and ``check_central_difference``: each runs the learner's function
on a few cases (the first small enough to verify by hand), prints one verdict line and
returns a Verdict.
"""

from __future__ import annotations

import numpy as np

from nnlib.checks import Verdict, check_function

__all__ = ["check_neuron_grads", "check_value_mul", "check_unbroadcast", "check_central_difference"]


def _neuron_grads(w, x, b, y):
    z = float(np.dot(w, x) + b)
    y_hat = 1.0 / (1.0 + np.exp(-z))
    dz = 2.0 * (y_hat - y) * y_hat * (1.0 - y_hat)
    return dz * np.asarray(x, dtype=np.float64), dz


def _neuron_grads_hint(args, got, expected):
    w, x, b, y = args
    z = float(np.dot(w, x) + b)
    s = 1.0 / (1.0 + np.exp(-z))
    dw, db = got
    if np.isclose(db, 2.0 * (s - y)):
        return "chain rule: multiply by the sigmoid's derivative s * (1 - s)."
    if np.isclose(db, (s - y) * s * (1 - s)):
        return "the derivative of (s - y)**2 is 2 (s - y): the factor 2 is missing."
    if np.isclose(db, expected[1]):
        return "dL/dw = dL/dz * x."
    return ""


def check_neuron_grads(neuron_grads) -> Verdict:
    """Chapter 03: ``neuron_grads(w, x, b, y)`` = (dL/dw, dL/db) for L = (sigmoid(w·x + b) - y)**2."""
    return check_function("neuron_grads", neuron_grads, [
        # by hand: z = 0, s = 0.5, dL/dz = 2 (0.5 - 1) 0.25 = -0.25, so dL/dw = -0.25 * 4 = -1
        (np.array([0.0]), np.array([4.0]), 0.0, 1.0),
        (np.array([0.5, -1.0]), np.array([1.0, 2.0]), 0.1, 1.0),
        (np.array([2.0, 0.3, -0.7]), np.array([-1.0, 0.5, 2.0]), -0.5, 0.0),
    ], reference=_neuron_grads, names=("dw", "db"), hint=_neuron_grads_hint)


def check_value_mul(value_mul, Value) -> Verdict:
    """Chapter 03: ``value_mul(a, b)``'s backward passes b * out.grad to a and a * out.grad to b, accumulating.

    ``Value`` is the notebook's scalar class; the cases are a * b, a * a (a gets both
    contributions) and (a * b) * b (b is used twice).
    """
    def mul_case(a_data, b_data, expression):
        a = Value(a_data)
        b = a if expression == "a*a" else Value(b_data)
        out = value_mul(value_mul(a, b), b) if expression == "(a*b)*b" else value_mul(a, b)
        out.backward()
        return out.data, a.grad, b.grad

    def hint(args, got, expected):
        if args[2] != "a*b" and got[1:] != expected[1:]:
            return "accumulate with += : a node used twice gets the sum of both gradients."
        return "d(a*b)/da = b and d(a*b)/db = a, each times out.grad."

    return check_function("value_mul", mul_case, [
        ((2.0, -3.0, "a*b"), (-6.0, -3.0, 2.0)),         # (out, da, db): da = b, db = a
        ((3.0, None, "a*a"), (9.0, 6.0, 6.0)),
        ((2.0, 3.0, "(a*b)*b"), (18.0, 9.0, 12.0)),
    ], names=("out", "a.grad", "b.grad"), hint=hint)


def _unbroadcast(grad, shape):
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def check_unbroadcast(unbroadcast) -> Verdict:
    """Chapter 03: ``unbroadcast(grad, shape)`` sums grad over the axes broadcasting added or stretched."""
    g = np.arange(24.0)
    return check_function("unbroadcast", unbroadcast, [
        (np.array([[1.0, 2.0], [3.0, 4.0]]), (2,)),        # rule 1, leading axis: [1+3, 2+4] = [4, 6]
        (np.array([[1.0, 2.0], [3.0, 4.0]]), (2, 1)),      # rule 2, stretched axis: [[3], [7]]
        (g[:12].reshape(4, 3), (1, 3)),
        (g.reshape(2, 4, 3), (4, 1)),
        (g.reshape(2, 4, 3), (2, 1, 3)),
        (g[:6].reshape(2, 3), (2, 3)),
        (g[:5], ()),
    ], reference=lambda grad, shape: _unbroadcast(np.array(grad), shape))


def sum_of_squares(x):
    """Chapter 03: sum(x**2); its gradient is 2 x."""
    return np.sum(x * x)


def check_central_difference(central_difference) -> Verdict:
    """Chapter 03: ``central_difference(f, x, h)``: (f(x + h e_i) - f(x - h e_i)) / 2h for every element i."""
    x1 = np.array([1.0, -2.0, 0.5])
    x2 = np.array([[0.3, -1.2, 2.0], [0.0, 0.7, -0.4]])
    x3 = np.array([1.0, 2.0, 3.0, 0.5])

    def sum_of_sines(x):
        return np.sum(np.sin(x))

    def log_sum_exp(x):
        return np.log(np.sum(np.exp(x)))

    def hint(args, got, expected):
        ratio = np.asarray(got, dtype=np.float64) / np.where(expected == 0, 1.0, expected)
        if np.allclose(ratio, 2.0, atol=1e-3):
            return "divide by 2h: the two points are 2h apart."
        return "perturb one element at a time and put it back before the next one."

    return check_function("central_difference", central_difference, [
        ((sum_of_squares, np.array([3.0])), np.array([6.0])),   # by hand: ((3+h)^2 - (3-h)^2) / 2h = 6
        ((sum_of_squares, x1), 2 * x1),
        ((sum_of_sines, x2), np.cos(x2)),
        ((log_sum_exp, x3), np.exp(x3) / np.exp(x3).sum()),
    ], atol=1e-6, hint=hint)
