"""Message in, Decision out: addressed to us? seen before? decide, escalate, log. No HTTP, no XML."""
from __future__ import annotations

import logging
import time
from typing import Callable, Protocol

from bot import replies
from bot.config import Config
from bot.model import Decision, Message
from bot.store import Store, Tx

log = logging.getLogger(__name__)


class Matcher(Protocol):
    def decide(self, text: str) -> Decision: ...


# Takes over a Decision of kind "escalate" inside the message's write transaction, so the
# ticket (next issue) and the message row commit together or not at all.
Escalator = Callable[[Message, Decision, Tx], Decision]


def acknowledge(message: Message, decision: Decision, tx: Tx) -> Decision:
    """The default escalation: keep the message in the log and tell the asker it was passed on."""
    decision.reply = replies.ESCALATED
    return decision


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
        clock: Callable[[], float] = time.time,
    ):
        self.matcher_source = matcher_source
        self.store = store
        self.config = config
        self.escalate = escalate
        self.clock = clock

    def handle(self, message: Message) -> Decision:
        """Decide what to do with a text message; a retry gets the recorded Decision back unchanged."""
        started = time.perf_counter()
        key = dedup_key(message)
        if message.is_group and not message.mentioned:
            # Group chatter not addressed to us: recorded, never answered.
            return self._record(key, message, Decision("ignore"), started)
        prior = self.store.find_decision(key)
        if prior is not None:
            return prior
        decision = self.matcher_source().decide(message.text)
        if decision.kind == "escalate" and _is_courtesy(message.text, self.config.bot.name):
            decision = Decision("ignore", score=decision.score, candidates=decision.candidates)
        if decision.kind == "ignore":
            decision.reply = ""
        return self._record(key, message, decision, started)

    def handle_other(self, message: Message, reply: str) -> Decision:
        """Record a non-text message or event that gets a fixed reply (or none), once."""
        return self._record(dedup_key(message), message, Decision("ignore", reply=reply), time.perf_counter())

    def _record(self, key: str, message: Message, decision: Decision, started: float) -> Decision:
        # The dedup check is repeated under the write lock: two workers racing on the
        # same retry both decide, but only the first commits, and the second returns its row.
        with self.store.transaction() as tx:
            prior = tx.find_decision(key)
            if prior is not None:
                return prior
            if decision.kind == "escalate":
                decision = self.escalate(message, decision, tx)
            handled_ms = (time.perf_counter() - started) * 1000
            tx.log_message(key, message, decision, handled_ms)
        return decision


def _is_courtesy(text: str, bot_name: str) -> bool:
    from faq.text import clean, is_courtesy

    cleaned = clean(text, bot_name)
    return not cleaned or is_courtesy(cleaned)
