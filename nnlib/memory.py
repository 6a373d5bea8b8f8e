"""Chapter 12: keep freed memory for reuse, so training does not pay the kernel for every array.

A training step creates and frees hundreds of temporary arrays of a few MB each.
glibc's ``malloc`` hands blocks above a threshold straight back to the operating
system when they are freed (``munmap``, or trimming the top of the heap), so the
next step asks for them again and the kernel zero-fills every page on first touch.
For the course's benchmark GPT that was about 16,000 page faults and 50 ms of
system time per step, a fifth of the step.

:func:`tune_allocator` raises the two thresholds with ``mallopt`` so that blocks up
to ``mmap_threshold`` come from the heap and up to ``trim_threshold`` of free heap is
kept for reuse. It changes nothing but how soon freed memory goes back to the system
(at most ``trim_threshold`` bytes are held), but that is a process-wide setting, so
``import nnlib`` leaves malloc alone: opt in by calling ``nnlib.memory.tune_allocator()``
(the GPT benchmark and ``scripts/pretrain_gpt.py`` do), or by setting the environment
variable ``NNLIB_TUNE_MALLOC=1`` before importing nnlib. On systems without glibc
(macOS, Windows, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune_allocator", "allocator_tuned", "tune_allocator_if_asked"]

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_state = {"tuned": False}


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # only glibc has this symbol # noqa: B018
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        return libc
    except (OSError, AttributeError):
        return None


def tune_allocator(mmap_threshold: int = 32 << 20, trim_threshold: int = 128 << 20) -> bool:
    """Chapter 12: let glibc malloc reuse freed blocks instead of returning them to the system.

    Blocks smaller than ``mmap_threshold`` bytes (32 MiB) come from the heap, and up to
    ``trim_threshold`` bytes (128 MiB) of free heap are kept. Returns True when the
    settings were applied, False where there is no glibc.
    """
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2 ** 31:
            raise ValueError(f"tune_allocator: {name} must be a positive number of bytes below 2 GiB, "
                             f"got {value!r}")
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
    ok = libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and ok
    _state["tuned"] = _state["tuned"] or ok
    return ok


def allocator_tuned() -> bool:
    """Chapter 12: whether :func:`tune_allocator` has applied its settings in this process."""
    return _state["tuned"]


def tune_allocator_if_asked() -> bool:
    """Chapter 12: :func:`tune_allocator` only when the environment asks for it (``NNLIB_TUNE_MALLOC=1``).

    ``import nnlib`` calls it. Returns True when the settings were applied.
    """
    if os.environ.get("NNLIB_TUNE_MALLOC", "0").strip().lower() in ("1", "true", "yes", "on"):
        return tune_allocator()
    return False
