"""The message log under `serve`: answered messages are logged in batches, once each, retries included."""
import threading
import time

from bot.config import Config, FaqConfig, StorageConfig
from bot.model import Message
from bot.pipeline import Pipeline
from bot.store import Store
from faq.live import LiveFaq


def make_pipeline(tmp_path, mini_faq, batch_log=True):
    config = Config(storage=StorageConfig(tmp_path / "bot.db"), faq=FaqConfig(mini_faq))
    store = Store(config.storage.path).init()
    return Pipeline(LiveFaq(mini_faq, config.bot).matcher, store, config, batch_log=batch_log), store


def logged(store):
    return store.db.execute("SELECT dedup_key, decision, faq_id FROM messages ORDER BY id").fetchall()


def message(msg_id, text="厂区一天消毒几次"):
    return Message("wechat", "", "o_user", text, msg_id, received_at=1.0)


def test_retries_of_an_answer_get_the_same_reply_and_one_log_row(tmp_path, mini_faq):
    pipeline, store = make_pipeline(tmp_path, mini_faq)
    replies = {pipeline.handle(message("m1")).reply for _ in range(3)}
    assert len(replies) == 1 and "消毒" in replies.pop()
    pipeline.flush()
    assert [tuple(r) for r in logged(store)] == [("wechat:m1", "answer", "disinfection.frequency")]


def test_two_workers_log_a_retried_answer_once(tmp_path, mini_faq):
    first, store = make_pipeline(tmp_path, mini_faq)
    second, _ = make_pipeline(tmp_path, mini_faq)
    assert first.handle(message("m2")).reply == second.handle(message("m2")).reply
    first.flush()
    second.flush()
    assert len(logged(store)) == 1


def test_rows_are_written_without_an_explicit_flush(tmp_path, mini_faq):
    pipeline, store = make_pipeline(tmp_path, mini_faq)
    for n in range(20):
        pipeline.handle(message(f"b{n}"))
    done = threading.Event()
    for _ in range(100):  # the batcher writes within LOG_BATCH_SECONDS
        if len(logged(store)) == 20:
            done.set()
            break
        done.wait(0.02)
    assert done.is_set()


def test_a_request_writes_the_batch_once_it_is_due(tmp_path, mini_faq, monkeypatch):
    monkeypatch.setattr("bot.pipeline.LOG_BATCH_SECONDS", 0.5)
    pipeline, store = make_pipeline(tmp_path, mini_faq)
    pipeline.handle(message("f1"))
    pipeline.flush_due()  # as the server does once a reply has gone out
    assert logged(store) == []  # not due yet (and the background thread waits twice as long)
    time.sleep(0.55)
    pipeline.flush_due()
    assert [r[0] for r in logged(store)] == ["wechat:f1"]


def test_escalations_are_committed_before_the_reply(tmp_path, mini_faq):
    pipeline, store = make_pipeline(tmp_path, mini_faq)
    decision = pipeline.handle(message("e1", "仓库叉车年检找哪个部门"))
    assert decision.kind == "escalate"
    assert [tuple(r)[:2] for r in logged(store)] == [("wechat:e1", "escalate")]  # no flush needed


def test_an_answer_is_logged_by_entry_and_faq_version_and_a_retry_still_gets_its_text(tmp_path, mini_faq):
    import hashlib

    pipeline, store = make_pipeline(tmp_path, mini_faq, batch_log=False)
    first = pipeline.handle(message("v1"))
    escalated = pipeline.handle(message("v2", "仓库叉车年检找哪个部门"))
    rows = store.db.execute("SELECT decision, reply, faq_version FROM messages ORDER BY id").fetchall()
    version = hashlib.sha256(mini_faq.read_bytes()).hexdigest()[:12]
    assert [tuple(r) for r in rows] == [("answer", None, version), ("escalate", escalated.reply, version)]
    assert pipeline.handle(message("v1")).reply == first.reply and "消毒" in first.reply  # WeChat's retry
    assert pipeline.recorded("wechat:v1").reply == first.reply  # a WeCom stream refresh


def test_a_database_made_before_faq_version_gets_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, dedup_key TEXT NOT NULL, decision TEXT, reply TEXT)")
    store = Store(path).init()
    assert "faq_version" in store.db["messages"].columns_dict


def test_a_retried_escalation_is_answered_while_another_process_holds_the_write_lock(tmp_path, mini_faq):
    import sqlite3

    pipeline, store = make_pipeline(tmp_path, mini_faq)
    first = pipeline.handle(message("r1", "仓库叉车年检找哪个部门"))
    assert first.kind == "escalate"
    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another worker in the middle of a write
    try:
        # Taking the lock would wait out the busy timeout and fail with "database is locked".
        assert pipeline.handle(message("r1", "仓库叉车年检找哪个部门")).reply == first.reply
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_retried_answer_whose_entry_was_dropped_is_not_silent_and_opens_no_ticket(tmp_path, mini_faq):
    config = Config(storage=StorageConfig(tmp_path / "bot.db"), faq=FaqConfig(mini_faq))
    store = Store(config.storage.path).init()
    live = LiveFaq(mini_faq, config.bot)
    pipeline = Pipeline(live.matcher, store, config)
    assert pipeline.handle(message("d1")).faq_id == "disinfection.frequency"
    text = mini_faq.read_text(encoding="utf-8")
    start = text.index("  - id: disinfection.frequency")
    mini_faq.write_text(text[:start] + text[text.index("  - id: canteen", start):], encoding="utf-8")
    assert live.reload()
    retry = pipeline.handle(message("d1"))  # the question no longer matches anything: it would escalate
    assert retry.reply and retry.ticket is None
    assert store.escalations() == [] and len(logged(store)) == 1


def test_a_retry_meets_its_first_attempts_answer_still_waiting_in_the_batch(tmp_path, mini_faq, monkeypatch):
    monkeypatch.setattr("bot.pipeline.LOG_BATCH_SECONDS", 30.0)  # the first row stays unwritten
    config = Config(storage=StorageConfig(tmp_path / "bot.db"), faq=FaqConfig(mini_faq))
    store = Store(config.storage.path).init()
    live = LiveFaq(mini_faq, config.bot)
    pipeline = Pipeline(live.matcher, store, config, batch_log=True)
    first = pipeline.handle(message("w1"))
    assert first.kind == "answer" and logged(store) == []
    text = mini_faq.read_text(encoding="utf-8")
    start = text.index("  - id: disinfection.frequency")
    canteen = text[text.index("  - id: canteen", start) : text.index("  - id: supplies.shortage")]
    mini_faq.write_text(text[:start] + canteen, encoding="utf-8")  # nothing on disinfection is left
    assert live.reload()
    assert live.matcher().decide("厂区一天消毒几次").kind == "escalate"
    assert pipeline.handle(message("w1")) is first
    assert store.tickets() == [] and store.escalations() == []
    pipeline.flush()
    assert [tuple(r) for r in logged(store)] == [("wechat:w1", "answer", "disinfection.frequency")]
