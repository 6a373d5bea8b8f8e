"""Chapter 14: int8 weight-only quantization (量化) of Dense layers, per output channel.

Each column ``j`` of a Dense kernel (in_features, units) -- one output channel --
gets its own scale::

    s_j = max_i |W[i, j]| / 127          q[i, j] = round(W[i, j] / s_j)  in  -127..127

so the weights are stored as one byte each (plus one float32 scale per column)
instead of four. The forward pass *dequantizes* on the fly, ``W' = q * s``, and
runs the usual float matmul: the model file and the weights in memory shrink
about 4x, the arithmetic does not change (which is why this alone is rarely
faster on a CPU; chapter 14 measures it).

::

    from nnlib.quantize import quantize_model
    qmodel = quantize_model(model)            # a copy; Sequential or GPT
    qmodel.save("mlp_int8.nnlib")             # a Sequential saves like any other (QuantizedDense is registered)
    qgpt.save("gpt_int8.nnlib")               # a GPT becomes a QuantizedGPT, saved like any model
    qgpt = load_model("gpt_int8.nnlib")       # either kind

The symmetric scheme (zero point 0) keeps ``-127..127`` (not -128) so that the
range is symmetric and ``-q`` never overflows.
"""
from __future__ import annotations

import copy

import numpy as np

from .gpt import GPT, GPTConfig
from .layers.base import Layer
from .saving.registry import register_layer, register_model
from .layers.core import Dense, activation_name, get_activation
from .module import Module
from .engine import Parameter, Tensor

__all__ = ["quantize_per_channel", "dequantize", "QuantizedDense", "quantize_model", "quantized_layers",
           "QuantizedGPT", "weight_bytes"]

QMAX = 127


def quantize_per_channel(w, axis: int = -1) -> tuple:
    """Chapter 14: symmetric int8 quantization of ``w`` with one scale per index of ``axis``.

    For a Dense kernel (in_features, units) ``axis=-1`` gives one scale per output
    channel (column). Returns ``(q, scale)``: ``q`` int8 of ``w``'s shape,
    ``scale`` float32 of shape ``(w.shape[axis],)``; ``q * scale`` (broadcast along
    ``axis``) approximates ``w`` with an error of at most ``scale / 2`` per entry.
    An all-zero channel gets scale 1 (its codes are all 0).
    """
    w = np.asarray(w.data if isinstance(w, Tensor) else w)
    if w.dtype.kind != "f" or w.ndim < 1:
        raise TypeError(f"quantize_per_channel: expected a float array, got dtype {w.dtype} and shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("quantize_per_channel: the weights contain NaN or inf")
    axis = axis % w.ndim
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=other) if other else np.abs(w)
    scale = (amax / QMAX).astype(np.float32)
    scale[scale == 0] = 1.0
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -QMAX, QMAX).astype(np.int8)
    return q, scale


def dequantize(q, scale, axis: int = -1, dtype=np.float32) -> np.ndarray:
    """Chapter 14: ``q * scale`` as floats (the inverse of :func:`quantize_per_channel`, up to rounding)."""
    q = np.asarray(q)
    shape = [1] * q.ndim
    shape[axis % q.ndim] = -1
    return q.astype(dtype) * np.asarray(scale, dtype=dtype).reshape(shape)


