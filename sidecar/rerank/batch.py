"""The candidate window as columns: what the compiled kernels read.

A ``CandidateBatch`` holds ids, retrieval scores, one ``Column`` per field, the vectors as one
contiguous float32 matrix, the MinHash signatures as one uint32 matrix (a row of
``0xFFFFFFFF`` is "no signature") and the dedup texts. The JSON contract converts its candidate
dicts into a batch once; /search and the proxy build one straight from the backend's hits.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
        index: dict[Any, int] = {}
        dictionary: list[Any] = []
        codes = np.empty(len(values), dtype=np.int64)
        numeric = True
        for i, v in enumerate(values):
            if v is None or v == "":
                codes[i] = -1
                continue
            key = tuple(v) if isinstance(v, list) else v
            code = index.get(key)
            if code is None:
                code = index[key] = len(dictionary)
                dictionary.append(v)
                numeric = numeric and type(v) in (int, float)
            codes[i] = code
        numbers = None
        if numeric and dictionary:
            table = np.asarray(dictionary, dtype=np.float64)
            numbers = np.where(codes >= 0, table[np.maximum(codes, 0)], np.nan)
        return cls(codes, dictionary, numbers)

    def take(self, idx: np.ndarray) -> Column:
        return Column(self.codes[idx], self.dictionary, None if self.numbers is None else self.numbers[idx])

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
        from .properties import to_epoch  # properties imports this module

        table = np.full(len(self.dictionary) + 1, np.nan)
        for code, v in enumerate(self.dictionary):
            x = to_epoch(v)
            if x is not None:
                table[code] = x
        return table[self.codes]


class CandidateBatch:
    """The window in retrieval order. ``columns`` are built on first use from ``fields`` (the raw
    per-field sequences), so a field no constraint reads costs nothing."""

    def __init__(self, ids: list[str], scores: np.ndarray, fields: Mapping[str, Sequence[Any]],
                 vectors: np.ndarray | None = None, signatures: np.ndarray | None = None,
                 texts: Sequence[str | None] | None = None, rows: list[Mapping[str, Any]] | None = None):
        self.ids = ids
        self.scores = scores
        self._fields = fields
        self._rows = rows
        self._columns: dict[str, Column] = {}
        self.vectors = vectors
        self.signatures = signatures
        self.texts = texts

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

    def take(self, idx: np.ndarray) -> CandidateBatch:
        """The candidates at ``idx``, in that order (base order, or what survives collapsing)."""
        idx = np.asarray(idx, dtype=np.int64)
        out = CandidateBatch([self.ids[i] for i in idx.tolist()], self.scores[idx], {},
                             None if self.vectors is None else self.vectors[idx],
                             None if self.signatures is None else self.signatures[idx],
                             None if self.texts is None else [self.texts[i] for i in idx.tolist()])
        for name in {*self._fields, *self._columns}:
            out._columns[name] = self.column(name).take(idx)
        if self._rows is not None:
            out._rows = [self._rows[i] for i in idx.tolist()]
        return out


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32, so a dot product is a cosine."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(v / norms)
