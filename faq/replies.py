"""The Chinese text of the bot's replies to enterprise contacts."""
from __future__ import annotations

from bot.model import Decision
from faq.loader import Faq

ESCALATE_REPLY = "这个问题我暂时答不准，已记录并转交工作人员，稍后会有专人答复您。"
SUGGEST_HEAD = "您是不是想问："
SUGGEST_TAIL = "可以直接发送上面的问题查看答案；如果都不是，请换个说法或补充说明，我会转给工作人员。"


def render_reply(decision: Decision, faq: Faq) -> Decision:
    """Fill in decision.reply for an answer, a suggestion or an escalation."""
    decision.faq_version = faq.version
    if decision.kind == "answer" and decision.faq_id in faq.by_id:
        decision.reply = answer_text(faq, decision.faq_id)
    elif decision.kind == "suggest":
        lines = [SUGGEST_HEAD]
        for number, candidate in enumerate(decision.candidates, 1):
            entry = faq.by_id.get(candidate.faq_id)
            if entry:
                lines.append(f"{number}. {entry.question}")
        lines.append(SUGGEST_TAIL)
        decision.reply = "\n".join(lines)
    elif decision.kind == "escalate":
        decision.reply = ESCALATE_REPLY
    return decision


def answer_text(faq: Faq, entry_id: str) -> str:
    """An entry's answer, with its policy source when it has one."""
    entry = faq.by_id[entry_id]
    text = entry.answer.strip()
    if entry.source:
        text += f"\n（依据：{entry.source}）"
    return text
