"""Where numba keeps the compiled reranking kernels: a directory keyed by the core's source.

numba invalidates a cached kernel when its own file changes, but not when a kernel it calls in
another file does; a stale cache would then run old code. Keying the directory by a hash of every
file of ``sidecar/rerank`` makes any edit start a fresh cache. Set before the core is imported
(``sidecar/__init__.py``); an explicit ``NUMBA_CACHE_DIR`` is kept as the parent directory.
Directories of earlier sources are never read again and may be deleted; none is deleted here,
since another process (another version, a test run) may still be using its own.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

CORE = Path(__file__).resolve().parent / "rerank"


def source_hash() -> str:
    h = hashlib.sha1()
    for path in sorted(CORE.rglob("*.py")):
        h.update(str(path.relative_to(CORE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def configure() -> Path:
    """Point numba's cache at ``<parent>/rerank-<hash>``: the package's own __pycache__, or
    NUMBA_CACHE_DIR, or the temp directory when neither is writable."""
    from numba.core import config

    name = f"rerank-{source_hash()}"
    parents = [Path(os.environ["NUMBA_CACHE_DIR"])] if os.environ.get("NUMBA_CACHE_DIR") else []
    parents += [CORE.parent / "__pycache__" / "numba", Path(tempfile.gettempdir()) / "srp-sidecar-numba"]
    for parent in parents:
        target = parent / name
        try:
            target.mkdir(parents=True, exist_ok=True)
            probe = target / ".write-test"
            probe.touch()
            probe.unlink()
        except OSError:
            continue
        config.CACHE_DIR = str(target)
        return target
    return Path(config.CACHE_DIR or "")
