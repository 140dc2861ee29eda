"""Bounds on what one request can make the sidecar do.

Every input that multiplies work has a setting and a 400 ``limit_exceeded`` naming the field and
the setting: candidates sent to /rerank, constraints in a rule sent with a request and values in
one of them, MinHash permutations, a query text's length, and near-duplicate pairs verified (a very low threshold
makes that grow with n^2; the core stops at the bound, ``dedup.TooManyPairs``). The body itself
is bounded by SIDECAR_MAX_BODY_BYTES (413). Rules loaded from the rule directory are the
merchandisers' and are not bounded here; rules and overrides sent by clients are, before they
are parsed.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import BY_NAME, Config


MAX_QUERY_TERMS = 1024  # OpenSearch's default indices.query.bool.max_clause_count: a match query's terms
# the query encoder's work one request may ask for (a neural query's query_text, each encoded):
# a hybrid page needs one text; the model reads at most 256 word pieces of each
MAX_ENCODED_TEXTS = 4
MAX_ENCODED_PIECES = 512
_TERM = re.compile(r"\w+")  # about what the standard tokenizer makes a term


class LimitExceeded(ValueError):
    """A request over one of the bounds; the message starts with the field."""


@dataclass(frozen=True)
class Limits:
    """The bounds on what one request may make the sidecar do (the SIDECAR_MAX_* settings)."""
    candidates: int = BY_NAME["max_candidates"].default
    constraints: int = BY_NAME["max_constraints"].default
    constraint_values: int = BY_NAME["max_constraint_values"].default
    num_perm: int = BY_NAME["max_num_perm"].default
    dedup_pairs: int = BY_NAME["max_dedup_pairs"].default
    query_chars: int = BY_NAME["max_query_chars"].default
    facet_buckets: int = BY_NAME["proxy_max_buckets"].default  # a terms facet's size: the proxy's own bound

    @classmethod
    def from_config(cls, cfg: Config) -> Limits:
        """The bounds of ``cfg``."""
        return cls(cfg.max_candidates, cfg.max_constraints, cfg.max_constraint_values, cfg.max_num_perm,
                   cfg.max_dedup_pairs, cfg.max_query_chars, cfg.proxy_max_buckets)

    def check_query(self, q: Any, where: str = "q") -> None:
        """A query text: rule patterns, retrieval and the decision log all read it. Its terms are
        bounded by OpenSearch's own clause limit, checked here so the 400 says why."""
        if not isinstance(q, str):
            return
        if len(q) > self.query_chars:
            _over(where, f"{len(q)} characters", self.query_chars, "max_query_chars")
        if not q.isascii():  # counted as OpenSearch will read it: NFKC can make one character 18
            q = unicodedata.normalize("NFKC", q)
            if len(q) > 4 * self.query_chars:
                _over(where, f"{len(q)} characters after Unicode normalisation (NFKC)", 4 * self.query_chars,
                      "max_query_chars")
        terms = len(_TERM.findall(q))
        if terms > MAX_QUERY_TERMS:
            raise LimitExceeded(f"{where}: {terms} terms; a search takes at most {MAX_QUERY_TERMS} "
                                "(OpenSearch's indices.query.bool.max_clause_count)")

    def check_encoding(self, texts: Sequence[tuple[str, str]], pieces: Callable[[str], int]) -> None:
        """The texts one request has the query encoder embed, as (where, text), checked before
        any is embedded: at most MAX_ENCODED_TEXTS, each a query text (``check_query``), and
        MAX_ENCODED_PIECES word pieces as the model reads them (``pieces``: a text's count)."""
        if len(texts) > MAX_ENCODED_TEXTS:
            raise LimitExceeded(f"{texts[MAX_ENCODED_TEXTS][0]}: {len(texts)} texts to encode in one request; "
                                f"the limit is {MAX_ENCODED_TEXTS}")
        total = 0
        for where, text in texts:
            self.check_query(text, where)
            total += pieces(text)
            if total > MAX_ENCODED_PIECES:
                raise LimitExceeded(f"{where}: the texts to encode come to more than {MAX_ENCODED_PIECES} word pieces "
                                    "(the model's tokens) in one request")

    def check_candidates(self, candidates: Any, where: str = "candidates") -> None:
        """Raises ValueError (a 400 naming ``where``) for more candidates than SIDECAR_MAX_CANDIDATES."""
        if isinstance(candidates, list) and len(candidates) > self.candidates:
            _over(where, f"{len(candidates)} candidates", self.candidates, "max_candidates")

    def check_rule(self, raw: Any, where: str) -> None:
        """A rule or overrides sent with a request (a mapping; anything else is the schema's to name)."""
        if not isinstance(raw, Mapping):
            return
        constraints = raw.get("constraints")
        if isinstance(constraints, list):
            if len(constraints) > self.constraints:
                _over(f"{where}.constraints", f"{len(constraints)} constraints", self.constraints, "max_constraints")
            for i, c in enumerate(constraints):
                for key, values in (c.items() if isinstance(c, Mapping) else ()):  # any property's list
                    if isinstance(values, list) and len(values) > self.constraint_values:
                        _over(f"{where}.constraints[{i}].{key}", f"{len(values)} values", self.constraint_values,
                              "max_constraint_values")
        dedup = raw.get("dedup")
        num_perm = dedup.get("num_perm") if isinstance(dedup, Mapping) else None
        if isinstance(num_perm, int) and num_perm > self.num_perm:
            _over(f"{where}.dedup.num_perm", f"num_perm {num_perm}", self.num_perm, "max_num_perm")


def _over(field: str, what: str, limit: int, setting: str) -> None:
    raise LimitExceeded(f"{field}: {what}; the limit is {limit} ({BY_NAME[setting].env})")
