"""Chapters 06 and 09: the core Keras-style layers: ``Dense`` (全连接层), ``Activation``,
``Flatten``, ``Dropout`` (随机失活) and ``GaussianNoise`` (a simple data augmentation, 数据增强),
plus the activations a layer can apply by name."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import initializers
from .. import regularizers as _regularizers
from ..random import get_rng
from ..inputs import shape_text as _shape_text
from ..engine import Parameter
from .base import Layer
from ..saving.registry import register_layer

__all__ = ["Dense", "Activation", "Flatten", "Dropout", "GaussianNoise", "get_activation", "activation_name"]

_ACTIVATIONS = {
    "linear": None,
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "gelu": F.gelu,
    "softmax": F.softmax,
    "leaky_relu": F.leaky_relu,
    "silu": F.silu,
    "swish": F.swish,
    "elu": F.elu,
    "softplus": F.softplus,
    "relu6": F.relu6,
}


def get_activation(activation):
    """Chapter 06: an activation function from its Keras name (or a callable, or None)."""
    if activation is None or callable(activation):
        return activation
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid names: {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[activation]


def activation_name(activation) -> str | None:
    """Chapter 07: the Keras name of an activation (None for no activation, 'custom' for other callables)."""
    if activation is None or isinstance(activation, str):
        return activation
    for name, fn in _ACTIVATIONS.items():
        if fn is activation:
            return name
    return getattr(activation, "__name__", "custom")


def set_kernel_options(layer, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                       bias_regularizer, dtype) -> None:
    """Chapters 06 and 16: the options Dense and the convolutions share, checked; weights come at ``build``."""
    layer.activation_name = activation_name(activation)
    layer.activation = get_activation(activation)
    initializers.get(kernel_initializer)  # an unknown name fails here, not at build time
    initializers.get(bias_initializer)
    layer.kernel_initializer, layer.bias_initializer = kernel_initializer, bias_initializer
    layer.kernel_regularizer = _regularizers.get(kernel_regularizer)
    layer.bias_regularizer = _regularizers.get(bias_regularizer)
    layer.use_bias = bool(use_bias)
    layer.dtype = layer._float_dtype(dtype)
    layer.kernel = None
    layer.bias = None


@register_layer
class Dense(Layer):
    """Chapter 06: a fully connected layer, ``activation(x @ kernel + bias)``.

    Keras conventions: Keras' argument order (``Dense(units, activation, use_bias,
    kernel_initializer, ...)``; ``input_shape``, ``name`` and the rest by keyword),
    ``kernel`` has shape (in_features, units) (PyTorch's
    ``nn.Linear`` stores the transpose); weights are built on the first call
    unless ``input_shape`` (or ``input_dim``) is given. ``kernel_regularizer``
    (chapter 09), e.g. ``nnlib.regularizers.l2(0.01)``, adds a penalty that
    ``fit`` includes in the loss.
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, *, input_shape=None,
                 input_dim: int | None = None, name=None, trainable: bool = True, dtype="float32"):
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        super().__init__(name=name, trainable=trainable, input_shape=input_shape)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or int(units) <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                           bias_regularizer, dtype)
        self._build_if_shape_known()

    def build(self, input_shape) -> None:
        """Chapter 06: create kernel (in_features, units) and bias (units,) for inputs of ``input_shape``."""
        in_features = input_shape[-1]
        if in_features is None or int(in_features) <= 0:
            raise ValueError(
                f"layer {self.name!r} (Dense) needs a known, positive last input dimension; "
                f"got input shape {_shape_text(input_shape)}"
            )
        in_features = int(in_features)
        self.kernel = Parameter(initializers.get(self.kernel_initializer)((in_features, self.units), self.dtype))
        if self.use_bias:
            self.bias = Parameter(initializers.get(self.bias_initializer)((self.units,), self.dtype))
        self.built = True

    @property
    def in_features(self) -> int | None:
        """Chapter 06: the number of input features (None before the layer is built)."""
        return None if self.kernel is None else self.kernel.shape[0]

    def _check_input(self, x) -> None:
        if x.ndim < 1 or x.shape[-1] != self.kernel.shape[0]:
            expected = (None,) * max(x.ndim - 1, 1) + (self.kernel.shape[0],)
            raise ValueError(
                f"layer {self.name!r} (Dense) expects input shape {_shape_text(expected)} "
                f"({self.kernel.shape[0]} features on the last axis), but got input of shape "
                f"{_shape_text(tuple(x.shape))}"
            )

    def linear(self, x):
        """Chapter 07: ``x @ kernel + bias`` without the activation (the logits, for fused losses)."""
        self._check_input(x)
        out = x @ self.kernel
        if self.bias is not None:
            out = out + self.bias
        return out

    def forward(self, x):
        """Chapter 06: ``activation(x @ kernel + bias)``."""
        out = self.linear(x)
        return out if self.activation is None else self.activation(out)

    def compute_output_shape(self, input_shape):
        """Chapter 06: the input shape with its last axis replaced by ``units``."""
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        """Chapter 07: units, activation, initializers, regularizers, dtype (for ``save``)."""
        config = super().get_config()
        config.update(units=self.units, activation=self.activation_name, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer if isinstance(self.kernel_initializer, str)
                      else "glorot_uniform",
                      bias_initializer=self.bias_initializer if isinstance(self.bias_initializer, str) else "zeros",
                      dtype=self.dtype.name,
                      kernel_regularizer=_regularizers.serialize(self.kernel_regularizer),
                      bias_regularizer=_regularizers.serialize(self.bias_regularizer))
        return config


