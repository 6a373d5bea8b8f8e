"""Chapter 12: the GPT against an equivalent PyTorch GPT written here; generation, KV cache, save/load.

``TorchGPT`` below is the reference: the same architecture in plain torch
(nn.Embedding, nn.LayerNorm, nn.Linear, F.scaled_dot_product_attention), loaded
with nnlib's weights. benchmarks/bench_gpt.py reuses it, so the benchmark runs
against a model these tests prove equivalent.
"""
from __future__ import annotations
from tests import REPO_ROOT

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as TF

import nnlib
from nnlib.corpus import sample_batch
from nnlib.gpt import GPT, GPTConfig
from nnlib.sampling import sample_next
from nnlib.optim import AdamW

TINY = dict(vocab_size=13, context_length=8, d_model=16, n_heads=2, n_layers=2)



# ----------------------------------------------------------------------------- the torch reference
class TorchBlock(nn.Module):
    """GPT-2 pre-LN block in torch; ``cache`` is a list [k, v] (empty at first) for generation."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, cache=None):
        b, t, d = x.shape
        h = self.ln1(x)

        def split(z):
            return z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        mask, causal = None, True
        if cache is not None:
            if cache:
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
            cache[:] = [k, v]
            past = k.shape[2] - t
            if past:
                causal = False
                if t > 1:
                    mask = torch.ones(t, k.shape[2], dtype=torch.bool).tril(past)
        a = TF.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
        return x + self.proj(TF.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class TorchGPT(nn.Module):
    """The same GPT as nnlib.gpt.GPT, in PyTorch (weights tied or not)."""

    def __init__(self, vocab_size, context_length, d_model, n_heads, n_layers, tie_weights=True, **_):
        super().__init__()
        self.context_length = context_length
        self.wte, self.wpe = nn.Embedding(vocab_size, d_model), nn.Embedding(context_length, d_model)
        self.blocks = nn.ModuleList(TorchBlock(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = None if tie_weights else nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, idx, caches=None):
        start = caches[0][0].shape[2] if caches and caches[0] else 0
        x = self.wte(idx) + self.wpe(torch.arange(start, start + idx.shape[1]))
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        x = self.ln_f(x)
        return x @ self.wte.weight.T if self.lm_head is None else self.lm_head(x)

    @classmethod
    def from_nnlib(cls, model: GPT) -> "TorchGPT":
        """Build the torch model and copy nnlib's weights in (Dense kernels are transposed)."""
        c = model.config
        tm = cls(**c.to_dict())

        def put(param, array, transpose=False):
            with torch.no_grad():
                param.copy_(torch.from_numpy(np.ascontiguousarray(array.T if transpose else array)))
        put(tm.wte.weight, model.wte.embeddings.data)
        put(tm.wpe.weight, model.wpe.embeddings.data)
        for ours, theirs in zip(model.blocks, tm.blocks):
            for a, b in ((ours.ln1, theirs.ln1), (ours.ln2, theirs.ln2), (model.ln_f, tm.ln_f)):
                put(b.weight, a.gamma.data)
                put(b.bias, a.beta.data)
            pairs = ((ours.attn.q_proj, theirs.q), (ours.attn.k_proj, theirs.k), (ours.attn.v_proj, theirs.v),
                     (ours.attn.out_proj, theirs.out), (ours.mlp_in, theirs.fc), (ours.mlp_out, theirs.proj))
            for dense, linear in pairs:
                put(linear.weight, dense.kernel.data, transpose=True)
                put(linear.bias, dense.bias.data)
        put(tm.ln_f.weight, model.ln_f.gamma.data)
        put(tm.ln_f.bias, model.ln_f.beta.data)
        if tm.lm_head is not None:
            put(tm.lm_head.weight, model.lm_head.kernel.data, transpose=True)
        return tm

    @torch.no_grad()
    def generate_greedy(self, ids, max_new_tokens: int, use_cache: bool = True) -> torch.Tensor:
        """Greedy decoding with the same context window rule as GPT.generate."""
        ctx = self.context_length
        keep = max(1, ctx - ctx // 4)
        start, caches = 0, None
        for _ in range(max_new_tokens):
            n = ids.shape[1]
            if n - start > ctx or caches is None:
                if n - start > ctx:
                    start = n - keep
                caches = [[] for _ in self.blocks] if use_cache else None
            if use_cache:
                done = caches[0][0].shape[2] if caches[0] else 0
                logits = self(ids[:, start + done:], caches)
            else:
                logits = self(ids[:, start:])
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], 1)
        return ids


def _model(seed=0, **overrides):
    nnlib.manual_seed(seed)
    return GPT(GPTConfig(**{**TINY, **overrides}))


def _ids(shape, vocab=13, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, size=shape)


