"""Chapter 00: exercise checks with one-line verdicts.

Every exercise in the notebooks is followed by a check cell. A check prints exactly
one line and returns True or False; it never raises, so a wrong answer never stops
"Run All":

    ✅ sigmoid: all 4 checks passed.
    ⏳ sigmoid: not attempted yet — replace "raise NotImplementedError()" with your code, then run this cell again.
    ❌ sigmoid: case 2: input [-1. 0. 1.]; got [0.5 0.5 0.5]; expected [0.2689 0.5 0.7311]; 2 of 3 values differ, first at [0]: got 0.5, expected 0.2689 (the largest |diff|, 0.2311).

Numbers print with 4 significant digits, more where got and expected would otherwise
look the same (``format_number``, ``_number_pair``): 0.00125 stays 0.00125, and 1.00004
against 1.0 prints as 1.00004. A verdict for arrays names the first differing position
(``[0]``, or ``step 7`` with ``index_format="step {0}"``), the two values there, and the
largest absolute difference and where it is. A mismatch inside nested results is located
as the learner would index it (``at [0][1]``, ``at ['w']``, or ``db`` with
``names=("dw", "db")``). Big arrays are not printed at all: the whole verdict stays
about one line (``MAX_VERDICT`` characters).

The chapter checks (:mod:`nnlib.exercises`) are built on these primitives:

- ``check_function``, ``check_value``, ``check_true``: a function on cases, one value, a property;
- ``check_cases``: ``check_function`` that also recognises a learner's known mistake (each a
  ``(wrong_function, message)`` pair that reproduces the learner's answers on every case) and
  names it in the line;
- ``run_check`` and ``Problem``: any check written as a body that raises ``Problem(text)`` at
  the first problem; ``check_labelled_cases`` runs labelled cases on it, each difference worded
  by ``describe_difference``.

(The environment report of chapter 00 is :mod:`nnlib.environment`.)
"""

from __future__ import annotations

import copy
import functools
import inspect
import re

import numpy as np

__all__ = [
    "check_function",
    "check_value",
    "check_true",
    "check_cases",
    "check_labelled_cases",
    "describe_difference",
    "run_check",
    "Problem",
    "Verdict",
    "format_number",
    "short_repr",
    "MAX_VERDICT",
]

_NOT_ATTEMPTED = (
    '⏳ {name}: not attempted yet — replace "raise NotImplementedError()" with your code, '
    "then run this cell again."
)
_NOT_RUN = (
    "⏳ {name}: not attempted yet — {error}; finish the exercise cell above and run it, "
    "then run this cell again."
)
_MAX_REPR = 120
#: A verdict line is kept to about this many characters (the input is shortened first).
MAX_VERDICT = 200
#: Arrays with more elements than this are described by their differences only.
_SHOW_ARRAY_UP_TO = 8


# --------------------------------------------------------------------------- reprs
def _squash(text: str, limit: int = _MAX_REPR) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_array(obj):
    """The ndarray inside ``obj`` (ndarray, nnlib Tensor, torch tensor), else None."""
    if isinstance(obj, np.ndarray):
        return obj
    data = getattr(obj, "data", None)
    if isinstance(data, np.ndarray):  # nnlib.Tensor and friends
        return data
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a torch tensor
        try:
            return obj.detach().cpu().numpy()
        except Exception:
            return None
    return None


def _is_number(obj) -> bool:
    return isinstance(obj, (int, float, np.number)) and not isinstance(obj, (bool, np.bool_))


def format_number(value, digits: int = 4, array_style: bool = False) -> str:
    """Chapter 00: one number with ``digits`` significant digits (fewer when it is exact).

    Significant digits, not decimals, so that a small number keeps its size:
    0.00125 prints as ``0.00125`` (4 decimals would show ``0.0013``). Below a million the
    integer part is never cut and one decimal is kept (``123456.7``); below 1e-4 and from
    1e6 on the number is written ``1.235e-07``. Integers and booleans print as they are. ``array_style`` writes a whole float as NumPy does in an
    array (``1.``), else as Python does (``1.0``).
    """
    value = np.asarray(value)[()]
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return str(value.item() if hasattr(value, "item") else value)
    if isinstance(value, (complex, np.complexfloating)):
        return str(value)
    number = float(value)
    if not np.isfinite(number):
        return str(number)
    if number == 0.0:
        return "-0." if array_style and np.signbit(number) else ("0." if array_style else
                                                                  ("-0.0" if np.signbit(number) else "0.0"))
    size = abs(number)
    if size < 1e-4 or size >= 1e6:
        return np.format_float_scientific(value, precision=max(digits - 1, 0), unique=True, trim="-")
    whole = len(str(int(size))) if size >= 1 else 0
    return np.format_float_positional(value, precision=max(digits, whole + 1), unique=True,
                                      fractional=False, trim="." if array_style else "0")


