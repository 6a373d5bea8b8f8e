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

    from nnlib.quantize import quantize_model, save_quantized, load_quantized
    qmodel = quantize_model(model)            # a copy; Sequential or GPT
    qmodel.save("mlp_int8.nnlib")             # a Sequential saves like any other (QuantizedDense is registered)
    save_quantized(qgpt, "gpt_int8.nnlib")    # a GPT: one archive, class "QuantizedGPT"
    qgpt = load_quantized("gpt_int8.nnlib")   # either kind

The symmetric scheme (zero point 0) keeps ``-127..127`` (not -128) so that the
range is symmetric and ``-q`` never overflows.
"""
from __future__ import annotations

import copy
import os

import numpy as np

from .layers.base import Layer, register_layer
from .layers.core import Dense, activation_name, get_activation
from .tensor import Parameter, Tensor

__all__ = ["quantize_per_channel", "dequantize", "QuantizedDense", "quantize_model", "quantized_layers",
           "save_quantized", "load_quantized", "weight_bytes"]

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
        layer._buffers["kernel_q"] = q
        layer._buffers["kernel_scale"] = scale
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
    if "_compiled" in vars(target):
        target._compiled = False
        target.optimizer = None
    _replace_dense(target, "", exclude, set())
    target.eval()
    return target


def quantized_layers(model) -> list:
    """Chapter 14: the dotted names of the QuantizedDense layers in ``model``."""
    return [name for name, m in model.named_modules() if isinstance(m, QuantizedDense)]


def weight_bytes(model) -> int:
    """Chapter 14: bytes taken by the model's parameters and buffers (the arrays a file must hold)."""
    return int(sum(a.nbytes for a in model.state_dict().values()))


# ---------------------------------------------------------------------- files
def save_quantized(model, path) -> str:
    """Chapter 14: write a quantized model to one nnlib archive (zip, no pickle); returns the path.

    A Sequential is written by ``save_model`` (``QuantizedDense`` is a registered
    layer, so ``load_model`` rebuilds it once ``nnlib.quantize`` is imported). A GPT
    is written with config class ``"QuantizedGPT"``: the GPT config plus the names
    of the quantized layers; the int8 codes and scales are ordinary arrays.
    """
    from .gpt import GPT, tokenizer_to_json
    from .io import save_archive
    from .models.saving import save_model
    from .models.sequential import Sequential

    path = os.fspath(path)
    if isinstance(model, Sequential):
        save_model(model, path, include_optimizer=False)
        return path
    if isinstance(model, GPT):
        layers = quantized_layers(model)
        config = {"class": "QuantizedGPT", "gpt_config": model.config.to_dict(),
                  "dtype": str(model.wte.embeddings.dtype), "quantized_layers": layers,
                  "scheme": "int8 symmetric per output channel, weight-only"}
        extra_json = {"tokenizer": tokenizer_to_json(model.tokenizer)} if model.tokenizer is not None else None
        return save_archive(path, config, dict(model.state_dict()), metadata=dict(model.metadata or {}),
                            extra_json=extra_json)
    raise TypeError(f"save_quantized: expected a Sequential or a GPT, got {type(model).__name__}")


def load_quantized(path):
    """Chapter 14: load a file written by :func:`save_quantized` (a quantized Sequential or GPT)."""
    from .gpt import GPT, GPTConfig, tokenizer_from_json
    from .io import ModelFileError, load_archive
    from .models.saving import load_model

    path = os.fspath(path)
    archive = load_archive(path)
    if archive.config.get("class") != "QuantizedGPT":
        return load_model(path, compile=False)
    layers = archive.config.get("quantized_layers")
    if not isinstance(layers, list) or not all(isinstance(n, str) for n in layers):
        raise ModelFileError(f"{path}: quantized_layers must be a list of layer names")
    try:
        dtype = archive.config.get("dtype", "float32")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"unsupported dtype {dtype!r}")
        model = GPT(GPTConfig.from_dict(archive.config["gpt_config"]), dtype=dtype)
        dense = {name for name, m in model.named_modules() if type(m) is Dense}
        if not set(layers) <= dense:
            raise ValueError(f"quantized_layers names layers the GPT does not have: {sorted(set(layers) - dense)[:5]}")
        quantize_model(model, inplace=True, exclude=dense - set(layers))
        expected = model.state_dict()
        for key, ref in expected.items():
            arr = archive.arrays.get(key)
            if arr is None or arr.shape != ref.shape or arr.dtype != ref.dtype:
                got = None if arr is None else (arr.shape, str(arr.dtype))
                raise ValueError(f"array {key!r}: expected {ref.shape} {ref.dtype}, got {got}")
        extra = sorted(set(archive.arrays) - set(expected))
        if extra:
            raise ValueError(f"unexpected arrays {extra[:5]}")
        model.load_state_dict(archive.arrays)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: the quantized GPT does not fit its config: {exc}") from None
    tok = archive.extra_json.get("tokenizer")
    if tok is not None:
        model.tokenizer = tokenizer_from_json(tok)
    model.metadata = dict(archive.metadata)
    model.eval()
    return model
