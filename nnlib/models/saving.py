"""Chapter 07 (and 14): ``model.save(path)`` and ``load_model(path)`` on nnlib's safe zip format.

The file (any extension, e.g. the seed's ``final_model.h5``) is one zip written
atomically by :func:`nnlib.io.save_archive`:

* ``config.json``: the class name and ``get_config()`` of the model and of
  every layer, the input shape it was built for, and the compile settings
  (optimizer class and hyperparameters, loss, metric names);
* ``weights.npz``: every weight by name (``layers.0.kernel`` ...);
* ``optimizer.json`` + ``optimizer.npz``: the optimizer state (step counts,
  moment estimates), so training resumes exactly where it stopped;
* ``metadata.json``: format version, nnlib version, date.

``load_model`` rebuilds the model from a whitelist: layer classes registered
with :func:`nnlib.layers.register_layer` (plus any ``custom_objects`` given in
code), optimizers SGD/RMSprop/Adam/AdamW, the built-in losses and metric names.
It never imports or evaluates a name from the file and never unpickles;
anything unexpected (unknown class, unknown argument, missing or extra weight,
wrong shape or dtype) raises :class:`nnlib.io.ModelFileError` naming it.
"""
from __future__ import annotations

import inspect
import os
import warnings

import numpy as np

from .. import keras_losses, optim
from ..io import ModelFileError, load_archive, save_archive
from ..layers.base import Layer, registered_layers
from . import _metrics
from .sequential import Sequential

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "register_model"]

_MODEL_CLASSES = {"Sequential": Sequential}
_OPTIMIZERS = {cls.__name__: cls for cls in (optim.SGD, optim.RMSprop, optim.Adam, optim.AdamW)}


def register_model(cls):
    """Chapter 12: allow ``load_model`` to rebuild a model class.

    The class needs ``get_config()`` and a classmethod ``from_config(config)``
    that builds it from plain JSON values.
    """
    if not (isinstance(cls, type) and hasattr(cls, "from_config") and hasattr(cls, "get_config")):
        raise TypeError(f"register_model expects a class with get_config/from_config, got {cls!r}")
    _MODEL_CLASSES[cls.__name__] = cls
    return cls


# ---------------------------------------------------------------------- saving
def _compile_config(model):
    """(compile settings as JSON or None, optimizer JSON, optimizer arrays)."""
    if not getattr(model, "compiled", False):
        return None
    opt = model.optimizer
    problems = []
    opt_cls = type(opt).__name__
    if _OPTIMIZERS.get(opt_cls) is not type(opt):
        problems.append(f"optimizer {opt_cls}")
    loss = keras_losses.serialize(model.loss)
    if loss is None:
        problems.append(f"loss {model.loss!r}")
    metrics = []
    for m in model._metric_specs:
        if isinstance(m, str):
            metrics.append(m)
        else:
            problems.append(f"metric {getattr(m, '__name__', m)!r}")
    if problems:
        warnings.warn(
            "save(): the compile settings cannot be saved (custom " + ", ".join(problems) + "); load_model will "
            "return an uncompiled model: call compile() again after loading", stacklevel=3)
        return None
    accepted = _hyperparameter_names(type(opt))
    hyper = {k: (list(v) if isinstance(v, tuple) else v)
             for k, v in (opt.param_groups[0] if opt.param_groups else opt.defaults).items() if k in accepted}
    return {"optimizer": {"class_name": opt_cls, "config": hyper}, "loss": loss, "metrics": metrics}


def _hyperparameter_names(cls) -> set:
    """The keyword arguments of an optimizer class's constructor (its hyperparameters)."""
    return {n for n in inspect.signature(cls.__init__).parameters if n not in ("self", "params")}


