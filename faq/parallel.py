"""A large FAQ's load on two cores: part of the work done in a forked child process meanwhile."""
from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import sys
import threading
import time
import warnings
import weakref
from typing import Callable, TypeVar

log = logging.getLogger(__name__)

Result = TypeVar("Result")

# Below this many of an FAQ's phrasings, forking (~0.02 s with a large FAQ in memory) and sending
# the results back cost more than the half of the work saved.
MIN_ITEMS = 4000
# A child that has not answered this long after the parent finished its own part is stuck: the
# parent does the child's part itself.
PATIENCE = 5.0
MIN_WAIT_SECONDS = 30.0
CHILD_SECONDS = 600  # the longest a child lives, whatever happens to its parent


_loading_together = 1  # processes that load an FAQ at the same time as this one, itself included


def loading_together(processes: int) -> None:
    """Say that this process loads its FAQ while processes - 1 others do (the server's workers, at start)."""
    global _loading_together
    _loading_together = max(1, processes)


def can_fork() -> bool:
    """Whether a child process may be forked, safely and to some use: Linux, no other Python thread,
    and two cores for this process (two workers loading at once on two cores gain nothing from it).

    A thread of ours may hold a lock (logging, SQLite) at the moment of the fork, and the child would
    wait on it for ever; a reload in the server's background thread therefore works on one core.
    """
    return (
        sys.platform == "linux"
        and hasattr(os, "fork")
        and len(os.sched_getaffinity(0)) >= 2 * _loading_together
        and threading.active_count() == 1
    )


def fork() -> int:
    """os.fork(), once no Python thread but this one runs (can_fork, or the caller, has made sure)."""
    with warnings.catch_warnings():
        # Python 3.12+ warns of forking with threads it cannot see (numpy's OpenBLAS pool, which
        # re-creates itself in the child).
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def beside(work: Callable[[], Result], worth_it: bool = True) -> Callable[[], Result]:
    """Start work() in a forked child process, if that is safe; call what is returned for its result.

    `work` must be pure (its result depends only on state the child inherits) and its result
    picklable. Meanwhile the caller does other work. Whatever goes wrong in the child, or without a
    child at all, the result is work() computed in this process.
    """
    if not worth_it or not can_fork():
        return work
    read_end, write_end = os.pipe()
    try:
        pid = fork()
    except OSError as exc:
        os.close(read_end)
        os.close(write_end)
        log.warning("could not fork for a parallel load (%s); loading on one core", exc)
        return work
    if pid == 0:
        _child(work, read_end, write_end)
    os.close(write_end)
    return _Child(work, pid, read_end)


class _Child:
    """A forked child's result, to be collected once; a child never collected (the caller failed
    meanwhile) is killed and reaped when this is dropped."""

    def __init__(self, work: Callable[[], Result], pid: int, read_end: int):
        self.work, self.pid, self.read_end = work, pid, read_end
        self.started = time.monotonic()
        self._abandon = weakref.finalize(self, _kill, pid, read_end)

    def __call__(self) -> Result:
        self._abandon.detach()
        waited = max(MIN_WAIT_SECONDS, PATIENCE * (time.monotonic() - self.started))
        found = _collect(self.pid, self.read_end, waited)
        return self.work() if found is None else found[0]


def _kill(pid: int, read_end: int) -> None:
    """End and reap a child whose result nobody will collect."""
    try:
        os.close(read_end)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass  # gone already


def _child(work, read_end: int, write_end: int) -> None:
    """Compute, send the pickled result, and leave without running the parent's exit handlers."""
    status = 1
    try:
        os.close(read_end)
        # Whatever the parent does, the child does not outlive this (the default action: end).
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(CHILD_SECONDS)
        data = pickle.dumps((work(),), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        status = 0
    finally:
        os._exit(status)


def _collect(pid: int, read_end: int, wait_seconds: float) -> tuple | None:
    """(the child's result,), or None (logged) when it failed or took too long."""
    chunks = []
    deadline = time.monotonic() + wait_seconds
    try:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([pipe], [], [], remaining)[0]:
                    log.warning("parallel load: the child process did not answer; doing its part here")
                    os.kill(pid, signal.SIGKILL)
                    return None
                chunk = pipe.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        _, status = os.waitpid(pid, 0)
    if status != 0:
        # The exit status, or minus the signal that ended it.
        log.warning("parallel load: the child process failed (status %d); doing its part here", os.waitstatus_to_exitcode(status))
        return None
    try:
        return pickle.loads(b"".join(chunks))
    except Exception:  # cut short: the part is computed again, so the load never rests on it
        log.warning("parallel load: the child's result was unreadable; doing its part here")
        return None
