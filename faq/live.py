"""The FAQ as the running bot sees it: reloaded when the file changes, last good version kept."""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from pathlib import Path

from bot.config import BotConfig
from faq.kept import last_good, load_matcher
from faq.loader import FaqError
from faq.matcher import Matcher

log = logging.getLogger(__name__)

# A changed file is loaded once it has stayed the same this long: it may still be being written
# (editors and `>` write in place). Seen by two looks, not by its time, which may be in the future.
SETTLE_SECONDS = 1.0


class LiveFaq:
    """Holds the current Matcher; a changed file is loaded off to the side and swapped in whole."""

    def __init__(self, path: str | Path, settings: BotConfig | None = None, reload_seconds: float = 2.0,
                 keep_index: bool = True):
        self.path = Path(path)
        self.settings = settings or BotConfig()
        self.reload_seconds = reload_seconds
        self.keep_index = keep_index
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._error: str | None = None
        self._stamp = self._file_stamp()
        self._matcher = self._first_load()
        self._loaded_at = dt.datetime.now(dt.timezone.utc)

    def _first_load(self) -> Matcher:
        """The file's Matcher; while the file is broken, the last version that loaded, if one is kept
        (a worker started after an admin's broken edit serves what the others serve); else FaqError."""
        try:
            return self._load()
        except FaqError as exc:
            matcher = last_good(self.path, self.settings) if self.keep_index else None
            if matcher is None:
                raise
            self._error = str(exc)
            log.error("the FAQ file cannot be loaded; serving the last version that did (%d entries):\n%s",
                      len(matcher.entries), exc)
            return matcher

    def matcher(self) -> Matcher:
        """The current Matcher, after reloading the file if it changed since the last look."""
        now = time.monotonic()
        if now - self._checked_at >= self.reload_seconds and self._lock.acquire(blocking=False):
            self._checked_at = now
            if self._file_stamp() == self._stamp:
                self._lock.release()
            else:
                # Building a large index takes a while: do it beside the requests, not in one of them.
                threading.Thread(target=self._reload_in_background, name="faq-reload", daemon=True).start()
        return self._matcher

    def _reload_in_background(self) -> None:
        try:
            self._reload_if_changed(settle=True)
        finally:
            self._lock.release()

    def reload(self) -> bool:
        """Load the file now; True when a new FAQ was swapped in."""
        with self._lock:
            self._stamp = None
            return self._reload_if_changed()

    def _reload_if_changed(self, settle: bool = False) -> bool:
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        if settle and stamp is not None:
            self._wait_to_settle()
            if self._file_stamp() != stamp:
                return False  # still being written: look again soon
        try:
            matcher = self._load()
        except FaqError as exc:
            self._stamp = self._settled(stamp)
            self._error = str(exc)
            log.error("FAQ reload refused, still serving the last good FAQ:\n%s", exc)
            return False
        except Exception as exc:  # an unexpected failure must not take the bot down either
            self._stamp = self._settled(stamp)
            self._error = f"{self.path}: {exc}"
            log.exception("FAQ reload failed, still serving the last good FAQ")
            return False
        self._stamp = self._settled(stamp)
        if self._stamp is None:
            return False  # the file changed while it was read: what was read may be half of it
        self._matcher = matcher
        self._loaded_at = dt.datetime.now(dt.timezone.utc)
        self._error = None
        log.info("FAQ reloaded from %s: %d entries", self.path, len(matcher.entries))
        return True

    def _wait_to_settle(self) -> None:
        time.sleep(SETTLE_SECONDS)  # in the reload thread: requests meanwhile get the FAQ as it was

    def _load(self) -> Matcher:
        return load_matcher(self.path, self.settings, keep=self.keep_index)

    def _settled(self, before: tuple | None) -> tuple | None:
        """The stamp to remember for what was just read; None (read it again) if the file changed meanwhile."""
        return before if self._file_stamp() == before else None

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def status(self) -> dict:
        """What /healthz reports about the FAQ."""
        return {
            "path": str(self.path),
            "entries": len(self._matcher.entries),
            "loaded_at": self._loaded_at.isoformat(timespec="seconds"),
            "error": self._error,
        }
