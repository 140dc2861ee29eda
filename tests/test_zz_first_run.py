"""A fresh machine's first run, as a new user meets it (issue 24).

- `scripts/demo.sh` with an empty compile cache on a busy machine serves within 240 s: the kernels
  compile once in the gunicorn master before any worker is forked, so no worker boots cold.
- A restart with the cache populated is ready within 10 s.
- A worker killed with SIGTERM or SIGKILL is replaced; the server keeps answering 200.
- A compile cache on a read-only file system is used, not recompiled; with no writable directory
  at all the package still imports and the kernels still run.

The busy machine is two CPU burners (bounded in time, stopped by PID). No OpenSearch needed.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT
from test_zz_processes import SIDECAR, free_port, start, stop

PKG_CACHE = ROOT / "sidecar" / "__pycache__" / "numba"


def burners(n: int = 2, seconds: float = 300) -> list[subprocess.Popen]:
    """n processes that keep a core busy each, for at most ``seconds``."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(x) for x in text]
    return out


def gunicorn_master(proc: subprocess.Popen) -> int:
    """The process that forks the workers: demo.sh execs `sidecar serve`, so it is ``proc`` itself."""
    return proc.pid


def test_a_cold_first_run_serves_and_survives_losing_workers(tmp_path):
    cold = tmp_path / "numba-cache"  # an empty compile cache, preferred over the package's
    env = {"NUMBA_CACHE_DIR": str(cold), "SIDECAR_WORKERS": "2"}
    busy = burners()
    port = free_port()
    try:
        t0 = time.monotonic()
        proc = start(["scripts/demo.sh", "--port", str(port)], port, env=env, timeout=240)
        first = requests.post(f"http://127.0.0.1:{port}/search", json={"q": "black jacket"}, timeout=30)
        cold_seconds = time.monotonic() - t0
    finally:
        for b in busy:
            b.kill()
            b.wait()
    assert first.status_code == 200 and cold_seconds < 240, cold_seconds
    base = f"http://127.0.0.1:{port}"
    statuses: list[int | str] = []
    go = threading.Event()
    go.set()
    done = threading.Event()

    def client() -> None:
        while not done.is_set():
            go.wait()
            try:
                statuses.append(requests.post(f"{base}/search", json={"q": "puma shoes"}, timeout=10).status_code)
            except requests.RequestException as exc:
                statuses.append(type(exc).__name__)

    try:
        master = gunicorn_master(proc)
        workers = children(master)
        assert len(workers) == 2, workers
        loader = threading.Thread(target=client, daemon=True)
        loader.start()
        time.sleep(1.0)
        os.kill(workers[0], signal.SIGTERM)  # graceful: its requests finish, a new worker takes its place
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (workers[0] in children(master) or len(children(master)) < 2):
            time.sleep(0.2)
        time.sleep(1.0)
        go.clear()  # SIGKILL loses what the worker holds at that instant: kill between requests
        time.sleep(0.3)
        replaced = children(master)
        os.kill(replaced[0], signal.SIGKILL)
        time.sleep(0.5)
        go.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (replaced[0] in children(master) or len(children(master)) < 2):
            time.sleep(0.2)
        time.sleep(1.0)
        done.set()
        loader.join(15)
        assert proc.poll() is None, "the master went down with a worker"
        now = children(master)
        assert len(now) == 2 and not set(now) & {workers[0], replaced[0]}, (workers, replaced, now)
        assert statuses and all(s == 200 for s in statuses), statuses
        metrics = requests.get(f"{base}/metrics", timeout=10)
        assert metrics.status_code == 200 and "sidecar_requests_total" in metrics.text
    finally:
        done.set()
        go.set()
        log = stop(proc)
    assert "Traceback" not in log and "FileNotFoundError" not in log, log[-3000:]
    assert "compiling the reranking kernels" in log, log[-3000:]
    # the same cache, now populated: a restart is ready within 10 s
    port = free_port()
    t0 = time.monotonic()
    proc = start(["scripts/demo.sh", "--port", str(port)], port, env=env, timeout=60)
    warm_seconds = time.monotonic() - t0
    try:
        assert requests.post(f"http://127.0.0.1:{port}/search", json={"q": "black jacket"}, timeout=10).ok
    finally:
        log = stop(proc)
    assert warm_seconds < 10, (warm_seconds, log[-2000:])
    assert "compiling the reranking kernels" not in log


def _read_only_run(tmp_path: Path, script: str, ro: list[Path], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``script`` (shell) with each directory of ``ro`` mounted read-only, in a mount
    namespace of its own (root, with unshare); skips where that is not possible."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to mount directories read-only for one process")
    mounts = " && ".join(f"mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}'" for d in ro)
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", f"{mounts} && {script}"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **env}, cwd=cwd)


