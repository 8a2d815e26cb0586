"""The web app (create_app) and `run.py serve`, which runs it under gunicorn."""
from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from typing import Callable

import click
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, LengthRequired, RequestEntityTooLarge

from bot.cli import cli, config_option, get_config
from bot.config import Config
from bot.pipeline import Pipeline
from bot.store import Store
from faq import parallel
from handlers import wechat, wecom, wecom_bot
from handlers.common import Services
from handlers.crypto import Rejected

log = logging.getLogger(__name__)

CHANNELS = (wechat, wecom, wecom_bot)
# bench/server_bench.py sets this to add a bare endpoint beside the channels, served by
# the same gunicorn in the same run, as the benchmark's baseline.
BENCH_ENV = "FUYI_BENCH_BARE"


def create_app(config: Config, *, clock: Callable[[], float] | None = None, serving: bool = False,
               background: bool = False) -> Flask:
    """Build the app: store, live FAQ, ticket queue, pipeline, and a blueprint per configured channel.

    serving: running as a gunicorn worker: watch the FAQ file, checkpoint the WAL, and log answered
    messages in batches (tests leave it off and see every log row at once).
    background: also start this process's delivery worker and deadline scanner (when
    delivery.in_server is true), as every gunicorn worker does.
    """
    from bot.delivery import Background
    from bot.queue import TicketQueue
    from faq.live import LiveFaq

    app = Flask("bot")
    app.config["MAX_CONTENT_LENGTH"] = config.server.max_body_bytes
    clock = clock or time.time
    store = Store(config.storage.path, background_checkpoints=serving).init()
    live = LiveFaq(config.faq.path, config.bot, reload_seconds=config.faq.reload_seconds,
                   keep_index=config.faq.keep_index)
    # The matcher's first question loads dictionaries lazily (~150 ms): pay that before the
    # first enterprise asks, not during its request.
    live.matcher().decide("复工复产需要什么材料")
    queue = TicketQueue(store, config, lambda: live.matcher().faq, clock)
    pipeline = Pipeline(live.matcher, store, config, escalate=queue.escalate, repeat=queue.repeated,
                        command=queue.cadre_command, clock=clock,
                        batch_log=serving)
    app.extensions["fuyi_queue"] = queue
    if background and config.delivery.in_server:
        workers = Background(store, config, queue, clock).start()
        queue.on_queued = workers.wake
        app.extensions["fuyi_background"] = workers
    svc = Services(config=config, store=store, faq=live, pipeline=pipeline, clock=clock)
    app.extensions["fuyi"] = svc
    for channel in CHANNELS:
        channel.register(app, svc)
    _register_errors(app)

    @app.get("/healthz")
    def healthz() -> Response:
        """200 with the FAQ's entry count, load time and last load error, and which worker process answered."""
        live.matcher()  # a due reload check happens here too, so the status is current
        status = live.status()
        return jsonify(
            status="ok",
            worker=os.getpid(),  # each worker loads the FAQ itself: which one this status is of
            faq={"entries": status["entries"], "loaded_at": status["loaded_at"], "error": status["error"]},
            channels=[c.bp.name for c in CHANNELS if c.bp.name in app.blueprints],
        )

    @app.before_request
    def body_limit() -> None:
        # Refuse an oversized body before any other check, whatever the route.
        if (request.content_length or 0) > config.server.max_body_bytes:
            raise RequestEntityTooLarge()
        # A body without its length (chunked) could be cut at the limit and the rest never seen; Tencent
        # always sends Content-Length.
        if request.content_length is None and request.headers.get("Transfer-Encoding"):
            raise LengthRequired()

    @app.after_request
    def no_sniff(response: Response) -> Response:
        # echostr is reflected back; never let a browser read it as HTML.
        response.headers["X-Content-Type-Options"] = "nosniff"
        if serving:
            # The request thread writes the due log batch once the reply is out. Left to a thread
            # of its own, the same writes cost more in switching the GIL back and forth than in
            # writing (measured: 0.37 -> 0.34 ms of worker CPU per answered message).
            response.call_on_close(pipeline.flush_due)
        return response

    if serving:
        FaqWatcher(live, config.faq.reload_seconds).start()
        Checkpointer(store).start()
    if os.environ.get(BENCH_ENV) == "1":
        _mount_bare_app(app)
    return app


def _mount_bare_app(app: Flask) -> None:
    """The benchmark's baseline at /bench/bare: a Flask app of its own (none of this app's hooks) in the same workers."""
    bare = Flask("bare")

    @bare.route("/bench/bare", methods=["GET", "POST"])
    def bench_bare() -> Response:
        request.get_data()
        return Response("success", mimetype="text/plain")

    ours = app.wsgi_app

    def dispatch(environ, start_response):
        wsgi = bare.wsgi_app if environ.get("PATH_INFO") == "/bench/bare" else ours
        return wsgi(environ, start_response)

    app.wsgi_app = dispatch


