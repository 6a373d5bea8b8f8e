"""Chapter 03: the Tensor and reverse-mode automatic differentiation (自动微分).

A :class:`Tensor` wraps a NumPy array. Every operation on tensors that require
gradients records its inputs and a small ``backward`` function; calling
:meth:`Tensor.backward` walks that graph in reverse topological order (an
iterative walk, so chains of 100,000 operations work) and accumulates
``.grad`` on the leaves, exactly as ``torch.autograd`` does.

Broadcasting is undone in one place only (:func:`_unbroadcast`): an operation's
backward may return a gradient in the broadcast shape, and the engine sums it
back to the shape of the operand.
"""
from __future__ import annotations

import contextlib
import numbers
import threading

import numpy as np

__all__ = [
    "Tensor",
    "Parameter",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "concatenate",
    "stack",
    "where",
    "tensor",
    "unbroadcast",
]

_GRAD_ENABLED = True
_LEAF_LOCK = threading.Lock()
_LEAF_SINK = threading.local()  # set by nnlib.parallel: where this thread's leaf gradients go


def is_grad_enabled() -> bool:
    """Chapter 03: True when operations record a graph for backpropagation."""
    return _GRAD_ENABLED


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        global _GRAD_ENABLED
        self._previous = _GRAD_ENABLED
        _GRAD_ENABLED = self.enabled
        return self

    def __exit__(self, *exc):
        global _GRAD_ENABLED
        _GRAD_ENABLED = self._previous
        return False


def no_grad():
    """Chapter 03: context manager (or decorator) under which no graph is built.

    Use it for evaluation and for parameter updates::

        with nnlib.no_grad():
            prediction = model(x)
    """
    return _GradMode(False)


def enable_grad():
    """Chapter 03: context manager that turns graph building back on inside ``no_grad``."""
    return _GradMode(True)


def _to_array(value, dtype=None) -> np.ndarray:
    """Convert a value to an ndarray following nnlib's dtype rules.

    Float arrays keep their dtype; Python numbers, lists, bools and integer
    arrays become float32 (unless ``dtype`` is given).
    """
    if isinstance(value, Tensor):
        value = value.data
    if dtype is not None:
        return np.asarray(value, dtype=dtype)
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind == "f" else value.astype(np.float32)
    if isinstance(value, np.generic) and value.dtype.kind == "f":
        return np.asarray(value)
    return np.asarray(value, dtype=np.float32)


