"""Every channel and mode through the Flask test client, driven by the independent peer."""
from __future__ import annotations

import json
import os
import random
import threading
import time

import pytest
from click.testing import CliRunner

from bot.cli import register_all
from bot.replies import split_reply
from bot.server import create_app
from bot.store import Store
from server_support import (
    ANSWER_SNIPPET, ANSWERABLE, BOT_NAME, NEW_ENTRY, NOW, OA, OA_VECTOR, PLAIN, ROBOT, UNANSWERABLE, WECOM,
    WECOM_ECHO, Clock, config_dict, make_config, send, write_faq,
)
from wechat_peer import OfficialAccount, Request, WecomApp, WecomRobot, event_xml, sha1_signature

OA_MODES = ["plain", "compat", "safe"]


@pytest.fixture
def clock():
    return Clock()


def app_for(tmp_path, clock, **kwargs):
    return create_app(make_config(tmp_path, **kwargs), clock=clock)


@pytest.fixture
def client(tmp_path, clock):
    return app_for(tmp_path, clock).test_client()


def oa_peer():
    return OfficialAccount(OA["token"], OA["key"], OA["app_id"])


def wecom_peer():
    return WecomApp(WECOM["token"], WECOM["key"], WECOM["corp_id"])


def robot_peer():
    return WecomRobot(ROBOT["token"], ROBOT["key"])


def rows(tmp_path):
    return Store(tmp_path / "bot.db").messages(1000)


def ask(client, channel, text, msg_id, *, mode="safe", now=NOW, chat="wrkGroup1"):
    """Send one text message on a channel; returns (response, decoded reply text)."""
    if channel == "wechat":
        peer = oa_peer()
        resp = send(client, peer.text("o_user1", text, msg_id, now, mode))
        return resp, (peer.read_reply(resp.get_data(as_text=True), mode != "plain") if resp.status_code == 200 else None)
    if channel == "wecom":
        peer = wecom_peer()
        resp = send(client, peer.text("zhangsan", text, msg_id, now))
        return resp, (peer.read_reply(resp.get_data(as_text=True)) if resp.status_code == 200 else None)
    peer = robot_peer()
    resp = send(client, peer.text("lisi", text, msg_id, now, chat=chat))
    reply = peer.read_reply(resp.get_data(as_text=True)) if resp.status_code == 200 else None
    if reply is not None:
        assert reply["msgtype"] == "stream" and reply["stream"]["finish"] is True and reply["stream"]["id"] == msg_id
        reply = reply["stream"]["content"]
    return resp, reply if reply is not None else ("" if resp.status_code == 200 else None)


# --- URL checks with Tencent's vectors -------------------------------------------------------

def test_wecom_url_check_with_tencent_vector(tmp_path):
    client = app_for(tmp_path, Clock(int(WECOM_ECHO["timestamp"]) + 30)).test_client()
    q = {k: WECOM_ECHO[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    resp = client.get("/wecom", query_string=q)
    assert resp.status_code == 200 and resp.data == WECOM_ECHO["plaintext"].encode()
    # The same vector ten minutes later is a replay.
    late = app_for(tmp_path, Clock(int(WECOM_ECHO["timestamp"]) + 600)).test_client()
    assert late.get("/wecom", query_string=q).status_code == 403


def test_wechat_url_check_with_tencent_vector(tmp_path):
    from bot.config import config_from_dict

    cfg = config_dict(tmp_path)
    cfg["wechat"]["token"] = PLAIN["token"]
    client = create_app(config_from_dict(cfg), clock=Clock(int(PLAIN["timestamp"]))).test_client()
    q = {"signature": PLAIN["signature"], "timestamp": PLAIN["timestamp"], "nonce": PLAIN["nonce"], "echostr": "5837397520665436492"}
    resp = client.get("/wechat", query_string=q)
    assert resp.status_code == 200 and resp.data == b"5837397520665436492"
    q["signature"] = "f" * 40
    assert client.get("/wechat", query_string=q).status_code == 403


def test_wechat_safe_mode_accepts_tencent_signature(tmp_path):
    """The OA vector gets past signature and decryption; its plaintext is not a message, hence 400."""
    client = app_for(tmp_path, Clock(int(OA_VECTOR["timestamp"]))).test_client()
    q = {"signature": "x", "timestamp": OA_VECTOR["timestamp"], "nonce": OA_VECTOR["nonce"],
         "encrypt_type": "aes", "msg_signature": OA_VECTOR["msg_signature"]}
    body = f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{OA_VECTOR['encrypt']}]]></Encrypt></xml>"
    resp = client.post("/wechat", query_string=q, data=body)
    assert resp.status_code == 400 and resp.data == b"malformed XML"
    q["msg_signature"] = "0" * 40
    assert client.post("/wechat", query_string=q, data=body).status_code == 403


