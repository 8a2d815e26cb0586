"""An independent implementation of WeChat's and WeCom's server side, for driving our webhooks.

Written from Tencent's protocol description with `cryptography` directly (not wechatpy and
not handlers.crypto), and checked against the vectors in Tencent's sample code.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import string
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sha1_signature(*values: str) -> str:
    """SHA-1 hex of the values sorted as byte strings and joined."""
    joined = b"".join(sorted(v.encode("utf-8") for v in values))
    return hashlib.sha1(joined).hexdigest()


class Aes:
    """Tencent's message encryption: AES-256-CBC, IV = key[:16], PKCS#7 to 32 bytes."""

    def __init__(self, encoding_aes_key: str, receive_id: str):
        self.key = base64.b64decode(encoding_aes_key + "=")
        assert len(self.key) == 32
        self.receive_id = receive_id.encode("utf-8")

    def encrypt(self, plaintext: str, random16: bytes | None = None) -> str:
        msg = plaintext.encode("utf-8")
        random16 = random16 or "".join(random.choices(string.ascii_letters, k=16)).encode()
        data = random16 + len(msg).to_bytes(4, "big") + msg + self.receive_id
        n = 32 - (len(data) % 32)
        data += bytes([n] * n)
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(enc.update(data) + enc.finalize()).decode()

    def decrypt(self, ciphertext: str) -> tuple[str, str]:
        """Returns (plaintext, receive id)."""
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        data = dec.update(base64.b64decode(ciphertext)) + dec.finalize()
        data = data[: -data[-1]]
        length = int.from_bytes(data[16:20], "big")
        return data[20 : 20 + length].decode("utf-8"), data[20 + length :].decode("utf-8")


def _nonce() -> str:
    return str(random.randint(10**8, 10**9))


@dataclass
class Request:
    """One callback as Tencent would send it."""

    method: str
    path: str
    query: dict
    body: bytes = b""
    content_type: str = "text/xml"

    @property
    def url(self) -> str:
        return f"{self.path}?{urlencode(self.query)}"


def _xml_field(xml: str, name: str) -> str:
    m = re.search(rf"<{name}>(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))</{name}>", xml, re.S)
    if not m:
        raise AssertionError(f"{name} missing in {xml!r}")
    return m.group(1) if m.group(1) is not None else m.group(2)


