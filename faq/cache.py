"""Files kept between runs in the user's own directory under the temporary one: tables built once
from a package's data (jieba's dictionary, pypinyin's readings) and then mapped in milliseconds."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


def private_dir() -> Path | None:
    """This user's cache directory in the temporary one (made if need be), or None (logged) when it
    cannot be made or is not this user's alone: a file another user could plant there is never read."""
    return _private_dir(tempfile.gettempdir())


@lru_cache(maxsize=4)  # checked, and a refusal logged, once per process (per temporary directory)
def _private_dir(temporary: str) -> Path | None:
    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(temporary) / (f"fuyi-bot-{uid}" if uid is not None else "fuyi-bot")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = os.lstat(folder)
    except OSError as error:
        log.warning("no cache of tables between runs (%s): each start builds them again", error)
        return None
    if uid is not None and (not stat.S_ISDIR(found.st_mode) or found.st_uid != uid or found.st_mode & 0o077):
        log.warning("no cache of tables between runs: %s is not a directory of this user's alone (mode 700); "
                    "each start builds them again", folder)
        return None
    return folder


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
        write(str(partial))
        os.replace(partial, path)
    except Exception as error:  # whatever it was (a full disk, an object that cannot be pickled), never fatal
        log.warning("could not write the cache file %s: %s", path, error)
        with contextlib.suppress(OSError):
            partial.unlink()
