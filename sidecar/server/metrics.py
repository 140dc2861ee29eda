"""Prometheus metrics of one app.

In a single process they live in the app's own registry (several apps in one test process do
not collide). Under ``sidecar serve`` every gunicorn worker writes its samples to files in
``<run_dir>/metrics`` (prometheus-client's multiprocess mode, switched on by
PROMETHEUS_MULTIPROC_DIR before the workers start) and a scrape of any worker adds up all of
them, so counters never seem to go back when the scrape lands on another worker.

The run dir's disk is not trusted to have room:

- A worker reserves its sample files whole when it starts (``RESERVED_BYTES`` each, by
  ``posix_fallocate``), before prometheus-client maps them: it writes through a memory map, and
  a write to a mapped page of a full tmpfs kills the process (SIGBUS) instead of raising. A
  worker that cannot reserve them (a full or read-only run dir) keeps all its samples in its own
  memory: its scrapes add them to the files the others wrote, ``degraded`` (and /readyz) says
  why, and one log line says so. It stays so until it is replaced (``kill -HUP`` the master once
  the disk has room; a new worker reserves again). Limit: a file that outgrows its reservation
  (thousands of label sets) grows as prometheus-client grows it, unreserved.
- A dead worker's counters and histograms are added into one archive file per type by the
  gunicorn master (``merge_dead``) and its files removed, so however many workers have died
  (killed, recycled, reloaded), the files a scrape reads are the live workers' and the archives:
  scrape time and disk stay flat. A merge that cannot write (a full disk) leaves the files as
  they are and is tried again when the next worker exits. Between the archive's replacement and
  the dead file's removal (microseconds) a scrape may count that worker twice.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict

log = logging.getLogger("sidecar.http")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RESERVED_BYTES = 1 << 20  # one worker's file of one metric type: ~6,000 samples
MERGED_TYPES = ("counter", "histogram", "summary")  # summed across processes; gauges of dead ones are dropped
_WORKER_FILE = re.compile(r"^(counter|histogram|summary|gauge_[a-z]+)_(\d+)\.db$")


class Metrics:
    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        """``multiprocess_dir``: the directory of PROMETHEUS_MULTIPROC_DIR (None: this process only)."""
        self.multiprocess_dir = multiprocess_dir
        self.degraded: str | None = None  # why this worker's samples are in memory, not in the run dir
        if multiprocess_dir is not None:
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != str(multiprocess_dir):
                raise RuntimeError(f"PROMETHEUS_MULTIPROC_DIR must be {multiprocess_dir} before prometheus_client "
                                   "is imported (sidecar serve sets it)")
            try:
                for kind in MERGED_TYPES[:2]:  # the types this app's metrics write
                    reserve(multiprocess_dir / f"{kind}_{os.getpid()}.db")
            except OSError as exc:
                self.degraded = (f"metrics: the run dir takes no writes ({exc}); this worker's samples stay in its "
                                 "memory until it is replaced (kill -HUP the master once the disk has room)")
                log.warning("%s", self.degraded)
                values.ValueClass = values.MutexValue  # this process's metrics, made next, live in memory
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
        self.events_accepted = Counter("sidecar_events_accepted_total", "events answered 202 (kept in the spool)",
                                       registry=self.registry)
        self.events_refused = Counter("sidecar_events_refused_total", "events refused at the door", ["reason"],
                                      registry=self.registry)
        self.events_written = Counter("sidecar_events_written_total", "events written", registry=self.registry)

    def exposition(self) -> bytes:
        """The text format of a scrape: every worker's samples added up, or this process's (this
        worker's own added in, when they are in its memory)."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        sources: list[Any] = []
        if self.multiprocess_dir.is_dir():
            sources.append(multiprocess.MultiProcessCollector(None, path=str(self.multiprocess_dir)))
        if self.degraded is not None:
            sources.append(self.registry)
        registry = CollectorRegistry()
        registry.register(_Summed(sources))
        return generate_latest(registry)


class _Summed:
    """The metric families of several sources as one collector, samples with the same name and
    labels added up (``_created`` samples left out: the files have none)."""

    def __init__(self, sources: list[Any]):
        self.sources = sources

    def collect(self) -> list[Metric]:
        families: dict[str, tuple[Metric, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
        for source in self.sources:
            for family in source.collect():
                _, sums = families.setdefault(family.name, (family, {}))
                for sample in family.samples:
                    if sample.name.endswith("_created"):
                        continue
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    sums[key] = sums.get(key, 0.0) + sample.value
        out = []
        for family, sums in families.values():
            merged = Metric(family.name, family.documentation, family.type)
            for (name, labels), value in sums.items():
                merged.add_sample(name, dict(labels), value)
            out.append(merged)
        return out


def reserve(path: Path, size: int = RESERVED_BYTES) -> None:
    """``path`` exists with ``size`` bytes allocated on disk (not a sparse file), or OSError
    (and no partial file left)."""
    if path.exists():
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def merge_dead(directory: Path, live: set[int]) -> int:
    """Add the samples of every process not in ``live`` into ``<type>_archive.db`` and remove
    its files (gauges of dead processes are dropped, as prometheus-client's
    ``mark_process_dead`` does); returns how many files were merged. OSError (a full or read-only
    disk) leaves the remaining files for the next call."""
    merged = 0
    for path in sorted(directory.glob("*.db")):
        match = _WORKER_FILE.match(path.name)
        if match is None or int(match.group(2)) in live:
            continue
        kind = match.group(1)
        if kind in MERGED_TYPES:
            _add_into(directory / f"{kind}_archive.db", path)
        path.unlink(missing_ok=True)
        merged += 1
    return merged


def _add_into(archive: Path, dead: Path) -> None:
    """``archive`` replaced by itself plus ``dead``'s samples (written whole to a reserved
    temporary file, then renamed over it)."""
    totals: dict[str, list[float]] = {}
    for source in (archive, dead):
        if source.exists() and source.stat().st_size:
            for key, value, stamp, _ in MmapedDict.read_all_values_from_file(str(source)):
                entry = totals.setdefault(key, [0.0, 0.0])
                entry[0] += value
                entry[1] = max(entry[1], stamp)
    need = 8 + sum(4 + len(k.encode()) + (8 - (len(k.encode()) + 4) % 8) + 16 for k in totals)
    tmp = archive.with_name(f".{archive.name}.tmp")
    tmp.unlink(missing_ok=True)
    reserve(tmp, max(need, 4096))
    try:
        out = MmapedDict(str(tmp))
        try:
            for key, (value, stamp) in totals.items():
                out.write_value(key, value, stamp)
        finally:
            out.close()
        os.replace(tmp, archive)
    finally:
        tmp.unlink(missing_ok=True)
