"""Chapter 04: learning-rate schedules -- step decay, exponential decay, cosine annealing, warmup.

Two ways to use them:

* pure functions of the step number, for plotting a curve without any optimizer:
  ``lr_at("cosine", step, base_lr=0.1, T_max=100)`` or ``lr_curve("cosine", 100, ...)``;
* scheduler objects that drive an optimizer, with PyTorch's interface
  (``torch.optim.lr_scheduler``): create one after the optimizer, call
  ``scheduler.step()`` once per epoch (or per batch) after ``optimizer.step()``, and read
  ``scheduler.get_last_lr()``.

The schedulers compute the learning rate in closed form from each group's starting
learning rate (``group["initial_lr"]``) and write it into ``group["lr"]``; the values equal
PyTorch's schedulers of the same name (the tests check 100 steps).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

__all__ = [
    "LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearWarmup", "LambdaLR",
    "WarmupCosineLR", "warmup_cosine",
    "step_lr", "exponential_lr", "cosine_annealing_lr", "linear_warmup_lr", "warmup_cosine_lr",
    "lr_at", "lr_curve", "SCHEDULES",
]


# --------------------------------------------------------------------------- pure functions
def _check_step(step: int, fn: str) -> int:
    if step < 0:
        raise ValueError(f"{fn}: step must be >= 0, got {step}")
    return int(step)


def step_lr(step: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """Chapter 04: step decay, ``base_lr * gamma ** (step // step_size)`` (torch ``StepLR``)."""
    step = _check_step(step, "step_lr")
    return float(base_lr) * float(gamma) ** (step // int(step_size))


def exponential_lr(step: int, base_lr: float, gamma: float) -> float:
    """Chapter 04: exponential decay, ``base_lr * gamma ** step`` (torch ``ExponentialLR``)."""
    step = _check_step(step, "exponential_lr")
    return float(base_lr) * float(gamma) ** step


def cosine_annealing_lr(step: int, base_lr: float, T_max: int, eta_min: float = 0.0) -> float:
    """Chapter 04: cosine annealing from ``base_lr`` at step 0 to ``eta_min`` at ``T_max``.

    ``eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2``; like torch's
    ``CosineAnnealingLR`` the curve rises again after ``T_max`` (period ``2 * T_max``).
    """
    step = _check_step(step, "cosine_annealing_lr")
    eta_min = float(eta_min)
    return eta_min + (float(base_lr) - eta_min) * (1.0 + math.cos(math.pi * step / T_max)) / 2.0


def linear_warmup_lr(step: int, base_lr: float, warmup_steps: int, start_factor: float = 1.0 / 3.0,
                     end_factor: float = 1.0) -> float:
    """Chapter 04: linear ramp of the factor from ``start_factor`` to ``end_factor`` over
    ``warmup_steps`` steps, constant afterwards (torch ``LinearLR`` with ``total_iters=warmup_steps``)."""
    step = _check_step(step, "linear_warmup_lr")
    frac = min(step, warmup_steps) / warmup_steps if warmup_steps > 0 else 1.0
    return float(base_lr) * (float(start_factor) + (float(end_factor) - float(start_factor)) * frac)


def warmup_cosine_lr(step: int, base_lr: float, warmup_steps: int, total_steps: int,
                     start_factor: float = 1.0 / 3.0, eta_min: float = 0.0) -> float:
    """Chapter 04: linear warmup for ``warmup_steps``, then cosine decay to ``eta_min`` at
    ``total_steps``, then ``eta_min`` for ever (the usual schedule for transformers)."""
    step = _check_step(step, "warmup_cosine_lr")
    if step < warmup_steps:
        return linear_warmup_lr(step, base_lr, warmup_steps, start_factor)
    if step >= total_steps:
        return float(eta_min)
    return cosine_annealing_lr(step - warmup_steps, base_lr, total_steps - warmup_steps, eta_min)


#: names accepted by :func:`lr_at` and :func:`lr_curve`
SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": lambda step, base_lr: float(base_lr),
    "step": step_lr,
    "exponential": exponential_lr,
    "cosine": cosine_annealing_lr,
    "linear_warmup": linear_warmup_lr,
    "warmup_cosine": warmup_cosine_lr,
}


def lr_at(schedule: str, step: int, base_lr: float, **kwargs: Any) -> float:
    """Chapter 04: the learning rate of a named schedule at ``step``.

    ``schedule`` is one of ``'constant', 'step', 'exponential', 'cosine', 'linear_warmup',
    'warmup_cosine'``; ``kwargs`` are that schedule's arguments, e.g.
    ``lr_at('step', 25, 0.1, step_size=10, gamma=0.5) == 0.025``.
    """
    fn = SCHEDULES.get(schedule)
    if fn is None:
        raise ValueError(f"unknown schedule {schedule!r}; valid names are {sorted(SCHEDULES)}")
    try:
        return fn(step, base_lr, **kwargs)
    except TypeError as exc:
        raise TypeError(f"lr_at({schedule!r}, ...): {exc}") from None


def lr_curve(schedule: str, num_steps: int, base_lr: float, **kwargs: Any) -> np.ndarray:
    """Chapter 04: ``lr_at`` for steps ``0 .. num_steps - 1`` as a float64 array, for plotting."""
    return np.array([lr_at(schedule, t, base_lr, **kwargs) for t in range(int(num_steps))])


# --------------------------------------------------------------------------- schedulers
class LRScheduler:
    """Chapter 04: base class of schedulers that set ``group['lr']`` of an optimizer.

    Subclasses implement ``lr_at_step(base_lr, step)``.  Creating a scheduler sets the
    learning rate of step 0; each ``step()`` advances one step.  ``last_epoch`` counts the
    steps taken (the name is PyTorch's).
    """

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(
                f"{type(self).__name__}: expected an optimizer (with .param_groups), got "
                f"{type(optimizer).__name__}"
            )
        if not optimizer.param_groups:
            raise ValueError(f"{type(self).__name__}: the optimizer has no param groups yet")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs "
                        f"'initial_lr' in param group {i} (set by the scheduler that ran before)"
                    )
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = [float(g["lr"]) for g in optimizer.param_groups]
        self.step()

    def lr_at_step(self, base_lr: float, step: int) -> float:
        """Chapter 04: the learning rate at ``step`` for a group that started at ``base_lr``."""
        raise NotImplementedError(f"{type(self).__name__} must implement lr_at_step")

    def get_lr(self) -> list[float]:
        """Chapter 04: the learning rates of the current step, one per param group."""
        return [self.lr_at_step(base, self.last_epoch) for base in self.base_lrs]

    def step(self) -> None:
        """Chapter 04: advance one step and write the new learning rates into the optimizer."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = lrs

    def get_last_lr(self) -> list[float]:
        """Chapter 04: the learning rates set by the last ``step()``, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Chapter 04: everything except the optimizer (and functions), as a plain dict."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
                if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Chapter 04: restore a :meth:`state_dict`."""
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.state_dict().items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class StepLR(LRScheduler):
    """Chapter 04: multiply the learning rate by ``gamma`` every ``step_size`` steps (torch ``StepLR``)."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if int(step_size) < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at_step(self, base_lr: float, step: int) -> float:
        return step_lr(step, base_lr, self.step_size, self.gamma)


