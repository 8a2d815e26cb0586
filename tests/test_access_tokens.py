"""Access tokens for the Official Account and WeCom app APIs live in the bot's database, shared by every process."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.senders import SharedTokens, new_oa_client, new_wecom_client
from bot.store import Store
from server_support import OA, WECOM
from test_queue import UNKNOWN_Q, Bot, Clock, endpoint, queue_config  # noqa: F401  (endpoint: the fixture)

ROOT = Path(__file__).resolve().parent.parent
ANSWER = "请向区商务局报备。"


def one_to_one_config(tmp_path, endpoint) -> tuple[dict, Path]:
    """A bot that answers Official Account and WeCom app users one-to-one, and the same as a config file."""
    data = queue_config(tmp_path, endpoint)
    data["wechat"] = {"mode": "safe", "token": OA["token"], "encoding_aes_key": OA["key"], "app_id": OA["app_id"]}
    data["wecom"] = {"token": WECOM["token"], "encoding_aes_key": WECOM["key"], "corp_id": WECOM["corp_id"]}
    data["delivery"].update(wechat_app_secret="oa-secret", wecom_app_secret="app-secret", wecom_agent_id=1000002)
    path = tmp_path / "config.toml"
    path.write_text(
        f'[storage]\npath = "{data["storage"]["path"]}"\n[faq]\npath = "{data["faq"]["path"]}"\n'
        f'[bot]\nanswer_threshold = 1.0\nsuggest_threshold = 1.0\n'
        f'[wechat]\nmode = "safe"\ntoken = "{OA["token"]}"\nencoding_aes_key = "{OA["key"]}"\napp_id = "{OA["app_id"]}"\n'
        f'[wecom]\ntoken = "{WECOM["token"]}"\nencoding_aes_key = "{WECOM["key"]}"\ncorp_id = "{WECOM["corp_id"]}"\n'
        f'[delivery]\napi_base = "{endpoint.base}"\nwechat_api_base = "{endpoint.base}"\n'
        f'wechat_app_secret = "oa-secret"\nwecom_app_secret = "app-secret"\nwecom_agent_id = 1000002\n',
        encoding="utf-8")
    return data, path


def deliver_in_a_new_process(config: Path) -> None:
    """`run.py deliver --once` in its own process, as a second worker or a cron job would run it."""
    done = subprocess.run([sys.executable, "run.py", "deliver", "--once", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_processes_share_one_access_token_per_app(tmp_path, endpoint):
    data, config = one_to_one_config(tmp_path, endpoint)
    bot = Bot(tmp_path, data=data)
    for round_ in (1, 2):
        bot.ask(f"{UNKNOWN_Q}（第{round_}次）", chat="", user="o_openid1", channel="wechat", response_url=None)
        bot.ask(f"{UNKNOWN_Q}（第{round_}次）", chat="", user="zhangsan", channel="wecom", response_url=None)
        bot.queue.answer(round_, ANSWER, "张三")
        deliver_in_a_new_process(config)
    sent = endpoint.delivered("/cgi-bin/message/")
    assert len(sent) == 4
    # One token for the Official Account, one for the WeCom app: the second process used them too.
    assert endpoint.tokens_issued == ["TOKEN", "TOKEN-2"]
    assert sorted(r["query"]["access_token"] for r in sent) == ["TOKEN", "TOKEN", "TOKEN-2", "TOKEN-2"]
    assert {r["status"] for t in (1, 2) for r in bot.store.outbox_rows(t)} == {"delivered"}


def test_a_retired_token_is_replaced_for_every_process(tmp_path, endpoint):
    data, config = one_to_one_config(tmp_path, endpoint)
    bot = Bot(tmp_path, data=data)
    bot.ask(UNKNOWN_Q, chat="", user="o_openid1", channel="wechat", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    deliver_in_a_new_process(config)
    bot.ask(f"{UNKNOWN_Q}？", chat="", user="o_openid1", channel="wechat", response_url=None)
    bot.queue.answer(2, ANSWER, "张三")
    endpoint.fail(("errcode", 40001))  # Tencent: invalid credential (say, another system fetched a token)
    deliver_in_a_new_process(config)
    bot.ask(f"{UNKNOWN_Q}？？", chat="", user="o_openid1", channel="wechat", response_url=None)
    bot.queue.answer(3, ANSWER, "张三")
    deliver_in_a_new_process(config)
    tokens = [(r["outcome"], r["query"]["access_token"]) for r in endpoint.posts("/cgi-bin/message/custom/send")]
    # The refused send is retried at once with a new token, and the third process finds that one stored.
    assert tokens == [("ok", "TOKEN"), ("errcode", "TOKEN"), ("ok", "TOKEN-2"), ("ok", "TOKEN-2")]
    assert endpoint.tokens_issued == ["TOKEN", "TOKEN-2"]


def test_one_process_refreshes_a_due_token_while_the_others_keep_the_old_one(tmp_path):
    clock = Clock(1_000_000.0)
    first = SharedTokens(Store(tmp_path / "bot.db").init(), clock)
    second = SharedTokens(Store(tmp_path / "bot.db"), clock)  # another process's storage
    first.set("app_access_token", "T1", 7200)
    clock.now += 7200 - 61
    assert first.get("app_access_token") == second.get("app_access_token") == "T1"
    clock.now += 2  # a minute before expiry: due
    assert second.get("app_access_token") is None  # it claims the refresh and fetches
    assert first.get("app_access_token") == "T1"  # meanwhile the old token still serves
    second.set("app_access_token", "T2", 7200)
    assert first.get("app_access_token") == second.get("app_access_token") == "T2"


def test_a_claimed_refresh_that_fails_passes_to_another_process(tmp_path):
    clock = Clock(1_000_000.0)
    first = SharedTokens(Store(tmp_path / "bot.db").init(), clock)
    second = SharedTokens(Store(tmp_path / "bot.db"), clock)
    first.set("app_access_token", "T1", 7200)
    clock.now += 7150
    assert first.get("app_access_token") is None  # claims, then its fetch fails: nothing is stored
    assert second.get("app_access_token") == "T1"
    clock.now += SharedTokens.CLAIM_SECONDS + 1
    assert second.get("app_access_token") is None  # the claim lapsed: this one fetches
    clock.now = 1_000_000.0 + 7200 - 5
    assert first.get("app_access_token", "none") == second.get("app_access_token", "none") == "none"  # about to expire


def test_a_short_lived_token_is_used_for_half_its_life(tmp_path):
    clock = Clock(1_000_000.0)
    tokens = SharedTokens(Store(tmp_path / "bot.db").init(), clock)
    tokens.set("app_access_token", "T1", 60)
    clock.now += 29
    assert tokens.get("app_access_token") == "T1"
    clock.now += 2
    assert tokens.get("app_access_token") is None
    tokens.set("app_access_token", "T2")  # no ttl given: two hours
    clock.now += 7000
    assert tokens.get("app_access_token") == "T2"
    tokens.delete("app_access_token")
    assert tokens.get("app_access_token") is None


def test_clients_of_two_processes_refresh_once_between_them(tmp_path, endpoint):
    clock = Clock(1_000_000.0)
    Store(tmp_path / "bot.db").init()

    def process_client():  # each worker process builds its own client, with its own connection
        return new_oa_client(endpoint.base, "wx123", "oa-secret", 2.0, SharedTokens(Store(tmp_path / "bot.db"), clock))

    first, second = process_client(), process_client()
    assert first.access_token == second.access_token == "TOKEN"
    clock.now += 7200 - 30  # past the refresh time of the token both hold
    assert first.access_token == "TOKEN-2"
    assert second.access_token == "TOKEN-2"
    # wechatpy's own clock says the token second last fetched is about to expire; the storage decides.
    second.expires_at = time.time() + 30
    clock.now += 3600
    assert second.access_token == first.access_token == "TOKEN-2"
    assert endpoint.tokens_issued == ["TOKEN", "TOKEN-2"]


def test_threads_of_one_process_fetch_one_token(tmp_path, endpoint):
    Store(tmp_path / "bot.db").init()
    client = new_wecom_client(endpoint.base, "ww123", "app-secret", 2.0, SharedTokens(Store(tmp_path / "bot.db")))
    endpoint.token_delay = 0.2  # every thread asks while the first fetch is under way
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(client.access_token)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == ["TOKEN"] * 4 and endpoint.tokens_issued == ["TOKEN"]


def test_a_token_refused_again_and_again_is_fetched_anew_once_per_attempt(tmp_path, endpoint):
    data, config = one_to_one_config(tmp_path, endpoint)
    bot = Bot(tmp_path, data=data)
    bot.ask(UNKNOWN_Q, chat="", user="o_openid1", channel="wechat", response_url=None)
    bot.queue.answer(1, ANSWER, "张三")
    endpoint.set_always(("errcode", 40001))  # every send refused: another system keeps fetching tokens
    deliver_in_a_new_process(config)
    # One send, one new token, one send again; then an ordinary failed attempt, retried later.
    assert len(endpoint.posts("/cgi-bin/message/custom/send")) == 2
    assert endpoint.tokens_issued == ["TOKEN", "TOKEN-2"]
    [row] = bot.store.outbox_rows(1)
    assert row["status"] == "pending" and row["attempts"] == 1
