"""Chapter 05: preparing data -- split, standardize, batch and shuffle (数据准备).

Three tools take a table from a CSV file to the mini-batches a training loop
eats:

* :func:`train_test_split` holds out a test set. It gives *the same rows* as
  scikit-learn's function of the same name for the same arguments
  (``random_state`` included), so results in the course can be checked against
  scikit-learn, and code written for one runs with the other.
* :class:`StandardScaler` and :class:`MinMaxScaler` learn per-column
  statistics on the training set (``fit``) and apply them to any set
  (``transform``), with scikit-learn's attributes (``mean_``, ``scale_``,
  ``var_``, ``data_min_`` ...) and scikit-learn's numbers.
* :class:`DataLoader` cuts arrays into mini-batches, reshuffled every epoch
  from one seeded generator.

Only NumPy is needed; pandas DataFrames and Series are accepted where noted
(pandas is never imported here, objects are recognised by their methods).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "train_test_split",
    "StandardScaler",
    "MinMaxScaler",
    "DataLoader",
    "NotFittedError",
]


class NotFittedError(ValueError, AttributeError):
    """Chapter 05: raised when a scaler is used before ``fit`` (as in scikit-learn)."""


# ----------------------------------------------------------------------------
# helpers for "array-like" inputs
# ----------------------------------------------------------------------------

from .inputs import is_pandas as _is_pandas  # noqa: E402  (one definition for all of nnlib)


def _n_rows(obj, where: str) -> int:
    """Number of samples (rows) of one input of ``where``."""
    if _is_pandas(obj) or isinstance(obj, (list, tuple)):
        return len(obj)
    shape = getattr(obj, "shape", None)
    if shape is None:
        raise TypeError(
            f"{where}: expected an array, a list or a pandas object, got {type(obj).__name__}"
        )
    if len(shape) == 0:
        raise ValueError(f"{where}: got a 0-d array (a single number); expected rows of data")
    return int(shape[0])


def _take_rows(obj, idx: np.ndarray):
    """Rows ``idx`` of ``obj``, returned as the same kind of object."""
    if _is_pandas(obj):
        return obj.iloc[idx]
    if isinstance(obj, (list, tuple)):
        return [obj[i] for i in idx.tolist()]
    if isinstance(obj, np.ndarray):
        return obj[idx]
    if hasattr(obj, "numpy") and callable(obj.numpy):  # nnlib / torch tensors
        return np.asarray(obj.numpy())[idx]
    return np.asarray(obj)[idx]


def _check_random_state(random_state, where: str):
    """The generator scikit-learn uses: None -> NumPy's global one, int -> RandomState."""
    if random_state is None or random_state is np.random:
        return np.random  # module functions draw from the global RandomState
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    if isinstance(random_state, np.random.RandomState):
        return random_state
    raise ValueError(
        f"{where}: random_state={random_state!r} must be None, an int or a "
        "np.random.RandomState (a np.random.Generator cannot reproduce scikit-learn's split)"
    )


def _size_kind(value) -> str:
    """'i' for an integer, 'f' for a float, 'n' for None, 'x' for anything else."""
    if value is None:
        return "n"
    if isinstance(value, (bool, np.bool_)):
        return "x"
    if isinstance(value, numbers.Integral):
        return "i"
    if isinstance(value, numbers.Real):
        return "f"
    return "x"


