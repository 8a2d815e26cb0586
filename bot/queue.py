"""Tickets: open or join, route to a team, set the deadline, claim, answer, close, reopen. No SQL here.

Every change happens inside one write transaction (bot/store) with its audit row; an answer's
outbox rows (one per asker) are written in the same transaction, so an answer is never lost
and never queued twice. The delivery worker (bot/delivery) sends them.
"""
from __future__ import annotations

import bisect
import functools
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Callable

from rapidfuzz import fuzz, process

from bot import deadlines
from bot.config import Config
from bot.model import Asker, Decision, Message, Ticket
from bot.store import QueueTx, Store, Tx
from faq.text import is_courtesy, normalize, normalize_term, segmenter

log = logging.getLogger(__name__)

ACTIVE = ("open", "claimed")
# Which statuses each transition starts from.
TRANSITIONS = {
    "claim": ("open", "claimed"),
    "answer": ("open", "claimed"),
    "close": ("open", "claimed", "answered"),
    "reopen": ("answered", "closed"),
}
# Exact repeats merge through an index however many tickets are open; near repeats are looked
# for among the newest tickets of the merge window only, so an escalation costs the same on a busy day.
FUZZY_MERGE_CANDIDATES = 500
# Escalated questions repeat (that is why tickets merge): their normalised text is kept.
_normalized = functools.lru_cache(maxsize=4096)(normalize)
STATUS_NAMES = {"open": "待处理", "claimed": "已认领", "answered": "已答复", "closed": "已关闭"}

NEW_ACK = "已转人工：工单 #{id}，{team}将于{due} 前答复。"
JOIN_ACK = "您的问题已有其他企业提出，已并入工单 #{id}，{team}将于{due} 前一并答复。"
AGAIN_ACK = "您的问题已在工单 #{id} 中登记，{team}将于{due} 前答复，请耐心等候。"
# Joined or asked again after the deadline has passed: no time that is already gone is promised.
LATE_ACKS = {
    JOIN_ACK: "您的问题已有其他企业提出，已并入工单 #{id}。该工单已过原定答复时间，{team}将尽快一并答复，请谅解。",
    AGAIN_ACK: "您的问题已在工单 #{id} 中登记。已过原定答复时间，{team}将尽快答复，请谅解。",
}
ANSWER_HEAD = "您咨询的问题（工单 #{id}）答复如下：\n"
CADRE_DONE = "已答复工单 #{id}，将发送给 {n} 位企业联系人。"
CADRE_UNKNOWN = "没有找到工单 #{id}，请核对编号后再发送“#编号 答复内容”。"
CADRE_OTHER_TEAM = "工单 #{id} 属于{team}，请在该组的工作群答复。"
CADRE_NO_GROUP = "工单 #{id} 属于{team}，该组没有配置工作群，请用 queue answer 命令答复。"
CADRE_HELP = "本群是{team}的工作群：发送“#编号 答复内容”答复工单，发送“#编号”查看工单。"
CADRE_SHOW = "工单 #{id}（{status}，{team}，{due} 前答复，{n} 位企业联系人）：{question}\n答复请发送“#{id} 答复内容”。"

# "#12 答复内容" (also ＃, full-width digits, a colon or comma after the number), and "#12答复内容"
# typed without a space; not "#3楼的消毒液用完了" nor "#12月的补贴": a number and a measure word.
_MEASURES = "号號楼樓层層栋棟幢座月日天年点點时時分秒元万萬千百个個位人名家户戶次条條期批台辆輛吨噸斤米度岁歲周週"
_COMMAND = re.compile(r"^\s*[#＃]\s*(\d{1,9})(?:\s*[:：,，]\s*|\s+|$|(?=[\u4e00-\u9fff])(?![" + _MEASURES + r"]))(.*)$", re.S)


class QueueError(Exception):
    """A request the queue refuses (unknown ticket, illegal transition); the message is for people."""


def answer_message(ticket_id: int, answer: str) -> str:
    """What each asker receives (the route adds the @-mention)."""
    return ANSWER_HEAD.format(id=ticket_id) + answer.strip()


def strip_bot_mention(text: str, bot_name: str) -> str:
    """The question as asked, without the "@防疫助手" that addressed it."""
    if bot_name:
        text = text.replace(f"@{bot_name}", " ")
    return text.strip()


@dataclass(frozen=True)
class Route:
    team: str
    category: str | None
    how: str  # faq:<entry id>, keyword:<word> or default


