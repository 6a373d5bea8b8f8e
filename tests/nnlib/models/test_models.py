"""Chapters 06-07 and 09: Sequential, compile/fit/evaluate/predict, against hand-written torch loops."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

import nnlib
from nnlib import optim, regularizers
from nnlib.models import losses as keras_losses
from nnlib.callbacks import TerminateOnNaN
from nnlib.layers import Activation, BatchNormalization, Dense, Dropout, Flatten
from nnlib.models import Sequential, TrainingError


def _data(n=20, features=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(dtype)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(dtype)
    return x, y


def _model(dtype="float32", out_activation="sigmoid", units=1, hidden=4, features=3, seed=0):
    nnlib.manual_seed(seed)
    return Sequential([Dense(hidden, activation="relu", input_shape=(features,), dtype=dtype),
                       Dense(units, activation=out_activation, dtype=dtype)])


def _torch_copy(model):
    """nn.Sequential with the same weights (Keras kernels are torch weights transposed)."""
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    dtype = torch.float64 if dense[0].kernel.dtype == np.float64 else torch.float32
    modules = []
    for layer in dense:
        lin = torch.nn.Linear(*layer.kernel.shape).to(dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(layer.kernel.data.T))
            lin.bias.copy_(torch.tensor(layer.bias.data))
        modules.append(lin)
        if layer.activation_name == "relu":
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def _torch_fit(net, opt, x, y, epochs, batch_size):
    """The loop fit() runs with shuffle=False; epoch loss = sample-weighted mean of batch losses."""
    losses = []
    xt, yt = torch.tensor(x), torch.tensor(y).reshape(-1, 1)
    for _ in range(epochs):
        total = 0.0
        for lo in range(0, len(x), batch_size):
            xb, yb = xt[lo:lo + batch_size], yt[lo:lo + batch_size]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(x))
    return losses


def _assert_same_weights(model, net, rtol, atol):
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    for layer, lin in zip(model.layers, linears):
        np.testing.assert_allclose(layer.kernel.data, lin.weight.detach().numpy().T, rtol=rtol, atol=atol)
        np.testing.assert_allclose(layer.bias.data, lin.bias.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("which", ["sgd", "adam", "adam_by_name"])
def test_fit_equals_torch_loop(dtype, tol, which):
    x, y = _data(dtype=dtype)
    model = _model(dtype=np.dtype(dtype).name)
    net = _torch_copy(model)
    if which == "sgd":
        ours, theirs = optim.SGD(lr=0.1), torch.optim.SGD(net.parameters(), lr=0.1)
    elif which == "adam":
        ours, theirs = optim.Adam(lr=0.01), torch.optim.Adam(net.parameters(), lr=0.01)
    else:  # by name: Keras' defaults, lr 0.001 and epsilon 1e-7
        ours, theirs = "adam", torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7)
    model.compile(optimizer=ours, loss="binary_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)  # batches 8, 8, 4
    expected = _torch_fit(net, theirs, x, y, epochs=3, batch_size=8)
    np.testing.assert_allclose(history.history["loss"], expected, rtol=tol, atol=tol)
    _assert_same_weights(model, net, rtol=tol, atol=tol)
    assert model.layers[0].kernel.dtype == dtype


def test_keras_optimizer_defaults_by_name():
    model = _model()
    for name, expected in [("adam", {"lr": 0.001, "eps": 1e-7}), ("sgd", {"lr": 0.01}),
                           ("rmsprop", {"lr": 0.001, "alpha": 0.9, "eps": 1e-7}),
                           ("adamw", {"lr": 0.001, "eps": 1e-7, "weight_decay": 0.004})]:
        model.compile(optimizer=name, loss="mse")
        group = model.optimizer.param_groups[0]
        assert {k: group[k] for k in expected} == expected
        assert len(group["params"]) == 4
    model.compile(optimizer=optim.Adam, loss="mse")
    assert model.optimizer.param_groups[0]["eps"] == 1e-8  # classes keep torch's defaults


def test_keras_defaults_are_compiles_alone():
    """One name, one meaning outside compile: optim.get('adam') is torch's Adam; nnlib.models exports no Keras table."""
    assert optim.get("adam").defaults["eps"] == 1e-8 and optim.get("rmsprop").defaults["alpha"] == 0.99
    assert not hasattr(nnlib.models, "get_optimizer") and not hasattr(nnlib.models, "KERAS_OPTIMIZER_DEFAULTS")
    assert "eps=1e-7" in Sequential.compile.__doc__  # the Keras defaults are documented where they apply


