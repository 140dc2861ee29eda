"""The refusal, and the checks of single values the walk uses: numbers read as OpenSearch reads
them, 64-bit bounds, prefixes, ``_source`` shapes, data-only parameters, nesting depth; and what
the proxy strips from an answer (node ids)."""
from __future__ import annotations

import math
import re
from typing import Any

from ..source import client_spec

from .tables import DATA_FORBIDDEN, EXPENSIVE, INT64, MAX_JSON_DEPTH, MIN_PREFIX


class PolicyRefused(ValueError):
    """The request breaks ``rule`` of the proxy policy."""

    def __init__(self, rule: str, reason: str, setting: str | None = None):
        how = f" (allowed by {setting})" if setting else ""
        super().__init__(f"{rule}: refused by the proxy policy: {reason}{how}")
        self.rule = rule



def check_depth(node: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise PolicyRefused("depth", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(node, dict):
        for v in node.values():
            check_depth(v, depth + 1)
    elif isinstance(node, list):
        for v in node:
            check_depth(v, depth + 1)


def number(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PolicyRefused(at.split(".")[-1], f"{at} must be a number")
    try:
        return float(value)
    except ValueError:
        raise PolicyRefused(at.split(".")[-1], f"{at} must be a number, got {value[:40]!r}") from None


def check_prefix(kind: str, text: Any, whole: bool) -> None:
    """A prefix query's prefix (``whole``: the value itself; else the last term of the text) has
    at least MIN_PREFIX characters."""
    prefix = str(text) if whole else (re.findall(r"\w+", str(text or "")) or [""])[-1]
    if len(prefix) < MIN_PREFIX:
        raise PolicyRefused("prefix", f"{kind}: a prefix shorter than {MIN_PREFIX} characters ({prefix!r}) matches "
                                      "most of the index", EXPENSIVE)


def source_filter(value: Any, at: str) -> Any:
    """A ``_source`` of the shapes OpenSearch reads (true, false, a field pattern, a list of them,
    {includes, excludes}); OpenSearch answers others with a 500."""
    try:
        client_spec(value)
    except ValueError as exc:
        raise PolicyRefused("_source", f"{at}{str(exc).removeprefix('_source')}") from None
    return value


def check_int64(node: Any, at: str) -> None:
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


def params_of(spec: Any, allowed: frozenset[str], at: str, unknown: Any = None) -> dict[str, Any]:
    """An object of scalar parameters (or lists of scalars) from ``allowed``."""
    if not isinstance(spec, dict):
        raise PolicyRefused(at.split(".")[-1], f"{at} must be an object")
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in allowed:
            raise unknown(key) if unknown else PolicyRefused(key, f"{key!r} is not a parameter of {at}")
        out[key] = [scalar(v, f"{at}.{key}") for v in value] if isinstance(value, list) else scalar(value, f"{at}.{key}")
    return out


def scalar(value: Any, at: str) -> Any:
    if isinstance(value, (dict, list)):
        raise PolicyRefused(at.split(".")[-1], f"{at} must be a single value")
    return value


def as_list(value: Any, at: str) -> list[Any]:
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


def whole_number(value: Any, name: str, lo: int = 0, hi: int | None = None, setting: str | None = None,
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
