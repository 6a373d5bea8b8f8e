"""Write the course's small tables into data/ (Chapters 05 and 16).

The two tables come from scikit-learn, which ships them inside its package,
so nothing is downloaded:

* data/breast_cancer.csv: UCI Breast Cancer Wisconsin (Diagnostic), 569 rows,
  30 feature columns named as scikit-learn names them, then ``label``
  (0 = malignant, 1 = benign, scikit-learn's coding).
* data/digits.csv: UCI Optical Recognition of Handwritten Digits (the 8x8
  version), 1797 rows, pixel columns ``p0`` .. ``p63`` (integers 0..16), then
  ``label`` (the digit 0..9).

Run from anywhere (scikit-learn is needed only here, never by nnlib):

    python scripts/export_datasets.py

The script checks that reading each file back gives exactly the arrays
scikit-learn holds, so the committed files can be trusted to round-trip.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def _format_float(value: float) -> str:
    """Shortest decimal text that reads back as the same float64 (no exponent)."""
    return np.format_float_positional(value, unique=True, trim="-")


def _write_csv(path: Path, header: list[str], columns: list[list[str]]) -> None:
    """Write rows of already formatted text with a header line and '\\n' endings."""
    lines = [",".join(header)]
    lines.extend(",".join(row) for row in columns)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def export_breast_cancer(out_dir: Path) -> Path:
    """Chapter 05: write breast_cancer.csv and check that it round-trips exactly."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    names = [str(n) for n in bunch.feature_names]
    if any("," in n for n in names):
        raise RuntimeError("a feature name contains a comma; the CSV would break")
    rows = [[_format_float(v) for v in x_row] + [str(int(t))] for x_row, t in zip(X, y)]
    path = out_dir / "breast_cancer.csv"
    _write_csv(path, names + ["label"], rows)

    back = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    if not (np.array_equal(back[:, :-1], X) and np.array_equal(back[:, -1].astype(np.int64), y)):
        raise RuntimeError(f"{path} does not read back to scikit-learn's arrays")
    return path


def export_digits(out_dir: Path) -> Path:
    """Chapter 16: write digits.csv (integer pixels) and check that it round-trips exactly."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = np.asarray(bunch.data)
    if not np.array_equal(X, np.round(X)):
        raise RuntimeError("digits pixels are expected to be whole numbers")
    Xi = X.astype(np.int64)
    y = np.asarray(bunch.target, dtype=np.int64)
    header = [f"p{i}" for i in range(Xi.shape[1])] + ["label"]
    rows = [[str(v) for v in x_row] + [str(int(t))] for x_row, t in zip(Xi.tolist(), y)]
    path = out_dir / "digits.csv"
    _write_csv(path, header, rows)

    back = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64)
    if not (np.array_equal(back[:, :-1], Xi) and np.array_equal(back[:, -1], y)):
        raise RuntimeError(f"{path} does not read back to scikit-learn's arrays")
    return path


def main(argv: list[str] | None = None) -> int:
    """Chapters 05 and 16: export both tables into --out (default: data/)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "data",
                        help="folder to write into (default: the repository's data/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for export in (export_breast_cancer, export_digits):
        path = export(args.out)
        n_rows = sum(1 for _ in path.open(encoding="utf-8")) - 1
        print(f"wrote {path} ({n_rows} rows, {path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
