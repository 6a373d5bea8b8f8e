"""Chapter 10: every exercise check accepts the solution, reads ⏳ for the stub and rejects plausible mistakes."""

import numpy as np
import pytest

from nnlib import optim
from nnlib.exercises import ch10
from nnlib.layers import BatchNormalization, Dense, Dropout
from nnlib.models import Sequential
from tests.course import exercise_harness
from tests.course.exercise_harness import (FAILED, NOT_ATTEMPTED, PASSED, assert_exercise_names_only_in_checks,
                                           load_solution, stub)


def assert_verdict(*args, **kwargs):
    # the harness's assert_verdict, and the line is one short line, whole (not cut off with "…")
    line = exercise_harness.assert_verdict(*args, **kwargs)
    print(line)
    assert len(line) <= 240 and not line.endswith("…"), line
    return line

NS = {"np": np, "optim": optim}


def build_body_and_head():
    return Sequential([
        Dense(128, activation="relu", input_shape=(64,), name="hidden1"),
        BatchNormalization(name="bn1"),
        Dense(64, activation="relu", name="hidden2"),
        Dropout(0.2, name="dropout"),
        Dense(5, activation="softmax", name="new_head"),
    ])


# ---------------------------------------------------------------- freeze
def test_freeze():
    assert_verdict(PASSED, ch10.check_freeze, load_solution("10", "freeze", NS))
    assert_verdict(NOT_ATTEMPTED, ch10.check_freeze, stub)


def freeze_never_unfreezes(model, names):
    for layer in model.layers:
        if layer.name in names:
            layer.trainable = False
    return [layer.name for layer in model.layers if not layer.trainable]


def freeze_in_given_order(model, names):
    for layer in model.layers:
        layer.trainable = layer.name not in names
    return list(names)


def freeze_raises_late(model, names):
    for layer in model.layers:
        layer.trainable = layer.name not in names
    unknown = set(names) - {layer.name for layer in model.layers}
    if unknown:
        raise ValueError(f"unknown {sorted(unknown)}")
    return [layer.name for layer in model.layers if not layer.trainable]


def freeze_no_error(model, names):
    for layer in model.layers:
        layer.trainable = layer.name not in names
    return [layer.name for layer in model.layers if not layer.trainable]


@pytest.mark.parametrize("wrong, mentions", [
    (freeze_never_unfreezes, ("set back to trainable=True", "'c'")),
    (freeze_in_given_order, ("layer order",)),
    (freeze_raises_late, ("changed the model before raising",)),
    (freeze_no_error, ("did not raise", "nope")),
])
def test_freeze_rejects(wrong, mentions):
    assert_verdict(FAILED, ch10.check_freeze, wrong, mentions=mentions)


# ---------------------------------------------------------------- count_trainable
def test_count_trainable():
    solution = load_solution("10", "count_trainable", NS)
    assert_verdict(PASSED, ch10.check_count_trainable, solution, lambda: 8581, build_body_and_head)
    assert_verdict(NOT_ATTEMPTED, ch10.check_count_trainable, stub, lambda: 8581, build_body_and_head)

    def undefined():
        return trainable_by_hand  # noqa: F821  (the learner's cell did not define it)
    assert_verdict(NOT_ATTEMPTED, ch10.check_count_trainable, solution, undefined, build_body_and_head,
                   mentions=("trainable_by_hand",))
    assert_verdict(FAILED, ch10.check_count_trainable, solution, lambda: 17157, build_body_and_head,
                   mentions=("trainable_by_hand", "17157", "8,581"))


def count_all_weights_of_trainable_layers(model):    # get_weights() includes BN's moving statistics
    return int(sum(w.size for layer in model.layers if layer.trainable for w in layer.get_weights()))


def count_every_layer(model):                         # ignores trainable altogether
    return int(sum(w.size for layer in model.layers for w in layer.weights))


def count_arrays(model):                              # arrays, not values
    return sum(len(layer.trainable_weights) for layer in model.layers)


