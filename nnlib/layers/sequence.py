"""Chapter 11: layers for sequences -- Embedding, LayerNorm, SelfAttention, TransformerBlock.

These are the pieces of a GPT (chapter 12):

* :class:`Embedding` (词嵌入): a lookup table, row ``i`` is the vector of token ``i``.
* :class:`LayerNorm` (层归一化): normalize each position's vector to mean 0 and
  variance 1, then scale and shift (``gamma``, ``beta``).
* :class:`SelfAttention` (多头自注意力): several attention heads side by side,
  each on its own slice of the projected queries, keys and values.
* :class:`TransformerBlock`: GPT-2's pre-LayerNorm block,
  ``x = x + attn(ln1(x)); x = x + mlp(ln2(x))`` with a 4x-wide GELU MLP.

The layers call the fused operations of :mod:`nnlib.attention` (``embedding``,
``layer_norm``, ``scaled_dot_product_attention``, ``fused_self_attention``), whose
backward passes are written by hand. Weights follow nnlib's Keras layout:
Dense kernels are (in_features, out_features).
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import initializers
from ..attention import (LayerKVCache, additive_mask, causal_mask, embedding, fused_self_attention, layer_norm,
                         scaled_dot_product_attention)
from ..engine import Parameter, Tensor, as_tensor, is_grad_enabled
from .base import Layer
from ..saving.registry import register_layer
from .core import Dense

__all__ = ["Embedding", "LayerNorm", "SelfAttention", "TransformerBlock", "embedding", "layer_norm",
           "gpt2_normal"]

def gpt2_normal(std: float = 0.02):
    """Chapter 11: an initializer drawing from N(0, std^2), GPT-2's choice (std 0.02).

    Keras' ``"normal"`` has std 0.05; GPT-2's 0.02 is this function's, passed explicitly
    (``Embedding(V, d, embeddings_initializer=gpt2_normal())``, as ``nnlib.gpt.GPT`` does).
    """
    def init(shape, dtype=np.float32, rng=None):
        return initializers.normal(shape, dtype, rng=rng, stddev=std)
    init.__name__ = "gpt2_normal"
    return init


@register_layer
class Embedding(Layer):
    """Chapter 11: a trainable lookup table of ``input_dim`` vectors of size ``output_dim``.

    ``Embedding(vocab_size, d_model)(ids)`` maps integer ids of any shape to
    vectors, shape ids.shape + (d_model,). The table is ``.embeddings``, shape
    (input_dim, output_dim), like ``torch.nn.Embedding.weight``. Keras' name and
    arguments, so Keras' default initializer: ``"uniform"``, U(-0.05, 0.05); a GPT passes
    GPT-2's N(0, 0.02^2) explicitly, ``embeddings_initializer=gpt2_normal()``.
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform", name=None,
                 trainable: bool = True, dtype="float32"):
        super().__init__(name=name, trainable=trainable)
        if int(input_dim) <= 0 or int(output_dim) <= 0:
            raise ValueError(f"Embedding: input_dim and output_dim must be positive, got {input_dim}, {output_dim}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.dtype = np.dtype(dtype)
        init = initializers.get(embeddings_initializer)
        self.embeddings = Parameter(init((self.input_dim, self.output_dim), self.dtype))
        self.built = True

    def __call__(self, ids):
        return self.forward(ids)

    def forward(self, ids):
        """Chapter 11: the vectors of integer ``ids`` (any shape), shape ids.shape + (output_dim,)."""
        arr = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
        if arr.dtype.kind == "f" and arr.size and not np.all(arr == np.round(arr)):
            raise TypeError(f"layer {self.name!r} (Embedding) takes integer token ids, got float values")
        try:
            return embedding(arr, self.embeddings)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"layer {self.name!r} (Embedding): {exc}") from None

    def compute_output_shape(self, input_shape):
        """Chapter 11: ids.shape + (output_dim,)."""
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict:
        """Chapter 11: input_dim and output_dim (for ``save``/``load_model``)."""
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim)
        return config


