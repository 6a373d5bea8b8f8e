"""Chapter 04: nnlib.optim optimizers against torch.optim, step for step."""

import itertools
import json
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nnlib
from nnlib import optim

SHAPES = [(), (5,), (4, 3), (2, 3, 2)]
STEPS = 50
TOL = dict(rtol=1e-8, atol=1e-10)


def _grid(**axes):
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*axes.values())]


SGD_GRID = [kw for kw in _grid(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                               weight_decay=[0.0, 0.05], maximize=[False, True])
            if not kw["nesterov"] or (kw["momentum"] > 0 and kw["dampening"] == 0)]
RMSPROP_GRID = _grid(lr=[0.01], alpha=[0.9], centered=[False, True], momentum=[0.0, 0.7],
                     weight_decay=[0.0, 0.1], maximize=[False, True])
ADAM_GRID = _grid(lr=[0.01], betas=[(0.9, 0.999), (0.5, 0.9)], amsgrad=[False, True],
                  weight_decay=[0.0, 0.1], maximize=[False, True])
CASES = ([("SGD", kw) for kw in SGD_GRID] + [("RMSprop", kw) for kw in RMSPROP_GRID]
         + [("Adam", kw) for kw in ADAM_GRID] + [("AdamW", kw) for kw in ADAM_GRID])


def _ids(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items() if k != "lr")


