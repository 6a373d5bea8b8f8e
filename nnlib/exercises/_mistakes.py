"""Chapter 00: the helper chapter checks share to name a learner's known mistake.

``check_with_mistakes(name, fn, cases, mistakes)`` is ``nnlib.checks.check_function`` on
``(args, expected)`` cases, except that when the learner's answers equal, on every case,
those of one of the ``mistakes`` (``(wrong_function, message)`` pairs), its one line names
that mistake instead of only showing the numbers.

``check_cases(name, fn, cases, mistakes)``, which chapters 06-11 use, does the same on the
first case that differs, and locates the difference inside a result (``tpr at [1]: got 0,
expected 0.5``).
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

from ..checks import Verdict, check_function, check_value, short_repr

__all__ = ["check_with_mistakes", "known_mistake", "check_cases"]


def _same(got, expected) -> bool:
    try:
        if isinstance(expected, (tuple, list)) and not isinstance(got, np.ndarray):
            return (isinstance(got, (tuple, list)) and len(got) == len(expected)
                    and all(_same(g, e) for g, e in zip(got, expected)))
        a, b = np.asarray(got), np.asarray(expected)
        if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
            return a.shape == b.shape and bool(np.allclose(a, b, atol=1e-6, rtol=1e-5))
        return bool(got == expected)
    except Exception:
        return False


def known_mistake(fn, cases, mistakes):
    """Chapter 00: the message of the mistake whose answers ``fn`` gives on every case (when it gets one wrong), else None."""
    answers = []
    for args, expected in cases:
        try:
            answers.append(fn(*copy.deepcopy(args)))
        except BaseException:
            return None
    wrong_at = [k for k, (got, (_, expected)) in enumerate(zip(answers, cases)) if not _same(got, expected)]
    if not wrong_at:
        return None
    for wrong, message in mistakes:
        try:
            if all(_same(got, wrong(*copy.deepcopy(args))) for got, (args, _) in zip(answers, cases)):
                k = wrong_at[0]
                args, expected = cases[k]
                shown = short_repr(args[0] if len(args) == 1 else args)[:45]
                return (f"{message} (input {shown}: got {short_repr(answers[k])[:40]}, "
                        f"expected {short_repr(expected)[:40]}).")
        except Exception:
            continue
    return None


def check_with_mistakes(name, fn, cases, mistakes=(), **kwargs) -> Verdict:
    """Chapter 00: ``check_function`` on (args, expected) cases, with a named line for a known mistake."""
    try:
        if callable(fn):
            message = known_mistake(fn, cases, mistakes)
            if message:
                print(f"❌ {name}: {message}")
                return Verdict(False)
    except Exception:  # a broken answer must not break the check: check_function reports it
        pass
    return check_function(name, fn, cases, **kwargs)


# ------------------------------------------------------------------ check_cases (chapters 06-11)
def _close(got, expected, atol=1e-6, rtol=1e-5) -> bool:
    """True when ``got`` matches ``expected`` as nnlib.checks compares them (shape, allclose, items)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return bool(check_value("_", got, expected, atol=atol, rtol=rtol))


