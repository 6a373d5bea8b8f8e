"""Chapters 07 and 09: callbacks (EarlyStopping, ModelCheckpoint, LearningRateScheduler, TerminateOnNaN)."""
import math
import os

import numpy as np
import pytest

import nnlib
from nnlib import optim
from nnlib.callbacks import (Callback, EarlyStopping, History, LambdaCallback, LearningRateScheduler,
                             ModelCheckpoint, TerminateOnNaN)
from nnlib.layers import Dense
from nnlib.models import Sequential, load_model


class FakeModel:
    """Just enough of a model for EarlyStopping: weights are the epoch number."""

    def __init__(self):
        self.stop_training = False
        self.weights = [np.zeros(1)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


def run_early_stopping(values, **kwargs):
    """Feed ``values`` as the monitored quantity, one per epoch, like fit does; return (epochs run, callback, model)."""
    cb = EarlyStopping(**kwargs)
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    ran = 0
    for epoch, value in enumerate(values):
        model.weights = [np.array([float(epoch)])]
        cb.on_epoch_end(epoch, {"val_loss": value, "val_accuracy": -value})
        ran += 1
        if model.stop_training:
            break
    cb.on_train_end()
    return ran, cb, model


def test_early_stopping_patience():
    values = [1.0, 0.8, 0.9, 0.85, 0.95, 0.7]
    assert run_early_stopping(values, patience=0)[0] == 3  # epoch 2 did not improve: stop
    assert run_early_stopping(values, patience=2)[0] == 4  # epochs 2 and 3 did not improve
    ran, cb, _ = run_early_stopping(values, patience=3)
    assert ran == 5 and cb.stopped_epoch == 4 and cb.best == 0.8 and cb.best_epoch == 1
    assert run_early_stopping(values, patience=10)[0] == 6


def test_early_stopping_min_delta_mode_and_baseline():
    values = [1.0, 0.95, 0.91, 0.88]
    assert run_early_stopping(values, patience=1, min_delta=0.1)[0] == 2
    assert run_early_stopping(values, patience=1, min_delta=0.01)[0] == 4
    # accuracy-like values go up: mode 'auto' picks max from the name
    ran, cb, _ = run_early_stopping([1.0, 0.8, 0.9], monitor="val_accuracy", patience=0)
    assert cb.mode == "max" and ran == 3 and cb.best == -0.8
    # baseline: the patience counter only restarts for epochs that also beat the baseline
    values = [1.0, 0.9, 0.95, 0.7]
    assert run_early_stopping(values, patience=2)[0] == 4
    assert run_early_stopping(values, patience=2, baseline=0.5)[0] == 3
    with pytest.raises(ValueError, match="mode='min' or mode='max'"):
        EarlyStopping(monitor="val_something")


def test_early_stopping_restore_best_weights_and_start_from_epoch():
    _, cb, model = run_early_stopping([1.0, 0.5, 0.7, 0.9, 0.6], patience=2, restore_best_weights=True)
    assert cb.best_epoch == 1 and model.weights[0][0] == 1.0  # weights of epoch 1 restored
    # restore happens at the end even without stopping early
    _, cb, model = run_early_stopping([1.0, 0.5, 0.7], patience=5, restore_best_weights=True)
    assert cb.stopped_epoch == 0 and model.weights[0][0] == 1.0
    ran, cb, _ = run_early_stopping([1.0, 2.0, 3.0, 4.0, 5.0], patience=0, start_from_epoch=2)
    assert ran == 4 and cb.best == 3.0


def test_early_stopping_missing_monitor_warns():
    cb = EarlyStopping(monitor="val_loss")
    cb.set_model(FakeModel())
    cb.on_train_begin()
    with pytest.warns(UserWarning, match="validation_split"):
        cb.on_epoch_end(0, {"loss": 1.0})


def _fit_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    return x, y


def _model(seed=0):
    nnlib.manual_seed(seed)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile(optim.SGD(lr=0.5), "binary_crossentropy", metrics=["accuracy"])
    return model


def test_early_stopping_in_fit_restores_best_weights():
    x, y = _fit_data()
    model = _model()
    xv = x[:16] + np.random.default_rng(9).standard_normal((16, 4)).astype(np.float32) * 3
    snapshots = []
    history = model.fit(x, y, epochs=30, validation_data=(xv, y[:16]), verbose=0, callbacks=[
        LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights())),
        EarlyStopping(patience=2, restore_best_weights=True)])
    losses = history.history["val_loss"]
    best = int(np.argmin(losses))
    assert len(losses) < 30 and len(losses) == best + 3
    for got, expected in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(model.evaluate(xv, y[:16], verbose=0)[0], losses[best], rtol=1e-6)