@register_layer
class LayerNorm(Layer):
    """Chapter 11: layer normalization over the last axis, as ``torch.nn.LayerNorm`` (eps 1e-5).

    ``gamma`` (scale, ones) and ``beta`` (shift, zeros) have the size of the last
    axis; pass ``normalized_shape`` to build them now, or they are built on first call.
    """

    def __init__(self, normalized_shape: int | None = None, eps: float = 1e-5, elementwise_affine: bool = True,
                 name=None, trainable: bool = True, dtype="float32"):
        super().__init__(name=name, trainable=trainable)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.dtype = np.dtype(dtype)
        self.normalized_shape = None
        self.gamma = None
        self.beta = None
        if normalized_shape is not None:
            self.build((None, int(normalized_shape)))
            self.built = True

    def build(self, input_shape) -> None:
        """Chapter 11: create gamma (ones) and beta (zeros) of the size of the last axis."""
        d = int(input_shape[-1])
        self.normalized_shape = d
        if self.elementwise_affine:
            self.gamma = Parameter(np.ones(d, dtype=self.dtype))
            self.beta = Parameter(np.zeros(d, dtype=self.dtype))
        self.built = True

    def forward(self, x):
        """Chapter 11: :func:`layer_norm` of ``x`` with this layer's gamma and beta."""
        if x.shape[-1] != self.normalized_shape:
            raise ValueError(f"layer {self.name!r} (LayerNorm) normalizes a last axis of size "
                             f"{self.normalized_shape}, got input of shape {tuple(x.shape)}")
        return layer_norm(x, self.gamma, self.beta, self.eps)

    def get_config(self) -> dict:
        """Chapter 11: normalized_shape, eps, elementwise_affine."""
        config = super().get_config()
        config.update(normalized_shape=self.normalized_shape, eps=self.eps,
                      elementwise_affine=self.elementwise_affine)
        return config


