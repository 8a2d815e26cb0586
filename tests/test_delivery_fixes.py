"""Regression tests for the outbox worker and the cadre queue: lease renewal per item and part,
the response_url's single use (refused, timed out, reopened), the cadre group's team, one bad row
in a batch, strict success responses, permanent errcodes, and failed deliveries made visible.
Real SQLite in tmp_path, the local HTTP endpoint in tests/endpoint.py."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot import senders
from bot.cli import register_all
from bot.delivery import RESPONSE_URL_LIFETIME, RESPONSE_URL_MARGIN, Deliverer
from bot.senders import SendError
from bot.store import Store
from test_delivery import ANSWER, run_until_idle
from test_queue import CADRE_CHAT, UNKNOWN_Q, Bot, endpoint, queue_config  # noqa: F401  (endpoint: the fixture)

GENERAL_CHAT = "wrkCadreGeneral"


def robot_keys(endpoint):
    return sorted(r["query"]["key"] for r in endpoint.delivered("/cgi-bin/webhook/send"))


# --- 1. Leases are renewed before each item and part; the response_url hour at send time ------

def test_a_batch_renews_each_lease_before_sending_so_nothing_goes_out_twice(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=None)
    bot.ask(UNKNOWN_Q, chat="wrkB", user="u2", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    lease = bot.config.delivery.lease_seconds
    a = Deliverer(bot.store, bot.config, bot.clock)
    b = Deliverer(Store(bot.config.storage.path), bot.config, bot.clock)
    first, second = a._lease(bot.clock.now, 4)
    # Item 1 takes 0.9 of the lease to send (within it); item 2 starts then and takes 0.2 of it,
    # while worker B polls at 1.1 leases: item 2's lease was renewed when its send began.
    send_1, send_2 = first.send, second.send
    first.send = lambda p: (send_1(p), setattr(bot.clock, "now", bot.clock.now + 0.9 * lease))
    seen_by_b = []

    def slow_second(payload):
        bot.clock.now += 0.2 * lease
        seen_by_b.append(b.run_once())
        send_2(payload)

    second.send = slow_second
    a._send(first)
    a._send(second)
    assert seen_by_b == [0]
    assert robot_keys(endpoint) == ["robot-a-key", "robot-b-key"]
    assert [r["status"] for r in bot.store.outbox_rows()] == ["delivered", "delivered"]


def test_an_item_whose_lease_ran_out_in_the_batch_is_skipped(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=None)
    bot.ask(UNKNOWN_Q, chat="wrkB", user="u2", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    a = Deliverer(bot.store, bot.config, bot.clock)
    b = Deliverer(Store(bot.config.storage.path), bot.config, bot.clock)
    first, second = a._lease(bot.clock.now, 4)
    a._send(first)
    bot.clock.now += bot.config.delivery.lease_seconds + 1  # worker A stalls; item 2's lease runs out
    assert b.run_once() == 1  # B takes item 2 and sends it
    a._send(second)  # A comes back: the lease is not its any more, so it does not send
    assert robot_keys(endpoint) == ["robot-a-key", "robot-b-key"]
    a_attempts = [d for d in bot.store.delivery_attempts(second.row["id"]) if d["id"] in second.attempt_ids]
    assert [(d["ok"], d["error"]) for d in a_attempts] == [(0, "not sent: lease lost")]


def test_the_response_url_hour_is_checked_when_sending_not_when_leasing(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    bot.clock.now += RESPONSE_URL_LIFETIME - RESPONSE_URL_MARGIN - 5  # still usable when leased ...
    d = Deliverer(bot.store, bot.config, bot.clock)
    (plan,) = d._lease(bot.clock.now, 4)
    assert plan.route == "response_url"
    bot.clock.now += 10  # ... but not by the time the send starts
    d._send(plan)
    assert endpoint.posts("/resp/") == []
    run_until_idle(d, bot.clock)
    assert robot_keys(endpoint) == ["robot-a-key"]
    (row,) = bot.store.outbox_rows(1)
    assert row["status"] == "delivered" and row["route"] == "robot"
    assert bot.store.delivery_attempts(row["id"])[0]["error"] == "not sent: response_url expired"


# --- 2. A refused response_url is used up; a timed-out one is tried once more at most -----------

@pytest.mark.parametrize("refusal", [("errcode", 40058), ("http", 404)])
def test_a_refused_response_url_falls_back_to_the_robot_at_once(tmp_path, endpoint, refusal):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.fail(refusal)
    d = Deliverer(bot.store, bot.config, bot.clock)
    d.run_once()
    d.run_once()  # the next attempt is due at once, on the robot
    assert len(endpoint.posts("/resp/")) == 1 and robot_keys(endpoint) == ["robot-a-key"]
    (row,) = bot.store.outbox_rows(1)
    assert row["status"] == "delivered" and row["route"] == "robot" and row["attempts"] == 2
    assert bot.store.ticket_with_askers(1)["askers"][0]["response_url_used_at"] is not None


def test_a_timed_out_response_url_is_retried_once_then_the_robot(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.fail(("slow", 0.8), ("slow", 0.8))
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    assert len(endpoint.posts("/resp/")) == 2 and robot_keys(endpoint) == ["robot-a-key"]
    (row,) = bot.store.outbox_rows(1)
    routes = [a["route"] for a in bot.store.delivery_attempts(row["id"])]
    assert row["status"] == "delivered" and routes == ["response_url", "response_url", "robot"]


# --- 3. Reopen and answer again: only the correction goes out, the response_url once -----------

def test_reopen_supersedes_the_undelivered_answer(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    bot.queue.reopen(1, "张三")
    bot.queue.answer(1, "更正：" + ANSWER, "张三")
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    (post,) = endpoint.posts()
    assert post["path"] == "/resp/a" and post["body"]["markdown"]["content"].endswith("更正：" + ANSWER)
    assert [r["status"] for r in bot.store.outbox_rows(1)] == ["superseded", "delivered"]
    reopened = [r for r in bot.store.audit_trail(1) if r["action"] == "reopened"][0]
    assert json.loads(reopened["detail"])["superseded_deliveries"] == 1


def test_an_answer_in_flight_when_reopened_is_not_finished_and_the_url_not_shared(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    a = Deliverer(bot.store, bot.config, bot.clock)
    (old,) = a._lease(bot.clock.now, 4)  # worker A is about to send the first answer
    bot.queue.reopen(1, "张三")
    bot.queue.answer(1, "更正：" + ANSWER, "张三")
    b = Deliverer(Store(bot.config.storage.path), bot.config, bot.clock)
    assert b.run_once() == 0  # the correction waits: A may be on the single-use URL right now
    a._send(old)  # A cannot renew a superseded lease: it does not send (and lets go of the URL)
    assert endpoint.posts() == []
    bot.clock.now += 2  # the correction's short wait (not the old lease's whole minute)
    assert b.run_once() == 1
    (post,) = endpoint.posts()
    assert post["path"] == "/resp/a" and post["body"]["markdown"]["content"].endswith("更正：" + ANSWER)


def test_two_items_for_one_asker_never_share_the_response_url_in_one_lease(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    with bot.store.queue_transaction() as qtx:  # say, a row queued by an older version
        qtx.enqueue("answer:1:1:1:again", "answer", "另一条", bot.clock.now, ticket=1, asker=1)
    d = Deliverer(bot.store, bot.config, bot.clock)
    (plan,) = d._lease(bot.clock.now, 4)
    assert plan.route == "response_url"
    other = bot.store.outbox_rows(1)[1]
    assert other["status"] == "pending" and other["next_at"] > bot.clock.now and other["attempts"] == 0
    d._send(plan)
    run_until_idle(d, bot.clock)
    assert len(endpoint.posts("/resp/")) == 1 and robot_keys(endpoint) == ["robot-a-key"]


# --- 4. Only the team's own cadre group answers its tickets ----------------------------------

def test_a_cadre_group_cannot_answer_another_teams_ticket(tmp_path):
    bot = Bot(tmp_path)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1")  # 综合协调组
    refused = bot.ask("#1 答复内容", chat=CADRE_CHAT, user="cadre1")  # 防控物资组's group
    assert refused.reply == "工单 #1 属于综合协调组，请在该组的工作群答复。"
    assert bot.queue.get(1).status == "open" and bot.store.outbox_rows(1) == []
    # Showing it is allowed in any cadre group (so the cadre sees whose it is).
    assert bot.ask("#1", chat=CADRE_CHAT, user="cadre1").reply.startswith("工单 #1（待处理，综合协调组")
    bot.ask("我们想包车接外地员工返岗", chat="wrkA", user="u2")  # 用工保障组: no cadre group configured
    assert bot.queue.get(2).team == "用工保障组"
    assert bot.ask("#2 答复", chat=GENERAL_CHAT, user="cadre2").reply == \
        "工单 #2 属于用工保障组，该组没有配置工作群，请用 queue answer 命令答复。"
    assert bot.ask("#1 答复内容", chat=GENERAL_CHAT, user="cadre2").reply.startswith("已答复工单 #1")


# --- 5. One bad row does not stop the batch --------------------------------------------------

def test_one_bad_row_fails_alone_and_the_rest_of_the_batch_is_delivered(tmp_path, endpoint):
    data = queue_config(tmp_path, endpoint)
    data["delivery"]["max_attempts"] = 2
    bot = Bot(tmp_path, data=data)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.ask(UNKNOWN_Q, chat="wrkB", user="u2", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    bot.store.db.execute("UPDATE askers SET response_url_at = 'yesterday' WHERE id = 1")  # odd data
    d = Deliverer(bot.store, bot.config, bot.clock)
    d.run_once()
    bad, good = bot.store.outbox_rows(1)
    assert good["status"] == "delivered" and robot_keys(endpoint) == ["robot-b-key"]
    assert bad["status"] == "pending" and bad["attempts"] == 1 and bad["last_error"].startswith("planning failed: TypeError")
    assert bot.store.delivery_attempts(bad["id"]) == []  # the half-planned lease was undone
    run_until_idle(d, bot.clock)
    assert bot.store.outbox_rows(1)[0]["status"] == "failed"
    assert [r["action"] for r in bot.store.audit_trail(1)][-1] == "delivery_failed"


# --- 6. Success means a JSON object with errcode 0 -------------------------------------------

@pytest.mark.parametrize("body", ["ok", "{}", "[1]", '{"foo": 1}', '{"errcode": null}', '{"errcode": "abc"}'])
def test_a_2xx_without_errcode_0_is_a_failed_attempt(endpoint, body):
    endpoint.fail(("raw", 200, body))
    with pytest.raises(SendError) as raised:
        senders.post_json(endpoint.url("/cgi-bin/webhook/send"), {}, 1.0)
    assert raised.value.ambiguous
    senders.post_json(endpoint.url("/cgi-bin/webhook/send"), {}, 1.0)  # {"errcode": 0}: fine


def test_a_robot_2xx_without_json_is_retried(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.fail(("raw", 200, "<html>gateway</html>"))
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    (row,) = bot.store.outbox_rows(1)
    assert row["status"] == "delivered" and row["attempts"] == 2
    assert bot.store.delivery_attempts(row["id"])[0]["error"] == "HTTP 200 without JSON"


# --- 7. Permanent errcodes: the route cannot work -------------------------------------------

def test_a_permanent_robot_errcode_fails_the_item_at_once(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=endpoint.url("/resp/a"))
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.fail(("errcode", 40058), ("errcode", 93000))  # the URL refused, then the robot's key is invalid
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    (row,) = bot.store.outbox_rows(1)
    assert row["status"] == "failed" and row["attempts"] == 2 and len(endpoint.posts()) == 2
    assert row["last_error"].startswith("robot: errcode 93000") and "permanent" in row["last_error"]
    detail = json.loads(bot.store.audit_trail(1)[-1]["detail"])
    assert bot.store.audit_trail(1)[-1]["action"] == "delivery_failed" and detail["asker"] == 1


def test_out_of_the_customer_service_window_fails_at_once(tmp_path, endpoint):
    from server_support import OA

    data = queue_config(tmp_path, endpoint)
    data["wechat"] = {"mode": "safe", "token": OA["token"], "encoding_aes_key": OA["key"], "app_id": OA["app_id"]}
    data["delivery"].update(wechat_app_secret="oa-secret")
    bot = Bot(tmp_path, data=data)
    bot.ask(UNKNOWN_Q, chat="", user="o_openid1", channel="wechat", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.fail(("errcode", 45015))
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    (row,) = bot.store.outbox_rows(1)
    assert row["status"] == "failed" and row["attempts"] == 1 and row["last_error"].startswith("oa: errcode 45015")
    assert len(endpoint.posts("/cgi-bin/message/custom/send")) == 1


# --- Failed deliveries are visible in `queue list` -----------------------------------------

def test_queue_list_shows_failed_deliveries_until_the_ticket_is_closed(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", response_url=None)
    bot.ask("锅炉年检找谁办理", chat="wrkA", user="u2", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.fail(("errcode", 93000))
    run_until_idle(Deliverer(bot.store, bot.config, bot.clock), bot.clock)
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\npath = "{tmp_path / "bot.db"}"\n[faq]\npath = "{tmp_path / "faq.yaml"}"\n',
                      encoding="utf-8")
    cli = register_all()

    def run(*args):
        result = CliRunner().invoke(cli, ["queue", *args, "--config", str(config)])
        assert result.exit_code == 0, result.output
        return result.output

    listed = {t["id"]: t for t in json.loads(run("list", "--json"))}
    assert sorted(listed) == [1, 2]  # the answered ticket whose answer failed is listed too
    assert listed[1]["status"] == "answered" and listed[1]["failed_deliveries"] == 1
    assert listed[2]["failed_deliveries"] == 0
    lines = run("list").splitlines()
    assert "[投递失败]" in lines[0] and "[投递失败]" not in lines[1]
    assert json.loads(run("list", "--status", "answered", "--json"))[0]["failed_deliveries"] == 1
    assert "delivery_failed" in run("show", "1")
    bot.queue.close(1, "张三")
    assert [t["id"] for t in json.loads(run("list", "--json"))] == [2]
