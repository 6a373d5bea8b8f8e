"""Chapter 08: evaluating a classifier (模型评估) -- accuracy, precision, recall, F1, ROC.

Every function takes the true labels and the predictions as arrays (lists,
pandas Series and nnlib tensors work too) and returns the same numbers as the
scikit-learn function of the same name:

* counts: :func:`confusion_matrix` (混淆矩阵), rows = true class, columns =
  predicted class;
* scores from the counts: :func:`accuracy_score` (准确率),
  :func:`precision_score` (精确率), :func:`recall_score` (召回率),
  :func:`f1_score`, :func:`precision_recall_fscore_support` and the text table
  :func:`classification_report`;
* curves over every threshold of a score: :func:`roc_curve` (ROC 曲线),
  :func:`roc_auc_score` (AUC), :func:`precision_recall_curve` and :func:`auc`.

Precision is tp / (tp + fp) and recall tp / (tp + fn). When a denominator is
zero (a class never predicted, or never present) the score is undefined; it is
then set to ``zero_division`` (0 by default, which is what scikit-learn's
default ``"warn"`` returns, without the warning; pass ``"warn"`` to be warned).
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

__all__ = [
    "accuracy_score",
    "confusion_matrix",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
    "f1_score",
    "classification_report",
    "roc_curve",
    "roc_auc_score",
    "precision_recall_curve",
    "auc",
    "UndefinedMetricWarning",
]

_AVERAGES = ("binary", "micro", "macro", "weighted", None)


class UndefinedMetricWarning(UserWarning):
    """Chapter 08: a score had a zero denominator and was set to ``zero_division``."""


# ----------------------------------------------------------------------------
# input checking
# ----------------------------------------------------------------------------

def _to_numpy(y) -> np.ndarray:
    if hasattr(y, "iloc"):  # pandas
        return y.to_numpy()
    if not isinstance(y, np.ndarray) and hasattr(y, "numpy") and callable(y.numpy):
        return np.asarray(y.numpy())  # nnlib / torch tensor
    return np.asarray(y)


def _column(y, name: str, func: str) -> np.ndarray:
    """A 1-D array of labels or scores; a (n, 1) column is flattened."""
    arr = _to_numpy(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        hint = ""
        if name == "y_score" and arr.ndim == 2 and arr.shape[1] == 2:
            hint = (" These look like the probabilities of both classes: pass the positive "
                    "class's column, y_score[:, 1].")
        elif arr.ndim == 2:
            hint = (" If each row holds one-hot labels or per-class probabilities, "
                    "convert them to class labels with y.argmax(axis=1).")
        raise ValueError(f"{func}: {name} must be 1-D (one value per sample), got shape "
                         f"{arr.shape}.{hint}")
    return arr


def _is_continuous(y: np.ndarray) -> bool:
    return y.dtype.kind == "f" and y.size > 0 and (
        not np.all(np.isfinite(y)) or np.any(y != np.round(y)))


def _check_labels(y_true, y_pred, func: str):
    """Validate two label vectors; return them with their sorted union of labels."""
    yt = _column(y_true, "y_true", func)
    yp = _column(y_pred, "y_pred", func)
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"{func}: y_true has {yt.shape[0]} samples but y_pred has "
                         f"{yp.shape[0]}; they must be the same length")
    for name, y in (("y_true", yt), ("y_pred", yp)):
        if _is_continuous(y):
            examples = y[y != np.round(y)][:3].tolist()
            raise ValueError(
                f"{func}: {name} holds continuous values (e.g. {examples}), "
                "but class labels are expected. If these are probabilities or scores, "
                "turn them into labels first, e.g. (y_prob >= 0.5).astype(int), or use "
                "roc_curve / roc_auc_score, which take scores."
            )
    kinds = {y.dtype.kind in "USO" for y in (yt, yp) if y.size}
    if len(kinds) > 1:
        raise ValueError(f"{func}: y_true and y_pred mix string and number labels "
                         f"({yt.dtype} and {yp.dtype})")
    if {yt.dtype.kind, yp.dtype.kind} in ({"i", "f"}, {"u", "f"}):
        # e.g. int targets and a model's 0.0/1.0 predictions: compare as ints, name "0", "1"
        yt, yp = yt.astype(np.int64), yp.astype(np.int64)
    labels = np.union1d(yt, yp)
    return yt, yp, labels


def _label_counts(yt, yp, present, labels):
    """Per label of ``labels``: (true positives, predicted count, true count)."""
    k = present.shape[0]
    ti = np.searchsorted(present, yt)
    pi = np.searchsorted(present, yp)
    true_all = np.bincount(ti, minlength=k)
    pred_all = np.bincount(pi, minlength=k)
    tp_all = np.bincount(ti[ti == pi], minlength=k)
    if labels is present:
        return tp_all, pred_all, true_all
    try:
        pos = np.searchsorted(present, labels)
    except TypeError:
        raise ValueError(f"labels {labels.tolist()} are not comparable with the labels in the "
                         f"data {present.tolist()}") from None
    if k == 0:
        zeros = np.zeros(labels.shape, dtype=np.int64)
        return zeros, zeros, zeros
    pos_c = np.minimum(pos, k - 1)
    found = (pos < k) & (present[pos_c] == labels)
    return tuple(np.where(found, counts[pos_c], 0) for counts in (tp_all, pred_all, true_all))


def _zero_division_value(zero_division):
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, numbers.Real) and not isinstance(zero_division, bool):
        if zero_division in (0, 1) or np.isnan(zero_division):
            return float(zero_division)
    raise ValueError(f"zero_division must be 0, 1, np.nan or 'warn', got {zero_division!r}")


def _divide(num, den, zero_division, what: str, why: str):
    """num / den, with ``zero_division`` where den == 0 (warning if it is 'warn')."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    zero = den == 0
    out = num / np.where(zero, 1.0, den)
    if zero.any():
        out[zero] = _zero_division_value(zero_division)
        if zero_division == "warn":
            warnings.warn(
                f"{what} is ill-defined and being set to 0.0 for labels with no {why} "
                "samples. Use the zero_division parameter to control this.",
                UndefinedMetricWarning, stacklevel=3)
    return out


