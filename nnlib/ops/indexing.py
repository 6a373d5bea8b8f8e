"""Chapter 03: indexing (索引): ``x[...]``, gather, scatter_add, masked_fill and one_hot.

The backward of ``x[index]`` writes the output's gradient into a zero array of
``x``'s shape at the same positions. With integer arrays (advanced indexing) a
position can be picked twice (``x[[0, 0]]``), so the gradients are *added* there
with ``np.add.at``.

Indices follow PyTorch: integer or bool tensors, arrays and lists; a float index
is an error; an integer next to an index array is applied first (so
``x[1, :, [0, 1]]`` has shape ``(x.shape[1], 2)``, where NumPy would give ``(2, x.shape[1])``).
"""
from __future__ import annotations

import numpy as np

from ..engine import Tensor, as_tensor

__all__ = ["gather", "scatter_add", "scatter", "scatter_reduce", "masked_fill", "masked_select", "nonzero", "one_hot"]


def _index_array(value, who: str) -> np.ndarray:
    """An integer or bool index array from a Tensor, array or list; floats are an error, as in PyTorch."""
    arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    if arr.dtype.kind in "iub":
        return arr
    if arr.size == 0:
        return arr.astype(np.intp)
    raise IndexError(f"{who}: tensors used as indices must be integer or bool, got {arr.dtype}; for a mask "
                     f"compare (x[t > 0]); for positions convert (t.astype(np.int64))")


def _is_int(part) -> bool:
    return isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_))


def _clean_index(index) -> tuple:
    """``(parts, advanced)``: the index as a tuple whose array parts are NumPy integer or bool arrays,
    and whether it has any (advanced indexing). Plain slices and integers pass through untouched."""
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:
        if isinstance(p, (Tensor, np.ndarray, list, tuple)):
            return tuple(_index_array(q, "indexing") if isinstance(q, (Tensor, np.ndarray, list, tuple)) else q
                         for q in parts), True
    return parts, False


def getitem(x, index):
    """Chapter 03: ``x[index]`` with slices, integers, integer/bool arrays or tensors, ``None`` and ``...``."""
    parts, advanced = _clean_index(index)
    if advanced and any(_is_int(p) for p in parts):
        # PyTorch applies plain integers first, then the index arrays to what is left
        first = []
        for p in parts:
            if p is not None:
                first += [p] if _is_int(p) or p is Ellipsis else [slice(None)] * (p.ndim if _is_bool(p) else 1)
        return getitem(getitem(x, tuple(first)), tuple(p for p in parts if not _is_int(p)))
    a = x.data
    out = a[parts]
    if not advanced and isinstance(out, np.ndarray) and out.base is not None:
        out = out.copy()  # never let the result alias the input's buffer

    def backward(g):
        full = np.zeros(a.shape, dtype=g.dtype if g.dtype.kind == "f" else a.dtype)
        if advanced:
            np.add.at(full, parts, g)  # a position picked twice gets both gradients
        else:
            full[parts] = g
        return (full,)
    return Tensor.from_op(np.asarray(out), (x,), backward)


def _is_bool(part) -> bool:
    return isinstance(part, np.ndarray) and part.dtype == bool


def _along(index: np.ndarray, axis: int) -> tuple:
    """A full NumPy index that takes ``index`` along ``axis`` and position i along every other axis."""
    grid = list(np.ix_(*[np.arange(n) for n in index.shape]))
    grid[axis] = index
    return tuple(grid)


def _check_along(x: Tensor, index: np.ndarray, axis: int, who: str) -> int:
    if index.ndim != x.ndim or index.dtype.kind not in "iu":
        raise IndexError(f"{who}: index must be an integer array with as many dimensions as the input "
                         f"{x.shape}, got {index.dtype} {index.shape}")
    return axis % max(x.ndim, 1)


def gather(x, axis: int, index):
    """Chapter 12: ``out[i][j] = x[i][index[i][j]]`` for ``axis=1`` (torch.gather): pick along one axis."""
    x = as_tensor(x)
    index = _index_array(index, "gather")
    where = _along(index, _check_along(x, index, axis, "gather"))
    a = x.data

    def backward(g):
        full = np.zeros(a.shape, dtype=g.dtype)
        np.add.at(full, where, g)
        return (full,)
    return Tensor.from_op(a[where], (x,), backward)


