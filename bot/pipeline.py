"""Message in, Decision out: addressed to us? seen before? decide, escalate, log. No HTTP, no XML."""
from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Callable, Protocol

from bot import replies
from bot.config import Config
from bot.model import Decision, Message
from bot.store import Store, Tx
from faq.replies import answer_text

log = logging.getLogger(__name__)

# Enterprises ask the same few questions over and over; deciding costs ~1.4 ms with the starter FAQ, a cache hit
# ~1 us. Per worker, per FAQ version, exact text.
DECISION_CACHE_SIZE = 4096


class Matcher(Protocol):
    def decide(self, text: str) -> Decision: ...


# Takes over a Decision of kind "escalate" inside the message's write transaction, so the
# ticket (next issue) and the message row commit together or not at all.
Escalator = Callable[[Message, Decision, Tx], Decision]

# Acknowledges, from reads alone, a question its asker already waits on a ticket for: asking
# again commits nothing new, so it needs no write lock. None: the Escalator takes it.
Repeat = Callable[[Message, Decision], "Decision | None"]

# Recognises a command (a cadre's "#12 答复内容" in a cadre group) before the FAQ sees the message;
# the function it returns runs inside the message's write transaction, so a retried command
# is carried out once.
Commander = Callable[[Message], "Callable[[Tx], Decision] | None"]


def acknowledge(message: Message, decision: Decision, tx: Tx) -> Decision:
    """The default escalation: the message row is the record; the matcher's reply already says it was passed on."""
    decision.reply = decision.reply or replies.ESCALATED
    return decision


LOG_BATCH_SECONDS = 0.05


class LogBatcher:
    """Collects answered messages' log rows and writes them in one transaction every 50 ms.

    Two workers each committing one row per message spent more time coordinating over the
    shared SQLite file than on the rest of a request. Tickets and joins never wait here: an
    escalation commits before its reply leaves. A crash loses at most the last 50 ms of log rows
    of messages that were answered, ignored, or asked again by someone already on the ticket.

    Under load the request thread writes the batch once its reply has been sent (flush_due);
    a background thread writes what is left when requests stop coming.
    """

    def __init__(self, store: Store):
        self.store = store
        self._rows: list[tuple] = []
        self._oldest = 0.0  # monotonic time of the first row not yet written
        self._waiting: dict[str, Decision] = {}  # key -> decision of the rows not yet written
        self._lock = threading.Lock()
        self._wake = threading.Event()
        threading.Thread(target=self._run, name="log-batcher", daemon=True).start()
        atexit.register(self.flush)

    def add(self, row: tuple) -> None:
        with self._lock:
            if not self._rows:
                self._oldest = time.monotonic()
                self._wake.set()
            self._rows.append(row)
            self._waiting.setdefault(row[0], row[2])

    def waiting(self, key: str) -> Decision | None:
        """The decision of a message whose row is not written yet (a retry must meet it too)."""
        with self._lock:
            return self._waiting.get(key)

    def flush_due(self, age: float | None = None) -> None:
        """Write the batch if its first row has waited `age` seconds (LOG_BATCH_SECONDS)."""
        age = LOG_BATCH_SECONDS if age is None else age
        if self._rows and time.monotonic() - self._oldest >= age:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
        try:
            self.store.log_messages(rows)
        except Exception:  # the database is gone or locked for seconds: keep the rows for next time
            log.exception("could not write %d message log rows; will retry", len(rows))
            with self._lock:
                if not self._rows:
                    self._oldest = time.monotonic()
                self._rows[:0] = rows
            return
        with self._lock:
            for row in rows:
                self._waiting.pop(row[0], None)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(2 * LOG_BATCH_SECONDS)
            # Requests flush their own batches while they keep coming (flush_due); this is for the
            # rows of the last requests before a pause.
            self.flush_due(2 * LOG_BATCH_SECONDS)
            if self._rows:
                self._wake.set()


def dedup_key(message: Message) -> str:
    """One key per message across retries: the channel plus the channel's message id."""
    return f"{message.channel}:{message.msg_id}"


