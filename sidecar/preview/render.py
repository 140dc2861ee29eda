"""Comparisons as HTML: the /inspect page and the `sidecar rules diff --html` report render the
same template of one comparison (``templates/_comparison.html``), server-side, with Jinja2 (it
comes with Flask): no JavaScript build chain, and a report file opens anywhere."""
from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..rerank.strategies import STRATEGIES
from .compare import Comparison

SHOWN_FIELDS = ("brand", "seller", "condition", "price")


def environment() -> Environment:
    """A fresh Jinja2 environment over the package's templates (made per render: a page is
    rendered for people, not on the search path, and nothing is kept between calls)."""
    env = Environment(loader=PackageLoader("sidecar.preview", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    orders = {k: s for k, s in STRATEGIES.items() if s.value_name}  # base orders that explain their picks
    env.globals.update(shown=SHOWN_FIELDS, view=view, orders=orders)
    return env


def view(c: Comparison) -> dict[str, Any]:
    """What the template shows of a comparison: both columns, each item with its fields, why it
    is there, its move, and whether the right side collapsed it as a near-duplicate."""
    before_pos = {i: r for r, i in enumerate(c.before.ids, start=1)}
    collapsed = set((c.after.dedup or {}).get("collapsed", []))
    left = [{"id": i, "rank": r, "fields": c.sources.get(i, {}), "collapsed": i in collapsed,
             "gone": i not in set(c.after.ids)} for r, i in enumerate(c.before.ids, start=1)]
    right = []
    for r, p in enumerate(c.after.placed, start=1):
        was = before_pos.get(p["id"])
        move = "new" if was is None else ("=" if was == r else (f"↑{was - r}" if was > r else f"↓{r - was}"))
        right.append({"id": p["id"], "rank": r, "fields": c.sources.get(p["id"], {}), "move": move,
                      "reason": p.get("reason") or {"type": "retrieval"}, "original_rank": p.get("original_rank")})
    return {"left": left, "right": right, "json": c.to_json()}


def inspect_page(**context: Any) -> str:
    return environment().get_template("inspect.html").render(**context)


def report_page(report: dict[str, Any], comparisons: list[Comparison], title: str) -> str:
    return environment().get_template("report.html").render(report=report, comparisons=comparisons, title=title)