@register_layer
class QuantizedDense(Layer):
    """Chapter 14: a Dense layer whose kernel is stored as int8 plus a float32 scale per output channel.

    Build one from a trained layer with :meth:`from_dense`. Buffers ``kernel_q``
    (in_features, units) int8 and ``kernel_scale`` (units,) float32; the bias stays
    a float Parameter. ``forward`` computes ``activation(x @ (kernel_q * scale) + bias)``
    -- the weights are dequantized on every call (weight-only quantization).
    Inference only: the int8 codes get no gradient.
    """

    def __init__(self, units: int, in_features: int, activation=None, use_bias: bool = True, name=None,
                 trainable: bool = True, input_shape=None, dtype="float32"):
        super().__init__(name=name, trainable=trainable, input_shape=input_shape)
        for what, n in (("units", units), ("in_features", in_features)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) <= 0:
                raise ValueError(f"QuantizedDense: {what} must be a positive integer, got {n!r}")
        self.units, self.in_features = int(units), int(in_features)
        self.activation_name = activation_name(activation)
        self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.dtype = self._float_dtype(dtype)
        self.register_buffer("kernel_q", np.zeros((self.in_features, self.units), dtype=np.int8))
        self.register_buffer("kernel_scale", np.ones(self.units, dtype=np.float32))
        self.bias = Parameter(np.zeros(self.units, dtype=self.dtype)) if self.use_bias else None
        self.built = True

    @classmethod
    def from_dense(cls, dense: Dense) -> "QuantizedDense":
        """Chapter 14: quantize a built Dense layer (same name, activation and bias)."""
        if type(dense) is not Dense or dense.kernel is None:
            raise TypeError(f"QuantizedDense.from_dense expects a built Dense layer, got {dense!r}")
        in_shape = None if dense.input_shape is None else dense.input_shape[1:]
        layer = cls(dense.units, dense.kernel.shape[0], activation=dense.activation_name, use_bias=dense.use_bias,
                    name=dense.name, trainable=dense.trainable, input_shape=in_shape, dtype=dense.dtype.name)
        q, scale = quantize_per_channel(dense.kernel.data, axis=1)
        layer.set_buffer("kernel_q", q)
        layer.set_buffer("kernel_scale", scale)
        if dense.bias is not None:
            layer.bias.data = dense.bias.data.astype(layer.dtype, copy=True)
        return layer

    @property
    def kernel_q(self) -> np.ndarray:
        """Chapter 14: the int8 codes (in_features, units)."""
        return self._buffers["kernel_q"]

    @property
    def kernel_scale(self) -> np.ndarray:
        """Chapter 14: one float32 scale per output channel (units,)."""
        return self._buffers["kernel_scale"]

    def dequantized_kernel(self) -> np.ndarray:
        """Chapter 14: the float kernel the forward pass uses, ``kernel_q * kernel_scale``."""
        return dequantize(self.kernel_q, self.kernel_scale, axis=1, dtype=self.dtype)

    def build(self, input_shape) -> None:
        """Chapter 14: nothing to create; checks that the input has ``in_features`` features."""
        if input_shape[-1] is not None and int(input_shape[-1]) != self.in_features:
            raise ValueError(f"layer {self.name!r} (QuantizedDense) expects {self.in_features} input features, "
                             f"got input shape {tuple(input_shape)}")
        self.built = True

    def forward(self, x):
        """Chapter 14: ``activation(x @ dequantized_kernel + bias)``."""
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"layer {self.name!r} (QuantizedDense) expects {self.in_features} features on the "
                             f"last axis, got input of shape {tuple(x.shape)}")
        out = x @ Tensor(self.dequantized_kernel())
        if self.bias is not None:
            out = out + self.bias
        return out if self.activation is None else self.activation(out)

    def compute_output_shape(self, input_shape):
        """Chapter 14: the input shape with its last axis replaced by ``units``."""
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        """Chapter 14: units, in_features, activation, use_bias, dtype (for ``save``/``load_model``)."""
        config = super().get_config()
        config.update(units=self.units, in_features=self.in_features, activation=self.activation_name,
                      use_bias=self.use_bias, dtype=self.dtype.name)
        return config


def _replace_dense(module, prefix: str, exclude: set, done: set) -> None:
    """Swap every plain Dense attribute (or list item) below ``module`` for a QuantizedDense, in place."""
    if id(module) in done:
        return
    done.add(id(module))

    def swap(layer, path):
        if type(layer) is Dense and layer.name not in exclude and path not in exclude:
            return QuantizedDense.from_dense(layer)
        if hasattr(layer, "_children_items") and not isinstance(layer, Tensor):
            _replace_dense(layer, path, exclude, done)
        return layer

    for name, value in list(vars(module).items()):
        if name.startswith("_"):
            continue
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = swap(item, f"{path}.{i}")
        else:
            new = swap(value, path)
            if new is not value:
                setattr(module, name, new)


