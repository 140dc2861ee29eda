"""The OpenSearch-compatible routes: GET|POST /<index>/_search (reranked on ext.rerank),
GET|POST [/<index>]/_msearch, GET|POST /<index>/_count, HEAD /<index>, GET /<index>/_mapping and
GET|HEAD / (cluster info), so an unmodified client works."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, g, jsonify, make_response, request
from opensearchpy.exceptions import TransportError
from werkzeug.routing import BaseConverter

from ...retrieval.opensearch_backend import call
from ..errors import RETRY_AFTER_SECONDS, ApiError, invalid, opensearch_error, sanitised
from ..hooks import record_decision
from ..jsonio import json_body
from ..documented import EXAMPLES, NDJSON, PROXY_BODY, documented, json_content
from ..proxy import msearch_lines, neural_texts, proxy_count, proxy_search
from ..services import services

bp = Blueprint("proxy", __name__)
# of GET /'s version: what a client reads to know what it speaks to (not which cluster, nor its build)
INFO_VERSION_KEYS = ("distribution", "number", "lucene_version", "minimum_wire_compatibility_version",
                     "minimum_index_compatibility_version")
# the sidecar's own top-level paths: never an index name here (HEAD /search is not "does index
# 'search' exist?", and OPTIONS /search does not advertise HEAD)
OWN_PATHS = ("search", "rerank", "healthz", "readyz", "metrics", "version", "openapi.json", "inspect", "admin")


class IndexName(BaseConverter):
    regex = r"(?!(?:" + "|".join(re.escape(p) for p in OWN_PATHS) + r")$)[^/]+"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("index", IndexName))


def forwarded(proxied: Callable[[], Any]) -> Any:
    """A proxied call's result. A ValueError (the client's request) is a 400 in OpenSearch's
    error shape; an error status from OpenSearch reaches the client in OpenSearch's shape,
    ``sanitised``."""
    try:
        return proxied()
    except (ValueError, TransportError) as exc:
        answer = client_error(exc)
        if answer is None:
            raise
        resp = make_response(*answer)
        if answer[1] == 429:
            resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        abort(resp)


# OpenSearch's errors that a request's own content causes, though OpenSearch may answer them
# with a 5xx (too many buckets is a 503; a _source it cannot parse, a 500): a 400 here
CLIENT_CAUSES = frozenset({"too_many_buckets_exception", "illegal_argument_exception", "illegal_state_exception",
                           "parsing_exception", "x_content_parse_exception", "json_parse_exception",
                           "number_format_exception", "query_shard_exception", "arithmetic_exception",
                           "array_index_out_of_bounds_exception", "class_cast_exception"})


def client_error(exc: Exception) -> tuple[Any, int] | None:
    """(OpenSearch-shaped error body, status) of a refused request: ours (a ValueError) or
    OpenSearch's (a TransportError with a status); None for anything else. OpenSearch's 5xx
    whose cause is the request's content (``CLIENT_CAUSES``) is a 400; any other 5xx a 503 (the
    backend's trouble, retried later), so the proxy never answers 500."""
    if isinstance(exc, ValueError):
        err = invalid(exc, "illegal_argument_exception")
        return opensearch_error(400, err.kind, err.message, err.field)
    if not isinstance(exc, TransportError) or not isinstance(exc.status_code, int):
        return None
    status = exc.status_code
    body = exc.info if isinstance(exc.info, dict) and isinstance(exc.info.get("error"), dict) else None
    if status >= 500 and status != 504:
        status = 400 if _error_types(body) & CLIENT_CAUSES else 503
    if body is None:  # not OpenSearch's JSON (a proxy's page, a plain text)
        return opensearch_error(status, str(exc.error), "OpenSearch refused the request")
    return jsonify({"error": sanitised(body["error"]), "status": status}), status