class TicketQueue:
    """The cadre queue over one Store; `escalate` is the pipeline's escalation hook."""

    def __init__(self, store: Store, config: Config, faq_source: Callable[[], object | None] = lambda: None,
                 clock: Callable[[], float] = time.time, on_queued: Callable[[], None] | None = None):
        self.store = store
        self.config = config
        self.faq_source = faq_source  # the current faq.loader.Faq (or None): routing by category
        self.clock = clock
        self.on_queued = on_queued  # wakes this process's delivery worker after an answer
        self.tz = deadlines.zone(config.queue.utc_offset_hours)
        self._recent = RecentTickets()

    # --- Escalation: open or join ------------------------------------------------------------

    def escalate(self, message: Message, decision: Decision, tx: Tx) -> Decision:
        """Open a ticket for the message, or join a like one; the reply acknowledges with its number."""
        qtx = QueueTx(tx.conn)
        now = self.clock()
        bot_name = self.config.bot.name
        question = strip_bot_mention(message.text, bot_name) or message.text
        normalized = _normalized(message.text, bot_name)
        asker = {
            "channel": message.channel, "chat": message.chat or "", "user": message.user, "text": question,
            "msg_id": message.msg_id, "dedup_key": f"{message.channel}:{message.msg_id}",
            "response_url": message.response_url, "response_url_at": now if message.response_url else None,
            "asked_at": now,
        }
        ticket = self.similar_ticket(qtx, normalized, now, message)
        if ticket is not None:
            if "asker" in ticket:  # an exact repeat's lookup found the sender's asker row, or not
                same = ticket.pop("asker")
            else:
                same = (qtx.find_asker(ticket["id"], asker["channel"], asker["chat"], asker["user"]) or {}).get("id")
            if same is not None:
                # The same person asking again: one answer for them, through the freshest response_url.
                if message.response_url:
                    qtx.update_asker(same, response_url=message.response_url, response_url_at=now,
                                     response_url_used_at=None, msg_id=message.msg_id)
                qtx.audit(ticket["id"], now, _who(message), "asked_again", {"asker": same, "text": question})
                template = AGAIN_ACK
            else:
                # The asker row is the record of joining (audit_trail shows it): a burst of the
                # same question writes one row per asker and leaves the ticket row alone.
                qtx.add_asker(ticket=ticket["id"], **asker)
                template = JOIN_ACK
        else:
            route = self.route(normalized, decision)
            due = deadlines.due_at(self.config.queue.deadline_for(route.team), now, self.tz)
            ticket_id = qtx.insert_ticket(
                status="open", question=question, normalized=normalized, team=route.team,
                category=route.category, route=route.how, created_at=now, due_at=due, updated_at=now,
            )
            asker_id = qtx.add_asker(ticket=ticket_id, **asker)
            qtx.audit(ticket_id, now, _who(message), "opened",
                      {"team": route.team, "route": route.how, "due_at": due, "asker": asker_id})
            ticket = {"id": ticket_id, "team": route.team, "due_at": due}
            template = NEW_ACK
        return self._acknowledged(decision, ticket, template, now)

    def repeated(self, message: Message, decision: Decision) -> Decision | None:
        """The acknowledgement for someone asking the very question they already wait on, from reads alone.

        The pipeline's Repeat hook: None when there is something to write (a new or merely similar
        question, a new asker, a fresher response_url), which the transaction of escalate() does.
        Exact repeats only: finding a similar ticket reads too much to do twice.
        """
        if message.response_url:
            return None
        qtx = QueueTx(self.store.db.conn)  # reads only, no write lock
        now = self.clock()
        normalized = _normalized(message.text, self.config.bot.name)
        if not normalized.replace(" ", ""):
            return None
        ticket = qtx.active_ticket_with_text(normalized, self._window_start(now), *_sender(message))
        if ticket is None or ticket.pop("asker") is None:
            return None
        return self._acknowledged(decision, ticket, AGAIN_ACK, now)

    def _acknowledged(self, decision: Decision, ticket: dict, template: str, now: float) -> Decision:
        decision.ticket = ticket["id"]
        if ticket["due_at"] <= now:
            template = LATE_ACKS.get(template, template)
        decision.reply = template.format(id=ticket["id"], team=ticket["team"],
                                         due=deadlines.describe_due(ticket["due_at"], now, self.tz))
        return decision

    def similar_ticket(self, qtx: QueueTx, normalized: str, now: float, message: Message) -> dict | None:
        """The open or claimed ticket (of the merge window) asking the same thing, if any: its id, team and due_at.

        An exact repeat also carries "asker": the id of the sender's asker row on it, or None.
        """
        key = normalized.replace(" ", "")
        if not key:
            return None
        since = self._window_start(now)
        exact = qtx.active_ticket_with_text(normalized, since, *_sender(message))
        if exact is not None:
            return exact
        return self._recent.most_similar(qtx, key, since, self.config.queue.merge_similarity * 100)

    def _window_start(self, now: float) -> float:
        """Tickets opened before this are not joined (queue.merge_window_hours)."""
        return now - self.config.queue.merge_window_hours * 3600

    def route(self, normalized: str, decision: Decision | None) -> Route:
        """The FAQ category's team when the question came close to an entry; else keyword rules; else the default."""
        settings = self.config.queue
        faq = self.faq_source()
        if decision is not None and decision.candidates and faq is not None:
            top = max(decision.candidates, key=lambda c: c.score)
            team = faq.team_for(top.faq_id) if top.score >= settings.route_min_score else None
            if team:
                return Route(team, faq.by_id[top.faq_id].category, f"faq:{top.faq_id}")
        text, cuts = _word_boundaries(normalized)
        for rule in settings.routes:
            for keyword in rule.keywords:
                if _has_word(text, cuts, normalize_term(keyword)):
                    return Route(rule.team, _category_of_team(faq, rule.team), f"keyword:{keyword}")
        return Route(settings.default_team, _category_of_team(faq, settings.default_team), "default")

    # --- Transitions ----------------------------------------------------------------------------

    def _load(self, qtx: QueueTx, ticket_id: int, action: str) -> dict:
        ticket = qtx.ticket(ticket_id)
        if ticket is None:
            raise QueueError(f"没有工单 #{ticket_id}")
        if ticket["status"] not in TRANSITIONS[action]:
            verb = {"claim": "认领", "answer": "答复", "close": "关闭", "reopen": "重新打开"}[action]
            if action == "answer" and ticket["status"] == "answered":
                raise QueueError(f"工单 #{ticket_id} 已经答复过了；如需更正，请先重新打开（queue reopen {ticket_id}）再答复")
            raise QueueError(f"工单 #{ticket_id} {STATUS_NAMES[ticket['status']]}，不能{verb}")
        return ticket

    def claim(self, ticket_id: int, by: str) -> Ticket:
        by = _name(by)
        with self.store.queue_transaction() as qtx:
            ticket = self._load(qtx, ticket_id, "claim")
            if ticket["status"] == "claimed" and ticket["claimed_by"] != by:
                raise QueueError(f"工单 #{ticket_id} 已由 {ticket['claimed_by']} 认领")
            if ticket["status"] == "open":
                now = self.clock()
                qtx.update_ticket(ticket_id, status="claimed", claimed_by=by, claimed_at=now, updated_at=now)
                qtx.audit(ticket_id, now, by, "claimed")
        return self.get(ticket_id)

    def answer(self, ticket_id: int, text: str, by: str, faq_id: str | None = None) -> Ticket:
        """Answer a ticket: every asker gets the answer (queued in this same transaction)."""
        by = _name(by)
        with self.store.queue_transaction() as qtx:
            self._answer(qtx, ticket_id, text, by, faq_id)
        if self.on_queued:
            self.on_queued()
        return self.get(ticket_id)

    def _answer(self, qtx: QueueTx, ticket_id: int, text: str, by: str, faq_id: str | None) -> int:
        text = (text or "").strip()
        if not text:
            raise QueueError("答复内容不能为空")
        ticket = self._load(qtx, ticket_id, "answer")
        now = self.clock()
        answer_round = ticket["answer_round"] + 1
        qtx.update_ticket(ticket_id, status="answered", answer=text, answer_faq_id=faq_id, answered_by=by,
                          answered_at=now, answer_round=answer_round, updated_at=now)
        askers = qtx.askers(ticket_id)
        body = answer_message(ticket_id, text)
        for asker in askers:
            qtx.enqueue(f"answer:{ticket_id}:{answer_round}:{asker['id']}", "answer", body, now,
                        ticket=ticket_id, asker=asker["id"])
        qtx.audit(ticket_id, now, by, "answered",
                  {"answer": text, "faq_id": faq_id, "round": answer_round, "askers": len(askers)})
        return len(askers)

    def close(self, ticket_id: int, by: str) -> Ticket:
        by = _name(by)
        with self.store.queue_transaction() as qtx:
            self._load(qtx, ticket_id, "close")
            now = self.clock()
            qtx.update_ticket(ticket_id, status="closed", closed_at=now, updated_at=now)
            qtx.audit(ticket_id, now, by, "closed")
        return self.get(ticket_id)

    def reopen(self, ticket_id: int, by: str) -> Ticket:
        """Back to open with a fresh deadline (and fresh reminder and alert)."""
        by = _name(by)
        with self.store.queue_transaction() as qtx:
            ticket = self._load(qtx, ticket_id, "reopen")
            now = self.clock()
            due = deadlines.due_at(self.config.queue.deadline_for(ticket["team"]), now, self.tz)
            qtx.update_ticket(ticket_id, status="open", claimed_by=None, claimed_at=None, closed_at=None,
                              due_at=due, reminded_at=None, alerted_at=None, updated_at=now)
            # The answer being corrected is withdrawn: what has not gone out yet never will.
            superseded = qtx.supersede_answers(ticket_id, f"superseded: ticket reopened by {by}")
            qtx.audit(ticket_id, now, by, "reopened", {"from": ticket["status"], "due_at": due,
                                                       "superseded_deliveries": superseded})
        return self.get(ticket_id)

    # --- Cadre groups: "#12 答复内容" -------------------------------------------------------

    def cadre_command(self, message: Message) -> Callable[[Tx], Decision] | None:
        """The pipeline's command hook: in a configured cadre group, "#12 答复内容" answers ticket 12.

        Only the cadre group of the ticket's team may answer it; "#12" alone (showing the ticket)
        works in any cadre group, so a cadre can see whose ticket it is.
        """
        cadre = self.config.cadres.for_chat(message.chat) if message.is_group else None
        if cadre is None:
            return None
        text = strip_bot_mention(message.text, self.config.bot.name)
        # A WeCom mention is "@name" plus U+2005; another @ (say, to a colleague) may precede the command.
        text = re.sub(r"^(?:@\S+[\s\u2005]+)+", "", text)
        match = _COMMAND.match(text)
        if match is None:
            if not message.mentioned:
                return None  # the group's own talk: recorded, never answered
            # Not a question for the queue (a cadre's ticket would land in their own team's queue): how
            # to answer one instead; a courtesy gets nothing, as anywhere.
            help_text = "" if is_courtesy(text, self.config.bot.name) else CADRE_HELP.format(team=cadre.team)
            return lambda tx: Decision("ignore", reply=help_text)
        ticket_id, body = int(match.group(1)), match.group(2).strip()

        def run(tx: Tx) -> Decision:
            qtx = QueueTx(tx.conn)
            ticket = qtx.ticket(ticket_id)
            if ticket is None:
                return Decision("ignore", reply=CADRE_UNKNOWN.format(id=ticket_id))
            if not body:
                return Decision("ignore", ticket=ticket_id, reply=CADRE_SHOW.format(
                    id=ticket_id, status=STATUS_NAMES[ticket["status"]], team=ticket["team"],
                    due=deadlines.describe_due(ticket["due_at"], self.clock(), self.tz),
                    n=len(qtx.askers(ticket_id)), question=ticket["question"]))
            if ticket["team"] != cadre.team:
                own = self.config.cadres.for_team(ticket["team"])
                template = CADRE_OTHER_TEAM if own is not None else CADRE_NO_GROUP
                return Decision("ignore", ticket=ticket_id, reply=template.format(id=ticket_id, team=ticket["team"]))
            try:
                n = self._answer(qtx, ticket_id, body, message.user, None)
            except QueueError as exc:
                return Decision("ignore", ticket=ticket_id, reply=f"{exc}。")
            return Decision("ignore", ticket=ticket_id, reply=CADRE_DONE.format(id=ticket_id, n=n))

        return run

    # --- Deadlines: reminders before, alerts after ---------------------------------------------

    def scan_deadlines(self) -> tuple[list[int], list[int]]:
        """Remind each team's cadre group of tickets due soon and alert it of overdue ones, once each."""
        now = self.clock()
        lead = self.config.queue.reminder_minutes_before * 60
        reminded, alerted = [], []
        with self.store.queue_transaction() as qtx:
            due_soon = qtx.tickets_to_remind(now, lead) if lead > 0 else []
            overdue = qtx.tickets_to_alert(now)
            for kind, tickets, column in (("reminder", due_soon, "reminded_at"), ("alert", overdue, "alerted_at")):
                by_team: dict[str, list[dict]] = {}
                for ticket in tickets:
                    by_team.setdefault(ticket["team"], []).append(ticket)
                    qtx.update_ticket(ticket["id"], **{column: now})
                for team, group in by_team.items():
                    cadre = self.config.cadres.for_team(team)
                    for ticket in group:
                        qtx.audit(ticket["id"], now, "system", kind,
                                  {"cadre_chat": cadre.chat if cadre else None, "due_at": ticket["due_at"]})
                    if cadre is None:
                        log.warning("no cadre group for team %s: %s of %d ticket(s) not sent", team, kind, len(group))
                        continue
                    ids = ",".join(f"{t['id']}@{int(t['due_at'])}" for t in group)
                    qtx.enqueue(f"{kind}:{team}:{ids}", kind, self._deadline_text(kind, team, group, qtx, now),
                                now, ticket=group[0]["id"], chat=cadre.chat)
                (reminded if kind == "reminder" else alerted).extend(t["id"] for t in tickets)
        if (reminded or alerted) and self.on_queued:
            self.on_queued()
        return reminded, alerted

    def _deadline_text(self, kind: str, team: str, tickets: list[dict], qtx: QueueTx, now: float) -> str:
        if kind == "reminder":
            lines = [f"【即将到期】{team}有 {len(tickets)} 个工单即将到答复时限："]
        else:
            lines = [f"【已超时】{team}有 {len(tickets)} 个工单已超过答复时限："]
        for t in tickets:
            n = len(qtx.askers(t["id"]))
            who = f"，{t['claimed_by']} 已认领" if t["claimed_by"] else "，尚无人认领"
            due = deadlines.describe_due(t["due_at"], now, self.tz)
            lines.append(f"#{t['id']} {_clip(t['question'], 40)}（{n} 位企业，{due} 前{who}）")
        lines.append("在本群发送“#编号 答复内容”即可答复。")
        return "\n".join(lines)

    # --- Reading ---------------------------------------------------------------------------

    def get(self, ticket_id: int) -> Ticket:
        row = self.store.ticket_with_askers(ticket_id)
        if row is None:
            raise QueueError(f"没有工单 #{ticket_id}")
        return ticket_from_row(row)

    def list(self, statuses: tuple[str, ...] | None = ACTIVE, team: str | None = None,
             overdue: bool = False, with_failed_deliveries: bool = False) -> list[Ticket]:
        """Tickets oldest first; with_failed_deliveries adds answered tickets whose answer (or
        reminder) could not be delivered, so cadres notice (closing the ticket takes it off)."""
        rows = self.store.tickets(statuses, team, self.clock() if overdue else None)
        if overdue:
            rows = [r for r in rows if r["status"] in ACTIVE]
        elif with_failed_deliveries and statuses:
            extra = [i for i in self.store.tickets_with_failed_deliveries(("answered",))
                     if i not in {r["id"] for r in rows}]
            if extra:
                more = [r for r in self.store.tickets(None, team, ids=extra)]
                rows = sorted(rows + more, key=lambda r: r["id"])
        return [ticket_from_row(r) for r in rows]

    def failed_deliveries(self, ticket_ids: list[int]) -> dict[int, int]:
        """Ticket id -> how many of its deliveries failed for good (tickets without any are left out)."""
        return self.store.failed_deliveries(ticket_ids)

    def flags(self, ticket: Ticket) -> list[str]:
        """"overdue" / "due_soon" for an open or claimed ticket."""
        if ticket.status not in ACTIVE:
            return []
        now = self.clock()
        if ticket.due_at <= now:
            return ["overdue"]
        if ticket.due_at - now <= self.config.queue.due_soon_minutes * 60:
            return ["due_soon"]
        return []


