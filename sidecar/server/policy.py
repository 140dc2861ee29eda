"""What the read-only proxy forwards: an allow-list of body keys, query, aggregation and option
types with their parameters, an index allow-list, caps on what a search may return, and no
scripts or costly query types unless a setting allows them.

A frontend's search box must not be able to run painless, a catastrophic regexp or a 10,000-hit
page on the cluster every shopper shares, nor read an index the allow-list forbids: a terms
lookup (``{"terms": {"price": {"index": "tenant-secrets", ...}}}``), ``geo_shape.indexed_shape``,
``percolate`` and ``more_like_this`` name other documents inside the body, and a ``wrapper``
query hides any of them in base64. So the body is walked whole, by position: each key must be one
this module lists for that place (a query type where a query stands, a parameter of that type,
an aggregation type, a body option), anything else is refused by name, and the parameters that
can name another index or document are not on any list. Numbers are read the way OpenSearch
reads them (``"10000"``, ``1e4`` and ``10000.0`` are all 10000) before bounds are checked, and
the forwarded body carries the checked integer.

The work a body can ask for is bounded before it is sent (the walk's counters): the hits it
returns (the page, ``top_hits`` in every bucket it sits in, ``inner_hits`` of every page hit), the buckets its
aggregations can make (a bucket aggregation's count times the buckets it nests in), the ranges and
named filters of one aggregation, the cardinality sketches' memory, and every number within 64
bits. A histogram's bucket count is not known before it runs: by default (``min_doc_count`` 0) it
fills every empty bucket between the field's lowest and highest value, so a tiny interval makes
millions of them and trips OpenSearch's circuit breaker for every shopper before its own
``search.max_buckets`` says no. The proxy takes a histogram with ``min_doc_count`` >= 1 (at most a
bucket per product found), or a numeric one whose ``hard_bounds`` and interval make at most the
search's bucket budget; for what nests inside a histogram, it counts as SIDECAR_PROXY_MAX_BUCKETS
buckets, and OpenSearch's ``search.max_buckets`` bounds it itself (its ``too_many_buckets`` is a
400). The answer's bytes are capped by the proxy's connection (SIDECAR_PROXY_MAX_RESPONSE_BYTES),
the last line for what no count foresees (large fields).

``check`` returns the body to forward; a ``PolicyRefused`` (a 400 in OpenSearch's error shape,
``policy_refused``) names the first rule broken. Guarantee: every query or aggregation that
reaches OpenSearch is one of the listed types with listed parameters, within the budget; what
this does not judge is the cost of an allowed query on an allowed index (bounded by sizes, the
budget and OpenSearch's timeout).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Config
from .source import client_spec

COSTLY_SYNTAX = re.compile(r"[/*?~]")  # regex, wildcard and fuzzy operators of the Lucene syntax
MAX_BOOL_DEPTH = 10  # bool inside bool; real SRP queries nest 2-3 deep
MAX_JSON_DEPTH = 64  # any nesting at all
MAX_AGGS = 20  # aggregations in one search, nested ones included
MAX_AGG_DEPTH = 3
MIN_PREFIX = 3  # a shorter prefix expands to a large part of the term dictionary
PREFIX_QUERIES = frozenset({"prefix", "match_phrase_prefix", "match_bool_prefix"})  # the last term a prefix
MAX_EXPANSIONS = 100  # terms one prefix may expand to (OpenSearch's default for phrase prefixes is 50)
MAX_RANGES = 100  # ranges of one range or date_range aggregation
MAX_NAMED_FILTERS = 100  # filters of one filters aggregation
MAX_INNER_HITS = 3  # inner_hits entries of one collapse
BUCKETS_PER_SEARCH = 20  # x SIDECAR_PROXY_MAX_BUCKETS: the buckets all aggregations of a search can make
MAX_SKETCH_WORK = 400_000  # cardinality precision_threshold x the buckets it runs in (~3 MB of sketches)
DEFAULTS = {"terms": 10, "composite": 10, "top_hits": 3, "inner_hits": 3, "precision_threshold": 3000}
INT64 = (-(2 ** 63), 2 ** 63 - 1)  # what OpenSearch reads as a number (a long)
VECTOR_FIELDS = frozenset({"vector", "vector_f16", "minhash"})  # no doc values to read (OpenSearch answers 500)
EXPENSIVE = "SIDECAR_PROXY_ALLOW_EXPENSIVE=on"

_B = frozenset({"boost", "_name"})
# {"<type>": {"<field>": value | {params}}}: a query on one field, with its parameters
FIELD_QUERIES: dict[str, frozenset[str]] = {
    "match": _B | {"query", "operator", "minimum_should_match", "analyzer", "zero_terms_query", "lenient",
                   "auto_generate_synonyms_phrase_query"},
    "match_phrase": _B | {"query", "slop", "analyzer", "zero_terms_query"},
    "match_phrase_prefix": _B | {"query", "slop", "max_expansions", "analyzer", "zero_terms_query"},
    "match_bool_prefix": _B | {"query", "operator", "minimum_should_match", "analyzer"},
    "term": _B | {"value", "case_insensitive"},
    "prefix": _B | {"value", "case_insensitive"},
    "range": _B | {"gt", "gte", "lt", "lte", "from", "to", "include_lower", "include_upper", "format", "time_zone",
                   "relation"},
}
# {"<type>": {params}}: the parameters name the fields themselves
PARAM_QUERIES: dict[str, frozenset[str]] = {
    "match_all": _B,
    "match_none": frozenset({"_name"}),
    "exists": _B | {"field"},
    "ids": _B | {"values"},
    "multi_match": _B | {"query", "fields", "type", "operator", "minimum_should_match", "tie_breaker", "analyzer",
                         "slop", "lenient", "zero_terms_query", "auto_generate_synonyms_phrase_query"},
    "simple_query_string": _B | {"query", "fields", "default_operator", "analyzer", "flags", "lenient",
                                 "minimum_should_match", "quote_field_suffix", "auto_generate_synonyms_phrase_query"},
    "query_string": _B | {"query", "default_field", "fields", "default_operator", "analyzer", "lenient",
                          "minimum_should_match", "quote_field_suffix", "type", "tie_breaker", "phrase_slop",
                          "auto_generate_synonyms_phrase_query"},
}
TEXT_QUERIES = frozenset({"query_string", "simple_query_string"})  # Lucene syntax: screened, not refused
# allowed only with SIDECAR_PROXY_ALLOW_EXPENSIVE=on (with any scalar parameters)
COSTLY_QUERIES = frozenset({"regexp", "wildcard", "fuzzy", "script", "script_score"})
FUZZY_PARAMS = frozenset({"fuzziness", "prefix_length", "max_expansions", "fuzzy_transpositions", "fuzzy_rewrite",
                          "fuzzy_max_expansions", "fuzzy_prefix_length", "analyze_wildcard", "allow_leading_wildcard"})
# compound queries: {param: "query" | "queries" | "inner_hits" | "functions"}, plus scalar params
COMPOUND: dict[str, tuple[dict[str, str], frozenset[str]]] = {
    "bool": ({"must": "queries", "should": "queries", "filter": "queries", "must_not": "queries"},
             _B | {"minimum_should_match", "adjust_pure_negative"}),
    "constant_score": ({"filter": "query"}, _B),
    "dis_max": ({"queries": "queries"}, _B | {"tie_breaker"}),
    "boosting": ({"positive": "query", "negative": "query"}, _B | {"negative_boost"}),
    "nested": ({"query": "query", "inner_hits": "inner_hits"}, _B | {"path", "score_mode", "ignore_unmapped"}),
    "function_score": ({"query": "query", "functions": "functions", "field_value_factor": "data",
                        "random_score": "data", "gauss": "data", "linear": "data", "exp": "data"},
                       _B | {"score_mode", "boost_mode", "max_boost", "min_score", "weight"}),
}
KNN_PARAMS = _B | {"vector", "k", "filter", "min_score", "max_distance", "method_parameters", "expand_nested_docs",
                   "rescore"}
# neural-search's query, run by the sidecar as knn with the query text encoded (model_id is accepted
# and ignored: the sidecar's own encoder embeds the text)
NEURAL_PARAMS = _B | {"query_text", "k", "filter", "min_score", "max_distance", "model_id", "method_parameters"}
# why the types that read other indices or documents, or hide a query, are never forwarded
NEVER = {
    "wrapper": "a wrapper query hides its query in base64",
    "percolate": "percolate reads stored queries (and documents by index and id)",
    "more_like_this": "more_like_this reads documents by index and id",
    "geo_shape": "geo_shape can read an indexed shape from another index",
    "terms_set": "terms_set runs a script or reads another field per document",
    "has_child": "join queries are not proxied", "has_parent": "join queries are not proxied",
    "parent_id": "join queries are not proxied",
}
NEVER_TOP = {
    "profile": "its output names the cluster's nodes and shards",
    "indices_boost": "it names indices",
    "pit": "point-in-time contexts are not proxied (the proxy is stateless)",
    "slice": "sliced scrolls are not proxied",
    "search_pipeline": "search pipelines are the cluster's, not the client's",
}
# aggregations: {type: params}; "query" marks a parameter holding a query
METRIC = frozenset({"field", "missing", "format"})
AGGS: dict[str, frozenset[str]] = {
    "terms": frozenset({"field", "size", "shard_size", "min_doc_count", "shard_min_doc_count", "order", "missing",
                        "show_term_doc_count_error", "include", "exclude", "collect_mode", "value_type"}),
    "range": frozenset({"field", "ranges", "keyed", "missing", "format"}),
    "date_range": frozenset({"field", "ranges", "keyed", "missing", "format", "time_zone"}),
    "histogram": frozenset({"field", "interval", "min_doc_count", "extended_bounds", "hard_bounds", "offset", "order",
                            "keyed", "missing"}),
    "date_histogram": frozenset({"field", "calendar_interval", "fixed_interval", "interval", "format", "time_zone",
                                 "min_doc_count", "extended_bounds", "hard_bounds", "offset", "order", "keyed",
                                 "missing"}),
    "avg": METRIC, "min": METRIC, "max": METRIC, "sum": METRIC, "value_count": METRIC, "stats": METRIC,
    "extended_stats": METRIC | {"sigma"},
    "cardinality": METRIC | {"precision_threshold"},
    "percentiles": METRIC | {"percents", "keyed"},
    "missing": frozenset({"field"}),
    "filters": frozenset({"filters", "other_bucket", "other_bucket_key"}),
    "top_hits": frozenset({"size", "from", "_source", "sort", "track_scores", "version"}),
    "composite": frozenset({"size", "sources", "after"}),
    "nested": frozenset({"path"}), "reverse_nested": frozenset({"path"}),
    "global": frozenset(),
}
# int-valued parameters whose bound is a setting: (where, setting attribute)
BUCKET_PARAMS = frozenset({"size", "shard_size"})
SCRIPT_TOP = frozenset({"script_fields", "runtime_mappings"})  # only with SIDECAR_PROXY_ALLOW_EXPENSIVE=on
TOP_KEYS = frozenset({"query", "post_filter", "aggs", "aggregations", "size", "from", "_source", "sort",
                      "search_after", "track_total_hits", "track_scores", "min_score", "timeout", "terminate_after",
                      "version", "seq_no_primary_term", "explain", "highlight", "collapse", "rescore", "suggest",
                      "stored_fields", "docvalue_fields", "fields", "stats"})
HIGHLIGHT_PARAMS = frozenset({"fields", "pre_tags", "post_tags", "fragment_size", "number_of_fragments", "type",
                              "require_field_match", "highlight_query", "order", "encoder", "boundary_scanner",
                              "boundary_chars", "boundary_max_scan", "boundary_scanner_locale", "fragmenter",
                              "no_match_size", "phrase_limit", "tags_schema", "max_analyzer_offset", "matched_fields"})
SUGGESTERS = {"term": frozenset({"field", "size", "sort", "suggest_mode", "analyzer", "max_edits", "prefix_length",
                                 "min_word_length", "shard_size", "string_distance"}),
              "phrase": frozenset({"field", "size", "gram_size", "real_word_error_likelihood", "confidence",
                                   "max_errors", "separator", "analyzer", "shard_size", "highlight"}),
              "completion": frozenset({"field", "size", "skip_duplicates"})}
# keys that never appear inside a data-only parameter (ranges, order, bounds, composite sources)
DATA_FORBIDDEN = frozenset({"script", "index", "_index", "id", "_id", "indexed_shape", "wrapper", "routing",
                            "preference", "source"})


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

    def check(self, body: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        """The body to forward (numbers read as OpenSearch reads them), or PolicyRefused. ``body``
        has size and from already moved in from the URL; ``params`` are the URL's others."""
        return _Walk(self).body(body, params)


