"""`run.py queue …` and `run.py faq drafts/approve` through click's CliRunner against a real temp database."""
from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from bot.cli import register_all
from conftest import MINI_FAQ, STARTER_FAQ
from test_queue import UNKNOWN_Q, Bot, Clock

cli = register_all()


def run(config, *args, ok=True):
    result = CliRunner().invoke(cli, [*args, "--config", str(config)])
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def setup(tmp_path):
    bot = Bot(tmp_path, clock=Clock(time.time()))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "bot.db"}"\n[faq]\npath = "{tmp_path / "faq.yaml"}"\n'
        f'drafts_path = "{tmp_path / "drafts.yaml"}"\n[bot]\nname = "防疫助手"\n',
        encoding="utf-8",
    )
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1", msg_id="m1")
    bot.ask(UNKNOWN_Q, chat="wrkB", user="u2", msg_id="m2")
    bot.ask("测温枪坏了哪里能修", chat="wrkA", user="u3", msg_id="m3")
    return bot, config


def test_list_json_and_filters(setup):
    bot, config = setup
    listed = json.loads(run(config, "queue", "list", "--json").output)
    assert [t["id"] for t in listed] == [1, 2]
    first = listed[0]
    assert first["status"] == "open" and first["question"] == UNKNOWN_Q and first["team"] == "综合协调组"
    assert [(a["chat"], a["user"]) for a in first["askers"]] == [("wrkA", "u1"), ("wrkB", "u2")]
    assert first["created_at"].endswith("+08:00") and first["due_at"] > first["created_at"]
    assert "http" not in json.dumps(listed)  # response_urls are credentials: never printed
    assert [t["id"] for t in json.loads(run(config, "queue", "list", "--json", "--team", "防控物资组").output)] == [2]
    run(config, "queue", "claim", "2", "--by", "张三")
    assert json.loads(run(config, "queue", "list", "--json", "--status", "claimed").output)[0]["claimed_by"] == "张三"
    assert json.loads(run(config, "queue", "list", "--json", "--overdue").output) == []
    text = run(config, "queue", "list").output
    assert "#1" in text and "综合协调组" in text and "2人" in text and "已认领 张三" in text
    bad = run(config, "queue", "list", "--status", "nonsense", ok=False)
    assert bad.exit_code == 2


def test_claim_answer_close_reopen_and_the_database(setup):
    bot, config = setup
    assert "已由 张三 认领" in run(config, "queue", "claim", "1", "--by", "张三").output
    refused = run(config, "queue", "claim", "1", "--by", "李四", ok=False)
    assert refused.exit_code == 1 and "Error: 工单 #1 已由 张三 认领" in refused.output
    out = run(config, "queue", "answer", "1", "叉车年检请联系区市场监管局。", "--by", "张三").output
    assert "已答复工单 #1，将发送给 2 位企业联系人。" in out
    ticket = bot.store.ticket_with_askers(1)
    assert ticket["status"] == "answered" and ticket["answered_by"] == "张三"
    assert [r["status"] for r in bot.store.outbox_rows(1)] == ["pending", "pending"]
    again = run(config, "queue", "answer", "1", "again", "--by", "张三", ok=False)
    assert again.exit_code == 1 and "reopen" in again.output
    run(config, "queue", "close", "1", "--by", "张三")
    assert run(config, "queue", "close", "1", ok=False).exit_code == 1
    run(config, "queue", "reopen", "1", "--by", "李四")
    assert bot.store.ticket_with_askers(1)["status"] == "open"
    assert run(config, "queue", "show", "99", ok=False).output.strip() == "Error: 没有工单 #99"
    missing = run(config, "queue", "answer", "1", "--by", "张三", ok=False)
    assert missing.exit_code == 1 and "TEXT" in missing.output
    assert [r["action"] for r in bot.store.audit_trail(1)] == ["opened", "joined", "claimed", "answered", "closed", "reopened"]


def test_show_lists_askers_deliveries_and_history(setup):
    bot, config = setup
    run(config, "queue", "answer", "1", "请联系区市场监管局。", "--by", "张三")
    data = json.loads(run(config, "queue", "show", "1", "--json").output)
    assert data["status"] == "answered" and len(data["askers"]) == 2
    assert [(d["kind"], d["status"], d["attempts"]) for d in data["deliveries"]] == [("answer", "pending", 0)] * 2
    assert [a["action"] for a in data["audit"]] == ["opened", "joined", "answered"]
    text = run(config, "queue", "show", "1").output
    assert "答复（张三" in text and "投递：" in text and "u1@wrkA  pending" in text


