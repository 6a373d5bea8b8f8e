"""Chapter 02: loss functions (损失函数): MSE, L1, binary and softmax cross-entropy, NLL.

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

from .engine import Tensor, as_tensor

__all__ = ["mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
           "nll_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _pair(name: str, prediction, target):
    """(prediction Tensor, target array, target Tensor or None) with equal shapes, else a clear ValueError.

    A target that is a Tensor is returned too, so the loss can give it a gradient (as torch does).
    """
    pred = as_tensor(prediction)
    tgt_t = target if isinstance(target, Tensor) else None
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
    return pred, tgt, tgt_t


def _parents(*tensors) -> tuple:
    return tuple(t for t in tensors if t is not None)


def _grads(*pairs) -> tuple:
    """The backward's gradients for the parents that exist: pairs of (tensor or None, gradient function)."""
    return tuple(fn() if t.requires_grad else None for t, fn in pairs if t is not None)


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
    """Chapter 02: mean squared error, L = mean((prediction - target)^2).

    Both sides get gradients when they are Tensors that require them (as in torch).
    """
    pred, tgt, tgt_t = _pair("mse_loss", prediction, target)
    diff = pred.data - tgt
    out, scale = _reduce("mse_loss", diff * diff, reduction)

    def backward(g):
        gd = _scaled(g, scale) * 2.0 * diff
        return _grads((pred, lambda: gd), (tgt_t, lambda: -gd))
    return Tensor.from_op(out, _parents(pred, tgt_t), backward)


def l1_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """Chapter 02: mean absolute error, L = mean(|prediction - target|); the target gets -sign too."""
    pred, tgt, tgt_t = _pair("l1_loss", prediction, target)
    diff = pred.data - tgt
    out, scale = _reduce("l1_loss", np.abs(diff), reduction)

    def backward(g):
        gd = _scaled(g, scale) * np.sign(diff)
        return _grads((pred, lambda: gd), (tgt_t, lambda: -gd))
    return Tensor.from_op(out, _parents(pred, tgt_t), backward)


def _check_binary_target(name: str, tgt: np.ndarray) -> None:
    if tgt.size and (np.nanmin(tgt) < 0 or np.nanmax(tgt) > 1):
        raise ValueError(
            f"{name}: targets must lie in [0, 1] (labels 0/1), got values from {np.nanmin(tgt)} to "
            f"{np.nanmax(tgt)}; for several classes use cross_entropy"
        )


def binary_cross_entropy(probability, target, reduction: str = "mean") -> Tensor:
    """Chapter 02: BCE on probabilities, -[y log p + (1-y) log(1-p)].

    As in PyTorch, each log is clamped at -100, so p = 0 or 1 gives a large but
    finite loss instead of infinity. A target Tensor that requires grad gets
    log(1-p) - log(p), torch's gradient.
    """
    prob, tgt, tgt_t = _pair("binary_cross_entropy", probability, target)
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
        gs = _scaled(g, scale)

        def for_prob():
            denom = np.maximum((1.0 - p) * p, 1e-12)
            return gs * (p - tgt) / denom
        return _grads((prob, for_prob), (tgt_t, lambda: gs * (log_q - log_p)))
    return Tensor.from_op(out, _parents(prob, tgt_t), backward)


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean", pos_weight=None) -> Tensor:
    """Chapter 02: BCE on raw scores, stable for any logit: max(x,0) - x*y + log(1 + e^-|x|).

    ``pos_weight`` (as torch, broadcast against the last axis, e.g. one value per
    class) multiplies the positive term: pw * y * softplus(-x) + (1 - y) * softplus(x),
    to make a rare positive class count more. A target Tensor gets a gradient when it
    requires one; ``pos_weight`` is a constant (as in torch).
    """
    z, tgt, tgt_t = _pair("binary_cross_entropy_with_logits", logits, target)
    x = z.data
    _check_binary_target("binary_cross_entropy_with_logits", tgt)
    e = np.exp(-np.abs(x))
    sp_pos = np.maximum(x, 0) + np.log1p(e)  # softplus(x) = -log(1 - sigmoid(x))
    if isinstance(pos_weight, Tensor):
        if pos_weight.requires_grad:
            raise ValueError("binary_cross_entropy_with_logits: pos_weight is a constant (torch does not "
                             "differentiate it either); pass pos_weight.detach()")
        pos_weight = pos_weight.data
    if pos_weight is None:
        values = np.maximum(x, 0) - x * tgt + np.log1p(e)
        pw = None
    else:
        pw = np.asarray(pos_weight).astype(x.dtype, copy=False)
        try:
            np.broadcast_shapes(pw.shape, x.shape)
        except ValueError:
            raise ValueError(f"binary_cross_entropy_with_logits: pos_weight of shape {pw.shape} does not broadcast "
                             f"to the logits' shape {x.shape} (give one weight per class, shape "
                             f"({x.shape[-1] if x.ndim else 1},))") from None
        sp_neg = sp_pos - x  # softplus(-x) = -log(sigmoid(x))
        values = pw * tgt * sp_neg + (1.0 - tgt) * sp_pos
        values = values.astype(x.dtype, copy=False)
    out, scale = _reduce("binary_cross_entropy_with_logits", values, reduction)

    def backward(g):
        gs = _scaled(g, scale)
        r = 1.0 / (1.0 + e)
        sig = np.where(x >= 0, r, e * r)
        if pw is None:
            return _grads((z, lambda: gs * (sig - tgt)), (tgt_t, lambda: gs * -x))
        # d/dx = -pw y (1 - sig) + (1 - y) sig ; d/dy = pw softplus(-x) - softplus(x)
        return _grads((z, lambda: gs * ((1.0 - tgt) * sig - pw * tgt * (1.0 - sig))),
                      (tgt_t, lambda: gs * (pw * (sp_pos - x) - sp_pos)))
    return Tensor.from_op(out, _parents(z, tgt_t), backward)


