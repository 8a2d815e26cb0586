"""The built index kept between runs: a start, worker or command with the FAQ file unchanged reads it
back (0.4–0.7 s for 10,000 entries here) instead of building it again (4–5.5 s).

The file is a pickle in this user's own cache directory (faq/cache.py: read only when it and the file
are this user's alone), named by everything the index is built from: the FAQ file's path and bytes,
this package's code and shipped data, and the libraries that segment and convert. A file that cannot
be read back is built again; a build is kept for the next start by a thread.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import pickle
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path

import marisa_trie
import numpy
import opencc
import yaml

from bot.config import BotConfig
from faq import cache, pinyin, text
from faq.bulk import bulk_build
from faq.loader import Faq, load_faq
from faq.matcher import Matcher

log = logging.getLogger(__name__)

FORMAT = b"fuyi-bot index 2\n"  # then a line of the dates on which its warnings hold, then the pickle
# This user's indexes stay for this many FAQ files (of every checkout), the most recently used; of
# each file only the newest index, since an edit makes the last one useless.
KEEP_FAQ_FILES = 4
ABANDONED_SECONDS = 3600  # a partly written file this old was left by a process that died writing it
_writers: set[threading.Thread] = set()
_writers_lock = threading.Lock()  # finish_writing() sees only writers started


def load_matcher(path: str | Path, settings: BotConfig | None = None, today: dt.date | None = None,
                 keep: bool = True, folder: Path | None = None, wait: bool = False) -> Matcher:
    """The Matcher of the FAQ file at `path`: read back when it was built from these very bytes and
    this code, else loaded (FaqError as load_faq) and built, and kept for the next start by a thread
    (`wait`: before returning). `keep=False` neither reads nor keeps; `folder` replaces the cache directory."""
    path = Path(path)
    today = today or dt.date.today()
    folder = (folder or cache.private_dir()) if keep else None
    try:
        raw = path.read_bytes()
    except OSError:
        raw = None  # load_faq says what is wrong with the file
    if folder is None or raw is None:
        return Matcher(load_faq(path, today, raw), settings)
    file = folder / _name(path, raw)
    matcher = _read_back(file, today, settings)
    if matcher is not None:
        return matcher
    faq = load_faq(path, today, raw)
    matcher = Matcher(faq, settings)
    kept = (file, _dates_alike(faq, today), faq, matcher.built())  # now: answers fill the matcher's lists later
    # Not a daemon (as it would be when started by the server's reload thread): a process that ends
    # at once still leaves the file whole.
    writer = threading.Thread(target=_write, args=kept, name="faq-keep", daemon=False)
    with _writers_lock:
        _writers.add(writer)
        writer.start()
    if wait:
        writer.join()
    return matcher


def is_kept(path: str | Path, today: dt.date | None = None) -> bool:
    """Whether an index of the FAQ file as it is now is kept and would be read back: the file loaded
    without errors then (with this code), and needs no checking again."""
    folder = cache.private_dir()
    try:
        if folder is None:
            return False
        handle = _open_kept(folder / _name(Path(path), Path(path).read_bytes()), today or dt.date.today())
    except (OSError, ValueError):
        return False
    if handle is None:
        return False
    handle.close()
    return True


def last_good(path: str | Path, settings: BotConfig | None = None) -> Matcher | None:
    """The Matcher of the last version of the FAQ file at `path` that loaded (its newest index kept by
    this code that reads back), whatever the file holds now; None if none is kept. For a process that
    starts while an admin's edit is broken: it serves what the processes running already serve."""
    for file in _kept_of(Path(path)):
        matcher = _read_back(file, dt.date.today(), settings, any_day=True)
        if matcher is not None:
            return matcher
    return None


def last_good_file(path: str | Path) -> Path | None:
    """The newest file last_good() would try, if its header reads as one."""
    for file in _kept_of(Path(path)):
        try:
            handle = _open_kept(file, dt.date.today(), any_day=True)
        except (OSError, ValueError):
            continue
        if handle is not None:
            handle.close()
            return file
    return None


def _kept_of(path: Path) -> list[Path]:
    """The indexes kept of the FAQ file at `path` by this code, the most recently used first."""
    folder = cache.private_dir()
    if folder is None:
        return []
    return sorted(folder.glob(f"index-{_file_key(path)}-*.pickle"), key=_modified, reverse=True)


def finish_writing() -> None:
    """Wait until the indexes being kept are written (a thread left running stops forks: faq/parallel.py)."""
    with _writers_lock:
        writers = list(_writers)
    for writer in writers:
        writer.join()


def _name(path: Path, raw: bytes) -> str:
    """The file name of the index of these bytes at this path, built by this code: index-FILE-VERSION.pickle,
    where FILE names the path and the code (_file_key), and VERSION the bytes too."""
    version = hashlib.sha256(b"\0".join([str(path).encode(), raw, _code_key().encode()])).hexdigest()[:24]
    return f"index-{_file_key(path)}-{version}.pickle"


