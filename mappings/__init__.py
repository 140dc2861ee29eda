"""The OpenSearch index bodies and templates (JSON), kept at the top of the repository as the one
source and installed as the package ``sidecar.mappings`` (pyproject.toml's package-dir)."""
