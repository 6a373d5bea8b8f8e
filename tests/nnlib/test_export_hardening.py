"""Chapter 14 (issue 17, "Exports and loaders"): exporters and loaders as strict as the model loader.

* ``to_onnx`` refuses un-merged LoRA adapters and bad arguments;
* every writer (one ``nnlib.saving.files.atomic_write``) keeps an existing file's mode, refuses a
  non-regular target and takes a long legal file name;
* ``load_safetensors`` is hardened like ``load_model`` (regular files only, bounded
  header, strict entries, ``ModelFileError`` naming the path), with a fuzz test;
* ``load_model`` checks every allocating layer kind before it allocates;
* ``GPT.generate``/``sample_next``, the conv layers' int tuples and ``quantize_model``
  validate their arguments.
"""
from __future__ import annotations

import json
import os
import stat
import struct
import threading
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnlib
import nnlib.gpt
import nnlib.saving.files as files_mod
from nnlib.export import load_safetensors, run_onnx, save_onnx, save_safetensors, to_onnx
from nnlib.gpt import GPT
from nnlib.sampling import sample_next
from nnlib.saving.archive import save_archive
from nnlib.saving.files import ModelFileError
from nnlib.layers import (BatchNormalization, Conv1D, Conv2D, Conv2DTranspose, Dense, Flatten, MaxPooling2D, registered_layers)
from nnlib.layers.sequence import Embedding, LayerNorm, SelfAttention, TransformerBlock
from nnlib.lora import apply_lora, lora_layers, merge_lora
from nnlib.models import Sequential, load_model, save_model
from nnlib.quantize import quantize_model
from nnlib.text import CharTokenizer
from tests.nnlib.saving.hostile import config_of, refused, repack, small_gpt, small_sequential

TINY = dict(vocab_size=13, context_length=8, d_model=16, n_heads=2, n_layers=2)


# ---------------------------------------------------------------------- to_onnx
def _lora_gpt():
    nnlib.manual_seed(0)
    gpt = GPT(**TINY)
    apply_lora(gpt, rank=2)
    rng = np.random.default_rng(1)
    for _, layer in lora_layers(gpt):  # non-zero adapters, so that leaving them out changes the logits
        layer.lora_B.data = rng.standard_normal(layer.lora_B.shape).astype(np.float32)
    return gpt


def test_to_onnx_refuses_unmerged_lora_and_exports_the_merged_model(tmp_path):
    gpt = _lora_gpt()
    for export in (lambda: to_onnx(gpt), lambda: to_onnx(gpt, seq_len=4), lambda: save_onnx(gpt, tmp_path / "g.onnx")):
        with pytest.raises(ValueError, match="merge_lora"):
            export()
    assert not (tmp_path / "g.onnx").exists()
    ids = np.array([[1, 2, 3, 4]], np.int64)
    with nnlib.no_grad():
        expected = gpt(ids).data
    merged = merge_lora(gpt)
    got = run_onnx(to_onnx(merged), ids)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seq_len, error", [
    (2.5, TypeError), (4.0, TypeError), ("4", TypeError), (True, TypeError), (0, ValueError), (-1, ValueError),
    (9, ValueError),  # context_length is 8
])
def test_to_onnx_refuses_a_bad_seq_len(seq_len, error):
    nnlib.manual_seed(0)
    with pytest.raises(error, match="seq_len"):
        to_onnx(GPT(**TINY), seq_len=seq_len)


def test_to_onnx_refuses_other_bad_arguments(tmp_path):
    nnlib.manual_seed(0)
    seq = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="seq_len is for a GPT"):
        to_onnx(seq, seq_len=2)
    for bad in (np.zeros(3), "model.nnlib", None):
        with pytest.raises(TypeError, match="expected a Sequential or a GPT"):
            to_onnx(bad)
    with pytest.raises(ValueError, match="seq_len"):
        save_onnx(to_onnx(seq), tmp_path / "s.onnx", seq_len=3)
    assert to_onnx(GPT(**TINY), seq_len=np.int64(4)).graph.input[0].type.tensor_type.shape.dim[1].dim_value == 4


