"""Integers written with a fraction or an exponent are refused wherever a request shape says
integer (no OpenSearch needed): JSON Schema counts 10.0 as an integer, Python does not."""
from __future__ import annotations

import pytest

from sidecar.search.contract import validate


@pytest.mark.parametrize("name, body, field", [
    ("SearchRequest", {"q": "s", "size": 10.0}, "size"),
    ("SearchRequest", {"q": "s", "from": 1e1}, "from"),
    ("SearchRequest", {"q": "s", "like": 15970.0}, "like"),
    ("SearchRequest", {"q": "s", "facets": {"brand": {"size": 2.0}}}, "facets.brand.size"),
    ("RerankRequest", {"candidates": [{"id": "a", "score": 1}, {"id": 2.0, "score": 1}], "rule": "default"},
     "candidates[1].id"),
    ("RerankRequest", {"candidates": [{"id": "a", "score": 1, "signature": [1, 2.0]}], "rule": "default"},
     "candidates[0].signature[1]"),
    ("RerankRequest", {"candidates": [], "rule": {"id": "x", "dedup": {"num_perm": 64.0}}}, "rule.dedup.num_perm"),
    ("RerankExt", {"rule": "default", "overrides": {}}, None),
])
def test_a_float_where_an_integer_is_meant_is_named(name, body, field):
    if field is None:
        validate(name, body)
        return
    with pytest.raises(ValueError) as err:
        validate(name, body)
    assert str(err.value).startswith(f"{field}: must be an integer")


def test_numbers_stay_numbers():
    validate("SearchRequest", {"q": "s", "size": 10, "vector": [0.5, 1.0, 2], "filters": {"price": {"gte": 10.0}}})
    validate("RerankRequest", {"candidates": [{"id": 3, "score": 1.0, "vector": [1.0, 0.5], "fields": {"price": 2.0}}],
                               "rule": {"id": "x", "lambda": 1.0, "size": 3}})
