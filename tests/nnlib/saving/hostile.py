"""Chapters 07 and 14: helpers the persistence tests share: small models and hand-made (hostile) files.

Not a test module: ``tests/nnlib/saving/test_*.py`` and ``tests/nnlib/test_export_hardening.py``
import from here.
"""
import io
import json
import os
import re
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import nnlib
from nnlib.gpt import GPT, GPTConfig
from nnlib import regularizers
from nnlib.layers import BatchNormalization, Dense, Dropout
from nnlib.models import Sequential, load_model
from nnlib.saving.files import ModelFileError
from nnlib.text import CharTokenizer


def write_zip(path, members):
    """A zip as nnlib writes it (JSON deflated, .npz stored), with any members.

    A metadata.json of nnlib's format gets the list of ``members`` as its member list.
    """
    members = dict(members)
    try:
        meta = json.loads(members.get("metadata.json", b""))
    except ValueError:
        meta = None
    if isinstance(meta, dict) and meta.get("format") == "nnlib-archive":
        members["metadata.json"] = json.dumps({**meta, "members": list(members)}).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name.endswith(".npz")
                        else zipfile.ZIP_DEFLATED)


def meta_json(**extra):
    """metadata.json of an archive holding metadata.json, config.json and weights.npz (``extra`` added)."""
    members = ["metadata.json", "config.json", "weights.npz"]
    return json.dumps({"format": "nnlib-archive", "format_version": 2, "members": members, **extra}).encode()


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def small_sequential(compiled=True):
    nnlib.manual_seed(0)
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)], name="small")
    if compiled:
        model.compile("adam", "mse")
        x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
        model.fit(x, x[:, :1], epochs=1, batch_size=4, verbose=0)
    return model


def small_gpt(**overrides):
    nnlib.manual_seed(0)
    config = dict(vocab_size=12, context_length=8, d_model=8, n_heads=2, n_layers=2)
    config.update(overrides)
    model = GPT(GPTConfig(**config))
    model.tokenizer = CharTokenizer(list("abcdefghijkl")[:config["vocab_size"]])
    return model


def zip_members(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def repack(path, out, replace=None, drop=(), keep_member_list=False):
    """Copy a model file with some members replaced/dropped, as nnlib writes zips (JSON deflated, npz stored).

    The member list in metadata.json is updated to match unless ``keep_member_list``.
    """
    members = zip_members(path)
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


def config_of(path) -> dict:
    return json.loads(zip_members(path)["config.json"])


def npy_of_zeros(count: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
    return buf.getvalue() + bytes(4 * count)


def refused(path, loader=load_model, error=ModelFileError, match=None, seconds=1.0, max_mib=None):
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
        assert re.search(match, str(info.value)), str(info.value)
    assert elapsed < seconds * (3 if os.environ.get("CI") else 1) + 0.5, f"took {elapsed:.2f} s"
    if max_mib is not None:
        assert peak < max_mib * 2 ** 20, f"peak {peak / 2 ** 20:.1f} MiB traced"
    return info.value


def fifo_or_skip(path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(path)


def trained_model():
    """A small compiled classifier (Dense with L2, BatchNormalization, Dropout) after two epochs: (model, x, y)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.float32)
    nnlib.manual_seed(0)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,), kernel_regularizer=regularizers.l2(1e-3)),
                        BatchNormalization(), Dropout(0.1), Dense(1, activation="sigmoid")], name="clf")
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model, x, y
