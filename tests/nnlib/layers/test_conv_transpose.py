"""Transposed convolution (issue 18): F.conv_transpose1d/2d and the Keras-style Conv2DTranspose layer vs torch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnlib
import nnlib.functional as F
from nnlib.layers import Conv2DTranspose, Dense, Flatten
from nnlib.models import Sequential, load_model, save_model
from tests.parity import check_parity

CASES = [dict(), dict(stride=2), dict(stride=2, padding=1, output_padding=1),
         dict(stride=3, padding=2, dilation=2, output_padding=1), dict(groups=2, stride=2, padding=1),
         dict(stride=(2, 1), padding=(0, 1), dilation=(1, 2))]


@pytest.mark.parametrize("kw", CASES, ids=[str(c) for c in CASES])
def test_conv_transpose2d_matches_torch(kw):
    g = kw.get("groups", 1)
    check_parity(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
                 shapes=[(2, 4, 5, 4), (4, 3, 3, 2), (3 * g,)])


@pytest.mark.parametrize("kw", [c for c in CASES if all(not isinstance(v, tuple) for v in c.values())])
def test_conv_transpose1d_matches_torch(kw):
    g = kw.get("groups", 1)
    check_parity(lambda x, w: F.conv_transpose1d(x, w, **kw), lambda x, w: TF.conv_transpose1d(x, w, **kw),
                 shapes=[(2, 4, 6), (4, 3, 3)], dtype=np.float32)
    del g


def test_conv_transpose_is_the_gradient_of_conv():
    """conv_transpose2d(g, w) is d conv2d(x, w) / dx applied to g (same stride/padding)."""
    rng = np.random.default_rng(0)
    x = nnlib.Tensor(rng.normal(size=(1, 3, 7, 7)), requires_grad=True)
    w = rng.normal(size=(4, 3, 3, 3))
    out = F.conv2d(x, w, stride=2, padding=1)
    g = rng.normal(size=out.shape)
    out.backward(g)
    np.testing.assert_allclose(F.conv_transpose2d(g, w, stride=2, padding=1).data, x.grad, atol=1e-10)


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)), stride=1, output_padding=1)
    with pytest.raises(ValueError, match="channels"):
        F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((3, 1, 3, 3)))


LAYER_CASES = [dict(padding="valid"), dict(padding="same", strides=2), dict(padding="valid", strides=3),
               dict(padding="same", strides=2, output_padding=1), dict(padding=1, strides=2, dilation_rate=2)]


@pytest.mark.parametrize("kw", LAYER_CASES, ids=[str(c) for c in LAYER_CASES])
def test_layer_matches_torch_and_keras_sizes(kw):
    nnlib.manual_seed(0)
    layer = Conv2DTranspose(3, (3, 2), input_shape=(5, 4, 2), **kw)
    x = np.random.default_rng(1).normal(size=(2, 5, 4, 2)).astype(np.float32)
    out = layer(nnlib.Tensor(x))
    assert out.shape == layer.compute_output_shape((2, 5, 4, 2))
    s = kw.get("strides", 1)
    if kw.get("output_padding") is None and kw["padding"] == "same":
        assert out.shape[1:3] == (5 * s, 4 * s)  # Keras' 'same': n * stride
    # torch: the full transposed convolution, cropped as the layer's geometry says
    crops, extra = layer._geometry((5, 4))
    full = TF.conv_transpose2d(torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(layer.kernel.data).permute(3, 2, 0, 1),
                               torch.tensor(layer.bias.data), stride=layer.strides, dilation=layer.dilation_rate)
    full = TF.pad(full, (0, extra[1], 0, extra[0]))
    (t, b), (left, r) = crops
    ref = full[:, :, t:full.shape[2] - b, left:full.shape[3] - r].permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(out.data, ref, atol=1e-5)


def test_layer_gradients_and_round_trip(tmp_path):
    nnlib.manual_seed(0)
    model = Sequential([Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu", input_shape=(4, 4, 2)),
                        Flatten(), Dense(3)])
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype(np.float32)
    conv = model.layers[0]
    loss = model(nnlib.Tensor(x)).sum()
    loss.backward()
    assert conv.kernel.grad.shape == (3, 3, 4, 2) and conv.bias.grad.shape == (4,)
    save_model(model, tmp_path / "t.nnlib")
    back = load_model(tmp_path / "t.nnlib")
    assert type(back.layers[0]).__name__ == "Conv2DTranspose"
    assert back.layers[0].get_config() == conv.get_config()
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_layer_channels_first():
    nnlib.manual_seed(0)
    a = Conv2DTranspose(3, 2, strides=2, input_shape=(5, 4, 2))
    b = Conv2DTranspose(3, 2, strides=2, data_format="channels_first", input_shape=(2, 5, 4))
    b.set_weights(a.get_weights())
    x = np.random.default_rng(0).normal(size=(1, 5, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(b(nnlib.Tensor(x.transpose(0, 3, 1, 2))).data.transpose(0, 2, 3, 1),
                               a(nnlib.Tensor(x)).data, atol=1e-6)