def quantize_model(model, inplace: bool = False, exclude=()):
    """Chapter 14: a copy of ``model`` with every plain Dense layer replaced by a :class:`QuantizedDense`.

    Works on a Sequential, a GPT (its attention and MLP projections; the embedding
    table, which the tied output layer reuses, stays float) or any Module.
    ``exclude``: layer names or dotted paths (``"layers.0"``, ``"blocks.0.mlp_in"``)
    to keep in float. With ``inplace=True`` the model itself is changed. The copy
    is in inference mode. LoRA layers must be merged first (``nnlib.lora.merge_lora``).
    """
    if not isinstance(model, Module):
        raise TypeError(f"quantize_model: expected an nnlib model (a Sequential, a GPT or any nnlib Module), got "
                        f"{type(model).__name__}")
    if isinstance(inplace, (bool, np.bool_)) is False:
        raise TypeError(f"quantize_model: inplace must be True or False, got {inplace!r}")
    if not isinstance(exclude, str) and not (isinstance(exclude, (list, tuple, set, frozenset))
                                             and all(isinstance(e, str) for e in exclude)):
        raise TypeError(f"quantize_model: exclude must be a layer name/path or a list of them, got {exclude!r}")
    for name, m in model.named_modules():
        if type(m).__name__ == "LoRADense":
            raise ValueError(f"quantize_model: fold the LoRA adapters in first (nnlib.lora.merge_lora); "
                             f"found one at {name!r}")
    if getattr(model, "built", True) is False:
        raise ValueError("quantize_model: build the model first (call it once or model.build(...))")
    exclude = {exclude} if isinstance(exclude, str) else set(exclude)
    if inplace:
        target = model
    else:  # an inference copy: the optimizer (and its state) is not copied
        opt = getattr(model, "optimizer", None)
        target = copy.deepcopy(model, memo={} if opt is None else {id(opt): None})
    if hasattr(target, "uncompile"):  # a Sequential (a GPT is never compiled)
        target.uncompile()
    _replace_dense(target, "", exclude, set())
    if isinstance(target, GPT) and quantized_layers(target):
        target.__class__ = QuantizedGPT      # same object, saved and loaded as a quantized GPT
    target.eval()
    return target


def quantized_layers(model) -> list:
    """Chapter 14: the dotted names of the QuantizedDense layers in ``model``."""
    return [name for name, m in model.named_modules() if isinstance(m, QuantizedDense)]


def weight_bytes(model) -> int:
    """Chapter 14: bytes taken by the model's parameters and buffers (the arrays a file must hold)."""
    return int(sum(a.nbytes for a in model.state_dict().values()))


# ---------------------------------------------------------------------- files
@register_model
class QuantizedGPT(GPT):
    """Chapter 14: a GPT whose projections are :class:`QuantizedDense` (made by :func:`quantize_model`).

    It is saved and loaded like every nnlib model (``save_model`` / ``load_model``,
    one archive format): the config is the GPT's plus ``quantized_layers``, the
    int8 codes and their scales are ordinary arrays in ``weights.npz``.
    """

    def get_config(self) -> dict:
        """Chapter 14: the GPT config plus the dotted names of the quantized layers."""
        return {**super().get_config(), "quantized_layers": quantized_layers(self)}

    @classmethod
    def from_config(cls, config: dict, weight_shapes: dict | None = None, **_context) -> "QuantizedGPT":
        """Chapter 14: rebuild the quantized GPT (sizes checked against the file before allocating)."""
        if not isinstance(config, dict):
            raise ValueError(f"config must be a JSON object, got {type(config).__name__}")
        config = dict(config)
        layers = config.pop("quantized_layers", None)
        if not isinstance(layers, list) or len(layers) > 100_000 or not all(isinstance(n, str) for n in layers):
            raise ValueError("quantized_layers must be a list of layer names")
        # the file holds int8 codes and scales, not the float weights a GPT's parameter count describes
        gpt_config, dtype = GPTConfig.from_json(config, weight_shapes, count_parameters=False)
        model = GPT(gpt_config, dtype=dtype)
        dense = {name for name, m in model.named_modules() if type(m) is Dense}
        if not set(layers) <= dense:
            raise ValueError(f"quantized_layers names layers the GPT does not have: {sorted(set(layers) - dense)[:5]}")
        return quantize_model(model, inplace=True, exclude=dense - set(layers))

