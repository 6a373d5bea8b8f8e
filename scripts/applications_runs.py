"""Chapter 16: the shipped multi-seed runs (text classification and the recommender).

    python scripts/applications_runs.py      # writes data/checkpoints/applications_runs.json

Chapter 16 compares three text classifiers (bag of words, embedding average, the chapter-12
GPT with its last block fine-tuned) and two recommenders (matrix factorisation, NeuMF) over
3 seeds. Three seeds of each are too long for a notebook that must finish in a minute, so
this script runs them once and the chapter reads the results; the notebook trains seed 0 of
each live and checks that it lands near the shipped seed 0.

The code is the notebook's own: the script executes the solved notebook's cells that
define the data and the training functions (picked by what they define), so the two cannot
drift apart. Runs on one BLAS thread; the results depend on the BLAS kernel (recorded in the
file's metadata) in their last digits, which training amplifies a little.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402

from nnlib.environment import blas_kernels  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NOTEBOOK = os.path.join(ROOT, "solutions", "16_applications.ipynb")
OUT = os.path.join(ROOT, "data", "checkpoints", "applications_runs.json")
SEEDS = (0, 1, 2)
#: the notebook's cells to run, each named by a line it contains (in notebook order)
DEFINITIONS = ("import matplotlib.pyplot as plt", "def documents(split):", "def bag_of_words(texts):",
               "def train_embedding_average(", "def frozen_features(", "def fine_tune_gpt(",
               "def make_ratings(", "def rmse(", "class MatrixFactorization(")


def notebook_namespace() -> dict:
    """Execute the notebook's defining cells (quietly) and return their namespace."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    scope: dict = {}
    for needle in DEFINITIONS:
        [source] = [c.source for c in nb.cells if c.cell_type == "code" and needle in c.source]
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, f"<{NOTEBOOK}: {needle}>", "exec"), scope)
    return scope


def main() -> int:
    ns = notebook_namespace()
    nnlib = ns["nnlib"]
    text, recommender = [], []
    for seed in SEEDS:
        record = {"seed": seed,
                  "bag of words": ns["train_bag_of_words"](seed),
                  "embedding average": ns["train_embedding_average"](seed)[0],
                  "GPT, last block fine-tuned": ns["fine_tune_gpt"](seed)}
        print("text", record, flush=True)
        text.append(record)
        record = {"seed": seed}
        for name, cls in (("matrix factorisation", ns["MatrixFactorization"]), ("NeuMF (MF + MLP)", ns["NeuMF"])):
            nnlib.manual_seed(seed)
            score, curve = ns["train_recommender"](cls(ns["N_USERS"], ns["N_ITEMS"], mu=ns["mu"]), seed=seed)
            record[name] = {"rmse": round(score, 5), "final_training_loss": round(curve[-1], 5)}
        print("recommender", record, flush=True)
        recommender.append(record)
    result = {"metadata": {"script": "scripts/applications_runs.py", "notebook": "solutions/16_applications.ipynb",
                           "numpy": np.__version__, "python": platform.python_version(),
                           "machine": platform.machine(), "blas": blas_kernels(),
                           "threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                           "test_snippets": int(len(ns["labels_test"]))},
              "text": text, "recommender": recommender}
    tmp = OUT + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(tmp, OUT)
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
