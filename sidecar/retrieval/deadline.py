"""One deadline per request, shared by every OpenSearch call the request makes.

The HTTP layer opens it (``within``) when a request arrives; ``budget`` gives each call what is
left of it, so a request that needs two searches (a second window, a vector lookup) still
answers within the timeout. A call whose deadline has passed is not made at all, and an answer
that arrives after it (a busy worker woke its greenlet late) is dropped (``check``), not ranked:
past the deadline the answer is an immediate 504, and an overloaded worker sheds the work of
requests it can no longer answer in time. The deadline lives in a context variable: each
request (thread or greenlet) sees its own, and code outside a request (the CLI, the
decision-log writer) has none.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from .base import BackendTimeout

_deadline: ContextVar[float | None] = ContextVar("sidecar_deadline", default=None)
MIN_BUDGET = 0.005  # seconds: less than this left is not worth a round trip


def start(seconds: float, started: float | None = None) -> Token:
    """Open a deadline ``seconds`` after ``started`` (time.monotonic(); default now); ``end``
    closes it with the token returned."""
    return _deadline.set((time.monotonic() if started is None else started) + seconds)


def end(token: Token) -> None:
    """Forget the deadline ``token`` set (``start``)."""
    _deadline.reset(token)


@contextmanager
def within(seconds: float, started: float | None = None) -> Iterator[None]:
    """Calls inside share ``seconds`` from ``started``."""
    token = start(seconds, started)
    try:
        yield
    finally:
        end(token)


def budget(timeout: float) -> float:
    """Seconds the next call may take: ``timeout``, cut to what is left of the deadline.
    BackendTimeout when nothing is left (the caller answers 504 without asking OpenSearch)."""
    end = _deadline.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left < MIN_BUDGET:
        raise BackendTimeout("the request's deadline passed before OpenSearch was asked")
    return min(timeout, left)


def check() -> None:
    """BackendTimeout when the request's deadline has passed (no-op outside a request)."""
    end = _deadline.get()
    if end is not None and time.monotonic() > end:
        raise BackendTimeout("OpenSearch answered after the request's deadline")
