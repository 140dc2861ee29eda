"""The reranking core stays pure: no I/O libraries, no Flask, no OpenSearch (DEVELOPERS.md)."""
from __future__ import annotations

import ast
import sys

from conftest import ROOT

ALLOWED_THIRD_PARTY = {"numpy", "datasketch"}


def test_rerank_package_imports_only_numpy_datasketch_and_stdlib():
    for path in (ROOT / "sidecar" / "rerank").glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names or top == "__future__", \
                    f"{path.name} imports {name}"
                assert top not in ("socket", "http", "urllib", "requests", "flask", "opensearchpy", "yaml", "io"), \
                    f"{path.name} imports {name}: I/O does not belong in the core"
