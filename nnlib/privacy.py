"""Chapter 17: differential privacy (差分隐私) for training: DP-SGD and its privacy accountant.

DP-SGD (Abadi et al. 2016) changes one step of SGD:

1. compute every example's own gradient (:func:`per_example_gradients`, vectorized:
   one forward and one backward pass for the whole batch);
2. clip each example's gradient to L2 norm at most ``max_grad_norm`` (C), so that no
   single example can move the model by more than C;
3. add Gaussian noise of standard deviation ``noise_multiplier * C`` (sigma C) to the
   sum, divide by the (expected) batch size and take the SGD step.

The accountant (:func:`epsilon`) turns (noise multiplier, sampling rate, steps, delta)
into the epsilon of an (epsilon, delta) guarantee, through the Renyi divergence of the
subsampled Gaussian mechanism (Mironov, Talwar and Zhang 2019) at many orders and the
conversion of Balle et al. 2020 (Theorem 21). Both equal opacus's on the same inputs
(tests/nnlib/test_privacy.py).

What epsilon promises: for ANY two training sets that differ in one example, every
outcome of training is at most e^epsilon times (plus delta) more likely with one than
with the other; so no attack on the trained model, however clever, can tell reliably
whether a given example was used. It promises nothing about what the data as a whole
reveal (a population's statistics are learned, as intended), and it holds only for the
sampling the accountant assumed (Poisson sampling with rate q; shuffled fixed-size
batches are the usual approximation).
"""

from __future__ import annotations

import math

import numpy as np

from .layers.core import Activation, Dense, Dropout, Flatten
from .engine import Tensor

__all__ = ["per_example_gradients", "clip_and_noise", "DPSGD", "rdp", "epsilon", "DEFAULT_ORDERS",
           "membership_advantage"]

#: Renyi orders the accountant tries (the same list as opacus's RDP accountant)
DEFAULT_ORDERS = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))


# ------------------------------------------------------------------ per-example gradients
def _dense_layers(model) -> list:
    layers = list(getattr(model, "layers", []))
    if not layers:
        raise TypeError(f"per_example_gradients: expected a Sequential model, got {type(model).__name__}")
    for layer in layers:
        if not isinstance(layer, (Dense, Activation, Flatten, Dropout)):
            raise TypeError(f"per_example_gradients: layer {layer.name!r} ({type(layer).__name__}) is not supported; "
                            "DP-SGD here handles Dense, Activation, Flatten and Dropout (inference mode) layers")
        if isinstance(layer, Dense) and not layer.built:
            raise ValueError(f"per_example_gradients: layer {layer.name!r} is not built yet; call model.build(...)")
    return layers


def per_example_gradients(model, loss_fn, x, y) -> tuple:
    """Chapter 17: every example's gradient of its own loss, for a Sequential of Dense layers.

    ``loss_fn(outputs, y)`` returns one loss per example (shape (batch,)). Returns
    ``(grads, losses)``: ``grads[k]`` has shape ``(batch,) + model.parameters()[k].shape``.
    How: a zero tensor ``e`` is added to each layer's pre-activation ``z = a W + b``;
    the gradient of the summed loss with respect to ``e`` is every example's
    ``dL_i/dz_i`` (examples do not interact), and then
    ``dL_i/dW = a_i^T (dL_i/dz_i)`` (an einsum over the batch) and ``dL_i/db = dL_i/dz_i``.
    Dropout runs in inference mode (identity).
    """
    layers = _dense_layers(model)
    dtype = next(layer.kernel.data.dtype for layer in layers if isinstance(layer, Dense))
    a = Tensor(np.asarray(x, dtype=dtype))
    batch = a.shape[0]
    taps = []
    for layer in layers:
        if isinstance(layer, Dense):
            inputs = a.data
            z = a @ layer.kernel
            if layer.bias is not None:
                z = z + layer.bias
            tap = Tensor(np.zeros(z.shape, dtype=z.dtype), requires_grad=True)
            z = z + tap
            taps.append((layer, inputs, tap))
            a = layer.activation(z) if layer.activation is not None else z
        elif isinstance(layer, Flatten):
            a = a.reshape(a.shape[0], -1)
        elif isinstance(layer, Activation):
            a = layer(a)
    losses = loss_fn(a, y)
    if losses.ndim != 1 or losses.shape[0] != batch:
        raise ValueError(f"per_example_gradients: loss_fn must return one loss per example, shape "
                         f"({batch},), got {losses.shape}")
    losses.sum().backward()
    grads = []
    for layer, inputs, tap in taps:
        delta = tap.grad
        grads.append(np.einsum("bi,bo->bio", inputs, delta))
        if layer.bias is not None:
            grads.append(delta.copy())
    return grads, losses.data