@pytest.mark.parametrize("channel", ["wecom", "wecom_bot"])
def test_encrypted_url_check_with_peer(client, channel):
    peer = WecomApp(WECOM["token"], WECOM["key"], WECOM["corp_id"])
    req = peer.url_check(NOW, "42")
    if channel == "wecom_bot":
        from wechat_peer import Aes, _nonce
        echostr = Aes(ROBOT["key"], "").encrypt("43")
        nonce = _nonce()
        req = Request("GET", "/wecom/bot", {"msg_signature": sha1_signature(ROBOT["token"], str(NOW), nonce, echostr),
                                            "timestamp": str(NOW), "nonce": nonce, "echostr": echostr})
    resp = send(client, req)
    assert resp.status_code == 200 and resp.data == (b"42" if channel == "wecom" else b"43")


# --- Messages on every channel and mode -----------------------------------------------------

@pytest.mark.parametrize("channel,mode", [("wechat", m) for m in OA_MODES] + [("wecom", None), ("wecom_bot", None)])
def test_answer_and_escalate(tmp_path, clock, channel, mode):
    client = app_for(tmp_path, clock, wechat_mode=mode or "safe").test_client()
    prefix = f"@{BOT_NAME}\u2005" if channel == "wecom_bot" else ""
    resp, reply = ask(client, channel, prefix + ANSWERABLE, "1001", mode=mode)
    assert resp.status_code == 200 and ANSWER_SNIPPET in reply
    resp, reply = ask(client, channel, prefix + UNANSWERABLE, "1002", mode=mode)
    assert resp.status_code == 200 and "已转人工：工单 #1，" in reply
    logged = {r["msg_id"]: r for r in rows(tmp_path)}
    assert logged["1001"]["decision"] == "answer" and logged["1001"]["faq_id"] == "resume.materials"
    assert logged["1002"]["decision"] == "escalate" and logged["1002"]["channel"] == channel
    assert all(r["handled_ms"] is not None for r in logged.values())


@pytest.mark.parametrize("channel,mode", [("wechat", m) for m in OA_MODES] + [("wecom", None), ("wecom_bot", None)])
def test_triple_retry_is_processed_once(tmp_path, clock, channel, mode):
    client = app_for(tmp_path, clock, wechat_mode=mode or "safe").test_client()
    prefix = f"@{BOT_NAME} " if channel == "wecom_bot" else ""
    replies = []
    for attempt in range(4):  # the original and WeChat's three retries, 5 s apart
        clock.now = NOW + attempt * 5
        resp, reply = ask(client, channel, prefix + UNANSWERABLE, "77", mode=mode, now=int(clock.now))
        assert resp.status_code == 200
        replies.append(reply)
    assert len(set(replies)) == 1 and replies[0]
    assert len(rows(tmp_path)) == 1
    assert len(Store(tmp_path / "bot.db").escalations()) == 1


