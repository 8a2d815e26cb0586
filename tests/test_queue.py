"""The cadre queue in-process: escalation and acknowledgement, merging, routing, transitions and audit,
deadlines with an injected clock, reminders and alerts, and the cadre group's "#12 答复"."""
from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from rapidfuzz import fuzz

from bot.config import ConfigError, DeadlineRule, config_from_dict, load_config
from bot.deadlines import describe_due, due_at, zone
from bot.model import Candidate, Decision, Message
from bot.pipeline import Pipeline
from bot.queue import QueueError
from bot.server import create_app
from bot.store import FIND_ASKER, TICKETS_AFTER, Store
from conftest import MINI_FAQ
from faq.text import normalize
from endpoint import Endpoint

BJ = zone(8)
BOT = "防疫助手"
CADRE_CHAT = "wrkCadreSupplies"
UNKNOWN_Q = "仓库叉车要年检吗"  # escalates; no keyword: the default team


def at(day: int, hour: int, minute: int = 0) -> float:
    """February 2020, Beijing time (2020-02-21 is a Friday)."""
    return dt.datetime(2020, 2, day, hour, minute, tzinfo=BJ).timestamp()


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def endpoint():
    ep = Endpoint()
    yield ep
    ep.close()


def queue_config(tmp_path, endpoint=None, **queue_overrides) -> dict:
    faq = tmp_path / "faq.yaml"
    faq.write_text(MINI_FAQ, encoding="utf-8")
    base = endpoint.base if endpoint else "http://127.0.0.1:9"
    data = {
        "storage": {"path": str(tmp_path / "bot.db")},
        "faq": {"path": str(faq), "reload_seconds": 60},
        # Bands no score reaches: every question escalates, so these tests do not depend on how the
        # matcher is tuned today (routing still sees its real candidates and scores).
        "bot": {"name": BOT, "answer_threshold": 1.0, "suggest_threshold": 1.0},
        "queue": {"default_team": "综合协调组", "reminder_minutes_before": 60, **queue_overrides},
        "cadres": {"groups": [
            {"team": "防控物资组", "chat": CADRE_CHAT, "webhook_key": "cadre-supplies-key"},
            {"team": "综合协调组", "chat": "wrkCadreGeneral", "webhook_key": "cadre-general-key"},
        ]},
        "robots": {"wrkA": "robot-a-key", "wrkB": "robot-b-key"},
        "delivery": {"api_base": base, "wechat_api_base": base, "retry_first_seconds": 1.0, "timeout_seconds": 0.5,
                     "lease_seconds": 5.0},
    }
    return data


class Bot:
    """One app (one 'worker') with an injected clock, driven through its pipeline."""

    def __init__(self, tmp_path, endpoint=None, clock=None, data=None, **queue_overrides):
        self.clock = clock or Clock(at(21, 10))
        self.data = data or queue_config(tmp_path, endpoint, **queue_overrides)
        self.config = config_from_dict(self.data)
        self.app = create_app(self.config, clock=self.clock)
        self.svc = self.app.extensions["fuyi"]
        self.queue = self.app.extensions["fuyi_queue"]
        self.store = Store(self.config.storage.path)

    def ask(self, text, chat="wrkA", user="u1", msg_id=None, response_url="http://127.0.0.1:9/resp", channel="wecom_bot"):
        message = Message(channel, chat, user, f"@{BOT}\u2005{text}" if chat else text, msg_id or uuid.uuid4().hex,
                          is_group=bool(chat), mentioned=True, response_url=response_url, received_at=self.clock())
        return self.svc.pipeline.handle(message)

    def tickets(self, statuses=None):
        return self.store.tickets(statuses)

    def audit(self, ticket_id):
        return [r["action"] for r in self.store.audit_trail(ticket_id)]


# --- Escalation and merging ------------------------------------------------------------------

def test_escalation_opens_a_ticket_and_acknowledges_with_number_team_and_due(tmp_path):
    bot = Bot(tmp_path)
    decision = bot.ask(UNKNOWN_Q)
    assert decision.kind == "escalate" and decision.ticket == 1
    assert decision.reply == "已转人工：工单 #1，综合协调组将于今天 21:00 前答复。"
    (ticket,) = bot.tickets()
    assert ticket["status"] == "open" and ticket["question"] == UNKNOWN_Q and ticket["team"] == "综合协调组"
    assert ticket["created_at"] == at(21, 10) and ticket["due_at"] == at(21, 21)
    (asker,) = ticket["askers"]
    assert (asker["channel"], asker["chat"], asker["user"]) == ("wecom_bot", "wrkA", "u1")
    assert asker["response_url_at"] == at(21, 10) and asker["response_url_used_at"] is None
    assert bot.audit(1) == ["opened"]
    # The message row and the ticket committed together.
    assert bot.store.messages()[0]["ticket"] == 1


