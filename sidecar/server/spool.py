"""Accepted events kept on disk before the 202, and shipped to OpenSearch from there.

``append`` writes a request's events to this worker's spool file in the run dir
(``events/<pid>-<token>.spool``, one JSON line each, one ``write`` per request) before POST
/events answers 202: the kernel holds them from then on, so a worker that is SIGKILLed or
recycled (a reload) loses none. A shipper thread bulk-indexes the spool's lines in order and
keeps its place in ``<spool>.offset``; each event's ``_id`` is the spool's token and the line's
offset, so a bulk sent again (after a timeout, or by another worker) overwrites instead of
doubling. With a ``settler`` (the server's), each batch is judged before it is indexed
(``experiments.settle``: one search of the decision log a batch, the credits of the events on
pages) and every event stored with its verdict; a batch judged twice gets the same verdicts. A
spool whose worker is dead is claimed (renamed, atomically: one claimant) and shipped
by whichever worker runs next. A fully shipped spool over ``ROTATE_BYTES`` is replaced by a
fresh one and removed.

Counting: ``accepted`` is what got a 202; ``written`` what OpenSearch created (an ``updated``
answer is an event sent again: not counted twice); ``dropped`` what OpenSearch refused item by
item (the door refuses the shapes it would). A bulk OpenSearch does not answer is retried, with
backoff, until it does: nothing is ``unknown`` any more. So, once the spool is shipped,
``written + dropped == accepted`` over the server's workers (tests/test_events_spool.py).

Bounds: a worker's unshipped bytes are at most ``max_bytes``; past that (OpenSearch away for
long) ``append`` raises ``SpoolFull`` and the door answers 503, never a silent drop. A run dir
that takes no writes is a 503 too. Not guaranteed: surviving a crash of the machine (no fsync;
the kernel's page cache holds what a killed process wrote).
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ..experiments.settle import Settler
from ..logs import first_line
from ..opensearch.decision_log import put_template
from ..threads import real_lock
from .workers import alive

log = logging.getLogger(__name__)
ROTATE_BYTES = 1 << 20
_NAME = re.compile(r"^(\d+)-([0-9a-f]{16})\.(spool|claimed)$")


class SpoolFull(RuntimeError):
    """The worker's spool holds ``max_bytes`` not yet shipped (or its disk takes no writes)."""


