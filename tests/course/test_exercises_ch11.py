"""Chapter 11's exercise checks: the solution passes, the stub is ⏳, plausible wrong answers are ❌."""

import math

import numpy as np

from nnlib.exercises import ch11
from tests.course.exercise_harness import FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution, stub

NS = {"np": np, "math": math}


def _softmax(s, axis=-1):
    with np.errstate(all="ignore"):  # a column of -inf (masked keys) gives nan: that answer is wrong anyway
        w = np.exp(s - s.max(axis=axis, keepdims=True))
        return w / w.sum(axis=axis, keepdims=True)


def test_attention():
    solution = load_solution("11", "attention", NS)
    assert_verdict(PASSED, ch11.check_attention, solution)
    assert_verdict(NOT_ATTEMPTED, ch11.check_attention, stub)

    def unscaled(q, k, v, mask=None):
        return solution(q * math.sqrt(q.shape[-1]), k, v, mask)

    def wrong_axis(q, k, v, mask=None):
        s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
        if mask is not None:
            s = s + mask
        return _softmax(s, axis=-2) @ v

    def unstable(q, k, v, mask=None):
        s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
        if mask is not None:
            s = s + mask
        with np.errstate(all="ignore"):
            w = np.exp(s)
            return (w / w.sum(axis=-1, keepdims=True)) @ v

    assert_verdict(FAILED, ch11.check_attention, unscaled, mentions=("not scaled", "sqrt(d)"))
    assert_verdict(FAILED, ch11.check_attention, wrong_axis, mentions=("wrong axis",))
    assert_verdict(FAILED, ch11.check_attention, lambda q, k, v, mask=None: solution(q, k, v), mentions=("mask is ignored",))
    # passed the old check: none of its scores was big enough to overflow np.exp
    assert_verdict(FAILED, ch11.check_attention, unstable, mentions=("overflows",))


def test_causal_mask():
    solution = load_solution("11", "causal_mask", NS)
    assert_verdict(PASSED, ch11.check_causal_mask, solution)
    assert_verdict(NOT_ATTEMPTED, ch11.check_causal_mask, stub)
    assert_verdict(FAILED, ch11.check_causal_mask, lambda T: solution(T).T, mentions=("lets the future through",))
    assert_verdict(FAILED, ch11.check_causal_mask,
                   lambda T: np.where(np.triu(np.ones((T, T))) > 0, -np.inf, 0.0).astype(np.float32),
                   mentions=("diagonal must stay 0",))
    # passed the old check: it compared values, not the dtype
    assert_verdict(FAILED, ch11.check_causal_mask, lambda T: solution(T).astype(np.float64),
                   mentions=("dtype", "float32"))


def test_split_and_merge_heads():
    split = load_solution("11", "split_heads", NS)
    merge = load_solution("11", "merge_heads", NS)
    assert_verdict(PASSED, ch11.check_split_heads, split)
    assert_verdict(PASSED, ch11.check_merge_heads, merge)
    assert_verdict(NOT_ATTEMPTED, ch11.check_split_heads, stub)
    assert_verdict(NOT_ATTEMPTED, ch11.check_merge_heads, stub)

    def split_direct(x, n_heads):
        b, t, d = x.shape
        return x.reshape(b, n_heads, t, d // n_heads)

    def split_dh_first(x, n_heads):
        b, t, d = x.shape
        return x.reshape(b, t, d // n_heads, n_heads).transpose(0, 3, 1, 2)

    def merge_direct(x):
        b, h, t, dh = x.shape
        return x.reshape(b, t, h * dh)

    def merge_interleaved(x):
        b, h, t, dh = x.shape
        return x.transpose(0, 2, 3, 1).reshape(b, t, h * dh)

    assert_verdict(FAILED, ch11.check_split_heads, split_direct, mentions=("mixes the tokens",))
    assert_verdict(FAILED, ch11.check_split_heads, split_dh_first, mentions=("(B, T, d/H, H)",))
    assert_verdict(FAILED, ch11.check_merge_heads, merge_direct, mentions=("mixes the tokens",))
    assert_verdict(FAILED, ch11.check_merge_heads, merge_interleaved, mentions=("interleaved",))


def test_layer_norm():
    solution = load_solution("11", "layer_norm", NS)
    assert_verdict(PASSED, ch11.check_layer_norm, solution)
    assert_verdict(NOT_ATTEMPTED, ch11.check_layer_norm, stub)

    def unbiased(x, gamma, beta, eps=1e-5):
        return gamma * (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, ddof=1, keepdims=True) + eps) + beta

    def eps_outside(x, gamma, beta, eps=1e-5):
        return gamma * (x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + eps) + beta

    def fixed_eps(x, gamma, beta, eps=1e-5):
        return solution(x, gamma, beta)

    assert_verdict(FAILED, ch11.check_layer_norm, unbiased, mentions=("not d - 1",))
    assert_verdict(FAILED, ch11.check_layer_norm, eps_outside, mentions=("inside the square root",))
    assert_verdict(FAILED, ch11.check_layer_norm, fixed_eps, mentions=("`eps` argument",))
    assert_verdict(FAILED, ch11.check_layer_norm, lambda x, g, b, eps=1e-5: solution(x, b, g, eps), mentions=("swapped",))


def test_later_cells_do_not_use_the_learners_names():
    from tests.course.test_exercises_ch06 import learner_names_used_later

    assert learner_names_used_later("11") == []
