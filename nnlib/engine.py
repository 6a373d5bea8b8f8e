"""Chapter 03: the Tensor and reverse-mode automatic differentiation (自动微分).

This file is the whole autograd engine; read it next to chapter 03's own engine.

* A :class:`Tensor` wraps a NumPy array (``.data``) and, when it needs one, a
  gradient (``.grad``) of the same shape.
* Every operation builds its output with :meth:`Tensor.from_op`, which records
  the inputs (``_parents``) and a small ``backward`` function: output gradient in,
  one gradient per input out.
* :meth:`Tensor.backward` visits the graph in reverse topological order (an
  iterative walk, so chains of 100,000 operations work) and adds the gradients
  of the leaves into ``.grad``, as ``torch.autograd`` does.
* Broadcasting is undone in one place only (:func:`_unbroadcast`).

The operations (``+``, ``exp``, ``sum``, ``reshape``, indexing...) live in
:mod:`nnlib.ops`, which attaches them to :class:`Tensor` (see the end of this file).
"""
from __future__ import annotations

import contextlib
import numbers
import threading

import numpy as np

__all__ = ["Tensor", "Parameter", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "tensor",
           "as_tensor", "operand_data", "unbroadcast", "leaf_gradient_sink", "matmul", "concatenate", "stack",
           "where"]

# ------------------------------------------------------------------ grad mode
class _GradState(threading.local):
    """The grad mode, one per thread (as in PyTorch): a new thread starts with graph building on."""

    enabled = True


_GRAD_STATE = _GradState()


def is_grad_enabled() -> bool:
    """Chapter 03: True when operations record a graph for backpropagation (in this thread)."""
    return _GRAD_STATE.enabled


class _GradMode(contextlib.ContextDecorator):
    """``no_grad()`` / ``enable_grad()``: set the mode on entry, restore the previous one on exit.

    The previous modes are kept on a per-thread stack, so one object may be entered again
    while it is active (a decorated function calling itself, or running in several threads).
    """

    def __init__(self, enabled: bool):
        self.enabled = bool(enabled)
        self._saved = threading.local()

    def __enter__(self):
        stack = self._saved.__dict__.setdefault("stack", [])
        stack.append(_GRAD_STATE.enabled)
        _GRAD_STATE.enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _GRAD_STATE.enabled = self._saved.stack.pop()
        return False


def no_grad():
    """Chapter 03: context manager (or decorator) under which no graph is built.

    Nests (the mode in force before is restored on exit, also after an exception) and is
    per thread, as in PyTorch: it changes only the calling thread's mode; other threads,
    and threads started inside the block, keep their own (a new thread starts enabled).

    Use it for evaluation and for parameter updates::

        with nnlib.no_grad():
            prediction = model(x)
    """
    return _GradMode(False)


def enable_grad():
    """Chapter 03: context manager (or decorator) that turns graph building back on inside ``no_grad``.

    Like :func:`no_grad` it nests, restores the previous mode on exit and is per thread.
    """
    return _GradMode(True)


def set_grad_enabled(mode: bool):
    """Chapter 03: context manager (or decorator) that sets graph building to ``mode`` (as torch's).

    ``no_grad()`` is ``set_grad_enabled(False)``; passing a variable lets code carry a mode over,
    e.g. into worker threads (:mod:`nnlib.parallel`). It nests and is per thread, like :func:`no_grad`.
    """
    return _GradMode(mode)


# ---------------------------------------------------------- values -> arrays
def _to_array(value, dtype=None) -> np.ndarray:
    """An ndarray following nnlib's dtype rule: float arrays keep their dtype;
    Python numbers, lists, bools and integer arrays become float32 (unless ``dtype`` is given)."""
    if isinstance(value, Tensor):
        value = value.data
    if dtype is not None:
        return np.asarray(value, dtype=dtype)
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind == "f" else value.astype(np.float32)
    if isinstance(value, np.generic) and value.dtype.kind == "f":
        return np.asarray(value)
    return np.asarray(value, dtype=np.float32)


