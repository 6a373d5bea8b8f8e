"""Tests for nnlib.text (Chapter 12): the corpus, CharTokenizer and BPETokenizer.

The BPE tests compare the fast trainer and encoder with a slow, obviously-correct
reference written here: recount every pair before every merge, and apply merges one by
one in the order they were learned.
"""
from __future__ import annotations
from tests import REPO_ROOT

import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnlib import text as T
from nnlib.corpus import load_corpus
from nnlib.text import BPETokenizer, CharTokenizer

ROOT = REPO_ROOT
FAST = settings(max_examples=60, deadline=None, derandomize=True)
# any str, lone surrogates included
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=80)
SPECIAL = "<|endoftext|>"


# -- slow reference implementation ---------------------------------------------------------

def reference_merges(chunks, n_merges):
    """Plain BPE: count every pair over all chunks, merge the most frequent, repeat."""
    words = [list(c.encode("utf-8", "surrogatepass")) for c in chunks]
    merges = []
    for k in range(n_merges):
        counts = {}
        for w in words:
            for p in zip(w, w[1:]):
                counts[p] = counts.get(p, 0) + 1
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest
        merges.append(best)
        words = [T._merge_list(w, best[0], best[1], 256 + k) for w in words]
    return merges


def reference_encode(tok, text):
    """Apply the merges one by one in learned order to each chunk."""
    out = []
    for piece, sid in tok._split_special(text, allow_special=True):
        if sid is not None:
            out.append(sid)
            continue
        for chunk in tok._chunks(piece):
            ids = list(chunk.encode("utf-8", "surrogatepass"))
            for k, (a, b) in enumerate(tok.merges):
                ids = T._merge_list(ids, a, b, 256 + k)
            out.extend(ids)
    return out


@pytest.fixture(scope="module")
def corpus_tok():
    return BPETokenizer.train(load_corpus("train")[:40_000], 256 + 120 + 1,
                              special_tokens=[SPECIAL])


# -- the corpus ------------------------------------------------------------------------------

def test_corpus_loads_and_is_clean():
    train, valid = load_corpus("train"), load_corpus("valid")
    assert 800_000 < len(train) < 3_000_000
    assert 50_000 < len(valid) < len(train) / 4
    for text in (train, valid):
        assert set(text) <= {"\n"} | {chr(c) for c in range(32, 127)}
        assert not re.search(r" +\n", text), "trailing spaces"
        assert "\n\n\n\n" not in text
    assert "statement" in train and valid.endswith("\n")


def test_corpus_bad_split():
    with pytest.raises(ValueError, match="split must be one of"):
        load_corpus("test")


def test_corpus_matches_extract_script():
    readme = (ROOT / "data" / "corpus" / "README.md").read_text(encoding="utf-8")
    version = re.search(r"CPython (\d+\.\d+\.\d+)", readme).group(1)
    if version != ".".join(map(str, sys.version_info[:3])):
        pytest.skip(f"corpus was extracted with Python {version}")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "extract_corpus.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# -- CharTokenizer ---------------------------------------------------------------------------

@FAST
@given(ANY_TEXT)
def test_char_round_trip(s):
    tok = CharTokenizer.train(s)
    ids = tok.encode(s)
    assert ids == [tok.stoi[c] for c in s]
    assert tok.decode(ids) == s
    arr = tok.encode(s, return_array=True)
    assert arr.dtype == np.int64 and arr.tolist() == ids
    assert tok.decode(arr) == s


def test_char_vocab_and_errors():
    tok = CharTokenizer.train("hello world")
    assert tok.chars == sorted(set("hello world")) and tok.vocab_size == 8 == len(tok)
    assert tok.encode("hello") == [3, 2, 4, 4, 5]
    with pytest.raises(ValueError, match=r"'z' \(U\+007A\) at position 2"):
        tok.encode("hoz")
    with pytest.raises(ValueError, match="token id 8 at position 1"):
        tok.decode([0, 8])
    with pytest.raises(ValueError, match="token id -1"):
        tok.decode(np.array([-1]))
    with pytest.raises(TypeError, match="integers"):
        tok.decode([0.5])
    with pytest.raises(ValueError, match="appears twice"):
        CharTokenizer("abca")
    with pytest.raises(ValueError, match="single character"):
        CharTokenizer(["ab"])


