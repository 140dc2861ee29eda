"""GET|POST /inspect: the SRP inspector, a server-rendered page for merchandisers.

Type a query (optionally filters, a rule id, a pasted draft rule file, `like` for a kNN page):
the page shows retrieval order and the reranked page side by side, why each item is where it
is, how it moved, near-duplicates collapsed, and each constraint's share before and after. A
query in the URL (``/inspect?q=...``) makes a page that can be linked. Behind the admin token
when one is configured (a browser passes it as the ``token`` parameter).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from flask import Blueprint, Response, request

from ...search.pipeline import default_mode
from ...preview.compare import Comparison
from ...preview.render import inspect_page
from ...preview.replay import compare_query, encoded_text
from ...preview.sources import ReplayQuery
from ...retrieval import NotFound
from ...retrieval.filters import validate_filters
from ...rules import check_draft
from ...threads import offload
from ..auth import require_admin
from ..documented import HTML, documented
from ..services import Services, services

bp = Blueprint("inspect", __name__)
MODES = ("as /search", "bm25", "knn", "hybrid")  # the first: what /search does with the same request
# the page's token travels in its URL and form: nothing may frame it, cache it, script it or
# send its address on (server-rendered, inline CSS, no JavaScript)
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@bp.route("/inspect", methods=["GET", "POST"])
@documented("GET", "POST", summary="The SRP inspector: an HTML page comparing retrieval order and the reranked page "
            "(admin token, or loopback clients when none is set)", ok=HTML, errors=("400",))
def inspect() -> Response:
    require_admin(required=False, allow_param=True)
    s = services()
    form = request.values
    ctx = {"q": form.get("q", ""), "filters": form.get("filters", ""), "mode": form.get("mode", MODES[0]),
           "rule": form.get("rule", ""), "draft": form.get("draft", ""), "k": form.get("k", "10"),
           "like": form.get("like", ""), "token": form.get("token", ""), "modes": MODES, "action": request.path,
           "used_mode": None, "rejected": s.store.last_error, "version": s.store.current.version,
           "error": None, "result": None}
    if ctx["q"] or ctx["like"]:
        try:
            ctx["result"] = _compare(s, ctx)
        except ValueError as exc:
            ctx["error"] = str(exc)
    status = 400 if ctx["error"] else 200
    resp = Response(inspect_page(**ctx), status=status, mimetype="text/html")
    resp.headers.update(PAGE_HEADERS)
    return resp


def _compare(s: Services, ctx: dict) -> Comparison:
    try:
        k = int(ctx["k"])
    except ValueError:
        raise ValueError(f"page size: not a number: {ctx['k']!r}") from None
    if not 1 <= k <= 100:
        raise ValueError("page size: between 1 and 100")
    try:
        filters = json.loads(ctx["filters"]) if ctx["filters"].strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"filters: not JSON: {exc}") from None
    if not isinstance(filters, dict):
        raise ValueError("filters: a JSON object, as in /search")
    s.limits.check_query(ctx["q"])
    if ctx["mode"] not in MODES:
        raise ValueError(f"mode: one of {', '.join(MODES)}")
    rule = ctx["rule"].strip() or None
    if ctx["draft"].strip():
        located, errors = offload(check_draft, ctx["draft"].replace("\r\n", "\n"))
        if errors:
            raise ValueError("the draft rule file has errors:\n" + "\n".join(map(str, errors)))
        if not located:
            raise ValueError("the draft rule file has no rule")
        rule = located[0].rule
        s.limits.check_rule(rule.raw, "draft")  # a draft is a client's rule: the same bounds
    vector = None
    if ctx["like"].strip():
        try:
            vector = s.backend.vector_of(ctx["like"].strip())
        except NotFound as exc:
            raise ValueError(f"like: no product with a vector: {exc}") from None
    asked = ctx["mode"]
    if asked == MODES[0]:  # what /search would do with this request
        asked = default_mode(vector is not None, bool(ctx["q"].strip()), s.encode is not None, s.backend)
    if vector is None and asked != "bm25" and ctx["q"].strip() and s.encode is not None:
        text = encoded_text(s.backend, s.store.current, ctx["q"], validate_filters(filters), rule, s.encode)
        vector = s.encode(text)  # the words as the rules read them, embedded as /search embeds them
    mode = "bm25" if vector is None else ("knn" if asked == "bm25" or not ctx["q"] else asked)
    ctx["used_mode"] = mode
    return compare_query(s.backend, None, s.store.current, ReplayQuery(ctx["q"], filters, vector=vector), k=k,
                         mode=mode, max_window=s.config.max_window, now=datetime.now(timezone.utc), rule=rule,
                         max_pairs=s.limits.dedup_pairs, embed=s.encode)
