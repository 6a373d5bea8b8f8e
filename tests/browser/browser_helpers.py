"""Chapter 00: helpers that drive the course's notebooks in JupyterLab in a real browser.

The course promises that a learner can open JupyterLab, press "Run All Cells" and
see every notebook work: no tracebacks (except the exercise stubs of notebooks/,
which raise NotImplementedError until the learner fills them in), sliders that
move and redraw what they drive, and plots drawn as images. nbval proves the
cells run in a kernel; these helpers prove the same notebooks work in the page a
learner looks at.

Two pieces live here:

- ``JupyterLabServer`` starts ``python -m jupyter lab`` on 127.0.0.1 with a
  random token on a free port, in a temporary root directory, and stops it (and
  every kernel it started) by its own process id.
- ``NotebookSession`` opens one notebook in a Playwright page, runs it through the
  Run menu, waits for every cell, and reports problems as plain sentences.

Everything the browser is asked is collected by one JavaScript function
(``COLLECT_JS``); the verdicts are made in Python so the messages can say which
cell, which output and what was expected.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

#: The repository's root, and where screenshots and the summary go.
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"

#: Chromium from the operating system's packages (Debian: ``chromium``).
CHROMIUM = os.environ.get("NNLIB_CHROMIUM", "/usr/bin/chromium")

#: Flags for a headless Chromium running as root with no network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]

#: Seconds one notebook may take from "Run All Cells" to its last cell when no budget
#: is given (the self-tests); the course's notebooks get theirs from run_budget.py.
RUN_TIMEOUT = float(os.environ.get("NNLIB_BROWSER_TIMEOUT", "120"))

#: Seconds a dragged slider may take to change the output it drives.
SLIDER_TIMEOUT = float(os.environ.get("NNLIB_BROWSER_SLIDER_TIMEOUT", "15"))

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# JupyterLab user settings for the test server: no news or update checks (no
# network), start the notebook's kernel without asking, and render every cell
# (windowing off) so that the whole notebook is in the page.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "autoStartDefaultKernel": True,
        "windowingMode": "none",
    },
}


def free_port() -> int:
    """Chapter 00: a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_browser_tools() -> str | None:
    """Chapter 00: why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("the Python package 'playwright' is not installed "
                "(run: bash scripts/install_browser.sh)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"Chromium not found at {CHROMIUM} "
                "(run: bash scripts/install_browser.sh, or set NNLIB_CHROMIUM)")
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "JupyterLab is not installed (pip install -r requirements.txt)"
    return None


class JupyterLabServer:
    """Chapter 00: one JupyterLab server on 127.0.0.1 for a whole test session.

    ``root`` is the directory it serves (a temporary copy of the course's
    notebooks), ``workdir`` a scratch directory for its settings, runtime files
    and log. Use ``start()`` and always ``stop()`` (a ``try/finally`` or a
    fixture); ``stop()`` is safe to call twice.
    """

    def __init__(self, root: Path, workdir: Path):
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "jupyterlab.log"
        self.runtime_dir = self.workdir / "runtime"

    @property
    def url(self) -> str:
        """Chapter 00: the server's base URL, without the token."""
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self) -> str:
        """Chapter 00: the URL of JupyterLab itself, with a fresh workspace and the token."""
        return f"{self.url}/lab?reset&token={self.token}"

    def _environment(self) -> dict:
        settings = self.workdir / "settings"
        for name, values in LAB_SETTINGS.items():
            target = settings / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))
        for sub in ("workspaces", "config", "runtime"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # A non-inline backend (MPLBACKEND=Agg, handy for nbval) would stop
        # plt.show() from drawing images in the page.
        env.pop("MPLBACKEND", None)
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(self.workdir / "workspaces"),
            JUPYTER_CONFIG_DIR=str(self.workdir / "config"),
            JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
        )
        return env

    def start(self, timeout: float = 90.0) -> None:
        """Chapter 00: start the server and wait until ``/api/status`` answers."""
        cmd = [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
        ]
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.root, env=self._environment(), start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {self.proc.returncode} before it "
                    f"answered; last lines of {self.log_path}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"JupyterLab did not answer on {self.url}/api/status within {timeout:.0f} s; "
            f"last lines of {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """Chapter 00: the last lines of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def api(self, method: str, path: str, timeout: float = 10.0):
        """Chapter 00: call the server's REST API; returns the decoded JSON (or None)."""
        request = urllib.request.Request(
            self.url + path, method=method,
            headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        """Chapter 00: close every notebook session and kernel the server holds."""
        for session in self.api("GET", "/api/sessions"):
            try:
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
            except urllib.error.HTTPError:
                pass
        for kernel in self.api("GET", "/api/kernels"):
            try:
                self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)
            except urllib.error.HTTPError:
                pass

    def _our_kernel_pids(self) -> list[int]:
        """Kernels started by this server: their command line names our runtime dir."""
        marker = str(self.runtime_dir).encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and b"kernel" in cmdline:
                pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        """Chapter 00: stop the server by its own process group, kernels included."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            try:
                self.shutdown_sessions()
            except Exception:  # the server may already be unwell; carry on stopping it
                pass
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        # Kernels run in sessions of their own; end any that outlived the server.
        if Path("/proc").is_dir():
            for pid in self._our_kernel_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def copy_course(repo: Path, dest: Path, dirs=("notebooks", "solutions")) -> list[str]:
    """Chapter 00: copy the notebook folders (and data/, if any) into ``dest``.

    The browser runs the copies, so the repository's notebooks are never
    modified (JupyterLab autosaves). Returns the notebooks' paths relative to
    ``dest``, e.g. ``"solutions/00_setup.ipynb"``.
    """
    found = []
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for name in list(dirs) + ["data"]:
        src = repo / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore, dirs_exist_ok=True)
    for name in dirs:
        for nb in sorted((dest / name).glob("*.ipynb")):
            found.append(f"{name}/{nb.name}")
    return found


def course_notebooks(repo: Path, dirs=("notebooks",)) -> list[str]:
    """Chapter 00: the notebooks the browser test checks, e.g. ``"notebooks/01_neuron.ipynb"``.

    The learner copies, as a learner opens them. The solved notebooks are not run here:
    strict nbval runs them (every output compared), and their widgets, plots and cells
    are the learner copies' (only the exercise bodies differ).
    """
    return [f"{d}/{p.name}" for d in dirs for p in sorted((repo / d).glob("*.ipynb"))]


# --------------------------------------------------------------------------
# What the page is asked.  One function returns everything about the open
# notebook: the kernel's state and, per code cell, its prompt, model outputs
# (with error names), whether each widget output rendered, stderr texts shown
# anywhere in the cell (widget Output areas included) and its images.

# Open a notebook in the running JupyterLab (as a double-click in the file
# browser does) and remember its panel; the other functions look at that panel.
OPEN_JS = """
async (path) => {
  const app = window.jupyterapp;
  const panel = await app.commands.execute('docmanager:open', {path: path, factory: 'Notebook'});
  window.__nnlibPanel = panel;
  app.shell.activateById(panel.id);
  await panel.context.ready;
  return panel.id;
}
"""

# Close every document without saving (the files are temporary copies anyway).
CLOSE_ALL_JS = """
() => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return -1;
  document.querySelectorAll('.jp-Dialog .jp-mod-reject').forEach(b => b.click());
  const open = Array.from(app.shell.widgets('main'));
  for (const w of open) {
    if (w.context && w.context.model) w.context.model.dirty = false;
    w.dispose();
  }
  window.__nnlibPanel = null;
  return open.length;
}
"""

LAB_READY_JS = """
async () => {
  const app = window.jupyterapp;
  if (!app) return false;
  await app.restored;
  return !!document.querySelector('.lm-MenuBar');
}
"""

KERNEL_JS = """
() => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return 'no-app';
  const panel = window.__nnlibPanel;
  if (!panel || !panel.sessionContext) return 'no-notebook';
  const dialog = document.querySelector('.jp-Dialog');
  if (dialog) return 'dialog';
  const session = panel.sessionContext.session;
  if (!session || !session.kernel) return 'no-kernel';
  return session.kernel.status;
}
"""

COLLECT_JS = """
() => {
  const panel = window.__nnlibPanel;
  const nb = panel.content;
  const session = panel.sessionContext.session;
  const cells = [];
  nb.widgets.forEach((cell, index) => {
    const m = cell.model;
    if (m.type !== 'code') return;
    const promptNode = cell.node.querySelector('.jp-InputArea-prompt');
    const info = {
      index: index,
      source: m.sharedModel.getSource(),
      tags: m.getMetadata('tags') || [],
      executionCount: m.executionCount,
      prompt: promptNode ? promptNode.textContent.trim() : '',
      outputs: [],
      stderr: [],
      images: 0,
      brokenImages: 0,
      widgetsInDom: cell.node.querySelectorAll('.jupyter-widgets').length,
    };
    const children = cell.outputArea ? cell.outputArea.widgets : [];
    for (let j = 0; j < m.outputs.length; j++) {
      const o = m.outputs.get(j).toJSON();
      const child = children[j];
      const node = child ? child.node : null;
      const isWidget = !!(o.data && o.data['""" + WIDGET_MIME + """']);
      let rendered = false;
      if (isWidget && node) {
        const text = node.textContent || '';
        rendered = !!node.querySelector('.jupyter-widgets')
          && !text.includes('Error displaying widget')
          && !text.includes('Loading widget');
      }
      info.outputs.push({
        type: o.output_type, ename: o.ename || null, evalue: o.evalue || null,
        widget: isWidget, widgetRendered: rendered,
        text: node ? (node.textContent || '').slice(0, 300) : '',
      });
    }
    cell.node.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    ).forEach(e => info.stderr.push((e.textContent || '').slice(-4000)));
    cell.node.querySelectorAll('.jp-RenderedImage img').forEach(img => {
      info.images += 1;
      if (!img.complete || img.naturalWidth === 0) info.brokenImages += 1;
    });
    cells.push(info);
  });
  return {
    kernel: session && session.kernel ? session.kernel.status : null,
    cells: cells,
  };
}
"""

# Text and images of every output, with the sliders themselves left out, so that
# moving a slider only changes this when something the slider drives changes.
SNAPSHOT_JS = """
() => {
  const parts = [];
  const hash = s => { let h = 0; for (let i = 0; i < s.length; i++) { h = (h * 31 + s.charCodeAt(i)) | 0; } return h; };
  document.querySelectorAll('.jp-Notebook .jp-Cell-outputArea > .jp-OutputArea-child').forEach(o => {
    const copy = o.cloneNode(true);
    copy.querySelectorAll('.widget-slider').forEach(e => e.remove());
    parts.push(copy.textContent);
    copy.querySelectorAll('img').forEach(i => parts.push('img:' + i.src.length + ':' + hash(i.src)));
  });
  return parts.join('\\u0001');
}
"""

# Scroll the notebook to its top; return how much taller than its box it is.
NOTEBOOK_TOP_JS = """
() => {
  const outer = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')
             || document.querySelector('.jp-NotebookPanel .jp-Notebook');
  if (!outer) return 0;
  outer.scrollTop = 0;
  return Math.max(0, outer.scrollHeight - outer.clientHeight);
}
"""

SCROLL_TO_FIRST_VISUAL_JS = """
() => {
  const first = document.querySelector('.jp-Notebook .jupyter-widgets')
             || document.querySelector('.jp-Notebook .jp-RenderedImage');
  if (first) first.scrollIntoView({block: 'center'});
  return !!first;
}
"""

_TRACEBACK_HEAD = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\s+Traceback \(most recent call last\)", re.M)
_ERROR_LINE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::|$)", re.M)


def error_name(stderr_text: str) -> str | None:
    """Chapter 00: the exception name if a stderr output shows a traceback, else None.

    Matches IPython's traceback header (``NameError    Traceback (most recent call last)``),
    a plain Python traceback, or a final ``SomethingError: message`` line (a
    SyntaxError has no "Traceback" header). Warnings and progress bars are not errors.
    """
    head = _TRACEBACK_HEAD.search(stderr_text)
    if head:
        return head.group("name").rsplit(".", 1)[-1]
    lines = _ERROR_LINE.findall(stderr_text)
    if lines:
        return lines[-1].rsplit(".", 1)[-1]
    if "Traceback (most recent call last)" in stderr_text:
        return "UnknownError"
    return None


def _short(source: str, width: int = 70) -> str:
    first = next((line for line in source.splitlines() if line.strip()), "")
    return first if len(first) <= width else first[: width - 3] + "..."


def uses_widgets(source: str) -> bool:
    """Chapter 00: whether a cell's source creates ipywidgets controls."""
    return bool(re.search(r"\bipywidgets\b|\bwidgets\.\w+\(|\binteract(?:ive)?(?:_manual)?\(", source))


