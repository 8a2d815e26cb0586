"""One function per delivery route, and how a message is cut into that route's parts.

Routes (chosen per attempt by bot/delivery):
- response_url: the smart robot callback's single-use URL (one hour); markdown with <@userid>;
- robot: a group robot's webhook (POST {api_base}/cgi-bin/webhook/send?key=KEY): text with
  mentioned_list (2,048 bytes) or markdown with <@userid> (4,096 bytes); 20 messages a minute;
- oa: an Official Account customer-service message (wechatpy WeChatClient);
- wecom_app: a WeCom app message (wechatpy enterprise WeChatClient).
Each raises SendError on an HTTP error, a timeout or errcode != 0; the caller retries. The robot
webhook and the response_url count as delivered only on HTTP 2xx with a JSON object whose errcode is
0; anything else (no JSON, no errcode, errcode null) is a failed attempt, and an ambiguous one
(Tencent may have accepted it). A few errcodes say the route itself cannot work for this message
(PERMANENT_ERRCODES): the caller moves to the next route, or fails the item, instead of retrying.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import requests

from bot.replies import split_reply

log = logging.getLogger(__name__)

TEXT_LIMIT = 2048  # bytes: robot text, customer-service and app text messages
MARKDOWN_LIMIT = 4096  # bytes: robot markdown
RESPONSE_URL_LIMIT = 20480  # bytes: a smart robot's markdown reply through response_url
ROBOT_PER_MINUTE = 20
RATE_LIMITED = 45009  # errcode: api freq out of limit
# errcodes after which retrying the same route is pointless (documented by Tencent):
PERMANENT_ERRCODES = {
    93000: "invalid webhook url (the group robot's key is wrong or the robot was removed)",
    45015: "response out of time limit (outside the Official Account's 48-hour customer-service window)",
    45047: "out of response count limit (customer-service messages to this user used up)",
    40003: "invalid openid / userid",
    81013: "user, department and tag all invalid or out of the app's scope",
}


class SendError(Exception):
    """A failed attempt; retry_after (seconds) when the far side said how long to wait.

    ambiguous: no clear answer came back (timeout, connection dropped, a 2xx that is not the
    expected JSON), so the far side may have accepted the message; otherwise it was refused
    (HTTP error status or errcode != 0). errcode: the refusal's errcode, if any.
    """

    def __init__(self, message: str, retry_after: float | None = None, *, ambiguous: bool = False,
                 errcode: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.ambiguous = ambiguous
        self.errcode = errcode

    @property
    def permanent(self) -> bool:
        """The route cannot carry this message however often it is retried."""
        return self.errcode in PERMANENT_ERRCODES


def _mention(user: str | None) -> str:
    return f"<@{user}> " if user else ""


def response_url_payloads(user: str | None, text: str) -> list[dict]:
    """One markdown message naming the asker; [] when the text does not fit in one (the URL is single-use)."""
    content = _mention(user) + text
    if len(content.encode("utf-8")) > RESPONSE_URL_LIMIT:
        return []
    return [{"msgtype": "markdown", "markdown": {"content": content}}]


def robot_payloads(user: str | None, text: str, fmt: str = "text") -> list[dict]:
    """A group robot's messages: the first names the asker; each within the byte limit."""
    if fmt == "markdown":
        prefix = _mention(user)
        parts = split_reply(text, MARKDOWN_LIMIT - len(prefix.encode("utf-8")))
        return [{"msgtype": "markdown", "markdown": {"content": (prefix if i == 0 else "") + part}}
                for i, part in enumerate(parts)]
    payloads = []
    for i, part in enumerate(split_reply(text, TEXT_LIMIT)):
        body: dict = {"content": part}
        if i == 0 and user:
            body["mentioned_list"] = [user]
        payloads.append({"msgtype": "text", "text": body})
    return payloads


def text_parts(text: str) -> list[str]:
    """One-to-one text messages (customer service, app message)."""
    return split_reply(text, TEXT_LIMIT)


