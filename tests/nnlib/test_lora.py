"""Chapter 13: LoRA adapters -- parity with a torch reference, freezing, counting, merging."""
import math

import numpy as np
import pytest
import torch

import nnlib
from nnlib.gpt import GPT, GPTConfig
from nnlib.layers import Dense, SelfAttention
from nnlib.lora import (LoRADense, apply_lora, load_lora_state_dict, lora_layers, lora_parameters,
                        lora_state_dict, merge_lora, trainable_parameter_count)
from nnlib.optim import AdamW
from tests.parity import check_parity

TINY = dict(vocab_size=11, context_length=8, d_model=16, n_heads=2, n_layers=2)



def _gpt(seed=0):
    nnlib.manual_seed(seed)
    return GPT(GPTConfig(**TINY))


def _ids(shape, seed=0):
    return np.random.default_rng(seed).integers(0, TINY["vocab_size"], size=shape)


def test_lora_dense_matches_torch_reference():
    nnlib.manual_seed(0)
    layer = LoRADense(Dense(5, input_shape=(4,)), rank=2, alpha=6.0)
    assert layer.scaling == 3.0

    def ours(x, w, b, a, bb):
        layer.base.kernel, layer.base.bias, layer.lora_A, layer.lora_B = w, b, a, bb
        return layer(x)

    def theirs(x, w, b, a, bb):
        return x @ w + b + 3.0 * (x @ a) @ bb
    check_parity(ours, theirs, shapes=[(3, 6, 4), (4, 5), (5,), (4, 2), (2, 5)])


@pytest.mark.parametrize("frozen", [True, False])
def test_fused_lora_with_dropout_equals_the_composed_formula(frozen):
    """One graph node, same values and gradients as composing Tensor operations (dropout included)."""
    nnlib.manual_seed(0)
    base = Dense(6, input_shape=(5,), dtype="float64")
    layer = LoRADense(base, rank=3, alpha=6.0, dropout=0.5)
    layer.lora_B.data = np.random.default_rng(1).standard_normal((3, 6))
    for p in (base.kernel, base.bias):
        p.requires_grad = not frozen
    x0 = np.random.default_rng(2).standard_normal((2, 4, 5))
    g = np.random.default_rng(3).standard_normal((2, 4, 6))
    results = []
    for fused in (True, False):
        params = [layer.lora_A, layer.lora_B] + ([] if frozen else [base.kernel, base.bias])
        for p in params:
            p.grad = None
        x = nnlib.Tensor(x0, requires_grad=True)
        nnlib.manual_seed(7)
        if fused:
            out = layer(x)
        else:
            h = nnlib.functional.dropout(x, 0.5, True)
            out = x @ base.kernel + base.bias + (h @ layer.lora_A * layer.scaling) @ layer.lora_B
        out.backward(g)
        results.append([out.data, x.grad] + [p.grad for p in params])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert (base.kernel.grad is None) == frozen


def test_lora_dense_initialization_and_activation():
    nnlib.manual_seed(1)
    base = Dense(300, input_shape=(64,), activation="relu")
    layer = LoRADense(base, rank=8, alpha=16)
    bound = 1.0 / math.sqrt(64)  # torch's kaiming_uniform_(a=sqrt(5)) on a (rank, in) weight
    reference = torch.empty(8, 64)
    torch.nn.init.kaiming_uniform_(reference, a=math.sqrt(5))
    assert abs(float(reference.abs().max()) - bound) < 0.01
    assert layer.lora_A.shape == (64, 8) and np.abs(layer.lora_A.data).max() <= bound
    assert np.abs(layer.lora_A.data).max() > 0.95 * bound
    assert np.all(layer.lora_B.data == 0)
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).data, base(x).data)  # B = 0: starts as the base layer
    layer.lora_B.data[:] = 0.1
    assert np.all(layer(x).data >= 0)  # the activation comes after the low-rank update
    with pytest.raises(TypeError, match="Dense"):
        LoRADense("not a layer")
    with pytest.raises(ValueError, match="rank"):
        LoRADense(base, rank=0)