class Pipeline:
    """Runs every inbound Message through the same steps, whatever channel it came from."""

    def __init__(
        self,
        matcher_source: Callable[[], Matcher],
        store: Store,
        config: Config,
        *,
        escalate: Escalator = acknowledge,
        repeat: Repeat | None = None,
        command: Commander | None = None,
        clock: Callable[[], float] = time.time,
        batch_log: bool = False,
    ):
        self.matcher_source = matcher_source
        self.store = store
        self.config = config
        self.escalate = escalate
        self.repeat = repeat
        self.command = command
        self.clock = clock
        self._cache: OrderedDict[str, Decision] = OrderedDict()
        self._cache_matcher: object = None
        self._cache_lock = threading.Lock()
        self._log = LogBatcher(store) if batch_log else None

    def flush(self) -> None:
        """Write out log rows still waiting in this process (batch_log)."""
        if self._log is not None:
            self._log.flush()

    def flush_due(self) -> None:
        """Write the log batch if it is due (batch_log); call it after a reply has been sent."""
        if self._log is not None:
            self._log.flush_due()

    def handle(self, message: Message) -> Decision:
        """Decide what to do with a text message; a retry gets its reply again, and is never escalated or logged twice."""
        started = time.perf_counter()
        run = self.command(message) if self.command is not None else None
        if run is not None:
            return self._record_command(message, run, started)
        if message.is_group and not message.mentioned:
            # Group chatter not addressed to us: recorded, never answered.
            return self._record(message, Decision("ignore"), started)
        # A retry is decided again (cheaply, from the cache); an escalation or a command then meets
        # its first attempt's row in _record, which wins (an answer is the same answer again).
        return self._record(message, self._decide(message.text), started)

    def recorded(self, key: str) -> Decision | None:
        """The Decision logged for a message key, its reply filled in (an answer's from the current FAQ)."""
        prior = self.store.find_decision(key)
        return None if prior is None else self._as_sent(prior, None)

    def _as_sent(self, prior: Decision, fresh: Decision | None) -> Decision:
        """A logged Decision with its reply: an answer's row keeps only the entry (see Store.log_message).

        Its text comes from the current FAQ. If the FAQ no longer has the entry, the bot says what
        it would say now (`fresh`) when that needs no ticket, and otherwise asks for the question
        again: a retry must not open a ticket its first attempt did not, nor claim one.
        """
        if prior.kind != "answer" or prior.reply:
            return prior
        faq = getattr(self.matcher_source(), "faq", None)
        if faq is not None and prior.faq_id in faq.by_id:
            return replace(prior, reply=answer_text(faq, prior.faq_id), faq_version=faq.version)
        return fresh if fresh is not None and fresh.kind != "escalate" else replace(prior, reply=replies.ANSWER_CHANGED)

    def handle_other(self, message: Message, reply: str) -> Decision:
        """Record a non-text message or event that gets a fixed reply (or none), once."""
        return self._record(message, Decision("ignore", reply=reply), time.perf_counter())

    def _decide(self, text: str) -> Decision:
        matcher = self.matcher_source()
        with self._cache_lock:
            if matcher is not self._cache_matcher:  # a reloaded FAQ starts a fresh cache
                self._cache.clear()
                self._cache_matcher = matcher
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
        if cached is None:
            cached = matcher.decide(text)  # courtesies come back as "ignore", never escalated
            with self._cache_lock:
                if matcher is self._cache_matcher:
                    self._cache[text] = cached
                    if len(self._cache) > DECISION_CACHE_SIZE:
                        self._cache.popitem(last=False)
        # The escalation step fills in the reply and ticket: it gets a copy. Nothing else
        # changes a Decision, so the others are shared.
        if cached.kind == "escalate":
            return replace(cached, candidates=list(cached.candidates))
        return cached

    def _record(self, message: Message, decision: Decision, started: float) -> Decision:
        """Log the message once; for a retry, return what its first attempt decided instead."""
        key = dedup_key(message)
        if decision.kind != "escalate":
            return self._record_plain(key, message, decision, started)
        # A retry of an escalation (WeChat retries after 5 s) is found without taking the write lock;
        # so is a first attempt that was answered, whose row may still wait in the batch.
        waiting = self._log.waiting(key) if self._log is not None else None
        if waiting is not None:
            return waiting
        with self.store.reading():
            prior = self.store.find_decision(key)
            again = self.repeat(message, decision) if prior is None and self.repeat is not None else None
        if prior is not None:
            return self._as_sent(prior, None)
        if again is not None:
            return self._record_plain(key, message, again, started)
        # Escalation writes more than the log row (a ticket): one transaction holding the write
        # lock. Two workers racing on the same retry: the second finds the key logged when it
        # inserts its row, and its ticket writes roll back with it.
        try:
            with self.store.transaction() as tx:
                decision = self.escalate(message, decision, tx)
                if not tx.log_message(key, message, decision, _ms_since(started)):
                    raise _AlreadyLogged
        except _AlreadyLogged:
            return self._as_sent(self.store.find_decision(key), None)
        return decision

    def _record_plain(self, key: str, message: Message, decision: Decision, started: float) -> Decision:
        """Log a message whose handling commits nothing else (an answer, a courtesy, a repeat)."""
        if self._log is not None:
            # The same for a retry (an answer is decided again from the same FAQ), so it needs no
            # lookup; its log row follows within LOG_BATCH_SECONDS, and the unique key keeps one.
            # (Should the other worker have handled a retry of it differently meanwhile, say a
            # repeat whose ticket closed in between, its row is the one kept.)
            self._log.add((key, message, decision, _ms_since(started)))
            return decision
        prior = self.store.record_once(key, message, decision, _ms_since(started))
        return decision if prior is None else self._as_sent(prior, decision)

    def _record_command(self, message: Message, run: Callable[[Tx], Decision], started: float) -> Decision:
        """Carry out a command once: its writes and the message row commit together."""
        key = dedup_key(message)
        with self.store.transaction() as tx:
            prior = tx.find_decision(key)
            if prior is not None:
                return prior
            decision = run(tx)
            tx.log_message(key, message, decision, _ms_since(started))
        return decision


class _AlreadyLogged(Exception):
    """Another worker logged this message first: undo this attempt's writes."""


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000

