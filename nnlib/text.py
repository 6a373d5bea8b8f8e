"""Chapter 12: tokenizers for language models (the corpus itself is :mod:`nnlib.corpus`).

* ``CharTokenizer``: one id per character. Tiny vocabulary, long sequences.
* ``BPETokenizer``: byte-level byte-pair encoding (字节对编码), trained from scratch the
  way GPT-2's tokenizer was: start from the 256 byte values, then repeatedly merge the most
  frequent adjacent pair into a new token. Any string round-trips, because every string
  is a sequence of bytes.

Both tokenizers derive from :class:`Tokenizer`, which holds their one file format: JSON
(never pickle) with a ``format`` name and a ``version``, so a saved tokenizer is safe to
open and easy to read.
"""
from __future__ import annotations

import heapq
import json
import re
import warnings
import numpy as np

from .saving.files import atomic_write, read_json

__all__ = ["Tokenizer", "CharTokenizer", "BPETokenizer", "PRE_SPLIT_PATTERN",
           "PRE_SPLIT_PATTERNS", "register_pre_split_pattern", "tokenizer_to_dict", "tokenizer_from_dict"]

#: largest tokenizer file read (a BPE tokenizer of 50,000 merges is about 1 MB)
MAX_TOKENIZER_BYTES = 16 * 1024 * 1024

# ---------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------

def _as_id_list(ids, vocab_size: int, who: str) -> list:
    """Validate token ids (list, tuple or integer array) and return them as a list of int."""
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"{who}: expected a sequence of token ids, got {type(ids).__name__}")
    arr = np.asarray(ids)
    if arr.size == 0:
        return []
    if arr.ndim != 1:
        raise ValueError(f"{who}: expected a 1-D sequence of token ids, got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)  # e.g. ids that went through a float array
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{who}: token ids must be integers, got {arr.dtype} values")
    bad = (arr < 0) | (arr >= vocab_size)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{who}: token id {int(arr[i])} at position {i} is outside the "
                         f"vocabulary (valid ids are 0..{vocab_size - 1})")
    return arr.tolist()


def _is_int(x) -> bool:
    return type(x) is int  # not bool, not float


class Tokenizer:
    """Chapter 12: the file format both tokenizers share (``save``/``load``, ``to_dict``/``from_dict``).

    A tokenizer file is one JSON object ``{"format": <the class's format name>, "version": 1,
    ...}``; a subclass names its format in ``_FORMAT`` and its other entries in ``_ENTRIES``,
    and implements ``_entries()`` (its state as JSON values) and ``_init_kwargs(obj, where)``
    (the checked constructor arguments from a file's object). Loading reads only a regular
    file of at most :data:`MAX_TOKENIZER_BYTES` and never unpickles or runs code; saving is
    atomic (an interrupted save never leaves a half-written file).
    """

    _FORMAT = ""
    _ENTRIES: tuple = ()

    def _entries(self) -> dict:
        raise NotImplementedError

    @classmethod
    def _init_kwargs(cls, obj: dict, where: str) -> dict:
        raise NotImplementedError

    def to_dict(self) -> dict:
        """Chapter 12: the tokenizer as a JSON-ready dict (what ``save`` writes)."""
        return {"format": self._FORMAT, "version": 1, **self._entries()}

    @classmethod
    def from_dict(cls, obj, where: str | None = None):
        """Chapter 12: rebuild a tokenizer from :meth:`to_dict`; a ValueError starting with ``where`` if ``obj`` is bad."""
        where = cls.__name__ if where is None else where
        if not isinstance(obj, dict):
            raise ValueError(f"{where} must hold a JSON object, found {type(obj).__name__}")
        if obj.get("format") != cls._FORMAT:
            raise ValueError(f"{where} has format {str(obj.get('format'))[:80]!r}, expected {cls._FORMAT!r}")
        if obj.get("version") != 1 or isinstance(obj.get("version"), bool):
            version = obj.get("version")
            raise ValueError(f"{where} has version {version if isinstance(version, int) else str(version)[:20]!r}; "
                             "this nnlib reads version 1")
        unknown = sorted(set(obj) - {"format", "version", *cls._ENTRIES})
        if unknown:
            raise ValueError(f"{where}: unknown entries {unknown[:5]}")
        kwargs = cls._init_kwargs(obj, where)
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from None

    def save(self, path) -> None:
        """Chapter 12: write the tokenizer to a JSON file, atomically."""
        text = json.dumps(self.to_dict(), ensure_ascii=True, indent=1) + "\n"
        atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), "save")

    @classmethod
    def load(cls, path):
        """Chapter 12: read a tokenizer written by ``save``; a ValueError (naming the file) if it is bad."""
        who = f"{cls._FORMAT.rsplit('.', 1)[-1]}.load"
        obj = read_json(path, MAX_TOKENIZER_BYTES, "the tokenizer file", error=ValueError)
        return cls.from_dict(obj, f"{who}: {path}")



