"""Chapter 11: a float additive attention mask that requires grad gets torch's gradient."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnlib
from nnlib.attention import scaled_dot_product_attention
from tests.parity import check_parity


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_shape", [(2, 3, 4, 5), (4, 5), (3, 1, 5)])
def test_float_mask_gets_a_gradient(mask_shape, dtype):
    shapes = [(2, 3, 4, 6), (2, 3, 5, 6), (2, 3, 5, 7), mask_shape]
    check_parity(lambda q, k, v, m: scaled_dot_product_attention(q, k, v, mask=m, scale=0.4),
                 lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.4),
                 shapes=shapes, dtype=dtype)


def test_only_the_mask_requires_grad():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(1, 2, 3, 4)) for _ in range(3))
    m = rng.normal(size=(3, 3))
    m[0, 2] = -np.inf
    ours = nnlib.Tensor(m.copy(), requires_grad=True)
    theirs = torch.tensor(m.copy(), requires_grad=True)
    scaled_dot_product_attention(q, k, v, mask=ours).sum().backward()
    TF.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), attn_mask=theirs).sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-12)
    assert ours.grad[0, 2] == 0.0


def test_constant_mask_still_has_no_gradient_path():
    q = nnlib.Tensor(np.ones((1, 2, 3)), requires_grad=True)
    m = nnlib.Tensor(np.zeros((2, 2)))
    scaled_dot_product_attention(q, q, q, mask=m).sum().backward()
    assert m.grad is None and q.grad is not None
