"""Chapter 06's exercise checks: the solution passes, the stub is ⏳, plausible wrong answers are ❌."""

import numpy as np

from nnlib.exercises import ch06
from tests.course.exercise_harness import FAILED, NOT_ATTEMPTED, PASSED, assert_verdict, load_solution, stub

NS = {"np": np}


def test_dense_forward():
    solution = load_solution("06", "dense_forward", NS)
    assert_verdict(PASSED, ch06.check_dense_forward, solution)
    assert_verdict(NOT_ATTEMPTED, ch06.check_dense_forward, stub)
    assert_verdict(FAILED, ch06.check_dense_forward,
                   lambda x, k, b, a=None: solution(x, k, np.zeros_like(b), a), mentions=("bias is missing",))
    assert_verdict(FAILED, ch06.check_dense_forward,
                   lambda x, k, b, a=None: 1 / (1 + np.exp(x @ k + b)) if a == "sigmoid" else solution(x, k, b, a),
                   mentions=("sigmoid sign",))
    assert_verdict(FAILED, ch06.check_dense_forward,
                   lambda x, k, b, a=None: solution(x, k, 0 * b, a) + b, mentions=("after the activation",))
    assert_verdict(FAILED, ch06.check_dense_forward, lambda x, k, b, a=None: x @ k + b,
                   mentions=("activation is not applied",))


def test_sequential_forward():
    dense = load_solution("06", "dense_forward", NS)
    solution = load_solution("06", "sequential_forward", {**NS, "dense_forward": dense})
    assert_verdict(PASSED, ch06.check_sequential_forward, solution)
    assert_verdict(NOT_ATTEMPTED, ch06.check_sequential_forward, stub)
    assert_verdict(NOT_ATTEMPTED, ch06.check_sequential_forward,
                   load_solution("06", "sequential_forward", {**NS, "dense_forward": stub}))

    def skips_last(x, weights, activations):
        return solution(x, weights[:-1], activations[:-1]) if len(weights) > 1 else solution(x, weights, activations)

    def last_activation_everywhere(x, weights, activations):
        return solution(x, weights, [activations[-1]] * len(weights))

    assert_verdict(FAILED, ch06.check_sequential_forward, skips_last, mentions=("last layer is skipped",))
    assert_verdict(FAILED, ch06.check_sequential_forward, last_activation_everywhere,
                   mentions=("last layer's activation",))
    assert_verdict(FAILED, ch06.check_sequential_forward, lambda x, w, a: solution(x, w, [None] * len(a)),
                   mentions=("activations are not applied",))


def test_count_dense_params():
    solution = load_solution("06", "count_dense_params", NS)
    assert_verdict(PASSED, ch06.check_count_dense_params, solution)
    assert_verdict(NOT_ATTEMPTED, ch06.check_count_dense_params, stub)
    assert_verdict(FAILED, ch06.check_count_dense_params,
                   lambda d, units: [d * u for d, u in zip([d] + list(units[:-1]), units)],
                   mentions=("biases are not counted",))
    assert_verdict(FAILED, ch06.check_count_dense_params, lambda d, units: [(d + 1) * u for u in units],
                   mentions=("previous layer",))
    assert_verdict(FAILED, ch06.check_count_dense_params, lambda d, units: sum(solution(d, units)),
                   mentions=("not the total",))


def test_glorot_limit():
    solution = load_solution("06", "glorot_limit", NS)
    assert_verdict(PASSED, ch06.check_glorot_limit, solution)
    assert_verdict(NOT_ATTEMPTED, ch06.check_glorot_limit, stub)
    assert_verdict(FAILED, ch06.check_glorot_limit, lambda i, o: float(np.sqrt(2 / (i + o))),
                   mentions=("standard deviation",))
    assert_verdict(FAILED, ch06.check_glorot_limit, lambda i, o: float(np.sqrt(6 / i)), mentions=("He's limit",))
    assert_verdict(FAILED, ch06.check_glorot_limit, lambda i, o: 6 / (i + o), mentions=("square root",))


def learner_names_used_later(chapter: str) -> list[str]:
    """Code cells of the solved notebook that use a name an exercise defines, outside a check call.

    In the learner's copy such a cell would raise (the name is a stub, or wrong); the
    course rule is to use nnlib's version there. Returns "cell N uses NAME" for each use.
    """
    import ast

    from tests.course.exercise_harness import notebook_cells

    sources = ["".join(c["source"]) for c in notebook_cells(chapter) if c["cell_type"] == "code"]
    exercises = [s for s in sources if "BEGIN SOLUTION" in s]
    names = {node.name for s in exercises for node in ast.walk(ast.parse(s))
             if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.col_offset == 0}
    found = []
    for number, source in enumerate(sources):
        if source in exercises:
            continue
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        allowed = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
                   and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                   and node.func.value.id == f"ch{chapter}" for arg in node.args}
        found += [f"cell {number} uses {node.id}" for node in ast.walk(tree)
                  if isinstance(node, ast.Name) and node.id in names and id(node) not in allowed]
    return found


def test_later_cells_do_not_use_the_learners_names():
    assert learner_names_used_later("06") == []
