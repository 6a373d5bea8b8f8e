"""Chapter 09: the exercise checks of the generalization notebook (L2 penalty, inverted
dropout, the early-stopping rule, noise augmentation).

Each ``check_<exercise>(answer, ...)`` prints one verdict line and returns a
:class:`nnlib.checks.Verdict`; it never raises.
"""

from __future__ import annotations

import copy

import numpy as np

from nnlib.checks import Verdict, check_cases

__all__ = ["check_l2_penalty_and_grad", "check_inverted_dropout", "check_early_stop_epoch",
           "check_add_noise"]


def _l2(w, lam):
    return float(lam * np.sum(w * w)), 2.0 * lam * w


def check_l2_penalty_and_grad(l2_penalty_and_grad, kernel=None) -> Verdict:
    """Chapter 09: ``l2_penalty_and_grad(w, lam)`` = (lam * sum(w**2), 2 * lam * w).

    ``kernel``: optionally a real weight matrix for a last case (with lam = 1e-3).
    """
    rng = np.random.default_rng(5)
    # by hand: w = [1, -2, 3], lam = 0.5 -> penalty 0.5 * 14 = 7, gradient 2 * 0.5 * w = [1, -2, 3]
    args = [(np.array([1.0, -2.0, 3.0]), 0.5), (np.array([[1.0, 2.0]]), 0.1), (rng.normal(size=(3, 4)), 0.01)]
    if kernel is not None:
        args.append((np.asarray(kernel), 1e-3))
    cases = [(a, _l2(*a)) for a in args]
    mistakes = [
        (lambda w, lam: (_l2(w, lam)[0], lam * w), "the gradient of lam * w**2 is 2 * lam * w: the factor 2 is missing."),
        (lambda w, lam: (_l2(w, lam)[0] / 2, lam * w), "that is PyTorch's convention (lam/2 * sum w**2); "
                                                       "here the penalty is lam * sum(w**2), gradient 2 * lam * w."),
        (lambda w, lam: (float(lam * np.sum(np.abs(w))), lam * np.sign(w)), "that is the L1 penalty; L2 squares "
                                                                           "the weights: lam * sum(w**2)."),
        (lambda w, lam: (float(lam * np.sqrt(np.sum(w * w))), _l2(w, lam)[1]),
         "the penalty is the sum of squares lam * sum(w**2), not the norm."),
        (lambda w, lam: (float(np.sum(w * w)), 2 * w), "lam is missing: penalty lam * sum(w**2), gradient 2 * lam * w."),
        (lambda w, lam: (float(lam * np.sum(w)) ** 2, _l2(w, lam)[1]), "square each weight, then sum: lam * sum(w**2)."),
        (lambda w, lam: (_l2(w, lam)[0], 2 * lam * np.sum(w)), "the gradient is an array like w: 2 * lam * w."),
    ]
    return check_cases("l2_penalty_and_grad", l2_penalty_and_grad, cases, mistakes, rtol=1e-4,
                       labels=("penalty", "grad"),
                       show=lambda a: f"w {np.round(a[0], 3) if a[0].size <= 6 else a[0].shape}, lam {a[1]}")


def _dropout(x, p, u):
    return x * (u >= p) / (1.0 - p)


