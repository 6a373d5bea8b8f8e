"""Chapter 11: Embedding, LayerNorm, attention, SelfAttention and the GPT-2 block against torch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import nnlib
from nnlib.attention import KVCache, causal_mask, embedding, layer_norm, scaled_dot_product_attention
from nnlib.layers.sequence import Embedding, LayerNorm, SelfAttention, TransformerBlock, gpt2_normal
from tests.parity import check_parity, make_inputs

FAST = settings(max_examples=15, deadline=None)



# ----------------------------------------------------------------------------- Embedding
@pytest.mark.parametrize("one_hot", [True, False])
def test_embedding_matches_torch(one_hot, monkeypatch):
    if not one_hot:  # force the sort + reduceat backward
        monkeypatch.setattr("nnlib.attention._ONE_HOT_LIMIT", 0)
    ids = np.random.default_rng(1).integers(0, 11, size=(4, 7))
    ids[0, :3] = 5  # repeated ids must add up
    check_parity(lambda w, i: embedding(i, w), lambda w, i: TF.embedding(torch.from_numpy(i), w),
                 shapes=[(11, 6)], extra=(ids,))


def test_embedding_layer_shapes_and_errors():
    nnlib.manual_seed(0)
    emb = Embedding(10, 4)
    assert emb.embeddings.shape == (10, 4) and emb.embeddings.dtype == np.float32
    assert np.abs(emb.embeddings.data).max() <= 0.05  # Keras' default "uniform": U(-0.05, 0.05)
    gpt = Embedding(200, 50, embeddings_initializer=gpt2_normal())  # GPT-2's N(0, 0.02^2), passed explicitly
    assert abs(float(gpt.embeddings.data.std()) - 0.02) < 0.002
    assert emb([1, 2, 3]).shape == (3, 4)
    assert emb(np.zeros((2, 5), dtype=np.int32)).shape == (2, 5, 4)
    with pytest.raises(ValueError, match="out of range.*10 rows"):
        emb([3, 10])
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([0.5, 1.0]))


# ----------------------------------------------------------------------------- LayerNorm
@FAST
@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=2), d=st.integers(2, 9), seed=st.integers(0, 50))
def test_layer_norm_matches_torch(lead, d, seed):
    shape = tuple(lead) + (d,)
    check_parity(lambda x, g, b: layer_norm(x, g, b),
                 lambda x, g, b: TF.layer_norm(x, (d,), g, b, eps=1e-5),
                 shapes=[shape, (d,), (d,)], seed=seed)


def test_layer_norm_without_affine_and_float32():
    check_parity(lambda x: layer_norm(x), lambda x: TF.layer_norm(x, (5,), eps=1e-5), shapes=[(3, 5)])
    check_parity(lambda x, g, b: layer_norm(x, g, b), lambda x, g, b: TF.layer_norm(x, (8,), g, b, eps=1e-5),
                 shapes=[(2, 3, 8), (8,), (8,)], dtype=np.float32)


def test_layer_norm_layer():
    ln = LayerNorm(6)
    x = np.random.default_rng(0).standard_normal((2, 3, 6)).astype(np.float32) * 5 + 3
    y = ln(x).data
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1, atol=1e-3)
    lazy = LayerNorm()
    assert lazy(x).shape == x.shape and lazy.gamma.shape == (6,)
    with pytest.raises(ValueError, match="LayerNorm.*size 6"):
        ln(np.zeros((2, 5), dtype=np.float32))


# ----------------------------------------------------------------------------- attention
def _torch_sdpa(**kw):
    return lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, **kw)


@FAST
@given(b=st.integers(1, 2), h=st.integers(1, 3), tq=st.integers(1, 6), tk=st.integers(1, 6),
       d=st.integers(1, 5), causal=st.booleans(), seed=st.integers(0, 50))
def test_sdpa_matches_torch(b, h, tq, tk, d, causal, seed):
    if causal and tk < tq:
        tk = tq  # top-left causal: every query row needs at least one key
    check_parity(lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=causal),
                 _torch_sdpa(is_causal=causal), shapes=[(b, h, tq, d), (b, h, tk, d), (b, h, tk, d + 1)],
                 seed=seed)


def test_sdpa_masks_scale_and_broadcast():
    rng = np.random.default_rng(0)
    keep = rng.random((1, 4, 5)) > 0.3
    keep[..., 0] = True
    additive = rng.standard_normal((4, 5))
    shapes = [(2, 1, 4, 3), (2, 1, 5, 3), (2, 1, 5, 3)]
    check_parity(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=keep),
                 lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=torch.from_numpy(keep)),
                 shapes=shapes)
    check_parity(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=additive, scale=0.3),
                 lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=torch.from_numpy(additive),
                                                                 scale=0.3),
                 shapes=shapes)
    # leading axes broadcast (one key/value set shared by both batch rows)
    check_parity(lambda q, k, v: scaled_dot_product_attention(q, k, v),
                 _torch_sdpa(), shapes=[(2, 3, 4, 3), (1, 3, 5, 3), (1, 3, 5, 2)])
    check_parity(lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
                 _torch_sdpa(is_causal=True), shapes=[(2, 2, 6, 4)] * 3, dtype=np.float32)


def test_sdpa_dropout_uses_the_generator_and_matches_a_reference():
    p = 0.3
    q, k, v = make_inputs([(2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 3)], seed=4)
    keep = np.random.default_rng(7).random((2, 2, 4, 4), dtype=np.float32) >= p

    def reference(q, k, v):
        mask = torch.from_numpy(causal_mask(4, 4, np.float64).copy())
        w = TF.softmax(q @ k.transpose(-1, -2) / np.sqrt(3) + mask, -1)
        return (w * torch.from_numpy(keep) / (1 - p)) @ v
    check_parity(lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p,
                                                               rng=np.random.default_rng(7)),
                 reference, inputs=[q, k, v])


def test_sdpa_returns_weights_and_checks_shapes():
    q = np.random.default_rng(0).standard_normal((1, 2, 3, 4)).astype(np.float32)
    out, w = scaled_dot_product_attention(q, q, q, is_causal=True, return_weights=True)
    assert out.shape == (1, 2, 3, 4) and w.shape == (1, 2, 3, 3)
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-6)
    assert np.all(np.triu(w[0, 0], 1) == 0)
    with pytest.raises(ValueError, match="same last dimension"):
        scaled_dot_product_attention(q, q[..., :3], q)
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(q, q, q, mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, q, q, mask=np.ones((3, 3), int))


def test_causal_mask_offsets():
    m = causal_mask(2, 4, offset=2)
    assert np.isneginf(m).tolist() == [[False, False, False, True], [False, False, False, False]]
    assert not m.flags.writeable


# ----------------------------------------------------------------------------- SelfAttention
def _set_mha(mha, weights):
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    for proj, w, b in ((mha.q_proj, wq, bq), (mha.k_proj, wk, bk), (mha.v_proj, wv, bv), (mha.out_proj, wo, bo)):
        proj.kernel, proj.bias = w, b


def _torch_mha(x, ctx, weights, heads, mask):
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    x_, c_ = x.transpose(0, 1), ctx.transpose(0, 1)  # torch's functional form is sequence-first
    out, _ = TF.multi_head_attention_forward(
        x_, c_, c_, x.shape[-1], heads, None, torch.cat([bq, bk, bv]), None, None, False, 0.0, wo.T, bo,
        training=False, need_weights=False, attn_mask=mask, use_separate_proj_weight=True,
        q_proj_weight=wq.T, k_proj_weight=wk.T, v_proj_weight=wv.T)
    return out.transpose(0, 1)


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_torch(causal):
    d, heads, t = 8, 2, 5
    mha = SelfAttention(d, heads, causal=causal)
    shapes = [(3, t, d)] + [(d, d), (d,)] * 4
    mask = torch.from_numpy(causal_mask(t, t, np.float64).copy()) if causal else None

    def ours(x, *w):
        _set_mha(mha, w)
        return mha(x)
    check_parity(ours, lambda x, *w: _torch_mha(x, x, w, heads, mask), shapes=shapes, low=-1, high=1)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mask_shape", ["tt", "bhtt"])
def test_self_attention_float_mask_gets_its_gradient_as_in_torch(fused, causal, mask_shape, monkeypatch):
    """A float mask that requires grad (a learned bias) gets torch's gradient, summed over broadcast axes."""
    monkeypatch.setattr(SelfAttention, "fuse_projections", fused)
    b, d, heads, t = 2, 8, 2, 5
    mha = SelfAttention(d, heads, causal=causal, dtype="float64")
    shape = (t, t) if mask_shape == "tt" else (b, heads, t, t)
    causal_t = torch.from_numpy(causal_mask(t, t, np.float64).copy()) if causal else 0.0

    def ours(x, m, *w):
        _set_mha(mha, w)
        assert mha._plain_projections() is fused
        return mha(x, mask=m)

    def theirs(x, m, *w):
        m = m if m.ndim == 2 else m.reshape(b * heads, t, t)  # torch's 3-D masks are (batch * heads, T, S)
        return _torch_mha(x, x, w, heads, m + causal_t)
    check_parity(ours, theirs, shapes=[(b, t, d), shape] + [(d, d), (d,)] * 4, low=-1, high=1)


