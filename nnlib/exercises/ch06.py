"""Chapter 06: the exercise checks of the models notebook (Dense, Sequential, counting, Glorot).

Each ``check_<exercise>(answer, ...)`` prints one verdict line and returns a
:class:`nnlib.checks.Verdict`; it never raises. When an answer is wrong in a way learners
often are (a forgotten bias, the sigmoid's sign ...), the line says so in words
(:func:`nnlib.checks.check_cases`).
"""

from __future__ import annotations

import numpy as np

from nnlib.checks import Verdict, check_cases, short_repr

__all__ = ["check_dense_forward", "check_sequential_forward", "check_count_dense_params",
           "check_glorot_limit"]


# ----------------------------------------------------------------- chapter 06
def _act(z, activation):
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return z


def _dense(x, kernel, bias, activation=None):
    return _act(x @ kernel + bias, activation)


def _f32(*values):
    return np.array(values, dtype=np.float32)


def _dense_cases():
    rng = np.random.default_rng(1)
    r = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    x1, k1, b1 = np.array([[1.0, 2.0]], np.float32), np.array([[1.0], [-1.0]], np.float32), _f32(0.5)
    # by hand: z = 1*1 + 2*(-1) + 0.5 = -0.5 ; relu(-0.5) = 0 ; x2 @ k2 + b2 = [0.5, 2.5]
    x2, k2, b2 = np.array([[1.0, 1.0]], np.float32), np.array([[1.0, 2.0], [-1.0, 0.0]], np.float32), _f32(0.5, 0.5)
    args = [(x1, k1, b1, None), (x1, k1, b1, "relu"), (x2, k2, b2, None), (x2, k2, _f32(0.0, 0.0), "sigmoid"),
            (r(5, 3), r(3, 4), r(4), "relu"), (r(6, 30), r(30, 2), r(2), "sigmoid")]
    return [(a, _nnlib_dense(*a)) for a in args]


def _nnlib_dense(x, kernel, bias, activation=None):
    """The expected output: nnlib.layers.Dense given the same weights."""
    from nnlib import Tensor
    from nnlib.layers import Dense
    layer = Dense(kernel.shape[1], activation=activation, input_shape=(kernel.shape[0],))
    layer.set_weights([kernel, bias])
    return layer(Tensor(x)).numpy()


def _nnlib_sequential(x, weights, activations):
    """The expected output: nnlib.models.Sequential given the same weights."""
    from nnlib.layers import Dense
    from nnlib.models import Sequential
    net = Sequential([Dense(k.shape[1], activation=a) for (k, _), a in zip(weights, activations)])
    net.build((None, x.shape[1]))
    net.set_weights([w for pair in weights for w in pair])
    return net.predict(x, verbose=0)


def _nnlib_counts(input_dim, units):
    """The expected counts: count_params() of nnlib Dense layers."""
    from nnlib.layers import Dense
    from nnlib.models import Sequential
    net = Sequential([Dense(u) for u in units])
    net.build((None, input_dim))
    return [layer.count_params() for layer in net.layers]


def check_dense_forward(dense_forward) -> Verdict:
    """Chapter 06: ``dense_forward(x, kernel, bias, activation)`` = activation(x @ kernel + bias)."""
    mistakes = [
        (lambda x, k, b, a=None: _act(x @ k, a), "the bias is missing: add `+ bias` to x @ kernel."),
        (lambda x, k, b, a=None: _act(x @ k, a) + b, "the bias is added after the activation; add it before."),
        (lambda x, k, b, a=None: x @ k + b, "the activation is not applied: pass z through relu or sigmoid as asked."),
        (lambda x, k, b, a=None: 1 / (1 + np.exp(x @ k + b)) if a == "sigmoid" else _dense(x, k, b, a),
         "sigmoid sign error: it is 1 / (1 + exp(-z))."),
        (lambda x, k, b, a=None: np.maximum(x @ k + b, 0.0) if a else x @ k + b,
         "every activation is computed as ReLU; \"sigmoid\" needs 1 / (1 + exp(-z))."),
    ]
    return check_cases("dense_forward", dense_forward, _dense_cases(), mistakes,
                       show=lambda args: f"activation={args[3]!r}, x {short_repr(args[0])}")


def _sequential(x, weights, activations):
    for (kernel, bias), activation in zip(weights, activations):
        x = _dense(x, kernel, bias, activation)
    return x


def check_sequential_forward(sequential_forward, model_weights=None) -> Verdict:
    """Chapter 06: ``sequential_forward(x, weights, activations)`` runs the (kernel, bias) layers in order.

    ``model_weights``: optionally ``(x, [(kernel, bias), ...], activations)`` of a real model.
    """
    rng = np.random.default_rng(2)
    r = lambda *shape: rng.normal(size=shape)  # noqa: E731
    one = [(np.array([[1.0], [1.0]]), np.array([0.5]))]
    # by hand, two layers: z1 = 1 - 2 + 0.5 = -0.5 -> relu 0 -> z2 = 0 * 2 + 1 = 1
    two = [(np.array([[1.0], [1.0]]), np.array([0.5])), (np.array([[2.0]]), np.array([1.0]))]
    x = np.array([[1.0, -2.0]])
    args = [(x, one, [None]), (x, one, ["relu"]), (x, two, ["relu", None]),
            (r(4, 3), [(r(3, 5), r(5)), (r(5, 2), r(2))], ["relu", None]),
            (r(7, 30), [(r(30, 8), r(8)), (r(8, 8), r(8)), (r(8, 1), r(1))], ["relu", "relu", "sigmoid"])]
    if model_weights is not None:
        args.append(tuple(model_weights))
    cases = [(a, _nnlib_sequential(*a)) for a in args]
    mistakes = [
        (lambda x, w, a: _sequential(x, w[:-1], a[:-1]) if len(w) > 1 else _sequential(x, w, a),
         "the last layer is skipped."),
        (lambda x, w, a: _sequential(x, w[:1], a[:1]), "only the first layer is applied."),
        (lambda x, w, a: _sequential(x, w, [None] * len(a)), "the activations are not applied."),
        (lambda x, w, a: _sequential(x, w, [a[-1]] * len(a)), "every layer uses the last layer's activation."),
        (lambda x, w, a: _sequential(x, w, [a[0]] * len(a)), "every layer uses the first layer's activation."),
        (lambda x, w, a: _sequential(x, w, a[::-1]), "the activations are applied in reverse order."),
    ]
    return check_cases("sequential_forward", sequential_forward, cases, mistakes,
                       show=lambda a: f"{len(a[1])} layer(s), activations {a[2]}")


def _counts(input_dim, units):
    counts = []
    for u in units:
        counts.append((input_dim + 1) * u)
        input_dim = u
    return counts


def check_count_dense_params(count_dense_params) -> Verdict:
    """Chapter 06: ``count_dense_params(input_dim, units)`` lists (d_in + 1) * d_out per layer."""
    args = [(2, [3]), (2, [3, 1]), (30, [64, 64, 1]), (64, [128, 128, 128, 10]), (784, [10])]
    cases = [(a, _nnlib_counts(*a)) for a in args]

    def no_chain(d, units):
        return [(d + 1) * u for u in units]

    mistakes = [
        (lambda d, units: [a - b for a, b in zip(_counts(d, units), units)],
         "the biases are not counted: a layer has (d_in + 1) * units parameters."),
        (no_chain, "every layer is counted from the model's input; a layer's input is the previous layer's units."),
        (lambda d, units: [d * (u + 1) for u in no_chain(1, units)], "fan-in and units are swapped."),
        (lambda d, units: sum(_counts(d, units)), "return one count per layer (a list), not the total."),
    ]
    return check_cases("count_dense_params", count_dense_params, cases, mistakes)


def check_glorot_limit(glorot_limit) -> Verdict:
    """Chapter 06: ``glorot_limit(fan_in, fan_out)`` = sqrt(6 / (fan_in + fan_out))."""
    # by hand: (3, 3) -> sqrt(6/6) = 1; (2, 1) -> sqrt(2); (256, 128) -> sqrt(6/384) = 0.125
    args = [(3, 3), (2, 1), (256, 128), (30, 64), (400, 200)]
    cases = [(a, float(np.sqrt(6.0 / (a[0] + a[1])))) for a in args]
    mistakes = [
        (lambda i, o: np.sqrt(2.0 / (i + o)), "that is Glorot's standard deviation sqrt(2/(in+out)); "
                                              "the uniform limit is sqrt(3) times it, sqrt(6/(in+out))."),
        (lambda i, o: np.sqrt(6.0 / i), "that is He's limit sqrt(6/fan_in); Glorot uses fan_in + fan_out."),
        (lambda i, o: 6.0 / (i + o), "the square root is missing: a = sqrt(6 / (fan_in + fan_out))."),
        (lambda i, o: np.sqrt(6.0) / (i + o), "the square root must cover the whole fraction 6 / (in + out)."),
        (lambda i, o: np.sqrt(1.0 / (i + o)), "the limit is sqrt(6 / (fan_in + fan_out))."),
    ]
    return check_cases("glorot_limit", glorot_limit, cases, mistakes, atol=1e-6)
