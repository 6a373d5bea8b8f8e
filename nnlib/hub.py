"""Chapter 15: models published by others: GPT-2 checkpoints in the Hugging Face layout.

A model hub (模型仓库) such as Hugging Face's stores a GPT-2-architecture model as a folder:

    config.json         the architecture (GPT2Config: n_embd, n_layer, n_head, n_positions, ...)
    model.safetensors   the weights, by name (transformer.h.0.attn.c_attn.weight, ...)
    vocab.json          the tokenizer's tokens -> ids (GPT-2's byte-to-unicode spelling)
    merges.txt          the tokenizer's merges, in the order they were learned

:func:`load_pretrained` reads such a folder into :class:`nnlib.gpt.GPT` and
:class:`nnlib.text.BPETokenizer`; :func:`save_pretrained` writes one that
``transformers.GPT2LMHeadModel.from_pretrained`` and ``GPT2TokenizerFast`` read. The
usual traps, handled here:

- GPT-2's ``Conv1D`` layers store their weight as (in, out), the way nnlib's ``Dense``
  does (torch's ``nn.Linear`` stores (out, in)): no transpose; ``c_attn`` holds the
  query, key and value projections side by side: split into three.
- The output head is tied to the token embedding (``tie_word_embeddings``): the file
  may hold ``lm_head.weight`` or not; either way it must equal ``wte``.
- GPT-2's MLP uses ``gelu_new``, the tanh form of GELU (nnlib's block uses that form),
  LayerNorm epsilon 1e-5, and scores scaled by 1/sqrt(head size): any other setting in
  ``config.json`` is refused by name instead of giving a silently different model.
- Token ids: nnlib's BPE numbers the 256 bytes 0..255 and the k-th merge 256 + k; a
  published vocabulary numbers its tokens its own way. The loader rebuilds the
  tokenizer from ``merges.txt`` and permutes the embedding rows into nnlib's order, so
  the model and tokenizer are plain nnlib objects; ``hf_ids`` (returned with them)
  maps nnlib ids to the file's ids for comparisons.

Nothing here downloads anything. With network access, the real 124M GPT-2 loads the same
way: fetch the folder once (``huggingface_hub.snapshot_download("gpt2")``), then
``load_pretrained(folder)``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np

from .export import load_safetensors, save_safetensors
from .gpt import GPT, GPTConfig
from .saving.files import ModelFileError, atomic_write, read_json, read_regular_file
from .text import PRE_SPLIT_PATTERN, BPETokenizer

__all__ = ["Pretrained", "load_pretrained", "save_pretrained", "bytes_to_unicode"]

#: the largest config.json / vocab.json / merges.txt read (the real GPT-2's are 1 KB, 1 MB, 0.5 MB)
MAX_CONFIG_BYTES = 1 << 20
MAX_TOKENIZER_BYTES = 64 << 20

#: GPT2Config settings nnlib's GPT computes exactly as transformers does
_SUPPORTED = {
    "activation_function": ("gelu_new", "gelu_pytorch_tanh"),
    "scale_attn_weights": (True,),
    "scale_attn_by_inverse_layer_idx": (False,),
    "reorder_and_upcast_attn": (False, True),  # only the softmax's float precision
    "add_cross_attention": (False,),
    "tie_word_embeddings": (True,),
}
_LN_EPS = 1e-5
#: buffers older checkpoints store next to the weights (the causal mask): not weights
_BUFFERS = (".attn.bias", ".attn.masked_bias")


@dataclass
class Pretrained:
    """Chapter 15: what :func:`load_pretrained` returns.

    ``model`` (a GPT in eval mode), ``tokenizer`` (a BPETokenizer, or None if the folder
    has none) and ``hf_ids``: for each nnlib token id, the id the folder's vocabulary
    gives it (``logits_hf[..., hf_ids] == logits_nnlib``); the identity without a tokenizer.
    """

    model: GPT
    tokenizer: BPETokenizer | None
    hf_ids: np.ndarray


def bytes_to_unicode() -> dict:
    """Chapter 15: GPT-2's byte -> printable character table (how vocab.json spells bytes).

    Printable Latin-1 bytes stand for themselves; the other 68 (control bytes, space,
    0x7f-0xa0, 0xad) get the characters from U+0100 on, in byte order.
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