def check_inverted_dropout(inverted_dropout, F=None, Tensor=None) -> Verdict:
    """Chapter 09: ``inverted_dropout(x, p, u)`` keeps x where u >= p, times 1 / (1 - p).

    ``F, Tensor``: optionally ``nnlib.functional`` and ``nnlib.Tensor``; the random cases then
    use the uniform numbers that ``F.dropout`` draws and compare with its output too.
    """
    # by hand: keep u >= 0.5 (positions 1 and 2), times 1 / (1 - 0.5) = 2 -> [0, 4, 6, 0]
    args = [(np.array([[1.0, 2.0, 3.0, 4.0]]), 0.5, np.array([[0.1, 0.7, 0.5, 0.3]])),
            (np.array([[1.0, 1.0, 1.0]]), 0.2, np.array([[0.1, 0.2, 0.9]]))]      # -> [0, 1.25, 1.25]
    for shape, p, seed in (((2, 5), 0.5, 0), ((4, 3), 0.2, 1), ((64, 256), 0.9, 2)):
        x = np.random.default_rng(100 + seed).normal(size=shape).astype(np.float32)
        u = np.random.default_rng(seed).random(shape, dtype=np.float32)
        args.append((x, p, u))
    cases = [(a, _dropout(*a)) for a in args]
    if F is not None and Tensor is not None:  # the same numbers as nnlib's dropout: confirm the reference
        for (x, p, u), (_, expected) in zip(args[2:], cases[2:]):
            seed = {(2, 5): 0, (4, 3): 1, (64, 256): 2}[x.shape]
            nnlib_out = F.dropout(Tensor(x), p, training=True, rng=np.random.default_rng(seed)).numpy()
            assert np.allclose(nnlib_out, expected, atol=1e-6), "the check's reference disagrees with F.dropout"
    mistakes = [
        (lambda x, p, u: x * (u > p) / (1.0 - p), "u == p must be kept: the rule is u >= p, not u > p."),
        (lambda x, p, u: x * (u >= p), "the kept values must be scaled by 1 / (1 - p)."),
        (lambda x, p, u: x * (u >= p) / p, "scale by 1 / (1 - p), the share kept, not 1 / p."),
        (lambda x, p, u: x * (u >= p) * (1.0 - p), "divide by (1 - p), don't multiply."),
        (lambda x, p, u: x * (u < p) / (1.0 - p), "the mask is inverted: keep the values where u >= p."),
        (lambda x, p, u: x * (u < p) / p, "the mask is inverted (keep u >= p) and the scale is 1 / (1 - p)."),
    ]
    return check_cases("inverted_dropout", inverted_dropout, cases, mistakes, atol=1e-5,
                       show=lambda a: f"p {a[1]}, x of shape {np.shape(a[0])}")


def _stop(val_losses, patience, strict=True, late=0):
    best, best_epoch = float("inf"), 0
    for epoch, value in enumerate(val_losses):
        if value < best or (not strict and value <= best):
            best, best_epoch = value, epoch
        elif epoch - best_epoch >= patience + late:
            return epoch
    return len(val_losses) - 1


def _stop_first_uptick_counter(val_losses, patience):
    """A counter that is never reset by a new best (counts every epoch without improvement)."""
    best, waited = float("inf"), 0
    for epoch, value in enumerate(val_losses):
        if value < best:
            best = value
        else:
            waited += 1
            if waited >= patience:
                return epoch
    return len(val_losses) - 1


class _Recorder:
    """Stands in for a model: EarlyStopping only sets ``stop_training``."""
    stop_training = False


def _nnlib_stop(val_losses, patience):
    """The expected epoch: nnlib's EarlyStopping driven with the same numbers."""
    from nnlib.callbacks import EarlyStopping
    stopper, model = EarlyStopping(monitor="val_loss", patience=patience), _Recorder()
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch, value in enumerate(val_losses):
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            return epoch
    return len(val_losses) - 1


def check_early_stop_epoch(early_stop_epoch, val_losses=None) -> Verdict:
    """Chapter 09: ``early_stop_epoch(val_losses, patience)``: the epoch after which EarlyStopping stops.

    ``val_losses``: optionally a real validation curve for a last case (patience 10).
    """
    # by hand: best 0.9 at epoch 1; epochs 2, 3 do not beat it; patience 2 -> stop after epoch 3
    args = [([1.0, 0.9, 0.95, 0.96, 0.97], 2),
            ([1.0, 0.9, 0.95, 0.85, 0.86, 0.87, 0.8], 2),    # new best at 3 resets; 4, 5 -> stop at 5
            ([1.0, 0.9, 0.95, 0.85, 0.86, 0.87, 0.8], 3),    # never 3 in a row -> the last epoch, 6
            ([0.5, 0.4, 0.3, 0.2], 1),                       # always improving -> 3
            ([0.5, 0.5, 0.5, 0.5], 2)]                       # equal is not better -> 2
    if val_losses is not None:
        args.append((list(val_losses), 10))
    cases = [(a, _nnlib_stop(*a)) for a in args]
    mistakes = [
        (lambda v, p: _stop(v, p, strict=False), "an equal loss is not an improvement: a new best must be strictly lower."),
        (lambda v, p: _stop(v, p, late=1), "off by one: training stops `patience` epochs after the best, not one later."),
        (lambda v, p: _stop(v, p, late=-1), "off by one: training stops one epoch too early."),
        (_stop_first_uptick_counter, "a new best must reset the count of epochs without improvement."),
        (lambda v, p: _stop(v, p) + 1, "return the epoch counted from 0, not the number of epochs run."),
        (lambda v, p: int(np.argmin(v)), "that is the best epoch; return the epoch after which training stops."),
    ]
    return check_cases("early_stop_epoch", early_stop_epoch, cases, mistakes,
                       show=lambda a: f"val_losses {a[0] if len(a[0]) <= 7 else f'({len(a[0])} epochs)'}, "
                                      f"patience {a[1]}")