def _number_pair(got, expected, digits: int = 4) -> tuple[str, str]:
    """``got`` and ``expected`` as text with as many significant digits as it takes to tell them apart."""
    got, expected = np.asarray(got)[()], np.asarray(expected)[()]
    if isinstance(got, np.floating) and isinstance(expected, np.floating) and got.dtype != expected.dtype:
        got, expected = np.float64(got), np.float64(expected)  # float32 0.1 is not 0.1
    for places in range(digits, 18):
        shown = format_number(got, places), format_number(expected, places)
        if shown[0] != shown[1]:
            return shown
    return format_number(got, 17), format_number(expected, 17)


def _array_text(array) -> str:
    return np.array2string(array, threshold=4, edgeitems=2, max_line_width=10_000,
                           formatter={"float_kind": lambda v: format_number(v, 4, array_style=True)})


def short_repr(obj, with_shape: bool = True) -> str:
    """Chapter 00: a one-line, at most ~120 character repr of a value for verdicts.

    Numbers print with 4 significant digits (``format_number``), arrays with at most 4
    items per axis; a summarized array gets its shape appended unless ``with_shape`` is
    False.
    """
    try:
        array = _as_array(obj)
        if array is not None:
            text = _array_text(array)
            suffix = f" (shape {array.shape})" if with_shape and array.ndim and array.size > 4 else ""
            if not isinstance(obj, np.ndarray):
                text = f"{type(obj).__name__}({_squash(text, _MAX_REPR - len(suffix) - 20)})"
            return _squash(text, _MAX_REPR - len(suffix)) + suffix
        if _is_number(obj):
            return format_number(obj)
        if callable(obj) and isinstance(getattr(obj, "__name__", None), str) and not isinstance(obj, type):
            return obj.__name__  # a function or ufunc: its name, not "<function f at 0x...>"
        if isinstance(obj, tuple):
            return _squash("(" + ", ".join(short_repr(x) for x in obj) + ("," if len(obj) == 1 else "") + ")")
        if isinstance(obj, list):
            return _squash("[" + ", ".join(short_repr(x) for x in obj) + "]")
        return _squash(repr(obj))
    except Exception:  # a broken __repr__ must not break the check
        return f"<{type(obj).__name__}>"


def _input_repr(args, kwargs) -> str:
    parts = [short_repr(a) for a in args] + [f"{k}={short_repr(v)}" for k, v in kwargs.items()]
    return _squash(", ".join(parts))


def _error_text(error: BaseException) -> str:
    message = str(error)
    return _squash(f"{type(error).__name__}: {message}" if message else type(error).__name__)


