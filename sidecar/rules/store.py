"""Hot reload: the live rule set, swapped whole and atomically, the last good one kept on error.

A request reads ``store.current`` once and uses that RuleSet throughout: the reference is
replaced in one assignment, so a request sees the old set or the new one, never a mix. A
background thread polls the directory's (name, mtime, size) listing; an admin call can force
a reload. A broken edit is logged, counted and kept in ``status()``; the last good set serves on.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .loader import RuleLoadError, load_rules_dir, rule_files
from .ruleset import RuleSet

log = logging.getLogger(__name__)


class RuleStore:
    def __init__(self, directory: Path, on_reload: Callable[[bool], None] | None = None):
        """Loads once now: a broken rule set at start-up raises RuleLoadError (nothing to fall back on)."""
        self.directory = Path(directory)
        self._on_reload = on_reload
        self._lock = threading.Lock()  # serialises reloads; readers never take it
        self._listing = self._scan()
        self.current: RuleSet = load_rules_dir(self.directory)
        self.loaded_at = time.time()
        self.last_error: list[str] = []
        self.last_error_at: float | None = None
        self.reloads = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        log.info("loaded %d rules from %d files in %s (version %s)", len(self.current.located),
                 len(self.current.files), self.directory, self.current.version)

    def _scan(self) -> tuple:
        try:
            return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in rule_files(self.directory))
        except OSError:
            return ()

    def reload(self) -> bool:
        """Load the directory now; swap on success, keep the last good set on failure."""
        with self._lock:
            self._listing = self._scan()
            try:
                new = load_rules_dir(self.directory)
            except RuleLoadError as exc:
                self.failures += 1
                self.last_error = [str(e) for e in exc.errors]
                self.last_error_at = time.time()
                log.error("rule reload rejected, still serving version %s:\n  %s", self.current.version,
                          "\n  ".join(self.last_error))
                if self._on_reload:
                    self._on_reload(False)
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
        self._stop.set()

    def status(self) -> dict[str, Any]:
        rs = self.current
        return {
            "directory": str(self.directory),
            "version": rs.version,
            "rules": len(rs.located),
            "files": list(rs.files),
            "default": rs.default.rule.id if rs.default else None,
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }
