"""Chapter 17: the exercise checks of "Trustworthy models" (interpretability, privacy, compression).

Each check prints one line and never raises. When a wrong answer matches a mistake
learners often make, the line names that mistake instead of only showing numbers.
"""

from __future__ import annotations


import numpy as np

from ..checks import Verdict, check_cases
from ..privacy import membership_advantage
from ..engine import Tensor

__all__ = ["check_ig_riemann", "check_clip_each", "check_membership_advantage", "check_prune_smallest"]


def _case_args(case) -> tuple:
    args = case[0] if isinstance(case, tuple) and len(case) == 2 and isinstance(case[0], tuple) else case
    return args if isinstance(args, tuple) else (args,)


def _changes_its_input(fn, cases):
    """The position of the first array argument that ``fn`` modifies in place, else None."""
    for case in cases:
        args = _case_args(case)
        copies = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
        try:
            fn(*copies)
        except Exception:     # a stub or a crash: check_function reports it
            return None
        for k, (a, c) in enumerate(zip(args, copies)):
            if isinstance(a, np.ndarray) and not np.array_equal(a, c):
                return k
    return None


def _with_diagnoses(name, fn, cases, diagnoses, inputs=None, **options) -> Verdict:
    """``check_cases`` (a known mistake is named), after refusing an answer that edits its input.

    ``diagnoses``: (wrong_fn, hint) pairs; ``wrong_fn(*args)`` is what that mistake returns.
    ``inputs``: the argument names; when given, an answer that changes an input array in
    place fails with a line saying so (every case runs on copies).
    """
    if inputs is not None and callable(fn):
        changed = _changes_its_input(fn, cases)
        if changed is not None:
            arg = inputs[changed]
            print(f"❌ {name}: you changed the input `{arg}` in place; work on a copy "
                  f"(e.g. {arg} = np.array({arg}, dtype=float)) and return that.")
            return Verdict(False)
    return check_cases(name, fn, cases, diagnoses, cite_case=False, **options)


# --------------------------------------------------------------------------- exercise 1
def _linear_model(w):
    weight = Tensor(np.asarray(w, dtype=np.float64).reshape(-1, 1))
    return lambda t: t @ weight


def _ig_reference(model, x, target, steps):
    from ..interpret import integrated_gradients
    return integrated_gradients(model, x, target=target, steps=steps, method="riemann_middle")


def check_ig_riemann(ig_riemann, model, x, target) -> Verdict:
    """Chapter 17: ``ig_riemann(model, x, target, steps)``: integrated gradients from a zero baseline,
    midpoint rule, checked against ``nnlib.interpret.integrated_gradients(method="riemann_middle")``."""
    from ..interpret import saliency

    lin = _linear_model([2.0, -1.0, 0.5])
    small = np.array([[1.0, 2.0, 4.0]])
    cases = [((lin, small, 0, 4), np.array([[2.0, -2.0, 2.0]])),        # linear: IG = x * w exactly
             ((model, np.asarray(x), target, 8), _ig_reference(model, np.asarray(x), target, 8))]

    def mean_gradient_only(m, xx, t, steps):
        alphas = (np.arange(steps) + 0.5) / steps
        return np.mean([saliency(m, a * xx, target=t, absolute=False) for a in alphas], axis=0)

    def left_rule(m, xx, t, steps):
        alphas = np.arange(steps) / steps
        return xx * np.mean([saliency(m, a * xx, target=t, absolute=False) for a in alphas], axis=0)

    def summed(m, xx, t, steps):
        return steps * _ig_reference(m, xx, t, steps)

    def gradient_at_x(m, xx, t, steps):
        return xx * saliency(m, xx, target=t, absolute=False)

    def absolute_gradients(m, xx, t, steps):
        alphas = (np.arange(steps) + 0.5) / steps
        return xx * np.mean([saliency(m, a * xx, target=t) for a in alphas], axis=0)

    return _with_diagnoses("ig_riemann", ig_riemann, cases, [
        (mean_gradient_only, "you return the average gradient; multiply it by (x - baseline) = x."),
        (summed, "you add up the gradients of the steps; average them (divide by steps)."),
        (left_rule, "your points are a = k/steps (the left rule); the midpoint rule uses a = (k + 0.5)/steps."),
        (gradient_at_x, "that is input x gradient at x only; integrate the gradient along the path from 0 to x."),
        (absolute_gradients, "saliency(...) returns |gradient| by default; pass absolute=False for the signed gradient."),
    ], atol=1e-6, rtol=1e-4)


# --------------------------------------------------------------------------- exercise 2
def _clip_reference(grads, max_norm):
    grads = np.asarray(grads, dtype=np.float64)
    norms = np.linalg.norm(grads, axis=1, keepdims=True)
    return grads * np.minimum(1.0, max_norm / np.maximum(norms, 1e-12))


