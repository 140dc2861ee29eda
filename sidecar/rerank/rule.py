"""Typed, validated form of one rule, as the reranking core needs it.

The rule *file* format is defined by the JSON Schema in ``sidecar/schema/rules.schema.json``
(validated with file:line by ``sidecar.rules``). This module turns one rule dict into frozen
dataclasses and checks what the algorithm depends on, raising ``ValueError`` that names the
rule and constraint, so that inline rules sent to ``rerank()`` get the same checks without I/O.
A test keeps the key sets here equal to the schema's.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from typing import Any

RULE_KEYS = frozenset(
    {"id", "description", "match", "window", "size", "lambda", "normalize", "mmr", "dedup", "constraints"}
)
MATCH_KEYS = frozenset({"queries", "patterns", "categories", "filters", "default"})
MMR_KEYS = frozenset({"diversity", "candidates_limit"})
DEDUP_KEYS = frozenset({"field", "threshold", "num_perm", "shingle", "max", "collapse"})
CONSTRAINT_KEYS = frozenset({"field", "value", "values", "gte", "lte", "any", "min", "max", "label"})

DEFAULT_WINDOW = 200
DEFAULT_SIZE = 20
DEFAULT_LAMBDA = 0.5
DEFAULT_DEDUP_MAX = 1 / 50  # the paper: a near-duplicate group at most once per 50 results

_RELATIVE_DATE = re.compile(r"^now(?:-(\d+)([dhw]))?$")


@dataclass(frozen=True)
class Constraint:
    """One agent: a property of an item and a min or max fraction of the page."""

    label: str
    field: str
    kind: str  # "min" | "max"
    fraction: float
    value: Any = None
    values: tuple[Any, ...] | None = None
    gte: Any = None
    lte: Any = None
    any: bool = False


@dataclass(frozen=True)
class MMRSpec:
    diversity: float
    candidates_limit: int | None = None


@dataclass(frozen=True)
class DedupSpec:
    field: str = "title"
    threshold: float = 0.8
    num_perm: int = 64
    shingle: int = 1  # word n-gram size
    max: float = DEFAULT_DEDUP_MAX
    collapse: bool = False


@dataclass(frozen=True)
class Rule:
    id: str
    window: int = DEFAULT_WINDOW
    size: int = DEFAULT_SIZE
    lam: float = DEFAULT_LAMBDA
    normalize: bool = True
    mmr: MMRSpec | None = None
    dedup: DedupSpec | None = None
    constraints: tuple[Constraint, ...] = field(default_factory=tuple)
    description: str = ""
    match: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


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


def _constraint_label(c: dict[str, Any]) -> str:
    if c.get("label"):
        return str(c["label"])
    fld = c.get("field", "?")
    if c.get("any"):
        prop = f"{fld}=*"
    elif "values" in c:
        prop = f"{fld} in {list(c['values'])}"
    elif "value" in c:
        prop = f"{fld}={c['value']}"
    else:
        bounds = [f"{op} {c[op]}" for op in ("gte", "lte") if op in c]
        prop = f"{fld} {' '.join(bounds)}"
    kind = "min" if "min" in c else "max"
    return f"{prop} {kind} {c.get(kind)}"


def parse_constraint(c: Any, where: str) -> Constraint:
    if not isinstance(c, dict):
        raise ValueError(f"{where}: a constraint must be a mapping, got {c!r}")
    _check_keys(c, CONSTRAINT_KEYS, where)
    label = _constraint_label(c)
    where = f"{where} ({label})"
    fld = c.get("field")
    if not isinstance(fld, str) or not fld:
        raise ValueError(f"{where}: 'field' is required and must be a non-empty string")
    if ("min" in c) == ("max" in c):
        raise ValueError(f"{where}: exactly one of 'min' or 'max' is required")
    kind = "min" if "min" in c else "max"
    fraction = _number(c[kind], where, kind, lo=0.0, hi=1.0, lo_open=True)
    n_props = ("value" in c) + ("values" in c) + ("any" in c) + ("gte" in c or "lte" in c)
    if n_props != 1:
        raise ValueError(f"{where}: exactly one property is required: 'value', 'values', 'gte'/'lte' or 'any: true'")
    is_any = bool(c.get("any", False))
    if "any" in c:
        if c["any"] is not True:
            raise ValueError(f"{where}: 'any' must be true when given")
        if kind == "min":
            raise ValueError(f"{where}: 'any: true' goes with 'max' only (a minimum per distinct value is not defined)")
    values = None
    if "values" in c:
        if not isinstance(c["values"], list) or not c["values"]:
            raise ValueError(f"{where}: 'values' must be a non-empty list")
        values = tuple(c["values"])
    for op in ("gte", "lte") if "gte" in c or "lte" in c else ():
        if op in c and not (isinstance(c[op], (int, float, str)) and not isinstance(c[op], bool)):
            raise ValueError(f"{where}: '{op}' must be a number or an ISO date, got {c[op]!r}")
        if op in c and isinstance(c[op], str):
            parse_bound(c[op], where=f"{where}: {op}")
    return Constraint(label=label, field=fld, kind=kind, fraction=float(fraction), value=c.get("value"),
                      values=values, gte=c.get("gte"), lte=c.get("lte"), any=is_any)


_INTERNED: dict[str, Constraint] = {}
_INTERNED_MAX = 8192


def _interned_constraint(c: Any, where: str, i: int) -> Constraint:
    """parse_constraint, shared across rules that write the same constraint.

    Large rule sets repeat a small vocabulary of constraints ("brand any max 0.3" in thousands
    of rules): each distinct one is parsed once, and the rules share one immutable object. The
    key is the mapping's repr: for YAML/JSON data it is exact (``1``, ``1.0``, ``True`` and
    ``'1'`` all differ) and it is computed in C.
    """
    if not isinstance(c, dict):
        return parse_constraint(c, f"{where}: constraints[{i}]")
    key = repr(c)
    hit = _INTERNED.get(key)
    if hit is None:
        hit = parse_constraint(c, f"{where}: constraints[{i}]")
        if len(_INTERNED) >= _INTERNED_MAX:
            _INTERNED.clear()
        _INTERNED[key] = hit
    return hit


def parse_bound(text: str, *, where: str, now: datetime | None = None) -> float:
    """An ISO date/datetime, or ``now``/``now-30d`` (d, h, w), as epoch seconds (UTC)."""
    m = _RELATIVE_DATE.match(text.strip())
    if m:
        base = now or datetime.now(timezone.utc)
        if m.group(1):
            unit = {"d": "days", "h": "hours", "w": "weeks"}[m.group(2)]
            base = base - timedelta(**{unit: int(m.group(1))})
        return base.timestamp()
    parsed = to_epoch(text)
    if parsed is None:
        raise ValueError(f"{where}: {text!r} is neither a number, an ISO date nor now-<N>d")
    return parsed


def to_epoch(value: Any) -> float | None:
    """Numbers pass through; ISO dates/datetimes become epoch seconds (naive = UTC); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return _iso_to_epoch(value)
    return None


