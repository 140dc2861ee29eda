"""Shared fixtures: where the fashion data lives, and the real OpenSearch of scripts/opensearch.sh."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FASHION = Path(os.environ.get("SIDECAR_FASHION_DIR", ROOT.parent / "shared" / "data" / "fashion"))
OPENSEARCH_URL = os.environ.get("SIDECAR_TEST_OPENSEARCH_URL", "http://127.0.0.1:9200")


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    if not (FASHION / "catalog.jsonl").exists():
        pytest.skip(f"fashion catalog not found at {FASHION} (set SIDECAR_FASHION_DIR); these tests need ../shared")
    return FASHION


@pytest.fixture(scope="session")
def fashion_rows(fashion_dir: Path) -> list[dict]:
    with open(fashion_dir / "catalog.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def fashion_vectors(fashion_dir: Path):
    import numpy as np

    return np.load(fashion_dir / "vectors-minilm.f16.npy").astype("float32")
