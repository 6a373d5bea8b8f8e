"""Chapter 03: nnlib's dtype rule (数据类型 and 类型提升): which dtypes exist and what an operation returns.

This module is the one place where the rule is written and implemented; every
elementwise operation asks :func:`binary_operands` / :func:`float_data` for its inputs.

**The dtypes.** bool; the integers uint8, int8, int16, int32, int64; the floats
float16, float32, float64 (NumPy's names; torch's ``torch.bool``, ``torch.int32``...).
uint16, uint32 and uint64 exist too but, as in torch, mix only with themselves and
with Python numbers (anything else is a TypeError). float32 is the default float,
int64 the default integer (as in torch).

**Making a tensor.** ``Tensor(data)`` without ``dtype`` keeps a float array's dtype and
makes everything else (Python numbers, lists, integer and bool arrays) float32;
``Tensor(data, dtype=np.int32)`` (or any dtype above) keeps that dtype. (torch makes
int64 from a list of ints: nnlib keeps float32 there, the course's default.)
Comparisons give bool tensors; ``argmax``/``argsort`` give int64 arrays.

**Promotion (torch's rule, for the dtypes above).** In ``a + b`` (and every binary
operation) each operand is a *category*: bool < integer < float. The operands come in
three tiers, strongest first: tensors with at least one dimension, 0-d tensors, and
Python numbers (bool, int, float; NumPy scalars count as Python numbers):

1. Within a tier, two dtypes promote by the table: bool with X gives X; an integer with
   a float gives the float; two floats give the wider (float16 + float32 = float32);
   two integers give the smallest integer holding both (uint8 + int8 = int16,
   int32 + int64 = int64).
2. A weaker tier changes the result only when its category is higher: ``int32_tensor +
   0-d float64`` is float64, ``float32_tensor + 0-d float64`` stays float32,
   ``int8_tensor + 300`` stays int8 (wrapping, as torch), ``int32_tensor + 0.5`` is
   float32 (a Python float means the default float), ``bool_tensor + 1`` is int64.

Python ints are converted to the result's integer dtype with two's-complement wrapping
(``int32_tensor | 0xFFFFFFFF`` is -1), as torch does.

**Float-valued operations.** True division, ``exp``, ``log``, ``sqrt``, ``sin``, ``cos``,
``sigmoid``, ``tanh``, ``erf``, ``mean``/``var``/``std``/``logsumexp`` and ``** float``
compute in the promoted dtype if it is a float, else in float32 (torch's default
dtype): ``int32_tensor / 2`` is float32. (torch refuses ``mean`` of integers; nnlib gives
float32.) ``int ** int`` stays an integer, and a negative Python int exponent raises,
as torch; ``sum``/``prod``/``cumsum`` of bool or integers give int64, as torch.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["DTYPES", "DEFAULT_FLOAT", "DEFAULT_INT", "promote_types", "result_type"]

DEFAULT_FLOAT = np.dtype(np.float32)
DEFAULT_INT = np.dtype(np.int64)
_BOOL = np.dtype(bool)
DTYPES = tuple(np.dtype(t) for t in (bool, np.uint8, np.int8, np.int16, np.int32, np.int64,
                                     np.float16, np.float32, np.float64, np.uint16, np.uint32, np.uint64))
_LONE = {np.dtype(np.uint16), np.dtype(np.uint32), np.dtype(np.uint64)}  # promote only with themselves
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def _category(dtype: np.dtype) -> int:
    try:
        return _CATEGORY[dtype.kind]
    except KeyError:
        raise TypeError(f"nnlib tensors are bool, integer or float; got dtype {dtype}") from None


def promote_types(a, b) -> np.dtype:
    """Chapter 03: the dtype two tensor dtypes promote to (torch.promote_types for nnlib's dtypes)."""
    a, b = np.dtype(a), np.dtype(b)
    if a == b:
        return a
    if a in _LONE or b in _LONE:
        raise TypeError(f"promotion of {a} with {b} is not supported (uint16/uint32/uint64 mix only with "
                        f"themselves and Python numbers, as in torch); convert one side with .astype()")
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)  # same category: NumPy's table is torch's for these dtypes


def _scalar_dtype(value) -> np.dtype:
    """A Python number's dtype as an operand: bool, int64 or the default float."""
    if isinstance(value, (bool, np.bool_)):
        return _BOOL
    if isinstance(value, numbers.Integral):
        return DEFAULT_INT
    if isinstance(value, numbers.Real):
        return DEFAULT_FLOAT
    raise TypeError(f"nnlib operations take bool, int or float numbers, got {type(value).__name__} {value!r}")


def _combine(higher, lower):
    """torch's combine_categories: a weaker tier's dtype wins only if its category is higher."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher == _BOOL or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> np.dtype:
    """Chapter 03: the dtype of an elementwise operation on ``operands`` (arrays and Python numbers), by torch's rule."""
    tiers = [None, None, None]  # dimensioned arrays, 0-d arrays, Python numbers
    for v in operands:
        if isinstance(v, (np.ndarray, np.generic)):  # a Tensor's data (a 0-d result may be a NumPy scalar)
            tier, dt = (0 if v.ndim else 1), v.dtype
        else:
            tier, dt = 2, _scalar_dtype(v)
        tiers[tier] = dt if tiers[tier] is None else promote_types(tiers[tier], dt)
    if tiers[2] is not None and tiers[2].kind == "f":  # Python floats: the default float's category
        tiers[2] = DEFAULT_FLOAT
    out = _combine(tiers[0], _combine(tiers[1], tiers[2]))
    return out


def cast_scalar(value, dtype: np.dtype):
    """A Python number as an operand of ``dtype``: a float stays a Python number (NumPy then keeps
    ``dtype``); an int for an integer dtype is wrapped into it (two's complement), as torch does."""
    if dtype.kind in "iu" and not isinstance(value, (bool, np.bool_)):
        arr = np.array(value)
        if arr.dtype == object:
            raise OverflowError(f"the Python int {value} does not fit in 64 bits")
        return arr.astype(dtype)
    if dtype.kind == "b":
        return np.bool_(value)
    return value


def binary_operands(a: np.ndarray, b, floating: bool = False):
    """``(a, b)`` converted so that a NumPy ufunc on them gives torch's result dtype.

    ``a`` is an array (a Tensor's data), ``b`` an array (a NumPy scalar counts as a 0-d array: a Tensor's
    data can be one) or a Python number. ``floating``: the
    operation gives floats (true division, ``**`` with a float...): an integer result dtype
    becomes float32. The float fast path (``float32 * 2.0``, two float32 arrays) costs one check.
    """
    ad = a.dtype
    if ad.kind == "f":  # the fast path: a float tensor with the same float, or with a Python number
        kind = type(b)
        if kind is float or kind is int or ((kind is np.ndarray or isinstance(b, np.generic)) and b.dtype is ad):
            return a, b
    dt = result_type(a, b)
    if floating and dt.kind != "f":
        dt = DEFAULT_FLOAT
    if ad != dt:
        a = a.astype(dt)
    if isinstance(b, (np.ndarray, np.generic)):
        if b.dtype != dt:
            b = b.astype(dt)
    else:
        b = cast_scalar(b, dt)
    return a, b


def float_data(a: np.ndarray) -> np.ndarray:
    """``a`` itself if it is a float array, else ``a`` as the default float (float32)."""
    return a if a.dtype.kind == "f" else a.astype(DEFAULT_FLOAT)
