"""The suite catches the bugs a review found it missed: scripts/mutations.py applies each one-line
change to a throwaway worktree of HEAD and runs the test named for it, with OpenSearch and the
fashion data out of reach. (A mutation tool's score over whole modules is a bench, not a test:
bench/bench_mutants.py, docs/benchmarks.md.)"""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


def test_every_listed_mutation_is_caught():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("scripts/mutations.py needs the project's git checkout (it mutates a worktree of HEAD)")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "mutations.py")], cwd=ROOT, capture_output=True,
                         text=True, timeout=1200)
    lines = res.stdout.splitlines()
    assert len(lines) >= 35 and all(": CAUGHT by " in line for line in lines), res.stdout + res.stderr[-2000:]
    assert res.returncode == 0
