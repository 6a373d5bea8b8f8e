"""Chapter 15: carry nnlib models over to PyTorch and back (框架互操作), same weights, same numbers.

::

    from nnlib.interop import to_torch, from_torch
    tmodel = to_torch(model)               # a torch.nn.Module computing what model computes
    ...                                    # train it with torch.optim, torch.distributed, on a GPU
    from_torch(tmodel, like=model)         # copy the weights back into the nnlib model

Supported: :class:`~nnlib.models.Sequential` stacks of ``Dense`` (any activation),
``Activation``, ``Dropout``, ``Flatten`` and ``BatchNormalization``, and the
:class:`~nnlib.gpt.GPT` of chapter 12. The torch modules are written here, in plain
torch, to follow nnlib's conventions exactly:

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


_MODULES: dict = {}


def _modules():
    """Define the torch module classes once, on first use (torch is imported lazily)."""
    if _MODULES:
        return _MODULES
    torch = _torch()
    nn = torch.nn
    TF = torch.nn.functional

    def activation_fn(name):
        table = {
            None: None, "linear": None, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "gelu": TF.gelu, "softmax": lambda x: torch.softmax(x, dim=-1),
            "leaky_relu": lambda x: TF.leaky_relu(x, 0.01),
        }
        if name not in table:
            raise ValueError(f"to_torch: activation {name!r} has no torch twin; supported: "
                             f"{sorted(k for k in table if k)}")
        return table[name]

    class Dense(nn.Module):
        """nnlib's Dense in torch: a Linear plus its activation (by Keras name)."""

        def __init__(self, n_in, units, use_bias=True, activation=None):
            super().__init__()
            self.linear = nn.Linear(n_in, units, bias=use_bias)
            self.activation = activation
            self._fn = activation_fn(activation)

        def forward(self, x):
            x = self.linear(x)
            return x if self._fn is None else self._fn(x)

        def extra_repr(self):
            return f"activation={self.activation!r}"

    class Activation(nn.Module):
        def __init__(self, activation):
            super().__init__()
            self.activation = activation
            self._fn = activation_fn(activation)

        def forward(self, x):
            return x if self._fn is None else self._fn(x)

    class Flatten(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], -1)

    class KerasBatchNorm(nn.Module):
        """BatchNormalization with Keras' conventions (see the module docstring)."""

        def __init__(self, channels, momentum=0.99, epsilon=1e-3, center=True, scale=True, frozen=False):
            super().__init__()
            self.momentum, self.epsilon, self.frozen = float(momentum), float(epsilon), bool(frozen)
            self.weight = nn.Parameter(torch.ones(channels)) if scale else None
            self.bias = nn.Parameter(torch.zeros(channels)) if center else None
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))

        def forward(self, x):
            if self.training and not self.frozen:
                dims = [d for d in range(x.dim()) if d != x.dim() - 1]
                mean = x.mean(dim=dims)
                var = ((x - mean) ** 2).mean(dim=dims)
                with torch.no_grad():
                    self.running_mean.mul_(self.momentum).add_(mean.detach() * (1.0 - self.momentum))
                    self.running_var.mul_(self.momentum).add_(var.detach() * (1.0 - self.momentum))
            else:
                mean, var = self.running_mean, self.running_var
            out = (x - mean) / torch.sqrt(var + self.epsilon)
            if self.weight is not None:
                out = out * self.weight
            if self.bias is not None:
                out = out + self.bias
            return out

    class TorchSequential(nn.Module):
        """A Sequential's layers, in order, as torch modules (``self.layers``)."""

        def __init__(self, layers):
            super().__init__()
            self.layers = nn.ModuleList(layers)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    class Block(nn.Module):
        """GPT-2 pre-LayerNorm block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

        def __init__(self, d, heads, dropout):
            super().__init__()
            self.heads, self.dropout = heads, dropout
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
            self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            b, t, d = x.shape
            h = self.ln1(x)
            q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
                       for z in (self.q(h), self.k(h), self.v(h)))
            scores = (q @ k.transpose(-2, -1)) / float(d // self.heads) ** 0.5
            causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            att = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
            att = TF.dropout(att, self.dropout, self.training)
            a = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = x + self.drop(self.out(a))
            return x + self.drop(self.proj(TF.gelu(self.fc(self.ln2(x)), approximate="tanh")))

    class TorchGPT(nn.Module):
        """nnlib.gpt.GPT in torch: token + position embeddings, blocks, final LayerNorm, (tied) head."""

        def __init__(self, config):
            super().__init__()
            c = config
            self.config = c
            self.wte, self.wpe = nn.Embedding(c.vocab_size, c.d_model), nn.Embedding(c.context_length, c.d_model)
            self.drop = nn.Dropout(c.dropout)
            self.blocks = nn.ModuleList(Block(c.d_model, c.n_heads, c.dropout) for _ in range(c.n_layers))
            self.ln_f = nn.LayerNorm(c.d_model)
            self.lm_head = None if c.tie_weights else nn.Linear(c.d_model, c.vocab_size, bias=False)

        def forward(self, idx):
            t = idx.shape[-1]
            x = self.drop(self.wte(idx) + self.wpe(torch.arange(t, device=idx.device)))
            for block in self.blocks:
                x = block(x)
            x = self.ln_f(x)
            return x @ self.wte.weight.T if self.lm_head is None else self.lm_head(x)

        def loss(self, idx, targets):
            """Mean next-token cross-entropy, as nnlib's ``GPT.loss``."""
            logits = self(idx)
            return TF.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    _MODULES.update(Dense=Dense, Activation=Activation, Flatten=Flatten, KerasBatchNorm=KerasBatchNorm,
                    TorchSequential=TorchSequential, TorchGPT=TorchGPT, Block=Block,
                    Dropout=nn.Dropout)
    return _MODULES


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
    torch = _torch()
    from .gpt import GPT
    from .layers.core import Activation, Dense, Dropout, Flatten
    from .layers.normalization import BatchNormalization
    from .models import Sequential

    mods = _modules()
    if isinstance(model, GPT):
        module = mods["TorchGPT"](model.config)
    elif isinstance(model, Sequential):
        if not model.built:
            raise ValueError(f"to_torch: model {model.name!r} is not built yet (its weights do not exist); "
                             "give the first layer an input_shape or call model.build((None, n_features))")
        shape = model.input_shape
        layers = []
        for layer in model.layers:
            if isinstance(layer, Dense):
                t = mods["Dense"](shape[-1], layer.units, layer.use_bias, layer.activation_name)
            elif isinstance(layer, Activation):
                t = mods["Activation"](layer.activation_name)
            elif isinstance(layer, Dropout):
                t = mods["Dropout"](layer.rate)
            elif isinstance(layer, Flatten):
                t = mods["Flatten"]()
            elif isinstance(layer, BatchNormalization):
                if layer.axis % len(shape) != len(shape) - 1:
                    raise ValueError(f"to_torch: layer {layer.name!r} normalizes axis {layer.axis}; only the last "
                                     "axis is supported")
                t = mods["KerasBatchNorm"](shape[-1], layer.momentum, layer.epsilon, layer.center, layer.scale,
                                           frozen=not layer.trainable)
            else:
                raise TypeError(f"to_torch: layer {layer.name!r} ({type(layer).__name__}) has no torch twin; "
                                "supported: Dense, Activation, Dropout, Flatten, BatchNormalization")
            if not (layer.trainable and model.trainable):
                for p in t.parameters():
                    p.requires_grad_(False)
            layers.append(t)
            shape = layer.compute_output_shape(shape)
        module = mods["TorchSequential"](layers)
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
        if isinstance(module, mods["TorchGPT"]):
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
