"""Chapters 07 and 14: nnlib.saving.archive, the zip format: round trips, limits, and damaged or hostile archives."""
import io
import json
import os
import resource
import time
import zipfile

import numpy as np
import pytest

import nnlib
import nnlib.saving.archive as archive_mod
from nnlib.models import load_model, save_model
from nnlib.saving.archive import load_archive, save_archive
from nnlib.saving.files import ModelFileError
from tests.nnlib.saving.hostile import (meta_json, npy_of_zeros, npz_bytes, refused, repack, small_gpt,
                                        small_sequential, trained_model, write_zip, zip_members)


def _arrays():
    return {
        "layers.0.kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
        "bias": np.array([1.5, -2.0]),
        "step": np.array(7, dtype=np.int64),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "big_endian": np.arange(3, dtype=">f8"),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    }


def test_archive_round_trip(tmp_path):
    path = tmp_path / "model.h5"  # any extension; always the zip format
    config = {"class_name": "Thing", "layers": [1, 2, {"a": None}]}
    save_archive(path, config, _arrays(), metadata={"note": "hi"},
                 extra_arrays={"optimizer": {"0.exp_avg": np.ones(3)}}, extra_json={"optimizer": {"lr": 0.1}})
    assert zipfile.is_zipfile(path)
    archive = load_archive(path)
    assert archive.config == config
    for key, value in _arrays().items():
        np.testing.assert_array_equal(archive.arrays[key], value)
        assert archive.arrays[key].dtype == value.dtype.newbyteorder("=")
        assert archive.arrays[key].flags.writeable
    assert archive.metadata["format"] == "nnlib-archive" and archive.metadata["format_version"] == 2
    assert archive.metadata["nnlib_version"] == nnlib.__version__ and archive.metadata["note"] == "hi"
    assert "created" in archive.metadata
    np.testing.assert_array_equal(archive.extra["optimizer"]["0.exp_avg"], np.ones(3))
    assert archive.extra_json == {"optimizer": {"lr": 0.1}}
    with zipfile.ZipFile(path) as zf:  # weights.npz is a regular .npz NumPy can read without pickle
        with np.load(io.BytesIO(zf.read("weights.npz")), allow_pickle=False) as npz:
            np.testing.assert_array_equal(npz["bias"], [1.5, -2.0])


def test_save_rejects_bad_names_and_object_arrays(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        save_archive(tmp_path / "a", {}, {"w": np.array([{}], dtype=object)})
    with pytest.raises(ValueError, match="array name"):
        save_archive(tmp_path / "a", {}, {"../evil": np.zeros(1)})
    with pytest.raises(ValueError, match="not allowed"):
        save_archive(tmp_path / "a", {}, {}, extra_json={"config": {}})
    with pytest.raises(TypeError, match="not JSON-serializable"):
        save_archive(tmp_path / "a", {"f": object()}, {})
    assert os.listdir(tmp_path) == []


def test_interrupted_save_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "model.zip"
    save_archive(path, {"version": 1}, {"w": np.ones(3)})
    before = path.read_bytes()

    def crash(target, members):
        with zipfile.ZipFile(target, "w") as zf:
            zf.writestr(members[0][0], members[0][1])  # half of the archive is written ...
        raise KeyboardInterrupt("power cut")  # ... then the save is interrupted
    monkeypatch.setattr(archive_mod, "_write_members", crash)
    with pytest.raises(KeyboardInterrupt):
        save_archive(path, {"version": 2}, {"w": np.zeros(3)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.zip"]
    monkeypatch.undo()

    def failing_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_archive(path, {"version": 3}, {"w": np.zeros(3)})
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.zip"]
    monkeypatch.undo()
    assert load_archive(path).config == {"version": 1}


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_model.h5"):
        load_archive(tmp_path / "no_such_model.h5")
    with pytest.raises(FileNotFoundError, match="no_such_model.h5"):
        load_model(tmp_path / "no_such_model.h5")
    with pytest.raises(ModelFileError, match="folder"):
        load_archive(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_archive(tmp_path / "missing" / "m.zip", {}, {})


def test_truncated_and_non_nnlib_files(tmp_path):
    good = tmp_path / "good.zip"
    save_archive(good, {"a": 1}, {"w": np.ones(1000)})
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        bad = tmp_path / f"cut{cut}.zip"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="truncated|damaged"):
            load_archive(bad)
    text = tmp_path / "notes.h5"
    text.write_text("just some text")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_archive(text)
    hdf5 = tmp_path / "keras.h5"
    hdf5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ModelFileError, match="HDF5"):
        load_model(hdf5)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ModelFileError, match="not an nnlib archive"):
        load_archive(other)


def test_pickle_inside_weights_is_refused(tmp_path):
    calls = []

    class Boom:
        def __reduce__(self):
            return (calls.append, ("pickle ran",))
    buf = io.BytesIO()
    np.savez(buf, w=np.array([Boom()], dtype=object))  # np.savez pickles object arrays
    path = tmp_path / "evil.h5"
    write_zip(path, {"metadata.json": meta_json(), "config.json": b"{}", "weights.npz": buf.getvalue()})
    with pytest.raises(ModelFileError, match="object arrays would need pickle"):
        load_archive(path)
    with pytest.raises(ModelFileError):
        load_model(path)
    assert calls == []


def test_giant_members_are_refused(tmp_path):
    path = tmp_path / "bomb.h5"
    zeros = np.zeros(2_000_000, dtype=np.float32)  # 8 MB of zeros compress to ~8 KB
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", meta_json())
        zf.writestr("config.json", b"{}")
        zf.writestr("weights.npz", npz_bytes(w=zeros))  # deflated arrays: nnlib never writes them
    assert path.stat().st_size < 200_000
    with pytest.raises(ModelFileError, match="must be stored uncompressed"):
        load_archive(path)
    write_zip(path, {"metadata.json": meta_json(), "config.json": b"{}", "weights.npz": npz_bytes(w=zeros)})
    with pytest.raises(ModelFileError, match="more than the allowed"):
        load_archive(path, max_bytes=1_000_000)
    assert load_archive(path).arrays["w"].shape == (2_000_000,)
    # a JSON member larger than the JSON cap
    write_zip(path, {"metadata.json": meta_json(), "config.json": b" " * (4 * 1024 ** 2 + 1),
                      "weights.npz": npz_bytes()})
    with pytest.raises(ModelFileError, match="config.json.*more than the allowed"):
        load_archive(path)


def test_forged_array_header_is_refused_without_allocating(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (10 ** 12,)})
        zf.writestr("w.npy", header.getvalue() + b"\0" * 16)
    path = tmp_path / "forged.h5"
    write_zip(path, {"metadata.json": meta_json(), "config.json": b"{}", "weights.npz": buf.getvalue()})
    with pytest.raises(ModelFileError, match="truncated or tampered"):
        load_archive(path)


