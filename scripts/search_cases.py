"""/search on the demo catalog, case by case: the pages a set of requests gets (every mode, the
shipped rules and none, pages 1 to 3, explanations, facets with and without selections, overrides,
``like``), recorded so that a restructuring that should change nothing is seen to change nothing.

The memory backend over demo/ with its vectors, the query encoder off (kNN and hybrid use ``like``
and given vectors), a fixed ``now``: the same on every machine. Scores are rounded to 5 decimals.
``--write`` records the answers in tests/data/search_cases.json (tests/test_search_cases.py
checks them); a deliberate change of behaviour shows as a diff of that file, to be read before it
is written again.

    .venv/bin/python scripts/search_cases.py --write
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.retrieval.memory import MemoryBackend  # noqa: E402
from sidecar.rules import load_rules_dir  # noqa: E402
from sidecar.search.pipeline import run_search  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "search_cases.json"
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
FACETS = {"brand": {"size": 5}, "colour": {"size": 5}, "price": {"ranges": [[0, 500], [500, 1500], [1500, None]]},
          "listed_at": {"interval": "month"}}


def requests() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for q in ("black jacket", "puma tshirt", "shirt", "watch", "shoes", "women sandals", "red kurta", "blue jeans",
              "nike", "sports shoes for men"):
        for frm in (0, 10, 20):
            out.append({"q": q, "from": frm, "size": 10, "explain": True})
        out.append({"q": q, "size": 10, "rule": "none"})
    for frm in range(0, 100, 20):
        out.append({"q": "shirt", "from": frm, "size": 20, "rule": "none"})
    out.append({"q": "shirt", "size": 0, "facets": FACETS})
    out.append({"q": "shirt", "size": 10, "facets": FACETS, "filters": {"brand": "Puma"}})
    out.append({"q": "shirt", "size": 10, "facets": FACETS, "filters": {"price": {"gte": 500, "lt": 1500}}})
    out.append({"q": "shoes", "size": 10, "filters": {"brand": ["Nike", "Puma"], "price": {"gte": 1000}}, "explain": True})
    out.append({"q": "tshirt", "size": 10, "overrides": {"lambda": 0, "dedup": None}, "explain": True})
    out.append({"q": "tshirt", "size": 10, "overrides": {"lambda": 2.0}, "explain": True})
    out.append({"q": "watch", "size": 10, "rule": "watches-preowned", "explain": True})
    for mode in ("knn", "hybrid"):
        for frm in (0, 10):
            out.append({"q": "shoes", "like": "15970", "mode": mode, "from": frm, "size": 10, "explain": True})
        out.append({"like": "15970", "mode": mode, "size": 10, "rule": "none"} if mode == "knn"
                   else {"q": "jacket", "like": "15970", "mode": mode, "size": 10, "rule": "none"})
    return out


def answer(backend: MemoryBackend, ruleset: Any, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = run_search(body, backend, ruleset, 1000, now=NOW).response
    except ValueError as exc:
        return {"error": str(exc)}
    response = {k: v for k, v in response.items() if k not in ("timings", "backend_took_ms")}
    for hit in response["hits"]:
        hit["score"] = round(hit["score"], 5)
        hit["fields"] = {k: hit["fields"][k] for k in ("brand", "seller", "condition", "price") if k in hit["fields"]}
    return json.loads(json.dumps(response, default=str))


def record() -> list[dict[str, Any]]:
    backend = MemoryBackend(ROOT / "demo" / "catalog.jsonl", ROOT / "demo" / "vectors.npy")
    ruleset = load_rules_dir(ROOT / "query_rules")
    return [{"request": body, "response": answer(backend, ruleset, body)} for body in requests()]


def main() -> int:
    if "--write" not in sys.argv[1:]:
        print(__doc__)
        return 2
    GOLDEN.parent.mkdir(exist_ok=True)
    cases = record()
    GOLDEN.write_text("[\n" + ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases) + "\n]\n")
    print(f"{len(cases)} requests -> {GOLDEN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