def test_char_unk_and_given_order():
    tok = CharTokenizer("cba", unk="?")
    assert tok.chars == ["c", "b", "a", "?"]
    assert tok.encode("abz") == [2, 1, 3]
    assert tok.decode([0, 1, 2, 3]) == "cba?"
    assert CharTokenizer.train("").encode("") == []


def test_char_save_load(tmp_path):
    text = load_corpus("valid")[:5000] + "é😀"
    tok = CharTokenizer.train(text, unk="~")
    tok.save(tmp_path / "char.json")
    back = CharTokenizer.load(tmp_path / "char.json")
    assert back.chars == tok.chars and back.unk == tok.unk
    assert back.encode(text + "\u4e2d") == tok.encode(text + "\u4e2d")



def test_failed_tokenizer_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "char.json"
    CharTokenizer("ab").save(path)
    before = path.read_bytes()
    broken = CharTokenizer("xyz")
    broken._chars = ["x", "y", object()]  # fails half-way through writing the JSON
    with pytest.raises(TypeError):
        broken.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["char.json"]
    assert CharTokenizer.load(path).chars == ["a", "b"]


def test_deeply_nested_tokenizer_file_is_a_value_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="tokenizer file is not valid JSON"):
        CharTokenizer.load(path)

# -- BPE: merges -----------------------------------------------------------------------------

def test_bpe_hand_example():
    # the textbook example: aa -> Z, ab -> Y (tie with Za, smaller pair wins), ZY -> X
    tok = BPETokenizer.train("aaabdaaabac", 256 + 3)
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert tok.id_to_token(258) == b"aaab"
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tok.tokens([258, 100]) == ["aaab", "d"]
    assert tok.token_to_id("aaab") == 258
    with pytest.raises(ValueError, match="not a single token"):
        tok.token_to_id(b"xyz")


def test_bpe_overlapping_runs():
    tok = BPETokenizer.train("aaaa", 256 + 2)
    assert tok.merges == [(97, 97), (256, 256)]
    assert tok.encode("aaaaa") == [257, 97]
    assert tok.encode("aaa") == [256, 97]


@FAST
@given(st.text(alphabet="ab c\n", max_size=60), st.integers(0, 12), st.booleans())
def test_bpe_training_matches_reference(s, n_merges, pre_split):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short texts may allow fewer merges than asked
        tok = BPETokenizer.train(s, 256 + n_merges, pre_split=pre_split)
    chunks = list(tok._chunks(s))
    assert "".join(chunks) == s
    assert tok.merges == reference_merges(chunks, n_merges)
    assert tok.encode(s) == reference_encode(tok, s)
    assert tok.decode(tok.encode(s)) == s


def test_bpe_long_chunks_use_the_same_algorithm(monkeypatch):
    # without pre-splitting the whole text is one chunk longer than T._LONG, which takes the
    # vectorized paths in training and encoding; they must agree with the list paths
    rng = np.random.default_rng(0)
    s = "".join(rng.choice(list("aab ba\n"), size=3 * T._LONG))
    s += "a" * 301 + "\u00e9" * 40 + s[:200]
    tok = BPETokenizer.train(s, 256 + 40, pre_split=False)
    assert tok.merges == reference_merges([s], 40)
    ids = tok.encode(s)
    assert ids == reference_encode(tok, s)
    assert tok.decode(ids) == s
    monkeypatch.setattr(T, "_LONG", 10**9)  # force the pure-Python paths
    assert BPETokenizer.train(s, 256 + 40, pre_split=False).merges == tok.merges
    assert BPETokenizer(tok.merges, pre_split=False).encode(s) == ids