def test_exact_repeat_joins_even_when_many_newer_tickets_are_open(tmp_path, monkeypatch):
    monkeypatch.setattr("bot.queue.FUZZY_MERGE_CANDIDATES", 3)
    bot = Bot(tmp_path)
    bot.ask("我们厂区的污水排放许可证换证流程走到哪一步了", user="u1")
    for n, other in enumerate(["仓库叉车要年检吗", "园区路灯坏了找谁修", "商标被抢注了怎么办", "出口退税何时到账"]):
        bot.ask(other, user=f"o{n}")
    assert len(bot.tickets()) == 5
    # Beyond the newest three: the exact text still merges (by index), a near repeat opens its own ticket.
    assert bot.ask("我们厂区的污水排放许可证换证流程走到哪一步了？", user="u2").ticket == 1
    near = "我们厂区的污水排放许可证换证流程到哪一步了"  # one character short of ticket 1's
    assert bot.ask(near, user="u3").ticket == 6
    monkeypatch.setattr("bot.queue.FUZZY_MERGE_CANDIDATES", 500)
    # Within reach again, a near repeat of ticket 1 joins it (closer to it than to #6).
    assert bot.ask("我们厂区的污水排放许可证换证流程走到哪一步", user="u4").ticket == 1


def test_near_repeats_see_tickets_another_worker_opened_and_skip_closed_ones(tmp_path):
    one = Bot(tmp_path)
    two = Bot(tmp_path, data=one.data, clock=one.clock)  # a second worker on the same database
    assert two.ask("园区路灯坏了找谁修", user="o1").ticket == 1
    assert two.ask("园区的路灯坏了该找谁修", user="o2").ticket == 1  # a near repeat: two has read ticket 1
    assert one.ask("我们厂区的污水排放许可证换证流程走到哪一步了", user="u1").ticket == 2
    near = "我们厂区污水排放许可证换证流程走到哪一步了"
    assert two.ask(near, user="u2").ticket == 2  # opened by the other worker after two's last look
    assert two.queue._recent._ids == [1, 2]  # read once each, in order
    one.queue.close(2, "张三")
    assert two.ask(near + "？", user="u3").ticket == 3  # closed: a near repeat opens a new ticket

def test_merge_lookups_are_index_searches_not_scans(tmp_path):
    bot = Bot(tmp_path)
    bot.ask(UNKNOWN_Q)
    plan = bot.store.db.execute("EXPLAIN QUERY PLAN " + FIND_ASKER, (1, "u", "c", "x")).fetchall()
    assert "USING INDEX askers_ticket_user (ticket=? AND user=? AND channel=? AND chat=?)" in " ".join(r[-1] for r in plan)
    # Near repeats: only the tickets opened since the last look are read, by primary key.
    plan = bot.store.db.execute("EXPLAIN QUERY PLAN " + TICKETS_AFTER, (0, 0)).fetchall()
    assert [r[-1] for r in plan] == ["SEARCH tickets USING INTEGER PRIMARY KEY (rowid>?)"]


def test_audit_trail_of_a_database_that_recorded_joins_shows_each_once(tmp_path):
    bot = Bot(tmp_path)
    bot.ask(UNKNOWN_Q, user="u1")
    bot.ask(UNKNOWN_Q, chat="wrkB", user="u2")
    with bot.store.queue_transaction() as qtx:  # as joins were recorded before the asker row sufficed
        qtx.audit(1, bot.clock(), "wecom_bot:u2", "joined", {"asker": 2, "text": UNKNOWN_Q})
    assert bot.audit(1) == ["opened", "joined"]


def test_audit_trail_interleaves_joins_with_actions_in_time_order(tmp_path):
    bot = Bot(tmp_path)
    bot.ask(UNKNOWN_Q, user="u1")
    bot.clock.now += 60
    bot.queue.claim(1, "王干部")
    bot.clock.now += 60
    bot.ask(UNKNOWN_Q, chat="wrkB", user="u2")
    trail = bot.store.audit_trail(1)
    assert [(r["action"], r["actor"]) for r in trail] == [
        ("opened", "wecom_bot:u1"), ("claimed", "王干部"), ("joined", "wecom_bot:u2")]
    assert json.loads(trail[2]["detail"])["text"] == UNKNOWN_Q


