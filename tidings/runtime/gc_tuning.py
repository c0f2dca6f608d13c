"""Garbage-collector settings for long-running server processes.

A send allocates many short-lived objects (request dicts, rows, PDUs, futures); with CPython's
default thresholds (700, 10, 10) the collector ran ~240 times a second under load and took ~15 %
of the server's CPU, much of it re-scanning the tens of thousands of objects created at import
and start-up that live as long as the process. `tune()` moves those into the permanent
generation (`gc.freeze()`) and lets the young generation grow larger between collections.
Cycles are still collected; `TIDINGS_GC_TUNING=off` keeps the interpreter's defaults.
"""

from __future__ import annotations

import gc
import os

__all__ = ["THRESHOLDS", "tune"]

THRESHOLDS = (20_000, 20, 20)


def tune() -> bool:
    """Freeze what exists now and raise the thresholds; call once start-up is done. False when
    turned off by the environment."""
    if os.environ.get("TIDINGS_GC_TUNING", "on").strip().lower() in ("off", "0", "false", "no"):
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return True
