"""The outbox worker: leases due items in SQLite, sends them, records every attempt, retries with backoff.

Several gunicorn workers and `run.py deliver` may run this at once: an item is taken by writing a
lease (status 'sending', a random token, lease_until) in a write transaction, so only one of them
holds it; completion is recorded only by the lease's holder. A worker that dies mid-send leaves a
lease that runs out, and the item is tried again: the only way a message can go out twice is a
crash between a successful send and the commit right after it.

Items are leased in batches but sent one after another, so the lease is renewed (only while it is
still held) right before each item and each part is sent: an item whose lease ran out meanwhile
(another worker may have taken it) is skipped, never sent a second time.

Routes per item and attempt (bot/senders): the asker's response_url while unused and under an
hour old (checked again at the moment of sending); else the group's robot webhook ([robots], or
the cadre group's key); else, one-to-one, the Official Account customer-service message or the
WeCom app message. A response_url that was refused (HTTP error status or errcode != 0) counts as
used: the next attempt takes the next route; one that timed out is tried once more at most. A
permanent errcode (senders.PERMANENT_ERRCODES) on the last route fails the item at once. An item
that ends failed gets an audit row on its ticket (`queue list` marks the ticket [投递失败]).
Only one item per asker is on the response_url at a time (it is single-use).
"""
from __future__ import annotations

import hashlib
import logging
import random
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from bot import senders
from bot.config import Config
from bot.senders import SendError
from bot.store import QueueTx, Store

log = logging.getLogger(__name__)

RESPONSE_URL_LIFETIME = 3600.0
RESPONSE_URL_MARGIN = 60.0  # do not start on a response_url in its last minute
BATCH = 4  # items leased at once by one thread


@dataclass
class Plan:
    """One leased item and how this attempt sends it."""

    row: dict
    token: str
    attempt: int
    route: str
    payloads: list = field(default_factory=list)
    send: Callable[[object], None] | None = None
    attempt_ids: list[int] = field(default_factory=list)
    asker_id: int | None = None
    target: str | None = None  # robot: a hash of the webhook key, for the per-robot rate limit
    url_received: float | None = None  # response_url: when it was received (it expires an hour later)


class NoRoute(Exception):
    """Nothing can carry this item (say, an expired response_url and no robot for the chat)."""


class _Wait(Exception):
    """Not now: try this item again at `until`, without counting an attempt."""

    def __init__(self, until: float):
        super().__init__(until)
        self.until = until


