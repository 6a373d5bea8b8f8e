"""Chapters 01-03: activation functions (激活函数), softmax, dropout, and the losses.

Each function takes a :class:`~nnlib.Tensor` (or anything array-like) and
returns a Tensor whose backward pass is written out by hand, fused where that
is faster or more stable than composing smaller operations. The losses live in
:mod:`nnlib.losses`, convolution and pooling in :mod:`nnlib.ops.conv` (chapter 16);
both are re-exported here, so ``nnlib.functional`` is the one place to look, as
``torch.nn.functional`` is.
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
    nll_loss,
)
from .attention import embedding, layer_norm, scaled_dot_product_attention  # noqa: F401  (chapter 11)
from .ops.conv import (avg_pool1d, avg_pool2d, conv1d, conv2d, conv_transpose1d, conv_transpose2d, interpolate,  # noqa: F401,E501
                       max_pool1d, max_pool2d)  # (chapter 16)
from .ops import pad, torch_names  # noqa: F401  (pad re-exported, as torch.nn.functional.pad)
from .random import dropout_mask
from .ops.elementwise import erf_array, sigmoid_array
from .engine import Tensor, as_tensor

__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "swish", "elu", "logsigmoid", "hardtanh",
    "relu6", "hardsigmoid", "hardswish", "softplus", "pad", "softmax", "log_softmax", "dropout", "linear",
    "embedding", "layer_norm", "scaled_dot_product_attention",
    "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "nll_loss", "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "interpolate", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
]

#: Chapter 01: GELU's tanh form is 0.5 x (1 + tanh(GELU_TANH_C (x + GELU_TANH_A x^3))). These two
#: constants are the one definition in nnlib: the fused transformer MLP (nnlib.layers.sequence)
#: and the ONNX export (nnlib.export) use them.
GELU_TANH_C = math.sqrt(2.0 / math.pi)
GELU_TANH_A = 0.044715
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_ONE_SIXTH = float(np.float32(1.0 / 6.0))  # torch's hardsigmoid backward uses 1/6 rounded to float32


def relu(x) -> Tensor:
    """Chapter 01: ReLU, max(0, x); its derivative is 1 for x > 0 and 0 otherwise."""
    return as_tensor(x).relu()


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """Chapter 01: x for x > 0, ``negative_slope * x`` otherwise."""
    x = as_tensor(x)
    data = x.data
    slope = float(negative_slope)
    positive = data > 0
    out = np.where(positive, data, data * slope)
    return Tensor.from_op(out, (x,), lambda g: (np.where(positive, g, g * slope),))


def sigmoid(x) -> Tensor:
    """Chapter 01: the logistic function 1 / (1 + e^-x), stable for any x (±1,000 included)."""
    return as_tensor(x).sigmoid()


def tanh(x) -> Tensor:
    """Chapter 01: hyperbolic tangent; derivative 1 - tanh(x)^2."""
    return as_tensor(x).tanh()


def gelu(x, approximate: str = "none") -> Tensor:
    """Chapter 01: GELU (Gaussian error linear unit), x * Phi(x) with Phi the normal CDF.

    ``approximate="none"`` (the default, as in torch and Keras): the exact
    0.5 x (1 + erf(x / sqrt(2))), ``torch.nn.functional.gelu(x)``.
    ``approximate="tanh"``: GPT-2's form (``gelu_new``), used by nnlib's transformer block,
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (:data:`GELU_TANH_C`, :data:`GELU_TANH_A`), as
    ``torch.nn.functional.gelu(x, approximate='tanh')``. The two differ by less than 1e-3.
    """
    x = as_tensor(x)
    d = x.data
    if approximate == "none":
        cdf = 0.5 * (1.0 + erf_array(d * _SQRT_HALF))
        out = d * cdf

        def backward_exact(g):
            pdf = np.exp(-0.5 * d * d) * _INV_SQRT_2PI
            return (g * (cdf + d * pdf),)
        return Tensor.from_op(out.astype(d.dtype, copy=False), (x,), backward_exact)
    if approximate != "tanh":
        raise ValueError(f"gelu: approximate must be 'none' (exact, the default) or 'tanh', got {approximate!r}")
    d2 = d * d
    inner = GELU_TANH_C * (d + GELU_TANH_A * d2 * d)
    t = np.tanh(inner)
    out = 0.5 * d * (1.0 + t)

    def backward(g):
        dinner = GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_A * d2)
        return (g * (0.5 * (1.0 + t) + 0.5 * d * (1.0 - t * t) * dinner),)
    return Tensor.from_op(out, (x,), backward)


def silu(x) -> Tensor:
    """Chapter 01: SiLU / swish, x * sigmoid(x); derivative s (1 + x (1 - s)) with s = sigmoid(x)."""
    x = as_tensor(x)
    d = x.data
    s = sigmoid_array(d)
    return Tensor.from_op(d * s, (x,), lambda g: (g * (s * (1.0 + d * (1.0 - s))),))


swish = silu


def elu(x, alpha: float = 1.0) -> Tensor:
    """Chapter 01: ELU, x for x > 0 and alpha (e^x - 1) otherwise (``torch.nn.functional.elu``)."""
    x = as_tensor(x)
    d = x.data
    alpha = float(alpha)
    positive = d > 0
    neg = alpha * np.expm1(np.minimum(d, 0))
    out = np.where(positive, d, neg)
    return Tensor.from_op(out, (x,), lambda g: (np.where(positive, g, g * (neg + alpha)),))


def _softplus_array(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z) for any z: max(z, 0) + log1p(e^-|z|)."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def logsigmoid(x) -> Tensor:
    """Chapter 02: log(sigmoid(x)) = -softplus(-x), finite for any x; derivative sigmoid(-x)."""
    x = as_tensor(x)
    d = x.data
    out = np.minimum(d, 0) - np.log1p(np.exp(-np.abs(d)))
    return Tensor.from_op(out, (x,), lambda g: (g * sigmoid_array(-d),))


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Chapter 01: softplus, log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (as torch)."""
    x = as_tensor(x)
    d = x.data
    beta, threshold = float(beta), float(threshold)
    z = d * beta
    linear = z > threshold
    out = np.where(linear, d, _softplus_array(z) / beta)
    return Tensor.from_op(out.astype(d.dtype, copy=False), (x,),
                          lambda g: (np.where(linear, g, g * sigmoid_array(z)),))


