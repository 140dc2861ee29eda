"""opensearch-py's node connection over plain keep-alive sockets (``connection_class``).

opensearch-py's default connection goes through urllib3: per request it copies headers,
builds a urllib3 request and response, writes the request head and body in two sends (on
loopback every send also wakes OpenSearch's network thread), and decodes the whole answer to a
``str`` before the JSON decoder reads it. This one writes head and body in one ``sendall``,
parses the answer with ``http.client.HTTPResponse`` and hands JSON to the deserializer as the
bytes it arrived in (bench/bench_peer.py and tests/test_connection.py).

What stays opensearch-py's: the node pool, marking a node dead and retrying on another one
(``Transport``), serialization, the error classes. The contract a ``Transport`` relies on is
kept: a timeout raises ``ConnectionTimeout``, a refused, reset or garbled exchange
``ConnectionError`` (both retried on another node by the transport, the timeout only when it is
told to), an error status the ``TransportError`` subclass for it.

An answer longer than ``max_response_bytes`` (when given) is not read past that: the socket is
closed and ``ResponseTooLarge`` raised (not a ConnectionError, so the transport neither retries
it on another node nor marks the node dead); the proxy's client sets it, so a client's search
cannot make a worker read and decode tens of megabytes.

Limits: plain HTTP only (``make_client`` keeps urllib3 for https and credentials); no gzip; the
timeout is per socket operation (connect, each read), like urllib3's, not for the whole
exchange (the request's deadline is ``retrieval.deadline``). A kept connection that the server
closed while idle is noticed before it is reused (it reads as ready), not after a failed send,
so a request is never sent twice.
"""
from __future__ import annotations

import http.client
import re
import select
import socket
import time
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlencode

from opensearchpy.connection.base import Connection
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout
from urllib3.exceptions import ConnectTimeoutError

JSON_TYPES = ("application/json", "application/vnd.opensearch+json")
UNSAFE_IN_PATH = re.compile(r"[\x00-\x20\x7f]")


class NotSent(OSError):
    """The ``info`` of a ConnectionError or ConnectionTimeout raised before any byte of the
    request went out (no connection could be made): the request certainly had no effect."""


class ResponseTooLarge(ValueError):
    """OpenSearch's answer is longer than the connection's ``max_response_bytes``: the request
    asked for too much (a ValueError: the client's request, a 400 at the proxy)."""


def nothing_sent(exc: OSConnectionError) -> bool:
    """The request of this failed exchange never left, over either connection class (urllib3 says
    so with its ``ConnectTimeoutError``, which a refused connection also is)."""
    return isinstance(exc.info, (NotSent, ConnectTimeoutError))


