"""`_source` through the proxy: fetch what the rule needs, return what the client asked for.

A client that asks for ``"_source": ["title"]`` under a brand cap must still get the cap: the
forwarded search fetches the client's fields plus the rule's (constraint fields, the dedup text,
the vector for MMR), and each returned hit is cut back to the client's own
``_source`` (includes/excludes with ``*`` wildcards, dotted paths, or ``false``).
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from ..rerank.rule import Rule
from ..retrieval.hits import VECTOR_BINARY_FIELD, VECTOR_FIELD


def rule_fields(rule: Rule, legacy_vectors: bool = False) -> list[str]:
    """The `_source` fields a rule reads: the dedup text (its MinHash signature is computed, which
    costs less than shipping the stored one), the vector as base64 float16 unless the index
    predates that field (``legacy_vectors``: JSON float lists)."""
    fields = [c.field for c in rule.constraints]
    if rule.dedup is not None:
        fields.append(rule.dedup.field)
    if rule.needs_vectors:
        fields.append(VECTOR_FIELD if legacy_vectors else VECTOR_BINARY_FIELD)
    return list(dict.fromkeys(fields))


def client_spec(spec: Any) -> tuple[list[str] | None, list[str]] | bool:
    """The client's `_source` as (includes or None for all, excludes), or False for none.
    ValueError names what is wrong."""
    if spec is None or spec is True:
        return None, []
    if spec is False:
        return False
    if isinstance(spec, str):
        return [spec], []
    if isinstance(spec, list) and all(isinstance(x, str) for x in spec):
        return list(spec), []
    if isinstance(spec, dict):
        unknown = set(spec) - {"includes", "include", "excludes", "exclude"}
        if unknown:
            raise ValueError(f"_source: unknown key {sorted(unknown)[0]!r} (allowed: includes, excludes)")
        inc = spec.get("includes", spec.get("include"))
        exc = spec.get("excludes", spec.get("exclude")) or []
        inc = [inc] if isinstance(inc, str) else inc
        exc = [exc] if isinstance(exc, str) else exc
        if (inc is not None and not _strings(inc)) or not _strings(exc):
            raise ValueError("_source: includes and excludes must be field names or lists of them")
        return (list(inc) if inc else None), list(exc)
    raise ValueError("_source: must be true, false, a field pattern, a list of them, or {includes, excludes}")


def _strings(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x)


def fetch_spec(client: tuple[list[str] | None, list[str]] | bool, rule: Rule, legacy_vectors: bool = False) -> Any:
    """The `_source` to forward: the client's fields plus the rule's. "Everything" leaves out the
    vector's float lists (the bulk of a hit) unless MMR must read them from an older index."""
    needed = rule_fields(rule, legacy_vectors)
    if client is False:
        return needed
    includes, _ = client
    if includes is None:
        return {"excludes": []} if VECTOR_FIELD in needed else {"excludes": [VECTOR_FIELD]}
    return list(dict.fromkeys([*includes, *needed]))


def withheld(client: tuple[list[str] | None, list[str]] | bool, rule: Rule, legacy_vectors: bool = False) -> list[str]:
    """The fields the client's `_source` asks for that ``fetch_spec`` leaves out of the window
    (the vector's float lists of "everything"): fetched for the page's hits alone."""
    if client is False or client[0] is not None or VECTOR_FIELD in rule_fields(rule, legacy_vectors):
        return []
    return [] if any(fnmatchcase(VECTOR_FIELD, p) for p in client[1]) else [VECTOR_FIELD]


def cut(source: dict[str, Any] | None, client: tuple[list[str] | None, list[str]] | bool) -> dict[str, Any] | None:
    """``source`` reduced to what the client's `_source` selects (None: no `_source` at all)."""
    if client is False or source is None:
        return None
    includes, excludes = client
    return _select(source, "", includes, excludes)


def _select(obj: dict[str, Any], prefix: str, includes: list[str] | None, excludes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = prefix + key
        if any(fnmatchcase(path, p) for p in excludes):
            continue
        if includes is None or any(fnmatchcase(path, p) for p in includes):
            out[key] = _select(value, path + ".", None, excludes) if isinstance(value, dict) else value
        elif isinstance(value, dict) and any(p.startswith(path + ".") or p.startswith("*") for p in includes):
            inner = _select(value, path + ".", includes, excludes)
            if inner:
                out[key] = inner
    return out
