"""Constraint properties from the registry: each one's keys reach the schema and the parser, and
price bands (the property added as one file) place, cap and explain as the others do."""
from __future__ import annotations

import numpy as np
import pytest

from sidecar.rerank import CandidateBatch, parse_rule, rerank_batch
from sidecar.rerank import properties
from sidecar.rerank.batch import Column
from sidecar.rerank.rule import CONSTRAINT_KEYS
from sidecar.rules.file_schema import schema


def test_every_registered_property_reaches_the_schema_and_the_parser():
    constraint = schema()["$defs"]["constraint"]
    for p in properties.REGISTERED:
        assert p.keys <= set(constraint["properties"]) and p.keys <= CONSTRAINT_KEYS
        parsed = parse_rule({"id": "r", "constraints": [p.example]}).constraints[0]
        assert isinstance(parsed.prop, p) and parsed.any == p.per_value
    assert {"required": ["bands", "min"]} in constraint["not"]["anyOf"]


def test_bands_are_closed_below_and_open_above():
    prop = properties.Bands.parse({"bands": [500, 1000, 2000]}, "c")
    col = Column.of([499.99, 500, 999.999, 1000, 2000, 1e9, None, "n/a"])
    assert prop.evaluate(col, None).tolist() == [0, 1, 1, 2, 3, 3, -1, -1]
    assert prop.n_values(col) == 4


@pytest.mark.parametrize("bad, message", [([], "non-empty list"), ([1, 1], "increase strictly"),
                                          ([2, 1], "increase strictly"), (["a"], "finite numbers"),
                                          ([True], "finite numbers")])
def test_bad_bands_are_refused_naming_the_constraint(bad, message):
    with pytest.raises(ValueError, match=f"price bands.*{message}"):
        parse_rule({"id": "r", "constraints": [{"field": "price", "bands": bad, "max": 0.5}]})


def test_bands_go_with_max_only_and_one_property_per_constraint():
    with pytest.raises(ValueError, match="'bands' goes with 'max' only"):
        parse_rule({"id": "r", "constraints": [{"field": "price", "bands": [10], "min": 0.2}]})
    with pytest.raises(ValueError, match="exactly one property is required: .*'bands'"):
        parse_rule({"id": "r", "constraints": [{"field": "price", "bands": [10], "any": True, "max": 0.2}]})


def test_a_price_band_cap_holds_on_the_page_and_is_explained():
    """20 cheap items score above 20 dear ones: with no band above half the page, a page of 10
    holds 5 of each, and the dear ones are placed by the band constraint."""
    n = 40
    prices = [10.0 + i for i in range(20)] + [900.0 + i for i in range(20)]
    batch = CandidateBatch.from_columns([f"p{i}" for i in range(n)], np.linspace(2.0, 1.0, n), {"price": prices})
    out = rerank_batch(batch, {"id": "b", "lambda": 0.0, "constraints": [{"field": "price", "bands": [100], "max": 0.5}]},
                       size=10, explain=True)
    ids = [h["id"] for h in out["hits"]]
    dear = [i for i in ids if int(i[1:]) >= 20]
    assert len(dear) == 5, ids
    assert {h["reason"].get("constraint") for h in out["hits"] if h["id"] in dear} == {"price bands [100] max 0.5"}
