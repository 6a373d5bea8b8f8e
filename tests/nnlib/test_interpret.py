"""Chapter 17: nnlib's gradient attributions equal captum's on the same weights.

The nnlib model goes to torch with ``nnlib.interop.to_torch`` (the same weights); captum's
``Saliency``, ``InputXGradient`` and ``IntegratedGradients`` run on the torch copy.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnlib
from nnlib.interop import to_torch
from nnlib.interpret import (completeness_gap, input_x_gradient, integrated_gradients, path_points, saliency,
                             token_attributions)
from nnlib.layers import Dense
from nnlib.models import Sequential

captum_attr = pytest.importorskip("captum.attr")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def pair():
    nnlib.manual_seed(0)
    model = Sequential([Dense(16, activation="tanh", input_shape=(6,)), Dense(12, activation="gelu"),
                        Dense(3, activation="softmax")])
    model.build((None, 6))
    module = to_torch(model).double().eval()
    model_f64 = Sequential.from_config(model.get_config())
    model_f64.build((None, 6))
    model_f64.set_weights([w.astype(np.float64) for w in model.get_weights()])
    x = np.random.default_rng(1).normal(size=(5, 6))
    return model_f64, module, x


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


@pytest.mark.parametrize("target", [0, 2, np.array([0, 1, 2, 1, 0])])
def test_saliency_and_input_x_gradient_equal_captums(pair, target):
    model, module, x = pair
    tt = _t(target) .long() if isinstance(target, np.ndarray) else target
    want = captum_attr.Saliency(module).attribute(_t(x).requires_grad_(), target=tt).numpy()
    np.testing.assert_allclose(saliency(model, x, target=target), want, rtol=1e-9, atol=1e-12)
    want = captum_attr.InputXGradient(module).attribute(_t(x).requires_grad_(), target=tt).detach().numpy()
    np.testing.assert_allclose(input_x_gradient(model, x, target=target), want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method, steps, rtol", [
    ("gausslegendre", 50, 1e-7), ("gausslegendre", 7, 1e-7),
    # captum builds the Riemann nodes with torch.linspace in float32: ~1e-8 off in each node
    ("riemann_left", 10, 2e-6), ("riemann_middle", 10, 2e-6), ("riemann_right", 10, 2e-6)])
def test_integrated_gradients_equal_captums(pair, method, steps, rtol):
    model, module, x = pair
    baseline = np.full_like(x, 0.3)
    ig = captum_attr.IntegratedGradients(module)
    want = ig.attribute(_t(x), baselines=_t(baseline), target=1, n_steps=steps, method=method).numpy()
    got = integrated_gradients(model, x, baseline=baseline, target=1, steps=steps, method=method)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-10)


def test_trapezoid_rule_is_the_true_one_not_captums_short_one(pair):
    # captum's "riemann_trapezoid" gives every node 1/n (ends 1/2n): weights that sum to
    # (n - 1)/n, so its attributions are (n - 1)/n of the trapezoid rule's; nnlib's sum to 1
    model, module, x = pair
    n = 20
    want = captum_attr.IntegratedGradients(module).attribute(
        _t(x), target=1, n_steps=n, method="riemann_trapezoid").numpy()
    got = integrated_gradients(model, x, target=1, steps=n, method="riemann_trapezoid")
    np.testing.assert_allclose(got * (n - 1) / n, want, rtol=2e-6, atol=1e-10)


def test_integrated_gradients_are_complete(pair):
    model, _, x = pair
    attr = integrated_gradients(model, x, target=2, steps=64)
    gap = completeness_gap(model, x, attr, target=2)
    assert np.max(np.abs(gap)) < 1e-6
    coarse = integrated_gradients(model, x, target=2, steps=2, method="riemann_left")
    assert np.max(np.abs(completeness_gap(model, x, coarse, target=2))) > 1e-4   # the gap does measure


def test_quadrature_weights_integrate_polynomials():
    for method in ("gausslegendre", "riemann_trapezoid", "riemann_middle"):
        alphas, weights = path_points(40, method)
        assert abs(weights.sum() - 1) < 1e-12
        assert abs((weights * alphas ** 2).sum() - 1 / 3) < 1e-3


def test_mistakes_get_clear_errors(pair):
    model, _, x = pair
    with pytest.raises(ValueError, match="say which with target="):
        saliency(model, x)
    with pytest.raises(ValueError, match=r"target must be an int .* \[0, 3\)"):
        saliency(model, x, target=3)
    with pytest.raises(TypeError, match="float array"):
        saliency(model, x.astype(int), target=0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        integrated_gradients(model, x, target=0, steps=0)
    with pytest.raises(ValueError, match="unknown method"):
        integrated_gradients(model, x, target=0, method="simpson")


def test_token_attributions_of_the_shipped_gpt_are_complete():
    from nnlib.datasets import data_path
    from nnlib.gpt import GPT

    gpt = GPT.load(data_path("checkpoints/gpt_char.nnlib"))
    gpt.eval()
    ids = np.asarray(gpt.tokenizer.encode("def main"))
    scores, target = token_attributions(gpt, ids, steps=48)
    assert scores.shape == (len(ids),)
    assert target == int(np.argmax(gpt(ids).data[-1]))            # default: the predicted token
    full = gpt(ids).data[-1, target]
    x = nnlib.Tensor(gpt.wpe(np.arange(len(ids))).data[None])   # the baseline: position embeddings only
    for block in gpt.blocks:
        x = block(x)
    base = (gpt.ln_f(x[:, -1, :]) @ gpt.wte.embeddings.T).data[0, target]
    assert abs(scores.sum() - (full - base)) < 1e-3 * max(1.0, abs(full - base))
    with pytest.raises(ValueError, match="1-D integer"):
        token_attributions(gpt, np.array([[1, 2]]))
