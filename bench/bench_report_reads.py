"""What reading events costs, per event, by the way they are read (issue 37: why the report of 10
million events could not fit in 60 s while it brought every event to Python, and counts in
OpenSearch now).

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_report_reads.py [--events 2000000] [--sorted-limit 300000]

Writes the experiment of ``bench_report.py`` (its scratch indices, its events and pages), merged
into one segment, then reads the events index, in turn, in each of these ways, and measures the
OpenSearch JVM's CPU (utime + stime from /proc) and this process's own CPU per event read:

- ``sorted_keyword``: sorted by page id (``query_id``, a keyword) through a point in time, as
  the report read them before (only the first ``--sorted-limit`` events: each slice
  sorts the whole index, so the cost per event is that of every slice);
- ``sorted_numeric``: sorted by a numeric page key (the first 15 hex digits of the page id, a long
  the scratch events carry for this bench only);
- ``index_order``: unsorted (``_shard_doc``), the cheapest way to bring every hit;
- ``doc_values``: unsorted, the fields from doc values instead of ``_source``;
- ``aggregation``: one search of no hits counting the events by action and their distinct pages:
  what counting in OpenSearch costs, for comparison.

Each figure is from this one run; the projection to 10 million events is the per-event CPU times
ten million (OpenSearch's and this process's, which share the machine's cores). Writes
bench/results/report-reads.json (--out); scripts/render_docs.py renders it into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_peer import opensearch_pid, tree_cpu  # noqa: E402
from bench_report import EVENTS, PREFIX, write  # noqa: E402
from sidecar.config import default  # noqa: E402
from sidecar.opensearch.client import make_client  # noqa: E402

KEY = "bench_page_key"  # a numeric page key on the scratch events only
BATCH, KEEP_ALIVE = 5000, "2m"  # the slices the report read events in, before it counted in OpenSearch
EVENT_FIELDS = ["query_id", "client_id", "action_name", "event_attributes.object.object_id",
                "event_attributes.position.ordinal"]


def read_all(client: Any, sort: list[Any], limit: int | None, doc_values: bool = False) -> int:
    """Every event (or the first ``limit``) in ``sort`` order through a point in time; the count."""
    pit = client.create_pit(index=EVENTS, params={"keep_alive": KEEP_ALIVE})["pit_id"]
    n, after = 0, None
    try:
        while limit is None or n < limit:
            body: dict[str, Any] = {"size": BATCH, "track_total_hits": False, "sort": sort,
                                    "pit": {"id": pit, "keep_alive": KEEP_ALIVE}}
            if doc_values:
                body.update({"_source": False, "docvalue_fields": EVENT_FIELDS})
            else:
                body["_source"] = EVENT_FIELDS
            if after is not None:
                body["search_after"] = after
            hits = client.search(body=body)["hits"]["hits"]
            if not hits:
                break
            n += len(hits)
            after = hits[-1]["sort"]
    finally:
        client.delete_pit(body={"pit_id": [pit]})
    return n


def aggregate(client: Any) -> int:
    """One search of no hits: the events by action, with their distinct pages; the count."""
    body = {"size": 0, "track_total_hits": True, "aggs": {"by_action": {
        "terms": {"field": "action_name", "size": 10}, "aggs": {"pages": {"cardinality": {"field": "query_id"}}}}}}
    return client.search(index=EVENTS, body=body)["hits"]["total"]["value"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default("opensearch_url"))
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--sorted-limit", type=int, default=300_000, help="events read sorted by the keyword page id")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "report-reads.json")
    args = ap.parse_args()
    client = make_client(args.url, timeout=300)
    if not client.ping():
        print(f"OpenSearch does not answer at {args.url}: scripts/opensearch.sh start", file=sys.stderr)
        return 2
    jvm = opensearch_pid()
    try:
        client.indices.delete(index=[EVENTS, f"{PREFIX}-*"], ignore_unavailable=True)
        write(client, args.events)
        client.indices.put_mapping(index=EVENTS, body={"properties": {KEY: {"type": "long"}}})
        task = client.update_by_query(index=EVENTS, body={"script": {"lang": "painless", "source":
                                      f"ctx._source.{KEY} = Long.parseLong(ctx._source.query_id.substring(0, 15), 16)"}},
                                      params={"wait_for_completion": "false", "refresh": "true"})["task"]
        while not client.tasks.get(task_id=task)["completed"]:  # (its answer, waited for, has too many headers)
            time.sleep(2)
        client.indices.forcemerge(index=EVENTS, max_num_segments=1, request_timeout=3600)
        ways = {"sorted_keyword": lambda: read_all(client, [{"query_id": "asc"}, {"_shard_doc": "asc"}],
                                                   args.sorted_limit),
                "sorted_numeric": lambda: read_all(client, [{KEY: "asc"}, {"_shard_doc": "asc"}], None),
                "index_order": lambda: read_all(client, [{"_shard_doc": "asc"}], None),
                "doc_values": lambda: read_all(client, [{"_shard_doc": "asc"}], None, doc_values=True),
                "aggregation": lambda: aggregate(client)}
        got: dict[str, dict[str, float]] = {}
        for name, way in ways.items():
            os0, me0, t0 = tree_cpu(jvm), time.process_time(), time.perf_counter()
            n = way()
            os1, me1, t1 = tree_cpu(jvm), time.process_time(), time.perf_counter()
            per = {"events": n, "opensearch_us": round((os1 - os0) * 1e6 / n, 2),
                   "client_us": round((me1 - me0) * 1e6 / n, 2), "wall_us": round((t1 - t0) * 1e6 / n, 2)}
            per["cpu_s_for_10m"] = round((per["opensearch_us"] + per["client_us"]) * 10, 1)
            got[name] = per
            print(name, per, file=sys.stderr)
        result = {"command": "python bench/bench_report_reads.py" + (f" --events {args.events}"
                                                                       if args.events != 2_000_000 else ""),
                  "events": args.events, "cpus": os.cpu_count(), "reads": got, "when": time.strftime("%Y-%m-%d")}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result, indent=1))
        return 0
    finally:
        client.indices.delete(index=[EVENTS, f"{PREFIX}-*"], ignore_unavailable=True)
        client.indices.delete_index_template(name=EVENTS, ignore=[404])
        client.indices.delete_index_template(name=PREFIX, ignore=[404])


if __name__ == "__main__":
    sys.exit(main())
