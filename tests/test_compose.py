"""docker-compose.yml cannot run here: check it against the code's settings instead."""
from __future__ import annotations

import re

import yaml

from conftest import ROOT
from sidecar.config import SETTINGS, default


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dotenv() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


def test_services_present():
    assert {"opensearch", "dashboards", "sidecar"} <= set(compose()["services"])


def test_sidecar_environment_keys_are_settings_the_code_reads():
    known = {s.env for s in SETTINGS}
    for name in ("sidecar", "indexer"):
        env = compose()["services"][name]["environment"]
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables the code never reads: {unknown}"
    env = compose()["services"]["sidecar"]["environment"]
    assert env["SIDECAR_BACKEND"] == "opensearch"
    assert env["SIDECAR_OPENSEARCH_URL"] == "http://opensearch:9200"  # the compose service name and port
    assert int(env["SIDECAR_PORT"]) == 8080


def test_ports_and_versions_come_from_dotenv():
    env = dotenv()
    services = compose()["services"]
    assert services["opensearch"]["image"].endswith(":${OPENSEARCH_VERSION}")
    assert services["dashboards"]["image"].endswith(":${OPENSEARCH_VERSION}")
    assert "OPENSEARCH_VERSION" in env and re.fullmatch(r"\d+\.\d+\.\d+", env["OPENSEARCH_VERSION"])
    assert services["sidecar"]["ports"] == ["127.0.0.1:${SIDECAR_PORT}:8080"]
    assert int(env["SIDECAR_PORT"]) == default("port")  # .env is the code's default too
    assert services["opensearch"]["ports"] == ["127.0.0.1:${OPENSEARCH_PORT}:9200"]
    assert default("opensearch_url") == f"http://127.0.0.1:{env['OPENSEARCH_PORT']}"


def test_provisioning_script_reads_the_same_version():
    script = (ROOT / "scripts" / "opensearch.sh").read_text()
    assert 'source "$ROOT/.env"' in script and 'VERSION="${OPENSEARCH_VERSION}"' in script
    assert not re.search(r"(?<![\d.])\d+\.\d+\.\d+(?![\d.])", script), "no version literal outside .env"


def test_dockerfile_installs_the_package_and_serves():
    df = (ROOT / "Dockerfile").read_text()
    assert "pip install" in df and 'CMD ["sidecar", "serve"]' in df
    assert "EXPOSE 8080" in df