def _split_sizes(n_samples: int, test_size, train_size, default_test_size: float):
    """Numbers of training and test rows, following scikit-learn's rules exactly."""
    if test_size is None and train_size is None:
        test_size = default_test_size
    kinds = {"test_size": _size_kind(test_size), "train_size": _size_kind(train_size)}
    values = {"test_size": test_size, "train_size": train_size}
    for name in ("test_size", "train_size"):
        kind, value = kinds[name], values[name]
        if kind == "x":
            raise ValueError(
                f"train_test_split: {name}={value!r} is not valid; use a float in (0, 1) "
                f"(a fraction of the rows), an int (a number of rows) or None"
            )
        if (kind == "i" and not 0 < value < n_samples) or (kind == "f" and not 0 < value < 1):
            raise ValueError(
                f"train_test_split: {name}={value!r} should be either a float in the "
                f"(0, 1) range or an int between 1 and n_samples - 1 = {n_samples - 1} "
                f"(the inputs have {n_samples} rows)"
            )
    if kinds["test_size"] == "f" and kinds["train_size"] == "f" and test_size + train_size > 1:
        raise ValueError(
            f"train_test_split: test_size + train_size = {test_size + train_size} is more "
            "than 1; reduce one of them"
        )

    n_test = n_train = None
    if kinds["test_size"] == "f":
        n_test = math.ceil(test_size * n_samples)
    elif kinds["test_size"] == "i":
        n_test = int(test_size)
    if kinds["train_size"] == "f":
        n_train = math.floor(train_size * n_samples)
    elif kinds["train_size"] == "i":
        n_train = int(train_size)
    if n_train is None:
        n_train = n_samples - n_test
    elif n_test is None:
        n_test = n_samples - n_train

    if n_train + n_test > n_samples:
        raise ValueError(
            f"train_test_split: {n_train} training rows + {n_test} test rows = "
            f"{n_train + n_test} is more than the {n_samples} rows available; "
            "reduce test_size and/or train_size"
        )
    if n_train == 0:
        raise ValueError(
            f"train_test_split: with {n_samples} rows, test_size={test_size!r} and "
            f"train_size={train_size!r} the training set would be empty"
        )
    return int(n_train), int(n_test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng) -> np.ndarray:
    """How many rows to draw from each class so that the draw mirrors the class mix.

    Each class first gets the whole part of its share ``count / total * n_draws``;
    the rows still missing go to the classes with the largest fractional parts,
    ties broken at random with ``rng`` (the same rule, and the same random
    draws, as scikit-learn's stratified splitter).
    """
    share = class_counts / class_counts.sum() * n_draws
    taken = np.floor(share)
    missing = int(n_draws - taken.sum())
    if missing > 0:
        fraction = share - taken
        for value in np.sort(np.unique(fraction))[::-1]:
            candidates = np.flatnonzero(fraction == value)
            n_now = min(len(candidates), missing)
            chosen = rng.choice(candidates, size=n_now, replace=False)
            taken[chosen] += 1
            missing -= n_now
            if missing == 0:
                break
    return taken.astype(int)


def _stratified_indices(y, n_train: int, n_test: int, rng):
    """Training and test row indices that keep the class proportions of ``y``."""
    y = np.asarray(y.to_numpy() if _is_pandas(y) else y)
    if y.ndim == 2:  # several label columns: each distinct row is one stratum
        y = np.array([" ".join(row.astype(str)) for row in y])
    elif y.ndim != 1:
        raise ValueError(f"train_test_split: stratify must be 1-D or 2-D, got shape {y.shape}")
    classes, y_index, counts = np.unique(y, return_inverse=True, return_counts=True)
    y_index = y_index.reshape(-1)
    if counts.min() < 2:
        rare = classes[counts < 2].tolist()
        raise ValueError(
            "train_test_split: every class in stratify needs at least 2 rows "
            f"(one for each side of the split); these classes have only 1: {rare}"
        )
    if n_train < len(classes):
        raise ValueError(
            f"train_test_split: the training set ({n_train} rows) must have at least one row "
            f"per class, but there are {len(classes)} classes"
        )
    if n_test < len(classes):
        raise ValueError(
            f"train_test_split: the test set ({n_test} rows) must have at least one row "
            f"per class, but there are {len(classes)} classes; increase test_size"
        )
    # rows of each class, in their original order
    rows_by_class = np.split(np.argsort(y_index, kind="stable"), np.cumsum(counts)[:-1])
    n_train_per_class = _approximate_mode(counts, n_train, rng)
    n_test_per_class = _approximate_mode(counts - n_train_per_class, n_test, rng)
    train_parts, test_parts = [], []
    for rows, count, a, b in zip(rows_by_class, counts, n_train_per_class, n_test_per_class):
        shuffled = rows[rng.permutation(count)]
        train_parts.append(shuffled[:a])
        test_parts.append(shuffled[a:a + b])
    train = rng.permutation(np.concatenate(train_parts))
    test = rng.permutation(np.concatenate(test_parts))
    return train, test


