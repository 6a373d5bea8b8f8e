"""Chapters 07, 12 and 14: nnlib.saving.model_file: save_model/load_model for every model, and files that lie."""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import nnlib
from nnlib import optim
from nnlib.gpt import GPT
from nnlib.layers import Dense
from nnlib.models import Sequential, load_model, save_model
from nnlib.saving.archive import load_archive, save_archive
from nnlib.saving.files import ModelFileError
from nnlib.text import CharTokenizer
from tests import REPO_ROOT
from tests.nnlib.saving.hostile import (config_of, meta_json, npz_bytes, refused, repack, small_gpt, small_sequential,
                                        trained_model, write_zip, zip_members)

ROOT = str(REPO_ROOT)


def test_unknown_class_in_config_is_refused_without_running_anything(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    path = tmp_path / "evil.h5"
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "os.system", "config": {"command": "echo hacked"}}]}}
    write_zip(path, {"metadata.json": meta_json(), "config.json": json.dumps(config).encode(),
                      "weights.npz": npz_bytes()})
    with pytest.raises(ModelFileError, match="unknown layer class 'os.system'.*Dense"):
        load_model(path)
    config["class_name"] = "subprocess.Popen"
    write_zip(path, {"metadata.json": meta_json(), "config.json": json.dumps(config).encode(),
                      "weights.npz": npz_bytes()})
    with pytest.raises(ModelFileError, match="unknown model class 'subprocess.Popen'"):
        load_model(path)
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"units": 2, "__init__": "x"}}]}}
    write_zip(path, {"metadata.json": meta_json(), "config.json": json.dumps(config).encode(),
                      "weights.npz": npz_bytes()})
    with pytest.raises(ModelFileError, match=r"unknown argument\(s\) \['__init__'\]"):
        load_model(path)
    config["config"]["layers"][0]["config"] = {"units": 2, "activation": "__import__"}
    write_zip(path, {"metadata.json": meta_json(), "config.json": json.dumps(config).encode(),
                      "weights.npz": npz_bytes()})
    with pytest.raises(ModelFileError, match="unknown activation"):
        load_model(path)
    assert calls == []


def test_model_round_trip_predicts_identically_and_resumes_training(tmp_path):
    model, x, y = trained_model()
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
    model, x, _ = trained_model()
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
    model, _, _ = trained_model()
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


@pytest.mark.parametrize("where", ["model", "layer", "optimizer", "loss"])
def test_non_string_class_names_are_model_file_errors(tmp_path, where):
    model, _, _ = trained_model()
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
    model, _, _ = trained_model()
    path = tmp_path / "m.zip"
    model.save(path, include_optimizer=False)
    config = load_archive(path).config
    config["config"]["layers"][layer]["config"].update(change)
    _rewrite(path, tmp_path / "tampered.zip", config=config)
    with pytest.raises(ModelFileError, match=pattern):
        load_model(tmp_path / "tampered.zip")


def test_model_trained_with_a_scheduler_saves_and_loads(tmp_path):
    model, x, y = trained_model()
    scheduler = optim.StepLR(model.optimizer, step_size=1, gamma=0.5)  # adds 'initial_lr' to the group
    model.fit(x, y, epochs=1, verbose=0)
    scheduler.step()
    model.save(tmp_path / "m.zip")
    loaded = load_model(tmp_path / "m.zip")
    assert loaded.optimizer.lr == pytest.approx(model.optimizer.lr)
    assert loaded.optimizer.param_groups[0]["initial_lr"] == model.optimizer.param_groups[0]["initial_lr"]
    resumed = optim.StepLR(loaded.optimizer, step_size=1, gamma=0.5, last_epoch=scheduler.last_epoch)
    assert resumed.get_last_lr() == pytest.approx([0.25 * 1e-3])


def test_load_model_loads_gpt_and_sequential_alike(tmp_path):
    gpt = small_gpt()
    path = save_model(gpt, tmp_path / "gpt.nnlib", metadata={"steps": 3})
    loaded = load_model(path)
    assert type(loaded) is GPT and not loaded.training
    assert loaded.config == gpt.config and loaded.metadata["steps"] == 3
    assert loaded.tokenizer.chars == gpt.tokenizer.chars
    for key, value in gpt.state_dict().items():
        assert loaded.state_dict()[key].tobytes() == value.tobytes()
    assert type(GPT.load(path)) is GPT  # the wrapper reads the same file
    seq = small_sequential()
    seq.save(tmp_path / "seq.nnlib")
    assert type(load_model(tmp_path / "seq.nnlib")) is Sequential
    with pytest.raises(ModelFileError, match="not a GPT"):
        GPT.load(tmp_path / "seq.nnlib")
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "weights.npz", "tokenizer.json"]


def test_every_shipped_checkpoint_loads_with_load_model():
    paths = sorted((REPO_ROOT / "data" / "checkpoints").glob("*.nnlib"))
    assert {p.name for p in paths} >= {"digits_0to4.nnlib", "gpt_char.nnlib"}
    for path in paths:
        assert load_archive(path).metadata["format_version"] == 2, path
        model = load_model(path)
        assert type(model) in (GPT, Sequential), path
    model = load_model(REPO_ROOT / "data" / "checkpoints" / "gpt_char.nnlib")
    assert type(model) is GPT and isinstance(model.tokenizer, CharTokenizer)
    assert model.tokenizer.vocab_size == model.config.vocab_size == 96


