"""Chapters 06 and 09: Keras-style layers against their torch equivalents, and their errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import nnlib
from nnlib import initializers, regularizers
from nnlib.layers import (Activation, BatchNormalization, Dense, Dropout, Flatten, GaussianNoise, Layer,
                          batch_norm_train, register_layer, registered_layers)
from nnlib.models import Sequential
from tests.parity import check_parity

FAST = settings(max_examples=15, deadline=None)


def _dense_with(w, b, activation=None):
    """A Dense layer whose kernel and bias are the given (nnlib or torch) tensors' values."""
    layer = Dense(w.shape[1], activation=activation, input_shape=(w.shape[0],), dtype=w.dtype)
    layer.kernel, layer.bias = w, b
    return layer


@FAST
@given(batch=st.integers(1, 6), n_in=st.integers(1, 5), n_out=st.integers(1, 4),
       activation=st.sampled_from([None, "relu", "sigmoid", "tanh", "softmax", "gelu"]))
def test_dense_matches_torch_linear(batch, n_in, n_out, activation):
    torch_act = {None: lambda z: z, "relu": TF.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                 "softmax": lambda z: TF.softmax(z, dim=-1), "gelu": TF.gelu}
    check_parity(lambda x, w, b: _dense_with(w, b, activation)(x),
                 lambda x, w, b: torch_act[activation](TF.linear(x, w.T, b)),  # torch stores W transposed
                 shapes=[(batch, n_in), (n_in, n_out), (n_out,)])


def test_dense_float32_against_torch_module():
    nnlib.manual_seed(3)
    layer = Dense(4, activation="relu", input_shape=(3,))
    ref = torch.nn.Linear(3, 4)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.kernel.data.T))
        ref.bias.copy_(torch.tensor(layer.bias.data))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    out = layer(x)
    expected = torch.relu(ref(torch.tensor(x)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(layer.kernel.grad, ref.weight.grad.numpy().T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_dense_builds_lazily_and_keeps_keras_layout():
    layer = Dense(5)
    assert not layer.built and layer.kernel is None
    out = layer(np.ones((2, 7), dtype=np.float32))
    assert layer.built and layer.kernel.shape == (7, 5) and layer.bias.shape == (5,)
    assert out.shape == (2, 5)
    assert layer.count_params() == 7 * 5 + 5
    assert Dense(3, input_dim=4).kernel.shape == (4, 3)
    assert Dense(2, use_bias=False, input_shape=(3,)).get_weights()[0].shape == (3, 2)
    assert len(Dense(2, use_bias=False, input_shape=(3,)).get_weights()) == 1


def test_dense_feature_mismatch_names_layer_and_shapes():
    layer = Dense(3, input_shape=(4,), name="hidden")
    with pytest.raises(ValueError, match=r"'hidden'.*\(None, 4\).*\(2, 5\)"):
        layer(np.ones((2, 5)))


_TORCH_EXTRA_ACTIVATIONS = {"silu": TF.silu, "swish": TF.silu, "elu": TF.elu, "softplus": TF.softplus,
                             "relu6": TF.relu6, "gelu": TF.gelu}


@pytest.mark.parametrize("name", sorted(_TORCH_EXTRA_ACTIVATIONS))
def test_dense_with_more_activation_names_matches_torch(name):
    # inputs spread so relu6 clips at 6 and softplus/elu see both signs; values and gradients
    check_parity(lambda x, w, b: _dense_with(w, b, name)(x),
                 lambda x, w, b: _TORCH_EXTRA_ACTIVATIONS[name](TF.linear(x, w.T, b)),
                 shapes=[(5, 4), (4, 3), (3,)], low=-3.0, high=3.0)
    assert Dense(2, activation=name).get_config()["activation"] == name
    check_parity(lambda x: Activation(name)(x), _TORCH_EXTRA_ACTIVATIONS[name], shapes=[(4, 3)], low=-8, high=8)


def test_dense_argument_errors():
    with pytest.raises(ValueError, match="units"):
        Dense(0)
    with pytest.raises(ValueError, match="unknown activation 'relu7'.*valid names"):
        Dense(3, activation="relu7")
    with pytest.raises(ValueError, match="unknown initializer"):
        Dense(3, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="input_shape"):
        Dense(3, input_shape="thirty")


def test_get_set_weights_roundtrip_and_errors():
    layer = Dense(2, input_shape=(3,))
    w, b = layer.get_weights()
    w[:] = 1.0  # a copy: the layer is unchanged
    assert not np.all(layer.kernel.data == 1.0)
    layer.set_weights([np.full((3, 2), 2.0), np.zeros(2)])
    assert layer.kernel.dtype == np.float32 and np.all(layer.kernel.data == 2.0)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match="2 weight arrays"):
        layer.set_weights([np.zeros((3, 2))])


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "gelu", "leaky_relu"])
def test_activation_layer(name):
    theirs = {"relu": TF.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
              "softmax": lambda z: TF.softmax(z, dim=-1), "gelu": TF.gelu,
              "leaky_relu": TF.leaky_relu}[name]
    check_parity(lambda x: Activation(name)(x), theirs, shapes=[(4, 3)])
    assert Activation(name).count_params() == 0


