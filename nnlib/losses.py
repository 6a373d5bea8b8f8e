"""Chapter 02: loss functions (损失函数): MSE, L1, binary and softmax cross-entropy.

Each loss is fused: its value and its gradient are computed in one place, in
the numerically stable form (log-sum-exp for softmax cross-entropy, the
``max(x, 0) - x*y + log(1 + e^-|x|)`` form for BCE with logits), so logits of
magnitude 1,000 give finite, correct values and gradients.

Shapes are checked strictly: a prediction of shape (N, 1) against a target of
shape (N,) would silently broadcast to (N, N) in NumPy; here it is an error that
says how to fix it.
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor, _operand

__all__ = ["mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy"]

_REDUCTIONS = ("mean", "sum", "none")


def _pair(name: str, prediction, target):
    pred = prediction if isinstance(prediction, Tensor) else Tensor(_operand(prediction))
    tgt = target.data if isinstance(target, Tensor) else np.asarray(target)
    if tgt.dtype.kind not in "f":
        tgt = tgt.astype(pred.dtype)
    if tgt.shape != pred.shape:
        hint = ""
        if tgt.ndim == pred.ndim - 1 and pred.shape[-1] == 1:
            hint = " Reshape the target with y.reshape(-1, 1) (or squeeze the prediction)."
        elif pred.ndim == tgt.ndim - 1 and tgt.shape[-1] == 1:
            hint = " Reshape the target with y.reshape(-1) (or give the prediction a trailing axis)."
        raise ValueError(
            f"{name}: prediction has shape {pred.shape} but target has shape {tgt.shape}; they must "
            f"be equal.{hint}"
        )
    return pred, tgt


def _reduce(name: str, values: np.ndarray, reduction: str):
    if reduction == "mean":
        scale = 1.0 / max(values.size, 1)
        return np.asarray(values.sum() * scale, dtype=values.dtype), scale
    if reduction == "sum":
        return np.asarray(values.sum(), dtype=values.dtype), 1.0
    if reduction == "none":
        return values, None
    raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _scaled(g, scale):
    """Gradient arriving at the loss, spread over the elements it was reduced from."""
    return g * scale if scale is not None else g


def mse_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """Chapter 02: mean squared error, L = mean((prediction - target)^2)."""
    pred, tgt = _pair("mse_loss", prediction, target)
    diff = pred.data - tgt
    out, scale = _reduce("mse_loss", diff * diff, reduction)
    return Tensor.from_op(out, (pred,), lambda g: (_scaled(g, scale) * 2.0 * diff,))


def l1_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """Chapter 02: mean absolute error, L = mean(|prediction - target|)."""
    pred, tgt = _pair("l1_loss", prediction, target)
    diff = pred.data - tgt
    out, scale = _reduce("l1_loss", np.abs(diff), reduction)
    return Tensor.from_op(out, (pred,), lambda g: (_scaled(g, scale) * np.sign(diff),))


def _check_binary_target(name: str, tgt: np.ndarray) -> None:
    if tgt.size and (np.nanmin(tgt) < 0 or np.nanmax(tgt) > 1):
        raise ValueError(
            f"{name}: targets must lie in [0, 1] (labels 0/1), got values from {np.nanmin(tgt)} to "
            f"{np.nanmax(tgt)}; for several classes use cross_entropy"
        )


def binary_cross_entropy(probability, target, reduction: str = "mean") -> Tensor:
    """Chapter 02: BCE on probabilities, -[y log p + (1-y) log(1-p)].

    As in PyTorch, each log is clamped at -100, so p = 0 or 1 gives a large but
    finite loss instead of infinity.
    """
    prob, tgt = _pair("binary_cross_entropy", probability, target)
    p = prob.data
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(
            "binary_cross_entropy: inputs must be probabilities in [0, 1]; for raw scores (logits) "
            "use binary_cross_entropy_with_logits"
        )
    _check_binary_target("binary_cross_entropy", tgt)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_q = np.maximum(np.log1p(-p), -100.0)
    values = -(tgt * log_p + (1.0 - tgt) * log_q)
    out, scale = _reduce("binary_cross_entropy", values, reduction)

    def backward(g):
        denom = np.maximum((1.0 - p) * p, 1e-12)
        return (_scaled(g, scale) * (p - tgt) / denom,)
    return Tensor.from_op(out, (prob,), backward)


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Chapter 02: BCE on raw scores, stable for any logit: max(x,0) - x*y + log(1 + e^-|x|)."""
    z, tgt = _pair("binary_cross_entropy_with_logits", logits, target)
    x = z.data
    _check_binary_target("binary_cross_entropy_with_logits", tgt)
    e = np.exp(-np.abs(x))
    values = np.maximum(x, 0) - x * tgt + np.log1p(e)
    out, scale = _reduce("binary_cross_entropy_with_logits", values, reduction)

    def backward(g):
        r = 1.0 / (1.0 + e)
        sig = np.where(x >= 0, r, e * r)
        return (_scaled(g, scale) * (sig - tgt),)
    return Tensor.from_op(out, (z,), backward)


