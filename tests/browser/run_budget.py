"""Chapter 00: how long one notebook may take in the browser test, from its own measured time.

A fixed budget fails on a slower or busier machine; none hides a hung notebook. So
each notebook's budget comes from what it took the last time it was measured here,
scaled by how fast this machine is *right now*:

    budget = FLOOR + MARGIN * recorded_seconds * max(1, calibration_now / calibration_recorded)

``calibration`` is the time of a small fixed CPU workload (float32 matrix products and
a Python loop, the two kinds of work the notebooks do), taken as the median of a few
runs, so a machine twice as slow or twice as loaded gets twice the budget.
``tests/browser/notebook_seconds.json`` holds the recorded times; refresh it after a
browser run with ``python tests/browser/run_budget.py test-artifacts/browser/summary.json``.
A notebook with no recorded time gets ``DEFAULT_SECONDS``; ``NNLIB_BROWSER_TIMEOUT``
(seconds) overrides every budget.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

RECORD = Path(__file__).with_name("notebook_seconds.json")
FLOOR = 60.0          # JupyterLab's own start-up noise, kernel start, the first imports
MARGIN = 4.0          # four times the recorded run time, before scaling for this machine
DEFAULT_SECONDS = 300.0


def calibrate(repeats: int = 5) -> float:
    """Seconds of a fixed workload here and now (median of ``repeats``)."""
    a = np.random.default_rng(0).standard_normal((192, 192)).astype(np.float32)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        b = a
        for _ in range(150):
            b = np.tanh(b @ a)
        total = 0
        for i in range(2_000_000):
            total += i * i
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_record(path: Path = RECORD) -> dict:
    """``{"calibration_s": float, "seconds": {notebook path: seconds}}`` (empty if absent)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"calibration_s": None, "seconds": {}}
    return {"calibration_s": record.get("calibration_s"), "seconds": dict(record.get("seconds", {}))}


def budget(notebook: str, calibration_now: float, record: dict | None = None) -> float:
    """Seconds the notebook at ``notebook`` (e.g. ``"notebooks/13_llm-finetuning.ipynb"``) may take."""
    override = os.environ.get("NNLIB_BROWSER_TIMEOUT")
    if override:
        return float(override)
    record = load_record() if record is None else record
    seconds = record["seconds"].get(notebook)
    if seconds is None or not record.get("calibration_s"):
        return DEFAULT_SECONDS
    slowdown = max(1.0, calibration_now / record["calibration_s"])
    return FLOOR + MARGIN * float(seconds) * slowdown


def write_record(summary_path: Path, calibration_s: float, path: Path = RECORD) -> dict:
    """Write the run times of a browser run's summary.json (and the calibration it ran at)."""
    summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    seconds = {r["path"]: round(r["seconds"], 1) for r in summary["reports"]
               if not r["path"].startswith("selftest/") and r["seconds"] > 0}
    record = {"calibration_s": round(calibration_s, 4), "seconds": dict(sorted(seconds.items()))}
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


if __name__ == "__main__":
    summary_file = Path(sys.argv[1] if len(sys.argv) > 1 else "test-artifacts/browser/summary.json")
    summary_data = json.loads(summary_file.read_text(encoding="utf-8"))
    # the calibration the run itself measured at its start (the machine's state during that run)
    print(write_record(summary_file, summary_data["calibration_s"]))
