"""Chapter 12: pretrain the course's reference GPT on the shipped corpus (character level).

Deterministic: the same seed, steps and batch size give the same weights (on the same
NumPy/BLAS build). It reads data/corpus/{train,valid}.txt, trains a character-level GPT
with AdamW (warmup + cosine learning rate, gradient clipping), evaluates it on the
validation split against the unigram and bigram baselines (same tokenizer, same
split), and writes

    data/checkpoints/gpt_char.nnlib      the model, its tokenizer and the training figures
    data/checkpoints/pretrain_log.json   the loss curve and every figure in the README
    data/checkpoints/README.md           config, steps, time, losses, baselines, samples

Run:               python scripts/pretrain_gpt.py --threads 1
                   (the shipped run: 9.3 minutes on one core of a 2-core machine; a second
                   run gave bit-identical weights)
Faster, 2 cores:   python scripts/pretrain_gpt.py --workers 2 --out /tmp/gpt.nnlib
                   (the batch split over two threads; the same model up to float rounding,
                   not bit-identical to the shipped one)
Smoke test:        python scripts/pretrain_gpt.py --steps 5 --out /tmp/gpt.nnlib --no-readme
Rewrite README.md: python scripts/pretrain_gpt.py --readme-only
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

import nnlib  # noqa: E402
import nnlib.memory  # noqa: E402
from nnlib.corpus import load_corpus, sample_batch  # noqa: E402
from nnlib.gpt import GPT, GPTConfig  # noqa: E402
from nnlib.ngram import ngram_baselines  # noqa: E402
from nnlib.optim import AdamW, clip_grad_norm, warmup_cosine_lr  # noqa: E402
from nnlib.parallel import parallel_backward  # noqa: E402
from nnlib.text import CharTokenizer  # noqa: E402

PROMPTS = ["The ", "A list is", "def ", "The return value", "Exceptions"]


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
        return ", ".join(f"{p['internal_api']} {p['num_threads']} threads" for p in threadpool_info())
    except ImportError:
        return "threadpoolctl not installed"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=2e-4)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-windows", type=int, default=64, help="validation windows for the periodic evaluations")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--out", default=str(ROOT / "data" / "checkpoints" / "gpt_char.nnlib"))
    ap.add_argument("--workers", type=int, default=1,
                    help="split each batch over this many threads (nnlib.parallel); 1 = the reference run")
    ap.add_argument("--threads", type=int, default=0, help="BLAS threads (0: NumPy's default)")
    ap.add_argument("--no-readme", action="store_true", help="do not write README.md / pretrain_log.json")
    ap.add_argument("--readme-only", action="store_true",
                    help="only rewrite README.md from the checkpoint and pretrain_log.json next to it")
    args = ap.parse_args(argv)
    nnlib.memory.tune_allocator()  # opt in to malloc reuse (about a fifth of a step, see nnlib/memory.py)
    if args.readme_only:
        out = Path(args.out)
        with open(out.parent / "pretrain_log.json") as fh:
            log = json.load(fh)
        model = GPT.load(out)
        write_readme(out, model.config, {k: model.metadata[k] for k in ("training", "evaluation")},
                     log["history"], log["samples"])
        print(f"rewrote {out.parent / 'README.md'}")
        return

    if args.threads:
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(limits=args.threads)
        except ImportError:
            print("threadpoolctl is not installed; set OPENBLAS_NUM_THREADS instead")

    train_text, valid_text = load_corpus("train"), load_corpus("valid")
    tok = CharTokenizer.train(train_text)
    train = tok.encode(train_text, return_array=True)
    valid = tok.encode(valid_text, return_array=True)
    base = dict(ngram_baselines(train, valid, tok.vocab_size, alpha=1.0), smoothing="add-1")
    print(f"corpus: {train.size:,} train / {valid.size:,} valid characters, vocabulary {tok.vocab_size}")
    print(f"baselines on valid (nats/char): uniform {base['uniform']:.4f}, unigram {base['unigram']:.4f}, "
          f"bigram {base['bigram']:.4f}")

    nnlib.manual_seed(args.seed)
    config = GPTConfig(vocab_size=tok.vocab_size, context_length=args.context, d_model=args.d_model,
                       n_heads=args.heads, n_layers=args.layers, dropout=args.dropout, tie_weights=True)
    model = GPT(config)
    model.tokenizer = tok
    print(f"{model}\nBLAS: {blas_threads()}", flush=True)
    opt = AdamW(model.optimizer_groups(args.weight_decay), lr=args.lr, betas=(0.9, 0.99))
    rng = np.random.default_rng(args.seed)

    history = {"step": [], "train_loss": [], "lr": [], "eval_step": [], "val_loss": []}
    start, cpu_start = time.perf_counter(), time.process_time()
    running = None
    model.train()
    for step in range(1, args.steps + 1):
        lr = warmup_cosine_lr(step - 1, args.lr, args.warmup, args.steps, start_factor=0.1, eta_min=args.min_lr)
        opt.lr = lr
        x, y = sample_batch(train, args.batch_size, args.context, rng)
        opt.zero_grad()
        if args.workers > 1:  # the batch split over threads (nnlib.parallel), one BLAS thread each
            value = parallel_backward(model.loss, x, y, workers=args.workers)
        else:
            loss = model.loss(x, y)
            loss.backward()
            value = loss.item()
        clip_grad_norm(model.parameters(), args.clip)
        opt.step()
        running = value if running is None else 0.95 * running + 0.05 * value
        if step % args.log_every == 0 or step == 1:
            history["step"].append(step)
            history["train_loss"].append(round(running, 4))
            history["lr"].append(lr)
            elapsed = time.perf_counter() - start
            print(f"step {step:5d}  loss {running:.4f}  lr {lr:.2e}  {elapsed:7.1f}s  "
                  f"({elapsed / step * 1000:.0f} ms/step)", flush=True)
        if step % args.eval_every == 0 and step < args.steps:
            val = model.evaluate_loss(valid, batch_size=32, max_windows=args.eval_windows)
            history["eval_step"].append(step)
            history["val_loss"].append(round(val, 4))
            print(f"step {step:5d}  val loss (first {args.eval_windows} windows) {val:.4f}", flush=True)
            model.train()
    train_seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start

    t0 = time.perf_counter()
    val_loss = model.evaluate_loss(valid, batch_size=32)
    eval_seconds = time.perf_counter() - t0
    samples = {p: model.generate_text(p, 300, temperature=0.8, top_k=20, seed=i)
               for i, p in enumerate(PROMPTS)}
    print(f"\nvalidation loss {val_loss:.4f} nats/char (perplexity {math.exp(val_loss):.2f}); bigram "
          f"{base['bigram']:.4f}, unigram {base['unigram']:.4f}; trained in {train_seconds / 60:.1f} min")
    for p, text in samples.items():
        print(f"--- {p!r}\n{text}")

    metadata = {
        "training": {
            "corpus": "data/corpus/train.txt (Python documentation, PSF license)",
            "tokenizer": "CharTokenizer.train(train text)",
            "steps": args.steps, "batch_size": args.batch_size,
            "tokens_seen": args.steps * args.batch_size * args.context,
            "optimizer": f"AdamW(lr={args.lr}, betas=(0.9, 0.99), weight_decay={args.weight_decay}, "
                         f"no decay on biases/LayerNorm/embeddings)",
            "schedule": f"warmup {args.warmup} steps from lr/10, cosine to {args.min_lr}",
            "grad_clip": args.clip, "seed": args.seed, "train_seconds": round(train_seconds, 1),
            "train_cpu_seconds": round(cpu_seconds, 1),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {blas_threads()}",
            "command": "python scripts/pretrain_gpt.py " + " ".join(sys.argv[1:] if argv is None else argv),
        },
        "evaluation": {"val_loss": round(val_loss, 4), "val_perplexity": round(math.exp(val_loss), 3),
                       "baselines": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in base.items()},
                       "val_characters": int(valid.size)},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out, metadata=metadata)
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB)")
    if not args.no_readme:
        log = {"args": vars(args), "metadata": metadata, "history": history, "samples": samples,
               "eval_seconds": round(eval_seconds, 1)}
        with open(out.parent / "pretrain_log.json", "w") as fh:
            json.dump(log, fh, indent=1)
        write_readme(out, config, metadata, history, samples)


def write_readme(path: Path, config: GPTConfig, metadata: dict, history: dict, samples: dict) -> None:
    """Describe the checkpoint next to it (data/checkpoints/README.md)."""
    t, e = metadata["training"], metadata["evaluation"]
    b = e["baselines"]
    curve = "\n".join(f"| {s} | {v:.4f} |" for s, v in zip(history["eval_step"], history["val_loss"]))
    sample_text = "\n\n".join(
        f"Prompt `{p!r}` (temperature 0.8, top-k 20, seed {i}):\n\n```\n"
        + "\n".join(line.rstrip() for line in s.rstrip().splitlines()) + "\n```"
        for i, (p, s) in enumerate(samples.items()))
    text = f"""# Pretrained checkpoints (Chapters 12-13)

