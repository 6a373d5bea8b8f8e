"""Chapter 06: ``Layer``, the Keras-style base class of nnlib's layers.

A layer is a :class:`~nnlib.module.Module` that builds its weights on first
call (when it first sees the input's shape), has a Keras-style ``name``,
``trainable`` flag, ``get_weights``/``set_weights``, and a config that
``save``/``load_model`` use to rebuild it.
"""
from __future__ import annotations

import inspect
import itertools
import math
from collections import defaultdict

import numpy as np

from ..module import Module
from ..engine import Tensor, operand_data

__all__ = ["Layer", "register_layer", "registered_layers", "register_model", "registered_models",
           "layers_from_config", "strict_kwargs"]

_name_counters = defaultdict(itertools.count)

#: the only layer classes ``load_model`` will build from a file (class name -> class)
_REGISTRY: dict = {}


def register_layer(cls):
    """Chapter 07: allow ``load_model`` to rebuild layers of class ``cls`` (use as a decorator).

    Files name layers by class name only; ``load_model`` looks the name up
    here and nowhere else, so a file can never make nnlib import or call
    anything that was not registered in code.
    """
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer expects a Layer subclass, got {cls!r}")
    existing = _REGISTRY.get(cls.__name__)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"register_layer: another class named {cls.__name__!r} ({existing.__module__}) is already registered"
        )
    _REGISTRY[cls.__name__] = cls
    return cls


def registered_layers() -> dict:
    """Chapter 07: a copy of the whitelist of layer classes ``load_model`` may build."""
    return dict(_REGISTRY)


#: the only model classes ``load_model`` will build from a file (class name -> class)
_MODEL_REGISTRY: dict = {}


def register_model(cls):
    """Chapter 07 (and 12): allow ``load_model`` to rebuild models of class ``cls`` (use as a decorator).

    The class needs ``get_config()`` and a classmethod ``from_config(config, **context)``
    that builds it from plain JSON values (``context``: ``weight_shapes``, the name ->
    shape of every array in the file, to check the config against BEFORE allocating;
    ``custom_objects``; ``build_input_shape``). ``Sequential`` and ``GPT`` register
    themselves; ``nnlib.models.saving`` knows no model class.
    """
    if not (isinstance(cls, type) and callable(getattr(cls, "from_config", None))
            and callable(getattr(cls, "get_config", None))):
        raise TypeError(f"register_model expects a class with get_config/from_config, got {cls!r}")
    existing = _MODEL_REGISTRY.get(cls.__name__)
    if existing is not None and existing is not cls and (
            (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__)):
        raise ValueError(f"register_model: another class named {cls.__name__!r} ({existing.__module__}) "
                         "is already registered")
    _MODEL_REGISTRY[cls.__name__] = cls
    return cls


def registered_models() -> dict:
    """Chapter 07: a copy of the whitelist of model classes ``load_model`` may build."""
    return dict(_MODEL_REGISTRY)


# ---------------------------------------------------------------------- configs -> layers
#: most layers a file may describe
MAX_LAYERS = 10_000
_SIZE_MAX = 2 ** 31


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
    if name == "MultiHeadAttention":
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


