"""What the read-only proxy forwards: an index allow-list, caps on what a search may return,
and no scripts or costly query types unless a setting allows them.

A frontend's search box must not be able to run painless, a catastrophic regexp or a 10,000-hit
page on the cluster every shopper shares: four regexp queries pegged OpenSearch for 40 s in
issue 15. ``check`` walks the body once and names the first rule it breaks; the proxy answers
that with a 400 in OpenSearch's error shape (``policy_refused``) and never forwards it.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Config

SCRIPT_KEYS = frozenset({"script", "script_fields", "script_score", "runtime_mappings", "scripted_metric",
                         "bucket_script", "bucket_selector", "_script"})
COSTLY_QUERIES = frozenset({"regexp", "wildcard", "fuzzy"})
TEXT_QUERIES = frozenset({"query_string", "simple_query_string"})  # Lucene syntax: screened, not refused
COSTLY_SYNTAX = re.compile(r"[/*?~]")  # regex, wildcard and fuzzy operators of the Lucene syntax
BUCKET_KEYS = ("size", "shard_size")
MAX_BOOL_DEPTH = 10  # bool inside bool; real SRP queries nest 2-3 deep
MAX_JSON_DEPTH = 64  # any nesting at all
MAX_AGGS = 20  # aggregations in one search, nested ones included
MAX_AGG_DEPTH = 3


class PolicyRefused(ValueError):
    """The request breaks ``rule`` of the proxy policy."""

    def __init__(self, rule: str, reason: str, setting: str | None = None):
        how = f" (allowed by {setting})" if setting else ""
        super().__init__(f"{rule}: refused by the proxy policy: {reason}{how}")
        self.rule = rule


@dataclass(frozen=True)
class ProxyPolicy:
    indices: frozenset[str]
    max_size: int
    max_window: int
    max_buckets: int
    allow_expensive: bool
    hidden_prefixes: tuple[str, ...]  # never searchable: the decision log's indices

    @classmethod
    def from_config(cls, cfg: Config) -> ProxyPolicy:
        names = [i.strip() for i in cfg.proxy_indices.split(",") if i.strip()] or [cfg.index]
        return cls(frozenset(names), cfg.proxy_max_size, cfg.max_window, cfg.proxy_max_buckets,
                   cfg.proxy_allow_expensive == "on", (cfg.decision_log_index,))

    def check_index(self, index: str) -> None:
        """Every name of a comma-separated target must be on the allow-list, literally (no
        wildcards, no dot-indices, never the decision log, whatever the list says)."""
        for name in index.split(","):
            if name.startswith(".") or any(name.startswith(p) for p in self.hidden_prefixes):
                raise PolicyRefused("index", f"{name!r} is not searchable through the proxy")
            if name not in self.indices:
                raise PolicyRefused("index", f"{name!r} is not one of the proxied indices "
                                             f"({', '.join(sorted(self.indices))})", "SIDECAR_PROXY_INDICES")

    def check(self, body: Mapping[str, Any], params: Mapping[str, str]) -> None:
        """The body (size and from already moved in from the URL) and the URL parameters."""
        size, frm = body.get("size", 10), body.get("from", 0)
        if isinstance(size, int) and size > self.max_size:
            raise PolicyRefused("size", f"size {size} is over {self.max_size}", "SIDECAR_PROXY_MAX_SIZE")
        if isinstance(size, int) and isinstance(frm, int) and frm + size > self.max_window:
            raise PolicyRefused("from", f"from + size = {frm + size} is over {self.max_window}", "SIDECAR_MAX_WINDOW")
        if not self.allow_expensive and "q" in params and COSTLY_SYNTAX.search(params["q"]):
            raise PolicyRefused("q", "regex, wildcard and fuzzy operators (/ * ? ~) in q",
                                "SIDECAR_PROXY_ALLOW_EXPENSIVE=on")
        self._walk(body, 0, 0)
        aggs = [0]
        for key in ("aggs", "aggregations"):
            if isinstance(body.get(key), dict):
                self._aggs(body[key], 1, aggs)

    def _walk(self, node: Any, depth: int, bools: int) -> None:
        if depth > MAX_JSON_DEPTH:
            raise PolicyRefused("depth", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, list):
            for item in node:
                self._walk(item, depth + 1, bools)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if not self.allow_expensive:
                if key in SCRIPT_KEYS:
                    raise PolicyRefused("script", f"scripts ({key}) do not run through the proxy",
                                        "SIDECAR_PROXY_ALLOW_EXPENSIVE=on")
                if key in COSTLY_QUERIES:
                    raise PolicyRefused(key, f"{key} queries are costly on text",
                                        "SIDECAR_PROXY_ALLOW_EXPENSIVE=on")
                if key in TEXT_QUERIES and isinstance(value, dict) and COSTLY_SYNTAX.search(str(value.get("query", ""))):
                    raise PolicyRefused(key, f"regex, wildcard and fuzzy operators (/ * ? ~) in {key}",
                                        "SIDECAR_PROXY_ALLOW_EXPENSIVE=on")
            if key == "inner_hits" and isinstance(value, dict) and _int(value.get("size")) > self.max_size:
                raise PolicyRefused("size", f"inner_hits size is over {self.max_size}", "SIDECAR_PROXY_MAX_SIZE")
            nested = bools + (key == "bool")
            if nested > MAX_BOOL_DEPTH:
                raise PolicyRefused("depth", f"bool queries nest deeper than {MAX_BOOL_DEPTH} levels")
            self._walk(value, depth + 1, nested)

    def _aggs(self, aggs: dict[str, Any], depth: int, count: list[int]) -> None:
        if depth > MAX_AGG_DEPTH:
            raise PolicyRefused("aggs", f"aggregations nest deeper than {MAX_AGG_DEPTH} levels")
        for agg in aggs.values():
            if not isinstance(agg, dict):
                continue
            count[0] += 1
            if count[0] > MAX_AGGS:
                raise PolicyRefused("aggs", f"more than {MAX_AGGS} aggregations")
            for kind, spec in agg.items():
                if kind in ("aggs", "aggregations") and isinstance(spec, dict):
                    self._aggs(spec, depth + 1, count)
                elif isinstance(spec, dict):
                    for key in BUCKET_KEYS:
                        if _int(spec.get(key)) > self.max_buckets:
                            raise PolicyRefused("buckets", f"{kind}.{key} is over {self.max_buckets}",
                                                "SIDECAR_PROXY_MAX_BUCKETS")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