def test_flatten():
    check_parity(lambda x: Flatten()(x), lambda x: torch.flatten(x, 1), shapes=[(3, 2, 4)])
    assert Flatten().compute_output_shape((None, 8, 8)) == (None, 64)
    with pytest.raises(ValueError, match="Flatten"):
        Flatten()(np.ones(3))


def test_dropout_train_and_inference():
    x = np.ones((200, 50), dtype=np.float32)
    layer = Dropout(0.3, seed=0)
    out = layer(x)  # a fresh layer is in training mode
    kept = out.data != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(out.data[kept], 1.0 / 0.7, rtol=1e-6)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x)
    assert np.any(layer(x, training=True).data == 0)  # explicit training=True overrides the mode
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0)


def test_gaussian_noise_only_in_training():
    x = np.zeros((400, 50), dtype=np.float32)
    layer = GaussianNoise(0.5, seed=0)
    noisy = layer(x).data
    assert noisy.dtype == np.float32 and abs(noisy.std() - 0.5) < 0.01
    np.testing.assert_array_equal(layer.eval()(x).data, x)
    t = nnlib.Tensor(np.ones((2, 3)), requires_grad=True)
    GaussianNoise(0.1, seed=1)(t).sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones((2, 3)))  # the noise is a constant: gradient 1
    with pytest.raises(ValueError, match="stddev"):
        GaussianNoise(-1)


def test_dropout_gradient_matches_torch_with_same_mask():
    x = np.random.default_rng(0).standard_normal((6, 5))
    layer = Dropout(0.4, seed=1)
    t = nnlib.Tensor(x, requires_grad=True)
    out = layer(t)
    mask = (out.data != 0).astype(np.float64) / 0.6
    out.backward(np.ones_like(x))
    tt = torch.tensor(x, requires_grad=True)
    (tt * torch.tensor(mask)).sum().backward()
    np.testing.assert_allclose(t.grad, tt.grad.numpy())
    check_parity(lambda a: Dropout(0.5).eval()(a), lambda a: TF.dropout(a, 0.5, training=False), shapes=[(3, 4)])


@pytest.mark.parametrize("shape", [(8, 3), (4, 5, 3)])
def test_batch_norm_train_matches_torch(shape):
    def theirs(x, g, b):
        if x.ndim == 2:
            return TF.batch_norm(x, None, None, g, b, training=True, eps=1e-3)
        return TF.batch_norm(x.transpose(1, 2), None, None, g, b, training=True, eps=1e-3).transpose(1, 2)
    check_parity(lambda x, g, b: batch_norm_train(x, g, b, 1e-3)[0], theirs, shapes=[shape, (3,), (3,)])


def test_batch_normalization_layer_train_and_inference_match_torch():
    rng = np.random.default_rng(0)
    layer = BatchNormalization(input_shape=(3,))
    ref = torch.nn.BatchNorm1d(3, eps=1e-3, momentum=0.01)  # Keras momentum 0.99 == torch 0.01
    layer.set_weights([rng.uniform(0.5, 2, 3), rng.uniform(-1, 1, 3), np.zeros(3), np.ones(3)])
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.gamma.data))
        ref.bias.copy_(torch.tensor(layer.beta.data))
    n = 16
    for step in range(3):
        x = rng.standard_normal((n, 3)).astype(np.float32) * 3 + 1
        out = layer(x)
        expected = ref(torch.tensor(x))
        np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean, ref.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    # Keras updates the moving variance with the biased batch variance, torch with the unbiased one
    biased = 0.99 ** 3 * 1.0 + (ref.running_var.numpy() - 0.99 ** 3) * (n - 1) / n
    np.testing.assert_allclose(layer.moving_variance, biased, rtol=1e-4)
    # inference uses the moving statistics
    layer.eval()
    ref.eval()
    with torch.no_grad():
        ref.running_var.copy_(torch.tensor(layer.moving_variance))
    x = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(x).data, ref(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    before = layer.moving_mean.copy()
    layer(x)
    np.testing.assert_array_equal(layer.moving_mean, before)


def test_batch_normalization_weights_and_frozen_inference():
    layer = BatchNormalization(input_shape=(4,))
    names = [w.shape for w in layer.get_weights()]
    assert names == [(4,)] * 4  # gamma, beta, moving_mean, moving_variance (Keras order)
    assert layer.count_params() == 16
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2
    layer.trainable = False  # Keras: a frozen BatchNormalization runs in inference mode
    x = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32) + 5
    np.testing.assert_allclose(layer(x).data, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean, np.zeros(4))
    with pytest.raises(ValueError, match=r"built for 4 features"):
        layer(np.ones((2, 3)))



