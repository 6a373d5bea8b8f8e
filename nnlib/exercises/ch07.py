"""Chapter 07: the exercise checks of the training notebook (SGD step, validation split,
binary accuracy, a callback).

Each ``check_<exercise>(answer, ...)`` prints one verdict line and returns a
:class:`nnlib.checks.Verdict`; it never raises.
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np

from nnlib.checks import Verdict, check_cases

__all__ = ["check_sgd_step", "check_validation_split_indices", "check_binary_accuracy",
           "check_stop_at_accuracy"]


# ------------------------------------------------------------------ sgd_step
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _bce(w, b, X, y):
    p = _sigmoid(X @ w + b)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _sgd(w, b, X, y, lr, grad_scale=None, sign=1.0, update_b=True, b_sum=False, loss_after=False):
    n = len(y) if grad_scale is None else grad_scale
    p = _sigmoid(X @ w + b)
    grad_w = X.T @ (p - y) / n
    grad_b = np.sum(p - y) / (1 if b_sum else n)
    new_w = w - sign * lr * grad_w
    new_b = b - sign * lr * grad_b if update_b else b
    loss = _bce(new_w, new_b, X, y) if loss_after else _bce(w, b, X, y)
    return new_w, float(new_b), loss


def _nnlib_step(w, b, X, y, lr):
    """The expected step: nnlib's autograd and optim.SGD on the same logistic regression."""
    from nnlib import Parameter, Tensor, optim
    from nnlib import functional as F
    w_t, b_t = Parameter(np.array(w, dtype=np.float64)), Parameter(np.array([b], dtype=np.float64))
    sgd = optim.SGD([w_t, b_t], lr=lr)
    loss = F.binary_cross_entropy((Tensor(X) @ w_t + b_t).sigmoid(), y)
    loss.backward()
    sgd.step()
    return w_t.data, float(b_t.data[0]), loss.item()


def check_sgd_step(sgd_step, X_real=None, y_real=None) -> Verdict:
    """Chapter 07: one gradient-descent step of logistic regression, loss taken before the step.

    ``X_real, y_real``: optionally rows of the notebook's data for a last case.
    """
    rng = np.random.default_rng(3)
    X_small = rng.normal(size=(6, 3))
    one = np.array([[1.0], [2.0]])
    # by hand (p = 0.5 everywhere, loss = log 2 = 0.6931):
    #   y = [1, 0]: dL/dw = (1*(0.5-1) + 2*(0.5-0)) / 2 = 0.25, dL/db = 0   -> w = [-0.25], b = 0
    #   y = [1, 1]: dL/dw = (1*(-0.5) + 2*(-0.5)) / 2 = -0.75, dL/db = -0.5 -> w = [0.75], b = 0.5
    args = [(np.zeros(1), 0.0, one, np.array([1.0, 0.0]), 1.0),
            (np.zeros(1), 0.0, one, np.array([1.0, 1.0]), 1.0),
            (np.zeros(3), 0.0, X_small, np.array([0.0, 1, 1, 0, 1, 0]), 0.5),
            (rng.normal(size=3), 0.3, X_small, np.array([1.0, 1, 0, 0, 1, 1]), 0.1)]
    if X_real is not None:
        X_real, y_real = np.asarray(X_real, np.float64), np.asarray(y_real, np.float64).reshape(-1)
        args.append((np.zeros(X_real.shape[1]), 0.0, X_real, y_real, 1.0))
    cases = [(a, _nnlib_step(*a)) for a in args]
    mistakes = [
        (lambda w, b, X, y, lr: _sgd(w, b, X, y, lr, sign=-1.0),
         "sign error: a step goes against the gradient, new_w = w - lr * dL/dw."),
        (lambda w, b, X, y, lr: _sgd(w, b, X, y, lr, grad_scale=1),
         "the gradients are sums over the rows; divide by N (the loss is a mean)."),
        (lambda w, b, X, y, lr: _sgd(w, b, X, y, lr, b_sum=True),
         "dL/db is a sum; it is the mean of (p - y)."),
        (lambda w, b, X, y, lr: _sgd(w, b, X, y, lr, update_b=False),
         "the bias is not updated: new_b = b - lr * mean(p - y)."),
        (lambda w, b, X, y, lr: _sgd(w, b, X, y, lr, loss_after=True),
         "the loss is taken after the step; return the loss before it."),
        (lambda w, b, X, y, lr: (*_sgd(w, b, X, y, lr)[:2], -_sgd(w, b, X, y, lr)[2]),
         "the loss has the wrong sign: BCE = -mean(y log p + (1 - y) log(1 - p)) is positive."),
        (lambda w, b, X, y, lr: (*_sgd(w, b, X, y, lr)[:2], _sgd(w, b, X, y, lr)[2] * len(y)),
         "the loss is a sum over the rows; take the mean."),
    ]
    return check_cases("sgd_step", sgd_step, cases, mistakes, atol=1e-6, labels=("new_w", "new_b", "loss"),
                       show=lambda a: f"w {np.round(a[0], 3)}, b {a[1]}, {len(a[3])} rows, lr {a[4]}")


