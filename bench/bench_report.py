"""The experiment report at scale (issue 37): `sidecar experiments report` over millions of events.

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_report.py [--events 10000000] [--keep]

Writes, into a scratch decision-log prefix and events index on the local OpenSearch, an A/B
experiment's pages (one per ten events, each a signed page id of its client, ten items on it) and
its events: nine in ten genuine clicks, add-to-carts and purchases on those pages (a fifth of them
repeats), one in ten forged (made-up ids, other clients' pages). The events are stored as the
server's shipper stores them: each batch judged first (``experiments.settle``: a search of the
decision log for its pages, the credits and markers of the events on them), then indexed with its
verdicts; the OpenSearch JVM's CPU (utime + stime from /proc) and this process's CPU over that
phase, per event, say what judging at the door costs. Then runs
the report as a user does (`sidecar experiments report NAME --json`, a child process) and reads
its wall time and peak resident memory (``VmHWM`` of the child in /proc, read as it runs: the
child's own peak since its exec; ``ru_maxrss`` of children would count the bench's own pages,
which a forked child holds for a moment before its exec), and checks the report's
counts against what was written. The scratch indices are deleted afterwards unless --keep (a
second run with --keep --reuse skips the writing).

Writes bench/results/report-scale.json (--out); scripts/render_docs.py renders it into
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_peer import opensearch_pid, tree_cpu  # noqa: E402
from sidecar.config import default  # noqa: E402
from sidecar.experiments.identity import PageSigner  # noqa: E402
from sidecar.experiments.settle import Settler, credits_index  # noqa: E402
from sidecar.opensearch.client import load_mapping, make_client  # noqa: E402

PREFIX, EVENTS, NAME = "bench-report-log", "bench-report-events", "bench-report"
SECRET = "bench-report-key-4e8b2a1c9d3f57e0b6a4c2e8f1d39b70"
BATCH, WRITERS = 2000, 3  # events a batch, as the shipper sends them (its batches are smaller); batches at once


def write(client, n_events: int, seed: int = 7) -> dict:
    """The pages and events; returns what the report should find."""
    from opensearchpy import helpers
    from tqdm import tqdm

    rng = random.Random(seed)
    signer = PageSigner(SECRET)
    n_pages = max(1, n_events // 10)
    day = time.strftime("%Y.%m.%d", time.gmtime())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    template = load_mapping("decision-log-template.json")
    template["index_patterns"] = [f"{PREFIX}-*"]
    client.indices.put_index_template(name=PREFIX, body=template)
    events_template = load_mapping("ubi-events-template.json")
    events_template["index_patterns"] = [EVENTS]
    events_template["template"]["settings"]["refresh_interval"] = "-1"
    client.indices.put_index_template(name=EVENTS, body=events_template)
    pages = []
    expected = {"pages": n_pages, "genuine": 0, "forged": 0}

    def page_docs():
        for p in range(n_pages):
            client_id = f"shopper-{p % (n_pages // 3 + 1)}"
            qid = signer.mint(client_id)
            ids = [f"item-{rng.randrange(40000)}" for _ in range(10)]
            pages.append((qid, client_id, ids))
            yield {"_index": f"{PREFIX}-{day}", "_source": {
                "@timestamp": stamp, "request_id": qid, "client_id": client_id, "experiment": NAME,
                "arm": "ab"[p % 2], "from": 0, "size": 10, "ids_after": ids, "constraint_satisfaction": 1.0,
                "dedup_collapsed": 0, "endpoint": "search", "status": 200, "outcome": "ok"}}

    def event_docs():
        for _ in range(n_events):
            qid, client_id, ids = pages[rng.randrange(n_pages)]
            kind = rng.random()
            if kind < 0.9:  # genuine (a fifth of them repeating an earlier one, on a small set of objects)
                k = rng.randrange(3) if rng.random() < 0.2 else rng.randrange(10)
                action, obj, rank = rng.choice(("click", "click", "click", "add_to_cart", "purchase")), ids[k], k + 1
                expected["genuine"] += 1
            else:  # forged: a made-up id, or another client's page
                action, obj, rank = "click", ids[0], 1
                if rng.random() < 0.5:
                    qid = f"{rng.getrandbits(64):016x}.{rng.getrandbits(128):032x}"
                else:
                    client_id = "forger"
                expected["forged"] += 1
            yield {"action_name": action, "query_id": qid, "client_id": client_id, "timestamp": stamp,
                   "event_attributes": {"object": {"object_id": obj}, "position": {"ordinal": rank}}}

    bar = tqdm(total=n_pages, desc="writing pages", unit="doc", file=sys.stderr)
    for ok, _ in helpers.streaming_bulk(client, page_docs(), chunk_size=5000, raise_on_error=True, request_timeout=120):
        bar.update(1)
    bar.close()
    client.indices.refresh(index=f"{PREFIX}-*")
    # the events as the server stores them: each batch judged (experiments.settle), then indexed
    settler = Settler(PREFIX, EVENTS, signer.verify)
    settler.prepare(client)
    jvm, lock = opensearch_pid(), threading.Lock()
    bar = tqdm(total=n_events, desc="judging and writing events", unit="event", file=sys.stderr)

    def store(batch: list[tuple[str, dict]]) -> None:
        settled = settler.settle(client, batch, now=time.time())
        body = []
        for (key, event), verdict in zip(batch, settled):
            body += [{"index": {"_index": EVENTS, "_id": key}}, {**event, "settled": verdict}]
        if client.bulk(body=body, request_timeout=300)["errors"]:
            raise SystemExit("events: OpenSearch refused some")
        with lock:
            bar.update(len(batch))

    os0, me0, t0 = tree_cpu(jvm), time.process_time(), time.monotonic()
    docs, batch = event_docs(), []
    with ThreadPoolExecutor(WRITERS) as pool:
        running: list = []
        for n, doc in enumerate(docs):
            batch.append((f"bench-{n}", doc))
            if len(batch) == BATCH:
                running.append(pool.submit(store, batch))
                batch = []
                if len(running) >= 2 * WRITERS:  # bounded: a few batches in flight
                    running.pop(0).result()
        if batch:
            running.append(pool.submit(store, batch))
        for job in running:
            job.result()
    bar.close()
    expected["store_opensearch_us_per_event"] = round((tree_cpu(jvm) - os0) * 1e6 / n_events, 1)
    expected["store_client_us_per_event"] = round((time.process_time() - me0) * 1e6 / n_events, 1)
    expected["store_seconds"] = round(time.monotonic() - t0, 1)
    client.indices.put_settings(index=EVENTS, body={"index": {"refresh_interval": "5s"}})
    client.indices.refresh(index=[EVENTS, f"{PREFIX}-*", settler.credits])
    return expected


def _hwm_kb(pid: int) -> int:
    """VmHWM (peak resident memory since exec) of a live process, in kB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default("opensearch_url"))
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the scratch indices")
    ap.add_argument("--reuse", action="store_true", help="report over the kept indices without writing again")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "report-scale.json")
    args = ap.parse_args()
    client = make_client(args.url, timeout=120)
    expected_path = args.out.with_suffix(".expected.json")
    try:
        if args.reuse and client.indices.exists(index=EVENTS):
            expected = json.loads(expected_path.read_text())
        else:
            client.indices.delete(index=[EVENTS, credits_index(EVENTS), f"{PREFIX}-*"], ignore_unavailable=True)
            t0 = time.monotonic()
            expected = write(client, args.events)
            expected["write_seconds"] = round(time.monotonic() - t0, 1)
            if args.keep:
                expected_path.write_text(json.dumps(expected))
        env = {**os.environ, "SIDECAR_SECRET": SECRET}
        cmd = [str(Path(sys.executable).parent / "sidecar"), "experiments", "report", NAME, "--url", args.url,
               "--prefix", PREFIX, "--events-index", EVENTS, "--since", "1d", "--json"]
        t0 = time.monotonic()
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        peak_kb = [0]

        def watch() -> None:  # the child's own high-water mark, until it is gone
            while child.poll() is None:
                peak_kb[0] = max(peak_kb[0], _hwm_kb(child.pid))
                time.sleep(0.2)

        watcher = threading.Thread(target=watch)
        watcher.start()
        stdout, stderr = child.communicate(timeout=3600)
        seconds = time.monotonic() - t0
        watcher.join()
        peak_mb = peak_kb[0] / 1024
        if child.returncode != 0:
            raise SystemExit(f"the report failed: {stderr[-2000:]}")
        out = json.loads(stdout)
        refused = out["refused"]
        credited_or_repeat = out["events_on_pages"] + refused["repeat"]
        result = {"command": "python bench/bench_report.py" + (f" --events {args.events}" if args.events != 10_000_000
                                                                 else ""),
                  "events": args.events, "pages": expected["pages"], "seconds": round(seconds, 1),
                  "peak_rss_mb": round(peak_mb, 1),
                  "write_seconds": expected.get("write_seconds"), "store_seconds": expected.get("store_seconds"),
                  "store_opensearch_us_per_event": expected.get("store_opensearch_us_per_event"),
                  "store_client_us_per_event": expected.get("store_client_us_per_event"),
                  "events_read": out["events_read"],
                  "credited": out["events_on_pages"], "refused": refused,
                  "counts_agree": out["events_read"] == args.events and out["pages"] == expected["pages"]
                  and credited_or_repeat == expected["genuine"]
                  and refused["forged"] + refused["other_client"] == expected["forged"],
                  "when": time.strftime("%Y-%m-%d")}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result, indent=1))
        return 0 if result["counts_agree"] else 1
    finally:
        if not args.keep:
            client.indices.delete(index=[EVENTS, credits_index(EVENTS), f"{PREFIX}-*"], ignore_unavailable=True)
            client.indices.delete_index_template(name=EVENTS, ignore=[404])
            client.indices.delete_index_template(name=PREFIX, ignore=[404])
            client.indices.delete_index_template(name=credits_index(EVENTS), ignore=[404])


if __name__ == "__main__":
    sys.exit(main())