def test_validation_split_takes_last_rows_before_shuffling():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.zeros(20, dtype=np.float32)
    seen = []
    model = _model(features=2)
    model.compile("sgd", "binary_crossentropy")
    original = model._evaluate_data

    def spy_eval(data, *args, **kwargs):
        seen.append(data.x.copy())
        return original(data, *args, **kwargs)
    model._evaluate_data = spy_eval
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    # floor(20 * 0.75) = 15: the last 5 rows validate, every epoch, unshuffled
    for xv in seen:
        np.testing.assert_array_equal(xv, x[15:])
    assert set(history.history) == {"loss", "val_loss"}
    cut = math.floor(7 * (1 - 0.3))
    model2 = _model(features=2)
    model2.compile("sgd", "binary_crossentropy")
    seen.clear()
    model2._evaluate_data = lambda data, *a, **k: seen.append(len(data.x)) or {"loss": 0.0}
    model2.fit(x[:7], y[:7], epochs=1, validation_split=0.3, verbose=0)
    assert seen == [7 - cut]


def test_validation_data_goes_through_the_checks_x_and_y_get():
    """Empty, NaN or sample-weighted validation data is a clear error (was: a crash, a silent NaN, ignored weights)."""
    x, y = _data(n=8)
    model = _model()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"fit \(validation_data\): x has no samples"):
        model.fit(x, y, validation_data=(x[:0], y[:0]), verbose=0)
    with pytest.raises(ValueError, match=r"fit \(validation_data\).*x.*NaN"):
        model.fit(x, y, validation_data=(x * np.nan, y), verbose=0)
    with pytest.raises(ValueError, match=r"fit \(validation_data\): x has 8 samples but y has 3"):
        model.fit(x, y, validation_data=(x, y[:3]), verbose=0)
    with pytest.raises(ValueError, match="sample weights.*pass \\(x_val, y_val\\)"):
        model.fit(x, y, validation_data=(x, y, np.ones(8)), verbose=0)
    history = model.fit(x, y, validation_data=(x, y, None), validation_batch_size=3, verbose=0)
    assert set(history.history) == {"loss", "val_loss"}
    with pytest.raises(ValueError, match="fit: batch_size must be a positive integer, got 0"):
        model.fit(x, y, validation_split=0.5, validation_batch_size=0, verbose=0)


def test_validation_metrics_use_end_of_epoch_weights_and_history_contents():
    x, y = _data(n=50)
    model = _model()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    xv, yv = _data(n=10, seed=5)
    history = model.fit(x, y, epochs=4, batch_size=16, validation_data=(xv, yv), verbose=0)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 4 for v in history.history.values())
    assert history.epoch == [0, 1, 2, 3]
    assert history.params == {"verbose": 0, "epochs": 4, "steps": 4}
    assert model.history is history
    val_loss, val_acc = model.evaluate(xv, yv, verbose=0)
    assert val_loss == pytest.approx(history.history["val_loss"][-1], rel=1e-6)
    assert val_acc == pytest.approx(history.history["val_accuracy"][-1])
    assert all(isinstance(v, float) for v in history.history["loss"])


def test_evaluate_averages_over_samples_with_partial_last_batch():
    x, y = _data(n=10)
    model = _model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    loss, acc = model.evaluate(x, y, batch_size=4, verbose=0)  # batches 4, 4, 2
    p = model.predict(x, verbose=0)
    eps = 1e-7
    pc = np.clip(p[:, 0].astype(np.float64), eps, 1 - eps)
    expected = -np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert acc == pytest.approx(np.mean((p[:, 0] > 0.5) == y))
    assert model.evaluate(x, y, batch_size=3, verbose=0)[0] == pytest.approx(loss, rel=1e-5)
    model.compile("sgd", "binary_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)  # no metrics: a float, as Keras
    assert model.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss"}


def test_predict_batches_and_inference_mode():
    x, _ = _data(n=70)
    model = _model()
    full = model.predict(x, batch_size=1000, verbose=0)
    np.testing.assert_allclose(model.predict(x, batch_size=16, verbose=0), full, rtol=1e-6)
    assert full.shape == (70, 1) and full.dtype == np.float32
    assert model.predict(x[:0], verbose=0).shape == (0, 1)
    nnlib.manual_seed(0)
    drop = Sequential([Dense(8, input_shape=(3,)), Dropout(0.5), BatchNormalization(), Dense(1)])
    a = drop.predict(x, verbose=0)
    np.testing.assert_array_equal(a, drop.predict(x, verbose=0))
    assert drop.training  # predict restores the mode it found


def test_batch_norm_and_dropout_in_fit_versus_predict():
    x, y = _data(n=64, features=4)
    nnlib.manual_seed(1)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), BatchNormalization(), Dropout(0.3),
                        Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    bn = model.layers[1]
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert not np.allclose(bn.moving_mean, 0)  # fit used batch statistics and updated the moving ones
    frozen = bn.moving_mean.copy()
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean, frozen)
    h = model.layers[0](x)
    expected = (h.data - bn.moving_mean) / np.sqrt(bn.moving_variance + 1e-3) * bn.gamma.data + bn.beta.data
    expected = model.layers[3].linear(nnlib.Tensor(expected.astype(np.float32))).data
    np.testing.assert_allclose(model.predict(x, verbose=0), 1 / (1 + np.exp(-expected)), rtol=1e-5, atol=1e-6)