def test_answer_with_an_faq_entry_drafts_alternates_and_approve_adds_them(setup, tmp_path):
    bot, config = setup
    out = run(config, "queue", "answer", "2", "--faq", "supplies.shortage", "--by", "张三").output
    assert "备选问法草稿 #1" in out
    assert bot.store.ticket_with_askers(2)["answer"] == "请联系防控物资组协调。"
    assert bot.store.ticket_with_askers(2)["answer_faq_id"] == "supplies.shortage"
    drafts = json.loads(run(config, "faq", "drafts", "--json").output)
    assert drafts[0]["kind"] == "alternates" and drafts[0]["alternates"] == ["测温枪坏了哪里能修"]
    before = (tmp_path / "faq.yaml").read_text(encoding="utf-8")
    assert "supplies.shortage" in run(config, "faq", "approve", "1").output
    after = (tmp_path / "faq.yaml").read_text(encoding="utf-8")
    assert after == before.replace("买不到消毒液怎么办]", "买不到消毒液怎么办, 测温枪坏了哪里能修]")
    assert json.loads(run(config, "faq", "drafts", "--json").output) == []
    assert run(config, "faq", "approve", "1", ok=False).exit_code == 1
    unknown = run(config, "queue", "answer", "1", "--faq", "no.such", "--by", "张三", ok=False)
    assert unknown.exit_code == 1 and "no.such" in unknown.output


def test_add_to_faq_drafts_an_entry_and_approve_keeps_the_file(tmp_path):
    bot = Bot(tmp_path, clock=Clock(time.time()))
    faq = tmp_path / "faq.yaml"
    faq.write_text(STARTER_FAQ.read_text(encoding="utf-8"), encoding="utf-8")  # comments, blank lines, flow maps
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\npath = "{tmp_path / "bot.db"}"\n[faq]\npath = "{faq}"\n', encoding="utf-8")
    bot.ask("测温枪坏了哪里能修", chat="wrkA", user="u1")
    bot.ask("测温枪坏了在哪里能修", chat="wrkB", user="u2")
    out = run(config, "queue", "answer", "1", "可送区防控物资组统一检修，或申领备用测温枪。", "--by", "张三", "--add-to-faq").output
    assert "FAQ 草稿 #1" in out
    listing = run(config, "faq", "drafts").output
    assert "new entry supplies.ticket-1" in listing and "测温枪坏了在哪里能修" in listing
    before = faq.read_text(encoding="utf-8")
    run(config, "faq", "approve", "1", "--id", "supplies.thermometer-repair")
    after = faq.read_text(encoding="utf-8")
    assert after.startswith(before)  # every comment, blank line and entry kept as it was
    assert after[len(before):] == (
        "\n  - id: supplies.thermometer-repair\n    category: supplies\n    question: 测温枪坏了哪里能修\n"
        "    alternates:\n      - 测温枪坏了在哪里能修\n    answer: 可送区防控物资组统一检修，或申领备用测温枪。\n"
    )
    assert "OK, 30 entries" in run(config, "faq", "check").output


def test_approve_refuses_a_draft_the_loader_would_refuse(tmp_path):
    bot = Bot(tmp_path, clock=Clock(time.time()))
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\npath = "{tmp_path / "bot.db"}"\n[faq]\npath = "{tmp_path / "faq.yaml"}"\n', encoding="utf-8")
    bot.ask(UNKNOWN_Q, chat="wrkA", user="u1")  # default team: no category in this FAQ
    run(config, "queue", "answer", "1", "请联系区市场监管局。", "--by", "张三", "--add-to-faq")
    before = (tmp_path / "faq.yaml").read_text(encoding="utf-8")
    refused = run(config, "faq", "approve", "1", ok=False)
    assert refused.exit_code == 1 and "--category" in refused.output
    refused = run(config, "faq", "approve", "1", "--category", "prevention", "--id", "Bad Id", ok=False)
    assert refused.exit_code == 1 and "bad id" in refused.output
    run(config, "faq", "approve", "1", "--category", "prevention", "--id", "equipment.forklift")
    assert "equipment.forklift" in (tmp_path / "faq.yaml").read_text(encoding="utf-8")
    assert (tmp_path / "faq.yaml").read_text(encoding="utf-8").startswith(before)
    assert MINI_FAQ  # the fixture FAQ this test started from


