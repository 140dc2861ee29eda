"""The objects every blueprint shares, built once per app: one typed value instead of globals.

``Services.build`` makes what the configuration asks for (the rule store, the decision-log writer,
the events' spool, the page signer, the worker board of a multi-worker server) and starts nothing:
``create_app`` only assembles. ``Services.start`` does what runs in the background or is heavy: it
loads the query encoder, builds the backend (a memory catalog may need the encoder), and starts the
rule poller, the writer, the spool's shipper, the worker board, the kernel warm-up and the read of
the catalog words searches need. A gunicorn worker calls it when it boots (``gunicorn_app``); an
app served any other way (a test client, the development server) starts on its first request.
Tests pass their own backend, store or writer.
"""
from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app

from ..config import Config
from ..opensearch.decision_log import DecisionLogWriter
from ..search.limits import Limits
from ..experiments.identity import PageSigner, random_secret
from ..experiments.settle import Settler
from ..logs import first_line
from ..retrieval import Backend, BackendTimeout, deadline
from ..rules import RuleStore
from ..rules.store import snapshot_path
from ..threads import Offloader, beside, os_thread, real_lock
from .metrics import Metrics
from .policy import ProxyPolicy
from .ratelimit import TokenBuckets
from .spool import EventSpool
from .workers import WorkerBoard

log = logging.getLogger("sidecar.http")


def build_backend(cfg: Config, encoder: Any = None) -> Backend:
    """The configured backend; a memory catalog without vectors is embedded by ``encoder``."""
    if cfg.backend == "memory":
        from ..retrieval.memory import MemoryBackend

        vectors = Path(cfg.vectors) if cfg.vectors and Path(cfg.vectors).exists() else None
        return MemoryBackend(Path(cfg.catalog), vectors, encoder=encoder)
    from ..opensearch.client import make_client
    from ..retrieval.opensearch_backend import OpenSearchBackend

    return OpenSearchBackend(make_client(cfg.opensearch_url, timeout=cfg.backend_timeout), cfg.index, cfg.backend_timeout)


