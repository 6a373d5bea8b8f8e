"""Chapter 11: einsum against torch.einsum, values and gradients."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import nnlib
from nnlib.ops.einsum import einsum
from tests.parity import check_parity

CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii->", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("iji->j", [(3, 2, 3)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("ba,ca", [(3, 4), (2, 4)]),
    ("...ij,jk->...ik", [(2, 3, 4, 5), (5, 6)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("b...d,b...d->b...", [(2, 3, 4), (2, 3, 4)]),
    ("...i,...i", [(3, 4), (4,)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ijk,ikl,j->il", [(2, 3, 4), (2, 4, 5), (3,)]),
    ("ij,j->i", [(3, 1), (4,)]),
    ("iij,jk->ik", [(3, 3, 4), (4, 2)]),
    ("Ab,bc->Ac", [(2, 3), (3, 4)]),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("equation, shapes", CASES, ids=[c[0] for c in CASES])
def test_einsum_matches_torch(equation, shapes, dtype):
    check_parity(lambda *xs: einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs),
                 shapes=shapes, dtype=dtype)


def test_list_form_arrays_and_partial_grads():
    a = nnlib.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = np.ones((3, 2))
    out = einsum("ij,jk->ik", [a, b])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((2, 3), 2.0))


@settings(max_examples=25, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2), m=st.integers(1, 4), k=st.integers(1, 4),
       n=st.integers(1, 4), seed=st.integers(0, 50))
def test_batched_matmul_with_broadcast_leads(lead, m, k, n, seed):
    shapes = [tuple(lead) + (m, k), (k, n)]
    check_parity(lambda a, b: einsum("...mk,kn->...mn", a, b), lambda a, b: torch.einsum("...mk,kn->...mn", a, b),
                 shapes=shapes, seed=seed)


def test_einsum_errors_are_clear():
    a = np.zeros((2, 3))
    with pytest.raises(ValueError, match="names 2 operand"):
        einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="label 'j'.*size 3.*4"):
        einsum("ij,jk->ik", a, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="name 3"):
        einsum("ijk->i", a)
    with pytest.raises(ValueError, match="in no operand"):
        einsum("ij->iz", a)
    with pytest.raises(ValueError, match="twice"):
        einsum("ij->ii", a)
    with pytest.raises(ValueError, match="invalid"):
        einsum("i1->i", a)