def _auto_name(prefix: str) -> str:
    n = next(_name_counters[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


def unique_auto_name(layer, taken: set) -> str:
    """Chapter 07: the next automatic name for ``layer``'s class that is not in ``taken``."""
    prefix = _snake(type(layer).__name__)
    name = _auto_name(prefix)
    while name in taken:
        name = _auto_name(prefix)
    return name


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class Layer(Module):
    """Chapter 06: a layer with lazily built weights, a name and a ``trainable`` flag.

    Subclasses implement ``build(input_shape)`` (create Parameters) and
    ``forward(x)``; ``compute_output_shape`` and ``get_config`` make them work
    in ``summary()`` and ``save``/``load_model``.
    """

    def __init__(self, name: str | None = None, trainable: bool = True, input_shape=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self._auto_named = name is None
        self.name = name or _auto_name(_snake(type(self).__name__))
        self.trainable = trainable
        self.built = False
        if isinstance(input_shape, (int, np.integer)):
            input_shape = (int(input_shape),)
        if input_shape is not None:
            try:
                input_shape = tuple(None if n is None else int(n) for n in input_shape)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{type(self).__name__}: input_shape must be a tuple of sizes without the batch axis, "
                    f"e.g. input_shape=(30,); got {input_shape!r}"
                ) from None
        self.input_shape = None if input_shape is None else (None,) + input_shape

    def _float_dtype(self, dtype) -> np.dtype:
        """The weights' dtype from ``dtype`` (e.g. 'float32'); a ValueError for a non-float one."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}: dtype must be a float type (float32 or float64), got {dtype}")
        return dtype

    def _build_if_shape_known(self) -> None:
        """Build the weights at once when ``input_shape`` was given (the end of a subclass's ``__init__``)."""
        if self.input_shape is not None:
            self.build(self.input_shape)
            self.built = True

    def build(self, input_shape: tuple) -> None:
        """Chapter 06: create the weights for inputs of ``input_shape`` (first axis = batch)."""
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Chapter 06: the output shape for a given input shape (batch axis may be None)."""
        return tuple(input_shape)

    def __call__(self, x, *args, **kwargs):
        if not isinstance(x, Tensor):
            x = Tensor(operand_data(x))
        if not self.built:
            self.build(tuple(x.shape))
            self.built = True
        return self.forward(x, *args, **kwargs)

    @property
    def weights(self) -> list:
        """Chapter 06: the layer's Parameters (Keras' ``layer.weights``, without buffers)."""
        return self.parameters()

    @property
    def trainable_weights(self) -> list:
        """Chapter 10: the Parameters that training updates (none when ``trainable`` is False)."""
        return self.parameters() if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        """Chapter 10: frozen Parameters plus buffers such as batch-norm moving statistics."""
        frozen = [] if self.trainable else [p.data for p in self.parameters()]
        return frozen + [b for _, b in self.named_buffers()]

    def _weight_slots(self) -> list:
        """(kind, owner, key) for every weight in Keras order: Parameters, then buffers."""
        slots = [("param", p, None) for p in self.parameters()]
        for module in self.modules():
            for key, _ in module.named_buffers(recurse=False):
                slots.append(("buffer", module, key))
        return slots

    def get_weights(self) -> list:
        """Chapter 06: copies of all weights as NumPy arrays, Parameters first, then buffers.

        For ``BatchNormalization`` that is [gamma, beta, moving_mean,
        moving_variance], Keras' order.
        """
        out = []
        for kind, owner, key in self._weight_slots():
            out.append(owner.data.copy() if kind == "param" else owner.get_buffer(key).copy())
        return out

    def set_weights(self, weights) -> None:
        """Chapter 06: replace the weights (same order as ``get_weights``) with arrays of the same shapes."""
        slots = self._weight_slots()
        weights = list(weights)
        if len(weights) != len(slots):
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}) has {len(slots)} weight arrays, "
                f"set_weights got {len(weights)}"
            )
        for i, ((kind, owner, key), w) in enumerate(zip(slots, weights)):
            w = np.asarray(w.data if hasattr(w, "data") and isinstance(w.data, np.ndarray) else w)
            current = owner.data if kind == "param" else owner.get_buffer(key)
            if w.shape != current.shape:
                raise ValueError(
                    f"layer {self.name!r} ({type(self).__name__}): weight {i} has shape {current.shape}, "
                    f"set_weights got shape {w.shape}"
                )
            if kind == "param":
                owner.data = w.astype(current.dtype, copy=True)
            else:
                owner.set_buffer(key, w.astype(current.dtype, copy=True))

    def count_params(self) -> int:
        """Chapter 06: number of values in the layer's weights (buffers included, as Keras counts)."""
        total = 0
        for kind, owner, key in self._weight_slots():
            total += owner.data.size if kind == "param" else owner.get_buffer(key).size
        return int(total)

    def regularization_losses(self) -> list:
        """Chapter 09: penalty Tensors (e.g. L2 on the kernel) that ``fit`` adds to the loss.

        A layer with ``kernel_regularizer``/``bias_regularizer`` (Dense, Conv2D ...)
        gets ``regularizer(weight)`` for each one set; other layers have none.
        """
        losses = []
        for reg_name, weight_name in (("kernel_regularizer", "kernel"), ("bias_regularizer", "bias")):
            regularizer, weight = getattr(self, reg_name, None), getattr(self, weight_name, None)
            if regularizer is not None and weight is not None:
                losses.append(regularizer(weight))
        return losses

    @classmethod
    def from_config(cls, config: dict):
        """Chapter 07: a new layer from ``get_config()``'s dict (strictly checked, see :func:`strict_kwargs`)."""
        return cls(**strict_kwargs(cls, config, cls.__name__))

    def get_config(self) -> dict:
        """Chapter 07: the constructor arguments that rebuild this layer (JSON-serializable)."""
        config = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape[1:])
        return config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"
