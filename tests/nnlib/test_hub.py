"""Chapter 15: GPT-2 checkpoints in the Hugging Face layout, proven with transformers itself.

A small ``GPT2LMHeadModel`` (random weights, built offline from a ``GPT2Config``) and a
byte-level BPE tokenizer trained offline with the ``tokenizers`` package are saved with
their own libraries' ``save_pretrained``/``save_model``; nnlib loads them and must give
transformers' logits, transformers' greedy continuation and the tokenizer's ids. The
way back: nnlib writes the layout and transformers reads it. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from nnlib.hub import bytes_to_unicode, load_pretrained, save_pretrained
from nnlib.saving.files import ModelFileError
from nnlib.corpus import load_corpus

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
torch = pytest.importorskip("torch")

TEXTS = ["The Python interpreter reads a line of text.",
         "  two spaces, tabs\tand\nnewlines; it's we'll they've 12345 3.14",
         "naïve café — ünïcödé 温度 😀 mixed_snake_case x+=1",
         "<|endoftext|>after the special token"]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A folder as the Hub holds it: config.json, model.safetensors, vocab.json, merges.txt."""
    folder = tmp_path_factory.mktemp("gpt2-tiny")
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator([load_corpus("train")[:60_000]], vocab_size=420, min_frequency=2,
                            special_tokens=["<|endoftext|>"], show_progress=False)
    bpe.save_model(str(folder))
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=48, n_embd=32,
                                     n_layer=2, n_head=4, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    hf = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # LayerNorms away from their identity init, so that a swapped gamma/beta shows
        for name, p in hf.named_parameters():
            if "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    hf.save_pretrained(str(folder), safe_serialization=True)
    return folder, hf, bpe


def _hf_logits(hf, ids):
    with torch.no_grad():
        return hf(torch.as_tensor(np.asarray(ids)[None])).logits[0].numpy()


def test_logits_equal_transformers(published):
    folder, hf, bpe = published
    loaded = load_pretrained(folder)
    ids_hf = bpe.encode(TEXTS[0]).ids
    ids_nn = [int(np.flatnonzero(loaded.hf_ids == i)[0]) for i in ids_hf]
    got = loaded.model(np.asarray(ids_nn)[None]).data[0]
    want = _hf_logits(hf, ids_hf)[:, loaded.hf_ids]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)


def test_tokenizer_encodes_as_the_tokenizers_package(published):
    folder, _, bpe = published
    loaded = load_pretrained(folder)
    for text in TEXTS:
        ids = loaded.tokenizer.encode(text)
        assert loaded.hf_ids[ids].tolist() == bpe.encode(text).ids, text
        assert loaded.tokenizer.decode(ids) == text


def test_greedy_generation_is_identical(published):
    folder, hf, bpe = published
    loaded = load_pretrained(folder)
    prompt = loaded.tokenizer.encode("The interpreter")
    mine = loaded.model.generate(np.asarray(prompt), 20, temperature=0)
    with torch.no_grad():
        theirs = hf.generate(torch.as_tensor(loaded.hf_ids[prompt])[None], max_new_tokens=20, do_sample=False,
                             pad_token_id=0)[0].numpy()
    assert loaded.hf_ids[mine].tolist() == theirs.tolist()


def test_saved_folder_loads_in_transformers(published, tmp_path):
    folder, hf, _ = published
    loaded = load_pretrained(folder)
    out = save_pretrained(loaded.model, tmp_path / "back")
    assert sorted(os.listdir(out)) == ["config.json", "merges.txt", "model.safetensors", "vocab.json"]
    back = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    ids = loaded.tokenizer.encode(TEXTS[1])[:40]
    np.testing.assert_allclose(_hf_logits(back, ids), loaded.model(np.asarray(ids)[None]).data[0],
                               rtol=1e-4, atol=2e-5)
    fast = transformers.GPT2TokenizerFast.from_pretrained(out)
    for text in TEXTS[:3]:
        assert fast.encode(text) == loaded.tokenizer.encode(text)
    again = load_pretrained(out)
    assert np.array_equal(again.hf_ids, np.arange(len(again.hf_ids)))   # saved in nnlib's own id order
    for (k, a), (_, b) in zip(sorted(again.model.state_dict().items()), sorted(loaded.model.state_dict().items())):
        assert np.array_equal(np.asarray(getattr(a, "data", a)), np.asarray(getattr(b, "data", b))), k


def test_byte_table_is_a_bijection_onto_printable_characters():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"
    assert all(c.isprintable() and not c.isspace() for c in table.values())


# ------------------------------------------------------------------ bad folders
def _copy(src, dst):
    dst.mkdir()
    for name in os.listdir(src):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def _edit_config(folder, **changes):
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


@pytest.mark.parametrize("changes, words", [
    ({"activation_function": "relu"}, "activation_function"),
    ({"layer_norm_epsilon": 1e-6}, "layer_norm_epsilon"),
    ({"n_inner": 100}, "n_inner"),
    ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
    ({"tie_word_embeddings": False}, "tie_word_embeddings"),
    ({"model_type": "llama"}, "model_type"),
    ({"n_embd": 64}, "shape"),
    ({"n_layer": 3}, "missing"),
    ({"n_head": 5}, "divisible"),
])
def test_unsupported_or_inconsistent_config_is_refused_by_name(published, tmp_path, changes, words):
    folder = _copy(published[0], tmp_path / "bad")
    _edit_config(folder, **changes)
    with pytest.raises(ModelFileError, match=words):
        load_pretrained(folder)


def test_hostile_files_are_refused(published, tmp_path):
    folder = _copy(published[0], tmp_path / "bad")
    (folder / "config.json").write_text('{"n_embd": 32, "n_embd": 64}')
    with pytest.raises(ModelFileError, match="repeats the key"):
        load_pretrained(folder)
    (folder / "config.json").write_text("[" * 100_000)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_pretrained(folder)
    folder = _copy(published[0], tmp_path / "bad2")
    (folder / "merges.txt").write_text("#version: 0.2\nq zz\n")
    with pytest.raises(ModelFileError, match="line 1"):
        load_pretrained(folder)
    os.remove(folder / "merges.txt")
    with pytest.raises(ModelFileError, match="needs both"):
        load_pretrained(folder)
    fifo = tmp_path / "bad3"
    _copy(published[0], fifo)
    os.remove(fifo / "config.json")
    os.mkfifo(fifo / "config.json")
    with pytest.raises(ModelFileError, match="FIFO"):
        load_pretrained(fifo)


def test_lora_model_and_untied_head_are_refused_on_save(published, tmp_path):
    from nnlib.gpt import GPT, GPTConfig
    from nnlib.lora import apply_lora

    untied = GPT(GPTConfig(vocab_size=300, context_length=8, d_model=16, n_heads=2, n_layers=1, tie_weights=False))
    with pytest.raises(ValueError, match="tie"):
        save_pretrained(untied, tmp_path / "x")
    model = load_pretrained(published[0]).model
    apply_lora(model, rank=2)
    with pytest.raises(ValueError, match="merge_lora"):
        save_pretrained(model, tmp_path / "y")
