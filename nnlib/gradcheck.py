"""Chapter 03: gradient checking (梯度检验) with central differences.

The analytic gradient from backpropagation is compared with
(f(x + h) - f(x - h)) / 2h on a random sample of indices of each input, which
is enough to catch a wrong backward formula while staying fast.
"""
from __future__ import annotations

import numpy as np

from .engine import Tensor, no_grad

__all__ = ["numerical_grad", "gradcheck"]


def _scalar(fn, inputs) -> float:
    with no_grad():
        out = fn(*inputs)
    data = out.data if isinstance(out, Tensor) else np.asarray(out)
    return float(np.sum(data))


def numerical_grad(fn, inputs, index_of_input: int, flat_index: int, eps: float = 1e-6) -> float:
    """Chapter 03: d sum(fn(*inputs)) / d inputs[i].flat[j] by central differences."""
    x = inputs[index_of_input].data
    original = x.flat[flat_index]
    x.flat[flat_index] = original + eps
    plus = _scalar(fn, inputs)
    x.flat[flat_index] = original - eps
    minus = _scalar(fn, inputs)
    x.flat[flat_index] = original
    return (plus - minus) / (2.0 * eps)


def gradcheck(fn, inputs, samples: int = 20, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0, raise_on_failure: bool = True) -> bool:
    """Chapter 03: check the backward pass of ``fn`` against central differences.

    ``inputs`` are Tensors (use float64 for a meaningful check); those with
    ``requires_grad=True`` are checked at up to ``samples`` random indices each.
    The output is reduced with ``sum`` before differentiating. Returns True, or
    raises (or returns False) naming the input, the index and both values.
    """
    inputs = list(inputs)
    for t in inputs:
        if t.requires_grad and t.dtype != np.float64:
            raise TypeError(
                f"gradcheck needs float64 inputs (central differences are too coarse in {t.dtype}); "
                "create them with dtype=np.float64"
            )
        t.grad = None
    out = fn(*inputs)
    out.sum().backward()
    rng = np.random.default_rng(seed)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            continue
        analytic = np.zeros_like(t.data) if t.grad is None else t.grad
        picks = rng.choice(t.size, size=min(samples, t.size), replace=False) if t.size else []
        for j in picks:
            numeric = numerical_grad(fn, inputs, i, int(j), eps)
            got = float(analytic.flat[j])
            if not abs(got - numeric) <= atol + rtol * abs(numeric):
                message = (
                    f"gradcheck failed for input {i} (shape {t.shape}) at index "
                    f"{tuple(int(k) for k in np.unravel_index(int(j), t.shape))}: backprop gives {got:.6g}, "
                    f"central differences give {numeric:.6g}"
                )
                if raise_on_failure:
                    raise AssertionError(message)
                return False
    return True
