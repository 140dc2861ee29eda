"""The reranking contract: ``rerank(request) -> response`` for JSON callers (the CLI, /rerank), and
``rerank_batch(batch, rule, ...)`` over a columnar ``CandidateBatch`` (/search, the proxy, Python).

request:  {"candidates": [{"id", "score", "fields"?, "vector"?, "title"?, "signature"?}],
           "rule": <inline rule> | "<rule id>", "query"?, "query_vector"?, "size"?, "explain"?, "now"?}
response: {"rule": id, "hits": [{"id", "rank", "original_rank", "reason"?}], "dedup"?: {...}}

Invalid input raises ValueError naming the candidate, field or constraint. The core reads no
clock: a rule with ``now-30d`` needs the caller's ``now``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np

from . import dedup as dedup_mod
from .agents import Agent, Placement, place
from .batch import NO_SIGNATURE, CandidateBatch, unit_rows
from .named import holds_named, named_codes
from .rule import Constraint, Rule, parse_rule
from .strategies import STRATEGIES

REQUEST_KEYS = frozenset({"candidates", "rule", "query", "query_vector", "size", "explain", "now"})
CANDIDATE_KEYS = frozenset({"id", "score", "fields", "vector", "title", "signature"})


def rerank(request: Mapping[str, Any], rules: Mapping[str, Rule] | None = None,
           now: datetime | None = None, max_pairs: int = -1) -> dict[str, Any]:
    """Rerank the request's candidates under its rule; ``rules`` resolves a rule given by id;
    ``now`` (the caller's clock) is used unless the request gives its own; ``max_pairs`` as in
    ``rerank_batch``."""
    if not isinstance(request, Mapping):
        raise ValueError("request must be a JSON object")
    unknown = sorted(set(request) - REQUEST_KEYS)
    if unknown:
        raise ValueError(f"request: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(REQUEST_KEYS))}")
    rule = resolve_rule(request.get("rule"), rules)
    size = request.get("size", rule.size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size: must be a positive integer, got {size!r}")
    explain = request.get("explain", False)
    if not isinstance(explain, bool):
        raise ValueError(f"explain: must be true or false, got {explain!r}")
    if request.get("now") is not None:
        try:
            now = datetime.fromisoformat(str(request["now"]).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"now: not an ISO datetime: {request['now']!r}") from None
    batch = candidates_batch(request.get("candidates"), rule)
    return rerank_batch(batch, rule, size=size, query_vector=request.get("query_vector"), explain=explain, now=now,
                        max_pairs=max_pairs)


def resolve_rule(value: Any, rules: Mapping[str, Rule] | None) -> Rule:
    """The rule a request names: a ``Rule`` as is, an id looked up in ``rules``, or an inline
    mapping parsed (``parse_rule``). Raises ValueError naming ``rule`` for an unknown id or a bad mapping."""
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


def candidates_batch(raw: Any, rule: Rule | None = None, *, trusted: bool = False) -> CandidateBatch:
    """Candidate dicts (retrieval order) as one batch, checked unless ``trusted`` (backend output).

    The common valid shape is checked with whole-list operations; anything else goes through
    ``validate_candidates``, which names the culprit."""
    if not trusted and not _plainly_valid(raw):
        raw = validate_candidates(raw)
    ids = [c["id"] if type(c["id"]) is str else str(c["id"]) for c in raw]
    scores = np.fromiter((c["score"] for c in raw), dtype=np.float64, count=len(raw))
    rows = [c.get("fields") or {} for c in raw]
    fields: dict[str, list[Any]] = {}
    if any("title" in c for c in raw):  # a top-level title is the title field when fields lack one
        titles = [f.get("title") for f in rows]
        fields["title"] = [t if t is not None else c.get("title") for t, c in zip(titles, raw)]
    vectors = None
    with_vec = [c.get("vector") is not None for c in raw]
    if raw and all(with_vec):
        vectors = _vectors([c["vector"] for c in raw], ids)
    elif any(with_vec) and rule is not None and rule.needs_vectors:
        missing = ids[with_vec.index(False)]
        raise ValueError(f"candidate {missing!r}: no 'vector', and rule {rule.id!r} uses {rule.strategy.upper()}")
    return rows_batch(ids, scores, rows, rule, vectors=vectors, stored=[c.get("signature") for c in raw], fields=fields)


def rows_batch(ids: list[str], scores: np.ndarray, rows: list[Mapping[str, Any]], rule: Rule | None = None, *,
               vectors: np.ndarray | None = None, stored: list[Any] | None = None,
               fields: dict[str, list[Any]] | None = None, columns: dict[str, Any] | None = None) -> CandidateBatch:
    """A batch over per-candidate field mappings (a hit's ``_source``, a candidate's ``fields``),
    with the rule's dedup texts and the ``stored`` signatures (base64 or lists; None = none)
    decoded; a column is read from the rows only when something asks for it (and kept in
    ``columns`` when given: see ``CandidateBatch``)."""
    texts = None
    signatures = None
    if rule is not None and rule.dedup is not None:
        name = rule.dedup.field
        values = fields[name] if fields and name in fields else [r.get(name) for r in rows]
        texts = [v if type(v) is str and v else None for v in values]
        if stored is not None and any(s is not None for s in stored):
            signatures = _signatures(stored, ids, rule.dedup.num_perm)
    return CandidateBatch(ids, scores, fields or {}, vectors, signatures, texts, rows, columns)


def _plainly_valid(raw: Any) -> bool:
    """The fast yes: a list of plain dicts with allowed keys, unique non-empty str ids, finite
    float scores and, where present, dict fields. False sends the list to the full checks."""
    if type(raw) is not list or any(type(c) is not dict for c in raw):
        return False
    if raw and not set().union(*map(dict.keys, raw)) <= CANDIDATE_KEYS:
        return False
    try:
        ids = [c["id"] for c in raw]
        scores = [c["score"] for c in raw]
    except KeyError:
        return False
    if set(map(type, ids)) - {str} or "" in ids or len(set(ids)) != len(ids):
        return False
    if set(map(type, scores)) - {float, int}:
        return False
    if raw and not np.all(np.isfinite(np.asarray(scores, dtype=np.float64))):
        return False
    return all(type(c.get("fields", {})) is dict for c in raw)


def validate_candidates(raw: Any) -> list[dict[str, Any]]:
    """Check every candidate, naming the first culprit; returns them with ids as strings."""
    if not isinstance(raw, list):
        raise ValueError("candidates: required, a list of candidate objects")
    seen: set[str] = set()
    dim = None
    out = []
    for pos, c in enumerate(raw):
        if not isinstance(c, Mapping):
            raise ValueError(f"candidates[{pos}]: must be an object")
        if not c.keys() <= CANDIDATE_KEYS:
            unknown = sorted(set(c) - CANDIDATE_KEYS)
            raise ValueError(f"candidates[{pos}]: unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(sorted(CANDIDATE_KEYS))}")
        cid = c.get("id")
        if cid is None or isinstance(cid, bool) or not isinstance(cid, (str, int)) or str(cid) == "":
            raise ValueError(f"candidates[{pos}]: missing or invalid 'id'")
        cid = str(cid)
        if cid in seen:
            raise ValueError(f"candidates[{pos}].id: duplicate id {cid!r} (an earlier candidate has it)")
        seen.add(cid)
        score = c.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"candidate {cid!r} (candidates[{pos}]): 'score' must be a finite number, got {score!r}")
        fields = c.get("fields", {})
        if not isinstance(fields, Mapping):
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
        out.append({**c, "id": cid, "fields": dict(fields)})
    return out


def _vectors(values: list[Any], ids: list[str]) -> np.ndarray:
    try:
        vec = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        vec = None
    if vec is None or vec.ndim != 2 or vec.shape[1] == 0:
        dims = [len(v) if isinstance(v, (list, np.ndarray)) else -1 for v in values]
        for i, d in enumerate(dims):
            if d <= 0:
                raise ValueError(f"candidate {ids[i]!r} (candidates[{i}]): 'vector' must be a non-empty list of numbers")
            if d != dims[0]:
                raise ValueError(f"candidate {ids[i]!r} (candidates[{i}]): vector has {d} dimensions, "
                                 f"earlier candidates have {dims[0]}")
        raise ValueError("vector: must be lists of numbers")
    if not np.all(np.isfinite(vec)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(vec), axis=1))[0])
        raise ValueError(f"candidate {ids[bad]!r} (candidates[{bad}]): vector must contain finite numbers only")
    return vec


def _signatures(stored: list[Any], ids: list[str], num_perm: int) -> np.ndarray:
    """Stored signatures decoded (one C pass when all are base64); rows without one stay empty."""
    sigs = np.full((len(stored), num_perm), NO_SIGNATURE, dtype=np.uint32)
    have = [i for i, s in enumerate(stored) if s is not None]
    try:
        sigs[have] = dedup_mod.decode_signatures([stored[i] for i in have], num_perm)
    except ValueError:
        for i in have:  # find the culprit to name it
            try:
                dedup_mod.decode_signature(stored[i], num_perm)
            except ValueError as exc:
                raise ValueError(f"candidate {ids[i]!r}: {exc}") from None
        raise
    return sigs


def normalized_scores(scores: np.ndarray, normalize: bool) -> np.ndarray:
    """Min-max over the window (all equal -> all 1.0), or the raw scores."""
    if not normalize or len(scores) == 0:
        return scores.astype(np.float64)
    lo, hi = float(scores.min()), float(scores.max())
    if hi == lo:
        return np.ones(len(scores))
    return (scores - lo) / (hi - lo)


def compile_agent(con: Constraint, batch: CandidateBatch, now: datetime | None = None,
                  idx: np.ndarray | None = None, named: frozenset[str] = frozenset()) -> Agent | None:
    """A constraint evaluated on a whole column at once; ``idx``: the candidates taking part, in
    base order (default: all, in batch order). ``named``: the folded values of the constraint's
    field that the query names, left alone as ``named.py`` says (None: the constraint is dropped)."""
    column = batch.column(con.field)
    answer = con.prop.evaluate(column, now)
    if named and con.prop.by_value:
        if con.kind == "min":
            if not holds_named(con.prop.listed, named):
                return None
        else:
            held = np.isin(column.codes, named_codes(column.dictionary, named))
            answer = np.where(held, -1, answer) if con.any else answer & ~held
    if idx is not None:
        answer = answer[idx]
    if con.any:
        return Agent(con.label, "any", con.fraction, codes=answer, n_values=con.prop.n_values(column))
    return Agent(con.label, con.kind, con.fraction, has=answer)


def dedup_groups(batch: CandidateBatch, spec: Any, idx: np.ndarray, prior: CandidateBatch | None = None,
                 max_pairs: int = -1) -> np.ndarray:
    """Near-duplicate group of each candidate of ``prior`` then of ``batch[idx]`` (rank order);
    ``max_pairs``: the bound of ``dedup.group_encoded``."""
    parts = ([(prior, np.arange(len(prior)))] if prior is not None and len(prior) else []) + [(batch, idx)]
    sig_parts, bufs, los, his, base = [], [], [], [], 0
    for b, rows in parts:
        buf, offs = b.encoded_texts()
        lo, hi = offs[rows], offs[rows + 1]
        if b.signatures is None:
            s = np.full((len(rows), spec.num_perm), NO_SIGNATURE, np.uint32)
        elif b.signatures.shape[1] != spec.num_perm:
            raise ValueError(f"signature has {b.signatures.shape[1]} values, the rule's num_perm is {spec.num_perm}")
        else:
            s = b.signatures[rows]
        maybe = np.flatnonzero((s[:, 0] == NO_SIGNATURE) & (hi > lo))  # a real signature rarely starts so
        missing = maybe[~dedup_mod.has_signature(s[maybe])]
        if len(missing):  # signatures computed on the fly from the texts
            s[missing] = dedup_mod.signatures([b.texts[i] for i in rows[missing].tolist()], spec.num_perm, spec.shingle,
                                                 perms=spec.perms)
        sig_parts.append(s)
        bufs.append(buf)
        los.append(lo + base)
        his.append(hi + base)
        base += len(buf)
    if len(parts) == 1:
        return dedup_mod.group_encoded(sig_parts[0], spec.threshold, bufs[0], los[0], his[0], spec.shingle, spec.layout,
                                       max_pairs)
    return dedup_mod.group_encoded(np.vstack(sig_parts), spec.threshold, np.concatenate(bufs),
                                   np.concatenate(los), np.concatenate(his), spec.shingle, spec.layout, max_pairs)


def rerank_batch(batch: CandidateBatch, rule: Rule | Mapping[str, Any], *, size: int, query_vector: Any = None,
                 explain: bool = False, now: datetime | None = None, prior: CandidateBatch | None = None,
                 max_pairs: int = -1, named: Mapping[str, frozenset[str]] | None = None) -> dict[str, Any]:
    """Rerank a batch (retrieval order) under ``rule`` (parsed, or an inline rule dict).

    ``query_vector``: MMR/DPP relevance is the cosine to it (a vector-only search); without it,
    the normalised retrieval score (keyword or fused hybrid score). ``prior``: candidates already
    ranked ahead of these (an earlier window of the same search): a near-duplicate of one of them
    is collapsed under a collapsing rule, so the next window never repeats what the last showed.
    ``max_pairs``: at most that many near-duplicate pairs verified (``dedup.TooManyPairs``, a
    ValueError naming ``dedup``, past it; -1: no bound). ``named``: per field, the folded values
    the query names (``named.named_in``); unless the rule says ``respect_query: false``, that
    field's constraints leave them alone (``named.py``), and the response says which under
    ``named`` (with ``explain``, also each hit holding one)."""
    if not isinstance(rule, Rule):
        rule = parse_rule(dict(rule), where="rule")
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    scores = batch.scores
    if len(scores) > 1 and np.any(scores[1:] > scores[:-1]):
        idx = np.argsort(-scores, kind="stable")  # base order: score descending, ties in retrieval order
    else:
        idx = np.arange(len(scores))  # retrieval order is already score order (the usual case)
    response: dict[str, Any] = {"rule": rule.id}
    agents: list[Agent] = []
    if rule.dedup is not None and len(idx):
        n_prior = 0 if prior is None else len(prior)
        groups = dedup_groups(batch, rule.dedup, idx, prior, max_pairs)
        group_of = groups[n_prior:]  # this window's rows: the row (prior rows first) that leads each one's group
        row_of = np.arange(n_prior, n_prior + len(idx))  # this window's rows, numbered after the prior ones
        sizes = np.bincount(groups, minlength=len(groups))
        n_groups = int(np.count_nonzero(np.bincount(group_of, minlength=len(groups))))
        dup_members = int(np.count_nonzero(sizes[group_of] > 1))
        if rule.dedup.collapse:
            response["dedup"] = {"groups": n_groups, "duplicates": dup_members,
                                 "collapsed": [batch.ids[i] for i in idx[group_of != row_of].tolist()]}
            idx = idx[group_of == row_of]
        else:
            agents.append(Agent(f"near-duplicates max {rule.dedup.max:g}", "any", rule.dedup.max,
                                codes=group_of.astype(np.int64), n_values=len(groups)))
            response["dedup"] = {"groups": n_groups, "duplicates": dup_members, "collapsed": []}
    named = {f: v for f, v in (named or {}).items() if v} if rule.respect_query else {}
    compiled = [compile_agent(c, batch, now, idx, named.get(c.field, frozenset())) for c in rule.constraints]
    agents = [a for a in compiled if a is not None] + agents
    relaxed = {c.field for c in rule.constraints if c.field in named}
    if relaxed:
        response["named"] = {f: sorted(named[f]) for f in sorted(relaxed)}
    base = normalized_scores(scores[idx], rule.normalize)
    placements = _placements(batch, idx, base, agents, rule, size, query_vector)
    hits = []
    for rank, p in enumerate(placements, start=1):
        i = int(idx[p.index])
        hit: dict[str, Any] = {"id": batch.ids[i], "rank": rank, "original_rank": i + 1}
        if explain:
            hit["reason"] = _reason(p)
            asked = {f: v for f in sorted(relaxed) if (v := batch.column(f).value(i)) is not None
                     and holds_named(v, named[f])}
            if asked:
                hit["reason"]["named"] = asked  # its value was named by the query: the field's constraints let it be
        hits.append(hit)
    response["hits"] = hits
    return response


def _placements(batch: CandidateBatch, idx: np.ndarray, base: np.ndarray, agents: list[Agent], rule: Rule,
                size: int, query_vector: Any) -> list[Placement]:
    strategy = STRATEGIES[rule.strategy]
    n = len(idx)
    if not strategy.needs_vectors:
        return place(agents, rule.lam, size, strategy, strategy.prepare(base, None, 0.0, size))
    if n == 0:
        return []
    if batch.vectors is None:
        raise ValueError(f"candidate {batch.ids[0]!r}: no 'vector', and rule {rule.id!r} uses {rule.strategy.upper()}")
    limit = n if rule.order.candidates_limit is None else min(rule.order.candidates_limit, n)
    vecs = unit_rows(batch.vectors, idx[:limit])
    if query_vector is not None:
        q = np.asarray(query_vector, dtype=np.float32)
        if q.ndim != 1 or q.shape[0] != vecs.shape[1]:
            raise ValueError(f"query_vector: has {q.size} dimensions, candidate vectors have {vecs.shape[1]}")
        relevance = vecs @ unit_rows(q)[0]
    else:
        relevance = base[:limit]
    state = strategy.prepare(np.asarray(relevance, dtype=np.float64), vecs, rule.order.diversity, size)
    placements = place([a.head(limit) for a in agents], rule.lam, size, strategy, state)
    # candidates beyond candidates_limit follow in base order, as plain defaults
    placements += [Placement(i, "default") for i in range(limit, min(n, limit + size - len(placements)))]
    return placements[:size]


def _reason(p: Placement) -> dict[str, Any]:
    if p.reason == "constraint":
        return {"type": "constraint", "constraint": p.constraint, "deviance": round(p.deviance, 6),
                "penalty": round(p.penalty, 6), "unhappiness": round(p.unhappiness, 6), "base_score": round(p.value, 6)}
    strategy = STRATEGIES.get(p.reason)
    if strategy is not None and strategy.value_name:  # placed by default in a base order's own terms
        return {"type": p.reason, strategy.value_name: round(p.value, 6)}
    return {"type": "default"}