def test_joining_or_asking_again_after_the_deadline_promises_no_time_already_gone(tmp_path):
    bot = Bot(tmp_path, clock=Clock(at(21, 16, 30)))
    assert bot.ask(UNKNOWN_Q, chat="wrkA", user="u1").reply.endswith("将于今天 21:00 前答复。")
    bot.clock.now = at(21, 22, 0)  # past due, still open
    assert bot.ask(UNKNOWN_Q, chat="wrkB", user="u2").reply == (
        "您的问题已有其他企业提出，已并入工单 #1。该工单已过原定答复时间，综合协调组将尽快一并答复，请谅解。")
    again = bot.ask(UNKNOWN_Q + "？", chat="wrkA", user="u1", msg_id="again").reply
    assert again == "您的问题已在工单 #1 中登记。已过原定答复时间，综合协调组将尽快答复，请谅解。"


def test_after_five_pm_the_ack_says_tomorrow(tmp_path):
    bot = Bot(tmp_path, clock=Clock(at(21, 17, 30)))
    assert bot.ask(UNKNOWN_Q).reply == "已转人工：工单 #1，综合协调组将于明天 10:00 前答复。"


def test_same_question_from_another_group_joins_the_ticket(tmp_path):
    bot = Bot(tmp_path)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1")
    bot.clock.now += 600
    joined = bot.ask("请问，" + UNKNOWN_Q + "？", chat="wrkB", user="u2")
    assert joined.ticket == 1
    assert joined.reply == "您的问题已有其他企业提出，已并入工单 #1，综合协调组将于今天 21:00 前一并答复。"
    (ticket,) = bot.tickets()
    assert [(a["chat"], a["user"]) for a in ticket["askers"]] == [("wrkA", "u1"), ("wrkB", "u2")]
    assert bot.audit(1) == ["opened", "joined"]


def test_similar_question_joins_a_different_one_does_not(tmp_path):
    bot = Bot(tmp_path)
    bot.ask("我们厂区的污水排放许可证换证流程走到哪一步了", chat="wrkA", user="u1")
    similar = bot.ask("我们厂区污水排放许可证的换证流程走到哪一步了呢", chat="wrkB", user="u2")
    different = bot.ask("仓库叉车年检找哪个部门", chat="wrkB", user="u3")
    assert similar.ticket == 1 and "已并入工单 #1" in similar.reply
    assert different.ticket == 2 and different.reply.startswith("已转人工：工单 #2")


@pytest.mark.parametrize("first, second", [
    ("宁波华光塑料厂的复工备案批了吗", "宁波华兴塑料厂的复工备案批了吗"),  # another company
    ("员工没有健康码能进厂吗", "员工有健康码能进厂吗"),  # negated
    ("湖北籍员工返岗以后要隔离几天", "湖南籍员工返岗以后要隔离几天"),  # another province
    ("贷款300万元能申请贴息吗", "贷款800万元能申请贴息吗"),  # another amount
    ("今天下午园区能正常开工吗", "明天下午园区能正常开工吗"),  # another day
    ("厂里的篮球场能不能对员工开放", "厂里的台球室能不能对员工开放"),  # another place
    ("宁波华光塑料厂的复工备案批了吗", "宁波塑料厂的复工备案批了吗"),  # a company named, or not
    ("湖北籍员工返岗以后要隔离多久", "除湖北籍外员工返岗以后要隔离多久"),  # the opposite
    ("员工宿舍一间可以住几个人", "女员工宿舍一间可以住几个人"),  # some of them
])
def test_near_texts_that_ask_another_thing_are_not_joined(tmp_path, first, second):
    # Their texts are as close as joined ones (rapidfuzz ratio over 0.85): one answer would tell the
    # second enterprise something about the first's case.
    bot = Bot(tmp_path)
    assert fuzz.ratio(normalize(first).replace(" ", ""), normalize(second).replace(" ", "")) >= 85
    bot.ask(first, chat="wrkA", user="u1")
    assert bot.ask(second, chat="wrkB", user="u2").ticket == 2


@pytest.mark.parametrize("first, second", [
    ("员工宿舍一间能住几个人", "员工宿舍一间可以住几个人"),
    ("员工宿舍一间能住几个人", "员工的宿舍一间能住几个人呢"),
    ("企业复工申请材料怎么提交", "企业复工申请材料怎样提交"),
    ("员工返岗需要做核酸检测吗", "员工返岗需不需要做核酸检测"),
    ("生产车间是否可以恢复两班倒生产", "生产车间可不可以恢复两班倒生产"),
])
def test_near_texts_that_differ_by_particles_or_ways_of_asking_are_joined(tmp_path, first, second):
    bot = Bot(tmp_path)
    bot.ask(first, chat="wrkA", user="u1")
    assert bot.ask(second, chat="wrkB", user="u2").ticket == 1


