"""Chapter 15's exercise checks: the solution passes, the stub is not attempted, known mistakes fail by name."""

import numpy as np
import pytest

from nnlib.exercises import ch15
from tests.course.exercise_harness import FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution, stub

NS = {"np": np}


def test_block_params():
    assert_verdict(PASSED, ch15.check_block_params, load_solution("15", "block_params", NS))
    assert_verdict(NOT_ATTEMPTED, ch15.check_block_params, stub)
    assert_verdict(FAILED, ch15.check_block_params, lambda d: 12 * d * d, mentions=("biases", "LayerNorm", "got 12"))
    assert_verdict(FAILED, ch15.check_block_params, lambda d: 12 * d * d + 9 * d, mentions=("LayerNorms are missing",))
    assert_verdict(FAILED, ch15.check_block_params, lambda d: 2 * 2 * d + 4 * (d * d + d) + 2 * (d * d + d),
                   mentions=("4 times wider",))
    assert_verdict(FAILED, ch15.check_block_params, lambda d: 12 * d * d + 13 * d + 1, mentions=("expected 25",))


def _training_gib():
    scope = dict(NS)
    exec(compile(__import__("tests.course.exercise_harness", fromlist=["x"]).solution_source("15", "training_gib"),
                 "<15>", "exec"), scope)
    return scope["training_gib"], scope["fits_80gb"]


def test_training_memory():
    gib, fits = _training_gib()
    assert_verdict(PASSED, ch15.check_training_memory, gib, lambda: fits)
    assert_verdict(NOT_ATTEMPTED, ch15.check_training_memory, stub, lambda: fits)
    assert_verdict(NOT_ATTEMPTED, ch15.check_training_memory, gib, lambda: undefined_name)  # noqa: F821
    assert_verdict(FAILED, ch15.check_training_memory, lambda n, mixed: n * (12 if mixed else 16) / 2**30, lambda: fits,
                   mentions=("master copy",))
    assert_verdict(FAILED, ch15.check_training_memory, lambda n, mixed: n * 16 / 1e9, lambda: fits, mentions=("2**30",))
    assert_verdict(FAILED, ch15.check_training_memory, gib, lambda: 20 * 10**9, mentions=("weights only", "16 bytes"))
    assert_verdict(FAILED, ch15.check_training_memory, gib, lambda: 80e9 / 16 * 1.0 + 1e9, mentions=("fits_80gb", "expected"))


def test_combine():
    assert_verdict(PASSED, ch15.check_combine, load_solution("15", "combine", NS))
    assert_verdict(NOT_ATTEMPTED, ch15.check_combine, stub)
    assert_verdict(FAILED, ch15.check_combine, lambda g, r: sum(g) / len(g), mentions=("plain average", "got [2.5]"))
    assert_verdict(FAILED, ch15.check_combine, lambda g, r: sum(x * n for x, n in zip(g, r)), mentions=("total number of rows",))
    assert_verdict(FAILED, ch15.check_combine, lambda g, r: np.mean(g, axis=0) * 1.5, mentions=("expected",))
