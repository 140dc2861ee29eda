"""A soak: normal search traffic with the attacks of issue 25 mixed in, for --minutes (default 30).

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_soak.py [--minutes 30] [--index fashion]

One `sidecar serve --backend opensearch --workers 2` (gevent workers, decision log on, admin token
set, SIDECAR_BODY_TIMEOUT=5) on a loopback port, from the same helpers as bench_faults.py. For the
whole run, at the same time:

  normal     4 clients: /search (bm25 and hybrid) and proxied searches with ext.rerank
  probe      /healthz every 100 ms
  lookups    bodies with a terms lookup, indexed_shape, percolate, more_like_this or wrapper planted
             at random depths, through _search, _count and ext.rerank (a marker index holds a secret)
  numbers    caps written as strings and floats ("10000", 1e4), aggregation sizes of 1e9
  slow       30 connections at a time that send a head and a few body bytes, then wait
  chunked    chunked bodies past SIDECAR_MAX_BODY_BYTES
  patterns   a rule with the pattern (a+)+$ and queries of 26-29 a's and a b; q of 100,000 chars
  drafts     an alias bomb and a 300 KB draft pasted into /inspect
  rules      every 20 s a rule file turns broken (syntax, non-UTF-8, a directory, a link to
             /etc/passwd, an alias bomb) and is fixed again 10 s later

and reports: answers by status per kind (a 5xx anywhere fails the soak), /healthz p50/p99/max,
worker restarts (pids that changed), workers' RSS at start and end, the marker index's get and
search counters (must not move) and whether its secret ever came back. Writes bench/results/soak.json.
Every connection goes to 127.0.0.1; everything it started is stopped by PID.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_faults import QUERIES, Run, ensure_index, free_port, start_server  # noqa: E402

from sidecar.config import default  # noqa: E402
from sidecar.opensearch.client import make_client  # noqa: E402

MARKER = "bench-soak-marker"
SECRET = "the-soak-marker-secret"
TOKEN = "bench-faults-token-06"  # start_server's


def lookups() -> list[dict]:
    inner = {"terms": {"price": {"index": MARKER, "id": "1", "path": "note"}}}
    return [inner,
            {"geo_shape": {"location": {"indexed_shape": {"index": MARKER, "id": "1", "path": "shape"}}}},
            {"percolate": {"field": "query", "index": MARKER, "id": "1"}},
            {"more_like_this": {"fields": ["title"], "like": [{"_index": MARKER, "_id": "1"}]}},
            {"wrapper": {"query": base64.b64encode(json.dumps(inner).encode()).decode()}}]


def planted(rng: random.Random) -> dict:
    q = rng.choice(lookups())
    for _ in range(rng.randint(0, 5)):
        q = rng.choice([{"bool": {"filter": [q]}}, {"constant_score": {"filter": q}}, {"nested": {"path": "p", "query": q}},
                        {"function_score": {"query": q}}, {"dis_max": {"queries": [q]}}])
    return q


class Soak:
    def __init__(self, url: str, port: int, index: str, until: float):
        self.url, self.port, self.index, self.until = url, port, index, until
        self.run = Run()
        self.leaked = 0
        self.lock = threading.Lock()
        self.local = threading.local()

    def going(self) -> bool:
        return time.monotonic() < self.until

    def record(self, kind: str, t0: float, status: object, text: str = "") -> None:
        if SECRET in text:
            with self.lock:
                self.leaked += 1
        self.run.add(t0, status, kind)

    def http(self, kind: str, method: str, path: str, **kw) -> None:
        t0 = time.monotonic()
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        try:
            r = session.request(method, f"{self.url}{path}", timeout=30, **kw)
            self.record(kind, t0, r.status_code, r.text[:20000])
        except requests.RequestException as exc:
            self.record(kind, t0, type(exc).__name__)

    # --- the mixes --------------------------------------------------------------------------
    def normal(self, seed: int) -> None:
        rng = random.Random(seed)
        while self.going():
            q = rng.choice(QUERIES)
            if rng.random() < 0.7:
                self.http("normal", "POST", "/search", json={"q": q, "size": 20})
            else:
                self.http("normal", "POST", f"/{self.index}/_search",
                          json={"query": {"match": {"title": q}}, "size": 10, "ext": {"rerank": {"query": q}}})

    def probe(self) -> None:
        """/healthz every 100 ms from a process of its own: the load's threads share this one's
        GIL, and would add their waits to what is measured."""
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=probe_loop, args=(self.url, time.time() + (self.until - time.monotonic()), queue))
        proc.start()
        rows = queue.get(timeout=max(60.0, self.until - time.monotonic() + 60))
        proc.join(30)
        for offset, status, seconds in rows:
            self.run.rows.append((offset, status, seconds, "healthz"))

    def hostile(self, seed: int) -> None:
        rng = random.Random(seed)
        while self.going():
            pick = rng.randrange(6)
            if pick == 0:
                body = {"query": planted(rng)}
                path = rng.choice([f"/{self.index}/_search", f"/{self.index}/_count"])
                if rng.random() < 0.3 and path.endswith("_search"):
                    body["ext"] = {"rerank": {"rule": "default"}}
                self.http("lookups", "POST", path, json=body)
            elif pick == 1:
                body = rng.choice([{"size": "10000"}, {"size": 1e4}, {"from": "9900", "size": 100},
                                   {"size": 0, "aggs": {"b": {"terms": {"field": "brand", "size": 1e9}}}}])
                self.http("numbers", "POST", f"/{self.index}/_search", json=body)
            elif pick == 2:
                n = rng.randint(26, 29)
                self.http("patterns", "POST", "/search", json={"q": "a" * n + "b", "size": 10})
            elif pick == 3:
                self.http("patterns", "POST", "/search", json={"q": "shirt " * 20000})
            elif pick == 4:
                self.chunked()
            else:
                bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
                    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n"
                    for i in range(8)) + "rules: *i\n"
                draft = rng.choice([bomb, "rules: []\n" + "#" * 300_000])
                self.http("drafts", "POST", "/inspect", data={"q": "shoes", "draft": draft, "token": TOKEN})
            time.sleep(0.05)

    def chunked(self) -> None:
        t0 = time.monotonic()
        first, chunk = b'{"q": "shirt"}' + b" " * 65536, b" " * 65536
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [first] + [chunk] * 17)  # past 1 MB
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n" + body)
                head = s.recv(64)
            status: object = int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else "no answer"
        except OSError as exc:
            status = type(exc).__name__
        self.record("chunked", t0, status)

    def slow(self) -> None:
        """30 connections that never finish their body, renewed as the server closes them (408)."""
        held: list[socket.socket] = []
        head = b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        try:
            while self.going():
                while len(held) < 30:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    s.sendall(head)
                    s.setblocking(False)
                    held.append((s, time.monotonic()))
                time.sleep(0.5)
                keep = []
                for s, t0 in held:
                    try:
                        data = s.recv(64)
                    except BlockingIOError:
                        keep.append((s, t0))
                        continue
                    except OSError as exc:
                        data = type(exc).__name__.encode()
                    status = int(data.split()[1]) if data.startswith(b"HTTP/1.1 ") else data.decode(errors="replace")[:40]
                    self.record("slow", t0, status)
                    s.close()
                held = keep
        finally:
            for s, _ in held:
                s.close()

    def rules(self, rules: Path) -> None:
        """Every 20 s a rule file turns bad in one of five ways, and is fixed 10 s later."""
        good = (rules / "00-default.yaml").read_text()
        target = rules / "90-soak.yaml"
        target.write_text(good.replace("id: default", "id: soak").replace("default: true", "queries: [soak query]"))
        forms = ["syntax", "latin1", "directory", "link", "bomb"]
        k = 0
        while self.going():
            time.sleep(10)
            form = forms[k % len(forms)]
            k += 1
            saved = target.read_text()
            target.unlink()
            if form == "syntax":
                target.write_text("rules:\n  - id: broken\n    match: {default: true\n")
            elif form == "latin1":
                target.write_bytes("rules:\n  - id: caf\xe9\n".encode("latin-1"))
            elif form == "directory":
                target.mkdir()
            elif form == "link":
                target.symlink_to("/etc/passwd")
            else:
                target.write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                                  "rules: *b\n")
            t0 = time.monotonic()
            self.record("rules", t0, form)
            time.sleep(10)
            if target.is_dir() and not target.is_symlink():
                target.rmdir()
            else:
                target.unlink()
            target.write_text(saved)


def probe_loop(url: str, until_epoch: float, queue) -> None:
    rows = []
    session = requests.Session()
    while time.time() < until_epoch:
        t0 = time.monotonic()
        try:
            status: object = session.get(f"{url}/healthz", timeout=10).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        rows.append((t0, status, time.monotonic() - t0))
        time.sleep(0.1)
    queue.put(rows)


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(x) for x in (task / "children").read_text().split()]
    return out


def rss_mb(pids: list[int]) -> list[float]:
    out = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(round(int(line.split()[1]) / 1024, 1))
        except OSError:
            pass
    return out


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)) * 1000, 1) if xs else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default("opensearch_url"), help="OpenSearch URL (default: from .env)")
    ap.add_argument("--index", default="fashion", help="products index (default: fashion; else the demo catalog "
                                                        "as bench-faults)")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--timeout", type=float, default=2.0, help="SIDECAR_BACKEND_TIMEOUT of the server (s)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak.json"))
    args = ap.parse_args()
    client = make_client(args.url, timeout=30)
    args.index = ensure_index(client, args.url, args.index)
    client.indices.delete(index=MARKER, ignore_unavailable=True)
    client.index(index=MARKER, id="1", body={"note": SECRET, "price": 3}, refresh=True)

    def touched() -> tuple[int, int]:
        st = client.indices.stats(index=MARKER, metric="get,search")["indices"][MARKER]["total"]
        return st["get"]["total"], st["search"]["query_total"]

    marker_before = touched()
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    rules = work / "rules"
    shutil.copytree(ROOT / "query_rules", rules)
    (rules / "80-backtrack.yaml").write_text("rules:\n  - id: backtrack\n    match: {patterns: ['(a+)+$']}\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ["SIDECAR_BODY_TIMEOUT"] = "5"
    server = start_server(args, port, rules, work / "serve.log")
    workers0 = sorted(children(server.pid))
    rss0 = rss_mb(workers0)
    until = time.monotonic() + args.minutes * 60
    soak = Soak(url, port, args.index, until)
    seen_workers: set[int] = set(workers0)
    threads = ([threading.Thread(target=soak.normal, args=(i,)) for i in range(4)]
               + [threading.Thread(target=soak.hostile, args=(100 + i,)) for i in range(2)]
               + [threading.Thread(target=soak.probe), threading.Thread(target=soak.slow),
                  threading.Thread(target=soak.rules, args=(rules,))])
    print(f"soak on {url} over {args.index} for {args.minutes} min; log {work / 'serve.log'}", flush=True)
    try:
        for t in threads:
            t.start()
        last = time.monotonic()
        while soak.going():
            time.sleep(5)
            seen_workers.update(children(server.pid))
            if time.monotonic() - last >= 60:
                last = time.monotonic()
                counts = Counter((r[3], str(r[1])) for r in soak.run.rows)
                print(f"{round((until - time.monotonic()) / 60, 1)} min left: {dict(counts)}", flush=True)
        for t in threads:
            t.join(60)
        workers1 = sorted(children(server.pid))
        rss1 = rss_mb(workers1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
    rows = soak.run.rows
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for _t0, status, _s, kind in rows:
        by_kind[kind][str(status)] += 1
    five = sum(n for kind, c in by_kind.items() if kind != "rules" for s, n in c.items() if s.isdigit() and s >= "500")
    health = [r[2] for r in rows if r[3] == "healthz"]
    log_text = (work / "serve.log").read_text(errors="replace")
    out = {
        "command": " ".join(["python bench/bench_soak.py", *sys.argv[1:]]),
        "index": args.index, "minutes": args.minutes,
        "answers": {k: dict(v) for k, v in sorted(by_kind.items())},
        "server_errors_5xx": five,
        "healthz_ms": {"p50": pct(health, 50), "p99": pct(health, 99), "max": round(max(health) * 1000, 1) if health else 0},
        "normal_ms": {"p50": pct([r[2] for r in rows if r[3] == "normal"], 50),
                      "p99": pct([r[2] for r in rows if r[3] == "normal"], 99)},
        "workers": {"at_start": workers0, "at_end": workers1, "restarts": len(seen_workers) - len(workers0)},
        "workers_rss_mb": {"at_start": rss0, "at_end": rss1},
        "marker_index": {"before": marker_before, "after": touched(), "secret_returned": soak.leaked},
        "log": {"tracebacks": log_text.count("Traceback"), "worker_timeouts": log_text.count("WORKER TIMEOUT"),
                "lines": log_text.count("\n")},
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    client.indices.delete(index=MARKER, ignore_unavailable=True)
    shutil.rmtree(work, ignore_errors=True)
    ok = (five == 0 and out["healthz_ms"]["p99"] <= 100 and out["workers"]["restarts"] == 0
          and out["marker_index"]["before"] == out["marker_index"]["after"] and soak.leaked == 0)
    print("soak: PASSED" if ok else "soak: FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