@dataclass
class Services:
    config: Config
    backend: Backend
    store: RuleStore
    metrics: Metrics
    decision_log: DecisionLogWriter | None
    events: EventSpool | None  # POST /events' spool (None: off, no OpenSearch, or no disk)
    board: WorkerBoard | None  # the other workers of this server (None: a single process)
    limits: Limits
    policy: ProxyPolicy
    signer: PageSigner | None = None  # mints and verifies page ids (SIDECAR_SECRET)
    encoder: Any = None  # sidecar.encoder.Encoder, or None (SIDECAR_ENCODER=off)
    kernels_ready: bool = False  # set once the kernels are compiled (by another OS thread: a plain flag)
    catalog_words_read: bool = False  # set once the catalog words searches need are read (``start``)
    legacy_indices: set[str] = field(default_factory=set)  # proxied indices without vector_f16 (logged once)
    _client: Any = None
    _proxy_client: Any = None
    _encoding: Offloader = field(default_factory=Offloader)  # the model's runs, one at a time, off the event loop
    events_problem: str | None = None  # why POST /events is off although configured on
    event_buckets: TokenBuckets | None = None  # POST /events' share per client address
    trusted_proxies: frozenset[str] = frozenset()  # SIDECAR_TRUSTED_PROXIES, read once
    started: bool = False  # ``start`` ran
    _starting: Any = field(default_factory=real_lock)

    @classmethod
    def build(cls, cfg: Config, *, backend: Backend | None = None, store: RuleStore | None = None,
              decision_log: DecisionLogWriter | None = None) -> Services:
        """The services of ``cfg``, nothing started (``start``). Raises RuleLoadError when the
        rule set is invalid and there is no last good one."""
        from ..opensearch.client import make_client

        metrics = Metrics(Path(cfg.run_dir) / "metrics" if cfg.run_dir else None)
        if store is None:
            store = RuleStore(Path(cfg.rules), on_reload=lambda ok: metrics.rule_reloads.labels(
                "ok" if ok else "rejected").inc(), snapshot=snapshot_path(cfg.run_dir))
        if decision_log is None and cfg.decision_log == "on":
            decision_log = DecisionLogWriter(lambda: make_client(cfg.opensearch_url, timeout=5.0),
                                             prefix=cfg.decision_log_index, sample=cfg.decision_log_sample,
                                             on_drop=lambda reason, n: metrics.decision_log_dropped.labels(reason).inc(n),
                                             on_write=metrics.decision_log_written.inc,
                                             on_unknown=metrics.decision_log_unknown.inc)
        signer = PageSigner(cfg.secret or random_secret())
        events, events_problem = None, None
        if cfg.events == "on" and cfg.backend == "opensearch":
            if cfg.run_dir:
                spool_dir = Path(cfg.run_dir) / "events"
            else:  # a single process (tests, the development server): its own directory, gone at exit
                spool_dir = Path(tempfile.mkdtemp(prefix="sidecar-events-"))
                atexit.register(shutil.rmtree, spool_dir, True)
            try:
                events = EventSpool(spool_dir, lambda: make_client(cfg.opensearch_url, timeout=5.0), cfg.events_index,
                                    max_bytes=cfg.events_spool_bytes, on_accept=metrics.events_accepted.inc,
                                    on_write=metrics.events_written.inc,
                                    on_drop=lambda reason, n: metrics.events_dropped.labels(reason).inc(n),
                                    settler=Settler(cfg.decision_log_index, cfg.events_index, signer.verify))
            except OSError as exc:
                events_problem = f"events: the run dir takes no writes ({exc}); POST /events answers 503"
                log.warning("%s", events_problem)
        board = WorkerBoard(Path(cfg.run_dir) / "workers", store) if cfg.run_dir else None
        if not cfg.secret:
            log.warning("SIDECAR_SECRET is empty: page ids and experiment assignment use a random key of this "
                        "process; set it for several workers, replicas, restarts and reports")
        services = cls(cfg, backend, store, metrics, decision_log, events, board,  # type: ignore[arg-type]
                       Limits.from_config(cfg), ProxyPolicy.from_config(cfg), signer)
        services.events_problem = events_problem
        services.trusted_proxies = frozenset(a.strip() for a in cfg.trusted_proxies.split(",") if a.strip())
        if events is not None:
            # a burst of ten seconds' worth, and at least one whole request (EventsRequest's maxItems)
            services.event_buckets = TokenBuckets(cfg.events_per_client, max(cfg.events_per_client * 10, 1000))
        return services

    def start(self) -> Services:
        """Load the encoder, build the backend if none was given, and start the background work:
        the rule poller, the decision-log writer, the events' shipper, the worker board, the kernel
        warm-up, the catalog words' read; each writer flushes when the process exits. Idempotent
        (a second call returns)."""
        with self._starting:
            if self.started:
                return self
            self.started = True
        cfg = self.config
        from ..encoder import load as load_encoder

        self.encoder = load_encoder(cfg.encoder)
        if self.backend is None:
            self.backend = build_backend(cfg, self.encoder)
        self.store.start_polling(cfg.rules_poll_seconds)
        if self.decision_log is not None:
            self.decision_log.start()
            atexit.register(self.decision_log.close, 5.0)  # flush within 5 s when the worker exits (SIGTERM)
        if self.events is not None:
            self.events.start()
            atexit.register(self.events.close, 5.0)  # ship what it can when the worker exits; the rest waits
        if self.board is not None:
            self.board.start()
        os_thread(self._warm_kernels)
        beside(self._read_catalog_words)
        return self

    def _read_catalog_words(self) -> None:
        """What a search reads of the catalog besides its hits (the values of the fields the rules
        and understanding look for in a query, the title words naming a type), read when the worker
        starts, so the first shopper's search does not wait for them (the titles' scan takes a
        second or more). A failure is logged by the backend and the read is tried again by the
        first search that needs it. Later reads follow the backend's own schedule."""
        try:
            health = self.backend.health()
            if health in ("red", "unreachable"):  # one line, not a warning per field
                log.info("catalog words not read at start: the products index is %s; the first search that needs "
                         "them reads them", health)
                return
            ruleset = self.store.current
            t0 = time.perf_counter()
            for name in ruleset.catalog_fields():
                self.backend.vocabulary(name)
            if ruleset.understanding.product_type != "none":
                self.backend.type_words()
        except Exception as exc:  # noqa: BLE001 - a read a search does again; no trace on stderr
            log.warning("catalog words not read at start (%s); the first search that needs them reads them",
                        first_line(exc))
            return
        self.catalog_words_read = True
        log.info("catalog words for understanding and rules read in %.1f s", time.perf_counter() - t0)

    def _warm_kernels(self) -> None:
        from ..rerank.warmup import warm

        t0 = time.perf_counter()
        warm()
        self.kernels_ready = True
        log.info("reranking kernels ready in %.1f s", time.perf_counter() - t0)

    @property
    def encode(self) -> Callable[[str], Any] | None:
        """A query text's vector (``encode_query``), or None when there is no encoder."""
        return self.encode_query if self.encoder is not None else None

    def pieces(self, text: str) -> int:
        """How many word pieces the encoder's model reads of ``text`` (0 without an encoder)."""
        return len(self.encoder.pieces(text)) if self.encoder is not None else 0

    def encode_query(self, text: str) -> Any:
        """A query text's vector: from the encoder's cache when it has it, else computed on a
        thread of its own (the worker's event loop serves on) within what is left of the
        request's deadline. Raises BackendTimeout (a 504) when the deadline passes first."""
        ids, vector = self.encoder.lookup(text)
        if vector is not None:
            return vector
        try:
            vector = self._encoding.run(self.encoder.compute, (ids,), deadline.budget(self.config.backend_timeout))
        except TimeoutError:
            vector = None
        if vector is None:
            raise BackendTimeout("the query encoder did not finish within the request's deadline")
        return vector

    def vocabulary_of(self, index: str) -> Callable[[str], Any] | None:
        """The values of a field in ``index`` (``rerank.named``), when the products backend reads
        that index; None for another proxied index (no value is looked for in its queries)."""
        if self.config.backend == "opensearch" and index == self.config.index:
            return self.backend.vocabulary
        return None

    def opensearch(self) -> Any:
        """The OpenSearch client of /version and the experiments page, made on first use."""
        if self._client is None:
            from ..opensearch.client import make_client

            self._client = make_client(self.config.opensearch_url, timeout=self.config.backend_timeout)
        return self._client

    def proxied(self) -> Any:
        """The OpenSearch client of the proxy's routes, made on first use: answers are read up to
        SIDECAR_PROXY_MAX_RESPONSE_BYTES (``connection.ResponseTooLarge`` past it)."""
        if self._proxy_client is None:
            from ..opensearch.client import make_client

            self._proxy_client = make_client(self.config.opensearch_url, timeout=self.config.backend_timeout,
                                             max_response_bytes=self.config.proxy_max_response_bytes)
        return self._proxy_client


def services() -> Services:
    """The current app's services (inside a request or app context)."""
    return current_app.extensions["sidecar"]
