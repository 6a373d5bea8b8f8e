"""nnlib.ops against torch, one line per operation (values AND gradients, through tests/parity.py).

Each row: (id, nnlib function, torch function or None for the same lambda, input shapes, options
for check_parity). ``POS`` marks ops that need positive inputs.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import nnlib
from tests.parity import check_parity

POS = {"low": 0.5, "high": 2.0}
IDX = np.array([[0, 2, 2], [1, 0, 3], [3, 3, 1]])  # gather / scatter_add positions (with repeats)
MASK = np.array([[True, False, True, False]])
T = torch.tensor

OPS = [
    # elementwise
    ("sin", lambda a: a.sin(), None, [(3, 4)], {}),
    ("cos", lambda a: a.cos(), None, [(3, 4)], {}),
    ("log2", lambda a: a.log2(), None, [(3, 4)], POS),
    ("log10", lambda a: a.log10(), None, [(3, 4)], POS),
    ("rsqrt", lambda a: a.rsqrt(), None, [(3, 4)], POS),
    ("erf", lambda a: a.erf(), None, [(3, 4)], {"low": -4.0, "high": 4.0}),
    ("erf-fn", lambda a: nnlib.erf(a), lambda a: torch.erf(a), [(50,)], {"low": -7.0, "high": 7.0}),
    ("sign", lambda a: a.sign(), None, [(3, 4)], {}),
    ("abs", lambda a: abs(a), None, [(3, 4)], {}),
    ("floor", lambda a: a.floor(), None, [(3, 4)], {"low": -5.0, "high": 5.0}),
    ("ceil", lambda a: a.ceil(), None, [(3, 4)], {"low": -5.0, "high": 5.0}),
    ("round", lambda a: a.round(), None, [(3, 4)], {"low": -5.0, "high": 5.0}),
    ("pow-method", lambda a: a.pow(3), None, [(3, 4)], {}),
    ("maximum", lambda a, b: nnlib.maximum(a, b), torch.maximum, [(3, 4), (4,)], {}),
    ("minimum", lambda a, b: a.minimum(b), torch.minimum, [(3, 1), (1, 4)], {}),
    ("maximum-number", lambda a: nnlib.maximum(a, 0.5), lambda a: torch.clamp(a, min=0.5), [(3, 4)], {}),
    ("where", lambda a, b: nnlib.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b), [(3, 4), (4,)], {}),
    ("where-method", lambda a, b: a.where(b > 0, b), lambda a, b: a.where(b > 0, b), [(3, 4), (3, 4)], {}),
    ("where-number", lambda a: nnlib.where(a > 0, a, 0.0), lambda a: torch.where(a > 0, a, 0.0), [(3, 4)], {}),
    ("eq", lambda a, b: a == b.round(), lambda a, b: a == b.round(), [(3, 4), (4,)], {"low": -1, "high": 1}),
    ("ne", lambda a: a.round() != 0, None, [(3, 4)], {}),
    ("lt", lambda a, b: a < b, None, [(3, 4), (4,)], {}),
    ("ge", lambda a: a >= 0.5, None, [(3, 4)], {}),
    ("isfinite", lambda a: (a.log()).isfinite(), lambda a: torch.isfinite(a.log()), [(3, 4)], {}),
    ("isnan", lambda a: (a.log()).isnan(), lambda a: torch.isnan(a.log()), [(3, 4)], {}),
    ("isinf", lambda a: (a * a.round()).log().isinf(), lambda a: torch.isinf((a * a.round()).log()), [(3, 4)], {}),
    # reductions
    ("std", lambda a: a.std(axis=1), lambda a: a.std(dim=1, correction=0), [(3, 4)], {}),
    ("std-ddof", lambda a: a.std(axis=(0, 2), ddof=1, keepdims=True),
     lambda a: a.std(dim=(0, 2), keepdim=True), [(2, 3, 4)], {}),
    ("std-all", lambda a: nnlib.std(a), lambda a: a.std(correction=0), [(3, 4)], {}),
    ("logsumexp", lambda a: a.logsumexp(axis=-1), lambda a: torch.logsumexp(a, dim=-1), [(3, 4)], {}),
    ("logsumexp-keep", lambda a: nnlib.logsumexp(a * 300, axis=0, keepdims=True),
     lambda a: torch.logsumexp(a * 300, dim=0, keepdim=True), [(3, 4)], {}),
    ("prod", lambda a: a.prod(axis=1), lambda a: a.prod(dim=1), [(3, 4)], {}),
    ("prod-all", lambda a: a.prod(), None, [(2, 3)], {}),
    ("cumsum", lambda a: a.cumsum(axis=1), lambda a: a.cumsum(dim=1), [(3, 4)], {}),
    ("cumsum-flat", lambda a: a.cumsum(), lambda a: a.flatten().cumsum(dim=0), [(3, 4)], {}),
    ("any", lambda a: (a > 1).any(axis=1), lambda a: (a > 1).any(dim=1), [(3, 4)], {}),
    ("all", lambda a: (a > -1).all(axis=0, keepdims=True), lambda a: (a > -1).all(dim=0, keepdim=True),
     [(3, 4)], {}),
    ("topk", lambda a: a.topk(2)[0], lambda a: a.topk(2).values, [(3, 5)], {}),
    ("topk-smallest", lambda a: a.topk(3, axis=0, largest=False)[0],
     lambda a: a.topk(3, dim=0, largest=False).values, [(4, 5)], {}),
    ("sort", lambda a: a.sort(axis=0)[0], lambda a: a.sort(dim=0).values, [(4, 3)], {}),
    ("sort-desc", lambda a: nnlib.sort(a, descending=True)[0], lambda a: a.sort(descending=True).values,
     [(4, 3)], {}),
    # shape
    ("squeeze", lambda a: a.squeeze(), None, [(3, 1, 4, 1)], {}),
    ("squeeze-axis", lambda a: a.squeeze(-1), None, [(3, 1, 4, 1)], {}),
    ("squeeze-not-1", lambda a: a.squeeze(0), None, [(3, 1, 4)], {}),
    ("unsqueeze", lambda a: a.unsqueeze(1), None, [(3, 4)], {}),
    ("unsqueeze-neg", lambda a: a.unsqueeze(-1), None, [(3, 4)], {}),
    ("expand", lambda a: a.expand(2, -1, 4), None, [(3, 1)], {}),
    ("broadcast_to", lambda a: nnlib.broadcast_to(a, (2, 3, 4)), lambda a: torch.broadcast_to(a, (2, 3, 4)),
     [(3, 1)], {}),
    ("pad", lambda a: nnlib.pad(a, (1, 2)), lambda a: TF.pad(a, (1, 2)), [(3, 4)], {}),
    ("pad-2d", lambda a: nnlib.pad(a, (1, 0, 2, 1), value=-1.0), lambda a: TF.pad(a, (1, 0, 2, 1), value=-1.0),
     [(2, 3, 4)], {}),
    ("split", lambda a: nnlib.concatenate(a.split(3, axis=1)[::-1], axis=1),
     lambda a: torch.cat(a.split(3, dim=1)[::-1], dim=1), [(2, 7)], {}),
    ("split-sizes", lambda a: a.split([1, 2], axis=0)[1], lambda a: a.split([1, 2], dim=0)[1], [(3, 4)], {}),
    ("chunk", lambda a: nnlib.cat(a.chunk(3, axis=-1)[::-1], axis=-1),
     lambda a: torch.cat(a.chunk(3, dim=-1)[::-1], dim=-1), [(2, 8)], {}),
    ("flip", lambda a: a.flip(0), lambda a: a.flip(0), [(3, 4)], {}),
    ("flip-axes", lambda a: a.flip((0, 2)), lambda a: a.flip((0, 2)), [(2, 3, 4)], {}),
    ("tril", lambda a: a.tril(), None, [(4, 4)], {}),
    ("tril-k", lambda a: a.tril(-1), lambda a: a.tril(-1), [(2, 3, 5)], {}),
    ("triu", lambda a: a.triu(1), None, [(3, 5)], {}),
    ("repeat", lambda a: a.repeat(2, 1, 3), None, [(3, 2)], {}),
    ("tile", lambda a: a.tile(2), lambda a: a.tile((2,)), [(3, 2)], {}),
    ("flatten", lambda a: a.flatten(), None, [(2, 3, 4)], {}),
    ("flatten-mid", lambda a: a.flatten(1, 2), None, [(2, 3, 4, 5)], {}),
    ("flatten-neg", lambda a: a.flatten(-2), lambda a: a.flatten(-2), [(2, 3, 4)], {}),
    ("roll", lambda a: a.roll(2, axis=1), lambda a: a.roll(2, dims=1), [(3, 4)], {}),
    ("roll-flat", lambda a: a.roll(-5), lambda a: a.roll(-5), [(3, 4)], {}),
    ("permute", lambda a: a.permute(2, 0, 1), None, [(2, 3, 4)], {}),
    ("transpose-neg", lambda a: a.transpose(-1, 0, 1), lambda a: a.permute(-1, 0, 1), [(2, 3, 4)], {}),
    # torch's transpose(dim0, dim1): two dims are swapped, on a matrix too (NumPy's (0, 1) would be the identity)
    ("transpose-2d", lambda a: a.transpose(0, 1), None, [(3, 4)], {}),
    ("transpose-2d-neg", lambda a: a.transpose(-1, 0), None, [(3, 4)], {}),
    ("transpose-3d-swap", lambda a: a.transpose(0, 1), None, [(2, 3, 4)], {}),
    ("transpose-4d-swap-neg", lambda a: a.transpose(-2, -1), None, [(2, 3, 4, 5)], {}),
    ("transpose-fn", lambda a: nnlib.transpose(a, 1, 2), lambda a: torch.transpose(a, 1, 2), [(2, 3, 4)], {}),
    ("transpose-T", lambda a: a.T, lambda a: a.permute(1, 0), [(3, 4)], {}),
    ("permute-2d-identity", lambda a: a.permute(0, 1), None, [(3, 4)], {}),
    # indexing
    ("gather", lambda a: a.gather(1, IDX[:, :2]), lambda a: a.gather(1, T(IDX[:, :2])), [(3, 4)], {}),
    ("gather-0", lambda a: nnlib.gather(a, 0, IDX[:2] % 3), lambda a: torch.gather(a, 0, T(IDX[:2] % 3)),
     [(3, 4)], {}),
    ("scatter_add", lambda a, b: a.scatter_add(1, IDX, b), lambda a, b: a.scatter_add(1, T(IDX), b),
     [(3, 4), (3, 3)], {}),
    ("scatter_add-big-src", lambda a, b: a.scatter_add(0, IDX[:2] % 3, b),
     lambda a, b: a.scatter_add(0, T(IDX[:2] % 3), b[:2, :3]), [(3, 4), (3, 4)], {}),  # torch's own backward
    # fails for a src larger than index
    ("masked_fill", lambda a: a.masked_fill(MASK, 0.5), lambda a: a.masked_fill(T(MASK), 0.5), [(3, 4)], {}),
    ("masked_fill-tensor", lambda a: a.masked_fill(a > 0, -np.inf).exp(),
     lambda a: a.masked_fill(a > 0, -np.inf).exp(), [(3, 4)], {}),
    ("index-tensor", lambda a: a[nnlib.tensor(IDX[0], dtype=np.int64)], lambda a: a[T(IDX[0])], [(4, 3)], {}),
    ("index-bool-tensor", lambda a: a[a > 0], lambda a: a[a > 0], [(3, 4)], {}),
]


@pytest.mark.parametrize("name, fn, torch_fn, shapes, opts", OPS, ids=[row[0] for row in OPS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_op_matches_torch(name, fn, torch_fn, shapes, opts, dtype):
    if dtype == np.float32 and name.startswith("erf"):
        opts = {**opts, "atol": 1e-6}
    check_parity(fn, torch_fn, shapes=shapes, dtype=dtype, **opts)


# ------------------------------------------------------------- broadcasting
FAST = settings(max_examples=20, deadline=None)
pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


@FAST
@given(shapes=pairs, seed=st.integers(0, 1000))
@pytest.mark.parametrize("op", ["maximum", "minimum", "where", "eq", "lt"])
def test_two_input_ops_broadcast(op, shapes, seed):
    fn, torch_fn = {
        "maximum": (lambda a, b: nnlib.maximum(a, b), torch.maximum),
        "minimum": (lambda a, b: nnlib.minimum(a, b), torch.minimum),
        "where": (lambda a, b: nnlib.where(a > b, a * 2, b), lambda a, b: torch.where(a > b, a * 2, b)),
        "eq": (lambda a, b: a.round() == b.round(), None),
        "lt": (lambda a, b: a < b, None),
    }[op]
    check_parity(fn, torch_fn, shapes=shapes.input_shapes, seed=seed)


@FAST
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), seed=st.integers(0, 1000),
       data=st.data())
@pytest.mark.parametrize("op", ["prod", "logsumexp", "std", "cumsum", "flip", "roll"])
def test_axis_ops_any_axis(op, shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    keep = data.draw(st.booleans())
    fn, torch_fn = {
        "prod": (lambda a: a.prod(axis=axis, keepdims=keep), lambda a: a.prod(dim=axis, keepdim=keep)),
        "logsumexp": (lambda a: a.logsumexp(axis=axis, keepdims=keep), lambda a: a.logsumexp(axis, keep)),
        "std": (lambda a: a.std(axis=axis, keepdims=keep), lambda a: a.std(dim=axis, keepdim=keep, correction=0)),
        "cumsum": (lambda a: a.cumsum(axis=axis), lambda a: a.cumsum(dim=axis)),
        "flip": (lambda a: a.flip(axis), lambda a: a.flip(axis)),
        "roll": (lambda a: a.roll(1, axis=axis), lambda a: a.roll(1, dims=axis)),
    }[op]
    if op == "std" and shape[axis % len(shape)] == 1:
        return  # std of one value: 0, and its gradient is NaN in both; covered in test_ops_edges
    check_parity(fn, torch_fn, shapes=[tuple(shape)], seed=seed)


# ------------------------------------------------------------------- ties
def test_maximum_minimum_ties_split_the_gradient_like_torch():
    a = np.array([1.0, 2.0, 3.0, -1.0])
    b = np.array([1.0, 5.0, 3.0, -2.0])
    check_parity(lambda x, y: nnlib.maximum(x, y), torch.maximum, inputs=[a, b])
    check_parity(lambda x, y: nnlib.minimum(x, y), torch.minimum, inputs=[a, b])


@pytest.mark.parametrize("x", [
    [[1.0, 0.0, 3.0], [2.0, 4.0, 5.0]],     # one zero
    [[0.0, 0.0, 3.0], [0.0, 4.0, 0.0]],     # two zeros
    [[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]],
])
def test_prod_with_zeros_matches_torch(x):
    x = np.array(x)
    check_parity(lambda a: a.prod(axis=1), lambda a: a.prod(dim=1), inputs=[x])
    check_parity(lambda a: a.prod(axis=0), lambda a: a.prod(dim=0), inputs=[x])
    check_parity(lambda a: a.prod(), lambda a: a.prod(), inputs=[x])


# ------------------------------------------------------------ index results
def test_argmax_argmin_argsort_topk_indices_match_torch():
    x = np.random.default_rng(0).normal(size=(4, 5))
    t = torch.tensor(x)
    a = nnlib.Tensor(x)
    np.testing.assert_array_equal(a.argmax(axis=1), t.argmax(dim=1).numpy())
    np.testing.assert_array_equal(a.argmin(axis=0), t.argmin(dim=0).numpy())
    assert a.argmax(axis=1, keepdims=True).shape == t.argmax(dim=1, keepdim=True).shape
    np.testing.assert_array_equal(a.argsort(axis=1), t.argsort(dim=1).numpy())
    np.testing.assert_array_equal(nnlib.argsort(a, descending=True), t.argsort(descending=True).numpy())
    np.testing.assert_array_equal(a.topk(3)[1], t.topk(3).indices.numpy())
    np.testing.assert_array_equal(a.sort(axis=0)[1], t.sort(dim=0).indices.numpy())


def test_one_hot_matches_torch_and_checks_its_input():
    labels = np.array([2, 0, 1, 2])
    got = nnlib.one_hot(labels, 4)
    np.testing.assert_array_equal(got.data, TF.one_hot(torch.tensor(labels), 4).numpy())
    assert got.dtype == np.float32 and nnlib.one_hot(labels, dtype=np.int64).shape == (4, 3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        nnlib.one_hot([0, 3], 3)
    with pytest.raises(IndexError):
        nnlib.one_hot(np.array([0.0, 1.0]), 2)


# --------------------------------------------------------------- creation
@pytest.mark.parametrize("ours, theirs", [
    (lambda: nnlib.zeros(2, 3), lambda: torch.zeros(2, 3)),
    (lambda: nnlib.ones((2, 3)), lambda: torch.ones((2, 3))),
    (lambda: nnlib.full((2, 2), 7.5), lambda: torch.full((2, 2), 7.5)),
    (lambda: nnlib.eye(3), lambda: torch.eye(3)),
    (lambda: nnlib.eye(2, 4, dtype=np.float64), lambda: torch.eye(2, 4, dtype=torch.float64)),
    (lambda: nnlib.arange(5), lambda: torch.arange(5.0)),
    (lambda: nnlib.arange(1, 2, 0.25), lambda: torch.arange(1, 2, 0.25)),
    (lambda: nnlib.arange(4, dtype=np.int64), lambda: torch.arange(4)),
    (lambda: nnlib.zeros_like(nnlib.ones(2, dtype=np.float64)), lambda: torch.zeros(2, dtype=torch.float64)),
    (lambda: nnlib.ones_like(np.zeros((1, 2), np.float32)), lambda: torch.ones(1, 2)),
    (lambda: nnlib.full_like(nnlib.zeros(3), 2.0), lambda: torch.full((3,), 2.0)),
])
def test_creation_matches_torch(ours, theirs):
    got, want = ours(), theirs()
    assert isinstance(got, nnlib.Tensor) and not got.requires_grad
    assert got.dtype == want.numpy().dtype
    np.testing.assert_array_equal(got.data, want.numpy())


def test_creation_requires_grad_and_seeded_random():
    w = nnlib.zeros(2, 3, requires_grad=True)
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad, 2.0)
    nnlib.manual_seed(7)
    a, n = nnlib.rand(3, 4), nnlib.randn(1000, dtype=np.float64)
    nnlib.manual_seed(7)
    np.testing.assert_array_equal(a.data, nnlib.rand((3, 4)).data)
    np.testing.assert_array_equal(n.data, nnlib.randn(1000, dtype=np.float64).data)
    assert a.dtype == np.float32 and 0 <= a.data.min() and a.data.max() < 1
    assert abs(n.data.mean()) < 0.15 and 0.85 < n.data.std() < 1.15
    assert nnlib.randn(2, requires_grad=True).requires_grad


def test_module_level_functions_take_arrays():
    x = np.array([[1.0, -2.0], [3.0, 4.0]])
    assert nnlib.sum(x).item() == 6.0 and nnlib.max(x, axis=0).shape == (2,)
    np.testing.assert_allclose(nnlib.exp(x).data, np.exp(x))
    np.testing.assert_array_equal(nnlib.abs(x).data, np.abs(x))
    np.testing.assert_array_equal(nnlib.reshape(x, 4).data, x.reshape(4))
    np.testing.assert_array_equal(nnlib.maximum(x, 0.0).data, np.maximum(x, 0))
    assert nnlib.as_tensor(x).dtype == np.float64 and nnlib.as_tensor([1, 2]).dtype == np.float32
    t = nnlib.Tensor([1.0])
    assert nnlib.as_tensor(t) is t and nnlib.as_tensor(t, np.float64).dtype == np.float64
    import builtins
    namespace = {}
    exec("from nnlib import *", namespace)
    assert "sum" not in namespace and "max" not in namespace and "zeros" in namespace
    assert builtins.sum([1, 2]) == 3