def train_test_split(*arrays, test_size=None, train_size=None, random_state=None,
                     shuffle=True, stratify=None):
    """Chapter 05: split arrays into random training and test parts (训练集/测试集).

    Same arguments, same rules and *the same rows* as
    ``sklearn.model_selection.train_test_split``:

    * ``test_size``: a float in (0, 1) is a fraction of the rows (rounded up),
      an int is a number of rows; ``train_size`` likewise (a fraction is
      rounded down). With neither given, a quarter of the rows is held out.
    * ``random_state``: an int makes the split reproducible; None draws from
      NumPy's global generator (``np.random.seed``).
    * ``shuffle=False`` takes the first rows for training and the next ones
      for testing.
    * ``stratify=y`` keeps the class proportions of ``y`` in both parts.

    Inputs may be NumPy arrays, lists or pandas DataFrames/Series, all with the
    same number of rows; each comes back as the same kind of object. Returns
    a list ``[a_train, a_test, b_train, b_test, ...]``::

        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2,
                                                            random_state=42)
    """
    if not arrays:
        raise ValueError("train_test_split: give at least one array to split")
    lengths = [_n_rows(a, f"train_test_split (input {i})") for i, a in enumerate(arrays)]
    if len(set(lengths)) > 1:
        raise ValueError(
            "train_test_split: all inputs must have the same number of rows, got "
            f"lengths {lengths}"
        )
    n_samples = lengths[0]
    if n_samples == 0:
        raise ValueError("train_test_split: the inputs are empty (0 rows)")
    n_train, n_test = _split_sizes(n_samples, test_size, train_size, default_test_size=0.25)

    if not shuffle:
        if stratify is not None:
            raise ValueError(
                "train_test_split: stratify needs shuffle=True (a stratified split is random)"
            )
        train = np.arange(n_train)
        test = np.arange(n_train, n_train + n_test)
    else:
        rng = _check_random_state(random_state, "train_test_split")
        if stratify is not None:
            n_strat = _n_rows(stratify, "train_test_split (stratify)")
            if n_strat != n_samples:
                raise ValueError(
                    f"train_test_split: stratify has {n_strat} rows but the inputs have "
                    f"{n_samples}"
                )
            train, test = _stratified_indices(stratify, n_train, n_test, rng)
        else:
            order = rng.permutation(n_samples)
            test = order[:n_test]
            train = order[n_test:n_test + n_train]

    out = []
    for a in arrays:
        out.append(_take_rows(a, train))
        out.append(_take_rows(a, test))
    return out


# ----------------------------------------------------------------------------
# scalers
# ----------------------------------------------------------------------------

def _as_2d_float(X, who: str, what: str = "X"):
    """Validate a feature table; return (float ndarray, column names or None)."""
    names = None
    if _is_pandas(X):
        if X.ndim == 1:
            raise ValueError(
                f"{who}: expected a 2-D table (rows x features), got a pandas Series; "
                "use df[[column]] (a one-column DataFrame) or series.to_frame()"
            )
        columns = list(X.columns)
        if all(isinstance(c, str) for c in columns):
            names = np.asarray(columns, dtype=object)
        kinds = [np.dtype(dt).kind if isinstance(dt, np.dtype) else "O" for dt in X.dtypes]
        bad = [str(c) for c, k in zip(columns, kinds) if k not in "biuf"]
        if bad:
            try:
                arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{who}: {what} has non-numeric columns {bad}; drop them or encode "
                    "them as numbers first"
                ) from None
        else:
            arr = X.to_numpy()
    else:
        if hasattr(X, "numpy") and callable(X.numpy) and not isinstance(X, np.ndarray):
            X = X.numpy()
        arr = np.asarray(X)
    if arr.dtype.kind in "USO":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{who}: {what} contains values that are not numbers (dtype {arr.dtype}); "
                "convert or drop those columns first"
            ) from None
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        hint = ""
        if arr.ndim == 1:
            hint = (" Reshape it with X.reshape(-1, 1) if it is one feature, or "
                    "X.reshape(1, -1) if it is one sample.")
        raise ValueError(
            f"{who}: expected a 2-D array (rows x features), got {arr.ndim}-D with shape "
            f"{arr.shape}.{hint}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{who}: {what} has 0 rows; at least one row is needed")
    if arr.shape[1] == 0:
        raise ValueError(f"{who}: {what} has 0 columns; at least one feature is needed")
    finite = np.isfinite(arr)
    if not finite.all():
        bad_rows, bad_cols = np.nonzero(~finite)
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(bad_rows.size - n_nan)
        col = int(bad_cols[0])
        col_name = f" ({names[col]!r})" if names is not None else ""
        raise ValueError(
            f"{who}: {what} contains {n_nan} NaN and {n_inf} infinite values (first at row "
            f"{int(bad_rows[0])}, column {col}{col_name}). Drop or fill the missing values "
            "first, e.g. df.dropna() or df.fillna(...)"
        )
    return arr, names


