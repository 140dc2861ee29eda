"""The OpenSearch-compatible routes: GET|POST /<index>/_search (reranked on ext.rerank),
GET|POST /<index>/_count and GET|HEAD / (cluster info), so an unmodified client works."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, g, jsonify, make_response, request
from opensearchpy.exceptions import TransportError

from ...retrieval.opensearch_backend import call
from ..errors import RETRY_AFTER_SECONDS, ApiError, invalid, opensearch_error, sanitised
from ..jsonio import json_body
from ..proxy import proxy_count, proxy_search
from ..services import services

bp = Blueprint("proxy", __name__)


def forwarded(proxied: Callable[[], Any]) -> Any:
    """A proxied call's result. A ValueError (the client's request) is a 400 in OpenSearch's
    error shape; an error status from OpenSearch reaches the client in OpenSearch's shape,
    ``sanitised``."""
    try:
        return proxied()
    except ValueError as exc:
        err = invalid(exc, "illegal_argument_exception")
        abort(make_response(*opensearch_error(400, err.kind, err.message, err.field)))
    except TransportError as exc:
        if not isinstance(exc.status_code, int):
            raise
        body = exc.info if isinstance(exc.info, dict) and isinstance(exc.info.get("error"), dict) else None
        if body is None:  # not OpenSearch's JSON (a proxy's page, a plain text)
            abort(make_response(*opensearch_error(exc.status_code, str(exc.error), "OpenSearch refused the request")))
        resp = make_response(jsonify({"error": sanitised(body["error"]), "status": exc.status_code}), exc.status_code)
        if exc.status_code == 429:
            resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        abort(resp)


def _refuse_system_paths(index: str, api: str) -> None:
    """/_all/_search, /_cluster/... are not an index: 403, never forwarded."""
    if index.startswith("_"):
        raise ApiError(403, "forbidden", f"only GET|POST /<index>/{api} is proxied, not /{index}/{api}")


@bp.route("/<index>/_search", methods=["GET", "POST"])
def proxied_search(index: str):
    s = services()
    _refuse_system_paths(index, "_search")
    po = forwarded(lambda: proxy_search(s.opensearch(), index, json_body(), s.store.current, s.config,
                                        s.legacy_indices, request.args.to_dict(), policy=s.policy,
                                        limits=s.limits))
    g.decision = po.decision
    return jsonify(po.response)


@bp.route("/<index>/_count", methods=["GET", "POST"])
def proxied_count(index: str):
    s = services()
    _refuse_system_paths(index, "_count")
    return jsonify(forwarded(lambda: proxy_count(s.opensearch(), index, json_body(), request.args.to_dict(), s.config,
                                                 policy=s.policy)))


@bp.get("/")
def cluster_info():
    """OpenSearch's own answer to GET / (and so to HEAD /): clients' ping() and info() work
    through the proxy, and say the cluster is away when it is (503)."""
    s = services()
    return jsonify(call(s.opensearch().info, request_timeout=s.config.backend_timeout))
