"""Chapter 13: LoRA, low-rank adaptation (低秩适配) for fine-tuning large models cheaply.

A pretrained Dense layer computes ``x W``. LoRA freezes ``W`` and learns a
small correction of rank ``r``:

    y = x W + b + (alpha / r) * x A B,     A: (in, r),  B: (r, out)

``A`` starts random (PyTorch's kaiming-uniform with a = sqrt(5), i.e.
U(-1/sqrt(in), 1/sqrt(in))) and ``B`` starts at zero, so the adapted model
starts out exactly equal to the pretrained one. Only ``A`` and ``B`` train:
for a 128 x 128 projection and r = 4 that is 1,024 numbers instead of 16,384.
After training, ``W + (alpha / r) A B`` is folded back into the kernel
(:func:`merge_lora`) and the model runs as fast as before.

::

    from nnlib.lora import apply_lora, merge_lora, lora_parameters, trainable_parameter_count
    apply_lora(model, rank=4, alpha=8, targets=("q", "v"))   # adapters on the query/value projections
    print(trainable_parameter_count(model))
    opt = AdamW(lora_parameters(model), lr=1e-3)
    ...                                                      # train as usual
    merge_lora(model)                                        # plain Dense layers again
"""
from __future__ import annotations

import fnmatch
import math
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from .layers.base import Layer
from .layers.core import Dense
from .module import Module
from .random import dropout_mask, get_rng
from .engine import Parameter, Tensor, as_tensor

__all__ = ["LoRADense", "lora_linear", "apply_lora", "merge_lora", "lora_layers", "lora_parameters", "lora_state_dict",
           "load_lora_state_dict", "trainable_parameter_count", "ParameterCount"]


def lora_linear(x, kernel, bias, lora_A, lora_B, scaling: float, keep=None) -> Tensor:
    """Chapter 13: ``x W + b + scaling * ((x * keep) A) B`` as one graph node.

    The low-rank path runs as two thin products, (x A) then B, never building the
    full ``A B``. The backward pass keeps only ``x`` and the thin ``x A`` (N x r), so an
    adapted layer holds little more for backpropagation than the plain layer does, and it
    skips the gradients of frozen weights. ``keep`` is an optional dropout mask (already
    scaled by 1/(1-p)) on the adapter's input.
    """
    x = as_tensor(x)
    xd = x.data
    x2 = xd.reshape(-1, xd.shape[-1])
    w, a, b_ = kernel.data, lora_A.data, lora_B.data
    scaling = float(scaling)
    out = x2 @ w
    if bias is not None:
        out += bias.data
    h2 = x2 if keep is None else (xd * keep).reshape(x2.shape)
    xa = h2 @ a
    xa *= scaling  # (N, r): cheaper to scale than the (N, out) result
    out += xa @ b_
    parents = tuple(t for t in (x, kernel, bias, lora_A, lora_B) if t is not None)
    out_shape = xd.shape[:-1] + (w.shape[1],)

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])
        gxa = g2 @ b_.T if (lora_A.requires_grad or x.requires_grad) else None  # dL/d(scaled xA)
        if gxa is not None:
            gxa *= scaling
        grads = {"B": xa.T @ g2 if lora_B.requires_grad else None,
                 "A": h2.T @ gxa if lora_A.requires_grad else None,
                 "W": x2.T @ g2 if kernel.requires_grad else None,
                 "b": (np.ones(g2.shape[0], dtype=g2.dtype) @ g2) if bias is not None and bias.requires_grad
                 else None}
        if x.requires_grad:
            gh = gxa @ a.T
            if keep is not None:
                gh *= keep.reshape(gh.shape)
            gx = g2 @ w.T
            gx += gh
            grads["x"] = gx.reshape(xd.shape)
        names = ["x", "W"] + (["b"] if bias is not None else []) + ["A", "B"]
        return tuple(grads.get(n) for n in names)
    return Tensor.from_op(out.reshape(out_shape), parents, backward)