class _Scaler:
    """Shared fitting bookkeeping of the two scalers (Chapter 05)."""

    _fitted_attr = "n_samples_seen_"

    def _check_fitted(self, method: str):
        if not hasattr(self, self._fitted_attr):
            name = type(self).__name__
            raise NotFittedError(
                f"This {name} is not fitted yet: call fit(X_train) (or fit_transform) "
                f"before {method}()."
            )

    def _validate(self, X, method: str, reset: bool):
        who = f"{type(self).__name__}.{method}"
        arr, names = _as_2d_float(X, who)
        if reset:
            self.n_features_in_ = arr.shape[1]
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return arr
        expected = self.n_features_in_
        if arr.shape[1] != expected:
            raise ValueError(
                f"{who}: X has {arr.shape[1]} features, but {type(self).__name__} was fitted "
                f"with {expected} features"
            )
        fitted_names = getattr(self, "feature_names_in_", None)
        if (names is not None and fitted_names is not None
                and not np.array_equal(names, fitted_names)):
            raise ValueError(
                f"{who}: the DataFrame's columns {list(names)} differ from the columns seen "
                f"in fit {list(fitted_names)} (same names in the same order are expected)"
            )
        return arr

    def fit(self, X, y=None):
        """Chapter 05: learn the per-column statistics of X, forgetting any earlier fit (``y`` is ignored)."""
        self._reset()
        return self.partial_fit(X)

    def fit_transform(self, X, y=None):
        """Chapter 05: ``fit(X)`` then ``transform(X)`` in one call (``y`` is ignored)."""
        return self.fit(X).transform(X)

    def _rows(self, X):
        """(validated X, True if this is the first batch of rows) for ``fit``/``partial_fit``."""
        first = not hasattr(self, self._fitted_attr)
        return self._validate(X, "fit" if first else "partial_fit", reset=first), first

    def _output(self, X, method: str) -> np.ndarray:
        """A float copy of X to transform in place, after checking the scaler is fitted and X fits it."""
        self._check_fitted(method)
        return np.array(self._validate(X, method, reset=False), copy=True)

    def _reset(self):
        for attr in list(vars(self)):
            if attr.endswith("_") and not attr.startswith("_"):
                delattr(self, attr)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._non_default_params().items())
        return f"{type(self).__name__}({args})"