def test_apply_lora_freezes_the_base_and_counts():
    model = _gpt()
    ids = _ids((2, 8))
    SelfAttention.fuse_projections = False  # LoRA layers run the projections one by one
    try:
        before = model(ids).data
    finally:
        SelfAttention.fuse_projections = True
    total = model.num_parameters()
    apply_lora(model, rank=4, alpha=8, targets=("q", "v"), seed=0)
    names = [n for n, _ in lora_layers(model)]
    assert names == ["blocks.0.attn.q_proj", "blocks.0.attn.v_proj", "blocks.1.attn.q_proj", "blocks.1.attn.v_proj"]
    count = trainable_parameter_count(model)
    assert count.trainable == 4 * (16 * 4 + 4 * 16)
    assert count.total == total + count.trainable
    assert "trainable params: 512" in str(count)
    assert all(not p.requires_grad for n, p in model.named_parameters() if "lora_" not in n)
    np.testing.assert_array_equal(model(ids).data, before)


def test_only_adapters_train_then_merge_gives_the_same_outputs():
    model = _gpt(seed=1)
    apply_lora(model, rank=4, alpha=8, targets=("q", "k", "v", "out", "mlp_*"), seed=1)
    frozen = {n: p.data.copy() for n, p in model.named_parameters() if "lora_" not in n}
    opt = AdamW(lora_parameters(model), lr=1e-2)
    x, y = _ids((4, 8), seed=2), _ids((4, 8), seed=3)
    losses = []
    for _ in range(15):
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1
    for n, p in model.named_parameters():
        if "lora_" not in n:
            np.testing.assert_array_equal(p.data, frozen[n], err_msg=n)
            assert p.grad is None, f"{n} is frozen and must get no gradient"
    adapted = model(x).data
    tokens = model.generate([1, 2], 12, temperature=0)
    merge_lora(model)
    assert not lora_layers(model)
    assert type(model.blocks[0].attn.q_proj) is Dense
    np.testing.assert_allclose(model(x).data, adapted, atol=1e-5)
    np.testing.assert_array_equal(model.generate([1, 2], 12, temperature=0), tokens)
    assert all(p.requires_grad for p in model.parameters())  # flags restored
    assert trainable_parameter_count(model).total == _gpt().num_parameters()
    with pytest.raises(ValueError, match="no LoRA adapters"):
        merge_lora(model)


def test_targets_patterns_and_errors():
    model = _gpt()
    apply_lora(model, rank=2, targets="blocks.1.*")
    assert [n for n, _ in lora_layers(model)] == [
        "blocks.1.attn.q_proj", "blocks.1.attn.k_proj", "blocks.1.attn.v_proj", "blocks.1.attn.out_proj",
        "blocks.1.mlp_in", "blocks.1.mlp_out"]
    with pytest.raises(ValueError, match="no Dense layer matches.*q_proj"):
        apply_lora(_gpt(), targets=("query",))


def test_adapter_state_round_trip_and_save_guard(tmp_path):
    model = _gpt(seed=2)
    apply_lora(model, rank=2, seed=3)
    for p in lora_parameters(model):
        p.data += 0.5
    state = lora_state_dict(model)
    assert sorted(state) == sorted(f"blocks.{i}.attn.{w}_proj.lora_{m}" for i in range(2) for w in "qv" for m in "AB")
    other = _gpt(seed=2)
    apply_lora(other, rank=2, seed=4)
    load_lora_state_dict(other, state)
    x = _ids((1, 8))
    np.testing.assert_array_equal(other(x).data, model(x).data)
    with pytest.raises(KeyError, match="missing adapter weights"):
        load_lora_state_dict(other, {})
    with pytest.raises(ValueError, match="merge_lora"):
        model.save(tmp_path / "m.nnlib")
    merge_lora(model)
    loaded = GPT.load(model.save(tmp_path / "m.nnlib"))
    np.testing.assert_array_equal(loaded(x).data, model(x).data)
