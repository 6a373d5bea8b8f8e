"""Chapter 03: elementwise operations (逐元素运算): arithmetic, comparisons and math functions.

Each one computes its result with NumPy and hands :meth:`Tensor.from_op` a
``backward`` that turns the output's gradient into one gradient per input.
Broadcasting is undone by the engine, so a backward may return gradients in the
broadcast shape. Result dtypes follow nnlib's dtype rule (torch's promotion), written and
implemented once in :mod:`nnlib.ops.dtypes`: binary operations take their operands from
``_pair`` and float-valued functions their input from ``float_data``. Where PyTorch defines a gradient at a tricky point (``x ** 0``
at 0, ``|x|`` at 0, ties of ``maximum``) nnlib gives the same value.
"""
from __future__ import annotations

import math

import numpy as np

from ..engine import Tensor, as_tensor, operand_data
from .dtypes import binary_operands, float_data, result_type

__all__ = ["maximum", "minimum", "where", "erf", "div", "isclose", "allclose", "copysign", "exp2", "sigmoid_array"]


def no_grad_result(data) -> Tensor:
    """Chapter 03: wrap an operation's result that no gradient flows through (comparisons, ``isnan``, ``any``).

    The array is kept as it is (bool stays bool, no copy) and the Tensor records no graph."""
    return Tensor.from_op(np.asarray(data), (), None)


def _zero_grad_op(x: Tensor, data, parents=None) -> Tensor:
    """A result whose derivative is 0 almost everywhere (floor, round, sign), as in PyTorch."""
    parents = (x,) if parents is None else parents
    return Tensor.from_op(np.asarray(data), parents, lambda g: tuple(np.zeros_like(g) for _ in parents))


def _quiet_divide(g, a):
    """g / a, giving inf or NaN at a = 0 without a warning (as PyTorch does)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return g / a


def _parents(x: Tensor, other) -> tuple:
    return (x, other) if isinstance(other, Tensor) else (x,)


def _pair(x: Tensor, other, floating: bool = False):
    """Both operands' data, converted by nnlib's dtype rule (:func:`nnlib.ops.dtypes.binary_operands`)."""
    return binary_operands(x.data, operand_data(other), floating)


# ------------------------------------------------------------------ arithmetic
def add(x, other):
    """Chapter 03: ``x + other``; the gradient passes to both sides unchanged."""
    a, b = binary_operands(x.data, operand_data(other))  # nnlib's dtype rule (inlined _pair: hot path)
    return Tensor.from_op(a + b, _parents(x, other), lambda g: (g, g))


def sub(x, other):
    """Chapter 03: ``x - other``."""
    a, b = binary_operands(x.data, operand_data(other))  # nnlib's dtype rule (inlined _pair: hot path)
    return Tensor.from_op(a - b, _parents(x, other), lambda g: (g, -g))


def rsub(x, other):
    """Chapter 03: ``other - x`` for a number or array ``other``."""
    a, b = binary_operands(x.data, operand_data(other))  # nnlib's dtype rule (inlined _pair: hot path)
    return Tensor.from_op(b - a, (x,), lambda g: (-g,))


def neg(x):
    """Chapter 03: ``-x`` (a bool tensor is refused, as in torch: use ``~mask``)."""
    if x.data.dtype == bool:
        raise TypeError("-x on a bool tensor is not supported (as in torch); to invert a mask use ~mask")
    return Tensor.from_op(-x.data, (x,), lambda g: (-g,))


def mul(x, other):
    """Chapter 03: ``x * other``; each side's gradient is the upstream gradient times the other side."""
    a, b = binary_operands(x.data, operand_data(other))  # nnlib's dtype rule (inlined _pair: hot path)
    if isinstance(other, Tensor):
        return Tensor.from_op(a * b, (x, other), lambda g: (g * b, g * a))
    return Tensor.from_op(a * b, (x,), lambda g: (g * b,))


