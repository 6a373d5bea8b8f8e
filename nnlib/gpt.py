"""Chapter 12: a GPT (生成式预训练 Transformer) built from nnlib's own layers.

::

    from nnlib.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=96, context_length=128, d_model=128, n_heads=4, n_layers=4))
    logits = model(ids)                      # ids (B, T) int -> logits (B, T, vocab)
    loss = model.loss(ids, targets)          # mean next-token cross-entropy
    out = model.generate(prompt_ids, 200, temperature=0.8, top_k=20, seed=0)
    model.save("gpt.nnlib", tokenizer=tok);  model = GPT.load("gpt.nnlib")

The architecture is GPT-2's: token and learned position embeddings, ``n_layers``
pre-LayerNorm :class:`~nnlib.layers.sequence.TransformerBlock`\\ s, a final
LayerNorm, and a language-model head that (with ``tie_weights``) reuses the
token-embedding table. ``generate`` keeps a key/value cache so that each new
token costs one position's work.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields

import numpy as np

from . import functional as F
from .attention import KVCache, integer_ids
from .saving.registry import register_model
from .layers.core import Dense
from .layers.sequence import Embedding, LayerNorm, TransformerBlock, gpt2_normal
from .module import Module
from .engine import Tensor, no_grad
from .sampling import sample_next, sampling_args

__all__ = ["GPTConfig", "GPT"]

_INT_FIELDS = ("vocab_size", "context_length", "d_model", "n_heads", "n_layers")
#: largest size a GPT config may give (each must also match the weights stored in a file)
_MAX_SIZE = 2 ** 31
#: most tokens one ``GPT.generate`` call adds to each row
MAX_NEW_TOKENS = 1_000_000
#: most token ids (rows x (prompt + new)) one ``GPT.generate`` call holds (1 GiB of int64)
MAX_GENERATED_IDS = 2 ** 27


@dataclass
class GPTConfig:
    """Chapter 12: the shape of a GPT.

    ``vocab_size`` tokens, at most ``context_length`` positions, width ``d_model``
    split over ``n_heads`` heads, ``n_layers`` blocks, ``dropout`` (embeddings,
    attention weights, residual branches) and ``tie_weights`` (the output layer
    reuses the token-embedding table, as GPT-2).
    """

    vocab_size: int = 96
    context_length: int = 128
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    dropout: float = 0.0
    tie_weights: bool = True

    def __post_init__(self):
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value <= 0:
                raise ValueError(f"GPTConfig: {name} must be a positive integer, got {value!r}")
            setattr(self, name, int(value))
        if self.d_model % self.n_heads:
            raise ValueError(f"GPTConfig: d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout}")
        self.dropout = float(self.dropout)
        self.tie_weights = bool(self.tie_weights)

    def to_dict(self) -> dict:
        """Chapter 12: the config as a plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_json(cls, obj, weight_shapes: dict | None = None, count_parameters: bool = True) -> tuple:
        """Chapter 12: ``(GPTConfig, dtype)`` from a model file's config object, checked before anything is built.

        ``obj`` is what :meth:`GPT.get_config` wrote: the :class:`GPTConfig` fields (missing
        ones take their defaults) and ``dtype`` ('float32' or 'float64'). Types are strict
        (sizes are JSON integers in 1..2**31, ``tie_weights`` true/false, ``dropout`` a
        number); unknown entries are refused. With ``weight_shapes`` (the file's arrays,
        name -> shape, read from their headers) the embedding tables and the number of
        blocks must be the stored ones and, with ``count_parameters``, the config must
        describe exactly as many weight values as the file holds (a quantized file, whose
        arrays are codes and scales, passes False). A ValueError says what is off.
        """
        if not isinstance(obj, dict):
            raise ValueError(f"the GPT config must be a JSON object, got {type(obj).__name__}")
        known = {f.name for f in fields(cls)} | {"dtype"}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ValueError(f"unknown GPT config entries {unknown[:5]}; known: {sorted(known)}")
        for name in _INT_FIELDS:
            value = obj.get(name, getattr(cls, name))
            if type(value) is not int or not 0 < value <= _MAX_SIZE:
                raise ValueError(f"{name} must be an integer in 1..{_MAX_SIZE}, got {str(value)[:40]}")
        dropout = obj.get("dropout", 0.0)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not math.isfinite(dropout):
            raise ValueError(f"dropout must be a number in [0, 1), got {str(dropout)[:40]}")
        if not isinstance(obj.get("tie_weights", True), bool):
            raise ValueError(f"tie_weights must be true or false, got {str(obj['tie_weights'])[:40]!r}")
        dtype = obj.get("dtype", "float32")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {str(dtype)[:40]!r}")
        config = cls(**{k: v for k, v in obj.items() if k != "dtype"})
        if weight_shapes is not None:
            config._check_shapes(weight_shapes, count_parameters)
        return config, dtype

    def parameter_count(self) -> int:
        """Chapter 12: the number of weight values a GPT of this config has (without building it)."""
        d = self.d_model
        block = 12 * d * d + 13 * d  # 2 LayerNorms, 4 attention projections, the 4x MLP, with biases
        return (self.vocab_size * d + self.context_length * d + self.n_layers * block + 2 * d
                + (0 if self.tie_weights else self.vocab_size * d))

    def _check_shapes(self, shapes: dict, count_parameters: bool) -> None:
        """The embedding tables, the number of blocks and (optionally) the total against a file's arrays."""
        d = self.d_model
        for key, want in (("wte.embeddings", (self.vocab_size, d)), ("wpe.embeddings", (self.context_length, d))):
            if tuple(shapes.get(key, ())) != want:
                raise ValueError(f"the config needs {key} of shape {want}, the file holds "
                                 f"{tuple(shapes[key]) if key in shapes else 'none'}")
        blocks = {m.group(1) for m in map(re.compile(r"^blocks\.(\d{1,9})\.").match, shapes) if m}
        if len(blocks) != self.n_layers:
            raise ValueError(f"the config has n_layers={self.n_layers}, the file holds weights of {len(blocks)} blocks")
        if count_parameters:
            stored = sum(math.prod(shape) for shape in shapes.values())
            need = self.parameter_count()
            if need != stored:
                raise ValueError(f"the config describes {need:,} weight values, the file holds {stored:,}")


