"""Tests for nnlib.datasets and the shipped data/ files (chapters 05 and 16)."""
from __future__ import annotations
from tests import REPO_ROOT

import importlib.util

import numpy as np
import pytest
import sklearn.datasets

from nnlib import datasets

REPO = REPO_ROOT


def test_breast_cancer_equals_sklearn():
    X, y = datasets.load_breast_cancer()
    ref = sklearn.datasets.load_breast_cancer()
    assert X.shape == (569, 30) and X.dtype == np.float64
    assert y.shape == (569,) and y.dtype == np.int64
    np.testing.assert_array_equal(X, ref.data)  # exact: the CSV round-trips
    np.testing.assert_array_equal(y, ref.target)
    assert np.bincount(y).tolist() == [212, 357]  # 0 malignant, 1 benign
    assert datasets.feature_names() == [str(n) for n in ref.feature_names]


def test_breast_cancer_as_frame():
    df = datasets.load_breast_cancer(as_frame=True)
    assert df.shape == (569, 31)
    assert list(df.columns[:2]) == ["mean radius", "mean texture"]
    assert df.columns[-1] == "label" and df["label"].dtype == np.int64
    X, _ = datasets.load_breast_cancer()
    np.testing.assert_array_equal(df.drop(columns="label").to_numpy(), X)


def test_digits_equals_sklearn():
    X, y = datasets.load_digits()
    ref = sklearn.datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X, ref.data)
    np.testing.assert_array_equal(y, ref.target)
    np.testing.assert_array_equal(X.reshape(-1, 8, 8), ref.images)
    df = datasets.load_digits(as_frame=True)
    assert list(df.columns) == [f"p{i}" for i in range(64)] + ["label"]


def test_paths_point_at_the_checkout_files():
    assert datasets.breast_cancer_csv_path() == datasets.data_path("breast_cancer.csv")
    assert datasets.breast_cancer_csv_path().samefile(REPO / "data" / "breast_cancer.csv")
    assert datasets.digits_csv_path().samefile(REPO / "data" / "digits.csv")


def test_missing_file_lists_where_it_looked():
    with pytest.raises(FileNotFoundError) as info:
        datasets.data_path("no_such_table.csv")
    message = str(info.value)
    assert "nnlib._data" in message
    assert str(REPO / "data" / "no_such_table.csv") in message


@pytest.mark.parametrize("name", ["", "../README.md", "/etc/passwd"])
def test_bad_names_are_rejected(name):
    with pytest.raises(ValueError, match="file name inside data/"):
        datasets.data_path(name)


def test_installed_package_resources_come_first(tmp_path, monkeypatch):
    """As from a wheel: the files live in an importable package (nnlib._data there)."""
    package = tmp_path / "fake_nnlib_data"
    package.mkdir()
    (package / "digits.csv").write_text("p0,label\n3,1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(datasets, "_PACKAGE", "fake_nnlib_data")
    assert datasets.data_path("digits.csv") == package / "digits.csv"
    X, y = datasets.load_digits()
    assert X.tolist() == [[3.0]] and y.tolist() == [1]
    # files not in the package are still found in the checkout
    assert datasets.data_path("breast_cancer.csv").samefile(REPO / "data" / "breast_cancer.csv")


def test_committed_files_are_what_the_export_script_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("export_datasets",
                                                  REPO / "scripts" / "export_datasets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    for name in ("breast_cancer.csv", "digits.csv"):
        assert (tmp_path / name).read_bytes() == (REPO / "data" / name).read_bytes(), name


def test_wheel_config_ships_data_and_every_subpackage():
    """If pyproject.toml lists packages explicitly (to map data/ to nnlib._data), none is missing."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config.get("tool", {}).get("setuptools", {}).get("packages")
    if not isinstance(packages, list):
        pytest.skip("packages are discovered automatically")
    on_disk = {".".join(p.parent.relative_to(REPO).parts)
               for p in (REPO / "nnlib").rglob("__init__.py")}
    assert on_disk <= set(packages), f"add {sorted(on_disk - set(packages))} to pyproject.toml"
    assert "nnlib._data" in packages
    assert config["tool"]["setuptools"]["package-dir"]["nnlib._data"] == "data"