def _fmt(value) -> str:
    """A value for a verdict: numbers with 6 significant digits, anything else as short_repr."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return f"{value:.6g}"
    if isinstance(value, tuple) and len(value) <= 4:
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return short_repr(value)


def _copy(args):
    try:
        return copy.deepcopy(args)
    except Exception:
        return args


def _dtype_of(value):
    return getattr(value, "dtype", None) if isinstance(value, np.ndarray) else None


def _first_difference(got, expected, labels, atol, rtol) -> str:
    """Where ``got`` first differs from ``expected``, with both values: "tpr at [1]: got 0, expected 0.5"."""
    if isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)) and len(got) == len(expected):
        for k, (g, e) in enumerate(zip(got, expected)):
            if not _close(g, e, atol, rtol):
                label = labels[k] if labels and k < len(labels) else f"item {k}"
                return f"{label}{_first_difference(g, e, None, atol, rtol)}"
        return ""
    g, e = np.asarray(got) if isinstance(got, np.ndarray) else got, expected
    if isinstance(g, np.ndarray) and isinstance(e, np.ndarray) and g.shape == e.shape and g.size > 1:
        with np.errstate(all="ignore"):
            bad = ~np.isclose(g, e, atol=atol, rtol=rtol, equal_nan=True)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            return f" at {list(index)}: got {_fmt(g[index])}, expected {_fmt(e[index])}"
    return f": got {_fmt(got)}, expected {_fmt(expected)}"


def _line(name, number, where, message, got, expected, labels, atol, rtol) -> str:
    """The ❌ line for a recognised mistake: the whole values if they fit, else the first difference."""
    for head in (f"❌ {name}: case {number} ({where}): {message}", f"❌ {name}: case {number}: {message}"):
        line = f"{head} Got {_fmt(got)}; expected {_fmt(expected)}."
        if len(line) <= MAX_LINE:
            return line
        detail = _first_difference(got, expected, labels, atol, rtol).strip()
        if detail.startswith("at "):
            detail = "First difference " + detail
        elif detail.startswith(":"):
            detail = "Got" + detail[1:]
        line = f"{head} {detail}." if detail else head
        if len(line) <= MAX_LINE:
            return line
    return line


#: A verdict line is kept to about this many characters.
MAX_LINE = 200


def _matches_everywhere(variant, cases, results, atol, rtol) -> bool:
    """Does the known wrong answer ``variant`` give the learner's result on every case?"""
    for (args, _), got in zip(cases, results):
        try:
            wrong = variant(*_copy(args))
        except Exception:
            return False
        if not _close(got, wrong, atol, rtol):
            return False
    return True


def check_cases(name, fn, cases, mistakes=(), atol=1e-6, rtol=1e-5, dtype=False,
                show=None, labels=None) -> Verdict:
    """Chapter 06: run ``fn`` on ``cases`` (a list of ``(args_tuple, expected)``); print one verdict line.

    On the first case that differs, each ``(variant, message)`` of ``mistakes`` is tried:
    ``variant(*args)`` computes what a known wrong answer returns, and if the learner's
    result equals it, the line names that mistake. ``dtype=True`` also requires the
    expected array dtype. ``show(args)`` describes a case's input (default: short reprs);
    ``labels`` names the items of a tuple result (("fpr", "tpr")) for the verdict.
    Anything else (not attempted, an exception, an unknown wrong value) gets the
    generic verdict of :func:`nnlib.checks.check_function`.
    """
    try:
        if callable(fn):
            results, first = [], None
            for number, (args, expected) in enumerate(cases, start=1):
                try:
                    got = fn(*_copy(args))
                except Exception:  # ⏳ or "raised ...": check_function words it
                    results = None
                    break
                results.append(got)
                if first is not None:
                    continue
                if not _close(got, expected, atol, rtol):
                    first = number
                elif dtype and _dtype_of(expected) is not None and _dtype_of(got) != _dtype_of(expected):
                    print(f"❌ {name}: case {number}: got dtype {_dtype_of(got)}; expected "
                          f"{_dtype_of(expected)} (convert with .astype(np.{_dtype_of(expected)})).")
                    return Verdict(False)
            if results is not None and first is not None:
                args, expected = cases[first - 1]
                got = results[first - 1]
                where = show(args) if show else ", ".join(short_repr(a) for a in args)
                for variant, message in mistakes:
                    if _matches_everywhere(variant, cases, results, atol, rtol):
                        print(_line(name, first, where, message, got, expected, labels, atol, rtol))
                        return Verdict(False)
        return check_function(name, fn, cases, atol=atol, rtol=rtol)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # never let a check cell crash the notebook
        print(f"❌ {name}: the check itself failed: {type(error).__name__}: {error}.")
        return Verdict(False)