def _average(values, weights=None) -> float:
    """Mean of the non-NaN values (weighted when weights are given and not all zero)."""
    keep = ~np.isnan(values)
    if values.size == 0 or not keep.any():
        return float("nan")
    values = values[keep]
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)[keep]
        if weights.sum() != 0:
            return float(np.sum(values * weights) / weights.sum())
    return float(values.mean())


def _in(value, labels: np.ndarray) -> bool:
    return any(value == lab for lab in labels.tolist())


# ----------------------------------------------------------------------------
# scores from labels
# ----------------------------------------------------------------------------

def accuracy_score(y_true, y_pred, normalize: bool = True) -> float:
    """Chapter 08: the fraction of predictions equal to the true label (准确率).

    With ``normalize=False`` returns the number of correct predictions instead.
    """
    yt, yp, _ = _check_labels(y_true, y_pred, "accuracy_score")
    correct = yt == yp
    if not normalize:
        return float(correct.sum())
    return float(correct.mean()) if correct.size else float("nan")


def confusion_matrix(y_true, y_pred, labels=None, normalize=None) -> np.ndarray:
    """Chapter 08: the confusion matrix (混淆矩阵): C[i, j] counts true i predicted as j.

    Rows and columns follow ``labels`` (default: every label seen, sorted);
    samples whose true or predicted label is not in ``labels`` are left out.
    For 0/1 labels ``C.ravel()`` is ``tn, fp, fn, tp``. ``normalize='true'``
    divides each row by its sum (so the diagonal holds the recalls),
    ``'pred'`` each column (precisions), ``'all'`` the whole matrix.
    """
    func = "confusion_matrix"
    yt, yp, present = _check_labels(y_true, y_pred, func)
    if labels is None:
        labels = present
    else:
        labels = _column(labels, "labels", func)
        if labels.size == 0:
            raise ValueError(f"{func}: labels must contain at least one label")
        if yt.size and not any(_in(v, labels) for v in np.unique(yt).tolist()):
            raise ValueError(f"{func}: none of labels={labels.tolist()} occurs in y_true")
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"{func}: normalize must be None, 'true', 'pred' or 'all', "
                         f"got {normalize!r}")
    n = labels.shape[0]
    if yt.size and n:
        order = np.argsort(labels, kind="stable")
        sorted_labels = labels[order]
        ti = np.searchsorted(sorted_labels, yt)
        pi = np.searchsorted(sorted_labels, yp)
        ti_c, pi_c = np.minimum(ti, n - 1), np.minimum(pi, n - 1)
        keep = (ti < n) & (pi < n) & (sorted_labels[ti_c] == yt) & (sorted_labels[pi_c] == yp)
        rows, cols = order[ti_c[keep]], order[pi_c[keep]]
        cm = np.bincount(rows * n + cols, minlength=n * n).reshape(n, n).astype(np.int64)
    else:
        cm = np.zeros((n, n), dtype=np.int64)
    if normalize is not None:
        with np.errstate(all="ignore"):
            if normalize == "true":
                cm = cm / cm.sum(axis=1, keepdims=True)
            elif normalize == "pred":
                cm = cm / cm.sum(axis=0, keepdims=True)
            else:
                cm = cm / cm.sum()
        cm = np.nan_to_num(cm)
    return cm