class Deliverer:
    """Leases and sends due outbox items; safe to run in many threads and processes at once."""

    def __init__(self, store: Store, config: Config, clock: Callable[[], float] = time.time):
        self.store = store
        self.config = config
        self.clock = clock
        self.settings = config.delivery
        self.tokens = senders.SharedTokens(store)  # wall-clock time, as Tencent counts a token's life

    # --- Leasing ------------------------------------------------------------------------------

    def run_once(self, limit: int = BATCH) -> int:
        """Lease up to `limit` due items and try each once; returns how many were tried."""
        now = self.clock()
        due = self.store.next_outbox_due()
        if due is None or due > now:
            return 0  # the common case: a cheap read, no write lock
        plans = self._lease(now, limit)
        for plan in plans:
            try:
                self._send(plan)
            except Exception:  # say, a database locked for too long: the lease runs out, the item is retried
                log.exception("outbox %s: sending failed", plan.row["id"])
        return len(plans)

    def drain(self, max_seconds: float = 60.0) -> int:
        """Deliver until nothing is due now (for `run.py deliver --once`); returns items tried."""
        tried, deadline = 0, time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            n = self.run_once()
            if n == 0:
                break
            tried += n
        return tried

    def _lease(self, now: float, limit: int) -> list[Plan]:
        plans = []
        with self.store.queue_transaction() as qtx:
            for row in qtx.due_outbox(now, limit):
                # One row's odd data (or a bug) must not stop the others: its writes are undone
                # and it counts a failed attempt.
                qtx.conn.execute("SAVEPOINT plan_row")
                try:
                    plan = self._lease_row(qtx, row, now)
                except Exception as exc:
                    qtx.conn.execute("ROLLBACK TO plan_row")
                    log.exception("outbox %s: planning failed", row["id"])
                    error = f"planning failed: {type(exc).__name__}: {exc}"[:300]
                    attempt = row["attempts"] + 1
                    if attempt >= self.settings.max_attempts:
                        qtx.plan_failed(row["id"], attempt, error, now)
                        qtx.fail_now(row["id"], error, now)
                    else:
                        qtx.plan_failed(row["id"], attempt, error, now + self.backoff(attempt))
                    plan = None
                qtx.conn.execute("RELEASE plan_row")
                if plan is not None:
                    plans.append(plan)
        return plans

    def _lease_row(self, qtx: QueueTx, row: dict, now: float) -> Plan | None:
        """Lease one due row and plan its attempt; None if it is not sent now."""
        if row["attempts"] >= self.settings.max_attempts:
            qtx.fail_now(row["id"], row["last_error"] or "too many attempts", now)
            return None
        if self._superseded(qtx, row):
            qtx.supersede(row["id"], "superseded: the ticket was reopened")
            return None
        try:
            plan = self._plan(qtx, row, now)
        except _Wait as wait:
            qtx.defer(row["id"], wait.until)
            return None
        except NoRoute as exc:
            log.warning("outbox %s has no route: %s", row["id"], exc)
            last = f" (last attempt: {row['last_error']})" if row["last_error"] else ""
            qtx.fail_now(row["id"], f"no route: {exc}{last}"[:500], now)
            return None
        if plan.route == "robot":
            wait = self._robot_wait(qtx, plan, now)
            if wait is not None:
                qtx.defer(row["id"], wait)
                return None
        qtx.lease(row["id"], plan.token, now + self.settings.lease_seconds, plan.route, plan.attempt)
        plan.attempt_ids = [
            qtx.add_attempt(row["id"], plan.attempt, part, plan.route, plan.target, now)
            for part in range(row["parts_done"], len(plan.payloads))
        ]
        return plan

    @staticmethod
    def _superseded(qtx: QueueTx, row: dict) -> bool:
        """An answer of a round that was withdrawn: the ticket was reopened (and maybe answered again)."""
        if row["kind"] != "answer" or row["ticket"] is None:
            return False
        ticket = qtx.ticket(row["ticket"])
        parts = (row["dedup"] or "").split(":")
        if ticket is None or len(parts) != 4 or not parts[2].isdigit():
            return False
        return int(parts[2]) < ticket["answer_round"] or ticket["status"] in ("open", "claimed")

    def _robot_wait(self, qtx: QueueTx, plan: Plan, now: float) -> float | None:
        """None if the robot may post these parts now, else when it may (20 messages a minute)."""
        needed = len(plan.payloads) - plan.row["parts_done"]
        recent = qtx.robot_posts_since(plan.target, now - 60)
        if not recent or len(recent) + needed <= senders.ROBOT_PER_MINUTE:
            return None
        overflow = len(recent) + needed - senders.ROBOT_PER_MINUTE
        return recent[min(overflow, len(recent)) - 1] + 60.01

    def _plan(self, qtx: QueueTx, row: dict, now: float) -> Plan:
        plan = Plan(row=row, token=uuid.uuid4().hex, attempt=row["attempts"] + 1, route="")
        timeout = self.settings.timeout_seconds
        text = row["text"]
        if row["kind"] != "answer":  # reminders and alerts go to a cadre group's robot
            self._robot_route(plan, row["chat"], None, text)
            return plan
        asker = qtx.asker(row["asker"])
        if asker is None:
            raise NoRoute(f"asker {row['asker']} is missing")
        plan.asker_id = asker["id"]
        url, received = asker["response_url"], asker["response_url_at"]
        if url and asker["response_url_used_at"] is None and received is not None \
                and now - received < RESPONSE_URL_LIFETIME - RESPONSE_URL_MARGIN:
            payloads = senders.response_url_payloads(asker["user"], text)
            if payloads:
                if qtx.response_url_in_flight(asker["id"], row["id"], now):
                    # The single-use URL is (maybe) carrying another item for this asker right
                    # now: wait for that to finish rather than use it twice.
                    raise _Wait(now + self.settings.retry_first_seconds)
                plan.route, plan.payloads, plan.url_received = "response_url", payloads, received
                plan.send = lambda payload: senders.send_response_url(url, payload, timeout)
                return plan
        if asker["chat"]:
            self._robot_route(plan, asker["chat"], asker["user"], text)
            return plan
        cfg = self.config
        if asker["channel"] == "wechat" and cfg.wechat and cfg.wechat.app_id and self.settings.wechat_app_secret:
            client = senders.oa_client(self.settings.wechat_api_base, cfg.wechat.app_id,
                                       self.settings.wechat_app_secret, timeout, self.tokens)
            plan.route, plan.payloads = "oa", senders.text_parts(text)
            plan.send = lambda part: senders.send_oa(client, asker["user"], part)
            return plan
        if asker["channel"] in ("wecom", "wecom_bot") and cfg.wecom and self.settings.wecom_app_secret \
                and self.settings.wecom_agent_id:
            client = senders.wecom_client(self.settings.api_base, cfg.wecom.corp_id,
                                          self.settings.wecom_app_secret, timeout, self.tokens)
            agent = self.settings.wecom_agent_id
            plan.route, plan.payloads = "wecom_app", senders.text_parts(text)
            plan.send = lambda part: senders.send_wecom_app(client, agent, asker["user"], part)
            return plan
        raise NoRoute(f"{asker['channel']} one-to-one: response_url used or expired and no app secret configured")

    def _robot_route(self, plan: Plan, chat: str, user: str | None, text: str) -> None:
        key = self.config.robots.get(chat)
        if not key:
            cadre = self.config.cadres.for_chat(chat)
            key = cadre.webhook_key if cadre else ""
        if not key:
            raise NoRoute(f"response_url used or expired and no robot webhook for chat {chat}")
        api_base, timeout = self.settings.api_base, self.settings.timeout_seconds
        plan.route = "robot"
        plan.target = hashlib.sha256(key.encode()).hexdigest()[:16]  # never store the key itself
        plan.payloads = senders.robot_payloads(user, text, self.settings.robot_format)
        plan.send = lambda payload: senders.send_robot(api_base, key, payload, timeout)

    # --- Sending ------------------------------------------------------------------------------

    def _send(self, plan: Plan) -> None:
        row = plan.row
        first = row["parts_done"]
        for index, payload in enumerate(plan.payloads[first:], start=first):
            attempt_id = plan.attempt_ids[index - first]
            now = self.clock()
            # Still ours? Renew the lease for this part's send; if it ran out and another worker
            # took the item (or it was superseded), sending now would say it twice.
            if not self._persist(lambda: self.store.renew_lease(row["id"], plan.token, now + self.settings.lease_seconds)):
                log.warning("outbox %s: lease lost before part %d; not sending", row["id"], index)
                self._not_sent(plan, index, "not sent: lease lost")
                self._persist(lambda: self.store.release_superseded(row["id"], plan.token))
                return
            if plan.route == "response_url" and \
                    now - plan.url_received >= RESPONSE_URL_LIFETIME - RESPONSE_URL_MARGIN:
                # Planned in time, but the hour is (nearly) over now: take the next route at once.
                self._not_sent(plan, index, "not sent: response_url expired")
                self._persist(lambda: self.store.attempt_failed(
                    row["id"], plan.token, "response_url: expired before sending", now))
                return
            try:
                plan.send(payload)
            except SendError as exc:
                self._failed(plan, index, exc)
                return
            except Exception as exc:  # a bug or an odd response must not kill the worker
                log.exception("outbox %s: unexpected error sending", row["id"])
                self._failed(plan, index, SendError(f"unexpected: {type(exc).__name__}", ambiguous=True))
                return
            if index + 1 < len(plan.payloads) and not self._persist(
                    lambda: self.store.part_sent(row["id"], plan.token, index + 1)):
                log.warning("outbox %s: lease lost after part %d", row["id"], index + 1)
                self._persist(lambda: self.store.finish_attempt(attempt_id, self.clock(), True, None))
                self._not_sent(plan, index + 1, "not sent: lease lost")
                return
            self._persist(lambda: self.store.finish_attempt(attempt_id, self.clock(), True, None))
        used = plan.asker_id if plan.route == "response_url" else None
        if not self._persist(lambda: self.store.delivered(row["id"], plan.token, self.clock(), used)):
            log.warning("outbox %s: delivered, but the lease had been lost", row["id"])
        else:
            log.info("outbox %s delivered via %s (attempt %d)", row["id"], plan.route, plan.attempt)

    def _not_sent(self, plan: Plan, index: int, why: str) -> None:
        """Close the attempt rows of parts from `index` on, which were not sent."""
        now, first = self.clock(), plan.row["parts_done"]
        for i, attempt_id in enumerate(plan.attempt_ids):
            if first + i >= index:
                self._persist(lambda: self.store.finish_attempt(attempt_id, now, False, why))

    def _persist(self, write):
        """Record a send that happened: keep trying while the database is busy, for most of the
        lease, since giving up would let the lease run out and the message go out again."""
        deadline = time.monotonic() + self.settings.lease_seconds / 2
        while True:
            try:
                return write()
            except sqlite3.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("recording a delivery: %s; retrying", exc)
                time.sleep(0.05)

    def _failed(self, plan: Plan, index: int, exc: SendError) -> None:
        now = self.clock()
        error = str(exc)
        row = plan.row
        first = row["parts_done"]
        for i, attempt_id in enumerate(plan.attempt_ids):
            part = first + i
            if part == index:
                self._persist(lambda: self.store.finish_attempt(attempt_id, now, False, error))
            elif part > index:
                self._persist(lambda: self.store.finish_attempt(attempt_id, now, False, "not sent: an earlier part failed"))
        retry_at = now + (exc.retry_after or self.backoff(plan.attempt))
        if plan.route == "response_url":
            # Single-use: refused means it will not work again; a timeout may have been accepted,
            # so it is tried once more at most. Either way the next attempt may take the next route.
            if not exc.ambiguous or self.store.failed_response_url_attempts(row["id"], plan.url_received) >= 2:
                self._persist(lambda: self.store.mark_response_url_used(plan.asker_id, now))
                retry_at = now  # the next route, at once
        elif exc.permanent:
            # This route cannot carry the message, and the response_url (the only route tried
            # before these) is already out of the running: nothing is left.
            error = f"{error} (permanent: {senders.PERMANENT_ERRCODES[exc.errcode]})"
            retry_at = None
        if plan.attempt >= self.settings.max_attempts:
            retry_at = None
        log.info("outbox %s attempt %d via %s failed: %s", row["id"], plan.attempt, plan.route, error)
        if not self._persist(lambda: self.store.attempt_failed(row["id"], plan.token, f"{plan.route}: {error}"[:500],
                                                               retry_at, now)):
            self._persist(lambda: self.store.release_superseded(row["id"], plan.token))

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number `attempt`: first, 2x, 4x ... up to the maximum, with a little jitter."""
        base = min(self.settings.retry_first_seconds * 2 ** (attempt - 1), self.settings.retry_max_seconds)
        return base * random.uniform(0.9, 1.1)


PRUNE_EVERY = 86400.0  # storage.keep_days: the database is pruned once a day ...
PRUNE_CHECK_SECONDS = 600.0  # ... by whichever process looks first once it is due;
PRUNE_LEASE = 3600.0  # a prune that fails is tried again after this (a million rows take seconds)


class Background:
    """The per-process threads: delivery workers, the deadline scanner and the daily prune. Start once per process."""

    def __init__(self, store: Store, config: Config, queue, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self.deliverer = Deliverer(store, config, clock)
        self.queue = queue
        self.config = config
        self.wake_event = threading.Event()
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def wake(self) -> None:
        """Something was queued in this process: look now rather than at the next poll."""
        self.wake_event.set()

    def start(self) -> "Background":
        for i in range(self.config.delivery.threads):
            self.threads.append(threading.Thread(target=self._deliver_loop, name=f"delivery-{i}", daemon=True))
        self.threads.append(threading.Thread(target=self._scan_loop, name="deadline-scanner", daemon=True))
        if self.config.storage.keep_days:
            self.threads.append(threading.Thread(target=self._prune_loop, name="pruner", daemon=True))
        for thread in self.threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.wake_event.set()
        for thread in self.threads:
            thread.join(timeout)

    def _deliver_loop(self) -> None:
        poll = self.config.delivery.poll_seconds
        while not self.stop_event.is_set():
            try:
                tried = self.deliverer.run_once()
            except Exception:  # the worker must outlive a locked database or a bug
                log.exception("delivery pass failed")
                tried = 0
            if not tried:
                self.wake_event.wait(poll)
                self.wake_event.clear()

    def _scan_loop(self) -> None:
        interval = self.config.queue.scan_seconds
        while not self.stop_event.is_set():
            try:
                self.queue.scan_deadlines()
            except Exception:
                log.exception("deadline scan failed")
            self.stop_event.wait(interval)

    def _prune_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.prune_if_due()
            except Exception:  # e.g. a busy database: tried again once the claim lapses (PRUNE_LEASE)
                log.exception("scheduled prune failed")
            self.stop_event.wait(PRUNE_CHECK_SECONDS)

    def prune_if_due(self) -> dict[str, int] | None:
        """Prune as `db prune --days keep_days` would, if no process has in the last day; what was deleted."""
        storage, now = self.config.storage, self.clock()
        if not self.store.claim_chore("prune", now, PRUNE_LEASE, PRUNE_EVERY):
            return None
        done = self.store.prune(now - storage.keep_days * 86400, storage.prune_tickets)
        self.store.chore_done("prune", now + PRUNE_EVERY)  # a prune that raised is claimed again after the lease
        log.info("pruned records older than %d days: %s", storage.keep_days, done)
        return done
