"""Chapter 09: ``BatchNormalization`` (批归一化), Keras-style, and its fused training-mode function.

During training each feature is normalized with the mean and variance of the
current batch, then scaled by ``gamma`` and shifted by ``beta``; moving
averages of those statistics are kept for inference::

    moving_mean = momentum * moving_mean + (1 - momentum) * batch_mean

Keras conventions (which differ from PyTorch's ``BatchNorm1d``):
``momentum=0.99`` is the weight of the OLD value (PyTorch's momentum=0.1 is the
weight of the new one, i.e. Keras 0.99 = PyTorch 0.01), ``epsilon=1e-3``
(PyTorch: 1e-5), and the moving variance is updated with the biased batch
variance (PyTorch uses the unbiased one, n/(n-1) larger).
"""
from __future__ import annotations

import numpy as np

from .. import initializers
from ..engine import Parameter, Tensor
from .base import Layer
from ..saving.registry import register_layer
from ..inputs import shape_text as _shape_text

__all__ = ["BatchNormalization", "batch_norm_train"]


def _axes(ndim: int, axis: int) -> tuple:
    axis = axis % ndim
    return tuple(i for i in range(ndim) if i != axis)


def batch_norm_train(x: Tensor, gamma=None, beta=None, epsilon: float = 1e-3, axis: int = -1):
    """Chapter 09: batch normalization with batch statistics, one fused op.

    Returns ``(out, mean, variance)``: ``out`` is a Tensor whose backward gives
    the gradients of ``x``, ``gamma`` and ``beta``; ``mean`` and ``variance``
    (biased) are NumPy arrays of shape (C,) for the moving averages.
    """
    data = x.data
    if data.ndim < 2:
        raise ValueError(f"batch_norm_train: needs a batch axis and a feature axis, got shape {data.shape}")
    axes = _axes(data.ndim, axis)
    bshape = [1] * data.ndim
    bshape[axis % data.ndim] = data.shape[axis]
    count = data.size // data.shape[axis]
    mean = data.mean(axis=axes, keepdims=True)
    centered = data - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + float(epsilon))
    xhat = centered * inv
    g_data = None if gamma is None else gamma.data.reshape(bshape)
    out = xhat if g_data is None else xhat * g_data
    if beta is not None:
        out = out + beta.data.reshape(bshape)

    def backward(g):
        gx = g if g_data is None else g * g_data
        sum_gx = gx.sum(axis=axes, keepdims=True)
        sum_gx_xhat = (gx * xhat).sum(axis=axes, keepdims=True)
        dx = (inv * (1.0 / count)) * (gx * float(count) - sum_gx - xhat * sum_gx_xhat)
        grads = [dx]
        if gamma is not None:
            grads.append((g * xhat).sum(axis=axes).reshape(gamma.shape))
        if beta is not None:
            grads.append(g.sum(axis=axes).reshape(beta.shape))
        return tuple(grads)

    parents = (x,) + tuple(p for p in (gamma, beta) if p is not None)
    return Tensor.from_op(out, parents, backward), mean.reshape(-1), var.reshape(-1)


@register_layer
class BatchNormalization(Layer):
    """Chapter 09: normalize each feature; batch statistics in training, moving ones at inference.

    ``BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True,
    scale=True)`` with Keras' defaults and weights ``gamma``, ``beta``
    (trainable) and ``moving_mean``, ``moving_variance`` (buffers, counted as
    non-trainable parameters). ``fit`` uses batch statistics and updates the
    moving averages; ``predict``/``evaluate`` (eval mode) use the moving
    averages. As in Keras, a layer with ``trainable = False`` always runs in
    inference mode (what fine-tuning wants).
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, name=None, trainable: bool = True, input_shape=None, dtype="float32"):
        super().__init__(name=name, trainable=trainable, input_shape=input_shape)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum}")
        if not float(epsilon) > 0.0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0, got {epsilon}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.dtype = self._float_dtype(dtype)
        self.gamma = None
        self.beta = None
        self._build_if_shape_known()

    def build(self, input_shape) -> None:
        """Chapter 09: create gamma, beta and the moving statistics for the feature axis."""
        if len(input_shape) < 2:
            raise ValueError(f"layer {self.name!r} (BatchNormalization) needs inputs with a batch axis and a "
                             f"feature axis, got shape {tuple(input_shape)}")
        if not -len(input_shape) < self.axis < len(input_shape) or self.axis % len(input_shape) == 0:
            raise ValueError(f"layer {self.name!r} (BatchNormalization): axis {self.axis} is not a feature axis of "
                             f"input shape {_shape_text(input_shape)}; use an axis from 1 to "
                             f"{len(input_shape) - 1} (or -1 for the last)")
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"layer {self.name!r} (BatchNormalization): the feature axis {self.axis} of input "
                             f"shape {tuple(input_shape)} must be known")
        shape = (int(channels),)
        if self.scale:
            self.gamma = Parameter(initializers.ones(shape, self.dtype))
        if self.center:
            self.beta = Parameter(initializers.zeros(shape, self.dtype))
        self.register_buffer("moving_mean", initializers.zeros(shape, self.dtype))
        self.register_buffer("moving_variance", initializers.ones(shape, self.dtype))
        self.built = True

    @property
    def moving_mean(self) -> np.ndarray:
        """Chapter 09: the running mean used at inference (a buffer)."""
        return self._buffers["moving_mean"]

    @property
    def moving_variance(self) -> np.ndarray:
        """Chapter 09: the running (biased) variance used at inference (a buffer)."""
        return self._buffers["moving_variance"]

    def _check(self, x) -> tuple:
        channels = self.moving_mean.shape[0]
        if x.ndim < 2 or x.shape[self.axis] != channels:
            raise ValueError(
                f"layer {self.name!r} (BatchNormalization) was built for {channels} features on axis "
                f"{self.axis}, but got input of shape {tuple(x.shape)}"
            )
        bshape = [1] * x.ndim
        bshape[self.axis % x.ndim] = channels
        return tuple(bshape)

    def forward(self, x, training: bool | None = None):
        """Chapter 09: normalize with batch statistics (training) or the moving ones (inference)."""
        bshape = self._check(x)
        active = (self.training and self.trainable) if training is None else bool(training)
        if active:  # one sample has variance 0: the output is beta, as in Keras (no error)
            out, mean, var = batch_norm_train(x, self.gamma, self.beta, self.epsilon, self.axis)
            keep = self.momentum
            self._buffers["moving_mean"] = (self.moving_mean * keep + mean * (1.0 - keep)).astype(self.dtype)
            self._buffers["moving_variance"] = (self.moving_variance * keep + var * (1.0 - keep)).astype(self.dtype)
            return out
        inv = (1.0 / np.sqrt(self.moving_variance + self.epsilon)).astype(x.dtype).reshape(bshape)
        out = (x - self.moving_mean.reshape(bshape)) * inv
        if self.gamma is not None:
            out = out * self.gamma.reshape(bshape)
        if self.beta is not None:
            out = out + self.beta.reshape(bshape)
        return out

    def get_config(self) -> dict:
        """Chapter 07: axis, momentum, epsilon, center, scale, dtype (for ``save``)."""
        config = super().get_config()
        config.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center,
                      scale=self.scale, dtype=self.dtype.name)
        return config
