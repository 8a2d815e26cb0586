"""Our signature and AES code speaks the same protocol as wechatpy, the reference Python SDK."""
import re

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WecomCrypto

from handlers.crypto import AesBox, check_signature, sign

TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
APP_ID = "wx5823bf96d3bd56c7"
CORP_ID = "ww1436e0e65a779aee"
XML = "<xml><ToUserName><![CDATA[gh]]></ToUserName><Content><![CDATA[食堂能开吗？]]></Content></xml>"


def field(xml: str, name: str) -> str:
    match = re.search(rf"<{name}>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</{name}>", xml, re.S)
    assert match, name
    return match.group(1)


@pytest.mark.parametrize("sdk, receive_id", [(WeChatCrypto, APP_ID), (WecomCrypto, CORP_ID)])
def test_we_read_what_wechatpy_writes(sdk, receive_id):
    envelope = sdk(TOKEN, KEY, receive_id).encrypt_message(XML, "nonce1", "1714036504")
    encrypt = field(envelope, "Encrypt")
    check_signature(field(envelope, "MsgSignature"), TOKEN, "1714036504", "nonce1", encrypt)
    assert AesBox(KEY, receive_id).decrypt(encrypt) == XML


@pytest.mark.parametrize("sdk, receive_id", [(WeChatCrypto, APP_ID), (WecomCrypto, CORP_ID)])
def test_wechatpy_reads_what_we_write(sdk, receive_id):
    encrypt = AesBox(KEY, receive_id).encrypt(XML)
    signature = sign(TOKEN, "1714036504", "nonce2", encrypt)
    envelope = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    assert sdk(TOKEN, KEY, receive_id).decrypt_message(envelope, signature, "1714036504", "nonce2") == XML


def test_a_message_for_another_app_is_refused():
    envelope = WeChatCrypto(TOKEN, KEY, "wx0000000000000000").encrypt_message(XML, "n", "1")
    with pytest.raises(Exception, match="wrong receiver"):
        AesBox(KEY, APP_ID).decrypt(field(envelope, "Encrypt"))
