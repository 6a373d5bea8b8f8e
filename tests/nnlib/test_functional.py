"""Chapters 01-02: activations, softmax and losses against torch.nn.functional."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes

import nnlib
import nnlib.functional as F
from tests.parity import check_parity

FAST = settings(max_examples=20, deadline=None)


@FAST
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=5), seed=st.integers(0, 100))
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "softmax",
                                  "log_softmax"])
def test_activations(name, shape, seed):
    ours = {
        "relu": F.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.1), "sigmoid": F.sigmoid,
        "tanh": F.tanh, "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "softmax": lambda x: F.softmax(x, axis=-1),
        "log_softmax": lambda x: F.log_softmax(x, axis=0),
    }[name]
    theirs = {
        "relu": TF.relu, "leaky_relu": lambda x: TF.leaky_relu(x, 0.1), "sigmoid": torch.sigmoid,
        "tanh": torch.tanh, "gelu": TF.gelu, "gelu_tanh": lambda x: TF.gelu(x, approximate="tanh"),
        "softmax": lambda x: TF.softmax(x, dim=-1), "log_softmax": lambda x: TF.log_softmax(x, dim=0),
    }[name]
    check_parity(ours, theirs, shapes=[shape], seed=seed, low=-4, high=4)


NEW_ACTIVATIONS = {
    "silu": (F.silu, TF.silu),
    "swish": (F.swish, TF.silu),
    "gelu_default": (F.gelu, TF.gelu),
    "gelu_exact": (lambda x: F.gelu(x, approximate="none"), lambda x: TF.gelu(x, approximate="none")),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    "elu": (F.elu, TF.elu),
    "elu_alpha": (lambda x: F.elu(x, alpha=0.7), lambda x: TF.elu(x, alpha=0.7)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid),
    "hardtanh": (F.hardtanh, TF.hardtanh),
    "hardtanh_range": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0)),
    "relu6": (F.relu6, TF.relu6),
    "softplus": (F.softplus, TF.softplus),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=3.0),
                      lambda x: TF.softplus(x, beta=2.0, threshold=3.0)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(NEW_ACTIVATIONS))
def test_more_activations_match_torch(name, dtype):
    ours, theirs = NEW_ACTIVATIONS[name]
    x = np.concatenate([np.linspace(-9, 9, 73), [-30.0, -0.3, 0.2, 5.5, 30.0]]).reshape(6, 13).astype(dtype)
    check_parity(ours, theirs, inputs=[x])
    assert ours(x).dtype == dtype


def test_huge_inputs_stay_finite():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    for name in ("silu", "gelu_exact", "elu", "logsigmoid", "softplus"):
        ours, theirs = NEW_ACTIVATIONS[name]
        out = check_parity(ours, theirs, inputs=[x])
        assert np.all(np.isfinite(out.data)), name


def test_erf_matches_torch_to_float64_precision():
    from nnlib.ops.elementwise import erf_array as _erf   # the one erf (exact GELU and nnlib.erf use it)
    x = np.concatenate([np.linspace(-7, 7, 20001), np.logspace(-12, 1, 300), -np.logspace(-12, 1, 300),
                        [0.0, 2.0, -2.0, np.inf, -np.inf]])
    ref = torch.erf(torch.tensor(x)).numpy()
    np.testing.assert_allclose(_erf(x), ref, rtol=1e-14, atol=0)
    assert nnlib.erf(x.astype(np.float32)).dtype == np.float32
    assert np.isnan(_erf(np.array([np.nan])))[0]


def test_gelu_default_is_exact_like_torch_and_rejects_unknown_modes():
    x = np.linspace(-3, 3, 11)
    np.testing.assert_allclose(F.gelu(x).data, TF.gelu(torch.tensor(x)).numpy(), rtol=1e-14)
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").data,
                               TF.gelu(torch.tensor(x), approximate="tanh").numpy(), rtol=1e-12)
    assert 1e-4 < np.abs(F.gelu(x).data - F.gelu(x, approximate="tanh").data).max() < 1e-3  # two forms
    assert F.GELU_TANH_C == pytest.approx(np.sqrt(2 / np.pi), rel=1e-15) and F.GELU_TANH_A == 0.044715
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(x, 1.0, -1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_keep_dtype_and_accept_arrays(dtype):
    x = np.linspace(-3, 3, 7).astype(dtype)
    for fn in (F.relu, F.sigmoid, F.tanh, F.gelu, F.softmax, F.log_softmax, F.leaky_relu):
        assert fn(x).dtype == dtype


def test_softmax_of_huge_logits_is_finite():
    x = np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, 1e4]], dtype=np.float32)
    check_parity(lambda a: F.softmax(a), lambda a: TF.softmax(a, dim=-1), inputs=[x])
    check_parity(lambda a: F.log_softmax(a), lambda a: TF.log_softmax(a, dim=-1), inputs=[x])


def test_dropout_scales_and_is_seeded():
    x = nnlib.Tensor(np.ones((1000,)), requires_grad=True)
    rng = np.random.default_rng(0)
    y = F.dropout(x, 0.25, training=True, rng=rng)
    kept = y.data != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, y.data)
    assert F.dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError):
        F.dropout(x, 1.0)
    a = F.dropout(x, 0.5, rng=np.random.default_rng(3)).data
    b = F.dropout(x, 0.5, rng=np.random.default_rng(3)).data
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(reduction):
    target = np.random.default_rng(5).normal(size=(6, 3))
    check_parity(lambda p: F.mse_loss(p, target, reduction=reduction),
                 lambda p: TF.mse_loss(p, torch.tensor(target), reduction=reduction), shapes=[(6, 3)])
    check_parity(lambda p: F.l1_loss(p, target, reduction=reduction),
                 lambda p: TF.l1_loss(p, torch.tensor(target), reduction=reduction), shapes=[(6, 3)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction):
    y = np.array([[0.0], [1.0], [1.0], [0.0], [0.3]])
    check_parity(lambda p: F.binary_cross_entropy(p, y, reduction=reduction),
                 lambda p: TF.binary_cross_entropy(p, torch.tensor(y), reduction=reduction),
                 shapes=[(5, 1)], low=0.05, high=0.95)
    check_parity(lambda z: F.binary_cross_entropy_with_logits(z, y, reduction=reduction),
                 lambda z: TF.binary_cross_entropy_with_logits(z, torch.tensor(y), reduction=reduction),
                 shapes=[(5, 1)], low=-5, high=5)


def test_bce_log_zero_guard_matches_torch():
    p = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy(nnlib.Tensor(p), y)
    ref = TF.binary_cross_entropy(torch.tensor(p), torch.tensor(y))
    assert np.isfinite(out.item())
    np.testing.assert_allclose(out.item(), ref.item())


def test_bce_with_logits_at_plus_minus_1000():
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0], dtype=np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32)
    out = check_parity(lambda a: F.binary_cross_entropy_with_logits(a, y),
                       lambda a: TF.binary_cross_entropy_with_logits(a, torch.tensor(y)), inputs=[z])
    assert np.isfinite(out.item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(7, 5), (2, 3, 4)])
def test_cross_entropy(shape, reduction):
    rng = np.random.default_rng(1)
    targets = rng.integers(0, shape[-1], size=shape[:-1])

    def theirs(z, t):
        flat = TF.cross_entropy(z.reshape(-1, shape[-1]), torch.tensor(t.reshape(-1)), reduction=reduction)
        return flat.reshape(t.shape) if reduction == "none" else flat
    check_parity(lambda z, t: F.cross_entropy(z, t, reduction=reduction), theirs, shapes=[shape], extra=(targets,))


def test_cross_entropy_large_logits_and_ignore_index():
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [5.0, 1.0, 0.0]], dtype=np.float32)
    t = np.array([1, 2, -100])
    out = check_parity(lambda a: F.cross_entropy(a, t), lambda a: TF.cross_entropy(a, torch.tensor(t)), inputs=[z])
    assert np.isfinite(out.item())


def test_loss_shape_errors_are_clear():
    p = nnlib.Tensor(np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\).*reshape\(-1, 1\)"):
        F.mse_loss(p, np.zeros(4))
    with pytest.raises(ValueError, match="one-hot"):
        F.cross_entropy(np.zeros((4, 3)), np.eye(3, dtype=np.int64)[[0, 1, 2, 0]])
    with pytest.raises(ValueError, match="shape"):
        F.cross_entropy(np.zeros((4, 3)), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="non-integer"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(np.array([1.5]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.binary_cross_entropy_with_logits(np.array([1.5]), np.array([2.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(np.zeros(2), np.zeros(2), reduction="avg")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_one_sigmoid_is_stable_keeps_the_dtype_and_equals_torch(dtype):
    """nnlib.ops.elementwise.sigmoid_array: the stable sigmoid that Tensor.sigmoid, silu, softplus and fit share."""
    import warnings

    from nnlib.ops.elementwise import sigmoid_array

    z = np.array([-1000.0, -90.0, -20.0, -1.0, 0.0, 1e-8, 1.0, 20.0, 90.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning at +-1000
        got = sigmoid_array(z)
    assert got.dtype == dtype
    tight = dtype == np.float64  # torch's float32 sigmoid flushes e^-90 (a subnormal, 8e-40) to 0
    np.testing.assert_allclose(got, torch.sigmoid(torch.tensor(z)).numpy(), rtol=1e-14 if tight else 1e-6,
                               atol=0 if tight else 1e-37)
    np.testing.assert_array_equal(F.sigmoid(z).data, got)