def _class_targets(name: str, logits_shape: tuple, target, allow_probabilities: bool = False):
    """("index", int64 class indices of shape logits_shape[:-1]) or ("prob", float class probabilities).

    Probabilities (a float target of the logits' own shape, torch's "soft labels") are
    accepted when ``allow_probabilities``; an integer target of that shape looks one-hot
    and is an error that says what to pass.
    """
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    expected = logits_shape[:-1]
    if t.shape == logits_shape and (len(logits_shape) >= 2 or t.dtype.kind == "f"):
        if allow_probabilities and t.dtype.kind == "f":
            return "prob", t
        what = ("integer class indices of shape " + str(expected) + " (e.g. y.argmax(-1))"
                + (", or float class probabilities of the logits' shape" if allow_probabilities else ""))
        raise ValueError(
            f"{name}: got targets of shape {t.shape} and dtype {t.dtype}, the same shape as the logits: "
            f"that looks one-hot. Pass {what}."
        )
    if t.shape != expected:
        raise ValueError(
            f"{name}: logits have shape {logits_shape} (classes on the last axis), so targets must be "
            f"integer class indices of shape {expected}"
            + (f" (or float probabilities of shape {logits_shape})" if allow_probabilities else "")
            + f"; got shape {t.shape}"
        )
    if t.dtype.kind not in "iubf":
        raise ValueError(f"{name}: targets must be integer class indices, got dtype {t.dtype}")
    if isinstance(target, Tensor) and target.requires_grad:
        raise ValueError(f"{name}: class-index targets of shape {t.shape} cannot have a gradient (they are "
                         f"labels); pass target.detach(), or float probabilities of shape {logits_shape}")
    return "index", whole_number_labels(t, f"{name}: targets must be integer class indices, got non-integer "
                                            "values").astype(np.int64, copy=False)


def whole_number_labels(t: np.ndarray, message: str) -> np.ndarray:
    """Chapter 02: class labels as int64; floats are accepted when they are whole numbers, else ValueError(message)."""
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise ValueError(message)
        return t.astype(np.int64)
    return t


def _class_weight(name: str, weight, classes: int, dtype) -> np.ndarray | None:
    """Per-class weights as an array of shape (classes,), or None."""
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        if weight.requires_grad:
            raise ValueError(f"{name}: class weights are constants (torch does not differentiate them either); "
                             "pass weight.detach()")
        weight = weight.data
    w = np.asarray(weight)
    if w.shape != (classes,):
        raise ValueError(f"{name}: weight must hold one value per class, shape ({classes},), got shape {w.shape}")
    return w.astype(dtype, copy=False)


def _index_rows(name: str, flat_t: np.ndarray, classes: int, ignore_index: int):
    """(valid mask, targets with ignored rows set to 0) after a range check."""
    valid = flat_t != ignore_index
    bad_rows = valid & ((flat_t < 0) | (flat_t >= classes))
    if np.any(bad_rows):
        bad = flat_t[bad_rows][0]
        raise ValueError(f"{name}: target class {bad} is out of range for {classes} classes (0..{classes - 1})")
    return valid, np.where(valid, flat_t, 0)


