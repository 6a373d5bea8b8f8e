"""Chapters 01-03: activation functions (激活函数), softmax, dropout, and the losses.

Each function takes a :class:`~nnlib.Tensor` (or anything array-like) and
returns a Tensor whose backward pass is written out by hand, fused where that
is faster or more stable than composing smaller operations. The losses live in
:mod:`nnlib.losses` and are re-exported here, so ``nnlib.functional`` is the one
place to look, as ``torch.nn.functional`` is.
"""
from __future__ import annotations

import math

import numpy as np

from .losses import (  # noqa: F401  (re-exported)
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
)
from .attention import embedding, layer_norm, scaled_dot_product_attention  # noqa: F401  (chapter 11)
from .random import dropout_mask
from .tensor import Tensor, _operand

__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "dropout", "linear",
    "embedding", "layer_norm", "scaled_dot_product_attention",
    "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
]

_GELU_C = math.sqrt(2.0 / math.pi)


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(_operand(x))


def relu(x) -> Tensor:
    """Chapter 01: ReLU, max(0, x); its derivative is 1 for x > 0 and 0 otherwise."""
    return _tensor(x).relu()


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """Chapter 01: x for x > 0, ``negative_slope * x`` otherwise."""
    x = _tensor(x)
    data = x.data
    slope = float(negative_slope)
    positive = data > 0
    out = np.where(positive, data, data * slope)
    return Tensor.from_op(out, (x,), lambda g: (np.where(positive, g, g * slope),))


def sigmoid(x) -> Tensor:
    """Chapter 01: the logistic function 1 / (1 + e^-x), stable for any x (±1,000 included)."""
    return _tensor(x).sigmoid()


def tanh(x) -> Tensor:
    """Chapter 01: hyperbolic tangent; derivative 1 - tanh(x)^2."""
    return _tensor(x).tanh()


def gelu(x) -> Tensor:
    """Chapter 01: GELU in its tanh form (GPT-2's), as ``torch.nn.functional.gelu(approximate='tanh')``.

    gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    """
    x = _tensor(x)
    d = x.data
    d2 = d * d
    inner = _GELU_C * (d + 0.044715 * d2 * d)
    t = np.tanh(inner)
    out = 0.5 * d * (1.0 + t)

    def backward(g):
        dinner = _GELU_C * (1.0 + 3.0 * 0.044715 * d2)
        return (g * (0.5 * (1.0 + t) + 0.5 * d * (1.0 - t * t) * dinner),)
    return Tensor.from_op(out, (x,), backward)


def softmax(x, axis: int = -1) -> Tensor:
    """Chapter 02: softmax along ``axis``, shifted by the maximum so it never overflows."""
    x = _tensor(x)
    shifted = x.data - x.data.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    out = e / e.sum(axis=axis, keepdims=True)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)
    return Tensor.from_op(out, (x,), backward)


def log_softmax(x, axis: int = -1) -> Tensor:
    """Chapter 02: log(softmax(x)) computed with the log-sum-exp trick."""
    x = _tensor(x)
    shifted = x.data - x.data.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g):
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)
    return Tensor.from_op(out, (x,), backward)


def dropout(x, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Chapter 09: inverted dropout: zero each value with probability ``p``, scale the rest by 1/(1-p).

    Does nothing when ``training`` is False or ``p`` is 0. ``rng`` defaults to
    nnlib's global generator (seed it with :func:`nnlib.manual_seed`).
    """
    x = _tensor(x)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    mask = dropout_mask(x.shape, p, x.dtype, rng)
    return Tensor.from_op(x.data * mask, (x,), lambda g: (g * mask,))


def linear(x, weight, bias=None) -> Tensor:
    """Chapter 06: ``x @ weight + bias`` with weight of shape (in, out) (Keras layout)."""
    out = _tensor(x) @ weight
    return out + bias if bias is not None else out
