"""Chapter 03: nnlib's operations, grouped by kind, and how they become Tensor methods.

* :mod:`~nnlib.ops.dtypes`: the dtype rule (数据类型, 类型提升): which dtypes exist and what
  ``int32_tensor / 2`` or ``0.7 ** int_tensor`` return (torch's promotion); every elementwise op uses it
* :mod:`~nnlib.ops.elementwise`: ``+ - * / // % **``, comparisons, ``& | ^ ~ << >>``, exp, log, sin, erf,
  maximum, where, div, isclose, copysign, exp2...
* :mod:`~nnlib.ops.reduction`: sum, mean, var, std, max, min, prod, logsumexp, cumsum, cumprod, cummax,
  cummin, logcumsumexp, sort, topk...
* :mod:`~nnlib.ops.shape`: reshape, transpose, squeeze, expand, pad (4 modes), split, concatenate, stack, flip...
* :mod:`~nnlib.ops.indexing`: ``x[...]``, gather, scatter, scatter_add, scatter_reduce, masked_fill,
  masked_select, nonzero, one_hot
* :mod:`~nnlib.ops.linalg`: matmul (``@``)
* :mod:`~nnlib.ops.creation`: zeros, ones, full, empty, eye, arange, rand, randn, randint...
* :mod:`~nnlib.ops.conversion`: astype, ``float(t)``, ``f"{t:.3f}"``, ``np.asarray(t)``
* :mod:`~nnlib.ops.einsum`: ``nnlib.einsum`` with its backward (chapter 11)
* :mod:`~nnlib.ops.conv`: conv1d/conv2d, conv_transpose1d/2d, pooling, interpolate (chapter 16; also in
  ``nnlib.functional``)

Each operation is a function whose first argument is a Tensor; the table below
attaches it to :class:`~nnlib.Tensor` as a method or operator (``x.sum()``,
``x + y``, ``x[0]``), and :func:`_function` makes the module-level form
(``nnlib.sum(x)``) that also accepts arrays and numbers. Every entry goes through
:func:`torch_names`, so torch's ``dim``/``keepdim`` work wherever ``axis``/``keepdims`` do
(``x.max(dim=1)`` returns torch's ``(values, indices)``).
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from ..engine import Tensor, as_tensor
from . import conversion as C, creation, elementwise as E, indexing, linalg, reduction as R, shape as S
from .einsum import einsum
from .creation import arange, empty, eye, full, full_like, ones, ones_like, rand, randint, randn, zeros, zeros_like
from .elementwise import allclose, where
from .indexing import nonzero, one_hot
from .linalg import matmul

# ------------------------------------------------------------------ torch's keyword names
#: torch's keyword -> nnlib's (NumPy's): ``x.sum(dim=0, keepdim=True)`` is ``x.sum(axis=0, keepdims=True)``
TORCH_KEYWORDS = {"dim": "axis", "dims": "axis", "keepdim": "keepdims", "correction": "ddof"}


def torch_names(fn):
    """Chapter 03: let ``fn`` (which takes ``axis``/``keepdims``/``ddof``) accept torch's ``dim``/``dims``/``keepdim``/
    ``correction``.

    A call in torch's words gets torch's meaning: ``x.std(dim=0)`` (no ``correction``/``ddof``)
    uses torch's default correction=1, the unbiased estimate, so that code from a torch
    tutorial gives torch's numbers; ``x.std(axis=0)`` keeps NumPy's ddof=0.

    The one place where torch's names are mapped; every reduction and shape operation in the
    table below (and ``nnlib.functional.softmax``...) goes through it. Giving both names is an error.
    """
    params = inspect.signature(fn).parameters
    names = {t: n for t, n in TORCH_KEYWORDS.items() if n in params}
    if not names:
        return fn

    torch_keys = names.keys()
    torch_default_ddof = "ddof" in params  # std/var: torch's correction defaults to 1

    @functools.wraps(fn)
    def accept_torch_names(*args, **kwargs):
        if kwargs and not torch_keys.isdisjoint(kwargs):  # the common case costs one set test
            torch_style = "dim" in kwargs and "ddof" not in kwargs and "correction" not in kwargs
            for torch_name, name in names.items():
                if torch_name in kwargs:
                    if name in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {name}= and {torch_name}= (torch's name for "
                                        f"the same argument); pass only one")
                    kwargs[name] = kwargs.pop(torch_name)
            if torch_style and torch_default_ddof:
                kwargs["ddof"] = 1        # torch's default correction for std/var
        return fn(*args, **kwargs)
    accept_torch_names.__wrapped_op__ = fn
    return accept_torch_names


def _extreme_with_dim(op, arg):
    """``x.max()``/``x.max(axis=...)`` as before; ``x.max(dim=d)`` returns torch's ``(values, indices)``."""
    @functools.wraps(op)
    def extreme(x, *args, dim=None, keepdim=False, **kwargs):
        if dim is None:
            if keepdim:
                kwargs["keepdims"] = keepdim
            return op(x, *args, **kwargs)
        if args or "axis" in kwargs:
            raise TypeError(f"{op.__name__}() got both axis and dim= (torch's name for it); pass only one")
        idx = np.expand_dims(arg(x.data, axis=dim), dim) if x.ndim else np.zeros((), np.int64)
        values = indexing.gather(x, dim, idx) if x.ndim else x.reshape(())
        return R.ValuesIndices(values if keepdim or not x.ndim else values.squeeze(dim),
                      idx if keepdim or not x.ndim else idx.squeeze(dim))
    return extreme


