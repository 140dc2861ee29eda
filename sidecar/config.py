"""Settings: one table of every option, its environment variable, default and meaning.

The CLI takes its defaults from here, the configuration table of docs/operations.md is this table, and a test
checks docker-compose.yml against it, so the three cannot drift apart. Values come from the
environment, then from the ``.env`` file of the working directory (the file docker compose and
scripts/opensearch.sh read, so editing a port there moves every tool), then the built-in
default; a default may name another variable as ``${NAME:-fallback}``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, make_dataclass
from pathlib import Path
from typing import Any

_VAR = re.compile(r"\$\{(\w+):-([^}]*)\}")


@dataclass(frozen=True)
class Setting:
    """One option: its name, environment variable, default, meaning, type, and the values it may
    take (``choices``, or a numeric range ``lo``..``hi``). ``parse`` is the one check."""

    name: str
    env: str
    default: Any
    help: str
    kind: type = str
    choices: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    secret: bool = False  # shown masked by `sidecar config`

    def parse(self, raw: Any) -> Any:
        """The value as its type; ValueError naming the variable when it does not fit."""
        try:
            value = self.kind(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{self.env}: expected {self.kind.__name__}, got {raw!r}") from None
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.env}: must be {' or '.join(self.choices)}, got {value!r}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            bounds = f"in [{self.lo:g}, {self.hi:g}]" if self.lo is not None and self.hi is not None else \
                (f">= {self.lo:g}" if self.lo is not None else f"<= {self.hi:g}")
            raise ValueError(f"{self.env}: must be {bounds}, got {value!r}")
        return value


ON_OFF = ("on", "off")
SETTINGS: tuple[Setting, ...] = (
    Setting("opensearch_url", "SIDECAR_OPENSEARCH_URL", "http://127.0.0.1:${OPENSEARCH_PORT:-9200}",
            "OpenSearch URL; a cluster's nodes comma-separated"),
    Setting("index", "SIDECAR_INDEX", "products", "products index searched by /search"),
    Setting("backend", "SIDECAR_BACKEND", "memory", "retrieval backend: opensearch or memory (embedded)",
            choices=("opensearch", "memory")),
    Setting("catalog", "SIDECAR_CATALOG", "demo/catalog.jsonl", "catalog JSONL for the memory backend"),
    Setting("vectors", "SIDECAR_VECTORS", "demo/vectors.npy", "vectors .npy for the memory backend (row i = line i)"),
    Setting("rules", "SIDECAR_RULES", "query_rules", "directory of rule YAML files"),
    Setting("host", "SIDECAR_HOST", "127.0.0.1", "address the HTTP server binds to"),
    Setting("port", "SIDECAR_PORT", 8080, "HTTP port", int, lo=0, hi=65535),
    Setting("workers", "SIDECAR_WORKERS", 2, "gunicorn worker processes", int, lo=1),
    Setting("worker_connections", "SIDECAR_WORKER_CONNECTIONS", 1000, "open connections per worker (gevent)", int,
            lo=1),
    Setting("backend_timeout", "SIDECAR_BACKEND_TIMEOUT", 2.0, "seconds a request may wait on OpenSearch, all its "
                                                              "calls together; then 504 (OpenSearch cancels the search)",
            float, lo=0.001),
    Setting("max_window", "SIDECAR_MAX_WINDOW", 1000, "cap on candidates retrieved per request", int, lo=1),
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
    Setting("proxy_max_response_bytes", "SIDECAR_PROXY_MAX_RESPONSE_BYTES", 8388608,
            "longest answer of OpenSearch the proxy reads (then 400: the search asked for too much)", int, lo=1024),
    Setting("proxy_allow_expensive", "SIDECAR_PROXY_ALLOW_EXPENSIVE", "off",
            "on: the proxy forwards scripts and regexp/wildcard/fuzzy/query_string queries", choices=ON_OFF),
    Setting("admin_token", "SIDECAR_ADMIN_TOKEN", "", "bearer token for /admin/* and /inspect (16+ characters, not a "
                                                      "placeholder); empty: /admin is off and /inspect answers "
                                                      "loopback clients only", secret=True),
    Setting("secret", "SIDECAR_SECRET", "", "the key every replica shares: signs the page ids events name and keys "
            "experiment assignment (32+ characters, not a placeholder); empty: a random key for one server run",
            secret=True),
    Setting("rules_poll_seconds", "SIDECAR_RULES_POLL_SECONDS", 2.0, "how often rule files are checked for edits", float),
    Setting("decision_log", "SIDECAR_DECISION_LOG", "off", "decision log to OpenSearch: on or off", choices=ON_OFF),
    Setting("decision_log_sample", "SIDECAR_DECISION_LOG_SAMPLE", 1.0, "share of requests logged (0..1)", float,
            lo=0.0, hi=1.0),
    Setting("decision_log_index", "SIDECAR_DECISION_LOG_INDEX", "sidecar-decisions", "daily index prefix of the decision log"),
    Setting("events", "SIDECAR_EVENTS", "on", "POST /events writes shoppers' events to OpenSearch (opensearch backend "
                                             "only): on or off", choices=ON_OFF),
    Setting("events_index", "SIDECAR_EVENTS_INDEX", "ubi_events",
            "the index of the events (UBI's name by default); their credits go to `<index>_credits`"),
    Setting("events_per_client", "SIDECAR_EVENTS_PER_CLIENT", 50.0, "events a second one client address may send "
            "to one worker (bursts of 10x that); then 429 with Retry-After", float, lo=0.1),
    Setting("events_spool_bytes", "SIDECAR_EVENTS_SPOOL_BYTES", 67108864, "bytes of accepted events a worker keeps "
            "in the run dir while OpenSearch is away; then 503", int, lo=65536),
    Setting("log_level", "SIDECAR_LOG_LEVEL", "INFO", "logging level"),
    Setting("log_format", "SIDECAR_LOG_FORMAT", "text", "log lines as text or json (one object per line)",
            choices=("text", "json")),
    Setting("trusted_proxies", "SIDECAR_TRUSTED_PROXIES", "", "comma-separated addresses of front proxies whose "
            "X-Request-Start is believed (the request's deadline counts from it); empty: the header is ignored"),
    Setting("cors_origins", "SIDECAR_CORS_ORIGINS", "", "comma-separated origins allowed by CORS, * for any; empty: CORS off"),
    Setting("run_dir", "SIDECAR_RUN_DIR", "", "directory the workers of one `sidecar serve` share (metrics, rule status); "
                                              "empty: a fresh temporary one"),
)
BY_NAME = {s.name: s for s in SETTINGS}
# admin tokens refused as placeholders (compared lower-cased, without - and _)
PLACEHOLDER_TOKENS = frozenset({"changeme", "change", "secret", "token", "admin", "password", "test", "example",
                                "replaceme", "yourtoken", "xxx", "todo"})


def _placeholder(value: str) -> bool:
    """A secret that is one of the placeholders people leave in (case, - and _ aside)."""
    return value.lower().replace("-", "").replace("_", "") in PLACEHOLDER_TOKENS


def _load(cls: type, environ: dict[str, str] | None = None, **overrides: Any) -> Any:
    """Defaults, then ``.env``, then environment variables, then explicit overrides (CLI flags);
    ``environ`` replaces the last two sources (tests). ValueError names the variable at fault."""
    env = variables() if environ is None else environ
    values = {}
    for s in SETTINGS:
        raw = overrides.get(s.name)
        values[s.name] = s.parse(_raw(s, env) if raw is None else raw)
    token = values["admin_token"]
    if token and (_placeholder(token) or len(token) < 16):
        raise ValueError("SIDECAR_ADMIN_TOKEN: looks like a placeholder or is shorter than 16 characters; set a "
                         "secret one (e.g. `openssl rand -hex 16`), or leave it empty to turn /admin off")
    secret = values["secret"]
    if secret and (len(secret) < 32 or len(set(secret)) < 8 or _placeholder(secret)):
        raise ValueError("SIDECAR_SECRET: looks like a placeholder or is shorter than 32 characters; set a random "
                         "one (e.g. `openssl rand -hex 32`), the same on every replica")
    return cls(**values)


# the effective configuration: one frozen field per setting, made from SETTINGS (declared once)
Config = make_dataclass("Config", [(s.name, s.kind) for s in SETTINGS], frozen=True,
                        namespace={"load": classmethod(_load), "__module__": __name__})


def effective(environ: dict[str, str] | None = None, dotenv_vars: dict[str, str] | None = None
              ) -> list[tuple[Setting, Any, str]]:
    """Each setting with its effective value and where it came from: "environment", ".env" or
    "default", and for a default built from other variables, where those came from ("default,
    OPENSEARCH_PORT from .env") (for `sidecar config`)."""
    environ = dict(os.environ) if environ is None else environ
    dotenv_vars = dotenv() if dotenv_vars is None else dotenv_vars
    merged = {**dotenv_vars, **environ}
    out = []
    for s in SETTINGS:
        source = "environment" if s.env in environ else (".env" if s.env in dotenv_vars else "default")
        if source == "default" and isinstance(s.default, str):
            used = [v for v in re.findall(r"\$\{(\w+)", s.default) if v in merged]
            if used:
                source += ", " + ", ".join(f"{v} from {'environment' if v in environ else '.env'}" for v in used)
        out.append((s, s.parse(_raw(s, merged)), source))
    return out


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


def _raw(s: Setting, env: dict[str, str]) -> Any:
    """A setting's value as written: its variable in ``env``, else its default (expanded)."""
    return env.get(s.env, _expand(s.default, env))


def _expand(default: Any, env: dict[str, str]) -> Any:
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(2)), default) if isinstance(default, str) else default


def default(name: str) -> Any:
    """The effective default of one setting: environment, else .env, else the built-in."""
    s = BY_NAME[name]
    return s.parse(_raw(s, variables()))