def test_multi_head_cross_attention_matches_torch():
    d, heads = 6, 3
    mha = SelfAttention(d, heads)

    def ours(x, ctx, *w):
        _set_mha(mha, w)
        return mha(x, context=ctx)
    check_parity(ours, lambda x, ctx, *w: _torch_mha(x, ctx, w, heads, None),
                 shapes=[(2, 3, d), (2, 4, d)] + [(d, d), (d,)] * 4, low=-1, high=1)


def test_self_attention_weights_and_errors():
    nnlib.manual_seed(0)
    mha = SelfAttention(8, 4, causal=True)
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    out, w = mha(x, need_weights=True)
    assert out.shape == (2, 5, 8) and w.shape == (2, 4, 5, 5)
    assert np.all(np.triu(w, 1) == 0)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        SelfAttention(10, 4)
    with pytest.raises(ValueError, match=r"\(batch, T, 8\)"):
        mha(np.zeros((2, 5, 6), dtype=np.float32))
    with pytest.raises(RuntimeError, match="no_grad"):
        mha(x, cache=KVCache(1, 2, 4, 8, 2).layers[0])
    with pytest.raises(TypeError, match=r"SelfAttention\): mask must be boolean"):
        mha(x, mask=np.ones((5, 5), dtype=int))
    with pytest.raises(ValueError, match=r"SelfAttention\): mask of shape \(4, 4\) does not broadcast"):
        mha(x, mask=np.ones((4, 4), dtype=bool))


