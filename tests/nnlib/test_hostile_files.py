"""Chapter 14: hostile and damaged model/tokenizer files end in a clear error, fast and bounded.

Each case writes its file into tmp_path; every error must be ``ModelFileError`` (or the
tokenizer's ValueError) with the file's path in the message, within a second, without
allocating much more than the file holds.
"""
from tests import REPO_ROOT
import io
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import nnlib
from nnlib.gpt import GPT, GPTConfig
from nnlib.io import ModelFileError, load_archive
from nnlib.layers import Dense, Dropout, Embedding
from nnlib.models import Sequential, load_model, save_model
from nnlib.text import BPETokenizer, CharTokenizer

ROOT = str(REPO_ROOT)


# ---------------------------------------------------------------------- helpers
def _small_sequential(compiled=True):
    nnlib.manual_seed(0)
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)], name="small")
    if compiled:
        model.compile("adam", "mse")
        x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
        model.fit(x, x[:, :1], epochs=1, batch_size=4, verbose=0)
    return model


def _small_gpt(**overrides):
    nnlib.manual_seed(0)
    config = dict(vocab_size=12, context_length=8, d_model=8, n_heads=2, n_layers=2)
    config.update(overrides)
    model = GPT(GPTConfig(**config))
    model.tokenizer = CharTokenizer(list("abcdefghijkl")[:config["vocab_size"]])
    return model


