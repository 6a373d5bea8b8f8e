"""Chapter 13: the exercise checks of "Fine-tuning an LLM: full fine-tuning and LoRA".

``check_make_example`` (inputs and masked targets), ``check_exact_match``,
``check_lora_forward`` (a LoRA layer by hand, against ``nnlib.lora.LoRADense``) and
``check_lora_param_count``. Each prints one line and never raises; a known mistake gets
a line that names it.
"""

from __future__ import annotations

import copy

import numpy as np

from ..checks import Verdict, check_cases

__all__ = ["check_make_example", "check_exact_match", "check_lora_forward", "check_lora_param_count"]




# ------------------------------------------------------------------------ checks
def check_make_example(make_example) -> Verdict:
    """Chapter 13: ``make_example(prompt_ids, response_ids)`` -> (inputs, targets with the prompt masked)."""
    cases = [
        (([5, 6, 7], [8, 9]), ([5, 6, 7, 8], [-100, -100, 8, 9])),
        (([1], [2, 3]), ([1, 2], [2, 3])),
        ((list(range(10)), [10, 11]), (list(range(11)), [-100] * 9 + [10, 11])),
    ]

    def ids(p, r):
        return list(p) + list(r)

    mistakes = [
        (lambda p, r: (ids(p, r)[:-1], ids(p, r)[1:]),
         "the targets of the prompt positions must be -100, so that only the response counts"),
        (lambda p, r: (ids(p, r)[:-1], [-100] * len(p) + ids(p, r)[len(p) + 1:]),
         "one -100 too many: the first response id is the target of the LAST prompt position (len(prompt) - 1 masks)"),
        (lambda p, r: (ids(p, r), [-100] * (len(p) - 1) + ids(p, r)[len(p):]),
         "x must leave out the last id (nothing comes after it to predict)"),
        (lambda p, r: (ids(p, r)[:-1], [-100] * (len(p) - 1) + list(r)[:-1]),
         "the targets are the ids shifted by one: y ends with the last response id"),
    ]
    return check_cases("make_example", make_example, cases, mistakes, cite_case=False)


def check_exact_match(exact_match) -> Verdict:
    """Chapter 13: ``exact_match(predictions, answers)``, the fraction equal after ``str.strip``."""
    cases = [
        ((["abc", "ABC", "42"], ["abc", "abc", "42"]), 2 / 3),
        ((["list\n", " 7"], ["list", "7"]), 1.0),
        ((["x"], ["y"]), 0.0),
        ((["a", "b", "c", "d"], ["a", "b", "c", "x"]), 0.75),
    ]
    mistakes = [
        (lambda p, a: sum(x == y for x, y in zip(p, a)) / len(p), "strip surrounding whitespace first: 'list\\n' answers 'list'"),
        (lambda p, a: sum(x.strip() == y.strip() for x, y in zip(p, a)), "return the fraction of right answers, not their count"),
        (lambda p, a: sum(x.strip().lower() == y.strip().lower() for x, y in zip(p, a)) / len(p),
         "exact match is case-sensitive: 'ABC' is not 'abc' (the upper-case task depends on it)"),
        (lambda p, a: sum(y.strip() in x for x, y in zip(p, a)) / len(p), "the whole prediction must equal the answer, not contain it"),
    ]
    return check_cases("exact_match", exact_match, cases, mistakes, cite_case=False)


def _lora_reference(x, W, b, A, B, alpha, r):
    from ..layers import Dense
    from ..lora import LoRADense
    from ..engine import Tensor

    dense = Dense(W.shape[1], input_shape=(W.shape[0],), dtype="float64")
    dense.kernel.data, dense.bias.data = W, b
    layer = LoRADense(dense, rank=r, alpha=alpha)
    layer.lora_A.data, layer.lora_B.data = A, B
    return layer(Tensor(x)).data


def check_lora_forward(lora_forward) -> Verdict:
    """Chapter 13: ``lora_forward(x, W, b, A, B, alpha, r)`` = xW + b + (alpha/r) xAB, against ``nnlib.lora.LoRADense``."""
    try:
        rng = np.random.default_rng(3)
        r_ = lambda *shape: rng.normal(size=shape)  # noqa: E731
        args = [
            (np.array([[1.0, 2.0]]), np.eye(2), np.zeros(2), np.array([[1.0], [1.0]]), np.array([[1.0, 0.0]]), 2.0, 1),
            (r_(4, 6), r_(6, 5), r_(5), r_(6, 2), r_(2, 5), 4.0, 2),
            (r_(2, 3, 8), r_(8, 8), r_(8), r_(8, 1), r_(1, 8), 1.0, 1),
            (r_(4, 6), r_(6, 5), r_(5), r_(6, 2), np.zeros((2, 5)), 16.0, 2),     # B = 0: exactly the base layer
        ]
        cases = [(a, _lora_reference(*copy.deepcopy(a))) for a in args]
    except Exception as error:
        print(f"❌ lora_forward: the check itself failed: {type(error).__name__}: {error}.")
        return Verdict(False)
    mistakes = [
        (lambda x, W, b, A, B, alpha, r: x @ W + b + (x @ A) @ B, "scale the adapter's output by alpha / r"),
        (lambda x, W, b, A, B, alpha, r: x @ W + b + (r / alpha) * ((x @ A) @ B), "the scale is alpha / r, not r / alpha"),
        (lambda x, W, b, A, B, alpha, r: x @ W + (alpha / r) * ((x @ A) @ B), "add the bias b"),
        (lambda x, W, b, A, B, alpha, r: (alpha / r) * ((x @ A) @ B) + b,
         "keep the frozen path x W: LoRA adds a correction to the pretrained layer"),
    ]
    return check_cases("lora_forward", lora_forward, cases, mistakes, cite_case=False)


def _lora_count_case(targets, r):
    from ..gpt import GPT
    from ..lora import apply_lora, lora_layers, trainable_parameter_count

    small = GPT(vocab_size=96, context_length=32, d_model=32, n_heads=4, n_layers=2)
    apply_lora(small, rank=r, alpha=2 * r, targets=targets, seed=0)
    shapes = [tuple(layer.base.kernel.shape) for _, layer in lora_layers(small)]
    return (shapes, r), trainable_parameter_count(small).trainable


def check_lora_param_count(lora_param_count) -> Verdict:
    """Chapter 13: ``lora_param_count(shapes, r)``, against ``apply_lora`` + ``trainable_parameter_count``."""
    try:
        cases = [(([(2, 3)], 1), 5), (([(4, 4), (4, 8)], 2), 16 + 24)]
        cases += [_lora_count_case(t, r) for t, r in ((("q", "v"), 4), (("q", "k", "v", "out"), 8), (("mlp_in", "mlp_out"), 2))]
    except Exception as error:
        print(f"❌ lora_param_count: the check itself failed: {type(error).__name__}: {error}.")
        return Verdict(False)
    mistakes = [
        (lambda shapes, r: sum(r * i * o for i, o in shapes),
         "A is d_in x r and B is r x d_out: r * (d_in + d_out) numbers, not r * d_in * d_out"),
        (lambda shapes, r: sum(i * o for i, o in shapes), "that counts the frozen matrices W: count the adapters A and B"),
        (lambda shapes, r: sum(2 * r * i for i, o in shapes), "d_out may differ from d_in: r * (d_in + d_out) per matrix"),
        (lambda shapes, r: r * (shapes[0][0] + shapes[0][1]), "add up the adapters of every matrix in `shapes`"),
    ]
    return check_cases("lora_param_count", lora_param_count, cases, mistakes, cite_case=False)
