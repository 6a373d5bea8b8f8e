"""Chapter 06: ``Dense`` (全连接层) and the activations a layer can apply by name."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import initializers
from ..tensor import Parameter
from .base import Layer

__all__ = ["Dense", "get_activation"]

_ACTIVATIONS = {
    "linear": None,
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "gelu": F.gelu,
    "softmax": F.softmax,
    "leaky_relu": F.leaky_relu,
}


def get_activation(activation):
    """Chapter 06: an activation function from its Keras name (or a callable, or None)."""
    if activation is None or callable(activation):
        return activation
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid names: {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[activation]


class Dense(Layer):
    """Chapter 06: a fully connected layer, ``activation(x @ kernel + bias)``.

    Keras conventions: ``kernel`` has shape (in_features, units); weights are
    built on the first call unless ``input_shape`` (or ``input_dim``) is given.
    """

    def __init__(self, units: int, activation=None, input_shape=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", use_bias: bool = True, name=None, trainable: bool = True,
                 input_dim: int | None = None, dtype="float32"):
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        super().__init__(name=name, trainable=trainable, input_shape=input_shape)
        if int(units) <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation_name = activation if isinstance(activation, str) or activation is None else getattr(
            activation, "__name__", "custom")
        self.activation = get_activation(activation)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.use_bias = bool(use_bias)
        self.dtype = np.dtype(dtype)
        self.kernel = None
        self.bias = None
        if self.input_shape is not None:
            self.build(self.input_shape)
            self.built = True

    def build(self, input_shape) -> None:
        in_features = int(input_shape[-1])
        self.kernel = Parameter(initializers.get(self.kernel_initializer)((in_features, self.units), self.dtype))
        if self.use_bias:
            self.bias = Parameter(initializers.get(self.bias_initializer)((self.units,), self.dtype))
        self.built = True

    @property
    def in_features(self) -> int | None:
        return None if self.kernel is None else self.kernel.shape[0]

    def forward(self, x):
        if x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"layer {self.name!r} (Dense) expects inputs with {self.kernel.shape[0]} features on the "
                f"last axis, but got input of shape {tuple(x.shape)}"
            )
        out = x @ self.kernel
        if self.bias is not None:
            out = out + self.bias
        return out if self.activation is None else self.activation(out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(units=self.units, activation=self.activation_name, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer if isinstance(self.kernel_initializer, str)
                      else "glorot_uniform",
                      bias_initializer=self.bias_initializer if isinstance(self.bias_initializer, str) else "zeros")
        return config