def make_pair(name, kw, shapes=SHAPES, seed=0, dtype=np.float64):
    """The same starting weights as nnlib Parameters and torch leaf tensors, plus both optimizers."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [nnlib.Parameter(a.copy()) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    return ours, theirs, getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)


def feed_grads(ours, theirs, rng, dtype=np.float64):
    for p, q in zip(ours, theirs):
        g = rng.standard_normal(p.shape).astype(dtype)
        p.grad = g
        q.grad = torch.tensor(g.copy())


def assert_same(ours, theirs, **tol):
    for i, (p, q) in enumerate(zip(ours, theirs)):
        assert p.data.shape == tuple(q.shape)
        np.testing.assert_allclose(p.data, q.detach().numpy(), err_msg=f"parameter {i}", **(tol or TOL))


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_parity_random_gradients(case):
    name, kw = case
    ours, theirs, opt, topt = make_pair(name, kw)
    rng = np.random.default_rng(1)
    for _ in range(STEPS):
        feed_grads(ours, theirs, rng)
        opt.step()
        topt.step()
    assert_same(ours, theirs)


QUADRATIC_CASES = [
    ("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.5)),
    ("RMSprop", dict(lr=0.01)), ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adam", dict(lr=0.05)), ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05)), ("AdamW", dict(lr=0.05, amsgrad=True, weight_decay=0.3)),
]


@pytest.mark.parametrize("case", QUADRATIC_CASES, ids=_ids)
def test_parity_on_a_quadratic(case):
    """Real training: each library differentiates f(w) = sum(a * (w - c)^2) / 2 itself."""
    name, kw = case
    ours, theirs, opt, topt = make_pair(name, kw, seed=2)
    rng = np.random.default_rng(3)
    curv = [rng.uniform(0.5, 3.0, size=s) for s in SHAPES]
    centre = [rng.standard_normal(s) for s in SHAPES]
    for _ in range(STEPS):
        opt.zero_grad()
        topt.zero_grad()
        loss = sum(((p - c) * (p - c) * a * 0.5).sum() for p, a, c in zip(ours, curv, centre))
        tloss = sum(((q - torch.tensor(c)) ** 2 * torch.tensor(a) * 0.5).sum()
                    for q, a, c in zip(theirs, curv, centre))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
    assert_same(ours, theirs)
    assert float(loss.item()) == pytest.approx(float(tloss.item()), rel=1e-8)


def test_adam_defaults_match_torch_and_the_seed_formula():
    """Defaults equal torch's; one Adam step equals the seed's m_hat / (sqrt(v_hat) + eps)."""
    for name in ["SGD", "RMSprop", "Adam", "AdamW"]:
        ours = getattr(optim, name)([nnlib.Parameter(np.zeros(2))]).param_groups[0]
        theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).param_groups[0]
        for key, value in ours.items():
            if key != "params":
                assert value == theirs[key], (name, key)
    w = nnlib.Parameter(np.array([1.0, -2.0]))
    g = np.array([0.3, -0.1])
    opt = optim.Adam([w], lr=0.1)
    w.grad = g
    opt.step()
    b1, b2, eps = 0.9, 0.999, 1e-8
    m_hat = (1 - b1) * g / (1 - b1)
    v_hat = (1 - b2) * g * g / (1 - b2)
    np.testing.assert_allclose(w.data, np.array([1.0, -2.0]) - 0.1 * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam", "AdamW"])
def test_param_groups_with_different_hyperparameters(name):
    extra = {"SGD": {"momentum": 0.9}, "RMSprop": {"centered": True}, "Adam": {"amsgrad": True},
             "AdamW": {"weight_decay": 0.5}}[name]
    ours, theirs, _, _ = make_pair(name, {})
    opt = getattr(optim, name)([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.1, **extra}], lr=0.01)
    topt = getattr(torch.optim, name)([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.1, **extra}],
                                      lr=0.01)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.1]
    rng = np.random.default_rng(4)
    for t in range(STEPS):
        feed_grads(ours, theirs, rng)
        if t == 20:  # a schedule or callback changing one group's lr mid-training
            opt.param_groups[0]["lr"] = 0.03
            topt.param_groups[0]["lr"] = 0.03
        opt.step()
        topt.step()
    assert_same(ours, theirs)


def test_parameters_without_grad_are_skipped():
    ours, theirs, opt, topt = make_pair("Adam", dict(lr=0.1))
    rng = np.random.default_rng(5)
    for t in range(10):
        feed_grads(ours, theirs, rng)
        ours[1].grad = None
        theirs[1].grad = None
        opt.step()
        topt.step()
    assert_same(ours, theirs)
    assert ours[1] not in opt.state and ours[0] in opt.state


def test_zero_grad():
    ours, _, opt, _ = make_pair("SGD", dict(lr=0.1))
    for p in ours:
        p.grad = np.ones_like(p.data)
    ours[0].grad = None
    opt.zero_grad(set_to_none=False)
    assert ours[0].grad is None
    for p in ours[1:]:
        assert p.grad.shape == p.data.shape and not p.grad.any()
    opt.zero_grad()
    assert all(p.grad is None for p in ours)
    before = [p.data.copy() for p in ours]
    opt.step()  # nothing to do
    for p, b in zip(ours, before):
        np.testing.assert_array_equal(p.data, b)


def _through_json(sd):
    def encode(v):
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, tuple):
            return list(v)
        return v
    text = json.dumps({"state": {str(k): {kk: encode(vv) for kk, vv in s.items()} for k, s in sd["state"].items()},
                       "param_groups": [{k: encode(v) for k, v in g.items()} for g in sd["param_groups"]]})
    return json.loads(text)


def _through_npz(sd, tmp_path):
    flat = {}
    for k, s in sd["state"].items():
        for kk, vv in s.items():
            flat[f"state/{k}/{kk}"] = np.asarray(vv)
    for i, g in enumerate(sd["param_groups"]):
        for kk, vv in g.items():
            flat[f"group/{i}/{kk}"] = np.asarray(vv)
    np.savez(tmp_path / "opt.npz", **flat)
    loaded = np.load(tmp_path / "opt.npz")
    out = {"state": {}, "param_groups": [{} for _ in sd["param_groups"]]}
    for key in loaded.files:
        kind, a, b = key.split("/")
        if kind == "state":
            out["state"].setdefault(int(a), {})[b] = loaded[key]
        else:
            out["param_groups"][int(a)][b] = loaded[key]
    return out


@pytest.mark.parametrize("transport", ["dict", "json", "npz"])
@pytest.mark.parametrize("case", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                  ("RMSprop", dict(centered=True, momentum=0.5)),
                                  ("Adam", dict(lr=0.01, amsgrad=True)), ("AdamW", dict(lr=0.01))], ids=_ids)
def test_state_dict_round_trip_resumes_exactly(case, transport, tmp_path):
    name, kw = case
    ours, _, opt, _ = make_pair(name, kw)
    twin = [nnlib.Parameter(p.data.copy()) for p in ours]
    rng = np.random.default_rng(6)
    grads = [[rng.standard_normal(p.shape) for p in ours] for _ in range(STEPS)]

    for gs in grads:  # uninterrupted run
        for p, g in zip(ours, gs):
            p.grad = g
        opt.step()

    first = getattr(optim, name)(twin, **kw)
    for gs in grads[:20]:
        for p, g in zip(twin, gs):
            p.grad = g
        first.step()
    sd = first.state_dict()
    if transport == "json":
        sd = _through_json(sd)
    elif transport == "npz":
        sd = _through_npz(sd, tmp_path)
    resumed = getattr(optim, name)(twin, lr=123.0)  # hyperparameters come back from the state dict
    resumed.load_state_dict(sd)
    assert resumed.param_groups[0]["lr"] == kw.get("lr", opt.param_groups[0]["lr"])
    for gs in grads[20:]:
        for p, g in zip(twin, gs):
            p.grad = g
        resumed.step()
    for p, q in zip(ours, twin):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam", "AdamW"])
def test_state_dict_layout_matches_torch(name):
    kw = {"SGD": dict(momentum=0.9), "RMSprop": dict(centered=True, momentum=0.1),
          "Adam": dict(amsgrad=True), "AdamW": {}}[name]
    ours, theirs, opt, topt = make_pair(name, kw)
    rng = np.random.default_rng(7)
    for _ in range(3):
        feed_grads(ours, theirs, rng)
        opt.step()
        topt.step()
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"][0]["params"] == tsd["param_groups"][0]["params"]
    assert set(sd["state"]) == set(tsd["state"])
    for i in sd["state"]:
        assert set(sd["state"][i]) == set(tsd["state"][i])
        for k, v in sd["state"][i].items():
            np.testing.assert_allclose(v, np.asarray(tsd["state"][i][k]), **TOL)
    # the snapshot is a copy: later steps do not change it
    saved = {k: np.copy(v) for k, v in sd["state"][0].items()}
    feed_grads(ours, theirs, rng)
    opt.step()
    for k, v in saved.items():
        np.testing.assert_array_equal(sd["state"][0][k], v)


@pytest.mark.parametrize("case", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1,
                                               maximize=True)),
                                  ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2)),
                                  ("RMSprop", dict(centered=True, momentum=0.5, weight_decay=0.1)),
                                  ("Adam", dict(amsgrad=True, weight_decay=0.1, maximize=True)),
                                  ("AdamW", dict(amsgrad=True))], ids=_ids)
def test_float32_stays_float32_and_updates_in_place(case):
    name, kw = case
    ours, theirs, opt, topt = make_pair(name, kw, dtype=np.float32)
    arrays = [p.data for p in ours]
    rng = np.random.default_rng(8)
    for _ in range(20):
        feed_grads(ours, theirs, rng, dtype=np.float32)
        opt.step()
        topt.step()
    for p, a in zip(ours, arrays):
        assert p.data is a and p.data.dtype == np.float32
    for st_ in opt.state.values():
        for k, v in st_.items():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32, k
    assert_same(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam", "AdamW"])
def test_step_allocates_no_new_full_size_arrays(name):
    """After the first step, a step reuses its buffers (the hot path of every training loop)."""
    kw = {"SGD": dict(momentum=0.9, nesterov=True, weight_decay=0.1), "RMSprop": dict(centered=True, momentum=0.5),
          "Adam": dict(weight_decay=0.1, amsgrad=True), "AdamW": {}}[name]
    p = nnlib.Parameter(np.ones((256, 256), dtype=np.float32))
    p.grad = np.full((256, 256), 0.5, dtype=np.float32)
    opt = getattr(optim, name)([p], **kw)
    opt.step()
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < p.data.nbytes // 4, f"{name}.step() allocated {peak} bytes"


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       seed=st.integers(0, 2**16), amsgrad=st.booleans())
def test_adam_parity_any_shape(shape, seed, amsgrad):
    ours, theirs, opt, topt = make_pair("Adam", dict(lr=0.05, amsgrad=amsgrad), shapes=[shape], seed=seed)
    rng = np.random.default_rng(seed + 1)
    for _ in range(5):
        feed_grads(ours, theirs, rng)
        opt.step()
        topt.step()
    assert_same(ours, theirs)


# ---------------------------------------------------------------------------- API and errors
def test_closure_is_called_and_its_loss_returned():
    w = nnlib.Parameter(np.array([3.0]))
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_allclose(w.data, [3.0 - 0.1 * 6.0])


def test_lr_property():
    a, b = nnlib.Parameter(np.zeros(2)), nnlib.Parameter(np.zeros(3))
    opt = optim.Adam([a, b], lr=0.01)
    assert opt.lr == 0.01 and not hasattr(opt, "learning_rate")  # torch's name only (the naming rule)
    opt.lr = 0.5
    assert all(g["lr"] == 0.5 for g in opt.param_groups)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=0.1)
    with pytest.raises(AttributeError, match="different learning rates"):
        _ = opt.lr
    opt.lr = 0.3
    assert [g["lr"] for g in opt.param_groups] == [0.3, 0.3]


@pytest.mark.parametrize("cls", [optim.SGD, optim.RMSprop, optim.Adam, optim.AdamW])
def test_keras_learning_rate_keyword_is_refused(cls):
    """nnlib.optim follows torch: Adam(learning_rate=...) is Keras's spelling, refused as torch refuses it."""
    p = nnlib.Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="learning_rate"):
        cls([p], learning_rate=0.25)
    with pytest.raises(TypeError, match="learning_rate"):
        getattr(torch.optim, cls.__name__)([torch.zeros(2, requires_grad=True)], learning_rate=0.25)
    with pytest.raises(TypeError, match="lr="):
        optim.get(cls.__name__.lower(), [p], learning_rate=0.25)


