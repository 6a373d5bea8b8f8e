"""Chapter 07: progress display for ``fit``/``evaluate``/``predict`` (and any loop), over tqdm.

What a learner sees and what a saved notebook keeps are different things: a
live bar is useful while training runs, but fifty stored copies of
``Epoch 7/50: 0%| | 0/12`` are not. So every bar here is *transient*
(tqdm's ``leave=False``): it is shown while its epoch runs and removed when
the epoch ends, and what stays is ONE plain summary line per epoch::

    Epoch 3/12 - loss: 0.1234 - accuracy: 0.9500 - val_loss: 0.2345 - val_accuracy: 0.9200

In Jupyter the bar's output is replaced by that line (a display update, so a
saved notebook stores the line, not the widget); in a terminal the bar on
stderr is cleared and the line is printed to stdout. No timings are printed,
so the summary of a seeded run is the same on every run of one machine (the
digits may still differ across machines: put such cells under
``# NBVAL_IGNORE_OUTPUT``).

Verbosity follows Keras:

* ``0``: silent;
* ``1`` (and ``'auto'``): the live bar, then the summary line;
* ``2``: the summary line only (no bar; for logs and scripts).

:func:`progress` does the same for a plain loop (``for step in progress(range(300),
desc="pretraining"): ...``).
"""
from __future__ import annotations

import sys

__all__ = ["ProgressBar", "format_logs", "resolve_verbose", "progress"]


def resolve_verbose(verbose) -> int:
    """Chapter 07: turn ``'auto'``/True/False/0/1/2 into 0, 1 or 2."""
    if verbose == "auto" or verbose is True:
        return 1
    if verbose is None or verbose is False:
        return 0
    try:
        level = int(verbose)
    except (TypeError, ValueError):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}") from None
    if level not in (0, 1, 2) or level != verbose:
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return level


def format_logs(logs: dict) -> str:
    """Chapter 07: ``{'loss': 0.25, 'accuracy': 0.9}`` -> ``'loss: 0.2500 - accuracy: 0.9000'``."""
    parts = []
    for key, value in logs.items():
        try:
            parts.append(f"{key}: {float(value):.4f}")
        except (TypeError, ValueError):
            parts.append(f"{key}: {value}")
    return " - ".join(parts)


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in requirements.txt
        return None
    return tqdm


def _is_notebook_tqdm(tqdm_cls) -> bool:
    """True when ``tqdm.auto`` chose the Jupyter widget (a kernel with ipywidgets)."""
    try:
        from tqdm.notebook import tqdm as notebook_tqdm
    except ImportError:  # pragma: no cover
        return False
    return isinstance(tqdm_cls, type) and issubclass(tqdm_cls, notebook_tqdm)


class ProgressBar:
    """Chapter 07: one epoch's (or one evaluation's) progress: ``update(batches, logs)``, ``close(logs)``.

    ``verbose`` 0 shows nothing; 1 a live tqdm bar that is removed at
    ``close``, followed by the summary line; 2 only the summary line. The
    summary is ``desc - loss: ... - ...`` (``summary=False``: none). In Jupyter
    the summary replaces the bar's output; elsewhere it is printed to ``file``
    (default: stdout) while the bar lives on stderr.
    """

    def __init__(self, total: int, desc: str = "", verbose=1, unit: str = "batch", file=None,
                 summary: bool = True):
        self.total = int(total)
        self.desc = desc
        self.verbose = resolve_verbose(verbose)
        self.file = file
        self.summary = summary
        self.every = max(1, self.total // 25)
        self._pending = 0
        self._seen = 0
        self._bar = None
        self._handle = None  # Jupyter display handle the summary replaces
        if self.verbose == 1:
            tqdm = _tqdm()
            if tqdm is not None:
                self._bar, self._handle = _open_bar(tqdm, self.total, desc, unit, file)

    def update(self, n: int = 1, logs: dict | None = None) -> None:
        """Chapter 07: advance by ``n`` batches; the bar (and its metrics text) is redrawn every few batches."""
        self._pending += n
        self._seen += n
        if self._bar is None or (self._pending < self.every and self._seen < self.total):
            return
        if logs:
            self._bar.set_postfix_str(format_logs(logs), refresh=False)
        self._bar.update(self._pending)
        self._pending = 0

    def summary_line(self, logs: dict | None = None) -> str:
        """Chapter 07: ``'Epoch 3/12 - loss: 0.1234 - val_loss: 0.2345'`` (the line that stays)."""
        parts = [self.desc] if self.desc else []
        if logs:
            parts.append(format_logs(logs))
        return " - ".join(parts)

    def close(self, logs: dict | None = None) -> None:
        """Chapter 07: remove the bar and leave the summary line (validation metrics included)."""
        if self.verbose == 0:
            return
        line = self.summary_line(logs) if self.summary else ""
        if self._bar is not None:
            if self._pending:
                self._bar.update(self._pending)
                self._pending = 0
            self._bar.n = self._bar.total  # an early stop is not an error: no red bar
            self._bar.close()
            self._bar = None
        if self._handle is not None:
            self._handle.update({"text/plain": line}, raw=True)
            self._handle = None
        elif line:
            print(line, file=self.file or sys.stdout, flush=True)
        self.verbose = 0

    def abort(self) -> None:
        """Chapter 07: stop without a summary (training stopped with an error); Jupyter keeps the red bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._handle = None
        self.verbose = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.abort()
        return False


def _open_bar(tqdm, total, desc, unit, file):
    """A transient tqdm bar; in Jupyter also the display handle its output can be replaced through."""
    kwargs = dict(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, mininterval=0.1)
    if _is_notebook_tqdm(tqdm):
        try:
            from IPython.display import display

            bar = tqdm(display=False, **kwargs)
            handle = display(bar.container, display_id=True)
            return bar, handle
        except Exception:  # pragma: no cover - a front end without display ids: the plain widget
            pass
    return tqdm(file=file, **kwargs), None


def progress(iterable, desc: str = "", total: int | None = None, verbose=1, unit: str = "step", summary=None):
    """Chapter 07: ``for x in progress(iterable, desc=...)``: a transient bar over a plain loop.

    While the loop runs a tqdm bar shows; when it ends the bar is removed and
    one line stays: ``summary`` if given (a string), else ``'{desc}: {n} {unit}s'``
    (deterministic, so it can sit in a notebook's stored output). ``verbose``
    as in :class:`ProgressBar`. Stopping the loop early (``break``, an error)
    removes the bar and prints nothing.
    """
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = 0
    bar = ProgressBar(total, desc=desc, verbose=verbose, unit=unit)
    count = 0
    finished = False
    try:
        for item in iterable:
            yield item
            count += 1
            bar.update(1)
        finished = True
    finally:
        if finished:
            line = summary if summary is not None else f"{desc + ': ' if desc else ''}{count} {unit}s"
            bar.desc, bar.summary = line, True
            bar.close()
        else:
            bar.abort()
