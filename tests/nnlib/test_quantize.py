"""Chapter 14: int8 weight-only quantization (nnlib.quantize) -- codes, scales, layers, models, files."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import nnlib
from nnlib.gpt import GPT
from nnlib.saving.files import ModelFileError
from nnlib.layers import Dense
from nnlib.models import Sequential, load_model
from nnlib.quantize import (QuantizedDense, QuantizedGPT, dequantize, quantize_model, quantize_per_channel,
                            quantized_layers, weight_bytes)
from tests.parity import check_parity

TINY = dict(vocab_size=13, context_length=8, d_model=16, n_heads=2, n_layers=2)


def _mlp(seed=0, n_in=6):
    nnlib.manual_seed(seed)
    return Sequential([Dense(16, activation="relu", input_shape=(n_in,)), Dense(8, activation="tanh"),
                       Dense(3, activation="softmax")])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 10_000))
def test_per_channel_codes_and_error_bound(n_in, n_out, seed):
    w = np.random.default_rng(seed).normal(size=(n_in, n_out)).astype(np.float32)
    q, s = quantize_per_channel(w, axis=1)
    assert q.dtype == np.int8 and s.dtype == np.float32 and s.shape == (n_out,)
    assert np.abs(q).max() <= 127 and (np.abs(q).max(axis=0) == 127).all()  # each column uses the full range
    assert (np.abs(dequantize(q, s, axis=1) - w) <= s / 2 * (1 + 1e-5)).all()


@pytest.mark.filterwarnings("ignore:.*quantize_per_channel.*deprecated:UserWarning")
def test_matches_torch_quantize_per_channel():
    w = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    q, s = quantize_per_channel(w, axis=1)
    tq = torch.quantize_per_channel(torch.tensor(w), torch.tensor(s, dtype=torch.float64),
                                    torch.zeros(5, dtype=torch.int64), axis=1, dtype=torch.qint8)
    np.testing.assert_array_equal(tq.int_repr().numpy(), q)
    np.testing.assert_array_equal(tq.dequantize().numpy(), dequantize(q, s, axis=1))


def test_zero_channel_and_bad_input():
    w = np.zeros((3, 2), np.float32)
    w[:, 1] = [1.0, -2.0, 0.5]
    q, s = quantize_per_channel(w)
    assert s[0] == 1.0 and (q[:, 0] == 0).all() and q[1, 1] == -127
    with pytest.raises(ValueError, match="NaN"):
        quantize_per_channel(np.array([[np.nan]], np.float32))
    with pytest.raises(TypeError, match="float"):
        quantize_per_channel(np.ones((2, 2), np.int64))


def test_quantized_dense_against_torch():
    nnlib.manual_seed(0)
    dense = Dense(5, input_shape=(4,))
    layer = QuantizedDense.from_dense(dense)
    w = torch.tensor(layer.dequantized_kernel())
    b = torch.tensor(layer.bias.data)
    check_parity(lambda x: layer(x) if isinstance(x, nnlib.Tensor) else TF.linear(x, w.T, b),
                 shapes=[(3, 4)], dtype=np.float32)
    assert np.abs(layer.dequantized_kernel() - dense.kernel.data).max() <= layer.kernel_scale.max() / 2 + 1e-7
    with pytest.raises(ValueError, match="4 features"):
        layer(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="built Dense"):
        QuantizedDense.from_dense(Dense(3))


def test_quantize_sequential_copy_size_accuracy_and_file(tmp_path):
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    x = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    qmodel = quantize_model(model)
    assert quantized_layers(qmodel) == ["layers.0", "layers.1", "layers.2"]
    assert all(type(layer) is Dense for layer in model.layers)  # the original is untouched
    assert not qmodel.compiled
    ref, got = model.predict(x, verbose=0), qmodel.predict(x, verbose=0)
    assert np.abs(ref - got).max() < 0.02
    assert (ref.argmax(1) == got.argmax(1)).mean() > 0.9
    # kernels shrink 4x, biases and scales stay float: 4*(16+16+8+8+3+3) bytes of float32 remain
    assert weight_bytes(qmodel) == 6 * 16 + 16 * 8 + 8 * 3 + 4 * 2 * (16 + 8 + 3)
    path = tmp_path / "q.nnlib"
    qmodel.save(path)
    back = load_model(path)
    assert type(back.layers[0]) is QuantizedDense and back.layers[0].kernel_q.dtype == np.int8
    np.testing.assert_array_equal(back.predict(x, verbose=0), got)
    nnlib.manual_seed(0)
    big = Sequential([Dense(64, activation="relu", input_shape=(30,)), Dense(64, activation="relu"), Dense(1)])
    big.save(tmp_path / "f.nnlib")
    quantize_model(big).save(tmp_path / "f8.nnlib")
    assert os.path.getsize(tmp_path / "f8.nnlib") < 0.5 * os.path.getsize(tmp_path / "f.nnlib")


def test_quantize_gpt_and_file(tmp_path):
    nnlib.manual_seed(0)
    gpt = GPT(**TINY)
    qgpt = quantize_model(gpt)
    names = quantized_layers(qgpt)
    assert len(names) == 2 * 6 and "blocks.0.attn.q_proj" in names and "blocks.1.mlp_out" in names
    ids = np.random.default_rng(0).integers(0, 13, size=(2, 8))
    assert np.abs(qgpt(ids).data - gpt(ids).data).max() < 0.05
    path = qgpt.save(tmp_path / "g.nnlib")
    back = load_model(path)
    np.testing.assert_array_equal(back(ids).data, qgpt(ids).data)
    np.testing.assert_array_equal(back.generate(ids[0, :3], 5, seed=1), qgpt.generate(ids[0, :3], 5, seed=1))
    # one format: load_model reads it back as a QuantizedGPT (a GPT whose projections are int8)
    again = load_model(path)
    assert type(again) is QuantizedGPT and isinstance(again, GPT)
    np.testing.assert_array_equal(again(ids).data, qgpt(ids).data)
    assert quantized_layers(again) == names
    # the sizes in the config are checked against the file's arrays before anything is built
    import zipfile, json
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    cfg = json.loads(members["config.json"])
    cfg["config"]["vocab_size"] = 1_000_000
    members["config.json"] = json.dumps(cfg).encode()
    forged = tmp_path / "forged.nnlib"
    with zipfile.ZipFile(forged, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    with pytest.raises(ModelFileError, match="wte.embeddings"):
        load_model(forged)


def test_quantized_shipped_gpt_keeps_its_loss():
    from nnlib.datasets import data_path
    gpt = GPT.load(data_path("checkpoints/gpt_char.nnlib"))
    text = open(data_path("corpus/valid.txt"), encoding="utf-8").read()[:20_000]
    ids = np.asarray(gpt.tokenizer.encode(text))
    base = gpt.evaluate_loss(ids, max_windows=16)
    quant = quantize_model(gpt).evaluate_loss(ids, max_windows=16)
    assert abs(quant - base) < 0.02, (base, quant)
    assert weight_bytes(quantize_model(gpt)) < 0.3 * weight_bytes(gpt)


def test_exclude_keeps_layers_in_float(tmp_path):
    model = _mlp()
    q = quantize_model(model, exclude=[model.layers[0].name])
    assert [type(layer).__name__ for layer in q.layers] == ["Dense", "QuantizedDense", "QuantizedDense"]
    assert quantized_layers(quantize_model(model, exclude="layers.2")) == ["layers.0", "layers.1"]
    nnlib.manual_seed(0)
    gpt = GPT(**TINY)
    qg = quantize_model(gpt, exclude=["blocks.0.mlp_in", "block1_attn_q"])
    assert len(quantized_layers(qg)) == 10 and "blocks.0.mlp_in" not in quantized_layers(qg)
    back = load_model(qg.save(tmp_path / "p.nnlib"))
    assert quantized_layers(back) == quantized_layers(qg)
    ids = np.arange(8)[None] % 13
    np.testing.assert_array_equal(back(ids).data, qg(ids).data)


def test_lora_and_unbuilt_refused():
    with pytest.raises(ValueError, match="build the model"):
        quantize_model(Sequential([Dense(3)]))
