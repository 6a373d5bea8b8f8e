"""Chapter 07: the Keras-style training API: ``compile``, ``fit``, ``evaluate``, ``predict``.

:class:`Model` adds it to any :class:`~nnlib.module.Module` whose
``forward(x)`` maps a batch to outputs; :class:`~nnlib.models.Sequential` is
the model the seed book uses. What ``fit`` does per batch is the loop of
chapter 07 written once::

    out = model(x_batch)                      # forward (training mode)
    loss = loss_fn(y_batch, out) + penalties  # L2 etc. (chapter 09)
    loss.backward()                           # gradients
    optimizer.step(); zero the gradients      # update

Conventions (Keras' where Keras has one):

* ``compile(optimizer='adam')``: optimizers named by a string get **Keras'**
  defaults (Adam lr=0.001, epsilon=1e-7; SGD lr=0.01; RMSprop lr=0.001,
  rho=0.9, epsilon=1e-7; AdamW lr=0.001, epsilon=1e-7, weight_decay=0.004).
  Optimizer *classes* from :mod:`nnlib.optim` keep **PyTorch's** defaults and
  update formulas (e.g. Adam's epsilon is added outside the bias correction).
* ``compile`` decides which weights train: a layer with ``trainable = False``
  is frozen at the next ``compile``, as in Keras.
* ``validation_split`` takes the LAST fraction of the rows, before shuffling.
* The epoch's ``loss`` is the sample-weighted mean of the batch losses seen
  during the epoch (weights changing along the way); ``val_*`` values use the
  end-of-epoch weights. Regularization penalties are included in both.
* Sigmoid/softmax outputs with the matching cross-entropy are trained from
  the logits (fused, stable), see :mod:`nnlib.keras_losses`.
* A NaN or infinite loss stops training with :class:`TrainingError` (which
  says at which epoch and batch) before that batch's update is applied;
  ``callbacks=[TerminateOnNaN()]`` stops quietly instead.
"""
from __future__ import annotations

import difflib
import math

import numpy as np

from .. import keras_losses
from .. import optim
from ..callbacks import CallbackList, History
from ..module import Module
from ..progress import ProgressBar, resolve_verbose
from ..random import get_rng
from ..tensor import Tensor, no_grad
from . import _metrics

__all__ = ["Model", "TrainingError", "KERAS_OPTIMIZER_DEFAULTS", "get_optimizer"]

#: hyperparameters used when an optimizer is given by name (Keras' defaults, torch's parameter names)
KERAS_OPTIMIZER_DEFAULTS = {
    "adam": {"lr": 0.001, "eps": 1e-7},
    "sgd": {"lr": 0.01},
    "rmsprop": {"lr": 0.001, "alpha": 0.9, "eps": 1e-7},
    "adamw": {"lr": 0.001, "eps": 1e-7, "weight_decay": 0.004},
}


class TrainingError(FloatingPointError):
    """Chapter 07: training cannot go on (e.g. the loss became NaN); the message says where and why."""


def get_optimizer(identifier):
    """Chapter 07: an optimizer from a Keras name (Keras' defaults), an nnlib.optim class, or an instance."""
    if isinstance(identifier, str):
        key = identifier.lower().replace("-", "").replace("_", "")
        if key not in KERAS_OPTIMIZER_DEFAULTS:
            close = difflib.get_close_matches(key, list(KERAS_OPTIMIZER_DEFAULTS), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown optimizer {identifier!r}{hint}; valid names are {sorted(KERAS_OPTIMIZER_DEFAULTS)}, "
                "or pass an optimizer object such as nnlib.optim.Adam(lr=0.01)"
            )
        return optim.get(key, None, **KERAS_OPTIMIZER_DEFAULTS[key])
    if isinstance(identifier, optim.Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, optim.Optimizer):
        return identifier(None)
    raise TypeError(
        f"optimizer must be a name {sorted(KERAS_OPTIMIZER_DEFAULTS)} or an nnlib.optim optimizer, got "
        f"{identifier!r}"
    )


