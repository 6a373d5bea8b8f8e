"""The one torch-parity helper every nnlib test uses.

``check_parity(fn, shapes=...)`` runs the same lambda on nnlib Tensors and on
torch tensors built from the same random data, then compares the outputs'
values, shapes and dtypes and, after backpropagating the same random upstream
gradient through both, every input's gradient.
"""
from __future__ import annotations

import numpy as np
import torch

import nnlib

_TOL = {np.float64: (1e-10, 1e-8), np.float32: (1e-5, 1e-4)}


def _to_numpy(value):
    if isinstance(value, nnlib.Tensor):
        return value.data
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value)


def make_inputs(shapes, dtype=np.float64, seed=0, low=-2.0, high=2.0):
    """Random arrays of the given shapes, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, size=s).astype(dtype) for s in shapes]


def check_parity(fn, torch_fn=None, shapes=None, inputs=None, *, dtype=np.float64, grad=True,
                 atol=None, rtol=None, seed=0, low=-2.0, high=2.0, extra=()):
    """Compare ``fn`` on nnlib with ``torch_fn`` (default: the same ``fn``) on torch.

    ``inputs`` (arrays) or ``shapes`` give the differentiable arguments;
    ``extra`` are passed unchanged after them (e.g. integer targets). Returns
    the nnlib output for further checks. A non-float output (a comparison's bool
    result, indices) is compared exactly and has no gradient to check.
    """
    torch_fn = torch_fn or fn
    arrays = [np.asarray(a) for a in inputs] if inputs is not None else make_inputs(shapes, dtype, seed, low, high)
    dtype = arrays[0].dtype.type if arrays else dtype
    default_atol, default_rtol = _TOL.get(dtype, (1e-5, 1e-4))
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol

    # integer and bool inputs keep their dtype and take no gradient (as in torch)
    ours = [nnlib.Tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f", dtype=a.dtype) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    out = fn(*ours, *extra)
    ref = torch_fn(*theirs, *extra)

    got, expected = _to_numpy(out), _to_numpy(ref)
    assert got.shape == expected.shape, f"shape: nnlib {got.shape} vs torch {expected.shape}"
    assert got.dtype == expected.dtype, f"dtype: nnlib {got.dtype} vs torch {expected.dtype}"
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, expected, err_msg="forward values differ")
        return out
    np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol, err_msg="forward values differ")

    if grad and ref.requires_grad:
        assert out.requires_grad, "torch's output carries a gradient, nnlib's does not"
        upstream = np.random.default_rng(seed + 1).uniform(-1, 1, size=got.shape).astype(got.dtype)
        out.backward(upstream)
        ref.backward(torch.tensor(upstream))
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if b.grad is None:
                assert a.grad is None or not np.any(a.grad), f"input {i}: torch has no grad, nnlib does"
                continue
            assert a.grad is not None, f"input {i}: nnlib produced no gradient"
            assert a.grad.shape == a.shape, f"input {i}: grad shape {a.grad.shape} vs input {a.shape}"
            assert a.grad.dtype == a.dtype, f"input {i}: grad dtype {a.grad.dtype} vs input {a.dtype}"
            np.testing.assert_allclose(a.grad, b.grad.numpy(), atol=atol, rtol=rtol,
                                       err_msg=f"gradient of input {i} differs")
    return out
