"""Chapter 11: the exercise checks of the Transformer notebook (attention, the causal mask,
splitting and merging heads, layer norm).

Each ``check_<exercise>(answer, ...)`` prints one verdict line and returns a
:class:`nnlib.checks.Verdict`; it never raises.
"""

from __future__ import annotations

import math

import numpy as np

from nnlib.checks import Verdict, check_cases

__all__ = ["check_attention", "check_causal_mask", "check_split_heads", "check_merge_heads",
           "check_layer_norm"]


def _softmax(s, axis=-1, stable=True):
    with np.errstate(all="ignore"):
        if stable:
            s = s - s.max(axis=axis, keepdims=True)
        w = np.exp(s)
        return w / w.sum(axis=axis, keepdims=True)


def _attention(q, k, v, mask=None, scale=None, axis=-1, stable=True, mask_mode="add", transposed=False):
    d = q.shape[-1] if scale is None else scale
    with np.errstate(all="ignore"):
        return _attention_scores(q, k, v, mask, d, axis, stable, mask_mode, transposed)


def _attention_scores(q, k, v, mask, d, axis, stable, mask_mode, transposed):
    scores = (k @ np.swapaxes(q, -1, -2) if transposed else q @ np.swapaxes(k, -1, -2)) / math.sqrt(d)
    if mask is not None and mask_mode == "add":
        scores = scores + mask
    weights = _softmax(scores, axis, stable)
    if mask is not None and mask_mode == "after":
        weights = weights + mask
    return weights @ v


def _nnlib_attention(q, k, v, mask=None):
    """The expected output: nnlib's fused scaled_dot_product_attention."""
    from nnlib.attention import scaled_dot_product_attention
    return scaled_dot_product_attention(q, k, v, mask=mask).data


def check_attention(attention) -> Verdict:
    """Chapter 11: ``attention(q, k, v, mask=None)`` = softmax(q k^T / sqrt(d) + mask) v over the last axis."""
    rng = np.random.default_rng(1)
    r = lambda *shape: rng.normal(size=shape)  # noqa: E731
    q1 = np.array([[2.0, 0.0, 0.0, 0.0]])
    k1 = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    v1 = np.array([[1.0], [0.0]])
    # by hand: d = 4, scores = [2, 0] / sqrt(4) = [1, 0]; weights = [e, 1] / (e + 1) = [0.7311, 0.2689];
    #          output = 0.7311 * 1 + 0.2689 * 0 = 0.7311.  With mask [0, -inf] only key 0 counts: 1.0
    mask_3x5 = np.where(rng.random((3, 5)) < 0.3, -np.inf, 0.0)
    mask_3x5[:, 0] = 0.0
    args = [(q1, k1, v1),
            (q1, k1, v1, np.array([[0.0, -np.inf]])),
            (np.array([[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]]), np.eye(4)[:3], np.array([[1.0], [2.0], [3.0]])),
            (r(3, 4), r(5, 4), r(5, 2)),
            (r(2, 3, 4, 8), r(2, 3, 4, 8), r(2, 3, 4, 8)),      # (batch, heads, T, d)
            (r(3, 4), r(5, 4), r(5, 2), mask_3x5),
            (1000 * q1, np.array([[1.0, 0, 0, 0], [0.9, 0, 0, 0]]), v1)]   # big scores: subtract the max
    cases = [(a, _nnlib_attention(*a)) for a in args]
    mistakes = [
        (lambda q, k, v, m=None: _attention(q, k, v, m, scale=1), "the scores are not scaled: divide q k^T by "
                                                                  "sqrt(d), d = q.shape[-1]."),
        (lambda q, k, v, m=None: _attention(q, k, v, m, scale=q.shape[-1] ** 2), "divide the scores by sqrt(d), "
                                                                                 "not by d."),
        (lambda q, k, v, m=None: _attention(q, k, v, m, scale=v.shape[-1]), "scale by sqrt of the query/key "
                                                                            "width q.shape[-1], not v's."),
        (lambda q, k, v, m=None: _attention(q, k, v, m, axis=-2), "the softmax runs over the wrong axis: each "
                                                                  "query's weights (the last axis) must sum to 1."),
        (lambda q, k, v, m=None: _attention(q, k, v), "the mask is ignored: add it to the scores before the softmax."),
        (lambda q, k, v, m=None: _attention(q, k, v, m, mask_mode="after"), "the mask must be added to the scores "
                                                                            "before the softmax, not after."),
        (lambda q, k, v, m=None: _attention(q, k, v, m, stable=False), "np.exp overflows on big scores: subtract "
                                                                       "each row's maximum first."),
        (lambda q, k, v, m=None: _attention(q, k, v, m, transposed=True), "the scores are transposed: q @ k^T "
                                                                          "(one row per query)."),
    ]
    return check_cases("attention", attention, cases, mistakes, atol=1e-6,
                       show=lambda a: f"q {np.shape(a[0])}, k {np.shape(a[1])}, v {np.shape(a[2])}"
                                      + (", with a mask" if len(a) > 3 else ""))


