"""JSON error bodies for every failure: never an HTML page, never a stack trace, never an
internal address. 400 malformed JSON or invalid field (named), 401 admin without token, 403
refused path (any route not served), 405 a served route's wrong method, 408 a body that did not
arrive in time, 413 body too large, 429 backend overloaded (with Retry-After), 503 backend down,
504 backend slow, 500 (logged with its request id) for anything else."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ..search.limits import LimitExceeded
from ..logs import Throttle
from ..rerank.dedup import TooManyPairs
from ..retrieval import BackendBusy, BackendTimeout, BackendUnavailable
from .policy import PolicyRefused

log = logging.getLogger("sidecar.http")
WRITE_METHODS = frozenset({"PUT", "DELETE", "PATCH"})
RETRY_AFTER_SECONDS = 1  # a 429 of OpenSearch's search queue clears within about a second
SERVED = ("the sidecar answers /search, /rerank, /healthz, /readyz, /metrics, /version, /openapi.json, /admin/rules, "
          "/inspect "
          "and proxies only GET|POST /<index>/_search, GET|POST [/<index>]/_msearch, GET|POST /<index>/_count, "
          "HEAD /<index>, GET /<index>/_mapping and GET|HEAD / to OpenSearch")


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.field = status, kind, message, field


class BodyTimeout(Exception):
    """The request body did not arrive within SIDECAR_BODY_TIMEOUT: 408, and the connection closes."""


def field_of(message: str) -> str | None:
    """Validation messages start with the field they are about ('size: must be ...')."""
    head = message.split(":", 1)[0]
    return head if head and " " not in head else None


def invalid(exc: ValueError, default_kind: str = "invalid_request") -> ApiError:
    """A validation error of the request as a 400 naming its field; its kind says which
    bound (``limit_exceeded``) or proxy rule (``policy_refused``) it broke, if any."""
    message = str(exc)
    if isinstance(exc, TooManyPairs):
        message += " (limit: SIDECAR_MAX_DEDUP_PAIRS)"
    if isinstance(exc, (LimitExceeded, TooManyPairs)):
        kind = "limit_exceeded"
    elif isinstance(exc, PolicyRefused):
        kind = "policy_refused"
    else:
        kind = default_kind
    return ApiError(400, kind, message, field_of(message))


def error_response(status: int, kind: str, message: str, field: str | None = None, **extra: Any):
    body: dict[str, Any] = {"error": {"type": kind, "message": message, "status": status}}
    if field:
        body["error"]["field"] = field
    body["error"].update(extra)
    return jsonify(body), status


def opensearch_error(status: int, kind: str, message: str, field: str | None = None):
    """An error of the proxy in OpenSearch's shape (``error.root_cause``, ``error.type``,
    ``error.reason``, top-level ``status``), so OpenSearch clients raise it as they would raise
    OpenSearch's own; it also carries this API's ``message``, ``status`` and ``field``."""
    body: dict[str, Any] = {"error": {"root_cause": [{"type": kind, "reason": message}], "type": kind,
                                      "reason": message, "message": message, "status": status}, "status": status}
    if field:
        body["error"]["field"] = field
    return jsonify(body), status


INTERNAL_KEYS = frozenset({"index_uuid", "node", "node_id", "script_stack", "stack_trace", "suppressed"})


def sanitised(value: Any) -> Any:
    """An OpenSearch error body without what names the cluster's insides (node ids, index
    uuids, painless script stacks, Java stack traces); its types and reasons stay."""
    if isinstance(value, dict):
        return {k: sanitised(v) for k, v in value.items() if k not in INTERNAL_KEYS}
    if isinstance(value, list):
        return [sanitised(v) for v in value]
    return value


def register(app: Flask) -> None:
    """Install the handlers that turn every exception into one of the bodies above."""
    from .services import services

    throttle = Throttle(log)  # one line per kind of failure per 10 s, however many requests fail

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.kind, exc.message, exc.field)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.response is not None:  # abort(response): the response is the answer
            return exc.response
        # nothing else reaches OpenSearch: a write, and a path served only as HEAD /<index> (an
        # index-looking path asked with another method: /favicon.ico, /_search, GET /<index>)
        head_only = exc.code == 405 and set(getattr(exc, "valid_methods", None) or ()) <= {"HEAD", "OPTIONS"}
        if exc.code == 404 or (exc.code == 405 and request.method in WRITE_METHODS) or head_only:
            return error_response(403, "forbidden", f"{request.method} {request.path} is not served: {SERVED}")
        kinds = {405: "method_not_allowed", 413: "body_too_large"}
        msg = exc.description
        if exc.code == 413:
            msg = f"request body exceeds {services().config.max_body_bytes} bytes (SIDECAR_MAX_BODY_BYTES)"
        resp = error_response(exc.code or 500, kinds.get(exc.code, "http_error"), msg)
        if exc.code == 405:
            resp[0].headers["Allow"] = ", ".join(exc.valid_methods or [])
        return resp

    @app.errorhandler(BackendTimeout)
    def backend_timeout(exc: BackendTimeout):
        services().metrics.backend_errors.labels("timeout").inc()
        throttle.log(logging.WARNING, "timeout", "backend timeout: %s", exc)
        return error_response(504, "backend_timeout",
                              f"the search backend did not answer within {services().config.backend_timeout}s")

    @app.errorhandler(BodyTimeout)
    def body_timeout(exc: BodyTimeout):
        throttle.log(logging.WARNING, "body_timeout", "a request body did not arrive in time")
        body, status = error_response(408, "body_timeout", f"the request body did not arrive within "
                                      f"{services().config.body_timeout}s (SIDECAR_BODY_TIMEOUT)")
        body.headers["Connection"] = "close"
        return body, status

    @app.errorhandler(BackendBusy)
    def backend_busy(exc: BackendBusy):
        services().metrics.backend_errors.labels("busy").inc()
        throttle.log(logging.WARNING, "busy", "backend busy: %s", exc)
        body, status = error_response(429, "backend_busy", "the search backend is overloaded; retry after a second")
        body.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return body, status

    @app.errorhandler(BackendUnavailable)
    def backend_down(exc: BackendUnavailable):
        services().metrics.backend_errors.labels("unavailable").inc()
        throttle.log(logging.WARNING, "unavailable", "backend unavailable: %s", exc)  # hosts, ports: the log only
        if services().config.backend == "memory":  # the demo: its proxy has no OpenSearch behind it
            return error_response(503, "backend_unavailable", "OpenSearch is unavailable: this server searches its "
                                  "memory backend, and the OpenSearch proxy needs OpenSearch (docs/operations.md, "
                                  "\"On OpenSearch without Docker\")")
        return error_response(503, "backend_unavailable", "the search backend is unavailable; retry later")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        throttle.log(logging.ERROR, f"unhandled {type(exc).__name__}", "unhandled error (request %s)",
                     g.get("request_id"), exc_info=exc)
        return error_response(500, "internal_error", "internal error; see the sidecar log", request_id=g.get("request_id"))