@pytest.mark.parametrize("case,pattern", [
    ("bad_json", "config.json is not valid JSON"),
    ("no_weights", "no weights.npz"),
    ("extra_member", "unexpected member 'run.sh'"),
    ("newer_version", "newer than this nnlib"),
    ("not_nnlib_meta", "does not say format"),
    ("npz_not_zip", "not a valid .npz"),
    ("npz_text_member", "only .npy arrays"),
    ("deep_json", "config.json.*(not valid JSON|zip bomb|lists/objects)"),
])
def test_tampered_archives(tmp_path, case, pattern):
    members = {"metadata.json": meta_json(), "config.json": b"{}", "weights.npz": npz_bytes(w=np.ones(2))}
    if case == "bad_json":
        members["config.json"] = b"{not json"
    elif case == "no_weights":
        del members["weights.npz"]
    elif case == "extra_member":
        members["run.sh"] = b"rm -rf /"
    elif case == "newer_version":
        members["metadata.json"] = json.dumps({"format": "nnlib-archive", "format_version": 99}).encode()
    elif case == "not_nnlib_meta":
        members["metadata.json"] = b'{"format": "something-else"}'
    elif case == "deep_json":  # nesting deeper than Python's recursion limit
        members["config.json"] = b"[" * 100_000 + b"]" * 100_000
    elif case == "npz_not_zip":
        members["weights.npz"] = b"garbage"
    elif case == "npz_text_member":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("notes.txt", "hello")
        members["weights.npz"] = buf.getvalue()
    path = tmp_path / "t.h5"
    write_zip(path, members)
    with pytest.raises(ModelFileError, match=pattern):
        load_archive(path)


