"""Real OS threads inside gevent workers.

Under gevent's monkey-patching ``threading.Thread`` makes a greenlet: CPU-bound work on it (parsing
100,000 rules, compiling kernels) would stop every other request of the worker, /healthz
included, until it is done. ``offload`` runs such work on gevent's pool of real threads while only
the calling greenlet waits; without gevent (tests, the CLI) it simply calls. The GIL is still
shared: the worker's other greenlets get the interpreter every switch interval (5 ms), so they
slow down but keep answering.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("threading")


def offload(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a real thread when running under gevent (the caller's greenlet waits)."""
    if not gevent_patched():
        return fn(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(fn, args)


class Offloader:
    """CPU-bound calls (the query encoder's model) on a small pool of real threads of their own,
    each waited for at most ``seconds``: the worker's event loop keeps serving meanwhile
    (/healthz, other searches), and a queue of such calls cannot outlast the requests waiting on
    them. A call still queued when its caller stopped waiting is skipped, not run. Without gevent
    (tests, the CLI) it simply calls. The pool is made on first use, so in the process that uses
    it (a gunicorn worker, after the fork)."""

    def __init__(self, size: int = 1):
        self.size = size
        self._pool: Any = None

    def run(self, fn: Callable[..., T], args: tuple[Any, ...], seconds: float) -> T:
        """``fn(*args)``; TimeoutError when it has not returned within ``seconds``."""
        if not gevent_patched():
            return fn(*args)
        import gevent
        from gevent.threadpool import ThreadPool

        if self._pool is None:
            self._pool = ThreadPool(self.size)
        expires = time.monotonic() + seconds

        def task() -> Any:
            if time.monotonic() > expires:
                return None  # nobody waits for it any more
            return fn(*args)

        # the wait for a free thread counts too (spawn waits for one)
        with gevent.Timeout(seconds, TimeoutError(f"not done within {seconds:.3f} s")):
            return self._pool.spawn(task).get()


def real_lock() -> Any:
    """A lock of the OS (not gevent's): for state that real threads of ``offload`` share."""
    if gevent_patched():
        from gevent import monkey

        return monkey.get_original("_thread", "allocate_lock")()
    return threading.Lock()


def os_thread(target: Callable[[], None]) -> None:
    """Start ``target`` on a real OS thread, also in a gevent worker (fire and forget)."""
    if gevent_patched():
        from gevent import monkey

        monkey.get_original("_thread", "start_new_thread")(target, ())
    else:
        threading.Thread(target=target, daemon=True).start()


def beside(target: Callable[[], None]) -> None:
    """Start ``target`` beside the serving (fire and forget): a greenlet in a gevent worker, so it
    may use the worker's connections to OpenSearch, else a daemon thread."""
    if gevent_patched():
        import gevent

        gevent.spawn(target)
    else:
        os_thread(target)