def test_a_read_only_cache_is_used_not_recompiled(tmp_path):
    warmed = subprocess.run([SIDECAR, "warm"], capture_output=True, text=True, timeout=600,
                            env={k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"})
    assert warmed.returncode == 0, warmed.stderr  # the package's own cache is populated
    image = tmp_path / "image-cache"  # an explicit NUMBA_CACHE_DIR holding a cache, read-only
    shutil.copytree(PKG_CACHE, image)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    res = _read_only_run(tmp_path, f"'{SIDECAR}' warm", [PKG_CACHE, image],
                         {"NUMBA_CACHE_DIR": str(image), "TMPDIR": str(scratch)}, ROOT)
    assert res.returncode == 0, res.stderr
    assert ", 0 compiled;" in res.stdout and str(scratch) in res.stdout, res.stdout


def test_no_writable_directory_at_all_still_imports_and_reranks(tmp_path):
    subprocess.run([SIDECAR, "warm"], capture_output=True, timeout=600,
                   env={k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"})
    nowhere = tmp_path / "ro"
    nowhere.mkdir()
    ro = [PKG_CACHE, Path("/tmp"), Path("/var/tmp"), nowhere] + ([Path("/usr/tmp")] if Path("/usr/tmp").is_dir() else [])
    code = ("from sidecar.rerank.warmup import warm; "
            "from sidecar.jit_cache import cache_dir, kernel_stats; warm(); print('cache', cache_dir()[0], kernel_stats())")
    res = _read_only_run(tmp_path, f"'{sys.executable}' -c \"{code}\"", ro,
                         {"TMPDIR": str(nowhere / "missing"), "NUMBA_CACHE_DIR": ""}, nowhere)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"cache {PKG_CACHE}" in res.stdout and ", 0)" in res.stdout, res.stdout  # read in place, nothing compiled


def test_the_cache_directory_is_chosen_lazily_and_seeded(tmp_path, monkeypatch):
    """choose(): the first writable candidate; a populated read-only one before it seeds it; the
    temp dir is not looked up while an earlier candidate is usable."""
    from sidecar import jit_cache

    ro, rw = tmp_path / "ro", tmp_path / "rw"
    name = f"rerank-{jit_cache.source_hash()}"
    (ro / name / "x").mkdir(parents=True)
    (ro / name / "x" / "k.nbi").write_bytes(b"")
    looked: list[str] = []

    def parents():
        looked.append("ro")
        yield ro
        looked.append("rw")
        yield rw
        looked.append("temp")  # never reached: rw is writable
        yield tmp_path / "temp"

    monkeypatch.setattr(jit_cache, "_writable", lambda p: not str(p).startswith(str(ro)) and jit_cache.os.access(tmp_path, os.W_OK))
    target, seed = jit_cache.choose(parents)
    assert (target, seed) == (rw / name, ro / name) and looked == ["ro", "rw"]


def test_a_rejected_rule_file_and_a_dead_worker_do_not_halt_the_server(tmp_path):
    """A broken edit on disk, then a worker killed: its replacement boots from the last good rules
    (not from the broken files, which used to make it exit 3 and gunicorn stop the master)."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "query_rules", rules)
    token = "first-run-test-token-007"
    port = free_port()
    proc = start([SIDECAR, "serve", "--backend", "memory", "--rules", str(rules), "--port", str(port), "--workers", "2"],
                 port, env={"SIDECAR_RULES_POLL_SECONDS": "0.2", "SIDECAR_ADMIN_TOKEN": token})
    base, admin = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    try:
        (rules / "99-broken.yaml").write_text("rules:\n  - id: broken\n    match: {default: true\n")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            workers = requests.get(f"{base}/admin/rules", headers=admin, timeout=5).json()["workers"]
            if len(workers) == 2 and all(w["failures"] >= 1 for w in workers):
                break
            time.sleep(0.2)
        victim = children(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (victim in children(proc.pid) or len(children(proc.pid)) < 2):
            time.sleep(0.2)
        time.sleep(1.0)
        assert proc.poll() is None, "the master stopped"
        assert len(children(proc.pid)) == 2
        for _ in range(10):  # both workers, the new one included, answer with the last good rules
            r = requests.post(f"{base}/search", json={"q": "black jacket"}, timeout=10)
            assert r.status_code == 200 and r.json()["rule"] == "default", r.text
        status = requests.get(f"{base}/admin/rules", headers=admin, timeout=5).json()
        assert all("99-broken.yaml:3" in w["last_error"][0] for w in status["workers"]), status
        (rules / "99-broken.yaml").unlink()
        r = requests.post(f"{base}/admin/rules/reload", headers=admin, timeout=30)
        assert r.status_code == 200 and r.json()["consistent"] is True, r.text
    finally:
        log = stop(proc)
    assert "Worker failed to boot" not in log and "Traceback" not in log, log[-3000:]


def test_importing_sidecar_has_no_side_effects_and_other_numba_code_keeps_its_cache(tmp_path):
    """``import sidecar`` imports no numba and touches no cache; numba's extension hook (the
    installed entry point, loaded by the core before it decorates its kernels) gives the core's
    kernels the source-keyed directory and leaves every other numba function of the process
    where numba itself puts it (``numba.config.CACHE_DIR`` as numba read it)."""
    import json
    from importlib.metadata import entry_points

    from sidecar.jit_cache import source_hash

    assert [e.value for e in entry_points(group="numba_extensions", name="init") if e.value.startswith("sidecar")] \
        == ["sidecar.jit_cache:install"]
    (tmp_path / "other.py").write_text("from numba import njit\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n")
    cache = tmp_path / "cache"
    code = ("import json, sys, sidecar, sidecar.config, sidecar.cli; before = 'numba' in sys.modules; "
            "import numba.core.config as c; from sidecar.rerank import minhash; import other; "
            "print(json.dumps([before, c.CACHE_DIR, other.f(1), other.f._cache.cache_path, minhash._signatures._cache.cache_path]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(tmp_path)})
    assert res.returncode == 0, res.stderr[-3000:]
    before, numba_dir, two, other_path, core_path = json.loads(res.stdout)
    assert (before, numba_dir, two) == (False, str(cache), 2)
    core_dir = cache / f"rerank-{source_hash()}"
    assert Path(core_path).parent == core_dir and not Path(other_path).is_relative_to(core_dir), (core_path, other_path)