def _error_types(body: Any) -> set[str]:
    """Every ``type`` named in an OpenSearch error body (its causes and shard failures too)."""
    types: set[str] = set()
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("type"), str):
                types.add(node["type"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return types


def _refuse_system_paths(index: str, api: str) -> None:
    """/_all/_search, /_cluster/... are not an index: 403, never forwarded."""
    if index.startswith("_"):
        raise ApiError(403, "forbidden", f"only GET|POST /<index>/{api} is proxied, not /{index}/{api}")


@bp.route("/<index>/_search", methods=["GET", "POST"])
@documented("GET", summary="OpenSearch _search, passed through", errors=("400", "503", "504"))
@documented("POST", summary="OpenSearch _search; reranked when ext.rerank is given",
            body=json_content(PROXY_BODY, EXAMPLES["ProxySearch"]), errors=("400", "503", "504"))
def proxied_search(index: str):
    s = services()
    _refuse_system_paths(index, "_search")
    po = forwarded(lambda: proxy_search(s.proxied(), index, json_body(), s.store.current, s.config,
                                        s.legacy_indices, request.args.to_dict(), policy=s.policy,
                                        limits=s.limits, encode=s.encode, pieces=s.pieces,
                                        vocabulary=s.vocabulary_of(index)))
    g.decision = po.decision
    return jsonify(po.response)


@bp.route("/<index>/_count", methods=["GET", "POST"])
@documented("GET", "POST", summary="OpenSearch _count (run as a size-0 search), passed through",
            errors=("400", "503"))
def proxied_count(index: str):
    s = services()
    _refuse_system_paths(index, "_count")
    return jsonify(forwarded(lambda: proxy_count(s.proxied(), index, json_body(), request.args.to_dict(), s.config,
                                                 policy=s.policy)))


@bp.route("/_msearch", methods=["GET", "POST"])
@bp.route("/<index>/_msearch", methods=["GET", "POST"])
@documented("GET", "POST", summary="OpenSearch _msearch: each search checked and run as a _search (ext.rerank per "
            "search); without an index in the path, each header names its index", body=NDJSON,
            errors=("400", "503", "504"))
def proxied_msearch(index: str | None = None):
    """Several searches in one call, in OpenSearch's shape ({"took", "responses"}): each checked
    and run as a _search of its own (the same policy and allow-list, ``ext.rerank`` per search).
    A search the policy or OpenSearch refuses is an error entry in its place, as OpenSearch does."""
    s = services()
    if index is not None:
        _refuse_system_paths(index, "_msearch")
    lines = forwarded(lambda: msearch_lines(request.get_data(cache=True), index))
    if s.encode is not None:  # the encoder's work of the whole body, bounded before any search runs
        texts = [t for k, (_, body, _) in enumerate(lines) for t in neural_texts(body, f"search[{k}]")]
        forwarded(lambda: s.limits.check_encoding(texts, s.pieces))
    responses, took = [], 0
    for idx, body, params in lines:
        try:
            po = proxy_search(s.proxied(), idx, body, s.store.current, s.config, s.legacy_indices, params,
                              policy=s.policy, limits=s.limits, encode=s.encode, pieces=s.pieces,
                              vocabulary=s.vocabulary_of(idx))
        except (ValueError, TransportError) as exc:
            answer = client_error(exc)
            if answer is None:
                raise
            entry, status = answer
            responses.append({**entry.get_json(), "status": status})
            continue
        took += int(po.response.get("took", 0))
        responses.append({**po.response, "status": 200})
        if po.decision is not None:
            record_decision(po.decision, 200)
    return jsonify({"took": took, "responses": responses})


@bp.route("/<index:index>", methods=["HEAD"])
@documented("HEAD", summary="Whether a proxied index exists (200 or 404, no body)", ok={}, errors=("503",))
def index_exists(index: str):
    """opensearch-py's ``indices.exists``: 200 for an allowed index that exists, else 404 (an
    index the proxy does not serve is not revealed)."""
    s = services()
    try:
        s.policy.check_index(index)
    except ValueError:
        return "", 404
    exists = call(s.proxied().indices.exists, index=index, request_timeout=s.config.backend_timeout)
    return "", 200 if exists else 404


@bp.get("/<index>/_mapping")
@documented("GET", summary="The mapping of a proxied index (read-only)", errors=("400", "503"))
def index_mapping(index: str):
    """The mapping of an allowed index, in OpenSearch's shape (read-only)."""
    s = services()
    _refuse_system_paths(index, "_mapping")
    forwarded(lambda: s.policy.check_index(index))
    return jsonify(forwarded(lambda: call(s.proxied().indices.get_mapping, index=index,
                                          request_timeout=s.config.backend_timeout)))


@bp.get("/")
@documented("GET", summary="OpenSearch's cluster info (clients' info() and ping())", errors=("503",))
def cluster_info():
    """OpenSearch's own answer to GET / (and so to HEAD /) without what identifies the cluster
    (its name, uuid, node name, build hash and date): clients' ping() and info() work through the
    proxy, and say the cluster is away when it is (503)."""
    s = services()
    info = call(s.proxied().info, request_timeout=s.config.backend_timeout)
    version = info.get("version") if isinstance(info, dict) else None
    return jsonify({"version": {k: v for k, v in (version or {}).items() if k in INFO_VERSION_KEYS},
                    "tagline": info.get("tagline") if isinstance(info, dict) else None})
