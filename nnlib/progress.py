"""Chapter 07: the progress bar ``fit`` and ``evaluate`` show, a thin wrapper over tqdm.

``tqdm.auto`` draws a widget in Jupyter and a text bar in a terminal. The
wrapper adds what training needs: a Keras-like description
(``Epoch 3/50``), the running metrics after the bar (``loss: 0.2315 -
accuracy: 0.9121``), updates only every few batches (cheap), and a plain
fallback that prints one line per epoch when tqdm is not installed.

Verbosity follows Keras: 0 = silent, 1 = a bar per epoch, 2 = one line per
epoch, ``'auto'`` = 1.
"""
from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar", "format_logs", "resolve_verbose"]


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
    if level not in (0, 1, 2):
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


class ProgressBar:
    """Chapter 07: one epoch's (or one evaluation's) progress: ``update(batches, logs)``, ``close(logs)``.

    ``verbose`` 0 shows nothing, 1 a tqdm bar (or, without tqdm, a line at
    the end), 2 one line when closed.
    """

    def __init__(self, total: int, desc: str = "", verbose=1, unit: str = "batch", file=None):
        self.total = int(total)
        self.desc = desc
        self.verbose = resolve_verbose(verbose)
        self.file = file
        self.every = max(1, self.total // 25)
        self._pending = 0
        self._seen = 0
        self._start = time.perf_counter()
        self._bar = None
        if self.verbose == 1:
            tqdm = _tqdm()
            if tqdm is not None:
                self._bar = tqdm(total=self.total, desc=desc, unit=unit, leave=True, file=file,
                                 dynamic_ncols=True, mininterval=0.1)

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

    def close(self, logs: dict | None = None) -> None:
        """Chapter 07: finish: the final metrics (validation ones included) go on the bar or on one printed line."""
        if self.verbose == 0:
            return
        if self._bar is not None:
            if self._pending:
                self._bar.update(self._pending)
                self._pending = 0
            if logs:
                self._bar.set_postfix_str(format_logs(logs), refresh=False)
            self._bar.close()
            self._bar = None
            return
        elapsed = time.perf_counter() - self._start
        prefix = f"{self.desc} - " if self.desc else ""
        text = f"{prefix}{self._seen}/{self.total} - {elapsed:.1f}s"
        if logs:
            text += " - " + format_logs(logs)
        print(text, file=self.file or sys.stdout, flush=True)

    def abort(self) -> None:
        """Chapter 07: close the bar without a summary (used when training stops with an error)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.verbose = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.abort()
        return False