def test_retry_racing_in_two_workers_is_logged_once(tmp_path, clock):
    """Two apps on one database stand in for two gunicorn workers receiving the same retry."""
    apps = [app_for(tmp_path, clock).test_client() for _ in range(2)]
    peer = wecom_peer()
    req = peer.text("zhangsan", UNANSWERABLE, "race-1", NOW)
    results, barrier = [], threading.Barrier(8)

    def worker(i):
        barrier.wait()
        resp = send(apps[i % 2], req)
        results.append((resp.status_code, peer.read_reply(resp.get_data(as_text=True))))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {code for code, _ in results} == {200} and len({text for _, text in results}) == 1
    assert len(rows(tmp_path)) == 1
    assert len(Store(tmp_path / "bot.db").tickets()) == 1


def test_wechat_events_and_other_types(client, tmp_path):
    peer = oa_peer()
    resp = send(client, peer.post(event_xml("gh_test", "o_new", "subscribe", NOW), NOW, "safe"))
    assert "欢迎" in peer.read_reply(resp.get_data(as_text=True), True)
    resp = send(client, peer.post(event_xml("gh_test", "o_new", "subscribe", NOW), NOW, "safe"))  # retry
    assert "欢迎" in peer.read_reply(resp.get_data(as_text=True), True)
    resp = send(client, peer.post(event_xml("gh_test", "o_new", "unsubscribe", NOW + 1), NOW, "safe"))
    assert resp.data == b"success"
    image = ("<xml><ToUserName>gh_test</ToUserName><FromUserName>o_new</FromUserName><CreateTime>1</CreateTime>"
             "<MsgType>image</MsgType><PicUrl>http://x/y.jpg</PicUrl><MsgId>555</MsgId></xml>")
    resp = send(client, peer.post(image, NOW, "safe"))
    assert "文字" in peer.read_reply(resp.get_data(as_text=True), True)
    assert sorted(r["text"] for r in rows(tmp_path)) == ["[event:subscribe]", "[event:unsubscribe]", "[image]"]


def test_wechat_safe_mode_refuses_plaintext(client):
    resp, _ = ask(client, "wechat", ANSWERABLE, "1", mode="plain")
    assert resp.status_code == 403 and ANSWER_SNIPPET.encode() not in resp.data


def test_wechat_plain_mode_refuses_encrypted(tmp_path, clock):
    client = app_for(tmp_path, clock, wechat_mode="plain").test_client()
    resp, _ = ask(client, "wechat", ANSWERABLE, "1", mode="safe")
    assert resp.status_code == 400


# --- Groups ----------------------------------------------------------------------------------

def test_group_without_mention_is_ignored(client, tmp_path):
    resp, reply = ask(client, "wecom_bot", ANSWERABLE, "g1")
    assert resp.status_code == 200 and resp.data == b""
    resp, reply = ask(client, "wecom_bot", f"@别人 {ANSWERABLE}", "g2")
    assert resp.data == b""
    logged = rows(tmp_path)
    assert [r["decision"] for r in logged] == ["ignore", "ignore"] and not any(r["mentioned"] for r in logged)


def test_single_chat_with_robot_needs_no_mention(client):
    resp, reply = ask(client, "wecom_bot", ANSWERABLE, "s1", chat=None)
    assert ANSWER_SNIPPET in reply


@pytest.mark.parametrize("text", ["谢谢", "收到，谢谢！", "好的[抱拳]", "辛苦了🙏", ""])
def test_courtesy_is_never_escalated(client, tmp_path, text):
    resp, reply = ask(client, "wecom_bot", f"@{BOT_NAME} {text}", "c1")
    assert resp.status_code == 200 and resp.data == b""
    assert Store(tmp_path / "bot.db").escalations() == []


def test_a_lone_surrogate_in_a_robot_message_is_answered_not_refused(client, tmp_path):
    # JSON may carry "\ud800", which is no character: OpenCC failed on it and the message was lost.
    resp, reply = ask(client, "wecom_bot", f"@{BOT_NAME} {ANSWERABLE}\ud800", "u1")
    assert resp.status_code == 200 and ANSWER_SNIPPET in reply
    assert rows(tmp_path)[0]["text"].endswith("?")


