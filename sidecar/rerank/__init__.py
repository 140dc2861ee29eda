"""Pure reranking core: agents, base orders (score, MMR, DPP), near-duplicates, explanations.

No I/O, no clock, no module-level caches; the hot loops are numba kernels over a columnar
``CandidateBatch``. ``rerank(request)`` is the JSON contract; ``rerank_batch(batch, rule, ...)``
the columnar one.

numba loads its registered extensions (``numba_extensions`` entry points) before its first
compile; the core asks it to do so before its kernels are decorated, because a ``cache=True``
kernel chooses where it is cached when decorated. The sidecar's extension chooses that place
(``sidecar/jit_cache.py``); the core itself knows nothing of it."""
from numba.core.entrypoints import init_all as _numba_extensions

_numba_extensions()  # before any kernel below is decorated (numba runs it once per process)

from .reranking import candidates_batch, rerank, rerank_batch, rows_batch, validate_candidates  # noqa: E402
from .batch import CandidateBatch  # noqa: E402
from .rule import Rule, parse_rule  # noqa: E402

__all__ = ["rerank", "rerank_batch", "candidates_batch", "rows_batch", "validate_candidates", "CandidateBatch", "Rule", "parse_rule"]