def test_get():
    p = nnlib.Parameter(np.zeros(2))
    assert type(optim.get("adam")) is optim.Adam
    assert type(optim.get("AdamW")) is optim.AdamW
    assert type(optim.get("rmsprop")) is optim.RMSprop
    opt = optim.get("sgd", [p], lr=0.2, momentum=0.9)
    assert isinstance(opt, optim.SGD) and opt.lr == 0.2 and opt.param_groups[0]["params"][0] is p
    assert optim.get(opt) is opt
    assert isinstance(optim.get(optim.RMSprop, [p]), optim.RMSprop)
    with pytest.raises(ValueError, match="valid names are.*'adam'"):
        optim.get("adagrad")
    with pytest.raises(TypeError):
        optim.get(opt, lr=0.1)


def test_optimizer_created_before_its_parameters():
    """Keras style: Adam(lr=...) first; compile attaches the model's parameters later."""
    opt = optim.Adam(lr=0.1)
    with pytest.raises(RuntimeError, match="no parameters"):
        opt.step()
    assert "No parameters yet" in repr(opt)
    w = nnlib.Parameter(np.array([1.0, 2.0]))
    opt.add_param_group({"params": [w]})
    assert opt.param_groups[0]["lr"] == 0.1
    w.grad = np.array([1.0, 1.0])
    opt.step()
    np.testing.assert_allclose(w.data, [0.9, 1.9], rtol=1e-6)
    assert "Parameter Group 0" in repr(opt)


