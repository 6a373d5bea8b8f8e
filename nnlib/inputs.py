"""Chapters 05-07: turning what a learner passes in into arrays, with clear errors.

``fit``, ``evaluate``, ``predict``, the Keras-style losses and the data
helpers accept NumPy arrays, lists, nnlib Tensors and pandas
DataFrames/Series. The helpers here are the one place that recognises,
converts and checks them (a top-level module with no nnlib imports but the
Tensor, so that :mod:`nnlib.data`, :mod:`nnlib.layers` and
:mod:`nnlib.models` can all use it without import circles):

* :func:`is_pandas` - is this a pandas object (without importing pandas)?
* :func:`to_numeric_array` - any of the above as a numeric ndarray, or a
  ``ValueError`` naming the non-numeric columns / dtype;
* :func:`check_finite` - a ``ValueError`` naming how many values are NaN or
  infinite and the first row holding one;
* :func:`shape_text` - a shape as Keras prints it, ``(None, 30)``.
"""
from __future__ import annotations

import numpy as np

from .engine import Tensor

__all__ = ["is_pandas", "to_numeric_array", "check_finite", "shape_text"]


def is_pandas(obj) -> bool:
    """Chapter 05: True for a pandas DataFrame or Series (recognised without importing pandas)."""
    return hasattr(obj, "iloc") and type(obj).__module__.split(".")[0] == "pandas"


def shape_text(shape) -> str:
    """Chapter 07: a shape as Keras prints it: ``(None, 30)``, ``(5,)``."""
    return "(" + ", ".join("None" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def to_numeric_array(data, what: str, where: str) -> np.ndarray:
    """Chapter 07: x or y (ndarray, list, Tensor, pandas) as a numeric ndarray, or a ValueError saying why not.

    ``what`` names the argument ('x'), ``where`` the caller ('fit'); both go
    into the message.
    """
    if data is None:
        raise ValueError(f"{where}: {what} is missing")
    if isinstance(data, Tensor):
        return data.data
    if is_pandas(data):
        if hasattr(data, "dtypes") and hasattr(data.dtypes, "items"):  # a DataFrame
            bad = [str(c) for c, dt in data.dtypes.items() if dt.kind not in "biuf"]
            if bad:
                raise ValueError(
                    f"{where}: {what} has non-numeric columns {bad[:5]}; convert or drop them first "
                    "(e.g. data.drop(columns=[...]) or pd.get_dummies)"
                )
        elif getattr(data, "dtype", None) is not None and data.dtype.kind not in "biuf":
            raise ValueError(f"{where}: {what} has non-numeric values (dtype {data.dtype}); convert them to numbers")
        return data.to_numpy()
    arr = np.asarray(data)
    if arr.dtype.kind not in "biuf":
        raise ValueError(
            f"{where}: {what} must hold numbers, got an array of dtype {arr.dtype}"
            + (" (rows of different lengths?)" if arr.dtype == object else "")
        )
    return arr


def check_finite(arr: np.ndarray, what: str, where: str) -> None:
    """Chapter 07: a ValueError when a float array holds NaN or infinite values (how many, first row)."""
    if arr.dtype.kind != "f":
        return
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        row = int(np.argwhere(~finite)[0][0])
        raise ValueError(
            f"{where}: {what} contains {bad} NaN or infinite value{'s' if bad > 1 else ''} (the first in row "
            f"{row}); drop or fill them first, e.g. data = data.dropna()"
        )