class KeepAliveConnection(Connection):
    """One OpenSearch node: up to ``pool_maxsize`` idle keep-alive sockets kept for reuse (more
    may be open at once; those beyond it are closed after their exchange)."""

    def __init__(self, host: str = "localhost", port: int | None = None, pool_maxsize: int | None = None,
                 max_response_bytes: int | None = None, **kwargs: Any) -> None:
        if kwargs.pop("http_auth", None) is not None:
            raise ValueError("KeepAliveConnection sends no credentials: use opensearch-py's default connection")
        kwargs.pop("metrics", None)  # of urllib3's connection; nothing here reports to it
        super().__init__(host=host, port=port, **kwargs)
        if self.use_ssl or self.http_compress:
            raise ValueError("KeepAliveConnection speaks plain HTTP without compression")
        self.maxsize = pool_maxsize or 10
        self.max_response_bytes = max_response_bytes
        self._idle: list[socket.socket] = []
        head = {"host": f"{self.hostname}:{self.port}", "connection": "keep-alive", **self.headers}
        self._fixed = {k.lower(): v for k, v in head.items()}

    def _socket(self, timeout: float) -> socket.socket:
        """An idle socket the server has not closed, else a new one."""
        while True:
            try:
                sock = self._idle.pop()  # atomic: threads may share the connection
            except IndexError:
                break
            try:
                readable = select.select([sock], [], [], 0)[0]
            except (OSError, ValueError):
                readable = [sock]
            if not readable:  # nothing to read on an idle connection: still open
                sock.settimeout(timeout)
                return sock
            sock.close()  # closed by the server (or stray bytes): never reused
        sock = socket.create_connection((self.hostname, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _release(self, sock: socket.socket) -> None:
        if len(self._idle) < self.maxsize:
            self._idle.append(sock)
        else:
            sock.close()

    def perform_request(self, method: str, url: str, params: Mapping[str, Any] | None = None,
                        body: bytes | None = None, timeout: float | None = None, ignore: Collection[int] = (),
                        headers: Mapping[str, str] | None = None) -> Any:
        path = self.url_prefix + url + (f"?{urlencode(params)}" if params else "")
        if UNSAFE_IN_PATH.search(path):  # as http.client refuses: nothing may end the request line early
            raise ValueError(f"URL can't contain control characters or spaces: {path!r}")
        full_url = self.host + path
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        fields = self._fixed if not headers else {**self._fixed, **{k.lower(): v for k, v in headers.items()}}
        lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in fields.items()]
        if body is not None or method in ("POST", "PUT"):
            lines.append(f"content-length: {len(body or b'')}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        start = time.time()
        try:
            sock = self._socket(timeout or self.timeout)
        except OSError as exc:
            self.log_request_fail(method, full_url, path, body, time.time() - start, exception=exc)
            kind = ConnectionTimeout if isinstance(exc, TimeoutError) else OSConnectionError
            raise kind("TIMEOUT" if kind is ConnectionTimeout else "N/A", str(exc), NotSent(str(exc))) from None
        try:
            sock.sendall(request)  # head and body in one write
            resp = http.client.HTTPResponse(sock, method=method)
            try:
                resp.begin()
                if self.max_response_bytes is None:
                    data = resp.read()
                else:
                    data = resp.read(self.max_response_bytes + 1)  # chunked or not: at most this much
                    if len(data) > self.max_response_bytes:
                        sock.close()  # the rest is never read: the socket is not reused
                        raise ResponseTooLarge(
                            f"body: OpenSearch's answer is over {self.max_response_bytes} bytes "
                            "(SIDECAR_PROXY_MAX_RESPONSE_BYTES); ask for fewer hits, fields or buckets")
            finally:
                resp.close()  # the reader made over the socket, not the socket
        except TimeoutError as exc:
            sock.close()
            self.log_request_fail(method, full_url, path, body, time.time() - start, exception=exc)
            raise ConnectionTimeout("TIMEOUT", str(exc), exc) from None
        except (OSError, http.client.HTTPException) as exc:
            sock.close()
            self.log_request_fail(method, full_url, path, body, time.time() - start, exception=exc)
            raise OSConnectionError("N/A", str(exc) or type(exc).__name__, exc) from None
        if resp.will_close:
            sock.close()
        else:
            self._release(sock)
        duration = time.time() - start
        self._raise_warnings(resp.headers.get_all("warning") or ())
        ctype = (resp.headers.get("content-type") or "").split(";")[0].strip()
        # JSON stays bytes (the JSON decoder reads them); anything else is text, as urllib3's gives
        out = data if ctype in JSON_TYPES else data.decode("utf-8", "surrogatepass")
        if not (200 <= resp.status < 300) and resp.status not in ignore:
            text = data.decode("utf-8", "surrogatepass")
            self.log_request_fail(method, full_url, path, body, duration, resp.status, text)
            self._raise_error(resp.status, text, ctype or None)
        self.log_request_success(method, full_url, path, body, resp.status, out, duration)
        return resp.status, resp.headers, out

    def close(self) -> None:
        """Closes the idle sockets (one in an exchange is closed by it)."""
        while self._idle:
            self._idle.pop().close()
