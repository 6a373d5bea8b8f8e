"""Chapter 00: what the chapter check modules share: run one check body, print one verdict line.

A check body is a function of no arguments that calls the learner's code and returns
``None`` when everything is right, or a short text naming the first problem. ``run``
turns that into exactly one printed line (✅, ⏳ or ❌) and a :class:`nnlib.checks.Verdict`,
and never raises.
"""

from __future__ import annotations

import numpy as np

from nnlib import checks
from nnlib.checks import Verdict
from nnlib.random import thread_rng

__all__ = ["run", "num", "Problem"]


class Problem(Exception):
    """Raised inside a check body to stop at the first problem: its text is the ❌ line's detail."""


def _line(text: str) -> str:
    text = " ".join(str(text).split())
    limit = checks.MAX_VERDICT + 40
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run(name: str, body, count: int = 1) -> Verdict:
    """Chapter 00: run ``body()`` and print one verdict line for exercise ``name``.

    ``body`` returns None (passed) or raises :class:`Problem` (❌ with its text).
    NotImplementedError (the stub) or a NameError (an exercise cell not run yet) reads ⏳;
    any other exception from the learner's code reads ❌ with the exception.
    """
    try:
        with thread_rng(np.random.default_rng(0)):  # the check's own models: seeded, global generator untouched
            body()
    except NotImplementedError:
        print(checks._NOT_ATTEMPTED.format(name=name))
        return Verdict(False)
    except NameError as error:
        print(checks._NOT_RUN.format(name=name, error=checks._squash(str(error))))
        return Verdict(False)
    except Problem as problem:
        print(_line(f"❌ {name}: {problem}"))
        return Verdict(False)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # the learner's code raised: say what, in one line
        print(_line(f"❌ {name}: raised {checks._error_text(error)}"))
        return Verdict(False)
    print(checks._passed(name, count))
    return Verdict(True)


def num(x) -> str:
    """A number with enough digits that two different values never print the same (up to 6 significant)."""
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def differs(got, expected, atol=1e-6, rtol=1e-5) -> bool:
    """True when two arrays differ in shape or beyond ``np.allclose``."""
    got, expected = np.asarray(got), np.asarray(expected)
    return got.shape != expected.shape or not np.allclose(got, expected, atol=atol, rtol=rtol, equal_nan=True)


def compare(got, expected, atol=1e-6, rtol=1e-5, names=None):
    """None when ``got`` matches ``expected`` (as ``nnlib.checks`` compares), else a short text saying how it differs.

    A pair/tuple of results is compared item by item (``names`` labels the items, e.g. ``("x", "y")``);
    arrays by shape, then by their largest difference (both shown whole when small).
    """
    found = checks._mismatch(got, expected, atol, rtol)
    if found is None:
        return None
    if isinstance(expected, tuple) and isinstance(got, (tuple, list)) and len(got) == len(expected) and any(
            checks._as_array(e) is not None for e in expected):
        for i, (g, e) in enumerate(zip(got, expected)):
            detail = compare(g, e, atol, rtol)
            if detail is not None:
                return f"{names[i] if names else f'item {i}'}: {detail}"
    flat = isinstance(expected, (list, tuple)) and len(expected) <= 12 and all(
        isinstance(e, (int, float, str, np.integer, np.floating)) for e in expected)
    if flat:   # a short list: show both whole, not "item 0"
        return f"got {checks._short(got, 80)}; expected {checks._short(expected, 80)}."
    g, e = checks._as_array(got), checks._as_array(expected)
    if g is not None and e is not None and np.issubdtype(g.dtype, np.number) and np.issubdtype(e.dtype, np.number):
        if g.shape != e.shape:
            return f"got shape {g.shape}; expected shape {e.shape}."
        with np.errstate(all="ignore"):
            bad = ~np.isclose(g, e, atol=atol, rtol=rtol, equal_nan=True)
            diff = np.where(bad, np.abs(g.astype(np.float64) - e.astype(np.float64)), -1.0)
        diff = np.where(np.isnan(diff), np.inf, diff)
        where = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), g.shape))
        at = "[" + ", ".join(map(str, where)) + "]"
        if g.size <= 8:
            return (f"got {checks._short(g, 60)}; expected {checks._short(e, 60)}; largest |diff| "
                    f"{diff[where]:.3g} at {at}.")
        return (f"{int(bad.sum())} of {g.size} values differ; largest |diff| {diff[where]:.3g} at {at}: got "
                f"{float(g[where]):.6g}, expected {float(e[where]):.6g}.")
    return found.describe()


def cases(name: str, fn, labelled_cases, atol=1e-6, rtol=1e-5, names=None) -> Verdict:
    """Chapter 00: ``check_function`` with a label per case: the ❌ line says what the failing case tests.

    ``labelled_cases``: ``(label, args, expected)`` triples; ``args`` is a tuple of positional
    arguments; ``expected`` a value or a function of no arguments computing it.
    """
    labelled_cases = list(labelled_cases)

    def body():
        if not callable(fn):
            raise Problem(f"expected a function, got {checks.short_repr(fn)}.")
        for label, args, expected in labelled_cases:
            shown = checks._input_repr(*checks._snapshot(args, {}))
            own_args, _ = checks._snapshot(args, {})      # the learner's function may change its arguments
            got = fn(*own_args)
            if callable(expected):
                expected = expected()
            detail = compare(got, expected, atol, rtol, names)
            if detail is not None:
                shown = checks._squash(shown, max(30, 200 - len(name) - len(label) - len(detail)))
                raise Problem(f"{label}: input {shown}; {detail}")
    return run(name, body, len(labelled_cases))
