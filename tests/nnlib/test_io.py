"""Chapters 07 and 14: the safe archive format, model save/load, and hostile or broken files."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

import nnlib
import nnlib.io as nio
from nnlib import optim, regularizers
from nnlib.io import ModelFileError, load_archive, save_archive
from nnlib.layers import BatchNormalization, Dense, Dropout
from nnlib.models import Sequential, load_model


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
    monkeypatch.setattr(nio, "_write_members", crash)
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


def _write_zip(path, members):
    """A zip as nnlib writes it (JSON deflated, .npz stored), with any members (format 1: no member list)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name.endswith(".npz")
                        else zipfile.ZIP_DEFLATED)


def _meta(**extra):
    return json.dumps({"format": "nnlib-archive", "format_version": 1, **extra}).encode()


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_pickle_inside_weights_is_refused(tmp_path):
    calls = []

    class Boom:
        def __reduce__(self):
            return (calls.append, ("pickle ran",))
    buf = io.BytesIO()
    np.savez(buf, w=np.array([Boom()], dtype=object))  # np.savez pickles object arrays
    path = tmp_path / "evil.h5"
    _write_zip(path, {"metadata.json": _meta(), "config.json": b"{}", "weights.npz": buf.getvalue()})
    with pytest.raises(ModelFileError, match="object arrays would need pickle"):
        load_archive(path)
    with pytest.raises(ModelFileError):
        load_model(path)
    assert calls == []


def test_unknown_class_in_config_is_refused_without_running_anything(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    path = tmp_path / "evil.h5"
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "os.system", "config": {"command": "echo hacked"}}]}}
    _write_zip(path, {"metadata.json": _meta(), "config.json": json.dumps(config).encode(),
                      "weights.npz": _npz()})
    with pytest.raises(ModelFileError, match="unknown layer class 'os.system'.*Dense"):
        load_model(path)
    config["class_name"] = "subprocess.Popen"
    _write_zip(path, {"metadata.json": _meta(), "config.json": json.dumps(config).encode(),
                      "weights.npz": _npz()})
    with pytest.raises(ModelFileError, match="unknown model class 'subprocess.Popen'"):
        load_model(path)
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"units": 2, "__init__": "x"}}]}}
    _write_zip(path, {"metadata.json": _meta(), "config.json": json.dumps(config).encode(),
                      "weights.npz": _npz()})
    with pytest.raises(ModelFileError, match=r"unknown argument\(s\) \['__init__'\]"):
        load_model(path)
    config["config"]["layers"][0]["config"] = {"units": 2, "activation": "__import__"}
    _write_zip(path, {"metadata.json": _meta(), "config.json": json.dumps(config).encode(),
                      "weights.npz": _npz()})
    with pytest.raises(ModelFileError, match="unknown activation"):
        load_model(path)
    assert calls == []


def test_giant_members_are_refused(tmp_path):
    path = tmp_path / "bomb.h5"
    zeros = np.zeros(2_000_000, dtype=np.float32)  # 8 MB of zeros compress to ~8 KB
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", _meta())
        zf.writestr("config.json", b"{}")
        zf.writestr("weights.npz", _npz(w=zeros))  # deflated arrays: nnlib never writes them
    assert path.stat().st_size < 200_000
    with pytest.raises(ModelFileError, match="must be stored uncompressed"):
        load_archive(path)
    _write_zip(path, {"metadata.json": _meta(), "config.json": b"{}", "weights.npz": _npz(w=zeros)})
    with pytest.raises(ModelFileError, match="more than the allowed"):
        load_archive(path, max_bytes=1_000_000)
    assert load_archive(path).arrays["w"].shape == (2_000_000,)
    # a JSON member larger than the JSON cap
    _write_zip(path, {"metadata.json": _meta(), "config.json": b" " * (4 * 1024 ** 2 + 1),
                      "weights.npz": _npz()})
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
    _write_zip(path, {"metadata.json": _meta(), "config.json": b"{}", "weights.npz": buf.getvalue()})
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
    members = {"metadata.json": _meta(), "config.json": b"{}", "weights.npz": _npz(w=np.ones(2))}
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
    _write_zip(path, members)
    with pytest.raises(ModelFileError, match=pattern):
        load_archive(path)


