"""Chapter 14: export -- safetensors (checked with the safetensors package) and ONNX (checked by onnx.checker,
run by onnxruntime, compared with nnlib's own forward pass)."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import nnlib
from nnlib.datasets import data_path
from nnlib.export import load_safetensors, onnx_session, run_onnx, save_onnx, save_safetensors, to_onnx
from nnlib.gpt import GPT
from nnlib.saving.files import ModelFileError
from nnlib.layers import Activation, Dense, Dropout, Flatten
from nnlib.layers.sequence import LayerNorm
from nnlib.models import Sequential
from nnlib.quantize import quantize_model

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
stn = pytest.importorskip("safetensors.numpy")

TINY = dict(vocab_size=13, context_length=8, d_model=16, n_heads=2, n_layers=2)


def _close(got, ref, tol=1e-4):
    """Equal within float32 rounding: |got - ref| < tol * (1 + |ref|)."""
    assert got.shape == ref.shape and got.dtype == ref.dtype
    assert (np.abs(got - ref) <= tol * (1 + np.abs(ref))).all(), np.abs(got - ref).max()


# ---------------------------------------------------------------------- safetensors
def test_safetensors_bit_for_bit_with_the_package(tmp_path):
    nnlib.manual_seed(0)
    model = Sequential([Dense(7, activation="relu", input_shape=(5,)), Dense(2)])
    path = save_safetensors(model, tmp_path / "m.safetensors", metadata={"format": "nnlib"})
    theirs = stn.load_file(path)
    ours = model.state_dict()
    assert sorted(theirs) == sorted(ours)
    for k in ours:
        assert theirs[k].dtype == ours[k].dtype and theirs[k].tobytes() == ours[k].tobytes()
    back, meta = load_safetensors(path)
    assert meta == {"format": "nnlib"} and all(back[k].tobytes() == ours[k].tobytes() for k in ours)
    n = struct.unpack("<Q", open(path, "rb").read(8))[0]
    assert n % 8 == 0  # header padded


def test_safetensors_reads_the_packages_files_and_many_dtypes(tmp_path):
    arrays = {"f64": np.linspace(0, 1, 6).reshape(2, 3), "i8": np.arange(-3, 3, dtype=np.int8),
              "u8": np.arange(4, dtype=np.uint8), "b": np.array([True, False]), "i64": np.array(7),
              "f16": np.ones((1, 2), np.float16), "empty": np.zeros((0, 3), np.float32)}
    stn.save_file(arrays, str(tmp_path / "theirs.safetensors"))
    back, _ = load_safetensors(tmp_path / "theirs.safetensors")
    save_safetensors(arrays, tmp_path / "ours.safetensors")
    again = stn.load_file(str(tmp_path / "ours.safetensors"))
    for k, v in arrays.items():
        for got in (back[k], again[k]):
            assert got.dtype == v.dtype and got.shape == v.shape and np.array_equal(got, v)


def test_safetensors_quantized_and_gpt_state(tmp_path):
    nnlib.manual_seed(0)
    q = quantize_model(GPT(**TINY))
    path = save_safetensors(q, tmp_path / "q.safetensors")
    theirs = stn.load_file(path)
    assert theirs["blocks.0.mlp_in.kernel_q"].dtype == np.int8
    assert all(np.array_equal(theirs[k], v) for k, v in q.state_dict().items())


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:4], "too short"),
    (lambda b: struct.pack("<Q", 10 ** 9) + b[8:], "header length"),
    (lambda b: b[:8] + b"x" + b[9:], "not valid JSON"),
    (lambda b: b[:-1], "truncated"),
    (lambda b: b + b"\0" * 4, "after the last tensor"),
])
def test_safetensors_damaged_files_are_refused(tmp_path, damage, message):
    path = save_safetensors({"a": np.ones(3, np.float32), "b": np.zeros(2, np.int64)}, tmp_path / "x.safetensors")
    raw = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(damage(raw))
    with pytest.raises(ModelFileError, match=message):
        load_safetensors(path)


def test_safetensors_overlapping_ranges_refused(tmp_path):
    header = json.dumps({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                         "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "o.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(ModelFileError, match="overlap"):
        load_safetensors(path)


def test_missing_optional_package_is_a_clear_error():
    from nnlib.export import _require
    with pytest.raises(ImportError, match="pip install onnx onnxruntime"):
        _require("onnx_not_installed_anywhere")


# ---------------------------------------------------------------------- ONNX: Sequential
@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "gelu", "softmax", "leaky_relu", "linear"])
def test_onnx_mlp_activations(act):
    nnlib.manual_seed(1)
    model = Sequential([Dense(12, activation=act, input_shape=(5,)), Dropout(0.5), Dense(4, activation=act)])
    x = np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32)
    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    _close(run_onnx(proto, x), model.predict(x, verbose=0))
    _close(run_onnx(proto, x[:1]), model.predict(x[:1], verbose=0))  # the batch axis is dynamic


def test_onnx_flatten_activation_layernorm_and_quantized(tmp_path):
    nnlib.manual_seed(2)
    model = Sequential([Flatten(input_shape=(3, 4)), Dense(8), Activation("gelu"), LayerNorm(8), Dense(2)])
    x = np.random.default_rng(0).normal(size=(6, 3, 4)).astype(np.float32)
    proto = to_onnx(model)
    _close(run_onnx(proto, x), model.predict(x, verbose=0))
    q = quantize_model(model)
    qproto = to_onnx(q)
    assert "DequantizeLinear" in {n.op_type for n in qproto.graph.node}
    _close(run_onnx(qproto, x), q.predict(x, verbose=0))
    path = save_onnx(q, tmp_path / "q.onnx")
    _close(run_onnx(path, x), q.predict(x, verbose=0))


def test_onnx_refuses_what_it_cannot_translate():
    class Odd(Dense):
        pass
    with pytest.raises(NotImplementedError, match="Odd"):
        to_onnx(Sequential([Odd(2, input_shape=(3,))]))
    with pytest.raises(ValueError, match="build the model"):
        to_onnx(Sequential([Dense(2)]))
    with pytest.raises(TypeError, match="Sequential or a GPT"):
        to_onnx(object())
    with pytest.raises(ValueError, match="optimize"):
        onnx_session(b"", optimize="max")


# ---------------------------------------------------------------------- ONNX: GPT
def test_onnx_tiny_gpt_dynamic_and_fixed_length():
    nnlib.manual_seed(3)
    gpt = GPT(**TINY)
    ids = np.random.default_rng(0).integers(0, 13, size=(3, 8))
    proto = to_onnx(gpt)
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Gather", "LayerNormalization", "Softmax", "Tanh", "MatMul", "Transpose"} <= ops
    session = onnx_session(proto)
    for t in (1, 5, 8):
        _close(run_onnx(session, ids[:, :t]), gpt(ids[:, :t]).data)
    fixed = to_onnx(gpt, seq_len=5)
    assert fixed.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 5
    _close(run_onnx(fixed, ids[:, :5]), gpt(ids[:, :5]).data)
    with pytest.raises(ValueError, match="seq_len"):
        to_onnx(gpt, seq_len=9)


def test_onnx_untied_and_quantized_gpt():
    nnlib.manual_seed(4)
    gpt = GPT(**TINY, tie_weights=False)
    ids = np.random.default_rng(1).integers(0, 13, size=(2, 6))
    _close(run_onnx(to_onnx(gpt), ids), gpt(ids).data)
    q = quantize_model(gpt)
    _close(run_onnx(to_onnx(q), ids), q(ids).data)


def test_onnx_shipped_checkpoint():
    gpt = GPT.load(data_path("checkpoints/gpt_char.nnlib"))
    ids = np.asarray(gpt.tokenizer.encode("The Python tutorial explains how to define a function. ")[:48])[None]
    proto = to_onnx(gpt)
    _close(run_onnx(proto, ids), gpt(ids).data)
    # the tied head: the embedding table is stored once and transposed in the graph
    assert sum(1 for i in proto.graph.initializer if i.name == "wte.embeddings") == 1
    # int8 codes make the ONNX file about 3.5x smaller
    qproto = to_onnx(quantize_model(gpt))
    assert len(qproto.SerializeToString()) < 0.35 * len(proto.SerializeToString())
