"""Serving the app with gunicorn from `sidecar serve` (workers load the app after forking, so
each has its own rule poller thread and backend connection)."""
from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from ..config import Config


class SidecarServer(BaseApplication):
    def __init__(self, cfg: Config, options: dict[str, Any] | None = None):
        self.cfg_sidecar = cfg
        self.options = {"bind": f"{cfg.host}:{cfg.port}", "workers": cfg.workers, "worker_class": "gthread",
                        "threads": 4, "timeout": 30, "graceful_timeout": 10, "accesslog": None,
                        "loglevel": cfg.log_level.lower(), **(options or {})}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self):
        from .app import create_app

        return create_app(self.cfg_sidecar)