# ---------------------------------------------------------------------- models
def _trained_model(tmp_path=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.float32)
    nnlib.manual_seed(0)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,), kernel_regularizer=regularizers.l2(1e-3)),
                        BatchNormalization(), Dropout(0.1), Dense(1, activation="sigmoid")], name="clf")
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model, x, y


def test_model_round_trip_predicts_identically_and_resumes_training(tmp_path):
    model, x, y = _trained_model()
    path = tmp_path / "final_model.h5"
    model.save(path)
    loaded = load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "BatchNormalization", "Dropout", "Dense"]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.name == "clf" and loaded.compiled
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].kernel_regularizer.l2 == 1e-3
    assert loaded.optimizer.param_groups[0]["eps"] == 1e-7
    state = model.optimizer.state_dict()["state"]
    restored = loaded.optimizer.state_dict()["state"]
    assert restored.keys() == state.keys() and restored[0]["step"] == state[0]["step"] == 6
    # training continues identically: same optimizer state, same shuffling
    nnlib.manual_seed(1)
    a = model.fit(x, y, epochs=2, verbose=0).history["loss"]
    nnlib.manual_seed(1)
    b = loaded.fit(x, y, epochs=2, verbose=0).history["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-6)
    for wa, wb in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(loaded.evaluate(x, y, verbose=0))


def test_model_save_variants(tmp_path):
    model, x, _ = _trained_model()
    model.save(tmp_path / "no_opt.nnlib", include_optimizer=False)
    with zipfile.ZipFile(tmp_path / "no_opt.nnlib") as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "weights.npz"]
    assert load_model(tmp_path / "no_opt.nnlib").compiled
    assert not load_model(tmp_path / "no_opt.nnlib", compile=False).compiled
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "no_opt.nnlib", overwrite=False)
    model.compile(optim.SGD(lr=0.1), lambda yt, yp: ((yp - yt) * (yp - yt)).mean())
    with pytest.warns(UserWarning, match="uncompiled"):
        model.save(tmp_path / "custom.zip")
    loaded = load_model(tmp_path / "custom.zip")
    assert not loaded.compiled
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.compile(optim.SGD(model.parameters(), lr=0.1), "mse")  # the user's own parameter groups
    with pytest.warns(UserWarning, match="state is not saved"):
        model.save(tmp_path / "own_groups.zip")
    assert load_model(tmp_path / "own_groups.zip").optimizer.lr == 0.1
    unbuilt = Sequential([Dense(3), Dense(1)])
    unbuilt.save(tmp_path / "unbuilt.zip")
    assert not load_model(tmp_path / "unbuilt.zip").built
    model.save_weights(tmp_path / "w.zip")
    with pytest.raises(ModelFileError, match="only weights"):
        load_model(tmp_path / "w.zip")


def _rewrite(path, out, config=None, arrays=None):
    """Copy an archive, replacing config.json and/or some weights (as an attacker or a bug would)."""
    archive = load_archive(path)
    weights = dict(archive.arrays)
    weights.update(arrays or {})
    save_archive(out, config or archive.config, weights)


def test_model_file_mismatches_are_named(tmp_path):
    model, _, _ = _trained_model()
    path = tmp_path / "m.zip"
    model.save(path, include_optimizer=False)
    _rewrite(path, tmp_path / "shape.zip", arrays={"layers.0.kernel": np.zeros((5, 8), np.float32)})
    with pytest.raises(ModelFileError, match=r"'layers.0.kernel' has shape \(5, 8\).*\(4, 8\)"):
        load_model(tmp_path / "shape.zip")
    _rewrite(path, tmp_path / "dtype.zip", arrays={"layers.0.kernel": np.zeros((4, 8), np.int32)})
    with pytest.raises(ModelFileError, match="'layers.0.kernel' has dtype int32.*float32"):
        load_model(tmp_path / "dtype.zip")
    _rewrite(path, tmp_path / "extra.zip", arrays={"layers.9.kernel": np.zeros(1, np.float32)})
    with pytest.raises(ModelFileError, match=r"unexpected \['layers.9.kernel'\]"):
        load_model(tmp_path / "extra.zip")
    config = load_archive(path).config
    config["config"]["layers"] = config["config"]["layers"][:2]
    _rewrite(path, tmp_path / "missing.zip", config=config)
    with pytest.raises(ModelFileError, match="unexpected"):
        load_model(tmp_path / "missing.zip")
    config = load_archive(path).config
    config["compile_config"]["optimizer"]["class_name"] = "builtins.eval"
    _rewrite(path, tmp_path / "opt.zip", config=config)
    with pytest.raises(ModelFileError, match="unknown optimizer"):
        load_model(tmp_path / "opt.zip")
    config = load_archive(path).config
    config["build_input_shape"] = "big"
    _rewrite(path, tmp_path / "shape2.zip", config=config)
    with pytest.raises(ModelFileError, match="build_input_shape"):
        load_model(tmp_path / "shape2.zip")


