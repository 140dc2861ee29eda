"""The README stays true to the code: generated tables are current, every --help works."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, run_cli


def test_readme_tables_are_current():
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_docs.py"), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "scripts/demo.sh" in readme and "scripts/test.sh" in readme
    assert "exec scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("args", [[], ["index"], ["rerank"], ["rules"], ["rules", "check"], ["rules", "explain"], ["serve"], ["config"], ["eval"]])
def test_help(args):
    res = run_cli(*args, "--help")
    assert res.returncode == 0 and "usage: sidecar" in res.stdout
    assert len(res.stdout.splitlines()) > 5


def test_no_command_prints_help_and_exits_2():
    res = run_cli()
    assert res.returncode == 2 and "COMMAND" in res.stdout


def test_every_relative_link_and_image_in_the_docs_resolves():
    """A link or image in README.md and docs/*.md that is a path (not a URL, not an anchor)
    names a file that exists, relative to the page that holds it."""
    import re

    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if not path or re.match(r"^[a-z]+:", path):
                continue
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_the_published_openapi_document_is_the_served_one():
    """docs/openapi.json (scripts/render_docs.py) is what GET /openapi.json answers: frontend teams
    read the contract without running a server, and it cannot drift from the code."""
    import json

    from sidecar.server.openapi import document
    from sidecar.server.routes import routes_only

    published = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert published == document(routes_only()), "docs/openapi.json is stale: run python scripts/render_docs.py"


def test_the_published_facets_schema_is_the_one_facets_builds():
    """The Facets component of docs/openapi.json is what ``facets.schema()`` builds now (the
    request's facets, their sizes, ranges and intervals, as a frontend reads them)."""
    import json

    from sidecar.retrieval import facets

    published = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    fresh = json.loads(json.dumps(facets.schema()).replace('"#/$defs/', '"#/components/schemas/'))
    assert published["components"]["schemas"]["Facets"] == fresh
