"""Prometheus metrics of one app (own registry, so several apps in one process do not collide)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("sidecar_requests_total", "HTTP requests", ["endpoint", "rule", "status"],
                                registry=self.registry)
        self.latency = Histogram("sidecar_request_seconds", "HTTP request latency", ["endpoint", "rule"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rerank = Histogram("sidecar_rerank_seconds", "time spent reranking one request", ["rule"],
                                buckets=LATENCY_BUCKETS, registry=self.registry)
        self.backend_errors = Counter("sidecar_backend_errors_total", "retrieval backend failures", ["kind"],
                                      registry=self.registry)
        self.rule_reloads = Counter("sidecar_rule_reloads_total", "rule reloads", ["outcome"], registry=self.registry)
        self.decision_log_dropped = Counter("sidecar_decision_log_dropped_total", "decision records dropped",
                                            ["reason"], registry=self.registry)
        self.decision_log_written = Counter("sidecar_decision_log_written_total", "decision records written",
                                            registry=self.registry)
