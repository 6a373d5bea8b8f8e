"""Chapter 07: nnlib.saving.config: a file's layer configs are checked before anything is built."""
import json
import time

import pytest

import nnlib
from nnlib.layers import Dense, Dropout, Embedding
from nnlib.models import Sequential, load_model
from tests.nnlib.saving.hostile import config_of, refused, repack, small_sequential


@pytest.mark.parametrize("change", [
    {"input_shape": [16_000_000]},       # Dense kernel 16M x 4
    {"units": 100_000_000},
])
def test_huge_dense_configs_are_refused_before_allocating(tmp_path, change):
    model = small_sequential(compiled=False)
    path = tmp_path / "m.nnlib"
    model.save(path)
    config = config_of(path)
    config["config"]["layers"][0]["config"].update(change)
    if "input_shape" in change:
        config["build_input_shape"] = [None, 16_000_000]
    repack(path, tmp_path / "bad.nnlib", replace={"config.json": json.dumps(config).encode()})
    refused(tmp_path / "bad.nnlib", match="weight values", max_mib=8)


def test_huge_embedding_config_is_refused_before_allocating(tmp_path):
    nnlib.manual_seed(0)
    model = Sequential([Embedding(10, 4), Dense(2)])
    model.build((None, 5))
    path = model.save(tmp_path / "emb.nnlib") or tmp_path / "emb.nnlib"
    config = config_of(path)
    config["config"]["layers"][0]["config"].update(input_dim=10_000_000, output_dim=16)
    repack(path, tmp_path / "bad.nnlib", replace={"config.json": json.dumps(config).encode()})
    refused(tmp_path / "bad.nnlib", match="weight values", max_mib=8)


def test_many_dropout_layers_load_in_linear_time(tmp_path):
    model = Sequential([Dense(2, input_shape=(2,))] + [Dropout(0.1) for _ in range(1500)])
    model.save(tmp_path / "deep.nnlib")
    start = time.perf_counter()
    loaded = load_model(tmp_path / "deep.nnlib")
    assert time.perf_counter() - start < 3.0
    assert len(loaded.layers) == 1501
    config = config_of(tmp_path / "deep.nnlib")
    config["config"]["layers"] += [{"class_name": "Dropout", "config": {"rate": 0.1}}] * 10_000
    repack(tmp_path / "deep.nnlib", tmp_path / "deeper.nnlib", replace={"config.json": json.dumps(config).encode()})
    refused(tmp_path / "deeper.nnlib", match="layers, more than")
