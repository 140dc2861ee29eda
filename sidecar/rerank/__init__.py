"""Pure reranking core: agents, MMR, near-duplicates, explanations. No I/O; numpy and datasketch only."""
from .api import rerank, rerank_candidates, validate_candidates
from .rule import Rule, parse_rule

__all__ = ["rerank", "rerank_candidates", "validate_candidates", "Rule", "parse_rule"]
