"""Start-up cost: compiling the reranking kernels cold, loading them warm, and `sidecar serve`
until /readyz says ready with the cache populated (issue 24).

    .venv/bin/python bench/bench_startup.py [--rounds 2] [--busy 0]

Each round uses a fresh empty cache directory (NUMBA_CACHE_DIR) for `sidecar warm` (cold), runs
it again on that cache (warm), then starts `sidecar serve` (2 workers, the demo catalog) on the
populated cache and times it to the first 200 of /readyz. ``--busy N`` keeps N CPU burners
running meanwhile (the machine a new user may have). Writes bench/results/startup.json.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SIDECAR = str(Path(sys.executable).parent / "sidecar")


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=900)
    if res.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{res.stderr}")
    return time.perf_counter() - t0, res.stdout.strip()


def serve_ready(env: dict[str, str]) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([SIDECAR, "serve", "--backend", "memory", "--catalog", str(ROOT / "demo" / "catalog.jsonl"),
                             "--vectors", str(ROOT / "demo" / "vectors.npy"), "--rules", str(ROOT / "query_rules"),
                             "--port", str(port), "--workers", "2"], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while time.perf_counter() - t0 < 300:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok:
                    return time.perf_counter() - t0
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise SystemExit("serve did not become ready within 300 s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--busy", type=int, default=0, help="CPU burners running meanwhile (default: %(default)s)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "startup.json"))
    args = ap.parse_args()
    burn = "import time\nend = time.time() + 1800\nwhile time.time() < end: pass\n"
    burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(args.busy)]
    rounds = []
    try:
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="bench-startup-") as cache:
                env = {"NUMBA_CACHE_DIR": cache}
                cold, out_cold = timed([SIDECAR, "warm"], env)
                warm, out_warm = timed([SIDECAR, "warm"], env)
                ready = serve_ready(env)
                rounds.append({"cold_warm_command_s": round(cold, 1), "warm_command_s": round(warm, 2),
                               "serve_ready_s": round(ready, 2), "cold_output": out_cold, "warm_output": out_warm})
                print(f"round {r + 1}: cold compile {cold:.1f} s, warm load {warm:.2f} s, serve ready {ready:.2f} s",
                      flush=True)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    result = {"command": f"python bench/bench_startup.py --rounds {args.rounds} --busy {args.busy}",
              "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()[0], "busy_burners": args.busy,
              "rounds": rounds}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}))


if __name__ == "__main__":
    main()