def precision_recall_fscore_support(y_true, y_pred, *, beta: float = 1.0, labels=None,
                                    pos_label=1, average=None, zero_division=0):
    """Chapter 08: precision, recall, F-beta and support, per class or averaged.

    ``average=None`` returns four arrays, one entry per label (support is the
    number of true samples of each label). Otherwise it returns
    ``(precision, recall, fbeta, None)`` as floats, averaged as:

    * ``'binary'``: only the class ``pos_label`` (labels must be binary);
    * ``'micro'``: from the counts summed over classes (equals accuracy for
      single-label multiclass data);
    * ``'macro'``: the plain mean over classes;
    * ``'weighted'``: the mean weighted by each class's support.

    F-beta is (1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp); F1 has beta = 1.
    """
    func = "precision_recall_fscore_support"
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {list(_AVERAGES)}, got {average!r}")
    _zero_division_value(zero_division)
    yt, yp, present = _check_labels(y_true, y_pred, func)
    if average == "binary":
        if present.shape[0] > 2:
            raise ValueError(
                f"Target is multiclass ({present.shape[0]} labels: {present.tolist()}) but "
                "average='binary'. Choose another average setting, one of "
                "[None, 'micro', 'macro', 'weighted']."
            )
        if not _in(pos_label, present) and present.shape[0] >= 2:
            raise ValueError(f"pos_label={pos_label!r} is not a valid label. It should be one "
                             f"of {present.tolist()}")
        labels = np.asarray([pos_label])
    elif pos_label not in (None, 1):
        warnings.warn(f"pos_label={pos_label!r} is ignored when average={average!r}; use "
                      "labels=[pos_label] to score a single class.", UserWarning, stacklevel=2)
    if labels is None:
        labels = present
    else:
        labels = _column(labels, "labels", func)
    tp, pred, true = _label_counts(yt, yp, present, labels)
    if average == "micro":
        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)
    precision = _divide(tp, pred, zero_division, "Precision", "predicted")
    recall = _divide(tp, true, zero_division, "Recall", "true")
    beta2 = float(beta) * float(beta)
    fscore = _divide((1 + beta2) * tp, beta2 * true + pred, zero_division,
                     "F-score", "true nor predicted")
    if average is None:
        return precision, recall, fscore, true
    weights = true if average == "weighted" else None
    return (_average(precision, weights), _average(recall, weights),
            _average(fscore, weights), None)


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                    zero_division=0):
    """Chapter 08: precision (精确率) tp / (tp + fp): of the predicted positives, how many are right.

    ``average`` as in :func:`precision_recall_fscore_support` (``'binary'``
    scores the class ``pos_label``; ``None`` returns one value per label).
    """
    p, _, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                 pos_label=pos_label, average=average,
                                                 zero_division=zero_division)
    return p


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                 zero_division=0):
    """Chapter 08: recall (召回率) tp / (tp + fn): of the true positives, how many were found."""
    _, r, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                 pos_label=pos_label, average=average,
                                                 zero_division=zero_division)
    return r


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", zero_division=0):
    """Chapter 08: F1 (F1 分数), the harmonic mean of precision and recall, 2tp / (2tp + fp + fn)."""
    _, _, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                 pos_label=pos_label, average=average,
                                                 zero_division=zero_division)
    return f