def truediv(x, other):
    """Chapter 03: ``x / other`` (always a float: integers divide in float32, as torch)."""
    a, b = binary_operands(x.data, operand_data(other), True)  # nnlib's dtype rule (inlined _pair: hot path)
    out = a / b
    if isinstance(other, Tensor):
        def backward(g):
            ga = g / b
            return ga, -ga * a / b
        return Tensor.from_op(out, (x, other), backward)
    return Tensor.from_op(out, (x,), lambda g: (g / b,))


def rtruediv(x, other):
    """Chapter 03: ``other / x`` for a number or array ``other``."""
    a, b = binary_operands(x.data, operand_data(other), True)  # nnlib's dtype rule (inlined _pair: hot path)
    out = b / a
    return Tensor.from_op(out, (x,), lambda g: (-g * out / a,))


def _int_division_check(b):
    if np.any(np.asarray(b) == 0):
        raise ZeroDivisionError("integer division by zero (as in torch)")


def div(x, other, rounding_mode=None):
    """Chapter 03: ``torch.div``: ``x / other`` with ``rounding_mode`` None (true division), 'trunc' or 'floor'.

    With a rounding mode the dtype is the promoted one (integers stay integers); the gradient is 0.
    """
    x = as_tensor(x)
    if rounding_mode is None:
        return truediv(x, other)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    a, b = _pair(x, other)
    if a.dtype.kind in "iub":
        _int_division_check(b)
        q = np.floor_divide(a, b)
        if rounding_mode == "trunc":  # floor and trunc differ where the signs differ and there is a remainder
            q = q + ((np.remainder(a, b) != 0) & ((a < 0) != (np.asarray(b) < 0))).astype(q.dtype)
        return _zero_grad_op(x, q, _parents(x, other))
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.floor(a / b) if rounding_mode == "floor" else np.trunc(a / b)
    return _zero_grad_op(x, q, _parents(x, other))


def floordiv(x, other):
    """Chapter 03: ``x // other``, torch's floor division (``div(x, other, rounding_mode='floor')``)."""
    return div(x, other, rounding_mode="floor")


def rfloordiv(x, other):
    """Chapter 03: ``other // x`` for a number or array ``other``."""
    a, b = _pair(x, other)
    if a.dtype.kind in "iub":
        _int_division_check(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _zero_grad_op(x, np.floor_divide(b, a))


def mod(x, other):
    """Chapter 03: ``x % other``, the remainder with the divisor's sign (Python's and torch's rule).

    Its gradient is 1 for ``x`` and ``-floor(x / other)`` for a tensor ``other``, as torch.
    """
    a, b = _pair(x, other)
    if a.dtype.kind in "iub":
        _int_division_check(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.remainder(a, b)
    return Tensor.from_op(out, _parents(x, other), lambda g: (g, -g * np.floor(a / b)))


def _d_base(g, a, p):
    """d(a ** p)/da = p * a ** (p - 1), and 0 where p == 0 (PyTorch's rule, even at a = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p == 0, 0, g * p * np.power(a, p - 1))


def _d_exponent(g, base, p, out):
    """d(base ** p)/dp = base ** p * log(base), and 0 where base == 0 and p >= 0 (as in PyTorch)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return g * np.where((base == 0) & (p >= 0), 0, out * np.log(base))


def _int_power(a, p):
    """Integer ``a ** p`` elementwise as torch: a negative exponent gives 1 for a = 1, +-1 for a = -1, else 0."""
    neg = p < 0
    if not np.any(neg):
        return np.power(a, p)
    out = np.power(a, np.where(neg, 0, p))
    odd = (np.abs(p) % 2 == 1)
    at_neg = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0)).astype(out.dtype)
    return np.where(neg, at_neg, out)