def ticket_from_row(row: dict) -> Ticket:
    fields = {k: row[k] for k in Ticket.__dataclass_fields__ if k in row and k != "askers"}
    askers = [Asker(**{k: a[k] for k in Asker.__dataclass_fields__}) for a in row.get("askers", [])]
    return Ticket(**fields, askers=askers)


def _category_of_team(faq, team: str) -> str | None:
    if faq is None:
        return None
    return next((c.id for c in faq.categories.values() if c.team == team), None)


class RecentTickets:
    """This process's copy of the texts of the tickets opened within the merge window.

    Reading the newest 500 tickets' texts inside the write lock took ~0.5 ms for every new
    question; ticket texts never change, so only the tickets opened since the last look are
    read (a primary-key range), and the statuses of the few close ones are checked.
    """

    def __init__(self):
        self._ids: list[int] = []
        self._keys: list[str] = []  # normalised text without spaces
        self._created: list[float] = []
        self._lock = threading.Lock()

    def most_similar(self, qtx: QueueTx, key: str, since: float, cutoff: float) -> dict | None:
        """The open or claimed ticket among the newest FUZZY_MERGE_CANDIDATES whose text is closest to key (ratio >= cutoff); a tie goes to the oldest."""
        with self._lock:
            self._catch_up(qtx, since)
            keys = self._keys[-FUZZY_MERGE_CANDIDATES:]
            ids = self._ids[-FUZZY_MERGE_CANDIDATES:]
        found = process.extract(key, keys, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)
        if not found:
            return None
        ranked = sorted(found, key=lambda f: (-f[1], f[2]))
        active = qtx.active_tickets([ids[index] for _, _, index in ranked], since)
        asked = _content(key)  # asks_the_same, with the new text's side worked out once
        for _, _, index in ranked:
            ticket = active.get(ids[index])
            if ticket is None or ticket.pop("normalized").replace(" ", "") != keys[index]:
                continue
            if _content(keys[index]) == asked:
                return ticket
        return None

    def _catch_up(self, qtx: QueueTx, since: float) -> None:
        last = self._ids[-1] if self._ids else 0
        for row in qtx.tickets_after(last, since):
            self._ids.append(row["id"])
            self._keys.append(row["normalized"].replace(" ", ""))
            self._created.append(row["created_at"])
        # Opened before the window. Ids follow time; should a clock step back, active_tickets still
        # checks each candidate's created_at.
        old = bisect.bisect_left(self._created, since)
        if old:
            del self._ids[:old], self._keys[:old], self._created[:old]


