"""Chapters 07 and 14: nnlib.saving.registry: the only classes a file may name, nnlib's own found on demand."""
import os
import subprocess
import sys

import pytest

from nnlib.quantize import quantize_model
from nnlib.saving.registry import BUILTIN_MODULES, register_layer, register_model, registered_layers, registered_models
from tests import REPO_ROOT
from tests.nnlib.saving.hostile import small_gpt

ROOT = str(REPO_ROOT)


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_load_model_reads_a_quantized_gpt_without_importing_quantize_first(tmp_path):
    model = quantize_model(small_gpt())
    path = model.save(tmp_path / "q.nnlib")
    code = ("import sys; import nnlib.models as m\n"
            "before = 'nnlib.quantize' in sys.modules\n"
            f"model = m.load_model({str(path)!r})\n"
            "print(before, type(model).__name__, type(model).__module__)")
    assert _run(code) == "False QuantizedGPT nnlib.quantize"


def test_every_registered_nnlib_class_has_its_module_listed():
    classes = {**registered_layers(), **registered_models()}
    assert {"Dense", "QuantizedDense", "Sequential", "GPT", "QuantizedGPT"} <= set(classes)
    for name, cls in classes.items():
        if cls.__module__.startswith("nnlib."):
            assert any(cls.__module__ == m or cls.__module__.startswith(m + ".") for m in BUILTIN_MODULES), (
                f"{name} is defined in {cls.__module__}, which nnlib.saving.registry.BUILTIN_MODULES does not list")


def test_registries_take_only_what_they_can_rebuild():
    with pytest.raises(TypeError, match="Layer subclass"):
        register_layer(dict)
    with pytest.raises(TypeError, match="get_config/from_config"):
        register_model(dict)
    assert "Dense" in registered_layers() and registered_layers() is not registered_layers()
