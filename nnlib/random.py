"""Chapter 06: one seeded random generator for initializers, dropout and shuffling.

``nnlib.manual_seed(42)`` makes every later initialization and dropout mask
repeatable, the way ``torch.manual_seed`` does.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

__all__ = ["manual_seed", "get_rng", "thread_rng", "dropout_mask"]

_rng = np.random.default_rng(0)
_local = threading.local()  # a worker thread's own generator (nnlib.parallel), if any


def manual_seed(seed: int) -> np.random.Generator:
    """Chapter 06: reseed nnlib's global generator and return it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def get_rng() -> np.random.Generator:
    """Chapter 06: the global generator used when no ``rng`` is passed."""
    own = getattr(_local, "rng", None)
    return _rng if own is None else own


@contextlib.contextmanager
def thread_rng(generator: np.random.Generator):
    """Chapter 15: inside this block, :func:`get_rng` returns ``generator`` in the current thread only.

    ``nnlib.parallel`` gives each worker thread its own seeded generator, so dropout
    masks do not depend on which thread runs first.
    """
    previous = getattr(_local, "rng", None)
    _local.rng = generator
    try:
        yield generator
    finally:
        _local.rng = previous


def dropout_mask(shape, p: float, dtype, rng: np.random.Generator | None = None) -> np.ndarray:
    """Chapter 09: an inverted-dropout mask: 0 with probability ``p``, else 1/(1-p), drawn from ``rng``.

    One float32 uniform number per element from ``rng`` (default: :func:`get_rng`), so
    every dropout in nnlib consumes the generator the same way.
    """
    keep = (get_rng() if rng is None else rng).random(shape, dtype=np.float32) >= p
    mask = keep.astype(dtype)
    mask *= 1.0 / (1.0 - p)
    return mask
