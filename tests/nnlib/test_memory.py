"""nnlib.memory (chapter 12): malloc keeps freed blocks (opt-in), so a training step does not page-fault."""
import os
import subprocess
import sys
import textwrap

import pytest

from nnlib.memory import _glibc, tune_allocator

GLIBC = _glibc() is not None

# A small GPT training loop; prints the minor page faults per step once warm.
FAULTS_PER_STEP = textwrap.dedent("""
    import resource, numpy as np, nnlib
    from nnlib.corpus import sample_batch
    from nnlib.gpt import GPT, GPTConfig
    from nnlib.optim import AdamW
    nnlib.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, context_length=64, d_model=64, n_heads=4, n_layers=2))
    tokens = np.random.default_rng(0).integers(0, 65, size=10_000)
    opt, rng = AdamW(model.parameters(), lr=1e-3), np.random.default_rng(1)
    def step():
        x, y = sample_batch(tokens, 32, 64, rng)
        loss = model.loss(x, y); opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
""")


def _faults_per_step(tune: str) -> float:
    env = dict(os.environ, NNLIB_TUNE_MALLOC=tune)
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP], env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="malloc tuning applies to glibc (Linux) only")
def test_opt_in_tunes_malloc_and_training_stops_page_faulting():
    tuned, untuned = _faults_per_step("1"), _faults_per_step("0")
    # untuned, every step gives its temporaries back to the kernel and faults them in again
    assert tuned < 300, f"{tuned} page faults per step with malloc tuned (untuned: {untuned})"
    assert tuned < untuned / 5, (tuned, untuned)


def _tuned_after(code: str, env_value) -> str:
    env = dict(os.environ)
    env.pop("NNLIB_TUNE_MALLOC", None)
    if env_value is not None:
        env["NNLIB_TUNE_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="malloc tuning applies to glibc (Linux) only")
@pytest.mark.parametrize("env_value", [None, "0", "no"])
def test_import_leaves_malloc_alone_unless_asked(env_value):
    assert _tuned_after("import nnlib, nnlib.models, nnlib.memory as m; print(m.allocator_tuned())",
                        env_value) == "False"


@pytest.mark.skipif(not GLIBC, reason="malloc tuning applies to glibc (Linux) only")
def test_env_var_or_explicit_call_opts_in():
    assert _tuned_after("import nnlib, nnlib.memory as m; print(m.allocator_tuned())", "1") == "True"
    code = "import nnlib, nnlib.memory as m; print(m.tune_allocator(), m.allocator_tuned())"
    assert _tuned_after(code, None) == "True True"


@pytest.mark.parametrize("bad", [0, -1, 2 ** 31, 1.5, True, "32MB"])
def test_bad_thresholds_are_refused(bad):
    with pytest.raises(ValueError, match="tune_allocator"):
        tune_allocator(mmap_threshold=bad)
    with pytest.raises(ValueError, match="trim_threshold"):
        tune_allocator(trim_threshold=bad)
