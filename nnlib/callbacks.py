"""Chapters 07 and 09: callbacks (回调), hooks that ``fit`` calls during training, Keras-style.

A callback subclasses :class:`Callback` and overrides the moments it cares
about: ``on_train_begin/end``, ``on_epoch_begin/end(epoch, logs)``,
``on_train_batch_begin/end(batch, logs)``. ``self.model`` is the model being
trained; setting ``self.model.stop_training = True`` ends training after the
current batch. ``logs`` at the end of an epoch holds ``loss``, the metrics and
their ``val_`` versions, as floats.

Provided: :class:`History` (always attached; ``fit`` returns it),
:class:`ProgbarLogger` (attached by ``fit`` unless ``verbose=0``), :class:`EarlyStopping`, :class:`ModelCheckpoint`,
:class:`LearningRateScheduler`, :class:`TerminateOnNaN` and
:class:`LambdaCallback`, with Keras' semantics. Epochs are counted from 0 in
the methods and shown from 1 in messages, as in Keras.
"""
from __future__ import annotations

import math
import numbers
import os
import warnings

from .progress import ProgressBar, resolve_verbose

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
    "LearningRateScheduler", "TerminateOnNaN", "LambdaCallback",
]


class Callback:
    """Chapter 07: base class; override any ``on_*`` method. ``self.model`` and ``self.params`` are set by fit."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        """Chapter 07: called by ``fit`` before training with the model being trained."""
        self.model = model

    def set_params(self, params: dict) -> None:
        """Chapter 07: called by ``fit`` with {'epochs', 'steps', 'verbose'}."""
        self.params = params

    def on_train_begin(self, logs=None):
        """Chapter 07: once, before the first epoch."""

    def on_train_end(self, logs=None):
        """Chapter 07: once, after the last epoch (also after early stopping)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Chapter 07: before each epoch (``epoch`` counts from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        """Chapter 07: after each epoch and its validation; ``logs`` has loss, metrics, val_*."""

    def on_batch_begin(self, batch, logs=None):
        """Chapter 07: before each training batch (alias kept for old Keras code)."""

    def on_batch_end(self, batch, logs=None):
        """Chapter 07: after each training batch (alias kept for old Keras code)."""

    def on_train_batch_begin(self, batch, logs=None):
        """Chapter 07: before each training batch; calls ``on_batch_begin``."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        """Chapter 07: after each training batch with {'loss': this batch's loss}; calls ``on_batch_end``."""
        self.on_batch_end(batch, logs)


class CallbackList:
    """Chapter 07: calls every callback in order (History last, as Keras does)."""

    def __init__(self, callbacks=None, model=None, params=None):
        callbacks = [] if callbacks is None else list(callbacks)
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks must be Callback instances (e.g. EarlyStopping(patience=3)); got "
                    f"{cb!r} of type {type(cb).__name__}. Did you pass the class instead of an instance?"
                )
        self.callbacks = callbacks
        if model is not None:
            for cb in self.callbacks:
                cb.set_model(model)
        if params is not None:
            for cb in self.callbacks:
                cb.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)

    def _call(self, method: str, *args):
        for cb in self.callbacks:
            getattr(cb, method)(*args)

    def on_train_begin(self, logs=None):
        """Chapter 07: call ``on_train_begin`` on every callback."""
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        """Chapter 07: call ``on_train_end`` on every callback."""
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        """Chapter 07: call ``on_epoch_begin`` on every callback."""
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        """Chapter 07: call ``on_epoch_end`` on every callback."""
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        """Chapter 07: call ``on_train_batch_begin`` on every callback."""
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        """Chapter 07: call ``on_train_batch_end`` on every callback."""
        self._call("on_train_batch_end", batch, logs)


