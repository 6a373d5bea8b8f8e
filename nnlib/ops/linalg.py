"""Chapter 03: the matrix product (矩阵乘法), the operation that does most of a network's work."""
from __future__ import annotations

import numpy as np

from ..engine import Tensor, as_tensor

__all__ = ["matmul"]


def matmul(a, b) -> Tensor:
    """Chapter 03: matrix product with NumPy's broadcasting rules for stacks of matrices.

    A stack ``(..., m, k)`` times a matrix ``(k, n)`` is folded into one 2-D
    product, which BLAS runs much faster than a loop of small ones.
    """
    a, b = as_tensor(a), as_tensor(b)
    x, w = a.data, b.data
    if x.ndim == 0 or w.ndim == 0:
        raise ValueError("matmul: both operands need at least one dimension (use * for scalars)")
    if x.shape[-1] != (w.shape[0] if w.ndim == 1 else w.shape[-2]):
        raise ValueError(
            f"matmul: shapes {x.shape} and {w.shape} do not line up: the last dimension of the left "
            f"({x.shape[-1]}) must equal the {'only' if w.ndim == 1 else 'second-to-last'} dimension "
            f"of the right ({w.shape[0] if w.ndim == 1 else w.shape[-2]})"
        )
    if x.ndim > 2 and w.ndim == 2:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1])
        out = (x2 @ w).reshape(lead + (w.shape[1],))

        def backward(g):
            g2 = g.reshape(-1, g.shape[-1])
            ga = (g2 @ w.T).reshape(x.shape) if a.requires_grad else None
            gb = x2.T @ g2 if b.requires_grad else None
            return ga, gb
        return Tensor.from_op(out, (a, b), backward)

    out = x @ w

    def backward(g):
        if x.ndim == 1 and w.ndim == 1:
            return g * w, g * x
        if x.ndim == 1:
            ga = (g[..., None, :] @ np.swapaxes(w, -1, -2))[..., 0, :] if a.requires_grad else None
            gb = x[:, None] * g[..., None, :] if b.requires_grad else None
            return ga, gb
        if w.ndim == 1:
            ga = g[..., :, None] * w if a.requires_grad else None
            gb = (np.swapaxes(x, -1, -2) @ g[..., None])[..., 0] if b.requires_grad else None
            return ga, gb
        ga = g @ np.swapaxes(w, -1, -2) if a.requires_grad else None
        gb = np.swapaxes(x, -1, -2) @ g if b.requires_grad else None
        return ga, gb
    return Tensor.from_op(np.asarray(out), (a, b), backward)
