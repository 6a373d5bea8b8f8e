"""Chapter 01's exercise checks: the solution passes, the stub waits, plausible wrong answers fail by name."""

import numpy as np
import pytest

import nnlib
import nnlib.functional as F
from nnlib.exercises import ch01
from tests.course.exercise_harness import FAILED, LINE_LIMIT, NOT_ATTEMPTED, PASSED, load_solution, stub
from tests.course.exercise_harness import assert_verdict as _assert_verdict

NS = {"np": np, "nnlib": nnlib, "F": F}


def assert_verdict(*args, **kwargs):
    """The harness's assert_verdict, with every line at most LINE_LIMIT characters."""
    return _assert_verdict(*args, max_length=LINE_LIMIT, **kwargs)


@pytest.mark.parametrize("name", ["neuron_forward", "sigmoid", "sigmoid_derivative", "perceptron_update"])
def test_solution_passes_and_stub_waits(name):
    check = getattr(ch01, f"check_{name}")
    assert_verdict(PASSED, check, load_solution("01", name, NS))
    assert_verdict(NOT_ATTEMPTED, check, stub)


def test_neuron_forward_wrong_answers():
    assert_verdict(FAILED, ch01.check_neuron_forward, lambda X, w, b, f: f(X @ w) + b,
                   mentions=("case 2", "got 0.8616", "f(X @ w + b)"))
    assert_verdict(FAILED, ch01.check_neuron_forward, lambda X, w, b, f: X @ w + b,
                   mentions=("got 1.1", "apply the activation"))
    assert_verdict(FAILED, ch01.check_neuron_forward, lambda X, w, b, f: f(w @ X + b),
                   mentions=("case 3", "raised"))


def test_sigmoid_wrong_answers():
    assert_verdict(FAILED, ch01.check_sigmoid, lambda z: 1 / (1 + np.exp(z)), mentions=("case 2", "the sign"))
    assert_verdict(FAILED, ch01.check_sigmoid, lambda z: np.exp(z) / (1 + np.exp(z)),
                   mentions=("case 4", "got nan", "overflows"))


def test_sigmoid_derivative_wrong_answers():
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    assert_verdict(FAILED, ch01.check_sigmoid_derivative, sig, mentions=("got 0.5", "expected 0.25", "s * (1 - s)"))
    assert_verdict(FAILED, ch01.check_sigmoid_derivative, lambda z: z * (1 - z),
                   mentions=("case 1", "got 0.0", "not z itself"))


def test_perceptron_update_wrong_answers():
    strict = lambda w, b, x, s, lr: (w + lr * s * x, b + lr * s) if s * (w @ x + b) < 0 else (w, b)  # noqa: E731
    assert_verdict(FAILED, ch01.check_perceptron_update, strict, mentions=("case 1", "on the line", "<= 0"))
    always = lambda w, b, x, s, lr: (w + lr * s * x, b + lr * s)  # noqa: E731
    assert_verdict(FAILED, ch01.check_perceptron_update, always, mentions=("case 2", "unchanged"))
    no_bias = lambda w, b, x, s, lr: (w + lr * s * x, b) if s * (w @ x + b) <= 0 else (w, b)  # noqa: E731
    assert_verdict(FAILED, ch01.check_perceptron_update, no_bias, mentions=("b: got 0.0; expected 0.1",))