## `{path.name}`: the course's reference character-level GPT

Written by `{t['command']}`. Training is seeded and deterministic: running the
command again on the same NumPy/OpenBLAS build gives the same loss at every logged step
(`pretrain_log.json` keeps them); another BLAS or CPU can change the last digits. Load it with

    from nnlib.gpt import GPT
    model = GPT.load("data/checkpoints/{path.name}")      # model.tokenizer is its CharTokenizer
    print(model.generate_text("The ", 200, temperature=0.8, top_k=20, seed=0))

| | |
|---|---|
| architecture | GPT-2 style: pre-LayerNorm blocks, GELU MLP (4x), learned positions, tied embeddings |
| config | vocab_size={config.vocab_size}, context_length={config.context_length}, d_model={config.d_model}, n_heads={config.n_heads}, n_layers={config.n_layers}, dropout={config.dropout} |
| parameters | {GPT(config).num_parameters():,} |
| tokenizer | character level, {config.vocab_size} characters (`CharTokenizer.train` on train.txt) |
| data | `data/corpus/train.txt` (Python's documentation, PSF license; see `data/corpus/README.md`) |
| training | {t['steps']} steps x batch {t['batch_size']} x {config.context_length} characters = {t['tokens_seen']:,} characters (~{t['tokens_seen'] / 1157410:.1f} epochs) |
| optimizer | {t['optimizer']}; {t['schedule']}; gradient norm clipped at {t['grad_clip']} |
| time | {t['train_seconds'] / 60:.1f} minutes wall clock ({t.get('train_cpu_seconds', float('nan')) / 60:.1f} minutes of CPU time) on {t['machine']}, shared with other jobs |
| file size | {path.stat().st_size / 1e6:.2f} MB |

## Validation loss against the baselines

Cross-entropy in nats per character on all of `data/corpus/valid.txt` ({e['val_characters']:,} characters),
same tokenizer; the n-gram models are fit on train.txt with {b['smoothing']} smoothing.

| model | val loss (nats/char) | perplexity |
|---|---|---|
| uniform over {config.vocab_size} characters | {b['uniform']:.4f} | {math.exp(b['uniform']):.2f} |
| unigram | {b['unigram']:.4f} | {math.exp(b['unigram']):.2f} |
| bigram | {b['bigram']:.4f} | {math.exp(b['bigram']):.2f} |
| **this GPT** | **{e['val_loss']:.4f}** | **{e['val_perplexity']:.2f}** |

Validation loss during training (first windows of valid.txt only):

| step | val loss |
|---|---|
{curve}

## Samples

{sample_text}
"""
    with open(path.parent / "README.md", "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