@FAST
@given(st.lists(st.sampled_from([1, 2, 3]), min_size=0, max_size=40))
def test_merge_positions_match_list_merge(xs):
    arr = np.array(xs, dtype=np.int64)
    for a, b in [(1, 1), (1, 2), (2, 1)]:
        expected = T._merge_list(xs, a, b, 9)
        got = T._merge_array(arr, T._merge_positions(arr, a, b), 9) if len(xs) else arr
        assert got.tolist() == expected


@FAST
@given(ANY_TEXT)
def test_pre_split_covers_text(s):
    tok = BPETokenizer()
    chunks = list(tok._chunks(s))
    assert "".join(chunks) == s and all(chunks)


def test_pre_split_chunks():
    tok = BPETokenizer()
    assert list(tok._chunks("Hello, world! It's 2024  ok")) == \
        ["Hello", ",", " world", "!", " It", "'s", " 2024", " ", " ok"]
    assert list(tok._chunks("x = a__b\n\n  y")) == ["x", " =", " a", "__", "b", "\n\n ", " y"]


# -- BPE: encoding ---------------------------------------------------------------------------

@FAST
@given(ANY_TEXT)
def test_bpe_round_trip_any_text(corpus_tok, s):
    ids = corpus_tok.encode(s)
    assert corpus_tok.decode(ids) == s
    assert ids == reference_encode(corpus_tok, s)
    assert corpus_tok.decode(corpus_tok.encode(s, allow_special=False)) == s


def test_bpe_special_tokens(corpus_tok):
    eot = corpus_tok.special_tokens[SPECIAL]
    assert eot == corpus_tok.vocab_size - 1 == 256 + len(corpus_tok.merges)
    text = "first doc" + SPECIAL + "second" + SPECIAL
    ids = corpus_tok.encode(text)
    assert ids.count(eot) == 2 and ids[-1] == eot
    assert corpus_tok.decode(ids) == text
    plain = corpus_tok.encode(text, allow_special=False)
    assert eot not in plain and corpus_tok.decode(plain) == text
    assert corpus_tok.id_to_token(eot) == SPECIAL.encode()
    assert corpus_tok.token_to_id(SPECIAL) == eot


def test_bpe_edge_cases(corpus_tok):
    assert corpus_tok.encode("") == [] and corpus_tok.decode([]) == ""
    emoji = "naïve 😀 中文 \x00"
    assert corpus_tok.decode(corpus_tok.encode(emoji)) == emoji
    arr = corpus_tok.encode("the the", return_array=True)
    assert arr.dtype == np.int64 and corpus_tok.decode(arr) == "the the"
    # an id list that cuts a multi-byte character decodes with U+FFFD, without raising
    assert corpus_tok.decode([0xE4]) == "\ufffd"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        corpus_tok.decode([corpus_tok.vocab_size])
    with pytest.raises(TypeError):
        corpus_tok.encode(b"bytes")


def test_bpe_compresses_held_out_text():
    tok = BPETokenizer.train(load_corpus("train")[:100_000], 384)
    valid = load_corpus("valid")[:20_000]
    ids = tok.encode(valid)
    assert tok.decode(ids) == valid
    assert len(valid) / len(ids) > 1.7


def test_bpe_train_arguments():
    with pytest.raises(ValueError, match="vocab_size must be an int >= 256"):
        BPETokenizer.train("abc", 200)
    with pytest.raises(ValueError, match="257"):
        BPETokenizer.train("abc", 256, special_tokens=["<s>"])
    with pytest.warns(UserWarning, match="only 2 merges"):
        tok = BPETokenizer.train("abc", 300)
    assert tok.vocab_size == 258


def test_bpe_verbose(capsys):
    BPETokenizer.train("aaabdaaabac", 259, verbose=True)
    out = capsys.readouterr().out
    assert "merge 1/3: (97, 97) -> 256 b'aa'" in out


# -- determinism and files -------------------------------------------------------------------