@pytest.mark.parametrize("causal, use_mask, use_bias, frozen_k", [
    (True, False, True, False), (True, True, True, False), (False, True, False, True), (False, False, True, True)])
def test_fused_projections_equal_the_layer_by_layer_path(causal, use_mask, use_bias, frozen_k, monkeypatch):
    """The one-matmul q/k/v path gives the values and gradients of the three Dense layers."""
    nnlib.manual_seed(2)
    mha = SelfAttention(8, 2, causal=causal, use_bias=use_bias, dtype="float64")
    if frozen_k:
        mha.k_proj.kernel.requires_grad = False
    rng = np.random.default_rng(4)
    x0 = rng.standard_normal((2, 5, 8))
    mask = rng.random((5, 5)) > 0.3 if use_mask else None
    if mask is not None:
        mask[:, 0] = True  # every query sees at least one key
    g = rng.standard_normal((2, 5, 8))
    results = []
    for fused in (True, False):
        monkeypatch.setattr(SelfAttention, "fuse_projections", fused)
        assert mha._plain_projections() is fused
        params = [p for p in mha.parameters() if p.requires_grad]
        for p in params:
            p.grad = None
        x = nnlib.Tensor(x0, requires_grad=True)
        out, w = mha(x, mask=mask, need_weights=True)
        out.backward(g)
        results.append([out.data, w, x.grad] + [p.grad for p in params])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert mha.k_proj.kernel.grad is None if frozen_k else True


def test_self_attention_cache_equals_full_pass():
    nnlib.manual_seed(1)
    mha = SelfAttention(8, 2, causal=True)
    x = np.random.default_rng(0).standard_normal((2, 7, 8)).astype(np.float32)
    full = mha(x).data
    cache = KVCache(1, 2, 2, 16, 4).layers[0]
    with nnlib.no_grad():
        parts = [mha(x[:, :3], cache=cache).data, mha(x[:, 3:4], cache=cache).data,
                 mha(x[:, 4:7], cache=cache).data]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, atol=1e-5)
    with pytest.raises(ValueError, match="full"):
        with nnlib.no_grad():
            mha(np.zeros((2, 10, 8), np.float32), cache=cache)