def _mask(T, forbid=lambda i, j: j > i, value=-np.inf, allowed=0.0, dtype=np.float32):
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    return np.where(forbid(i, j), value, allowed).astype(dtype)


def check_causal_mask(causal_mask) -> Verdict:
    """Chapter 11: ``causal_mask(T)``: float32 (T, T), 0 where key j <= query i, -inf where j > i."""
    # by hand: T = 2 -> [[0, -inf], [0, 0]]: query 0 sees only key 0, query 1 sees keys 0 and 1
    args = [(2,), (1,), (3,), (5,), (9,)]
    from nnlib.attention import causal_mask as nnlib_mask
    cases = [(a, nnlib_mask(a[0], a[0])) for a in args]
    mistakes = [
        (lambda T: _mask(T, lambda i, j: j < i), "the mask is transposed: it hides the past and lets the future "
                                                 "through; -inf belongs above the diagonal (key j > query i)."),
        (lambda T: _mask(T, lambda i, j: j >= i), "the diagonal must stay 0: a position may attend to itself."),
        (lambda T: _mask(T, lambda i, j: j <= i), "the mask is transposed and hides the diagonal: -inf only "
                                                  "where key j > query i."),
        (lambda T: _mask(T, dtype=bool, value=True, allowed=False), "return an additive mask (0 and -np.inf), not "
                                                                    "True/False."),
        (lambda T: _mask(T, value=1.0), "forbidden positions get -np.inf (e^-inf = 0), not 1."),
        (lambda T: _mask(T, value=0.0, allowed=-np.inf), "0 and -inf are swapped: 0 on and below the diagonal."),
        (lambda T: _mask(T, value=-1e9), "use -np.inf for the forbidden positions."),
    ]
    return check_cases("causal_mask", causal_mask, cases, mistakes, dtype=True,
                       show=lambda a: f"T = {a[0]}")


