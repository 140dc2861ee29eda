"""Where numba keeps the compiled reranking kernels: a directory keyed by the core's source.

numba invalidates a cached kernel when its own file changes, but not when a kernel it calls in
another file does; a stale cache would then run old code. Keying the directory by a hash of every
file of ``sidecar/rerank`` makes any edit start a fresh cache. Set before the core is imported
(``sidecar/__init__.py``).

Where, in order of preference:

1. ``NUMBA_CACHE_DIR`` (as the parent directory), when set;
2. the package's own ``__pycache__/numba`` (the Docker image compiles into it at build time);
3. ``<temp dir>/srp-sidecar-numba`` (the temp dir is only looked up if 1 and 2 are not usable).

numba itself ignores a directory it cannot write to and would recompile everything. So a
directory that already holds a cache for this source but is read-only (an installed image, a
read-only ``NUMBA_CACHE_DIR``) seeds the first writable one: its files are copied there (a few
MB) and the kernels load instead of compiling. With nothing writable at all, the read-only cache
is read in place and kernels missing from it are compiled in memory for this process only.
Guarantees: never raises (an import of ``sidecar`` must not fail on a cache), never deletes a
directory (another process may be using its own version's).
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


def configure() -> Path | None:
    """Point numba's cache at the chosen directory; returns it (None: no cache usable)."""
    from numba.core import config

    try:
        target, seed = choose()
        if target is not None and seed is not None and not _populated(target):
            shutil.copytree(seed, target, dirs_exist_ok=True)
    except OSError:
        target, seed = None, None
    if target is None and seed is not None:
        _read_only(seed)
        target = seed
    if target is None:
        _memory_only()
        return None
    config.CACHE_DIR = str(target)
    return target


def _read_only(directory: Path) -> None:
    """numba reads ``directory`` although it cannot write there; a kernel missing from it is
    compiled for this process and its save (which would raise) is skipped."""
    from numba.core import caching

    class ReadOnlyLocator(caching.UserProvidedCacheLocator):
        def ensure_cache_path(self) -> None:
            if not os.path.isdir(self.get_cache_path()):
                raise OSError(f"{self.get_cache_path()}: no cache here")

    def save_overload(self, sig, data, _save=caching.Cache.save_overload):
        try:
            _save(self, sig, data)
        except OSError:
            pass

    caching.Cache.save_overload = save_overload
    impl = _impl_class(caching)
    impl._locator_classes = [ReadOnlyLocator, *impl._locator_classes]
    _memory_only()  # for kernels of files the read-only cache does not hold


def _memory_only() -> None:
    """A last locator that always answers, so ``cache=True`` kernels compile (uncached) instead of
    numba raising "no locator available" where no directory is writable."""
    from numba.core import caching

    class NowhereLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno

        def ensure_cache_path(self) -> None:
            raise OSError("no writable cache directory")

        def get_cache_path(self) -> str:
            return os.devnull

        @classmethod
        def from_function(cls, py_func, py_file):
            return cls(py_func, py_file) if os.path.exists(py_file) else None

    def load_overload(self, sig, target_context, _load=caching.Cache.load_overload):
        return None if isinstance(self._impl.locator, NowhereLocator) else _load(self, sig, target_context)

    def save_overload(self, sig, data, _save=caching.Cache.save_overload):
        if not isinstance(self._impl.locator, NowhereLocator):
            _save(self, sig, data)

    caching.Cache.load_overload = load_overload
    caching.Cache.save_overload = save_overload
    impl = _impl_class(caching)
    impl._locator_classes = [*impl._locator_classes, NowhereLocator]


def cache_state() -> str:
    """'ready' when the configured cache holds kernels of this source, else what is missing."""
    from numba.core import config

    if not config.CACHE_DIR:
        return "no writable cache directory: compiled in memory for each process"
    return "ready" if _populated(Path(config.CACHE_DIR)) else f"cache empty: {config.CACHE_DIR}"


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
