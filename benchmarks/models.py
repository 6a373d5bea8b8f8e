"""The benchmarks' models, each built twice, in nnlib and in torch eager, from the same weights.

Every builder lives here, once: the MLP (``bench_mlp``), the CNN (``bench_cnn``), the GPT
(``bench_gpt``, against ``tests/nnlib/test_gpt.py``'s ``TorchGPT``, the reference those
tests prove equivalent) and the two served models (``bench_serve``). A ``*_step`` builder
returns a ``step()`` closure (forward, loss, backward, update; returns the loss), see
:func:`benchmarks._timing.training_step`.
"""
from __future__ import annotations

import numpy as np

from benchmarks._timing import training_step

CLASSES = 10
MLP_SIZES = (784, 256, 256, 10)
CNN_CHANNELS = (16, 32)
GPT_CONFIG = dict(vocab_size=65, context_length=64, d_model=128, n_heads=4, n_layers=4)
GPT_BATCH = 32


def glorot_uniform(rng, shape, fan_in: int, fan_out: int) -> np.ndarray:
    """Float32 weights from U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)) (Keras' default)."""
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def torch_linear(kernel: np.ndarray, bias: np.ndarray):
    """A ``torch.nn.Linear`` holding nnlib's Dense weights (kernel (in, out) is transposed to torch's (out, in))."""
    import torch

    lin = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(kernel.T.copy()))
        lin.bias.copy_(torch.from_numpy(bias))
    return lin


def _torch_classifier_step(model, x, y):
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    return training_step(lambda: model(xt), lambda out: loss_fn(out, yt), opt)


def _nnlib_classifier_step(forward, params, y):
    import nnlib.functional as F
    from nnlib.optim import Adam

    return training_step(forward, lambda h: F.cross_entropy(h, y), Adam(params, lr=1e-3))


# ------------------------------------------------------------------ the MLP (bench_mlp)
def mlp_data(batch: int, seed: int = 0):
    """Inputs (batch, 784), labels and the initial weights [(kernel (in, out), bias), ...]."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, MLP_SIZES[0])).astype(np.float32)
    y = rng.integers(0, MLP_SIZES[-1], size=batch)
    weights = [(glorot_uniform(rng, (fan_in, fan_out), fan_in, fan_out), np.zeros(fan_out, dtype=np.float32))
               for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:])]
    return x, y, weights


def nnlib_mlp_step(x, y, weights):
    """nnlib's MLP step: Parameters and ``@`` (chapters 03-04), softmax cross-entropy, Adam."""
    import nnlib

    params = []
    for w, b in weights:
        params += [nnlib.Parameter(w.copy()), nnlib.Parameter(b.copy())]
    xt = nnlib.Tensor(x)

    def forward():
        h = xt
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = h.relu()
        return h
    return _nnlib_classifier_step(forward, params, y)


def torch_mlp_step(x, y, weights):
    """The same MLP step in torch eager (``nn.Linear``, ``nn.ReLU``)."""
    import torch

    layers = []
    for i, (w, b) in enumerate(weights):
        layers.append(torch_linear(w, b))
        if i < len(weights) - 1:
            layers.append(torch.nn.ReLU())
    return _torch_classifier_step(torch.nn.Sequential(*layers), x, y)


# ------------------------------------------------------------------ the CNN (bench_cnn)
def cnn_data(size: int, batch: int, seed: int = 0):
    """Inputs (batch, size, size, 1), labels, and the initial weights in nnlib's (Keras') layout."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, size, size, 1)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=batch)
    weights, c_in = [], 1
    for c_out in CNN_CHANNELS:
        weights.append((glorot_uniform(rng, (3, 3, c_in, c_out), 9 * c_in, 9 * c_out),
                        np.zeros(c_out, dtype=np.float32)))
        c_in = c_out
    side = size // 2 // 2
    features = side * side * CNN_CHANNELS[-1]
    weights.append((glorot_uniform(rng, (features, CLASSES), features, CLASSES), np.zeros(CLASSES, dtype=np.float32)))
    return x, y, weights


def nnlib_cnn_step(x, y, weights):
    """nnlib's CNN step: Keras-style layers, channels-last (``nnlib.layers.Conv2D``)."""
    import nnlib
    from nnlib.layers import Conv2D, Dense, Flatten, MaxPooling2D

    layers = []
    for w, b in weights[:-1]:
        conv = Conv2D(w.shape[-1], 3, padding="same", activation="relu", input_shape=(None, None, w.shape[2]))
        conv.set_weights([w, b])
        layers += [conv, MaxPooling2D()]
    dense = Dense(CLASSES, input_dim=weights[-1][0].shape[0])
    dense.set_weights(list(weights[-1]))
    layers += [Flatten(), dense]
    xt = nnlib.Tensor(x)

    def forward():
        h = xt
        for layer in layers:
            h = layer(h)
        return h
    return _nnlib_classifier_step(forward, [p for layer in layers for p in layer.parameters()], y)


def torch_cnn_step(x, y, weights):
    """The same CNN step in torch eager (``nn.Conv2d``, channels-first; weights permuted to its layout)."""
    import torch

    mods, c_in = [], 1
    for w, b in weights[:-1]:
        conv = torch.nn.Conv2d(c_in, w.shape[-1], 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(b))
        mods += [conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
        c_in = w.shape[-1]
    kernel, bias = weights[-1]
    side = int(round((kernel.shape[0] / CNN_CHANNELS[-1]) ** 0.5))
    # nnlib flattens (H, W, C), torch (C, H, W): permute the dense rows to match
    rows = kernel.reshape(side, side, CNN_CHANNELS[-1], CLASSES).transpose(2, 0, 1, 3).reshape(-1, CLASSES)
    model = torch.nn.Sequential(*mods, torch.nn.Flatten(), torch_linear(rows, bias))
    return _torch_classifier_step(model, x.transpose(0, 3, 1, 2).copy(), y)


# ------------------------------------------------------------------ the GPT (bench_gpt)
def nnlib_gpt(seed: int = 0):
    """The benchmark GPT (``GPT_CONFIG``, about 0.8M parameters), seeded: the same weights on every call."""
    import nnlib
    from nnlib.gpt import GPT, GPTConfig

    nnlib.manual_seed(seed)
    return GPT(GPTConfig(**GPT_CONFIG))


def torch_gpt(model):
    """``model`` in torch: the tests' reference ``TorchGPT`` with nnlib's weights copied in."""
    from tests.nnlib.test_gpt import TorchGPT

    return TorchGPT.from_nnlib(model)


def gpt_tokens(seed: int = 0, n: int = 200_000) -> np.ndarray:
    """Random token ids to train on (the step time does not depend on the text)."""
    return np.random.default_rng(seed).integers(0, GPT_CONFIG["vocab_size"], size=n)


# ------------------------------------------------------------------ the served models (bench_serve)
def serve_mlp():
    """The /v1/predict model: 30 -> 2048 -> 2048 -> 2 (softmax), seeded."""
    import nnlib
    from nnlib.layers import Dense
    from nnlib.models import Sequential

    nnlib.manual_seed(0)
    return Sequential([Dense(2048, activation="relu", input_shape=(30,)), Dense(2048, activation="relu"),
                       Dense(2, activation="softmax")], name="mlp")


def serve_gpt():
    """The /v1/generate model: the shipped character GPT (``data/checkpoints/gpt_char.nnlib``)."""
    from nnlib.datasets import data_path
    from nnlib.gpt import GPT

    return GPT.load(data_path("checkpoints/gpt_char.nnlib"))
