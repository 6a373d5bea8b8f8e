"""Chapter 00: nnlib.checks prints one verdict line per exercise and never raises."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnlib
from nnlib import checks
from nnlib.checks import check_function, check_true, check_value

NOT_ATTEMPTED = (
    '⏳ sq: not attempted yet — replace "raise NotImplementedError()" with your code, '
    "then run this cell again."
)


def square(x):
    return x * x


def stub(*args, **kwargs):
    # YOUR CODE HERE
    raise NotImplementedError()


def one_line(capsys):
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1, f"expected exactly one line, got {out!r}"
    return out[:-1]


# -------------------------------------------------------------------- check_function
def test_all_pass_with_expected_values(capsys):
    cases = [((2.0,), 4.0), ((np.arange(3.0),), np.array([0.0, 1.0, 4.0])), ((-1,), 1)]
    assert check_function("sq", square, cases).passed is True
    assert one_line(capsys) == "✅ sq: all 3 checks passed."


def test_all_pass_with_reference(capsys):
    cases = [(np.linspace(-1, 1, 5),), (np.ones((2, 3)),), 3.0]  # a bare value is one argument
    assert check_function("sq", lambda x: x ** 2, cases, reference=square).passed is True
    assert one_line(capsys) == "✅ sq: all 3 checks passed."


def test_single_case_wording(capsys):
    assert check_function("sq", square, [((3,), 9)])
    assert one_line(capsys) == "✅ sq: the check passed."


def test_keyword_arguments(capsys):
    def scale(x, factor=1.0):
        return x * factor

    assert check_function("scale", scale, [({"x": 2.0, "factor": 3.0}, 6.0), ((2.0,), 2.0)])
    assert one_line(capsys) == "✅ scale: all 2 checks passed."


def test_not_attempted(capsys):
    assert check_function("sq", stub, [((2.0,), 4.0)]).passed is False
    assert one_line(capsys) == NOT_ATTEMPTED


def test_not_attempted_anywhere_wins(capsys):
    def partly(x):
        if x > 0:
            raise NotImplementedError()
        return x * x + 1  # wrong on the first case

    assert check_function("sq", partly, [((-1.0,), 1.0), ((2.0,), 4.0)]).passed is False
    assert one_line(capsys) == NOT_ATTEMPTED


def test_wrong_value_names_the_case(capsys):
    assert check_function("sq", lambda x: x + x, [((2.0,), 4.0), ((3.0,), 9.0)]).passed is False
    assert one_line(capsys) == "❌ sq: case 2: input 3.0; got 6.0; expected 9.0."


def test_wrong_array_uses_four_decimals(capsys):
    x = np.array([-1.0, 0.0, 1.0])
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    assert not check_function("sigmoid", lambda z: z * 0 + 0.5, [(x,)], reference=sigmoid)
    assert one_line(capsys) == (
        "❌ sigmoid: case 1: input [-1. 0. 1.]; got [0.5 0.5 0.5]; expected [0.2689 0.5 0.7311]; "
        "2 of 3 values differ, first at [0]: got 0.5, expected 0.2689 (the largest |diff|, 0.2311)."
    )


def test_shape_mismatch_names_both_shapes(capsys):
    assert not check_function("sq", lambda x: (x * x)[:, None], [(np.arange(3.0),)], reference=square)
    line = one_line(capsys)
    assert line.startswith("❌ sq: case 1: input [0. 1. 2.]; got shape (3, 1) ")
    assert "expected shape (3,) [0. 1. 4.]." in line


def test_shape_is_checked_even_when_values_broadcast(capsys):
    assert not check_function("sq", lambda x: np.full((2, 2), 4.0), [((2.0,), 4.0)])
    assert "got shape (2, 2)" in one_line(capsys)


def test_exception_is_a_verdict(capsys):
    def broken(x):
        raise ValueError("shapes (2,) and (3,) do not match")

    assert check_function("sq", broken, [((2.0,), 4.0)]).passed is False
    assert one_line(capsys) == (
        "❌ sq: case 1: input 2.0; raised ValueError: shapes (2,) and (3,) do not match."
    )



def test_a_function_that_changes_its_input_in_place(capsys):
    """The verdict shows the input the learner's function was given and the reference's answer for it,
    even when the function overwrote its argument."""
    def zero_positives(x):  # a wrong relu that also changes x in place
        x[x > 0] = 0
        return x

    assert not check_function("relu", zero_positives, [(np.array([-1.0, 0.0, 2.0]),)],
                              reference=lambda x: np.maximum(x, 0))
    assert one_line(capsys) == ("❌ relu: case 1: input [-1. 0. 2.]; got [-1. 0. 0.]; expected [0. 0. 2.]; "
                                "2 of 3 values differ, first at [0]: got -1.0, expected 0.0; largest |diff| 2.0 at [2].")

    def in_place_relu(x):  # right answer, computed in place: passes
        np.maximum(x, 0, out=x)
        return x

    assert check_function("relu", in_place_relu, [(np.array([-1.0, 2.0]),), {"x": np.array([3.0, -4.0])}],
                          reference=lambda x: np.maximum(x, 0))
    assert one_line(capsys) == "✅ relu: all 2 checks passed."

def test_missing_return_gets_a_hint(capsys):
    def forgot(x):
        x * x

    assert not check_function("sq", forgot, [((2.0,), 4.0)])
    assert one_line(capsys) == "❌ sq: case 1: input 2.0; got None (did you forget to `return` it?); expected 4.0."


def test_tolerances():
    assert check_function("sq", lambda x: x * x + 1e-7, [((2.0,), 4.0)])
    assert not check_function("sq", lambda x: x * x + 1e-3, [((2.0,), 4.0)])
    assert check_function("sq", lambda x: x * x + 1e-3, [((2.0,), 4.0)], atol=1e-2)


def test_tensors_are_compared_by_data(capsys):
    t = nnlib.Tensor(np.array([1.0, 2.0], dtype=np.float32))
    assert check_function("t", lambda: t, [((), np.array([1.0, 2.0]))])
    assert check_function("t", lambda: np.array([1.0, 2.0]), [((), t)])
    assert not check_function("t", lambda: t * 2, [((), t)])
    assert one_line_last(capsys).startswith("❌ t: case 1: input ; got Tensor([2. 4.]); expected Tensor([1. 2.])")


def one_line_last(capsys):
    return capsys.readouterr().out.strip().split("\n")[-1]


def test_nested_results_and_other_objects(capsys):
    grads = lambda x: (x, 2 * x)  # noqa: E731
    assert check_function("grads", grads, [((np.ones(2),), (np.ones(2), np.full(2, 2.0)))])
    assert not check_function("grads", grads, [((np.ones(2),), (np.ones(2), np.full(2, 3.0)))])
    assert one_line_last(capsys) == ("❌ grads: case 1: input [1. 1.]; at [1]: got [2. 2.]; expected [3. 3.]; "
                                     "2 of 2 values differ, first at [0]: got 2.0, expected 3.0 (the largest |diff|, 1.0).")
    assert not check_function("grads", grads, [((np.ones(2),), (np.ones(2),))])
    assert "got 2 items" in one_line_last(capsys)
    assert check_function("upper", str.upper, [(("ab",), "AB")])
    assert not check_function("upper", str.lower, [(("ab",), "AB")])
    assert one_line_last(capsys) == "❌ upper: case 1: input 'ab'; got 'ab'; expected 'AB'."
    assert check_function("d", lambda: {"w": np.ones(2)}, [((), {"w": [1.0, 1.0]})])


def test_custom_compare(capsys):
    same_sign = lambda got, expected: np.sign(got) == np.sign(expected)  # noqa: E731
    assert check_function("sign", lambda x: 3 * x, [((2.0,), 1.0)], compare=same_sign)
    assert not check_function("sign", lambda x: -x, [((2.0,), 1.0)], compare=same_sign)
    assert one_line_last(capsys).startswith("❌ sign: case 1:")


def test_long_inputs_are_truncated(capsys):
    big = np.arange(10_000.0).reshape(100, 100)
    assert not check_function("sq", lambda x: x, [(big,)], reference=square)
    line = one_line(capsys)
    assert line.count("(shape (100, 100))") == 1 and len(line) <= checks.MAX_VERDICT + 20
    assert line.endswith("9998 of 10000 values differ (shape (100, 100)), first at [0, 2]: got 2.0, "
                         "expected 4.0; largest |diff| 9.997e+07 at [99, 99].")


# ------------------------------------------------------------- verdicts for arrays
def test_array_verdict_names_first_and_largest_difference(capsys):
    expected = np.array([1.0, 2.0, 3.0, 4.0])
    got = expected.copy()
    got[1] += 0.5
    got[3] -= 2.0
    assert not check_value("y", got, expected)
    assert one_line(capsys) == ("❌ y: got [1. 2.5 3. 2.]; expected [1. 2. 3. 4.]; 2 of 4 values differ, "
                                "first at [1]: got 2.5, expected 2.0; largest |diff| 2.0 at [3].")


def test_values_that_look_equal_print_every_digit(capsys):
    """RMSprop with eps inside the square root: the two paths agree to 4 decimals, not to 1e-8."""
    g = np.array([[0.3, -1.2], [2.0, 0.5]])
    v = 0.01 * g * g
    right = -0.01 * g / (np.sqrt(v) + 1e-8)
    wrong = -0.01 * g / np.sqrt(v + 1e-8)
    assert checks.short_repr(right) == checks.short_repr(wrong)
    assert not check_value("rmsprop_step", wrong, right, atol=1e-10, rtol=1e-8)
    line = one_line(capsys)
    first = re.search(r"first at \[(\d+), (\d+)\]: got (\S+), expected (-?[0-9.e-]*[0-9])", line)
    assert first, line
    i, j = int(first.group(1)), int(first.group(2))
    # as many significant digits as it takes to tell the two apart, and no more than that
    assert first.group(3) != first.group(4)
    assert abs(float(first.group(3)) - wrong[i, j]) < abs(wrong[i, j] - right[i, j])
    assert abs(float(first.group(4)) - right[i, j]) < abs(wrong[i, j] - right[i, j])
    assert "largest |diff|" in line


def test_a_number_that_looks_equal_prints_every_digit(capsys):
    assert not check_value("x", 0.50001, 0.5)
    assert one_line(capsys) == "❌ x: got 0.50001; expected 0.5."
    assert not check_value("x", np.float32(1.0001), 1.0)
    assert one_line(capsys) == "❌ x: got 1.0001; expected 1.0."


def test_a_big_matrix_verdict_stays_one_short_line(capsys):
    """A LoRA scale mistake (x2) on random matrices: no matrices printed, one ~200-character line."""
    rng = np.random.default_rng(0)
    x, a, b = rng.normal(size=(16, 32)), rng.normal(size=(32, 4)), rng.normal(size=(4, 32))
    lora = lambda x, a, b, scale: x @ a @ b * scale  # noqa: E731
    assert not check_function("lora_forward", lambda x, a, b, scale: lora(x, a, b, 2 * scale),
                              [(x, a, b, 0.5)], reference=lora)
    line = one_line(capsys)
    assert len(line) <= checks.MAX_VERDICT + 20, len(line)
    assert "512 of 512 values differ (shape (16, 32)), first at [0, 0]: got " in line
    assert "; largest |diff| " in line


def test_index_format_names_steps(capsys):
    path = np.zeros((51, 2))
    wrong = path.copy()
    wrong[7:, 1] = 1e-3
    assert not check_function("adam_step", lambda: wrong, [((), path)], atol=1e-10, rtol=1e-8,
                              index_format="step {0}, w[{1}]")
    line = one_line(capsys)
    assert "44 of 102 values differ (shape (51, 2)), first at step 7, w[1]: got 0.001, expected 0.0" in line
    assert not check_value("path", wrong, path, index_format=lambda step, i: f"step {step}")
    assert "first at step 7: got 0.001" in one_line(capsys)


def test_nan_and_integer_arrays(capsys):
    assert not check_value("y", np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    assert one_line(capsys).endswith("1 of 2 values differ, first at [1]: got nan, expected 2.0 (the largest |diff|, inf).")
    assert not check_value("k", np.array([1, 2, 4]), np.array([1, 2, 3]))
    assert one_line(capsys).endswith("first at [2]: got 4, expected 3 (the largest |diff|, 1).")


def test_never_raises(capsys):
    assert check_function("sq", 42, [((1,), 1)]).passed is False
    assert one_line(capsys) == "❌ sq: expected a function, got 42."
    assert check_function("sq", square, [1.0]).passed is False  # not a pair and no reference
    assert one_line(capsys).startswith("❌ sq: the check itself failed: TypeError")

    class Weird:
        def __eq__(self, other):
            raise RuntimeError("no")

        def __repr__(self):
            raise RuntimeError("no repr")

    assert check_function("w", lambda: Weird(), [((), 1.0)]).passed is False
    assert one_line(capsys) == "❌ w: case 1: input ; got <Weird>; expected 1.0."


def test_keyboard_interrupt_propagates():
    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_function("sq", interrupted, [((1,), 1)])


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=4, max_side=30),
                  elements=st.floats(-1e6, 1e6)))
def test_short_repr_is_one_bounded_line(array):
    text = checks.short_repr(array)
    assert "\n" not in text and len(text) <= 120


# ------------------------------------------------------------------ check_value
def test_check_value_verdicts(capsys):
    assert check_value("w", np.float32(3.0), 3.0).passed is True
    assert one_line(capsys) == "✅ w: the check passed."
    assert check_value("w", lambda: np.array([1.0, 2.0]), [1.0, 2.0]).passed is True
    assert one_line(capsys) == "✅ w: the check passed."
    assert check_value("w", 2.5, 3.0).passed is False
    assert one_line(capsys) == "❌ w: got 2.5; expected 3.0."
    assert check_value("w", np.ones(3), np.ones((3, 1))).passed is False
    assert one_line(capsys) == "❌ w: got shape (3,) [1. 1. 1.]; expected shape (3, 1) [[1.] [1.] [1.]]."



def test_a_list_where_an_array_is_expected_is_named(capsys):
    """Same numbers, other type: the verdict must not read "got [0.5, 0.5]; expected [0.5 0.5]"."""
    assert check_value("w", [0.5, 0.5], np.array([0.5, 0.5])).passed is False
    assert one_line(capsys) == (
        "❌ w: got a list [0.5, 0.5]; expected a NumPy array [0.5 0.5] (convert the result, e.g. np.array(...)).")
    assert check_value("w", (1.0, 2.0), nnlib.Tensor([1.0, 2.0])).passed is False
    assert "got a tuple" in one_line(capsys)
    assert check_value("w", np.array([0.5, 0.5]), [0.5, 0.5]).passed is True  # an array for a list is fine
    one_line(capsys)

def test_check_value_not_attempted(capsys):
    assert check_value("sq", stub, 1.0).passed is False
    assert one_line(capsys) == NOT_ATTEMPTED
    assert check_value("w", lambda: undefined_name, 1.0).passed is False  # noqa: F821
    assert one_line(capsys) == (
        "⏳ w: not attempted yet — name 'undefined_name' is not defined; finish the exercise "
        "cell above and run it, then run this cell again."
    )


def test_check_value_exception(capsys):
    assert check_value("w", lambda: 1 / 0, 1.0).passed is False
    assert one_line(capsys) == "❌ w: raised ZeroDivisionError: division by zero."


# ------------------------------------------------------------------- check_true
def test_check_true_verdicts(capsys):
    assert check_true("positive", True, "all outputs must be > 0.").passed is True
    assert one_line(capsys) == "✅ positive: the check passed."
    assert check_true("positive", lambda: np.array([1, 2]) > 0, "hint").passed is True
    assert one_line(capsys) == "✅ positive: the check passed."
    assert check_true("positive", lambda: np.array([1, -2]) > 0, "all outputs must be > 0.").passed is False
    assert one_line(capsys) == "❌ positive: all outputs must be > 0."
    assert check_true("positive", stub, "hint").passed is False
    assert one_line(capsys).startswith("⏳ positive: not attempted yet")
    assert check_true("positive", lambda: [][1], "lists start at 0.").passed is False
    assert one_line(capsys) == "❌ positive: raised IndexError: list index out of range. lists start at 0."


def test_verdict_is_truthy_and_displays_nothing_in_a_notebook():
    from nnlib.checks import Verdict

    good, bad = Verdict(True), Verdict(False)
    assert good and not bad
    assert good == True and bad == False  # noqa: E712
    assert repr(bad) == "Verdict(passed=False)"
    assert good._ipython_display_() is None  # IPython calls this instead of printing True


# ------------------------------------------------ readable paths and digits (issue 15)
def test_nested_mismatch_reads_like_an_index(capsys):
    """Issue 15: "item 0, item 0: got 0.0013; expected 0.0025" hid where and how big the error was."""
    expected = [(0.0025, 0.01), (0.0, 0.0)]
    assert not check_value("layerwise_adam", [(0.00125, 0.01), (0.0, 0.0)], expected)
    line = one_line(capsys)
    assert line == "❌ layerwise_adam: at [0][0]: got 0.00125; expected 0.0025."
    assert "item" not in line
    assert not check_value("grads", {"w": [1.0, 2.0], "b": 0.5}, {"w": [1.0, 2.5], "b": 0.5})
    assert one_line(capsys) == "❌ grads: at ['w'][1]: got 2.0; expected 2.5."


def test_names_label_the_items_of_a_tuple_result(capsys):
    grads = lambda x: (2 * x, 1.0)  # noqa: E731
    assert not check_function("linreg_gradients", grads, [((np.array([1.0]),), (np.array([2.0]), 2.0))],
                              names=("dw", "db"))
    assert one_line(capsys) == "❌ linreg_gradients: case 1: input [1.]; db: got 1.0; expected 2.0."
    nested = lambda: ([0.0, 1.0], 3)  # noqa: E731
    assert not check_value("pair", nested, ([0.0, 2.0], 3), names=("w", "b"))
    assert "w[1]: got 1.0; expected 2.0." in one_line(capsys)


@pytest.mark.parametrize("value, text", [
    (0.00125, "0.00125"), (0.0025, "0.0025"), (0.26894142, "0.2689"), (3.0, "3.0"), (-1.5, "-1.5"),
    (123456.7, "123456.7"), (1000.693, "1000.7"), (1.2345678e-7, "1.235e-07"), (2.5e7, "2.5e+07"), (0.0, "0.0"),
    (7, "7"), (np.int64(-3), "-3"), (True, "True"), (float("nan"), "nan"), (float("-inf"), "-inf"),
])
def test_format_number_keeps_four_significant_digits(value, text):
    assert checks.format_number(value) == text


def test_got_and_expected_never_print_the_same(capsys):
    for got, expected in [(0.00125, 0.0025), (1.00004, 1.0), (0.1 + 0.2, 0.3), (np.float32(0.1), 0.1)]:
        assert not check_value("x", got, expected, atol=0, rtol=0)
        line = one_line(capsys)
        shown = re.fullmatch(r"❌ x: got (\S+); expected (\S+)\.", line)
        assert shown and shown.group(1) != shown.group(2), line
    assert not check_value("x", np.array([0.00125, 1.0]), np.array([0.0025, 1.0]))
    assert "first at [0]: got 0.00125, expected 0.0025" in one_line(capsys)


@given(st.floats(-1e9, 1e9), st.floats(-1e9, 1e9))
def test_number_pair_tells_distinct_numbers_apart(a, b):
    shown = checks._number_pair(a, b)
    assert (shown[0] != shown[1]) == (a != b) or (a == 0 and b == 0)
    assert float(shown[0]) == pytest.approx(a, rel=1e-3, abs=1e-300)


def test_verdict_lines_stay_short(capsys):
    """Every ❌ line of a nested, a shape, a type and a big-array mismatch fits ~200 characters."""
    rng = np.random.default_rng(0)
    big = rng.normal(size=(40, 40))
    cases = [
        lambda: check_function("f", lambda x: (x, x + 1), [((big,), (big, big))]),
        lambda: check_function("f", lambda x: x[:, :1], [((big,), big)]),
        lambda: check_value("f", big.tolist(), big),
        lambda: check_value("f", [[0.00125] * 3] * 3, [[0.0025] * 3] * 3),
    ]
    for run in cases:
        assert not run()
        line = one_line(capsys)
        assert len(line) <= checks.MAX_VERDICT + 20, (len(line), line)


def test_hint_names_the_mistake_on_a_wrong_value_only(capsys):
    hint = lambda args, got, expected: "add the bias b." if got == args[0] * 2 else ""  # noqa: E731
    assert not check_function("f", lambda x: x * 2, [((1.0,), 3.0)], hint=hint)
    assert one_line(capsys) == "❌ f: case 1: input 1.0; got 2.0; expected 3.0. add the bias b."
    assert not check_function("f", lambda x: x * 3 + 1, [((1.0,), 3.0)], hint=hint)
    assert one_line(capsys) == "❌ f: case 1: input 1.0; got 4.0; expected 3.0."   # no hint when it does not apply
    broken = lambda args, got, expected: 1 / 0  # noqa: E731
    assert not check_function("f", lambda x: x, [((1.0,), 3.0)], hint=broken)
    assert one_line(capsys) == "❌ f: case 1: input 1.0; got 1.0; expected 3.0."   # a failing hint is dropped
    assert check_function("f", lambda x: x, [((3.0,), 3.0)], hint=broken)
    one_line(capsys)


def test_functions_in_inputs_print_by_name(capsys):
    assert not check_function("apply", lambda f, x: f(x), [((np.tanh, 0.0), 1.0)])
    assert one_line(capsys) == "❌ apply: case 1: input tanh, 0.0; got 0.0; expected 1.0."


def test_a_long_line_drops_the_small_arrays_first(capsys):
    hint = lambda args, got, expected: "x" * 70  # noqa: E731
    assert not check_function("f", lambda x: x * 2, [(np.arange(4.0),)], reference=lambda x: x, hint=hint)
    line = one_line(capsys)
    assert "got [0. 2. 4. 6.]" not in line and "3 of 4 values differ, first at [1]: got 2.0, expected 1.0." in line
    assert len(line) <= checks.MAX_VERDICT + 20


# ------------------------------------- the chapters' primitives: check_cases, run_check (issue 16)
def _double(x):
    return 2 * x


_MISTAKES = [(lambda x: x + 2, "add x to itself, don't add 2."), (lambda x: x * x, "that squares x; double it.")]
_CASES = [((1,), 2), ((2,), 4), ((3,), 6), ((np.array([1.0, 4.0]),), np.array([2.0, 8.0]))]


def test_check_cases_names_the_mistake_that_reproduces_every_answer(capsys):
    from nnlib.checks import check_cases

    assert check_cases("double", _double, _CASES, _MISTAKES).passed is True
    assert one_line(capsys) == "✅ double: all 4 checks passed."
    assert check_cases("double", lambda x: x * x, _CASES, _MISTAKES).passed is False
    assert one_line(capsys) == "❌ double: case 1 (1): that squares x; double it. Got 1; expected 2."
    assert not check_cases("double", lambda x: x * x, _CASES, _MISTAKES, cite_case=False)
    assert one_line(capsys) == "❌ double: that squares x; double it. (input 1: got 1, expected 2)."
    # x + 2 is right on the second case: the mistake is named at the first case it gets wrong
    assert not check_cases("double", lambda x: x + 2, _CASES[1:], _MISTAKES, show=lambda a: f"x = {a[0]}")
    assert one_line(capsys) == "❌ double: case 2 (x = 3): add x to itself, don't add 2. Got 5; expected 6."


def test_check_cases_falls_back_to_check_function(capsys):
    from nnlib.checks import check_cases

    assert not check_cases("double", lambda x: 3 * x, _CASES, _MISTAKES)   # no known mistake fits
    assert one_line(capsys) == "❌ double: case 1: input 1; got 3; expected 2."
    assert not check_cases("double", stub, _CASES, _MISTAKES)
    assert one_line(capsys).startswith("⏳ double: not attempted yet")
    assert not check_cases("double", lambda x: 1 / 0, _CASES, _MISTAKES)
    assert one_line(capsys) == "❌ double: case 1: input 1; raised ZeroDivisionError: division by zero."
    assert not check_cases("double", 7, _CASES, _MISTAKES)
    assert one_line(capsys) == "❌ double: expected a function, got 7."


def test_check_cases_gives_every_call_its_own_copy_of_the_arguments(capsys):
    """An answer that squares its input in place is still recognised as the squaring mistake."""
    from nnlib.checks import check_cases

    def squares_in_place(x):
        x *= x
        return x

    cases = [((np.array([1.0, 2.0]),), np.array([2.0, 4.0])), ((np.array([3.0]),), np.array([6.0]))]
    assert not check_cases("double", squares_in_place, cases, [(lambda x: x * x, "that squares x; double it.")])
    assert one_line(capsys) == "❌ double: case 1 ([1. 2.]): that squares x; double it. Got [1. 4.]; expected [2. 4.]."


def test_check_cases_with_dtype_requires_the_expected_dtype(capsys):
    from nnlib.checks import check_cases

    cases = [((2,), np.array([1.0, 1.0], np.float32))]
    assert not check_cases("ones", lambda n: np.ones(n), cases, dtype=True)
    assert one_line(capsys) == ("❌ ones: case 1: got dtype float64; expected float32 "
                                "(convert with .astype(np.float32)).")
    assert check_cases("ones", lambda n: np.ones(n), cases)      # without dtype=True, values only
    assert one_line(capsys) == "✅ ones: the check passed."


def test_run_check_turns_a_body_into_one_line(capsys):
    from nnlib.checks import Problem, run_check

    def wrong():
        raise Problem("freeze(model, ['a']): 'b' stayed frozen.")

    assert run_check("freeze", lambda: None, 4).passed is True
    assert one_line(capsys) == "✅ freeze: all 4 checks passed."
    assert run_check("freeze", wrong).passed is False
    assert one_line(capsys) == "❌ freeze: freeze(model, ['a']): 'b' stayed frozen."
    assert not run_check("freeze", stub)
    assert one_line(capsys).startswith("⏳ freeze: not attempted yet")
    assert not run_check("freeze", lambda: undefined_name)  # noqa: F821
    assert one_line(capsys).startswith("⏳ freeze: not attempted yet — name 'undefined_name' is not defined")
    assert not run_check("freeze", lambda: [][0])
    assert one_line(capsys) == "❌ freeze: raised IndexError: list index out of range"
    assert not run_check("long", lambda: (_ for _ in ()).throw(Problem("x" * 500)))
    assert len(one_line(capsys)) == checks.MAX_VERDICT + 40


def test_run_check_seeds_the_body_and_leaves_the_global_generator_alone(capsys):
    from nnlib.checks import run_check
    from nnlib.random import get_rng

    drawn = []
    before = get_rng().bit_generator.state
    for _ in range(2):
        run_check("seeded", lambda: drawn.append(get_rng().normal()))
    assert drawn[0] == drawn[1]
    assert get_rng().bit_generator.state == before
    capsys.readouterr()


def test_labelled_cases_say_what_the_failing_case_tests(capsys):
    from nnlib.checks import check_labelled_cases

    labelled = [("by hand", (1, 2), 3), ("arrays", (np.ones(2), np.ones(2)), lambda: np.full(2, 2.0))]
    assert check_labelled_cases("add", lambda a, b: a + b, labelled).passed is True
    assert one_line(capsys) == "✅ add: all 2 checks passed."
    assert not check_labelled_cases("add", lambda a, b: a - b, labelled)
    assert one_line(capsys) == "❌ add: by hand: input 1, 2; got -1; expected 3."
    assert not check_labelled_cases("add", "a + b", labelled)
    assert one_line(capsys) == "❌ add: expected a function, got 'a + b'."


def test_describe_difference(capsys):
    from nnlib.checks import describe_difference

    assert describe_difference(np.ones(3), np.ones(3)) is None
    assert describe_difference([1, 2], [1, 3]) == "got [1, 2]; expected [1, 3]."
    assert describe_difference(np.zeros((2, 2)), np.zeros(3)) == "got shape (2, 2); expected shape (3,)."
    assert describe_difference((np.zeros(2), 1.0), (np.ones(2), 1.0), names=("x", "y")) == (
        "x: got [0. 0.]; expected [1. 1.]; largest |diff| 1 at [0].")
    assert describe_difference(np.zeros(10), np.arange(10.0)) == (
        "9 of 10 values differ; largest |diff| 9 at [9]: got 0, expected 9.")