def _members(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _repack(path, out, replace=None, drop=(), keep_member_list=False):
    """Copy a model file with some members replaced/dropped, as nnlib writes zips (JSON deflated, npz stored).

    The member list in metadata.json is updated to match unless ``keep_member_list``.
    """
    members = _members(path)
    for name in drop:
        members.pop(name)
    members.update(replace or {})
    if not keep_member_list:
        meta = json.loads(members["metadata.json"])
        meta["members"] = list(members)
        members["metadata.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name.endswith(".npz")
                        else zipfile.ZIP_DEFLATED)
    return out


def _config(path) -> dict:
    return json.loads(_members(path)["config.json"])


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy_of_zeros(count: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
    return buf.getvalue() + bytes(4 * count)


def _refused(path, loader=load_model, error=ModelFileError, match=None, seconds=1.0, max_mib=None):
    """Assert ``loader(path)`` raises ``error`` naming the path, in time and (optionally) memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error) as info:
            loader(path)
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert str(path) in str(info.value), str(info.value)
    if match is not None:
        assert __import__("re").search(match, str(info.value)), str(info.value)
    assert elapsed < seconds * (3 if os.environ.get("CI") else 1) + 0.5, f"took {elapsed:.2f} s"
    if max_mib is not None:
        assert peak < max_mib * 2 ** 20, f"peak {peak / 2 ** 20:.1f} MiB traced"
    return info.value


# ---------------------------------------------------------------------- one format
def test_load_model_loads_gpt_and_sequential_alike(tmp_path):
    gpt = _small_gpt()
    path = save_model(gpt, tmp_path / "gpt.nnlib", metadata={"steps": 3})
    loaded = load_model(path)
    assert type(loaded) is GPT and not loaded.training
    assert loaded.config == gpt.config and loaded.metadata["steps"] == 3
    assert loaded.tokenizer.chars == gpt.tokenizer.chars
    for key, value in gpt.state_dict().items():
        assert loaded.state_dict()[key].tobytes() == value.tobytes()
    assert type(GPT.load(path)) is GPT  # the wrapper reads the same file
    seq = _small_sequential()
    seq.save(tmp_path / "seq.nnlib")
    assert type(load_model(tmp_path / "seq.nnlib")) is Sequential
    with pytest.raises(ModelFileError, match="not a GPT"):
        GPT.load(tmp_path / "seq.nnlib")
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "weights.npz", "tokenizer.json"]


def test_shipped_checkpoint_loads_with_load_model():
    model = load_model(os.path.join(ROOT, "data", "checkpoints", "gpt_char.nnlib"))
    assert type(model) is GPT and isinstance(model.tokenizer, CharTokenizer)
    assert model.tokenizer.vocab_size == model.config.vocab_size == 96
    assert model.metadata["format_version"] == 2


def test_format_1_gpt_files_still_load(tmp_path):
    gpt = _small_gpt()
    path = save_model(gpt, tmp_path / "new.nnlib")
    members = _members(path)
    config = json.loads(members["config.json"])
    old_config = {"class": "GPT", "gpt_config": {k: v for k, v in config["config"].items() if k != "dtype"},
                  "dtype": "float32"}
    meta = {"format": "nnlib-archive", "format_version": 1}
    with zipfile.ZipFile(tmp_path / "old.nnlib", "w") as zf:
        zf.writestr("metadata.json", json.dumps(meta), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("config.json", json.dumps(old_config), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("weights.npz", members["weights.npz"])
        zf.writestr("tokenizer.json", members["tokenizer.json"], compress_type=zipfile.ZIP_DEFLATED)
    loaded = load_model(tmp_path / "old.nnlib")
    assert loaded.config == gpt.config and loaded.tokenizer.chars == gpt.tokenizer.chars


def test_lora_models_are_refused_with_the_fix_named(tmp_path):
    from nnlib.lora import apply_lora, merge_lora

    gpt = _small_gpt()
    apply_lora(gpt, rank=2)
    with pytest.raises(ValueError, match="merge_lora"):
        save_model(gpt, tmp_path / "lora.nnlib")
    with pytest.raises(ValueError, match="merge_lora"):
        gpt.save(tmp_path / "lora.nnlib")
    assert not (tmp_path / "lora.nnlib").exists()
    merge_lora(gpt)
    assert type(load_model(save_model(gpt, tmp_path / "merged.nnlib"))) is GPT


def test_saving_imports_no_model_class():
    import ast

    import nnlib.models.saving as saving

    tree = ast.parse(open(saving.__file__, encoding="utf-8").read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(m and ("sequential" in m or "gpt" in m or "training" in m) for m in imported), imported
    code = "import nnlib.models.saving as s; import sys; print('Sequential' in dir(s))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT}, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


# ---------------------------------------------------------------------- member set
def test_hidden_optimizer_members_are_refused(tmp_path):
    model = _small_sequential()
    path = tmp_path / "m.nnlib"
    model.save(path)
    data = bytearray(path.read_bytes())
    # a flipped byte in the central directory's copy of the name "optimizer.npz"
    where = data.rfind(b"optimizer.npz")
    data[where] = ord("O")
    bad = tmp_path / "flipped.nnlib"
    bad.write_bytes(bytes(data))
    _refused(bad, match="do not match its metadata")
    # the two optimizer members dropped, the member list left as written
    _repack(path, tmp_path / "dropped.nnlib", drop=("optimizer.npz", "optimizer.json"), keep_member_list=True)
    _refused(tmp_path / "dropped.nnlib", match="missing .*optimizer")
    # ... or dropped together with their entries in the list: one alone is refused, both need no compile state
    _repack(path, tmp_path / "half.nnlib", drop=("optimizer.npz",))
    _refused(tmp_path / "half.nnlib", match="only one of optimizer")
    _repack(path, tmp_path / "extra.nnlib", replace={"notes.json": b"{}"})
    _refused(tmp_path / "extra.nnlib", match="unexpected member")


# ---------------------------------------------------------------------- bombs and sizes
def test_zip_bomb_weights_are_refused_before_inflating(tmp_path):
    model = _small_sequential(compiled=False)
    path = tmp_path / "m.nnlib"
    model.save(path)
    members = _members(path)
    huge = _npz(**{"layers.0.kernel": np.zeros(16 * 2 ** 20, np.float32)})  # 64 MiB of zeros
    bomb = tmp_path / "bomb.nnlib"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", members["metadata.json"])
        zf.writestr("config.json", members["config.json"])
        zf.writestr("weights.npz", huge)
    assert bomb.stat().st_size < 2 ** 20
    # the bomb one level down: a stored weights.npz whose .npy member is deflated
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("layers.0.kernel.npy", _npy_of_zeros(16 * 2 ** 20))
    del huge
    _repack(path, tmp_path / "nested.nnlib", replace={"weights.npz": inner.getvalue()})
    del inner
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _refused(bomb, match="stored uncompressed", max_mib=8)
    _refused(tmp_path / "nested.nnlib", match="stored uncompressed", max_mib=8)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB on Linux


def test_json_bombs_are_refused(tmp_path):
    model = _small_sequential()
    path = tmp_path / "m.nnlib"
    model.save(path)
    # 200 MB of spaces deflate to ~200 KB: refused from the directory (ratio, size) before inflating
    bomb = tmp_path / "json_bomb.nnlib"
    members = _members(path)
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if name == "optimizer.json":
                data = b"{" + b" " * 50_000_000 + b"}"
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name.endswith(".npz")
                        else zipfile.ZIP_DEFLATED)
    _refused(bomb, match="optimizer.json", max_mib=8)
    # many tiny containers: a few MB of "[]," would become millions of Python lists
    _repack(path, tmp_path / "lists.nnlib", replace={"optimizer.json": b"[" + b"[]," * 1_000_000 + b"[]]"})
    _refused(tmp_path / "lists.nnlib", match="lists/objects|zip bomb", max_mib=16)


def test_forged_sizes_in_the_zip_directory(tmp_path):
    model = _small_sequential(compiled=False)
    path = tmp_path / "m.nnlib"
    model.save(path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weights.npz")
    # the central directory entry of weights.npz: uncompressed size forged to 4 GB - 2
    start = 0
    while True:
        cd = data.find(b"PK\x01\x02", start)
        name_len = int.from_bytes(data[cd + 28:cd + 30], "little")
        if data[cd + 46:cd + 46 + name_len] == b"weights.npz":
            break
        start = cd + 4
    sizes = data[cd + 20:cd + 28]
    if int.from_bytes(sizes[:4], "little") == 0xFFFFFFFF:  # zip64: sizes live in the extra field
        pytest.skip("zip64 sizes")
    data[cd + 24:cd + 28] = (0xFFFFFFFE).to_bytes(4, "little")
    bad = tmp_path / "forged.nnlib"
    bad.write_bytes(bytes(data))
    _refused(bad, max_mib=8)
    assert info.file_size < 10_000


@pytest.mark.parametrize("shape,descr", [((10 ** 12,), "<f4"), ((2 ** 40, 2 ** 40), "<f8"),
                                         ((1,) * 40, "<f4"), ((3,), "<U8"), ((3,), "|O"), ((3,), "<f4,<i4"),
                                         ((-1,), "<f4"), ((10 ** 5000,), "<f4")])
def test_absurd_npy_headers(tmp_path, shape, descr):
    model = _small_sequential(compiled=False)
    path = tmp_path / "m.nnlib"
    model.save(path)
    header = "{'descr': %r, 'fortran_order': False, 'shape': %s, }" % (descr, repr(shape) if shape != (10 ** 5000,)
                                                                      else "(" + "9" * 5000 + ",)")
    header = header.encode("latin1")
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    npy = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header + b"\0" * 12
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("layers.0.kernel.npy", npy)
    _repack(path, tmp_path / "bad.nnlib", replace={"weights.npz": buf.getvalue()})
    _refused(tmp_path / "bad.nnlib", max_mib=8)


# ---------------------------------------------------------------------- configs checked before building
@pytest.mark.parametrize("change", [
    {"input_shape": [16_000_000]},       # Dense kernel 16M x 4
    {"units": 100_000_000},
])
def test_huge_dense_configs_are_refused_before_allocating(tmp_path, change):
    model = _small_sequential(compiled=False)
    path = tmp_path / "m.nnlib"
    model.save(path)
    config = _config(path)
    config["config"]["layers"][0]["config"].update(change)
    if "input_shape" in change:
        config["build_input_shape"] = [None, 16_000_000]
    _repack(path, tmp_path / "bad.nnlib", replace={"config.json": json.dumps(config).encode()})
    _refused(tmp_path / "bad.nnlib", match="weight values", max_mib=8)


def test_huge_embedding_config_is_refused_before_allocating(tmp_path):
    nnlib.manual_seed(0)
    model = Sequential([Embedding(10, 4), Dense(2)])
    model.build((None, 5))
    path = model.save(tmp_path / "emb.nnlib") or tmp_path / "emb.nnlib"
    config = _config(path)
    config["config"]["layers"][0]["config"].update(input_dim=10_000_000, output_dim=16)
    _repack(path, tmp_path / "bad.nnlib", replace={"config.json": json.dumps(config).encode()})
    _refused(tmp_path / "bad.nnlib", match="weight values", max_mib=8)


@pytest.mark.parametrize("change,match", [
    ({"vocab_size": 1_000_000}, "wte.embeddings"),
    ({"n_layers": 200_000}, "n_layers"),
    ({"vocab_size": 10 ** 12}, "vocab_size"),
    ({"tie_weights": "false"}, "tie_weights must be true or false"),
    ({"d_model": 8.0}, "d_model must be an integer"),
    ({"dtype": "float16"}, "dtype"),
    ({"evil": 1}, "unknown GPT config"),
])
def test_gpt_configs_are_checked_against_the_weights(tmp_path, change, match):
    path = save_model(_small_gpt(), tmp_path / "gpt.nnlib")
    config = _config(path)
    config["config"].update(change)
    _repack(path, tmp_path / "bad.nnlib", replace={"config.json": json.dumps(config).encode()})
    _refused(tmp_path / "bad.nnlib", match=match, max_mib=8)


def test_gpt_vocab_infinity_and_giant_integers(tmp_path):
    path = save_model(_small_gpt(), tmp_path / "gpt.nnlib")
    text = _members(path)["config.json"].decode()
    for bad in ('"vocab_size": Infinity', '"vocab_size": ' + "9" * 5000, '"vocab_size": NaN'):
        changed = text.replace('"vocab_size": 12', bad)
        assert changed != text
        _repack(path, tmp_path / "bad.nnlib", replace={"config.json": changed.encode()})
        _refused(tmp_path / "bad.nnlib", match="config.json is not valid JSON")


def test_many_dropout_layers_load_in_linear_time(tmp_path):
    model = Sequential([Dense(2, input_shape=(2,))] + [Dropout(0.1) for _ in range(1500)])
    model.save(tmp_path / "deep.nnlib")
    start = time.perf_counter()
    loaded = load_model(tmp_path / "deep.nnlib")
    assert time.perf_counter() - start < 3.0
    assert len(loaded.layers) == 1501
    config = _config(tmp_path / "deep.nnlib")
    config["config"]["layers"] += [{"class_name": "Dropout", "config": {"rate": 0.1}}] * 10_000
    _repack(tmp_path / "deep.nnlib", tmp_path / "deeper.nnlib", replace={"config.json": json.dumps(config).encode()})
    _refused(tmp_path / "deeper.nnlib", match="layers, more than")


def test_gpt_weights_of_another_dtype_are_refused(tmp_path):
    gpt = _small_gpt()
    path = save_model(gpt, tmp_path / "gpt.nnlib")
    weights = {k: v for k, v in load_archive(path).arrays.items()}
    for dtype in (np.float16, np.int8, np.bool_, np.float64):
        changed = dict(weights, **{"wpe.embeddings": weights["wpe.embeddings"].astype(dtype)})
        _repack(path, tmp_path / "bad.nnlib", replace={"weights.npz": _npz(**changed)})
        _refused(tmp_path / "bad.nnlib", match="'wpe.embeddings' has dtype")
        with pytest.raises(ModelFileError, match="dtype"):
            GPT.load(tmp_path / "bad.nnlib")


def test_tokenizer_larger_than_the_vocabulary_is_refused(tmp_path):
    gpt = _small_gpt()
    path = save_model(gpt, tmp_path / "gpt.nnlib")
    big = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz"))
    with pytest.raises(ValueError, match="more than the model's vocab_size=12"):
        gpt.tokenizer = big
    with pytest.raises(ValueError, match="more than the model's vocab_size=12"):
        save_model(gpt, tmp_path / "x.nnlib", tokenizer=big)
    _repack(path, tmp_path / "bad.nnlib", replace={"tokenizer.json": json.dumps(big.to_dict()).encode()})
    _refused(tmp_path / "bad.nnlib", match="more than the model's vocab_size")


# ---------------------------------------------------------------------- optimizer state
@pytest.mark.parametrize("where,value,match", [
    ("lr", -1.0, "learning rate"),
    ("lr", "NaN", "not valid JSON"),
    ("lr", True, "wrong type"),
    ("betas", [0.9, 1.5], "beta2"),
    ("step", -5, "step must be an integer >= 0"),
    ("step", "Infinity", "not valid JSON"),
    ("step", 2.5, "step must be an integer"),
])
def test_bad_optimizer_state_is_refused(tmp_path, where, value, match):
    model = _small_sequential()
    path = tmp_path / "m.nnlib"
    model.save(path)
    state = json.loads(_members(path)["optimizer.json"])
    if where == "step":
        state["scalars"]["0"]["step"] = value
    else:
        state["param_groups"][0][where] = value
    text = json.dumps(state)
    for constant in ("NaN", "Infinity"):
        text = text.replace(f'"{constant}"', constant)
    _repack(path, tmp_path / "bad.nnlib", replace={"optimizer.json": text.encode()})
    _refused(tmp_path / "bad.nnlib", match=match)


# ---------------------------------------------------------------------- special files
def _fifo_or_skip(path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(path)


@pytest.mark.parametrize("loader", [load_model, CharTokenizer.load, BPETokenizer.load, GPT.load])
def test_symlinks_to_fifos_and_devices_are_refused(tmp_path, loader):
    fifo = tmp_path / "pipe"
    _fifo_or_skip(fifo)
    error = ModelFileError if loader in (load_model, GPT.load) else ValueError
    link = tmp_path / "model.nnlib"
    link.symlink_to(fifo)
    done = []
    thread = threading.Thread(target=lambda: done.append(_refused(link, loader, error, match="FIFO")),
                              daemon=True)
    thread.start()
    thread.join(5)
    assert done, "loading a FIFO blocked"
    if os.path.exists("/dev/zero"):
        zero = tmp_path / "zero.nnlib"
        zero.symlink_to("/dev/zero")
        _refused(zero, loader, error, match="device", max_mib=4)
    with pytest.raises(error):
        loader(tmp_path)  # a folder


def test_oversized_tokenizer_file_is_refused(tmp_path):
    from nnlib import text

    path = tmp_path / "tok.json"
    path.write_bytes(b" " * (text.MAX_TOKENIZER_BYTES + 1))
    _refused(path, CharTokenizer.load, ValueError, match="more than")


# ---------------------------------------------------------------------- tokenizer patterns
def test_bpe_pattern_is_stored_by_name_and_never_compiled_from_a_file(tmp_path):
    tok = BPETokenizer.train("hello hello world " * 20, 262)
    tok.save(tmp_path / "tok.json")
    saved = json.loads((tmp_path / "tok.json").read_text())
    assert saved["pattern_name"] == "default" and "pattern" not in saved
    assert BPETokenizer.load(tmp_path / "tok.json").encode("hello world") == tok.encode("hello world")
    saved.pop("pattern_name")
    saved["pattern"] = r"(\w+\s?)+$"  # catastrophic backtracking on a sentence
    (tmp_path / "evil.json").write_text(json.dumps(saved))
    _refused(tmp_path / "evil.json", BPETokenizer.load, ValueError, match="never compiles")
    saved["pattern"] = nnlib.text.PRE_SPLIT_PATTERN  # an older file: its regex is a known one
    (tmp_path / "old.json").write_text(json.dumps(saved))
    assert BPETokenizer.load(tmp_path / "old.json").pattern == nnlib.text.PRE_SPLIT_PATTERN
    custom = BPETokenizer(pattern=r"\S+|\s+")
    with pytest.raises(ValueError, match="register_pre_split_pattern"):
        custom.save(tmp_path / "custom.json")


# ---------------------------------------------------------------------- generate arguments
def test_generate_argument_errors():
    gpt = _small_gpt()
    ids = np.array([1, 2, 3])
    with pytest.raises(TypeError, match="max_new_tokens must be an integer"):
        gpt.generate(ids, 2.5)
    with pytest.raises(TypeError, match="max_new_tokens must be an integer"):
        gpt.generate(ids, True)
    with pytest.raises(ValueError, match="stop_token .* outside the vocabulary"):
        gpt.generate(ids, 3, stop_token=12)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        gpt.generate(ids, 3, stop_token=[1, -1])
    with pytest.raises(TypeError, match="stop_token must be a token id"):
        gpt.generate(ids, 3, stop_token=1.5)
    assert gpt.generate(ids, np.int64(2), temperature=0).shape == (5,)


# ---------------------------------------------------------------------- killed saves
def test_killed_save_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    target = tmp_path / "big.nnlib"
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {ROOT!r})
        import nnlib.io as nio
        real = nio._write_members
        def slow(f, members):
            f.write(b"x" * 1_000_000)
            f.flush()
            print("writing", flush=True)
            import time; time.sleep(60)
        nio._write_members = slow
        nio.save_archive({str(target)!r}, {{}}, {{"w": np.zeros(10)}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1 and str(proc.pid) in leftovers[0]
    # a temp file of a LIVE process (this one, another name pattern) is never touched
    live = tmp_path / f".big.nnlib.{os.getppid()}.{'a' * 12}.tmp"
    live.write_bytes(b"in progress")
    other = tmp_path / ".other.nnlib.1.aaaaaaaaaaaa.tmp"
    other.write_bytes(b"not ours")
    time.sleep(0.05)
    save_model(_small_sequential(compiled=False), target)
    names = sorted(os.listdir(tmp_path))
    assert leftovers[0] not in names
    assert live.name in names and other.name in names and "big.nnlib" in names
    assert type(load_model(target)) is Sequential


# ---------------------------------------------------------------------- fuzz
def test_fuzzed_files_load_identically_or_raise_model_file_error(tmp_path):
    gpt = _small_gpt(n_layers=1)
    path = save_model(gpt, tmp_path / "gpt.nnlib")
    data = open(path, "rb").read()
    reference = {k: v.tobytes() for k, v in gpt.state_dict().items()}
    rng = np.random.default_rng(1234)
    bad = tmp_path / "fuzz.nnlib"
    outcomes = {"loaded": 0, "refused": 0}
    start = time.perf_counter()
    for trial in range(200):
        damaged = bytearray(data)
        if trial % 4 == 0:
            damaged = damaged[:int(rng.integers(0, len(damaged)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                pos = int(rng.integers(0, len(damaged)))
                damaged[pos] ^= 1 << int(rng.integers(0, 8))
        bad.write_bytes(bytes(damaged))
        try:
            loaded = load_model(bad)
        except ModelFileError as exc:
            assert str(bad) in str(exc)
            outcomes["refused"] += 1
            continue
        assert {k: v.tobytes() for k, v in loaded.state_dict().items()} == reference
        assert loaded.config == gpt.config and loaded.tokenizer.chars == gpt.tokenizer.chars
        outcomes["loaded"] += 1
    assert outcomes["refused"] > 100
    assert time.perf_counter() - start < 30
