"""Chapter 13's exercise checks: the solution passes, the stub is not attempted, known mistakes fail by name."""

import numpy as np

from nnlib.exercises import ch13
from tests.course.exercise_harness import FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution, stub

NS = {"np": np}


def test_make_example():
    assert_verdict(PASSED, ch13.check_make_example, load_solution("13", "make_example", NS))
    assert_verdict(NOT_ATTEMPTED, ch13.check_make_example, stub)
    unmasked = lambda p, r: ((list(p) + list(r))[:-1], (list(p) + list(r))[1:])  # noqa: E731
    assert_verdict(FAILED, ch13.check_make_example, unmasked, mentions=("-100", "prompt"))
    one_too_many = lambda p, r: ((list(p) + list(r))[:-1], [-100] * len(p) + list(r)[1:])  # noqa: E731
    assert_verdict(FAILED, ch13.check_make_example, one_too_many, mentions=("one -100 too many",))
    no_shift = lambda p, r: (list(p) + list(r), [-100] * (len(p) - 1) + list(r))  # noqa: E731
    assert_verdict(FAILED, ch13.check_make_example, no_shift, mentions=("leave out the last id",))


def test_exact_match():
    assert_verdict(PASSED, ch13.check_exact_match, load_solution("13", "exact_match", NS))
    assert_verdict(NOT_ATTEMPTED, ch13.check_exact_match, stub)
    assert_verdict(FAILED, ch13.check_exact_match, lambda p, a: sum(x == y for x, y in zip(p, a)) / len(p),
                   mentions=("strip",))
    assert_verdict(FAILED, ch13.check_exact_match, lambda p, a: sum(x.strip() == y.strip() for x, y in zip(p, a)),
                   mentions=("fraction", "count"))
    assert_verdict(FAILED, ch13.check_exact_match,
                   lambda p, a: sum(x.strip().lower() == y.strip().lower() for x, y in zip(p, a)) / len(p),
                   mentions=("case-sensitive",))


def test_lora_forward():
    assert_verdict(PASSED, ch13.check_lora_forward, load_solution("13", "lora_forward", NS))
    assert_verdict(NOT_ATTEMPTED, ch13.check_lora_forward, stub)
    assert_verdict(FAILED, ch13.check_lora_forward, lambda x, W, b, A, B, alpha, r: x @ W + b + x @ A @ B,
                   mentions=("alpha / r", "got [[4. 2.]]", "expected [[7. 2.]]"))
    assert_verdict(FAILED, ch13.check_lora_forward, lambda x, W, b, A, B, alpha, r: x @ W + (alpha / r) * (x @ A @ B),
                   mentions=("bias",))
    # a wrong matrix order (x A^T ...) is caught by the check's shapes, with the usual message
    assert_verdict(FAILED, ch13.check_lora_forward,
                   lambda x, W, b, A, B, alpha, r: x @ W + b + (alpha / r) * (x @ (A @ B)) * 0.5, mentions=("expected",))


def test_lora_param_count():
    assert_verdict(PASSED, ch13.check_lora_param_count, load_solution("13", "lora_param_count", NS))
    assert_verdict(NOT_ATTEMPTED, ch13.check_lora_param_count, stub)
    assert_verdict(FAILED, ch13.check_lora_param_count, lambda shapes, r: sum(r * i * o for i, o in shapes),
                   mentions=("r * (d_in + d_out)", "got 6", "expected 5"))
    assert_verdict(FAILED, ch13.check_lora_param_count, lambda shapes, r: sum(i * o for i, o in shapes),
                   mentions=("frozen",))
    assert_verdict(FAILED, ch13.check_lora_param_count, lambda shapes, r: sum(2 * r * i for i, o in shapes),
                   mentions=("d_out may differ",))
