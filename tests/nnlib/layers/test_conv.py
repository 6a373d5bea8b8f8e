"""Chapter 16: convolution and pooling against torch.nn.functional (values and gradients)."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import nnlib
from nnlib.ops import conv as C
from tests.parity import check_parity

# (in_channels, out_channels, kernel, stride, padding, dilation, groups)
GRID_2D = [
    (3, 4, (3, 3), 1, 0, 1, 1),
    (3, 4, (3, 3), 1, 1, 1, 1),
    (3, 4, (3, 2), (2, 1), (1, 0), 1, 1),
    (4, 6, (3, 3), 2, 1, 1, 2),
    (4, 4, (3, 3), 1, 2, 2, 4),          # depthwise, dilated
    (2, 3, (1, 1), 1, 0, 1, 1),
    (3, 5, (2, 3), 1, "same", (2, 1), 1),
    (3, 4, (4, 4), 1, "same", 1, 1),     # even kernel: the extra padding goes after
    (6, 4, (3, 3), (1, 2), "valid", (1, 2), 2),
    (3, 2, (5, 5), 3, 2, 1, 1),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cin, cout, k, stride, padding, dilation, groups", GRID_2D)
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_matches_torch(cin, cout, k, stride, padding, dilation, groups, use_bias, dtype):
    shapes = [(2, cin, 9, 8), (cout, cin // groups) + k] + ([(cout,)] if use_bias else [])

    def ours(x, w, b=None):
        return C.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def theirs(x, w, b=None):
        return TF.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    check_parity(ours, theirs, shapes=shapes, dtype=dtype)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_conv2d_random_settings_match_torch(data):
    groups = data.draw(st.sampled_from([1, 2, 3]))
    cin = groups * data.draw(st.integers(1, 2))
    cout = groups * data.draw(st.integers(1, 2))
    k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    padding = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
    reach = [d * (kk - 1) + 1 - 2 * p for kk, d, p in zip(k, dilation, padding)]
    h = data.draw(st.integers(max(reach[0], 1), 7))
    w = data.draw(st.integers(max(reach[1], 1), 7))
    n = data.draw(st.integers(1, 2))
    check_parity(lambda x, wt, b: C.conv2d(x, wt, b, stride, padding, dilation, groups),
                 lambda x, wt, b: TF.conv2d(x, wt, b, stride, padding, dilation, groups),
                 shapes=[(n, cin, h, w), (cout, cin // groups) + k, (cout,)], seed=data.draw(st.integers(0, 99)))


GRID_1D = [(3, 4, 3, 1, 0, 1, 1), (4, 6, 3, 2, 1, 1, 2), (2, 4, 2, 1, "same", 3, 2), (3, 3, 5, 2, 2, 1, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cin, cout, k, stride, padding, dilation, groups", GRID_1D)
def test_conv1d_matches_torch(cin, cout, k, stride, padding, dilation, groups, dtype):
    def ours(x, w, b):
        return C.conv1d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def theirs(x, w, b):
        return TF.conv1d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    check_parity(ours, theirs, shapes=[(3, cin, 11), (cout, cin // groups, k), (cout,)], dtype=dtype)


POOL_GRID = [((2, 2), None, 0), ((3, 3), 2, 1), ((3, 2), (1, 2), (1, 0)), ((2, 2), 1, 1), ((4, 4), 3, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kernel, stride, padding", POOL_GRID)
def test_pool2d_matches_torch(kind, kernel, stride, padding, dtype):
    ours = {"max": C.max_pool2d, "avg": C.avg_pool2d}[kind]
    theirs = {"max": TF.max_pool2d, "avg": TF.avg_pool2d}[kind]
    check_parity(lambda x: ours(x, kernel, stride, padding), lambda x: theirs(x, kernel, stride, padding),
                 shapes=[(2, 3, 9, 8)], dtype=dtype)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool1d_matches_torch(kind):
    ours = {"max": C.max_pool1d, "avg": C.avg_pool1d}[kind]
    theirs = {"max": TF.max_pool1d, "avg": TF.avg_pool1d}[kind]
    check_parity(lambda x: ours(x, 3, 2, 1), lambda x: theirs(x, 3, 2, 1), shapes=[(2, 3, 10)])


def test_max_pool_ties_send_the_gradient_to_the_first_maximum():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 1, 0] = 5.0
    check_parity(lambda a: C.max_pool2d(a, 2), lambda a: TF.max_pool2d(a, 2), inputs=[x])
    check_parity(lambda a: C.max_pool2d(a, 3, 1, 1), lambda a: TF.max_pool2d(a, 3, 1, 1), inputs=[x])
    flat = np.zeros((2, 2, 6, 6))  # every window a 9-way tie
    check_parity(lambda a: C.max_pool2d(a, 3), lambda a: TF.max_pool2d(a, 3), inputs=[flat])
    check_parity(lambda a: C.max_pool2d(a, 2, 2, 1), lambda a: TF.max_pool2d(a, 2, 2, 1), inputs=[flat])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_windows_that_tile_the_input(kind, dtype):
    ours = {"max": C.max_pool2d, "avg": C.avg_pool2d}[kind]
    theirs = {"max": TF.max_pool2d, "avg": TF.avg_pool2d}[kind]
    x = np.round(np.random.default_rng(0).normal(size=(2, 3, 8, 6)), 1).astype(dtype)  # rounding makes ties
    check_parity(lambda a: ours(a, (2, 3)), lambda a: theirs(a, (2, 3)), inputs=[x])
    check_parity(lambda a: ours(a, 2, 2, 1), lambda a: theirs(a, 2, 2, 1), inputs=[x[:, :, :6, :6]])


def test_conv_of_float32_stays_float32_and_only_needed_grads_are_computed():
    x = nnlib.Tensor(np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32))
    w = nnlib.Tensor(np.ones((4, 3, 3, 3), dtype=np.float32), requires_grad=True)
    out = C.conv2d(x, w, padding=1)
    assert out.dtype == np.float32 and out.shape == (2, 4, 6, 6)
    out.sum().backward()
    assert x.grad is None and w.grad.dtype == np.float32


def test_conv_errors_are_clear():
    x = np.zeros((2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\)"):
        C.conv2d(np.zeros((3, 8, 8)), np.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match="3 channels.*expects 2 per group x 1 group"):
        C.conv2d(x, np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="divisible by groups"):
        C.conv2d(x, np.zeros((4, 1, 3, 3)), groups=3)
    with pytest.raises(ValueError, match="stride 1"):
        C.conv2d(x, np.zeros((4, 3, 3, 3)), stride=2, padding="same")
    with pytest.raises(ValueError, match="smaller than the kernel"):
        C.conv2d(x, np.zeros((4, 3, 9, 9)))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        C.conv2d(x, np.zeros((4, 3, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="at most half the kernel"):
        C.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="padding must be"):
        C.conv2d(x, np.zeros((4, 3, 3, 3)), padding="full")


@pytest.mark.parametrize("size, kernel, stride, dilation", itertools.product([7, 8], [1, 2, 3], [1, 2, 3], [1, 2]))
def test_same_padding_gives_ceil_size(size, kernel, stride, dilation):
    before, after = C.same_padding(size, kernel, stride, dilation)
    assert C.conv_output_size(size, kernel, stride, dilation, before + after) == -(-size // stride)
    assert 0 <= after - before <= 1


# ------------------------------------------------------------------------ Keras-style layers
from nnlib.layers import (AveragePooling2D, AvgPool2D, Conv1D, Conv2D, Dense, Flatten,  # noqa: E402
                          GlobalAveragePooling2D, MaxPool2D, MaxPooling2D)
from nnlib.models import Sequential, load_model, save_model  # noqa: E402


def _torch_same(x, kernel, stride, dilation):
    """Keras' 'same' padding applied to an NCHW torch tensor."""
    pads = []
    for n, k, s, d in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride), reversed(dilation)):
        pads += list(C.same_padding(n, k, s, d))
    return TF.pad(x, pads)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kernel, strides, padding, dilation, groups", [
    ((3, 3), (1, 1), "valid", (1, 1), 1), ((3, 3), (2, 2), "same", (1, 1), 1), ((2, 3), (1, 2), "same", (2, 1), 2),
    ((3, 3), (1, 1), 1, (1, 1), 4),
])
def test_conv2d_layer_matches_torch(data_format, kernel, strides, padding, dilation, groups):
    layer = Conv2D(8, kernel, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                   data_format=data_format, dtype="float64")
    shape = (2, 7, 9, 4) if data_format == "channels_last" else (2, 4, 7, 9)
    layer.build((None,) + shape[1:])

    def ours(x, k, b):
        layer.kernel, layer.bias = k, b
        return layer(x)

    def theirs(x, k, b):
        xt = x if data_format == "channels_first" else x.permute(0, 3, 1, 2)
        w = k.permute(3, 2, 0, 1)
        if padding == "same":
            xt, pad = _torch_same(xt, kernel, strides, dilation), 0
        else:
            pad = 0 if padding == "valid" else padding
        out = TF.conv2d(xt, w, b, stride=strides, padding=pad, dilation=dilation, groups=groups)
        return out if data_format == "channels_first" else out.permute(0, 2, 3, 1)
    out = check_parity(ours, theirs, inputs=[np.random.default_rng(0).normal(size=shape),
                                             layer.kernel.data.copy(), np.random.default_rng(1).normal(size=8)])
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + out.shape[1:]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv1d_layer_matches_torch(data_format, padding):
    layer = Conv1D(6, 3, strides=2, padding=padding, data_format=data_format, dtype="float64")
    shape = (2, 11, 4) if data_format == "channels_last" else (2, 4, 11)
    layer.build((None,) + shape[1:])

    def ours(x, k, b):
        layer.kernel, layer.bias = k, b
        return layer(x)

    def theirs(x, k, b):
        xt = x if data_format == "channels_first" else x.permute(0, 2, 1)
        if padding == "same":
            xt = TF.pad(xt, list(C.same_padding(11, 3, 2, 1)))
        out = TF.conv1d(xt, k.permute(2, 1, 0), b, stride=2)
        return out if data_format == "channels_first" else out.permute(0, 2, 1)
    out = check_parity(ours, theirs, inputs=[np.random.default_rng(0).normal(size=shape),
                                             layer.kernel.data.copy(), np.zeros(6)])
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + out.shape[1:]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pooling_layers_match_torch(data_format):
    shape = (2, 7, 7, 3) if data_format == "channels_last" else (2, 3, 7, 7)

    def nchw(fn):
        def run(x):
            xt = x if data_format == "channels_first" else x.permute(0, 3, 1, 2)
            out = fn(xt)
            return out if data_format == "channels_first" else out.permute(0, 2, 3, 1)
        return run
    cases = [
        (MaxPooling2D(data_format=data_format), nchw(lambda t: TF.max_pool2d(t, 2))),
        (MaxPooling2D(3, strides=1, padding="same", data_format=data_format),
         nchw(lambda t: TF.max_pool2d(t, 3, 1, 1))),
        (AveragePooling2D((2, 3), strides=(1, 2), data_format=data_format),
         nchw(lambda t: TF.avg_pool2d(t, (2, 3), (1, 2)))),
        (AveragePooling2D(3, strides=1, padding="same", data_format=data_format),
         nchw(lambda t: TF.avg_pool2d(t, 3, 1, 1, count_include_pad=False))),
    ]
    for layer, theirs in cases:
        out = check_parity(layer, theirs, shapes=[shape])
        assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + out.shape[1:]
    gap = GlobalAveragePooling2D(data_format=data_format)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    check_parity(gap, lambda t: t.mean(dim=axes), shapes=[shape])
    assert gap.compute_output_shape((None,) + shape[1:]) == (None, 3)


