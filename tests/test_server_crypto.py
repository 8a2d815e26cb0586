"""The test peer and the server's crypto against Tencent's published vectors, and against each other."""
from __future__ import annotations

import pytest

from handlers.crypto import AesBox, Rejected, check_fresh, check_signature, sign
from server_support import OA, OA_VECTOR, PLAIN, ROBOT, WECOM, WECOM_ECHO
from wechat_peer import Aes, sha1_signature


def test_peer_reproduces_tencent_vectors():
    assert sha1_signature(PLAIN["token"], PLAIN["timestamp"], PLAIN["nonce"]) == PLAIN["signature"]
    v = WECOM_ECHO
    assert sha1_signature(WECOM["token"], v["timestamp"], v["nonce"], v["echostr"]) == v["msg_signature"]
    assert Aes(WECOM["key"], WECOM["corp_id"]).decrypt(v["echostr"]) == (v["plaintext"], WECOM["corp_id"])
    v = OA_VECTOR
    assert sha1_signature(OA["token"], v["timestamp"], v["nonce"], v["encrypt"]) == v["msg_signature"]
    assert Aes(OA["key"], OA["app_id"]).decrypt(v["encrypt"]) == (v["plaintext"], OA["app_id"])


def test_server_crypto_reproduces_tencent_vectors():
    assert sign(PLAIN["token"], PLAIN["timestamp"], PLAIN["nonce"]) == PLAIN["signature"]
    check_signature(PLAIN["signature"].upper(), PLAIN["token"], PLAIN["timestamp"], PLAIN["nonce"])
    v = WECOM_ECHO
    check_signature(v["msg_signature"], WECOM["token"], v["timestamp"], v["nonce"], v["echostr"])
    assert AesBox(WECOM["key"], WECOM["corp_id"]).decrypt(v["echostr"]) == v["plaintext"]
    v = OA_VECTOR
    check_signature(v["msg_signature"], OA["token"], v["timestamp"], v["nonce"], v["encrypt"])
    assert AesBox(OA["key"], OA["app_id"]).decrypt(v["encrypt"]) == v["plaintext"]


@pytest.mark.parametrize("text", ["", "复工", "<xml>" + "很长的内容" * 500 + "</xml>", "x" * 11, "a" * 12])
def test_peer_and_server_encrypt_for_each_other(text):
    box, peer = AesBox(ROBOT["key"], "corp"), Aes(ROBOT["key"], "corp")
    assert box.decrypt(peer.encrypt(text)) == text
    assert peer.decrypt(box.encrypt(text)) == (text, "corp")


def test_forged_and_malformed_are_rejected():
    with pytest.raises(Rejected) as err:
        check_signature("0" * 40, PLAIN["token"], PLAIN["timestamp"], PLAIN["nonce"])
    assert err.value.status == 403
    box = AesBox(WECOM["key"], WECOM["corp_id"])
    for bad in ["not base64!", "", "AAAA", Aes(WECOM["key"], WECOM["corp_id"]).encrypt("x")[:-8] + "AAAAAAA="]:
        with pytest.raises(Rejected):
            box.decrypt(bad)
    with pytest.raises(Rejected) as err:
        box.decrypt(Aes(WECOM["key"], "another_corp").encrypt("hello"))
    assert err.value.reason == "wrong receiver"
    with pytest.raises(ValueError):
        AesBox("too-short", "")


def test_freshness_window():
    check_fresh("1000", 1000 + 300)
    check_fresh("1300", 1000)
    for ts in ("1000", "1602"):
        with pytest.raises(Rejected, match="stale"):
            check_fresh(ts, 1301.5)
