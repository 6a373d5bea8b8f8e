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