# ------------------------------------------------------------------------------ the model
def _id_array(ids, who: str) -> np.ndarray:
    arr = integer_ids(ids, who)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{who}: token ids must have shape (T,) or (batch, T), got {arr.shape}")
    return arr


@register_model
class GPT(Module):
    """Chapter 12: a GPT-2 style decoder-only language model.

    ``GPT(config)`` or ``GPT(vocab_size=..., context_length=..., ...)``. Parameters:
    ``wte`` (token embeddings), ``wpe`` (position embeddings), ``blocks`` (a list of
    TransformerBlock), ``ln_f`` and, without weight tying, ``lm_head``. The
    ``tokenizer`` attribute (optional) is saved with the model.
    """

    def __init__(self, config: GPTConfig | None = None, dtype="float32", **kwargs):
        if config is None:
            config = GPTConfig(**kwargs)
        elif kwargs:
            raise TypeError("GPT: pass either a GPTConfig or keyword arguments, not both")
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: config must be a GPTConfig, got {type(config).__name__} "
                            "(GPTConfig.from_json reads a model file's config object)")
        self.config = config
        self._tokenizer = None
        self.metadata = {}
        c = config
        self.wte = Embedding(c.vocab_size, c.d_model, gpt2_normal(), name="wte", dtype=dtype)
        self.wpe = Embedding(c.context_length, c.d_model, gpt2_normal(), name="wpe", dtype=dtype)
        self.blocks = [TransformerBlock(c.d_model, c.n_heads, dropout=c.dropout, causal=True, n_layers=c.n_layers,
                                        name=f"block{i}", dtype=dtype) for i in range(c.n_layers)]
        self.ln_f = LayerNorm(c.d_model, name="ln_f", dtype=dtype)
        if not c.tie_weights:
            self.lm_head = Dense(c.vocab_size, input_shape=(c.d_model,), use_bias=False,
                                 kernel_initializer=gpt2_normal(), name="lm_head", dtype=dtype)

    @property
    def tokenizer(self):
        """Chapter 12: the model's tokenizer (saved with it), or None; at most ``vocab_size`` tokens."""
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tok) -> None:
        if tok is not None:
            size = getattr(tok, "vocab_size", None)
            if not isinstance(size, (int, np.integer)):
                raise TypeError(f"GPT.tokenizer: expected a tokenizer with a vocab_size, got {type(tok).__name__}")
            if size > self.config.vocab_size:
                raise ValueError(f"GPT.tokenizer: the tokenizer has {size} tokens, more than the model's "
                                 f"vocab_size={self.config.vocab_size}; its ids would be out of range")
        self._tokenizer = tok

    # ---------------------------------------------------------------- forward
    def forward(self, idx, cache: KVCache | None = None, last_only: bool = False) -> Tensor:
        """Chapter 12: logits (B, T, vocab_size) for token ids (B, T); ids of shape (T,) give (T, vocab_size).

        With a :class:`~nnlib.attention.KVCache` (inference), ``idx`` holds only the new
        tokens; their positions continue after the cached ones. ``last_only`` returns the
        logits of the last position only, (B, 1, V), which is all generation needs.
        """
        ids = _id_array(idx, "GPT")
        squeeze = ids.ndim == 1
        if squeeze:
            ids = ids[None, :]
        b, t = ids.shape
        start = cache.length if cache is not None else 0
        ctx = self.config.context_length
        if t == 0:
            raise ValueError("GPT: got an empty sequence of token ids")
        if start + t > ctx:
            raise ValueError(f"GPT: {start + t} positions{' (with the cache)' if start else ''} exceed the "
                             f"model's context_length={ctx}; crop the input to its last {ctx} tokens")
        x = self.wte(ids) + self.wpe(np.arange(start, start + t))
        p = self.config.dropout
        if self.training and p > 0.0:
            x = F.dropout(x, p, True)
        for i, block in enumerate(self.blocks):
            x = block(x, cache=None if cache is None else cache.layers[i])
        if last_only:
            x = x[:, -1:, :]
        x = self.ln_f(x)
        if self.config.tie_weights:
            logits = x @ self.wte.embeddings.T
        else:
            logits = self.lm_head(x)
        if squeeze:
            logits = logits.reshape(logits.shape[1:])
        return logits

    def loss(self, idx, targets) -> Tensor:
        """Chapter 12: mean cross-entropy of the next-token predictions (targets = ids shifted by one)."""
        return F.cross_entropy(self.forward(idx), targets)

    def evaluate_loss(self, tokens, batch_size: int = 16, max_windows: int | None = None) -> float:
        """Chapter 12: mean next-token loss over a long 1-D token array (e.g. the validation text).

        The text is cut into consecutive, non-overlapping windows of ``context_length``
        (deterministic, no sampling); ``max_windows`` limits the work. ``exp`` of the
        result is the perplexity (困惑度).
        """
        tokens = np.asarray(tokens)
        ctx = self.config.context_length
        n = (tokens.size - 1) // ctx
        if n < 1:
            raise ValueError(f"evaluate_loss: need more than context_length={ctx} tokens, got {tokens.size}")
        if max_windows is not None:
            n = min(n, int(max_windows))
        x = tokens[: n * ctx].reshape(n, ctx)
        y = tokens[1: n * ctx + 1].reshape(n, ctx)
        total = 0.0
        with self.evaluating(), no_grad():
            for i in range(0, n, batch_size):
                loss = F.cross_entropy(self.forward(x[i:i + batch_size]), y[i:i + batch_size], reduction="sum")
                total += float(loss.item())
        return total / (n * ctx)

    # ---------------------------------------------------------------- generation
    def generate(self, prompt_ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None, use_cache: bool = True,
                 stop_token=None) -> np.ndarray:
        """Chapter 12: continue ``prompt_ids`` by ``max_new_tokens`` tokens; returns prompt + new ids.

        ``prompt_ids`` is (T,) or (batch, T) and so is the result. Sampling follows
        :func:`sample_next` (``temperature`` 0 = greedy, ``top_k``, ``top_p``) with
        ``numpy.random.default_rng(seed)``: a seed gives the same text every time.

        ``use_cache`` keeps the keys and values of past positions (KV cache, 键值缓存),
        so each step feeds only the newest token. The result is the same with and
        without the cache. When the text outgrows ``context_length`` the model looks at a
        window of the last ``3/4 * context_length`` tokens, and slides that window forward
        (recomputing it once) each time it fills up again, in both modes.

        ``stop_token`` (an id or a collection of ids): stop after a row produces one (the
        other rows of a batch are then filled with that id until all rows have stopped).
        """
        ids = self._prompt_array(prompt_ids)
        squeeze = ids.ndim == 1
        if squeeze:
            ids = ids[None, :]
        max_new_tokens = self._new_token_count(max_new_tokens, ids.shape)
        temperature, top_k, top_p = sampling_args(temperature, top_k, top_p, "GPT.generate")
        stops = self._stop_ids(stop_token)
        with self.evaluating(), no_grad():
            out = self._generate_loop(ids, max_new_tokens, (temperature, top_k, top_p), np.random.default_rng(seed),
                                      use_cache, stops)
        return out[0] if squeeze else out

    # the argument checks of ``generate``, each with an error that names the argument
    def _prompt_array(self, prompt_ids) -> np.ndarray:
        ids = _id_array(prompt_ids, "GPT.generate")
        if ids.shape[-1] == 0:
            raise ValueError("GPT.generate: the prompt is empty; give at least one token id")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(f"GPT.generate: prompt token ids must be in 0..{self.config.vocab_size - 1}")
        return ids

    @staticmethod
    def _new_token_count(max_new_tokens, shape: tuple) -> int:
        if isinstance(max_new_tokens, (bool, np.bool_)) or not isinstance(max_new_tokens, (int, np.integer)):
            raise TypeError(f"GPT.generate: max_new_tokens must be an integer, got {max_new_tokens!r}")
        max_new_tokens = int(max_new_tokens)
        if not 0 <= max_new_tokens <= MAX_NEW_TOKENS:
            raise ValueError(f"GPT.generate: max_new_tokens must be in 0..{MAX_NEW_TOKENS:,}, got {max_new_tokens:,}")
        rows, length = shape
        if rows * (length + max_new_tokens) > MAX_GENERATED_IDS:
            raise ValueError(f"GPT.generate: {rows:,} rows x ({length:,} + max_new_tokens="
                             f"{max_new_tokens:,}) token ids is more than the {MAX_GENERATED_IDS:,} one call may "
                             "produce; generate in smaller pieces")
        return max_new_tokens

    def _stop_ids(self, stop_token):
        if stop_token is None:
            return None
        stops = np.atleast_1d(np.asarray(stop_token))
        if stops.ndim != 1 or stops.size == 0 or stops.dtype.kind not in "iu":
            raise TypeError(f"GPT.generate: stop_token must be a token id or a list of ids, got {stop_token!r}")
        if stops.min() < 0 or stops.max() >= self.config.vocab_size:
            raise ValueError(f"GPT.generate: stop_token {stop_token!r} is outside the vocabulary "
                             f"(ids 0..{self.config.vocab_size - 1})")
        return stops.astype(np.int64)

    def _generate_loop(self, ids: np.ndarray, max_new_tokens: int, sampling: tuple, rng, use_cache: bool,
                       stops) -> np.ndarray:
        """The decoding loop of ``generate`` on checked arguments: (batch, T) ids -> (batch, T + new) ids."""
        c = self.config
        ctx = c.context_length
        keep = max(1, ctx - ctx // 4)
        b = ids.shape[0]
        out = np.empty((b, ids.shape[1] + max_new_tokens), dtype=np.int64)
        out[:, :ids.shape[1]] = ids
        n = ids.shape[1]
        start = 0
        cache = KVCache(c.n_layers, b, c.n_heads, ctx, c.d_model // c.n_heads,
                        dtype=self.wte.embeddings.dtype) if use_cache else None
        finished = np.zeros(b, dtype=bool)
        for _ in range(max_new_tokens):
            if n - start > ctx:
                start = n - keep
                if cache is not None:
                    cache.reset()
            if cache is not None:
                logits = self.forward(out[:, start + cache.length:n], cache=cache, last_only=True)
            else:
                logits = self.forward(out[:, start:n], last_only=True)
            nxt = sample_next(logits.data[:, -1, :], *sampling, rng)
            if stops is not None:
                nxt = np.where(finished, stops[0], nxt)
                finished |= np.isin(nxt, stops)
            out[:, n] = nxt
            n += 1
            if stops is not None and finished.all():
                break
        return out[:, :n]

    def generate_text(self, prompt: str, max_new_tokens: int, tokenizer=None, **kwargs) -> str:
        """Chapter 12: ``generate`` on a string: encode with the tokenizer, decode prompt + continuation.

        ``tokenizer`` defaults to ``self.tokenizer`` (set by :meth:`load` or by hand);
        other keyword arguments go to :meth:`generate`.
        """
        tok = tokenizer if tokenizer is not None else self.tokenizer
        if tok is None:
            raise ValueError("GPT.generate_text needs a tokenizer: pass tokenizer= or set model.tokenizer")
        ids = tok.encode(prompt)
        return tok.decode(self.generate(np.asarray(ids, dtype=np.int64), max_new_tokens, **kwargs).tolist())

    # ---------------------------------------------------------------- training helpers
    def optimizer_groups(self, weight_decay: float = 0.1) -> list:
        """Chapter 12: parameter groups for AdamW: decay the matrices, not biases, LayerNorm or embeddings.

        ``AdamW(model.optimizer_groups(0.1), lr=3e-4)``.
        """
        decay, no_decay = [], []
        embeddings = {id(self.wte.embeddings), id(self.wpe.embeddings)}
        for p in self.parameters():
            if not p.requires_grad:
                continue
            (decay if p.ndim >= 2 and id(p) not in embeddings else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": float(weight_decay)}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        return [g for g in groups if g["params"]]

    # ---------------------------------------------------------------- saving
    def get_config(self) -> dict:
        """Chapter 12: the config as plain JSON (the :class:`GPTConfig` fields and the weights' dtype)."""
        return {**self.config.to_dict(), "dtype": str(self.wte.embeddings.dtype)}

    @classmethod
    def from_config(cls, config: dict, weight_shapes: dict | None = None, **_context) -> "GPT":
        """Chapter 12: a new GPT (eval mode) from :meth:`get_config`; what ``load_model`` calls.

        The config is checked by :meth:`GPTConfig.from_json`: strict types and, with
        ``weight_shapes`` (the file's arrays, name -> shape), sizes that match the stored
        weights exactly, before anything is allocated. A ValueError otherwise.
        """
        gpt_config, dtype = GPTConfig.from_json(config, weight_shapes)
        model = cls(gpt_config, dtype=dtype)
        model.eval()
        return model

    def save(self, path, tokenizer=None, metadata: dict | None = None) -> str:
        """Chapter 12: ``nnlib.models.save_model(self, path, ...)``: config, weights and tokenizer in one file.

        ``tokenizer`` defaults to ``self.tokenizer``; ``metadata`` (JSON-able dict, e.g.
        training steps and losses) is stored too and comes back as ``model.metadata``.
        Returns the path written. A model with LoRA adapters is refused (merge them first).
        """
        from .saving.model_file import save_model

        return save_model(self, path, tokenizer=tokenizer, metadata=metadata)

    @classmethod
    def load(cls, path) -> "GPT":
        """Chapter 12: ``nnlib.models.load_model(path)``, checking that the file holds a GPT."""
        from .saving.files import ModelFileError
        from .saving.model_file import load_model

        model = load_model(path)
        if not isinstance(model, cls):
            raise ModelFileError(f"{path}: not a GPT checkpoint (it holds a {type(model).__name__})")
        return model

    def __repr__(self) -> str:
        c = self.config
        return (f"GPT(vocab_size={c.vocab_size}, context_length={c.context_length}, d_model={c.d_model}, "
                f"n_heads={c.n_heads}, n_layers={c.n_layers}, dropout={c.dropout}, tie_weights={c.tie_weights}; "
                f"{self.num_parameters():,} parameters)")