def test_module_parameters_generator_is_accepted():
    class Net(nnlib.Module):
        def __init__(self):
            super().__init__()
            self.w = nnlib.Parameter(np.ones((2, 2)))
            self.b = nnlib.Parameter(np.zeros(2))

    net = Net()
    opt = optim.SGD(net.parameters(), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 2


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-0.1), "invalid learning rate"),
    (lambda p: optim.Adam(p, lr=-1e-3), "invalid learning rate"),
    (lambda p: optim.Adam(p, lr=float("nan")), "invalid learning rate lr=nan; it must be a finite number"),
    (lambda p: optim.SGD(p, lr=float("inf")), "invalid learning rate lr=inf"),
    (lambda p: optim.RMSprop(p, lr=np.float32("nan")), "invalid learning rate"),
    (lambda p: optim.AdamW(p, lr=float("-inf")), "invalid learning rate"),
    (lambda p: optim.SGD(p, lr="0.1"), "invalid learning rate"),
    (lambda p: optim.SGD(p, lr=True), "invalid learning rate"),
    (lambda p: optim.Adam(lr=float("nan")), "invalid learning rate"),  # Keras style, no parameters yet
    (lambda p: optim.SGD(p, momentum=float("nan")), "invalid momentum"),
    (lambda p: optim.SGD(p, momentum=-0.5), "invalid momentum"),
    (lambda p: optim.SGD(p, weight_decay=-1.0), "invalid weight_decay"),
    (lambda p: optim.SGD(p, nesterov=True), "Nesterov momentum needs momentum > 0"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"invalid beta1=1.0; it must be in \[0, 1\)"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), "invalid beta2"),
    (lambda p: optim.Adam(p, betas=(0.9,)), "betas must be a pair"),
    (lambda p: optim.Adam(p, eps=-1e-8), "invalid eps"),
    (lambda p: optim.RMSprop(p, alpha=1.5), "invalid alpha"),
    (lambda p: optim.SGD([{"params": p, "lr": -1.0}], lr=0.1), "param group 0"),
])
def test_bad_hyperparameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make([nnlib.Parameter(np.zeros(2))])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.1])
def test_setting_a_bad_lr_later_is_refused_too(bad):
    opt = optim.Adam([nnlib.Parameter(np.zeros(2))], lr=1e-3)
    with pytest.raises(ValueError, match="invalid learning rate"):
        opt.lr = bad
    assert opt.lr == 1e-3


