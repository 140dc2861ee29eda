"""Every command of the README runs as written: its curl bodies against the demo app, its
`sidecar` commands as a user types them, its links to pages that exist. No OpenSearch."""
from __future__ import annotations

import json
import re
import shlex

import pytest

from conftest import ROOT, run_cli

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
COMMANDS = [c for block in BLOCKS for c in (line.split(" #")[0].strip()
                                            for line in block.replace("\\\n", " ").splitlines()) if c]


def test_the_readme_fits_on_a_screen_and_its_links_resolve():
    assert len(README.splitlines()) <= 200
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)\)", README):
        assert (ROOT / target).is_file(), target
    assert {"scripts/demo.sh", "scripts/test.sh"} <= {c.split()[0] for c in COMMANDS}


@pytest.fixture(scope="module")
def demo():
    from test_encoder import memory_app

    return memory_app().test_client()


CURLS = [c for c in COMMANDS if c.startswith("curl ")]


@pytest.mark.parametrize("command", CURLS, ids=[f"curl{i}" for i in range(len(CURLS))])
def test_each_curl_of_the_readme_is_answered(demo, command):
    args = shlex.split(command)
    path = "/" + args[[i for i, a in enumerate(args) if a.startswith("localhost:")][0]].split("/", 1)[1]
    body = json.loads(args[args.index("-d") + 1])
    r = demo.post(path, json=body)
    assert r.status_code == 200, r.json
    assert r.json["hits"], r.json
    if body.get("q") == "sneakers":
        assert r.json["mode"] == "hybrid"
        assert [h["fields"]["master_category"] for h in r.json["hits"]].count("Footwear") >= 8
        assert r.json["understood"]["filters"] == {"category": "shoes"}  # as the README's comment says
        assert any("also searches casual shoes" in line for line in r.json["understood"]["rewrites"])
    if body.get("q") == "puma shoes":
        assert r.json["named"] == {"brand": ["puma"]}


SIDECAR = [c for c in COMMANDS if c.startswith(".venv/bin/sidecar ")]


@pytest.mark.parametrize("command", SIDECAR, ids=[c.split()[1] + str(i) for i, c in enumerate(SIDECAR)])
def test_each_sidecar_command_of_the_readme_runs(command):
    res = run_cli(*shlex.split(command)[1:], cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip()


def test_the_inspector_link_of_the_readme_opens(demo):
    (link,) = re.findall(r"<http://127\.0\.0\.1:8080(/inspect\?[^>]+)>", README)
    r = demo.get(link, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert r.status_code == 200 and "named in the query" in r.get_data(as_text=True)