def _optimizer_state(opt):
    state = opt.state_dict()
    groups = []
    for group in state["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()})
    scalars, arrays = {}, {}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, np.ndarray) and value.ndim > 0:
                arrays[f"{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value.item() if isinstance(value, np.generic) else value
    return {"param_groups": groups, "scalars": scalars}, arrays


def _model_config(model) -> dict:
    cls_name = type(model).__name__
    if _MODEL_CLASSES.get(cls_name) is not type(model):
        raise TypeError(f"save(): model class {cls_name} is not registered for saving (see register_model)")
    shape = getattr(model, "_build_input_shape", None)
    return {
        "class_name": cls_name,
        "config": model.get_config(),
        "build_input_shape": None if shape is None else list(shape),
    }


def _check_overwrite(path: str, overwrite: bool) -> None:
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Chapter 07: write ``model`` (architecture, weights, compile settings, optimizer state) to one zip file."""
    path = os.fspath(filepath)
    _check_overwrite(path, overwrite)
    config = _model_config(model)
    compile_config = _compile_config(model)
    config["compile_config"] = compile_config
    extra_arrays, extra_json = {}, {}
    opt = getattr(model, "optimizer", None)
    if include_optimizer and compile_config is not None:
        if len(opt.param_groups) != 1 or getattr(opt, "_nnlib_model_id", None) != id(model):
            warnings.warn("save(): the optimizer was built with its own parameter groups, so its state is not "
                          "saved; the loaded model starts with a fresh optimizer", stacklevel=3)
            include_optimizer = False
    if include_optimizer and compile_config is not None:
        opt_json, opt_arrays = _optimizer_state(opt)
        extra_json["optimizer"] = opt_json
        extra_arrays["optimizer"] = opt_arrays
    save_archive(path, config, dict(model.state_dict()), metadata={"model_class": config["class_name"]},
                 extra_arrays=extra_arrays, extra_json=extra_json)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Chapter 07: write only the weights of ``model`` (restore with ``load_weights``)."""
    path = os.fspath(filepath)
    _check_overwrite(path, overwrite)
    shape = getattr(model, "_build_input_shape", None)
    config = {"kind": "weights", "class_name": type(model).__name__,
              "build_input_shape": None if shape is None else list(shape)}
    save_archive(path, config, dict(model.state_dict()), metadata={"model_class": type(model).__name__})


# ---------------------------------------------------------------------- loading
#: what rebuilding a layer or model from a tampered config can raise: bad values (TypeError,
#: ValueError), an axis or index out of range (IndexError), sizes beyond any integer NumPy
#: takes (OverflowError) or beyond the memory there is (MemoryError)
_REBUILD_ERRORS = (TypeError, ValueError, KeyError, IndexError, OverflowError, MemoryError)


def _fail(path, message) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


def _lookup(whitelist: dict, name):
    """``whitelist[name]`` for a string ``name`` in it, else None (a file may hold any JSON value)."""
    return whitelist.get(name) if isinstance(name, str) else None


def _weight_count(arrays: dict) -> int:
    return sum(int(np.prod(np.shape(a), dtype=object)) for a in arrays.values())


def _check_shape_list(value, path, what) -> tuple | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > 8 or not all(
            v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2 ** 31) for v in value):
        raise _fail(path, f"{what} must be a list like [null, 30], got {value!r}")
    return tuple(value)