def scatter_add(x, axis: int, index, src):
    """Chapter 12: a copy of ``x`` with ``src`` added at ``index`` along ``axis`` (torch.scatter_add)."""
    x, src = as_tensor(x), as_tensor(src)
    if x.dtype != src.dtype:
        raise TypeError(f"scatter_add: src has dtype {src.dtype} but the tensor has {x.dtype} (they must be equal, "
                        f"as in torch); convert src with src.astype(np.{x.dtype})")
    index = _index_array(index, "scatter_add")
    where = _along(index, _check_along(x, index, axis, "scatter_add"))
    part = tuple(slice(0, n) for n in index.shape)  # src may be larger than index: only this corner is used
    out = x.data.copy()
    np.add.at(out, where, src.data[part])

    def backward(g):
        g_src = np.zeros(src.shape, dtype=g.dtype)
        g_src[part] = g[where]
        return g, g_src
    return Tensor.from_op(out, (x, src), backward)


def masked_fill(x, mask, value: float):
    """Chapter 11: ``x`` with ``value`` wherever ``mask`` (bool, broadcast to x) is True; no gradient flows there."""
    mask = _index_array(mask, "masked_fill")
    if mask.dtype != bool:
        raise TypeError(f"masked_fill: mask must be boolean, got {mask.dtype}")
    out = np.where(mask, np.asarray(value, dtype=x.dtype), x.data)
    if out.shape != x.shape:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to the input's {x.shape}")
    return Tensor.from_op(out, (x,), lambda g: (np.where(mask, 0, g),))


def one_hot(indices, num_classes: int = -1, dtype=np.float32) -> Tensor:
    """Chapter 02: one row per index with a 1 at that class: ``one_hot([2, 0], 3)`` is [[0, 0, 1], [1, 0, 0]].

    Float32 by default (ready to multiply with probabilities); PyTorch's is int64 (pass ``dtype=np.int64``).
    """
    idx = _index_array(indices, "one_hot")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got {idx.dtype}")
    n = int(idx.max()) + 1 if num_classes == -1 and idx.size else int(num_classes)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"one_hot: class indices must be in [0, {n}), got values from {idx.min()} to {idx.max()}")
    return Tensor(np.eye(max(n, 0), dtype=dtype)[idx], dtype=dtype)


# ------------------------------------------------------------------ scatter family (issue 18)
def _scatter_setup(x, axis, index, src, who):
    """(x, src Tensor or None, scalar value, where, part): the positions ``index`` names along ``axis``."""
    x = as_tensor(x)
    index = _index_array(index, who)
    where = _along(index, _check_along(x, index, axis, who))
    if isinstance(src, (int, float, np.number)) and not isinstance(src, bool):
        return x, None, src, where, None
    src = as_tensor(src)
    if src.dtype != x.dtype:
        raise TypeError(f"{who}: src has dtype {src.dtype} but the tensor has {x.dtype} (they must be equal, as in "
                        f"torch); convert src with src.astype(np.{x.dtype})")
    if src.ndim != index.ndim or any(s < i for s, i in zip(src.shape, index.shape)):
        raise ValueError(f"{who}: src of shape {src.shape} must have index's {index.ndim} dimensions and be at least "
                         f"as large as index {index.shape}")
    return x, src, None, where, tuple(slice(0, n) for n in index.shape)


def scatter(x, axis: int, index, src=None, value=None):
    """Chapter 12: a copy of ``x`` with ``src`` (a tensor, or the number ``value``/``src``) written at ``index``
    along ``axis`` (torch.scatter). Where an index repeats, one of the writes wins (as torch, unspecified)."""
    if src is None:
        src = value
    x, src, number, where, part = _scatter_setup(x, axis, index, src, "scatter")
    out = x.data.copy()
    out[where] = number if src is None else src.data[part]
    written = np.zeros(x.shape, dtype=bool)
    written[where] = True

    def backward(g):
        gx = np.where(written, 0, g)
        if src is None:
            return (gx,)
        g_src = np.zeros(src.shape, dtype=g.dtype)
        g_src[part] = g[where]
        return gx, g_src
    return Tensor.from_op(out, (x,) if src is None else (x, src), backward)


_REDUCE = {"sum": np.add, "prod": np.multiply, "mean": np.add, "amax": np.maximum, "amin": np.minimum}