def _errcode(value: object) -> int | None:
    """An errcode as an int; None when it is missing or not an integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _refused(code: int, result: dict) -> SendError:
    return SendError(f"errcode {code}: {result.get('errmsg', '')}"[:300], 60.0 if code == RATE_LIMITED else None,
                     errcode=code)


def _raise_for_errcode(result: dict, context: str) -> None:
    """Refuse a result whose errcode is not 0 (one that is not a number is ambiguous)."""
    code = _errcode(result["errcode"])
    if code is None:
        raise SendError(f"{context}errcode {result['errcode']!r}"[:300], ambiguous=True)
    if code != 0:
        raise _refused(code, result)


def _check(result: object) -> None:
    """wechatpy results (which wechatpy has already checked): refuse a non-zero errcode."""
    if isinstance(result, dict) and result.get("errcode") not in (None, 0):
        _raise_for_errcode(result, "unexpected ")


def post_json(url: str, payload: dict, timeout: float) -> None:
    """POST JSON; raise SendError unless HTTP 2xx with a JSON object whose errcode is 0."""
    try:
        resp = requests.post(url, json=payload, timeout=timeout)
    except requests.Timeout:
        raise SendError(f"timeout after {timeout:g} s", ambiguous=True) from None
    except requests.RequestException as exc:
        raise SendError(f"connection error: {type(exc).__name__}", ambiguous=True) from None
    if resp.status_code >= 300:
        raise SendError(f"HTTP {resp.status_code}")
    try:
        result = resp.json()
    except ValueError:
        raise SendError(f"HTTP {resp.status_code} without JSON", ambiguous=True) from None
    if not isinstance(result, dict) or "errcode" not in result:
        raise SendError(f"HTTP {resp.status_code} without an errcode", ambiguous=True)
    _raise_for_errcode(result, f"HTTP {resp.status_code} with ")


def send_response_url(url: str, payload: dict, timeout: float) -> None:
    post_json(url, payload, timeout)


def robot_url(api_base: str, key: str) -> str:
    return f"{api_base.rstrip('/')}/cgi-bin/webhook/send?key={key}"


def send_robot(api_base: str, key: str, payload: dict, timeout: float) -> None:
    post_json(robot_url(api_base, key), payload, timeout)


# --- wechatpy clients with a configurable API base ------------------------------------------

class _TimeoutSession(requests.Session):
    """wechatpy fetches access tokens without a timeout; give every request one."""

    def __init__(self, timeout: float):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):  # noqa: D102
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, **kwargs)


class SharedTokens:
    """wechatpy's session storage in the bot's database: one access token per app for every worker process.

    An Official Account has one valid token at a time (a new one retires the old within five
    minutes) and a daily quota of fetches, so workers must not each fetch their own. A token is
    refreshed a minute before it expires, by the first worker to need it; the others go on with
    the old one meanwhile.
    """

    DEFAULT_TTL = 7200  # seconds: Tencent's tokens last two hours
    REFRESH_MARGIN = 60
    CLAIM_SECONDS = 30  # a worker that claimed a refresh and failed to fetch leaves it to another after this

    def __init__(self, store, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    def get(self, key: str, default=None):
        return self.store.api_token(key, self.clock(), self.CLAIM_SECONDS) or default

    def set(self, key: str, value, ttl: float | None = None) -> None:
        if not value:
            return
        now, ttl = self.clock(), float(ttl or self.DEFAULT_TTL)
        # A token of a short life is still used for half of it, never fetched anew on every call.
        self.store.save_api_token(key, str(value), now + max(ttl - self.REFRESH_MARGIN, ttl / 2), now + ttl)

    def delete(self, key: str) -> None:
        self.store.drop_api_token(key)


class _SharedTokenClient:
    """A wechatpy client whose token's life is the shared storage's alone, fetched by one thread at a time.

    wechatpy's own access_token trusts the expiry of its last fetch over the storage, so a worker
    that once fetched would fetch again on its own schedule and retire the token the others use.
    """

    @property
    def access_token(self):
        with self._token_lock:
            token = self.session.get(self.access_token_key)
            if not token:
                self.fetch_access_token()
                token = self.session.get(self.access_token_key)
            return token


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def oa_client(api_base: str, app_id: str, secret: str, timeout: float, tokens: SharedTokens):
    """This process's Official Account client for that app and database."""
    return _cached(("oa", api_base, app_id, secret, str(tokens.store.path)),
                   lambda: new_oa_client(api_base, app_id, secret, timeout, tokens))