# ---------------------------------------------------------------------- comparison
class _Mismatch:
    """Why a value differs: where (a path into nested results), what was got and expected, how."""

    def __init__(self, got, expected, kind="value", path=(), atol=1e-6, rtol=1e-5):
        self.got, self.expected, self.kind, self.path = got, expected, kind, tuple(path)
        self.atol, self.rtol = atol, rtol

    def inside(self, step) -> "_Mismatch":
        """The mismatch one level up: ``step`` is the item index or dict key it sits under."""
        self.path = (step,) + self.path
        return self

    def where(self, names=None) -> str:
        """The path as the learner writes it: ``[0][1]``, ``['w']``, or ``db`` / ``grads[1]`` with ``names``."""
        if not self.path:
            return ""
        steps = list(self.path)
        head = ""
        if names is not None and isinstance(steps[0], int) and 0 <= steps[0] < len(names):
            head = str(names[steps.pop(0)])
        text = head + "".join(f"[{step!r}]" for step in steps)
        return text if head else "at " + text

    def describe(self, index_format=None, names=None, compact=False) -> str:
        """The verdict's detail; ``compact`` 1 leaves out the two small arrays themselves, 2 also the largest difference."""
        where = self.where(names)
        where = f"{where}: " if where else ""
        if self.kind == "value":
            detail = _array_difference(self.got, self.expected, self.atol, self.rtol, index_format,
                                       show_arrays=not compact, brief=compact >= 2)
            if detail is not None:
                return where + detail
        got, expected = short_repr(self.got), short_repr(self.expected)
        if got == expected and _is_number(self.got) and _is_number(self.expected):
            got, expected = _number_pair(self.got, self.expected)
        if self.kind == "shape":
            got, expected = ("", "") if compact else (" " + _short(self.got), " " + _short(self.expected))
            return (f"{where}got shape {_shape(self.got)}{got}; "
                    f"expected shape {_shape(self.expected)}{expected}.")
        if self.kind == "type":  # e.g. a list holding the right numbers where an array is expected
            got, expected = ("", "") if compact else (" " + _short(self.got), " " + _short(self.expected))
            wanted = "a NumPy array" if isinstance(self.expected, np.ndarray) else f"a {type(self.expected).__name__}"
            hint = ", e.g. np.array(...)" if isinstance(self.expected, np.ndarray) else ""
            return (f"{where}got a {type(self.got).__name__}{got}; expected {wanted}{expected} "
                    f"(convert the result{hint}).")
        if self.kind == "length":
            got, expected = ("", "") if compact else (" " + _short(self.got), " " + _short(self.expected))
            return (f"{where}got {len(self.got)} items{got}; "
                    f"expected {len(self.expected)} items{expected}.")
        if compact:
            got, expected = _short(self.got, 40), _short(self.expected, 40)
        hint = " (did you forget to `return` it?)" if self.got is None else ""
        return f"{where}got {got}{hint}; expected {expected}."


def _short(obj, limit: int = 60) -> str:
    """A value's repr for a verdict that shows two of them: at most ``limit`` characters."""
    return _squash(short_repr(obj, False), limit)


def _format_index(index: tuple, index_format) -> str:
    if index_format is None:
        return "[" + ", ".join(str(i) for i in index) + "]"
    if callable(index_format):
        return str(index_format(*index))
    return index_format.format(*index)


def _array_difference(got, expected, atol, rtol, index_format=None, show_arrays=True, brief=False):
    """The verdict text for two numeric arrays of one shape that differ, else None.

    Names how many elements differ, the first one (both values with the digits that tell them apart)
    and the largest absolute difference and its position. Small arrays are shown whole
    as well; big ones only by these facts, so the text stays short.
    """
    g, e = _as_array(got), _as_array(expected)
    if g is None and _is_number(got):
        g = np.asarray(got)
    if e is None and _is_number(expected):
        e = np.asarray(expected)
    if g is None or e is None or g.shape != e.shape:
        return None
    if not (np.issubdtype(g.dtype, np.number) and np.issubdtype(e.dtype, np.number)):
        return None
    if g.ndim == 0:  # one number: as many digits as it takes to tell them apart
        shown_g, shown_e = _number_pair(g, e)
        return f"got {shown_g}; expected {shown_e}."
    with np.errstate(all="ignore"):
        bad = ~np.isclose(g, e, atol=atol, rtol=rtol, equal_nan=True)
        if not bad.any():
            return None
        kind = np.complex128 if np.iscomplexobj(g) or np.iscomplexobj(e) else np.float64
        diff = np.abs(g.astype(kind) - e.astype(kind))
        diff = np.where(np.isnan(diff), np.inf, diff)
    if np.issubdtype(g.dtype, np.integer) and np.issubdtype(e.dtype, np.integer):
        diff = diff.astype(np.int64, copy=False) if np.isfinite(diff).all() else diff
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    largest = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), g.shape))
    count = int(bad.sum())
    at_first, at_largest = _format_index(first, index_format), _format_index(largest, index_format)
    head = ""
    if g.size <= _SHOW_ARRAY_UP_TO and show_arrays:
        head = f"got {short_repr(got)}; expected {short_repr(expected)}; "
    of = f"{count} of {g.size} values differ" + ("" if head or brief else f" (shape {g.shape})")
    shown_g, shown_e = _number_pair(g[first], e[first])
    text = f"{head}{of}, first at {at_first}: got {shown_g}, expected {shown_e}"
    if brief:
        return text + "."
    if largest != first:
        text += f"; largest |diff| {format_number(diff[largest])} at {at_largest}."
    else:
        text += f" (the largest |diff|, {format_number(diff[largest])})."
    return text


