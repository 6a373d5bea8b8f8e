"""Chapters 06-07 (and 12): models: ``Sequential``, the training API, ``load_model``.

    from nnlib.models import Sequential, load_model

``Sequential`` (chapter 06) stacks layers; every model gets ``compile``,
``fit``, ``evaluate``, ``predict`` and ``save`` from :class:`Model`
(chapter 07); ``save_model``/``load_model`` write and rebuild ANY registered
model (``Sequential``, the GPT of chapter 12, the quantized models of chapter 14,
classes decorated with ``register_model``) in one file format (see
:mod:`nnlib.saving`), without running code from the file. The GPT of chapter 12
(``nnlib.gpt``) is re-exported here too.
"""
from .training import Model, TrainingError
from .sequential import Sequential
from ..saving.model_file import load_model, load_weights, save_model, save_weights
from ..saving.registry import register_model
from ..callbacks import History
from ..gpt import GPT, GPTConfig

__all__ = [
    "Model", "Sequential", "History", "TrainingError", "load_model", "save_model", "save_weights",
    "load_weights", "register_model", "GPT", "GPTConfig",
]
