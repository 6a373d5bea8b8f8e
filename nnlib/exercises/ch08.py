"""Chapter 08: the exercise checks of the evaluation notebook (confusion counts, precision /
recall / F1, ROC points, trapezoidal AUC, macro F1).

Each ``check_<exercise>(answer, ...)`` prints one verdict line and returns a
:class:`nnlib.checks.Verdict`; it never raises.
"""

from __future__ import annotations

import numpy as np

from nnlib.checks import Verdict, check_cases

__all__ = ["check_confusion_counts", "check_precision_recall_f1", "check_roc_points",
           "check_auc_trapezoid", "check_macro_f1"]


def _counts(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp = int(np.sum((y_pred == 1) & (y_true == 1)))
    fp = int(np.sum((y_pred == 1) & (y_true == 0)))
    fn = int(np.sum((y_pred == 0) & (y_true == 1)))
    tn = int(np.sum((y_pred == 0) & (y_true == 0)))
    return tn, fp, fn, tp


def check_confusion_counts(confusion_counts, y_true=None, y_pred=None) -> Verdict:
    """Chapter 08: ``confusion_counts(y_true, y_pred)`` returns ``(tn, fp, fn, tp)``."""
    args = [(np.array([1, 0, 1, 1, 0]), np.array([1, 1, 0, 0, 0])),   # by hand: tn 1, fp 1, fn 2, tp 1
            (np.array([0, 0, 0]), np.array([0, 0, 0])),
            (np.array([1, 1, 1, 0]), np.array([1, 0, 1, 1])),
            (np.array([1, 1, 0, 0]), np.array([0, 0, 1, 1]))]
    if y_true is not None:
        args.append((np.asarray(y_true), np.asarray(y_pred)))
    cases = [(a, _counts(*a)) for a in args]

    def order(*index):
        return lambda yt, yp: tuple(_counts(yt, yp)[i] for i in index)

    mistakes = [
        (order(0, 2, 1, 3), "fp and fn are swapped: fp = predicted 1 but truly 0, fn = predicted 0 but "
                            "truly 1 (or y_true and y_pred are swapped)."),
        (order(3, 1, 2, 0), "tn and tp are swapped: return (tn, fp, fn, tp), the order of C.ravel()."),
        (order(3, 2, 1, 0), "the order is reversed: return (tn, fp, fn, tp), the order of C.ravel()."),
        (order(3, 0, 1, 2), "return (tn, fp, fn, tp), the order of C.ravel()."),
    ]
    return check_cases("confusion_counts", confusion_counts, cases, mistakes,
                       show=lambda a: f"y_true {a[0][:6]}, y_pred {a[1][:6]}")


def _prf(tp, fp, fn):
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f1)


def _nan_prf(tp, fp, fn):
    nan = float("nan")
    precision = tp / (tp + fp) if tp + fp > 0 else nan
    recall = tp / (tp + fn) if tp + fn > 0 else nan
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else nan
    return precision, recall, f1


def check_precision_recall_f1(precision_recall_f1) -> Verdict:
    """Chapter 08: ``precision_recall_f1(tp, fp, fn)``; a zero denominator gives 0.0."""
    # by hand: tp 2, fp 2, fn 0 -> precision 2/4 = 0.5, recall 2/2 = 1, F1 = 2 * 0.5 * 1 / 1.5 = 0.6667
    args = [(2, 2, 0), (8, 2, 4), (40, 6, 3), (0, 0, 5), (0, 3, 0), (5, 0, 0)]
    cases = [(a, _prf(*a)) for a in args]

    def with_f1(f1):
        def variant(tp, fp, fn):
            p, r, _ = _prf(tp, fp, fn)
            return p, r, (f1(p, r) if p + r > 0 else 0.0)
        return variant

    mistakes = [
        (lambda tp, fp, fn: _prf(tp, fn, fp), "precision and recall are swapped: precision = tp / (tp + fp), "
                                              "recall = tp / (tp + fn)."),
        (with_f1(lambda p, r: (p + r) / 2), "F1 is the harmonic mean 2PR / (P + R), not the arithmetic (P + R) / 2."),
        (with_f1(lambda p, r: p * r / (p + r)), "the factor 2 is missing: F1 = 2PR / (P + R)."),
        (with_f1(lambda p, r: 2 * p * r), "F1 = 2PR / (P + R): divide by P + R."),
        (_nan_prf, "a zero denominator must give 0.0, not nan."),
    ]
    return check_cases("precision_recall_f1", precision_recall_f1, cases, mistakes,
                       labels=("precision", "recall", "f1"),
                       show=lambda a: f"tp={a[0]}, fp={a[1]}, fn={a[2]}")


