"""The policy (``ProxyPolicy``: the allow-list and the settings it reads) and one check of one
body: the walk over it by position (queries, options, sort, highlight,
collapse, rescore, suggest; aggregations in ``aggregations``), with the counters of its work."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...config import Config
from .aggregations import Aggregations
from .tables import (COMPOUND, COSTLY_QUERIES, COSTLY_SYNTAX, DEFAULTS, EXPENSIVE, FIELD_QUERIES, FUZZY_PARAMS,
                     HIGHLIGHT_PARAMS, KNN_PARAMS, MAX_BOOL_DEPTH, MAX_EXPANSIONS, MAX_INNER_HITS, NEURAL_PARAMS,
                     NEVER, NEVER_TOP, PARAM_QUERIES, PREFIX_QUERIES, SCRIPT_TOP, SUGGESTERS, TEXT_QUERIES, TOP_KEYS,
                     VECTOR_FIELDS)
from .values import (as_list, check_depth, check_int64, check_prefix, data_only, params_of, PolicyRefused, scalar,
                     source_filter, whole_number)


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

    def check(self, body: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        """The body to forward (numbers read as OpenSearch reads them), or PolicyRefused. ``body``
        has size and from already moved in from the URL; ``params`` are the URL's others."""
        return Walk(self).body(body, params)


