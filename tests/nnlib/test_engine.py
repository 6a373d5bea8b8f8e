"""Chapter 03: the Tensor engine against torch.autograd (values, shapes, dtypes, gradients)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import nnlib
from nnlib import Tensor
from tests.parity import check_parity

FAST = settings(max_examples=25, deadline=None)
broadcast_pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)


# ---------------------------------------------------------------- binary ops
@FAST
@given(shapes=broadcast_pairs, seed=st.integers(0, 1000))
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
def test_binary_ops_broadcast(op, shapes, seed):
    fn = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "pow": lambda a, b: a ** b,
    }[op]
    low, high = (0.5, 2.0) if op in ("div", "pow") else (-2.0, 2.0)
    check_parity(fn, shapes=shapes.input_shapes, seed=seed, low=low, high=high)


@pytest.mark.parametrize("scalar", [2, 2.5, -1.5, np.float64(3.0)])
@pytest.mark.parametrize("op", ["radd", "rsub", "rmul", "rdiv", "add", "sub", "mul", "div", "pow"])
def test_ops_with_python_numbers_keep_float32(op, scalar):
    fn = {
        "radd": lambda a: scalar + a, "rsub": lambda a: scalar - a,
        "rmul": lambda a: scalar * a, "rdiv": lambda a: scalar / a,
        "add": lambda a: a + scalar, "sub": lambda a: a - scalar,
        "mul": lambda a: a * scalar, "div": lambda a: a / scalar,
        "pow": lambda a: a ** scalar,
    }[op]
    def torch_fn(a):
        s = float(scalar)
        return {
            "radd": lambda: s + a, "rsub": lambda: s - a, "rmul": lambda: s * a, "rdiv": lambda: s / a,
            "add": lambda: a + s, "sub": lambda: a - s, "mul": lambda: a * s, "div": lambda: a / s,
            "pow": lambda: a ** s,
        }[op]()
    out = check_parity(fn, torch_fn, shapes=[(3, 4)], dtype=np.float32, low=0.5, high=2.0)
    assert out.dtype == np.float32


def test_ops_with_arrays_on_either_side():
    arr = np.arange(4, dtype=np.float64)
    check_parity(lambda a: arr + a * arr - arr / (a + 3.0), lambda a: torch.tensor(arr) + a * torch.tensor(arr)
                 - torch.tensor(arr) / (a + 3.0), shapes=[(2, 4)])


@pytest.mark.parametrize("power", [2, 3, 0.5, -1, 1, 1.7])
def test_pow_special_cases(power):
    check_parity(lambda a: a ** power, shapes=[(5,)], low=0.5, high=2.0)


def test_rpow():
    check_parity(lambda a: 2.0 ** a, shapes=[(3, 2)])


# -------------------------------------------------------------------- matmul
@pytest.mark.parametrize("sa, sb", [
    ((3, 4), (4, 5)), ((4,), (4,)), ((4,), (4, 5)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
    ((3, 4), (2, 4, 5)),
])
def test_matmul_broadcasting(sa, sb):
    check_parity(lambda a, b: a @ b, shapes=[sa, sb])


def test_matmul_shape_error_is_clear():
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 2\)"):
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 2)))


def test_matmul_with_array_operands():
    w = np.random.default_rng(0).normal(size=(4, 2))
    check_parity(lambda a: a @ w, lambda a: a @ torch.tensor(w), shapes=[(3, 4)])
    check_parity(lambda a: w.T @ a, lambda a: torch.tensor(w.T) @ a, shapes=[(4, 3)])


# ------------------------------------------------------------------- unary
@pytest.mark.parametrize("name", ["neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"])
def test_unary(name):
    fn = {
        "neg": lambda a: -a, "exp": lambda a: a.exp(), "log": lambda a: a.log(),
        "sqrt": lambda a: a.sqrt(), "abs": lambda a: a.abs(), "relu": lambda a: a.relu(),
        "sigmoid": lambda a: a.sigmoid(), "tanh": lambda a: a.tanh(),
    }[name]
    low = 0.1 if name in ("log", "sqrt") else -3.0
    check_parity(fn, shapes=[(4, 5)], low=low, high=3.0)


def test_clip_gradient_boundaries():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    check_parity(lambda a: a.clip(-1.0, 1.0), lambda a: a.clamp(-1.0, 1.0), inputs=[x])
    check_parity(lambda a: a.clip(min=0.0), lambda a: a.clamp(min=0.0), inputs=[x])


def test_abs_and_relu_at_zero_match_torch():
    x = np.array([-1.0, 0.0, 1.0])
    check_parity(lambda a: a.abs(), inputs=[x])
    check_parity(lambda a: a.relu(), inputs=[x])


def test_sigmoid_extremes_are_finite():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype=np.float32)
    out = check_parity(lambda a: a.sigmoid(), inputs=[x])
    assert np.all(np.isfinite(out.data))


def test_log_of_zero_is_minus_inf_like_torch():
    out = Tensor([0.0, 1.0]).log()
    assert out.data[0] == -np.inf


# -------------------------------------------------------------- reductions
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var"])
def test_reductions(name, axis, keepdims):
    def ours(a):
        return getattr(a, name)(axis=axis, keepdims=keepdims)

    def theirs(a):
        dims = tuple(range(a.ndim)) if axis is None else axis
        if name == "max":
            return torch.amax(a, dim=dims, keepdim=keepdims)
        if name == "min":
            return torch.amin(a, dim=dims, keepdim=keepdims)
        if name == "var":
            return torch.var(a, dim=dims, keepdim=keepdims, correction=0)
        return getattr(torch, name)(a, dim=dims, keepdim=keepdims)

    check_parity(ours, theirs, shapes=[(3, 4, 2)])


def test_max_ties_share_gradient_like_amax():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    check_parity(lambda a: a.max(axis=1), lambda a: torch.amax(a, dim=1), inputs=[x])
    check_parity(lambda a: a.max(), lambda a: torch.amax(a), inputs=[x])


def test_var_with_ddof():
    check_parity(lambda a: a.var(axis=0, ddof=1), lambda a: torch.var(a, dim=0, correction=1), shapes=[(5, 3)])


# ------------------------------------------------------------ shape ops
def test_reshape_transpose_T():
    check_parity(lambda a: a.reshape(4, 6), shapes=[(2, 3, 4)])
    check_parity(lambda a: a.reshape((-1,)), shapes=[(2, 3, 4)])
    check_parity(lambda a: a.transpose(2, 0, 1), lambda a: a.permute(2, 0, 1), shapes=[(2, 3, 4)])
    check_parity(lambda a: a.T, lambda a: a.permute(1, 0), shapes=[(3, 4)])
    check_parity(lambda a: a.swapaxes(0, 1), lambda a: a.transpose(0, 1), shapes=[(3, 4, 2)])


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        Tensor(np.ones((2, 3))).reshape(4, 2)


@pytest.mark.parametrize("index", [
    (slice(1, 3),), (slice(None), 1), (Ellipsis, slice(0, 2)), (np.array([0, 2, 2, 1]),),
    (np.array([0, 1]), np.array([1, 1])), (slice(None, None, -1),), (1,),
])
def test_indexing(index):
    def torch_fn(a):
        idx = tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in index)
        if idx == (slice(None, None, -1),):
            return a.flip(0)
        return a[idx]
    check_parity(lambda a: a[index], torch_fn, shapes=[(3, 4)])


def test_boolean_mask_indexing():
    x = np.random.default_rng(0).normal(size=(4, 3))
    mask = x > 0
    check_parity(lambda a: a[mask], lambda a: a[torch.tensor(mask)], inputs=[x])


def test_getitem_result_does_not_alias_input():
    t = Tensor(np.zeros(4))
    part = t[1:3]
    part.data[:] = 5.0
    assert np.all(t.data == 0)


def test_concatenate_stack_where():
    check_parity(lambda a, b: nnlib.concatenate([a, b], axis=1), lambda a, b: torch.cat([a, b], dim=1),
                 shapes=[(2, 3), (2, 5)])
    check_parity(lambda a, b: nnlib.stack([a, b], axis=1), lambda a, b: torch.stack([a, b], dim=1),
                 shapes=[(2, 3), (2, 3)])
    cond = np.array([[True, False, True]])
    check_parity(lambda a, b: nnlib.where(cond, a, b), lambda a, b: torch.where(torch.tensor(cond), a, b),
                 shapes=[(2, 3), (3,)])


# ------------------------------------------------------------- autograd
def test_gradients_accumulate_across_backward_calls():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])
    x.zero_grad()
    assert x.grad is None


def test_shared_operand_gets_summed_gradient_without_aliasing():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 10  # a learner scaling one gradient in place must not change the other
    np.testing.assert_allclose(b.grad, [1.0, 1.0])
    c = Tensor([1.0, 2.0], requires_grad=True)
    (c + c).sum().backward()
    np.testing.assert_allclose(c.grad, [2.0, 2.0])


def test_explicit_upstream_gradient_and_errors():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 3.0
    with pytest.raises(RuntimeError, match="single-value"):
        y.backward()
    y.backward(np.ones((2, 2)))
    np.testing.assert_allclose(x.grad, 3.0)
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_long_chain_is_not_recursive():
    x = Tensor([1.5], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 0.0
    y.sum().backward()
    assert x.grad[0] == 1.0


def test_no_grad_builds_no_graph():
    x = Tensor([1.0], requires_grad=True)
    with nnlib.no_grad():
        y = x * 2
        assert not nnlib.is_grad_enabled()
    assert nnlib.is_grad_enabled()
    assert not y.requires_grad and y._parents == ()

    @nnlib.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad


def test_dtypes():
    assert Tensor(1).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.float32
    assert Tensor(np.ones(2, dtype=np.float64)).dtype == np.float64
    assert Tensor(np.ones(2, dtype=np.float16)).dtype == np.float16
    t = Tensor([1.0], requires_grad=True)
    assert (t * np.float64(2.0)).dtype == np.float32
    assert t.detach().requires_grad is False
    assert Tensor([[3.0]]).item() == 3.0
    with pytest.raises(TypeError):
        Tensor(np.arange(3), dtype=np.int64, requires_grad=True)


def test_grad_is_assignable_and_numpy_returns_data():
    t = Tensor(np.zeros(3), requires_grad=True)
    t.grad = np.ones(3)
    assert t.numpy() is t.data
    assert t.grad.sum() == 3


def test_mixed_graph_matches_torch():
    def fn(x, w, b):
        h = (x @ w + b).tanh()
        return ((h * h).mean(axis=0) - h.max(axis=1, keepdims=True).sum()).exp()

    def torch_fn(x, w, b):
        h = (x @ w + b).tanh()
        return ((h * h).mean(dim=0) - torch.amax(h, dim=1, keepdim=True).sum()).exp()
    check_parity(fn, torch_fn, shapes=[(5, 3), (3, 4), (4,)])


def test_gradcheck_utility():
    from nnlib.gradcheck import gradcheck
    rng = np.random.default_rng(0)
    a = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    b = Tensor(rng.normal(size=(4,)), requires_grad=True)
    assert gradcheck(lambda x, y: (x * y).tanh().sum(axis=0), [a, b])
    wrong = lambda x, y: Tensor.from_op(x.data * 2, (x,), lambda g: (g * 3,))  # noqa: E731
    with pytest.raises(AssertionError, match="central differences"):
        gradcheck(wrong, [a, b])
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x, [Tensor([1.0], requires_grad=True)])


# ---------------------------------------------------------------- the leaf-gradient hook
def test_leaf_gradient_sink_collects_this_threads_leaf_gradients_and_leaves_grad_alone():
    from nnlib.engine import leaf_gradient_sink
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([0.5, 0.5]), requires_grad=True)
    w.grad = np.array([10.0, 10.0])
    with leaf_gradient_sink() as grads:
        (w * w + b).sum().backward()
        (w * 3.0).sum().backward()                 # a second backward adds into the same entry
        with leaf_gradient_sink() as inner:       # nested: the inner block has its own dict
            (b * 2.0).sum().backward()
        (b * 1.0).sum().backward()                 # the outer dict is back in use
    np.testing.assert_array_equal(w.grad, [10.0, 10.0])
    assert b.grad is None
    assert set(grads) == {id(w), id(b)} and set(inner) == {id(b)}
    assert grads[id(w)][0] is w
    np.testing.assert_array_equal(grads[id(w)][1], [5.0, 7.0])   # 2w + 3
    np.testing.assert_array_equal(grads[id(b)][1], [2.0, 2.0])
    np.testing.assert_array_equal(inner[id(b)][1], [2.0, 2.0])
    (w * 1.0).sum().backward()                     # after the block: into .grad again
    np.testing.assert_array_equal(w.grad, [11.0, 11.0])


def test_leaf_gradient_sink_is_per_thread_and_restored_after_an_error():
    import threading
    from nnlib.engine import leaf_gradient_sink
    w = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ZeroDivisionError):
        with leaf_gradient_sink() as grads:
            worker = threading.Thread(target=lambda: (w * 2.0).sum().backward())
            worker.start()
            worker.join()
            1 / 0
    np.testing.assert_array_equal(w.grad, 2.0)     # the other thread added into .grad
    assert grads == {}
    (w * 1.0).sum().backward()
    np.testing.assert_array_equal(w.grad, 3.0)


def test_set_grad_enabled_sets_the_mode_and_restores_it():
    from nnlib.engine import set_grad_enabled
    w = Tensor(np.ones(2), requires_grad=True)
    with set_grad_enabled(False):
        assert not (w * 2.0).requires_grad
        with set_grad_enabled(True):
            assert (w * 2.0).requires_grad
        assert not nnlib.is_grad_enabled()
    assert nnlib.is_grad_enabled()
