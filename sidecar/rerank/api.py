"""The reranking contract: ``rerank(request) -> response``, shared by the CLI, /rerank and /search.

request:  {"candidates": [{"id", "score", "fields"?, "vector"?, "title"?, "signature"?}],
           "rule": <inline rule> | "<rule id>", "query"?, "query_vector"?, "size"?, "explain"?, "now"?}
response: {"rule": id, "hits": [{"id", "rank", "original_rank", "reason"?}], "dedup"?: {...}}

Invalid input raises ValueError naming the candidate, field or constraint.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from . import dedup as dedup_mod
from .agents import Agent, MMROrder, Placement, ScoreOrder, place
from .mmr import MMRState, unit_rows
from .rule import Constraint, Rule, parse_bound, parse_rule, to_epoch
from .tokens import shingle_set

REQUEST_KEYS = frozenset({"candidates", "rule", "query", "query_vector", "size", "explain", "now"})
CANDIDATE_KEYS = frozenset({"id", "score", "fields", "vector", "title", "signature"})


def rerank(request: Mapping[str, Any], rules: Mapping[str, Rule] | None = None) -> dict[str, Any]:
    """Rerank the request's candidates under its rule; ``rules`` resolves a rule given by id."""
    if not isinstance(request, Mapping):
        raise ValueError("request must be a JSON object")
    unknown = sorted(set(request) - REQUEST_KEYS)
    if unknown:
        raise ValueError(f"request: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(REQUEST_KEYS))}")
    rule = resolve_rule(request.get("rule"), rules)
    candidates = validate_candidates(request.get("candidates"))
    size = request.get("size", rule.size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size: must be a positive integer, got {size!r}")
    explain = request.get("explain", False)
    if not isinstance(explain, bool):
        raise ValueError(f"explain: must be true or false, got {explain!r}")
    now = None
    if request.get("now") is not None:
        try:
            now = datetime.fromisoformat(str(request["now"]).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"now: not an ISO datetime: {request['now']!r}") from None
    query_vector = request.get("query_vector")
    return rerank_candidates(candidates, rule, size=size, explain=explain, query_vector=query_vector, now=now)


def resolve_rule(value: Any, rules: Mapping[str, Rule] | None) -> Rule:
    if isinstance(value, Rule):
        return value
    if isinstance(value, str):
        if rules is None or value not in rules:
            known = ", ".join(sorted(rules)) if rules else "none loaded"
            raise ValueError(f"rule: unknown rule id {value!r} (known: {known})")
        return rules[value]
    if isinstance(value, Mapping):
        return parse_rule(dict(value), where="rule")
    raise ValueError("rule: required, an inline rule object or a rule id string")


def validate_candidates(raw: Any) -> list[dict[str, Any]]:
    """Check every candidate; returns them with ids as strings. Order is kept (retrieval order).

    The common, valid shape (plain dicts, str ids, float scores) takes a short path of exact type
    tests; anything else goes through the general checks, which name the culprit.
    """
    if not isinstance(raw, list):
        raise ValueError("candidates: required, a list of candidate objects")
    seen: set[str] = set()
    dim = None
    out = []
    isfinite = math.isfinite
    for pos, c in enumerate(raw):
        if type(c) is not dict and not isinstance(c, Mapping):
            raise ValueError(f"candidates[{pos}]: must be an object")
        if not c.keys() <= CANDIDATE_KEYS:
            unknown = sorted(set(c) - CANDIDATE_KEYS)
            raise ValueError(f"candidates[{pos}]: unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(sorted(CANDIDATE_KEYS))}")
        cid = c.get("id")
        if type(cid) is not str:
            if cid is None or isinstance(cid, bool) or not isinstance(cid, (str, int)):
                raise ValueError(f"candidates[{pos}]: missing or invalid 'id'")
            cid = str(cid)
        if cid == "":
            raise ValueError(f"candidates[{pos}]: missing or invalid 'id'")
        if cid in seen:
            raise ValueError(f"candidate {cid!r} (candidates[{pos}]): duplicate id")
        seen.add(cid)
        score = c.get("score")
        st = type(score)
        if not ((st is float or st is int) and isfinite(score)):
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not isfinite(score):
                raise ValueError(f"candidate {cid!r} (candidates[{pos}]): 'score' must be a finite number, got {score!r}")
        fields = c.get("fields", {})
        if type(fields) is not dict and not isinstance(fields, Mapping):
            raise ValueError(f"candidate {cid!r} (candidates[{pos}]): 'fields' must be an object")
        vec = c.get("vector")
        if vec is not None:
            if not isinstance(vec, (list, np.ndarray)) or len(vec) == 0:
                raise ValueError(f"candidate {cid!r} (candidates[{pos}]): 'vector' must be a non-empty list of numbers")
            if dim is None:
                dim = len(vec)
            elif len(vec) != dim:
                raise ValueError(f"candidate {cid!r} (candidates[{pos}]): vector has {len(vec)} dimensions, "
                                 f"earlier candidates have {dim}")
        out.append({**c, "id": cid, "fields": fields})
    return out


def _field_value(c: Mapping[str, Any], name: str) -> Any:
    if name in c["fields"]:
        return c["fields"][name]
    return c.get(name) if name in ("title", "id", "score") else None


def compile_agent(con: Constraint, cands: list[Mapping[str, Any]], now: datetime | None = None) -> Agent:
    """Evaluate a constraint's property on every candidate (already in base order)."""
    name = con.field
    if name in ("title", "id", "score"):
        values = [_field_value(c, name) for c in cands]
    else:  # the common case: a catalog field, read without a call per candidate
        values = [c["fields"].get(name) for c in cands]
    if con.any:
        codes_by_value: dict[Any, int] = {}
        codes = []
        for v in values:
            if v is None or v == "":
                codes.append(-1)
            else:
                key = tuple(v) if isinstance(v, list) else v
                codes.append(codes_by_value.setdefault(key, len(codes_by_value)))
        return Agent(con.label, "any", con.fraction, codes=np.asarray(codes, dtype=np.int64).reshape(-1),
                     n_values=len(codes_by_value))
    if con.values is not None or con.value is not None:
        wanted = set(con.values) if con.values is not None else {con.value}
        has = [any(x in wanted for x in v) if isinstance(v, list) else (v is not None and v in wanted) for v in values]
    else:
        lo = _bound(con.gte, con, now)
        hi = _bound(con.lte, con, now)
        has = []
        for v in values:
            x = to_epoch(v)
            has.append(x is not None and (lo is None or x >= lo) and (hi is None or x <= hi))
    return Agent(con.label, con.kind, con.fraction, has=np.asarray(has, dtype=bool).reshape(-1))


def _bound(value: Any, con: Constraint, now: datetime | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_bound(value, where=f"constraint {con.label!r}", now=now)
    return float(value)


def _candidate_signatures(cands: list[Mapping[str, Any]], spec: Any, texts: list[str | None]) -> np.ndarray:
    """Stored signatures where present; the rest computed on the fly from the dedup text (a
    candidate with neither gets the empty row: nobody's duplicate)."""
    sigs = np.full((len(cands), spec.num_perm), dedup_mod.EMPTY, dtype=np.uint32)
    stored = [i for i, c in enumerate(cands) if c.get("signature") is not None]
    missing = [i for i, c in enumerate(cands) if c.get("signature") is None and texts[i]]
    if stored:
        try:
            sigs[stored] = dedup_mod.decode_signatures([cands[i]["signature"] for i in stored], spec.num_perm)
        except ValueError:
            for i in stored:  # find the culprit to name it
                try:
                    dedup_mod.decode_signature(cands[i]["signature"], spec.num_perm)
                except ValueError as exc:
                    raise ValueError(f"candidate {cands[i]['id']!r}: {exc}") from None
            raise
    if missing:
        sigs[missing] = dedup_mod.signatures([texts[i] for i in missing], spec.num_perm, spec.shingle)
    return sigs


def dedup_groups(cands: list[Mapping[str, Any]], spec: Any) -> np.ndarray:
    """Near-duplicate group of each candidate (in rank order), by the rule's dedup spec."""
    texts = [_text(c, spec.field) for c in cands]
    token_sets = [shingle_set(t, spec.shingle) for t in texts]
    return dedup_mod.group(_candidate_signatures(cands, spec, texts), spec.threshold, token_sets)


def _text(c: Mapping[str, Any], name: str) -> str | None:
    v = _field_value(c, name)
    return v if isinstance(v, str) and v else None


def normalized_scores(scores: np.ndarray, normalize: bool) -> np.ndarray:
    """Min-max over the window (all equal -> all 1.0), or the raw scores."""
    if not normalize or len(scores) == 0:
        return scores.astype(np.float64)
    lo, hi = float(scores.min()), float(scores.max())
    if hi == lo:
        return np.ones(len(scores))
    return (scores - lo) / (hi - lo)


def rerank_candidates(cands: list[dict[str, Any]], rule: Rule, *, size: int, explain: bool = False,
                      query_vector: Any = None, now: datetime | None = None,
                      prior: list[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Rerank validated candidates (retrieval order) and build the response.

    ``prior``: candidates already ranked ahead of these (an earlier retrieval window of the same
    search). A candidate near-duplicate to one of them is collapsed under a collapsing rule, so
    that the next window never repeats what the last one showed."""
    n_in = len(cands)
    # base order: retrieval score descending, ties in retrieval order
    order_in = sorted(range(n_in), key=lambda i: -cands[i]["score"])
    ranked = [cands[i] for i in order_in]
    original_rank = [i + 1 for i in order_in]
    response: dict[str, Any] = {"rule": rule.id}

    agents: list[Agent] = []
    if rule.dedup is not None and ranked:
        n_prior = len(prior)
        groups = dedup_groups([*prior, *ranked], rule.dedup)
        own = groups[n_prior:]
        n_groups = len(set(own.tolist()))
        dup_members = int(np.sum(np.bincount(groups, minlength=len(groups))[own] > 1))
        if rule.dedup.collapse:
            keep = [i for i, g in enumerate(own.tolist()) if g == i + n_prior]
            collapsed = [ranked[i]["id"] for i, g in enumerate(own.tolist()) if g != i + n_prior]
            ranked = [ranked[i] for i in keep]
            original_rank = [original_rank[i] for i in keep]
            response["dedup"] = {"groups": n_groups, "duplicates": dup_members, "collapsed": collapsed}
        else:
            agents.append(Agent(f"near-duplicates max {rule.dedup.max:g}", "any", rule.dedup.max,
                                codes=own.astype(np.int64), n_values=len(groups)))
            response["dedup"] = {"groups": n_groups, "duplicates": dup_members, "collapsed": []}
    agents = [compile_agent(c, ranked, now) for c in rule.constraints] + agents

    scores = np.array([c["score"] for c in ranked], dtype=np.float64)
    base = normalized_scores(scores, rule.normalize)
    if rule.mmr is not None and ranked:
        placements = _place_with_mmr(ranked, base, agents, rule, size, query_vector)
    else:
        placements = place(agents, rule.lam, size, ScoreOrder(base))

    hits = []
    for rank, p in enumerate(placements, start=1):
        hit: dict[str, Any] = {"id": ranked[p.index]["id"], "rank": rank, "original_rank": original_rank[p.index]}
        if explain:
            hit["reason"] = _reason(p)
        hits.append(hit)
    response["hits"] = hits
    return response


def _place_with_mmr(ranked: list[dict[str, Any]], base: np.ndarray, agents: list[Agent], rule: Rule,
                    size: int, query_vector: Any) -> list[Placement]:
    """MMR as the base order. Relevance: the cosine to ``query_vector`` when given (a vector-only
    search), else the normalised retrieval score (keyword or fused hybrid score)."""
    missing = [c["id"] for c in ranked if c.get("vector") is None]
    if missing:
        raise ValueError(f"candidate {missing[0]!r}: no 'vector', and rule {rule.id!r} uses MMR")
    limit = len(ranked) if rule.mmr.candidates_limit is None else min(rule.mmr.candidates_limit, len(ranked))
    vecs = unit_rows(np.asarray([c["vector"] for c in ranked[:limit]], dtype=np.float32))
    if query_vector is not None:
        q = np.asarray(query_vector, dtype=np.float32)
        if q.ndim != 1 or q.shape[0] != vecs.shape[1]:
            raise ValueError(f"query_vector: has {q.size} dimensions, candidate vectors have {vecs.shape[1]}")
        relevance = vecs @ unit_rows(q[None, :])[0]
    else:
        relevance = base[:limit]
    order = MMROrder(MMRState(relevance, vecs, rule.mmr.diversity))
    placements = place([a.head(limit) for a in agents], rule.lam, size, order)
    # candidates beyond candidates_limit follow in base order, as plain defaults
    placements += [Placement(i, "default") for i in range(limit, min(len(ranked), limit + size - len(placements)))]
    return placements[:size]


def _reason(p: Placement) -> dict[str, Any]:
    if p.reason == "constraint":
        out = {"type": "constraint", "constraint": p.constraint, "deviance": round(p.deviance, 6),
               "penalty": round(p.penalty, 6), "unhappiness": round(p.unhappiness, 6)}
        if p.marginal is not None:
            out["mmr_marginal"] = round(p.marginal, 6)
        return out
    if p.reason == "mmr":
        return {"type": "mmr", "marginal": round(p.marginal, 6)}
    return {"type": "default"}