def _shape(obj):
    array = _as_array(obj)
    return array.shape if array is not None else np.shape(obj)


def _mismatch(got, expected, atol: float, rtol: float):
    """None when ``got`` matches ``expected``, else a _Mismatch saying why."""
    exp_array = _as_array(expected)
    if exp_array is not None or _is_number(expected):
        got_array = _as_array(got)
        if got_array is None and _is_number(got):
            got_array = np.asarray(got)
        if got_array is None:
            if exp_array is not None and isinstance(got, (list, tuple)):
                return _Mismatch(got, expected, "type")
            return _Mismatch(got, expected)
        if exp_array is None:
            exp_array = np.asarray(expected)
        if got_array.shape != exp_array.shape:
            return _Mismatch(got_array, expected, "shape")
        try:
            same = np.allclose(got_array, exp_array, atol=atol, rtol=rtol, equal_nan=True)
        except TypeError:
            same = bool(np.array_equal(got_array, exp_array))
        return None if same else _Mismatch(got, expected, atol=atol, rtol=rtol)
    if isinstance(expected, (tuple, list)):
        if _as_array(got) is not None:  # an array against a (nested) list of numbers
            try:
                exp_array = np.asarray(expected, dtype=np.float64)
            except (TypeError, ValueError):
                return _Mismatch(got, expected)
            return _mismatch(got, exp_array, atol, rtol)
        if not isinstance(got, (tuple, list)):
            return _Mismatch(got, expected)
        if len(got) != len(expected):
            return _Mismatch(got, expected, "length")
        for index, (g, e) in enumerate(zip(got, expected)):
            found = _mismatch(g, e, atol, rtol)
            if found is not None:
                return found.inside(index)
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return _Mismatch(got, expected)
        for key in expected:
            found = _mismatch(got[key], expected[key], atol, rtol)
            if found is not None:
                return found.inside(key)
        return None
    try:
        return None if bool(got == expected) else _Mismatch(got, expected)
    except Exception:
        return _Mismatch(got, expected)


def _compare(got, expected, atol, rtol, compare):
    if compare is None:
        return _mismatch(got, expected, atol, rtol)
    return None if compare(got, expected) else _Mismatch(got, expected)


def _is_thunk(obj) -> bool:
    return inspect.isfunction(obj) or inspect.ismethod(obj) or isinstance(obj, functools.partial)


def _call_thunk(name: str, value, suffix: str = ""):
    """(True, result) for a zero-argument function ``value`` that ran, (True, value) for anything else.

    (False, None) when the function raised; its verdict line is already printed: ⏳ for
    NotImplementedError or an undefined name (the exercise is not done yet), ❌ otherwise
    (followed by ``suffix``).
    """
    if not _is_thunk(value):
        return True, value
    try:
        return True, value()
    except NotImplementedError:
        print(_NOT_ATTEMPTED.format(name=name))
    except NameError as error:
        print(_NOT_RUN.format(name=name, error=_squash(str(error))))
    except Exception as error:
        print(f"❌ {name}: raised {_error_text(error)}.{suffix}")
    return False, None


def _snapshot(args: tuple, kwargs: dict):
    """Deep copies of a case's arguments (the originals if they cannot be copied).

    Taken before the learner's function runs, because it may change its arguments in
    place: the verdict then still shows the input it was given, and the reference
    computes the expected value from that input.
    """
    try:
        return copy.deepcopy(args), copy.deepcopy(kwargs)
    except Exception:
        return args, kwargs


def _split_case(case, has_reference: bool):
    """(args tuple, kwargs dict, expected or None) for one case."""
    if has_reference:
        raw, expected = case, None
    else:
        if not (isinstance(case, (tuple, list)) and len(case) == 2):
            raise TypeError("without `reference`, each case must be a pair (args, expected)")
        raw, expected = case
    if isinstance(raw, dict):
        return (), dict(raw), expected
    if isinstance(raw, tuple):
        return raw, {}, expected
    return (raw,), {}, expected