# --------------------------------------------------------------------------- reading
def _config(folder: str) -> GPTConfig:
    path = os.path.join(folder, "config.json")
    cfg = read_json(path, MAX_CONFIG_BYTES, "config.json")
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{path}: must hold a JSON object")
    if cfg.get("model_type", "gpt2") != "gpt2":
        raise ModelFileError(f"{path}: model_type {cfg.get('model_type')!r} is not 'gpt2'; nnlib reads "
                             "GPT-2-architecture checkpoints only")
    for key, allowed in _SUPPORTED.items():
        if key in cfg and cfg[key] not in allowed:
            raise ModelFileError(f"{path}: {key} = {cfg[key]!r} is not supported (nnlib's GPT computes "
                                 f"{allowed[0]!r})")
    eps = cfg.get("layer_norm_epsilon", _LN_EPS)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not math.isclose(eps, _LN_EPS):
        raise ModelFileError(f"{path}: layer_norm_epsilon = {eps!r}; nnlib's LayerNorm uses {_LN_EPS}")
    d = cfg.get("n_embd", 768)
    inner = cfg.get("n_inner")
    if inner is not None and inner != 4 * d:
        raise ModelFileError(f"{path}: n_inner = {inner!r}; nnlib's block uses 4 * n_embd = {4 * d}")
    try:
        return GPTConfig(vocab_size=cfg.get("vocab_size", 50257), context_length=cfg.get("n_positions", 1024),
                         d_model=d, n_heads=cfg.get("n_head", 12), n_layers=cfg.get("n_layer", 12),
                         dropout=0.0, tie_weights=True)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def _tokenizer(folder: str, vocab_size: int):
    """(BPETokenizer, hf_ids) from vocab.json + merges.txt, or (None, None) if the folder has neither."""
    vocab_path, merges_path = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
    have = [os.path.exists(vocab_path), os.path.exists(merges_path)]
    if not any(have):
        return None, None
    if not all(have):
        raise ModelFileError(f"{folder}: has {'vocab.json' if have[0] else 'merges.txt'} but not "
                             f"{'merges.txt' if have[0] else 'vocab.json'}; a GPT-2 tokenizer needs both")
    vocab = read_json(vocab_path, MAX_TOKENIZER_BYTES, "vocab.json")
    if not isinstance(vocab, dict) or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                                              for k, v in vocab.items()):
        raise ModelFileError(f"{vocab_path}: must map token strings to integer ids")
    text = read_regular_file(merges_path, MAX_TOKENIZER_BYTES, what="merges.txt").decode("utf-8", "strict")
    lines = [line for line in text.splitlines() if line and not line.startswith("#version")]
    ids = {c: b for b, c in bytes_to_unicode().items()}      # token spelling -> nnlib id
    merges = []
    for number, line in enumerate(lines, start=1):
        parts = line.split(" ")
        if len(parts) != 2 or parts[0] not in ids or parts[1] not in ids:
            raise ModelFileError(f"{merges_path}: line {number} ({line[:40]!r}) is not a merge of two known tokens")
        merged = parts[0] + parts[1]
        if merged in ids:
            raise ModelFileError(f"{merges_path}: line {number} makes {merged!r} a second time; nnlib's BPE "
                                 "needs one merge per token")
        merges.append((ids[parts[0]], ids[parts[1]]))
        ids[merged] = 255 + len(merges)
    # what the merges do not make is an added (special) token, e.g. "<|endoftext|>"
    specials = {}
    for token in sorted(set(vocab) - set(ids), key=vocab.get):
        specials[token] = len(ids) + len(specials)
    missing = sorted(set(ids) - set(vocab))[:3]
    if missing:
        raise ModelFileError(f"{vocab_path}: has no id for {missing}, which merges.txt makes")
    try:
        tok = BPETokenizer(merges, special_tokens=specials, pattern=PRE_SPLIT_PATTERN)
    except ValueError as exc:
        raise ModelFileError(f"{folder}: the tokenizer is not usable: {exc}") from None
    hf_ids = np.empty(tok.vocab_size, dtype=np.int64)
    for token, i in ids.items():
        hf_ids[i] = vocab[token]
    for token, i in specials.items():
        hf_ids[i] = vocab[token]
    if len(set(hf_ids.tolist())) != len(hf_ids) or hf_ids.min() < 0 or hf_ids.max() >= vocab_size:
        raise ModelFileError(f"{vocab_path}: its ids are not {tok.vocab_size} distinct ids below vocab_size "
                             f"{vocab_size}")
    return tok, hf_ids


