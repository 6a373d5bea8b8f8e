"""Issue 16: nnlib's modules share only public names.

A private name (``_x``) belongs to the module that defines it: no module imports one from
another. (A package may keep a private module for itself: ``nnlib.models._metrics`` is
imported by its sibling ``nnlib/models/training.py`` only.)
"""
import ast

from tests import REPO_ROOT

PACKAGE = REPO_ROOT / "nnlib"


def _private_imports():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            sibling_module = node.level == 1 and node.module is None  # "from . import _metrics"
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and not sibling_module:
                    yield f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {alias.name}"


def test_no_module_imports_another_modules_private_names():
    found = list(_private_imports())
    assert not found, "make these public (documented) or keep them in one module:\n" + "\n".join(found)


def test_no_module_is_named_like_a_function_it_exports():
    """``nnlib.tensor`` was both a module and a function; an import must mean one thing."""
    import nnlib

    modules = {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    clashes = sorted(name for name in modules if callable(getattr(nnlib, name, None))
                     and not isinstance(getattr(nnlib, name), type(nnlib)))
    assert not clashes, f"nnlib.{clashes[0]} is a function and a module's name"
