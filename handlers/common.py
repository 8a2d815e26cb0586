"""What every channel's views share: the app's services, the request body, and the reply text."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import current_app, request

from handlers.crypto import Rejected

from bot import replies
from bot.config import Config
from bot.model import Decision, Message
from bot.pipeline import Pipeline
from bot.replies import split_reply
from bot.store import Store

log = logging.getLogger("handlers")


@dataclass
class Services:
    """Everything a view needs, built once per worker by create_app()."""

    config: Config
    store: Store
    faq: Any  # faq.live.LiveFaq
    pipeline: Pipeline
    clock: Callable[[], float]
    boxes: dict = field(default_factory=dict)  # channel name -> handlers.crypto.AesBox


def services() -> Services:
    """The current app's Services."""
    return current_app.extensions["fuyi"]


def body() -> bytes:
    """The request body; Werkzeug enforces MAX_CONTENT_LENGTH (413) while reading."""
    return request.get_data(cache=False)


def passive_text(decision: Decision, channel: str) -> str:
    """The part of a reply that fits one passive message ("" for none)."""
    parts = split_reply(decision.reply)
    if len(parts) > 1:
        # A passive reply carries one message; the rest waits for the outbox (next issue).
        log.warning("%s reply of %d bytes split into %d parts; sent the first", channel, len(decision.reply.encode()), len(parts))
    return parts[0] if parts else ""


@dataclass(frozen=True)
class XmlExchange:
    """An XML callback's parties and what the pipeline decided for it."""

    user: str  # FromUserName: the asker
    account: str  # ToUserName: our account or corp
    now: float
    decision: Decision


def handle_xml_message(channel: str, data: dict[str, str], svc: Services) -> XmlExchange:
    """Run a decrypted Official Account or WeCom app callback (text, event or other) through the pipeline."""
    user, account = data.get("FromUserName", ""), data.get("ToUserName", "")
    msg_type, create_time = data.get("MsgType", "").lower(), data.get("CreateTime", "")
    if not (user and account and msg_type):
        raise Rejected("malformed message")
    now = svc.clock()

    def message(text: str, msg_id: str) -> Message:
        return Message(channel, "", user, text, msg_id, received_at=now)

    # Events have no MsgId: FromUserName + CreateTime identifies their retries.
    msg_id = data.get("MsgId") or f"{user}:{create_time}"
    if msg_type == "text":
        decision = svc.pipeline.handle(message(data.get("Content", ""), msg_id))
    elif msg_type == "event":
        event = data.get("Event", "").lower()
        reply = replies.WELCOME if event == "subscribe" else ""
        decision = svc.pipeline.handle_other(message(f"[event:{event}]", f"event:{user}:{create_time}"), reply)
    else:
        decision = svc.pipeline.handle_other(message(f"[{msg_type}]", msg_id), replies.TEXT_ONLY)
    return XmlExchange(user, account, now, decision)