def pow(x, exponent):
    """Chapter 03: ``x ** exponent`` (a number, an array or a Tensor), with torch's dtypes:
    ``int ** int`` stays an integer (a negative Python int exponent raises, as torch);
    ``int ** float`` is float32."""
    p = operand_data(exponent)
    if isinstance(p, (np.ndarray, np.generic)):
        a, p = binary_operands(x.data, p)
        if a.dtype.kind in "iub":
            out = _int_power(a, p)
        else:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                out = np.power(a, p)
        if isinstance(exponent, Tensor):
            return Tensor.from_op(out, (x, exponent), lambda g: (_d_base(g, a, p), _d_exponent(g, a, p, out)))
        return Tensor.from_op(out, (x,), lambda g: (_d_base(g, a, p),))
    a, p = binary_operands(x.data, p)
    if a.dtype.kind in "iub":
        if p < 0:
            raise RuntimeError(f"Integers to negative integer powers are not allowed (as in torch): {x.dtype} "
                               f"tensor ** {int(p)}; convert first, e.g. x.astype(np.float32) ** {int(p)}")
        return Tensor.from_op(np.power(a, p), (x,), lambda g: (None,))
    p = float(p)
    if p == 2.0:
        return Tensor.from_op(a * a, (x,), lambda g: (g * 2.0 * a,))
    if p == 3.0:
        return Tensor.from_op(a * a * a, (x,), lambda g: (g * 3.0 * (a * a),))
    if p == 1.0:
        return Tensor.from_op(a.copy(), (x,), lambda g: (g,))
    if p == 0.0:
        return Tensor.from_op(np.ones_like(a), (x,), lambda g: (np.zeros_like(g),))
    with np.errstate(divide="ignore", invalid="ignore"):
        if p == 0.5:
            out = np.sqrt(a)
            return Tensor.from_op(out, (x,), lambda g: (_quiet_divide(g * 0.5, out),))
        if p == -1.0:
            out = 1.0 / a
            return Tensor.from_op(out, (x,), lambda g: (-g * out * out,))
        out = np.power(a, p)

    def backward(g):  # p != 0 here
        with np.errstate(divide="ignore", invalid="ignore"):
            return (g * p * np.power(a, p - 1.0),)
    return Tensor.from_op(out, (x,), backward)


def rpow(x, base):
    """Chapter 03: ``base ** x`` for a number or array ``base`` (``0.7 ** int_tensor`` is float32, as torch)."""
    e, b = _pair(x, base)
    if not isinstance(b, np.ndarray):
        b = np.asarray(b, dtype=e.dtype)
    if e.dtype.kind in "iub":
        return Tensor.from_op(_int_power(b, e), (x,), lambda g: (None,))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.power(b, e)
    return Tensor.from_op(out, (x,), lambda g: (_d_exponent(g, b, e, out),))


def rmatmul(x, other):
    """Chapter 03: ``array @ x``."""
    from .linalg import matmul
    return matmul(Tensor(operand_data(other)), x)


# -------------------------------------------------------------- comparisons
def _comparison(op, name):
    def compare(x, other):
        if other is None or isinstance(other, str):
            return NotImplemented  # so that `t == None` is False, as for any object
        return no_grad_result(op(*_pair(x, other)))
    compare.__name__ = name
    compare.__doc__ = f"Chapter 03: elementwise ``{name}``: a bool Tensor without gradient (as in PyTorch)."
    return compare


eq = _comparison(np.equal, "__eq__")
ne = _comparison(np.not_equal, "__ne__")
lt = _comparison(np.less, "__lt__")
le = _comparison(np.less_equal, "__le__")
gt = _comparison(np.greater, "__gt__")
ge = _comparison(np.greater_equal, "__ge__")


def _integer_pair(x, other, who):
    a, b = _pair(x, other)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{who} needs integer or bool tensors (as in torch), got {x.dtype}"
                        + (f" and {np.asarray(b).dtype}" if isinstance(b, np.ndarray) else ""))
    return a, b


def _logical(op, name):
    def combine(x, other):
        return no_grad_result(op(*_integer_pair(x, other, name)))
    combine.__name__ = name
    combine.__doc__ = (f"Chapter 03: ``{name}`` of bool or integer tensors (masks: ``(x > 0) & (x < 1)``); "
                       f"a Python int wraps into the tensor's dtype, as torch.")
    return combine


and_ = _logical(np.bitwise_and, "__and__")
or_ = _logical(np.bitwise_or, "__or__")
xor = _logical(np.bitwise_xor, "__xor__")


