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

from .values import PolicyRefused, data_only, strip_hit, strip_node_ids
from .walk import ProxyPolicy

__all__ = ["PolicyRefused", "ProxyPolicy", "data_only", "strip_hit", "strip_node_ids"]
