"""Tests for nnlib.metrics (chapter 08), with scikit-learn as the reference."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnlib
from nnlib import metrics

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def assert_same(ours, theirs):
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15, equal_nan=True)


@st.composite
def label_pairs(draw, max_classes=4):
    """Two label vectors of equal length; sometimes constant, shifted or with unseen classes."""
    n = draw(st.integers(1, 25))
    k = draw(st.integers(1, max_classes))
    labels = st.integers(0, k - 1)
    y_true = np.asarray(draw(st.lists(labels, min_size=n, max_size=n)))
    y_pred = np.asarray(draw(st.lists(labels, min_size=n, max_size=n)))
    shift = draw(st.sampled_from([0, 0, 3]))
    return y_true + shift, y_pred + shift


@st.composite
def scored_labels(draw):
    """Binary labels and scores with many ties (scores rounded to one decimal)."""
    n = draw(st.integers(2, 30))
    y = np.asarray(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    scores = np.asarray(draw(st.lists(st.integers(0, 10), min_size=n, max_size=n))) / 10
    return y, scores


# ----------------------------------------------------------------------------
# label metrics
# ----------------------------------------------------------------------------

@settings(FAST, max_examples=30)
@given(label_pairs(), st.sampled_from([0, 1, np.nan]))
def test_scores_match_sklearn(pair, zero_division):
    y_true, y_pred = pair
    assert_same(metrics.accuracy_score(y_true, y_pred), skm.accuracy_score(y_true, y_pred))
    for average in (None, "micro", "macro", "weighted", "binary"):
        for name in ("precision_score", "recall_score", "f1_score"):
            kwargs = dict(average=average, zero_division=zero_division)
            try:
                theirs = getattr(skm, name)(y_true, y_pred, **kwargs)
            except ValueError:
                with pytest.raises(ValueError):
                    getattr(metrics, name)(y_true, y_pred, **kwargs)
                continue
            assert_same(getattr(metrics, name)(y_true, y_pred, **kwargs), theirs)


@pytest.mark.filterwarnings("ignore:A single label was found")
@FAST
@given(label_pairs(), st.data())
def test_confusion_matrix_and_support_match_sklearn(pair, data):
    y_true, y_pred = pair
    labels = None
    if data.draw(st.booleans()):
        labels = data.draw(st.permutations(list(range(8))))[:data.draw(st.integers(1, 5))]
    for normalize in (None, "true", "pred", "all"):
        try:
            theirs = skm.confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
        except ValueError:
            with pytest.raises(ValueError, match="none of labels"):
                metrics.confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
            return
        ours = metrics.confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
        assert ours.dtype == theirs.dtype
        assert_same(ours, theirs)
    if labels is not None:
        for average in (None, "micro", "macro", "weighted"):
            ours = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                           average=average)
            theirs = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                         average=average, zero_division=0)
            for a, b in zip(ours, theirs):
                assert (a is None) == (b is None)
                if a is not None:
                    assert_same(a, b)


def _int_support(report: str) -> str:
    """scikit-learn 1.9 prints supports as '2.0' when no prediction at all is right."""
    lines = report.split("\n")
    for i, line in enumerate(lines):
        if re.search(r"\d\.0$", line):  # the support field is the last 9 characters
            lines[i] = line[:-9] + f"{int(float(line[-9:])):>9}"
    return "\n".join(lines)


@settings(FAST, max_examples=40)
@given(label_pairs(), st.sampled_from([2, 3]))
def test_classification_report_matches_sklearn(pair, digits):
    y_true, y_pred = pair
    ours = metrics.classification_report(y_true, y_pred, digits=digits)
    theirs = skm.classification_report(y_true, y_pred, digits=digits, zero_division=0)
    assert ours == _int_support(theirs)
    ours = metrics.classification_report(y_true, y_pred, output_dict=True)
    theirs = skm.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    assert ours.keys() == theirs.keys()
    for key in ours:
        if key == "accuracy":
            assert_same(ours[key], theirs[key])
        else:
            assert ours[key].keys() == theirs[key].keys()
            assert_same(list(ours[key].values()), list(theirs[key].values()))


def test_report_with_names_and_partial_labels():
    y_true = np.array([0, 1, 2, 2, 1, 0, 2])
    y_pred = np.array([0, 2, 2, 2, 1, 0, 1])
    names = ["cat", "dog", "a rather long class name"]
    ours = metrics.classification_report(y_true, y_pred, target_names=names, digits=4)
    assert ours == skm.classification_report(y_true, y_pred, target_names=names, digits=4)
    # leaving out a class turns the accuracy row into a micro average row
    ours = metrics.classification_report(y_true, y_pred, labels=[2, 0])
    assert ours == skm.classification_report(y_true, y_pred, labels=[2, 0])
    assert "micro avg" in ours
    with pytest.raises(ValueError, match="3 classes .* 2 target_names"):
        metrics.classification_report(y_true, y_pred, target_names=["a", "b"])


def test_string_labels_and_pos_label():
    y_true = ["spam", "ham", "spam", "ham", "spam"]
    y_pred = ["spam", "spam", "ham", "ham", "spam"]
    for name in ("precision_score", "recall_score", "f1_score"):
        assert_same(getattr(metrics, name)(y_true, y_pred, pos_label="spam"),
                    getattr(skm, name)(y_true, y_pred, pos_label="spam"))
    with pytest.raises(ValueError, match=r"pos_label=1 is not a valid label"):
        metrics.precision_score(y_true, y_pred)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred),
                                  skm.confusion_matrix(y_true, y_pred))
    assert metrics.classification_report(y_true, y_pred) == skm.classification_report(
        y_true, y_pred)


def test_edge_cases():
    # a class never predicted: its precision is 0/0 -> zero_division
    y_true, y_pred = [0, 1, 1, 0], [0, 0, 0, 0]
    assert metrics.precision_score(y_true, y_pred) == 0.0
    assert metrics.precision_score(y_true, y_pred, zero_division=1) == 1.0
    assert np.isnan(metrics.precision_score(y_true, y_pred, zero_division=np.nan))
    with pytest.warns(metrics.UndefinedMetricWarning, match="Precision is ill-defined"):
        metrics.precision_score(y_true, y_pred, zero_division="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default zero_division=0 is silent
        metrics.f1_score(y_true, y_pred)
    # all one class, predicted perfectly
    assert metrics.f1_score([1, 1, 1], [1, 1, 1]) == 1.0
    assert metrics.accuracy_score([1, 1, 1], [1, 0, 1], normalize=False) == 2.0
    np.testing.assert_array_equal(metrics.confusion_matrix([1, 1], [1, 1]), [[2]])
    # 0/1 labels: ravel gives tn, fp, fn, tp
    tn, fp, fn, tp = metrics.confusion_matrix([0, 0, 1, 1, 1], [0, 1, 0, 1, 1]).ravel()
    assert (tn, fp, fn, tp) == (1, 1, 1, 2)


def test_inputs_may_be_columns_series_and_tensors():
    y_true = pd.Series([0, 1, 1, 0])
    y_pred = nnlib.Tensor(np.array([[0.0], [1.0], [0.0], [0.0]]))  # a (n, 1) model output
    assert metrics.accuracy_score(y_true, y_pred) == 0.75
    assert metrics.recall_score(y_true.to_numpy(), y_pred) == 0.5
    # float 0.0/1.0 predictions against int targets: labels are named "0" and "1"
    assert metrics.classification_report([0, 1, 1], np.array([0.0, 1.0, 0.0])) == \
        skm.classification_report([0, 1, 1], np.array([0.0, 1.0, 0.0]))


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.accuracy_score([0, 1], [0.2, 0.9]), r"continuous values.*>= 0.5"),
    (lambda: metrics.accuracy_score([0, 1], np.eye(2)), r"argmax\(axis=1\)"),
    (lambda: metrics.accuracy_score([0, 1, 1], [0, 1]), "3 samples but y_pred has 2"),
    (lambda: metrics.f1_score([0, 1, 2], [0, 1, 2]), "average='binary'"),
    (lambda: metrics.f1_score([0, 1], [0, 1], average="mean"), "average must be one of"),
    (lambda: metrics.f1_score([0, 1], [0, 1], zero_division=5), "zero_division must be"),
    (lambda: metrics.confusion_matrix([0, 1], [0, 1], labels=[5]), "none of labels"),
    (lambda: metrics.accuracy_score(["a", "b"], [0, 1]), "mix string and number"),
])
def test_label_errors_are_clear(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------
# curves
# ----------------------------------------------------------------------------

@FAST
@given(scored_labels())
def test_roc_and_pr_curves_match_sklearn(case):
    y, scores = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one-class samples warn in both libraries
        for drop in (True, False):
            for a, b in zip(metrics.roc_curve(y, scores, drop_intermediate=drop),
                            skm.roc_curve(y, scores, drop_intermediate=drop)):
                assert_same(a, b)
            for a, b in zip(metrics.precision_recall_curve(y, scores, drop_intermediate=drop),
                            skm.precision_recall_curve(y, scores, drop_intermediate=drop)):
                assert_same(a, b)
        assert_same(metrics.roc_auc_score(y, scores), skm.roc_auc_score(y, scores))
        fpr, tpr, thresholds = metrics.roc_curve(y, scores)
    assert thresholds[0] == np.inf and thresholds.dtype == np.float64


def test_roc_auc_is_the_pairwise_ranking_probability():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200) + 0.3 * y, 1)
    pos, neg = scores[y == 1], scores[y == 0]
    diff = pos[:, None] - neg[None, :]
    expected = np.mean((diff > 0) + 0.5 * (diff == 0))
    assert metrics.roc_auc_score(y, scores) == pytest.approx(expected, abs=1e-12)
    fpr, tpr, _ = metrics.roc_curve(y, scores)
    assert metrics.auc(fpr, tpr) == pytest.approx(expected, abs=1e-12)


def test_curve_labels_and_pos_label():
    y = np.array([2, 5, 5, 2, 5])
    scores = np.array([0.1, 0.8, 0.4, 0.35, 0.9])
    with pytest.raises(ValueError, match="pos_label is not given"):
        metrics.roc_curve(y, scores)
    for a, b in zip(metrics.roc_curve(y, scores, pos_label=5),
                    skm.roc_curve(y, scores, pos_label=5)):
        assert_same(a, b)
    # roc_auc_score treats the greater label as positive, as scikit-learn does
    assert_same(metrics.roc_auc_score(y, scores), skm.roc_auc_score(y, scores))
    assert_same(metrics.roc_auc_score([-1, 1, 1, -1], [0.3, 0.2, 0.9, 0.1]),
                skm.roc_auc_score([-1, 1, 1, -1], [0.3, 0.2, 0.9, 0.1]))


def test_one_class_curves_warn_like_sklearn():
    with pytest.warns(metrics.UndefinedMetricWarning, match="No negative samples"):
        fpr, tpr, _ = metrics.roc_curve([1, 1, 1], [0.2, 0.5, 0.9])
    assert np.all(np.isnan(fpr))
    with pytest.warns(metrics.UndefinedMetricWarning, match="Only one class"):
        assert np.isnan(metrics.roc_auc_score([0, 0], [0.1, 0.3]))


@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
def test_multiclass_ovr_auc_matches_sklearn(average):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 80)
    logits = rng.normal(size=(80, 4)) + 1.5 * np.eye(4)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert_same(metrics.roc_auc_score(y, proba, multi_class="ovr", average=average),
                skm.roc_auc_score(y, proba, multi_class="ovr", average=average))
    with pytest.raises(ValueError, match="multi_class='ovr'"):
        metrics.roc_auc_score(y, proba)


def test_auc_directions_and_errors():
    assert metrics.auc([0, 1, 2], [1, 1, 1]) == 2.0
    assert metrics.auc([2, 1, 0], [1, 1, 1]) == 2.0
    with pytest.raises(ValueError, match="neither increasing nor decreasing"):
        metrics.auc([0, 2, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="y_score contains NaN"):
        metrics.roc_curve([0, 1], [0.5, np.nan])
    with pytest.raises(ValueError, match=r"y_score must be 1-D.*y_score\[:, 1\]"):
        metrics.roc_curve([0, 1], np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"y_score\[:, 1\]"):
        metrics.roc_auc_score([0, 1], np.ones((2, 2)) / 2)
