"""Reading a product catalog (JSONL, one product a line) and its vectors (.npy, row i = line i).

Shared by `sidecar index`, the embedded memory backend and the evaluation, so that a bad line is
reported the same way everywhere: with its line number, and skipped.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REQUIRED = ("id", "title")
KEYWORD_FIELDS = ("brand", "seller", "condition", "category", "master_category", "colour", "gender", "season", "usage")
FIELDS = ("title", *KEYWORD_FIELDS, "price", "listed_at")  # what a product shows and rules can use


@dataclass(frozen=True)
class BadLine:
    line: int  # 1-based
    reason: str


def count_lines(path: Path) -> int:
    """Non-empty lines: a catalog's products, bad ones included (they still own a vector row)."""
    with open(path, "rb") as f:
        return sum(1 for raw in f if raw.strip())


def load_vectors(path: Path, expected_rows: int) -> np.ndarray:
    """float16 or float32 vectors as float32 (memory-mapped while reading); row count must match."""
    arr = np.load(path, mmap_mode="r")
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (rows x dimensions), got shape {arr.shape}")
    if arr.dtype not in (np.float16, np.float32):
        raise ValueError(f"{path}: expected float16 or float32, got {arr.dtype}")
    if arr.shape[0] != expected_rows:
        raise ValueError(f"{path}: {arr.shape[0]} vectors for {expected_rows} catalog lines; row i must be line i")
    return arr


def parse_line(raw: str) -> dict[str, Any]:
    """One product; ValueError says why a line is unusable."""
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    for key in REQUIRED:
        if doc.get(key) in (None, ""):
            raise ValueError(f"missing required field '{key}'")
    doc["id"] = str(doc["id"])
    if "price" in doc and doc["price"] is not None and not isinstance(doc["price"], (int, float)):
        raise ValueError(f"'price' must be a number, got {doc['price']!r}")
    return doc


def iter_catalog(path: Path) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
    """(row, product or BadLine) for every non-empty line; row is the vector row of that line."""
    row = 0
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield row, parse_line(raw)
            except ValueError as exc:
                yield row, BadLine(lineno, str(exc))
            row += 1
