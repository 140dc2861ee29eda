"""The one place an OpenSearch client is made, so timeouts and retries are the same everywhere."""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import orjson
from opensearchpy import OpenSearch
from opensearchpy.serializer import JSONSerializer

from .connection import KeepAliveConnection

# mappings/ at the top of the repository, installed as the package sidecar.mappings (pyproject.toml)
MAPPINGS_DIR = Path(importlib.import_module("sidecar.mappings").__file__).resolve().parent


class FastJSONSerializer(JSONSerializer):
    """Responses decoded with orjson, from the bytes ``KeepAliveConnection`` hands over: a hybrid
    window of 2 x 200 hits is ~130 KB of JSON, and the stdlib decoder spends ~5 ms of a ~20 ms
    search on it on a 2-core machine."""

    def loads(self, s: str | bytes) -> Any:
        return orjson.loads(s)

    def dumps(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        return orjson.dumps(data, default=self.default, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def hosts(url: str) -> list[str]:
    """The node URLs of SIDECAR_OPENSEARCH_URL: one, or several comma-separated."""
    return [u.strip() for u in url.split(",") if u.strip()]


def make_client(url: str, timeout: float = 10.0, max_response_bytes: int | None = None) -> OpenSearch:
    """A client for a cluster given by one URL or several comma-separated. With several,
    opensearch-py's own connection pool spreads requests over the nodes, marks a node that
    refuses or drops a connection dead for a while, and retries the request on another node
    (up to one retry per other node); a timeout is not retried (the request's deadline is spent).
    Plain-HTTP nodes without credentials are spoken to over ``KeepAliveConnection``; https or a
    user in the URL keeps opensearch-py's urllib3 connection. ``max_response_bytes``: answers
    longer than that raise ``connection.ResponseTooLarge`` (plain-HTTP nodes only: urllib3's
    connection reads whole answers)."""
    nodes = hosts(url)
    plain = all(n.startswith("http://") and "@" not in n for n in nodes)
    return OpenSearch(hosts=nodes, timeout=timeout, max_retries=len(nodes) - 1, retry_on_timeout=False,
                      http_compress=False, pool_maxsize=64,  # kept open: a gevent worker
                      serializer=FastJSONSerializer(),  # serves many searches at once
                      **({"connection_class": KeepAliveConnection, "max_response_bytes": max_response_bytes}
                         if plain else {}))


def load_mapping(name: str) -> dict[str, Any]:
    """A JSON file of mappings/ (index bodies and templates)."""
    with open(MAPPINGS_DIR / name, encoding="utf-8") as f:
        return json.load(f)
