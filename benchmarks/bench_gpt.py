"""Benchmark (chapters 11-12): a GPT training step and generation, nnlib against torch eager.

The model is the course's benchmark GPT: character vocabulary 65, context 64, width 128,
4 heads, 4 layers (about 0.8M parameters), batch 32, AdamW, float32. The torch model is
``TorchGPT`` from tests/nnlib/test_gpt.py -- the reference those tests prove equivalent -- loaded
with the same initial weights and trained on the same batches. Both run interleaved in one
process (an nnlib block, a torch block, repeated; medians reported), so a busy machine
slows both alike.

With two or more threads a third contender runs too: nnlib's step with the batch split
over that many worker threads (``nnlib.parallel.parallel_backward``, one BLAS thread
each), on its own copy of the model with the same initial weights and batches. NumPy
runs element-wise work on one core; torch spreads it over its threads; splitting the
batch is how nnlib uses every core for everything.

Generation: tokens per second for batch 1, a 16-token prompt and 200 new tokens (greedy),
with and without the KV cache, for both frameworks (same window rule past the context).

Run from the repository root:
      python -m benchmarks.bench_gpt                 (a minute or two)
      python -m benchmarks.bench_gpt --threads 1     (one BLAS / torch thread each)
      python -m benchmarks.bench_gpt --quick         (a smoke test)
"""
from __future__ import annotations

import argparse
import json
import statistics

import numpy as np

from benchmarks._timing import settings, time_block
from benchmarks.models import GPT_BATCH as BATCH, GPT_CONFIG as CONFIG, gpt_tokens, nnlib_gpt, torch_gpt


def build(seed: int = 0):
    import torch

    model = nnlib_gpt(seed)
    return model, torch_gpt(model), gpt_tokens(seed), torch


def step_fns(model, tmodel, tokens, torch):
    import torch.nn.functional as TF

    from nnlib.corpus import sample_batch
    from nnlib.optim import AdamW

    opt = AdamW(model.parameters(), lr=1e-3)
    topt = torch.optim.AdamW(tmodel.parameters(), lr=1e-3)
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    v = CONFIG["vocab_size"]

    def ours():
        x, y = sample_batch(tokens, BATCH, CONFIG["context_length"], rng_a)
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def theirs():
        x, y = sample_batch(tokens, BATCH, CONFIG["context_length"], rng_b)
        loss = TF.cross_entropy(tmodel(torch.from_numpy(x)).reshape(-1, v), torch.from_numpy(y).reshape(-1))
        topt.zero_grad()
        loss.backward()
        topt.step()
        return loss.item()
    return ours, theirs


def timed(fn, n: int, cpu: list | None = None) -> float:
    """Milliseconds of wall time per call (and, into ``cpu``, of process CPU time per call)."""
    wall, cpu_ms = time_block(fn, n)
    if cpu is not None:
        cpu.append(cpu_ms)
    return wall


def parallel_step_fn(tokens, workers: int):
    """nnlib's step with the batch split over ``workers`` threads (nnlib.parallel), on its own copy of the model."""
    from nnlib.corpus import sample_batch
    from nnlib.optim import AdamW
    from nnlib.parallel import parallel_backward

    model = nnlib_gpt(0)  # the same initial weights as build()
    opt = AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(1)

    def ours_parallel():
        x, y = sample_batch(tokens, BATCH, CONFIG["context_length"], rng)
        opt.zero_grad()
        loss = parallel_backward(model.loss, x, y, workers=workers)
        opt.step()
        return loss
    return ours_parallel


def bench_training(model, tmodel, tokens, torch, rounds: int, steps: int, workers: int = 0) -> dict:
    ours, theirs = step_fns(model, tmodel, tokens, torch)
    fns = {"nnlib": ours}
    if workers > 1:
        fns["nnlib_parallel"] = parallel_step_fn(tokens, workers)
    # torch's block comes after the one-BLAS-thread block: OpenBLAS's idle workers, which spin
    # for a while after a multi-threaded product, have gone to sleep by then and do not slow torch
    fns["torch"] = theirs
    first = {name: fn() for name, fn in fns.items()}
    for name, value in first.items():
        if abs(value - first["torch"]) > 1e-4 * max(1.0, abs(first["torch"])):
            raise SystemExit(f"{name} and torch disagree at the first step: {value} vs {first['torch']}")
    for _ in range(2):
        for fn in fns.values():
            fn()
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            wall[name].append(timed(fn, steps, cpu[name]))
    med = {name: statistics.median(v) for name, v in wall.items()}
    cmed = {name: statistics.median(v) for name, v in cpu.items()}
    a, b, ca, cb = med["nnlib"], med["torch"], cmed["nnlib"], cmed["torch"]
    result = {"nnlib_ms": a, "torch_ms": b, "ratio": a / b, "nnlib_best_ms": min(wall["nnlib"]),
              "torch_best_ms": min(wall["torch"]), "nnlib_cpu_ms": ca, "torch_cpu_ms": cb, "cpu_ratio": ca / cb,
              "first_loss": first["nnlib"]}
    if "nnlib_parallel" in fns:
        p = med["nnlib_parallel"]
        result.update(parallel_workers=workers, nnlib_parallel_ms=p, parallel_ratio=p / b,
                      nnlib_parallel_best_ms=min(wall["nnlib_parallel"]),
                      nnlib_parallel_cpu_ms=cmed["nnlib_parallel"])
    return result