# ---------------------------------------------------------------------------------------
# Character tokenizer
# ---------------------------------------------------------------------------------------

class CharTokenizer(Tokenizer):
    """Chapter 12: one token per character (字符级分词器).

    ``CharTokenizer.train(text)`` takes the sorted set of characters in ``text`` as the
    vocabulary; ``CharTokenizer(chars)`` uses ``chars`` in the given order. With
    ``unk`` set (a single character), unknown characters map to its id instead of raising.
    """

    _FORMAT = "nnlib.text.CharTokenizer"
    _ENTRIES = ("chars", "unk")

    def __init__(self, chars, unk: str | None = None):
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"CharTokenizer: every vocabulary entry must be a single "
                                 f"character, got {c!r}")
        if len(set(chars)) != len(chars):
            seen, dup = set(), None
            for c in chars:
                if c in seen:
                    dup = c
                    break
                seen.add(c)
            raise ValueError(f"CharTokenizer: character {dup!r} appears twice in the vocabulary")
        if unk is not None:
            if not isinstance(unk, str) or len(unk) != 1:
                raise ValueError(f"CharTokenizer: unk must be a single character, got {unk!r}")
            if unk not in chars:
                chars.append(unk)
        self._chars = chars
        self.unk = unk
        self._stoi = {c: i for i, c in enumerate(chars)}
        codes = np.array([ord(c) for c in chars], dtype=np.int64)
        self._codes = codes.astype(np.uint32)          # id -> code point
        order = np.argsort(codes, kind="stable")
        self._sorted_codes = codes[order]              # for searchsorted lookups
        self._sorted_ids = order.astype(np.int64)

    @classmethod
    def train(cls, text: str, unk: str | None = None) -> "CharTokenizer":
        """Chapter 12: a tokenizer whose vocabulary is the sorted characters of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.train: expected str, got {type(text).__name__}")
        return cls(sorted(set(text)), unk=unk)

    @property
    def vocab_size(self) -> int:
        """Chapter 12: number of distinct tokens."""
        return len(self._chars)

    def __len__(self) -> int:
        return len(self._chars)

    @property
    def chars(self) -> list:
        """Chapter 12: the vocabulary, id order (a copy)."""
        return list(self._chars)

    @property
    def stoi(self) -> dict:
        """Chapter 12: character -> id (a copy)."""
        return dict(self._stoi)

    @property
    def itos(self) -> list:
        """Chapter 12: id -> character (a copy)."""
        return list(self._chars)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, unk={self.unk!r})"

    def encode(self, text: str, return_array: bool = False):
        """Chapter 12: the ids of the characters of ``text`` (a list, or an int64 array)."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: expected str, got {type(text).__name__}")
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        cps = cps.astype(np.int64)
        if self.vocab_size:
            pos = np.minimum(np.searchsorted(self._sorted_codes, cps), self.vocab_size - 1)
            found = self._sorted_codes[pos] == cps
            ids = self._sorted_ids[pos]
        else:
            found = np.zeros(len(cps), dtype=bool)
            ids = np.zeros(len(cps), dtype=np.int64)
        if not found.all():
            if self.unk is None:
                i = int(np.argmin(found))
                ch = text[i]
                raise ValueError(
                    f"CharTokenizer.encode: character {ch!r} (U+{ord(ch):04X}) at position {i} "
                    f"is not in the vocabulary of {self.vocab_size} characters; train the "
                    f"tokenizer on text that contains it, or pass unk='?' to map unknowns")
            ids = np.where(found, ids, self._stoi[self.unk])
        return ids if return_array else ids.tolist()

    def decode(self, ids) -> str:
        """Chapter 12: the text of a sequence of ids (list or integer array)."""
        ids = _as_id_list(ids, self.vocab_size, "CharTokenizer.decode")
        if not ids:
            return ""
        cps = self._codes[np.asarray(ids, dtype=np.int64)]
        return cps.tobytes().decode("utf-32-le", "surrogatepass")

    def _entries(self) -> dict:
        return {"chars": list(self._chars), "unk": self.unk}

    @classmethod
    def _init_kwargs(cls, obj: dict, where: str) -> dict:
        chars, unk = obj.get("chars"), obj.get("unk")
        if not isinstance(chars, list):
            raise ValueError(f"{where}: 'chars' must be a list of characters")
        if unk is not None and not isinstance(unk, str):
            raise ValueError(f"{where}: 'unk' must be a character or null")
        return {"chars": chars, "unk": unk}


