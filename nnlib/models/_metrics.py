"""Chapter 07: the running metrics ``fit`` and ``evaluate`` report ('accuracy', 'mse', ...).

Each metric accumulates a sum and a count over batches, so an epoch's value is
the average over all samples (the last, smaller batch counts for what it
holds), as Keras reports it. They work on NumPy arrays: predictions are the
model's outputs (probabilities for sigmoid/softmax outputs).
"""
from __future__ import annotations

import difflib

import numpy as np

__all__ = ["METRIC_NAMES", "check_metric", "make_metric", "RunningMean"]


# Each built-in metric returns (sum of the per-sample values, number of samples) for one batch,
# straight from counts: an epoch's value is then total / count, the mean over every sample
# seen. A "sample" is a row (or a position of a sequence), and a row's value is the mean over
# its last axis, as in Keras; summing those means is summing all values / the last axis' size.
def _per_row(values: np.ndarray, total) -> tuple:
    width = values.shape[-1] if values.ndim > 1 else 1
    return total / width, values.size // width


def _binary_accuracy(y, p):
    hits = y == (p > 0.5)
    return _per_row(hits, np.count_nonzero(hits))


def _categorical_accuracy(y, p):
    hits = np.argmax(y, axis=-1) == np.argmax(p, axis=-1)
    return np.count_nonzero(hits), hits.size


def _sparse_categorical_accuracy(y, p):
    hits = y.reshape(p.shape[:-1]) == np.argmax(p, axis=-1)
    return np.count_nonzero(hits), hits.size


def _mse(y, p):
    d = p - y
    return _per_row(d, float(np.sum(d * d, dtype=np.float64)))


def _mae(y, p):
    d = np.abs(p - y)
    return _per_row(d, float(np.sum(d, dtype=np.float64)))


_FUNCTIONS = {
    "binary_accuracy": _binary_accuracy,
    "categorical_accuracy": _categorical_accuracy,
    "sparse_categorical_accuracy": _sparse_categorical_accuracy,
    "mse": _mse,
    "mean_squared_error": _mse,
    "mae": _mae,
    "mean_absolute_error": _mae,
}

#: metric names ``compile`` accepts
METRIC_NAMES = sorted(set(_FUNCTIONS) | {"accuracy", "acc"})


def check_metric(metric) -> None:
    """Chapter 07: raise a clear error for an unknown metric name or a non-callable."""
    if isinstance(metric, str):
        if metric not in METRIC_NAMES:
            close = difflib.get_close_matches(metric.lower(), METRIC_NAMES, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown metric {metric!r}{hint}; valid names are {METRIC_NAMES}, or pass a function "
                             "metric(y_true, y_pred)")
    elif not callable(metric):
        raise TypeError(f"a metric must be a name from {METRIC_NAMES} or a function, got {metric!r}")


class RunningMean:
    """Chapter 07: ``name`` plus a sum/count of per-sample values; ``result()`` is their mean.

    ``fn(y_true, y_pred)`` returns one value per sample (or the batch mean, which then
    counts once per sample), like a Keras metric function.
    """

    def __init__(self, name: str, fn):
        self.name = name
        self.fn = fn
        self.reset()

    def reset(self) -> None:
        """Chapter 07: forget the values seen so far."""
        self.total = 0.0
        self.count = 0

    def update(self, y, p) -> None:
        """Chapter 07: add one batch's labels ``y`` and predictions ``p``."""
        values = np.asarray(self.fn(y, p), dtype=np.float64)
        if values.ndim == 0:  # a custom metric that returns the batch mean
            self.total += float(values) * len(p)
            self.count += len(p)
        else:
            self.total += float(values.sum())
            self.count += values.size

    def result(self) -> float:
        """Chapter 07: the mean over every sample seen."""
        return self.total / self.count if self.count else float("nan")


class _BuiltinMean(RunningMean):
    """A built-in metric: ``fn`` already returns the batch's (sum, count), without per-sample arrays."""

    def update(self, y, p) -> None:
        total, count = self.fn(y, p)
        self.total += float(total)
        self.count += int(count)


def make_metric(metric, output_shape: tuple, y: np.ndarray, loss_name: str | None) -> RunningMean:
    """Chapter 07: a fresh accumulator for ``metric``; 'accuracy' picks binary/sparse/categorical.

    'accuracy' is binary accuracy (threshold 0.5) for a one-unit output (or a
    binary cross-entropy loss), sparse categorical accuracy when the labels are
    class indices (one axis fewer than the output, or a last axis of 1, as
    Keras decides), categorical otherwise.
    """
    if callable(metric) and not isinstance(metric, str):
        return RunningMean(getattr(metric, "__name__", "metric"), metric)
    if metric in ("accuracy", "acc"):
        if output_shape[-1] == 1 or loss_name == "binary_crossentropy":
            fn = _binary_accuracy
        elif y.ndim == len(output_shape) - 1 or (y.ndim and y.shape[-1] == 1):  # class indices, (N,) or (N, 1)
            fn = _sparse_categorical_accuracy
        else:
            fn = _categorical_accuracy
        return _BuiltinMean(metric, fn)
    return _BuiltinMean(metric, _FUNCTIONS[metric])
