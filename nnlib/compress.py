"""Chapter 17: model compression (模型压缩) beyond int8: pruning (剪枝) and distillation (知识蒸馏).

Pruning sets the least important weights to zero:

- **unstructured** (:func:`magnitude_masks` with ``structured=False``): single weights
  with the smallest magnitude; ``scope="layer"`` takes the same fraction from every
  layer, ``scope="global"`` ranks all kernels together (as torch's
  ``prune.l1_unstructured`` and ``prune.global_unstructured``). The zeros stay in the
  dense arrays: the file does not shrink unless it is stored sparsely or compressed.
- **structured** (``structured=True``): whole output units of a Dense layer (kernel
  columns, with their bias) by their L2 norm (torch's ``prune.ln_structured(n=2)``).
  :func:`shrink` then rebuilds the model without those units: fewer parameters, a
  smaller file and a faster forward pass.

:class:`KeepPruned` is a callback that re-applies the masks after every training batch,
so fine-tuning after pruning cannot bring the zeros back.

Distillation (Hinton et al. 2015) trains a small student on a large teacher's
temperature-softened outputs: :func:`distillation_loss`.
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from .callbacks import Callback
from .layers.core import Dense
from .losses import cross_entropy
from .engine import Tensor

__all__ = ["magnitude_masks", "apply_masks", "sparsity", "KeepPruned", "shrink", "sparse_bytes",
           "distillation_loss"]


def _dense_layers(model, who: str) -> list:
    layers = [layer for layer in getattr(model, "layers", []) if isinstance(layer, Dense)]
    if not layers:
        raise TypeError(f"{who}: expected a model with Dense layers, got {type(model).__name__}")
    for layer in layers:
        if not layer.built:
            raise ValueError(f"{who}: layer {layer.name!r} is not built yet; build or fit the model first")
    return layers


def _check_amount(amount, who: str) -> float:
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount < 1:
        raise ValueError(f"{who}: amount must be a fraction in [0, 1), got {amount!r}")
    return float(amount)


def _smallest(scores: np.ndarray, count: int) -> np.ndarray:
    """A boolean mask that keeps all but the ``count`` smallest scores (ties: lowest index first)."""
    keep = np.ones(scores.size, dtype=bool)
    if count:
        keep[np.argsort(scores.ravel(), kind="stable")[:count]] = False
    return keep.reshape(scores.shape)


def magnitude_masks(model, amount: float, scope: str = "layer", structured: bool = False,
                    layers=None) -> dict:
    """Chapter 17: which weights (or units) to keep, by magnitude: ``{layer name: bool kernel mask}``.

    ``amount`` is the fraction to remove (rounded to whole weights or units, as torch
    does: ``round(amount * n)``). ``layers`` (names) limits pruning to some layers;
    the output layer is usually left alone. Structured masks remove whole columns.
    """
    amount = _check_amount(amount, "magnitude_masks")
    if scope not in ("layer", "global"):
        raise ValueError(f"magnitude_masks: scope must be 'layer' or 'global', got {scope!r}")
    chosen = _dense_layers(model, "magnitude_masks")
    if layers is not None:
        names = set(layers)
        unknown = names - {layer.name for layer in chosen}
        if unknown:
            raise ValueError(f"magnitude_masks: no Dense layer named {sorted(unknown)}")
        chosen = [layer for layer in chosen if layer.name in names]
    if structured:
        scores = {layer.name: np.linalg.norm(layer.kernel.data, axis=0) for layer in chosen}   # per unit
    else:
        scores = {layer.name: np.abs(layer.kernel.data) for layer in chosen}
    if scope == "layer":
        kept = {name: _smallest(s, int(round(amount * s.size))) for name, s in scores.items()}
    else:
        flat = np.concatenate([s.ravel() for s in scores.values()])
        keep = _smallest(flat, int(round(amount * flat.size)))
        kept, start = {}, 0
        for name, s in scores.items():
            kept[name] = keep[start:start + s.size].reshape(s.shape)
            start += s.size
    if not structured:
        return kept
    return {layer.name: np.broadcast_to(kept[layer.name], layer.kernel.shape).copy() for layer in chosen}


def apply_masks(model, masks: dict) -> None:
    """Chapter 17: zero the pruned weights in place (and a removed unit's bias)."""
    layers = {layer.name: layer for layer in _dense_layers(model, "apply_masks")}
    for name, mask in masks.items():
        if name not in layers:
            raise ValueError(f"apply_masks: no Dense layer named {name!r}")
        layer = layers[name]
        if mask.shape != layer.kernel.shape:
            raise ValueError(f"apply_masks: mask for {name!r} has shape {mask.shape}, kernel {layer.kernel.shape}")
        layer.kernel.data *= mask
        if layer.bias is not None:
            layer.bias.data *= mask.any(axis=0)


def sparsity(model) -> float:
    """Chapter 17: the fraction of Dense kernel weights that are exactly zero."""
    kernels = [layer.kernel.data for layer in _dense_layers(model, "sparsity")]
    return float(sum((k == 0).sum() for k in kernels) / sum(k.size for k in kernels))


def sparse_bytes(model) -> int:
    """Chapter 17: bytes of the kernels stored sparsely (CSR: values, int32 column indices, row pointers)."""
    total = 0
    for layer in _dense_layers(model, "sparse_bytes"):
        k = layer.kernel.data
        nnz = int(np.count_nonzero(k))
        total += nnz * (k.itemsize + 4) + (k.shape[0] + 1) * 4
        if layer.bias is not None:
            total += layer.bias.data.nbytes
    return total


class KeepPruned(Callback):
    """Chapter 17: a ``fit`` callback that re-applies pruning masks after every batch."""

    def __init__(self, masks: dict):
        super().__init__()
        self.masks = masks

    def on_train_batch_end(self, batch, logs=None):
        apply_masks(self.model, self.masks)


def shrink(model):
    """Chapter 17: a copy of a Sequential without the units its structured pruning removed.

    A Dense unit whose kernel column is all zero outputs a constant (``activation(bias)``)
    whatever the input; it is dropped, and that constant (carried through any
    BatchNormalization, Activation or Dropout layers in between) is folded into the next
    Dense layer's bias, so the copy computes exactly what the pruned model computes in
    inference mode. The output layer keeps all its units. Supported layers: Dense,
    BatchNormalization (last axis), Activation, Dropout.
    """
    from .layers.core import Activation, Dropout
    from .layers.normalization import BatchNormalization
    from .models import Sequential

    layers = list(getattr(model, "layers", []))
    if not layers or not isinstance(layers[0], Dense):
        raise TypeError("shrink: expected a Sequential whose first layer is Dense")
    for layer in layers:
        if not isinstance(layer, (Dense, BatchNormalization, Activation, Dropout)):
            raise TypeError(f"shrink: layer {layer.name!r} ({type(layer).__name__}) is not supported; "
                            "shrink handles Dense, BatchNormalization, Activation and Dropout")
    _dense_layers(model, "shrink")
    dense_positions = [i for i, layer in enumerate(layers) if isinstance(layer, Dense)]
    keep = np.ones(layers[0].kernel.shape[0], dtype=bool)   # which current features survive
    const = np.zeros(layers[0].kernel.shape[0])             # the value of each removed feature
    new_layers, weights = [], []
    for i, layer in enumerate(layers):
        config = layer.get_config()
        config.pop("input_shape", None)
        if i == 0:
            config["input_shape"] = [int(keep.sum())]
        if isinstance(layer, Dense):
            kernel = layer.kernel.data
            bias = layer.bias.data if layer.bias is not None else np.zeros(kernel.shape[1], kernel.dtype)
            bias = bias + (const[~keep] @ kernel[~keep]).astype(kernel.dtype)    # removed inputs are constants
            kernel = kernel[keep]
            last = i == dense_positions[-1]
            keep_out = np.ones(kernel.shape[1], bool) if last else np.any(kernel != 0, axis=0)
            if not keep_out.any():
                keep_out[0] = True   # a layer needs at least one unit
            const = np.zeros(kernel.shape[1])
            if (~keep_out).any():
                removed = Tensor(bias[None, ~keep_out])
                const[~keep_out] = (layer.activation(removed).data if layer.activation else removed.data)[0]
            if layer.bias is None and np.any(bias != 0):
                config["use_bias"] = True
            config["units"] = int(keep_out.sum())
            new_layers.append(Dense.from_config(config))
            weights.append(kernel[:, keep_out])
            if config.get("use_bias", True):
                weights.append(bias[keep_out])
            keep = keep_out
        elif isinstance(layer, BatchNormalization):
            if layer.axis not in (-1, 1):
                raise ValueError(f"shrink: BatchNormalization {layer.name!r} must normalize the last axis")
            scale = (layer.gamma.data if layer.gamma is not None else 1.0) / np.sqrt(layer.moving_variance + layer.epsilon)
            shift = (layer.beta.data if layer.beta is not None else 0.0) - layer.moving_mean * scale
            const = const * scale + shift
            new_layers.append(BatchNormalization.from_config(config))
            for arr in layer.get_weights():
                weights.append(arr[keep])
        else:
            if isinstance(layer, Activation):
                const = layer(Tensor(const[None])).data[0]
            new_layers.append(type(layer).from_config(config))
    small = Sequential(new_layers, name=f"{model.name}_shrunk")
    small.build((None, layers[0].kernel.shape[0]))
    small.set_weights(weights)
    return small


def distillation_loss(student_logits, teacher_logits, targets=None, temperature: float = 2.0,
                      alpha: float = 0.5):
    """Chapter 17: Hinton's knowledge-distillation loss (mean over the batch).

    ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, targets)``.
    The ``T^2`` keeps the soft term's gradient the same size whatever the temperature
    (the softened gradients shrink like 1/T^2). ``targets`` may be None when ``alpha``
    is 1 (teacher only). The teacher gets no gradient.
    """
    if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0):
        raise ValueError(f"distillation_loss: temperature must be a positive number, got {temperature!r}")
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 <= alpha <= 1):
        raise ValueError(f"distillation_loss: alpha must be in [0, 1], got {alpha!r}")
    s = student_logits if isinstance(student_logits, Tensor) else Tensor(student_logits)
    t = np.asarray(getattr(teacher_logits, "data", teacher_logits), dtype=s.dtype)
    if t.shape != s.shape:
        raise ValueError(f"distillation_loss: teacher logits {t.shape} and student logits {s.shape} differ in shape")
    T = float(temperature)
    z = t / T
    soft_teacher = np.exp(z - z.max(axis=-1, keepdims=True))
    soft_teacher /= soft_teacher.sum(axis=-1, keepdims=True)
    log_teacher = np.log(np.clip(soft_teacher, np.finfo(s.dtype).tiny, None))
    log_student = F.log_softmax(s / T, axis=-1)
    rows = int(np.prod(s.shape[:-1]))
    kl = ((Tensor(log_teacher) - log_student) * Tensor(soft_teacher)).sum() / rows
    loss = kl * (alpha * T * T)
    if alpha < 1:
        if targets is None:
            raise ValueError("distillation_loss: targets are needed when alpha < 1 (the hard-label term)")
        loss = loss + cross_entropy(s.reshape(rows, s.shape[-1]), np.asarray(targets).reshape(rows)) * (1 - alpha)
    return loss