def _shift(a, s, left: bool):
    """``a << s`` / ``a >> s`` as torch: shifting by the width or more gives 0 (or -1 for a negative ``a >> s``)."""
    bits = a.dtype.itemsize * 8
    s = np.asarray(s)
    far = s >= bits
    s = np.minimum(s, bits - 1).astype(a.dtype, copy=False)
    if left:
        out = np.left_shift(a, s)
        return np.where(far, np.zeros((), a.dtype), out) if np.any(far) else out
    return np.right_shift(a, s)


def lshift(x, other):
    """Chapter 03: ``x << n`` on integer tensors (bits shifted out are lost, as in torch)."""
    a, b = _integer_pair(x, other, "<<")
    return no_grad_result(_shift(a, b, True))


def rshift(x, other):
    """Chapter 03: ``x >> n`` on integer tensors (arithmetic shift: the sign is kept, as in torch)."""
    a, b = _integer_pair(x, other, ">>")
    return no_grad_result(_shift(a, b, False))


def rlshift(x, other):
    """Chapter 03: ``n << x`` for a number or array ``n``."""
    a, b = _integer_pair(x, other, "<<")
    return no_grad_result(_shift(np.asarray(b, dtype=a.dtype), a, True))


def rrshift(x, other):
    """Chapter 03: ``n >> x`` for a number or array ``n``."""
    a, b = _integer_pair(x, other, ">>")
    return no_grad_result(_shift(np.asarray(b, dtype=a.dtype), a, False))


def invert(x):
    """Chapter 03: ``~x``: logical not of a bool tensor, bitwise not of an integer tensor."""
    if x.data.dtype.kind not in "iub":
        raise TypeError(f"~ needs a bool or integer tensor (as in torch), got {x.dtype}")
    return no_grad_result(np.invert(x.data))


def isnan(x):
    """Chapter 03: True where x is NaN (a bool Tensor)."""
    return no_grad_result(np.isnan(x.data))


def isinf(x):
    """Chapter 03: True where x is +inf or -inf (a bool Tensor)."""
    return no_grad_result(np.isinf(x.data))


def isfinite(x):
    """Chapter 03: True where x is neither infinite nor NaN (a bool Tensor)."""
    return no_grad_result(np.isfinite(x.data))


# ------------------------------------------------------------- math functions
def exp(x):
    """Chapter 03: e to the power of each element."""
    out = np.exp(float_data(x.data))
    return Tensor.from_op(out, (x,), lambda g: (g * out,))


def log(x):
    """Chapter 03: natural logarithm of each element (log 0 gives -inf, as in PyTorch)."""
    a = float_data(float_data(x.data))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(a)
    return Tensor.from_op(out, (x,), lambda g: (_quiet_divide(g, a),))


def log2(x):
    """Chapter 03: base-2 logarithm of each element."""
    a = float_data(float_data(x.data))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log2(a)
    return Tensor.from_op(out, (x,), lambda g: (_quiet_divide(g, a * math.log(2.0)),))


def log10(x):
    """Chapter 03: base-10 logarithm of each element."""
    a = float_data(float_data(x.data))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(a)
    return Tensor.from_op(out, (x,), lambda g: (_quiet_divide(g, a * math.log(10.0)),))


def sqrt(x):
    """Chapter 03: square root of each element."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(float_data(x.data))
    return Tensor.from_op(out, (x,), lambda g: (_quiet_divide(g * 0.5, out),))


def rsqrt(x):
    """Chapter 10: 1 / sqrt(x) of each element (used by normalization layers)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 / np.sqrt(float_data(x.data))
    return Tensor.from_op(out, (x,), lambda g: (g * -0.5 * out * out * out,))


def sin(x):
    """Chapter 11: sine of each element (positional encodings)."""
    a = float_data(float_data(x.data))
    return Tensor.from_op(np.sin(a), (x,), lambda g: (g * np.cos(a),))


def cos(x):
    """Chapter 11: cosine of each element (positional encodings)."""
    a = float_data(float_data(x.data))
    return Tensor.from_op(np.cos(a), (x,), lambda g: (-g * np.sin(a),))


def abs(x):
    """Chapter 03: absolute value (gradient 0 at 0, as in PyTorch)."""
    a = x.data
    return Tensor.from_op(np.abs(a), (x,), lambda g: (g * np.sign(a),))