def _weights(folder: str, c: GPTConfig) -> dict:
    path = os.path.join(folder, "model.safetensors")
    arrays, _ = load_safetensors(path)
    found = {}
    for name, arr in arrays.items():
        short = name[len("transformer."):] if name.startswith("transformer.") else name
        if short.endswith(_BUFFERS):
            continue
        found[short] = arr
    d, L = c.d_model, c.n_layers
    expected = {"wte.weight": (c.vocab_size, d), "wpe.weight": (c.context_length, d),
                "ln_f.weight": (d,), "ln_f.bias": (d,)}
    for i in range(L):
        p = f"h.{i}."
        expected.update({p + "ln_1.weight": (d,), p + "ln_1.bias": (d,), p + "ln_2.weight": (d,),
                         p + "ln_2.bias": (d,), p + "attn.c_attn.weight": (d, 3 * d), p + "attn.c_attn.bias": (3 * d,),
                         p + "attn.c_proj.weight": (d, d), p + "attn.c_proj.bias": (d,),
                         p + "mlp.c_fc.weight": (d, 4 * d), p + "mlp.c_fc.bias": (4 * d,),
                         p + "mlp.c_proj.weight": (4 * d, d), p + "mlp.c_proj.bias": (d,)})
    head = found.pop("lm_head.weight", None)
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing or extra:
        raise ModelFileError(f"{path}: does not match config.json: missing {missing[:4]}, unexpected {extra[:4]}")
    for name, shape in expected.items():
        if found[name].shape != shape:
            raise ModelFileError(f"{path}: {name} has shape {found[name].shape}; config.json implies {shape}")
        if found[name].dtype.kind != "f":
            raise ModelFileError(f"{path}: {name} is {found[name].dtype}, not floating point")
        found[name] = found[name].astype(np.float32)
    if head is not None and not np.array_equal(np.asarray(head, np.float32), found["wte.weight"]):
        raise ModelFileError(f"{path}: lm_head.weight differs from wte.weight, but the model ties them")
    return found


