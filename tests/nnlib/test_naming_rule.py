"""Issue 16: nnlib's naming rule (nnlib/__init__.py, README "nnlib's naming rule"), checked mechanically.

Every public name follows one library and takes that library's arguments, order and
defaults: torch's names (checked against ``torch.nn``, ``torch.nn.functional``,
``torch.optim``, ``torch.utils.data`` via ``inspect``), Keras' layers and callbacks (against
Keras' documented signatures, written out below: Keras is not a dependency) and
scikit-learn's utilities (against ``sklearn`` via ``inspect``).
"""
from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch

import nnlib
from nnlib import callbacks, data, functional, layers, losses, metrics, models, optim, regularizers

EMPTY = inspect.Parameter.empty
#: nnlib's own bookkeeping arguments, beside any library's: they never stand in a library's positional slot
EXTRAS = {"name", "trainable", "input_shape", "input_dim", "dtype", "rng", "seed"}
#: argument names only Keras uses (torch spells them otherwise): a torch-spelled name must take none of them
KERAS_ONLY = {"filters", "strides", "units", "rate", "epsilon", "pool_size", "data_format", "dilation_rate",
              "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer", "input_shape", "input_dim",
              "output_dim", "learning_rate", "beta_1", "beta_2", "rho", "stddev", "from_logits"}
AUDITED = (layers, models, optim, data, metrics, callbacks, losses, functional)

#: Keras 3's documented signatures (keras.io/api), the leading arguments in order, with defaults
#: (EMPTY: required). Keras writes strides=(1, 1) and data_format=None (the config's channels_last);
#: nnlib's 1 / "channels_last" mean the same and are mapped by _same().
KERAS = {
    "Dense": [("units", EMPTY), ("activation", None), ("use_bias", True), ("kernel_initializer", "glorot_uniform"),
              ("bias_initializer", "zeros"), ("kernel_regularizer", None), ("bias_regularizer", None)],
    "Conv2D": [("filters", EMPTY), ("kernel_size", EMPTY), ("strides", (1, 1)), ("padding", "valid"),
               ("data_format", None), ("dilation_rate", (1, 1)), ("groups", 1), ("activation", None),
               ("use_bias", True), ("kernel_initializer", "glorot_uniform"), ("bias_initializer", "zeros"),
               ("kernel_regularizer", None), ("bias_regularizer", None)],
    "Conv1D": [("filters", EMPTY), ("kernel_size", EMPTY), ("strides", 1), ("padding", "valid"),
               ("data_format", None), ("dilation_rate", 1), ("groups", 1), ("activation", None),
               ("use_bias", True), ("kernel_initializer", "glorot_uniform"), ("bias_initializer", "zeros"),
               ("kernel_regularizer", None), ("bias_regularizer", None)],
    # tf.keras 2's order (Keras 3 dropped output_padding); the defaults are the same in both
    "Conv2DTranspose": [("filters", EMPTY), ("kernel_size", EMPTY), ("strides", (1, 1)), ("padding", "valid"),
                        ("output_padding", None), ("data_format", None), ("dilation_rate", (1, 1)),
                        ("activation", None), ("use_bias", True), ("kernel_initializer", "glorot_uniform"),
                        ("bias_initializer", "zeros"), ("kernel_regularizer", None), ("bias_regularizer", None)],
    "MaxPooling2D": [("pool_size", (2, 2)), ("strides", None), ("padding", "valid"), ("data_format", None)],
    "AveragePooling2D": [("pool_size", (2, 2)), ("strides", None), ("padding", "valid"), ("data_format", None)],
    "GlobalAveragePooling2D": [("data_format", None), ("keepdims", False)],
    "BatchNormalization": [("axis", -1), ("momentum", 0.99), ("epsilon", 1e-3), ("center", True), ("scale", True)],
    "Dropout": [("rate", EMPTY), ("noise_shape", None), ("seed", None)],
    "GaussianNoise": [("stddev", EMPTY), ("seed", None)],
    "Activation": [("activation", EMPTY)],
    "Flatten": [("data_format", None)],
    "Embedding": [("input_dim", EMPTY), ("output_dim", EMPTY), ("embeddings_initializer", "uniform")],
    "MultiHeadAttention": [("num_heads", EMPTY), ("key_dim", EMPTY), ("value_dim", None), ("dropout", 0.0),
                           ("use_bias", True)],
    "EarlyStopping": [("monitor", "val_loss"), ("min_delta", 0), ("patience", 0), ("verbose", 0), ("mode", "auto"),
                      ("baseline", None), ("restore_best_weights", False), ("start_from_epoch", 0)],
    "ModelCheckpoint": [("filepath", EMPTY), ("monitor", "val_loss"), ("verbose", 0), ("save_best_only", False),
                        ("save_weights_only", False), ("mode", "auto"), ("save_freq", "epoch"),
                        ("initial_value_threshold", None)],
    "LearningRateScheduler": [("schedule", EMPTY), ("verbose", 0)],
    "L1": [("l1", 0.01)], "L2": [("l2", 0.01)], "L1L2": [("l1", 0.0), ("l2", 0.0)],
}
#: Keras' own aliases (keras.layers.MaxPool2D is MaxPooling2D): the same class under Keras' other spelling
KERAS_ALIASES = {"MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D"}
KERAS_STYLE = {"layers": layers, "callbacks": callbacks, "regularizers": regularizers}