class _SplitHeads:
    """(B, T, H*D) -> (B, H, T, D) and back, each as one graph node."""

    @staticmethod
    def split(x: Tensor, n_heads: int) -> Tensor:
        """(B, T, H*D) -> (B, H, T, D), a view."""
        b, t, d = x.shape
        shape = x.shape
        out = x.data.reshape(b, t, n_heads, d // n_heads).transpose(0, 2, 1, 3)
        return Tensor.from_op(out, (x,), lambda g: (g.transpose(0, 2, 1, 3).reshape(shape),))

    @staticmethod
    def merge(x: Tensor) -> Tensor:
        """(B, H, T, D) -> (B, T, H*D), a contiguous copy."""
        b, h, t, hd = x.shape
        out = x.data.transpose(0, 2, 1, 3).reshape(b, t, h * hd)
        return Tensor.from_op(out, (x,), lambda g: (g.reshape(b, t, h, hd).transpose(0, 2, 1, 3),))


@register_layer
class SelfAttention(Layer):
    """Chapter 11: multi-head (self- or cross-) attention with an optional causal mask and KV cache.

    ``SelfAttention(d_model, num_heads, dropout=0.0, causal=False)``, named as nanoGPT's
    ``CausalSelfAttention`` (the naming rule: Keras' ``MultiHeadAttention`` takes
    ``(num_heads, key_dim)`` and torch's ``nn.MultiheadAttention`` a ``(query, key, value)``
    forward, so neither name fits these arguments). Four Dense
    projections ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj`` (each d_model -> d_model);
    the queries, keys and values are split into ``num_heads`` heads of size
    d_model // num_heads, attended separately, concatenated and projected.

    ``forward(x, context=None, mask=None, cache=None, causal=None, need_weights=False)``:

    - ``x`` (B, T, d_model); keys and values come from ``context`` (cross-attention)
      or from ``x`` (self-attention).
    - ``mask``: boolean (True = may attend) or additive float, broadcastable to (B, H, T, Tk).
    - ``cache``: a :class:`~nnlib.attention.LayerKVCache` (inference only, under
      ``nnlib.no_grad()``): the new keys/values are appended and the queries attend
      to everything cached; a causal mask then aligns the queries with the last keys.
    - ``need_weights``: return ``(output, weights)`` with the attention weights as an
      ndarray (B, H, T, Tk), e.g. for a heatmap.
    """

    #: run the q/k/v projections as one matmul when they are plain Dense layers (self-attention,
    #: no cache); the same math, in fewer and larger operations. Set False to compare.
    fuse_projections = True

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, causal: bool = False,
                 use_bias: bool = True, kernel_initializer=None, out_initializer=None, name=None,
                 trainable: bool = True, dtype="float32"):
        super().__init__(name=name, trainable=trainable)
        d_model, num_heads = int(d_model), int(num_heads)
        if d_model <= 0 or num_heads <= 0 or d_model % num_heads:
            raise ValueError(f"SelfAttention: d_model ({d_model}) must be a positive multiple of "
                             f"num_heads ({num_heads})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"SelfAttention: dropout must be in [0, 1), got {dropout}")
        self.d_model, self.num_heads = d_model, num_heads
        self.head_dim = d_model // num_heads
        self.dropout = float(dropout)
        self.causal = bool(causal)
        self.use_bias = bool(use_bias)
        kinit = gpt2_normal() if kernel_initializer is None else kernel_initializer
        oinit = kinit if out_initializer is None else out_initializer
        base = self.name

        def proj(suffix, init):
            return Dense(d_model, input_shape=(d_model,), use_bias=use_bias, kernel_initializer=init,
                         name=f"{base}_{suffix}", dtype=dtype)
        self.q_proj = proj("q", kinit)
        self.k_proj = proj("k", kinit)
        self.v_proj = proj("v", kinit)
        self.out_proj = proj("out", oinit)
        self.built = True

    def forward(self, x, context=None, mask=None, cache: LayerKVCache | None = None, causal=None,
                need_weights: bool = False):
        """Chapter 11: attend from ``x`` to ``context`` (or to ``x``); see the class docstring."""
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"layer {self.name!r} (SelfAttention) expects input of shape (batch, T, "
                             f"{self.d_model}), got {tuple(x.shape)}")
        causal = self.causal if causal is None else bool(causal)
        src = x if context is None else (as_tensor(context))
        if src.ndim != 3 or src.shape[-1] != self.d_model or src.shape[0] != x.shape[0]:
            raise ValueError(f"layer {self.name!r} (SelfAttention): context must have shape ({x.shape[0]}, "
                             f"Tk, {self.d_model}), got {tuple(src.shape)}")
        h = self.num_heads
        p = self.dropout if self.training else 0.0
        # a float mask Tensor that requires grad (e.g. a learned bias) gets its gradient, as in torch
        mask_t = mask if isinstance(mask, Tensor) and mask.requires_grad and is_grad_enabled() else None
        if context is None and cache is None and self._plain_projections():
            who = f"layer {self.name!r} (SelfAttention)"
            add = None if mask is None else additive_mask(mask, x.dtype, who)
            if causal:
                keep = causal_mask(x.shape[1], x.shape[1], x.dtype)
                add = keep if add is None else _with_causal(add, keep, who)
            projections = (self.q_proj, self.k_proj, self.v_proj)
            out, weights = fused_self_attention(x, [d.kernel for d in projections],
                                                [d.bias for d in projections if d.bias is not None], h, add, p,
                                                who, mask_t=mask_t)
            out = self.out_proj(out)
            return (out, weights) if need_weights else out
        q = _SplitHeads.split(self.q_proj(x), h)
        k = _SplitHeads.split(self.k_proj(src), h)
        v = _SplitHeads.split(self.v_proj(src), h)
        is_causal = False
        if cache is not None:
            if is_grad_enabled():
                raise RuntimeError(f"layer {self.name!r}: the KV cache is for inference; run under "
                                   f"nnlib.no_grad()")
            past = cache.length
            k_all, v_all = cache.append(k.data, v.data)
            k, v = Tensor(k_all), Tensor(v_all)
            n_q, n_k = q.shape[2], k_all.shape[2]
            if causal and mask is None and n_q > 1:
                if past == 0:
                    is_causal = True
                else:
                    mask = causal_mask(n_q, n_k, q.dtype, offset=n_k - n_q)
        elif causal:
            if mask is None:
                is_causal = True
            else:
                keep = causal_mask(q.shape[2], k.shape[2], q.dtype)
                who = f"layer {self.name!r} (SelfAttention)"
                combined = _with_causal(additive_mask(mask, q.dtype, who), keep, who)
                # keep the learned mask in the graph: mask + causal (a constant) passes its gradient through
                mask = combined if mask_t is None else mask_t + Tensor(keep)
        result = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal, dropout_p=p,
                                              return_weights=need_weights)
        out, weights = result if need_weights else (result, None)
        out = self.out_proj(_SplitHeads.merge(out))
        return (out, weights) if need_weights else out

    def _plain_projections(self) -> bool:
        """Whether q/k/v are plain Dense layers (not LoRA-wrapped), so they can run as one matmul."""
        return self.fuse_projections and all(type(d) is Dense and d.activation is None and d.kernel is not None
                   for d in (self.q_proj, self.k_proj, self.v_proj)) and \
            len({d.bias is None for d in (self.q_proj, self.k_proj, self.v_proj)}) == 1

    def get_config(self) -> dict:
        """Chapter 11: d_model, num_heads, dropout, causal, use_bias."""
        config = super().get_config()
        config.update(d_model=self.d_model, num_heads=self.num_heads, dropout=self.dropout,
                      causal=self.causal, use_bias=self.use_bias)
        return config