def test_lora_models_are_refused_with_the_fix_named(tmp_path):
    from nnlib.lora import apply_lora, merge_lora

    gpt = small_gpt()
    apply_lora(gpt, rank=2)
    with pytest.raises(ValueError, match="merge_lora"):
        save_model(gpt, tmp_path / "lora.nnlib")
    with pytest.raises(ValueError, match="merge_lora"):
        gpt.save(tmp_path / "lora.nnlib")
    assert not (tmp_path / "lora.nnlib").exists()
    merge_lora(gpt)
    assert type(load_model(save_model(gpt, tmp_path / "merged.nnlib"))) is GPT


def test_the_model_file_module_imports_no_model_class():
    import ast

    import nnlib.saving.model_file as model_file

    tree = ast.parse(open(model_file.__file__, encoding="utf-8").read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(m and ("sequential" in m or "gpt" in m or "training" in m or "quantize" in m)
                   for m in imported), imported
    code = "import nnlib.saving.model_file as s; import sys; print('Sequential' in dir(s))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT}, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_hidden_optimizer_members_are_refused(tmp_path):
    model = small_sequential()
    path = tmp_path / "m.nnlib"
    model.save(path)
    data = bytearray(path.read_bytes())
    # a flipped byte in the central directory's copy of the name "optimizer.npz"
    where = data.rfind(b"optimizer.npz")
    data[where] = ord("O")
    bad = tmp_path / "flipped.nnlib"
    bad.write_bytes(bytes(data))
    refused(bad, match="do not match its metadata")
    # the two optimizer members dropped, the member list left as written
    repack(path, tmp_path / "dropped.nnlib", drop=("optimizer.npz", "optimizer.json"), keep_member_list=True)
    refused(tmp_path / "dropped.nnlib", match="missing .*optimizer")
    # ... or dropped together with their entries in the list: one alone is refused, both need no compile state
    repack(path, tmp_path / "half.nnlib", drop=("optimizer.npz",))
    refused(tmp_path / "half.nnlib", match="only one of optimizer")
    repack(path, tmp_path / "extra.nnlib", replace={"notes.json": b"{}"})
    refused(tmp_path / "extra.nnlib", match="unexpected member")


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
    path = save_model(small_gpt(), tmp_path / "gpt.nnlib")
    config = config_of(path)
    config["config"].update(change)
    repack(path, tmp_path / "bad.nnlib", replace={"config.json": json.dumps(config).encode()})
    refused(tmp_path / "bad.nnlib", match=match, max_mib=8)


def test_gpt_weights_of_another_dtype_are_refused(tmp_path):
    gpt = small_gpt()
    path = save_model(gpt, tmp_path / "gpt.nnlib")
    weights = {k: v for k, v in load_archive(path).arrays.items()}
    for dtype in (np.float16, np.int8, np.bool_, np.float64):
        changed = dict(weights, **{"wpe.embeddings": weights["wpe.embeddings"].astype(dtype)})
        repack(path, tmp_path / "bad.nnlib", replace={"weights.npz": npz_bytes(**changed)})
        refused(tmp_path / "bad.nnlib", match="'wpe.embeddings' has dtype")
        with pytest.raises(ModelFileError, match="dtype"):
            GPT.load(tmp_path / "bad.nnlib")


def test_tokenizer_larger_than_the_vocabulary_is_refused(tmp_path):
    gpt = small_gpt()
    path = save_model(gpt, tmp_path / "gpt.nnlib")
    big = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz"))
    with pytest.raises(ValueError, match="more than the model's vocab_size=12"):
        gpt.tokenizer = big
    with pytest.raises(ValueError, match="more than the model's vocab_size=12"):
        save_model(gpt, tmp_path / "x.nnlib", tokenizer=big)
    repack(path, tmp_path / "bad.nnlib", replace={"tokenizer.json": json.dumps(big.to_dict()).encode()})
    refused(tmp_path / "bad.nnlib", match="more than the model's vocab_size")


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
    model = small_sequential()
    path = tmp_path / "m.nnlib"
    model.save(path)
    state = json.loads(zip_members(path)["optimizer.json"])
    if where == "step":
        state["scalars"]["0"]["step"] = value
    else:
        state["param_groups"][0][where] = value
    text = json.dumps(state)
    for constant in ("NaN", "Infinity"):
        text = text.replace(f'"{constant}"', constant)
    repack(path, tmp_path / "bad.nnlib", replace={"optimizer.json": text.encode()})
    refused(tmp_path / "bad.nnlib", match=match)


def test_unknown_metric_in_the_compile_settings_is_named(tmp_path):
    path = save_model(small_sequential(), tmp_path / "m.nnlib")
    config = config_of(path)
    config["compile_config"]["metrics"] = ["accurracy"]
    repack(path, tmp_path / "bad.nnlib", replace={"config.json": json.dumps(config).encode()})
    refused(tmp_path / "bad.nnlib", match=r"compile settings cannot be restored: unknown metric 'accurracy'")
    assert load_model(tmp_path / "bad.nnlib", compile=False).compiled is False
