"""The one SQLite database (sqlite-utils, WAL); all SQL in the project lives here."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import sqlite_utils

from bot.model import Candidate, Decision, Message

# Writes take well under a millisecond; waiting up to 3 s for a lock still leaves
# room inside WeChat's 5-second deadline.
BUSY_TIMEOUT_MS = 3000
T = TypeVar("T")

_MESSAGE_COLUMNS = {
    "id": int,
    "dedup_key": str,  # channel + the channel's message id; a retry maps to the same key
    "channel": str,
    "chat": str,
    "user": str,
    "text": str,
    "msg_id": str,
    "is_group": int,
    "mentioned": int,
    "response_url": str,  # WeCom smart robot; single use, valid one hour from response_url_at
    "response_url_at": float,
    "received_at": float,
    "decision": str,
    "faq_id": str,
    "score": float,
    "candidates": str,  # JSON [[faq_id, score], ...]
    "reply": str,  # the whole reply; channels may split it for sending
    "ticket": int,
    "handled_ms": float,
}
_INSERT_MESSAGE = "INSERT OR IGNORE INTO messages ({}) VALUES ({})".format(
    ", ".join(c for c in _MESSAGE_COLUMNS if c != "id"), ", ".join("?" for c in _MESSAGE_COLUMNS if c != "id")
)


def _decision_from_row(row: sqlite3.Row) -> Decision:
    candidates = [Candidate(faq_id, score) for faq_id, score in json.loads(row["candidates"] or "[]")]
    return Decision(
        kind=row["decision"],
        faq_id=row["faq_id"],
        score=row["score"] or 0.0,
        candidates=candidates,
        reply=row["reply"] or "",
        ticket=row["ticket"],
    )


class Tx:
    """One write transaction (BEGIN IMMEDIATE): the dedup check and every write it guards."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def find_decision(self, dedup_key: str) -> Decision | None:
        """The decision already recorded for this message, if it is a retry."""
        row = self.conn.execute("SELECT * FROM messages WHERE dedup_key = ?", (dedup_key,)).fetchone()
        return _decision_from_row(row) if row else None

    def log_message(self, dedup_key: str, message: Message, decision: Decision, handled_ms: float) -> bool:
        """Record an inbound message and what was done with it; False if its key was already logged."""
        values = (
            dedup_key, message.channel, message.chat, message.user, message.text, message.msg_id,
            int(message.is_group), int(message.mentioned), message.response_url,
            message.received_at if message.response_url else None, message.received_at,
            decision.kind, decision.faq_id, decision.score,
            json.dumps([[c.faq_id, c.score] for c in decision.candidates]) if decision.candidates else "[]",
            decision.reply, decision.ticket, round(handled_ms, 3),
        )
        cur = self.conn.execute(_INSERT_MESSAGE, values)
        return cur.rowcount == 1


def _when_unlocked(statement: Callable[[], T]) -> T:
    """Run a statement that needs the write lock, retrying quickly while another worker holds it.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ms... between tries, while a write here
    holds the lock for about 0.1 ms; polling every 0.1-2 ms hands the lock over sooner.
    A statement that failed with "locked" wrote nothing, so trying again is safe.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    attempt = 0
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
        attempt += 1
        # A sleep costs at least ~0.1 ms of idle worker; the lock is usually free sooner.
        time.sleep(0 if attempt < 50 else min(0.0001 * 2 ** (attempt - 50), 0.002))


class Store:
    """Opens the database once per thread; the schema is created idempotently."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection (sqlite3 connections must not be shared between threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode, so the transactions below are exactly the ones we BEGIN.
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            # No busy wait for statements: the write transactions poll for the lock themselves
            # (_begin_immediate); init() waits explicitly.
            conn.execute("PRAGMA busy_timeout = 0")
            # In WAL mode NORMAL loses at most the last commits on power loss, never corrupts.
            conn.execute("PRAGMA synchronous = NORMAL")
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    def init(self) -> "Store":
        """Create tables and indexes if missing and switch to WAL; safe to run in every worker."""
        db = self.db
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # workers start together
        db.enable_wal()
        db["messages"].create(_MESSAGE_COLUMNS, pk="id", not_null={"dedup_key"}, if_not_exists=True)
        db["messages"].create_index(["dedup_key"], unique=True, if_not_exists=True)
        # Partial: only escalations pay for it, and the queue lists exactly those.
        db.execute("CREATE INDEX IF NOT EXISTS messages_escalated ON messages (id) WHERE decision = 'escalate'")
        db.execute("PRAGMA busy_timeout = 0")
        return self

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction that holds SQLite's write lock from the start, so check-then-insert is atomic across workers."""
        conn = self.db.conn
        _when_unlocked(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield Tx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def record_once(self, dedup_key: str, message: Message, decision: Decision, handled_ms: float) -> Decision | None:
        """Log a message that needs no other write; if its key is already logged, return that Decision instead.

        One autocommitted INSERT OR IGNORE against the unique key: atomic across workers.
        """
        tx = Tx(self.db.conn)
        if _when_unlocked(lambda: tx.log_message(dedup_key, message, decision, handled_ms)):
            return None
        return tx.find_decision(dedup_key)

    def find_decision(self, dedup_key: str) -> Decision | None:
        """Read-only retry check, without taking the write lock."""
        return Tx(self.db.conn).find_decision(dedup_key)

    def escalations(self, limit: int | None = None) -> list[dict]:
        """Escalated messages, oldest first (one row per message; retries were never logged twice)."""
        sql = (
            "SELECT id, channel, chat, user, text, msg_id, is_group, response_url IS NOT NULL AS has_response_url,"
            " received_at, faq_id, score, ticket, reply FROM messages WHERE decision = 'escalate' ORDER BY id"
        )
        params: tuple = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        return [dict(row) for row in self.db.execute(sql, params).fetchall()]

    def messages(self, limit: int = 100) -> list[dict]:
        """The most recent logged messages, newest first."""
        rows = self.db.execute("SELECT * FROM messages ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(row) for row in rows]

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None
