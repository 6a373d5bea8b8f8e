"""nnlib's dtype rule (nnlib/ops/dtypes.py) against torch's type promotion (issue 18).

Every row runs the same expression on nnlib and torch through tests/parity.py: the
result's dtype and values must agree, and gradients where a float input takes one.
"""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import nnlib
from nnlib.ops.dtypes import promote_types, result_type
from tests.parity import check_parity

I32 = np.array([0, 1, 2, 3], dtype=np.int32)
NEG = np.array([-3, -1, 0, 2, 5], dtype=np.int32)
F32 = np.array([0.5, -1.25, 2.0, 3.5], dtype=np.float32)
B = np.array([True, False, True, True])


def _div(mode):
    return (lambda a: nnlib.div(a, 2, rounding_mode=mode)), (lambda a: torch.div(a, 2, rounding_mode=mode))


ROWS = [
    # (id, nnlib fn, torch fn or None, inputs)
    ("rpow-float-base", lambda a: 0.7 ** a, None, [I32]),
    ("rpow-float-base-negative-exponent", lambda a: 0.7 ** a, None, [NEG]),
    ("rpow-int-base", lambda a: 2 ** a, None, [I32]),
    ("truediv-int", lambda a: a / 2, None, [I32]),
    ("add-float-scalar", lambda a: a + 0.5, None, [I32]),
    ("mul-int-scalar", lambda a: a * 3, None, [I32]),
    ("int8-wraps", lambda a: a + 300, None, [I32.astype(np.int8)]),
    ("exp-int", lambda a: a.exp(), None, [I32]),
    ("cos-int", lambda a: a.cos(), None, [I32]),
    ("sqrt-int", lambda a: a.sqrt(), None, [I32]),
    ("sigmoid-int", lambda a: a.sigmoid(), None, [I32]),
    ("pow-half", lambda a: a ** 0.5, None, [I32]),
    ("maximum-float-scalar", lambda a: nnlib.maximum(a, 1.5), lambda a: torch.clamp(a, min=1.5), [I32]),
    ("truediv-int-int", lambda a, b: a / b, None, [I32, I32 + 1]),
    ("div-floor", *_div("floor"), [NEG]),
    ("div-trunc", *_div("trunc"), [NEG]),
    ("div-none", *_div(None), [NEG]),
    ("div-floor-float", lambda a: nnlib.div(a, 0.75, rounding_mode="floor"),
     lambda a: torch.div(a, 0.75, rounding_mode="floor"), [F32]),
    ("floordiv", lambda a: a // 2, None, [NEG]),
    ("mod", lambda a: a % 3, None, [NEG]),
    ("pow-int-7", lambda a: a ** 7, None, [I32]),
    ("pow-int-2.0", lambda a: a ** 2.0, None, [I32]),
    ("pow-int-0.0", lambda a: a ** 0.0, None, [I32]),
    ("pow-int-tensor-negative", lambda a, b: a ** b, None, [np.array([1, -1, 2, -2, 3], np.int32),
                                                            np.array([-1, -3, -2, 2, 0], np.int32)]),
    ("pow-int-float-tensor", lambda a, b: a ** b, None, [I32, F32]),
    ("or-wraps", lambda a: a | 0xFFFFFFFF, None, [I32]),
    ("and-uint64", lambda a: a & 0xFFFFFFFF, None, [np.array([5, 2 ** 40 + 7], np.uint64)]),
    ("xor-int", lambda a: a ^ 6, None, [I32]),
    ("and-bool-int", lambda a: a & 1, None, [B]),
    ("or-bool-bool", lambda a: a | True, None, [B]),
    ("invert-int", lambda a: ~a, None, [I32]),
    ("lshift", lambda a: a << 3, None, [I32]),
    ("rshift", lambda a: a >> 1, None, [NEG]),
    ("lshift-too-far", lambda a: a << 33, None, [I32]),
    ("lshift-tensor", lambda a, b: a << b, None, [I32, np.array([1, 2, 0, 3], np.int32)]),
    ("eq-int-float", lambda a: a == 1.0, None, [I32]),
    ("lt-int-float", lambda a: a < 1.5, None, [I32]),
    ("int32-plus-0d-float64", lambda a, b: a + b, None, [I32, np.array(1.5)]),
    ("float32-plus-0d-float64", lambda a, b: a * b, None, [F32, np.array(1.5)]),
    ("int8-plus-0d-int64", lambda a, b: a + b, None, [I32.astype(np.int8), np.array(3)]),
    ("uint8-plus-int8", lambda a, b: a + b, None, [I32.astype(np.uint8), I32.astype(np.int8)]),
    ("bool-plus-int", lambda a: a + 1, None, [B]),
    ("int-times-float32", lambda a, b: a * b, None, [I32.astype(np.int64), F32]),
    ("float16-plus-float32", lambda a, b: a + b, None, [F32.astype(np.float16), F32]),
    ("where-int-float", lambda a: nnlib.where(a > 1, a, 0.5), lambda a: torch.where(a > 1, a, 0.5), [I32]),
    ("mean-float-stays", lambda a: (a * 2).mean(), None, [F32]),
    ("sum-int", lambda a: a.sum(), None, [I32]),
    ("sum-bool", lambda a: a.sum(), None, [B]),
    ("cumsum-int", lambda a: a.cumsum(axis=0), lambda a: a.cumsum(dim=0), [I32]),
    ("logsumexp-int", lambda a: a.logsumexp(axis=0), lambda a: a.logsumexp(dim=0), [I32]),
    ("relu-int", lambda a: a.relu(), None, [NEG]),
    ("abs-int", lambda a: abs(a), None, [NEG]),
    ("0d-results-keep-float64", lambda a: a.sum() * 0.2 + a.abs().sum() * 0.1, None, [F32.astype(np.float64)]),
    ("pow-0d-tensor-exponent", lambda a, b: a.abs() ** b.sum(), None, [F32.astype(np.float64), np.array([0.5, 1.0])]),
    ("float-grad-through-int-mix", lambda a, b: (a * b + 0.5) / (b + 1), None, [F32, I32]),
]


@pytest.mark.parametrize("name, fn, torch_fn, inputs", ROWS, ids=[r[0] for r in ROWS])
def test_promotion_matches_torch(name, fn, torch_fn, inputs):
    check_parity(fn, torch_fn, inputs=inputs)


def test_negative_int_exponent_raises_like_torch():
    with pytest.raises(RuntimeError, match="negative integer powers"):
        torch.tensor([1, 2], dtype=torch.int32) ** -2
    with pytest.raises(RuntimeError, match="negative integer powers"):
        nnlib.Tensor([1, 2], dtype=np.int32) ** -2


def test_bitwise_on_floats_is_a_clear_error():
    with pytest.raises(TypeError, match="integer or bool"):
        nnlib.Tensor([1.0, 2.0]) & 1
    with pytest.raises(TypeError, match="integer"):
        nnlib.Tensor([1.0, 2.0]) << 1


_TORCH = {np.dtype(bool): torch.bool, np.dtype(np.uint8): torch.uint8, np.dtype(np.int8): torch.int8,
          np.dtype(np.int16): torch.int16, np.dtype(np.int32): torch.int32, np.dtype(np.int64): torch.int64,
          np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32,
          np.dtype(np.float64): torch.float64}


@pytest.mark.parametrize("a, b", list(itertools.combinations_with_replacement(list(_TORCH), 2)))
def test_promotion_table_is_torchs(a, b):
    assert _TORCH[promote_types(a, b)] == torch.promote_types(_TORCH[a], _TORCH[b])


@settings(max_examples=60, deadline=None)
@given(a=st.sampled_from(list(_TORCH)), b=st.sampled_from(list(_TORCH)), a0=st.booleans(), b0=st.booleans(),
       scalar=st.sampled_from([True, 3, 2.5]))
def test_result_type_tiers(a, b, a0, b0, scalar):
    """Dimensioned tensors, 0-d tensors and Python numbers, against torch.result_type."""
    x = np.ones(() if a0 else (2,), dtype=a)
    y = np.ones(() if b0 else (2,), dtype=b)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    assert _TORCH[result_type(x, y)] == torch.result_type(tx, ty)
    assert _TORCH[result_type(x, scalar)] == torch.result_type(tx, scalar)


def test_wide_unsigned_mixing_is_refused_like_torch():
    with pytest.raises(TypeError, match="uint16/uint32/uint64"):
        nnlib.Tensor([1, 2], dtype=np.uint64) + nnlib.Tensor([1, 2], dtype=np.int64)


def test_float32_fast_path_keeps_float32():
    x = nnlib.Tensor(F32)
    for y in (x + 1, x * 2.0, x / 3, 2.0 ** x, x ** 2, x - np.float64(1.0), x + x):
        assert y.dtype == np.float32
    assert (nnlib.Tensor(F32.astype(np.float64)) * 2.0).dtype == np.float64


def test_cumsum_of_0d_is_0d():
    check_parity(lambda a: a.cumsum(axis=0), lambda a: a.cumsum(dim=0), inputs=[np.array(2.5)])
    check_parity(lambda a: a.cumsum(axis=-1), lambda a: a.cumsum(dim=-1), inputs=[np.array(2.5)])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_max_pool2d_padding_on_integers(dtype):
    x = np.arange(16).reshape(1, 1, 4, 4).astype(dtype)
    check_parity(lambda a: nnlib.functional.max_pool2d(a, 2, padding=1),
                 lambda a: TF.max_pool2d(a, 2, padding=1) if a.dtype != torch.uint8 else
                 TF.max_pool2d(a.int(), 2, padding=1).to(torch.uint8), inputs=[x])


@pytest.mark.parametrize("widths", [(-1, 1, 0, -1), (-2, -1), (1, -1, -1, 2)])
def test_pad_negative_widths_crop_like_torch(widths):
    check_parity(lambda a: nnlib.pad(a, widths), lambda a: TF.pad(a, widths), shapes=[(3, 4)])


def test_squeeze_axis_out_of_range_on_0d():
    with pytest.raises(IndexError):
        torch.tensor(5.0).squeeze(1)
    with pytest.raises(IndexError, match="out of range"):
        nnlib.Tensor(5.0).squeeze(1)
    check_parity(lambda a: a.squeeze(0), None, inputs=[np.array(5.0)])
    check_parity(lambda a: a.squeeze(-1), None, inputs=[np.array(5.0)])
    with pytest.raises(IndexError, match="out of range"):
        nnlib.zeros(2, 1).squeeze(2)


@pytest.mark.parametrize("shifts, dims", [((1, 2), (0,)), (1, (0, 1))])
def test_roll_shifts_and_dims_must_align(shifts, dims):
    with pytest.raises(RuntimeError):
        torch.ones(3, 4).roll(shifts, dims)
    with pytest.raises(ValueError, match="shifts"):
        nnlib.ones(3, 4).roll(shifts, axis=dims)


def test_scatter_add_dtype_mismatch():
    with pytest.raises(RuntimeError):
        torch.zeros(3, dtype=torch.float16).scatter_add(0, torch.tensor([0, 1]), torch.ones(2))
    with pytest.raises(TypeError, match="float16.*float32|dtype"):
        nnlib.zeros(3, dtype=np.float16).scatter_add(0, np.array([0, 1]), nnlib.ones(2))


_VALUES = {"b": [True, False], "u": [0, 1, 7], "i": [-3, 0, 5], "f": [-1.5, 0.25, 2.0]}


@settings(max_examples=60, deadline=None)
@given(a=st.sampled_from(list(_TORCH)), b=st.sampled_from(list(_TORCH)),
       shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       op=st.sampled_from(["add", "mul", "truediv", "maximum", "lt", "where"]), seed=st.integers(0, 99))
def test_binary_ops_any_dtypes_and_shapes(a, b, shapes, op, seed):
    """Any two of nnlib's dtypes, any broadcastable shapes (0-d included): torch's dtype and values."""
    rng = np.random.default_rng(seed)
    x, y = (rng.choice(_VALUES[d.kind], size=s).astype(d) for d, s in zip((a, b), shapes.input_shapes))
    if op in ("add", "mul") and a == b == np.dtype(bool):
        return  # bool + bool is logical or in NumPy, an error or 'or' in torch: nnlib does not promise it
    if op == "truediv":
        y = np.where(y == 0, np.ones((), b), y).astype(b)
    fn = {"add": lambda p, q: p + q, "mul": lambda p, q: p * q, "truediv": lambda p, q: p / q,
          "maximum": lambda p, q: nnlib.maximum(p, q), "lt": lambda p, q: p < q,
          "where": lambda p, q: nnlib.where(p > q, p, q)}[op]
    tfn = {"maximum": torch.maximum, "where": lambda p, q: torch.where(p > q, p, q)}.get(op, fn)
    check_parity(fn, tfn, inputs=[x, y], atol=1e-3, rtol=1e-3)