# ----------------------------------------------------------------------- the checks
def check_function(name, fn, cases, reference=None, atol=1e-6, rtol=1e-5, compare=None,
                   index_format=None, names=None, hint=None) -> bool:
    """Chapter 00: run ``fn`` on every case and print one verdict line; return True if all pass.

    ``cases`` is a list. With ``reference``, each case is the arguments (a tuple, a
    dict of keyword arguments, or a single value) and the expected result is
    ``reference(*args)``; without it, each case is a pair ``(args, expected)``.
    Arrays, numbers and Tensors are compared with ``np.allclose(atol, rtol)`` and
    must have the same shape; tuples/lists/dicts element by element; anything else
    with ``==``. ``compare(got, expected) -> bool`` replaces the comparison.
    If ``fn`` raises NotImplementedError for any case the exercise counts as not
    attempted (⏳). When an array differs, the verdict names the first differing
    position and the largest difference; ``index_format`` names positions (a format
    string such as ``"step {0}, w[{1}]"`` or a function of the index), e.g. the rows
    of an optimizer's path. A mismatch inside a nested result is located like an
    index, ``at [1][0]: got ...``; ``names`` names the items of a tuple result
    (``names=("dw", "db")`` gives ``db: got ...``). ``hint(args, got, expected)``
    may return a sentence naming a likely mistake ("use the population std"), which
    is appended to a ❌ line of a wrong value (it is not called for the other verdicts;
    if it raises, no hint). List a small hand-computed case first: it gives the
    clearest verdict.
    """
    try:
        if not callable(fn):
            print(f"❌ {name}: expected a function, got {short_repr(fn)}.")
            return False
        cases = list(cases)
        first_failure = None
        for number, case in enumerate(cases, start=1):
            args, kwargs, expected = _split_case(case, reference is not None)
            shown_args, shown_kwargs = _snapshot(args, kwargs)
            try:
                got = fn(*args, **kwargs)
                if reference is not None:  # on its own copy, so that shown_args stay as given
                    ref_args, ref_kwargs = _snapshot(shown_args, shown_kwargs)
                    expected = reference(*ref_args, **ref_kwargs)
            except NotImplementedError:
                print(_NOT_ATTEMPTED.format(name=name))
                return False
            except Exception as error:  # report the learner's exception as a verdict
                if first_failure is None:
                    first_failure = _case_line(name, number, shown_args, shown_kwargs,
                                               f"raised {_error_text(error)}.")
                continue
            if first_failure is None:
                found = _compare(got, expected, atol, rtol, compare)
                if found is not None:
                    extra = _hint_text(hint, shown_args, shown_kwargs, got, expected)
                    for compact in (0, 1, 2):  # drop the arrays, then the largest difference: keep it one line
                        first_failure = _case_line(name, number, shown_args, shown_kwargs,
                                                   found.describe(index_format, names, compact) + extra)
                        if len(first_failure) <= MAX_VERDICT:
                            break
        if first_failure is not None:
            print(first_failure)
            return False
        print(_passed(name, len(cases)))
        return True
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # never let a check cell crash the notebook
        print(f"❌ {name}: the check itself failed: {_error_text(error)}.")
        return False


def _hint_text(hint, args, kwargs, got, expected) -> str:
    """`` <hint>`` for a wrong value, or "" (no hint, or the hint function failed)."""
    if hint is None:
        return ""
    try:
        text = hint(args if not kwargs else tuple(args) + tuple(kwargs.values()), got, expected)
    except Exception:
        return ""
    return f" {_squash(str(text), 80)}" if text else ""


def _case_line(name, number, args, kwargs, detail: str) -> str:
    """``❌ name: case n: input ...; detail``, the input shortened so the line stays short."""
    head = f"❌ {name}: case {number}: input "
    budget = max(30, min(_MAX_REPR, MAX_VERDICT - len(head) - len(detail) - 2))
    return f"{head}{_squash(_input_repr(args, kwargs), budget)}; {detail}"