# ------------------------------------------------------ validation_split_indices
def _split(n, split, cut=None):
    cut = math.floor(n * (1 - split)) if cut is None else cut
    return np.arange(cut), np.arange(cut, n)


def check_validation_split_indices(validation_split_indices, n_real=None) -> Verdict:
    """Chapter 07: the rows ``fit(validation_split=split)`` trains on (the first floor(n(1-split))) and
    validates on (the rest)."""
    args = [(10, 0.2), (7, 0.3), (5, 0.5), (10, 0.25), (3, 0.1)]
    if n_real is not None:
        args.append((int(n_real), 0.2))
    cases = [(a, _split(*a)) for a in args]
    mistakes = [
        (lambda n, s: _split(n, s)[::-1], "train and validation are swapped: return (train_idx, val_idx)."),
        (lambda n, s: (np.arange(n - math.floor(n * (1 - s)), n), np.arange(n - math.floor(n * (1 - s)))),
         "fit validates on the LAST rows, not the first ones."),
        (lambda n, s: _split(n, s, round(n * (1 - s))),
         "the cut is rounded; fit cuts at floor(n * (1 - split))."),
        (lambda n, s: _split(n, s, n - math.floor(n * s)),
         "the cut is rounded up (n - floor(n * split) rows for training); fit cuts at floor(n * (1 - split))."),
        (lambda n, s: _split(n, s, math.ceil(n * (1 - s))),
         "the cut is rounded up; fit cuts at floor(n * (1 - split))."),
        (lambda n, s: _split(n, s, math.floor(n * (1 - s)) + 1), "off by one: the training part is one row too long."),
        (lambda n, s: _split(n, s, math.floor(n * (1 - s)) - 1), "off by one: the training part is one row too short."),
        (lambda n, s: (np.arange(math.floor(n * (1 - s))), np.arange(math.floor(n * (1 - s)) + 1, n)),
         "off by one: row floor(n * (1 - split)) is lost between the two parts."),
    ]
    return check_cases("validation_split_indices", validation_split_indices, cases, mistakes,
                       labels=("train_idx", "val_idx"))


# ----------------------------------------------------------- binary_accuracy
def check_binary_accuracy(binary_accuracy, y_real=None, p_real=None) -> Verdict:
    """Chapter 07: binary accuracy, class 1 when the probability is above the threshold."""
    def acc(y, p, t=0.5):
        return float(np.mean((np.asarray(p) > t) == (np.asarray(y) == 1)))

    args = [(np.array([1, 0, 1, 1]), np.array([0.9, 0.2, 0.4, 0.6])),          # by hand: 3 of 4 right
            (np.array([0, 0]), np.array([0.5, 0.5])),                          # exactly 0.5 is class 0: 1.0
            (np.array([0, 0, 1]), np.array([0.7, 0.9, 0.85]), 0.8),            # at t = 0.8: [0, 1, 1] -> 2/3
            (np.array([[1], [0], [0], [0]]), np.array([[0.8], [0.3], [0.6], [0.1]]))]   # (N, 1): 0.75
    if y_real is not None:
        args.append((np.asarray(y_real), np.asarray(p_real)))
    cases = [(a, acc(*a)) for a in args]

    def broadcast(y, p, t=0.5):
        y, p = np.asarray(y), np.asarray(p)
        if y.ndim == 2:
            return float(np.mean((p > t).reshape(-1) == (y == 1)))
        return acc(y, p, t)

    mistakes = [
        (lambda y, p, t=0.5: float(np.mean((np.asarray(p) >= t) == (np.asarray(y) == 1))),
         "a probability equal to the threshold counts as class 0: use >, not >=."),
        (lambda y, p, t=0.5: acc(y, p), "the `threshold` argument is ignored (0.5 is used)."),
        (lambda y, p, t=0.5: 1 - acc(y, p, t), "that is the error rate, 1 - accuracy."),
        (lambda y, p, t=0.5: float(np.mean((np.asarray(p) < t) == (np.asarray(y) == 1))),
         "the predictions are inverted: class 1 when p > threshold."),
        (lambda y, p, t=0.5: float(np.sum((np.asarray(p) > t) == (np.asarray(y) == 1))),
         "that is the number of correct rows; divide by N for the accuracy."),
        (broadcast, "(N,) compared with (N, 1) broadcasts to an N x N table; compare arrays of one shape."),
    ]
    return check_cases("binary_accuracy", binary_accuracy, cases, mistakes,
                       show=lambda a: f"y_true {a[0].reshape(-1)[:4]}, y_prob {a[1].reshape(-1)[:4]}"
                                      + (f", threshold {a[2]}" if len(a) > 2 else ""))


