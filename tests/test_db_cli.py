"""`run.py db prune` and `run.py db backup` against a real database, then a look inside it."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from click.testing import CliRunner

from bot.cli import register_all
from bot.config import config_from_dict
from bot.delivery import PRUNE_LEASE, Background
from bot.store import Store
from test_delivery import run_until_idle
from test_queue import Bot, Clock, endpoint  # noqa: F401  (endpoint: the fixture)

DAY = 86400
ANSWER = "请联系区市场监管局特种设备科。"


def run_cli(*args: str):
    return CliRunner().invoke(register_all(), list(args))


def config_file(tmp_path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\npath = "{tmp_path / "bot.db"}"\n[faq]\npath = "{tmp_path / "faq.yaml"}"\n',
                    encoding="utf-8")
    return str(path)


def counts(db_path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("messages", "tickets", "askers", "audit", "outbox", "deliveries")}


def half_a_year_of_tickets(tmp_path, endpoint) -> Bot:
    """Ticket 1: answered and closed 200 days ago; 2: asked then, still open; 3: closed 200 days ago with
    its answer still failing to go out; 4: closed an hour ago."""
    now, long_ago = time.time(), time.time() - 200 * DAY
    bot = Bot(tmp_path, endpoint, clock=Clock(long_ago))
    bot.ask("仓库叉车要年检吗", chat="wrkA", user="u1", response_url=None)
    bot.ask("锅炉年检找谁呢", chat="wrkB", user="u2", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    run_until_idle(_deliverer(bot), bot.clock)
    bot.queue.close(1, "张三")
    bot.ask("危化品仓库要报备吗", chat="wrkB", user="u4", response_url=None)
    bot.clock.now = now - 3600
    bot.ask("电梯维保单位进不来怎么办", chat="wrkA", user="u3", response_url=None)
    bot.queue.answer(4, ANSWER, "李四")
    run_until_idle(_deliverer(bot), bot.clock)
    bot.queue.close(4, "李四")
    bot.clock.now = long_ago + 3600
    bot.queue.answer(3, ANSWER, "张三")
    endpoint.set_always(("http", 502))
    _deliverer(bot).run_once()  # failed attempts; the answer waits for its next try
    endpoint.set_always(None)
    bot.queue.close(3, "张三")
    return bot


def _deliverer(bot):
    from bot.delivery import Deliverer

    return Deliverer(bot.store, bot.config, bot.clock)


def test_prune_deletes_the_old_log_and_keeps_tickets(tmp_path, endpoint):
    bot = half_a_year_of_tickets(tmp_path, endpoint)
    db_path = tmp_path / "bot.db"
    before = counts(db_path)
    failed = bot.store.delivery_attempts(bot.store.outbox_rows(3)[0]["id"])
    assert before["messages"] == 4 and before["deliveries"] == 2 + len(failed)
    assert bot.store.outbox_rows(3)[0]["status"] == "pending" and not any(a["ok"] for a in failed)

    dry = run_cli("db", "prune", "--days", "30", "--dry-run", "--config", config_file(tmp_path))
    assert dry.exit_code == 0, dry.output
    assert "将删除" in dry.output and "消息记录 3 条，投递尝试 1 条" in dry.output
    assert counts(db_path) == before

    done = run_cli("db", "prune", "--days", "30", "--config", config_file(tmp_path))
    assert done.exit_code == 0, done.output
    assert "已删除" in done.output and "消息记录 3 条，投递尝试 1 条" in done.output
    after = counts(db_path)
    # Ticket 1's delivered answer loses its attempt; ticket 3's failed ones stay, its answer still pending.
    assert after["messages"] == 1 and after["deliveries"] == 1 + len(failed)
    assert bot.store.delivery_attempts(bot.store.outbox_rows(3)[0]["id"]) == failed
    # Without --tickets every ticket stays, with its askers, audit trail and outbox.
    assert {k: after[k] for k in ("tickets", "askers", "audit", "outbox")} == \
        {k: before[k] for k in ("tickets", "askers", "audit", "outbox")}
    assert [m["text"] for m in bot.store.messages()] == ["@防疫助手\u2005电梯维保单位进不来怎么办"]


def test_prune_tickets_deletes_only_tickets_done_with(tmp_path, endpoint):
    bot = half_a_year_of_tickets(tmp_path, endpoint)
    dry = run_cli("db", "prune", "--days", "30", "--tickets", "--dry-run", "--config", config_file(tmp_path))
    assert "投递尝试 1 条，已关闭工单 1 张" in dry.output
    result = run_cli("db", "prune", "--days", "30", "--tickets", "--config", config_file(tmp_path))
    assert result.exit_code == 0, result.output
    assert "投递尝试 1 条，已关闭工单 1 张" in result.output
    # 2 is open; 3's answer is still to be sent; 4 was closed an hour ago.
    assert [t["id"] for t in bot.store.tickets()] == [2, 3, 4]
    assert bot.store.ticket_with_askers(1) is None
    assert bot.store.audit_trail(1) == [] and bot.store.outbox_rows(1) == []
    assert [r["action"] for r in bot.store.audit_trail(2)] == ["opened"]
    assert bot.store.outbox_rows(4)[0]["status"] == "delivered"
    assert counts(tmp_path / "bot.db")["askers"] == 3


def test_the_newest_ticket_is_kept_so_its_number_is_not_given_again(tmp_path, endpoint):
    bot = Bot(tmp_path, endpoint, clock=Clock(time.time() - 200 * DAY))
    for i, question in enumerate(("仓库叉车要年检吗", "锅炉年检找谁呢"), start=1):
        bot.ask(question, chat="wrkA", user=f"u{i}", response_url=None)
        bot.queue.close(i, "张三")
    assert bot.store.prune(time.time() - 30 * DAY, tickets=True)["tickets"] == 1
    bot.clock.now = time.time()
    assert bot.ask("电梯维保单位进不来怎么办", chat="wrkA", user="u3", response_url=None).ticket == 3


def test_prune_goes_in_small_transactions(tmp_path):
    store = Store(tmp_path / "bot.db").init()
    old = time.time() - 100 * DAY
    with store.transaction() as tx:
        for i in range(25):
            tx.conn.execute("INSERT INTO messages (dedup_key, received_at, text) VALUES (?, ?, ?)", (f"k{i}", old + i, "旧"))
        tx.conn.execute("INSERT INTO messages (dedup_key, received_at, text) VALUES ('new', ?, '新')", (time.time(),))
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    assert store.prune(time.time() - 30 * DAY, tickets=False, batch=7) == {"messages": 25, "deliveries": 0}
    store.db.conn.set_trace_callback(None)
    assert sum(s.startswith("DELETE FROM messages") for s in statements) == 4  # 7 + 7 + 7 + 4
    assert sum(s.startswith("BEGIN IMMEDIATE") for s in statements) == 4
    assert [m["text"] for m in store.messages()] == ["新"]


def old_and_new_messages(store: Store, now: float) -> None:
    with store.transaction() as tx:
        tx.conn.execute("INSERT INTO messages (dedup_key, received_at, text) VALUES ('old', ?, '旧')", (now - 100 * DAY,))
        tx.conn.execute("INSERT INTO messages (dedup_key, received_at, text) VALUES ('new', ?, '新')", (now - DAY,))


def test_the_server_prunes_once_a_day_across_its_processes(tmp_path):
    clock = Clock(time.time())
    config = config_from_dict({"storage": {"path": str(tmp_path / "bot.db"), "keep_days": 30}})
    store = Store(config.storage.path).init()
    old_and_new_messages(store, clock.now)
    one, other = (Background(Store(config.storage.path), config, None, clock) for _ in range(2))
    assert one.prune_if_due() == {"messages": 1, "deliveries": 0}
    assert [m["text"] for m in store.messages()] == ["新"]
    with store.transaction() as tx:
        tx.conn.execute("INSERT INTO messages (dedup_key, received_at, text) VALUES ('older', ?, '又一条旧的')", (clock.now - 99 * DAY,))
    # Done for today, whichever process asks.
    assert one.prune_if_due() is None and other.prune_if_due() is None
    clock.now += DAY
    assert other.prune_if_due() == {"messages": 1, "deliveries": 0}
    assert one.prune_if_due() is None


def test_a_failed_prune_is_tried_again_and_a_clock_gone_wrong_does_not_stop_it(tmp_path, monkeypatch):
    clock = Clock(time.time())
    config = config_from_dict({"storage": {"path": str(tmp_path / "bot.db"), "keep_days": 30}})
    store = Store(config.storage.path).init()
    old_and_new_messages(store, clock.now)
    workers = Background(store, config, None, clock)
    with monkeypatch.context() as patch:
        patch.setattr(Store, "prune", lambda *a: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked")))
        with pytest.raises(sqlite3.OperationalError):
            workers.prune_if_due()
    assert workers.prune_if_due() is None  # the failed one's claim holds until its lease runs out ...
    clock.now += PRUNE_LEASE
    assert workers.prune_if_due() == {"messages": 1, "deliveries": 0}  # ... then it is tried again
    # A process whose clock ran years ahead set the next turn then: a right clock takes it back.
    ahead = Background(store, config, None, Clock(clock.now + 3 * 365 * DAY))
    with monkeypatch.context() as patch:
        patch.setattr(Store, "prune", lambda *a: {"messages": 0, "deliveries": 0})
        assert ahead.prune_if_due() is not None
    clock.now += DAY
    assert workers.prune_if_due() == {"messages": 0, "deliveries": 0}


def test_the_prune_thread_runs_only_when_asked_for(tmp_path):
    now = time.time()
    for keep, left in ((0, ["新", "旧"]), (30, ["新"])):
        config = config_from_dict({"storage": {"path": str(tmp_path / f"keep{keep}.db"), "keep_days": keep}})
        store = Store(config.storage.path).init()
        old_and_new_messages(store, now)
        workers = Background(store, config, _IdleQueue()).start()
        try:
            assert ("pruner" in [t.name for t in workers.threads]) == bool(keep)
            deadline = time.monotonic() + (10 if keep else 0)
            while [m["text"] for m in store.messages()] != left and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            workers.stop()
        assert [m["text"] for m in store.messages()] == left


class _IdleQueue:
    """A queue with no deadlines to scan."""

    def scan_deadlines(self) -> None:
        pass


def test_prune_refuses_nonsense(tmp_path):
    assert run_cli("db", "prune", "--days", "0", "--config", config_file(tmp_path)).exit_code == 2
    missing = run_cli("db", "prune", "--days", "30", "--config", config_file(tmp_path))
    assert missing.exit_code == 1 and "没有数据库文件" in missing.output


def test_backup_while_another_process_writes(tmp_path, endpoint):
    half_a_year_of_tickets(tmp_path, endpoint)
    logged = counts(tmp_path / "bot.db")["messages"]
    stop, written = threading.Event(), []

    def keep_writing():  # a second connection, as another worker would be
        writer = Store(tmp_path / "bot.db")
        while not stop.is_set():
            with writer.transaction() as tx:
                tx.conn.execute("INSERT INTO messages (dedup_key, received_at, text) VALUES (?, ?, '写入中')",
                                (f"w{len(written)}", time.time()))
            written.append(1)

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        while not written:
            time.sleep(0.001)
        result = run_cli("db", "backup", str(tmp_path / "copy" / "bot.db"), "--config", config_file(tmp_path))
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 0, result.output
    assert "已备份到" in result.output
    copy = tmp_path / "copy" / "bot.db"
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [t["id"] for t in Store(copy).tickets()] == [1, 2, 3, 4]
    assert not [p.name for p in (tmp_path / "copy").iterdir() if "partial" in p.name]
    # The copy is one moment of the database: the writes up to then, none of those after.
    assert 1 <= counts(copy)["messages"] - logged <= len(written)


def test_backup_refuses_to_overwrite(tmp_path, endpoint):
    half_a_year_of_tickets(tmp_path, endpoint)
    dest = tmp_path / "copy.db"
    dest.write_text("昨天的备份", encoding="utf-8")
    refused = run_cli("db", "backup", str(dest), "--config", config_file(tmp_path))
    assert refused.exit_code == 1 and "已存在" in refused.output
    assert dest.read_text(encoding="utf-8") == "昨天的备份"
    itself = run_cli("db", "backup", str(tmp_path / "bot.db"), "--force", "--config", config_file(tmp_path))
    assert itself.exit_code == 1 and "数据库文件本身" in itself.output
    wal = run_cli("db", "backup", str(tmp_path / "bot.db-wal"), "--force", "--config", config_file(tmp_path))
    assert wal.exit_code == 1 and "数据库文件本身" in wal.output
    assert counts(tmp_path / "bot.db")["tickets"] == 4
    forced = run_cli("db", "backup", str(dest), "--force", "--config", config_file(tmp_path))
    assert forced.exit_code == 0, forced.output
    assert counts(dest)["tickets"] == 4


def test_backup_leaves_out_access_tokens_and_nothing_half_written(tmp_path):
    store = Store(tmp_path / "bot.db").init()
    store.save_api_token("wx123_access_token", "LIVE", time.time() + 3600, time.time() + 7200)
    result = run_cli("db", "backup", str(tmp_path / "out" / "copy.db"), "--config", config_file(tmp_path))
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "out" / "copy.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM api_tokens").fetchone()[0] == 0
    assert store.api_token("wx123_access_token", time.time(), 30) == "LIVE"  # the database keeps it
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bot.db").write_text("这不是数据库", encoding="utf-8")
    broken = tmp_path / "broken" / "config.toml"
    broken.write_text(f'[storage]\npath = "{tmp_path / "broken" / "bot.db"}"\n', encoding="utf-8")
    failed = run_cli("db", "backup", str(tmp_path / "out" / "broken.db"), "--config", str(broken))
    assert failed.exit_code == 1 and "备份失败" in failed.output
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(("broken", ".broken"))] == []


def test_backup_of_a_database_from_before_the_token_table(tmp_path):
    store = Store(tmp_path / "bot.db").init()
    store.db.execute("DROP TABLE api_tokens")  # as a database written by an older version
    result = run_cli("db", "backup", str(tmp_path / "copy.db"), "--config", config_file(tmp_path))
    assert result.exit_code == 0, result.output
    assert counts(tmp_path / "copy.db")["tickets"] == 0
