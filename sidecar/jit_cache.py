"""Where numba keeps the compiled reranking kernels: a directory keyed by the core's source.

numba invalidates a cached kernel when its own file changes, but not when a kernel it calls in
another file does; a stale cache would then run old code. Keying the directory by a hash of every
file of ``sidecar/rerank`` makes any edit start a fresh cache.

How it is put in place: ``install`` is numba's own extension hook (the ``numba_extensions``
entry point ``init`` in pyproject.toml), which numba runs once per process when it creates its
compilation context, before the first ``@njit(cache=True)`` chooses where its cache lives. It
puts a cache locator first in numba's list that answers only for the files of this install's
``sidecar/rerank``; every other numba function of the process keeps numba's own choice
(``numba.config.CACHE_DIR`` is never touched). ``import sidecar`` does none of this: the
directory is chosen, and the sources hashed, when the first kernel of the core is decorated.
Limit: from a source tree that was never installed the entry point does not exist, and the
core's kernels get numba's default cache (beside each file), with the stale-cache risk above.

Where, in order of preference:

1. ``NUMBA_CACHE_DIR`` (as the parent directory), when set;
2. the package's own ``__pycache__/numba`` (the Docker image compiles into it at build time);
3. ``<temp dir>/srp-sidecar-numba`` (the temp dir is only looked up if 1 and 2 are not usable).

numba itself ignores a directory it cannot write to and would recompile everything. So a
directory that already holds a cache for this source but is read-only (an installed image, a
read-only ``NUMBA_CACHE_DIR``) seeds the first writable one: its files are copied there (a few
MB) and the kernels load instead of compiling. With nothing writable at all, the read-only cache
is read in place and kernels missing from it are compiled in memory for this process only.
Guarantees: never raises (a cache must not fail a compile), never deletes a directory (another
process may be using its own version's).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

CORE = Path(__file__).resolve().parent / "rerank"


def source_hash() -> str:
    h = hashlib.sha1()
    for path in sorted(CORE.rglob("*.py")):
        h.update(str(path.relative_to(CORE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def _parents() -> Iterator[Path]:
    """Candidate parent directories, most preferred first; the temp dir is resolved only when
    reached (``gettempdir`` raises where no temp dir is usable)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        yield Path(os.environ["NUMBA_CACHE_DIR"])
    yield CORE.parent / "__pycache__" / "numba"
    try:
        yield Path(tempfile.gettempdir()) / "srp-sidecar-numba"
    except (OSError, RuntimeError):
        return


def _writable(target: Path) -> bool:
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
        return True
    except OSError:
        return False


def _populated(target: Path) -> bool:
    """Holds at least one kernel index (``*.nbi``) of this source."""
    try:
        return target.is_dir() and next(target.rglob("*.nbi"), None) is not None
    except OSError:
        return False


def choose(parents: Callable[[], Iterator[Path]] = _parents) -> tuple[Path | None, Path | None]:
    """(the writable cache directory or None, a read-only populated one that seeds or replaces it)."""
    name = f"rerank-{source_hash()}"
    seed = None
    for parent in parents():
        target = parent / name
        if _writable(target):
            return target, seed
        if seed is None and _populated(target):
            seed = target
    return None, seed


def install() -> None:
    """numba's extension hook: put the core's locator first in numba's list (once per process)."""
    try:
        from numba.core import caching
    except ImportError:
        return
    impl = _impl_class(caching)
    if any(getattr(cls, "sidecar_core", False) for cls in impl._locator_classes):
        return
    impl._locator_classes = [_core_locator(caching), *impl._locator_classes]

    def load_overload(self, sig, target_context, _load=caching.Cache.load_overload):
        if getattr(self._impl.locator, "nowhere", False):
            return None
        return _load(self, sig, target_context)

    def save_overload(self, sig, data, _save=caching.Cache.save_overload):
        if not getattr(self._impl.locator, "read_only", False):
            _save(self, sig, data)

    caching.Cache.load_overload = load_overload
    caching.Cache.save_overload = save_overload


def _core_locator(caching):
    """The locator class for the core's files; it decides the directory when first asked."""

    class CoreLocator(caching.UserProvidedCacheLocator):
        sidecar_core = True
        chosen: tuple[Path | None, bool] | None = None  # (directory, writable), once decided

        def __init__(self, py_func, py_file, root: Path | None, writable: bool):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self.nowhere = root is None  # no cache at all: compiled in memory, nothing loaded
            self.read_only = not writable  # loaded from, never saved to
            self._cache_path = (os.devnull if root is None
                                else os.path.join(root, self.get_suitable_cache_subpath(py_file)))

        @classmethod
        def from_function(cls, py_func, py_file):
            try:
                if not Path(py_file).resolve().is_relative_to(CORE):
                    return None
            except (OSError, ValueError):
                return None
            return cls(py_func, py_file, *cls.decided())

        @classmethod
        def decided(cls) -> tuple[Path | None, bool]:
            if cls.chosen is None:
                cls.chosen = _decide()
            return cls.chosen

    return CoreLocator


def _decide() -> tuple[Path | None, bool]:
    """(the cache directory, whether it is writable); (None, False) when none is usable."""
    try:
        target, seed = choose()
        if target is not None and seed is not None and not _populated(target):
            shutil.copytree(seed, target, dirs_exist_ok=True)
    except OSError:
        target, seed = None, None
    return (target, True) if target is not None else (seed, False)


def cache_dir() -> tuple[Path | None, bool]:
    """The core's cache directory and whether it is writable (decided now if no kernel did yet)."""
    from numba.core import caching

    install()
    core = next(c for c in _impl_class(caching)._locator_classes if getattr(c, "sidecar_core", False))
    return core.decided()


def cache_state() -> str:
    """'ready' when the core's cache holds kernels of this source, else what is missing."""
    directory, writable = cache_dir()
    if directory is None:
        return "no cache directory usable: compiled in memory for each process"
    if _populated(directory):
        return "ready"
    return f"cache empty: {directory}" + ("" if writable else " (read-only: kernels compile in memory)")


def kernel_stats() -> tuple[int, int]:
    """(signatures loaded from the cache, signatures compiled) by the core's kernels so far."""
    import sys

    from numba.core.dispatcher import Dispatcher

    hits = misses = 0
    seen: set[int] = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("sidecar.rerank") or module is None:
            continue
        for value in vars(module).values():
            if isinstance(value, Dispatcher) and id(value) not in seen:
                seen.add(id(value))
                hits += sum(value.stats.cache_hits.values())
                misses += sum(value.stats.cache_misses.values())
    return hits, misses


def _impl_class(caching):
    """numba's cache implementation base, whose ``_locator_classes`` every kernel's cache reads
    (``CacheImpl`` since numba 0.60, ``_CacheImpl`` before)."""
    return getattr(caching, "CacheImpl", None) or caching._CacheImpl
