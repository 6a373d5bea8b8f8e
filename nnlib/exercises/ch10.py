"""Chapter 10: the exercise checks of the fine-tuning chapter.

``from nnlib.exercises import ch10`` and, in a check cell, ``ch10.check_freeze(freeze)``.
Each check prints one line (✅, ⏳ or ❌ naming the problem) and returns a Verdict.
"""

from __future__ import annotations

import copy

import numpy as np

from nnlib.checks import Problem, run_check
from nnlib.layers import BatchNormalization, Dense, Dropout
from nnlib.models import Sequential

__all__ = ["check_freeze", "check_count_trainable", "check_layerwise_adam", "check_batchnorm_output"]


def _num(x) -> str:
    """A number with enough digits that two different values never print the same (up to 6 significant)."""
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def _abc(frozen=()):
    """Three small Dense layers named a, b, c (9 + 12 + 5 weights); the names in ``frozen`` start frozen."""
    model = Sequential([Dense(3, input_shape=(2,), name="a"), Dense(3, name="b"), Dense(1, name="c")], name="abc")
    for layer in model.layers:
        layer.trainable = layer.name not in frozen
    return model


def _flags(model):
    return {layer.name: layer.trainable for layer in model.layers}


def check_freeze(freeze):
    """Chapter 10: ``freeze(model, names)`` freezes exactly the named layers and returns them in layer order."""
    def body():
        for start_frozen, names, want in (((), ["a"], ["a"]),
                                          (("c",), ["b", "a"], ["a", "b"]),
                                          (("a", "b", "c"), ["b"], ["b"])):
            model = _abc(start_frozen)
            got = freeze(model, names)
            flags = _flags(model)
            where = f"freeze(model, {names}) on a model with {list(start_frozen) or 'no layer'} frozen"
            still = [n for n, t in flags.items() if not t and n not in names]
            if still:
                raise Problem(f"{where}: {still} stayed frozen; layers outside `names` must be set back to "
                              f"trainable=True.")
            missed = [n for n in names if flags[n]]
            if missed:
                raise Problem(f"{where}: {missed} is still trainable; set trainable=False on every named layer.")
            if got is None:
                raise Problem(f"{where}: returned None; return the list of frozen layer names.")
            if list(got) != want:
                raise Problem(f"{where}: returned {list(got)!r}; expected {want!r} (the frozen names in layer "
                              f"order, not in the order given).")
        model = _abc(("c",))
        try:
            freeze(model, ["a", "nope"])
        except ValueError as error:
            if "nope" not in str(error):
                raise Problem(f"freeze(model, ['a', 'nope']): the ValueError should name the unknown layer "
                              f"'nope'; its message was {str(error)!r}.") from None
        else:
            raise Problem("freeze(model, ['a', 'nope']) did not raise; raise a ValueError naming 'nope'.")
        if _flags(model) != {"a": True, "b": True, "c": False}:
            raise Problem(f"freeze(model, ['a', 'nope']) changed the model before raising ({_flags(model)}); "
                          f"check the names first, so that bad input changes nothing.")
    return run_check("freeze", body, 4)


def _bn_model():
    """Dense(3) -> BatchNormalization -> Dense(1) on 2 inputs: 9 + (6 trainable + 6 moving) + 4 weights."""
    return Sequential([Dense(3, input_shape=(2,), name="dense"), BatchNormalization(name="bn"),
                       Dense(1, name="out")], name="small")