def _member_data_offset(path, name):
    """Where the (compressed) bytes of member ``name`` start inside the zip file at ``path``."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


def test_corrupt_deflate_stream_is_a_model_file_error(tmp_path):
    path = tmp_path / "m.h5"
    save_archive(path, {"layers": list(range(200))}, {"w": np.ones(3)})
    start, size = _member_data_offset(path, "config.json")
    data = bytearray(path.read_bytes())
    data[start:start + size] = b"\xff" * size  # not a deflate stream: zlib raises its own error
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="config.json.*damaged"):
        load_archive(path)


def test_forged_zip_version_is_a_model_file_error(tmp_path):
    path = tmp_path / "m.h5"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("metadata.json")
        info.extract_version = 99  # "needs zip 9.9 to extract": zipfile raises NotImplementedError
        zf.writestr(info, meta_json())
    with pytest.raises(ModelFileError, match="damaged or was tampered"):
        load_archive(path)


def test_random_damage_never_escapes_as_another_error(tmp_path):
    model, _, _ = trained_model()
    good = tmp_path / "good.h5"
    model.save(good)
    data = good.read_bytes()
    rng = np.random.default_rng(0)
    bad = tmp_path / "bad.h5"
    for trial in range(150):
        damaged = bytearray(data[:int(rng.integers(0, len(data)))] if trial % 5 == 0 else data)
        for _ in range(int(rng.integers(1, 4))):
            if damaged:
                damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
        bad.write_bytes(bytes(damaged))
        try:
            load_model(bad)
        except ModelFileError:
            pass


def test_format_1_files_are_refused_by_name(tmp_path):
    gpt = small_gpt()
    path = save_model(gpt, tmp_path / "new.nnlib")
    members = zip_members(path)
    config = json.loads(members["config.json"])
    old_config = {"class": "GPT", "gpt_config": {k: v for k, v in config["config"].items() if k != "dtype"},
                  "dtype": "float32"}
    meta = {"format": "nnlib-archive", "format_version": 1}
    with zipfile.ZipFile(tmp_path / "old.nnlib", "w") as zf:
        zf.writestr("metadata.json", json.dumps(meta), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("config.json", json.dumps(old_config), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("weights.npz", members["weights.npz"])
        zf.writestr("tokenizer.json", members["tokenizer.json"], compress_type=zipfile.ZIP_DEFLATED)
    refused(tmp_path / "old.nnlib", load_archive, match="archive format 1, which nnlib no longer reads")
    refused(tmp_path / "old.nnlib", match="archive format 1")


@pytest.mark.parametrize("member", ["metadata.json", "config.json", "tokenizer.json"])
def test_repeated_keys_in_json_members_are_refused(tmp_path, member):
    path = save_model(small_gpt(), tmp_path / "gpt.nnlib")
    text = zip_members(path)[member].decode()
    first, value = next(iter(json.loads(text).items()))
    twice = "{" + json.dumps(first) + ": " + json.dumps(value) + ", " + text.lstrip()[1:]
    repack(path, tmp_path / "twice.nnlib", replace={member: twice.encode()}, keep_member_list=True)
    refused(tmp_path / "twice.nnlib", load_archive, match=f"{member} is not valid JSON .it repeats the key '{first}'")


def test_zip_bomb_weights_are_refused_before_inflating(tmp_path):
    model = small_sequential(compiled=False)
    path = tmp_path / "m.nnlib"
    model.save(path)
    members = zip_members(path)
    huge = npz_bytes(**{"layers.0.kernel": np.zeros(16 * 2 ** 20, np.float32)})  # 64 MiB of zeros
    bomb = tmp_path / "bomb.nnlib"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", members["metadata.json"])
        zf.writestr("config.json", members["config.json"])
        zf.writestr("weights.npz", huge)
    assert bomb.stat().st_size < 2 ** 20
    # the bomb one level down: a stored weights.npz whose .npy member is deflated
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("layers.0.kernel.npy", npy_of_zeros(16 * 2 ** 20))
    del huge
    repack(path, tmp_path / "nested.nnlib", replace={"weights.npz": inner.getvalue()})
    del inner
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(bomb, match="stored uncompressed", max_mib=8)
    refused(tmp_path / "nested.nnlib", match="stored uncompressed", max_mib=8)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB on Linux


def test_json_bombs_are_refused(tmp_path):
    model = small_sequential()
    path = tmp_path / "m.nnlib"
    model.save(path)
    # 200 MB of spaces deflate to ~200 KB: refused from the directory (ratio, size) before inflating
    bomb = tmp_path / "json_bomb.nnlib"
    members = zip_members(path)
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if name == "optimizer.json":
                data = b"{" + b" " * 50_000_000 + b"}"
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name.endswith(".npz")
                        else zipfile.ZIP_DEFLATED)
    refused(bomb, match="optimizer.json", max_mib=8)
    # many tiny containers: a few MB of "[]," would become millions of Python lists
    repack(path, tmp_path / "lists.nnlib", replace={"optimizer.json": b"[" + b"[]," * 1_000_000 + b"[]]"})
    refused(tmp_path / "lists.nnlib", match="lists/objects|zip bomb", max_mib=16)


def test_forged_sizes_in_the_zip_directory(tmp_path):
    model = small_sequential(compiled=False)
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
    refused(bad, max_mib=8)
    assert info.file_size < 10_000


@pytest.mark.parametrize("shape,descr", [((10 ** 12,), "<f4"), ((2 ** 40, 2 ** 40), "<f8"),
                                         ((1,) * 40, "<f4"), ((3,), "<U8"), ((3,), "|O"), ((3,), "<f4,<i4"),
                                         ((-1,), "<f4"), ((10 ** 5000,), "<f4")])
def test_absurd_npy_headers(tmp_path, shape, descr):
    model = small_sequential(compiled=False)
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
    repack(path, tmp_path / "bad.nnlib", replace={"weights.npz": buf.getvalue()})
    refused(tmp_path / "bad.nnlib", max_mib=8)


def test_gpt_vocab_infinity_and_giant_integers(tmp_path):
    path = save_model(small_gpt(), tmp_path / "gpt.nnlib")
    text = zip_members(path)["config.json"].decode()
    for bad in ('"vocab_size": Infinity', '"vocab_size": ' + "9" * 5000, '"vocab_size": NaN'):
        changed = text.replace('"vocab_size": 12', bad)
        assert changed != text
        repack(path, tmp_path / "bad.nnlib", replace={"config.json": changed.encode()})
        refused(tmp_path / "bad.nnlib", match="config.json is not valid JSON")


def test_fuzzed_files_load_identically_or_raise_model_file_error(tmp_path):
    gpt = small_gpt(n_layers=1)
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