def classification_report(y_true, y_pred, *, labels=None, target_names=None, digits: int = 2,
                          output_dict: bool = False, zero_division=0):
    """Chapter 08: a text table of precision, recall, F1 and support per class.

    Laid out exactly like scikit-learn's report: one row per class (named by
    ``target_names`` if given), then the accuracy and the macro and weighted
    averages (a micro average row instead of accuracy when ``labels`` leaves
    out some of the classes present). ``output_dict=True`` returns the same
    numbers as a dict.
    """
    func = "classification_report"
    yt, yp, present = _check_labels(y_true, y_pred, func)
    labels_given = labels is not None
    labels = present if labels is None else _column(labels, "labels", func)
    micro_is_accuracy = (not labels_given
                         or set(labels.tolist()) >= set(present.tolist()))
    if target_names is not None and len(target_names) != len(labels):
        if labels_given:
            warnings.warn(f"labels size, {len(labels)}, does not match size of target_names, "
                          f"{len(target_names)}", UserWarning, stacklevel=2)
        else:
            raise ValueError(
                f"{func}: there are {len(labels)} classes ({present.tolist()}) but "
                f"{len(target_names)} target_names; give one name per class, or pass labels"
            )
    if target_names is None:
        target_names = ["%s" % lab for lab in labels]
    target_names = [str(t) for t in target_names]
    headers = ["precision", "recall", "f1-score", "support"]
    p, r, f, s = precision_recall_fscore_support(yt, yp, labels=labels, average=None,
                                                 zero_division=zero_division)
    rows = list(zip(target_names, p, r, f, s))
    averages = []
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if average == "micro" and micro_is_accuracy else average + " avg"
        ap, ar, af, _ = precision_recall_fscore_support(yt, yp, labels=labels, average=average,
                                                        zero_division=zero_division)
        averages.append((heading, ap, ar, af, int(np.sum(s))))

    if output_dict:
        report = {name: dict(zip(headers, (float(a), float(b), float(c), float(d))))
                  for name, a, b, c, d in rows}
        for heading, ap, ar, af, sup in averages:
            if heading == "accuracy":
                report[heading] = float(ap)
            else:
                report[heading] = dict(zip(headers, (ap, ar, af, float(sup))))
        return report

    width = max(max(len(n) for n in target_names) if target_names else 0,
                len("weighted avg"), digits)
    out = ("{:>{w}s} " + " {:>9}" * 4).format("", *headers, w=width) + "\n\n"
    row_fmt = "{:>{w}s} " + " {:>9.{d}f}" * 3 + " {:>9}\n"
    for name, a, b, c, d in rows:
        out += row_fmt.format(name, a, b, c, d, w=width, d=digits)
    out += "\n"
    for heading, ap, ar, af, sup in averages:
        if heading == "accuracy":
            out += ("{:>{w}s} " + " {:>9}" * 2 + " {:>9.{d}f} {:>9}\n").format(
                heading, "", "", af, sup, w=width, d=digits)
        else:
            out += row_fmt.format(heading, ap, ar, af, sup, w=width, d=digits)
    return out


# ----------------------------------------------------------------------------
# curves over thresholds
# ----------------------------------------------------------------------------

def _binary_truth(y_true, pos_label, func: str) -> np.ndarray:
    """y_true as 0.0/1.0 for the positive class, with scikit-learn's rules for pos_label."""
    classes = np.unique(y_true)
    if pos_label is None:
        allowed = ([0, 1], [-1, 1], [0], [-1], [1])
        if classes.dtype.kind in "USO" or not any(
                classes.shape[0] == len(a) and np.all(classes == np.asarray(a)) for a in allowed):
            raise ValueError(
                f"{func}: y_true takes values {classes.tolist()} and pos_label is not given: "
                "either make y_true take values in {0, 1} or {-1, 1}, or pass pos_label"
            )
        pos_label = 1
    return (y_true == pos_label).astype(np.float64)


