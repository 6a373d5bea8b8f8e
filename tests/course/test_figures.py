"""Chapter 00 (course infrastructure): the diagrams in figures/ that the notebooks show.

Notebooks link them from Markdown as ``../figures/NAME.svg`` (the same path works from
solutions/ and notebooks/). Every link must point at a file that exists, every file must
be shown somewhere, and every SVG must be well-formed XML with a size, so JupyterLab
draws it instead of a broken-image icon.
"""
from __future__ import annotations
from tests import REPO_ROOT

import json
import re
import xml.etree.ElementTree as ET

import pytest

ROOT = REPO_ROOT
FIGURES = ROOT / "figures"
LINK = re.compile(r"\]\(\.\./figures/([^)\s]+)\)|src=[\"']\.\./figures/([^\"']+)[\"']")


def _links(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        for match in LINK.finditer(text):
            found.setdefault(match.group(1) or match.group(2), set()).add(path.name)
    return found


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_every_linked_figure_exists(folder):
    missing = {name: sorted(where) for name, where in _links(folder).items() if not (FIGURES / name).is_file()}
    assert not missing, f"{folder}/ links figures that do not exist in figures/: {missing}"


def test_every_figure_is_shown_by_a_notebook():
    shown = set(_links("solutions"))
    unused = sorted(p.name for p in FIGURES.glob("*") if p.is_file() and p.name not in shown)
    assert not unused, f"figures/ holds files no solved notebook links: {unused}"


@pytest.mark.parametrize("svg", sorted(FIGURES.glob("*.svg")), ids=lambda p: p.name)
def test_svg_is_well_formed_and_sized(svg):
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg"), f"{svg.name}: the root element is {root.tag}, not <svg>"
    assert root.get("viewBox") or (root.get("width") and root.get("height")), \
        f"{svg.name}: needs a viewBox (or width and height) to be drawn at a sensible size"
    assert svg.stat().st_size < 200_000, f"{svg.name}: keep diagrams small (hand-drawn SVG)"
