"""Chapter 11: the fused operations of a transformer, and the key/value cache.

* :func:`embedding`: rows of a table picked by token ids (词嵌入查表).
* :func:`layer_norm`: layer normalization (层归一化) over the last axis.
* :func:`scaled_dot_product_attention`: scaled dot-product attention (缩放点积注意力).
* :func:`fused_self_attention`: the query/key/value projections and attention of a
  self-attention layer as one node (what ``SelfAttention`` runs).

Each is one graph node with a hand-written backward pass, and matches its
``torch.nn.functional`` counterpart in values and gradients.

Attention lets every position of a sequence look at every other position and
take a weighted average of their *values*; the weights come from how well its
*query* matches their *keys*:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + M) V

``M`` is a mask: 0 where a query may look, -inf where it may not. A GPT uses a
*causal* mask (因果掩码) so that position t never sees positions after t.

:func:`scaled_dot_product_attention` keeps the attention weights from its
forward pass and writes the backward pass (softmax backward included) out by
hand, which is several times faster than composing small Tensor operations.

:class:`KVCache` keeps the keys and values of the tokens generated so far, so
that producing one more token costs one position's work instead of the whole
prefix's (chapter 12, generation).
"""
from __future__ import annotations

import math

import numpy as np

from .random import dropout_mask
from .engine import Tensor, as_tensor, operand_data

__all__ = ["embedding", "layer_norm", "scaled_dot_product_attention", "fused_self_attention", "attention_forward",
           "attention_backward", "additive_mask", "causal_mask", "KVCache", "LayerKVCache"]

_MASK_CACHE: dict = {}
#: above this many one-hot entries the embedding backward sorts instead of multiplying
_ONE_HOT_LIMIT = 1 << 22


def integer_ids(ids, who: str) -> np.ndarray:
    """Chapter 11: token ids as an integer array (whole-number floats accepted), else a TypeError."""
    arr = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
    if arr.dtype.kind == "f":
        if arr.size and not np.all(arr == np.round(arr)):
            raise TypeError(f"{who}: token ids must be integers, got non-integer floats")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{who}: token ids must be an integer array, got dtype {arr.dtype}")
    return arr


def _token_ids(ids, who: str, num_embeddings: int) -> np.ndarray:
    """Validate token ids: an integer array with values in 0..num_embeddings-1."""
    arr = integer_ids(ids, who)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= num_embeddings:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{who}: token id {bad} is out of range; this embedding has {num_embeddings} rows "
                             f"(valid ids 0..{num_embeddings - 1})")
    return arr


def embedding(ids, weight: Tensor) -> Tensor:
    """Chapter 11: rows of ``weight`` (num_embeddings, dim) picked by integer ``ids``, shape ids.shape + (dim,).

    The backward pass adds each output row's gradient into the row it came from.
    For small tables it multiplies by a one-hot matrix (one BLAS call); for large
    ones it sorts the ids and sums runs with ``np.add.reduceat`` (``np.add.at`` is
    far slower).
    """
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    n_rows, dim = weight.shape
    idx = _token_ids(ids, "embedding", n_rows)
    w = weight.data
    out = w[idx]  # fancy indexing copies

    def backward(g):
        flat = idx.reshape(-1)
        g2 = g.reshape(-1, dim)
        n = flat.size
        if n * n_rows <= _ONE_HOT_LIMIT:
            one_hot = np.zeros((n_rows, n), dtype=g2.dtype)
            one_hot[flat, np.arange(n)] = 1.0
            return (one_hot @ g2,)
        order = np.argsort(flat, kind="stable")
        ids_sorted = flat[order]
        starts = np.flatnonzero(np.concatenate(([True], ids_sorted[1:] != ids_sorted[:-1])))
        grad = np.zeros((n_rows, dim), dtype=g2.dtype)
        grad[ids_sorted[starts]] = np.add.reduceat(g2[order], starts, axis=0)
        return (grad,)
    return Tensor.from_op(out, (weight,), backward)


