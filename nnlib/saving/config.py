"""Chapter 07: reading constructor arguments and layer lists from a model file's config, strictly.

:func:`strict_kwargs` checks one class's arguments (only those its constructor accepts,
plain JSON values, strict types); :func:`layers_from_config` builds a list of layers from
``{"class_name", "config"}`` entries, checking each built-in layer's size against the
weights the file really holds BEFORE anything is allocated.
"""
from __future__ import annotations

import inspect
import math
from collections import defaultdict

__all__ = ["strict_kwargs", "layers_from_config", "MAX_LAYERS"]

#: most layers a file may describe
MAX_LAYERS = 10_000


def _plain_json(value, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return len(value) <= 64 and all(_plain_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= 64 and all(isinstance(k, str) and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def _type_problem(value, annotation, default):
    """Why ``value`` cannot be this argument (strict JSON types: 'false' is not a bool), or None."""
    ann = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    ann = ann.replace(" ", "")
    kinds = set(ann.split("|")) if ann else set()
    if isinstance(value, list) and not kinds & {"bool", "int", "float"}:
        return None  # a tuple argument whose default is a scalar (strides=1 or (2, 2)): the constructor checks it
    if default is not inspect.Parameter.empty and default is not None:
        kinds.add(type(default).__name__)
    if default is None or "None" in kinds:
        if value is None:
            return None
    if not kinds & {"bool", "int", "float"}:
        return None  # strings, initializers, shapes ...: checked by the constructor
    if kinds & {"str", "object", "Any"} and isinstance(value, str):
        return None
    if isinstance(value, bool):
        return None if "bool" in kinds else "a true/false value"
    if "bool" in kinds and not kinds & {"int", "float"}:
        return "not true/false"
    if isinstance(value, int):
        return None
    if isinstance(value, float) and "float" in kinds:
        return None
    return f"not {'/'.join(sorted(kinds & {'bool', 'int', 'float'}))}"


def strict_kwargs(cls, config, where: str) -> dict:
    """Chapter 07: check a file's constructor arguments for ``cls``; a ValueError names what is wrong.

    Only arguments the constructor accepts, only plain JSON values (finite numbers,
    no deep nesting), and strict types: a bool argument takes ``true``/``false``
    only (never the string ``"false"``), an int argument takes integers only.
    """
    if not isinstance(config, dict):
        raise ValueError(f"{where}: config must be a JSON object, got {type(config).__name__}")
    signature = inspect.signature(cls.__init__)
    params = {n: p for n, p in signature.parameters.items()
              if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(config) - set(params))
    if unknown:
        raise ValueError(f"{where}: unknown argument(s) {unknown} for {cls.__name__} (accepted: {sorted(params)})")
    for key, value in config.items():
        if not _plain_json(value):
            raise ValueError(f"{where}: argument {key!r} has an unexpected value {str(value)[:80]}")
        problem = _type_problem(value, params[key].annotation, params[key].default)
        if problem:
            raise ValueError(f"{where}: argument {key!r} = {str(value)[:80]!r} is {problem}")
    return dict(config)


def _size(value):
    """``value`` as a size if it is an integer (a float with an integral value too), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    return None


def _last_dim(shape):
    return _size(shape[-1]) if shape else None


def _sizes(value) -> list:
    """The sizes in ``value`` (an int or a list of them) that are integers; unknown ones are left out."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [n for n in (_size(v) for v in items) if n is not None and n > 0]


def _min_weight_values(cls, kwargs: dict, shape) -> int:
    """A lower bound of the weight values a built-in layer will allocate (0 when unknown or none).

    Checked against the values the file really holds BEFORE the layer is built, so
    a forged config (Dense(units=10**9), Embedding(10**7, 16), a layer's own
    input_shape of 16,000,000, QuantizedDense(units=2**28), Conv2D(filters=10**6),
    Conv2DTranspose(filters=10**6))
    is refused without allocating anything. A layer's own ``input_shape`` (or a
    Dense's ``input_dim``) wins over the shape the previous layers give, since its
    constructor builds with it. Every built-in kind that allocates is listed here
    (``tests/nnlib/test_export_hardening.py`` checks that none is missing).
    """
    if not cls.__module__.startswith("nnlib."):
        return 0
    name = cls.__name__
    own = kwargs.get("input_shape")
    if own is None and name == "Dense" and kwargs.get("input_dim") is not None:
        own = [kwargs["input_dim"]]
    if own is not None:
        shape = (None,) + tuple(own if isinstance(own, list) else [own])
    last = _last_dim(shape) if shape else None
    pos = lambda key, default=0: max(0, _size(kwargs.get(key, default)) or 0)  # noqa: E731
    if name in ("Dense", "QuantizedDense"):  # Dense builds once its input's last axis is known
        features = pos("in_features") if name == "QuantizedDense" else 0
        return pos("units") * max(features, last or 0, 1 if name == "QuantizedDense" else 0)
    if name in ("Conv1D", "Conv2D", "Conv2DTranspose"):
        rank = 1 if name == "Conv1D" else 2
        kernel = math.prod(_sizes(kwargs.get("kernel_size")) or [1]) ** (1 if isinstance(kwargs.get("kernel_size"),
                                                                                            list) else rank)
        channels = None
        if shape:
            channels = _size(shape[1] if kwargs.get("data_format") == "channels_first" and len(shape) > 1
                             else shape[-1])
        groups = max(1, pos("groups", 1))
        return pos("filters") * kernel * max(1, (channels or 0) // groups)
    if name == "Embedding":
        return pos("input_dim") * pos("output_dim")
    if name == "SelfAttention":
        d = pos("d_model")
        return 4 * d * d
    if name == "TransformerBlock":  # attention 4 d^2, the MLP 2 * mlp_ratio * d^2
        d = pos("d_model")
        return (4 + 2 * pos("mlp_ratio", 4)) * d * d
    if name == "LayerNorm":
        d = _size(kwargs.get("normalized_shape")) or last or 0
        return max(0, d) if kwargs.get("elementwise_affine", True) else 0
    if name == "BatchNormalization" and shape:
        axis = _size(kwargs.get("axis", -1))
        if axis is not None and -len(shape) <= axis < len(shape):
            return max(0, _size(shape[axis]) or 0) * 2
    return 0


def layers_from_config(entries, known: dict, weight_shapes: dict | None = None, input_shape=None,
                       prefix: str = "layers") -> list:
    """Chapter 07: build the layers a file describes, checking each config BEFORE building it.

    ``entries`` is a list of ``{"class_name", "config"}``; classes come from ``known``
    only. With ``weight_shapes`` (name -> shape of the file's arrays, from their
    headers) each built-in layer's size is checked against the values stored under
    ``{prefix}.{i}.`` before it allocates anything. Linear in the number of layers.
    Raises ValueError naming the layer.
    """
    if not isinstance(entries, list):
        raise ValueError("the config has no 'layers' list")
    if len(entries) > MAX_LAYERS:
        raise ValueError(f"the config describes {len(entries):,} layers, more than the {MAX_LAYERS:,} allowed")
    stored = None
    if weight_shapes is not None:
        stored = defaultdict(int)
        for key, shape in weight_shapes.items():
            head, _, rest = key.partition(".")
            index, _, _ = rest.partition(".")
            if head == prefix and index.isdigit():
                stored[int(index)] += math.prod(shape)
    shape = None if input_shape is None else tuple(input_shape)
    layers, names = [], set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"class_name", "config"}:
            raise ValueError(f"layer {i}: expected {{'class_name': ..., 'config': {{...}}}}, got {entry!r}"[:300])
        cls_name = entry["class_name"]
        cls = known.get(cls_name) if isinstance(cls_name, str) else None
        if cls is None:
            raise ValueError(f"layer {i}: unknown layer class {str(cls_name)[:80]!r}; load_model only builds "
                             f"{sorted(known)} (custom layers: pass custom_objects={{'Name': Class}})")
        where = f"layer {i} ({cls_name})"
        kwargs = strict_kwargs(cls, entry["config"], where)
        if stored is not None:
            need = _min_weight_values(cls, kwargs, shape)
            if need > stored[i]:
                raise ValueError(f"{where}: the config describes at least {need:,} weight values, the file holds "
                                 f"{stored[i]:,} weight values for it; it is damaged or tampered with")
        try:
            layer = cls(**kwargs)
        except (TypeError, ValueError, KeyError, IndexError, OverflowError, MemoryError) as exc:
            raise ValueError(f"{where} cannot be rebuilt from its config: {type(exc).__name__}: {exc}") from None
        if i == 0 and shape is None and layer.input_shape is not None:
            shape = tuple(layer.input_shape)
        if layer.name in names:
            raise ValueError(f"{where}: the layer name {layer.name!r} appears twice")
        names.add(layer.name)
        if shape is not None:
            try:
                shape = tuple(layer.compute_output_shape(shape))
            except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
                raise ValueError(f"{where} cannot take inputs of shape {shape}: {type(exc).__name__}: {exc}") \
                    from None
        layers.append(layer)
    return layers