def check_clip_each(clip_each) -> Verdict:
    """Chapter 17: ``clip_each(grads, max_norm)``: each ROW (one example's gradient) scaled to norm <= max_norm."""
    rng = np.random.default_rng(17)
    big = rng.normal(size=(6, 5)) * np.array([[0.1], [3.0], [0.5], [7.0], [0.02], [1.5]])
    cases = [((np.array([[3.0, 4.0], [0.3, 0.4]]), 1.0), np.array([[0.6, 0.8], [0.3, 0.4]])),
             ((big, 1.0), _clip_reference(big, 1.0))]

    def whole_batch(g, c):
        g = np.asarray(g, dtype=np.float64)
        return g * min(1.0, c / np.linalg.norm(g))

    def always_to_norm(g, c):
        g = np.asarray(g, dtype=np.float64)
        return c * g / np.linalg.norm(g, axis=1, keepdims=True)

    def per_coordinate(g, c):
        return np.clip(np.asarray(g, dtype=np.float64), -c, c)

    def per_column(g, c):
        g = np.asarray(g, dtype=np.float64)
        return g * np.minimum(1.0, c / np.linalg.norm(g, axis=0, keepdims=True))

    return _with_diagnoses("clip_each", clip_each, cases, [
        (whole_batch, "you clip the whole batch's norm; clip each example (each row) on its own."),
        (always_to_norm, "you scale every row to norm max_norm; rows already inside (norm <= max_norm) stay as they are."),
        (per_coordinate, "you clip each coordinate to [-max_norm, max_norm]; clip the row's L2 norm instead."),
        (per_column, "you clip columns; one example's gradient is a row."),
    ], inputs=("grads", "max_norm"))


# --------------------------------------------------------------------------- exercise 3
def check_membership_advantage(answer) -> Verdict:
    """Chapter 17: ``membership_advantage(member_losses, other_losses)`` = max over thresholds t of
    P(member loss <= t) - P(other loss <= t); the reference is ``nnlib.privacy.membership_advantage``."""
    rng = np.random.default_rng(3)
    a, b = rng.exponential(0.3, 40), rng.exponential(0.6, 50)
    cases = [(([0.1, 0.2], [0.3, 0.4]), 1.0),
             (([0.1, 0.5], [0.3, 0.6]), 0.5),
             (([1.0, 2.0], [1.0, 2.0]), 0.0),
             (([0.3, 0.4], [0.1, 0.2]), 0.0),          # members have the HIGHER losses: no advantage
             ((list(a), list(b)), membership_advantage(a, b))]

    def accuracy_at_median(m, o):
        m, o = np.asarray(m, float), np.asarray(o, float)
        t = np.median(np.concatenate([m, o]))
        return float(((m <= t).sum() + (o > t).sum()) / (len(m) + len(o)))

    def members_above(m, o):
        return membership_advantage(-np.asarray(m, float), -np.asarray(o, float))

    def absolute_gap(m, o):
        m, o = np.asarray(m, float), np.asarray(o, float)
        t = np.concatenate([[-np.inf], np.unique(np.concatenate([m, o]))])
        return float(np.max(np.abs((m[None] <= t[:, None]).mean(1) - (o[None] <= t[:, None]).mean(1))))

    return _with_diagnoses("membership_advantage", answer, cases, [
        (members_above, "you guess 'member' for HIGH losses; training examples have low losses (loss <= t)."),
        (accuracy_at_median, "that is the attack's accuracy at one threshold; the advantage is max over t of TPR - FPR."),
        (absolute_gap, "don't take |TPR - FPR|: the attack says 'member' for LOW losses, so members "
                       "with higher losses give it no advantage (0)."),
    ], atol=1e-9)


# --------------------------------------------------------------------------- exercise 4
def _prune_reference(w, amount):
    w = np.asarray(w, dtype=np.float64)
    k = int(round(amount * w.size))
    out = w.copy().ravel()
    out[np.argsort(np.abs(w).ravel(), kind="stable")[:k]] = 0
    return out.reshape(w.shape)


def check_prune_smallest(prune_smallest) -> Verdict:
    """Chapter 17: ``prune_smallest(w, amount)``: zero the round(amount * w.size) weights of smallest |w|."""
    w = np.random.default_rng(5).normal(size=(4, 6))
    cases = [((np.array([[1.0, -3.0], [0.5, 2.0]]), 0.5), np.array([[0.0, -3.0], [0.0, 2.0]])),
             ((w, 0.3), _prune_reference(w, 0.3)),
             ((w, 0.9), _prune_reference(w, 0.9)),          # 0.9 * 24 = 21.6: round to 22 weights
             ((w, 0.0), w.copy())]

    def by_signed_value(w, amount):
        w = np.asarray(w, dtype=np.float64)
        k = int(round(amount * w.size))
        out = w.copy().ravel()
        out[np.argsort(w.ravel(), kind="stable")[:k]] = 0
        return out.reshape(w.shape)

    def keeps_amount(w, amount):
        return _prune_reference(w, 1 - amount)

    def per_row(w, amount):
        return np.stack([_prune_reference(row, amount) for row in np.asarray(w, dtype=np.float64)])

    def rounds_down(w, amount):
        w = np.asarray(w, dtype=np.float64)
        out = w.copy().ravel()
        out[np.argsort(np.abs(w).ravel(), kind="stable")[:int(amount * w.size)]] = 0
        return out.reshape(w.shape)

    return _with_diagnoses("prune_smallest", prune_smallest, cases, [
        (by_signed_value, "you removed the most negative weights; rank by magnitude |w|."),
        (keeps_amount, "amount is the fraction to REMOVE, not the fraction to keep."),
        (per_row, "you prune each row separately; rank all the weights of the array together."),
        (rounds_down, "prune round(amount * w.size) weights; int() rounds down (0.9 * 24 = 21.6 -> 22, not 21)."),
    ], inputs=("w", "amount"))
