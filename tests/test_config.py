"""Settings are declared once (sidecar/config.py SETTINGS: type, choices, range); Config is made
from them; `sidecar config` prints each effective value and its source. No OpenSearch."""
from __future__ import annotations

import dataclasses
import json

import pytest

from conftest import run_cli
from sidecar.config import SETTINGS, Config, effective


def test_config_has_exactly_the_declared_settings_with_their_types():
    cfg = Config.load(environ={})
    assert [f.name for f in dataclasses.fields(cfg)] == [s.name for s in SETTINGS]
    for s in SETTINGS:
        assert isinstance(getattr(cfg, s.name), s.kind), s.name
    assert dataclasses.replace(cfg, port=1).port == 1


@pytest.mark.parametrize("env, words", [
    ({"SIDECAR_LOG_FORMAT": "xml"}, "SIDECAR_LOG_FORMAT: must be text or json"),
    ({"SIDECAR_BACKEND": "solr"}, "SIDECAR_BACKEND: must be opensearch or memory"),
    ({"SIDECAR_DECISION_LOG": "yes"}, "SIDECAR_DECISION_LOG: must be on or off"),
    ({"SIDECAR_DECISION_LOG_SAMPLE": "1.5"}, "SIDECAR_DECISION_LOG_SAMPLE: must be in [0, 1]"),
    ({"SIDECAR_PORT": "70000"}, "SIDECAR_PORT: must be in [0, 65535]"),
    ({"SIDECAR_WORKERS": "0"}, "SIDECAR_WORKERS: must be >= 1"),
    ({"SIDECAR_MAX_WINDOW": "lots"}, "SIDECAR_MAX_WINDOW: expected int"),
    ({"SIDECAR_ADMIN_TOKEN": "changeme"}, "SIDECAR_ADMIN_TOKEN: looks like a placeholder"),
])
def test_a_value_that_does_not_fit_names_its_variable(env, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        Config.load(environ=env)


def test_effective_says_where_each_value_came_from():
    rows = {s.env: (value, source) for s, value, source in
            effective(environ={"SIDECAR_PORT": "9001"}, dotenv_vars={"SIDECAR_INDEX": "shoes", "SIDECAR_PORT": "9002"})}
    assert rows["SIDECAR_PORT"] == (9001, "environment")  # the environment wins over .env
    assert rows["SIDECAR_INDEX"] == ("shoes", ".env")
    assert rows["SIDECAR_WORKERS"] == (2, "default")


def test_sidecar_config_prints_values_and_sources_and_masks_the_token(tmp_path):
    env_file = tmp_path / "settings.env"
    env_file.write_text("SIDECAR_INDEX=from-dotenv\n")
    res = run_cli("config", "--json", env={"SIDECAR_ENV_FILE": str(env_file), "SIDECAR_WORKERS": "3",
                                           "SIDECAR_ADMIN_TOKEN": "a-real-secret-token-0123"})
    assert res.returncode == 0, res.stderr
    rows = {r["env"]: r for r in json.loads(res.stdout)}
    assert len(rows) == len(SETTINGS)
    assert (rows["SIDECAR_WORKERS"]["value"], rows["SIDECAR_WORKERS"]["source"]) == (3, "environment")
    assert (rows["SIDECAR_INDEX"]["value"], rows["SIDECAR_INDEX"]["source"]) == ("from-dotenv", ".env")
    assert rows["SIDECAR_ADMIN_TOKEN"]["value"] == "********" and "0123" not in res.stdout
    plain = run_cli("config", env={"SIDECAR_ENV_FILE": str(env_file)})
    assert plain.returncode == 0 and "SIDECAR_INDEX" in plain.stdout and "from-dotenv" in plain.stdout
    bad = run_cli("config", env={"SIDECAR_ENV_FILE": str(env_file), "SIDECAR_PORT": "99999"})
    assert bad.returncode == 2 and bad.stderr.strip() == "error: SIDECAR_PORT: must be in [0, 65535], got 99999"