# ----------------------------------------------------------------------------- parity with torch
@pytest.mark.parametrize("tie", [True, False])
def test_logits_match_torch(tie):
    model = _model(tie_weights=tie)
    tm = TorchGPT.from_nnlib(model)
    ids = _ids((3, 8))
    np.testing.assert_allclose(model(ids).data, tm(torch.from_numpy(ids)).detach().numpy(), atol=2e-5, rtol=1e-4)
    assert model(ids[0]).shape == (8, 13)  # an unbatched sequence
    assert model.num_parameters() == sum(p.numel() for p in tm.parameters())


def test_twenty_adamw_steps_match_torch():
    model = _model(seed=1)
    tm = TorchGPT.from_nnlib(model)
    opt = AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    topt = torch.optim.AdamW(tm.parameters(), lr=3e-3, weight_decay=0.1)
    tokens = _ids(400, seed=2)
    rng = np.random.default_rng(3)
    for step in range(20):
        x, y = sample_batch(tokens, 4, 8, rng)
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = TF.cross_entropy(tm(torch.from_numpy(x)).reshape(-1, 13), torch.from_numpy(y).reshape(-1))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert abs(loss.item() - tloss.item()) < 1e-4, f"step {step}: {loss.item()} vs {tloss.item()}"
    np.testing.assert_allclose(model.wte.embeddings.data, tm.wte.weight.detach().numpy(), atol=1e-4)
    np.testing.assert_allclose(model.blocks[1].mlp_out.kernel.data, tm.blocks[1].proj.weight.detach().numpy().T,
                               atol=1e-4)


def test_gradients_match_torch():
    model = _model(seed=2, tie_weights=True)
    tm = TorchGPT.from_nnlib(model)
    x, y = _ids((2, 8), seed=4), _ids((2, 8), seed=5)
    model.loss(x, y).backward()
    TF.cross_entropy(tm(torch.from_numpy(x)).reshape(-1, 13), torch.from_numpy(y).reshape(-1)).backward()
    np.testing.assert_allclose(model.wte.embeddings.grad, tm.wte.weight.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(model.wpe.embeddings.grad, tm.wpe.weight.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(model.blocks[0].attn.q_proj.kernel.grad, tm.blocks[0].q.weight.grad.numpy().T,
                               atol=1e-5)
    np.testing.assert_allclose(model.blocks[0].ln1.gamma.grad, tm.blocks[0].ln1.weight.grad.numpy(), atol=1e-5)


# ----------------------------------------------------------------------------- generation
def test_cache_gives_the_same_tokens_greedy_and_sampled():
    model = _model(seed=3)
    prompt = _ids(3, seed=6)
    for kwargs in ({"temperature": 0}, {"temperature": 0.9, "seed": 1}, {"top_k": 4, "seed": 2},
                   {"top_p": 0.8, "temperature": 1.3, "seed": 3}):
        with_cache = model.generate(prompt, 30, use_cache=True, **kwargs)  # 33 > context_length 8
        without = model.generate(prompt, 30, use_cache=False, **kwargs)
        np.testing.assert_array_equal(with_cache, without, err_msg=str(kwargs))
        assert with_cache.shape == (33,) and np.array_equal(with_cache[:3], prompt)


def test_greedy_generation_matches_torch_and_batches():
    model = _model(seed=4)
    tm = TorchGPT.from_nnlib(model)
    prompts = _ids((2, 5), seed=7)
    ours = model.generate(prompts, 20, temperature=0)
    assert ours.shape == (2, 25)
    for use_cache in (True, False):
        theirs = tm.generate_greedy(torch.from_numpy(prompts), 20, use_cache=use_cache).numpy()
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours[1], model.generate(prompts[1], 20, temperature=0))


def test_generation_is_seeded_and_training_mode_is_restored():
    model = _model(seed=5)
    model.train()
    a = model.generate([1, 2], 15, seed=10)
    b = model.generate([1, 2], 15, seed=10)
    c = model.generate([1, 2], 15, seed=11)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert model.training


def test_stop_token():
    model = _model(seed=6)
    full = model.generate([1, 2, 3], 20, temperature=0)
    stop = int(full[5])
    first = 3 + int(np.argmax(full[3:] == stop))
    out = model.generate([1, 2, 3], 20, temperature=0, stop_token=stop)
    np.testing.assert_array_equal(out, full[:first + 1])


def test_sample_next_filters():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 20000))
    rng = np.random.default_rng(0)
    freq = np.bincount(sample_next(logits, rng=rng), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.15, 0.05], atol=0.015)
    assert set(sample_next(logits, top_k=2, rng=rng)) == {0, 1}
    assert set(sample_next(logits, top_p=0.7, rng=rng)) == {0, 1}      # 0.5 < 0.7 <= 0.8
    assert set(sample_next(logits, top_p=0.5, rng=rng)) == {0}
    assert set(sample_next(logits, temperature=0)) == {0}
    assert set(sample_next(logits, top_k=1, rng=rng)) == {0}
    cold = np.bincount(sample_next(logits, temperature=0.5, rng=rng), minlength=4) / 20000
    assert cold[0] > 0.6
    assert sample_next(logits[0], rng=rng).shape == ()
    with pytest.raises(ValueError, match="top_p"):
        sample_next(logits, top_p=0)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, temperature=-1)