@pytest.mark.parametrize("wrong, mentions", [
    (count_all_weights_of_trainable_layers, ("moving statistics never count", "got 25", "19")),
    (count_every_layer, ("bn frozen", "got 19", "13")),
    (count_arrays, ("got 6", "19")),
])
def test_count_trainable_rejects(wrong, mentions):
    assert_verdict(FAILED, ch10.check_count_trainable, wrong, lambda: 8581, build_body_and_head, mentions=mentions)


# ---------------------------------------------------------------- layerwise_adam
def test_layerwise_adam():
    assert_verdict(PASSED, ch10.check_layerwise_adam, load_solution("10", "layerwise_adam", NS))
    assert_verdict(NOT_ATTEMPTED, ch10.check_layerwise_adam, stub)


def adam_dropout_counts(model, head_lr, decay):
    groups, lr = [], head_lr
    for layer in reversed(model.layers):
        if layer.parameters() and layer.trainable:
            groups.append({"params": layer.parameters(), "lr": lr})
        lr *= decay
    return optim.Adam(groups[::-1])


def adam_keeps_frozen(model, head_lr, decay):
    groups, lr = [], head_lr
    for layer in reversed(model.layers):
        if layer.parameters():
            groups.append({"params": layer.parameters(), "lr": lr})
            lr *= decay
    return optim.Adam(groups[::-1])


def adam_upside_down(model, head_lr, decay):
    layers = [layer for layer in model.layers if layer.parameters() and layer.trainable]
    return optim.Adam([{"params": layer.parameters(), "lr": head_lr * decay ** i} for i, layer in enumerate(layers)])


@pytest.mark.parametrize("wrong, mentions", [
    (adam_dropout_counts, ("layer 'b'", "0.025", "0.05", "Dropout")),
    (adam_keeps_frozen, ("frozen layer", "'a'")),
    (adam_upside_down, ("layer 'head'", "0.025", "0.1", "the head")),
])
def test_layerwise_adam_rejects(wrong, mentions):
    line = assert_verdict(FAILED, ch10.check_layerwise_adam, wrong, mentions=mentions)
    assert "item 0" not in line


# ---------------------------------------------------------------- batchnorm_output
def test_batchnorm_output():
    assert_verdict(PASSED, ch10.check_batchnorm_output, load_solution("10", "batchnorm_output", NS))
    assert_verdict(NOT_ATTEMPTED, ch10.check_batchnorm_output, stub)


def bn_ignores_trainable(bn, x):
    if bn.training:
        mean, var = x.mean(axis=0), x.var(axis=0)
    else:
        mean, var = bn.moving_mean, bn.moving_variance
    return (x - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.data + bn.beta.data


def bn_unbiased_variance(bn, x):
    if bn.training and bn.trainable:
        mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)
    else:
        mean, var = bn.moving_mean, bn.moving_variance
    return (x - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.data + bn.beta.data


def bn_always_moving(bn, x):
    return (x - bn.moving_mean) / np.sqrt(bn.moving_variance + bn.epsilon) * bn.gamma.data + bn.beta.data


def bn_calls_the_layer(bn, x):       # updates the moving statistics as a side effect
    return bn(x).data


@pytest.mark.parametrize("wrong, mentions", [
    (bn_ignores_trainable, ("frozen", "moving statistics even in training mode")),
    (bn_unbiased_variance, ("trainable, training mode", "ddof=0")),
    (bn_always_moving, ("trainable, training mode", "batch mean")),
    (bn_calls_the_layer, ("changed the layer's moving statistics",)),
])
def test_batchnorm_output_rejects(wrong, mentions):
    assert_verdict(FAILED, ch10.check_batchnorm_output, wrong, mentions=mentions)


# ---------------------------------------------------------------- nothing after a check depends on an answer
EXERCISES = ["freeze", "count_trainable", "trainable_by_hand", "layerwise_adam", "batchnorm_output"]


def test_later_cells_use_exercise_names_only_inside_checks():
    assert_exercise_names_only_in_checks("10", EXERCISES)
