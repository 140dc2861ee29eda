"""The /inspect/experiments page: each running experiment's report, with its running estimate
drawn as inline SVG (no script, no image file). Rendered with Jinja2 like the /inspect pages, and
with their style sheet (``preview/templates/_style.html``)."""
from __future__ import annotations

from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from .report import ACTIONS


def experiments_page(**context: Any) -> str:
    """The page for ``context`` (the route's: experiments, the chosen one, its report ``out``, the
    window ``since``, an ``error``)."""
    env = Environment(loader=ChoiceLoader([PackageLoader("sidecar.experiments", "templates"),
                                           PackageLoader("sidecar.preview", "templates")]),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    out = context.get("out")
    return env.get_template("experiments.html").render(**context, actions=ACTIONS,
                                                       chart=running_svg(out) if out else "")


def running_svg(out: dict[str, Any], width: int = 640, height: int = 220) -> str:
    """The report's running estimate as inline SVG (no script, no image file): per arm the share
    of pages with a click (A/B), or the share preferring b with its Wilson band (interleaving)."""
    from html import escape

    run = out.get("running") or []
    if not run:
        return ""
    n = max(r["pages"] for r in run)
    pad = 30

    def xy(pages: int, y: float) -> str:
        return f"{pad + (width - 2 * pad) * pages / max(1, n):.1f},{height - pad - (height - 2 * pad) * y:.1f}"

    shapes = []
    if out["method"] == "interleave":
        points = [r for r in run if r["preference_b"] is not None]
        if points:
            band = [xy(r["pages"], r["high"]) for r in points] + [xy(r["pages"], r["low"]) for r in reversed(points)]
            shapes.append(f'<polygon points="{" ".join(band)}" fill="#9ecae1" opacity="0.5"/>')
            shapes.append(f'<polyline points="{" ".join(xy(r["pages"], r["preference_b"]) for r in points)}" '
                          'fill="none" stroke="#08519c" stroke-width="2"/>')
        shapes.append(f'<line x1="{pad}" x2="{width - pad}" y1="{height / 2:.1f}" y2="{height / 2:.1f}" '
                      'stroke="#999" stroke-dasharray="4"/>')
        legend = "share of preferring pages that prefer b, with its Wilson 95% band"
    else:
        for arm, colour in (("a", "#08519c"), ("b", "#d94801")):
            points = [r for r in run if r[arm] is not None]
            if points:
                shapes.append(f'<polyline points="{" ".join(xy(r["pages"], r[arm]) for r in points)}" fill="none" '
                              f'stroke="{colour}" stroke-width="2"><title>arm {arm}</title></polyline>')
        legend = "share of pages with a click: arm a (blue), arm b (orange)"
    axes = (f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#333"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#333"/>'
            f'<text x="{pad}" y="{pad - 8}" font-size="11">1</text><text x="{pad - 12}" y="{height - pad}" '
            f'font-size="11">0</text><text x="{width - pad}" y="{height - 8}" font-size="11" text-anchor="end">'
            f'{n} pages</text><text x="{width / 2:.0f}" y="{height - 8}" font-size="11" text-anchor="middle">'
            f'{escape(legend)}</text>')
    return (f'<svg id="running" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="running estimate">{axes}{"".join(shapes)}</svg>')
