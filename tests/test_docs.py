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
