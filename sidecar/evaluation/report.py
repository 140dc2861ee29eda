"""report.json, the terminal table, and the trade-off plot."""
from __future__ import annotations

from pathlib import Path
from typing import Any

TABLE_COLUMNS = ("ndcg@{k}", "mrr", "recall@{k}", "map", "distinct_brands", "max_brand_share", "max_seller_share",
                 "ild", "category_spread", "near_dup_pairs", "rerank_p50_ms")

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["strategies", "config"],
    "properties": {
        "config": {"type": "object", "required": ["queries", "mode", "k", "backend", "rules"]},
        "strategies": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["mrr", "map", "distinct_brands", "max_brand_share", "max_seller_share", "ild",
                             "category_spread", "near_dup_pairs", "constraint_satisfaction", "rerank_p50_ms",
                             "rerank_p99_ms", "queries"],
                "properties": {
                    "constraint_satisfaction": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}},
                    "max_brand_share": {"type": "number", "minimum": 0, "maximum": 1},
                    "max_seller_share": {"type": "number", "minimum": 0, "maximum": 1},
                    "near_dup_pairs": {"type": "number", "minimum": 0},
                    "ild": {"type": ["number", "null"]},
                },
                "patternProperties": {r"^(ndcg|recall|precision)@\d+$": {"type": "number", "minimum": 0, "maximum": 1}},
            },
        },
        "sweep": {"type": "object"},
    },
}


def table(strategies: dict[str, dict[str, Any]], k: int) -> str:
    cols = [c.format(k=k) for c in TABLE_COLUMNS]
    width = max(len(n) for n in strategies) + 2
    head = "strategy".ljust(width) + "".join(c.rjust(max(9, len(c) + 2)) for c in cols)
    lines = [head, "-" * len(head)]
    for name, m in strategies.items():
        cells = []
        for c in cols:
            v = m.get(c)
            cells.append(("-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))).rjust(max(9, len(c) + 2)))
        lines.append(name.ljust(width) + "".join(cells))
    labels = sorted({label for m in strategies.values() for label in m["constraint_satisfaction"]})
    if labels:
        lines += ["", "constraint satisfaction (share of pages where it holds at K, among pages where it was feasible):"]
        for label in labels:
            vals = "  ".join(f"{name}=" + (f"{m['constraint_satisfaction'][label]:.2f}" if label in m["constraint_satisfaction"] else "-")
                             for name, m in strategies.items())
            pages = next((m["constraint_feasible_pages"][label] for m in strategies.values()
                          if label in m.get("constraint_feasible_pages", {})), None)
            lines.append(f"  {label}" + (f" ({pages} feasible pages)" if pages is not None else "") + f": {vals}")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    """Relevance (nDCG@K) against diversity (ILD and near-duplicate pairs) for strategies and the sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = report["config"]["k"]
    key = f"ndcg@{k}"
    strategies = report["strategies"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, (metric, label) in zip(axes, (("near_dup_pairs", "near-duplicate pairs per page (lower is better)"),
                                          ("max_brand_share", "largest brand's share of the page (lower is better)"))):
        sweep = {n: m for n, m in strategies.items() if n.startswith("rules[")}
        plain = {n: m for n, m in strategies.items() if n not in sweep}
        for name, m in plain.items():
            ax.scatter(m[metric], m[key], s=60, zorder=3)
            ax.annotate(name, (m[metric], m[key]), textcoords="offset points", xytext=(6, 4), fontsize=9)
        if sweep:
            xs = [m[metric] for m in sweep.values()]
            ys = [m[key] for m in sweep.values()]
            ax.plot(xs, ys, "-o", color="grey", alpha=0.7, zorder=2, label=f"sweep of {report['sweep']['param']}")
            # one label per cluster: sweep points closer than 3% of the axis spans share it
            every = list(strategies.values())
            span_x = (max(m[metric] for m in every) - min(m[metric] for m in every)) or 1.0
            span_y = (max(m[key] for m in every) - min(m[key] for m in every)) or 1.0
            at: dict[tuple[float, float], list[str]] = {}
            for name, x, y in zip(sweep, xs, ys):
                near = next((p for p in at if abs(p[0] - x) < 0.03 * span_x and abs(p[1] - y) < 0.03 * span_y), (x, y))
                at.setdefault(near, []).append(name.split("[", 1)[1].rstrip("]"))
            for (x, y), names in at.items():
                param = names[0].split("=", 1)[0]
                text = f"{param}=" + ", ".join(n.split("=", 1)[1] for n in names)
                ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, -12), fontsize=8, color="grey")
            ax.legend(loc="lower right")
        ax.set_xlabel(label)
        ax.set_ylabel(f"nDCG@{k}")
        ax.grid(alpha=0.3)
    cfg = report["config"]
    fig.suptitle(f"Relevance vs diversity: {cfg['queries']} queries, {cfg['mode']} mode, K={k}, backend {cfg['backend']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
