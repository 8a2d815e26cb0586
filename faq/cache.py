"""Files kept between runs in the user's own directory under the temporary one: tables built once
from a package's data (jieba's dictionary, pypinyin's readings) and then mapped in milliseconds, and
the FAQ's built index (faq/kept.py)."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO, Callable

log = logging.getLogger(__name__)

# A table of another key (an older package's data, another checkout's or Python's) unused this long goes.
STALE_SECONDS = 7 * 24 * 3600


def private_dir() -> Path | None:
    """This user's cache directory in the temporary one (made if need be), or None (logged) when it
    cannot be made or is not this user's alone: a file another user could plant there is never read.

    Checked at every call: the system may clean the temporary directory, and another user make one
    of that name meanwhile.
    """
    uid = _uid()
    folder = Path(tempfile.gettempdir()) / (f"fuyi-bot-{uid}" if uid is not None else "fuyi-bot")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = os.lstat(folder)
    except OSError as error:
        _refuse(folder, f"no cache of tables between runs ({error}): each start builds them again")
        return None
    if not _alone(found, uid, directory=True):
        _refuse(folder, f"no cache of tables between runs: {folder} is not a directory of this user's alone "
                        "(mode 700); each start builds them again")
        return None
    return folder


def open_private(folder: Path, name: str) -> BinaryIO | None:
    """The file `name` in `folder` (private_dir()), open for reading, if the folder and the file are this
    user's and no one else may write them; else None (logged). Checked on what was opened, so a folder
    or file put in their place after a check is never read. FileNotFoundError if there is none."""
    uid = _uid()
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    if uid is None or not hasattr(os, "O_DIRECTORY"):
        return open(folder / name, "rb")  # no owners to check (not a POSIX system)
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | nofollow)
    try:
        if not _alone(os.fstat(folder_fd), uid, directory=True):
            _refuse(folder, f"{folder} is not a directory of this user's alone (mode 700): nothing in it is read")
            return None
        fd = os.open(name, os.O_RDONLY | nofollow, dir_fd=folder_fd)
    finally:
        os.close(folder_fd)
    if not _alone(os.fstat(fd), uid, directory=False):
        os.close(fd)
        _refuse(folder / name, f"{folder / name} is not a file that only this user may write: it is not read")
        return None
    return os.fdopen(fd, "rb")


def _uid() -> int | None:
    """This process's user id; None where there are none (not a POSIX system)."""
    return os.getuid() if hasattr(os, "getuid") else None


def _alone(found: os.stat_result, uid: int | None, directory: bool) -> bool:
    """Whether what was found is this user's, of the right kind, and no one else's to change."""
    if uid is None:
        return True
    kind = stat.S_ISDIR if directory else stat.S_ISREG
    return kind(found.st_mode) and found.st_uid == uid and not found.st_mode & (0o077 if directory else 0o022)


_refused: set[tuple[Path, str]] = set()


def _refuse(what: Path, message: str) -> None:
    """Log a refusal once per process (and per message): every start and reload would repeat it."""
    if (what, message) not in _refused:
        _refused.add((what, message))
        log.warning("%s", message)


def key_of(*files: Path, also: str = "1") -> str:
    """A name for what is built from these files (and `also`, what else it depends on): it changes
    when one of them does."""
    parts = [f"{path}|{path.stat().st_size}|{path.stat().st_mtime_ns}" for path in files]
    return hashlib.sha1("|".join([*parts, also]).encode()).hexdigest()[:16]


def write_atomically(path: Path, write: Callable[[str], object]) -> None:
    """write(name) to another name, then renamed: processes starting together each see a whole file.

    A failure is logged, not raised: the next start builds the table again.
    """
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # threads of a process too
    try:
        if not _alone(os.lstat(path.parent), _uid(), directory=True):  # cleaned away, and another user's since
            _refuse(path.parent, f"{path.parent} is not a directory of this user's alone (mode 700): nothing is written to it")
            return
        write(str(partial))
        os.replace(partial, path)
    except Exception as error:  # whatever it was (a full disk, an object that cannot be pickled), never fatal
        log.warning("could not write the cache file %s: %s", path, error)
        with contextlib.suppress(OSError):
            partial.unlink()


def used(*paths: Path) -> None:
    """Mark kept files as used now: remove_stale keeps them, and faq/kept.py keeps the most recently used."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.utime(path)


def remove_stale(current: Path, pattern: str) -> None:
    """Remove the files beside `current` that match `pattern` (the same table under other keys, and
    partial files of writers killed meanwhile) and that no process has used for STALE_SECONDS: each
    upgrade would otherwise leave megabytes behind. Files named as `current` up to its suffix stay."""
    for other in current.parent.glob(pattern):
        if other.name.startswith(current.stem):
            continue
        with contextlib.suppress(OSError):  # removed meanwhile by another process, say
            if other.stat().st_mtime < time.time() - STALE_SECONDS:
                other.unlink()