# ---------------------------------------------------------------------------------------
# Byte-level BPE
# ---------------------------------------------------------------------------------------

#: Pre-tokenization (预分词) regex: English contractions, runs of letters, runs of digits,
#: runs of other symbols (each may take one leading space), and whitespace. A run of
#: whitespace leaves its last space to the word that follows, so " the" is one chunk.
PRE_SPLIT_PATTERN = (r"'(?:[sdmt]|ll|ve|re)"
                     r"| ?[^\W\d_]+"
                     r"| ?\d+"
                     r"| ?(?:[^\s\w]|_)+"
                     r"|\s+(?!\S)"
                     r"|\s+")

#: the pre-tokenization patterns a tokenizer FILE may name (a file never supplies a regex:
#: a pattern like ``(\w+\s?)+$`` would make encode hang). Code may add one with
#: :func:`register_pre_split_pattern`.
PRE_SPLIT_PATTERNS = {
    "default": PRE_SPLIT_PATTERN,
    "words": r" ?\w+| ?[^\w\s]+|\s+",
}


def register_pre_split_pattern(name: str, pattern: str) -> None:
    """Chapter 12: allow tokenizer files to name ``pattern`` (a regex given in code) as ``name``."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]{1,40}", name):
        raise ValueError(f"register_pre_split_pattern: invalid name {name!r}")
    re.compile(pattern)
    if PRE_SPLIT_PATTERNS.get(name, pattern) != pattern:
        raise ValueError(f"register_pre_split_pattern: {name!r} already names another pattern")
    PRE_SPLIT_PATTERNS[name] = pattern


def _pattern_name(pattern: str):
    for name, known in PRE_SPLIT_PATTERNS.items():
        if known == pattern:
            return name
    return None


_LONG = 512          # chunks longer than this many tokens use the NumPy code paths
_CACHE_LIMIT = 200_000
_MAX_VOCAB_BYTES = 1 << 28


def _merge_list(ids: list, a: int, b: int, new_id: int) -> list:
    """Replace every non-overlapping (a, b), left to right, by new_id."""
    out = []
    i, n = 0, len(ids)
    while i < n:
        if i < n - 1 and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _pair_counts_list(ids) -> dict:
    counts = {}
    for p in zip(ids, ids[1:]):
        counts[p] = counts.get(p, 0) + 1
    return counts


def _merge_positions(arr: np.ndarray, a: int, b: int) -> np.ndarray:
    """Start positions of the non-overlapping (a, b) pairs a left-to-right merge takes."""
    pos = np.flatnonzero((arr[:-1] == a) & (arr[1:] == b))
    if a == b and len(pos) > 1:  # runs like a a a: take every other pair of each run
        idx = np.arange(len(pos))
        starts = np.r_[True, np.diff(pos) != 1]
        run_start = np.maximum.accumulate(np.where(starts, idx, 0))
        pos = pos[(idx - run_start) % 2 == 0]
    return pos


def _merge_array(arr: np.ndarray, pos: np.ndarray, new_id: int) -> np.ndarray:
    out = arr.copy()
    out[pos] = new_id
    return np.delete(out, pos + 1)


def _pair_keys(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return (arr[idx].astype(np.int64) << 32) | arr[idx + 1].astype(np.int64)


class BPETokenizer(Tokenizer):
    """Chapter 12: byte-level byte-pair-encoding tokenizer (BPE, 字节对编码), GPT-2 style.

    Ids 0..255 are the raw bytes; id ``256 + k`` is the k-th learned merge; special tokens
    (e.g. ``"<|endoftext|>"``) come last. Build one with ``BPETokenizer.train(text,
    vocab_size)`` or ``BPETokenizer.load(path)``.
    """

    _FORMAT = "nnlib.text.BPETokenizer"
    _ENTRIES = ("pre_split", "pattern_name", "special_tokens", "merges")

    def __init__(self, merges=(), special_tokens=None, pre_split: bool = True,
                 pattern: str | None = None):
        merges = [tuple(m) for m in merges]
        self._check_merges(merges)
        self.merges = merges
        self.pre_split = bool(pre_split)
        if pattern is None:
            pattern = PRE_SPLIT_PATTERN
        elif isinstance(pattern, str) and pattern in PRE_SPLIT_PATTERNS:
            pattern = PRE_SPLIT_PATTERNS[pattern]
        self.pattern = pattern
        try:
            self._regex = re.compile(self.pattern)
        except (re.error, TypeError) as exc:
            raise ValueError(f"BPETokenizer: pattern {self.pattern!r} is not a valid regular "
                             f"expression ({exc})") from None
        base = 256 + len(merges)
        if special_tokens is None:
            special_tokens = {}
        elif not isinstance(special_tokens, dict):
            special_tokens = {tok: base + i for i, tok in enumerate(special_tokens)}
        self._check_special(special_tokens, base)
        self.special_tokens = dict(special_tokens)

        self._ranks = {pair: 256 + i for i, pair in enumerate(merges)}
        lengths = [1] * 256  # guard against files whose merges double a token many times
        for a, b in merges:
            lengths.append(lengths[a] + lengths[b])
        if sum(lengths) > _MAX_VOCAB_BYTES:
            raise ValueError(f"BPETokenizer: the merges spell tokens of {sum(lengths):,} bytes "
                             f"in all (longest {max(lengths):,}); more than the "
                             f"{_MAX_VOCAB_BYTES:,} allowed")
        vocab = [bytes([i]) for i in range(256)]
        for a, b in merges:
            vocab.append(vocab[a] + vocab[b])
        for tok, i in sorted(self.special_tokens.items(), key=lambda kv: kv[1]):
            vocab.append(tok.encode("utf-8", "surrogatepass"))
        self._vocab = vocab
        self._special_by_id = {i: t for t, i in self.special_tokens.items()}
        if self.special_tokens:
            alts = sorted(self.special_tokens, key=lambda t: (-len(t), t))
            self._special_re = re.compile("(" + "|".join(map(re.escape, alts)) + ")")
        else:
            self._special_re = None
        if merges:
            keys = np.array([(a << 32) | b for a, b in merges], dtype=np.int64)
            order = np.argsort(keys)
            self._merge_keys = keys[order]
            self._merge_ids = (order + 256).astype(np.int64)
        else:
            self._merge_keys = np.zeros(0, dtype=np.int64)
            self._merge_ids = np.zeros(0, dtype=np.int64)
        self._cache = {}

    # -- validation ----------------------------------------------------------------------

    @staticmethod
    def _check_merges(merges) -> None:
        seen = set()
        for k, m in enumerate(merges):
            if len(m) != 2 or not all(_is_int(x) for x in m):
                raise ValueError(f"BPETokenizer: merge {k} must be a pair of integer ids, "
                                 f"got {list(m)!r}")
            if not all(0 <= x < 256 + k for x in m):
                raise ValueError(f"BPETokenizer: merge {k} {list(m)} uses an id that does not "
                                 f"exist yet (ids must be in 0..{255 + k})")
            if m in seen:
                raise ValueError(f"BPETokenizer: merge {k} {list(m)} repeats an earlier merge")
            seen.add(m)

    @staticmethod
    def _check_special(special: dict, base: int) -> None:
        for tok, i in special.items():
            if not isinstance(tok, str) or not tok:
                raise ValueError(f"BPETokenizer: special tokens must be non-empty strings, "
                                 f"got {tok!r}")
            if not _is_int(i):
                raise ValueError(f"BPETokenizer: special token {tok!r} has id {i!r}, "
                                 f"expected an integer")
        if sorted(special.values()) != list(range(base, base + len(special))):
            raise ValueError(f"BPETokenizer: special token ids must be {base}.."
                             f"{base + len(special) - 1} (right after the merges), got "
                             f"{sorted(special.values())}")

    # -- properties ----------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Chapter 12: 256 bytes + merges + special tokens."""
        return len(self._vocab)

    def __len__(self) -> int:
        return len(self._vocab)

    @property
    def vocab(self) -> dict:
        """Chapter 12: id -> the bytes the token stands for (a copy)."""
        return dict(enumerate(self._vocab))

    def id_to_token(self, i: int) -> bytes:
        """Chapter 12: the bytes of token ``i`` (special tokens give their UTF-8 text)."""
        if not _is_int(i) and not isinstance(i, np.integer):
            raise TypeError(f"BPETokenizer.id_to_token: expected an int id, got {i!r}")
        if not 0 <= i < self.vocab_size:
            raise ValueError(f"BPETokenizer.id_to_token: id {i} is outside 0.."
                             f"{self.vocab_size - 1}")
        return self._vocab[int(i)]

    def token_to_id(self, token) -> int:
        """Chapter 12: the id of a token given as bytes or str (specials by their text)."""
        if isinstance(token, str):
            if token in self.special_tokens:
                return self.special_tokens[token]
            token = token.encode("utf-8", "surrogatepass")
        if not hasattr(self, "_token_ids"):
            self._token_ids = {}
            for i, t in enumerate(self._vocab):
                if i not in self._special_by_id:
                    self._token_ids.setdefault(t, i)
        if token not in self._token_ids:
            raise ValueError(f"BPETokenizer.token_to_id: {token!r} is not a single token")
        return self._token_ids[token]

    def tokens(self, ids) -> list:
        """Chapter 12: each id as readable text (bytes decoded, invalid UTF-8 shown as \ufffd)."""
        ids = _as_id_list(ids, self.vocab_size, "BPETokenizer.tokens")
        return [self._vocab[i].decode("utf-8", "replace") for i in ids]

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)}, pre_split={self.pre_split})")

    # -- splitting -----------------------------------------------------------------------

    def _split_special(self, text: str, allow_special: bool):
        """Yield (piece, special_id or None); specials only when allowed."""
        if not allow_special or self._special_re is None:
            if text:
                yield text, None
            return
        for k, piece in enumerate(self._special_re.split(text)):
            if k % 2:
                yield piece, self.special_tokens[piece]
            elif piece:
                yield piece, None

    def _chunks(self, text: str):
        """Pre-tokenize ``text`` into chunks whose concatenation is ``text`` exactly."""
        if not self.pre_split:
            if text:
                yield text
            return
        pos = 0
        for m in self._regex.finditer(text):
            s, e = m.span()
            if s > pos:               # text no alternative matched stays a chunk of its own
                yield text[pos:s]
            if e > s:
                yield text[s:e]
            pos = max(pos, e)
        if pos < len(text):
            yield text[pos:]

    # -- training ------------------------------------------------------------------------

    @classmethod
    def train(cls, text: str, vocab_size: int, pre_split: bool = True, special_tokens=(),
              verbose: bool = False, pattern: str | None = None) -> "BPETokenizer":
        """Chapter 12: learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        Pairs never cross chunk boundaries (with ``pre_split``) nor special tokens. Ties
        between equally frequent pairs go to the smaller (left id, right id), so the same
        text always gives the same merges. ``verbose=True`` prints the first ten merges
        and then every tenth of the way.
        """
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.train: expected str, got {type(text).__name__}")
        special_tokens = list(special_tokens)
        if not _is_int(vocab_size) or vocab_size < 256 + len(special_tokens):
            raise ValueError(f"BPETokenizer.train: vocab_size must be an int >= 256 + "
                             f"{len(special_tokens)} special tokens = "
                             f"{256 + len(special_tokens)}, got {vocab_size!r}")
        if len(set(special_tokens)) != len(special_tokens):
            raise ValueError("BPETokenizer.train: special_tokens contains duplicates")
        n_merges = vocab_size - 256 - len(special_tokens)
        splitter = cls(special_tokens=special_tokens, pre_split=pre_split, pattern=pattern)

        chunk_counts = {}
        for piece, sid in splitter._split_special(text, allow_special=True):
            if sid is None:
                for chunk in splitter._chunks(piece):
                    chunk_counts[chunk] = chunk_counts.get(chunk, 0) + 1
        # unique chunks, in first-seen order, with how often each occurs
        words, counts = [], []
        for chunk, c in chunk_counts.items():
            b = chunk.encode("utf-8", "surrogatepass")
            if len(b) >= 2:
                words.append(np.frombuffer(b, np.uint8).astype(np.int64) if len(b) > _LONG
                             else list(b))
                counts.append(c)

        stats = {}   # pair -> weighted count over all words
        where = {}   # pair -> indices of words that (may) contain it
        for wi, w in enumerate(words):
            pc = cls._word_pairs(w)
            for p, c in pc.items():
                stats[p] = stats.get(p, 0) + c * counts[wi]
                where.setdefault(p, set()).add(wi)
        heap = [(-c, p) for p, c in stats.items()]
        heapq.heapify(heap)

        merges = []
        report = {*range(10), n_merges - 1, *(n_merges * j // 10 for j in range(1, 10))}
        vocab = [bytes([i]) for i in range(256)]
        while len(merges) < n_merges:
            best = None
            while heap:
                negc, p = heap[0]
                if stats.get(p, 0) == -negc:
                    best = p
                    break
                heapq.heappop(heap)  # stale entry: the pair's count has changed since
            if best is None:
                break
            new_id = 256 + len(merges)
            count = stats[best]
            merges.append(best)
            vocab.append(vocab[best[0]] + vocab[best[1]])
            changed = {}
            for wi in where.pop(best, ()):
                cls._merge_word(words, wi, counts[wi], best, new_id, changed, where)
            for p, delta in changed.items():
                if delta:
                    c = stats.get(p, 0) + delta
                    if c > 0:
                        stats[p] = c
                        heapq.heappush(heap, (-c, p))
                    else:
                        stats.pop(p, None)
            stats.pop(best, None)
            if verbose and len(merges) - 1 in report:
                print(f"merge {len(merges)}/{n_merges}: {best} -> {new_id} "
                      f"{vocab[new_id]!r} ({count} occurrences)")
        if len(merges) < n_merges:
            warnings.warn(f"BPETokenizer.train: the text allows only {len(merges)} merges, "
                          f"fewer than the {n_merges} asked for; vocab_size is "
                          f"{256 + len(merges) + len(special_tokens)}", stacklevel=2)
        return cls(merges, special_tokens=special_tokens, pre_split=pre_split,
                   pattern=pattern)

    @staticmethod
    def _word_pairs(w) -> dict:
        if isinstance(w, np.ndarray):
            keys, cnt = np.unique(_pair_keys(w, np.arange(len(w) - 1)), return_counts=True)
            return {(int(k >> 32), int(k & 0xFFFFFFFF)): int(c) for k, c in zip(keys, cnt)}
        return _pair_counts_list(w)

    @staticmethod
    def _merge_word(words, wi, wcount, pair, new_id, changed, where) -> None:
        """Merge ``pair`` in word ``wi``; add the pair-count changes to ``changed``."""
        w = words[wi]
        a, b = pair
        if isinstance(w, np.ndarray):
            pos = _merge_positions(w, a, b)
            if len(pos) == 0:
                return
            n = len(w)
            # pairs that disappear: those starting at p-1, p and p+1 for each merge at p
            old_idx = np.unique(np.concatenate([pos - 1, pos, pos + 1]))
            old_idx = old_idx[(old_idx >= 0) & (old_idx < n - 1)]
            new = _merge_array(w, pos, new_id)
            q = pos - np.arange(len(pos))            # where the merges land in the new word
            new_idx = np.unique(np.concatenate([q - 1, q]))
            new_idx = new_idx[(new_idx >= 0) & (new_idx < len(new) - 1)]
            words[wi] = new if len(new) > _LONG else new.tolist()
            ko, co = np.unique(_pair_keys(w, old_idx), return_counts=True)
            kn, cn = np.unique(_pair_keys(new, new_idx), return_counts=True)
            for k, c in zip(ko.tolist(), co.tolist()):
                p = (k >> 32, k & 0xFFFFFFFF)
                changed[p] = changed.get(p, 0) - c * wcount
            for k, c in zip(kn.tolist(), cn.tolist()):
                p = (k >> 32, k & 0xFFFFFFFF)
                changed[p] = changed.get(p, 0) + c * wcount
                where.setdefault(p, set()).add(wi)
            return
        new = _merge_list(w, a, b, new_id)
        if len(new) == len(w):
            return
        words[wi] = new
        for p, c in _pair_counts_list(w).items():
            changed[p] = changed.get(p, 0) - c * wcount
        for p, c in _pair_counts_list(new).items():
            changed[p] = changed.get(p, 0) + c * wcount
            where.setdefault(p, set()).add(wi)

    # -- encoding ------------------------------------------------------------------------

    def _encode_bytes(self, b: bytes) -> list:
        """Apply the merges to one chunk: always merge the pair that was learned first."""
        if len(b) > _LONG:
            return self._encode_long(b)
        ids = list(b)
        ranks = self._ranks
        while len(ids) >= 2:
            best = None
            best_rank = None
            for p in zip(ids, ids[1:]):
                r = ranks.get(p)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = p, r
            if best is None:
                break
            ids = _merge_list(ids, best[0], best[1], best_rank)
        return ids

    def _encode_long(self, b: bytes) -> list:
        """The same as ``_encode_bytes``, vectorized for long chunks (pre_split=False)."""
        arr = np.frombuffer(b, np.uint8).astype(np.int64)
        keys_m, ids_m = self._merge_keys, self._merge_ids
        if len(keys_m) == 0:
            return arr.tolist()
        while len(arr) >= 2:
            keys = _pair_keys(arr, np.arange(len(arr) - 1))
            pos = np.minimum(np.searchsorted(keys_m, keys), len(keys_m) - 1)
            hit = keys_m[pos] == keys
            if not hit.any():
                break
            new_id = int(ids_m[pos[hit]].min())
            a, b2 = self.merges[new_id - 256]
            arr = _merge_array(arr, _merge_positions(arr, a, b2), new_id)
        return arr.tolist()

    def encode(self, text: str, allow_special: bool = True, return_array: bool = False):
        """Chapter 12: token ids of ``text`` (a list, or an int64 array).

        With ``allow_special`` (the default) the text of a special token becomes its id;
        otherwise it is encoded like any other text.
        """
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode: expected str, got {type(text).__name__}")
        out = []
        cache = self._cache
        for piece, sid in self._split_special(text, allow_special):
            if sid is not None:
                out.append(sid)
                continue
            for chunk in self._chunks(piece):
                ids = cache.get(chunk)
                if ids is None:
                    ids = self._encode_bytes(chunk.encode("utf-8", "surrogatepass"))
                    if len(chunk) <= _LONG:
                        if len(cache) >= _CACHE_LIMIT:
                            cache.clear()
                        cache[chunk] = ids
                out.extend(ids)
        return np.array(out, dtype=np.int64) if return_array else out

    def decode(self, ids) -> str:
        """Chapter 12: the text of a sequence of ids; ``decode(encode(s)) == s`` for any str.

        An arbitrary id list may split a multi-byte character; such bytes decode to the
        replacement character U+FFFD.
        """
        ids = _as_id_list(ids, self.vocab_size, "BPETokenizer.decode")
        data = b"".join([self._vocab[i] for i in ids])
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", "replace")

    # -- saving --------------------------------------------------------------------------

    def _entries(self) -> dict:
        """The pre-split pattern is stored by NAME (a key of :data:`PRE_SPLIT_PATTERNS`);
        a custom regex must be registered first with :func:`register_pre_split_pattern`."""
        name = _pattern_name(self.pattern)
        if name is None:
            raise ValueError("BPETokenizer.save: the tokenizer uses a custom pre-split pattern; files store a "
                             "pattern's name, never the regex: register it first with "
                             "nnlib.text.register_pre_split_pattern('my-pattern', pattern)")
        return {"pre_split": self.pre_split, "pattern_name": name,
                "special_tokens": dict(self.special_tokens), "merges": [list(m) for m in self.merges]}

    @classmethod
    def _init_kwargs(cls, obj: dict, where: str) -> dict:
        """The pattern is looked up by name in :data:`PRE_SPLIT_PATTERNS`: a file never supplies a
        regex (one like ``(\\w+\\s?)+$`` would make encode hang), so none is ever compiled from a file."""
        merges, special = obj.get("merges"), obj.get("special_tokens", {})
        pre_split = obj.get("pre_split", True)
        if not isinstance(merges, list) or not all(isinstance(m, list) for m in merges):
            raise ValueError(f"{where}: 'merges' must be a list of [id, id]")
        if not isinstance(special, dict):
            raise ValueError(f"{where}: 'special_tokens' must be an object")
        if not isinstance(pre_split, bool):
            raise ValueError(f"{where}: 'pre_split' must be true or false")
        name = obj.get("pattern_name")
        if name is not None and (not isinstance(name, str) or name not in PRE_SPLIT_PATTERNS):
            raise ValueError(f"{where}: unknown pre-split pattern name {str(name)[:80]!r}; known: "
                             f"{sorted(PRE_SPLIT_PATTERNS)} (code may add one with register_pre_split_pattern)")
        pattern = None if name is None else PRE_SPLIT_PATTERNS[name]
        return {"merges": merges, "special_tokens": special, "pre_split": pre_split, "pattern": pattern}


def tokenizer_to_dict(tokenizer) -> dict:
    """Chapter 12: a tokenizer (CharTokenizer or BPETokenizer) as a JSON-ready dict, e.g. for a model file."""
    if not isinstance(tokenizer, (CharTokenizer, BPETokenizer)):
        raise TypeError(f"only nnlib's CharTokenizer and BPETokenizer can be saved, got {type(tokenizer).__name__}")
    return tokenizer.to_dict()


def tokenizer_from_dict(obj):
    """Chapter 12: rebuild a tokenizer from :func:`tokenizer_to_dict` (only nnlib's own classes); ValueError if bad."""
    classes = {cls._FORMAT: cls for cls in (CharTokenizer, BPETokenizer)}
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if not isinstance(fmt, str) or fmt not in classes:
        raise ValueError(f"unknown tokenizer format {str(fmt)[:80]!r}; nnlib reads {sorted(classes)}")
    return classes[fmt].from_dict(obj, "tokenizer")