def operand_data(value):
    """Chapter 03: the raw data for the other side of a binary operation.

    Python (and NumPy) numbers
    stay Python numbers, so ``float32 * 2.0`` stays float32; arrays are used as they are
    (the operation promotes by nnlib's dtype rule, :mod:`nnlib.ops.dtypes`)."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, numbers.Number):
        return value.item() if isinstance(value, np.generic) else value
    return np.asarray(value)  # an array keeps its dtype: the op promotes (nnlib.ops.dtypes)


def as_tensor(value, dtype=None) -> "Tensor":
    """Chapter 03: ``value`` itself if it is a Tensor (converted when ``dtype`` differs), else a new Tensor.

    Numbers and integer arrays become float32, float arrays keep their dtype.
    """
    if isinstance(value, Tensor):
        return value if dtype is None or value.dtype == np.dtype(dtype) else value.astype(dtype)
    return Tensor(operand_data(value), dtype=dtype)


def tensor(data, requires_grad: bool = False, dtype=None) -> "Tensor":
    """Chapter 03: shorthand for ``Tensor(data, requires_grad, dtype)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient of a broadcast result back to an operand's ``shape``: the one place
    where broadcasting is undone (leading axes that broadcasting added, and axes of size 1)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        return np.broadcast_to(grad, shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape) if extra else grad


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Chapter 03: sum a gradient computed in a broadcast shape back to an operand's ``shape``."""
    return _unbroadcast(np.asarray(grad), tuple(shape))


class _LeafSink(threading.local):
    """Where this thread's ``backward()`` puts leaf gradients: None (into ``.grad``) or a dict."""

    grads = None


_LEAF_SINK = _LeafSink()
_LEAF_LOCK = threading.Lock()  # threads may share leaves: adding into .grad is one step at a time


def _accumulate_grad(leaf: "Tensor", grad: np.ndarray, owned: bool) -> None:
    """Add ``grad`` into ``leaf.grad`` (or into this thread's :func:`leaf_gradient_sink`).

    ``owned``: nobody else holds ``grad``, so it is kept without a copy."""
    sink = _LEAF_SINK.grads
    if sink is not None:
        held = sink.get(id(leaf))
        if held is None:
            sink[id(leaf)] = (leaf, grad if owned else np.array(grad, dtype=leaf.data.dtype, copy=True))
        else:
            sink[id(leaf)] = (leaf, held[1] + grad)
        return
    with _LEAF_LOCK:
        if leaf.grad is None:
            leaf.grad = grad if owned else np.array(grad, dtype=leaf.data.dtype, copy=True)
        else:
            leaf.grad = leaf.grad + grad


@contextlib.contextmanager
def leaf_gradient_sink():
    """Chapter 15: collect this thread's leaf gradients in a dict instead of adding them into ``.grad``.

    ::

        with leaf_gradient_sink() as grads:
            loss.backward()          # every leaf's .grad is left as it was
        # grads == {id(leaf): (leaf, gradient), ...}, in the order backward reached the leaves

    Only ``backward()`` calls in the calling thread are affected, and only inside the block
    (blocks nest: the outer one's dict is back in use on exit). :mod:`nnlib.parallel` uses it
    so that each worker thread keeps its shard's gradients apart and adds them up in shard
    order, which makes the result independent of which thread finishes first.
    """
    previous, grads = _LEAF_SINK.grads, {}
    _LEAF_SINK.grads = grads
    try:
        yield grads
    finally:
        _LEAF_SINK.grads = previous