def test_fused_loss_is_exact_at_extreme_logits():
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(1,))])
    model.set_weights([np.array([[1.0]]), np.array([0.0])])
    model.compile("sgd", "binary_crossentropy")
    x = np.array([[200.0], [-200.0]], dtype=np.float32)
    y = np.array([0.0, 1.0], dtype=np.float32)
    loss = model.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(200.0, rel=1e-6)  # from the logits; clipped probabilities would give 16.1
    history = model.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(200.0, rel=1e-6)
    assert np.all(np.isfinite(model.get_weights()[0]))
    # and a sigmoid output with a non-matching loss uses the probabilities
    model.set_weights([np.array([[1.0]]), np.array([0.0])])
    model.compile("sgd", "mse")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(1.0)


def test_fused_and_unfused_losses_agree_in_normal_range():
    x, y = _data(n=30)
    fused = _model()
    fused.compile("sgd", "binary_crossentropy")
    plain = _model()
    plain.compile("sgd", keras_losses.binary_crossentropy)  # the function form also fuses
    custom = _model()
    custom.compile("sgd", lambda yt, yp: keras_losses.BinaryCrossentropy()(yt, yp))  # never fused
    a = fused.fit(x, y, epochs=2, shuffle=False, batch_size=8, verbose=0).history["loss"]
    b = plain.fit(x, y, epochs=2, shuffle=False, batch_size=8, verbose=0).history["loss"]
    c = custom.fit(x, y, epochs=2, shuffle=False, batch_size=8, verbose=0).history["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(a, c, rtol=1e-5)


@pytest.mark.parametrize("loss,labels", [("sparse_categorical_crossentropy", "int"),
                                         ("categorical_crossentropy", "onehot")])
def test_softmax_classification_matches_torch(loss, labels):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 5)).astype(np.float32)
    t = rng.integers(0, 3, 24)
    y = t if labels == "int" else np.eye(3, dtype=np.float32)[t]
    nnlib.manual_seed(0)
    model = Sequential([Dense(3, activation="softmax", input_shape=(5,))])
    net = torch.nn.Linear(5, 3)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(model.layers[0].kernel.data.T))
        net.bias.copy_(torch.tensor(model.layers[0].bias.data))
    model.compile(optim.SGD(lr=0.5), loss, metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(2):
        for lo in range(0, 24, 10):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(torch.tensor(x[lo:lo + 10])), torch.tensor(t[lo:lo + 10])).backward()
            opt.step()
    np.testing.assert_allclose(model.layers[0].kernel.data, net.weight.detach().numpy().T, rtol=1e-5, atol=1e-6)
    p = model.predict(x, verbose=0)
    loss_value, acc = model.evaluate(x, y, verbose=0)
    assert acc == pytest.approx(np.mean(p.argmax(1) == t))
    expected = torch.nn.functional.cross_entropy(net(torch.tensor(x)), torch.tensor(t)).item()
    assert loss_value == pytest.approx(expected, rel=1e-5)
    assert "accuracy" in history.history


def test_regression_with_mse_and_mae_metric():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 2)).astype(np.float32)
    y = x @ np.array([2.0, -1.0], dtype=np.float32) + 0.5
    nnlib.manual_seed(0)
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile(optim.SGD(lr=0.1), "mse", metrics=["mae"])
    history = model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 1e-3
    loss, mae = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0)[:, 0]
    assert mae == pytest.approx(np.mean(np.abs(p - y)), rel=1e-4)
    assert loss == pytest.approx(np.mean((p - y) ** 2), rel=1e-4)


def test_trainable_takes_effect_at_next_compile():
    x, y = _data(n=16)
    model = _model()
    model.compile(optim.SGD(lr=0.1), "binary_crossentropy")
    model.layers[0].trainable = False  # not compiled yet: the first layer still trains
    before = model.layers[0].kernel.data.copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(before, model.layers[0].kernel.data)
    model.compile(optim.SGD(lr=0.1), "binary_crossentropy")  # now it is frozen
    frozen, head = model.layers[0].kernel.data.copy(), model.layers[1].kernel.data.copy()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(frozen, model.layers[0].kernel.data)
    assert not np.array_equal(head, model.layers[1].kernel.data)
    assert len(model.optimizer.param_groups[0]["params"]) == 2
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 5 (20.00 B)" in lines[0] and "Non-trainable params: 16 (64.00 B)" in lines[0]


