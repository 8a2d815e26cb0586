"""A local stand-in for Tencent's delivery endpoints: response_url, group robot webhook, the
customer-service and app-message APIs. It records every request and can be told to fail."""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Endpoint:
    """Threaded HTTP server on 127.0.0.1. Script failures with fail(); read what arrived in .requests."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every POST: path, query, body, outcome ("ok" or the failure)
        # failures for the next POSTs: ("http", status) | ("errcode", n) | ("slow", s)
        # | ("raw", status, body): that status with that body, JSON or not
        self.script: deque = deque()
        self.always: tuple | None = None  # a failure for every POST until cleared
        self.tokens_issued: list[str] = []  # access tokens handed out: TOKEN, then TOKEN-2, TOKEN-3 ...
        self.token_ttl = 7200  # the expires_in of each token
        self.token_delay = 0.0  # seconds each token request takes
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # access tokens
                path = urlsplit(self.path).path
                if path.endswith(("/cgi-bin/token", "/cgi-bin/gettoken")):
                    time.sleep(endpoint.token_delay)
                    with endpoint.lock:
                        issued = endpoint.tokens_issued
                        issued.append("TOKEN" if not issued else f"TOKEN-{len(issued) + 1}")
                        token, ttl = issued[-1], endpoint.token_ttl
                    self._json(200, {"access_token": token, "expires_in": ttl})
                else:
                    self._json(404, {"errcode": 404})

            def do_POST(self):
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with endpoint.lock:
                    failure = endpoint.script.popleft() if endpoint.script else endpoint.always
                    record = {"path": parts.path, "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                              "body": body, "outcome": "ok" if failure is None else failure[0], "at": time.time()}
                    endpoint.requests.append(record)
                if failure is None:
                    self._json(200, {"errcode": 0, "errmsg": "ok"})
                elif failure[0] == "http":
                    self._json(failure[1], {"error": "refused"})
                elif failure[0] == "errcode":
                    self._json(200, {"errcode": failure[1], "errmsg": "scripted failure"})
                elif failure[0] == "raw":
                    payload = failure[2].encode() if isinstance(failure[2], str) else failure[2]
                    self.send_response(failure[1])
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                elif failure[0] == "slow":
                    time.sleep(failure[1])
                    try:
                        self._json(200, {"errcode": 0, "errmsg": "ok (too late)"})
                    except OSError:
                        pass

            def _json(self, status, data):
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def fail(self, *failures: tuple) -> None:
        with self.lock:
            self.script.extend(failures)

    def set_always(self, failure: tuple | None) -> None:
        with self.lock:
            self.always = failure

    def posts(self, path_prefix: str = "", outcome: str | None = None) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(path_prefix) and (outcome is None or r["outcome"] == outcome)]

    def delivered(self, path_prefix: str = "") -> list[dict]:
        """The POSTs that were accepted (the ones a user would see)."""
        return self.posts(path_prefix, "ok")

    def wait_for(self, condition, timeout: float = 10.0, interval: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(interval)
        return condition()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
