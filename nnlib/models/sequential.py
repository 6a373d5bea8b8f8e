"""Chapter 06: ``Sequential`` (顺序模型), a stack of layers, each feeding the next.

The seed book's model::

    model = Sequential([
        Dense(64, activation='relu', input_shape=(30,)),
        Dense(64, activation='relu'),
        Dense(1, activation='sigmoid'),
    ])
    model.summary()

With an ``input_shape`` on the first layer the whole stack is built at once
(so ``summary()`` works before training); otherwise it is built on the first
batch it sees (or by ``model.build((None, 30))``). The training API
(``compile``/``fit``/...) comes from :class:`~nnlib.models.training.Model`
(chapter 07).
"""
from __future__ import annotations

import numpy as np

from ..layers.base import Layer, auto_name, unique_auto_name
from ..saving.config import layers_from_config
from ..saving.registry import register_model, registered_layers
from ..engine import Tensor
from ..inputs import shape_text as _shape_text, to_numeric_array as _to_numeric_array
from .training import Model

__all__ = ["Sequential"]


def _memory_text(nbytes: float) -> str:
    """Keras' size text: 17924 -> '17.50 KB'."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024 or unit == "TB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} TB"  # pragma: no cover


@register_model
class Sequential(Model):
    """Chapter 06: a linear stack of layers: ``Sequential([Dense(...), ...])`` or ``.add(layer)``.

    ``.layers`` lists the layers in order; ``summary()`` prints Keras' table;
    ``compile``/``fit``/``evaluate``/``predict``/``save`` train and use it
    (chapter 07).
    """

    def __init__(self, layers=None, name: str | None = None, trainable: bool = True):
        self.name = name or auto_name("sequential")
        self.trainable = bool(trainable)
        self.layers = []
        self._build_input_shape = None
        if layers is not None:
            if isinstance(layers, Layer):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # ------------------------------------------------------------------ structure
    def add(self, layer: Layer) -> None:
        """Chapter 06: append a layer; it is built at once if the model's input shape is known."""
        if isinstance(layer, type) and issubclass(layer, Layer):
            raise TypeError(f"add() expects a layer instance, got the class {layer.__name__}; "
                            f"did you forget the parentheses, e.g. {layer.__name__}(...)?")
        if not isinstance(layer, Layer):
            raise TypeError(f"add() expects a layer such as Dense(64), got {type(layer).__name__}: {layer!r}")
        if any(existing is layer for existing in self.layers):
            raise ValueError(f"layer {layer.name!r} is already in model {self.name!r}; create a new layer instead")
        taken = {existing.name for existing in self.layers}
        if layer.name in taken:
            if getattr(layer, "_auto_named", False):
                layer.name = unique_auto_name(layer, taken)
            else:
                raise ValueError(
                    f"model {self.name!r} already has a layer named {layer.name!r}; layer names must be unique"
                )
        if not self.layers and layer.input_shape is not None:
            self._build_input_shape = tuple(layer.input_shape)
        self.layers.append(layer)
        if self._build_input_shape is not None:
            shape = self._build_input_shape
            for existing in self.layers[:-1]:
                shape = existing.compute_output_shape(shape)
            if not layer.built:
                layer.build(shape)
                layer.built = True

    def pop(self) -> Layer:
        """Chapter 10: remove and return the last layer (e.g. to replace a model's head)."""
        if not self.layers:
            raise IndexError(f"pop(): model {self.name!r} has no layers")
        return self.layers.pop()

    @property
    def built(self) -> bool:
        """Chapter 06: True once the input shape (and so every weight) is known."""
        return self._build_input_shape is not None

    @property
    def input_shape(self):
        """Chapter 06: the input shape, batch axis None, e.g. (None, 30) (None if not built)."""
        return self._build_input_shape

    @property
    def output_shape(self):
        """Chapter 06: the output shape, batch axis None, e.g. (None, 1) (None if not built)."""
        if self._build_input_shape is None:
            return None
        return self.compute_output_shape(self._build_input_shape)

    def compute_output_shape(self, input_shape) -> tuple:
        """Chapter 06: the output shape for inputs of ``input_shape`` (batch axis may be None)."""
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def build(self, input_shape) -> None:
        """Chapter 06: create every weight for inputs of ``input_shape``, batch axis first: ``(None, 30)``."""
        try:
            shape = tuple(None if n is None else int(n) for n in input_shape)
        except (TypeError, ValueError):
            raise ValueError(f"build(): input_shape must be a tuple like (None, 30), got {input_shape!r}") from None
        if len(shape) < 2:
            raise ValueError(
                f"build(): input_shape {input_shape!r} must include the batch axis first, e.g. (None, "
                f"{shape[0] if shape else 30})"
            )
        shape = (None,) + shape[1:]
        if not self.layers:
            raise ValueError(f"build(): model {self.name!r} has no layers yet; add some first")
        current = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(current)
                layer.built = True
            current = layer.compute_output_shape(current)
        self._build_input_shape = shape

    # ------------------------------------------------------------------ running
    def forward(self, x, training: bool | None = None):
        """Chapter 06: pass ``x`` through every layer in order.

        ``training=True/False`` switches dropout and batch normalization for
        this call only; by default the model's current mode is used
        (``model.train()`` / ``model.eval()``).
        """
        if not self.layers:
            raise ValueError(f"model {self.name!r} has no layers; add some with model.add(...)")
        if not isinstance(x, Tensor):
            x = Tensor(_to_numeric_array(x, "x", f"model {self.name!r}").astype(self.model_dtype, copy=False))
        if training is not None:
            with self.training_mode(bool(training)):
                return self.forward(x)
        if self._build_input_shape is None:
            self._build_input_shape = (None,) + tuple(x.shape[1:])
        for layer in self.layers:
            x = layer(x)
        return x

    def _input_shape(self):
        return self._build_input_shape

    def _ensure_built(self, x: np.ndarray) -> None:
        if not self.layers:
            raise ValueError(f"model {self.name!r} has no layers; add some with model.add(...)")
        if self._build_input_shape is None:
            if x.ndim < 2:
                raise ValueError(
                    f"model {self.name!r}: x of shape {_shape_text(x.shape)} needs one row per sample and at "
                    "least one feature axis; e.g. x.reshape(-1, 1)"
                )
            self.build((None,) + tuple(x.shape[1:]))
        else:
            self.build(self._build_input_shape)  # layers added since are built too

    def _output_shape(self, x: np.ndarray) -> tuple:
        return self.compute_output_shape((None,) + tuple(x.shape[1:]))

    def _output_activation(self):
        from ..layers.core import Activation, Dense

        if not self.layers:
            return None
        last = self.layers[-1]
        if isinstance(last, (Dense, Activation)) and last.activation_name in ("sigmoid", "softmax"):
            return last.activation_name
        return None

    def _forward_logits(self, x: Tensor) -> Tensor:
        from ..layers.core import Dense

        for layer in self.layers[:-1]:
            x = layer(x)
        last = self.layers[-1]
        return last.linear(x) if isinstance(last, Dense) else x

    def _layers_for_training(self) -> list:
        return list(self.layers)

    # ------------------------------------------------------------------ weights
    def get_weights(self) -> list:
        """Chapter 07: every layer's ``get_weights()``, concatenated in layer order (Keras order)."""
        out = []
        for layer in self.layers:
            out.extend(layer.get_weights())
        return out

    def set_weights(self, weights) -> None:
        """Chapter 07: set all weights from a list in ``get_weights`` order."""
        weights = list(weights)
        counts = [len(layer.get_weights()) for layer in self.layers]
        if sum(counts) != len(weights):
            raise ValueError(f"set_weights: model {self.name!r} has {sum(counts)} weight arrays, got {len(weights)}")
        start = 0
        for layer, count in zip(self.layers, counts):
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self) -> int:
        """Chapter 06: the number of values in all weights (moving statistics included, as Keras)."""
        return sum(layer.count_params() for layer in self.layers)

    # ------------------------------------------------------------------ summary
    def summary(self, line_length: int | None = None, print_fn=None) -> None:
        """Chapter 06: print Keras' table: Layer (type) | Output Shape | Param #, then the totals.

        The totals count trainable and non-trainable values (frozen layers and
        batch-norm moving statistics are non-trainable) with their memory size,
        e.g. ``Total params: 4,481 (17.50 KB)``.
        """
        if not self.built:
            raise ValueError(
                f"summary(): model {self.name!r} has not been built yet, so its output shapes and weights are "
                "unknown. Give the first layer an input_shape (e.g. Dense(64, input_shape=(30,))), call "
                "model.build((None, 30)), or run fit()/predict() on data first."
            )
        self.build(self._build_input_shape)  # layers added after building get their weights
        print_fn = print_fn or print
        rows = []
        shape = self._build_input_shape
        trainable = non_trainable = 0
        trainable_bytes = non_trainable_bytes = 0
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
            rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(shape), f"{layer.count_params():,}"))
            for kind, owner, key in layer.weight_slots():
                arr = owner.data if kind == "param" else owner.get_buffer(key)
                if kind == "param" and layer.trainable and self.trainable:
                    trainable += arr.size
                    trainable_bytes += arr.nbytes
                else:
                    non_trainable += arr.size
                    non_trainable_bytes += arr.nbytes
        header = ("Layer (type)", "Output Shape", "Param #")
        widths = [max([len(header[i])] + [len(r[i]) for r in rows]) + 4 for i in range(3)]
        widths[0] = max(widths[0], 29)
        widths[1] = max(widths[1], 26)
        widths[2] = max(widths[2], 10)
        total_width = max(sum(widths) + 1, line_length or 0)

        def line(cells):
            return (" " + "".join(c.ljust(w) for c, w in zip(cells, widths))).rstrip()

        out = [f'Model: "{self.name}"', "_" * total_width, line(header), "=" * total_width]
        for i, row in enumerate(rows):
            out.append(line(row))
            if i < len(rows) - 1:
                out.append("")
        out.append("=" * total_width)
        total = trainable + non_trainable
        out.append(f"Total params: {total:,} ({_memory_text(trainable_bytes + non_trainable_bytes)})")
        out.append(f"Trainable params: {trainable:,} ({_memory_text(trainable_bytes)})")
        out.append(f"Non-trainable params: {non_trainable:,} ({_memory_text(non_trainable_bytes)})")
        out.append("_" * total_width)
        print_fn("\n".join(out))

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """Chapter 07: {'name', 'trainable', 'layers': [{'class_name', 'config'}, ...]} (JSON-serializable)."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None, weight_shapes: dict | None = None,
                    build_input_shape=None) -> "Sequential":
        """Chapter 07: rebuild a model from ``get_config()`` (what ``load_model`` calls); a ValueError if invalid.

        Layer classes come from the registry (plus ``custom_objects``); with
        ``weight_shapes`` every layer's size is checked against the stored weights
        before it is built (see :func:`nnlib.saving.config.layers_from_config`).
        """
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("the Sequential config has no 'layers' list")
        unexpected = sorted(set(config) - {"name", "trainable", "layers"})
        if unexpected:
            raise ValueError(f"the Sequential config has unexpected entries {unexpected}")
        name, trainable = config.get("name"), config.get("trainable", True)
        if (name is not None and not isinstance(name, str)) or not isinstance(trainable, bool):
            raise ValueError("the Sequential config has an invalid name or trainable flag")
        known = {**registered_layers(), **(custom_objects or {})}
        layers = layers_from_config(config["layers"], known, weight_shapes, build_input_shape)
        model = cls(name=name, trainable=trainable)
        model.layers = layers  # names were checked; add() per layer would be quadratic
        shape = build_input_shape
        if shape is None and layers and layers[0].input_shape is not None:
            shape = layers[0].input_shape
        if shape is not None:
            model.build(shape)
        return model

    def __repr__(self) -> str:
        inner = ", ".join(f"{type(layer).__name__}({layer.name!r})" for layer in self.layers)
        return f"<Sequential name={self.name!r}, layers=[{inner}], built={self.built}>"
