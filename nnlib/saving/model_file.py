"""Chapter 07 (and 12, 14): the model file: ``save_model(model, path)`` and ``load_model(path)`` for every model.

Learners call them as ``nnlib.models.save_model`` / ``nnlib.models.load_model`` (and
``model.save``). The file (any extension, e.g. the seed's ``final_model.h5``) is one zip
written atomically by :func:`nnlib.saving.archive.save_archive` (members and limits: see
:mod:`nnlib.saving.archive`):

* ``config.json``: ``{"class_name", "config": model.get_config(),
  "build_input_shape", "compile_config"}`` (optimizer class and hyperparameters,
  loss, metric names);
* ``weights.npz``: every weight by name (``layers.0.kernel``, ``wte.embeddings`` ...);
* ``optimizer.json`` + ``optimizer.npz``: the optimizer state (step counts, moment
  estimates), so training resumes exactly where it stopped;
* ``tokenizer.json``: the model's ``tokenizer`` (a GPT's), when it has one;
* ``metadata.json``: format version, nnlib version, date, the member list, and the
  caller's ``metadata`` (e.g. training steps and losses).

``load_model`` rebuilds the model from whitelists filled in code: model classes
registered with :func:`nnlib.models.register_model` (``Sequential``, ``GPT``),
each building itself with ``from_config``; layer classes registered with
:func:`nnlib.layers.register_layer` (plus any ``custom_objects``), see
:mod:`nnlib.saving.registry`; optimizers
SGD/RMSprop/Adam/AdamW; the built-in losses and metric names. This module knows
no model class. It never imports or evaluates a name from the file and never
unpickles; the config is checked against the stored arrays' shapes before
anything is built; anything unexpected raises :class:`nnlib.saving.files.ModelFileError`
whose message starts with the file's path.
"""
from __future__ import annotations

import inspect
import math
import os
import warnings

import numpy as np

from .. import optim
from ..layers.base import Layer
from .archive import load_archive, save_archive
from .files import ModelFileError, file_error
from .registry import registered_models

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

_OPTIMIZERS = {cls.__name__: cls for cls in (optim.SGD, optim.RMSprop, optim.Adam, optim.AdamW)}


# ---------------------------------------------------------------------- saving
def _compile_config(model):
    """The compile settings as JSON, or None (not compiled, or custom pieces that cannot be saved)."""
    if not getattr(model, "compiled", False):
        return None
    opt = model.optimizer
    problems = []
    opt_cls = type(opt).__name__
    if _OPTIMIZERS.get(opt_cls) is not type(opt):
        problems.append(f"optimizer {opt_cls}")
    from ..models import losses as keras_losses  # nnlib.models imports this module: import it when used

    loss = keras_losses.serialize(model.loss)
    if loss is None:
        problems.append(f"loss {model.loss!r}")
    metrics = []
    for m in model.compiled_metrics:
        if isinstance(m, str):
            metrics.append(m)
        else:
            problems.append(f"metric {getattr(m, '__name__', m)!r}")
    if problems:
        warnings.warn(
            "save(): the compile settings cannot be saved (custom " + ", ".join(problems) + "); load_model will "
            "return an uncompiled model: call compile() again after loading", stacklevel=4)
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


def _check_savable(model, who: str) -> str:
    cls_name = type(model).__name__
    if registered_models().get(cls_name) is not type(model):
        raise TypeError(f"{who}: model class {cls_name} is not registered for saving; decorate it with "
                        "nnlib.models.register_model (it needs get_config and a from_config classmethod)")
    for name, module in model.named_modules():
        if type(module).__name__ == "LoRADense":
            raise ValueError(f"{who}: the model has LoRA adapters ({name or 'the model'}); fold them into the "
                             "weights first with nnlib.lora.merge_lora(model) and save that, or save only the "
                             "adapters with nnlib.lora.lora_state_dict(model)")
    return cls_name


def _model_config(model, who: str = "save_model") -> dict:
    cls_name = _check_savable(model, who)
    shape = getattr(model, "_build_input_shape", None)
    return {
        "class_name": cls_name,
        "config": model.get_config(),
        "build_input_shape": None if shape is None else list(shape),
    }


