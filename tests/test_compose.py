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
    # another checkout with other ports on the same machine: its own node, data, PID file and cluster
    for var in ("DATA_DIR", "LOG_DIR", "PID_FILE"):
        assert re.search(rf'^{var}="[^"]*\$PORT', script, re.M), var
    assert re.search(r'^CLUSTER_DIR="[^"]*\$CLUSTER_PORT', script, re.M)


def test_dockerfile_installs_the_package_and_serves():
    df = (ROOT / "Dockerfile").read_text()
    assert "pip install" in df and 'CMD ["sidecar", "serve"]' in df
    assert "EXPOSE 8080" in df


def test_edited_dotenv_ports_move_every_tool(tmp_path, monkeypatch):
    """Editing .env as opensearch.sh advises moves the CLI's and the server's defaults with it;
    an environment variable still wins, as in docker compose."""
    from conftest import run_cli
    from sidecar.config import Config

    env_file = tmp_path / ".env"
    text = re.sub(r"(?m)^OPENSEARCH_PORT=.*$", "OPENSEARCH_PORT=9333", (ROOT / ".env").read_text())
    env_file.write_text(re.sub(r"(?m)^SIDECAR_PORT=.*$", "SIDECAR_PORT=8111", text))
    monkeypatch.setenv("SIDECAR_ENV_FILE", str(env_file))
    monkeypatch.delenv("SIDECAR_PORT", raising=False)
    monkeypatch.delenv("SIDECAR_OPENSEARCH_URL", raising=False)
    cfg = Config.load()
    assert cfg.port == 8111 and cfg.opensearch_url == "http://127.0.0.1:9333"
    helped = run_cli("index", "--help", env={"SIDECAR_ENV_FILE": str(env_file)})
    assert "http://127.0.0.1:9333" in helped.stdout
    monkeypatch.setenv("SIDECAR_PORT", "8222")
    assert Config.load().port == 8222


def test_the_cluster_profile_forms_one_cluster_and_its_sidecars_know_every_node():
    """Three nodes seeding each other; the indexer's flags are real `sidecar index` flags; the
    sidecar replicas share one read-only rule directory and list every node."""
    from sidecar.cli import build_parser
    from sidecar.opensearch.client import hosts

    services = compose()["services"]
    nodes = [n for n in services if n.startswith("os-node")]
    assert len(nodes) == 3 and all(services[n]["profiles"] == ["cluster"] for n in nodes)
    for n in nodes:
        env = services[n]["environment"]
        assert env["node.name"] == n and set(env["discovery.seed_hosts"].split(",")) == set(nodes)
        assert env["cluster.name"] == "srp-sidecar-cluster"
    sc = services["sidecar-cluster"]
    assert set(sc["environment"]) <= {s.env for s in SETTINGS}
    assert hosts(sc["environment"]["SIDECAR_OPENSEARCH_URL"]) == [f"http://{n}:9200" for n in nodes]
    assert sc["deploy"]["replicas"] >= 2 and sc["volumes"] == [f"./query_rules:{sc['environment']['SIDECAR_RULES']}:ro"]
    args = build_parser().parse_args(services["indexer-cluster"]["command"][1:])
    assert (args.shards, args.replicas) == (3, 1)
    assert "OPENSEARCH_CLUSTER_HEAP" in dotenv()


def test_the_image_runs_as_a_user_with_its_cache_built_in_and_a_small_context():
    df = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"(?m)^USER\s+(\S+)", df)
    assert users and users[-1] not in ("root", "0"), "the container must not run as root"
    assert re.search(r"(?m)^RUN .*pip install .*&& sidecar warm", df), "the kernels compile at build time"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "**/__pycache__", "tests", "bench"} <= set(ignored)


def test_compose_ships_no_admin_token_and_a_placeholder_one_is_refused():
    from sidecar.config import Config

    for name, svc in compose()["services"].items():
        token = svc.get("environment", {}).get("SIDECAR_ADMIN_TOKEN")
        assert token in (None, "${SIDECAR_ADMIN_TOKEN:-}"), (name, token)
    for bad in ("change-me", "CHANGE_ME", "secret", "short-token"):
        try:
            Config.load(environ={"SIDECAR_ADMIN_TOKEN": bad})
        except ValueError as exc:
            assert "SIDECAR_ADMIN_TOKEN" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
    assert Config.load(environ={"SIDECAR_ADMIN_TOKEN": "a-real-token-of-some-length"}).admin_token


def test_the_readme_cluster_section_says_what_the_host_needs():
    readme = (ROOT / "docs" / "operations.md").read_text()
    assert "vm.max_map_count" in readme
