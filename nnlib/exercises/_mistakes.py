"""Chapter 00: the helper chapter checks share to name a learner's known mistake.

``check_with_mistakes(name, fn, cases, mistakes)`` is ``nnlib.checks.check_function`` on
``(args, expected)`` cases, except that when the learner's answers equal, on every case,
those of one of the ``mistakes`` (``(wrong_function, message)`` pairs), its one line names
that mistake instead of only showing the numbers.
"""

from __future__ import annotations

import copy

import numpy as np

from ..checks import Verdict, check_function, short_repr

__all__ = ["check_with_mistakes", "known_mistake"]


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
