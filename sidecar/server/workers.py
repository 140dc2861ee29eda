"""What the gunicorn workers of one server know of each other, through files in the run dir.

Each worker publishes its rule status (pid, version, reloads, last error) in
``<run_dir>/workers/<pid>.json``; an admin reload on any worker bumps ``reload.request`` and
every worker's sync thread reloads on seeing the new number, so /admin/rules and
/admin/rules/reload speak for the whole server, not for whichever worker took the call.

A run dir that takes no writes (full, read-only) does not stop a worker: its status is not
published (``degraded`` says why, in one log line and /readyz), a reload asked of it reloads
this worker only, and it publishes again once the disk takes writes.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..rules import RuleStore

log = logging.getLogger(__name__)
SYNC_SECONDS = 0.25


class WorkerBoard:
    def __init__(self, directory: Path, store: RuleStore):
        self.directory = Path(directory)
        self.store = store
        self.pid = os.getpid()
        self.degraded: str | None = None  # why this worker's status is not published
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._degrade(exc)
        self.seen = self._request()  # the reload request this worker has acted on
        self._stop = threading.Event()

    def start(self) -> None:
        self.publish()
        threading.Thread(target=self._loop, name="worker-sync", daemon=True).start()

    def _degrade(self, exc: OSError) -> None:
        if self.degraded is None:
            self.degraded = (f"worker board: the run dir takes no writes ({exc}); reloads reach this worker only "
                             "until it does")
            log.warning("%s", self.degraded)

    def _recovered(self) -> None:
        if self.degraded is not None:
            self.degraded = None
            log.warning("worker board: the run dir takes writes again; this worker's status is published")

    def _request(self) -> int:
        try:
            return int((self.directory / "reload.request").read_text() or 0)
        except (OSError, ValueError):
            return 0

    def publish(self) -> bool:
        """This worker's status, written whole (write + rename), so readers never see half;
        False when the run dir takes no writes."""
        status = {"pid": self.pid, "reload_request": self.seen, **self.store.status()}
        tmp = self.directory / f".{self.pid}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(status), encoding="utf-8")
            os.replace(tmp, self.directory / f"{self.pid}.json")
        except OSError as exc:
            _remove(tmp)
            self._degrade(exc)
            return False
        self._recovered()
        return True

    def _loop(self) -> None:
        published = None
        while not self._stop.wait(SYNC_SECONDS):
            try:
                wanted = self._request()
                if wanted > self.seen:  # numbers only grow; one this worker claimed is not acted on twice
                    self.seen = wanted
                    self.store.reload()
                state = (self.seen, self.store.current.version, self.store.reloads, self.store.failures)
                if state != published and self.publish():
                    published = state
            except Exception:  # noqa: BLE001 - the sync thread must survive anything
                log.exception("worker sync failed; will retry")

    def request_reload(self) -> int:
        """Ask every worker to reload (this one does it now); returns the request's number."""
        path = self.directory / "reload.request"
        number = max(self._request(), self.seen) + 1
        self.seen = number  # claimed before it is published: this worker's sync loop leaves it alone
        tmp = self.directory / f".reload.{self.pid}.tmp"
        try:
            tmp.write_text(str(number), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            self._degrade(exc)
        self.store.reload()
        self.publish()
        return number

    def statuses(self) -> list[dict[str, Any]]:
        """The published status of every live worker, by pid."""
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                status = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if alive(int(status["pid"])):
                out.append(status)
            else:
                path.unlink(missing_ok=True)
        return out

    def wait_for(self, number: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The statuses once every live worker acted on reload request ``number`` (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.statuses()
            if all(s["reload_request"] >= number for s in statuses) or time.monotonic() > deadline:
                return statuses
            time.sleep(SYNC_SECONDS / 2)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget(directory: Path, pid: int) -> None:
    """Called by the gunicorn master when a worker exits."""
    (Path(directory) / f"{pid}.json").unlink(missing_ok=True)
