"""The sidecar against OpenSearch itself, on the same node, in one interleaved run.

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_peer.py [--requests 600] [--throughput-requests 400] [--index fashion]

Needs the fashion catalog indexed with `vector_f16` (done here with `sidecar index --recreate` when
the index is missing or older). Enables OpenSearch's native MMR (the cluster setting
`cluster.search.enabled_system_generated_factories`), starts `sidecar serve --backend opensearch
--workers 2` on a free loopback port with the project's rules plus two bench rules, then for each
dev query (MiniLM vector, text; cycled) sends, in rotating order over keep-alive connections:

  a  OpenSearch native MMR: kNN k=20, ext.mmr {candidates: 200, diversity: 0.5}, size 20
  b  sidecar /search kNN, rule bench-mmr: window 200, MMR diversity 0.5, brand <= 50%,
     seller <= 20%, near-duplicates collapsed; size 20
  c  plain kNN top-20 straight to OpenSearch (the floor)
  d  hybrid, window 200, default rule: sidecar /search vs the msearch its backend builds for the query
     as the shipped rules read it (understood text and filters), sent straight; d_words the same
     with understanding off on both sides (the raw text, no filters). For the throughput and CPU
     rounds only, the direct msearch also: with the sidecar's parameters (d_direct_params), while
     a process keeps one core busy (d_direct_busy), and no faster than the sidecar's search ran in
     the same round (d_direct_paced): what each difference between the two costs OpenSearch
  e  GET /healthz on the sidecar: what the extra HTTP hop through gunicorn and Flask costs alone

Every response is read and JSON-decoded, as a client would. Reports p50/p99 of each, the ratios
b/a and d (sidecar/direct), the overlap of a's and b's pages (and of a's and the sidecar's plain
MMR, rule bench-mmr-only), then throughput at concurrency 8 for every case, --rounds times in
turn, with the CPU each case cost per request, read from /proc (utime + stime) for the sidecar's
process tree and for the OpenSearch JVM (what an operator sizes: on 2 shared cores latency mixes
the two), and OpenSearch's own count of searches run per request. Writes bench/results/peer.json and bench/results/peer.png (latency distributions).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar import config  # noqa: E402
from sidecar.catalog import FIELDS  # noqa: E402
from sidecar.retrieval.base import RetrievalRequest  # noqa: E402
from sidecar.retrieval.hits import VECTOR_BINARY_FIELD  # noqa: E402
from sidecar.retrieval.opensearch_backend import OpenSearchBackend  # noqa: E402
from sidecar.rules import load_rules_dir  # noqa: E402
from sidecar.understand import read  # noqa: E402

BENCH_RULES = """\
rules:
  - id: bench-mmr
    description: bench_peer.py case b - MMR plus caps plus dedup
    match: {queries: ["bench mmr (never matched by a shopper)"]}
    window: 200
    lambda: 0.5
    mmr: {diversity: 0.5}
    dedup: {field: title, threshold: 0.8, collapse: true}
    constraints:
      - {field: brand, any: true, max: 0.5, label: "one brand <= 50%"}
      - {field: seller, any: true, max: 0.2, label: "one seller <= 20%"}
  - id: bench-mmr-only
    description: bench_peer.py overlap check - MMR alone, as OpenSearch does it
    match: {queries: ["bench mmr only (never matched by a shopper)"]}
    window: 200
    mmr: {diversity: 0.5}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive HTTP/1.1 connection; every answer is read and decoded."""

    def __init__(self, host: str, port: int):
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def post(self, path: str, body: bytes | None, ctype: str = "application/json") -> tuple[int, object]:
        try:
            return self._send(path, body, ctype)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # a keep-alive connection the server closed while idle (gunicorn's keepalive is 2 s)
            self.conn.close()
            return self._send(path, body, ctype)

    def _send(self, path: str, body: bytes | None, ctype: str) -> tuple[int, object]:
        if body is None:
            self.conn.request("GET", path)
        else:
            self.conn.request("POST", path, body=body, headers={"Content-Type": ctype})
        resp = self.conn.getresponse()
        return resp.status, orjson.loads(resp.read())


def pct(samples: list[float]) -> dict[str, float]:
    a = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2),
            "mean_ms": round(float(a.mean()), 2), "n": len(a)}


def ensure_index(client, args) -> None:
    have = client.indices.exists(index=args.index) and VECTOR_BINARY_FIELD in (
        client.indices.get_mapping(index=args.index)[args.index]["mappings"]["properties"])
    if not have:
        print(f"indexing the fashion catalog into {args.index} (with {VECTOR_BINARY_FIELD}) ...", file=sys.stderr)
        subprocess.run([str(Path(sys.executable).parent / "sidecar"), "index", "--catalog", str(args.fashion / "catalog.jsonl"),
                        "--vectors", str(args.fashion / "vectors-minilm.f16.npy"), "--index", args.index,
                        "--url", args.url, "--recreate"], check=True)


def start_sidecar(args, rules_dir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "SIDECAR_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "sidecar"), "serve", "--backend", "opensearch",
                               "--url", args.url, "--index", args.index, "--port", str(port), "--rules", str(rules_dir),
                               "--workers", str(args.workers)], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return server, port
        except OSError:
            pass
        if time.time() > deadline or server.poll() is not None:
            os.killpg(server.pid, signal.SIGTERM)
            raise SystemExit("the sidecar did not become ready")
        time.sleep(0.5)


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of process ``root`` and every live descendant, from /proc,
    plus what reaped children left in their parents' cutime/cstime."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(x) for x in fields[11:15]) / TICK  # utime stime cutime cstime
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == pid and c not in tree]
        tree.update(kids)
        frontier += kids
    return sum(times.get(pid, 0.0) for pid in tree)


def searches(client) -> int:
    """The node's count of shard-level query phases run so far (each search of an msearch, each kNN
    vote, each scan page counts): what a case sends OpenSearch, counted rather than guessed."""
    nodes = client.nodes.stats(metric="indices", index_metric="search")["nodes"]
    return sum(n["indices"]["search"]["query_total"] for n in nodes.values())


def opensearch_pid() -> int:
    """The local node's JVM (scripts/opensearch.sh pid)."""
    out = subprocess.run([str(ROOT / "scripts" / "opensearch.sh"), "pid"], capture_output=True, text=True, cwd=ROOT)
    return int(out.stdout.strip().split()[-1])


def throughput(send, n: int, concurrency: int, rate: float | None = None) -> dict[str, float]:
    """``n`` requests from ``concurrency`` threads, each with its own connection; with ``rate``,
    request j is not sent before j / rate seconds from the start (at most that many a second)."""
    counts = [0] * concurrency
    errors = [0] * concurrency
    start = time.perf_counter()

    def worker(t: int) -> None:
        for j in range(t, n, concurrency):
            if rate:
                time.sleep(max(0.0, start + j / rate - time.perf_counter()))
            try:
                ok = send(t, j)
            except Exception as exc:  # noqa: BLE001 - counted and shown, never a silent thread death
                print(f"request failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                ok = False
            counts[t] += 1
            errors[t] += not ok

    t0 = start
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {"requests": sum(counts), "seconds": round(elapsed, 2), "requests_per_second": round(sum(counts) / elapsed, 1),
            "errors": sum(errors)}


def plot(samples: dict[str, list[float]], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, s in samples.items():
        a = np.sort(np.array(s) * 1000)
        ax.plot(a, np.arange(1, len(a) + 1) / len(a), label=f"{name} (p50 {np.median(a):.1f} ms)")
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (log scale; the client sends, receives and JSON-decodes)")
    ax.set_ylabel("share of requests at or under")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch (default: .env's port)")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--requests", type=int, default=600, help="latency samples per case (default 600)")
    ap.add_argument("--throughput-requests", type=int, default=400, help="requests per throughput run (default 400)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="throughput and CPU rounds over every case (default 2)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "peer.json")
    args = ap.parse_args()
    if not (args.fashion / "catalog.jsonl").exists():
        print(f"the fashion catalog is not at {args.fashion}; pass --fashion", file=sys.stderr)
        return 2

    from sidecar.opensearch.client import make_client

    client = make_client(args.url, timeout=120)
    ensure_index(client, args)
    client.cluster.put_settings(body={"persistent": {"cluster.search.enabled_system_generated_factories": ["*"]}})
    queries = [json.loads(line)["query"] for line in open(args.fashion / "queries-dev.jsonl", encoding="utf-8")]
    qvecs = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)
    backend = OpenSearchBackend(client, args.index, 10.0)
    src = list(FIELDS)  # what the sidecar's /search returns for each hit
    bodies: dict[str, list[bytes]] = {k: [] for k in ("a", "b", "c", "d_direct", "d_sidecar", "b_plain",
                                                      "d_words_direct", "d_words_sidecar", "d_direct_params")}
    understanding = load_rules_dir(ROOT / "query_rules").understanding
    from sidecar.encoder import load as load_encoder

    encoder = load_encoder(config.default("encoder"))  # the sidecar's: the type a shopper's words name
    for q, v in zip(queries, qvecs):
        vec = v.tolist()
        bodies["a"].append(orjson.dumps({"size": 20, "_source": src, "query": {"knn": {"vector": {"vector": vec, "k": 20}}},
                                         "ext": {"mmr": {"candidates": 200, "diversity": 0.5}}}))
        bodies["b"].append(orjson.dumps({"vector": vec, "mode": "knn", "rule": "bench-mmr", "size": 20}))
        bodies["b_plain"].append(orjson.dumps({"vector": vec, "mode": "knn", "rule": "bench-mmr-only", "size": 20}))
        bodies["c"].append(orjson.dumps({"size": 20, "_source": src, "query": {"knn": {"vector": {"vector": vec, "k": 20}}}}))
        text, filters, _ = read(q, backend, understanding, {}, encoder.query if encoder else None)  # as the sidecar
        for case, req in (("d_direct", RetrievalRequest("hybrid", text, v, filters, 200)),
                          ("d_words_direct", RetrievalRequest("hybrid", q, v, {}, 200))):
            lines = [{"index": args.index}, backend._body(req, "bm25"), {"index": args.index}, backend._body(req, "knn")]
            bodies[case].append(b"".join(orjson.dumps(x) + b"\n" for x in lines))
            if case == "d_direct":  # the same searches with the sidecar's header lines (d_direct_params)
                head = backend.msearch_header(req)
                lines = [head, backend._body(req, "bm25"), head, backend._body(req, "knn")]
                bodies["d_direct_params"].append(b"".join(orjson.dumps(x) + b"\n" for x in lines))
        bodies["d_sidecar"].append(orjson.dumps({"q": q, "vector": vec, "mode": "hybrid", "rule": "default", "size": 20}))
        bodies["d_words_sidecar"].append(orjson.dumps({"q": q, "vector": vec, "mode": "hybrid", "rule": "default",
                                                       "size": 20, "understand": False}))

    rules_dir = Path(tempfile.mkdtemp(prefix="bench-peer-rules-"))
    for f in (ROOT / "query_rules").glob("*.yaml"):
        shutil.copy(f, rules_dir / f.name)
    (rules_dir / "90-bench.yaml").write_text(BENCH_RULES)
    os_host, os_port = args.url.split("//")[1].rstrip("/").split(":")
    server, port = start_sidecar(args, rules_dir)
    paths = {"a": ("os", f"/{args.index}/_search"), "b": ("side", "/search"), "c": ("os", f"/{args.index}/_search"),
             "d_direct": ("os", "/_msearch"), "d_sidecar": ("side", "/search"), "b_plain": ("side", "/search"),
             "d_words_direct": ("os", "/_msearch"), "d_words_sidecar": ("side", "/search"), "e": ("side", "/healthz"),
             "d_direct_busy": ("os", "/_msearch"), "d_direct_paced": ("os", "/_msearch"),
             # and its cancellation parameter, as the sidecar's client sends it (call(), cancellable)
             "d_direct_params": ("os", f"/_msearch?cancel_after_time_interval={int(1000 * backend.timeout)}ms")}
    bodies["e"] = [None] * len(queries)
    bodies["d_direct_busy"] = bodies["d_direct_paced"] = bodies["d_direct"]
    timed = ["a", "b", "c", "d_direct", "d_sidecar", "d_words_direct", "d_words_sidecar", "e"]
    try:
        conns = {"os": Client(os_host, int(os_port)), "side": Client("127.0.0.1", port)}

        def send(case: str, k: int, conn: Client | None = None) -> tuple[bool, object]:
            where, path = paths[case]
            st, body = (conn or conns[where]).post(path, bodies[case][k % len(queries)],
                                                   "application/x-ndjson" if where == "os" and "msearch" in path
                                                   else "application/json")
            return st == 200, body

        for i in range(40):  # warm-up: caches, JIT, connection pools
            for case in paths:
                send(case, i)
        lat: dict[str, list[float]] = {case: [] for case in timed}
        errors = {case: 0 for case in paths}
        order = timed
        for i in range(args.requests):
            rot = order[i % len(order):] + order[:i % len(order)]  # rotate, so no case always runs first
            for case in rot:
                t0 = time.perf_counter()
                ok, _ = send(case, i)
                lat[case].append(time.perf_counter() - t0)
                errors[case] += not ok

        overlap, overlap_plain, bench_pages = [], [], 0
        for k in range(len(queries)):
            ok_a, ra = send("a", k)
            ok_b, rb = send("b", k)
            ok_p, rp = send("b_plain", k)
            if not (ok_a and ok_b and ok_p):
                errors["a"] += not ok_a
                errors["b"] += not ok_b
                continue
            ids_a = {h["_id"] for h in ra["hits"]["hits"]}
            overlap.append(len(ids_a & {h["id"] for h in rb["hits"]}) / 20)
            overlap_plain.append(len(ids_a & {h["id"] for h in rp["hits"]}) / 20)
            bench_pages += 1

        tp: dict[str, dict[str, float]] = {}
        cpu: dict[str, dict[str, list[float]]] = {}
        jvm = opensearch_pid()
        pools = {w: [Client(os_host, int(os_port)) if w == "os" else Client("127.0.0.1", port)
                     for _ in range(args.concurrency)] for w in ("os", "side")}
        for case in ("d_sidecar", "d_words_sidecar", "b"):  # every worker warm: vocabularies, type words
            throughput(lambda t, j, c=case: send(c, j, pools["side"][t])[0], 8 * args.concurrency, args.concurrency)
        for rnd in range(args.rounds):  # each pair back to back, every round
            for case in ("d_direct", "d_sidecar", "d_direct_paced", "d_direct_params", "d_direct_busy", "d_words_direct",
                         "d_words_sidecar", "a", "b", "c", "e"):
                where = paths[case][0]
                # d_direct_busy: the direct msearch while a process keeps one core busy, as the sidecar's
                # own work does during d_sidecar on this two-core machine (about a core: its CPU x its rate)
                burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if case == "d_direct_busy" else None
                try:
                    side0, os0, q0 = tree_cpu(server.pid), tree_cpu(jvm), searches(client)
                    # d_direct_paced: the direct msearch no faster than the sidecar's search just ran (its round)
                    pace = tp["d_sidecar"]["rounds_requests_per_second"][-1] if case == "d_direct_paced" else None
                    got = throughput(lambda t, j, c=case, w=where: send(c, j * 7 + t + rnd, pools[w][t])[0],
                                     args.throughput_requests, args.concurrency, pace)
                    side1, os1, q1 = tree_cpu(server.pid), tree_cpu(jvm), searches(client)
                finally:
                    if burner is not None:  # stopped by its PID
                        burner.kill()
                        burner.wait()
                n = args.throughput_requests
                per = cpu.setdefault(case, {"sidecar_ms": [], "opensearch_ms": [], "searches": []})
                per["searches"].append((q1 - q0) / n)
                per["sidecar_ms"].append((side1 - side0) * 1000 / n)
                per["opensearch_ms"].append((os1 - os0) * 1000 / n)
                if case not in tp or got["requests_per_second"] > tp[case]["requests_per_second"]:
                    tp[case] = {**got, "rounds_requests_per_second": [*tp.get(case, {}).get(
                        "rounds_requests_per_second", []), got["requests_per_second"]]}
                else:
                    tp[case]["rounds_requests_per_second"].append(got["requests_per_second"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(rules_dir, ignore_errors=True)

    p = {case: pct(s) for case, s in lat.items()}
    results = {
        "command": " ".join(["python bench/bench_peer.py", *sys.argv[1:]]),
        "index": args.index, "documents": client.count(index=args.index)["count"], "workers": args.workers,
        "cpus": os.cpu_count(),
        "latency": {"a_opensearch_native_mmr": p["a"], "b_sidecar_mmr_caps_dedup": p["b"], "c_plain_knn_top20": p["c"],
                    "d_direct_msearch": p["d_direct"], "d_sidecar_hybrid_default_rule": p["d_sidecar"],
                    "d_words_direct_msearch": p["d_words_direct"], "d_words_sidecar": p["d_words_sidecar"],
                    "e_sidecar_healthz_hop": p["e"]},
        "ratios": {"b_over_a_p50": round(p["b"]["p50_ms"] / p["a"]["p50_ms"], 3),
                   "b_over_a_p99": round(p["b"]["p99_ms"] / p["a"]["p99_ms"], 3),
                   "d_sidecar_over_direct_p50": round(p["d_sidecar"]["p50_ms"] / p["d_direct"]["p50_ms"], 3),
                   "d_sidecar_over_direct_p99": round(p["d_sidecar"]["p99_ms"] / p["d_direct"]["p99_ms"], 3)},
        "overlap": {"pages": bench_pages, "a_vs_b_mean": round(float(np.mean(overlap)), 3),
                    "a_vs_sidecar_plain_mmr_mean": round(float(np.mean(overlap_plain)), 3)},
        "throughput_concurrency": args.concurrency,
        "throughput": tp,
        "throughput_ratios": {"d_sidecar_over_direct": round(tp["d_sidecar"]["requests_per_second"]
                                                             / tp["d_direct"]["requests_per_second"], 3),
                              "b_over_a": round(tp["b"]["requests_per_second"] / tp["a"]["requests_per_second"], 3)},
        "errors": {**errors, "throughput": sum(t["errors"] for t in tp.values())},
        # CPU per request at concurrency 8, from /proc (utime + stime): the sidecar's process tree
        # (gunicorn master and workers) and the OpenSearch JVM, the mean over the rounds
        "cpu_ms_per_request": {case: {who: round(float(np.mean(v)), 3) for who, v in per.items()}
                               | {"rounds": {who: [round(x, 3) for x in v] for who, v in per.items()}}
                               for case, per in cpu.items()},
    }
    c_ = results["cpu_ms_per_request"]

    def paired(x: str, y: str) -> float:
        """The median over the rounds of x's OpenSearch CPU over y's, each pair measured back to
        back: a round the JVM spends elsewhere (a collection, a merge, the first rounds' compiling)
        moves both of its pair, and one such round moves the median little."""
        return round(float(np.median(np.array(cpu[x]["opensearch_ms"]) / np.array(cpu[y]["opensearch_ms"]))), 3)

    def mean(x: str, y: str) -> float:
        """x's OpenSearch CPU per request over y's, each the mean of its rounds."""
        return round(c_[x]["opensearch_ms"] / c_[y]["opensearch_ms"], 3)

    results["cpu_ratios"] = {
        "d: sidecar / opensearch (target <= 0.2)": round(c_["d_sidecar"]["sidecar_ms"] / c_["d_sidecar"]["opensearch_ms"], 3),
        "d: opensearch for the sidecar's search / direct (target <= 1.05)":
            mean("d_sidecar", "d_direct"),
        "d_words: the same, understanding off on both sides (target <= 1.05)":
            mean("d_words_sidecar", "d_words_direct"),
        "d: the same, the median of the rounds' ratios": paired("d_sidecar", "d_direct"),
        "d: opensearch for the sidecar's search / direct beside a busy core (the sidecar's share of the machine)":
            mean("d_sidecar", "d_direct_busy"),
        "d beside a busy core: the median of the rounds' ratios": paired("d_sidecar", "d_direct_busy"),
        "d: opensearch for the sidecar's search / the direct msearch sent no faster than the sidecar's":
            mean("d_sidecar", "d_direct_paced"),
        "d paced: the median of the rounds' ratios": paired("d_sidecar", "d_direct_paced"),
        "d: opensearch for the direct msearch paced / at full speed (what a less busy node costs a request)":
            mean("d_direct_paced", "d_direct"),
        "d: opensearch for the direct msearch with the sidecar's parameters / without (what they cost)":
            mean("d_direct_params", "d_direct"),
        "d, the sidecar's parameters: the median of the rounds' ratios": paired("d_direct_params", "d_direct"),
        "d: opensearch for the sidecar's search / the direct msearch with its parameters (the rest)":
            mean("d_sidecar", "d_direct_params"),
        "d with its parameters: the median of the rounds' ratios": paired("d_sidecar", "d_direct_params"),
        "d: opensearch for the direct msearch beside a busy core / alone (what sharing the cores costs it)":
            mean("d_direct_busy", "d_direct"),
        "d_words: the same, the median of the rounds' ratios": paired("d_words_sidecar", "d_words_direct"),
        "d: OpenSearch searches per sidecar request / per direct msearch (second windows)":
            round(c_["d_sidecar"]["searches"] / c_["d_direct"]["searches"], 4),
        "d: opensearch for the query as read / for the raw words, direct (understanding's own cost)":
            mean("d_direct", "d_words_direct"),
        "b total / a total (target <= 0.25)":
            round((c_["b"]["sidecar_ms"] + c_["b"]["opensearch_ms"]) / (c_["a"]["sidecar_ms"] + c_["a"]["opensearch_ms"]), 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    names = {"a": "a  OpenSearch native MMR", "b": "b  sidecar MMR + caps + dedup", "c": "c  plain kNN top-20",
             "d_direct": "d  hybrid msearch, direct", "d_sidecar": "d  hybrid /search, sidecar",
             "d_words_direct": "d  words only, direct", "d_words_sidecar": "d  words only, sidecar",
             "e": "e  sidecar GET /healthz (the hop)"}
    plot({names[k]: v for k, v in lat.items()}, args.out.with_suffix(".png"),
         f"{results['command']}  ({results['documents']:,} products, {args.requests} requests a case, interleaved)")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
