"""Chapter 15: carry nnlib models over to PyTorch and back (框架互操作), same weights, same numbers.

::

    from nnlib.interop import to_torch, from_torch
    tmodel = to_torch(model)               # a torch.nn.Module computing what model computes
    ...                                    # train it with torch.optim, torch.distributed, on a GPU
    from_torch(tmodel, like=model)         # copy the weights back into the nnlib model

Supported: :class:`~nnlib.models.Sequential` stacks of ``Dense`` (any activation),
``Activation``, ``Dropout``, ``Flatten`` and ``BatchNormalization``, and the
:class:`~nnlib.gpt.GPT` of chapter 12. The torch modules are written in plain torch, in
:mod:`nnlib.interop_modules`, to follow nnlib's conventions exactly:

* ``Dense`` keeps its kernel as (in, out) and computes ``x @ kernel + bias``;
  ``torch.nn.Linear`` stores ``weight`` as (out, in): the kernel is transposed on the
  way over and back.
* ``BatchNormalization`` follows Keras (momentum 0.99 is the weight of the *old*
  moving value, the moving variance is updated with the *biased* batch variance, and
  a layer with ``trainable = False`` always runs in inference mode), which
  ``torch.nn.BatchNorm1d`` does not; :class:`KerasBatchNorm` does.
* A frozen layer's parameters get ``requires_grad = False``.

Torch is imported only when these functions run: ``import nnlib`` never needs it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["to_torch", "from_torch", "weight_pairs"]


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed for the course
        raise ImportError("nnlib.interop needs PyTorch: python -m pip install torch") from exc
    return torch


def _modules():
    """nnlib.interop_modules, imported on first use (it imports torch)."""
    _torch()  # the friendly error when torch is missing
    from . import interop_modules
    return interop_modules


# ------------------------------------------------------------------------------ the weight map
def weight_pairs(model, module) -> list:
    """Chapter 15: ``[(name, owner, key, tensor, transpose), ...]`` pairing nnlib weights with torch tensors.

    ``owner`` is the nnlib Parameter (key None) or the layer holding a buffer ``key``;
    ``tensor`` is the torch parameter or buffer; ``transpose`` says whether the arrays
    are each other's transpose (Dense kernels).
    """
    from .gpt import GPT
    from .models import Sequential

    pairs = []
    if isinstance(model, GPT):
        pairs.append(("wte", model.wte.embeddings, None, module.wte.weight, False))
        pairs.append(("wpe", model.wpe.embeddings, None, module.wpe.weight, False))
        for i, (ours, theirs) in enumerate(zip(model.blocks, module.blocks)):
            for a, b, n in ((ours.ln1, theirs.ln1, "ln1"), (ours.ln2, theirs.ln2, "ln2")):
                pairs += [(f"blocks.{i}.{n}.gamma", a.gamma, None, b.weight, False),
                          (f"blocks.{i}.{n}.beta", a.beta, None, b.bias, False)]
            for dense, linear, n in ((ours.attn.q_proj, theirs.q, "q"), (ours.attn.k_proj, theirs.k, "k"),
                                     (ours.attn.v_proj, theirs.v, "v"), (ours.attn.out_proj, theirs.out, "out"),
                                     (ours.mlp_in, theirs.fc, "fc"), (ours.mlp_out, theirs.proj, "proj")):
                pairs.append((f"blocks.{i}.{n}.kernel", dense.kernel, None, linear.weight, True))
                if dense.bias is not None:
                    pairs.append((f"blocks.{i}.{n}.bias", dense.bias, None, linear.bias, False))
        pairs += [("ln_f.gamma", model.ln_f.gamma, None, module.ln_f.weight, False),
                  ("ln_f.beta", model.ln_f.beta, None, module.ln_f.bias, False)]
        if not model.config.tie_weights:
            pairs.append(("lm_head.kernel", model.lm_head.kernel, None, module.lm_head.weight, True))
        return pairs
    if isinstance(model, Sequential):
        from .layers.core import Dense
        from .layers.normalization import BatchNormalization

        if len(model.layers) != len(module.layers):
            raise ValueError(f"the nnlib model has {len(model.layers)} layers, the torch module {len(module.layers)}")
        for i, (layer, tlayer) in enumerate(zip(model.layers, module.layers)):
            if isinstance(layer, Dense):
                pairs.append((f"{layer.name}.kernel", layer.kernel, None, tlayer.linear.weight, True))
                if layer.bias is not None:
                    pairs.append((f"{layer.name}.bias", layer.bias, None, tlayer.linear.bias, False))
            elif isinstance(layer, BatchNormalization):
                if layer.gamma is not None:
                    pairs.append((f"{layer.name}.gamma", layer.gamma, None, tlayer.weight, False))
                if layer.beta is not None:
                    pairs.append((f"{layer.name}.beta", layer.beta, None, tlayer.bias, False))
                pairs.append((f"{layer.name}.moving_mean", layer, "moving_mean", tlayer.running_mean, False))
                pairs.append((f"{layer.name}.moving_variance", layer, "moving_variance", tlayer.running_var, False))
        return pairs
    raise TypeError(f"interop supports Sequential and GPT models, got {type(model).__name__}")


def _copy_to_torch(pairs) -> None:
    torch = _torch()
    with torch.no_grad():
        for name, owner, key, tensor, transpose in pairs:
            arr = owner.data if key is None else owner.get_buffer(key)
            arr = arr.T if transpose else arr
            if tuple(arr.shape) != tuple(tensor.shape):
                raise ValueError(f"{name}: nnlib shape {tuple(arr.shape)} does not fit torch shape "
                                 f"{tuple(tensor.shape)}")
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(arr)).to(tensor.dtype))


# ------------------------------------------------------------------------------ public API
def to_torch(model, device=None):
    """Chapter 15: a ``torch.nn.Module`` that computes what ``model`` computes, with a copy of its weights.

    ``model`` is a built :class:`~nnlib.models.Sequential` (Dense, Activation, Dropout,
    Flatten, BatchNormalization) or a :class:`~nnlib.gpt.GPT`. The module is in the
    same mode (train/eval) as the model, in float32 (or the model's float64), on
    ``device`` if given. Frozen layers' parameters get ``requires_grad = False``.
    """
    from .gpt import GPT
    from .layers.core import Activation, Dense, Dropout, Flatten
    from .layers.normalization import BatchNormalization
    from .models import Sequential

    mods = _modules()
    if isinstance(model, GPT):
        module = mods.TorchGPT(model.config)
    elif isinstance(model, Sequential):
        if not model.built:
            raise ValueError(f"to_torch: model {model.name!r} is not built yet (its weights do not exist); "
                             "give the first layer an input_shape or call model.build((None, n_features))")
        shape = model.input_shape
        layers = []
        for layer in model.layers:
            if isinstance(layer, Dense):
                t = mods.Dense(shape[-1], layer.units, layer.use_bias, layer.activation_name)
            elif isinstance(layer, Activation):
                t = mods.Activation(layer.activation_name)
            elif isinstance(layer, Dropout):
                t = mods.Dropout(layer.rate)
            elif isinstance(layer, Flatten):
                t = mods.Flatten()
            elif isinstance(layer, BatchNormalization):
                if layer.axis % len(shape) != len(shape) - 1:
                    raise ValueError(f"to_torch: layer {layer.name!r} normalizes axis {layer.axis}; only the last "
                                     "axis is supported")
                t = mods.KerasBatchNorm(shape[-1], layer.momentum, layer.epsilon, layer.center, layer.scale,
                                           frozen=not layer.trainable)
            else:
                raise TypeError(f"to_torch: layer {layer.name!r} ({type(layer).__name__}) has no torch twin; "
                                "supported: Dense, Activation, Dropout, Flatten, BatchNormalization")
            if not (layer.trainable and model.trainable):
                for p in t.parameters():
                    p.requires_grad_(False)
            layers.append(t)
            shape = layer.compute_output_shape(shape)
        module = mods.TorchSequential(layers)
    else:
        raise TypeError(f"to_torch: supports Sequential and GPT models, got {type(model).__name__}")
    dtype = next(iter(model.parameters())).dtype
    if dtype == np.float64:
        module = module.double()
    _copy_to_torch(weight_pairs(model, module))
    module.train(bool(model.training))
    if device is not None:
        module = module.to(device)
    return module


def from_torch(module, like=None):
    """Chapter 15: copy a :func:`to_torch` module's weights back into an nnlib model and return it.

    ``like`` is the nnlib model to write into (its architecture must match); for a GPT
    it may be omitted and a new :class:`~nnlib.gpt.GPT` of the module's config is made.
    The arrays keep the nnlib model's dtype; tensors on a GPU are brought to the CPU.
    """
    mods = _modules()
    if like is None:
        if isinstance(module, mods.TorchGPT):
            from .gpt import GPT
            like = GPT(module.config)
        else:
            raise ValueError("from_torch: pass like=<the nnlib model> to copy a Sequential's weights into")
    for name, owner, key, tensor, transpose in weight_pairs(like, module):
        arr = tensor.detach().cpu().numpy()
        arr = arr.T if transpose else arr
        target = owner.data if key is None else owner.get_buffer(key)
        if arr.shape != target.shape:
            raise ValueError(f"{name}: torch shape {arr.shape} does not fit nnlib shape {target.shape}")
        target[...] = arr  # in place: optimizers and caches keep pointing at the same arrays
    return like
