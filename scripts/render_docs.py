"""Render the README's configuration table (from sidecar.config.SETTINGS) and rule reference
(from sidecar/schema/rules.schema.json) between their markers.

    python scripts/render_docs.py          # rewrite README.md
    python scripts/render_docs.py --check  # exit 1 if README.md is out of date (used by the tests)
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
from sidecar.rules.loader import schema  # noqa: E402


def config_table() -> str:
    rows = ["| variable | `sidecar serve` flag | default | meaning |", "| --- | --- | --- | --- |"]
    flags = {"backend": "--backend", "catalog": "--catalog", "vectors": "--vectors", "rules": "--rules",
             "opensearch_url": "--url", "index": "--index", "host": "--host", "port": "--port", "workers": "--workers"}
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default != "" else "(empty)"
        rows.append(f"| `{s.env}` | {('`' + flags[s.name] + '`') if s.name in flags else ''} | {default} | {s.help} |")
    return "\n".join(rows)


def _type(spec: dict, defs: dict) -> str:
    if "$ref" in spec:
        name = spec["$ref"].split("/")[-1]
        return {"fraction": "number in (0, 1]", "scalar": "string, number or boolean"}.get(name, name)
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
                ("`mmr` and `dpp` (the base order: at most one of them)", defs["rule"]["properties"]["mmr"]["properties"]),
                ("`dedup`", defs["rule"]["properties"]["dedup"]["properties"]),
                ("`fusion` (hybrid searches)", defs["rule"]["properties"]["fusion"]["properties"]),
                ("constraint (an item of `constraints:`)", defs["constraint"]["properties"])]
    for title, props in sections:
        out += [f"**{title}**", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for key, spec in props.items():
            default = f"`{spec['default']}`" if "default" in spec else ""
            desc = spec.get("description", "")
            if key in ("mmr", "dpp", "dedup", "match", "constraints", "fusion") and title.startswith("rule"):
                desc = (desc + "; " if desc else "") + "see below"
            out.append(f"| `{key}` | {_type(spec, defs)} | {default} | {desc} |")
        out.append("")
    out.append("A constraint has exactly one property (`value`, `values`, `gte`/`lte`, or `any: true`) and "
               "exactly one of `min` / `max`; `any` goes with `max` only. Unknown keys are errors.")
    return "\n".join(out)


def render(text: str) -> str:
    for name, body in (("config", config_table()), ("rules", rule_reference())):
        text = re.sub(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", lambda m: m.group(1) + body + "\n" + m.group(2),
                      text, flags=re.S)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print("README.md is out of date: run python scripts/render_docs.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