class History(Callback):
    """Chapter 07: records each epoch's logs; ``fit`` returns it.

    ``history.history`` is {'loss': [...], 'accuracy': [...], 'val_loss': [...], ...}
    with one float per epoch; ``history.epoch`` lists the epoch numbers (from
    0); ``history.params`` holds {'epochs', 'steps', 'verbose'}.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        """Chapter 07: start a new list of epochs."""
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        """Chapter 07: append every logged value."""
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self

    def __repr__(self) -> str:
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


_MAX_NAMES = ("acc", "accuracy", "auc", "precision", "recall", "f1", "f1_score")
_MIN_NAMES = ("loss", "mse", "mae", "mean_squared_error", "mean_absolute_error", "error")


class ProgbarLogger(Callback):
    """Chapter 07: the progress display of ``fit``, as a callback (``fit`` adds it unless ``verbose=0``).

    ``verbose=1``: a live progress bar per epoch that disappears when the
    epoch ends, then one summary line; ``verbose=2``: the summary lines only::

        Epoch 3/12 - loss: 0.1234 - accuracy: 0.9500 - val_loss: 0.2345 - val_accuracy: 0.9200

    See :mod:`nnlib.progress`. It runs before the other callbacks, so a
    callback's own messages come after the epoch's line.
    """

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = resolve_verbose(verbose)
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        """Chapter 07: open this epoch's bar."""
        self.abort()
        self._bar = ProgressBar(self.params.get("steps", 0), desc=f"Epoch {epoch + 1}/{self.params.get('epochs')}",
                                verbose=self.verbose)

    def on_train_batch_end(self, batch, logs=None):
        """Chapter 07: advance the bar, showing the running loss and metrics."""
        if self._bar is not None:
            self._bar.update(1, logs)

    def on_epoch_end(self, epoch, logs=None):
        """Chapter 07: remove the bar and leave the epoch's summary line (validation metrics included)."""
        if self._bar is not None:
            self._bar.close(logs)
            self._bar = None

    def on_train_end(self, logs=None):
        """Chapter 07: nothing left open."""
        self.abort()

    def abort(self) -> None:
        """Chapter 07: close an open bar without a summary (``fit`` calls it when training fails)."""
        if self._bar is not None:
            self._bar.abort()
            self._bar = None


def _infer_mode(monitor: str, who: str) -> str:
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name.endswith("loss") or name in _MIN_NAMES or name.endswith("error"):
        return "min"
    if name in _MAX_NAMES or name.endswith("accuracy") or name.endswith("acc") or name.endswith("auc"):
        return "max"
    raise ValueError(
        f"{who}: cannot tell whether {monitor!r} should go up or down; pass mode='min' or mode='max'"
    )


