"""Chapter 17: pruning masks equal torch.nn.utils.prune's; shrink keeps the function; distillation vs torch."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nnlib
from nnlib.compress import (KeepPruned, apply_masks, distillation_loss, magnitude_masks, shrink, sparse_bytes,
                            sparsity)
from nnlib.layers import Dense
from nnlib.models import Sequential, save_model
from tests.parity import check_parity

torch = pytest.importorskip("torch")
import torch.nn.utils.prune as prune  # noqa: E402


def _model():
    nnlib.manual_seed(0)
    model = Sequential([Dense(12, activation="relu", input_shape=(6,), name="h1"),
                        Dense(10, activation="tanh", name="h2"), Dense(3, name="out")])
    model.build((None, 6))
    return model


def _torch_linear(layer):
    lin = torch.nn.Linear(*layer.kernel.shape)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(layer.kernel.data.T))
    return lin


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.75])
def test_unstructured_layer_masks_equal_l1_unstructured(amount):
    model = _model()
    masks = magnitude_masks(model, amount, scope="layer")
    for layer in model.layers:
        lin = _torch_linear(layer)
        prune.l1_unstructured(lin, "weight", amount=amount)
        assert np.array_equal(masks[layer.name], lin.weight_mask.numpy().T.astype(bool)), layer.name


def test_unstructured_global_masks_equal_global_unstructured():
    model = _model()
    masks = magnitude_masks(model, 0.6, scope="global")
    lins = [_torch_linear(layer) for layer in model.layers]
    prune.global_unstructured([(lin, "weight") for lin in lins], pruning_method=prune.L1Unstructured, amount=0.6)
    for layer, lin in zip(model.layers, lins):
        assert np.array_equal(masks[layer.name], lin.weight_mask.numpy().T.astype(bool)), layer.name
    fractions = [1 - masks[layer.name].mean() for layer in model.layers]
    assert max(fractions) - min(fractions) > 0.05       # global: layers lose different shares


def test_structured_masks_equal_ln_structured():
    model = _model()
    masks = magnitude_masks(model, 0.5, scope="layer", structured=True)
    for layer in model.layers:
        lin = _torch_linear(layer)
        prune.ln_structured(lin, "weight", amount=0.5, n=2, dim=0)   # torch's rows are nnlib's columns
        assert np.array_equal(masks[layer.name], lin.weight_mask.numpy().T.astype(bool)), layer.name
        m = masks[layer.name]
        assert np.all(m.all(axis=0) | ~m.any(axis=0))     # whole columns kept or removed


def test_shrink_computes_the_same_function_with_fewer_parameters(tmp_path):
    model = _model()
    masks = magnitude_masks(model, 0.5, structured=True, layers=["h1", "h2"])
    apply_masks(model, masks)
    small = shrink(model)
    x = np.random.default_rng(0).normal(size=(9, 6)).astype(np.float32)
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert [layer.units for layer in small.layers] == [6, 5, 3]
    assert small.num_parameters() < 0.55 * model.num_parameters()
    big_file, small_file = tmp_path / "big.nnlib", tmp_path / "small.nnlib"
    save_model(model, big_file)
    save_model(small, small_file)
    assert os.path.getsize(small_file) < os.path.getsize(big_file)


def test_unstructured_zeros_do_not_shrink_the_dense_file_but_sparse_storage_would(tmp_path):
    model = _model()
    dense_file = tmp_path / "dense.nnlib"
    save_model(model, dense_file)
    apply_masks(model, magnitude_masks(model, 0.8, scope="global"))
    assert 0.79 < sparsity(model) < 0.81
    pruned_file = tmp_path / "pruned.nnlib"
    save_model(model, pruned_file)
    assert abs(os.path.getsize(pruned_file) - os.path.getsize(dense_file)) < 64   # zeros take room
    dense_kernel_bytes = sum(layer.kernel.data.nbytes + layer.bias.data.nbytes for layer in model.layers)
    assert sparse_bytes(model) < 0.6 * dense_kernel_bytes


def test_keep_pruned_holds_the_zeros_through_fine_tuning():
    model = _model()
    masks = magnitude_masks(model, 0.7, scope="layer", layers=["h1", "h2"])
    apply_masks(model, masks)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype(np.float32), rng.integers(0, 3, 64)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[KeepPruned(masks)])
    for name in ("h1", "h2"):
        kernel = {layer.name: layer for layer in model.layers}[name].kernel.data
        assert np.all(kernel[~masks[name]] == 0)
    unpinned = _model()
    apply_masks(unpinned, masks)
    unpinned.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    unpinned.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.any(unpinned.layers[0].kernel.data[~masks["h1"]] != 0)   # without the callback they regrow


def _torch_distillation(s, t, targets, T, alpha):
    soft = torch.nn.functional.kl_div(torch.log_softmax(s / T, -1), torch.softmax(t.detach() / T, -1),
                                      reduction="batchmean") * (T * T)
    return alpha * soft + (1 - alpha) * torch.nn.functional.cross_entropy(s, targets)


@pytest.mark.parametrize("T, alpha", [(1.0, 0.5), (4.0, 0.9), (2.0, 1.0)])
def test_distillation_loss_equals_torch(T, alpha):
    targets = np.array([0, 2, 1, 1, 0])
    check_parity(lambda s, t: distillation_loss(s, t.data, targets, temperature=T, alpha=alpha),
                 lambda s, t: _torch_distillation(s, t, torch.tensor(targets), T, alpha),
                 shapes=[(5, 3), (5, 3)], grad=True)


def test_mistakes_get_clear_errors():
    model = _model()
    with pytest.raises(ValueError, match="amount"):
        magnitude_masks(model, 1.0)
    with pytest.raises(ValueError, match="scope"):
        magnitude_masks(model, 0.5, scope="model")
    with pytest.raises(ValueError, match="no Dense layer named"):
        magnitude_masks(model, 0.5, layers=["nope"])
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(np.zeros((2, 3)), np.zeros((2, 3)), [0, 1], temperature=0)
    with pytest.raises(ValueError, match="targets are needed"):
        distillation_loss(np.zeros((2, 3)), np.zeros((2, 3)), None, alpha=0.5)
    with pytest.raises(ValueError, match="differ in shape"):
        distillation_loss(np.zeros((2, 3)), np.zeros((2, 4)), [0, 1])


def test_shrink_folds_removed_units_through_batch_norm_and_dropout():
    from nnlib.datasets import data_path
    from nnlib.models import load_model

    model = load_model(data_path("checkpoints/digits_0to4.nnlib"))   # Dense, BatchNorm, Dense, Dropout, Dense
    apply_masks(model, magnitude_masks(model, 0.6, structured=True, layers=["hidden1", "hidden2"]))
    small = shrink(model)
    assert [type(layer).__name__ for layer in small.layers] == [type(layer).__name__ for layer in model.layers]
    assert small.layers[0].units == 51 and small.layers[2].units == 26
    x = np.random.default_rng(0).random((16, 64)).astype(np.float32)
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
