"""Chapter 00: fixtures for the browser tests (JupyterLab driven by headless Chromium).

One JupyterLab server, one Chromium and one page with JupyterLab loaded for the
whole session; each test opens its notebook in that page, and afterwards every
notebook is closed and its kernel shut down. Missing
tools (Playwright, /usr/bin/chromium, JupyterLab) skip the tests with the reason,
unless NNLIB_REQUIRE_BROWSER=1 (set by CI), where they fail instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

# Importable whatever pytest's import mode (prepend or importlib).
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from run_budget import calibrate  # noqa: E402
from browser_helpers import (  # noqa: E402
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    JupyterLabServer,
    close_all,
    copy_course,
    missing_browser_tools,
    open_lab,
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: runs notebooks in JupyterLab in headless Chromium (tests/browser)")


@pytest.fixture(scope="session")
def browser_tools():
    """Chapter 00: skip (or, under NNLIB_REQUIRE_BROWSER=1, fail) when the tools are missing."""
    reason = missing_browser_tools()
    if reason:
        if os.environ.get("NNLIB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory):
    """Chapter 00: a temporary copy of notebooks/, solutions/ (and data/) for JupyterLab to serve."""
    root = tmp_path_factory.mktemp("lab-root")
    copy_course(REPO, root)
    return root


@pytest.fixture(scope="session")
def lab_server(browser_tools, lab_root, tmp_path_factory):
    """Chapter 00: the session's JupyterLab server, stopped by its own pid at the end."""
    server = JupyterLabServer(lab_root, tmp_path_factory.mktemp("lab-server"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chromium(browser_tools):
    """Chapter 00: Debian's Chromium, launched once through Playwright."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
    except Exception as exc:
        pw.stop()
        pytest.fail(f"Playwright could not launch {CHROMIUM}: {exc}", pytrace=False)
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.fixture(scope="session")
def lab_page(chromium, lab_server):
    """Chapter 00: one page with JupyterLab loaded, shared by all notebooks (loading
    JupyterLab costs seconds; each notebook is opened and closed inside it)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        open_lab(page, lab_server)
        yield page
    finally:
        context.close()


@pytest.fixture
def page(lab_page, lab_server):
    """Chapter 00: the JupyterLab page; afterwards every notebook is closed and every
    kernel shut down, and JupyterLab is reloaded if the test left it unusable."""
    yield lab_page
    try:
        close_all(lab_page)
        healthy = True
    except Exception:
        healthy = False
    lab_server.shutdown_sessions()
    if not healthy:
        open_lab(lab_page, lab_server)


@pytest.fixture(scope="session")
def machine_speed(browser_tools):
    """Chapter 00: this machine's time for run_budget's fixed workload, measured once."""
    return calibrate()


@pytest.fixture(scope="session")
def browser_summary(machine_speed):
    """Chapter 00: collects one report per notebook; written to test-artifacts/browser/summary.json."""
    reports = []
    start = time.monotonic()
    yield reports
    if not reports:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    summary = {
        "seconds": round(time.monotonic() - start, 1),
        "calibration_s": round(machine_speed, 4),
        "notebooks": len(reports),
        "widgets": sum(r.widgets for r in reports),
        "sliders_dragged": sum(r.sliders for r in reports),
        "images": sum(r.images for r in reports),
        "failed": [r.path for r in reports if r.problems],
        "reports": [vars(r) for r in reports],
    }
    (ARTIFACTS / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
