"""The WeCom self-built app channel (/wecom): encrypted XML in and out."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, request

from handlers import xmlmsg
from handlers.common import Services, body, handle_xml_message, passive_text, services
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

    exchange = handle_xml_message("wecom", data, svc)
    user, corp, now, decision = exchange.user, exchange.account, exchange.now, exchange.decision

    text = passive_text(decision, "wecom")
    if not text:
        return Response("", mimetype="text/plain")
    timestamp, nonce = str(int(now)), new_nonce()
    encrypt = svc.boxes["wecom"].encrypt(xmlmsg.text_reply(user, corp, int(now), text))
    xml = xmlmsg.encrypted_reply(encrypt, sign(cfg.token, timestamp, nonce, encrypt), timestamp, nonce)
    return Response(xml, mimetype="application/xml")