# ---------------------------------------------------------------------- atomic writes, every writer
def _writers():
    nnlib.manual_seed(0)
    seq = Sequential([Dense(2, input_shape=(3,))])
    tok = CharTokenizer(list("abc"))
    return {
        "save_model": lambda p: save_model(seq, p),
        "save_archive": lambda p: save_archive(p, {}, {"w": np.ones(2)}),
        "save_safetensors": lambda p: save_safetensors({"w": np.ones(2, np.float32)}, p),
        "save_onnx": lambda p: save_onnx(seq, p),
        "tokenizer.save": lambda p: tok.save(p),
    }


WRITERS = sorted(_writers())


def _leftovers(folder) -> list:
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444])
def test_overwriting_keeps_the_file_mode(tmp_path, writer, mode):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    os.chmod(path, mode)
    _writers()[writer](path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert path.read_bytes() != b"old"
    assert _leftovers(tmp_path) == []


def test_a_new_file_still_gets_the_usual_mode(tmp_path):
    reference = tmp_path / "plain"
    reference.write_bytes(b"x")
    for writer in WRITERS:
        path = tmp_path / f"new-{writer}"
        _writers()[writer](path)
        assert stat.S_IMODE(os.stat(path).st_mode) == stat.S_IMODE(os.stat(reference).st_mode), writer


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("writer", WRITERS)
def test_a_fifo_target_is_refused_not_replaced(tmp_path, writer):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    with pytest.raises(FileExistsError, match="FIFO"):
        _writers()[writer](path)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/dev/null") or os.name == "nt", reason="needs /dev/null and symlinks")
@pytest.mark.parametrize("writer", WRITERS)
def test_a_device_target_is_refused_not_replaced(tmp_path, writer):
    path = tmp_path / "dev"
    os.symlink("/dev/null", path)  # a device node behind a link: mknod needs root
    with pytest.raises(FileExistsError, match="a device"):
        _writers()[writer](path)
    assert os.path.islink(path) and os.readlink(path) == "/dev/null"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("writer", WRITERS)
def test_a_folder_target_is_refused(tmp_path, writer):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="folder"):
        _writers()[writer](tmp_path / "d")
    assert os.path.isdir(tmp_path / "d") and _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["m" * 241 + ".bin", "n" * 255, "é" * 127])  # 245 chars; 255 bytes; 254 bytes
@pytest.mark.parametrize("writer", WRITERS)
def test_a_long_legal_file_name_works(tmp_path, writer, name):
    path = tmp_path / name
    _writers()[writer](path)
    _writers()[writer](path)  # overwriting too
    assert path.is_file() and path.stat().st_size > 0
    assert sorted(os.listdir(tmp_path)) == [name]


def test_a_killed_save_of_a_long_name_is_cleaned_up(tmp_path):
    name = "k" * 250
    base = files_mod._temp_base(name)
    assert len(os.fsencode(f".{base}.4194303.{'0' * 12}.tmp")) <= 255
    leftover = tmp_path / f".{base}.4194303.{'a' * 12}.tmp"  # pid 2**22 - 1: above Linux's usual pid range
    leftover.write_bytes(b"half")
    os.utime(leftover, (time.time() - 60, time.time() - 60))
    if files_mod._pid_alive(4194303):
        pytest.skip("pid 4194303 exists here")
    save_archive(tmp_path / name, {}, {"w": np.ones(2)})
    assert sorted(os.listdir(tmp_path)) == [name]


def test_save_model_reads_back_from_a_long_name(tmp_path):
    model = small_sequential(compiled=False)
    path = tmp_path / ("x" * 240 + ".nnlib")
    model.save(path)
    np.testing.assert_array_equal(load_model(path).layers[0].kernel.data, model.layers[0].kernel.data)