def _check_overwrite(path: str, overwrite: bool) -> None:
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True,
               metadata: dict | None = None, tokenizer=None) -> str:
    """Chapter 07 (and 12): write ``model`` to one zip file; returns the path written.

    Works for every registered model (``Sequential``, ``GPT``): architecture,
    weights, compile settings and optimizer state (``include_optimizer``), the
    model's ``tokenizer`` (or the one given) and ``metadata`` (a JSON-able dict;
    default: the model's own ``metadata`` attribute, if any). A model with LoRA
    adapters is refused: merge them first (``nnlib.lora.merge_lora``).
    """
    path = os.fspath(filepath)
    _check_overwrite(path, overwrite)
    config = _model_config(model)
    compile_config = _compile_config(model)
    config["compile_config"] = compile_config
    extra_arrays, extra_json = {}, {}
    opt = getattr(model, "optimizer", None)
    if include_optimizer and compile_config is not None:
        if not model.optimizer_attached:
            warnings.warn("save(): the optimizer was built with its own parameter groups, so its state is not "
                          "saved; the loaded model starts with a fresh optimizer", stacklevel=3)
            include_optimizer = False
    if include_optimizer and compile_config is not None:
        opt_json, opt_arrays = _optimizer_state(opt)
        extra_json["optimizer"] = opt_json
        extra_arrays["optimizer"] = opt_arrays
    tok = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if tok is not None:
        from ..text import tokenizer_to_dict

        vocab = getattr(getattr(model, "config", None), "vocab_size", None)
        if vocab is not None and tok.vocab_size > vocab:
            raise ValueError(f"save_model: the tokenizer has {tok.vocab_size} tokens, more than the model's "
                             f"vocab_size={vocab}")
        extra_json["tokenizer"] = tokenizer_to_dict(tok)
    meta = dict(getattr(model, "metadata", None) or {}) if metadata is None else dict(metadata)
    for key in ("format", "format_version", "members", "nnlib_version", "created"):
        meta.pop(key, None)
    meta["model_class"] = config["class_name"]
    return save_archive(path, config, dict(model.state_dict()), metadata=meta,
                        extra_arrays=extra_arrays, extra_json=extra_json)


def save_weights(model, filepath, overwrite: bool = True) -> str:
    """Chapter 07: write only the weights of ``model`` (restore with ``load_weights``)."""
    path = os.fspath(filepath)
    _check_overwrite(path, overwrite)
    shape = getattr(model, "_build_input_shape", None)
    config = {"kind": "weights", "class_name": type(model).__name__,
              "build_input_shape": None if shape is None else list(shape)}
    return save_archive(path, config, dict(model.state_dict()), metadata={"model_class": type(model).__name__})


# ---------------------------------------------------------------------- loading
#: what rebuilding a model from a tampered config can raise: bad values (TypeError, ValueError), an axis
#: or index out of range (IndexError), sizes beyond any integer NumPy takes (OverflowError) or beyond
#: the memory there is (MemoryError)
_REBUILD_ERRORS = (TypeError, ValueError, KeyError, IndexError, OverflowError, MemoryError)


def _check_shape_list(value, path, what) -> tuple | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > 8 or not all(
            v is None or (type(v) is int and 0 < v < 2 ** 31) for v in value):
        raise file_error(path, f"{what} must be a list like [null, 30], got {str(value)[:80]}")
    return tuple(value)


