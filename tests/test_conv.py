"""Chapter 16: convolution and pooling against torch.nn.functional (values and gradients)."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

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
