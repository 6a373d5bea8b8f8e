"""F.interpolate (issue 18) against torch: values and gradients, every mode, size or scale_factor."""
import numpy as np
import pytest
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import nnlib.functional as F
from tests.parity import check_parity

CASES = [
    ("nearest", (2, 3, 5, 4), dict(scale_factor=2)),
    ("nearest", (2, 3, 5, 4), dict(size=(7, 3))),
    ("nearest", (1, 2, 7), dict(scale_factor=0.6)),
    ("nearest-exact", (2, 3, 5, 4), dict(size=(8, 3))),
    ("nearest-exact", (1, 2, 7), dict(scale_factor=1.7)),
    ("linear", (2, 3, 6), dict(size=11)),
    ("linear", (2, 3, 6), dict(scale_factor=2.5, align_corners=True)),
    ("linear", (2, 3, 6), dict(size=4, align_corners=False)),
    ("bilinear", (2, 3, 5, 4), dict(scale_factor=2)),
    ("bilinear", (2, 3, 5, 4), dict(size=(3, 9), align_corners=True)),
    ("bilinear", (1, 2, 5, 4), dict(scale_factor=(1.5, 0.5))),
    ("bilinear", (1, 1, 1, 4), dict(size=(3, 1), align_corners=True)),
]


@pytest.mark.parametrize("mode, shape, kw", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interpolate_matches_torch(mode, shape, kw, dtype):
    check_parity(lambda a: F.interpolate(a, mode=mode, **kw), lambda a: TF.interpolate(a, mode=mode, **kw),
                 shapes=[shape], dtype=dtype)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 6), oh=st.integers(1, 9), ow=st.integers(1, 9),
       mode=st.sampled_from(["nearest", "nearest-exact", "bilinear"]), corners=st.booleans(), seed=st.integers(0, 99))
def test_interpolate_any_sizes(h, w, oh, ow, mode, corners, seed):
    kw = dict(align_corners=corners) if mode == "bilinear" else {}
    check_parity(lambda a: F.interpolate(a, size=(oh, ow), mode=mode, **kw),
                 lambda a: TF.interpolate(a, size=(oh, ow), mode=mode, **kw), shapes=[(1, 2, h, w)], seed=seed)


def test_interpolate_errors():
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="4-D"):
        F.interpolate(np.ones((1, 1, 4)), size=3, mode="bilinear")
    with pytest.raises(ValueError, match="mode"):
        F.interpolate(x, size=3, mode="bicubic")
