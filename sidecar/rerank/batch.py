"""The candidate window as columns: what the compiled kernels read.

A ``CandidateBatch`` holds ids, retrieval scores, one ``Column`` per field, the vectors as one
contiguous float32 matrix, the MinHash signatures as one uint32 matrix (a row of
``0xFFFFFFFF`` is "no signature") and the dedup texts. The JSON contract converts its candidate
dicts into a batch once (``api.candidates_batch``); /search and the proxy do the same with the
backend's candidates, without re-validating them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from .dates import to_epoch
from .tokens import encode

NO_SIGNATURE = np.uint32(0xFFFFFFFF)


@dataclass(frozen=True, eq=False)
class Column:
    """One field over the batch: integer ``codes`` into ``dictionary`` (-1 = missing: None or
    ""), and for numeric fields also ``numbers`` (float64, NaN = missing)."""

    codes: np.ndarray
    dictionary: list[Any]
    numbers: np.ndarray | None = None

    @classmethod
    def of(cls, values: Sequence[Any]) -> Column:
        """Factorised in C-level passes (first occurrence order); list values (a multi-valued
        field) take the per-value path."""
        try:
            distinct = dict.fromkeys(values)
        except TypeError:
            return cls._of_unhashable(values)
        lookup = {v: i for i, v in enumerate(distinct)}
        codes = np.fromiter(map(lookup.__getitem__, values), dtype=np.int64, count=len(values))
        dictionary = list(distinct)
        for missing in (None, ""):
            code = lookup.get(missing)
            if code is not None:
                codes[codes == code] = -1
        numbers = None
        present = [v for v in dictionary if v is not None and v != ""]
        if present and all(type(v) in (int, float) for v in present):
            table = np.array([np.nan if v is None or v == "" else v for v in dictionary], dtype=np.float64)
            numbers = np.where(codes >= 0, table[np.maximum(codes, 0)], np.nan)
        return cls(codes, dictionary, numbers)

    @classmethod
    def _of_unhashable(cls, values: Sequence[Any]) -> Column:
        index: dict[Any, int] = {}
        dictionary: list[Any] = []
        codes = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            if v is None or v == "":
                codes[i] = -1
                continue
            key = tuple(v) if isinstance(v, list) else v
            code = index.get(key)
            if code is None:
                code = index[key] = len(dictionary)
                dictionary.append(v)
            codes[i] = code
        return cls(codes, dictionary, None)

    def value(self, i: int) -> Any:
        """Candidate ``i``'s value (None when missing)."""
        code = int(self.codes[i])
        return None if code < 0 else self.dictionary[code]

    def matches(self, wanted: set[Any]) -> np.ndarray:
        """Per candidate: the value is in ``wanted`` (a list value: any of its items is). Each
        distinct value is tested once."""
        hit = np.zeros(len(self.dictionary) + 1, dtype=bool)  # the extra slot answers code -1
        for code, v in enumerate(self.dictionary):
            try:
                hit[code] = any(x in wanted for x in v) if isinstance(v, list) else v in wanted
            except TypeError:  # an unhashable value is never equal to a scalar
                hit[code] = False
        return hit[self.codes]

    def epochs(self) -> np.ndarray:
        """Numbers as they are, ISO dates as epoch seconds (UTC), anything else NaN."""
        if self.numbers is not None:
            return self.numbers
        table = np.full(len(self.dictionary) + 1, np.nan)
        for code, v in enumerate(self.dictionary):
            x = to_epoch(v)
            if x is not None:
                table[code] = x
        return table[self.codes]