@lru_cache(maxsize=65536)
def _iso_to_epoch(value: str) -> float | None:
    """Cached: a catalog repeats the same listing dates many times."""
    try:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            d0 = date.fromisoformat(value)
        except ValueError:
            return None
        d = datetime(d0.year, d0.month, d0.day)
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def parse_rule(raw: Any, where: str = "rule") -> Rule:
    """Validate one rule mapping and return its typed form; ValueError names what is wrong."""
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
    mmr = None
    if raw.get("mmr") is not None:
        m = raw["mmr"]
        if not isinstance(m, dict):
            raise ValueError(f"{where}: mmr must be a mapping")
        _check_keys(m, MMR_KEYS, f"{where}: mmr")
        if "diversity" not in m:
            raise ValueError(f"{where}: mmr.diversity is required")
        limit = m.get("candidates_limit")
        mmr = MMRSpec(
            diversity=float(_number(m["diversity"], where, "mmr.diversity", lo=0.0, hi=1.0)),
            candidates_limit=None if limit is None else int(_number(limit, where, "mmr.candidates_limit", lo=1, integer=True)),
        )
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
    constraints = tuple([_interned_constraint(c, where, i) for i, c in enumerate(cons_raw)])
    return Rule(id=rid, window=window, size=size, lam=lam, normalize=normalize == "minmax", mmr=mmr, dedup=dedup,
                constraints=constraints, description=str(raw.get("description", "")), match=dict(match), raw=dict(raw))