def text_xml(to_user: str, from_user: str, content: str, msg_id: str, create_time: int, agent_id: str | None = None) -> str:
    agent = f"<AgentID>{agent_id}</AgentID>" if agent_id else ""
    return (
        f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName><FromUserName><![CDATA[{from_user}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>{agent}</xml>"
    )


def event_xml(to_user: str, from_user: str, event: str, create_time: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName><FromUserName><![CDATA[{from_user}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event></xml>"
    )


class OfficialAccount:
    """WeChat's side of an Official Account callback (/wechat)."""

    def __init__(self, token: str, encoding_aes_key: str = "", app_id: str = "", account: str = "gh_test"):
        self.token = token
        self.app_id = app_id
        self.account = account
        self.aes = Aes(encoding_aes_key, app_id) if encoding_aes_key else None

    def url_check(self, now: int, echostr: str = "7412589630") -> Request:
        nonce = _nonce()
        ts = str(now)
        q = {"signature": sha1_signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": echostr}
        return Request("GET", "/wechat", q)

    def post(self, xml: str, now: int, mode: str) -> Request:
        """mode: plain (no encryption), compat (plaintext fields plus Encrypt) or safe (Encrypt only)."""
        ts, nonce = str(now), _nonce()
        q = {"signature": sha1_signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "o_user"}
        if mode == "plain":
            return Request("POST", "/wechat", q, xml.encode())
        encrypt = self.aes.encrypt(xml)
        q.update(encrypt_type="aes", msg_signature=sha1_signature(self.token, ts, nonce, encrypt))
        if mode == "compat":
            inner = xml[len("<xml>") : -len("</xml>")]
            body = f"<xml>{inner}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        else:
            body = f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return Request("POST", "/wechat", q, body.encode())

    def text(self, user: str, content: str, msg_id: str, now: int, mode: str) -> Request:
        return self.post(text_xml(self.account, user, content, msg_id, now), now, mode)

    def read_reply(self, body: str, encrypted: bool) -> str:
        """The Content of a passive reply ("" for "success" or empty), checking the envelope's signature."""
        if body in ("", "success"):
            return ""
        if encrypted:
            encrypt = _xml_field(body, "Encrypt")
            sig = sha1_signature(self.token, _xml_field(body, "TimeStamp"), _xml_field(body, "Nonce"), encrypt)
            assert sig == _xml_field(body, "MsgSignature"), "reply signature does not verify"
            body, receive_id = self.aes.decrypt(encrypt)
            assert receive_id == self.app_id
        return _xml_field(body, "Content")


class WecomApp:
    """WeCom's side of a self-built app callback (/wecom)."""

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str, agent_id: str = "1000002"):
        self.token = token
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.aes = Aes(encoding_aes_key, corp_id)

    def url_check(self, now: int, plaintext: str = "8395023512") -> Request:
        ts, nonce = str(now), _nonce()
        echostr = self.aes.encrypt(plaintext)
        q = {"msg_signature": sha1_signature(self.token, ts, nonce, echostr), "timestamp": ts, "nonce": nonce, "echostr": echostr}
        return Request("GET", "/wecom", q)

    def post(self, xml: str, now: int) -> Request:
        ts, nonce = str(now), _nonce()
        encrypt = self.aes.encrypt(xml)
        q = {"msg_signature": sha1_signature(self.token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><AgentID><![CDATA[{self.agent_id}]]></AgentID>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        )
        return Request("POST", "/wecom", q, body.encode())

    def text(self, user: str, content: str, msg_id: str, now: int) -> Request:
        return self.post(text_xml(self.corp_id, user, content, msg_id, now, self.agent_id), now)

    def read_reply(self, body: str) -> str:
        if not body:
            return ""
        encrypt = _xml_field(body, "Encrypt")
        sig = sha1_signature(self.token, _xml_field(body, "TimeStamp"), _xml_field(body, "Nonce"), encrypt)
        assert sig == _xml_field(body, "MsgSignature"), "reply signature does not verify"
        xml, receive_id = self.aes.decrypt(encrypt)
        assert receive_id == self.corp_id
        return _xml_field(xml, "Content")


class WecomRobot:
    """WeCom's side of a smart robot callback (/wecom/bot): JSON, empty receive id."""

    def __init__(self, token: str, encoding_aes_key: str, aibot_id: str = "AIBOTID"):
        self.token = token
        self.aibot_id = aibot_id
        self.aes = Aes(encoding_aes_key, "")

    def post(self, payload: dict, now: int) -> Request:
        ts, nonce = str(now), _nonce()
        plain = json.dumps(payload, ensure_ascii=False)
        if not plain.isascii() and any("\ud800" <= ch <= "\udfff" for ch in plain):
            plain = json.dumps(payload)  # a lone surrogate travels escaped ("\ud800"), never as UTF-8
        encrypt = self.aes.encrypt(plain)
        q = {"msg_signature": sha1_signature(self.token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
        return Request("POST", "/wecom/bot", q, json.dumps({"encrypt": encrypt}).encode(), "application/json")

    def text(self, user: str, content: str, msg_id: str, now: int, chat: str | None = "wrkSFfCgAAtest") -> Request:
        payload = {
            "msgid": msg_id,
            "aibotid": self.aibot_id,
            "chattype": "group" if chat else "single",
            "from": {"userid": user},
            "response_url": f"https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code={os.urandom(8).hex()}",
            "msgtype": "text",
            "text": {"content": content},
        }
        if chat:
            payload["chatid"] = chat
        return self.post(payload, now)

    def read_reply(self, body: str) -> dict | None:
        """The decrypted reply (a dict), None for an empty answer; checks the envelope's signature."""
        if not body:
            return None
        env = json.loads(body)
        assert set(env) == {"encrypt", "msgsignature", "timestamp", "nonce"}
        assert sha1_signature(self.token, str(env["timestamp"]), env["nonce"], env["encrypt"]) == env["msgsignature"]
        plaintext, receive_id = self.aes.decrypt(env["encrypt"])
        assert receive_id == ""
        return json.loads(plaintext)
