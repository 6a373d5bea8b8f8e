"""Chapter 10: the shipped pretrained digits model, the seed's fine-tuning program, trainable semantics."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import nnlib
from nnlib.datasets import data_path
from nnlib.layers import BatchNormalization, Dense, Dropout
from nnlib.models import load_model

ROOT = data_path("checkpoints/digits_0to4.nnlib").parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("pretrain_digits", ROOT / "scripts" / "pretrain_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return _script()


def test_shipped_checkpoint_loads_and_knows_digits_0_to_4(script):
    model = load_model(data_path("checkpoints/digits_0to4.nnlib"))
    assert [layer.name for layer in model.layers] == ["hidden1", "bn1", "hidden2", "dropout", "head"]
    assert isinstance(model.layers[1], BatchNormalization) and isinstance(model.layers[3], Dropout)
    _, X_test, _, y_test = script.source_split()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.evaluate(X_test, y_test, verbose=0)[1] >= 0.97


def test_recipe_reaches_the_shipped_models_accuracy_under_this_blas(script):
    # Behaviour, on any machine: retrained weights differ from the file's under another
    # BLAS kernel (training amplifies last-bit differences), but the accuracy range holds.
    model, acc = script.pretrain()
    assert script.MIN_ACCURACY <= acc <= 1.0
    shipped = load_model(data_path("checkpoints/digits_0to4.nnlib"))
    assert [w.shape for w in model.get_weights()] == [w.shape for w in shipped.get_weights()]


def test_checkpoint_records_the_blas_it_was_trained_with(script):
    recorded = script.trained_with()
    assert set(recorded) == {"numpy", "library", "version", "kernel"}
    assert recorded["library"] == "openblas" and recorded["kernel"]


def test_recipe_is_bit_identical_under_the_recorded_blas(script):
    # Bit-identity is a claim about one BLAS build and kernel: the one in the file's
    # metadata. Where this machine has that build, force the kernel and retrain.
    recorded, here = script.trained_with(), script.blas_build()
    same_build = {k: here[k] for k in ("numpy", "library", "version")} == \
        {k: recorded[k] for k in ("numpy", "library", "version")}
    if not same_build:
        pytest.skip(f"this NumPy/OpenBLAS ({here}) is not the build the file was trained with ({recorded})")
    if recorded["kernel"] == "SkylakeX" and "avx512f" not in _cpu_flags():
        pytest.skip("this CPU cannot run the SkylakeX kernel the file was trained with")
    env = dict(os.environ, OPENBLAS_CORETYPE=recorded["kernel"], OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "pretrain_digits.py"), "--check"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "weights identical" in done.stdout, done.stdout + done.stderr


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def test_seed_program_5_5_runs_verbatim(script, tmp_path):
    X_pool, _, y_pool, _ = script.target_split()
    X_train, y_train = X_pool[:100], ((y_pool[:100] + 5) % 2).astype(np.float32)
    nnlib.manual_seed(0)
    # ---- the seed's section 5.5, only the import and the file name changed
    pretrained_model = load_model(str(data_path("checkpoints/digits_0to4.nnlib")))
    for layer in pretrained_model.layers[:-2]:
        layer.trainable = False
    pretrained_model.add(Dense(64, activation='relu'))
    pretrained_model.add(Dense(1, activation='sigmoid'))
    pretrained_model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
    history = pretrained_model.fit(X_train, y_train, epochs=10, batch_size=32, validation_split=0.2, verbose=0)
    # ----
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 10
    frozen = [layer.name for layer in pretrained_model.layers if not layer.trainable]
    assert frozen == ["hidden1", "bn1", "hidden2"]
    shipped = load_model(data_path("checkpoints/digits_0to4.nnlib"))
    for layer, ref in zip(pretrained_model.layers[:3], shipped.layers[:3]):
        for a, b in zip(layer.get_weights(), ref.get_weights()):  # frozen weights AND frozen BN statistics
            assert np.array_equal(a, b), layer.name


def test_trainable_takes_effect_at_the_next_compile():
    nnlib.manual_seed(0)
    model = load_model(data_path("checkpoints/digits_0to4.nnlib"))
    model.pop()
    model.add(Dense(5, activation="softmax", name="new_head"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64)).astype(np.float32), rng.integers(0, 5, 40)
    model.layers[0].trainable = False
    before = model.layers[0].kernel.data.copy()
    model.fit(X, y, epochs=1, batch_size=20, verbose=0)
    assert not np.array_equal(before, model.layers[0].kernel.data)  # the old snapshot still trains hidden1
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = model.layers[0].kernel.data.copy()
    head_before = model.layers[-1].kernel.data.copy()
    model.fit(X, y, epochs=1, batch_size=20, verbose=0)
    assert np.array_equal(before, model.layers[0].kernel.data)
    assert not np.array_equal(head_before, model.layers[-1].kernel.data)


def test_frozen_batchnorm_is_in_inference_mode_and_dropout_is_not_affected():
    model = load_model(data_path("checkpoints/digits_0to4.nnlib"))
    bn, drop = model.layers[1], model.layers[3]
    x = nnlib.Tensor(np.random.default_rng(0).random((8, 128)).astype(np.float32))
    model.train()
    bn.trainable = False
    moving = bn.moving_mean.copy()
    assert np.array_equal(bn(x).data, bn(x, training=False).data)
    assert np.array_equal(moving, bn.moving_mean)
    drop.trainable = False
    assert (drop(nnlib.Tensor(np.ones((4, 64), np.float32))).data == 0).any()
