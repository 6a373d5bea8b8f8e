"""Chapter 12: every exercise check accepts the solution, reads ⏳ for the stub and rejects plausible mistakes."""

import collections
import math

import numpy as np
import pytest

from nnlib.datasets import data_path
from nnlib.exercises import ch12
from nnlib.gpt import GPT
from nnlib.corpus import load_corpus
from nnlib.text import CharTokenizer
from tests.course import exercise_harness
from tests.course.exercise_harness import (FAILED, NOT_ATTEMPTED, PASSED, assert_exercise_names_only_in_checks,
                                           load_solution, stub)


def assert_verdict(*args, **kwargs):
    # the harness's assert_verdict, and the line is one short line, whole (not cut off with "…")
    line = exercise_harness.assert_verdict(*args, **kwargs)
    print(line)
    assert len(line) <= 240 and not line.endswith("…"), line
    return line

NS = {"np": np, "math": math, "collections": collections}


@pytest.fixture(scope="module")
def corpus():
    train_text, valid_text = load_corpus("train"), load_corpus("valid")
    tok = CharTokenizer.train(train_text)
    return dict(vocab=tok.chars, valid_text=valid_text, train_ids=tok.encode(train_text, return_array=True),
                valid_ids=tok.encode(valid_text, return_array=True), V=tok.vocab_size)


@pytest.fixture(scope="module")
def shipped():
    return GPT.load(data_path("checkpoints/gpt_char.nnlib"))


@pytest.fixture(scope="module")
def logits(shipped):
    return shipped(np.array(shipped.tokenizer.encode("The return value of the ")))[-1].data.astype(np.float64)


def solution(name):
    scope = dict(NS, softmax=load_solution("12", "softmax", NS))   # top_p_filter uses the notebook's softmax
    return load_solution("12", name, scope)


# ---------------------------------------------------------------- tokenizers
def test_char_encode(corpus):
    args = (corpus["vocab"], corpus["valid_text"])
    assert_verdict(PASSED, ch12.check_char_encode, solution("char_encode"), *args)
    assert_verdict(NOT_ATTEMPTED, ch12.check_char_encode, stub, *args)
    assert_verdict(FAILED, ch12.check_char_encode, lambda text, vocab: [vocab.index(c) + 1 for c in text], *args,
                   mentions=("positions in vocab", "[3, 1, 2]"))
    assert_verdict(FAILED, ch12.check_char_encode, lambda text, vocab: [ord(c) for c in text], *args,
                   mentions=("positions in vocab", "[99, 97, 98]"))


def test_char_decode(corpus):
    args = (corpus["vocab"], corpus["valid_text"])
    assert_verdict(PASSED, ch12.check_char_decode, solution("char_decode"), *args)
    assert_verdict(NOT_ATTEMPTED, ch12.check_char_decode, stub, *args)
    assert_verdict(FAILED, ch12.check_char_decode, lambda ids, vocab: " ".join(vocab[i] for i in ids), *args,
                   mentions=("no separator", "'c a b'"))
    assert_verdict(FAILED, ch12.check_char_decode, lambda ids, vocab: [vocab[i] for i in ids], *args,
                   mentions=("no separator", "'cab'"))


def test_most_frequent_pair():
    assert_verdict(PASSED, ch12.check_most_frequent_pair, solution("most_frequent_pair"))
    assert_verdict(NOT_ATTEMPTED, ch12.check_most_frequent_pair, stub)
    first_seen = lambda ids: collections.Counter(zip(ids, ids[1:])).most_common(1)[0][0]  # noqa: E731
    largest = lambda ids: max(collections.Counter(zip(ids, ids[1:])).items(), key=lambda kv: (kv[1], kv[0]))[0]  # noqa: E731
    assert_verdict(FAILED, ch12.check_most_frequent_pair, first_seen, mentions=("ties go to the smallest", "(5, 6)"))
    assert_verdict(FAILED, ch12.check_most_frequent_pair, largest, mentions=("ties go to the smallest", "(6, 1)"))