def _counts_at_thresholds(y_true, y_score, pos_label, func: str):
    """(fps, tps, thresholds): false/true positives when predicting score >= threshold."""
    yt = _column(y_true, "y_true", func)
    score = _column(y_score, "y_score", func)
    if yt.shape[0] != score.shape[0]:
        raise ValueError(f"{func}: y_true has {yt.shape[0]} samples but y_score has "
                         f"{score.shape[0]}")
    if yt.size == 0:
        raise ValueError(f"{func}: y_true is empty")
    if score.dtype.kind in "USO":
        raise ValueError(f"{func}: y_score must be numbers (scores or probabilities), "
                         f"got dtype {score.dtype}")
    score = score.astype(np.float64)
    if not np.all(np.isfinite(score)):
        raise ValueError(f"{func}: y_score contains NaN or infinite values")
    if yt.dtype.kind == "f" and not np.all(np.isfinite(yt)):
        raise ValueError(f"{func}: y_true contains NaN or infinite values")
    n_classes = np.unique(yt).shape[0]
    if n_classes > 2 and pos_label is None:
        raise ValueError(f"{func}: y_true has {n_classes} classes; this curve is for binary "
                         "labels (pass pos_label to score one class against the rest)")
    truth = _binary_truth(yt, pos_label, func)
    order = np.argsort(-score, kind="stable")
    score = score[order]
    truth = truth[order]
    # the last index of each run of equal scores: one threshold per distinct score
    last = np.concatenate([np.flatnonzero(np.diff(score)), [score.shape[0] - 1]])
    tps = np.cumsum(truth)[last]
    fps = 1.0 + last - tps
    return fps, tps, score[last]


def roc_curve(y_true, y_score, *, pos_label=None, drop_intermediate: bool = True):
    """Chapter 08: the ROC curve (ROC 曲线): false and true positive rates per threshold.

    Predicting "positive" when ``y_score >= thresholds[i]`` gives the rates
    ``fpr[i]`` (false positives / negatives) and ``tpr[i]`` (true positives /
    positives). Thresholds are the distinct scores in decreasing order, with
    ``inf`` first (nothing predicted positive, the point (0, 0)). As in
    scikit-learn, points on a straight segment are dropped
    (``drop_intermediate=True``). Labels must be {0, 1} or {-1, 1} unless
    ``pos_label`` says which label is positive.
    """
    fps, tps, thresholds = _counts_at_thresholds(y_true, y_score, pos_label, "roc_curve")
    if drop_intermediate and fps.shape[0] > 2:
        corner = (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0)
        keep = np.concatenate([[True], corner, [True]])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps = np.concatenate([[0.0], fps])
    tps = np.concatenate([[0.0], tps])
    thresholds = np.concatenate([[np.inf], thresholds])
    return _rate(fps, "negative", "false"), _rate(tps, "positive", "true"), thresholds


def _rate(counts: np.ndarray, kind: str, which: str) -> np.ndarray:
    """Cumulative counts / their total, or NaN (with scikit-learn's warning) when there are none."""
    if counts[-1] <= 0:
        warnings.warn(f"No {kind} samples in y_true, {which} positive value should be "
                      "meaningless", UndefinedMetricWarning, stacklevel=3)
        return np.full(counts.shape, np.nan)
    return counts / counts[-1]


def precision_recall_curve(y_true, y_score, *, pos_label=None, drop_intermediate: bool = False):
    """Chapter 08: precision and recall for every threshold of a score.

    Returns ``(precision, recall, thresholds)`` with thresholds increasing;
    ``precision`` and ``recall`` have one more entry, the point (recall 0,
    precision 1) that ends the curve, as in scikit-learn.
    """
    fps, tps, thresholds = _counts_at_thresholds(y_true, y_score, pos_label,
                                                 "precision_recall_curve")
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.concatenate([[True], (np.diff(tps[:-1]) != 0) | (np.diff(tps[1:]) != 0), [True]])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    predicted = tps + fps
    precision = np.where(predicted != 0, tps / np.where(predicted != 0, predicted, 1.0), 0.0)
    if tps[-1] == 0:
        warnings.warn("No positive class found in y_true, recall is set to one for all "
                      "thresholds.", UserWarning, stacklevel=2)
        recall = np.ones(tps.shape)
    else:
        recall = tps / tps[-1]
    return (np.concatenate([precision[::-1], [1.0]]), np.concatenate([recall[::-1], [0.0]]),
            thresholds[::-1])