# --------------------------------------------------------------------- Tensor
class Tensor:
    """Chapter 03: an n-dimensional array that remembers how it was computed.

    ``Tensor(data, requires_grad=False, dtype=None)``. Float arrays keep their
    dtype (float64 stays float64); Python numbers, lists and integer arrays
    become float32; ``dtype=`` keeps any of nnlib's dtypes (bool, integers, floats). What an
    operation returns follows torch's promotion (see :mod:`nnlib.ops.dtypes`, the one place
    the rule is written). Comparisons (``==``, ``<``...) give bool Tensors, as in PyTorch;
    Tensors hash by identity, so they can be dictionary keys.
    """

    __array_ufunc__ = None  # make NumPy defer to our reflected operators (array + tensor -> Tensor)
    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "name", "__weakref__")
    __hash__ = object.__hash__  # __eq__ is elementwise, so hash by identity

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require gradients, got dtype {self.data.dtype}")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._backward = None
        self.name = None

    @staticmethod
    def from_op(data: np.ndarray, parents: tuple, backward) -> "Tensor":
        """Chapter 03: build the output of an operation.

        ``backward(grad_out)`` must return one gradient (or None) per parent,
        in the broadcast shape or the parent's shape; it must not modify
        ``grad_out`` in place. No graph is recorded under :func:`no_grad` or
        when no parent requires a gradient.
        """
        out = Tensor.__new__(Tensor)
        out.data, out.grad, out.name = data, None, None
        if _GRAD_STATE.enabled and any(p.requires_grad for p in parents):
            out.requires_grad, out._parents, out._backward = True, parents, backward
        else:
            out.requires_grad, out._parents, out._backward = False, (), None
        return out

    def _topological_order(self) -> list:
        """Every node that needs a gradient, each after all of its parents (depth-first, with a stack)."""
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))  # comes back after its parents
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
            raise RuntimeError("backward() called on a tensor that does not require grad: none of its inputs "
                               "has requires_grad=True (or it was computed under nnlib.no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a single-value tensor (a loss), got "
                                   f"shape {self.shape}; reduce it first (e.g. .sum() or .mean()) or pass grad=")
            seed = np.ones_like(self.data)
        else:
            seed = _to_array(grad, self.data.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"backward(grad): grad has shape {seed.shape}, tensor has shape {self.shape}")
        grads = {id(self): seed}  # gradients waiting for their node, by id
        handed_out = {id(seed)}  # arrays a leaf already keeps (or the caller's): never keep one twice
        for node in reversed(self._topological_order()):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:  # a leaf: accumulate into .grad
                owned = g.flags.owndata and g.flags.writeable and id(g) not in handed_out
                handed_out.add(id(g))
                _accumulate_grad(node, g, owned)
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if pg is None or not parent.requires_grad:
                    continue
                pg = _unbroadcast(pg if isinstance(pg, np.ndarray) else np.asarray(pg), parent.data.shape)
                if pg.dtype != parent.data.dtype:
                    pg = pg.astype(parent.data.dtype)
                previous = grads.get(id(parent))
                grads[id(parent)] = pg if previous is None else previous + pg

    def zero_grad(self) -> None:
        """Chapter 03: forget the accumulated gradient."""
        self.grad = None

    def detach(self) -> "Tensor":
        """Chapter 03: the same data, cut off from the graph."""
        return Tensor(self.data, dtype=self.data.dtype)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        """Chapter 03: switch gradient tracking on or off for this leaf, in place."""
        self.requires_grad = bool(flag)
        return self

    # ------------------------------------------------------------- basic info
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    def numpy(self) -> np.ndarray:
        """Chapter 03: the underlying NumPy array."""
        return self.data

    def item(self):
        """Chapter 03: the single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()


class Parameter(Tensor):
    """Chapter 06: a tensor that a model learns; ``requires_grad`` is True by default."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter" + super().__repr__()[len("Tensor"):]


# The operations: nnlib.ops attaches them to Tensor as methods and operators.
from . import ops as _ops  # noqa: E402
from .ops.linalg import matmul  # noqa: E402
from .ops.shape import concatenate, stack  # noqa: E402
from .ops.elementwise import where  # noqa: E402