def bench_generation(model, tmodel, torch, rounds: int, new_tokens: int) -> dict:
    prompt = np.arange(16) % CONFIG["vocab_size"]
    results = {}
    for use_cache in (True, False):
        def ours():
            return model.generate(prompt, new_tokens, temperature=0, use_cache=use_cache)

        def theirs():
            return tmodel.generate_greedy(torch.from_numpy(prompt[None]), new_tokens, use_cache=use_cache)
        same = np.array_equal(ours(), theirs().numpy()[0])
        t_ours, t_theirs, c_ours, c_theirs = [], [], [], []
        for _ in range(rounds):
            t_ours.append(timed(ours, 1, c_ours))
            t_theirs.append(timed(theirs, 1, c_theirs))
        a, b = statistics.median(t_ours), statistics.median(t_theirs)
        ca, cb = statistics.median(c_ours), statistics.median(c_theirs)
        key = "cache" if use_cache else "no_cache"
        results[key] = {"nnlib_tok_s": new_tokens / a * 1000.0, "torch_tok_s": new_tokens / b * 1000.0,
                        "speed_ratio": b / a, "nnlib_cpu_tok_s": new_tokens / ca * 1000.0,
                        "torch_cpu_tok_s": new_tokens / cb * 1000.0, "cpu_speed_ratio": cb / ca,
                        "same_tokens": bool(same)}
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved blocks per framework")
    ap.add_argument("--steps", type=int, default=5, help="training steps per block")
    ap.add_argument("--new-tokens", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="BLAS and torch threads (0: leave the defaults)")
    ap.add_argument("--quick", action="store_true", help="2 rounds of 2 steps, 50 tokens")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--no-malloc-tuning", action="store_true",
                    help="leave glibc malloc alone (nnlib.memory.tune_allocator is called otherwise)")
    args = ap.parse_args(argv)
    if not args.no_malloc_tuning:
        from nnlib.memory import tune_allocator

        tune_allocator()  # opt in: import nnlib leaves process-wide malloc settings alone
    if args.quick:
        args.rounds, args.steps, args.new_tokens = 2, 2, 50
    model, tmodel, tokens, torch = build()
    limiter = None
    if args.threads:
        torch.set_num_threads(args.threads)
        try:
            from threadpoolctl import threadpool_limits
            limiter = threadpool_limits(limits=args.threads)
        except ImportError:
            print("threadpoolctl is not installed: set OPENBLAS_NUM_THREADS to limit NumPy's threads")
    info = settings(args.threads)
    print("GPT " + ", ".join(f"{k}={v}" for k, v in CONFIG.items()) + f", batch {BATCH}, AdamW, float32")
    for key, value in info.items():
        print(f"  {key}: {value}")
    workers = args.threads or torch.get_num_threads()
    train = bench_training(model, tmodel, tokens, torch, args.rounds, args.steps, workers)
    print(f"\ntraining step (median)  nnlib {train['nnlib_ms']:8.1f} ms   torch {train['torch_ms']:8.1f} ms   "
          f"nnlib/torch {train['ratio']:.2f}")
    print(f"training step (best)    nnlib {train['nnlib_best_ms']:8.1f} ms   torch {train['torch_best_ms']:8.1f} ms   "
          f"nnlib/torch {train['nnlib_best_ms'] / train['torch_best_ms']:.2f}")
    print(f"training step (CPU)     nnlib {train['nnlib_cpu_ms']:8.1f} ms   torch {train['torch_cpu_ms']:8.1f} ms   "
          f"nnlib/torch {train['cpu_ratio']:.2f}   (process CPU time: steadier on a busy machine)")
    if "parallel_ratio" in train:
        print(f"training step, nnlib.parallel with {train['parallel_workers']} worker threads (1 BLAS thread each) "
              f"(median)  nnlib {train['nnlib_parallel_ms']:8.1f} ms   torch {train['torch_ms']:8.1f} ms   "
              f"nnlib/torch {train['parallel_ratio']:.2f}")
    gen = bench_generation(model, tmodel, torch, args.rounds, args.new_tokens)
    for key, r in gen.items():
        label = "with KV cache" if key == "cache" else "without cache"
        print(f"generate {label}  nnlib {r['nnlib_tok_s']:6.0f} tok/s   torch {r['torch_tok_s']:6.0f} tok/s   "
              f"nnlib speed / torch {r['speed_ratio']:.2f}   (CPU time: {r['nnlib_cpu_tok_s']:.0f} vs "
              f"{r['torch_cpu_tok_s']:.0f} tok/s, {r['cpu_speed_ratio']:.2f})   same tokens: {r['same_tokens']}")
    speedup = gen["cache"]["nnlib_tok_s"] / gen["no_cache"]["nnlib_tok_s"]
    print(f"KV cache speed-up for nnlib: {speedup:.1f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"settings": info, "training": train, "generation": gen}, fh, indent=2, default=str)
    if limiter is not None:
        limiter.unregister()


if __name__ == "__main__":
    main()
