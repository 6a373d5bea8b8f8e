"""Chapter 09's exercise checks: the solution passes, the stub is ⏳, plausible wrong answers are ❌."""

import numpy as np

from nnlib import Tensor
from nnlib import functional as F
from nnlib.exercises import ch09
from tests.course.exercise_harness import FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution, stub

NS = {"np": np}


def test_l2_penalty_and_grad():
    solution = load_solution("09", "l2_penalty_and_grad", NS)
    assert_verdict(PASSED, ch09.check_l2_penalty_and_grad, solution)
    assert_verdict(PASSED, ch09.check_l2_penalty_and_grad, solution, np.random.default_rng(0).normal(size=(64, 8)))
    assert_verdict(NOT_ATTEMPTED, ch09.check_l2_penalty_and_grad, stub)
    assert_verdict(FAILED, ch09.check_l2_penalty_and_grad, lambda w, lam: (float(lam * np.sum(w * w)), lam * w),
                   mentions=("factor 2",))
    assert_verdict(FAILED, ch09.check_l2_penalty_and_grad,
                   lambda w, lam: (float(lam * np.sum(np.abs(w))), lam * np.sign(w)), mentions=("L1",))
    assert_verdict(FAILED, ch09.check_l2_penalty_and_grad,
                   lambda w, lam: (float(lam / 2 * np.sum(w * w)), lam * w), mentions=("PyTorch's convention",))


def test_inverted_dropout():
    solution = load_solution("09", "inverted_dropout", NS)
    assert_verdict(PASSED, ch09.check_inverted_dropout, solution)
    assert_verdict(PASSED, ch09.check_inverted_dropout, solution, F, Tensor)
    assert_verdict(NOT_ATTEMPTED, ch09.check_inverted_dropout, stub)
    assert_verdict(FAILED, ch09.check_inverted_dropout, lambda x, p, u: x * (u > p) / (1 - p), mentions=("u >= p",))
    assert_verdict(FAILED, ch09.check_inverted_dropout, lambda x, p, u: x * (u >= p), mentions=("1 / (1 - p)",))
    # passed the old first case (p = 0.5, where 1/p = 1/(1-p))
    assert_verdict(FAILED, ch09.check_inverted_dropout, lambda x, p, u: x * (u >= p) / p, mentions=("not 1 / p",))
    assert_verdict(FAILED, ch09.check_inverted_dropout, lambda x, p, u: x * (u < p) / (1 - p), mentions=("inverted",))


def test_early_stop_epoch():
    solution = load_solution("09", "early_stop_epoch", NS)
    assert_verdict(PASSED, ch09.check_early_stop_epoch, solution)
    assert_verdict(PASSED, ch09.check_early_stop_epoch, solution, np.r_[np.linspace(1, 0.4, 20), np.linspace(0.41, 0.7, 30)])
    assert_verdict(NOT_ATTEMPTED, ch09.check_early_stop_epoch, stub)

    def not_strict(val_losses, patience):
        best, best_epoch = float("inf"), 0
        for epoch, value in enumerate(val_losses):
            if value <= best:
                best, best_epoch = value, epoch
            elif epoch - best_epoch >= patience:
                return epoch
        return len(val_losses) - 1

    def one_late(val_losses, patience):
        best, best_epoch = float("inf"), 0
        for epoch, value in enumerate(val_losses):
            if value < best:
                best, best_epoch = value, epoch
            elif epoch - best_epoch > patience:
                return epoch
        return len(val_losses) - 1

    def never_reset(val_losses, patience):
        best, waited = float("inf"), 0
        for epoch, value in enumerate(val_losses):
            if value < best:
                best = value
            else:
                waited += 1
                if waited == patience:
                    return epoch
        return len(val_losses) - 1

    assert_verdict(FAILED, ch09.check_early_stop_epoch, not_strict, mentions=("strictly lower",))
    assert_verdict(FAILED, ch09.check_early_stop_epoch, one_late, mentions=("off by one",))
    # passed the old check: none of its curves had a second stretch without improvement
    assert_verdict(FAILED, ch09.check_early_stop_epoch, never_reset, mentions=("reset",))


def test_add_noise():
    solution = load_solution("09", "add_noise", NS)
    assert_verdict(PASSED, ch09.check_add_noise, solution)
    assert_verdict(PASSED, ch09.check_add_noise, solution, np.random.default_rng(0).random((5, 64)))
    assert_verdict(NOT_ATTEMPTED, ch09.check_add_noise, stub)
    # passed the old check: it compared values, not the dtype
    assert_verdict(FAILED, ch09.check_add_noise, lambda X, sigma, rng: X + sigma * rng.standard_normal(X.shape),
                   mentions=("dtype", "float32"))
    assert_verdict(FAILED, ch09.check_add_noise,
                   lambda X, sigma, rng: (X + sigma ** 2 * rng.standard_normal(X.shape)).astype(X.dtype),
                   mentions=("sigma**2",))
    assert_verdict(FAILED, ch09.check_add_noise,
                   lambda X, sigma, rng: (X + sigma * np.random.standard_normal(X.shape)).astype(X.dtype),
                   mentions=("`rng` argument",))
    assert_verdict(FAILED, ch09.check_add_noise,
                   lambda X, sigma, rng: (X + sigma * rng.random(X.shape)).astype(X.dtype), mentions=("uniform",))


def test_later_cells_do_not_use_the_learners_names():
    from tests.course.test_exercises_ch06 import learner_names_used_later

    assert learner_names_used_later("09") == []
