"""Tests for nnlib.data (chapter 05): splits, scalers and the DataLoader.

scikit-learn is the reference: train_test_split must select the very same rows,
and the scalers must learn the same statistics and produce the same arrays.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import model_selection as skms
from sklearn import preprocessing as skpp

import nnlib
from nnlib.data import DataLoader, MinMaxScaler, NotFittedError, StandardScaler, train_test_split

FAST = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _outcome(fn, *args, **kwargs):
    """('ok', result) or ('error', None) when fn raises ValueError."""
    try:
        return "ok", fn(*args, **kwargs)
    except ValueError:
        return "error", None


# ----------------------------------------------------------------------------
# train_test_split
# ----------------------------------------------------------------------------

@st.composite
def split_cases(draw):
    n = draw(st.integers(2, 60))
    n_classes = draw(st.integers(1, 4))
    y = np.asarray(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    kwargs = {"random_state": draw(st.integers(0, 2**31 - 1))}
    for name in ("test_size", "train_size"):
        kind = draw(st.sampled_from(["none", "none", "float", "int", "bad"]))
        if kind == "float":
            kwargs[name] = draw(st.floats(0.01, 0.99))
        elif kind == "int":
            kwargs[name] = draw(st.integers(1, max(1, n - 1)))
        elif kind == "bad":
            kwargs[name] = draw(st.sampled_from([0, 0.0, 1.0, n, 1.5, -1]))
    if draw(st.booleans()):
        kwargs["stratify"] = y
    return n, y, kwargs


@FAST
@given(split_cases())
def test_train_test_split_same_rows_as_sklearn(case):
    n, y, kwargs = case
    X = np.arange(n * 2).reshape(n, 2)
    ours = _outcome(train_test_split, X, y, **kwargs)
    theirs = _outcome(skms.train_test_split, X, y, **kwargs)
    assert ours[0] == theirs[0], (kwargs, ours, theirs)
    if ours[0] == "ok":
        for a, b in zip(ours[1], theirs[1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs", [
    {},
    {"test_size": 0.2},
    {"test_size": 7, "train_size": 20},
    {"train_size": 0.5, "test_size": 0.3},
    {"shuffle": False, "test_size": 0.3},
])
def test_split_global_state_and_randomstate_like_sklearn(kwargs):
    X = np.arange(40)
    np.random.seed(123)
    ours = train_test_split(X, **kwargs)
    np.random.seed(123)
    theirs = skms.train_test_split(X, **kwargs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    ours = train_test_split(X, random_state=np.random.RandomState(5), **kwargs)
    theirs = skms.train_test_split(X, random_state=np.random.RandomState(5), **kwargs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def test_stratified_multilabel_rows_and_string_labels_like_sklearn():
    rng = np.random.default_rng(0)
    y2 = rng.integers(0, 2, size=(60, 2))
    ys = np.array(["cat", "dog", "bird"])[rng.integers(0, 3, 60)]
    X = np.arange(60)
    for strat in (y2, ys, list(ys)):
        ours = train_test_split(X, test_size=0.3, random_state=4, stratify=strat)
        theirs = skms.train_test_split(X, test_size=0.3, random_state=4, stratify=strat)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)


def test_stratified_split_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 20)
    _, _, y_tr, y_te = train_test_split(np.zeros((100, 3)), y, test_size=0.25,
                                        stratify=y, random_state=0)
    assert (len(y_tr), len(y_te)) == (75, 25)
    assert y_te.sum() == 5 and y_tr.sum() == 15


def test_split_types_are_kept():
    df = pd.DataFrame({"a": np.arange(10.0), "b": list("abcdefghij")},
                      index=[f"r{i}" for i in range(10)])
    s = pd.Series(np.arange(10) * 10, index=df.index, name="target")
    lst = list(range(10))
    arr = np.arange(20).reshape(10, 2)
    d_tr, d_te, s_tr, s_te, l_tr, l_te, a_tr, a_te = train_test_split(
        df, s, lst, arr, test_size=3, random_state=1)
    sk = skms.train_test_split(df, s, lst, arr, test_size=3, random_state=1)
    assert isinstance(d_tr, pd.DataFrame) and isinstance(s_te, pd.Series)
    assert isinstance(l_tr, list) and isinstance(a_tr, np.ndarray)
    pd.testing.assert_frame_equal(d_tr, sk[0])
    pd.testing.assert_frame_equal(d_te, sk[1])
    pd.testing.assert_series_equal(s_tr, sk[2])
    assert l_tr == sk[4] and l_te == sk[5]
    assert list(d_te.index) == list(s_te.index)  # rows stay aligned across inputs
    np.testing.assert_array_equal(a_te, sk[7])


def test_split_without_shuffle_takes_leading_rows():
    X = np.arange(10)
    X_tr, X_te = train_test_split(X, test_size=0.3, shuffle=False)
    np.testing.assert_array_equal(X_tr, np.arange(7))
    np.testing.assert_array_equal(X_te, np.arange(7, 10))


@pytest.mark.parametrize("args, kwargs, message", [
    ((np.zeros(5), np.zeros(4)), {}, r"lengths \[5, 4\]"),
    ((np.zeros(5),), {"test_size": 1.5}, "test_size=1.5"),
    ((np.zeros(5),), {"test_size": 5}, "test_size=5"),
    ((np.zeros(5),), {"test_size": "half"}, "test_size='half'"),
    ((np.zeros(10),), {"test_size": 0.6, "train_size": 0.6}, "more than 1"),
    ((np.zeros(10),), {"test_size": 6, "train_size": 6}, "12 is more than the 10 rows"),
    ((np.zeros(4),), {"stratify": [0, 0, 1, 2]}, r"only 1: \[1, 2\]"),
    ((np.zeros(4),), {"stratify": [0, 0, 1, 1], "shuffle": False}, "shuffle=True"),
    ((np.zeros(4),), {"stratify": [0, 1, 0]}, "stratify has 3 rows"),
    ((np.zeros(4),), {"random_state": np.random.default_rng(0)}, "RandomState"),
    ((), {}, "at least one array"),
])
def test_split_errors_are_clear(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_test_split(*args, **kwargs)


# ----------------------------------------------------------------------------
# StandardScaler / MinMaxScaler
# ----------------------------------------------------------------------------

def _table(dtype, seed=0, n=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) * np.array([1.0, 300.0, 1e-3, 0.0, 2.0]) + np.array(
        [0.0, 1e4, 5.0, 7.25, -3.0])
    return X.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("with_mean, with_std", [(True, True), (False, True), (True, False),
                                                  (False, False)])
def test_standard_scaler_matches_sklearn(dtype, with_mean, with_std):
    X, X_new = _table(dtype, 0), _table(dtype, 1, n=7)
    ours = StandardScaler(with_mean=with_mean, with_std=with_std).fit(X)
    theirs = skpp.StandardScaler(with_mean=with_mean, with_std=with_std).fit(X)
    for attr in ("mean_", "var_", "scale_"):
        a, b = getattr(ours, attr), getattr(theirs, attr)
        if b is None:
            assert a is None, attr
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=attr)
            assert a.dtype == np.float64
    assert ours.n_samples_seen_ == theirs.n_samples_seen_ and ours.n_features_in_ == 5
    for method in ("transform", "inverse_transform"):
        a, b = getattr(ours, method)(X_new), getattr(theirs, method)(X_new)
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-6 if dtype == np.float32 else 1e-12)
    if dtype != np.int64:
        assert ours.transform(X_new).dtype == dtype  # float32 stays float32


def test_standard_scaler_constant_column_and_roundtrip():
    X = _table(np.float64)
    Z = StandardScaler().fit_transform(X)
    assert np.all(Z[:, 3] == 0.0)  # the constant column is only centred (scale 1)
    np.testing.assert_allclose(Z[:, [0, 1, 2, 4]].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, [0, 1, 2, 4]].std(axis=0), 1.0, rtol=1e-12)
    scaler = StandardScaler().fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partial_fit_matches_sklearn(dtype):
    chunks = [_table(dtype, s, n=n) for s, n in ((0, 13), (1, 1), (2, 30))]
    ours, theirs = StandardScaler(), skpp.StandardScaler()
    mm_ours, mm_theirs = MinMaxScaler(), skpp.MinMaxScaler()
    for c in chunks:
        ours.partial_fit(c)
        theirs.partial_fit(c)
        mm_ours.partial_fit(c)
        mm_theirs.partial_fit(c)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.var_, theirs.var_, rtol=1e-9)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-9)
    assert ours.n_samples_seen_ == theirs.n_samples_seen_ == 44
    for attr in ("data_min_", "data_max_", "scale_", "min_"):
        np.testing.assert_array_equal(getattr(mm_ours, attr), getattr(mm_theirs, attr))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("feature_range, clip", [((0, 1), False), ((-1, 1), False),
                                                  ((-2.5, 4), True)])
def test_minmax_scaler_matches_sklearn(dtype, feature_range, clip):
    X, X_new = _table(dtype, 0), _table(dtype, 1, n=7) * 2
    ours = MinMaxScaler(feature_range=feature_range, clip=clip).fit(X)
    theirs = skpp.MinMaxScaler(feature_range=feature_range, clip=clip).fit(X)
    for attr in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        a, b = getattr(ours, attr), getattr(theirs, attr)
        assert a.dtype == b.dtype, attr
        np.testing.assert_array_equal(a, b, err_msg=attr)
    for method in ("transform", "inverse_transform"):
        a, b = getattr(ours, method)(X_new), getattr(theirs, method)(X_new)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    Z = MinMaxScaler(feature_range=feature_range).fit_transform(X)
    varying = [0, 1, 2, 4]
    np.testing.assert_allclose(Z[:, varying].min(axis=0), feature_range[0], atol=1e-5)
    np.testing.assert_allclose(Z[:, varying].max(axis=0), feature_range[1], atol=1e-5)


def test_scalers_accept_dataframes_and_check_columns():
    df = pd.DataFrame(_table(np.float64), columns=list("abcde"))
    for ours, theirs in ((StandardScaler(), skpp.StandardScaler()),
                         (MinMaxScaler(), skpp.MinMaxScaler())):
        Z = ours.fit_transform(df)
        assert isinstance(Z, np.ndarray)
        np.testing.assert_allclose(Z, theirs.fit_transform(df), rtol=1e-12)
        assert list(ours.feature_names_in_) == list("abcde")
        with pytest.raises(ValueError, match="differ from the columns seen in fit"):
            ours.transform(df[list("edcba")])
        np.testing.assert_allclose(ours.transform(df.to_numpy()), Z)  # plain arrays are fine


@pytest.mark.parametrize("Scaler", [StandardScaler, MinMaxScaler])
def test_scaler_errors_are_clear(Scaler):
    X = _table(np.float64)
    with pytest.raises(NotFittedError, match=f"This {Scaler.__name__} is not fitted yet"):
        Scaler().transform(X)
    with pytest.raises(ValueError, match="before inverse_transform"):
        Scaler().inverse_transform(X)
    fitted = Scaler().fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but .* fitted with 5 features"):
        fitted.transform(X[:, :3])
    bad = X.copy()
    bad[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN .*row 4, column 2.*dropna"):
        Scaler().fit(bad)
    df = pd.DataFrame(bad, columns=list("abcde"))
    with pytest.raises(ValueError, match=r"column 2 \('c'\)"):
        fitted.transform(df)
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        Scaler().fit(X[:, 0])
    with pytest.raises(ValueError, match="non-numeric columns"):
        Scaler().fit(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}))
    with pytest.raises(ValueError, match="0 rows"):
        Scaler().fit(np.zeros((0, 3)))


def test_minmax_bad_range():
    with pytest.raises(ValueError, match="min must be smaller than max"):
        MinMaxScaler(feature_range=(1, 0)).fit(np.ones((3, 2)))


def test_scaler_repr_and_refit_resets():
    assert repr(StandardScaler()) == "StandardScaler()"
    assert repr(MinMaxScaler((-1, 1))) == "MinMaxScaler(feature_range=(-1, 1))"
    s = StandardScaler().fit(pd.DataFrame({"a": [1.0, 2.0]}))
    s.fit(np.ones((4, 3)))
    assert s.n_features_in_ == 3 and s.n_samples_seen_ == 4
    assert not hasattr(s, "feature_names_in_")


# ----------------------------------------------------------------------------
# DataLoader
# ----------------------------------------------------------------------------

@FAST
@given(n=st.integers(1, 50), batch_size=st.integers(1, 20), drop_last=st.booleans(),
       shuffle=st.booleans())
def test_loader_batches_cover_the_data(n, batch_size, drop_last, shuffle):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n)
    loader = DataLoader(X, y, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                        seed=0)
    batches = list(loader)
    expected = n // batch_size if drop_last else -(-n // batch_size)
    assert len(loader) == len(batches) == expected
    for xb, yb in batches[:-1]:
        assert len(xb) == len(yb) == batch_size
    if batches:
        xb, yb = batches[-1]
        assert 1 <= len(yb) <= batch_size and xb.dtype == np.float32
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
    for xb, yb in batches:
        np.testing.assert_array_equal(xb, X[yb])  # rows stay aligned
    assert len(np.unique(seen)) == len(seen)
    if not drop_last:
        assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(len(seen)))


def test_loader_shuffles_anew_each_epoch_and_is_seeded():
    X = np.arange(100)
    a = DataLoader(X, batch_size=10, shuffle=True, seed=7)
    b = DataLoader(X, batch_size=10, shuffle=True, seed=7)
    epoch1 = np.concatenate(list(a))
    epoch2 = np.concatenate(list(a))
    assert not np.array_equal(epoch1, epoch2)
    np.testing.assert_array_equal(epoch1, np.concatenate(list(b)))
    np.testing.assert_array_equal(epoch2, np.concatenate(list(b)))
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(epoch1, rng.permutation(100))
    np.testing.assert_array_equal(epoch2, rng.permutation(100))


def test_loader_can_draw_from_a_given_generator():
    """seed=Generator: the loader draws its permutations from it (fit passes nnlib's generator)."""
    X = np.arange(20)
    shared = np.random.default_rng(3)
    loader = DataLoader(X, batch_size=6, shuffle=True, seed=shared)
    first = np.concatenate(list(loader))
    np.testing.assert_array_equal(first, np.random.default_rng(3).permutation(20))
    assert shared.bit_generator.state != np.random.default_rng(3).bit_generator.state  # the same object advanced


def test_loader_accepts_lists_frames_and_tensors():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    t = nnlib.Tensor(np.arange(3, dtype=np.float32))
    batches = list(DataLoader(df, [0, 1, 1], t, batch_size=2))
    xb, yb, tb = batches[0]
    np.testing.assert_array_equal(xb, [[1.0, 4.0], [2.0, 5.0]])
    np.testing.assert_array_equal(yb, [0, 1])
    np.testing.assert_array_equal(tb, [0.0, 1.0])
    single = list(DataLoader(np.arange(5), batch_size=2))
    assert isinstance(single[0], np.ndarray) and len(single) == 3


def test_loader_errors_are_clear():
    with pytest.raises(ValueError, match=r"same number of rows, got shapes \[\(5, 2\), \(4,\)\]"):
        DataLoader(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(np.zeros(5), batch_size=0)
    with pytest.raises(ValueError, match="at least one array"):
        DataLoader()
