"""Deterministic assignment of a client (or session) to an experiment's arm.

The arm is a function of the experiment's name and the id, hashed with BLAKE2b keyed by the
deployment's secret (SIDECAR_SECRET, ``identity``): every replica, process and restart that shares
the key gives the same id the same arm, with no shared state, and a client without the key cannot
compute which ids land in which arm (to pick an id that gets the arm it wants). Python's
``hash()`` is salted per process and would not do. Guarantee: over many ids, the share assigned to
the experiment approaches ``share`` and splits evenly between the arms (the hash's output is
uniform); a given id's arm never changes while the experiment's name and share stay the same,
and raising the share only adds ids (an id in at 10% is still in, on the same arm, at 20%).
"""
from __future__ import annotations

import hashlib

ARMS = ("a", "b")


def unit_interval(experiment: str, unit_id: str, key: bytes = b"") -> float:
    """A uniform number in [0, 1) fixed by the experiment's name, the id and the key."""
    digest = hashlib.blake2b(f"{experiment}\x00{unit_id}".encode("utf-8", "surrogatepass"), digest_size=8,
                             key=key[:64]).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def arm(experiment: str, unit_id: str, share: float, key: bytes = b"") -> str | None:
    """"a" or "b" for an id in the experiment's share of traffic, else None (it sees the
    default rules). Whether an id is in and which arm it is on come from two independent
    hashes, so a wider share keeps every id that was in on its arm."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share: must be in [0, 1], got {share!r}")
    if unit_interval(experiment, unit_id, key) >= share:
        return None
    return ARMS[0] if unit_interval(f"{experiment}\x00arm", unit_id, key) < 0.5 else ARMS[1]