# ---------------------------------------------------------------------- load_safetensors
def _st_file(path, header, data=b"", raw_header=None):
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _st_refused(path, match, **kwargs):
    return refused(path, loader=lambda p: load_safetensors(p, **kwargs), match=match, max_mib=16)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_safetensors_fifo_is_refused_at_once(tmp_path):
    path = tmp_path / "pipe.safetensors"
    os.mkfifo(path)
    outcome = []

    def load():
        try:
            load_safetensors(path)
        except BaseException as exc:  # noqa: BLE001 - looked at below
            outcome.append(exc)
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock it (a writer opens the FIFO), then fail
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        pytest.fail("load_safetensors blocked on a FIFO")
    assert isinstance(outcome[0], ModelFileError) and "FIFO" in str(outcome[0]) and str(path) in str(outcome[0])


def test_safetensors_devices_folders_and_missing_files(tmp_path):
    if os.path.exists("/dev/zero") and os.name != "nt":
        os.symlink("/dev/zero", tmp_path / "zero.safetensors")
        _st_refused(tmp_path / "zero.safetensors", "a device")
    (tmp_path / "d.safetensors").mkdir()
    _st_refused(tmp_path / "d.safetensors", "folder")
    with pytest.raises(FileNotFoundError, match="nope"):
        load_safetensors(tmp_path / "nope.safetensors")


def test_safetensors_file_and_header_sizes_are_bounded(tmp_path):
    path = save_safetensors({"a": np.ones(1000, np.float32)}, tmp_path / "a.safetensors")
    _st_refused(path, "more than the 100 allowed", max_bytes=100)
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as fh:  # a sparse file: a header length past the limit, with the bytes present
        fh.write(struct.pack("<Q", nnlib.export.MAX_HEADER_BYTES + 8))
        fh.truncate(nnlib.export.MAX_HEADER_BYTES + 64)
    _st_refused(big, "header length")


ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("header, match", [
    ({"__metadata__": [1, 2]}, "__metadata__ must be an object"),
    ({"__metadata__": {"a": 1}}, "__metadata__ must be an object of string"),
    ({"__metadata__": "x"}, "__metadata__"),
    ([1, 2], "must be a JSON object"),
    ("text", "must be a JSON object"),
    ({"a": [1, 2]}, "expected an object"),
    ({"a": {**ENTRY, "extra": 1}}, "expected an object"),
    ({"a": {"dtype": "F32", "shape": [2]}}, "expected an object"),
    ({"a": {**ENTRY, "dtype": "F128"}}, "unknown dtype"),
    ({"a": {**ENTRY, "dtype": 5}}, "unknown dtype"),
    ({"a": {**ENTRY, "dtype": "O"}}, "unknown dtype"),
    ({"a": {**ENTRY, "shape": [-2]}}, "shape must be"),
    ({"a": {**ENTRY, "shape": [2.0]}}, "shape must be"),
    ({"a": {**ENTRY, "shape": [True, 2]}}, "shape must be"),
    ({"a": {**ENTRY, "shape": "2"}}, "shape must be"),
    ({"a": {**ENTRY, "shape": [1] * 33}}, "shape must be"),
    ({"a": {**ENTRY, "shape": [2 ** 62]}}, "shape must be"),
    ({"a": {**ENTRY, "shape": [3]}}, "needs 12 bytes"),
    ({"a": {**ENTRY, "shape": [2 ** 40, 2 ** 20]}}, "needs"),
    ({"a": {**ENTRY, "data_offsets": [0]}}, "data_offsets must be"),
    ({"a": {**ENTRY, "data_offsets": [0, 8.0]}}, "data_offsets must be"),
    ({"a": {**ENTRY, "data_offsets": [-8, 0]}}, "data_offsets must be"),
    ({"a": {**ENTRY, "data_offsets": [8, 0]}}, "data_offsets"),
    ({"a": {**ENTRY, "data_offsets": [4, 12]}}, "gap"),
    ({"a": ENTRY, "b": ENTRY}, "overlaps"),
    ({"a": ENTRY, "b": {**ENTRY, "data_offsets": [4, 12]}}, "overlaps"),
    ({"a": {**ENTRY, "shape": [1], "data_offsets": [0, 4]}}, "4 bytes after the last tensor"),
    ({"a": {**ENTRY, "shape": [4], "data_offsets": [0, 16]}}, "truncated"),
    ({"": ENTRY}, "empty name"),
])
def test_safetensors_bad_headers_are_refused(tmp_path, header, match):
    _st_refused(_st_file(tmp_path / "x.safetensors", header, bytes(8)), match)