def check_count_trainable(count_trainable, by_hand, build_model=None):
    """Chapter 10: ``count_trainable(model)`` counts the values of the trainable weights, as summary() does.

    ``by_hand`` is a zero-argument function returning the learner's hand count for the
    chapter's architecture (``build_model()``) with hidden1 and bn1 frozen: 8,581.
    """
    def body():
        cases = [((), 19, "all layers trainable: Dense 2*3+3, BatchNorm gamma+beta 3+3 (its moving statistics never count), Dense 3+1"),
                 (("bn",), 13, "bn frozen: its gamma and beta do not count"),
                 (("dense",), 10, "dense frozen, bn trainable: its 6 moving statistics never count")]
        for frozen, want, why in cases:
            model = _bn_model()
            for layer in model.layers:
                layer.trainable = layer.name not in frozen
            got = count_trainable(model)
            if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
                raise Problem(f"{why}: got {got!r}; return an int (the number of values).")
            if got != want:
                raise Problem(f"{why}: got {_num(got)}; expected {want}.")
        if build_model is not None:
            model = build_model()
            for layer in model.layers[:2]:
                layer.trainable = False
            got = count_trainable(model)
            if got != 8581:
                raise Problem(f"the chapter's model with hidden1 and bn1 frozen: got {_num(got)}; expected 8,581.")
        hand = by_hand()
        if hand != 8581:
            raise Problem(f"trainable_by_hand: got {_num(hand)}; expected 8,581 = hidden2 (128*64 + 64) + "
                          f"new head (64*5 + 5).")
    return run_check("count_trainable", body, 5 if build_model is not None else 4)


def _layers_model(with_dropout=False, frozen=()):
    layers = [Dense(4, input_shape=(3,), name="a"), Dense(4, name="b")]
    if with_dropout:
        layers.append(Dropout(0.5, name="drop"))
    layers.append(Dense(2, name="head"))
    model = Sequential(layers, name="layers")
    for layer in model.layers:
        layer.trainable = layer.name not in frozen
    return model


def check_layerwise_adam(layerwise_adam):
    """Chapter 10: ``layerwise_adam(model, head_lr, decay)``: one Adam group per trainable layer with parameters."""
    def body():
        cases = [(dict(), 0.1, 0.5, [("a", 0.025), ("b", 0.05), ("head", 0.1)]),
                 (dict(with_dropout=True), 0.1, 0.5, [("a", 0.025), ("b", 0.05), ("head", 0.1)]),
                 (dict(frozen=("a",)), 0.01, 0.5, [("b", 0.005), ("head", 0.01)]),
                 (dict(with_dropout=True, frozen=("a",)), 0.02, 0.1, [("b", 0.002), ("head", 0.02)])]
        for kwargs, head_lr, decay, want in cases:
            model = _layers_model(**kwargs)
            names = [layer.name for layer in model.layers]
            where = (f"layers {names}" + (f" with {list(kwargs['frozen'])} frozen" if kwargs.get("frozen") else "")
                     + f", head_lr={head_lr}, decay={decay}")
            opt = layerwise_adam(model, head_lr, decay)
            groups = getattr(opt, "param_groups", None)
            if groups is None:
                raise Problem(f"{where}: returned {type(opt).__name__}; return an optim.Adam.")
            by_layer = {id(p): layer.name for layer in model.layers for p in layer.parameters()}
            got_names = []
            for group in groups:
                owners = {by_layer.get(id(p), "?") for p in group["params"]}
                if len(owners) != 1:
                    raise Problem(f"{where}: a group holds the parameters of {sorted(owners)}; make one group per "
                                  f"layer.")
                got_names.append(owners.pop())
            frozen = [n for n in got_names if n in kwargs.get("frozen", ())]
            if frozen:
                raise Problem(f"{where}: frozen layer {frozen} got a group; skip frozen layers entirely.")
            want_names = [n for n, _ in want]
            if sorted(got_names) != sorted(want_names):
                raise Problem(f"{where}: groups for {got_names}; expected one for each of {want_names}.")
            lrs = dict(zip(got_names, (float(g["lr"]) for g in groups)))
            for depth, (name, lr) in enumerate(reversed(want)):
                if not np.isclose(lrs[name], lr, rtol=1e-9, atol=0.0):
                    rule = "head_lr" if depth == 0 else f"head_lr * decay**{depth}"
                    extra = (" (Dropout has no parameters: it is not a step)" if kwargs.get("with_dropout") and depth
                             else "")
                    raise Problem(f"{where}: layer {name!r} has lr {lrs[name]!r}; expected {lr!r} = {rule}, "
                                  + ("the head" if depth == 0 else f"{depth} step(s) below the head") + f"{extra}.")
            count = sum(len(g["params"]) for g in groups)
            if count != 2 * len(want):
                raise Problem(f"{where}: the groups hold {count} parameter arrays; expected {2 * len(want)} "
                              f"(kernel and bias of each trainable layer).")
    return run_check("layerwise_adam", body, 4)