def test_l2_regularization_is_in_the_loss_and_the_gradient():
    x, y = _data(n=8)
    nnlib.manual_seed(0)
    model = Sequential([Dense(1, input_shape=(3,), kernel_regularizer=regularizers.l2(0.1))])
    model.compile(optim.SGD(lr=0.1), "mse")
    w0, b0 = [w.astype(np.float64) for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    pred = x.astype(np.float64) @ w0 + b0
    expected = np.mean((pred[:, 0] - y) ** 2) + 0.1 * np.sum(w0 ** 2)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    grad_w = 2 * x.T.astype(np.float64) @ (pred - y[:, None]) / 8 + 0.2 * w0
    np.testing.assert_allclose(model.get_weights()[0], w0 - 0.1 * grad_w, rtol=1e-5, atol=1e-6)


def test_summary_table_and_unbuilt_error():
    model = Sequential([Dense(64, activation="relu", input_shape=(30,), name="d1"), Dropout(0.2, name="drop"),
                        Dense(1, activation="sigmoid", name="out")], name="seed_model")
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert 'Model: "seed_model"' in text
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text
    assert "d1 (Dense)" in text and "(None, 64)" in text and "1,984" in text
    assert "drop (Dropout)" in text and "out (Dense)" in text and "(None, 1)" in text
    assert "Total params: 2,049 (8.00 KB)" in text
    assert "Trainable params: 2,049 (8.00 KB)" in text and "Non-trainable params: 0 (0.00 B)" in text
    lazy = Sequential([Dense(4), Dense(1)])
    with pytest.raises(ValueError, match="not been built.*input_shape"):
        lazy.summary()
    lazy.build((None, 7))
    lazy.summary(print_fn=lines.append)
    assert "Total params: 37 (148.00 B)" in lines[-1]
    bn = Sequential([Dense(10, input_shape=(5,)), BatchNormalization()])
    bn.summary(print_fn=lines.append)
    assert "Total params: 100 (400.00 B)" in lines[-1] and "Non-trainable params: 20 (80.00 B)" in lines[-1]


def test_keras_size_text_example():
    model = Sequential([Dense(64, input_shape=(64,)), Dense(4)])  # 4,160 + 260 = 4,420
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 4,420 (17.27 KB)" in lines[0]
    model2 = Sequential([Dense(64, input_shape=(65,)), Dense(1)])  # 4,224 + 65 = 4,289
    model2.summary(print_fn=lines.append)
    assert "Total params: 4,289 (16.75 KB)" in lines[-1]


def test_add_pop_lazy_build_and_names():
    model = Sequential()
    model.add(Dense(8, activation="relu"))
    model.add(Dense(1))
    assert not model.built
    out = model(np.ones((3, 5), dtype=np.float32))
    assert out.shape == (3, 1) and model.built and model.input_shape == (None, 5)
    model.add(Dense(2))  # built at once: the input shape is known
    assert model.layers[-1].kernel.shape == (1, 2) and model.output_shape == (None, 2)
    popped = model.pop()
    assert popped.units == 2 and len(model.layers) == 2
    with pytest.raises(TypeError, match="parentheses"):
        model.add(Dense)
    with pytest.raises(TypeError, match="layer such as Dense"):
        model.add("dense")
    with pytest.raises(ValueError, match="already has a layer named"):
        Sequential([Dense(1, name="a"), Dense(1, name="a")])
    m = Sequential([Dense(1, name="dense_77"), Activation("relu"), Flatten()])
    assert [layer.name for layer in m.layers][0] == "dense_77"
    assert len(model.parameters()) == 4 and set(model.state_dict()) == {
        "layers.0.kernel", "layers.0.bias", "layers.1.kernel", "layers.1.bias"}


def test_pandas_and_list_inputs():
    x, y = _data(n=12)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    series = pd.Series(y.astype(np.int64), name="label")
    model = _model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    h = model.fit(frame, series, epochs=1, verbose=0)
    assert len(h.history["loss"]) == 1
    np.testing.assert_allclose(model.predict(frame, verbose=0), model.predict(x.tolist(), verbose=0))
    bad = frame.assign(d=["x"] * 12)
    with pytest.raises(ValueError, match=r"non-numeric columns \['d'\]"):
        model.fit(bad, series, verbose=0)


def test_progress_output_verbose_levels(capsys):
    """verbose 0: nothing; 2: one summary line per epoch; 1: a bar on stderr that is erased, then the same lines."""
    x, y = _data(n=20)
    model = _model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    history = model.fit(x, y, epochs=2, verbose=2, validation_split=0.2)
    captured = capsys.readouterr()
    assert captured.err == ""
    h = history.history
    expected = [f"Epoch {e + 1}/2 - loss: {h['loss'][e]:.4f} - accuracy: {h['accuracy'][e]:.4f} - "
                f"val_loss: {h['val_loss'][e]:.4f} - val_accuracy: {h['val_accuracy'][e]:.4f}" for e in range(2)]
    assert captured.out.splitlines() == expected  # no timings: the same text on every run
    model.fit(x, y, epochs=2, verbose=1, validation_split=0.2)
    captured = capsys.readouterr()
    assert [line.split(" - ")[0] for line in captured.out.splitlines()] == ["Epoch 1/2", "Epoch 2/2"]
    assert "val_loss: " in captured.out
    # the live bar went to stderr and was erased (leave=False): it ends with a carriage return
    assert "Epoch 1/2" in captured.err and captured.err.rstrip(" ").endswith("\r")
    model.evaluate(x, y, verbose=1)
    assert capsys.readouterr().out.startswith("Evaluate - loss: ")
    model.predict(x, verbose=1)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)