gather, scatter_add, scatter, scatter_reduce = (torch_names(f) for f in (
    indexing.gather, indexing.scatter_add, indexing.scatter, indexing.scatter_reduce))
argsort, cumsum, cumprod, cummax, cummin, logcumsumexp, logsumexp, sort, topk = (torch_names(f) for f in (
    R.argsort, R.cumsum, R.cumprod, R.cummax, R.cummin, R.logcumsumexp, R.logsumexp, R.sort, R.topk))
broadcast_to, concatenate, pad, stack = (torch_names(f) for f in (S.broadcast_to, S.concatenate, S.pad, S.stack))
cat = concatenate

_METHODS = {
    # operators
    "__add__": E.add, "__radd__": E.add, "__sub__": E.sub, "__rsub__": E.rsub, "__neg__": E.neg,
    "__mul__": E.mul, "__rmul__": E.mul, "__truediv__": E.truediv, "__rtruediv__": E.rtruediv,
    "__pow__": E.pow, "__rpow__": E.rpow, "__matmul__": linalg.matmul, "__rmatmul__": E.rmatmul,
    "__abs__": E.abs, "__eq__": E.eq, "__ne__": E.ne, "__lt__": E.lt, "__le__": E.le, "__gt__": E.gt,
    "__ge__": E.ge, "__getitem__": indexing.getitem, "__and__": E.and_, "__rand__": E.and_, "__or__": E.or_,
    "__ror__": E.or_, "__xor__": E.xor, "__rxor__": E.xor, "__invert__": E.invert,
    "__floordiv__": E.floordiv, "__rfloordiv__": E.rfloordiv, "__mod__": E.mod, "__lshift__": E.lshift,
    "__rshift__": E.rshift, "__rlshift__": E.rlshift, "__rrshift__": E.rrshift, "div": E.div,
    # conversions
    "astype": C.astype, "__float__": C.to_float, "__int__": C.to_int, "__format__": C.to_format,
    "__array__": C.to_array, "__len__": C.length, "__bool__": C.to_bool, "__repr__": C.to_repr,
    # elementwise
    "exp": E.exp, "log": E.log, "log2": E.log2, "log10": E.log10, "sqrt": E.sqrt, "rsqrt": E.rsqrt,
    "sin": E.sin, "cos": E.cos, "abs": E.abs, "sign": E.sign, "floor": E.floor, "ceil": E.ceil,
    "round": E.round, "clip": E.clip, "clamp": E.clip, "relu": E.relu, "sigmoid": E.sigmoid, "tanh": E.tanh,
    "erf": E.erf, "pow": E.pow, "maximum": E.maximum, "minimum": E.minimum,
    "isnan": E.isnan, "isinf": E.isinf, "isfinite": E.isfinite, "where": E.where_method, "matmul": linalg.matmul,
    # reductions
    "sum": R.sum, "mean": R.mean, "var": R.var, "std": R.std, "max": R.max, "min": R.min, "prod": R.prod,
    "logsumexp": R.logsumexp, "cumsum": R.cumsum, "any": R.any, "all": R.all, "argmax": R.argmax,
    "argmin": R.argmin, "argsort": R.argsort, "sort": R.sort, "topk": R.topk,
    # shape
    "reshape": S.reshape, "view": S.reshape, "flatten": S.flatten, "transpose": S.transpose,
    "permute": S.permute, "swapaxes": S.swapaxes, "squeeze": S.squeeze, "unsqueeze": S.unsqueeze,
    "expand": S.expand, "broadcast_to": S.broadcast_to, "split": S.split, "chunk": S.chunk, "flip": S.flip,
    "tril": S.tril, "triu": S.triu, "repeat": S.repeat, "tile": S.tile, "roll": S.roll,
    # indexing
    "gather": indexing.gather, "scatter_add": indexing.scatter_add, "masked_fill": indexing.masked_fill,
    # issue 18: more of torch's surface
    "cumprod": R.cumprod, "cummax": R.cummax, "cummin": R.cummin, "logcumsumexp": R.logcumsumexp,
    "scatter": indexing.scatter, "scatter_reduce": indexing.scatter_reduce, "masked_select": indexing.masked_select,
    "nonzero": indexing.nonzero, "isclose": E.isclose, "allclose": E.allclose, "copysign": E.copysign,
    "exp2": E.exp2,
}
_METHODS = {name: torch_names(fn) for name, fn in _METHODS.items()}
_METHODS["max"], _METHODS["min"] = _extreme_with_dim(R.max, np.argmax), _extreme_with_dim(R.min, np.argmin)
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(lambda self: S.transpose(self), doc="Chapter 03: the tensor with its dimensions reversed.")


