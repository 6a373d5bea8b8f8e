"""Chapter 12: n-gram baselines, the losses a language model must beat.

``ngram_baselines(train_ids, valid_ids, vocab_size)`` gives the validation cross-entropy
(nats per token) of a uniform, a unigram and a bigram model counted on the training ids.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ngram_baselines"]


def ngram_baselines(train_ids, valid_ids, vocab_size: int, alpha: float = 1.0) -> dict:
    """Chapter 12: the losses a GPT must beat: uniform, unigram and bigram models.

    The unigram model predicts each token by its frequency in ``train_ids``; the bigram
    model by its frequency after the previous token. Both use add-``alpha`` (Laplace)
    smoothing so unseen tokens keep a small probability. Returns the cross-entropy of
    each on ``valid_ids`` in nats per token: ``{"uniform", "unigram", "bigram"}``.
    """
    train = np.asarray(train_ids, dtype=np.int64)
    valid = np.asarray(valid_ids, dtype=np.int64)
    v = int(vocab_size)
    uni = np.bincount(train, minlength=v).astype(np.float64) + alpha
    uni /= uni.sum()
    pairs = np.bincount(train[:-1] * v + train[1:], minlength=v * v).reshape(v, v).astype(np.float64) + alpha
    rows = pairs.sum(axis=1, keepdims=True)
    pairs = np.divide(pairs, rows, out=np.zeros_like(pairs), where=rows > 0)  # alpha=0: unseen rows stay 0
    return {"uniform": float(np.log(v)), "unigram": float(-np.log(uni[valid]).mean()),
            "bigram": float(-np.log(pairs[valid[:-1], valid[1:]]).mean())}
