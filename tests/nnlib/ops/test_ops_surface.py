"""The rest of torch's op surface (issue 18): values, gradients and dtypes against torch via tests/parity.py."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import nnlib
import nnlib.functional as F
from tests.parity import check_parity

T = torch.tensor
IDX = np.array([[0, 2, 2], [1, 0, 3], [3, 3, 1]])
ZEROS = np.array([[1.5, 0.0, -2.0, 0.5], [0.0, 0.0, 3.0, -1.0]])
TIES = np.array([[1.0, 3.0, 3.0, 2.0, 5.0, 5.0], [4.0, 1.0, 1.0, 0.5, 0.5, 2.0]])

ROWS = [
    ("cumprod", lambda a: a.cumprod(axis=1), lambda a: a.cumprod(dim=1), {"shapes": [(3, 5)]}),
    ("cumprod-zeros", lambda a: nnlib.cumprod(a, dim=1), lambda a: torch.cumprod(a, dim=1), {"inputs": [ZEROS]}),
    ("cumprod-0d", lambda a: a.cumprod(0), lambda a: a.cumprod(0), {"inputs": [np.array(1.5)]}),
    ("cummax-values", lambda a: a.cummax(axis=1)[0], lambda a: a.cummax(dim=1).values, {"inputs": [TIES]}),
    ("cummax-indices", lambda a: a.cummax(axis=1).indices, lambda a: a.cummax(dim=1).indices, {"inputs": [TIES]}),
    ("cummin-values", lambda a: a.cummin(axis=0).values, lambda a: a.cummin(dim=0).values, {"inputs": [TIES]}),
    ("cummin-indices", lambda a: a.cummin(axis=1)[1], lambda a: a.cummin(dim=1)[1], {"inputs": [TIES]}),
    ("logcumsumexp", lambda a: a.logcumsumexp(axis=1), lambda a: a.logcumsumexp(dim=1), {"shapes": [(3, 6)]}),
    ("logcumsumexp-big", lambda a: (a * 400).logcumsumexp(dim=0), lambda a: (a * 400).logcumsumexp(dim=0),
     {"shapes": [(5, 2)]}),
    ("scatter", lambda a, b: a.scatter(1, IDX[:, :1], b), lambda a, b: a.scatter(1, T(IDX[:, :1]), b),
     {"shapes": [(3, 4), (3, 1)]}),
    ("scatter-scalar", lambda a: a.scatter(1, IDX[:, :2] % 2 * 3, 0.5), lambda a: a.scatter(1, T(IDX[:, :2] % 2 * 3),
                                                                                            0.5),
     {"shapes": [(3, 4)]}),
    ("masked_select", lambda a: a.masked_select(np.array([True, False, True, True])),
     lambda a: a.masked_select(T([True, False, True, True])), {"shapes": [(3, 4)]}),
    ("isclose", lambda a, b: nnlib.isclose(a, a + b * 1e-6), lambda a, b: torch.isclose(a, a + b * 1e-6),
     {"shapes": [(3, 4), (3, 4)]}),
    ("copysign", lambda a, b: nnlib.copysign(a, b), torch.copysign, {"shapes": [(3, 4), (4,)]}),
    ("copysign-int", lambda a: nnlib.copysign(a, -1.0), lambda a: torch.copysign(a, -1.0),
     {"inputs": [np.array([0, 1, -2], np.int32)]}),
    ("exp2", lambda a: a.exp2(), lambda a: a.exp2(), {"shapes": [(3, 4)]}),
    ("exp2-int", lambda a: nnlib.exp2(a), torch.exp2, {"inputs": [np.array([0, 1, 5], np.int32)]}),
    ("hardsigmoid", lambda a: F.hardsigmoid(a * 3), lambda a: TF.hardsigmoid(a * 3), {"shapes": [(4, 5)]}),
    ("hardswish", lambda a: F.hardswish(a * 3), lambda a: TF.hardswish(a * 3), {"shapes": [(4, 5)]}),
    ("hardswish-edges", F.hardswish, TF.hardswish, {"inputs": [np.array([-4.0, -3.0, 0.0, 3.0, 4.0])]}),
    ("pad-reflect", lambda a: nnlib.pad(a, (2, 1, 1, 2), mode="reflect"),
     lambda a: TF.pad(a, (2, 1, 1, 2), mode="reflect"), {"shapes": [(1, 2, 4, 5)]}),
    ("pad-replicate", lambda a: nnlib.pad(a, (3, 1), mode="replicate"), lambda a: TF.pad(a, (3, 1), mode="replicate"),
     {"shapes": [(2, 3, 4)]}),
    ("pad-circular", lambda a: nnlib.pad(a, (2, 1, 0, 3), mode="circular"),
     lambda a: TF.pad(a, (2, 1, 0, 3), mode="circular"), {"shapes": [(1, 2, 4, 5)]}),
    ("pad-reflect-crop", lambda a: nnlib.pad(a, (-1, 2), mode="reflect"), lambda a: TF.pad(a, (-1, 2), mode="reflect"),
     {"shapes": [(2, 3, 5)]}),
    ("pad-replicate-1d", lambda a: F.pad(a, (2, 2), mode="replicate"), lambda a: TF.pad(a, (2, 2), mode="replicate"),
     {"shapes": [(2, 3, 5)]}),
    ("sum-dim", lambda a: a.sum(dim=1, keepdim=True), lambda a: a.sum(dim=1, keepdim=True), {"shapes": [(3, 4)]}),
    ("mean-dim-tuple", lambda a: nnlib.mean(a, dim=(0, 2)), lambda a: torch.mean(a, dim=(0, 2)),
     {"shapes": [(2, 3, 4)]}),
    ("max-dim-values", lambda a: a.max(dim=1).values, lambda a: a.max(dim=1).values, {"shapes": [(3, 4)]}),
    ("max-dim-indices", lambda a: a.max(dim=0)[1], lambda a: a.max(dim=0)[1], {"shapes": [(3, 4)]}),
    ("min-dim-keepdim", lambda a: a.min(dim=1, keepdim=True)[0], lambda a: a.min(dim=1, keepdim=True)[0],
     {"shapes": [(3, 4)]}),
    ("softmax-dim", lambda a: F.softmax(a, dim=0), lambda a: TF.softmax(a, dim=0), {"shapes": [(3, 4)]}),
    ("cat-dim", lambda a, b: nnlib.cat([a, b], dim=1), lambda a, b: torch.cat([a, b], dim=1),
     {"shapes": [(2, 3), (2, 2)]}),
    ("squeeze-dim", lambda a: a.squeeze(dim=1), lambda a: a.squeeze(dim=1), {"shapes": [(3, 1, 2)]}),
    ("unsqueeze-dim", lambda a: a.unsqueeze(dim=0), lambda a: a.unsqueeze(dim=0), {"shapes": [(3, 2)]}),
    ("flip-dims", lambda a: a.flip(dims=(0,)), lambda a: a.flip(dims=(0,)), {"shapes": [(3, 2)]}),
    ("roll-dims", lambda a: a.roll(1, dims=1), lambda a: a.roll(1, dims=1), {"shapes": [(3, 2)]}),
    ("logsumexp-dim", lambda a: a.logsumexp(dim=1), lambda a: a.logsumexp(dim=1), {"shapes": [(3, 2)]}),
    ("std-dim", lambda a: a.std(dim=1, ddof=1), lambda a: a.std(dim=1), {"shapes": [(3, 4)]}),
    ("var-correction", lambda a: a.var(dim=0, correction=1), lambda a: a.var(dim=0, correction=1),
     {"shapes": [(3, 4)]}),
    # a call in torch's words gets torch's default (correction=1), not NumPy's ddof=0
    ("std-dim-torch-default", lambda a: a.std(dim=1), lambda a: a.std(dim=1), {"shapes": [(3, 4)]}),
    ("var-dim-torch-default", lambda a: nnlib.var(a, dim=0, keepdim=True), lambda a: a.var(dim=0, keepdim=True),
     {"shapes": [(3, 4)]}),
    ("gather-dim", lambda a: a.gather(dim=1, index=IDX[:, :2]), lambda a: a.gather(dim=1, index=T(IDX[:, :2])),
     {"shapes": [(3, 4)]}),
    ("topk-dim", lambda a: a.topk(2, dim=0)[0], lambda a: a.topk(2, dim=0)[0], {"shapes": [(3, 4)]}),
]


@pytest.mark.parametrize("name, fn, torch_fn, opts", ROWS, ids=[r[0] for r in ROWS])
def test_surface_matches_torch(name, fn, torch_fn, opts):
    check_parity(fn, torch_fn, **opts)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce, include_self):
    idx = np.array([[0, 2, 2, 0], [1, 1, 3, 3]])
    src = np.array([[1.5, 0.5, -1.0, 2.0], [2.5, 0.7, 0.7, -3.0]])  # a tie for amax/amin in row 1
    base = np.array([[0.5, -2.0, 1.0, 0.75], [1.25, 0.7, -1.5, 3.0]])
    check_parity(lambda a, b: a.scatter_reduce(1, idx, b, reduce, include_self=include_self),
                 lambda a, b: a.scatter_reduce(1, T(idx), b, reduce, include_self=include_self),
                 inputs=[base, src])


@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_prod_gradient_with_zeros(include_self):
    # groups with no zero, one zero (in src or in x) and two zeros: torch's gradients, no inf/NaN
    idx = np.array([[0, 1, 1, 2, 2, 3]])
    src = np.array([[2.0, 0.0, 3.0, 0.0, 0.0, 1.5]])
    base = np.array([[0.5, 4.0, 0.0, 2.0, -1.0]])
    check_parity(lambda a, b: a.scatter_reduce(1, idx, b, "prod", include_self=include_self),
                 lambda a, b: a.scatter_reduce(1, T(idx), b, "prod", include_self=include_self),
                 inputs=[base, src])


def test_dim_and_axis_together_is_a_clear_error():
    x = nnlib.ones(2, 3)
    for call in (lambda: x.sum(axis=0, dim=0), lambda: x.mean(keepdims=True, keepdim=True),
                 lambda: x.max(0, dim=0), lambda: nnlib.cat([x, x], axis=0, dim=0)):
        with pytest.raises(TypeError, match="both"):
            call()


def test_nonzero_matches_torch():
    a = np.array([[1, 0, 2], [0, 0, 3]], dtype=np.int32)
    np.testing.assert_array_equal(nnlib.nonzero(nnlib.Tensor(a, dtype=np.int32)), torch.nonzero(T(a)).numpy())
    assert nnlib.nonzero(a).dtype == np.int64
    for ours, theirs in zip(nnlib.nonzero(a, as_tuple=True), torch.nonzero(T(a), as_tuple=True)):
        np.testing.assert_array_equal(ours, theirs.numpy())


def test_allclose_is_a_python_bool():
    a = np.array([1.0, 2.0])
    assert nnlib.allclose(nnlib.Tensor(a), a + 1e-9) is True
    assert nnlib.allclose(nnlib.Tensor(a), a + 1e-3) is torch.allclose(T(a), T(a + 1e-3)) is False
    assert nnlib.Tensor(a).allclose(a) is True


def test_empty_and_randint():
    e = nnlib.empty(2, 3, dtype=np.float64)
    assert e.shape == (2, 3) and e.dtype == np.float64 and torch.empty(2, 3).shape == (2, 3)
    nnlib.manual_seed(7)
    r1 = nnlib.randint(3, 9, (4, 5))
    nnlib.manual_seed(7)
    r2 = nnlib.randint(3, 9, size=(4, 5))
    assert r1.dtype == np.int64 == torch.randint(3, 9, (4, 5)).numpy().dtype
    np.testing.assert_array_equal(r1.data, r2.data)
    assert r1.data.min() >= 3 and r1.data.max() < 9
    assert nnlib.randint(5, (3,)).shape == (3,) and nnlib.randint(5, (3,)).data.max() < 5
    with pytest.raises(ValueError, match="high"):
        nnlib.randint(5, 5, (2,))


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 500), data=st.data())
@pytest.mark.parametrize("op", ["cumprod", "logcumsumexp", "cummax"])
def test_running_ops_any_axis(op, shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    fn = {"cumprod": lambda a: a.cumprod(dim=axis), "logcumsumexp": lambda a: a.logcumsumexp(dim=axis),
          "cummax": lambda a: a.cummax(dim=axis)[0]}[op]
    check_parity(fn, None, shapes=[tuple(shape)], seed=seed)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(2, 5), min_size=1, max_size=3), seed=st.integers(0, 500), data=st.data())
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
def test_pad_modes_any_widths(mode, shape, seed, data):
    n = data.draw(st.integers(1, min(len(shape), 3))) if mode == "constant" else len(shape)
    widths = []
    for size in shape[::-1][:n]:
        limit = size - 1 if mode == "reflect" else size
        lowest = 0 if mode == "circular" else -1  # torch's circular mode fails on some negative widths
        widths += [data.draw(st.integers(lowest, limit)), data.draw(st.integers(lowest, limit))]
    if mode != "constant":  # torch's non-constant modes pad (N, C, *spatial) inputs
        if any(n + widths[2 * i] + widths[2 * i + 1] < 1 for i, n in enumerate(shape[::-1][:n])):
            # torch refuses an empty last axis and sometimes allows others; nnlib refuses every empty axis
            with pytest.raises(ValueError, match="leave nothing"):
                nnlib.pad(nnlib.ones([1, 1] + list(shape)), tuple(widths), mode=mode)
            return
        shape = [1, 1] + list(shape)
    check_parity(lambda a: nnlib.pad(a, tuple(widths), mode=mode), lambda a: TF.pad(a, tuple(widths), mode=mode),
                 shapes=[tuple(shape)], seed=seed)