@pytest.mark.parametrize("raw, match", [
    (b"[" * 100_000, "not valid JSON"),                       # RecursionError in json
    (b"[" * 1_000_000, "lists/objects"),                      # refused before parsing
    (b'{"a": 1, "a": 2}', "repeats the key 'a'"),
    (b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 8]}}', "not valid JSON"),
    (b'{"a": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 8]}}', "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"{", "not valid JSON"),
])
def test_safetensors_bad_json_is_refused(tmp_path, raw, match):
    _st_refused(_st_file(tmp_path / "x.safetensors", None, bytes(8), raw_header=raw), match)


def test_safetensors_short_and_truncated_files(tmp_path):
    (tmp_path / "s.safetensors").write_bytes(b"\x01\x02")
    _st_refused(tmp_path / "s.safetensors", "too short")
    (tmp_path / "t.safetensors").write_bytes(struct.pack("<Q", 50) + b"{}")
    _st_refused(tmp_path / "t.safetensors", "header length")


def test_safetensors_still_round_trips(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([True, False]),
              "c": np.zeros((0, 4), np.int64), "d": np.array(7, np.int8), "e": np.ones(3, ">f8")}
    path = save_safetensors(arrays, tmp_path / "r.safetensors", metadata={"k": "v"})
    got, meta = load_safetensors(path)
    assert meta == {"k": "v"} and sorted(got) == sorted(arrays)
    for k, v in arrays.items():
        assert got[k].shape == v.shape and np.array_equal(got[k], v) and got[k].dtype.isnative


def _valid_file_bytes() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = save_safetensors({"a": np.arange(3, dtype=np.float32), "b": np.array([[1, 2]], np.int64)},
                                os.path.join(folder, "v.safetensors"), metadata={"m": "x"})
        return open(path, "rb").read()


VALID = _valid_file_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, len(VALID)), tail=st.binary(max_size=16))
def test_safetensors_fuzz_damaged_bytes(tmp_path, edits, cut, tail):
    raw = bytearray(VALID)
    for pos, value in edits:
        raw[pos] = value
    path = tmp_path / "f.safetensors"
    path.write_bytes(bytes(raw[:cut]) + tail)
    try:
        arrays, meta = load_safetensors(path)
    except ModelFileError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(meta, dict) and all(isinstance(a, np.ndarray) for a in arrays.values())


_json = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=False)
                     | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                                   max_size=4), max_leaves=20)
_entry = st.fixed_dictionaries({"dtype": st.sampled_from(["F32", "I64", "U8", "BOOL", "F16", "X"]) | _json,
                                "shape": st.lists(st.integers(-2, 4), max_size=3) | _json,
                                "data_offsets": st.lists(st.integers(-4, 40), min_size=2, max_size=2) | _json})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.dictionaries(st.text(max_size=3), _entry | _json, max_size=4), data=st.binary(max_size=40))
def test_safetensors_fuzz_headers(tmp_path, header, data):
    path = _st_file(tmp_path / "h.safetensors", header, data)
    try:
        arrays, meta = load_safetensors(path)
    except ModelFileError as exc:
        assert str(path) in str(exc)
    else:
        assert sum(a.nbytes for a in arrays.values()) == len(data)


