"""The issue's "done when", through the real server: `run.py serve` (gunicorn, two workers) driven by
the independent WeCom peer, `run.py queue … --json` subprocesses, a local HTTP server standing in
for the response_urls and robot webhooks, and SIGKILL of the whole server in the middle of a burst."""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from endpoint import Endpoint
from server_support import BOT_NAME, ROBOT, UNANSWERABLE, write_faq
from test_server_e2e import Server, free_port, run_py
from wechat_peer import WecomRobot

ROOT = Path(__file__).resolve().parent.parent
URGENT = "加急测试：冷库消杀记录要不要报备"


def write_config(tmp_path: Path, port: int, endpoint: Endpoint) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[server]
host = "127.0.0.1"
port = {port}
workers = 2
[storage]
path = "bot.db"
[faq]
path = "faq.yaml"
reload_seconds = 0.5
[bot]
name = "{BOT_NAME}"
answer_threshold = 1.0           # every question escalates: independent of the matcher's tuning
suggest_threshold = 1.0
[wecom_bot]
token = "{ROBOT['token']}"
encoding_aes_key = "{ROBOT['key']}"
[queue]
default_team = "综合协调组"
scan_seconds = 0.3
reminder_minutes_before = 0.03   # 1.8 s
[[queue.routes]]
team = "加急组"
keywords = ["加急测试"]
[[queue.deadlines]]
team = "*"
[[queue.deadlines]]
team = "加急组"
working_hours = 0.001            # 3.6 s
workday_start = "00:00"
workday_end = "23:59"
[[cadres.groups]]
team = "加急组"
chat = "wrkCadreUrgent"
webhook_key = "urgent-key"
[robots]
wrkA = "robot-a-key"
wrkB = "robot-b-key"
[delivery]
api_base = "{endpoint.base}"
wechat_api_base = "{endpoint.base}"
retry_first_seconds = 0.3
retry_max_seconds = 2.0          # a row that failed often before a crash is still retried soon after it
timeout_seconds = 1.0
lease_seconds = 3.0
poll_seconds = 0.1
""",
        encoding="utf-8",
    )
    return config


def start(tmp_path: Path, config: Path, port: int) -> subprocess.Popen:
    log = open(tmp_path / "server.log", "a", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "serve", "--config", str(config)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    srv = Server(port)
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, (tmp_path / "server.log").read_text(encoding="utf-8")
        try:
            if srv.get("/healthz")[0] == 200:
                return proc
        except OSError:
            pass
        assert time.monotonic() < deadline, "server did not come up"
        time.sleep(0.1)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def ask(server: Server, endpoint: Endpoint, user: str, chat: str, text: str, msg_id: str | None = None) -> tuple[int, str]:
    """A group member @-mentions the robot; the callback's response_url points at the local endpoint."""
    msg_id = msg_id or uuid.uuid4().hex
    payload = {
        "msgid": msg_id, "aibotid": "AIBOTID", "chattype": "group", "chatid": chat, "from": {"userid": user},
        "response_url": endpoint.url(f"/resp/{msg_id}"), "msgtype": "text",
        "text": {"content": f"@{BOT_NAME}\u2005{text}"},
    }
    rb = WecomRobot(ROBOT["token"], ROBOT["key"])
    status, body = server.request(rb.post(payload, int(time.time())))
    reply = rb.read_reply(body) if status == 200 and body else None
    return status, (reply["stream"]["content"] if reply else "")