def load_pretrained(folder) -> Pretrained:
    """Chapter 15: a GPT-2 checkpoint folder (Hugging Face layout) as an nnlib GPT and tokenizer.

    Reads ``config.json`` and ``model.safetensors`` (and, if present, ``vocab.json`` +
    ``merges.txt``); every file is size-capped, strictly parsed and checked against the
    others before a weight is used. A bad or unsupported folder raises
    :class:`nnlib.saving.files.ModelFileError` naming the file and the problem.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"load_pretrained: {folder!r} is not a folder")
    c = _config(folder)
    w = _weights(folder, c)
    tok, hf_ids = _tokenizer(folder, c.vocab_size)
    if hf_ids is None:
        hf_ids = np.arange(c.vocab_size)
    elif len(hf_ids) != c.vocab_size:
        raise ModelFileError(f"{folder}: the tokenizer has {len(hf_ids)} tokens, config.json vocab_size "
                             f"{c.vocab_size}")
    model = GPT(c)
    d = c.d_model
    state = {"wte.embeddings": w["wte.weight"][hf_ids], "wpe.embeddings": w["wpe.weight"],
             "ln_f.gamma": w["ln_f.weight"], "ln_f.beta": w["ln_f.bias"]}
    for i in range(c.n_layers):
        h, b = f"h.{i}.", f"blocks.{i}."
        qkv_w, qkv_b = w[h + "attn.c_attn.weight"], w[h + "attn.c_attn.bias"]
        for k, name in enumerate(("q_proj", "k_proj", "v_proj")):
            state[b + f"attn.{name}.kernel"] = qkv_w[:, k * d:(k + 1) * d]
            state[b + f"attn.{name}.bias"] = qkv_b[k * d:(k + 1) * d]
        state.update({b + "attn.out_proj.kernel": w[h + "attn.c_proj.weight"], b + "attn.out_proj.bias": w[h + "attn.c_proj.bias"],
                      b + "ln1.gamma": w[h + "ln_1.weight"], b + "ln1.beta": w[h + "ln_1.bias"],
                      b + "ln2.gamma": w[h + "ln_2.weight"], b + "ln2.beta": w[h + "ln_2.bias"],
                      b + "mlp_in.kernel": w[h + "mlp.c_fc.weight"], b + "mlp_in.bias": w[h + "mlp.c_fc.bias"],
                      b + "mlp_out.kernel": w[h + "mlp.c_proj.weight"], b + "mlp_out.bias": w[h + "mlp.c_proj.bias"]})
    model.load_state_dict({k: np.ascontiguousarray(v) for k, v in state.items()})
    model.eval()
    if tok is not None:
        model.tokenizer = tok
    return Pretrained(model, tok, hf_ids)


# --------------------------------------------------------------------------- writing
def save_pretrained(model: GPT, folder, tokenizer: BPETokenizer | None = None) -> str:
    """Chapter 15: write ``model`` (and its tokenizer) as a GPT-2 folder that transformers loads.

    Token ids are nnlib's (bytes 0..255, merges after them, special tokens last), so the
    saved vocabulary and the embedding rows agree without a permutation. A model with
    LoRA adapters is refused (merge them first: ``nnlib.lora.merge_lora``), as is one
    whose head is not tied to its embedding (GPT-2's layout ties them).
    """
    if not isinstance(model, GPT):
        raise TypeError(f"save_pretrained: expected an nnlib.gpt.GPT, got {type(model).__name__}")
    c = model.config
    if not c.tie_weights:
        raise ValueError("save_pretrained: the GPT-2 layout ties the head to the token embedding; this model "
                         "has tie_weights=False")
    state = {k: np.asarray(getattr(v, "data", v), np.float32) for k, v in model.state_dict().items()}
    lora = sorted(k for k in state if "lora" in k)
    if lora:
        raise ValueError(f"save_pretrained: the model has LoRA adapters ({lora[0]}, ...); merge them into the "
                         "weights first with nnlib.lora.merge_lora(model)")
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if tokenizer is not None and not isinstance(tokenizer, BPETokenizer):
        raise TypeError(f"save_pretrained: the GPT-2 layout stores a byte-level BPE tokenizer, not "
                        f"{type(tokenizer).__name__}")
    if tokenizer is not None and tokenizer.vocab_size != c.vocab_size:
        raise ValueError(f"save_pretrained: the tokenizer has {tokenizer.vocab_size} tokens, the model "
                         f"{c.vocab_size}")
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    out = {"transformer.wte.weight": state["wte.embeddings"], "transformer.wpe.weight": state["wpe.embeddings"],
           "transformer.ln_f.weight": state["ln_f.gamma"], "transformer.ln_f.bias": state["ln_f.beta"]}
    for i in range(c.n_layers):
        h, b = f"transformer.h.{i}.", f"blocks.{i}."
        out[h + "attn.c_attn.weight"] = np.concatenate([state[b + f"attn.{n}.kernel"] for n in ("q_proj", "k_proj", "v_proj")], 1)
        out[h + "attn.c_attn.bias"] = np.concatenate([state[b + f"attn.{n}.bias"] for n in ("q_proj", "k_proj", "v_proj")])
        for hf, nn_name in (("attn.c_proj", "attn.out_proj"), ("mlp.c_fc", "mlp_in"), ("mlp.c_proj", "mlp_out")):
            out[h + hf + ".weight"], out[h + hf + ".bias"] = state[b + nn_name + ".kernel"], state[b + nn_name + ".bias"]
        for hf, nn_name in (("ln_1", "ln1"), ("ln_2", "ln2")):
            out[h + hf + ".weight"], out[h + hf + ".bias"] = state[b + nn_name + ".gamma"], state[b + nn_name + ".beta"]
    save_safetensors(out, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    eos = None
    if tokenizer is not None:
        eos = tokenizer.special_tokens.get("<|endoftext|>")
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": c.vocab_size,
              "n_positions": c.context_length, "n_ctx": c.context_length, "n_embd": c.d_model,
              "n_layer": c.n_layers, "n_head": c.n_heads, "n_inner": None, "activation_function": "gelu_new",
              "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
              "layer_norm_epsilon": _LN_EPS, "initializer_range": 0.02, "scale_attn_weights": True,
              "tie_word_embeddings": True, "bos_token_id": eos, "eos_token_id": eos}
    _write_text(os.path.join(folder, "config.json"), json.dumps(config, indent=2) + "\n")
    if tokenizer is not None:
        spell = bytes_to_unicode()
        vocab = {"".join(spell[b] for b in tokenizer.id_to_token(i)): i for i in range(256 + len(tokenizer.merges))}
        vocab.update(tokenizer.special_tokens)
        names = {i: s for s, i in vocab.items()}
        merges = ["#version: 0.2"] + [f"{names[a]} {names[b]}" for a, b in tokenizer.merges]
        _write_text(os.path.join(folder, "vocab.json"), json.dumps(vocab, ensure_ascii=False))
        _write_text(os.path.join(folder, "merges.txt"), "\n".join(merges) + "\n")
    return folder


def _write_text(path: str, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")), who="save_pretrained")
