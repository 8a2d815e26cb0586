"""The built index kept between runs: a start or worker with the FAQ file unchanged reads it back
(0.5–1 s at 10,000 entries) instead of building it again (4–6 s).

The file is a pickle in this user's own cache directory (faq/cache.py: refused unless it is theirs
alone, mode 700), named by everything the index is built from: the FAQ file's path and bytes, this
package's code and data, and the versions of the libraries that segment and convert. A file that
cannot be read back is built again; the build is then kept, by a thread, for the next start.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import pickle
import sys
import threading
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

FORMAT = b"fuyi-bot index 1\n"
KEEP_FILES = 4  # indexes of other FAQ files or edits stay this many, the most recently used
_writers: set[threading.Thread] = set()


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
    file = folder / f"index-{_key(path, raw)}.pickle"
    faq_and_built = _read(file, today)
    if faq_and_built is not None:
        return Matcher.rebuilt(*faq_and_built, settings)
    faq = load_faq(path, today, raw)
    matcher = Matcher(faq, settings)
    kept = (_dates_alike(faq, today), faq, matcher.built())  # now: answers fill the matcher's lists later
    writer = threading.Thread(target=_write, args=(file, kept), name="faq-keep")
    _writers.add(writer)
    writer.start()  # not a daemon: a command that ends at once still leaves the file whole
    if wait:
        writer.join()
    return matcher


def is_kept(path: str | Path) -> bool:
    """Whether an index of the FAQ file as it is now is kept: it loaded without errors then, and
    needs no checking again (by this code)."""
    folder = cache.private_dir()
    try:
        return folder is not None and (folder / f"index-{_key(Path(path), Path(path).read_bytes())}.pickle").is_file()
    except OSError:
        return False


def finish_writing() -> None:
    """Wait until the indexes being kept are written (a thread left running stops forks: faq/parallel.py)."""
    for writer in list(_writers):
        writer.join()


def _key(path: Path, raw: bytes) -> str:
    """A name for the index of these bytes at this path, built by this code."""
    return hashlib.sha256(b"\0".join([str(path).encode(), raw, _code_key().encode()])).hexdigest()[:24]


@lru_cache(maxsize=1)
def _code_key() -> str:
    """What else an index depends on: this package's code and data, and the libraries' that build it."""
    package = Path(__file__).parent
    files = [*sorted(package.glob("*.py")), *sorted((package / "data").iterdir()), text.JIEBA_DICT,
             *pinyin.TABLES, Path(marisa_trie.__file__)]
    versions = [sys.version, numpy.__version__, yaml.__version__, opencc.__version__,
                os.environ.get("PYPINYIN_NO_PHRASES", "")]
    return cache.key_of(*files, also="|".join(versions))


def _dates_alike(faq: Faq, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The days (after, up to) for which the FAQ's warnings are today's: no entry falls due between."""
    due = [entry.review_by for entry in faq.entries if entry.review_by]
    return max((d for d in due if d < today), default=None), min((d for d in due if d >= today), default=None)


def _read(file: Path, today: dt.date) -> tuple[Faq, dict] | None:
    """The FAQ and built index kept in `file`, if it is whole and its warnings are today's."""
    try:
        with open(file, "rb") as handle:
            if handle.readline() != FORMAT:
                raise ValueError("not an index of this format")
            with bulk_build():  # a few hundred thousand objects: the collector would only walk them
                (after, up_to), faq, built = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as error:  # a damaged or foreign file is built again, never trusted
        log.warning("the kept index %s cannot be read (%s): building it again", file, error)
        return None
    if (after is not None and today <= after) or (up_to is not None and today > up_to):
        return None  # an entry has fallen due since (or the clock went back): its warning must be made
    try:
        os.utime(file)  # recently used: the last to be removed
    except OSError:
        pass
    return faq, built


def _write(file: Path, kept: tuple) -> None:
    """Keep an index, then remove all but the KEEP_FILES most recently used."""
    def dump(name: str) -> None:
        with open(name, "wb") as handle:
            handle.write(FORMAT)
            pickle.dump(kept, handle, protocol=pickle.HIGHEST_PROTOCOL)

    try:
        cache.write_atomically(file, dump)
        _remove_all_but_recent(file.parent)
    finally:
        _writers.discard(threading.current_thread())


def _remove_all_but_recent(folder: Path) -> None:
    try:
        files = sorted(folder.glob("index-*.pickle"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[KEEP_FILES:]:
            old.unlink()
    except OSError as error:  # another process removed one first, say
        log.debug("could not remove old kept indexes: %s", error)
