"""Chapter 07 (and 12, 14): the class registries, the only classes ``load_model`` builds from a file.

A file names its model and layer classes by name only; ``load_model`` looks each name up here
and nowhere else, so a file can never make nnlib import or call anything that was not
registered in code. nnlib's own classes register themselves where they are defined; which
module defines each of them is written down in :data:`BUILTIN_MODULES`, and
:func:`registered_layers` / :func:`registered_models` import those modules first, so that
``load_model`` finds a quantized GPT without anyone importing :mod:`nnlib.quantize` before.
"""
from __future__ import annotations

import importlib

__all__ = ["register_layer", "registered_layers", "register_model", "registered_models", "BUILTIN_MODULES"]

#: the nnlib modules that define (and register) the built-in layer and model classes; fixed in code,
#: never taken from a file
BUILTIN_MODULES = ("nnlib.layers", "nnlib.models.sequential", "nnlib.gpt", "nnlib.quantize")

#: the only layer classes ``load_model`` will build from a file (class name -> class)
_LAYERS: dict = {}
#: the only model classes ``load_model`` will build from a file (class name -> class)
_MODELS: dict = {}


def _import_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def register_layer(cls):
    """Chapter 07: allow ``load_model`` to rebuild layers of class ``cls`` (use as a decorator).

    Files name layers by class name only; ``load_model`` looks the name up
    here and nowhere else, so a file can never make nnlib import or call
    anything that was not registered in code.
    """
    from ..layers.base import Layer  # the layers register themselves while nnlib.layers is imported

    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer expects a Layer subclass, got {cls!r}")
    existing = _LAYERS.get(cls.__name__)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"register_layer: another class named {cls.__name__!r} ({existing.__module__}) is already registered"
        )
    _LAYERS[cls.__name__] = cls
    return cls


def registered_layers() -> dict:
    """Chapter 07: a copy of the whitelist of layer classes ``load_model`` may build (nnlib's own included)."""
    _import_builtins()
    return dict(_LAYERS)


def register_model(cls):
    """Chapter 07 (and 12): allow ``load_model`` to rebuild models of class ``cls`` (use as a decorator).

    The class needs ``get_config()`` and a classmethod ``from_config(config, **context)``
    that builds it from plain JSON values (``context``: ``weight_shapes``, the name ->
    shape of every array in the file, to check the config against BEFORE allocating;
    ``custom_objects``; ``build_input_shape``). ``Sequential`` and ``GPT`` register
    themselves; :mod:`nnlib.saving.model_file` knows no model class.
    """
    if not (isinstance(cls, type) and callable(getattr(cls, "from_config", None))
            and callable(getattr(cls, "get_config", None))):
        raise TypeError(f"register_model expects a class with get_config/from_config, got {cls!r}")
    existing = _MODELS.get(cls.__name__)
    if existing is not None and existing is not cls and (
            (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__)):
        raise ValueError(f"register_model: another class named {cls.__name__!r} ({existing.__module__}) "
                         "is already registered")
    _MODELS[cls.__name__] = cls
    return cls


def registered_models() -> dict:
    """Chapter 07: a copy of the whitelist of model classes ``load_model`` may build (nnlib's own included)."""
    _import_builtins()
    return dict(_MODELS)
