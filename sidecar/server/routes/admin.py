"""/admin/rules (status) and /admin/rules/reload, behind a bearer token; under `sidecar serve`
both speak for every worker of the server (``workers.WorkerBoard``)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..auth import require_admin
from ..documented import ADMIN, documented
from ..services import services

bp = Blueprint("admin", __name__, url_prefix="/admin")


bp.before_request(require_admin)


def _with_workers(status: dict, workers: list[dict] | None) -> dict:
    if workers is None:
        return {**status, "workers": None, "consistent": True}
    return {**status, "workers": [{k: w[k] for k in ("pid", "version", "loaded_at", "reloads", "failures",
                                                   "last_error")} for w in workers],
            "consistent": len({w["version"] for w in workers}) <= 1}


@bp.get("/rules")
@documented("GET", summary="Rule status of every worker", **ADMIN)
def rules():
    s = services()
    return jsonify(_with_workers(s.store.status(), s.board.statuses() if s.board else None))


@bp.post("/rules/reload")
@documented("POST", summary="Reload the rules on every worker (422 when the files are rejected)", errors=("422",),
            **ADMIN)
def reload():
    s = services()
    if s.board is None:
        ok = s.store.reload()
        workers = None
    else:
        number = s.board.request_reload()
        ok = s.store.last_error == []
        workers = s.board.wait_for(number)
    return jsonify({"reloaded": ok, **_with_workers(s.store.status(), workers)}), (200 if ok else 422)
