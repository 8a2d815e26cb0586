"""Load benchmark of the webhook server: every channel beside a bare Flask endpoint, same gunicorn, same run.

Usage: .venv/bin/python bench/server_bench.py [--rounds 3] [--seconds 3] [--connections 4] [--workers 2]

Starts `run.py serve --workers N` on a free loopback port with a temporary database and a
copy of the FAQ, then drives each endpoint in turn with a bounded load: wrk (one thread,
C connections, a Lua script) when installed, else a multi-process Python client. Every
request is a new message (its own MsgId), so each one runs the whole pipeline: signature,
decryption, matching, one SQLite write and the reply. Endpoints take turns in short rounds;
ratios are against the bare endpoint's total.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import http.client
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bot.config import BUNDLED_FAQ  # noqa: E402
from wechat_peer import OfficialAccount, WecomApp, WecomRobot  # noqa: E402  (the independent peer)

BOT_NAME = "防疫助手"
TOKEN = "BenchToken"
KEY = base64.b64encode(hashlib.sha256(b"bench").digest()).decode().rstrip("=")
APP_ID, CORP_ID = "wxbench000000000", "wwbench000000000"
FALLBACK_FAQ = ROOT / "tests" / "server_support.py"  # its FAQ_YAML, when the bundled FAQ is absent

# The default mix: mostly answered, three escalations (tickets) and a courtesy.
QUESTIONS = [
    "复工需要准备哪些申请材料？", "复工申请要交什么材料", "口罩不够用去哪里采购", "我们公司的商标被人抢注了怎么办",
    "员工就餐是否分开", "小微企业贷款贴息怎么申请", "厂里的叉车年检过期了还能用吗", "食堂可以堂食吗",
    "外地员工返岗需要隔离几天", "我们厂区的污水排放许可证换证流程走到哪一步了", "谢谢", "您好，请问复工备案在哪里办",
]
# --mix answered: only questions the FAQ answers.
ANSWERED = [
    "复工需要准备哪些申请材料？", "复工申请要交什么材料", "口罩不够用去哪里采购", "小微企业贷款贴息怎么申请",
    "食堂可以堂食吗", "外地员工返岗需要隔离几天", "您好，请问复工备案在哪里办", "厂区一天消毒几次",
]
# --mix escalations: only questions the FAQ cannot answer; each opens or joins a ticket.
ESCALATIONS = [
    "我们厂区的污水排放许可证换证流程走到哪一步了", "我们的专利申请被驳回了怎么办", "我们公司的商标被人抢注了怎么办",
    "厂里的叉车年检过期了还能用吗", "我们公司的出口退税什么时候能到账", "园区的路灯坏了找谁修",
]
MIXES = {"default": QUESTIONS, "answered": ANSWERED, "escalations": ESCALATIONS}

LUA_PLAIN = r"""
-- Plaintext Official Account posts: the signature covers token, timestamp and nonce only,
-- so one signed query serves every body; each body is a new message.
local n = ROUND * 10000000
local questions = {QUESTIONS}
local query = "QUERY"
function request()
  n = n + STEP
  local q = questions[(n % #questions) + 1]
  local body = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench" .. USER ..
    "]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" .. q ..
    "]]></Content><MsgId>" .. n .. "</MsgId></xml>"
  return wrk.format("POST", "/wechat?" .. query, {["Content-Type"] = "text/xml"}, body)
end
"""

LUA_POOL = r"""
-- Encrypted channels: requests signed and encrypted in advance, one line each (url TAB body).
local reqs = {}
local n = 0
for line in io.lines("POOL") do
  local tab = line:find("\t", 1, true)
  reqs[#reqs + 1] = {line:sub(1, tab - 1), line:sub(tab + 1)}
end
function request()
  n = n + 1
  local r = reqs[((n - 1) % #reqs) + 1]
  return wrk.format("POST", r[1], {["Content-Type"] = "CTYPE"}, r[2])
end
"""


LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.1f %.1f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def faq_text() -> str:
    if BUNDLED_FAQ.exists():
        return BUNDLED_FAQ.read_text(encoding="utf-8")
    import server_support

    return server_support.FAQ_YAML


def start_server(tmp: Path, workers: int) -> tuple[subprocess.Popen, int]:
    (tmp / "faq.yaml").write_text(faq_text(), encoding="utf-8")
    port = free_port()
    (tmp / "config.toml").write_text(
        f"""
[server]
port = {port}
[storage]
path = "bot.db"
[faq]
path = "faq.yaml"
[bot]
name = "{BOT_NAME}"
[wechat]
mode = "plain"
token = "{TOKEN}"
[wecom]
token = "{TOKEN}"
encoding_aes_key = "{KEY}"
corp_id = "{CORP_ID}"
[wecom_bot]
token = "{TOKEN}"
encoding_aes_key = "{KEY}"
""",
        encoding="utf-8",
    )
    env = dict(os.environ, FUYI_BENCH_BARE="1")
    log = open(tmp / "server.log", "w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "serve", "--config", str(tmp / "config.toml"), "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit((tmp / "server.log").read_text(encoding="utf-8"))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.2)
    time.sleep(2)  # let every worker finish booting before measuring
    return proc, port


USERS = 50
RETRIES = False


def asker(round_: int, i: int) -> str:
    return f"user{i % USERS}" if USERS else f"user{round_}-{i}"


def make_pool(tmp: Path, channel: str, count: int, round_: int) -> tuple[Path, str]:
    """Pre-signed, pre-encrypted requests, one per line; message ids unique across rounds."""
    now = int(time.time())
    lines = []
    wc, rb = WecomApp(TOKEN, KEY, CORP_ID), WecomRobot(TOKEN, KEY)
    for i in range(count):
        q = QUESTIONS[i % len(QUESTIONS)]
        if channel == "wecom":
            req = wc.text(asker(round_, i), q, f"b{round_}-{i}", now)
        else:
            req = rb.text(asker(round_, i), f"@{BOT_NAME} {q}", f"b{round_}-{i}", now)
        lines.append(f"{req.url}\t{req.body.decode()}")
    path = tmp / f"{channel}-{round_}.pool"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, req.content_type


def lua_for(tmp: Path, channel: str, pool_size: int, round_: int = 0) -> Path:
    if channel in ("bare", "wechat"):
        ts, nonce = str(int(time.time())), "20240425"
        from urllib.parse import urlencode

        from wechat_peer import sha1_signature

        query = urlencode({"signature": sha1_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce})
        questions = ", ".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS)
        script = LUA_PLAIN.replace("{QUESTIONS}", "{" + questions + "}").replace("QUERY", query)
        script = script.replace("ROUND", str(round_)).replace("USER", f"(n % {USERS})" if USERS else "n")
        script = script.replace("STEP", "0" if RETRIES else "1")
        if channel == "bare":
            # The baseline gets the very same requests (query, body) and only reads them: the
            # difference is what the bot does with a message, not the size of what it is sent.
            script = script.replace('"/wechat?"', '"/bench/bare?"')
    else:
        pool, ctype = make_pool(tmp, channel, pool_size, round_)
        script = LUA_POOL.replace("POOL", str(pool)).replace("CTYPE", ctype)
    path = tmp / f"{channel}-{round_}.lua"
    path.write_text(script + LUA_DONE, encoding="utf-8")
    return path


def worker_cpu_seconds(master: int) -> float:
    """User + system CPU of the gunicorn master's children (the workers), from /proc."""
    total = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(port: int, script: Path, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    requests, duration_us, p50, p99, bad = line.split()[1:]
    return {"requests": int(requests), "rps": int(requests) / (int(duration_us) / 1e6),
            "p50": float(p50) / 1000, "p99": float(p99) / 1000, "non2xx": int(bad)}


def _py_client(args) -> tuple[list[float], int]:
    port, reqs, seconds = args
    latencies, bad, i = [], 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        url, body, ctype = reqs[i % len(reqs)]
        i += 1
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("POST", url, body=body, headers={"Content-Type": ctype})
            status = conn.getresponse().status
        except OSError:
            status = 0
        finally:
            conn.close()
        latencies.append(time.perf_counter() - started)
        bad += not 200 <= status < 300
    return latencies, bad


def run_python(port: int, tmp: Path, channel: str, seconds: int, connections: int, round_: int) -> dict:
    """Fallback without wrk: one process per connection, each with its own slice of requests."""
    rng = random.Random(1)
    oa, wc, rb = OfficialAccount(TOKEN), WecomApp(TOKEN, KEY, CORP_ID), WecomRobot(TOKEN, KEY)
    now = int(time.time())
    slices = []
    for c in range(connections):
        reqs = []
        for i in range(4000):
            q, mid = rng.choice(QUESTIONS), f"p{round_}-{c}-{i}"
            req = {"bare": lambda: oa.text("o_b", q, mid, now, "plain"), "wechat": lambda: oa.text("o_b", q, mid, now, "plain"), "wecom": lambda: wc.text("u", q, mid, now),
                   "wecom_bot": lambda: rb.text("u", f"@{BOT_NAME} {q}", mid, now)}[channel]()
            url = req.url.replace("/wechat?", "/bench/bare?") if channel == "bare" else req.url
            reqs.append((url, req.body, req.content_type))
        slices.append((port, reqs, seconds))
    with multiprocessing.Pool(connections) as pool:
        results = pool.map(_py_client, slices)
    latencies = sorted(l for ls, _ in results for l in ls)
    return {"requests": len(latencies), "rps": len(latencies) / seconds, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000, "non2xx": sum(b for _, b in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=3, help="per endpoint per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--python-client", action="store_true", help="use the Python load generator even if wrk is installed")
    parser.add_argument("--mix", choices=sorted(MIXES), default="default",
                        help="default: 3 of 12 questions escalate; answered: none do; escalations: all do")
    parser.add_argument("--users", type=int, default=50, help="distinct askers (0: every message a new asker)")
    parser.add_argument("--retries", action="store_true",
                        help="plaintext: every request repeats one message (WeChat's retries), not a new one")
    parser.add_argument("--channels", default="wechat,wecom,wecom_bot",
                        help="comma-separated channels to drive beside the bare endpoint")
    args = parser.parse_args()
    QUESTIONS[:] = list(MIXES[args.mix])
    global USERS, RETRIES
    USERS, RETRIES = args.users, args.retries
    use_wrk = shutil.which("wrk") and not args.python_client
    tmp = Path(tempfile.mkdtemp(prefix="server-bench-"))
    proc, port = start_server(tmp, args.workers)
    channels = ("bare", *(c for c in ("wechat", "wecom", "wecom_bot") if c in args.channels.split(",")))
    runs: dict[str, list[dict]] = {c: [] for c in channels}
    try:
        # Short rounds, channels interleaved: whatever else the machine does during the run
        # falls on every endpoint alike.
        for round_ in range(args.rounds):
            for channel in channels:
                script = lua_for(tmp, channel, args.seconds * 6000, round_) if use_wrk else None
                cpu_before = worker_cpu_seconds(proc.pid)
                if use_wrk:
                    stats = run_wrk(port, script, args.seconds, args.connections)
                else:
                    stats = run_python(port, tmp, channel, args.seconds, args.connections, round_)
                stats["cpu"] = worker_cpu_seconds(proc.pid) - cpu_before
                runs[channel].append(stats)
                print(f"  round {round_ + 1} {channel}: {stats['rps']:.0f} req/s, p99 {stats['p99']:.1f} ms", file=sys.stderr)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    results = {}
    for channel, stats in runs.items():
        results[channel] = {
            "rps": sum(s["requests"] for s in stats) / (args.seconds * len(stats)),
            "p50": sorted(s["p50"] for s in stats)[len(stats) // 2],  # median of the rounds
            "p99": max(s["p99"] for s in stats),  # worst round
            "non2xx": sum(s["non2xx"] for s in stats),
            # Worker CPU per request: unlike req/s, not skewed by other load on the machine.
            "cpu_ms": 1000 * sum(s["cpu"] for s in stats) / max(1, sum(s["requests"] for s in stats)),
        }
    baseline = results["bare"]["rps"]
    client = "wrk -t1" if use_wrk else "python"
    print(f"\nserve --workers {args.workers}, {args.connections} connections ({client}), "
          f"{args.rounds} rounds x {args.seconds} s per endpoint, {os.cpu_count()} CPUs")
    print(f"{'endpoint':<22}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'vs bare':>9}{'CPU ms/req':>12}")
    labels = {"bare": "bare Flask", "wechat": "wechat (plaintext)", "wecom": "wecom (AES)", "wecom_bot": "wecom_bot (AES, JSON)"}
    for channel, s in results.items():
        print(f"{labels[channel]:<22}{s['rps']:>8.0f}{s['p50']:>9.2f}{s['p99']:>9.2f}{s['non2xx']:>9}"
              f"{s['rps'] / baseline:>9.0%}{s['cpu_ms']:>12.3f}")
    db = tmp / "bot.db"
    import sqlite3

    with sqlite3.connect(db) as conn:
        logged = conn.execute("SELECT count(*), count(DISTINCT dedup_key) FROM messages").fetchone()
        kinds = dict(conn.execute("SELECT decision, count(*) FROM messages GROUP BY decision").fetchall())
        tickets = conn.execute("SELECT count(*), (SELECT count(*) FROM askers) FROM tickets").fetchone()
    print(f"message log: {logged[0]} rows, {logged[1]} distinct messages; "
          + ", ".join(f"{k} {n / logged[0]:.0%}" for k, n in sorted(kinds.items()))
          + f"; {tickets[0]} tickets, {tickets[1]} askers")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
