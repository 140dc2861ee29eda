"""The events' spool without a server (issue 37): what is accepted is on disk before the 202, a
dead worker's spool is claimed once and shipped, a claimed spool whose shipping stopped midway
resumes where it got to, ids are stable so a bulk sent again overwrites, and the counts add up."""
from __future__ import annotations

import json
import os
import time

from sidecar.server.spool import EventSpool


class FakeOpenSearch:
    """Records bulks by id, as OpenSearch indexes them (an id sent again is 'updated'); fails the
    next ``fail`` bulks, to stand for an outage."""

    def __init__(self, fail: int = 0):
        self.docs: dict[str, dict] = {}
        self.fail = fail
        self.indices = self

    def put_index_template(self, name, body):
        return {}

    def bulk(self, body):
        if self.fail:
            self.fail -= 1
            raise ConnectionError("OpenSearch is away")
        lines = body.strip().split("\n")
        items = []
        for head, doc in zip(lines[::2], lines[1::2]):
            doc_id = json.loads(head)["index"]["_id"]
            items.append({"index": {"result": "updated" if doc_id in self.docs else "created"}})
            self.docs[doc_id] = json.loads(doc)
        return {"items": items}


def spool(tmp_path, store, **kw):
    return EventSpool(tmp_path, lambda: store, "events", retry_max=0.05, **kw).start()


def wait(check, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end and not check():
        time.sleep(0.02)
    return check()


def test_accepted_events_are_on_disk_and_shipped_once(tmp_path):
    store = FakeOpenSearch(fail=3)  # away for the first three bulks
    s = spool(tmp_path, store)
    s.append([{"action_name": "click", "n": i} for i in range(700)])
    assert s.path.read_bytes().count(b"\n") == 700  # on disk before append returns
    assert wait(lambda: s.pending() == 0)
    assert len(store.docs) == 700 and s.written == s.accepted == 700 and s.dropped == 0
    s.close(1)


def test_a_dead_workers_spool_is_claimed_resumed_and_never_doubled(tmp_path):
    store = FakeOpenSearch()
    dead_pid = 2 ** 22 + 12345  # no such process
    token = "0123456789abcdef"
    lines = [json.dumps({"action_name": "click", "n": i}) + "\n" for i in range(1200)]
    (tmp_path / f"{dead_pid}-{token}.spool").write_text("".join(lines))
    shipped = sum(len(line) for line in lines[:500])
    (tmp_path / f"{dead_pid}-{token}.spool.offset").write_text(str(shipped))  # its worker shipped 500
    for i in range(500):  # as that worker left them in OpenSearch
        store.docs[f"{token}-{sum(len(line) for line in lines[:i])}"] = {}
    store.fail = 1  # the first attempt fails midway: the claimed spool must be resumed
    s = spool(tmp_path, store)
    assert wait(lambda: not list(tmp_path.glob("*.claimed")) and len(store.docs) == 1200)
    assert not list(tmp_path.glob(f"{dead_pid}-*"))
    assert s.written == 700  # the 700 it shipped were created, none of the 500 counted again
    s.close(1)


def test_a_partial_line_was_never_acknowledged_and_is_not_shipped(tmp_path):
    store = FakeOpenSearch()
    token = "fedcba9876543210"
    (tmp_path / f"{2 ** 22 + 54321}-{token}.spool").write_bytes(b'{"n": 1}\n{"n": 2}\n{"n": 3')
    s = spool(tmp_path, store)
    assert wait(lambda: len(store.docs) == 2 and not list(tmp_path.glob("*.claimed")))
    assert sorted(d["n"] for d in store.docs.values()) == [1, 2]
    s.close(1)


def test_a_full_spool_refuses_instead_of_dropping(tmp_path):
    from sidecar.server.spool import SpoolFull

    store = FakeOpenSearch(fail=10 ** 6)  # away for good
    s = spool(tmp_path, store, max_bytes=65536)
    accepted = 0
    try:
        while True:
            s.append([{"action_name": "click", "pad": "x" * 100}])
            accepted += 1
    except SpoolFull as exc:
        assert "bytes of events wait for OpenSearch" in str(exc)
    assert s.accepted == accepted and s.pending() <= 65536 and os.path.getsize(s.path) == s.pending()
    s.close(0.1)