# ---------------------------------------------------------------------- load_model: checked before building
def test_compile_settings_in_a_gpt_file_are_refused(tmp_path):
    path = save_model(small_gpt(), tmp_path / "gpt.nnlib")
    compiled = config_of(save_model(small_sequential(), tmp_path / "seq.nnlib"))["compile_config"]
    config = config_of(path)
    config["compile_config"] = compiled
    bad = repack(path, tmp_path / "bad.nnlib", replace={"config.json": json.dumps(config).encode()})
    refused(bad, match="compile settings, but a GPT has no compile")
    refused(bad, loader=lambda p: load_model(p, compile=False), match="compile settings")


def _change_layer(tmp_path, model, index, change, build_input_shape="keep"):
    path = model.save(tmp_path / "m.nnlib") or tmp_path / "m.nnlib"
    config = config_of(path)
    config["config"]["layers"][index]["config"].update(change)
    if build_input_shape != "keep":
        config["build_input_shape"] = build_input_shape
    return repack(path, tmp_path / "bad.nnlib", replace={"config.json": json.dumps(config).encode()})


@pytest.mark.parametrize("index, change", [
    (0, {"input_shape": [16_000_000]}),   # the build_input_shape stays [None, 3]
    (0, {"input_dim": 16_000_000}),
    (1, {"input_shape": [16_000_000]}),   # a later layer's own input_shape
])
def test_a_layers_own_input_shape_is_checked_before_building(tmp_path, index, change):
    model = small_sequential(compiled=False)
    if "input_dim" in change:
        change = {**change, "input_shape": None}
    bad = _change_layer(tmp_path, model, index, change)
    assert config_of(bad)["build_input_shape"] == [None, 3]
    refused(bad, match="weight values", max_mib=8)


def _conv2d():
    return Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), Flatten(), Dense(1)])


def _conv2d_transpose():
    return Sequential([Conv2DTranspose(2, 3, input_shape=(5, 5, 1)), Flatten(), Dense(1)])


def _conv1d():
    return Sequential([Conv1D(2, 3, input_shape=(6, 2)), Flatten(), Dense(1)])


def _quantized():
    return quantize_model(Sequential([Dense(4, input_shape=(3,)), Dense(2)]))


def _embedding():
    model = Sequential([Embedding(10, 4), Dense(2)])
    model.build((None, 5))
    return model


def _seq_model(layer):
    model = Sequential([layer])
    model.build((None, 4, 8))
    return model


#: every built-in layer kind that allocates weights: a builder, the layer index and a forged size
ALLOCATING = {
    "Dense": (lambda: small_sequential(compiled=False), 0, {"units": 10_000_000}),
    "QuantizedDense": (_quantized, 0, {"units": 2 ** 22}),
    "Conv2D": (_conv2d, 0, {"filters": 1_000_000}),
    "Conv2DTranspose": (_conv2d_transpose, 0, {"filters": 1_000_000}),
    "Conv1D": (_conv1d, 0, {"kernel_size": [1_000_000]}),
    "Embedding": (_embedding, 0, {"input_dim": 1_000_000}),
    "LayerNorm": (lambda: Sequential([Dense(4, input_shape=(3,)), LayerNorm(4)]), 1,
                  {"normalized_shape": 10_000_000}),
    "BatchNormalization": (lambda: Sequential([Dense(4, input_shape=(3,)), BatchNormalization()]), 1,
                           {"input_shape": [10_000_000]}),
    "SelfAttention": (lambda: _seq_model(SelfAttention(8, 2)), 0, {"d_model": 2048}),
    "TransformerBlock": (lambda: _seq_model(TransformerBlock(8, 2)), 0, {"mlp_ratio": 100_000}),
}
#: built-in layer kinds without weights
NOT_ALLOCATING = {"Activation", "Flatten", "Dropout", "GaussianNoise", "MaxPooling2D", "AveragePooling2D",
                  "GlobalAveragePooling2D"}


