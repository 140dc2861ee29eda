"""The proxy policy's contract, case by case: what it forwards or refuses for each query,
aggregation and option type it knows, with each parameter of each, and for the shapes around them.

The cases are generated from the policy's own tables (every type, every parameter, a few values of
each kind) plus hand-written ones for structure (nesting, budgets, histograms, inner hits, sort,
highlight, suggest, rescore, the index list). ``--write`` records each case's outcome (the body
forwarded, or the refusal's rule and message) in tests/data/policy_cases.json; the test
(tests/test_policy_cases.py) checks the policy still gives exactly those. A change to the policy
shows as a diff of that file, to be read before it is written again.

    .venv/bin/python scripts/policy_cases.py --write     # after a deliberate change; review the diff
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.server.policy import PolicyRefused, ProxyPolicy  # noqa: E402
from sidecar.server.policy import tables as t  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "policy_cases.json"
# a number, a string, an object with a forbidden key, a plain object, a list, a negative number
VALUES = (3, "abc", {"script": "x"}, {"x": 1}, [1, "a"], -5)


def policies() -> dict[str, ProxyPolicy]:
    base = dict(indices=frozenset({"products", "other"}), max_size=100, max_window=1000, max_buckets=100,
                hidden_prefixes=("sidecar-decisions",))
    return {"default": ProxyPolicy(allow_expensive=False, **base), "expensive": ProxyPolicy(allow_expensive=True, **base)}


def cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(body: Any, params: dict[str, str] | None = None, policy: str = "default") -> None:
        out.append({"body": body, "params": params or {}, "policy": policy})

    # every query type, every parameter, a few values; an unknown parameter; a bad shape
    for kind, allowed in t.FIELD_QUERIES.items():
        for p in sorted(allowed):
            for v in VALUES:
                add({"query": {kind: {"title": {p: v}}}})
        add({"query": {kind: {"title": {"nope": 1}}}})
        add({"query": {kind: {"title": "shirts"}}})
        add({"query": {kind: {"title": "ab"}}})
        add({"query": {kind: {"a": {"query": "x"}, "b": {"query": "y"}}}})
        add({"query": {kind: []}})
    for kind, allowed in t.PARAM_QUERIES.items():
        for p in sorted(allowed):
            for v in VALUES:
                add({"query": {kind: {p: v}}})
        add({"query": {kind: {"nope": 1}}})
        add({"query": {kind: "x"}})
    for kind in sorted(t.TEXT_QUERIES):
        for q in ("red shirt", "re*", "title:/ab.*/", "shirt~2", "a?c", "(red OR blue) AND shirt"):
            add({"query": {kind: {"query": q}}})
    for kind in sorted(t.COSTLY_QUERIES):
        for policy in ("default", "expensive"):
            add({"query": {kind: {"title": {"value": "ab*"}}}}, policy=policy)
            add({"query": {kind: {"title": "abc"}}}, policy=policy)
    for kind in sorted(t.NEVER):
        add({"query": {kind: {"x": 1}}})
    add({"query": {"no_such_query": {}}})
    add({"query": {}})
    add({"query": {"match_all": {}, "term": {"a": "b"}}})
    # compound queries: each nested key and scalar, and bad shapes
    for kind, (nested, scalars) in t.COMPOUND.items():
        for key, how in nested.items():
            if how == "query":
                add({"query": {kind: {key: {"match_all": {}}}}})
                add({"query": {kind: {key: [{"match_all": {}}]}}})
            elif how == "queries":
                add({"query": {kind: {key: [{"match_all": {}}, {"term": {"brand": "x"}}]}}})
                add({"query": {kind: {key: {"match_all": {}}}}})
            elif how == "functions":
                add({"query": {kind: {key: [{"filter": {"match_all": {}}, "weight": 2}]}}})
                add({"query": {kind: {key: [{"filter": {"match_all": {}}, "script_score": {"script": "x"}}]}}})
                add({"query": {kind: {key: [{"random_score": {}, "weight": "2"}, {"nope": 1}]}}})
                add({"query": {kind: {key: {"weight": 1}}}})
                add({"query": {kind: {key: ["x"]}}})
            elif how == "inner_hits":
                for ih in ({}, {"size": 3}, {"size": 50}, {"from": 2, "size": 2}, {"_source": False}, {"nope": 1},
                           {"sort": [{"price": "asc"}]}, "x"):
                    add({"query": {kind: {"path": "p", "query": {"match_all": {}}, key: ih}}})
            else:
                add({"query": {kind: {key: {"field": "price", "factor": 2}}}})
                add({"query": {kind: {key: {"field": "price", "script": "x"}}}})
        for p in sorted(scalars):
            for v in VALUES:
                add({"query": {kind: {p: v}}})
        add({"query": {kind: {"nope": 1}}})
        add({"query": {kind: "x"}})
    # knn and neural
    for kind, allowed in (("knn", t.KNN_PARAMS), ("neural", t.NEURAL_PARAMS)):
        for p in sorted(allowed):
            for v in (*VALUES, 1001, 0):
                add({"query": {kind: {"vector": {p: v}}}})
        add({"query": {kind: {"vector": {"vector": [0.1, 0.2], "k": 5, "filter": {"term": {"brand": "x"}}}}}})
        add({"query": {kind: {"vector": {"query_text": "red shirt", "k": 5}}}})
        add({"query": {kind: {"vector": {"query_text": "  ", "k": 5}}}})
        add({"query": {kind: {"vector": {"k": 5}}}})
        add({"query": {kind: {"a": {}, "b": {}}}})
        add({"query": {kind: "x"}})
    # top-level options: every key, a few values; never-forwarded keys; URL parameters
    for key in sorted(t.TOP_KEYS - {"query", "post_filter", "aggs", "aggregations"}):
        for v in (*VALUES, 0, -1, 10_000, True, 1e300):
            add({key: v})
    for key in sorted(t.NEVER_TOP) + sorted(t.SCRIPT_TOP):
        add({key: {}})
        add({key: {}}, policy="expensive")
    add({"nope": 1})
    add({"post_filter": {"term": {"brand": "x"}}})
    for params in ({"size": "5"}, {"from": "2"}, {"size": "x"}, {"routing": "a"}, {"preference": "_local"},
                   {"q": "title:shirt"}, {"request_cache": "true"}, {"allow_partial_search_results": "false"},
                   {"search_type": "dfs_query_then_fetch"}, {"nope": "1"}):
        add({"query": {"match_all": {}}}, params)
    # values of the wrong shape where one scalar stands
    for bad in ({"x": 1}, [1], None):
        add({"collapse": {"field": bad}})
        add({"suggest": {"text": bad, "s": {"term": {"field": "title"}}}})
        add({"query": {"match": {"title": {"query": bad}}}})
        add({"query": {"term": {"brand": bad}}})
        add({"highlight": {"fields": {"title": {"highlight_query": bad}}}})
        add({"query": {"nested": {"path": "p", "query": {"match_all": {}}, "inner_hits": {"name": bad}}}})
        add({"query": {"knn": {"vector": bad}}})
        add({"query": {"function_score": {"functions": [{"weight": bad}]}}})
    for key in ("name", "version", "seq_no_primary_term", "track_scores", "ignore_unmapped", "explain", "highlight",
                "docvalue_fields", "stored_fields", "fields", "script_fields", "collapse", "nope"):
        add({"query": {"nested": {"path": "p", "query": {"match_all": {}}, "inner_hits": {key: True}}}})
    for deep in (10, 40, 70):
        node: Any = 1
        for _ in range(deep):
            node = {"a": node}
        add({"query": {"range": {"price": {"gte": node}}}})
        add({"sort": [node]})
    for q in ("shirt", "shi*", "title:(a OR b)", "~", "a/b"):
        add({"query": {"match_all": {}}}, {"q": q})
        add({"query": {"match_all": {}}}, {"q": q}, policy="expensive")
    # every bounded number at its bounds (bounds of these policies: size 100, window 1000, buckets 100)
    ih = lambda v: {"query": {"nested": {"path": "p", "query": {"match_all": {}}, "inner_hits": v}}}  # noqa: E731
    for v in (-1, 0, 1, 16, 17, 100, 101, 1000, 1001, 40_000, 40_001):
        add(ih({"size": v}))
        add(ih({"from": v}))
        add({"collapse": {"field": "brand", "max_concurrent_group_searches": v}})
        add({"collapse": {"field": "brand", "inner_hits": {"name": "a", "size": v}}})
        add({"rescore": {"window_size": v, "query": {"rescore_query": {"match_all": {}}}}})
        add({"size": 0, "aggs": {"a": {"top_hits": {"size": v}}}})
        add({"size": 0, "aggs": {"a": {"top_hits": {"from": v}}}})
        add({"size": 0, "aggs": {"a": {"terms": {"field": "brand", "size": v}}}})
        add({"size": 0, "aggs": {"a": {"terms": {"field": "brand", "shard_size": v}}}})
        add({"size": 0, "aggs": {"a": {"cardinality": {"field": "brand", "precision_threshold": v}}}})
        add({"suggest": {"s": {"text": "abc", "term": {"field": "title", "size": v}}}})
        add({"highlight": {"fields": {"title": {}}, "number_of_fragments": v}})
        add({"track_total_hits": v})
        add({"terminate_after": v})
    # terms: listed values, a lookup, the wrong shapes
    for terms in ({"brand": ["a", "b"]}, {"brand": ["a"], "boost": 2}, {"brand": "a"}, {"brand": {"index": "products",
                  "id": "1", "path": "brand"}}, {}, {"brand": ["a"], "_name": "t", "x": ["b"]}, {"brand": [["a"]]},
                  {"brand": [{"x": 1}]}, "x"):
        add({"query": {"terms": terms}})
    # scripts in every place one can stand, with and without the setting
    for body in ({"query": {"script": {"script": "doc['price'].value > 1"}}},
                 {"query": {"script_score": {"query": {"match_all": {}}, "script": "1"}}},
                 {"query": {"function_score": {"query": {"match_all": {}}, "script_score": {"script": "1"}}}},
                 {"query": {"function_score": {"functions": [{"script_score": {"script": "1"}}]}}},
                 {"sort": [{"_script": {"type": "number", "script": "1"}}]},
                 {"size": 0, "aggs": {"a": {"terms": {"script": "1"}}}},
                 {"size": 0, "aggs": {"a": {"bucket_script": {"script": "1"}}}},
                 {"size": 0, "aggs": {"a": {"scripted_metric": {}}}},
                 {"script_fields": {"x": {"script": "1"}}}, {"runtime_mappings": {"x": {"type": "long"}}},
                 {"query": {"bool": {"filter": [{"script": {"script": "1"}}]}}}):
        add(body)
        add(body, policy="expensive")
    for depth in (10, 11):
        q: Any = {"match_all": {}}
        for _ in range(depth):
            q = {"bool": {"must": [q]}}
        add({"query": q})
    # sort, _source and the field lists
    for sort in ("price", ["price", {"brand": "asc"}], [{"price": {"order": "desc", "mode": "min"}}],
                 [{"_score": "desc"}], [{"_script": {"script": "x"}}], [{"price": {"nested": {"path": "p"}}}],
                 [{"vector": "asc"}], {"price": "asc"}, [1], [{"a": "asc", "b": "asc"}]):
        add({"sort": sort})
    for source in (True, False, "title", ["title", "brand"], {"includes": ["title"], "excludes": ["vector"]},
                   {"includes": "title"}, {"nope": 1}, [["a"]], [1]):
        add({"_source": source})
    for key in ("stored_fields", "docvalue_fields", "fields"):
        for v in ("title", ["title", "price"], [{"field": "price", "format": "x"}], [["a"]], 3):
            add({key: v})
    # highlight, collapse, rescore, suggest
    for p in sorted(t.HIGHLIGHT_PARAMS):
        for v in VALUES:
            add({"highlight": {p: v}})
    add({"highlight": {"fields": {"title": {"number_of_fragments": 2}}, "highlight_query": {"match": {"title": "x"}}}})
    add({"highlight": "x"})
    for collapse in ({"field": "brand"}, {"field": "brand", "inner_hits": {"name": "a", "size": 2}},
                     {"field": "brand", "inner_hits": [{"name": "a", "size": 1}] * 4},
                     {"field": "brand", "inner_hits": [{"name": "a", "size": 1}, {"name": "b", "size": 1}]},
                     {"field": "brand", "max_concurrent_group_searches": 4}, {"field": "brand", "nope": 1}, {},
                     "brand", {"field": 3}):
        add({"collapse": collapse, "size": 10})
    for rescore in ({"window_size": 50, "query": {"rescore_query": {"match": {"title": "x"}}, "query_weight": 0.7}},
                    [{"window_size": 50, "query": {"rescore_query": {"match_all": {}}}}],
                    {"window_size": 5000, "query": {"rescore_query": {"match_all": {}}}},
                    {"query": {"rescore_query": {"match_all": {}}, "score_mode": "max", "nope": 1}},
                    {"learning_to_rank": {}}, {"query": "x"}, "x", {"window_size": "x", "query": {}}):
        add({"rescore": rescore})
    for name, sugg in (("s", {"text": "shrit", "term": {"field": "title"}}),
                       ("s", {"text": "shrit", "phrase": {"field": "title", "size": 3}}),
                       ("s", {"prefix": "shi", "completion": {"field": "suggest", "skip_duplicates": True}}),
                       ("s", {"text": "x", "term": {"field": "title", "nope": 1}}),
                       ("s", {"text": "x", "nope": {}}), ("s", "x"), ("text", "shrit"), ("text", 3)):
        add({"suggest": {name: sugg}})
    for kind, allowed in t.SUGGESTERS.items():
        for p in sorted(allowed):
            for v in VALUES:
                add({"suggest": {"s": {"text": "abc", kind: {p: v}}}})
    # aggregations: every type, every parameter, nesting, budgets
    for kind, allowed in t.AGGS.items():
        for p in sorted(allowed):
            for v in (*VALUES, 0, 1000, {"x": "asc"}):
                add({"size": 0, "aggs": {"a": {kind: {p: v}}}})
        add({"size": 0, "aggs": {"a": {kind: {"nope": 1}}}})
        add({"size": 0, "aggs": {"a": {kind: {"field": "brand"}, "aggs": {"b": {"terms": {"field": "colour"}}}}}})
        add({"size": 0, "aggs": {"a": {kind: "x"}}})
    for aggs in ({"a": {"terms": {"field": "brand", "size": 100}, "aggs": {"b": {"terms": {"field": "colour", "size": 100}}}}},
                 {"a": {"terms": {"field": "brand", "size": 100}, "aggs": {"t": {"top_hits": {"size": 20}}}}},
                 {"a": {"terms": {"field": "brand", "size": 50}, "aggs": {"c": {"cardinality": {"field": "colour",
                                                                                          "precision_threshold": 10000}}}}},
                 {"a": {"histogram": {"field": "price", "interval": 0.001}}},
                 {"a": {"histogram": {"field": "price", "interval": 10, "min_doc_count": 1}}},
                 {"a": {"histogram": {"field": "price", "interval": 10, "hard_bounds": {"min": 0, "max": 500}}}},
                 {"a": {"histogram": {"field": "price", "interval": 1, "hard_bounds": {"min": 0, "max": 50000}}}},
                 {"a": {"date_histogram": {"field": "listed_at", "calendar_interval": "month"}}},
                 {"a": {"date_histogram": {"field": "listed_at", "calendar_interval": "month", "min_doc_count": 1}}},
                 {"a": {"range": {"field": "price", "ranges": [{"to": i} for i in range(101)]}}},
                 {"a": {"filters": {"filters": {f"f{i}": {"match_all": {}} for i in range(101)}}}},
                 {"a": {"filters": {"filters": [{"term": {"brand": "x"}}, {"match_all": {}}]}}},
                 {"a": {"composite": {"size": 10, "sources": [{"b": {"terms": {"field": "brand"}}}]}}},
                 {"a": {"composite": {"size": 10, "sources": [{"b": {"terms": {"script": "x"}}}]}}},
                 {"a": {"nested": {"path": "p"}, "aggs": {"b": {"reverse_nested": {}}}}},
                 {"a": {"global": {}, "aggs": {"b": {"avg": {"field": "price"}}}}},
                 {"a": {"terms": {"field": "vector"}}},
                 {"a": {"terms": {"field": "brand"}, "meta": {"x": 1}}},
                 {"a": {"terms": {"field": "brand"}, "meta": {"script": 1}}},
                 {"a": {"terms": {"field": "brand"}, "aggs": {"b": {"terms": {"field": "c"}, "aggs": {
                     "c": {"terms": {"field": "d"}, "aggs": {"d": {"terms": {"field": "e"}}}}}}}}},
                 {"a": {"terms": {"field": "brand"}, "avg": {"field": "price"}}},
                 {"a": {}}, {"a": "x"}, {f"a{i}": {"avg": {"field": "price"}} for i in range(21)}, "x"):
        add({"size": 0, "aggs": aggs})
    # the budget each kind of bucket aggregation charges, nested under 50 terms buckets
    for inner in ({"filters": {"filters": {"a": {"match_all": {}}, "b": {"match_all": {}}}, "other_bucket": True}},
                  {"filters": {"filters": [{"match_all": {}}], "other_bucket_key": "rest"}},
                  {"top_hits": {"size": 5, "from": 15}}, {"top_hits": {}}, {"global": {}}, {"missing": {"field": "x"}},
                  {"nested": {"path": "p"}}, {"reverse_nested": {}}, {"filter": {"match_all": {}}},
                  {"range": {"field": "price", "ranges": [{"to": 1}, {"from": 1}]}},
                  {"date_range": {"field": "listed_at", "ranges": [{"to": "now"}]}},
                  {"composite": {"sources": [{"b": {"terms": {"field": "brand"}}}]}},
                  {"composite": {"size": 40, "sources": [{"b": {"terms": {"field": "brand"}}}]}},
                  {"terms": {"field": "c"}}, {"terms": {"field": "c", "size": 60}}, {"histogram": {"field": "price", "interval": 5,
                                                                                                     "min_doc_count": 1}},
                  {"cardinality": {"field": "c"}}, {"cardinality": {"field": "c", "precision_threshold": 9000}},
                  {"cardinality": {"field": "c", "precision_threshold": -1}}, {"avg": {"field": "price"}}):
        for outer in (50, 2):
            add({"size": 0, "aggs": {"a": {"terms": {"field": "brand", "size": outer}, "aggs": {"b": inner}}}})
    for hits in ({"size": 10}, {"size": 10, "from": 5}, {"from": 990}):
        add({"size": 0, "aggs": {"a": {"terms": {"field": "brand", "size": 100}, "aggs": {"t": {"top_hits": hits}}}}})
    add({"size": 0, "aggregations": {"a": {"avg": {"field": "price"}}}})
    add({"size": 0, "aggs": {"a": {"avg": {"field": "price"}}}, "aggregations": {}})
    # numbers as OpenSearch reads them, and their bounds
    for v in (10, "10", 10.0, 1e1, "1e1", 10.5, "x", -1, 2 ** 63, True, None):
        add({"size": v})
        add({"from": v})
        add({"query": {"knn": {"vector": {"vector": [0.1], "k": v}}}})
    add({"size": 60, "from": 950})
    add({"query": {"bool": {"must": [{"match_all": {}}], "boost": 2 ** 64}}})
    return out


def outcome(policy: ProxyPolicy, case: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"forwarded": policy.check(case["body"], case["params"])}
    except PolicyRefused as exc:
        return {"refused": {"rule": exc.rule, "message": str(exc)}}
    except (TypeError, ValueError) as exc:  # would be a 500: recorded, so the test shows it
        return {"error": f"{type(exc).__name__}: {exc}"}


def index_cases() -> list[dict[str, Any]]:
    policy = policies()["default"]
    out = []
    for index in ("products", "other", "products,other", "products,secret", "secret", ".kibana", "sidecar-decisions-2026",
                  "prod*", "_all", ""):
        try:
            policy.check_index(index)
            out.append({"index": index, "outcome": "allowed"})
        except PolicyRefused as exc:
            out.append({"index": index, "outcome": str(exc)})
    return out


def record() -> dict[str, Any]:
    pols = policies()
    return {"cases": [{**c, **outcome(pols[c["policy"]], c)} for c in cases()], "indices": index_cases()}


def main() -> int:
    if "--write" not in sys.argv[1:]:
        print(__doc__)
        return 2
    GOLDEN.parent.mkdir(exist_ok=True)
    data = record()
    GOLDEN.write_text(json.dumps(data, indent=None, separators=(",", ":"), default=str).replace('},{"body"', '},\n{"body"')
                      + "\n")
    counts: dict[str, int] = {}
    for c in data["cases"]:
        key = next(k for k in ("forwarded", "refused", "error") if k in c)
        counts[key] = counts.get(key, 0) + 1
    print(f"{len(data['cases'])} cases ({counts}), {len(data['indices'])} index names -> {GOLDEN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