def _register_errors(app: Flask) -> None:
    @app.errorhandler(Rejected)
    def rejected(exc: Rejected) -> Response:
        log.info("refused %s %s: %s", request.method, request.path, exc.reason)
        return Response(exc.reason, status=exc.status, mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code if exc.code and exc.code < 500 else 400
        return Response(exc.name.lower(), status=code, mimetype="text/plain")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # Odd input must never become a 500 (WeChat would retry it three times); the
        # traceback is logged without request data, which may hold secrets.
        log.exception("unexpected error handling %s %s", request.method, request.path)
        return Response("bad request", status=400, mimetype="text/plain")


class FaqWatcher(threading.Thread):
    """Per worker: checks the FAQ file every few seconds, so reloads and their errors happen off the request path."""

    def __init__(self, live, interval: float):
        super().__init__(name="faq-watcher", daemon=True)
        self.live = live
        self.interval = max(0.2, interval)

    def run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.live.matcher()
            except Exception:  # the watcher must outlive any one bad reload
                log.exception("FAQ reload check failed")


class Checkpointer(threading.Thread):
    """Per worker: copies the WAL into the database every second, off the request path (see Store.checkpoint)."""

    INTERVAL = 1.0
    WARN_AFTER = 60  # failed rounds in a row

    def __init__(self, store: Store):
        super().__init__(name="wal-checkpoint", daemon=True)
        self.store = store

    def run(self) -> None:
        failed = 0
        while True:
            time.sleep(self.INTERVAL)
            try:
                done = self.store.checkpoint()
            except Exception:  # a busy or failed checkpoint is retried next time
                log.debug("WAL checkpoint failed", exc_info=True)
                done = False
            # The other worker's checkpointer often has the checkpoint lock: that is as good.
            failed = 0 if done else failed + 1
            if failed and failed % self.WARN_AFTER == 0:
                log.warning("the WAL of %s has not been emptied for %d s: a long read is holding it", self.store.path, failed)


def gunicorn_options(config: Config) -> dict:
    """gunicorn settings for this config."""
    server = config.server
    return {
        "bind": f"{server.host}:{server.port}",
        "workers": server.workers,
        "worker_class": "sync",
        # WeChat gives up after 5 s; a request still running at 30 s is stuck, not slow.
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        # No access log: callback URLs carry signatures and echostr.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "limit_request_line": 8190,
        "proc_name": "fuyi-bot",
        # gunicorn 25+ opens a control socket at a fixed path in $HOME; two servers on one
        # machine (tests, the benchmark) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
    }


def run_gunicorn(config: Config) -> None:
    """Serve create_app(config) under gunicorn until stopped; each worker builds its own app."""
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_options(config).items():
                if key in self.cfg.settings:  # older gunicorn lacks some settings
                    self.cfg.set(key, value)

        def load(self) -> Flask:
            # Runs in each worker after the fork (no preload): own SQLite connection, own
            # FAQ and own watcher thread. The workers load at the same time: each gets a second
            # core for its load only if there are cores enough for all (faq/parallel.py).
            parallel.loading_together(config.server.workers)
            app = create_app(config, serving=True, background=True)
            # The FAQ index and jieba's dictionary are millions of long-lived objects; move
            # them out of the collector's sight, or every full collection walks them all.
            gc.freeze()
            return app

    Application().run()


@cli.command()
@config_option
@click.option("--host", default=None, help="Address to listen on (default: server.host).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: server.port).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: server.workers).")
def serve(config_path: str | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the webhooks (/wechat, /wecom, /wecom/bot) and /healthz under gunicorn."""
    import dataclasses

    config = get_config(config_path)
    overrides = {k: v for k, v in (("host", host), ("port", port), ("workers", workers)) if v is not None}
    if overrides:
        if "port" in overrides and not 1 <= overrides["port"] <= 65535:
            raise click.ClickException("--port must be between 1 and 65535")
        if "workers" in overrides and overrides["workers"] < 1:
            raise click.ClickException("--workers must be at least 1")
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, **overrides))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
    _check_startup(config)
    run_gunicorn(config)


def _keep_index_for_workers(config: Config) -> bool:
    """Build the FAQ's index and keep it, in a child process, so that the workers read it back rather
    than each build it at once on a core of its own, and the master holds none of it; True if kept."""
    from faq import cache
    from faq.kept import is_kept, load_matcher
    from faq.loader import FaqError

    if not hasattr(os, "fork") or threading.active_count() > 1:  # a thread's lock could stay held in the child
        return False
    if cache.private_dir() is None:
        return False  # nowhere to keep it (logged): the workers build their own
    try:
        pid = parallel.fork()
    except OSError as exc:
        log.warning("could not fork to build the FAQ's index before the workers start (%s): each builds its own", exc)
        return False
    if pid == 0:
        status = 1
        try:
            # A build that hangs must not hang the start (gunicorn bounds only its workers'): the child
            # ends (SIGALRM's default action) and each worker builds its own.
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(parallel.CHILD_SECONDS)
            load_matcher(config.faq.path, config.bot, wait=True)
            status = 0
        except FaqError:
            pass  # the master checks the file again, and says what is wrong with it
        except Exception:
            log.exception("the FAQ's index could not be built before the workers started")
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0 and is_kept(config.faq.path)


def _check_startup(config: Config) -> None:
    """Fail before forking workers if the FAQ or the database cannot be used."""
    from faq.kept import is_kept, last_good_file
    from faq.loader import FaqError, load_faq

    try:
        # A kept index was built from a file without errors; else one is built for the workers to read back.
        if not (config.faq.keep_index and (is_kept(config.faq.path) or _keep_index_for_workers(config))):
            load_faq(config.faq.path)  # checked only (and why it cannot be indexed said): each worker builds its index
    except FaqError as exc:
        last = last_good_file(config.faq.path) if config.faq.keep_index else None
        if last is None:
            raise click.ClickException(f"faq.path: the FAQ file cannot be loaded:\n{exc}") from None
        # As a running bot does with a broken edit: the enterprises are served meanwhile.
        log.error("the FAQ file cannot be loaded; the workers serve the last version that did (%s):\n%s", last, exc)
    try:
        Store(config.storage.path).init().close()
    except Exception as exc:
        raise click.ClickException(f"storage.path: cannot open the database {config.storage.path}: {exc}") from None
    for channel in CHANNELS:
        try:
            channel.register(Flask("check"), Services(config, None, None, None, time.time))
        except ValueError as exc:
            raise click.ClickException(f"{channel.bp.name}.encoding_aes_key: {exc}") from None
