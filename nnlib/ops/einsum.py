"""Chapter 11: ``einsum`` (爱因斯坦求和), one notation for sums of products over named axes.

``einsum("bij,bjk->bik", a, b)`` is a batched matrix product; ``"ii->i"`` the
diagonal; ``"ij->"`` a total sum; ``"...ij,jk->...ik"`` a product broadcast over
leading axes. As in ``torch.einsum``: labels are letters, a label repeated inside one
operand takes a diagonal, ``...`` stands for broadcast axes, and without ``->`` the
output holds the labels that appear exactly once, in alphabetical order, after the
``...`` axes.

The backward pass is an einsum too: the gradient of operand k is
``einsum(output, other operands -> labels of k)``. Labels of k that appear nowhere
else were summed in the forward pass, so their gradient is broadcast back; repeated
labels (a diagonal) are written into a zero array through a strided view of its
diagonal.
"""
from __future__ import annotations

import string

import numpy as np

from ..engine import Tensor, as_tensor

__all__ = ["einsum"]

_LETTERS = string.ascii_letters


def _parse(equation: str, shapes: list) -> tuple:
    """(input label strings, output label string) with ``...`` replaced by spare letters."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string such as 'ij,jk->ik', got {type(equation).__name__}")
    eq = equation.replace(" ", "")
    explicit = "->" in eq
    lhs, rhs = eq.split("->", 1) if explicit else (eq, None)
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: equation {equation!r} names {len(terms)} operand(s), got {len(shapes)}")
    used = set(c for c in eq if c.isalpha())
    bad = set(eq) - set(_LETTERS) - set(",->.")
    if bad or (rhs is not None and "-" in rhs) or (rhs is not None and ">" in rhs):
        raise ValueError(f"einsum: invalid character(s) {sorted(bad) or ['->']} in {equation!r}; use letters, ',', "
                         "'->' and '...'")
    spare = [c for c in _LETTERS if c not in used]
    n_ell = 0
    parsed = []
    for term, shape in zip(terms, shapes):
        if term.count("...") > 1 or term.replace("...", "").count(".") > 0:
            raise ValueError(f"einsum: malformed ellipsis in {term!r} of {equation!r}")
        explicit_dims = len(term.replace("...", ""))
        if "..." in term:
            e = len(shape) - explicit_dims
            if e < 0:
                raise ValueError(f"einsum: operand {len(parsed)} has shape {shape}, fewer axes than its subscripts "
                                 f"{term!r}")
            n_ell = max(n_ell, e)
        elif explicit_dims != len(shape):
            raise ValueError(f"einsum: operand {len(parsed)} has {len(shape)} axes (shape {shape}) but its subscripts "
                             f"{term!r} name {explicit_dims}")
        parsed.append(term)
    ell = "".join(spare[:n_ell])
    inputs = []
    for term, shape in zip(parsed, shapes):
        if "..." in term:
            e = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ell[n_ell - e:])
        inputs.append(term)
    if rhs is None:
        counts = {}
        for term in inputs:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        output = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        if rhs.count("...") > 1 or rhs.replace("...", "").count(".") > 0:
            raise ValueError(f"einsum: malformed ellipsis in the output {rhs!r} of {equation!r}")
        output = rhs.replace("...", ell)
        seen = set()
        for c in output:
            if c in seen:
                raise ValueError(f"einsum: output label {c!r} appears twice in {equation!r}")
            seen.add(c)
            if not any(c in term for term in inputs):
                raise ValueError(f"einsum: output label {c!r} of {equation!r} is in no operand")
    return inputs, output


def _sizes(inputs: list, shapes: list, equation: str) -> dict:
    """The size of every label; sizes must agree (or be 1, which broadcasts)."""
    sizes = {}
    for i, (term, shape) in enumerate(zip(inputs, shapes)):
        for c, n in zip(term, shape):
            old = sizes.get(c)
            if old is None or old == 1:
                sizes[c] = n
            elif n != old and n != 1:
                raise ValueError(f"einsum: label {c!r} of {equation!r} has size {old} in one place and {n} in "
                                 f"operand {i} (shape {shape}); sizes must match (or be 1)")
    return sizes


def _broadcast(arr: np.ndarray, term: str, sizes: dict) -> np.ndarray:
    full = tuple(sizes[c] for c in term)
    return arr if arr.shape == full else np.broadcast_to(arr, full)


def _run(spec: str, arrays: list) -> np.ndarray:
    return np.einsum(spec, *arrays, optimize=len(arrays) >= 2)


def _grad_for(k: int, g: np.ndarray, inputs: list, output: str, arrays: list, sizes: dict,
              shape: tuple) -> np.ndarray:
    term = inputs[k]
    unique = "".join(dict.fromkeys(term))
    others = [t for i, t in enumerate(inputs) if i != k]
    available = set(output).union(*others) if others else set(output)
    reach = "".join(c for c in unique if c in available)
    spec = ",".join([output] + others) + "->" + reach
    part = _run(spec, [g] + [a for i, a in enumerate(arrays) if i != k])
    if reach != unique:  # labels summed inside operand k alone: their gradient is broadcast
        part = part.reshape(tuple(sizes[c] if c in reach else 1 for c in unique))
        part = np.broadcast_to(part, tuple(sizes[c] for c in unique))
    full_shape = tuple(sizes[c] for c in term)
    if unique == term:
        grad = np.array(part, dtype=g.dtype)
    else:  # a label repeated in the operand: write onto that diagonal of a zero array
        grad = np.zeros(full_shape, dtype=g.dtype)
        strides = tuple(sum(grad.strides[i] for i, c in enumerate(term) if c == u) for u in unique)
        diag = np.lib.stride_tricks.as_strided(grad, shape=part.shape, strides=strides)
        diag[...] = part
    if full_shape != shape:  # the operand was broadcast (size-1 axes): sum back
        axes = tuple(i for i, (n, m) in enumerate(zip(shape, full_shape)) if n == 1 and m != 1)
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def einsum(equation: str, *operands) -> Tensor:
    """Chapter 11: Einstein summation over Tensors, with gradients (``torch.einsum``'s semantics).

    ``einsum("ij,jk->ik", a, b)`` equals ``a @ b``; operands may also be given as one
    list. See the module docstring for the notation.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    tensors = tuple(as_tensor(t) for t in operands)
    shapes = [t.shape for t in tensors]
    inputs, output = _parse(equation, shapes)
    sizes = _sizes(inputs, shapes, equation)
    arrays = [_broadcast(t.data, term, sizes) for t, term in zip(tensors, inputs)]
    dtype = np.result_type(*[a.dtype for a in arrays])
    arrays = [a.astype(dtype, copy=False) for a in arrays]
    out = np.asarray(_run(",".join(inputs) + "->" + output, arrays), dtype=dtype)

    def backward(g):
        return tuple(_grad_for(k, g, inputs, output, arrays, sizes, t.shape) if t.requires_grad else None
                     for k, t in enumerate(tensors))
    return Tensor.from_op(out, tensors, backward)