def test_model_checkpoint_files(tmp_path):
    x, y = _fit_data()
    model = _model()
    every = ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}-{loss:.3f}.nnlib"), monitor="loss")
    best = ModelCheckpoint(str(tmp_path / "best.h5"), monitor="val_accuracy", save_best_only=True)
    weights = ModelCheckpoint(str(tmp_path / "w" / "weights-{epoch}.npz"), save_weights_only=True)
    history = model.fit(x, y, epochs=3, validation_split=0.25, verbose=0, callbacks=[every, best, weights])
    names = sorted(p.name for p in tmp_path.glob("ckpt-*"))
    assert [n[:8] for n in names] == ["ckpt-01-", "ckpt-02-", "ckpt-03-"]
    assert names[0] == f"ckpt-01-{history.history['loss'][0]:.3f}.nnlib"
    acc = history.history["val_accuracy"]
    expected_saves = sum(1 for i, a in enumerate(acc) if all(a > b for b in acc[:i]))
    assert len(best.saved) == expected_saves and best.best == max(acc)
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["weights-1.npz", "weights-2.npz", "weights-3.npz"]
    restored = load_model(tmp_path / names[-1])
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    fresh = _model(seed=5)
    fresh.load_weights(tmp_path / "w" / "weights-3.npz")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(KeyError, match="val_auc"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "{val_auc}.h5"))])


def test_model_checkpoint_save_freq(tmp_path):
    """Keras' save_freq: 'epoch' (the default) or every N training batches, counted across epochs."""
    x, y = _fit_data()  # 64 rows, batch_size 16: 4 batches an epoch
    assert ModelCheckpoint(str(tmp_path / "a.nnlib")).save_freq == "epoch"
    every3 = ModelCheckpoint(str(tmp_path / "b-{epoch}-{batch}-{loss:.3f}.nnlib"), "loss", 0, False, False, "auto", 3)
    history = _model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[every3])
    assert [os.path.basename(p).split("-")[1:3] for p in every3.saved] == [["1", "3"], ["2", "2"]]  # batches 3, 6
    assert len(history.history["loss"]) == 2
    for bad in (0, -2, 2.5, "batch", True):
        with pytest.raises(ValueError, match="save_freq must be 'epoch' or a whole number of batches"):
            ModelCheckpoint(str(tmp_path / "c.nnlib"), save_freq=bad)


def test_learning_rate_scheduler_changes_optimizer_lr():
    x, y = _fit_data()
    model = _model()
    seen = []
    recorder = LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.lr))
    sched = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[sched, recorder])
    assert seen == [0.5, 0.25, 0.125, 0.0625]
    assert history.history["learning_rate"] == seen
    assert model.optimizer.param_groups[0]["lr"] == 0.0625
    one_arg = LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[one_arg])
    assert model.optimizer.lr == pytest.approx(0.05)
    with pytest.raises(ValueError, match="invalid learning rate"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: -1.0)])


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_terminate_on_nan(capsys):
    x, y = _fit_data()
    nnlib.manual_seed(0)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(1)])
    model.compile(optim.SGD(lr=1e20), "mse")
    cb = TerminateOnNaN()
    history = model.fit(x, y, epochs=10, batch_size=8, shuffle=False, verbose=0, callbacks=[cb])
    assert cb.stopped_batch is not None and len(history.history["loss"]) < 10
    assert not math.isfinite(history.history["loss"][-1])
    assert "Invalid loss, terminating training" in capsys.readouterr().out


def test_callback_order_and_hooks():
    x, y = _fit_data(n=20)
    model = _model()
    events = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            events.append(("train_begin", self.params["epochs"], self.params["steps"]))

        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch_begin", epoch))

        def on_batch_end(self, batch, logs=None):
            events.append(("batch_end", batch, sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

        def on_train_end(self, logs=None):
            events.append(("train_end",))

    rec = Recorder()
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[rec], initial_epoch=1)
    assert rec.model is model and isinstance(history, History)
    assert events == [("train_begin", 2, 2), ("epoch_begin", 1), ("batch_end", 0, ["accuracy", "loss"]),
                      ("batch_end", 1, ["accuracy", "loss"]), ("epoch_end", 1, ["accuracy", "loss"]),
                      ("train_end",)]
    assert history.epoch == [1]
    with pytest.raises(TypeError, match="instance"):
        model.fit(x, y, verbose=0, callbacks=[EarlyStopping])


def test_stop_training_from_a_callback_ends_after_the_batch():
    x, y = _fit_data(n=64)
    model = _model()

    class StopAtBatch2(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[StopAtBatch2()])
    assert len(history.history["loss"]) == 1


def test_progbar_logger_line_comes_before_other_callbacks_output(capsys):
    """fit's progress display is a callback that runs first: each epoch's line, then the callbacks' messages."""
    from nnlib.callbacks import ProgbarLogger

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    nnlib.manual_seed(0)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(2,))])
    model.compile("sgd", "binary_crossentropy")
    talk = LambdaCallback(on_epoch_end=lambda epoch, logs: print(f"callback saw epoch {epoch}"))
    model.fit(x, y, epochs=2, verbose=2, callbacks=[talk])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "callback saw epoch 0", "Epoch 2/2",
                                                       "callback saw epoch 1"]
    logger = ProgbarLogger(verbose=2)  # used by hand: the same lines
    logger.set_params({"epochs": 1, "steps": 3})
    logger.on_epoch_begin(0)
    for step in range(3):
        logger.on_train_batch_end(step, {"loss": 0.5})
    logger.on_epoch_end(0, {"loss": 0.25, "val_loss": 0.5})
    assert capsys.readouterr().out == "Epoch 1/1 - loss: 0.2500 - val_loss: 0.5000\n"
