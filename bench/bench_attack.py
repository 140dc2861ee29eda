"""Issue 36's attacks against a whole server, on loopback: the two-bodies attack, then a soak.

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_attack.py [--index fashion] [--minutes 10] [--kill-every 120]

Starts `sidecar serve --backend opensearch --workers 2` (gevent workers, backend timeout 2 s,
decision log and events on, the query encoder on, its run dir a fresh temporary directory) over
the fashion index (indexed from ../shared/data/fashion when missing; the demo catalog as
`bench-faults` without it), then:

  two bodies  two 1 MB bodies of 1,800 neural queries each, sent at once, while /healthz is
              probed every 50 ms: each body's status and seconds, /healthz's worst latency and
              failures, whether a worker was replaced
  soak        --minutes of 4 shopper clients (/search, dev-like queries) beside 2 attackers
              cycling every attack of the issue (neural floods, amplification bodies, 5xx bait,
              a client's stale X-Request-Start, NFKC-expanding text, short prefixes, _count with
              min_score, an empty _msearch header, GET /, /rerank objects) and a SIGKILLed worker
              every --kill-every seconds (0: none); every 10 s the server's RSS (master and workers,
              from /proc) and the run dir's bytes are sampled

Writes bench/results/attack.json (--out) and attack.png (RSS and run-dir size over the soak),
which scripts/render_docs.py renders into docs/benchmarks.md. It stops what it started (by PID)
and deletes the scratch decision log and events it wrote; OpenSearch is left running.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_faults import QUERIES, Run, free_port, wait_ready  # noqa: E402

from sidecar.config import default  # noqa: E402
from sidecar.opensearch.client import make_client  # noqa: E402

FASHION = ROOT.parent / "shared" / "data" / "fashion"
SHOPPERS = 4
ATTACKERS = 2


def children(pid: int) -> set[int]:
    try:
        return {int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def dir_bytes(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_blocks * 512  # what the disk holds (reserved files are not sparse)
        except OSError:
            pass
    return total


def ensure_index(client, url: str, index: str) -> str:
    if client.indices.exists(index=index):
        return index
    if (FASHION / "catalog.jsonl").exists():
        print(f"indexing the fashion catalog into {index} ...", file=sys.stderr)
        subprocess.run([str(Path(sys.executable).parent / "sidecar"), "index", "--catalog", str(FASHION / "catalog.jsonl"),
                        "--vectors", str(FASHION / "vectors-minilm.f16.npy"), "--index", index, "--url", url,
                        "--quiet"], check=True)
        return index
    from bench_faults import ensure_index as demo

    return demo(client, url, "bench-faults-missing")


def neural_flood(n: int = 1800) -> dict:
    """n neural queries of ~460 characters each: about 1 MB, under SIDECAR_MAX_BODY_BYTES (1 MiB)."""
    return {"query": {"bool": {"should": [{"neural": {"vector": {"query_text": f"red cotton shirt for men {i} " * 16,
                                                                 "k": 10}}} for i in range(n)]}}}


def attacks(index: str) -> list[tuple[str, str, str, object, dict]]:
    """(name, method, path, body, headers) of every attack of issue 36; the body is JSON, or
    bytes sent as they are."""
    return [
        ("neural flood", "POST", f"/{index}/_search", neural_flood(), {}),
        ("neural word pieces", "POST", f"/{index}/_search",
         {"query": {"bool": {"should": [{"neural": {"vector": {"query_text": "word " * 200, "k": 5}}}] * 3}}}, {}),
        ("top_hits x buckets", "POST", f"/{index}/_search",
         {"size": 10, "aggs": {"b": {"terms": {"field": "brand", "size": 100},
                                     "aggs": {"t": {"top_hits": {"size": 100}}}}}}, {}),
        ("cardinality x buckets", "POST", f"/{index}/_search",
         {"size": 0, "aggs": {"b": {"terms": {"field": "brand", "size": 100},
                                    "aggs": {"c": {"cardinality": {"field": "colour", "precision_threshold": 40000}}}}}},
         {}),
        ("ranges", "POST", f"/{index}/_search",
         {"size": 0, "aggs": {"r": {"range": {"field": "price", "ranges": [{"to": i} for i in range(2000)]}}}}, {}),
        ("named filters", "POST", f"/{index}/_search",
         {"size": 0, "aggs": {"f": {"filters": {"filters": {str(i): {"match_all": {}} for i in range(2000)}}}}}, {}),
        ("inner hits", "POST", f"/{index}/_search",
         {"size": 100, "collapse": {"field": "brand", "inner_hits": [{"name": str(i), "size": 100} for i in range(20)]}},
         {}),
        ("too many buckets", "POST", f"/{index}/_search",
         {"size": 0, "aggs": {"h": {"histogram": {"field": "price", "interval": 0.001}}}}, {}),
        ("terminate_after 1e300", "POST", f"/{index}/_search", {"terminate_after": 1e300}, {}),
        ("track_total_hits 1e20", "POST", f"/{index}/_search", {"track_total_hits": 1e20}, {}),
        ("_source nested", "POST", f"/{index}/_search", {"_source": [[["title"]]]}, {}),
        ("short phrase prefix", "POST", f"/{index}/_search", {"query": {"match_phrase_prefix": {"title": "a"}}}, {}),
        ("_count min_score", "POST", f"/{index}/_count?min_score=1", {"query": {"match": {"title": "shirt"}}}, {}),
        ("msearch empty header", "POST", f"/{index}/_msearch", b'{}\n{"size": 1}\n\n{"size": 1}\n', {}),
        ("cluster info", "GET", "/", None, {}),
        ("stale X-Request-Start", "POST", "/search", {"q": "shirt"}, {"X-Request-Start": "t=1"}),
        ("NFKC expansion", "POST", "/search", {"q": "\ufdfa" * 1024}, {}),
        ("rerank objects", "POST", "/rerank",
         {"rule": {"id": "x", "window": 10, "constraints": [{"field": "brand", "value": "a", "max": 0.5}]},
          "candidates": [{"id": str(i), "score": 1.0, "fields": {"brand": {"a": i}}} for i in range(10)]}, {}),
    ]


def send(session: requests.Session, url: str, attack: tuple) -> int | str:
    _, method, path, body, headers = attack
    try:
        if isinstance(body, bytes):
            r = session.request(method, url + path, data=body, timeout=30,
                                headers={"Content-Type": "application/x-ndjson", **headers})
        else:
            r = session.request(method, url + path, json=body, timeout=30, headers=headers)
        return r.status_code
    except requests.RequestException as exc:
        return type(exc).__name__


def two_bodies(url: str, index: str, pid: int) -> dict:
    body = json.dumps(neural_flood()).encode()
    before = children(pid)
    results: list[tuple[int | str, float]] = []
    probes: list[tuple[int | str, float]] = []
    done = threading.Event()

    def attack() -> None:
        t0 = time.monotonic()
        try:
            status = requests.post(f"{url}/{index}/_search", data=body, timeout=60,
                                   headers={"Content-Type": "application/json"}).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        results.append((status, time.monotonic() - t0))

    def probe() -> None:
        while not done.is_set():
            t0 = time.monotonic()
            try:
                status = requests.get(f"{url}/healthz", timeout=10).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            probes.append((status, time.monotonic() - t0))
            time.sleep(0.05)

    p = threading.Thread(target=probe)
    p.start()
    time.sleep(0.3)
    threads = [threading.Thread(target=attack) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1.0)
    done.set()
    p.join()
    return {"body_bytes": len(body), "answers": [{"status": s, "seconds": round(d, 3)} for s, d in results],
            "healthz_probes": len(probes), "healthz_failed": sum(1 for s, _ in probes if s != 200),
            "healthz_max_ms": round(max(d for _, d in probes) * 1000, 1),
            "worker_replaced": children(pid) != before}


def soak(url: str, index: str, pid: int, run_dir: Path, minutes: float, kill_every: float) -> dict:
    run = Run()
    statuses: Counter = Counter()
    by_attack: dict[str, Counter] = {}
    lock = threading.Lock()
    until = time.monotonic() + minutes * 60
    samples: list[dict] = []
    kills = 0

    def shopper(seed: int) -> None:
        rng, s = random.Random(seed), requests.Session()
        while time.monotonic() < until:
            t0 = time.monotonic()
            try:
                status = s.post(f"{url}/search", json={"q": rng.choice(QUERIES), "size": 20}, timeout=30).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            run.add(t0, status, "shopper")

    def attacker(seed: int) -> None:
        rng, s = random.Random(seed), requests.Session()
        catalogue = attacks(index)
        while time.monotonic() < until:
            attack = rng.choice(catalogue)
            status = send(s, url, attack)
            with lock:
                statuses[str(status)] += 1
                by_attack.setdefault(attack[0], Counter())[str(status)] += 1

    threads = [threading.Thread(target=shopper, args=(i,)) for i in range(SHOPPERS)]
    threads += [threading.Thread(target=attacker, args=(100 + i,)) for i in range(ATTACKERS)]
    for t in threads:
        t.start()
    start = time.monotonic()
    next_kill = start + kill_every if kill_every else float("inf")
    while time.monotonic() < until:
        samples.append({"t": round(time.monotonic() - start, 1), "rss_mb": rss_mb({pid} | children(pid)),
                        "run_dir_bytes": dir_bytes(run_dir)})
        if time.monotonic() >= next_kill:
            victims = children(pid)
            if victims:
                os.kill(min(victims), signal.SIGKILL)
                kills += 1
            next_kill += kill_every
        time.sleep(min(10.0, max(0.0, until - time.monotonic())))
    for t in threads:
        t.join()
    samples.append({"t": round(time.monotonic() - start, 1), "rss_mb": rss_mb({pid} | children(pid)),
                    "run_dir_bytes": dir_bytes(run_dir)})
    shoppers = run.summary("shopper")
    five = {k: v for k, v in statuses.items() if k.isdigit() and int(k) >= 500 and int(k) not in (503, 504)}
    shopper_five = {k: v for k, v in shoppers["status"].items() if k.isdigit() and int(k) >= 500 and int(k) not in (503, 504)}
    return {"minutes": minutes, "shoppers": SHOPPERS, "attackers": ATTACKERS, "kills": kills,
            "shopper": shoppers, "attack_status": dict(statuses), "by_attack": {k: dict(v) for k, v in by_attack.items()},
            "five_xx_not_503_504": sum(five.values()) + sum(shopper_five.values()), "samples": samples,
            "rss_mb_first_last": [samples[1]["rss_mb"] if len(samples) > 1 else samples[0]["rss_mb"],
                                  samples[-1]["rss_mb"]],
            "run_dir_bytes_max": max(s["run_dir_bytes"] for s in samples)}


def plot(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["soak"]["samples"]
    t = [s["t"] / 60 for s in samples]
    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    a.plot(t, [s["rss_mb"] for s in samples], marker=".")
    a.set_ylabel("server RSS (MB)")
    a.set_ylim(bottom=0)
    b.plot(t, [s["run_dir_bytes"] / 1e6 for s in samples], marker=".", color="tab:orange")
    b.set_ylabel("run dir (MB)")
    b.set_ylim(bottom=0)
    b.set_xlabel("minutes into the soak (a worker SIGKILLed every "
                 f"{result['meta']['kill_every']:g} s)" if result["meta"]["kill_every"] else "minutes into the soak")
    fig.suptitle("Issue 36 soak: 4 shoppers beside 2 attackers (bench/bench_attack.py)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default("opensearch_url"))
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--kill-every", type=float, default=120.0, help="seconds between SIGKILLed workers (0: none)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "attack.json")
    args = ap.parse_args()
    client = make_client(args.url, timeout=60)
    index = ensure_index(client, args.url, args.index)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-attack-run-"))
    log_path = Path(tempfile.mkstemp(prefix="bench-attack-", suffix=".log")[1])
    port = free_port()
    env = {**os.environ, "SIDECAR_DECISION_LOG": "on", "SIDECAR_DECISION_LOG_INDEX": "bench-attack-log",
           "SIDECAR_EVENTS": "on", "SIDECAR_EVENTS_INDEX": "bench-attack-events", "SIDECAR_BACKEND_TIMEOUT": "2.0",
           "SIDECAR_RUN_DIR": str(run_dir), "SIDECAR_PROXY_INDICES": index}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "sidecar"), "serve", "--backend", "opensearch",
                             "--url", args.url, "--index", index, "--port", str(port), "--workers", "2"],
                            cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        if not wait_ready(port, 300):
            raise SystemExit(f"the sidecar did not become ready; see {log_path}")
        url = f"http://127.0.0.1:{port}"
        print("two bodies ...", file=sys.stderr)
        first = two_bodies(url, index, proc.pid)
        print(json.dumps(first), file=sys.stderr)
        print(f"soak for {args.minutes:g} minutes ...", file=sys.stderr)
        second = soak(url, index, proc.pid, run_dir, args.minutes, args.kill_every)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(run_dir, ignore_errors=True)
        # the scratch decision log and events it wrote (the products index is left as it was)
        client.indices.delete(index="bench-attack-log-*,bench-attack-events", ignore_unavailable=True,
                              allow_no_indices=True)
    log = log_path.read_text(errors="replace")
    command = "python bench/bench_attack.py" + "".join(
        f" --{k.replace('_', '-')} {v:g}" for k, v in (("minutes", args.minutes), ("kill_every", args.kill_every))
        if v != ap.get_default(k))
    result = {"meta": {"command": command, "index": index, "workers": 2, "backend_timeout": 2.0,
                       "kill_every": args.kill_every, "when": time.strftime("%Y-%m-%d")},
              "two_bodies": first, "soak": second,
              "log": {"tracebacks": log.count("Traceback"), "worker_timeouts": log.count("WORKER TIMEOUT")}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    plot(result, args.out.with_suffix(".png"))
    s = second["shopper"]
    print(f"two bodies: {[a['status'] for a in first['answers']]} in {[a['seconds'] for a in first['answers']]} s; "
          f"/healthz worst {first['healthz_max_ms']} ms, {first['healthz_failed']} failed; "
          f"worker replaced: {first['worker_replaced']}")
    print(f"soak: shoppers {s['requests']} requests, p99 {s['p99_ms']} ms, statuses {s['status']}; "
          f"5xx other than 503/504: {second['five_xx_not_503_504']}; RSS {second['rss_mb_first_last']} MB; "
          f"run dir max {second['run_dir_bytes_max']:,} B; kills {second['kills']}")
    print(f"log: {result['log']}; written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
