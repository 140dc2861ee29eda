"""Around every request: its id, one log line, the metrics, the decision-log record, CORS."""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from ..opensearch.decision_log import build_record, error_record
from ..experiments import serve
from ..retrieval import deadline
from .jsonio import read_body
from .services import services

log = logging.getLogger("sidecar.http")
LOGGED_ENDPOINTS = {"/search": "search", "/rerank": "rerank", "/<index>/_search": "proxy"}


def register(app: Flask) -> None:
    app.before_request(start)
    app.after_request(finish)
    app.teardown_request(close)


def start() -> None:
    g.t0 = time.perf_counter()
    # every OpenSearch call of the request shares one deadline, counted from its arrival: at a
    # trusted front proxy that says when (X-Request-Start), so time queued there counts too
    s = services()
    if not s.started:  # an app not served by gunicorn (a test client, the development server)
        s.start()
    cfg = s.config
    g.deadline = deadline.start(cfg.backend_timeout, started=_arrival(s.trusted_proxies))
    # the page's identity is the sidecar's own, signed for the client (experiments.identity); a
    # client's X-Request-Id is kept beside it, for its own tracing
    g.client_request_id = request.headers.get("X-Request-Id", "")[:64] or None
    g.request_id = s.signer.mint(request.headers.get(serve.HEADER))
    g.decision = None  # set by a route that reranked (outcome.Decision)
    read_body(cfg.max_body_bytes, cfg.body_timeout)  # whole and bounded, before any route looks at it


def finish(resp: Response) -> Response:
    s = services()
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    elapsed = time.perf_counter() - g.get("t0", time.perf_counter())
    decision = g.get("decision")
    rule = _rule_label(decision, s)
    s.metrics.requests.labels(endpoint, rule, str(resp.status_code)).inc()
    s.metrics.latency.labels(endpoint, rule).observe(elapsed)
    if decision is not None and decision.rule is not None:
        s.metrics.rerank.labels(rule).observe(decision.rerank_ms / 1000)
    resp.headers["X-Request-Id"] = g.get("request_id", "")
    if g.get("client_request_id"):
        resp.headers["X-Client-Request-Id"] = g.client_request_id
    version = s.store.current.version
    if s.decision_log is not None and endpoint in LOGGED_ENDPOINTS:
        if decision is not None:
            record_decision(decision, resp.status_code)
        elif resp.status_code >= 400:
            body = _small_json_body(s.config.max_body_bytes)
            s.decision_log.submit(error_record(
                endpoint=LOGGED_ENDPOINTS[endpoint], request_id=g.get("request_id", ""), status=resp.status_code,
                query=body.get("q") if isinstance(body, dict) else None,
                index=(request.view_args or {}).get("index"), total_ms=round(elapsed * 1000, 3),
                error_type=_error_type(resp), rules_version=version))
    _cors(resp, s.config.cors_origins)
    if endpoint != "/metrics":
        fields = {"route": endpoint, "method": request.method, "path": request.path, "status": resp.status_code,
                  "duration_ms": round(elapsed * 1000, 3), "rule": rule or None, "request_id": g.get("request_id", ""),
                  "client_request_id": g.get("client_request_id"),
                  "backend_ms": decision.took_ms if decision is not None else None}
        if resp.status_code >= 400:
            fields["error_type"] = _error_type(resp)
        log.info("%s %s -> %d in %.1f ms rule=%s id=%s", request.method, request.path, resp.status_code,
                 elapsed * 1000, rule or "-", g.get("request_id", ""), extra={"fields": fields})
    return resp


def record_decision(decision, status: int) -> None:
    """One decision record of this request into the decision log (when it is on): the hook's for
    a route's ``g.decision``, and each search of a proxied ``_msearch`` (several per request)."""
    s = services()
    if s.decision_log is not None:
        s.decision_log.submit(build_record(decision, g.get("request_id", ""), status,
                                           rules_version=s.store.current.version))


def _error_type(resp: Response) -> str | None:
    """The ``error.type`` of one of this API's error bodies (both shapes carry it)."""
    if resp.mimetype != "application/json" or resp.is_streamed:
        return None
    body = resp.get_json(silent=True)
    err = body.get("error") if isinstance(body, dict) else None
    return err.get("type") if isinstance(err, dict) else None


def _arrival(trusted: frozenset[str]) -> float | None:
    """time.monotonic() of the request's arrival at a front proxy, from ``X-Request-Start``
    (``t=<epoch seconds>``, or epoch milli- or microseconds, as nginx and load balancers write
    it); None (now) without one, when it is not a time of the last minute, or when the request
    did not come from one of the ``trusted`` addresses (SIDECAR_TRUSTED_PROXIES): a client's own
    header would let anyone turn its request into a 504 that counts as a backend timeout."""
    raw = request.headers.get("X-Request-Start", "")
    if not raw or request.remote_addr not in trusted:
        return None
    raw = raw.strip().removeprefix("t=")
    try:
        stamp = float(raw)
    except ValueError:
        return None
    while stamp > 1e11:  # milli- or microseconds
        stamp /= 1000.0
    waited = time.time() - stamp
    return time.monotonic() - waited if 0.0 <= waited <= 60.0 else None


def close(exc: BaseException | None) -> None:
    token = g.pop("deadline", None)
    if token is not None:
        deadline.end(token)


def _rule_label(decision, s) -> str:
    """The metrics' rule label: a loaded rule's id, 'none', or 'inline' for every rule sent inline
    (a label per inline id would let clients grow /metrics without bound)."""
    if decision is None:
        return ""
    if decision.rule is None:
        return "none"
    return decision.rule.id if decision.rule.id in s.store.current.by_id else "inline"


def _small_json_body(limit: int):
    """The request's JSON for an error record, unless it is over the body limit (never re-read it)."""
    if request.mimetype != "application/json" or (request.content_length or 0) > limit:
        return None
    try:
        return request.get_json(silent=True)
    except Exception:  # noqa: BLE001 - a body that cannot be read has no query to record
        return None


def _cors(resp: Response, setting: str) -> None:
    """CORS headers for an allowed Origin (SIDECAR_CORS_ORIGINS; off when empty)."""
    origin = request.headers.get("Origin")
    allowed = [o.strip() for o in setting.split(",") if o.strip()]
    if not origin or not allowed or ("*" not in allowed and origin not in allowed):
        return
    resp.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
    resp.headers.add("Vary", "Origin")
    resp.headers["Access-Control-Expose-Headers"] = "X-Request-Id"
    if request.method == "OPTIONS":  # a preflight: what the route accepts
        resp.headers["Access-Control-Allow-Methods"] = resp.headers.get("Allow", "GET, POST")
        resp.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization, X-Request-Id"
        resp.headers["Access-Control-Max-Age"] = "600"
