"""Pure reranking core: agents, base orders (score, MMR, DPP), near-duplicates, explanations.

No I/O, no clock, no module-level caches; the hot loops are numba kernels over a columnar
``CandidateBatch``. ``rerank(request)`` is the JSON contract; ``rerank_batch(batch, rule, ...)``
the columnar one."""
from .reranking import candidates_batch, rerank, rerank_batch, rows_batch, validate_candidates
from .batch import CandidateBatch
from .rule import Rule, parse_rule

__all__ = ["rerank", "rerank_batch", "candidates_batch", "rows_batch", "validate_candidates", "CandidateBatch", "Rule", "parse_rule"]