def scatter_reduce(x, axis: int, index, src, reduce: str, include_self: bool = True):
    """Chapter 12: torch.scatter_reduce: combine ``src`` into a copy of ``x`` at ``index`` along ``axis`` with
    ``reduce`` = 'sum', 'prod', 'mean', 'amax' or 'amin'; ``include_self=False`` leaves x's own value out
    where something is scattered. Gradients as torch: amax/amin share among the tied winners; prod
    gives each factor the product of the OTHER factors of its group (zeros included: with one zero
    in a group only that zero gets a gradient, with two or more none does)."""
    if reduce not in _REDUCE:
        raise ValueError(f"scatter_reduce: reduce must be one of {sorted(_REDUCE)}, got {reduce!r}")
    x, src, _, where, part = _scatter_setup(x, axis, index, src, "scatter_reduce")
    if src is None:
        raise TypeError("scatter_reduce: src must be a tensor")
    a, s = x.data, src.data[part]
    written = np.zeros(a.shape, dtype=bool)
    written[where] = True
    keep = np.ones(a.shape, dtype=bool) if include_self else ~written  # x's values that take part
    ufunc = _REDUCE[reduce]
    if include_self:
        out = a.copy()
    else:
        identity = {"sum": 0, "mean": 0, "prod": 1}.get(reduce)
        if identity is None:  # amax/amin: start from the first scattered value at each position
            out = a.copy()
            out[where] = s  # any scattered value will do as the start
        else:
            out = np.where(written, np.asarray(identity, dtype=a.dtype), a)
    ufunc.at(out, where, s)
    count = keep.astype(a.dtype)
    np.add.at(count, where, 1)
    if reduce == "mean":
        out = out / np.maximum(count, 1) if a.dtype.kind == "f" else out // np.maximum(count, 1).astype(a.dtype)
        out = np.where(count == 0, a, out).astype(a.dtype, copy=False)

    def backward(g):
        if reduce == "sum":
            return np.where(keep, g, 0), _src_grad(g[where])
        if reduce == "mean":
            share = g / np.maximum(count, 1)
            return np.where(keep, share, 0), _src_grad(share[where])
        if reduce == "prod":
            return np.where(keep, g * _others(a, *groups()), 0), _src_grad(g[where] * _others(s, *groups(where)))
        # amax/amin: every tied winner gets an equal share (x's own value counts as a tie even when
        # include_self=False, as in torch; it then gets no gradient)
        winners = (a == out).astype(g.dtype)
        hits = s == out[where]
        ties = winners.copy()
        np.add.at(ties, where, hits.astype(g.dtype))
        share = g / np.maximum(ties, 1)
        return share * winners * keep, _src_grad(share[where] * hits)

    def groups(at=None):
        """Per output position: the product of its non-zero factors and how many factors are zero."""
        product = np.where(keep & (a != 0), a, 1).astype(a.dtype)
        zeros = (keep & (a == 0)).astype(np.int64)
        np.multiply.at(product, where, np.where(s != 0, s, 1))
        np.add.at(zeros, where, (s == 0).astype(np.int64))
        return (product, zeros) if at is None else (product[at], zeros[at])

    def _src_grad(values):
        full = np.zeros(src.shape, dtype=values.dtype)
        full[part] = values
        return full
    return Tensor.from_op(out, (x, src), backward)


def _others(value, product, zeros):
    """The product of the other factors of each factor's group, from the group's non-zero product and zero count."""
    nonzero = value != 0
    without = product / np.where(nonzero, value, 1)
    return np.where(nonzero, np.where(zeros == 0, without, 0), np.where(zeros == 1, product, 0))


def masked_select(x, mask):
    """Chapter 11: the 1-D tensor of the values of ``x`` where ``mask`` is True (both broadcast, as torch)."""
    x = as_tensor(x)
    mask = _index_array(mask, "masked_select")
    if mask.dtype != bool:
        raise TypeError(f"masked_select: mask must be boolean, got {mask.dtype}")
    shape = np.broadcast_shapes(x.shape, mask.shape)
    from .shape import broadcast_to
    return getitem(broadcast_to(x, shape) if x.shape != shape else x, np.broadcast_to(mask, shape))


def nonzero(x, as_tuple: bool = False):
    """Chapter 03: positions of the non-zero elements: an int64 array (count, ndim), or one array per
    dimension with ``as_tuple=True`` (as torch.nonzero); indices have no gradient."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if as_tuple:
        return tuple(i.astype(np.int64) for i in np.nonzero(data)) if data.ndim else (np.zeros(int(data != 0), np.int64),)
    return np.argwhere(data).astype(np.int64)