def test_batch_normalization_axis_out_of_range_is_named():
    with pytest.raises(ValueError, match=r"axis 3 .* input shape \(None, 4\)"):
        BatchNormalization(axis=3, input_shape=(4,))
    layer = BatchNormalization(axis=-3)
    with pytest.raises(ValueError, match=r"axis -3"):
        layer(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="BatchNormalization: dtype must be a float type"):
        BatchNormalization(dtype="int32")


def test_batch_normalization_single_sample_batch_trains_like_keras():
    """A final batch of one row (e.g. 33 rows, batch_size=32) must not stop fit(); as in Keras the
    batch variance is 0, so the output is beta and no gradient reaches the input."""
    layer = BatchNormalization(input_shape=(3,))
    x = nnlib.Tensor(np.array([[1.0, -2.0, 3.0]], np.float32), requires_grad=True)
    out = layer(x)
    np.testing.assert_allclose(out.data, np.zeros((1, 3)), atol=1e-6)  # beta = 0
    out.sum().backward()
    np.testing.assert_allclose(x.grad, np.zeros((1, 3)), atol=1e-6)
    np.testing.assert_allclose(layer.moving_mean, 0.01 * np.array([1.0, -2.0, 3.0]), rtol=1e-6)
    model = Sequential([Dense(4, input_shape=(3,)), BatchNormalization(), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    rng = np.random.default_rng(0)
    history = model.fit(rng.standard_normal((33, 3)), rng.integers(0, 2, 33), batch_size=32, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_l2_regularizer_penalty_and_gradient():
    w = np.random.default_rng(0).standard_normal((3, 2))
    check_parity(lambda a: regularizers.l2(0.01)(a), lambda a: 0.01 * (a * a).sum(), inputs=[w])
    check_parity(lambda a: regularizers.L1L2(0.1, 0.2)(a), lambda a: 0.1 * a.abs().sum() + 0.2 * (a * a).sum(),
                 inputs=[w])
    layer = Dense(2, input_shape=(3,), kernel_regularizer=regularizers.l2(0.5))
    (penalty,) = layer.regularization_losses()
    np.testing.assert_allclose(penalty.item(), 0.5 * np.sum(layer.kernel.data ** 2), rtol=1e-6)
    assert regularizers.get({"class_name": "L2", "config": {"l2": 0.1}}).l2 == 0.1
    with pytest.raises(ValueError, match="invalid regularizer"):
        regularizers.get({"class_name": "os.system", "config": {}})
    with pytest.raises(ValueError, match=">= 0"):
        regularizers.l2(-1)


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"])
def test_initializer_statistics(name):
    rng = np.random.default_rng(0)
    w = initializers.get(name)((400, 300), np.float32, rng=rng)
    fan_in, fan_out = 400, 300
    var = {"glorot_uniform": 2 / (fan_in + fan_out), "glorot_normal": 2 / (fan_in + fan_out),
           "he_uniform": 2 / fan_in, "he_normal": 2 / fan_in}[name]
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.01
    assert abs(w.var() / var - 1) < 0.05


def test_layer_names_and_registry():
    a, b = Dense(1), Dense(1)
    assert a.name != b.name and a.name.startswith("dense")
    assert Dense(1, name="out").name == "out"
    assert {"Dense", "Dropout", "Activation", "Flatten", "BatchNormalization", "GaussianNoise"} <= set(
        registered_layers())
    with pytest.raises(TypeError):
        register_layer(int)

    @register_layer
    class DoubleForLayerTest(Layer):
        def forward(self, x):
            return x * 2.0
    assert registered_layers()["DoubleForLayerTest"] is DoubleForLayerTest
    assert "DoubleForLayerTest" in repr(DoubleForLayerTest())
