"""Chapter 15: the torch modules that :mod:`nnlib.interop` builds, written to follow nnlib's conventions.

One torch ``nn.Module`` per nnlib piece that :func:`nnlib.interop.to_torch` carries over:
:class:`Dense` (a ``Linear`` plus the activation, by Keras name), :class:`Activation`,
:class:`Flatten`, :class:`KerasBatchNorm` (Keras' momentum and biased moving variance;
``torch.nn.BatchNorm1d`` differs), :class:`TorchSequential`, and the GPT of chapter 12 as
:class:`TorchGPT` made of :class:`Block` (GPT-2's pre-LayerNorm block, tanh-form GELU).
Dropout is ``torch.nn.Dropout``.

This module imports torch; ``import nnlib`` and ``import nnlib.interop`` do not (interop
imports it when a conversion runs).
"""
from __future__ import annotations

try:
    import torch
except ImportError as exc:  # pragma: no cover - torch is installed for the course
    raise ImportError("nnlib.interop needs PyTorch: python -m pip install torch") from exc

nn = torch.nn
TF = torch.nn.functional
Dropout = nn.Dropout

__all__ = ["Dense", "Activation", "Flatten", "KerasBatchNorm", "TorchSequential", "Block", "TorchGPT", "Dropout"]


def _activation_fn(name):
    """The torch function for an nnlib activation name (Keras' names), None for linear."""
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
    """Chapter 15: nnlib's Dense in torch: a Linear plus its activation (by Keras name)."""

    def __init__(self, n_in, units, use_bias=True, activation=None):
        super().__init__()
        self.linear = nn.Linear(n_in, units, bias=use_bias)
        self.activation = activation
        self._fn = _activation_fn(activation)

    def forward(self, x):
        x = self.linear(x)
        return x if self._fn is None else self._fn(x)

    def extra_repr(self):
        return f"activation={self.activation!r}"


class Activation(nn.Module):
    """Chapter 15: nnlib's Activation layer (by Keras name)."""

    def __init__(self, activation):
        super().__init__()
        self.activation = activation
        self._fn = _activation_fn(activation)

    def forward(self, x):
        return x if self._fn is None else self._fn(x)


class Flatten(nn.Module):
    """Chapter 15: nnlib's Flatten: every axis after the batch axis into one."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class KerasBatchNorm(nn.Module):
    """Chapter 15: BatchNormalization with Keras' conventions (see :mod:`nnlib.interop`)."""

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
    """Chapter 15: a Sequential's layers, in order, as torch modules (``self.layers``)."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Block(nn.Module):
    """Chapter 15: GPT-2's pre-LayerNorm block: x + attn(ln1(x)), then x + mlp(ln2(x)) (tanh-form GELU)."""

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
    """Chapter 15: nnlib.gpt.GPT in torch: token + position embeddings, blocks, final LayerNorm, (tied) head."""

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
