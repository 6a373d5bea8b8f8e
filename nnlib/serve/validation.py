"""Chapter 14: what a model server accepts -- strict JSON and the two request validators.

Nothing here needs FastAPI: a request body is parsed by :func:`parse_json` (bounded
size and depth, no ``NaN``/``Infinity``, no duplicate keys) and checked by
:func:`validate_predict` or :func:`validate_generate`, which raise :class:`ApiError`
naming the field that is wrong. The server turns an ``ApiError`` into
``{"error": "..."}`` with its status.
"""
from __future__ import annotations

import json
import math

import numpy as np

from ..saving.files import unique_object_pairs

__all__ = ["ApiError", "parse_json", "validate_predict", "validate_generate", "MAX_DEPTH"]

#: The deepest nesting of ``[`` and ``{`` a body may have (a predict body needs 3).
MAX_DEPTH = 32
#: Integers with more digits than this are read as floats (so they can never overflow a conversion).
_MAX_INT_DIGITS = 20


class ApiError(Exception):
    """Chapter 14: a request the server refuses: HTTP ``status`` and a message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.headers = dict(headers or {})


# ---------------------------------------------------------------------- strict JSON
def _no_constants(name):
    raise ValueError(f"{name} is not valid JSON (send finite numbers)")


def _parse_int(text: str):
    # a 400-digit integer becomes a float (inf if too large), never a huge int that overflows later
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def _too_deep(raw: bytes, limit: int):
    """None if ``raw`` nests ``[``/``{`` at most ``limit`` deep, else the top-level key where it gets deeper ('' if none).

    Vectorized over the bytes: quotes not escaped by an odd run of backslashes open and
    close strings; brackets inside strings do not count.
    """
    a = np.frombuffer(raw, dtype=np.uint8)
    opens = (a == 0x5B) | (a == 0x7B)
    if np.count_nonzero(opens) <= limit:
        return None
    quote = a == 0x22
    backslash = a == 0x5C
    if backslash.any():
        idx = np.arange(a.size)
        last_plain = np.maximum.accumulate(np.where(backslash, -1, idx))  # last non-backslash at or before i
        before = np.concatenate(([-1], last_plain[:-1]))
        quote &= (idx - 1 - before) % 2 == 0                              # an even run of backslashes before it
    in_string = np.cumsum(quote) % 2 == 1
    closes = (a == 0x5D) | (a == 0x7D)
    depth = np.cumsum(np.where(in_string, 0, opens.astype(np.int64) - closes))
    over = np.flatnonzero(depth > limit)
    if over.size == 0:
        return None
    p = int(over[0])
    first = np.flatnonzero(~np.isin(a, (0x20, 0x09, 0x0A, 0x0D)))
    if first.size == 0 or a[first[0]] != 0x7B:  # the top level is not an object: no field to name
        return ""
    seps = np.flatnonzero(((a[:p] == 0x2C) | (a[:p] == 0x7B)) & ~in_string[:p] & (depth[:p] == 1))
    quotes = np.flatnonzero(quote)
    k = np.searchsorted(quotes, seps[-1]) if seps.size else quotes.size   # the key's opening quote
    if k + 1 >= quotes.size or quotes[k] > p:
        return ""
    try:
        return str(json.loads(raw[quotes[k]:quotes[k + 1] + 1].decode("utf-8")))
    except ValueError:
        return ""


def parse_json(raw: bytes, max_depth: int = MAX_DEPTH):
    """Chapter 14: the JSON value in ``raw`` (UTF-8), parsed strictly; raises :class:`ApiError` (400).

    Refused: invalid UTF-8 or JSON, ``NaN``/``Infinity``, a key twice in one object,
    nesting deeper than ``max_depth`` (checked before parsing, so nothing recurses).
    Integers longer than 20 digits are read as floats, so no later conversion overflows.
    """
    field = _too_deep(raw, max_depth)
    if field is not None:
        where = f"'{field[:40]}'" if field else "the JSON body"
        raise ApiError(400, f"{where} is nested more than {max_depth} levels deep")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants, parse_int=_parse_int,
                          object_pairs_hook=unique_object_pairs)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    except RecursionError:  # cannot happen after the depth check; a last line of defence
        raise ApiError(400, "malformed JSON: nested too deeply") from None


# ---------------------------------------------------------------------- previews
def _chunks(value):
    if isinstance(value, list):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from _chunks(item)
        yield "]"
    elif isinstance(value, dict):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield (", " if i else "") + json.dumps(str(key)) + ": "
            yield from _chunks(item)
        yield "}"
    else:
        try:
            yield json.dumps(value)
        except (TypeError, ValueError):
            yield repr(value)


def _preview(value, limit: int = 40) -> str:
    """At most ``limit`` characters of ``value`` as JSON, produced lazily (so a deep or huge value costs little)."""
    out, n = [], 0
    for chunk in _chunks(value):
        out.append(chunk[:limit])
        n += len(out[-1])
        if n >= limit:
            break
    return "".join(out)[:limit]


def _is_number(v) -> bool:
    return type(v) in (int, float)


def _finite(v) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond the float range
        return False


# ---------------------------------------------------------------------- /v1/predict
def validate_predict(body, n_features: int, max_rows: int) -> np.ndarray:
    """Chapter 14: check a ``/v1/predict`` body and return its rows as a float32 array (rows, n_features).

    Raises :class:`ApiError` (400) naming the first problem: not an object,
    unknown or missing fields, not a list of rows, too many rows, a row of the
    wrong length, a value that is not a number, or a value that is not finite.
    """
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object like {{\"inputs\": [[...]]}}, got {type(body).__name__}")
    unknown = sorted(set(body) - {"inputs"})
    if unknown:
        raise ApiError(400, f"unknown field(s) {[str(k)[:40] for k in unknown[:5]]}; /v1/predict takes only 'inputs'")
    if "inputs" not in body:
        raise ApiError(400, "missing field 'inputs' (a list of rows, each a list of numbers)")
    rows = body["inputs"]
    if not isinstance(rows, list) or not rows:
        raise ApiError(400, "'inputs' must be a non-empty list of rows, e.g. [[0.1, 0.2, ...]]")
    if len(rows) > max_rows:
        raise ApiError(400, f"too many rows: {len(rows)}; at most {max_rows} per request")
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise ApiError(400, f"inputs[{i}] must be a list of {n_features} numbers, got {type(row).__name__}")
        if len(row) != n_features:
            raise ApiError(400, f"inputs[{i}] has {len(row)} values; the model expects {n_features} features")
    if not all(_is_number(v) for row in rows for v in row):
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if not _is_number(v):
                    raise ApiError(400, f"inputs[{i}][{j}] is not a number: {_preview(v)}")
    try:
        with np.errstate(over="ignore"):
            x = np.asarray(rows, dtype=np.float64).astype(np.float32)
    except OverflowError:  # a Python int beyond the float range (the parser never makes one)
        x = np.array([[float(v) if _finite(v) else np.inf for v in row] for row in rows], dtype=np.float32)
    if not np.isfinite(x).all():
        i, j = np.argwhere(~np.isfinite(x))[0]
        raise ApiError(400, f"inputs[{i}][{j}] is not a finite float32 number (too large, inf or NaN)")
    return x


# ---------------------------------------------------------------------- /v1/generate
GENERATE_FIELDS = ("prompt", "max_tokens", "temperature", "top_k", "top_p", "seed")
#: The sampling bounds a server enforces (``max_tokens`` comes from the server's own limit).
TEMPERATURE_MAX = 10.0
SEED_MAX = 2 ** 63 - 1


def validate_generate(body, tokenizer, vocab_size: int, max_tokens: int, max_prompt_tokens: int) -> dict:
    """Chapter 14: check a ``/v1/generate`` body; returns the arguments for ``GPT.generate`` plus ``ids``.

    Fields: ``prompt`` (string, required), ``max_tokens`` (1..max_tokens, default 64 or less),
    ``temperature`` (0..10, default 1.0), ``top_k`` (positive integer or null),
    ``top_p`` (0 < p <= 1 or null), ``seed`` (integer or null).
    """
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object like {{\"prompt\": \"...\"}}, got {type(body).__name__}")
    unknown = sorted(set(body) - set(GENERATE_FIELDS))
    if unknown:
        raise ApiError(400, f"unknown field(s) {[str(k)[:40] for k in unknown[:5]]}; /v1/generate takes "
                            f"{sorted(GENERATE_FIELDS)}")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "'prompt' must be a non-empty string")

    def integer(name, default, lo, hi):
        v = body.get(name, default)
        if v is None and default is None:
            return None
        if type(v) is not int or not lo <= v <= hi:
            raise ApiError(400, f"'{name}' must be an integer in {lo}..{hi}, got {_preview(v)}")
        return v

    def number(name, default, lo, hi, lo_open=False):
        v = body.get(name, default)
        if v is None and default is None:
            return None
        if not _is_number(v) or not _finite(v) or v > hi or v < lo or (lo_open and v == lo):
            raise ApiError(400, f"'{name}' must be a number in {'(' if lo_open else '['}{lo}, {hi}], "
                                f"got {_preview(v)}")
        return float(v)

    n_new = integer("max_tokens", min(64, max_tokens), 1, max_tokens)
    args = {"max_new_tokens": n_new, "temperature": number("temperature", 1.0, 0.0, TEMPERATURE_MAX),
            "top_k": integer("top_k", None, 1, vocab_size), "top_p": number("top_p", None, 0.0, 1.0, lo_open=True),
            "seed": integer("seed", None, 0, SEED_MAX)}
    if tokenizer is None:
        raise ApiError(400, "this model has no tokenizer, so it cannot take a text prompt")
    if len(prompt) > 16 * max_prompt_tokens:  # far too long to be within the limit: do not even encode it
        raise ApiError(400, f"too many tokens: the prompt has {len(prompt)} characters; at most "
                            f"{max_prompt_tokens} tokens")
    try:
        ids = np.asarray(tokenizer.encode(prompt), dtype=np.int64)
    except ValueError as exc:
        raise ApiError(400, f"the prompt cannot be encoded: {exc}") from None
    if ids.size > max_prompt_tokens:
        raise ApiError(400, f"too many tokens: the prompt has {ids.size}; at most {max_prompt_tokens}")
    if ids.size == 0:
        raise ApiError(400, "the prompt encodes to no tokens")
    args["ids"] = ids
    return args
