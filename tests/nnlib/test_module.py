"""Chapters 06 and 09: ``nnlib.Module``'s registry and its training-mode switches."""
import numpy as np
import pytest

import nnlib
from nnlib import ModuleList
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


# ------------------------------------------------------------------ a small model built from Module by hand
class Affine(nnlib.Module):
    """y = x @ w + b, with a buffer counting the calls."""

    def __init__(self, n_in, n_out, dtype=np.float32):
        self.w = nnlib.Parameter(np.arange(n_in * n_out, dtype=dtype).reshape(n_in, n_out) / 10)
        self.b = nnlib.Parameter(np.zeros(n_out, dtype=dtype))
        self.register_buffer("calls", np.zeros((), dtype=np.int64))

    def forward(self, x):
        self.set_buffer("calls", self.get_buffer("calls") + 1)
        return x @ self.w + self.b


class Net(nnlib.Module):
    def __init__(self):
        self.first = Affine(3, 4)
        self.blocks = ModuleList([Affine(4, 4), Affine(4, 4)])
        self.head = Affine(4, 2)
        self.scale = nnlib.Parameter(np.ones(1, np.float32))
        self._private = Affine(2, 2)                 # a leading underscore: not registered

    def forward(self, x):
        x = self.first(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x) * self.scale


def test_named_parameters_each_module_own_first_then_its_children_with_dotted_names():
    names = [n for n, _ in Net().named_parameters()]   # as torch: a module's own, then its children's
    assert names == ["scale", "first.w", "first.b", "blocks.0.w", "blocks.0.b", "blocks.1.w", "blocks.1.b",
                     "head.w", "head.b"]
    net = Net()
    assert net.parameters() == [p for _, p in net.named_parameters()]
    assert net.num_parameters() == 3 * 4 + 4 + 2 * (16 + 4) + 4 * 2 + 2 + 1


def test_a_shared_parameter_and_a_shared_module_are_listed_once():
    net = Net()
    net.blocks[1].w = net.blocks[0].w                # weight tying
    names = [n for n, _ in net.named_parameters()]
    assert "blocks.1.w" not in names and names.count("blocks.0.w") == 1
    net.extra = net.first                            # the same module under a second name
    assert [m for _, m in net.named_modules()].count(net.first) == 1
    assert len(net.parameters()) == len({id(p) for p in net.parameters()})
    # a tied weight gets the gradient of both uses, once
    x = nnlib.Tensor(np.ones((2, 3), np.float32))
    net.zero_grad()
    net(x).sum().backward()
    assert net.blocks[0].w.grad is not None


def test_named_modules_names_every_module_once_with_its_path():
    net = Net()
    assert [n for n, _ in net.named_modules()] == ["", "first", "blocks", "blocks.0", "blocks.1", "head"]
    assert [n for n, _ in net.named_modules(prefix="net")][:2] == ["net", "net.first"]
    assert net.modules()[0] is net


def test_buffers_are_named_read_set_and_kept_in_the_state_dict():
    net = Net()
    assert [n for n, _ in net.named_buffers()] == ["first.calls", "blocks.0.calls", "blocks.1.calls", "head.calls"]
    assert [n for n, _ in net.head.named_buffers(recurse=False)] == ["calls"]
    assert list(net.named_buffers(recurse=False)) == []
    net(nnlib.Tensor(np.ones((1, 3), np.float32)))
    assert net.get_buffer("blocks.1.calls") == 1 and len(net.buffers()) == 4
    net.get_buffer("head.calls")[...] = 7            # the array itself: in-place writes change the module
    assert net.head.get_buffer("calls") == 7
    net.set_buffer("blocks.0.calls", np.array(5))
    state = net.state_dict()
    assert state["blocks.0.calls"] == 5 and state["head.calls"] == 7
    state["head.calls"][...] = 0                     # the state is a copy
    assert net.head.get_buffer("calls") == 7


@pytest.mark.parametrize("call", [lambda net: net.get_buffer("head.nothing"),
                                  lambda net: net.get_buffer("nowhere.calls"),
                                  lambda net: net.set_buffer("calls", np.zeros(())),   # the root has none
                                  lambda net: net.get_buffer(3)])
def test_an_unknown_buffer_is_a_key_error_that_lists_the_buffers(call):
    with pytest.raises(KeyError, match=r"no buffer .*its buffers: \['first.calls'"):
        call(Net())


def test_register_buffer_rejects_a_dotted_or_empty_name():
    for bad in ("a.b", "", None):
        with pytest.raises(ValueError, match="without dots"):
            Net().register_buffer(bad, np.zeros(1))


def test_state_dict_round_trip_copies_values_and_keeps_dtypes():
    a, b = Net(), Net()
    for p in a.parameters():
        p.data = p.data + 1.5
    a.set_buffer("first.calls", np.array(3))
    state = a.state_dict()
    assert list(state) == [n for n, _ in a.named_parameters()] + [n for n, _ in a.named_buffers()]
    b.load_state_dict({k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in state.items()})
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
        assert q.dtype == np.float32                 # the model's dtype, not the state's
    assert b.get_buffer("first.calls") == 3 and b.get_buffer("first.calls").dtype == np.int64
    state["first.w"][...] = 99                       # loading copied: the model does not share the arrays
    assert not np.any(b.first.w.data == 99)


def test_load_state_dict_errors_name_the_key_and_the_shapes():
    net = Net()
    state = net.state_dict()
    with pytest.raises(ValueError, match=r"parameter 'first.w' has shape \(3, 4\) in the model but \(4, 3\)"):
        net.load_state_dict({**state, "first.w": np.zeros((4, 3), np.float32)})
    with pytest.raises(ValueError, match=r"buffer 'head.calls' has shape \(\) in the model but \(2,\)"):
        net.load_state_dict({**state, "head.calls": np.zeros(2)})
    missing = dict(state)
    del missing["scale"]
    with pytest.raises(KeyError, match=r"missing keys \['scale'\], unexpected keys \['typo'\]"):
        net.load_state_dict({**missing, "typo": np.zeros(1)})
    net.load_state_dict({"scale": np.full(1, 2.0)}, strict=False)   # a partial load
    assert net.scale.data.tolist() == [2.0]


def test_train_eval_zero_grad_and_requires_grad():
    net = Net()
    assert net.training and net.eval() is net and not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net(nnlib.Tensor(np.ones((2, 3), np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.blocks.requires_grad_(False) is net.blocks
    assert [n for n, p in net.named_parameters() if not p.requires_grad] == [
        "blocks.0.w", "blocks.0.b", "blocks.1.w", "blocks.1.b"]
    assert len(net.trainable_parameters()) == 5 and net.num_parameters(trainable_only=True) == 12 + 4 + 8 + 2 + 1
    net.requires_grad_(True)
    assert net.trainable_parameters() == net.parameters()


def test_module_list_indexes_iterates_appends_and_registers():
    blocks = ModuleList([Affine(2, 2)])
    blocks.append(Affine(2, 3))
    assert len(blocks) == 2 and blocks[1].w.shape == (2, 3) and [type(m) for m in blocks] == [Affine, Affine]
    assert [n for n, _ in blocks.named_parameters()] == ["0.w", "0.b", "1.w", "1.b"]
    assert "(1): Affine()" in repr(blocks)


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Bare must define forward"):
        type("Bare", (nnlib.Module,), {})()(1)