def check_value(name, got, expected, atol=1e-6, rtol=1e-5, compare=None, index_format=None,
                names=None) -> bool:
    """Chapter 00: compare one value with the expected one and print one verdict line.

    ``got`` may be a zero-argument function (``lambda: w``) so that an exercise not
    done yet (NotImplementedError, or a name its cell has not defined) reads ⏳
    instead of an error. Comparison (``index_format``, ``names``) as in ``check_function``.
    """
    try:
        ran, got = _call_thunk(name, got)
        if not ran:
            return False
        found = _compare(got, expected, atol, rtol, compare)
        if found is not None:
            for compact in (0, 1, 2):
                line = f"❌ {name}: " + found.describe(index_format, names, compact)
                if len(line) <= MAX_VERDICT:
                    break
            print(line)
            return False
        print(_passed(name, 1))
        return True
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        print(f"❌ {name}: the check itself failed: {_error_text(error)}.")
        return False


def check_true(name, fn_or_bool, hint) -> bool:
    """Chapter 00: a property check: ✅ when true, else ❌ followed by ``hint``.

    ``fn_or_bool`` is a bool (a boolean array must be all true) or a zero-argument
    function returning one; NotImplementedError or an undefined name reads ⏳.
    """
    try:
        ran, value = _call_thunk(name, fn_or_bool, f" {hint}")
        if not ran:
            return False
        array = _as_array(value)
        ok = bool(np.all(array)) if array is not None else bool(value)
        if ok:
            print(_passed(name, 1))
            return True
        print(f"❌ {name}: {hint}")
        return False
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        print(f"❌ {name}: the check itself failed: {_error_text(error)}. {hint}")
        return False


class Verdict:
    """Chapter 00: what a check returns: truthy when it passed.

    The verdict line is already printed, so in a notebook a Verdict displays
    nothing (no stray ``True`` under the line); ``.passed`` holds the bool.
    """

    __slots__ = ("passed",)

    def __init__(self, passed: bool):
        self.passed = bool(passed)

    def __bool__(self) -> bool:
        return self.passed

    def __eq__(self, other):
        if isinstance(other, (bool, np.bool_, Verdict)):
            return self.passed == bool(other)
        return NotImplemented

    def __hash__(self):
        return hash(self.passed)

    def __repr__(self) -> str:
        return f"Verdict(passed={self.passed})"

    def _ipython_display_(self) -> None:
        """Show nothing: the one-line verdict was printed by the check."""


def _returns_verdict(check):
    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        return Verdict(check(*args, **kwargs))
    return wrapper


def _passed(name: str, count: int) -> str:
    if count == 1:
        return f"✅ {name}: the check passed."
    return f"✅ {name}: all {count} checks passed."


# -------------------------------------------- the chapters' primitives: known mistakes, check bodies
def _matches(got, expected, atol=1e-6, rtol=1e-5) -> bool:
    """True when ``got`` matches ``expected`` as every check compares them (shape, allclose, item by item)."""
    try:
        return _mismatch(got, expected, atol, rtol) is None
    except Exception:
        return False