def test_closed_answered_and_old_tickets_are_not_joined(tmp_path):
    bot = Bot(tmp_path)
    bot.ask(UNKNOWN_Q, user="u1")
    bot.queue.close(1, "张三")
    assert bot.ask(UNKNOWN_Q, user="u2").ticket == 2
    bot.queue.answer(2, "年检请联系区市场监管局特种设备科。", "张三")
    assert bot.ask(UNKNOWN_Q, user="u3").ticket == 3
    bot.clock.now += 25 * 3600  # outside the 24-hour merge window
    assert bot.ask(UNKNOWN_Q, user="u4").ticket == 4


def test_the_same_asker_again_is_not_a_second_asker_and_a_retry_is_not_either(tmp_path):
    bot = Bot(tmp_path)
    first = bot.ask(UNKNOWN_Q, user="u1", msg_id="m1")
    assert bot.ask(UNKNOWN_Q, user="u1", msg_id="m1").reply == first.reply  # WeCom's retry
    bot.clock.now += 60
    again = bot.ask(UNKNOWN_Q, user="u1", msg_id="m2", response_url="http://127.0.0.1:9/fresh")
    assert again.ticket == 1 and "已在工单 #1 中登记" in again.reply
    (asker,) = bot.tickets()[0]["askers"]
    assert asker["response_url"].endswith("/fresh") and asker["response_url_at"] == at(21, 10, 1)
    assert bot.audit(1) == ["opened", "asked_again"]



def test_asking_the_same_question_again_is_acknowledged_without_the_write_lock(tmp_path):
    bot = Bot(tmp_path)
    # As under `serve`: log rows of messages that commit nothing else are written in batches.
    pipeline = Pipeline(bot.svc.faq.matcher, bot.store, bot.config, escalate=bot.queue.escalate,
                        repeat=bot.queue.repeated, clock=bot.clock, batch_log=True)

    def ask(user, msg_id):
        return pipeline.handle(Message("wechat", "", user, UNKNOWN_Q, msg_id, received_at=bot.clock()))

    first = ask("o_1", "m1")
    bot.clock.now += 60
    # Another worker holds the write lock: a repeat still gets its answer at once (an escalation
    # would wait for the lock), since it commits nothing but its log row.
    other = Store(bot.config.storage.path)
    other.db.execute("BEGIN IMMEDIATE")
    try:
        again = ask("o_1", "m2")
        assert ask("o_1", "m2").reply == again.reply  # WeChat's retry
    finally:
        other.db.execute("ROLLBACK")
    assert again.ticket == first.ticket == 1 and "已在工单 #1 中登记" in again.reply
    pipeline.flush()
    logged = [(m["decision"], m["ticket"]) for m in bot.store.messages() if m["msg_id"] == "m2"]
    assert logged == [("escalate", 1)]
    assert len(bot.tickets()[0]["askers"]) == 1
    # Someone else asking the same is a join: it takes the lock and commits an asker row.
    assert "已并入工单 #1" in ask("o_2", "m3").reply
    assert len(bot.tickets()[0]["askers"]) == 2


def test_a_retry_that_races_past_the_read_rolls_back_what_it_wrote(tmp_path, monkeypatch):
    bot = Bot(tmp_path)
    first = bot.ask(UNKNOWN_Q, user="u1", msg_id="r1", response_url="http://127.0.0.1:9/first")
    # The other worker's row lands between this worker's read and its transaction.
    store = bot.svc.pipeline.store
    real, calls = store.find_decision, []
    monkeypatch.setattr(store, "find_decision", lambda key: real(key) if calls.append(key) or len(calls) > 1 else None)
    escalate, escalated = bot.svc.pipeline.escalate, []
    monkeypatch.setattr(bot.svc.pipeline, "escalate", lambda *args: escalated.append(1) or escalate(*args))
    retry = bot.ask(UNKNOWN_Q, user="u1", msg_id="r1", response_url="http://127.0.0.1:9/retry")
    assert escalated == [1]  # it got as far as writing (an "asked again")...
    assert retry.reply == first.reply and retry.ticket == 1  # ... and answers as the first attempt did
    assert bot.audit(1) == ["opened"]  # no "asked_again" from the retry
    (asker,) = bot.tickets()[0]["askers"]
    assert asker["response_url"].endswith("/first")

# --- Routing -------------------------------------------------------------------------------