def clip_and_noise(grads, max_grad_norm: float, noise_multiplier: float, batch_size: float,
                   rng=None, noise=None) -> tuple:
    """Chapter 17: clip each example's gradient to norm ``max_grad_norm``, sum, add noise, average.

    ``grads`` are per-example gradients (as :func:`per_example_gradients` returns).
    The noise is ``N(0, (noise_multiplier * max_grad_norm)^2)`` per coordinate, drawn
    from ``rng`` unless given as ``noise`` (one array per parameter). Returns
    ``(update, per_example_norms)``: the averaged noisy gradients, one per parameter.
    Clipping factor ``min(1, C / (norm + 1e-6))``, as opacus.
    """
    if not max_grad_norm > 0 or not math.isfinite(max_grad_norm):
        raise ValueError(f"clip_and_noise: max_grad_norm must be a positive number, got {max_grad_norm!r}")
    if not noise_multiplier >= 0 or not math.isfinite(noise_multiplier):
        raise ValueError(f"clip_and_noise: noise_multiplier must be >= 0, got {noise_multiplier!r}")
    batch = grads[0].shape[0]
    squares = sum(np.square(g.reshape(batch, int(np.prod(g.shape[1:])))).sum(axis=1) for g in grads)   # batch may be 0
    norms = np.sqrt(squares)
    factor = np.minimum(1.0, max_grad_norm / (norms + 1e-6)).astype(grads[0].dtype)
    std = noise_multiplier * max_grad_norm
    if noise is None:
        rng = np.random.default_rng() if rng is None else rng
        noise = [rng.normal(0.0, std, size=g.shape[1:]) if std > 0 else np.zeros(g.shape[1:]) for g in grads]
    update = []
    for g, n in zip(grads, noise):
        summed = np.tensordot(factor, g, axes=1)
        update.append(((summed + np.asarray(n, dtype=g.dtype)) / batch_size).astype(g.dtype))
    return update, norms


class DPSGD:
    """Chapter 17: differentially private SGD for a Sequential of Dense layers.

    ``DPSGD(model, lr, max_grad_norm, noise_multiplier, expected_batch_size, seed)``;
    ``step(x, y, loss_fn)`` takes one private step on the batch and returns its mean
    loss. ``expected_batch_size`` is what the noisy sum is divided by (with Poisson
    sampling at rate q over N examples, q * N); it defaults to each batch's size. Under
    Poisson sampling a batch may be empty: the step then adds the noise alone (as the
    analysis assumes) and returns nan for the loss; give ``expected_batch_size`` then.
    """

    def __init__(self, model, lr: float, max_grad_norm: float, noise_multiplier: float,
                 expected_batch_size: float | None = None, seed: int | None = None):
        _dense_layers(model)
        if not lr > 0:
            raise ValueError(f"DPSGD: lr must be positive, got {lr!r}")
        self.model, self.lr = model, float(lr)
        self.max_grad_norm, self.noise_multiplier = float(max_grad_norm), float(noise_multiplier)
        self.expected_batch_size = expected_batch_size
        self.rng = np.random.default_rng(seed)
        self.steps = 0

    def step(self, x, y, loss_fn) -> float:
        """Chapter 17: one DP-SGD step on the batch ``(x, y)``; returns the batch's mean loss."""
        grads, losses = per_example_gradients(self.model, loss_fn, x, y)
        size = self.expected_batch_size or len(losses)
        update, _ = clip_and_noise(grads, self.max_grad_norm, self.noise_multiplier, size, rng=self.rng)
        for p, g in zip(self.model.parameters(), update):
            p.data -= self.lr * g
            p.grad = None
        self.steps += 1
        return float(np.mean(losses)) if len(losses) else math.nan   # an empty Poisson batch: noise only


