"""GET /inspect/experiments: the experiments of the serving rules, and one's report as a page.

The same figures as `sidecar experiments report` (``experiments.source``), counted in the
decision log and the events index of this server's OpenSearch (the events still waiting for
their page judged first, as the command does), with the running estimate drawn
as inline SVG. Behind the admin token as /inspect is (or loopback clients when none is set).
"""
from __future__ import annotations

from flask import Blueprint, Response, request
from opensearchpy.exceptions import OpenSearchException

from ...experiments import source
from ...experiments.page import experiments_page
from ...opensearch.decision_log import since_clause
from ..auth import require_admin
from ..documented import HTML, documented
from ..services import services
from .inspect import PAGE_HEADERS

bp = Blueprint("experiments", __name__)


@bp.get("/inspect/experiments")
@documented("GET", summary="The experiments of the serving rules and one's report (HTML; admin token, or loopback "
            "clients when none is set)", ok=HTML, errors=("400", "503"))
def experiments() -> Response:
    require_admin(required=False, allow_param=True)
    s = services()
    rules = s.store.current
    ctx = {"experiments": [ex.status() for ex in rules.experiments], "name": request.args.get("name", ""),
           "since": request.args.get("since", "30d"), "token": request.args.get("token", ""), "error": None,
           "out": None, "action": request.path}
    status = 200
    if ctx["name"]:
        try:
            since_clause(ctx["since"])
            if ctx["name"] not in {ex.name for ex in rules.experiments}:
                raise ValueError(f"name: no experiment {ctx['name']!r} in the serving rules")
            if s.config.backend != "opensearch":
                raise ValueError("the report reads the decision log and the events from OpenSearch: this server "
                                 "runs the memory backend")
            ctx["out"] = source.read_report(s.opensearch(), s.config.decision_log_index, s.config.events_index,
                                            ctx["name"], ctx["since"], s.signer.verify)
        except ValueError as exc:
            ctx["error"], status = str(exc).replace("--since", "since"), 400
        except OpenSearchException as exc:  # away or refusing: the page says so, and the server serves on
            ctx["error"], status = f"OpenSearch could not be read: {type(exc).__name__}", 503
    resp = Response(experiments_page(**ctx), status=status, mimetype="text/html")
    resp.headers.update(PAGE_HEADERS)
    return resp