def _operand(value):
    """Raw data for the other side of a binary operation.

    Python numbers stay Python numbers (so float32 stays float32); NumPy scalars
    become Python numbers for the same reason; arrays are used as they are.
    """
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, numbers.Number) and not isinstance(value, np.ndarray):
        if isinstance(value, np.generic):
            return value.item()
        return value
    arr = np.asarray(value)
    if arr.dtype.kind not in "fc":
        arr = arr.astype(np.float32)
    return arr


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient of a broadcast result back to an operand's ``shape``.

    This is the one central place where broadcasting is undone.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        return np.broadcast_to(grad, shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if extra:
        grad = grad.reshape(shape)
    return grad


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Chapter 03: sum a gradient computed in a broadcast shape back to an operand's ``shape``."""
    return _unbroadcast(np.asarray(grad), tuple(shape))


def _is_advanced_index(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, (list, np.ndarray)) and np.asarray(part).dtype.kind in "iu":
            return True
        if isinstance(part, Tensor):
            return True
    return False


def _clean_index(index):
    """Turn Tensors used as indices into arrays (integer or boolean)."""
    if isinstance(index, tuple):
        return tuple(_clean_index(i) for i in index)
    if isinstance(index, Tensor):
        data = index.data
        if data.dtype.kind == "f":
            data = data.astype(np.int64)
        return data
    return index


class Tensor:
    """Chapter 03: an n-dimensional array that remembers how it was computed.

    ``Tensor(data, requires_grad=False, dtype=None)``. Float arrays keep their
    dtype (float64 stays float64); Python numbers, lists and integer arrays
    become float32.
    """

    __array_ufunc__ = None  # make NumPy defer to our reflected operators
    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "name", "__weakref__")

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require gradients, got dtype {self.data.dtype}")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._backward = None
        self.name = None

    # ------------------------------------------------------------------ graph
    @staticmethod
    def from_op(data: np.ndarray, parents: tuple, backward) -> "Tensor":
        """Chapter 03: build the output of an operation.

        ``backward(grad_out)`` must return one gradient (or None) per parent,
        in the broadcast shape or the parent's shape; it must not modify
        ``grad_out`` in place. No graph is recorded under :func:`no_grad` or
        when no parent requires a gradient.
        """
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out.name = None
        if _GRAD_ENABLED and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = parents
            out._backward = backward
        else:
            out.requires_grad = False
            out._parents = ()
            out._backward = None
        return out

    def _topological_order(self) -> list:
        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for parent in node._parents:
                if parent.requires_grad and id(parent) not in seen:
                    stack.append((parent, False))
        return order

    def backward(self, grad=None) -> None:
        """Chapter 03: backpropagate from this tensor, accumulating ``.grad`` on leaves.

        Without ``grad`` the tensor must hold a single value (a loss). Gradients
        add up across calls, as in PyTorch; clear them with ``zero_grad``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require grad: none of its inputs "
                "has requires_grad=True (or it was computed under nnlib.no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a single-value tensor (a loss), got shape "
                    f"{self.shape}; reduce it first (e.g. .sum() or .mean()) or pass grad="
                )
            seed = np.ones_like(self.data)
        else:
            seed = _to_array(grad, self.data.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"backward(grad): grad has shape {seed.shape}, tensor has shape {self.shape}")
        grads = {id(self): seed}
        handed_out = {id(seed)}  # arrays already stored somewhere: never take ownership twice
        sink = getattr(_LEAF_SINK, "grads", None)
        for node in reversed(self._topological_order()):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:  # a leaf: accumulate into .grad
                if sink is not None:  # a worker of nnlib.parallel: keep this thread's share apart
                    held = sink.get(id(node))
                    if held is None:
                        own = g.flags.owndata and g.flags.writeable and id(g) not in handed_out
                        handed_out.add(id(g))
                        sink[id(node)] = (node, g if own else np.array(g, dtype=node.data.dtype, copy=True))
                    else:
                        sink[id(node)] = (node, held[1] + g)
                    continue
                with _LEAF_LOCK:  # other threads may share leaves
                    if node.grad is None:
                        if g.flags.owndata and g.flags.writeable and id(g) not in handed_out:
                            node.grad = g  # take ownership of a fresh array: no copy
                            handed_out.add(id(g))
                        else:
                            node.grad = np.array(g, dtype=node.data.dtype, copy=True)
                    else:
                        node.grad = node.grad + g
                continue
            parent_grads = node._backward(g)
            for parent, pg in zip(node._parents, parent_grads):
                if pg is None or not parent.requires_grad:
                    continue
                if not isinstance(pg, np.ndarray):
                    pg = np.asarray(pg)
                pg = _unbroadcast(pg, parent.data.shape)
                if pg.dtype != parent.data.dtype:
                    pg = pg.astype(parent.data.dtype)
                key = id(parent)
                previous = grads.get(key)
                if previous is None:
                    grads[key] = pg
                else:
                    grads[key] = previous + pg

    def zero_grad(self) -> None:
        """Chapter 03: forget the accumulated gradient."""
        self.grad = None

    def detach(self) -> "Tensor":
        """Chapter 03: the same data, cut off from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        """Chapter 03: switch gradient tracking on or off for this leaf, in place."""
        self.requires_grad = bool(flag)
        return self

    # ------------------------------------------------------------- basic info
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    def numpy(self) -> np.ndarray:
        """Chapter 03: the underlying NumPy array."""
        return self.data

    def item(self) -> float:
        """Chapter 03: the single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def astype(self, dtype) -> "Tensor":
        """Chapter 03: a copy converted to ``dtype`` (gradients flow back, converted)."""
        src = self.data.dtype
        return Tensor.from_op(self.data.astype(dtype), (self,), lambda g: (g.astype(src),))

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, threshold=20, separator=", ", prefix="Tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.data.dtype != np.float32:
            extra = f", dtype={self.data.dtype}" + extra
        return f"Tensor({body}{extra})"

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError("the truth value of a tensor with more than one element is ambiguous")
        return bool(self.data)

    def __hash__(self):
        return id(self)

    # ----------------------------------------------------------- arithmetic
    def __add__(self, other):
        b = _operand(other)
        other_t = other if isinstance(other, Tensor) else None
        parents = (self, other_t) if other_t is not None else (self,)
        return Tensor.from_op(self.data + b, parents, lambda g: (g, g))

    __radd__ = __add__

    def __sub__(self, other):
        b = _operand(other)
        if isinstance(other, Tensor):
            return Tensor.from_op(self.data - b, (self, other), lambda g: (g, -g))
        return Tensor.from_op(self.data - b, (self,), lambda g: (g,))

    def __rsub__(self, other):
        return Tensor.from_op(_operand(other) - self.data, (self,), lambda g: (-g,))

    def __neg__(self):
        return Tensor.from_op(-self.data, (self,), lambda g: (-g,))

    def __mul__(self, other):
        a, b = self.data, _operand(other)
        if isinstance(other, Tensor):
            return Tensor.from_op(a * b, (self, other), lambda g: (g * b, g * a))
        return Tensor.from_op(a * b, (self,), lambda g: (g * b,))

    __rmul__ = __mul__

    def __truediv__(self, other):
        a, b = self.data, _operand(other)
        if isinstance(other, Tensor):
            def backward(g):
                ga = g / b
                return ga, -ga * a / b
            return Tensor.from_op(a / b, (self, other), backward)
        return Tensor.from_op(a / b, (self,), lambda g: (g / b,))

    def __rtruediv__(self, other):
        a, b = _operand(other), self.data
        out = a / b
        return Tensor.from_op(out, (self,), lambda g: (-g * out / b,))

    def __pow__(self, exponent):
        x = self.data
        if isinstance(exponent, Tensor):
            out = np.power(x, exponent.data)

            def backward(g):
                ga = g * exponent.data * np.power(x, exponent.data - 1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    gb = g * out * np.where(x > 0, np.log(np.where(x > 0, x, 1)), 0)
                return ga, gb
            return Tensor.from_op(out, (self, exponent), backward)
        p = _operand(exponent)
        if isinstance(p, np.ndarray):
            out = np.power(x, p)
            return Tensor.from_op(out, (self,), lambda g: (g * p * np.power(x, p - 1),))
        p = float(p)
        if p == 2.0:
            return Tensor.from_op(x * x, (self,), lambda g: (g * 2.0 * x,))
        if p == 3.0:
            return Tensor.from_op(x * x * x, (self,), lambda g: (g * 3.0 * (x * x),))
        if p == 1.0:
            return Tensor.from_op(x.copy(), (self,), lambda g: (g,))
        if p == 0.5:
            out = np.sqrt(x)
            return Tensor.from_op(out, (self,), lambda g: (g * 0.5 / out,))
        if p == -1.0:
            out = 1.0 / x
            return Tensor.from_op(out, (self,), lambda g: (-g * out * out,))
        out = np.power(x, p)
        return Tensor.from_op(out, (self,), lambda g: (g * p * np.power(x, p - 1.0),))

    def __rpow__(self, base):
        b = _operand(base)
        out = np.power(b, self.data)
        return Tensor.from_op(out, (self,), lambda g: (g * out * np.log(b),))

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(Tensor(_operand(other)), self)

    # comparisons give NumPy boolean arrays (masks); they are not differentiable
    def __lt__(self, other):
        return self.data < _operand(other)

    def __le__(self, other):
        return self.data <= _operand(other)

    def __gt__(self, other):
        return self.data > _operand(other)

    def __ge__(self, other):
        return self.data >= _operand(other)

    # ----------------------------------------------------- elementwise math
    def exp(self):
        """Chapter 03: e to the power of each element."""
        out = np.exp(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g * out,))

    def log(self):
        """Chapter 03: natural logarithm of each element (log 0 gives -inf, as in PyTorch)."""
        x = self.data
        with np.errstate(divide="ignore"):
            out = np.log(x)
        return Tensor.from_op(out, (self,), lambda g: (g / x,))

    def sqrt(self):
        """Chapter 03: square root of each element."""
        out = np.sqrt(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g * 0.5 / out,))

    def abs(self):
        """Chapter 03: absolute value (gradient 0 at 0, as in PyTorch)."""
        x = self.data
        return Tensor.from_op(np.abs(x), (self,), lambda g: (g * np.sign(x),))

    def clip(self, min=None, max=None):
        """Chapter 03: clamp values to [min, max]; gradient passes where min <= x <= max."""
        x = self.data
        out = np.clip(x, min, max)

        def backward(g):
            mask = np.ones(x.shape, dtype=bool)
            if min is not None:
                mask &= x >= min
            if max is not None:
                mask &= x <= max
            return (g * mask,)
        return Tensor.from_op(out, (self,), backward)

    clamp = clip

    def relu(self):
        """Chapter 01: max(0, x)."""
        x = self.data
        return Tensor.from_op(np.maximum(x, 0), (self,), lambda g: (g * (x > 0),))

    def sigmoid(self):
        """Chapter 01: 1 / (1 + e^-x), computed without overflow for any x."""
        x = self.data
        e = np.exp(-np.abs(x))
        r = 1.0 / (1.0 + e)
        out = np.where(x >= 0, r, e * r)
        return Tensor.from_op(out, (self,), lambda g: (g * out * (1.0 - out),))

    def tanh(self):
        """Chapter 01: hyperbolic tangent."""
        out = np.tanh(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g * (1.0 - out * out),))

    # ----------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims: bool = False):
        """Chapter 03: sum over ``axis`` (all axes by default)."""
        shape = self.data.shape
        out = self.data.sum(axis=axis, keepdims=keepdims)

        def backward(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, _norm_axes(axis, len(shape)))
            return (np.broadcast_to(g, shape),)
        return Tensor.from_op(np.asarray(out), (self,), backward)

    def mean(self, axis=None, keepdims: bool = False):
        """Chapter 03: mean over ``axis`` (all axes by default)."""
        shape = self.data.shape
        count = _count(shape, axis)
        out = self.data.mean(axis=axis, keepdims=keepdims)

        def backward(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, _norm_axes(axis, len(shape)))
            return (np.broadcast_to(g / count, shape),)
        return Tensor.from_op(np.asarray(out), (self,), backward)

    def var(self, axis=None, keepdims: bool = False, ddof: int = 0):
        """Chapter 03: variance over ``axis`` (``ddof=0`` as NumPy; PyTorch's default is ``ddof=1``)."""
        x = self.data
        count = _count(x.shape, axis)
        centered = x - x.mean(axis=axis, keepdims=True)
        out = (centered * centered).sum(axis=axis, keepdims=keepdims) / (count - ddof)

        def backward(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, _norm_axes(axis, x.ndim))
            return (g * centered * (2.0 / (count - ddof)),)
        return Tensor.from_op(np.asarray(out), (self,), backward)

    def _extreme(self, axis, keepdims, fn):
        x = self.data
        out = fn(x, axis=axis, keepdims=True)

        def backward(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, _norm_axes(axis, x.ndim))
            elif axis is None and not keepdims:
                g = np.reshape(g, (1,) * x.ndim)
            mask = x == out
            return (mask * (g / mask.sum(axis=axis, keepdims=True)),)
        result = out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis=axis))
        return Tensor.from_op(np.asarray(result), (self,), backward)

    def max(self, axis=None, keepdims: bool = False):
        """Chapter 03: maximum over ``axis``; ties share the gradient equally (like torch.amax)."""
        return self._extreme(axis, keepdims, np.max)

    def min(self, axis=None, keepdims: bool = False):
        """Chapter 03: minimum over ``axis``; ties share the gradient equally (like torch.amin)."""
        return self._extreme(axis, keepdims, np.min)

    def argmax(self, axis=None):
        """Chapter 03: indices of the maxima (a NumPy array, not differentiable)."""
        return self.data.argmax(axis=axis)

    # ---------------------------------------------------------------- shape
    def reshape(self, *shape):
        """Chapter 03: the same values in a new shape (one dimension may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        src = self.data.shape
        try:
            out = self.data.reshape(shape)
        except ValueError:
            raise ValueError(
                f"cannot reshape a tensor of shape {src} ({self.data.size} values) into shape {shape}"
            ) from None
        return Tensor.from_op(out, (self,), lambda g: (g.reshape(src),))

    view = reshape

    def flatten(self, start_dim: int = 0):
        """Chapter 06: merge all dimensions from ``start_dim`` on into one."""
        start = start_dim % max(self.ndim, 1)
        return self.reshape(self.shape[:start] + (-1,))

    def transpose(self, *axes):
        """Chapter 03: permute dimensions (reverse them when no axes are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(range(self.ndim))[::-1]
        inverse = tuple(np.argsort(axes))
        return Tensor.from_op(self.data.transpose(axes), (self,), lambda g: (g.transpose(inverse),))

    def swapaxes(self, a: int, b: int):
        """Chapter 11: exchange two dimensions."""
        return Tensor.from_op(np.swapaxes(self.data, a, b), (self,), lambda g: (np.swapaxes(g, a, b),))

    @property
    def T(self):
        return self.transpose()

    def __getitem__(self, index):
        index = _clean_index(index)
        x = self.data
        out = x[index]
        advanced = _is_advanced_index(index)

        def backward(g):
            full = np.zeros(x.shape, dtype=g.dtype if g.dtype.kind == "f" else x.dtype)
            if advanced:
                np.add.at(full, index, g)
            else:
                full[index] = g
            return (full,)
        if not advanced and isinstance(out, np.ndarray) and out.base is not None:
            out = out.copy()  # never let the result alias the input's buffer
        return Tensor.from_op(np.asarray(out), (self,), backward)


def _norm_axes(axis, ndim):
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes))


