"""Chapters 06 and 09: ``nnlib.Module``'s registry and its training-mode switches."""
import pytest

import nnlib
from nnlib.layers import BatchNormalization, Dense, Dropout
from nnlib.models import Sequential


def _model():
    return Sequential([Dense(4, input_shape=(3,)), BatchNormalization(), Dropout(0.5), Dense(2)])


def _flags(model):
    return [m.training for m in model.modules()]


def test_evaluating_switches_off_then_restores_every_flag():
    model = _model()
    model.layers[1].train(False)                      # a frozen batch norm, as in chapter 10
    before = _flags(model)
    with model.evaluating() as inside:
        assert inside is model
        assert not any(_flags(model))
    assert _flags(model) == before                    # not model.train(True) for everyone


def test_training_mode_restores_after_an_error():
    model = _model().eval()
    with pytest.raises(ZeroDivisionError):
        with model.training_mode(True):
            assert all(_flags(model))
            1 / 0
    assert not any(_flags(model))


def test_modules_lists_shared_modules_once():
    shared = Dense(3)

    class Twice(nnlib.Module):
        def __init__(self):
            self.a = shared
            self.b = shared

    assert [m for m in Twice().modules()].count(shared) == 1
