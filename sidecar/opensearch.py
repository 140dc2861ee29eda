"""The one place an OpenSearch client is made, so timeouts and retries are the same everywhere."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch

MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"


def make_client(url: str, timeout: float = 10.0) -> OpenSearch:
    """A client for one cluster URL; no automatic retries (callers decide what a retry means)."""
    return OpenSearch(hosts=[url], timeout=timeout, max_retries=0, retry_on_timeout=False,
                      http_compress=False, pool_maxsize=16)  # one connection per gunicorn thread and more


def load_mapping(name: str) -> dict[str, Any]:
    """A JSON file of mappings/ (index bodies and templates)."""
    with open(MAPPINGS_DIR / name, encoding="utf-8") as f:
        return json.load(f)
