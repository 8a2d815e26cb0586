"""The WeCom smart robot channel (/wecom/bot): group @-mentions as encrypted JSON, stream replies."""
from __future__ import annotations

import json

from flask import Blueprint, Flask, Response, request

from bot import replies
from bot.model import Decision, Message
from handlers.common import Services, body, passive_text, services
from handlers.crypto import AesBox, Rejected, new_nonce, sign, verify
from handlers.wecom import echo

bp = Blueprint("wecom_bot", __name__)


def register(app: Flask, svc: Services) -> None:
    """Serve /wecom/bot when the config has a [wecom_bot] section."""
    cfg = svc.config.wecom_bot
    if cfg is None:
        return
    # A smart robot's ciphertexts end with an empty receive id.
    svc.boxes["wecom_bot"] = AesBox(cfg.encoding_aes_key, "")
    app.register_blueprint(bp)


@bp.get("/wecom/bot")
def url_check() -> Response:
    """The URL check when the robot's callback is configured."""
    return echo("wecom_bot", services().config.wecom_bot.token)


def _json_object(raw: bytes | str) -> dict:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise Rejected("malformed JSON") from None
    if not isinstance(data, dict):
        raise Rejected("malformed JSON")
    return data


def _str(data: dict, *path: str) -> str:
    """A string field at path, "" when absent; a value of another type is malformed."""
    value: object = data
    for key in path:
        value = value.get(key, "") if isinstance(value, dict) else ""
    if not isinstance(value, str):
        raise Rejected("malformed message")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800"): no character, and OpenCC would fail on it
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


@bp.post("/wecom/bot")
def receive() -> Response:
    """A message that @-mentions the robot in a group, or one sent to it one-to-one."""
    svc = services()
    cfg = svc.config.wecom_bot
    encrypt = _json_object(body()).get("encrypt")
    if not isinstance(encrypt, str) or not encrypt:
        raise Rejected("missing encrypt")
    verify(request.args, cfg.token, svc.clock, "msg_signature", encrypt)
    data = _json_object(svc.boxes["wecom_bot"].decrypt(encrypt))

    msg_id, msg_type = _str(data, "msgid"), _str(data, "msgtype")
    user, chat_type = _str(data, "from", "userid"), _str(data, "chattype")
    if not (msg_id and msg_type and user):
        raise Rejected("malformed message")
    now = svc.clock()
    is_group = chat_type == "group"
    chat = _str(data, "chatid") if is_group else ""
    response_url = _str(data, "response_url") or None

    if msg_type == "stream":
        # WeCom polls an unfinished stream; ours finish in the first reply, so this only
        # happens after a lost response: resend what was recorded for that message.
        prior = svc.pipeline.recorded(f"wecom_bot:{_str(data, 'stream', 'id')}")
        return _stream(_str(data, "stream", "id"), prior or Decision("ignore"), now)

    def message(text: str, mentioned: bool = True) -> Message:
        return Message("wecom_bot", chat, user, text, msg_id, is_group=is_group, mentioned=mentioned,
                       response_url=response_url, received_at=now)

    if msg_type == "text":
        content = _str(data, "text", "content")
        # WeCom forwards group messages only when they @ the robot, but the name is checked
        # anyway so that a misrouted message is never answered.
        mentioned = not is_group or f"@{svc.config.bot.name}" in content
        decision = svc.pipeline.handle(message(content, mentioned))
    elif msg_type == "event":
        event = _str(data, "event", "eventtype")
        reply = replies.WELCOME if event == "enter_chat" else ""
        decision = svc.pipeline.handle_other(message(f"[event:{event}]"), reply)
        if decision.reply:
            return _envelope({"msgtype": "text", "text": {"content": decision.reply}}, now)
        return Response("", mimetype="text/plain")
    else:
        decision = svc.pipeline.handle_other(message(f"[{msg_type}]"), replies.TEXT_ONLY)
    return _stream(msg_id, decision, now)


def _stream(stream_id: str, decision: Decision, now: float) -> Response:
    text = passive_text(decision, "wecom_bot")
    if not text:
        return Response("", mimetype="text/plain")
    # One finished stream message carries the whole answer: no follow-up polling needed.
    return _envelope({"msgtype": "stream", "stream": {"id": stream_id, "finish": True, "content": text}}, now)


def _envelope(reply: dict, now: float) -> Response:
    svc = services()
    timestamp, nonce = str(int(now)), new_nonce()
    encrypt = svc.boxes["wecom_bot"].encrypt(json.dumps(reply, ensure_ascii=False))
    signature = sign(svc.config.wecom_bot.token, timestamp, nonce, encrypt)
    envelope = {"encrypt": encrypt, "msgsignature": signature, "timestamp": int(timestamp), "nonce": nonce}
    return Response(json.dumps(envelope), mimetype="application/json")
