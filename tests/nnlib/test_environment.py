"""Chapter 00: nnlib.environment reports [OK]/[FAIL] per package, and REQUIREMENTS is requirements.txt."""

import re

import numpy as np
import pytest

from nnlib import environment
from nnlib.environment import environment_report
from tests import REPO_ROOT

ROOT = REPO_ROOT


@pytest.mark.parametrize(
    "version, spec, ok",
    [
        ("2.13.0+cpu", "==2.13.0", True),
        ("2.13", "==2.13.0", True),
        ("2.13.1", "==2.13.0", False),
        ("1.24.0", ">=1.24", True),
        ("1.23.5", ">=1.24", False),
        ("2.0.0rc1", ">=2.0", True),
        ("3.1.1", ">=2.0,<3", False),
        ("10.0", ">9.9", True),
        ("1.0", "!=1.0.0", False),
    ],
)
def test_version_satisfies(version, spec, ok):
    assert environment.version_satisfies(version, spec) is ok


def test_environment_report_lines(capsys):
    ok = environment_report({"numpy": ">=1.0", "surely-not-a-real-package-xyz": ">=1.0"})
    lines = capsys.readouterr().out.splitlines()
    assert ok.passed is False
    assert re.fullmatch(r"\[OK\] Python \d+\.\d+\.\d+\S* \(needs >=3\.10\)", lines[0])
    assert lines[1] == f"[OK] numpy {np.__version__} (needs >=1.0)"
    assert lines[2] == "[FAIL] surely-not-a-real-package-xyz not installed (needs >=1.0)"
    assert environment_report({"numpy": ">=999"}).passed is False
    assert capsys.readouterr().out.splitlines()[1] == f"[FAIL] numpy {np.__version__} (needs >=999)"
    assert environment_report({"numpy": ">=1.0"}).passed is True


def read_requirements(path):
    """Package -> spec from a requirements file (options such as -e/-r skipped)."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(\S.*)?", line)
        assert match, f"cannot read {path.name} line {line!r}"
        found[match.group(1).lower()] = (match.group(2) or "").replace(" ", "")
    return found


def test_requirements_match_requirements_txt():
    assert read_requirements(ROOT / "requirements.txt") == environment.REQUIREMENTS


def test_binder_installs_the_same_packages():
    assert read_requirements(ROOT / "binder" / "requirements.txt") == environment.REQUIREMENTS


def test_blas_kernels_names_numpys_blas():
    from nnlib.environment import blas_kernels

    text = blas_kernels()
    assert text == "unknown" or "blas" in text.lower()
