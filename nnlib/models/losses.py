"""Chapter 07: Keras-style loss objects and names for ``compile(loss=...)``: ``loss(y_true, y_pred)``.

Not to be confused with :mod:`nnlib.losses` (chapters 01-02), the functional
losses that take the PREDICTION first (``nnlib.losses.mse_loss(pred, target)``,
PyTorch's names and order). The classes here take the TRUE labels first, Keras' order,
and live beside the model API that uses them::

    from nnlib.models.losses import BinaryCrossentropy
    loss = BinaryCrossentropy()(y_true, y_pred)       # a scalar Tensor

``compile`` accepts ``'binary_crossentropy'``, ``'categorical_crossentropy'``,
``'sparse_categorical_crossentropy'``, ``'mse'`` and ``'mae'`` (and their long
names), a loss object from this module (``BinaryCrossentropy(from_logits=True)``)
or any callable ``loss(y_true, y_pred)`` returning a Tensor.

Keras computes the cross-entropies on probabilities, with predictions clipped
to [1e-7, 1 - 1e-7]. When the model's last layer applies the matching
activation (sigmoid for binary, softmax for categorical), ``fit`` computes the
loss *fused* from the logits instead (``loss.from_logits_loss``), as
TensorFlow-Keras does: the same value wherever the probability is not within
1e-7 of 0 or 1, exact and finite beyond that, and faster.

Every loss object also checks the labels against the model's output shape
(``prepare_targets``) and says what to change when they do not fit.
"""
from __future__ import annotations

import difflib

import numpy as np

from .. import functional as F
from ..losses import whole_number_labels
from ..inputs import shape_text as _shape_text
from ..engine import Tensor, as_tensor

__all__ = [
    "Loss", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "MeanSquaredError", "MeanAbsoluteError", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "mean_squared_error", "mean_absolute_error", "get", "LOSSES",
    "EPSILON",
]

#: Keras' fuzz factor for clipping probabilities
EPSILON = 1e-7


