"""Typed, validated form of one rule, as the reranking core needs it.

The rule *file* format is defined by the JSON Schema in ``sidecar/schema/rules.schema.json``
(validated with file:line by ``sidecar.rules``). This module turns one rule dict into frozen
dataclasses and checks what the algorithm depends on, raising ``ValueError`` that names the
rule and constraint, so that inline rules sent to ``rerank()`` get the same checks without I/O.
A test keeps the key sets here equal to the schema's.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import minhash
from .dedup import band_layout
from .properties import KEYS as PROPERTY_KEYS
from .properties import Property, label_of, parse_property
from .strategies import BASE_ORDER_KEYS
from .strategies import STRATEGIES
RULE_KEYS = frozenset(
    {"id", "description", "match", "window", "size", "lambda", "normalize", *BASE_ORDER_KEYS, "dedup", "constraints",
     "fusion", "respect_query"}
)
MATCH_KEYS = frozenset({"queries", "patterns", "categories", "filters", "default"})
ORDER_PARAMS = frozenset({"diversity", "candidates_limit"})
DEDUP_KEYS = frozenset({"field", "threshold", "num_perm", "shingle", "max", "collapse"})
FUSION_KEYS = frozenset({"method", "normalization", "weights", "adaptive"})
FUSION_METHODS = ("convex", "rrf")
CONSTRAINT_KEYS = frozenset({"field", *PROPERTY_KEYS, "min", "max", "label"})

DEFAULT_WINDOW = 200
DEFAULT_SIZE = 20
DEFAULT_LAMBDA = 0.5
DEFAULT_DEDUP_MAX = 1 / 50  # the paper: a near-duplicate group at most once per 50 results


@dataclass(frozen=True)
class Constraint:
    """One agent: a property of an item and a min or max fraction of the page."""

    label: str
    field: str
    kind: str  # "min" | "max"
    fraction: float
    prop: Property

    @property
    def any(self) -> bool:
        """One agent per value of the field (``any: true``, ``bands``)."""
        return self.prop.per_value


@dataclass(frozen=True)
class OrderSpec:
    """The base order: a strategy of ``strategies.STRATEGIES`` with its parameters."""

    strategy: str
    diversity: float
    candidates_limit: int | None = None


@dataclass(frozen=True)
class DedupSpec:
    """Near-duplicate handling of a rule: the text field compared, the Jaccard threshold, the
    MinHash size and shingle, and either a share per group (``max``) or ``collapse``."""
    field: str = "title"
    threshold: float = 0.8
    num_perm: int = 64
    shingle: int = 1  # word n-gram size
    max: float = DEFAULT_DEDUP_MAX
    collapse: bool = False
    # LSH (bands, rows) and the MinHash permutations, worked out once per rule, not per request
    # (``dataclasses.field``: ``field`` here is the text field)
    layout: tuple[int, int] = dataclasses.field(init=False, compare=False)
    perms: tuple[np.ndarray, np.ndarray] = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", band_layout(self.threshold, self.num_perm))
        object.__setattr__(self, "perms", minhash.permutations(self.num_perm))


@dataclass(frozen=True)
class FusionSpec:
    """How a hybrid search fuses its BM25 and kNN lists (``retrieval.fusion``): the method, the
    score normalisation and the two weights (``convex``), and whether the BM25 weight follows
    how well BM25 matched the query's words (``adaptive``)."""

    method: str = "convex"
    normalization: str = "minmax"
    bm25: float = 1.0  # a title holding every word of the query outweighs nearness in the embedding 2:1 (docs/semantic.md)
    knn: float = 0.5
    adaptive: bool = True


@dataclass(frozen=True)
class Rule:
    """A parsed rule: window, page size, lambda, normalisation, base order, dedup and constraints,
    and how it matches queries. Immutable; built by ``parse_rule``, which checks every value."""
    id: str
    window: int = DEFAULT_WINDOW
    size: int = DEFAULT_SIZE
    lam: float = DEFAULT_LAMBDA
    normalize: bool = True
    order: OrderSpec | None = None
    dedup: DedupSpec | None = None
    constraints: tuple[Constraint, ...] = field(default_factory=tuple)
    fusion: FusionSpec = FusionSpec()
    respect_query: bool = True  # a value the query names is not pushed down by its field's constraints
    description: str = ""
    match: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def strategy(self) -> str:
        """The base order's name (``score`` when the rule sets none)."""
        return "score" if self.order is None else self.order.strategy

    @property
    def named_fields(self) -> list[str]:
        """The fields its constraints judge value by value (caps, spreads, equals), in order: a
        value the query names in one of them is left alone (``named``, with ``respect_query``)."""
        return list(dict.fromkeys(c.field for c in self.constraints if c.prop.by_value))

    @property
    def needs_vectors(self) -> bool:
        """Retrieval fetches vectors only for a base order that reads them."""
        return STRATEGIES[self.strategy].needs_vectors


