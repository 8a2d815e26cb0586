"""The XML both WeChat and WeCom speak: flat <xml> documents in, text and encrypted envelopes out."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from handlers.crypto import Rejected

# Characters XML 1.0 cannot carry at all; a reply containing one would be unparseable.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MARKUP_DECLARATION = re.compile(rb"<!(?!\[CDATA\[)")


# The shape every callback has: <xml> with flat children, each CDATA or plain text without markup.
_FLAT = re.compile(rb"\s*<xml>((?:\s*<([A-Za-z]\w*)>(?:<!\[CDATA\[(?:(?!\]\]>).)*\]\]>|[^<&]*)</\2>)*)\s*</xml>\s*", re.S)
_FIELD = re.compile(rb"<([A-Za-z]\w*)>(?:<!\[CDATA\[(.*?)\]\]>|([^<&]*))</\1>", re.S)


def parse(body: bytes) -> dict[str, str]:
    """The child elements of a flat <xml> document as a dict; anything else is Rejected."""
    flat = _FLAT.fullmatch(body)
    if flat is not None:
        # The common case, read without building a tree (a tenth of ElementTree's cost).
        try:
            fields = {}
            for field in _FIELD.finditer(flat.group(1)):
                value = field.group(2) if field.group(2) is not None else field.group(3)
                fields[field.group(1).decode("ascii")] = value.decode("utf-8").strip()
            return fields
        except UnicodeDecodeError:
            raise Rejected("malformed XML") from None
    # Callbacks never carry a DTD; refusing one rules out entity expansion and external entities.
    if _MARKUP_DECLARATION.search(body):
        raise Rejected("malformed XML")
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError):
        raise Rejected("malformed XML") from None
    if root.tag != "xml":
        raise Rejected("malformed XML")
    return {child.tag: (child.text or "").strip() if len(child) == 0 else "" for child in root}


def cdata(text: str) -> str:
    """Text wrapped in CDATA, safe even when it contains "]]>"."""
    text = _INVALID_XML.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(to_user: str, from_user: str, create_time: int, content: str) -> str:
    """A passive text reply."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )


def encrypted_reply(encrypt: str, signature: str, timestamp: str, nonce: str) -> str:
    """The envelope an encrypted passive reply travels in."""
    return (
        f"<xml><Encrypt>{cdata(encrypt)}</Encrypt><MsgSignature>{cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
    )