def sign(x):
    """Chapter 03: -1, 0 or 1 for each element (gradient 0)."""
    return _zero_grad_op(x, np.sign(x.data))


def floor(x):
    """Chapter 03: round down (gradient 0, as in PyTorch)."""
    return _zero_grad_op(x, np.floor(x.data))


def ceil(x):
    """Chapter 03: round up (gradient 0, as in PyTorch)."""
    return _zero_grad_op(x, np.ceil(x.data))


def round(x, decimals: int = 0):
    """Chapter 03: round half to even, like PyTorch and NumPy (gradient 0)."""
    return _zero_grad_op(x, np.round(x.data, decimals))


def clip(x, min=None, max=None):
    """Chapter 03: clamp values to [min, max]; gradient passes where min <= x <= max."""
    bounds = [v.data if isinstance(v, Tensor) else v for v in (min, max) if v is not None]
    a = x.data
    if bounds and not (a.dtype.kind == "f" and all(type(v) in (float, int) for v in bounds)):
        a = a.astype(result_type(a, *bounds), copy=False)  # int.clamp(0.5) is float32, as torch
    out = np.clip(a, min, max)

    def backward(g):
        mask = np.ones(a.shape, dtype=bool)
        if min is not None:
            mask &= a >= min
        if max is not None:
            mask &= a <= max
        return (g * mask,)
    return Tensor.from_op(out, (x,), backward)


def relu(x):
    """Chapter 01: max(0, x)."""
    a = x.data
    return Tensor.from_op(np.maximum(a, 0), (x,), lambda g: (g * (a > 0),))


def sigmoid_array(a: np.ndarray) -> np.ndarray:
    """Chapter 01: the logistic function 1 / (1 + e^-a) of an array, in its dtype, without overflow for any a.

    The one numerically stable sigmoid in nnlib: e^-|a| never overflows, and for a < 0 the
    result is e^a / (1 + e^a). ``Tensor.sigmoid``, ``nnlib.functional`` (silu, logsigmoid,
    softplus) and ``Model.predict``'s fused outputs use it.
    """
    e = np.exp(-np.abs(a))
    r = 1.0 / (1.0 + e)
    return np.where(a >= 0, r, e * r)


def sigmoid(x):
    """Chapter 01: 1 / (1 + e^-x), computed without overflow for any x."""
    out = sigmoid_array(float_data(x.data))
    return Tensor.from_op(out, (x,), lambda g: (g * out * (1.0 - out),))


def tanh(x):
    """Chapter 01: hyperbolic tangent."""
    out = np.tanh(float_data(x.data))
    return Tensor.from_op(out, (x,), lambda g: (g * (1.0 - out * out),))


