"""Chapter 17's exercise checks: the solution passes, the stub waits, plausible mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest

import nnlib
from nnlib.exercises import ch17
from nnlib.interpret import saliency
from nnlib.layers import Dense
from nnlib.models import Sequential

from .exercise_harness import FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution, stub

NS = {"np": np, "saliency": saliency}


@pytest.fixture(scope="module")
def model_and_digits():
    nnlib.manual_seed(0)
    model = Sequential([Dense(16, activation="tanh", input_shape=(64,)), Dense(5, activation="softmax")])
    model.build((None, 64))
    x = np.random.default_rng(0).random((3, 64)).astype(np.float32)
    return model, x, np.array([0, 3, 4])


# ---------------------------------------------------------------- exercise 1
def test_ig_riemann(model_and_digits):
    model, x, t = model_and_digits
    solution = load_solution("17", "ig_riemann", NS)
    assert_verdict(PASSED, ch17.check_ig_riemann, solution, model, x, t)
    assert_verdict(NOT_ATTEMPTED, ch17.check_ig_riemann, stub, model, x, t)

    def no_times_x(m, xx, target, steps):
        alphas = (np.arange(steps) + 0.5) / steps
        return np.mean([saliency(m, a * xx, target=target, absolute=False) for a in alphas], axis=0)

    def left_points(m, xx, target, steps):
        alphas = np.arange(steps) / steps
        return xx * np.mean([saliency(m, a * xx, target=target, absolute=False) for a in alphas], axis=0)

    def summed(m, xx, target, steps):
        alphas = (np.arange(steps) + 0.5) / steps
        return xx * np.sum([saliency(m, a * xx, target=target, absolute=False) for a in alphas], axis=0)

    def absolute_gradients(m, xx, target, steps):
        alphas = (np.arange(steps) + 0.5) / steps
        return xx * np.mean([saliency(m, a * xx, target=target) for a in alphas], axis=0)

    assert_verdict(FAILED, ch17.check_ig_riemann, no_times_x, model, x, t, mentions=("multiply",))
    assert_verdict(FAILED, ch17.check_ig_riemann, left_points, model, x, t, mentions=("left rule",))
    assert_verdict(FAILED, ch17.check_ig_riemann, summed, model, x, t, mentions=("average",))
    assert_verdict(FAILED, ch17.check_ig_riemann, absolute_gradients, model, x, t, mentions=("absolute=False",))

    def endpoints_included(m, xx, target, steps):      # np.linspace(0, 1, steps): not the midpoint rule
        return xx * np.mean([saliency(m, a * xx, target=target, absolute=False)
                             for a in np.linspace(0, 1, steps)], axis=0)

    assert_verdict(FAILED, ch17.check_ig_riemann, endpoints_included, model, x, t, mentions=("case",))


# ---------------------------------------------------------------- exercise 2
def test_clip_each():
    solution = load_solution("17", "clip_each", NS)
    assert_verdict(PASSED, ch17.check_clip_each, solution)
    assert_verdict(NOT_ATTEMPTED, ch17.check_clip_each, stub)
    assert_verdict(FAILED, ch17.check_clip_each,
                   lambda g, c: np.asarray(g) * min(1.0, c / np.linalg.norm(g)), mentions=("whole batch",))
    assert_verdict(FAILED, ch17.check_clip_each,
                   lambda g, c: c * np.asarray(g) / np.linalg.norm(g, axis=1, keepdims=True),
                   mentions=("stay as they are",))
    assert_verdict(FAILED, ch17.check_clip_each, lambda g, c: np.clip(g, -c, c), mentions=("coordinate",))

    def in_place(g, c):                              # right numbers, but the caller's gradients are overwritten
        g = np.asarray(g)
        g *= np.minimum(1.0, c / np.linalg.norm(g, axis=1, keepdims=True))
        return g

    assert_verdict(FAILED, ch17.check_clip_each, in_place, mentions=("in place", "`grads`"))


# ---------------------------------------------------------------- exercise 3
def test_membership_advantage():
    solution = load_solution("17", "membership_advantage", NS)
    assert_verdict(PASSED, ch17.check_membership_advantage, solution)
    assert_verdict(NOT_ATTEMPTED, ch17.check_membership_advantage, stub)

    def high_loss_is_member(m, o):
        m, o = np.asarray(m, float), np.asarray(o, float)
        t = np.concatenate([[np.inf], np.unique(np.concatenate([m, o]))])
        return float(np.max((m[None] >= t[:, None]).mean(1) - (o[None] >= t[:, None]).mean(1)))

    def median_accuracy(m, o):
        m, o = np.asarray(m, float), np.asarray(o, float)
        t = np.median(np.concatenate([m, o]))
        return float(((m <= t).sum() + (o > t).sum()) / (len(m) + len(o)))

    def difference_of_means(m, o):
        return float(np.mean(o) - np.mean(m))

    assert_verdict(FAILED, ch17.check_membership_advantage, high_loss_is_member, mentions=("low losses",))
    assert_verdict(FAILED, ch17.check_membership_advantage, median_accuracy, mentions=("accuracy",))
    assert_verdict(FAILED, ch17.check_membership_advantage, difference_of_means, mentions=("case",))

    def two_sided(m, o):                             # |TPR - FPR|: counts members with HIGHER losses as a leak
        m, o = np.asarray(m, float), np.asarray(o, float)
        t = np.concatenate([[-np.inf], np.unique(np.concatenate([m, o]))])
        return float(np.max(np.abs((m[None] <= t[:, None]).mean(1) - (o[None] <= t[:, None]).mean(1))))

    assert_verdict(FAILED, ch17.check_membership_advantage, two_sided, mentions=("|TPR - FPR|",))

    def member_thresholds_only(m, o):                # still right: the best t is always one of the member losses
        m, o = np.asarray(m, float), np.asarray(o, float)
        t = np.concatenate([[-np.inf], m])
        return float(np.max((m[None] <= t[:, None]).mean(1) - (o[None] <= t[:, None]).mean(1)))

    assert_verdict(PASSED, ch17.check_membership_advantage, member_thresholds_only)


# ---------------------------------------------------------------- exercise 4
def test_prune_smallest():
    solution = load_solution("17", "prune_smallest", NS)
    assert_verdict(PASSED, ch17.check_prune_smallest, solution)
    assert_verdict(NOT_ATTEMPTED, ch17.check_prune_smallest, stub)

    def signed(w, amount):
        w = np.asarray(w, float)
        out = w.ravel().copy()
        out[np.argsort(out, kind="stable")[:int(round(amount * w.size))]] = 0
        return out.reshape(w.shape)

    def keeps_amount(w, amount):
        return solution(w, 1 - amount)

    def floor_count(w, amount):
        w = np.asarray(w, float)
        out = w.ravel().copy()
        out[np.argsort(np.abs(out), kind="stable")[:int(amount * w.size) - 1]] = 0
        return out.reshape(w.shape)

    assert_verdict(FAILED, ch17.check_prune_smallest, signed, mentions=("magnitude",))
    assert_verdict(FAILED, ch17.check_prune_smallest, keeps_amount, mentions=("REMOVE",))
    assert_verdict(FAILED, ch17.check_prune_smallest, floor_count, mentions=("case",))

    def rounds_down(w, amount):
        w = np.asarray(w, float)
        out = w.ravel().copy()
        out[np.argsort(np.abs(out), kind="stable")[:int(amount * w.size)]] = 0
        return out.reshape(w.shape)

    def in_place(w, amount):                         # right numbers, but the caller's weights are zeroed too
        flat = w.reshape(-1)
        flat[np.argsort(np.abs(flat), kind="stable")[:int(round(amount * w.size))]] = 0
        return w

    def threshold_ties(w, amount):                   # zero everything <= the k-th smallest |w|
        w = np.asarray(w, float)
        k = int(round(amount * w.size))
        if k == 0:
            return w.copy()
        return np.where(np.abs(w) <= np.sort(np.abs(w).ravel())[k - 1], 0.0, w)

    assert_verdict(FAILED, ch17.check_prune_smallest, rounds_down, mentions=("rounds down",))
    assert_verdict(FAILED, ch17.check_prune_smallest, in_place, mentions=("in place", "`w`"))
    assert_verdict(PASSED, ch17.check_prune_smallest, threshold_ties)   # no ties in the cases: also right


def test_the_reference_advantage_is_nnlibs():
    from nnlib.privacy import membership_advantage

    assert membership_advantage([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert membership_advantage([0.1, 0.5], [0.3, 0.6]) == 0.5
    assert membership_advantage([1.0, 2.0], [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="non-empty, finite"):
        membership_advantage([], [1.0])
