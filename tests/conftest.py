"""Shared fixtures: where the fashion data lives, and the real OpenSearch of scripts/opensearch.sh."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FASHION = Path(os.environ.get("SIDECAR_FASHION_DIR", ROOT.parent / "shared" / "data" / "fashion"))
os.environ.setdefault("SIDECAR_ENV_FILE", str(ROOT / ".env"))  # the project's .env, wherever pytest runs from
OPENSEARCH_URL = os.environ.get("SIDECAR_TEST_OPENSEARCH_URL") or __import__("sidecar.config").config.default("opensearch_url")


def _ndjson_serializer() -> None:
    """schemathesis sends _msearch bodies (application/x-ndjson) as the generated string, NDJSON or
    not (the proxy must answer 4xx): registered here, for every file that fuzzes the API."""
    try:
        import schemathesis
    except ImportError:
        return

    @schemathesis.serializer("application/x-ndjson")
    def ndjson(ctx, value):
        return value.encode() if isinstance(value, str) else json.dumps(value).encode()


_ndjson_serializer()


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


def _reachable() -> bool:
    import requests

    try:
        requests.get(OPENSEARCH_URL, timeout=3).raise_for_status()
    except Exception:  # noqa: BLE001 - any failure means "not there"
        return False
    return True


def pytest_collection_modifyitems(config, items):
    """Bare ``pytest`` with no OpenSearch reachable: the tests that need it (those using ``os_url``,
    and those marked ``needs_opensearch``) are not run, and one line of the summary says so and how
    to run them. Under scripts/test.sh (SIDECAR_REQUIRE_OPENSEARCH=1) nothing is left out."""
    if os.environ.get("SIDECAR_REQUIRE_OPENSEARCH") == "1":
        return
    needs = [i for i in items if "os_url" in getattr(i, "fixturenames", ()) or i.get_closest_marker("needs_opensearch")]
    if not needs or _reachable():
        return
    config.hook.pytest_deselected(items=needs)
    items[:] = [i for i in items if i not in needs]
    config.stash[_LEFT_OUT] = len(needs)


_LEFT_OUT = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, config):
    left_out = config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(f"{left_out} integration tests not run: OpenSearch is not reachable at "
                                    f"{OPENSEARCH_URL}; scripts/test.sh runs everything (or scripts/opensearch.sh "
                                    "start, then pytest)")


@pytest.fixture(scope="session")
def os_url() -> str:
    """The real OpenSearch of scripts/opensearch.sh. Under scripts/test.sh (CI) its absence is a
    failure; a developer running bare pytest without it gets a skip that says how to start it."""
    import requests

    try:
        requests.get(OPENSEARCH_URL, timeout=3).raise_for_status()
    except Exception:  # noqa: BLE001 - any failure means "not there"
        msg = (f"OpenSearch not reachable at {OPENSEARCH_URL}: integration tests skipped; scripts/test.sh runs "
               "everything (or scripts/opensearch.sh start, then pytest)")
        if os.environ.get("SIDECAR_REQUIRE_OPENSEARCH") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return OPENSEARCH_URL


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory) -> Path:
    """Where tests put figures and screenshots: a temporary directory, or ``SIDECAR_RESULTS_DIR``
    when set (``SIDECAR_RESULTS_DIR=bench/results scripts/test.sh -m cluster`` refreshes the
    tracked figures on purpose; a plain run never writes a tracked file)."""
    chosen = os.environ.get("SIDECAR_RESULTS_DIR")
    out = Path(chosen) if chosen else tmp_path_factory.mktemp("results")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def os_client(os_url: str):
    from sidecar.opensearch.client import make_client

    return make_client(os_url, timeout=30)


@pytest.fixture(scope="session")
def fashion_slice(fashion_dir: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The first 2,000 products of the fashion catalog with their vectors, as files."""
    import numpy as np

    out = tmp_path_factory.mktemp("slice")
    lines = (fashion_dir / "catalog.jsonl").read_text(encoding="utf-8").splitlines()[:2000]
    (out / "catalog.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    np.save(out / "vectors.npy", np.load(fashion_dir / "vectors-minilm.f16.npy")[:2000])
    return out / "catalog.jsonl", out / "vectors.npy"


def run_cli(*args: str, stdin: str | None = None, timeout: float = 300, env: dict[str, str] | None = None,
            cwd: Path | None = None):
    """Run the installed `sidecar` command as a user would (``env``: variables added)."""
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "sidecar"
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def index_demo(os_url: str, index: str) -> None:
    """The project's demo catalog into ``index``, by `sidecar index` as a user runs it."""
    res = run_cli("index", "--catalog", str(ROOT / "demo" / "catalog.jsonl"), "--vectors", str(ROOT / "demo" / "vectors.npy"),
                  "--index", index, "--recreate", "--url", os_url, "--quiet")
    assert res.returncode == 0, res.stderr


DEMO_INDEX = "test-demo-app"  # the demo catalog on OpenSearch, for ``demo_on_opensearch``


def demo_app(**settings: Any):
    """A test client of an app over the demo catalog: the memory backend, the shipped rules, the
    encoder off, unless ``settings`` say otherwise (``Config.load`` keys)."""
    from sidecar.config import Config
    from sidecar.server import create_app

    base: dict[str, Any] = {"backend": "memory", "rules": str(ROOT / "query_rules"), "rules_poll_seconds": 0, "encoder": "off"}
    if settings.get("backend", "memory") == "memory":
        base.update(catalog=str(ROOT / "demo" / "catalog.jsonl"), vectors=str(ROOT / "demo" / "vectors.npy"))
    return create_app(Config.load(environ={}, **{**base, **settings})).test_client()


@pytest.fixture(scope="session")
def demo_on_opensearch(os_url: str, os_client):
    """The demo catalog indexed on OpenSearch (``DEMO_INDEX``) and ``demo_app`` over it."""
    index_demo(os_url, DEMO_INDEX)
    yield demo_app(backend="opensearch", opensearch_url=os_url, index=DEMO_INDEX)
    os_client.indices.delete(index=DEMO_INDEX, ignore_unavailable=True)