class CandidateBatch:
    """The window in retrieval order. A column is built on first use, from ``fields`` (per-field
    sequences) or else from ``rows`` (per-candidate mappings), so a field nothing reads costs
    nothing. ``columns``: where built columns are kept (default: a dict of this batch's own);
    batches over the same rows may share one, so two rankings of one window read each field
    once. A column depends on the rows alone, never on a rule."""

    def __init__(self, ids: list[str], scores: np.ndarray, fields: Mapping[str, Sequence[Any]],
                 vectors: np.ndarray | None = None, signatures: np.ndarray | None = None,
                 texts: Sequence[str | None] | None = None, rows: list[Mapping[str, Any]] | None = None,
                 columns: dict[str, Column] | None = None):
        self.ids = ids
        self.scores = scores
        self._fields = fields
        self._rows = rows
        self._columns: dict[str, Column] = {} if columns is None else columns
        self.vectors = vectors
        self.signatures = signatures
        self.texts = texts
        self._encoded: tuple[np.ndarray, np.ndarray] | None = None

    def encoded_texts(self) -> tuple[np.ndarray, np.ndarray]:
        """The dedup texts as one UTF-8 buffer and offsets (``tokens.encode``), built once."""
        if self._encoded is None:
            self._encoded = encode(self.texts if self.texts is not None else [None] * len(self.ids))
        return self._encoded

    @classmethod
    def from_columns(cls, ids: Sequence[Any], scores: Sequence[float], fields: Mapping[str, Sequence[Any]],
                     vectors: Any = None, signatures: Any = None, texts: Sequence[str | None] | None = None
                     ) -> CandidateBatch:
        """A batch from per-field sequences (each as long as ``ids``). ``vectors``: (n, d) numbers;
        ``signatures``: (n, num_perm) uint32; ``texts``: the dedup field's text per candidate."""
        n = len(ids)
        sc = np.asarray(scores, dtype=np.float64).reshape(-1)
        if sc.shape[0] != n:
            raise ValueError(f"scores: {sc.shape[0]} values for {n} ids")
        for name, col in fields.items():
            if len(col) != n:
                raise ValueError(f"fields.{name}: {len(col)} values for {n} ids")
        vec = None if vectors is None else np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if vec is not None and (vec.ndim != 2 or vec.shape[0] != n):
            raise ValueError(f"vectors: shape {vec.shape} does not fit {n} candidates")
        sig = None if signatures is None else np.ascontiguousarray(np.asarray(signatures, dtype=np.uint32))
        if sig is not None and (sig.ndim != 2 or sig.shape[0] != n):
            raise ValueError(f"signatures: shape {sig.shape} does not fit {n} candidates")
        if texts is not None and len(texts) != n:
            raise ValueError(f"texts: {len(texts)} values for {n} ids")
        return cls([str(i) for i in ids], sc, dict(fields), vec, sig, texts)

    @classmethod
    def from_rows(cls, ids: list[str], scores: np.ndarray, rows: list[Mapping[str, Any]],
                  vectors: np.ndarray | None = None, signatures: np.ndarray | None = None,
                  texts: Sequence[str | None] | None = None) -> CandidateBatch:
        """A batch over per-candidate field mappings (a hit's ``_source``): a column is read from
        them only when something asks for that field."""
        return cls(ids, scores, {}, vectors, signatures, texts, rows)

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> Column:
        """The column ``name`` of the batch (its values coded once, kept for later calls); a field no
        candidate has is a column of missing values."""
        col = self._columns.get(name)
        if col is None:
            if name in self._fields:
                values = self._fields[name]
            elif self._rows is not None:
                values = [r.get(name) for r in self._rows]
            elif name == "id":
                values = self.ids
            else:
                values = [None] * len(self.ids)
            col = self._columns[name] = Column.of(values)
        return col


def unit_rows(vectors: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``vectors[rows]`` (default: all rows) scaled to unit length, float32 (zero rows stay zero),
    so a dot product is a cosine: one compiled pass that gathers and normalises."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    return _unit_rows(np.ascontiguousarray(v), np.arange(len(v)) if rows is None else np.asarray(rows, dtype=np.int64))


@njit(cache=True, fastmath={"reassoc", "contract"})
def _unit_rows(v, rows):
    out = np.empty((rows.shape[0], v.shape[1]), dtype=np.float32)
    for r in range(rows.shape[0]):
        i = rows[r]
        s = np.float32(0.0)
        for t in range(v.shape[1]):
            s += v[i, t] * v[i, t]
        norm = np.float32(np.sqrt(s)) if s > 0 else np.float32(1.0)
        for t in range(v.shape[1]):
            out[r, t] = v[i, t] / norm
    return out
