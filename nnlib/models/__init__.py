"""Chapters 06-07 (and 12): models: ``Sequential``, the training API, ``load_model``.

    from nnlib.models import Sequential, load_model

``Sequential`` (chapter 06) stacks layers; every model gets ``compile``,
``fit``, ``evaluate``, ``predict`` and ``save`` from :class:`Model`
(chapter 07); ``save_model``/``load_model`` write and rebuild ANY registered
model (``Sequential``, the GPT of chapter 12, classes decorated with
``register_model``) in one file format (see :mod:`nnlib.io`), without running
code from the file. The GPT of chapter 12 (``nnlib.gpt``) is re-exported here too.
"""
from .training import Model, TrainingError
from .sequential import Sequential
from .saving import load_model, load_weights, register_model, save_model, save_weights
from ..callbacks import History

__all__ = [
    "Model", "Sequential", "History", "TrainingError", "load_model", "save_model", "save_weights",
    "load_weights", "register_model",
]

try:  # chapter 12's GPT lives in nnlib/gpt.py (written separately); re-exported when present
    from ..gpt import GPT, GPTConfig  # noqa: F401
except ImportError as _exc:  # pragma: no cover - before nnlib.gpt exists, or while it is broken
    if getattr(_exc, "name", None) != "nnlib.gpt":
        import warnings as _warnings

        _warnings.warn(f"nnlib.models: nnlib.gpt exists but could not be imported ({_exc}); "
                       "GPT is not available from nnlib.models", ImportWarning, stacklevel=2)
else:
    __all__ += ["GPT", "GPTConfig"]

# Chapter 14's quantized layers and GPT register themselves, so load_model reads quantized files too.
from .. import quantize as _quantize  # noqa: E402,F401
