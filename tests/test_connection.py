"""The keep-alive connection under opensearch-py (sidecar/opensearch/connection.py): what a Transport relies
on, against a loopback HTTP server written here whose behaviour each test chooses (keep-alive,
closing idle connections, silence, garbage, error statuses), then against the real OpenSearch
with the same answers as opensearch-py's urllib3 connection."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import orjson
import pytest
from opensearchpy import OpenSearch
from opensearchpy.connection import Urllib3HttpConnection
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, NotFoundError, TransportError

from sidecar.opensearch.connection import KeepAliveConnection
from sidecar.opensearch.client import FastJSONSerializer, make_client


class Server:
    """A loopback HTTP/1.1 server: ``reply(request_line, body)`` gives the raw bytes to send back
    (None: say nothing); it counts the connections accepted and the requests read."""

    def __init__(self, reply: Callable[[str, bytes], bytes | None], close_after_each: bool = False):
        self.reply, self.close_after_each = reply, close_after_each
        self.accepted = 0
        self.closed = 0  # connections this server has closed
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._exchange(conn)
        finally:
            conn.close()
            self.closed += 1

    def _exchange(self, conn: socket.socket) -> None:
        with conn.makefile("rb") as f:
            while not self._stop.is_set():
                line = f.readline().decode("latin-1").strip()
                if not line:
                    return
                headers = {}
                while (h := f.readline().decode("latin-1").strip()):
                    k, _, v = h.partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = f.read(int(headers.get("content-length", 0)))
                self.requests.append((line, headers, body))
                out = self.reply(line, body)
                if out is None:
                    self._stop.wait(10)
                    return
                conn.sendall(out)
                if self.close_after_each:
                    return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def answer(status: int, body: bytes, ctype: str = "application/json", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n{extra}\r\n").encode() + body


@pytest.fixture
def server(request):
    made: list[Server] = []

    def make(reply, **kw) -> Server:
        made.append(Server(reply, **kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


def client(*urls: str, timeout: float = 5.0) -> OpenSearch:
    return make_client(",".join(urls), timeout=timeout)


def test_plain_http_gets_the_keep_alive_connection_and_https_or_credentials_keep_urllib3():
    def kinds(url: str) -> set[type]:
        return {type(c) for c in make_client(url).transport.connection_pool.connections}

    assert kinds("http://127.0.0.1:9") == {KeepAliveConnection}
    assert kinds("http://127.0.0.1:9,http://127.0.0.1:10") == {KeepAliveConnection}
    assert kinds("https://127.0.0.1:9") == {Urllib3HttpConnection}
    assert kinds("http://user:secret@127.0.0.1:9") == {Urllib3HttpConnection}
    with pytest.raises(ValueError, match="credentials"):
        KeepAliveConnection(host="127.0.0.1", port=9, http_auth=("user", "secret"))
    with pytest.raises(ValueError, match="plain HTTP"):
        KeepAliveConnection(host="127.0.0.1", port=9, use_ssl=True)


def test_one_socket_serves_many_requests_and_each_request_arrives_whole_once(server):
    s = server(lambda line, body: answer(200, orjson.dumps({"line": line, "got": len(body)})))
    c = client(s.url)
    for i in range(30):
        out = c.search(index="products", body={"query": {"match": {"title": "x" * i}}})
        assert out["line"] == "POST /products/_search HTTP/1.1"
        assert out["got"] == len(orjson.dumps({"query": {"match": {"title": "x" * i}}}))
    assert s.accepted == 1 and len(s.requests) == 30
    line, headers, body = s.requests[-1]
    assert headers["host"] == f"127.0.0.1:{s.port}" and headers["content-type"] == "application/json"
    assert orjson.loads(body) == {"query": {"match": {"title": "x" * 29}}}


def test_msearch_params_and_a_head_request_are_sent_as_opensearch_py_builds_them(server):
    s = server(lambda line, body: answer(200, b'{"responses": []}') if not line.startswith("HEAD")
               else b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    c = client(s.url)
    assert c.msearch(body=[{"index": "p"}, {"size": 1}], params={"preference": "a b"}) == {"responses": []}
    assert c.indices.exists(index="p") is True
    (line, headers, body), (head, _, _) = s.requests
    assert line == "POST /_msearch?preference=a+b HTTP/1.1" and body == b'{"index":"p"}\n{"size":1}\n'
    assert head == "HEAD /p HTTP/1.1"
    assert s.accepted == 1  # the HEAD answer had no body, and the socket was kept


def test_a_connection_the_server_closed_while_idle_is_replaced_and_nothing_is_sent_twice(server):
    s = server(lambda line, body: answer(200, b"{}"), close_after_each=True)
    c = client(s.url)
    for i in range(5):
        assert c.search(index="p", body={}) == {}
        deadline = time.monotonic() + 10
        while s.closed <= i and time.monotonic() < deadline:  # the server has closed it before the next request
            time.sleep(0.01)
    assert len(s.requests) == 5 and s.accepted == 5


def test_connection_close_in_the_answer_is_honoured(server):
    s = server(lambda line, body: answer(200, b"{}", extra="connection: close\r\n"))
    c = client(s.url)
    for _ in range(3):
        assert c.search(index="p", body={}) == {}
    assert s.accepted == 3


def test_silence_is_a_connection_timeout_and_the_socket_is_not_kept(server):
    s = server(lambda line, body: None)
    c = client(s.url, timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ConnectionTimeout):
        c.search(index="p", body={})
    assert time.monotonic() - t0 < 5  # not the server's 10 s of silence
    conn = c.transport.connection_pool.connections[0]
    assert conn._idle == []


def test_refused_garbled_and_cut_answers_are_connection_errors(server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, not listening: refused
        with pytest.raises(OSConnectionError):
            client(dead).search(index="p", body={})
    garbled = server(lambda line, body: b"not http at all\r\n\r\n")
    with pytest.raises(OSConnectionError):
        client(garbled.url).search(index="p", body={})
    cut = server(lambda line, body: answer(200, b'{"hits": 1}')[:-4], close_after_each=True)
    with pytest.raises(OSConnectionError):
        client(cut.url).search(index="p", body={})


def test_error_statuses_raise_opensearch_py_s_errors_with_the_json_error(server):
    s = server(lambda line, body: answer(404, b'{"error": {"type": "index_not_found_exception"}, "status": 404}')
               if "missing" in line else answer(429, b'{"error": "too many"}'))
    c = client(s.url)
    with pytest.raises(NotFoundError) as e:
        c.search(index="missing", body={})
    assert e.value.error == "index_not_found_exception"
    with pytest.raises(TransportError) as e:
        c.search(index="busy", body={})
    assert e.value.status_code == 429 and e.value.error == "too many"
    assert s.accepted == 1  # an error status is an answer: the connection is kept


def test_nothing_can_end_the_request_line_early(server):
    s = server(lambda line, body: answer(200, b"{}"))
    c = client(s.url)
    assert c.search(index="a b\r\nx-injected: 1", body={}) == {}  # opensearch-py quotes a path's parts
    line, headers, _ = s.requests[-1]
    assert line == "POST /a%20b%0D%0Ax-injected%3A%201/_search HTTP/1.1" and "x-injected" not in headers
    conn = c.transport.connection_pool.connections[0]
    for raw in ("/a b", "/a\r\nx: 1", "/a\x00"):
        with pytest.raises(ValueError, match="control characters or spaces"):
            conn.perform_request("GET", raw)
    assert len(s.requests) == 1


def test_threads_sharing_a_connection_each_get_a_socket_of_their_own(server):
    s = server(lambda line, body: answer(200, orjson.dumps({"line": line})))
    c = client(s.url)
    got: list[str] = []

    def work(t: int) -> None:
        for i in range(25):
            got.append(c.search(index=f"t{t}-{i}", body={})["line"])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(f"POST /t{t}-{i}/_search HTTP/1.1" for t in range(8) for i in range(25))
    assert s.accepted <= 8 and len(s.requests) == 200


def test_json_is_handed_over_as_bytes_and_text_as_str(server):
    s = server(lambda line, body: answer(200, b"green 1\n", ctype="text/plain; charset=UTF-8")
               if "_cat" in line else answer(200, '{"t": "\u00e9"}'.encode(), ctype="application/json; charset=UTF-8"))
    c = client(s.url)
    assert c.cat.health() == "green 1\n"
    conn = c.transport.connection_pool.connections[0]
    status, _, data = conn.perform_request("GET", "/x")
    assert status == 200 and data == '{"t": "\u00e9"}'.encode()
    assert c.transport.perform_request("GET", "/x") == {"t": "\u00e9"}


def test_a_dead_node_is_skipped_for_a_live_one(server):
    live = server(lambda line, body: answer(200, b'{"ok": true}'))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
        c = client(dead, live.url)
        for _ in range(6):
            assert c.search(index="p", body={}) == {"ok": True}
    assert len(live.requests) == 6


# --- against the real OpenSearch ------------------------------------------------------------

def test_the_real_cluster_answers_as_over_urllib3(os_url, os_client):
    index = "test-connection"
    os_client.indices.delete(index=index, ignore_unavailable=True)
    os_client.indices.create(index=index, body={"settings": {"number_of_replicas": 0}})
    try:
        os_client.index(index=index, id="1", body={"title": "caf\u00e9 noir", "n": 1}, refresh=True)
        old = OpenSearch(hosts=[os_url], serializer=FastJSONSerializer())
        assert isinstance(os_client.transport.connection_pool.connections[0], KeepAliveConnection)
        body = {"query": {"match": {"title": "noir"}}}
        for c in (os_client, old):
            got = c.search(index=index, body=body)
            assert got["hits"]["hits"][0]["_source"] == {"title": "caf\u00e9 noir", "n": 1}
        pages = [c.msearch(body=[{"index": index}, body, {"index": index}, {"query": {"match_all": {}}}])
                 for c in (os_client, old)]
        for p in pages:
            p.pop("took")
            for r in p["responses"]:
                r.pop("took")
        assert pages[0] == pages[1]
        assert os_client.indices.exists(index=index) is True and os_client.indices.exists(index=index + "-no") is False
        assert os_client.cat.indices(index=index, h="index").strip() == index
        with pytest.raises(NotFoundError):
            os_client.get(index=index, id="2")
        with pytest.raises(TransportError) as e:
            os_client.search(index=index, body={"query": {"no_such_query": {}}})
        assert e.value.status_code == 400
        fresh = make_client(os_url, timeout=30)
        for _ in range(20):
            fresh.search(index=index, body=body)
        assert len(fresh.transport.connection_pool.connections[0]._idle) == 1  # one socket did it all
    finally:
        os_client.indices.delete(index=index, ignore_unavailable=True)
