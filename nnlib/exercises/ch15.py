"""Chapter 15: the exercise checks of "Scaling: PyTorch, GPUs and data parallelism".

``check_block_params`` (the parameters of one GPT block), ``check_training_memory``
(bytes per parameter of Adam training, and the largest model whose state fits in 80 GB)
and ``check_combine`` (the all-reduce of unequal shards). Each prints one line and
never raises; a known mistake gets a line that names it.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from ..checks import Verdict, check_cases, check_value

__all__ = ["check_block_params", "check_training_memory", "check_combine"]




def _quietly(check, *args, **kwargs):
    """Run a check without printing; return (passed, its line)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        verdict = check(*args, **kwargs)
    return bool(verdict), out.getvalue().strip()


# ------------------------------------------------------------------------ checks
def _block_size(d: int) -> int:
    from ..gpt import GPT, GPTConfig

    gpt = GPT(GPTConfig(vocab_size=5, context_length=4, d_model=d, n_heads=2, n_layers=1))
    return int(sum(p.size for p in gpt.blocks[0].parameters()))


def check_block_params(block_params) -> Verdict:
    """Chapter 15: ``block_params(d)``, the parameters of one GPT block, against nnlib's GPT."""
    try:
        cases = [((1,), 25), ((2,), 74)] + [((d,), _block_size(d)) for d in (16, 128)]
    except Exception as error:
        print(f"❌ block_params: the check itself failed: {type(error).__name__}: {error}.")
        return Verdict(False)
    mistakes = [
        (lambda d: 12 * d * d, "that counts the weight matrices only: add the biases (9d) and the two LayerNorms (4d)"),
        (lambda d: 12 * d * d + 9 * d, "the two LayerNorms are missing: each has a scale and a shift of d numbers (4d)"),
        (lambda d: 12 * d * d + 4 * d, "the biases are missing: 4d for q/k/v/out, 4d + d for the MLP"),
        (lambda d: 12 * d * d + 11 * d, "one LayerNorm is missing: a block has two, each with a scale and a shift"),
        (lambda d: 6 * d * d + 10 * d, "the MLP is 4 times wider than the block: d x 4d and 4d x d, with 4d + d biases"),
    ]
    return check_cases("block_params", block_params, cases, mistakes, cite_case=False)


def check_training_memory(training_gib, fits_80gb) -> Verdict:
    """Chapter 15: ``training_gib(n_params, mixed)`` and ``fits_80gb`` (pass ``lambda: fits_80gb``)."""
    name = "training memory"
    cases = [((2**30, False), 16.0), ((2**30, True), 16.0), ((7e9, False), 7e9 * 16 / 2**30),
             ((7e9, True), 7e9 * 16 / 2**30)]
    mistakes = [
        (lambda n, mixed: n * (12 if mixed else 16) / 2**30,
         "mixed precision keeps a float32 master copy too: 2 + 2 + 4 + 8 = 16 bytes"),
        (lambda n, mixed: n * (4 if mixed else 8) / 2**30, "count the weights, the gradients and Adam's two moments"),
        (lambda n, mixed: n * 16 / 1e9, "a GiB is 2**30 bytes, not 10**9"),
        (lambda n, mixed: n * (2 if mixed else 4) / 2**30, "that is the weights alone: add the gradients and Adam's moments"),
    ]
    try:
        passed, line = _quietly(check_cases, "training_gib", training_gib, cases, mistakes, cite_case=False)
        if not passed:
            print(line.replace("training_gib:", f"{name} (training_gib):", 1))
            return Verdict(False)
        hints = {6 * 10**9: "that is 80 GB / 12 bytes (mixed precision without the master copy): float32 Adam needs 16",
                 20 * 10**9: "80 GB / 4 bytes counts the weights only: float32 Adam training needs 16 bytes per parameter",
                 10 * 10**9: "80 GB / 8 bytes: float32 Adam training needs 16 bytes per parameter (4 + 4 + 8)"}
        passed, line = _quietly(check_value, "fits_80gb", fits_80gb, 5 * 10**9)
        if not passed:
            try:
                value = fits_80gb() if callable(fits_80gb) else fits_80gb
                hint = hints.get(int(round(float(value))))
            except BaseException:
                hint = None
            if hint:
                line = f"❌ fits_80gb: {hint} (got {value:,.0f}, expected 5,000,000,000)."
            print(line.replace("fits_80gb:", f"{name} (fits_80gb):", 1))
            return Verdict(False)
        print(f"✅ {name}: all {len(cases) + 1} checks passed.")
        return Verdict(True)
    except Exception as error:
        print(f"❌ {name}: the check itself failed: {type(error).__name__}: {error}.")
        return Verdict(False)


def check_combine(combine) -> Verdict:
    """Chapter 15: ``combine(shard_grads, shard_rows)``, the full-batch mean gradient from unequal shards."""
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(512, 3, 2))                # per-row gradients of a (3, 2) weight
    parts = [(0, 100), (100, 300), (300, 512)]          # 100, 200 and 212 rows
    shard_grads = [rows[a:b].mean(axis=0) for a, b in parts]
    cases = [
        (([np.array([1.0]), np.array([4.0])], [1, 2]), np.array([3.0])),     # (1 * 1 + 4 * 2) / 3
        (([np.array([2.0, 0.0]), np.array([0.0, 2.0])], [3, 1]), np.array([1.5, 0.5])),
        ((shard_grads, [b - a for a, b in parts]), rows.mean(axis=0)),
    ]
    mistakes = [
        (lambda g, r: sum(g) / len(g), "a plain average weighs every worker equally: weigh each shard by its share of the rows"),
        (lambda g, r: sum(x * n for x, n in zip(g, r)), "weighted by the rows, but not divided by the total number of rows"),
        (lambda g, r: sum(g), "that sums the workers' gradients: weigh each by its rows and divide by the total rows"),
    ]
    return check_cases("combine", combine, cases, mistakes, cite_case=False)