def test_a_broken_drafts_file_or_faq_gets_a_clear_message_and_loses_nothing(setup, tmp_path):
    bot, config = setup
    drafts = tmp_path / "drafts.yaml"
    drafts.write_text("drafts: [unclosed\n", encoding="utf-8")
    result = run(config, "queue", "answer", "1", "请联系区市场监管局。", "--by", "张三", "--add-to-faq", ok=False)
    assert result.exit_code == 1
    assert "the answer was recorded, but no draft was written" in result.output and f"{drafts}:" in result.output
    assert bot.store.ticket_with_askers(1)["status"] == "answered"  # the answer itself is kept
    assert drafts.read_text(encoding="utf-8") == "drafts: [unclosed\n"  # and the file is left as it was
    refused = run(config, "faq", "approve", "1", ok=False)
    assert refused.exit_code == 1 and "not valid YAML" in refused.output

    drafts.unlink()
    run(config, "queue", "answer", "2", "--faq", "supplies.shortage", "--by", "张三")
    faq = tmp_path / "faq.yaml"
    faq.write_text("- not\n- an FAQ\n", encoding="utf-8")
    refused = run(config, "faq", "approve", "1", ok=False)
    assert refused.exit_code == 1 and "not an FAQ file" in refused.output
    assert json.loads(run(config, "faq", "drafts", "--json").output)[0]["kind"] == "alternates"  # draft kept


def test_approve_writes_through_a_link_and_keeps_windows_line_endings_and_bom(setup, tmp_path):
    bot, config = setup
    run(config, "queue", "answer", "2", "--faq", "supplies.shortage", "--by", "张三")
    faq = tmp_path / "faq.yaml"
    tracked = tmp_path / "repo" / "faq.yaml"  # the copy under version control, linked where the bot reads it
    tracked.parent.mkdir()
    tracked.write_bytes(b"\xef\xbb\xbf" + faq.read_text(encoding="utf-8").replace("\n", "\r\n").encode())
    faq.unlink()
    faq.symlink_to(tracked)
    run(config, "faq", "approve", "1")
    assert faq.is_symlink() and faq.resolve() == tracked
    written = tracked.read_bytes()
    assert written.startswith(b"\xef\xbb\xbf") and written.count(b"\n") == written.count(b"\r\n")
    assert "测温枪坏了哪里能修" in written.decode("utf-8-sig")
    assert "OK, 4 entries" in run(config, "faq", "check").output


def test_approve_names_the_line_it_cannot_edit(setup, tmp_path):
    bot, config = setup
    run(config, "queue", "answer", "2", "--faq", "supplies.shortage", "--by", "张三")
    faq = tmp_path / "faq.yaml"
    lines = faq.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if "answer:" in line and "|" not in line)
    lines[at] = lines[at].replace("answer: ", "answer:\t")  # read by the bot, not by ruamel.yaml
    faq.write_text("".join(lines), encoding="utf-8")
    assert "OK" in run(config, "faq", "check").output
    refused = run(config, "faq", "approve", "1", ok=False)
    assert refused.exit_code == 1 and f"{faq}:{at + 1}:" in refused.output and "write this line plainly" in refused.output, refused.output


def test_a_ticket_number_out_of_range_or_a_database_that_cannot_be_opened_is_said_plainly(setup, tmp_path):
    bot, config = setup
    huge = run(config, "queue", "show", "99999999999999999999", ok=False)
    assert huge.exit_code == 2 and "99999999999999999999" in huge.output and huge.exception.__class__ is SystemExit
    bad = tmp_path / "bad.toml"
    bad.write_text('[storage]\npath = "/proc/no-such/bot.db"\n', encoding="utf-8")
    refused = run(bad, "queue", "list", ok=False)
    assert refused.exit_code == 1 and "storage.path: cannot open the database /proc/no-such/bot.db" in refused.output