def _is_pandas(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas"


def _to_numeric_array(data, what: str, where: str) -> np.ndarray:
    """Turn x or y (ndarray, list, Tensor, pandas) into a numeric ndarray, or say clearly why not."""
    if data is None:
        raise ValueError(f"{where}: {what} is missing")
    if isinstance(data, Tensor):
        return data.data
    if _is_pandas(data):
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


def _check_finite(arr: np.ndarray, what: str, where: str) -> None:
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


def _apply_activation(logits: np.ndarray, kind: str) -> np.ndarray:
    if kind == "sigmoid":
        e = np.exp(-np.abs(logits))
        r = 1.0 / (1.0 + e)
        return np.where(logits >= 0, r, e * r)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


class Model(Module):
    """Chapter 07: a Module with ``compile``/``fit``/``evaluate``/``predict``/``save``.

    Subclasses define ``forward(x)``; :class:`~nnlib.models.Sequential` is one.
    """

    optimizer = None
    loss = None
    stop_training = False
    history = None
    trainable = True
    _compiled = False

    # ------------------------------------------------------------ hooks for subclasses
    def _input_shape(self):
        """The expected input shape (batch axis None), or None when unknown."""
        return None

    def _ensure_built(self, x: np.ndarray) -> None:
        """Build the weights for inputs like ``x`` (no-op by default)."""

    def _output_shape(self, x: np.ndarray) -> tuple:
        """The output shape for inputs like ``x`` (batch axis None)."""
        was = self.training
        self.eval()
        try:
            with no_grad():
                out = self.forward(Tensor(x[:1]))
        finally:
            self.train(was)
        return (None,) + tuple(out.shape[1:])

    def _output_activation(self):
        """'sigmoid' or 'softmax' when the last step is that activation and ``_forward_logits`` exists."""
        return None

    def _forward_logits(self, x: Tensor) -> Tensor:
        """The outputs before the final activation (used for fused losses)."""
        raise NotImplementedError

    def _layers_for_training(self) -> list:
        """The Layer objects whose ``trainable`` flags and regularizers count."""
        from ..layers.base import Layer

        return [m for m in self.modules() if isinstance(m, Layer)]

    @property
    def model_dtype(self):
        """Chapter 07: the float dtype of the weights (float32 unless built with float64)."""
        for p in self.parameters():
            return p.dtype
        return np.dtype(np.float32)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **unused):
        """Chapter 07: choose the optimizer, the loss and the metrics; fix which weights train.

        ``optimizer``: 'adam', 'sgd', 'rmsprop', 'adamw' (Keras defaults) or an
        :mod:`nnlib.optim` optimizer (e.g. ``optim.SGD(lr=0.1)``; its parameters
        are attached here). ``loss``: a name (see
        :data:`nnlib.keras_losses.LOSSES`), a loss object or a function
        ``loss(y_true, y_pred)``. ``metrics``: names ('accuracy', 'mse', ...)
        or functions ``metric(y_true, y_pred)``.
        """
        if unused:
            ignored = {"run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss"}
            unknown = set(unused) - ignored
            if unknown:
                raise TypeError(f"compile() got unexpected arguments {sorted(unknown)}")
        if loss is None:
            raise ValueError(
                "compile(): a loss is needed, e.g. loss='binary_crossentropy'; valid names are "
                f"{sorted(keras_losses.LOSSES)}"
            )
        loss_obj = keras_losses.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str,)) or callable(metrics):
            metrics = [metrics]
        elif isinstance(metrics, dict):
            raise TypeError("compile(): metrics must be a list such as ['accuracy'] (dicts are for multi-output "
                            "models, which nnlib does not have)")
        metrics = list(metrics)
        for m in metrics:
            _metrics.check_metric(m)
        opt = get_optimizer(optimizer)

        trainable = self._snapshot_trainable()
        if not opt.param_groups:
            opt.add_param_group({"params": trainable})
            opt._nnlib_model_id = id(self)  # attached here: a later compile of this model may re-attach
            opt._nnlib_model_name = getattr(self, "name", type(self).__name__)
        elif getattr(opt, "_nnlib_model_id", None) == id(self):
            group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
            opt.param_groups = []
            group["params"] = trainable
            opt.add_param_group(group)
        elif getattr(opt, "_nnlib_model_id", None) is not None:
            owner = getattr(opt, "_nnlib_model_name", "another model")
            raise ValueError(
                f"compile(): this {type(opt).__name__} is already attached to model {owner!r} and would keep "
                f"updating that model's weights, not {getattr(self, 'name', 'this model')!r}'s; give each model a "
                f"new optimizer, e.g. optimizer=nnlib.optim.{type(opt).__name__}(lr=...) or a name like 'adam'"
            )
        # an optimizer built with its own parameters (optim.SGD(model.parameters())) is used as it is
        self.optimizer = opt
        self.loss = loss_obj
        self._loss_spec = loss
        self._metric_specs = metrics
        self._compiled = True
        return None

    def _snapshot_trainable(self) -> list:
        """Set ``requires_grad`` from the layers' ``trainable`` flags; return the trainable parameters."""
        frozen = set()
        if not self.trainable:
            frozen = {id(p) for p in self.parameters()}
        else:
            for layer in self._layers_for_training():
                if not layer.trainable:
                    frozen.update(id(p) for p in layer.parameters())
        params = []
        for p in self.parameters():
            p.requires_grad = id(p) not in frozen
            if p.requires_grad:
                params.append(p)
        return params

    @property
    def compiled(self) -> bool:
        """Chapter 07: True once ``compile`` has been called."""
        return self._compiled

    @property
    def metrics_names(self) -> list:
        """Chapter 07: ['loss', *metric names], the order ``evaluate`` returns them in."""
        names = ["loss"]
        for m in getattr(self, "_metric_specs", []):
            names.append(m if isinstance(m, str) else getattr(m, "__name__", "metric"))
        return names

    def _require_compiled(self, where: str) -> None:
        if not self._compiled:
            raise RuntimeError(
                f"{where}(): the model must be compiled first, e.g. "
                "model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])"
            )

    # ------------------------------------------------------------------ data
    def _prepare_x(self, x, where: str) -> np.ndarray:
        arr = _to_numeric_array(x, "x", where)
        dtype = self.model_dtype
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
        if arr.ndim == 0:
            raise ValueError(f"{where}: x must be an array of samples (one row per sample), got a single number")
        expected = self._input_shape()
        if expected is not None:
            rank_ok = arr.ndim == len(expected)
            if not rank_ok or any(e is not None and e != n for e, n in zip(expected[1:], arr.shape[1:])):
                first = getattr(self, "layers", [None])[0] if getattr(self, "layers", None) else None
                who = f"layer {first.name!r} ({type(first).__name__})" if first is not None else "the model"
                hint = ""
                if arr.ndim == 1 and len(expected) == 2:
                    hint = (" x is 1-D: pass a 2-D array with one row per sample"
                            + (", e.g. x.reshape(-1, 1)" if expected[1] == 1 else ""))
                elif rank_ok and len(expected) == 2:
                    hint = f" (x has {arr.shape[1]} features, the model was built for {expected[1]})"
                raise ValueError(
                    f"{where}: input of {who} is incompatible: expected shape {_shape_text(expected)}, got x of "
                    f"shape {_shape_text(arr.shape)}.{hint}"
                )
        return arr

    def _prepare_y(self, y, output_shape: tuple, n: int, where: str) -> np.ndarray:
        arr = _to_numeric_array(y, "y", where)
        if arr.ndim == 0:
            raise ValueError(f"{where}: y must hold one label per sample, got a single number")
        if len(arr) != n:
            raise ValueError(f"{where}: x has {n} samples but y has {len(arr)}; they must have one row each")
        if isinstance(self.loss, keras_losses.Loss):
            return self.loss.prepare_targets(arr, output_shape, self.model_dtype)
        if arr.dtype.kind in "biu" and arr.ndim == len(output_shape) - 1 and output_shape[-1] != 1:
            return arr  # integer class labels for a custom loss
        arr = arr.astype(self.model_dtype, copy=False)
        if arr.ndim == len(output_shape) - 1 and output_shape[-1] == 1:
            arr = arr.reshape(arr.shape + (1,))
        return arr

    def _make_metrics(self, y: np.ndarray, output_shape: tuple) -> list:
        loss_name = getattr(self.loss, "name", None)
        return [_metrics.make_metric(m, output_shape, y, loss_name) for m in self._metric_specs]

    def _fusion(self):
        """The activation to fuse into the loss ('sigmoid'/'softmax') or None."""
        loss = self.loss
        if not isinstance(loss, keras_losses.Loss) or loss.from_logits or loss.logits_activation is None:
            return None
        kind = self._output_activation()
        return kind if kind == loss.logits_activation else None

    def _loss_and_predictions(self, xb: np.ndarray, yb: np.ndarray, fusion, need_preds: bool = True):
        """Forward one batch; (loss Tensor without penalties, predictions ndarray for the metrics).

        With ``need_preds=False`` (no metrics to update) the predictions are not computed: None.
        """
        x = Tensor(xb)
        if fusion is not None:
            logits = self._forward_logits(x)
            loss = self.loss.from_logits_loss(yb, logits)
            return loss, (_apply_activation(logits.data, fusion) if need_preds else None)
        out = self.forward(x)
        loss = self.loss(yb, out)
        if not isinstance(loss, Tensor):
            raise TypeError(f"the loss function must return an nnlib Tensor, got {type(loss).__name__}")
        if loss.size != 1:
            loss = loss.mean()
        preds = out.data
        if need_preds and getattr(self.loss, "from_logits", False) and getattr(self.loss, "logits_activation", None):
            preds = _apply_activation(preds, self.loss.logits_activation)
        return loss, preds

    def _penalty(self, layers):
        total = None
        for layer in layers:
            for term in layer.regularization_losses():
                total = term if total is None else total + term
        return total

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto", callbacks=None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True, initial_epoch: int = 0,
            validation_batch_size=None):
        """Chapter 07: train for ``epochs`` epochs; returns a :class:`~nnlib.callbacks.History`.

        Accepts NumPy arrays, lists and pandas DataFrames/Series.
        ``validation_split`` holds out the LAST fraction of the rows (before
        shuffling); ``validation_data=(x_val, y_val)`` takes precedence.
        ``shuffle`` reorders the training rows each epoch with nnlib's seeded
        generator (``nnlib.manual_seed``). ``verbose``: 0 silent, 1 a progress
        bar per epoch, 2 one line per epoch, 'auto' = 1.
        """
        where = "fit"
        self._require_compiled(where)
        verbose = resolve_verbose(verbose)
        batch_size = _check_batch_size(batch_size, where)
        epochs = int(epochs)
        x = _to_numeric_array(x, "x", where)
        self._ensure_built(x)
        x = self._prepare_x(x, where)
        n = len(x)
        if n == 0:
            raise ValueError(f"{where}: x has no samples")
        output_shape = self._output_shape(x)
        y = self._prepare_y(y, output_shape, n, where)
        _check_finite(x, "x", where)
        _check_finite(y, "y", where)

        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(f"{where}: validation_data must be a tuple (x_val, y_val)")
            xv = self._prepare_x(validation_data[0], f"{where} (validation_data)")
            yv = self._prepare_y(validation_data[1], output_shape, len(xv), f"{where} (validation_data)")
            val = (xv, yv)
        elif validation_split:
            split = float(validation_split)
            if not 0.0 < split < 1.0:
                raise ValueError(f"{where}: validation_split must be between 0 and 1, got {validation_split}")
            cut = int(math.floor(n * (1.0 - split)))
            if cut == 0 or cut == n:
                raise ValueError(
                    f"{where}: validation_split={split} of {n} samples leaves "
                    f"{'no training' if cut == 0 else 'no validation'} samples"
                )
            val = (x[cut:], y[cut:])
            x, y = x[:cut], y[:cut]
            n = cut
        val_batch = batch_size if validation_batch_size is None else _check_batch_size(validation_batch_size, where)

        steps = -(-n // batch_size)
        history = History()
        cb_list = [] if callbacks is None else list(callbacks)
        cbs = CallbackList(cb_list + [history], model=self,
                           params={"verbose": verbose, "epochs": epochs, "steps": steps})
        train_metrics = self._make_metrics(y, output_shape)
        need_preds = bool(train_metrics)
        fusion = self._fusion()
        layers = [layer for layer in self._layers_for_training() if layer.regularization_losses()]
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer
        rng = get_rng()
        was_training = self.training
        self.stop_training = False
        cbs.on_train_begin()
        bar = None
        try:
            for epoch in range(int(initial_epoch), epochs):
                cbs.on_epoch_begin(epoch)
                self.train()
                order = rng.permutation(n) if shuffle else None
                for m in train_metrics:
                    m.reset()
                total, seen = 0.0, 0
                bar = ProgressBar(steps, desc=f"Epoch {epoch + 1}/{epochs}", verbose=verbose)
                for b in range(steps):
                    lo, hi = b * batch_size, min((b + 1) * batch_size, n)
                    if order is None:
                        xb, yb = x[lo:hi], y[lo:hi]
                    else:
                        idx = order[lo:hi]
                        xb, yb = x[idx], y[idx]
                    cbs.on_train_batch_begin(b)
                    loss, preds = self._loss_and_predictions(xb, yb, fusion, need_preds)
                    penalty = self._penalty(layers) if layers else None
                    if penalty is not None:
                        loss = loss + penalty
                    value = float(loss.data)
                    count = hi - lo
                    total += value * count
                    seen += count
                    for m in train_metrics:
                        m.update(yb, preds)
                    if math.isfinite(value):
                        if loss.requires_grad:
                            loss.backward()
                            optimizer.step()
                            for p in params:
                                p.grad = None
                    batch_logs = {"loss": total / seen}
                    for m in train_metrics:
                        batch_logs[m.name] = m.result()
                    cbs.on_train_batch_end(b, batch_logs)
                    if not math.isfinite(value) and not self.stop_training:
                        raise TrainingError(self._nan_message(value, epoch, epochs, b, steps, xb))
                    bar.update(1, batch_logs)
                    if self.stop_training:
                        break
                logs = {"loss": total / seen}
                for m in train_metrics:
                    logs[m.name] = m.result()
                if val is not None:
                    val_logs = self._evaluate_arrays(val[0], val[1], val_batch, output_shape, verbose=0)
                    logs.update({"val_" + k: v for k, v in val_logs.items()})
                bar.close(logs)
                bar = None
                cbs.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        finally:
            if bar is not None:
                bar.abort()
            self.train(was_training)
        cbs.on_train_end()
        self.history = history
        return history

    def _nan_message(self, value, epoch, epochs, batch, steps, xb) -> str:
        lr = None
        try:
            lr = self.optimizer.lr
        except AttributeError:
            pass
        hints = []
        if not np.all(np.isfinite(xb)):
            hints.append("this batch of x contains NaN/inf values")
        hints.append("the learning rate may be too high" + (f" (lr={lr:g})" if lr is not None else ""))
        hints.append("inputs may be unscaled (try StandardScaler)")
        return (
            f"fit(): the loss became {value} at epoch {epoch + 1}/{epochs}, batch {batch + 1}/{steps}; training "
            f"stopped and this batch's update was not applied. Likely causes: {'; '.join(hints)}. Pass "
            "callbacks=[nnlib.callbacks.TerminateOnNaN()] to stop without an error."
        )

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_arrays(self, x, y, batch_size, output_shape, verbose=0, desc="Evaluate") -> dict:
        metrics = self._make_metrics(y, output_shape)
        fusion = self._fusion()
        layers = [layer for layer in self._layers_for_training() if layer.regularization_losses()]
        n = len(x)
        steps = -(-n // batch_size)
        was_training = self.training
        self.eval()
        total = 0.0
        bar = ProgressBar(steps, desc=desc, verbose=verbose)
        try:
            with no_grad():
                penalty = self._penalty(layers) if layers else None
                extra = float(penalty.data) if penalty is not None else 0.0
                for b in range(steps):
                    lo, hi = b * batch_size, min((b + 1) * batch_size, n)
                    xb, yb = x[lo:hi], y[lo:hi]
                    loss, preds = self._loss_and_predictions(xb, yb, fusion, bool(metrics))
                    total += (float(loss.data) + extra) * (hi - lo)
                    for m in metrics:
                        m.update(yb, preds)
                    if verbose:
                        logs = {"loss": total / hi}
                        logs.update({m.name: m.result() for m in metrics})
                        bar.update(1, logs)
            logs = {"loss": total / n}
            logs.update({m.name: m.result() for m in metrics})
            bar.close(logs)
        finally:
            bar.abort()
            self.train(was_training)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict: bool = False):
        """Chapter 07: ``[loss, *metrics]`` averaged over all samples (a float when there are no metrics).

        Runs in inference mode (dropout off, batch-norm moving statistics),
        without building a graph. ``return_dict=True`` gives {'loss': ..., ...}.
        """
        where = "evaluate"
        self._require_compiled(where)
        batch_size = _check_batch_size(batch_size, where)
        x = _to_numeric_array(x, "x", where)
        self._ensure_built(x)
        x = self._prepare_x(x, where)
        if len(x) == 0:
            raise ValueError(f"{where}: x has no samples")
        output_shape = self._output_shape(x)
        y = self._prepare_y(y, output_shape, len(x), where)
        _check_finite(x, "x", where)
        _check_finite(y, "y", where)
        logs = self._evaluate_arrays(x, y, batch_size, output_shape, verbose=resolve_verbose(verbose))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto") -> np.ndarray:
        """Chapter 07: the model's outputs for ``x`` as a NumPy array, computed batch by batch.

        Inference mode (dropout off, batch-norm moving statistics), no graph.
        """
        where = "predict"
        batch_size = _check_batch_size(batch_size, where)
        x = _to_numeric_array(x, "x", where)
        self._ensure_built(x)
        x = self._prepare_x(x, where)
        n = len(x)
        steps = -(-n // batch_size)
        was_training = self.training
        self.eval()
        outputs = []
        bar = ProgressBar(steps, desc="Predict", verbose=resolve_verbose(verbose))
        try:
            with no_grad():
                for b in range(steps):
                    outputs.append(self.forward(Tensor(x[b * batch_size:(b + 1) * batch_size])).data)
                    bar.update(1)
            bar.close()
        finally:
            bar.abort()
            self.train(was_training)
        if not outputs:
            shape = self._output_shape(np.zeros((1,) + x.shape[1:], dtype=x.dtype))
            return np.zeros((0,) + shape[1:], dtype=x.dtype)
        return np.concatenate(outputs, axis=0)

    # ------------------------------------------------------------------ weights and files
    def get_weights(self) -> list:
        """Chapter 07: copies of every weight (parameters, then buffers), as Keras' ``get_weights``."""
        return [p.data.copy() for p in self.parameters()] + [np.array(b, copy=True) for _, b in self.named_buffers()]

    def set_weights(self, weights) -> None:
        """Chapter 07: set every weight from a list in ``get_weights`` order (shapes must match)."""
        state = self.state_dict()
        weights = list(weights)
        if len(weights) != len(state):
            raise ValueError(f"set_weights: the model has {len(state)} weight arrays, got {len(weights)}")
        self.load_state_dict(dict(zip(state.keys(), weights)))

    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Chapter 07: save architecture, weights, compile settings and optimizer state to ONE zip file.

        Any extension works (``'final_model.h5'`` too), but the file is always
        nnlib's zip format (see :mod:`nnlib.io`), never HDF5; it is written
        atomically. Reload with :func:`nnlib.models.load_model`.
        """
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Chapter 07: save only the weights (same zip format); restore with ``load_weights``."""
        from .saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        """Chapter 07: load weights saved by ``save_weights`` (or ``save``) into this model (shapes must match)."""
        from .saving import load_weights

        load_weights(self, filepath)


def _check_batch_size(batch_size, where: str) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"

