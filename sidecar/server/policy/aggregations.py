"""The aggregations part of the walk (a mixin of ``walk.Walk``): types and parameters from the
tables, the budget of buckets, hits and cardinality sketches charged through the nesting."""
from __future__ import annotations

from typing import Any

from .tables import (AGGS, BUCKETS_PER_SEARCH, BUCKET_PARAMS, DEFAULTS, EXPENSIVE, MAX_AGGS, MAX_AGG_DEPTH,
                     MAX_NAMED_FILTERS, MAX_RANGES, MAX_SKETCH_WORK)
from .values import PolicyRefused, whole_number, as_list, number, source_filter, data_only


class Aggregations:
    """The aggregation checks; the counters (``aggs``, ``hits``, ``buckets``, ``sketch``) and
    ``policy`` are the walk's."""

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
        if number(spec.get("min_doc_count", 0), f"{kind}.min_doc_count") >= 1:
            return
        bounds = spec.get("hard_bounds")
        interval = spec.get("interval")
        limit = BUCKETS_PER_SEARCH * self.policy.max_buckets
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
            made = self.policy.max_buckets  # not known before it runs (see the module's docstring)
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
        limit = BUCKETS_PER_SEARCH * self.policy.max_buckets
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
                out[key] = whole_number(value, f"{kind}.{key}", lo=0, hi=self.policy.max_buckets, setting="SIDECAR_PROXY_MAX_BUCKETS",
                                rule="buckets")
            elif kind == "top_hits" and key in ("size", "from"):
                out[key] = whole_number(value, f"top_hits.{key}", lo=0, hi=self.policy.max_size, setting="SIDECAR_PROXY_MAX_SIZE")
            elif key == "filters":
                count = len(value) if isinstance(value, (dict, list)) else 0
                if count > MAX_NAMED_FILTERS:
                    raise PolicyRefused("filters", f"{at}: {count} filters; the limit is {MAX_NAMED_FILTERS}")
                out[key] = ({n: self.query(q, f"{at}.filters.{n}", 0) for n, q in value.items()}
                            if isinstance(value, dict) else [self.query(q, f"{at}.filters", 0) for q in as_list(value, at)])
            elif key == "ranges":
                count = len(as_list(value, f"{at}.ranges"))
                if count > MAX_RANGES:
                    raise PolicyRefused("ranges", f"{at}: {count} ranges; the limit is {MAX_RANGES}")
                out[key] = data_only(value, f"{at}.ranges")
            elif key == "_source":
                out[key] = source_filter(value, f"{at}._source")
            elif kind == "cardinality" and key == "precision_threshold":
                out[key] = whole_number(value, "cardinality.precision_threshold", lo=0, hi=40_000)
            elif key == "sort":
                out[key] = self.sort(value, f"{at}.sort")
            elif key in ("include", "exclude") and isinstance(value, str) and not self.policy.allow_expensive:
                raise PolicyRefused(key, f"a regular expression in {kind}.{key} is costly; list the values", EXPENSIVE)
            else:
                out[key] = data_only(value, f"{at}.{key}")
        return out

    # --- options --------------------------------------------------------------------------
