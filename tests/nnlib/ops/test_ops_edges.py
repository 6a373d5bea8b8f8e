"""The engine at its edges, against torch: zeros in powers, 0-d tensors, ddof >= N, negative
axes, repeated and mixed indices, float/bool indices, elementwise ==, empty dimensions."""
import warnings

import numpy as np
import pytest
import torch

import nnlib
from nnlib import Tensor
from tests.parity import check_parity

WITH_ZERO = np.array([0.0, 0.0, 1.5, 2.0, 0.0])


# ------------------------------------------------------- powers at zero
@pytest.mark.parametrize("fn", [
    lambda a: a ** 0.0, lambda a: a ** 0, lambda a: a ** 2.5, lambda a: a ** -1.5, lambda a: a ** 0.5,
    lambda a: a ** -1.0, lambda a: 0.0 ** a, lambda a: 2.0 ** a,
], ids=["x^0.0", "x^0", "x^2.5", "x^-1.5", "x^0.5", "x^-1", "0^x", "2^x"])
def test_powers_at_zero_match_torch(fn):
    check_parity(fn, inputs=[WITH_ZERO])
    check_parity(fn, inputs=[-WITH_ZERO - 1.0])


def test_tensor_powers_at_zero_match_torch():
    x = np.array([0.0, 0.0, 0.0, 1.5, -2.0, 2.0])
    y = np.array([0.0, 2.0, -1.0, 0.0, 2.0, -0.5])
    check_parity(lambda a, b: a ** b, inputs=[x, y])
    check_parity(lambda a: a ** y, lambda a: a ** torch.tensor(y), inputs=[x])


# ------------------------------------------------------ 0-d reductions
@pytest.mark.parametrize("axis", [0, -1, None, (0,)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "logsumexp", "var"])
def test_reductions_of_a_0d_tensor_match_torch(name, axis, keepdims):
    def theirs(a):
        dims = () if axis is None else axis
        if name in ("max", "min"):
            return getattr(torch, "a" + name)(a, dim=dims, keepdim=keepdims)
        if name == "var":
            return torch.var(a, dim=dims, keepdim=keepdims, correction=0)
        if name == "logsumexp":
            return torch.logsumexp(a, dim=dims if axis is not None else 0, keepdim=keepdims)
        return getattr(torch, name)(a, dim=dims if axis is not None else None, keepdim=keepdims) \
            if name != "prod" else torch.prod(a, dim=0, keepdim=keepdims)
    check_parity(lambda a: getattr(a, name)(axis=axis, keepdims=keepdims), theirs, inputs=[np.array(2.0)])


def test_the_0d_reduction_from_the_issue():
    x = Tensor(2.0, requires_grad=True)
    x.sum(axis=0).backward()
    assert x.grad == 1.0
    with pytest.raises(IndexError, match="axis 1"):
        x.sum(axis=1)


# ------------------------------------------------------------ ddof >= N
@pytest.mark.parametrize("ddof", [2, 3, 4])
def test_var_std_with_ddof_at_or_beyond_n_match_torch(ddof):
    x = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    with warnings.catch_warnings():  # torch warns about the degrees of freedom
        warnings.simplefilter("ignore")
        check_parity(lambda a: a.var(axis=1, ddof=ddof), lambda a: a.var(dim=1, correction=ddof), inputs=[x])
        ref = torch.tensor(x).std(dim=1, correction=ddof)
    np.testing.assert_array_equal(Tensor(x).std(axis=1, ddof=ddof).data, ref.numpy())


def test_std_of_a_constant_has_zero_gradient_like_torch():
    check_parity(lambda a: a.std(), lambda a: a.std(correction=0), inputs=[np.ones(3)])
    check_parity(lambda a: a.std(axis=1), lambda a: a.std(dim=1, correction=0), inputs=[np.array([[1.0, 1.0], [1.0, 2.0]])])


# ----------------------------------------------------- negative axes
def test_transpose_with_negative_axes_gives_the_right_gradient_shape():
    x = Tensor(np.ones((2, 3, 4)), requires_grad=True)
    x.transpose(-1, 0, 1).sum().backward()
    assert x.grad.shape == (2, 3, 4)
    check_parity(lambda a: a.transpose(0, -1, -2), lambda a: a.permute(0, -1, -2), shapes=[(2, 3, 4)])


def test_transpose_takes_two_dims_to_swap_or_all_dims_and_says_which():
    """torch's transpose(dim0, dim1); a full permutation (3+ dims) is NumPy's transpose(axes) = torch's permute."""
    x = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"two dims to swap \(torch\) or a permutation of all 3 dims"):
        x.transpose(0, 1, 2, 0)
    with pytest.raises(IndexError, match=r"transpose: dim 3 is out of range .*\[-3, 2\]"):
        x.transpose(0, 3)
    with pytest.raises(IndexError, match="swapaxes: dim -4 is out of range"):
        x.swapaxes(-4, 0)
    with pytest.raises(ValueError, match=r"permute: dims \(0, 1\) are not a permutation of the 3 dims"):
        x.permute(0, 1)
    assert Tensor(np.zeros((3, 4))).transpose((0, 1)).shape == (4, 3)  # two dims, as a tuple too


# --------------------------------------------------------------- indexing
@pytest.mark.parametrize("index", [
    ((0, 0), slice(None)), ([0, 0, 2],), ((1, 1), [0, 1]), (slice(None), [2, 2]),
], ids=["tuple-of-ints", "repeated-list", "two-tuples", "slice-then-list"])
def test_repeated_positions_add_their_gradients(index):
    def theirs(a):
        return a[tuple(list(i) if isinstance(i, tuple) else i for i in index)]
    check_parity(lambda a: a[index], theirs, shapes=[(3, 4)])


