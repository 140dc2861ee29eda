"""JSON error bodies for every failure: never an HTML page, never a stack trace, never an
internal address. 400 malformed JSON or invalid field (named), 401 admin without token, 403
refused path (any route not served), 405 a served route's wrong method, 413 body too large, 503 backend down, 504
backend slow, 500 (logged with its request id) for anything else."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ..retrieval import BackendTimeout, BackendUnavailable

log = logging.getLogger("sidecar.http")
WRITE_METHODS = frozenset({"PUT", "DELETE", "PATCH"})
SERVED = ("the sidecar answers /search, /rerank, /healthz, /readyz, /metrics, /version, /openapi.json, /admin/rules "
          "and proxies only GET|POST /<index>/_search, GET|POST /<index>/_count and GET|HEAD / to OpenSearch")


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.field = status, kind, message, field


def field_of(message: str) -> str | None:
    """Validation messages start with the field they are about ('size: must be ...')."""
    head = message.split(":", 1)[0]
    return head if head and " " not in head else None


def invalid(exc: ValueError) -> ApiError:
    """A validation error of the request as a 400 naming its field."""
    return ApiError(400, "invalid_request", str(exc), field_of(str(exc)))


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


def register(app: Flask) -> None:
    """Install the handlers that turn every exception into one of the bodies above."""
    from .services import services

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.kind, exc.message, exc.field)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.response is not None:  # abort(response): the response is the answer
            return exc.response
        if exc.code == 404 or (exc.code == 405 and request.method in WRITE_METHODS):  # nothing else reaches OpenSearch
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
        log.warning("backend timeout: %s", exc)
        return error_response(504, "backend_timeout",
                              f"the search backend did not answer within {services().config.backend_timeout}s")

    @app.errorhandler(BackendUnavailable)
    def backend_down(exc: BackendUnavailable):
        services().metrics.backend_errors.labels("unavailable").inc()
        log.warning("backend unavailable: %s", exc)  # the cause (hosts, ports) stays in the log
        return error_response(503, "backend_unavailable", "the search backend is unavailable; retry later")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error (request %s)", g.get("request_id"))
        return error_response(500, "internal_error", "internal error; see the sidecar log", request_id=g.get("request_id"))
