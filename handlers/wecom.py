"""The WeCom self-built app channel (/wecom): encrypted XML in and out."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, request

from bot import replies
from bot.model import Message
from handlers import xmlmsg
from handlers.common import Services, body, passive_text, services
from handlers.crypto import AesBox, Rejected, new_nonce, query_params, sign, verify

bp = Blueprint("wecom", __name__)


def register(app: Flask, svc: Services) -> None:
    """Serve /wecom when the config has a [wecom] section."""
    cfg = svc.config.wecom
    if cfg is None:
        return
    svc.boxes["wecom"] = AesBox(cfg.encoding_aes_key, cfg.corp_id)
    app.register_blueprint(bp)


def echo(channel: str, token: str) -> Response:
    """WeCom's URL check: verify the encrypted echostr and answer its plaintext."""
    svc = services()
    # echostr is base64, which never holds a space: a space here is an unescaped "+".
    (echostr,) = query_params(request.args, "echostr")
    echostr = echostr.replace(" ", "+")
    verify(request.args, token, svc.clock, "msg_signature", echostr)
    return Response(svc.boxes[channel].decrypt(echostr), mimetype="text/plain")


@bp.get("/wecom")
def url_check() -> Response:
    """The URL check when the app's callback is configured."""
    return echo("wecom", services().config.wecom.token)


@bp.post("/wecom")
def receive() -> Response:
    """A message or event from a member's one-to-one chat with the app."""
    svc = services()
    cfg = svc.config.wecom
    envelope = xmlmsg.parse(body())
    if not envelope.get("Encrypt"):
        raise Rejected("missing Encrypt")
    verify(request.args, cfg.token, svc.clock, "msg_signature", envelope["Encrypt"])
    data = xmlmsg.parse(svc.boxes["wecom"].decrypt(envelope["Encrypt"]).encode("utf-8"))

    user, corp = data.get("FromUserName", ""), data.get("ToUserName", "")
    msg_type, create_time = data.get("MsgType", "").lower(), data.get("CreateTime", "")
    if not (user and corp and msg_type):
        raise Rejected("malformed message")
    now = svc.clock()

    def message(text: str, msg_id: str) -> Message:
        return Message("wecom", "", user, text, msg_id, received_at=now)

    if msg_type == "text":
        msg_id = data.get("MsgId") or f"{user}:{create_time}"
        decision = svc.pipeline.handle(message(data.get("Content", ""), msg_id))
    elif msg_type == "event":
        event = data.get("Event", "").lower()
        reply = replies.WELCOME if event == "subscribe" else ""
        decision = svc.pipeline.handle_other(message(f"[event:{event}]", f"event:{user}:{create_time}"), reply)
    else:
        msg_id = data.get("MsgId") or f"{user}:{create_time}"
        decision = svc.pipeline.handle_other(message(f"[{msg_type}]", msg_id), replies.TEXT_ONLY)

    text = passive_text(decision, "wecom")
    if not text:
        return Response("", mimetype="text/plain")
    timestamp, nonce = str(int(now)), new_nonce()
    encrypt = svc.boxes["wecom"].encrypt(xmlmsg.text_reply(user, corp, int(now), text))
    xml = xmlmsg.encrypted_reply(encrypt, sign(cfg.token, timestamp, nonce, encrypt), timestamp, nonce)
    return Response(xml, mimetype="application/xml")
