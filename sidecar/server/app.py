"""The Flask app factory: builds the shared services and assembles the blueprints; it starts
nothing (no thread, no model): ``Services.start`` does, when the server starts a worker or on an
app's first request.

Routes live in ``routes/`` (one module each), request bookkeeping in ``hooks``, error bodies
in ``errors``; see those modules for the API itself and ``/openapi.json`` for its contract.
"""
from __future__ import annotations

from flask import Flask

from ..config import Config
from ..opensearch.decision_log import DecisionLogWriter
from ..retrieval import Backend
from ..rules import RuleStore
from . import errors, hooks
from .jsonio import OrjsonProvider
from .routes import BLUEPRINTS
from .services import Services


def create_app(cfg: Config | None = None, *, backend: Backend | None = None, store: RuleStore | None = None,
               decision_log: DecisionLogWriter | None = None) -> Flask:
    """The app of ``cfg`` (default: the environment and .env), with the given backend, rule store
    or decision-log writer instead of the configured ones (tests). Raises ValueError for a setting
    that does not fit, RuleLoadError for an invalid rule set without a last good one."""
    cfg = cfg or Config.load()
    app = Flask("sidecar")
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body_bytes
    app.extensions["sidecar"] = Services.build(cfg, backend=backend, store=store, decision_log=decision_log)
    errors.register(app)
    hooks.register(app)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    return app