class ExponentialLR(LRScheduler):
    """Chapter 04: multiply the learning rate by ``gamma`` every step (torch ``ExponentialLR``)."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at_step(self, base_lr: float, step: int) -> float:
        return exponential_lr(step, base_lr, self.gamma)


class CosineAnnealingLR(LRScheduler):
    """Chapter 04: cosine annealing from the initial lr down to ``eta_min`` over ``T_max`` steps
    (torch ``CosineAnnealingLR``; the curve rises again after ``T_max``)."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at_step(self, base_lr: float, step: int) -> float:
        return cosine_annealing_lr(step, base_lr, self.T_max, self.eta_min)


class LinearWarmup(LRScheduler):
    """Chapter 04: ramp the learning rate linearly from ``start_factor * lr`` to
    ``end_factor * lr`` over ``warmup_steps`` steps, then hold it.

    Equals torch's ``LinearLR(optimizer, start_factor, end_factor, total_iters=warmup_steps)``,
    defaults included; unlike torch, ``start_factor=0`` is allowed.
    """

    def __init__(self, optimizer: Any, warmup_steps: int, start_factor: float = 1.0 / 3.0,
                 end_factor: float = 1.0, last_epoch: int = -1) -> None:
        if not 0.0 <= start_factor <= 1.0 or not 0.0 <= end_factor <= 1.0:
            raise ValueError(
                f"LinearWarmup: start_factor and end_factor must be in [0, 1], got "
                f"{start_factor!r} and {end_factor!r}"
            )
        if warmup_steps < 0:
            raise ValueError(f"LinearWarmup: warmup_steps must be >= 0, got {warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        super().__init__(optimizer, last_epoch)

    def lr_at_step(self, base_lr: float, step: int) -> float:
        return linear_warmup_lr(step, base_lr, self.warmup_steps, self.start_factor, self.end_factor)


class LambdaLR(LRScheduler):
    """Chapter 04: ``lr = initial_lr * lr_lambda(step)`` for any function (torch ``LambdaLR``)."""

    def __init__(self, optimizer: Any, lr_lambda: Callable[[int], float], last_epoch: int = -1) -> None:
        if not callable(lr_lambda):
            raise TypeError(f"LambdaLR: lr_lambda must be a function of the step, got {type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer, last_epoch)

    def lr_at_step(self, base_lr: float, step: int) -> float:
        return base_lr * float(self.lr_lambda(step))


class WarmupCosineLR(LRScheduler):
    """Chapter 04: linear warmup for ``warmup_steps``, cosine decay to ``eta_min`` at
    ``total_steps``, then ``eta_min`` (see :func:`warmup_cosine_lr`).

    Up to ``total_steps`` this equals torch's ``SequentialLR`` of ``LinearLR`` and
    ``CosineAnnealingLR(T_max=total_steps - warmup_steps)`` with milestone ``warmup_steps``.
    """

    def __init__(self, optimizer: Any, warmup_steps: int, total_steps: int, start_factor: float = 1.0 / 3.0,
                 eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"WarmupCosineLR: need 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps!r}, "
                f"total_steps={total_steps!r}"
            )
        if not 0.0 <= start_factor <= 1.0:
            raise ValueError(f"WarmupCosineLR: start_factor must be in [0, 1], got {start_factor!r}")
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.start_factor = float(start_factor)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at_step(self, base_lr: float, step: int) -> float:
        return warmup_cosine_lr(step, base_lr, self.warmup_steps, self.total_steps, self.start_factor,
                                self.eta_min)


def warmup_cosine(optimizer: Any, warmup_steps: int, total_steps: int, start_factor: float = 1.0 / 3.0,
                  eta_min: float = 0.0) -> WarmupCosineLR:
    """Chapter 04: shorthand for ``WarmupCosineLR(optimizer, warmup_steps, total_steps, ...)``."""
    return WarmupCosineLR(optimizer, warmup_steps, total_steps, start_factor=start_factor, eta_min=eta_min)