def erf_array(x: np.ndarray) -> np.ndarray:
    """Chapter 10: erf on a NumPy array, in float64 (behind :func:`erf` and the exact ``F.gelu``).

    No per-element Python loop (the loops run over terms).

    |x| < 1.5: the series erf(x) = 2/sqrt(pi) e^(-x^2) sum_n x (2x^2)^n / (1*3*...*(2n+1)), whose
    terms are all positive (no cancellation); 34 terms reach 1e-16. |x| >= 1.5: 1 - erfc(|x|), with
    erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))), a continued fraction
    evaluated from its 60th level up. Relative error below 1e-14 everywhere (checked against torch.erf).
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.array(x, copy=True)  # NaN stays NaN
    near = np.abs(x) < 1.5
    if near.any():
        s = x[near]
        s2 = s * s
        term, total = s.copy(), s.copy()
        for n in range(1, 35):
            term *= s2 * (2.0 / (2 * n + 1))
            total += term
        out[near] = (2.0 / math.sqrt(math.pi)) * np.exp(-s2) * total
    far = np.abs(x) >= 1.5
    if far.any():
        a = np.abs(x[far])
        frac = np.zeros_like(a)
        for k in range(60, 0, -1):
            frac = (k / 2.0) / (a + frac)
        with np.errstate(invalid="ignore"):  # inf / inf at x = +-inf: erfc is 0 there
            erfc = np.nan_to_num(np.exp(-a * a) / math.sqrt(math.pi) / (a + frac))
        out[far] = np.sign(x[far]) * (1.0 - erfc)
    return out


def erf(x):
    """Chapter 10: the error function erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt (exact GELU uses it)."""
    a = float_data(float_data(x.data))
    out = erf_array(a).astype(a.dtype, copy=False)
    return Tensor.from_op(out, (x,), lambda g: (g * (2.0 / math.sqrt(math.pi)) * np.exp(-a * a),))


# --------------------------------------------------------- two-input choices
def _extremum(x, other, pick):
    a, b = _pair(x, other)
    out = pick(a, b)

    def backward(g):
        # 1 where x wins, 0 where it loses; ties split the gradient in half, as in PyTorch
        share = np.where(a == b, 0.5, out == a).astype(g.dtype, copy=False)
        return g * share, g * (1.0 - share)
    return Tensor.from_op(out, _parents(x, other), backward)


def maximum(x, other):
    """Chapter 03: elementwise larger of ``x`` and ``other`` (ties share the gradient equally, as in PyTorch)."""
    return _extremum(x, other, np.maximum)


def minimum(x, other):
    """Chapter 03: elementwise smaller of ``x`` and ``other`` (ties share the gradient equally, as in PyTorch)."""
    return _extremum(x, other, np.minimum)


def where(condition, a, b) -> Tensor:
    """Chapter 03: pick from ``a`` where ``condition`` holds, else from ``b`` (broadcasting).

    ``a`` and ``b`` may be Tensors, arrays or numbers; gradients flow to the Tensors.
    """
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    da, db = operand_data(a), operand_data(b)
    if isinstance(da, np.ndarray) or isinstance(db, np.ndarray):
        first, db = binary_operands(da, db) if isinstance(da, np.ndarray) else binary_operands(db, da)[::-1]
        da = first
    else:  # two numbers: the dtype of a Python number (int64, float32 or bool), as torch
        dt = result_type(da, db)
        da, db = np.asarray(da, dtype=dt), np.asarray(db, dtype=dt)
    out = np.where(cond, da, db)
    parents = tuple(t for t in (a, b) if isinstance(t, Tensor))

    def backward(g):
        zero = np.zeros((), dtype=g.dtype)
        grads = (np.where(cond, g, zero), np.where(cond, zero, g))
        return tuple(gr for t, gr in zip((a, b), grads) if isinstance(t, Tensor))
    return Tensor.from_op(out, parents, backward)


def where_method(x, condition, other):
    """Chapter 03: ``x.where(condition, other)``: x where condition holds, else other (like torch)."""
    return where(condition, x, other)


# ------------------------------------------------------------------ more of torch's surface (issue 18)
def isclose(x, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """Chapter 03: ``|x - other| <= atol + rtol * |other|`` elementwise, a bool Tensor (torch.isclose)."""
    x = as_tensor(x)
    a, b = _pair(x, other)
    return no_grad_result(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(x, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Chapter 03: True if :func:`isclose` holds everywhere (a Python bool, as torch.allclose)."""
    return bool(np.all(isclose(x, other, rtol, atol, equal_nan).data))


def copysign(x, other):
    """Chapter 03: ``|x|`` with the sign of ``other`` (torch.copysign; a float result; -0.0 counts as negative).

    Gradient: ``sign(x) * sign(result)`` for x (0 at x = 0), none for ``other``, as torch.
    """
    x = as_tensor(x)
    a, b = _pair(x, other, floating=True)
    out = np.copysign(a, b)

    def backward(g):
        return np.where(a == 0, 0, g * np.sign(a) * np.copysign(1, out)), np.zeros_like(g)
    return Tensor.from_op(out, _parents(x, other), backward)


def exp2(x):
    """Chapter 03: 2 to the power of each element; derivative ``2^x ln 2``."""
    x = as_tensor(x)
    out = np.exp2(float_data(x.data))
    return Tensor.from_op(out, (x,), lambda g: (g * out * math.log(2.0),))