class _Walk:
    """One check: the walk over a body, with the counters it keeps (aggregations, depth, and the
    budget: hits returned, buckets, cardinality sketches)."""

    def __init__(self, policy: ProxyPolicy):
        self.p = policy
        self.aggs = 0
        self.hits = 0  # hits the aggregations return (top_hits x the buckets it is in)
        self.hits_per_hit = 0  # inner hits each page hit carries (collapse and nested inner_hits)
        self.buckets = 0
        self.sketch = 0

    # --- the body -------------------------------------------------------------------------
    def body(self, body: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        _depth(body, 0)
        _int64(body, "body")
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key in NEVER_TOP:
                raise PolicyRefused(key, NEVER_TOP[key])
            if key in SCRIPT_TOP:
                if not self.p.allow_expensive:
                    raise PolicyRefused("script", f"scripts ({key}) do not run through the proxy", EXPENSIVE)
                out[key] = data_only(value, key, allow_script=True)
                continue
            if key not in TOP_KEYS:
                raise PolicyRefused(key, f"{key!r} is not a search option the proxy forwards "
                                         f"(allowed: {', '.join(sorted(TOP_KEYS))})")
            out[key] = self.option(key, value)
        size = out.get("size", 10)
        frm = out.get("from", 0)
        if size > self.p.max_size:
            raise PolicyRefused("size", f"size {size} is over {self.p.max_size}", "SIDECAR_PROXY_MAX_SIZE")
        if frm + size > self.p.max_window:
            raise PolicyRefused("from", f"from + size = {frm + size} is over {self.p.max_window}", "SIDECAR_MAX_WINDOW")
        if not self.p.allow_expensive and "q" in params and COSTLY_SYNTAX.search(params["q"]):
            raise PolicyRefused("q", "regex, wildcard and fuzzy operators (/ * ? ~) in q", EXPENSIVE)
        hits = size + self.hits + size * self.hits_per_hit
        if hits > self.p.max_window:
            raise PolicyRefused("hits", f"the search returns up to {hits} hits (the page, top_hits in each bucket, "
                                        f"inner_hits of each hit); the limit is {self.p.max_window}",
                                "SIDECAR_MAX_WINDOW")
        return out

    def option(self, key: str, value: Any) -> Any:
        if key in ("query", "post_filter"):
            return self.query(value, key, 0)
        if key in ("aggs", "aggregations"):
            return self.aggregations(value, key, 1)
        if key in ("size", "from", "terminate_after"):
            return _int(value, key, lo=0)
        if key == "track_total_hits":
            return value if isinstance(value, bool) else _int(value, key, lo=0)
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
            return _source(value, key)
        if key in ("search_after", "stats"):
            if not isinstance(value, list):
                raise PolicyRefused(key, "must be a list")
            return data_only(value, key)
        return _scalar(value, key)

    # --- queries --------------------------------------------------------------------------
    def query(self, node: Any, where: str, bools: int) -> dict[str, Any]:
        if not isinstance(node, dict) or len(node) != 1:
            raise PolicyRefused(where, "a query is an object with exactly one query type")
        ((kind, spec),) = node.items()
        at = f"{where}.{kind}"
        if kind in NEVER:
            raise PolicyRefused(kind, NEVER[kind])
        if kind in COSTLY_QUERIES:
            if not self.p.allow_expensive:
                raise PolicyRefused(kind, f"{kind} queries are costly on text", EXPENSIVE) if "script" not in kind \
                    else PolicyRefused("script", f"scripts ({kind}) do not run through the proxy", EXPENSIVE)
            return {kind: data_only(spec, at, allow_script=True)}
        if kind in FIELD_QUERIES:
            return {kind: self.field_query(kind, spec, at)}
        if kind in PARAM_QUERIES:
            allowed = PARAM_QUERIES[kind] | (FUZZY_PARAMS if self.p.allow_expensive else frozenset())
            out = _params(spec, allowed, at, lambda k: self._fuzzy(k, at))
            if kind == "multi_match" and out.get("type") in ("phrase_prefix", "bool_prefix") \
                    and not self.p.allow_expensive:
                _prefix(f"multi_match ({out['type']})", out.get("query"), False)
            if kind in TEXT_QUERIES and not self.p.allow_expensive and COSTLY_SYNTAX.search(str(out.get("query", ""))):
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
        allowed = FIELD_QUERIES[kind] | (FUZZY_PARAMS if self.p.allow_expensive and kind == "match" else frozenset())
        out: dict[str, Any] = {}
        for field, value in spec.items():
            if field in ("boost", "_name"):
                out[field] = _scalar(value, f"{at}.{field}")
                continue
            out[field] = (_params(value, allowed, f"{at}.{field}", lambda k: self._fuzzy(k, at))
                          if isinstance(value, dict) else _scalar(value, f"{at}.{field}"))
            if kind in PREFIX_QUERIES and not self.p.allow_expensive:
                key = "value" if kind == "prefix" else "query"
                _prefix(kind, out[field].get(key) if isinstance(out[field], dict) else out[field], kind == "prefix")
            if isinstance(out[field], dict) and "max_expansions" in out[field]:
                out[field]["max_expansions"] = _int(out[field]["max_expansions"], f"{kind}.max_expansions", lo=1,
                                                    hi=MAX_EXPANSIONS)
        return out

    def terms(self, spec: Any, at: str) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise PolicyRefused("terms", f"{at} must be an object naming a field")
        out: dict[str, Any] = {}
        for field, value in spec.items():
            if field in ("boost", "_name", "value_type"):
                out[field] = _scalar(value, f"{at}.{field}")
            elif isinstance(value, list):
                out[field] = [_scalar(v, f"{at}.{field}") for v in value]
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
                out[key] = _int(value, f"{kind}.k", lo=1, hi=self.p.max_window, setting="SIDECAR_MAX_WINDOW")
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
                out[key] = [self.function(f, f"{at}.{key}", bools) for f in _list(value, f"{at}.{key}")]
            elif how == "data":
                out[key] = data_only(value, f"{at}.{key}")
            elif key in scalars:
                out[key] = _scalar(value, f"{at}.{key}")
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
                out[key] = _scalar(value, f"{at}.weight")
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
                out[key] = _int(value, f"inner_hits.{key}", lo=0, hi=self.p.max_size, setting="SIDECAR_PROXY_MAX_SIZE")
            elif key == "sort":
                out[key] = self.sort(value, f"{at}.sort")
            elif key == "_source":
                out[key] = _source(value, f"{at}._source")
            elif key in ("name", "version", "seq_no_primary_term", "track_scores", "ignore_unmapped"):
                out[key] = data_only(value, f"{at}.{key}")
            elif key == "highlight":
                out[key] = self.highlight(value)
            else:
                raise PolicyRefused(key, f"{key!r} is not a parameter of inner_hits")
        self.hits_per_hit += out.get("size", DEFAULTS["inner_hits"]) + out.get("from", 0)
        return out

    # --- aggregations ---------------------------------------------------------------------
    def aggregations(self, aggs: Any, where: str, depth: int, within: int = 1) -> dict[str, Any]:
        """``within``: how many buckets of the enclosing aggregations each of these runs in."""
        if depth > MAX_AGG_DEPTH:
            raise PolicyRefused("aggs", f"aggregations nest deeper than {MAX_AGG_DEPTH} levels")
        if not isinstance(aggs, dict):
            raise PolicyRefused("aggs", f"{where} must be an object of named aggregations")
        out: dict[str, Any] = {}
        for name, agg in aggs.items():
            if not isinstance(agg, dict):
                raise PolicyRefused("aggs", f"{where}.{name} must be an object")
            self.aggs += 1
            if self.aggs > MAX_AGGS:
                raise PolicyRefused("aggs", f"more than {MAX_AGGS} aggregations")
            kinds = [k for k in agg if k not in ("aggs", "aggregations", "meta")]
            if len(kinds) != 1:
                raise PolicyRefused("aggs", f"{where}.{name} must have exactly one aggregation type")
            kind = kinds[0]
            one: dict[str, Any] = {kind: self.aggregation(kind, agg[kind], f"{where}.{name}.{kind}")}
            made = within * self.charge(kind, one[kind], f"{where}.{name}", within)
            for key, value in agg.items():
                if key in ("aggs", "aggregations"):
                    one[key] = self.aggregations(value, f"{where}.{name}.{key}", depth + 1, max(made, within))
                elif key == "meta":
                    one[key] = data_only(value, f"{where}.{name}.meta")
            out[name] = {key: one[key] for key in agg}
        return out

    def histogram(self, kind: str, spec: dict[str, Any], at: str) -> None:
        """A histogram fills its empty buckets only within a bound the budget holds."""
        if _number(spec.get("min_doc_count", 0), f"{kind}.min_doc_count") >= 1:
            return
        bounds = spec.get("hard_bounds")
        interval = spec.get("interval")
        limit = BUCKETS_PER_SEARCH * self.p.max_buckets
        if kind == "histogram" and isinstance(bounds, dict):
            lo, hi = bounds.get("min"), bounds.get("max")
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi, interval)) and interval > 0:
                if (hi - lo) / interval <= limit:
                    return
        raise PolicyRefused("min_doc_count", f"{at}: a histogram with min_doc_count 0 makes a bucket for every interval "
                                             "between the field's lowest and highest value, however many that is; set "
                                             f"min_doc_count >= 1, or (histogram) hard_bounds making at most {limit} "
                                             "buckets")

    def charge(self, kind: str, spec: Any, at: str, within: int) -> int:
        """Count a checked aggregation against the budget; returns the buckets it makes in each
        enclosing bucket (0 for a metric)."""
        spec = spec if isinstance(spec, dict) else {}
        if kind in ("terms", "composite"):
            made = spec.get("size", DEFAULTS[kind])
        elif kind in ("range", "date_range"):
            made = len(spec.get("ranges") or ())  # at most MAX_RANGES: ``aggregation`` checked it
        elif kind == "filters":
            made = len(spec.get("filters") or ()) + bool(spec.get("other_bucket") or spec.get("other_bucket_key"))
            if made > MAX_NAMED_FILTERS:
                raise PolicyRefused("filters", f"{at}: {made} filters; the limit is {MAX_NAMED_FILTERS}")
        elif kind in ("histogram", "date_histogram"):
            self.histogram(kind, spec, at)
            made = self.p.max_buckets  # not known before it runs (see the module's docstring)
        elif kind in ("filter", "missing", "global", "nested", "reverse_nested"):
            made = 1
        else:  # a metric
            if kind == "top_hits":
                self.hits += within * (spec.get("size", DEFAULTS["top_hits"]) + spec.get("from", 0))
            elif kind == "cardinality":
                self.sketch += within * min(spec.get("precision_threshold", DEFAULTS["precision_threshold"]), 40_000)
                if self.sketch > MAX_SKETCH_WORK:
                    raise PolicyRefused("precision_threshold", f"{at}: cardinality sketches of precision_threshold x "
                                        f"buckets = {self.sketch}; the limit is {MAX_SKETCH_WORK}")
            return 0
        self.buckets += within * made
        limit = BUCKETS_PER_SEARCH * self.p.max_buckets
        if self.buckets > limit:
            raise PolicyRefused("buckets", f"{at}: the aggregations can make {self.buckets} buckets (each bucket "
                                f"aggregation's count times the buckets it nests in); the limit is {limit}",
                                f"{BUCKETS_PER_SEARCH} x SIDECAR_PROXY_MAX_BUCKETS")
        return made

    def aggregation(self, kind: str, spec: Any, at: str) -> Any:
        if kind == "filter":
            return self.query(spec, at, 0)
        if kind not in AGGS:
            if any(s in kind for s in ("script", "bucket_selector", "bucket_script")):
                raise PolicyRefused("script", f"scripts ({kind}) do not run through the proxy", EXPENSIVE)
            raise PolicyRefused(kind, f"{kind!r} is not an aggregation the proxy forwards (allowed: "
                                      f"{', '.join(sorted(set(AGGS) | {'filter'}))})")
        if not isinstance(spec, dict):
            raise PolicyRefused(kind, f"{at} must be an object")
        out: dict[str, Any] = {}
        for key, value in spec.items():
            if key not in AGGS[kind]:
                raise PolicyRefused(key, f"{key!r} is not a parameter of the {kind} aggregation")
            if key in BUCKET_PARAMS and kind != "top_hits":
                out[key] = _int(value, f"{kind}.{key}", lo=0, hi=self.p.max_buckets, setting="SIDECAR_PROXY_MAX_BUCKETS",
                                rule="buckets")
            elif kind == "top_hits" and key in ("size", "from"):
                out[key] = _int(value, f"top_hits.{key}", lo=0, hi=self.p.max_size, setting="SIDECAR_PROXY_MAX_SIZE")
            elif key == "filters":
                count = len(value) if isinstance(value, (dict, list)) else 0
                if count > MAX_NAMED_FILTERS:
                    raise PolicyRefused("filters", f"{at}: {count} filters; the limit is {MAX_NAMED_FILTERS}")
                out[key] = ({n: self.query(q, f"{at}.filters.{n}", 0) for n, q in value.items()}
                            if isinstance(value, dict) else [self.query(q, f"{at}.filters", 0) for q in _list(value, at)])
            elif key == "ranges":
                count = len(_list(value, f"{at}.ranges"))
                if count > MAX_RANGES:
                    raise PolicyRefused("ranges", f"{at}: {count} ranges; the limit is {MAX_RANGES}")
                out[key] = data_only(value, f"{at}.ranges")
            elif key == "_source":
                out[key] = _source(value, f"{at}._source")
            elif kind == "cardinality" and key == "precision_threshold":
                out[key] = _int(value, "cardinality.precision_threshold", lo=0, hi=40_000)
            elif key == "sort":
                out[key] = self.sort(value, f"{at}.sort")
            elif key in ("include", "exclude") and isinstance(value, str) and not self.p.allow_expensive:
                raise PolicyRefused(key, f"a regular expression in {kind}.{key} is costly; list the values", EXPENSIVE)
            else:
                out[key] = data_only(value, f"{at}.{key}")
        return out

    # --- options --------------------------------------------------------------------------
    def sort(self, value: Any, where: str) -> Any:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                for field, spec in item.items():
                    if field == "_script" and not self.p.allow_expensive:
                        raise PolicyRefused("script", "scripts (_script sort) do not run through the proxy", EXPENSIVE)
                    data_only(spec, f"{where}.{field}", allow_script=field == "_script")
            else:
                _scalar(item, where)
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
                        _params(options, HIGHLIGHT_PARAMS - {"fields"}, f"highlight.fields.{field}")
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
                out[key] = _scalar(value, "collapse.field")
            elif key == "inner_hits":
                if isinstance(value, list) and len(value) > MAX_INNER_HITS:
                    raise PolicyRefused("inner_hits", f"collapse.inner_hits: {len(value)} entries; the limit is "
                                                      f"{MAX_INNER_HITS}")
                out[key] = ([self.inner_hits(v, "collapse.inner_hits") for v in value] if isinstance(value, list)
                            else self.inner_hits(value, "collapse.inner_hits"))
            elif key == "max_concurrent_group_searches":
                out[key] = _int(value, "collapse.max_concurrent_group_searches", lo=1, hi=16)
            else:
                raise PolicyRefused(key, f"{key!r} is not a parameter of collapse")
        return out

    def rescore(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise PolicyRefused("rescore", "must be an object")
        out: dict[str, Any] = {}
        for key, value in spec.items():
            if key == "window_size":
                out[key] = _int(value, "rescore.window_size", lo=1, hi=self.p.max_window, setting="SIDECAR_MAX_WINDOW")
            elif key == "query" and isinstance(value, dict):
                inner: dict[str, Any] = {}
                for k, v in value.items():
                    if k == "rescore_query":
                        inner[k] = self.query(v, "rescore.query.rescore_query", 0)
                    elif k in ("query_weight", "rescore_query_weight", "score_mode"):
                        inner[k] = _scalar(v, f"rescore.query.{k}")
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
                out[name] = _scalar(s, "suggest.text")
                continue
            if not isinstance(s, dict):
                raise PolicyRefused("suggest", f"suggest.{name} must be an object")
            one: dict[str, Any] = {}
            for key, value in s.items():
                if key in ("text", "prefix"):
                    one[key] = _scalar(value, f"suggest.{name}.{key}")
                elif key in SUGGESTERS:
                    one[key] = _params(value, SUGGESTERS[key], f"suggest.{name}.{key}")
                    if "size" in one[key]:
                        one[key]["size"] = _int(one[key]["size"], "suggest.size", lo=1, hi=self.p.max_size,
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


def _depth(node: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise PolicyRefused("depth", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(node, dict):
        for v in node.values():
            _depth(v, depth + 1)
    elif isinstance(node, list):
        for v in node:
            _depth(v, depth + 1)


def _number(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PolicyRefused(at.split(".")[-1], f"{at} must be a number")
    try:
        return float(value)
    except ValueError:
        raise PolicyRefused(at.split(".")[-1], f"{at} must be a number, got {value[:40]!r}") from None


def _prefix(kind: str, text: Any, whole: bool) -> None:
    """A prefix query's prefix (``whole``: the value itself; else the last term of the text) has
    at least MIN_PREFIX characters."""
    prefix = str(text) if whole else (re.findall(r"\w+", str(text or "")) or [""])[-1]
    if len(prefix) < MIN_PREFIX:
        raise PolicyRefused("prefix", f"{kind}: a prefix shorter than {MIN_PREFIX} characters ({prefix!r}) matches "
                                      "most of the index", EXPENSIVE)


def _source(value: Any, at: str) -> Any:
    """A ``_source`` of the shapes OpenSearch reads (true, false, a field pattern, a list of them,
    {includes, excludes}); OpenSearch answers others with a 500."""
    try:
        client_spec(value)
    except ValueError as exc:
        raise PolicyRefused("_source", f"{at}{str(exc).removeprefix('_source')}") from None
    return value


def _int64(node: Any, at: str) -> None:
    """Every integer of a body within 64 bits (OpenSearch reads numbers as longs or doubles; a
    larger one is no number it can read, and no JSON this proxy writes)."""
    stack = [(at, node)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((where, v) for v in value)
        elif isinstance(value, int) and not isinstance(value, bool) and not INT64[0] <= value <= INT64[1]:
            raise PolicyRefused(where.rsplit(".", 1)[-1], f"{where}: {value} is not a number within 64 bits")


def _params(spec: Any, allowed: frozenset[str], at: str, unknown: Any = None) -> dict[str, Any]:
    """An object of scalar parameters (or lists of scalars) from ``allowed``."""
    if not isinstance(spec, dict):
        raise PolicyRefused(at.split(".")[-1], f"{at} must be an object")
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in allowed:
            raise unknown(key) if unknown else PolicyRefused(key, f"{key!r} is not a parameter of {at}")
        out[key] = [_scalar(v, f"{at}.{key}") for v in value] if isinstance(value, list) else _scalar(value, f"{at}.{key}")
    return out


def _scalar(value: Any, at: str) -> Any:
    if isinstance(value, (dict, list)):
        raise PolicyRefused(at.split(".")[-1], f"{at} must be a single value")
    return value


def _list(value: Any, at: str) -> list[Any]:
    if not isinstance(value, list):
        raise PolicyRefused(at.split(".")[-1], f"{at} must be a list")
    return value


def data_only(value: Any, at: str, allow_script: bool = False) -> Any:
    """A parameter that is data only (bounds, ranges, order, _source): nested objects are fine,
    but none of their keys may name a script, an index or a document."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key in DATA_FORBIDDEN and not (allow_script and key in ("script", "source")):
                raise PolicyRefused(key, f"{key!r} in {at}: a parameter that names a script, an index or a document "
                                         "is not forwarded")
            data_only(v, f"{at}.{key}", allow_script)
    elif isinstance(value, list):
        for v in value:
            data_only(v, at, allow_script)
    return value


def _int(value: Any, name: str, lo: int = 0, hi: int | None = None, setting: str | None = None,
         rule: str | None = None) -> int:
    """A whole number as OpenSearch reads one: 10, "10", 10.0 and 1e1 are all 10 (``rule``: the
    name a bound's refusal gives, else ``name``)."""
    if isinstance(value, bool):
        raise PolicyRefused(name, f"{name} must be a whole number, got {value!r}")
    n: float
    if isinstance(value, int):
        n = value
    elif isinstance(value, float):
        n = value
    elif isinstance(value, str):
        try:
            n = float(value.strip())
        except ValueError:
            raise PolicyRefused(name, f"{name} must be a whole number, got {value[:40]!r}") from None
    else:
        raise PolicyRefused(name, f"{name} must be a whole number")
    if not math.isfinite(n) or n != int(n):
        raise PolicyRefused(name, f"{name} must be a whole number, got {value!r}")
    if not INT64[0] <= n <= INT64[1]:
        raise PolicyRefused(name, f"{name} must be a whole number within 64 bits, got {value!r}")
    n = int(n)
    if n < lo:
        raise PolicyRefused(name, f"{name} must be at least {lo}, got {n}")
    if hi is not None and n > hi:
        raise PolicyRefused(rule or name, f"{name} {n} is over {hi}", setting)
    return n


def strip_node_ids(response: Any) -> Any:
    """A search response without the cluster's node ids, in each hit (``strip_hit``)."""
    hits = response.get("hits", {}).get("hits") if isinstance(response, dict) else None
    for hit in hits or []:
        strip_hit(hit)
    return response


def strip_hit(hit: Any) -> Any:
    """One hit without the cluster's node ids: ``_node`` goes, and an explained hit's ``_shard``
    ``[node][index][shard]`` keeps ``[index][shard]``."""
    if isinstance(hit, dict):
        hit.pop("_node", None)
        shard = hit.get("_shard")
        if isinstance(shard, str) and shard.count("][") == 2:
            hit["_shard"] = "[" + shard.split("][", 1)[1]
    return hit
