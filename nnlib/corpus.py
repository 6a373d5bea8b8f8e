"""Chapter 12: the course's text corpus and random training windows from a token stream.

* ``load_corpus(split)``: the shipped corpus (Python's own documentation, see
  ``data/corpus/README.md``), as one string; ``corpus_path(split)`` is its file.
* ``sample_batch(tokens, batch_size, context_length, rng)``: windows of a long 1-D token
  array at random positions, and the same windows shifted by one (the next tokens).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .datasets import data_path

__all__ = ["load_corpus", "corpus_path", "sample_batch"]

_SPLITS = ("train", "valid")


def corpus_path(split: str = "train") -> Path:
    """Chapter 12: the path of ``data/corpus/<split>.txt`` (split is 'train' or 'valid')."""
    if split not in _SPLITS:
        raise ValueError(f"load_corpus: split must be one of {_SPLITS}, got {split!r}")
    return Path(data_path(f"corpus/{split}.txt"))


def load_corpus(split: str = "train") -> str:
    """Chapter 12: the course's text corpus, 'train' (~1.2 MB) or 'valid' (~0.14 MB).

    English technical prose from Python's documentation (PSF license), printable ASCII
    plus newline; documents are separated by two blank lines.
    """
    path = corpus_path(split)
    if not path.is_file():
        raise FileNotFoundError(
            f"load_corpus: {path} is missing; it ships with the course in data/corpus/ "
            f"(regenerate it with `python scripts/extract_corpus.py`)")
    # universal newlines: a checkout that turned "\n" into "\r\n" still reads the same text
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def sample_batch(tokens, batch_size: int, context_length: int, rng) -> tuple:
    """Chapter 12: a random training batch from a long 1-D token array.

    Returns ``(x, y)`` of shape (batch_size, context_length): windows starting at
    random positions, and the same windows shifted by one (the next tokens).
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or tokens.size <= context_length:
        raise ValueError(f"sample_batch: need a 1-D token array longer than context_length={context_length}, "
                         f"got shape {tokens.shape}")
    starts = rng.integers(0, tokens.size - context_length, size=batch_size)
    offsets = starts[:, None] + np.arange(context_length)[None, :]
    return tokens[offsets], tokens[offsets + 1]