def _params(obj) -> list:
    target = obj.__init__ if inspect.isclass(obj) else obj
    target = getattr(target, "__wrapped_op__", target)
    return [p for name, p in inspect.signature(target).parameters.items() if name != "self"]


def _positional(params) -> list:
    return [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _same(a, b) -> bool:
    """Equal defaults, with Keras' spellings of nnlib's (strides (1, 1) == 1, data_format None == channels_last)."""
    if isinstance(a, (tuple, list)) and len(set(a)) == 1 and not isinstance(b, (tuple, list)):
        a = a[0]
    if isinstance(b, (tuple, list)) and len(set(b)) == 1 and not isinstance(a, (tuple, list)):
        b = b[0]
    if {a, b} <= {None, "channels_last"} if not isinstance(a, (list, tuple)) else False:
        return True
    return a == b or (isinstance(a, (tuple, list)) and tuple(a) == tuple(b))


def _torch_twin(name):
    for space in (torch.nn, torch.optim, torch.utils.data, torch.nn.functional):
        twin = getattr(space, name, None)
        if twin is not None and callable(twin):
            return twin
    return None


def _torch_signature(fn):
    """torch's parameters; a C builtin has no signature, so read the one its docstring starts with."""
    try:
        return inspect.signature(fn).parameters
    except ValueError:
        head = (fn.__doc__ or "").strip().split("->")[0].strip()
        documented = re.match(r"(\w+)\(", head)  # F.logsigmoid is named log_sigmoid but documented as logsigmoid(
        assert documented, f"torch's {fn.__name__} has neither a signature nor one in its docstring"
        scope = {}
        exec(f"def {head}: pass", {"inf": float("inf")}, scope)  # noqa: S102 (torch's own docstring)
        return inspect.signature(scope[documented.group(1)]).parameters


#: (name, argument): where nnlib's default differs from torch's only in spelling
SAME_MEANING = {("DataLoader", "shuffle"): False,   # torch's None means "no shuffling"
                ("pad", "value"): 0.0}               # torch's None means 0


def _public(module) -> list:
    return [(module.__name__, n, getattr(module, n)) for n in getattr(module, "__all__", dir(module))
            if not n.startswith("_") and callable(getattr(module, n)) and not isinstance(getattr(module, n), type(np))]


TORCH_SPELLED = sorted({(mod, n): obj for m in AUDITED for mod, n, obj in _public(m)
                        if _torch_twin(n) is not None and n not in KERAS and n not in KERAS_ALIASES}.items())


@pytest.mark.parametrize("where, obj", [(f"{m}.{n}", obj) for (m, n), obj in TORCH_SPELLED],
                         ids=[f"{m}.{n}" for (m, n), _ in TORCH_SPELLED])
def test_torch_spelled_names_take_torch_arguments_and_defaults(where, obj):
    name = where.rsplit(".", 1)[1]
    ours, theirs = _params(obj), _torch_signature(_torch_twin(name))
    keras_args = {p.name for p in ours} & KERAS_ONLY
    assert not keras_args, f"{where} has torch's name but takes Keras' arguments {sorted(keras_args)}"
    if inspect.isclass(obj):  # a positional slot means the same in both (functions: first arg names differ freely)
        torch_pos = [p.name for p in _positional(list(theirs.values())) if p.name != "self"]
        for i, p in enumerate(_positional(ours)):
            if p.name in EXTRAS or i >= len(torch_pos):
                break
            assert p.name == torch_pos[i], f"{where}: positional argument {i} is {p.name!r}, torch's is {torch_pos[i]!r}"
    for p in ours:
        twin = theirs.get(p.name)
        if p.name in EXTRAS or twin is None or twin.default is EMPTY or p.default is EMPTY:
            continue
        if (name, p.name) in SAME_MEANING:
            assert p.default == SAME_MEANING[name, p.name] and twin.default is None
            continue
        assert p.default == twin.default, f"{where}({p.name}=...): nnlib's default {p.default!r}, torch's {twin.default!r}"


def test_there_is_no_conv2d_alias():
    """The trap of issue 16: Conv2d(3, 16, 3) built 3 filters with a 16x16 kernel and stride 3."""
    for name in ("Conv2d", "Conv1d", "Linear", "BatchNorm1d", "BatchNorm2d", "MaxPool2d", "AvgPool2d"):
        assert not hasattr(layers, name), name


KERAS_ROWS = [(sub, n, getattr(mod, n)) for sub, mod in KERAS_STYLE.items() for n in getattr(mod, "__all__", [])
              if n in KERAS]


@pytest.mark.parametrize("sub, name, obj", KERAS_ROWS, ids=[f"{s}.{n}" for s, n, _ in KERAS_ROWS])
def test_keras_style_names_take_keras_arguments_order_and_defaults(sub, name, obj):
    ours = {p.name: p for p in _params(obj)}
    positional = [p.name for p in _positional(_params(obj))]
    keras_names = [n for n, _ in KERAS[name]]
    shared = [n for n in positional if n in keras_names]
    assert shared == [n for n in keras_names if n in shared], f"{sub}.{name}: arguments {shared} out of Keras' order"
    for i, n in enumerate(positional):  # nnlib's positional slots are Keras' leading ones, in Keras' order
        if n in EXTRAS and n not in keras_names:
            break
        assert i < len(keras_names) and n == keras_names[i], \
            f"{sub}.{name}: positional argument {i} is {n!r}, Keras' is {keras_names[i] if i < len(keras_names) else None!r}"
    for n, default in KERAS[name]:
        if n not in ours:
            continue
        got = ours[n].default
        assert (got is EMPTY) == (default is EMPTY) and (default is EMPTY or _same(got, default)), \
            f"{sub}.{name}({n}=...): nnlib's default {got!r}, Keras' {default!r}"


def test_attention_layer_takes_neither_keras_nor_torch_name():
    """Keras' MultiHeadAttention(num_heads, key_dim), torch's MultiheadAttention(embed_dim, num_heads) with a
    (query, key, value) forward: nnlib's (d_model, num_heads) layer is SelfAttention, as nanoGPT's."""
    assert not hasattr(layers, "MultiHeadAttention") and not hasattr(layers, "MultiheadAttention")
    assert [p.name for p in _positional(_params(layers.SelfAttention))][:2] == ["d_model", "num_heads"]
    assert _torch_twin("SelfAttention") is None and "SelfAttention" not in KERAS


def test_keras_initializer_names_have_keras_defaults():
    """Keras' "uniform" is RandomUniform(-0.05, 0.05), "normal" RandomNormal(stddev=0.05); GPT-2's 0.02 has its own name."""
    from nnlib import initializers
    from nnlib.layers.sequence import gpt2_normal

    rng = np.random.default_rng(0)
    u = initializers.get("uniform")((200, 300), rng=rng)
    assert -0.05 <= u.min() < -0.049 and 0.049 < u.max() <= 0.05
    assert abs(initializers.get("normal")((200, 300), rng=rng).std() / 0.05 - 1) < 0.02
    assert abs(gpt2_normal()((200, 300), rng=rng).std() / 0.02 - 1) < 0.02
    nnlib.manual_seed(0)
    table = layers.Embedding(200, 300).embeddings.data           # Keras' default: uniform
    nnlib.manual_seed(0)
    np.testing.assert_array_equal(table, initializers.uniform((200, 300)))


def test_keras_aliases_are_keras_own():
    for alias, name in KERAS_ALIASES.items():
        assert getattr(layers, alias) is getattr(layers, name)


def test_batch_norm_defaults_are_keras_and_layer_norm_defaults_are_torch():
    bn, ln = layers.BatchNormalization(), layers.LayerNorm(4)
    assert (bn.momentum, bn.epsilon) == (0.99, 1e-3)
    assert ln.eps == torch.nn.LayerNorm(4).eps == 1e-5


SKLEARN = [("data", data, "train_test_split", "sklearn.model_selection"),
           ("data", data, "StandardScaler", "sklearn.preprocessing"),
           ("data", data, "MinMaxScaler", "sklearn.preprocessing")] + \
          [("metrics", metrics, n, "sklearn.metrics") for n in metrics.__all__
           if inspect.isfunction(getattr(metrics, n))]


@pytest.mark.parametrize("sub, module, name, home", SKLEARN, ids=[f"{s}.{n}" for s, _, n, _ in SKLEARN])
def test_scikit_learn_names_take_scikit_learn_arguments_and_defaults(sub, module, name, home):
    import importlib

    twin = getattr(importlib.import_module(home), name)
    theirs = inspect.signature(twin).parameters
    ours = _params(getattr(module, name))
    assert all(p.name in theirs for p in ours if p.kind is not p.VAR_POSITIONAL), \
        f"{sub}.{name} takes arguments scikit-learn's does not: {[p.name for p in ours if p.name not in theirs]}"
    their_pos = [p.name for p in _positional(list(theirs.values()))]
    for i, p in enumerate(_positional(ours)):
        assert i < len(their_pos) and p.name == their_pos[i] or theirs[p.name].kind is p.KEYWORD_ONLY, \
            f"{sub}.{name}: positional argument {i} {p.name!r} is not scikit-learn's"
    for p in ours:
        if p.name in theirs and theirs[p.name].default is not EMPTY and p.default is not EMPTY:
            if p.name == "zero_division" and theirs[p.name].default == "warn":  # 'warn': 0, with a warning
                assert p.default == 0
                continue
            assert p.default == theirs[p.name].default, \
                f"{sub}.{name}({p.name}=...): nnlib's default {p.default!r}, scikit-learn's {theirs[p.name].default!r}"


# ------------------------------------------------------------ the operations: NumPy's keywords, torch's too
def test_ops_take_numpy_keywords_and_torch_keywords_with_torch_meaning():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    x, t = nnlib.tensor(a), torch.from_numpy(a)
    np.testing.assert_allclose(x.std(axis=0).data, a.std(axis=0))            # NumPy's words: ddof=0
    np.testing.assert_allclose(x.std().data, a.std())                        # no keyword: NumPy's ddof=0
    np.testing.assert_allclose(x.std(dim=0).data, t.std(dim=0).numpy())      # torch's words: correction=1
    np.testing.assert_allclose(x.var(dim=1, keepdim=True).data, t.var(dim=1, keepdim=True).numpy())
    np.testing.assert_allclose(x.sum(dim=1, keepdim=True).data, a.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(nnlib.sum(x, dim=0).data, a.sum(axis=0))
    values, indices = x.max(dim=1)                                           # torch: (values, indices)
    tv, ti = t.max(dim=1)
    np.testing.assert_allclose(values.data, tv.numpy())
    np.testing.assert_array_equal(indices, ti.numpy())
    np.testing.assert_allclose(x.max(axis=1).data, a.max(axis=1))            # NumPy: the values
    np.testing.assert_allclose(functional.softmax(x, dim=0).data, torch.softmax(t, dim=0).numpy())
    np.testing.assert_allclose(x.transpose(0, 1).data, t.transpose(0, 1).numpy())   # torch: swap, not NumPy's identity
    np.testing.assert_allclose(x.permute(0, 1).data, t.permute(0, 1).numpy())
    with pytest.raises(TypeError, match="both"):
        x.sum(axis=0, dim=0)


def test_keras_optimizer_defaults_live_with_compile_and_optim_keeps_torchs():
    opt = optim.Adam([nnlib.Parameter(np.zeros(2))])
    assert opt.defaults["eps"] == torch.optim.Adam([torch.zeros(2, requires_grad=True)]).defaults["eps"] == 1e-8


def test_dataloader_refuses_a_positional_batch_size():
    """torch's DataLoader(dataset, 64) reads 64 as the batch size; nnlib's arrays stand for the dataset."""
    x, y = np.zeros((6, 2)), np.arange(6)
    with pytest.raises(TypeError, match="batch_size is a keyword argument"):
        data.DataLoader(x, y, 4)
    assert len(data.DataLoader(x, y)) == len(torch.utils.data.DataLoader(torch.zeros(6))) == 6  # batch_size=1


def test_dense_and_dropout_take_keras_positional_arguments():
    dense = layers.Dense(3, None, False, input_shape=(2,))   # Keras: Dense(units, activation, use_bias)
    assert dense.bias is None and dense.kernel.shape == (2, 3)
    with pytest.raises(TypeError):
        layers.Dropout(0.5, 0)                                # Keras' 2nd argument is noise_shape, not seed