class EventSpool:
    def __init__(self, directory: Path, client_factory: Callable[[], Any], index: str, *,
                 max_bytes: int = 64 << 20, batch_size: int = 500, template: str = "ubi-events-template.json",
                 on_write: Callable[[int], None] | None = None, on_drop: Callable[[str, int], None] | None = None,
                 on_accept: Callable[[int], None] | None = None, retry_max: float = 10.0,
                 settler: Settler | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.client_factory = client_factory
        self.index = index
        self.max_bytes = max_bytes
        self.batch_size = batch_size
        self.template = template
        self.retry_max = retry_max
        self.settler = settler
        self._on_write = on_write or (lambda n: None)
        self._on_drop = on_drop or (lambda reason, n: None)
        self._on_accept = on_accept or (lambda n: None)
        self.accepted = self.written = self.dropped = 0
        self._lock = real_lock()  # appends (greenlets) and rotation (the shipper)
        self._client: Any = None
        self._template_ok = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._open()
        self._thread = threading.Thread(target=self._run, name="events-shipper", daemon=True)

    def start(self) -> EventSpool:
        """Start the shipper (events accepted before wait in the spool); idempotent."""
        if self._thread.ident is None:
            self._thread.start()
        return self

    # --- the door's side ---------------------------------------------------------------------
    def _open(self) -> None:
        self.token = os.urandom(8).hex()
        self.path = self.directory / f"{os.getpid()}-{self.token}.spool"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = 0
        self.shipped = 0

    def append(self, records: list[dict[str, Any]]) -> None:
        """Keep ``records`` (before the 202). SpoolFull when over the bound or the disk refuses."""
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        with self._lock:
            if self.size - self.shipped + len(data) > self.max_bytes:
                raise SpoolFull(f"{self.size - self.shipped} bytes of events wait for OpenSearch (the bound is "
                                f"{self.max_bytes})")
            try:
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(28, "short write")
            except OSError as exc:
                os.ftruncate(self._fd, self.size)  # no half line is left behind
                raise SpoolFull(f"the run dir takes no writes ({exc})") from None
            self.size += len(data)
        self.accepted += len(records)
        self._on_accept(len(records))
        self._wake.set()

    def pending(self) -> int:
        """Bytes of this worker's spool not shipped yet."""
        return self.size - self.shipped

    # --- the shipper's side --------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                moved = self._ship_own() + self._ship_orphans()
                backoff = 0.5
            except Exception as exc:  # noqa: BLE001 - OpenSearch away or refusing: retried later
                log.warning("events: shipping paused (%s: %s); retrying in %.1f s", type(exc).__name__,
                            first_line(exc), backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.retry_max)
                continue
            if not moved:
                self._wake.wait(0.5)
                self._wake.clear()

    def _ship_own(self) -> int:
        with self._lock:
            end = self.size
        if end == self.shipped:
            self._rotate_if_done()
            return 0
        self._ship_file(self.path, self.token, self.shipped, end, own=True)
        self._rotate_if_done()
        return 1

    def _rotate_if_done(self) -> None:
        with self._lock:
            if self.size == self.shipped and self.size >= ROTATE_BYTES:
                old_fd, old = self._fd, self.path
                self._open()
                os.close(old_fd)
                for path in (old, old.with_name(old.name + ".offset")):
                    path.unlink(missing_ok=True)

    def _ship_orphans(self) -> int:
        """Spools of dead workers: claimed by renaming (one claimant wins), shipped, removed; a
        claimed one this worker could not finish (OpenSearch went away) is resumed where it got to."""
        moved = 0
        for path in sorted(self.directory.iterdir()):
            m = _NAME.match(path.name)
            if m is None:
                continue
            owner, token, kind = int(m.group(1)), m.group(2), m.group(3)
            if owner == os.getpid():
                if kind == "spool":
                    continue  # this worker's own: _ship_own
                claimed = path
            elif alive(owner):
                continue  # its worker (or the worker that claimed it) ships it
            else:
                claimed = self.directory / f"{os.getpid()}-{token}.claimed"
                try:
                    os.rename(path, claimed)
                except FileNotFoundError:
                    continue  # another worker claimed it first
                old = path.with_name(path.name + ".offset")
                _write_offset(claimed.with_name(claimed.name + ".offset"), _read_offset(old))
                old.unlink(missing_ok=True)
            start = _read_offset(claimed.with_name(claimed.name + ".offset"))
            self._ship_file(claimed, token, start, claimed.stat().st_size)
            claimed.unlink(missing_ok=True)
            claimed.with_name(claimed.name + ".offset").unlink(missing_ok=True)
            moved += 1
        return moved

    def _ship_file(self, path: Path, token: str, start: int, end: int, own: bool = False) -> int:
        """Index the lines of ``path`` from ``start`` to ``end``; returns where it got to (kept
        batch by batch in its offset file, and in ``shipped`` for this worker's ``own`` spool)."""
        with open(path, "rb") as f:
            f.seek(start)
            position = start
            partial = False
            while position < end and not partial and not self._stop.is_set():
                lines, offsets = [], []
                while len(lines) < self.batch_size and position < end:
                    line = f.readline()
                    if not line.endswith(b"\n"):  # never acknowledged: its write did not finish
                        partial = True
                        break
                    offsets.append(position)
                    lines.append(line)
                    position += len(line)
                if not lines:
                    break
                self._bulk(token, offsets, lines)
                _write_offset(path.with_name(path.name + ".offset"), position)
                if own:
                    self.shipped = position
        return position

    def _bulk(self, token: str, offsets: list[int], lines: list[bytes]) -> None:
        if self._client is None:
            self._client = self.client_factory()
        if not self._template_ok:
            put_template(self._client, self.template, self.index, self.index)
            if self.settler is not None:
                self.settler.prepare(self._client)
            self._template_ok = True
        keys = [f"{token}-{offset}" for offset in offsets]
        if self.settler is not None:  # each event judged once, as it is stored (experiments.settle)
            events = [orjson.loads(line) for line in lines]
            for event, settled in zip(events, self.settler.settle(self._client, list(zip(keys, events)),
                                                                  now=time.time())):
                if settled is not None:
                    event["settled"] = settled
            lines = [orjson.dumps(event) for event in events]
        body = []
        for key, line in zip(keys, lines):
            body.append(orjson.dumps({"index": {"_index": self.index, "_id": key}}))
            body.append(line.rstrip(b"\n"))
        resp = self._client.bulk(body=(b"\n".join(body) + b"\n").decode("utf-8"))
        created = failed = 0
        for item in resp.get("items", []):
            result = item.get("index", {})
            if result.get("error"):
                failed += 1
            elif result.get("result") == "created":
                created += 1
        self.written += created
        self._on_write(created)
        if failed:
            self.dropped += failed
            self._on_drop("backend", failed)
            log.warning("events: OpenSearch refused %d event(s) of a bulk of %d", failed, len(lines))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until this worker's spool is shipped (or the timeout; not started: no wait)."""
        if self._thread.ident is None:
            return self.pending() == 0
        deadline = time.monotonic() + timeout
        self._wake.set()
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            time.sleep(0.05)
        return self.pending() == 0

    def close(self, deadline: float = 5.0) -> None:
        """Ship what it can within ``deadline``, then stop; the rest stays in the spool for the
        next worker."""
        self.flush(deadline)
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=max(0.1, deadline / 5))


def _read_offset(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return 0


def _write_offset(path: Path, offset: int) -> None:
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, path)
    except OSError:
        pass  # without it a restart sends again: the same ids, overwritten, not doubled