def test_progress_summary_replaces_the_bar_in_jupyter(monkeypatch):
    """In a notebook the bar's display is replaced by the summary line, so a saved notebook keeps only text."""
    import IPython.display
    import tqdm.notebook

    from nnlib import progress

    shown, updates, bars = [], [], []

    class Handle:
        def update(self, data, raw=False):
            updates.append((data, raw))

    class FakeNotebookBar(tqdm.notebook.tqdm):
        def __init__(self, *args, **kwargs):  # no widgets needed: record the arguments only
            bars.append(kwargs)
            self.container, self.total, self.n = object(), kwargs["total"], 0

        def update(self, n=1):
            self.n += n

        def set_postfix_str(self, *args, **kwargs):
            pass

        def close(self):
            bars[-1]["closed"] = True

    monkeypatch.setattr(progress, "_tqdm", lambda: FakeNotebookBar)
    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=False: shown.append(obj) or Handle())
    x, y = _data(n=20)
    model = _model()
    model.compile("sgd", "binary_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=1)
    assert len(bars) == 3 and all(b["leave"] is False and b["display"] is False and b["closed"] for b in bars)
    assert len(shown) == 3
    assert [u[0]["text/plain"] for u in updates] == [
        f"Epoch {e + 1}/3 - loss: {loss:.4f}" for e, loss in enumerate(history.history["loss"])]


def test_progress_helper_for_plain_loops(capsys):
    from nnlib.progress import progress

    assert sum(progress(range(5), desc="pretraining")) == 10
    assert capsys.readouterr().out == "pretraining: 5 steps\n"
    for i in progress(range(5), desc="x"):
        if i == 2:
            break
    assert capsys.readouterr().out == ""  # stopped early: the bar goes, nothing stays
    list(progress(range(3), verbose=2, summary="done"))
    assert capsys.readouterr().out == "done\n"


# ---------------------------------------------------------------------- bad input
def test_error_feature_count_mismatch():
    model = _model()
    model.compile("adam", "binary_crossentropy")
    x, y = _data(n=10, features=5)
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.predict(x, verbose=0)):
        with pytest.raises(ValueError, match=r"layer 'dense.*\(Dense\).*\(None, 3\).*\(10, 5\).*5 features"):
            call()
    with pytest.raises(ValueError, match=r"1-D"):
        model.predict(np.ones(3), verbose=0)


def test_error_labels_wrong_shape_or_type():
    x, y = _data(n=10)
    model = _model()
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, verbose=0)  # (N,) labels for a (N, 1) output are fine, as in Keras
    model.fit(x, y.reshape(-1, 1), verbose=0)
    with pytest.raises(ValueError, match=r"labels of shape \(10, 2\).*output shape \(None, 1\)"):
        model.fit(x, np.eye(2)[y.astype(int)], verbose=0)
    with pytest.raises(ValueError, match="0 or 1.*sparse_categorical_crossentropy"):
        model.fit(x, y * 3, verbose=0)
    with pytest.raises(ValueError, match="x has 10 samples but y has 9"):
        model.fit(x, y[:9], verbose=0)
    with pytest.raises(ValueError, match="numbers"):
        model.fit(x, np.array(["a"] * 10), verbose=0)
    multi = _model(units=3, out_activation="softmax")
    multi.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="one-hot.*categorical_crossentropy"):
        multi.fit(x, np.eye(3)[np.arange(10) % 3], verbose=0)
    with pytest.raises(ValueError, match="class indices 0..2"):
        multi.fit(x, np.arange(10), verbose=0)
    multi.fit(x, np.arange(10).reshape(-1, 1) % 3, verbose=0)  # (N, 1) integer labels are accepted
    multi.compile("adam", "categorical_crossentropy")
    with pytest.raises(ValueError, match="integer class labels.*sparse_categorical_crossentropy"):
        multi.fit(x, np.arange(10) % 3, verbose=0)


