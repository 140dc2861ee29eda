"""The plugin-style proxy: native OpenSearch query DSL in, OpenSearch's response shape out.

An optional ``ext.rerank`` block ({"rule"?: id, "query"?: text to match a rule by,
"overrides"?: {...}}) turns reranking on: the sidecar forwards the search with ``size`` widened
to the rule's window (and further windows when collapsing leaves the page short, as /search
does: ``paging``), fetching the `_source` fields the rule needs, reranks, and returns the page
asked for with the client's own `_source`, each hit with a ``_rerank`` object. Without it the
search passes through unchanged. Only _search is proxied.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from opensearchpy import OpenSearch

from ..search import paging
from ..config import Config
from ..search.contract import validate
from ..search.limits import Limits
from ..search.outcome import Decision
from ..search.pipeline import apply_overrides, choose_rule, named_values
from ..retrieval import Retrieved
from ..retrieval.hits import from_hits
from ..retrieval.opensearch_backend import call, found_legacy_vectors
from ..rules import RuleSet
from . import source
from .policy import ProxyPolicy, data_only, strip_hit, strip_node_ids


@dataclass
class ProxyOutcome:
    response: dict[str, Any]
    decision: Decision | None = None  # None: passed through without reranking


# read-only _search URL parameters, forwarded as they are (size, from and _source* go into the
# body, where the reranking reads them); anything else is refused with a 400 naming it
SEARCH_PARAMS = frozenset({
    "q", "df", "analyzer", "analyze_wildcard", "default_operator", "lenient", "sort", "stored_fields",
    "docvalue_fields", "track_total_hits", "track_scores", "timeout", "terminate_after", "explain", "version",
    "seq_no_primary_term", "request_cache", "allow_partial_search_results", "batched_reduce_size", "preference",
    "routing", "search_type", "ignore_unavailable", "ignore_throttled", "allow_no_indices", "expand_wildcards",
    "max_concurrent_shard_requests", "pre_filter_shard_size", "typed_keys", "rest_total_hits_as_int",
    "ccs_minimize_roundtrips", "phase_took", "cancel_after_time_interval", "include_named_queries_score",
    "filter_path", "human", "pretty", "suggest_field", "suggest_mode", "suggest_size", "suggest_text"})
BODY_PARAMS = frozenset({"size", "from", "_source", "_source_includes", "_source_excludes"})
COUNT_PARAMS = frozenset({"q", "df", "analyzer", "analyze_wildcard", "default_operator", "lenient", "routing",
                          "preference", "terminate_after", "min_score", "ignore_unavailable", "ignore_throttled",
                          "allow_no_indices", "expand_wildcards", "filter_path", "human", "pretty"})
# search extensions forwarded to OpenSearch besides ext.rerank (the k-NN plugin's native MMR)
EXT_FORWARDED = frozenset({"mmr"})
# options that fix the order of the hits: the reranked page could not honour them
SORTING_KEYS = ("sort", "search_after")
REFUSED_PARAMS = {"scroll": "scroll contexts are not proxied (the proxy is stateless); page with from and size",
                  "error_trace": "error_trace is not proxied (stack traces stay inside the cluster)"}


def split_params(args: Mapping[str, str], body: dict[str, Any], allowed: frozenset[str] = SEARCH_PARAMS,
                 into_body: frozenset[str] = BODY_PARAMS) -> tuple[dict[str, Any], dict[str, str]]:
    """The URL parameters of a proxied call as (body, params): ``size``, ``from`` and ``_source*``
    move into the body (the URL wins, as in OpenSearch), the other allowed ones stay parameters.
    ValueError names a refused or malformed parameter."""
    body = dict(body)
    params: dict[str, str] = {}
    for key, value in args.items():
        if key in REFUSED_PARAMS:
            raise ValueError(f"{key}: {REFUSED_PARAMS[key]}")
        if key in allowed:
            params[key] = value
        elif key not in into_body:
            raise ValueError(f"{key}: not a read-only parameter the proxy forwards "
                             f"(allowed: {', '.join(sorted(allowed | into_body))})")
        elif key in ("size", "from"):
            try:
                body[key] = int(value)
            except ValueError:
                raise ValueError(f"{key}: must be an integer, got {value!r}") from None
        elif key == "_source":
            body["_source"] = {"true": True, "false": False}.get(value, value.split(",") if value else True)
    if into_body and ("_source_includes" in args or "_source_excludes" in args):
        spec: dict[str, Any] = {}
        if args.get("_source_includes"):
            spec["includes"] = args["_source_includes"].split(",")
        if args.get("_source_excludes"):
            spec["excludes"] = args["_source_excludes"].split(",")
        body["_source"] = spec
    return body, params


def proxy_count(client: OpenSearch, index: str, body: Any, args: Mapping[str, str], cfg: Config, *,
                policy: ProxyPolicy) -> dict[str, Any]:
    """Forward one read-only _count (``q=`` or a ``query`` body), under the same policy."""
    policy.check_index(index)
    if not isinstance(body, dict) or set(body) - {"query"}:
        raise ValueError("body: a _count body is a JSON object with at most 'query'")
    body, params = split_params(args, body, COUNT_PARAMS, frozenset())
    if "min_score" in params:  # _count's parameter; a search takes it in the body
        try:
            body["min_score"] = float(params.pop("min_score"))
        except ValueError:
            raise ValueError("min_score: must be a number") from None
    checked = policy.check({**body, "size": 0}, params)
    # counted by a search of no hits: _search carries cancel_after_time_interval (_count does not),
    # so OpenSearch stops counting when the sidecar stops waiting
    resp = call(client.search, index=index, body={**checked, "size": 0, "track_total_hits": True}, params=params,
                request_timeout=cfg.backend_timeout, cancellable=True)
    total = resp.get("hits", {}).get("total")
    return {"count": total if isinstance(total, int) else (total or {}).get("value", 0), "_shards": resp.get("_shards")}


def neural_texts(body: Any, where: str = "") -> list[tuple[str, str]]:
    """(where, text) of each neural query's ``query_text`` in a body, in order: the texts the
    sidecar would encode (walked without recursion: any body, checked or not)."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [(where, body)]
    while stack:
        at, node = stack.pop()
        if isinstance(node, dict):
            spec = node.get("neural")
            if isinstance(spec, dict):
                for field, params in spec.items():
                    if isinstance(params, dict) and isinstance(params.get("query_text"), str):
                        found.append((f"{at}.neural.{field}.query_text".lstrip("."), params["query_text"]))
            stack.extend((f"{at}.{k}".lstrip("."), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((at, v) for v in reversed(node))
    return found


def neural_as_knn(node: Any, encode: Callable[[str], Any] | None) -> Any:
    """A policy-checked body with each neural-search ``neural`` query run as ``knn`` on the text's
    vector from the sidecar's encoder (clients written for that plugin work unchanged)."""
    if isinstance(node, list):
        return [neural_as_knn(v, encode) for v in node]
    if not isinstance(node, dict):
        return node
    spec = node.get("neural") if len(node) == 1 else None
    if isinstance(spec, dict) and len(spec) == 1 and isinstance(next(iter(spec.values())), dict) \
            and "query_text" in next(iter(spec.values())):
        if encode is None:
            raise ValueError("neural: the sidecar has no query encoder (SIDECAR_ENCODER=off); send knn with a vector")
        ((field, params),) = spec.items()
        knn = {k: neural_as_knn(v, encode) for k, v in params.items() if k not in ("query_text", "model_id")}
        vector = encode(unicodedata.normalize("NFKC", params["query_text"]))
        return {"knn": {field: {"vector": [float(x) for x in vector], **knn}}}
    return {k: neural_as_knn(v, encode) for k, v in node.items()}


def proxy_search(client: OpenSearch, index: str, body: Any, ruleset: RuleSet, cfg: Config,
                 legacy_indices: set[str] | None = None, args: Mapping[str, str] | None = None, *,
                 policy: ProxyPolicy, limits: Limits, encode: Callable[[str], Any] | None = None,
                 pieces: Callable[[str], int] | None = None,
                 vocabulary: Callable[[str], Any] | None = None) -> ProxyOutcome:
    """Forward one _search, reranked when ext.rerank asks. ValueError -> 400 (PolicyRefused: the
    policy's); TransportError passes through. ``legacy_indices``: indices known to lack
    ``vector_f16`` (kept by the caller); ``args``: the URL parameters (``split_params``);
    ``policy``: what may be forwarded; ``limits``: the bounds on ext.rerank.overrides and on the
    neural texts to encode (``pieces``: a text's word pieces, counted before any is encoded);
    ``vocabulary``: the index's values of a field, so that a value ``ext.rerank.query`` names is
    left alone by its constraints, as on /search (None: nothing is looked for)."""
    policy.check_index(index)
    if not isinstance(body, dict):
        raise ValueError("body: must be a JSON object (OpenSearch query DSL)")
    body, params = split_params(args or {}, body)
    ext = body.pop("ext", None)
    if ext is not None and not isinstance(ext, dict):
        raise ValueError("ext: must be an object")
    body = policy.check(body, params)
    texts = neural_texts(body)
    if texts and encode is not None and pieces is not None:
        limits.check_encoding(texts, pieces)
    body = neural_as_knn(body, encode)
    ext = dict(ext or {})
    spec = ext.pop("rerank", None)
    for key in ext:
        if key not in EXT_FORWARDED:
            raise ValueError(f"ext.{key}: not an extension the proxy forwards (allowed: rerank, "
                             f"{', '.join(sorted(EXT_FORWARDED))})")
    if ext:
        body["ext"] = data_only(ext, "ext")
    if spec is None:
        return ProxyOutcome(strip_node_ids(call(client.search, index=index, body=body, params=params,
                                                request_timeout=cfg.backend_timeout, cancellable=True)))
    if "filter_path" in params:
        raise ValueError("filter_path: not with ext.rerank (the reranking reads the hits it would filter away)")
    validate("RerankExt", spec, prefix="ext.rerank")
    for key in SORTING_KEYS:
        if key in body or key in params:
            raise ValueError(f"{key}: not with ext.rerank: the rule orders the page, so the order {key} asks for "
                             "would silently not hold (drop one of them)")
    limits.check_rule(spec.get("overrides"), "ext.rerank.overrides")
    limits.check_query(spec.get("query"), "ext.rerank.query")
    size, frm = body.get("size", 10), body.get("from", 0)
    for key, v in (("size", size), ("from", frm)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{key}: must be a non-negative integer")
    query = spec.get("query") or None  # a string, by the schema
    rule, how = choose_rule(ruleset, spec.get("rule"), query or "", {})
    rule = apply_overrides(rule, spec.get("overrides"))
    if rule is None:
        return ProxyOutcome(strip_node_ids(call(client.search, index=index, body=body, params=params,
                                                request_timeout=cfg.backend_timeout, cancellable=True)))
    paging.check_window(frm, size, cfg.max_window)
    wanted = source.client_spec(body.get("_source"))
    legacy = legacy_indices if legacy_indices is not None else set()
    raw: dict[str, dict[str, Any]] = {}  # id -> hit as OpenSearch returned it
    first_resp: dict[str, Any] = {}

    def search(window: int) -> dict[str, Any]:
        fetched = source.fetch_spec(wanted, rule, legacy_vectors=index in legacy)
        return call(client.search, index=index, body={**body, "_source": fetched, "size": window, "from": 0},
                    params=params, request_timeout=cfg.backend_timeout,
                    cancellable=True)

    def fetch(window: int) -> Retrieved:
        resp = search(window)
        hits = resp["hits"]["hits"]
        cols = from_hits(hits, with_vectors=rule.needs_vectors, keep_source=True)
        if found_legacy_vectors(index, legacy, rule.needs_vectors, hits, cols):
            resp = search(window)
            hits = resp["hits"]["hits"]
            cols = from_hits(hits, with_vectors=True, keep_source=True)
        first_resp.setdefault("resp", resp)
        for h in hits:
            raw.setdefault(h["_id"], h)
        total = resp["hits"].get("total")
        total = {"value": total} if isinstance(total, int) else (total or {})  # rest_total_hits_as_int
        return Retrieved(cols, float(resp.get("took", 0)), int(total.get("value", len(hits))),
                         total.get("relation", "eq"), exhausted=len(hits) < window)

    named = named_values(rule, query, vocabulary)
    rerank = paging.reranker(rule, explain=bool(spec.get("explain", True)), now=datetime.now(timezone.utc),
                             max_pairs=limits.dedup_pairs, named=named)
    ranked = paging.rank(fetch, rerank, rule.window, cfg.max_window, frm + size + 1)
    page = []
    for p in ranked.placed[frm:frm + size]:
        hit = strip_hit(dict(raw[p["id"]]))
        if "_source" in hit:
            kept = source.cut(hit["_source"], wanted)
            if kept is None:
                del hit["_source"]
            else:
                hit["_source"] = kept
        hit["_rerank"] = {k: v for k, v in p.items() if k != "id"}
        page.append(hit)
    missing = source.withheld(wanted, rule, legacy_vectors=index in legacy)
    if missing and page:  # the window came without the vectors' float lists: the page's, fetched now
        got = call(client.mget, index=index, body={"ids": [h["_id"] for h in page]},
                   params={"_source_includes": ",".join(missing)}, request_timeout=cfg.backend_timeout)
        extra = {d["_id"]: d.get("_source") or {} for d in got.get("docs", []) if d.get("found")}
        for hit in page:
            if "_source" in hit:
                hit["_source"].update(source.cut(extra.get(hit["_id"], {}), wanted) or {})
    resp = first_resp["resp"]
    out = dict(resp)
    out["took"] = int(ranked.took_ms)
    out["hits"] = {**resp["hits"], "hits": page}
    out["_rerank"] = {"rule": rule.id, "window": ranked.window, "candidates": ranked.candidates,
                      "has_next": paging.has_next(ranked, frm, size, cfg.max_window), "rerank_ms": round(ranked.rerank_seconds * 1000, 3),
                      **({"named": {f: sorted(v) for f, v in named.items()}} if named else {})}
    return ProxyOutcome(out, Decision("proxy", rule, how, "dsl", query, index, ranked.window, frm, size, ranked.pool,
                                      ranked.placed[frm:frm + size], ranked.dedup,
                                      round(ranked.rerank_seconds * 1000, 3), took_ms=ranked.took_ms))


# _msearch: header keys a line may carry (as OpenSearch's), turned into that line's URL parameters
MSEARCH_HEADER_KEYS = frozenset({"index", "preference", "routing", "search_type", "request_cache",
                                 "allow_partial_search_results", "ignore_unavailable", "expand_wildcards"})
MAX_MSEARCH_SEARCHES = 10  # a results page and its facets take 2 or 3


def msearch_lines(raw: bytes, url_index: str | None) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(index, body, params) of each search of an _msearch NDJSON body; ValueError names the line.
    Each line then goes through ``proxy_search`` (the same policy, index allow-list and
    ``ext.rerank``) as if it had been sent alone."""
    import orjson

    lines = raw.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the final newline
    if len(lines) > 1 and not lines[0]:
        lines.pop(0)  # one empty first line is skipped, as OpenSearch does (later ones are empty headers)
    pairs: list[tuple[int, bytes, bytes]] = []
    k = 0
    while k < len(lines):
        if k + 1 >= len(lines):
            if lines[k].strip():
                raise ValueError(f"body: line {k + 1} is a header with no search line after it")
            break  # a blank line after the last search, as OpenSearch ignores it
        pairs.append((k, lines[k], lines[k + 1]))
        if len(pairs) > MAX_MSEARCH_SEARCHES:
            raise ValueError(f"body: more than {MAX_MSEARCH_SEARCHES} searches; the proxy takes at most "
                             f"{MAX_MSEARCH_SEARCHES} in one _msearch")
        k += 2
    if not pairs:
        raise ValueError("body: an _msearch body is NDJSON pairs of a header line and a search line")
    out = []
    for k, head, line in pairs:
        try:  # an empty header line is an empty header, as OpenSearch reads it
            header, body = (orjson.loads(head) if head.strip() else {}), orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"body: line {k + 1} or {k + 2} is not JSON: {exc}") from None
        if not isinstance(header, dict) or not isinstance(body, dict):
            raise ValueError(f"body: lines {k + 1} and {k + 2} must be JSON objects")
        unknown = set(header) - MSEARCH_HEADER_KEYS
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: not a header the proxy forwards in _msearch "
                             f"(allowed: {', '.join(sorted(MSEARCH_HEADER_KEYS))})")
        index = header.get("index", url_index)
        if isinstance(index, list):
            index = ",".join(map(str, index))
        if not isinstance(index, str) or not index:
            raise ValueError(f"index: search {k // 2 + 1} names no index (in its header or the URL)")
        params = {key: (str(v).lower() if isinstance(v, bool) else str(v)) for key, v in header.items() if key != "index"}
        out.append((index, body, params))
    return out