def merge_overlapping(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
        else:
            out.append(ids[i])
        i += 1
    return out


def merge_drops_last(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def test_merge():
    assert_verdict(PASSED, ch12.check_merge, solution("merge"))
    assert_verdict(NOT_ATTEMPTED, ch12.check_merge, stub)
    assert_verdict(FAILED, ch12.check_merge, merge_overlapping, mentions=("replace (1, 2) by 9",))
    assert_verdict(FAILED, ch12.check_merge, merge_drops_last, mentions=("no overlaps", "got [9]"))


def bigram_no_smoothing_total(train_ids, valid_ids, V, alpha=1.0):
    pairs = np.bincount(train_ids[:-1] * V + train_ids[1:], minlength=V * V).reshape(V, V)
    P = (pairs + alpha) / pairs.sum(axis=1, keepdims=True).clip(min=1)
    return float(-np.log(P[valid_ids[:-1], valid_ids[1:]]).mean())


def bigram_columns(train_ids, valid_ids, V, alpha=1.0):
    pairs = np.bincount(train_ids[:-1] * V + train_ids[1:], minlength=V * V).reshape(V, V)
    P = (pairs + alpha) / (pairs.sum(axis=0, keepdims=True) + alpha * V)
    return float(-np.log(P[valid_ids[:-1], valid_ids[1:]]).mean())


def test_bigram_loss(corpus):
    args = (corpus["train_ids"], corpus["valid_ids"], corpus["V"], 2.5535)
    assert_verdict(PASSED, ch12.check_bigram_loss, solution("bigram_loss"), *args)
    assert_verdict(NOT_ATTEMPTED, ch12.check_bigram_loss, stub, *args)
    assert_verdict(FAILED, ch12.check_bigram_loss, bigram_no_smoothing_total, *args, mentions=("-ln(3/4)", "0.2877"))
    assert_verdict(FAILED, ch12.check_bigram_loss, bigram_columns, *args, mentions=("p(next | previous)",))


def test_shift_batch(corpus):
    args = (corpus["train_ids"], corpus["valid_ids"])
    assert_verdict(PASSED, ch12.check_shift_batch, solution("shift_batch"), *args)
    assert_verdict(NOT_ATTEMPTED, ch12.check_shift_batch, stub, *args)

    def swapped(tokens, starts, T):
        w = tokens[np.asarray(starts)[:, None] + np.arange(T + 1)]
        return w[:, 1:], w[:, :-1]

    def windows_of_T(tokens, starts, T):
        w = tokens[np.asarray(starts)[:, None] + np.arange(T)]
        return w, np.roll(w, -1, axis=1)
    assert_verdict(FAILED, ch12.check_shift_batch, swapped, *args, mentions=("y is x one token later",))
    assert_verdict(FAILED, ch12.check_shift_batch, windows_of_T, *args, mentions=("y is x one token later",))


# ---------------------------------------------------------------- the GPT by hand
def gpt_forward_post_ln(W, ids, n_heads):
    return ch12._forward_variant(W, ids, n_heads, pre_ln=False)


def test_gpt_forward(shipped):
    ids = np.arange(40).reshape(2, 20) % 96
    fwd = solution("gpt_forward")
    assert_verdict(PASSED, ch12.check_gpt_forward, fwd, shipped, ids)
    assert_verdict(NOT_ATTEMPTED, ch12.check_gpt_forward, stub, shipped, ids)
    assert_verdict(FAILED, ch12.check_gpt_forward, lambda W, x, h: ch12._forward_variant(W, x, h, pos=False),
                   mentions=("position embeddings", "every block weight zero"))
    assert_verdict(FAILED, ch12.check_gpt_forward, lambda W, x, h: ch12._forward_variant(W, x, h, final_ln=False),
                   mentions=("final LayerNorm",))
    assert_verdict(FAILED, ch12.check_gpt_forward, gpt_forward_post_ln, mentions=("post-LN", "pre-LN"))
    assert_verdict(FAILED, ch12.check_gpt_forward, lambda W, x, h: ch12._forward_variant(W, x, h)[:, -1],
                   mentions=("shape",))


def test_next_token_loss(shipped):
    ids = np.arange(66).reshape(2, 33) % 96
    assert_verdict(PASSED, ch12.check_next_token_loss, solution("next_token_loss"), shipped, ids)
    assert_verdict(NOT_ATTEMPTED, ch12.check_next_token_loss, stub, shipped, ids)

    def unstable(logits, targets):
        p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        return float(-np.log(np.take_along_axis(p, targets[..., None], -1)).mean())

    def summed(logits, targets):
        z = logits - logits.max(-1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        return float(-np.take_along_axis(lp, targets[..., None], -1).sum())

    def positive(logits, targets):
        z = logits - logits.max(-1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        return float(np.take_along_axis(lp, targets[..., None], -1).mean())
    with np.errstate(all="ignore"):
        assert_verdict(FAILED, ch12.check_next_token_loss, unstable, mentions=("large logits", "maximum"))
    assert_verdict(FAILED, ch12.check_next_token_loss, summed, mentions=("sum over the 2 predictions",))
    assert_verdict(FAILED, ch12.check_next_token_loss, positive, mentions=("the sign",))


def make_step(coupled=False, zero_grad=True, bias_correction=True, decay_all=False, loss_after=False):
    def train_step(model, x, y, groups, state, lr, betas=(0.9, 0.99), eps=1e-8):
        loss = model.loss(x, y)
        if zero_grad:
            model.zero_grad()
        loss.backward()
        t = state["t"] = state.get("t", 0) + 1
        b1, b2 = betas
        wd_all = max(g["weight_decay"] for g in groups)
        for group in groups:
            wd = wd_all if decay_all else group["weight_decay"]
            for p in group["params"]:
                m, v = state.setdefault(id(p), (np.zeros_like(p.data), np.zeros_like(p.data)))
                g = p.grad + wd * p.data if coupled else p.grad
                m[...] = b1 * m + (1 - b1) * g
                v[...] = b2 * v + (1 - b2) * g ** 2
                mh, vh = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
                if not coupled:
                    p.data *= 1 - lr * wd
                p.data -= lr * mh / (np.sqrt(vh) + eps)
        return model.loss(x, y).item() if loss_after else loss.item()
    return train_step


def test_train_step():
    assert_verdict(PASSED, ch12.check_train_step, solution("train_step"))
    assert_verdict(PASSED, ch12.check_train_step, make_step())
    assert_verdict(NOT_ATTEMPTED, ch12.check_train_step, stub)


@pytest.mark.parametrize("variant, mentions", [
    (dict(coupled=True), ("step 1", "Adam with L2", "p -= lr * wd * p")),
    (dict(zero_grad=False), ("step 2", "zero_grad",)),
    (dict(bias_correction=False), ("step 1", "bias correction")),
    (dict(decay_all=True), ("step 1", "every parameter")),
    (dict(loss_after=True), ("step 1", "loss after the update")),
])
def test_train_step_rejects(variant, mentions):
    assert_verdict(FAILED, ch12.check_train_step, make_step(**variant), mentions=mentions)


# ---------------------------------------------------------------- sampling
def test_softmax_with_temperature(logits):
    assert_verdict(PASSED, ch12.check_softmax_with_temperature, solution("softmax_with_temperature"), logits)
    assert_verdict(NOT_ATTEMPTED, ch12.check_softmax_with_temperature, stub, logits)

    def times_t(z, T):
        e = np.exp(z * T - (z * T).max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def unstable(z, T):
        e = np.exp(z / T)
        return e / e.sum(-1, keepdims=True)

    def whole_array(z, T):
        e = np.exp(z / T - (z / T).max())
        return e / e.sum()
    assert_verdict(FAILED, ch12.check_softmax_with_temperature, times_t, logits, mentions=("divide by T",))
    with np.errstate(all="ignore"):
        assert_verdict(FAILED, ch12.check_softmax_with_temperature, unstable, logits, mentions=("large logits",))
    assert_verdict(FAILED, ch12.check_softmax_with_temperature, whole_array, logits, mentions=("the last axis",))


def test_top_k_filter(logits):
    assert_verdict(PASSED, ch12.check_top_k_filter, solution("top_k_filter"), logits)
    assert_verdict(NOT_ATTEMPTED, ch12.check_top_k_filter, stub, logits)

    def one_too_many(z, k):
        kth = np.sort(z, axis=-1)[..., -k - 1 if k < z.shape[-1] else 0][..., None]
        return np.where(z < kth, -np.inf, z)

    def in_place(z, k):
        kth = np.sort(z, axis=-1)[..., -k][..., None]
        z[z < kth] = -np.inf
        return z

    def kth_smallest(z, k):
        kth = np.sort(z, axis=-1)[..., k - 1][..., None]
        return np.where(z < kth, -np.inf, z)
    assert_verdict(FAILED, ch12.check_top_k_filter, one_too_many, logits, mentions=("k = 2 keeps 3.0 and 2.0",))
    assert_verdict(PASSED, ch12.check_top_k_filter, in_place, logits)   # changing the input is allowed here
    assert_verdict(FAILED, ch12.check_top_k_filter, kth_smallest, logits, mentions=("k = 2",))


def test_top_p_filter(logits):
    assert_verdict(PASSED, ch12.check_top_p_filter, solution("top_p_filter"), logits)
    assert_verdict(NOT_ATTEMPTED, ch12.check_top_p_filter, stub, logits)

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def including_itself(z, p):
        probs = softmax(np.asarray(z, dtype=np.float64))
        order = np.argsort(-probs, axis=-1, kind="stable")
        sp = np.take_along_axis(probs, order, axis=-1)
        keep = np.zeros(probs.shape, bool)
        np.put_along_axis(keep, order, np.cumsum(sp, axis=-1) < p, axis=-1)
        return np.where(keep, z, -np.inf)

    def unsorted(z, p):
        probs = softmax(np.asarray(z, dtype=np.float64))
        return np.where(np.cumsum(probs, axis=-1) - probs < p, z, -np.inf)
    assert_verdict(FAILED, ch12.check_top_p_filter, including_itself, logits, mentions=("p = 0.5",))
    assert_verdict(FAILED, ch12.check_top_p_filter, unsorted, logits, mentions=("p = 0.5",))


# ---------------------------------------------------------------- nothing after a check depends on an answer
EXERCISES = ["char_encode", "char_decode", "most_frequent_pair", "merge", "bigram_loss", "gpt_forward", "next_token_loss", "shift_batch", "train_step", "softmax_with_temperature", "top_k_filter", "top_p_filter"]


def test_later_cells_use_exercise_names_only_inside_checks():
    assert_exercise_names_only_in_checks("12", EXERCISES)