# ---------------------------------------------------------------------- damaged bytes (review)
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
        zf.writestr(info, _meta())
    with pytest.raises(ModelFileError, match="damaged or was tampered"):
        load_archive(path)


def test_random_damage_never_escapes_as_another_error(tmp_path):
    model, _, _ = _trained_model()
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


@pytest.mark.parametrize("where", ["model", "layer", "optimizer", "loss"])
def test_non_string_class_names_are_model_file_errors(tmp_path, where):
    model, _, _ = _trained_model()
    path = tmp_path / "m.zip"
    model.save(path, include_optimizer=False)
    config = load_archive(path).config
    target = {"model": config, "layer": config["config"]["layers"][0],
              "optimizer": config["compile_config"]["optimizer"], "loss": config["compile_config"]["loss"]}[where]
    target["class_name"] = ["Dense"]  # a list is unhashable: a dict lookup would raise TypeError
    _rewrite(path, tmp_path / "bad.zip", config=config)
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "bad.zip")


@pytest.mark.parametrize("layer,change,pattern", [
    (0, {"units": 2 ** 40}, "cannot be rebuilt|weight values"),   # a kernel of 2**42 values: no memory for it
    (0, {"units": 10 ** 30}, "cannot be rebuilt|weight values"),  # not even an index-sized integer
    (0, {"units": 100_000}, "holds .* weight values"),       # 400,000 values where the file has 89
    (1, {"axis": 5}, "axis 5"),                              # out of range: was an IndexError
    (1, {"dtype": "int64"}, "must be a float"),              # integer weights: compile() would raise TypeError
])
def test_tampered_layer_configs_are_model_file_errors(tmp_path, layer, change, pattern):
    model, _, _ = _trained_model()
    path = tmp_path / "m.zip"
    model.save(path, include_optimizer=False)
    config = load_archive(path).config
    config["config"]["layers"][layer]["config"].update(change)
    _rewrite(path, tmp_path / "tampered.zip", config=config)
    with pytest.raises(ModelFileError, match=pattern):
        load_model(tmp_path / "tampered.zip")


def test_model_trained_with_a_scheduler_saves_and_loads(tmp_path):
    model, x, y = _trained_model()
    scheduler = optim.StepLR(model.optimizer, step_size=1, gamma=0.5)  # adds 'initial_lr' to the group
    model.fit(x, y, epochs=1, verbose=0)
    scheduler.step()
    model.save(tmp_path / "m.zip")
    loaded = load_model(tmp_path / "m.zip")
    assert loaded.optimizer.lr == pytest.approx(model.optimizer.lr)
    assert loaded.optimizer.param_groups[0]["initial_lr"] == model.optimizer.param_groups[0]["initial_lr"]
    resumed = optim.StepLR(loaded.optimizer, step_size=1, gamma=0.5, last_epoch=scheduler.last_epoch)
    assert resumed.get_last_lr() == pytest.approx([0.25 * 1e-3])



def test_atomic_write_gives_usual_permissions_and_cleans_up(tmp_path):
    reference = tmp_path / "plain.bin"
    reference.write_bytes(b"x")  # created the ordinary way: 0o666 less the umask
    path = tmp_path / "m.h5"
    save_archive(path, {}, {"w": np.ones(2)})
    assert path.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777
    assert nio.atomic_write(tmp_path / "a.txt", lambda f: f.write(b"hello")) == str(tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_bytes() == b"hello"

    def half_then_fail(f):
        f.write(b"half")
        raise ValueError("no more")
    with pytest.raises(ValueError, match="no more"):
        nio.atomic_write(tmp_path / "a.txt", half_then_fail)
    assert (tmp_path / "a.txt").read_bytes() == b"hello"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "m.h5", "plain.bin"]
