"""Issue 36: the server survives its run dir's disk. A real `sidecar serve` (gunicorn, gevent
workers, memory backend) with its run dir on a small tmpfs: the tmpfs is filled, a worker is
SIGKILLed, and the server must still serve (the master stays, the new worker boots), say what
it does without in /readyz, and recover once space returns. Mounting needs root (CI runs as
root); elsewhere the test skips and says why. Without a server: the merge of dead workers'
metric files and the reservation that keeps a full disk from killing a worker."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from test_zz_attacks import serve
from test_zz_processes import stop


def children(pid: int) -> set[int]:
    try:
        return {int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


@pytest.fixture
def small_tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for the run dir needs root (CI runs as root)")
    mount = tmp_path / "run"
    mount.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` to the last byte; returns the filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def wait_until(check, seconds: float) -> bool:
    end = time.time() + seconds
    while time.time() < end:
        if check():
            return True
        time.sleep(0.2)
    return check()


def test_a_full_run_dir_and_a_killed_worker(tmp_path, small_tmpfs):
    proc, port, _ = serve(tmp_path, SIDECAR_RUN_DIR=str(small_tmpfs), SIDECAR_ENCODER="off")
    url = f"http://127.0.0.1:{port}"
    try:
        assert requests.post(f"{url}/search", json={"q": "shirt", "size": 5}, timeout=10).ok
        filler = fill(small_tmpfs)
        workers = children(proc.pid)
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        # served throughout: the survivor answers while the new worker boots on the full disk
        statuses = []
        end = time.time() + 10
        while time.time() < end:
            statuses.append(requests.get(f"{url}/healthz", timeout=5).status_code)
            statuses.append(requests.post(f"{url}/search", json={"q": "shirt", "size": 5}, timeout=5).status_code)
            time.sleep(0.1)
        assert set(statuses) == {200}, statuses
        assert proc.poll() is None, "the gunicorn master exited"
        replaced = children(proc.pid)
        assert len(replaced) == 2 and victim not in replaced, replaced
        # the new worker says what it does without, and its scrape still adds up every worker
        degraded = [requests.get(f"{url}/readyz", timeout=5).json().get("degraded") for _ in range(20)]
        reasons = " ".join(" ".join(d) for d in degraded if d)
        assert "metrics: the run dir takes no writes" in reasons and "No space left" in reasons, degraded
        assert all(requests.get(f"{url}/readyz", timeout=5).json()["ready"] for _ in range(4))
        scrape = requests.get(f"{url}/metrics", timeout=5)
        assert scrape.ok and scrape.text.count("# TYPE sidecar_requests_total counter") == 1
        # space returns: the workers' status is published again, and after a reload (kill -HUP,
        # as the docs say) every worker writes its samples to files and the dead ones are merged
        filler.unlink()
        assert wait_until(lambda: {int(p.stem) for p in (small_tmpfs / "workers").glob("*.json")}
                          == children(proc.pid), 10), list((small_tmpfs / "workers").iterdir())
        before = _total_requests(url)
        os.kill(proc.pid, signal.SIGHUP)
        assert wait_until(lambda: len(children(proc.pid) & replaced) == 0 and len(children(proc.pid)) == 2, 60)
        assert wait_until(lambda: all(not requests.get(f"{url}/readyz", timeout=5).json().get("degraded")
                                      for _ in range(6)), 30)
        live = children(proc.pid)
        assert wait_until(lambda: {_pid(p) for p in (small_tmpfs / "metrics").glob("*.db")} - {None} <= live, 10), \
            sorted(p.name for p in (small_tmpfs / "metrics").iterdir())
        assert (small_tmpfs / "metrics" / "counter_archive.db").exists()
        # the dead workers' counts are kept in the archive (the in-memory ones of the degraded
        # worker are lost with it, as its docs say; the others' are all there)
        assert _total_requests(url) >= before - sum(1 for s in statuses if s) - 50
    finally:
        out = stop(proc)
    assert "Traceback" not in out, out[-3000:]


def _pid(path: Path) -> int | None:
    tail = path.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _total_requests(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("sidecar_requests_total{"))


# --- without a server ----------------------------------------------------------------------

def test_dead_workers_samples_are_merged_and_their_files_removed(tmp_path):
    from prometheus_client.mmap_dict import MmapedDict

    from sidecar.server.metrics import merge_dead, reserve

    def write(name: str, samples: dict[str, float]) -> None:
        reserve(tmp_path / name)
        d = MmapedDict(str(tmp_path / name))
        for k, v in samples.items():
            d.write_value(k, v, 0.0)
        d.close()

    def read(name: str) -> dict[str, float]:
        return {k: v for k, v, _, _ in MmapedDict.read_all_values_from_file(str(tmp_path / name))}

    write("counter_101.db", {"a": 1.0, "b": 2.0})
    write("counter_102.db", {"a": 10.0})
    write("histogram_101.db", {"h": 3.0})
    write("counter_103.db", {"a": 100.0})  # alive
    write("gauge_livesum_101.db", {"g": 5.0})
    assert merge_dead(tmp_path, live={103}) == 4
    assert read("counter_archive.db") == {"a": 11.0, "b": 2.0}
    assert read("histogram_archive.db") == {"h": 3.0}
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_103.db", "counter_archive.db",
                                                             "histogram_archive.db"]
    write("counter_104.db", {"b": 1.0})
    assert merge_dead(tmp_path, live={103}) == 1  # into the archive, which keeps what it had
    assert read("counter_archive.db") == {"a": 11.0, "b": 3.0}
    assert merge_dead(tmp_path, live={103}) == 0


def test_a_reserved_file_is_allocated_not_sparse(tmp_path):
    from sidecar.server.metrics import RESERVED_BYTES, reserve

    reserve(tmp_path / "counter_1.db")
    st = (tmp_path / "counter_1.db").stat()
    assert st.st_size == RESERVED_BYTES and st.st_blocks * 512 >= RESERVED_BYTES
