"""Chapter 12: choosing the next token from a language model's logits.

::

    from nnlib.sampling import sample_next
    nxt = sample_next(logits[:, -1, :], temperature=0.8, top_k=20, rng=np.random.default_rng(0))

:func:`sample_next` applies a temperature, then top-k, then top-p (nucleus) filtering, and
draws one token per row by inverse CDF. :func:`sampling_args` checks those three arguments
once, for every caller (``GPT.generate`` too), with errors that name the argument.
"""
from __future__ import annotations

import math

import numpy as np

from .engine import Tensor

__all__ = ["sample_next", "sampling_args"]


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def sampling_args(temperature, top_k, top_p, who: str) -> tuple:
    """Chapter 12: ``(temperature, top_k, top_p)`` checked and normalised (float, int or None, float or None).

    ``temperature`` is a finite number >= 0 (0 = greedy), ``top_k`` a positive integer or
    None, ``top_p`` a number in (0, 1] or None. A TypeError or ValueError that starts with
    ``who`` (the caller's name) and names the argument otherwise.
    """
    if not _is_number(temperature):
        raise TypeError(f"{who}: temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    temperature = float(temperature)
    if not (math.isfinite(temperature) and temperature >= 0.0):
        raise ValueError(f"{who}: temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None:
        if not _is_number(top_k):
            raise TypeError(f"{who}: top_k must be a positive integer or None, got {top_k!r}")
        if not (math.isfinite(float(top_k)) and float(top_k) == int(top_k) and top_k >= 1):
            raise ValueError(f"{who}: top_k must be a positive integer or None, got {top_k!r}")
        top_k = int(top_k)
    if top_p is not None:
        if not _is_number(top_p):
            raise TypeError(f"{who}: top_p must be a number in (0, 1] or None, got {top_p!r}")
        top_p = float(top_p)
        if not 0.0 < top_p <= 1.0:  # also refuses nan
            raise ValueError(f"{who}: top_p must be in (0, 1] or None, got {top_p!r}")
    return temperature, top_k, top_p


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                rng=None) -> np.ndarray:
    """Chapter 12: pick one token id per row of ``logits`` (B, V).

    - ``temperature`` divides the logits (below 1: sharper, above 1: flatter); 0 means
      greedy (always the most likely token).
    - ``top_k`` keeps only the k most likely tokens.
    - ``top_p`` (nucleus sampling) keeps the smallest set of most likely tokens whose
      probabilities add up to at least ``top_p``.

    Sampling is by inverse CDF with one uniform number per row from ``rng`` (a
    ``numpy.random.Generator``), in float64, so a seed gives the same tokens everywhere.
    """
    temperature, top_k, top_p = sampling_args(temperature, top_k, top_p, "sample_next")
    z = logits.data if isinstance(logits, Tensor) else np.asarray(logits)
    squeeze = z.ndim == 1
    z = np.atleast_2d(z).astype(np.float64)
    if temperature == 0.0:
        out = z.argmax(axis=-1)
        return out[0] if squeeze else out
    z = z / float(temperature)
    vocab = z.shape[-1]
    if top_k is not None and top_k < vocab:
        kth = np.partition(z, vocab - int(top_k), axis=-1)[:, vocab - int(top_k)][:, None]
        z = np.where(z < kth, -np.inf, z)
    z -= z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p  # mass of the more likely tokens
        drop_sorted = before >= float(top_p)
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=-1)
        p = np.where(drop, 0.0, p)
    cdf = np.cumsum(p, axis=-1)
    rng = np.random.default_rng() if rng is None else rng
    u = rng.random(z.shape[0]) * cdf[:, -1]
    out = np.minimum((cdf <= u[:, None]).sum(axis=-1), vocab - 1)
    # never land on a zero-probability token because of rounding at the top end
    zero = np.take_along_axis(p, out[:, None], axis=-1)[:, 0] == 0.0
    if zero.any():
        out[zero] = p[zero].argmax(axis=-1)
    return out[0] if squeeze else out