def _check_keys(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    if not obj.keys() <= allowed:
        unknown = sorted(set(obj) - allowed)
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}")


def _number(value: Any, where: str, name: str, *, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False, integer: bool = False) -> float:
    """``value`` checked; errors read '<where>: <name>: ...' (formatted only on error: 10k rules load)."""
    vt = type(value)
    if (vt is int or (vt is float and not integer)) and math.isfinite(value) \
            and (lo is None or (value > lo if lo_open else value >= lo)) and (hi is None or value <= hi):
        return value
    where = f"{where}: {name}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ValueError(f"{where}: expected {'an integer' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: must be finite, got {value!r}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"{where}: must be {'>' if lo_open else '>='} {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ValueError(f"{where}: must be <= {hi}, got {value!r}")
    return value


def parse_constraint(c: Any, where: str) -> Constraint:
    """One constraint mapping as a ``Constraint``: its property (from the registry), bound and
    fraction. Raises ValueError naming ``where`` and the constraint's label for any bad key or value."""
    if not isinstance(c, dict):
        raise ValueError(f"{where}: a constraint must be a mapping, got {c!r}")
    _check_keys(c, CONSTRAINT_KEYS, where)
    bound = "min" if "min" in c else "max"
    label = str(c["label"]) if c.get("label") else f"{label_of(c)} {bound} {c.get(bound)}"
    where = f"{where} ({label})"
    fld = c.get("field")
    if not isinstance(fld, str) or not fld:
        raise ValueError(f"{where}: 'field' is required and must be a non-empty string")
    if ("min" in c) == ("max" in c):
        raise ValueError(f"{where}: exactly one of 'min' or 'max' is required")
    kind = "min" if "min" in c else "max"
    fraction = _number(c[kind], where, kind, lo=0.0, hi=1.0, lo_open=True)
    return Constraint(label=label, field=fld, kind=kind, fraction=float(fraction), prop=parse_property(c, where))


def _shared_constraint(c: Any, where: str, i: int, shared: dict[str, Constraint] | None) -> Constraint:
    """parse_constraint, through ``shared`` when the caller keeps one (the rule loader does, per
    load: 10,000 rules repeat a small vocabulary of constraints, and each distinct one is parsed
    once). The key is the mapping's repr: exact for YAML/JSON data (``1``, ``1.0``, ``True`` and
    ``'1'`` all differ), and computed in C."""
    if shared is None or not isinstance(c, dict):
        return parse_constraint(c, f"{where}: constraints[{i}]")
    key = repr(c)
    hit = shared.get(key)
    if hit is None:
        hit = shared[key] = parse_constraint(c, f"{where}: constraints[{i}]")
    return hit


def parse_fusion(f: Any, where: str) -> FusionSpec:
    """A rule's ``fusion`` mapping (None: the defaults)."""
    if f is None:
        return FusionSpec()
    if not isinstance(f, dict):
        raise ValueError(f"{where}: fusion must be a mapping")
    _check_keys(f, FUSION_KEYS, f"{where}: fusion")
    method = f.get("method", "convex")
    if method not in FUSION_METHODS:
        raise ValueError(f"{where}: fusion.method must be one of {', '.join(FUSION_METHODS)}, got {method!r}")
    norm = f.get("normalization", "minmax")
    if norm not in ("minmax", "zscore"):
        raise ValueError(f"{where}: fusion.normalization must be 'minmax' or 'zscore', got {norm!r}")
    if not isinstance(f.get("adaptive", True), bool):
        raise ValueError(f"{where}: fusion.adaptive must be true or false")
    w = f.get("weights", {})
    if not isinstance(w, dict) or not w.keys() <= {"bm25", "knn"}:
        raise ValueError(f"{where}: fusion.weights must be a mapping of bm25 and knn")
    bm25 = float(_number(w.get("bm25", FusionSpec.bm25), where, "fusion.weights.bm25", lo=0.0))
    knn = float(_number(w.get("knn", FusionSpec.knn), where, "fusion.weights.knn", lo=0.0))
    if bm25 + knn == 0:
        raise ValueError(f"{where}: fusion.weights: at least one weight must be above 0")
    return FusionSpec(method, norm, bm25, knn, f.get("adaptive", True))


def _order(raw: dict[str, Any], where: str) -> OrderSpec | None:
    given = [k for k in BASE_ORDER_KEYS if raw.get(k) is not None]
    if len(given) > 1:
        raise ValueError(f"{where}: {' and '.join(given)} both set a base order; keep one")
    if not given:
        return None
    key = given[0]
    m = raw[key]
    if not isinstance(m, dict):
        raise ValueError(f"{where}: {key} must be a mapping")
    _check_keys(m, ORDER_PARAMS, f"{where}: {key}")
    if "diversity" not in m:
        raise ValueError(f"{where}: {key}.diversity is required")
    limit = m.get("candidates_limit")
    return OrderSpec(key, float(_number(m["diversity"], where, f"{key}.diversity", lo=0.0, hi=1.0)),
                     None if limit is None else int(_number(limit, where, f"{key}.candidates_limit", lo=1, integer=True)))


def parse_rule(raw: Any, where: str = "rule", shared: dict[str, Constraint] | None = None) -> Rule:
    """Validate one rule mapping and return its typed form; ValueError names what is wrong.
    ``shared``: a dict the caller keeps to parse each distinct constraint once (see above)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a rule must be a mapping, got {type(raw).__name__}")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise ValueError(f"{where}: 'id' is required and must be a non-empty string")
    where = f"rule {rid!r}"
    _check_keys(raw, RULE_KEYS, where)
    match = raw.get("match", {})
    if not isinstance(match, dict):
        raise ValueError(f"{where}: 'match' must be a mapping")
    _check_keys(match, MATCH_KEYS, f"{where}: match")
    window = int(_number(raw.get("window", DEFAULT_WINDOW), where, "window", lo=1, integer=True))
    size = int(_number(raw.get("size", DEFAULT_SIZE), where, "size", lo=1, integer=True))
    lam = float(_number(raw.get("lambda", DEFAULT_LAMBDA), where, "lambda", lo=0.0))
    normalize = raw.get("normalize", "minmax")
    if normalize not in ("minmax", "none"):
        raise ValueError(f"{where}: normalize must be 'minmax' or 'none', got {normalize!r}")
    order = _order(raw, where)
    dedup = None
    if raw.get("dedup") is not None:
        d = raw["dedup"]
        if not isinstance(d, dict):
            raise ValueError(f"{where}: dedup must be a mapping")
        _check_keys(d, DEDUP_KEYS, f"{where}: dedup")
        if "collapse" in d and not isinstance(d["collapse"], bool):
            raise ValueError(f"{where}: dedup.collapse must be true or false")
        if not isinstance(d.get("field", "title"), str):
            raise ValueError(f"{where}: dedup.field must be a string")
        dedup = DedupSpec(
            field=d.get("field", "title"),
            threshold=float(_number(d.get("threshold", 0.8), where, "dedup.threshold", lo=0.0, hi=1.0, lo_open=True)),
            num_perm=int(_number(d.get("num_perm", 64), where, "dedup.num_perm", lo=8, hi=1024, integer=True)),
            shingle=int(_number(d.get("shingle", 1), where, "dedup.shingle", lo=1, hi=5, integer=True)),
            max=float(_number(d.get("max", DEFAULT_DEDUP_MAX), where, "dedup.max", lo=0.0, hi=1.0, lo_open=True)),
            collapse=d.get("collapse", False),
        )
    cons_raw = raw.get("constraints", [])
    if not isinstance(cons_raw, list):
        raise ValueError(f"{where}: constraints must be a list")
    constraints = tuple([_shared_constraint(c, where, i, shared) for i, c in enumerate(cons_raw)])
    respect = raw.get("respect_query", True)
    if not isinstance(respect, bool):
        raise ValueError(f"{where}: respect_query must be true or false")
    return Rule(id=rid, window=window, size=size, lam=lam, normalize=normalize == "minmax", order=order, dedup=dedup,
                constraints=constraints, fusion=parse_fusion(raw.get("fusion"), where), respect_query=respect,
                description=str(raw.get("description", "")), match=dict(match), raw=dict(raw))
