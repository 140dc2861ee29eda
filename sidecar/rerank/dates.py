"""Bounds and values as numbers: ISO dates as epoch seconds, ``now``/``now-30d`` against the
caller's ``now`` (the core reads no clock)."""
from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

_RELATIVE_DATE = re.compile(r"^now(?:-(\d+)([dhw]))?$")


def bound(value: Any, now: datetime | None) -> float | None:
    """A range bound as a number (None: no bound)."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_bound(value, where="bound", now=now)
    return float(value)


def parse_bound(text: str, *, where: str, now: datetime | None = None) -> float:
    """An ISO date/datetime, or ``now``/``now-30d`` (d, h, w), as epoch seconds (UTC).

    ``now`` comes from the caller (the request's ``now``, else the service's clock); without one a
    relative bound is an error here, so that the core never reads the clock itself."""
    m = _RELATIVE_DATE.match(text.strip())
    if m:
        if now is None:
            raise ValueError(f"{where}: {text!r} is relative to now, and no 'now' was given")
        base = now
        if m.group(1):
            unit = {"d": "days", "h": "hours", "w": "weeks"}[m.group(2)]
            base = base - timedelta(**{unit: int(m.group(1))})
        return base.timestamp()
    parsed = to_epoch(text)
    if parsed is None:
        raise ValueError(f"{where}: {text!r} is neither a number, an ISO date nor now-<N>d")
    return parsed


def to_epoch(value: Any) -> float | None:
    """Numbers pass through; ISO dates/datetimes become epoch seconds (naive = UTC); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            d = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                d0 = date.fromisoformat(value)
            except ValueError:
                return None
            d = datetime(d0.year, d0.month, d0.day)
        if d.tzinfo is None:
            d = d.replace(tzinfo=timezone.utc)
        return d.timestamp()
    return None
