"""Chapter 12: gradient clipping equals torch.nn.utils.clip_grad_norm_ / clip_grad_value_."""
import math

import numpy as np
import pytest
import torch

from nnlib import Parameter
from nnlib.optim import clip_grad_norm, clip_grad_value


def _pairs(scale, seed=0, shapes=((3, 4), (5,), (2, 2, 2))):
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for shape in shapes:
        g = (rng.standard_normal(shape) * scale).astype(np.float64)
        p = Parameter(np.zeros(shape))
        p.grad = g.copy()
        t = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        t.grad = torch.from_numpy(g.copy())
        ours.append(p)
        theirs.append(t)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("scale", [0.01, 10.0])  # below and above max_norm
def test_clip_grad_norm_matches_torch(norm_type, scale):
    ours, theirs = _pairs(scale)
    total = clip_grad_norm(ours, 1.0, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type)
    assert total == pytest.approx(float(expected), rel=1e-12)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_norm_single_parameter_skips_missing_grads_and_float32():
    p = Parameter(np.zeros(4, np.float32))
    p.grad = np.full(4, 3.0, np.float32)
    q = Parameter(np.zeros(2, np.float32))  # no gradient: ignored
    assert clip_grad_norm([p, q], 1.0) == pytest.approx(6.0)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p.grad), 1.0, rtol=1e-5)
    assert clip_grad_norm(p, 10.0) == pytest.approx(1.0, rel=1e-5)
    assert clip_grad_norm([q], 1.0) == 0.0


def test_clip_grad_norm_nonfinite_and_bad_arguments():
    p = Parameter(np.zeros(3))
    p.grad = np.array([1.0, np.nan, 2.0])
    assert math.isnan(clip_grad_norm([p], 1.0))  # left alone, as torch
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        clip_grad_norm([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([p], -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm([p], 1.0, norm_type=0)


def test_clip_grad_value_matches_torch():
    ours, theirs = _pairs(3.0, seed=1)
    clip_grad_value(ours, 0.5)
    torch.nn.utils.clip_grad_value_(theirs, 0.5)
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value(ours, -1)