def test_bpe_deterministic_across_hash_seeds():
    sample = load_corpus("valid")[:20_000]
    merges = BPETokenizer.train(sample, 300).merges
    assert merges == BPETokenizer.train(sample, 300).merges
    code = ("from nnlib.corpus import load_corpus; from nnlib.text import BPETokenizer; "
            "print(BPETokenizer.train(load_corpus('valid')[:20000], 300).merges)")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True)
    assert res.stdout.strip() == str(merges)


def test_bpe_save_load(tmp_path, corpus_tok):
    path = tmp_path / "bpe.json"
    corpus_tok.save(path)
    obj = json.loads(path.read_text(encoding="utf-8"))
    assert obj["format"] == "nnlib.text.BPETokenizer" and len(obj["merges"]) == 120
    back = BPETokenizer.load(path)
    text = load_corpus("valid")[:3000] + SPECIAL + "ünïcode 😀"
    assert back.encode(text) == corpus_tok.encode(text)
    assert back.vocab == corpus_tok.vocab and back.special_tokens == corpus_tok.special_tokens
    nosplit = BPETokenizer.train("abab abab", 258, pre_split=False)
    nosplit.save(path)
    assert BPETokenizer.load(path).encode("abab abab") == nosplit.encode("abab abab")


def _bpe_file(**changes):
    obj = {"format": "nnlib.text.BPETokenizer", "version": 1, "pre_split": True,
           "pattern_name": "default", "special_tokens": {"<s>": 258},
           "merges": [[97, 98], [256, 99]]}
    obj.update(changes)
    return json.dumps(obj)


@pytest.mark.parametrize("content, message", [
    ("{not json", "tokenizer file is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    (json.dumps({"format": "pickle"}), "expected 'nnlib.text.BPETokenizer'"),
    (_bpe_file(version=2), "version 2"),
    (_bpe_file(merges=[[97, 98], [300, 99]]), "does not exist yet"),
    (_bpe_file(merges=[[97, 98, 99]]), "pair of integer ids"),
    (_bpe_file(merges=[[True, 98]]), "pair of integer ids"),
    (_bpe_file(merges=[[97, -1]]), "does not exist yet"),
    (_bpe_file(merges=[[97, 98], [97, 98]]), "repeats an earlier merge"),
    (_bpe_file(merges="abc"), "'merges' must be a list"),
    (_bpe_file(special_tokens={"<s>": 5}), "special token ids must be 258"),
    (_bpe_file(special_tokens={"": 258}), "non-empty strings"),
    (_bpe_file(special_tokens=["<s>"]), "'special_tokens' must be an object"),
    (_bpe_file(pattern="(unclosed"), r"unknown entries \['pattern'\]"),  # a file never gives a regex
    (_bpe_file(pattern=r"(\w+\s?)+$"), r"unknown entries \['pattern'\]"),
    (_bpe_file(pattern_name="evil"), "unknown pre-split pattern name 'evil'"),
    (_bpe_file(pattern_name=["default"]), "unknown pre-split pattern name"),
    (_bpe_file(merges=[[97, 97]] + [[256 + k, 256 + k] for k in range(40)], special_tokens={}),
     "more than the"),
    (_bpe_file(pre_split="yes"), "'pre_split' must be true or false"),
])
def test_bpe_load_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        BPETokenizer.load(path)


def test_load_rejects_non_utf8_and_bad_char_files(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ValueError, match="tokenizer file is not valid JSON .not UTF-8"):
        CharTokenizer.load(path)
    for chars, message in [(["ab"], "single character"), (["a", "a"], "appears twice"),
                           ("abc", "must be a list")]:
        path.write_text(json.dumps({"format": "nnlib.text.CharTokenizer", "version": 1,
                                    "chars": chars, "unk": None}), encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            CharTokenizer.load(path)
    path.write_text(_bpe_file(), encoding="utf-8")
    with pytest.raises(ValueError, match="expected 'nnlib.text.CharTokenizer'"):
        CharTokenizer.load(path)
