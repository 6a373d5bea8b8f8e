"""Chapter 17: interpretability (可解释性): which parts of an input drive a model's output.

Three gradient attributions (归因), each a function of a model (any callable from a
Tensor to a (batch, outputs) Tensor) and an input batch ``x``, for the output column
``target``:

- :func:`saliency`: ``|d output / d x|`` (Simonyan et al. 2014), how sensitive the
  output is to each input feature;
- :func:`input_x_gradient`: ``x * d output / d x``, the first-order share of each
  feature in the output;
- :func:`integrated_gradients`: ``(x - x') * mean over the path of d output / d x``
  along the straight line from a baseline ``x'`` to ``x`` (Sundararajan et al. 2017).
  Its attributions add up to ``output(x) - output(x')`` (completeness), up to the
  error of the path integral's quadrature; :func:`completeness_gap` measures it.

They equal captum's ``Saliency``, ``InputXGradient`` and ``IntegratedGradients`` on the
same weights (tests/nnlib/test_interpret.py). All steps of the path integral go through the
model as ONE batch and one backward pass. A gradient says what the model is sensitive
to, not why: chapter 17 checks them against a randomised model (the map must change).
"""

from __future__ import annotations

import numpy as np

from .engine import Tensor

__all__ = ["saliency", "input_x_gradient", "integrated_gradients", "completeness_gap", "path_points",
           "token_attributions"]


def _selected_output(out: Tensor, target, batch: int, who: str) -> Tensor:
    """The (batch,) Tensor of output column ``target`` (an int or one int per example)."""
    if out.ndim == 1:
        out = out.reshape(-1, 1)
    if out.ndim != 2 or out.shape[0] != batch:
        raise ValueError(f"{who}: the model must return (batch, outputs) = ({batch}, ...), got shape {out.shape}")
    if target is None:
        if out.shape[1] != 1:
            raise ValueError(f"{who}: the model has {out.shape[1]} outputs; say which with target=")
        target = 0
    index = np.broadcast_to(np.asarray(target), (batch,))
    if index.dtype.kind not in "iu" or index.min() < 0 or index.max() >= out.shape[1]:
        raise ValueError(f"{who}: target must be an int (or one per example) in [0, {out.shape[1]}), got {target!r}")
    one_hot = np.zeros(out.shape, dtype=out.dtype)
    one_hot[np.arange(batch), index] = 1
    return (out * Tensor(one_hot)).sum(axis=1)


