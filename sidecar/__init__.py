"""SRP diversity sidecar: reranks OpenSearch candidates under per-query YAML rules."""
from .jit_cache import configure as _configure_jit_cache

__version__ = "0.1.0"
_configure_jit_cache()  # before the reranking core's kernels are defined
