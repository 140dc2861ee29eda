"""JSON in and out of the app: orjson both ways, and the request body parsed once."""
from __future__ import annotations

import contextlib
from typing import Any

import orjson
from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .errors import ApiError, BodyTimeout


class OrjsonProvider(DefaultJSONProvider):
    """Requests carry 384-float vectors and responses whole pages: orjson parses and writes them
    several times faster than the stdlib on this hot path."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=self.default, option=orjson.OPT_SERIALIZE_NUMPY).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def read_body(limit: int, seconds: float) -> None:
    """Read the whole request body now, at most ``limit`` bytes (413 past it, chunked bodies
    included) within ``seconds`` (408 past it, under gevent: a client that sends a head and then
    trickles or stops holds a greenlet, never for ever). The body is kept where werkzeug's
    ``get_data`` and form parsing look first, so nothing reads the socket again."""
    if request.method in ("HEAD", "OPTIONS") or hasattr(request, "_cached_data"):
        return
    stream = request.stream  # a Content-Length over the limit is a 413 here already
    chunks: list[bytes] = []
    total = 0
    try:
        with _time_bound(seconds):
            while True:
                chunk = stream.read(65536)
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise RequestEntityTooLarge()
                chunks.append(chunk)
    except (HTTPException, BodyTimeout):
        request._cached_data = b""  # what came is not the body: nothing after this may read the socket again
        raise
    except Exception as exc:  # noqa: BLE001 - gunicorn's parse errors and werkzeug's disconnects alike
        request._cached_data = b""
        raise ApiError(400, "malformed_body", f"request body could not be read: {type(exc).__name__}") from None
    request._cached_data = b"".join(chunks)  # werkzeug's own cache of get_data(cache=True)


def _time_bound(seconds: float) -> Any:
    from ..threads import gevent_patched

    if not gevent_patched():
        return contextlib.nullcontext()  # the development server: no greenlets to bound
    import gevent

    return gevent.Timeout(seconds, BodyTimeout)


def json_body() -> Any:
    """The request's JSON (an empty body is {}); a 400 'malformed_json' when it is not JSON,
    'malformed_body' when it cannot be read (a broken chunked encoding, a body cut short)."""
    try:
        raw = request.get_data(cache=True)
    except HTTPException:  # 413: the body limit
        raise
    except Exception as exc:  # noqa: BLE001 - gunicorn's parse errors and werkzeug's disconnects alike
        raise ApiError(400, "malformed_body", f"request body could not be read: {type(exc).__name__}") from None
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from None
