"""Chapter 12: the exercise checks of the pretraining chapter (tokenizers, baselines, a GPT by hand, sampling).

``from nnlib.exercises import ch12`` and, in a check cell, ``ch12.check_gpt_forward(gpt_forward)``.
Each check prints one line (✅, ⏳ or ❌ naming the problem) and returns a Verdict.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from nnlib.checks import Problem, check_labelled_cases, describe_difference, run_check
from nnlib.corpus import sample_batch
from nnlib.gpt import GPT, GPTConfig
from nnlib.sampling import sample_next
from nnlib.optim import AdamW
from nnlib.text import BPETokenizer, CharTokenizer

__all__ = ["check_char_encode", "check_char_decode", "check_most_frequent_pair", "check_merge",
           "check_bigram_loss", "check_shift_batch", "check_gpt_forward", "check_next_token_loss",
           "check_train_step", "check_softmax_with_temperature", "check_top_k_filter", "check_top_p_filter"]


# ------------------------------------------------------------------ tokenizers
def check_char_encode(char_encode, vocab, text):
    """Chapter 12: ``char_encode(text, vocab)`` gives each character's position in ``vocab``."""
    ref = CharTokenizer(vocab)
    return check_labelled_cases("char_encode", char_encode, [
        ("ids are positions in vocab", ("cab", ["a", "b", "c"]), [2, 0, 1]),
        ("the empty string", ("", vocab), []),
        ("code", ("print('hello')", vocab), lambda: ref.encode("print('hello')")),
        ("200 characters of the corpus", (text[:200], vocab), lambda: ref.encode(text[:200])),
    ])


def check_char_decode(char_decode, vocab, text):
    """Chapter 12: ``char_decode(ids, vocab)`` joins the characters of ``ids`` back into one string."""
    ref = CharTokenizer(vocab)
    return check_labelled_cases("char_decode", char_decode, [
        ("join the characters, no separator", ([2, 0, 1], ["a", "b", "c"]), "cab"),
        ("no ids", ([], vocab), ""),
        ("code with a newline", (ref.encode("x = [1, 2]\n"), vocab), "x = [1, 2]\n"),
        ("200 characters of the corpus", (ref.encode(text[:200]), vocab), text[:200]),
    ])


def check_most_frequent_pair(most_frequent_pair):
    """Chapter 12: the most frequent adjacent pair, ties to the smallest pair."""
    def bpe_first(s):
        return lambda: BPETokenizer.train(s, 257, pre_split=False).merges[0]
    toy = "the cat sat on the mat; the hat of the cat"
    return check_labelled_cases("most_frequent_pair", most_frequent_pair, [
        ("(1, 2) occurs twice", ([1, 2, 1, 2, 3],), (1, 2)),
        ("every pair once: ties go to the smallest pair, not the first seen", ([5, 6, 1, 2],), (1, 2)),
        ("ties: (3, 3) < (3, 4)", ([3, 4, 9, 3, 4, 3, 3, 0, 3, 3],), (3, 3)),
        ("the toy string", (list(toy.encode()),), bpe_first(toy)),
        ("'aaabdaaabac'", (list(b"aaabdaaabac"),), bpe_first("aaabdaaabac")),
    ])


def check_merge(merge):
    """Chapter 12: ``merge(ids, pair, new_id)`` replaces non-overlapping occurrences, left to right."""
    def ref(s, pair):
        return lambda: BPETokenizer([pair], pre_split=False).encode(s)
    return check_labelled_cases("merge", merge, [
        ("replace (1, 2) by 9", ([1, 2, 3, 1, 2], (1, 2), 9), [9, 3, 9]),
        ("no overlaps: [7, 7, 7] -> [new, 7]", ([7, 7, 7], (7, 7), 9), [9, 7]),
        ("the pair at the very end", ([3, 1, 2], (1, 2), 9), [3, 9]),
        ("no occurrence: unchanged", ([1, 3, 2], (1, 2), 9), [1, 3, 2]),
        ("'aaaaa', pair 'aa'", (list(b"aaaaa"), (97, 97), 256), ref("aaaaa", (97, 97))),
        ("'abcabc', pair 'ca'", (list(b"abcabc"), (99, 97), 256), ref("abcabc", (99, 97))),
    ])


