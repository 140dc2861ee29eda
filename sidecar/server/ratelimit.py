"""Per-client token buckets: a fair share of a door for each client (POST /events).

Each client has a bucket of ``burst`` tokens that refills at ``rate`` tokens a second; a request
takes as many tokens as the items it brings, or is refused with the seconds until it could be
taken (the ``Retry-After`` of a 429). Guarantees: over any interval T, one client gets at most
``burst + rate x T`` items through one process, whatever it sends, and other clients' buckets are
untouched by it. Limits: the buckets live in one worker (a server of N workers lets a client
through up to N times the rate); at most ``max_clients`` buckets are kept, the least recently
seen forgotten first (a forgotten client starts full again), so a flood of made-up clients costs
bounded memory but can each take one burst.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBuckets:
    def __init__(self, rate: float, burst: float, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.max_clients, self.clock = rate, burst, max_clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, client: str, n: int = 1) -> float:
        """0.0 when ``n`` tokens were taken for ``client``; else the seconds until they could be
        (nothing is taken). A request larger than the burst can never pass: inf."""
        if n > self.burst:
            return math.inf
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= n:
                self._buckets[client] = (tokens - n, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (n - tokens) / self.rate
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait
