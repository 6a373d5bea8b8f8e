"""Chapter 06: the exercise checks of the models notebook (Dense, Sequential, counting, Glorot).

Each ``check_<exercise>(answer, ...)`` prints one verdict line and returns a
:class:`nnlib.checks.Verdict`; it never raises. When an answer is wrong in a way learners
often are (a forgotten bias, the sigmoid's sign ...), the line says so in words.

Also home of ``_check_cases``, the small diagnosing runner the chapter modules 06-11 share.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

from nnlib.checks import Verdict, check_function, check_value, short_repr

__all__ = ["check_dense_forward", "check_sequential_forward", "check_count_dense_params",
           "check_glorot_limit"]


# ------------------------------------------------------------------ shared runner
def _same(got, expected, atol=1e-6, rtol=1e-5) -> bool:
    """True when ``got`` matches ``expected`` as nnlib.checks compares them (shape, allclose, items)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return bool(check_value("_", got, expected, atol=atol, rtol=rtol))


def _fmt(value) -> str:
    """A value for a verdict: numbers with 6 significant digits, anything else as short_repr."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return f"{value:.6g}"
    if isinstance(value, tuple) and len(value) <= 4:
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return short_repr(value)


def _copy(args):
    try:
        return copy.deepcopy(args)
    except Exception:
        return args


def _dtype_of(value):
    return getattr(value, "dtype", None) if isinstance(value, np.ndarray) else None


def _first_difference(got, expected, labels, atol, rtol) -> str:
    """Where ``got`` first differs from ``expected``, with both values: "tpr at [1]: got 0, expected 0.5"."""
    if isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)) and len(got) == len(expected):
        for k, (g, e) in enumerate(zip(got, expected)):
            if not _same(g, e, atol, rtol):
                label = labels[k] if labels and k < len(labels) else f"item {k}"
                return f"{label}{_first_difference(g, e, None, atol, rtol)}"
        return ""
    g, e = np.asarray(got) if isinstance(got, np.ndarray) else got, expected
    if isinstance(g, np.ndarray) and isinstance(e, np.ndarray) and g.shape == e.shape and g.size > 1:
        with np.errstate(all="ignore"):
            bad = ~np.isclose(g, e, atol=atol, rtol=rtol, equal_nan=True)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            return f" at {list(index)}: got {_fmt(g[index])}, expected {_fmt(e[index])}"
    return f": got {_fmt(got)}, expected {_fmt(expected)}"


def _line(name, number, where, message, got, expected, labels, atol, rtol) -> str:
    """The ❌ line for a recognised mistake: the whole values if they fit, else the first difference."""
    for head in (f"❌ {name}: case {number} ({where}): {message}", f"❌ {name}: case {number}: {message}"):
        line = f"{head} Got {_fmt(got)}; expected {_fmt(expected)}."
        if len(line) <= MAX_LINE:
            return line
        detail = _first_difference(got, expected, labels, atol, rtol).strip()
        if detail.startswith("at "):
            detail = "First difference " + detail
        elif detail.startswith(":"):
            detail = "Got" + detail[1:]
        line = f"{head} {detail}." if detail else head
        if len(line) <= MAX_LINE:
            return line
    return line


#: A verdict line is kept to about this many characters.
MAX_LINE = 200


def _matches_everywhere(variant, cases, results, atol, rtol) -> bool:
    """Does the known wrong answer ``variant`` give the learner's result on every case?"""
    for (args, _), got in zip(cases, results):
        try:
            wrong = variant(*_copy(args))
        except Exception:
            return False
        if not _same(got, wrong, atol, rtol):
            return False
    return True


def _check_cases(name, fn, cases, mistakes=(), atol=1e-6, rtol=1e-5, dtype=False,
                 show=None, labels=None) -> Verdict:
    """Run ``fn`` on ``cases`` (a list of ``(args_tuple, expected)``); print one verdict line.

    On the first case that differs, each ``(variant, message)`` of ``mistakes`` is tried:
    ``variant(*args)`` computes what a known wrong answer returns, and if the learner's
    result equals it, the line names that mistake. ``dtype=True`` also requires the
    expected array dtype. ``show(args)`` describes a case's input (default: short reprs);
    ``labels`` names the items of a tuple result (("fpr", "tpr")) for the verdict.
    Anything else (not attempted, an exception, an unknown wrong value) gets the
    generic verdict of :func:`nnlib.checks.check_function`.
    """
    try:
        if callable(fn):
            results, first = [], None
            for number, (args, expected) in enumerate(cases, start=1):
                try:
                    got = fn(*_copy(args))
                except Exception:  # ⏳ or "raised ...": check_function words it
                    results = None
                    break
                results.append(got)
                if first is not None:
                    continue
                if not _same(got, expected, atol, rtol):
                    first = number
                elif dtype and _dtype_of(expected) is not None and _dtype_of(got) != _dtype_of(expected):
                    print(f"❌ {name}: case {number}: got dtype {_dtype_of(got)}; expected "
                          f"{_dtype_of(expected)} (convert with .astype(np.{_dtype_of(expected)})).")
                    return Verdict(False)
            if results is not None and first is not None:
                args, expected = cases[first - 1]
                got = results[first - 1]
                where = show(args) if show else ", ".join(short_repr(a) for a in args)
                for variant, message in mistakes:
                    if _matches_everywhere(variant, cases, results, atol, rtol):
                        print(_line(name, first, where, message, got, expected, labels, atol, rtol))
                        return Verdict(False)
        return check_function(name, fn, cases, atol=atol, rtol=rtol)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # never let a check cell crash the notebook
        print(f"❌ {name}: the check itself failed: {type(error).__name__}: {error}.")
        return Verdict(False)


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
    return _check_cases("dense_forward", dense_forward, _dense_cases(), mistakes,
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
    return _check_cases("sequential_forward", sequential_forward, cases, mistakes,
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
    return _check_cases("count_dense_params", count_dense_params, cases, mistakes)


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
    return _check_cases("glorot_limit", glorot_limit, cases, mistakes, atol=1e-6)