def check_bigram_loss(bigram_loss, train_ids, valid_ids, V, recorded):
    """Chapter 12: the add-alpha bigram baseline; the corpus case must give the value recorded with the checkpoint."""
    return check_labelled_cases("bigram_loss", bigram_loss, [
        ("train 'abab', valid 'ab': -ln(3/4)", (np.array([0, 1, 0, 1]), np.array([0, 1]), 2), -math.log(3 / 4)),
        ("alpha 0.5: rows are p(next | previous)", (np.array([0, 1, 0, 1]), np.array([1, 0, 0]), 2, 0.5),
         -(math.log(1.5 / 2) + math.log(0.5 / 3)) / 2),
        ("3 symbols: row 2 never seen in training, pair (0, 2) unseen", (np.array([0, 1, 0, 1, 1]), np.array([2, 0, 2]), 3),
         -(math.log(1 / 3) + math.log(1 / 5)) / 2),
        ("the whole corpus (the checkpoint's recorded bigram loss)", (train_ids, valid_ids, V), recorded),
    ], atol=1e-4)


def check_shift_batch(shift_batch, train_ids, valid_ids):
    """Chapter 12: ``shift_batch(tokens, starts, T)``: inputs and targets, the targets one token later."""
    def nnlib_case(tokens, batch_size, T, seed):
        starts = np.random.default_rng(seed).integers(0, len(tokens) - T, size=batch_size)
        return (tokens, starts, T), sample_batch(tokens, batch_size, T, np.random.default_rng(seed))
    a1, e1 = nnlib_case(train_ids, 8, 64, 0)
    a2, e2 = nnlib_case(valid_ids, 3, 128, 1)
    return check_labelled_cases("shift_batch", shift_batch, [
        ("windows at 0 and 3 of 0..9, T=4: y is x one token later", (np.arange(10), np.array([0, 3]), 4),
         (np.array([[0, 1, 2, 3], [3, 4, 5, 6]]), np.array([[1, 2, 3, 4], [4, 5, 6, 7]]))),
        ("the last window possible", (np.arange(6), np.array([1]), 4), (np.array([[1, 2, 3, 4]]), np.array([[2, 3, 4, 5]]))),
        ("nnlib.corpus.sample_batch, 8 windows of 64", a1, e1),
        ("nnlib.corpus.sample_batch, 3 windows of 128", a2, e2),
    ], names=("x", "y"))


# ------------------------------------------------------------------ a GPT by hand
def _tiny_gpt(seed, n_layers=1, n_heads=2, d_model=8, vocab=7, context=8, zero_blocks=False):
    from nnlib.random import thread_rng
    with thread_rng(np.random.default_rng(seed)):
        model = GPT(GPTConfig(vocab_size=vocab, context_length=context, d_model=d_model, n_heads=n_heads,
                              n_layers=n_layers))
    rng = np.random.default_rng(seed + 100)
    for name, p in model.named_parameters():   # LayerNorm gains and biases away from 1 and 0, so that they matter
        if name.endswith(("gamma", "beta", "bias")):
            p.data[...] = (rng.normal(size=p.shape) * 0.5 + (1.0 if name.endswith("gamma") else 0.0))
        if zero_blocks and name.startswith("blocks."):
            p.data[...] = 0.0
    model.eval()
    return model


def _weights(model):
    return {name: p.data.astype(np.float64) for name, p in model.named_parameters()}


