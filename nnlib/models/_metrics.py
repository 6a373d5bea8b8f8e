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


def _binary_accuracy(y, p):
    return np.mean(y == (p > 0.5), axis=-1)


def _categorical_accuracy(y, p):
    return (np.argmax(y, axis=-1) == np.argmax(p, axis=-1)).astype(np.float64)


def _sparse_categorical_accuracy(y, p):
    return (y.reshape(p.shape[:-1]) == np.argmax(p, axis=-1)).astype(np.float64)


def _mse(y, p):
    d = p - y
    return np.mean(d * d, axis=-1)


def _mae(y, p):
    return np.mean(np.abs(p - y), axis=-1)


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
    """Chapter 07: ``name`` plus a sum/count of per-sample values; ``result()`` is their mean."""

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


def make_metric(metric, output_shape: tuple, y: np.ndarray, loss_name: str | None) -> RunningMean:
    """Chapter 07: a fresh accumulator for ``metric``; 'accuracy' picks binary/sparse/categorical.

    'accuracy' is binary accuracy (threshold 0.5) for a one-unit output (or a
    binary cross-entropy loss), sparse categorical accuracy when the labels are
    class indices (one axis fewer than the output), categorical otherwise.
    """
    if callable(metric) and not isinstance(metric, str):
        return RunningMean(getattr(metric, "__name__", "metric"), metric)
    if metric in ("accuracy", "acc"):
        if output_shape[-1] == 1 or loss_name == "binary_crossentropy":
            fn = _binary_accuracy
        elif y.ndim == len(output_shape) - 1:
            fn = _sparse_categorical_accuracy
        else:
            fn = _categorical_accuracy
        return RunningMean(metric, fn)
    return RunningMean(metric, _FUNCTIONS[metric])