def test_routing_faq_category_then_keywords_then_default(tmp_path):
    bot = Bot(tmp_path)
    route = bot.queue.route
    close = Decision("escalate", candidates=[Candidate("supplies.shortage", 0.4), Candidate("canteen.staggered-meals", 0.1)])
    assert route("包车 接 员工", close).team == "防控物资组"  # close to an entry: its category's team
    assert route("包车 接 员工", close).how == "faq:supplies.shortage" and route("x", close).category == "supplies"
    far = Decision("escalate", candidates=[Candidate("supplies.shortage", 0.2)])
    assert route("我们想包车接外地员工", far).team == "用工保障组"
    assert route("我们想包车接外地员工", far).how == "keyword:包车"
    assert route("企业贷款贴息在哪申请", far).team == "金融供给组"
    assert route("厂里原料供应商停产了", far).team == "供应链组"
    assert route("货车通行证怎么办", far).team == "物流运输组"
    assert route("测温枪坏了哪里修", far).team == "防控物资组"
    assert route("仓库叉车要年检吗", far).team == "综合协调组" and route("仓库叉车要年检吗", far).how == "default"
    # Keywords match whole words: 资金 is not in 工资金额.
    assert route("工资金额怎么核算", far).how == "default"
    assert route("流动资金紧张", far).how == "keyword:资金"


def test_routing_through_the_pipeline(tmp_path):
    question = "我们想包车接外地员工返岗，怎么申请"
    bot = Bot(tmp_path, route_min_score=1.0)  # never close enough: the keyword 包车 decides
    decision = bot.ask(question)
    top = max(decision.candidates, key=lambda c: c.score)
    assert decision.kind == "escalate" and "用工保障组" in decision.reply
    # With the bar just under the matcher's top candidate, the same question counts as close to
    # that entry: its category's team (whatever the matcher's exact score is today).
    (tmp_path / "b").mkdir()
    bot2 = Bot(tmp_path / "b", route_min_score=top.score * 0.99)
    entry = bot2.svc.faq.matcher().faq.by_id[top.faq_id]
    team = bot2.svc.faq.matcher().faq.categories[entry.category].team
    assert team in bot2.ask(question).reply
    assert bot2.tickets()[0]["route"] == f"faq:{top.faq_id}" and bot2.tickets()[0]["category"] == entry.category


def test_config_routes_and_bad_queue_config_names_the_key(tmp_path):
    data = queue_config(tmp_path, routes=[{"team": "特种设备组", "keywords": ["叉车", "锅炉"]}])
    bot = Bot(tmp_path, data=data)
    assert "特种设备组" in bot.ask(UNKNOWN_Q).reply
    assert "综合协调组" in bot.ask("测温枪坏了哪里能修").reply  # the configured rules replace the built-in ones
    for bad, key in (
        ({"queue": {"routes": [{"team": "x", "keywords": []}]}}, "queue.routes[0].keywords"),
        ({"queue": {"deadlines": [{"team": "*", "before": "5pm"}]}}, "queue.deadlines[0].before"),
        ({"queue": {"merge_similarity": 2}}, "queue.merge_similarity"),
        ({"cadres": {"groups": [{"team": "x"}]}}, "cadres.groups[0].chat"),
        ({"delivery": {"robot_format": "html"}}, "delivery.robot_format"),
        ({"robots": {"wrkA": 3}}, "robots.wrkA"),
    ):
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            config_from_dict(bad)


# --- Transitions and audit -------------------------------------------------------------------

def test_every_transition_and_the_illegal_ones(tmp_path):
    bot = Bot(tmp_path)
    q = bot.queue
    bot.ask(UNKNOWN_Q)
    with pytest.raises(QueueError, match="不能重新打开"):
        q.reopen(1, "张三")
    assert q.claim(1, "张三").status == "claimed"
    assert q.claim(1, "张三").claimed_by == "张三"  # claiming again is harmless
    with pytest.raises(QueueError, match="已由 张三 认领"):
        q.claim(1, "李四")
    with pytest.raises(QueueError, match="答复内容不能为空"):
        q.answer(1, "  ", "张三")
    bot.clock.now += 60
    t = q.answer(1, "请联系区市场监管局。", "张三")
    assert (t.status, t.answer, t.answered_by, t.answered_at) == ("answered", "请联系区市场监管局。", "张三", at(21, 10, 1))
    with pytest.raises(QueueError, match="已经答复过了；如需更正，请先重新打开"):
        q.answer(1, "再答一次", "张三")
    with pytest.raises(QueueError, match="不能认领"):
        q.claim(1, "张三")
    assert q.close(1, "张三").status == "closed"
    with pytest.raises(QueueError, match="已关闭，不能关闭"):
        q.close(1, "张三")
    bot.clock.now = at(21, 18)
    reopened = q.reopen(1, "李四")
    assert reopened.status == "open" and reopened.claimed_by is None and reopened.due_at == at(22, 10)
    assert q.answer(1, "更正：请联系区应急局。", "李四").status == "answered"
    with pytest.raises(QueueError, match="没有工单 #99"):
        q.claim(99, "张三")
    with pytest.raises(QueueError, match="--by"):
        q.close(1, " ")
    trail = bot.store.audit_trail(1)
    assert [r["action"] for r in trail] == ["opened", "claimed", "answered", "closed", "reopened", "answered"]
    assert [r["actor"] for r in trail] == ["wecom_bot:u1", "张三", "张三", "张三", "李四", "李四"]
    assert json.loads(trail[2]["detail"])["answer"] == "请联系区市场监管局。"
    # Each answer queued one message per asker, in the same transaction.
    assert [r["dedup"] for r in bot.store.outbox_rows(1)] == ["answer:1:1:1", "answer:1:2:1"]


