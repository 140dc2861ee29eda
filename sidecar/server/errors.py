"""JSON error bodies for every failure: never an HTML page, never a stack trace."""
from __future__ import annotations

from typing import Any

from flask import jsonify


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.field = status, kind, message, field


def field_of(message: str) -> str | None:
    """Validation messages start with the field they are about ('size: must be ...')."""
    head = message.split(":", 1)[0]
    return head if head and " " not in head else None


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
