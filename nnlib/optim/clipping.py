"""Chapter 12: gradient clipping (梯度裁剪), as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``.

A rare batch can give a huge gradient that throws a language model far off its
path. Clipping by the global norm scales *all* gradients by the same factor, so
the direction of the update is kept and only its length is capped.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["clip_grad_norm", "clip_grad_value"]


def _grads(params) -> list:
    if hasattr(params, "grad"):  # a single parameter
        params = [params]
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm(params, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Chapter 12: scale the gradients of ``params`` in place so their global norm is at most ``max_norm``.

    The norm is taken over all gradients together (``norm_type`` 2 by default, or
    ``float('inf')`` for the largest absolute value). When it exceeds ``max_norm`` every
    gradient is multiplied by ``max_norm / (norm + 1e-6)``, PyTorch's rule. Returns the
    norm before clipping. A NaN or infinite norm raises ``FloatingPointError`` when
    ``error_if_nonfinite`` is set (as PyTorch); otherwise the gradients are left as they are.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm >= 0.0:
        raise ValueError(f"clip_grad_norm: max_norm must be >= 0, got {max_norm}")
    if not norm_type > 0.0:
        raise ValueError(f"clip_grad_norm: norm_type must be positive (2.0, 1.0, inf ...), got {norm_type}")
    grads = _grads(params)
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.vdot(g.ravel(), g.ravel())) for g in grads))
    else:
        total = sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise FloatingPointError(
                f"clip_grad_norm: the total gradient norm is {total}; a loss or gradient became NaN or "
                f"infinite (lower the learning rate, or check the inputs of this batch)")
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


def clip_grad_value(params, clip_value: float) -> None:
    """Chapter 12: clamp every gradient element of ``params`` to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    if not clip_value >= 0.0:
        raise ValueError(f"clip_grad_value: clip_value must be >= 0, got {clip_value}")
    for g in _grads(params):
        np.clip(g, -clip_value, clip_value, out=g)