class Walk(Aggregations):
    """One check: the walk over a body, with the counters it keeps (aggregations, depth, and the
    budget: hits returned, buckets, cardinality sketches)."""

    def __init__(self, policy: ProxyPolicy):
        self.policy = policy
        self.aggs = 0
        self.hits = 0  # hits the aggregations return (top_hits x the buckets it is in)
        self.hits_per_hit = 0  # inner hits each page hit carries (collapse and nested inner_hits)
        self.buckets = 0
        self.sketch = 0

    # --- the body -------------------------------------------------------------------------
    def body(self, body: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        check_depth(body, 0)
        check_int64(body, "body")
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key in NEVER_TOP:
                raise PolicyRefused(key, NEVER_TOP[key])
            if key in SCRIPT_TOP:
                if not self.policy.allow_expensive:
                    raise PolicyRefused("script", f"scripts ({key}) do not run through the proxy", EXPENSIVE)
                out[key] = data_only(value, key, allow_script=True)
                continue
            if key not in TOP_KEYS:
                raise PolicyRefused(key, f"{key!r} is not a search option the proxy forwards "
                                         f"(allowed: {', '.join(sorted(TOP_KEYS))})")
            out[key] = self.option(key, value)
        size = out.get("size", 10)
        frm = out.get("from", 0)
        if size > self.policy.max_size:
            raise PolicyRefused("size", f"size {size} is over {self.policy.max_size}", "SIDECAR_PROXY_MAX_SIZE")
        if frm + size > self.policy.max_window:
            raise PolicyRefused("from", f"from + size = {frm + size} is over {self.policy.max_window}", "SIDECAR_MAX_WINDOW")
        if not self.policy.allow_expensive and "q" in params and COSTLY_SYNTAX.search(params["q"]):
            raise PolicyRefused("q", "regex, wildcard and fuzzy operators (/ * ? ~) in q", EXPENSIVE)
        hits = size + self.hits + size * self.hits_per_hit
        if hits > self.policy.max_window:
            raise PolicyRefused("hits", f"the search returns up to {hits} hits (the page, top_hits in each bucket, "
                                        f"inner_hits of each hit); the limit is {self.policy.max_window}",
                                "SIDECAR_MAX_WINDOW")
        return out

    def option(self, key: str, value: Any) -> Any:
        if key in ("query", "post_filter"):
            return self.query(value, key, 0)
        if key in ("aggs", "aggregations"):
            return self.aggregations(value, key, 1)
        if key in ("size", "from", "terminate_after"):
            return whole_number(value, key, lo=0)
        if key == "track_total_hits":
            return value if isinstance(value, bool) else whole_number(value, key, lo=0)
        if key == "sort":
            return self.sort(value, key)
        if key == "highlight":
            return self.highlight(value)
        if key == "collapse":
            return self.collapse(value)
        if key == "rescore":
            return [self.rescore(r) for r in value] if isinstance(value, list) else self.rescore(value)
        if key == "suggest":
            return self.suggest(value)
        if key in ("stored_fields", "docvalue_fields", "fields"):
            return self.field_list(value, key)
        if key == "_source":
            return source_filter(value, key)
        if key in ("search_after", "stats"):
            if not isinstance(value, list):
                raise PolicyRefused(key, "must be a list")
            return data_only(value, key)
        return scalar(value, key)

    # --- queries --------------------------------------------------------------------------
    def query(self, node: Any, where: str, bools: int) -> dict[str, Any]:
        if not isinstance(node, dict) or len(node) != 1:
            raise PolicyRefused(where, "a query is an object with exactly one query type")
        ((kind, spec),) = node.items()
        at = f"{where}.{kind}"
        if kind in NEVER:
            raise PolicyRefused(kind, NEVER[kind])
        if kind in COSTLY_QUERIES:
            if not self.policy.allow_expensive:
                raise PolicyRefused(kind, f"{kind} queries are costly on text", EXPENSIVE) if "script" not in kind \
                    else PolicyRefused("script", f"scripts ({kind}) do not run through the proxy", EXPENSIVE)
            return {kind: data_only(spec, at, allow_script=True)}
        if kind in FIELD_QUERIES:
            return {kind: self.field_query(kind, spec, at)}
        if kind in PARAM_QUERIES:
            allowed = PARAM_QUERIES[kind] | (FUZZY_PARAMS if self.policy.allow_expensive else frozenset())
            out = params_of(spec, allowed, at, lambda k: self._fuzzy(k, at))
            if kind == "multi_match" and out.get("type") in ("phrase_prefix", "bool_prefix") \
                    and not self.policy.allow_expensive:
                check_prefix(f"multi_match ({out['type']})", out.get("query"), False)
            if kind in TEXT_QUERIES and not self.policy.allow_expensive and COSTLY_SYNTAX.search(str(out.get("query", ""))):
                raise PolicyRefused(kind, f"regex, wildcard and fuzzy operators (/ * ? ~) in {kind}", EXPENSIVE)
            return {kind: out}
        if kind == "terms":
            return {kind: self.terms(spec, at)}
        if kind in ("knn", "neural"):
            return {kind: self.knn(spec, at, bools, NEURAL_PARAMS if kind == "neural" else KNN_PARAMS, kind)}
        if kind in COMPOUND:
            return {kind: self.compound(kind, spec, at, bools + (kind == "bool"))}
        raise PolicyRefused(kind, f"{kind!r} is not a query type the proxy forwards (allowed: "
                                  f"{', '.join(sorted(set(FIELD_QUERIES) | set(PARAM_QUERIES) | set(COMPOUND) | {'terms', 'knn', 'neural'}))})")

    def _fuzzy(self, key: str, at: str) -> PolicyRefused:
        if key in FUZZY_PARAMS:
            return PolicyRefused(key, f"{key} in {at} is costly", EXPENSIVE)
        return PolicyRefused(key, f"{key!r} is not a parameter of {at.rsplit('.', 1)[-1]}")

    def field_query(self, kind: str, spec: Any, at: str) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise PolicyRefused(kind, f"{at} must be an object naming a field")
        allowed = FIELD_QUERIES[kind] | (FUZZY_PARAMS if self.policy.allow_expensive and kind == "match" else frozenset())
        out: dict[str, Any] = {}
        for field, value in spec.items():
            if field in ("boost", "_name"):
                out[field] = scalar(value, f"{at}.{field}")
                continue
            out[field] = (params_of(value, allowed, f"{at}.{field}", lambda k: self._fuzzy(k, at))
                          if isinstance(value, dict) else scalar(value, f"{at}.{field}"))
            if kind in PREFIX_QUERIES and not self.policy.allow_expensive:
                key = "value" if kind == "prefix" else "query"
                check_prefix(kind, out[field].get(key) if isinstance(out[field], dict) else out[field], kind == "prefix")
            if isinstance(out[field], dict) and "max_expansions" in out[field]:
                out[field]["max_expansions"] = whole_number(out[field]["max_expansions"], f"{kind}.max_expansions", lo=1,
                                                    hi=MAX_EXPANSIONS)
        return out

    def terms(self, spec: Any, at: str) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise PolicyRefused("terms", f"{at} must be an object naming a field")
        out: dict[str, Any] = {}
        for field, value in spec.items():
            if field in ("boost", "_name", "value_type"):
                out[field] = scalar(value, f"{at}.{field}")
            elif isinstance(value, list):
                out[field] = [scalar(v, f"{at}.{field}") for v in value]
            else:
                raise PolicyRefused("terms", "a terms lookup reads another index's document; list the values")
        return out

    def knn(self, spec: Any, at: str, bools: int, allowed: frozenset[str] = KNN_PARAMS, kind: str = "knn") -> dict[str, Any]:
        if not isinstance(spec, dict) or len(spec) != 1:
            raise PolicyRefused(kind, f"{at} names one vector field")
        ((field, params),) = spec.items()
        if not isinstance(params, dict):
            raise PolicyRefused(kind, f"{at}.{field} must be an object")
        out: dict[str, Any] = {}
        for key, value in params.items():
            if key not in allowed:
                raise PolicyRefused(key, f"{key!r} is not a parameter of {kind}")
            if key == "filter":
                out[key] = self.query(value, f"{at}.{field}.filter", bools)
            elif key == "k":
                out[key] = whole_number(value, f"{kind}.k", lo=1, hi=self.policy.max_window, setting="SIDECAR_MAX_WINDOW")
            elif key == "query_text":
                if not isinstance(value, str) or not value.strip():
                    raise PolicyRefused("query_text", f"{at}.{field}.query_text must be a non-empty string")
                out[key] = value
            else:
                out[key] = data_only(value, f"{at}.{field}.{key}")
        if kind == "neural" and "query_text" not in out:
            raise PolicyRefused("query_text", f"{at}.{field} needs query_text")
        return {field: out}

    def compound(self, kind: str, spec: Any, at: str, bools: int) -> dict[str, Any]:
        if bools > MAX_BOOL_DEPTH:
            raise PolicyRefused("depth", f"bool queries nest deeper than {MAX_BOOL_DEPTH} levels")
        if not isinstance(spec, dict):
            raise PolicyRefused(kind, f"{at} must be an object")
        nested, scalars = COMPOUND[kind]
        out: dict[str, Any] = {}
        for key, value in spec.items():
            how = nested.get(key)
            if how == "query":
                out[key] = self.query(value, f"{at}.{key}", bools)
            elif how == "queries":
                out[key] = ([self.query(q, f"{at}.{key}", bools) for q in value] if isinstance(value, list)
                            else self.query(value, f"{at}.{key}", bools))
            elif how == "inner_hits":
                out[key] = self.inner_hits(value, f"{at}.{key}")
            elif how == "functions":
                out[key] = [self.function(f, f"{at}.{key}", bools) for f in as_list(value, f"{at}.{key}")]
            elif how == "data":
                out[key] = data_only(value, f"{at}.{key}")
            elif key in scalars:
                out[key] = scalar(value, f"{at}.{key}")
            elif key == "script_score" or key == "script":
                raise PolicyRefused("script", f"scripts ({key}) do not run through the proxy", EXPENSIVE)
            else:
                raise PolicyRefused(key, f"{key!r} is not a parameter of {kind}")
        return out

    def function(self, spec: Any, at: str, bools: int) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise PolicyRefused("functions", f"{at}: each function is an object")
        out: dict[str, Any] = {}
        for key, value in spec.items():
            if key == "filter":
                out[key] = self.query(value, f"{at}.filter", bools)
            elif key == "weight":
                out[key] = scalar(value, f"{at}.weight")
            elif key in ("field_value_factor", "random_score", "gauss", "linear", "exp"):
                out[key] = data_only(value, f"{at}.{key}")
            elif key == "script_score":
                raise PolicyRefused("script", "scripts (script_score) do not run through the proxy", EXPENSIVE)
            else:
                raise PolicyRefused(key, f"{key!r} is not a function of function_score")
        return out

    def inner_hits(self, spec: Any, at: str) -> dict[str, Any]:
        """One inner_hits spec; each page hit carries its hits (``hits_per_hit``)."""
        if not isinstance(spec, dict):
            raise PolicyRefused("inner_hits", f"{at} must be an object")
        out: dict[str, Any] = {}
        for key, value in spec.items():
            if key in ("size", "from"):
                out[key] = whole_number(value, f"inner_hits.{key}", lo=0, hi=self.policy.max_size, setting="SIDECAR_PROXY_MAX_SIZE")
            elif key == "sort":
                out[key] = self.sort(value, f"{at}.sort")
            elif key == "_source":
                out[key] = source_filter(value, f"{at}._source")
            elif key in ("name", "version", "seq_no_primary_term", "track_scores", "ignore_unmapped"):
                out[key] = data_only(value, f"{at}.{key}")
            elif key == "highlight":
                out[key] = self.highlight(value)
            else:
                raise PolicyRefused(key, f"{key!r} is not a parameter of inner_hits")
        self.hits_per_hit += out.get("size", DEFAULTS["inner_hits"]) + out.get("from", 0)
        return out

    # --- aggregations ---------------------------------------------------------------------
    def sort(self, value: Any, where: str) -> Any:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                for field, spec in item.items():
                    if field == "_script" and not self.policy.allow_expensive:
                        raise PolicyRefused("script", "scripts (_script sort) do not run through the proxy", EXPENSIVE)
                    data_only(spec, f"{where}.{field}", allow_script=field == "_script")
            else:
                scalar(item, where)
        return value

    def highlight(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise PolicyRefused("highlight", "must be an object")
        out: dict[str, Any] = {}
        for key, value in spec.items():
            if key not in HIGHLIGHT_PARAMS:
                raise PolicyRefused(key, f"{key!r} is not a highlight parameter")
            if key == "highlight_query":
                out[key] = self.query(value, "highlight.highlight_query", 0)
            elif key == "fields":
                items = value if isinstance(value, list) else [value]
                for item in items:
                    if not isinstance(item, dict):
                        raise PolicyRefused("highlight", "fields: an object of field -> options")
                    for field, options in item.items():
                        if isinstance(options, dict) and "highlight_query" in options:
                            self.query(options["highlight_query"], f"highlight.fields.{field}", 0)
                            options = {k: v for k, v in options.items() if k != "highlight_query"}
                        params_of(options, HIGHLIGHT_PARAMS - {"fields"}, f"highlight.fields.{field}")
                out[key] = value
            else:
                out[key] = data_only(value, f"highlight.{key}")
        return out

    def collapse(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise PolicyRefused("collapse", "must be an object with a field")
        out: dict[str, Any] = {}
        for key, value in spec.items():
            if key == "field":
                out[key] = scalar(value, "collapse.field")
            elif key == "inner_hits":
                if isinstance(value, list) and len(value) > MAX_INNER_HITS:
                    raise PolicyRefused("inner_hits", f"collapse.inner_hits: {len(value)} entries; the limit is "
                                                      f"{MAX_INNER_HITS}")
                out[key] = ([self.inner_hits(v, "collapse.inner_hits") for v in value] if isinstance(value, list)
                            else self.inner_hits(value, "collapse.inner_hits"))
            elif key == "max_concurrent_group_searches":
                out[key] = whole_number(value, "collapse.max_concurrent_group_searches", lo=1, hi=16)
            else:
                raise PolicyRefused(key, f"{key!r} is not a parameter of collapse")
        return out

    def rescore(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise PolicyRefused("rescore", "must be an object")
        out: dict[str, Any] = {}
        for key, value in spec.items():
            if key == "window_size":
                out[key] = whole_number(value, "rescore.window_size", lo=1, hi=self.policy.max_window, setting="SIDECAR_MAX_WINDOW")
            elif key == "query" and isinstance(value, dict):
                inner: dict[str, Any] = {}
                for k, v in value.items():
                    if k == "rescore_query":
                        inner[k] = self.query(v, "rescore.query.rescore_query", 0)
                    elif k in ("query_weight", "rescore_query_weight", "score_mode"):
                        inner[k] = scalar(v, f"rescore.query.{k}")
                    else:
                        raise PolicyRefused(k, f"{k!r} is not a parameter of rescore.query")
                out[key] = inner
            else:
                raise PolicyRefused(key, f"{key!r} is not a parameter of rescore")
        return out

    def suggest(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise PolicyRefused("suggest", "must be an object")
        out: dict[str, Any] = {}
        for name, s in spec.items():
            if name == "text":
                out[name] = scalar(s, "suggest.text")
                continue
            if not isinstance(s, dict):
                raise PolicyRefused("suggest", f"suggest.{name} must be an object")
            one: dict[str, Any] = {}
            for key, value in s.items():
                if key in ("text", "prefix"):
                    one[key] = scalar(value, f"suggest.{name}.{key}")
                elif key in SUGGESTERS:
                    one[key] = params_of(value, SUGGESTERS[key], f"suggest.{name}.{key}")
                    if "size" in one[key]:
                        one[key]["size"] = whole_number(one[key]["size"], "suggest.size", lo=1, hi=self.policy.max_size,
                                                setting="SIDECAR_PROXY_MAX_SIZE")
                else:
                    raise PolicyRefused(key, f"{key!r} is not a suggester the proxy forwards (allowed: text, prefix, "
                                             f"{', '.join(sorted(SUGGESTERS))})")
            out[name] = one
        return out

    def field_list(self, value: Any, key: str) -> Any:
        items = value if isinstance(value, list) else [value]
        for item in items:
            name = item.get("field") if isinstance(item, dict) else item
            if key == "docvalue_fields" and isinstance(name, str) and name in VECTOR_FIELDS:
                raise PolicyRefused(key, f"{name!r} has no doc values to read")
            data_only(item, key)
        return value