def queue_json(config: Path, *args: str):
    result = run_py("queue", *args, "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("queue-e2e")
    write_faq(tmp_path / "faq.yaml")
    endpoint = Endpoint()
    port = free_port()
    config = write_config(tmp_path, port, endpoint)
    proc = start(tmp_path, config, port)
    try:
        yield Server(port), endpoint, config
    finally:
        stop(proc)
        endpoint.close()


def test_two_groups_one_ticket_answer_reaches_both_exactly_once(live):
    server, endpoint, config = live
    status, first = ask(server, endpoint, "u1", "wrkA", UNANSWERABLE, "dw1-a")
    assert status == 200 and first.startswith("已转人工：工单 #")
    ticket_id = int(first.split("#")[1].split("，")[0])
    status, second = ask(server, endpoint, "u2", "wrkB", UNANSWERABLE, "dw1-b")
    assert status == 200 and f"已并入工单 #{ticket_id}" in second
    tickets = [t for t in queue_json(config, "list") if t["id"] == ticket_id]
    assert len(tickets) == 1 and tickets[0]["status"] == "open"
    assert [(a["chat"], a["user"]) for a in tickets[0]["askers"]] == [("wrkA", "u1"), ("wrkB", "u2")]
    assert len([t for t in queue_json(config, "list") if t["question"] == UNANSWERABLE]) == 1

    # The first attempt is refused: that reply link is used up, and the group's robot carries the answer.
    endpoint.fail(("http", 503))
    answer = "排污许可证换证已受理，预计本周五前办结，请留意短信通知。"
    result = run_py("queue", "answer", str(ticket_id), answer, "--by", "张三", "--config", str(config))
    assert result.returncode == 0 and "将发送给 2 位企业联系人" in result.stdout, result.stderr
    urls = {"/resp/dw1-a": "u1", "/resp/dw1-b": "u2"}
    robots = {"robot-a-key", "robot-b-key"}

    def delivered():
        got = [(urls[r["path"]], r["body"]["markdown"]["content"]) for r in endpoint.delivered("/resp/")
               if r["path"] in urls]
        got += [(r["body"]["text"]["mentioned_list"][0], "<@{}> ".format(r["body"]["text"]["mentioned_list"][0])
                 + r["body"]["text"]["content"]) for r in endpoint.delivered("/cgi-bin/webhook/send")
                if r["query"].get("key") in robots]
        return got

    assert endpoint.wait_for(lambda: len(delivered()) >= 2, 15)
    time.sleep(1.0)  # any duplicate would show up now
    assert sorted(user for user, _ in delivered()) == ["u1", "u2"]
    for user, content in delivered():
        assert content == f"<@{user}> 您咨询的问题（工单 #{ticket_id}）答复如下：\n{answer}"
    assert len([r for r in endpoint.posts("/resp/") if r["path"] in urls]) == 2  # the refused link is not retried
    shown = queue_json(config, "show", str(ticket_id))
    assert shown["status"] == "answered" and shown["answered_by"] == "张三"
    assert sorted((d["status"], d["route"]) for d in shown["deliveries"]) == [
        ("delivered", "response_url"), ("delivered", "robot")]
    assert sum(d["attempts"] for d in shown["deliveries"]) == 3


def test_overdue_ticket_is_listed_and_its_cadre_group_alerted_once(live):
    server, endpoint, config = live
    status, ack = ask(server, endpoint, "u3", "wrkA", URGENT)
    assert status == 200 and "加急组将于今天" in ack, ack
    ticket_id = int(ack.split("#")[1].split("，")[0])

    def messages(prefix):
        return [r for r in endpoint.delivered("/cgi-bin/webhook/send")
                if r["query"]["key"] == "urgent-key" and r["body"]["text"]["content"].startswith(prefix)
                and f"#{ticket_id} " in r["body"]["text"]["content"]]

    assert endpoint.wait_for(lambda: messages("【已超时】"), 15), endpoint.posts()
    time.sleep(1.2)  # several more scans in both workers: still one of each
    assert len(messages("【即将到期】")) == 1 and len(messages("【已超时】")) == 1
    overdue = queue_json(config, "list", "--overdue")
    assert [t["id"] for t in overdue if t["id"] == ticket_id] == [ticket_id] and overdue[-1]["overdue"] is True
    assert ticket_id not in [t["id"] for t in queue_json(config, "list", "--overdue", "--team", "综合协调组")]


TOPICS = ["仓库叉车要年检吗", "锅炉压力容器检验找哪个部门", "消防验收的复查什么时候安排", "电梯年检过期了怎么办",
          "食堂的食品经营许可证到期续办", UNANSWERABLE]


def test_sigkill_mid_burst_loses_no_ticket_asker_or_answer(tmp_path):
    from bot.config import load_config
    from bot.queue import TicketQueue
    from bot.store import Store

    write_faq(tmp_path / "faq.yaml")
    endpoint = Endpoint()
    endpoint.set_always(("http", 503))  # nothing gets through before the crash
    port = free_port()
    config_path = write_config(tmp_path, port, endpoint)
    config = load_config(config_path)
    proc = start(tmp_path, config_path, port)
    server = Server(port)
    acked: list[tuple[int, str, str]] = []
    lock = threading.Lock()
    killed = threading.Event()

    def burst(worker: int) -> None:
        for n in range(30):
            if killed.is_set():
                return
            msg_id, user = f"k{worker}-{n}", f"user{worker}-{n}"
            try:
                status, reply = ask(server, endpoint, user, ("wrkA", "wrkB")[n % 2], TOPICS[(worker + n) % len(TOPICS)], msg_id)
            except (OSError, http.client.HTTPException):  # the server was killed mid-request: not acknowledged
                return
            if status == 200 and "工单 #" in reply:
                with lock:
                    acked.append((int(reply.split("#")[1].split("，")[0].split(" ")[0]), user, msg_id))

    queue = TicketQueue(Store(config.storage.path), config)
    answered: set[int] = set()

    def answer_some() -> None:
        # A cadre answering tickets while the burst goes on: their answers wait in the outbox.
        while not killed.is_set():
            with lock:
                pending = sorted({t for t, _, _ in acked} - answered)
            for ticket_id in pending[:2]:
                queue.answer(ticket_id, f"工单 {ticket_id} 的答复。", "张三")
                answered.add(ticket_id)
            time.sleep(0.02)

    threads = [threading.Thread(target=burst, args=(i,)) for i in range(4)] + [threading.Thread(target=answer_some)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 20
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # the master and both workers, mid-burst
    killed.set()
    proc.wait()
    for th in threads:
        th.join()
    assert len(acked) >= 40 and answered

    store = Store(config.storage.path)
    tickets = {t["id"]: t for t in store.tickets()}
    for ticket_id, user, msg_id in acked:
        askers = tickets[ticket_id]["askers"]
        assert any(a["user"] == user and a["msg_id"] == msg_id for a in askers), (ticket_id, user)
    answers = [r for r in store.outbox_rows() if r["kind"] == "answer"]
    assert answers and not endpoint.delivered()
    expected, user_of = {}, {}
    for row in answers:
        asker = next(a for t in tickets.values() for a in t["askers"] if a["id"] == row["asker"])
        expected[asker["user"]] = row["ticket"]
        user_of[f"/resp/{asker['msg_id']}"] = asker["user"]

    endpoint.set_always(None)
    proc = start(tmp_path, config_path, port)
    try:
        done = lambda: all(r["status"] == "delivered" for r in store.outbox_rows() if r["kind"] == "answer")  # noqa: E731
        # A group robot takes 20 posts a minute, and the posts refused before the crash count: on a busy
        # machine the retries may have used up a minute's budget, so allow for the next minute.
        assert endpoint.wait_for(done, 20 + 61), [(r["id"], r["status"], r["last_error"]) for r in store.outbox_rows()]
        time.sleep(1.0)
        # Reply links refused before the crash (HTTP 503) are used up: those answers went through the
        # group robot instead. Every queued answer, exactly once, one way or the other.
        got = [(user_of[r["path"]], r["body"]["markdown"]["content"]) for r in endpoint.delivered("/resp/")]
        got += [(r["body"]["text"]["mentioned_list"][0], r["body"]["text"]["content"])
                for r in endpoint.delivered("/cgi-bin/webhook/send") if "mentioned_list" in r["body"]["text"]]
        assert sorted(user for user, _ in got) == sorted(expected)
        for user, content in got:
            assert f"（工单 #{expected[user]}）" in content
    finally:
        stop(proc)
        endpoint.close()
