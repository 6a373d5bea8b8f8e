"""Chapter 03: shape operations (形状操作): the same numbers, arranged differently.

Their backward passes only rearrange the gradient the opposite way: a reshape
reshapes it back, a transpose transposes it back, a pad cuts the padding off,
a concatenate splits it. ``expand``/``broadcast_to`` need nothing at all: the
engine's unbroadcast sums the gradient back.
"""
from __future__ import annotations

import numpy as np

from ..engine import Tensor, as_tensor

__all__ = ["concatenate", "cat", "stack", "split", "chunk", "pad", "broadcast_to", "flip", "tril", "triu",
           "tile", "roll", "squeeze", "unsqueeze", "flatten"]


def _dims(args) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` both mean the tuple (2, 3)."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)


def reshape(x, *shape):
    """Chapter 03: the same values in a new shape (one dimension may be -1)."""
    shape = _dims(shape)
    src = x.data.shape
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {src} ({x.data.size} values) into shape {shape}") from None
    return Tensor.from_op(out, (x,), lambda g: (g.reshape(src),))


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Chapter 06: merge dimensions ``start_dim`` to ``end_dim`` (by default all) into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    merged = int(np.prod(x.shape[start:end + 1], dtype=np.int64))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def _check_dims(x, dims, who: str) -> tuple:
    limit = max(x.ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as torch
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not -limit <= d < limit:
            raise IndexError(f"{who}: dim {d!r} is out of range for a tensor of shape {x.shape} "
                             f"(expected a dim in [{-limit}, {limit - 1}])")
    return tuple(int(d) % limit for d in dims)


def permute(x, *dims):
    """Chapter 03: reorder all dimensions (torch's ``permute``, NumPy's ``transpose(axes)``)."""
    dims = _check_dims(x, _dims(dims), "permute")
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims of a tensor of "
                         f"shape {x.shape}")
    inverse = tuple(np.argsort(dims))
    return Tensor.from_op(x.data.transpose(dims), (x,), lambda g: (g.transpose(inverse),))


def transpose(x, *dims):
    """Chapter 03: torch's ``transpose(dim0, dim1)``: two dims given, those two are swapped (negative
    dims count from the end), so ``x.transpose(0, 1)`` of a matrix is its transpose.

    Without dims, all dims are reversed (``x.T``); a permutation of all dims of a tensor with 3 or
    more dims, ``x.transpose(0, 2, 1)``, reorders them as NumPy's ``transpose(axes)`` and torch's
    ``permute`` do (torch's ``transpose`` refuses it).
    """
    dims = _dims(dims)
    if len(dims) == 2:
        return _swap(x, *dims, who="transpose")
    if len(dims) != x.ndim and dims:
        raise ValueError(f"transpose: give two dims to swap (torch) or a permutation of all {x.ndim} dims "
                         f"(NumPy, as permute), got {dims} for a tensor of shape {x.shape}")
    return permute(x, *(dims or tuple(range(x.ndim))[::-1]))


def _swap(x, a, b, who: str):
    a, b = _check_dims(x, (a, b), who)
    return Tensor.from_op(np.swapaxes(x.data, a, b), (x,), lambda g: (np.swapaxes(g, a, b),))


def swapaxes(x, a: int, b: int):
    """Chapter 11: exchange two dimensions (NumPy's name for torch's ``transpose(a, b)``)."""
    return _swap(x, a, b, who="swapaxes")


def squeeze(x, axis=None):
    """Chapter 03: drop dimensions of size 1 (only ``axis``, if given; other sizes are left alone, as in PyTorch)."""
    if axis is None:
        axes = [i for i, n in enumerate(x.shape) if n == 1]
    else:
        wanted = axis if isinstance(axis, (tuple, list)) else (axis,)
        limit = max(x.ndim, 1)  # a 0-d tensor accepts axis 0 and -1, as torch
        for a in wanted:
            if not -limit <= a < limit:
                raise IndexError(f"squeeze: axis {a} is out of range for a tensor of shape {x.shape} "
                                 f"(expected an axis in [{-limit}, {limit - 1}])")
        axes = [a % x.ndim for a in wanted if x.ndim and x.shape[a] == 1]
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, axis: int):
    """Chapter 03: insert a dimension of size 1 at ``axis`` (-1: at the end)."""
    return reshape(x, np.expand_dims(x.data, axis).shape)


def broadcast_to(x, *shape):
    """Chapter 03: ``x`` repeated (without copying) to ``shape`` by broadcasting."""
    x = as_tensor(x)
    return Tensor.from_op(np.broadcast_to(x.data, _dims(shape)), (x,), lambda g: (g,))


def expand(x, *sizes):
    """Chapter 03: broadcast to ``sizes``, where -1 keeps that dimension (PyTorch's ``expand``)."""
    sizes = _dims(sizes)
    lead = len(sizes) - x.ndim
    return broadcast_to(x, tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes)))


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(x, pad, mode: str = "constant", value: float = 0.0):
    """Chapter 08: pad ``x`` as ``torch.nn.functional.pad``: ``pad`` lists (before, after) pairs from the
    LAST dimension back (``pad(x, (1, 1))`` adds one column on each side); negative widths crop.

    ``mode``: 'constant' (``value``), 'reflect' (mirror without the edge), 'replicate' (repeat the
    edge) or 'circular' (wrap around). The gradient of the copied pixels adds back onto their sources.
    """
    x = as_tensor(x)
    if not isinstance(mode, str):  # pad(x, widths, 1.5): the old positional value
        mode, value = "constant", mode
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected (before, after) pairs for at most {x.ndim} dimensions, got {pad}")
    widths = [(0, 0)] * (x.ndim - len(pad) // 2) + [(pad[i], pad[i + 1]) for i in range(len(pad) - 2, -1, -2)]
    for (lo, hi), n in zip(widths, x.shape):
        if n + lo + hi < (0 if mode == "constant" else 1):  # torch's other modes need a non-empty result
            raise ValueError(f"pad: widths {pad} leave nothing of a dimension of size {n} (shape {x.shape})")
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"pad: reflect padding {max(lo, hi)} must be smaller than the dimension's size {n} "
                             f"(shape {x.shape}), as in torch")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"pad: circular padding {max(lo, hi)} must be at most the dimension's size {n} "
                             f"(shape {x.shape}), as in torch")
    if mode == "constant":
        crop = tuple(slice(-lo if lo < 0 else 0, n + hi if hi < 0 else n) for (lo, hi), n in zip(widths, x.shape))
        if any(lo < 0 or hi < 0 for lo, hi in widths):
            x = x[crop]
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        out = np.pad(x.data, grow, constant_values=value)
        inner = tuple(slice(lo, n + lo) for (lo, _), n in zip(grow, x.shape))
        return Tensor.from_op(out, (x,), lambda g: (g[inner],))
    # the other modes: one index array per padded axis (which source position each output position copies)
    index = []
    for (lo, hi), n in zip(widths, x.shape):
        pos = np.arange(-lo, n + hi)
        if mode == "reflect":
            period = 2 * (n - 1)
            pos = np.abs(pos) % period if period else np.zeros_like(pos)
            pos = np.where(pos >= n, period - pos, pos)
        elif mode == "replicate":
            pos = np.clip(pos, 0, n - 1)
        else:
            pos = pos % n
        index.append(pos)
    grid = np.ix_(*index)
    out = x.data[grid]

    def backward(g):
        full = np.zeros(x.shape, dtype=g.dtype)
        np.add.at(full, grid, g)
        return (full,)
    return Tensor.from_op(out, (x,), backward)


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Chapter 03: join tensors along an existing axis (PyTorch's ``cat``)."""
    tensors = [as_tensor(t) for t in tensors]
    out = np.concatenate([t.data for t in tensors], axis=axis)
    splits = np.cumsum([t.shape[axis] for t in tensors])[:-1]
    return Tensor.from_op(out, tuple(tensors), lambda g: tuple(np.split(g, splits, axis=axis)))


cat = concatenate


def stack(tensors, axis: int = 0) -> Tensor:
    """Chapter 03: join tensors of equal shape along a new axis."""
    tensors = [as_tensor(t) for t in tensors]
    out = np.stack([t.data for t in tensors], axis=axis)
    return Tensor.from_op(out, tuple(tensors), lambda g: tuple(np.take(g, i, axis=axis) for i in range(len(tensors))))


def split(x, split_size_or_sections, axis: int = 0) -> tuple:
    """Chapter 03: cut ``x`` along ``axis`` into pieces of ``split_size`` (the last may be smaller),
    or of the sizes in a list, as torch.split."""
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - lo) for lo in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} add up to {sum(sizes)}, but axis {axis} has size {n}")
    lead = (slice(None),) * (axis % x.ndim)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return tuple(x[lead + (slice(int(lo), int(hi)),)] for lo, hi in zip(bounds[:-1], bounds[1:]))


def chunk(x, chunks: int, axis: int = 0) -> tuple:
    """Chapter 03: split into ``chunks`` pieces of equal size (the last may be smaller), as torch.chunk."""
    n = x.shape[axis]
    return split(x, max(-(-n // chunks), 1), axis)


def flip(x, axis=None):
    """Chapter 03: reverse the order of elements along ``axis`` (all axes by default)."""
    return Tensor.from_op(np.flip(x.data, axis).copy(), (x,), lambda g: (np.flip(g, axis),))


def _triangle(x, k, keep):
    if x.ndim < 2:
        raise ValueError(f"tril/triu need at least 2 dimensions, got shape {x.shape}")
    rows, cols = x.shape[-2:]
    mask = keep(np.arange(cols)[None, :] - np.arange(rows)[:, None], k)
    return Tensor.from_op(np.where(mask, x.data, 0).astype(x.dtype), (x,), lambda g: (g * mask,))


def tril(x, k: int = 0):
    """Chapter 11: the lower triangle (column - row <= k) of the last two dimensions; the rest is 0."""
    return _triangle(x, k, np.less_equal)


def triu(x, k: int = 0):
    """Chapter 11: the upper triangle (column - row >= k) of the last two dimensions; the rest is 0."""
    return _triangle(x, k, np.greater_equal)


def tile(x, *reps):
    """Chapter 03: repeat the whole tensor ``reps[i]`` times along each dimension (np.tile, torch.tile)."""
    reps = _dims(reps)
    shape = (1,) * (len(reps) - x.ndim) + x.shape
    reps = (1,) * (len(shape) - len(reps)) + reps
    out = np.tile(x.data.reshape(shape), reps)

    def backward(g):  # each copy's gradient adds up: view g as (r0, s0, r1, s1, ...) and sum the r axes
        g = g.reshape(tuple(v for pair in zip(reps, shape) for v in pair))
        return (g.sum(axis=tuple(range(0, 2 * len(shape), 2))).reshape(x.shape),)
    return Tensor.from_op(out, (x,), backward)


def repeat(x, *sizes):
    """Chapter 03: PyTorch's ``Tensor.repeat``: like :func:`tile`, with at least ``x.ndim`` sizes."""
    sizes = _dims(sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: need at least {x.ndim} sizes for shape {x.shape}, got {sizes}")
    return tile(x, sizes)


def roll(x, shifts, axis=None):
    """Chapter 03: shift elements along ``axis`` (the flattened tensor by default), wrapping around.

    ``shifts`` and ``axis`` may be tuples of the same length (one shift per axis), as torch.
    """
    many_s, many_a = isinstance(shifts, (tuple, list)), isinstance(axis, (tuple, list))
    if axis is None and many_s and len(shifts) != 1:
        raise ValueError(f"roll: {len(shifts)} shifts {tuple(shifts)} need as many axes; got axis=None")
    if axis is not None and (many_s or many_a):
        ns, na = len(shifts) if many_s else 1, len(axis) if many_a else 1
        if ns != na:
            raise ValueError(f"roll: shifts and axes must align (as in torch): {ns} shift(s) {shifts!r} "
                             f"for {na} axis/axes {axis!r}")
    back = tuple(-s for s in shifts) if many_s else -shifts
    return Tensor.from_op(np.roll(x.data, shifts, axis), (x,), lambda g: (np.roll(g, back, axis),))