def _count(shape, axis) -> int:
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[a] for a in _norm_axes(axis, len(shape))], dtype=np.int64))


def matmul(a, b) -> Tensor:
    """Chapter 03: matrix product with NumPy's broadcasting rules for stacks of matrices.

    A stack ``(..., m, k)`` times a matrix ``(k, n)`` is folded into one 2-D
    product, which BLAS runs much faster than a loop of small ones.
    """
    a = a if isinstance(a, Tensor) else Tensor(_operand(a))
    b = b if isinstance(b, Tensor) else Tensor(_operand(b))
    x, w = a.data, b.data
    if x.ndim == 0 or w.ndim == 0:
        raise ValueError("matmul: both operands need at least one dimension (use * for scalars)")
    if x.shape[-1] != (w.shape[0] if w.ndim == 1 else w.shape[-2]):
        raise ValueError(
            f"matmul: shapes {x.shape} and {w.shape} do not line up: the last dimension of the left "
            f"({x.shape[-1]}) must equal the {'only' if w.ndim == 1 else 'second-to-last'} dimension "
            f"of the right ({w.shape[0] if w.ndim == 1 else w.shape[-2]})"
        )
    if x.ndim > 2 and w.ndim == 2:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1])
        out = (x2 @ w).reshape(lead + (w.shape[1],))

        def backward(g):
            g2 = g.reshape(-1, g.shape[-1])
            ga = (g2 @ w.T).reshape(x.shape) if a.requires_grad else None
            gb = x2.T @ g2 if b.requires_grad else None
            return ga, gb
        return Tensor.from_op(out, (a, b), backward)

    out = x @ w

    def backward(g):
        if x.ndim == 1 and w.ndim == 1:
            return g * w, g * x
        if x.ndim == 1:
            ga = (g[..., None, :] @ np.swapaxes(w, -1, -2))[..., 0, :] if a.requires_grad else None
            gb = x[:, None] * g[..., None, :] if b.requires_grad else None
            return ga, gb
        if w.ndim == 1:
            ga = g[..., :, None] * w if a.requires_grad else None
            gb = (np.swapaxes(x, -1, -2) @ g[..., None])[..., 0] if b.requires_grad else None
            return ga, gb
        ga = g @ np.swapaxes(w, -1, -2) if a.requires_grad else None
        gb = np.swapaxes(x, -1, -2) @ g if b.requires_grad else None
        return ga, gb
    return Tensor.from_op(np.asarray(out), (a, b), backward)


