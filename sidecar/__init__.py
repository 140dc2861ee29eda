"""SRP diversity sidecar: reranks OpenSearch candidates under per-query YAML rules."""
__version__ = "0.1.0"
