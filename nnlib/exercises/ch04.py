"""Chapter 04: the checks of the optimizers chapter's exercises.

Each optimizer exercise is a step function ``step(w, g, state, lr, ...)``; its check runs
it along a whole path (a constant slope for 3 steps, verifiable by hand, then the
quadratic and Rosenbrock landscapes for 50 steps) and compares every point with
nnlib's optimizer (``nnlib.optim``). ``check_warmup_cosine`` compares a schedule with
``optim.lr_at``. Each prints one verdict line and returns a Verdict.
"""

from __future__ import annotations

import numpy as np

from nnlib.checks import Verdict, check_function

__all__ = ["check_momentum_step", "check_rmsprop_step", "check_adam_step", "check_adamw_step",
           "check_warmup_cosine"]

_STEPS = "step {0}, w[{1}]"


def _slope_grad(w):
    return np.array([1.0, -2.0])


def _quadratic_grad(w):
    return np.array([w[0], 25.0 * w[1]])


def _rosenbrock_grad(w):
    x, y = w
    return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])


#: surface -> (gradient, start, steps); "slope" is the small hand-made case.
_SURFACES = {
    "slope": (_slope_grad, (0.0, 0.0), 3),
    "quadratic": (_quadratic_grad, (-4.0, 1.0), 50),
    "rosenbrock": (_rosenbrock_grad, (-1.5, 2.0), 50),
}


def hand_path(step_fn, surface, **hp):
    """Chapter 04: the points (steps + 1, 2) a hand-written ``step_fn`` visits on ``surface``."""
    grad_fn, start, steps = _SURFACES[surface]
    w, state = np.array(start, dtype=np.float64), {}
    path = [w]
    for _ in range(steps):
        w = step_fn(w, grad_fn(w), state, **hp)
        path.append(np.array(w, dtype=np.float64))
    return np.array(path)


def nnlib_path(opt_name, surface, **hp):
    """Chapter 04: the points nnlib's optimizer ``opt_name`` visits on ``surface`` (the reference)."""
    import nnlib
    from nnlib import optim

    grad_fn, start, steps = _SURFACES[surface]
    p = nnlib.Parameter(np.array(start, dtype=np.float64))
    opt = getattr(optim, opt_name)([p], **hp)
    path = [p.data.copy()]
    for _ in range(steps):
        p.grad = grad_fn(p.data)
        opt.step()
        path.append(p.data.copy())
    return np.array(path)


def _path_check(name, step_fn, hand_case, cases, opt_name, to_optim):
    """check_function over paths: the hand case's expected path is given, the others come from nnlib."""
    def run(surface, **hp):
        return hand_path(step_fn, surface, **hp)

    pairs = []
    surface, hp, expected = hand_case
    pairs.append(({"surface": surface, **hp}, np.array(expected, dtype=np.float64)))
    for surface, hp in cases:
        pairs.append(({"surface": surface, **hp}, nnlib_path(opt_name, surface, **to_optim(hp))))
    return check_function(name, run, pairs, atol=1e-10, rtol=1e-8, index_format=_STEPS)


def check_momentum_step(momentum_step) -> Verdict:
    """Chapter 04: ``momentum_step(w, g, state, lr, momentum, nesterov)``, PyTorch's SGD with momentum.

    By hand, g = (1, -2), lr 0.1, momentum 0.9: b = g, 1.9 g, 2.71 g, so w = -0.1 g, -0.29 g, -0.561 g.
    """
    return _path_check("momentum_step", momentum_step,
                       ("slope", dict(lr=0.1, momentum=0.9, nesterov=False),
                        [[0, 0], [-0.1, 0.2], [-0.29, 0.58], [-0.561, 1.122]]),
                       [("quadratic", dict(lr=0.02, momentum=0.9, nesterov=False)),
                        ("rosenbrock", dict(lr=1e-3, momentum=0.9, nesterov=False)),
                        ("quadratic", dict(lr=0.02, momentum=0.8, nesterov=True)),
                        ("rosenbrock", dict(lr=1e-3, momentum=0.9, nesterov=True))],
                       "SGD", dict)