def _roc(y_true, scores, descending=True, merge_ties=True, start=True, normalize=True):
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    order = np.argsort(-scores if descending else scores, kind="stable")
    s, t = scores[order], y_true[order]
    tps, fps = np.cumsum(t), np.cumsum(1 - t)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1] if merge_ties else np.arange(len(s))
    fp, tp = fps[last], tps[last]
    if start:
        fp, tp = np.r_[0, fp], np.r_[0, tp]
    if normalize:
        return fp / fps[-1], tp / tps[-1]
    return fp.astype(float), tp.astype(float)


def check_roc_points(roc_points, y_true=None, scores=None) -> Verdict:
    """Chapter 08: ``roc_points(y_true, scores)`` = (fpr, tpr) for every distinct threshold, from (0, 0)."""
    # by hand: sorted by score, highest first: 0.8 (1), 0.4 (0), 0.35 (1), 0.1 (0)
    #   -> fpr [0, 0, 0.5, 0.5, 1], tpr [0, 0.5, 0.5, 1, 1]
    args = [(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])),
            (np.array([1, 0, 1, 0, 1]), np.array([0.9, 0.9, 0.5, 0.5, 0.1])),     # ties
            (np.array([0, 1, 1, 0, 0, 1]), np.array([3.0, -1.0, 2.0, 0.0, 5.0, 2.0]))]
    if y_true is not None:
        args.append((np.asarray(y_true), np.asarray(scores)))
    cases = [(a, _roc(*a)) for a in args]
    mistakes = [
        (lambda y, s: _roc(y, s, start=False), "the curve must start with the point (0, 0)."),
        (lambda y, s: _roc(y, s, descending=False), "sort the scores from the highest down (np.argsort(-scores))."),
        (lambda y, s: _roc(y, s, merge_ties=False), "equal scores are one threshold: keep only the last index "
                                                    "of each run of equal scores."),
        (lambda y, s: _roc(y, s, merge_ties=False, start=False), "start at (0, 0), and keep one point per "
                                                                 "distinct score (equal scores together)."),
        (lambda y, s: _roc(y, s)[::-1], "the pair is swapped: return (fpr, tpr)."),
        (lambda y, s: _roc(y, s, normalize=False), "those are counts; divide FP by the number of negatives "
                                                   "and TP by the number of positives."),
        (lambda y, s: tuple(v * len(y) / len(y) ** 2 for v in _roc(y, s, normalize=False)),
         "divide FP by the number of negatives and TP by the number of positives, not by n."),
    ]
    return check_cases("roc_points", roc_points, cases, mistakes, labels=("fpr", "tpr"),
                       show=lambda a: f"y_true {a[0][:6]}, scores {a[1][:6]}")


def _trapezoid(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def check_auc_trapezoid(auc_trapezoid, fpr=None, tpr=None) -> Verdict:
    """Chapter 08: ``auc_trapezoid(x, y)``: the area under the polyline by the trapezoidal rule."""
    # by hand: the diagonal 0.5; a perfect ROC 1; [0, 0.5, 1] / [0, 0.8, 1]: 0.5*0.4 + 0.5*0.9 = 0.65
    args = [(np.array([0.0, 1.0]), np.array([0.0, 1.0])),
            (np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0])),
            (np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.8, 1.0])),
            (np.array([0.0, 0.2, 1.0]), np.array([0.0, 1.0, 1.0]))]       # 0.2*0.5 + 0.8*1 = 0.9
    if fpr is not None:
        args.append((np.asarray(fpr), np.asarray(tpr)))
    cases = [(a, _trapezoid(*a)) for a in args]
    mistakes = [
        (lambda x, y: float(np.sum(np.diff(x) * y[:-1])), "those are rectangles at each segment's left end; "
                                                          "a trapezoid uses (y[k] + y[k+1]) / 2."),
        (lambda x, y: float(np.sum(np.diff(x) * y[1:])), "those are rectangles at each segment's right end; "
                                                         "a trapezoid uses (y[k] + y[k+1]) / 2."),
        (lambda x, y: float(np.sum((y[1:] + y[:-1]) / 2)), "each trapezoid must be weighted by its width np.diff(x)."),
        (lambda x, y: float(np.mean(y)), "that is the mean of y; sum np.diff(x) * (y[1:] + y[:-1]) / 2."),
        (lambda x, y: float(np.sum(np.diff(x) * (y[1:] + y[:-1]))), "the factor 1/2 of the trapezoid is missing."),
    ]
    return check_cases("auc_trapezoid", auc_trapezoid, cases, mistakes,
                       show=lambda a: f"x {a[0][:5]}, y {a[1][:5]}")


