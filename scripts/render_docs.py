"""Render the generated parts of README.md and docs/*.md between their markers: the configuration
table (from sidecar.config.SETTINGS), the rule reference (from sidecar/schema/rules.schema.json)
and the tables of benchmark figures (from the bench/results/*.json their scripts write).

    python scripts/render_docs.py          # rewrite README.md and docs/*.md
    python scripts/render_docs.py --check  # exit 1 if one is out of date (used by the tests)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.config import SETTINGS  # noqa: E402
from sidecar.rerank import properties  # noqa: E402
from sidecar.rerank.strategies import ORDER_KEYS  # noqa: E402
from sidecar.rules.loader import schema  # noqa: E402


def config_table() -> str:
    rows = ["| variable | `sidecar serve` flag | values | default | meaning |", "| --- | --- | --- | --- | --- |"]
    flags = {"backend": "--backend", "catalog": "--catalog", "vectors": "--vectors", "rules": "--rules",
             "opensearch_url": "--url", "index": "--index", "host": "--host", "port": "--port", "workers": "--workers"}
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default != "" else "(empty)"
        if s.choices:
            values = " or ".join(f"`{c}`" for c in s.choices)
        else:
            values = s.kind.__name__ + (f" >= {s.lo:g}" if s.lo is not None and s.hi is None else "") + \
                (f" in [{s.lo:g}, {s.hi:g}]" if s.lo is not None and s.hi is not None else "")
        rows.append(f"| `{s.env}` | {('`' + flags[s.name] + '`') if s.name in flags else ''} | {values} | {default} | "
                    f"{s.help} |")
    return "\n".join(rows)


def _type(spec: dict, defs: dict) -> str:
    if "$ref" in spec:
        name = spec["$ref"].split("/")[-1]
        return {"fraction": "number in (0, 1]", "scalar": "string, number or boolean", "order": "object"}.get(name, name)
    if "enum" in spec:
        return " or ".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    t = spec.get("type", "")
    if t == "array":
        return f"list of {_type(spec.get('items', {}), defs)}"
    if isinstance(t, list):
        return " or ".join(t)
    bounds = []
    for key, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<=")):
        if key in spec:
            bounds.append(f"{sym} {spec[key]}")
    return t + (f" ({', '.join(bounds)})" if bounds else "")


def rule_reference() -> str:
    s = schema()
    defs = s["$defs"]
    out = []
    sections = [("rule (an item of `rules:`)", defs["rule"]["properties"]), ("`match`", defs["match"]["properties"]),
                (f"{', '.join(f'`{k}`' for k in ORDER_KEYS[:-1])} and `{ORDER_KEYS[-1]}` (the base order: at most one "
                 "of them)",
                 defs["order"]["properties"]),
                ("`dedup`", defs["rule"]["properties"]["dedup"]["properties"]),
                ("`fusion` (hybrid searches)", defs["rule"]["properties"]["fusion"]["properties"]),
                ("constraint (an item of `constraints:`)", defs["constraint"]["properties"])]
    for title, props in sections:
        out += [f"**{title}**", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for key, spec in props.items():
            default = f"`{spec['default']}`" if "default" in spec else ""
            desc = spec.get("description", "")
            if key in (*ORDER_KEYS, "dedup", "match", "constraints", "fusion") and title.startswith("rule"):
                desc = (desc + "; " if desc else "") + "see below"
            out.append(f"| `{key}` | {_type(spec, defs)} | {default} | {desc} |")
        out.append("")
    named = ", ".join("/".join(f"`{k}`" for k in sorted(p.keys)) for p in properties.REGISTERED)
    max_only = " and ".join(f"`{k}`" for k in properties.max_only_keys())
    out.append(f"A constraint has exactly one property ({named}) and exactly one of `min` / `max`; "
               f"{max_only} (one agent per value) go with `max` only. Unknown keys are errors.")
    return "\n".join(out)


def encoder_table() -> str:
    r = json.loads((ROOT / "bench" / "results" / "encoder.json").read_text())
    return "\n".join([
        "| measure | figure | target |", "| --- | --- | --- |",
        f"| encode one query, p50 (p99) | {r['encode_ms']['p50']:.1f} ms ({r['encode_ms']['p99']:.1f}) | |",
        f"| the kNN search it feeds (window 200), p50 (p99) | {r['knn_search_ms']['p50']:.1f} ms "
        f"({r['knn_search_ms']['p99']:.1f}) | |",
        f"| encode / kNN, p50 | {r['encode_over_knn_p50']:.2f} | <= 0.5 |",
        f"| a cache hit, p50 | {r['cache_hit_ms']['p50'] * 1000:.1f} µs | <= 50 µs |",
        f"| embedding the {r['catalog']['titles']:,} fashion titles ({r['cores']} cores) | {r['catalog']['seconds']:.0f} s "
        f"({r['catalog']['titles_per_second']} titles/s) | <= 180 s |",
        f"| RSS a worker gains from the encoder | {r['worker_rss_mb']['gain']:.0f} MB "
        f"({r['worker_rss_mb']['before']:.0f} -> {r['worker_rss_mb']['after']:.0f}) | reported |"])


def peer_table() -> str:
    r = json.loads((ROOT / "bench" / "results" / "peer.json").read_text())
    lat, cpu, tp = r["latency"], r["cpu_ms_per_request"], r["throughput"]
    rows = [("a. OpenSearch native MMR", "a_opensearch_native_mmr", "a"),
            ("b. sidecar MMR + caps + dedup", "b_sidecar_mmr_caps_dedup", "b"),
            ("c. plain kNN top-20, direct", "c_plain_knn_top20", "c"),
            ("d. hybrid msearch, direct", "d_direct_msearch", "d_direct"),
            ("d. hybrid `/search`, sidecar", "d_sidecar_hybrid_default_rule", "d_sidecar"),
            ("e. `GET /healthz`, sidecar", "e_sidecar_healthz_hop", "e")]
    out = [f"`{r['command']}` ({r['documents']:,} products, {r['workers']} workers, concurrency "
           f"{r['throughput_concurrency']}; CPU from /proc, the mean of the rounds):", "",
           "| case | p50 ms | p99 ms | req/s | sidecar CPU ms/req | OpenSearch CPU ms/req |",
           "| --- | --- | --- | --- | --- | --- |"]
    for label, key, case in rows:
        out.append(f"| {label} | {lat[key]['p50_ms']} | {lat[key]['p99_ms']} | {tp[case]['requests_per_second']} | "
                   f"{cpu[case]['sidecar_ms']} | {cpu[case]['opensearch_ms']} |")
    out += ["", "| ratio (same run) | measured |", "| --- | --- |"]
    out += [f"| b p50 / a p50 | {r['ratios']['b_over_a_p50']} |",
            f"| d p50: sidecar / direct | {r['ratios']['d_sidecar_over_direct_p50']} |",
            f"| throughput d: sidecar / direct | {r['throughput_ratios']['d_sidecar_over_direct']} |"]
    out += [f"| {k} | {v} |" for k, v in r["cpu_ratios"].items()]
    return "\n".join(out)


def semantic_table() -> str:
    return json.loads((ROOT / "bench" / "results" / "semantic.json").read_text())["table"]


GENERATED = {"config": config_table, "rules": rule_reference, "semantic": semantic_table, "encoder": encoder_table,
             "peer": peer_table}
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def render(text: str) -> str:
    for name, make in GENERATED.items():
        if f"<!-- BEGIN {name} -->" in text:
            body = make()
            text = re.sub(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)",
                          lambda m: m.group(1) + body + "\n" + m.group(2), text, flags=re.S)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    stale = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"{', '.join(p.relative_to(ROOT).as_posix() for p in stale)} out of date: run python scripts/render_docs.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
