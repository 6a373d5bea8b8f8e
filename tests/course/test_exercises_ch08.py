"""Chapter 08's exercise checks: the solution passes, the stub is ⏳, plausible wrong answers are ❌."""

import numpy as np

from nnlib.exercises import ch08
from tests.course.exercise_harness import FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution, stub

NS = {"np": np}


def test_confusion_counts():
    solution = load_solution("08", "confusion_counts", NS)
    assert_verdict(PASSED, ch08.check_confusion_counts, solution)
    assert_verdict(NOT_ATTEMPTED, ch08.check_confusion_counts, stub)
    # passed the old first and third cases, which had fp == fn
    assert_verdict(FAILED, ch08.check_confusion_counts, lambda yt, yp: solution(yp, yt), mentions=("fp and fn are swapped",))
    assert_verdict(FAILED, ch08.check_confusion_counts, lambda yt, yp: solution(yt, yp)[::-1], mentions=("reversed",))


def test_precision_recall_f1():
    solution = load_solution("08", "precision_recall_f1", NS)
    assert_verdict(PASSED, ch08.check_precision_recall_f1, solution)
    assert_verdict(NOT_ATTEMPTED, ch08.check_precision_recall_f1, stub)

    def arithmetic(tp, fp, fn):
        p, r, _ = solution(tp, fp, fn)
        return p, r, (p + r) / 2

    def unguarded(tp, fp, fn):
        p, r = tp / (tp + fp), tp / (tp + fn)
        return p, r, 2 * p * r / (p + r)

    assert_verdict(FAILED, ch08.check_precision_recall_f1, arithmetic, mentions=("harmonic mean",))
    assert_verdict(FAILED, ch08.check_precision_recall_f1, lambda tp, fp, fn: solution(tp, fn, fp),
                   mentions=("swapped",))
    assert_verdict(FAILED, ch08.check_precision_recall_f1, unguarded, mentions=("ZeroDivisionError",))


def test_roc_points():
    solution = load_solution("08", "roc_points", NS)
    assert_verdict(PASSED, ch08.check_roc_points, solution)
    assert_verdict(NOT_ATTEMPTED, ch08.check_roc_points, stub)

    def no_start(y, s):
        fpr, tpr = solution(y, s)
        return fpr[1:], tpr[1:]

    def ties_apart(y, s):
        order = np.argsort(-s, kind="stable")
        t = y[order]
        return np.r_[0, np.cumsum(1 - t)] / np.sum(1 - t), np.r_[0, np.cumsum(t)] / np.sum(t)

    assert_verdict(FAILED, ch08.check_roc_points, no_start, mentions=("(0, 0)",))
    assert_verdict(FAILED, ch08.check_roc_points, ties_apart, mentions=("equal scores",))
    assert_verdict(FAILED, ch08.check_roc_points, lambda y, s: solution(y, -s), mentions=("highest down",))


def test_auc_trapezoid():
    solution = load_solution("08", "auc_trapezoid", NS)
    assert_verdict(PASSED, ch08.check_auc_trapezoid, solution)
    assert_verdict(NOT_ATTEMPTED, ch08.check_auc_trapezoid, stub)
    assert_verdict(FAILED, ch08.check_auc_trapezoid, lambda x, y: float(np.sum(np.diff(x) * y[:-1])),
                   mentions=("left end",))
    assert_verdict(FAILED, ch08.check_auc_trapezoid, lambda x, y: float(np.sum((y[1:] + y[:-1]) / 2)),
                   mentions=("width",))


def test_macro_f1():
    solution = load_solution("08", "macro_f1", NS)
    assert_verdict(PASSED, ch08.check_macro_f1, solution)
    assert_verdict(NOT_ATTEMPTED, ch08.check_macro_f1, stub)
    assert_verdict(FAILED, ch08.check_macro_f1, lambda C: float(np.trace(C) / np.sum(C)), mentions=("micro",))

    def skips_empty(C):
        C = np.asarray(C, dtype=float)
        tp = np.diag(C)
        with np.errstate(all="ignore"):
            f1 = 2 * tp / (2 * tp + C.sum(0) - tp + C.sum(1) - tp)
            f1 = np.where(tp > 0, f1, np.nan)
        return float(np.nanmean(f1))

    def weighted(C):
        C = np.asarray(C, dtype=float)
        tp = np.diag(C)
        f1 = 2 * tp / np.maximum(C.sum(0) + C.sum(1), 1)
        return float(np.sum(f1 * C.sum(1)) / C.sum())

    assert_verdict(FAILED, ch08.check_macro_f1, skips_empty, mentions=("skipped",))
    assert_verdict(FAILED, ch08.check_macro_f1, weighted, mentions=("support-weighted",))


def test_later_cells_do_not_use_the_learners_names():
    from tests.course.test_exercises_ch06 import learner_names_used_later

    assert learner_names_used_later("08") == []
