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
