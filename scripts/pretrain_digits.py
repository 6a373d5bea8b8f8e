"""Chapter 10: pretrain the small digits MLP that the fine-tuning chapter starts from.

    python scripts/pretrain_digits.py            # writes data/checkpoints/digits_0to4.nnlib
    python scripts/pretrain_digits.py --check    # retrain in memory, compare with the shipped file

The source task (源任务) is the 8x8 digits 0-4 of ``nnlib.datasets.load_digits``;
chapter 10 transfers the model to digits 5-9 (the target task, 目标任务). The
recipe is seeded and runs on one BLAS thread, so on one machine (same NumPy and
OpenBLAS build) it gives the same weights bit for bit; another BLAS kernel may
change the last digits. ``source_split()`` and ``target_split()`` are the splits
the chapter and the tests use (they do not depend on the BLAS at all).

The model (layer names fixed, so the chapter can refer to them)::

    hidden1  Dense(128, relu)      <- input 64 pixels / 16
    bn1      BatchNormalization
    hidden2  Dense(64, relu)
    dropout  Dropout(0.2)
    head     Dense(5, softmax)     <- one unit per source digit 0-4
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import nnlib  # noqa: E402
from nnlib.data import train_test_split  # noqa: E402
from nnlib.datasets import load_digits  # noqa: E402
from nnlib.layers import BatchNormalization, Dense, Dropout  # noqa: E402
from nnlib.saving.archive import load_archive  # noqa: E402
from nnlib.models import Sequential, load_model, save_model  # noqa: E402

CHECKPOINT = os.path.join(ROOT, "data", "checkpoints", "digits_0to4.nnlib")
SEED = 0
EPOCHS = 30
BATCH = 32
#: every kernel tried gives at least this test accuracy on digits 0-4 (SkylakeX 0.996, Haswell 0.978)
MIN_ACCURACY = 0.97


def blas_build() -> dict:
    """The BLAS that NumPy runs here: library, version and kernel (what bit-identity depends on)."""
    from threadpoolctl import threadpool_info  # scikit-learn's dependency; the script only

    blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    # SciPy (imported by scikit-learn) brings an OpenBLAS of its own: NumPy's is the one that trains
    blas.sort(key=lambda info: "numpy" not in os.path.basename(os.path.dirname(info.get("filepath") or "")))
    if not blas:
        return {"numpy": np.__version__, "library": None, "version": None, "kernel": None}
    info = blas[0]
    return {"numpy": np.__version__, "library": info.get("internal_api"), "version": info.get("version"),
            "kernel": info.get("architecture")}


def _scaled(lo: int, hi: int):
    X, y = load_digits()
    keep = (y >= lo) & (y <= hi)
    return (X[keep] / 16.0).astype(np.float32), (y[keep] - lo).astype(np.int64)


def source_split():
    """Digits 0-4 (labels 0..4): ``(X_train, X_test, y_train, y_test)``, 75/25, stratified, seed 0."""
    X, y = _scaled(0, 4)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def target_split():
    """Digits 5-9 relabelled 0..4 (label = digit - 5): ``(X_pool, X_test, y_pool, y_test)``, 50/50, seed 0.

    The chapter draws its few labelled examples per class from the pool and
    scores on the test half.
    """
    X, y = _scaled(5, 9)
    return train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)


def build_model() -> Sequential:
    """The architecture above, with fresh weights from nnlib's global generator."""
    return Sequential([
        Dense(128, activation="relu", input_shape=(64,), name="hidden1"),
        BatchNormalization(name="bn1"),
        Dense(64, activation="relu", name="hidden2"),
        Dropout(0.2, name="dropout"),
        Dense(5, activation="softmax", name="head"),
    ], name="digits_0to4")


def pretrain() -> tuple:
    """Train the source model from seed 0; returns ``(model, test_accuracy)``."""
    nnlib.manual_seed(SEED)
    X_train, X_test, y_train, y_test = source_split()
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    _, acc = model.evaluate(X_test, y_test, verbose=0)
    return model, float(acc)


def trained_with(path: str = CHECKPOINT):
    """The BLAS build recorded in a checkpoint's metadata (None for a file without one)."""
    return load_archive(path).metadata.get("trained_with")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=CHECKPOINT)
    parser.add_argument("--check", action="store_true",
                        help="retrain and compare the weights with the file at --out instead of writing it")
    args = parser.parse_args(argv)
    model, acc = pretrain()
    here = blas_build()
    print(f"test accuracy on digits 0-4: {acc:.4f} (BLAS: {here})")
    if args.check:
        shipped = load_model(args.out)
        recorded = trained_with(args.out)
        if recorded == here:
            same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), shipped.get_weights()))
            print("weights identical to the shipped file" if same else
                  "weights DIFFER from the shipped file under the BLAS it was trained with")
            return 0 if same else 1
        ok = acc >= MIN_ACCURACY
        print(f"trained with {recorded}, so only the behaviour is comparable here: accuracy "
              f"{acc:.4f} {'>=' if ok else '<'} {MIN_ACCURACY}")
        return 0 if ok else 1
    save_model(model, args.out, include_optimizer=False, metadata={"trained_with": here})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
