"""Chapter 17: DP-SGD and its accountant, against opacus on the same model, batch and noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nnlib
from nnlib import losses as L
from nnlib.interop import to_torch
from nnlib.layers import Dense, Dropout
from nnlib.models import Sequential
from nnlib.privacy import DEFAULT_ORDERS, DPSGD, clip_and_noise, epsilon, per_example_gradients, rdp

torch = pytest.importorskip("torch")
opacus = pytest.importorskip("opacus")
from opacus.accountants import RDPAccountant  # noqa: E402
from opacus.accountants.analysis import rdp as opacus_rdp  # noqa: E402


def _model(dtype="float64"):
    nnlib.manual_seed(0)
    model = Sequential([Dense(8, activation="tanh", input_shape=(5,), dtype=dtype),
                        Dense(6, activation="relu", dtype=dtype), Dense(3, dtype=dtype)])
    model.build((None, 5))
    return model


def _per_example_ce(out, y):
    return L.cross_entropy(out, y, reduction="none")


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 5)) * 2, rng.integers(0, 3, 7)


def test_per_example_gradients_equal_one_backward_per_example(batch):
    model = _model()
    x, y = batch
    grads, losses = per_example_gradients(model, _per_example_ce, x, y)
    assert [g.shape for g in grads] == [(7,) + p.shape for p in model.parameters()]
    for i in range(len(x)):
        model.zero_grad()
        L.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        for g, p in zip(grads, model.parameters()):
            np.testing.assert_allclose(g[i], p.grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(losses, L.cross_entropy(model(x), y, reduction="none").data, rtol=1e-12)


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")   # opacus's hooks on a leaf input
@pytest.mark.parametrize("noise_multiplier", [0.0, 1.3])
def test_clipped_noised_update_equals_opacus(batch, noise_multiplier, monkeypatch):
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer
    import opacus.optimizers.optimizer as opacus_optimizer

    model = _model()
    x, y = batch
    C = 1.5   # between the smallest and the largest per-example norm
    module = GradSampleModule(to_torch(model).double())
    params = [p for p in module.parameters()]
    rng = np.random.default_rng(3)
    noise_torch = [rng.normal(0, noise_multiplier * C, size=tuple(p.shape)) for p in params]
    # opacus draws its noise per parameter in order: hand it ours so both add the same numbers
    draws = iter(torch.tensor(n) for n in noise_torch)
    monkeypatch.setattr(opacus_optimizer, "_generate_noise", lambda std, reference, generator=None,
                        secure_mode=False: next(draws))
    sgd = DPOptimizer(torch.optim.SGD(params, lr=0.1), noise_multiplier=noise_multiplier, max_grad_norm=C,
                      expected_batch_size=len(x), loss_reduction="mean")
    sgd.zero_grad()
    torch.nn.functional.cross_entropy(module(torch.tensor(x)), torch.tensor(y)).backward()
    sgd.pre_step()
    want = [p.grad.detach().numpy() for p in params]

    grads, _ = per_example_gradients(model, _per_example_ce, x, y)
    # torch's Linear weight is (out, in), nnlib's kernel (in, out): the same noise, transposed
    noise_nnlib = [n.T if n.ndim == 2 else n for n in noise_torch]
    update, norms = clip_and_noise(grads, C, noise_multiplier, len(x), noise=noise_nnlib)
    assert (norms > C).any() and (norms < C).any()   # both sides of the clip are exercised
    for got, w in zip(update, want):
        np.testing.assert_allclose(got, w.T if w.ndim == 2 else w, rtol=1e-9, atol=1e-12)


def test_dpsgd_learns_and_is_seeded(batch):
    x, y = batch
    runs = []
    for _ in range(2):
        model = _model()
        opt = DPSGD(model, lr=0.5, max_grad_norm=1.0, noise_multiplier=0.5, seed=7)
        first = opt.step(x, y, _per_example_ce)
        for _ in range(30):
            last = opt.step(x, y, _per_example_ce)
        runs.append([p.data.copy() for p in model.parameters()])
    assert last < first
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


def test_an_empty_poisson_batch_is_a_noise_only_step():
    """Poisson sampling can draw no example; the step must still add the noise (and not crash)."""
    model = _model()
    before = [p.data.copy() for p in model.parameters()]
    opt = DPSGD(model, lr=0.5, max_grad_norm=1.0, noise_multiplier=2.0, expected_batch_size=4, seed=3)
    loss = opt.step(np.zeros((0, 5)), np.zeros(0, dtype=np.int64), _per_example_ce)
    assert math.isnan(loss) and opt.steps == 1
    expected_noise = np.random.default_rng(3)
    for p, b in zip(model.parameters(), before):
        noise = expected_noise.normal(0.0, 2.0, size=p.shape)
        np.testing.assert_allclose(p.data, b - 0.5 * noise / 4, rtol=1e-12, atol=1e-12)
    update, norms = clip_and_noise([np.zeros((0, 3, 2)), np.zeros((0, 2))], 1.0, 0.0, 4)
    assert norms.shape == (0,) and all(np.array_equal(u, np.zeros(s)) for u, s in zip(update, [(3, 2), (2,)]))


@pytest.mark.parametrize("sigma, q, steps, delta", [
    (1.0, 0.01, 1000, 1e-5), (0.6, 0.05, 300, 1e-5), (2.5, 0.002, 10_000, 1e-6),
    (0.8, 0.2, 50, 1e-5), (5.0, 0.5, 10, 1e-3), (0.3, 0.001, 100, 1e-5), (1.1, 1.0, 20, 1e-5)])
def test_accountant_equals_opacus(sigma, q, steps, delta):
    accountant = RDPAccountant()
    accountant.history = [(sigma, q, steps)]
    with _quiet():
        theirs = accountant.get_epsilon(delta)
    mine, order = epsilon(sigma, q, steps, delta)
    assert math.isclose(mine, theirs, rel_tol=1e-8), (mine, theirs)
    want = opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=list(DEFAULT_ORDERS))
    np.testing.assert_allclose(rdp(sigma, q, steps), want, rtol=1e-7)
    assert order in DEFAULT_ORDERS


def test_accountant_edges_and_errors():
    assert epsilon(1.0, 0.0, 100, 1e-5)[0] < 0 or rdp(1.0, 0.0, 100).max() == 0   # no data touched
    assert epsilon(0.0, 0.1, 100, 1e-5)[0] == math.inf                            # no noise, no privacy
    assert epsilon(1.0, 0.01, 2000, 1e-5)[0] > epsilon(1.0, 0.01, 1000, 1e-5)[0]  # more steps cost more
    assert epsilon(2.0, 0.01, 1000, 1e-5)[0] < epsilon(1.0, 0.01, 1000, 1e-5)[0]  # more noise costs less
    with pytest.raises(ValueError, match="delta"):
        epsilon(1.0, 0.01, 10, 0.0)
    with pytest.raises(ValueError, match="sample_rate"):
        rdp(1.0, 1.5, 10)
    with pytest.raises(ValueError, match="steps"):
        rdp(1.0, 0.1, 2.5)
    with pytest.raises(ValueError, match="max_grad_norm"):
        clip_and_noise([np.ones((2, 3))], 0.0, 1.0, 2)


def test_unsupported_models_get_a_clear_error(batch):
    from nnlib.layers import BatchNormalization

    model = Sequential([Dense(4, input_shape=(5,)), BatchNormalization(), Dense(2)])
    model.build((None, 5))
    with pytest.raises(TypeError, match="BatchNormalization"):
        per_example_gradients(model, _per_example_ce, *batch)
    ok = Sequential([Dense(4, input_shape=(5,)), Dropout(0.5), Dense(3)])
    ok.build((None, 5))
    grads, _ = per_example_gradients(ok, _per_example_ce, *batch)
    assert len(grads) == 4


class _quiet:
    """Silence opacus's 'optimal order is the largest alpha' warning for the extreme cases."""

    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)
