"""The outbox worker against a local HTTP server that fails before it succeeds: retries with backoff,
exactly one delivery per asker, the response_url's one use and one hour, the robot webhook's
byte limits and rate, leases across workers, and the customer-service and app-message routes."""
from __future__ import annotations

import threading

from bot.config import config_from_dict
from bot.delivery import Deliverer
from bot.store import Store
from test_queue import UNKNOWN_Q, Bot, endpoint, queue_config  # noqa: F401  (endpoint: the fixture)

ANSWER = "叉车年检请联系区市场监管局特种设备科。"


def two_askers(bot, endpoint):
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.ask(UNKNOWN_Q, chat="wrkB", user="u2", response_url=endpoint.url("/resp/b"))


def run_until_idle(deliverer, clock, seconds=120.0, step=0.5):
    """Advance the injected clock, delivering what falls due, until nothing is pending."""
    end = clock.now + seconds
    while clock.now < end:
        deliverer.run_once()
        if all(r["status"] in ("delivered", "failed", "superseded") for r in deliverer.store.outbox_rows()):
            return
        clock.now += step


def test_fails_twice_then_succeeds_delivered_once_to_each_asker(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    two_askers(bot, endpoint)
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.fail(("errcode", -1), ("slow", 1.0))  # system busy, then a timeout: both retried on the same URL
    deliverer = Deliverer(bot.store, bot.config, bot.clock)
    deliverer.run_once()
    rows = {r["asker"]: r for r in bot.store.outbox_rows(1)}
    failed = [r for r in rows.values() if r["status"] == "pending"]
    assert len(failed) == 2 and all(r["next_at"] - bot.clock.now <= 1.1 for r in failed)  # first retry within ~1 s
    run_until_idle(deliverer, bot.clock)
    ok = endpoint.delivered("/resp/") + endpoint.delivered("/cgi-bin/webhook/send")
    assert len(ok) == 2
    by_user = {}
    for r in ok:
        if r["path"].startswith("/resp/"):
            user = "u1" if r["path"] == "/resp/a" else "u2"
            assert r["body"]["msgtype"] == "markdown"
            assert r["body"]["markdown"]["content"] == f"<@{user}> 您咨询的问题（工单 #1）答复如下：\n{ANSWER}"
        else:
            (user,) = r["body"]["text"]["mentioned_list"]
        by_user[user] = r
    assert sorted(by_user) == ["u1", "u2"]
    # The refused response_url (errcode) counts as used: that asker got the answer from the group robot.
    refused = next(r for r in endpoint.posts("/resp/") if r["outcome"] == "errcode")
    refused_user = "u1" if refused["path"] == "/resp/a" else "u2"
    assert by_user[refused_user]["path"] == "/cgi-bin/webhook/send"
    assert len(endpoint.posts("/resp/")) == 3  # the timed-out URL was tried once more
    rows = bot.store.outbox_rows(1)
    assert all(r["status"] == "delivered" and r["attempts"] == 2 for r in rows)
    assert all(a["response_url_used_at"] for a in bot.store.ticket_with_askers(1)["askers"])
    attempts = bot.store.delivery_attempts(rows[0]["id"]) + bot.store.delivery_attempts(rows[1]["id"])
    assert sorted(bool(a["ok"]) for a in attempts) == [False, False, True, True]
    errors = sorted(a["error"] for a in attempts if not a["ok"])
    assert errors[0].startswith("errcode -1") and errors[1].startswith("timeout")


def test_errcode_and_timeout_are_retried(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.fail(("errcode", 60020), ("slow", 1.0))
    deliverer = Deliverer(bot.store, bot.config, bot.clock)
    run_until_idle(deliverer, bot.clock)
    (row,) = bot.store.outbox_rows(1)
    assert row["status"] == "delivered" and row["attempts"] == 3
    attempts = bot.store.delivery_attempts(row["id"])
    errors = [a["error"] for a in attempts]
    assert errors[0].startswith("errcode 60020") and errors[1].startswith("timeout") and errors[2] is None
    # The refused response_url is not tried again: the robot's timeout is retried on the robot.
    assert [a["route"] for a in attempts] == ["response_url", "robot", "robot"]


def test_backoff_doubles_up_to_the_maximum(tmp_path):
    bot = Bot(tmp_path)
    d = Deliverer(bot.store, bot.config, bot.clock)
    assert 0.9 <= d.backoff(1) <= 1.1 and 1.8 <= d.backoff(2) <= 2.2 and 270 <= d.backoff(20) <= 330


def test_expired_response_url_falls_back_to_the_group_robot(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    two_askers(bot, endpoint)
    bot.clock.now += 3600  # the response_urls are an hour old
    bot.queue.answer(1, ANSWER, "张三")
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    assert endpoint.posts("/resp/") == []
    sent = endpoint.delivered("/cgi-bin/webhook/send")
    assert sorted((r["query"]["key"], r["body"]["text"]["mentioned_list"][0]) for r in sent) == [
        ("robot-a-key", "u1"), ("robot-b-key", "u2")]
    assert sent[0]["body"]["text"]["content"] == f"您咨询的问题（工单 #1）答复如下：\n{ANSWER}"
    assert {r["route"] for r in bot.store.outbox_rows(1)} == {"robot"}


def test_a_used_response_url_is_never_used_again(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    deliverer = Deliverer(bot.store, bot.config, bot.clock)
    run_until_idle(deliverer, bot.clock)
    bot.queue.reopen(1, "张三")
    bot.queue.answer(1, "更正：" + ANSWER, "张三")
    run_until_idle(deliverer, bot.clock)
    assert [r["path"] for r in endpoint.delivered()] == ["/resp/a", "/cgi-bin/webhook/send"]
    assert endpoint.delivered()[1]["body"]["text"]["content"].endswith("更正：" + ANSWER)


def test_long_answer_is_split_within_2048_bytes_and_a_failed_part_resumes(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    long_answer = "请按以下步骤办理相关手续。" * 400  # ~15,600 bytes
    deliverer = Deliverer(bot.store, bot.config, bot.clock)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=None)
    bot.queue.answer(1, long_answer, "张三")
    deliverer.run_once()
    parts = [r["body"]["text"] for r in endpoint.delivered("/cgi-bin/webhook/send")]
    assert len(parts) >= 8 and all(len(p["content"].encode("utf-8")) <= 2048 for p in parts)
    whole = "您咨询的问题（工单 #1）答复如下：\n" + long_answer
    assert "".join(p["content"] for p in parts).replace("\n", "") == whole.replace("\n", "")
    assert parts[0]["mentioned_list"] == ["u1"] and all("mentioned_list" not in p for p in parts[1:])

    # A refusal in the middle: the parts already sent are not sent again.
    bot.ask("另一个问题：锅炉年检找谁", chat="wrkB", user="u2", response_url=None)
    endpoint.fail(None, None, ("http", 502))
    bot.queue.answer(2, long_answer, "张三")
    run_until_idle(deliverer, bot.clock)
    ok = [r["body"]["text"] for r in endpoint.delivered("/cgi-bin/webhook/send") if r["query"]["key"] == "robot-b-key"]
    assert len(ok) == len(parts) and ok[0]["mentioned_list"] == ["u2"]
    assert "".join(p["content"] for p in ok) == "".join(p["content"] for p in parts).replace("#1", "#2")
    assert len([r for r in endpoint.posts("/cgi-bin/webhook/send") if r["query"]["key"] == "robot-b-key"]) == len(parts) + 1
    (row,) = bot.store.outbox_rows(2)
    assert row["status"] == "delivered" and row["attempts"] == 2
    second_try = [a["part"] for a in bot.store.delivery_attempts(row["id"]) if a["attempt"] == 2]
    assert second_try == list(range(2, len(parts)))  # resumed at the refused part


def test_robot_rate_limit_twenty_a_minute(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    for i in range(25):
        bot.ask(f"第{i}个问题：{UNKNOWN_Q}{'呢' * i}", chat="wrkA", user=f"u{i}", response_url=None)
    for t in bot.store.tickets():
        bot.queue.answer(t["id"], ANSWER, "张三")
    assert len(bot.store.outbox_rows()) == 25
    deliverer = Deliverer(bot.store, bot.config, bot.clock)
    for _ in range(10):
        deliverer.run_once()
    assert len(endpoint.delivered()) == 20
    pending = [r for r in bot.store.outbox_rows() if r["status"] == "pending"]
    assert len(pending) == 5 and all(bot.clock.now + 59 < r["next_at"] <= bot.clock.now + 61 for r in pending)
    bot.clock.now += 61
    for _ in range(5):
        deliverer.run_once()
    assert len(endpoint.delivered()) == 25 and len(endpoint.posts()) == 25


def test_several_workers_never_send_one_item_twice(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    for i in range(12):
        bot.ask(f"{UNKNOWN_Q}{'呀' * i}第{i}次", chat="wrkA", user=f"u{i}", response_url=endpoint.url(f"/resp/{i}"))
    for t in bot.store.tickets():
        bot.queue.answer(t["id"], ANSWER, "张三")
    endpoint.fail(("http", 500), ("http", 500), ("http", 500))
    clock = bot.clock
    workers = [Deliverer(Store(bot.config.storage.path), bot.config, clock) for _ in range(4)]

    def work(d):
        for _ in range(40):
            d.run_once()

    for _ in range(3):
        threads = [threading.Thread(target=work, args=(d,)) for d in workers]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        clock.now += 5
    # The response_urls refused (HTTP 500) are used up: those askers got the answer from the group robot.
    got = [r["path"][len("/resp/"):] for r in endpoint.delivered("/resp/")]
    got += [r["body"]["text"]["mentioned_list"][0][1:] for r in endpoint.delivered("/cgi-bin/webhook/send")]
    assert sorted(got, key=int) == [str(i) for i in range(12)]
    refused = [r for r in endpoint.posts("/resp/") if r["outcome"] != "ok"]
    assert len(refused) >= 1 and len(endpoint.delivered("/cgi-bin/webhook/send")) == len(refused)


def test_an_expired_lease_is_retried_and_the_late_holder_cannot_complete(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    crashed = Deliverer(bot.store, bot.config, bot.clock)
    (plan,) = crashed._lease(bot.clock.now, 4)  # leased, then the worker "dies" before sending
    other = Deliverer(Store(bot.config.storage.path), bot.config, bot.clock)
    assert other.run_once() == 0  # the lease holds
    bot.clock.now += bot.config.delivery.lease_seconds + 1
    assert other.run_once() == 1
    assert [r["path"] for r in endpoint.delivered()] == ["/resp/a"]
    assert bot.store.delivered(plan.row["id"], plan.token, bot.clock.now, None) is False


def test_no_route_and_too_many_attempts_end_as_failed(tmp_path, endpoint):
    data = queue_config(tmp_path, endpoint)
    data["delivery"]["max_attempts"] = 2
    data["robots"] = {"wrkA": "robot-a-key"}
    bot = Bot(tmp_path, data=data)
    bot.ask(UNKNOWN_Q, chat="wrkC", user="u1", response_url=endpoint.url("/resp/a"))
    bot.ask("仓库叉车年检找谁", chat="wrkC", user="u2", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    bot.queue.answer(2, ANSWER, "张三")
    endpoint.set_always(("http", 500))
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    first, second = bot.store.outbox_rows()
    # The response_url refused (HTTP 500): used up; no robot for wrkC: failed at once, not 40 times.
    assert first["status"] == "failed" and first["attempts"] == 1 and "no robot webhook for chat wrkC" in first["last_error"]
    assert first["last_error"].endswith("(last attempt: response_url: HTTP 500)")
    assert second["status"] == "failed" and second["attempts"] == 0 and "no robot webhook for chat wrkC" in second["last_error"]
    assert len(endpoint.posts("/resp/")) == 1
    # Too many attempts: a robot that keeps failing.
    bot.ask("锅炉年检找谁呢", chat="wrkA", user="u3", response_url=None)
    bot.queue.answer(3, ANSWER, "张三")
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    (third,) = bot.store.outbox_rows(3)
    assert third["status"] == "failed" and third["attempts"] == 2 and third["last_error"] == "robot: HTTP 500"
    assert [r["action"] for r in bot.store.audit_trail(3)][-1] == "delivery_failed"


def test_one_to_one_askers_get_customer_service_and_app_messages(tmp_path, endpoint):
    from server_support import OA, WECOM

    data = queue_config(tmp_path, endpoint)
    data["wechat"] = {"mode": "safe", "token": OA["token"], "encoding_aes_key": OA["key"], "app_id": OA["app_id"]}
    data["wecom"] = {"token": WECOM["token"], "encoding_aes_key": WECOM["key"], "corp_id": WECOM["corp_id"]}
    data["delivery"].update(wechat_app_secret="oa-secret", wecom_app_secret="app-secret", wecom_agent_id=1000002)
    bot = Bot(tmp_path, data=data)
    bot.ask(UNKNOWN_Q, chat="", user="o_openid1", channel="wechat", response_url=None)
    bot.ask(UNKNOWN_Q, chat="", user="zhangsan", channel="wecom", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.fail(("errcode", -1))  # the OA refuses once (system busy)
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    sent = {r["path"]: r for r in endpoint.delivered()}
    oa = sent["/cgi-bin/message/custom/send"]
    assert oa["body"] == {"touser": "o_openid1", "msgtype": "text", "text": {"content": f"您咨询的问题（工单 #1）答复如下：\n{ANSWER}"}}
    assert oa["query"]["access_token"] == "TOKEN"
    app = sent["/cgi-bin/message/send"]
    assert app["body"]["touser"] == "zhangsan" and app["body"]["agentid"] == 1000002
    assert {r["route"] for r in bot.store.outbox_rows(1)} == {"oa", "wecom_app"}
    assert len(endpoint.delivered()) == 2


def test_markdown_robot_format(tmp_path, endpoint):
    data = queue_config(tmp_path, endpoint)
    data["delivery"]["robot_format"] = "markdown"
    bot = Bot(tmp_path, data=data)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    (sent,) = endpoint.delivered()
    assert sent["body"] == {"msgtype": "markdown", "markdown": {"content": f"<@u1> 您咨询的问题（工单 #1）答复如下：\n{ANSWER}"}}


def test_config_secrets_not_in_repr(tmp_path):
    data = queue_config(tmp_path)
    data["delivery"]["wecom_app_secret"] = "very-secret"
    text = repr(config_from_dict(data))
    assert "very-secret" not in text and "robot-a-key" not in text and "cadre-supplies-key" not in text


def test_run_py_deliver_once(tmp_path, endpoint):
    from click.testing import CliRunner

    from bot.cli import register_all

    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "bot.db"}"\n[faq]\npath = "{tmp_path / "faq.yaml"}"\n'
        f'[robots]\nwrkA = "robot-a-key"\n[delivery]\napi_base = "{endpoint.base}"\n', encoding="utf-8")
    result = CliRunner().invoke(register_all(), ["deliver", "--once", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "1 delivery attempt(s)" in result.output
    assert [r["query"]["key"] for r in endpoint.delivered()] == ["robot-a-key"]
    assert bot.store.outbox_rows(1)[0]["status"] == "delivered"