def check_rmsprop_step(rmsprop_step) -> Verdict:
    """Chapter 04: ``rmsprop_step(w, g, state, lr, alpha, eps)``, PyTorch's RMSprop (eps outside the root).

    By hand, lr 0.01, alpha 0.99: v_1 = 0.01 g^2, so the first step is lr / 0.1 = 0.1 per coordinate.
    """
    def hand_rmsprop():
        g, w, v, path = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2), [np.zeros(2)]
        for _ in range(3):
            v = 0.99 * v + 0.01 * g * g
            w = w - 0.01 * g / (np.sqrt(v) + 1e-8)
            path.append(w)
        return np.array(path)

    return _path_check("rmsprop_step", rmsprop_step, ("slope", dict(lr=0.01, alpha=0.99), hand_rmsprop()),
                       [("quadratic", dict(lr=0.05, alpha=0.99)), ("rosenbrock", dict(lr=0.01, alpha=0.99)),
                        ("rosenbrock", dict(lr=0.01, alpha=0.9))], "RMSprop", dict)


def _adam_hp(hp):
    hp = dict(hp)
    hp["betas"] = (hp.pop("beta1"), hp.pop("beta2"))
    return hp


def check_adam_step(adam_step) -> Verdict:
    """Chapter 04: ``adam_step(w, g, state, lr, beta1, beta2, eps)``, Adam with bias correction.

    By hand, a constant gradient: m_hat = g and v_hat = g^2 exactly, so each step is lr * sign(g).
    """
    return _path_check("adam_step", adam_step,
                       ("slope", dict(lr=0.1, beta1=0.9, beta2=0.999),
                        [[0, 0], [-0.1, 0.1], [-0.2, 0.2], [-0.3, 0.3]]),
                       [("quadratic", dict(lr=0.1, beta1=0.9, beta2=0.999)),
                        ("rosenbrock", dict(lr=0.05, beta1=0.9, beta2=0.999)),
                        ("rosenbrock", dict(lr=0.01, beta1=0.5, beta2=0.9))], "Adam", _adam_hp)


def check_adamw_step(adamw_step) -> Verdict:
    """Chapter 04: ``adamw_step(w, g, state, lr, ..., weight_decay)``: decay w by (1 - lr wd), then an Adam step.

    By hand, lr 0.1, weight_decay 0.01: w <- 0.999 w, then the Adam step of -0.1 sign(g).
    """
    return _path_check("adamw_step", adamw_step,
                       ("slope", dict(lr=0.1, weight_decay=0.01),
                        [[0, 0], [-0.1, 0.1], [-0.1999, 0.1999], [-0.2997001, 0.2997001]]),
                       [("quadratic", dict(lr=0.1, weight_decay=0.01)),
                        ("rosenbrock", dict(lr=0.05, weight_decay=0.1)),
                        ("rosenbrock", dict(lr=0.05, weight_decay=0.0))], "AdamW", dict)


def check_warmup_cosine(warmup_cosine) -> Verdict:
    """Chapter 04: ``warmup_cosine(step, base_lr, warmup_steps, total_steps, start_factor, eta_min)``.

    By hand, base_lr 0.1, 10 warmup steps from 1/3: step 0 gives 0.1 / 3, step 5 gives 0.1 * 2/3,
    step 10 the full 0.1; after total_steps, eta_min.
    """
    from nnlib import optim

    def reference(step, base_lr, warmup_steps, total_steps, start_factor=1 / 3, eta_min=0.0):
        return optim.lr_at("warmup_cosine", step, base_lr, warmup_steps=warmup_steps, total_steps=total_steps,
                           start_factor=start_factor, eta_min=eta_min)

    return check_function("warmup_cosine", warmup_cosine, [
        (0, 0.1, 10, 100), (5, 0.1, 10, 100), (10, 0.1, 10, 100), (55, 0.1, 10, 100),
        (99, 0.1, 10, 100), (150, 0.1, 10, 100),
        dict(step=3, base_lr=1e-3, warmup_steps=4, total_steps=20, start_factor=0.0, eta_min=1e-5),
        dict(step=12, base_lr=1e-3, warmup_steps=4, total_steps=20, start_factor=0.0, eta_min=1e-5),
    ], reference=reference, atol=1e-12)
