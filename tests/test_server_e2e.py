"""`run.py serve` for real: gunicorn with two workers on a loopback port, driven over HTTP."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server_support import (
    ANSWER_SNIPPET, ANSWERABLE, BOT_NAME, NEW_ENTRY, OA, ROBOT, UNANSWERABLE, WECOM, write_faq,
)
from wechat_peer import OfficialAccount, Request, WecomApp, WecomRobot

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[server]
host = "127.0.0.1"
port = {port}
workers = 2
max_body_bytes = 16384
[storage]
path = "bot.db"
[faq]
path = "faq.yaml"
reload_seconds = 0.5
[bot]
name = "{BOT_NAME}"
[wechat]
mode = "compat"
token = "{OA['token']}"
encoding_aes_key = "{OA['key']}"
app_id = "{OA['app_id']}"
[wecom]
token = "{WECOM['token']}"
encoding_aes_key = "{WECOM['key']}"
corp_id = "{WECOM['corp_id']}"
[wecom_bot]
token = "{ROBOT['token']}"
encoding_aes_key = "{ROBOT['key']}"
""",
        encoding="utf-8",
    )
    return config


def run_py(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


class Server:
    def __init__(self, port: int):
        self.port = port

    def request(self, req: Request) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(req.method, req.url, body=req.body or None, headers={"Content-Type": req.content_type})
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8")
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, str]:
        return self.request(Request("GET", path, {}))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("e2e")
    write_faq(tmp_path / "faq.yaml")
    port = free_port()
    config = write_config(tmp_path, port)
    log = open(tmp_path / "server.log", "w+", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "serve", "--config", str(config), "--workers", "2"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    srv = Server(port)
    srv.tmp_path, srv.config, srv.proc = tmp_path, config, proc
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if srv.get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        yield srv
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        server_log = (tmp_path / "server.log").read_text(encoding="utf-8")
        for secret in (OA["token"], OA["key"], WECOM["token"], WECOM["key"], ROBOT["token"], ROBOT["key"]):
            assert secret not in server_log


def oa():
    return OfficialAccount(OA["token"], OA["key"], OA["app_id"])


def test_healthz(server):
    status, body = server.get("/healthz")
    health = json.loads(body)
    assert status == 200 and health["faq"]["entries"] == 2 and health["faq"]["error"] is None
    assert health["channels"] == ["wechat", "wecom", "wecom_bot"]


def test_every_channel_answers(server):
    now = int(time.time())
    peer = oa()
    for mode in ("plain", "compat"):
        status, body = server.request(peer.text("o_e2e", ANSWERABLE, f"e2e-oa-{mode}", now, mode))
        assert status == 200 and ANSWER_SNIPPET in peer.read_reply(body, mode != "plain")
    wc = WecomApp(WECOM["token"], WECOM["key"], WECOM["corp_id"])
    status, body = server.request(wc.text("zhangsan", ANSWERABLE, "e2e-wc", now))
    assert status == 200 and ANSWER_SNIPPET in wc.read_reply(body)
    rb = WecomRobot(ROBOT["token"], ROBOT["key"])
    status, body = server.request(rb.text("lisi", f"@{BOT_NAME} {ANSWERABLE}", "e2e-rb", now))
    assert status == 200 and ANSWER_SNIPPET in rb.read_reply(body)["stream"]["content"]


def test_forged_stale_and_chunked_oversized(server):
    now = int(time.time())
    req = oa().text("o_e2e", ANSWERABLE, "e2e-forged", now, "compat")
    req.query["msg_signature"] = "0" * 40
    assert server.request(req) == (403, "bad signature")
    assert server.request(oa().text("o_e2e", ANSWERABLE, "e2e-stale", now - 3600, "compat")) == (403, "stale timestamp")
    # A chunked body has no Content-Length, so the server cannot tell a body over the limit before it
    # has read it (one was cut at the limit and its start answered). Tencent always sends Content-Length.
    signed = WecomRobot(ROBOT["token"], ROBOT["key"]).text("u1", ANSWERABLE, "e2e-chunked", now)
    for body in ([signed.body], [signed.body, b" " * 8192] * 20):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("POST", signed.url, body=iter(body), encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
            assert conn.getresponse().status == 411
        finally:
            conn.close()


def test_triple_retry_leaves_one_ticket(server):
    rb = WecomRobot(ROBOT["token"], ROBOT["key"])
    req = rb.text("wangwu", f"@{BOT_NAME} {UNANSWERABLE}", "e2e-retry-1", int(time.time()))
    answers = {server.request(req) for _ in range(4)}  # connections land on either worker
    assert len(answers) <= 4 and all(status == 200 for status, _ in answers)
    assert len({rb.read_reply(body)["stream"]["content"] for _, body in answers}) == 1
    result = run_py("queue", "list", "--json", "--config", str(server.config))
    assert result.returncode == 0, result.stderr
    tickets = [t for t in json.loads(result.stdout) if any(a["msg_id"] == "e2e-retry-1" for a in t["askers"])]
    assert len(tickets) == 1


def _answer(server, text: str, msg_id: str) -> str:
    wc = WecomApp(WECOM["token"], WECOM["key"], WECOM["corp_id"])
    status, body = server.request(wc.text("zhaoliu", text, msg_id, int(time.time())))
    assert status == 200
    return wc.read_reply(body)


def test_live_faq_edit_and_broken_edit(server):
    faq = server.tmp_path / "faq.yaml"
    question = "小微企业贷款贴息怎么申请"
    faq.write_text(faq.read_text(encoding="utf-8") + NEW_ENTRY, encoding="utf-8")
    # Every worker must pick it up before the broken edits: a worker that missed it would rightly keep
    # serving the FAQ before it. Connections spread over both workers, but a busy machine can send
    # every one of a few to the same worker: ask until both have said so.
    deadline, updated = time.monotonic() + 10, set()
    while len(updated) < 2:  # the server runs two workers
        assert time.monotonic() < deadline, f"only workers {updated} loaded the new entry within 10 s"
        health = json.loads(server.get("/healthz")[1])
        if health["faq"]["entries"] == 3:
            updated.add(health["worker"])
        time.sleep(0.05)
    deadline, n = time.monotonic() + 5, 0
    streak = 0
    while streak < 6:
        assert time.monotonic() < deadline, "the new entry was not answered within 5 s"
        n += 1
        streak = streak + 1 if "金融办" in _answer(server, question, f"live-{n}") else 0
        time.sleep(0.05)
    # Broken edits (bad YAML; a duplicate id) are refused whole; the last good FAQ keeps answering.
    good = faq.read_text(encoding="utf-8")
    for broken, problem in ((good + "  - id: [unclosed\n", "not valid YAML"), (good + NEW_ENTRY, "duplicate id 'loan.subsidy'")):
        faq.write_text(broken, encoding="utf-8")
        deadline = time.monotonic() + 15
        while problem not in (json.loads(server.get("/healthz")[1])["faq"]["error"] or ""):  # refused, by one worker at least
            assert time.monotonic() < deadline, f"the broken edit ({problem}) was not refused within 15 s"
            time.sleep(0.1)
        for i in range(4):
            n += 1
            reply = _answer(server, question, f"live-{n}")
            assert "金融办" in reply, (broken[-40:], reply, server.get("/healthz")[1])
        health = json.loads(server.get("/healthz")[1])["faq"]
        assert health["entries"] == 3, health
    log = (server.tmp_path / "server.log").read_text(encoding="utf-8")
    assert "faq.yaml:" in log and "duplicate id 'loan.subsidy'" in log
    # A worker that dies while the file is broken (the OOM killer, a timeout) is replaced by one that
    # serves the last good FAQ too; before, the new worker failed to boot and gunicorn stopped them all.
    deadline, running = time.monotonic() + 10, set()
    while len(running) < 2:  # both workers, so that the one answering after the kill is the new one
        assert time.monotonic() < deadline, f"only workers {running} answered within 10 s"
        running.add(json.loads(server.get("/healthz")[1])["worker"])
    os.kill(min(running), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        assert server.proc.poll() is None, "the server stopped"
        assert time.monotonic() < deadline, "no new worker answered within 30 s"
        try:
            health = json.loads(server.get("/healthz")[1])
        except OSError:  # the killed worker's connection
            health = {"worker": min(running)}
        if health["worker"] not in running:
            break
        time.sleep(0.1)
    assert health["faq"]["entries"] == 3 and "duplicate id 'loan.subsidy'" in health["faq"]["error"]
    n += 1
    assert "金融办" in _answer(server, question, f"live-{n}")


def test_bad_config_exits_1_naming_the_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[wecom]\ntoken = "t"\nencoding_aes_key = "short"\ncorp_id = "c"\n', encoding="utf-8")
    result = run_py("serve", "--config", str(config), "--port", str(free_port()))
    assert result.returncode == 1 and "wecom.encoding_aes_key" in result.stderr
    config.write_text(f'[faq]\npath = "{tmp_path / "missing.yaml"}"\n', encoding="utf-8")
    result = run_py("serve", "--config", str(config), "--port", str(free_port()))
    assert result.returncode == 1 and "faq.path" in result.stderr