def hardtanh(x, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """Chapter 01: clamp to [min_val, max_val]; gradient 1 strictly inside, 0 outside and at the ends (as torch)."""
    x = as_tensor(x)
    d = x.data
    lo, hi = float(min_val), float(max_val)
    if lo > hi:
        raise ValueError(f"hardtanh: min_val ({lo}) must not exceed max_val ({hi})")
    inside = (d > lo) & (d < hi)
    out = np.clip(d, lo, hi).astype(d.dtype, copy=False)
    return Tensor.from_op(out, (x,), lambda g: (g * inside,))


def hardsigmoid(x) -> Tensor:
    """Chapter 01: relu6(x + 3) / 6, a piecewise-linear sigmoid; gradient 1/6 strictly inside (-3, 3), as torch."""
    x = as_tensor(x)
    d = x.data
    inside = (d > -3.0) & (d < 3.0)
    out = (np.clip(d + 3.0, 0.0, 6.0) / 6.0).astype(d.dtype, copy=False)
    return Tensor.from_op(out, (x,), lambda g: (g * inside * _ONE_SIXTH,))


def hardswish(x) -> Tensor:
    """Chapter 01: x * relu6(x + 3) / 6 (MobileNetV3); gradient 0 up to -3, x/3 + 1/2 inside (-3, 3), 1 from 3 on, as torch."""
    x = as_tensor(x)
    d = x.data
    out = (d * np.clip(d + 3.0, 0.0, 6.0) / 6.0).astype(d.dtype, copy=False)
    slope = np.where(d <= -3.0, 0.0, np.where(d < 3.0, d / 3.0 + 0.5, 1.0)).astype(d.dtype, copy=False)
    return Tensor.from_op(out, (x,), lambda g: (g * slope,))


def relu6(x) -> Tensor:
    """Chapter 01: min(max(x, 0), 6), i.e. ``hardtanh(x, 0, 6)`` (MobileNet's activation)."""
    return hardtanh(x, 0.0, 6.0)


@torch_names
def softmax(x, axis: int = -1) -> Tensor:
    """Chapter 02: softmax along ``axis``, shifted by the maximum so it never overflows."""
    x = as_tensor(x)
    shifted = x.data - x.data.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    out = e / e.sum(axis=axis, keepdims=True)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)
    return Tensor.from_op(out, (x,), backward)


@torch_names
def log_softmax(x, axis: int = -1) -> Tensor:
    """Chapter 02: log(softmax(x)) computed with the log-sum-exp trick."""
    x = as_tensor(x)
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
    x = as_tensor(x)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    mask = dropout_mask(x.shape, p, x.dtype, rng)
    return Tensor.from_op(x.data * mask, (x,), lambda g: (g * mask,))


def linear(x, weight, bias=None) -> Tensor:
    """Chapter 06: ``x @ weight + bias`` with weight of shape (in, out) (Keras layout)."""
    out = as_tensor(x) @ weight
    return out + bias if bias is not None else out