def _constructor_kwargs(cls, config: dict, path, where: str) -> dict:
    if not isinstance(config, dict):
        raise _fail(path, f"{where}: config must be a JSON object, got {type(config).__name__}")
    signature = inspect.signature(cls.__init__)
    accepted = {n for n, p in signature.parameters.items()
                if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise _fail(path, f"{where}: unknown argument(s) {unknown} for {cls.__name__} (accepted: {sorted(accepted)})")
    for key, value in config.items():
        if not _plain_json(value):
            raise _fail(path, f"{where}: argument {key!r} has an unexpected value {value!r}")
    return config


def _plain_json(value, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return len(value) <= 64 and all(_plain_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= 64 and all(isinstance(k, str) and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def _build_sequential(config, custom_objects, path, stored_values: int) -> Sequential:
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise _fail(path, "the Sequential config has no 'layers' list")
    known = registered_layers()
    for name, cls in (custom_objects or {}).items():
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise TypeError(f"load_model: custom_objects[{name!r}] must be a Layer subclass, got {cls!r}")
        known[name] = cls
    name = config.get("name")
    trainable = config.get("trainable", True)
    if name is not None and not isinstance(name, str) or not isinstance(trainable, bool):
        raise _fail(path, "the Sequential config has an invalid name or trainable flag")
    unexpected = sorted(set(config) - {"name", "trainable", "layers"})
    if unexpected:
        raise _fail(path, f"the Sequential config has unexpected entries {unexpected}")
    model = Sequential(name=name, trainable=trainable)
    for i, entry in enumerate(config["layers"]):
        if not isinstance(entry, dict) or set(entry) != {"class_name", "config"}:
            raise _fail(path, f"layer {i}: expected {{'class_name': ..., 'config': {{...}}}}, got {entry!r}"[:300])
        cls_name = entry["class_name"]
        cls = _lookup(known, cls_name)
        if cls is None:
            raise _fail(path, f"layer {i}: unknown layer class {cls_name!r}; load_model only builds {sorted(known)} "
                              "(custom layers: pass custom_objects={'Name': Class})")
        kwargs = _constructor_kwargs(cls, entry["config"], path, f"layer {i} ({cls_name})")
        try:
            layer = cls(**kwargs)
            model.add(layer)
        except _REBUILD_ERRORS as exc:
            raise _fail(path, f"layer {i} ({cls_name}) cannot be rebuilt from its config: "
                              f"{type(exc).__name__}: {exc}") from None
        _check_growth(model, stored_values, path, f"after layer {i} ({cls_name})")
    return model


def _check_growth(model, stored_values: int, path, when: str) -> None:
    """Stop as soon as the rebuilt weights outgrow what the file holds (a forged, huge config)."""
    built = _weight_count(model.state_dict())
    if built > stored_values:
        raise _fail(path, f"the config describes more weights than the file holds ({when}: {built:,} weight "
                          f"values, the file holds {stored_values:,} weight values); it is damaged or tampered with")


def _check_weights(model, arrays: dict, path) -> dict:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise _fail(path, f"the weights do not match the architecture: missing {missing[:10]}, unexpected "
                          f"{unexpected[:10]}")
    for key, ref in expected.items():
        arr = arrays[key]
        if arr.shape != ref.shape:
            raise _fail(path, f"weight {key!r} has shape {arr.shape}, the architecture needs {ref.shape}")
        if arr.dtype != ref.dtype:
            raise _fail(path, f"weight {key!r} has dtype {arr.dtype}, the architecture needs {ref.dtype}")
    return {key: arrays[key] for key in expected}


def _hyperparameters(cls, config, path) -> dict:
    if not isinstance(config, dict):
        raise _fail(path, "the optimizer config must be a JSON object")
    accepted = _hyperparameter_names(cls)
    out = {}
    for key, value in config.items():
        if key not in accepted:
            raise _fail(path, f"optimizer {cls.__name__}: unknown hyperparameter {key!r}")
        if isinstance(value, list) and len(value) <= 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            value = tuple(value)
        elif not isinstance(value, (bool, int, float)):
            raise _fail(path, f"optimizer {cls.__name__}: hyperparameter {key!r} has an invalid value {value!r}")
        out[key] = value
    return out


def _restore_compile(model, compile_config, archive, path) -> None:
    if not isinstance(compile_config, dict) or set(compile_config) != {"optimizer", "loss", "metrics"}:
        raise _fail(path, "the compile settings in config.json are malformed")
    opt_conf = compile_config["optimizer"]
    if not isinstance(opt_conf, dict) or _lookup(_OPTIMIZERS, opt_conf.get("class_name")) is None:
        raise _fail(path, f"unknown optimizer in the compile settings; known: {sorted(_OPTIMIZERS)}")
    cls = _OPTIMIZERS[opt_conf["class_name"]]
    try:
        optimizer = cls(None, **_hyperparameters(cls, opt_conf.get("config", {}), path))
        loss = keras_losses.deserialize(compile_config["loss"])
        metrics = compile_config["metrics"]
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise ValueError("metrics must be a list of names")
        for m in metrics:
            _metrics.check_metric(m)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    except ModelFileError:
        raise
    except (TypeError, ValueError) as exc:
        raise _fail(path, f"the compile settings cannot be restored: {exc}") from None

    state_json = archive.extra_json.get("optimizer")
    state_arrays = archive.extra.get("optimizer", {})
    if state_json is None:
        return
    try:
        groups = state_json["param_groups"]
        scalars = state_json.get("scalars", {})
        if not isinstance(groups, list) or not isinstance(scalars, dict):
            raise ValueError("malformed optimizer state")
        allowed = set(optimizer.defaults) | {"params", "initial_lr"}  # initial_lr: set by LR schedulers
        for group in groups:
            if not isinstance(group, dict) or not set(group) <= allowed:
                raise ValueError(f"optimizer param group with unexpected keys {sorted(set(group) - allowed)}")
            for key, value in group.items():
                if key == "params":
                    if not isinstance(value, list) or not all(isinstance(i, int) for i in value):
                        raise ValueError("param ids must be integers")
                elif not (isinstance(value, (bool, int, float)) or (
                        isinstance(value, list) and all(isinstance(v, (int, float)) for v in value))):
                    raise ValueError(f"hyperparameter {key!r} has an invalid value {value!r}")
        state = {}
        for idx, entries in scalars.items():
            if not isinstance(entries, dict) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in entries.values()):
                raise ValueError(f"malformed optimizer state for parameter {idx}")
            state.setdefault(int(idx), {}).update(entries)
        for key, arr in state_arrays.items():
            idx, _, name = key.partition(".")
            if arr.dtype.kind != "f":
                raise ValueError(f"optimizer state {key!r} has dtype {arr.dtype}, expected floats")
            state.setdefault(int(idx), {})[name] = arr
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"the optimizer state cannot be restored: {exc}") from None


def _build(model, shape, path) -> None:
    try:
        model.build(shape)
    except _REBUILD_ERRORS as exc:
        raise _fail(path, f"the model cannot be built for input shape {shape}: {type(exc).__name__}: {exc}") from None


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True):
    """Chapter 07: rebuild a model saved with ``model.save`` (architecture, weights, compile settings).

    Never runs code from the file (see the module docstring). With
    ``compile=True`` (default) the model comes back compiled, with the
    optimizer state restored, ready for more ``fit``. Raises
    ``FileNotFoundError`` for a missing file and
    :class:`nnlib.io.ModelFileError` (a ``ValueError``) for anything invalid.
    """
    path = os.fspath(filepath)
    archive = load_archive(path)
    config = archive.config
    if config.get("kind") == "weights":
        raise _fail(path, "this file holds only weights (written by save_weights); build the model in code and "
                          "call model.load_weights(path)")
    unexpected = sorted(set(config) - {"class_name", "config", "build_input_shape", "compile_config"})
    if unexpected:
        raise _fail(path, f"config.json has unexpected entries {unexpected}")
    cls_name = config.get("class_name")
    if _lookup(_MODEL_CLASSES, cls_name) is None:
        raise _fail(path, f"unknown model class {cls_name!r}; load_model builds {sorted(_MODEL_CLASSES)}")
    stored = _weight_count(archive.arrays)
    if cls_name == "Sequential":
        model = _build_sequential(config.get("config"), custom_objects, path, stored)
        shape = _check_shape_list(config.get("build_input_shape"), path, "build_input_shape")
        if shape is not None:
            _build(model, shape, path)
            _check_growth(model, stored, path, "once built")
    else:  # a registered model class with from_config (e.g. GPT)
        try:
            model = _MODEL_CLASSES[cls_name].from_config(config.get("config"))
        except _REBUILD_ERRORS as exc:
            raise _fail(path, f"the {cls_name} config is invalid: {type(exc).__name__}: {exc}") from None
    model.load_state_dict(_check_weights(model, archive.arrays, path))
    compile_config = config.get("compile_config")
    if compile and compile_config is not None:
        _restore_compile(model, compile_config, archive, path)
    return model


def load_weights(model, filepath) -> None:
    """Chapter 07: load weights from a ``save_weights`` or ``save`` file into ``model``.

    Names, shapes and dtypes must match the model's exactly.
    """
    path = os.fspath(filepath)
    archive = load_archive(path)
    if not getattr(model, "built", True):
        shape = _check_shape_list(archive.config.get("build_input_shape"), path, "build_input_shape")
        if shape is None:
            raise ValueError(f"load_weights: build the model first (model.build(...)) before loading {path}")
        _build(model, shape, path)
    model.load_state_dict(_check_weights(model, archive.arrays, path))