def _per_class(C):
    C = np.asarray(C, dtype=float)
    tp = np.diag(C)
    return tp, C.sum(axis=0) - tp, C.sum(axis=1) - tp


def _macro_f1(C):
    tp, fp, fn = _per_class(C)
    return float((2 * tp / np.maximum(2 * tp + fp + fn, 1)).mean())


def _confusion(labels, predicted, k):
    C = np.zeros((k, k), dtype=int)
    np.add.at(C, (labels, predicted), 1)
    return C


def check_macro_f1(macro_f1, C_real=None) -> Verdict:
    """Chapter 08: ``macro_f1(C)``: the mean over classes of 2TP / (2TP + FP + FN), 0 where TP = 0."""
    # by hand: [[3, 0], [1, 1]]: class 0 F1 = 6/7, class 1 F1 = 2/3 -> macro 0.7619
    #   (weighted by support 0.7810, micro = accuracy 0.8: both wrong here)
    args = [(np.array([[3, 0], [1, 1]]),),
            (_confusion(np.array([0, 0, 1, 1, 2, 2, 2]), np.array([0, 1, 1, 1, 2, 0, 0]), 3),),
            (_confusion(np.array([0, 1, 2, 2, 1, 0]), np.array([0, 0, 0, 0, 0, 0]), 3),),   # 1, 2 never predicted
            (np.array([[5, 0], [0, 5]]),)]
    if C_real is not None:
        args.append((np.asarray(C_real),))
    cases = [(a, _macro_f1(*a)) for a in args]

    def f1s(C):
        tp, fp, fn = _per_class(C)
        with np.errstate(all="ignore"):
            return 2 * tp / (2 * tp + fp + fn), tp, fp, fn

    def macro_pr(C):
        tp, fp, fn = _per_class(C)
        p = (tp / np.maximum(tp + fp, 1)).mean()
        r = (tp / np.maximum(tp + fn, 1)).mean()
        return float(2 * p * r / (p + r)) if p + r else 0.0

    def weighted(C):
        f1, *_ = f1s(C)
        support = np.asarray(C).sum(axis=1)
        return float(np.sum(np.nan_to_num(f1) * support) / support.sum())

    def nan_skipped(C):
        tp, fp, fn = _per_class(C)
        with np.errstate(all="ignore"):
            p, r = tp / (tp + fp), tp / (tp + fn)
            f1 = 2 * p * r / (p + r)
        return float(np.nanmean(f1))

    mistakes = [
        (lambda C: float(np.trace(C) / np.sum(C)), "that is the micro average (= accuracy); macro averages the "
                                                   "per-class F1 scores."),
        (weighted, "that is the support-weighted average; macro gives every class the same weight."),
        (macro_pr, "that is the F1 of macro precision and macro recall; average the per-class F1 scores instead."),
        (nan_skipped, "classes with TP = 0 are skipped (nan); they count as F1 = 0 in the mean."),
        (lambda C: float(np.mean(np.diag(C) / np.asarray(C).sum(axis=1))), "that is the macro recall, not F1."),
        (lambda C: float(np.mean(np.diag(C) / np.maximum(np.asarray(C).sum(axis=0), 1))),
         "that is the macro precision, not F1."),
    ]
    return check_cases("macro_f1", macro_f1, cases, mistakes,
                       show=lambda a: f"C {np.asarray(a[0]).tolist()}" if np.asarray(a[0]).size <= 9
                       else f"C of shape {np.asarray(a[0]).shape}")
