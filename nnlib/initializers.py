"""Chapter 06: weight initializers (权重初始化), Keras names and formulas.

``glorot_uniform`` (Keras' default for Dense kernels) draws from
U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)); ``he_*`` scale by
fan_in only, which suits ReLU layers. ``uniform`` and ``normal`` are Keras' names for
``RandomUniform(-0.05, 0.05)`` and ``RandomNormal(stddev=0.05)``, with Keras' defaults
(the naming rule, ``nnlib/__init__.py``); GPT-2's N(0, 0.02^2) is
``nnlib.layers.sequence.gpt2_normal()``. All draw from nnlib's seeded generator
unless an ``rng`` is given.
"""
from __future__ import annotations

import math

import numpy as np

from .random import get_rng

__all__ = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "zeros", "ones", "uniform", "normal",
           "get"]


def _fans(shape) -> tuple:
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape, dtype=np.float32, rng=None) -> np.ndarray:
    """Chapter 06: Glorot/Xavier uniform, limit sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return (rng or get_rng()).uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(shape, dtype=np.float32, rng=None) -> np.ndarray:
    """Chapter 06: Glorot/Xavier normal, std sqrt(2 / (fan_in + fan_out)), truncated at 2 std as in Keras."""
    fan_in, fan_out = _fans(shape)
    return _truncated_normal(shape, math.sqrt(2.0 / (fan_in + fan_out)), dtype, rng)


def he_uniform(shape, dtype=np.float32, rng=None) -> np.ndarray:
    """Chapter 06: He/Kaiming uniform, limit sqrt(6 / fan_in) (for ReLU layers)."""
    fan_in, _ = _fans(shape)
    limit = math.sqrt(6.0 / fan_in)
    return (rng or get_rng()).uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape, dtype=np.float32, rng=None) -> np.ndarray:
    """Chapter 06: He/Kaiming normal, std sqrt(2 / fan_in), truncated at 2 std as in Keras."""
    fan_in, _ = _fans(shape)
    return _truncated_normal(shape, math.sqrt(2.0 / fan_in), dtype, rng)


def uniform(shape, dtype=np.float32, rng=None, minval: float = -0.05, maxval: float = 0.05) -> np.ndarray:
    """Chapter 11: Keras' "uniform" (``RandomUniform``), U(minval, maxval); Keras' default for Embedding."""
    return (rng or get_rng()).uniform(minval, maxval, size=shape).astype(dtype)


def normal(shape, dtype=np.float32, rng=None, mean: float = 0.0, stddev: float = 0.05) -> np.ndarray:
    """Chapter 11: Keras' "normal" (``RandomNormal``), N(mean, stddev^2), not truncated."""
    values = (rng or get_rng()).standard_normal(size=shape) * stddev
    if mean:
        values += mean
    return values.astype(dtype)


def zeros(shape, dtype=np.float32, rng=None) -> np.ndarray:
    """Chapter 06: all zeros (Keras' default for biases)."""
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype=np.float32, rng=None) -> np.ndarray:
    """Chapter 06: all ones (batch-norm and layer-norm scales)."""
    return np.ones(shape, dtype=dtype)


def _truncated_normal(shape, std, dtype, rng):
    rng = rng or get_rng()
    # Keras divides by .87962566 so the truncated distribution keeps the wanted std
    scale = std / 0.87962566103423978
    values = rng.standard_normal(size=shape)
    bad = np.abs(values) > 2.0
    while np.any(bad):
        values[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(values) > 2.0
    return (values * scale).astype(dtype)


_BY_NAME = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal, zeros, ones,
                                    uniform, normal)}


def get(initializer):
    """Chapter 06: an initializer from its Keras name, or a callable passed through."""
    if callable(initializer):
        return initializer
    try:
        return _BY_NAME[initializer]
    except KeyError:
        raise ValueError(f"unknown initializer {initializer!r}; valid names: {sorted(_BY_NAME)}") from None
