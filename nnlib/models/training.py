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

* ``compile(optimizer='adam')``: an optimizer named by a string gets **Keras'**
  defaults, and only there (see :meth:`Model.compile`). Everywhere else
  (``nnlib.optim.Adam()``, ``nnlib.optim.get('adam')``) optimizers keep
  **PyTorch's** defaults and update formulas (e.g. Adam's epsilon is added
  outside the bias correction).
* ``compile`` decides which weights train: a layer with ``trainable = False``
  is frozen at the next ``compile``, as in Keras (until then the weights
  collected by the last ``compile`` keep training).
* ``fit`` = a :class:`~nnlib.data.DataLoader` over the rows plus
  :meth:`Model.train_step` per batch; ``evaluate`` = :meth:`Model.test_step`
  per batch; the progress display is the callback
  :class:`~nnlib.callbacks.ProgbarLogger` (``verbose``: 0, 1, 2 as in Keras).
* ``validation_split`` takes the LAST fraction of the rows, before shuffling.
* The epoch's ``loss`` is the sample-weighted mean of the batch losses seen
  during the epoch (weights changing along the way); ``val_*`` values use the
  end-of-epoch weights. Regularization penalties are included in both.
* Sigmoid/softmax outputs with the matching cross-entropy are trained from
  the logits (fused, stable), see :mod:`nnlib.models.losses`.
* A NaN or infinite loss stops training with :class:`TrainingError` (which
  says at which epoch and batch) before that batch's update is applied;
  ``callbacks=[TerminateOnNaN()]`` stops quietly instead.