# ----------------------------------------------------------------------------- TransformerBlock
def _torch_block(x, heads, ln1_g, ln1_b, wq, bq, wk, bk, wv, bv, wo, bo, ln2_g, ln2_b, w1, b1, w2, b2):
    b, t, d = x.shape
    h = TF.layer_norm(x, (d,), ln1_g, ln1_b, eps=1e-5)

    def split(z):
        return z.view(b, t, heads, d // heads).transpose(1, 2)
    a = TF.scaled_dot_product_attention(split(h @ wq + bq), split(h @ wk + bk), split(h @ wv + bv), is_causal=True)
    x = x + (a.transpose(1, 2).reshape(b, t, d) @ wo + bo)
    h = TF.layer_norm(x, (d,), ln2_g, ln2_b, eps=1e-5)
    return x + (TF.gelu(h @ w1 + b1, approximate="tanh") @ w2 + b2)


def _block_params(block):
    a = block.attn
    return [block.ln1.gamma, block.ln1.beta, a.q_proj.kernel, a.q_proj.bias, a.k_proj.kernel, a.k_proj.bias,
            a.v_proj.kernel, a.v_proj.bias, a.out_proj.kernel, a.out_proj.bias, block.ln2.gamma, block.ln2.beta,
            block.mlp_in.kernel, block.mlp_in.bias, block.mlp_out.kernel, block.mlp_out.bias]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transformer_block_matches_a_torch_gpt2_block(dtype):
    d, heads = 8, 2
    nnlib.manual_seed(3)
    block = TransformerBlock(d, heads)
    rng = np.random.default_rng(5)
    weights = [p.data.astype(dtype) + rng.normal(0, 0.1, p.shape).astype(dtype) for p in _block_params(block)]
    x = rng.standard_normal((2, 6, d)).astype(dtype)

    def ours(x, *w):
        names = ["ln1.gamma", "ln1.beta", "attn.q_proj.kernel", "attn.q_proj.bias", "attn.k_proj.kernel",
                 "attn.k_proj.bias", "attn.v_proj.kernel", "attn.v_proj.bias", "attn.out_proj.kernel",
                 "attn.out_proj.bias", "ln2.gamma", "ln2.beta", "mlp_in.kernel", "mlp_in.bias",
                 "mlp_out.kernel", "mlp_out.bias"]
        for name, value in zip(names, w):
            *path, attr = name.split(".")
            obj = block
            for part in path:
                obj = getattr(obj, part)
            setattr(obj, attr, value)
        return block(x)
    check_parity(ours, lambda x, *w: _torch_block(x, heads, *w), inputs=[x] + weights,
                 atol=1e-5 if dtype == np.float32 else None)


def test_transformer_block_dropout_only_in_training():
    nnlib.manual_seed(0)
    block = TransformerBlock(8, 2, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((1, 4, 8)).astype(np.float32)
    block.eval()
    a, b = block(x).data, block(x).data
    np.testing.assert_array_equal(a, b)
    block.train()
    assert not np.allclose(block(x).data, a)
    assert block.get_config()["num_heads"] == 2


def test_sequence_layers_in_a_sequential_survive_save_and_load(tmp_path):
    from nnlib.layers import Dense
    from nnlib.models import Sequential, load_model

    nnlib.manual_seed(0)
    model = Sequential([Embedding(12, 8), TransformerBlock(8, 2), LayerNorm(8), Dense(12)])
    ids = np.random.default_rng(0).integers(0, 12, size=(2, 5))
    expected = model.predict(ids)
    assert expected.shape == (2, 5, 12)
    model.save(tmp_path / "seq.nnlib")
    np.testing.assert_array_equal(load_model(tmp_path / "seq.nnlib").predict(ids), expected)


def test_fused_mlp_matches_torch_at_extreme_values():
    d = 4
    nnlib.manual_seed(2)
    block = TransformerBlock(d, 2)

    def ours(h, w1, b1, w2, b2):
        block.mlp_in.kernel, block.mlp_in.bias, block.mlp_out.kernel, block.mlp_out.bias = w1, b1, w2, b2
        return block.mlp(h)

    def theirs(h, w1, b1, w2, b2):
        return TF.gelu(h @ w1 + b1, approximate="tanh") @ w2 + b2
    for dtype in (np.float64, np.float32):
        with np.errstate(invalid="raise", divide="raise"):
            check_parity(ours, theirs, shapes=[(2, 3, d), (d, 4 * d), (4 * d,), (4 * d, d), (d,)], low=-30,
                         high=30, dtype=dtype, rtol=1e-4 if dtype == np.float32 else None,
                         atol=1e-3 if dtype == np.float32 else None)


def test_the_unfused_mlp_path_uses_the_tanh_gelu_too():
    """GPT-2's MLP is the tanh form (F.gelu's default is exact): both paths of TransformerBlock.mlp agree."""
    from nnlib.layers import Dense

    class PlainDense(Dense):  # not exactly Dense: the block takes the layer-by-layer path
        pass

    nnlib.manual_seed(4)
    block = TransformerBlock(8, 2, dtype="float64")
    h = nnlib.Tensor(np.random.default_rng(1).normal(0, 2, size=(2, 3, 8)))
    fused = block.mlp(h).data
    wrapped = PlainDense(block.mlp_in.units, dtype="float64")
    wrapped.build((None, 8))
    wrapped.kernel.data, wrapped.bias.data = block.mlp_in.kernel.data, block.mlp_in.bias.data
    block.mlp_in = wrapped
    np.testing.assert_allclose(block.mlp(h).data, fused, rtol=1e-12, atol=1e-12)
