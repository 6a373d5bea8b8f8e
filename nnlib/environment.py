"""Chapter 00: the environment report, ``[OK]``/``[FAIL]`` for Python and each package the course needs.

``environment_report()`` is the first cell of chapter 00. ``REQUIREMENTS`` is the same
list as ``requirements.txt`` (and ``binder/requirements.txt``); ``tests/nnlib/test_environment.py``
keeps the three in step. Not an exercise check: those live in :mod:`nnlib.checks`.
"""

from __future__ import annotations

import platform
import re
import sys
from importlib import metadata

from .checks import Verdict

__all__ = ["REQUIREMENTS", "PYTHON_REQUIREMENT", "environment_report", "parse_version", "version_satisfies",
           "blas_kernels"]

#: What the course needs (the same as requirements.txt): distribution -> version spec.
REQUIREMENTS = {
    "numpy": ">=1.24",
    "matplotlib": ">=3.7",
    "ipywidgets": ">=8.0",
    "tqdm": ">=4.64",
    "pandas": ">=2.0",
    "jupyterlab": ">=4.0",
    "scikit-learn": ">=1.3",
    "torch": "==2.13.0",
    "safetensors": ">=0.4",
    "onnx": ">=1.15",
    "onnxruntime": ">=1.16",
    "fastapi": ">=0.110",
    "uvicorn": ">=0.30",
    "captum": ">=0.7",
    "opacus": ">=1.4",
    "transformers": ">=4.40",
    "tokenizers": ">=0.15",
}

#: The Python versions nnlib supports (as in pyproject.toml).
PYTHON_REQUIREMENT = ">=3.10"

_OPS = (">=", "<=", "==", "!=", ">", "<")


def parse_version(text: str) -> tuple[int, ...]:
    """Chapter 00: the leading numeric release of a version: '2.13.0+cpu' -> (2, 13, 0)."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
    if not match:
        raise ValueError(f"cannot read a version number from {text!r}")
    return tuple(int(part) for part in match.group(1).split("."))


def _cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    a = a + (0,) * (width - len(a))
    b = b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def version_satisfies(version: str, spec: str) -> bool:
    """Chapter 00: does ``version`` meet ``spec`` (e.g. '>=1.24', '==2.13.0', '>=1,<3')?

    Only numeric releases are compared, so local and pre-release suffixes are
    ignored ('2.13.0+cpu' satisfies '==2.13.0').
    """
    have = parse_version(version)
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        op = next((op for op in _OPS if clause.startswith(op)), None)
        if op is None:
            raise ValueError(f"unsupported version requirement {clause!r}")
        order = _cmp(have, parse_version(clause[len(op):]))
        ok = {">=": order >= 0, "<=": order <= 0, "==": order == 0,
              "!=": order != 0, ">": order > 0, "<": order < 0}[op]
        if not ok:
            return False
    return True


def environment_report(requirements=None) -> Verdict:
    """Chapter 00: print ``[OK]``/``[FAIL]`` for Python and each required package.

    ``requirements`` maps a distribution name to a version spec (default:
    REQUIREMENTS, the same as requirements.txt). Returns a Verdict, truthy if
    everything is OK (a notebook displays nothing for it).
    """
    requirements = REQUIREMENTS if requirements is None else requirements
    python = platform.python_version()
    all_ok = version_satisfies(python, PYTHON_REQUIREMENT)
    print(f"[{'OK' if all_ok else 'FAIL'}] Python {python} (needs {PYTHON_REQUIREMENT})")
    for package, spec in requirements.items():
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            print(f"[FAIL] {package} not installed (needs {spec})")
            all_ok = False
            continue
        try:
            ok = version_satisfies(version, spec)
        except ValueError:
            ok = False
        all_ok = all_ok and ok
        print(f"[{'OK' if ok else 'FAIL'}] {package} {version} (needs {spec})")
    sys.stdout.flush()
    return Verdict(all_ok)


def blas_kernels() -> str:
    """Chapter 00: the BLAS libraries loaded in this process, as "openblas 0.3.27 Haswell, ..."
    (threadpoolctl's view; "unknown" without it). A trained result depends on the kernel, so
    the scripts that ship results record it beside them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # threadpoolctl is optional (scikit-learn brings it)
        return "unknown"
    return ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                     for i in threadpool_info() if i.get("user_api") == "blas")