"""
from __future__ import annotations

import difflib
import math
import weakref

import numpy as np

from .. import optim
from ..callbacks import Callback, CallbackList, History, ProgbarLogger
from ..data import DataLoader
from ..inputs import check_finite, shape_text, to_numeric_array
from ..module import Module
from ..progress import ProgressBar, resolve_verbose
from ..random import get_rng
from ..engine import Tensor, no_grad
from ..ops.elementwise import sigmoid_array
from . import _metrics
from . import losses as keras_losses

__all__ = ["Model", "TrainingError"]

#: the hyperparameters ``compile`` gives an optimizer named by a string: Keras' defaults, in torch's
#: parameter names. Private to ``compile``: ``nnlib.optim`` keeps torch's defaults everywhere else.
_KERAS_DEFAULTS = {
    "adam": {"lr": 0.001, "eps": 1e-7},
    "sgd": {"lr": 0.01},
    "rmsprop": {"lr": 0.001, "alpha": 0.9, "eps": 1e-7},
    "adamw": {"lr": 0.001, "eps": 1e-7, "weight_decay": 0.004},
}

#: optimizer -> (a weak reference to) the model whose ``compile`` attached its parameters, so that
#: another model's ``compile`` can refuse it. Owned by this module, so that nothing is stored on the
#: optimizer; weak on both sides, so that it never keeps a model or an optimizer alive.
_ATTACHED_TO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class TrainingError(FloatingPointError):
    """Chapter 07: training cannot go on (e.g. the loss became NaN); the message says where and why."""


def _compile_optimizer(identifier):
    """``compile``'s optimizer: a name gets Keras' defaults; an nnlib.optim class or instance is taken as it is."""
    if isinstance(identifier, str):
        key = identifier.lower().replace("-", "").replace("_", "")
        if key not in _KERAS_DEFAULTS:
            close = difflib.get_close_matches(key, list(_KERAS_DEFAULTS), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"compile(): unknown optimizer {identifier!r}{hint}; valid names are {sorted(_KERAS_DEFAULTS)}, "
                "or pass an optimizer object such as nnlib.optim.Adam(lr=0.01)"
            )
        return optim.get(key, None, **_KERAS_DEFAULTS[key])
    if isinstance(identifier, optim.Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, optim.Optimizer):
        return identifier(None)
    raise TypeError(
        f"compile(): optimizer must be a name {sorted(_KERAS_DEFAULTS)} or an nnlib.optim optimizer, got "
        f"{identifier!r}"
    )


def _apply_activation(logits: np.ndarray, kind: str) -> np.ndarray:
    if kind == "sigmoid":
        return sigmoid_array(logits)
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
    _metric_specs: tuple = ()  # the metrics compile() received
    _attached_optimizer = None  # the optimizer this model's compile attached its parameters to

    # ------------------------------------------------------------ hooks for subclasses
    def _input_shape(self):
        """The expected input shape (batch axis None), or None when unknown."""
        return None

    def _ensure_built(self, x: np.ndarray) -> None:
        """Build the weights for inputs like ``x`` (no-op by default)."""

    def _output_shape(self, x: np.ndarray) -> tuple:
        """The output shape for inputs like ``x`` (batch axis None)."""
        with self.evaluating(), no_grad():
            out = self.forward(Tensor(x[:1]))
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

        ``optimizer``: a name, which gets **Keras'** defaults (here only;
        ``nnlib.optim`` keeps PyTorch's everywhere else):

        * ``'adam'``: ``Adam(lr=0.001, eps=1e-7)`` (torch's eps is 1e-8)
        * ``'sgd'``: ``SGD(lr=0.01)``
        * ``'rmsprop'`` (the default): ``RMSprop(lr=0.001, alpha=0.9, eps=1e-7)``
          (Keras' ``rho`` is torch's ``alpha``; torch: alpha=0.99, eps=1e-8)
        * ``'adamw'``: ``AdamW(lr=0.001, eps=1e-7, weight_decay=0.004)``

        or an :mod:`nnlib.optim` optimizer with the settings you choose (e.g.
        ``optim.SGD(lr=0.1)``; the model's trainable parameters are attached
        here). An optimizer attached by one model's ``compile`` belongs to that
        model: another model's ``compile`` refuses it. One built with its own
        parameters (``optim.SGD(model.parameters())``) is used as it is.
        ``loss``: a name (see
        :data:`nnlib.models.losses.LOSSES`), a loss object or a function
        ``loss(y_true, y_pred)``. ``metrics``: names ('accuracy', 'mse', ...)
        or functions ``metric(y_true, y_pred)``.

        Which weights train is decided HERE, as in Keras: the layers' (and the
        model's) ``trainable`` flags are read now. Changing ``layer.trainable``
        after ``compile`` has no effect on training until the next ``compile``:
        before it, the weights collected now keep training (and the frozen ones
        stay frozen); compile again to apply the change (a given optimizer
        object is re-attached to the new set, keeping its settings).
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
        opt = _compile_optimizer(optimizer)
        self._attach(opt)
        self.optimizer = opt
        self.loss = loss_obj
        self._loss_spec = loss
        self._metric_specs = metrics
        self._compiled = True
        self._step_setup = self._train_tracker = self._test_tracker = None  # rebuilt for the new settings
        return None

    def _attach(self, opt) -> None:
        """Give ``opt`` this model's trainable parameters (or keep its own); refuse another model's optimizer.

        The model remembers the optimizer its ``compile`` attached (a deep copy of the model
        remembers its copy); the module's registry knows, for each optimizer, which model that is.
        """
        trainable = self._snapshot_trainable()
        owner_ref = _ATTACHED_TO.get(opt)
        owner = None if owner_ref is None else owner_ref()
        if opt is not self._attached_optimizer and owner is not self:
            if owner_ref is None:
                if opt.param_groups:
                    return  # built with its own parameters (optim.SGD(model.parameters())): used as it is
            else:  # attached by another model (alive, or gone but its weights still in the group)
                name = "another model" if owner is None else f"model {getattr(owner, 'name', type(owner).__name__)!r}"
                raise ValueError(
                    f"compile(): this {type(opt).__name__} is already attached to {name} and would keep "
                    f"updating that model's weights, not {getattr(self, 'name', 'this model')!r}'s; give each model "
                    f"a new optimizer, e.g. optimizer=nnlib.optim.{type(opt).__name__}(lr=...) or a name like 'adam'"
                )
        # new, or attached by an earlier compile of this model: (re-)attach the trainable set, same settings
        group = {k: v for k, v in (opt.param_groups[0] if opt.param_groups else {}).items() if k != "params"}
        opt.param_groups = []
        opt.add_param_group({**group, "params": trainable})
        self._attached_optimizer = opt
        _ATTACHED_TO[opt] = weakref.ref(self)

    @property
    def optimizer_attached(self) -> bool:
        """Chapter 07: True when ``self.optimizer`` holds the one parameter group that ``compile`` attached.

        False for an optimizer built with its own parameters (``optim.SGD(model.parameters())``)
        or given more groups later: saving then cannot restore its state by position.
        """
        opt = self.optimizer
        return opt is not None and opt is self._attached_optimizer and len(opt.param_groups) == 1

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
    def compiled_metrics(self) -> list:
        """Chapter 07: the metrics as ``compile`` received them (names or functions), in order."""
        return list(self._metric_specs)

    def uncompile(self) -> None:
        """Chapter 14: forget ``compile``'s optimizer: an inference copy that must be compiled again to train."""
        self._compiled = False
        self.optimizer = None
        self._attached_optimizer = None

    @property
    def metrics_names(self) -> list:
        """Chapter 07: ['loss', *metric names], the order ``evaluate`` returns them in."""
        names = ["loss"]
        for m in self._metric_specs:
            names.append(m if isinstance(m, str) else getattr(m, "__name__", "metric"))
        return names

    def _require_compiled(self, where: str) -> None:
        if not self._compiled:
            raise RuntimeError(
                f"{where}(): the model must be compiled first, e.g. "
                "model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])"
            )

    # ------------------------------------------------------------------ data
    def _prepare_data(self, x, y, batch_size, where: str, targets: bool = True) -> "_Data":
        """The one input path of ``fit``, ``evaluate``, ``predict`` (and ``fit``'s ``validation_data``).

        ``x`` (arrays, lists, DataFrames) becomes an array in the model's dtype whose shape is
        checked against the input the model was built for (an unbuilt model is built for it).
        With ``targets`` (not in ``predict``) it needs at least one sample, ``y`` becomes the
        array the loss expects (one row per sample), and both must be finite.
        """
        batch_size = _check_batch_size(batch_size, where)
        arr = to_numeric_array(x, "x", where)
        self._ensure_built(arr)
        arr = self._prepare_x(arr, where)
        if not targets:
            return _Data(arr, None, None, batch_size)
        if len(arr) == 0:
            raise ValueError(f"{where}: x has no samples")
        output_shape = self._output_shape(arr)
        labels = self._prepare_y(y, output_shape, len(arr), where)
        check_finite(arr, "x", where)
        check_finite(labels, "y", where)
        return _Data(arr, labels, output_shape, batch_size)

    def _validation_data(self, data: "_Data", validation_data, validation_split, validation_batch_size,
                         where: str):
        """``fit``'s held-out rows: (the training data, the validation data or None).

        ``validation_data=(x_val, y_val)`` goes through the same checks as ``x`` and ``y`` and takes
        precedence; otherwise ``validation_split`` holds out the LAST fraction of the rows (before any
        shuffling), as Keras does. Validation batches are ``validation_batch_size`` rows (default: fit's).
        """
        val_batch = data.batch_size
        if validation_batch_size is not None:
            val_batch = _check_batch_size(validation_batch_size, where)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(f"{where}: validation_data must be a tuple (x_val, y_val)")
            if len(validation_data) == 3 and validation_data[2] is not None:
                raise ValueError(f"{where}: validation_data has a third entry (sample weights), which nnlib's fit "
                                 "does not support; pass (x_val, y_val)")
            val = self._prepare_data(validation_data[0], validation_data[1], val_batch, f"{where} (validation_data)")
            return data, val
        if not validation_split:
            return data, None
        split = float(validation_split)
        if not 0.0 < split < 1.0:
            raise ValueError(f"{where}: validation_split must be between 0 and 1, got {validation_split}")
        n = len(data.x)
        cut = int(math.floor(n * (1.0 - split)))
        if cut == 0 or cut == n:
            raise ValueError(
                f"{where}: validation_split={split} of {n} samples leaves "
                f"{'no training' if cut == 0 else 'no validation'} samples"
            )
        train = _Data(data.x[:cut], data.y[:cut], data.output_shape, data.batch_size)
        val = _Data(data.x[cut:], data.y[cut:], data.output_shape, val_batch)
        return train, val

    def _prepare_x(self, arr: np.ndarray, where: str) -> np.ndarray:
        """``x`` in the model's dtype, or a ValueError naming the first layer and the expected shape."""
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
                    f"{where}: input of {who} is incompatible: expected shape {shape_text(expected)}, got x of "
                    f"shape {shape_text(arr.shape)}.{hint}"
                )
        return arr

    def _prepare_y(self, y, output_shape: tuple, n: int, where: str) -> np.ndarray:
        """``y`` with one row per sample of ``x``, shaped and typed as the loss expects."""
        arr = to_numeric_array(y, "y", where)
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

    # ------------------------------------------------------------------ one batch (Keras' train_step/test_step)
    def _refresh_step_setup(self) -> None:
        """Cache what every step needs: the fused activation, the regularized layers, the trained parameters."""
        self._step_setup = (
            self._fusion(),
            [layer for layer in self._layers_for_training() if layer.regularization_losses()],
            [p for p in self.parameters() if p.requires_grad],
        )

    def _batch_arrays(self, x, y, tracker_name: str, where: str):
        """One batch as arrays (x in the model's dtype); the setup and the phase's tracker are made if missing."""
        self._require_compiled(where)
        x = x.data if isinstance(x, Tensor) else np.asarray(x)
        y = y.data if isinstance(y, Tensor) else np.asarray(y)
        if x.dtype != self.model_dtype:
            x = x.astype(self.model_dtype)
        if getattr(self, "_step_setup", None) is None:
            self._refresh_step_setup()
        if getattr(self, tracker_name, None) is None:
            setattr(self, tracker_name, _Tracker(self._make_metrics(y, self._output_shape(x))))
        return x, y, getattr(self, tracker_name)

    def reset_metrics(self) -> None:
        """Chapter 07: restart the running loss and metrics that ``train_step``/``test_step`` report."""
        for name in ("_train_tracker", "_test_tracker"):
            tracker = getattr(self, name, None)
            if tracker is not None:
                tracker.reset()

    def train_step(self, x, y) -> dict:
        """Chapter 07: ONE training step on one batch; returns the logs ``{'loss': ..., metric: ...}``.

        It is the hand-written loop of chapter 07, once::

            out = model(x)                            # 1. forward (the model's current mode)
            loss = loss_fn(y, out) + penalties        #    (L2 etc., chapter 09)
            loss.backward()                           # 2. backward
            optimizer.step()                          # 3. step
            # 4. clear the gradients

        ``fit`` calls it for every batch (override it to change what ``fit``
        does). ``x`` and ``y`` are one batch as ``fit`` passes them: arrays (or
        Tensors), ``y`` shaped as the loss expects (e.g. ``(N, 1)`` for a
        one-unit output). The logs are running means, weighted by samples,
        over the batches since the last :meth:`reset_metrics` (``fit`` resets
        at each epoch start), as in Keras. When the loss is NaN or infinite
        the update is skipped and the logs show it (``fit`` then stops).
        """
        x, y, tracker = self._batch_arrays(x, y, "_train_tracker", "train_step")
        fusion, reg_layers, params = self._step_setup
        loss, preds = self._loss_and_predictions(x, y, fusion, bool(tracker.metrics))
        penalty = self._penalty(reg_layers) if reg_layers else None
        if penalty is not None:
            loss = loss + penalty
        value = float(loss.data)
        tracker.update(value, len(x), y, preds)
        if math.isfinite(value) and loss.requires_grad:
            loss.backward()
            self.optimizer.step()
            for p in params:
                p.grad = None
        return tracker.result()

    def test_step(self, x, y) -> dict:
        """Chapter 07: the loss and metrics of one batch in inference mode, no graph, no update.

        ``evaluate`` (and ``fit``'s validation) call it for every batch; the
        logs are running means since the last :meth:`reset_metrics`, as in
        :meth:`train_step`. Regularization penalties are included.
        """
        x, y, tracker = self._batch_arrays(x, y, "_test_tracker", "test_step")
        fusion, reg_layers, _ = self._step_setup
        with self.evaluating(), no_grad():
            loss, preds = self._loss_and_predictions(x, y, fusion, bool(tracker.metrics))
            penalty = self._penalty(reg_layers) if reg_layers else None
            extra = float(penalty.data) if penalty is not None else 0.0
        tracker.update(float(loss.data) + extra, len(x), y, preds)
        return tracker.result()

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto", callbacks=None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True, initial_epoch: int = 0,
            validation_batch_size=None):
        """Chapter 07: train for ``epochs`` epochs; returns a :class:`~nnlib.callbacks.History`.

        Accepts NumPy arrays, lists and pandas DataFrames/Series. Each batch
        comes from a :class:`~nnlib.data.DataLoader` and goes through
        :meth:`train_step`.

        * ``epochs``: a whole number of passes (2.5 or None is a ValueError);
          ``initial_epoch`` resumes the count, as in Keras.
        * ``validation_split`` holds out the LAST fraction of the rows (before
          shuffling); ``validation_data=(x_val, y_val)`` takes precedence.
        * ``shuffle`` reorders the training rows each epoch with nnlib's seeded
          generator (``nnlib.manual_seed``).
        * ``verbose``: 0 silent; 1 (= 'auto') a live progress bar per epoch that
          is removed when the epoch ends, leaving one summary line
          ``Epoch 3/12 - loss: 0.1234 - val_loss: 0.2345``; 2 the summary lines
          only (see :mod:`nnlib.progress`).
        * ``callbacks``: a list of :class:`~nnlib.callbacks.Callback` objects;
          a single callback is accepted too (Keras requires a list).
        """
        where = "fit"
        self._require_compiled(where)
        verbose = resolve_verbose(verbose)
        epochs = _check_epochs(epochs, "epochs", where)
        initial_epoch = _check_epochs(initial_epoch, "initial_epoch", where)
        cb_list = _callback_list(callbacks, where)
        data = self._prepare_data(x, y, batch_size, where)
        data, val = self._validation_data(data, validation_data, validation_split, validation_batch_size, where)

        loader = data.loader(shuffle=bool(shuffle))
        steps = len(loader)
        history = History()
        progbar = ProgbarLogger(verbose) if verbose else None
        cbs = CallbackList(([progbar] if progbar else []) + cb_list + [history], model=self,
                           params={"verbose": verbose, "epochs": epochs, "steps": steps})
        self._refresh_step_setup()
        self._train_tracker = _Tracker(self._make_metrics(data.y, data.output_shape))
        self.stop_training = False
        cbs.on_train_begin()
        try:
            with self.training_mode(True):
                for epoch in range(initial_epoch, epochs):
                    cbs.on_epoch_begin(epoch)
                    self._train_tracker.reset()
                    for step, (xb, yb) in enumerate(loader):
                        cbs.on_train_batch_begin(step)
                        logs = self.train_step(xb, yb)
                        cbs.on_train_batch_end(step, logs)
                        if not math.isfinite(logs["loss"]) and not self.stop_training:
                            raise TrainingError(self._nan_message(logs["loss"], epoch, epochs, step, steps, xb))
                        if self.stop_training:
                            break
                    logs = dict(logs)
                    if val is not None:
                        logs.update({"val_" + k: v for k, v in self._evaluate_data(val, verbose=0).items()})
                    cbs.on_epoch_end(epoch, logs)
                    if self.stop_training:
                        break
        except BaseException:
            if progbar is not None:
                progbar.abort()
            raise
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
    def _evaluate_data(self, data: "_Data", verbose=0, desc="Evaluate") -> dict:
        self._refresh_step_setup()
        self._test_tracker = _Tracker(self._make_metrics(data.y, data.output_shape))
        loader = data.loader()
        bar = ProgressBar(len(loader), desc=desc, verbose=verbose)
        try:
            with self.evaluating():
                for xb, yb in loader:
                    logs = self.test_step(xb, yb)
                    bar.update(1, logs)
            bar.close(logs)
        finally:
            bar.abort()
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict: bool = False):
        """Chapter 07: ``[loss, *metrics]`` averaged over all samples (a float when there are no metrics).

        Runs :meth:`test_step` batch by batch in inference mode (dropout off,
        batch-norm moving statistics), without building a graph.
        ``return_dict=True`` gives {'loss': ..., ...}. ``verbose`` as in
        ``fit`` (1: a transient bar, then ``Evaluate - loss: ...``).
        """
        where = "evaluate"
        self._require_compiled(where)
        data = self._prepare_data(x, y, batch_size, where)
        logs = self._evaluate_data(data, verbose=resolve_verbose(verbose))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto") -> np.ndarray:
        """Chapter 07: the model's outputs for ``x`` as a NumPy array, computed batch by batch.

        Inference mode (dropout off, batch-norm moving statistics), no graph.
        ``verbose=1`` shows a transient bar and leaves nothing behind.
        """
        data = self._prepare_data(x, None, batch_size, "predict", targets=False)
        loader = data.loader()
        outputs = []
        bar = ProgressBar(len(loader), desc="Predict", verbose=resolve_verbose(verbose), summary=False)
        try:
            with self.evaluating(), no_grad():
                for xb in loader:
                    outputs.append(self.forward(Tensor(xb)).data)
                    bar.update(1)
            bar.close()
        finally:
            bar.abort()
        if not outputs:
            x = data.x
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
        nnlib's zip format (see :mod:`nnlib.saving.archive`), never HDF5; it is written
        atomically. Reload with :func:`nnlib.models.load_model`.
        """
        from ..saving.model_file import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Chapter 07: save only the weights (same zip format); restore with ``load_weights``."""
        from ..saving.model_file import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        """Chapter 07: load weights saved by ``save_weights`` (or ``save``) into this model (shapes must match)."""
        from ..saving.model_file import load_weights

        load_weights(self, filepath)