def test_every_builtin_layer_kind_is_listed():
    builtin = {name for name, cls in registered_layers().items() if cls.__module__.startswith("nnlib.")}
    assert builtin == set(ALLOCATING) | NOT_ALLOCATING, (
        "a new layer kind: add its size to nnlib.saving.config._min_weight_values and to ALLOCATING here")


@pytest.mark.parametrize("kind", sorted(ALLOCATING))
def test_every_allocating_layer_kind_is_checked_before_it_allocates(tmp_path, kind):
    build, index, change = ALLOCATING[kind]
    nnlib.manual_seed(0)
    model = build()
    assert type(model.layers[index]).__name__ == kind
    bad = _change_layer(tmp_path, model, index, change)
    refused(bad, match="weight values", max_mib=8)


def test_a_huge_quantized_dense_is_refused_fast(tmp_path):
    bad = _change_layer(tmp_path, _quantized(), 0, {"units": 2 ** 28})
    refused(bad, match="weight values", max_mib=8, seconds=1.0)


def test_the_size_check_lets_real_models_through(tmp_path):
    for kind, (build, index, _) in sorted(ALLOCATING.items()):
        nnlib.manual_seed(0)
        model = build()
        path = model.save(tmp_path / f"{kind}.nnlib") or tmp_path / f"{kind}.nnlib"
        loaded = load_model(path)
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- GPT.generate and sample_next
@pytest.mark.parametrize("kwargs, error, name", [
    ({"temperature": float("nan")}, ValueError, "temperature"),
    ({"temperature": float("inf")}, ValueError, "temperature"),
    ({"temperature": -0.5}, ValueError, "temperature"),
    ({"temperature": "hot"}, TypeError, "temperature"),
    ({"temperature": None}, TypeError, "temperature"),
    ({"temperature": True}, TypeError, "temperature"),
    ({"top_k": float("nan")}, ValueError, "top_k"),
    ({"top_k": float("inf")}, ValueError, "top_k"),
    ({"top_k": 2.5}, ValueError, "top_k"),
    ({"top_k": 0}, ValueError, "top_k"),
    ({"top_k": "3"}, TypeError, "top_k"),
    ({"top_p": "0.9"}, TypeError, "top_p"),
    ({"top_p": float("nan")}, ValueError, "top_p"),
    ({"top_p": 0.0}, ValueError, "top_p"),
    ({"top_p": 1.5}, ValueError, "top_p"),
    ({"max_new_tokens": 10 ** 12}, ValueError, "max_new_tokens"),
    ({"max_new_tokens": -1}, ValueError, "max_new_tokens"),
    ({"max_new_tokens": 2.0}, TypeError, "max_new_tokens"),
    ({"max_new_tokens": True}, TypeError, "max_new_tokens"),
])
def test_generate_validates_and_names_its_arguments(kwargs, error, name):
    nnlib.manual_seed(0)
    gpt = GPT(**TINY)
    kwargs = {"max_new_tokens": 3, **kwargs}
    tracemalloc.start()
    try:
        with pytest.raises(error, match=name):
            gpt.generate(np.array([1, 2]), **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2 ** 20, f"peak {peak / 2 ** 20:.1f} MiB"
    if name != "max_new_tokens":
        with pytest.raises(error, match=name):
            sample_next(np.zeros((1, 5)), **{"temperature": 1.0, **{k: v for k, v in kwargs.items()
                                                                   if k != "max_new_tokens"}})


def test_generate_bounds_the_ids_it_holds(monkeypatch):
    nnlib.manual_seed(0)
    gpt = GPT(**TINY)
    monkeypatch.setattr(nnlib.gpt, "MAX_GENERATED_IDS", 10)
    with pytest.raises(ValueError, match="max_new_tokens"):
        gpt.generate(np.ones((2, 4), np.int64), max_new_tokens=2)
    assert gpt.generate(np.ones((2, 3), np.int64), max_new_tokens=2).shape == (2, 5)


def test_generate_still_takes_numpy_scalars():
    nnlib.manual_seed(0)
    gpt = GPT(**TINY)
    out = gpt.generate(np.array([1, 2]), np.int64(3), temperature=np.float32(0.7), top_k=np.int64(4),
                       top_p=np.float64(0.9), seed=0)
    assert out.shape == (5,)
    assert np.array_equal(out, gpt.generate(np.array([1, 2]), 3, temperature=0.7, top_k=4, top_p=0.9, seed=0))
    assert gpt.generate(np.array([1, 2]), 2, temperature=0, top_k=4.0).shape == (4,)


# ---------------------------------------------------------------------- conv int tuples, quantize_model
@pytest.mark.parametrize("kwargs, name", [
    ({"kernel_size": "33"}, "kernel_size"),
    ({"kernel_size": "3"}, "kernel_size"),
    ({"kernel_size": (2.5, 3)}, "kernel_size"),
    ({"kernel_size": (3.0, 3)}, "kernel_size"),
    ({"kernel_size": 3.0}, "kernel_size"),
    ({"kernel_size": True}, "kernel_size"),
    ({"kernel_size": (True, 3)}, "kernel_size"),
    ({"kernel_size": -3}, "kernel_size"),
    ({"kernel_size": (3, -1)}, "kernel_size"),
    ({"kernel_size": 0}, "kernel_size"),
    ({"kernel_size": (3, 3, 3)}, "kernel_size"),
    ({"kernel_size": None}, "kernel_size"),
    ({"kernel_size": {3: 3, 4: 4}}, "kernel_size"),
    ({"kernel_size": 3, "strides": "2"}, "strides"),
    ({"kernel_size": 3, "strides": (1.5, 1)}, "strides"),
    ({"kernel_size": 3, "strides": False}, "strides"),
    ({"kernel_size": 3, "dilation_rate": (1, 0)}, "dilation_rate"),
    ({"kernel_size": 3, "padding": (1, -1)}, "padding"),
    ({"kernel_size": 3, "padding": (1.0, 1)}, "padding"),
    ({"kernel_size": 3, "padding": True}, "padding"),
    ({"kernel_size": 3, "padding": "1"}, "padding"),
])
def test_conv_int_tuples_are_validated(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Conv2D(8, **kwargs)


def test_conv_int_tuples_other_layers_and_good_values():
    with pytest.raises(ValueError, match="kernel_size"):
        Conv1D(4, "3")
    with pytest.raises(ValueError, match="pool_size"):
        MaxPooling2D(pool_size="22")
    with pytest.raises(ValueError, match="pool_size"):
        MaxPooling2D(pool_size=(2.5, 2))
    for good in (3, np.int64(3), (3, 3), [3, 3], (np.int32(3), 3), np.array([3, 3])):
        assert Conv2D(8, good).kernel_size == (3, 3)
    assert Conv2D(8, 3, padding=(0, 1)).padding == (0, 1)
    assert Conv1D(4, [5]).kernel_size == (5,)


@pytest.mark.parametrize("bad", [np.zeros(3), "model", None, [Dense(2)], {"w": np.ones(2)}])
def test_quantize_model_refuses_what_is_not_a_model(bad):
    with pytest.raises(TypeError, match="quantize_model: expected an nnlib model"):
        quantize_model(bad)


def test_quantize_model_checks_its_options():
    nnlib.manual_seed(0)
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(TypeError, match="inplace"):
        quantize_model(model, inplace="yes")
    with pytest.raises(TypeError, match="exclude"):
        quantize_model(model, exclude=3)
    assert type(quantize_model(model, exclude=["nothing"]).layers[0]).__name__ == "QuantizedDense"