def _row_reduction(name: str, values: np.ndarray, denominator: float, reduction: str, out_shape: tuple, dtype):
    """(reduced loss, function g -> per-row gradient scale) for per-row ``values``."""
    if reduction == "mean":
        denominator = denominator if denominator else 1.0
        inv = 1.0 / denominator
        return (np.asarray(values.sum() / denominator, dtype=dtype),
                lambda g: np.full(values.shape, float(g) * inv, dtype))
    if reduction == "sum":
        return np.asarray(values.sum(), dtype=dtype), lambda g: np.full(values.shape, float(g), dtype)
    if reduction == "none":
        return values.reshape(out_shape).astype(dtype, copy=False), lambda g: g.reshape(-1).astype(dtype, copy=False)
    raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def cross_entropy(logits, target, reduction: str = "mean", ignore_index: int = -100, weight=None,
                  label_smoothing: float = 0.0) -> Tensor:
    """Chapter 02: softmax cross-entropy from raw scores, as ``torch.nn.functional.cross_entropy``.

    ``logits`` has the classes on its LAST axis, shape (..., C) (torch puts them on
    axis 1; for 2-D logits (N, C) the two agree). ``target`` is either

    * integer class indices of shape (...): targets equal to ``ignore_index`` count
      for nothing (the mean is over the others, weighted by ``weight`` if given), or
    * float class probabilities of the logits' shape (soft labels); such a target
      Tensor gets a gradient too.

    ``weight`` (C,) rescales each class; ``label_smoothing`` = eps mixes the target
    with the uniform distribution: (1 - eps) * target + eps / C (torch's definition).
    Computed from logsumexp(z) - z, so it is finite and exact even for logits of
    magnitude 1,000.
    """
    name = "cross_entropy"
    z = as_tensor(logits)
    if z.ndim < 1:
        raise ValueError(f"{name}: logits need a class axis")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    classes = z.shape[-1]
    kind, t = _class_targets(name, z.shape, target, allow_probabilities=True)
    dtype = z.dtype
    w = _class_weight(name, weight, classes, dtype)
    x = z.data.reshape(-1, classes)
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    lse = np.log(sums[:, 0])

    if kind == "prob":
        tgt_t = target if isinstance(target, Tensor) else None
        q = t.reshape(-1, classes).astype(dtype, copy=False)
        if eps:
            q = q * (1.0 - eps) + eps / classes
        a = q * w if w is not None else q
        a_sum = a.sum(axis=1)
        values = lse * a_sum - np.einsum("ij,ij->i", a, shifted)
        out, row_scale = _row_reduction(name, values, n, reduction, z.shape[:-1], dtype)

        def backward_prob(g):
            r = row_scale(g)[:, None]

            def for_logits():
                return ((exp / sums) * a_sum[:, None] - a) * r

            def for_target():
                gt = (lse[:, None] - shifted) * r
                if w is not None:
                    gt = gt * w
                return (gt * (1.0 - eps)).reshape(z.shape)
            return _grads((z, lambda: for_logits().reshape(z.shape)), (tgt_t, for_target))
        return Tensor.from_op(out, _parents(z, tgt_t), backward_prob)

    valid, safe_t = _index_rows(name, t.reshape(-1), classes, ignore_index)
    wt = (w[safe_t] if w is not None else np.ones(n, dtype=dtype)) * valid
    coef = wt * (1.0 - eps)
    values = coef * (lse - shifted[rows, safe_t])
    if eps:
        w_sum = float(w.sum()) if w is not None else float(classes)
        smooth = lse * w_sum - (shifted @ w if w is not None else shifted.sum(axis=1))
        values = values + (eps / classes) * smooth * valid
    denominator = float(wt.sum()) if w is not None else float(valid.sum())
    out, row_scale = _row_reduction(name, values.astype(dtype, copy=False), denominator, reduction,
                                    t.shape, dtype)

    def backward(g):
        r = row_scale(g)
        grad = exp / sums
        if not eps:  # wt * (softmax - one_hot(target)) per row
            grad[rows, safe_t] -= 1.0
            grad *= (coef * r)[:, None]
            return (grad.reshape(z.shape),)
        # with smoothing the row's target weights are a = coef * one_hot + (eps / C) * w: grad = sum(a) p - a
        a_sum = coef + ((eps / classes) * w_sum) * valid
        grad *= (a_sum * r)[:, None]
        grad[rows, safe_t] -= coef * r
        grad -= ((eps / classes) * valid * r)[:, None] * (w if w is not None else 1.0)
        return (grad.reshape(z.shape),)
    return Tensor.from_op(out, (z,), backward)


def nll_loss(log_probs, target, weight=None, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Chapter 02: negative log-likelihood of log-probabilities, -log_probs[target] (``torch.nn.functional.nll_loss``).

    ``log_probs`` (..., C), classes on the last axis (usually ``log_softmax`` output);
    ``target`` integer class indices (...). ``weight`` (C,) rescales classes and the
    mean divides by the summed weights of the counted targets; ``ignore_index`` targets
    count for nothing. ``cross_entropy(z, t)`` equals ``nll_loss(log_softmax(z), t)``.
    """
    name = "nll_loss"
    z = as_tensor(log_probs)
    if z.ndim < 1:
        raise ValueError(f"{name}: log-probabilities need a class axis")
    classes = z.shape[-1]
    _, t = _class_targets(name, z.shape, target)
    dtype = z.dtype
    w = _class_weight(name, weight, classes, dtype)
    x = z.data.reshape(-1, classes)
    n = x.shape[0]
    rows = np.arange(n)
    valid, safe_t = _index_rows(name, t.reshape(-1), classes, ignore_index)
    wt = (w[safe_t] if w is not None else np.ones(n, dtype=dtype)) * valid
    values = -wt * x[rows, safe_t]
    denominator = float(wt.sum()) if w is not None else float(valid.sum())
    out, row_scale = _row_reduction(name, values.astype(dtype, copy=False), denominator, reduction, t.shape, dtype)

    def backward(g):
        grad = np.zeros_like(x)
        grad[rows, safe_t] = -wt * row_scale(g)
        return (grad.reshape(z.shape),)
    return Tensor.from_op(out, (z,), backward)
