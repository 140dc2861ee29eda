"""What the proxy forwards, as tables: the query, aggregation and option types with their
parameters, the keys no data parameter may hold, and the bounds of one search's work."""
from __future__ import annotations

import re

from ...retrieval.facets import MAX_FACETS

COSTLY_SYNTAX = re.compile(r"[/*?~]")  # regex, wildcard and fuzzy operators of the Lucene syntax
MAX_BOOL_DEPTH = 10  # bool inside bool; real SRP queries nest 2-3 deep
MAX_JSON_DEPTH = 64  # any nesting at all
MAX_AGGS = MAX_FACETS  # aggregations in one search, nested ones included (a /search facet is one)
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

COMMON_PARAMS = frozenset({"boost", "_name"})
# {"<type>": {"<field>": value | {params}}}: a query on one field, with its parameters
FIELD_QUERIES: dict[str, frozenset[str]] = {
    "match": COMMON_PARAMS | {"query", "operator", "minimum_should_match", "analyzer", "zero_terms_query", "lenient",
                   "auto_generate_synonyms_phrase_query"},
    "match_phrase": COMMON_PARAMS | {"query", "slop", "analyzer", "zero_terms_query"},
    "match_phrase_prefix": COMMON_PARAMS | {"query", "slop", "max_expansions", "analyzer", "zero_terms_query"},
    "match_bool_prefix": COMMON_PARAMS | {"query", "operator", "minimum_should_match", "analyzer"},
    "term": COMMON_PARAMS | {"value", "case_insensitive"},
    "prefix": COMMON_PARAMS | {"value", "case_insensitive"},
    "range": COMMON_PARAMS | {"gt", "gte", "lt", "lte", "from", "to", "include_lower", "include_upper", "format", "time_zone",
                   "relation"},
}
# {"<type>": {params}}: the parameters name the fields themselves
PARAM_QUERIES: dict[str, frozenset[str]] = {
    "match_all": COMMON_PARAMS,
    "match_none": frozenset({"_name"}),
    "exists": COMMON_PARAMS | {"field"},
    "ids": COMMON_PARAMS | {"values"},
    "multi_match": COMMON_PARAMS | {"query", "fields", "type", "operator", "minimum_should_match", "tie_breaker", "analyzer",
                         "slop", "lenient", "zero_terms_query", "auto_generate_synonyms_phrase_query"},
    "simple_query_string": COMMON_PARAMS | {"query", "fields", "default_operator", "analyzer", "flags", "lenient",
                                 "minimum_should_match", "quote_field_suffix", "auto_generate_synonyms_phrase_query"},
    "query_string": COMMON_PARAMS | {"query", "default_field", "fields", "default_operator", "analyzer", "lenient",
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
             COMMON_PARAMS | {"minimum_should_match", "adjust_pure_negative"}),
    "constant_score": ({"filter": "query"}, COMMON_PARAMS),
    "dis_max": ({"queries": "queries"}, COMMON_PARAMS | {"tie_breaker"}),
    "boosting": ({"positive": "query", "negative": "query"}, COMMON_PARAMS | {"negative_boost"}),
    "nested": ({"query": "query", "inner_hits": "inner_hits"}, COMMON_PARAMS | {"path", "score_mode", "ignore_unmapped"}),
    "function_score": ({"query": "query", "functions": "functions", "field_value_factor": "data",
                        "random_score": "data", "gauss": "data", "linear": "data", "exp": "data"},
                       COMMON_PARAMS | {"score_mode", "boost_mode", "max_boost", "min_score", "weight"}),
}
KNN_PARAMS = COMMON_PARAMS | {"vector", "k", "filter", "min_score", "max_distance", "method_parameters", "expand_nested_docs",
                   "rescore"}
# neural-search's query, run by the sidecar as knn with the query text encoded (model_id is accepted
# and ignored: the sidecar's own encoder embeds the text)
NEURAL_PARAMS = COMMON_PARAMS | {"query_text", "k", "filter", "min_score", "max_distance", "model_id", "method_parameters"}
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


