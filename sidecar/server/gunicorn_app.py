"""Serving the app with gunicorn from `sidecar serve` (workers load the app after forking, so
each has its own rule poller and backend connections; they share ``cfg.run_dir``).

Workers are gevent workers: a connection waiting on a slow client or on OpenSearch is a
greenlet, not a thread, so 200 half-sent requests or a paused cluster hold no worker and
/healthz keeps answering (issue 15). A request's head must arrive within ``keepalive`` seconds
(gunicorn's own bound for async workers); malformed HTTP is answered in this API's JSON error
shape, not gunicorn's HTML page.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.workers.ggevent import GeventWorker

from .. import logs
from ..config import Config
from .metrics import merge_dead
from .workers import forget

WORKER_CLASS = f"{__name__}.SidecarWorker"
LOGGER_CLASS = f"{__name__}.SidecarLogger"


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` in this API's error shape (malformed request lines,
    headers or chunked bodies that never reach the app)."""
    body = json.dumps({"error": {"type": "malformed_http", "status": status_int,
                                 "message": f"{reason}: {mesg}" if mesg else reason}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin1")
    util.write_nonblock(sock, head + body)


class SidecarWorker(GeventWorker):
    """gunicorn's gevent worker, answering malformed HTTP with JSON."""

    def init_process(self) -> None:
        util.write_error = write_json_error  # read by Worker.handle_error at call time
        super().init_process()


class SidecarLogger(Logger):
    """gunicorn's logger without its access log: each request's one line is the sidecar's own
    (``sidecar.http``). gunicorn builds an access record for every request whenever a
    ``logconfig_dict`` is set, written or not: about 2% of a worker's busy time (py-spy)."""

    access_log_enabled = False


class SidecarServer(BaseApplication):
    def __init__(self, cfg: Config, options: dict[str, Any] | None = None):
        self.cfg_sidecar = cfg
        self.options = {"bind": f"{cfg.host}:{cfg.port}", "workers": cfg.workers, "worker_class": WORKER_CLASS,
                        "logger_class": LOGGER_CLASS,
                        "worker_connections": cfg.worker_connections, "keepalive": 5, "timeout": 30,
                        "graceful_timeout": 10, "accesslog": None, "loglevel": cfg.log_level.lower(),
                        "child_exit": self.child_exit,
                        "logconfig_dict": logs.gunicorn_config(cfg.log_level, cfg.log_format), **(options or {})}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def child_exit(self, server: Any, worker: Any) -> None:
        """A worker is gone (in the master): its samples are added into the archives and its
        files removed, with any earlier dead worker's left by a full disk; its rule status goes.
        Nothing here may stop the master: a run dir that takes no writes is one log line."""
        if not self.cfg_sidecar.run_dir:
            return
        run_dir = Path(self.cfg_sidecar.run_dir)
        try:
            forget(run_dir / "workers", worker.pid)
            merge_dead(run_dir / "metrics", live=set(server.WORKERS))
        except Exception as exc:  # noqa: BLE001 - an exception here would stop the master and every worker
            server.log.warning("run dir %s: the samples of dead workers are kept as they are for now (%s: %s)",
                               run_dir, type(exc).__name__, exc)

    def load(self):
        """The worker's app (after the fork), with its background work started as it boots."""
        from .app import create_app

        app = create_app(self.cfg_sidecar)
        app.extensions["sidecar"].start()
        return app