# ----------------------------------------------------------------------------- helpers and errors
def test_evaluate_loss_and_sample_batch():
    model = _model(seed=7)
    tokens = _ids(50, seed=8)
    x = tokens[:48].reshape(6, 8)
    y = tokens[1:49].reshape(6, 8)
    expected = model.loss(x, y).item()
    assert abs(model.evaluate_loss(tokens, batch_size=4) - expected) < 1e-5
    xb, yb = sample_batch(tokens, 5, 8, np.random.default_rng(0))
    assert xb.shape == yb.shape == (5, 8)
    np.testing.assert_array_equal(xb[:, 1:], yb[:, :-1])


def test_errors_are_clear():
    model = _model()
    with pytest.raises(ValueError, match="context_length=8"):
        model(_ids((1, 9)))
    with pytest.raises(ValueError, match="out of range"):
        model([[1, 13]])
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="unknown GPT config entries"):
        GPTConfig.from_json({"vocab": 3})
    with pytest.raises(ValueError, match="empty"):
        model.generate([], 3)


def test_dropout_and_optimizer_groups():
    model = _model(dropout=0.2)
    x = _ids((2, 8))
    model.eval()
    np.testing.assert_array_equal(model(x).data, model(x).data)
    model.train()
    assert not np.allclose(model(x).data, model(x).data)
    decay, no_decay = model.optimizer_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(model.parameters())


def test_save_and_load_round_trip(tmp_path):
    from nnlib.saving.files import ModelFileError
    from nnlib.text import CharTokenizer

    tok = CharTokenizer.train("hello world, abc!")
    model = _model(seed=8, vocab_size=tok.vocab_size, tie_weights=False)
    path = model.save(tmp_path / "gpt.nnlib", tokenizer=tok, metadata={"steps": 3})
    loaded = GPT.load(path)
    ids = _ids((2, 8), vocab=tok.vocab_size)
    np.testing.assert_array_equal(loaded(ids).data, model(ids).data)
    assert loaded.config == model.config and loaded.metadata["steps"] == 3
    assert loaded.tokenizer.chars == tok.chars
    text = loaded.generate_text("hello", 10, temperature=0)
    assert text.startswith("hello") and len(text) == 15
    from nnlib.layers import Dense
    from nnlib.models import Sequential

    Sequential([Dense(2, input_shape=(3,))]).save(tmp_path / "other.nnlib")
    with pytest.raises(ModelFileError, match="not a GPT"):
        GPT.load(tmp_path / "other.nnlib")
    with pytest.raises(FileNotFoundError):
        GPT.load(tmp_path / "missing.nnlib")


def test_ngram_baselines():
    from nnlib.ngram import ngram_baselines

    base = ngram_baselines([0, 1, 0, 1, 0, 1, 2], [0, 1, 0], 3, alpha=0.0)
    assert abs(base["uniform"] - np.log(3)) < 1e-12
    assert abs(base["unigram"] - (-(2 * np.log(3 / 7) + np.log(3 / 7)) / 3)) < 1e-12
    assert abs(base["bigram"] - (-(np.log(1.0) + np.log(2 / 3)) / 2)) < 1e-12
    smoothed = ngram_baselines([0, 1, 0, 1], [1, 1], 2, alpha=1.0)
    assert np.isfinite(smoothed["bigram"])  # the unseen pair 1 -> 1 keeps a small probability


def test_shipped_checkpoint_beats_the_bigram_baseline():

    from nnlib.corpus import load_corpus
    from nnlib.text import CharTokenizer

    path = REPO_ROOT / "data" / "checkpoints" / "gpt_char.nnlib"
    model = GPT.load(path)
    assert isinstance(model.tokenizer, CharTokenizer) and not model.training
    evaluation = model.metadata["evaluation"]
    assert evaluation["val_loss"] < evaluation["baselines"]["bigram"] - 0.5
    ids = model.tokenizer.encode(load_corpus("valid")[:20_000], return_array=True)
    loss = model.evaluate_loss(ids, max_windows=16)
    assert loss < evaluation["baselines"]["bigram"] - 0.5
    text = model.generate_text("The ", 40, temperature=0.8, top_k=20, seed=0)
    assert text.startswith("The ") and len(text) == 44
    assert text == model.generate_text("The ", 40, temperature=0.8, top_k=20, seed=0)