def auc(x, y) -> float:
    """Chapter 08: area under a curve through the points (x, y), by the trapezoidal rule.

    ``x`` must be monotonic (increasing or decreasing).
    """
    x = _column(x, "x", "auc").astype(np.float64)
    y = _column(y, "y", "auc").astype(np.float64)
    if x.shape[0] < 2:
        raise ValueError(f"auc: at least 2 points are needed to compute an area, got {x.shape[0]}")
    if x.shape != y.shape:
        raise ValueError(f"auc: x and y must have the same length, got {x.shape[0]} and "
                         f"{y.shape[0]}")
    dx = np.diff(x)
    direction = 1.0
    if np.any(dx < 0):
        if np.all(dx <= 0):
            direction = -1.0
        else:
            raise ValueError("auc: x is neither increasing nor decreasing")
    return float(direction * np.sum(dx * (y[1:] + y[:-1]) / 2.0))


def _binary_auc(truth01: np.ndarray, score: np.ndarray) -> float:
    if np.unique(truth01).shape[0] != 2:
        warnings.warn("Only one class is present in y_true. ROC AUC score is not defined in "
                      "that case.", UndefinedMetricWarning, stacklevel=3)
        return float("nan")
    fpr, tpr, _ = roc_curve(truth01, score)
    return auc(fpr, tpr)


def roc_auc_score(y_true, y_score, *, average="macro", multi_class="raise"):
    """Chapter 08: the area under the ROC curve (AUC): the chance that a random positive
    scores higher than a random negative (ties count half).

    Binary labels: ``y_score`` is the score of the greater label (for 0/1 labels,
    the probability of class 1). Multiclass labels: ``y_score`` has one column
    per class (probabilities summing to 1) and ``multi_class='ovr'`` averages the
    one-vs-rest AUCs (``average='macro'`` plainly, ``'weighted'`` by class
    prevalence). With one class only in ``y_true`` the AUC is undefined: a
    warning and NaN.
    """
    func = "roc_auc_score"
    yt = _column(y_true, "y_true", func)
    score = _to_numpy(y_score)
    if _is_continuous(yt):
        raise ValueError(f"{func}: y_true must hold class labels, got continuous values")
    classes = np.unique(yt)
    if classes.shape[0] <= 2 and not (score.ndim == 2 and score.shape[1] > 2):
        score = _column(score, "y_score", func)
        if score.shape[0] != yt.shape[0]:
            raise ValueError(f"{func}: y_true has {yt.shape[0]} samples but y_score has "
                             f"{score.shape[0]}")
        if classes.shape[0] < 2:
            return _binary_auc(np.zeros(yt.shape), score)
        return _binary_auc((yt == classes[1]).astype(np.int64), score)

    if multi_class == "raise":
        raise ValueError(f"{func}: y_true has {classes.shape[0]} classes; pass "
                         "multi_class='ovr' to average one-vs-rest AUCs")
    if multi_class != "ovr":
        raise ValueError(f"{func}: multi_class must be 'ovr' (one-vs-rest), got {multi_class!r}")
    if average not in ("macro", "weighted", "micro", None):
        raise ValueError(f"{func}: average must be 'macro', 'weighted', 'micro' or None, "
                         f"got {average!r}")
    if score.ndim != 2 or score.shape != (yt.shape[0], classes.shape[0]):
        raise ValueError(f"{func}: y_score must have shape (n_samples, n_classes) = "
                         f"({yt.shape[0]}, {classes.shape[0]}), got {score.shape}")
    score = score.astype(np.float64)
    if not np.allclose(1.0, score.sum(axis=1)):
        raise ValueError(f"{func}: target scores need to be probabilities for multiclass "
                         "roc_auc, i.e. they should sum up to 1.0 over classes")
    onehot = (yt[:, None] == classes[None, :]).astype(np.int64)
    if average == "micro":
        return _binary_auc(onehot.ravel(), score.ravel())
    per_class = np.array([_binary_auc(onehot[:, c], score[:, c])
                          for c in range(classes.shape[0])])
    if average is None:
        return per_class
    weights = onehot.sum(axis=0) if average == "weighted" else None
    return float(np.average(per_class, weights=weights))