class LoRADense(Layer):
    """Chapter 13: a frozen Dense layer plus a trainable low-rank update, ``x W + b + (alpha/r) x A B``.

    ``LoRADense(base, rank=8, alpha=16, dropout=0.0, rng=None)``. ``base`` is the wrapped
    :class:`~nnlib.layers.Dense` (its kernel and bias are frozen by :func:`apply_lora`);
    ``lora_A`` (in, rank) and ``lora_B`` (rank, out) are the adapter; ``dropout``
    applies to the adapter's input only, in training mode.
    """

    def __init__(self, base: Dense, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0, rng=None,
                 name: str | None = None):
        if not isinstance(base, Dense) or base.kernel is None:
            raise TypeError(f"LoRADense wraps a built Dense layer (with its kernel), got {base!r}")
        if int(rank) != rank or rank < 1:
            raise ValueError(f"LoRADense: rank must be a positive integer, got {rank!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRADense: dropout must be in [0, 1), got {dropout}")
        super().__init__(name=name or f"{base.name}_lora")
        self.base = base
        self.rank = int(rank)
        self.alpha = float(alpha)
        self.scaling = self.alpha / self.rank
        self.dropout = float(dropout)
        in_features, out_features = base.kernel.shape
        dtype = base.kernel.dtype
        bound = 1.0 / math.sqrt(in_features)  # kaiming_uniform_(a=sqrt(5)) on a (rank, in) weight
        rng = get_rng() if rng is None else rng
        self.lora_A = Parameter(rng.uniform(-bound, bound, size=(in_features, self.rank)).astype(dtype))
        self.lora_B = Parameter(np.zeros((self.rank, out_features), dtype=dtype))
        self.built = True

    @property
    def kernel(self):
        """Chapter 13: the frozen base kernel (so code that reads ``layer.kernel`` keeps working)."""
        return self.base.kernel

    @property
    def bias(self):
        """Chapter 13: the frozen base bias."""
        return self.base.bias

    def forward(self, x):
        """Chapter 13: ``activation(x W + b + scaling * (x A) B)``."""
        base = self.base
        if x.shape[-1] != base.kernel.shape[0]:
            raise ValueError(f"layer {self.name!r} (LoRA on Dense {base.name!r}) expects inputs with "
                             f"{base.kernel.shape[0]} features on the last axis, got shape {tuple(x.shape)}")
        keep = None
        if self.training and self.dropout > 0.0:
            keep = dropout_mask(x.shape, self.dropout, x.dtype)
        out = lora_linear(x, base.kernel, base.bias, self.lora_A, self.lora_B, self.scaling, keep)
        return out if base.activation is None else base.activation(out)

    def merged_kernel(self) -> np.ndarray:
        """Chapter 13: ``W + (alpha / r) A B``, the kernel of the equivalent plain Dense layer."""
        delta = self.lora_A.data @ self.lora_B.data
        delta *= self.scaling
        return self.base.kernel.data + delta

    def compute_output_shape(self, input_shape):
        """Chapter 13: the same as the base layer's."""
        return self.base.compute_output_shape(input_shape)

    def __repr__(self) -> str:
        k = self.base.kernel.shape
        return f"LoRADense({k[0]} -> {k[1]}, rank={self.rank}, alpha={self.alpha:g})"


class ParameterCount(NamedTuple):
    """Chapter 13: how many parameters train, out of how many."""

    trainable: int
    total: int

    @property
    def fraction(self) -> float:
        """Chapter 13: trainable / total."""
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return (f"trainable params: {self.trainable:,} || all params: {self.total:,} || "
                f"trainable%: {100.0 * self.fraction:.4f}")


def _named_dense_slots(model: Module):
    """Yield (dotted name, parent container, key, layer) for every Dense/LoRADense in ``model``.

    ``parent`` is the object holding the layer and ``key`` the attribute name (str) or
    list index (int), so the layer can be replaced in place.
    """
    names = {id(m): n for n, m in model.named_modules()}
    for module in model.modules():
        if isinstance(module, LoRADense):
            continue  # its `base` is not a target of its own
        prefix = names.get(id(module), "")
        for attr, value in list(vars(module).items()):
            if attr.startswith("_"):
                continue
            if isinstance(value, (Dense, LoRADense)):
                yield names.get(id(value), f"{prefix}.{attr}".lstrip(".")), module, attr, value
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, (Dense, LoRADense)):
                        yield names.get(id(item), f"{prefix}.{attr}.{i}".lstrip(".")), value, i, item


def _replace(parent, key, new) -> None:
    if isinstance(parent, list):
        parent[key] = new
    else:
        setattr(parent, key, new)


