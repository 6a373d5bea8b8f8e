"""Chapter 04: nnlib.optim learning-rate schedules against torch.optim.lr_scheduler."""

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

import nnlib
from nnlib import optim

STEPS = 100
LRS = (0.1, 0.03)  # two param groups with different starting learning rates


def make_optimizers():
    ours = optim.SGD([{"params": [nnlib.Parameter(np.zeros(2))]},
                      {"params": [nnlib.Parameter(np.zeros(3))], "lr": LRS[1]}], lr=LRS[0], momentum=0.9)
    theirs = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)]},
                              {"params": [torch.zeros(3, requires_grad=True)], "lr": LRS[1]}],
                             lr=LRS[0], momentum=0.9)
    return ours, theirs


CASES = {
    "step": (lambda o: optim.StepLR(o, step_size=7, gamma=0.5), lambda o: tls.StepLR(o, step_size=7, gamma=0.5)),
    "step-default-gamma": (lambda o: optim.StepLR(o, 30), lambda o: tls.StepLR(o, 30)),
    "exponential": (lambda o: optim.ExponentialLR(o, gamma=0.95), lambda o: tls.ExponentialLR(o, gamma=0.95)),
    "cosine": (lambda o: optim.CosineAnnealingLR(o, T_max=STEPS), lambda o: tls.CosineAnnealingLR(o, T_max=STEPS)),
    "cosine-restarts-after-T_max": (lambda o: optim.CosineAnnealingLR(o, T_max=30, eta_min=0.001),
                                    lambda o: tls.CosineAnnealingLR(o, T_max=30, eta_min=0.001)),
    "linear-warmup": (lambda o: optim.LinearWarmup(o, warmup_steps=10),
                      lambda o: tls.LinearLR(o, total_iters=10)),
    "linear-warmup-factors": (lambda o: optim.LinearWarmup(o, 25, start_factor=0.1, end_factor=0.5),
                              lambda o: tls.LinearLR(o, start_factor=0.1, end_factor=0.5, total_iters=25)),
    "lambda": (lambda o: optim.LambdaLR(o, lambda t: 1.0 / (1.0 + 0.1 * t)),
               lambda o: tls.LambdaLR(o, lambda t: 1.0 / (1.0 + 0.1 * t))),
    "warmup-cosine": (lambda o: optim.warmup_cosine(o, warmup_steps=10, total_steps=STEPS, start_factor=0.2,
                                                    eta_min=0.001),
                      lambda o: tls.SequentialLR(o, [tls.LinearLR(o, start_factor=0.2, total_iters=10),
                                                     tls.CosineAnnealingLR(o, T_max=STEPS - 10, eta_min=0.001)],
                                                 milestones=[10])),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_over_100_steps(name):
    make_ours, make_theirs = CASES[name]
    opt, topt = make_optimizers()
    sched, tsched = make_ours(opt), make_theirs(topt)
    for t in range(STEPS):
        expected = tsched.get_last_lr()
        got = sched.get_last_lr()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-15, err_msg=f"step {t}")
        assert [g["lr"] for g in opt.param_groups] == got
        assert all(isinstance(lr, float) for lr in got)
        topt.step()
        opt.step()
        tsched.step()
        sched.step()


@pytest.mark.parametrize("name, kwargs, make", [
    ("step", dict(step_size=7, gamma=0.5), lambda o: optim.StepLR(o, 7, 0.5)),
    ("exponential", dict(gamma=0.9), lambda o: optim.ExponentialLR(o, 0.9)),
    ("cosine", dict(T_max=40, eta_min=0.01), lambda o: optim.CosineAnnealingLR(o, 40, 0.01)),
    ("linear_warmup", dict(warmup_steps=10, start_factor=0.0), lambda o: optim.LinearWarmup(o, 10, 0.0)),
    ("warmup_cosine", dict(warmup_steps=5, total_steps=50, start_factor=0.1),
     lambda o: optim.WarmupCosineLR(o, 5, 50, 0.1)),
])
def test_pure_functions_equal_the_schedulers(name, kwargs, make):
    opt, _ = make_optimizers()
    sched = make(opt)
    curve = optim.lr_curve(name, STEPS, LRS[0], **kwargs)
    assert curve.shape == (STEPS,) and curve.dtype == np.float64
    for t in range(STEPS):
        assert optim.lr_at(name, t, LRS[0], **kwargs) == sched.get_last_lr()[0] == curve[t]
        sched.step()


