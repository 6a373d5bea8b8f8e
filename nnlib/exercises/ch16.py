"""Chapter 16: the exercise checks of "Applications: images, text, recommendations and sound".

``check_conv_output_size``, ``check_count_words`` (bag of words), ``check_top_items``
(recommend unrated items), ``check_frame_signal`` and ``check_hann_window`` (the first
steps of a spectrogram). Each prints one line and never raises; a known mistake gets a
line that names it.
"""

from __future__ import annotations

import copy

import numpy as np

from ..checks import Verdict, check_cases

__all__ = ["check_conv_output_size", "check_count_words", "check_top_items", "check_frame_signal", "check_hann_window"]




def _wrong_dtype(name, fn, args, dtype) -> bool:
    """Print a ❌ line and return True when ``fn(*args)`` runs but is not an array of ``dtype``."""
    try:
        got = fn(*copy.deepcopy(args))
    except BaseException:
        return False
    if isinstance(got, np.ndarray) and got.dtype != dtype:
        print(f"❌ {name}: return a {np.dtype(dtype).name} array (.astype(np.{np.dtype(dtype).name})); got {got.dtype}.")
        return True
    return False


# ------------------------------------------------------------------------ checks
def _measured_width(n, k, stride=1, padding=0, dilation=1):
    from ..ops.conv import conv2d
    from ..engine import Tensor

    x, w = Tensor(np.zeros((1, 1, n, n))), Tensor(np.zeros((1, 1, k, k)))
    return conv2d(x, w, stride=stride, padding=padding, dilation=dilation).shape[-1]