def _six_digits(value) -> str:
    """A value for a known-mistake line: numbers with 6 significant digits, anything else as short_repr."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return f"{value:.6g}"
    if isinstance(value, tuple) and len(value) <= 4:
        return "(" + ", ".join(_six_digits(v) for v in value) + ")"
    return short_repr(value)


def _first_difference(got, expected, labels, atol, rtol) -> str:
    """Where ``got`` first differs from ``expected``, with both values: "tpr at [1]: got 0, expected 0.5"."""
    if isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)) and len(got) == len(expected):
        for k, (g, e) in enumerate(zip(got, expected)):
            if not _matches(g, e, atol, rtol):
                label = labels[k] if labels and k < len(labels) else f"item {k}"
                return f"{label}{_first_difference(g, e, None, atol, rtol)}"
        return ""
    if isinstance(got, np.ndarray) and isinstance(expected, np.ndarray) and got.shape == expected.shape \
            and got.size > 1:
        with np.errstate(all="ignore"):
            bad = ~np.isclose(got, expected, atol=atol, rtol=rtol, equal_nan=True)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            return f" at {list(index)}: got {_six_digits(got[index])}, expected {_six_digits(expected[index])}"
    return f": got {_six_digits(got)}, expected {_six_digits(expected)}"


def _cited_mistake_line(name, number, where, message, got, expected, labels, atol, rtol) -> str:
    """``❌ name: case n (input): message Got ...; expected ...``: the whole values if they fit, else the first difference."""
    for head in (f"❌ {name}: case {number} ({where}): {message}", f"❌ {name}: case {number}: {message}"):
        line = f"{head} Got {_six_digits(got)}; expected {_six_digits(expected)}."
        if len(line) <= MAX_VERDICT:
            return line
        detail = _first_difference(got, expected, labels, atol, rtol).strip()
        if detail.startswith("at "):
            detail = "First difference " + detail
        elif detail.startswith(":"):
            detail = "Got" + detail[1:]
        line = f"{head} {detail}." if detail else head
        if len(line) <= MAX_VERDICT:
            return line
    return line


def _inline_mistake_line(name, args, message, got, expected) -> str:
    """``❌ name: message (input ...: got ..., expected ...).``, each value cut short."""
    shown = short_repr(args[0] if len(args) == 1 else args)[:45]
    return (f"❌ {name}: {message} (input {shown}: got {short_repr(got)[:40]}, "
            f"expected {short_repr(expected)[:40]}).")


def _known_mistake_line(name, fn, cases, mistakes, atol, rtol, dtype, show, labels, cite_case):
    """The ❌ line of ``check_cases`` when the answer has the wrong dtype or makes a known mistake, else None."""
    results, first = [], None
    for number, (args, expected) in enumerate(cases, start=1):
        try:
            got = fn(*_snapshot(args, {})[0])
        except Exception:  # ⏳ or "raised ...": check_function words it
            return None
        results.append(got)
        if first is not None:
            continue
        if not _matches(got, expected, atol, rtol):
            first = number
        elif dtype and isinstance(expected, np.ndarray) and (
                not isinstance(got, np.ndarray) or got.dtype != expected.dtype):
            got_dtype = got.dtype if isinstance(got, np.ndarray) else None
            return (f"❌ {name}: case {number}: got dtype {got_dtype}; expected {expected.dtype} "
                    f"(convert with .astype(np.{expected.dtype})).")
    if first is None:
        return None
    args, expected = cases[first - 1]
    got = results[first - 1]
    for wrong, message in mistakes:
        try:
            reproduced = all(_matches(answer, wrong(*_snapshot(case_args, {})[0]), atol, rtol)
                             for answer, (case_args, _) in zip(results, cases))
        except Exception:
            continue
        if not reproduced:
            continue
        if not cite_case:
            return _inline_mistake_line(name, args, message, got, expected)
        where = show(args) if show else ", ".join(short_repr(a) for a in args)
        return _cited_mistake_line(name, first, where, message, got, expected, labels, atol, rtol)
    return None


def check_cases(name, fn, cases, mistakes=(), *, atol=1e-6, rtol=1e-5, dtype=False, show=None,
                labels=None, cite_case=True, **options) -> "Verdict":
    """Chapter 06: ``check_function`` on ``(args_tuple, expected)`` cases that names a known mistake.

    ``mistakes`` is a list of ``(wrong, message)`` pairs: ``wrong(*args)`` computes what a
    known wrong answer returns. When the learner's function gets a case wrong and one
    ``wrong`` reproduces its results on every case, the ❌ line says ``message`` instead of
    only showing the numbers; the first mistake that fits wins. Its wording:
    ``cite_case=True`` gives ``case 2 (input): message Got ...; expected ...`` (``show(args)``
    describes the input, default short reprs; ``labels`` names the items of a tuple result,
    e.g. ``("fpr", "tpr")``), ``cite_case=False`` gives ``message (input ...: got ...,
    expected ...).``. ``dtype=True`` also requires the expected array's dtype. Everything
    else (not attempted, an exception, a wrong value no mistake explains) gets the line of
    :func:`check_function`, which receives ``atol``, ``rtol`` and ``options``. While it
    looks for a known mistake, every call (the learner's and each ``wrong``) gets its own
    copy of the arguments, so an answer that changes its input is judged on what it returned.
    """
    try:
        cases = list(cases)
        if callable(fn):
            line = _known_mistake_line(name, fn, cases, mistakes, atol, rtol, dtype, show, labels, cite_case)
            if line is not None:
                print(line)
                return Verdict(False)
        return check_function(name, fn, cases, atol=atol, rtol=rtol, **options)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # never let a check cell crash the notebook
        print(f"❌ {name}: the check itself failed: {_error_text(error)}.")
        return Verdict(False)


class Problem(Exception):
    """Chapter 10: raised inside a :func:`run_check` body at the first problem; its text is the ❌ line's detail."""


def run_check(name: str, body, count: int = 1) -> "Verdict":
    """Chapter 10: run the check ``body()`` and print one verdict line for exercise ``name``.

    ``body`` calls the learner's code and returns (✅ ``count`` checks passed) or raises
    :class:`Problem` (❌ with its text). NotImplementedError (the stub) or a NameError (an
    exercise cell not run yet) reads ⏳; any other exception from the learner's code reads
    ❌ with the exception. The body runs under a seeded generator
    (``nnlib.random.thread_rng``), so the models it builds are the same every time and the
    global generator is left untouched. Never raises.
    """
    from .random import thread_rng

    try:
        with thread_rng(np.random.default_rng(0)):
            body()
    except NotImplementedError:
        print(_NOT_ATTEMPTED.format(name=name))
        return Verdict(False)
    except NameError as error:
        print(_NOT_RUN.format(name=name, error=_squash(str(error))))
        return Verdict(False)
    except Problem as problem:
        print(_squash(f"❌ {name}: {problem}", MAX_VERDICT + 40))
        return Verdict(False)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # the learner's code raised: say what, in one line
        print(_squash(f"❌ {name}: raised {_error_text(error)}", MAX_VERDICT + 40))
        return Verdict(False)
    print(_passed(name, count))
    return Verdict(True)


def describe_difference(got, expected, atol=1e-6, rtol=1e-5, names=None):
    """Chapter 10: None when ``got`` matches ``expected`` (as every check compares), else a short text saying how.

    A pair/tuple of results is compared item by item (``names`` labels the items, e.g. ``("x", "y")``);
    a short flat list is shown whole; arrays by shape, then by their largest difference (both shown
    whole when small).
    """
    found = _mismatch(got, expected, atol, rtol)
    if found is None:
        return None
    if isinstance(expected, tuple) and isinstance(got, (tuple, list)) and len(got) == len(expected) and any(
            _as_array(e) is not None for e in expected):
        for i, (g, e) in enumerate(zip(got, expected)):
            detail = describe_difference(g, e, atol, rtol)
            if detail is not None:
                return f"{names[i] if names else f'item {i}'}: {detail}"
    flat = isinstance(expected, (list, tuple)) and len(expected) <= 12 and all(
        isinstance(e, (int, float, str, np.integer, np.floating)) for e in expected)
    if flat:   # a short list: show both whole, not "item 0"
        return f"got {_short(got, 80)}; expected {_short(expected, 80)}."
    g, e = _as_array(got), _as_array(expected)
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
            return (f"got {_short(g, 60)}; expected {_short(e, 60)}; largest |diff| "
                    f"{diff[where]:.3g} at {at}.")
        return (f"{int(bad.sum())} of {g.size} values differ; largest |diff| {diff[where]:.3g} at {at}: got "
                f"{float(g[where]):.6g}, expected {float(e[where]):.6g}.")
    return found.describe()


def check_labelled_cases(name: str, fn, labelled_cases, atol=1e-6, rtol=1e-5, names=None) -> "Verdict":
    """Chapter 10: :func:`run_check` on cases with a label each: the ❌ line says what the failing case tests.

    ``labelled_cases``: ``(label, args, expected)`` triples; ``args`` is a tuple of positional
    arguments; ``expected`` a value or a function of no arguments computing it. The line is
    ``label: input ...; <describe_difference(got, expected)>``.
    """
    labelled_cases = list(labelled_cases)

    def body():
        if not callable(fn):
            raise Problem(f"expected a function, got {short_repr(fn)}.")
        for label, args, expected in labelled_cases:
            shown = _input_repr(*_snapshot(args, {}))
            own_args, _ = _snapshot(args, {})      # the learner's function may change its arguments
            got = fn(*own_args)
            if callable(expected):
                expected = expected()
            detail = describe_difference(got, expected, atol, rtol, names)
            if detail is not None:
                shown = _squash(shown, max(30, MAX_VERDICT - len(name) - len(label) - len(detail)))
                raise Problem(f"{label}: input {shown}; {detail}")
    return run_check(name, body, len(labelled_cases))


check_function = _returns_verdict(check_function)
check_value = _returns_verdict(check_value)
check_true = _returns_verdict(check_true)