def test_group_message_keeps_response_url_and_chat(client, tmp_path):
    ask(client, "wecom_bot", f"@{BOT_NAME} {UNANSWERABLE}", "e1", chat="wrkChat9")
    row = rows(tmp_path)[0]
    assert row["chat"] == "wrkChat9" and row["user"] == "lisi" and row["is_group"] == 1
    assert row["response_url"].startswith("https://qyapi.weixin.qq.com/") and row["response_url_at"] == NOW


def test_stream_refresh_resends_the_recorded_reply(client):
    ask(client, "wecom_bot", f"@{BOT_NAME} {ANSWERABLE}", "st1")
    peer = robot_peer()
    resp = send(client, peer.post({"msgid": "poll1", "aibotid": "A", "chattype": "group", "chatid": "wrkGroup1",
                                   "from": {"userid": "lisi"}, "msgtype": "stream", "stream": {"id": "st1"}}, NOW))
    reply = peer.read_reply(resp.get_data(as_text=True))
    assert reply["stream"]["finish"] is True and ANSWER_SNIPPET in reply["stream"]["content"]


# --- Refusals: forged, stale, malformed, oversized, absent -------------------------------------

def _forge(req: Request, key: str) -> Request:
    req.query[key] = "1" * 40
    return req


def _requests(now=NOW):
    oa, wc, rb = oa_peer(), wecom_peer(), robot_peer()
    return {
        "wechat": oa.text("o_user1", UNANSWERABLE, "9001", now, "safe"),
        "wecom": wc.text("zhangsan", UNANSWERABLE, "9002", now),
        "wecom_bot": rb.text("lisi", f"@{BOT_NAME} {UNANSWERABLE}", "9003", now),
    }


@pytest.mark.parametrize("channel", ["wechat", "wecom", "wecom_bot"])
def test_forged_signature_refused(client, tmp_path, channel):
    resp = send(client, _forge(_requests()[channel], "msg_signature"))
    assert resp.status_code == 403 and resp.data == b"bad signature"
    assert rows(tmp_path) == []


@pytest.mark.parametrize("channel", ["wechat", "wecom", "wecom_bot"])
@pytest.mark.parametrize("skew", [-301, 400, 10**6])
def test_stale_timestamp_refused(client, tmp_path, channel, skew):
    resp = send(client, _requests(NOW + skew)[channel])
    assert resp.status_code == 403 and resp.data == b"stale timestamp"
    assert rows(tmp_path) == []


def test_plain_mode_forged_signature_refused(tmp_path, clock):
    client = app_for(tmp_path, clock, wechat_mode="plain").test_client()
    req = _forge(oa_peer().text("o_user1", ANSWERABLE, "1", NOW, "plain"), "signature")
    resp = send(client, req)
    assert resp.status_code == 403 and ANSWER_SNIPPET.encode() not in resp.data


@pytest.mark.parametrize("channel", ["wechat", "wecom", "wecom_bot"])
@pytest.mark.parametrize("missing", ["msg_signature", "timestamp", "nonce"])
def test_missing_params_refused(client, channel, missing):
    req = _requests()[channel]
    del req.query[missing]
    resp = send(client, req)
    assert resp.status_code == 400 and resp.data == f"missing {missing}".encode()


@pytest.mark.parametrize("body", [b"", b"not xml", b"<xml><Encrypt>", b"<root><Encrypt>x</Encrypt></root>",
                                  b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>',
                                  b"\xff\xfe<\x00x\x00", b"<xml><Encrypt>!!notbase64!!</Encrypt></xml>"])
@pytest.mark.parametrize("path", ["/wechat", "/wecom"])
def test_malformed_xml_refused(client, path, body):
    ts, nonce = str(NOW), "123"
    encrypt = body.split(b"<Encrypt>")[1].split(b"<")[0].decode() if b"!!" in body else ""
    token = OA["token"] if path == "/wechat" else WECOM["token"]
    q = {"timestamp": ts, "nonce": nonce, "msg_signature": sha1_signature(token, ts, nonce, encrypt), "encrypt_type": "aes"}
    resp = client.post(path, query_string=q, data=body)
    assert 400 <= resp.status_code < 500


