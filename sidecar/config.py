"""Settings: one table of every option, its environment variable, default and meaning.

The CLI takes its defaults from here, the README's configuration table is this table, and a test
checks docker-compose.yml against it, so the three cannot drift apart. Values come from the
environment, then from the ``.env`` file of the working directory (the file docker compose and
scripts/opensearch.sh read, so editing a port there moves every tool), then the built-in
default; a default may name another variable as ``${NAME:-fallback}``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

_VAR = re.compile(r"\$\{(\w+):-([^}]*)\}")


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    kind: type = str


SETTINGS: tuple[Setting, ...] = (
    Setting("opensearch_url", "SIDECAR_OPENSEARCH_URL", "http://127.0.0.1:${OPENSEARCH_PORT:-9200}",
            "OpenSearch URL; a cluster's nodes comma-separated"),
    Setting("index", "SIDECAR_INDEX", "products", "products index searched by /search"),
    Setting("backend", "SIDECAR_BACKEND", "memory", "retrieval backend: opensearch or memory (embedded)"),
    Setting("catalog", "SIDECAR_CATALOG", "demo/catalog.jsonl", "catalog JSONL for the memory backend"),
    Setting("vectors", "SIDECAR_VECTORS", "demo/vectors.npy", "vectors .npy for the memory backend (row i = line i)"),
    Setting("rules", "SIDECAR_RULES", "query_rules", "directory of rule YAML files"),
    Setting("host", "SIDECAR_HOST", "127.0.0.1", "address the HTTP server binds to"),
    Setting("port", "SIDECAR_PORT", 8080, "HTTP port", int),
    Setting("workers", "SIDECAR_WORKERS", 2, "gunicorn worker processes", int),
    Setting("worker_connections", "SIDECAR_WORKER_CONNECTIONS", 1000, "open connections per worker (gevent)", int),
    Setting("backend_timeout", "SIDECAR_BACKEND_TIMEOUT", 2.0, "seconds a request may wait on OpenSearch, all its "
                                                              "calls together; then 504 (OpenSearch cancels the search)",
            float),
    Setting("max_window", "SIDECAR_MAX_WINDOW", 1000, "cap on candidates retrieved per request", int),
    Setting("encoder", "SIDECAR_ENCODER", "minilm", "query encoder: minilm (all-MiniLM-L6-v2, int8 ONNX), a directory "
                                                    "holding model.onnx and tokenizer.json, or off"),
    Setting("max_body_bytes", "SIDECAR_MAX_BODY_BYTES", 1048576, "request bodies above this get 413 (chunked too)",
            int),
    Setting("body_timeout", "SIDECAR_BODY_TIMEOUT", 10.0, "seconds a request body may take to arrive; then 408", float),
    Setting("max_query_chars", "SIDECAR_MAX_QUERY_CHARS", 1024, "characters a /search q may have (then 400)", int),
    Setting("max_candidates", "SIDECAR_MAX_CANDIDATES", 1000, "candidates one /rerank request may send", int),
    Setting("max_constraints", "SIDECAR_MAX_CONSTRAINTS", 32, "constraints in a rule sent with a request", int),
    Setting("max_constraint_values", "SIDECAR_MAX_CONSTRAINT_VALUES", 1000,
            "values one constraint of a rule sent with a request may list", int),
    Setting("max_num_perm", "SIDECAR_MAX_NUM_PERM", 256, "MinHash permutations a rule sent with a request may ask for",
            int),
    Setting("max_dedup_pairs", "SIDECAR_MAX_DEDUP_PAIRS", 2000000,
            "candidate pairs near-duplicate detection may look at per request (then 400)", int),
    Setting("proxy_indices", "SIDECAR_PROXY_INDICES", "", "comma-separated indices the proxy searches; "
                                                          "empty: the products index (SIDECAR_INDEX)"),
    Setting("proxy_max_size", "SIDECAR_PROXY_MAX_SIZE", 100, "largest size a proxied search may ask for", int),
    Setting("proxy_max_buckets", "SIDECAR_PROXY_MAX_BUCKETS", 100,
            "largest size of a proxied terms-like aggregation", int),
    Setting("proxy_allow_expensive", "SIDECAR_PROXY_ALLOW_EXPENSIVE", "off",
            "on: the proxy forwards scripts and regexp/wildcard/fuzzy/query_string queries"),
    Setting("admin_token", "SIDECAR_ADMIN_TOKEN", "", "bearer token for /admin/* and /inspect (16+ characters, not a "
                                                      "placeholder); empty: /admin is off and /inspect answers "
                                                      "loopback clients only"),
    Setting("rules_poll_seconds", "SIDECAR_RULES_POLL_SECONDS", 2.0, "how often rule files are checked for edits", float),
    Setting("decision_log", "SIDECAR_DECISION_LOG", "off", "decision log to OpenSearch: on or off"),
    Setting("decision_log_sample", "SIDECAR_DECISION_LOG_SAMPLE", 1.0, "share of requests logged (0..1)", float),
    Setting("decision_log_index", "SIDECAR_DECISION_LOG_INDEX", "sidecar-decisions", "daily index prefix of the decision log"),
    Setting("log_level", "SIDECAR_LOG_LEVEL", "INFO", "logging level"),
    Setting("log_format", "SIDECAR_LOG_FORMAT", "text", "log lines as text or json (one object per line)"),
    Setting("cors_origins", "SIDECAR_CORS_ORIGINS", "", "comma-separated origins allowed by CORS, * for any; empty: CORS off"),
    Setting("run_dir", "SIDECAR_RUN_DIR", "", "directory the workers of one `sidecar serve` share (metrics, rule status); "
                                              "empty: a fresh temporary one"),
)
BY_NAME = {s.name: s for s in SETTINGS}
# admin tokens refused as placeholders (compared lower-cased, without - and _)
PLACEHOLDER_TOKENS = frozenset({"changeme", "change", "secret", "token", "admin", "password", "test", "example",
                                "replaceme", "yourtoken", "xxx", "todo"})


@dataclass(frozen=True)
class Config:
    opensearch_url: str
    index: str
    backend: str
    catalog: str
    vectors: str
    rules: str
    host: str
    port: int
    workers: int
    worker_connections: int
    backend_timeout: float
    max_window: int
    encoder: str
    max_body_bytes: int
    body_timeout: float
    max_query_chars: int
    max_candidates: int
    max_constraints: int
    max_constraint_values: int
    max_num_perm: int
    max_dedup_pairs: int
    proxy_indices: str
    proxy_max_size: int
    proxy_max_buckets: int
    proxy_allow_expensive: str
    admin_token: str
    rules_poll_seconds: float
    decision_log: str
    decision_log_sample: float
    decision_log_index: str
    log_level: str
    log_format: str
    cors_origins: str
    run_dir: str

    @classmethod
    def load(cls, environ: dict[str, str] | None = None, **overrides: Any) -> "Config":
        """Defaults, then ``.env``, then environment variables, then explicit overrides (CLI flags);
        ``environ`` replaces the last two sources (tests)."""
        env = variables() if environ is None else environ
        values: dict[str, Any] = {}
        for s in SETTINGS:
            raw = overrides.get(s.name)
            if raw is None:
                raw = env.get(s.env, _expand(s.default, env))
            try:
                values[s.name] = s.kind(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{s.env}: expected {s.kind.__name__}, got {raw!r}") from None
        for name in ("decision_log", "proxy_allow_expensive"):
            if values[name] not in ("on", "off"):
                raise ValueError(f"{BY_NAME[name].env}: must be on or off, got {values[name]!r}")
        if not 0.0 <= values["decision_log_sample"] <= 1.0:
            raise ValueError(f"SIDECAR_DECISION_LOG_SAMPLE: must be in [0, 1], got {values['decision_log_sample']}")
        if values["log_format"] not in ("text", "json"):
            raise ValueError(f"SIDECAR_LOG_FORMAT: must be text or json, got {values['log_format']!r}")
        if values["backend"] not in ("opensearch", "memory"):
            raise ValueError(f"SIDECAR_BACKEND: must be opensearch or memory, got {values['backend']!r}")
        token = values["admin_token"]
        if token and (token.lower().replace("-", "").replace("_", "") in PLACEHOLDER_TOKENS or len(token) < 16):
            raise ValueError("SIDECAR_ADMIN_TOKEN: looks like a placeholder or is shorter than 16 characters; set a "
                             "secret one (e.g. `openssl rand -hex 16`), or leave it empty to turn /admin off")
        return cls(**values)


assert {f.name for f in fields(Config)} == set(BY_NAME), "Config and SETTINGS must list the same options"


def dotenv(path: Path | None = None) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (default: the working directory's, or SIDECAR_ENV_FILE)."""
    path = path or Path(os.environ.get("SIDECAR_ENV_FILE", ".env"))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip("'\"")
    return out


def variables() -> dict[str, str]:
    """The variables settings are read from: .env, overridden by the environment (as compose does)."""
    return {**dotenv(), **os.environ}


def _expand(default: Any, env: dict[str, str]) -> Any:
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(2)), default) if isinstance(default, str) else default


def default(name: str) -> Any:
    """The effective default of one setting: environment, else .env, else the built-in."""
    s = BY_NAME[name]
    env = variables()
    return s.kind(env.get(s.env, _expand(s.default, env)))