def _batchnorm_reference(bn, x):
    """What ``bn(x)`` returns, computed on a deep copy (so the layer's moving statistics stay as they were)."""
    twin = copy.deepcopy(bn)
    return np.asarray(twin(x).data, dtype=np.float64)


def check_batchnorm_output(batchnorm_output):
    """Chapter 10: ``batchnorm_output(bn, x)`` equals ``bn(x)`` for a trainable or frozen layer, in either mode."""
    def body():
        rng = np.random.default_rng(10)
        bn = BatchNormalization(name="bn", input_shape=(3,))
        bn.build((None, 3))
        bn.gamma.data[:] = [1.0, 2.0, 0.5]
        bn.beta.data[:] = [0.0, 1.0, -1.0]
        bn.set_buffer("moving_mean", np.array([0.5, -1.0, 2.0], np.float32))
        bn.set_buffer("moving_variance", np.array([4.0, 1.0, 0.25], np.float32))
        x = np.array([[1.0, 0.0, 2.0], [3.0, -2.0, 2.5], [2.0, 1.0, 1.0], [0.0, -1.0, 2.5]], np.float32)
        wide = (rng.normal(size=(6, 5)) * 3 + 1).astype(np.float32)
        bn5 = BatchNormalization(name="bn5", input_shape=(5,))
        bn5.build((None, 5))
        bn5.gamma.data[:] = rng.uniform(0.5, 2.0, 5)
        bn5.beta.data[:] = rng.normal(size=5)
        bn5.set_buffer("moving_mean", rng.normal(size=5).astype(np.float32))
        bn5.set_buffer("moving_variance", rng.uniform(0.5, 3.0, 5).astype(np.float32))
        cases = []
        for layer, data in ((bn, x), (bn5, wide)):
            for trainable, training in ((False, True), (True, True), (True, False), (False, False)):
                cases.append((layer, data, trainable, training))
        for layer, data, trainable, training in cases:
            layer.trainable = trainable
            layer.train(training)
            expected = _batchnorm_reference(layer, data)
            before = (layer.moving_mean.copy(), layer.moving_variance.copy())
            got = batchnorm_output(layer, data.copy())
            if got is None:
                raise Problem("returned None; return the normalized array.")
            got = np.asarray(getattr(got, "data", got), dtype=np.float64)
            mode = ("frozen (trainable=False)" if not trainable else "trainable") + \
                   (", training mode" if training else ", inference mode")
            if got.shape != expected.shape:
                raise Problem(f"{mode}, input {data.shape}: got shape {got.shape}; expected {expected.shape}.")
            if not np.allclose(got, expected, atol=1e-4, rtol=1e-4):
                diff = float(np.abs(got - expected).max())
                if training and not trainable:
                    hint = "a frozen BatchNormalization uses its moving statistics even in training mode"
                elif training:
                    hint = "a trainable one in training mode uses the batch mean and biased variance (ddof=0)"
                else:
                    hint = "in inference mode it uses the moving statistics"
                raise Problem(f"{mode}: got {got.ravel()[0]:.6g} at [0, 0], expected {expected.ravel()[0]:.6g} "
                              f"(largest |diff| {diff:.3g}); {hint}, epsilon {layer.epsilon}.")
            if not all(np.array_equal(a, b) for a, b in zip(before, (layer.moving_mean, layer.moving_variance))):
                raise Problem(f"{mode}: your function changed the layer's moving statistics; only compute the "
                              f"output.")
    return run_check("batchnorm_output", body, 8)