def test_closed_form_values():
    assert optim.lr_at("step", 25, 0.1, step_size=10, gamma=0.5) == pytest.approx(0.025)
    assert optim.lr_at("exponential", 3, 1.0, gamma=0.5) == 0.125
    assert optim.lr_at("cosine", 0, 0.1, T_max=10) == 0.1
    assert optim.lr_at("cosine", 5, 0.1, T_max=10, eta_min=0.02) == pytest.approx(0.06)
    assert optim.lr_at("cosine", 10, 0.1, T_max=10, eta_min=0.02) == pytest.approx(0.02)
    assert optim.lr_at("linear_warmup", 0, 1.0, warmup_steps=4, start_factor=0.0) == 0.0
    assert optim.lr_at("linear_warmup", 2, 1.0, warmup_steps=4, start_factor=0.0) == 0.5
    assert optim.lr_at("linear_warmup", 9, 1.0, warmup_steps=4, start_factor=0.0) == 1.0
    assert optim.lr_at("constant", 9, 0.3) == 0.3
    # warmup_cosine: up, peak, down to eta_min at total_steps, then flat (no cosine restart)
    kw = dict(warmup_steps=10, total_steps=60, start_factor=0.0, eta_min=1e-4)
    assert optim.lr_at("warmup_cosine", 5, 1.0, **kw) == 0.5
    assert optim.lr_at("warmup_cosine", 10, 1.0, **kw) == 1.0
    assert optim.lr_at("warmup_cosine", 35, 1.0, **kw) == pytest.approx((1.0 + 1e-4) / 2)
    assert optim.lr_at("warmup_cosine", 60, 1.0, **kw) == 1e-4
    assert optim.lr_at("warmup_cosine", 500, 1.0, **kw) == 1e-4
    assert math.isclose(optim.cosine_annealing_lr(3, 0.1, 12), optim.lr_at("cosine", 3, 0.1, T_max=12))


def test_lr_at_errors():
    with pytest.raises(ValueError, match="valid names are"):
        optim.lr_at("triangle", 0, 0.1)
    with pytest.raises(TypeError, match="lr_at\\('step'"):
        optim.lr_at("step", 0, 0.1)  # step_size missing
    with pytest.raises(ValueError, match="step must be >= 0"):
        optim.lr_at("cosine", -1, 0.1, T_max=10)


@pytest.mark.parametrize("make", [lambda o: optim.StepLR(o, 7, 0.5), lambda o: optim.CosineAnnealingLR(o, 30),
                                  lambda o: optim.warmup_cosine(o, 10, 80)])
def test_state_dict_round_trip_resumes(make):
    opt, _ = make_optimizers()
    sched = make(opt)
    for _ in range(40):
        sched.step()
    saved = sched.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 40
    opt2, _ = make_optimizers()
    sched2 = make(opt2)
    sched2.load_state_dict(saved)
    for _ in range(40):
        sched.step()
        sched2.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
        assert [g["lr"] for g in opt2.param_groups] == sched2.get_last_lr()


def test_scheduler_drives_the_optimizer_and_its_lr_property():
    w = nnlib.Parameter(np.array([1.0]))
    opt = optim.SGD([w], lr=0.2)
    sched = optim.ExponentialLR(opt, gamma=0.5)
    assert opt.lr == 0.2 and opt.param_groups[0]["initial_lr"] == 0.2
    sched.step()
    assert opt.lr == 0.1
    w.grad = np.array([1.0])
    opt.step()
    np.testing.assert_allclose(w.data, [0.9])
    assert "ExponentialLR(" in repr(sched)


def test_scheduler_errors():
    opt, _ = make_optimizers()
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        optim.StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max must be > 0"):
        optim.CosineAnnealingLR(opt, 0)
    with pytest.raises(ValueError, match="start_factor and end_factor must be in"):
        optim.LinearWarmup(opt, 5, start_factor=2.0)
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        optim.warmup_cosine(opt, 50, 10)
    with pytest.raises(TypeError, match="expected an optimizer"):
        optim.StepLR([0.1], 5)
    with pytest.raises(KeyError, match="initial_lr"):
        optim.StepLR(opt, 5, last_epoch=10)
    with pytest.raises(ValueError, match="no param groups"):
        optim.StepLR(optim.Adam(lr=0.1), 5)