@pytest.mark.parametrize("index, shape", [
    ((1, slice(None), [0, 1]), (5, 2)),
    (([0, 1], slice(None), 1), (2, 5)),
    ((slice(None), 1, [0, 1]), (3, 2)),
    ((1, [0, 2], slice(None)), (2, 4)),
    ((Ellipsis, 1, [0, 0]), (3, 2)),
    ((None, 1, slice(None), [3, 1]), (1, 5, 2)),
    ((np.array([True, False, True]), slice(None), 0), (2, 5)),
])
def test_integer_and_array_indices_follow_torch(index, shape):
    def theirs(a):
        return a[tuple(torch.tensor(i) if isinstance(i, (list, np.ndarray)) else i for i in index)]
    out = check_parity(lambda a: a[index], theirs, shapes=[(3, 5, 4)])
    assert out.shape == shape


def test_a_float_index_is_an_error_and_a_bool_tensor_is_a_mask():
    x = Tensor(np.arange(4.0))
    with pytest.raises(IndexError, match="integer or bool"):
        x[Tensor([0.0, 1.0])]
    with pytest.raises(IndexError):
        x[np.array([0.5])]
    with pytest.raises(IndexError):
        torch.arange(4.0)[torch.tensor([0.0, 1.0])]
    mask = Tensor([True, False, True, False], dtype=bool)
    np.testing.assert_array_equal(x[mask].data, [0.0, 2.0])
    np.testing.assert_array_equal(x[x > 1].data, [2.0, 3.0])
    np.testing.assert_array_equal(x[Tensor([3, 1], dtype=np.int64)].data, [3.0, 1.0])
    assert x[[]].shape == (0,)


# ------------------------------------------------------------ == and hash
def test_equality_is_elementwise_and_tensors_stay_hashable():
    t = Tensor([0.0, 1.0, 0.0])
    eq = t == 0
    assert isinstance(eq, Tensor) and eq.dtype == bool and not eq.requires_grad
    np.testing.assert_array_equal(eq.data, [True, False, True])
    np.testing.assert_array_equal((t != Tensor([0.0, 0.0, 0.0])).data, [False, True, False])
    w = Tensor([1.0], requires_grad=True)
    assert not (w == 1).requires_grad and (w == 1).item() is True
    assert (t == None) is False and (t != None) is True  # noqa: E711
    assert t in [t] and {t: 1}[t] == 1 and len({t, Tensor([0.0, 1.0, 0.0])}) == 2
    with pytest.raises(ValueError, match="ambiguous"):  # `in` compares with ==, as in PyTorch: use `is`
        t in [Tensor([1.0, 2.0, 3.0]), t]  # noqa: B015
    assert (Tensor(2.0) == 2.0) and not (Tensor(2.0) != 2.0)


def test_comparisons_give_bool_tensors_that_work_as_numpy_masks():
    x = np.array([-1.0, 2.0, 0.5])
    m = Tensor(x) > 0
    assert isinstance(m, Tensor) and m.dtype == bool
    np.testing.assert_array_equal(x[np.asarray(m)], [2.0, 0.5])
    np.testing.assert_array_equal(np.where(m, x, 0.0), [0.0, 2.0, 0.5])
    t = torch.tensor(x)
    for ours, theirs in [(m & (Tensor(x) < 1), (t > 0) & (t < 1)), (m | np.array([True, False, False]),
                         (t > 0) | torch.tensor([True, False, False])), (~m, ~(t > 0)), (m ^ m, (t > 0) ^ (t > 0))]:
        assert ours.dtype == bool
        np.testing.assert_array_equal(ours.data, theirs.numpy())


# --------------------------------------------------------- empty dims
@pytest.mark.parametrize("fn, torch_fn", [
    (lambda a: a.sum(axis=0), None),
    (lambda a: a.sum(axis=1), None),
    (lambda a: a.prod(axis=0), lambda a: a.prod(dim=0)),
    (lambda a: a.reshape(3, 0), None),
    (lambda a: a.flatten(), None),
    (lambda a: a[:, [0, 1]], None),
    (lambda a: a.cumsum(axis=0), lambda a: a.cumsum(dim=0)),
    (lambda a: nnlib.concatenate([a, a], axis=0), lambda a: torch.cat([a, a], dim=0)),
], ids=["sum0", "sum1", "prod", "reshape", "flatten", "index", "cumsum", "concatenate"])
def test_empty_dimensions_match_torch(fn, torch_fn):
    check_parity(fn, torch_fn, inputs=[np.zeros((0, 3))])


def test_clear_errors_for_learner_mistakes():
    with pytest.raises(ValueError, match=r"split: sizes \[1, 1\] add up to 2"):
        Tensor(np.ones((3, 2))).split([1, 1])
    with pytest.raises(ValueError, match="pad"):
        nnlib.pad(Tensor(np.ones(3)), (1,))
    with pytest.raises(ValueError, match="topk"):
        Tensor(np.ones(3)).topk(4)
    with pytest.raises(TypeError, match="boolean"):
        Tensor(np.ones(3)).masked_fill(np.array([1, 0, 1]), 0.0)
    with pytest.raises(IndexError, match="gather"):
        Tensor(np.ones((2, 2))).gather(1, np.array([0, 1]))
