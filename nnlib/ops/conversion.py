"""Chapter 03: converting a Tensor: to another dtype, to a Python number or bool, to text, to a NumPy array."""
from __future__ import annotations

import numpy as np

from ..engine import Tensor


def astype(x, dtype):
    """Chapter 03: a copy converted to ``dtype`` (gradients flow back, converted)."""
    src = x.data.dtype
    return Tensor.from_op(x.data.astype(dtype), (x,), lambda g: (g.astype(src),))


def to_float(x) -> float:
    """``float(t)`` for a one-element tensor."""
    return float(x.item())


def to_int(x) -> int:
    """``int(t)`` for a one-element tensor."""
    return int(x.item())


def to_format(x, spec: str) -> str:
    """``f"{loss:.3f}"`` formats a one-element tensor's value; ``f"{t}"`` is ``str(t)``."""
    return format(x.item(), spec) if spec else str(x)


def to_array(x, dtype=None, copy=None) -> np.ndarray:
    """``np.asarray(t)``: the data (so bool tensors work as NumPy masks, e.g. ``array[t > 0]``)."""
    return x.data if dtype is None and not copy else np.array(x.data, dtype=dtype, copy=True)


def length(x) -> int:
    """``len(t)``: the size of the first dimension."""
    return len(x.data)


def to_bool(x) -> bool:
    """``if t:`` for a one-element tensor (more elements: an error, as in PyTorch and NumPy)."""
    if x.data.size != 1:
        raise ValueError("the truth value of a tensor with more than one element is ambiguous")
    return bool(x.data)


def to_repr(x) -> str:
    """``Tensor([1., 2.], requires_grad=True)``; the dtype is shown unless it is float32."""
    body = np.array2string(x.data, precision=4, threshold=20, separator=", ", prefix="Tensor(")
    extra = ", requires_grad=True" if x.requires_grad else ""
    if x.data.dtype != np.float32:
        extra = f", dtype={x.data.dtype}" + extra
    return f"Tensor({body}{extra})"
