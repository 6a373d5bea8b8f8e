"""Chapter 03's exercise checks: the solution passes, the stub waits, plausible wrong answers fail by name."""

import math

import numpy as np
import pytest

import nnlib
from nnlib.exercises import ch03
from tests.course.exercise_harness import FAILED, LINE_LIMIT, NOT_ATTEMPTED, PASSED, load_solution, stub
from tests.course.exercise_harness import assert_verdict as _assert_verdict

NS = {"np": np, "nnlib": nnlib, "math": math}


def assert_verdict(*args, **kwargs):
    """The harness's assert_verdict, with every line at most LINE_LIMIT characters."""
    return _assert_verdict(*args, max_length=LINE_LIMIT, **kwargs)


def value_class():
    """The notebook's Value class (and the topological_order it uses)."""
    scope = dict(NS)
    scope["topological_order"] = load_solution("03", "topological_order", scope)
    return load_solution("03", "Value", scope)


@pytest.mark.parametrize("name", ["neuron_grads", "unbroadcast", "central_difference"])
def test_solution_passes_and_stub_waits(name):
    check = getattr(ch03, f"check_{name}")
    assert_verdict(PASSED, check, load_solution("03", name, NS))
    assert_verdict(NOT_ATTEMPTED, check, stub)


def test_value_mul_solution_and_stub():
    Value = value_class()
    value_mul = load_solution("03", "value_mul", {"Value": Value})
    assert_verdict(PASSED, ch03.check_value_mul, value_mul, Value)
    assert_verdict(NOT_ATTEMPTED, ch03.check_value_mul, stub, Value)


def test_value_mul_wrong_answers():
    Value = value_class()

    def overwrite(a, b):  # = instead of +=: a node used twice keeps only one contribution
        out = Value(a.data * b.data, (a, b), "*")

        def _backward():
            a.grad = b.data * out.grad
            b.grad = a.data * out.grad
        out._backward = _backward
        return out

    assert_verdict(FAILED, ch03.check_value_mul, overwrite, Value, mentions=("case 2", "a.grad", "+="))

    def swapped(a, b):  # each operand gets its own value instead of the other's
        out = Value(a.data * b.data, (a, b), "*")

        def _backward():
            a.grad += a.data * out.grad
            b.grad += b.data * out.grad
        out._backward = _backward
        return out

    assert_verdict(FAILED, ch03.check_value_mul, swapped, Value,
                   mentions=("case 1", "a.grad: got 2.0; expected -3.0", "d(a*b)/da = b"))


def test_neuron_grads_wrong_answers():
    def no_sigmoid_derivative(w, x, b, y):
        s = 1 / (1 + np.exp(-(w @ x + b)))
        return 2 * (s - y) * x, 2 * (s - y)

    assert_verdict(FAILED, ch03.check_neuron_grads, no_sigmoid_derivative,
                   mentions=("case 1", "dw:", "got -4.0", "expected -1.0", "s * (1 - s)"))

    def no_two(w, x, b, y):
        s = 1 / (1 + np.exp(-(w @ x + b)))
        return (s - y) * s * (1 - s) * x, (s - y) * s * (1 - s)

    assert_verdict(FAILED, ch03.check_neuron_grads, no_two, mentions=("got -0.5", "factor 2"))


def test_unbroadcast_wrong_answers():
    assert_verdict(FAILED, ch03.check_unbroadcast, lambda g, shape: g.sum(axis=0),
                   mentions=("case 2", "got shape (2,)", "expected shape (2, 1)"))

    def no_keepdims(g, shape):
        extra = g.ndim - len(shape)
        return g.sum(axis=tuple(range(extra))) if extra else g

    assert_verdict(FAILED, ch03.check_unbroadcast, no_keepdims, mentions=("case 2", "got shape (2, 2)"))


def test_central_difference_wrong_answers():
    def over_h(f, x, h=1e-6):
        x = np.array(x, dtype=np.float64)
        grad = np.zeros_like(x)
        for i in range(x.size):
            original = x.flat[i]
            x.flat[i] = original + h
            plus = f(x)
            x.flat[i] = original - h
            minus = f(x)
            x.flat[i] = original
            grad.flat[i] = (plus - minus) / h
        return grad

    assert_verdict(FAILED, ch03.check_central_difference, over_h,
                   mentions=("case 1", "sum_of_squares", "got 12.0", "expected 6.0", "2h"))

    def all_at_once(f, x, h=1e-6):
        x = np.array(x, dtype=np.float64)
        return np.full_like(x, (f(x + h) - f(x - h)) / (2 * h))

    assert_verdict(FAILED, ch03.check_central_difference, all_at_once,
                   mentions=("case 2", "one element at a time"))
