"""The Flask app (factory): /search, /rerank, the read-only _search proxy, health, metrics, admin.

Every error is a JSON body ({"error": {"type", "message", "status", "field"?}}), never a stack
trace: 400 malformed JSON or invalid field (named), 401 admin without token, 403 refused proxy
path, 404/405 unknown route or method, 413 body too large, 503 backend down, 504 backend slow.
"""
from __future__ import annotations

import atexit
import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from flask import Flask, Response, abort, g, jsonify, make_response, request
from flask.json.provider import DefaultJSONProvider
from opensearchpy.exceptions import TransportError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from ..config import Config
from ..decision_log import DecisionLogWriter, build_record, error_record
from ..pipeline import run_search
from ..rerank import rerank
from ..rerank.api import resolve_rule
from ..retrieval import Backend, BackendTimeout, BackendUnavailable
from ..retrieval.opensearch_backend import call
from ..retrieval.hits import Hits
from ..rules import RuleStore
from .errors import ApiError, error_response, field_of, opensearch_error
from .metrics import Metrics
from .proxy import proxy_count, proxy_search

log = logging.getLogger("sidecar.http")


class OrjsonProvider(DefaultJSONProvider):
    """Requests carry 384-float vectors and responses whole pages: orjson parses and writes them
    several times faster than the stdlib on this hot path."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=self.default, option=orjson.OPT_SERIALIZE_NUMPY).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def build_backend(cfg: Config) -> Backend:
    if cfg.backend == "memory":
        from ..retrieval.memory import MemoryBackend

        vectors = Path(cfg.vectors) if cfg.vectors and Path(cfg.vectors).exists() else None
        return MemoryBackend(Path(cfg.catalog), vectors)
    from ..opensearch import make_client
    from ..retrieval.opensearch_backend import OpenSearchBackend

    return OpenSearchBackend(make_client(cfg.opensearch_url, timeout=cfg.backend_timeout), cfg.index, cfg.backend_timeout)


LOGGED_ENDPOINTS = {"/search": "search", "/rerank": "rerank", "/<index>/_search": "proxy"}


def create_app(cfg: Config | None = None, *, backend: Backend | None = None, store: RuleStore | None = None,
               decision_log: DecisionLogWriter | None = None) -> Flask:
    cfg = cfg or Config.load()
    app = Flask("sidecar")
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body_bytes
    metrics = Metrics()
    backend = backend or build_backend(cfg)
    if store is None:
        store = RuleStore(Path(cfg.rules), on_reload=lambda ok: metrics.rule_reloads.labels("ok" if ok else "rejected").inc())
        store.start_polling(cfg.rules_poll_seconds)
    _os_client: dict[str, Any] = {}
    legacy_indices: set[str] = set()  # proxied indices found without vector_f16 (logged once each)

    def os_client():
        if "c" not in _os_client:
            from ..opensearch import make_client

            _os_client["c"] = make_client(cfg.opensearch_url, timeout=cfg.backend_timeout)
        return _os_client["c"]

    if decision_log is None and cfg.decision_log == "on":
        from ..opensearch import make_client

        decision_log = DecisionLogWriter(lambda: make_client(cfg.opensearch_url, timeout=5.0),
                                         prefix=cfg.decision_log_index, sample=cfg.decision_log_sample,
                                         on_drop=lambda reason, n: metrics.decision_log_dropped.labels(reason).inc(n),
                                         on_write=metrics.decision_log_written.inc)
        atexit.register(decision_log.close, 5.0)  # flush within 5 s when the worker exits (SIGTERM)
    kernels = threading.Event()  # set once every reranking kernel is compiled or loaded from the cache

    def warm_kernels() -> None:
        from ..rerank.warmup import warm

        t0 = time.perf_counter()
        warm()
        kernels.set()
        log.info("reranking kernels ready in %.1f s", time.perf_counter() - t0)

    threading.Thread(target=warm_kernels, name="warm-kernels", daemon=True).start()
    app.extensions["sidecar"] = {"config": cfg, "backend": backend, "store": store, "metrics": metrics,
                                 "decision_log": decision_log, "kernels": kernels}

    def json_body() -> Any:
        raw = request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from None

    @app.before_request
    def start() -> None:
        g.t0 = time.perf_counter()
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
        g.rule = ""
        g.decision = None

    @app.after_request
    def finish(resp: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("t0", time.perf_counter())
        rule = g.get("rule", "") or ""
        metrics.requests.labels(endpoint, rule, str(resp.status_code)).inc()
        metrics.latency.labels(endpoint, rule).observe(elapsed)
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        if decision_log is not None and endpoint in LOGGED_ENDPOINTS:
            record = g.get("decision")
            if record is None and resp.status_code >= 400:
                body = request.get_json(silent=True) if request.mimetype == "application/json" else None
                record = error_record(endpoint=LOGGED_ENDPOINTS[endpoint], request_id=g.get("request_id", ""),
                                      status=resp.status_code, query=(body or {}).get("q") if isinstance(body, dict) else None,
                                      index=(request.view_args or {}).get("index"), total_ms=round(elapsed * 1000, 3))
            if record is not None:
                decision_log.submit(record)
        if endpoint != "/metrics":
            log.info("%s %s -> %d in %.1f ms rule=%s id=%s", request.method, request.path, resp.status_code,
                     elapsed * 1000, rule or "-", g.get("request_id", ""))
        return resp

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.kind, exc.message, exc.field)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.response is not None:  # abort(response): the response is the answer
            return exc.response
        kinds = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        msg = exc.description
        if exc.code == 413:
            msg = f"request body exceeds {cfg.max_body_bytes} bytes (SIDECAR_MAX_BODY_BYTES)"
        return error_response(exc.code or 500, kinds.get(exc.code, "http_error"), msg)

    @app.errorhandler(BackendTimeout)
    def backend_timeout(exc: BackendTimeout):
        metrics.backend_errors.labels("timeout").inc()
        log.warning("backend timeout: %s", exc)
        return error_response(504, "backend_timeout", f"the search backend did not answer within {cfg.backend_timeout}s")

    @app.errorhandler(BackendUnavailable)
    def backend_down(exc: BackendUnavailable):
        metrics.backend_errors.labels("unavailable").inc()
        log.warning("backend unavailable: %s", exc)
        return error_response(503, "backend_unavailable", f"the search backend is unavailable: {exc}")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; see the sidecar log", request_id=g.get("request_id"))

    @app.post("/search")
    def search():
        body = json_body()
        try:
            outcome = run_search(body, backend, store.current, cfg.max_window)
        except ValueError as exc:
            raise ApiError(400, "invalid_request", str(exc), field_of(str(exc))) from None
        g.rule = outcome.response["rule"] or "none"
        r = outcome.response
        metrics.rerank.labels(g.rule).observe(r["timings"]["rerank_ms"] / 1000)
        r["request_id"] = g.request_id
        if decision_log is not None:
            g.decision = build_record(endpoint="search", request_id=g.request_id, query=body.get("q"), rule=outcome.rule,
                                      how=r["rule_match"], mode=r["mode"], window=r["window"], frm=r["from"],
                                      size=r["size"], candidates=outcome.pool, hits=outcome.placed,
                                      dedup=outcome.dedup, timings=r["timings"], took_ms=r["backend_took_ms"],
                                      index=cfg.index if cfg.backend == "opensearch" else None)
        return jsonify(r)

    @app.post("/rerank")
    def rerank_endpoint():
        body = json_body()
        t0 = time.perf_counter()
        try:
            resp = rerank(body, store.current.by_id, now=datetime.now(timezone.utc))
        except ValueError as exc:
            raise ApiError(400, "invalid_request", str(exc), field_of(str(exc))) from None
        g.rule = resp["rule"]
        elapsed = time.perf_counter() - t0
        metrics.rerank.labels(g.rule).observe(elapsed)
        if decision_log is not None:
            cands = Hits([str(c["id"]) for c in body["candidates"]], np.zeros(len(body["candidates"])),
                         [c.get("fields") or {} for c in body["candidates"]])
            g.decision = build_record(endpoint="rerank", request_id=g.request_id, query=None,
                                      rule=resolve_rule(body["rule"], store.current.by_id), how="explicit", mode=None,
                                      window=len(cands), frm=0, size=len(resp["hits"]), candidates=cands,
                                      hits=resp["hits"], dedup=resp.get("dedup"),
                                      timings={"rerank_ms": round(elapsed * 1000, 3), "total_ms": round(elapsed * 1000, 3)},
                                      took_ms=None, index=None)
        return jsonify(resp)

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

    @app.route("/<index>/_search", methods=["GET", "POST"])
    def proxied_search(index: str):
        if index.startswith("_"):
            raise ApiError(403, "forbidden", f"only GET|POST /<index>/_search is proxied, not /{index}/_search")
        po = forwarded(lambda: proxy_search(os_client(), index, json_body(), store.current, cfg, legacy_indices,
                                            request.args.to_dict()))
        g.rule = po.rule.id if po.rule else "none"
        if po.rule:
            metrics.rerank.labels(g.rule).observe(po.rerank_seconds)
        if decision_log is not None:
            ms = round(po.rerank_seconds * 1000, 3)
            g.decision = build_record(endpoint="proxy", request_id=g.request_id, query=po.query, rule=po.rule,
                                      how="explicit" if po.rule else None, mode="dsl", window=po.window, frm=po.frm,
                                      size=po.size, candidates=po.pool, hits=po.placed, dedup=po.dedup,
                                      timings={"rerank_ms": ms}, took_ms=float(po.response.get("took", 0)), index=index)
        return jsonify(po.response)

    @app.route("/<index>/_count", methods=["GET", "POST"])
    def proxied_count(index: str):
        if index.startswith("_"):
            raise ApiError(403, "forbidden", f"only GET|POST /<index>/_count is proxied, not /{index}/_count")
        return jsonify(forwarded(lambda: proxy_count(os_client(), index, json_body(), request.args.to_dict(), cfg)))

    @app.get("/")
    def cluster_info():
        """OpenSearch's own answer to GET / (and so to HEAD /): clients' ping() and info() work
        through the proxy, and say the cluster is away when it is (503)."""
        return jsonify(call(os_client().info, request_timeout=cfg.backend_timeout))

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        backend_ok = backend.ping()
        rules_ok = store.current is not None
        warm = kernels.is_set()
        body = {"ready": backend_ok and rules_ok and warm, "backend": backend.name, "backend_reachable": backend_ok,
                "rules_version": store.current.version if rules_ok else None, "kernels": "warm" if warm else "warming"}
        return jsonify(body), (200 if body["ready"] else 503)

    @app.get("/metrics")
    def metrics_endpoint():
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    def require_admin() -> None:
        if not cfg.admin_token:
            raise ApiError(403, "admin_disabled", "admin endpoints are disabled: set SIDECAR_ADMIN_TOKEN")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not hmac.compare_digest(auth[7:].encode(), cfg.admin_token.encode()):
            raise ApiError(401, "unauthorized", "a valid 'Authorization: Bearer <token>' header is required")

    @app.get("/admin/rules")
    def admin_rules():
        require_admin()
        return jsonify(store.status())

    @app.post("/admin/rules/reload")
    def admin_reload():
        require_admin()
        ok = store.reload()
        return jsonify({"reloaded": ok, **store.status()}), (200 if ok else 422)

    @app.route("/", defaults={"anything": ""}, methods=["POST", "PUT", "DELETE", "PATCH"])
    @app.route("/<path:anything>", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
    def refused(anything: str):
        raise ApiError(403, "forbidden", f"{request.method} /{anything} is not served: the sidecar answers /search, "
                                         "/rerank, /healthz, /readyz, /metrics, /admin/rules and proxies only "
                                         "GET|POST /<index>/_search, GET|POST /<index>/_count and GET|HEAD / "
                                         "to OpenSearch")

    return app
