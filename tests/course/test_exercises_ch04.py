"""Chapter 04's exercise checks: the solution passes, the stub waits, plausible wrong answers fail by name."""

import math

import numpy as np
import pytest

from nnlib.exercises import ch04
from tests.course.exercise_harness import FAILED, LINE_LIMIT, NOT_ATTEMPTED, PASSED, load_solution, stub
from tests.course.exercise_harness import assert_verdict as _assert_verdict

NS = {"np": np, "math": math}


def assert_verdict(*args, **kwargs):
    """The harness's assert_verdict, with every line at most LINE_LIMIT characters."""
    return _assert_verdict(*args, max_length=LINE_LIMIT, **kwargs)


def solutions():
    scope = dict(NS)
    for name in ("momentum_step", "rmsprop_step", "adam_step", "adamw_step", "warmup_cosine"):
        scope[name] = load_solution("04", name, scope)
    return scope


@pytest.mark.parametrize("name", ["momentum_step", "rmsprop_step", "adam_step", "adamw_step", "warmup_cosine"])
def test_solution_passes_and_stub_waits(name):
    check = getattr(ch04, f"check_{name}")
    assert_verdict(PASSED, check, solutions()[name])
    assert_verdict(NOT_ATTEMPTED, check, stub)


def test_momentum_wrong_answers():
    def ema(w, g, state, lr, momentum=0.9, nesterov=False):  # (1 - momentum) g: an average, not PyTorch's sum
        b = momentum * state.get("b", 0.0) + (1 - momentum) * g
        state["b"] = b
        return w - lr * b

    assert_verdict(FAILED, ch04.check_momentum_step, ema, mentions=("case 1", "step 1, w[0]", "got -0.01", "expected -0.1"))

    def no_nesterov(w, g, state, lr, momentum=0.9, nesterov=False):
        b = momentum * state.get("b", 0.0) + g
        state["b"] = b
        return w - lr * b

    assert_verdict(FAILED, ch04.check_momentum_step, no_nesterov, mentions=("case 4", "step 1"))


def test_rmsprop_wrong_answers():
    def eps_inside(w, g, state, lr, alpha=0.99, eps=1e-8):
        v = alpha * state.get("v", 0.0) + (1 - alpha) * g * g
        state["v"] = v
        return w - lr * g / np.sqrt(v + eps)

    line = assert_verdict(FAILED, ch04.check_rmsprop_step, eps_inside, mentions=("case 1", "step 1, w[0]"))
    got, expected = line.split("got ")[1].split(",")[0], line.split("expected ")[1].split(";")[0]
    assert got != expected  # the digits show the (tiny) difference

    def no_average(w, g, state, lr, alpha=0.99, eps=1e-8):
        v = state.get("v", 0.0) + g * g
        state["v"] = v
        return w - lr * g / (np.sqrt(v) + eps)

    assert_verdict(FAILED, ch04.check_rmsprop_step, no_average, mentions=("case 1", "got -0.01", "expected -0.1"))


def test_adam_wrong_answers():
    def no_bias_correction(w, g, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        m = beta1 * state.get("m", 0.0) + (1 - beta1) * g
        v = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
        state.update(m=m, v=v)
        return w - lr * m / (np.sqrt(v) + eps)

    assert_verdict(FAILED, ch04.check_adam_step, no_bias_correction,
                   mentions=("case 1", "step 1, w[0]", "got -0.3162", "expected -0.1"))

    def t_never_counts(w, g, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        m = beta1 * state.get("m", 0.0) + (1 - beta1) * g
        v = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
        state.update(m=m, v=v)
        return w - lr * (m / (1 - beta1)) / (np.sqrt(v / (1 - beta2)) + eps)

    assert_verdict(FAILED, ch04.check_adam_step, t_never_counts, mentions=("case 1", "step 2"))


def test_adamw_wrong_answers():
    adam_step = solutions()["adam_step"]

    def l2_in_the_gradient(w, g, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
        return adam_step(w, g + weight_decay * w, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)

    assert_verdict(FAILED, ch04.check_adamw_step, l2_in_the_gradient,
                   mentions=("case 1", "step 2, w[0]", "got -0.2", "expected -0.1999"))

    def decay_without_lr(w, g, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
        return adam_step(w * (1 - weight_decay), g, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)

    assert_verdict(FAILED, ch04.check_adamw_step, decay_without_lr, mentions=("case 1", "step 2, w[0]", "got -0.199,"))


def test_warmup_cosine_wrong_answers():
    def from_zero(step, base_lr, warmup_steps, total_steps, start_factor=1 / 3, eta_min=0.0):
        if step < warmup_steps:
            return base_lr * step / warmup_steps
        return solutions()["warmup_cosine"](step, base_lr, warmup_steps, total_steps, start_factor, eta_min)

    assert_verdict(FAILED, ch04.check_warmup_cosine, from_zero, mentions=("case 1", "got 0.0", "expected 0.03333"))

    def cosine_from_step_zero(step, base_lr, warmup_steps, total_steps, start_factor=1 / 3, eta_min=0.0):
        if step < warmup_steps:
            return base_lr * (start_factor + (1 - start_factor) * step / warmup_steps)
        progress = min(step, total_steps) / total_steps
        return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * progress)) / 2

    assert_verdict(FAILED, ch04.check_warmup_cosine, cosine_from_step_zero, mentions=("case 3", "got 0.09755", "expected 0.1"))
