"""Prometheus metrics of one app.

In a single process they live in the app's own registry (several apps in one test process do
not collide). Under ``sidecar serve`` every gunicorn worker writes its samples to files in
``<run_dir>/metrics`` (prometheus-client's multiprocess mode, switched on by
PROMETHEUS_MULTIPROC_DIR before the workers start) and a scrape of any worker adds up all of
them, so counters never seem to go back when the scrape lands on another worker.
"""
from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        """``multiprocess_dir``: the directory of PROMETHEUS_MULTIPROC_DIR (None: this process only)."""
        self.multiprocess_dir = multiprocess_dir
        if multiprocess_dir is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR") != str(multiprocess_dir):
            raise RuntimeError(f"PROMETHEUS_MULTIPROC_DIR must be {multiprocess_dir} before prometheus_client is "
                               "imported (sidecar serve sets it)")
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
        self.decision_log_unknown = Counter("sidecar_decision_log_unknown_total",
                                            "decision records sent without an answer in time (may be indexed)",
                                            registry=self.registry)
        self.events_dropped = Counter("sidecar_events_dropped_total", "events (POST /events) dropped", ["reason"],
                                      registry=self.registry)
        self.events_written = Counter("sidecar_events_written_total", "events written", registry=self.registry)
        self.events_unknown = Counter("sidecar_events_unknown_total",
                                      "events sent without an answer in time (may be indexed)", registry=self.registry)

    def exposition(self) -> bytes:
        """The text format of a scrape: every worker's samples added up, or this process's."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.multiprocess_dir))
        return generate_latest(registry)
