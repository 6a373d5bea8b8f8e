"""Chapter 09: weight regularizers (正则化), Keras-style: ``Dense(64, kernel_regularizer=l2(0.01))``.

A regularizer turns a weight into a penalty that ``fit`` adds to the loss:

* ``L2(l2)``: ``l2 * sum(w ** 2)`` (Keras' formula: no factor 1/2);
* ``L1(l1)``: ``l1 * sum(|w|)``;
* ``L1L2(l1, l2)``: both.

The penalty's gradient ``2 * l2 * w`` pulls every weight towards zero at
each step; that is what "weight decay" means for plain SGD. (For Adam, the
decoupled form in ``nnlib.optim.AdamW`` is usually the better choice.)
"""
from __future__ import annotations

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get"]


class Regularizer:
    """Chapter 09: base class: ``regularizer(weight_tensor)`` returns a scalar penalty Tensor."""

    def __call__(self, weight):
        raise NotImplementedError

    def get_config(self) -> dict:
        """Chapter 09: the constructor arguments (for saving)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def nonnegative(value, name: str) -> float:
    """Chapter 09: ``value`` as a float >= 0, or a ValueError "<name> must be a number >= 0"."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}") from None
    if not value >= 0.0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return value


class L2(Regularizer):
    """Chapter 09: L2 penalty ``l2 * sum(w ** 2)`` (Keras' default factor 0.01)."""

    def __init__(self, l2: float = 0.01):
        self.l2 = nonnegative(l2, "L2: l2")

    def __call__(self, weight):
        return (weight * weight).sum() * self.l2

    def get_config(self) -> dict:
        """Chapter 09: {'l2': factor}."""
        return {"l2": self.l2}


class L1(Regularizer):
    """Chapter 09: L1 penalty ``l1 * sum(|w|)``, which pushes weights to exactly zero."""

    def __init__(self, l1: float = 0.01):
        self.l1 = nonnegative(l1, "L1: l1")

    def __call__(self, weight):
        return weight.abs().sum() * self.l1

    def get_config(self) -> dict:
        """Chapter 09: {'l1': factor}."""
        return {"l1": self.l1}


class L1L2(Regularizer):
    """Chapter 09: ``l1 * sum(|w|) + l2 * sum(w ** 2)`` (Keras' defaults are 0 for both)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = nonnegative(l1, "L1L2: l1")
        self.l2 = nonnegative(l2, "L1L2: l2")

    def __call__(self, weight):
        penalty = (weight * weight).sum() * self.l2
        if self.l1:
            penalty = penalty + weight.abs().sum() * self.l1
        return penalty

    def get_config(self) -> dict:
        """Chapter 09: {'l1': factor, 'l2': factor}."""
        return {"l1": self.l1, "l2": self.l2}


def l2(l2: float = 0.01) -> L2:  # noqa: D401 - Keras spelling
    """Chapter 09: shorthand for ``L2(l2)``, as ``keras.regularizers.l2``."""
    return L2(l2)


def l1(l1: float = 0.01) -> L1:
    """Chapter 09: shorthand for ``L1(l1)``."""
    return L1(l1)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Chapter 09: shorthand for ``L1L2(l1, l2)`` (Keras' shorthand defaults are 0.01 each)."""
    return L1L2(l1, l2)


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier):
    """Chapter 09: a regularizer from None, an instance, a name ('l2'), or a saved config dict.

    Config dicts look like ``{"class_name": "L2", "config": {"l2": 0.01}}``;
    only the three classes above are accepted.
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown regularizer {identifier!r}; valid names: {sorted(_NAMES)}")
        return cls()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        config = identifier.get("config", {})
        if cls is None or not isinstance(config, dict) or not set(config) <= {"l1", "l2"}:
            raise ValueError(
                f"invalid regularizer config {identifier!r}; expected class_name in {sorted(_CLASSES)} "
                "and a config with l1/l2 numbers"
            )
        try:
            return cls(**config)
        except TypeError as exc:
            raise ValueError(f"invalid regularizer config {identifier!r}: {exc}") from None
    if callable(identifier):
        return identifier
    raise TypeError(f"a regularizer must be None, a name, a Regularizer or a callable; got {identifier!r}")


def serialize(regularizer):
    """Chapter 09: the JSON form of a regularizer (None stays None; custom callables cannot be saved)."""
    if regularizer is None:
        return None
    if type(regularizer) in _CLASSES.values():
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    raise ValueError(
        f"cannot save the custom regularizer {regularizer!r}; use nnlib.regularizers.L1/L2/L1L2"
    )