def _check_batch_size(batch_size, where: str) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _check_epochs(value, name: str, where: str) -> int:
    """A whole, non-negative number of epochs (Keras' ``epochs``/``initial_epoch``) or a clear ValueError."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok and float(value).is_integer() and value >= 0:
        return int(value)
    if value is None:
        detail = "got None (leave it out for the default, 1)" if name == "epochs" else "got None"
    elif ok and not float(value).is_integer() and math.isfinite(value):
        detail = (f"got {value!r}; an epoch is one full pass over the data, so fractions are not supported "
                  f"(use epochs={max(1, math.ceil(value))}, or fewer samples)")
    else:
        detail = f"got {value!r}"
    raise ValueError(f"{where}: {name} must be a whole number >= 0, {detail}")


def _callback_list(callbacks, where: str) -> list:
    """``callbacks`` as a list: None -> [], a single Callback (or class, for CallbackList's error) -> [it]."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (Callback, type)):
        return [callbacks]
    try:
        return list(callbacks)
    except TypeError:
        raise TypeError(f"{where}: callbacks must be a list of Callback objects, e.g. "
                        f"callbacks=[EarlyStopping(patience=3)]; got {type(callbacks).__name__}") from None


class _Data:
    """Rows ready for the steps: ``x`` in the model's dtype, ``y`` as the loss expects (None in ``predict``)."""

    def __init__(self, x: np.ndarray, y, output_shape, batch_size: int):
        self.x, self.y, self.output_shape, self.batch_size = x, y, output_shape, batch_size

    def loader(self, shuffle: bool = False) -> DataLoader:
        """The mini-batches; a shuffled order is drawn from nnlib's generator at the start of each epoch."""
        arrays = (self.x,) if self.y is None else (self.x, self.y)
        return DataLoader(*arrays, batch_size=self.batch_size, shuffle=shuffle, seed=get_rng() if shuffle else None)


class _Tracker:
    """Running means of one phase (training or testing): the loss and each metric, weighted by samples."""

    def __init__(self, metrics: list):
        self.metrics = metrics
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.seen = 0
        for m in self.metrics:
            m.reset()

    def update(self, loss_value: float, count: int, y, preds) -> None:
        self.total += loss_value * count
        self.seen += count
        for m in self.metrics:
            m.update(y, preds)

    def result(self) -> dict:
        logs = {"loss": self.total / self.seen if self.seen else float("nan")}
        for m in self.metrics:
            logs[m.name] = m.result()
        return logs