def open_lab(page, server: JupyterLabServer, timeout: float = 120.0) -> None:
    """Chapter 00: load JupyterLab in ``page`` and wait until it has restored its layout."""
    page.goto(server.lab_url(), wait_until="domcontentloaded", timeout=timeout * 1000)
    page.wait_for_function("() => !!window.jupyterapp", timeout=timeout * 1000)
    if not page.evaluate(LAB_READY_JS):
        raise RuntimeError("JupyterLab loaded without its menu bar")
    page.evaluate(CLOSE_ALL_JS)  # the Launcher tab


def close_all(page) -> None:
    """Chapter 00: close every open document in the JupyterLab page, unsaved."""
    page.evaluate(CLOSE_ALL_JS)


@dataclass
class NotebookReport:
    """Chapter 00: what one notebook did in the browser (numbers for the test report)."""

    path: str
    seconds: float = 0.0
    code_cells: int = 0
    widgets: int = 0
    sliders: int = 0
    images: int = 0
    plt_show_cells: int = 0
    screenshot: str = ""
    phases: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class NotebookSession:
    """Chapter 00: one notebook open in one Playwright page.

    ``allow_not_implemented`` is True for notebooks/ (the learner's version,
    whose exercise stubs raise NotImplementedError) and False for solutions/.
    """

    def __init__(self, page, server: JupyterLabServer, path: str, allow_not_implemented: bool):
        self.page = page
        self.server = server
        self.path = path
        self.allow_not_implemented = allow_not_implemented
        self.report = NotebookReport(path)

    # -- driving -----------------------------------------------------------

    def open(self, timeout: float = 90.0) -> None:
        """Chapter 00: open the notebook in the JupyterLab page and wait for an idle kernel."""
        page = self.page
        t0 = time.monotonic()
        page.evaluate(OPEN_JS, self.path)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout * 1000)
        self.report.phases["page"] = round(time.monotonic() - t0, 1)
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = page.evaluate(KERNEL_JS)
            if status == "idle":
                return
            if status == "dialog":
                # e.g. "Select Kernel" when a notebook names no kernel: take the default.
                page.click(".jp-Dialog .jp-mod-accept")
            time.sleep(0.25)
        raise TimeoutError(f"{self.path}: the kernel was not idle {timeout:.0f} s after "
                           f"opening the notebook (last status: {status})")

    def run_all_from_menu(self) -> None:
        """Chapter 00: click "Run" in the menu bar, then "Run All Cells"."""
        page = self.page
        page.click(".lm-MenuBar-item:has(.lm-MenuBar-itemLabel:text-is('Run'))")
        page.click(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Run All Cells'))")

    def wait_until_done(self, timeout: float = RUN_TIMEOUT) -> dict:
        """Chapter 00: wait until no cell shows ``[*]`` and the kernel is idle; return the state."""
        page = self.page
        start = time.monotonic()
        time.sleep(0.5)
        stable = 0
        state = None
        while time.monotonic() - start < timeout:
            state = page.evaluate(COLLECT_JS)
            busy = [c for c in state["cells"] if c["prompt"].startswith("[*]")]
            if not busy and state["kernel"] == "idle":
                stable += 1
                if stable >= 3:
                    self.report.seconds = time.monotonic() - start
                    return state
            else:
                stable = 0
            time.sleep(0.4)
        running = [c for c in (state or {"cells": []})["cells"] if c["prompt"].startswith("[*]")]
        where = (f"cell {running[0]['index']} ({_short(running[0]['source'])!r}) still shows [*]"
                 if running else f"kernel status {state and state['kernel']}")
        try:
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
        except Exception:
            pass
        raise TimeoutError(f"{self.path}: not finished {timeout:.0f} s after Run All Cells: "
                           f"{where} (the budget comes from tests/browser/notebook_seconds.json "
                           f"and this machine's speed; NNLIB_BROWSER_TIMEOUT overrides it)")

    # -- checks ------------------------------------------------------------

    def check_executed(self, state: dict) -> list[str]:
        """Chapter 00: every non-empty code cell has an execution number."""
        problems = []
        cells = [c for c in state["cells"] if c["source"].strip()]
        self.report.code_cells = len(cells)
        missing = [c for c in cells if not c["executionCount"]]
        if missing:
            first = missing[0]
            problems.append(
                f"{len(missing)} of {len(cells)} code cells did not run, first: cell "
                f"{first['index']} ({_short(first['source'])!r}, prompt {first['prompt']!r}); "
                "Run All stops at the first error in a cell not tagged 'raises-exception'")
        return problems

    def check_errors(self, state: dict, when: str = "after Run All Cells") -> list[str]:
        """Chapter 00: no tracebacks in solutions/; only NotImplementedError in notebooks/.

        Each (cell, error name) is reported once per notebook, so a second call
        (after dragging the sliders) reports only errors that are new.
        """
        problems = []
        seen = self.__dict__.setdefault("_seen_errors", set())
        for cell in state["cells"]:
            names = [(o["ename"], o["evalue"]) for o in cell["outputs"] if o["type"] == "error"]
            # Tracebacks the page shows that are not the cell's own error output
            # (e.g. inside a widget's Output area, raised by a slider's callback).
            shown = [error_name(t) for t in cell["stderr"]]
            shown = [n for n in shown if n]
            own = {n for n, _ in names}
            names += [(n, "(shown in a widget output)") for n in shown if n not in own]
            for ename, evalue in names:
                if self.allow_not_implemented and ename == "NotImplementedError":
                    continue
                if (cell["index"], ename) in seen:
                    continue
                seen.add((cell["index"], ename))
                allowed = ("only NotImplementedError from an exercise stub is allowed in notebooks/"
                           if self.allow_not_implemented else "solutions/ must show no errors")
                problems.append(
                    f"cell {cell['index']} ({_short(cell['source'])!r}) shows {ename}: "
                    f"{(evalue or '')[:200]} {when}; {allowed}")
        return problems

    def check_widgets(self, state: dict) -> list[str]:
        """Chapter 00: every widget output is rendered as ipywidgets controls."""
        problems = []
        total = 0
        for cell in state["cells"]:
            views = [o for o in cell["outputs"] if o["widget"]]
            total += len(views)
            for k, view in enumerate(views):
                if not view["widgetRendered"]:
                    problems.append(
                        f"cell {cell['index']} ({_short(cell['source'])!r}): widget output {k} "
                        f"is not rendered as a control; the page shows {view['text'][:120]!r}")
            if uses_widgets(cell["source"]) and cell["executionCount"] and views \
                    and cell["widgetsInDom"] == 0:
                problems.append(f"cell {cell['index']} creates widgets but no .jupyter-widgets "
                                "element is in the page")
        self.report.widgets = total
        if total == 0 and any(uses_widgets(c["source"]) and "display(" in c["source"]
                              for c in state["cells"]):
            problems.append("the notebook displays ipywidgets but no widget output was produced")
        return problems

    def check_images(self, state: dict) -> list[str]:
        """Chapter 00: at least one image for every cell that calls plt.show(), none broken."""
        shows = sum(1 for c in state["cells"] if "plt.show()" in c["source"])
        images = sum(c["images"] for c in state["cells"])
        broken = sum(c["brokenImages"] for c in state["cells"])
        self.report.images = images
        self.report.plt_show_cells = shows
        problems = []
        if images < shows:
            problems.append(f"{images} plot images in the page, but {shows} code cells call "
                            "plt.show() (is matplotlib's inline backend in use?)")
        if broken:
            problems.append(f"{broken} images failed to load")
        return problems

    def wait_for_widgets(self, timeout: float = 20.0) -> dict:
        """Chapter 00: give widget views time to render after the kernel went idle."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.page.evaluate(COLLECT_JS)
            pending = [o for c in state["cells"] for o in c["outputs"]
                       if o["widget"] and not o["widgetRendered"]]
            images_loading = sum(c["brokenImages"] for c in state["cells"])
            if (not pending and not images_loading) or time.monotonic() > deadline:
                return state
            time.sleep(0.3)

    def _wait_idle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        stable = 0
        while time.monotonic() < deadline:
            if self.page.evaluate(KERNEL_JS) == "idle":
                stable += 1
                if stable >= 2:
                    return
            else:
                stable = 0
            time.sleep(0.25)

    def check_sliders(self, skip_cells: set[int] = frozenset()) -> list[str]:
        """Chapter 00: drag every slider; it must move and change the output it drives.

        A cell tagged ``no-browser-drive`` keeps its sliders out of the "output
        changes" part (for a slider whose effect appears only after a button).
        """
        page = self.page
        problems = []
        sliders = page.locator(".jp-Notebook .widget-slider")
        count = sliders.count()
        self.report.sliders = count
        for k in range(count):
            slider = sliders.nth(k)
            handle = slider.locator(".noUi-handle").first
            track = slider.locator(".noUi-target").first
            label = (slider.locator(".widget-label").first.text_content() or "").strip() or f"#{k}"
            if handle.count() == 0 or track.count() == 0:
                problems.append(f"slider {label!r} has no draggable handle")
                continue
            cell_index = slider.evaluate(
                "e => { const c = e.closest('.jp-Cell'); return Array.from(c.parentNode.children)"
                ".filter(x => x.classList.contains('jp-Cell')).indexOf(c); }")
            if slider.evaluate("e => e.querySelector('[disabled]') !== null || "
                               "e.querySelector('.noUi-target').hasAttribute('disabled')"):
                continue
            slider.scroll_into_view_if_needed()
            before_value = handle.get_attribute("aria-valuenow")
            before_output = page.evaluate(SNAPSHOT_JS)
            hb, tb = handle.bounding_box(), track.bounding_box()
            if hb is None or tb is None:
                problems.append(f"slider {label!r} (cell {cell_index}) is not visible")
                continue
            hx, hy = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
            if tb["height"] > tb["width"]:   # vertical slider
                mid = tb["y"] + tb["height"] / 2
                tx, ty = hx, (tb["y"] + 0.2 * tb["height"] if hy > mid
                              else tb["y"] + 0.8 * tb["height"])
            else:
                mid = tb["x"] + tb["width"] / 2
                tx, ty = (tb["x"] + 0.2 * tb["width"] if hx > mid
                          else tb["x"] + 0.8 * tb["width"]), hy
            page.mouse.move(hx, hy)
            page.mouse.down()
            page.mouse.move(tx, ty, steps=8)
            page.mouse.up()
            deadline = time.monotonic() + 5
            after_value = handle.get_attribute("aria-valuenow")
            while after_value == before_value and time.monotonic() < deadline:
                time.sleep(0.1)
                after_value = handle.get_attribute("aria-valuenow")
            if after_value == before_value:
                problems.append(f"slider {label!r} (cell {cell_index}) did not move when dragged "
                                f"(value stayed {before_value})")
                continue
            if cell_index in skip_cells:
                continue
            deadline = time.monotonic() + SLIDER_TIMEOUT
            changed = False
            while time.monotonic() < deadline:
                self._wait_idle()
                if page.evaluate(SNAPSHOT_JS) != before_output:
                    changed = True
                    break
                time.sleep(0.3)
            if not changed:
                problems.append(
                    f"slider {label!r} (cell {cell_index}) moved from {before_value} to "
                    f"{after_value} but no output changed (tag the cell 'no-browser-drive' "
                    "if it drives nothing by design)")
        return problems

    def screenshot(self, path: Path, full: bool = False, max_height: int = 12000) -> str:
        """Chapter 00: save a PNG of the notebook in the page.

        ``full=False`` (cheap, for passing notebooks): the window as it is, scrolled
        to the first widget or plot. ``full=True`` (for failures): the whole notebook,
        the window grown to its height (up to ``max_height`` pixels).
        """
        page = self.page
        path.parent.mkdir(parents=True, exist_ok=True)
        if not full:
            page.evaluate(SCROLL_TO_FIRST_VISUAL_JS)
            time.sleep(0.2)
            page.screenshot(path=str(path))
            self.report.screenshot = str(path)
            return str(path)
        size = page.viewport_size or {"width": 1280, "height": 900}
        try:
            extra = int(page.evaluate(NOTEBOOK_TOP_JS))
            page.set_viewport_size({"width": size["width"],
                                    "height": min(size["height"] + extra + 20, max_height)})
            time.sleep(0.3)
            page.evaluate(NOTEBOOK_TOP_JS)
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size(size)
        self.report.screenshot = str(path)
        return str(path)