def _resolve_mode(mode: str, monitor: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{who}: mode {mode!r} is unknown, falling back to 'auto'", stacklevel=3)
        mode = "auto"
    return _infer_mode(monitor, who) if mode == "auto" else mode


class EarlyStopping(Callback):
    """Chapter 09: stop training when ``monitor`` has stopped improving, as Keras does.

    An epoch improves when the value beats the best so far by more than
    ``min_delta`` (lower for losses, higher for accuracies; ``mode`` 'auto'
    decides from the name). After ``patience`` epochs without improvement
    training stops. With ``restore_best_weights=True`` the model gets back the
    weights of the best epoch when training ends (even if it never stopped
    early). ``baseline``: the patience counter restarts only on epochs that
    also beat it. ``start_from_epoch``: epochs before it are not watched.
    ``best_epoch`` and ``stopped_epoch`` count from 0 (0 = did not stop).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.mode = _resolve_mode(mode, monitor, "EarlyStopping")
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        """Chapter 09: reset the counters and the best value."""
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        """Chapter 09: compare with the best value; stop after ``patience`` epochs without improvement."""
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"EarlyStopping: the monitored value {self.monitor!r} is not in the logs; available: "
                f"{sorted(logs or {})}. (val_* values need validation_split or validation_data.)",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        current = float(current)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, float(self.baseline)):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        """Chapter 09: restore the best weights if asked."""
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Chapter 09: save the model (or only its weights) at the end of epochs.

    ``filepath`` may hold format fields filled from the epoch (from 1) and the
    logs: ``'ckpt-{epoch:02d}-{val_loss:.3f}.nnlib'``. With
    ``save_best_only=True`` a file is written only when ``monitor`` improves
    (``mode`` as in :class:`EarlyStopping`; ``initial_value_threshold`` sets
    the value to beat first). Files use nnlib's zip format (any extension).

    Keras' arguments, in Keras' order. ``save_freq="epoch"`` (Keras' default) saves at the
    end of each epoch; an integer ``N`` saves after every N training batches (counted
    across epochs, as Keras does), with that batch's logs (``{batch}`` in ``filepath`` is
    the batch of the epoch, from 1); ``monitor`` then has to be in the batch logs (``loss``).
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, numbers.Integral)
                                     or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a whole number of batches >= 1, "
                             f"got {save_freq!r}")
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self._batches_seen = 0
        self._epoch = 0
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if save_best_only:
            self.mode = _resolve_mode(mode, monitor, "ModelCheckpoint")
        else:
            try:
                self.mode = _resolve_mode(mode, monitor, "ModelCheckpoint")
            except ValueError:
                self.mode = "min"
        self.initial_value_threshold = initial_value_threshold
        self.best = None if initial_value_threshold is None else float(initial_value_threshold)
        self.saved = []  # paths written, in order

    def _format_path(self, epoch: int, logs: dict, batch: int | None = None) -> str:
        fields = dict(logs) if batch is None else {**logs, "batch": batch + 1}
        extra = "" if batch is None else ", 'batch'"
        try:
            return self.filepath.format(epoch=epoch + 1, **fields)
        except KeyError as exc:
            raise KeyError(
                f"ModelCheckpoint: filepath {self.filepath!r} uses {{{exc.args[0]}}}, which is not in the logs "
                f"{sorted(logs)} (or 'epoch'{extra})"
            ) from None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_begin(self, epoch, logs=None):
        """Chapter 09: remember the epoch (for ``{epoch}`` in a path saved every N batches)."""
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        """Chapter 09: with an integer ``save_freq``, save after every ``save_freq``-th batch."""
        super().on_train_batch_end(batch, logs)
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, dict(logs or {}), batch)

    def on_epoch_end(self, epoch, logs=None):
        """Chapter 09: save the model (or its weights) if this epoch qualifies (``save_freq="epoch"``)."""
        if self.save_freq == "epoch":
            self._save(epoch, dict(logs or {}))

    def _save(self, epoch: int, logs: dict, batch: int | None = None) -> None:
        where = f"Epoch {epoch + 1}" if batch is None else f"Epoch {epoch + 1}, batch {batch + 1}"
        path = self._format_path(epoch, logs, batch)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(
                    f"ModelCheckpoint: can save the best model only with {self.monitor!r} available; it is not in "
                    f"the logs {sorted(logs)}, skipping", stacklevel=2)
                return
            current = float(current)
            if not self._improved(current):
                if self.verbose:
                    print(f"{where}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose:
                previous = "inf" if self.best is None else f"{self.best:.5f}"
                print(f"{where}: {self.monitor} improved from {previous} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose:
            print(f"{where}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.saved.append(path)


class LearningRateScheduler(Callback):
    """Chapter 07: set the optimizer's learning rate at the start of each epoch.

    ``schedule(epoch, lr) -> new_lr`` (epoch from 0; ``lr`` is the current
    rate); a one-argument ``schedule(epoch)`` works too. The rate used is
    added to the logs as ``learning_rate``, so History records it.
    """

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function (epoch, lr) -> lr, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        """Chapter 07: set the optimizer's lr to ``schedule(epoch, lr)``."""
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            raise RuntimeError("LearningRateScheduler: the model has no optimizer; compile it first")
        lr = float(optimizer.lr)
        try:
            new_lr = self.schedule(epoch, lr)
        except TypeError:
            new_lr = self.schedule(epoch)
        try:
            new_lr = float(new_lr)
        except (TypeError, ValueError):
            raise ValueError(f"LearningRateScheduler: the schedule must return a number, got {new_lr!r}") from None
        if not math.isfinite(new_lr) or new_lr < 0:
            raise ValueError(f"LearningRateScheduler: the schedule returned an invalid learning rate {new_lr}")
        optimizer.lr = new_lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new_lr}.")

    def on_epoch_end(self, epoch, logs=None):
        """Chapter 07: record the rate used as ``logs['learning_rate']``."""
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.lr)


class TerminateOnNaN(Callback):
    """Chapter 09: stop training cleanly when a batch's loss is NaN or infinite.

    Without it, ``fit`` raises ``nnlib.models.TrainingError`` naming the epoch
    and batch. In both cases the bad batch's update is not applied.
    """

    def __init__(self):
        super().__init__()
        self.stopped_batch = None

    def on_train_batch_end(self, batch, logs=None):
        """Chapter 09: stop when the loss is not finite."""
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.stopped_batch = batch
            self.model.stop_training = True


class LambdaCallback(Callback):
    """Chapter 07: a callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None):
        super().__init__()
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_train_batch_begin", on_train_batch_begin),
                         ("on_train_batch_end", on_train_batch_end)):
            if fn is not None:
                setattr(self, name, fn)