def test_malformed_json_refused(client):
    ts, nonce = str(NOW), "1"
    for body in [b"", b"{", b"[]", b'{"encrypt": 5}', b'{"encrypt": "@@@"}', b"[" * 100000]:
        q = {"timestamp": ts, "nonce": nonce, "msg_signature": sha1_signature(ROBOT["token"], ts, nonce, "@@@")}
        resp = client.post("/wecom/bot", query_string=q, data=body, content_type="application/json")
        assert 400 <= resp.status_code < 500, body[:20]


def test_decrypted_garbage_refused(client):
    """Correctly signed and encrypted, but the plaintext is not a usable message."""
    peer = robot_peer()
    for payload in ({"msgid": 5, "msgtype": "text", "from": {"userid": "x"}}, {"msgtype": "text"},
                    {"msgid": "1", "msgtype": "text", "from": "x"}, {"msgid": "1", "msgtype": "text", "from": {"userid": ["x"]}}):
        assert send(client, peer.post(payload, NOW)).status_code == 400
    wc = wecom_peer()
    for xml in ["<xml><MsgType>text</MsgType></xml>", "plain words", "<xml><FromUserName>a</FromUserName></xml>"]:
        assert send(client, wc.post(xml, NOW)).status_code == 400


@pytest.mark.parametrize("path", ["/wechat", "/wecom", "/wecom/bot"])
def test_oversized_body_refused(client, path):
    resp = client.post(path, query_string={"timestamp": str(NOW), "nonce": "1", "msg_signature": "x"}, data=b"x" * 20000)
    assert resp.status_code == 413


def test_absent_channel_is_404(tmp_path, clock):
    client = app_for(tmp_path, clock, channels=("wecom",)).test_client()
    for path in ("/wechat", "/wecom/bot"):
        assert client.post(path).status_code == 404 and client.get(path).status_code == 404
    assert client.get("/healthz").json["channels"] == ["wecom"]


