"""The Official Account channel (/wechat): plain, compatible and safe modes, XML in and out."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, request

from handlers import xmlmsg
from handlers.common import Services, body, handle_xml_message, passive_text, services
from handlers.crypto import AesBox, Rejected, new_nonce, query_params, sign, verify

bp = Blueprint("wechat", __name__)


def register(app: Flask, svc: Services) -> None:
    """Serve /wechat when the config has a [wechat] section."""
    cfg = svc.config.wechat
    if cfg is None:
        return
    if cfg.mode != "plain":
        svc.boxes["wechat"] = AesBox(cfg.encoding_aes_key, cfg.app_id)
    app.register_blueprint(bp)


@bp.get("/wechat")
def url_check() -> Response:
    """WeChat's URL check: a plain signature over token, timestamp and nonce in every mode."""
    svc = services()
    (echostr,) = query_params(request.args, "echostr")
    verify(request.args, svc.config.wechat.token, svc.clock, "signature")
    return Response(echostr, mimetype="text/plain")


@bp.post("/wechat")
def receive() -> Response:
    """A message or event; the answer goes back as the passive reply."""
    svc = services()
    cfg = svc.config.wechat
    encrypted = request.args.get("encrypt_type", "raw").lower() == "aes"
    if encrypted and cfg.mode == "plain":
        raise Rejected("encrypted messages are not configured")
    if not encrypted and cfg.mode == "safe":
        # The plaintext signature covers only token, timestamp and nonce, not the body.
        raise Rejected("plaintext messages are refused in safe mode", 403)
    if encrypted:
        envelope = xmlmsg.parse(body())
        if not envelope.get("Encrypt"):
            raise Rejected("missing Encrypt")
        verify(request.args, cfg.token, svc.clock, "msg_signature", envelope["Encrypt"])
        data = xmlmsg.parse(svc.boxes["wechat"].decrypt(envelope["Encrypt"]).encode("utf-8"))
    else:
        verify(request.args, cfg.token, svc.clock, "signature")
        data = xmlmsg.parse(body())

    exchange = handle_xml_message("wechat", data, svc)
    user, account, now, decision = exchange.user, exchange.account, exchange.now, exchange.decision

    text = passive_text(decision, "wechat")
    if not text:
        # "success" tells WeChat we got the message and will not reply, so it stops retrying.
        return Response("success", mimetype="text/plain")
    xml = xmlmsg.text_reply(user, account, int(now), text)
    if encrypted:
        timestamp, nonce = str(int(now)), new_nonce()
        encrypt = svc.boxes["wechat"].encrypt(xml)
        xml = xmlmsg.encrypted_reply(encrypt, sign(cfg.token, timestamp, nonce, encrypt), timestamp, nonce)
    return Response(xml, mimetype="application/xml")