_GELU_C, _GELU_A = F.GELU_TANH_C, F.GELU_TANH_A  # GELU's tanh form (GPT-2's), defined once in nnlib.functional


def _fused_mlp(x: Tensor, fc_in: Dense, fc_out: Dense) -> Tensor:
    """``gelu(x W1 + b1) W2 + b2`` as one graph node.

    GELU's tanh form written with a sigmoid, 0.5 (1 + tanh z) = sigmoid(2 z), so
    gelu(u) = u * sigmoid(2 z) with z = C (u + A u^3): one ``exp`` instead of a
    ``tanh`` (NumPy vectorizes exp but not tanh) and fewer passes over memory.
    """
    w1, b1, w2, b2 = fc_in.kernel, fc_in.bias, fc_out.kernel, fc_out.bias
    xd = x.data
    x2 = xd.reshape(-1, xd.shape[-1])
    pre = x2 @ w1.data
    if b1 is not None:
        pre += b1.data
    pre2 = pre * pre
    sig = pre2 * (-2.0 * _GELU_C * _GELU_A)
    sig -= 2.0 * _GELU_C
    sig *= pre                      # -2 z
    with np.errstate(over="ignore", under="ignore"):  # exp(+large) = inf gives sigmoid 0: correct
        np.exp(sig, out=sig)
    sig += 1.0
    np.divide(1.0, sig, out=sig)    # sigmoid(2 z)
    act = pre * sig
    out = act @ w2.data
    if b2 is not None:
        out += b2.data
    parents = tuple(p for p in (x, w1, b1, w2, b2) if p is not None)

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])
        grads = {}
        if w2.requires_grad:
            grads["w2"] = act.T @ g2
        if b2 is not None and b2.requires_grad:
            grads["b2"] = np.ones(g2.shape[0], dtype=g2.dtype) @ g2
        if x.requires_grad or w1.requires_grad or (b1 is not None and b1.requires_grad):
            gh = g2 @ w2.data.T
            # gelu'(u) = sig + u (1 - sig) sig 2 C (1 + 3 A u^2), and u (1 - sig) = u - act
            s = np.subtract(pre, act)
            q = pre2 * (6.0 * _GELU_C * _GELU_A)
            q += 2.0 * _GELU_C
            s *= q
            s *= sig
            s += sig
            gh *= s
            if w1.requires_grad:
                grads["w1"] = x2.T @ gh
            if b1 is not None and b1.requires_grad:
                grads["b1"] = np.ones(gh.shape[0], dtype=gh.dtype) @ gh
            if x.requires_grad:
                grads["x"] = (gh @ w1.data.T).reshape(xd.shape)
        names = ["x", "w1"] + (["b1"] if b1 is not None else []) + ["w2"] + (["b2"] if b2 is not None else [])
        return tuple(grads.get(n) for n in names)
    return Tensor.from_op(out.reshape(xd.shape[:-1] + (w2.shape[1],)), parents, backward)