def check_conv_output_size(conv_output_size) -> Verdict:
    """Chapter 16: ``conv_output_size(n, k, stride, padding, dilation)``, against nnlib's ``conv2d``."""
    settings = [(8, 3), (8, 3, 1, 1), (8, 2, 2), (28, 5, 2, 2, 1), (28, 3, 3, 0, 2), (9, 3, 2, 1, 3), (7, 3, 2)]
    try:
        cases = [((8, 3), 6)] + [(s, _measured_width(*s)) for s in settings]
    except Exception as error:
        print(f"❌ conv_output_size: the check itself failed: {type(error).__name__}: {error}.")
        return Verdict(False)

    def with_defaults(f):
        return lambda n, k, stride=1, padding=0, dilation=1: f(n, k, stride, padding, dilation)

    mistakes = [
        (with_defaults(lambda n, k, s, p, d: (n + 2 * p - k) // s + 1),
         "a dilated kernel spans d(k - 1) + 1 pixels: use n + 2p - d(k - 1) - 1"),
        (with_defaults(lambda n, k, s, p, d: (n + p - d * (k - 1) - 1) // s + 1),
         "padding is added on both sides: 2p"),
        (with_defaults(lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) / s + 1),
         "round down (//): a window that does not fit entirely gives no output"),
        (with_defaults(lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s),
         "count the first window too: + 1"),
    ]
    return check_cases("conv_output_size", conv_output_size, cases, mistakes, cite_case=False)


def check_count_words(count_words, texts=None, vocabulary=None, expected=None) -> Verdict:
    """Chapter 16: ``count_words(texts, vocabulary)``, a float32 word-count matrix.

    ``texts``, ``vocabulary`` and ``expected`` (optional) add the notebook's own case.
    """
    cases = [
        ((["the cat", "The the dog!"], ["the", "dog"]), np.array([[1, 0], [2, 1]], dtype=np.float32)),
        (([""], ["a"]), np.zeros((1, 1), dtype=np.float32)),
        ((["x=1; y = x+2"], ["x", "y", "z"]), np.array([[2, 1, 0]], dtype=np.float32)),
    ]
    if texts is not None:
        cases.append(((list(texts), list(vocabulary)), np.asarray(expected, dtype=np.float32)))

    def counted(texts, vocabulary, split, lower=True, binary=False):
        column = {w: j for j, w in enumerate(vocabulary)}
        M = np.zeros((len(texts), len(vocabulary)), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in split(text.lower() if lower else text):
                if w in column:
                    M[row, column[w]] = 1 if binary else M[row, column[w]] + 1
        return M

    import re

    letters = lambda t: re.findall(r"[a-z]+", t)  # noqa: E731
    mistakes = [
        (lambda t, v: counted(t, v, letters, lower=False), "lower-case the text first: 'The' counts as 'the'"),
        (lambda t, v: counted(t, v, letters, binary=True), "count every occurrence, not only whether a word occurs"),
        (lambda t, v: counted(t, v, str.split), "words are runs of the letters a-z: 'dog!' and 'x+2' hold the words 'dog' and 'x'"),
    ]
    if callable(count_words) and _wrong_dtype("count_words", count_words, cases[0][0], np.float32):
        return Verdict(False)
    return check_cases("count_words", count_words, cases, mistakes, cite_case=False)


def check_top_items(top_items, n_items) -> Verdict:
    """Chapter 16: ``top_items(model, user, rated, n)``, the best unrated items, best first.

    ``n_items`` is the number of items the notebook's ``top_items`` ranks (its ``N_ITEMS``).
    """
    from ..module import Module
    from ..engine import Tensor

    class FixedScores(Module):
        # a stand-in model whose predicted rating of item i is scores[i], for every user
        def __init__(self, scores):
            self.scores = np.asarray(scores, dtype=float)

        def forward(self, u, i):
            return Tensor(self.scores[np.asarray(i)])

    try:
        toy = FixedScores(np.arange(n_items) % 7)          # items 6, 13, 20, ... score highest
        cases = [
            ((toy, 0, np.array([], dtype=int), 3), np.array([6, 13, 20])),
            ((toy, 0, np.array([6, 20]), 3), np.array([13, 27, 34])),
            ((toy, 5, np.arange(0, n_items, 7), 2), np.array([6, 13])),
        ]
    except Exception as error:
        print(f"❌ top_items: the check itself failed: {type(error).__name__}: {error}.")
        return Verdict(False)

    def ranked(model, user, rated, n, skip_rated=True, best_first=True):
        candidates = np.setdiff1d(np.arange(n_items), rated) if skip_rated else np.arange(n_items)
        scores = model.scores[candidates]
        order = np.argsort(-scores if best_first else scores, kind="stable")
        return candidates[order[:n]]

    mistakes = [
        (lambda m, u, r, n=5: ranked(m, u, r, n, skip_rated=False), "leave out the items the user has already rated"),
        (lambda m, u, r, n=5: ranked(m, u, r, n, best_first=False), "best first: sort by predicted rating, highest first"),
        (lambda m, u, r, n=5: np.argsort(-m.scores[np.setdiff1d(np.arange(n_items), r)], kind="stable")[:n],
         "return item ids, not positions in the list of candidates"),
    ]
    return check_cases("top_items", top_items, cases, mistakes, cite_case=False)


def check_frame_signal(frame_signal, wave=None, n=None, hop=None, expected=None) -> Verdict:
    """Chapter 16: ``frame_signal(wave, n, hop)``, the (frames, n) array of a signal's frames.

    ``wave``, ``n``, ``hop`` and ``expected`` (optional) add the notebook's own case.
    """
    cases = [
        ((np.arange(6.0), 4, 2), np.array([[0.0, 1, 2, 3], [2, 3, 4, 5]])),
        ((np.arange(5.0), 5, 1), np.arange(5.0)[None]),
        ((np.arange(7.0), 3, 3), np.array([[0.0, 1, 2], [3, 4, 5]])),
    ]
    if wave is not None:
        cases.append(((np.asarray(wave), n, hop), np.asarray(expected)))
    windows = np.lib.stride_tricks.sliding_window_view
    mistakes = [
        (lambda w, n, hop: windows(np.asarray(w), n), "take every hop-th frame: row t starts at t * hop"),
        (lambda w, n, hop: windows(np.asarray(w), hop)[::n], "n is the frame length and hop the step between frames"),
        (lambda w, n, hop: np.asarray(w)[: len(w) // n * n].reshape(-1, n),
         "frames overlap: row t is wave[t*hop : t*hop + n], not consecutive blocks of n"),
    ]
    return check_cases("frame_signal", frame_signal, cases, mistakes, cite_case=False)


def check_hann_window(hann_window) -> Verdict:
    """Chapter 16: ``hann_window(n)``, the periodic Hann window in float32 (as ``torch.hann_window``)."""
    def periodic(n):
        return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)

    cases = [((4,), np.array([0.0, 0.5, 1.0, 0.5], dtype=np.float32)), ((1,), np.array([0.0], dtype=np.float32)),
             ((256,), periodic(256))]
    mistakes = [
        (lambda n: np.hanning(n).astype(np.float32),
         "that is the symmetric window (np.hanning, divides by n - 1): the periodic one divides by n"),
        (lambda n: (0.5 + 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32),
         "the window starts at 0 and peaks in the middle: 1/2 - 1/2 cos(2 pi k / n)"),
    ]
    if callable(hann_window) and _wrong_dtype("hann_window", hann_window, (4,), np.float32):
        return Verdict(False)
    return check_cases("hann_window", hann_window, cases, mistakes, cite_case=False)