def _function(method):
    """The module-level form of a Tensor method: ``nnlib.exp(x)`` for a Tensor, an array or a number."""
    @functools.wraps(method)
    def function(x, *args, **kwargs):
        return method(as_tensor(x), *args, **kwargs)
    return function


# nnlib.exp(x), nnlib.sum(x, axis=0), nnlib.reshape(x, 2, 3)... (names listed once, here)
_AS_FUNCTIONS = [
    "exp", "log", "log2", "log10", "sqrt", "rsqrt", "sin", "cos", "abs", "sign", "floor", "ceil", "round",
    "clip", "clamp", "relu", "sigmoid", "tanh", "erf", "pow", "isnan", "isinf", "isfinite", "maximum", "minimum",
    "div", "sum", "mean", "var", "std", "max", "min", "prod", "any", "all", "argmax", "argmin",
    "reshape", "flatten", "transpose", "permute", "swapaxes", "squeeze", "unsqueeze", "expand", "flip",
    "tril", "triu", "tile", "roll", "split", "chunk", "masked_fill",
    "masked_select", "isclose", "copysign", "exp2",
]
globals().update({name: _function(_METHODS[name]) for name in _AS_FUNCTIONS})

# names that would hide Python's builtins after `from nnlib import *`: reachable as nnlib.sum etc. only
_BUILTIN_NAMES = {"abs", "round", "pow", "sum", "max", "min", "any", "all"}

__all__ = sorted(set(_AS_FUNCTIONS) - _BUILTIN_NAMES) + [
    "arange", "eye", "full", "full_like", "ones", "ones_like", "rand", "randn", "zeros", "zeros_like",
    "where", "gather", "one_hot", "scatter_add", "matmul", "argsort", "cumsum", "logsumexp", "sort", "topk",
    "cumprod", "cummax", "cummin", "logcumsumexp", "scatter", "scatter_reduce", "nonzero", "allclose",
    "empty", "randint", "torch_names",
    "broadcast_to", "cat", "concatenate", "pad", "stack", "einsum",
]
