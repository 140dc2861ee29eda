"""The blueprints, one module each: a new endpoint is a new module listed here."""
from __future__ import annotations

from typing import Any

from . import admin, events, experiments, inspect, ops, proxy, search

BLUEPRINTS = (search.bp, events.bp, proxy.bp, ops.bp, admin.bp, inspect.bp, experiments.bp)


def routes_only() -> Any:
    """A Flask app holding the blueprints and nothing else (no services): the routes as served,
    for the OpenAPI document without a server (``openapi.document(routes_only())``)."""
    from flask import Flask

    app = Flask("sidecar-routes")
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    return app