def _matches(name: str, targets) -> bool:
    last = name.rsplit(".", 1)[-1]
    for t in targets:
        if fnmatch.fnmatchcase(name, t) or fnmatch.fnmatchcase(last, t) or last == f"{t}_proj":
            return True
    return False


def apply_lora(model: Module, rank: int = 8, alpha: float = 16.0, targets=("q", "v"), dropout: float = 0.0,
               seed: int | None = None) -> Module:
    """Chapter 13: put LoRA adapters on the chosen Dense layers of ``model`` and freeze everything else.

    ``targets`` are names or shell-style patterns matched against each Dense layer's
    dotted name (``"blocks.0.attn.q_proj"``) and its last part: ``"q"`` means ``q_proj``,
    ``("q", "k", "v", "out")`` all attention projections, ``"mlp_*"`` the MLP layers,
    ``"*"`` every Dense. Every parameter of the model is frozen (``requires_grad=False``)
    except the adapters. ``seed`` seeds the adapters' initialization (default: nnlib's
    global generator). Modifies ``model`` in place and returns it.
    """
    if isinstance(targets, str):
        targets = (targets,)
    targets = tuple(targets)
    slots = [s for s in _named_dense_slots(model) if isinstance(s[3], Dense) and _matches(s[0], targets)]
    if not slots:
        available = [n for n, _, _, layer in _named_dense_slots(model) if isinstance(layer, Dense)]
        raise ValueError(f"apply_lora: no Dense layer matches targets {targets}; the model's Dense layers are "
                         f"{available[:12]}{' ...' if len(available) > 12 else ''}")
    saved = model.__dict__.get("_lora_saved_flags")
    if saved is None:
        model.__dict__["_lora_saved_flags"] = [(p, p.requires_grad) for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad = False
    rng = np.random.default_rng(seed) if seed is not None else None
    for name, parent, key, layer in slots:
        _replace(parent, key, LoRADense(layer, rank=rank, alpha=alpha, dropout=dropout, rng=rng))
    for p in lora_parameters(model):
        p.requires_grad = True
    return model


def lora_layers(model: Module) -> list:
    """Chapter 13: (dotted name, LoRADense) for every adapter in ``model``."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoRADense)]


def lora_parameters(model: Module) -> list:
    """Chapter 13: the adapters' parameters (``lora_A`` and ``lora_B`` of every LoRADense), for the optimizer."""
    params = []
    for _, layer in lora_layers(model):
        params += [layer.lora_A, layer.lora_B]
    return params


def lora_state_dict(model: Module) -> "OrderedDict[str, np.ndarray]":
    """Chapter 13: copies of only the adapter weights, by dotted name (small enough to share or save)."""
    return OrderedDict((name, p.data.copy()) for name, p in model.named_parameters()
                       if name.endswith((".lora_A", ".lora_B")) or name in ("lora_A", "lora_B"))


def load_lora_state_dict(model: Module, state: dict) -> None:
    """Chapter 13: load adapter weights saved by :func:`lora_state_dict` into a model with the same adapters."""
    own = lora_state_dict(model)
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise KeyError(f"load_lora_state_dict: missing adapter weights {missing}, unexpected {unexpected}; "
                       f"apply_lora with the same targets and rank first")
    model.load_state_dict(state, strict=False)


def trainable_parameter_count(model: Module) -> ParameterCount:
    """Chapter 13: ``ParameterCount(trainable, total)``; ``print()`` it for a one-line report."""
    params = model.parameters()
    return ParameterCount(int(sum(p.size for p in params if p.requires_grad)), int(sum(p.size for p in params)))


def merge_lora(model: Module) -> Module:
    """Chapter 13: fold every adapter into its base kernel and put the plain Dense layers back.

    The merged model gives the same outputs (to float32 rounding) without the extra
    matrix products. Parameters get back the ``requires_grad`` they had before
    :func:`apply_lora`. Modifies ``model`` in place and returns it.
    """
    found = False
    for _, parent, key, layer in list(_named_dense_slots(model)):
        if isinstance(layer, LoRADense):
            layer.base.kernel.data = layer.merged_kernel()
            _replace(parent, key, layer.base)
            found = True
    if not found:
        raise ValueError("merge_lora: the model has no LoRA adapters (apply_lora adds them)")
    saved = model.__dict__.pop("_lora_saved_flags", None)
    if saved is not None:
        for p, flag in saved:
            p.requires_grad = flag
    return model
