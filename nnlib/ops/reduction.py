"""Chapter 03: reductions (归约): sum, mean, var/std, max/min, prod, logsumexp, sorting.

A reduction's backward spreads the output's gradient back over the axes that were
reduced: :func:`_keep_dims` first gives the gradient those axes back (as size 1), and
NumPy broadcasting does the rest. ``axis`` is None (all axes), an int or a tuple;
negative axes count from the end; a 0-d tensor accepts ``axis=0`` or ``-1``, as in PyTorch.
Index results (``argmax``, ``argsort``, the indices of ``topk``/``sort``) are NumPy
int64 arrays: they have no gradient.
"""
from __future__ import annotations

import builtins
import collections

import numpy as np

from ..engine import Tensor, as_tensor
from .elementwise import no_grad_result
from .indexing import gather
from .dtypes import float_data

# this module defines sum, max, min, any and all; Python's own are builtins.sum etc.

#: what cummax/cummin and ``x.max(dim=...)`` return, as torch's named tuples
ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])

__all__ = ["logsumexp", "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "topk", "sort", "argsort"]


def _axes(axis, ndim: int) -> tuple:
    """``axis`` as a sorted tuple of non-negative axes (all of them for None)."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for a in axes:
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
            raise IndexError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted({a % ndim for a in axes})) if ndim else ()


def _np_axis(axis, axes: tuple):
    """What to pass NumPy: None for all axes (its fastest path, with its usual rounding), else the tuple."""
    return None if axis is None else axes


def _keep_dims(g: np.ndarray, shape: tuple, axes: tuple) -> np.ndarray:
    """The gradient of a reduction over ``axes`` reshaped with those axes kept as size 1."""
    return g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _count(shape: tuple, axes: tuple) -> int:
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def sum(x, axis=None, keepdims: bool = False):
    """Chapter 03: sum over ``axis`` (all axes by default)."""
    shape = x.data.shape
    if axis is None:  # the common case (a loss), kept short: the gradient broadcasts as it is
        return Tensor.from_op(np.asarray(x.data.sum(keepdims=keepdims)), (x,), lambda g: (np.broadcast_to(g, shape),))
    axes = _axes(axis, x.ndim)
    out = np.asarray(x.data.sum(axis=axes, keepdims=keepdims))
    return Tensor.from_op(out, (x,), lambda g: (np.broadcast_to(_keep_dims(g, shape, axes), shape),))


def mean(x, axis=None, keepdims: bool = False):
    """Chapter 03: mean over ``axis`` (all axes by default)."""
    shape, axes = x.data.shape, _axes(axis, x.ndim)
    count = _count(shape, axes)
    out = np.asarray(float_data(x.data).mean(axis=_np_axis(axis, axes), keepdims=keepdims))
    return Tensor.from_op(out, (x,), lambda g: (np.broadcast_to(_keep_dims(g, shape, axes) / count, shape),))


def var(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Chapter 03: variance over ``axis`` (``ddof=0`` as NumPy; PyTorch's default is ``correction=1``).

    With ``ddof >= N`` the result is NaN (or inf), as in PyTorch.
    """
    a, axes = float_data(x.data), _axes(axis, x.ndim)
    count = _count(a.shape, axes)
    centered = a - a.mean(axis=_np_axis(axis, axes), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (centered * centered).sum(axis=_np_axis(axis, axes), keepdims=keepdims) / builtins.max(count - ddof, 0)
        scale = np.divide(2.0, count - ddof)  # PyTorch's backward does not clamp the divisor

    def backward(g):
        with np.errstate(invalid="ignore"):
            return (_keep_dims(g, a.shape, axes) * centered * scale,)
    return Tensor.from_op(np.asarray(out, dtype=a.dtype), (x,), backward)


def std(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Chapter 03: standard deviation, the square root of :func:`var` (same ``ddof`` rule).

    Where it is 0 (all values equal) its gradient is 0, as in PyTorch (not 0/0).
    """
    v = var(x, axis, keepdims, ddof)
    out = np.sqrt(v.data)

    def backward(g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.where(out == 0, 0, g / (2 * out)),)
    return Tensor.from_op(out, (v,), backward)


def _extreme(x, axis, keepdims, fn):
    a, axes = x.data, _axes(axis, x.ndim)
    out = fn(a, axis=axes, keepdims=True)

    def backward(g):
        mask = a == out  # ties share the gradient equally
        return (mask * (_keep_dims(g, a.shape, axes) / mask.sum(axis=axes, keepdims=True)),)
    result = out if keepdims else out.reshape(tuple(n for i, n in enumerate(a.shape) if i not in axes))
    return Tensor.from_op(result, (x,), backward)


def max(x, axis=None, keepdims: bool = False):
    """Chapter 03: maximum over ``axis``; ties share the gradient equally (like torch.amax)."""
    return _extreme(x, axis, keepdims, np.max)


def min(x, axis=None, keepdims: bool = False):
    """Chapter 03: minimum over ``axis``; ties share the gradient equally (like torch.amin)."""
    return _extreme(x, axis, keepdims, np.min)


def prod(x, axis=None, keepdims: bool = False):
    """Chapter 03: product over ``axis``; the gradient is right even where inputs are 0."""
    a, axes = x.data, _axes(axis, x.ndim)
    out = np.prod(a, axis=axes, keepdims=True)

    def backward(g):
        zero = a == 0
        nonzero = np.where(zero, 1, a)
        zeros = zero.sum(axis=axes, keepdims=True)  # zeros in each reduced group
        others = np.prod(nonzero, axis=axes, keepdims=True)  # product of the non-zero values
        # no zero: product / x_i; one zero: the product of the others at the zero, 0 elsewhere; more: 0
        d = np.where(zero, np.where(zeros == 1, others, 0), np.where(zeros == 0, others / nonzero, 0))
        return (_keep_dims(g, a.shape, axes) * d,)
    result = out if keepdims else out.reshape(tuple(n for i, n in enumerate(a.shape) if i not in axes))
    return Tensor.from_op(result, (x,), backward)


def logsumexp(x, axis=None, keepdims: bool = False):
    """Chapter 02: log(sum(exp(x))) over ``axis``, without overflow (the max is taken out first)."""
    x = as_tensor(x)
    a, axes = float_data(x.data), _axes(axis, x.ndim)
    m = np.max(a, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.exp(a - m).sum(axis=axes, keepdims=True)) + m

    def backward(g):
        return (_keep_dims(g, a.shape, axes) * np.exp(a - out),)
    result = out if keepdims else out.reshape(tuple(n for i, n in enumerate(a.shape) if i not in axes))
    return Tensor.from_op(result.astype(a.dtype, copy=False), (x,), backward)


def _cumulative_axis(x, axis, who):
    """(tensor, axis) for a running operation: None means the flattened tensor (as NumPy); a 0-d tensor
    runs along axis 0 or -1 as a 1-element vector and keeps its shape (as torch)."""
    if axis is None:
        return x.reshape(-1), 0
    (ax,) = _axes(axis, x.ndim) if x.ndim else (_axes(axis, 0) or (0,))
    return (x.reshape(1) if x.ndim == 0 else x), ax


def cumsum(x, axis=None):
    """Chapter 03: running sum along ``axis`` (None: over the flattened tensor, as NumPy); integers give int64."""
    x = as_tensor(x)
    t, ax = _cumulative_axis(x, axis, "cumsum")
    out = np.cumsum(t.data, axis=ax)
    if out.dtype.kind in "biu":
        out = out.astype(np.int64, copy=False)
    out = Tensor.from_op(out, (t,), lambda g: (np.flip(np.cumsum(np.flip(g, ax), axis=ax), ax),))
    return out.reshape(()) if x.ndim == 0 and axis is not None else out


def any(x, axis=None, keepdims: bool = False):
    """Chapter 03: True where any element along ``axis`` is non-zero (a bool Tensor)."""
    return no_grad_result(np.any(x.data, axis=axis, keepdims=keepdims))


def all(x, axis=None, keepdims: bool = False):
    """Chapter 03: True where every element along ``axis`` is non-zero (a bool Tensor)."""
    return no_grad_result(np.all(x.data, axis=axis, keepdims=keepdims))


def argmax(x, axis=None, keepdims: bool = False):
    """Chapter 03: indices of the maxima (a NumPy int64 array, not differentiable)."""
    return np.argmax(x.data, axis=axis, keepdims=keepdims)


def argmin(x, axis=None, keepdims: bool = False):
    """Chapter 03: indices of the minima (a NumPy int64 array, not differentiable)."""
    return np.argmin(x.data, axis=axis, keepdims=keepdims)


def argsort(x, axis: int = -1, descending: bool = False):
    """Chapter 12: the indices that sort ``x`` along ``axis`` (stable; a NumPy int64 array)."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return np.argsort(-data if descending else data, axis=axis, kind="stable")


def sort(x, axis: int = -1, descending: bool = False):
    """Chapter 12: ``(values, indices)`` of ``x`` sorted along ``axis``, as torch.sort; values carry gradients."""
    x = as_tensor(x)
    indices = argsort(x, axis, descending)
    return gather(x, axis, indices), indices


def topk(x, k: int, axis: int = -1, largest: bool = True):
    """Chapter 12: ``(values, indices)`` of the ``k`` largest (or smallest) entries along ``axis``, sorted."""
    x = as_tensor(x)
    if not 0 <= k <= x.shape[axis]:
        raise ValueError(f"topk: k={k} is out of range for an axis of size {x.shape[axis]}")
    indices = np.take(argsort(x, axis, descending=largest), np.arange(k), axis=axis)
    return gather(x, axis, indices), indices


# ------------------------------------------------------------------ running operations (issue 18)
def _to_last(a: np.ndarray, ax: int) -> np.ndarray:
    return np.moveaxis(a, ax, -1)


def cumprod(x, axis=None):
    """Chapter 03: running product along ``axis`` (torch.cumprod); the gradient is right at zeros too.

    Integers give int64, as torch. The backward is O(n^2) along the axis (each x_i's effect on every
    later product), so it is exact where inputs are 0, where dividing by x_i would fail.
    """
    x = as_tensor(x)
    t, ax = _cumulative_axis(x, axis, "cumprod")
    a = t.data
    out = np.cumprod(a, axis=ax)
    if out.dtype.kind in "biu":
        out = out.astype(np.int64, copy=False)

    def backward(g):
        al, gl = _to_last(a, ax), _to_last(g, ax)
        n = al.shape[-1]
        m = np.array(np.broadcast_to(al[..., None, :], al.shape + (n,)))  # row i: a with a_i replaced by 1
        m[..., np.arange(n), np.arange(n)] = 1
        d = np.cumprod(m, axis=-1) * np.triu(np.ones((n, n), dtype=a.dtype))  # d out_j / d a_i for j >= i
        return (np.moveaxis((d * gl[..., None, :]).sum(axis=-1), -1, ax),)
    out = Tensor.from_op(out, (t,), backward)
    return out.reshape(()) if x.ndim == 0 and axis is not None else out


def _cumulative_extreme(x, axis, ufunc, who):
    x = as_tensor(x)
    t, ax = _cumulative_axis(x, axis, who)
    a = t.data
    running = ufunc.accumulate(a, axis=ax)
    n = a.shape[ax]
    positions = np.arange(n).reshape((n,) + (1,) * (a.ndim - 1 - ax))
    # the latest position holding the running extreme (torch's choice on ties)
    indices = np.maximum.accumulate(np.where(a == running, positions, 0), axis=ax).astype(np.int64)
    values = gather(t, ax, indices)
    if x.ndim == 0 and axis is not None:
        return ValuesIndices(values.reshape(()), indices.reshape(()))
    return ValuesIndices(values, indices)




def cummax(x, axis=None):
    """Chapter 03: ``(values, indices)`` of the running maximum along ``axis`` (torch.cummax; ties: the latest)."""
    return _cumulative_extreme(x, axis, np.maximum, "cummax")


def cummin(x, axis=None):
    """Chapter 03: ``(values, indices)`` of the running minimum along ``axis`` (torch.cummin; ties: the latest)."""
    return _cumulative_extreme(x, axis, np.minimum, "cummin")


def logcumsumexp(x, axis=None):
    """Chapter 03: log(cumsum(exp(x))) along ``axis`` without overflow (torch.logcumsumexp).

    The forward is ``np.logaddexp.accumulate``; the backward, sum over j >= i of
    g_j exp(x_i - out_j), is computed in log space for the positive and negative parts of g.
    """
    x = as_tensor(x)
    t, ax = _cumulative_axis(x, axis, "logcumsumexp")
    a = float_data(t.data)
    total = np.logaddexp.accumulate(a, axis=ax)

    def backward(g):
        def reverse_log_sum(v):  # log of sum over j >= i of exp(v_j)
            return np.flip(np.logaddexp.accumulate(np.flip(v, ax), axis=ax), ax)
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = reverse_log_sum(np.log(np.maximum(g, 0)) - total)
            neg = reverse_log_sum(np.log(np.maximum(-g, 0)) - total)
            return (np.exp(a + pos) - np.exp(a + neg),)
    out = Tensor.from_op(total, (t,), backward)
    return out.reshape(()) if x.ndim == 0 and axis is not None else out
