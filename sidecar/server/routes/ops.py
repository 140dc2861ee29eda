"""Operations: /healthz (alive), /readyz (can serve), /metrics, /version, /openapi.json."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from ... import __version__
from ..documented import TEXT, documented
from ..openapi import document
from ..services import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@documented("GET", summary="The process is alive")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@documented("GET", summary="Backend reachable and kernels compiled (503: warming, or the backend is away)",
            errors=("503",))
def readyz():
    """Ready: kernels compiled and the products index searchable (green or yellow; red means
    some searches fail, unreachable that all do). ``degraded`` lists what this worker does
    without, still serving (a run dir that takes no writes: metrics kept in memory, reloads that
    reach this worker only; a rejected rule edit, whose errors are ``rules_rejected``)."""
    s = services()
    health = s.backend.health()
    warm = s.kernels_ready
    body = {"ready": health in ("green", "yellow") and warm, "backend": s.backend.name,
            "backend_reachable": health != "unreachable", "backend_health": health,
            "rules_version": s.store.current.version, "kernels": "warm" if warm else "warming"}
    rejected = s.store.last_error
    if rejected:  # a broken edit: the last good rules serve on, and this says so
        body["rules_rejected"] = rejected
    degraded = [why for why in (s.metrics.degraded, s.board.degraded if s.board else None, s.events_problem,
                                f"rules: the last edit of the rule files was rejected ({len(rejected)} error(s), first: "
                                f"{rejected[0]}); version {s.store.current.version} serves on" if rejected else None)
                if why]
    if degraded:
        body["degraded"] = degraded
    return jsonify(body), (200 if body["ready"] else 503)


@bp.get("/metrics")
@documented("GET", summary="Prometheus metrics of every worker", ok=TEXT)
def metrics():
    return Response(services().metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/version")
@documented("GET", summary="Package and OpenSearch versions, rule-set hash")
def version():
    """The package, the OpenSearch behind it (null when unreachable or not used) and the rule set."""
    s = services()
    opensearch = None
    if s.config.backend == "opensearch":
        try:
            opensearch = s.opensearch().info(request_timeout=s.config.backend_timeout)["version"]["number"]
        except Exception:  # noqa: BLE001 - /version answers even when the cluster is away
            opensearch = None
    return jsonify({"version": __version__, "opensearch": opensearch, "backend": s.backend.name,
                    "rules_version": s.store.current.version})


@bp.get("/openapi.json")
@documented("GET", summary="This document")
def openapi():
    return jsonify(document(current_app))
