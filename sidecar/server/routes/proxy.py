"""The OpenSearch-compatible routes: GET|POST /<index>/_search (reranked on ext.rerank),
GET|POST /<index>/_count and GET|HEAD / (cluster info), so an unmodified client works."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, g, jsonify, make_response, request
from opensearchpy.exceptions import TransportError

from ...retrieval.opensearch_backend import call
from ..errors import ApiError, field_of, opensearch_error
from ..jsonio import json_body
from ..proxy import proxy_count, proxy_search
from ..services import services

bp = Blueprint("proxy", __name__)


def forwarded(proxied: Callable[[], Any]) -> Any:
    """A proxied call's result. A ValueError (the client's request) is a 400 in OpenSearch's
    error shape; an error status from OpenSearch reaches the client as OpenSearch sent it."""
    try:
        return proxied()
    except ValueError as exc:
        abort(make_response(*opensearch_error(400, "illegal_argument_exception", str(exc), field_of(str(exc)))))
    except TransportError as exc:
        if not isinstance(exc.status_code, int):
            raise
        abort(make_response(jsonify({"error": exc.error, "status": exc.status_code, "info": exc.info}),
                            exc.status_code))


def _refuse_system_paths(index: str, api: str) -> None:
    """/_all/_search, /_cluster/... are not an index: 403, never forwarded."""
    if index.startswith("_"):
        raise ApiError(403, "forbidden", f"only GET|POST /<index>/{api} is proxied, not /{index}/{api}")


@bp.route("/<index>/_search", methods=["GET", "POST"])
def proxied_search(index: str):
    s = services()
    _refuse_system_paths(index, "_search")
    po = forwarded(lambda: proxy_search(s.opensearch(), index, json_body(), s.store.current, s.config,
                                        s.legacy_indices, request.args.to_dict()))
    g.decision = po.decision
    return jsonify(po.response)


@bp.route("/<index>/_count", methods=["GET", "POST"])
def proxied_count(index: str):
    s = services()
    _refuse_system_paths(index, "_count")
    return jsonify(forwarded(lambda: proxy_count(s.opensearch(), index, json_body(), request.args.to_dict(), s.config)))


@bp.get("/")
def cluster_info():
    """OpenSearch's own answer to GET / (and so to HEAD /): clients' ping() and info() work
    through the proxy, and say the cluster is away when it is (503)."""
    s = services()
    return jsonify(call(s.opensearch().info, request_timeout=s.config.backend_timeout))