def test_error_unknown_names_list_valid_ones():
    model = _model()
    valid = r"\['adam', 'adamw', 'rmsprop', 'sgd'\]"
    with pytest.raises(ValueError, match=r"unknown optimizer 'adm' \(did you mean 'adam'\?\).*" + valid):
        model.compile("adm", "mse")
    with pytest.raises(ValueError, match=r"unknown loss 'binary_cross_entropy'.*binary_crossentropy"):
        model.compile("adam", "binary_cross_entropy")
    with pytest.raises(ValueError, match=r"unknown metric 'accurracy' \(did you mean 'accuracy'\?\)"):
        model.compile("adam", "mse", metrics=["accurracy"])
    with pytest.raises(ValueError, match="a loss is needed"):
        model.compile("adam")
    with pytest.raises(RuntimeError, match="must be compiled"):
        _model().fit(*_data(), verbose=0)


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_error_nan_loss_says_epoch_and_batch():
    x, y = _data(n=40)
    model = _model()
    model.compile(optim.SGD(lr=1e30), "mse")
    with pytest.raises(TrainingError, match=r"epoch \d+/5, batch \d+/3.*TerminateOnNaN") as info:
        model.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0)
    assert isinstance(info.value, FloatingPointError)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())  # the bad update was not applied
    bad = x.copy()
    bad[3, 1] = np.nan
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"x contains 1 NaN.*row 3.*dropna"):
        model.fit(bad, y, verbose=0)


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_terminate_on_nan_stops_cleanly(capsys):
    x, y = _data(n=40)
    model = _model()
    model.compile(optim.SGD(lr=1e30), "mse")
    history = model.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(history.history["loss"]) < 5 and not math.isfinite(history.history["loss"][-1])
    assert "Invalid loss, terminating training" in capsys.readouterr().out


def test_fit_on_breast_cancer_sized_data_learns_and_stays_float32():
    """Speed is measured by benchmarks/, not by a timed test; here: no silent float64 promotion."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((455, 30)).astype(np.float32)
    y = (x[:, :3].sum(1) > 0).astype(np.float32)
    model = Sequential([Dense(64, activation="relu", input_shape=(30,)), Dense(64, activation="relu"),
                        Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=50, batch_size=32, validation_split=0.2, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model.predict(x[:5], verbose=0).dtype == np.float32


def test_an_optimizer_attached_to_one_model_is_refused_by_another():
    """Reusing one optimizer object for a second model would silently train the first model's weights."""
    opt = optim.Adam(lr=0.01)
    first, second = _model(seed=0), _model(seed=1)
    first.compile(opt, "mse")
    with pytest.raises(ValueError, match="already attached to model 'sequential.*'.*new optimizer"):
        second.compile(opt, "mse")
    first.compile(opt, "mse")  # compiling the same model again re-attaches (e.g. after freezing a layer)
    assert first.optimizer is opt
    assert first.optimizer_attached and not second.compiled
    assert not any(name.startswith("_nnlib") for name in vars(opt))  # nothing stashed on the optimizer


def test_optimizer_ownership_is_weak_and_outlives_its_model():
    """compile's registry never keeps a model alive; an optimizer whose model is gone is still refused."""
    import gc
    import weakref

    opt = optim.SGD(lr=0.1)
    first = _model(seed=0)
    first.compile(opt, "mse")
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None  # the registry holds the model weakly
    with pytest.raises(ValueError, match="already attached to another model"):
        _model(seed=1).compile(opt, "mse")  # its parameter group still holds the dead model's weights


