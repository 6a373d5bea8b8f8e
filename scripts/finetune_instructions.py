"""Chapter 13: the shipped fine-tuning runs (full, LoRA, full + replay; 300 steps; 3 seeds).

    python scripts/finetune_instructions.py     # writes data/checkpoints/llm_finetuning_runs.json

Chapter 13 teaches instruction tuning of the chapter-12 GPT on three generated tasks
(repeat a word, upper-case it, add one to a number). Nine runs of 300 steps are too long
for a notebook that must finish in a minute, so this script runs them once and the
chapter reads their results (exact match per task on the 100 held-out questions, the
loss on the pretraining text afterwards, the response-loss curve, seconds per step).
The notebook trains the first steps of the seed-0 runs live, with the very same data,
schedule and seeds, and checks that its curve follows the shipped one.

Everything here is the notebook's code (the data, ``make_batch``, ``finetune``,
``evaluate``), seeded: seed ``s`` means ``nnlib.manual_seed(s)`` before loading the
model, LoRA's initialisation seed ``s`` and the data stream ``default_rng(s + 1)``. Runs on
one BLAS thread; results depend on the BLAS kernel (recorded in the file's metadata)
in their last digits, and a training run amplifies those: another machine gives other
scores within a few points.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import sys
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import nnlib  # noqa: E402
from nnlib import functional as F  # noqa: E402
from nnlib.datasets import data_path  # noqa: E402
from nnlib.environment import blas_kernels  # noqa: E402
from nnlib.corpus import load_corpus, sample_batch  # noqa: E402
from nnlib.gpt import GPT  # noqa: E402
from nnlib.lora import apply_lora, lora_parameters  # noqa: E402
from nnlib.optim import AdamW, warmup_cosine_lr  # noqa: E402

OUT = os.path.join(ROOT, "data", "checkpoints", "llm_finetuning_runs.json")
STEPS = 300
KINDS = ("repeat", "upper", "add one")
METHODS = {  # name: (lr, lora?, replay windows)
    "full fine-tuning": (1e-3, False, 0),
    "LoRA r=16": (5e-3, True, 0),
    "full + replay": (1e-3, False, 4),
}

BASE = data_path("checkpoints/gpt_char.nnlib")
base = GPT.load(BASE)
tok = base.tokenizer
NEWLINE = tok.encode("\n")[0]
valid_ids = tok.encode(load_corpus("valid"), return_array=True)
train_text = load_corpus("train")
train_ids = tok.encode(train_text, return_array=True)
counts = collections.Counter(re.findall(r"\b[a-z]{3,6}\b", train_text))
words = sorted(w for w, _ in counts.most_common(500))
np.random.default_rng(0).shuffle(words)
test_words, train_words = words[:40], words[40:]
test_numbers = sorted(int(n) for n in np.random.default_rng(1).choice(99, size=20, replace=False))
train_numbers = [n for n in range(99) if n not in test_numbers]


def make_task(kind, item):
    if kind == "repeat":
        return f"Repeat: {item}", item
    if kind == "upper":
        return f"Upper-case: {item}", item.upper()
    return f"Add one: {item}", str(item + 1)


def prompt_of(instruction):
    return f"Q: {instruction}\nA: "


test_set = ([("repeat",) + make_task("repeat", w) for w in test_words]
            + [("upper",) + make_task("upper", w) for w in test_words]
            + [("add one",) + make_task("add one", n) for n in test_numbers])


def sample_examples(rng, n):
    out = []
    for _ in range(n):
        kind = KINDS[rng.integers(3)]
        pool = train_numbers if kind == "add one" else train_words
        out.append(make_task(kind, pool[rng.integers(len(pool))]))
    return out


def make_batch(examples):
    seqs = [(tok.encode(prompt_of(i)), tok.encode(a + "\n")) for i, a in examples]
    width = max(len(p) + len(r) for p, r in seqs) - 1
    x = np.full((len(seqs), width), NEWLINE)
    y = np.full((len(seqs), width), -100)
    for row, (p, r) in enumerate(seqs):
        ids = p + r
        x[row, :len(ids) - 1] = ids[:-1]
        y[row, len(p) - 1:len(ids) - 1] = ids[len(p):]
    return x, y


def finetune(model, params, steps, lr, batch_size=16, seed=1, replay=0, schedule_steps=None):
    """The notebook's ``finetune``: (losses, seconds, peak MiB of the first 3 steps)."""
    schedule_steps = schedule_steps or steps
    opt = AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    model.train()
    losses, peak = [], 0
    tracemalloc.start()
    start = time.perf_counter()
    for step in range(steps):
        if step == 3:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        opt.lr = warmup_cosine_lr(step, lr, 10, schedule_steps, start_factor=0.1, eta_min=lr / 10)
        x, y = make_batch(sample_examples(rng, batch_size))
        loss = F.cross_entropy(model(x), y)
        losses.append(loss.item())
        if replay:
            text_x, text_y = sample_batch(train_ids, replay, 48, rng)
            loss = loss + F.cross_entropy(model(text_x), text_y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    return losses, seconds, peak / 2**20


def answer_all(model, instructions, max_new=10):
    prompts = [tok.encode(prompt_of(i)) for i in instructions]
    answers = [None] * len(prompts)
    by_length = collections.defaultdict(list)
    for k, p in enumerate(prompts):
        by_length[len(p)].append(k)
    for length, rows in by_length.items():
        out = model.generate(np.array([prompts[k] for k in rows]), max_new, temperature=0.0, stop_token=NEWLINE)
        for k, ids in zip(rows, out[:, length:]):
            answers[k] = tok.decode(ids.tolist()).split("\n")[0]
    return answers


def evaluate(model):
    predictions = answer_all(model, [i for _, i, _ in test_set])
    hits = np.array([p == a for p, (_, _, a) in zip(predictions, test_set)])
    kinds = np.array([k for k, _, _ in test_set])
    scores = {k: float(hits[kinds == k].mean()) for k in KINDS}
    scores["all"] = float(hits.mean())
    return scores, predictions


def run(method, seed):
    lr, use_lora, replay = METHODS[method]
    nnlib.manual_seed(seed)
    model = GPT.load(BASE)
    params = model.parameters()
    if use_lora:
        apply_lora(model, rank=16, alpha=32, targets=("q", "k", "v", "out", "mlp_in", "mlp_out"), seed=seed)
        params = lora_parameters(model)
    losses, seconds, peak = finetune(model, params, STEPS, lr, seed=seed + 1, replay=replay)
    scores, _ = evaluate(model)
    forgetting = model.evaluate_loss(valid_ids, max_windows=64)
    return {"method": method, "seed": seed, "steps": STEPS, "lr": lr, "replay_windows": replay,
            "scores": scores, "loss_on_docs": round(float(forgetting), 4),
            "losses": [round(float(v), 4) for v in losses],
            "ms_per_step": round(1000 * seconds / STEPS, 1), "peak_mib": round(peak, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    before, _ = evaluate(base)
    result = {
        "metadata": {
            "script": "scripts/finetune_instructions.py",
            "what": "instruction tuning of data/checkpoints/gpt_char.nnlib, chapter 13",
            "steps": STEPS, "batch_size": 16, "test_questions": len(test_set),
            "numpy": np.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "blas": blas_kernels(), "threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "note": "seconds per step were measured on a shared 2-core machine: only a rough guide",
        },
        "pretrained": {"scores": before, "loss_on_docs": round(float(base.evaluate_loss(valid_ids, max_windows=64)), 4)},
        "runs": [],
    }
    for seed in range(args.seeds):
        for method in METHODS:
            record = run(method, seed)
            print(f"seed {seed} {method:17} exact match {record['scores']['all']:.2f}, loss on docs "
                  f"{record['loss_on_docs']:.2f}, {record['ms_per_step']:.0f} ms/step", flush=True)
            result["runs"].append(record)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.out)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
