"""Reply texts the pipeline gives users, and splitting long replies for WeChat's size limit."""
from __future__ import annotations

# WeChat and WeCom cap a text message at 2,048 bytes of UTF-8.
MAX_REPLY_BYTES = 2048

# A retry whose first attempt was answered from an entry the FAQ has since dropped.
ANSWER_CHANGED = "这个问题的答复刚刚更新了，请您再发一次问题。"
ESCALATED = "您的问题已收到，我们已转给相关工作人员，会尽快答复您，请稍候。"
WELCOME = "您好，欢迎关注！我是复工复产咨询助手，请直接输入您的问题，例如“复工需要准备哪些材料”。"
TEXT_ONLY = "您好，目前我只能识别文字消息，请用文字描述您的问题，谢谢！"


def split_reply(text: str, limit: int = MAX_REPLY_BYTES) -> list[str]:
    """Cut text into parts of at most `limit` UTF-8 bytes, on character boundaries, preferring line breaks."""
    if not text:
        return []
    parts: list[str] = []
    rest = text
    while len(rest.encode("utf-8")) > limit:
        # The longest prefix that fits; characters are 1-4 bytes, so walk back from the byte limit.
        cut = len(rest.encode("utf-8")[:limit].decode("utf-8", errors="ignore"))
        newline = rest.rfind("\n", 0, cut)
        if newline >= cut // 2:
            cut = newline + 1
        parts.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    parts.append(rest)
    return [part for part in parts if part.strip()] or [text[:1]]