def _gradient(model, x: np.ndarray, target, who: str, repeat: int = 1) -> tuple:
    """(d output[target] / d x, output[target]) for every row of ``x`` in one backward pass."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: x must be a float array, got dtype {x.dtype}")
    inp = Tensor(x, requires_grad=True)
    target = target if target is None or repeat == 1 else np.tile(np.broadcast_to(np.asarray(target),
                                                                                (len(x) // repeat,)), repeat)
    picked = _selected_output(model(inp), target, len(x), who)
    picked.sum().backward()
    return inp.grad, picked.data


def saliency(model, x, target=None, absolute: bool = True) -> np.ndarray:
    """Chapter 17: the gradient of output ``target`` with respect to each input feature (its absolute value)."""
    grad, _ = _gradient(model, x, target, "saliency")
    return np.abs(grad) if absolute else grad


def input_x_gradient(model, x, target=None) -> np.ndarray:
    """Chapter 17: input times gradient, the first-order contribution of each feature."""
    grad, _ = _gradient(model, x, target, "input_x_gradient")
    return np.asarray(x) * grad


def path_points(steps: int, method: str = "gausslegendre") -> tuple:
    """Chapter 17: (alphas, weights) of the quadrature on [0, 1] that integrated gradients uses.

    ``"gausslegendre"`` (captum's default) or the Riemann sums ``"riemann_left"``,
    ``"riemann_right"``, ``"riemann_middle"``, ``"riemann_trapezoid"``. Every rule's
    weights sum to 1 (captum's trapezoid weights sum to (steps - 1) / steps).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"integrated_gradients: steps must be a positive integer, got {steps!r}")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(int(steps))
        return 0.5 * (nodes + 1), 0.5 * weights
    if method == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("integrated_gradients: the trapezoid rule needs steps >= 2")
        alphas = np.linspace(0, 1, steps)
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return alphas, weights
    offsets = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
    if method not in offsets:
        raise ValueError(f"integrated_gradients: unknown method {method!r}; use 'gausslegendre', "
                         f"'riemann_trapezoid' or one of {sorted(offsets)}")
    return (np.arange(steps) + offsets[method]) / steps, np.full(steps, 1.0 / steps)


def integrated_gradients(model, x, baseline=None, target=None, steps: int = 50,
                         method: str = "gausslegendre") -> np.ndarray:
    """Chapter 17: integrated gradients from ``baseline`` (default all zeros) to ``x``.

    ``attribution = (x - baseline) * sum_k w_k * grad(baseline + a_k (x - baseline))``
    with the nodes ``a_k`` and weights ``w_k`` of :func:`path_points`. The
    ``steps * batch`` path points go through the model as one batch.
    """
    x = np.asarray(x)
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(np.asarray(baseline, dtype=x.dtype), x.shape)
    alphas, weights = path_points(steps, method)
    scale = alphas.astype(x.dtype).reshape((-1,) + (1,) * x.ndim)
    points = (base[None] + scale * (x - base)[None]).reshape((-1,) + x.shape[1:])
    grads, _ = _gradient(model, points, target, "integrated_gradients", repeat=len(alphas))
    grads = grads.reshape((len(alphas),) + x.shape)
    mean_grad = np.tensordot(weights.astype(x.dtype), grads, axes=1)
    return (x - base) * mean_grad


def completeness_gap(model, x, attributions, baseline=None, target=None) -> np.ndarray:
    """Chapter 17: per example, ``sum(attributions) - (output(x) - output(baseline))`` (0 for exact IG)."""
    x = np.asarray(x)
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(np.asarray(baseline, dtype=x.dtype), x.shape)
    _, at_x = _gradient(model, x, target, "completeness_gap")
    _, at_base = _gradient(model, np.ascontiguousarray(base), target, "completeness_gap")
    total = np.asarray(attributions).reshape(len(x), -1).sum(axis=1)
    return total - (at_x - at_base)


def token_attributions(gpt, ids, target=None, steps: int = 32) -> tuple:
    """Chapter 17: which tokens of ``ids`` drive the GPT's next-token logit ``target``.

    Integrated gradients over the token embeddings (the position embeddings stay), from
    a baseline with no token information (zero token embeddings) to the real ones,
    summed over the embedding dimensions: one score per input position. ``target``
    defaults to the token the model predicts. Returns ``(scores, target)``; the scores
    add up to ``logit(ids) - logit(baseline)`` up to the quadrature error.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or len(ids) == 0:
        raise ValueError(f"token_attributions: ids must be a non-empty 1-D integer array, got shape {ids.shape}")
    if len(ids) > gpt.config.context_length:
        raise ValueError(f"token_attributions: {len(ids)} tokens exceed the context_length "
                         f"{gpt.config.context_length}")
    positions = gpt.wpe(np.arange(len(ids))).data

    def next_token_logits(token_embeddings: Tensor) -> Tensor:
        x = token_embeddings + Tensor(positions)
        for block in gpt.blocks:
            x = block(x)
        x = gpt.ln_f(x[:, -1, :])
        return x @ gpt.wte.embeddings.T if gpt.config.tie_weights else gpt.lm_head(x)

    emb = gpt.wte(ids[None]).data
    if target is None:
        target = int(np.argmax(next_token_logits(Tensor(emb)).data[0]))
    attributions = integrated_gradients(next_token_logits, emb, target=target, steps=steps)
    return attributions[0].sum(axis=-1), target