# ------------------------------------------------------------ StopAtAccuracy
class _FakeModel:
    """Stands in for a model in ``on_epoch_end``: the callback only sets ``stop_training``."""

    def __init__(self):
        self.stop_training = False


def _epochs_with(callback_class, accuracies, target):
    callback, model = callback_class(target), _FakeModel()
    callback.set_model(model)
    for epoch, accuracy in enumerate(accuracies):
        callback.on_epoch_end(epoch, {"loss": 1.0 - accuracy, "accuracy": accuracy})
        if model.stop_training:
            return epoch + 1
    return len(accuracies)


def _first_reaching(accuracies, target, strict=False, late=0):
    for epoch, accuracy in enumerate(accuracies):
        if accuracy > target or (accuracy == target and not strict):
            return min(epoch + 1 + late, len(accuracies))
    return len(accuracies)


def check_stop_at_accuracy(StopAtAccuracy, build_model=None, X=None, y=None) -> Verdict:
    """Chapter 07: ``StopAtAccuracy(target)`` stops ``fit`` once ``logs['accuracy'] >= target``.

    First called by hand with made-up training accuracies (a fake model records the stop);
    with ``build_model`` (a function returning a compiled, seeded model) and ``X, y`` it is
    then used inside ``fit`` too, and must stop where a full run's History says.
    """
    name = "StopAtAccuracy"
    # by hand: accuracies per epoch; the first epoch with accuracy >= target is the last one run
    args = [((0.5, 0.85, 0.9, 0.95), 0.9),        # reaches exactly 0.9 at epoch 3 -> 3 epochs
            ((0.96, 0.97), 0.95),                 # already there after epoch 1 -> 1 epoch
            ((0.5, 0.6, 0.7), 0.99),              # never -> all 3 epochs
            ((0.7, 0.92, 0.91, 0.93), 0.92)]      # 0.92 at epoch 2 -> 2 epochs
    cases = [(a, _first_reaching(*a)) for a in args]
    mistakes = [
        (lambda accs, t: _first_reaching(accs, t, strict=True),
         "an accuracy equal to the target must stop training too: use >=, not >."),
        (lambda accs, t: len(accs), "training never stops: set self.model.stop_training = True."),
        (lambda accs, t: _first_reaching(accs, t, late=1), "training stops one epoch late."),
        (lambda accs, t: 1, "training stops after the first epoch whatever the accuracy."),
    ]

    def run(accs, target):
        try:
            return _epochs_with(StopAtAccuracy, accs, target)
        except KeyError as error:
            raise _MissingKey(error.args[0] if error.args else "?") from None

    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                run(*args[0])
            except _MissingKey as missing:
                print(f"❌ {name}: logs has no {missing.key!r} here (fit runs without validation); "
                      f"use the training accuracy, logs['accuracy'].")
            except Exception:
                pass
            if not out.getvalue():
                check_cases(name, run, cases, mistakes,
                            show=lambda a: f"accuracies {list(a[0])}, target {a[1]}")
        line = out.getvalue().strip()
        if not line.startswith("✅") or build_model is None:
            print(line.replace("_MissingKey", "KeyError"))
            return Verdict(line.startswith("✅"))
        full = build_model().fit(X, y, epochs=20, batch_size=32, verbose=0).history["accuracy"]
        for target in (0.95, 0.98):
            expected = _first_reaching(full, target)
            ran = len(build_model().fit(X, y, epochs=20, batch_size=32, verbose=0,
                                        callbacks=[StopAtAccuracy(target)]).history["loss"])
            if ran != expected:
                print(f"❌ {name}: inside fit with target {target}, training ran {ran} epochs; the History "
                      f"of a full run reaches {target} after {expected}.")
                return Verdict(False)
        print(line)
        return Verdict(True)
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        print(f"❌ {name}: raised {type(error).__name__}: {error}.")
        return Verdict(False)


class _MissingKey(Exception):
    def __init__(self, key):
        super().__init__(key)
        self.key = key