# --- Deadlines -------------------------------------------------------------------------------

def test_clock_time_rules():
    rule = DeadlineRule()
    assert due_at(rule, at(21, 16, 59), BJ) == at(21, 21)
    assert due_at(rule, at(21, 17, 0), BJ) == at(22, 10)  # Saturday: every day is a workday by default
    weekdays = DeadlineRule(workdays=(1, 2, 3, 4, 5))
    assert due_at(weekdays, at(21, 17, 30), BJ) == at(24, 10)  # Friday evening -> Monday
    assert due_at(weekdays, at(22, 9, 0), BJ) == at(24, 10)  # Saturday morning -> Monday
    assert due_at(DeadlineRule(before="12:00", due_same_day="18:00", due_next_day="12:00"), at(21, 11), BJ) == at(21, 18)


def test_working_hours_rule_skips_nights_and_weekends():
    rule = DeadlineRule(working_hours=4, workdays=(1, 2, 3, 4, 5))
    assert due_at(rule, at(21, 10), BJ) == at(21, 14)
    assert due_at(rule, at(21, 16), BJ) == at(24, 11)  # 2 h on Friday, 2 h on Monday
    assert due_at(rule, at(21, 20), BJ) == at(24, 13)  # after hours: starts Monday 09:00
    assert due_at(rule, at(22, 10), BJ) == at(24, 13)


def spring(month: int, day: int, hour: int) -> float:
    """Spring 2020, Beijing time: 清明 4-6 April off; 劳动节 1-5 May off, 26 April and 9 May worked."""
    return dt.datetime(2020, month, day, hour, tzinfo=BJ).timestamp()


QINGMING = frozenset(dt.date(2020, 4, d) for d in (4, 5, 6))
LABOUR_DAY = frozenset(dt.date(2020, 5, d) for d in range(1, 6))
MAKE_UP_DAYS = frozenset((dt.date(2020, 4, 26), dt.date(2020, 5, 9)))


def test_holidays_are_skipped_and_make_up_workdays_count():
    every_day = DeadlineRule(holidays=QINGMING)
    assert due_at(every_day, spring(4, 3, 18), BJ) == spring(4, 7, 10)  # Friday evening -> Tuesday after 清明
    assert due_at(every_day, spring(4, 5, 11), BJ) == spring(4, 7, 10)  # asked on the holiday itself
    weekdays = DeadlineRule(workdays=(1, 2, 3, 4, 5), holidays=LABOUR_DAY, extra_workdays=MAKE_UP_DAYS)
    assert due_at(weekdays, spring(4, 25, 12), BJ) == spring(4, 26, 10)  # Saturday -> the Sunday worked instead
    assert due_at(weekdays, spring(4, 26, 11), BJ) == spring(4, 26, 21)  # a make-up Sunday has same-day answers
    assert due_at(weekdays, spring(4, 30, 18), BJ) == spring(5, 6, 10)  # over the five days off
    hours = DeadlineRule(working_hours=4, workdays=(1, 2, 3, 4, 5), holidays=LABOUR_DAY)
    assert due_at(hours, spring(4, 30, 16), BJ) == spring(5, 6, 11)  # 2 h on 30 April, 2 h on 6 May


