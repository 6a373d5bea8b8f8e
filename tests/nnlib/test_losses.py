"""Chapter 02: the losses beyond the basics (NLL, weights, label smoothing, soft labels,
pos_weight) and gradients for targets, all against torch.nn.functional."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnlib
import nnlib.functional as F
from tests.parity import check_parity

REDUCTIONS = ["mean", "sum", "none"]


def _class_targets(n, classes, seed=3, ignore=0):
    t = np.random.default_rng(seed).integers(0, classes, size=n)
    t[:ignore] = -100
    return t


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, weighted, dtype):
    t = _class_targets(7, 5, ignore=2)
    w = np.linspace(0.5, 2.0, 5).astype(dtype) if weighted else None
    tw = torch.tensor(w) if weighted else None
    check_parity(lambda x: F.nll_loss(F.log_softmax(x), t, weight=w, reduction=reduction),
                 lambda x: TF.nll_loss(TF.log_softmax(x, -1), torch.tensor(t), weight=tw, reduction=reduction),
                 shapes=[(7, 5)], dtype=dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [0, 2])
def test_cross_entropy_weight_smoothing_ignore(reduction, smoothing, weighted, ignore):
    t = _class_targets(8, 4, ignore=ignore)
    w = np.array([0.2, 1.0, 3.0, 0.7]) if weighted else None
    tw = torch.tensor(w) if weighted else None
    check_parity(lambda x: F.cross_entropy(x, t, reduction=reduction, weight=w, label_smoothing=smoothing),
                 lambda x: TF.cross_entropy(x, torch.tensor(t), reduction=reduction, weight=tw,
                                            label_smoothing=smoothing),
                 shapes=[(8, 4)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probability_targets_give_both_gradients(reduction, smoothing, weighted, dtype):
    w = np.array([0.5, 1.0, 2.0], dtype=dtype) if weighted else None
    tw = torch.tensor(w) if weighted else None
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3)).astype(dtype) * 3
    probs = rng.dirichlet(np.ones(3), size=6).astype(dtype)
    check_parity(lambda x, q: F.cross_entropy(x, q, reduction=reduction, weight=w, label_smoothing=smoothing),
                 lambda x, q: TF.cross_entropy(x, q, reduction=reduction, weight=tw, label_smoothing=smoothing),
                 inputs=[logits, probs])


def test_cross_entropy_probability_targets_on_three_axes():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(2, 3, 5))
    q = rng.dirichlet(np.ones(5), size=(2, 3))

    def theirs(x, p):
        return TF.cross_entropy(x.reshape(-1, 5), p.reshape(-1, 5), reduction="none").reshape(2, 3)
    check_parity(lambda x, p: F.cross_entropy(x, p, reduction="none"), theirs, inputs=[z, q])


def test_one_hot_float_targets_equal_index_targets():
    z = np.random.default_rng(2).normal(size=(5, 4))
    t = np.array([0, 3, 1, 1, 2])
    a = F.cross_entropy(z, np.eye(4)[t]).item()
    b = F.cross_entropy(z, t).item()
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_give_the_target_a_gradient(reduction):
    check_parity(lambda p, y: F.mse_loss(p, y, reduction=reduction),
                 lambda p, y: TF.mse_loss(p, y, reduction=reduction), shapes=[(4, 3), (4, 3)])
    check_parity(lambda p, y: F.l1_loss(p, y, reduction=reduction),
                 lambda p, y: TF.l1_loss(p, y, reduction=reduction), shapes=[(4, 3), (4, 3)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_losses_give_the_target_a_gradient(reduction):
    check_parity(lambda p, y: F.binary_cross_entropy(p, y, reduction=reduction),
                 lambda p, y: TF.binary_cross_entropy(p, y, reduction=reduction),
                 shapes=[(5, 2), (5, 2)], low=0.05, high=0.95)
    check_parity(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction),
                 lambda z, y: TF.binary_cross_entropy_with_logits(z, y, reduction=reduction),
                 inputs=[np.random.default_rng(0).normal(size=(5, 2)) * 4,
                         np.random.default_rng(1).uniform(0, 1, size=(5, 2))])


def test_target_without_grad_gets_none():
    p = nnlib.Tensor(np.array([0.2, 0.7]), requires_grad=True)
    y = nnlib.Tensor(np.array([0.0, 1.0]))
    F.mse_loss(p, y).backward()
    assert y.grad is None and p.grad is not None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_pos_weight(reduction, dtype):
    rng = np.random.default_rng(4)
    z = (rng.normal(size=(6, 3)) * 5).astype(dtype)
    y = rng.uniform(0, 1, size=(6, 3)).astype(dtype)
    pw = np.array([0.5, 2.0, 4.0], dtype=dtype)
    # logits and targets differentiable, pos_weight a constant Tensor
    check_parity(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction,
                                                                 pos_weight=nnlib.Tensor(pw)),
                 lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction,
                                                                  pos_weight=torch.tensor(pw)),
                 inputs=[z, y])
    # a plain array as pos_weight
    check_parity(lambda a: F.binary_cross_entropy_with_logits(a, y, reduction=reduction, pos_weight=pw),
                 lambda a: TF.binary_cross_entropy_with_logits(a, torch.tensor(y), reduction=reduction,
                                                               pos_weight=torch.tensor(pw)),
                 inputs=[z])


def test_pos_weight_at_huge_logits_is_finite():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=np.float32)
    y = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    pw = np.array([3.0, 0.5], dtype=np.float32)
    out = check_parity(lambda a: F.binary_cross_entropy_with_logits(a, y, pos_weight=pw),
                       lambda a: TF.binary_cross_entropy_with_logits(a, torch.tensor(y), pos_weight=torch.tensor(pw)),
                       inputs=[z])
    assert np.isfinite(out.item())


def test_new_loss_errors_are_clear():
    z = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"weight must hold one value per class, shape \(3,\)"):
        F.cross_entropy(z, np.array([0, 1, 2, 0]), weight=np.ones(4))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(z, np.array([0, 1, 2, 0]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="pos_weight of shape"):
        F.binary_cross_entropy_with_logits(z, np.zeros((4, 3)), pos_weight=np.ones(2))
    with pytest.raises(ValueError, match="out of range"):
        F.nll_loss(z, np.array([0, 1, 5, 0]))
    with pytest.raises(ValueError, match="one-hot"):
        F.nll_loss(z, np.eye(3)[[0, 1, 2, 0]])
    with pytest.raises(ValueError, match="cannot have a gradient"):
        F.cross_entropy(z, nnlib.Tensor(np.array([0.0, 1.0, 2.0, 0.0]), requires_grad=True))
    with pytest.raises(ValueError, match="detach"):
        F.binary_cross_entropy_with_logits(z, np.zeros((4, 3)), pos_weight=nnlib.Tensor(np.ones(3), requires_grad=True))
    with pytest.raises(ValueError, match="detach"):
        F.cross_entropy(z, np.array([0, 1, 2, 0]), weight=nnlib.Tensor(np.ones(3), requires_grad=True))
