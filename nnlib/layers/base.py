"""Chapter 06: ``Layer``, the Keras-style base class of nnlib's layers.

A layer is a :class:`~nnlib.module.Module` that builds its weights on first
call (when it first sees the input's shape), has a Keras-style ``name``,
``trainable`` flag, ``get_weights``/``set_weights``, and a config that
``save``/``load_model`` use to rebuild it.
"""
from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np

from ..module import Module
from ..tensor import Tensor, _operand

__all__ = ["Layer"]

_name_counters = defaultdict(itertools.count)


def _auto_name(prefix: str) -> str:
    n = next(_name_counters[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class Layer(Module):
    """Chapter 06: a layer with lazily built weights, a name and a ``trainable`` flag.

    Subclasses implement ``build(input_shape)`` (create Parameters) and
    ``forward(x)``; ``compute_output_shape`` and ``get_config`` make them work
    in ``summary()`` and ``save``/``load_model``.
    """

    def __init__(self, name: str | None = None, trainable: bool = True, input_shape=None):
        self.name = name or _auto_name(_snake(type(self).__name__))
        self.trainable = trainable
        self.built = False
        self.input_shape = None if input_shape is None else (None,) + tuple(input_shape)

    def build(self, input_shape: tuple) -> None:
        """Chapter 06: create the weights for inputs of ``input_shape`` (first axis = batch)."""
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Chapter 06: the output shape for a given input shape (batch axis may be None)."""
        return tuple(input_shape)

    def __call__(self, x, *args, **kwargs):
        if not isinstance(x, Tensor):
            x = Tensor(_operand(x))
        if not self.built:
            self.build(tuple(x.shape))
            self.built = True
        return self.forward(x, *args, **kwargs)

    @property
    def weights(self) -> list:
        """Chapter 06: the layer's Parameters (Keras' ``layer.weights``)."""
        return self.parameters()

    def get_weights(self) -> list:
        """Chapter 06: copies of the weights as NumPy arrays, in order."""
        return [p.data.copy() for p in self.parameters()]

    def set_weights(self, weights) -> None:
        """Chapter 06: replace the weights with arrays of exactly the same shapes."""
        params = self.parameters()
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(
                f"layer {self.name!r} has {len(params)} weight arrays, set_weights got {len(weights)}"
            )
        for p, w in zip(params, weights):
            w = np.asarray(w)
            if w.shape != p.shape:
                raise ValueError(
                    f"layer {self.name!r}: weight of shape {p.shape} cannot be set from shape {w.shape}"
                )
            p.data = w.astype(p.dtype, copy=True)

    def count_params(self) -> int:
        """Chapter 06: number of values in the layer's weights."""
        return int(sum(p.size for p in self.parameters()))

    def get_config(self) -> dict:
        """Chapter 07: the constructor arguments that rebuild this layer (JSON-serializable)."""
        config = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape[1:])
        return config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"
