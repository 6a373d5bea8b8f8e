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
from ..engine import Tensor, operand_data
from ..saving.config import strict_kwargs

__all__ = ["Layer", "auto_name", "snake_case", "unique_auto_name"]

_name_counters = defaultdict(itertools.count)


def auto_name(prefix: str) -> str:
    """Chapter 06: the next automatic name with ``prefix``: ``dense``, then ``dense_1``, ``dense_2`` ...

    One counter per prefix for the whole process, as Keras counts.
    """
    n = next(_name_counters[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


def unique_auto_name(layer, taken: set) -> str:
    """Chapter 07: the next automatic name for ``layer``'s class that is not in ``taken``."""
    prefix = snake_case(type(layer).__name__)
    name = auto_name(prefix)
    while name in taken:
        name = auto_name(prefix)
    return name


def snake_case(name: str) -> str:
    """Chapter 06: a class name in snake case, the prefix of its automatic names (``BatchNormalization`` ->
    ``batch_normalization``)."""
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
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self._auto_named = name is None
        self.name = name or auto_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.built = False
        if isinstance(input_shape, (int, np.integer)):
            input_shape = (int(input_shape),)
        if input_shape is not None:
            try:
                input_shape = tuple(None if n is None else int(n) for n in input_shape)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{type(self).__name__}: input_shape must be a tuple of sizes without the batch axis, "
                    f"e.g. input_shape=(30,); got {input_shape!r}"
                ) from None
        self.input_shape = None if input_shape is None else (None,) + input_shape

    def _float_dtype(self, dtype) -> np.dtype:
        """The weights' dtype from ``dtype`` (e.g. 'float32'); a ValueError for a non-float one."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}: dtype must be a float type (float32 or float64), got {dtype}")
        return dtype

    def _build_if_shape_known(self) -> None:
        """Build the weights at once when ``input_shape`` was given (the end of a subclass's ``__init__``)."""
        if self.input_shape is not None:
            self.build(self.input_shape)
            self.built = True

    def build(self, input_shape: tuple) -> None:
        """Chapter 06: create the weights for inputs of ``input_shape`` (first axis = batch)."""
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Chapter 06: the output shape for a given input shape (batch axis may be None)."""
        return tuple(input_shape)

    def __call__(self, x, *args, **kwargs):
        if not isinstance(x, Tensor):
            x = Tensor(operand_data(x))
        if not self.built:
            self.build(tuple(x.shape))
            self.built = True
        return self.forward(x, *args, **kwargs)

    @property
    def weights(self) -> list:
        """Chapter 06: the layer's Parameters (Keras' ``layer.weights``, without buffers)."""
        return self.parameters()

    @property
    def trainable_weights(self) -> list:
        """Chapter 10: the Parameters that training updates (none when ``trainable`` is False)."""
        return self.parameters() if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        """Chapter 10: frozen Parameters plus buffers such as batch-norm moving statistics."""
        frozen = [] if self.trainable else [p.data for p in self.parameters()]
        return frozen + [b for _, b in self.named_buffers()]

    def weight_slots(self) -> list:
        """Chapter 06: (kind, owner, key) for every weight in Keras order: Parameters, then buffers."""
        slots = [("param", p, None) for p in self.parameters()]
        for module in self.modules():
            for key, _ in module.named_buffers(recurse=False):
                slots.append(("buffer", module, key))
        return slots

    def get_weights(self) -> list:
        """Chapter 06: copies of all weights as NumPy arrays, Parameters first, then buffers.

        For ``BatchNormalization`` that is [gamma, beta, moving_mean,
        moving_variance], Keras' order.
        """
        out = []
        for kind, owner, key in self.weight_slots():
            out.append(owner.data.copy() if kind == "param" else owner.get_buffer(key).copy())
        return out

    def set_weights(self, weights) -> None:
        """Chapter 06: replace the weights (same order as ``get_weights``) with arrays of the same shapes."""
        slots = self.weight_slots()
        weights = list(weights)
        if len(weights) != len(slots):
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}) has {len(slots)} weight arrays, "
                f"set_weights got {len(weights)}"
            )
        for i, ((kind, owner, key), w) in enumerate(zip(slots, weights)):
            w = np.asarray(w.data if hasattr(w, "data") and isinstance(w.data, np.ndarray) else w)
            current = owner.data if kind == "param" else owner.get_buffer(key)
            if w.shape != current.shape:
                raise ValueError(
                    f"layer {self.name!r} ({type(self).__name__}): weight {i} has shape {current.shape}, "
                    f"set_weights got shape {w.shape}"
                )
            if kind == "param":
                owner.data = w.astype(current.dtype, copy=True)
            else:
                owner.set_buffer(key, w.astype(current.dtype, copy=True))

    def count_params(self) -> int:
        """Chapter 06: number of values in the layer's weights (buffers included, as Keras counts)."""
        total = 0
        for kind, owner, key in self.weight_slots():
            total += owner.data.size if kind == "param" else owner.get_buffer(key).size
        return int(total)

    def regularization_losses(self) -> list:
        """Chapter 09: penalty Tensors (e.g. L2 on the kernel) that ``fit`` adds to the loss.

        A layer with ``kernel_regularizer``/``bias_regularizer`` (Dense, Conv2D ...)
        gets ``regularizer(weight)`` for each one set; other layers have none.
        """
        losses = []
        for reg_name, weight_name in (("kernel_regularizer", "kernel"), ("bias_regularizer", "bias")):
            regularizer, weight = getattr(self, reg_name, None), getattr(self, weight_name, None)
            if regularizer is not None and weight is not None:
                losses.append(regularizer(weight))
        return losses

    @classmethod
    def from_config(cls, config: dict):
        """Chapter 07: a new layer from ``get_config()``'s dict (strictly checked, see :func:`strict_kwargs`)."""
        return cls(**strict_kwargs(cls, config, cls.__name__))

    def get_config(self) -> dict:
        """Chapter 07: the constructor arguments that rebuild this layer (JSON-serializable)."""
        config = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape[1:])
        return config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"
