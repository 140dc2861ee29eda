"""SRP diversity sidecar: reranks OpenSearch candidates under per-query YAML rules.

Importing it does nothing else: where numba keeps the compiled kernels is set by numba's own
extension hook (``sidecar/jit_cache.py``).
"""

__version__ = "0.1.0"