def _class_targets(name: str, logits_shape: tuple, target) -> np.ndarray:
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    expected = logits_shape[:-1]
    if t.shape == logits_shape and len(logits_shape) >= 2:
        raise ValueError(
            f"{name}: got targets of shape {t.shape}, the same as the logits: that looks one-hot. "
            f"Pass integer class indices of shape {expected} (e.g. y.argmax(-1))."
        )
    if t.shape != expected:
        raise ValueError(
            f"{name}: logits have shape {logits_shape} (classes on the last axis), so targets must be "
            f"integer class indices of shape {expected}; got shape {t.shape}"
        )
    if t.dtype.kind not in "iubf":
        raise ValueError(f"{name}: targets must be integer class indices, got dtype {t.dtype}")
    return whole_number_labels(t, f"{name}: targets must be integer class indices, got non-integer values")


def whole_number_labels(t: np.ndarray, message: str) -> np.ndarray:
    """Chapter 02: class labels as int64; floats are accepted when they are whole numbers, else ValueError(message)."""
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise ValueError(message)
        return t.astype(np.int64)
    return t


def cross_entropy(logits, target, reduction: str = "mean", ignore_index: int = -100) -> Tensor:
    """Chapter 02: softmax cross-entropy from raw scores and integer class targets.

    ``logits`` has the classes on its last axis, shape (..., C); ``target`` has
    shape (...). Computed as logsumexp(z) - z[target], so it is finite and exact
    even for logits of magnitude 1,000. Targets equal to ``ignore_index`` count
    for nothing (the mean is over the others), as in PyTorch.
    """
    z = logits if isinstance(logits, Tensor) else Tensor(_operand(logits))
    if z.ndim < 1:
        raise ValueError("cross_entropy: logits need a class axis")
    classes = z.shape[-1]
    t = _class_targets("cross_entropy", z.shape, target)
    x = z.data.reshape(-1, classes)
    flat_t = t.reshape(-1).astype(np.int64)
    valid = flat_t != ignore_index
    if np.any((flat_t[valid] < 0) | (flat_t[valid] >= classes)):
        bad = flat_t[valid][(flat_t[valid] < 0) | (flat_t[valid] >= classes)][0]
        raise ValueError(f"cross_entropy: target class {bad} is out of range for {classes} classes (0..{classes - 1})")
    safe_t = np.where(valid, flat_t, 0)
    rows = np.arange(x.shape[0])
    shifted = x - x.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    picked = shifted[rows, safe_t]
    values = (np.log(sums[:, 0]) - picked) * valid
    if reduction == "mean":
        count = int(valid.sum())
        out = np.asarray(values.sum() / max(count, 1), dtype=x.dtype)
        scale = 1.0 / max(count, 1)
    elif reduction == "sum":
        out, scale = np.asarray(values.sum(), dtype=x.dtype), 1.0
    elif reduction == "none":
        out, scale = values.reshape(t.shape).astype(x.dtype, copy=False), None
    else:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")

    def backward(g):
        grad = exp / sums
        grad[rows, safe_t] -= 1.0
        if scale is None:
            weights = g.reshape(-1, 1) * valid[:, None]
        else:
            weights = (valid * (float(g) * scale)).astype(x.dtype)[:, None]
        grad *= weights
        return (grad.reshape(z.shape),)
    return Tensor.from_op(out, (z,), backward)