# Words two near texts may differ by and still ask the same thing (see asks_the_same): particles
# and ways of asking.
_FILLERS = frozenset("""
    吗 呢 吧 啊 呀 嘛 么 哈 啦 哦 噢 咯 嘞 哇 呐 的 地 得 了 过 着 请问 请 问 一下 麻烦 能 能否 可以 可否 会
    要 需要 需 该 应该 应当 是否 是 咋 怎么 怎样 怎么样 如何 啥 什么 我们 咱们 我 俺 俺们 我司 贵 这个 那个
    在 都 还 就 也
    """.split())
_ASKING_PAIR = re.compile(r"(.)[不没]\1")  # 能不能, 需不需要, 有没有: a way of asking, no negation


def asks_the_same(a: str, b: str) -> bool:
    """Whether two near texts (normalised, without spaces) ask the same thing, so that one answer
    serves both: the same words in the same order but for particles and ways of asking (能/可以,
    怎么/怎样, 需要/需不需要). A word that only one of them has (华光, 女, 除…外, 没有, 300) is another
    case, however close the wording; so, to be safe, is another word for the same thing."""
    return _content(a) == _content(b)


def _content(text: str) -> str:
    """The text without its particles and ways of asking (joined: 员工宿舍 and 员工的宿舍 cut otherwise)."""
    return "".join(w for w in segmenter().cut(_ASKING_PAIR.sub(r"\1", text)) if w not in _FILLERS)


def _word_boundaries(text: str) -> tuple[str, set[int]]:
    """The text without spaces, and the positions between its words as the matcher cuts them."""
    compact = normalize_term(text)
    cuts, at = {0}, 0
    for word in segmenter().cut(compact):
        at += len(word)
        cuts.add(at)
    return compact, cuts


def _has_word(text: str, cuts: set[int], keyword: str) -> bool:
    """The keyword is in the text, not across two words: 资金 is in 流动资金, not in 工资|金额."""
    start = text.find(keyword)
    while keyword and start >= 0:
        end = start + len(keyword)
        whole_words = start in cuts and end in cuts
        if whole_words or not any(start < cut < end for cut in cuts):
            return True
        start = text.find(keyword, start + 1)
    return False


def _sender(message: Message) -> tuple[str, str, str]:
    """channel, chat, user: who an asker row is."""
    return message.channel, message.chat or "", message.user


def _who(message: Message) -> str:
    return f"{message.channel}:{message.user}"


def _name(by: str) -> str:
    by = unicodedata.normalize("NFC", (by or "").strip())
    if not by:
        raise QueueError("请用 --by 写明处理人")
    return by


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
