"""Chapter 05 (used again in 07, 08, 10 and 16): the small datasets shipped with the course.

Nothing is downloaded: the tables live in the repository's ``data/`` folder
(installed with the package as ``nnlib._data``). ``data/README.md`` says where
each file comes from and under which license.

* :func:`load_breast_cancer`: the UCI Breast Cancer Wisconsin (Diagnostic)
  table, 569 tumours x 30 measurements, label 0 = malignant, 1 = benign
  (scikit-learn's coding). The seed book's binary example (chapter 05).
* :func:`load_digits`: 1797 handwritten digits as 8x8 images with grey
  levels 0..16, label 0..9 (chapter 16).
* :func:`data_path`: the path of any shipped file, e.g. to read it with pandas::

      import pandas as pd
      df = pd.read_csv(breast_cancer_csv_path())
"""
from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import numpy as np

__all__ = [
    "data_path",
    "breast_cancer_csv_path",
    "digits_csv_path",
    "feature_names",
    "load_breast_cancer",
    "load_digits",
]

_PACKAGE = "nnlib._data"
BREAST_CANCER_CSV = "breast_cancer.csv"
DIGITS_CSV = "digits.csv"


def _from_resources(name: str) -> tuple[Path | None, str]:
    """The file from the installed package ``nnlib._data``, and a note of where that is."""
    try:
        resource = importlib.resources.files(_PACKAGE).joinpath(name)
    except (ModuleNotFoundError, TypeError, ValueError) as exc:
        return None, f"package resources of {_PACKAGE} (not available: {exc})"
    if resource.is_file() and isinstance(resource, os.PathLike):
        return Path(os.fspath(resource)), ""
    return None, f"package resources of {_PACKAGE}: {resource}"


def data_path(name: str) -> Path:
    """Chapter 05: the path of a file shipped in ``data/``, e.g. ``data_path("digits.csv")``.

    Looks in the installed package (``nnlib._data``) first, then in the
    repository's ``data/`` folder next to the ``nnlib`` folder of a source
    checkout; raises ``FileNotFoundError`` listing every place it looked.
    """
    if (not isinstance(name, str) or not name or Path(name).is_absolute()
            or ".." in Path(name).parts):
        raise ValueError(f"data_path: expected a file name inside data/, got {name!r}")
    path, note = _from_resources(name)
    if path is not None:
        return path
    looked = [note]
    here = Path(__file__).resolve().parent
    for description, folder in (("the installed package folder", here / "_data"),
                                ("the source checkout's data/ folder", here.parent / "data")):
        path = folder / name
        if path.is_file():
            return path
        looked.append(f"{description}: {path}")
    listing = "\n  ".join(looked)
    raise FileNotFoundError(
        f"data_path: the shipped file {name!r} was not found. Looked in:\n  {listing}\n"
        "Run from a full checkout of the course, or reinstall it with "
        "`python -m pip install -e .`."
    )


def breast_cancer_csv_path() -> Path:
    """Chapter 05: the path of ``breast_cancer.csv`` (30 feature columns, then ``label``)."""
    return data_path(BREAST_CANCER_CSV)


def digits_csv_path() -> Path:
    """Chapter 16: the path of ``digits.csv`` (pixel columns p0..p63, then ``label``)."""
    return data_path(DIGITS_CSV)


def _read_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return f.readline().rstrip("\r\n").split(",")


def feature_names(name: str = BREAST_CANCER_CSV) -> list[str]:
    """Chapter 05: the feature column names of a shipped table (every column but ``label``)."""
    header = _read_header(data_path(name))
    return [c for c in header if c != "label"]


def _load_table(name: str, dtype, as_frame: bool):
    """``(X, y)`` of a shipped CSV whose last column is ``label``, or one DataFrame with ``as_frame``.

    X is float64 (``dtype`` is how the file's numbers are read), y int64.
    """
    path = data_path(name)
    header = _read_header(path)
    if header[-1] != "label":
        raise ValueError(f"{path}: expected the last column to be 'label', got {header[-1]!r}")
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=dtype, ndmin=2)
    X = np.ascontiguousarray(table[:, :-1], dtype=np.float64)
    y = table[:, -1].astype(np.int64)
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame(X, columns=header[:-1])
        frame["label"] = y
        return frame
    return X, y


def load_breast_cancer(as_frame: bool = False):
    """Chapter 05: the breast-cancer table (乳腺癌数据集), 569 rows x 30 features.

    Returns ``(X, y)``: X float64 of shape (569, 30), y int64 with
    0 = malignant (212 rows) and 1 = benign (357 rows), the same numbers as
    ``sklearn.datasets.load_breast_cancer``. With ``as_frame=True`` returns one
    pandas DataFrame with the 30 named feature columns and ``label`` (pandas is
    imported only then). Column names: :func:`feature_names`.
    """
    return _load_table(BREAST_CANCER_CSV, np.float64, as_frame)


def load_digits(as_frame: bool = False):
    """Chapter 16: the 8x8 handwritten digits (手写数字), 1797 images.

    Returns ``(X, y)``: X float64 of shape (1797, 64), grey levels 0..16 in
    row-major pixel order (``X.reshape(-1, 8, 8)`` gives the images), and y
    int64 digits 0..9, the same numbers as ``sklearn.datasets.load_digits``.
    With ``as_frame=True`` returns a pandas DataFrame with columns p0..p63 and
    ``label``.
    """
    return _load_table(DIGITS_CSV, np.int64, as_frame)