def _check_weights(model, arrays: dict, path) -> dict:
    """The file's arrays, in the model's order, if names, shapes and dtypes match exactly (one rule for all)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise file_error(path, f"the weights do not match the architecture: missing {missing[:10]}, unexpected "
                               f"{unexpected[:10]}")
    for key, ref in expected.items():
        arr = arrays[key]
        if arr.shape != ref.shape:
            raise file_error(path, f"weight {key!r} has shape {arr.shape}, the architecture needs {ref.shape}")
        if arr.dtype != ref.dtype:
            raise file_error(path, f"weight {key!r} has dtype {arr.dtype}, the architecture needs {ref.dtype}")
    return {key: arrays[key] for key in expected}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _hyperparameters(cls, config, path) -> dict:
    if not isinstance(config, dict):
        raise file_error(path, "the optimizer config must be a JSON object")
    accepted = {n: p.default for n, p in inspect.signature(cls.__init__).parameters.items()
                if n not in ("self", "params")}
    out = {}
    for key, value in config.items():
        if key not in accepted:
            raise file_error(path, f"optimizer {cls.__name__}: unknown hyperparameter {key!r}")
        if isinstance(value, bool) != isinstance(accepted[key], bool):
            raise file_error(path, f"optimizer {cls.__name__}: hyperparameter {key!r} = {str(value)[:40]} has the "
                                   "wrong type")
        if isinstance(value, list) and len(value) <= 4 and all(_number(v) for v in value):
            value = tuple(value)
        elif not (isinstance(value, bool) or _number(value)):
            raise file_error(path, f"optimizer {cls.__name__}: hyperparameter {key!r} has an invalid value "
                                   f"{str(value)[:80]}")
        out[key] = value
    return out


def _optimizer_groups(optimizer, groups, path) -> list:
    """The saved param groups, each checked as the optimizer's constructor checks its hyperparameters."""
    if not isinstance(groups, list) or len(groups) > 64:
        raise ValueError("malformed param groups")
    allowed = set(optimizer.defaults) | {"params", "initial_lr"}  # initial_lr: set by LR schedulers
    clean = []
    for gi, group in enumerate(groups):
        if not isinstance(group, dict) or not set(group) <= allowed:
            extra = sorted(set(group) - allowed) if isinstance(group, dict) else group
            raise ValueError(f"optimizer param group with unexpected keys {str(extra)[:80]}")
        hyper = {}
        for key, value in group.items():
            if key == "params":
                if not isinstance(value, list) or not all(type(i) is int and i >= 0 for i in value):
                    raise ValueError("param ids must be integers >= 0")
            elif isinstance(optimizer.defaults.get(key), bool) or isinstance(value, bool):
                if not (isinstance(value, bool) and isinstance(optimizer.defaults.get(key), bool)):
                    raise ValueError(f"hyperparameter {key!r} = {str(value)[:40]} has the wrong type")
                hyper[key] = value
            elif isinstance(value, list) and len(value) <= 4 and all(_number(v) for v in value):
                hyper[key] = tuple(value)
            elif _number(value):
                hyper[key] = value
            else:
                raise ValueError(f"hyperparameter {key!r} has an invalid value {str(value)[:80]} (finite numbers "
                                 "only)")
        if type(group.get("params")) is not list:
            raise ValueError(f"param group {gi} has no 'params' list")
        optimizer.validate_group({**optimizer.defaults, **hyper}, where=f"saved param group {gi}")
        clean.append(group)
    return clean


def _restore_compile(model, compile_config, archive, path) -> None:
    from ..models import losses as keras_losses  # nnlib.models imports this module: import it when used

    if not isinstance(compile_config, dict) or set(compile_config) != {"optimizer", "loss", "metrics"}:
        raise file_error(path, "the compile settings in config.json are malformed")
    opt_conf = compile_config["optimizer"]
    name = opt_conf.get("class_name") if isinstance(opt_conf, dict) else None
    if not isinstance(name, str) or name not in _OPTIMIZERS:
        raise file_error(path, f"unknown optimizer in the compile settings; known: {sorted(_OPTIMIZERS)}")
    cls = _OPTIMIZERS[name]
    try:
        optimizer = cls(None, **_hyperparameters(cls, opt_conf.get("config", {}), path))
        loss = keras_losses.deserialize(compile_config["loss"])
        metrics = compile_config["metrics"]
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise ValueError("metrics must be a list of names")
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise file_error(path, f"the compile settings cannot be restored: {exc}") from None

    state_json = archive.extra_json.get("optimizer")
    state_arrays = archive.extra.get("optimizer", {})
    if state_json is None:
        return
    try:
        if not isinstance(state_json, dict) or not set(state_json) <= {"param_groups", "scalars"}:
            raise ValueError("malformed optimizer state")
        groups = _optimizer_groups(optimizer, state_json.get("param_groups"), path)
        scalars = state_json.get("scalars", {})
        if not isinstance(scalars, dict):
            raise ValueError("malformed optimizer state")
        state = {}
        for idx, entries in scalars.items():
            if not idx.isdigit() or len(idx) > 9 or not isinstance(entries, dict):
                raise ValueError(f"malformed optimizer state for parameter {idx[:20]!r}")
            for key, value in entries.items():
                if key not in optimizer.scalar_state:
                    raise ValueError(f"unknown optimizer state {key!r} for parameter {idx}")
                if key == "step" and not (type(value) is int and 0 <= value < 2 ** 62):
                    raise ValueError(f"parameter {idx}: step must be an integer >= 0, got {str(value)[:40]}")
                if not _number(value):
                    raise ValueError(f"parameter {idx}: state {key!r} must be a finite number, got {str(value)[:40]}")
            state.setdefault(int(idx), {}).update(entries)
        for key, arr in state_arrays.items():
            idx, _, name = key.partition(".")
            if not idx.isdigit() or len(idx) > 9:
                raise ValueError(f"optimizer state {key!r} has an invalid name")
            if arr.dtype.kind != "f":
                raise ValueError(f"optimizer state {key!r} has dtype {arr.dtype}, expected floats")
            state.setdefault(int(idx), {})[name] = arr
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise file_error(path, f"the optimizer state cannot be restored: {exc}") from None


