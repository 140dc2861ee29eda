"""Logging for the CLI and the server: one line per event, as text or JSON (SIDECAR_LOG_FORMAT).

Client libraries log a failed connection with the whole urllib3 traceback; the sidecar
reports such failures itself, in one line, so their records are cut to their first line.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = {"bm25s": "WARNING", "urllib3": "WARNING",
         "opensearch": "ERROR"}  # each failed call: the sidecar reports it itself, throttled
ONE_LINE = ("opensearch", "urllib3")  # no tracebacks from the clients


class OneLine(logging.Filter):
    """Drops a record's traceback and keeps the first line of its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] in ONE_LINE:
            if record.exc_info and record.exc_info[1] is not None:
                record.msg = f"{record.getMessage().splitlines()[0]} ({type(record.exc_info[1]).__name__})"
                record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the traceback, if any), and
    the record's ``fields`` as keys of their own (a request's route, method, status,
    duration_ms, rule, request_id, backend_ms), so they can be filtered on."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update({k: v for k, v in extra.items() if k not in out})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def configure(level: str, fmt: str = "text") -> None:
    """The root logger of a CLI process: stderr, the chosen format, quiet client libraries."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(OneLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    for name, floor in QUIET.items():
        logging.getLogger(name).setLevel(floor)


def gunicorn_config(level: str, fmt: str) -> dict[str, Any]:
    """gunicorn's logconfig_dict: its own logs and the app's in the same format, to stderr."""
    fmt_spec = {"()": "sidecar.logs.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    handler = {"class": "logging.StreamHandler", "formatter": "main", "filters": ["one_line"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"main": fmt_spec},
        "filters": {"one_line": {"()": "sidecar.logs.OneLine"}},
        "handlers": {"console": handler},
        "root": {"level": level.upper(), "handlers": ["console"]},
        "loggers": {"gunicorn.error": {"level": level.upper(), "handlers": ["console"], "propagate": False},
                    **{name: {"level": floor} for name, floor in QUIET.items()}},
    }


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception in one log line: its message's first line (at most ``limit`` characters), or
    its type's name when it has no message."""
    text = str(exc)
    return text.splitlines()[0][:limit] if text.strip() else type(exc).__name__


class Throttle:
    """At most one line per kind of event per ``interval`` seconds; the next line says how many
    were held back. During an outage every request fails the same way: one line every 10 s says
    so, instead of one per request (issue 15: 575 MB of log after 189k failures)."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.interval, self.clock = logger, interval, clock
        self._last: dict[str, tuple[float, int]] = {}  # kind -> (when last logged, held back since)
        self._lock = threading.Lock()

    def log(self, level: int, kind: str, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """Log unless a line of ``kind`` went out less than ``interval`` ago; True if logged."""
        now = self.clock()
        with self._lock:
            last, held = self._last.get(kind, (float("-inf"), 0))
            if now - last < self.interval:
                self._last[kind] = (last, held + 1)
                return False
            self._last[kind] = (now, 0)
        if held:
            msg = f"{msg} (and {held} more like it since the last such line)"
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True
