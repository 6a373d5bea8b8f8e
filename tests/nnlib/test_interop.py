"""Chapter 15: nnlib.interop carries models to PyTorch and back with the same weights and numbers."""
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnlib
from nnlib import functional as F
from nnlib.corpus import sample_batch
from nnlib.gpt import GPT, GPTConfig
from nnlib.interop import from_torch, to_torch
from nnlib.layers import BatchNormalization, Dense, Dropout
from nnlib.models import Sequential
from nnlib.optim import Adam, AdamW

from tests.parity import check_parity


def _mlp(seed=0, bn=True, dropout=0.0):
    nnlib.manual_seed(seed)
    layers = [Dense(16, activation="relu", input_shape=(6,), name="h1")]
    if bn:
        layers.append(BatchNormalization(name="bn"))
    layers += [Dense(12, activation="tanh", name="h2"), Dropout(dropout, name="drop"), Dense(3, name="out")]
    return Sequential(layers)


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, size=n)


def test_import_nnlib_does_not_import_torch():
    code = ("import sys, nnlib, nnlib.interop, nnlib.models; "
            "assert 'torch' not in sys.modules and 'nnlib.interop_modules' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_to_torch_builds_the_modules_of_interop_modules_and_exact_gelu_matches():
    from nnlib import interop_modules as tm
    nnlib.manual_seed(0)
    model = Sequential([Dense(5, activation="gelu", input_shape=(4,), name="g"), Dense(2, name="out")])
    module = to_torch(model)
    assert isinstance(module, tm.TorchSequential) and isinstance(module.layers[0], tm.Dense)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32) * 3
    with torch.no_grad():
        ref = module(torch.tensor(x)).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bn", [False, True])
def test_mlp_same_outputs_both_modes(bn):
    model = _mlp(bn=bn, dropout=0.3)
    x, _ = _data()
    model.eval()
    tm = to_torch(model)
    assert not tm.training
    np.testing.assert_allclose(model(x).data, tm(torch.from_numpy(x)).detach().numpy(), atol=1e-5)
    if bn:  # a training-mode pass uses batch statistics and moves the moving averages the same way
        model2, x2 = _mlp(bn=True), x
        model2.train()
        tm2 = to_torch(model2)
        np.testing.assert_allclose(model2(x2).data, tm2(torch.from_numpy(x2)).detach().numpy(), atol=1e-5)
        np.testing.assert_allclose(model2.layers[1].moving_variance, tm2.layers[1].running_var.numpy(), atol=1e-6)


@pytest.mark.parametrize("training", [False, True])
def test_mlp_values_and_input_gradients_through_tests_parity(training):
    model = _mlp(seed=3)
    model.train(training)
    tm = to_torch(model)
    check_parity(lambda x: model(x), torch_fn=lambda x: tm(x), shapes=[(24, 6)], dtype=np.float32)


def test_mlp_twenty_adam_steps_and_back():
    model = _mlp(seed=1)
    model.train()
    tm = to_torch(model)
    x, y = _data(seed=2)
    opt = Adam(model.parameters(), lr=1e-2)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-2)
    for step in range(20):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = TF.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert abs(loss.item() - tloss.item()) < 1e-4, (step, loss.item(), tloss.item())
    back = from_torch(tm, like=_mlp(seed=5))
    for a, b in zip(model.get_weights(), back.get_weights()):  # includes the BN moving statistics
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_frozen_layers_and_frozen_batchnorm():
    model = _mlp()
    model.layers[0].trainable = False
    model.layers[1].trainable = False
    model.train()
    tm = to_torch(model)
    assert [p.requires_grad for p in tm.parameters()][:4] == [False] * 4
    x, _ = _data()
    before = tm.layers[1].running_mean.clone()
    np.testing.assert_allclose(model(x).data, tm(torch.from_numpy(x)).detach().numpy(), atol=1e-5)
    assert torch.equal(before, tm.layers[1].running_mean)  # a frozen BN runs in inference mode, as in nnlib


def _gpt(seed=0, **kw):
    nnlib.manual_seed(seed)
    return GPT(GPTConfig(**{**dict(vocab_size=13, context_length=8, d_model=16, n_heads=2, n_layers=2), **kw}))


@pytest.mark.parametrize("tie", [True, False])
def test_gpt_logits_and_parameter_count(tie):
    model = _gpt(tie_weights=tie)
    tm = to_torch(model)
    ids = np.random.default_rng(0).integers(0, 13, size=(3, 8))
    np.testing.assert_allclose(model(ids).data, tm(torch.from_numpy(ids)).detach().numpy(), atol=2e-5, rtol=1e-4)
    assert model.num_parameters() == sum(p.numel() for p in tm.parameters())


def test_gpt_twenty_adamw_steps_and_back():
    model = _gpt(seed=1)
    tm = to_torch(model)
    opt = AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    topt = torch.optim.AdamW(tm.parameters(), lr=3e-3, weight_decay=0.1)
    tokens = np.random.default_rng(2).integers(0, 13, size=400)
    rng = np.random.default_rng(3)
    for step in range(20):
        x, y = sample_batch(tokens, 4, 8, rng)
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = tm.loss(torch.from_numpy(x), torch.from_numpy(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert abs(loss.item() - tloss.item()) < 1e-4, (step, loss.item(), tloss.item())
    back = from_torch(tm)  # a new GPT of the module's config
    ids = np.random.default_rng(4).integers(0, 13, size=(2, 8))
    np.testing.assert_allclose(back(ids).data, model(ids).data, atol=1e-4)
    for (name, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
        np.testing.assert_allclose(p.data, q.data, atol=1e-4, err_msg=name)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="not built"):
        to_torch(Sequential([Dense(3)]))
    with pytest.raises(TypeError, match="Sequential and GPT"):
        to_torch(nnlib.Module())
    with pytest.raises(ValueError, match="like="):
        from_torch(to_torch(_mlp()))
    with pytest.raises(ValueError, match="layers"):
        from_torch(to_torch(_mlp(bn=False)), like=_mlp(bn=True))
