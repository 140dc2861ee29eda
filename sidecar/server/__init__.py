"""The HTTP service: Flask app factory, proxy, metrics, gunicorn runner.

``create_app`` is imported on first use: `sidecar serve` imports the gunicorn runner in the
master process, which must not load the OpenSearch client (urllib3, ssl) before the gevent
workers patch the socket modules.
"""
from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
