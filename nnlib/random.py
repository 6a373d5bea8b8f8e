"""Chapter 06: one seeded random generator for initializers, dropout and shuffling.

``nnlib.manual_seed(42)`` makes every later initialization and dropout mask
repeatable, the way ``torch.manual_seed`` does.
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "get_rng"]

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Chapter 06: reseed nnlib's global generator and return it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def get_rng() -> np.random.Generator:
    """Chapter 06: the global generator used when no ``rng`` is passed."""
    return _rng