def _as_tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(_operand(value))


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Chapter 03: join tensors along an existing axis."""
    tensors = [_as_tensor(t) for t in tensors]
    out = np.concatenate([t.data for t in tensors], axis=axis)
    splits = np.cumsum([t.shape[axis] for t in tensors])[:-1]

    def backward(g):
        return tuple(np.split(g, splits, axis=axis))
    return Tensor.from_op(out, tuple(tensors), backward)


def stack(tensors, axis: int = 0) -> Tensor:
    """Chapter 03: join tensors of equal shape along a new axis."""
    tensors = [_as_tensor(t) for t in tensors]
    out = np.stack([t.data for t in tensors], axis=axis)

    def backward(g):
        return tuple(np.take(g, i, axis=axis) for i in range(len(tensors)))
    return Tensor.from_op(out, tuple(tensors), backward)


def where(condition, a, b) -> Tensor:
    """Chapter 03: pick from ``a`` where ``condition`` holds, else from ``b`` (broadcasting)."""
    cond = condition.data.astype(bool) if isinstance(condition, Tensor) else np.asarray(condition, dtype=bool)
    ta, tb = _as_tensor(a), _as_tensor(b)
    out = np.where(cond, ta.data, tb.data)

    def backward(g):
        zero = np.zeros((), dtype=g.dtype)
        return np.where(cond, g, zero), np.where(cond, zero, g)
    return Tensor.from_op(out, (ta, tb), backward)


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Chapter 03: shorthand for ``Tensor(data, requires_grad, dtype)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


class Parameter(Tensor):
    """Chapter 06: a tensor that a model learns; ``requires_grad`` is True by default."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter" + super().__repr__()[len("Tensor"):]