def test_bad_parameters_are_refused():
    p = nnlib.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="wrap it in a list"):
        optim.Adam(p)
    with pytest.raises(TypeError, match="ndarray"):
        optim.Adam([np.zeros(2)])
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([p, p])
    with pytest.raises(ValueError, match="only one param group"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    opt = optim.Adam([p])
    p.grad = np.zeros(3)
    with pytest.raises(ValueError, match=r"shape \(2,\) but its gradient has shape \(3,\)"):
        opt.step()


def test_load_state_dict_checks_the_layout():
    a, b = nnlib.Parameter(np.zeros(2)), nnlib.Parameter(np.zeros(3))
    opt = optim.Adam([a, b])
    a.grad, b.grad = np.ones(2), np.ones(3)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="1 param groups"):
        optim.Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="has 1 parameters"):
        optim.Adam([a]).load_state_dict(sd)
    with pytest.raises(ValueError, match="shape"):
        optim.Adam([b, a]).load_state_dict(sd)


def test_a_deep_copy_keeps_its_state_keyed_by_the_copied_parameters():
    """ParamState is keyed by id: deepcopy re-keys it, so a copied optimizer resumes where the original was."""
    import copy

    rng = np.random.default_rng(0)
    w = nnlib.Parameter(rng.standard_normal(4))
    opt = optim.Adam([w], lr=0.1)
    for _ in range(3):
        w.grad = w.data.copy()
        opt.step()
    twin = copy.deepcopy(opt)
    w2 = twin.param_groups[0]["params"][0]
    assert w2 is not w and twin.state[w2]["step"] == 3 and w not in twin.state
    for p, o in ((w, opt), (w2, twin)):
        p.grad = p.data.copy()
        o.step()
    np.testing.assert_array_equal(w2.data, w.data)
