"""The vocabulary shared by every module: Message in, Decision out."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DecisionKind = Literal["answer", "suggest", "escalate", "ignore"]


@dataclass(frozen=True)
class Message:
    """One inbound question, whatever channel it came through."""

    channel: str  # "wechat", "wecom", "wecom_bot" or "cli"
    chat: str  # group chat id; "" for a one-to-one conversation
    user: str  # the asker's id in that channel
    text: str
    msg_id: str  # the channel's id for deduplicating retries
    is_group: bool = False
    mentioned: bool = True  # in a group: was the bot @-mentioned
    response_url: str | None = None  # WeCom smart robot: single use, valid one hour
    received_at: float = 0.0  # unix time


@dataclass(frozen=True)
class Candidate:
    """One FAQ entry considered for a question, with its confidence 0..1."""

    faq_id: str
    score: float


@dataclass
class Decision:
    """What the bot does with one Message."""

    kind: DecisionKind
    faq_id: str | None = None
    score: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)
    reply: str = ""
    ticket: int | None = None