def test_queue_holidays_reach_every_team_rule(tmp_path):
    config = config_from_dict({"queue": {
        "holidays": ["2020-05-01", "2020-05-02"],
        "extra_workdays": ["2020-04-26"],
        "deadlines": [{"team": "*"}, {"team": "金融供给组", "working_hours": 8, "workdays": [1, 2, 3, 4, 5], "holidays": ["2020-05-04"]}],
    }})
    star, finance = (config.queue.deadline_for(team) for team in ("综合协调组", "金融供给组"))
    assert star.holidays == {dt.date(2020, 5, 1), dt.date(2020, 5, 2)} and star.extra_workdays == {dt.date(2020, 4, 26)}
    assert finance.holidays == {dt.date(2020, 5, 1), dt.date(2020, 5, 2), dt.date(2020, 5, 4)}
    no_rules = config_from_dict({"queue": {"holidays": ["2020-05-01"], "deadlines": [{"team": "金融供给组"}]}})
    assert no_rules.queue.deadline_for("用工保障组").holidays == {dt.date(2020, 5, 1)}
    path = tmp_path / "bot.toml"
    path.write_text("[queue]\nholidays = [2020-04-04, 2020-04-06]\n", encoding="utf-8")  # TOML dates, unquoted
    assert load_config(path).queue.deadline_for("*").holidays == {dt.date(2020, 4, 4), dt.date(2020, 4, 6)}


def test_ack_on_the_eve_of_a_holiday_names_the_first_workday_after(tmp_path):
    bot = Bot(tmp_path, clock=Clock(spring(4, 3, 18)), holidays=["2020-04-04", "2020-04-05", "2020-04-06"])
    assert bot.ask(UNKNOWN_Q).reply.endswith("综合协调组将于4月7日（周二）10:00 前答复。")


@pytest.mark.parametrize("queue, message", [
    ({"holidays": "2020-05-01"}, "queue.holidays must be a list of dates"),
    ({"holidays": ["5月1日"]}, "queue.holidays: '5月1日' is not a date like 2020-04-06"),
    ({"deadlines": [{"team": "*", "extra_workdays": [20200426]}]}, "deadlines[0].extra_workdays: 20200426 is not a date"),
    ({"holidays": ["2020-04-26"], "extra_workdays": ["2020-04-26"]}, "2020-04-26 is both a holiday and an extra workday"),
])
def test_calendar_mistakes_name_the_key(queue, message):
    with pytest.raises(ConfigError) as excinfo:
        config_from_dict({"queue": queue})
    assert message in str(excinfo.value)


def test_describe_due():
    assert describe_due(at(21, 21), at(21, 10), BJ) == "今天 21:00"
    assert describe_due(at(22, 10), at(21, 18), BJ) == "明天 10:00"
    assert describe_due(at(23, 10), at(21, 18), BJ) == "后天 10:00"
    assert describe_due(at(24, 10), at(21, 18), BJ) == "2月24日（周一）10:00"


def test_per_team_rule_and_due_in_ack(tmp_path):
    bot = Bot(tmp_path, clock=Clock(at(21, 16)), deadlines=[
        {"team": "*", "before": "17:00", "due_same_day": "21:00", "due_next_day": "10:00"},
        {"team": "用工保障组", "working_hours": 4, "workdays": [1, 2, 3, 4, 5]},
    ])
    assert bot.ask("我们想包车接外地员工返岗，怎么申请").reply.endswith("用工保障组将于2月24日（周一）11:00 前答复。")
    assert bot.ask(UNKNOWN_Q).reply.endswith("综合协调组将于今天 21:00 前答复。")


def test_reminder_and_alert_go_to_the_team_cadre_group_once(tmp_path, endpoint):
    from bot.delivery import Deliverer

    bot = Bot(tmp_path, endpoint)
    bot.ask("测温枪坏了哪里能修")  # 防控物资组, due 21:00
    bot.ask(UNKNOWN_Q)  # 综合协调组, due 21:00
    bot.queue.claim(2, "王五")
    deliver = Deliverer(bot.store, bot.config, bot.clock)
    assert bot.queue.scan_deadlines() == ([], [])
    bot.clock.now = at(21, 20, 1)  # within the hour before 21:00
    assert bot.queue.scan_deadlines() == ([1, 2], [])
    assert bot.queue.scan_deadlines() == ([], [])
    bot.clock.now = at(21, 21, 0)
    assert bot.queue.scan_deadlines() == ([], [1, 2])
    bot.clock.now = at(21, 23, 0)
    assert bot.queue.scan_deadlines() == ([], [])
    assert deliver.drain() == 4
    sent = endpoint.delivered("/cgi-bin/webhook/send")
    by_key = {}
    for r in sent:
        by_key.setdefault(r["query"]["key"], []).append(r["body"]["text"]["content"])
    supplies, general = by_key["cadre-supplies-key"], by_key["cadre-general-key"]
    assert len(supplies) == 2 and supplies[0].startswith("【即将到期】防控物资组") and "#1 测温枪坏了哪里能修" in supplies[0]
    assert supplies[1].startswith("【已超时】防控物资组") and "“#编号 答复内容”" in supplies[1]
    assert "王五 已认领" in general[1]
    assert bot.audit(1) == ["opened", "reminder", "alert"]
    # Overdue tickets are flagged; reopening gives a fresh deadline and fresh reminders.
    ticket = bot.queue.get(1)
    assert bot.queue.flags(ticket) == ["overdue"] and [t.id for t in bot.queue.list(overdue=True)] == [1, 2]
    bot.queue.answer(1, "请联系防控物资组。", "张三")
    assert [t.id for t in bot.queue.list(overdue=True)] == [2]