def _did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(str(name).lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _target_array(y) -> np.ndarray:
    return y.data if isinstance(y, Tensor) else np.asarray(y)




class Loss:
    """Chapter 07: base class of the Keras-style losses: ``loss(y_true, y_pred)`` -> scalar Tensor.

    ``logits_activation`` names the activation ('sigmoid' or 'softmax') whose
    output this loss can be computed from fused, with ``from_logits_loss``.
    """

    name = "loss"
    logits_activation: str | None = None
    from_logits = False

    def __call__(self, y_true, y_pred) -> Tensor:
        raise NotImplementedError

    def from_logits_loss(self, y_true, logits) -> Tensor:
        """Chapter 07: the same loss computed from the pre-activation values (logits)."""
        raise NotImplementedError(f"{type(self).__name__} has no fused logits form")

    def prepare_targets(self, y, output_shape: tuple, dtype=np.float32) -> np.ndarray:
        """Chapter 07: check labels ``y`` against the model's ``output_shape`` and convert them."""
        return _float_targets(self.name, y, output_shape, dtype)

    def get_config(self) -> dict:
        """Chapter 07: constructor arguments (for saving a compiled model)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_numeric(name, y):
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{name}: labels must be numbers, got an array of dtype {y.dtype}")
    return y


def _float_targets(name: str, y, output_shape: tuple, dtype) -> np.ndarray:
    y = _check_numeric(name, y).astype(dtype, copy=False)
    out_rank = len(output_shape)
    if y.ndim == out_rank - 1 and output_shape[-1] == 1:
        y = y.reshape(y.shape + (1,))  # (N,) labels for a one-unit output, as Keras accepts
    if y.ndim != out_rank or any(o is not None and o != n for o, n in zip(output_shape[1:], y.shape[1:])):
        raise ValueError(
            f"{name}: labels of shape {_shape_text(y.shape)} do not match the model's output shape "
            f"{_shape_text(output_shape)}; give one label row per sample with the same trailing shape"
        )
    return y


class _Crossentropy(Loss):
    """Chapter 07: a cross-entropy on probabilities (default) or, with ``from_logits=True``, on raw scores.

    Subclasses implement ``_from_probabilities(y_true, y_pred)`` and ``from_logits_loss``.
    """

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def __call__(self, y_true, y_pred) -> Tensor:
        if self.from_logits:
            return self.from_logits_loss(y_true, y_pred)
        return self._from_probabilities(y_true, y_pred)

    def _from_probabilities(self, y_true, y_pred) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        """Chapter 07: {'from_logits': ...}."""
        return {"from_logits": self.from_logits}


class BinaryCrossentropy(_Crossentropy):
    """Chapter 07: binary cross-entropy, -mean(y log p + (1 - y) log(1 - p)), for 0/1 labels.

    With ``from_logits=False`` (default) the predictions are probabilities,
    clipped to [1e-7, 1 - 1e-7] as Keras does; with ``from_logits=True`` they
    are raw scores and the stable logits formula is used.
    """

    name = "binary_crossentropy"
    logits_activation = "sigmoid"

    def _from_probabilities(self, y_true, y_pred) -> Tensor:
        p = as_tensor(y_pred)
        y = _target_array(y_true).astype(p.dtype, copy=False)
        if y.shape != p.shape:
            raise ValueError(f"binary_crossentropy: labels have shape {y.shape}, predictions {p.shape}; "
                             "they must be equal")
        data = p.data
        eps = EPSILON
        clipped = np.clip(data, eps, 1.0 - eps)
        values = -(y * np.log(clipped) + (1.0 - y) * np.log(1.0 - clipped))
        out = np.asarray(values.mean(), dtype=data.dtype)
        scale = 1.0 / max(values.size, 1)

        def backward(g):
            inside = (data >= eps) & (data <= 1.0 - eps)
            grad = (clipped - y) / (clipped * (1.0 - clipped))
            return (grad * inside * (float(g) * scale),)
        return Tensor.from_op(out, (p,), backward)

    def from_logits_loss(self, y_true, logits) -> Tensor:
        """Chapter 07: the loss from the pre-activation values (stable, fused)."""
        z = as_tensor(logits)
        return F.binary_cross_entropy_with_logits(z, _target_array(y_true).astype(z.dtype, copy=False))

    def prepare_targets(self, y, output_shape, dtype=np.float32):
        """Chapter 07: check the labels against the output shape and convert them."""
        y = _float_targets(self.name, _check_numeric(self.name, y), output_shape, dtype)
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(
                f"{self.name}: labels must be 0 or 1 (or probabilities in [0, 1]); got values from "
                f"{y.min():g} to {y.max():g}. For more than two classes use a Dense(n_classes, "
                "activation='softmax') output with loss='sparse_categorical_crossentropy'"
            )
        return y


class CategoricalCrossentropy(_Crossentropy):
    """Chapter 07: softmax cross-entropy for ONE-HOT labels of shape (N, C).

    On probabilities (default) it normalizes each row, clips to [1e-7, 1 - 1e-7]
    and takes -sum(y log p) per sample, as Keras does. For integer labels use
    :class:`SparseCategoricalCrossentropy`.
    """

    name = "categorical_crossentropy"
    logits_activation = "softmax"

    def _from_probabilities(self, y_true, y_pred) -> Tensor:
        p = as_tensor(y_pred)
        y = _target_array(y_true).astype(p.dtype, copy=False)
        p = p / p.sum(axis=-1, keepdims=True)
        logp = p.clip(EPSILON, 1.0 - EPSILON).log()
        return -(logp * y).sum(axis=-1).mean()

    def from_logits_loss(self, y_true, logits) -> Tensor:
        """Chapter 07: the loss from the pre-activation values (stable, fused)."""
        z = as_tensor(logits)
        y = _target_array(y_true).astype(z.dtype, copy=False)
        return -(F.log_softmax(z, axis=-1) * y).sum(axis=-1).mean()

    def prepare_targets(self, y, output_shape, dtype=np.float32):
        """Chapter 07: check the labels against the output shape and convert them."""
        y = _check_numeric(self.name, y)
        if y.ndim == len(output_shape) - 1 and output_shape[-1] != 1:
            raise ValueError(
                f"{self.name} expects one-hot labels of shape {_shape_text(output_shape)}, but got integer "
                f"class labels of shape {_shape_text(y.shape)}: use loss='sparse_categorical_crossentropy' "
                "(or one-hot encode the labels first)"
            )
        return _float_targets(self.name, y, output_shape, dtype)


class SparseCategoricalCrossentropy(_Crossentropy):
    """Chapter 07: softmax cross-entropy for INTEGER class labels of shape (N,).

    For one-hot labels use :class:`CategoricalCrossentropy`.
    """

    name = "sparse_categorical_crossentropy"
    logits_activation = "softmax"

    def _from_probabilities(self, y_true, y_pred) -> Tensor:
        p = as_tensor(y_pred)
        t = _target_array(y_true).astype(np.int64, copy=False).reshape(-1)
        classes = p.shape[-1]
        flat = p.reshape(-1, classes).clip(EPSILON, 1.0 - EPSILON)
        picked = flat[np.arange(flat.shape[0]), t]
        return (flat.sum(axis=-1).log() - picked.log()).mean()

    def from_logits_loss(self, y_true, logits) -> Tensor:
        """Chapter 07: the loss from the pre-activation values (stable, fused)."""
        return F.cross_entropy(as_tensor(logits), _target_array(y_true))

    def prepare_targets(self, y, output_shape, dtype=np.float32):
        """Chapter 07: check the labels against the output shape and convert them."""
        y = _check_numeric(self.name, y)
        classes = output_shape[-1]
        expected = tuple(output_shape[:-1])
        if y.ndim == len(output_shape) and y.shape[-1] == 1 and classes != 1:
            y = y.reshape(y.shape[:-1])  # (N, 1) integer labels, as Keras accepts
        if y.ndim == len(output_shape) and y.shape[-1] == classes:
            raise ValueError(
                f"{self.name} expects integer class labels of shape {_shape_text(expected)}, but the labels "
                f"have shape {_shape_text(y.shape)}, like the output: they look one-hot. Use "
                "loss='categorical_crossentropy', or pass y.argmax(axis=-1)"
            )
        if y.ndim != len(expected) or any(e is not None and e != n for e, n in zip(expected[1:], y.shape[1:])):
            raise ValueError(
                f"{self.name}: labels of shape {_shape_text(y.shape)} do not fit the output shape "
                f"{_shape_text(output_shape)}; expected integer labels of shape {_shape_text(expected)}"
            )
        y = whole_number_labels(y, f"{self.name}: labels must be whole numbers (class indices 0..{classes - 1})")
        y = y.astype(np.int64, copy=False)
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise ValueError(
                f"{self.name}: labels must be class indices 0..{classes - 1} for a {classes}-unit output; got "
                f"values from {y.min()} to {y.max()}"
            )
        return y


class MeanSquaredError(Loss):
    """Chapter 07: mean squared error, mean((y - y_pred)^2) (Keras 'mse')."""

    name = "mean_squared_error"

    def __call__(self, y_true, y_pred) -> Tensor:
        p = as_tensor(y_pred)
        return F.mse_loss(p, _target_array(y_true).astype(p.dtype, copy=False))


class MeanAbsoluteError(Loss):
    """Chapter 07: mean absolute error, mean(|y - y_pred|) (Keras 'mae')."""

    name = "mean_absolute_error"

    def __call__(self, y_true, y_pred) -> Tensor:
        p = as_tensor(y_pred)
        return F.l1_loss(p, _target_array(y_true).astype(p.dtype, copy=False))


def binary_crossentropy(y_true, y_pred) -> Tensor:
    """Chapter 07: function form of :class:`BinaryCrossentropy` (probabilities)."""
    return BinaryCrossentropy()(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred) -> Tensor:
    """Chapter 07: function form of :class:`CategoricalCrossentropy` (probabilities, one-hot labels)."""
    return CategoricalCrossentropy()(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred) -> Tensor:
    """Chapter 07: function form of :class:`SparseCategoricalCrossentropy` (probabilities, integer labels)."""
    return SparseCategoricalCrossentropy()(y_true, y_pred)


def mean_squared_error(y_true, y_pred) -> Tensor:
    """Chapter 07: function form of :class:`MeanSquaredError`."""
    return MeanSquaredError()(y_true, y_pred)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """Chapter 07: function form of :class:`MeanAbsoluteError`."""
    return MeanAbsoluteError()(y_true, y_pred)


#: names ``compile`` accepts, with the class each builds
LOSSES = {
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
}

_FUNCTIONS = {
    binary_crossentropy: "binary_crossentropy",
    categorical_crossentropy: "categorical_crossentropy",
    sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
    mean_squared_error: "mean_squared_error",
    mean_absolute_error: "mean_absolute_error",
}

_CLASSES = {cls.__name__: cls for cls in set(LOSSES.values())}


def get(identifier):
    """Chapter 07: a loss object from a name ('mse'), a Loss instance, or a callable (kept as is).

    The function forms above (``binary_crossentropy`` ...) become their loss
    objects, so they keep the label checks and the fused logits path.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = LOSSES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}{_did_you_mean(identifier, LOSSES)}; valid names are "
                             f"{sorted(LOSSES)}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        name = _FUNCTIONS.get(identifier)
        return LOSSES[name]() if name else identifier
    raise TypeError(
        f"loss must be a name {sorted(LOSSES)}, a Loss object or a callable loss(y_true, y_pred); got "
        f"{type(identifier).__name__}"
    )


def serialize(loss):
    """Chapter 07: JSON form of a built-in loss ({'class_name', 'config'}); None for custom callables."""
    if type(loss) in _CLASSES.values():
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    return None


def deserialize(config):
    """Chapter 07: rebuild a built-in loss from :func:`serialize`'s output (a whitelist of classes)."""
    if not isinstance(config, dict):
        raise ValueError(f"invalid loss config {config!r}")
    cls = _CLASSES.get(config.get("class_name"))
    kwargs = config.get("config", {})
    if cls is None or not isinstance(kwargs, dict) or not set(kwargs) <= {"from_logits"} or not all(
            isinstance(v, bool) for v in kwargs.values()):
        raise ValueError(f"invalid loss config {config!r}; known losses: {sorted(_CLASSES)}")
    return cls(**kwargs)
