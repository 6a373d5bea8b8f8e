"""Pooling with torch's options (issue 18): ceil_mode, count_include_pad=False, return_indices, dilation,
divisor_override; asymmetric padding through F.pad first. Values, gradients and dtypes vs torch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import nnlib.functional as F
from tests.parity import check_parity

MAX2 = [dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, padding=1, ceil_mode=True),
        dict(kernel_size=3, dilation=2), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1)),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, dilation=2)]
AVG2 = [dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
        dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, padding=1, ceil_mode=True),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        dict(kernel_size=2, divisor_override=3), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0),
                                                      count_include_pad=False)]


@pytest.mark.parametrize("kw", MAX2, ids=[str(k) for k in MAX2])
def test_max_pool2d_options(kw):
    check_parity(lambda a: F.max_pool2d(a, **kw), lambda a: TF.max_pool2d(a, **kw), shapes=[(2, 3, 7, 8)])
    ours = F.max_pool2d(np.random.default_rng(0).normal(size=(2, 3, 7, 8)), return_indices=True, **kw)[1]
    theirs = TF.max_pool2d(torch.tensor(np.random.default_rng(0).normal(size=(2, 3, 7, 8))), return_indices=True,
                           **kw)[1]
    np.testing.assert_array_equal(ours, theirs.numpy())
    assert ours.dtype == np.int64


@pytest.mark.parametrize("kw", AVG2, ids=[str(k) for k in AVG2])
def test_avg_pool2d_options(kw):
    check_parity(lambda a: F.avg_pool2d(a, **kw), lambda a: TF.avg_pool2d(a, **kw), shapes=[(2, 3, 7, 8)])


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, dilation=3),
                                dict(kernel_size=3, padding=1, return_indices=True)])
def test_max_pool1d_options(kw):
    pick = (lambda r: r[0]) if kw.get("return_indices") else (lambda r: r)
    check_parity(lambda a: pick(F.max_pool1d(a, **kw)), lambda a: pick(TF.max_pool1d(a, **kw)), shapes=[(2, 3, 9)])


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                dict(kernel_size=2, ceil_mode=True)])
def test_avg_pool1d_options(kw):
    check_parity(lambda a: F.avg_pool1d(a, **kw), lambda a: TF.avg_pool1d(a, **kw), shapes=[(2, 3, 9)])


def test_max_pool_with_indices_on_integers():
    x = np.arange(20).reshape(1, 1, 4, 5).astype(np.int32)
    check_parity(lambda a: F.max_pool2d(a, 2, ceil_mode=True, padding=1),
                 lambda a: TF.max_pool2d(a.double(), 2, ceil_mode=True, padding=1).int(), inputs=[x])


def test_asymmetric_padding_through_pad():
    """torch has no asymmetric padding argument: F.pad first, then conv/pool, on both sides alike."""
    check_parity(lambda a, w: F.conv2d(F.pad(a, (0, 1, 2, 0)), w), lambda a, w: TF.conv2d(TF.pad(a, (0, 1, 2, 0)), w),
                 shapes=[(2, 3, 6, 5), (4, 3, 3, 3)])
    check_parity(lambda a: F.max_pool2d(F.pad(a, (1, 0, 0, 1), value=-np.inf), 2),
                 lambda a: TF.max_pool2d(TF.pad(a, (1, 0, 0, 1), value=-np.inf), 2), shapes=[(2, 3, 5, 5)])


@settings(max_examples=25, deadline=None)
@given(h=st.integers(3, 8), w=st.integers(3, 8), k=st.integers(1, 3), s=st.integers(1, 3), d=st.integers(1, 2),
       ceil=st.booleans(), data=st.data())
def test_pool_options_any_geometry(h, w, k, s, d, ceil, data):
    p = data.draw(st.integers(0, k // 2))
    if (k - 1) * d + 1 > min(h, w) + 2 * p:
        return
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil)
    check_parity(lambda a: F.max_pool2d(a, dilation=d, **kw), lambda a: TF.max_pool2d(a, dilation=d, **kw),
                 shapes=[(1, 2, h, w)])
    inc = data.draw(st.booleans())
    check_parity(lambda a: F.avg_pool2d(a, count_include_pad=inc, **kw),
                 lambda a: TF.avg_pool2d(a, count_include_pad=inc, **kw), shapes=[(1, 2, h, w)])
