"""What every channel's views share: the app's services, the request body, and the reply text."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import current_app, request

from bot.config import Config
from bot.model import Decision
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
