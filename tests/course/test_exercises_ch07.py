"""Chapter 07's exercise checks: the solution passes, the stub is ⏳, plausible wrong answers are ❌."""

import math

import numpy as np

import nnlib
from nnlib.callbacks import Callback
from nnlib.exercises import ch07
from nnlib.layers import Dense
from nnlib.models import Sequential
from tests.course.exercise_harness import (FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution,
                                           notebook_cells, stub)

NS = {"np": np, "math": math}


def _solution_class(name):
    # the solved notebook's cell that defines `class <name>(` (load_solution finds functions only)
    [source] = ["".join(c["source"]) for c in notebook_cells("07")
                if c["cell_type"] == "code" and f"class {name}(" in "".join(c["source"])]
    scope = {"np": np, "Callback": Callback}
    exec(compile(source, f"<solutions/07 {name}>", "exec"), scope)
    return scope[name]


def test_sgd_step():
    solution = load_solution("07", "sgd_step", NS)
    assert_verdict(PASSED, ch07.check_sgd_step, solution)
    assert_verdict(NOT_ATTEMPTED, ch07.check_sgd_step, stub)

    def summed(w, b, X, y, lr):  # forgets the 1/N of the mean
        new_w, new_b, loss = solution(w, b, X, y, lr * len(y))
        return new_w, new_b, loss

    def no_bias_update(w, b, X, y, lr):
        new_w, _, loss = solution(w, b, X, y, lr)
        return new_w, b, loss

    def loss_after(w, b, X, y, lr):
        new_w, new_b, _ = solution(w, b, X, y, lr)
        return new_w, new_b, solution(new_w, new_b, X, y, 0.0)[2]

    assert_verdict(FAILED, ch07.check_sgd_step, summed, mentions=("divide by N",))
    assert_verdict(FAILED, ch07.check_sgd_step, no_bias_update, mentions=("bias is not updated",))
    assert_verdict(FAILED, ch07.check_sgd_step, loss_after, mentions=("after the step",))
    assert_verdict(FAILED, ch07.check_sgd_step, lambda w, b, X, y, lr: solution(w, b, X, y, -lr),
                   mentions=("sign error",))


def test_validation_split_indices():
    solution = load_solution("07", "validation_split_indices", NS)
    assert_verdict(PASSED, ch07.check_validation_split_indices, solution)
    assert_verdict(PASSED, ch07.check_validation_split_indices, solution, 445)
    assert_verdict(NOT_ATTEMPTED, ch07.check_validation_split_indices, stub)

    def rounded(n, split):
        cut = round(n * (1 - split))
        return np.arange(cut), np.arange(cut, n)

    def first_rows(n, split):
        n_val = n - math.floor(n * (1 - split))
        return np.arange(n_val, n), np.arange(n_val)

    def by_split(n, split):
        cut = n - int(n * split)
        return np.arange(cut), np.arange(cut, n)

    assert_verdict(FAILED, ch07.check_validation_split_indices, rounded, mentions=("rounded", "floor"))
    assert_verdict(FAILED, ch07.check_validation_split_indices, first_rows, mentions=("LAST rows",))
    assert_verdict(FAILED, ch07.check_validation_split_indices, by_split, mentions=("rounded up",))


def test_binary_accuracy():
    solution = load_solution("07", "binary_accuracy", NS)
    assert_verdict(PASSED, ch07.check_binary_accuracy, solution)
    assert_verdict(NOT_ATTEMPTED, ch07.check_binary_accuracy, stub)
    # both passed the old check: its 0.5 case and its threshold case could not tell them apart
    assert_verdict(FAILED, ch07.check_binary_accuracy,
                   lambda y, p, threshold=0.5: float(np.mean((p >= threshold) == (y == 1))), mentions=(">=",))
    assert_verdict(FAILED, ch07.check_binary_accuracy,
                   lambda y, p, threshold=0.5: float(np.mean((p > 0.5) == (y == 1))),
                   mentions=("threshold` argument is ignored",))
    assert_verdict(FAILED, ch07.check_binary_accuracy,
                   lambda y, p, threshold=0.5: float(np.mean((p > threshold).ravel() == (y == 1))),
                   mentions=("broadcasts",))


def test_stop_at_accuracy():
    solution = _solution_class("StopAtAccuracy")
    assert_verdict(PASSED, ch07.check_stop_at_accuracy, solution)

    class Stub(Callback):
        def __init__(self, target):
            super().__init__()
            self.target = target

        def on_epoch_end(self, epoch, logs=None):
            raise NotImplementedError()

    class Strict(Stub):  # passed the old check: no real run hits the target exactly
        def on_epoch_end(self, epoch, logs=None):
            if logs["accuracy"] > self.target:
                self.model.stop_training = True

    class OnItself(Stub):  # sets the flag on the callback, not on the model
        def on_epoch_end(self, epoch, logs=None):
            if logs["accuracy"] >= self.target:
                self.stop_training = True

    class Validation(Stub):
        def on_epoch_end(self, epoch, logs=None):
            if logs["val_accuracy"] >= self.target:
                self.model.stop_training = True

    assert_verdict(NOT_ATTEMPTED, ch07.check_stop_at_accuracy, Stub)
    assert_verdict(FAILED, ch07.check_stop_at_accuracy, Strict, mentions=("use >=",))
    assert_verdict(FAILED, ch07.check_stop_at_accuracy, OnItself, mentions=("never stops",))
    assert_verdict(FAILED, ch07.check_stop_at_accuracy, Validation, mentions=("logs['accuracy']",))


def test_stop_at_accuracy_inside_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float32).reshape(-1, 1)

    def build():
        nnlib.manual_seed(0)
        model = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    assert_verdict(PASSED, ch07.check_stop_at_accuracy, _solution_class("StopAtAccuracy"), build, X, y)


def test_later_cells_do_not_use_the_learners_names():
    from tests.course.test_exercises_ch06 import learner_names_used_later

    assert learner_names_used_later("07") == []