def _with_causal(add: np.ndarray, keep: np.ndarray, who: str) -> np.ndarray:
    """An additive mask plus the causal one, or a clear error when their shapes do not fit."""
    try:
        return add + keep
    except ValueError:
        raise ValueError(f"{who}: mask of shape {add.shape} does not broadcast to the scores' shape "
                         f"(batch, heads, {keep.shape[0]}, {keep.shape[1]}) (batch, heads, queries, keys)") from None


@register_layer
class TransformerBlock(Layer):
    """Chapter 11: GPT-2's pre-LayerNorm transformer block.

    ``x = x + dropout(attn(ln1(x)))`` then ``x = x + dropout(mlp_out(gelu(mlp_in(ln2(x)))))``,
    where ``mlp_in`` widens to ``mlp_ratio * d_model`` (4x) and GELU is the tanh form.
    Causal self-attention by default. ``n_layers`` (of the whole model) scales the
    initial weights of the two residual projections by 1/sqrt(2 n_layers), as GPT-2.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, causal: bool = True,
                 mlp_ratio: int = 4, n_layers: int = 1, name=None, trainable: bool = True, dtype="float32"):
        super().__init__(name=name, trainable=trainable)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"TransformerBlock: dropout must be in [0, 1), got {dropout}")
        self.d_model, self.num_heads = int(d_model), int(num_heads)
        self.dropout = float(dropout)
        self.causal = bool(causal)
        self.mlp_ratio = int(mlp_ratio)
        self.n_layers = int(n_layers)
        base = self.name
        resid_init = gpt2_normal(0.02 / math.sqrt(2 * max(self.n_layers, 1)))
        self.ln1 = LayerNorm(self.d_model, name=f"{base}_ln1", dtype=dtype)
        self.attn = SelfAttention(self.d_model, self.num_heads, dropout=dropout, causal=causal,
                                       out_initializer=resid_init, name=f"{base}_attn", dtype=dtype)
        self.ln2 = LayerNorm(self.d_model, name=f"{base}_ln2", dtype=dtype)
        hidden = self.mlp_ratio * self.d_model
        self.mlp_in = Dense(hidden, input_shape=(self.d_model,), kernel_initializer=gpt2_normal(),
                            name=f"{base}_mlp_in", dtype=dtype)
        self.mlp_out = Dense(self.d_model, input_shape=(hidden,), kernel_initializer=resid_init,
                             name=f"{base}_mlp_out", dtype=dtype)
        self.built = True

    def forward(self, x, mask=None, cache: LayerKVCache | None = None):
        """Chapter 11: one block on ``x`` (B, T, d_model); ``cache`` is this layer's KV cache (inference)."""
        a = self.attn(self.ln1(x), mask=mask, cache=cache)
        if self.training and self.dropout > 0.0:
            a = F.dropout(a, self.dropout, True)
        x = x + a
        m = self.mlp(self.ln2(x))
        if self.training and self.dropout > 0.0:
            m = F.dropout(m, self.dropout, True)
        return x + m

    def mlp(self, h):
        """Chapter 11: the feed-forward part, ``mlp_out(gelu(mlp_in(h)))``.

        When both layers are plain Dense layers (not LoRA-wrapped) this runs as one
        fused operation with the same math: fewer temporary arrays, so faster.
        """
        if type(self.mlp_in) is Dense and type(self.mlp_out) is Dense and self.mlp_in.activation is None \
                and self.mlp_out.activation is None and h.shape[-1] == self.mlp_in.kernel.shape[0]:
            return _fused_mlp(h, self.mlp_in, self.mlp_out)
        return self.mlp_out(F.gelu(self.mlp_in(h), approximate="tanh"))  # GPT-2's gelu_new (nnlib.hub)

    def get_config(self) -> dict:
        """Chapter 11: d_model, num_heads, dropout, causal, mlp_ratio, n_layers."""
        config = super().get_config()
        config.update(d_model=self.d_model, num_heads=self.num_heads, dropout=self.dropout, causal=self.causal,
                      mlp_ratio=self.mlp_ratio, n_layers=self.n_layers)
        return config