def _ln(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * g + b


def _forward_variant(W, ids, n_heads, pos=True, final_ln=True, pre_ln=True, causal=True):
    """A NumPy GPT forward pass with switches: used only to name a learner's mistake."""
    B, T = ids.shape
    h = W["wte.embeddings"][ids] + (W["wpe.embeddings"][:T] if pos else 0.0)
    layers = sorted({int(n.split(".")[1]) for n in W if n.startswith("blocks.")})
    for i in layers:
        w = {n[len(f"blocks.{i}."):]: a for n, a in W.items() if n.startswith(f"blocks.{i}.")}
        d = h.shape[-1]
        dense = lambda n, a: a @ w[f"attn.{n}.kernel"] + w[f"attn.{n}.bias"]  # noqa: E731
        heads = lambda a: a.reshape(B, T, n_heads, d // n_heads).transpose(0, 2, 1, 3)  # noqa: E731
        a_in = _ln(h, w["ln1.gamma"], w["ln1.beta"]) if pre_ln else h
        q, k, v = (heads(dense(f"{n}_proj", a_in)) for n in "qkv")
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d // n_heads)
        if causal:
            s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        att = ((s / s.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(B, T, d)
        h = h + dense("out_proj", att)
        if not pre_ln:
            h = _ln(h, w["ln1.gamma"], w["ln1.beta"])
        m_in = _ln(h, w["ln2.gamma"], w["ln2.beta"]) if pre_ln else h
        u = m_in @ w["mlp_in.kernel"] + w["mlp_in.bias"]
        u = 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))
        h = h + u @ w["mlp_out.kernel"] + w["mlp_out.bias"]
        if not pre_ln:
            h = _ln(h, w["ln2.gamma"], w["ln2.beta"])
    if final_ln:
        h = _ln(h, W["ln_f.gamma"], W["ln_f.beta"])
    return h @ W["wte.embeddings"].T


_FORWARD_MISTAKES = [
    (dict(pos=False), "it matches a forward pass without the position embeddings: add W['wpe.embeddings'][:T]"),
    (dict(final_ln=False), "it matches a forward pass without the final LayerNorm ln_f before the tied output layer"),
    (dict(pre_ln=False), "it matches post-LN blocks: pre-LN is h + f(LN(h)), not LN(h + f(h))"),
    (dict(causal=False), "it matches attention without the causal mask"),
]


def check_gpt_forward(gpt_forward, model=None, ids=None):
    """Chapter 12: ``gpt_forward(W, ids, n_heads)`` equals ``nnlib.gpt.GPT``'s logits on the same weights.

    Tiny random GPTs first (with every block weight zero, one block, two blocks); then ``model``
    (the shipped checkpoint) on ``ids``, if given.
    """
    def body():
        suite = [
            ("every block weight zero", _tiny_gpt(1, zero_blocks=True),
             np.array([[0, 3, 3, 6]])),
            ("a GPT with one block, two heads", _tiny_gpt(2), np.array([[1, 2, 3, 4, 5], [6, 0, 6, 0, 6]])),
            ("a GPT with two blocks, four heads", _tiny_gpt(3, n_layers=2, n_heads=4), np.array([[5, 1, 4, 1, 5, 2]])),
        ]
        if model is not None and ids is not None:
            suite.append(("the shipped checkpoint", model, np.asarray(ids)))
        for label, gpt, x in suite:
            W = _weights(gpt)
            expected = gpt(x).data.astype(np.float64)
            got = gpt_forward({k: v.copy() for k, v in W.items()}, x, gpt.config.n_heads)
            if got is None:
                raise Problem(f"{label}: returned None; return the logits, shape {expected.shape}.")
            got = np.asarray(getattr(got, "data", got), dtype=np.float64)
            if got.shape != expected.shape:
                raise Problem(f"{label}, ids of shape {x.shape}: got logits of shape {got.shape}; expected "
                              f"{expected.shape} (windows, positions, vocabulary).")
            if not np.allclose(got, expected, atol=1e-4, rtol=1e-4):
                diff = float(np.abs(got - expected).max())
                why = ("with zero blocks the logits are ln_f(E[ids] + P[:T]) @ E.T" if "zero" in label
                       else "compare with the formulas above")
                for switches, text in _FORWARD_MISTAKES:
                    if np.allclose(got, _forward_variant(W, x, gpt.config.n_heads, **switches), atol=1e-4, rtol=1e-4):
                        why = text
                        break
                raise Problem(f"{label}: logits differ from nnlib.gpt.GPT's by up to {diff:.3g}; {why}.")
    return run_check("gpt_forward", body, 4 if model is not None else 3)


def check_next_token_loss(next_token_loss, model=None, ids=None):
    """Chapter 12: ``next_token_loss(logits, targets)`` equals ``GPT.loss`` (and torch's cross-entropy)."""
    def body():
        z = np.array([[[0.0, 0.0], [math.log(3.0), 0.0]]])
        suite = [("two positions: -(ln 1/2 + ln 3/4)/2", z, np.array([[1, 0]]), -(math.log(0.5) + math.log(0.75)) / 2),
                 ("large logits (subtract the maximum first)", np.array([[[1000.0, 0.0, 999.0]]]), np.array([[2]]),
                  -(999.0 - (1000.0 + math.log(1.0 + math.exp(-1.0) + math.exp(-1000.0))))),]
        gpt = _tiny_gpt(4)
        x = np.array([[1, 2, 3, 4], [4, 3, 2, 1], [0, 6, 0, 6]])
        y = np.array([[2, 3, 4, 5], [3, 2, 1, 0], [6, 0, 6, 0]])
        suite.append(("a tiny GPT's logits, 3 windows: GPT.loss", gpt(x).data.astype(np.float64), y,
                      gpt.loss(x, y).item()))
        if model is not None and ids is not None:
            xs, ys = np.asarray(ids)[:, :-1], np.asarray(ids)[:, 1:]
            suite.append(("the shipped checkpoint: GPT.loss", model(xs).data.astype(np.float64), ys,
                          model.loss(xs, ys).item()))
        for label, logits, targets, expected in suite:
            got = next_token_loss(logits.copy(), targets.copy())
            if got is None:
                raise Problem(f"{label}: returned None; return the mean loss as a float.")
            got = float(np.asarray(getattr(got, "data", got)))
            if not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-5):
                hint = ""
                if not math.isfinite(got):
                    hint = "; subtract each row's maximum before exp"
                elif math.isclose(got, expected * targets.size, rel_tol=1e-4):
                    hint = f"; that is the sum over the {targets.size} predictions: take the mean"
                elif math.isclose(got, -expected, rel_tol=1e-4):
                    hint = "; the sign: the loss is MINUS the mean log-probability"
                raise Problem(f"{label}: got {got:.6g}; expected {expected:.6g}{hint}.")
    return run_check("next_token_loss", body, 4 if model is not None else 3)


def _adamw_numpy(p, g, m, v, t, lr, wd, betas, eps, coupled=False, bias_correction=True):
    b1, b2 = betas
    p = p.astype(np.float64)
    if coupled:
        g = g + wd * p
    else:
        p = p * (1 - lr * wd)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mh, vh = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
    return p - lr * mh / (np.sqrt(vh) + eps), m, v


def check_train_step(train_step):
    """Chapter 12: ``train_step(model, x, y, groups, state, lr, betas, eps)``: loss, backward, an AdamW step by hand.

    Three steps on a tiny GPT, compared with ``nnlib.optim.AdamW`` on a copy with the same weights:
    the returned loss (before the update) and every weight after each step. The check passes
    ``eps=1e-3``: the keys' bias gets a gradient that is zero up to rounding, and a tiny ``eps`` would
    turn that rounding noise into full-size steps.
    """
    lr, wd, betas, eps = 0.05, 0.1, (0.9, 0.99), 1e-3   # eps 1e-3: a key bias has a zero gradient, up to rounding

    def body():
        learner = _tiny_gpt(5)
        learner.train()
        reference = copy.deepcopy(learner)
        opt = AdamW(reference.optimizer_groups(weight_decay=wd), lr=lr, betas=betas, eps=eps)
        groups = learner.optimizer_groups(weight_decay=wd)
        decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
        names = [n for n, _ in learner.named_parameters()]
        rng = np.random.default_rng(12)
        state, history = {}, []            # history: per step, per parameter (grad, m, v) of the reference
        m = {n: 0.0 for n in names}
        v = {n: 0.0 for n in names}
        for step in (1, 2, 3):
            x = rng.integers(0, 7, size=(2, 6))
            y = rng.integers(0, 7, size=(2, 6))
            before = {n: p.data.astype(np.float64).copy() for n, p in reference.named_parameters()}
            want_loss = reference.loss(x, y)
            opt.zero_grad()
            want_loss.backward()
            grads = {n: p.grad.astype(np.float64).copy() for n, p in reference.named_parameters()}
            opt.step()
            history.append(grads)
            got_loss = train_step(learner, x, y, groups, state, lr, betas, eps)
            if got_loss is None:
                raise Problem(f"step {step}: returned None; return the loss (a float) computed before the update.")
            got_loss = float(np.asarray(getattr(got_loss, "data", got_loss)))
            want = {n: p.data.astype(np.float64) for n, p in reference.named_parameters()}
            got = {n: p.data.astype(np.float64) for n, p in learner.named_parameters()}
            bad = [n for n in names if not np.allclose(got[n], want[n], atol=1e-5, rtol=1e-4)]
            if not math.isclose(got_loss, want_loss.item(), rel_tol=1e-5, abs_tol=1e-6):
                after = reference.loss(x, y).item()
                hint = " (that is the loss after the update: return the one you took the gradient of)" \
                    if math.isclose(got_loss, after, rel_tol=1e-5) else ""
                raise Problem(f"step {step}: returned loss {got_loss:.6g}; expected {want_loss.item():.6g}{hint}.")
            if bad:
                worst = max(bad, key=lambda n: float(np.abs(got[n] - want[n]).max()))
                diff = float(np.abs(got[worst] - want[worst]).max())
                raise Problem(f"step {step}: the weights differ from nnlib's AdamW step (worst {worst}, by up to "
                              f"{diff:.3g}); {_train_step_mistake(step, got, before, history, m, v, names, learner, decay_of, lr, wd, betas, eps)}.")
            for n in names:   # advance the reference moments for the next step's diagnosis
                g = history[-1][n]
                m[n] = betas[0] * m[n] + (1 - betas[0]) * g
                v[n] = betas[1] * v[n] + (1 - betas[1]) * g * g
    return run_check("train_step", body, 3)


def _train_step_mistake(step, got, before, history, m, v, names, model, decay_of, lr, wd, betas, eps):
    """Name the learner's mistake by the variant of the step that their weights match."""
    params = dict(model.named_parameters())

    def matches(**variant):
        for n in names:
            g = history[-1][n]
            if variant.get("accumulate") and step > 1:
                g = g + sum(h[n] for h in history[:-1])
            decay = wd if variant.get("decay_all") else decay_of[id(params[n])]
            if variant.get("no_decay"):
                decay = 0.0
            mm, vv, t = (0.0, 0.0, 1) if variant.get("fresh_state") else (m[n], v[n], step)
            if variant.get("fixed_t"):
                t = 1
            new, _, _ = _adamw_numpy(before[n], g, mm, vv, t, lr, decay, betas, eps,
                                     coupled=variant.get("coupled", False),
                                     bias_correction=variant.get("bias_correction", True))
            if not np.allclose(got[n], new, atol=1e-5, rtol=1e-4):
                return False
        return True

    if step > 1 and matches(accumulate=True):
        return "the gradients of earlier steps were added in: clear them (model.zero_grad()) before backward"
    if matches(coupled=True):
        return "that is Adam with L2 in the gradient; AdamW decays the weights directly: p -= lr * wd * p"
    if matches(bias_correction=False):
        return "m and v need the bias correction m / (1 - beta1**t), v / (1 - beta2**t)"
    if matches(decay_all=True):
        return "weight decay hit every parameter; use each group's weight_decay (0 for biases, LayerNorm, embeddings)"
    if matches(no_decay=True):
        return "no weight decay was applied; shrink each decayed weight by (1 - lr * weight_decay)"
    if step > 1 and matches(fresh_state=True):
        return "m, v and t start from zero at every step: keep them in `state` between calls"
    if step > 1 and matches(fixed_t=True):
        return "the step count t must grow by one per call (bias correction uses beta**t)"
    return "check m, v, the bias correction and the decoupled weight decay against the formulas"


# ------------------------------------------------------------------ sampling
def _softmax_t(z, T):
    z = np.asarray(z, dtype=np.float64) / T
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_softmax_with_temperature(softmax_with_temperature, logits):
    """Chapter 12: ``softmax(z / T)`` along the last axis, stable for large logits."""
    rng = np.random.default_rng(0)
    z = np.array([2.0, 1.0, 0.1])
    wide = rng.normal(size=(3, 7)) * 5
    big = np.array([[1000.0, 999.0, 0.0], [0.0, 1.0, 2.0]])
    return check_labelled_cases("softmax_with_temperature", softmax_with_temperature, [
        ("T = 1: [ln 1, ln 3] gives [1/4, 3/4]", (np.array([0.0, math.log(3.0)]), 1.0), np.array([0.25, 0.75])),
        ("T = 0.25 sharpens (divide by T)", (z, 0.25), _softmax_t(z, 0.25)),
        ("T = 10 flattens", (z, 10.0), _softmax_t(z, 10.0)),
        ("rows of a 2-D array (the last axis)", (wide, 0.7), _softmax_t(wide, 0.7)),
        ("large logits (subtract the maximum)", (big, 1.0), _softmax_t(big, 1.0)),
        ("the shipped model's logits", (np.asarray(logits), 0.8), _softmax_t(logits, 0.8)),
    ])


def _top_k(z, k):
    z = np.asarray(z)
    kth = np.sort(z, axis=-1)[..., -k][..., None]
    return np.where(z < kth, -np.inf, z)


def check_top_k_filter(top_k_filter, logits):
    """Chapter 12: keep the ``k`` largest logits of each row, the others ``-inf``."""
    rng = np.random.default_rng(1)
    z = np.array([1.0, 3.0, 2.0, 0.5])
    wide = rng.normal(size=(4, 10))
    return check_labelled_cases("top_k_filter", top_k_filter, [
        ("k = 2 keeps 3.0 and 2.0", (z, 2), np.array([-np.inf, 3.0, 2.0, -np.inf])),
        ("k = 1 keeps the largest", (z, 1), np.array([-np.inf, 3.0, -np.inf, -np.inf])),
        ("k = 4 keeps all", (z, 4), z.copy()),
        ("each row of a 2-D array", (wide, 3), _top_k(wide, 3)),
        ("the shipped model's logits, k = 20", (np.asarray(logits), 20), _top_k(logits, 20)),
    ])


def _top_p(z, p):
    probs = _softmax_t(z, 1.0)
    order = np.argsort(-probs, axis=-1, kind="stable")
    sp = np.take_along_axis(probs, order, axis=-1)
    keep = np.zeros(probs.shape, bool)
    np.put_along_axis(keep, order, (np.cumsum(sp, axis=-1) - sp) < p, axis=-1)
    return np.where(keep, z, -np.inf)


def check_top_p_filter(top_p_filter, logits):
    """Chapter 12: keep the nucleus (most likely tokens until their probabilities reach ``p``); then draw from it.

    After the cases, 300 draws of ``nnlib.sampling.sample_next(logits, top_p=0.9)`` must all lie in the
    learner's nucleus.
    """
    rng = np.random.default_rng(2)
    z = np.log(np.array([0.2, 0.5, 0.3]))
    wide = rng.normal(size=(4, 10)) * 2
    labelled = [
        ("p = 0.5: 0.5 alone reaches p", (z, 0.5), np.array([-np.inf, z[1], -np.inf])),
        ("p = 0.6: 0.5 + 0.3 (the token that crosses p stays)", (z, 0.6), np.array([-np.inf, z[1], z[2]])),
        ("p = 1.0 keeps every token", (z, 1.0), z.copy()),
        ("each row of a 2-D array, p = 0.9", (wide, 0.9), _top_p(wide, 0.9)),
        ("the shipped model's logits, p = 0.9", (np.asarray(logits), 0.9), _top_p(logits, 0.9)),
    ]

    def body():
        for label, args, expected in labelled:
            got = top_p_filter(*(a.copy() if isinstance(a, np.ndarray) else a for a in args))
            detail = describe_difference(got, expected)
            if detail is not None:
                raise Problem(f"{label}: {detail}")
        draw_rng = np.random.default_rng(0)
        nucleus = np.isfinite(np.asarray(top_p_filter(np.asarray(logits).copy(), 0.9)))
        draws = [sample_next(np.asarray(logits), temperature=1.0, top_p=0.9, rng=draw_rng) for _ in range(300)]
        outside = [int(d) for d in draws if not nucleus[int(d)]]
        if outside:
            raise Problem(f"sample_next(top_p=0.9) drew token {outside[0]}, outside your nucleus; compare the "
                          f"probabilities before each token with p.")
    return run_check("top_p_filter", body, len(labelled) + 1)
