"""Chapter 03: creating tensors (创建张量): zeros, ones, full, eye, arange, rand, randn and the ``*_like`` forms.

Every one takes ``dtype=`` (default float32, nnlib's default for numbers, as
PyTorch's) and ``requires_grad=``. ``arange`` is float32 too unless asked
(PyTorch gives int64 for integer arguments; pass ``dtype=np.int64`` for indices).
``rand``/``randn`` draw from nnlib's seeded generator (``nnlib.manual_seed``).
"""
from __future__ import annotations

import numpy as np

from ..random import get_rng
from ..engine import Tensor

__all__ = ["zeros", "ones", "full", "eye", "arange", "zeros_like", "ones_like", "full_like", "rand", "randn", "empty", "randint"]


def _shape(shape) -> tuple:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _new(data, requires_grad: bool) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=data.dtype)


def zeros(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Chapter 03: a tensor of zeros: ``nnlib.zeros(2, 3)`` or ``nnlib.zeros((2, 3))``."""
    return _new(np.zeros(_shape(shape), dtype=dtype), requires_grad)


def ones(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Chapter 03: a tensor of ones."""
    return _new(np.ones(_shape(shape), dtype=dtype), requires_grad)


def full(shape, fill_value, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Chapter 03: a tensor of ``shape`` filled with ``fill_value``."""
    return _new(np.full(shape, fill_value, dtype=dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Chapter 03: the identity matrix (``n`` rows, ``m`` columns; square by default)."""
    return _new(np.eye(n, m, dtype=dtype), requires_grad)


def arange(start, end=None, step=1, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Chapter 03: ``start, start + step, ...`` below ``end`` (``arange(n)`` is 0 .. n-1)."""
    if end is None:
        start, end = 0, start
    return _new(np.arange(start, end, step).astype(dtype), requires_grad)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    """Chapter 03: zeros with the shape (and, by default, dtype) of ``t``."""
    data = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _new(np.zeros(data.shape, dtype=dtype or data.dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    """Chapter 03: ones with the shape (and, by default, dtype) of ``t``."""
    data = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _new(np.ones(data.shape, dtype=dtype or data.dtype), requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """Chapter 03: ``fill_value`` everywhere, with the shape (and, by default, dtype) of ``t``."""
    data = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _new(np.full(data.shape, fill_value, dtype=dtype or data.dtype), requires_grad)


def rand(*shape, dtype=np.float32, requires_grad: bool = False, rng=None) -> Tensor:
    """Chapter 06: uniform random numbers in [0, 1) from nnlib's seeded generator (or ``rng``)."""
    rng = get_rng() if rng is None else rng
    return _new(rng.random(_shape(shape)).astype(dtype, copy=False), requires_grad)


def randn(*shape, dtype=np.float32, requires_grad: bool = False, rng=None) -> Tensor:
    """Chapter 06: standard normal random numbers from nnlib's seeded generator (or ``rng``)."""
    rng = get_rng() if rng is None else rng
    return _new(rng.standard_normal(_shape(shape)).astype(dtype, copy=False), requires_grad)


def empty(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Chapter 03: a tensor whose values are not set (``torch.empty``); fill it before reading it."""
    return _new(np.empty(_shape(shape), dtype=dtype), requires_grad)


def randint(low, high=None, size=(), dtype=np.int64, rng=None) -> Tensor:
    """Chapter 06: integers drawn uniformly from [low, high) by nnlib's seeded generator (or ``rng``).

    ``randint(10, (2, 3))`` and ``randint(0, 10, (2, 3))`` as ``torch.randint``; int64 by default.
    """
    if high is None or (isinstance(high, (tuple, list)) and size == ()):
        low, high, size = 0, low, (() if high is None else high)
    if int(high) <= int(low):
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    rng = get_rng() if rng is None else rng
    size = (int(size),) if isinstance(size, (int, np.integer)) else tuple(size)
    return _new(rng.integers(int(low), int(high), size=size).astype(dtype, copy=False), False)