def _file_key(path: Path) -> str:
    """What names the indexes of the FAQ file at `path` built by this code, whatever its bytes."""
    return hashlib.sha256(b"\0".join([str(path).encode(), _code_key().encode()])).hexdigest()[:16]


@lru_cache(maxsize=1)
def _code_key() -> str:
    """What else an index depends on: this package's code and shipped data (by content: a deployment may
    set every file's time alike), and the libraries' that build it (by version, or file size and time)."""
    package = Path(__file__).parent
    # Not data/*.yaml: the bundled FAQ, which admins may edit, is named by the FAQ's own key.
    own = [*sorted(package.glob("*.py")), *sorted(f for pattern in ("*.txt", "*.json", "*.npz")
                                                  for f in (package / "data").glob(pattern))]
    digest = hashlib.sha256()
    for file in own:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    versions = [digest.hexdigest(), sys.version, numpy.__version__, yaml.__version__, opencc.__version__,
                os.environ.get("PYPINYIN_NO_PHRASES", "")]
    return cache.key_of(text.JIEBA_DICT, *pinyin.TABLES, Path(marisa_trie.__file__), also="|".join(versions))


def _dates_alike(faq: Faq, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The days (after, up to) on which the FAQ's warnings are today's: no entry falls due between."""
    due = [entry.review_by for entry in faq.entries if entry.review_by]
    return max((d for d in due if d < today), default=None), min((d for d in due if d >= today), default=None)


def _open_kept(file: Path, today: dt.date, any_day: bool = False):
    """The kept index in `file`, open after its header, if it is this user's alone, of this format and
    its warnings today's (unless `any_day`); None if not; FileNotFoundError if there is none, ValueError
    if it is not one."""
    handle = cache.open_private(file.parent, file.name)
    if handle is None:
        return None
    try:
        if handle.readline() != FORMAT:
            raise ValueError("not an index of this format")
        after, up_to = (dt.date.fromisoformat(d) if d != "-" else None for d in handle.readline().decode().split())
    except BaseException:
        handle.close()
        raise
    if not any_day and ((after is not None and today <= after) or (up_to is not None and today > up_to)):
        handle.close()
        return None  # an entry has fallen due since (or the clock went back): its warning must be made
    return handle


def _read_back(file: Path, today: dt.date, settings: BotConfig | None, any_day: bool = False) -> Matcher | None:
    """The Matcher kept in `file`, if the file is whole, this user's alone, and its warnings today's (unless `any_day`)."""
    try:
        handle = _open_kept(file, today, any_day)
        if handle is None:
            return None
        with handle, bulk_build():  # a few hundred thousand objects: the collector would only walk them
            faq, built = pickle.load(handle)
        matcher = Matcher.rebuilt(faq, built, settings)
    except FileNotFoundError:
        return None
    except Exception as error:  # a damaged or foreign file is built again, never trusted
        log.warning("the kept index %s cannot be read back (%s): building it again", file, error)
        return None
    cache.used(file)  # recently used: the last to be removed
    log.info("FAQ index read back from %s", file)
    return matcher


def _write(file: Path, dates: tuple[dt.date | None, dt.date | None], faq: Faq, built: dict) -> None:
    """Keep an index, then remove the older ones of its FAQ file and those of all but the KEEP_FAQ_FILES most recently used files."""
    def dump(name: str) -> None:
        # This user's alone whatever the umask (002 on many systems): open_private reads no other.
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(FORMAT)
            handle.write(" ".join(d.isoformat() if d else "-" for d in dates).encode() + b"\n")
            pickle.dump((faq, built), handle, protocol=pickle.HIGHEST_PROTOCOL)

    try:
        cache.write_atomically(file, dump)
        _remove_all_but_recent(file.parent)
    finally:
        with _writers_lock:
            _writers.discard(threading.current_thread())


def _remove_all_but_recent(folder: Path) -> None:
    """Remove all but the most recently used index of each of the KEEP_FAQ_FILES most recently used FAQ
    files, and partial files left by a process killed while writing."""
    files: set[str] = set()
    stale = []
    for index in sorted(folder.glob("index-*.pickle"), key=_modified, reverse=True):
        file = index.name.split("-")[1]  # the FAQ file's part; an older version's whole key (index-KEY.pickle)
        if file in files or len(files) >= KEEP_FAQ_FILES:
            stale.append(index)
        else:
            files.add(file)
    stale += [f for f in folder.glob("index-*.tmp") if _modified(f) < time.time() - ABANDONED_SECONDS]
    for old in stale:
        try:
            old.unlink()
        except OSError as error:  # another process removed it first, say
            log.debug("could not remove %s: %s", old, error)


def _modified(file: Path) -> float:
    try:
        return file.stat().st_mtime
    except OSError:
        return 0.0  # removed meanwhile by another process