def wecom_client(api_base: str, corp_id: str, secret: str, timeout: float, tokens: SharedTokens):
    """This process's WeCom app client for that app and database."""
    return _cached(("wecom", api_base, corp_id, secret, str(tokens.store.path)),
                   lambda: new_wecom_client(api_base, corp_id, secret, timeout, tokens))


def new_oa_client(api_base: str, app_id: str, secret: str, timeout: float, tokens: SharedTokens):
    """An Official Account client whose API (and token endpoint) live under api_base."""
    from wechatpy import WeChatClient

    class Client(_SharedTokenClient, WeChatClient):
        def fetch_access_token(self):
            return self._fetch_access_token(
                url=self.API_BASE_URL + "token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )

    return _configured(Client(app_id, secret, session=tokens, timeout=timeout, auto_retry=False), api_base, timeout)


def new_wecom_client(api_base: str, corp_id: str, secret: str, timeout: float, tokens: SharedTokens):
    """A WeCom app client whose API (and token endpoint) live under api_base."""
    from wechatpy.enterprise import WeChatClient

    class Client(_SharedTokenClient, WeChatClient):
        def fetch_access_token(self):
            return self._fetch_access_token(
                url=self.API_BASE_URL + "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
            )

    return _configured(Client(corp_id, secret, session=tokens, timeout=timeout, auto_retry=False), api_base, timeout)


def _configured(client, api_base: str, timeout: float):
    client.API_BASE_URL = api_base.rstrip("/") + "/cgi-bin/"
    client._http = _TimeoutSession(timeout)
    client._token_lock = threading.Lock()
    return client


def _cached(key: tuple, build):
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = build()
        return client


# Tencent refused the access token (invalid credential, invalid or expired token): another system
# fetched one for the same app, say. wechatpy's own retry (auto_retry, off) recurses for as long as
# Tencent refuses: 850 token fetches in six seconds, and a RecursionError.
TOKEN_REFUSED = frozenset({40001, 40014, 42001})


def _wechatpy_call(client, call) -> None:
    """call() through client; a refused token is fetched anew at once, once, and the call made again."""
    from wechatpy.exceptions import WeChatClientException

    for again in (False, True):
        try:
            _check(call())
            return
        except WeChatClientException as exc:
            if again or _errcode(exc.errcode) not in TOKEN_REFUSED:
                _raise_send_error(exc)
            log.info("access token refused (errcode %s): fetching a new one and sending again", exc.errcode)
            client.session.delete(client.access_token_key)
        except requests.Timeout:
            raise SendError("timeout", ambiguous=True) from None
        except requests.RequestException as exc:
            raise SendError(f"connection error: {type(exc).__name__}", ambiguous=True) from None


def _raise_send_error(exc) -> None:
    """Raise the SendError for wechatpy's exception: its errcode, or the HTTP status."""
    code = _errcode(exc.errcode)
    if code is None:
        status = getattr(exc.response, "status_code", None)
        raise SendError(f"HTTP {status}" if status else "HTTP error", ambiguous=not status) from None
    raise SendError(f"errcode {code}: {exc.errmsg}"[:300], 60.0 if code == RATE_LIMITED else None,
                    errcode=code) from None


def send_oa(client, openid: str, content: str) -> None:
    """An Official Account customer-service text message (within 48 hours of the user's message)."""
    _wechatpy_call(client, lambda: client.message.send_text(openid, content))


def send_wecom_app(client, agent_id: int, user: str, content: str) -> None:
    """A WeCom app text message to one member."""
    _wechatpy_call(client, lambda: client.message.send_text(agent_id, user, content))
