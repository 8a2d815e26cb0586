"""The vocabulary shared by every module: Message in, Decision out, Ticket for people's work."""
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
    faq_version: str = ""  # the FAQ (faq.loader.Faq.version) the decision was made from


TicketStatus = Literal["open", "claimed", "answered", "closed"]
TICKET_STATUSES: tuple[str, ...] = ("open", "claimed", "answered", "closed")


@dataclass
class Asker:
    """One enterprise contact waiting for a ticket's answer, in the chat they asked in."""

    id: int
    ticket: int
    channel: str
    chat: str  # "" for a one-to-one conversation
    user: str
    text: str  # the question as this asker put it
    msg_id: str
    asked_at: float
    response_url_at: float | None = None  # when the (single-use, one-hour) response_url was received
    response_url_used_at: float | None = None  # set once it has carried a message; never used again


@dataclass
class Ticket:
    """A question for the cadres: who asked it where, which team owes the answer, and by when."""

    id: int  # the short number people quote: 工单 #12
    status: TicketStatus
    question: str  # as first asked (mention stripped)
    normalized: str  # faq.text.normalize of it: what merging compares
    team: str
    category: str | None
    created_at: float
    due_at: float
    route: str = ""  # how the team was chosen: "faq:<entry id>", "keyword:<word>" or "default"
    claimed_by: str | None = None
    claimed_at: float | None = None
    answer: str | None = None
    answer_faq_id: str | None = None  # answered with an existing FAQ entry
    answered_by: str | None = None
    answered_at: float | None = None
    closed_at: float | None = None
    askers: list[Asker] = field(default_factory=list)