class StandardScaler(_Scaler):
    """Chapter 05: standardize features, z = (x - mean) / std (标准化).

    ``fit`` learns per column ``mean_``, ``var_`` (population variance) and
    ``scale_`` (the standard deviation; 1 for a column that is constant, so it
    is only centred), plus ``n_samples_seen_`` and ``n_features_in_``
    (``feature_names_in_`` for a DataFrame). The statistics are accumulated in
    float64 and equal scikit-learn's ``StandardScaler``; ``transform`` keeps the
    input's dtype for float32 and float64 input (other input becomes float64)
    and returns an ndarray also for a DataFrame. ``with_mean=False`` skips the
    centring, ``with_std=False`` the scaling. NaN or infinite values raise an
    error: drop or fill them first. ``partial_fit`` updates the statistics with
    another chunk of rows.

    Fit on the training set only, then transform every set with it::

        scaler = StandardScaler()
        X_train = scaler.fit_transform(X_train)
        X_test = scaler.transform(X_test)
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean = with_mean
        self.with_std = with_std

    def _non_default_params(self):
        params = {}
        if not self.with_mean:
            params["with_mean"] = False
        if not self.with_std:
            params["with_std"] = False
        return params

    def partial_fit(self, X, y=None):
        """Chapter 05: update the statistics with more rows (the first call starts them)."""
        X, first = self._rows(X)
        n_new = X.shape[0]
        if not self.with_mean and not self.with_std:
            self.mean_ = None
            self.var_ = None
            self.scale_ = None
            self.n_samples_seen_ = (0 if first else self.n_samples_seen_) + n_new
            return self

        # the corrected two-pass algorithm, with float64 accumulators
        new_sum = X.sum(axis=0, dtype=np.float64)
        new_mean = new_sum / n_new
        centred = X - new_mean
        correction = centred.sum(axis=0)
        new_m2 = (centred * centred).sum(axis=0) - correction * correction / n_new
        if first:
            n_total = n_new
            mean = new_mean
            m2 = new_m2
        else:
            n_old = self.n_samples_seen_
            n_total = n_old + n_new
            old_mean = np.asarray(self.mean_, dtype=np.float64)
            mean = (old_mean * n_old + new_sum) / n_total
            if self.with_std:
                old_m2 = self.var_ * n_old
                delta = old_mean - new_mean
                m2 = old_m2 + new_m2 + delta * delta * (n_old * n_new / n_total)
        self.n_samples_seen_ = int(n_total)
        self.mean_ = mean
        if self.with_std:
            self.var_ = m2 / n_total
            # a column whose variance is within rounding error of zero is constant:
            # scale 1 (it is only centred), the rule scikit-learn uses
            eps = float(np.finfo(np.float64).eps)
            spread = n_total * mean * eps
            bound = n_total * eps * self.var_ + spread * spread
            constant = self.var_ <= bound
            scale = np.sqrt(self.var_)
            scale[constant] = 1.0
            self.scale_ = scale
        else:
            self.var_ = None
            self.scale_ = None
        return self

    def transform(self, X):
        """Chapter 05: standardize X with the statistics learned in ``fit``."""
        out = self._output(X, "transform")
        if self.with_mean:
            out -= self.mean_.astype(out.dtype)
        if self.with_std:
            out /= self.scale_.astype(out.dtype)
        return out

    def inverse_transform(self, X):
        """Chapter 05: undo ``transform``: x = z * scale_ + mean_."""
        out = self._output(X, "inverse_transform")
        if self.with_std:
            out *= self.scale_.astype(out.dtype)
        if self.with_mean:
            out += self.mean_.astype(out.dtype)
        return out


class MinMaxScaler(_Scaler):
    """Chapter 05: rescale each feature linearly into ``feature_range`` (归一化).

    ``fit`` learns ``data_min_``, ``data_max_``, ``data_range_`` and the affine
    map ``x * scale_ + min_`` that sends the training minimum to
    ``feature_range[0]`` and the maximum to ``feature_range[1]`` (a constant
    column gets scale 1), as scikit-learn's ``MinMaxScaler`` does. Values
    outside the training range land outside ``feature_range`` unless
    ``clip=True``. Statistics keep the input's float dtype.

        scaler = MinMaxScaler(feature_range=(-1, 1))
        X01 = scaler.fit_transform(X_train)
    """

    def __init__(self, feature_range=(0, 1), clip: bool = False):
        self.feature_range = feature_range
        self.clip = clip

    def _non_default_params(self):
        params = {}
        if tuple(self.feature_range) != (0, 1):
            params["feature_range"] = self.feature_range
        if self.clip:
            params["clip"] = True
        return params

    def partial_fit(self, X, y=None):
        """Chapter 05: widen the learned minimum and maximum with more rows."""
        try:
            low, high = self.feature_range
        except (TypeError, ValueError):
            raise ValueError(
                f"MinMaxScaler: feature_range must be a pair (min, max), got {self.feature_range!r}"
            ) from None
        if not low < high:
            raise ValueError(
                "MinMaxScaler: feature_range min must be smaller than max, got "
                f"{self.feature_range!r}"
            )
        X, first = self._rows(X)
        low = np.asarray(low, dtype=X.dtype)
        high = np.asarray(high, dtype=X.dtype)
        data_min = X.min(axis=0)
        data_max = X.max(axis=0)
        if first:
            self.n_samples_seen_ = X.shape[0]
        else:
            data_min = np.minimum(self.data_min_, data_min)
            data_max = np.maximum(self.data_max_, data_max)
            self.n_samples_seen_ += X.shape[0]
        data_range = data_max - data_min
        safe_range = data_range.copy()
        safe_range[safe_range < 10 * np.finfo(safe_range.dtype).eps] = 1.0
        self.scale_ = (high - low) / safe_range
        self.min_ = low - data_min * self.scale_
        self.data_min_ = data_min
        self.data_max_ = data_max
        self.data_range_ = data_range
        return self

    def transform(self, X):
        """Chapter 05: map X into ``feature_range`` with the learned min and max."""
        out = self._output(X, "transform")
        out *= self.scale_
        out += self.min_
        if self.clip:
            low, high = self.feature_range
            np.clip(out, low, high, out=out)
        return out

    def inverse_transform(self, X):
        """Chapter 05: undo ``transform``: x = (z - min_) / scale_."""
        out = self._output(X, "inverse_transform")
        out -= self.min_
        out /= self.scale_
        return out


# ----------------------------------------------------------------------------
# mini-batches
# ----------------------------------------------------------------------------

def _as_array(obj, where: str) -> np.ndarray:
    """An ndarray view of an array-like (pandas, list, nnlib/torch tensor, ndarray)."""
    if _is_pandas(obj):
        arr = obj.to_numpy()
    elif isinstance(obj, np.ndarray):
        arr = obj
    elif hasattr(obj, "numpy") and callable(obj.numpy):
        arr = np.asarray(obj.numpy())
    else:
        arr = np.asarray(obj)
    if arr.ndim == 0:
        raise ValueError(f"{where}: got a single number; expected an array with one row per sample")
    return arr


class DataLoader:
    """Chapter 05: iterate over arrays in mini-batches (小批量), optionally shuffled.

    ``DataLoader(X, y, batch_size=32, shuffle=True, seed=0)`` yields tuples
    ``(X_batch, y_batch)`` (a single array when one array is given), cutting
    all arrays at the same rows. ``len(loader)`` is the number of batches per
    epoch: ``ceil(n / batch_size)``, or ``n // batch_size`` with
    ``drop_last=True`` (which drops the final short batch). With
    ``shuffle=True`` every pass (epoch) uses a new permutation drawn from one
    ``np.random.default_rng(seed)``, so a seeded loader gives the same sequence
    of epochs on every run (``seed`` may also be a ``np.random.Generator``,
    which is then drawn from directly: ``Model.fit`` passes nnlib's).

        loader = DataLoader(X_train, y_train, batch_size=64, shuffle=True, seed=0)
        for epoch in range(3):
            for xb, yb in loader:
                ...

    torch's name, torch's defaults (``batch_size=1``, ``shuffle=False``, ``drop_last=False``);
    the arrays stand where torch takes ``TensorDataset(X, y)``, so the options are
    keyword-only: ``DataLoader(X, 32)`` is refused rather than read as a second array.
    """

    def __init__(self, *arrays, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed=None):
        if not arrays:
            raise ValueError("DataLoader: give at least one array, e.g. DataLoader(X, y)")
        if len(arrays) > 1 and isinstance(arrays[-1], numbers.Integral) and not isinstance(arrays[-1], bool):
            raise TypeError(f"DataLoader: batch_size is a keyword argument: DataLoader(X, y, "
                            f"batch_size={arrays[-1]}) (got the number {arrays[-1]} as an array)")
        if (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
                or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.arrays = tuple(_as_array(a, f"DataLoader (array {i})") for i, a in enumerate(arrays))
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) > 1:
            shapes = [a.shape for a in self.arrays]
            raise ValueError(
                f"DataLoader: all arrays must have the same number of rows, got shapes {shapes}"
            )
        self.n_samples = lengths[0]
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        if self.drop_last:
            return self.n_samples // self.batch_size
        return -(-self.n_samples // self.batch_size)

    def __iter__(self):
        n, bs = self.n_samples, self.batch_size
        stop = len(self) * bs
        order = self._rng.permutation(n) if self.shuffle else None
        single = len(self.arrays) == 1
        for start in range(0, stop, bs):
            if order is None:
                rows = slice(start, min(start + bs, n))
            else:
                rows = order[start:start + bs]
            batch = tuple(a[rows] for a in self.arrays)
            yield batch[0] if single else batch

    def __repr__(self) -> str:
        return (f"DataLoader(n_samples={self.n_samples}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed!r})")