def test_aliases_summary_and_names():
    # Keras' own aliases; torch's spelling (Conv2d) is no name of nnlib.layers: see test_naming_rule.py
    assert MaxPool2D is MaxPooling2D and AvgPool2D is AveragePooling2D
    model = Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
                        MaxPool2D(), Conv2D(6, (3, 3), groups=2), GlobalAveragePooling2D(), Dense(10)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for row in ["(None, 8, 8, 4)", "(None, 4, 4, 4)", "(None, 2, 2, 6)", "(None, 6)", "(None, 10)",
                "(Conv2D)", "(MaxPooling2D)", "(GlobalAveragePooling2D)", "Total params: 224"]:
        assert row in text, row
    # 3*3*1*4 + 4 = 40; 3*3*2*6 + 6 = 114; 6*10 + 10 = 70
    assert [layer.count_params() for layer in model.layers] == [40, 0, 114, 0, 70]
    assert model.layers[0].name.startswith("conv2d") and model.layers[1].name.startswith("max_pooling2d")
    assert model(np.zeros((3, 8, 8, 1), dtype=np.float32)).shape == (3, 10)


def test_conv_layer_errors_name_the_layer_and_shapes():
    layer = Conv2D(4, 3, name="c1", input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match=r"layer 'c0' \(Conv2D\) expects 4-D input.*\(None, 8, 8\).*channel axis"):
        Sequential([Conv2D(4, 3, name="c0", input_shape=(8, 8))])
    with pytest.raises(ValueError, match=r"layer 'c1' \(Conv2D\) was built for 3 input channels.*\(2, 8, 8, 1\)"):
        layer(np.zeros((2, 8, 8, 1)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        layer(np.zeros((2, 2, 2, 3)))
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2D(5, 3, groups=2)
    with pytest.raises(ValueError, match="data_format"):
        Conv2D(4, 3, data_format="NHWC")
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match=r"MaxPooling2D.*4-D input \(batch, height, width, channels\)"):
        MaxPooling2D()(np.zeros((2, 8, 8)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_small_cnn_learns_digits_and_round_trips(tmp_path):
    from nnlib.datasets import load_digits
    nnlib.manual_seed(0)
    X, y = load_digits()
    X = (X.reshape(-1, 8, 8, 1) / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, test = order[:1400], order[1400:]
    model = Sequential([Conv2D(16, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
                        MaxPooling2D(), Flatten(), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X[train], y[train], epochs=12, batch_size=32, verbose=0)
    accuracy = float(np.mean(model.predict(X[test], verbose=0).argmax(-1) == y[test]))
    assert accuracy > 0.9, accuracy  # about 0.94-0.95 over seeds 0-4 (397 held-out digits)
    path = tmp_path / "cnn.nnlib"
    save_model(model, path)
    again = load_model(path)
    assert [type(layer).__name__ for layer in again.layers] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    np.testing.assert_array_equal(again.predict(X[test], verbose=0), model.predict(X[test], verbose=0))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("channels, dtype", [(1, np.float32), (3, np.float64)])
def test_conv2d_layer_with_fused_relu_matches_torch(data_format, channels, dtype):
    """activation='relu' runs inside the convolution (one op); values and gradients as torch's relu(conv)."""
    layer = Conv2D(5, 3, padding="same", activation="relu", data_format=data_format, dtype=np.dtype(dtype).name)
    shape = (3, 6, 7, channels) if data_format == "channels_last" else (3, channels, 6, 7)
    layer.build((None,) + shape[1:])

    def ours(x, k, b):
        layer.kernel, layer.bias = k, b
        return layer(x)

    def theirs(x, k, b):
        xt = x if data_format == "channels_first" else x.permute(0, 3, 1, 2)
        out = TF.relu(TF.conv2d(xt, k.permute(3, 2, 0, 1), b, padding=1))
        return out if data_format == "channels_first" else out.permute(0, 2, 3, 1)
    rng = np.random.default_rng(3)
    check_parity(ours, theirs, inputs=[rng.normal(size=shape).astype(dtype), layer.kernel.data.copy(),
                                       rng.normal(size=5).astype(dtype)])


def test_recycled_buffers_never_overwrite_arrays_still_in_use():
    """Two graphs alive at once keep their own outputs and gradients; a dropped output's memory is reused."""
    rng = np.random.default_rng(0)
    w = nnlib.Tensor(rng.normal(size=(3, 3, 2, 4)).astype(np.float32), requires_grad=True)
    xs = [nnlib.Tensor(rng.normal(size=(2, 6, 6, 2)).astype(np.float32), requires_grad=True) for _ in range(2)]
    outs = [C.pool2d_channels_last(C.conv2d_channels_last(x, w, pads=((1, 1), (1, 1)), relu=True), "max",
                                   (2, 2), (2, 2)) for x in xs]
    expected = [o.data.copy() for o in outs]
    grads = []
    for x, o in zip(xs, outs):
        w.grad = None
        o.sum().backward()
        grads.append((x.grad.copy(), w.grad.copy()))
    for x, o, e, (gx, gw) in zip(xs, outs, expected, grads):  # recompute each alone: the same numbers
        np.testing.assert_array_equal(o.data, e)
        w.grad, x.grad = None, None
        fresh = C.pool2d_channels_last(C.conv2d_channels_last(x, w, pads=((1, 1), (1, 1)), relu=True), "max",
                                       (2, 2), (2, 2))
        np.testing.assert_array_equal(fresh.data, e)
        fresh.sum().backward()
        np.testing.assert_array_equal(x.grad, gx)
        np.testing.assert_array_equal(w.grad, gw)
    big = nnlib.Tensor(rng.normal(size=(16, 32, 32, 2)).astype(np.float32))  # 256 KiB outputs: kept
    first = C.conv2d_channels_last(big, w.data, pads=((1, 1), (1, 1)))
    address = first.data.__array_interface__["data"][0]
    held = C.conv2d_channels_last(big, w.data, pads=((1, 1), (1, 1)))
    assert held.data.__array_interface__["data"][0] != address  # still in use: not handed out again
    del first
    again = C.conv2d_channels_last(big, w.data, pads=((1, 1), (1, 1)))
    assert again.data.__array_interface__["data"][0] == address  # dropped: recycled
    np.testing.assert_array_equal(again.data, held.data)


def test_non_uniform_strides_and_dilation_round_trip(tmp_path):
    """Tuple arguments are saved as lists and pass the loader's strict config check."""
    nnlib.manual_seed(0)
    model = Sequential([Conv2D(4, (3, 2), strides=(1, 2), dilation_rate=(2, 1), padding=(1, 0),
                               input_shape=(9, 8, 2)), Flatten(), Dense(3)])
    save_model(model, tmp_path / "m.nnlib")
    back = load_model(tmp_path / "m.nnlib")
    conv = back.layers[0]
    assert (conv.strides, conv.dilation_rate, conv.padding) == ((1, 2), (2, 1), (1, 0))
    x = np.random.default_rng(0).normal(size=(2, 9, 8, 2)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