@register_layer
class Activation(Layer):
    """Chapter 06: applies an activation by name, e.g. ``Activation('relu')``; no weights."""

    def __init__(self, activation, name=None, trainable: bool = True, input_shape=None):
        super().__init__(name=name, trainable=trainable, input_shape=input_shape)
        self.activation_name = activation_name(activation)
        self.activation = get_activation(activation)

    def forward(self, x):
        """Chapter 06: apply the activation."""
        return x if self.activation is None else self.activation(x)

    def get_config(self) -> dict:
        """Chapter 07: the activation's name (for ``save``)."""
        config = super().get_config()
        config["activation"] = self.activation_name
        return config


@register_layer
class Flatten(Layer):
    """Chapter 06: flattens every axis but the batch axis: (N, 8, 8) -> (N, 64); no weights."""

    def forward(self, x):
        """Chapter 06: reshape to (batch, everything else)."""
        if x.ndim < 2:
            raise ValueError(
                f"layer {self.name!r} (Flatten) needs a batch axis plus at least one more; got shape "
                f"{_shape_text(tuple(x.shape))}"
            )
        return x.reshape(x.shape[0], -1)

    def compute_output_shape(self, input_shape):
        """Chapter 06: (batch, product of the other axes)."""
        rest = input_shape[1:]
        size = None if any(n is None for n in rest) else int(math.prod(rest))
        return (input_shape[0], size)


class _RandomLayer(Layer):
    """Chapter 09: a layer that draws random numbers in training mode only.

    ``seed`` gives the layer its own generator; otherwise nnlib's global one
    (``nnlib.manual_seed``) is used.
    """

    def __init__(self, seed: int | None = None, name=None, trainable: bool = True, input_shape=None):
        super().__init__(name=name, trainable=trainable, input_shape=input_shape)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _active(self, training: bool | None) -> bool:
        """Training behaviour for this call: ``training`` if given, else the layer's mode."""
        return self.training if training is None else bool(training)


@register_layer
class Dropout(_RandomLayer):
    """Chapter 09: zeroes a fraction ``rate`` of the values during training (inverted dropout).

    Kept values are scaled by 1/(1 - rate), so nothing changes at inference:
    in ``predict``/``evaluate`` (or after ``model.eval()``) the layer passes
    its input through. ``seed`` gives the layer its own generator; otherwise
    nnlib's global one (``nnlib.manual_seed``) is used.
    """

    def __init__(self, rate: float, *, seed: int | None = None, name=None, trainable: bool = True, input_shape=None):
        super().__init__(seed=seed, name=name, trainable=trainable, input_shape=input_shape)
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}") from None
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1) (the fraction of values dropped), got {rate}")
        self.rate = rate

    def forward(self, x, training: bool | None = None):
        """Chapter 09: drop values in training mode (or when ``training=True``); identity otherwise."""
        return F.dropout(x, self.rate, training=self._active(training), rng=self._rng)

    def get_config(self) -> dict:
        """Chapter 07: rate and seed (for ``save``)."""
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config


@register_layer
class GaussianNoise(_RandomLayer):
    """Chapter 09: adds N(0, stddev^2) noise to the inputs during training only (a simple augmentation).

    Every epoch then sees slightly different copies of the training rows, which
    makes memorizing them harder; at inference the layer passes its input
    through unchanged. ``seed`` gives the layer its own generator.
    """

    def __init__(self, stddev: float, seed: int | None = None, name=None, trainable: bool = True, input_shape=None):
        super().__init__(seed=seed, name=name, trainable=trainable, input_shape=input_shape)
        self.stddev = _regularizers.nonnegative(stddev, "GaussianNoise: stddev")

    def forward(self, x, training: bool | None = None):
        """Chapter 09: ``x + noise`` in training mode (or when ``training=True``); ``x`` otherwise."""
        if not self._active(training) or self.stddev == 0.0:
            return x
        rng = self._rng if self._rng is not None else get_rng()
        noise = rng.standard_normal(x.shape).astype(x.dtype) * np.asarray(self.stddev, dtype=x.dtype)
        return x + noise

    def get_config(self) -> dict:
        """Chapter 07: stddev and seed (for ``save``)."""
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config