def test_a_deep_copy_of_a_compiled_model_owns_its_copy_of_the_optimizer(tmp_path):
    import copy

    from nnlib.models import load_model

    x, y = _data(n=16)
    model = _model()
    model.compile(optim.Adam(lr=0.01), "binary_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    twin = copy.deepcopy(model)
    assert twin.optimizer is not model.optimizer and twin.optimizer_attached
    twin.compile(twin.optimizer, "binary_crossentropy")  # re-attaches to the twin's own weights
    assert all(p is q for p, q in zip(twin.optimizer.param_groups[0]["params"], twin.parameters()))
    with pytest.raises(ValueError, match="already attached"):
        twin.compile(model.optimizer, "mse")
    twin.save(tmp_path / "twin.nnlib")  # no "state is not saved" warning: the state travels
    assert load_model(tmp_path / "twin.nnlib").optimizer.state_dict()["state"]


def test_an_optimizer_built_with_parameters_is_used_as_it_is_and_not_attached():
    model = _model()
    own = optim.SGD(list(model.parameters())[:2], lr=0.1)  # only the first layer
    model.compile(own, "mse")
    assert model.optimizer is own and len(own.param_groups[0]["params"]) == 2
    assert not model.optimizer_attached
    model.compile("sgd", "mse")
    assert model.optimizer_attached and len(model.optimizer.param_groups[0]["params"]) == 4
    model.optimizer.add_param_group({"params": [nnlib.Parameter(np.zeros(2, np.float32))]})
    assert not model.optimizer_attached  # a second group cannot be restored by position


def test_accuracy_with_column_of_class_labels_is_sparse_like_keras():
    """Integer labels of shape (N, 1) against N x C outputs: Keras picks sparse categorical accuracy."""
    x, _ = _data(n=30)
    labels = (np.arange(30) % 3).reshape(-1, 1)
    model = _model(out_activation=None, units=3)
    model.compile("sgd", loss=lambda yt, yp: nnlib.functional.cross_entropy(yp, yt.reshape(-1).astype(np.int64)),
                  metrics=["accuracy"])
    expected = np.mean(model.predict(x, verbose=0).argmax(-1) == labels[:, 0])  # before the one step
    history = model.fit(x, labels, epochs=1, batch_size=30, shuffle=False, verbose=0)
    assert history.history["accuracy"] == [pytest.approx(expected)]


# ---------------------------------------------------------------------- trainable after compile (issue #9)
def test_unfreezing_after_compile_waits_for_the_next_compile():
    x, y = _data(n=16)
    model = _model()
    model.layers[0].trainable = False
    model.compile(optim.SGD(lr=0.1), "binary_crossentropy")
    model.layers[0].trainable = True  # not compiled yet: the first layer stays frozen
    frozen = model.layers[0].kernel.data.copy()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(frozen, model.layers[0].kernel.data)
    model.compile(model.optimizer, "binary_crossentropy")  # the same optimizer re-attached: now it trains
    assert len(model.optimizer.param_groups[0]["params"]) == 4
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(frozen, model.layers[0].kernel.data)


# ---------------------------------------------------------------------- fit = DataLoader + train_step
def _recorded_fit(kind):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(83, 4))
    if kind == "bin":  # dropout + validation_split + shuffle: the shuffles and masks share nnlib's generator
        y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float64)
        nnlib.manual_seed(3)
        model = Sequential([Dense(8, activation="relu", input_shape=(4,), dtype="float64"), Dropout(0.25),
                            Dense(1, activation="sigmoid", dtype="float64")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        nnlib.manual_seed(7)
        history = model.fit(x, y, epochs=4, batch_size=10, validation_split=0.25, verbose=0)
    else:
        y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1
        nnlib.manual_seed(3)
        model = Sequential([Dense(6, activation="tanh", input_shape=(4,), dtype="float64"), Dense(1, dtype="float64")])
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        nnlib.manual_seed(11)
        history = model.fit(x, y, epochs=3, batch_size=16, validation_data=(x[:20], y[:20]), verbose=0)
    return history.history, [float(w.sum()) for w in model.get_weights()]


# recorded with the fit of commit 1a7fb8a (its own batching loop), before fit used DataLoader and train_step
RECORDED = {
    "bin": ({"loss": [0.7754328704, 0.776409159, 0.8064467863, 0.8050524255],
             "accuracy": [0.5322580645, 0.4838709677, 0.4838709677, 0.4516129032],
             "val_loss": [0.6852554389, 0.6769763514, 0.6695307881, 0.6623284054],
             "val_accuracy": [0.5238095238] * 4},
            [-1.6945013502, -0.0406311592, 0.6599597072, -0.0085009077]),
    "reg": ({"loss": [4.4751094202, 3.4716897697, 2.6945364919], "mae": [1.7520526801, 1.5288891446, 1.3320324676],
             "val_loss": [2.1649872756, 1.6563402172, 1.177261232], "val_mae": [1.2556360008, 1.0716008825, 0.8963816537]},
            [-1.9663698821, 0.0216676393, 1.0708786059, 0.012479056]),
}


@pytest.mark.parametrize("kind", ["bin", "reg"])
def test_fit_history_unchanged_by_the_refactor(kind):
    """Same shuffles, same dropout masks, same numbers as the fit before train_step/DataLoader (1e-6)."""
    history, weight_sums = _recorded_fit(kind)
    expected_history, expected_sums = RECORDED[kind]
    assert list(history) == list(expected_history)
    for key, values in expected_history.items():
        np.testing.assert_allclose(history[key], values, rtol=0, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(weight_sums, expected_sums, rtol=0, atol=1e-6)


def test_train_step_is_the_chapter_07_loop():
    """model.train_step(xb, yb) == forward, loss, backward, step, zero_grad by hand (and fit == DataLoader + it)."""
    from nnlib import functional as F
    from nnlib.data import DataLoader

    x, y = _data(n=40, dtype=np.float64)
    y = y.reshape(-1, 1)
    by_hand, stepped, fitted = (_model(dtype="float64") for _ in range(3))
    opt = optim.Adam(by_hand.parameters(), lr=1e-2)
    hand_losses = []
    for xb, yb in DataLoader(x, y, batch_size=16, shuffle=True, seed=0):
        loss = F.binary_cross_entropy(by_hand(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        hand_losses.append(loss.item())
    stepped.compile(optim.Adam(lr=1e-2), "binary_crossentropy", metrics=["accuracy"])
    logs = [stepped.train_step(xb, yb) for xb, yb in DataLoader(x, y, batch_size=16, shuffle=True, seed=0)]
    # the logs are running means over the batches since reset_metrics(), weighted by the batch sizes
    sizes = np.array([16, 16, 8])
    running = np.cumsum(np.array(hand_losses) * sizes) / np.cumsum(sizes)
    np.testing.assert_allclose([entry["loss"] for entry in logs], running, rtol=1e-7)
    assert list(logs[0]) == ["loss", "accuracy"]
    fitted.compile(optim.Adam(lr=1e-2), "binary_crossentropy", metrics=["accuracy"])
    nnlib.manual_seed(0)  # fit draws its shuffle from nnlib's generator: the same permutation as seed=0
    history = fitted.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b, c in zip(by_hand.get_weights(), stepped.get_weights(), fitted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
    assert history.history["loss"][0] == pytest.approx(logs[-1]["loss"], rel=1e-10)
    stepped.reset_metrics()  # a new start: the next logs are that batch's own loss and accuracy
    loss_before, accuracy_before = stepped.evaluate(x[:8], y[:8], verbose=0)  # no dropout: same forward
    logs = stepped.train_step(x[:8], y[:8])
    assert logs["loss"] == pytest.approx(loss_before, rel=1e-12) and logs["accuracy"] == accuracy_before


def test_test_step_gives_evaluate_and_changes_nothing():
    x, y = _data(n=30)
    model = _model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    model.reset_metrics()
    for lo in range(0, 30, 8):
        logs = model.test_step(x[lo:lo + 8], y[lo:lo + 8].reshape(-1, 1))
    loss, acc = model.evaluate(x, y, batch_size=8, verbose=0)
    assert logs["loss"] == pytest.approx(loss, rel=1e-6) and logs["accuracy"] == pytest.approx(acc)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match="compiled first"):
        _model().train_step(x, y)


# ---------------------------------------------------------------------- API gaps (issue #9)
@pytest.mark.parametrize("bad,match", [(2.5, "fractions are not supported"), (None, "leave it out"),
                                       (-1, ">= 0"), ("3", "got '3'"), (True, "got True")])
def test_fit_epochs_must_be_a_whole_number(bad, match):
    x, y = _data(n=8)
    model = _model()
    model.compile("sgd", "binary_crossentropy")
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, epochs=bad, verbose=0)


def test_fit_epochs_whole_float_and_initial_epoch():
    x, y = _data(n=8)
    model = _model()
    model.compile("sgd", "binary_crossentropy")
    assert model.fit(x, y, epochs=3.0, verbose=0).epoch == [0, 1, 2]
    assert model.fit(x, y, epochs=3, initial_epoch=1, verbose=0).epoch == [1, 2]
    with pytest.raises(ValueError, match="initial_epoch"):
        model.fit(x, y, epochs=3, initial_epoch=0.5, verbose=0)


def test_fit_accepts_a_single_callback():
    from nnlib.callbacks import EarlyStopping, LambdaCallback

    x, y = _data(n=8)
    model = _model()
    model.compile("sgd", "binary_crossentropy")
    seen = []
    model.fit(x, y, epochs=2, verbose=0, callbacks=LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e)))
    assert seen == [0, 1]
    with pytest.raises(TypeError, match="pass the class instead of an instance"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=EarlyStopping)
    with pytest.raises(TypeError, match="callbacks must be a list"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=3)


@pytest.mark.parametrize("bad", [0, -1, 2.5, 3.0, "32", True])
def test_fit_batch_size_validation_kept(bad):
    x, y = _data(n=8)
    model = _model()
    model.compile("sgd", "binary_crossentropy")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.fit(x, y, batch_size=bad, verbose=0)


# ---------------------------------------------------------------------- module layout
def test_keras_losses_live_in_models_losses():
    from nnlib.models import losses

    assert losses.get("mse").__class__ is losses.MeanSquaredError
    y_true, y_pred = np.array([[1.0], [0.0]]), np.array([[0.9], [0.2]])
    expected = -(np.log(0.9) + np.log(0.8)) / 2
    assert losses.BinaryCrossentropy()(y_true, y_pred).item() == pytest.approx(expected)  # y_true first


def test_input_helpers_are_one_module():
    from nnlib import inputs

    assert inputs.shape_text((None, 30)) == "(None, 30)" and inputs.shape_text((5,)) == "(5,)"
    assert inputs.is_pandas(pd.DataFrame({"a": [1]})) and not inputs.is_pandas(np.zeros(2))
    with pytest.raises(ValueError, match="non-numeric columns"):
        inputs.to_numeric_array(pd.DataFrame({"a": ["x"]}), "x", "fit")
    with pytest.raises(ValueError, match="1 NaN or infinite value .the first in row 1"):
        inputs.check_finite(np.array([1.0, np.nan]), "x", "fit")


def test_uncompile_gives_an_inference_model_that_must_be_compiled_again():
    import numpy as np
    from nnlib.layers import Dense
    from nnlib.models import Sequential

    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    assert model.compiled and model.compiled_metrics == ["mae"] and model.optimizer_attached
    model.uncompile()
    assert not model.compiled and model.optimizer is None and not model.optimizer_attached
    assert model.predict(np.ones((1, 3), np.float32)).shape == (1, 2)
    with pytest.raises(RuntimeError, match="compiled first"):
        model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), epochs=1, verbose=0)