def test_a_ticket_answered_in_time_is_never_alerted(tmp_path):
    bot = Bot(tmp_path)
    bot.ask(UNKNOWN_Q)
    bot.queue.answer(1, "答复。", "张三")
    bot.clock.now = at(22, 12)
    assert bot.queue.scan_deadlines() == ([], [])


# --- The cadre group: "#12 答复内容" ------------------------------------------------------

GENERAL_CHAT = "wrkCadreGeneral"  # 综合协调组's cadre group (UNKNOWN_Q's team)


def test_cadre_answers_in_the_cadre_group(tmp_path):
    bot = Bot(tmp_path)
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1")
    bot.ask(UNKNOWN_Q, chat="wrkB", user="u2")
    reply = bot.ask("#1 叉车年检请联系区市场监管局特种设备科。", chat=GENERAL_CHAT, user="cadre7", msg_id="c1")
    assert reply.reply == "已答复工单 #1，将发送给 2 位企业联系人。"
    ticket = bot.queue.get(1)
    assert ticket.status == "answered" and ticket.answered_by == "cadre7"
    assert ticket.answer == "叉车年检请联系区市场监管局特种设备科。"
    # WeCom's retry of the cadre's message answers nothing twice.
    assert bot.ask("#1 叉车年检请联系区市场监管局特种设备科。", chat=GENERAL_CHAT, user="cadre7", msg_id="c1").reply == reply.reply
    assert len(bot.store.outbox_rows(1)) == 2
    assert bot.ask("#1 再答一次", chat=GENERAL_CHAT, user="cadre7").reply.startswith("工单 #1 已经答复过了；如需更正")
    assert bot.ask("#99 答复", chat=GENERAL_CHAT, user="cadre7").reply == "没有找到工单 #99，请核对编号后再发送“#编号 答复内容”。"
    assert bot.ask("＃1", chat=GENERAL_CHAT, user="cadre7").reply.startswith("工单 #1（已答复，综合协调组")
    # Outside a cadre group "#1 …" is just a question.
    assert bot.ask("#1 这是什么", chat="wrkA", user="u9").kind != "ignore"
    # Typed without a space, an answer is still one; anything else gets how to answer, and no ticket.
    bot.ask("园区路灯坏了找谁修", chat="wrkA", user="u1")
    tickets = len(bot.tickets())
    assert bot.ask(f"#{tickets}请拨打园区物业电话报修。", chat=GENERAL_CHAT, user="cadre7").reply == (
        f"已答复工单 #{tickets}，将发送给 1 位企业联系人。")
    assert bot.ask("园区路灯坏了找谁修", chat=GENERAL_CHAT, user="cadre7").reply == (
        "本群是综合协调组的工作群：发送“#编号 答复内容”答复工单，发送“#编号”查看工单。")
    assert bot.ask("收到", chat=GENERAL_CHAT, user="cadre7").reply == ""
    assert bot.ask("#1楼的消毒液用完了", chat=GENERAL_CHAT, user="cadre7").reply.startswith("本群是")  # a floor, no ticket
    chatter = Message("wecom_bot", GENERAL_CHAT, "cadre7", "下午三点开会", "chat-1", is_group=True, mentioned=False,
                      received_at=bot.clock())
    assert bot.svc.pipeline.handle(chatter).reply == ""  # the group's own talk, not to the bot: nothing
    assert len(bot.tickets()) == tickets


def test_store_init_is_idempotent(tmp_path):
    Store(tmp_path / "x.db").init().init()


def test_example_config_documents_the_queue_keys():
    import dataclasses

    from bot.config import PROJECT_ROOT, CadreGroup, DeadlineRule, DeliveryConfig, QueueConfig, load_config

    example = PROJECT_ROOT / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    assert "[[queue.routes]]" in text and "[[queue.deadlines]]" in text
    for cls in (QueueConfig, DeliveryConfig, DeadlineRule):
        for f in dataclasses.fields(cls):
            if f.name not in ("routes", "deadlines"):
                assert f"\n{f.name} = " in text, f"{cls.__name__}.{f.name} is not documented"
    for f in dataclasses.fields(CadreGroup):
        assert f"{f.name} = " in text
    config = load_config(example)
    assert config.queue.routes == QueueConfig().routes and config.delivery == DeliveryConfig()
