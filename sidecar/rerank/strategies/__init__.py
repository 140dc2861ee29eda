"""Base orders: the order the agents work over. One file per strategy, registered here.

A strategy file defines its state (a NamedTuple of arrays), ``prepare`` and three compiled
functions, and ends with ``STRATEGY = Strategy(...)`` (``base.py`` says what each part is).
Adding one is that file plus its module in ``REGISTERED``: the rule key, the schema's entry, the
explanation, the inspector's label and the rule reference all come from the ``Strategy``.

The agent loop calls ``first``, ``value`` and ``add`` below; numba resolves each call by the type
of the state it is given (``overload``), so the loop is compiled once per base order, against
that order's functions, and cached like any kernel (numba cannot cache a kernel that takes
functions as arguments).
"""
from __future__ import annotations

from numba.extending import overload

from . import dpp, mmr, msd, score
from .base import Strategy

REGISTERED = (score, mmr, dpp, msd)
STRATEGIES: dict[str, Strategy] = {m.STRATEGY.key: m.STRATEGY for m in REGISTERED}
_BY_STATE = {s.state: s for s in STRATEGIES.values()}
BASE_ORDER_KEYS = tuple(k for k in STRATEGIES if k != "score")  # the rule keys that pick a base order


def first(st, ag, c: int, coop: bool) -> int:
    """The first eligible item in ``st``'s order (compiled code only: see ``_first``)."""
    raise NotImplementedError("called from compiled code only")


def value(st, i: int) -> float:
    """Item i's current base score."""
    raise NotImplementedError("called from compiled code only")


def add(st, i: int) -> None:
    """Place item i."""
    raise NotImplementedError("called from compiled code only")


def _of(st) -> Strategy | None:
    return _BY_STATE.get(getattr(st, "instance_class", None))


@overload(first)
def _first(st, ag, c, coop):
    s = _of(st)
    if s is None:
        return None
    fn = s.first
    return lambda st, ag, c, coop: fn(st, ag, c, coop)


@overload(value)
def _value(st, i):
    s = _of(st)
    if s is None:
        return None
    fn = s.value
    return lambda st, i: fn(st, i)


@overload(add)
def _add(st, i):
    s = _of(st)
    if s is None:
        return None
    fn = s.add
    return lambda st, i: fn(st, i)


__all__ = ["BASE_ORDER_KEYS", "REGISTERED", "STRATEGIES", "Strategy", "add", "first", "value"]