def _build(model, shape, path) -> None:
    try:
        model.build(shape)
    except _REBUILD_ERRORS as exc:
        raise file_error(path, f"the model cannot be built for input shape {shape}: {type(exc).__name__}: "
                               f"{exc}") from None


def _check_members(archive, config, path) -> None:
    """The optional members must be exactly those the config and metadata declare."""
    has_json, has_npz = "optimizer" in archive.extra_json, "optimizer" in archive.extra
    if has_json != has_npz:
        raise file_error(path, "the archive has only one of optimizer.json / optimizer.npz; it is damaged or "
                               "tampered with")
    if has_json and config.get("compile_config") is None:
        raise file_error(path, "the archive holds optimizer state but no compile settings")
    unknown = sorted(set(archive.extra) - {"optimizer"}) + sorted(set(archive.extra_json) - {"optimizer", "tokenizer"})
    if unknown:
        raise file_error(path, f"unexpected member(s) {unknown} for a model file")


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True):
    """Chapter 07 (and 12): rebuild any model saved with ``save_model`` / ``model.save``.

    Returns an instance of the saved class (``Sequential``, ``GPT`` ...) with its
    weights; with ``compile=True`` (default) a compiled model also gets its
    optimizer state back, ready for more ``fit``. A GPT comes back in eval mode
    with ``model.tokenizer`` (or None) and ``model.metadata``. Never runs code
    from the file (see the module docstring). Raises ``FileNotFoundError`` for a
    missing file and :class:`nnlib.saving.files.ModelFileError` (a ``ValueError``) for
    anything invalid.
    """
    path = os.fspath(filepath)
    for name, cls in (custom_objects or {}).items():
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise TypeError(f"load_model: custom_objects[{name!r}] must be a Layer subclass, got {cls!r}")
    archive = load_archive(path)
    config = archive.config
    if config.get("kind") == "weights":
        raise file_error(path, "this file holds only weights (written by save_weights); build the model in code and "
                               "call model.load_weights(path)")
    unexpected = sorted(set(config) - {"class_name", "config", "build_input_shape", "compile_config"})
    if unexpected:
        raise file_error(path, f"config.json has unexpected entries {unexpected}")
    _check_members(archive, config, path)
    cls_name = config.get("class_name")
    models = registered_models()
    cls = models.get(cls_name) if isinstance(cls_name, str) else None
    if cls is None:
        raise file_error(path, f"unknown model class {str(cls_name)[:80]!r}; load_model builds {sorted(models)}")
    if config.get("compile_config") is not None and not callable(getattr(cls, "compile", None)):
        raise file_error(path, f"config.json holds compile settings, but a {cls_name} has no compile(); the file is "
                               "damaged or tampered with")
    shape = _check_shape_list(config.get("build_input_shape"), path, "build_input_shape")
    weight_shapes = {key: arr.shape for key, arr in archive.arrays.items()}
    try:
        model = cls.from_config(config.get("config"), custom_objects=custom_objects, weight_shapes=weight_shapes,
                                build_input_shape=shape)
    except ModelFileError:
        raise
    except _REBUILD_ERRORS as exc:
        message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        raise file_error(path, f"the {cls_name} config is invalid: {message}") from None
    model.load_state_dict(_check_weights(model, archive.arrays, path))
    tok = archive.extra_json.get("tokenizer")
    if tok is not None:
        if not hasattr(model, "tokenizer"):
            raise file_error(path, f"the archive holds a tokenizer, but a {cls_name} has none")
        from ..text import tokenizer_from_dict

        try:
            model.tokenizer = tokenizer_from_dict(tok)
        except (TypeError, ValueError) as exc:
            raise file_error(path, f"bad tokenizer: {exc}") from None
    if hasattr(model, "metadata"):
        model.metadata = dict(archive.metadata)
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