def membership_advantage(member_losses, other_losses) -> float:
    """Chapter 17: the best advantage of a loss-threshold membership-inference attack.

    ``max over t of P(member loss <= t) - P(other loss <= t)``: guess "member" when the
    loss is at most ``t``; 0 when members and others look alike, 1 when every member is
    given away. The thresholds tried are the losses themselves and one below them all.
    """
    a, b = np.asarray(member_losses, dtype=np.float64).ravel(), np.asarray(other_losses, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("membership_advantage: needs non-empty, finite losses for members and others")
    thresholds = np.concatenate([[-np.inf], np.unique(np.concatenate([a, b]))])
    hit = np.searchsorted(np.sort(a), thresholds, side="right") / a.size
    false_alarm = np.searchsorted(np.sort(b), thresholds, side="right") / b.size
    return float(np.max(hit - false_alarm))


# ------------------------------------------------------------------ the accountant
def _log_add(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    hi, lo = max(a, b), min(a, b)
    return hi + math.log1p(math.exp(lo - hi))


def _log_erfc(x: float) -> float:
    """log(erfc(x)), accurate where erfc underflows (large x)."""
    if x < 25.0:
        return math.log(math.erfc(x)) if x > -25.0 else math.log(2.0)
    inv = 1.0 / (x * x)   # asymptotic series: erfc x ~ e^{-x^2} / (x sqrt(pi)) (1 - 1/2x^2 + 3/4x^4 - ...)
    series = 1 - 0.5 * inv + 0.75 * inv ** 2 - 1.875 * inv ** 3 + 6.5625 * inv ** 4
    return -x * x - math.log(x * math.sqrt(math.pi)) + math.log(series)


def _log_a_integer(q: float, sigma: float, alpha: int) -> float:
    """log E_{z~mu0}[(mu(z)/mu0(z))^alpha] by the binomial expansion (integer alpha)."""
    total = -math.inf
    for k in range(alpha + 1):
        term = (math.lgamma(alpha + 1) - math.lgamma(k + 1) - math.lgamma(alpha - k + 1)
                + k * math.log(q) + (alpha - k) * math.log1p(-q) + (k * k - k) / (2 * sigma ** 2))
        total = _log_add(total, term)
    return total


def _log_a_fractional(q: float, sigma: float, alpha: float) -> float:
    """The same for fractional alpha: the generalized binomial series on each side of z0.

    Below z0 (where q mu1 < (1 - q) mu0) the ratio is expanded in powers of q mu1/mu0,
    above it in powers of (1 - q) mu0/(q mu1); each term integrates to a Gaussian tail.
    """
    z0 = sigma ** 2 * math.log(1 / q - 1) + 0.5
    pos, neg = -math.inf, -math.inf   # the series alternate in sign past alpha: sum each sign apart
    i = 0
    log_binom = 0.0                   # log |binom(alpha, i)|
    sign = 1.0
    while True:
        j = alpha - i
        low = (log_binom + i * math.log(q) + j * math.log1p(-q) + (i * i - i) / (2 * sigma ** 2)
               + math.log(0.5) + _log_erfc((i - z0) / (math.sqrt(2) * sigma)))
        high = (log_binom + j * math.log(q) + i * math.log1p(-q) + (j * j - j) / (2 * sigma ** 2)
                + math.log(0.5) + _log_erfc((z0 - j) / (math.sqrt(2) * sigma)))
        term = _log_add(low, high)
        if sign > 0:
            pos = _log_add(pos, term)
        else:
            neg = _log_add(neg, term)
        if i > alpha and term < -30 + max(pos, neg if neg > -math.inf else pos):  # converged
            break
        if i > 10_000:
            raise ArithmeticError(f"rdp: the series for alpha={alpha} did not converge")
        # binom(alpha, i + 1) = binom(alpha, i) * (alpha - i) / (i + 1)
        ratio = (alpha - i) / (i + 1)
        if ratio == 0:
            break
        log_binom += math.log(abs(ratio))
        sign *= math.copysign(1.0, ratio)
        i += 1
    if neg == -math.inf:
        return pos
    return pos + math.log1p(-math.exp(neg - pos))


def rdp(noise_multiplier: float, sample_rate: float, steps: int, orders=DEFAULT_ORDERS) -> np.ndarray:
    """Chapter 17: the Renyi-DP of ``steps`` steps of the subsampled Gaussian mechanism, per order."""
    q, sigma = float(sample_rate), float(noise_multiplier)
    if not 0 <= q <= 1:
        raise ValueError(f"rdp: sample_rate must be in [0, 1], got {sample_rate!r}")
    if not sigma >= 0 or not math.isfinite(sigma):
        raise ValueError(f"rdp: noise_multiplier must be >= 0, got {noise_multiplier!r}")
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"rdp: steps must be a whole number >= 0, got {steps!r}")
    out = []
    for alpha in orders:
        if alpha <= 1:
            raise ValueError(f"rdp: orders must be > 1, got {alpha!r}")
        if q == 0:
            value = 0.0
        elif sigma == 0:
            value = math.inf
        elif q == 1:
            value = alpha / (2 * sigma ** 2)
        elif float(alpha).is_integer():
            value = _log_a_integer(q, sigma, int(alpha)) / (alpha - 1)
        else:
            value = _log_a_fractional(q, sigma, float(alpha)) / (alpha - 1)
        out.append(value * steps)
    return np.array(out)


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float,
            orders=DEFAULT_ORDERS) -> tuple:
    """Chapter 17: ``(epsilon, best_order)`` of DP-SGD run for ``steps`` steps at ``sample_rate``.

    ``epsilon = min over orders a of rdp_a - (log delta + log a) / (a - 1) + log((a - 1) / a)``
    (Balle et al. 2020, Theorem 21).
    """
    if not 0 < delta < 1:
        raise ValueError(f"epsilon: delta must be in (0, 1), got {delta!r}")
    a = np.asarray(orders, dtype=np.float64)
    values = rdp(noise_multiplier, sample_rate, steps, orders)
    with np.errstate(invalid="ignore"):
        eps = values - (math.log(delta) + np.log(a)) / (a - 1) + np.log((a - 1) / a)
    if np.isnan(eps).all():
        return math.inf, math.nan
    best = int(np.nanargmin(eps))
    return float(eps[best]), float(a[best])
