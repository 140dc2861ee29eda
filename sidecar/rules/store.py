"""Hot reload: the live rule set, swapped whole and atomically, the last good one kept on error.

A request reads ``store.current`` once and uses that RuleSet throughout: the reference is
replaced in one assignment, so a request sees the old set or the new one, never a mix. A
background thread polls the directory's (name, mtime, size) listing; an admin call can force
a reload. A broken edit is logged, counted and kept in ``status()``; the last good set serves on.
A reload parses on a real thread (``threads.offload``), so a huge rule set never stops a gevent
worker's other requests.

With a ``snapshot`` path (a file in the server's run dir), every good set's texts are written
there, and a store whose directory is broken when it starts (a worker that replaces a dead one
while a bad edit is on disk) starts from that last good set instead of failing: a rejected file
is reported, never fatal.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..threads import offload, real_lock
from .loader import RuleLoadError, load_rules_dir, read_sources, rule_files
from .ruleset import RuleSet

log = logging.getLogger(__name__)


class RuleStore:
    """The rule set a process serves, swapped atomically on reload: readers never lock and never
    see a half-loaded set; a rejected reload keeps the last good set and records why."""
    def __init__(self, directory: Path, on_reload: Callable[[bool], None] | None = None,
                 snapshot: Path | None = None):
        """Loads once now. A broken rule set raises RuleLoadError, unless ``snapshot`` holds a
        last good set: then that serves, and the errors are in ``status()`` as a failed reload."""
        self.directory = Path(directory)
        self.snapshot = Path(snapshot) if snapshot else None
        self._on_reload = on_reload
        self._lock = real_lock()  # serialises reloads (run on real threads); readers never take it
        self._listing = self._scan()
        self.last_error: list[str] = []
        self.last_error_at: float | None = None
        self.reloads = 0
        self.failures = 0
        try:
            self.current: RuleSet = self._load()
        except RuleLoadError as exc:
            fallback = self._from_snapshot()
            if fallback is None:
                raise
            self.current = fallback
            self._rejected(exc)
        self.loaded_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        log.info("loaded %d rules from %d files in %s (version %s)", len(self.current.located),
                 len(self.current.files), self.directory, self.current.version)

    def _scan(self) -> tuple:
        """The rule files' names and stamps, the experiments' arm directories' too: an edit of
        either is a change to reload."""
        current = getattr(self, "current", None)
        listing = []
        for directory in (self.directory, *(Path(d) for d in (current.watched if current else ()))):
            try:
                listing.append(tuple((p.name, *_stamp(p)) for p in rule_files(directory)))
            except OSError:
                listing.append(())
        return tuple(listing)

    def _load(self) -> RuleSet:
        """The directory's rule set; the snapshot (if any) gets its texts."""
        files, texts, errors = read_sources(self.directory)
        if errors:
            raise RuleLoadError(errors)
        rs = load_rules_dir(self.directory, (files, texts))
        if self.snapshot is not None:
            try:
                tmp = self.snapshot.with_name(f".{self.snapshot.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"version": rs.version, "files": {p.name: t for p, t in zip(files, texts)}}),
                               encoding="utf-8")
                os.replace(tmp, self.snapshot)
            except OSError as exc:
                log.warning("could not keep the last good rule set in %s: %s", self.snapshot, exc)
        return rs

    def _from_snapshot(self) -> RuleSet | None:
        if self.snapshot is None:
            return None
        try:
            saved = json.loads(self.snapshot.read_text(encoding="utf-8"))["files"]
            names = sorted(saved)
            rs = load_rules_dir(self.directory, ([self.directory / n for n in names], [saved[n] for n in names]))
        except (OSError, ValueError, KeyError, TypeError, RuleLoadError):
            return None
        log.warning("rules in %s are rejected; starting from the last good set (version %s)", self.directory, rs.version)
        return rs

    def _rejected(self, exc: RuleLoadError) -> None:
        self.failures += 1
        self.last_error = [str(e) for e in exc.errors]
        self.last_error_at = time.time()
        log.error("rule reload rejected, still serving version %s: %s", self.current.version, "; ".join(self.last_error))
        if self._on_reload:
            self._on_reload(False)

    def reload(self) -> bool:
        """Load the directory now; swap on success, keep the last good set on failure. The work
        runs on a real thread (``offload``): a huge rule set never stops a worker's requests."""
        return offload(self._reload)

    def _reload(self) -> bool:
        with self._lock:
            self._listing = self._scan()
            try:
                new = self._load()
            except RuleLoadError as exc:
                self._rejected(exc)
                return False
            changed = new.version != self.current.version
            self.current = new  # the atomic swap
            self.loaded_at = time.time()
            self.last_error = []
            self.reloads += 1
            if changed:
                log.info("rules reloaded: %d rules, version %s", len(new.located), new.version)
            if self._on_reload:
                self._on_reload(True)
            return True

    def poll_once(self) -> bool | None:
        """Reload if the listing changed since the last look; None when nothing changed."""
        if self._scan() == self._listing:
            return None
        return self.reload()

    def start_polling(self, interval: float) -> None:
        """Reload on a thread whenever the directory's listing changes, every ``interval`` seconds
        (0: never); once per store."""
        if self._thread is not None or interval <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.poll_once()
                except Exception:  # noqa: BLE001 - the poller must survive anything
                    log.exception("rule poller failed; will retry")

        self._thread = threading.Thread(target=loop, name="rule-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (a reload in progress finishes)."""
        self._stop.set()

    def status(self) -> dict[str, Any]:
        """The served version, its files and experiments, reload and failure counts, the last errors."""
        rs = self.current
        return {
            "directory": str(self.directory),
            "version": rs.version,
            "rules": len(rs.located),
            "files": list(rs.files),
            "default": rs.default.rule.id if rs.default else None,
            "experiments": [ex.status() for ex in rs.experiments],
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


def snapshot_path(run_dir: str | None) -> Path | None:
    """Where the workers of one server keep their last good rule set (a worker booting while a
    bad edit is on disk starts from it): a file in the server's run dir."""
    return Path(run_dir) / "rules.good.json" if run_dir else None


def _stamp(path: Path) -> tuple[int, int]:
    """(mtime, size) of what a listed name is now, a dangling link included."""
    st = path.lstat() if not path.exists() else path.stat()
    return st.st_mtime_ns, st.st_size

