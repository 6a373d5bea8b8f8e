"""Chapter 16's exercise checks: the solution passes, the stub is not attempted, known mistakes fail by name."""

import re

import numpy as np

import nnlib
from nnlib.exercises import ch16
from tests.course.exercise_harness import FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution, stub

NS = {"np": np, "re": re, "nnlib": nnlib}
N_ITEMS = 300


def test_conv_output_size():
    assert_verdict(PASSED, ch16.check_conv_output_size, load_solution("16", "conv_output_size", NS))
    assert_verdict(NOT_ATTEMPTED, ch16.check_conv_output_size, stub)
    no_dilation = lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - k) // stride + 1  # noqa: E731
    assert_verdict(FAILED, ch16.check_conv_output_size, no_dilation, mentions=("dilated",))
    one_side = lambda n, k, stride=1, padding=0, dilation=1: (n + padding - dilation * (k - 1) - 1) // stride + 1  # noqa: E731
    assert_verdict(FAILED, ch16.check_conv_output_size, one_side, mentions=("both sides",))
    no_floor = lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1  # noqa: E731
    assert_verdict(FAILED, ch16.check_conv_output_size, no_floor, mentions=("round down",))


def _counts(texts, vocabulary, lower=True, binary=False, pattern=r"[a-z]+", dtype=np.float32):
    column = {w: j for j, w in enumerate(vocabulary)}
    M = np.zeros((len(texts), len(vocabulary)), dtype=dtype)
    for row, text in enumerate(texts):
        for w in re.findall(pattern, text.lower() if lower else text):
            if w in column:
                M[row, column[w]] = 1 if binary else M[row, column[w]] + 1
    return M


def test_count_words():
    solution = load_solution("16", "count_words", NS)
    extra = (["Return the list", "a list of lists"], ["list", "return", "the"], np.array([[1, 1, 1], [1, 0, 0]], np.float32))
    assert_verdict(PASSED, ch16.check_count_words, solution)
    assert_verdict(PASSED, ch16.check_count_words, solution, *extra)
    assert_verdict(NOT_ATTEMPTED, ch16.check_count_words, stub)
    assert_verdict(FAILED, ch16.check_count_words, lambda t, v: _counts(t, v, lower=False), mentions=("lower-case",))
    assert_verdict(FAILED, ch16.check_count_words, lambda t, v: _counts(t, v, binary=True), mentions=("every occurrence",))
    assert_verdict(FAILED, ch16.check_count_words, lambda t, v: _counts(t, v, pattern=r"\S+"), mentions=("runs of the letters",))
    assert_verdict(FAILED, ch16.check_count_words, lambda t, v: _counts(t, v, dtype=np.int64), mentions=("float32",))


def test_top_items():
    solution = load_solution("16", "top_items", {**NS, "N_ITEMS": N_ITEMS})
    assert_verdict(PASSED, ch16.check_top_items, solution, N_ITEMS)
    assert_verdict(NOT_ATTEMPTED, ch16.check_top_items, stub, N_ITEMS)

    def with_rated(model, user, rated, n=5):
        with nnlib.no_grad():
            scores = model(np.full(N_ITEMS, user), np.arange(N_ITEMS)).data
        return np.argsort(-scores, kind="stable")[:n]

    def worst_first(model, user, rated, n=5):
        candidates = np.setdiff1d(np.arange(N_ITEMS), rated)
        with nnlib.no_grad():
            scores = model(np.full(candidates.size, user), candidates).data
        return candidates[np.argsort(scores, kind="stable")[:n]]

    assert_verdict(FAILED, ch16.check_top_items, with_rated, N_ITEMS, mentions=("already rated",))
    assert_verdict(FAILED, ch16.check_top_items, worst_first, N_ITEMS, mentions=("highest first",))


def test_frame_signal():
    solution = load_solution("16", "frame_signal", NS)
    assert_verdict(PASSED, ch16.check_frame_signal, solution)
    wave = np.random.default_rng(0).normal(size=300)
    expected = np.stack([wave[t * 64:t * 64 + 128] for t in range(3)])
    assert_verdict(PASSED, ch16.check_frame_signal, solution, wave, 128, 64, expected)
    assert_verdict(NOT_ATTEMPTED, ch16.check_frame_signal, stub)
    windows = np.lib.stride_tricks.sliding_window_view
    assert_verdict(FAILED, ch16.check_frame_signal, lambda w, n, hop: windows(np.asarray(w), n), mentions=("hop-th",))
    assert_verdict(FAILED, ch16.check_frame_signal, lambda w, n, hop: np.asarray(w)[: len(w) // n * n].reshape(-1, n),
                   mentions=("overlap",))


def test_hann_window():
    assert_verdict(PASSED, ch16.check_hann_window, load_solution("16", "hann_window", NS))
    assert_verdict(NOT_ATTEMPTED, ch16.check_hann_window, stub)
    assert_verdict(FAILED, ch16.check_hann_window, lambda n: np.hanning(n).astype(np.float32), mentions=("symmetric", "n - 1"))
    assert_verdict(FAILED, ch16.check_hann_window, lambda n: 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n),
                   mentions=("float32",))