def _split(x, n, order="thd"):
    b, t, d = x.shape
    if order == "direct":
        return x.reshape(b, n, t, d // n)
    if order == "dh_first":
        return x.reshape(b, t, d // n, n).transpose(0, 3, 1, 2)
    return x.reshape(b, t, n, d // n).transpose(0, 2, 1, 3)


def check_split_heads(split_heads) -> Verdict:
    """Chapter 11: ``split_heads(x, n_heads)``: (B, T, d) -> (B, H, T, d // H), head h = columns h*dh ..."""
    rng = np.random.default_rng(5)
    # by hand: x = [[[0, 1, 2, 3], [4, 5, 6, 7]]] (one batch, 2 tokens), 2 heads:
    #   head 0 = [[0, 1], [4, 5]], head 1 = [[2, 3], [6, 7]]
    args = [(np.arange(8.0).reshape(1, 2, 4), 2), (np.arange(4.0).reshape(1, 1, 4), 2),
            (rng.normal(size=(2, 3, 8)), 4), (rng.normal(size=(1, 5, 12)), 3), (rng.normal(size=(2, 4, 6)), 1)]
    cases = [(a, _split(*a)) for a in args]
    mistakes = [
        (lambda x, n: _split(x, n, "direct"), "reshaping straight to (B, H, T, d/H) mixes the tokens: reshape to "
                                              "(B, T, H, d/H), then swap axes 1 and 2."),
        (lambda x, n: _split(x, n, "dh_first"), "head h gets the columns h*dh ... (h+1)*dh - 1: reshape to "
                                                "(B, T, H, d/H), not (B, T, d/H, H)."),
        (lambda x, n: x.reshape(x.shape[0], x.shape[1], n, -1), "the axes are not swapped: the result must be "
                                                                "(B, H, T, d/H)."),
    ]
    return check_cases("split_heads", split_heads, cases, mistakes,
                       show=lambda a: f"x of shape {a[0].shape}, n_heads {a[1]}")


def _merge(x, order="thd"):
    b, h, t, dh = x.shape
    if order == "direct":
        return x.reshape(b, t, h * dh)
    if order == "interleaved":
        return x.transpose(0, 2, 3, 1).reshape(b, t, h * dh)
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * dh)


def check_merge_heads(merge_heads) -> Verdict:
    """Chapter 11: ``merge_heads(x)``: (B, H, T, dh) -> (B, T, H * dh), the inverse of split_heads."""
    rng = np.random.default_rng(6)
    # by hand: heads [[0, 1], [4, 5]] and [[2, 3], [6, 7]] -> tokens [0, 1, 2, 3] and [4, 5, 6, 7]
    args = [(np.array([[[[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]]),),
            (rng.normal(size=(2, 4, 3, 2)),), (rng.normal(size=(1, 3, 5, 4)),)]
    cases = [(a, _merge(*a)) for a in args]
    mistakes = [
        (lambda x: _merge(x, "direct"), "reshaping directly mixes the tokens: transpose(0, 2, 1, 3) first."),
        (lambda x: _merge(x, "interleaved"), "the heads' columns are interleaved: transpose to (B, T, H, dh), "
                                             "then reshape."),
    ]
    return check_cases("merge_heads", merge_heads, cases, mistakes,
                       show=lambda a: f"x of shape {a[0].shape}")


def _ln(x, gamma, beta, eps=1e-5, axis=-1, ddof=0, eps_outside=False, sqrt=True):
    mu = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True, ddof=ddof)
    with np.errstate(all="ignore"):
        if not sqrt:
            scale = var + eps
        else:
            scale = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
        return gamma * (x - mu) / scale + beta


def _nnlib_ln(x, gamma, beta, eps=1e-5):
    """The expected output: nnlib.layers.sequence.layer_norm."""
    from nnlib import Tensor
    from nnlib.layers.sequence import layer_norm
    return layer_norm(x, Tensor(gamma), Tensor(beta), eps).data


def check_layer_norm(layer_norm) -> Verdict:
    """Chapter 11: ``layer_norm(x, gamma, beta, eps=1e-5)`` over the last axis, biased variance."""
    rng = np.random.default_rng(7)
    # by hand: x = [1, 3], eps = 0 -> mean 2, variance ((1-2)^2 + (3-2)^2) / 2 = 1 -> [-1, 1]
    args = [(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2), 0.0),
            (np.array([[1.0, 3.0]]), np.array([2.0, 2.0]), np.array([0.5, -0.5]), 0.0),    # -> [-1.5, 1.5]
            (np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2), 1.0),         # eps 1: [-1, 1] / sqrt(2)
            (rng.normal(3.0, 2.0, size=(4, 6)), np.ones(6), np.zeros(6)),
            (rng.normal(size=(2, 3, 5)), rng.normal(size=5), rng.normal(size=5)),
            (np.array([[1.0, 1.0, 1.0, 1.0]]), np.ones(4), np.full(4, 0.5)),              # constant: eps matters
            (rng.normal(size=(3, 4)), np.ones(4), np.zeros(4), 0.1)]
    cases = [(a, _nnlib_ln(*a)) for a in args]
    mistakes = [
        (lambda x, g, b, eps=1e-5: _ln(x, g, b, eps, ddof=1), "the variance divides by d (np.var's default), not "
                                                              "d - 1."),
        (lambda x, g, b, eps=1e-5: _ln(x, g, b, eps, axis=0), "normalize each token over the last axis "
                                                              "(its features), not over the first axis."),
        (lambda x, g, b, eps=1e-5: _ln(x, g, b, eps, eps_outside=True), "eps goes inside the square root: "
                                                                        "sqrt(var + eps)."),
        (lambda x, g, b, eps=1e-5: _ln(x, g, b, 1e-5), "use the `eps` argument, not a fixed 1e-5."),
        (lambda x, g, b, eps=1e-5: _ln(x, g, b, 0.0), "eps is missing: divide by sqrt(var + eps)."),
        (lambda x, g, b, eps=1e-5: _ln(x, b, g, eps), "gamma and beta are swapped: gamma scales, beta shifts."),
        (lambda x, g, b, eps=1e-5: _ln(x, 1.0, 0.0, eps), "gamma and beta are not applied: gamma * x_hat + beta."),
        (lambda x, g, b, eps=1e-5: _ln(x, g, b, eps, sqrt=False), "divide by the standard deviation "
                                                                  "sqrt(var + eps), not the variance."),
    ]
    return check_cases("layer_norm", layer_norm, cases, mistakes, atol=1e-6,
                       show=lambda a: f"x of shape {a[0].shape}" + (f", eps {a[3]}" if len(a) > 3 else ""))