def test_no_input_gives_5xx(client):
    """Random junk in every position: always a 4xx (or 200 for the URL checks), never a 5xx."""
    rng = random.Random(7)
    junk = ["", "a", "%00", "1" * 70, "\u2028", "9" * 13, "-1", "<xml/>", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1")]
    for _ in range(300):
        path = rng.choice(["/wechat", "/wecom", "/wecom/bot", "/healthz"])
        q = {k: rng.choice(junk + [str(NOW)]) for k in rng.sample(["signature", "msg_signature", "timestamp", "nonce", "echostr", "encrypt_type"], 4)}
        body = rng.choice([b"", b"<xml>", bytes(rng.randrange(256) for _ in range(64)), b'{"encrypt":"AAAA"}'])
        resp = client.open(path, method=rng.choice(["GET", "POST", "PUT"]), query_string=q, data=body)
        assert resp.status_code < 500


# --- Replies, health, reload, queue ------------------------------------------------------------

def test_split_reply_on_character_boundaries():
    text = "复工" * 1500 + "\n" + "abc" * 100
    parts = split_reply(text)
    assert all(len(p.encode("utf-8")) <= 2048 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    emoji = "😀" * 1000  # 4 bytes each: never cut in the middle of one
    assert all(len(p.encode()) <= 2048 and set(p) == {"😀"} for p in split_reply(emoji))
    assert split_reply("短") == ["短"] and split_reply("") == []
    lines = "\n".join(["第一段" * 50] * 20)
    assert all(not p.startswith("\n") and p.endswith("第一段") for p in split_reply(lines))


def test_long_reply_is_sent_within_limit(tmp_path, clock):
    long_answer = "请按以下步骤办理。" * 400
    write_faq(tmp_path / "faq.yaml", NEW_ENTRY.replace("贴息申请请登录区金融办网站填写申报表。", long_answer))
    client = app_for(tmp_path, clock).test_client()
    for channel in ("wechat", "wecom", "wecom_bot"):
        prefix = f"@{BOT_NAME} " if channel == "wecom_bot" else ""
        resp, reply = ask(client, channel, prefix + "小微企业贷款贴息怎么申请", f"long-{channel}")
        assert reply and len(reply.encode("utf-8")) <= 2048 and long_answer.startswith(reply)


def test_healthz_and_live_reload(tmp_path, clock):
    client = app_for(tmp_path, clock).test_client()
    health = client.get("/healthz").json
    assert health["status"] == "ok" and health["faq"]["entries"] == 2 and health["faq"]["error"] is None
    assert health["worker"] == os.getpid()
    faq = tmp_path / "faq.yaml"
    faq.write_text(faq.read_text(encoding="utf-8") + NEW_ENTRY, encoding="utf-8")

    def wait_for(condition):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.1)
        return False

    assert wait_for(lambda: client.get("/healthz").json["faq"]["entries"] == 3)
    _, reply = ask(client, "wecom", "小微企业贷款贴息怎么申请", "r1")
    assert "金融办" in reply
    # A broken edit (a duplicate id) is refused whole; the last good FAQ keeps answering.
    faq.write_text(faq.read_text(encoding="utf-8") + NEW_ENTRY, encoding="utf-8")
    assert wait_for(lambda: client.get("/healthz").json["faq"]["error"])
    health = client.get("/healthz").json
    assert health["faq"]["entries"] == 3 and "faq.yaml:" in health["faq"]["error"]
    _, reply = ask(client, "wecom", "小微企业贷款贴息怎么申请", "r2")
    assert "金融办" in reply


def test_queue_list_json_lists_escalations_once(tmp_path, clock):
    client = app_for(tmp_path, clock).test_client()
    for _ in range(3):
        ask(client, "wecom_bot", f"@{BOT_NAME} {UNANSWERABLE}", "q1")
    ask(client, "wecom", ANSWERABLE, "q2")
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\npath = "{tmp_path / "bot.db"}"\n', encoding="utf-8")
    result = CliRunner().invoke(register_all(), ["queue", "list", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert len(listed) == 1 and listed[0]["question"] == UNANSWERABLE and listed[0]["status"] == "open"
    (asker,) = listed[0]["askers"]
    assert asker["channel"] == "wecom_bot" and asker["user"] and asker["msg_id"] == "q1"
    assert "response_url" not in json.dumps(listed)  # single-use credentials are never printed
    result = CliRunner().invoke(register_all(), ["queue", "list", "--config", str(config)])
    assert result.exit_code == 0 and UNANSWERABLE in result.output


def test_no_secret_in_logs_or_responses(tmp_path, clock, caplog):
    caplog.set_level("DEBUG")
    client = app_for(tmp_path, clock).test_client()
    bodies = []
    for req in _requests().values():
        bodies.append(send(client, req).get_data(as_text=True))
        bodies.append(send(client, _forge(req, "msg_signature")).get_data(as_text=True))
    bodies.append(client.get("/healthz").get_data(as_text=True))
    secrets = [OA["token"], OA["key"], WECOM["token"], WECOM["key"], ROBOT["token"], ROBOT["key"]]
    for text in bodies + [caplog.text]:
        assert not any(s in text for s in secrets)


def test_under_serve_a_request_writes_the_due_log_batch_once_its_reply_is_out(tmp_path, clock, monkeypatch):
    monkeypatch.setattr("bot.pipeline.LOG_BATCH_SECONDS", 0.5)  # the background thread waits twice that
    client = create_app(make_config(tmp_path), clock=clock, serving=True).test_client()
    ask(client, "wechat", ANSWERABLE, "s1")[0].close()  # the server closes a response once it is sent
    assert rows(tmp_path) == []  # batched
    time.sleep(0.55)
    resp, reply = ask(client, "wechat", ANSWERABLE, "s2")
    assert ANSWER_SNIPPET in reply and rows(tmp_path) == []  # the reply is complete before any write
    resp.close()  # the batch is due: the request's close writes it
    assert {r["msg_id"] for r in rows(tmp_path)} == {"s1", "s2"}