def check_add_noise(add_noise, X_real=None) -> Verdict:
    """Chapter 09: ``add_noise(X, sigma, rng)`` = X + sigma * rng.standard_normal(X.shape), in X's dtype."""
    def expected(X, sigma, seed):
        return (X + sigma * np.random.default_rng(seed).standard_normal(X.shape)).astype(X.dtype)

    inputs = [(np.ones((2, 2)), 0.0, 0),                          # by hand: sigma 0 adds nothing
              (np.zeros((2, 3), dtype=np.float32), 1.0, 0),       # zeros + 1 * noise = the noise itself
              (np.full((2, 2), 5.0), 0.5, 3),
              (np.arange(6.0).reshape(3, 2), 0.1, 2)]
    if X_real is not None:
        inputs.append((np.asarray(X_real), 0.3, 1))
    # each case gets a fresh generator: the learner's function may draw from it
    cases = [(_Fresh(X, s, seed), expected(X, s, seed)) for X, s, seed in inputs]

    mistakes = [
        (lambda X, s, rng: X + s ** 2 * rng.standard_normal(X.shape),
         "sigma is the standard deviation: multiply the noise by sigma, not sigma**2."),
        (lambda X, s, rng: X + np.sqrt(s) * rng.standard_normal(X.shape),
         "multiply the noise by sigma, not sqrt(sigma)."),
        (lambda X, s, rng: X * (1 + s * rng.standard_normal(X.shape)),
         "the noise is added (X + noise), not multiplied."),
        (lambda X, s, rng: X + s * rng.random(X.shape),
         "that is uniform noise; draw Gaussian noise with rng.standard_normal(X.shape)."),
        (lambda X, s, rng: X - s * rng.standard_normal(X.shape), "add the noise: X + sigma * noise."),
    ]
    try:  # the same seed twice must give the same noise, or the function ignores `rng`
        first, second = (add_noise(np.zeros((2, 3)), 1.0, np.random.default_rng(0)) for _ in range(2))
        if not np.array_equal(np.asarray(first), np.asarray(second)):
            print("❌ add_noise: two calls with generators of the same seed gave different noise: draw from the "
                  "`rng` argument (rng.standard_normal), not from np.random.")
            return Verdict(False)
    except Exception:
        pass  # not attempted, or it raises: the cases below say so
    return _check_cases_fresh("add_noise", add_noise, cases, mistakes)


class _Fresh(tuple):
    """A case's arguments (X, sigma, seed) that hand out a fresh ``default_rng(seed)`` each time."""

    def __new__(cls, X, sigma, seed):
        return super().__new__(cls, (X, sigma, seed))

    def __deepcopy__(self, memo):
        X, sigma, seed = self
        return (X.copy(), sigma, np.random.default_rng(seed))

    def __repr__(self):
        X, sigma, seed = self
        return f"(X of shape {X.shape} {X.dtype}, sigma {sigma}, rng seed {seed})"


def _ready(triple):
    """(X, sigma, rng): a _Fresh is turned into a copy with a new generator; a copy is used as it is."""
    return copy.deepcopy(triple) if isinstance(triple, _Fresh) else triple


def _check_cases_fresh(name, fn, cases, mistakes) -> Verdict:
    """``check_cases`` where each case is one ``_Fresh`` argument: every copy of it is a new
    ``(X, sigma, rng)`` with its own generator, so the learner's function, the known wrong
    answers and the final verdict all draw the same numbers."""
    wrapped = [((fresh,), expected) for fresh, expected in cases]
    wrapped_mistakes = [(lambda triple, f=f: f(*_ready(triple)), message) for f, message in mistakes]
    return check_cases(name, lambda triple: fn(*_ready(triple)), wrapped, wrapped_mistakes, dtype=True,
                       show=lambda a: f"X of shape {a[0][0].shape} {a[0][0].dtype}, sigma {a[0][1]}")
