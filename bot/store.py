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
TOKEN_EXPIRY_SLACK = 10  # seconds: a token this close to expiry is not handed out (a send takes a while)
# A process without a background checkpointer (the CLI, tests) checkpoints as SQLite does by default.
AUTOCHECKPOINT_PAGES = 1000
# How often the background checkpointer looks for the last WAL frames to copy while it holds the
# lock: a reader of an older snapshot holds them back only for the rest of its request.
WAL_RESET_TRIES = 8
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
    "reply": str,  # the whole reply (NULL for an FAQ answer: the entry's answer in faq_version); channels may split it
    "faq_version": str,  # which edit of the FAQ file decided (faq.loader.Faq.version)
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
            # An answer's text is its entry's in that FAQ version: a kilobyte a message not written again.
            None if decision.kind == "answer" else decision.reply, decision.faq_version or None,
            decision.ticket, round(handled_ms, 3),
        )
        cur = self.conn.execute(_INSERT_MESSAGE, values)
        return cur.rowcount == 1


def _when_unlocked(statement: Callable[[], T]) -> T:
    """Run a statement that needs the write lock, retrying soon while another worker holds it.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ms... between tries, while a write here
    holds the lock for about 0.1 ms; sleeping 0.1, 0.2, 0.4 ... 1.6 ms hands the lock over sooner.
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
        # Sleep, don't spin: on a two-core machine a spinning worker takes the CPU from the
        # worker holding the lock (measured: a third of request time went to spinning).
        time.sleep(0.00005 * 2 ** min(attempt, 5))  # 0.1 ms doubling to 1.6 ms



# --- The cadre queue: tickets, askers, audit, outbox, delivery attempts ------------------------

_QUEUE_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tickets (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL,               -- open, claimed, answered, closed
        question TEXT NOT NULL,             -- as first asked
        normalized TEXT NOT NULL,           -- faq.text.normalize(question): what merging compares
        team TEXT NOT NULL,
        category TEXT,
        route TEXT,                         -- faq:<entry>, keyword:<word> or default
        created_at REAL NOT NULL,
        due_at REAL NOT NULL,
        claimed_by TEXT, claimed_at REAL,
        answer TEXT, answer_faq_id TEXT, answered_by TEXT, answered_at REAL,
        answer_round INTEGER NOT NULL DEFAULT 0,  -- answers given so far (a reopened ticket is answered again)
        closed_at REAL,
        reminded_at REAL, alerted_at REAL,  -- the cadre group was reminded / alerted (once per deadline)
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS tickets_active ON tickets (created_at) WHERE status IN ('open', 'claimed')",
    "CREATE INDEX IF NOT EXISTS tickets_active_text ON tickets (normalized) WHERE status IN ('open', 'claimed')",
    "CREATE INDEX IF NOT EXISTS tickets_status_due ON tickets (status, due_at)",
    """CREATE TABLE IF NOT EXISTS askers (
        id INTEGER PRIMARY KEY,
        ticket INTEGER NOT NULL REFERENCES tickets (id),
        channel TEXT NOT NULL, chat TEXT NOT NULL, user TEXT NOT NULL,
        text TEXT NOT NULL, msg_id TEXT, dedup_key TEXT,
        response_url TEXT, response_url_at REAL, response_url_used_at REAL,
        asked_at REAL NOT NULL
    )""",
    # Finding "has this person asked this ticket before" must not scan every asker of a popular ticket.
    "CREATE INDEX IF NOT EXISTS askers_ticket_user ON askers (ticket, user, channel, chat)",
    "DROP INDEX IF EXISTS askers_ticket",  # its prefix of the index above (databases made before it)
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY,
        ticket INTEGER NOT NULL,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT                         -- JSON
    )""",
    "CREATE INDEX IF NOT EXISTS audit_ticket ON audit (ticket)",
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY,
        dedup TEXT NOT NULL UNIQUE,         -- one row per thing to say: answer:<ticket>:<round>:<asker>, alert:...
        kind TEXT NOT NULL,                 -- answer, reminder, alert
        ticket INTEGER,
        asker INTEGER,                      -- for answers: the asker it goes to
        chat TEXT NOT NULL DEFAULT '',      -- for reminders and alerts: the cadre group
        text TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',  -- pending, sending (leased), delivered, failed, superseded
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        lease_token TEXT, lease_until REAL,
        route TEXT,                         -- the route of the latest attempt
        parts_done INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at REAL NOT NULL,
        delivered_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_at) WHERE status IN ('pending', 'sending')",
    "CREATE INDEX IF NOT EXISTS outbox_ticket ON outbox (ticket)",
    """CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY,
        outbox INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        part INTEGER NOT NULL,
        route TEXT NOT NULL,
        target TEXT,                        -- for robot webhooks: a hash of the key (the rate limit is per robot)
        started_at REAL NOT NULL,
        finished_at REAL,
        ok INTEGER,
        error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS deliveries_outbox ON deliveries (outbox)",
    "CREATE INDEX IF NOT EXISTS deliveries_target ON deliveries (target, started_at) WHERE target IS NOT NULL",
    # Housekeeping that one process of all does now and then (the daily prune): when each is due next.
    """CREATE TABLE IF NOT EXISTS chores (
        name TEXT PRIMARY KEY,
        next_at REAL NOT NULL
    )""",
    # wechatpy's access tokens, shared by every worker process (bot/senders.SharedTokens).
    """CREATE TABLE IF NOT EXISTS api_tokens (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        refresh_at REAL NOT NULL,           -- from then on one process fetches a new token (it claims the refresh)
        expires_at REAL NOT NULL            -- meanwhile the others go on with this one until it expires
    )""",
)

_TICKET_FIELDS = {
    "status", "question", "normalized", "team", "category", "route", "created_at", "due_at", "claimed_by",
    "claimed_at", "answer", "answer_faq_id", "answered_by", "answered_at", "answer_round", "closed_at",
    "reminded_at", "alerted_at", "updated_at",
}
_ASKER_FIELDS = {
    "ticket", "channel", "chat", "user", "text", "msg_id", "dedup_key", "response_url", "response_url_at",
    "response_url_used_at", "asked_at",
}


def _insert(conn: sqlite3.Connection, table: str, allowed: set[str], values: dict, verb: str = "INSERT") -> int:
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown {table} columns: {sorted(unknown)}")
    cols = list(values)
    cur = conn.execute(
        f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [values[c] for c in cols],
    )
    return cur.lastrowid if cur.rowcount else 0


def _set_clause(allowed: set[str], values: dict) -> tuple[str, list]:
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown columns: {sorted(unknown)}")
    return ", ".join(f"{c} = ?" for c in values), list(values.values())


ACTIVE_TICKET_WITH_TEXT = (
    "SELECT t.id, t.team, t.due_at, ("
    "SELECT a.id FROM askers a WHERE a.ticket = t.id AND a.user = ? AND a.channel = ? AND a.chat = ? LIMIT 1) AS asker"
    " FROM tickets t WHERE t.normalized = ? AND t.status IN ('open', 'claimed') AND t.created_at >= ? ORDER BY t.id LIMIT 1"
)
FIND_ASKER = "SELECT * FROM askers WHERE ticket = ? AND user = ? AND channel = ? AND chat = ? LIMIT 1"
# The tickets opened since the last look (a range of the primary key), for TicketQueue's copy of their texts.
TICKETS_AFTER = "SELECT id, normalized, created_at FROM tickets WHERE id > ? AND created_at >= ? ORDER BY id"


class QueueTx(Tx):
    """The queue's writes, inside one write transaction (see Store.transaction)."""

    # Tickets and askers
    def insert_ticket(self, **values) -> int:
        return _insert(self.conn, "tickets", _TICKET_FIELDS, values)

    def active_ticket_with_text(self, normalized: str, since: float, channel: str = "", chat: str = "",
                                user: str = "") -> dict | None:
        """The oldest open or claimed ticket since `since` whose normalised question is exactly this.

        Its id, team, due_at, and under "asker" the id of this person's asker row on it, if any.
        """
        row = self.conn.execute(ACTIVE_TICKET_WITH_TEXT, (user, channel, chat, normalized, since)).fetchone()
        return dict(row) if row else None

    def tickets_after(self, last_id: int, since: float) -> list[sqlite3.Row]:
        """id, normalized, created_at of the tickets after `last_id` opened since `since`, in id order."""
        return self.conn.execute(TICKETS_AFTER, (last_id, since)).fetchall()

    def active_tickets(self, ids: list[int], since: float) -> dict[int, dict]:
        """id -> id, normalized, team, due_at of those of these tickets that are open or claimed and opened since `since`."""
        marks = ", ".join("?" for _ in ids)
        rows = self.conn.execute(
            f"SELECT id, normalized, team, due_at FROM tickets WHERE id IN ({marks}) AND status IN ('open', 'claimed')"
            " AND created_at >= ?", [*ids, since]
        ).fetchall()
        return {row["id"]: dict(row) for row in rows}

    def find_asker(self, ticket_id: int, channel: str, chat: str, user: str) -> dict | None:
        """This person's asker row on the ticket, if they asked it before."""
        row = self.conn.execute(FIND_ASKER, (ticket_id, user, channel, chat)).fetchone()
        return dict(row) if row else None

    def ticket(self, ticket_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return dict(row) if row else None

    def update_ticket(self, ticket_id: int, **values) -> None:
        clause, params = _set_clause(_TICKET_FIELDS, values)
        self.conn.execute(f"UPDATE tickets SET {clause} WHERE id = ?", (*params, ticket_id))

    def askers(self, ticket_id: int) -> list[dict]:
        rows = self.conn.execute("SELECT * FROM askers WHERE ticket = ? ORDER BY id", (ticket_id,)).fetchall()
        return [dict(r) for r in rows]

    def add_asker(self, **values) -> int:
        return _insert(self.conn, "askers", _ASKER_FIELDS, values)

    def update_asker(self, asker_id: int, **values) -> None:
        clause, params = _set_clause(_ASKER_FIELDS, values)
        self.conn.execute(f"UPDATE askers SET {clause} WHERE id = ?", (*params, asker_id))

    def audit(self, ticket_id: int, at: float, actor: str, action: str, detail: dict | None = None) -> None:
        self.conn.execute(
            "INSERT INTO audit (ticket, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (ticket_id, at, actor, action, json.dumps(detail or {}, ensure_ascii=False)),
        )

    # Deadlines
    def tickets_to_remind(self, now: float, lead_seconds: float) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM tickets WHERE status IN ('open', 'claimed') AND reminded_at IS NULL"
            " AND alerted_at IS NULL AND due_at - ? <= ? AND due_at > ? ORDER BY due_at, id",
            (lead_seconds, now, now),
        ).fetchall()
        return [dict(r) for r in rows]

    def tickets_to_alert(self, now: float) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM tickets WHERE status IN ('open', 'claimed') AND alerted_at IS NULL AND due_at <= ?"
            " ORDER BY due_at, id",
            (now,),
        ).fetchall()
        return [dict(r) for r in rows]

    # Outbox
    def enqueue(self, dedup: str, kind: str, text: str, now: float, *, ticket: int | None = None,
                asker: int | None = None, chat: str = "") -> bool:
        """Queue one message; False if a row with this dedup key exists (it is never queued twice)."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO outbox (dedup, kind, ticket, asker, chat, text, next_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (dedup, kind, ticket, asker, chat, text, now, now),
        )
        return cur.rowcount == 1

    def due_outbox(self, now: float, limit: int) -> list[dict]:
        """Pending items that are due, and leased items whose lease has run out (their worker died)."""
        rows = self.conn.execute(
            "SELECT * FROM outbox WHERE status IN ('pending', 'sending') AND next_at <= ?"
            " AND (status = 'pending' OR lease_until < ?) ORDER BY next_at, id LIMIT ?",
            (now, now, limit),
        ).fetchall()
        return [dict(r) for r in rows]

    def asker(self, asker_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM askers WHERE id = ?", (asker_id,)).fetchone()
        return dict(row) if row else None

    def robot_posts_since(self, target: str, since: float) -> list[float]:
        rows = self.conn.execute(
            "SELECT started_at FROM deliveries WHERE target = ? AND started_at > ? ORDER BY started_at",
            (target, since),
        ).fetchall()
        return [r[0] for r in rows]

    def lease(self, outbox_id: int, token: str, until: float, route: str, attempts: int) -> None:
        self.conn.execute(
            "UPDATE outbox SET status = 'sending', lease_token = ?, lease_until = ?, route = ?, attempts = ?"
            " WHERE id = ?",
            (token, until, route, attempts, outbox_id),
        )

    def defer(self, outbox_id: int, next_at: float, reason: str | None = None) -> None:
        """Not sendable yet (a robot's rate limit): try again at next_at without counting an attempt."""
        self.conn.execute(
            "UPDATE outbox SET status = 'pending', lease_token = NULL, lease_until = NULL, next_at = ?,"
            " last_error = COALESCE(?, last_error) WHERE id = ?",
            (next_at, reason, outbox_id),
        )

    def fail_now(self, outbox_id: int, error: str, at: float) -> None:
        """Failed for good (no route, too many attempts); recorded in the ticket's audit trail."""
        self.conn.execute(
            "UPDATE outbox SET status = 'failed', lease_token = NULL, lease_until = NULL, last_error = ? WHERE id = ?",
            (error, outbox_id),
        )
        _audit_failed_delivery(self.conn, outbox_id, at, error)

    def plan_failed(self, outbox_id: int, attempts: int, error: str, next_at: float) -> None:
        """Planning the item raised (a bug or odd data): count an attempt and retry it later."""
        self.conn.execute(
            "UPDATE outbox SET status = 'pending', lease_token = NULL, lease_until = NULL, attempts = ?,"
            " last_error = ?, next_at = ? WHERE id = ?",
            (attempts, error, next_at, outbox_id),
        )

    def response_url_in_flight(self, asker_id: int, outbox_id: int, now: float) -> bool:
        """Another item for this asker holds a lease on the response_url route (it may be sending on it now)."""
        row = self.conn.execute(
            "SELECT 1 FROM outbox WHERE asker = ? AND id != ? AND route = 'response_url'"
            " AND status IN ('sending', 'superseded') AND lease_token IS NOT NULL AND lease_until >= ? LIMIT 1",
            (asker_id, outbox_id, now),
        ).fetchone()
        return row is not None

    def supersede(self, outbox_id: int, reason: str) -> None:
        """One pending item that must not be sent any more."""
        self.conn.execute(
            "UPDATE outbox SET status = 'superseded', last_error = ?, lease_token = NULL, lease_until = NULL"
            " WHERE id = ? AND status IN ('pending', 'sending')",
            (reason, outbox_id),
        )

    def supersede_answers(self, ticket_id: int, reason: str) -> int:
        """An earlier answer is withdrawn (the ticket was reopened): its undelivered items are never sent.

        A leased item keeps its lease (its worker may be sending right now; it cannot renew the
        lease for another part, and no other item for the asker uses the response_url meanwhile).
        """
        cur = self.conn.execute(
            "UPDATE outbox SET status = 'superseded', last_error = ?,"
            " lease_token = CASE WHEN status = 'sending' THEN lease_token END,"
            " lease_until = CASE WHEN status = 'sending' THEN lease_until END"
            " WHERE ticket = ? AND kind = 'answer' AND status IN ('pending', 'sending')",
            (reason, ticket_id),
        )
        return cur.rowcount

    def add_attempt(self, outbox_id: int, attempt: int, part: int, route: str, target: str | None, at: float) -> int:
        cur = self.conn.execute(
            "INSERT INTO deliveries (outbox, attempt, part, route, target, started_at) VALUES (?, ?, ?, ?, ?, ?)",
            (outbox_id, attempt, part, route, target, at),
        )
        return cur.lastrowid


def _audit_failed_delivery(conn: sqlite3.Connection, outbox_id: int, at: float, error: str) -> None:
    row = conn.execute("SELECT ticket, kind, asker, chat, attempts FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
    if row is None or row["ticket"] is None:
        return
    detail = {"outbox": outbox_id, "kind": row["kind"], "asker": row["asker"], "chat": row["chat"] or None,
              "attempts": row["attempts"], "error": error}
    conn.execute(
        "INSERT INTO audit (ticket, at, actor, action, detail) VALUES (?, ?, 'system', 'delivery_failed', ?)",
        (row["ticket"], at, json.dumps(detail, ensure_ascii=False)),
    )


class QueueStore:
    """The queue's reads and its small writes outside the escalation transaction; mixed into Store."""

    db: sqlite_utils.Database

    @contextmanager
    def queue_transaction(self) -> Iterator[QueueTx]:
        """Store.transaction(), handing out the queue's writes."""
        with self.transaction() as tx:
            yield QueueTx(tx.conn)

    def tickets(self, statuses: tuple[str, ...] | None = None, team: str | None = None,
                due_before: float | None = None, ids: list[int] | None = None) -> list[dict]:
        """Tickets (oldest first) with their askers under "askers"."""
        where, params = [], []
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params += list(statuses)
        if team:
            where.append("team = ?")
            params.append(team)
        if due_before is not None:
            where.append("due_at <= ?")
            params.append(due_before)
        if ids is not None:
            where.append(f"id IN ({', '.join('?' for _ in ids)})")
            params += ids
        sql = "SELECT * FROM tickets" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        tickets = [dict(r) for r in self.db.execute(sql, params).fetchall()]
        if not tickets:
            return []
        by_id = {t["id"]: t for t in tickets}
        for t in tickets:
            t["askers"] = []
        marks = ", ".join("?" for _ in by_id)
        for row in self.db.execute(f"SELECT * FROM askers WHERE ticket IN ({marks}) ORDER BY id", list(by_id)).fetchall():
            by_id[row["ticket"]]["askers"].append(dict(row))
        return tickets

    def ticket_with_askers(self, ticket_id: int) -> dict | None:
        found = self.tickets(ids=[ticket_id])
        return found[0] if found else None

    def audit_trail(self, ticket_id: int) -> list[dict]:
        """The ticket's history in time order: its audit rows, and a "joined" row for every later asker.

        Joining writes no audit row of its own (the asker row records who asked what, when).
        """
        rows = [dict(r) for r in self.db.execute("SELECT * FROM audit WHERE ticket = ? ORDER BY id", (ticket_id,))]
        askers = self.db.execute(
            "SELECT id, channel, user, text, asked_at FROM askers WHERE ticket = ? ORDER BY id", (ticket_id,)
        ).fetchall()
        # Databases from before this rule have "joined" rows of their own: not twice.
        recorded = {json.loads(r["detail"] or "{}").get("asker") for r in rows if r["action"] == "joined"}
        joined = [
            {"id": None, "ticket": ticket_id, "at": a["asked_at"], "actor": f"{a['channel']}:{a['user']}",
             "action": "joined", "detail": json.dumps({"asker": a["id"], "text": a["text"]}, ensure_ascii=False)}
            for a in askers[1:]  # the first asker opened the ticket: that has its own row
            if a["id"] not in recorded
        ]
        return sorted(rows + joined, key=lambda r: r["at"])  # stable: audit rows first at equal times

    def outbox_rows(self, ticket_id: int | None = None) -> list[dict]:
        if ticket_id is None:
            rows = self.db.execute("SELECT * FROM outbox ORDER BY id").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM outbox WHERE ticket = ? ORDER BY id", (ticket_id,)).fetchall()
        return [dict(r) for r in rows]

    def delivery_attempts(self, outbox_id: int) -> list[dict]:
        rows = self.db.execute("SELECT * FROM deliveries WHERE outbox = ? ORDER BY id", (outbox_id,)).fetchall()
        return [dict(r) for r in rows]

    def next_outbox_due(self) -> float | None:
        """When the next pending item is due (a cheap read: workers sleep until then)."""
        row = self.db.execute(
            "SELECT MIN(CASE WHEN status = 'pending' THEN next_at ELSE MAX(next_at, lease_until) END)"
            " FROM outbox WHERE status IN ('pending', 'sending')"
        ).fetchone()
        return row[0] if row else None

    def _write(self, sql: str, params: tuple) -> int:
        conn = self.db.conn
        return _when_unlocked(lambda: conn.execute(sql, params)).rowcount

    def api_token(self, key: str, now: float, claim_seconds: float) -> str | None:
        """The stored access token; None when the caller is to fetch one (none valid, or it claims a due refresh)."""
        row = self.db.conn.execute("SELECT value, refresh_at, expires_at FROM api_tokens WHERE key = ?", (key,)).fetchone()
        if row is None or row["expires_at"] <= now + TOKEN_EXPIRY_SLACK:
            return None
        if row["refresh_at"] > now:
            return row["value"]
        # Due: the first caller fetches (its claim lapses if the fetch fails); the rest keep the old token.
        claimed = self._write("UPDATE api_tokens SET refresh_at = ? WHERE key = ? AND refresh_at <= ?",
                              (now + claim_seconds, key, now))
        return None if claimed else row["value"]

    def claim_chore(self, name: str, now: float, lease: float, every: float) -> bool:
        """True for the one caller, of all processes, that is to do a chore now.

        The claim lapses after `lease` s, so a chore that fails is tried again then (chore_done sets
        the next turn on success). A turn further ahead than `every` and a lease can be was set by a
        clock gone wrong: due now. (Clocks that differ by less only make the chore a little early.)
        """
        return bool(self._write(
            "INSERT INTO chores (name, next_at) VALUES (?1, ?2) ON CONFLICT (name)"
            " DO UPDATE SET next_at = excluded.next_at WHERE chores.next_at <= ?3 OR chores.next_at > ?3 + ?4",
            (name, now + lease, now, every + lease),
        ))

    def chore_done(self, name: str, next_at: float) -> None:
        self._write("UPDATE chores SET next_at = ? WHERE name = ?", (next_at, name))

    def save_api_token(self, key: str, value: str, refresh_at: float, expires_at: float) -> None:
        self._write(
            "INSERT INTO api_tokens (key, value, refresh_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (key)"
            " DO UPDATE SET value = excluded.value, refresh_at = excluded.refresh_at, expires_at = excluded.expires_at",
            (key, value, refresh_at, expires_at),
        )

    def drop_api_token(self, key: str) -> None:
        self._write("DELETE FROM api_tokens WHERE key = ?", (key,))

    def finish_attempt(self, attempt_id: int, at: float, ok: bool, error: str | None) -> None:
        self._write("UPDATE deliveries SET finished_at = ?, ok = ?, error = ? WHERE id = ?", (at, int(ok), error, attempt_id))

    def renew_lease(self, outbox_id: int, token: str, until: float) -> bool:
        """Extend a lease just before sending on it; False if it is no longer held (do not send)."""
        return self._write(
            "UPDATE outbox SET lease_until = ? WHERE id = ? AND lease_token = ? AND status = 'sending'",
            (until, outbox_id, token),
        ) == 1

    def release_superseded(self, outbox_id: int, token: str) -> None:
        """The holder of a superseded item's lease is done with it: the asker's response_url is free."""
        self._write(
            "UPDATE outbox SET lease_token = NULL, lease_until = NULL WHERE id = ? AND lease_token = ?"
            " AND status = 'superseded'",
            (outbox_id, token),
        )

    def failed_response_url_attempts(self, outbox_id: int, since: float) -> int:
        """Attempts of this item on the response_url (since it was received) that went out and failed."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE outbox = ? AND route = 'response_url' AND ok = 0"
            " AND started_at >= ? AND (error IS NULL OR error NOT LIKE 'not sent%')",
            (outbox_id, since),
        ).fetchone()
        return row[0]

    def failed_deliveries(self, ticket_ids: list[int]) -> dict[int, int]:
        """Ticket id -> how many of its outbox items ended failed (only tickets that have some)."""
        if not ticket_ids:
            return {}
        marks = ", ".join("?" for _ in ticket_ids)
        rows = self.db.execute(
            f"SELECT ticket, COUNT(*) FROM outbox WHERE status = 'failed' AND ticket IN ({marks}) GROUP BY ticket",
            list(ticket_ids),
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def tickets_with_failed_deliveries(self, statuses: tuple[str, ...]) -> list[int]:
        marks = ", ".join("?" for _ in statuses)
        rows = self.db.execute(
            f"SELECT DISTINCT t.id FROM tickets t JOIN outbox o ON o.ticket = t.id"
            f" WHERE o.status = 'failed' AND t.status IN ({marks}) ORDER BY t.id",
            list(statuses),
        ).fetchall()
        return [r[0] for r in rows]

    def part_sent(self, outbox_id: int, token: str, parts_done: int) -> bool:
        """Record a delivered part of a multi-part message; False if the lease was lost."""
        return self._write(
            "UPDATE outbox SET parts_done = ? WHERE id = ? AND lease_token = ?", (parts_done, outbox_id, token)
        ) == 1

    def delivered(self, outbox_id: int, token: str, at: float, used_response_url_of: int | None) -> bool:
        """Mark an item delivered (and its asker's response_url used); False if the lease was lost."""
        with self.queue_transaction() as tx:
            cur = tx.conn.execute(
                "UPDATE outbox SET status = 'delivered', delivered_at = ?, lease_token = NULL, lease_until = NULL,"
                " last_error = NULL WHERE id = ? AND lease_token = ?",
                (at, outbox_id, token),
            )
            if used_response_url_of is not None:
                tx.conn.execute(
                    "UPDATE askers SET response_url_used_at = ? WHERE id = ? AND response_url_used_at IS NULL",
                    (at, used_response_url_of),
                )
            return cur.rowcount == 1

    def attempt_failed(self, outbox_id: int, token: str, error: str, next_at: float | None,
                       at: float | None = None) -> bool:
        """Back to pending until next_at, or failed for good when next_at is None (with an audit row
        on the ticket); False if the lease was lost (or the item superseded meanwhile)."""
        if next_at is None:
            with self.queue_transaction() as tx:
                cur = tx.conn.execute(
                    "UPDATE outbox SET status = 'failed', lease_token = NULL, lease_until = NULL, last_error = ?"
                    " WHERE id = ? AND lease_token = ? AND status = 'sending'",
                    (error, outbox_id, token),
                )
                if cur.rowcount == 1:
                    _audit_failed_delivery(tx.conn, outbox_id, time.time() if at is None else at, error)
                return cur.rowcount == 1
        sql = ("UPDATE outbox SET status = 'pending', lease_token = NULL, lease_until = NULL, last_error = ?,"
               " next_at = ? WHERE id = ? AND lease_token = ? AND status = 'sending'")
        return self._write(sql, (error, next_at, outbox_id, token)) == 1

    def mark_response_url_used(self, asker_id: int, at: float) -> None:
        self._write("UPDATE askers SET response_url_used_at = ? WHERE id = ? AND response_url_used_at IS NULL", (at, asker_id))


PRUNE_BATCH = 2000  # rows per transaction: a running server's writes wait a few milliseconds at most
PRUNE_TICKET_BATCH = 200  # tickets per transaction, each with its askers, audit, outbox and deliveries (< 999 ids)
_FINISHED_DELIVERY = ("started_at < ?1 AND EXISTS (SELECT 1 FROM outbox o WHERE o.id = deliveries.outbox"
                      " AND o.status IN ('delivered', 'failed', 'superseded'))")
# The newest ticket stays, so that its number is never given again (ids are the highest in use + 1);
# so does one with something still to send.
_PRUNABLE_TICKET = ("tickets.status = 'closed' AND tickets.closed_at < ?1 AND tickets.id < (SELECT MAX(id) FROM tickets)"
                    " AND NOT EXISTS (SELECT 1 FROM outbox unsent WHERE unsent.ticket = tickets.id"
                    " AND unsent.status IN ('pending', 'sending'))")


def _marks(values) -> str:
    return ", ".join("?" * len(values))


class Store(QueueStore):
    """Opens the database once per thread; the schema is created idempotently."""

    def __init__(self, path: str | Path, *, background_checkpoints: bool = False):
        """background_checkpoints: a thread of this process calls checkpoint() every second or so,
        so commits never checkpoint (see checkpoint)."""
        self.path = Path(path)
        self.background_checkpoints = background_checkpoints
        self._local = threading.local()

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection (sqlite3 connections must not be shared between threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self._connect())
            self._local.db = db
        return db

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode, so the transactions below are exactly the ones we BEGIN.
        # Setting up may wait for another process that is creating the schema ...
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        # In WAL mode NORMAL loses at most the last commits on power loss, never corrupts.
        conn.execute("PRAGMA synchronous = NORMAL")
        # With a background checkpointer no commit checkpoints: under steady load from two workers
        # the WAL never started over, so once past the threshold every commit checkpointed.
        conn.execute(f"PRAGMA wal_autocheckpoint = {0 if self.background_checkpoints else AUTOCHECKPOINT_PAGES}")
        conn.execute("PRAGMA journal_size_limit = 67108864")  # the WAL file shrinks back to 64 MB
        # ... but statements do not wait: write transactions poll for the lock themselves
        # (_when_unlocked); init() waits explicitly.
        conn.execute("PRAGMA busy_timeout = 0")
        return conn

    def init(self) -> "Store":
        """Create tables and indexes if missing and switch to WAL; safe to run in every worker at once."""
        db = self.db
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        deadline = time.monotonic() + 10
        while True:
            try:
                self._create_schema(db)
                break
            except sqlite3.OperationalError as exc:
                # Two processes creating the schema together can deadlock on lock upgrades, which
                # SQLite reports at once instead of waiting: start over, the loser finds it done.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        db.execute("PRAGMA busy_timeout = 0")
        return self

    def _create_schema(self, db: sqlite_utils.Database) -> None:
        db.enable_wal()
        db["messages"].create(_MESSAGE_COLUMNS, pk="id", not_null={"dedup_key"}, if_not_exists=True)
        db["messages"].create_index(["dedup_key"], unique=True, if_not_exists=True)
        if "faq_version" not in db["messages"].columns_dict:  # a database made before the column
            try:
                db.execute("ALTER TABLE messages ADD COLUMN faq_version TEXT")
            except sqlite3.OperationalError as exc:  # another worker added it first
                if "duplicate column" not in str(exc):
                    raise
        # Escalations are listed from tickets now; this index only cost every escalation a page write.
        db.execute("DROP INDEX IF EXISTS messages_escalated")
        for statement in _QUEUE_SCHEMA:
            db.execute(statement)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Several reads of this thread's connection in one snapshot (each statement alone would set up its own)."""
        conn = self.db.conn
        conn.execute("BEGIN")  # deferred: a read takes no lock that keeps a writer waiting
        try:
            yield
        finally:
            conn.execute("COMMIT")

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

    def log_messages(self, rows: list[tuple[str, Message, Decision, float]]) -> None:
        """Log several answered messages in one transaction (INSERT OR IGNORE: a retry logged first wins)."""
        if not rows:
            return
        with self.transaction() as tx:
            for dedup_key, message, decision, handled_ms in rows:
                tx.log_message(dedup_key, message, decision, handled_ms)

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

    # ---- Housekeeping (run.py db …) ------------------------------------------------------------

    def prunable(self, before: float, tickets: bool) -> dict[str, int]:
        """What prune(before, tickets) would delete: log messages, delivery attempts and tickets."""
        deliveries = _FINISHED_DELIVERY
        if tickets:
            deliveries = (f"({deliveries}) OR EXISTS (SELECT 1 FROM outbox o JOIN tickets ON tickets.id = o.ticket"
                          f" WHERE o.id = deliveries.outbox AND {_PRUNABLE_TICKET})")
        count = {"messages": ("messages", "received_at < ?1"), "deliveries": ("deliveries", deliveries)}
        if tickets:
            count["tickets"] = ("tickets", _PRUNABLE_TICKET)
        with self.reading():
            return {name: self.db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", (before,)).fetchone()[0]
                    for name, (table, where) in count.items()}

    def prune(self, before: float, tickets: bool, batch: int = PRUNE_BATCH,
              ticket_batch: int = PRUNE_TICKET_BATCH) -> dict[str, int]:
        """Delete the message log and finished delivery attempts from before a time; with tickets, closed tickets too."""
        done = {"messages": self._prune_rows("messages", "received_at < ?1", before, batch),
                "deliveries": self._prune_rows("deliveries", _FINISHED_DELIVERY, before, batch)}
        if tickets:
            done["tickets"], children = self._prune_tickets(before, ticket_batch)
            done["deliveries"] += children
        return done

    def _prune_rows(self, table: str, where: str, before: float, batch: int) -> int:
        """Delete the rows of a table matching `where` (?1: the time), a batch per transaction."""
        conn, last, done = self.db.conn, 0, 0
        while True:
            # Found outside the write lock (the table may have no index for `where`), checked again inside.
            ids = [r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id > ?2 AND ({where}) ORDER BY id LIMIT ?3",
                                              (before, last, batch))]
            if not ids:
                return done
            first, last = ids[0], ids[-1]
            with self.transaction():
                # By id range, not an id list: SQLite before 3.32 takes at most 999 parameters.
                done += conn.execute(f"DELETE FROM {table} WHERE id BETWEEN ?2 AND ?3 AND ({where})",
                                     (before, first, last)).rowcount

    def _prune_tickets(self, before: float, batch: int) -> tuple[int, int]:
        """Delete prunable tickets with everything about them, each batch in one transaction; (tickets, deliveries)."""
        conn, last, tickets, deliveries = self.db.conn, 0, 0, 0
        while True:
            ids = [r[0] for r in conn.execute(f"SELECT id FROM tickets WHERE id > ?2 AND ({_PRUNABLE_TICKET}) ORDER BY id LIMIT ?3",
                                              (before, last, batch))]
            if not ids:
                return tickets, deliveries
            last = ids[-1]
            with self.transaction():
                # A ticket reopened since it was found stays.
                ids = [r[0] for r in conn.execute(f"SELECT id FROM tickets WHERE ({_PRUNABLE_TICKET}) AND id IN ({_marks(ids)})",
                                                  (before, *ids))]
                if not ids:
                    continue
                marks = _marks(ids)
                deliveries += conn.execute(
                    f"DELETE FROM deliveries WHERE outbox IN (SELECT id FROM outbox WHERE ticket IN ({marks}))", ids).rowcount
                for table in ("outbox", "audit", "askers"):
                    conn.execute(f"DELETE FROM {table} WHERE ticket IN ({marks})", ids)
                tickets += conn.execute(f"DELETE FROM tickets WHERE id IN ({marks})", ids).rowcount

    def backup(self, dest: Path) -> None:
        """A consistent copy of the database while it is in use (SQLite's online backup), without access tokens."""
        target = sqlite3.connect(dest)
        try:
            # In one step: it reads one snapshot, which in WAL mode holds up no writer. Copied in
            # steps, the backup would start over after every write of another process.
            self.db.conn.backup(target)
            with target:
                # Live credentials have no place in a backup (a database from before the table has none).
                if target.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'api_tokens'").fetchone():
                    target.execute("DELETE FROM api_tokens")
        finally:
            target.close()

    def checkpoint(self) -> bool:
        """Copy the WAL into the database so that the next write starts the WAL over; True if it will.

        A PASSIVE checkpoint alone copies every frame yet, under steady writes from two workers, the
        WAL never starts over: only a writer whose snapshot began after the copy was complete may
        rewind it, and by then another commit has added frames. Measured: the WAL grew by ~5,000
        frames a second and each escalation cost half as much again. So the first pass copies the
        bulk without blocking anyone, and the last few frames are copied while a second connection
        holds the write lock (well under a millisecond); the next writer rewinds the WAL.
        """
        busy, frames, copied = self._passive()
        if busy or frames == 0:
            return True  # another worker's checkpointer is at it, or the WAL is empty
        holder = getattr(self._local, "holder", None)
        if holder is None:
            holder = self._local.holder = self._connect()
        _when_unlocked(lambda: holder.execute("BEGIN IMMEDIATE"))
        try:
            for _ in range(WAL_RESET_TRIES):
                busy, frames, copied = self._passive()
                if not busy and frames == copied:
                    return True
                time.sleep(0.0002)  # a reader of an older snapshot is done within a request
            return False
        finally:
            holder.execute("ROLLBACK")

    def _passive(self) -> tuple[int, int, int]:
        """PRAGMA wal_checkpoint(PASSIVE): (busy, frames in the WAL, frames copied); never waits."""
        return tuple(self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None
        holder = getattr(self._local, "holder", None)
        if holder is not None:
            holder.close()
            self._local.holder = None
