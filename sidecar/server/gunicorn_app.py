"""Serving the app with gunicorn from `sidecar serve` (workers load the app after forking, so
each has its own rule poller thread and backend connection; they share ``cfg.run_dir``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from .. import logs
from ..config import Config
from .workers import forget


class SidecarServer(BaseApplication):
    def __init__(self, cfg: Config, options: dict[str, Any] | None = None):
        self.cfg_sidecar = cfg
        self.options = {"bind": f"{cfg.host}:{cfg.port}", "workers": cfg.workers, "worker_class": "gthread",
                        "threads": 4, "timeout": 30, "graceful_timeout": 10, "accesslog": None,
                        "loglevel": cfg.log_level.lower(), "child_exit": self.child_exit,
                        "logconfig_dict": logs.gunicorn_config(cfg.log_level, cfg.log_format), **(options or {})}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def child_exit(self, server: Any, worker: Any) -> None:
        """A worker is gone: its metric gauges and its rule status go with it."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
        if self.cfg_sidecar.run_dir:
            forget(Path(self.cfg_sidecar.run_dir) / "workers", worker.pid)

    def load(self):
        from .app import create_app

        return create_app(self.cfg_sidecar)