def layer_norm(x, gamma=None, beta=None, eps: float = 1e-5) -> Tensor:
    """Chapter 11: normalize over the last axis, then ``* gamma + beta`` (``torch.nn.functional.layer_norm``).

    y = (x - mean) / sqrt(var + eps) * gamma + beta, with the biased variance (as
    PyTorch). One fused operation: the backward pass is
    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps).
    Row means and column sums are matrix-vector products (BLAS), the fastest
    reductions NumPy has.
    """
    x = as_tensor(x)
    xd = x.data
    d = xd.shape[-1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None and tuple(p.shape) != (d,):
            raise ValueError(f"layer_norm: {name} must have shape ({d},) to match the input's last axis, "
                             f"got {tuple(p.shape)} (input shape {xd.shape})")
    eps = float(eps)
    x2 = xd.reshape(-1, d)
    mean_vec = np.full(d, 1.0 / d, dtype=xd.dtype)
    xhat = x2 - (x2 @ mean_vec)[:, None]
    var = np.einsum("ij,ij->i", xhat, xhat)
    var *= 1.0 / d
    var += eps
    rstd = np.sqrt(var, out=var)
    np.divide(1.0, rstd, out=rstd)
    rstd = rstd[:, None]
    xhat *= rstd
    gd = gamma.data if gamma is not None else None
    if gd is not None:
        out = xhat * gd
        if beta is not None:
            out += beta.data
    else:
        out = xhat + beta.data if beta is not None else xhat.copy()
    parents = tuple(t for t in (x, gamma, beta) if t is not None)

    def backward(g):
        g2 = g.reshape(-1, d)
        grads = []
        if x.requires_grad:
            dxh = g2 * gd if gd is not None else g2.copy()
            mean_dxh = dxh @ mean_vec
            mean_dxh_xhat = np.einsum("ij,ij->i", dxh, xhat)
            mean_dxh_xhat *= 1.0 / d
            dxh -= mean_dxh[:, None]
            dx = xhat * mean_dxh_xhat[:, None]
            np.subtract(dxh, dx, out=dx)
            dx *= rstd
            grads.append(dx.reshape(xd.shape))
        else:
            grads.append(None)
        if gamma is not None:
            grads.append(np.einsum("ij,ij->j", g2, xhat) if gamma.requires_grad else None)
        if beta is not None:
            grads.append(np.ones(g2.shape[0], dtype=g2.dtype) @ g2 if beta.requires_grad else None)
        return tuple(grads)
    return Tensor.from_op(out.reshape(xd.shape), parents, backward)



def causal_mask(n_queries: int, n_keys: int, dtype=np.float32, offset: int | None = None) -> np.ndarray:
    """Chapter 11: the additive causal mask, 0 where query i may see key j and -inf elsewhere.

    Query ``i`` sees keys ``j <= i + offset``. The default ``offset=0`` aligns the
    queries with the first keys (PyTorch's ``is_causal`` convention); with a KV
    cache the queries are the *last* positions, ``offset = n_keys - n_queries``.
    The array is cached and read-only: add it, never write into it.
    """
    offset = 0 if offset is None else int(offset)
    dtype = np.dtype(dtype)
    key = (int(n_queries), int(n_keys), offset, dtype.str)
    mask = _MASK_CACHE.get(key)
    if mask is None:
        i = np.arange(n_queries)[:, None]
        j = np.arange(n_keys)[None, :]
        mask = np.where(j > i + offset, -np.inf, 0.0).astype(dtype)
        mask.flags.writeable = False
        if len(_MASK_CACHE) > 256:
            _MASK_CACHE.clear()
        _MASK_CACHE[key] = mask
    return mask


def _as_tensor(x, who: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    arr = operand_data(x)
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{who}: expected an array or Tensor, got {type(x).__name__}")
    return Tensor(arr)


def additive_mask(mask, dtype, who: str) -> np.ndarray:
    """Chapter 11: a boolean keep-mask (True = may attend) or a float additive mask as a float additive mask.

    ``who`` names the caller in the TypeError for any other dtype.
    """
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype == bool:
        return np.where(m, 0.0, -np.inf).astype(dtype)
    if m.dtype.kind not in "f":
        raise TypeError(
            f"{who}: mask must be boolean (True = may attend, as in PyTorch) or float (added to the "
            f"scores), got dtype {m.dtype}")
    return m.astype(dtype, copy=False)


def attention_forward(qd: np.ndarray, kd: np.ndarray, vd: np.ndarray, add, scale: float,
                      dropout_p: float = 0.0, rng=None, who: str = "scaled_dot_product_attention"):
    """Chapter 11: the arithmetic of attention on arrays: ``(softmax(q k^T * scale + add) v, saved)``.

    ``add`` is an additive float mask (or None). ``saved`` holds what
    :func:`attention_backward` needs: the weights, the weights after dropout, and the
    dropout keep-mask (None without dropout). The softmax runs in place on the
    scores' buffer. ``who`` names the caller in error messages.
    """
    dtype = qd.dtype
    p = np.matmul(qd, np.swapaxes(kd, -1, -2))
    if p.dtype != dtype:
        p = p.astype(dtype)
    p *= scale
    if add is not None:
        try:
            np.add(p, add, out=p)
        except ValueError:
            try:
                p = p + add  # the mask has more leading axes than the scores
            except ValueError:
                raise ValueError(f"{who}: mask of shape {np.shape(add)} does not broadcast to the scores' "
                                 f"shape {p.shape} (batch, heads, queries, keys)") from None
    p -= p.max(axis=-1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)
    if dropout_p > 0.0:
        keep = dropout_mask(p.shape, dropout_p, dtype, rng)
        pd = p * keep
    else:
        keep, pd = None, p
    return np.matmul(pd, vd), (p, pd, keep)


def attention_backward(g: np.ndarray, qd: np.ndarray, kd: np.ndarray, vd: np.ndarray, saved, scale: float,
                       need_q: bool = True, need_k: bool = True, need_v: bool = True, out=None,
                       need_mask: bool = False):
    """Chapter 11: gradients (gq, gk, gv) of :func:`attention_forward`'s output for the upstream ``g``.

    The softmax backward is ``ds = p * (dp - sum(dp * p))``. ``out`` (optional) is a
    triple of arrays to write gq, gk, gv into. With ``need_mask`` a fourth gradient is
    returned: that of the additive mask, ``ds`` itself (the mask is added to the scores
    after the scaling), in the scores' shape.
    """
    p, pd, keep = saved
    gq_out, gk_out, gv_out = (None, None, None) if out is None else out
    gv = np.matmul(np.swapaxes(pd, -1, -2), g, out=gv_out) if need_v else None
    if not (need_q or need_k or need_mask):
        return None, None, gv
    ds = np.matmul(g, np.swapaxes(vd, -1, -2))  # gradient w.r.t. the (dropped) weights
    if keep is not None:
        ds *= keep
    ds -= np.einsum("...ij,...ij->...i", ds, p)[..., None]
    ds *= p
    if not (need_q or need_k):
        return None, None, gv, ds
    gmask = ds.copy() if need_mask else None
    ds *= scale
    gq = np.matmul(ds, kd, out=gq_out) if need_q else None
    gk = np.matmul(np.swapaxes(ds, -1, -2), qd, out=gk_out) if need_k else None
    if need_mask:
        return gq, gk, gv, gmask
    return gq, gk, gv


def scaled_dot_product_attention(query, key, value, mask=None, is_causal: bool = False,
                                 dropout_p: float = 0.0, scale: float | None = None, rng=None,
                                 return_weights: bool = False):
    """Chapter 11: softmax(q k^T * scale + mask) v, fused, as ``torch.nn.functional.scaled_dot_product_attention``.

    ``query`` has shape (..., Tq, d), ``key`` (..., Tk, d), ``value`` (..., Tk, dv); the
    leading axes (batch, heads) broadcast. ``scale`` defaults to 1/sqrt(d).

    - ``mask``: boolean (True = may attend, PyTorch's convention) or float (added to the
      scores, use -inf to forbid), broadcastable to (..., Tq, Tk). A float mask that is a
      Tensor requiring grad (e.g. a learned relative-position bias) gets its gradient, as
      in PyTorch.
    - ``is_causal``: query i sees keys j <= i (PyTorch's top-left alignment); do not
      combine with ``mask``.
    - ``dropout_p``: dropout on the attention weights (applied whenever > 0, as in
      PyTorch; pass 0 in evaluation). ``rng`` defaults to nnlib's global generator.
    - ``return_weights``: also return the attention weights (an ndarray of shape
      (..., Tq, Tk), before dropout), e.g. to draw a heatmap.
    """
    who = "scaled_dot_product_attention"
    q = _as_tensor(query, who)
    k = _as_tensor(key, who)
    v = _as_tensor(value, who)
    qd, kd, vd = q.data, k.data, v.data
    if qd.ndim < 2 or kd.ndim < 2 or vd.ndim < 2:
        raise ValueError(f"{who}: query, key and value need at least 2 dimensions (..., T, d); got shapes "
                         f"{qd.shape}, {kd.shape}, {vd.shape}")
    if qd.shape[-1] != kd.shape[-1]:
        raise ValueError(f"{who}: query and key must have the same last dimension, got query {qd.shape} and "
                         f"key {kd.shape}")
    if kd.shape[-2] != vd.shape[-2]:
        raise ValueError(f"{who}: key and value must have the same number of positions (axis -2), got key "
                         f"{kd.shape} and value {vd.shape}")
    if is_causal and mask is not None:
        raise ValueError(f"{who}: pass either mask or is_causal=True, not both")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{who}: dropout_p must be in [0, 1), got {dropout_p}")
    dtype = qd.dtype
    n_q, n_k = qd.shape[-2], kd.shape[-2]
    scale = 1.0 / math.sqrt(qd.shape[-1]) if scale is None else float(scale)
    add = causal_mask(n_q, n_k, dtype) if is_causal else (
        None if mask is None else additive_mask(mask, dtype, who))
    out, saved = attention_forward(qd, kd, vd, add, scale, dropout_p, rng)
    p = saved[0]
    mask_t = mask if isinstance(mask, Tensor) and mask.requires_grad else None

    def backward(g):
        return attention_backward(g, qd, kd, vd, saved, scale, q.requires_grad, k.requires_grad, v.requires_grad,
                                  need_mask=mask_t is not None)

    parents = (q, k, v) if mask_t is None else (q, k, v, mask_t)
    result = Tensor.from_op(out, parents, backward)
    if return_weights:
        return result, p
    return result


def fused_self_attention(x: Tensor, kernels, biases, n_heads: int, add=None, dropout_p: float = 0.0,
                         who: str = "SelfAttention", mask_t: Tensor | None = None):
    """Chapter 11: self-attention from ``x`` (B, T, d) up to the merged heads (B, T, d), as one graph node.

    ``kernels``: the query, key and value projection kernels (three (d, d) Tensors, nnlib's
    (in, out) layout); ``biases``: their three biases, or none. ``add``: an additive float
    mask (e.g. :func:`causal_mask`) or None. ``mask_t``: the float mask Tensor behind ``add`` when it requires grad; it becomes
    a parent and receives the scores' gradient (summed over broadcast axes).

    The three projections run as one matmul with the kernels side by side
    (d, 3d); the heads are strided views of its output, so nothing is split or
    copied; the backward pass writes the three gradients into one (B, T, 3d)
    buffer and runs one matmul for each of x and the kernels. Returns
    ``(tensor, attention weights)``. The same math as the unfused path.
    """
    kernels, biases = list(kernels), list(biases)
    if len(kernels) != 3 or len(biases) not in (0, 3):
        raise ValueError(f"{who}: fused self-attention takes 3 kernels (query, key, value) and 3 biases or none, "
                         f"got {len(kernels)} and {len(biases)}")
    b, t, d = x.shape
    hd = d // n_heads
    xd = x.data
    x2 = xd.reshape(b * t, d)
    # 1/sqrt(hd) is folded into the query kernel and bias (d*d numbers, not B*H*T*T scores)
    scale = 1.0 / math.sqrt(hd)
    w = np.concatenate([k.data for k in kernels], axis=1)
    w[:, :d] *= scale
    qkv = x2 @ w
    if biases:
        bias = np.concatenate([bb.data for bb in biases])
        bias[:d] *= scale
        qkv += bias
    heads = qkv.reshape(b, t, 3, n_heads, hd).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, hd) view
    qd, kd, vd = heads[0], heads[1], heads[2]
    out4, saved = attention_forward(qd, kd, vd, add, 1.0, dropout_p, who=who)
    out = out4.transpose(0, 2, 1, 3).reshape(b, t, d)
    parents = (x, *kernels, *biases) + (() if mask_t is None else (mask_t,))

    def backward(g):
        g4 = g.reshape(b, t, n_heads, hd).transpose(0, 2, 1, 3)
        gqkv = np.empty((b, t, 3, n_heads, hd), dtype=qkv.dtype)
        gheads = gqkv.transpose(2, 0, 3, 1, 4)
        gmask = None
        if mask_t is None:
            attention_backward(g4, qd, kd, vd, saved, 1.0, out=(gheads[0], gheads[1], gheads[2]))
        else:  # the mask is added after the scaling (folded into q), so its gradient is the scores'
            gmask = attention_backward(g4, qd, kd, vd, saved, 1.0, out=(gheads[0], gheads[1], gheads[2]),
                                       need_mask=True)[3]
        g2 = gqkv.reshape(b * t, 3 * d)
        grads = [(g2 @ w.T).reshape(xd.shape) if x.requires_grad else None]
        gw = x2.T @ g2 if any(k.requires_grad for k in kernels) else None
        if gw is not None:
            gw[:, :d] *= scale  # the query kernel was used scaled
        grads += [np.ascontiguousarray(gw[:, i * d:(i + 1) * d]) if k.requires_grad else None
                  for i, k in enumerate(kernels)]
        if biases:
            gb = np.ones(g2.shape[0], dtype=g2.dtype) @ g2
            gb[:d] *= scale
            grads += [gb[i * d:(i + 1) * d].copy() if bb.requires_grad else None for i, bb in enumerate(biases)]
        if mask_t is not None:
            grads.append(gmask)  # in the scores' shape (B, H, T, T); the engine sums it back to the mask's
        return tuple(grads)
    return Tensor.from_op(out, parents, backward), saved[0]


class LayerKVCache:
    """Chapter 12: the cached keys and values of one attention layer.

    Buffers of shape (batch, heads, max_len, head_dim) are allocated once;
    :meth:`append` writes the new positions and returns views of everything
    cached so far.
    """

    def __init__(self, batch: int, n_heads: int, max_len: int, head_dim: int, dtype=np.float32):
        self.max_len = int(max_len)
        self.k = np.zeros((batch, n_heads, max_len, head_dim), dtype=dtype)
        self.v = np.zeros((batch, n_heads, max_len, head_dim), dtype=dtype)
        self.length = 0

    def append(self, k: np.ndarray, v: np.ndarray):
        """Chapter 12: add keys/values of shape (batch, heads, T, head_dim); return all cached (views)."""
        t = k.shape[-2]
        end = self.length + t
        if k.shape[:2] != self.k.shape[:2] or k.shape[-1] != self.k.shape[-1] or v.shape != k.shape:
            raise ValueError(
                f"KV cache: expected keys/values of shape (batch={self.k.shape[0]}, heads={self.k.shape[1]}, "
                f"T, {self.k.shape[-1]}), got {k.shape} and {v.shape}")
        if end > self.max_len:
            raise ValueError(
                f"KV cache is full: it holds {self.length} of {self.max_len} positions and cannot take "
                f"{t} more; reset() it (the model's context length is {self.max_len})")
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def reset(self) -> None:
        """Chapter 12: forget everything cached (the buffers are kept)."""
        self.length = 0


class KVCache:
    """Chapter 12: key/value caches (键值缓存) for all layers of a model.

    ``KVCache(n_layers, batch, n_heads, max_len, head_dim)``; ``cache.layers[i]``
    is handed to layer ``i``; ``cache.length`` is the number of positions cached.
    """

    def __init__(self, n_layers: int, batch: int, n_heads: int, max_len: int, head_dim: int,
                 dtype=np.float32):
        self.layers = [LayerKVCache(batch, n_heads, max_len, head_dim, dtype) for _ in range(n_layers)]
        self.max_len = int(max_len)

    @property
    def length(self) -> int:
        """Chapter 12: how many positions are cached."""
        return self.layers[0].length if self.layers else 0

    def reset(self) -> None:
        """Chapter 12: empty every layer's cache."""
        for layer in self.layers:
            layer.reset()

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> LayerKVCache:
        return self.layers[i]

    def __repr__(self) -> str:
        return f"KVCache(layers={len(self.layers)}, length={self.length}, max_len={self.max_len})"
